"""Command line of the harness: `python -m sim run|demo ...`."""

from __future__ import annotations

import argparse

from sim import demo, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim", description="SIMP loss harness: replay loss scenarios against real daemons.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_command.configure(commands.add_parser("run", help="run scenario files (YAML) and print a summary"))
    demo.configure(commands.add_parser("demo", help="a live chat between two real daemons over a lossy link"))
    from sim import relay_cli

    relay_cli.build_parser(commands.add_parser(
        "relay", help="a lossy network between real daemons, in real time, with a live ladder",
        description=(relay_cli.__doc__ or "").split("\n\n")[1]))
    from sim.conform import cli as conform_cli

    conform_cli.build_parser(commands.add_parser(
        "conform", help="conformance suite: a raw SIMP peer against any implementation",
        description=(conform_cli.__doc__ or "").split("\n\n")[1]))
    from sim.bench.cli import configure as configure_bench  # model-only imports: cheap, no circle

    configure_bench(commands.add_parser("bench", help="benchmarks against ceilings measured in the same run"))
    from sim.explore_cli import configure as configure_explore  # cheap: the harness loads on use

    configure_explore(commands.add_parser("explore", help="random schedules checked against invariants"))
    from sim.check.cli import configure as configure_check  # cheap: the model loads on use

    configure_check(commands.add_parser("check", help="model-check the protocol core within bounds"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return demo.main(args)
    if args.command == "relay":
        from sim import relay_cli

        return relay_cli.main(args)
    if args.command == "conform":
        from sim.conform import cli as conform_cli

        return conform_cli.main(args)
    if args.command == "bench":
        from sim.bench.cli import main as bench_main

        return bench_main(quick=args.quick)
    if args.command == "check":
        from sim.check.cli import main as check_main

        return check_main(args)
    if args.command == "explore":
        from sim.explore_cli import main as explore_main

        return explore_main(args)
    return run_command.main(args)
