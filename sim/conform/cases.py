"""The conformance cases: each one a short script of datagrams, user steps and expectations.

Written from the protocol (docs/PROTOCOL.md, SPEC "Datagram format" to "Tear-down"), not from
our daemon: the raw peer knows only the wire.  A case raises `Deviation` with the difference in
protocol terms, or `NotApplicable` when the implementation's user cannot take a needed step.
Dialects seen in the field have their own cases, so their names appear in the report as such:
an ACK that carries the next expected bit instead of echoing the message's bit, a first chat
datagram with bit 1, one bit shared by both directions, and field sizes that differ from SPEC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sim.conform.context import PEER, USER, Ctx
from sim.conform.peer import Deviation, Got, kind
from simp import wire

Body = Callable[[Ctx], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    title: str
    body: Body


CASES: list[Case] = []


def case(id: str, group: str, title: str) -> Callable[[Body], Body]:
    def register(body: Body) -> Body:
        CASES.append(Case(id, group, title, body))
        return body
    return register


# -- explaining bytes ------------------------------------------------------------------------


def explain_format(data: bytes, want: wire.Datagram) -> str | None:
    """None when `data` is exactly SPEC's encoding of `want`, else what differs, field by field."""
    good = wire.encode(want)
    if data == good:
        return None
    if len(data) != len(good):
        sizes = _infer_sizes(data, want)
        return (f"{want.label} is {len(data)} bytes where SPEC's encoding is {len(good)} "
                f"(header 39 = type 1 + op 1 + seq 1 + user 32 + length 4)" + (f": {sizes}" if sizes else ""))
    diffs = []
    names = ("type", "operation", "sequence")
    for i, name in enumerate(names):
        if data[i] != good[i]:
            diffs.append(f"{name} byte {data[i]:#04x} instead of {good[i]:#04x}")
    if data[2] != good[2] and want.is_chat:
        diffs[-1] += " (the first chat datagram carries bit 1; each direction starts at bit 0)"
    user, good_user = data[3:35], good[3:35]
    if user != good_user:
        if user.rstrip(b" ") == want.user.encode() and user.endswith(b" "):
            diffs.append("user field padded with spaces instead of NUL bytes (receivers tolerate it; "
                         "SPEC sends NULs)")
        else:
            diffs.append(f"user field {user.rstrip(bytes(1))!r} instead of {want.user!r} padded with NULs")
    if data[35:39] != good[35:39]:
        n = len(want.payload)
        if int.from_bytes(data[35:39], "little") == n:
            diffs.append("length field is little-endian (SPEC: big-endian, network order)")
        else:
            diffs.append(f"length field says {int.from_bytes(data[35:39], 'big')} for {n} payload bytes")
    if data[39:] != good[39:]:
        diffs.append(f"payload {data[39:]!r} instead of {good[39:]!r}")
    return "; ".join(diffs)


def control_format(data: bytes, op: wire.Op, seq: int) -> str | None:
    """explain_format for a control datagram, where SPEC's interoperability rule lets a payload
    ride along (receivers ignore it; a negotiated extension may use it): the header must be
    exact, the length must count the payload."""
    try:
        payload = wire.decode(data).payload
    except wire.MalformedDatagram:
        payload = ""
    return explain_format(data, wire.control(op, seq, USER, payload))


def _infer_sizes(data: bytes, want: wire.Datagram) -> str:
    payload = want.payload.encode()
    if payload and not data.endswith(payload):
        return ""
    header = len(data) - len(payload)
    user = want.user.encode()
    if data[3:3 + len(user)] != user:
        return f"a header of {header} bytes"
    if not payload:
        return f"a header of {header} bytes (user and length fields together {header - 3} bytes; SPEC: 36)"
    fits = [(header - 3 - k, k, order) for k in (4, 2, 1, 8) for order in ("big", "little")
            if header - k >= 3 + len(user) and data[header - k:header] == len(payload).to_bytes(k, order)
            and (order == "big" or k > 1)]
    if fits:
        # NUL padding and a length's leading zero bytes look alike: prefer a user field whose size is a
        # multiple of 8 (as programmers pick them) and name the other splits the bytes allow
        fits.sort(key=lambda f: (f[0] % 8 != 0, f[2] != "big"))
        (u, k, order), others = fits[0], fits[1:]
        text = (f"a user field of {u} bytes (SPEC: 32) and a {k}-byte length field (SPEC: 4)"
                + (", little-endian" if order == "little" else ""))
        if others:
            splits = ", ".join(f"user {ou} + length {ok}" for ou, ok, _ in others)
            text += f" (the bytes also fit {splits})"
        return text
    return f"a header of {header} bytes"


def ack_echoes(ack: Got, bit: int, of: str) -> None:
    assert ack.dg is not None
    if ack.dg.seq != bit:
        raise Deviation(f"ACK carries the next expected bit ({ack.dg.seq}) instead of echoing the bit "
                        f"of {of} ({bit})")


async def ack_for(c: Ctx, bit: int, of: str) -> Got:
    try:
        ack = await c.peer.expect(kind("ACK"), c.prompt, f"an ACK for {of}")
    except Deviation:
        if not await takes_only_bit_1_first(c):
            raise
        raise Deviation("drops a chat datagram with bit 0 after the handshake without an ACK (expects "
                        f"bit 1: one bit shared by both directions?); {of}, sent again with bit 1, "
                        "was acknowledged") from None
    ack_echoes(ack, bit, of)
    return ack


async def takes_only_bit_1_first(c: Ctx) -> bool:
    """The peer's first chat datagram (bit 0, perhaps re-sent) and everything after it went without an
    ACK, the implementation has sent no chat datagram, and it is the last thing the peer sent: sent
    again with bit 1, is it acknowledged?  (A daemon whose handshake uses up bit 0 of a bit shared
    by both directions; SPEC's answer, an ACK 0, would have come.)"""
    chats = [(dg, seen) for dg, seen in c.peer.sent if dg.is_chat]
    if not chats or {dg for dg, _ in chats} != {chats[0][0]} or chats[0][0].seq != 0:
        return False
    first, seen = chats[0]
    answered = any(g.label in ("ACK", "CHAT") for g in c.peer.inbox[seen:])
    if answered or c.peer.sent[-1][0] != first or any(g.label == "CHAT" for g in c.peer.inbox):
        return False
    c.peer.chat(1, first.payload)
    try:
        await c.peer.expect(kind("ACK", 1), c.prompt, "an ACK for the message sent again with bit 1")
    except Deviation:
        return False
    return True


async def ack_or_shared_bit(c: Ctx, bit: int, text: str, of: str) -> Got:
    """ack_for the peer's message `text`, just sent with `bit`.  When nothing answers it at all and
    the implementation's own latest chat datagram carried the same bit, ask whether it keeps one bit
    for both directions (it then waits for the other bit and drops this one): the message goes
    again with the other bit, and an ACK for that copy, with still no ACK for the first, names it."""
    before = len(c.peer.inbox)
    try:
        return await ack_for(c, bit, of)
    except Deviation as missing:
        # its own chat datagram may have crossed the peer's on the way (sent as its user accepted)
        own = [g.dg for g in c.peer.inbox if g.dg is not None and g.dg.is_chat]
        if any(g.label == "ACK" for g in c.peer.inbox[before:]) or not own or own[-1].seq != bit:
            raise
        c.peer.chat(bit ^ 1, text)
        try:
            await c.peer.expect(kind("ACK", bit ^ 1), c.prompt, f"an ACK for {of} sent with bit {bit ^ 1}")
        except Deviation:
            raise missing from None
        if any(g.dg is not None and g.dg.is_control(wire.Op.ACK) and g.dg.seq == bit
               for g in c.peer.inbox[before:]):
            raise missing from None  # only slow: the first copy's ACK came after all
        raise Deviation(f"one bit shared by both directions: after its own chat datagram with bit {bit}, it "
                        f"dropped {of} (bit {bit}, the peer's own next bit) without an ACK, and took it "
                        f"only when sent again with bit {bit ^ 1}") from None


async def ack_for_duplicate(c: Ctx, bit: int, of: str) -> Got:
    """The ACK a duplicate must get again (its first ACK may have been lost)."""
    before = len(c.peer.inbox)
    try:
        return await ack_for(c, bit, of)
    except Deviation:
        if any(g.label == "ACK" for g in c.peer.inbox[before:]):
            raise
        raise Deviation(f"a duplicate chat datagram (bit {bit}, already delivered) is not acknowledged "
                        "again: a sender whose ACK was lost re-sends it until it gives up") from None


def not_answered_before_the_user(c: Ctx) -> None:
    """SPEC: the invited daemon answers a SYN only after its user decides."""
    early = [g for g in c.peer.pending() if g.label in ("SYN+ACK", "FIN")]
    if early:
        raise Deviation(f"{early[0].label} sent at once on the SYN, before the user was asked: the daemon "
                        "answers the invitation on the wire whatever its user decides")


def first_bit(got: Got, what: str) -> None:
    assert got.dg is not None
    if got.dg.seq != 0:
        raise Deviation(f"{what} carries bit {got.dg.seq}; each direction's first chat datagram "
                        "carries bit 0")


# -- byte format -----------------------------------------------------------------------------


@case("format-syn", "byte format", "the SYN is SPEC's 39-byte header: NUL-padded user, length right")
async def _(c: Ctx) -> None:
    await c.act("start", c.peer_ip)
    syn = await c.peer.expect(lambda g: True, c.prompt, "a SYN after the user invited")
    if (why := control_format(syn.data, wire.Op.SYN, 0)) is not None:
        raise Deviation(why)


@case("format-chat", "byte format", "a chat datagram is byte for byte SPEC's encoding (Hello World)")
async def _(c: Ctx) -> None:
    c.peer.loose = True  # get to a chat datagram even when the handshake uses other field sizes
    await c.chat_as_invitee()
    await c.act("say", "Hello World")
    got = await c.peer.expect(lambda g: g.data.endswith(b"Hello World"), c.prompt,
                              'a datagram carrying "Hello World"')
    if (why := explain_format(got.data, wire.chat(0, USER, "Hello World"))) is not None:
        raise Deviation(why)


@case("format-control-replies", "byte format", "SYN+ACK and ACK: type 0x01, ops 0x06/0x04, empty payload")
async def _(c: Ctx) -> None:
    if c.profile.can("wait"):
        await c.act("wait")
    c.peer.control(wire.Op.SYN)
    await c.see("invitation")
    await c.act("accept")
    synack = await c.peer.expect(lambda g: True, c.prompt, "SYN+ACK after the user accepted")
    if (why := control_format(synack.data, wire.Op.SYN_ACK, 0)) is not None:
        raise Deviation(why)
    c.peer.control(wire.Op.ACK, 0)
    await c.see("chat_started")
    c.peer.chat(0, "x")
    ack = await c.peer.expect(lambda g: True, c.prompt, "ACK for a chat datagram")
    if ack.dg is not None and ack.dg.label == "ACK":
        ack_echoes(ack, 0, "the peer's message")
    if (why := control_format(ack.data, wire.Op.ACK, 0)) is not None:
        raise Deviation(why)


# -- handshake -------------------------------------------------------------------------------


@case("handshake-invitee", "handshake", "invited: shows the inviter's name, SYN+ACK on accept, chat on ACK")
async def _(c: Ctx) -> None:
    if c.profile.can("wait"):
        await c.act("wait")
    c.peer.control(wire.Op.SYN)
    await c.see("invitation")
    inv = c.screen[-1] if c.screen and c.screen[-1].kind == "invitation" else None
    if inv is not None and "user" in inv.fields and inv.fields["user"] != PEER:
        shown = inv.fields["user"]
        if shown.rstrip("\0") == PEER:
            raise Deviation(f"the user field's NUL padding is kept in the name shown ({PEER!r} + "
                            f"{len(shown) - len(PEER)} NUL bytes): padding is not stripped on receipt")
        raise Deviation(f"the invitation names {shown!r}; the SYN's user field says {PEER!r}")
    not_answered_before_the_user(c)
    await c.act("accept")
    synack = await c.peer.expect(kind("SYN+ACK"), c.prompt, "SYN+ACK after the user accepted")
    if synack.dg is not None and synack.dg.seq != 0:
        raise Deviation(f"SYN+ACK carries bit {synack.dg.seq}; the handshake uses bit 0")
    c.peer.control(wire.Op.ACK, 0)
    await c.see("chat_started")


@case("handshake-inviter", "handshake", "inviting: SYN, then ACK (bit 0) for the SYN+ACK, chat started")
async def _(c: Ctx) -> None:
    await c.act("start", c.peer_ip)
    syn = await c.peer.expect(kind("SYN"), c.prompt, "a SYN after the user invited")
    if syn.dg is not None and syn.dg.seq != 0:
        raise Deviation(f"SYN carries bit {syn.dg.seq}; the handshake uses bit 0")
    c.peer.control(wire.Op.SYN_ACK, 0)
    ack = await c.peer.expect(kind("ACK"), c.prompt, "the handshake's ACK after SYN+ACK")
    if ack.dg is not None and ack.dg.seq != 0:
        raise Deviation(f"the handshake's ACK carries bit {ack.dg.seq}; SPEC: bit 0")
    await c.started_as_inviter()


@case("decline-as-invitee", "handshake", "invited and declining: FIN, no SYN+ACK")
async def _(c: Ctx) -> None:
    if c.profile.can("wait"):
        await c.act("wait")
    c.peer.control(wire.Op.SYN)
    await c.see("invitation")
    not_answered_before_the_user(c)
    await c.act("decline")
    got = await c.peer.expect(lambda g: g.label in ("FIN", "SYN+ACK", "ERR"), c.prompt,
                              "FIN after the user declined")
    if got.label != "FIN":
        raise Deviation(f"declining sent {got.describe()} instead of FIN")
    c.peer.control(wire.Op.ACK, got.dg.seq if got.dg else 0)


@case("declined-as-inviter", "handshake", "our invitation answered with FIN: ACK it, user told 'declined'")
async def _(c: Ctx) -> None:
    await c.act("start", c.peer_ip)
    await c.peer.expect(kind("SYN"), c.prompt, "a SYN after the user invited")
    c.peer.control(wire.Op.FIN, 0)
    await ack_for(c, 0, "the peer's FIN")
    await c.see("declined")


@case("refused-with-err", "handshake", "our invitation answered ERR + FIN: error text shown, FIN ACKed")
async def _(c: Ctx) -> None:
    await c.act("start", c.peer_ip)
    await c.peer.expect(kind("SYN"), c.prompt, "a SYN after the user invited")
    c.peer.control(wire.Op.ERR, 0, "User already in another chat")
    c.peer.control(wire.Op.FIN, 0)
    await ack_for(c, 0, "the FIN that follows ERR")
    if c.profile.observes("error"):
        await c.see("error")
    else:
        await c.see("refused")


@case("busy", "handshake", "in a chat, a SYN from a third address gets ERR then FIN; the chat goes on")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    await c.stranger.open()
    c.stranger.control(wire.Op.SYN)
    err = await c.stranger.expect(lambda g: g.label in ("ERR", "FIN", "SYN+ACK"), c.prompt,
                                  "ERR answering the third party's SYN")
    if err.label != "ERR":
        raise Deviation(f"a busy daemon answered a third party's SYN with {err.describe()} "
                        "instead of ERR then FIN")
    await c.stranger.expect(kind("FIN"), c.prompt, "FIN after the busy ERR")
    c.peer.chat(0, "still here")
    await ack_for(c, 0, "a message after the third party was refused")
    await c.see("message", text="still here")


# -- datagrams lost --------------------------------------------------------------------------


@case("lost-syn", "loss", "a SYN nobody answers is re-sent every timeout; a late SYN+ACK opens the chat")
async def _(c: Ctx) -> None:
    await c.act("start", c.peer_ip)
    syn = await c.peer.expect(kind("SYN"), c.prompt, "a SYN after the user invited")
    await c.retransmission_of(syn, "the unanswered SYN")
    c.peer.control(wire.Op.SYN_ACK, 0)
    await c.peer.expect(kind("ACK"), c.prompt, "the handshake's ACK after SYN+ACK")
    await c.see("chat_started")


@case("lost-syn-ack", "loss", "a SYN+ACK with no ACK is re-sent after one timeout")
async def _(c: Ctx) -> None:
    synack = await c.invited_and_accepted()
    await c.retransmission_of(synack, "the unacknowledged SYN+ACK")
    c.peer.control(wire.Op.ACK, 0)
    await c.see("chat_started")


@case("lost-handshake-ack", "loss", "the handshake's ACK lost: the first chat datagram implies it")
async def _(c: Ctx) -> None:
    await c.invited_and_accepted()
    c.peer.chat(0, "first")
    await ack_for(c, 0, "a chat datagram that stands in for the lost handshake ACK")
    await c.see("message", text="first")


@case("lost-chat", "loss", "an unacknowledged chat datagram is re-sent identical after one timeout")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    first = await c.message_from_user("m1")
    await c.retransmission_of(first, "the unacknowledged chat datagram")
    c.peer.control(wire.Op.ACK, first.dg.seq if first.dg else 0)
    second = await c.message_from_user("m2")
    if first.dg and second.dg and second.dg.seq == first.dg.seq:
        raise Deviation("after the ACK of a re-sent message the next message did not flip the bit")


@case("lost-ack-of-peer-message", "loss", "a message re-sent after its ACK was lost: ACKed again, shown once")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    c.peer.chat(0, "once")
    await ack_for(c, 0, "the peer's message")
    c.peer.chat(0, "once")
    await ack_for_duplicate(c, 0, "the re-sent copy (its first ACK was lost)")
    count = await c.shown("message", c.prompt, text="once")
    if count is not None and count != 1:
        raise Deviation(f"a re-sent message was shown to the user {count} times")


@case("lost-fin", "loss", "an unacknowledged FIN is re-sent after one timeout")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    await c.act("quit")
    fin = await c.peer.expect(kind("FIN"), c.prompt, "FIN after the user quit")
    await c.retransmission_of(fin, "the unacknowledged FIN")
    c.peer.control(wire.Op.ACK, fin.dg.seq if fin.dg else 0)


@case("lost-ack-of-fin", "loss", "the peer re-sends FIN (our ACK was lost): ACKed again")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    c.peer.control(wire.Op.FIN, 0)
    await ack_for(c, 0, "the peer's FIN")
    c.peer.control(wire.Op.FIN, 0)
    await ack_for(c, 0, "the peer's repeated FIN")


# -- datagrams duplicated --------------------------------------------------------------------


@case("dup-syn", "duplicate", "a repeated SYN while the user decides is not shown twice")
async def _(c: Ctx) -> None:
    if c.profile.can("wait"):
        await c.act("wait")
    c.peer.control(wire.Op.SYN)
    c.peer.control(wire.Op.SYN)
    await c.see("invitation")
    count = await c.shown("invitation", c.prompt)
    if count is not None and count != 1:
        raise Deviation(f"one invitation sent twice (a duplicated SYN) was shown {count} times")
    await c.act("accept")
    await c.peer.expect(kind("SYN+ACK"), c.prompt, "SYN+ACK after the user accepted")
    c.peer.control(wire.Op.ACK, 0)
    await c.see("chat_started")


@case("dup-syn-ack", "duplicate", "a duplicated SYN+ACK is answered with ACK, the chat starts once")
async def _(c: Ctx) -> None:
    await c.act("start", c.peer_ip)
    await c.peer.expect(kind("SYN"), c.prompt, "a SYN after the user invited")
    c.peer.control(wire.Op.SYN_ACK, 0)
    c.peer.control(wire.Op.SYN_ACK, 0)
    await c.peer.expect(kind("ACK", 0), c.prompt, "the handshake's ACK")
    count = await c.shown("chat_started", c.prompt)
    if count is not None and count != 1:
        raise Deviation(f"a duplicated SYN+ACK started the chat {count} times")


@case("dup-chat", "duplicate", "a duplicated chat datagram is ACKed and shown once")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    c.peer.chat(0, "twice sent")
    c.peer.chat(0, "twice sent")
    await ack_for(c, 0, "the message")
    await ack_for_duplicate(c, 0, "its duplicate")
    count = await c.shown("message", c.prompt, text="twice sent")
    if count is not None and count != 1:
        raise Deviation(f"a duplicated chat datagram was shown {count} times")


@case("dup-ack", "duplicate", "a duplicated ACK does not acknowledge the next message")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    first = await c.message_from_user("one")
    bit = first.dg.seq if first.dg else 0
    c.peer.control(wire.Op.ACK, bit)
    c.peer.control(wire.Op.ACK, bit)
    second = await c.message_from_user("two")
    await c.retransmission_of(second, "the second message (the duplicate ACK carried the first one's bit)")
    c.peer.control(wire.Op.ACK, second.dg.seq if second.dg else 0)


# -- datagrams delayed -----------------------------------------------------------------------


@case("delayed-ack", "delay", "an ACK delayed beyond the timeout: one retransmission, no message lost")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    first = await c.message_from_user("slow")
    await c.retransmission_of(first, "the message whose ACK is late")
    bit = first.dg.seq if first.dg else 0
    c.peer.control(wire.Op.ACK, bit)
    c.peer.control(wire.Op.ACK, bit)
    second = await c.message_from_user("after")
    if second.dg and second.dg.seq == bit:
        raise Deviation("after a late ACK the next message kept the acknowledged bit")
    c.peer.control(wire.Op.ACK, second.dg.seq if second.dg else 0)


@case("delayed-syn-ack", "delay", "a SYN+ACK arriving after a SYN retransmission still opens the chat")
async def _(c: Ctx) -> None:
    await c.act("start", c.peer_ip)
    syn = await c.peer.expect(kind("SYN"), c.prompt, "a SYN after the user invited")
    await c.retransmission_of(syn, "the SYN")
    c.peer.control(wire.Op.SYN_ACK, 0)
    await c.peer.expect(kind("ACK", 0), c.prompt, "the handshake's ACK")
    await c.see("chat_started")
    c.peer.chat(0, "late but fine")
    await ack_for(c, 0, "the first message")


@case("delayed-peer-message", "delay", "a late copy of an acknowledged message is ACKed, not shown again")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    c.peer.chat(0, "original")
    await ack_for(c, 0, "the message")
    await c.see("message", text="original")
    c.peer.chat(0, "original")
    await ack_for_duplicate(c, 0, "its late copy")
    count = await c.shown("message", c.prompt, text="original")
    if count is not None and count != 1:
        raise Deviation(f"a late copy of an acknowledged message was shown again ({count} times in all)")


# -- retransmission timing -------------------------------------------------------------------


@case("retransmit-interval", "timing", "chat retransmissions come one timeout apart")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    first = await c.message_from_user("again")
    prev = first
    for k in (1, 2):
        again = await c.retransmission_of(prev, f"retransmission {k}")
        gap = again.t - prev.t
        if gap > 2 * c.T + 1.0:
            raise Deviation(f"retransmission {k} came {gap:.2f}s after the previous copy; "
                            f"the timeout is {c.T:g}s")
        prev = again
    c.peer.control(wire.Op.ACK, first.dg.seq if first.dg else 0)


@case("give-up", "timing", "with no answer at all the sender gives up and tells its user")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    first = await c.message_from_user("nobody there")
    retries = c.profile.retries
    budget = (retries + 2 if retries is not None else 12) * c.T + 2.0
    if await c.see("not_answering", within=budget) is None:
        await c.peer.collect(budget)  # the notice is not observable: count what the wire shows
    copies = sum(1 for g in c.peer.inbox if g.data == first.data)
    if copies < 2:
        raise Deviation(f"the unacknowledged message went out once in {budget:.0f}s: it is never re-sent")
    if retries is not None and copies != retries + 1:
        raise Deviation(f"the message went out {copies} times; with {retries} retries it goes out "
                        f"{retries + 1}")


# -- tear-down -------------------------------------------------------------------------------


@case("fin-from-user", "tear-down", "the user quits: FIN with the current bit; ACK ends the chat")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    await c.act("quit")
    fin = await c.peer.expect(kind("FIN"), c.prompt, "FIN after the user quit")
    c.peer.control(wire.Op.ACK, fin.dg.seq if fin.dg else 0)
    await c.see("chat_ended")


@case("fin-from-peer", "tear-down", "the peer's FIN is ACKed with its bit; the user is told the peer left")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    c.peer.control(wire.Op.FIN, 0)
    await ack_for(c, 0, "the peer's FIN")
    await c.see("peer_left")


@case("fin-after-messages", "tear-down", "a FIN with bit 1 (after one message) is ACKed with bit 1")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    c.peer.chat(0, "bye soon")
    await ack_for(c, 0, "the message")
    c.peer.control(wire.Op.FIN, 1)
    await ack_for(c, 1, "the peer's FIN")
    await c.see("peer_left")


# -- garbage and strangers -------------------------------------------------------------------


@case("garbage-ignored", "garbage", "malformed datagrams mid-chat are ignored; the chat goes on")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    good = wire.encode(wire.chat(0, PEER, "real"))
    for junk in (b"", b"\x02\x01", good[:20], b"\x07" + good[1:], good[:2] + b"\x05" + good[3:],
                 good[:35] + b"\x00\x00\x00\x63" + good[39:], good[:-1] + b"\xff"):
        c.peer.send(junk)
    noise = [g for g in await c.peer.collect(c.prompt) if g.dg is None or not g.dg.is_chat]
    if noise:
        raise Deviation(f"malformed datagrams were answered: {', '.join(g.describe() for g in noise)}")
    c.peer.send(good)
    await ack_for(c, 0, "a valid message after the garbage")
    await c.see("message", text="real")


@case("space-padded-user", "garbage", "a SYN whose user field is padded with spaces is accepted")
async def _(c: Ctx) -> None:
    if c.profile.can("wait"):
        await c.act("wait")
    data = bytearray(wire.encode(wire.control(wire.Op.SYN, 0, PEER)))
    data[3:35] = PEER.encode().ljust(32, b" ")
    c.peer.send(bytes(data))
    await c.see("invitation")
    await c.act("accept")
    await c.peer.expect(kind("SYN+ACK"), c.prompt, "SYN+ACK for a SYN with a space-padded user")


@case("payload-on-ack", "garbage", "a handshake ACK carrying a payload is still the ACK")
async def _(c: Ctx) -> None:
    synack = await c.invited_and_accepted()
    c.peer.control(wire.Op.ACK, 0, "ignore me")
    late = await c.peer.collect(c.T + 0.5)
    if any(g.data == synack.data for g in late):
        raise Deviation("an ACK with a payload was not taken as the handshake's ACK (SYN+ACK re-sent)")


@case("stranger-chat-ignored", "garbage", "chat and FIN from a third address never enter or end the chat")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    await c.stranger.open()
    c.stranger.chat(0, "intruder")
    count = await c.shown("message", c.prompt, text="intruder")
    if count:
        raise Deviation("a chat datagram from a third address was shown to the user")
    c.stranger.control(wire.Op.FIN, 0)
    await c.stranger.collect(c.prompt / 2)
    before = len(c.peer.inbox)
    c.peer.chat(0, "peer still here")
    try:
        await ack_for(c, 0, "the peer's message after a stranger's FIN")
    except Deviation as exc:
        if not any(g.label == "ACK" for g in c.peer.inbox[before:]):
            raise Deviation(f"a FIN from a third address ended the chat ({exc})") from None
        raise


# -- dialects seen in the field --------------------------------------------------------------


@case("ack-echoes-bit", "dialect", "the ACK of a message echoes its bit (not the next expected one)")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    c.peer.chat(0, "bit zero")
    await ack_or_shared_bit(c, 0, "bit zero", "the peer's message")
    c.peer.chat(1, "bit one")
    await ack_for(c, 1, "the peer's second message")


@case("first-chat-bit-0", "dialect", "the implementation's first chat datagram carries bit 0")
async def _(c: Ctx) -> None:
    await c.chat_as_inviter()
    first = await c.message_from_user("first")
    first_bit(first, "the first chat datagram")
    c.peer.control(wire.Op.ACK, 0)
    second = await c.message_from_user("second")
    if second.dg and second.dg.seq != 1:
        raise Deviation(f"the second chat datagram carries bit {second.dg.seq}; bits alternate 0, 1, 0...")
    c.peer.control(wire.Op.ACK, 1)


@case("independent-bits", "dialect", "each direction has its own bit: messages both ways interleave")
async def _(c: Ctx) -> None:
    await c.chat_as_invitee()
    mine = await c.message_from_user("from iut")
    first_bit(mine, "the first chat datagram")
    c.peer.control(wire.Op.ACK, 0)
    c.peer.chat(0, "from peer")
    await ack_or_shared_bit(c, 0, "from peer", "the peer's first message")
    if await c.shown("message", c.prompt, text="from peer") == 0:
        raise Deviation("one bit shared by both directions: after its own message with bit 0 was "
                        "acknowledged, it took the peer's first message (bit 0) for a duplicate and did not "
                        "show it")
    second = await c.message_from_user("again from iut")
    if second.dg and second.dg.seq != 1:
        raise Deviation("one bit shared by both directions: its second message carries bit "
                        f"{second.dg.seq} after receiving one (its own direction's next bit is 1)")
    c.peer.control(wire.Op.ACK, 1)
