"""What happened on the simulated wire, and three ways to show it: JSON lines, pcap, ladders.

The relay records one `TraceEvent` per thing it does to a datagram; the runner may add `note`
events (steps, notices) so a ladder also shows what the users did and saw.  Every datagram the
relay receives gets a number `n`; all events about that datagram (its fate, its late copies)
carry the same `n`, which is how the renderers tie a delayed arrival to its send.

Event actions:
- on the wire: `received` (a daemon sent it to a peer's alias), `forwarded` (the relay sent a
  copy on to the peer's real address), `unknown` (it came from an address that is no host);
- fates, between the two: `dropped`, `delayed`, `duplicated`, `reordered`, `corrupted`;
- `note`: free text at one host, not a datagram.

Datagrams are shown in `Datagram.describe()` notation (`CHAT seq=1 "hi"`) or, when they do not
decode, as `malformed (reason)`, so ladders, logs and the dissector read alike.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simp import wire

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
    """`Datagram.describe()` of `data`, or `malformed (reason)` when it does not decode."""
    try:
        return wire.decode(data).describe()
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

    def ladder(self, markers: Sequence[Marker] = (), *, width: int | None = None) -> str:
        return ladder(self.events, self.hosts, markers, width=width)

    def svg(self, markers: Sequence[Marker] = (), *, title: str = "") -> str:
        return svg(self.events, self.hosts, markers, title=title)

    def write_svg(self, path: str | Path, markers: Sequence[Marker] = (), *, title: str = "") -> None:
        Path(path).write_text(self.svg(markers, title=title), encoding="utf-8")


# -- ladder rows (shared by the text and SVG renderings) ------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    """One line of a ladder.  kind: send (a daemon's datagram), arrive (a late or altered copy
    reaching its peer), note, unknown, marker.  head: ▶ delivered now, ✗ dropped, ⋯ in flight."""

    t: float
    kind: str
    src: str = ""
    dst: str = ""
    label: str = ""
    head: str = ""
    note: str = ""
    n: int = 0


def _rows(events: Sequence[TraceEvent], markers: Sequence[Marker]) -> list[_Row]:
    by_n: dict[int, list[TraceEvent]] = {}
    for e in events:
        if e.n:
            by_n.setdefault(e.n, []).append(e)
    rows: list[_Row] = []
    for e in events:
        if e.action == NOTE:
            rows.append(_Row(e.t, "note", e.src, e.src, note=e.note))
        elif e.action == UNKNOWN:
            rows.append(
                _Row(e.t, "unknown", e.src, e.dst, e.desc, "✗", f"from unknown {e.src}, dropped", e.n)
            )
        elif e.action == RECEIVED:
            rows.append(_send_row(e, by_n.get(e.n, [])))
        elif e.action == FORWARDED and not _plain(e, by_n.get(e.n, [])):
            rows.append(_Row(e.t, "arrive", e.src, e.dst, e.desc, "▶", f"#{e.n} {e.note}".strip(), e.n))
    for m in sorted(markers, key=lambda m: m.t):
        at = len(rows)
        while at > 0 and rows[at - 1].t > m.t:
            at -= 1
        rows.insert(at, _Row(m.t, "marker", note=m.text))
    return rows


def _plain(forward: TraceEvent, related: list[TraceEvent]) -> bool:
    """A forward untouched by any fault: same time, same bytes, original copy."""
    sent = next((e for e in related if e.action == RECEIVED), None)
    return sent is not None and forward.copy == 0 and not forward.note and forward.data == sent.data


def _send_row(sent: TraceEvent, related: list[TraceEvent]) -> _Row:
    fates = [e for e in related if e.action not in (RECEIVED, FORWARDED)]
    if any(e.action == DROPPED for e in fates):
        note = next(e.note for e in fates if e.action == DROPPED)
        return _Row(sent.t, "send", sent.src, sent.dst, sent.desc, "✗", f"#{sent.n} dropped: {note}", sent.n)
    on_time = any(e.action == FORWARDED and _plain(e, related) for e in related)
    extra = "; ".join(dict.fromkeys(e.note or e.action for e in fates))
    note = f"#{sent.n}" + (f" {extra}" if extra else "")
    return _Row(sent.t, "send", sent.src, sent.dst, sent.desc, "▶" if on_time else "⋯", note, sent.n)


def _columns(hosts: Sequence[str], rows: Sequence[_Row]) -> list[str]:
    cols = list(hosts)
    for r in rows:
        for h in (r.src, r.dst):
            if h and r.kind in ("send", "arrive", "note") and h not in cols:
                cols.append(h)
        if r.kind == "unknown" and r.dst not in cols:
            cols.append(r.dst)
    return cols


# -- text ladder -----------------------------------------------------------------------------

_TIME_W = 10  # "  12.345  "


def ladder(
    events: Sequence[TraceEvent],
    hosts: Sequence[str] = (),
    markers: Sequence[Marker] = (),
    *,
    width: int | None = None,
) -> str:
    """A terminal ladder diagram: time on the left, one column per host, one line per datagram
    sent (with its fate), per late or altered arrival, per note and per marker."""
    rows = _rows(events, markers)
    cols = _columns(hosts, rows)
    longest = max((len(r.label) for r in rows if r.kind in ("send", "arrive")), default=10)
    gap = width or max(24, min(60, longest + 8))
    first = _TIME_W + max(2, (len(cols[0]) + 1) // 2 if cols else 2)
    xs = {h: first + i * gap for i, h in enumerate(cols)}
    span = first + max(len(cols) - 1, 0) * gap + max((len(h) + 1) // 2 for h in cols or [""]) + 1
    head = list("  time(s)".ljust(span))
    for h, x in xs.items():
        start = x - len(h) // 2
        head[start : start + len(h)] = h
    lines = ["".join(head).rstrip()]
    for r in rows:
        stamp = f"{r.t:{_TIME_W - 2}.3f}  "
        if r.kind == "marker":
            lines.append(f"{stamp}══ ✗ {r.note} ══")
            continue
        line = list(stamp.ljust(span))
        for x in xs.values():
            line[x] = "│"
        note = r.note
        if r.kind == "note":
            line[xs[r.src]] = "●"
            note = f"{r.src}: {r.note}"
        elif r.kind == "unknown":
            line[xs[r.dst]] = "✗"
            note = f"{r.note}: {r.label} to {r.dst}"
        elif r.src == r.dst:
            note = f"{r.label} {r.src} -> itself; {note}"
        else:
            _draw_arrow(line, xs[r.src], xs[r.dst], r)
        lines.append("".join(line).rstrip() + (f"  {note}" if note else ""))
    return "\n".join(lines) + "\n"


def _draw_arrow(line: list[str], x_src: int, x_dst: int, r: _Row) -> None:
    left, right = sorted((x_src, x_dst))
    fill = "┄" if r.kind == "arrive" else "─"
    for x in range(left + 1, right):
        line[x] = fill
    room = right - left - 5
    label = r.label if len(r.label) <= room else r.label[: max(room - 1, 0)] + "…"
    start = left + 1 + (right - left - 1 - len(label)) // 2
    line[start - 1 : start + len(label) + 1] = f" {label} "
    if x_dst > x_src:
        line[left] = "├"
        line[right - 1] = r.head
    else:
        line[right] = "┤"
        line[left + 1] = "◀" if r.head == "▶" else r.head


# -- SVG ladder ------------------------------------------------------------------------------

_ROW_H, _COL_W, _LEFT, _TOP = 22, 260, 80, 50


def svg(
    events: Sequence[TraceEvent],
    hosts: Sequence[str] = (),
    markers: Sequence[Marker] = (),
    *,
    title: str = "",
) -> str:
    """A standalone SVG ladder for people: lifelines per host, one row per ladder line, delayed
    copies drawn as dashed slanted arrows from the send row to the arrival row, drops in red."""
    rows = _rows(events, markers)
    cols = _columns(hosts, rows)
    xs = {h: _LEFT + 40 + i * _COL_W for i, h in enumerate(cols)}
    width = _LEFT + 40 + max(len(cols) - 1, 0) * _COL_W + 360
    height = _TOP + (len(rows) + 1) * _ROW_H + 10
    y_of = {i: _TOP + (i + 1) * _ROW_H for i in range(len(rows))}
    send_row = {r.n: i for i, r in enumerate(rows) if r.kind == "send"}
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="12">',
        "<style>.l{stroke:#999}.a{stroke:#222;fill:none}.d{stroke:#c00}"
        ".late{stroke:#06c;stroke-dasharray:4 3}.m{stroke:#c00;stroke-dasharray:6 3}"
        ".t{fill:#666}.n{fill:#555}.x{fill:#c00}</style>",
        '<defs><marker id="h" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#222"/></marker></defs>',
    ]
    if title:
        out.append(f'<text x="10" y="16" font-weight="bold">{esc(title)}</text>')
    bottom = height - 10
    for h, x in xs.items():
        out.append(f'<text x="{x}" y="{_TOP - 8}" text-anchor="middle" font-weight="bold">{esc(h)}</text>')
        out.append(f'<line class="l" x1="{x}" y1="{_TOP}" x2="{x}" y2="{bottom}"/>')
    note_x = _LEFT + 40 + max(len(cols) - 1, 0) * _COL_W + 20
    for i, r in enumerate(rows):
        y = y_of[i]
        out.append(f'<text class="t" x="{_LEFT - 10}" y="{y + 4}" text-anchor="end">{r.t:.3f}</text>')
        if r.kind == "marker":
            out.append(f'<line class="m" x1="{_LEFT}" y1="{y}" x2="{width - 10}" y2="{y}"/>')
            out.append(f'<text class="x" x="{_LEFT + 4}" y="{y - 4}">✗ {esc(r.note)}</text>')
            continue
        if r.kind == "note":
            out.append(f'<circle cx="{xs[r.src]}" cy="{y}" r="4" fill="#555"/>')
            out.append(f'<text class="n" x="{xs[r.src] + 8}" y="{y + 4}">{esc(r.note)}</text>')
            continue
        if r.kind == "unknown":
            out.append(f'<text class="x" x="{xs[r.dst]}" y="{y + 4}" text-anchor="middle">✗</text>')
            out.append(f'<text class="n" x="{note_x}" y="{y + 4}">{esc(r.note)}: {esc(r.label)}</text>')
            continue
        x1, x2 = xs[r.src], xs[r.dst]
        y1 = y_of[send_row[r.n]] if r.kind == "arrive" and r.n in send_row else y
        if r.head == "✗":
            x2 = x1 + (x2 - x1) * 0.7
            out.append(f'<line class="a d" x1="{x1}" y1="{y}" x2="{x2:.1f}" y2="{y}"/>')
            out.append(f'<text class="x" x="{x2:.1f}" y="{y + 4}" text-anchor="middle">✗</text>')
        elif r.head == "⋯":
            x2 = x1 + (x2 - x1) * 0.5
            out.append(f'<line class="a late" x1="{x1}" y1="{y}" x2="{x2:.1f}" y2="{y}"/>')
        else:
            cls = "a late" if r.kind == "arrive" else "a"
            out.append(
                f'<line class="{cls}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y}" marker-end="url(#h)">'
                f"<title>{esc(r.note)}</title></line>"
            )
        mid = (x1 + x2) / 2
        out.append(f'<text x="{mid:.1f}" y="{y - 4}" text-anchor="middle">{esc(r.label)}</text>')
        if r.note:
            out.append(f'<text class="n" x="{note_x}" y="{y + 4}">{esc(r.note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
