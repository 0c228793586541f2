"""`python -m sim check --catalog [PATH]`: the harness-to-model direction of the checker's agreement.

For every scenario under PATH (a directory of scenario YAML files, or one file), run it with the
harness (in-process, virtual time), turn what its users were shown into a search target
(sim.check.target) and ask the model whether that outcome is reachable within bounds derived
from the run (sim.check.reach).  One row per scenario:

    reachable     the model has a path to the run's outcome ("pinned to the run's network" when
                  that path also does what the run's network did, "sends" when it sends what the
                  run's daemons sent; with the lateness it needed on the model's clock;
                  the always-properties it breaks are listed: a known-limit scenario's outcome
                  must break one)
    UNREACHABLE   no path within the bounds shows the outcome: the model and the harness
                  disagree (exit status 1)
    undecided     the search hit --max-states before deciding (exit status 1: not a verdict)
    RUN FAILED    the harness run failed the scenario's own expectations: nothing to judge
                  (exit status 1)
    outside       the scenario uses something the model does not have (sim.check.target says
                  what: a foreign implementation, more than three hosts, ...); the reason is given

The other direction (every counterexample of the checker replays on real daemons) is
`python -m sim check --verify` and tests/test_check.py.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sim.check.model import Bounds, fresh_nodes
from sim.check.nodestate import TimePaths, calibrate
from sim.check.reach import REACHABLE, Reach, decide
from sim.check.target import Outside, RunFailed, target_of
from sim.runner import run_scenario
from sim.scenario import load_scenario

OUTSIDE = "outside"
RUN_FAILED = "RUN FAILED"
VERDICTS = (REACHABLE, "UNREACHABLE", "undecided", OUTSIDE, RUN_FAILED)


@dataclass
class Row:
    name: str
    verdict: str  # reachable / UNREACHABLE / undecided / outside
    detail: str  # bounds and search size, or the reason it is outside the model
    broke: tuple[str, ...] = ()
    known_limit: bool = False
    reach: Reach | None = None


class TimeCache:
    """Calibration (which node floats are times) depends only on the node configuration, not on the
    fault bounds: done once per configuration instead of once per scenario."""

    def __init__(self) -> None:
        self.found: dict[tuple, TimePaths] = {}

    def __call__(self, b: Bounds) -> TimePaths:
        key = (b.hosts, b.extension, b.timeout, b.retries, b.invite_expiry)
        if key not in self.found:
            from sim.check.model import address

            self.found[key] = calibrate(lambda: fresh_nodes(b), [address(i) for i in range(b.hosts)])
        return self.found[key]


def scenario_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.glob("*.yaml")) if path.is_dir() else []


def check_scenario(path: Path, *, max_states: int, times: TimeCache) -> Row:
    sc = load_scenario(path)
    try:
        target = target_of(sc, run_scenario(sc))
    except Outside as exc:
        return Row(path.stem, OUTSIDE, str(exc), known_limit=bool(sc.known_limit))
    except RunFailed as exc:
        return Row(path.stem, RUN_FAILED, f"the harness run failed its own expectations: {exc}")
    found = decide(target, max_states=max_states, times=times(target.bounds))
    how = ""
    if found.pinned:
        how = f" (pinned to the run's {found.pinned}, path lateness {found.lateness:.2f}T"
        how += ", more than the bounds'" if found.lateness > target.bounds.lateness else ""
        how += ")"
    corrupted = sum(map(len, target.corrupted))
    bounds = target.bounds.describe() + (f" corrupt={corrupted}" if corrupted else "")
    detail = f"{bounds}; {found.states:,} states, {found.seconds:.2f}s{how}"
    return Row(path.stem, found.verdict, detail, found.broke, bool(sc.known_limit), found)


def check_catalog(path: Path, *, max_states: int = 200_000, progress=None) -> list[Row]:
    times = TimeCache()
    rows = []
    for file in scenario_files(path):
        rows.append(check_scenario(file, max_states=max_states, times=times))
        if progress is not None:
            progress(rows[-1])
    return rows


def row_text(row: Row, width: int = 60) -> str:
    broke = f"  breaks {', '.join(row.broke)}" if row.broke else ""
    if row.broke and not row.known_limit:
        broke += " (not a known-limit scenario)"
    return f"{row.name[:width]:<{width}} {row.verdict:<12} {row.detail}{broke}"


def summary(rows: list[Row]) -> str:
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    inside = len(rows) - counts[OUTSIDE] - counts[RUN_FAILED]
    lines = [f"{len(rows)} scenarios: {counts[REACHABLE]} reachable, {counts['UNREACHABLE']} UNREACHABLE, "
             f"{counts['undecided']} undecided, {counts[OUTSIDE]} outside the model "
             f"({inside} of {len(rows)} expressible in the model)"
             + (f", {counts[RUN_FAILED]} RUN FAILED (not judged)" if counts[RUN_FAILED] else "")]
    for verdict in ("UNREACHABLE", "undecided", RUN_FAILED):
        names = [r.name for r in rows if r.verdict == verdict]
        if names:
            lines.append(f"{verdict}: {', '.join(names)}")
    unflagged = [f"{r.name} ({', '.join(r.broke)})" for r in rows if r.broke and not r.known_limit]
    if unflagged:
        lines.append("outcomes that break an always-property without being a known-limit scenario: "
                     + ", ".join(unflagged))
    return "\n".join(lines)


def main(path: Path, max_states: int) -> int:
    if not scenario_files(path):
        print(f"error: no scenario at {path} (a .yaml file, or a directory holding some)", file=sys.stderr)
        return 2
    wall = time.perf_counter()
    print(f"{'scenario':<60} {'verdict':<12} bounds derived from the run; search")
    rows = check_catalog(path, max_states=max_states, progress=lambda r: print(row_text(r), flush=True))
    print()
    print(summary(rows))
    print(f"wall time {time.perf_counter() - wall:.1f}s")
    return 0 if all(r.verdict in (REACHABLE, OUTSIDE) for r in rows) else 1
