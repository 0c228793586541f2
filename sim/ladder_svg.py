"""The ladder as a standalone SVG picture, readable with any number of hosts.

Layout rules, each for a reader's sake:
- a datagram's label sits in the gap next to its sender's lifeline (between the sender and its
  neighbour towards the receiver), shortened to fit that gap with the full text as a tooltip,
  so no label is ever drawn over another host's lifeline;
- notes (steps, notices, fates) go to a column right of the last host, prefixed with the host
  they belong to, and wrap instead of running off the picture; failed expectations are red
  bands across the whole picture, wrapped to its width;
- a legend at the top explains every mark;
- long repeated runs are folded (see sim.ladder), so 50 identical exchanges cost a few rows;
- `timed=True` makes the vertical gaps proportional to the time between rows (rows that share
  an instant still get one row each, so nothing overlaps).
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence

from sim.ladder import Row, columns, rows
from sim.trace import Marker, TraceEvent

CHAR_W = 7.3  # width of one character of the 12 px monospace font, with margin
LINE_H = 15  # height of one line of text
ROW_H = 22  # height of a one-line row
TIME_W = 78  # the time column on the left
NOTE_CHARS = 72  # characters per line in the notes column
TIMED_MAX_GAP = 240.0  # px: the longest gap `timed` draws for one pause (long sleeps are cut)
TIMED_HEIGHT = 1600.0  # px: how tall `timed` makes the whole run, gaps included (at most 40 px/s)

_STYLE = (
    "text{font-family:monospace;font-size:12px}.l{stroke:#999}.a{stroke:#222;fill:none}"
    ".d{stroke:#c00}.late{stroke:#06c;stroke-dasharray:4 3}.m{stroke:#c00;stroke-dasharray:6 3}"
    ".t{fill:#666}.n{fill:#444}.x{fill:#c00}.f{fill:#f4f4f4}.fb{fill:#c00;fill-opacity:.06}"
    ".h{font-weight:bold}.g{font-size:11px;fill:#444}"
)
_DEFS = (
    '<defs><marker id="h" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
    '<path d="M0,0 L8,4 L0,8 z" fill="#222"/></marker>'
    '<marker id="hl" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
    '<path d="M0,0 L8,4 L0,8 z" fill="#06c"/></marker></defs>'
)
_esc = html.escape


def _note_lines(r: Row) -> list[str]:
    if r.kind == "note":
        text = f"{r.src}: {r.note}"
    elif r.kind == "unknown":
        text = f"{r.note}: {r.label} to {r.dst}"
    elif r.kind == "marker":
        return []
    else:
        text = r.note
    return textwrap.wrap(text, NOTE_CHARS, break_long_words=True) if text else []


class _Layout:
    """Where everything goes: host x positions, the notes column, each row's y and height."""

    def __init__(self, shown: list[Row], cols: list[str], timed: bool, top: float) -> None:
        self.top = top
        longest = max((len(r.label) for r in shown if r.kind in ("send", "arrive")), default=12)
        name = max((len(h) for h in cols), default=5)
        self.col_w = max(150.0, min(320.0, (max(longest, name) + 4) * CHAR_W))
        self.xs = {h: TIME_W + self.col_w / 2 + i * self.col_w for i, h in enumerate(cols)}
        self.note_x = TIME_W + len(cols) * self.col_w + 10
        self.width = max(self.note_x + NOTE_CHARS * CHAR_W + 20, LEGEND_W + 20)
        marker_chars = int((self.width - TIME_W - 20) / CHAR_W)
        self.marker_lines = {
            i: textwrap.wrap("✗ " + r.note, marker_chars) for i, r in enumerate(shown) if r.kind == "marker"
        }
        span = max((r.t for r in shown), default=0.0) - min((r.t for r in shown), default=0.0)
        per_second = min(40.0, TIMED_HEIGHT / span) if timed and span > 0 else 0.0
        self.ys: list[float] = []
        self.heights: list[float] = []
        y, previous = top, None
        for i, r in enumerate(shown):
            lines = len(self.marker_lines.get(i, ())) or len(_note_lines(r)) or 1
            height = ROW_H + (lines - 1) * LINE_H
            if per_second and previous is not None:
                y += min((r.t - previous) * per_second, TIMED_MAX_GAP)
            self.ys.append(y + ROW_H / 2)
            self.heights.append(height)
            y += height
            previous = r.t
        self.height = y + 16

    def label_x(self, src: str, dst: str) -> float:
        """The middle of the gap next to the sender, on the receiver's side."""
        step = self.col_w / 2
        return self.xs[src] + (step if self.xs[dst] > self.xs[src] else -step)

    def label_chars(self) -> int:
        return int((self.col_w - 14) / CHAR_W)


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "…"


_LEGEND = (
    ('<line class="a" x1="0" y1="0" x2="26" y2="0" marker-end="url(#h)"/>', "delivered"),
    ('<line class="a late" x1="0" y1="-6" x2="26" y2="4" marker-end="url(#hl)"/>', "late or extra copy"),
    ('<line class="a d" x1="0" y1="0" x2="18" y2="0"/><text class="x" x="22" y="4">✗</text>', "dropped"),
    ('<line class="a late" x1="0" y1="0" x2="26" y2="0"/>', "in flight (its arrival is drawn later)"),
    ('<circle cx="13" cy="0" r="4" fill="#555"/>', "> a step, * a notice"),
    ('<line class="m" x1="0" y1="0" x2="26" y2="0"/>', "failed expectation"),
    ('<text class="t" x="13" y="4" text-anchor="middle">⋮</text>', "rows folded (repeats, or nothing lost)"),
)
LEGEND_W = 560.0  # px: the legend wraps to this width


def _legend(x0: float, y0: float) -> tuple[list[str], float]:
    """Samples of every mark the picture uses, with what each means; and the y below them."""
    out = []
    x, y = x0, y0
    for sample, meaning in _LEGEND:
        width = 40 + len(meaning) * 6.7 + 18
        if x > x0 and x + width > x0 + LEGEND_W:
            x, y = x0, y + 18
        out.append(f'<g transform="translate({x:.0f},{y})">{sample}</g>')
        out.append(f'<text class="g" x="{x + 36:.0f}" y="{y + 4}">{_esc(meaning)}</text>')
        x += width
    return out, y + 18


def svg(
    events: Sequence[TraceEvent],
    hosts: Sequence[str] = (),
    markers: Sequence[Marker] = (),
    *,
    title: str = "",
    fold: bool = True,
    timed: bool = False,
) -> str:
    """A standalone SVG ladder (see the module docstring for the layout rules)."""
    shown = rows(events, markers, fold=fold)
    cols = columns(hosts, shown)
    legend, legend_bottom = _legend(10, 40)
    lay = _Layout(shown, cols, timed, top=legend_bottom + 30)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}">',
        f"<style>{_STYLE}</style>",
        _DEFS,
        f'<rect x="0" y="0" width="{lay.width:.0f}" height="{lay.height:.0f}" fill="#fff"/>',
    ]
    if title:
        out.append(f'<text class="h" x="10" y="18">{_esc(title)}</text>')
    out += legend
    out.append(f'<text class="t" x="{TIME_W - 10}" y="{lay.top - 12}" text-anchor="end">time (s)</text>')
    for h, x in lay.xs.items():
        out.append(f'<text class="h" x="{x:.1f}" y="{lay.top - 12}" text-anchor="middle">{_esc(h)}</text>')
        bottom = lay.height - 8
        out.append(f'<line class="l" x1="{x:.1f}" y1="{lay.top - 6}" x2="{x:.1f}" y2="{bottom:.0f}"/>')
    send_y = {r.n: lay.ys[i] for i, r in enumerate(shown) if r.kind == "send"}
    for i, r in enumerate(shown):
        out += _row(r, i, lay, send_y)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _row(r: Row, i: int, lay: _Layout, send_y: dict[int, float]) -> list[str]:
    y = lay.ys[i]
    out = [f'<text class="t" x="{TIME_W - 10}" y="{y + 4:.1f}" text-anchor="end">{r.t:.3f}</text>']
    if r.kind == "marker":
        top = y - ROW_H / 2 + 2
        out.append(
            f'<rect class="fb" x="{TIME_W - 4}" y="{top:.1f}" width="{lay.width - TIME_W:.0f}" '
            f'height="{lay.heights[i] - 4:.1f}"/>'
        )
        out.append(
            f'<line class="m" x1="{TIME_W - 4}" y1="{top:.1f}" x2="{lay.width - 6:.0f}" y2="{top:.1f}"/>'
        )
        for k, line in enumerate(lay.marker_lines[i]):
            out.append(f'<text class="x" x="{TIME_W + 4}" y="{y + 4 + k * LINE_H:.1f}">{_esc(line)}</text>')
        return out
    for k, line in enumerate(_note_lines(r)):
        out.append(f'<text class="n" x="{lay.note_x:.1f}" y="{y + 4 + k * LINE_H:.1f}">{_esc(line)}</text>')
    if r.kind == "fold":
        top = y - ROW_H / 2 + 2
        out.append(
            f'<rect class="f" x="{TIME_W - 4}" y="{top:.1f}" width="{lay.note_x - TIME_W:.0f}" height="18"/>'
        )
        out += [
            f'<text class="t" x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">⋮</text>'
            for x in lay.xs.values()
        ]
    elif r.kind == "note":
        out.append(f'<circle cx="{lay.xs[r.src]:.1f}" cy="{y:.1f}" r="4" fill="#555"/>')
    elif r.kind == "unknown":
        out.append(f'<text class="x" x="{lay.xs[r.dst]:.1f}" y="{y + 4:.1f}" text-anchor="middle">✗</text>')
    elif r.src != r.dst:
        out += _arrow(r, y, lay, send_y)
    return out


def _arrow(r: Row, y: float, lay: _Layout, send_y: dict[int, float]) -> list[str]:
    x1, x2 = lay.xs[r.src], lay.xs[r.dst]
    y1 = send_y.get(r.n, y) if r.kind == "arrive" else y
    tip = f"<title>{_esc(r.label)}{' — ' + _esc(r.note) if r.note else ''}</title>"
    out = []
    if r.head == "✗":
        end = x1 + (x2 - x1) * 0.7
        out.append(f'<line class="a d" x1="{x1:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}">{tip}</line>')
        out.append(f'<text class="x" x="{end:.1f}" y="{y + 7:.1f}" text-anchor="middle">✗</text>')
    elif r.head == "⋯":
        end = x1 + (x2 - x1) * 0.5
        out.append(
            f'<line class="a late" x1="{x1:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}">{tip}</line>'
        )
    else:
        cls, head = ("a late", "hl") if r.kind == "arrive" else ("a", "h")
        out.append(
            f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y:.1f}" '
            f'marker-end="url(#{head})">{tip}</line>'
        )
    label = _esc(_fit(r.label, lay.label_chars()))
    x = lay.label_x(r.src, r.dst)
    out.append(f'<text x="{x:.1f}" y="{y - 5:.1f}" text-anchor="middle">{label}{tip}</text>')
    return out
