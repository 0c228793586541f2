"""`python -m sim check`: model-check the real protocol core within bounds, print a results table.

Every counterexample is printed as a ladder (the shortest path, with concrete times) and written
as a scenario YAML under --out that `python -m sim run` replays against real daemons; with
--verify the checker runs it at once (in-process) and says whether it fails the same way.
Exit status: 0 when every property holds and every sometimes-property has an example, 1 when
not, 2 for unusable bounds.

With --catalog [PATH] it checks the other direction instead (sim.check.catalog): each scenario's
outcome, as the harness shows it, must be reachable in the model; the bounds then come from each
run, and the options above other than --max-states are not used.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sim.check.bfs import Counterexample, Outcome, check
from sim.check.model import EXTENSIONS, LABELS, Bounds, Model
from sim.check.properties import ALWAYS, EVENTUALLY, KIND, SOMETIMES
from sim.check.replay import ReplayError, Timeline, replay_disagreement, scenario_yaml, timeline

CATALOG_MAX_STATES = 200_000  # per scenario and search, when --catalog is given without --max-states


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    add = parser.add_argument
    add("--hosts", type=int, default=2, choices=(2, 3), help="2 daemons, or 3 (carol invites alice once)")
    add("--messages", type=int, default=2, help="messages each user says at most (default 2)")
    add("--losses", type=int, default=3, help="datagrams the network may lose (default 3)")
    add("--duplicates", type=int, default=0, help="datagrams the network may duplicate (default 0)")
    add("--reorders", type=int, default=0, help="datagrams that may be overtaken on their path (default 0)")
    add("--lateness", type=float, default=0.49,
        help="how late a datagram may arrive, in timeouts (default 0.49: under half the timeout)")
    add("--faults-on", default=",".join(sorted(LABELS)), metavar="LABELS",
        help="comma-separated datagram kinds faults may hit (default all: " + ",".join(sorted(LABELS)) + ")")
    add("--chats", type=int, default=1, help="invitations in all: alice first, then either side (default 1)")
    add("--no-withdraw", action="store_true", help="inviters never withdraw their invitation")
    add("--extension", choices=EXTENSIONS, default="none",
        help="nodes running the negotiated extension (needs NodeConfig.extension): none, one (alice), both")
    add("--max-states", type=int, help="stop after this many states (the verdicts then say 'so far')")
    add("--max-seconds", type=float, metavar="S",
        help="stop after S seconds of wall time (the verdicts then say 'so far')")
    add("--stop-at-first", action="store_true", help="stop at the first always/eventually violation")
    add("--compact", action="store_true",
        help="remember states by a 16-byte digest, not whole (about 90 bytes a state; collision odds "
             "n^2/2^129, see sim/check/bfs.py)")
    add("--out", type=Path, default=Path("found-check"), metavar="DIR",
        help="where counterexamples are written as scenario YAML (default ./found-check)")
    add("--verify", action="store_true", help="run each written scenario in-process and compare the outcome")
    add("--catalog", nargs="?", type=Path, const=Path("scenarios"), metavar="PATH",
        help="instead: is each scenario's outcome (under PATH, default ./scenarios) reachable in the model? "
             "bounds come from each run; prints a table (reachable / UNREACHABLE / undecided / outside)")


def bounds_of(args: argparse.Namespace) -> Bounds:
    return Bounds(hosts=args.hosts, messages=args.messages, losses=args.losses, duplicates=args.duplicates,
                  reorders=args.reorders, lateness=args.lateness, chats=args.chats,
                  withdraw=not args.no_withdraw, extension=args.extension,
                  faulty=frozenset(x.strip() for x in args.faults_on.split(",") if x.strip()))


def table(out: Outcome, wall: float | None = None) -> str:
    """The results table: bounds, size of the search, rate, and one verdict per property."""
    head = ["bounds", "states", "transitions", "depth", "ends", "states/s", "cpu s", "peak MB"]
    cells = [out.bounds.describe() + (" (compact)" if out.compact else ""), f"{out.states:,}",
             f"{out.transitions:,}", str(out.depth), f"{out.ends:,}", f"{out.rate:,.0f}",
             f"{out.seconds:.1f}", f"{out.peak_mb:,.0f}"]
    if wall is not None:
        head.append("wall s")
        cells.append(f"{wall:.1f}")
    widths = [max(len(h), len(c)) for h, c in zip(head, cells, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)), ""]
    lines.append(f"{'property':<26}{'kind':<12}verdict")
    for prop in (*ALWAYS, *EVENTUALLY, *SOMETIMES):
        lines.append(f"{prop:<26}{KIND[prop]:<12}{out.verdict(prop)}")
    if not out.complete:
        lines.append("(search stopped early: verdicts hold for the states explored only)")
    return "\n".join(lines)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50]


def write_counterexample(model: Model, cx: Counterexample, out_dir: Path
                         ) -> tuple[str, Path | None, str, Timeline | None]:
    """(ladder text, path of the scenario written or None, why not, the timed replay)."""
    try:
        line = timeline(model, cx)
    except ReplayError as exc:
        ladder = "\n".join(f"  {k + 1:3}. {a.describe()}" for k, a in enumerate(cx.path))
        return ladder, None, f"no concrete timing reproduces this path: {exc}", None
    ladder = "\n".join(f"  {k + 1:3}. {t:9.4f}s  {a.describe()}" + (f"   [{caused}]" if caused else "")
                       for k, (t, a, caused) in enumerate(line.steps))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"check-{slug(cx.violation.prop)}-{slug(model.bounds.describe())}.yaml"
    path.write_text(scenario_yaml(model, cx, line))
    return ladder, path, "", line


def verify(path: Path, line: Timeline, prop: str) -> str:
    from sim.runner import run_scenario
    from sim.scenario import load_scenario

    why = replay_disagreement(line, run_scenario(load_scenario(path)), prop)
    return "replayed in-process: " + ("fails the same way" if why is None
                                      else f"does NOT fail the same way: {why}")


def main(args: argparse.Namespace) -> int:
    import time

    if args.catalog is not None:
        from sim.check.catalog import main as catalog_main

        return catalog_main(args.catalog, args.max_states or CATALOG_MAX_STATES)
    try:
        bounds = bounds_of(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter()
    model = Model(bounds)
    out = check(bounds, model=model, max_states=args.max_states, stop_at_first=args.stop_at_first,
                compact=args.compact, max_seconds=args.max_seconds)
    wall = time.perf_counter() - wall
    for prop, cx in out.found.items():
        print(f"\n✗ {KIND[prop]} property {prop!r} violated in {len(cx.path)} steps: {cx.violation.text}")
        ladder, path, why, line = write_counterexample(model, cx, args.out)
        print(ladder)
        if path is None or line is None:
            print(f"  ({why})")
            continue
        print(f"  scenario: {path}  (replay: python -m sim run {path})")
        if args.verify:
            print(f"  {verify(path, line, prop)}")
    print()
    print(table(out, wall))
    return 0 if out.passed else 1
