"""The one-line mini-languages of scenario files, each a pure function from text to a value.

- durations: `5s`, `500ms`, `2m`;
- step lines: `alice: start bob`, `bob: wait-until peer left within 30s`;
- wire lines: `bob > alice SYN+ACK dropped at +5s ~0.1s` (also the keys of `count`);
- notices: `error "User already in another chat"`;
- count ranges: `3`, `2-4`, `>=1`.

Each parser raises ValueError with a message that says what was expected (with a "did you mean"
hint for near-misses); the document walker (`sim.scenario_yaml`) adds the file, line and key path.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sim.scenario_model import (
    DEFAULT_WITHIN,
    LABELS,
    NOTICE_KINDS,
    TEXT_NOTICES,
    Accept,
    Connect,
    Decline,
    Disconnect,
    KillClient,
    KillDaemon,
    Notice,
    Quit,
    RestartDaemon,
    Say,
    Start,
    StartDaemon,
    Step,
    Wait,
    WaitUntil,
    WireLine,
)

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TOKEN_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


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


def tokens(text: str) -> list[tuple[str, bool]]:
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


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(word: str, choices: Sequence[str], what: str) -> str:
    if word in choices:
        return word
    raise ValueError(
        f"expected {what}: one of {', '.join(choices)}; got {word!r}{did_you_mean(word, choices)}"
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
        hint = did_you_mean(stripped.split('"')[0].strip(), NOTICE_KINDS)
        raise ValueError(f"expected a notice: one of {', '.join(NOTICE_KINDS)}; got {text!r}{hint}")
    rest = tokens(stripped[len(kind) :])
    if not rest:
        return Notice(kind=kind)
    if kind not in TEXT_NOTICES:
        raise ValueError(f"the notice {kind!r} takes no text; got {text!r}")
    if len(rest) != 1 or not rest[0][1]:
        raise ValueError(f'expected {kind} followed by one "quoted text"; got {text!r}')
    return Notice(kind=kind, text=rest[0][0])


def parse_wire_line(text: str, hosts: Sequence[str], *, timed: bool = True) -> WireLine:
    """`SRC > DST LABEL [seq=N] ["text"] [dropped|forwarded] [at [+]TIME [~TOLERANCE]]`."""
    toks = tokens(text)
    if len(toks) < 4 or toks[1] != (">", False):
        raise ValueError(f"expected 'SRC > DST LABEL ...' (e.g. 'alice > bob SYN'); got {text!r}")
    src, dst = (host_ref(toks[0][0], hosts), host_ref(toks[2][0], hosts))
    label = one_of(toks[3][0].upper() if not toks[3][1] else toks[3][0], LABELS, "a datagram label")
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
                f"dropped or forwarded, and at TIME ~TOLERANCE{did_you_mean(tok, allowed)}"
            )
    return WireLine(src=src, dst=dst, label=label, source=text.strip(), **line)


def _set_once(line: dict[str, Any], key: str, value: object, text: str) -> None:
    if key in line:
        raise ValueError(f"{key} given twice in {text!r}")
    line[key] = value


def host_ref(name: str, hosts: Sequence[str]) -> str:
    if name == "*" or name in hosts:
        return name
    raise ValueError(f"unknown host {name!r}{did_you_mean(name, hosts)}; the hosts are {', '.join(hosts)}")


def parse_count_range(value: object) -> tuple[int, int | None]:
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


# -- step lines

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


def parse_step(host: str, text: str, hosts: Sequence[str], where: str) -> Step:
    verb, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    common = {"host": host, "where": where, "source": f"{host}: {text.strip()}"}
    one_of(verb, _COMMANDS, "a command")
    if verb in _SIMPLE:
        if rest:
            raise ValueError(f"{verb!r} takes nothing after it; got {text!r}")
        return _SIMPLE[verb](**common)
    if verb in ("kill", "restart") or (verb == "start" and rest == "daemon"):
        targets = [t for (v, t) in _TARGETED if v == verb]
        target = one_of(rest, targets, f"what to {verb}")
        return _TARGETED[(verb, target)](**common)
    if verb == "start":
        if not rest:
            raise ValueError("expected 'start PEER' (a host name) or 'start daemon'")
        peer = host_ref(rest, hosts)
        if peer in ("*", host):
            raise ValueError(f"a host starts a chat with another host; got {rest!r}")
        return Start(peer=peer, **common)
    if verb == "connect":
        if not rest:
            return Connect(**common)
        toks = tokens(rest)
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
    toks = tokens(rest)
    if len(toks) != 1 or not toks[0][1]:
        raise ValueError(f'expected one "quoted text" after say; got {text!r}')
    return toks[0][0]
