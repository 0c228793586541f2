"""The `bench` command: run every step of `sim.bench.rows.STEPS` within the time budget, print
the machine, the table with its column legend, and exit non-zero unless every row passed.

See the package docstring (sim/bench/__init__.py) for what the rows compare and how to add one.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sim.bench.model import COLUMNS, BenchConfig, Report, Row

DESCRIPTION = ("Measure chat rate, relay cost, behaviour under loss, scenario replay speed, daemon memory "
               "and dissector speed, each against a ceiling measured in the same run on this machine, "
               "and print them as a Markdown table.")


def configure(parser: argparse.ArgumentParser) -> None:
    """The options and help of `python -m sim bench` (sim/cli.py calls this)."""
    parser.description = textwrap.fill(DESCRIPTION, 90)
    parser.epilog = COLUMNS
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--quick", action="store_true", help="smaller workloads: about a minute")


def machine() -> dict[str, str]:
    """nproc, the CPU model from /proc/cpuinfo, the Python version."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count() or "?"), "cpu": model,
            "python": f"{platform.python_implementation()} {platform.python_version()}"}


def _fmt(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return f"- {unit}".rstrip()
    digits = 0 if abs(value) >= 100 else 2 if abs(value) < 10 else 1
    return f"{value:,.{digits}f} {unit}"


def table(rows: Sequence[Row]) -> str:
    """The benchmark table as Markdown (readable in a terminal, pasteable into BENCHMARKS.md),
    followed by each row's note."""
    head = ("row", "measured", "ceiling", "ratio", "target", "result")
    lines = [[r.name, _fmt(r.value, r.unit), _fmt(r.ceiling, r.ceiling_unit),
              f"{r.ratio:.3g}" if math.isfinite(r.ratio) else "-", str(r.target), r.result] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=False)]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    out = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines)]
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join(out + (["", *notes] if notes else []))


Step = Callable[[BenchConfig], list[Row]]


def _reason(exc: Exception) -> str:
    """Why a step could not run, in one line; a missing optional package names its extra."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"{exc.name} is not installed (pip install 'simp-sim[harness]')"
    return f"{type(exc).__name__}: {exc}"


def run(config: BenchConfig, *, progress: Callable[[str], None] | None = None,
        steps: Sequence[tuple[str, Step]] | None = None) -> Report:
    """Run every step (default: `rows.STEPS`); a step that fails to run, or is skipped because
    `config.budget` seconds have passed, is reported as an ERROR row with the reason as its note."""
    if steps is None:
        from sim.bench.rows import STEPS

        steps = STEPS
    report = Report()
    started = time.monotonic()
    for title, step in steps:
        if progress:
            progress(f"{title} ...")
        spent = time.monotonic() - started
        if spent > config.budget:
            report.rows.append(Row.error(title, f"skipped: {spent:.0f} s of the {config.budget:g} s budget "
                                                "were spent"))
            continue
        try:
            report.rows += step(config)
        except Exception as exc:  # one broken row must not hide the others' results
            report.rows.append(Row.error(title, _reason(exc)))
    report.seconds = time.monotonic() - started
    return report


def main(quick: bool = False, config: BenchConfig | None = None) -> int:
    """Print the machine, the table, the column legend and the total; return the exit status
    (0 all PASS, 1 a MISS, 2 an ERROR)."""
    config = config or (BenchConfig.quick() if quick else BenchConfig.full())
    m = machine()
    print(f"machine: nproc={m['nproc']}, {m['cpu']}, {m['python']}", flush=True)
    tty = sys.stderr.isatty()
    report = run(config, progress=(lambda s: print(s, file=sys.stderr, flush=True)) if tty else None)
    print(table(report.rows))
    print()
    print(COLUMNS)
    counts = {kind: sum(r.result == kind for r in report.rows) for kind in ("PASS", "MISS", "ERROR")}
    print(f"\n{counts['PASS']}/{len(report.rows)} rows PASS, {counts['MISS']} MISS, {counts['ERROR']} ERROR; "
          f"{'quick' if quick else 'full'} run took {report.seconds:.0f} s", flush=True)
    return report.exit_status
