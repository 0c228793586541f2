"""The YAML side of scenario files: parse with a line for every key path, and check structure.

`load_yaml` parses a document with PyYAML's safe loader, refuses duplicate keys, and remembers
the line of every key path so that `Document.fail(("steps", 3, "alice"), ...)` can report
`FILE:LINE: steps[3].alice: ...`.  `Document`'s checkers (mapping, text, integer, ...) are the
structural validation; the values inside lines are parsed by `sim.scenario_lang`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NoReturn

import yaml

from sim.scenario_lang import did_you_mean, parse_duration
from sim.scenario_model import ScenarioError

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT_RE.fullmatch(part):
            out += ("." if out else "") + part
        else:
            out += f"[{json.dumps(part)}]"
    return out


class Document:
    """The document being checked: where each key path is, and how to complain about it."""

    def __init__(self, source: str, lines: dict[KeyPath, int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: KeyPath, message: str) -> NoReturn:
        line = None
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        raise ScenarioError(self.source, format_path(path), message, line)

    def check(self, path: KeyPath, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a small parser; turn its ValueError into a ScenarioError at `path`."""
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:
            self.fail(path, str(exc))

    def mapping(
        self, value: object, path: KeyPath, *, required: Sequence[str] = (), optional: Sequence[str] = ()
    ) -> dict[str, Any]:
        allowed = [*required, *optional]
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping with keys {', '.join(allowed)}; got {kind_of(value)}")
        for key in value:
            if not isinstance(key, str):
                self.fail(path, f"keys must be text; got {key!r} (quote it)")
            if key not in allowed:
                self.fail(
                    (*path, key),
                    f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}",
                )
        for key in required:
            if key not in value:
                self.fail(path, f"missing required key {key!r}")
        return value

    def text(self, value: object, path: KeyPath, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            self.fail(path, f"expected {'text' if empty else 'non-empty text'}; got {kind_of(value)}")
        return value

    def integer(self, value: object, path: KeyPath, *, low: int = 0, high: int | None = None) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            digits = isinstance(value, str) and value.strip().isdigit()
            quoted = " (text: write it without quotes)" if digits else ""
            self.fail(path, f"expected a whole number {bounds}; got {value!r}{quoted}")
        return value

    def number(self, value: object, path: KeyPath, *, low: float = 0.0, high: float = 1.0) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            self.fail(path, f"expected a number from {low:g} to {high:g}; got {value!r}")
        return float(value)

    def boolean(self, value: object, path: KeyPath) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false; got {value!r}")
        return value

    def listing(self, value: object, path: KeyPath) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"expected a list; got {kind_of(value)}")
        return value

    def duration(self, value: object, path: KeyPath) -> float:
        return self.check(path, parse_duration, value)


def kind_of(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def load_yaml(text: str, source: str) -> tuple[object, dict[KeyPath, int]]:
    """Parse YAML and remember the line of every key path; duplicate keys are errors."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            source, "", f"not valid YAML: {problem}", mark.line + 1 if mark else None
        ) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _walk(node, (), lines, source)
    return data, lines


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            if key in seen:
                raise ScenarioError(
                    source, format_path((*path, key)), "key given twice", key_node.start_mark.line + 1
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, source)
