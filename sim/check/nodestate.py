"""A Node's state seen from outside: copy it, fingerprint it, move it in time.

The checker runs unmodified `simp.node.Node` objects, so everything here is generic: it walks
the attributes (`vars()`, or the slots) of the Node and of every object it holds (sessions,
per-peer state), never naming an attribute.  Three rules make that walk meaningful:

- Frozen dataclasses (configuration, datagrams, queued messages, events), enums, strings,
  numbers and tuples are values: shared by copies and used as they are in fingerprints.
- Lists, deques, dicts and sets are copied element by element; any other object (a Session, a
  mutable dataclass) is cloned recursively.  This is 10-20 times faster than `copy.deepcopy`.
- `collections.Counter` attributes, and attributes named like a key of `Node.counters()` (a
  session's `retransmissions`), are statistics: they never decide behaviour, so fingerprints
  leave them out; otherwise every path would be a new state just because it counted
  differently.

Time.  A Node only ever compares times it was given with each other and with its timeouts, so
the checker keeps every node *normalised*: the model's "now" is always 0.0 and a jump of the
clock by `d` subtracts `d` from every time the node holds (`shift`).  Which float attributes are
times is not guessed from their names: `calibrate` drives two identical node pairs through the
same random walk, one at base time 0 and one at base time 1000, and a float attribute that
differs by exactly 1024 between the twins is a time; one that is equal is not (a rate budget).
An attribute that sometimes differs by something else breaks the model's premise (behaviour
depends on absolute time) and is reported as an error.  A float attribute never seen during
calibration makes `shift` raise, so a new attribute cannot silently make the model unsound.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import random
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from simp import events as ev
from simp import wire
from simp.node import Node
from simp.session import CommandError, State

Path = tuple[str, ...]
OFFSET = 1024.0


class TimeModelError(RuntimeError):
    """A node's behaviour or state does not fit the checker's time abstraction."""


@functools.cache
def _is_object_type(kind: type) -> bool:
    if kind in _SHARED or kind.__module__ == "builtins" or issubclass(kind, enum.Enum):
        return False
    if dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return False
    return hasattr(kind, "__dict__") or bool(_slots(kind))


@functools.cache
def _slots(kind: type) -> tuple[str, ...]:
    names = [n for k in kind.__mro__ for n in getattr(k, "__slots__", ())
             if n not in ("__dict__", "__weakref__")]
    return tuple(dict.fromkeys(names))


@functools.cache
def _is_value_type(kind: type) -> bool:
    """A value that `_copy` shares, `_fp` takes as it is, and that holds no float to walk: neither a
    container (tuples included, which `_fp` rebuilds) nor an object (float is one: it is walked)."""
    return kind not in (list, deque, tuple, Counter, dict, set) and not _is_object_type(kind)


def _is_object(value: object) -> bool:
    """A mutable object whose attributes are state (a Session, a mutable dataclass), not a value."""
    return _is_object_type(type(value))


def attributes(obj: Any) -> dict[str, Any]:
    """An object's state: `vars()`, or its slots for a class that has no `__dict__`."""
    state = getattr(obj, "__dict__", None)
    if state is not None:
        return state
    return {name: getattr(obj, name) for name in _slots(type(obj)) if hasattr(obj, name)}


# immutable types a copy shares with its original (tuples in a node hold values only)
_SHARED = frozenset({int, float, str, bool, type(None), bytes, tuple, frozenset})


def clone(obj: Any) -> Any:
    """A copy of a Node (or Session) sharing nothing mutable with the original."""
    new = object.__new__(type(obj))
    if hasattr(new, "__dict__"):
        new.__dict__.update({k: _copy(v) for k, v in vars(obj).items()})
    else:
        for k, v in attributes(obj).items():
            object.__setattr__(new, k, _copy(v))
    return new


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind in _SHARED:
        return value
    if kind is list or kind is deque:
        return kind([v if _is_value_type(type(v)) else _copy(v) for v in value])
    if kind is Counter:
        return Counter(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is set:
        return set(value)
    if _is_object(value):
        return clone(value)
    return value


def fingerprint(obj: Any, statistics: frozenset[str] = frozenset()) -> tuple:
    """A hashable value equal for two nodes exactly when they behave the same from now on.

    Left out: Counter attributes, and attributes named in `statistics` (the names the node
    reports through `Node.counters()`, e.g. a session's `retransmissions`): they count, they
    never decide."""
    return tuple([v if _is_value_type(type(v)) else _fp(v, statistics) for k, v in attributes(obj).items()
                  if type(v) is not Counter and k not in statistics])


def _fp(value: Any, statistics: frozenset[str]) -> Any:
    kind = type(value)
    if kind in _SHARED and kind is not tuple:
        return value
    if kind is list or kind is deque or kind is tuple:
        return tuple([v if _is_value_type(type(v)) else _fp(v, statistics) for v in value])
    if kind is dict:
        items = [(k, _fp(v, statistics)) for k, v in value.items()]
        return tuple(sorted(items, key=repr) if len(items) > 1 else items)
    if kind is set:
        return tuple(sorted(value, key=repr))
    if _is_object(value):
        return (kind.__name__, fingerprint(value, statistics))
    return value


# -- which floats are times --------------------------------------------------------------------


FloatPath = tuple[Path, Path, float, Any, Any]


def float_paths(obj: Any, prefix: Path = ()) -> list[FloatPath]:
    """Every float in `obj`'s state as (kind, place, value, container, key).  `kind` names the
    class and attribute ("[]" for any element of a container): what calibration classifies, the
    same for a Session whether it is current or lingering; `place` is the whole way from the node.
    A list, built by plain recursion: the checker walks every new node state this way, and
    generators nested as deep as the node's objects cost twice as much."""
    out: list[FloatPath] = []
    _object_floats(obj, prefix, out)
    return out


@functools.cache
def _base_name(kind: type) -> str:
    return kind.__mro__[-2].__name__  # a subclass (extension.FramedSession) is its base


def _object_floats(obj: Any, prefix: Path, out: list[FloatPath]) -> None:
    base = _base_name(type(obj))
    for name, value in attributes(obj).items():
        if type(value) in _SHARED and type(value) is not float:
            continue  # holds no float (tuples hold values only, and are not walked)
        _floats(value, (base, name), (*prefix, base, name), obj, name, out)


def _floats(value: Any, kind: Path, place: Path, holder: Any, key: Any, out: list[FloatPath]) -> None:
    kind_of = type(value)
    if kind_of is float:
        out.append((kind, place, value, holder, key))
    elif kind_of is dict:
        if value:
            inner, where = (*kind, "[]"), (*place, "[]")
            for k, v in value.items():
                if type(v) is float or not _is_value_type(type(v)):
                    _floats(v, inner, where, value, k, out)
    elif kind_of is list or kind_of is deque:
        if value:
            inner, where = (*kind, "[]"), (*place, "[]")
            for i, v in enumerate(value):
                if type(v) is float or not _is_value_type(type(v)):
                    _floats(v, inner, where, value, i, out)
    elif _is_object_type(kind_of):
        _object_floats(value, place, out)


def _where(holder: Any, key: Any) -> Any:
    """The identity of one stored time: its dict key, or (for an attribute) the holder's peer."""
    return key if isinstance(holder, (dict, list, deque)) else (getattr(holder, "peer", None), key)


@dataclasses.dataclass
class TimePaths:
    """The outcome of `calibrate`: attribute paths that hold times, and those that hold other floats."""

    times: set[Path] = dataclasses.field(default_factory=set)
    others: set[Path] = dataclasses.field(default_factory=set)

    def times_of(self, node: Node) -> dict[tuple, float]:
        """Every time the node holds, keyed by where it is held (attributes and dict keys)."""
        return {(place, _where(holder, key)): value for kind, place, value, holder, key in float_paths(node)
                if kind in self.times}

    def shift(self, node: Node, by: float) -> Node:
        """A copy of `node` with the clock moved on by `by` (every time it holds, minus `by`)."""
        new = clone(node)
        for path, _, value, holder, key in list(float_paths(new)):
            if path in self.times:
                if isinstance(holder, (dict, list, deque)):
                    holder[key] = value - by
                else:
                    setattr(holder, key, value - by)
            elif path not in self.others:
                raise TimeModelError(f"float attribute {'.'.join(path)} was never seen during calibration, "
                                     "so the checker cannot tell whether it is a time; extend "
                                     "sim.check.nodestate.calibrate's walk so it sets this attribute")
        return new


    def nudged(self, node: Node, where: tuple, by: float) -> Node:
        """A copy of `node` with only the time held at `where` (a key of `times_of`) moved by `by`."""
        new = clone(node)
        for path, place, value, holder, key in list(float_paths(new)):
            if path in self.times and (place, _where(holder, key)) == where:
                if isinstance(holder, (dict, list, deque)):
                    holder[key] = value + by
                else:
                    setattr(holder, key, value + by)
        return new


def calibrate(make_pair: Callable[[], list[Node]], addresses: list[ev.Address], *, walks: int = 60,
              length: int = 40, seed: int = 1) -> TimePaths:
    """Find the time-valued float attributes by running twins at base times 0 and OFFSET."""
    found = TimePaths()
    stray = [make_pair() for _ in (0.0, OFFSET)]  # a straggler from an address with no session:
    for base, nodes in zip((0.0, OFFSET), stray, strict=True):  # it sets the stranger rules' memories,
        nodes[0].receive(_STRAGGLER, addresses[1], base + 1.0)  # which free random walks may never do
    _classify(stray[0], stray[1], found)
    for w in range(walks):
        twins = [_Walk(make_pair(), addresses, base) for base in (0.0, OFFSET)]
        rng_seed = seed * 10_000 + w
        for twin in twins:
            twin.rng = random.Random(rng_seed)
        for _ in range(length):
            moves = [twin.step() for twin in twins]
            if moves[0] != moves[1]:
                raise TimeModelError(f"two nodes that differ only in their base time behaved differently: "
                                     f"{moves[0]!r} at base 0 and {moves[1]!r} at base {OFFSET:g}")
            if moves[0] is None:
                break
            _classify(twins[0].nodes, twins[1].nodes, found)
    found.others -= found.times  # a time that happened to be equal once (e.g. an initial 0.0)
    return found


_STRAGGLER = wire.encode(wire.chat(1, "peer", "a chat this node no longer has"))


def _classify(at_zero: list[Node], at_offset: list[Node], found: TimePaths) -> None:
    """Sort the float attributes of twin nodes, at base times 0 and OFFSET, into times and others."""
    for a, b in zip(at_zero, at_offset, strict=True):
        for (path, _, va, *_), (_, _, vb, *_) in zip(float_paths(a), float_paths(b), strict=True):
            if abs(vb - va - OFFSET) < 1e-6:
                found.times.add(path)
            elif vb == va:
                found.others.add(path)
            else:
                raise TimeModelError(f"{'.'.join(path)} is {va} at base 0 but {vb} at base {OFFSET:g}")


class _Walk:
    """Two or more nodes, a FIFO network and random users, driven at absolute times base + t."""

    def __init__(self, nodes: list[Node], addresses: list[ev.Address], base: float) -> None:
        self.nodes, self.addresses, self.base = nodes, addresses, base
        self.index = {a: i for i, a in enumerate(addresses)}
        self.t = 0.0
        self.flight: list[tuple[int, int, bytes]] = []
        self.rng = random.Random()
        self.said = 0

    def _collect(self) -> None:
        from simp import wire

        for i, node in enumerate(self.nodes):
            for addr, dg in node.datagrams_to_send():
                if addr in self.index:
                    self.flight.append((i, self.index[addr], wire.encode(dg)))
            node.events()
            node.notes()

    def step(self) -> str | None:
        self._collect()
        now = self.base + self.t
        choice = self.rng.random()
        i = self.rng.randrange(len(self.nodes))
        node = self.nodes[i]
        if self.flight and choice < 0.5:
            src, dst, data = self.flight.pop(self.rng.randrange(len(self.flight)) if choice < 0.05 else 0)
            if choice < 0.4:
                self.nodes[dst].receive(data, self.addresses[src], now)
            move = f"deliver {src}->{dst}"
        elif choice < 0.75:
            move = f"user {i} " + self._user(node, i, now)
        else:
            timers = [(t, k) for k, n in enumerate(self.nodes) if (t := n.get_timer()) is not None]
            if not timers:
                return None if not self.flight else "idle"
            when, k = min(timers)
            now = max(now, when) + self.rng.choice((0.0, 0.25))  # at the deadline or later (dyadic: exact)
            self.t = now - self.base
            self.nodes[k].handle_timer(now)
            move = f"timer {k}"
        self._collect()
        return f"{move}, {len(self.flight)} in flight"

    def _user(self, node: Node, i: int, now: float) -> str:
        peer = self.addresses[(i + 1 + self.rng.randrange(len(self.nodes) - 1)) % len(self.nodes)]
        state = node.current.state if node.current is not None else None
        try:
            if state is None:
                node.start(peer, now)
                return "start"
            if state is State.INVITED:
                (node.accept if self.rng.random() < 0.7 else node.decline)(now)
                return "answer"
            if self.rng.random() < 0.8:
                self.said += 1
                node.say(self.said, f"m{self.said}", now)
                return "say"
            node.quit(now)
            return "quit"
        except CommandError:
            return "refused"
