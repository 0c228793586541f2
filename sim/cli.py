"""Command line of the harness."""

from __future__ import annotations

import argparse

from sim import demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description="SIMP loss harness")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="a live chat between two real daemons on 127.0.0.1 and 127.0.0.2")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return demo.main()
    return 2
