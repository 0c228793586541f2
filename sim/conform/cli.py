"""`python -m sim conform PROFILE...`: run the conformance cases and report.

PROFILE is a profile YAML file (see docs/CONFORMANCE.md), `simp-sim` (this project's daemon),
or with `--implementations DIR` the name of a profile in DIR.
Exit status: 0 when no case failed or errored, 1 otherwise, 2 for an unusable profile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sim.conform import report
from sim.conform.runner import ERROR, FAIL, CaseResult, run_suite, select, write_artifacts
from sim.profiles import BUILTIN, ProfileError, resolve


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("profiles", nargs="*", default=[BUILTIN], metavar="PROFILE",
                        help=f"profile YAML files, or {BUILTIN} for this project's daemon (the default)")
    parser.add_argument("--implementations", type=Path, metavar="DIR",
                        help="a folder of profiles: PROFILE may then be a profile's name")
    parser.add_argument("-j", "--jobs", type=int, default=4, help="cases run at once (default 4)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="only cases whose id, group or title contains EXPR")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--html", type=Path, metavar="DIR",
                        help="write index.html (matrix), a page per implementation and per-case pcaps")
    parser.add_argument("--out", type=Path, metavar="DIR", default=Path("conform-out"),
                        help="where each case's ladder, pcap and transcripts go: DIR/PROFILE/CASE/ "
                             "(default ./conform-out)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    return parser


def main(args: argparse.Namespace) -> int:
    cases = select(args.keyword)
    if args.list:
        for c in cases:
            print(f"{c.id:<26} {c.group:<12} {c.title}")
        return 0
    try:
        profiles = [resolve(p, args.implementations) for p in args.profiles]
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not cases:
        print("error: no case selected", file=sys.stderr)
        return 2
    by_profile: dict[str, list[CaseResult]] = {}
    tty = sys.stdout.isatty()
    for profile in profiles:
        def progress(r: CaseResult, total: int = len(cases), name: str = profile.name,
                     done: list[int] = [0]) -> None:  # noqa: B006 - one counter per profile, on purpose
            done[0] += 1
            if tty:
                print(f"[{done[0]}/{total}] {name} {r.case.id}: {r.status}".ljust(70), end="\r", flush=True)

        print(f"== {profile.name} ({profile.source}), timeout {profile.timeout:g}s, {len(cases)} cases, "
              f"-j {args.jobs}", flush=True)
        results = asyncio.run(run_suite(profile, cases, args.jobs, progress))
        by_profile[profile.name] = results
        write_artifacts(results, args.out)
        print(report.table(results))
        failures = report.failure_reports(results, args.out)
        if failures:
            print("\n" + failures)
        print(f"{profile.name}: {report.totals_line(results)}\n", flush=True)
    if args.junit:
        report.write_junit(by_profile, args.junit)
    if args.html:
        print(f"HTML report: {report.write_html(by_profile, args.html)}")
    bad = any(r.status in (FAIL, ERROR) for rs in by_profile.values() for r in rs)
    return 1 if bad else 0
