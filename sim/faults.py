"""Fault rules for the relay: which datagrams to hurt, and how.  Pure: no sockets, no clock.

A rule is a matcher (direction, type, op, seq, user, payload text, time window, nth occurrence,
probability, fire limit) plus one action (drop, delay, duplicate, reorder, corrupt, or a loss
model).  `FaultPlan` holds the rules of one run and turns each datagram into a `Decision`: the
copies to deliver, each with its delay, and which rules fired.

Determinism is the point of the design: every rule draws from its own `random.Random` seeded
from the scenario seed and the rule's index, so adding or removing one rule never changes the
random choices of another, and the same datagrams in the same order always get the same fate.

How rules combine, in rule order, for one datagram:
- every rule whose matcher accepts the datagram counts it (that is what `nth` refers to), even
  when an earlier rule has already dropped it, so "the 2nd SYN from alice" means the 2nd SYN
  alice's daemon sent, whatever other rules did;
- a rule then fires when the datagram is still alive, its `nth` selects this occurrence, its
  `limit` is not used up and its `probability` draw succeeds;
- a firing rule's action transforms the list of copies: drop empties it, delay adds to every
  copy's delay, duplicate adds copies, reorder marks copies to be held, corrupt changes bytes.
Datagrams that do not decode (already corrupt) match only rules that test no datagram field.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from simp import extension, wire

OPS = ("CHAT", "SYN", "SYN+ACK", "ACK", "FIN", "ERR")
TYPES = ("control", "chat")
CORRUPT_FIELDS = ("type", "op", "seq", "length")

# Offsets of the header fields (SPEC "Datagram format") and the bad value each gets by default.
_FIELD_OFFSET = {"type": 0, "op": 1, "seq": 2, "length": 35}
_BAD_VALUE = {"type": 0x7F, "op": 0x7F, "seq": 2}


@dataclass(frozen=True, kw_only=True)
class Match:
    """Which datagrams a rule looks at.  None means "any"; all given fields must hold."""

    src: str | None = None  # host that sent it
    dst: str | None = None  # host it is addressed to
    type: str | None = None  # "control" or "chat"
    op: str | None = None  # one of OPS, as Datagram.label spells it
    seq: int | None = None
    user: str | None = None
    text: str | None = None  # substring of the payload

    @property
    def needs_fields(self) -> bool:
        """True when the matcher reads datagram fields, so a malformed datagram cannot match."""
        return any(v is not None for v in (self.type, self.op, self.seq, self.user, self.text))

    def matches(self, src: str, dst: str, dg: wire.Datagram | None) -> bool:
        if self.src is not None and self.src != src:
            return False
        if self.dst is not None and self.dst != dst:
            return False
        if not self.needs_fields:
            return True
        if dg is None:
            return False
        return (
            (self.type is None or self.type == ("chat" if dg.is_chat else "control"))
            and (self.op is None or self.op == dg.label)
            and (self.seq is None or self.seq == dg.seq)
            and (self.user is None or self.user == dg.user)
            and (self.text is None or self.text in extension.text_of(dg))
        )

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in vars(self).items() if v is not None]
        return " ".join(parts) if parts else "any"


# -- actions ---------------------------------------------------------------------------------
# Each action turns the list of copies into a new list.  `rng` is the rule's own generator;
# `state` is the rule's mutable per-run state (only the Gilbert-Elliott model uses it); `tag`
# (the rule's name) is appended to the notes it writes on copies, so the trace says who did it.


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One copy of a datagram to send on: after `delay` seconds, these `data` bytes.

    `hold` (reorder) means: once the delay has passed, keep the copy back until the next
    datagram on the same path has been forwarded, but at most `hold` seconds.  `copy` is 0 for
    the original and k for the k-th duplicate.  `notes` say what the rules did to this copy.
    """

    delay: float
    data: bytes
    notes: tuple[str, ...] = ()
    hold: float | None = None
    copy: int = 0

    @property
    def note(self) -> str:
        return "; ".join(self.notes)


def _noted(d: Delivery, tag: str, note: str, **changes: object) -> Delivery:
    return replace(d, notes=(*d.notes, f"{note} ({tag})" if tag else note), **changes)


@dataclass(frozen=True, kw_only=True)
class Drop:
    def apply(self, copies: list[Delivery], rng: random.Random, state: dict, tag: str = "") -> list[Delivery]:
        return []

    def describe(self) -> str:
        return "drop"


@dataclass(frozen=True, kw_only=True)
class Delay:
    """Delay by `low` seconds, or by a uniform draw from [low, high] when `high` is given."""

    low: float
    high: float | None = None

    def apply(self, copies: list[Delivery], rng: random.Random, state: dict, tag: str = "") -> list[Delivery]:
        out = []
        for d in copies:
            extra = self.low if self.high is None else rng.uniform(self.low, self.high)
            out.append(_noted(d, tag, f"delayed {extra:.3f}s", delay=d.delay + extra))
        return out

    def describe(self) -> str:
        return f"delay {self.low:g}s" if self.high is None else f"delay {self.low:g}-{self.high:g}s"


@dataclass(frozen=True, kw_only=True)
class Duplicate:
    """Add `copies` extra copies of each copy, the k-th one `k * gap` seconds after it."""

    copies: int = 1
    gap: float = 0.0

    def apply(self, copies: list[Delivery], rng: random.Random, state: dict, tag: str = "") -> list[Delivery]:
        out = []
        for d in copies:
            out.append(d)
            for k in range(1, self.copies + 1):
                note = f"duplicate {k}/{self.copies}" + (f" +{k * self.gap:.3f}s" if self.gap else "")
                out.append(_noted(d, tag, note, delay=d.delay + k * self.gap, copy=d.copy + k))
        return out

    def describe(self) -> str:
        return f"duplicate x{self.copies}" + (f" gap {self.gap:g}s" if self.gap else "")


@dataclass(frozen=True, kw_only=True)
class Reorder:
    """Hold the datagram until the next one on the same path has passed (at most `max_hold`)."""

    max_hold: float = 1.0

    def apply(self, copies: list[Delivery], rng: random.Random, state: dict, tag: str = "") -> list[Delivery]:
        return [_noted(d, tag, "held for reorder", hold=self.max_hold) for d in copies]

    def describe(self) -> str:
        return f"reorder (max hold {self.max_hold:g}s)"


@dataclass(frozen=True, kw_only=True)
class Corrupt:
    """Damage the bytes: flip `flip` random bytes, or truncate to `truncate` bytes, or set the
    header field `field` (type/op/seq/length) to `value` (default: a value that is invalid)."""

    flip: int | None = None
    truncate: int | None = None
    field: str | None = None
    value: int | None = None

    def __post_init__(self) -> None:
        chosen = [x for x in (self.flip, self.truncate, self.field) if x is not None]
        if len(chosen) != 1:
            raise ValueError("Corrupt needs exactly one of flip, truncate, field")
        if self.field is not None and self.field not in CORRUPT_FIELDS:
            raise ValueError(f"Corrupt field must be one of {', '.join(CORRUPT_FIELDS)}, got {self.field!r}")

    def _damage(self, data: bytes, rng: random.Random) -> tuple[bytes, str]:
        if self.flip is not None:
            buf = bytearray(data)
            if not buf:
                return data, "corrupt: nothing to flip"
            positions = sorted(rng.sample(range(len(buf)), min(self.flip, len(buf))))
            for pos in positions:
                buf[pos] ^= rng.randrange(1, 256)
            return bytes(buf), "corrupted bytes " + ",".join(map(str, positions))
        if self.truncate is not None:
            return data[: self.truncate], f"truncated to {min(self.truncate, len(data))} bytes"
        assert self.field is not None
        offset = _FIELD_OFFSET[self.field]
        if self.field == "length":
            value = len(data) - wire.HEADER_SIZE + 1 if self.value is None else self.value
            if len(data) < offset + 4:
                return data, "corrupt: too short for a length field"
            return data[:offset] + value.to_bytes(4, "big") + data[offset + 4 :], f"length set to {value}"
        value = _BAD_VALUE[self.field] if self.value is None else self.value
        if len(data) <= offset:
            return data, f"corrupt: too short for a {self.field} field"
        return data[:offset] + bytes([value & 0xFF]) + data[offset + 1 :], f"{self.field} set to {value:#04x}"

    def apply(self, copies: list[Delivery], rng: random.Random, state: dict, tag: str = "") -> list[Delivery]:
        out = []
        for d in copies:
            data, note = self._damage(d.data, rng)
            out.append(_noted(d, tag, note, data=data))
        return out

    def describe(self) -> str:
        if self.flip is not None:
            return f"corrupt flip {self.flip}"
        if self.truncate is not None:
            return f"corrupt truncate {self.truncate}"
        return f"corrupt {self.field}" + ("" if self.value is None else f"={self.value}")


@dataclass(frozen=True, kw_only=True)
class Bernoulli:
    """Independent loss: each matching datagram is lost with probability `p`."""

    p: float

    def apply(self, copies: list[Delivery], rng: random.Random, state: dict, tag: str = "") -> list[Delivery]:
        return [] if rng.random() < self.p else copies

    def describe(self) -> str:
        return f"loss p={self.p:g}"


@dataclass(frozen=True, kw_only=True)
class GilbertElliott:
    """Bursty loss: a two-state channel (good/bad), starting good.  Per matching datagram the
    loss is drawn with the current state's rate, then the state moves on."""

    p_good_to_bad: float
    p_bad_to_good: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def apply(self, copies: list[Delivery], rng: random.Random, state: dict, tag: str = "") -> list[Delivery]:
        bad = state.get("bad", False)
        lost = rng.random() < (self.loss_bad if bad else self.loss_good)
        flip = rng.random() < (self.p_bad_to_good if bad else self.p_good_to_bad)
        state["bad"] = (not bad) if flip else bad
        return [] if lost else copies

    def describe(self) -> str:
        return f"gilbert-elliott g>b={self.p_good_to_bad:g} b>g={self.p_bad_to_good:g}"


Action = Drop | Delay | Duplicate | Reorder | Corrupt | Bernoulli | GilbertElliott
Nth = tuple[tuple[int, int | None], ...]


def parse_nth(value: int | str | Sequence[int | str]) -> Nth:
    """`3` -> 3rd only; `"2-4"` -> 2nd to 4th; `"3-"` -> 3rd onwards; a list -> any of them.

    Raises ValueError with the offending value when it is not one of those forms.
    """
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError("an empty list selects nothing; give at least one occurrence")
    out: list[tuple[int, int | None]] = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"expected an occurrence number, got {item!r}")
        if isinstance(item, int):
            lo, hi = item, item
        elif isinstance(item, str) and item.strip().isdigit():
            lo = hi = int(item)
        elif isinstance(item, str) and item.count("-") == 1:
            a, b = (s.strip() for s in item.split("-"))
            if not a.isdigit() or not (b.isdigit() or b == ""):
                raise ValueError(f"expected a range like '2-4' or '3-', got {item!r}")
            lo, hi = int(a), (int(b) if b else None)
        else:
            raise ValueError(f"expected an occurrence number or a range like '2-4', got {item!r}")
        if lo < 1 or (hi is not None and hi < lo):
            raise ValueError(f"occurrences count from 1 and ranges go upwards, got {item!r}")
        out.append((lo, hi))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One fault rule.  `start`/`until` are seconds since the scenario start (until exclusive);
    `nth` empty means every occurrence; `limit` caps how often the rule fires."""

    action: Action
    match: Match = field(default_factory=Match)
    nth: Nth = ()
    probability: float = 1.0
    start: float | None = None
    until: float | None = None
    limit: int | None = None
    name: str = ""

    def selects(self, occurrence: int) -> bool:
        if not self.nth:
            return True
        return any(lo <= occurrence and (hi is None or occurrence <= hi) for lo, hi in self.nth)

    def in_window(self, now: float) -> bool:
        return (self.start is None or now >= self.start) and (self.until is None or now < self.until)

    def describe(self) -> str:
        return f"{self.name or 'rule'}: {self.action.describe()}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one datagram: the copies to send (empty = dropped) and the rules that
    fired, as `Rule.describe()` strings, for the trace."""

    deliveries: tuple[Delivery, ...]
    fired: tuple[str, ...] = ()

    @property
    def dropped(self) -> bool:
        return not self.deliveries

    @property
    def note(self) -> str:
        return "; ".join(self.fired)


@dataclass
class _RuleState:
    rng: random.Random
    seen: int = 0
    fired: int = 0
    model: dict = field(default_factory=dict)


def decode_or_none(data: bytes) -> wire.Datagram | None:
    try:
        return wire.decode(data)
    except wire.MalformedDatagram:
        return None


class FaultPlan:
    """The rules of one run plus their per-run state (occurrence counts, generators).

    Make a new FaultPlan for every run: it remembers what it has seen.
    """

    def __init__(self, rules: Sequence[Rule] = (), seed: int | str = 0) -> None:
        self.rules = tuple(rules)
        self.seed = seed
        self._state = [_RuleState(random.Random(f"{seed}:{i}")) for i in range(len(self.rules))]

    def decide(self, data: bytes, src: str, dst: str, now: float) -> Decision:
        """Decide the fate of `data` sent by host `src` to host `dst` at `now` (seconds since
        the scenario start).  Call once per datagram, in arrival order."""
        dg = decode_or_none(data)
        copies = [Delivery(delay=0.0, data=data)]
        fired: list[str] = []
        for rule, state in zip(self.rules, self._state, strict=True):
            if not (rule.in_window(now) and rule.match.matches(src, dst, dg)):
                continue
            state.seen += 1
            if not copies or not rule.selects(state.seen):
                continue
            if rule.limit is not None and state.fired >= rule.limit:
                continue
            if rule.probability < 1.0 and state.rng.random() >= rule.probability:
                continue
            before = copies
            copies = rule.action.apply(copies, state.rng, state.model, rule.name)
            if copies != before:
                state.fired += 1
                fired.append(rule.describe())
        return Decision(tuple(copies), tuple(fired))
