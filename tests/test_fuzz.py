"""Fuzzing both ports of a daemon, and a client's socket, while a chat is running.

Datagrams come from hypothesis strategies (raw bytes, SIMP/control layouts with every field near
its valid range, valid datagrams with one mutation) and from scapy's `fuzz()` of the dissector's
layers, all derandomized.  They are sent from a third address, so the well-formed ones among them
are strangers' datagrams.  Each test counts with the codecs how many of its datagrams are
malformed and asserts that the counters say exactly that, and that the chat goes on: messages
before, during and after the barrage arrive exactly once and in order.

Everything runs in-process under the virtual clock (`sim.clock.run_virtual`): real loopback UDP
sockets, no waiting on real time.  Datagrams go out in batches, each followed by a barrier (the
counters, or a Status request answered after everything before it on the same socket), so no
socket buffer overflows and nothing is lost uncounted.
"""

from __future__ import annotations

import asyncio
import random
import socket
import string
import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from scapy.packet import fuzz

from sim.clock import run_virtual
from sim.loopback import new_block
from simp import control as ctl
from simp import events as ev
from simp import wire
from simp.client import Client
from simp.daemon import Daemon, DaemonConfig
from simp.dissect import SIMP, SIMPControl
from simp.node import NodeConfig
from simp.session import SessionConfig

BATCH = 64  # datagrams between two barriers: far below what a socket buffer holds
POLL = 0.001  # virtual seconds between two looks at a condition (`until`)
EVENT_WAIT = 60.0  # virtual seconds: a chat message needs well under one timeout here

# -- the datagrams --------------------------------------------------------------------------------

# The 7778 field layouts as README.md documents them (kind -> field types), written out here so the
# fuzzer is built from the documentation, not from the codec it is testing.
CONTROL_LAYOUT: dict[bytes, tuple[str, ...]] = {
    b"C": ("str",), b"S": ("str", "u16"), b"W": (), b"A": (), b"D": (), b"M": ("str",), b"Q": (),
    b"X": (), b"H": (), b"T": (), b"K": (), b"R": ("u8", "str"),
    b"i": ("str", "u16", "str"), b"c": ("str", "u16", "str"), b"m": ("str",), b"d": ("u32",),
    b"e": ("str", "u16", "str"), b"u": ("u32", "str"), b"x": ("str", "u16", "str", "u8", "u16"),
}
_INT_SIZE = {"u8": 1, "u16": 2, "u32": 4}

ascii_bytes = st.text(alphabet=string.printable, max_size=40).map(str.encode)
any_text = st.one_of(ascii_bytes, st.binary(max_size=40))


def _simp_layout(type_: int, op: int, seq: int, user: bytes, text: bytes, length_error: int) -> bytes:
    length = max(0, min(len(text) + length_error, 2**32 - 1))
    return struct.pack("!BBB32sI", type_, op, seq, user, length) + text


user_fields = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.tuples(st.text(alphabet=string.printable, max_size=32), st.sampled_from([b"\0", b" "])).map(
        lambda t: t[0].encode().ljust(32, t[1])),
)
simp_layouts = st.builds(
    _simp_layout,
    type_=st.one_of(st.sampled_from([1, 2]), st.integers(0, 255)),
    op=st.one_of(st.sampled_from([1, 2, 4, 6, 8]), st.integers(0, 255)),
    seq=st.one_of(st.sampled_from([0, 1]), st.integers(0, 255)),
    user=user_fields,
    text=any_text,
    length_error=st.one_of(st.just(0), st.integers(-3, 3), st.integers(-(2**32), 2**32)),
)
valid_simp = st.builds(
    lambda kind, seq, user, text: wire.encode(
        wire.chat(seq, user, text) if kind == "CHAT" else wire.control(wire.Op[kind], seq, user, text)),
    st.sampled_from(["CHAT", "SYN", "ACK", "FIN", "ERR", "SYN_ACK"]),
    st.sampled_from([0, 1]),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=32),
    st.text(alphabet=string.printable, max_size=30),
)


def _control_layout(kind: bytes, ident: int, values: list[tuple[int, bytes, int]], tail: bytes) -> bytes:
    """kind, id, then one value per documented field: an int (wrapped to its size) or a text whose
    length prefix is off by `length_error`."""
    parts = [struct.pack("!cI", kind, ident)]
    for ftype, (number, text, length_error) in zip(CONTROL_LAYOUT.get(kind, ()), values, strict=False):
        if ftype == "str":
            parts += [struct.pack("!H", max(0, min(len(text) + length_error, 65535))), text]
        else:
            parts.append((number % 256 ** _INT_SIZE[ftype]).to_bytes(_INT_SIZE[ftype], "big"))
    return b"".join(parts) + tail


control_layouts = st.builds(
    _control_layout,
    kind=st.one_of(st.sampled_from(sorted(CONTROL_LAYOUT)), st.binary(min_size=1, max_size=1)),
    ident=st.integers(0, 2**32 - 1),
    values=st.lists(st.tuples(st.integers(0, 2**32), any_text,
                              st.one_of(st.just(0), st.integers(-2, 2), st.integers(0, 65535))), max_size=5),
    tail=st.one_of(st.just(b""), st.binary(max_size=4)),
)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """A datagram with one change: cut short, one byte replaced, or bytes appended."""
    data = draw(base)
    how = draw(st.sampled_from(["cut", "flip", "append"]))
    if how == "cut" or not data:
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if how == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    return data + draw(st.binary(min_size=1, max_size=8))


simp_datagrams = st.one_of(st.binary(max_size=80), simp_layouts, valid_simp, mutated(valid_simp),
                           mutated(simp_layouts))
control_datagrams = st.one_of(st.binary(max_size=24), control_layouts, mutated(control_layouts))


def hypothesis_datagrams(strategy: st.SearchStrategy[bytes], count: int) -> list[bytes]:
    """`count` examples of `strategy`, the same ones on every run (derandomized, no database)."""
    found: list[bytes] = []

    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate],
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(data: bytes) -> None:
        found.append(data)

    collect()
    return found


def scapy_datagrams(count: int, seed: int, layer: str) -> list[bytes]:
    """scapy `fuzz()` of the SIMP or SIMPControl layer: half with every field random, half with the
    leading fields pinned to valid values so that the fields behind them are reached too."""
    rng = random.Random(seed)
    saved = random.getstate()
    random.seed(seed)  # scapy's volatile values draw from the random module
    out: list[bytes] = []
    for i in range(count):
        if layer == "SIMP":
            op = rng.choice([1, 2, 4, 6, 8])
            pinned = [{}, {"type": 1}, {"type": 2, "op": 1}, {"type": 1, "op": op},
                      {"type": rng.choice([1, 2]), "op": op, "seq": rng.randint(0, 1), "user": b"x"}][i % 5]
            packet = fuzz(SIMP(**pinned))
        else:
            packet = fuzz(SIMPControl(kind=rng.choice(sorted(CONTROL_LAYOUT))[0]) if i % 2 else SIMPControl())
        out.append(bytes(packet)[: wire.MAX_DATAGRAM])
    random.setstate(saved)
    return out


def malformed_7777(data: bytes) -> bool:
    """What a daemon counts as malformed from a stranger: SPEC's sizes do not decode it, and it is
    not a SYN or SYN+ACK in another layout (a peer with other field sizes, simp.dialect rule 1)."""
    try:
        wire.decode(data)
    except wire.MalformedDatagram:
        return wire.find_layout(data) is None
    return False


def control_or_none(data: bytes) -> ctl.ControlMessage | None:
    try:
        return ctl.decode(data)
    except ctl.MalformedControl:
        return None


def malformed_for_daemon(data: bytes) -> bool:
    """What a daemon counts as `malformed_control`: undecodable, or a daemon-to-client message."""
    return not isinstance(control_or_none(data), ctl.Request)


def malformed_for_client(data: bytes) -> bool:
    """What a client counts as `malformed`: undecodable, or a client-to-daemon request."""
    msg = control_or_none(data)
    return msg is None or isinstance(msg, ctl.Request)


# -- an in-process chat under the virtual clock ---------------------------------------------------


async def until(condition: Callable[[], bool], what: Callable[[], str], timeout: float = 10.0) -> None:
    """Wait (virtual time) until `condition()`; fail with `what()` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what()}")
        await asyncio.sleep(POLL)


@dataclass
class Chat:
    """alice (host 1) and bob (host 2), daemons and clients in-process, in an established chat."""

    prefix: str
    alice: Daemon
    bob: Daemon
    a: Client
    b: Client
    said: dict[str, list[str]] = field(default_factory=lambda: {"alice": [], "bob": []})
    received: dict[str, list[str]] = field(default_factory=lambda: {"alice": [], "bob": []})
    delivered: dict[str, list[int]] = field(default_factory=lambda: {"alice": [], "bob": []})

    @property
    def alice_at(self) -> tuple[str, int]:
        return (self.prefix + "1", 7777)

    @property
    def bob_at(self) -> tuple[str, int]:
        return (self.prefix + "2", 7777)

    def client(self, who: str) -> Client:
        return self.a if who == "alice" else self.b

    async def say(self, who: str, *texts: str) -> None:
        """`who` says `texts`; returns once the peer received them and the sender heard delivered."""
        other = "bob" if who == "alice" else "alice"
        ids = [await self.client(who).say(t) for t in texts]
        self.said[who] += texts
        want_received = len(self.received[other]) + len(texts)
        want_delivered = len(self.delivered[who]) + len(texts)
        while len(self.received[other]) < want_received or len(self.delivered[who]) < want_delivered:
            waiting_on = other if len(self.received[other]) < want_received else who
            await self._take(waiting_on)
        assert self.delivered[who][-len(ids):] == ids

    async def _take(self, who: str) -> None:
        event = await self.client(who).next_event(timeout=EVENT_WAIT)
        match event:
            case ev.MessageReceived(text=text):
                self.received[who].append(text)
            case ev.MessageDelivered(msg_id=msg_id):
                self.delivered[who].append(msg_id)
            case _:
                raise AssertionError(f"{who} got {event} in the middle of the chat")

    async def end(self) -> None:
        """alice quits; both see the end, and nothing was received in between: exactly once."""
        await self.a.quit()
        ended = [await self.next_of(who, ev.ChatEnded) for who in ("alice", "bob")]
        assert [e.reason for e in ended] == [ev.EndReason.QUIT, ev.EndReason.PEER_LEFT]
        assert self.received["bob"] == self.said["alice"]
        assert self.received["alice"] == self.said["bob"]

    async def next_of(self, who: str, kind: type[ev.Event]) -> ev.Event:
        """The next event of `who`, which must be a `kind` (message traffic is recorded first)."""
        while True:
            event = await self.client(who).next_event(timeout=EVENT_WAIT)
            if isinstance(event, ev.MessageReceived):
                self.received[who].append(event.text)
            elif isinstance(event, ev.MessageDelivered):
                self.delivered[who].append(event.msg_id)
            else:
                assert isinstance(event, kind), f"{who}: expected {kind.__name__}, got {event}"
                return event

    async def close(self) -> None:
        for client in (self.a, self.b):
            client.abandon()
        for daemon in (self.alice, self.bob):
            daemon.close(graceful=False)
            await daemon.wait_closed()


def daemon_config(host: str, *, timeout: float = 1.0, retries: int = 6, stranger_rate: float = 50.0,
                  client_timeout: float = 3.0) -> DaemonConfig:
    session = SessionConfig(timeout=timeout, retries=retries)
    return DaemonConfig(host=host, node=NodeConfig(session=session, stranger_rate=stranger_rate),
                        client_timeout=client_timeout)


async def open_chat(prefix: str, *, alice_client_at: tuple[str, int] | None = None, **config: float) -> Chat:
    """Start both daemons, connect alice and bob, alice invites bob, bob accepts."""
    alice = Daemon(daemon_config(prefix + "1", **config))  # type: ignore[arg-type]
    bob = Daemon(daemon_config(prefix + "2", **config))  # type: ignore[arg-type]
    await alice.start()
    await bob.start()
    a = Client(*(alice_client_at or (prefix + "1", 7778)))
    b = Client(prefix + "2")
    await a.connect("alice")
    await b.connect("bob")
    await b.wait()
    await a.start(prefix + "2")
    invitation = await b.next_event(timeout=EVENT_WAIT)
    assert invitation == ev.Invitation(peer=(prefix + "1", 7777), user="alice")
    await b.accept()
    assert await b.next_event(timeout=EVENT_WAIT) == ev.ChatStarted(peer=(prefix + "1", 7777), user="alice")
    assert await a.next_event(timeout=EVENT_WAIT) == ev.ChatStarted(peer=(prefix + "2", 7777), user="bob")
    return Chat(prefix, alice, bob, a, b)


def in_chat(test: Callable[[Chat], Awaitable[None]], wall_limit: float = 60.0, **config: float) -> None:
    """Run `test` on a fresh chat in its own loopback block, under the virtual clock."""
    prefix = new_block()

    async def main() -> None:
        chat = await open_chat(prefix, **config)
        try:
            await test(chat)
        finally:
            await chat.close()

    run_virtual(main(), wall_limit=wall_limit)


def udp_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> Iterator[bytes]:
    """Every datagram already waiting on `sock` (non-blocking)."""
    while True:
        try:
            yield sock.recv(65535)
        except BlockingIOError:
            return


def batches(items: list[bytes], size: int = BATCH) -> Iterator[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- the tests -------------------------------------------------------------------------------------

def to_peer_port() -> dict[str, list[bytes]]:
    return {"hypothesis": hypothesis_datagrams(simp_datagrams, 3000),
            "scapy fuzz(SIMP())": scapy_datagrams(3000, seed=7777, layer="SIMP")}


def to_client_port() -> dict[str, list[bytes]]:
    return {"hypothesis": hypothesis_datagrams(control_datagrams, 2000),
            "scapy fuzz(SIMPControl())": scapy_datagrams(2000, seed=7778, layer="SIMPControl")}


def to_client() -> dict[str, list[bytes]]:
    """Garbage for a client's socket.  That socket is connected to its daemon: only the daemon's
    address reaches it, and a well-formed Reply or event from there is the daemon speaking, so
    garbage is everything else (undecodable, or a request that only a daemon takes)."""
    sets = {"hypothesis": hypothesis_datagrams(control_datagrams, 1500),
            "scapy fuzz(SIMPControl())": scapy_datagrams(1500, seed=7779, layer="SIMPControl")}
    return {source: [d for d in data if malformed_for_client(d)] for source, data in sets.items()}


async def barrage_7777(chat: Chat, sock: socket.socket, datagrams: list[bytes]) -> None:
    """Send `datagrams` to alice's 7777 in batches, each one counted before the next goes out."""
    start = chat.alice.counters()

    def counted() -> tuple[int, int]:
        now = chat.alice.counters()
        return now.get("malformed", 0) - start.get("malformed", 0), now["received"] - start["received"]

    sent = malformed = 0
    for batch in batches(datagrams):
        for data in batch:
            sock.sendto(data, chat.alice_at)
        sent += len(batch)
        malformed += sum(map(malformed_7777, batch))
        want = (malformed, sent - malformed)  # chat traffic may add to `received`, never to `malformed`
        await until(lambda want=want: counted()[0] == want[0] and counted()[1] >= want[1],
                    lambda want=want: f"alice counted (malformed, received) = {counted()}, expected {want}")
        list(drain(sock))  # the stranger answers: not needed here


async def barrage_7778(chat: Chat, sock: socket.socket, datagrams: list[bytes]) -> None:
    """Send `datagrams` to alice's 7778 in batches; a Status request after each is the barrier."""
    loop = asyncio.get_running_loop()
    for number, batch in enumerate(batches(datagrams)):
        for data in batch:
            sock.sendto(data, (chat.prefix + "1", 7778))
        barrier = 0xFFFF0000 + number
        deadline = loop.time() + 10
        while True:  # re-sent until answered: answers to a stranger are rate-limited
            sock.sendto(ctl.encode(ctl.Status(ident=barrier)), (chat.prefix + "1", 7778))
            await asyncio.sleep(POLL)
            if any(isinstance(r := control_or_none(d), ctl.Reply) and r.ident == barrier
                   and " state=" in f" {r.text}" for d in drain(sock)):
                break
            assert loop.time() < deadline, f"no answer to Status barrier {number} within 10s"


def test_fuzz_at_both_daemon_ports_is_counted_exactly_and_the_chat_goes_on() -> None:
    to_peer = [d for data in to_peer_port().values() for d in data]
    to_daemon = [d for data in to_client_port().values() for d in data]
    assert len(to_peer) + len(to_daemon) >= 10_000
    bad_peer = sum(map(malformed_7777, to_peer))
    bad_client = sum(map(malformed_for_daemon, to_daemon))
    # the fuzz must reach past the first checks: some of it is well-formed, most of it is not
    assert 0 < len(to_peer) - bad_peer < bad_peer and 0 < len(to_daemon) - bad_client < bad_client

    async def test(chat: Chat) -> None:
        await chat.say("alice", "before 1", "before 2")
        await chat.say("bob", "before 3")
        before = chat.alice.counters()
        peer_sock, client_sock = udp_socket(chat.prefix + "9"), udp_socket(chat.prefix + "9")
        try:
            for part in range(4):  # the chat goes on in between the parts of the barrage
                await barrage_7777(chat, peer_sock, to_peer[part::4])
                await barrage_7778(chat, client_sock, to_daemon[part::4])
                await chat.say("alice" if part % 2 else "bob", f"during {part}")
        finally:
            peer_sock.close()
            client_sock.close()
        await chat.say("alice", "after 1", "after 2")
        await chat.say("bob", "after 3")
        after = chat.alice.counters()
        assert after["malformed"] - before.get("malformed", 0) == bad_peer
        assert after["malformed_control"] - before["malformed_control"] == bad_client
        status = await chat.a.status()  # the same counters over the wire: the client's Status request
        assert int(status["malformed"]) == after["malformed"] == bad_peer
        assert int(status["malformed_control"]) == after["malformed_control"] == bad_client
        assert status["state"] == "established"
        await chat.end()
        assert chat.received["bob"] == ["before 1", "before 2", "during 1", "during 3", "after 1", "after 2"]

    in_chat(test)


class Proxy:
    """Sits between a client and its daemon (at `listen`), forwarding both ways `delay` seconds
    late; `inject` sends anything to the client as if its daemon had sent it (the client's socket
    is connected to us)."""

    def __init__(self, daemon: tuple[str, int], delay: float = 0.0) -> None:
        self.daemon = daemon
        self.delay = delay
        self.client: tuple[str, int] | None = None
        self.front: asyncio.DatagramTransport | None = None
        self.back: asyncio.DatagramTransport | None = None
        self._front_socket: socket.socket | None = None

    async def start(self, listen: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        self._front_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._front_socket.bind(listen)
        self.front, _ = await loop.create_datagram_endpoint(lambda: _Forward(self._from_client),
                                                            sock=self._front_socket)
        self.back, _ = await loop.create_datagram_endpoint(lambda: _Forward(self._from_daemon),
                                                           local_addr=(listen[0], 0))

    def _from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        self.client = addr
        self._later(self.back, data, self.daemon)

    def _from_daemon(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.client is not None:
            self._later(self.front, data, self.client)

    def _later(self, transport: asyncio.DatagramTransport | None, data: bytes, to: tuple[str, int]) -> None:
        assert transport is not None
        if self.delay:
            asyncio.get_running_loop().call_later(self.delay, transport.sendto, data, to)
        else:
            transport.sendto(data, to)

    def inject(self, data: bytes) -> None:
        """Straight to the socket: an asyncio transport silently drops an empty datagram."""
        assert self.client is not None and self._front_socket is not None
        self._front_socket.sendto(data, self.client)

    def close(self) -> None:
        for transport in (self.front, self.back):
            if transport is not None:
                transport.close()


class _Forward(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.handler = handler

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.handler(data, addr)


def test_garbage_on_a_clients_socket_is_counted_and_events_still_arrive() -> None:
    garbage = [d for data in to_client().values() for d in data]
    assert len(garbage) >= 2700  # of 3000 generated, the rest being well-formed daemon messages
    prefix = new_block()

    async def main() -> None:
        proxy = Proxy((prefix + "1", 7778))
        await proxy.start((prefix + "8", 7778))
        chat = await open_chat(prefix, alice_client_at=(prefix + "8", 7778))
        try:
            await chat.say("bob", "before")
            await chat.say("alice", "reply before")
            assert chat.a.malformed == 0
            during = []
            for part, batch in enumerate(batches(garbage)):
                for data in batch:
                    proxy.inject(data)
                sent = min((part + 1) * BATCH, len(garbage))
                await until(lambda sent=sent: chat.a.malformed == sent,
                            lambda sent=sent: f"alice's client counted {chat.a.malformed} of {sent}")
                if part % 8 == 0:
                    during.append(f"during {part}")
                    await chat.say("bob", during[-1])
            await chat.say("bob", "after")
            await chat.say("alice", "reply after")
            assert chat.a.malformed == len(garbage)
            await chat.end()
            assert chat.received["alice"] == ["before", *during, "after"]
        finally:
            await chat.close()
            proxy.close()

    run_virtual(main(), wall_limit=60.0)


# -- what the fuzz consists of (for RELIABILITY.md: `python -m tests.test_fuzz`) ----------------------


def inventory() -> list[tuple[str, str, int, int]]:
    """(generator, destination, datagrams, malformed by the receiver's rule) for every fuzz set."""
    rows = []
    for to, sets, rule in (("7777", to_peer_port(), malformed_7777),
                           ("7778", to_client_port(), malformed_for_daemon),
                           ("client", to_client(), malformed_for_client)):
        for source, data in sets.items():
            rows.append((source, to, len(data), sum(map(rule, data))))
    return rows


if __name__ == "__main__":
    table = inventory()
    print(f"{'generator':26} {'to':7} {'sent':>6} {'malformed':>9} {'well-formed':>11}")
    for source, to, sent, bad in table:
        print(f"{source:26} {to:7} {sent:6} {bad:9} {sent - bad:11}")
    print(f"{'total':26} {'':7} {sum(r[2] for r in table):6} {sum(r[3] for r in table):9}")
