"""Dialect learning (simp.dialect): each trigger, chats with each stand-in dialect, and SPEC peers untouched.

The stand-in daemons (tests/standins/sloppy_daemon.py) reproduce the dialects seen in the field;
the property tests show that a SPEC peer on a path that only drops, with delays under half a
timeout, never makes a daemon learn anything, and that every message still arrives exactly once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import DEFAULT_CONFIG, Net
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.loopback import new_block
from sim.profiles import Implementation, UserEvent, builtin_profile, load_profile
from simp import events as ev
from simp import wire
from simp.client import Client
from simp.dialect import SPEC_LAYOUT, PeerDialect, SharedBit
from simp.wire import Op
from tests.standins import profile_path

T = DEFAULT_CONFIG.session.timeout
T_REAL = builtin_profile().timeout  # both daemons' timeout in the end-to-end tests


def short(type_: int, op: int, seq: int, user: str, payload: str = "") -> bytes:
    """A datagram with the short-fields stand-in's header: 16-byte user, 2-byte length."""
    body = payload.encode()
    return bytes([type_, op, seq]) + user.encode().ljust(16, b"\0") + len(body).to_bytes(2, "big") + body


def ack(seq: int, user: str = "bob") -> wire.Datagram:
    return wire.control(Op.ACK, seq, user)


# -- rule 1: field sizes -------------------------------------------------------------------------


def test_find_layout_reads_a_short_fields_syn_and_every_later_datagram_of_that_peer() -> None:
    syn = short(1, Op.SYN, 0, "bob")
    with pytest.raises(wire.MalformedDatagram):
        wire.decode(syn)
    layout = wire.find_layout(syn)
    assert layout is not None
    assert wire.decode_with(syn, *layout) == wire.control(Op.SYN, 0, "bob")
    long_text = "x" * 300  # longer than one length byte: the layout still reads it
    assert wire.decode_with(short(2, 1, 1, "bob", long_text), *layout) == wire.chat(1, "bob", long_text)


def test_find_layout_never_applies_to_spec_datagrams_chat_datagrams_or_garbage() -> None:
    assert wire.decode_with(wire.encode(wire.chat(1, "bob", "hi")), *SPEC_LAYOUT) == wire.chat(1, "bob", "hi")
    assert wire.find_layout(short(2, 1, 0, "bob", "hi")) is None  # only a handshake may show a layout
    assert wire.find_layout(b"\x01\x02\x00" + b"\xff" * 30) is None
    assert wire.find_layout(b"\x01\x02") is None


def test_a_short_fields_syn_plus_ack_teaches_the_layout_once() -> None:
    peer = PeerDialect(T)
    dg = peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), (16, 2), now=1.0)
    assert dg == wire.control(Op.SYN_ACK, 0, "bob")
    assert peer.layout == (16, 2) and peer.name == "short-fields(21)"
    assert len(peer.learned) == 1 and "its SYN+ACK decodes only with a 21-byte header" in peer.learned[0]


# -- rule 2: ack-next ----------------------------------------------------------------------------


def test_ack_next_is_learned_after_the_next_bit_answers_two_transmissions() -> None:
    peer = PeerDialect(T)
    peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), SPEC_LAYOUT, now=0.0)
    first = peer.outgoing(wire.chat(0, "alice", "hi"))
    assert first == wire.chat(0, "alice", "hi")  # sent as SPEC says
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=0.1) == ack(1)
    assert not peer.ack_next  # one stale ACK is possible from a SPEC peer
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=0.2) == ack(1)
    assert not peer.ack_next  # still the same transmission
    peer.outgoing(wire.chat(0, "alice", "hi"))  # the retransmission
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=T) == ack(0)
    assert peer.ack_next and peer.name == "ack-next"
    # the peer's own chat datagrams: our echoing ACK goes out with the next bit, as it expects
    assert peer.incoming(wire.chat(0, "bob", "yo"), SPEC_LAYOUT, now=T + 1) == wire.chat(0, "bob", "yo")
    assert peer.outgoing(wire.control(Op.ACK, 0, "alice")) == wire.control(Op.ACK, 1, "alice")
    peer.settle()
    assert peer.outgoing(wire.control(Op.FIN, 1, "alice")) == wire.control(Op.FIN, 1, "alice")
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=T + 2) == ack(1)


def test_an_echoing_ack_between_resets_the_ack_next_evidence() -> None:
    peer = PeerDialect(T)
    peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), SPEC_LAYOUT, now=0.0)
    peer.outgoing(wire.chat(0, "alice", "one"))
    peer.incoming(ack(1), SPEC_LAYOUT, now=0.1)  # stale
    peer.incoming(ack(0), SPEC_LAYOUT, now=0.2)  # the real one
    peer.outgoing(wire.chat(1, "alice", "two"))
    peer.incoming(ack(0), SPEC_LAYOUT, now=0.3)  # stale again
    peer.outgoing(wire.chat(1, "alice", "two"))
    peer.incoming(ack(1), SPEC_LAYOUT, now=T)
    assert peer.name == "spec"


# -- rule 3: first-bit-1 -------------------------------------------------------------------------


def test_first_bit_1_is_learned_from_a_first_chat_with_bit_1_after_half_a_timeout() -> None:
    peer = PeerDialect(T)
    peer.incoming(wire.control(Op.SYN, 0, "bob"), SPEC_LAYOUT, now=0.0)
    too_early = T / 2 - 0.01
    assert peer.incoming(wire.chat(1, "bob", "hi"), SPEC_LAYOUT, now=too_early) is None  # maybe a straggler
    assert peer.name == "spec"
    assert peer.incoming(wire.chat(1, "bob", "hi"), SPEC_LAYOUT, now=T) == wire.chat(0, "bob", "hi")
    assert peer.name == "first-bit-1" and peer.flip_ours
    assert peer.outgoing(wire.control(Op.ACK, 0, "alice")) == wire.control(Op.ACK, 1, "alice")
    peer.settle()
    assert peer.outgoing(wire.chat(0, "alice", "yo")) == wire.chat(1, "alice", "yo")  # its convention
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=T + 1) == ack(0)
    assert peer.incoming(wire.chat(0, "bob", "again"), SPEC_LAYOUT, now=T + 2) == wire.chat(1, "bob", "again")


def test_first_bit_1_after_our_first_message_keeps_our_bits() -> None:
    peer = PeerDialect(T)
    peer.incoming(wire.control(Op.SYN, 0, "bob"), SPEC_LAYOUT, now=0.0)
    peer.outgoing(wire.chat(0, "alice", "lost as a duplicate"))
    peer.incoming(ack(0), SPEC_LAYOUT, now=0.1)
    assert peer.incoming(wire.chat(1, "bob", "hi"), SPEC_LAYOUT, now=T) == wire.chat(0, "bob", "hi")
    assert peer.first_bit_1 and not peer.flip_ours
    assert "one went out first" in peer.learned[0]
    assert peer.outgoing(wire.chat(1, "alice", "next")) == wire.chat(1, "alice", "next")


def test_first_bit_1_is_not_learned_when_we_invited() -> None:
    """A copy of our handshake ACK may have acknowledged a SPEC peer's lost first message."""
    peer = PeerDialect(T)
    peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), SPEC_LAYOUT, now=0.0)
    assert peer.incoming(wire.chat(1, "bob", "hi"), SPEC_LAYOUT, now=T) == wire.chat(1, "bob", "hi")
    assert peer.name == "spec"


def test_a_first_chat_with_bit_0_rules_out_first_bit_1() -> None:
    peer = PeerDialect(T)
    peer.incoming(wire.control(Op.SYN, 0, "bob"), SPEC_LAYOUT, now=0.0)
    assert peer.incoming(wire.chat(0, "bob", "a"), SPEC_LAYOUT, now=T) == wire.chat(0, "bob", "a")
    assert peer.incoming(wire.chat(1, "bob", "b"), SPEC_LAYOUT, now=2 * T) == wire.chat(1, "bob", "b")
    assert peer.name == "spec"


# -- SPEC peers never teach a dialect (drop-only, delays under T/2) ------------------------------


def one_chat(net: Net, inviter: str, invitee: str, texts: dict[str, list[str]],
             said: dict[str, dict[int, str]]) -> None:
    """A chat with whatever faults the net has: invite, accept, say everything, quit, run out.
    Adds what each user said to `said`, by message id."""
    invitations = len(net.events(invitee, ev.Invitation))
    started = {name: len(net.events(name, ev.ChatStarted)) for name in (inviter, invitee)}
    net.start(inviter, invitee)
    net.run_until(lambda: len(net.events(invitee, ev.Invitation)) > invitations or not net[inviter].busy)
    if net[invitee].current is not None:
        net.accept(invitee)
        net.run_until(lambda: all(len(net.events(n, ev.ChatStarted)) > started[n] for n in started)
                      or not (net[inviter].busy and net[invitee].busy))
    for turn in range(max(len(v) for v in texts.values())):
        for name, words in texts.items():
            if turn < len(words) and net[name].busy and net[name].current.began:
                said.setdefault(name, {})[net.say(name, words[turn])] = words[turn]
        net.advance()

    def settled() -> bool:
        return all(set(said.get(n, {})) <= set(net.delivered(n)) or not net[n].busy for n in texts)

    while not settled() and net.advance():
        pass
    for name in (inviter, invitee):
        if net[name].busy:
            net.quit(name)
    net.run()


def assert_exactly_once(net: Net, sender: str, receiver: str, said: dict[int, str]) -> None:
    """Shown at most once, in order, never invented; confirmed only if shown."""
    got = net.received(receiver)
    assert len(got) == len(set(got)), f"shown twice:\n{net.ladder()}"
    assert got == [t for t in said.values() if t in got], f"invented or out of order:\n{net.ladder()}"
    confirmed = [said[i] for i in net.delivered(sender) if i in said]
    assert set(confirmed) <= set(got), f"confirmed but never shown:\n{net.ladder()}"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), loss=st.floats(0.0, 0.35), count=st.integers(1, 3))
def test_spec_peers_on_drop_only_paths_never_teach_a_dialect(seed: int, loss: float, count: int) -> None:
    rng = random.Random(seed)
    net = Net("alice", "bob", drop=lambda s, d, dg: rng.random() < loss,
              latency=lambda s, d, dg: rng.uniform(0.0, T / 2 * 0.999), keep_order=False)
    first = {"alice": [f"a{i}" for i in range(count)], "bob": [f"b{i}" for i in range(count)]}
    second = {"alice": [f"c{i}" for i in range(count)], "bob": [f"d{i}" for i in range(count)]}
    said: dict[str, dict[int, str]] = {"alice": {}, "bob": {}}
    one_chat(net, "alice", "bob", first, said)
    one_chat(net, "bob", "alice", second, said)  # at once: the first chat's stragglers may still come
    for name in ("alice", "bob"):
        assert net[name].dialect_notes() == [], net.ladder()
    assert_exactly_once(net, "alice", "bob", said["alice"])
    assert_exactly_once(net, "bob", "alice", said["bob"])
    if loss == 0.0:  # a clean path delivers everything, so the property above is not vacuous
        assert net.received("bob") == first["alice"] + second["alice"], net.ladder()


# -- end to end: our daemon and each stand-in dialect -------------------------------------------


async def next_of(get: Callable[[float], Awaitable[object]], wanted: Callable[[object], bool],
                  seen: list[object], timeout: float = 20.0) -> object:
    """The next event `wanted` accepts, keeping every event in `seen`; TimeoutError after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await get(max(0.01, deadline - loop.time()))
        seen.append(event)
        if wanted(event):
            return event


def shown(kind: str, text: str | None = None) -> Callable[[object], bool]:
    return lambda e: (isinstance(e, UserEvent) and e.kind == kind
                      and (text is None or e.fields.get("text") == text))


def ours(kind: type[ev.Event], text: str | None = None) -> Callable[[object], bool]:
    return lambda e: isinstance(e, kind) and (text is None or getattr(e, "text", None) == text)


LEARNABLE = [  # dialect, who invites, who speaks first, what our status shows
    ("ack-next", "we", "we", "ack-next"),
    ("first-bit-1", "they", "they", "first-bit-1"),
    ("short-fields", "they", "we", "short-fields(21)"),
    ("short-fields", "we", "they", "short-fields(21)"),
]


@pytest.mark.parametrize(("dialect", "inviter", "first", "status"), LEARNABLE)
def test_our_daemon_learns_the_standins_dialect_and_chats_exactly_once(
        dialect: str, inviter: str, first: str, status: str, tmp_path: Path) -> None:
    block = new_block()
    daemon = Implementation(builtin_profile(), block + "1")
    standin = Implementation(load_profile(profile_path(dialect, tmp_path)), block + "2")

    async def chat() -> tuple[dict[str, str], list[object], list[object], list[str]]:
        ours_seen: list[object] = []
        theirs_seen: list[object] = []
        await daemon.start()
        await standin.start()
        client = Client(daemon.ip, daemon.profile.client_port)
        bob = standin.user()
        try:
            await client.connect("alice")
            await bob.connect("bob")
            if inviter == "we":
                await client.start(standin.ip)
                await next_of(bob.next_event, shown("invitation"), theirs_seen)
                await bob.accept()
            else:
                await bob.start(daemon.ip)
                await next_of(client.next_event, ours(ev.Invitation), ours_seen)
                await client.accept()
            await next_of(client.next_event, ours(ev.ChatStarted), ours_seen)
            await next_of(bob.next_event, shown("chat_started"), theirs_seen)
            for round_ in range(2):
                for speaker in (["we", "they"] if first == "we" else ["they", "we"]):
                    if speaker == "we":
                        await client.say(f"from alice {round_}")
                        await next_of(bob.next_event, shown("message", f"from alice {round_}"), theirs_seen)
                        await next_of(client.next_event, ours(ev.MessageDelivered), ours_seen)
                    else:
                        await bob.say(text := f"from bob {round_}")
                        await next_of(client.next_event, ours(ev.MessageReceived, text), ours_seen)
            state = await client.status()
            # anything still coming (a re-sent datagram shown twice, a give-up) within a few timeouts
            with pytest.raises(TimeoutError):
                await next_of(client.next_event, lambda e: True, ours_seen, timeout=4 * T_REAL)
            with pytest.raises(TimeoutError):
                await next_of(bob.next_event, lambda e: True, theirs_seen, timeout=0.1)
            return state, ours_seen, theirs_seen, daemon.output()
        finally:
            await client.close()
            await bob.close()
            await daemon.close()
            await standin.close()

    state, ours_seen, theirs_seen, log = asyncio.run(chat())
    assert state["dialect"] == status
    assert [e.text for e in ours_seen if isinstance(e, ev.MessageReceived)] == ["from bob 0", "from bob 1"]
    assert [e.fields["text"] for e in theirs_seen if isinstance(e, UserEvent) and e.kind == "message"] == \
        ["from alice 0", "from alice 1"]
    assert len([e for e in ours_seen if isinstance(e, ev.MessageDelivered)]) == 2
    assert not [e for e in ours_seen if isinstance(e, ev.ChatEnded)]
    learned = [line for line in log if "speaks a SIMP dialect" in line]
    assert len(learned) == 1 and " INFO " in learned[0], log


def test_model_checker_spec_peers_drop_only_never_teach_a_dialect() -> None:
    """Every node state the checker reaches (unmodified Nodes, drop-only, delays under T/2; small
    bounds for CI, the README gives the figures of larger runs) has learned nothing, and the
    checker's own properties (exactly once, in order, accounted) hold.  Alice offers the extension
    and bob does not, so the chat runs plain SIMP with the dialect layer active on both sides."""
    from sim.check.bfs import check
    from sim.check.model import Bounds, Model

    bounds = Bounds(messages=1, losses=1, extension="one")
    model = Model(bounds)
    outcome = check(bounds, model=model)
    assert outcome.complete and outcome.passed, {p: outcome.verdict(p) for p in outcome.found}
    layered = 0
    for node in model.table.nodes:
        assert node.dialect_notes() == []
        sessions = [node.current, *node._ended.values()] if node.current else list(node._ended.values())
        for session in sessions:
            peer = vars(session).get("dialect")
            layered += peer is not None
            assert peer is None or peer.name == "spec"
    assert layered > 0  # the layer really saw these chats


# -- pure: one Node against a scripted peer of each bit dialect ----------------------------------


class NodeShapedPeer:
    """What the scripted peers below share: shaped like a Node for Net, one datagram in flight,
    re-sent every timeout by the subclass's `handle_timer`, what its user said queued in `outbox`
    and what it was shown in `shown`."""

    def __init__(self, me: str, peer: tuple[str, int]) -> None:
        self.me, self.peer = me, peer
        self.inflight: wire.Datagram | None = None
        self.deadline: float | None = None
        self.outbox: list[str] = []
        self.out: list[tuple[tuple[str, int], wire.Datagram]] = []
        self.shown: list[str] = []
        self.chatting = False
        self.busy = True

    def invite(self, now: float) -> None:
        self._reliably(wire.control(Op.SYN, 0, self.me), now)

    def say(self, text: str, now: float) -> None:
        self.outbox.append(text)
        self._pump(now)

    def _reliably(self, dg: wire.Datagram, now: float) -> None:
        self.inflight, self.deadline = dg, now + T
        self.out.append((self.peer, dg))

    @property
    def chat_bit(self) -> int:
        """The bit of this peer's next chat datagram."""
        raise NotImplementedError

    def _pump(self, now: float) -> None:
        if self.inflight is None and self.outbox and self.chatting:
            self._reliably(wire.chat(self.chat_bit, self.me, self.outbox.pop(0)), now)

    def handle_timer(self, now: float) -> None:
        if self.inflight is not None and self.deadline is not None and now >= self.deadline:
            self.deadline = now + T
            self.out.append((self.peer, self.inflight))

    def get_timer(self) -> float | None:
        return self.deadline

    def datagrams_to_send(self) -> list[tuple[tuple[str, int], wire.Datagram]]:
        out, self.out = self.out, []
        return out

    def events(self) -> list[ev.Event]:
        return []

    def notes(self) -> list[str]:
        return []


def take_turns(net: Net, bob: NodeShapedPeer, first: str, *, until_acknowledged: bool = False,
               pause: float = 0.0, bob_waits: bool = False) -> None:
    """Three rounds of strict turns between alice (our node) and bob, `first` speaking first
    ("hello i" and "hi i"); each turn waits until its message is confirmed to alice or shown to
    her (and, with `until_acknowledged`, until bob has her ACK), then `pause` seconds.
    `bob_waits`: bob speaks only after the net's next deadline."""
    order = [("alice", "hello"), ("bob", "hi")]
    if first == "bob":
        order.reverse()
    for round_ in range(3):
        for who, text in order:
            if who == "alice":
                net.say("alice", f"{text} {round_}")
                net.run_until(lambda n=round_ + 1: len(net.delivered("alice")) == n)
            else:
                if bob_waits:
                    net.advance()
                bob.say(f"{text} {round_}", net.now)
                net.pump()
                net.run_until(lambda n=round_ + 1: len(net.received("alice")) == n
                              and (bob.inflight is None or not until_acknowledged))
            net.run(until=net.now + pause)


class ScriptedPeer(NodeShapedPeer):
    """A sans-IO peer speaking `dialect` (ack-next or first-bit-1), shaped like a Node for Net:
    the same behaviour as tests/standins/sloppy_daemon.py, minus sockets and stdin."""

    def __init__(self, dialect: str, me: str, peer: tuple[str, int]) -> None:
        super().__init__(me, peer)
        self.dialect = dialect
        self.bit_out = self.bit_in = 1 if dialect == "first-bit-1" else 0

    @property
    def chat_bit(self) -> int:
        return self.bit_out

    def receive(self, data: bytes, source: tuple[str, int], now: float) -> None:
        dg = wire.decode(data)
        if dg.is_control(Op.SYN) and not self.chatting:
            self.out.append((source, wire.control(Op.SYN_ACK, 0, self.me)))  # accepts at once
        elif dg.is_control(Op.SYN_ACK):
            self.out.append((source, ack(0, self.me)))
            self.inflight = self.deadline = None
            self.chatting = True
        elif dg.is_control(Op.ACK) and not self.chatting:
            self.chatting = True
        elif dg.is_chat:
            self.chatting = True
            if dg.seq == self.bit_in:
                self.shown.append(dg.payload)
                self.bit_in ^= 1
            self.out.append((source, ack(self.bit_in if self.dialect == "ack-next" else dg.seq, self.me)))
        elif dg.is_control(Op.ACK) and self.inflight is not None and self.inflight.is_chat:
            wanted = self.inflight.seq ^ (self.dialect == "ack-next")
            if dg.seq == wanted:
                self.inflight = self.deadline = None
                self.bit_out ^= 1
        self._pump(now)


@pytest.mark.parametrize("dialect", ["ack-next", "first-bit-1"])
def test_a_node_chats_exactly_once_with_a_scripted_dialect_peer_over_a_lossy_path(dialect: str) -> None:
    """The peer invites (first-bit-1 is learned only then) and, for ack-next, we speak first
    (learned from our retransmission); then both sides say three messages, with losses."""
    lost = iter([False, False, False, True] * 40)
    net = Net("alice", "bob", drop=lambda s, d, dg: dg.is_chat and next(lost))
    bob = ScriptedPeer(dialect, "bob", net.addr("alice"))
    net.nodes["bob"] = bob  # type: ignore[assignment]
    bob.invite(net.now)
    net.pump()
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.accept("alice")
    net.run_until(lambda: bob.chatting)
    # (bob speaks a moment after the handshake: not mistaken for a straggler)
    take_turns(net, bob, "bob" if dialect == "first-bit-1" else "alice", bob_waits=True)
    net.run(until=net.now + 10 * T)
    assert net["alice"].dialect == dialect
    assert bob.shown == [f"hello {i}" for i in range(3)], net.ladder()
    assert net.received("alice") == [f"hi {i}" for i in range(3)], net.ladder()
    assert bob.inflight is None and not bob.outbox, net.ladder()  # every message of its acknowledged


# -- shared-bit: set by configuration, never learned ----------------------------------------------


def shared_peer() -> PeerDialect:
    return PeerDialect(T, shared=SharedBit())


def test_shared_bit_starts_at_1_after_the_handshake_and_flips_on_each_delivery_either_way() -> None:
    peer = shared_peer()
    peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), SPEC_LAYOUT, now=0.0)  # we invited
    assert peer.name == "shared-bit (set by configuration)"
    sent = peer.outgoing(wire.chat(0, "alice", "one"))
    assert sent.seq == 1  # its handshake used bit 0
    assert peer.outgoing(wire.chat(0, "alice", "one")) == sent  # a retransmission goes out the same
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=0.1) == ack(0)  # the session's bit, acknowledged
    # the peer's reply carries the next shared bit, 0: new, handed as the session's first (0)
    assert peer.incoming(wire.chat(0, "bob", "two"), SPEC_LAYOUT, now=0.2) == wire.chat(0, "bob", "two")
    assert peer.outgoing(ack(0, "alice")) == ack(0, "alice")
    peer.settle()
    # our next message (the session's bit 1) takes the shared bit, now 1 again
    assert peer.outgoing(wire.chat(1, "alice", "three")).seq == 1
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=0.3) == ack(1)
    # and the peer's next one comes with 0 (session: its second message, bit 1)
    assert peer.incoming(wire.chat(0, "bob", "four"), SPEC_LAYOUT, now=0.4).seq == 1
    assert peer.outgoing(ack(1, "alice")) == ack(0, "alice")  # echoes the bit it came with
    assert peer.learned == []


def test_shared_bit_a_copy_of_the_peers_message_is_a_duplicate_acknowledged_with_its_own_bit() -> None:
    peer = shared_peer()
    peer.outgoing(wire.control(Op.SYN_ACK, 0, "alice"))  # it invited, we accepted
    assert peer.incoming(wire.chat(1, "bob", "hi"), SPEC_LAYOUT, now=1.0) == wire.chat(0, "bob", "hi")
    assert peer.outgoing(ack(0, "alice")) == ack(1, "alice")
    peer.settle()
    # our ACK was lost: the same datagram again, now with the bit we no longer expect
    assert peer.incoming(wire.chat(1, "bob", "hi"), SPEC_LAYOUT, now=6.0) == wire.chat(0, "bob", "hi")
    assert peer.outgoing(ack(0, "alice")) == ack(1, "alice")  # the session's re-ACK, with its bit
    peer.settle()
    assert peer.outgoing(wire.chat(0, "alice", "hello")).seq == 0  # the bit moved once only


def test_shared_bit_an_ack_with_another_bit_is_stale_for_the_session() -> None:
    peer = shared_peer()
    peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), SPEC_LAYOUT, now=0.0)
    peer.outgoing(wire.chat(0, "alice", "one"))
    assert peer.incoming(ack(0), SPEC_LAYOUT, now=0.1) == ack(1)  # not the bit it went out with
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=0.2) == ack(0)


def test_shared_bit_fin_carries_the_shared_bit_and_its_ack_reaches_the_session() -> None:
    peer = shared_peer()
    assert peer.outgoing(wire.control(Op.FIN, 0, "alice")).seq == 0  # before a handshake: 0 (decline)
    peer = shared_peer()
    peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), SPEC_LAYOUT, now=0.0)
    assert peer.outgoing(wire.control(Op.FIN, 0, "alice")) == wire.control(Op.FIN, 1, "alice")
    assert peer.incoming(ack(1), SPEC_LAYOUT, now=0.1) == ack(0)


def test_shared_bit_a_probe_goes_out_as_a_duplicate_never_as_a_new_message() -> None:
    peer = shared_peer()
    peer.incoming(wire.control(Op.SYN_ACK, 0, "bob"), SPEC_LAYOUT, now=0.0)
    peer.outgoing(wire.chat(0, "alice", "one"))
    peer.incoming(ack(1), SPEC_LAYOUT, now=0.1)  # the shared bit is 0 now
    assert peer.outgoing(wire.chat(0, "alice", "one")).seq == 1  # Session.probe: a copy, not bit 0


def configured_net(**peer_dialects: str) -> Net:
    """alice and bob (10.0.0.1, 10.0.0.2); alice is told the named hosts' dialects."""
    told = tuple((f"10.0.0.{ {'alice': 1, 'bob': 2}[h] }", d) for h, d in peer_dialects.items())
    return Net("alice", "bob", config=replace(DEFAULT_CONFIG, peer_dialects=told))


def test_a_shared_bit_peers_fin_err_is_err_then_fin_for_the_session_and_acknowledged() -> None:
    net = configured_net(bob="shared-bit")
    net.start("alice", "bob")
    refusal = wire.encode(wire.control(Op.ERR, 0, "bob", "Chat invitation rejected."))
    net.inject("bob", "alice", refusal[:1] + bytes([Op.FIN | Op.ERR]) + refusal[2:])
    assert [e.text for e in net.events("alice", ev.PeerError)] == ["Chat invitation rejected."]
    assert net.reasons("alice") == [ev.EndReason.REFUSED]
    assert [h.dg for h in net.transcript if h.src == "alice"][-1] == ack(0, "alice")


def test_fin_err_is_malformed_for_a_peer_not_configured_as_shared_bit() -> None:
    net = configured_net()
    net.start("alice", "bob")
    refusal = wire.encode(wire.control(Op.ERR, 0, "bob", "Chat invitation rejected."))
    net.inject("bob", "alice", refusal[:1] + bytes([Op.FIN | Op.ERR]) + refusal[2:])
    assert net["alice"].counters()["malformed"] == 1 and net["alice"].busy


class SharedBitPeer(NodeShapedPeer):
    """A sans-IO peer with one bit for both directions, starting at 1 after the handshake, that
    drops a chat datagram with another bit without an ACK (tests/standins, dialect shared-bit-1).
    `late_copy`: once a message of its is acknowledged, it still re-sends it once when its timer
    runs out (the race of the student daemon this dialect comes from)."""

    def __init__(self, me: str, peer: tuple[str, int], *, late_copy: bool = False) -> None:
        super().__init__(me, peer)
        self.late_copy = late_copy
        self.late: tuple[wire.Datagram, float] | None = None
        self.bit = 0
        self.accepting = False

    @property
    def chat_bit(self) -> int:
        return self.bit

    def receive(self, data: bytes, source: tuple[str, int], now: float) -> None:
        dg = wire.decode(data)
        if dg.is_control(Op.SYN) and not self.chatting:
            self.accepting = True  # accepts at once
            self.out.append((source, wire.control(Op.SYN_ACK, 0, self.me)))
        elif dg.is_control(Op.SYN_ACK) and not self.chatting:
            self.out.append((source, ack(0, self.me)))
            self.inflight = self.deadline = None
            self.chatting, self.bit = True, 1
        elif dg.is_control(Op.ACK) and self.accepting and not self.chatting:
            self.chatting, self.bit = True, 1
        elif dg.is_chat and self.chatting and dg.seq == self.bit:
            self.shown.append(dg.payload)
            self.out.append((source, ack(dg.seq, self.me)))
            self.bit ^= 1
        elif dg.is_control(Op.ACK) and self.inflight is not None and dg.seq == self.inflight.seq:
            if self.late_copy and self.inflight.is_chat and self.deadline is not None:
                self.late = (self.inflight, self.deadline)
            self.inflight = self.deadline = None
            self.bit ^= 1
        self._pump(now)

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        if self.late is not None and now >= self.late[1]:
            self.out.append((self.peer, self.late[0]))
            self.late = None

    def get_timer(self) -> float | None:
        return min((t for t in (self.deadline, self.late and self.late[1]) if t is not None), default=None)


@pytest.mark.parametrize("first", ["alice", "bob"])
def test_a_configured_node_chats_exactly_once_with_a_shared_bit_peer_losing_chats_and_our_acks(
        first: str) -> None:
    """bob invites; strict turns, three messages each; every fourth chat datagram and every
    third ACK of ours is lost (the peer re-sends; a lost ACK of *its* would stall it for good,
    SharedBit's docstring)."""
    lost_chat = iter([False, False, False, True] * 40)
    lost_ack = iter([False, False, True] * 40)
    net = configured_net(bob="shared-bit")
    net.random_drop = lambda s, d, dg: next(lost_chat) if dg.is_chat else (
        s == "alice" and dg.is_control(Op.ACK) and net["alice"].current is not None
        and net["alice"].current.began and next(lost_ack))
    bob = SharedBitPeer("bob", net.addr("alice"))
    net.nodes["bob"] = bob  # type: ignore[assignment]
    bob.invite(net.now)
    net.pump()
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.accept("alice")
    net.run_until(lambda: bob.chatting and bool(net.events("alice", ev.ChatStarted)))
    take_turns(net, bob, first, until_acknowledged=True)
    net.run(until=net.now + 10 * T)
    assert net["alice"].dialect == "shared-bit (set by configuration)"
    assert bob.shown == [f"hello {i}" for i in range(3)], net.ladder()
    assert net.received("alice") == [f"hi {i}" for i in range(3)], net.ladder()
    assert any(h.fate == "dropped" and h.src == "alice" and h.dg.is_control(Op.ACK) for h in net.transcript)
    assert any(h.fate == "dropped" and h.dg.is_chat for h in net.transcript)
    assert net["alice"].dialect_notes() == []  # nothing learned


def test_the_same_peer_not_configured_stays_spec_and_learns_nothing() -> None:
    """Without --peer-dialect the shared-bit peer's first message (bit 1, we invited) is a SPEC
    duplicate: acknowledged and not shown, as SPEC says; no dialect is learned."""
    net = configured_net()
    bob = SharedBitPeer("bob", net.addr("alice"))
    net.nodes["bob"] = bob  # type: ignore[assignment]
    net.start("alice", "bob")
    net.run_until(lambda: bob.chatting)
    bob.say("hi", net.now)
    net.pump()
    net.run(until=net.now + 2 * T)
    assert net["alice"].dialect == "spec" and net["alice"].dialect_notes() == []
    assert net.received("alice") == [] and bob.inflight is None  # acknowledged as a duplicate: lost


@pytest.mark.parametrize("first", ["alice", "bob"])
def test_a_late_copy_of_the_shared_bit_peers_acknowledged_message_is_not_shown_again(first: str) -> None:
    """The peer re-sends each of its messages once more a timeout after it went out, although our
    ACK came; by then one message of ours went through, the bit has come round, and the copy
    looks new: it is dropped, and the peer's next message, with the same bit, is shown."""
    net = configured_net(bob="shared-bit")
    bob = SharedBitPeer("bob", net.addr("alice"), late_copy=True)
    net.nodes["bob"] = bob  # type: ignore[assignment]
    net.start("alice", "bob")
    net.run_until(lambda: bob.chatting and bool(net.events("alice", ev.ChatStarted)))
    take_turns(net, bob, first, pause=0.6 * T)  # turns 3 s apart: a late copy comes after the next turn
    net.run(until=net.now + 10 * T)
    assert net.received("alice") == [f"hi {i}" for i in range(3)], net.ladder()
    assert bob.shown == [f"hello {i}" for i in range(3)], net.ladder()
    assert bob.inflight is None and not bob.outbox, net.ladder()
    late = [h for h in net.transcript if h.src == "bob" and h.dg.is_chat]
    assert len(late) == 6, net.ladder()  # each message twice: the race really happened
    assert any("a late copy of the peer's last message" in n for n in net.notes["alice"]), net.notes


def test_the_same_text_twice_from_a_shared_bit_peer_is_shown_twice_one_retransmission_later() -> None:
    """What the stale-copy rule costs: the peer's user says the same text again after one message
    of ours; the first copy is taken for stale and dropped, the peer re-sends it, and it is shown."""
    net = configured_net(bob="shared-bit")
    bob = SharedBitPeer("bob", net.addr("alice"))
    net.nodes["bob"] = bob  # type: ignore[assignment]
    net.start("alice", "bob")
    net.run_until(lambda: bob.chatting and bool(net.events("alice", ev.ChatStarted)))
    bob.say("ok", net.now)
    net.pump()
    net.say("alice", "sure?")
    net.run_until(lambda: bool(net.delivered("alice")))
    bob.say("ok", net.now)
    net.pump()
    net.run(until=net.now + 10 * T)
    assert net.received("alice") == ["ok", "ok"], net.ladder()
    assert bob.shown == ["sure?"] and bob.inflight is None, net.ladder()


def test_a_tagged_datagram_teaches_nothing_even_to_a_chat_not_extended_yet() -> None:
    """Explorer seed 5823: a restarted daemon's invitation, offering SIMPX/1 and not yet answered,
    got its predecessor's chat straggler: a tagged CHAT with bit 1, 5.5 s after a SYN.  Taken as a
    first CHAT with bit 1, it taught first-bit-1, which no SPEC daemon may ever teach; a tag says
    the sender is a SIMPX/1 daemon, on SPEC's bits."""
    from simp.dialect import Dialects
    from simp.extension import FramedSession, Tag

    dialects = Dialects(T)
    chat = FramedSession.initiate(DEFAULT_CONFIG.session, local_user="bob", peer=("127.0.0.1", 7777), now=0.0)
    chat.offer("b3c4.1.r2")
    syn = wire.control(Op.SYN, 0, "alice", Tag("a1b2.4", 0).encode())
    assert dialects.incoming(chat, syn, 0.0) == syn
    straggler = wire.chat(1, "alice", Tag("b3c4.1+a1b2.4", 2).encode() + "a4-2")
    assert dialects.incoming(chat, straggler, 5.5) == straggler
    assert dialects.notes() == []
