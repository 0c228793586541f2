"""Command line of the chat client.

Interactive when stdin is a terminal; otherwise scripted, following the contract in README.md
("Scripted client").  Exit status: 0 when the user quits or input ends, 1 when the daemon cannot
be reached or is lost, 2 for bad arguments or an invalid user name.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from simp import wire
from simp.client import Client
from simp.console import program_name
from simp.tui import parse_peer, run_interactive, run_scripted


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name("client.py"),
        description="SIMP chat client. Connects to the daemon at IP (UDP port 7778 by default).",
        epilog="At the menu: s starts a chat (then the peer daemon's IP[:PORT]), w waits for an "
        "invitation, q quits. When invited: y or n. In a chat every line is a message; q ends the "
        "chat. Without a terminal on stdin the client is scripted: first line the user name "
        "(unless --user), then the same commands; see README.md.")
    parser.add_argument("ip", help="address of your SIMP daemon, IP or IP:PORT (default port 7778)")
    parser.add_argument("--user", help="user name (1-32 printable ASCII characters); asked for if omitted")
    parser.add_argument("--scripted", action="store_true",
                        help="force the line-by-line scripted mode even on a terminal")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        host, port = parse_peer(args.ip if ":" in args.ip else args.ip + ":7778")
    except ValueError as exc:
        parser.error(str(exc))
    if args.user is not None and (reason := wire.valid_user_name(args.user)):
        parser.error(f"invalid user name {args.user!r}: {reason}")
    client = Client(host, port)
    interactive = sys.stdin.isatty() and not args.scripted
    runner = run_interactive if interactive else run_scripted
    try:
        return asyncio.run(runner(client, args.user))
    except KeyboardInterrupt:  # never a silent exit: say what becomes of the chat
        print("\n* interrupted: bye (the daemon ends any chat of ours once it stops hearing from "
              "this client)", flush=True)
        return 0
