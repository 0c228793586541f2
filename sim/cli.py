"""Command line of the harness: `python -m sim run|demo ...`."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sim import demo
from sim.scenario import Scenario, ScenarioError, load_scenarios


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim", description="SIMP loss harness: replay loss scenarios against real daemons.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run scenario files (YAML) and print a summary",
        description="Run scenarios in-process under the virtual clock (or with real daemon.py processes "
        "with --processes) and print one line per scenario, the ladder diagram of each failure, and a "
        "summary table. Exit status 0 when all pass, 1 when any fails, 2 for unusable input.")
    run.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or directories of them")
    run.add_argument("--seed", type=int, help="override every scenario's seed")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="write trace.jsonl, capture.pcapng, ladder.txt and ladder.svg per scenario here")
    run.add_argument("-k", dest="keyword", metavar="EXPR",
                     help="only scenarios whose name or file name contains EXPR (case-insensitive)")
    run.add_argument("--processes", action="store_true",
                     help="run real daemon.py processes in real time, durations multiplied by --scale")
    run.add_argument("--scale", type=float, default=0.05, help="time scale for --processes (default 0.05)")
    run.add_argument("-v", "--verbose", action="store_true", help="print the ladder of every scenario")
    demo.configure(commands.add_parser("demo", help="a live chat between two real daemons over a lossy link"))
    from sim import relay_cli

    relay_cli.build_parser(commands.add_parser(
        "relay", help="a lossy network between real daemons, in real time, with a live ladder",
        description=(relay_cli.__doc__ or "").split("\n\n")[1]))
    from sim.bench.cli import configure as configure_bench  # model-only imports: cheap, no circle

    configure_bench(commands.add_parser("bench", help="benchmarks against ceilings measured in the same run"))
    explore = commands.add_parser("explore", help="random fault schedules checked against invariants")
    explore.add_argument("--runs", type=int, default=100, help="schedules to try (default 100)")
    explore.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    explore.add_argument("--faults", default="drop", help="comma-separated: drop,dup,delay,reorder")
    explore.add_argument("--out", type=Path, default=Path("found"), metavar="DIR",
                         help="where violations are written as scenario YAML (default ./found)")
    return parser


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "scenario"


def _selected(scenarios: list[Scenario], keyword: str | None) -> list[Scenario]:
    if not keyword:
        return scenarios
    k = keyword.lower()
    return [s for s in scenarios if k in s.name.lower() or k in Path(s.source).name.lower()]


def run_command(args: argparse.Namespace) -> int:
    from sim.runner import run_scenario, run_scenario_processes  # imports the daemon only when needed

    try:
        scenarios = _selected(load_scenarios(args.paths), args.keyword)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    if not scenarios:
        print("error: no scenario selected", file=sys.stderr)
        return 2
    rows = []
    tty = sys.stdout.isatty()
    for index, sc in enumerate(scenarios, start=1):
        if tty:
            print(f"[{index}/{len(scenarios)}] {sc.name} ...", end="\r", flush=True)
        if args.processes:
            result = run_scenario_processes(sc, seed=args.seed, scale=args.scale)
        else:
            result = run_scenario(sc, seed=args.seed)
        mark = "PASS" if result.passed else "FAIL"
        tag = " [known limit]" if sc.known_limit else ""
        print(f"[{index}/{len(scenarios)}] {mark} {sc.name}{tag}  ({result.virtual_time:.1f}s protocol time, "
              f"{result.wall_time * 1000:.0f}ms wall)" + " " * 10, flush=True)
        if not result.passed or args.verbose:
            print(result.report(), flush=True)
        if args.out:
            result.write(args.out / slug(Path(sc.source).stem))
        rows.append((sc, result))
    _summary(rows)
    return 0 if all(r.passed for _, r in rows) else 1


def _summary(rows: list) -> None:
    width = max(len(sc.name) for sc, _ in rows)
    print()
    print(f"{'scenario':<{width}}  result  protocol s  wall ms")
    for sc, r in rows:
        print(f"{sc.name:<{width}}  {'pass' if r.passed else 'FAIL':<6}  {r.virtual_time:>10.1f}  "
              f"{r.wall_time * 1000:>7.0f}")
    passed = sum(r.passed for _, r in rows)
    protocol = sum(r.virtual_time for _, r in rows)
    wall = sum(r.wall_time for _, r in rows)
    print(f"{passed} passed, {len(rows) - passed} failed; "
          f"{protocol:.0f}s of protocol time in {wall:.2f}s of wall time")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return demo.main(args)
    if args.command == "relay":
        from sim import relay_cli

        return relay_cli.main(args)
    if args.command == "bench":
        from sim.bench.cli import main as bench_main

        return bench_main(quick=args.quick)
    if args.command == "explore":
        from sim.explore import main as explore_main

        return explore_main(runs=args.runs, seed=args.seed, faults=args.faults.split(","), out=args.out)
    return run_command(args)
