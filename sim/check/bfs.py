"""Breadth-first search over the model: every reachable state once, shortest counterexamples.

States are deduplicated by their canonical tuple (see sim.check.model).  A state that violates
an always-property is recorded (the first one per property is the shortest, since the search
is breadth-first) and not expanded further; a state with no successor is an end of a path and
is judged by the eventually-properties.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field

from sim.check.model import Action, Bounds, Model
from sim.check.properties import ALWAYS, EVENTUALLY, SOMETIMES, Violation


@dataclass
class Counterexample:
    violation: Violation
    path: list[Action]


@dataclass
class Outcome:
    bounds: Bounds
    states: int = 0
    transitions: int = 0
    depth: int = 0
    ends: int = 0
    seconds: float = 0.0
    complete: bool = True  # False when a state limit cut the search short
    found: dict[str, Counterexample] = field(default_factory=dict)
    examples: set[str] = field(default_factory=set)
    node_states: int = 0

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    def verdict(self, prop: str) -> str:
        if prop in SOMETIMES:
            return "example" if prop in self.examples else ("NO EXAMPLE" if self.complete else "none yet")
        if prop in self.found:
            return f"FAIL ({len(self.found[prop].path)} steps)"
        return "ok" if self.complete else "ok so far"

    @property
    def passed(self) -> bool:
        return (not self.found and self.complete
                and all(p in self.examples for p in SOMETIMES))


def check(bounds: Bounds, *, max_states: int | None = None, stop_at_first: bool = False,
          until: str | Collection[str] = (), model: Model | None = None) -> Outcome:
    """Search every state within `bounds`; stop early at the first violation (`stop_at_first`), when
    a property of `until` is found violated (the first is the shortest of them all, since the
    search is breadth-first), or after `max_states` states."""
    stop_at = {until} if isinstance(until, str) else set(until)
    model = model or Model(bounds)
    out = Outcome(bounds)
    start = time.process_time()
    first = model.initial()
    parent: list[int] = [-1]
    via: list[tuple | None] = [None]
    depth: list[int] = [0]
    index: dict[tuple, int] = {first: 0}
    states = [first]
    queue = deque([0])
    transitions = 0
    wanted = set(ALWAYS) | set(EVENTUALLY)
    while queue:
        k = queue.popleft()
        s = states[k]
        any_successor = False
        for action, t, violation in model.successors(s):
            any_successor = True
            transitions += 1
            j = len(states)
            if index.setdefault(t, j) != j:
                continue  # seen before (one hash of the state, not two: it is the hot path)
            states.append(t)
            parent.append(k)
            via.append(action)
            depth.append(depth[k] + 1)
            if violation is not None:
                if violation.prop not in out.found:
                    out.found[violation.prop] = Counterexample(violation, _path(j, parent, via))
                continue  # not expanded: the path already failed
            queue.append(j)
        if not any_successor:
            out.ends += 1
            violation = model.at_end(s)
            if violation is not None and violation.prop not in out.found:
                out.found[violation.prop] = Counterexample(violation, _path(k, parent, via))
        if (stop_at_first and out.found.keys() & wanted) or out.found.keys() & stop_at:
            out.complete = False
            break
        if max_states is not None and len(states) >= max_states:
            out.complete = False
            break
    out.seconds = time.process_time() - start
    out.states, out.transitions, out.depth = len(states), transitions, max(depth)
    out.examples = set(model.examples)
    out.node_states = len(model.table.nodes)
    return out


def _path(j: int, parent: list[int], via: list[tuple | None]) -> list[Action]:
    path = []
    while j > 0:
        action = via[j]
        assert action is not None
        path.append(Action(*action))
        j = parent[j]
    return path[::-1]
