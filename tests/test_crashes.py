"""Crashes and restarts with real `daemon.py` and `client.py` processes (short timeouts).

- A peer daemon killed mid-chat: the survivor gives up after the configured retries, lists what
  was not delivered, and once the peer daemon is back a new chat between them works.
- A peer daemon restarted mid-chat: the new daemon answers the stale peer's next chat datagram
  with FIN, so the stale side learns at its first message, not after its retries; answers to a
  burst from an address with no chat are rate-limited.
- A client killed mid-chat: the peer is told within a few seconds, and the daemon serves a new
  client that can chat; a client that is merely idle is not taken for a killed one.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from sim.clock import run_virtual
from sim.loopback import new_block
from simp import control as ctl
from simp.client import Client
from simp.daemon import Daemon
from tests.processes import FAST, ClientProcess, DaemonProcess, LoopbackHosts
from tests.test_fuzz import Proxy, daemon_config

# these tests use the README's default client timeout of 3 s, so that only what they are about can
# end a chat
LIVE = ("--client-timeout", "3")
SLOW = ("--timeout", "3", *LIVE)  # a retransmission timeout no machine noise reaches in these tests
CHAT, CONTROL, ACK, FIN = 2, 1, 4, 8


class Hosts(LoopbackHosts):
    """Clients here are always connected before the test goes on."""

    def client(self, host: int, user: str | None, *extra: str) -> ClientProcess:
        client = super().client(host, user, *extra)
        client.expect(r"^\* connected")
        return client

    def chat(self, alice: ClientProcess, bob: ClientProcess, *, bob_waits: bool = True) -> None:
        """alice (host 1) invites bob (host 2), who accepts; a message goes each way."""
        if bob_waits:
            bob.send("w")
            bob.expect(r"waiting for an invitation")
        alice.send("s", self.ip(2))
        bob.expect(rf"^\* invitation from alice at {re.escape(self.ip(1))}:7777")
        bob.send("y")
        bob.expect(r"^\* chat with alice .* started")
        alice.expect(r"^\* chat with bob .* started")
        alice.send("hello bob")
        bob.expect(r"^alice: hello bob$")
        bob.send("hello alice")
        alice.expect(r"^bob: hello alice$")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    world = Hosts(new_block())
    yield world
    world.close()


def log_through(daemon: DaemonProcess, pattern: str) -> list[str]:
    """The daemon's log up to the next line matching `pattern` (a later event, so that what came
    before it is all there)."""
    daemon.log.expect(pattern)
    return list(daemon.log.lines)


def sent(lines: list[str], what: str, to: str) -> list[str]:
    """The lines of a daemon's debug log for datagrams it sent to `to` that contain `what`."""
    return [line for line in lines if f"-> {to}:7777  {what}" in line]


def status(ip: str) -> dict[str, str]:
    """A daemon's Status reply (its counters), over 7778 as its client (Connect first: anyone else
    is told the state only); the daemon must have no other client."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        for ident in range(1, 21, 2):
            sock.sendto(ctl.encode(ctl.Connect(ident=ident, user="monitor")), (ip, 7778))
            sock.sendto(ctl.encode(ctl.Status(ident=ident + 1)), (ip, 7778))
            try:
                replies = [ctl.decode(sock.recv(65535)) for _ in range(2)]
            except TimeoutError:
                continue
            for reply in replies:
                if isinstance(reply, ctl.Reply) and reply.ident == ident + 1:
                    sock.sendto(ctl.encode(ctl.Disconnect(ident=ident + 2)), (ip, 7778))
                    return dict(item.partition("=")[::2] for item in reply.text.split())
    raise AssertionError(f"the daemon at {ip} did not answer Status within 5s")


def datagram(kind: int, op: int, seq: int, user: str, text: str = "") -> bytes:
    payload = text.encode("ascii")
    return bytes([kind, op, seq]) + user.encode().ljust(32, b"\0") + struct.pack("!I", len(payload)) + payload


def test_peer_daemon_killed_mid_chat_survivor_gives_up_listing_undelivered_then_a_new_chat_works(
        hosts: Hosts) -> None:
    alice_daemon, bob_daemon = hosts.daemon(1, *LIVE), hosts.daemon(2, *LIVE)
    alice, bob = hosts.client(1, "alice"), hosts.client(2, "bob")
    hosts.chat(alice, bob)
    bob_daemon.stop(signal.SIGKILL)
    alice.send("into the void", "and again")
    alice.expect(r"^\* peer stopped answering: chat with bob ended$", timeout=10)
    alice.expect(r"^\* not confirmed: into the void$")
    alice.expect(r"^\* undelivered: and again$")
    bob.expect(r"^\* error: lost the daemon", timeout=10)  # bob's client noticed its daemon is gone
    assert bob.wait() == 1

    hosts.daemon(2, *LIVE)  # bob's daemon again, and bob again
    bob = hosts.client(2, "bob")
    hosts.chat(alice, bob)
    alice.send("after the restart")
    bob.expect(r"^alice: after the restart$")
    # SPEC: the first send and `--retries 3` re-sends, then give up; the queued message never went out
    log = log_through(alice_daemon, r'CHAT seq=1 "after the restart"')
    assert len(sent(log, 'CHAT seq=1 "into the void"', hosts.ip(2))) == 4
    assert sent(log, 'CHAT seq=0 "and again"', hosts.ip(2)) == []


def test_peer_daemon_restarted_mid_chat_answers_fin_so_the_stale_peer_learns_at_its_next_message(
        hosts: Hosts) -> None:
    alice_daemon = hosts.daemon(1, *SLOW)
    old_bob_daemon = hosts.daemon(2, *SLOW)
    alice, bob = hosts.client(1, "alice"), hosts.client(2, "bob")
    hosts.chat(alice, bob)
    old_bob_daemon.stop(signal.SIGKILL)
    bob.kill()
    bob_daemon = hosts.daemon(2, *SLOW)  # knows nothing of the chat

    alice.send("are you there?")
    alice.expect(r"^\* bob left the chat$", timeout=10)
    alice.expect(r"^\* not confirmed: are you there\?$")
    bob_daemon.log.expect(rf"-> {re.escape(hosts.ip(1))}:7777  FIN seq=0")
    bob_daemon.log.expect(rf"^.*alice@{re.escape(hosts.ip(1))}:7777 -> .*  ACK seq=0")  # alice's answer
    # learned from the first datagram: no re-send was needed (the timeout is 3 s)
    log = log_through(alice_daemon, rf"@{re.escape(hosts.ip(2))}:7777 -> alice  FIN seq=0")
    assert len(sent(log, 'CHAT seq=1 "are you there?"', hosts.ip(2))) == 1

    # the answers are rate-limited: a burst of 20 chat datagrams from one address, and one of 20
    # ACKs from another, get one FIN each
    before = status(hosts.ip(2))
    bursts = {7: [datagram(CHAT, 1, i % 2, "stale", f"message {i}") for i in range(20)],
              8: [datagram(CONTROL, ACK, i % 2, "stale") for i in range(20)]}
    socks = []
    try:
        for host, burst in bursts.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.bind((hosts.ip(host), 7777))
            sock.settimeout(5)
            for data in burst:
                sock.sendto(data, (hosts.ip(2), 7777))
        for sock in socks:
            assert sock.recv(65535) == datagram(CONTROL, FIN, 0, "")
        after = status(hosts.ip(2))
        deadline = time.monotonic() + 5
        while int(after["received"]) - int(before["received"]) < 40 and time.monotonic() < deadline:
            after = status(hosts.ip(2))
        assert int(after["received"]) - int(before["received"]) == 40
        assert int(after["stranger_answers"]) - int(before["stranger_answers"]) == 2  # one FIN per source
        held_back = [int(c.get("stranger_answers_suppressed", 0)) for c in (before, after)]
        # the other chat datagrams were held back; ACKs right after our own FIN are not answered at all
        assert held_back[1] - held_back[0] == 19
    finally:
        for sock in socks:
            sock.close()
    # and alice's ACK of bob's FIN was not answered again: no ping-pong between the daemons
    log = log_through(bob_daemon, rf"-> {re.escape(hosts.ip(8))}:7777  FIN")
    assert len(sent(log, "FIN", hosts.ip(1))) == 1

    bob = hosts.client(2, "bob")  # a new chat between them works
    hosts.chat(alice, bob)


def test_killed_client_is_noticed_its_peer_told_and_the_daemon_serves_a_new_client(hosts: Hosts) -> None:
    alice_daemon, _ = hosts.daemon(1, *LIVE), hosts.daemon(2, *LIVE)
    alice, bob = hosts.client(1, "alice"), hosts.client(2, "bob")
    hosts.chat(alice, bob)
    killed_at = time.monotonic()
    alice.kill()
    bob.expect(r"^\* alice left the chat$", timeout=10)
    noticed = time.monotonic() - killed_at
    assert noticed < 6, f"bob was told {noticed:.1f}s after alice's client was killed"  # --client-timeout 3
    alice_daemon.log.expect(r"client alice silent for 3 s: considered gone")

    alice = hosts.client(1, "alice")  # the daemon is free for a new client
    hosts.chat(alice, bob, bob_waits=False)  # bob is at the menu: the invitation is shown there too
    alice.send("q")
    bob.expect(r"^\* alice left the chat$")
    alice.expect(r"^\* chat ended$")


def test_idle_client_is_kept_by_a_daemon_configured_like_the_process_tests() -> None:
    """A connected client that does nothing still heartbeats, so its daemon must keep it.

    Guards the end-to-end tests' configuration (tests.processes.FAST): with `--client-timeout 1`,
    equal to the heartbeat period, the daemon dropped idle clients, since the client sends its
    heartbeat 1 s after the previous one was answered.  Run in-process under the virtual clock
    with a 0.2 ms hop each way, so the outcome does not depend on the machine's load.
    """
    client_timeout = float(FAST[FAST.index("--client-timeout") + 1])
    prefix = new_block()

    async def main() -> None:
        daemon = Daemon(daemon_config(prefix + "1", client_timeout=client_timeout))
        await daemon.start()
        proxy = Proxy((prefix + "1", 7778), delay=0.0002)
        await proxy.start((prefix + "8", 7778))
        client = Client(prefix + "8")
        try:
            await client.connect("alice")
            await asyncio.sleep(5)  # the user does nothing for five heartbeat periods (virtual time)
            assert daemon.client is not None, (
                f"with --client-timeout {client_timeout:g} the daemon dropped an idle client that heartbeats "
                f"every {client.config.heartbeat_interval:g} s")
            await client.wait()
        finally:
            client.abandon()
            proxy.close()
            daemon.close(graceful=False)
            await daemon.wait_closed()

    run_virtual(main(), wall_limit=30.0)
