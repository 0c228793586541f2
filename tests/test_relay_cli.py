"""`python -m sim relay`: argument parsing, fault files, and a real chat through it.

The end-to-end test runs two real daemon.py processes, two scripted clients and the relay as a
real process on its own 127.X.Y.0/24 block; every wait is bounded (tests/processes.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim import faults as F
from sim.loopback import new_block
from sim.relay_cli import RelaySetupError, file_rules, flag_rules, parse_delay, parse_host
from tests.processes import ROOT, LoopbackHosts, Output


def test_loopback_host_gets_the_harness_alias() -> None:
    spec = parse_host("alice=127.0.0.1")
    assert spec.real == ("127.0.0.1", 7777)
    assert spec.alias == ("127.0.0.101", 7777)


def test_explicit_alias_and_ports() -> None:
    spec = parse_host("bob=10.200.1.2:7001@10.200.1.1:7002")
    assert (spec.name, spec.real, spec.alias) == ("bob", ("10.200.1.2", 7001), ("10.200.1.1", 7002))


@pytest.mark.parametrize("text, why", [
    ("alice", "NAME=IP"),
    ("alice=localhost", "not an IPv4 address"),
    ("alice=127.0.0.1:99999", "not a port number"),
    ("alice=10.0.0.1", "give the address the relay should bind"),
    ("alice=127.0.0.200", "give the address the relay should bind"),
    ("alice=127.0.0.1@127.0.0.1", "must differ"),
])
def test_bad_hosts_are_explained(text: str, why: str) -> None:
    with pytest.raises(RelaySetupError, match=why):
        parse_host(text)


def test_delay_fixed_and_range() -> None:
    assert parse_delay("200ms") == F.Delay(low=0.2)
    assert parse_delay("50ms..300ms") == F.Delay(low=0.05, high=0.3)
    with pytest.raises(RelaySetupError, match="downwards"):
        parse_delay("300ms..50ms")
    with pytest.raises(RelaySetupError, match="duration"):
        parse_delay("soon")


def test_flag_rules_in_order_with_probabilities() -> None:
    rules = flag_rules(loss=0.2, delay="10ms", duplicate=0.05, reorder=0.02)
    assert [r.name for r in rules] == ["--loss", "--delay", "--duplicate", "--reorder"]
    assert rules[0].action == F.Bernoulli(p=0.2)
    assert (rules[2].probability, rules[3].probability) == (0.05, 0.02)
    assert flag_rules(loss=None, delay=None, duplicate=None, reorder=None) == []
    with pytest.raises(RelaySetupError, match="--loss: expected a probability"):
        flag_rules(loss=1.5, delay=None, duplicate=None, reorder=None)


def test_fault_file_uses_scenario_rules_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("faults:\n  - match: {from: alice, op: CHAT}\n    nth: 1\n    drop: true\n")
    (rule,) = file_rules(path, ["alice", "bob"])
    assert rule.match == F.Match(src="alice", type=None, op="CHAT")
    assert rule.nth == ((1, 1),)
    path.write_text("faults:\n  - match: {from: alice}\n    drop: yes please\n")
    with pytest.raises(RelaySetupError, match=r"f.yaml:3: faults\[0\].drop"):
        file_rules(path, ["alice", "bob"])
    path.write_text("faults:\n  - match: {from: carol}\n    drop: true\n")
    with pytest.raises(RelaySetupError, match="carol"):
        file_rules(path, ["alice", "bob"])
    path.write_text("loss: 0.2\n")
    with pytest.raises(RelaySetupError, match="'faults:' list"):
        file_rules(path, ["alice", "bob"])


@pytest.fixture
def hosts() -> Iterator[LoopbackHosts]:
    world = LoopbackHosts(new_block())
    yield world
    world.close()


def test_chat_through_the_relay_with_a_dropped_message(hosts: LoopbackHosts, tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - match: {from: alice, op: CHAT}\n    nth: 1\n    drop: true\n")
    out = tmp_path / "out"
    hosts.daemon(1)
    hosts.daemon(2)
    relay = subprocess.Popen(
        [sys.executable, "-m", "sim", "relay", f"alice={hosts.ip(1)}", f"bob={hosts.ip(2)}",
         "--faults", str(faults), "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        ladder, notes = Output(relay.stdout), Output(relay.stderr)
        notes.expect(rf"bob: daemon at {hosts.ip(2)}:7777; peers invite {hosts.ip(102)}$")
        notes.expect(r"faults: faults\[0\]: drop")
        bob = hosts.client(2, "bob")
        bob.send("w")
        bob.expect("waiting")
        alice = hosts.client(1, "alice")
        alice.send("s", hosts.ip(102))
        bob.expect(rf"invitation from alice at {hosts.ip(101)}:7777")
        bob.send("y")
        alice.expect("started")
        alice.send("hello through the relay")
        bob.expect("^alice: hello through the relay$")
        alice.send("q")
        bob.expect("alice left the chat")
        # the label may be cut (or carry an extension's prefix): the fates are what is checked
        ladder.expect(r'✗│  #\d+ dropped: faults\[0\]: drop$')
        ladder.expect(r'▶│  #\d+$')
        relay.send_signal(signal.SIGINT)
        assert relay.wait(10) == 0
        notes.expect(r"# \d+ datagrams, dropped 1 in [\d.]+s; wrote .*capture.pcapng")
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait(5)
    events = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    dropped = [e for e in events if e["action"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["desc"].startswith("CHAT seq=0")
    assert b"hello through the relay" in bytes.fromhex(dropped[0]["bytes"])
    assert (out / "capture.pcapng").read_bytes()[:4] == bytes.fromhex("0a0d0d0a")  # pcapng section header
    assert "dropped: faults[0]: drop" in (out / "ladder.txt").read_text()


def test_unusable_arguments_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "sim", "relay", "alice=127.0.0.1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: a relay needs at least two hosts"


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_relay_between_loopback_and_a_namespace(hosts: LoopbackHosts, tmp_path: Path) -> None:
    """alice's daemon on loopback, bob's inside a namespace; each reaches the other's alias."""
    from sim.netns import Namespace

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs: list[subprocess.Popen[str]] = []

    def spawn(argv: list[str], **kw: object) -> subprocess.Popen[str]:
        procs.append(subprocess.Popen(argv, cwd=ROOT, text=True, env=env, **kw))  # type: ignore[call-overload]
        return procs[-1]

    with Namespace() as ns:
        try:
            hosts.daemon(1)
            daemon_argv = [sys.executable, str(ROOT / "daemon.py"), ns.inside, "--timeout", "0.2"]
            bob_daemon = spawn(ns.wrap(daemon_argv), stderr=subprocess.PIPE)
            Output(bob_daemon.stderr).expect("listening on")
            bob = spawn(ns.wrap([sys.executable, str(ROOT / "client.py"), ns.inside, "--user", "bob"]),
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            relay = spawn([sys.executable, "-m", "sim", "relay", f"alice={hosts.ip(1)}@{ns.outside_extra}",
                           f"bob={ns.inside}@{hosts.ip(102)}", "--out", str(tmp_path / "out")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            notes, bob_out = Output(relay.stderr), Output(bob.stdout)
            notes.expect(r"faults: none")
            assert bob.stdin is not None
            bob.stdin.write("w\n")
            bob.stdin.flush()
            bob_out.expect("waiting")
            alice = hosts.client(1, "alice")
            alice.send("s", hosts.ip(102))
            bob_out.expect(rf"invitation from alice at {ns.outside_extra}:7777")
            bob.stdin.write("y\n")
            bob.stdin.flush()
            alice.expect("started")
            alice.send("across the link")
            bob_out.expect("^alice: across the link$")
            alice.send("q")
            bob_out.expect("alice left the chat")
            relay.send_signal(signal.SIGINT)
            assert relay.wait(10) == 0
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
    events = [json.loads(line) for line in (tmp_path / "out" / "trace.jsonl").read_text().splitlines()]
    assert any(b"across the link" in bytes.fromhex(e["bytes"]) and e["action"] == "forwarded" for e in events)
