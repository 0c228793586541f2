"""Sans-IO SIMP chat session with one peer: handshake, stop-and-wait, tear-down, linger.

The session never reads a clock or touches a socket.  Every input carries `now` (seconds on
any monotonic clock the caller likes); the caller then collects:

- `datagrams_to_send()`: datagrams for the peer, in order;
- `events()`: what to tell the local user (simp.events);
- `get_timer()`: the next deadline, after which the caller must call `handle_timer(now)`.

All behaviour is in one transition table, `_TABLE`, keyed by (state, input).  A datagram with
no entry for the current state is ignored and `handle_datagram` says why; a user command with no
entry raises `CommandError`, since that is the caller's mistake, not the peer's.

Decisions where the protocol (docs/PROTOCOL.md) leaves room (also in README.md):
- `retries` counts re-sends: a chat datagram, SYN+ACK or FIN is sent at most 1 + retries times,
  and the sender gives up one timeout after the last one.  SYN is bounded by `invite_expiry`.
- Giving up or expiring an invitation tells the user at once, then re-sends a FIN until it is
  acknowledged or retries run out (SPEC says "best effort"; a FIN that is lost once would leave
  the peer in the chat for good).  Shutting down sends one FIN, best effort.
- A FIN carries the sender's current sequence bit; its ACK must echo that bit.
- An ERR answering our SYN stops the SYN and shows its text at once; without the FIN that
  should follow, the invitation ends as refused one timeout later (issue 13).
- After the end, a session lingers `linger` timeouts: it answers repeated FINs with ACK,
  duplicate chat datagrams with ACK, and (after a decline) repeated SYNs with FIN, for as long
  as they can be repeats (DECLINE_MEMORY, `takes_syn`); it stays longer when that memory, or our
  wait before re-inviting a peer that declined us (REINVITE_AFTER_DECLINE), outlasts it.
- Withdrawing our invitation frees our user at once; the FIN is re-sent in the background, and
  a new invitation to the same peer waits until it is acknowledged (`hold`).
- An idle chat probes its peer when a third party invites our user (`probe`), so a vanished
  peer never keeps the daemon busy for good.
- Known-limit mitigations (SPEC): a duplicate SYN+ACK is answered with ACK only while we have
  sent no chat datagram and received nothing else from the peer; an ACK with nothing in flight
  is ignored.  A SYN arriving while our SYN+ACK is outstanding is not answered at once (the
  retransmission timer answers it), so a lossy path never produces a second handshake ACK.
- Agreement (issue 9.5): a FIN before the handshake's ACK is a withdrawal for the invited side;
  our own withdrawal ends as WITHDRAWN_BY_US.  At the end, the message in flight is listed as
  sent but not confirmed, and its late ACK (only a peer that showed it sends one) confirms it.
- Crossing invitations (a SYN from the peer we invite) start the chat at once: we answer with
  SYN+ACK, and take the peer's SYN+ACK, if it answers ours the same way, for the acceptance.
- A responder that quits before the handshake's ACK arrives, or whose handshake was completed
  by a chat datagram (which may have overtaken the ACK), takes the first ACK 0 in the window where
  that ACK can still arrive (half a timeout after the chat datagram, a timeout after quitting) for
  the handshake's ACK, not for its first message or FIN (all carry bit 0): at worst one extra
  retransmission.  After quitting before that ACK, it answers later SYNs of that invitation with FIN,
  remembering the refusal from the latest of them (also while its FIN awaits its ACK), unless a chat
  datagram of the inviter's shows it completed the handshake: then only SYNs within half a timeout
  of that datagram are repeats (`_inviter_moved_on`).
- Right after our user refused the peer's invitation, a FIN 0 reaching our next invitation to it
  may be the peer's withdrawal of its own, which crossed our refusal: asked about as after a chat
  (`_follow`, `_on_fin_refused`).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from simp import events as ev
from simp import wire
from simp.wire import Datagram, Op, Type

# SPEC's decline memory, in timeouts: how long after the inviter's last SYN (or its ACK of our
# FIN, whichever came later) a SYN from it is still the invitation we refused (`takes_syn`).
# After our user declined, the inviter may be asking again because it could not tell our FIN
# from an older one (`_on_fin_refused`), re-sending its SYN every timeout until a FIN answers one,
# and those SYNs can be lost: 3.5 lets three in a row be lost and the fourth still get FIN
# rather than be shown again (explorer seeds 910, 1718, 1825).
DECLINE_MEMORY = 3.5
# After our user quit an accepted invitation before the handshake's ACK came, the inviter asks
# again only if our SYN+ACK never reached it: one lost question is tolerated.
QUIT_MEMORY = 1.5
# ... unless it cannot tell our FIN from a copy of our FIN 0 of the previous session with it: then
# it asks as after a decline, and the refusal is remembered as one (`_quit_memory`).
# Our own new invitation to a plain-SIMP peer that declined us (or left the chat we invited it to
# without a word: it may have quit before our handshake ACK, `initiate`) waits that memory and one timeout
# more after the end before its first SYN: it then arrives after the memory (our ACK, the peer's
# last news of us, may take half a timeout), and half a timeout off the phase of the peer's
# re-sent FIN, so that a FIN answering it is told from a re-sent copy.  A SIMPX/1 peer tells
# invitations apart by chat-id, and is invited at once.
REINVITE_AFTER_DECLINE = DECLINE_MEMORY + 1.0
# The ERR before the FIN with which a responder gives up a handshake its user had accepted: on the
# wire that FIN alone is a decline, and the inviter's user was told "declined" (explorer seed
# 62550); after an ERR the inviter ends its invitation as refused and shows this text.
ACCEPTED_NO_ANSWER_TEXT = "Accepted, but no answer came to the acceptance"


class CommandError(Exception):
    """A user command that makes no sense in the session's state (our side's mistake)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    timeout: float = 5.0  # retransmission timeout, seconds
    retries: int = 6  # re-sends before giving up
    invite_expiry: float = 60.0  # how long an invitation lives, either side
    linger: float = 3.0  # in timeouts: how long an ended session still answers its peer
    # our messages not yet acknowledged (in flight and queued); a Say beyond is refused: at one
    # round trip each they would take long to go out, and each may hold 65,468 bytes
    max_queued: int = 1000

    def __post_init__(self) -> None:
        if (self.timeout <= 0 or self.retries < 0 or self.invite_expiry <= 0 or self.linger < 0
                or self.max_queued < 1):
            raise ValueError(f"invalid session configuration: {self}")

    @property
    def fin_copies_span(self) -> float:
        """How long after a peer's FIN first reached us a copy of it may still come: the peer
        re-sends it every timeout until our ACK arrives, at most `retries` times (as we do), each
        copy delayed under half a timeout (`Session._follow`)."""
        return (self.retries + 1.5) * self.timeout


class State(enum.Enum):
    SYN_SENT = "syn-sent"  # we invited; waiting for SYN+ACK, FIN or ERR
    INVITED = "invited"  # we were invited; our user is deciding
    SYN_ACK_SENT = "syn-ack-sent"  # our user accepted; waiting for the ACK
    ESTABLISHED = "established"
    DRAINING = "draining"  # our user quit; queued messages go out before the FIN
    FIN_SENT = "fin-sent"  # waiting for the ACK of our FIN
    CLOSING = "closing"  # over for our user (declined, gave up, expired); our FIN awaits its ACK
    CLOSED = "closed"  # ended for the user; still answering stragglers until linger ends
    DONE = "done"  # forgotten


class Input(enum.Enum):
    SYN = "SYN"
    SYN_ACK = "SYN+ACK"
    ACK = "ACK"
    FIN = "FIN"
    ERR = "ERR"
    CHAT = "CHAT"
    ACCEPT = "accept"
    DECLINE = "decline"
    SAY = "say"
    QUIT = "quit"
    ABORT = "abort"
    PROBE = "probe"  # someone else wants our user: is the peer of this idle chat still there?


_DATAGRAM_INPUT = {Op.SYN: Input.SYN, Op.SYN_ACK: Input.SYN_ACK, Op.ACK: Input.ACK, Op.FIN: Input.FIN,
                   Op.ERR: Input.ERR}
# states in which the chat is the user's current business (an invitation counts)
ACTIVE = frozenset({State.SYN_SENT, State.INVITED, State.SYN_ACK_SENT, State.ESTABLISHED,
                    State.DRAINING, State.FIN_SENT})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message of ours waiting for, or in, transmission."""

    msg_id: int
    text: str


class Session:
    """One chat with one peer; see the module docstring for the calling convention."""

    def __init__(self, config: SessionConfig, *, local_user: str, peer: ev.Address, peer_user: str,
                 state: State, now: float) -> None:
        self.config = config
        self.local_user = local_user
        self.peer = peer
        self.peer_user = peer_user
        self.state = state
        self.retransmissions = 0
        self._outbox: list[Datagram] = []
        self._events: list[ev.Event] = []
        self._send_bit = 0
        self._recv_bit = 0
        self._queue: deque[Outgoing] = deque()
        self._current: Outgoing | None = None  # the chat message in flight
        self._inflight: Datagram | None = None  # the datagram being retransmitted
        self._retx_at: float | None = None
        self._tries = 0
        self._retx_limit: int | None = None
        self._expire_at: float | None = None
        self._linger_until: float | None = None
        self._sent_chat = False
        self._peer_spoke = False  # received anything from the peer after its SYN+ACK
        self._peer_chatted = False  # received a chat message from the peer
        self._shown_any = False  # ...and our user was shown one
        self._declined = False
        self._handshake_ack_until: float | None = None  # till then an ACK 0 may be the handshake's
        self._refused = False  # the peer answered our SYN with ERR
        self._peer_may_send_fin = False  # the peer sent FIN, or may still think the chat is on
        self._closing_reason = ev.EndReason.QUIT
        self.initiator = state is State.SYN_SENT
        self.crossed = False  # both sides invited each other; we answered the peer's SYN
        self._invite_expire_at: float | None = None  # our invitation's expiry, kept while crossed
        self._old_fin_always = False  # ...and its peer may send that chat's FIN at any time
        self._old_fin_until: float | None = None  # ...or till then (it re-sends it every timeout)
        self._old_fin_seq: int | None = None  # ...with that bit (None: unknown)
        self._our_fin0_at: float | None = None  # when we first sent a FIN 0 (`_quit_memory`)
        # (invited) till when the peer may doubt a FIN 0 of ours for one of the previous session's
        self._fin0_doubted_until: float | None = None
        self._after_withdrawal = False  # our withdrawal may have crossed a decline (`_follow_withdrawal`)
        self.first_peer_fin_at: float | None = None  # when the peer's first FIN arrived
        self.first_peer_fin_seq: int | None = None  # ...and its bit (the peer re-sends it unchanged)
        self._answer_due_until: float | None = None  # a FIN 0 till then answers our repeated SYN
        self._unclear_fin = False  # a FIN 0 came that may be the decline or an old copy (UNCLEAR)
        # first SYN from the peer since it last spoke (in a chat, `_on_syn_in_chat`), or naming
        # another chat while our SYN+ACK awaits its ACK (`_on_syn_while_answering`)
        self._first_syn_in_chat: float | None = None
        self.peer_lost_chat = False  # the peer's SYNs showed it lost the chat (it restarted)
        self._began = False  # the chat was established (the handshake is complete on both sides)
        # ... when we learnt it, for half a timeout (`_forget_the_start`)
        self._began_at: float | None = None
        self._unconfirmed: Outgoing | None = None  # in flight when the chat ended (bit: _send_bit)
        self._decline_acked_at: float | None = None  # when the ACK of our decline's FIN came
        self._moved_on = False  # the inviter's FIN showed it asks no more (`_inviter_moved_on`)
        self._last_repeat_at: float | None = None  # the inviter's last SYN after our decline
        self._decline_memory = 0.0  # DECLINE_MEMORY or QUIT_MEMORY, once we refused (`takes_syn`)
        self._refused_at = 0.0  # ... when
        self._invited_at: float | None = None  # when the peer's invitation first reached us
        self.declined_us_at: float | None = None  # when the peer's FIN declined our invitation
        self.left_silently_at: float | None = None  # when the FIN of an invited peer that said nothing came
        self._first_send_at: float | None = None  # our first SYN or SYN+ACK waits till then
        self._held = False  # our first SYN waits for `release` (see `hold`)
        self._uncrossed_until: float | None = None  # (SYN_SENT) see `_on_ack_uncrossed`
        self.withdrawn = False  # we withdrew this invitation of ours (our user did, or it expired)
        self.fin_acked_at: float | None = None  # when the ACK of our withdrawal's FIN came
        self._cut_fin_ack_until: float | None = None  # see `awaits_ack_of_our_fin`
        self._probing = False  # a copy of our last chat datagram asks the peer whether it is there
        self._fin_doubted = False  # the peer's FIN taken for an older one's (`_old_fin_in_chat`)
        self._next_probe_at = 0.0  # ... at most once a timeout (`probe`)
        self._last_chat: Datagram | None = None  # our last chat datagram, acknowledged or not
        self._refusal: Session | None = None  # (our invitation) the refusal it followed, see `_follow`
        self._replaced: Session | None = None  # (our invitation) the peer's it followed, see `_follow`
        self._answered = False  # we sent SYN+ACK (accepted, or crossed): the peer may have had a chat
        self._follows_a_session = False  # its stragglers may reach this chat (`_follow`, `_old_chat`)
        self._old_chat_until: float | None = None  # a chat datagram with bit 0 may be its (`_old_chat`)
        # a chat datagram of ours, re-sent in the chat a restarted peer lost, may reach it till
        # then; our SYN+ACK to its new invitation waits for that (`_on_syn_in_chat`, `_cmd_accept`)
        self._our_chat_copies_until: float | None = None

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def initiate(cls, config: SessionConfig, *, local_user: str, peer: ev.Address, now: float,
                 previous: Session | None = None, stray_fin: tuple[float, int] | None = None) -> Session:
        """We invite `peer`: SYN now, re-sent every timeout until answered or expired.

        `previous` is our ended chat with the same peer, if it still lingers: its FINs may still
        come and must not decide this invitation (see `_on_fin_refused`).  `stray_fin`, with no
        such chat: when a FIN from the peer came that belonged to no session of ours, and its
        bit.  It ends something of the peer's we never had (an invitation whose SYNs were all
        lost, then withdrawn), and its copies may still come as a previous chat's FIN may
        (explorer seed 14953: one was taken for a decline of this invitation)."""
        session = cls(config, local_user=local_user, peer=peer, peer_user="", state=State.SYN_SENT, now=now)
        session._follow(previous)
        session._follow_withdrawal(previous, now)
        if previous is None and stray_fin is not None:
            session._old_fin_seq = stray_fin[1]
            session._old_fin_until = stray_fin[0] + config.fin_copies_span
        session._expire_at = now + config.invite_expiry
        session._transmit_reliably(session._control(Op.SYN, 0), now, limit=None)
        since = None
        if previous is not None and not previous.tells_invitations_apart():
            since = previous.left_silently_at if previous.declined_us_at is None else previous.declined_us_at
        if since is not None:
            # the peer declined us just now, or left the chat we invited it to without a word (it
            # may have quit before our handshake ACK reached it, and then remembers that
            # invitation as refused for a while after the ACK, `_cmd_quit`): a SYN too soon
            # could read as a repeat of that invitation and get its FIN again (SPEC's decline
            # memory, `takes_syn`); wait REINVITE_AFTER_DECLINE.  After a silent leave too, not
            # QUIT_MEMORY's shorter wait: the peer remembers such a refusal as a decline
            # (`_quit_memory`) whenever it sent a FIN 0 in the session before, which we may
            # never have heard.  Explorer seed 101849: bob's FIN 0 of their chat was lost as
            # alice's crossed it; 20 s later he accepted her invitation and quit before her ACK;
            # her next invitation, 12.5 s after, came within his decline memory: "declined".
            first = since + REINVITE_AFTER_DECLINE * config.timeout
            if first > now:
                session._hold_first_send(first)
        if previous is not None and previous.withdrawing:
            session.hold()
        elif previous is not None and previous.withdrawn and previous.fin_acked_at is not None:
            # our withdrawal was just acknowledged: the peer's SYN+ACKs sent before it got our FIN
            # arrive within half a timeout (Session.hold, `release`)
            late = previous.fin_acked_at + config.timeout / 2
            if late > now:
                session._hold_first_send(late)
        return session

    @classmethod
    def invited(cls, config: SessionConfig, *, local_user: str, peer: ev.Address, syn: Datagram,
                now: float, previous: Session | None = None,
                fin0_doubted_until: float | None = None) -> Session:
        """`peer` invited us with `syn`: show the invitation to our user (`previous`: as above;
        `fin0_doubted_until`, with no such session: its `fin0_doubted_until`, kept by the node)."""
        session = cls(config, local_user=local_user, peer=peer, peer_user=syn.user, state=State.INVITED,
                      now=now)
        session._follow(previous)
        session._fin0_doubted_until = fin0_doubted_until if previous is None else previous.fin0_doubted_until
        session._peer_starts_this_chat(now)  # (its SYN)
        session._invited_at = now
        session._expire_at = now + config.invite_expiry
        session._events.append(ev.Invitation(peer=peer, user=syn.user))
        return session

    def _follow(self, previous: Session | None) -> None:
        """Remember what the wire may still bring of the previous chat with the same peer.

        Its FIN may still come if the peer sent one: it is re-sent every timeout until our ACK
        arrives, which we cannot know, at most `retries` times (as ours; delays under half a
        timeout), so until (retries + 1.5) timeouts after the first, and always with the bit of
        the first (it is the same datagram re-sent).  If we gave up on the peer without its
        acknowledgement, it may come at any time, with either bit.

        If we refused the peer's invitation, the peer may have withdrawn it at the same moment:
        its FIN 0 crossed our refusal, and its copies come until our ACK of one arrives, though we
        never saw the first (explorer seed 16640: one was taken for a decline of our next
        invitation).  It was sent before our refusal reached the peer, so its copies may come
        until a re-send span after the refusal; known from the refusing session while it lingers
        (its decline memory, 3.5 timeouts after the inviter's last news, at least), and after it
        from the node, which keeps the refusal's time as that of a stray FIN (Node `_forget`,
        `stray_fin` above; explorer seed 40259).  Lingering the whole span instead made the model
        checker's catalog search lose a plain-SIMP scenario's path
        (`same_peer_again_plain_simp_limit_declined_invitation_shown_again`), since the session
        decides more than that FIN.  That refusal also outlives our invitation, and the next, if
        they end without a chat (`inherited_refusal`).

        If the peer declined our invitation and then invited us, it still remembers that decline
        when its own invitation is over: our next invitation to it waits as after a decline
        (`initiate`), counted from the peer's latest FIN 0, since the peer may count the
        decline's memory from our ACK of that (`_refusal_heard`; explorer seed 10356).  Carried
        by this session, which replaced ours in the node, it was forgotten, and our SYN sent at
        once was answered from that memory (seed 19650).

        A chat datagram of the previous chat may still come, with bit 0, if the peer had that chat
        (we began it or sent SYN+ACK), its next message there carried bit 0 (the bit we expected
        at the end), and it did not leave with a FIN (a FIN goes once everything before it is
        acknowledged, so shown): we quit, gave up, or it restarted (`_old_chat`).  Also when the
        previous session, say an invitation that ended without a chat, followed such a chat: its
        window, if the peer had started it, bounds this one's."""
        if previous is not None and ((previous.began or previous._answered) and previous._recv_bit == 0
                                     and previous.first_peer_fin_at is None):
            self._follows_a_session = True
        elif previous is not None and previous._follows_a_session:
            self._follows_a_session, self._old_chat_until = True, previous._old_chat_until
        if previous is not None and previous.peer_may_send_fin:
            first = previous.first_peer_fin_at
            self._old_fin_always = first is None
            self._old_fin_seq = previous.first_peer_fin_seq
            self._old_fin_until = None if first is None else first + self.config.fin_copies_span
        elif previous is not None and previous.declined and not previous.initiator:
            self._old_fin_seq = 0
            self._old_fin_until = previous.refused_at + self.config.fin_copies_span
        if self.initiator and previous is not None and not previous.began:
            self._refusal = previous if previous.declined and not previous.initiator else previous._refusal
        if self.initiator and previous is not None:  # (a chat too: its SYN's late copy, seed 619)
            self._replaced = previous if not previous.initiator else previous._replaced
        if (previous is not None and previous.initiator and not previous.began
                and previous.declined_us_at is not None and not self.initiator):
            self.declined_us_at = previous.declined_us_at  # (see below)
        if previous is not None:
            self._our_chat_copies_until = previous._our_chat_copies_until  # (`_cmd_accept`)

    def _follow_withdrawal(self, previous: Session | None, now: float) -> None:
        """(Inviting.)  The previous session was our invitation to the same peer, withdrawn (or
        expired) with no FIN of the peer's heard: the peer's user may have declined it at the
        same moment, its FIN 0 crossing ours, and every copy of it so far lost.  The peer re-sends
        it until our ACK arrives, which never comes until a copy does, so a FIN 0 reaching this
        invitation may be that decline's copy, sent before any SYN of ours reached the peer:
        asked about as a previous chat's FIN is (`_on_fin_refused`; explorer seeds 33459, 36028:
        taken for a decline of the next invitation, which the peer never saw).  The decline left
        before the peer got our FIN, so before its ACK reached us: copies may come until a re-send
        span after that (`release`, when the withdrawal was still under way); known for as long as
        the withdrawn session lingers, and after it from the node, which keeps the time of that
        ACK as that of a stray FIN, as for a refusal (`_follow`, Node `_forget`; explorer seed
        46040)."""
        if (previous is None or not previous.initiator or previous.began or not previous.withdrawn
                or previous.peer_may_send_fin or self._old_fin_always):
            return
        self._after_withdrawal = True
        if not previous.withdrawing:
            self._old_fin_from(previous.fin_acked_at if previous.fin_acked_at is not None else now)

    def _old_fin_from(self, sent_by: float) -> None:
        """A FIN 0 the peer sent by `sent_by` may still come: till a re-send span after it."""
        if self._old_fin_seq is None or self._old_fin_seq == 0:
            self._old_fin_seq = 0
            until = sent_by + self.config.fin_copies_span
            self._old_fin_until = max(self._old_fin_until or until, until)

    def _peer_starts_this_chat(self, now: float) -> None:
        """The peer's first datagram of this chat came (its SYN, SYN+ACK, or crossing SYN); see
        `_old_chat`."""
        if self._follows_a_session and self._old_chat_until is None:
            self._old_chat_until = now + self.config.timeout / 2

    def _old_chat(self, dg: Datagram, now: float) -> bool:
        """May the chat datagram `dg` be a straggler of the previous chat with this peer?

        Byte for byte, a straggler with bit 0 is this chat's first message from the peer (SPEC's
        known limit), but with delays under half a timeout it is told apart by time: the peer sent
        all of its previous chat before its first datagram of this one, so the straggler arrives
        within half a timeout of that (`_peer_starts_this_chat`).  The peer's real first message
        left after our answer to that datagram, so its re-send, a timeout later, is past the
        window: there it is shown.  So a bit-0 chat datagram in the window is neither shown nor
        acknowledged (our ACK 0 would confirm the first message of this chat, though lost, or the
        old one, though never shown).  Cost: the peer's first message, if sent at once, comes a
        timeout later, only right after a chat with this peer (explorer seed 36872: shown in the
        next chat, which our user was leaving, and confirmed to a peer that had said it was not).
        A SIMPX/1 datagram of this chat names it: always taken."""
        return (dg.seq == 0 and self._old_chat_until is not None and now <= self._old_chat_until
                and not self._names_this_chat(dg))

    def tells_invitations_apart(self) -> bool:
        """Does this chat's peer tell a new invitation from a repeat of an old one by what the
        SYN carries?  Never in SIMP; a framing layer with chat-ids (simp.extension) may."""
        return False

    def _recross(self) -> None:
        """Our crossing SYN+ACK is to answer the peer's new invitation (`_on_syn_while_answering`);
        nothing to change in SIMP, a framing layer with chat-ids adopts the new chat."""

    def _undo_crossing(self) -> None:
        """A FIN undoes our crossing (`_on_fin_before_chat`); nothing to remember in SIMP, a
        framing layer with chat-ids remembers which chat that was: only an ACK of that one may
        still complete it (`_on_ack_uncrossed`)."""

    def _redo_crossing(self) -> None:
        """The ACK of the crossing we undid completes it after all (`_on_ack_uncrossed`); nothing
        to change in SIMP, a framing layer with chat-ids takes up that chat again."""

    def _syn_opens_another_chat(self) -> bool:
        """Does the SYN being handled name a chat other than this one?  Never in SIMP; a framing
        layer with chat-ids (simp.extension) answers for it: then it is a new invitation."""
        return False

    def _names_this_chat(self, dg: Datagram) -> bool:
        """Did `dg` come with proof that it belongs to this chat, not an earlier one with the same
        peer?  Never in SIMP (its header has no room for it); a framing layer that carries
        chat-ids (simp.extension) answers for the datagram it is handing over."""
        return False

    def _old_fin_may_come(self, now: float, seq: int) -> bool:
        """May a FIN with bit `seq` arriving now be the previous chat's (see `_follow`)?"""
        if self._old_fin_seq is not None and seq != self._old_fin_seq:
            return False
        return self._old_fin_always or (self._old_fin_until is not None and now <= self._old_fin_until)

    # -- outputs ---------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def events(self) -> list[ev.Event]:
        out, self._events = self._events, []
        return out

    def get_timer(self) -> float | None:
        deadlines = [t for t in (self._retx_at, self._expire_at, self._linger_until) if t is not None]
        return min(deadlines, default=None)

    @property
    def active(self) -> bool:
        """True while the chat or invitation is still the user's business."""
        return self.state in ACTIVE

    @property
    def declined(self) -> bool:
        """True when our user declined this peer's invitation (repeated SYNs get FIN)."""
        return self._declined

    @property
    def refused_at(self) -> float:
        """When our user refused the peer's invitation (declined it, or quit before the ACK)."""
        return self._refused_at

    @property
    def peer_may_send_fin(self) -> bool:
        """True when a FIN of this session may still come from the peer: it ended the session with
        FIN (repeated if our ACK is lost), or we gave up on it without its acknowledgement."""
        return self._peer_may_send_fin

    @property
    def began(self) -> bool:
        """True once the chat was established (not merely an invitation)."""
        return self._began

    @property
    def finished(self) -> bool:
        return self.state is State.DONE

    @property
    def takes_chat(self) -> bool:
        """A chat datagram from the peer can belong to this session in its state: not while we
        invite (SYN_SENT) or our user decides (INVITED), before any SYN+ACK went either way, as
        no peer of any dialect sends one before that (simp.dialect learns nothing from it)."""
        return (self.state, Input.CHAT) in _TABLE

    @property
    def withdrawing(self) -> bool:
        """Our withdrawn invitation's FIN still awaits its ACK (CLOSING before any chat began):
        the peer may still be accepting it, so its SYN+ACK may still come (see `hold`)."""
        return self.withdrawn and self.state is State.CLOSING and self._inflight is not None

    @property
    def unheard(self) -> bool:
        """Inviting, and our first SYN has not gone out yet (`hold`, `_hold_first_send`)."""
        return self.state is State.SYN_SENT and (self._held or self._first_send_at is not None)

    @property
    def held(self) -> bool:
        return self._held and self.state is State.SYN_SENT

    def hold(self) -> None:
        """SYN_SENT, just created: keep our first SYN back until `release`.

        Our user withdrew the previous invitation to this peer and at once invites it again.
        A SYN+ACK the peer sent for the withdrawn invitation, before our FIN reached it, could
        otherwise be taken for an acceptance of this one, and our chat would start while the
        peer's ends as "withdrawn" (test_session's drop-only property).  So the node lets the
        withdrawal finish first (its datagrams go to the withdrawn session meanwhile), and a
        SYN+ACK that comes before our first SYN went out is never taken (`_on_syn_ack`)."""
        self._outbox.clear()
        self._retx_at = None
        self._held = True

    def release(self, now: float) -> None:
        """The withdrawal is acknowledged (or given up): our first SYN goes out half a timeout
        later, when every SYN+ACK the peer sent before our FIN has arrived, and after the peer's
        half timeout in which a SYN is taken for a late copy of the withdrawn one (`takes_syn`)."""
        if self._held and self.state is State.SYN_SENT:
            self._held = False
            self._hold_first_send(now + self.config.timeout / 2)
            if self._after_withdrawal:
                self._old_fin_from(now)  # (`_follow_withdrawal`)

    def _hold_first_send(self, until: float) -> None:
        """Our first SYN (in flight, not yet sent) goes out at `until` at the earliest; likewise
        our first SYN+ACK (`_cmd_accept`)."""
        self._outbox = [dg for dg in self._outbox if dg is not self._inflight]  # (an ACK stays)
        self._first_send_at = self._retx_at = max(until, self._first_send_at or until)

    @property
    def pending(self) -> tuple[Outgoing, ...]:
        """Our messages not yet acknowledged, oldest first."""
        return ((self._current,) if self._current else ()) + tuple(self._queue)

    # -- inputs ----------------------------------------------------------------------------

    def handle_datagram(self, dg: Datagram, now: float) -> str | None:
        """Process a datagram from the peer; returns why it was ignored, or None if it was used."""
        self._forget_the_start(now)
        kind = Input.CHAT if dg.type is Type.CHAT else _DATAGRAM_INPUT[Op(dg.op)]
        if kind is Input.FIN and self._refusal is not None:
            self._refusal._inviter_gave_up(dg, now)  # (see `inherited_refusal`)
        if kind is Input.FIN and dg.seq == 0 and self.declined_us_at is not None and not self.initiator:
            self._declined_by_peer(now)  # (see `_follow`: its decline memory may run from our ACK)
        handler = _TABLE.get((self.state, kind))
        if handler is None:
            return f"{kind.value} not expected in state {self.state.value}"
        return handler(self, dg, now)

    def accept(self, now: float) -> None:
        self._command(Input.ACCEPT, None, now)

    def decline(self, now: float) -> None:
        self._command(Input.DECLINE, None, now)

    def say(self, msg_id: int, text: str, now: float) -> None:
        """Queue a message; it is sent when everything before it has been acknowledged."""
        self._command(Input.SAY, Outgoing(msg_id, text), now)

    def quit(self, now: float) -> None:
        """End the chat: queued messages first, then FIN.  Also withdraws or declines an invitation."""
        self._command(Input.QUIT, None, now)

    def abort(self, now: float) -> None:
        """End at once (daemon stopping): one FIN, best effort; everything pending is undelivered."""
        self._command(Input.ABORT, None, now)

    def probe(self, now: float) -> None:
        """A third party invites our user while this chat is idle: make sure the peer still has it.

        A chat with nothing in flight hears nothing from a peer whose daemon vanished (killed,
        unplugged), so without this it would keep our user busy for third parties forever (issue
        9.3).  We re-send, reliably, our last chat datagram (its bit is the one the peer has already
        taken, so a peer still in the chat acknowledges it as a duplicate and shows nothing).  Before
        our first message there is none: we send an *empty* chat datagram with bit 1, which a SPEC
        peer also takes for a duplicate, and which a peer that learns dialects never reads as the
        first message of a peer counting from 1 (simp.dialect: an empty bit-1 datagram is never
        evidence), so the inviter that has said nothing is freed too (explorer seed 713).  Its ACK
        ends the probe, and only then may a message said meanwhile go out: sent at once, it would
        flip the bit, and a probe it overtook would read as a new message.  No answer after the
        retries ends the chat as "not answering", with a FIN re-sent as on any give-up.  Only a
        third party's SYN starts it, at most one at a time and one a timeout, so a live chat costs
        at most one datagram and its ACK per timeout however many invitations it refuses (a flood
        of SYNs from strangers, which the node answers only within its rate limit, once made us
        re-send a 65 kB message to the peer for each), and a user's silence alone never ends a
        chat."""
        handler = _TABLE.get((self.state, Input.PROBE))
        if handler is not None:
            handler(self, None, now)

    def handle_timer(self, now: float) -> None:
        self._forget_the_start(now)
        if self._expire_at is not None and now >= self._expire_at:  # first: no SYN is sent at expiry
            self._expire_at = None
            self._on_expiry(now)
        if self._retx_at is not None and now >= self._retx_at:
            self._on_retransmit_timer(now)
        if self._linger_until is not None and now >= self._linger_until:
            self._keep_for_refusal()  # (a repeat it answered since renewed its memory)
        if self._linger_until is not None and now >= self._linger_until:
            self._linger_until = None
            self._retx_at = None
            self.state = State.DONE

    def _command(self, kind: Input, arg: Outgoing | None, now: float) -> None:
        handler = _TABLE.get((self.state, kind))
        if handler is None:
            raise CommandError(f"cannot {kind.value} in state {self.state.value}")
        handler(self, arg, now)

    # -- transmission helpers ----------------------------------------------------------------

    def _control(self, op: Op, seq: int, text: str = "") -> Datagram:
        return wire.control(op, seq, self.local_user, text)

    def _transmit_reliably(self, dg: Datagram, now: float, *, limit: int | None) -> None:
        """Send `dg` and re-send it every timeout, at most `limit` times (None: until stopped)."""
        self._inflight, self._tries, self._retx_limit = dg, 0, limit
        if dg.is_control(Op.FIN) and dg.seq == 0 and self._our_fin0_at is None:
            self._our_fin0_at = now
        self._first_send_at = None  # (this one goes now: a held first SYN or SYN+ACK is replaced)
        self._probing = False  # (whatever we send now probes the peer as well)
        self._retx_at = now + self.config.timeout
        self._outbox.append(dg)

    def _stop_retransmitting(self) -> None:
        self._inflight, self._retx_at = None, None

    def _on_retransmit_timer(self, now: float) -> None:
        if self._inflight is None:
            self._retx_at = None
            return
        if self._retx_limit is None or self._tries < self._retx_limit:
            if self._first_send_at is not None:
                self._first_send_at = None  # our first SYN, held back (`initiate`): not a re-send
            else:
                self._tries += 1
                self.retransmissions += 1
            self._retx_at = now + self.config.timeout
            self._outbox.append(self._inflight)
            return
        self._stop_retransmitting()
        if self.state is State.CLOSING:
            self._linger(now)  # the peer never acknowledged our FIN: it is gone
        elif self.state is State.FIN_SENT:
            self._peer_may_send_fin = True
            self._end(self._closing_reason, now)
        else:
            self._peer_may_send_fin = True
            if self.state is State.SYN_ACK_SENT:
                if not self.crossed:  # our FIN refuses this invitation: a SYN still on its way is
                    # a repeat, answered with FIN, not a new one.  (Crossed, our user never saw
                    # the peer's invitation, as in `_cmd_quit`: the peer's next one, answered from
                    # this memory, was told "declined"; explorer seed 32683)
                    self._refuse(self._quit_memory(now), now)
                # crossed too, our SYN+ACKs accepted the peer's invitation: alone, our FIN read as
                # a decline of it, or of the new invitation of a restarted peer whose SYNs we took
                # for repeats (explorer seed 71118)
                self._outbox.append(self._control(Op.ERR, 0, ACCEPTED_NO_ANSWER_TEXT))  # (see its text)
            if self._fin_doubted:
                # the peer's FIN we acknowledged as an older one's (`_old_fin_in_chat`) was this
                # chat's end after all: the peer has nothing left for our FIN to end, and a plain
                # one may invite us again by now, which our FIN 0 would answer as a decline
                # (explorer seed 104068: bob quit as the chat began, alice's probe went
                # unanswered, and her FIN after it told bob's new invitation "declined")
                self._end(ev.EndReason.NOT_ANSWERING, now)
                return
            self._end(ev.EndReason.NOT_ANSWERING, now, fin_reliably=True)

    def _on_expiry(self, now: float) -> None:
        if self.state is State.SYN_SENT and self._refused:
            self._end(ev.EndReason.REFUSED, now)  # ERR without its FIN: nothing to tell the peer
        elif self.state is State.SYN_SENT:
            # on the wire an expiry is a withdrawal: the peer's user may be deciding right now, so
            # a decline or acceptance may cross our FIN, and a new invitation to the same peer
            # waits for its ACK as after a withdrawal (`hold`; explorer seed 4618: the peer's
            # decline of the expired invitation was taken as the answer to a new one)
            self.withdrawn = True
            self._stop_retransmitting()
            self._end(ev.EndReason.UNCLEAR if self._unclear_fin else ev.EndReason.NO_ANSWER, now,
                      fin_reliably=True)
        elif self.state is State.INVITED:
            self._end(ev.EndReason.WITHDRAWN, now)

    def _end(self, reason: ev.EndReason, now: float, *, fin: bool = False,
             fin_reliably: bool = False) -> None:
        """Tell the user the chat is over (with what was not delivered), then linger.

        `fin` sends one FIN, best effort (the daemon is stopping).  `fin_reliably` re-sends it
        until acknowledged or retries run out (CLOSING), so a peer that is only badly reachable
        still learns the chat is over instead of staying in it: every control packet is re-sent.
        A FIN that follows an abandoned message uses the other bit, so a late ACK of that message
        is not taken for the FIN's ACK.
        """
        fin_seq = self._send_bit ^ 1 if self._current is not None else self._send_bit
        undelivered = tuple(ev.Undelivered(msg_id=m.msg_id, text=m.text, sent=m is self._current)
                            for m in self.pending)
        self._unconfirmed = self._current  # its late ACK (bit `_send_bit`) still confirms it
        self._queue.clear()
        self._current = None
        self._events.append(ev.ChatEnded(peer=self.peer, user=self.peer_user, reason=reason,
                                         undelivered=undelivered))
        if fin_reliably:
            self._expire_at = None
            self.state = State.CLOSING
            self._transmit_reliably(self._control(Op.FIN, fin_seq), now, limit=self.config.retries)
            return
        if fin:
            self._outbox.append(self._control(Op.FIN, fin_seq))
        self._linger(now)

    def _linger(self, now: float) -> None:
        self._stop_retransmitting()
        self._expire_at = None
        self.state = State.CLOSED
        self._linger_until = now + self.config.linger * self.config.timeout
        self._keep_for_peer_fin()
        self._keep_for_refusal()
        if self._declined:
            self._remember_decline(now)
        if self.declined_us_at is not None:
            self._declined_by_peer(self.declined_us_at)

    def _keep_for_peer_fin(self) -> None:
        """Linger while the peer may still re-send its FIN (`_follow`: until retries + 1.5
        timeouts after its first): a new invitation of ours to the peer must know that a FIN 0
        may be this chat's.  Forgotten after a plain linger, the session left the next
        invitation to take the peer's re-sent FIN, whose copies before had all been lost, for a
        decline (explorer seed 1242)."""
        if self._peer_may_send_fin and self.first_peer_fin_at is not None:
            self._linger_at_least(self.first_peer_fin_at + self.config.fin_copies_span)

    def _linger_at_least(self, until: float) -> None:
        """An ended session (CLOSED) still answers its peer until `until` at least."""
        if self.state is State.CLOSED:
            self._linger_until = max(self._linger_until or until, until)

    def _declined_by_peer(self, at: float) -> None:
        """The peer's FIN refused our invitation at `at` (its latest copy): keep this session
        until our next invitation to the peer may go (`initiate`), so that one knows to wait."""
        self.declined_us_at = at
        self._linger_at_least(at + REINVITE_AFTER_DECLINE * self.config.timeout)

    def _establish(self, now: float) -> None:
        self._began_at = now
        self._first_syn_in_chat = None  # (a SYN of another chat counted while we answered)
        self._stop_retransmitting()
        self._expire_at = None
        self.state = State.ESTABLISHED
        self._began = True
        self._events.append(ev.ChatStarted(peer=self.peer, user=self.peer_user))

    def _send_next(self, now: float) -> None:
        """Start the next queued message, or the FIN if draining and nothing is left."""
        if self._current is not None or self._probing:
            return  # (after a probe: its ACK first, see `_cmd_probe`)
        if self._queue:
            self._current = self._queue.popleft()
            self._sent_chat = True
            self._last_chat = wire.chat(self._send_bit, self.local_user, self._current.text)
            self._transmit_reliably(self._last_chat, now, limit=self.config.retries)
        elif self.state is State.DRAINING:
            self._send_fin(now)

    def _send_fin(self, now: float) -> None:
        self.state = State.FIN_SENT
        self._transmit_reliably(self._control(Op.FIN, self._send_bit), now, limit=self.config.retries)

    # -- handlers: datagrams -----------------------------------------------------------------

    def _on_syn_ack(self, dg: Datagram, now: float) -> str | None:
        """SYN_SENT: the peer accepted; complete the handshake.  Not before our first SYN went
        out (`hold`, `initiate`): such a SYN+ACK accepts an older invitation of ours."""
        if self._held or self._first_send_at is not None:
            return "SYN+ACK before our first SYN went out: it accepts an older invitation"
        self.peer_user = dg.user
        self._peer_starts_this_chat(now)
        self._outbox.append(self._control(Op.ACK, 0))
        self._establish(now)
        self._send_next(now)  # (said while our invitation crossed the peer's, which a FIN undid)
        return None

    def _on_duplicate_syn_ack(self, dg: Datagram, now: float) -> str | None:
        """Our ACK may have been lost; answer again only while that cannot be mistaken (SPEC)."""
        if not self.initiator:
            return "SYN+ACK sent to the side that accepted"
        if self._sent_chat or self._peer_spoke:
            return "duplicate SYN+ACK after the chat began"
        self._outbox.append(self._control(Op.ACK, 0))
        return None

    def _on_refusal_err(self, dg: Datagram, now: float) -> str | None:
        """SYN_SENT: the peer refuses (busy, no user).  Its text is shown at once and the SYN is no
        longer re-sent; the FIN that should follow ends the invitation, and a peer that never sends
        it (some implementations answer ERR alone) ends it one timeout later, as refused.  A FIN
        arriving after that is still acknowledged by the lingering session."""
        if self._refused:
            return "repeated ERR (its text was shown already)"
        self._refused = True
        self._stop_retransmitting()
        self._expire_at = min(now + self.config.timeout, self._expire_at or now + self.config.timeout)
        self._events.append(ev.PeerError(peer=self.peer, text=dg.payload))
        return None

    def _on_err_in_chat(self, dg: Datagram, now: float) -> str | None:
        self._events.append(ev.PeerError(peer=self.peer, text=dg.payload))
        return None

    def _on_fin_refused(self, dg: Datagram, now: float) -> str | None:
        """SYN_SENT: FIN means declined, or refused if an ERR came first.

        Right after a chat with the same peer ended, that chat's FIN may still come (the peer re-sends
        it until our ACK arrives), and must not be taken for a decline (issue 9.1).  What the wire
        tells apart: a FIN that answers an invitation (decline, busy, withdrawal after an accept)
        always carries seq 0, so a FIN 1 is the old chat's; and if the old chat's FIN we received
        carried seq 1, a FIN 0 is this invitation's answer (the old FIN is re-sent
        unchanged).  Otherwise a FIN 0 is ambiguous while the old chat's peer may still re-send it: we
        acknowledge it (right for both) and send our SYN again at once.  The old chat's peer stops its
        FIN on our ACK (or ignores our SYN until then) and re-sends it no sooner than a timeout later;
        a daemon that declined answers the repeated SYN with FIN at once (and keeps doing so while our
        SYNs come, see `_on_syn_after_decline`).  So a FIN 0 within half a timeout of that SYN is the
        decline (delays under a quarter timeout); otherwise the question is asked again.  Cost: one
        more round trip for a decline, only right after a chat with the same peer.

        Under heavy loss every question, or every answer within half a timeout of one, may be lost
        until the invitation expires (explorer seeds 5237, 10399, 10838).  The user is then told
        UNCLEAR ("no clear answer: it may have declined"), not NO_ANSWER: a FIN came that was the
        decline or an old copy, and "no answer" would be false in the first case, "declined" in
        the second.  A SIMPX/1 peer's FIN names its chat, so this never happens with one.
        """
        self._outbox.append(self._control(Op.ACK, dg.seq))
        if self._first_send_at is not None and now < self._first_send_at:
            # the decliner did not get our ACK before: our first SYN waits a while longer
            self._hold_first_send(now + REINVITE_AFTER_DECLINE * self.config.timeout)
            return "FIN before our first SYN went out: not an answer (the previous decline's, re-sent)"
        if not self._refused:
            if dg.seq == 1:  # (also with no previous chat: one our daemon forgot when it restarted,
                # whose peer gave up on it; explorer seed 14495)
                return "FIN seq=1 of a chat with this peer (acknowledged; an invitation's FIN carries 0)"
            if self._old_fin_may_come(now, dg.seq) and not self._names_this_chat(dg) and not (
                    self._answer_due_until is not None and now <= self._answer_due_until):
                self._ask_again(now)
                self._unclear_fin = True
                return "FIN seq=0 may be the previous chat's (acknowledged; SYN sent again to tell)"
        self._peer_ends_with(dg, now)  # the decliner re-sends its FIN until our ACK arrives
        if not self._refused:
            self.declined_us_at = now
        self._stop_retransmitting()
        self._end(ev.EndReason.REFUSED if self._refused else ev.EndReason.DECLINED, now)
        return None

    def _ask_again(self, now: float) -> None:
        """Re-send the SYN now (or, crossed, our SYN+ACK); a FIN 0 within half a timeout answers it."""
        if self._inflight is not None:
            self._outbox.append(self._inflight)
            self.retransmissions += 1
            self._retx_at = now + self.config.timeout
        self._answer_due_until = now + self.config.timeout / 2

    def _on_fin_withdrawn(self, dg: Datagram, now: float) -> str | None:
        """INVITED: the inviter gave up before our user decided (its FIN carries seq 0; a FIN 1
        is a straggler of our previous chat with this peer, acknowledged for that chat)."""
        self._outbox.append(self._control(Op.ACK, dg.seq))
        if dg.seq == 1:  # (see `_on_fin_refused`)
            return "FIN seq=1 of a chat with this peer (acknowledged; an invitation's FIN carries 0)"
        self._peer_ends_with(dg, now)
        self._end(ev.EndReason.WITHDRAWN, now)
        return None

    def _on_fin_before_chat(self, dg: Datagram, now: float) -> str | None:
        """SYN_ACK_SENT: our user accepted, but the inviter's FIN came before the handshake's ACK:
        for our user no chat began, so this is a withdrawal (issue 9.5), not "peer left".

        After crossing invitations the FIN ends the peer's invitation, not ours: the peer may have
        sent it before our SYN reached it (it withdrew its own), or after (its user quit the
        crossed chat).  Either way our user still invites the peer, so we go back to SYN_SENT and
        ask again; a peer that quit answers with FIN from its decline memory (then "declined"),
        one that only withdrew its own invitation shows ours.  If the FIN was not the peer's (a
        copy of an older one, or its answer to a straggler of our last invitation) and the peer
        took our SYN+ACK, its handshake ACK still completes the crossing (`_on_ack_uncrossed`).

        That FIN 0 is, on the wire, a decline, and more of it may come: its copies, until our ACK
        reaches the peer, and the peer's answer to our SYN+ACK still on its way, which a peer
        that withdrew before it saw anything of ours answers with its withdrawal's FIN.  So a
        FIN 0 reaching our invitation for a re-send span after it is asked about, as a previous
        chat's FIN is (`_old_fin_from`, `_on_fin_refused`).  Explorer seed 60304: alice withdrew
        the invitation crossing bob's, bob's ACK of her FIN was lost, and her FIN answering his
        SYN+ACK came next; taken for a decline, bob was told "declined" while alice was shown his
        invitation (and her decline of it a minute later answered his next one).

        A question we asked by our SYN+ACK again (below) is answered by the FIN that undoes the
        crossing; its window is over then, and must not make the next FIN 0, within half a timeout
        of that question, read as the answer to the SYN we send now: it is the peer's answer to
        another copy of our SYN+ACK (the first, or the question), sent before our SYN reached it.
        Explorer seed 98502: bob withdrew the invitation crossing alice's, whose first FIN she
        asked about (bob had just left their chat with FIN 0); bob answered both her SYN+ACKs with
        FIN, the first undid the crossing and the second was taken for a decline of the SYN she
        then sent, which bob was shown after it; her user was told "declined" that bob never gave,
        and his real decline, a minute later, reached her next invitation as one too."""
        self._outbox.append(self._control(Op.ACK, dg.seq))
        if (self.crossed and dg.seq == 0 and self._old_fin_may_come(now, 0) and not self._names_this_chat(dg)
                and not (self._answer_due_until is not None and now <= self._answer_due_until)):
            # a copy of the previous chat's FIN 0 may come now too: ask, by our SYN+ACK again.  A
            # peer that took it is in the chat and answers ACK; one that withdrew answers FIN
            # within half a timeout.  Undone at once, the crossing was lost with the peer's
            # handshake ACK: the peer, in the chat, took our SYN asking again for a restart and
            # told its user "peer left" (explorer seed 13786)
            self._ask_again(now)
            return "FIN seq=0 may be the previous chat's (acknowledged; SYN+ACK sent again to tell)"
        if self.crossed:
            self._undo_crossing()
            self.crossed = False
            self._answer_due_until = None  # (answered: see above)
            self._old_fin_from(now)
            self._uncrossed_until = now + self.config.timeout
            self.state = State.SYN_SENT
            self._expire_at = self._invite_expire_at
            self._transmit_reliably(self._control(Op.SYN, 0), now, limit=None)
            return "FIN ends the peer's crossing invitation; ours goes on"
        self._peer_ends_with(dg, now)
        self._stop_retransmitting()
        self._end(ev.EndReason.WITHDRAWN, now)
        return None

    def uses_ack(self, dg: Datagram, now: float) -> bool:
        """Can an ACK arriving now mean anything to this session?  Inviting (SYN_SENT), only an
        ACK 0 a timeout at most after we undid a crossing does (`_on_ack_uncrossed`); any other
        ACK is the node's to hand to the ended chat with the same peer, whose FIN may await it
        (explorer seed 3405: the ACK of our decline's FIN, taken here and dropped, left the
        refusal unacknowledged, and the peer's next SYN was answered "declined" again)."""
        if self.state is not State.SYN_SENT:
            return True
        return self._uncrossed_until is not None and dg.seq == 0 and now <= self._uncrossed_until

    def _on_ack_uncrossed(self, dg: Datagram, now: float) -> str | None:
        """SYN_SENT, a timeout at most after we undid a crossing on a FIN (`_on_fin_before_chat`):
        an ACK 0 is the peer's answer to our SYN+ACK, sent before the FIN reached us or answering
        one still on its way: the peer took it and its chat began, so ours begins too (explorer
        seed 12292: that FIN was the peer's answer to a straggler of our last invitation, and we
        went back to inviting while the peer chatted)."""
        if not self.uses_ack(dg, now):
            return "ACK while inviting"
        self._uncrossed_until = None
        self._redo_crossing()
        self.crossed = True
        self._establish(now)
        self._send_next(now)
        return None

    def _peer_ends_with(self, dg: Datagram, now: float) -> None:
        """The peer's FIN `dg` ends this session on its side: it re-sends that FIN until our ACK
        arrives, so its copies may come after (`_follow` tells the next session which bit, and
        until when).  Only a FIN taken as this session's counts: a copy of an older chat's FIN
        acknowledged on the way (`_on_fin_refused`, `_old_fin_in_chat`) recorded as the first
        made the next session expect the old bit and let the real FIN's copy end the chat after
        (explorer seed 548: a FIN 0 copy heard while inviting, then the chat's own FIN 1, whose
        copy ended the next chat as "peer left")."""
        self._peer_may_send_fin = True
        if self.first_peer_fin_at is None:
            self.first_peer_fin_at, self.first_peer_fin_seq = now, dg.seq

    def _on_fin_peer_left(self, dg: Datagram, now: float) -> str | None:
        early = not self._peer_chatted and self._began_at is not None  # (see `_old_fin_in_chat`)
        old = (dg.seq != self._recv_bit or early) and self._old_fin_may_come(now, dg.seq)
        if (old or (early and dg.seq != self._recv_bit)) and not self._names_this_chat(dg):
            return self._old_fin_in_chat(dg, now)
        self._peer_ends_with(dg, now)
        if self.initiator and not self._peer_chatted:  # see `initiate` (explorer seed 373)
            self.left_silently_at = now
        self._outbox.append(self._control(Op.ACK, dg.seq))
        self._stop_retransmitting()
        self._end(ev.EndReason.PEER_LEFT, now)
        return None

    def _old_fin_in_chat(self, dg: Datagram, now: float) -> str:
        """ESTABLISHED or DRAINING: a FIN with the bit of the peer's last message to us (or 1 when
        it has shown us none), while the previous chat's FIN with that bit may still come
        (`_follow`: the peer re-sends it until our ACK arrives, and a plain peer may invite us
        meanwhile).

        This chat's FIN carries the peer's send bit, which a FIN goes with only once every
        message before it is acknowledged: the bit we expect next (`_recv_bit`, 0 before its
        first message).  It carries the other bit only if the peer abandoned its last message
        (it gave up on it, our ACK lost, or its daemon stopped).  So the FIN is taken for the old
        chat's copy: acknowledged, and this chat goes on (a FIN 1 copy arriving 0.2 s into the new
        chat used to end it, found from outside with raw datagrams; issue 9.1: a late FIN of
        chat k never ends chat k+1; a FIN 0 copy of a withdrawal, right after the peer's first
        message, did too: explorer seed 3874).  The other reading is not dropped: we ask the peer
        whether it still has the chat (`probe`).  A peer in the chat acknowledges the probe as a
        duplicate; one that left does not, and the chat ends as "not answering" after the
        retries, which is what it was from our side.  A SIMPX/1 FIN names its chat, so the
        framing settles this before the session sees it.

        With the bit the peer's FIN would carry (0, from a peer that has said nothing), a copy
        is told apart by time, as a chat straggler is (`_old_chat`): sent before our invitation
        reached the peer (or before its own SYN+ACK), it arrives within half a timeout of the
        chat's start as we learnt it (delays under a quarter of the timeout).  A peer that really
        leaves that soon is found by the probe instead (explorer seed 6179: a copy of the peer's
        withdrawal FIN 0, 1 s into the next chat, ended it as "peer left", and the peer's first
        message was never shown).

        In that window a FIN with the other bit (1, from a peer that has said nothing) is asked
        about even when we know of no previous chat whose FIN may come: our daemon may have
        restarted since it (or forgotten it), and a plain peer accepts our invitation while it
        re-sends that chat's FIN.  This chat's FIN 1 that early means the peer abandoned its first
        message at once (its daemon stopped with it in flight), and then the probe finds the peer
        gone (explorer seed 26172: a copy of the peer's FIN 1, sent before the restarted daemon's
        SYN reached it, came 0.25 s into the new chat and ended it as "peer left").

        Until the peer shows it is still in the chat (`_peer_is_in_chat`), that FIN stays in
        doubt, and if our datagrams then go unanswered the chat ends with no FIN of ours
        (`_on_retransmit_timer`): in the other reading the peer's FIN, which we acknowledged,
        already ended it, and ours, re-sent, reads as a decline of the peer's next invitation
        (explorer seed 104068)."""
        self._outbox.append(self._control(Op.ACK, dg.seq))
        self._fin_doubted = True
        if self.state is State.ESTABLISHED:
            self._cmd_probe(None, now)
        return (f"FIN seq={dg.seq} without the bit the peer's next message carries: the previous "
                f"chat's (acknowledged; probing)")

    def _on_fin_while_closing(self, dg: Datagram, now: float) -> str | None:
        """FIN_SENT: both sides are leaving; acknowledge theirs and consider ours done (the peer
        ended its side too: a refusal by our FIN has been heard, as if acknowledged).  As in
        `_on_fin_peer_left`, an invited peer that said nothing may have quit before our
        handshake ACK reached it, and remember our invitation as refused (explorer seed 154)."""
        self._peer_ends_with(dg, now)
        if self.initiator and self._began and not self._peer_chatted:
            self.left_silently_at = now
        if self._declined:
            self._decline_acked_at = now
            self._inviter_gave_up(dg, now)
        self._outbox.append(self._control(Op.ACK, dg.seq))
        self._stop_retransmitting()
        self._end(self._closing_reason, now)
        return None

    def _on_fin_lingering(self, dg: Datagram, now: float) -> str | None:
        """CLOSED/CLOSING: our ACK of their FIN was lost; answer again (and expect more copies
        until one of our ACKs arrives: `_follow`, explorer seed 1043).

        Ended (CLOSED), the linger starts again from this copy: the peer still re-sends its FIN
        (a timeout from now at the earliest), and while it may, the node must keep this session,
        so that an invitation of ours to the same peer knows a FIN 0 may be the old chat's
        (`_follow`).  Otherwise the linger could end between two copies, and the next copy,
        arriving after our new SYN, would read as a decline (explorer seed 249).  The peer
        re-sends it at most `retries` times, so the linger stays bounded."""
        self._outbox.append(self._control(Op.ACK, dg.seq))
        self._inviter_gave_up(dg, now)
        self._peer_ends_with(dg, now)
        self._linger_at_least(now + self.config.linger * self.config.timeout)
        self._keep_for_peer_fin()
        if self.initiator and not self._began and dg.seq == 0 and not self._refused:
            # our invitation is over for us (withdrawn, expired), and the peer's FIN 0 refused it
            # (it crossed our FIN, or came late): the peer remembers a decline from the ACK it
            # last got, so our next invitation waits as after one (`initiate`; explorer seeds 39,
            # 6982: re-invited 6 s later, it was answered from that memory until it expired).
            # Not after the peer's ERR (`_on_err_after_closing`)
            self._declined_by_peer(now)
        elif self.left_silently_at is not None:
            self.left_silently_at = now  # (its memory, if any, runs from this ACK of ours)
        return None

    def _on_err_after_closing(self, dg: Datagram, now: float) -> str | None:
        """CLOSING: an ERR answering our invitation after our user withdrew it (or it expired),
        while our FIN still awaits its ACK: the peer was busy or had no user.  Its FIN follows and
        ends that answer, which the peer's node sends with no session and keeps no memory of, so,
        as in `_on_fin_refused`, it is no decline (`_on_fin_lingering`).  Taken for one, it held
        our user's next invitations to the peer back REINVITE_AFTER_DECLINE, and none reached a
        peer whose chat partner had vanished (explorer seed 24701)."""
        if not self.initiator or self._began:
            return "ERR after the chat ended"
        self._refused = True
        return "ERR answering our invitation, already withdrawn (busy or no user: its FIN is no decline)"

    def _inviter_gave_up(self, dg: Datagram, now: float) -> None:
        """We refused the peer's invitation, and its FIN 0 came: it withdrew that invitation (its
        FIN crossed our refusal), so it will not ask again; only its SYNs sent before the FIN
        can still come, within half a timeout.  A longer memory answered its next invitation
        with FIN (explorer seed 10087).  Unless that FIN may be a copy of an older chat's
        (`_follow`): then the inviter may still be asking, and the memory stays.

        An older FIN's copy can come only within half a timeout of the invitation's SYN: a daemon
        stops re-sending its FIN of the previous session before it invites us again (ours does:
        Node.start stops a closing session's FIN, or holds the SYN until a withdrawal's FIN is
        acknowledged), so every copy was sent before that SYN.  Counted a re-send span after the
        older FIN instead, the FIN 0 with which bob withdrew his second invitation, crossing
        alice's decline, passed for a copy of his first withdrawal's: her refusal was then
        remembered till her FIN was acknowledged, and that FIN, lost twice, answered his third
        invitation: "declined" (explorer seed 106717).  (Only this decision: in a chat, an old
        FIN's copy is still told apart as long as it may come, `_old_fin_in_chat`.)"""
        if not (self._declined and not self.initiator and dg.seq == 0):
            return
        after_syn = self._invited_at is not None and now > self._invited_at + self.config.timeout / 2
        if after_syn or not self._old_fin_may_come(now, dg.seq):
            self._inviter_moved_on(now)

    def _inviter_moved_on(self, now: float) -> None:
        """The inviter whose invitation we refused will not ask again: its SYNs sent before can
        still come within half a timeout, and those only are repeats (`takes_syn`).  The inviter's
        ACK of our FIN, coming later, renews nothing (`_decline_acked`): renewed by it, the memory
        answered the inviter's next invitation, asking whether a copy of our FIN was a decline of
        it (`_follow_withdrawal`), with that FIN again (explorer seeds 33459, 36028).  Nor does a
        later FIN 0 or chat datagram of the inviter: the first one showed it asks no more, and its
        SYNs were all sent before that one.  Renewed by each, a refusal long over (the inviter's
        withdrawal had crossed it 27 s before) answered the peer's new invitation with FIN: the
        peer's decline of our own invitation, which that invitation hands on to the refusal it
        follows (`inherited_refusal`), came just before the peer's SYN (explorer seed 49682:
        "declined" that our user never gave)."""
        if self._moved_on:
            return
        self._decline_memory = min(self._decline_memory, 0.5)
        self._decline_acked_at = max(self._decline_acked_at or now, now)
        self._moved_on = True

    def takes_syn(self, now: float) -> bool:
        """Does a SYN from our peer belong to this ended session rather than open a new invitation?

        - A repeat of the invitation we refused (declined, or quit after accepting): until the
          inviter acknowledged our FIN, and then for `_decline_memory` timeouts after its last
          SYN or ACK (DECLINE_MEMORY, QUIT_MEMORY; see `_on_syn_after_decline`), and never
          beyond the invitation's expiry, counted from its first SYN we got: the inviter began it
          before that, so it sends none of its SYNs after (a memory renewed by each SYN could
          otherwise answer a new invitation for good, explorer seed 6982; counted from our
          refusal, a give-up 55 s after the acceptance answered a restarted inviter's new
          invitation with FIN, seed 68145).  Our own daemon, as the inviter, waits
          for that memory to pass before it invites us again (`initiate`; explorer seed 154).
        - A late copy of the SYN that opened this chat, when we were the invited side.  The
          inviter sent every SYN of it before it saw our SYN+ACK (or before it withdrew with a
          FIN), so, with delays under half a timeout, every copy arrives within half a timeout of
          the moment we learnt the chat began (or got that FIN).  Shown as a new invitation, such
          a copy opened a phantom chat that our user accepted and the peer never had; the peer's
          ACK 0 of an old message then "confirmed" a message of it (test_session's reordering
          property).  A genuinely new invitation that early (the peer quit and re-invited within
          half a timeout) loses its first SYN and is shown at the next, a timeout later.  The
          session answers such a SYN with nothing (`_on_syn_after_decline`).
        - Likewise, when we were the inviter and the peer left the chat (its FIN ended it), a
          late copy of the SYN of the peer's own invitation that crossed ours: the peer stops
          sending it when our SYN reaches it (it answers with SYN+ACK, `_on_crossing_syn`), so
          every copy was sent before the SYN+ACK that began this chat for us, and arrives within
          half a timeout of our learning it.  Our SYN+ACK alone does not say whether the peer's
          invitation crossed ours, so any SYN of the peer's that early is taken for such a copy,
          at the same cost as above (a peer quitting and re-inviting within half a timeout of
          the start).  Shown, it made an invitation no user had made (explorer seed 97321: bob
          invited alice and she him; his SYN was delayed, hers got his SYN+ACK, he quit before
          the chat began for him, and his SYN reached her ended chat 1.1 s later; she declined
          that ghost a minute on, as bob invited her anew, and bob took her FIN for a decline of
          his new invitation).  Not when we left: the peer, told "peer left", may invite us at
          once, and that SYN must be shown at once (roles reverse; a crossing copy then is
          plain SIMP's to live with, since the peer's new SYN can come as early)."""
        half = self.config.timeout / 2
        if self._declined:
            return self._remembers_refusal(now)
        if self.initiator and not (self._began and self.first_peer_fin_at is not None):
            return False
        heard = self._began_at if self._began else self.first_peer_fin_at
        return heard is not None and now < heard + half

    def _remembers_refusal(self, now: float) -> bool:
        """(Our user refused the peer's invitation.)  Does a SYN now repeat it (`takes_syn`)?"""
        if now > self._refusal_until(acked=False):
            return False  # that invitation expired at its inviter: whatever comes is new
        return self._decline_acked_at is None or now < self._refusal_until()

    def _refusal_until(self, *, acked: bool = True) -> float:
        """When the decline memory ends (`_remembers_refusal`): at the invitation's expiry at the
        latest (with half a timeout for its last SYN's way), and, once the inviter acknowledged
        our FIN, `_decline_memory` timeouts after the latest SYN or ACK from it."""
        began = self._refused_at if self._invited_at is None else self._invited_at
        expiry = began + self.config.invite_expiry + self.config.timeout / 2
        if not acked or self._decline_acked_at is None:
            return expiry
        heard = max(self._decline_acked_at, self._last_repeat_at or 0.0)
        return min(expiry, heard + self._decline_memory * self.config.timeout)

    @property
    def replaced_invitation(self) -> Session | None:
        """The peer's invitation that this ended invitation of ours followed (`_follow`): the node
        hands it the peer's SYNs it still takes (`takes_syn`: a late copy, within half a timeout
        of the peer's withdrawal; in SIMPX/1, one naming its chat).

        The peer withdrew its invitation just as its last SYN left, delayed; our user then invited
        the peer and withdrew.  The node keeps one ended session per peer, so this one replaced
        the peer's, and the late SYN was shown as a new invitation that no user had made (explorer
        seed 481, SIMPX/1: it named the withdrawn chat).  Likewise after a chat the peer's
        invitation opened, its SYN re-sent as our SYN+ACK was at last answered, and whether our
        invitation became a chat or not (seed 619)."""
        return None if self.active else self._replaced

    @property
    def inherited_refusal(self) -> Session | None:
        """The refusal this ended invitation of ours carries on (`_follow`): the node hands it
        the peer's SYNs that repeat the refused invitation (`takes_syn`, or its chat-id).

        Our user refused the peer's invitation and at once invited the peer, then withdrew (or the
        invitation went unanswered).  The node keeps one ended session per peer, so this one
        replaced the refusing one, but the inviter may not have heard the refusal: our FINs, the
        refusal's and the withdrawal's, are the same datagram in plain SIMP, so it cannot tell
        them apart and asks again.  That repeat must still get the refusal's FIN; shown as a new
        invitation, the same question reached our user twice (explorer seed 13633; in SIMPX/1 it
        was dropped as another chat's SYN, then shown again, and the inviter told "no answer").
        The inviter's own daemon, for its part, waits as after a decline before it invites
        again (`_follow`), so it is never answered from this memory (seed 19650).  A FIN 0 from
        the inviter ends the memory as it ends the refusal's own (`_inviter_gave_up`): it
        withdrew the invitation we refused, or declined ours, and either way asks no more (seed
        10552: kept, the memory of a refusal whose FIN our invitation cut short lasted till the
        refused invitation's expiry and answered the peer's next one)."""
        return None if self._began or self.active else self._refusal

    def _refusal_heard(self, dg: Datagram, now: float) -> bool:
        """An ACK 0 came while we may answer for the refusal our invitation followed: it
        acknowledges our withdrawal's FIN or the refusal's (the same datagram), and either way the
        inviter has heard a FIN 0, so the refusal's memory runs from it as after the refusal's own
        ACK (`_on_late_ack`).  Left unacknowledged, that memory lasted till the inviter's
        invitation expired, long after our peer's daemon invites again after a decline."""
        refusal = self.inherited_refusal
        if dg.seq != 0 or refusal is None or refusal._decline_acked_at is not None:
            return False
        refusal._on_late_ack(dg, now)
        self._keep_for_refusal()
        return True

    def _keep_for_refusal(self) -> None:
        """Linger as long as the refusal we carry on is remembered (`inherited_refusal`)."""
        if (refusal := self.inherited_refusal) is not None:
            self._linger_at_least(refusal._refusal_until())

    def _on_syn_after_decline(self, dg: Datagram, now: float) -> str | None:
        """After a decline, a repeated SYN gets FIN again (SPEC's decline memory), but only while
        it can be a repeat.  Until our FIN is acknowledged the inviter may not have heard the
        answer: each SYN gets FIN, however many FINs are lost.  Once the ACK is here, the inviter
        may still be asking: it could not tell our FIN from a copy of an older one
        (`_on_fin_refused`) and re-sends its SYN every timeout until a FIN answers one, and those
        SYNs can be lost.  So the memory lasts DECLINE_MEMORY timeouts after the last SYN or ACK
        from the inviter (`takes_syn`), and any SYN after that is a new invitation (the node shows
        it).  Our daemon, inviting again a plain-SIMP peer that declined it, waits
        REINVITE_AFTER_DECLINE before its first SYN (`initiate`), so that SYN is always taken for
        a new invitation.  With a shorter memory (half a timeout after the ACK), an inviter whose
        question was lost once or twice had its invitation shown twice (explorer seeds 910, 1718,
        1825).

        Once the inviter has shown it asks no more (`_inviter_moved_on`: its FIN, or its chat
        datagram), a SYN in the half timeout after is only a late copy of the invitation it ended
        itself, and gets no answer: the inviter needs none, and a FIN may reach its next
        invitation and read as a decline of it.  That happened: bob gave up his invitation as
        alice declined it, re-invited at once, and his new SYN, right behind his give-up's FIN,
        was answered from her memory with FIN: "declined" of an invitation she never saw
        (explorer seed 84677).  A genuinely new invitation that early is shown at its next SYN."""
        if not self._declined:
            return "SYN from a peer whose chat just ended"
        if self._moved_on:
            return "SYN within half a timeout of the inviter's end of the invitation we refused: a late copy"
        self._last_repeat_at = now
        self._outbox.append(self._control(Op.FIN, 0))
        self._remember_decline(now)
        return None

    def awaits_ack_of_our_fin(self, now: float) -> bool:
        """May an ACK 0 arriving now acknowledge a FIN 0 this ended session sent just now, while a
        new chat with the same peer is current?  There it would read as the ACK of that chat's
        first message, which may have been lost (explorer seed 6014), or as the ACK completing a
        crossing handshake the peer never saw (seed 1491).  Three such FINs: the answer to a
        repeated SYN (`_on_syn_after_decline`), a withdrawal the node cut short because the
        peer's SYN crossed it (Session.hold), and the FIN of a chat we were leaving when the
        peer's new invitation came (`_on_syn_while_leaving`).  Its ACK comes within a timeout
        (delays under half a timeout each way), so the node hands the first ACK 0 in that window
        to this ended session instead; at worst the new chat's datagram is re-sent once.  And a
        FIN 0 we still re-send, as when the peer's SYN comes (Node `_retire`): our expired
        invitation's FIN, re-sent, reached a peer that had restarted and invited us, and its ACK
        completed the handshake of that invitation, whose SYN+ACK was lost (explorer seed 13556:
        our user left "chatting" with a peer that had no chat)."""
        if self._fin0_in_flight:
            return True
        if self._cut_fin_ack_until is not None and now <= self._cut_fin_ack_until:
            return True
        if (refusal := self.inherited_refusal) is not None and refusal.awaits_ack_of_our_fin(now):
            return True
        return self._last_repeat_at is not None and now <= self._last_repeat_at + self.config.timeout

    def _decline_acked(self, now: float) -> None:
        """The inviter acknowledged our refusal's FIN: the decline memory runs from now, unless
        its own FIN showed it asks no more (`_inviter_moved_on`)."""
        if self._declined and not self._moved_on:
            self._decline_acked_at = now

    def _remember_decline(self, now: float) -> None:
        """Linger at least as long as the decline memory lasts (`takes_syn`)."""
        self._linger_at_least(now + max(self.config.linger, self._decline_memory) * self.config.timeout)

    def _on_handshake_ack(self, dg: Datagram, now: float) -> str | None:
        """SYN_ACK_SENT: the ACK completes the handshake."""
        if dg.seq != 0:
            return "handshake ACK with seq 1"
        self._establish(now)
        self._send_next(now)
        return None

    def _on_chat_completing_handshake(self, dg: Datagram, now: float) -> str | None:
        """SYN_ACK_SENT: a valid chat datagram implies the lost ACK (or one it overtook).

        Valid means bit 0: a chat's first message carries bit 0, so a chat datagram with bit 1
        is a straggler of an earlier chat with this peer and must not open this one (issue 9.1).
        One with bit 0 cannot be told apart on the wire (SPEC's known limit)."""
        if dg.seq != 0:
            return "CHAT seq=1 cannot open a chat (its first message has bit 0): an older chat's straggler"
        if self._old_chat(dg, now):
            return "CHAT seq=0 within half a timeout of the peer's first datagram: may be the last chat's"
        self._establish(now)
        # the ACK went out before this datagram: overtaken (delays < T/2), it arrives within T/2
        self._handshake_ack_until = now + self.config.timeout / 2
        result = self._on_chat(dg, now)
        self._send_next(now)
        return result

    def _on_chat(self, dg: Datagram, now: float) -> str | None:
        if self._old_chat(dg, now):
            return "CHAT seq=0 within half a timeout of the peer's first datagram: may be the last chat's"
        self._peer_spoke = self._peer_chatted = True
        self._peer_is_in_chat()
        if self._declined and not self.initiator:
            # we quit before the handshake's ACK, and the inviter's chat datagram shows it completed
            # the handshake: it is in a chat our FIN ends, not asking about an invitation, so any
            # later SYN of its is a new invitation (explorer seed 14694: taken for a repeat, got FIN)
            self._inviter_moved_on(now)
        self._outbox.append(self._control(Op.ACK, dg.seq))
        if dg.seq != self._recv_bit:
            return f"duplicate CHAT seq={dg.seq} acknowledged again"
        self._recv_bit ^= 1
        self._shown_any = True
        self._events.append(ev.MessageReceived(user=dg.user, text=dg.payload))
        return None

    def _on_chat_while_closing(self, dg: Datagram, now: float) -> str | None:
        """FIN_SENT: the peer may still finish its messages, unless no chat ever began (we withdrew)."""
        if self._closing_reason is ev.EndReason.WITHDRAWN_BY_US:
            return "CHAT for an invitation we withdrew (a straggler of an older chat)"
        return self._on_chat(dg, now)

    def _on_chat_lingering(self, dg: Datagram, now: float) -> str | None:
        """After the end, only a copy of the last message our user was shown is acknowledged
        again (its first ACK may have been lost).  With none shown, a datagram with bit 1 is no
        such copy: acknowledged, it told a peer whose daemon restarted and took our late SYN+ACK
        for the answer to its new invitation that its messages were shown (explorer seed 26363)."""
        if dg.seq == self._recv_bit:
            return "new CHAT after the chat ended"
        if not self._shown_any:
            return "CHAT after the end of a session that showed no message: not a copy of one"
        self._outbox.append(self._control(Op.ACK, dg.seq))
        return None

    def _on_chat_ack(self, dg: Datagram, now: float) -> str | None:
        self._peer_spoke = True
        self._peer_is_in_chat()
        if self._late_handshake_ack(dg, now):  # at worst, our first message is re-sent once
            return "ACK seq=0 taken for the handshake's late ACK"
        if self._probing and self._inflight is not None and dg.seq == self._inflight.seq:
            self._probing = False
            self._stop_retransmitting()
            self._send_next(now)  # a message said meanwhile can no longer be overtaken by the probe
            return "ACK of our probe: the peer still has the chat"
        if self._current is None:
            return "ACK with nothing in flight"
        if dg.seq != self._send_bit:
            return f"stale ACK seq={dg.seq}"
        self._stop_retransmitting()
        self._events.append(ev.MessageDelivered(msg_id=self._current.msg_id))
        self._current = None
        self._send_bit ^= 1
        self._send_next(now)
        return None

    def _late_handshake_ack(self, dg: Datagram, now: float) -> bool:
        """The first ACK 0 in the window where the handshake's ACK may still arrive (the handshake
        was completed by a chat datagram, or we quit before it) is taken for that ACK."""
        if self._handshake_ack_until is None or dg.seq != 0:
            return False
        late, self._handshake_ack_until = now <= self._handshake_ack_until, None
        return late

    def _on_fin_ack(self, dg: Datagram, now: float) -> str | None:
        self._peer_is_in_chat()
        if dg.seq != self._send_bit:
            return f"ACK seq={dg.seq} does not match our FIN"
        if self._late_handshake_ack(dg, now):  # sent before the peer saw our FIN (FIN's ACK follows)
            if self._declined:  # the inviter completed the handshake, or acknowledged our FIN:
                self._decline_acked_at = now  # the memory runs from here either way (`takes_syn`)
            return "ACK seq=0 taken for the handshake's late ACK, not our FIN's"
        if self._declined and self._decline_acked_at is None:  # we quit before the handshake's
            self._decline_acked_at = now  # ACK: the FIN refused the invitation
        if self.initiator and self._began and not self._peer_spoke:
            # the invited peer said nothing since its SYN+ACK: it may have quit before our
            # handshake ACK reached it, its FIN lost, and this ACK answers ours from FIN_SENT
            # (`_on_fin_while_closing`); it remembers our invitation as refused from here, as in
            # `_on_fin_peer_left` (explorer seed 23522: re-invited at once, we were told "declined")
            self.left_silently_at = now
        self._stop_retransmitting()
        self._end(self._closing_reason, now)
        return None

    def _on_late_ack(self, dg: Datagram, now: float) -> str | None:
        """After the end: the ACK of the message that was in flight confirms it (issue 9.5).

        The peer acknowledges a chat datagram after the end only if its user was shown it: while
        leaving (FIN_SENT) it shows and ACKs, once ended it ACKs only duplicates of what it showed.
        Our FIN after an abandoned message carries the other bit, so the two ACKs differ; the
        handshake's late ACK 0 (`_late_handshake_ack`) is not taken for it either."""
        if self._cut_fin_ack_until is not None and dg.seq == 0:
            self._cut_fin_ack_until = None
            if self._declined:
                # our refusal's FIN, cut short when our user invited the peer, was heard: its
                # memory runs from here.  Left unacknowledged, it lasted till the refused
                # invitation's expiry, and answered the inviter's next invitation, sent after its
                # wait as after a decline, with FIN: "declined" (explorer seed 111214)
                self._decline_acked(now)
            return "ACK of our FIN, cut short by the peer's SYN (`awaits_ack_of_our_fin`)"
        if self._refusal_heard(dg, now):
            return "ACK of our FIN, or of the refusal before it (`_refusal_heard`)"
        if self._declined and dg.seq == 0 and self._unconfirmed is None:
            self._decline_acked(now)  # (see `takes_syn`)
            self._last_repeat_at = None if self.awaits_ack_of_our_fin(now) else self._last_repeat_at
            self._remember_decline(now)
            return "ACK of our FIN answering a repeated SYN after the decline"
        if self._unconfirmed is None or dg.seq != self._send_bit or self._late_handshake_ack(dg, now):
            return None if self.state is State.CLOSING else f"ACK seq={dg.seq} after the chat ended"
        self._events.append(ev.MessageDelivered(msg_id=self._unconfirmed.msg_id))
        self._unconfirmed = None
        return "ACK of our last message, after the chat ended: confirmed"

    def _on_closing_ack(self, dg: Datagram, now: float) -> str | None:
        """CLOSING: the ACK of our FIN (which echoes its bit) ends the re-sending."""
        if self._unconfirmed is not None and dg.seq == self._send_bit:
            return self._on_late_ack(dg, now)
        if self._inflight is not None and dg.seq != self._inflight.seq:
            return f"ACK seq={dg.seq} does not match our FIN"
        self._refusal_heard(dg, now)
        self._decline_acked(now)
        if self.withdrawn:  # (read by `initiate` after a withdrawal only)
            self.fin_acked_at = now
        self._linger(now)
        return None

    def _on_syn_ack_after_end(self, dg: Datagram, now: float) -> str | None:
        """Our invitation is over for us (expired, withdrawn): a late acceptance gets FIN.

        That FIN carries bit 0, as the ACK of a first message does: once it is out, an ACK 0 may
        be its answer, so a message of ours still waiting for ACK 0 stays "not confirmed" for
        good rather than be confirmed by an ACK that does not speak of it."""
        if not self.initiator:
            return "SYN+ACK sent to the side that was invited"
        if self._unconfirmed is not None and self._send_bit == 0:
            self._unconfirmed = None
        self._outbox.append(self._control(Op.FIN, 0))
        return None

    def _on_crossing_syn(self, dg: Datagram, now: float) -> str | None:
        """SYN_SENT: the peer we invite invites us (crossing invitations, SPEC).

        Both users asked for this chat, so it starts as TCP's simultaneous open does, with no
        question to our user: we answer the SYN as if invited and accepted (SYN+ACK, re-sent until
        the peer's ACK, SYN+ACK or chat datagram).  The rule is symmetric and needs no agreement
        on who is "lower": a peer that knows it answers our SYN the same way (both SYN+ACKs cross,
        each side takes the other's for the acceptance and ACKs it), a plain SPEC peer in SYN_SENT
        takes our SYN+ACK as the acceptance and ACKs it.  Our own SYN is no longer re-sent, so a
        peer that answers only it never sees a second invitation.
        """
        self.peer_user = dg.user
        self._peer_starts_this_chat(now)
        self.crossed = self._answered = True
        self._first_send_at = None  # (held back or not: our SYN is answered by this SYN+ACK now)
        self._invite_expire_at, self._expire_at = self._expire_at, None
        self.state = State.SYN_ACK_SENT
        self._transmit_reliably(self._control(Op.SYN_ACK, 0), now, limit=self.config.retries)
        return None

    def _on_crossed_syn_ack(self, dg: Datagram, now: float) -> str | None:
        """SYN_ACK_SENT after crossing invitations: the peer's SYN+ACK accepts our SYN.

        We ACK it, as any inviter does.  The peer may also ACK our SYN+ACK (it established on it):
        that ACK 0 left before the peer saw anything of ours after our last SYN+ACK, so it arrives
        within a timeout (delays under half a timeout); the first ACK 0 in that window is taken for
        it, not for our first message (at worst one extra re-send of that message)."""
        if not self.crossed:
            return "SYN+ACK sent to the side that accepted"
        self.peer_user = dg.user
        self._outbox.append(self._control(Op.ACK, 0))
        self._establish(now)
        self._handshake_ack_until = now + self.config.timeout
        self._send_next(now)
        return None

    def _on_syn_in_chat(self, dg: Datagram, now: float) -> str | None:
        """A SYN from the peer during the chat (ESTABLISHED, DRAINING): has it lost the chat?

        SPEC: a peer that restarted and invites us again must get its new chat promptly, but a
        late duplicate SYN of this chat's own handshake must never end it.  A SYN alone cannot
        tell the two apart, so we wait for proof: SYNs from the peer repeated across at least half
        a timeout, with nothing else from the peer in between.  Why that is proof:
        - a daemon that lost the chat and invites us re-sends its SYN every timeout and sends
          nothing of this chat, so it is recognised one timeout after its first SYN at most;
        - the handshake's SYNs were all sent before the inviter saw our SYN+ACK, so (delays under
          half a timeout) every copy still arriving after the chat began arrives within half a
          timeout of its start; one late duplicate, however late, is one SYN and never enough, and
          copies of one SYN arriving together count once;
        - any other datagram of the chat from the peer (chat, ACK, FIN) shows it still has the
          chat and starts the count again (`_peer_is_in_chat`).
        The chat then ends without a FIN (the peer has no chat to end; a FIN would read as a
        decline of its new invitation) and the node shows the SYN as a new invitation.
        In FIN_SENT we are leaving anyway, and one SYN is enough (`_on_syn_while_leaving`).
        """
        if not self._began:
            return "SYN of this invitation (we left before the chat began)"
        if not self._syn_repeated(now):
            return "SYN from the peer during the chat (a late copy of its handshake, or it lost the chat?)"
        self.peer_lost_chat = True
        if self._inflight is not None and self._inflight.is_chat and self._retx_at is not None:
            # its last copy went a timeout before the next re-send was due (`_cmd_accept`)
            self._our_chat_copies_until = self._retx_at - self.config.timeout / 2
        self._stop_retransmitting()
        self._end(ev.EndReason.PEER_LEFT, now)
        return None

    def _forget_the_start(self, now: float) -> None:
        """Half a timeout after the chat began, no copy of its handshake SYN can arrive any more,
        and that is all its start time is read for (`takes_syn`, `_on_syn_while_leaving`): then it
        is forgotten, so that chats differing only in when they began are the same state (the
        model checker's state space stays what it was before the start was kept on both sides)."""
        if self._began_at is not None and now >= self._began_at + self.config.timeout / 2:
            self._began_at = None

    def _on_syn_while_leaving(self, dg: Datagram, now: float) -> str | None:
        """FIN_SENT: a SYN from the peer while our FIN awaits its ACK.

        Half a timeout or more after the chat began it is no copy of this chat's handshake (see
        `_on_syn_in_chat`): the peer has no chat with us any more, because it got our FIN (its ACK
        was lost) and invites us again, or because its daemon restarted.  Our FIN has nothing
        left to end, and re-sent it would read as a decline of that invitation to a peer that
        restarted, which remembers no chat whose FIN may still come (explorer seed 12449).  So
        the chat ends for our user as the FIN's ACK would end it, no FIN goes out any more, and
        the node shows the SYN as a new invitation.  Unlike a live chat, a late SYN cannot end
        anything the peer still has: with delays beyond half a timeout (SPEC's known limit) a
        peer that never got our FIN stays in the chat until it next sends (it then gives up) or
        our daemon answers its next datagram as a stranger's.  The ACK of our FIN 0 may still be
        on its way: the first ACK 0 within a timeout goes to this ended session
        (`awaits_ack_of_our_fin`; the node keeps it for that, Node `_retire`), not into the new
        handshake."""
        if self._syn_opens_another_chat():  # a new invitation by its chat-id (SIMPX/1), whenever
            if not self._syn_repeated(now):  # it comes (explorer seed 15838), once it is no late copy
                return "SYN of another chat while we leave (a late copy, unless it comes again)"
        elif self._declined and self.takes_syn(now):  # we quit before the handshake's ACK: a repeat,
            self._last_repeat_at = now  # which our FIN answers; remembered from it (explorer seed 13724)
            return "repeated SYN of the invitation we quit (our FIN answers it)"
        elif not self._began or self._began_at is not None:  # (`_forget_the_start`)
            return "SYN while we leave (a late copy of this chat's handshake?)"
        if self._inflight is not None and self._inflight.seq == 0:
            self._cut_fin_ack_until = now + self.config.timeout
        self.peer_lost_chat = True
        self._stop_retransmitting()
        self._end(self._closing_reason, now)
        return None

    def _syn_repeated(self, now: float) -> bool:
        """Have the peer's SYNs come across half a timeout, this one included, with nothing else
        from it in between (`_peer_is_in_chat`)?  Copies of one SYN arrive within half a timeout
        of being sent, so a late copy never passes: of this chat's handshake (`_on_syn_in_chat`),
        or, naming another chat, of one the peer sent before it restarted (explorer seed 8940)."""
        if self._first_syn_in_chat is None:
            self._first_syn_in_chat = now
        if now - self._first_syn_in_chat < self.config.timeout / 2:
            return False
        self._first_syn_in_chat = None
        return True

    def _peer_is_in_chat(self) -> None:
        """A datagram only a peer still in this chat sends: forget any SYN seen before it, and
        any FIN of its taken for an older one's (`_old_fin_in_chat`) was one."""
        self._first_syn_in_chat = None
        self._fin_doubted = False

    def _ignore_repeated_syn(self, dg: Datagram, now: float) -> str | None:
        return "repeated SYN (invitation already shown or answered)"

    def _on_syn_while_answering(self, dg: Datagram, now: float) -> str | None:
        """SYN_ACK_SENT or INVITED: a SYN from the peer while our SYN+ACK awaits its ACK, or while
        our user decides.

        In SIMP it repeats the invitation we answered (or the one that crossed ours, or the one
        shown): our retransmission timer answers it, or our user will.  With chat-ids (SIMPX/1) a
        SYN naming another chat is a new invitation: the peer no longer has the one our SYN+ACK
        answers, or the one shown (its daemon restarted; explorer seed 15838, where its answers to
        our SYN+ACK were all lost and the new SYNs were ignored until its invitation expired).
        Crossed, our user invites the peer too, so both still ask for the chat: it crosses again,
        and our SYN+ACK answers the new chat at once.  Otherwise the invitation our user accepted,
        or is still shown, is gone: it ends as withdrawn, and the node shows the new one (explorer
        seed 48006: while it was still shown, the restarted inviter's SYNs were all ignored until
        it expired, and its user was told "no answer").  Only once such SYNs came across half a
        timeout or more: a late copy of a SYN the peer sent before it restarted also names another
        chat, and it arrives within half a timeout of being sent (explorer seed 8940: one such
        copy, taken for a new invitation, undid the chat the peer's new one had just begun)."""
        if not self._syn_opens_another_chat():
            return self._ignore_repeated_syn(dg, now)
        if not self._syn_repeated(now):
            return "SYN of another chat (a late copy, unless it comes again half a timeout later)"
        if self.crossed:
            self._recross()
            self._transmit_reliably(self._control(Op.SYN_ACK, 0), now, limit=self.config.retries)
            return None
        self.peer_lost_chat = True
        self._stop_retransmitting()
        self._end(ev.EndReason.WITHDRAWN, now)
        return None

    # -- handlers: user commands -------------------------------------------------------------

    def _cmd_accept(self, _: object, now: float) -> None:
        """Our user accepts: SYN+ACK, re-sent until the peer's ACK (or chat datagram).

        Not before every copy of our chat datagram re-sent in the chat just before has arrived,
        when the peer's SYNs ended that chat because it lost it (`_on_syn_in_chat`: its daemon
        restarted) while a message of ours, or a probe, was in flight.  The restarted peer
        remembers no chat whose stragglers may come (`_old_chat` needs the previous session), and
        a copy with bit 0 reaching its new chat after our SYN+ACK is, byte for byte, our first
        message there (SPEC's known limit): it was shown again, its ACK 0 was taken here for the
        handshake's, and our real first message, bit 0 too, was acknowledged as a duplicate and
        never shown, though reported delivered (explorer seed 81717).  Copies arrive within half a
        timeout of being sent, and one reaching the peer before our SYN+ACK finds it inviting, where
        a chat datagram is ignored; so the SYN+ACK waits till then (at most half a timeout, only
        right after such a chat).  A SIMPX/1 chat's datagrams name it, so an extended chat
        (`tells_invitations_apart`) drops the copy of an older one: no wait."""
        self._answered = True
        self._expire_at = None
        self.state = State.SYN_ACK_SENT
        self._transmit_reliably(self._control(Op.SYN_ACK, 0), now, limit=self.config.retries)
        until = self._our_chat_copies_until
        if until is not None and until > now and not self.tells_invitations_apart():
            self._hold_first_send(until)  # (a held first SYN+ACK, as a first SYN is held)

    def _cmd_decline(self, _: object, now: float) -> None:
        self._refuse(DECLINE_MEMORY, now)
        self._expire_at = None
        self.state = State.CLOSING
        self._events.append(ev.ChatEnded(peer=self.peer, user=self.peer_user, reason=ev.EndReason.DECLINED))
        self._transmit_reliably(self._control(Op.FIN, 0), now, limit=self.config.retries)

    def _cmd_probe(self, _: object, now: float) -> None:
        """ESTABLISHED: see `probe`; nothing to do while a datagram of ours is in flight (its
        retransmissions probe the peer already)."""
        if self._inflight is not None or self._current is not None or now < self._next_probe_at:
            return
        self._next_probe_at = now + self.config.timeout
        last = self._last_chat or wire.chat(self._send_bit ^ 1, self.local_user, "")
        self._transmit_reliably(last, now, limit=self.config.retries)
        self._probing = True

    def _cmd_say(self, message: Outgoing, now: float) -> None:
        if len(self._queue) + (self._current is not None) >= self.config.max_queued:
            raise CommandError(f"too many messages waiting for the peer: {self.config.max_queued}; "
                               "wait until some are delivered")
        self._queue.append(message)
        if self.state is State.ESTABLISHED:
            self._send_next(now)

    def _cmd_quit(self, _: object, now: float) -> None:
        if self.state is State.SYN_ACK_SENT and self.crossed:  # no chat began: our invitation ends
            self._closing_reason = ev.EndReason.WITHDRAWN_BY_US
        if self.state is State.SYN_ACK_SENT:
            if not self.crossed:  # (crossed, our user never saw the peer's invitation: shown later
                # as a new one, it is no repeat; explorer seed 1879)
                self._refuse(self._quit_memory(now), now)  # as after a decline, a repeated SYN gets FIN
            self._handshake_ack_until = now + self.config.timeout  # (one round trip at most)
        if self.state is State.SYN_ACK_SENT or (self._current is None and not self._queue):
            self._send_fin(now)
        else:
            self.state = State.DRAINING
            self._send_next(now)  # (one waiting with none in flight goes now: nothing else would start it)

    def _cmd_already_leaving(self, _: object, now: float) -> None:
        """DRAINING/FIN_SENT: our user (or its vanished client) quits again: already under way."""

    def _cmd_withdraw(self, _: object, now: float) -> None:
        """SYN_SENT: our user gives up waiting; tell the peer, reliably.

        Nothing the peer could answer changes the outcome (an acceptance crossing our FIN is
        withdrawn by it, a decline crossing it ends the invitation as well), so our user is told
        at once and is free, and the FIN is re-sent in the background (CLOSING), as after a
        decline.  Waiting for its ACK instead kept the user busy for the whole retry budget when
        the peer then vanished (explorer seeds 382, 2861: a third host could not invite anyone
        else for a minute).

        An invitation whose first SYN is still held back (`hold`, `_hold_first_send`) never
        reached the peer: it ends at once, with no FIN and nothing left to linger (`unheard`), so
        the withdrawal or decline it waited for keeps its place at the node.  A FIN for it would
        be a stranger's to the peer, and read as a decline of the peer's next invitation to us
        (explorer seed 4923)."""
        self.withdrawn = True
        unheard = self.unheard
        self._stop_retransmitting()
        if unheard:
            self._outbox.clear()
            self._end(ev.EndReason.WITHDRAWN_BY_US, now)
            self._linger_until, self.state = None, State.DONE
            return
        self._end(ev.EndReason.WITHDRAWN_BY_US, now, fin_reliably=True)

    def _cmd_abort(self, _: object, now: float) -> None:
        self._stop_retransmitting()
        if self.state is State.INVITED:
            self._refuse(DECLINE_MEMORY, now)
        self._end(ev.EndReason.SHUTDOWN, now, fin=True)

    @property
    def fin0_doubted_until(self) -> float | None:
        """Till when the peer may take a FIN 0 of ours for a copy of the one this session sent
        (`_quit_memory`; the node keeps it once this session is forgotten).  Only this session's:
        the peer doubts only the FIN of the session its next one follows (`_follow`)."""
        if self._our_fin0_at is None:
            return None
        return self._our_fin0_at + self.config.fin_copies_span + self.config.timeout / 2

    def _quit_memory(self, now: float) -> float:
        """How long to remember an invitation we refuse by quitting (or giving up) after our user
        accepted it, in timeouts.  QUIT_MEMORY, as its inviter asks again only if our SYN+ACK
        never reached it; but an inviter that may take our FIN for a copy of our FIN 0 of the
        previous session with it (Session `_follow`, `_on_fin_refused`: until a re-send span after
        that FIN first reached it, here counted from when we first sent it, plus its way) asks
        again every timeout until a FIN answers its SYN, as after a decline: DECLINE_MEMORY then.
        Explorer seed 80451: alice re-invited bob 20 s after he had left their chat with FIN 0;
        he accepted and quit before the handshake's ACK; she took his FIN for the old chat's and
        asked, two questions in a row were lost, and the third, 10 s after the one before, came
        after QUIT_MEMORY and was shown to bob as a new invitation.  Not by renewing the memory
        at each ACK of our re-sent FIN instead: an inviter that did complete the handshake, then
        heard our FIN as "peer left", re-invites with its ACK of a late copy, and was told
        "declined" (seeds 2056, 31042; as 12481 was for an earlier form of that)."""
        if self._fin0_doubted_until is not None and now <= self._fin0_doubted_until:
            return DECLINE_MEMORY
        return QUIT_MEMORY

    def _refuse(self, memory: float, now: float) -> None:
        """Our FIN refuses the peer's invitation: remember it for `memory` timeouts (`takes_syn`)."""
        self._declined, self._decline_memory, self._refused_at = True, memory, now

    def _cmd_abort_quietly(self, _: object, now: float) -> None:
        if self._fin0_in_flight:  # (cut short: its ACK may still come, `awaits_ack_of_our_fin`)
            self._cut_fin_ack_until = now + self.config.timeout
        self._linger(now)

    @property
    def _fin0_in_flight(self) -> bool:
        """Ended, and our FIN 0 (a withdrawal's, an expiry's, a give-up's) still awaits its ACK."""
        return (self.state is State.CLOSING and self._inflight is not None
                and self._inflight.is_control(Op.FIN) and self._inflight.seq == 0)


Handler = Callable[[Session, object, float], object]

_S, _I = State, Input
_TABLE: dict[tuple[State, Input], Handler] = {
    # we invited
    (_S.SYN_SENT, _I.SYN_ACK): Session._on_syn_ack,
    (_S.SYN_SENT, _I.ACK): Session._on_ack_uncrossed,
    (_S.SYN_SENT, _I.FIN): Session._on_fin_refused,
    (_S.SYN_SENT, _I.ERR): Session._on_refusal_err,
    (_S.SYN_SENT, _I.SYN): Session._on_crossing_syn,
    (_S.SYN_SENT, _I.QUIT): Session._cmd_withdraw,
    (_S.SYN_SENT, _I.ABORT): Session._cmd_abort,
    # we were invited
    (_S.INVITED, _I.SYN): Session._on_syn_while_answering,
    (_S.INVITED, _I.FIN): Session._on_fin_withdrawn,
    (_S.INVITED, _I.ACCEPT): Session._cmd_accept,
    (_S.INVITED, _I.DECLINE): Session._cmd_decline,
    (_S.INVITED, _I.QUIT): Session._cmd_decline,
    (_S.INVITED, _I.ABORT): Session._cmd_abort,
    (_S.SYN_ACK_SENT, _I.SYN): Session._on_syn_while_answering,
    (_S.SYN_ACK_SENT, _I.ACK): Session._on_handshake_ack,
    (_S.SYN_ACK_SENT, _I.SYN_ACK): Session._on_crossed_syn_ack,
    (_S.SYN_ACK_SENT, _I.CHAT): Session._on_chat_completing_handshake,
    (_S.SYN_ACK_SENT, _I.FIN): Session._on_fin_before_chat,
    (_S.SYN_ACK_SENT, _I.SAY): Session._cmd_say,
    (_S.SYN_ACK_SENT, _I.QUIT): Session._cmd_quit,
    (_S.SYN_ACK_SENT, _I.ABORT): Session._cmd_abort,
    # chatting
    (_S.ESTABLISHED, _I.SYN_ACK): Session._on_duplicate_syn_ack,
    (_S.ESTABLISHED, _I.CHAT): Session._on_chat,
    (_S.ESTABLISHED, _I.ACK): Session._on_chat_ack,
    (_S.ESTABLISHED, _I.FIN): Session._on_fin_peer_left,
    (_S.ESTABLISHED, _I.ERR): Session._on_err_in_chat,
    (_S.ESTABLISHED, _I.SYN): Session._on_syn_in_chat,
    (_S.ESTABLISHED, _I.SAY): Session._cmd_say,
    (_S.ESTABLISHED, _I.QUIT): Session._cmd_quit,
    (_S.ESTABLISHED, _I.ABORT): Session._cmd_abort,
    (_S.ESTABLISHED, _I.PROBE): Session._cmd_probe,
    (_S.DRAINING, _I.SYN_ACK): Session._on_duplicate_syn_ack,
    (_S.DRAINING, _I.CHAT): Session._on_chat,
    (_S.DRAINING, _I.ACK): Session._on_chat_ack,
    (_S.DRAINING, _I.FIN): Session._on_fin_peer_left,
    (_S.DRAINING, _I.ERR): Session._on_err_in_chat,
    (_S.DRAINING, _I.SYN): Session._on_syn_in_chat,
    (_S.DRAINING, _I.QUIT): Session._cmd_already_leaving,
    (_S.DRAINING, _I.ABORT): Session._cmd_abort,
    # leaving
    (_S.FIN_SENT, _I.ACK): Session._on_fin_ack,
    (_S.FIN_SENT, _I.CHAT): Session._on_chat_while_closing,
    (_S.FIN_SENT, _I.FIN): Session._on_fin_while_closing,
    (_S.FIN_SENT, _I.SYN): Session._on_syn_while_leaving,
    (_S.FIN_SENT, _I.QUIT): Session._cmd_already_leaving,
    (_S.FIN_SENT, _I.ABORT): Session._cmd_abort,
    (_S.CLOSING, _I.ACK): Session._on_closing_ack,
    (_S.CLOSING, _I.SYN_ACK): Session._on_syn_ack_after_end,
    (_S.CLOSING, _I.CHAT): Session._on_chat_lingering,
    (_S.CLOSING, _I.SYN): Session._on_syn_after_decline,
    (_S.CLOSING, _I.FIN): Session._on_fin_lingering,
    (_S.CLOSING, _I.ERR): Session._on_err_after_closing,
    (_S.CLOSING, _I.ABORT): Session._cmd_abort_quietly,
    # ended, still answering stragglers
    (_S.CLOSED, _I.FIN): Session._on_fin_lingering,
    (_S.CLOSED, _I.ACK): Session._on_late_ack,
    (_S.CLOSED, _I.SYN): Session._on_syn_after_decline,
    (_S.CLOSED, _I.CHAT): Session._on_chat_lingering,
    (_S.CLOSED, _I.SYN_ACK): Session._on_syn_ack_after_end,
    (_S.CLOSED, _I.ABORT): Session._cmd_abort_quietly,
}
