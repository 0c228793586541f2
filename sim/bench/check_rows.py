"""Row 7 of `python -m sim bench`: the model checker (`python -m sim check`) against its targets.

These rows are judged against fixed budgets (issue 11), not against a same-run ceiling: a model
checker has no natural ceiling on this machine, and its targets are stated in absolute terms.

- states/s: distinct states per CPU second over the drop-only check (one core, CPU time, so
  a shared machine's load does not count against it), vs 20,000;
- drop-only: CPU seconds of the whole check (calibrating the time model, then searching every
  state) of plain SIMP (`--extension none`, the issue's subject) with 2 messages each way,
  3 losses, delays under half the timeout, vs 60 s; the quick and smoke workloads search
  smaller bounds and their notes say so; and its verdict, 1 + the number of properties that fail (an
  always/eventually violation, or a sometimes-property without example), vs 1;
- known limit: steps of the shortest counterexample with 1 duplicate, and with 1 reorder (and
  delays up to 1.2 timeouts), vs 12.
"""

from __future__ import annotations

import math
import time

from sim.bench.model import BenchConfig, Row, Target
from sim.check.bfs import Outcome, check
from sim.check.model import Bounds, Model
from sim.check.properties import SOMETIMES

STATES_PER_SECOND = 20_000.0
DROP_ONLY_SECONDS = 60.0
LIMIT_STEPS = 12.0
KNOWN_LIMIT = ("delivered-means-shown", "at-most-once")  # what the one-bit hole breaks first


def _losses(config: BenchConfig) -> int:
    """The documented 3 losses; fewer for the quick and smoke workloads (smaller ping-pongs)."""
    full = BenchConfig.full()
    return 3 if config.pingpong >= full.pingpong else 2 if config.pingpong >= full.pingpong // 2 else 1


def _verdicts(out: Outcome) -> str:
    failed = ", ".join(f"{p} ({len(c.path)} steps)" for p, c in out.found.items())
    return f"FAILS: {failed}" if failed else "no violation"


def _shortest_limit(bounds: Bounds) -> tuple[float, str]:
    out = check(bounds, model=Model(bounds), max_states=3_000_000, until=KNOWN_LIMIT)
    found = [(len(out.found[p].path), p) for p in KNOWN_LIMIT if p in out.found]
    if not found:
        return math.nan, f"{bounds.describe()}: no known-limit counterexample in {out.states:,} states"
    steps, prop = min(found)
    return float(steps), f"{bounds.describe()}: {prop} in {steps} steps ({out.states:,} states searched)"


def check_rows(config: BenchConfig) -> list[Row]:
    losses = _losses(config)
    bounds = Bounds(messages=2, losses=losses)
    start = time.process_time()
    model = Model(bounds)  # calibrating the time model is part of the check's cost
    out = check(bounds, model=model)
    seconds = time.process_time() - start
    rate = out.states / seconds
    reduced = "" if losses == 3 else " (reduced bounds for this workload: the target is for 3 losses)"
    failing = len(out.found) + sum(p not in out.examples for p in SOMETIMES)
    rows = [
        Row(name="7 model check states/s", value=rate, unit="states/s",
            ceiling=STATES_PER_SECOND, ceiling_unit="states/s (budget)", ratio=rate / STATES_PER_SECOND,
            target=Target(low=1.0), note=f"{bounds.describe()}: {out.states:,} states, "
            f"{out.transitions:,} transitions, depth {out.depth}, one core, CPU time{reduced}"),
        Row(name="7 model check drop-only time", value=seconds, unit="s",
            ceiling=DROP_ONLY_SECONDS, ceiling_unit="s (budget)", ratio=seconds / DROP_ONLY_SECONDS,
            target=Target(high=1.0),
            note=f"{bounds.describe()}: every state searched: {out.complete}{reduced}"),
        Row(name="7 model check drop-only verdict", value=1.0 + failing,
            unit="1 + failing properties", ceiling=1.0, ceiling_unit="(none failing)", ratio=1.0 + failing,
            target=Target(high=1.0), note=_verdicts(out)),
    ]
    for name, faults in (("1 duplicate", Bounds(messages=2, losses=losses, duplicates=1)),
                         ("1 reorder", Bounds(messages=2, losses=losses, reorders=1, lateness=1.2))):
        steps, note = _shortest_limit(faults)
        rows.append(Row(name=f"7 model check known limit, {name}", value=steps, unit="steps",
                        ceiling=LIMIT_STEPS, ceiling_unit="steps (budget)", ratio=steps / LIMIT_STEPS,
                        target=Target(high=1.0), note=note))
    return rows
