"""Short, readable descriptions of long lists, for failure reports.

A scenario that sends 100 messages must not fail with two 1,200-character lists side by side:
the reader wants "missing m056..m100 (45)".  `difference` says how an actual list departs from
the expected one (missing, extra, different items, in order), `brief` shows a long list by its
ends.  Both cap every item's length too, so no report line grows with the data.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence

ITEM_MAX = 40  # characters of one message text shown (twice that for a notice)
BRIEF_ENDS = 3  # items shown at each end of a long list
MAX_CHANGES = 6  # change descriptions shown before "and N more changes"


def _item(text: str, limit: int = ITEM_MAX) -> str:
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return json.dumps(shown, ensure_ascii=False)


def _run(items: Sequence[str]) -> str:
    """`"a"`, `"a", "b"`, or `"a".."z" (26)` for runs of more than two."""
    if len(items) <= 2:
        return ", ".join(_item(t) for t in items)
    return f"{_item(items[0])}..{_item(items[-1])} ({len(items)})"


def brief(items: Sequence[str], *, quote: bool = True, sep: str = ", ", ends: int = BRIEF_ENDS) -> str:
    """The list, or its first and last `ends` items around "... N more ..." when it is long.
    `quote`: show items as JSON strings (for message texts); else as they are, shortened."""

    def show(text: str) -> str:
        if quote:
            return _item(text)
        return text if len(text) <= 2 * ITEM_MAX else text[: 2 * ITEM_MAX - 3] + "..."

    if len(items) <= 2 * ends + 1:
        return sep.join(show(t) for t in items)
    head = sep.join(show(t) for t in items[:ends])
    tail = sep.join(show(t) for t in items[-ends:])
    return f"{head}{sep}... {len(items) - 2 * ends} more ...{sep}{tail}"


def difference(expected: Sequence[str], got: Sequence[str]) -> str:
    """How `got` differs from `expected`, e.g. `missing "m056".."m100" (45)` or
    `extra "m005" after "m005"`; "" when they are equal."""
    changes = []
    matcher = difflib.SequenceMatcher(a=list(expected), b=list(got), autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        after = f" after {_item(expected[i1 - 1])}" if i1 > 0 else " at the start"
        if op == "delete":
            changes.append(f"missing {_run(expected[i1:i2])}{after}")
        elif op == "insert":
            changes.append(f"extra {_run(got[j1:j2])}{after}")
        elif op == "replace":
            changes.append(f"{_run(got[j1:j2])} instead of {_run(expected[i1:i2])}{after}")
    if len(changes) > MAX_CHANGES:
        changes = [*changes[:MAX_CHANGES], f"and {len(changes) - MAX_CHANGES} more changes"]
    return "; ".join(changes)
