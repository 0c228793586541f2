"""Scenario files: YAML in, frozen dataclasses out, with strict validation.

This is the only module of the project that imports yaml.  Every mistake in a scenario file is
reported as one `ScenarioError` naming the file, the line, the key path (`steps[3].alice`) and
what was expected, never as a traceback: scenario authors are not expected to read this code.
The format is documented for authors in scenarios/README.md; keep the two in step.

Parsing is pure: it checks names against the declared hosts, turns durations into seconds,
fault rules into `sim.faults.Rule`, step lines into `Step` subclasses and wire lines into
`WireLine`.  Running the steps and checking the expectations is the runner's job.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from sim import faults as F
from simp import wire
from simp.events import EndReason

# -- vocabulary -------------------------------------------------------------------------------

LABELS = (*F.OPS, "*")  # wire line labels; "*" = any datagram
END_NOTICES = tuple(r.text for r in EndReason)  # "peer left", "declined", ...
TEXT_NOTICES = ("invitation", "message", "delivered", "error")  # may carry a quoted text
NOTICE_KINDS = ("chat started", *TEXT_NOTICES, *END_NOTICES)
FINAL_STATES = ("free", "inviting", "invited", "chatting", "down")
RESERVED_HOSTS = ("sleep", "daemon", "client")
MAX_HOSTS = 50
DEFAULT_TOLERANCE = 0.01  # seconds, for `at` without `~`
DEFAULT_WITHIN = 300.0  # seconds, for wait-until without `within`
DEFAULT_TIME_LIMIT = 600.0  # seconds of (virtual) time a whole scenario may take

_HOST_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,15}")
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TOKEN_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class ScenarioError(ValueError):
    """A scenario file is not valid.  `str()` is `FILE:LINE: KEY.PATH: what was expected`."""

    def __init__(self, source: str, where: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.where = where
        self.message = message
        self.line = line
        location = source + (f":{line}" if line else "")
        super().__init__(f"{location}: {where}: {message}" if where else f"{location}: {message}")


# -- result types -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DaemonOptions:
    """The daemon configuration every host of the scenario runs with (seconds, counts)."""

    timeout: float = 5.0
    retries: int = 6
    invite_expiry: float = 60.0


@dataclass(frozen=True, kw_only=True)
class Host:
    """A host: its daemon and its client.  `daemon`/`client`: running / connected at the start."""

    name: str
    user: str
    daemon: bool = True
    client: bool = True


@dataclass(frozen=True, kw_only=True)
class Notice:
    """Something a host's client is told.  `kind` is one of NOTICE_KINDS; `text` the quoted
    detail (inviter's user name, message text, error text); `undelivered` the messages a chat
    end reported as not delivered (None: not checked)."""

    kind: str
    text: str | None = None
    undelivered: tuple[str, ...] | None = None

    def describe(self) -> str:
        out = self.kind + ("" if self.text is None else f" {json.dumps(self.text)}")
        if self.undelivered is not None:
            out += " (undelivered: " + ", ".join(json.dumps(t) for t in self.undelivered) + ")"
        return out


@dataclass(frozen=True, kw_only=True)
class Step:
    """One scenario step.  `host` is None for steps of the whole scenario (sleep); `where` is
    the key path (`steps[3]`) and `source` the line as written, for reports and ladders."""

    host: str | None
    where: str = ""
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class Connect(Step):
    user: str | None = None  # None: the host's configured user name


@dataclass(frozen=True, kw_only=True)
class Wait(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Start(Step):
    peer: str


@dataclass(frozen=True, kw_only=True)
class Accept(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Decline(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Say(Step):
    text: str


@dataclass(frozen=True, kw_only=True)
class Quit(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Disconnect(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class StartDaemon(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class KillDaemon(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class RestartDaemon(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class KillClient(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Sleep(Step):
    seconds: float


@dataclass(frozen=True, kw_only=True)
class WaitUntil(Step):
    notice: Notice
    within: float = DEFAULT_WITHIN


@dataclass(frozen=True, kw_only=True)
class WireLine:
    """One expected datagram as a daemon sent it, e.g. `bob > alice SYN+ACK at +5s ~0.1s`.

    `src`/`dst` are host names or "*"; `label` one of LABELS; `seq`/`text` None when not given;
    `dropped` True/False when the line says `dropped`/`forwarded`, None when it says neither.
    `at` is the expected time: since the previous matched line when `relative`, else since the
    scenario start; `tolerance` is the allowed difference either way.
    """

    src: str
    dst: str
    label: str
    seq: int | None = None
    text: str | None = None
    dropped: bool | None = None
    at: float | None = None
    relative: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    where: str = ""
    source: str = ""

    def matches(self, src: str, dst: str, datagram: wire.Datagram | None, dropped: bool) -> bool:
        """Whether one sent datagram fits this line, ignoring time.  `datagram` is None when the
        bytes were malformed; only a `*` line can match those."""
        if self.src not in ("*", src) or self.dst not in ("*", dst):
            return False
        if self.dropped is not None and self.dropped != dropped:
            return False
        if datagram is None:
            return self.label == "*" and self.seq is None and self.text is None
        return (
            self.label in ("*", datagram.label)
            and (self.seq is None or self.seq == datagram.seq)
            and (self.text is None or self.text == datagram.payload)
        )

    def expected_time(self, previous: float) -> float | None:
        """When the datagram is due, given the time of the previous matched line (0 if none)."""
        if self.at is None:
            return None
        return previous + self.at if self.relative else self.at

    def time_ok(self, t: float, previous: float) -> bool:
        due = self.expected_time(previous)
        return due is None or abs(t - due) <= self.tolerance + 1e-9


@dataclass(frozen=True, kw_only=True)
class CountExpect:
    """`count: {alice > bob SYN: 3}`: datagrams matching `line` number from `low` to `high`."""

    line: WireLine
    low: int
    high: int | None  # None: no upper bound

    def ok(self, n: int) -> bool:
        return self.low <= n and (self.high is None or n <= self.high)

    def describe(self) -> str:
        if self.high == self.low:
            return str(self.low)
        return f">={self.low}" if self.high is None else f"{self.low}-{self.high}"


def _frozen_map(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True, kw_only=True)
class Expect:
    """What must hold when the steps are done; an empty field is not checked.

    delivered: per host, the exact list of messages its client received, in order.
    notices:   per host, notices that must appear in this order (others may come between).
    wire:      datagrams that must appear in this order (others may come between).
    count:     how many sent datagrams match each pattern.
    final:     per host, its state at the end (FINAL_STATES).
    malformed: per host, how many malformed datagrams its daemon counted.
    """

    delivered: Mapping[str, tuple[str, ...]] = field(default_factory=_frozen_map)
    notices: Mapping[str, tuple[Notice, ...]] = field(default_factory=_frozen_map)
    wire: tuple[WireLine, ...] = ()
    count: tuple[CountExpect, ...] = ()
    final: Mapping[str, str] = field(default_factory=_frozen_map)
    malformed: Mapping[str, int] = field(default_factory=_frozen_map)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One parsed scenario file.  `source` is the file it came from."""

    name: str
    source: str
    description: str = ""
    seed: int = 0
    daemon: DaemonOptions = field(default_factory=DaemonOptions)
    hosts: tuple[Host, ...]
    faults: tuple[F.Rule, ...] = ()
    steps: tuple[Step, ...]
    expect: Expect = field(default_factory=Expect)
    known_limit: str | None = None
    time_limit: float = DEFAULT_TIME_LIMIT

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def fault_plan(self) -> F.FaultPlan:
        """A fresh FaultPlan for one run of this scenario."""
        return F.FaultPlan(self.faults, self.seed)


# -- small parsers (raise ValueError with a message; the caller adds file and key) -----------


def parse_duration(value: object) -> float:
    """`5s`, `500ms`, `2m`, `1h`, `1.5s` or a plain number of seconds -> seconds (>= 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 5s, 500ms or 2m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.fullmatch(value.strip())):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    elif isinstance(value, str) and _is_number(value):
        seconds = float(value)
    else:
        raise ValueError(f"expected a duration like 5s, 500ms or 2m, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a duration of zero or more, got {value!r}")
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Split a line into (token, was_quoted) pairs; quoted tokens use JSON escapes."""
    out = []
    for m in _TOKEN_RE.finditer(text):
        if m.group(2) is not None:
            if '"' in m.group(2):
                raise ValueError(f"unbalanced double quote in {text!r}")
            out.append((m.group(2), False))
        else:
            try:
                out.append((json.loads(f'"{m.group(1)}"'), True))
            except json.JSONDecodeError:
                raise ValueError(f"bad escape in the quoted text {m.group(0)}") from None
    return out


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(word: str, choices: Sequence[str], what: str) -> str:
    if word in choices:
        return word
    raise ValueError(
        f"expected {what}: one of {', '.join(choices)}; got {word!r}{_did_you_mean(word, choices)}"
    )


def parse_notice(text: str) -> Notice:
    """`peer left`, `error "User already in another chat"`, `message "hi"`, `invitation "bob"`."""
    stripped = text.strip()
    kind = next(
        (
            k
            for k in sorted(NOTICE_KINDS, key=len, reverse=True)
            if stripped == k or stripped.startswith(k + " ")
        ),
        None,
    )
    if kind is None:
        hint = _did_you_mean(stripped.split('"')[0].strip(), NOTICE_KINDS)
        raise ValueError(f"expected a notice: one of {', '.join(NOTICE_KINDS)}; got {text!r}{hint}")
    rest = _tokens(stripped[len(kind) :])
    if not rest:
        return Notice(kind=kind)
    if kind not in TEXT_NOTICES:
        raise ValueError(f"the notice {kind!r} takes no text; got {text!r}")
    if len(rest) != 1 or not rest[0][1]:
        raise ValueError(f'expected {kind} followed by one "quoted text"; got {text!r}')
    return Notice(kind=kind, text=rest[0][0])


def parse_wire_line(text: str, hosts: Sequence[str], *, timed: bool = True) -> WireLine:
    """`SRC > DST LABEL [seq=N] ["text"] [dropped|forwarded] [at [+]TIME [~TOLERANCE]]`."""
    toks = _tokens(text)
    if len(toks) < 4 or toks[1] != (">", False):
        raise ValueError(f"expected 'SRC > DST LABEL ...' (e.g. 'alice > bob SYN'); got {text!r}")
    src, dst = (_host_ref(toks[0][0], hosts), _host_ref(toks[2][0], hosts))
    label = _one_of(toks[3][0].upper() if not toks[3][1] else toks[3][0], LABELS, "a datagram label")
    line: dict[str, Any] = {}
    rest = toks[4:]
    i = 0
    while i < len(rest):
        tok, quoted = rest[i]
        i += 1
        if quoted:
            if label not in ("CHAT", "ERR", "*"):
                raise ValueError(f"only CHAT and ERR datagrams carry a text; {label} does not (in {text!r})")
            _set_once(line, "text", tok, text)
        elif tok.startswith("seq="):
            if tok[4:] not in ("0", "1"):
                raise ValueError(f"expected seq=0 or seq=1; got {tok!r}")
            _set_once(line, "seq", int(tok[4:]), text)
        elif tok in ("dropped", "forwarded"):
            _set_once(line, "dropped", tok == "dropped", text)
        elif tok == "at":
            if not timed:
                raise ValueError(f"a count pattern cannot say 'at'; got {text!r}")
            if i >= len(rest):
                raise ValueError(f"expected a time after 'at' (e.g. 'at +5s' or 'at 12s'); got {text!r}")
            when = rest[i][0]
            i += 1
            _set_once(line, "at", parse_duration(when.lstrip("+")), text)
            line["relative"] = when.startswith("+")
            if i < len(rest) and rest[i][0].startswith("~"):
                line["tolerance"] = parse_duration(rest[i][0][1:])
                i += 1
        elif tok.startswith("~"):
            raise ValueError(f"a tolerance '~...' must follow 'at TIME'; got {text!r}")
        else:
            allowed = ["seq=", "dropped", "forwarded", "at", '"text"']
            raise ValueError(
                f'unexpected {tok!r} in {text!r}; after the label come seq=N, "text", '
                f"dropped or forwarded, and at TIME ~TOLERANCE{_did_you_mean(tok, allowed)}"
            )
    return WireLine(src=src, dst=dst, label=label, source=text.strip(), **line)


def _set_once(line: dict[str, Any], key: str, value: object, text: str) -> None:
    if key in line:
        raise ValueError(f"{key} given twice in {text!r}")
    line[key] = value


def _host_ref(name: str, hosts: Sequence[str]) -> str:
    if name == "*" or name in hosts:
        return name
    raise ValueError(f"unknown host {name!r}{_did_you_mean(name, hosts)}; the hosts are {', '.join(hosts)}")


def _count_range(value: object) -> tuple[int, int | None]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value, value
    if isinstance(value, str):
        v = value.replace(" ", "")
        if v.startswith(">=") and v[2:].isdigit():
            return int(v[2:]), None
        if v.startswith("<=") and v[2:].isdigit():
            return 0, int(v[2:])
        a, _, b = v.partition("-")
        if a.isdigit() and b.isdigit() and int(a) <= int(b):
            return int(a), int(b)
    raise ValueError(f"expected a count: a number, a range like 2-4, or >=N / <=N; got {value!r}")


# -- the document walker ----------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def _fmt(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT_RE.fullmatch(part):
            out += ("." if out else "") + part
        else:
            out += f"[{json.dumps(part)}]"
    return out


class _Doc:
    """The document being checked: where each key path is, and how to complain about it."""

    def __init__(self, source: str, lines: dict[Path_, int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: Path_, message: str) -> NoReturn:
        line = None
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        raise ScenarioError(self.source, _fmt(path), message, line)

    def check(self, path: Path_, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a small parser; turn its ValueError into a ScenarioError at `path`."""
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:
            self.fail(path, str(exc))

    def mapping(
        self, value: object, path: Path_, *, required: Sequence[str] = (), optional: Sequence[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(
                path, f"expected a mapping with keys {', '.join([*required, *optional])}; got {_kind(value)}"
            )
        allowed = [*required, *optional]
        for key in value:
            if not isinstance(key, str):
                self.fail(path, f"keys must be text; got {key!r} (quote it)")
            if key not in allowed:
                self.fail(
                    (*path, key),
                    f"unknown key {key!r}{_did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}",
                )
        for key in required:
            if key not in value:
                self.fail(path, f"missing required key {key!r}")
        return value

    def text(self, value: object, path: Path_, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            self.fail(path, f"expected {'text' if empty else 'non-empty text'}; got {_kind(value)}")
        return value

    def integer(self, value: object, path: Path_, *, low: int = 0, high: int | None = None) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            self.fail(path, f"expected a whole number {bounds}; got {value!r}")
        return value

    def number(self, value: object, path: Path_, *, low: float = 0.0, high: float = 1.0) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            self.fail(path, f"expected a number from {low:g} to {high:g}; got {value!r}")
        return float(value)

    def boolean(self, value: object, path: Path_) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false; got {value!r}")
        return value

    def listing(self, value: object, path: Path_) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"expected a list; got {_kind(value)}")
        return value

    def duration(self, value: object, path: Path_) -> float:
        return self.check(path, parse_duration, value)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _load_yaml(text: str, source: str) -> tuple[object, dict[Path_, int]]:
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
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines, source)
    return data, lines


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], source: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            if key in seen:
                raise ScenarioError(
                    source, _fmt((*path, key)), "key given twice", key_node.start_mark.line + 1
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, source)


# -- the schema ------------------------------------------------------------------------------

_TOP_REQUIRED = ("name", "hosts", "steps")
_TOP_OPTIONAL = (
    "description",
    "seed",
    "timeout",
    "retries",
    "invite_expiry",
    "time_limit",
    "known_limit",
    "faults",
    "expect",
)
_ACTIONS = ("drop", "delay", "duplicate", "reorder", "corrupt", "loss")
_RULE_KEYS = ("match", "nth", "probability", "window", "limit")
_EXPECT_KEYS = ("delivered", "notices", "wire", "count", "final", "malformed")


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse one scenario document; raises ScenarioError for anything invalid."""
    data, lines = _load_yaml(text, source)
    doc = _Doc(source, lines)
    top = doc.mapping(data, (), required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
    hosts = _hosts(doc, top["hosts"])
    names = tuple(h.name for h in hosts)
    daemon = DaemonOptions(
        timeout=_positive(doc, top.get("timeout", 5.0), ("timeout",)),
        retries=doc.integer(top.get("retries", 6), ("retries",), low=0),
        invite_expiry=_positive(doc, top.get("invite_expiry", 60.0), ("invite_expiry",)),
    )
    known = top.get("known_limit")
    return Scenario(
        name=doc.text(top["name"], ("name",)).strip(),
        source=source,
        description=doc.text(top.get("description", ""), ("description",), empty=True).strip(),
        seed=doc.integer(top.get("seed", 0), ("seed",)),
        daemon=daemon,
        hosts=hosts,
        faults=tuple(_faults(doc, top.get("faults", []), names)),
        steps=tuple(_steps(doc, top["steps"], names)),
        expect=_expect(doc, top.get("expect", {}), names),
        known_limit=None if known is None else doc.text(known, ("known_limit",)).strip(),
        time_limit=_positive(doc, top.get("time_limit", DEFAULT_TIME_LIMIT), ("time_limit",)),
    )


def _positive(doc: _Doc, value: object, path: Path_) -> float:
    seconds = doc.duration(value, path)
    if seconds <= 0:
        doc.fail(path, f"expected a duration above zero; got {value!r}")
    return seconds


def _hosts(doc: _Doc, value: object) -> tuple[Host, ...]:
    path: Path_ = ("hosts",)
    if isinstance(value, list):
        items: list[tuple[object, object, Path_]] = [(v, None, (*path, i)) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        items = [(k, v, (*path, k)) for k, v in value.items()]
    else:
        doc.fail(
            path, f"expected a list of host names or a mapping of host name to options; got {_kind(value)}"
        )
    if not items:
        doc.fail(path, "expected at least one host")
    if len(items) > MAX_HOSTS:
        doc.fail(path, f"at most {MAX_HOSTS} hosts fit the address plan; got {len(items)}")
    hosts: list[Host] = []
    for name, options, where in items:
        if not isinstance(name, str) or not _HOST_RE.fullmatch(name):
            doc.fail(
                where, f"expected a host name (a letter, then up to 15 letters, digits, _ or -); got {name!r}"
            )
        if name in RESERVED_HOSTS:
            doc.fail(where, f"{name!r} is a reserved word and cannot name a host")
        if any(h.name == name for h in hosts):
            doc.fail(where, f"host {name!r} is declared twice")
        opts = doc.mapping(options or {}, where, optional=("user", "daemon", "client"))
        user = doc.text(opts.get("user", name), (*where, "user"))
        if (why := wire.valid_user_name(user)) is not None:
            doc.fail((*where, "user"), f"{why}; got {user!r}")
        hosts.append(
            Host(
                name=name,
                user=user,
                daemon=doc.boolean(opts.get("daemon", True), (*where, "daemon")),
                client=doc.boolean(opts.get("client", True), (*where, "client")),
            )
        )
    return tuple(hosts)


# -- faults

_MATCH_KEYS = ("from", "to", "type", "op", "seq", "user", "text")


def _faults(doc: _Doc, value: object, hosts: Sequence[str]) -> list[F.Rule]:
    rules = []
    for i, item in enumerate(doc.listing(value, ("faults",))):
        path: Path_ = ("faults", i)
        rule = doc.mapping(item, path, optional=(*_RULE_KEYS, *_ACTIONS))
        actions = [k for k in _ACTIONS if k in rule]
        if len(actions) != 1:
            doc.fail(path, f"expected exactly one action ({', '.join(_ACTIONS)}); got {len(actions)}")
        window = doc.mapping(rule.get("window", {}), (*path, "window"), optional=("from", "until"))
        start = doc.duration(window["from"], (*path, "window", "from")) if "from" in window else None
        until = doc.duration(window["until"], (*path, "window", "until")) if "until" in window else None
        if start is not None and until is not None and until <= start:
            doc.fail((*path, "window"), f"'until' ({until:g}s) must come after 'from' ({start:g}s)")
        rules.append(
            F.Rule(
                name=f"faults[{i}]",
                action=_action(doc, actions[0], rule[actions[0]], (*path, actions[0])),
                match=_match(doc, rule.get("match", {}), (*path, "match"), hosts),
                nth=doc.check((*path, "nth"), F.parse_nth, rule["nth"]) if "nth" in rule else (),
                probability=doc.number(rule.get("probability", 1.0), (*path, "probability")),
                start=start,
                until=until,
                limit=doc.integer(rule["limit"], (*path, "limit"), low=1) if "limit" in rule else None,
            )
        )
    return rules


def _match(doc: _Doc, value: object, path: Path_, hosts: Sequence[str]) -> F.Match:
    m = doc.mapping(value, path, optional=_MATCH_KEYS)
    out: dict[str, Any] = {}
    for key, attr in (("from", "src"), ("to", "dst")):
        if key in m:
            out[attr] = doc.check((*path, key), _host_ref, doc.text(m[key], (*path, key)), hosts)
            if out[attr] == "*":
                del out[attr]
    if "type" in m:
        out["type"] = doc.check(
            (*path, "type"), _one_of, doc.text(m["type"], (*path, "type")), F.TYPES, "a type"
        )
    if "op" in m:
        out["op"] = doc.check((*path, "op"), _one_of, str(m["op"]).upper(), F.OPS, "an operation")
    if "seq" in m:
        out["seq"] = doc.integer(m["seq"], (*path, "seq"), high=1)
    if "user" in m:
        out["user"] = doc.text(m["user"], (*path, "user"))
    if "text" in m:
        out["text"] = doc.text(m["text"], (*path, "text"), empty=True)
    return F.Match(**out)


def _action(doc: _Doc, kind: str, value: object, path: Path_) -> F.Action:
    if kind == "drop":
        if value is not True:
            doc.fail(path, f"expected 'drop: true' (remove the rule to not drop); got {value!r}")
        return F.Drop()
    if kind == "delay":
        if isinstance(value, list):
            if len(value) != 2:
                doc.fail(path, f"expected a duration or [low, high]; got a list of {len(value)}")
            low, high = doc.duration(value[0], (*path, 0)), doc.duration(value[1], (*path, 1))
            if high < low:
                doc.fail(path, f"expected [low, high] with low <= high; got {value!r}")
            return F.Delay(low=low, high=high)
        return F.Delay(low=doc.duration(value, path))
    if kind == "duplicate":
        if isinstance(value, dict):
            d = doc.mapping(value, path, optional=("copies", "gap"))
            return F.Duplicate(
                copies=doc.integer(d.get("copies", 1), (*path, "copies"), low=1),
                gap=doc.duration(d.get("gap", 0), (*path, "gap")),
            )
        if value is True:
            return F.Duplicate()
        return F.Duplicate(copies=doc.integer(value, path, low=1))
    if kind == "reorder":
        if value is True:
            return F.Reorder()
        r = doc.mapping(value, path, required=("max_hold",))
        return F.Reorder(max_hold=_positive(doc, r["max_hold"], (*path, "max_hold")))
    if kind == "corrupt":
        c = doc.mapping(value, path, optional=("flip", "truncate", "field", "value"))
        modes = [k for k in ("flip", "truncate", "field") if k in c]
        if len(modes) != 1:
            doc.fail(path, f"expected exactly one of flip, truncate, field; got {len(modes)}")
        if "value" in c and "field" not in c:
            doc.fail((*path, "value"), "'value' goes with 'field'")
        if "field" in c:
            name = doc.check((*path, "field"), _one_of, str(c["field"]), F.CORRUPT_FIELDS, "a header field")
            high = 0xFFFFFFFF if name == "length" else 0xFF
            val = doc.integer(c["value"], (*path, "value"), high=high) if "value" in c else None
            return F.Corrupt(field=name, value=val)
        if "flip" in c:
            return F.Corrupt(flip=doc.integer(c["flip"], (*path, "flip"), low=1))
        return F.Corrupt(truncate=doc.integer(c["truncate"], (*path, "truncate")))
    # loss
    if isinstance(value, dict):
        g = doc.mapping(
            value, path, required=("p_good_to_bad", "p_bad_to_good"), optional=("loss_good", "loss_bad")
        )
        return F.GilbertElliott(
            p_good_to_bad=doc.number(g["p_good_to_bad"], (*path, "p_good_to_bad")),
            p_bad_to_good=doc.number(g["p_bad_to_good"], (*path, "p_bad_to_good")),
            loss_good=doc.number(g.get("loss_good", 0.0), (*path, "loss_good")),
            loss_bad=doc.number(g.get("loss_bad", 1.0), (*path, "loss_bad")),
        )
    return F.Bernoulli(p=doc.number(value, path))


# -- steps

_COMMANDS = (
    "connect",
    "wait",
    "start",
    "accept",
    "decline",
    "say",
    "quit",
    "disconnect",
    "kill",
    "restart",
    "wait-until",
)
_SIMPLE: dict[str, type[Step]] = {
    "wait": Wait,
    "accept": Accept,
    "decline": Decline,
    "quit": Quit,
    "disconnect": Disconnect,
}
_TARGETED: dict[tuple[str, str], type[Step]] = {
    ("start", "daemon"): StartDaemon,
    ("kill", "daemon"): KillDaemon,
    ("restart", "daemon"): RestartDaemon,
    ("kill", "client"): KillClient,
}


def _steps(doc: _Doc, value: object, hosts: Sequence[str]) -> list[Step]:
    out = []
    items = doc.listing(value, ("steps",))
    if not items:
        doc.fail(("steps",), "expected at least one step")
    for i, item in enumerate(items):
        path: Path_ = ("steps", i)
        if not isinstance(item, dict) or len(item) != 1:
            doc.fail(path, f"expected one 'HOST: command' or 'sleep: DURATION' per step; got {_kind(item)}")
        ((key, command),) = item.items()
        where = _fmt(path)
        if key == "sleep":
            seconds = doc.duration(command, (*path, key))
            out.append(Sleep(host=None, seconds=seconds, where=where, source=f"sleep {command}"))
            continue
        doc.check(path, _host_ref, str(key), hosts)
        if key == "*":
            doc.fail(path, "a step needs one host, not '*'")
        text = doc.text(command, (*path, key))
        out.append(doc.check((*path, key), _step, key, text, hosts, where))
    return out


def _step(host: str, text: str, hosts: Sequence[str], where: str) -> Step:
    verb, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    common = {"host": host, "where": where, "source": f"{host}: {text.strip()}"}
    _one_of(verb, _COMMANDS, "a command")
    if verb in _SIMPLE:
        if rest:
            raise ValueError(f"{verb!r} takes nothing after it; got {text!r}")
        return _SIMPLE[verb](**common)
    if verb in ("kill", "restart") or (verb == "start" and rest == "daemon"):
        targets = [t for (v, t) in _TARGETED if v == verb]
        target = _one_of(rest, targets, f"what to {verb}")
        return _TARGETED[(verb, target)](**common)
    if verb == "start":
        if not rest:
            raise ValueError("expected 'start PEER' (a host name) or 'start daemon'")
        peer = _host_ref(rest, hosts)
        if peer in ("*", host):
            raise ValueError(f"a host starts a chat with another host; got {rest!r}")
        return Start(peer=peer, **common)
    if verb == "connect":
        if not rest:
            return Connect(**common)
        toks = _tokens(rest)
        if len(toks) != 2 or toks[0] != ("as", False):
            raise ValueError(f"expected 'connect' or 'connect as USER'; got {text!r}")
        return Connect(user=toks[1][0], **common)
    if verb == "say":
        return Say(text=_say_text(rest, text), **common)
    # wait-until
    within = DEFAULT_WITHIN
    head, sep, tail = rest.rpartition(" within ")
    if sep and '"' not in tail:
        within = parse_duration(tail)
        rest = head
    if not rest:
        raise ValueError(
            "expected 'wait-until NOTICE [within DURATION]', e.g. 'wait-until peer left within 30s'"
        )
    return WaitUntil(notice=parse_notice(rest), within=within, **common)


def _say_text(rest: str, text: str) -> str:
    if not rest.startswith('"'):
        if not rest:
            raise ValueError('expected say TEXT, e.g. say "hello"')
        return rest
    toks = _tokens(rest)
    if len(toks) != 1 or not toks[0][1]:
        raise ValueError(f'expected one "quoted text" after say; got {text!r}')
    return toks[0][0]


# -- expectations


def _expect(doc: _Doc, value: object, hosts: Sequence[str]) -> Expect:
    path: Path_ = ("expect",)
    e = doc.mapping(value or {}, path, optional=_EXPECT_KEYS)
    delivered = {
        host: tuple(doc.text(t, (*p, j), empty=True) for j, t in enumerate(doc.listing(v, p)))
        for host, v, p in _per_host(doc, e.get("delivered"), (*path, "delivered"), hosts)
    }
    notices = {
        host: tuple(_notice_item(doc, item, (*p, j)) for j, item in enumerate(doc.listing(v, p)))
        for host, v, p in _per_host(doc, e.get("notices"), (*path, "notices"), hosts)
    }
    wire_lines = tuple(
        _wire_item(doc, item, (*path, "wire", i), hosts)
        for i, item in enumerate(doc.listing(e.get("wire", []), (*path, "wire")))
    )
    count_map = doc.mapping(e.get("count", {}), (*path, "count"), optional=_any_key(e.get("count")))
    counts = []
    for key, v in count_map.items():
        p = (*path, "count", key)
        line = doc.check(p, parse_wire_line, key, hosts, timed=False)
        low, high = doc.check(p, _count_range, v)
        counts.append(CountExpect(line=_with_where(line, _fmt(p)), low=low, high=high))
    final = {
        host: doc.check(p, _one_of, doc.text(v, p), FINAL_STATES, "a final state")
        for host, v, p in _per_host(doc, e.get("final"), (*path, "final"), hosts)
    }
    malformed = {
        host: doc.integer(v, p)
        for host, v, p in _per_host(doc, e.get("malformed"), (*path, "malformed"), hosts)
    }
    return Expect(
        delivered=_frozen_map(delivered),
        notices=_frozen_map(notices),
        wire=wire_lines,
        count=tuple(counts),
        final=_frozen_map(final),
        malformed=_frozen_map(malformed),
    )


def _any_key(value: object) -> tuple[str, ...]:
    return tuple(k for k in value if isinstance(k, str)) if isinstance(value, dict) else ()


def _per_host(doc: _Doc, value: object, path: Path_, hosts: Sequence[str]) -> list[tuple[str, object, Path_]]:
    m = doc.mapping(value or {}, path, optional=hosts)
    return [(host, v, (*path, host)) for host, v in m.items()]


def _with_where(line: WireLine, where: str) -> WireLine:
    return WireLine(**{**line.__dict__, "where": where})


def _wire_item(doc: _Doc, item: object, path: Path_, hosts: Sequence[str]) -> WireLine:
    line = doc.check(path, parse_wire_line, doc.text(item, path), hosts)
    return _with_where(line, _fmt(path))


def _notice_item(doc: _Doc, item: object, path: Path_) -> Notice:
    if isinstance(item, dict) and len(item) == 1:
        ((kind, undelivered),) = item.items()
        kind = doc.check(
            path, _one_of, str(kind), END_NOTICES, "a chat-end notice (only those list undelivered)"
        )
        texts = doc.listing(undelivered, (*path, kind))
        return Notice(
            kind=kind,
            undelivered=tuple(doc.text(t, (*path, kind, j), empty=True) for j, t in enumerate(texts)),
        )
    return doc.check(path, parse_notice, doc.text(item, path))


# -- files -----------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and parse one scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(p), "", f"cannot read the file: {exc}") from None
    return parse_scenario(text, str(p))


def load_scenarios(paths: Iterable[str | Path]) -> list[Scenario]:
    """Parse files, and every *.yaml / *.yml under directories (sorted, recursively)."""
    out = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
            out.extend(load_scenario(f) for f in files)
        elif p.exists():
            out.append(load_scenario(p))
        else:
            raise ScenarioError(str(p), "", "no such file or directory")
    return out
