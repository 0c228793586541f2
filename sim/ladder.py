"""Ladder diagrams of a trace: the rows every rendering shares, folding, and the terminal ladder.

A ladder has one column per host and one row per datagram sent (with its fate), per late or
altered arrival, per note (a step, a notice) and per marker (a failed expectation).  The SVG
(`sim.ladder_svg`) and Mermaid (`sim.ladder_mermaid`) renderings draw the same rows.

Long runs are folded, in two passes.  First repeats: when the same block of rows (same kinds,
hosts, datagram types and fates, whatever the message texts, sequence numbers and times) repeats
FOLD_MIN times or more in a row, the first and last blocks are kept and the ones between become
one `fold` row that says how many repeats were left out and over which time span.  50 identical
retransmissions then take five rows, not fifty, and every ladder still shows how each run begins
and ends.  Then quiet stretches: QUIET_MIN or more rows in a row where nothing happens but
datagrams delivered at once and the steps and notices of ordinary messages (say, message,
delivered) keep QUIET_KEEP rows at each end around one `fold` row that counts the rest.  Losses,
late or altered copies, markers, chat starts and ends are never folded.  `fold=False` gives every row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sim.trace import DROPPED, FORWARDED, NOTE, RECEIVED, UNKNOWN, Marker, TraceEvent

FOLD_MIN = 4  # repeats of a block before it is folded (3 would save nothing)
FOLD_MAX_BLOCK = 8  # the longest block of rows looked for
QUIET_MIN = 16  # uneventful rows in a row before they are folded
QUIET_KEEP = 3  # uneventful rows kept at each end of a folded stretch
_ORDINARY_NOTES = ("> say", "* message", "* delivered", "> wait-until")
_VARYING = re.compile(r'"(?:[^"\\]|\\.)*"|#\d+|\d+(?:\.\d+)?')  # texts, datagram numbers, numbers


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a ladder.  kind: send (a daemon's datagram), arrive (a late or altered copy
    reaching its peer), note, unknown, marker, fold (rows left out, see `fold`).
    head: ▶ delivered now, ✗ dropped, ⋯ in flight."""

    t: float
    kind: str
    src: str = ""
    dst: str = ""
    label: str = ""
    head: str = ""
    note: str = ""
    n: int = 0


def _all_rows(events: Sequence[TraceEvent], markers: Sequence[Marker]) -> list[Row]:
    by_n: dict[int, list[TraceEvent]] = {}
    for e in events:
        if e.n:
            by_n.setdefault(e.n, []).append(e)
    rows: list[Row] = []
    for e in events:
        if e.action == NOTE:
            rows.append(Row(e.t, "note", e.src, e.src, note=e.note))
        elif e.action == UNKNOWN:
            rows.append(Row(e.t, "unknown", e.src, e.dst, e.desc, "✗", f"from unknown {e.src}, dropped", e.n))
        elif e.action == RECEIVED:
            rows.append(_send_row(e, by_n.get(e.n, [])))
        elif e.action == FORWARDED and not _plain(e, by_n.get(e.n, [])):
            rows.append(Row(e.t, "arrive", e.src, e.dst, e.desc, "▶", f"#{e.n} {e.note}".strip(), e.n))
    for m in sorted(markers, key=lambda m: m.t):
        at = len(rows)
        while at > 0 and rows[at - 1].t > m.t:
            at -= 1
        rows.insert(at, Row(m.t, "marker", note=m.text))
    return rows


def _plain(forward: TraceEvent, related: list[TraceEvent]) -> bool:
    """A forward untouched by any fault: same time, same bytes, original copy."""
    sent = next((e for e in related if e.action == RECEIVED), None)
    return sent is not None and forward.copy == 0 and not forward.note and forward.data == sent.data


def _send_row(sent: TraceEvent, related: list[TraceEvent]) -> Row:
    fates = [e for e in related if e.action not in (RECEIVED, FORWARDED)]
    if any(e.action == DROPPED for e in fates):
        note = next(e.note for e in fates if e.action == DROPPED)
        return Row(sent.t, "send", sent.src, sent.dst, sent.desc, "✗", f"#{sent.n} dropped: {note}", sent.n)
    on_time = any(e.action == FORWARDED and _plain(e, related) for e in related)
    extra = "; ".join(dict.fromkeys(e.note or e.action for e in fates))
    note = f"#{sent.n}" + (f" {extra}" if extra else "")
    return Row(sent.t, "send", sent.src, sent.dst, sent.desc, "▶" if on_time else "⋯", note, sent.n)


def columns(hosts: Sequence[str], rows: Sequence[Row]) -> list[str]:
    cols = list(hosts)
    for r in rows:
        for h in (r.src, r.dst):
            if h and r.kind in ("send", "arrive", "note") and h not in cols:
                cols.append(h)
        if r.kind == "unknown" and r.dst not in cols:
            cols.append(r.dst)
    return cols


def rows(events: Sequence[TraceEvent], markers: Sequence[Marker] = (), *, fold: bool = True) -> list[Row]:
    """The ladder's rows in time order, markers placed by time; long repeats and long uneventful
    stretches folded."""
    out = _all_rows(events, markers)
    return quiet_folded(folded(out)) if fold else out


def _shape(r: Row) -> tuple[str, ...] | None:
    """What a row looks like once texts, numbers and times are left out; None: never folded."""
    if r.kind in ("marker", "unknown", "fold"):
        return None
    if r.kind == "note":
        return (r.kind, r.src, _VARYING.sub("", r.note))
    return (r.kind, r.src, r.dst, r.label.split(" ")[0], r.head, _VARYING.sub("", r.note))


def _repeats(shapes: list[tuple[str, ...] | None], start: int, size: int) -> int:
    block = shapes[start : start + size]
    if len(block) < size or any(s is None for s in block):
        return 0
    count = 1
    while shapes[start + count * size : start + (count + 1) * size] == block:
        count += 1
    return count


def folded(all_rows: list[Row]) -> list[Row]:
    """`all_rows` with every block repeated FOLD_MIN times or more cut to its first and last
    repeat around one `fold` row (see the module docstring)."""
    shapes = [_shape(r) for r in all_rows]
    out: list[Row] = []
    i = 0
    while i < len(all_rows):
        best_size, best_count = 0, 0
        for size in range(1, FOLD_MAX_BLOCK + 1):
            count = _repeats(shapes, i, size)
            if count >= FOLD_MIN and size * count > best_size * best_count:
                best_size, best_count = size, count
        if not best_size:
            out.append(all_rows[i])
            i += 1
            continue
        end = i + best_size * best_count
        hidden = all_rows[i + best_size : end - best_size]
        out += all_rows[i : i + best_size]
        out.append(_fold_row(hidden, best_size, best_count - 2))
        out += all_rows[end - best_size : end]
        i = end
    return out


def _fold_row(hidden: list[Row], size: int, repeats: int) -> Row:
    numbers = [r.n for r in hidden if r.n]
    span = f", #{min(numbers)}..#{max(numbers)}" if numbers else ""
    block = "row" if size == 1 else f"{size} rows"
    text = f"{repeats} more like the {block} above ({hidden[0].t:.3f}s to {hidden[-1].t:.3f}s{span})"
    return Row(hidden[0].t, "fold", note=text)


def _uneventful(r: Row) -> bool:
    """A datagram delivered at once and untouched, or a step or notice of an ordinary exchange."""
    if r.kind == "send":
        return r.head == "▶" and r.note == f"#{r.n}"
    return r.kind == "note" and r.note.startswith(_ORDINARY_NOTES)


def quiet_folded(all_rows: list[Row]) -> list[Row]:
    """`all_rows` with every stretch of QUIET_MIN or more uneventful rows (see `_uneventful`) cut
    to its first and last QUIET_KEEP rows around one `fold` row that counts what it hides.

    Repeats are folded first (`folded`); this catches what does not repeat exactly, such as 100
    messages pipelined under random loss, where the reader wants the losses and the late copies,
    not every message that went through."""
    out: list[Row] = []
    i = 0
    while i < len(all_rows):
        end = i
        while end < len(all_rows) and _uneventful(all_rows[end]):
            end += 1
        if end - i < QUIET_MIN:
            out += all_rows[i : max(end, i + 1)]
            i = max(end, i + 1)
            continue
        hidden = all_rows[i + QUIET_KEEP : end - QUIET_KEEP]
        numbers = [r.n for r in hidden if r.n]
        datagrams = f"{len(numbers)} datagrams delivered at once (#{min(numbers)}..#{max(numbers)})"
        notes = len(hidden) - len(numbers)
        text = (
            f"{len(hidden)} rows where nothing was lost or late: {datagrams if numbers else 'no datagrams'}, "
            f"{notes} steps and notices ({hidden[0].t:.3f}s to {hidden[-1].t:.3f}s)"
        )
        out += [
            *all_rows[i : i + QUIET_KEEP],
            Row(hidden[0].t, "fold", note=text),
            *all_rows[end - QUIET_KEEP : end],
        ]
        i = end
    return out


# -- text ladder -----------------------------------------------------------------------------

_TIME_W = 10  # "  12.345  "
NOTE_MAX = 160  # characters of a note shown on a text ladder line (a long message text is cut)


def ladder(
    events: Sequence[TraceEvent],
    hosts: Sequence[str] = (),
    markers: Sequence[Marker] = (),
    *,
    width: int | None = None,
    fold: bool = True,
) -> str:
    """A terminal ladder diagram: time on the left, one column per host, one line per datagram
    sent (with its fate), per late or altered arrival, per note, per marker and per fold."""
    shown = rows(events, markers, fold=fold)
    cols = columns(hosts, shown)
    longest = max((len(r.label) for r in shown if r.kind in ("send", "arrive")), default=10)
    gap = width or max(24, min(60, longest + 8))
    first = _TIME_W + max(2, (len(cols[0]) + 1) // 2 if cols else 2)
    xs = {h: first + i * gap for i, h in enumerate(cols)}
    span = first + max(len(cols) - 1, 0) * gap + max((len(h) + 1) // 2 for h in cols or [""]) + 1
    head = list("  time(s)".ljust(span))
    for h, x in xs.items():
        start = x - len(h) // 2
        head[start : start + len(h)] = h
    lines = ["".join(head).rstrip()]
    for r in shown:
        stamp = f"{r.t:{_TIME_W - 2}.3f}  "
        if r.kind == "marker":
            lines.append(f"{stamp}══ ✗ {r.note} ══")
            continue
        line = list(stamp.ljust(span))
        for x in xs.values():
            line[x] = "⋮" if r.kind == "fold" else "│"
        note = r.note
        if r.kind == "fold":
            pass
        elif r.kind == "note":
            line[xs[r.src]] = "●"
            note = f"{r.src}: {r.note}"
        elif r.kind == "unknown":
            line[xs[r.dst]] = "✗"
            note = f"{r.note}: {r.label} to {r.dst}"
        elif r.src == r.dst:
            note = f"{r.label} {r.src} -> itself; {note}"
        else:
            _draw_arrow(line, xs[r.src], xs[r.dst], r)
        if len(note) > NOTE_MAX:
            note = note[: NOTE_MAX - 1] + "…"
        lines.append("".join(line).rstrip() + (f"  {note}" if note else ""))
    return "\n".join(lines) + "\n"


def _draw_arrow(line: list[str], x_src: int, x_dst: int, r: Row) -> None:
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
