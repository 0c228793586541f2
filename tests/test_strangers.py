"""Strangers: datagrams from addresses that are not the peer's never end, enter or alter a chat; a
SYN flood gets busy answers rate-limited per source and overall (no amplification) and does not
slow the chat; a second client on 7778 is refused without disturbing the first.

In-process daemons and clients under the virtual clock, on real loopback sockets.  Latency in
wall-clock time is machine noise in a test suite, so the flood test asserts what the protocol
controls (no chat datagram lost or retransmitted, no round trip waiting on a timer); the wall-clock
medians are measured by `python -m tests.test_strangers` (see RELIABILITY.md).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from sim.clock import run_virtual
from sim.loopback import new_block
from simp import control as ctl
from simp import events as ev
from simp import extension, wire
from simp.client import Client, ClientError
from simp.daemon import Daemon
from simp.node import BUSY_TEXT
from simp.wire import Datagram, Op
from tests.test_fuzz import (
    EVENT_WAIT,
    POLL,
    Chat,
    daemon_config,
    drain,
    in_chat,
    open_chat,
    udp_socket,
    until,
)

TIMEOUT = 5.0  # the SPEC's default retransmission timeout; free under the virtual clock


def decoded(data: bytes) -> Datagram:
    return wire.decode(data)


class RawPeer:
    """A socket that speaks SIMP by hand on the virtual loop: send datagrams, await them."""

    def __init__(self, host: str, port: int = 7777, user: str = "bob") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.user = user

    def send(self, to: tuple[str, int], dg: Datagram) -> None:
        self.sock.sendto(wire.encode(dg), to)

    def control(self, to: tuple[str, int], op: Op, seq: int, text: str = "") -> None:
        self.send(to, wire.control(op, seq, self.user, text))

    async def recv(self, timeout: float = 3 * TIMEOUT) -> tuple[float, Datagram]:
        """The next datagram and the (virtual) time it was read."""
        loop = asyncio.get_running_loop()
        try:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 65535), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.address}: nothing received within {timeout}s") from None
        return loop.time(), decoded(data)

    async def expect(self, label: str, seq: int, text: str = "", timeout: float = 3 * TIMEOUT) -> float:
        when, dg = await self.recv(timeout)
        assert (dg.label, dg.seq, dg.payload) == (label, seq, text), f"expected {label} seq={seq}, got {dg}"
        return when

    def received(self) -> list[str]:
        """What is waiting on the socket, in ladder notation (does not wait)."""
        return [decoded(d).describe() for d in drain(self.sock)]

    def close(self) -> None:
        self.sock.close()


# -- FIN, chat, ACK and ERR from strangers ---------------------------------------------------------


def stranger_datagrams(user: str) -> list[Datagram]:
    """Every kind of datagram that could end, enter or alter a chat, with both sequence bits."""
    out = [wire.control(op, seq, user) for op in (Op.FIN, Op.ACK, Op.SYN_ACK) for seq in (0, 1)]
    out += [wire.chat(seq, user, f"intruder {seq}") for seq in (0, 1)]
    out.append(wire.control(Op.ERR, 0, user, "User already in another chat"))
    return out


def test_fin_chat_ack_and_err_from_strangers_never_end_enter_or_alter_a_chat_with_a_raw_peer() -> None:
    """alice's daemon chats with a raw peer, so a message stays in flight as long as we like; strangers
    (another host, and the peer's own IP on another port) then try every datagram with both bits."""
    prefix = new_block()

    async def main() -> None:
        alice = Daemon(daemon_config(prefix + "1", timeout=TIMEOUT))
        await alice.start()
        me = (prefix + "1", 7777)
        bob = RawPeer(prefix + "2")
        strangers = [RawPeer(prefix + "9", user="bob"), RawPeer(prefix + "2", 7000, user="bob")]
        client = Client(prefix + "1")
        try:
            await client.connect("alice")
            await client.start(prefix + "2")
            _, syn = await bob.recv()  # plain SIMP but for our SIMPX/1 offer, which bob ignores
            assert (syn.label, syn.seq, extension.text_of(syn)) == ("SYN", 0, "")
            bob.control(me, Op.SYN_ACK, 0)
            await bob.expect("ACK", 0)
            assert await client.next_event(timeout=EVENT_WAIT) == ev.ChatStarted(peer=bob.address, user="bob")
            base = alice.counters()

            # nothing in flight: a stranger's FIN does not end the chat, its chat is not delivered
            for stranger in strangers:
                for dg in stranger_datagrams("bob"):
                    stranger.send(me, dg)
            n = len(strangers) * len(stranger_datagrams("bob"))
            await until(lambda: alice.counters()["received"] - base["received"] == n,
                        lambda: f"alice received {alice.counters()['received'] - base['received']} of {n}")
            for stranger in strangers:  # one answer (ACK to the first FIN), the rest rate-limited
                await stranger.expect("ACK", 0)
            assert alice.counters()["stranger_answers"] - base.get("stranger_answers", 0) == len(strangers)
            assert bob.received() == []

            # alice's message in flight: strangers' ACKs (both bits) do not acknowledge it
            msg_id = await client.say("one")
            sent_at = await bob.expect("CHAT", 0, "one")
            for stranger in strangers:
                for dg in stranger_datagrams("bob"):
                    stranger.send(me, dg)
            again_at = await bob.expect("CHAT", 0, "one")  # re-sent: nobody acknowledged it
            assert again_at - sent_at >= TIMEOUT
            assert client.pending_events() == 0  # no MessageDelivered, no MessageReceived, no end
            bob.control(me, Op.ACK, 0)
            assert await client.next_event(timeout=EVENT_WAIT) == ev.MessageDelivered(msg_id=msg_id)

            # bob's first message (bit 0) is new to alice: no stranger's chat flipped her expected bit
            bob.send(me, wire.chat(0, "bob", "two"))
            await bob.expect("ACK", 0)
            assert await client.next_event(timeout=EVENT_WAIT) == ev.MessageReceived(user="bob", text="two")
            # and her next message goes out with bit 1: no stranger's ACK flipped her sending bit
            await client.say("three")
            await bob.expect("CHAT", 1, "three")
            bob.control(me, Op.ACK, 1)
            assert isinstance(await client.next_event(timeout=EVENT_WAIT), ev.MessageDelivered)

            counts = alice.counters()
            assert counts["received"] - base["received"] == 2 * n + 3  # strangers twice; ACK, CHAT, ACK
            assert counts.get("malformed", 0) == 0
            assert alice.status()["state"] == "established"
            for stranger in strangers:  # nothing but rate-limited answers ever reached a stranger
                assert set(stranger.received()) <= {"ACK seq=0", "ACK seq=1", "FIN seq=0"}

            # the real peer still ends the chat with FIN (bob's bit is 1 after "two")
            bob.control(me, Op.FIN, 1)
            await bob.expect("ACK", 1)
            ended = await client.next_event(timeout=EVENT_WAIT)
            assert isinstance(ended, ev.ChatEnded) and ended.reason is ev.EndReason.PEER_LEFT
        finally:
            client.abandon()
            for peer in (bob, *strangers):
                peer.close()
            alice.close(graceful=False)
            await alice.wait_closed()

    run_virtual(main(), wall_limit=30.0)


@pytest.mark.parametrize("kind", ["FIN", "ACK", "SYN+ACK", "CHAT", "ERR"])
def test_strangers_datagrams_to_both_daemons_leave_their_chat_exactly_as_it_was(kind: str) -> None:
    def datagrams(user: str) -> list[Datagram]:
        return [dg for dg in stranger_datagrams(user) if dg.label == kind]

    async def test(chat: Chat) -> None:
        await chat.say("alice", "before")
        await chat.say("bob", "before too")
        base = {who: d.counters() for who, d in (("alice", chat.alice), ("bob", chat.bob))}
        mallory = RawPeer(chat.prefix + "9", user="mallory")
        impostors = [RawPeer(chat.prefix + "2", 7001, user="bob"),  # the peer's IP, another port
                     RawPeer(chat.prefix + "1", 7001, user="alice")]
        try:
            for dg in datagrams("alice") + datagrams("bob"):
                mallory.send(chat.alice_at, dg)
                mallory.send(chat.bob_at, dg)
            for dg in datagrams("bob"):
                impostors[0].send(chat.alice_at, dg)
            for dg in datagrams("alice"):
                impostors[1].send(chat.bob_at, dg)
            sent = 3 * len(datagrams("x"))  # to each daemon
            for who, daemon in (("alice", chat.alice), ("bob", chat.bob)):
                def got(d: Daemon = daemon, w: str = who) -> int:
                    return d.counters()["received"] - base[w]["received"]
                await until(lambda got=got: got() == sent, lambda got=got, w=who: f"{w}: {got()} of {sent}")
            await chat.say("alice", "after")
            await chat.say("bob", "after too")
            for who, daemon in (("alice", chat.alice), ("bob", chat.bob)):
                counts = daemon.counters()
                assert daemon.status()["state"] == "established", who
                assert counts.get("malformed", 0) == 0
                assert counts["retransmissions"] == base[who]["retransmissions"]
                # each stranger datagram was ignored (answered or not), none was taken into the chat
                assert counts["ignored"] - base[who].get("ignored", 0) == sent
            assert chat.client("alice").pending_events() == chat.client("bob").pending_events() == 0
            await chat.end()  # exactly once, in order, and nothing else was received
            assert chat.received == {"bob": ["before", "after"], "alice": ["before too", "after too"]}
        finally:
            mallory.close()
            for impostor in impostors:
                impostor.close()

    in_chat(test, timeout=TIMEOUT)


# -- SYN flood -------------------------------------------------------------------------------------

FLOOD_ROUNDS = 10  # every source sends one SYN per round
FLOOD_GAP = 0.5  # virtual seconds between rounds: the flood spans two per-source intervals
SUB_BATCH = 50  # SYNs sent at once (well under a socket buffer), while a round trip is in progress
ANSWERED_OR_NOT = ("stranger_answers", "stranger_answers_suppressed")


def retransmitted(chat: Chat) -> dict[str, int]:
    return {d.config.host: d.counters()["retransmissions"] for d in (chat.alice, chat.bob)}


@dataclass
class Flooder:
    """One flooding address: the bytes of the SYNs it sent and every answer it got."""

    sock: socket.socket
    sent_bytes: int = 0
    answers: list[bytes] = field(default_factory=list)

    def collect(self) -> int:
        self.answers += drain(self.sock)
        return len(self.answers)


def flood_sources() -> Iterator[str]:
    """200 addresses: 100 in the test's own block, 100 in a second block."""
    own, other = new_block(), new_block()
    yield from (own + str(h) for h in range(10, 110))
    yield from (other + str(h) for h in range(1, 101))


def test_syn_flood_from_200_addresses_gets_rate_limited_busy_answers_and_the_chat_is_not_slowed() -> None:
    """2,000 SYNs to alice's daemon from 200 addresses in 10 rounds over 4.5 virtual seconds, in
    sub-batches of 50, each sent while a chat round trip (alice -> bob -> alice) is under way."""
    syn = wire.encode(wire.control(Op.SYN, 0, "flood"))

    async def test(chat: Chat) -> None:
        loop = asyncio.get_running_loop()
        config = chat.alice.config.node
        flooders = [Flooder(udp_socket(host)) for host in flood_sources()]
        trips = iter(range(1000))

        def handled() -> int:  # each SYN is either answered or held back, never both
            now = chat.alice.counters()
            return sum(now.get(k, 0) - base.get(k, 0) for k in ANSWERED_OR_NOT)

        async def round_trip() -> float:
            started, n = loop.time(), next(trips)
            await chat.say("alice", f"ping {n}")
            await chat.say("bob", f"pong {n}")
            return loop.time() - started

        try:
            quiet = [await round_trip() for _ in range(40)]
            base = chat.alice.counters()
            retransmissions = retransmitted(chat)
            flooded, syns = [], 0
            for n in range(FLOOD_ROUNDS):
                round_at = loop.time()
                for first in range(0, len(flooders), SUB_BATCH):
                    trip = asyncio.ensure_future(round_trip())
                    for flooder in flooders[first:first + SUB_BATCH]:
                        flooder.sock.sendto(syn, chat.alice_at)
                        flooder.sent_bytes += len(syn)
                    syns += SUB_BATCH
                    await until(lambda s=syns: handled() == s,
                                lambda s=syns: f"alice handled {handled()} of {s} SYNs")
                    flooded.append(await trip)
                if n < FLOOD_ROUNDS - 1:
                    await asyncio.sleep(max(0.0, round_at + FLOOD_GAP - loop.time()))
            answered = chat.alice.counters()["stranger_answers"] - base.get("stranger_answers", 0)
            await until(lambda: sum(f.collect() for f in flooders) == 2 * answered,
                        lambda: f"the flooders got {sum(map(len, (f.answers for f in flooders)))} "
                                f"datagrams, alice sent {2 * answered}")
        finally:
            for flooder in flooders:
                flooder.sock.close()

        assert syns == 2000
        # every answer is ERR (busy) then FIN; the daemon counted exactly what it sent and held back
        for flooder in flooders:
            labels = [(dg.label, dg.payload) for dg in map(decoded, flooder.answers)]
            assert labels == [("ERR", BUSY_TEXT), ("FIN", "")] * (len(labels) // 2), labels
        pairs = [len(f.answers) // 2 for f in flooders]
        assert (answered, handled() - answered) == (sum(pairs), syns - sum(pairs))
        # per source: one answer per half timeout at most; the rounds span 4.5 s, so two at most
        assert config.per_source_interval == TIMEOUT / 2
        span = (FLOOD_ROUNDS - 1) * FLOOD_GAP
        assert max(pairs) <= int(span // config.per_source_interval) + 1 == 2
        # overall: `stranger_rate` datagrams (each answer two) per second at most, plus a bucket of
        # one second's worth to start
        assert config.stranger_rate < 2 * sum(pairs) <= config.stranger_rate * (1 + span)
        # no amplification: fewer bytes out than in
        bytes_in = sum(f.sent_bytes for f in flooders)
        bytes_out = sum(len(a) for f in flooders for a in f.answers)
        assert bytes_out <= bytes_in, (bytes_out, bytes_in)
        # the chat: every ping and pong once and in order, nothing re-sent, and in virtual time (where
        # only timers cost time) no round trip waited: not slower with the flood than without
        await chat.end()
        assert chat.received["bob"] == [f"ping {n}" for n in range(80)]
        assert retransmitted(chat) == retransmissions
        assert max(flooded) < TIMEOUT, flooded
        assert statistics.median(flooded) <= 2 * statistics.median(quiet) + POLL, (quiet, flooded)

    in_chat(test, wall_limit=60.0, timeout=TIMEOUT)


# -- a second client -------------------------------------------------------------------------------


def test_second_client_on_7778_is_refused_and_its_requests_disturb_neither_client_nor_chat() -> None:
    async def test(chat: Chat) -> None:
        await chat.say("alice", "hello")
        second = Client(chat.prefix + "1")
        with pytest.raises(ClientError, match=r"^daemon busy: another client is connected$"):
            await second.connect("mallory")  # names neither alice nor her address
        status = await second.status()  # anyone else is told the state only: no counters
        assert status == {"state": "established"}
        second.abandon()
        # the same requests by hand, from another address: each refused, none acted on
        raw, elsewhere = udp_socket(chat.prefix + "9"), chat.prefix + "9"
        loop = asyncio.get_running_loop()
        requests = [ctl.Connect(ident=1, user="mallory"), ctl.Say(ident=2, text="not from alice"),
                    ctl.Quit(ident=3), ctl.Disconnect(ident=4), ctl.Start(ident=5, host=elsewhere, port=7777),
                    ctl.Accept(ident=6), ctl.Decline(ident=7), ctl.Wait(ident=8), ctl.Heartbeat(ident=9)]
        try:
            for request in requests:
                raw.sendto(ctl.encode(request), (chat.prefix + "1", 7778))
                reply = ctl.decode(await asyncio.wait_for(loop.sock_recv(raw, 65535), 5))
                assert isinstance(reply, ctl.Reply) and reply.ident == request.ident and not reply.ok, reply
                expected = "daemon busy" if isinstance(request, ctl.Connect) else "not connected"
                assert reply.text.startswith(expected), reply
        finally:
            raw.close()
        assert chat.alice.client is not None and chat.alice.node.user == "alice"
        await chat.say("alice", "still me")
        await chat.say("bob", "still you")
        assert chat.client("alice").pending_events() == chat.client("bob").pending_events() == 0
        await chat.end()
        assert chat.received["bob"] == ["hello", "still me"]

    in_chat(test)


# -- wall-clock latency under a flood (a measurement for RELIABILITY.md, not a test) ----------------

FLOOD_SCRIPT = """
import socket, sys, time
target, hosts = (sys.argv[1], 7777), sys.argv[2].split(",")
rate, seconds = float(sys.argv[3]), float(sys.argv[4])
syn = bytes([1, 2, 0]) + b"flood".ljust(32, b"\\0") + bytes(4)
socks = []
for h in hosts:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((h, 0))
    s.setblocking(False)
    socks.append(s)
sent, start = 0, time.monotonic()
while time.monotonic() - start < seconds:
    socks[sent % len(socks)].sendto(syn, target); sent += 1
    time.sleep(max(0.0, start + sent / rate - time.monotonic()))
print(sent)
"""


async def measure_latency(trips: int, rate: float) -> dict[str, list[float]]:
    """Wall-clock round trips (alice -> bob -> alice) of a chat between two in-process daemons,
    alternating blocks without and with a SYN flood from 200 addresses (another process)."""
    prefix = new_block()
    chat = await open_chat(prefix, timeout=TIMEOUT)
    hosts = ",".join(flood_sources())
    samples: dict[str, list[float]] = {"quiet": [], "flood": []}
    flooded_for = 0.0
    try:
        for block in range(6):
            mode = "flood" if block % 2 else "quiet"
            flood = None
            if mode == "flood":
                flood = subprocess.Popen([sys.executable, "-c", FLOOD_SCRIPT, prefix + "1", hosts, str(rate),
                                          "3600"], stdout=subprocess.PIPE, text=True)
                flood_started = time.perf_counter()
                await asyncio.sleep(0.5)
            for n in range(trips):
                started = time.perf_counter()
                await chat.say("alice", f"{mode} {block} {n}")
                await chat.say("bob", f"{mode} {block} {n}")
                samples[mode].append(time.perf_counter() - started)
            if flood is not None:
                flood.kill()
                flood.wait(5)
                flooded_for += time.perf_counter() - flood_started
        counts = chat.alice.counters()
        syns = sum(counts.get(k, 0) for k in ANSWERED_OR_NOT)
        print(f"{syns} SYNs in {flooded_for:.1f} s ({syns / flooded_for:.0f}/s) from 200 addresses: "
              f"{counts.get('stranger_answers', 0)} answered (ERR+FIN), "
              f"{counts.get('stranger_answers_suppressed', 0)} held back; "
              f"chat retransmissions {counts['retransmissions']}")
        await chat.end()
    finally:
        await chat.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.test_strangers",
                                     description="chat round trips with and without a SYN flood (wall clock)")
    parser.add_argument("--trips", type=int, default=2000, help="round trips per block (3 blocks each)")
    parser.add_argument("--rate", type=float, default=5000.0, help="flood SYNs per second (default 5000)")
    args = parser.parse_args()
    samples = asyncio.run(measure_latency(args.trips, args.rate))
    for mode, values in samples.items():
        ms = sorted(v * 1000 for v in values)
        print(f"{mode:5}: {len(ms)} round trips, median {statistics.median(ms):.3f} ms, "
              f"p90 {ms[int(0.9 * len(ms))]:.3f} ms")
    ratio = statistics.median(samples["flood"]) / statistics.median(samples["quiet"])
    print(f"median with flood / median without: {ratio:.2f}")


if __name__ == "__main__":
    main()
