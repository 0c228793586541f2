"""The daemon against a raw UDP peer written from docs/PROTOCOL.md alone (it does not use simp.wire).

This is the issue's acceptance check: byte-exact datagrams, retransmission at the configured
timeout, no duplicate delivery, busy and decline answers, FIN/ACK from either side, and garbage
at both ports that disturbs nothing.  The daemon runs with the SIMPX/1 extension on (its
default): the raw peer knows nothing of it, so the only extra byte it ever sees is the offer in
our SYN's payload (which a SIMP receiver ignores); everything after is plain SIMP.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from sim.loopback import new_block
from tests.processes import ClientProcess, DaemonProcess, cleanup

HELLO_WORLD = bytes.fromhex("020100") + b"test" + bytes(28) + bytes.fromhex("0000000b") + b"Hello World"
CONTROL, CHAT = 1, 2
ERR, SYN, ACK, FIN, SYN_ACK = 1, 2, 4, 8, 6
OFFER = re.compile(rb"SIMPX/1 [0-9A-Za-z._-]{1,32} 0\n")  # docs/EXTENSION.md


def datagram(kind: int, op: int, seq: int, user: str, text: str = "") -> bytes:
    payload = text.encode("ascii")
    return bytes([kind, op, seq]) + user.encode().ljust(32, b"\0") + struct.pack("!I", len(payload)) + payload


class RawPeer:
    """A SIMP peer reduced to a socket on port 7777 and the SPEC's byte layout."""

    def __init__(self, ip: str, user: str = "raw") -> None:
        self.ip, self.user = ip, user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 7777))

    def send(self, to: str, kind: int, op: int, seq: int, text: str = "") -> None:
        self.sock.sendto(datagram(kind, op, seq, self.user, text), (to, 7777))

    def recv(self, timeout: float = 5.0) -> tuple[bytes, tuple[int, int, int, str, str]]:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            raise AssertionError(f"raw peer {self.ip}: nothing received within {timeout}s") from None
        kind, op, seq = data[0], data[1], data[2]
        user = data[3:35].rstrip(b"\0").decode()
        (length,) = struct.unpack("!I", data[35:39])
        assert length == len(data) - 39, "length field must match the payload"
        return data, (kind, op, seq, user, data[39:].decode())

    def expect(self, kind: int, op: int, seq: int, text: str = "", timeout: float = 5.0) -> bytes:
        data, fields = self.recv(timeout)
        wanted = (kind, op, seq, text)
        assert (*fields[:3], fields[4]) == wanted, f"expected {wanted}, got {fields}"
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def setup() -> Iterator[tuple[str, DaemonProcess, list]]:
    prefix = new_block()
    daemon = DaemonProcess(prefix + "1")
    extras: list = []
    yield prefix, daemon, extras
    for item in extras:
        if isinstance(item, RawPeer | socket.socket):
            item.close()
    cleanup(daemon, *[x for x in extras if isinstance(x, ClientProcess | DaemonProcess)])


def _chat_to_raw(prefix: str, extras: list) -> tuple[RawPeer, ClientProcess]:
    """The daemon's user `test` invites the raw peer, which accepts."""
    raw = RawPeer(prefix + "5")
    client = ClientProcess(prefix + "1", "test")
    extras += [raw, client]
    client.send("s", raw.ip)
    syn, _ = raw.recv()
    offer = syn[39:]
    assert OFFER.fullmatch(offer), f"a SYN carries nothing but the SIMPX/1 offer: {offer!r}"
    assert syn == bytes([1, 2, 0]) + b"test".ljust(32, b"\0") + struct.pack("!I", len(offer)) + offer
    raw.send(prefix + "1", CONTROL, SYN_ACK, 0)
    raw.expect(CONTROL, ACK, 0)
    client.expect(r"^\* chat with raw .* started")
    return raw, client


def test_invited_raw_peer_receives_the_exact_hello_world_bytes(setup) -> None:
    prefix, _, extras = setup
    raw, client = _chat_to_raw(prefix, extras)
    client.send("Hello World")
    assert raw.recv()[0] == HELLO_WORLD
    raw.send(prefix + "1", CONTROL, ACK, 0)


def test_unacknowledged_message_is_resent_identically_after_the_timeout(setup) -> None:
    prefix, _, extras = setup
    raw, client = _chat_to_raw(prefix, extras)
    client.send("Hello World")
    first = raw.recv()[0]
    sent_at = time.monotonic()
    again = raw.recv()[0]
    gap = time.monotonic() - sent_at
    assert again == first == HELLO_WORLD
    assert gap >= 0.15, f"re-sent after {gap:.3f}s, before the 0.2s timeout"
    raw.send(prefix + "1", CONTROL, ACK, 0)
    client.send("next")
    raw.expect(CHAT, 1, 1, "next")


def test_raw_peer_invites_and_chats_both_ways_without_duplicates(setup) -> None:
    prefix, _, extras = setup
    daemon_ip = prefix + "1"
    raw = RawPeer(prefix + "5")
    client = ClientProcess(daemon_ip, "test")
    extras += [raw, client]
    client.send("w")
    client.expect("waiting")
    raw.send(daemon_ip, CONTROL, SYN, 0)
    raw.send(daemon_ip, CONTROL, SYN, 0)  # a repeated SYN is not shown again
    client.expect(rf"^\* invitation from raw at {raw.ip}:7777")
    client.send("y")
    raw.expect(CONTROL, SYN_ACK, 0)
    raw.send(daemon_ip, CONTROL, ACK, 0)
    client.expect(r"^\* chat with raw .* started")
    raw.send(daemon_ip, CHAT, 1, 0, "one")
    raw.expect(CONTROL, ACK, 0)
    raw.send(daemon_ip, CHAT, 1, 0, "one")  # duplicate: acknowledged again, not delivered
    raw.expect(CONTROL, ACK, 0)
    raw.send(daemon_ip, CHAT, 1, 1, "two")
    raw.expect(CONTROL, ACK, 1)
    client.expect(r"^raw: two$")
    client.send("back")
    raw.expect(CHAT, 1, 0, "back")
    raw.send(daemon_ip, CONTROL, ACK, 0)
    raw.send(daemon_ip, CONTROL, FIN, 0)
    raw.expect(CONTROL, ACK, 0)
    client.expect(r"^\* raw left the chat$")
    assert [line for line in client.out.lines if line.startswith("raw:")] == ["raw: one", "raw: two"]
    assert sum("invitation from" in line for line in client.out.lines) == 1


def test_daemon_without_the_extension_sends_an_empty_syn(setup) -> None:
    prefix, _, extras = setup
    plain = DaemonProcess(prefix + "2", "--no-extension")
    raw = RawPeer(prefix + "5")
    client = ClientProcess(prefix + "2", "test")
    extras += [raw, client, plain]
    client.send("s", raw.ip)
    assert raw.expect(CONTROL, SYN, 0) == bytes([1, 2, 0]) + b"test".ljust(32, b"\0") + bytes(4)


def test_every_byte_an_extended_daemon_sends_a_plain_peer_after_its_syn_is_plain_simp(setup) -> None:
    """Both directions of a chat with a plain peer: empty SYN+ACK, ACK and FIN payloads, chat
    payload = the text; the debug log says the chat runs in plain SIMP."""
    prefix, daemon, extras = setup
    daemon_ip = prefix + "1"
    raw, client = _chat_to_raw(prefix, extras)  # we invite: the raw peer's empty SYN+ACK makes it plain
    daemon.log.expect("runs in plain SIMP: the peer accepted without the extension", timeout=5)
    client.send("hi")
    assert raw.recv()[0] == bytes([2, 1, 0]) + b"test".ljust(32, b"\0") + struct.pack("!I", 2) + b"hi"
    raw.send(daemon_ip, CONTROL, ACK, 0)
    raw.send(daemon_ip, CHAT, 1, 0, "yo")
    assert raw.recv()[0] == bytes([1, 4, 0]) + b"test".ljust(32, b"\0") + bytes(4)
    client.send("q")
    assert raw.recv()[0] == bytes([1, 8, 1]) + b"test".ljust(32, b"\0") + bytes(4)
    raw.send(daemon_ip, CONTROL, ACK, 1)
    client.expect(r"^\* chat ended$")
    client.send("w")  # now the raw peer invites: SYN+ACK, ACK and FIN's ACK are empty too
    client.expect("waiting")
    raw.send(daemon_ip, CONTROL, SYN, 0)
    client.expect(rf"^\* invitation from raw at {raw.ip}:7777")
    daemon.log.expect("runs in plain SIMP: the inviter offered no extension", timeout=5)
    client.send("y")
    assert raw.recv()[0] == bytes([1, 6, 0]) + b"test".ljust(32, b"\0") + bytes(4)
    raw.send(daemon_ip, CONTROL, ACK, 0)
    client.expect(r"^\* chat with raw .* started")
    raw.send(daemon_ip, CONTROL, FIN, 0)
    assert raw.recv()[0] == bytes([1, 4, 0]) + b"test".ljust(32, b"\0") + bytes(4)
    client.expect(r"^\* raw left the chat$")


def test_busy_and_no_user_answers_are_err_then_fin(setup) -> None:
    prefix, _, extras = setup
    lonely = RawPeer(prefix + "7", "lonely")
    extras.append(lonely)
    lonely.send(prefix + "1", CONTROL, SYN, 0)
    lonely.expect(CONTROL, ERR, 0, "No user connected")
    lonely.expect(CONTROL, FIN, 0)
    raw, client = _chat_to_raw(prefix, extras)
    stranger = RawPeer(prefix + "6", "stranger")
    extras.append(stranger)
    stranger.send(prefix + "1", CONTROL, SYN, 0)
    stranger.expect(CONTROL, ERR, 0, "User already in another chat")
    stranger.expect(CONTROL, FIN, 0)
    stranger.send(prefix + "1", CONTROL, ACK, 0)
    # the stranger's SYN makes our idle daemon ask its peer whether it still has the chat: having
    # said nothing yet, it sends an empty chat datagram with bit 1, a duplicate for a SPEC peer
    raw.expect(CHAT, 1, 1, "")
    raw.send(prefix + "1", CONTROL, ACK, 1)
    client.send("still chatting")
    raw.expect(CHAT, 1, 0, "still chatting")


def test_declined_invitation_answers_fin_also_to_a_repeated_syn(setup) -> None:
    prefix, _, extras = setup
    raw = RawPeer(prefix + "5")
    client = ClientProcess(prefix + "1", "test")
    extras += [raw, client]
    client.send("w")
    client.expect("waiting")
    raw.send(prefix + "1", CONTROL, SYN, 0)
    client.expect("invitation from raw")
    client.send("n")
    raw.expect(CONTROL, FIN, 0)
    raw.send(prefix + "1", CONTROL, SYN, 0)  # as if the FIN had been lost
    raw.expect(CONTROL, FIN, 0)
    raw.send(prefix + "1", CONTROL, ACK, 0)


def test_client_quit_sends_fin_and_waits_for_its_ack(setup) -> None:
    prefix, _, extras = setup
    raw, client = _chat_to_raw(prefix, extras)
    client.send("q")
    raw.expect(CONTROL, FIN, 0)
    raw.expect(CONTROL, FIN, 0)  # not acknowledged yet: re-sent
    raw.send(prefix + "1", CONTROL, ACK, 0)
    client.expect(r"^\* chat ended$")


def test_garbage_at_both_ports_disturbs_neither_daemon_nor_chat(setup) -> None:
    prefix, daemon, extras = setup
    raw, client = _chat_to_raw(prefix, extras)
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    extras.append(junk)
    junk.bind((prefix + "9", 0))
    samples = [b"", b"\x01", bytes(38), bytes(range(256)), datagram(3, 1, 0, "x"), datagram(1, 3, 0, "x"),
               datagram(2, 1, 2, "x", "y"), datagram(2, 1, 0, "x", "y")[:-1], b"\xff" * 100]
    for data in samples:
        junk.sendto(data, (prefix + "1", 7777))
        junk.sendto(data, (prefix + "1", 7778))
    # a well-formed chat datagram from the wrong address does not enter the chat
    junk.sendto(datagram(CHAT, 1, 0, "raw", "intruder"), (prefix + "1", 7777))
    raw.send(prefix + "1", CHAT, 1, 0, "genuine")
    raw.expect(CONTROL, ACK, 0)
    client.expect(r"^raw: genuine$")
    client.send("reply")
    raw.expect(CHAT, 1, 0, "reply")
    assert not any("intruder" in line for line in client.out.lines)
    daemon.log.expect("malformed datagram", timeout=5)
    assert daemon.proc.poll() is None
