"""Learning a peer's SIMP dialect, and translating it to SPEC, so Session only ever speaks SPEC.

Student implementations of SIMP differ from SPEC in a few known ways (docs/CONFORMANCE.md,
tests/standins/sloppy_daemon.py).  This layer sits at the wire edge of simp.node: every datagram
of a chat passes it on the way in (decoded, then normalised to SPEC) and on the way out
(translated to the peer's convention, encoded in SPEC's format).  It starts as SPEC for every
chat and learns a dialect only from a datagram that a SPEC peer cannot produce on a path that
only drops datagrams and delays each by less than half a timeout (T/2):

1. short-fields: a SYN or SYN+ACK that SPEC's sizes cannot decode, but exactly one reading with a
   user field of 1-64 bytes and a length field of 1, 2, 4 or 8 bytes can (wire.find_layout).
   The peer's later datagrams are read with that layout; we still send SPEC's.  A SPEC peer's
   datagrams always decode with SPEC's sizes, and drops do not corrupt bytes.
2. ack-next (an ACK carries the next expected bit): our chat datagram with wire bit b is in
   flight and ACK b^1 arrives both in the interval after its first transmission and after a
   retransmission (which is sent T after it).  A SPEC peer sends ACK b^1 only for something we
   sent before this datagram (our previous message, the handshake); sent before, received within
   T/2, answered at once, that ACK arrives within T of this datagram's first transmission, i.e.
   before the retransmission.  So a SPEC peer can give one such stale ACK, never two intervals.
   After learning: an ACK b^1 acknowledges b, and our ACKs of the peer's chat datagrams carry
   the next bit too (the peer re-sends until it gets one).
3. first-bit-1 (each direction's first chat datagram carries bit 1): the peer invited us, and
   the first chat datagram of this chat carries bit 1 and arrives at least T/2 after the
   peer's SYN reached us.  A SPEC peer's first message carries bit 0, and it sends bit 1 only
   after an ACK 0 from us acknowledged it; as the invited side we send ACK 0 only for its
   chat datagrams, so the bit-0 one came first.  A straggler of an older chat was sent before
   the peer left that chat, i.e. before it sent this chat's SYN, so it arrives within T/2 of
   that: earlier, it is dropped here, as the path might have dropped it (the peer of this
   dialect re-sends it T later, and is learned then).  When we invited, our handshake ACK
   also carries bit 0, and a copy of it (duplicated by the network, or re-sent for a SYN+ACK
   delayed beyond the timeout) can acknowledge a SPEC peer's lost first message, whose next
   message then comes first with bit 1 (SPEC's known limit): the two cannot be told apart,
   so as the inviter we follow SPEC.  A chat datagram that comes before a SYN+ACK went either
   way belongs to no chat of ours and teaches nothing (Dialects `incoming`).  After learning:
   the peer's chat bits are read flipped, and so are ours if we had sent none yet (our first
   message then carries bit 1 as the peer expects); if one of ours went out first with bit 0,
   the peer took it for a duplicate: that cannot be seen, and our bits stay SPEC's, which the
   peer then reads right.

Not learned: one bit shared by both directions.  It differs from SPEC only after one of our
messages was acknowledged, and then looks like first-bit-1 or like a SPEC peer's loss; our
messages sent before it is learned can be acknowledged as duplicates and dropped by such a peer.
This cannot be made safe, so we follow SPEC; the conformance report names it (independent-bits).
It is spoken only with the addresses configured for it (`daemon.py --peer-dialect
ADDR=shared-bit`, Dialects `configured`; class SharedBit says how), and then it is all that is
spoken with them: nothing is learned from such a peer, and a SPEC peer is never read this way.

Never evidence: an *empty* chat datagram with bit 1 before the peer's first message.  It is what
our own daemon sends to ask an idle chat's peer whether it is still there before it has said
anything (simp.session `probe`); a SPEC peer takes it for a duplicate, and so do we.  The price:
a first-bit-1 peer whose user's very first message is empty has that empty line acknowledged
and not shown (an empty line carries nothing to lose).

A chat running the SIMPX/1 extension (simp.extension) is with our own daemon: identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from simp import extension, wire
from simp.session import Session
from simp.wire import Datagram, Op, Type

SPEC_LAYOUT = (wire.USER_SIZE, wire.LENGTH_SIZE)
SHARED_BIT = "shared-bit"
CONFIGURABLE = (SHARED_BIT,)  # dialects a daemon can be told a peer speaks (never learned)
CONFIGURED_NAME = f"{SHARED_BIT} (set by configuration)"  # its name in status and logs
FIN_ERR = Op.FIN | Op.ERR  # 0x09: a shared-bit peer's refusal or give-up, with a text (SharedBit)


@dataclass(slots=True)
class SharedBit:
    """The shared-bit dialect, spoken with a peer only because configuration says so.

    Such a peer keeps one sequence bit for both directions of a chat.  Its handshake uses bit 0
    and flips it, so the chat starts at 1; every chat datagram delivered either way flips it
    again (one of ours when the peer's ACK comes, one of the peer's when we take it).  It sends
    its chat datagrams and FIN with that bit and drops one of ours that carries any other bit
    without an ACK, so ours carry it too.  Incoming chat datagrams with the bit are new, any
    other is a duplicate: the session is handed the bit that makes it take, or re-acknowledge
    and ignore, the datagram as SPEC says, and our ACK carries the bit the datagram came with
    (the peer accepts no other).  Its refusals (decline, busy, no user) and give-ups are one
    datagram, operation 0x09 (FIN|ERR) with a text: the session gets ERR(text) then FIN, and its
    ACK of that FIN echoes the datagram's bit (Dialects `decode`, `follow_ups`).

    A byte-identical copy of the peer's last message that comes after the peer acknowledged a
    message of ours sent after we took it is stale: the peer's bit moved past that message, which
    in this dialect it does only on our ACK, so it is not waiting for one.  (One student daemon
    re-sends a message once, a timeout late, when the thread that waits for its ACK misses the
    ACK another thread took; with the bit come round again, the copy would be taken as new.)  The
    first such copy is dropped without an ACK (an ACK with its bit could acknowledge the peer's
    next message, in flight with the same bit); a further copy is taken as new: it is the peer's
    user saying the same text again, delayed by one of the peer's retransmissions.

    What this dialect cannot survive, whatever we do: an ACK of one of our messages that is lost
    (the peer took it and now drops every copy without an ACK; the message is re-sent until the
    retries run out, the peer having shown it once), messages crossing on the wire, and our
    daemon's liveness probe of an idle chat (Session `probe`: a copy of an acknowledged message,
    which such a peer drops, so the chat ends as "not answering" if someone else invites our
    user meanwhile).  Nor, rarely: our reply within half a timeout to a first message that
    completed a handshake whose ACK was lost (Session takes that reply's ACK for the handshake's
    late one and re-sends it once; such a peer drops the copy)."""

    wire_bit: int = 0  # the peer's bit: 0 until the handshake, then flipped by each delivery
    began: bool = False  # the handshake happened (a SYN+ACK went either way)
    spec_sent: int = 0  # the bit the session gives its next new message (it alternates from 0)
    spec_recv: int = 0  # the bit the session expects on the peer's next new message
    # our chat datagram or FIN awaiting its ACK: as the session sent it, as it went out, and
    # whether it is a new message (its ACK flips the bit; a probe's or FIN's does not)
    sent: tuple[Datagram, Datagram, bool] | None = None
    answering: tuple[Datagram, bool] | None = None  # the chat datagram being answered, and new?
    last_taken: Datagram | None = None  # the peer's last new message, as it came
    sent_after_take: bool = False  # a new message of ours went out after we took last_taken
    past_last_taken: bool = False  # ...and the peer acknowledged it (a copy of last_taken is stale)
    stale_dropped: bool = False  # a stale copy of last_taken was dropped already

    def incoming(self, dg: Datagram) -> Datagram | None:
        self.answering = None
        if dg.is_control(Op.SYN_ACK):
            self._handshake()
        elif dg.is_chat:
            if self.past_last_taken and not self.stale_dropped and dg == self.last_taken:
                self.stale_dropped = True
                return None
            new = dg.seq == self.wire_bit
            self.answering = (dg, new)
            return replace(dg, seq=self.spec_recv if new else self.spec_recv ^ 1)
        elif dg.is_control(Op.ACK) and self.sent is not None:
            ours, out, new = self.sent
            if dg.seq != out.seq:
                return replace(dg, seq=ours.seq ^ 1)  # not the bit it went out with: stale
            self.sent = None
            if new:
                self.wire_bit ^= 1
                self.spec_sent ^= 1
                self.past_last_taken |= self.sent_after_take
            return replace(dg, seq=ours.seq)
        return dg

    def outgoing(self, dg: Datagram) -> Datagram:
        if dg.is_control(Op.SYN_ACK):
            self._handshake()
        elif dg.is_control(Op.ACK) and self.answering is not None:
            chat, new = self.answering
            if new:  # the session answers a new message only by taking it
                self.wire_bit ^= 1
                self.spec_recv ^= 1
                self.answering = (chat, False)
                self.last_taken, self.sent_after_take, self.past_last_taken = chat, False, False
                self.stale_dropped = False
            return replace(dg, seq=chat.seq)
        elif dg.is_chat or dg.is_control(Op.FIN):
            if self.sent is not None and self.sent[0] == dg:
                return self.sent[1]  # a retransmission goes out as the first copy did
            new = dg.is_chat and dg.seq == self.spec_sent
            out = replace(dg, seq=self.wire_bit if new or not dg.is_chat else self.wire_bit ^ 1)
            self.sent = (dg, out, new)
            self.sent_after_take |= new
            return out
        return dg

    def _handshake(self) -> None:
        if not self.began:
            self.began, self.wire_bit = True, 1


@dataclass(slots=True)
class PeerDialect:
    """What one chat's peer showed of its dialect, and the state needed to tell and translate it."""

    timeout: float
    layout: tuple[int, int] = SPEC_LAYOUT
    ack_next: bool = False
    first_bit_1: bool = False
    flip_ours: bool = False  # our chat bits follow first-bit-1 (we had sent no chat datagram yet)
    _fresh_at: float | None = None  # when this chat's first SYN or SYN+ACK reached us
    _we_invited: bool = False  # a SYN+ACK came: rule 3 is off (see the module docstring)
    _seen_chat: bool = False
    _sent_chat: bool = False
    _inflight: Datagram | None = None  # our chat datagram awaiting its ACK, as sent
    _sends: int = 0  # transmissions of it so far
    _next_bit_after: set[int] = field(default_factory=set)  # transmissions after which ACK b^1 came
    _answering_chat: bool = False  # the session's answers now are to a chat datagram
    # one line per rule fired, with its evidence, until Dialects moves it to the node's notes (at
    # once): what was said is no part of how the chat behaves, so it does not stay in its state
    learned: list[str] = field(default_factory=list)
    shared: SharedBit | None = None  # set by configuration only (Dialects); then nothing is learned

    @property
    def name(self) -> str:
        """`spec`, or the learned traits joined by `+`, e.g. `ack-next+short-fields(21)` (a 21-byte
        header: which split of user and length field it has cannot be seen, nor does it matter)."""
        if self.shared is not None:
            return CONFIGURED_NAME
        traits = [name for name, on in (("ack-next", self.ack_next), ("first-bit-1", self.first_bit_1)) if on]
        if self.layout != SPEC_LAYOUT:
            traits.append(f"short-fields({3 + sum(self.layout)})")  # the header's size (SPEC: 39)
        return "+".join(traits) or "spec"

    def incoming(self, dg: Datagram, layout: tuple[int, int], now: float) -> Datagram | None:
        """Observe one datagram from the peer; return it in SPEC's terms, or None to drop it."""
        self._answering_chat = False
        if self.shared is not None:
            return self.shared.incoming(dg)
        if dg.is_control(Op.SYN) or dg.is_control(Op.SYN_ACK):
            self._we_invited |= dg.is_control(Op.SYN_ACK)
            if self._fresh_at is None and self._rule_3_open:
                self._fresh_at = now
            elif not self._rule_3_open:
                self._fresh_at = None  # read by rule 3 only: kept, it would only tell old chats apart
            if layout != self.layout:
                self.layout = layout
                if layout != SPEC_LAYOUT:
                    self.learned.append(f"short-fields: its {dg.label} decodes "
                                        f"only with a {3 + sum(layout)}-byte header (SPEC: 39), read as a "
                                        f"{layout[0]}-byte user and {layout[1]}-byte length field")
            return dg
        if dg.is_chat:
            return self._chat_in(dg, now)
        if dg.is_control(Op.ACK) and self._inflight is not None:
            return self._ack_in(dg)
        return dg

    def _chat_in(self, dg: Datagram, now: float) -> Datagram | None:
        if not self._seen_chat and dg.seq == 1 and not dg.payload:
            # an empty bit-1 datagram before any message is our daemon's liveness probe (Session
            # `probe`): a duplicate for SPEC, never evidence of first-bit-1, and no message
            self._answering_chat = True
            return dg
        if not self._seen_chat and dg.seq == 1 and not self.first_bit_1 and not self._we_invited:
            if self._fresh_at is None or now < self._fresh_at + self.timeout / 2:
                return None  # may be an older chat's straggler: treated as lost on the path
            self.first_bit_1 = True
            self.flip_ours = not self._sent_chat
            self.learned.append(f"first-bit-1: its first CHAT carries bit 1, "
                                f"{now - self._fresh_at:.3f} s after this chat's handshake began"
                                + ("" if self.flip_ours else "; ours keep SPEC's bits (one went out first)"))
        self._seen_chat = True
        self._fresh_at = None  # rule 3 is closed now (see incoming)
        self._answering_chat = True
        return replace(dg, seq=dg.seq ^ 1) if self.first_bit_1 else dg

    def _ack_in(self, dg: Datagram) -> Datagram:
        assert self._inflight is not None
        sent_bit = self._inflight.seq
        if not self.ack_next and dg.seq != sent_bit:
            self._next_bit_after.add(self._sends)
            if len(self._next_bit_after) >= 2:
                self.ack_next = True
                self.learned.append(f"ack-next: ACK seq={dg.seq} answers our CHAT "
                                    f"seq={sent_bit} after transmissions {sorted(self._next_bit_after)}")
        if dg.seq ^ self.ack_next == sent_bit:
            self._acknowledged()
        return replace(dg, seq=dg.seq ^ self.ack_next ^ self.flip_ours)

    def outgoing(self, dg: Datagram) -> Datagram:
        """Translate one datagram the session sends into the peer's convention (SPEC's format)."""
        if self.shared is not None:
            return self.shared.outgoing(dg)
        if dg.is_chat:
            sent = replace(dg, seq=dg.seq ^ 1) if self.flip_ours else dg
            if sent == self._inflight:
                self._sends += 1
            else:
                self._inflight, self._sends, self._next_bit_after = sent, 1, set()
            self._sent_chat = True
            return sent
        if dg.is_control(Op.FIN):
            self._acknowledged()  # its ACK echoes the FIN in every dialect
        if dg.is_control(Op.ACK) and self._answering_chat:
            return replace(dg, seq=dg.seq ^ self.first_bit_1 ^ self.ack_next)
        return dg

    @property
    def _rule_3_open(self) -> bool:
        return not (self._seen_chat or self._we_invited or self.first_bit_1)

    def _acknowledged(self) -> None:
        """No chat datagram of ours awaits its ACK: what rule 2 counted for it is over, and is
        cleared so that it does not make two chats that behave the same look different."""
        self._inflight, self._sends, self._next_bit_after = None, 0, set()

    def settle(self) -> None:
        """The session's answers to the last datagram have gone out."""
        self._answering_chat = False
        if self.shared is not None:
            self.shared.answering = None


class Dialects:
    """The wire edge of a Node: decodes with each peer's layout, translates each chat's datagrams.

    Each chat's PeerDialect is kept on its Session (attribute `dialect`), so it lives and is
    copied exactly as long as the chat (the model checker clones sessions); learned lines wait
    in `notes()`.  `configured`: (IPv4 address, dialect name) pairs, the peers whose dialect
    was set by configuration (CONFIGURABLE names; `daemon.py --peer-dialect`): a chat with
    such an address speaks it from the start and learns nothing."""

    def __init__(self, timeout: float, configured: Iterable[tuple[str, str]] = ()) -> None:
        self._timeout = timeout
        self._configured = dict(configured)
        unknown = set(self._configured.values()) - set(CONFIGURABLE)
        if unknown:
            raise ValueError(f"unknown peer dialect {sorted(unknown)[0]!r}: one of {', '.join(CONFIGURABLE)}")
        self._layout = SPEC_LAYOUT  # how the last datagram was decoded
        self._fin_err = False  # the last datagram was a shared-bit peer's 0x09, decoded as its ERR
        self._follow_ups: list[Datagram] = []
        self.dropped_why = ""  # why `incoming` last returned None (for the node's notes)
        self._notes: list[str] = []

    @staticmethod
    def _of(chat: Session) -> PeerDialect | None:
        return vars(chat).get("dialect")

    def decode(self, data: bytes, chat: Session | None) -> Datagram:
        """Decode with the layout learned in `chat` (the source's session), else SPEC's; a SYN or
        SYN+ACK that SPEC's sizes cannot decode may show the peer's layout (rule 1).  A shared-bit
        peer's 0x09 (FIN|ERR) is decoded as its ERR; `incoming` adds the FIN (see SharedBit)."""
        self._fin_err = (chat is not None and self._shares_bit(chat) and len(data) > 1
                         and data[0] == Type.CONTROL and data[1] == FIN_ERR)
        if self._fin_err:
            return wire.decode(data[:1] + bytes([Op.ERR]) + data[2:])
        known = self._of(chat) if chat is not None else None
        if known is not None and known.layout != SPEC_LAYOUT and not self._extended(chat):
            try:
                self._layout = known.layout
                return wire.decode_with(data, *known.layout)
            except wire.MalformedDatagram:
                pass
        self._layout = SPEC_LAYOUT
        try:
            return wire.decode(data)
        except wire.MalformedDatagram:
            layout = wire.find_layout(data)
            if layout is None:
                raise
            self._layout = layout
            return wire.decode_with(data, *layout)

    def knows(self, chat: Session) -> bool:
        return self._of(chat) is not None

    def incoming(self, chat: Session, dg: Datagram, now: float) -> Datagram | None:
        """`dg` (just decoded) in SPEC's terms for `chat`, or None: drop it (see PeerDialect).

        A datagram with a SIMPX/1 tag comes from a daemon that speaks SPEC's bits and layout, so
        it teaches nothing, whatever chat it names: a restarted daemon's invitation, not yet
        extended, took the tagged straggler of its predecessor's chat for a first CHAT with bit 1
        and learned first-bit-1 (explorer seed 5823).

        Nor does a chat datagram that the session cannot take in its state (Session `takes_chat`):
        before a SYN+ACK went either way no peer of any dialect sends one, so it is another chat's.
        Explorer seed 83484: a restarted daemon, shown a late SYN its predecessor's peer had sent,
        learned first-bit-1 from that peer's re-sent bit-1 message of the old chat while its user
        was still deciding; the chat the user then accepted read the peer's first message, bit 0,
        as a duplicate, never shown."""
        if self._extended(chat):
            return dg
        peer = self._peer(chat)
        if extension.parse(dg.payload)[0] is not None:
            return dg
        if dg.is_chat and peer.shared is None and not chat.takes_chat:
            return dg  # (the session ignores it)
        result = peer.incoming(dg, self._layout, now)
        if result is None:
            self.dropped_why = ("a late copy of the peer's last message, which it had acknowledged (dropped "
                                "without an ACK; see simp.dialect SharedBit)" if peer.shared is not None
                                else "first CHAT has bit 1, too early")
        if self._fin_err and dg.is_control(Op.ERR):
            self._follow_ups.append(wire.control(Op.FIN, dg.seq, dg.user))
        lines, peer.learned = peer.learned, []
        for line in lines:
            self._notes.append(f"peer {chat.peer[0]}:{chat.peer[1]} speaks a SIMP dialect, {line}; "
                               f"this chat now runs as {peer.name}")
        return result

    def follow_ups(self) -> list[Datagram]:
        """What the session must also be handed after the datagram `incoming` just translated
        (the FIN of a shared-bit peer's 0x09), in order; usually nothing."""
        out, self._follow_ups = self._follow_ups, []
        return out

    def outgoing(self, chat: Session, dg: Datagram) -> Datagram:
        peer = self._peer(chat) if self._shares_bit(chat) else self._of(chat)
        return dg if peer is None or self._extended(chat) else peer.outgoing(dg)

    def _peer(self, chat: Session) -> PeerDialect:
        """The chat's PeerDialect, made on its first datagram (configured peers: SharedBit)."""
        peer = self._of(chat)
        if peer is None:
            shared = SharedBit() if self._shares_bit(chat) else None
            peer = chat.dialect = PeerDialect(self._timeout, shared=shared)  # type: ignore[attr-defined]
        return peer

    def _shares_bit(self, chat: Session) -> bool:
        return self._configured.get(chat.peer[0]) == SHARED_BIT

    def settle(self, chat: Session) -> None:
        if (peer := self._of(chat)) is not None:
            peer.settle()

    def name(self, chat: Session) -> str:
        peer = self._of(chat)
        if self._extended(chat):
            return "spec"
        if peer is None:
            return CONFIGURED_NAME if self._shares_bit(chat) else "spec"
        return peer.name

    def notes(self) -> list[str]:
        out, self._notes = self._notes, []
        return out

    @staticmethod
    def _extended(chat: Session) -> bool:
        return isinstance(chat, extension.FramedSession) and chat.mode is extension.Mode.EXTENDED
