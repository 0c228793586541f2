"""`python -m sim run PATH...`: run scenario files, print one line each and a summary, write reports.

Every valid file runs, whatever the others do: an invalid file is reported as `INVALID` with
its file:line message and counted, it does not stop the run.  On a terminal a progress line is
shown while a scenario runs; in a pipe or a CI log each scenario prints exactly one line.  Every
line, and the summary table, fits in 100 columns (long names are shortened with "…").

With `-j N`, N scenarios run at once, each in a thread of its own with its own event loop and
address block (scenarios with foreign hosts or `--processes` spend their time waiting on real
timers, so threads are enough); lines are printed as scenarios finish, numbered in file order.
Hosts may be played by other implementations: `--implementations DIR` is where their profiles
are, `--implementation HOST=NAME` casts a host of every selected scenario (docs/CONFORMANCE.md).
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from sim.outcome import (
    FAIL,
    INVALID,
    NOT_APPLICABLE,
    PASS,
    PASS_UNOBSERVED,
    SEED_BOUND,
    STATUSES,
    Outcome,
    exit_status,
    worst_first,
)

if TYPE_CHECKING:
    from sim.scenario import Scenario, ScenarioError

COLUMNS = 100
_MARK = {PASS: "PASS", FAIL: "FAIL", SEED_BOUND: "SEED-BOUND", INVALID: "INVALID", NOT_APPLICABLE: "N/A",
         PASS_UNOBSERVED: "PASS*"}


MIN_SCALE, MAX_SCALE = 0.001, 10.0


def time_scale(text: str) -> float:
    """--scale: real seconds per scenario second, from 0.001 to 10 (at 0.001 a 5 s timeout is
    5 ms of real time, already at the edge of what a loaded machine keeps; beyond 10 a run is
    slower than real time for no purpose, and at 1e9 asyncio refused the timers)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not MIN_SCALE <= value <= MAX_SCALE:  # (also false for nan)
        raise argparse.ArgumentTypeError(f"must be from {MIN_SCALE:g} to {MAX_SCALE:g}, got {text}")
    return value


def configure(run: argparse.ArgumentParser) -> None:
    run.description = (
        "Run scenarios in-process under the virtual clock (or with real daemon.py processes with "
        "--processes) and print one line per scenario, the report and ladder of each failure, and a "
        "summary table. Folders are searched recursively for scenario files (YAML with a top-level "
        "hosts: or steps: key); files named explicitly are always run. Exit status: 0 all passed "
        "(seed-bound, PASS* and N/A results included), 1 some scenario failed, 2 some file is not a "
        "valid scenario or no scenario was selected."
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
    run.add_argument("--scale", type=time_scale, default=0.05,
                     help="real seconds per scenario second with --processes, 0.001 to 10 (default 0.05)")
    run.add_argument(
        "--implementations",
        type=Path,
        metavar="DIR",
        help="folder of implementation profiles, for hosts with 'implementation: NAME' (docs/CONFORMANCE.md)",
    )
    run.add_argument(
        "--implementation",
        action="append",
        default=[],
        metavar="HOST=NAME",
        help="play HOST of every selected scenario by the profile NAME (repeatable); such scenarios run "
        "in real time at the scale the foreign daemon's timers allow. Results: PASS* (passed, some "
        "checks not observable with that profile, listed) and N/A (the profile cannot play the scenario)",
    )
    run.add_argument(
        "-j", "--jobs", type=int, default=1, metavar="N", help="run N scenarios at once (default 1)"
    )
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


def _cast(args: argparse.Namespace, items: list[Scenario | ScenarioError]) -> list[Scenario | ScenarioError]:
    """Every scenario with `--implementation HOST=NAME` applied, each foreign host's profile found
    (ProfileError otherwise: the run does not start)."""
    from sim.foreign_hosts import cast, parse_cast, profiles_for
    from sim.scenario import Scenario

    overrides = parse_cast(args.implementation)
    out = [cast(item, overrides) if isinstance(item, Scenario) else item for item in items]
    for item in out:
        if isinstance(item, Scenario):
            profiles_for(item, args.implementations)
    return out


def _replay_flags(args: argparse.Namespace) -> str:
    flags = f" --implementations {args.implementations}" if args.implementations else ""
    flags += "".join(f" --implementation {cast}" for cast in args.implementation)
    return flags + (f" --processes --scale {args.scale:g}" if args.processes else "")


def _run_one(args: argparse.Namespace, item: Scenario | ScenarioError) -> Outcome:
    from sim.runner import run_chosen
    from sim.scenario import ScenarioError

    if isinstance(item, ScenarioError):
        return Outcome(item.source, error=item)
    result = run_chosen(item, seed=args.seed, processes=args.processes, scale=args.scale,
                        implementations=args.implementations)
    result.replay_flags = _replay_flags(args)
    if args.out:
        result.write(args.out / slug(Path(item.source).stem), timed=args.ladder_time)
    return Outcome(item.source, result=result)


def _print_outcome(index: int, total: int, outcome: Outcome, *, tty: bool, verbose: bool) -> None:
    line = _line(index, total, outcome)
    print(line.ljust(COLUMNS) if tty else line, flush=True)
    if outcome.status == INVALID:
        print(f"  {outcome.error}", flush=True)
    elif outcome.status in (NOT_APPLICABLE, PASS_UNOBSERVED) and not verbose:  # the reason, or the list
        for reason in outcome.message().splitlines():
            print(_indented(reason), flush=True)
    elif outcome.status != PASS or verbose:
        assert outcome.result is not None
        if outcome.status == SEED_BOUND:
            print(_indented(outcome.message().splitlines()[0]), flush=True)
        print(outcome.result.report(), flush=True)


def _indented(text: str) -> str:
    return textwrap.fill(text, COLUMNS, initial_indent="  ", subsequent_indent="  ")


def main(args: argparse.Namespace) -> int:
    # imported here: the other subcommands need neither PyYAML nor the daemon
    from sim.profiles import ProfileError
    from sim.scenario import load_each, not_scenarios

    others = not_scenarios(args.paths)
    if others:
        names = ", ".join(str(f) for f in others[:5]) + (", ..." if len(others) > 5 else "")
        print(f"note: {len(others)} YAML file(s) skipped, no top-level hosts: or steps: key: {names}",
              file=sys.stderr)
    items = _selected(load_each(args.paths), args.keyword)
    if not items:
        print("error: no scenario selected", file=sys.stderr)
        return 2
    try:
        items = _cast(args, items)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    outcomes: dict[int, Outcome] = {}
    if args.jobs <= 1:
        for index, item in enumerate(items, start=1):
            if tty and hasattr(item, "name"):
                print(fit(f"[{index}/{len(items)}] {item.name} ...", COLUMNS), end="\r", flush=True)
            outcomes[index] = _run_one(args, item)
            _print_outcome(index, len(items), outcomes[index], tty=tty, verbose=args.verbose)
    else:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(_run_one, args, item): index for index, item in enumerate(items, start=1)}
            for future in as_completed(futures):
                index = futures[future]
                outcomes[index] = future.result()
                _print_outcome(index, len(items), outcomes[index], tty=False, verbose=args.verbose)
    ordered = [outcomes[i] for i in sorted(outcomes)]
    summary(ordered)
    _write_reports(args, ordered)
    return exit_status(ordered)


def _write_reports(args: argparse.Namespace, outcomes: list[Outcome]) -> None:
    command = "python -m sim run " + " ".join(str(p) for p in args.paths) + _replay_flags(args)
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
    words = {PASS: "passed", PASS_UNOBSERVED: "passed with checks not observable (pass*)", FAIL: "failed",
             SEED_BOUND: "seed-bound", NOT_APPLICABLE: "not applicable", INVALID: "invalid"}
    totals = ", ".join(f"{counts[s]} {words[s]}" for s in words if counts[s] or s in (PASS, FAIL))
    protocol = sum(r.virtual_time for r in ran)
    wall = sum(r.wall_time for r in ran)
    print(f"{totals}; {protocol:.0f}s of protocol time in {wall:.2f}s of wall time")
