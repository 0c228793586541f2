"""Sans-IO daemon: every SIMP datagram from every address, and the local user's commands.

A Node owns at most one *current* session (the chat or invitation the user is dealing with)
and any number of *ended* sessions that still linger to answer their peer's stragglers.  It
decides what a datagram from a stranger gets (SPEC "Busy", "Who may talk to a daemon"), counts
what it saw, and, like Session, never reads a clock or a socket: inputs carry `now`, outputs
are collected with `datagrams_to_send()`, `events()`, `notes()` and `get_timer()`.

Answers to strangers (ERR+FIN for busy or no user, ACK for a stray FIN, FIN for a stray chat,
SYN+ACK or ACK, so a stale peer learns quickly; an ACK that follows our own answer within two
timeouts is taken for its acknowledgement and not answered, so two daemons never ping-pong)
are rate-limited per source and overall, so the daemon is never an amplifier.

A chat whose peer lost it (restarted) ends when the peer's SYNs prove it (Session
`_on_syn_in_chat`); the proving SYN is then handled as a new invitation.  A chat whose peer
vanished silently (nothing in flight, so nothing tells) is still our user's chat until someone
else invites our user: that SYN gets the busy answer and makes the session probe its peer
(Session `probe`); a peer that answers nothing within the retries is given up on ("not
answering"), so a vanished peer never keeps the daemon busy for third parties for good, and a
silent but present one costs one datagram per refused invitation.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from simp import dialect, extension, wire
from simp import events as ev
from simp.session import CommandError, Session, SessionConfig, State
from simp.wire import Datagram, Op, Type

BUSY_TEXT = "User already in another chat"
NO_USER_TEXT = "No user connected"


ADDRESS_MEMORY = 4096  # addresses each per-source memory keeps (rates, stray FINs, invitations)
_V = TypeVar("_V")


def _keep(memory: dict[ev.Address, _V], source: ev.Address, value: _V) -> None:
    """Store `value` for `source` as the newest entry, forgetting the oldest beyond ADDRESS_MEMORY.

    Why oldest first, in constant time: a flood from ever new addresses (one FIN each, all
    recent) used to make every datagram rebuild the whole table looking for expired entries,
    which it did not find, so the cost of a datagram grew with the flood and the real peer's
    datagrams waited (found from outside: at 2,000 FINs a second the longest round trip of a chat
    went from 18 ms to 293 ms).  The dict keeps insertion order, and an address seen again moves
    to the end."""
    memory.pop(source, None)
    memory[source] = value
    while len(memory) > ADDRESS_MEMORY:
        del memory[next(iter(memory))]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    session: SessionConfig = field(default_factory=SessionConfig)
    # answers to one stranger address at most this often (seconds, default half a timeout)
    stranger_interval: float | None = None
    # and to all strangers together at most this many datagrams per second (a busy answer is two)
    stranger_rate: float = 50.0
    # this daemon's own (host, port) addresses, peer and client port: inviting one of them is
    # refused, and a datagram claiming to come from one (looped back or spoofed) is ignored
    own_addresses: frozenset[ev.Address] = frozenset()
    # ended sessions still lingering at most; beyond, the oldest is forgotten early (its peer's
    # stragglers then get the stranger answers, which are the same for FIN and chat datagrams)
    max_lingering: int = 1024
    # SIMPX/1 (simp.extension, docs/EXTENSION.md): offered in our SYNs, accepted from inviters
    # that offer it; a peer that does not answer with it gets plain SIMP
    extension: bool = True
    # part of our SIMPX/1 chat-ids, so a restarted daemon never reuses one (daemon_cli: start time)
    chat_id_epoch: str = ""
    # (IPv4 address, dialect) pairs: peers known to speak a dialect that cannot be learned safely
    # (simp.dialect CONFIGURABLE; `daemon.py --peer-dialect`); every other peer speaks SPEC to us
    peer_dialects: tuple[tuple[str, str], ...] = ()

    @property
    def per_source_interval(self) -> float:
        return self.session.timeout / 2 if self.stranger_interval is None else self.stranger_interval


class Node:
    """The protocol brain of one daemon; see the module docstring."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.user: str | None = None  # the connected client's user name
        self.current: Session | None = None
        self._ended: dict[ev.Address, Session] = {}  # oldest first
        # the lingering sessions' deadlines, found without looking at each: a heap of [deadline,
        # peer]; an entry counts only while `_scheduled` holds the same deadline for that peer
        self._deadlines: list[list] = []
        self._scheduled: dict[ev.Address, float] = {}
        self._touched: set[ev.Address] = set()  # lingering sessions that took input since _collect
        self._invited_at: dict[ev.Address, float] = {}  # when each source last invited us
        self._out: list[tuple[ev.Address, Datagram]] = []
        self._events: list[ev.Event] = []
        self._notes: list[str] = []
        self._stranger_last: dict[ev.Address, float] = {}
        self._stranger_fin0: dict[ev.Address, float] = {}  # when we last answered a source with FIN 0
        # the first FIN from each address that came with no session of ours, and its bit (`start`)
        self._stray_fins: dict[ev.Address, tuple[float, int]] = {}
        # till when each peer may take a FIN 0 of ours for a copy of our earlier one, kept from
        # the forgotten session that sent it (Session `fin0_doubted_until`, `_quit_memory`)
        self._fin0_doubted: dict[ev.Address, float] = {}
        # the latest FIN 0 from each address that reached no chat or invitation of ours, and the
        # chat-id it named (SIMPX/1; None: untagged): a SYN soon after is a late copy (`_unseen_withdrawal`)
        self._unseen_withdrawals: dict[ev.Address, tuple[float, str | None]] = {}
        self._stranger_budget = config.stranger_rate
        self._stranger_budget_at = 0.0
        self.stats: Counter[str] = Counter()
        # each peer's, learned or configured (simp.dialect)
        self._dialects = dialect.Dialects(config.session.timeout, config.peer_dialects)
        self._invitations_sent = 0  # numbers our SIMPX/1 chat-ids

    # -- outputs ---------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[ev.Address, Datagram]]:
        self._collect()
        out, self._out = self._out, []
        return out

    def events(self) -> list[ev.Event]:
        self._collect()
        out, self._events = self._events, []
        return out

    def notes(self) -> list[str]:
        """Why datagrams were ignored, one line each, for the debug log."""
        out, self._notes = self._notes, []
        return out

    def get_timer(self) -> float | None:
        self._collect()
        heap = self._deadlines
        while heap and self._scheduled.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # stale: that session was rescheduled or forgotten
        deadlines = [heap[0][0]] if heap else []
        if self.current is not None and (t := self.current.get_timer()) is not None:
            deadlines.append(t)
        return min(deadlines, default=None)

    @property
    def lingering(self) -> int:
        """How many ended sessions still answer their peers."""
        self._collect()
        return len(self._ended)

    def counters(self) -> dict[str, int]:
        """Everything counted so far, retransmissions of live sessions included."""
        live = [self.current, *self._ended.values()] if self.current else list(self._ended.values())
        counts = dict(self.stats)
        counts["retransmissions"] = self.stats["retransmissions"] + sum(s.retransmissions for s in live)
        return counts

    @property
    def busy(self) -> bool:
        return self.current is not None

    # -- user side ---------------------------------------------------------------------------

    def connect_client(self, user: str) -> None:
        reason = wire.valid_user_name(user)
        if reason:
            raise CommandError(reason)
        self.user = user

    def disconnect_client(self, now: float) -> None:
        """The client left or vanished: its chat ends cleanly (queued messages first, then FIN)."""
        self.user = None
        if self.current is not None:
            self.current.quit(now)

    def start(self, peer: ev.Address, now: float) -> None:
        self._need_user()
        if self.current is not None:
            raise CommandError("already in a chat or an invitation; end it first")
        if not 0 < peer[1] < 65536:  # (port 0 cannot be sent to: every SYN failed, "no answer" at expiry)
            raise CommandError(f"not a UDP port a daemon can listen on: {peer[1]} (1 to 65535)")
        if peer in self.config.own_addresses:
            raise CommandError(f"cannot invite yourself: {peer[0]}:{peer[1]} is this daemon's own address")
        previous = self._ended.get(peer)
        if previous is not None and previous.state is State.CLOSING and not previous.withdrawing:
            previous.abort(now)  # its re-sent FIN could end the new chat; our SYN tells the peer anyway
            self._touched.add(peer)
        kind = extension.FramedSession if self.config.extension else Session
        self.current = kind.initiate(self.config.session, local_user=self.user or "", peer=peer, now=now,
                                     previous=previous,  # (held while that is a withdrawal under way)
                                     stray_fin=self._stray_fins.pop(peer, None))
        if isinstance(self.current, extension.FramedSession):
            self._invitations_sent += 1
            tag = extension.node_tag(self.user or "")
            self.current.offer(extension.new_chat_id(tag, self._invitations_sent, self.config.chat_id_epoch))
        self.stats["chats_started"] += 1

    def accept(self, now: float) -> None:
        self._need_session().accept(now)

    def decline(self, now: float) -> None:
        self._need_session().decline(now)

    def say(self, msg_id: int, text: str, now: float) -> None:
        try:
            wire.encode(wire.chat(0, "", text))
        except ValueError as exc:
            raise CommandError(f"message cannot be sent: {exc}") from None
        session = self._need_session()
        if isinstance(session, extension.FramedSession) and session.mode is not extension.Mode.PLAIN:
            limit = extension.MAX_TAGGED_TEXT
            if len(text) > limit:
                raise CommandError(f"message cannot be sent: {len(text)} bytes exceed the maximum of {limit} "
                                   f"in a {extension.PROTOCOL} chat (its tag takes the rest)")
        session.say(msg_id, text, now)

    @property
    def chat_mode(self) -> str:
        """How the current chat runs: extended, plain, negotiating (our offer is unanswered), or
        none when there is no chat."""
        if self.current is None:
            return "none"
        return self.current.mode.value if isinstance(self.current, extension.FramedSession) else "plain"

    @property
    def dialect(self) -> str:
        """The SIMP dialect learned from the current chat's peer (simp.dialect): spec, ack-next,
        first-bit-1, short-fields(U,L), joined by +; none when there is no chat."""
        return "none" if self.current is None else self._dialects.name(self.current)

    def dialect_notes(self) -> list[str]:
        """One line per dialect learned, with its evidence (the daemon logs them at INFO); counted
        as `dialects_learned`, which between SPEC daemons stays 0 (the explorer checks it)."""
        notes = self._dialects.notes()
        self.stats["dialects_learned"] += len(notes)
        return notes

    def quit(self, now: float) -> None:
        self._need_session().quit(now)

    def shutdown(self, now: float) -> None:
        """Daemon stopping: end the current chat with one FIN, at once."""
        if self.current is not None:
            self.current.abort(now)

    def _need_user(self) -> None:
        if self.user is None:
            raise CommandError("no user connected")

    def _need_session(self) -> Session:
        if self.current is None:
            raise CommandError("not in a chat or an invitation")
        return self.current

    # -- network side ------------------------------------------------------------------------

    def receive(self, data: bytes, source: ev.Address, now: float) -> Datagram | None:
        """Handle one datagram from `source`; returns it decoded, or None if malformed."""
        try:
            current = self.current if self.current is not None and self.current.peer == source else None
            dg = self._dialects.decode(data, current or self._ended.get(source))
        except wire.MalformedDatagram as exc:
            self.stats["malformed"] += 1
            self._notes.append(f"malformed datagram from {source[0]}:{source[1]}: {exc.reason}")
            return None
        self.stats["received"] += 1
        if source in self.config.own_addresses:
            reason: str | None = "datagram from our own address (looped back or spoofed)"
        elif (session := self._session_for(source, dg, now)) is not None:
            if session is not self.current:
                self._note_unseen_withdrawal(source, dg, now)
            spec_dg = self._dialects.incoming(session, dg, now)  # in SPEC's terms (simp.dialect)
            reason = session.handle_datagram(spec_dg, now) if spec_dg else self._dialects.dropped_why
            for follow_up in self._dialects.follow_ups():  # (one datagram of a dialect may mean two)
                session.handle_datagram(follow_up, now)
            self._drain(session)  # its answers to this datagram go out in the peer's dialect
            self._dialects.settle(session)
            if session is not self.current:
                self._touched.add(source)
            if session is self.current and session.peer_lost_chat:
                self._collect()  # the chat is over: the SYN that proved it is a new invitation
                reason = self._answer_stranger(dg, source, now)
        else:
            self._note_unseen_withdrawal(source, dg, now)
            reason = self._answer_stranger(dg, source, now)
        opened = self.current if self.current is not None and self.current.peer == source else None
        if opened is not None and not self._dialects.knows(opened):
            self._dialects.incoming(opened, dg, now)  # the SYN that opened it
        if reason:
            self.stats["ignored"] += 1
            self._notes.append(f"ignored {extension.describe(dg)} from {source[0]}:{source[1]}: {reason}")
        self._release_held(now)
        return dg

    def handle_timer(self, now: float) -> None:
        if self.current is not None:
            self.current.handle_timer(now)
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, peer = heapq.heappop(heap)
            if self._scheduled.get(peer) == deadline:
                del self._scheduled[peer]
                self._ended[peer].handle_timer(now)
                self._touched.add(peer)
        self._release_held(now)

    def _release_held(self, now: float) -> None:
        """Our invitation held back by a withdrawal to the same peer (Session.hold) goes once that
        withdrawal is over (acknowledged, given up, or forgotten)."""
        if self.current is not None and self.current.held:
            previous = self._ended.get(self.current.peer)
            if previous is None or not previous.withdrawing:
                self.current.release(now)

    def _session_for(self, source: ev.Address, dg: Datagram, now: float) -> Session | None:
        """The session a datagram from `source` belongs to; None: the stranger rules answer it.

        Everything from the current session's peer goes to it, but a late copy of the SYN that
        opened the chat just ended: a new invitation knows what may still come of the previous
        chat with the same peer (Session `previous`) and tells the other stragglers apart itself.
        A SYN from the peer of an ended chat is a new invitation, unless it may still repeat an
        invitation our user declined (Session.takes_syn; in SIMPX/1 only one with that
        invitation's chat-id can).  While we invite that peer, any other SYN from it crosses our
        invitation, even one that may repeat the invitation we declined: both users
        now ask for this chat, whichever invitation the SYN is.  Answered with the decline's FIN
        instead, it told the peer's new invitation "declined" (explorer seed 7260; seeds 1072 and
        1310, which an earlier rule here answered, stay fixed: tests/explore_regressions)."""
        ended = self._ended.get(source)
        if self.current is not None and self.current.peer == source:
            if (dg.is_control(Op.SYN) and ended is not None and not ended.declined
                    and self._repeats(ended, dg, now)):
                # a late copy of the SYN that opened the chat just ended (within half a timeout of
                # its start; in SIMPX/1, naming it): no invitation crossing ours.  Taken for one,
                # our answer undid our invitation, and the peer, which had accepted it, was told
                # "invitation withdrawn" (explorer seed 9427).  A genuinely new invitation that
                # early is answered at its next SYN, as in Session.takes_syn.
                return ended
            if self.current.held and ended is not None and ended.withdrawing:
                if not dg.is_control(Op.SYN):
                    return ended  # (Session.hold: the withdrawal finishes first)
                # the peer invites us, so no invitation of ours is open there any more: our
                # withdrawal's FIN stops (a copy could end the chat the crossing starts; explorer
                # seed 1043), and the SYN crosses our held one
                ended.abort(now)
                self._touched.add(source)
            elif ended is not None and dg.is_control(Op.ACK) and (
                    (dg.seq == 0 and ended.awaits_ack_of_our_fin(now)) or not self.current.uses_ack(dg, now)):
                return ended  # (Session.awaits_ack_of_our_fin, Session.uses_ack)
            elif dg.is_control(Op.ACK) and dg.seq == 0 and self._acks_stranger_fin(source, dg, now):
                return None  # (the stranger rules take it for their answer's ACK and say nothing)
            return self.current
        if ended is not None and dg.is_control(Op.SYN):
            refusal = ended.inherited_refusal  # (a refusal our invitation after it carries on)
            if refusal is not None and self._repeats(refusal, dg, now):
                return refusal
            replaced = ended.replaced_invitation  # (the peer's invitation it followed: a late copy of
            if (replaced is not None and not replaced.declined  # its SYN; a refusal is the above's,
                    and self._repeats(replaced, dg, now)):  # which a chat between them ends; seed 3647)
                return replaced
            if not self._repeats(ended, dg, now):
                return None  # a new invitation from a peer we chatted with before (_answer_stranger)
        return ended

    def _acks_stranger_fin(self, source: ev.Address, ack: Datagram, now: float) -> bool:
        """Is the ACK 0 from the current session's peer the answer to the FIN 0 we sent that address
        as a stranger just before (to a straggler of a chat our daemon no longer has)?  It comes
        within a timeout (delays under half a timeout each way), and read by the new session it
        would complete a handshake the peer never had, or acknowledge our first message (explorer
        seed 27888: the peer, restarted, took our FIN for a decline of its new invitation, and its
        ACK of it started the chat our user had just accepted).  So the first untagged ACK 0 in
        that window is the FIN's; at worst our SYN+ACK or message is re-sent once.  (A SIMPX/1 ACK
        of the new chat names it.)"""
        sent = self._stranger_fin0.get(source)
        if sent is None or now > sent + self.config.session.timeout or extension.parse(ack.payload)[0]:
            return False
        del self._stranger_fin0[source]
        return True

    @staticmethod
    def _repeats(session: Session, syn: Datagram, now: float) -> bool:
        """Does `syn` belong to the ended `session` rather than open a new invitation?"""
        return ((session.takes_syn(now) and not extension.names_another_chat(session, syn))
                or extension.repeats(session, syn))  # (a copy of its own SYN is its straggler)

    def _answer_stranger(self, dg: Datagram, source: ev.Address, now: float) -> str | None:
        """A datagram from an address we have no session with."""
        if dg.is_control(Op.SYN):
            if self.user is not None and self.current is None:
                if self._unseen_withdrawal(source, dg, now):
                    return ("SYN within half a timeout of a FIN 0 from this source that reached no chat "
                            "of ours: a late copy of the invitation that FIN withdrew")
                previous = self._ended.get(source)
                if previous is not None and extension.offered_before(previous, dg):
                    return ("SYN naming an invitation of this source's that came before our ended session "
                            f"with it ({extension.PROTOCOL} chat-id): a late copy")
                refused = self._admit_invitation(source, previous, now)
                if refused:
                    self.stats["invitations_suppressed"] += 1
                    return refused
                if previous is not None:
                    self._retire(previous, now)
                offer = extension.parse(dg.payload)[0] if self.config.extension else None
                kind = Session if offer is None else extension.FramedSession
                self.current = kind.invited(self.config.session, local_user=self.user, peer=source,
                                            syn=dg, now=now, previous=previous,
                                            fin0_doubted_until=self._fin0_doubted.get(source))
                if offer is not None and isinstance(self.current, extension.FramedSession):
                    self.current.adopt(offer.chat_id)
                elif self.config.extension:
                    self._notes.append(f"chat with {source[0]}:{source[1]} runs in plain SIMP: "
                                       "the inviter offered no extension")
                self.stats["invitations"] += 1
                return None
            if self.current is not None:
                self.current.probe(now)  # is our idle chat's peer still there?
            text = NO_USER_TEXT if self.user is None else BUSY_TEXT
            return self._answer_limited(source, now, dg, [wire.control(Op.ERR, 0, self._me, text),
                                                      wire.control(Op.FIN, 0, self._me)])
        if dg.is_control(Op.FIN):
            self._remember_stray_fin(source, dg.seq, now)
            return self._answer_limited(source, now, dg, [wire.control(Op.ACK, dg.seq, self._me)]) or \
                "FIN from an address with no chat (acknowledged)"
        if dg.is_control(Op.ACK):
            last = self._stranger_last.get(source)
            if last is not None and now - last < 2 * self.config.session.timeout:
                return "ACK from an address with no chat (likely of our own answer)"
            return self._answer_limited(source, now, dg, [wire.control(Op.FIN, 0, self._me)]) or \
                "ACK from an address with no chat (answered FIN: a stale peer learns the chat is over)"
        if dg.type is Type.CHAT or dg.is_control(Op.SYN_ACK):
            return self._answer_limited(source, now, dg, [wire.control(Op.FIN, 0, self._me)]) or \
                f"{dg.label} from an address with no chat (answered FIN)"
        return f"{dg.label} from an address with no chat"

    def _note_unseen_withdrawal(self, source: ev.Address, dg: Datagram, now: float) -> None:
        """Remember a FIN 0 from `source` that reached no chat or invitation of ours with it (no
        session, or an ended one): it may end an invitation of the peer's that we never saw
        (`_unseen_withdrawal`).  A plain-SIMP FIN does not say: a copy of the ended chat's own FIN,
        say, looks the same (explorer seed 81738 unshrunk: both users had quit that chat at once,
        and the withdrawal's FIN 0, 12 s later, could still be a copy of the peer's)."""
        if not (dg.is_control(Op.FIN) and dg.seq == 0):
            return
        tag = extension.parse(dg.payload)[0] if self.config.extension else None
        _keep(self._unseen_withdrawals, source, (now, None if tag is None else tag.chat_id))

    def _unseen_withdrawal(self, source: ev.Address, syn: Datagram, now: float) -> bool:
        """Is `syn`, which would be shown as a new invitation, a late copy of a SYN of an invitation
        whose withdrawal reached us before it (`_note_unseen_withdrawal`)?

        The inviter sent every SYN of that invitation before its FIN, so, with delays under half a
        timeout, every copy arrives within half a timeout of the first copy of the FIN that reached
        us (measured from the latest, to be safe).  Shown, such a copy made an invitation no user
        had made (explorer seed 81738: bob invited alice and withdrew at once, his SYN delayed behind
        his FIN, which reached her ended chat with him; the ghost invitation, declined 30 s later,
        left alice's decline memory answering bob's next, real invitation with FIN, and bob was
        told "declined" that alice never gave).  Cost: a genuinely new invitation that early (our
        own daemon, re-inviting after a withdrawal, waits half a timeout after its ACK,
        Session.initiate; a peer re-inviting while its FIN of the ended chat is still re-sent does
        not) loses its first SYN and is shown at the next, a timeout later, as after a chat's start
        (Session.takes_syn).  In SIMPX/1 a SYN naming a chat other than the one the FIN named is
        new whenever it comes."""
        withdrawal = self._unseen_withdrawals.get(source)
        if withdrawal is None or now >= withdrawal[0] + self.config.session.timeout / 2:
            return False
        offer = extension.parse(syn.payload)[0] if self.config.extension else None
        return withdrawal[1] is None or offer is None or offer.chat_id == withdrawal[1]

    def _retire(self, previous: Session, now: float) -> None:
        """The peer of our ended session `previous` invites us: its re-sent FIN stops (the SYN
        shows the peer left it).  The session is forgotten, unless the ACK of a FIN 0 it sent
        may still come (Session.awaits_ack_of_our_fin): then it stays, silent, so that
        `_session_for` hands it that ACK.  Forgotten, it left the ACK to the new invitation, where
        it completed the handshake once our user accepted, though our SYN+ACK was lost (explorer
        seed 45424: the peer's SYN had ended our side of a chat we were leaving, and its ACK of
        our re-sent FIN came just after)."""
        if not previous.awaits_ack_of_our_fin(now):
            self._forget(previous.peer)
            return
        if previous.state is State.CLOSING:
            previous.abort(now)  # (no more FIN: `_cmd_abort_quietly`)
        self._touched.add(previous.peer)

    @property
    def _me(self) -> str:
        return self.user or ""

    def _admit_invitation(self, source: ev.Address, previous: Session | None, now: float) -> str | None:
        """A new invitation is shown to our user within the stranger limits: all strangers together
        share the overall rate with our answers, and one source is shown at most one invitation per
        half timeout unless its previous one became a chat (a peer inviting again after a chat,
        or after restarting, is not held back; one that invites and withdraws in a loop is)."""
        last = self._invited_at.get(source)
        if (last is not None and now - last < self.config.per_source_interval
                and not (previous is not None and previous.began)):
            return "invitation suppressed (this source invited us less than half a timeout ago)"
        if not self._take_budget(now):
            return "invitation suppressed (strangers are over the overall rate)"
        _keep(self._invited_at, source, now)
        return None

    def _take_budget(self, now: float, units: int = 1) -> bool:
        """Take `units` of the overall stranger rate (a token bucket), if there are that many: one
        per datagram an answer sends, so that a flood of SYNs from many addresses, each answered
        ERR then FIN, gets no more datagrams back than the rate (it got twice as many)."""
        rate = self.config.stranger_rate
        self._stranger_budget = min(rate, self._stranger_budget + (now - self._stranger_budget_at) * rate)
        self._stranger_budget_at = now
        if self._stranger_budget < units:
            return False
        self._stranger_budget -= units
        return True

    def _remember_stray_fin(self, source: ev.Address, seq: int, now: float) -> None:
        """Our next invitation to `source` must know that copies of this FIN may still come
        (Session.initiate `stray_fin`); once SessionConfig.fin_copies_span has passed, none can,
        and the window it opens is over.  At most ADDRESS_MEMORY addresses are kept (`_keep`)."""
        first = self._stray_fins.get(source)
        if first is not None and now <= first[0] + self.config.session.fin_copies_span:
            return
        _keep(self._stray_fins, source, (now, seq))

    def _answer_limited(self, source: ev.Address, now: float, about: Datagram,
                        answer: list[Datagram]) -> str | None:
        """Send `answer` to `about` unless this source or all strangers together are over their rate.
        With the extension, the answer carries `about`'s tag: the extended chat it answers takes it."""
        if self.config.extension:
            answer = [extension.echo(d, about) for d in answer]
        last = self._stranger_last.get(source)
        if last is not None and now - last < self.config.per_source_interval:
            self.stats["stranger_answers_suppressed"] += 1
            return "answer suppressed (this source is over its rate)"
        if not self._take_budget(now, len(answer)):
            self.stats["stranger_answers_suppressed"] += 1
            return "answer suppressed (strangers are over the overall rate)"
        _keep(self._stranger_last, source, now)
        if any(d.is_control(Op.FIN) and d.seq == 0 for d in answer):
            _keep(self._stranger_fin0, source, now)
        self.stats["stranger_answers"] += 1
        self._out.extend((source, d) for d in answer)
        return None

    # -- plumbing ----------------------------------------------------------------------------

    def _collect(self) -> None:
        """Move the sessions' outputs into ours and retire sessions that ended or finished.

        Only the current session and the lingering ones that took input or a timer since the
        last call are looked at, so the cost does not grow with the number of lingering ones."""
        if self.current is not None:
            self._drain(self.current)
            if not self.current.active:
                session, self.current = self.current, None
                if not session.finished:  # (finished at once: it never went out, Session.unheard)
                    if session.peer in self._ended:  # an older chat with the same peer, still lingering
                        self._forget(session.peer)
                    self._ended[session.peer] = session
                    self._touched.add(session.peer)
                    if len(self._ended) > self.config.max_lingering:
                        self._forget(next(iter(self._ended)))  # the oldest: its linger ends first
        touched, self._touched = self._touched, set()
        for peer in touched:
            session = self._ended.get(peer)
            if session is None:
                continue
            self._drain(session)
            deadline = session.get_timer()
            if session.finished or deadline is None:
                self._forget(peer)
            elif self._scheduled.get(peer) != deadline:
                self._scheduled[peer] = deadline
                heapq.heappush(self._deadlines, [deadline, peer])
        if len(self._deadlines) > 2 * len(self._scheduled) + 64:  # drop stale entries in bulk
            self._deadlines = [[t, p] for p, t in self._scheduled.items()]
            heapq.heapify(self._deadlines)

    def _forget(self, peer: ev.Address) -> None:
        session = self._ended.pop(peer)
        self._scheduled.pop(peer, None)
        if session.declined and not session.initiator:
            # the peer may have withdrawn the invitation we refused at that moment, its FIN 0's
            # copies coming for a re-send span after the refusal (Session._follow): our next
            # invitation must still know it once this session is gone (explorer seed 40259: a copy
            # 20 s later was taken for a decline of it)
            self._remember_stray_fin(peer, 0, session.refused_at)
        elif session.withdrawn and not session.peer_may_send_fin and session.fin_acked_at is not None:
            # likewise our invitation, withdrawn with no FIN of the peer heard: its user may have
            # declined it at that moment, the decline's copies coming for a re-send span after our
            # withdrawal's ACK (Session._follow_withdrawal; explorer seed 46040: a copy 20 s later,
            # all before lost, was taken for a decline of our next invitation, which crossed the
            # peer's own)
            self._remember_stray_fin(peer, 0, session.fin_acked_at)
        if (doubted := session.fin0_doubted_until) is not None:
            _keep(self._fin0_doubted, peer, doubted)
        self._drain(session)
        self.stats["retransmissions"] += session.retransmissions

    def _drain(self, session: Session) -> None:
        for dg in session.datagrams_to_send():
            self._out.append((session.peer, self._dialects.outgoing(session, dg)))
            self.stats["sent"] += 1
        self._events.extend(session.events())
        if isinstance(session, extension.FramedSession) and (note := session.take_mode_note()):
            self._notes.append(note)
