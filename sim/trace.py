"""What happened on the simulated wire: the events of one run, and their JSON-lines form.

The relay records one `TraceEvent` per thing it does to a datagram; the runner may add `note`
events (steps, notices) so a ladder also shows what the users did and saw.  Every datagram the
relay receives gets a number `n`; all events about that datagram (its fate, its late copies)
carry the same `n`, which is how the renderers tie a delayed arrival to its send.

Event actions:
- on the wire: `received` (a daemon sent it to a peer's alias), `forwarded` (the relay sent a
  copy on to the peer's real address), `unknown` (it came from an address that is no host);
- fates, between the two: `dropped`, `delayed`, `duplicated`, `reordered`, `corrupted`;
- `note`: free text at one host, not a datagram.

Renderings: captures in sim.capture, ladders in sim.ladder (rows, text), sim.ladder_svg and
sim.ladder_mermaid.  Datagrams are shown in `Datagram.describe()` notation (`CHAT seq=1 "hi"`)
or, when they do not decode, as `malformed (reason)`, so ladders, logs and the dissector read
alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simp import extension, wire

Address = tuple[str, int]

RECEIVED, FORWARDED, UNKNOWN = "received", "forwarded", "unknown"
DROPPED, DELAYED, DUPLICATED, REORDERED, CORRUPTED = (
    "dropped",
    "delayed",
    "duplicated",
    "reordered",
    "corrupted",
)
NOTE = "note"
ACTIONS = (RECEIVED, FORWARDED, UNKNOWN, DROPPED, DELAYED, DUPLICATED, REORDERED, CORRUPTED, NOTE)
_ACTION_SET = frozenset(ACTIONS)
ON_WIRE = (RECEIVED, FORWARDED, UNKNOWN)


def describe_bytes(data: bytes) -> str:
    """`Datagram.describe()` of `data` (a SIMPX/1 tag shown apart from the text, see
    `simp.extension.describe`), or `malformed (reason)` when it does not decode."""
    try:
        return extension.describe(wire.decode(data))
    except wire.MalformedDatagram as exc:
        return f"malformed ({exc.reason})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceEvent:
    """One thing that happened at virtual time `t` (seconds since the scenario start).

    `src`/`dst` are host names (for `unknown`, `src` is the sender's `ip:port`); `src_addr` and
    `dst_addr` are the real socket addresses of an on-wire leg (used by the pcap export only,
    since they differ from run to run).  `copy` is 0 for the original, k for the k-th duplicate.
    `desc` is computed from the bytes when read, not when recorded: the relay records two events
    per datagram on its hot path, and most traces are never rendered.
    """

    t: float
    action: str
    src: str
    dst: str
    data: bytes = b""
    n: int = 0
    note: str = ""
    copy: int = 0
    src_addr: Address | None = None
    dst_addr: Address | None = None

    @property
    def desc(self) -> str:
        """The datagram in ladder notation (`CHAT seq=1 "hi"`, `malformed (...)`); "" for a note."""
        return "" if self.action == NOTE else describe_bytes(self.data)

    @property
    def datagram(self) -> wire.Datagram | None:
        """The decoded datagram, or None when the bytes are malformed (or this is a note)."""
        try:
            return wire.decode(self.data)
        except wire.MalformedDatagram:
            return None

    def to_json(self) -> dict[str, object]:
        """The JSON-lines record: everything but the socket addresses, so that the same run in
        another loopback block gives the same bytes."""
        return {
            "t": round(self.t, 6),
            "n": self.n,
            "action": self.action,
            "src": self.src,
            "dst": self.dst,
            "desc": self.desc,
            "note": self.note,
            "copy": self.copy,
            "bytes": self.data.hex(),
        }


@dataclass(frozen=True, slots=True)
class Marker:
    """A line drawn across a ladder at time `t`, e.g. where a failed expectation was due."""

    t: float
    text: str


class Trace:
    """The events of one run, in the order they happened.  `hosts` fixes the ladder's column
    order (hosts seen only in events are appended)."""

    def __init__(self, hosts: Sequence[str] = ()) -> None:
        self.hosts: list[str] = list(hosts)
        self.events: list[TraceEvent] = []

    def record(
        self,
        t: float,
        action: str,
        src: str,
        dst: str,
        data: bytes = b"",
        *,
        n: int = 0,
        note: str = "",
        copy: int = 0,
        src_addr: Address | None = None,
        dst_addr: Address | None = None,
    ) -> TraceEvent:
        """Append one event."""
        if action not in _ACTION_SET:
            raise ValueError(f"unknown trace action {action!r}; expected one of {', '.join(ACTIONS)}")
        event = TraceEvent(
            t=t,
            action=action,
            src=src,
            dst=dst,
            data=data,
            n=n,
            note=note,
            copy=copy,
            src_addr=src_addr,
            dst_addr=dst_addr,
        )
        self.events.append(event)
        return event

    def annotate(self, t: float, host: str, text: str) -> TraceEvent:
        """Record a note at `host` (a step the user took, a notice the client showed)."""
        return self.record(t, NOTE, host, host, note=text)

    def sent(self) -> list[TraceEvent]:
        """The datagrams as the daemons sent them (`received` events), in order."""
        return [e for e in self.events if e.action == RECEIVED]

    def dropped(self, n: int) -> bool:
        """True when datagram `n` was dropped by the relay (no copy forwarded)."""
        return any(e.n == n and e.action == DROPPED for e in self.events)

    def jsonl(self) -> str:
        return "".join(json.dumps(e.to_json(), sort_keys=True) + "\n" for e in self.events)

    def write_jsonl(self, path: str | Path) -> None:
        """One JSON object per line; the same events always give the same bytes."""
        Path(path).write_text(self.jsonl(), encoding="utf-8")

    def write_pcap(self, path: str | Path) -> None:
        """Classic pcap of both legs of every datagram (see sim.capture)."""
        from sim.capture import write_pcap  # sim.capture builds on this module's event types

        write_pcap(path, self.events)

    def write_pcapng(self, path: str | Path) -> None:
        """pcapng with host names and a comment on every faulted datagram (see sim.capture)."""
        from sim.capture import write_pcapng

        write_pcapng(path, self.events)

    # The renderings live in their own modules, which build on this one's types: imported on use.

    def ladder(self, markers: Sequence[Marker] = (), *, width: int | None = None, fold: bool = True) -> str:
        """The terminal ladder (sim.ladder)."""
        from sim.ladder import ladder

        return ladder(self.events, self.hosts, markers, width=width, fold=fold)

    def svg(
        self, markers: Sequence[Marker] = (), *, title: str = "", fold: bool = True, timed: bool = False
    ) -> str:
        """The SVG ladder (sim.ladder_svg); `timed`: vertical gaps proportional to time."""
        from sim.ladder_svg import svg

        return svg(self.events, self.hosts, markers, title=title, fold=fold, timed=timed)

    def write_svg(
        self,
        path: str | Path,
        markers: Sequence[Marker] = (),
        *,
        title: str = "",
        fold: bool = True,
        timed: bool = False,
    ) -> None:
        Path(path).write_text(self.svg(markers, title=title, fold=fold, timed=timed), encoding="utf-8")

    def mermaid(self, markers: Sequence[Marker] = (), *, fold: bool = True) -> str:
        """The ladder as a Mermaid sequenceDiagram (sim.ladder_mermaid)."""
        from sim.ladder_mermaid import mermaid

        return mermaid(self.events, self.hosts, markers, fold=fold)
