"""The ladder as a Mermaid `sequenceDiagram`: renders in GitHub and GitLab markdown, no tools needed.

The same rows as the other ladders (sim.ladder), folded the same way, each message prefixed with
its time.  Arrows: `->>` delivered, `-x` dropped, `--)` in flight (it arrives later, as a
dashed `-->>` row of its own), notes over a host for steps (`>`) and notices (`*`), a note over
all hosts for a failed expectation (✗) or folded repeats (⋮).

Mermaid reads `;` and `#` in a message specially, so they are written as its entity codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sim.ladder import Row, columns, rows
from sim.trace import Marker, TraceEvent

_ARROW = {"▶": "->>", "✗": "-x", "⋯": "--)"}
_ID_RE = re.compile(r"[^A-Za-z0-9_]")
_ENTITY = {"#": "#35;", ";": "#59;", "\n": " "}
_SPECIAL = re.compile("[#;\n]")


def _text(text: str) -> str:
    """A message or note as Mermaid reads it literally."""
    return _SPECIAL.sub(lambda m: _ENTITY[m.group(0)], text)


def _ids(cols: Sequence[str]) -> dict[str, str]:
    """A Mermaid-safe participant id per host (an unknown sender is `127.0.0.9:7777`)."""
    out: dict[str, str] = {}
    for i, h in enumerate(cols):
        ident = _ID_RE.sub("_", h)
        out[h] = ident if ident == h and ident not in out.values() else f"h{i}_{ident}"
    return out


def _line(r: Row, ids: dict[str, str], everyone: str) -> str:
    when = f"{r.t:.3f}s"
    if r.kind == "marker":
        return f"    Note over {everyone}: ✗ {_text(r.note)}"
    if r.kind == "fold":
        return f"    Note over {everyone}: ⋮ {_text(r.note)}"
    if r.kind == "note":
        return f"    Note over {ids[r.src]}: {when} {_text(r.note)}"
    if r.kind == "unknown":
        return f"    Note over {ids[r.dst]}: {when} ✗ {_text(r.label)} {_text(r.note)}"
    note = f" ({_text(r.note)})" if r.note else ""
    arrow = "-->>" if r.kind == "arrive" else _ARROW.get(r.head, "->>")
    return f"    {ids[r.src]}{arrow}{ids[r.dst]}: {when} {_text(r.label)}{note}"


def mermaid(
    events: Sequence[TraceEvent],
    hosts: Sequence[str] = (),
    markers: Sequence[Marker] = (),
    *,
    fold: bool = True,
) -> str:
    """The diagram's source text, starting with `sequenceDiagram`."""
    shown = rows(events, markers, fold=fold)
    cols = columns(hosts, shown)
    ids = _ids(cols)
    everyone = f"{ids[cols[0]]},{ids[cols[-1]]}" if len(cols) > 1 else (ids[cols[0]] if cols else "x")
    out = ["sequenceDiagram"]
    out += [
        f"    participant {ids[h]} as {_text(h)}" if ids[h] != h else f"    participant {h}" for h in cols
    ]
    out += [_line(r, ids, everyone) for r in shown]
    return "\n".join(out) + "\n"


def markdown(diagram: str, title: str) -> str:
    """A markdown page with the diagram in a `mermaid` fence (how GitHub and GitLab render it)."""
    return f"# {title}\n\n```mermaid\n{diagram}```\n"
