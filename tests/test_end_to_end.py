"""End to end: the real daemon.py and client.py processes on their own loopback addresses."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from sim.loopback import new_block
from tests.processes import ROOT, ClientProcess, LoopbackHosts


@pytest.fixture
def net() -> Iterator[_Net]:
    world = _Net(new_block())
    yield world
    world.close()


class _Net(LoopbackHosts):
    def chat(self) -> tuple[ClientProcess, ClientProcess]:
        """alice on host 1 invites bob on host 2, who accepts."""
        self.daemon(1)
        self.daemon(2)
        bob = self.client(2, "bob")
        bob.expect(r"^\* connected")
        bob.send("w")
        bob.expect(r"waiting for an invitation")
        alice = self.client(1, "alice")
        alice.expect(r"^\* connected")
        alice.send("s", self.ip(2))
        bob.expect(rf"^\* invitation from alice at {self.ip(1)}:7777")
        bob.send("y")
        bob.expect(r"^\* chat with alice .* started")
        alice.expect(r"^\* chat with bob .* started")
        return alice, bob


def test_fifty_messages_each_way_interleaved_arrive_once_in_order(net: _Net) -> None:
    alice, bob = net.chat()
    for i in range(50):
        alice.send(f"from alice {i}")
        bob.send(f"from bob {i}")
    for i in range(50):
        bob.expect(rf"^alice: from alice {i}$", timeout=20)
        alice.expect(rf"^bob: from bob {i}$", timeout=20)
    alice.send("q")
    alice.expect(r"^\* chat ended$")
    bob.expect(r"^\* alice left the chat$")
    for c in (alice, bob):
        c.end_input()
        c.expect(r"^\* end of input: bye$")
        assert c.wait() == 0
    for c, me, peer in ((alice, "alice", "bob"), (bob, "bob", "alice")):
        received = [line for line in c.out.lines if line.startswith(f"{peer}: ")]
        assert received == [f"{peer}: from {peer} {i}" for i in range(50)]
        delivered = [line for line in c.out.lines if line.startswith("* delivered: ")]
        assert delivered == [f"* delivered: from {me} {i}" for i in range(50)]


def test_declined_invitation_is_reported_to_the_inviter(net: _Net) -> None:
    net.daemon(1)
    net.daemon(2)
    bob = net.client(2, "bob")
    bob.send("w")
    bob.expect("waiting")
    alice = net.client(1, "alice")
    alice.send("s", net.ip(2))
    bob.expect("invitation from alice")
    bob.send("n")
    bob.expect(r"^\* invitation declined$")
    alice.expect(r"^\* invitation declined$")
    alice.send("q")
    assert alice.wait() == 0


def test_third_daemon_gets_the_busy_answer(net: _Net) -> None:
    alice, bob = net.chat()
    net.daemon(3)
    carol = net.client(3, "carol")
    carol.send("s", net.ip(1))
    carol.expect(r"^\* error from peer: User already in another chat$")
    carol.expect(rf"^\* invitation refused by {net.ip(1)}$")
    alice.send("still here")
    bob.expect(r"^alice: still here$")


@pytest.mark.parametrize("leaver", ["inviter", "invitee"])
def test_either_side_can_quit(net: _Net, leaver: str) -> None:
    alice, bob = net.chat()
    quitter, other, name = (alice, bob, "alice") if leaver == "inviter" else (bob, alice, "bob")
    quitter.send("last words", "q")
    other.expect(r": last words$")
    quitter.expect(r"^\* chat ended$")
    other.expect(rf"^\* {name} left the chat$")
    quitter.send("q")
    assert quitter.wait() == 0


def test_killed_client_is_noticed_and_the_peer_told(net: _Net) -> None:
    alice, bob = net.chat()
    started = time.monotonic()
    alice.kill()
    bob.expect(r"^\* alice left the chat$", timeout=10)
    assert time.monotonic() - started < 5


def test_killed_peer_daemon_reports_undelivered_messages(net: _Net) -> None:
    alice, _bob = net.chat()
    net.procs[1].stop(signal.SIGKILL)  # bob's daemon
    alice.send("into the void", "and again")
    alice.expect(r"^\* peer stopped answering", timeout=10)
    alice.expect(r"^\* not confirmed: into the void$")
    alice.expect(r"^\* undelivered: and again$")


def test_daemon_stopped_by_sigterm_ends_the_chat_with_fin(net: _Net) -> None:
    alice, bob = net.chat()
    assert net.procs[0].stop(signal.SIGTERM) == 0
    bob.expect(r"^\* alice left the chat$")
    net.procs[0].log.expect(r"-> .*  FIN seq=")
    # alice's client never exits without saying why
    alice.expect(r"^\* chat ended: daemon shutting down$")
    alice.expect(r"^\* error: lost the daemon: ")
    alice.expect(r"^\* exiting: the daemon is gone$")
    assert alice.wait() == 1


def test_client_without_daemon_fails_fast_with_a_clear_error(net: _Net) -> None:
    started = time.monotonic()
    c = net.client(9, "nobody")
    c.expect(r"^\* error: no daemon is running at|is not answering", timeout=5)
    assert c.wait() == 1
    assert time.monotonic() - started < 4


def test_second_client_is_refused_while_the_first_stays_connected(net: _Net) -> None:
    net.daemon(1)
    first = net.client(1, "first")
    first.expect("connected")
    second = net.client(1, "second")
    second.expect(r"^\* error: daemon busy: another client is connected$")
    assert second.wait() == 1
    first.send("w")
    first.expect("waiting for an invitation")


@pytest.mark.parametrize("name", ["", "x" * 33, "tab\there", "caf\u00e9"])
def test_invalid_user_name_is_rejected_before_anything_is_sent(net: _Net, name: str) -> None:
    d = net.daemon(1)
    c = net.client(1, name)
    c.expect(r"^\* error: invalid user name")
    assert c.wait() == 2
    assert not any("connected" in line for line in d.log.lines)


def test_non_ascii_and_over_long_messages_are_refused_with_a_notice(net: _Net) -> None:
    alice, bob = net.chat()
    alice.send("gr\u00fc\u00df dich", "x" * 70000, "fine")
    alice.expect(r"^\* error: only ASCII")
    alice.expect(r"^\* error: message too long")
    bob.expect(r"^alice: fine$")


@pytest.mark.parametrize("args, message", [
    (["not-an-ip"], "not an IPv4 address"),
    (["192.0.2.1"], "not on this host"),
    (["127.0.0.1", "--timeout", "0"], "must be positive"),
])
def test_daemon_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "daemon.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=10)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_daemon_port_in_use_exits_2(net: _Net) -> None:
    net.daemon(1)
    done = subprocess.run([sys.executable, "daemon.py", net.ip(1)], cwd=ROOT, capture_output=True, text=True,
                          timeout=10)
    assert done.returncode == 2
    assert "already in use" in done.stderr
