"""The mutation study's patches (docs/mutants/, RELIABILITY.md) still apply to the tree.

Each patch puts one old bug back into the core so that the explorer can be shown to find it.
The core moves on under them; a patch whose context no longer matches silently drops out of
the study (three did, unnoticed for a session).  So each hunk's old side (context and removed
lines) must occur exactly once in its file: then `git apply` takes it, and at that one place.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PATCHES = sorted((ROOT / "docs" / "mutants").glob("*.patch"))
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")


def hunks(patch: str) -> list[tuple[str, str]]:
    """(file, the hunk's old side as text) for each hunk of a unified diff."""
    found: list[tuple[str, str]] = []
    target, old, inside = "", [], False
    for line in patch.splitlines():
        if line.startswith("--- a/"):
            target, inside = line.removeprefix("--- a/"), False
        elif HUNK.match(line):
            if inside:
                found.append((target, "\n".join(old)))
            old, inside = [], True
        elif inside and line[:1] in (" ", "-"):
            old.append(line[1:])
        elif inside and line == "":
            old.append("")
    if inside:
        found.append((target, "\n".join(old)))
    return found


def test_there_is_a_mutant_for_each_study_row() -> None:
    assert len(PATCHES) >= 13


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.stem)
def test_mutant_applies_at_exactly_one_place(patch: Path) -> None:
    parts = hunks(patch.read_text())
    assert parts, f"{patch.name} has no hunk"
    for target, old in parts:
        text = (ROOT / target).read_text()
        assert text.count(old + "\n") == 1, f"{patch.name}: its {target} hunk no longer matches the tree"
