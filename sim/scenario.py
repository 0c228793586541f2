"""Scenario files: YAML in, frozen dataclasses out, with strict validation.

Every mistake in a scenario file is reported as one `ScenarioError` naming the file, the line,
the key path (`steps[3].alice`) and what was expected, never as a traceback: scenario authors
are not expected to read this code.  The format is documented for authors in
scenarios/README.md; keep the two in step.

The work is split in four modules with one job each:
- `sim.scenario_model`: the vocabulary and the frozen dataclasses (`Scenario`, `Step`, ...);
- `sim.scenario_yaml`: YAML with the line of every key, and the structural checks;
- `sim.scenario_lang`: the one-line mini-languages (durations, steps, wire lines, notices);
- this module: the sections of a scenario file (hosts, faults, steps, expect) assembled into a
  `Scenario`, and loading files and folders.  It re-exports the names of the other three, so
  `from sim.scenario import Scenario, parse_wire_line, ...` keeps working.

Parsing is pure: it checks names against the declared hosts, turns durations into seconds,
fault rules into `sim.faults.Rule`, step lines into `Step` subclasses and wire lines into
`WireLine`.  Running the steps and checking the expectations is the runner's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sim import faults as F
from sim.scenario_lang import (
    did_you_mean,
    host_ref,
    one_of,
    parse_count_range,
    parse_duration,
    parse_notice,
    parse_step,
    parse_wire_line,
)
from sim.scenario_model import (
    DEFAULT_TIME_LIMIT,
    DEFAULT_TOLERANCE,
    DEFAULT_WITHIN,
    END_NOTICES,
    FINAL_STATES,
    LABELS,
    MAX_HOSTS,
    NOTICE_KINDS,
    RESERVED_HOSTS,
    TEXT_NOTICES,
    Accept,
    Connect,
    CountExpect,
    DaemonOptions,
    Decline,
    Disconnect,
    Expect,
    Host,
    KillClient,
    KillDaemon,
    Notice,
    Quit,
    RestartDaemon,
    Say,
    Scenario,
    ScenarioError,
    Sleep,
    Start,
    StartDaemon,
    Step,
    Wait,
    WaitUntil,
    WireLine,
    frozen_map,
)
from sim.scenario_yaml import Document, KeyPath, format_path, kind_of, load_yaml
from simp import dialect, wire

# the public names of the split modules stay importable from here
__all__ = [
    "DEFAULT_TIME_LIMIT",
    "DEFAULT_TOLERANCE",
    "DEFAULT_WITHIN",
    "END_NOTICES",
    "FINAL_STATES",
    "LABELS",
    "MAX_HOSTS",
    "NOTICE_KINDS",
    "RESERVED_HOSTS",
    "TEXT_NOTICES",
    "Accept",
    "Connect",
    "CountExpect",
    "DaemonOptions",
    "Decline",
    "Disconnect",
    "Expect",
    "Host",
    "KillClient",
    "KillDaemon",
    "Notice",
    "Quit",
    "RestartDaemon",
    "Say",
    "Scenario",
    "ScenarioError",
    "Sleep",
    "Start",
    "StartDaemon",
    "Step",
    "Wait",
    "WaitUntil",
    "WireLine",
    "did_you_mean",
    "host_ref",
    "is_scenario_file",
    "load_each",
    "load_scenario",
    "load_scenarios",
    "one_of",
    "parse_count_range",
    "parse_duration",
    "parse_notice",
    "parse_scenario",
    "parse_step",
    "parse_wire_line",
    "scenario_files",
]

_HOST_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,15}")
SUFFIXES = (".yaml", ".yml")
SCHEMA_NAME = "scenario.schema.json"  # the JSON Schema of scenario files, next to sim/scenario.py
_SCENARIO_KEY_RE = re.compile(r"^(hosts|steps)\s*:", re.MULTILINE)
_SNIFF_BYTES = 1 << 20  # a scenario's top-level keys are in its first MiB

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
    "seed_bound",
    "on_step_failure",
    "step_wait",
    "faults",
    "expect",
)
_ACTIONS = ("drop", "delay", "duplicate", "reorder", "corrupt", "loss")
_RULE_KEYS = ("match", "nth", "probability", "window", "limit")
_EXPECT_KEYS = ("delivered", "notices", "wire", "count", "final", "malformed")


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse one scenario document; raises ScenarioError for anything invalid."""
    data, lines = load_yaml(text, source)
    doc = Document(source, lines)
    top = doc.mapping(data, (), required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
    hosts = _hosts(doc, top["hosts"])
    names = tuple(h.name for h in hosts)
    daemon = DaemonOptions(
        timeout=_positive(doc, top.get("timeout", 5.0), ("timeout",)),
        retries=doc.integer(top.get("retries", 6), ("retries",), low=0),
        invite_expiry=_positive(doc, top.get("invite_expiry", 60.0), ("invite_expiry",)),
    )
    known = top.get("known_limit")
    bound = top.get("seed_bound")
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
        seed_bound=None if bound is None else doc.text(bound, ("seed_bound",)).strip(),
        time_limit=_positive(doc, top.get("time_limit", DEFAULT_TIME_LIMIT), ("time_limit",)),
        continue_on_step_failure=doc.check(
            ("on_step_failure",), one_of, str(top.get("on_step_failure", "stop")), ("stop", "continue"),
            "what a failed step does",
        ) == "continue",
        step_wait=_positive(doc, top.get("step_wait", DEFAULT_WITHIN), ("step_wait",)),
    )


def _positive(doc: Document, value: object, path: KeyPath) -> float:
    seconds = doc.duration(value, path)
    if seconds <= 0:
        doc.fail(path, f"expected a duration above zero; got {value!r}")
    return seconds


def _hosts(doc: Document, value: object) -> tuple[Host, ...]:
    path: KeyPath = ("hosts",)
    if isinstance(value, list):
        items: list[tuple[object, object, KeyPath]] = [(v, None, (*path, i)) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        items = [(k, v, (*path, k)) for k, v in value.items()]
    else:
        doc.fail(
            path, f"expected a list of host names or a mapping of host name to options; got {kind_of(value)}"
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
        opts = doc.mapping(options or {}, where, optional=("user", "daemon", "client", "extension",
                                                              "implementation", "peer_dialects"))
        user = doc.text(opts.get("user", name), (*where, "user"))
        if (why := wire.valid_user_name(user)) is not None:
            doc.fail((*where, "user"), f"{why}; got {user!r}")
        hosts.append(
            Host(
                name=name,
                user=user,
                daemon=doc.boolean(opts.get("daemon", True), (*where, "daemon")),
                client=doc.boolean(opts.get("client", True), (*where, "client")),
                extension=doc.boolean(opts.get("extension", True), (*where, "extension")),
                implementation=(doc.text(opts["implementation"], (*where, "implementation"))
                                if "implementation" in opts else None),
                peer_dialects=_peer_dialects(doc, opts.get("peer_dialects", {}), (*where, "peer_dialects")),
            )
        )
    names = [h.name for h in hosts]
    for host in hosts:
        for peer, _ in host.peer_dialects:
            if peer not in names:
                doc.fail(("hosts", host.name, "peer_dialects", peer),
                         f"no host {peer!r} in this scenario{did_you_mean(peer, names)}")
    return tuple(hosts)


def _peer_dialects(doc: Document, value: object, path: KeyPath) -> tuple[tuple[str, str], ...]:
    """host name -> a dialect our daemon is told that host speaks (`daemon.py --peer-dialect`)."""
    if not isinstance(value, dict):
        doc.fail(path, f"expected a mapping of host name to dialect; got {kind_of(value)}")
    pairs = []
    for peer, name in value.items():
        if name not in dialect.CONFIGURABLE:
            doc.fail((*path, peer), f"expected one of {', '.join(dialect.CONFIGURABLE)}; got {name!r}")
        pairs.append((str(peer), name))
    return tuple(pairs)


# -- faults

_MATCH_KEYS = ("from", "to", "type", "op", "seq", "user", "text")


def _faults(doc: Document, value: object, hosts: Sequence[str]) -> list[F.Rule]:
    rules = []
    for i, item in enumerate(doc.listing(value, ("faults",))):
        path: KeyPath = ("faults", i)
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


def _match(doc: Document, value: object, path: KeyPath, hosts: Sequence[str]) -> F.Match:
    m = doc.mapping(value, path, optional=_MATCH_KEYS)
    out: dict[str, Any] = {}
    for key, attr in (("from", "src"), ("to", "dst")):
        if key in m:
            out[attr] = doc.check((*path, key), host_ref, doc.text(m[key], (*path, key)), hosts)
            if out[attr] == "*":
                del out[attr]
    if "type" in m:
        out["type"] = doc.check(
            (*path, "type"), one_of, doc.text(m["type"], (*path, "type")), F.TYPES, "a type"
        )
    if "op" in m:
        out["op"] = doc.check((*path, "op"), one_of, str(m["op"]).upper(), F.OPS, "an operation")
    if "seq" in m:
        out["seq"] = doc.integer(m["seq"], (*path, "seq"), high=1)
    if "user" in m:
        out["user"] = doc.text(m["user"], (*path, "user"))
    if "text" in m:
        out["text"] = doc.text(m["text"], (*path, "text"), empty=True)
    return F.Match(**out)


def _action(doc: Document, kind: str, value: object, path: KeyPath) -> F.Action:
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
            name = doc.check((*path, "field"), one_of, str(c["field"]), F.CORRUPT_FIELDS, "a header field")
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


def _steps(doc: Document, value: object, hosts: Sequence[str]) -> list[Step]:
    out = []
    items = doc.listing(value, ("steps",))
    if not items:
        doc.fail(("steps",), "expected at least one step")
    for i, item in enumerate(items):
        path: KeyPath = ("steps", i)
        if not isinstance(item, dict) or len(item) != 1:
            doc.fail(path, f"expected one 'HOST: command' or 'sleep: DURATION' per step; got {kind_of(item)}")
        ((key, command),) = item.items()
        where = format_path(path)
        if key == "sleep":
            seconds = doc.duration(command, (*path, key))
            out.append(Sleep(host=None, seconds=seconds, where=where, source=f"sleep {command}"))
            continue
        doc.check(path, host_ref, str(key), hosts)
        if key == "*":
            doc.fail(path, "a step needs one host, not '*'")
        text = doc.text(command, (*path, key))
        out.append(doc.check((*path, key), parse_step, key, text, hosts, where))
    return out


# -- expectations


def _expect(doc: Document, value: object, hosts: Sequence[str]) -> Expect:
    path: KeyPath = ("expect",)
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
        low, high = doc.check(p, parse_count_range, v)
        counts.append(CountExpect(line=_with_where(line, format_path(p)), low=low, high=high))
    final = {
        host: doc.check(p, one_of, doc.text(v, p), FINAL_STATES, "a final state")
        for host, v, p in _per_host(doc, e.get("final"), (*path, "final"), hosts)
    }
    malformed = {
        host: doc.integer(v, p)
        for host, v, p in _per_host(doc, e.get("malformed"), (*path, "malformed"), hosts)
    }
    return Expect(
        delivered=frozen_map(delivered),
        notices=frozen_map(notices),
        wire=wire_lines,
        count=tuple(counts),
        final=frozen_map(final),
        malformed=frozen_map(malformed),
    )


def _any_key(value: object) -> tuple[str, ...]:
    return tuple(k for k in value if isinstance(k, str)) if isinstance(value, dict) else ()


def _per_host(
    doc: Document, value: object, path: KeyPath, hosts: Sequence[str]
) -> list[tuple[str, object, KeyPath]]:
    m = doc.mapping(value or {}, path, optional=hosts)
    return [(host, v, (*path, host)) for host, v in m.items()]


def _with_where(line: WireLine, where: str) -> WireLine:
    return WireLine(**{**line.__dict__, "where": where})


def _wire_item(doc: Document, item: object, path: KeyPath, hosts: Sequence[str]) -> WireLine:
    line = doc.check(path, parse_wire_line, doc.text(item, path), hosts)
    return _with_where(line, format_path(path))


def _notice_item(doc: Document, item: object, path: KeyPath) -> Notice:
    if isinstance(item, dict) and len(item) == 1:
        ((kind, undelivered),) = item.items()
        kind = doc.check(
            path, one_of, str(kind), END_NOTICES, "a chat-end notice (only those list undelivered)"
        )
        texts = doc.listing(undelivered, (*path, kind))
        return Notice(
            kind=kind,
            undelivered=tuple(doc.text(t, (*path, kind, j), empty=True) for j, t in enumerate(texts)),
        )
    if isinstance(item, dict):
        doc.fail(path, f"a notice is text, or a one-key mapping {{CHAT-END NOTICE: [undelivered, ...]}}; "
                       f"got a mapping with {len(item)} keys")
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


def is_scenario_file(path: Path) -> bool:
    """Whether a YAML file found in a folder is a scenario: it has a top-level `hosts:` or
    `steps:` key (at the start of a line), or the scenario schema line.

    The rule is deliberately narrow so that other YAML in the same tree (CI workflows, whose
    `steps:` are indented; compose and config files) is left alone, and wide enough that a
    scenario with a mistake in it is still found and reported instead of silently skipped.
    Files named on the command line are always taken as scenarios."""
    if path.suffix not in SUFFIXES or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return False
    return bool(_SCENARIO_KEY_RE.search(head)) or SCHEMA_NAME in head


def scenario_files(paths: Iterable[str | Path]) -> list[Path | ScenarioError]:
    """The files to run: each named file, and the scenario files under each named folder (sorted,
    recursively, see `is_scenario_file`); a path that does not exist is a ScenarioError."""
    out: list[Path | ScenarioError] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if is_scenario_file(f)))
        elif p.exists():
            out.append(p)
        else:
            out.append(ScenarioError(str(p), "", "no such file or directory"))
    return out


def not_scenarios(paths: Iterable[str | Path]) -> list[Path]:
    """YAML files under the named folders that are not taken for scenarios (`is_scenario_file`):
    said, so that a scenario whose `hosts:` and `steps:` are both misspelled is not skipped
    without a word."""
    return sorted(f for p in map(Path, paths) if p.is_dir() for f in p.rglob("*")
                  if f.suffix in SUFFIXES and f.is_file() and not is_scenario_file(f))


def load_each(paths: Iterable[str | Path]) -> list[Scenario | ScenarioError]:
    """Every scenario of `scenario_files(paths)`, parsed; an invalid one is its ScenarioError,
    so that one broken file does not stop the others from running."""
    out: list[Scenario | ScenarioError] = []
    for item in scenario_files(paths):
        if isinstance(item, ScenarioError):
            out.append(item)
            continue
        try:
            out.append(load_scenario(item))
        except ScenarioError as exc:
            out.append(exc)
    return out


def load_scenarios(paths: Iterable[str | Path]) -> list[Scenario]:
    """Like `load_each`, but the first invalid file raises its ScenarioError."""
    out = []
    for item in load_each(paths):
        if isinstance(item, ScenarioError):
            raise item
        out.append(item)
    return out
