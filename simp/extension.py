"""SIMPX/1: a negotiated extension that closes SIMP's one-bit hole (docs/EXTENSION.md).

Why the hole exists (docs/PROTOCOL.md, "The known limit"): an ACK carries one bit and nothing
else, so a stale ACK (the handshake's ACK 0, a duplicate, one that arrives after its timeout)
acknowledges whichever message happens to carry the same bit, and a late chat copy is taken
for the next message with that bit, even in the next chat with the same peer.  Closing it needs
two facts on the wire that SIMP's header cannot hold: *which chat* a datagram belongs to and
*which message* (a full counter, not its parity) it carries or acknowledges.

Why it lives in the payload: SIMP receivers accept and ignore a payload on SYN, ACK and FIN, so
an offer carried by the SYN costs a plain daemon nothing, and the header layout stays exactly
SIMP's.  The offer is answered only by a SYN+ACK that echoes it, so a plain responder (empty
SYN+ACK) makes the chat plain, and a plain inviter (no offer) never receives anything but plain
SIMP from us: after the handshake, tags are only ever sent to a peer that proved it speaks
SIMPX/1.

Why a layer and not a change of Session: the alternating-bit protocol is correct over a path
that loses datagrams but keeps their order and never replays them.  `FramedSession` keeps
Session's one-bit logic untouched and makes its input such a path: it drops every datagram of
another chat, every ACK whose counter is not one we await, every chat datagram that is not the
next one, and answers duplicates of delivered chat datagrams itself.  So the session only ever
sees datagrams that are exactly what its one bit expects; the bits it puts on the wire stay
SIMP's, and a counter's parity always equals the bit it travels with.

Wire (ASCII, before any chat text; docs/EXTENSION.md has the bytes):
    tag = "SIMPX/1 " chat-id " " counter "\\n"
- chat-id: chosen by the inviter, 1-32 characters of [0-9A-Za-z._-]; after crossing
  invitations, the two offers joined by "+" in sorted order (so both sides compute the same).
- counter: SYN, SYN+ACK and the handshake's ACK carry 0 (so does the session's liveness probe
  before its first message, a chat datagram with bit 1); our n-th chat message carries n
  (its bit is (n + 1) % 2, as SIMP's first message has bit 0); a FIN carries the next counter
  after our last message with the FIN's own bit; an ACK echoes the counter it acknowledges.

This module is pure (no sockets, clocks or randomness): ids come from the caller's counter and
`now`.  Decisions (also in docs/EXTENSION.md):
- In an extended chat an untagged datagram (other than SYN and ERR) is dropped: only the peer's
  stranger answers are untagged, and a daemon with the extension echoes the tag of the datagram
  it answers (`echo`), so the chat still learns that the peer lost it.
- SYNs pass to the session whatever their tag: the session's restart rule (repeated SYNs) is
  unchanged; answers to a SYN (a FIN after a decline) carry that SYN's chat-id, or none.
- A responder whose handshake was completed by the peer's first chat datagram tells the
  handshake's late ACK (#0) from the ACK of its own first message (#1): the framing drops the
  former once #1 is awaited, and the session takes the latter as that message's ACK
  (`_late_handshake_ack`), where plain SIMP must guess and may re-send the message once.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import zlib

from simp import wire
from simp.session import Session, State
from simp.wire import Datagram, Op

PROTOCOL = "SIMPX/1"
_ID = r"[0-9A-Za-z._-]{1,32}"
_TAG = re.compile(rf"SIMPX/1 ({_ID}(?:\+{_ID})?) (0|[1-9][0-9]{{0,9}})\n")
MAX_COUNTER = 2**32 - 1


@dataclasses.dataclass(frozen=True, slots=True)
class Tag:
    """The extension's prefix of a payload: which chat, which message."""

    chat_id: str
    counter: int

    def encode(self) -> str:
        return f"{PROTOCOL} {self.chat_id} {self.counter}\n"


def parse(payload: str) -> tuple[Tag | None, str]:
    """Split a payload into its tag (None when it has none) and the rest (a chat's text)."""
    match = _TAG.match(payload)
    if match is None or int(match[2]) > MAX_COUNTER:
        return None, payload
    return Tag(match[1], int(match[2])), payload[match.end():]


def text_of(dg: Datagram) -> str:
    """What the user said (or the ERR text): the payload without the tag."""
    return parse(dg.payload)[1]


def describe(dg: Datagram) -> str:
    """`Datagram.describe()` with the text alone, and the tag, if any, as `[chat-id #n]` at the end."""
    tag, text = parse(dg.payload)
    if tag is None:
        return dg.describe()
    return f"{dataclasses.replace(dg, payload=text).describe()} [{tag.chat_id} #{tag.counter}]"


def bit(counter: int) -> int:
    """The SIMP sequence bit that travels with message `counter` (1, 2, 3... -> 0, 1, 0...)."""
    return (counter + 1) % 2


def node_tag(user: str) -> str:
    """A short name for this daemon's user in its chat-ids.  Chat-ids only need to differ between
    the chats of one pair of daemons: two chats invited by the same daemon differ by its counter
    (and, across its restarts, by its epoch); chats invited by either side differ by this tag.
    Not the daemon's address: the harness gives hosts new addresses on every run, and the same
    scenario and seed must give the same bytes."""
    return f"{zlib.crc32(user.encode()) & 0xFFFF:04x}"


def new_chat_id(tag: str, counter: int, epoch: str = "") -> str:
    """The id of this daemon's `counter`-th invitation: unique per daemon run; `epoch` (the daemon
    sets it from its start time, NodeConfig.chat_id_epoch) keeps a restarted daemon, whose counter
    starts again, from reusing an id of its past.  Not `now`: then the same chat would get another
    id at another moment, and a model checker's path could not be replayed byte for byte."""
    return f"{tag}.{counter:x}" + (f".{epoch}" if epoch else "")


def join(a: str, b: str) -> str:
    """The chat-id both sides use after crossing invitations (the same whoever computes it)."""
    return a if a == b else "+".join(sorted((a, b)))


def max_text(chat_id: str) -> int:
    """The longest chat text that still fits one datagram with the tag of this chat."""
    return wire.MAX_PAYLOAD - len(Tag(chat_id, MAX_COUNTER).encode())


# The longest text any SIMPX/1 chat may carry: with the longest tag (two joined 32-character ids).
# A chat's id can still change after a message was said (crossings joined, undone, joined anew with
# a restarted peer; a plain-looking answer corrected by a tagged one), so a message is held to this
# bound, not to its chat's id of the moment: checked against that, one said before the id grew
# could no longer be sent (every re-send raised, and the chat ended as "not answering").
MAX_TAGGED_TEXT = max_text("x" * 32 + "+" + "x" * 32)


def echo(answer: Datagram, about: Datagram) -> Datagram:
    """A stranger answer to `about`, tagged like `about` when it had a tag (never an ERR): the
    extended chat it answers then accepts it (a FIN telling it the peer has no such chat)."""
    tag, _ = parse(about.payload)
    if tag is None or answer.is_control(Op.ERR):
        return answer
    return dataclasses.replace(answer, payload=tag.encode())


def repeats(session: Session, syn: Datagram) -> bool:
    """Is `syn` a copy of the SYN that opened `session` (an ended SIMPX/1 chat with its sender)?
    Then it is a straggler of that chat, never a new invitation: a new one has a new chat-id.

    The peer's part of a crossing's joined chat-id counts only if this session took the SYN
    offering it (it was invited, or crossed it) or the chat began: a joined id learned from a
    SYN+ACK that reached our invitation after it ended (`_negotiate`) names a crossing the peer
    undoes on our FIN, and it goes on inviting with that SYN (Session `_on_fin_before_chat`).
    Taken for its straggler, every such SYN was ignored while the ended session lingered, past
    the invitation's expiry (explorer seed 48978)."""
    tag, _ = parse(syn.payload)
    if not (isinstance(session, FramedSession) and session.mode is Mode.EXTENDED and tag is not None):
        return False
    return (tag.chat_id == session.chat_id or tag.chat_id in session._x_syns_taken
            or (session.began and tag.chat_id in session.chat_id.split("+")))


# How many chat-ids of the peer's earlier invitations a session carries on (`offered_before`).
# Copies of an invitation's SYN all arrive within half a timeout of the peer's next SYN, so a
# few back is more than any path with delays under half a timeout brings; bounded, a long run of
# chats with one peer, each following the one before, keeps a session's state small.
EARLIER_CHAT_IDS = 8


def offered_before(session: Session, syn: Datagram) -> bool:
    """Does `syn` name an invitation of the peer's that came before `session` (an ended chat or
    invitation with its sender, `FramedSession._follow`)?  Then it is a late copy of that SYN.

    The peer's daemon has one invitation out at a time and never reuses a chat-id, so once a
    later session of ours with it followed that invitation's, the invitation was over at the
    peer: declined (the decline memory is the refusal's own: Node `_session_for` hands it its
    SYNs first), withdrawn, expired, or a chat.  Taken for a new invitation because it names
    another chat than the ended one, it was shown to our user though no one had invited (explorer
    seed 98285: bob declined alice's invitation; she re-sent her SYN just as his re-sent FIN
    reached her, and that SYN, delayed, came 0.9 s after the chat her next invitation opened had
    ended).  In plain SIMP the same copy comes within half a timeout of that chat's start, which
    takes it (`Session.takes_syn`); SIMPX/1 tells by chat-id instead (`names_another_chat`), and
    this is the chat-id that tells it."""
    tag, _ = parse(syn.payload)
    return isinstance(session, FramedSession) and tag is not None and tag.chat_id in session._x_earlier


def names_another_chat(session: Session, syn: Datagram) -> bool:
    """Does `syn` offer a chat-id other than that of `session` (an ended SIMPX/1 chat with its
    sender)?  Then it is a new invitation even while our decline memory lasts: a repeat of the
    declined SYN would carry the declined chat's id (explorer seed 887: the memory answered a
    new invitation with FIN, and the inviter was told 'declined')."""
    tag, _ = parse(syn.payload)
    return (isinstance(session, FramedSession) and session.mode is Mode.EXTENDED and tag is not None
            and not repeats(session, syn))


class Mode(enum.Enum):
    OFFERED = "negotiating"  # our SYN offered SIMPX/1; no answer yet
    EXTENDED = "extended"
    PLAIN = "plain"


class FramedSession(Session):
    """A Session behind the SIMPX/1 framing (see the module docstring).  It starts PLAIN: the
    node then calls `offer` (we invite) or `adopt` (we were invited with an offer)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.mode = Mode.PLAIN
        self.chat_id = ""
        self._x_offer = ""  # the chat-id our own invitation offers ("" when we were invited)
        # (the framing's own attributes start with _x_, so they never shadow one of Session's)
        self._x_last_chat = 0  # counter of our last chat message
        self._x_expect: tuple[int, ...] = ()  # counters whose ACK may reach the session
        self._x_delivered = 0  # counter of the peer's last message our user was shown
        self._x_framed: list[Datagram] = []  # tagged output, oldest first
        self._x_mode_note: str | None = None
        self._x_tagged = False  # the datagram being handed to the session carries this chat's tag
        self._x_counter = 0  # ... and this counter
        self._x_other_chat = ""  # ...or is a SYN offering this other chat-id (`_syn_opens_another_chat`)
        self._x_heard_tag = False  # some datagram of the peer carried this chat's tag
        self._x_syns_taken: set[str] = set()  # chat-ids of the peer's SYNs the session took (`repeats`)
        # chat-ids of the peer's invitations before this session, newest last (`offered_before`)
        self._x_earlier: tuple[str, ...] = ()
        self._x_undone: tuple[Mode, str] | None = None  # the crossing a FIN undid (`_undo_crossing`)

    def _follow(self, previous: Session | None) -> None:
        """Session._follow, and the chat-ids of the peer's invitations that `previous` and the
        sessions it followed took: their SYNs' late copies are no new invitation
        (`offered_before`)."""
        super()._follow(previous)
        if isinstance(previous, FramedSession):
            earlier = (*previous._x_earlier, *sorted(previous._x_syns_taken - set(previous._x_earlier)))
            self._x_earlier = earlier[-EARLIER_CHAT_IDS:]

    def offer(self, chat_id: str) -> None:
        self.mode, self.chat_id, self._x_offer = Mode.OFFERED, chat_id, chat_id

    def adopt(self, chat_id: str) -> None:
        self._x_syns_taken.add(chat_id)
        self._settle(Mode.EXTENDED, chat_id, "the inviter offered it")

    def take_mode_note(self) -> str | None:
        """Once, when the chat's mode is settled: a line for the debug log."""
        note, self._x_mode_note = self._x_mode_note, None
        return note

    def _settle(self, mode: Mode, chat_id: str, why: str) -> None:
        self.mode, self.chat_id = mode, chat_id
        what = f"extended ({PROTOCOL}, chat-id {chat_id})" if mode is Mode.EXTENDED else "plain SIMP"
        self._x_mode_note = f"chat with {self.peer[0]}:{self.peer[1]} runs in {what}: {why}"

    # -- output ------------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[Datagram]:
        self._frame(super().datagrams_to_send(), None)
        out, self._x_framed = self._x_framed, []
        return out

    def _frame(self, out: list[Datagram], answering: tuple[Datagram, Tag | None] | None) -> None:
        self._x_framed.extend(self._tagged(dg, answering) for dg in out)

    def _tagged(self, dg: Datagram, answering: tuple[Datagram, Tag | None] | None) -> Datagram:
        if dg.is_control(Op.SYN) and self._x_offer:
            # a SYN is only ever our own invitation, so it offers our own chat-id and negotiates
            # afresh: after crossing invitations the peer's FIN ends the crossed chat (the joined
            # chat-id) and the session asks again; with the joined id the peer would join it once
            # more into a tag no one can parse, and drop every answer (explorer seed 214)
            self.mode, self.chat_id = Mode.OFFERED, self._x_offer
        if self.mode is Mode.PLAIN or dg.is_control(Op.ERR):
            return dg
        if dg.is_control(Op.ACK):  # answers what was just handed to the session
            tag = answering[1] if answering is not None else None
            return dg if tag is None else self._with(dg, tag)
        if dg.is_control(Op.SYN) or dg.is_control(Op.SYN_ACK):
            self._x_expect = (0,) if dg.is_control(Op.SYN_ACK) else ()
            return self._with(dg, Tag(self.chat_id, 0))
        if dg.is_chat:
            # the same bit again is the same message re-sent (or, before our first, bit 1: a probe
            # of the session, numbered 0, which the peer's layer acknowledges without showing it)
            n = self._x_last_chat if bit(self._x_last_chat) == dg.seq else self._x_last_chat + 1
            self._x_last_chat, self._x_expect = n, (n,)
            return self._with(dg, Tag(self.chat_id, n))
        # FIN: ours (reliably re-sent); or a one-off answer to a SYN after a decline (tagged with
        # that SYN's chat) or to a late SYN+ACK after the end: nobody awaits the ACK of those, and
        # taking it would let its bit confirm a message that was never shown
        n = self._x_last_chat + 1 if bit(self._x_last_chat + 1) == dg.seq else self._x_last_chat + 2
        if answering is not None and answering[0].is_control(Op.SYN):
            syn_tag = answering[1]
            return dg if syn_tag is None else self._with(dg, Tag(syn_tag.chat_id, n))
        if answering is not None and answering[0].is_control(Op.SYN_ACK):
            return self._with(dg, Tag(self.chat_id, n))
        self._x_expect = (n, self._x_last_chat) if self._x_last_chat else (n,)
        return self._with(dg, Tag(self.chat_id, n))

    @staticmethod
    def _with(dg: Datagram, tag: Tag) -> Datagram:
        return dataclasses.replace(dg, payload=tag.encode() + (dg.payload if dg.is_chat else ""))

    # -- input -------------------------------------------------------------------------------

    def handle_datagram(self, dg: Datagram, now: float) -> str | None:
        self._frame(super().datagrams_to_send(), None)  # what is already due goes out first
        if self.mode is Mode.PLAIN and self._x_offer and dg.is_control(Op.SYN_ACK):
            self._accepted_after_all(dg)
        if self.mode is Mode.PLAIN or dg.is_control(Op.ERR):
            return super().handle_datagram(dg, now)
        tag, text = parse(dg.payload)
        refused = self._negotiate(dg, tag) if self.mode is Mode.OFFERED else self._admit(dg, tag)
        if refused:
            return f"{PROTOCOL}: {refused}"
        inner = dataclasses.replace(dg, payload=text if dg.is_chat else "")
        self._x_tagged = tag is not None  # (a tag of another chat never gets this far, but a SYN's)
        self._x_counter = tag.counter if tag is not None else 0
        self._x_heard_tag |= self._x_tagged
        offers_one = tag is not None and dg.is_control(Op.SYN) and "+" not in tag.chat_id  # (`_negotiate`)
        other = tag is not None and offers_one and names_another_chat(self, dg)
        self._x_other_chat = tag.chat_id if tag is not None and other else ""
        try:
            reason = super().handle_datagram(inner, now)
        finally:
            self._x_tagged, self._x_counter, self._x_other_chat = False, 0, ""
        out = super().datagrams_to_send()
        if dg.is_chat and tag is not None and any(d.is_control(Op.ACK) and d.seq == dg.seq for d in out):
            self._x_delivered = tag.counter  # the session showed it (it ACKs only what it shows)
        self._frame(out, (dg, tag))
        return reason

    def tells_invitations_apart(self) -> bool:
        """The peer speaks SIMPX/1 (it accepted or answered our offer with this chat's tag): its
        decline memory answers only SYNs with the declined chat's id (`names_another_chat`), so
        our next invitation need not wait for that memory to pass (Session.initiate)."""
        return self.mode is Mode.EXTENDED or self._x_heard_tag

    def _recross(self) -> None:
        """The peer restarted and invites us anew while we cross its old invitation: our SYN+ACK
        now answers the new chat (Session._on_syn_while_answering)."""
        self._x_syns_taken.add(self._x_other_chat)
        self.chat_id = join(self._x_offer, self._x_other_chat)

    def _undo_crossing(self) -> None:
        """A FIN undid our crossing (Session._on_fin_before_chat): remember its mode and chat-id;
        only its ACK may still complete it (`_negotiate`)."""
        self._x_undone = (self.mode, self.chat_id)

    def _redo_crossing(self) -> None:
        """The ACK of the crossing we undid completes it (Session._on_ack_uncrossed): the chat
        runs as that crossing did, not as our re-sent offer."""
        if self._x_undone is not None:
            self.mode, self.chat_id = self._x_undone

    def _syn_opens_another_chat(self) -> bool:
        """The SYN being handled offers another chat-id than this extended chat's: a new
        invitation (`names_another_chat`), not a copy of this chat's handshake."""
        return bool(self._x_other_chat)

    def _late_handshake_ack(self, dg: Datagram, now: float) -> bool:
        """Only an ACK numbered 0 can be the handshake's: the ACK of our first message carries
        #1, so it confirms that message at once (without the tag the session cannot tell the two
        apart and re-sends the message; when the peer left before that re-send was acknowledged,
        its user was told "not confirmed" for a message the peer had shown)."""
        if self._x_tagged and self._x_counter != 0:
            return False
        return super()._late_handshake_ack(dg, now)

    def _names_this_chat(self, dg: Datagram) -> bool:
        """A tagged datagram the framing lets through is this chat's: a FIN 0 answering our SYN is
        then the decline, never a copy of the previous chat's FIN (explorer seed 353)."""
        return self._x_tagged

    def _ours(self, tag: Tag) -> bool:
        """The tag names the chat we offered, alone or joined with the peer's crossing offer."""
        return tag.chat_id == self.chat_id or self.chat_id in tag.chat_id.split("+")

    def _negotiate(self, dg: Datagram, tag: Tag | None) -> str | None:
        """OFFERED: the peer's answer settles the mode; datagrams of another chat are dropped."""
        if dg.is_control(Op.SYN) and self.state is State.SYN_SENT:  # crossing invitations: both offers,
            # or plain; only while we still invite: after our withdrawal the SYN is a new invitation
            # the session does not take, and a joined id would put it on our FIN (explorer seed 469)
            if tag is None or "+" in tag.chat_id:  # (an offer is one id: a joined one could not be
                # joined again into a tag either side can parse, and every answer would be dropped)
                self._settle(Mode.PLAIN, "", "the peer invited us at the same time without an offer")
            else:
                self._x_syns_taken.add(tag.chat_id)
                self._settle(Mode.EXTENDED, join(self.chat_id, tag.chat_id),
                             "crossing invitations, both offered it")
            return None
        if tag is not None and not self._ours(tag):
            return self._other_chat(dg, tag)
        if (dg.is_control(Op.FIN) and tag is not None and tag.chat_id != self.chat_id
                and self._x_undone is not None and tag.chat_id == self._x_undone[1]):
            # the crossing is undone already (its FIN, or the peer's withdrawal of its own offer,
            # `_withdraws_its_crossing_offer`): a FIN naming it refuses that crossing, a copy or
            # the peer's answer to our SYN+ACK still on its way, never our re-sent invitation,
            # whose decline names our offer (explorer seed 86557: taken for a decline, the
            # invitation the peer was being shown ended at our side as "declined")
            return self._other_chat(dg, tag)
        if (dg.is_control(Op.ACK) and tag is not None and tag.chat_id != self.chat_id
                and (self._x_undone is None or tag.chat_id != self._x_undone[1])):
            # a crossing of our offer that we never had, or refused as another chat's while we had
            # another crossing (its ACK #0 acknowledges that FIN #0): only the ACK of the crossing a
            # FIN undid may complete it (Session._on_ack_uncrossed; explorer seed 48006, where such
            # an ACK started a chat the restarted peer never had, and its new SYNs were dropped)
            return self._other_chat(dg, tag)
        if dg.is_control(Op.SYN_ACK):
            if tag is None:
                self._settle(Mode.PLAIN, "", "the peer accepted without the extension")
            else:
                self._settle(Mode.EXTENDED, tag.chat_id, "the peer accepted our offer")
        return None

    def _accepted_after_all(self, dg: Datagram) -> None:
        """PLAIN after our offer, and a SYN+ACK echoing it comes: the peer speaks SIMPX/1, so the
        untagged SYN+ACK that made the chat plain was not its answer.  Only a datagram mangled
        on the way can be that (a SYN+ACK truncated into the short-fields dialect loses its tag,
        simp.dialect) or a stranger's; a SIMPX/1 peer answers an offer with its tag, a plain one
        never sends a tag.  So the chat becomes extended now, one timeout late, instead of
        each side dropping the other's datagrams until both give up.  Its ACK #0 is sent here:
        tagged, it cannot be taken for the ACK of a message (the session, having sent one, does
        not answer a repeated SYN+ACK in plain SIMP).  Our message, re-sent, is numbered #1."""
        tag, _ = parse(dg.payload)
        if any(len(m.text) > MAX_TAGGED_TEXT for m in self.pending):
            return  # (said at a plain chat's full length, it would no longer fit with the tag)
        if tag is not None and tag.counter == 0 and tag.chat_id == self._x_offer:
            self._settle(Mode.EXTENDED, tag.chat_id, "the peer accepted our offer (the earlier, "
                         "untagged SYN+ACK was not its answer: mangled on the way, or a stranger's)")
            self._x_framed.append(self._with(wire.control(Op.ACK, 0, self.local_user), tag))

    def _other_chat(self, dg: Datagram, tag: Tag) -> str:
        """A datagram of an older chat with this peer: never ours.  Its FIN is acknowledged (with its
        own tag, which only that chat takes), so the peer's old chat ends at once, as in SIMP."""
        if dg.is_control(Op.FIN):
            self._x_framed.append(self._with(wire.control(Op.ACK, dg.seq, self.local_user), tag))
            return f"FIN of another chat ({tag.chat_id}): acknowledged for that chat"
        if dg.is_control(Op.SYN_ACK):  # an acceptance of an invitation we no longer have (we restarted):
            # a FIN with its tag ends it, as a stranger's answer would, and frees the peer for our new one
            self._x_framed.append(self._with(wire.control(Op.FIN, 0, self.local_user), tag))
            return f"SYN+ACK of another chat ({tag.chat_id}): answered with FIN for that chat"
        return f"{dg.label} of another chat ({tag.chat_id})"

    def _withdraws_its_crossing_offer(self, dg: Datagram, tag: Tag) -> bool:
        """Crossed, before the chat began (SYN_ACK_SENT): is `dg` the peer's FIN naming its own
        offer alone, the part of our joined chat-id that is not ours?  The peer sends that only as
        the withdrawal of the invitation it made before our SYN reached it (once crossed, it names
        the joined id), so it is this crossing's, not another chat's: the session undoes the
        crossing and invites again (Session `_on_fin_before_chat`), as the same FIN does in plain
        SIMP.  Acknowledged as another chat's, it left the crossing standing, and the peer's
        acceptance of our invitation, which names our offer alone, was then answered with FIN as
        another chat's: the peer's user was told "withdrawn" though ours still invited, and our
        daemon later took that FIN's ACK for the undone crossing's and began a chat the peer did not
        have (explorer seed 86557)."""
        return (self.crossed and self.state is State.SYN_ACK_SENT and dg.is_control(Op.FIN)
                and tag.chat_id != self._x_offer and tag.chat_id in self.chat_id.split("+"))

    def _accepts_our_offer_alone(self, dg: Datagram, tag: Tag) -> bool:
        """Crossed, before the chat began (SYN_ACK_SENT): is `dg` a SYN+ACK naming our offer
        alone?  The peer accepted our invitation as an invited side does, so its own crossing one
        is over (withdrawn; its FIN may still be on its way, `_withdraws_its_crossing_offer`): the
        chat begins with our offer's chat-id, as an inviter takes any SYN+ACK naming its own offer.
        Answered with FIN as another chat's, the peer's user was told "withdrawn" of the invitation
        our user still made (explorer seed 86557, the other order of the same two datagrams)."""
        return (self.crossed and self.state is State.SYN_ACK_SENT and dg.is_control(Op.SYN_ACK)
                and tag.chat_id == self._x_offer)

    def _admit(self, dg: Datagram, tag: Tag | None) -> str | None:
        """EXTENDED: let through only what the session's one bit can take without a mistake."""
        if dg.is_control(Op.SYN):
            return None
        if tag is None:
            return f"untagged {dg.label} in an extended chat"
        if tag.chat_id != self.chat_id and not self._withdraws_its_crossing_offer(dg, tag):
            if self._accepts_our_offer_alone(dg, tag):
                self._settle(Mode.EXTENDED, tag.chat_id, "the peer accepted our offer (its own invitation, "
                             "which crossed ours, is withdrawn)")
                return None
            return self._other_chat(dg, tag)
        if dg.is_control(Op.ACK) and tag.counter not in self._x_expect:
            return f"ACK #{tag.counter}: nothing of ours with that number awaits its ACK"
        if dg.is_chat and tag.counter <= self._x_delivered:
            self._x_framed.append(self._with(wire.control(Op.ACK, dg.seq, self.local_user), tag))
            return f"CHAT #{tag.counter} was shown already: acknowledged again"
        if dg.is_chat and tag.counter != self._x_delivered + 1:
            return f"CHAT #{tag.counter} while #{self._x_delivered + 1} is the next"
        return None
