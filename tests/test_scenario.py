"""Scenario files: the schema, the line grammars, and error messages that name file and key."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from sim import faults as F
from sim import scenario as S
from simp import wire

SKETCH = """\
name: lost SYN+ACK is re-sent after one timeout
seed: 7
timeout: 5s
hosts: [alice, bob]
faults:
  - {match: {from: bob, op: SYN+ACK}, nth: 1, drop: true}
steps:
  - bob: wait
  - alice: start bob
  - bob: accept
  - alice: say "hello"
  - alice: quit
expect:
  delivered: {bob: [hello]}
  wire:                                  # ordered subsequence, packetdrill-style times
    - alice > bob SYN
    - bob > alice SYN+ACK dropped
    - bob > alice SYN+ACK at +5s ~0.1s
    - alice > bob ACK
  notices: {bob: [peer left]}
"""


def parse(text: str) -> S.Scenario:
    return S.parse_scenario(textwrap.dedent(text), "case.yaml")


def error(text: str) -> S.ScenarioError:
    with pytest.raises(S.ScenarioError) as info:
        parse(text)
    return info.value


def minimal(**extra: str) -> str:
    """A valid scenario with top-level sections replaced or added (values are YAML text)."""
    parts = {"name": "x", "hosts": "[alice, bob]", "steps": "[{alice: start bob}]", **extra}
    return "".join(f"{k}: {v}\n" for k, v in parts.items())


# -- the whole document


def test_the_issue_sketch_parses_into_dataclasses():
    sc = S.parse_scenario(SKETCH, "sketch.yaml")
    assert sc.name == "lost SYN+ACK is re-sent after one timeout" and sc.source == "sketch.yaml"
    assert sc.seed == 7 and sc.daemon == S.DaemonOptions(timeout=5.0, retries=6, invite_expiry=60.0)
    assert sc.hosts == (S.Host(name="alice", user="alice"), S.Host(name="bob", user="bob"))
    assert sc.faults == (
        F.Rule(name="faults[0]", match=F.Match(src="bob", op="SYN+ACK"), nth=((1, 1),), action=F.Drop()),
    )
    assert [type(s).__name__ for s in sc.steps] == ["Wait", "Start", "Accept", "Say", "Quit"]
    assert sc.steps[1] == S.Start(host="alice", peer="bob", where="steps[1]", source="alice: start bob")
    assert sc.steps[3].text == "hello"
    assert dict(sc.expect.delivered) == {"bob": ("hello",)}
    assert dict(sc.expect.notices) == {"bob": (S.Notice(kind="peer left"),)}
    assert [w.source for w in sc.expect.wire] == [
        "alice > bob SYN",
        "bob > alice SYN+ACK dropped",
        "bob > alice SYN+ACK at +5s ~0.1s",
        "alice > bob ACK",
    ]
    third = sc.expect.wire[2]
    assert (third.at, third.relative, third.tolerance, third.where) == (5.0, True, 0.1, "expect.wire[2]")
    assert sc.known_limit is None and sc.time_limit == S.DEFAULT_TIME_LIMIT
    assert (
        sc.fault_plan()
        .decide(wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob")), "bob", "alice", 0)
        .dropped
    )


def test_scenario_is_frozen():
    sc = S.parse_scenario(SKETCH)
    with pytest.raises(AttributeError):
        sc.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        sc.expect.delivered["bob"] = ()  # type: ignore[index]


def test_daemon_options_known_limit_and_host_options():
    sc = parse(
        minimal(
            timeout="500ms",
            retries="3",
            invite_expiry="2m",
            time_limit="1h",
            known_limit='"a stale ACK acknowledges a lost message"',
            hosts="{alice: {user: Alice Smith}, bob: {daemon: false}, carol: {client: false}, dave: }",
        )
    )
    assert sc.daemon == S.DaemonOptions(timeout=0.5, retries=3, invite_expiry=120.0)
    assert sc.time_limit == 3600.0
    assert sc.known_limit == "a stale ACK acknowledges a lost message"
    assert sc.host("alice").user == "Alice Smith"
    assert not sc.host("bob").daemon and not sc.host("carol").client
    assert sc.host_names == ("alice", "bob", "carol", "dave")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5s", 5.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (3, 3.0),
        (0.25, 0.25),
        ("2", 2.0),
    ],
)
def test_durations(value, seconds):
    assert S.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5 sec", "-1s", "s", True, None, "1e999", [1]])
def test_bad_durations(value):
    with pytest.raises(ValueError, match="duration"):
        S.parse_duration(value)


# -- steps


def test_every_step_form():
    sc = parse(
        minimal(
            steps="""
  - alice: connect
  - alice: connect as "Al Ice"
  - bob: wait
  - alice: start bob
  - bob: accept
  - bob: decline
  - alice: say hello there
  - alice: say "quoted \\"text\\""
  - alice: quit
  - alice: disconnect
  - bob: kill daemon
  - bob: restart daemon
  - bob: start daemon
  - alice: kill client
  - sleep: 2s
  - alice: wait-until peer left
  - bob: wait-until message "hi there" within 30s
"""
        )
    )
    kinds = [type(s).__name__ for s in sc.steps]
    assert kinds == [
        "Connect", "Connect", "Wait", "Start", "Accept", "Decline", "Say", "Say", "Quit", "Disconnect",
        "KillDaemon", "RestartDaemon", "StartDaemon", "KillClient", "Sleep", "WaitUntil", "WaitUntil",
    ]  # fmt: skip
    assert sc.steps[0].user is None and sc.steps[1].user == "Al Ice"
    assert sc.steps[6].text == "hello there" and sc.steps[7].text == 'quoted "text"'
    assert sc.steps[14] == S.Sleep(host=None, seconds=2.0, where="steps[14]", source="sleep 2s")
    assert sc.steps[15].notice == S.Notice(kind="peer left") and sc.steps[15].within == S.DEFAULT_WITHIN
    assert sc.steps[16].notice == S.Notice(kind="message", text="hi there") and sc.steps[16].within == 30.0


@pytest.mark.parametrize(
    ("step", "where", "message"),
    [
        ("{alice: acept}", "steps[0].alice", "did you mean 'accept'?"),
        ("{alcie: wait}", "steps[0]", "unknown host 'alcie' (did you mean 'alice'?)"),
        ("{alice: start carol}", "steps[0].alice", "unknown host 'carol'"),
        ("{alice: start alice}", "steps[0].alice", "another host"),
        ("{alice: wait now}", "steps[0].alice", "takes nothing after it"),
        ("{alice: kill bob}", "steps[0].alice", "what to kill: one of daemon, client"),
        ("{alice: restart client}", "steps[0].alice", "what to restart: one of daemon"),
        ('{alice: say "hi" there}', "steps[0].alice", 'one "quoted text"'),
        ("{alice: say}", "steps[0].alice", "expected say TEXT"),
        ("{alice: wait-until peer gone}", "steps[0].alice", "expected a notice"),
        ("{alice: wait-until peer left within soon}", "steps[0].alice", "duration"),
        ("{alice: wait, bob: wait}", "steps[0]", "one 'HOST: command'"),
        ("{sleep: forever}", "steps[0].sleep", "duration"),
        ("{alice: }", "steps[0].alice", "non-empty text"),
    ],
)
def test_step_errors_name_the_step(step, where, message):
    err = error(minimal(steps=f"[{step}]"))
    assert err.where == where and message in err.message and err.line == 3
    assert str(err).startswith(f"case.yaml:3: {where}: ")


# -- notices


@pytest.mark.parametrize(
    ("text", "notice"),
    [
        ("peer left", S.Notice(kind="peer left")),
        ("chat started", S.Notice(kind="chat started")),
        ('error "User already in another chat"', S.Notice(kind="error", text="User already in another chat")),
        ('invitation "alice"', S.Notice(kind="invitation", text="alice")),
        ("invitation", S.Notice(kind="invitation")),
        ("peer stopped answering", S.Notice(kind="peer stopped answering")),
    ],
)
def test_notice_grammar(text, notice):
    assert S.parse_notice(text) == notice


def test_notice_errors():
    with pytest.raises(ValueError, match="takes no text"):
        S.parse_notice('peer left "now"')
    with pytest.raises(ValueError, match="did you mean 'declined'"):
        S.parse_notice("declined!")
    with pytest.raises(ValueError, match="quoted text"):
        S.parse_notice("error busy")


def test_notices_with_undelivered_lists():
    sc = parse(minimal(expect="{notices: {alice: [chat started, {peer stopped answering: [one, two]}]}}"))
    assert sc.expect.notices["alice"] == (
        S.Notice(kind="chat started"),
        S.Notice(kind="peer stopped answering", undelivered=("one", "two")),
    )
    err = error(minimal(expect="{notices: {alice: [{message: [x]}]}}"))
    assert err.where == "expect.notices.alice[0]" and "chat-end notice" in err.message


# -- wire lines


def test_wire_line_grammar():
    hosts = ["alice", "bob"]
    line = S.parse_wire_line('alice > bob CHAT seq=1 "hi there" forwarded at 12s ~0.5s', hosts)
    assert (line.src, line.dst, line.label, line.seq, line.text, line.dropped) == (
        "alice", "bob", "CHAT", 1, "hi there", False,
    )  # fmt: skip
    assert (line.at, line.relative, line.tolerance) == (12.0, False, 0.5)
    assert S.parse_wire_line("* > bob *", hosts).label == "*"
    assert S.parse_wire_line("bob > alice syn+ack", hosts).label == "SYN+ACK"
    assert S.parse_wire_line("bob > alice FIN at +5s", hosts).tolerance == S.DEFAULT_TOLERANCE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice bob SYN", "SRC > DST LABEL"),
        ("alice > bob SYNACK", "did you mean 'SYN+ACK'?"),
        ("alice > eve SYN", "unknown host 'eve'"),
        ('alice > bob SYN "x"', "only CHAT and ERR"),
        ("alice > bob SYN seq=2", "seq=0 or seq=1"),
        ("alice > bob SYN at", "expected a time"),
        ("alice > bob SYN ~1s", "must follow 'at TIME'"),
        ("alice > bob SYN droped", "did you mean 'dropped'?"),
        ("alice > bob SYN dropped dropped", "given twice"),
        ('alice > bob CHAT "unterminated', "unbalanced"),
    ],
)
def test_wire_line_errors(text, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+").replace("?", r"\?")):
        S.parse_wire_line(text, ["alice", "bob"])


def test_wire_line_matching_ignores_time():
    syn_ack = wire.control(wire.Op.SYN_ACK, 0, "bob")
    line = S.parse_wire_line("bob > alice SYN+ACK dropped at +5s", ["alice", "bob"])
    assert line.matches("bob", "alice", syn_ack, dropped=True)
    assert not line.matches("bob", "alice", syn_ack, dropped=False)
    assert not line.matches("alice", "bob", syn_ack, dropped=True)
    chat = S.parse_wire_line('alice > bob CHAT "hi"', ["alice", "bob"])
    assert chat.matches("alice", "bob", wire.chat(1, "alice", "hi"), dropped=False)
    assert not chat.matches("alice", "bob", wire.chat(1, "alice", "hi!"), dropped=False)
    assert not chat.matches("alice", "bob", None, dropped=False)
    assert S.parse_wire_line("* > * *", ["alice"]).matches("alice", "bob", None, dropped=False)


def test_wire_line_times():
    rel = S.parse_wire_line("bob > alice SYN+ACK at +5s ~0.1s", ["alice", "bob"])
    assert rel.expected_time(previous=2.0) == 7.0
    assert rel.time_ok(7.1, 2.0) and not rel.time_ok(7.2, 2.0)
    absolute = S.parse_wire_line("bob > alice SYN+ACK at 12s", ["alice", "bob"])
    assert absolute.expected_time(previous=2.0) == 12.0 and absolute.time_ok(12.005, 2.0)
    assert S.parse_wire_line("bob > alice ACK", ["alice", "bob"]).time_ok(99.0, 0.0)


# -- other expectations


def test_count_final_and_malformed_expectations():
    sc = parse(
        minimal(
            expect="""
  count: {alice > bob SYN: 3, bob > alice CHAT: 2-4, alice > bob FIN: ">=1", bob > alice ACK: "<=2"}
  final: {alice: free, bob: down}
  malformed: {bob: 2}
"""
        )
    )
    counts = {c.line.source: (c.low, c.high) for c in sc.expect.count}
    assert counts == {
        "alice > bob SYN": (3, 3),
        "bob > alice CHAT": (2, 4),
        "alice > bob FIN": (1, None),
        "bob > alice ACK": (0, 2),
    }
    assert sc.expect.count[0].line.where == 'expect.count["alice > bob SYN"]'
    assert sc.expect.count[1].ok(4) and not sc.expect.count[1].ok(5) and sc.expect.count[2].ok(100)
    assert dict(sc.expect.final) == {"alice": "free", "bob": "down"}
    assert dict(sc.expect.malformed) == {"bob": 2}


@pytest.mark.parametrize(
    ("expect", "where", "message"),
    [
        ("{delivered: {bob: [hi]}, delivred: {}}", "expect.delivred", "did you mean 'delivered'?"),
        ("{delivered: {bbo: [hi]}}", "expect.delivered.bbo", "did you mean 'bob'?"),
        ("{delivered: {bob: hi}}", "expect.delivered.bob", "expected a list"),
        ("{delivered: {bob: [42]}}", "expect.delivered.bob[0]", "expected text"),
        ("{final: {bob: idle}}", "expect.final.bob", "a final state"),
        ("{count: {alice > bob SYN at 5s: 1}}", 'expect.count["alice > bob SYN at 5s"]', "cannot say 'at'"),
        ("{count: {alice > bob SYN: many}}", 'expect.count["alice > bob SYN"]', "expected a count"),
        ("{malformed: {bob: -1}}", "expect.malformed.bob", "whole number"),
        ("{wire: [alice > bob SYNN]}", "expect.wire[0]", "did you mean 'SYN'?"),
    ],
)
def test_expectation_errors(expect, where, message):
    err = error(minimal(expect=expect))
    assert err.where == where and message in err.message


# -- faults


def test_every_fault_form():
    sc = parse(
        minimal(
            faults="""
  - {match: {from: alice, to: bob, type: chat, seq: 1, user: alice, text: hi}, drop: true}
  - {match: {op: ack}, nth: "2-4", probability: 0.5, window: {from: 1s, until: 10s}, limit: 2, delay: 300ms}
  - {delay: [100ms, 1s]}
  - {duplicate: 2}
  - {duplicate: {copies: 3, gap: 50ms}}
  - {reorder: true}
  - {reorder: {max_hold: 2s}}
  - {corrupt: {flip: 2}}
  - {corrupt: {truncate: 20}}
  - {corrupt: {field: op, value: 9}}
  - {loss: 0.1}
  - {loss: {p_good_to_bad: 0.1, p_bad_to_good: 0.4, loss_bad: 0.9}}
  - {match: {from: "*"}, nth: [1, 3], drop: true}
"""
        )
    )
    r = sc.faults
    assert r[0].match == F.Match(src="alice", dst="bob", type="chat", seq=1, user="alice", text="hi")
    assert (r[1].match.op, r[1].nth, r[1].probability, r[1].start, r[1].until, r[1].limit) == (
        "ACK", ((2, 4),), 0.5, 1.0, 10.0, 2,
    )  # fmt: skip
    assert [rule.action for rule in r[1:]] == [
        F.Delay(low=0.3),
        F.Delay(low=0.1, high=1.0),
        F.Duplicate(copies=2),
        F.Duplicate(copies=3, gap=0.05),
        F.Reorder(),
        F.Reorder(max_hold=2.0),
        F.Corrupt(flip=2),
        F.Corrupt(truncate=20),
        F.Corrupt(field="op", value=9),
        F.Bernoulli(p=0.1),
        F.GilbertElliott(p_good_to_bad=0.1, p_bad_to_good=0.4, loss_good=0.0, loss_bad=0.9),
        F.Drop(),
    ]
    assert r[12].match == F.Match() and r[12].nth == ((1, 1), (3, 3))
    assert [rule.name for rule in r[:2]] == ["faults[0]", "faults[1]"]


@pytest.mark.parametrize(
    ("rule", "where", "message"),
    [
        ("{match: {from: bob}}", "faults[0]", "exactly one action"),
        ("{drop: true, delay: 1s}", "faults[0]", "exactly one action"),
        ("{drop: false}", "faults[0].drop", "remove the rule"),
        ("{dorp: true}", "faults[0].dorp", "did you mean 'drop'?"),
        ("{match: {form: bob}, drop: true}", "faults[0].match.form", "did you mean 'from'?"),
        ("{match: {from: bobby}, drop: true}", "faults[0].match.from", "did you mean 'bob'?"),
        ("{match: {op: SYNACK}, drop: true}", "faults[0].match.op", "did you mean 'SYN+ACK'?"),
        ("{match: {seq: 2}, drop: true}", "faults[0].match.seq", "from 0 to 1"),
        ("{nth: 0, drop: true}", "faults[0].nth", "count from 1"),
        ("{probability: 1.5, drop: true}", "faults[0].probability", "from 0 to 1"),
        ("{window: {from: 5s, until: 2s}, drop: true}", "faults[0].window", "must come after"),
        ("{limit: 0, drop: true}", "faults[0].limit", "at least 1"),
        ("{delay: [1s, 100ms]}", "faults[0].delay", "low <= high"),
        ("{corrupt: {flip: 1, truncate: 2}}", "faults[0].corrupt", "exactly one of"),
        ("{corrupt: {field: user}}", "faults[0].corrupt.field", "one of type, op, seq, length"),
        ("{corrupt: {flip: 1, value: 3}}", "faults[0].corrupt.value", "goes with 'field'"),
        ("{loss: {p_good_to_bad: 0.1}}", "faults[0].loss", "missing required key 'p_bad_to_good'"),
        ("{reorder: {max_hold: 0s}}", "faults[0].reorder.max_hold", "above zero"),
    ],
)
def test_fault_errors(rule, where, message):
    err = error(minimal(faults=f"[{rule}]"))
    assert err.where == where and message in err.message


# -- document-level errors


@pytest.mark.parametrize(
    ("text", "where", "message", "line"),
    [
        ("name: x\nhosts: [alice]\n", "", "missing required key 'steps'", 1),
        (minimal(steps_="[]"), "steps_", "did you mean 'steps'?", 4),
        (minimal(seed="-1"), "seed", "whole number", 4),
        (minimal(hosts="[alice, alice]"), "hosts[1]", "declared twice", 2),
        (minimal(hosts="[sleep]"), "hosts[0]", "reserved word", 2),
        (minimal(hosts="[1abc]"), "hosts[0]", "host name", 2),
        (minimal(hosts="[]"), "hosts", "at least one host", 2),
        (minimal(hosts="{alice: {user: ''}}"), "hosts.alice.user", "non-empty text", 2),
        (minimal(hosts="{alice: {user: 'caf\u00e9'}}"), "hosts.alice.user", "printable ASCII", 2),
        (minimal(timeout="0s"), "timeout", "above zero", 4),
        ("- just a list\n", "", "expected a mapping", 1),
        ("", "", "expected a mapping", None),
    ],
)
def test_document_errors(text, where, message, line):
    err = error(text)
    assert (err.where, err.line) == (where, line) and message in err.message


def test_duplicate_keys_are_errors():
    err = error("name: x\nname: y\nhosts: [a]\nsteps: [{a: wait}]\n")
    assert (err.where, err.line, err.message) == ("name", 2, "key given twice")


def test_yaml_syntax_error_names_the_line():
    err = error("name: x\nhosts: [alice\nsteps: []\n")
    assert err.where == "" and "not valid YAML" in err.message and err.line is not None


def test_error_line_points_into_nested_lists():
    text = "name: x\nhosts: [alice, bob]\nsteps:\n  - alice: wait\n  - bob: wait\n  - bob: accpet\n"
    err = error(text)
    assert str(err) == (
        "case.yaml:6: steps[2].bob: expected a command: one of connect, wait, start, accept, decline, say, "
        "quit, disconnect, kill, restart, wait-until; got 'accpet' (did you mean 'accept'?)"
    )


# -- files


def test_load_scenarios_from_files_and_directories(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.yaml").write_text(minimal(name="b"))
    (tmp_path / "sub" / "a.yml").write_text(minimal(name="a"))
    (tmp_path / "notes.txt").write_text("not a scenario")
    single = tmp_path / "single.yaml"
    single.write_text(SKETCH)
    loaded = S.load_scenarios([tmp_path / "sub", tmp_path / "b.yaml"])
    assert [s.name for s in loaded] == ["a", "b"]
    assert [s.name for s in S.load_scenarios([tmp_path])] == [
        "b",
        "lost SYN+ACK is re-sent after one timeout",
        "a",
    ]
    assert S.load_scenario(single).source == str(single)


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(minimal(seed="lots"))
    with pytest.raises(S.ScenarioError, match=r"bad\.yaml:4: seed: expected a whole number"):
        S.load_scenarios([tmp_path])
    with pytest.raises(S.ScenarioError, match="no such file"):
        S.load_scenarios([tmp_path / "missing.yaml"])


def test_every_yaml_example_in_the_scenario_guide_is_valid():
    """scenarios/README.md is the authors' reference: its examples must parse."""
    guide = (Path(__file__).parent.parent / "scenarios" / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", guide, flags=re.DOTALL)
    assert len(blocks) >= 5
    for block in blocks:
        top = {line.split(":")[0] for line in block.splitlines() if re.match(r"[a-z_]+:", line)}
        filler = {
            k: v for k, v in {"name": "x", "hosts": "[alice, bob]", "steps": "[{alice: start bob}]"}.items()
        }
        text = "".join(f"{k}: {v}\n" for k, v in filler.items() if k not in top) + block
        S.parse_scenario(text, "README.md")
