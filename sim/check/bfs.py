"""Breadth-first search over the model: every reachable state once, shortest counterexamples.

States are deduplicated by their canonical tuple (see sim.check.model).  A state that violates
an always-property is recorded (the first one per property is the shortest, since the search
is breadth-first) and not expanded further; a state with no successor is an end of a path and
is judged by the eventually-properties.

Memory.  Only the frontier (the states of the level being expanded and of the next) is kept
whole; every state seen is remembered by its key, its parent's number and the number of the
action that reached it (two machine integers), which is all a shortest path needs.  The key is
the state tuple itself, or, with `compact`, a 16-byte BLAKE2b digest of its canonical encoding
(`digest`): about 90 bytes a state instead of several hundred, for the bounds whose state space
does not fit otherwise.  The price is honest: two different states with the same digest would
be taken for one, and the second never explored.  With n states the probability that any two of
them share a 128-bit digest is at most n^2 / 2^129 (the birthday bound): below 10^-23 for
10^8 states.  The encoding is pickle's without its memo, which writes equal values alike
whatever object sharing they have; should two equal states ever encode differently (an int
where the other has a bool) they would only be explored twice, never lost.
"""

from __future__ import annotations

import io
import pickle
import resource
import time
from array import array
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from hashlib import blake2b

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
    compact: bool = False
    peak_mb: float = 0.0  # the process's peak resident memory when the search ended

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


def digest(state: tuple) -> bytes:
    """The 16-byte key of a state in a compact search (see the module docstring)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, 5)
    pickler.fast = True  # no memo: equal values encode alike, however they share objects
    pickler.dump(state)
    return blake2b(buffer.getbuffer(), digest_size=16).digest()


def check(bounds: Bounds, *, max_states: int | None = None, stop_at_first: bool = False,
          until: str | Collection[str] = (), model: Model | None = None, compact: bool = False) -> Outcome:
    """Search every state within `bounds`; stop early at the first violation (`stop_at_first`), when
    a property of `until` is found violated (the first is the shortest of them all, since the
    search is breadth-first), or after `max_states` states.  `compact`: remember states by digest."""
    stop_at = {until} if isinstance(until, str) else set(until)
    model = model or Model(bounds)
    out = Outcome(bounds, compact=compact)
    start = time.process_time()
    first = model.initial()
    parent = array("q", [-1])
    via = array("q", [-1])  # per state: the number of the action that reached it (in `actions`)
    actions: list[tuple] = []
    action_ids: dict[tuple, int] = {}
    seen: set = {digest(first) if compact else first}
    queue = deque([(0, first, 0)])  # (state number, state, depth)
    transitions = depth = 0
    wanted = set(ALWAYS) | set(EVENTUALLY)
    while queue:
        k, s, d = queue.popleft()
        depth = max(depth, d)
        any_successor = False
        for action, t, violation in model.successors(s):
            any_successor = True
            transitions += 1
            before = len(seen)
            seen.add(digest(t) if compact else t)  # one hash of the state, not two: the hot path
            if len(seen) == before:
                continue
            j = len(parent)
            parent.append(k)
            a = action_ids.get(action)
            if a is None:
                a = action_ids[action] = len(actions)
                actions.append(action)
            via.append(a)
            if violation is not None:
                depth = max(depth, d + 1)
                if violation.prop not in out.found:
                    out.found[violation.prop] = Counterexample(violation, _path(j, parent, via, actions))
                continue  # not expanded: the path already failed
            queue.append((j, t, d + 1))
        if not any_successor:
            out.ends += 1
            violation = model.at_end(s)
            if violation is not None and violation.prop not in out.found:
                out.found[violation.prop] = Counterexample(violation, _path(k, parent, via, actions))
        if (stop_at_first and out.found.keys() & wanted) or out.found.keys() & stop_at:
            out.complete = False
            break
        if max_states is not None and len(parent) >= max_states:
            out.complete = False
            break
    out.seconds = time.process_time() - start
    out.states, out.transitions = len(parent), transitions
    out.depth = max(depth, queue[-1][2] if queue else 0)  # breadth-first: the last queued is deepest
    out.examples = set(model.examples)
    out.node_states = len(model.table.nodes)
    out.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _path(j: int, parent: array, via: array, actions: list[tuple]) -> list[Action]:
    path = []
    while j > 0:
        path.append(Action(*actions[via[j]]))
        j = parent[j]
    return path[::-1]
