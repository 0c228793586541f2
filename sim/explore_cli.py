"""Command line of `python -m sim explore` (the parser is cheap: the harness loads only on use).

Random schedules of users and faults (sim/explore_gen.py) run in-process under the virtual clock
and are checked against the explorer's invariants (sim/explore_check.py).  Exit status: 0 when
no real violation was found, 1 when one was (each written as a scenario under --out), 2 for
unusable options.  Violations of SPEC's known limit, and those plain SIMP's wire cannot tell apart
(shown with the run's own evidence, sim/explore_check.py PLAIN_LIMIT), are counted apart and do not
fail the run.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_RUNS = 400
DEFAULT_JOBS = min(2, os.cpu_count() or 1)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate random schedules (several chats in a row between two or three hosts, re-invites "
        "right after an end in both directions, declines, withdrawals, crossing invitations, a third "
        "host inviting a busy one, daemons killed and restarted, clients killed mid-chat) under random "
        "faults, run each in-process under the virtual clock, and check the invariants (exactly-once "
        "in-order delivery, nothing of chat k in chat k+1, both sides' notices agree, every daemon free "
        "and quiet at the end). Real violations are shrunk and written as scenarios; violations that need "
        "a duplicate, a reorder or a delay beyond half the timeout are counted as SPEC's known limit, and "
        "those plain SIMP cannot avoid (its SYN, SYN+ACK and FIN carry no invitation identity: a restarted "
        "daemon answered for its predecessor, a decline memory outlived by lost questions) as plain "
        "SIMP's limit; "
        "inconclusive runs are counted by reason.")
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="schedules to try")
    parser.add_argument("--seed", type=int, default=0, help="first seed (run i uses seed+i)")
    parser.add_argument("--faults", default="drop",
                        help="comma-separated fault kinds: drop (losses, delays under a quarter of the "
                        "timeout), dup, delay (half to 2.5 timeouts), reorder")
    parser.add_argument("-j", "--jobs", type=int, default=DEFAULT_JOBS,
                        help="worker processes (runs are independent)")
    parser.add_argument("--out", type=Path, default=Path("found"), metavar="DIR",
                        help="where real violations are written as scenario YAML")
    parser.add_argument("--replay", type=Path, nargs="+", metavar="FILE",
                        help="instead: run scenarios the explorer wrote and check its invariants on them")


def main(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.jobs < 1:
        print("error: --runs and --jobs must be at least 1")
        return 2
    from sim.explore import main as explore_main
    from sim.explore import replay

    if args.replay:
        try:
            return replay(args.replay)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}")
            return 2

    return explore_main(runs=args.runs, seed=args.seed, faults=args.faults.split(","), out=args.out,
                        jobs=args.jobs)
