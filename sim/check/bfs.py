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
does not fit otherwise.  A compact search also keeps its frontier on disk (`SpillQueue`, in a
temporary directory): breadth-first levels are wide (millions of states, ~700 bytes each in
memory), and a FIFO is written and read strictly in order, which files do well.

The price of digests is honest: two different states with the same digest would be taken for
one, and the second never explored.  With n states the probability that any two of them share a
128-bit digest is at most n^2 / 2^129 (the birthday bound): below 10^-23 for 10^8 states.  The
encoding is pickle's without its memo, which writes equal values alike whatever object sharing
they have; should two equal states ever encode differently (an int where the other has a bool)
they would only be explored twice, never lost.
"""

from __future__ import annotations

import gc
import io
import os
import pickle
import resource
import tempfile
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


class SpillQueue:
    """A FIFO of picklable items kept in files of up to `segment` items: appended to the newest file,
    read from the oldest, each file deleted once read.  Memory: two file buffers."""

    def __init__(self, directory: str, segment: int = 200_000) -> None:
        self.directory, self.segment = directory, segment
        self.files: deque[list] = deque()  # [path, items written, items left to read]
        self.writer: io.BufferedWriter | None = None
        self.reader: io.BufferedReader | None = None
        self.count = 0
        self.made = 0

    def __len__(self) -> int:
        return self.count

    def append(self, item: object) -> None:
        if self.writer is None or self.files[-1][1] >= self.segment:
            self._close_writer()
            path = os.path.join(self.directory, f"frontier-{self.made}")
            self.made += 1
            self.writer = open(path, "wb", buffering=1 << 20)  # noqa: SIM115 (closed when full or read)
            self.files.append([path, 0, 0])
        pickle.dump(item, self.writer, 5)
        self.files[-1][1] += 1
        self.files[-1][2] += 1
        self.count += 1

    def popleft(self) -> object:
        if self.reader is None:
            if len(self.files) == 1:
                self._close_writer()  # reading the file being written: later appends start a new one
            self.reader = open(self.files[0][0], "rb", buffering=1 << 20)  # noqa: SIM115
        item = pickle.load(self.reader)
        self.count -= 1
        first = self.files[0]
        first[2] -= 1
        if first[2] == 0 and not (self.writer is not None and len(self.files) == 1):
            self.reader.close()
            self.reader = None
            os.unlink(first[0])
            self.files.popleft()
        return item

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def check(bounds: Bounds, *, max_states: int | None = None, stop_at_first: bool = False,
          until: str | Collection[str] = (), model: Model | None = None, compact: bool = False,
          max_seconds: float | None = None) -> Outcome:
    """Search every state within `bounds`; stop early at the first violation (`stop_at_first`), when
    a property of `until` is found violated (the first is the shortest of them all, since the
    search is breadth-first), after `max_states` states or `max_seconds` of wall time.  `compact`:
    remember states by digest.

    Python's cyclic garbage collector is off during the search: the search keeps millions of
    tuples alive (the states seen, the memo tables), and each full collection walks all of them
    to find nothing (the states are acyclic; over the first 200,000 states of the drop-only
    default, all collections together reclaimed 175 objects).  That walking was a third of the
    CPU time.  Reference counting still frees everything else at once."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _search(bounds, max_states, stop_at_first, until, model, compact, max_seconds)
    finally:
        if collecting:
            gc.enable()


def _search(bounds: Bounds, max_states: int | None, stop_at_first: bool, until: str | Collection[str],
            model: Model | None, compact: bool, max_seconds: float | None) -> Outcome:
    stop_at = {until} if isinstance(until, str) else set(until)
    model = model or Model(bounds)
    out = Outcome(bounds, compact=compact)
    start = time.process_time()
    wall_limit = None if max_seconds is None else time.monotonic() + max_seconds
    first = model.initial()
    parent = array("q", [-1])
    via = array("q", [-1])  # per state: the number of the action that reached it (in `actions`)
    actions: list[tuple] = []
    action_ids: dict[tuple, int] = {}
    seen: set = {digest(first) if compact else first}
    spill = tempfile.TemporaryDirectory(prefix="sim-check-") if compact else None
    queue: deque | SpillQueue = deque() if spill is None else SpillQueue(spill.name)
    queue.append((0, first, 0))  # (state number, state, depth)
    deepest = 0  # of the states queued
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
            deepest = d + 1
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
        if wall_limit is not None and k % 4096 == 0 and time.monotonic() > wall_limit:
            out.complete = False
            break
    out.seconds = time.process_time() - start
    out.states, out.transitions = len(parent), transitions
    out.depth = max(depth, deepest)
    if spill is not None:
        spill.cleanup()
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
