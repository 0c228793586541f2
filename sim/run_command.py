"""`python -m sim run PATH...`: run scenario files, print one line each and a summary, write reports.

Every valid file runs, whatever the others do: an invalid file is reported as `INVALID` with
its file:line message and counted, it does not stop the run.  On a terminal a progress line is
shown while a scenario runs; in a pipe or a CI log each scenario prints exactly one line.  Every
line, and the summary table, fits in 100 columns (long names are shortened with "…").
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from sim.outcome import FAIL, INVALID, PASS, SEED_BOUND, STATUSES, Outcome, exit_status, worst_first

if TYPE_CHECKING:
    from sim.scenario import Scenario, ScenarioError

COLUMNS = 100
_MARK = {PASS: "PASS", FAIL: "FAIL", SEED_BOUND: "SEED-BOUND", INVALID: "INVALID"}


def configure(run: argparse.ArgumentParser) -> None:
    run.description = (
        "Run scenarios in-process under the virtual clock (or with real daemon.py processes with "
        "--processes) and print one line per scenario, the report and ladder of each failure, and a "
        "summary table. Folders are searched recursively for scenario files (YAML with a top-level "
        "hosts: or steps: key); files named explicitly are always run. Exit status: 0 all passed "
        "(seed-bound results included), 1 some scenario failed, 2 some file is not a valid scenario "
        "or no scenario was selected."
    )
    run.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders of them")
    run.add_argument(
        "--seed",
        type=int,
        help="run every scenario with this seed instead of its own; scenarios marked seed_bound then "
        "report a failure as SEED-BOUND, not FAIL",
    )
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write trace.jsonl, capture.pcapng, ladder.txt, ladder.svg and ladder.md per scenario here",
    )
    run.add_argument(
        "--report", type=Path, metavar="DIR", help="write an HTML report of the run to DIR/index.html"
    )
    run.add_argument(
        "--ladder-time",
        action="store_true",
        help="in the SVG ladders (--out, --report), space the rows in proportion to the time between them",
    )
    run.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report (for CI) to FILE")
    run.add_argument(
        "-k", dest="keyword", metavar="EXPR", help="only scenarios whose name or file name contains EXPR"
    )
    run.add_argument(
        "--processes",
        action="store_true",
        help="run real daemon.py processes in real time, durations multiplied by --scale",
    )
    run.add_argument("--scale", type=float, default=0.05, help="time scale for --processes (default 0.05)")
    run.add_argument("-v", "--verbose", action="store_true", help="print the ladder of every scenario")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "scenario"


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters, ending in "…" when cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _selected(items: list[Scenario | ScenarioError], keyword: str | None) -> list[Scenario | ScenarioError]:
    if not keyword:
        return items
    k = keyword.lower()

    def wanted(item: Scenario | ScenarioError) -> bool:
        name = getattr(item, "name", "").lower()  # an invalid file has only its file name
        return k in name or k in Path(item.source).name.lower()

    return [item for item in items if wanted(item)]


def _line(index: int, total: int, outcome: Outcome) -> str:
    head = f"[{index}/{total}] {_MARK[outcome.status]} "
    if outcome.result is None:
        return head + fit(outcome.source, COLUMNS - len(head))
    r = outcome.result
    tail = f"  ({r.virtual_time:.1f}s protocol, {r.wall_time * 1000:.0f}ms wall)"
    tag = " [known limit]" if r.scenario.known_limit else ""
    return head + fit(r.scenario.name, COLUMNS - len(head) - len(tag) - len(tail)) + tag + tail


def main(args: argparse.Namespace) -> int:
    # imported here: the other subcommands need neither PyYAML nor the daemon
    from sim.runner import run_scenario, run_scenario_processes
    from sim.scenario import ScenarioError, load_each

    items = _selected(load_each(args.paths), args.keyword)
    if not items:
        print("error: no scenario selected", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    outcomes = []
    for index, item in enumerate(items, start=1):
        if isinstance(item, ScenarioError):
            outcome = Outcome(item.source, error=item)
        else:
            if tty:
                progress = fit(f"[{index}/{len(items)}] {item.name} ...", COLUMNS)
                print(progress, end="\r", flush=True)
            if args.processes:
                result = run_scenario_processes(item, seed=args.seed, scale=args.scale)
            else:
                result = run_scenario(item, seed=args.seed)
            outcome = Outcome(item.source, result=result)
            if args.out:
                result.write(args.out / slug(Path(item.source).stem), timed=args.ladder_time)
        line = _line(index, len(items), outcome)
        print(line.ljust(COLUMNS) if tty else line, flush=True)
        if outcome.status == INVALID:
            print(f"  {outcome.error}", flush=True)
        elif outcome.status != PASS or args.verbose:
            assert outcome.result is not None
            if outcome.status == SEED_BOUND:
                reason = outcome.message().splitlines()[0]
                print(textwrap.fill(reason, COLUMNS, initial_indent="  ", subsequent_indent="  "), flush=True)
            print(outcome.result.report(), flush=True)
        outcomes.append(outcome)
    summary(outcomes)
    _write_reports(args, outcomes)
    return exit_status(outcomes)


def _write_reports(args: argparse.Namespace, outcomes: list[Outcome]) -> None:
    command = "python -m sim run " + " ".join(str(p) for p in args.paths)
    if args.seed is not None:
        command += f" --seed {args.seed}"
    if args.report:
        from sim.html_report import write_report

        path = write_report(args.report, outcomes, command=command, timed=args.ladder_time)
        print(f"HTML report: {path}")
    if args.junit:
        from sim.junit import write_junit

        write_junit(args.junit, outcomes)
        print(f"JUnit report: {args.junit}")


def summary(outcomes: list[Outcome]) -> None:
    """The table (worst first, then in run order) and the totals, in at most COLUMNS columns."""
    numbers = "  {:<10}  {:>10}  {:>8}"
    width = COLUMNS - len(numbers.format("", "", ""))
    print()
    print(f"{'scenario':<{width}}" + numbers.format("result", "protocol s", "wall ms"))
    for o in worst_first(outcomes):
        r = o.result
        cells = ("", "") if r is None else (f"{r.virtual_time:.1f}", f"{r.wall_time * 1000:.0f}")
        print((f"{fit(o.name, width):<{width}}" + numbers.format(o.status, *cells)).rstrip())
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    ran = [o.result for o in outcomes if o.result is not None]
    words = {PASS: "passed", FAIL: "failed", SEED_BOUND: "seed-bound", INVALID: "invalid"}
    totals = ", ".join(f"{counts[s]} {words[s]}" for s in words if counts[s] or s in (PASS, FAIL))
    protocol = sum(r.virtual_time for r in ran)
    wall = sum(r.wall_time for r in ran)
    print(f"{totals}; {protocol:.0f}s of protocol time in {wall:.2f}s of wall time")
