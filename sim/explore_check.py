"""The explorer's invariants, checked on what one run showed (`RunLog`), not on daemon internals.

A `RunLog` is what the users and the wire saw: the steps each host took (and which the runner
skipped), the notices each client showed, the messages each user said, the SYNs and FINs on the
wire and the runner's own failures.  `violations(log)` returns what broke, one line each:

- messages: each delivered at most once, in the order said, never invented; one never shown to
  the peer is reported to its sender (undelivered or not confirmed) unless a kill cut the chat;
  one shown to the peer is never reported undelivered to its sender;
- chats: a message of chat k is never delivered in chat k+1 (nor in a chat with another host);
  "chat started" at most once per chat;
- agreement of the two sides' notices: "declined" only when the peer declined, and then not
  "no answer"; "no answer" only when the invitation was shown to the peer (or the peer was down,
  or none of its SYNs reached the peer, or only SYNs the peer must not yet take for a new
  invitation, `_reached`, or only SYNs the peer answered as a crossing, all its answers lost,
  `_crossing_unheard`); "no clear answer" (declined or no answer) only when a
  FIN 0 of the peer reached the inviter while a copy of an earlier one could still come;
  "peer left" only in a chat that started, and only when the peer left (quit, disconnected, was
  killed or ended the chat itself); "invitation withdrawn" on the invited side only when the
  inviter gave up (quit, or its client or daemon went after the SYN left) or the invitation
  expired; the inviter is never told the invited side's wording; an invitation is shown once
  per `start` (again only after the user it was shown to invited its inviter while it was open,
  `_superseded_refusal`, or by a new daemon of that user's, `_shown_before_a_restart`), and
  one whose SYNs keep arriving is shown or refused, never ignored;
  crossing invitations end in neither "declined" nor "(no clear) answer" (but "no answer" when
  nothing the peer sent reached the host, `_crossing_unheard`);
- the inviter hears "declined" when the decliner's FIN reaches it, not a linger later;
- the end: every daemon free (or down) and quiet, no harness error.

Attempts of a host whose client or daemon was killed while they were open are "cut": what the
killed side was told is unknown, so agreement is not required of them.

A violation that plain SIMP's wire cannot avoid (its SYN, SYN+ACK and FIN carry no invitation
identity) is prefixed PLAIN_LIMIT, and only where one of the two hosts speaks plain SIMP and the
run itself shows why: `_forgot_a_withdrawal`, `_took_a_stale_acceptance`, `_memory_ran_out`,
`_answered_from_an_older_decline`, `_predecessors_chats_re_sending_bit_1` (a dialect learned).
The explorer counts those apart, as it
counts SPEC's known limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sim.explore_gen import RETRIES
from simp.events import EndReason

END_KINDS = tuple(reason.text for reason in EndReason)
INVITED_WITHDRAWN = EndReason.WITHDRAWN.text  # the invited side's wording
# "no clear answer": declined, or no answer; the wire cannot tell (by its words, as the notices
# are read, so the checker also judges a core older than that reason: RELIABILITY.md, base commit)
UNCLEAR = "no clear answer"
LEAVING = ("quit", "disconnect", "kill client", "kill daemon", "restart daemon")
NEW_DAEMON = ("restart daemon", "start daemon")  # steps after which a host's daemon remembers nothing
HARD_FAILURES = ("not settled", "final state", "harness error", "Stalled", "VirtualTimeExceeded")
IGNORED_SYNS = 4  # SYNs of one invitation that arrive without being shown or refused: ignored
REACTION_SLACK = 0.5  # seconds a daemon may take to show what a delivered datagram told it
# The refusal memories the core is held to, in timeouts (README "Linger"): the checker's own copy
# of simp/session.py's, so that a core whose memory shrank is judged by what we promise and not
# excused by its own constant (a mutant with DECLINE_MEMORY 0.5 had every invitation it showed
# twice filed as plain SIMP's limit); tests/test_explore.py checks the two agree.
DECLINE_MEMORY = 3.5
QUIT_MEMORY = 1.5
_MESSAGE = re.compile(r"([a-z])(\d+)-(\d+)")
PLAIN_LIMIT = "plain SIMP cannot tell: "  # prefixes a violation plain SIMP's wire cannot avoid


@dataclass(frozen=True)
class Notice:
    t: float
    kind: str
    text: str | None = None
    reported: tuple[str, ...] = ()  # messages reported undelivered or not confirmed (chat ends)
    undelivered: tuple[str, ...] = ()  # ... of which reported as undelivered (never sent, or so worded)
    seq: int = 0  # order among steps and notices happening at the same time


@dataclass(frozen=True)
class StepLog:
    t: float
    host: str | None
    action: str
    done: bool  # False: the runner skipped it (its precondition did not hold)
    seq: int = 0  # order among steps and notices happening at the same time


@dataclass(frozen=True)
class Sent:
    sent: float
    src: str
    dst: str
    seq: int
    arrived: float | None  # None: lost
    order: int = 0  # with `sent`, its place among same-time steps and notices (their `seq`)
    arrived_order: int = 0  # with `arrived`, likewise


@dataclass
class RunLog:
    """What one run showed; built from a runner Result by `sim.explore.run_log`, or by hand in tests."""

    steps: list[StepLog]
    notices: dict[str, list[Notice]]
    said: dict[str, list[str]]
    fins: list[Sent] = field(default_factory=list)
    syns: list[Sent] = field(default_factory=list)
    syn_acks: list[Sent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    crossings: tuple[tuple[int, int], ...] = ()
    timeout: float = 5.0
    invite_expiry: float = 60.0
    end: float = 0.0
    dialects_learned: dict[str, int] = field(default_factory=dict)  # by host: every host is our daemon
    plain: tuple[str, ...] = ()  # hosts whose daemons speak plain SIMP (the others SIMPX/1)

    def plain_between(self, a: str, b: str) -> bool:
        """Do `a` and `b` speak plain SIMP to each other (SIMPX/1 needs both)?"""
        return a in self.plain or b in self.plain


@dataclass
class Attempt:
    """One chat or invitation of one host, from its start (or the invitation) to its end notice."""

    host: str
    peer: str | None
    role: str  # "inviting" | "invited"
    start: float
    step: int | None = None  # index of the start step that opened it
    seq: int = 0  # with `start`, where it began among same-time steps and notices
    notices: list[Notice] = field(default_factory=list)
    end: Notice | None = None
    cut: bool = False  # a kill of this host's client or daemon cut it
    dead: bool = False  # ... its daemon's

    @property
    def stop(self) -> float:
        return self.end.t if self.end is not None else float("inf")

    def holds(self, t: float, seq: int) -> bool:
        """(t, seq) falls within this attempt."""
        end = (self.end.t, self.end.seq) if self.end is not None else (float("inf"), 0)
        return (self.start, self.seq) <= (t, seq) <= end

    def kinds(self) -> list[str]:
        return [n.kind for n in self.notices]


def attempts(log: RunLog) -> dict[str, list[Attempt]]:
    """Each host's attempts, in time order, from its steps and notices."""
    hosts = set(log.notices) | {s.host for s in log.steps if s.host}
    out: dict[str, list[Attempt]] = {}
    for host in sorted(hosts):
        timeline: list[tuple[float, int, object]] = []
        for i, s in enumerate(log.steps):
            if s.host == host and s.done:
                timeline.append((s.t, s.seq, (i, s)))
        for n in log.notices.get(host, []):
            timeline.append((n.t, n.seq, n))
        timeline.sort(key=lambda e: (e[0], e[1]))
        mine: list[Attempt] = []
        opened: list[Attempt] = []  # oldest first: a host's notices come in its daemon's order
        for t, _, item in timeline:
            if isinstance(item, Notice):
                if item.kind == "client error":
                    continue
                if item.kind == "invitation":  # the daemon is free: a chat cut by a kill is over
                    opened = [a for a in opened if not a.cut]
                if not opened and mine and item.kind in ("message", "delivered", "error"):
                    mine[-1].notices.append(item)  # a late word on the last chat (an ACK after its end)
                    continue
                if not opened:
                    role = "invited" if item.kind == "invitation" else "unknown"
                    peer = item.text if role == "invited" else None
                    opened.append(Attempt(host, peer, role, t, seq=item.seq))
                    mine.append(opened[-1])
                opened[0].notices.append(item)
                if item.kind in END_KINDS:
                    opened.pop(0).end = item
                continue
            i, step = item  # type: ignore[misc]
            verb, _, arg = step.action.partition(" ")
            if verb == "start" and arg != "daemon":
                opened = [a for a in opened if not a.cut]  # the daemon is free: a cut chat is over
                opened.append(Attempt(host, arg, "inviting", t, step=i, seq=step.seq))
                mine.append(opened[-1])
            elif step.action in ("kill client", "disconnect"):
                for a in opened:  # the daemon still ends it: a new client may hear the rest
                    a.cut = True
            elif step.action in ("kill daemon", "restart daemon"):
                for a in opened:  # gone with the daemon (notices already sent may still come)
                    a.cut = a.dead = True
            elif verb == "connect":
                opened = [a for a in opened if not a.dead]
        out[host] = mine
    return out


Pos = float | tuple[float, int]  # a time, or (time, order among same-time steps and notices)


def _lo(at: Pos) -> tuple[float, int]:
    return at if isinstance(at, tuple) else (at, -1)


def _hi(at: Pos) -> tuple[float, int]:
    return at if isinstance(at, tuple) else (at, 1 << 62)


def _actions(log: RunLog, host: str, verbs: Iterable[str], t0: Pos, t1: Pos) -> list[float]:
    return [t for t, _ in _action_positions(log, host, verbs, t0, t1)]


def _action_positions(log: RunLog, host: str, verbs: Iterable[str], t0: Pos,
                      t1: Pos) -> list[tuple[float, int]]:
    """Where `host` took one of `verbs` within [t0, t1]: (time, order among same-time events)."""
    verbs = tuple(verbs)
    return [(s.t, s.seq) for s in log.steps
            if s.host == host and s.done and s.action in verbs and _lo(t0) <= (s.t, s.seq) <= _hi(t1)]


def _ends(log: RunLog, host: str, t0: Pos, t1: Pos) -> list[float]:
    return [n.t for n in log.notices.get(host, [])
            if n.kind in END_KINDS and _lo(t0) <= (n.t, n.seq) <= _hi(t1)]


def _ended_within(log: RunLog, by_host: dict[str, list[Attempt]], host: str, t0: Pos, t1: Pos) -> bool:
    """Did a chat or invitation of `host` end within [t0, t1], other than one its user had left
    before t0?  The end of that one only confirms the earlier leave: a chat whose peer's user had
    quit (its FIN's ACK lost) ends for that peer when a new invitation from us arrives, and such
    an end passed for the peer leaving the new chat, which a copy of the old FIN had ended at
    our side (the explorer missed a core that took that copy for a leave of the new chat)."""
    for b in by_host.get(host, []):
        if b.end is None or not _lo(t0) <= (b.end.t, b.end.seq) <= _hi(t1):
            continue
        if (b.start, b.seq) < _lo(t0) and _actions(log, host, LEAVING, (b.start, b.seq), t0):
            continue
        return True
    return False


def _cut_between(log: RunLog, host: str, t0: Pos, t1: Pos) -> bool:
    return bool(_actions(log, host, ("kill client", "kill daemon", "restart daemon", "disconnect"), t0, t1))


def _message_owner(text: str) -> tuple[str, int] | None:
    m = _MESSAGE.fullmatch(text)
    return (m.group(1), int(m.group(2))) if m else None


def violations(log: RunLog) -> list[str]:
    """Everything the run broke (empty: nothing); see the module docstring."""
    by_host = attempts(log)
    found = [f for f in log.failures
             if f.startswith(HARD_FAILURES) and not _left_with_a_vanished_peer(log, by_host, f)]
    found += _message_violations(log, by_host)
    found += _agreement_violations(log, by_host)
    found += _invitation_violations(log)
    found += _crossing_violations(log, by_host)
    found += [f"{PLAIN_LIMIT if n <= _predecessors_chats_re_sending_bit_1(log, by_host, host) else ''}"
              f"{host} learned a dialect from a SPEC peer ({n} time(s)): dialect learning must never fire "
              "between SPEC daemons" for host, n in sorted(log.dialects_learned.items()) if n]
    return found


def _predecessors_chats_re_sending_bit_1(log: RunLog, by_host: dict[str, list[Attempt]], host: str) -> int:
    """How many times `host`'s daemon restarted while a plain-SIMP peer, in a chat with the old
    daemon that it stayed in, had a message with bit 1 (its 2nd, 4th, ... of that chat) not yet
    confirmed, so sent or re-sent after the restart, to the new daemon.  Each may teach the new
    daemon first-bit-1 (simp.dialect rule 3) with nothing more: a late SYN of the peer's (sent
    before the restart) opens a crossing of the new daemon's invitation, which it answers with
    SYN+ACK, and that message, the first CHAT it sees, has bit 1 and comes half a timeout or
    more after the SYN.  A first-bit-1 peer whose answers to that handshake were lost looks the
    same: plain SIMP's chat datagrams carry no chat identity, and the new daemon knows nothing of
    its predecessor's chat (explorer seed 83484; the message was shown once, by the new daemon,
    and the two users went on in one chat).  With SIMPX/1 the message names the old chat and
    teaches nothing (simp.dialect); nor does any chat datagram that comes before the new daemon
    answered the SYN (the same seed's first finding, a core bug, fixed there)."""
    said = [(s.t, s.seq, s.host, s.action[4:]) for s in log.steps if s.done and s.action.startswith("say ")]
    count = 0
    for restart in _action_positions(log, host, NEW_DAEMON, 0.0, log.end):
        for peer, atts in by_host.items():
            if peer == host or not log.plain_between(host, peer):
                continue
            for a in atts:
                began = [(n.t, n.seq) for n in a.notices if n.kind == "chat started"]
                if a.peer != host or not began or began[0] > restart or not a.holds(*restart):
                    continue
                texts = [text for t, seq, who, text in said if who == peer and a.holds(t, seq)]
                confirmed = {n.text for n in log.notices.get(peer, []) if n.kind == "delivered"
                             and (n.t, n.seq) < restart}
                count += any(text not in confirmed for text in texts[1::2])
    return count


def _left_with_a_vanished_peer(log: RunLog, by_host: dict[str, list[Attempt]], failure: str) -> bool:
    """"final state of H: expected free, got chatting", where H's last chat is with a peer whose
    daemon was killed during it and no SYN of anyone else reached H after that kill: nothing told
    H's daemon that its peer vanished, and a user's silence alone never ends a chat (README,
    "A peer that vanished": only a third party's invitation makes it ask).  The generator expects
    a third party's `start` to free H, but every SYN of it can be lost (explorer seed 7500).
    After the kill in the run's order, not merely at its instant: a SYN that arrived at the same
    time but before the kill made H probe a peer that was still there (explorer seed 24701)."""
    m = re.fullmatch(r"final state of (\w+): expected free, got chatting", failure)
    if m is None or not by_host.get(m.group(1)):
        return False
    host = m.group(1)
    last = by_host[host][-1]
    if last.end is not None or last.peer is None or "chat started" not in last.kinds():
        return False
    kills = [(s.t, s.seq) for s in log.steps if s.host == last.peer and s.done and s.action == "kill daemon"
             and s.t >= last.start]
    return bool(kills) and not any(s.dst == host and s.src != last.peer and s.arrived is not None
                                   and (s.arrived, s.arrived_order) > kills[0] for s in log.syns)


def _shown_again_after_a_restart(log: RunLog, by_host: dict[str, list[Attempt]], receiver: str,
                                 sender: str | None, text: str, said: tuple[float, int] | None) -> bool:
    """Was `text` shown twice to `receiver`, whose daemon restarted in between, while its sender
    stayed in the one chat it said it in?  The new daemon then took a re-sent datagram of its
    predecessor's chat for the first message of a chat of its own, which that chat's late
    datagrams had opened (explorer seed 34308: the peer's SYN, sent before the restart, crossed
    the new daemon's invitation, and the re-sent message completed that crossing).  A plain-SIMP
    chat datagram carries no chat identity and the new daemon remembers nothing of the old chat:
    it cannot tell (with SIMPX/1 the message names the old chat and is dropped)."""
    if sender is None or said is None or not log.plain_between(receiver, sender):
        return False
    shown = [(n.t, n.seq) for a in by_host.get(receiver, []) for n in a.notices
             if n.kind == "message" and n.text == text]
    source = _containing(by_host.get(sender, []), said)
    restarts = _action_positions(log, receiver, NEW_DAEMON, shown[0], shown[-1])
    return len(shown) == 2 and source is not None and source.holds(*shown[1]) and bool(restarts)


def _containing(atts: list[Attempt], at: tuple[float, int]) -> Attempt | None:
    return next((a for a in atts if a.holds(*at)), None)


def _message_violations(log: RunLog, by_host: dict[str, list[Attempt]]) -> list[str]:
    found = []
    initial = {h[0]: h for h in log.said}
    received: dict[str, list[tuple[Notice, Attempt | None]]] = {}
    for host, atts in by_host.items():
        received[host] = [(n, a) for a in atts for n in a.notices if n.kind == "message"]
    said_at: dict[str, tuple[float, int]] = {}
    for s in log.steps:
        if s.done and s.action.startswith("say "):
            said_at.setdefault(s.action[4:], (s.t, s.seq))
    for receiver, items in received.items():
        texts = [n.text or "" for n, _ in items]
        for text in sorted(set(texts)):
            if texts.count(text) > 1:
                owner = _message_owner(text)
                again = _shown_again_after_a_restart(log, by_host, receiver, initial.get(owner[0]) if owner
                                                     else None, text, said_at.get(text))
                limit = PLAIN_LIMIT if again else ""
                found.append(f"{limit}{receiver} received {text!r} {texts.count(text)} times")
        for sender in log.said:
            mine = [t for t in dict.fromkeys(texts) if t in log.said[sender]]
            order = [log.said[sender].index(t) for t in mine]
            if order != sorted(order):
                found.append(f"{receiver} received {sender}'s messages out of order: {mine}")
        for n, att in items:
            owner = _message_owner(n.text or "")
            sender = initial.get(owner[0]) if owner else None
            if sender is None or n.text not in log.said.get(sender, []):
                found.append(f"{receiver} received {n.text!r}, which nobody said")
                continue
            if att is None or att.peer != sender:
                found.append(f"{receiver} received {n.text!r} from {sender} in a chat with "
                             f"{att.peer if att else None}")
                continue
            source = _containing(by_host.get(sender, []), said_at.get(n.text or "", (-1.0, 0)))
            if source is not None and source.end is not None and (
                    (source.end.t, source.end.seq) < (att.start, att.seq)):
                found.append(f"{receiver} received {n.text!r} in a later chat with {sender} than the one it "
                             f"was said in (ended at {source.stop:.3f}s, the later one began at "
                             f"{att.start:.3f}s)")
    for sender, texts in log.said.items():
        atts = by_host.get(sender, [])
        for text in texts:
            at = said_at.get(text, (0.0, 0))
            t = at[0]
            source = _containing(atts, at)
            peer = source.peer if source else None
            got = any(n.text == text for host in received for n, _ in received[host])
            reported = source is not None and source.end is not None and text in source.end.reported
            undelivered = source is not None and source.end is not None and text in source.end.undelivered
            if got and undelivered:
                found.append(f"{sender}'s {text!r} was shown to {peer} but reported undelivered to {sender}")
            if got or reported:
                continue
            stop = source.stop if source else log.end
            if (source is None or source.cut or peer is None
                    or _cut_between(log, peer, t, min(stop, log.end))):
                continue  # a kill cut the chat: what the killed side was told is unknown
            told = any(n.kind == "delivered" and n.text == text for n in source.notices)
            how = "reported delivered" if told else "neither delivered nor reported undelivered"
            limit = PLAIN_LIMIT if _took_a_stale_acceptance(log, source) else ""
            found.append(f"{limit}{sender}'s {text!r} never reached {peer} yet was {how}")
    return found


def _agreement_violations(log: RunLog, by_host: dict[str, list[Attempt]]) -> list[str]:
    found = []
    for host, atts in by_host.items():
        for a in atts:
            if a.peer is None:
                continue
            kinds = a.kinds()
            if kinds.count("chat started") > 1:
                found.append(f"{host} was told 'chat started' {kinds.count('chat started')} times in one "
                             f"chat with {a.peer}")
            if a.end is None or a.cut:
                continue
            p, end = a.peer, a.end.kind
            t0, t1 = (a.start, a.seq), (a.end.t, a.end.seq)
            peer_cut = _cut_between(log, p, t0, t1)
            started = "chat started" in kinds
            what = "invitation to" if a.role == "inviting" else "chat with"
            where = f"{host}'s {what} {p} ({a.start:.3f}s-{a.end.t:.3f}s)"
            if end == "peer left" and not started:
                found.append(f"{where}: told 'peer left' although no chat had started (a FIN before the "
                             f"handshake's ACK is a withdrawal)")
            elif end == "peer left" and not peer_cut and not (
                    _actions(log, p, LEAVING, t0, t1) or _ended_within(log, by_host, p, t0, t1)):
                found.append(f"{where}: told 'peer left' but {p} never left that chat")
            crossed = bool(_actions(log, p, (f"start {host}",), t0, t1))  # p invited host too
            if a.role == "inviting" and end == INVITED_WITHDRAWN and not crossed:
                found.append(f"{where}: the inviter was told {INVITED_WITHDRAWN!r}, the invited side's "
                             f"wording")
            if a.role == "invited" and end == INVITED_WITHDRAWN:
                expired = a.end.t - a.start >= log.invite_expiry - 1e-6
                sent: Pos = max(((s.t, s.seq) for s in log.steps if s.host == p and s.done  # SYN may be late
                                 and s.action == f"start {host}" and (s.t, s.seq) <= t0), default=t0)
                # the inviter's daemon restarted (or its client went) after the SYN left: the
                # invitation is gone with it, though its SYN is shown later (explorer seed 908);
                # so is an earlier invitation of p's still open when this one was shown, which a
                # kill cut: the one shown may be that one (seed 13: start, restart, start again)
                gone = _cut_between(log, p, sent, t1) or any(
                    b.cut and b.role == "inviting" and b.peer == host and (b.start, b.seq) <= t0
                    and (b.end is None or (b.end.t, b.end.seq) >= t0) for b in by_host.get(p, []))
                if not (expired or gone or _actions(log, p, ("quit",), sent, t1) or _ends(log, p, sent, t1)):
                    found.append(f"{where}: told {INVITED_WITHDRAWN!r} but {p} did not withdraw it")
            if a.role != "inviting" or peer_cut:
                continue
            declined_at = _declines_of(log, by_host, a)
            if (end == "declined" and not declined_at and not started
                    and not _actions(log, p, ("quit",), t0, t1)  # quitting an invitation declines it
                    and not _busy_elsewhere(by_host, p, host, a.start, a.end.t)  # its ERR may be lost
                    and not _gave_up_the_handshake(by_host, p, host, a.start, a.end.t)  # so may this one
                    and not _forgot_a_decline(log, by_host, host, p, t0)):
                limit = PLAIN_LIMIT if (_forgot_a_withdrawal(log, by_host, a)
                                        or _withdrew_an_unseen_invitation(log, by_host, a)
                                        or _answered_from_an_older_decline(log, by_host, a)) else ""
                found.append(f"{limit}{where}: told 'declined' but {p} never declined")
            shown = end in ("no answer", UNCLEAR) and any(
                n.kind == "invitation" and n.text == host and a.start <= n.t <= a.end.t
                for n in log.notices.get(p, []))
            if end == "no answer":
                # no SYN of it reached the peer (all lost): nothing could be shown, and "no
                # answer" is then the truth (explorer seed 846: 12 SYNs in a row lost)
                reached = _reached(log, by_host, a)
                heard = _first_fin(log, by_host, p, host, declined_at[0]) if declined_at else None
                if heard is not None and heard < a.end.t - REACTION_SLACK:  # else the expiry came first
                    found.append(f"{where}: told 'no answer' although {p} declined at {declined_at[0]:.3f}s "
                                 f"and its FIN reached {host} at {heard:.3f}s")
                elif reached and not shown and not _crossing_unheard(log, by_host, a):
                    found.append(f"{where}: told 'no answer' but {p} was never shown the invitation")
            if end == UNCLEAR:
                found += _unclear_answer(log, by_host, where, a, shown or bool(declined_at))
            if end == "declined" and declined_at:
                found += _late_decline(log, by_host, where, host, p, declined_at[0], a.end.t, a.start)
    found += _ignored_invitations(log, by_host)
    return found


def _declines_of(log: RunLog, by_host: dict[str, list[Attempt]], a: Attempt) -> list[float]:
    """When the peer's user declined the inviting attempt `a` (empty: never), in time order.

    A decline step of the peer within `a` declines `a` only if the invitation it answered is one
    `a` sent.  Which one it answered shows on the decliner's side: the first of its invitations
    to end "declined" at or after the step (the step may begin before the invitation is shown:
    it waits for it).  One the peer was shown before `a` began is an earlier invitation from the
    same host (its SYN arrived late, so the peer still showed it after the inviter's attempt had
    expired and the inviter had invited again); one shown by another host is that host's.
    Declining either is no answer to `a` (explorer seed 749: bob declined alice's first
    invitation at the instant her second began; alice, told "no answer" for the second, was
    right).  The order is (time, seq), as everywhere here."""
    assert a.peer is not None and a.end is not None
    declined = sorted(((b.end.t, b.end.seq), b) for b in by_host.get(a.peer, [])
                      if b.role == "invited" and b.end is not None and b.end.kind == "declined")
    found = []
    for s in log.steps:
        at = (s.t, s.seq)
        if not (s.host == a.peer and s.done and s.action == "decline" and (a.start, a.seq) <= at
                <= (a.end.t, a.end.seq)):
            continue
        answered = next((b for end, b in declined if end >= at), None)
        if answered is None:
            found.append(s.t)  # its "declined" was not shown: taken as a decline of `a`, made at the step
        elif answered.peer == a.host and (answered.start, answered.seq) >= (a.start, a.seq):
            found.append(answered.stop)  # made when the decliner was told "declined", not when the step began
    return found


def _reached(log: RunLog, by_host: dict[str, list[Attempt]], a: Attempt) -> bool:
    """Did `a`'s invitation reach its peer so that the peer had to show it?  One SYN arriving
    does, unless the peer was then in a started chat with the inviter: a daemon that lost the chat
    (it restarted) is recognised only by SYNs repeated across half a timeout, since one SYN, a
    late copy of the chat's own handshake perhaps, must never end a live chat (SPEC; explorer
    seed 12533: the restarted inviter got one SYN of eight through).  Likewise between SIMPX/1
    daemons while the peer was inviting the inviter, which restarted since the peer's invitation
    began: a SYN of the restarted daemon names another chat, as a late copy of one it sent before
    the restart does, so the peer answering the crossing takes such SYNs for a new invitation only
    once they came across half a timeout (simp/session.py `_on_syn_while_answering`; seed 15838:
    one SYN of twelve reached it); so does a peer still showing the restarted daemon's earlier
    invitation (`_on_syn_while_answering`, INVITED; seed 48006).

    `a`'s SYNs go by the trace's order, not the clock's: the last SYN of the inviter's declined
    invitation may leave at the very instant the inviter hears the decline and invites again
    (explorer seed 60308: that SYN reached the peer, which answered it from its decline memory;
    every SYN of the new invitation was lost, so "no answer" was the truth)."""
    assert a.end is not None
    arrived = sorted(s.arrived for s in log.syns if s.src == a.host and s.dst == a.peer
                     and s.arrived is not None and (a.start, a.seq) <= (s.sent, s.order)
                     and s.arrived <= a.end.t)
    if not arrived:
        return False
    peer = a.peer or ""
    in_chat = any(b.peer == a.host and "chat started" in b.kinds() and b.start <= arrived[0] <= b.stop
                  for b in by_host.get(peer, []))
    if in_chat:
        return arrived[-1] - arrived[0] >= log.timeout / 2
    restarts = [(s.t, s.seq) for s in log.steps if s.host == a.host and s.done
                and s.action in NEW_DAEMON and s.t <= a.end.t]
    if restarts and not log.plain_between(a.host, peer):
        new = sorted(s.arrived for s in log.syns  # the restarted daemon's own
                     if s.src == a.host and s.dst == peer and s.arrived is not None
                     and (s.sent, s.order) > restarts[-1] and s.arrived <= a.end.t)
        if new and any(b.role in ("inviting", "invited") and b.peer == a.host
                       and (b.start, b.seq) <= restarts[-1] and b.start <= new[0] <= b.stop
                       for b in by_host.get(peer, [])):
            return new[-1] - new[0] >= log.timeout / 2
    return True


def _crossing_unheard(log: RunLog, by_host: dict[str, list[Attempt]], a: Attempt) -> bool:
    """Was the inviting attempt `a` a crossing whose every answer was lost?  Yes when each of its
    SYNs that reached the peer came while the peer invited `a`'s host itself, not yet in a chat (so
    it showed its user nothing: crossing invitations, SPEC), the peer answered them with SYN+ACK,
    and of the SYNs and SYN+ACKs it sent `a`'s host in `a`'s span (at least one) none, nor an older
    one, reached it then.  `a`'s host heard nothing of the peer, so "no answer" is the truth, as
    when every SYN is lost (explorer seed 63061: bob's SYNs reached alice while she invited him,
    her two SYNs and eleven SYN+ACKs were all lost; she was told "peer stopped answering")."""
    assert a.end is not None
    host, peer = a.host, a.peer or ""
    t0, t1 = a.start, a.end.t
    crossing = [(b.start, min([n.t for n in b.notices if n.kind == "chat started"], default=b.stop))
                for b in by_host.get(peer, []) if b.role == "inviting" and b.peer == host]
    arrived = [s.arrived for s in log.syns if s.src == host and s.dst == peer and s.arrived is not None
               and t0 <= s.sent and s.arrived <= t1]
    if not all(any(c0 <= t <= c1 for c0, c1 in crossing) for t in arrived):
        return False  # a SYN the peer had to show (or refuse)
    if arrived and not any(s.src == peer and s.dst == host and min(arrived) <= s.sent <= t1
                           for s in log.syn_acks):
        return False  # the crossing SYNs went unanswered (`_ignored_invitations`)
    answers = [s for kind in (log.syns, log.syn_acks) for s in kind if s.src == peer and s.dst == host]
    return (any(t0 <= s.sent <= t1 for s in answers)
            and not any(s.arrived is not None and t0 <= s.arrived <= t1 for s in answers))


def _forgot_a_decline(log: RunLog, by_host: dict[str, list[Attempt]], host: str, peer: str,
                      start: Pos) -> bool:
    """`peer` declined `host` (or quit an invitation of it) shortly before, and `host`'s daemon
    restarted since: it forgot that decline, so it cannot wait for the peer's decline memory to
    pass before it invites again, and a SYN of the new invitation is, on the wire, a repeat of
    the declined one (plain SIMP carries no invitation identity), which SPEC's decline memory
    answers with FIN (explorer seeds 1310, 2969).  The span is the longest a memory can last:
    the invitation expiry and a timeout."""
    span = log.invite_expiry + log.timeout
    refused = _actions(log, peer, ("decline", "quit"), max(0.0, _lo(start)[0] - span), start)
    if any(_actions(log, host, NEW_DAEMON, t, start) for t in refused):
        return True
    # Likewise when the peer quit our invitation after accepting it, and remembers that as a
    # decline because we might have taken its FIN for a copy of its FIN 0 before (`_refusals`),
    # which our daemon forgot as it restarted after that FIN went: the new daemon waited only as
    # after a silent leave (explorer seed 81805: alice's FIN 0 withdrawing her invitation went as
    # bob's daemon restarted; the new daemon's invitation, quit by alice, then re-sent 2.5
    # timeouts after her FIN, was answered from that memory).
    for b in by_host.get(peer, []):
        if b.role != "invited" or b.peer != host or b.end is None or (b.start, b.seq) >= _lo(start):
            continue
        quits = _actions(log, peer, ("quit",), (b.start, b.seq), min((b.end.t, b.end.seq), _lo(start)))
        first = _doubted_fin0(log, peer, host, b.start, quits[0]) if quits else None
        if first is not None and _actions(log, host, NEW_DAEMON, first, b.start):
            return True
    return False


def _forgot_a_withdrawal(log: RunLog, by_host: dict[str, list[Attempt]], a: Attempt) -> bool:
    """Was `a` ended by a re-sent copy of a FIN 0 that `a.host`'s daemon could not know of?

    The peer was re-sending a FIN 0 (withdrawing its own invitation, say) when `a.host`'s daemon
    restarted; the new daemon invited the peer before any copy of that FIN reached it, and the
    copy that came next was sent before any SYN of `a` reached the peer, so it answered nothing of
    `a`.  A plain-SIMP FIN carries no invitation identity: the restarted daemon, which remembers
    no FIN of the peer's, cannot tell that copy from a decline (explorer seed 14982; the catalog's
    `restarted_daemon_plain_simp_limit_withdrawal_taken_for_a_decline.yaml`, and its SIMPX/1 twin, where
    the FIN's chat-id tells them apart).  Treating every FIN 0 soon after a start as ambiguous
    costs every early decline a round trip and was worse over 10,000 runs (RELIABILITY.md).

    Likewise when the old daemon was in a chat or invitation with the peer as it restarted: a
    straggler it sent just before (a chat datagram) reaches a peer that has no such chat any more,
    whose stranger answer is a FIN 0 sent before our SYN reached it (explorer seed 27888)."""
    host, peer = a.host, a.peer
    if a.end is None or peer is None or not log.plain_between(host, peer):
        return False
    starts = _action_positions(log, host, NEW_DAEMON, 0.0, (a.start, a.seq))
    if not starts:
        return False
    restarted = starts[-1]
    fins = [f for f in log.fins if f.src == peer and f.dst == host and f.seq == 0]
    copy = _unprompted_ending_fin0(log, a, fins)
    if copy is None:
        return False
    assert copy.arrived is not None
    # (by the clock: a FIN sent at the restart's instant was being re-sent as it came, whatever the
    # trace's order; explorer seed 13556)
    began = any(f.sent <= restarted[0] and copy.sent - f.sent <= (RETRIES + 1.5) * log.timeout for f in fins)
    went = _actions(log, host, ("kill daemon", "restart daemon"), 0.0, restarted)  # (the old daemon's end)
    cut = bool(went) and copy.sent <= restarted[0] + log.timeout and any(
        b.dead and b.peer == peer and b.start <= went[-1] <= b.stop for b in by_host.get(host, []))
    # (by the trace's order, from the next step on, when the restart step is over: a copy the old
    # daemon heard at the restart's instant is none the new daemon heard; explorer seeds 68145,
    # 13556, where the old daemon showed the copy's withdrawal after the restart step began)
    up = min(((s.t, s.seq) for s in log.steps if (s.t, s.seq) > restarted), default=restarted)
    heard = any(f.arrived is not None and up <= (f.arrived, f.arrived_order)
                < (copy.arrived, copy.arrived_order) for f in fins)
    return (began or cut) and not heard


def _took_a_stale_acceptance(log: RunLog, a: Attempt) -> bool:
    """Did `a`, an invitation of a restarted daemon, become a chat on a SYN+ACK that the peer
    sent before any SYN of `a` reached it?

    Then that SYN+ACK accepted the invitation of the daemon's predecessor (its user accepted just
    as that invitation was withdrawn or expired), and the chat exists on one side only: the peer,
    freed by the withdrawal, takes the new SYN for a late copy of the old one.  What follows
    (the old FIN's ACK 0 confirming the first message) is the same confusion.  A plain-SIMP
    SYN+ACK carries no invitation identity, and the restarted daemon remembers no invitation of
    its predecessor's: it cannot tell (explorer seed 26363; with SIMPX/1 the SYN+ACK names the
    old chat and is answered with a FIN for it)."""
    host, peer = a.host, a.peer
    if a.role != "inviting" or peer is None or not log.plain_between(host, peer):
        return False
    if not _actions(log, host, NEW_DAEMON, 0.0, (a.start, a.seq)):
        return False
    started = [n.t for n in a.notices if n.kind == "chat started"]
    if not started:
        return False
    accepting = [s for s in log.syn_acks if s.src == peer and s.dst == host and s.arrived is not None
                 and a.start <= s.arrived <= started[0]]
    reached = [s.arrived for s in log.syns if s.src == host and s.dst == peer and s.sent >= a.start
               and s.arrived is not None]
    return bool(accepting) and not (reached and min(reached) <= accepting[-1].sent)


def _withdrawn_unanswered(b: Attempt) -> bool:
    """Was `b` an invitation of its host's that ended, with no chat, by its host's FIN 0 (its user
    withdrew it, it expired, or the peer's answer stayed unclear)?"""
    return (b.role == "inviting" and b.end is not None and "chat started" not in b.kinds()
            and b.end.kind in ("our invitation withdrawn", "no answer", UNCLEAR))


def _unprompted_ending_fin0(log: RunLog, a: Attempt, fins: list[Sent]) -> Sent | None:
    """The FIN 0 of the peer's (among `fins`) that ended `a`, if it was sent before any SYN of `a`
    reached the peer, so that it cannot answer `a`; None otherwise."""
    assert a.end is not None
    ending = [f for f in fins if f.arrived is not None and a.end.t - REACTION_SLACK <= f.arrived
              and (f.arrived, f.arrived_order) <= (a.end.t, a.end.seq)]
    if not ending:
        return None
    copy = ending[-1]
    reached = [s.arrived for s in log.syns if s.src == a.host and s.dst == a.peer and s.sent >= a.start
               and s.arrived is not None]
    return None if reached and copy.sent > min(reached) else copy


def _withdrew_an_unseen_invitation(log: RunLog, by_host: dict[str, list[Attempt]], a: Attempt) -> bool:
    """Was `a` ended by the FIN 0 with which the peer withdrew (or let expire) an invitation of its
    own that `a.host` never saw?

    Every SYN of the peer's invitation was lost, so `a.host` knew nothing of it, and no copy of
    its FIN had reached `a.host` before `a` began (one that had would make `a` ask about the next,
    simp/node.py `_stray_fins`).  The FIN was sent before any SYN of `a` reached the peer, so it
    answered nothing of `a`; but a plain-SIMP FIN carries no invitation identity, and a FIN 0
    right after our SYN is, on the wire, a decline (explorer seed 10566: bob's invitation expired
    unseen at the instant alice invited him, and his FIN reached her half a second after her
    SYN left).  Asking about every FIN 0 soon after a start would cost every early decline a
    round trip (`_forgot_a_withdrawal`, the restarted daemon's form of the same limit)."""
    host, peer = a.host, a.peer
    if a.end is None or peer is None or not log.plain_between(host, peer):
        return False
    fins = [f for f in log.fins if f.src == peer and f.dst == host and f.seq == 0]
    copy = _unprompted_ending_fin0(log, a, fins)
    if copy is None:
        return False
    for b in by_host.get(peer, []):
        if (b.peer != host or b.end is None or not _withdrawn_unanswered(b)
                or not b.end.t <= copy.sent <= b.end.t + (RETRIES + 1.5) * log.timeout):
            continue  # (not an invitation whose withdrawal's FIN that copy can be)
        seen = any(s.arrived is not None and b.start <= s.sent <= b.end.t for s in log.syns
                   if s.src == peer and s.dst == host) or any(
            n.kind == "invitation" and n.text == peer and b.start <= n.t <= b.end.t + log.timeout / 2
            for n in log.notices.get(host, []))
        heard = any(f.arrived is not None and b.end.t <= f.sent
                    and (f.arrived, f.arrived_order) < (a.start, a.seq) for f in fins)
        if not seen and not heard:
            return True
    return False


def _answered_from_an_older_decline(log: RunLog, by_host: dict[str, list[Attempt]], a: Attempt) -> bool:
    """Did every SYN of `a` that reached the peer reach it within SPEC's decline memory of an
    earlier invitation of `a.host` that the peer declined (or refused otherwise, `_refusals`),
    renewed by `a.host`'s own ACK of a re-sent copy of that decline's FIN?

    The decline's FIN was acknowledged late (ACKs lost), so the peer kept re-sending it; the inviter,
    which had heard it, waited REINVITE_AFTER_DECLINE and invited again, and then a copy reached it
    after its new SYNs went out, sent before any of them reached the peer (so it answered nothing
    of `a`).  Its ACK, right either way, is the peer's latest news of the inviter: the memory runs
    DECLINE_MEMORY timeouts from it, renewed by each SYN.  A SYN of `a` arriving in it is, on the
    wire, a repeat of the declined invitation, and is answered with the decline's FIN, which the
    inviter cannot tell from a decline of `a` (explorer seed 39756: "no clear answer"; answered
    off the re-send phase of the copies, that FIN reads as "declined").  A plain-SIMP SYN and FIN
    carry no invitation identity; a SIMPX/1 FIN names the declined chat.

    Likewise with no such copy when the decline was never acknowledged (`_decline_unacknowledged`):
    the inviter's ACK of the copy it heard was lost, and so was every copy since.  The decliner,
    which cannot know that the inviter heard it, answers every SYN with the decline's FIN until
    the declined invitation's expiry (simp/session.py `takes_syn`), while the inviter waits
    REINVITE_AFTER_DECLINE after the copy it heard, as if its ACK had come (explorer seed 45524:
    bob's ACK of it and the four copies alice re-sent since were lost; his new invitation, 22.5 s
    later, was answered from her memory, asked about as a possible old copy, answered again:
    "declined").  Its SYNs after the first one answered that way renew the memory as above.

    `a`'s SYNs, and a copy's arrival after the first of them, go by the trace's order, not the
    clock's: the declined invitation's last SYN may leave at the very instant the inviter hears the
    decline and invites again (explorer seed 48118: taken for `a`'s first SYN to reach the peer, it
    hid the copy; at that instant the decline's own FIN, heard before `a` began, is no copy)."""
    host, peer = a.host, a.peer
    if a.end is None or peer is None or not log.plain_between(host, peer):
        return False
    began = (a.start, a.seq)
    refusals = _refusals(log, by_host, peer, host, began)
    declined = [at for at, _ in refusals]
    sent = [(s.sent, s.order) for s in log.syns if s.src == host and s.dst == peer
            and began <= (s.sent, s.order) and s.sent <= a.end.t]
    reached = sorted((s.arrived, s.arrived_order) for s in log.syns if s.src == host and s.dst == peer
                     and s.arrived is not None and began <= (s.sent, s.order) and s.arrived <= a.end.t)
    if not declined or not sent or not reached:
        return False
    fins = sorted((f.arrived, f.arrived_order, f.sent, f.order) for f in log.fins if f.src == peer
                  and f.dst == host and f.seq == 0 and f.arrived is not None and f.arrived <= a.end.t)
    # a copy: it reached the inviter after its new SYNs went out, and was sent before any reached the peer
    copies = [f[:2] for f in fins if f[:2] >= min(sent) and f[2:] < reached[0]]
    heard = [f[:2] for f in fins if f[:2] < reached[0]]  # (the decline's FINs the inviter heard so far)
    unacknowledged = not copies and _decline_unacknowledged(log, peer, host, declined[-1], reached[0])
    if not copies and not unacknowledged:
        return False
    expiry = declined[-1] + log.invite_expiry + log.timeout / 2  # (the memory ends then at the latest)
    memory = refusals[-1][1]
    for i, syn in enumerate(reached):
        # the peer's news of the inviter: our ACK of each FIN 0 since the copy (delayed at most half a
        # timeout), or since the last one heard if none was acknowledged, and our SYNs before this
        # one (each renews the memory)
        acks = [f[0] + log.timeout / 2 for f in fins if (copies[0] <= f[:2] if copies else heard[-1] < f[:2])
                and f[:2] < syn]
        if syn[0] > expiry:
            return False
        if unacknowledged and not acks:
            continue  # (no ACK of the decline yet: remembered till the expiry)
        news = acks + [r[0] for r in reached[:i]]
        if not news or syn[0] - max(news) >= memory * log.timeout:
            return False
    return True


def _refusals(log: RunLog, by_host: dict[str, list[Attempt]], peer: str, inviter: str,
              before: tuple[float, int]) -> list[tuple[float, float]]:
    """When `peer`'s user refused an invitation of `inviter` before `before` (time order), with the
    memory of that refusal in timeouts: declined it (DECLINE_MEMORY, when told "declined"), or quit
    it after accepting, before the handshake's ACK came (QUIT_MEMORY, at the quit step: the user is
    told "chat ended" only when the inviter acknowledges the FIN, perhaps long after;
    simp/session.py `_cmd_quit`).  That FIN is, on the wire, a decline (README "Same peer again"),
    remembered as one, so a new invitation answered from its memory is plain SIMP's limit as after
    a decline (explorer seed 55166: alice's chat had started, bob's quit FIN never acknowledged,
    her ACKs of the two copies she heard lost; she invited again 2.5 timeouts (her wait then) after
    the last, heard the next copy after her new SYN went out and asked again, and that SYN, right
    behind her ACK, was answered from his memory: "declined")."""
    found = []
    for b in by_host.get(peer, []):
        if b.role != "invited" or b.peer != inviter or b.end is None:
            continue
        if b.end.kind == "declined" and (b.end.t, b.end.seq) < before:
            found.append((b.end.t, DECLINE_MEMORY))
        elif b.end.kind == "chat ended" and "chat started" not in b.kinds():
            quits = [(s.t, s.seq) for s in log.steps if s.host == peer and s.done and s.action == "quit"
                     and b.holds(s.t, s.seq) and (s.t, s.seq) < before]
            if quits:
                doubted = _doubted_fin0(log, peer, inviter, b.start, quits[0][0]) is not None
                found.append((quits[0][0], DECLINE_MEMORY if doubted else QUIT_MEMORY))
    return sorted(found)


def _doubted_fin0(log: RunLog, src: str, dst: str, before: float, at: float) -> float | None:
    """When `src` first sent the FIN 0 (of its last session with `dst` before `before`) that `dst`
    may still take a new FIN 0 of `src`'s at `at` for a copy of: a re-send span and half a timeout
    after it (None: no such FIN).  `src`, quitting an invitation of `dst`'s after accepting it then,
    remembers that refusal as a decline (simp/session.py `_quit_memory`).  That session's first
    FIN is the first of the last run of FINs 0 sent a timeout apart (its re-sends)."""
    sent = sorted(f.sent for f in log.fins
                  if f.src == src and f.dst == dst and f.seq == 0 and f.sent < before)
    if not sent:
        return None
    first = sent[-1]
    for t in reversed(sent[:-1]):
        if first - t > log.timeout + 1e-6:
            break
        first = t
    return first if at <= first + _resend_span(log) else None


def _decline_unacknowledged(log: RunLog, peer: str, host: str, declined: float,
                            reached: tuple[float, int]) -> bool:
    """Had `peer` heard no ACK of its decline's FIN (sent from `declined` on) when `host`'s SYN first
    reached it at `reached`?  The inviter heard a copy, and the decliner still re-sent it half a
    timeout or more after the last copy the inviter heard, by when that copy's ACK would have come
    (delays under half a timeout); the inviter sends an ACK 0 only for a copy it hears."""
    fins = [f for f in log.fins if f.src == peer and f.dst == host and f.seq == 0
            and declined <= f.sent and (f.sent, f.order) < reached]
    heard = [f.arrived for f in fins if f.arrived is not None and (f.arrived, f.arrived_order) < reached]
    return bool(heard) and any(f.sent >= max(heard) + log.timeout / 2 for f in fins)


def _memory_ran_out(log: RunLog, host: str, n: Notice) -> bool:
    """Was `host` shown again an invitation it had refused because its memory of the refusal ran out?

    SPEC's decline memory lasts DECLINE_MEMORY timeouts after the inviter's last news (QUIT_MEMORY
    after a quit before the handshake's ACK).  A plain-SIMP inviter that could not tell the decline's
    FIN from a copy of an earlier one asks again with SYNs; when they are all lost for longer than
    the memory, the next one is, on the wire, a new invitation (explorer seeds 11988, 13459;
    `scenarios/same_peer_again_plain_simp_limit_declined_invitation_shown_again.yaml`)."""
    inviter = n.text or ""
    if not log.plain_between(host, inviter):
        return False
    before = [m.t for m in log.notices.get(host, []) if m.kind == "invitation" and m.text == inviter
              and m.t < n.t]
    if not before:
        return False
    ends = [m for m in log.notices.get(host, []) if m.kind in END_KINDS and before[-1] <= m.t
            and (m.t, m.seq) < (n.t, n.seq)]
    # the refusal step may begin before that invitation is shown (it waits for it, `_declines_of`):
    # it is one taken since the end before that invitation (explorer seed 21179)
    earlier = [(m.t, m.seq) for m in log.notices.get(host, []) if m.kind in END_KINDS and m.t < before[-1]]
    refusals = _actions(log, host, ("decline", "quit"), max(earlier, default=0.0), n.t)
    if not ends or not refusals:
        return False
    # (a decline step may wait for the next invitation: what the user was told says which it was)
    memory = DECLINE_MEMORY if ends[-1].kind == "declined" else QUIT_MEMORY
    news = [s.arrived for s in log.syns if s.src == inviter and s.dst == host and s.arrived is not None
            and s.arrived < n.t - REACTION_SLACK]  # (not the SYN shown now)
    news += [f.arrived + log.timeout / 2 for f in log.fins if f.src == host and f.dst == inviter
             and f.arrived is not None and f.arrived < n.t]  # each answered by an ACK, delayed at most so
    return n.t - max(news, default=refusals[-1]) >= memory * log.timeout


def _gave_up_the_handshake(by_host: dict[str, list[Attempt]], host: str, inviter: str, t0: float,
                           t1: float) -> bool:
    """`host`'s daemon gave up a handshake with `inviter` during [t0, t1] before any chat started
    (told "peer stopped answering": its user accepted an invitation, or the invitations crossed,
    and no SYN+ACK of it got an answer).  Its FIN then answers the invitation, as a refusal; the
    ERR sent before it makes the inviter's end "refused" (simp/session.py ACCEPTED_NO_ANSWER_TEXT),
    but under loss the ERR may be lost and the FIN alone reads as "declined", as with a busy
    answer (explorer seed 62550: all eleven SYN+ACKs lost; seed 71118: crossed, and the inviter's
    daemon restarted and invited again, its SYNs answered as repeats of the crossing one)."""
    return any(b.peer == inviter and b.end is not None
               and b.end.kind == EndReason.NOT_ANSWERING.text and "chat started" not in b.kinds()
               and t0 <= b.end.t <= t1 for b in by_host.get(host, []))


def _busy_elsewhere(by_host: dict[str, list[Attempt]], host: str, other: str, t0: float, t1: float) -> bool:
    """`host` was in a chat or invitation with someone else than `other` during [t0, t1]."""
    return any(a.peer != other and a.start <= t1 and a.stop >= t0 for a in by_host.get(host, []))


def _ignored_invitations(log: RunLog, by_host: dict[str, list[Attempt]]) -> list[str]:
    """A daemon that gets an invitation's SYNs shows it or refuses it (busy): never ignores it, as
    a daemon still holding a chat its peer has lost (it restarted) would.  SYNs that arrive while
    it is still re-sending the FIN of its last chat with the inviter do not count: that FIN must
    be acknowledged first (simp/session.py), which takes a timeout per loss.  Nor do SYNs that
    cross an invitation of the invited daemon's own to the inviter, while it has not become a
    chat, if a SYN+ACK went out within a timeout of them: they are answered that way, re-sent
    every timeout, and shown to no user (crossing invitations, SPEC); under loss all of those
    answers can be lost (explorer seed 20828).  A crossing SYN nothing answered (issue 9's base
    core) still counts."""
    found = []
    for host, atts in by_host.items():
        for a in atts:
            if a.role != "inviting" or a.peer is None or a.cut or a.step is None:
                continue
            p, t1 = a.peer, a.stop if a.end is not None else log.end
            if _cut_between(log, p, a.start, t1) or any(n.kind in ("error", "refused") for n in a.notices):
                continue
            leaving = [f.sent for f in log.fins if f.src == p and f.dst == host]  # p still ending a chat
            # p's own invitation to host, until it became a chat: p answers host's SYN as a crossing
            crossing = [(b.start, min([n.t for n in b.notices if n.kind == "chat started"], default=b.stop))
                        for b in by_host.get(p, []) if b.role == "inviting" and b.peer == host]
            answers = [x.sent for x in log.syn_acks if x.src == p and x.dst == host]
            arrived = [s.arrived for s in log.syns if s.src == host and s.dst == p and s.arrived is not None
                       and a.start <= s.sent and s.arrived <= t1
                       and not any(abs(t - s.arrived) <= log.timeout for t in leaving)
                       and not (any(t0 <= s.arrived <= t2 for t0, t2 in crossing)
                                and any(s.arrived <= t <= s.arrived + log.timeout for t in answers))]
            if len(arrived) < IGNORED_SYNS:
                continue
            answered = any(b.start <= t1 and b.stop >= a.start and (
                b.peer != host or b.role == "invited"  # busy elsewhere, or showing an invitation from host
                or any(n.kind in ("invitation", "chat started") and a.start <= n.t <= t1 for n in b.notices))
                for b in by_host.get(p, []))
            if not answered:
                found.append(f"{host}'s invitation to {p} ({a.start:.3f}s-{t1:.3f}s): {len(arrived)} of its "
                             f"SYNs reached {p}, which neither showed it nor refused it")
    return found


def _first_fin(log: RunLog, by_host: dict[str, list[Attempt]], src: str, dst: str,
               since: float) -> float | None:
    """When the first FIN (seq 0) `src` sent `dst` at or after `since` (its user's decline) reached
    it (None: none did), other than one answering a SYN+ACK of `dst`'s (`_answers_syn_ack`) or
    one withdrawing an invitation of `src`'s own to `dst` (`_withdraws_its_own`)."""
    return next((f.arrived for f in log.fins if f.src == src and f.dst == dst and f.seq == 0
                 and f.sent >= since and f.arrived is not None and not _answers_syn_ack(log, f)
                 and not _withdraws_its_own(log, by_host, f, since)), None)


def _answers_syn_ack(log: RunLog, fin: Sent) -> bool:
    """Was `fin` sent at the very instant a SYN+ACK of its receiver reached its sender, and after it
    (no SYN of the receiver's in between, in the trace's order)?  Then it answers that SYN+ACK, and
    says nothing of the receiver's own invitation: a SYN+ACK of an inviter answers the peer's
    crossing invitation, and a FIN answering it ends that crossing (the peer withdrew its own
    invitation, or quit the crossed chat), so the inviter goes back to inviting and asks again
    with a SYN, whose answer is the decline (simp/session.py `_on_fin_before_chat`).  Explorer
    seed 59583: alice withdrew her invitation crossing bob's, declined his, that FIN was lost, and
    her withdrawn invitation's FIN answering his SYN+ACK was taken for the decline's first FIN;
    the same bytes come from a peer that withdrew before it saw his SYN, whose user is yet to
    decide, so "declined" came a round trip later, at once on the FIN answering his question."""
    came = [(s.arrived, s.arrived_order, kind is log.syn_acks) for kind in (log.syns, log.syn_acks)
            for s in kind if s.src == fin.dst and s.dst == fin.src and s.arrived is not None
            and (s.arrived, s.arrived_order) < (fin.sent, fin.order)]
    if not came:
        return False
    arrived, _, syn_ack = max(came)
    return syn_ack and arrived == fin.sent


def _withdraws_its_own(log: RunLog, by_host: dict[str, list[Attempt]], fin: Sent, declined: float) -> bool:
    """Is `fin` its sender's withdrawal of an invitation of its own to the receiver, not the FIN of
    the sender's decline at `declined`?  So when it left as that invitation ended unstarted (its
    user quit it, or it expired), or a whole number of timeouts later within a re-send span (a
    copy, re-sent until acknowledged), and neither on the decline's own timer (as many timeouts
    after `declined`) nor at the instant a SYN of the receiver reached the sender (an answer to
    it, from the decline's memory): where the two cannot be told apart by their times, the FIN
    is still taken for the decline's.  The withdrawal ends the sender's invitation, not the
    receiver's: a SIMPX/1 receiver sees the sender's chat-id on it, a plain one inviting the
    sender takes it for the end of its crossing (simp/session.py `_on_fin_before_chat`) or for a
    decline at once; the receiver's own invitation is answered by a FIN of the decline, and
    "declined" is due when that one arrives.  Explorer seed 97705: bob declined alice's
    invitation (both of its FINs lost), invited her and quit at once; alice had answered his SYN
    as a crossing (that SYN+ACK lost) and took his withdrawal's FIN for its end, invited on (every
    SYN lost for 30 s), and was told "declined" at once when the decline's FIN reached her; the
    withdrawal's FIN was taken for the decline's, reaching her 30 s before."""
    def on_timer(t: float) -> bool:
        k = round((fin.sent - t) / log.timeout)
        return k >= 0 and abs(fin.sent - t - k * log.timeout) < 1e-6 and fin.sent - t <= _resend_span(log)

    if on_timer(declined) or any(s.src == fin.dst and s.dst == fin.src and s.arrived is not None
                                 and abs(s.arrived - fin.sent) < 1e-9 for s in log.syns):
        return False
    return any(b.role == "inviting" and b.peer == fin.dst and b.end is not None
               and _withdrawn_unanswered(b) and on_timer(b.end.t) for b in by_host.get(fin.src, []))


def _resend_span(log: RunLog) -> float:
    """How long after a FIN 0 a copy of it may still come (simp/session.py `_follow`), with slack."""
    return (RETRIES + 2) * log.timeout


def _fin0_arrivals(log: RunLog, src: str, dst: str, start: float, end: float) -> list[float]:
    """When FINs 0 from `src` reached `dst`, from a re-send span before `start` up to `end`: the
    span within which a copy of an earlier FIN 0 may still come."""
    lo = start - _resend_span(log)
    return [f.arrived for f in log.fins if f.src == src and f.dst == dst and f.seq == 0
            and f.arrived is not None and lo <= f.arrived <= end]


def _earlier_fin0_may_come(log: RunLog, by_host: dict[str, list[Attempt]], host: str, peer: str,
                           start: float) -> bool:
    """May a FIN 0 of `peer` reaching `host`'s invitation begun at `start` be a re-sent copy of one
    from an earlier attempt between them, though `host` never saw it?  So when that attempt ended
    within a re-send span before `start` in one of these ways, and a FIN 0 is then ambiguous, as
    after a chat:
    - `host`'s user refused an invitation of `peer`'s (declined it, or quit it before any chat
      started): the peer may have withdrawn it at the same moment, and its FIN 0's copies still
      come (simp/session.py `_follow`, explorer seed 16640);
    - `host` withdrew an invitation to `peer` (its user quit it, or it expired) before any chat
      started: the peer's user may have declined it at the same moment (simp/session.py
      `_follow_withdrawal`, explorer seeds 33459, 36028); the peer's decline may leave until the
      withdrawal's FIN reaches it, and `host` counts the span from the ACK of that FIN
      (`_withdrawal_acknowledged`), not from the withdrawal;
    - `host` gave up on `peer` (told "peer stopped answering"): the peer may still be in that chat
      or leaving it, and its FIN may come at any time with either bit, which `host` cannot know
      (simp/session.py `_follow`; README "Same peer again"; explorer seed 69339: bob gave up on
      alice's chat in the handshake, invited her 2 s later, and asked again about her decline's
      FIN 0 until the invitation expired, every question or answer lost: "no clear answer")."""
    def ambiguous(b: Attempt) -> bool:
        assert b.end is not None
        kind, started = b.end.kind, "chat started" in b.kinds()
        refused = b.role == "invited" and (kind == "declined" or (kind == "chat ended" and not started))
        return refused or _withdrawn_unanswered(b) or kind == EndReason.NOT_ANSWERING.text

    span = _resend_span(log)

    def since(b: Attempt) -> float:
        assert b.end is not None
        return _withdrawal_acknowledged(log, b, start) if _withdrawn_unanswered(b) else b.end.t

    return any(b.peer == peer and b.end is not None and b.end.t <= start and start - span <= since(b)
               and ambiguous(b) for b in by_host.get(host, []))


def _withdrawal_acknowledged(log: RunLog, b: Attempt, start: float) -> float:
    """By when the ACK of the FIN with which `b`'s host withdrew its invitation (quit, or expiry)
    reached that host: half a timeout after the last copy of that FIN reached the peer (before
    `start`); `b`'s end if none did (as far as the log shows).  A decline crossing the withdrawal
    leaves before that FIN reaches the peer, and its copies may come a re-send span after; the
    host knows neither moment, only the ACK's, and counts from it (simp/session.py
    `_follow_withdrawal`), so a FIN 0 it asks about until then is rightly asked about.  Explorer
    seed 102800: alice quit her invitation at 50.3 s, her FIN lost once and heard by bob at
    55.3 s; she invited him again at 110.3 s and asked about his decline's FIN 0; counted from her
    quit, the span was over and the "declined" heard a round trip later judged late.  Seed 125956:
    counted from the first arrival of her FIN (its ACKs lost twice, the third copy acknowledged
    10 s later), likewise."""
    assert b.end is not None
    heard = [f.arrived for f in log.fins if f.src == b.host and f.dst == b.peer and f.seq == 0
             and f.arrived is not None and b.end.t <= f.sent and f.arrived <= start]
    return max(heard) + log.timeout / 2 if heard else b.end.t


def _crossing_undone(log: RunLog, a: Attempt) -> bool:
    """Did a FIN 0 of the peer reach `a`'s inviter during `a`, after the inviter had answered the
    peer's crossing invitation with SYN+ACK?  That FIN undid the crossing, and another FIN 0 may
    follow it: its copies, and the peer's answer to our SYN+ACK, which a peer that withdrew
    before it saw anything of ours answers with its withdrawal's FIN (simp/session.py
    `_on_fin_before_chat`, explorer seed 60304).  A FIN 0 after it is then asked about, as after
    a chat, and "no clear answer" may be the end (explorer seed 2511: bob withdrew the invitation
    that crossed alice's; the copy of his FIN was asked about, and her questions, shown to him,
    got no answer from his user)."""
    assert a.end is not None
    answered = [x.sent for x in log.syn_acks if x.src == a.host and x.dst == a.peer
                and a.start <= x.sent <= a.end.t]
    return bool(answered) and any(f.src == a.peer and f.dst == a.host and f.seq == 0 and f.arrived is not None
                                  and min(answered) <= f.arrived <= a.end.t for f in log.fins)


def _late_decline(log: RunLog, by_host: dict[str, list[Attempt]], where: str, host: str, peer: str,
                  declined: float, told: float, start: float) -> list[str]:
    """The inviter must hear "declined" when the first FIN of that decline reaches it.

    Except where the wire cannot tell: when a FIN 0 of the decliner's previous chat reached the
    inviter shortly before this invitation (within the span that FIN is re-sent), or the inviter
    refused an invitation of the decliner's then, withdrew one of its own to it, or gave up on it
    (`_earlier_fin0_may_come`), a FIN 0 may be a re-sent copy of an older one (simp/session.py
    `_on_fin_refused`).  The inviter then asks again with a SYN and decides on a FIN that answers
    it, so under loss "declined" comes a round trip or more later; the timestamps of a
    zero-latency path cannot tell which FIN answered which SYN, so the delay is not judged then
    ("declined", not "no answer", is still required by the caller)."""
    heard = _first_fin(log, by_host, peer, host, declined)
    if _fin0_arrivals(log, peer, host, start, start) or _earlier_fin0_may_come(
            log, by_host, host, peer, start):
        return []
    if heard is not None and told > heard + REACTION_SLACK:
        return [f"{where}: told 'declined' {told - heard:.1f}s after {peer}'s FIN of the decline "
                f"reached it (at {heard:.3f}s)"]
    return []


def _unclear_answer(log: RunLog, by_host: dict[str, list[Attempt]], where: str, a: Attempt,
                    answered: bool) -> list[str]:
    """"No clear answer" is the truth only where plain SIMP's wire could not tell: a FIN 0 of the
    peer reached the inviter during the invitation, while a copy of an earlier FIN 0 of the peer
    could still come (one reached it within the span such a FIN is re-sent before the invitation
    began, or the inviter refused an invitation of the peer's then, withdrew one of its own to
    the peer, or gave up on the peer, `_earlier_fin0_may_come`; or an earlier FIN 0 during the
    invitation undid its crossing, `_crossing_undone`), and
    the peer declined it or was shown it (a SYN reaching a peer that showed nothing is answered by
    neither)."""
    assert a.end is not None
    host, peer = a.host, a.peer
    came = _fin0_arrivals(log, peer, host, a.start, a.end.t)
    # (one FIN arriving at the instant the invitation began is either; it cannot be both)
    if not any(a.start <= t for t in came):
        return [f"{where}: told {UNCLEAR!r} but no FIN of {peer} reached it (no answer)"]
    refused = (_earlier_fin0_may_come(log, by_host, host, peer, a.start)
               or (len(came) >= 2 and _crossing_undone(log, a)))
    if (not any(t <= a.start for t in came) or len(came) < 2) and not refused:
        return [f"{where}: told {UNCLEAR!r} but no FIN of an earlier chat with {peer} could still come"]
    if not answered and _reached(log, by_host, a):
        limit = PLAIN_LIMIT if _answered_from_an_older_decline(log, by_host, a) else ""
        return [f"{limit}{where}: told {UNCLEAR!r} but {peer} was never shown the invitation"]
    return []


def _invitation_violations(log: RunLog) -> list[str]:
    """Each invitation shown comes from one `start` of the inviter: never shown twice."""
    found = []
    for host, notices in log.notices.items():
        shown_at: dict[int, float] = {}  # the inviter's `start` step -> when it was (last) shown
        for n in notices:
            if n.kind != "invitation":
                continue
            starts = [i for i, s in enumerate(log.steps) if s.host == n.text and s.done  # (one begun
                      and s.action == f"start {host}" and i not in shown_at  # after it explains nothing)
                      and (s.t < n.t - 1e-9 or (s.t <= n.t + 1e-9 and s.seq < n.seq))]
            if starts:
                shown_at[starts[0]] = n.t
                continue
            again = _superseded_refusal(log, host, n, shown_at)
            if again is None:
                again = _shown_before_a_restart(log, host, n, shown_at)
            if again is None:
                limit = PLAIN_LIMIT if _memory_ran_out(log, host, n) else ""
                found.append(f"{limit}{host} was shown an invitation from {n.text} at {n.t:.3f}s that no "
                             f"new 'start' explains (the same invitation shown twice?)")
            else:
                shown_at[again] = n.t
    return found


def _superseded_refusal(log: RunLog, host: str, n: Notice, shown_at: dict[int, float]) -> int | None:
    """May `host` be shown again the invitation it was shown before (returned: its `start` step)?

    Yes when, since it was last shown, `host`'s user invited the inviter itself while that
    invitation was still open: both users then asked for the chat (the crossing rule starts it),
    which undoes an earlier decline.  If `host` withdraws its own invitation after that, the
    inviter's still stands, unrefused, and showing it again is the truth (explorer seeds 11761,
    10838: the decliner invited its inviter, which took it for a crossing, then withdrew)."""
    inviter = n.text
    for i, t_prev in shown_at.items():
        if log.steps[i].host != inviter:
            continue
        ended = any(m.kind in END_KINDS and t_prev <= m.t < n.t for m in log.notices.get(inviter, []))
        own_start = any(s.host == host and s.done and s.action == f"start {inviter}" and t_prev <= s.t <= n.t
                        for s in log.steps)
        if own_start and not ended:
            return i
    return None


def _shown_before_a_restart(log: RunLog, host: str, n: Notice, shown_at: dict[int, float]) -> int | None:
    """Was the invitation `n` shown again by a new daemon of `host` (returned: its `start` step)?

    A daemon that restarted remembers nothing of what its predecessor was shown: a SYN of an
    invitation the old daemon showed (and answered, turned into a chat, or saw withdrawn) that
    reaches the new daemon, a copy sent before the restart and still in flight, is on the wire a
    new invitation in either dialect (a SIMPX/1 chat-id is unique, but the new daemon has no
    memory of the ones it saw), and so is a re-sent SYN of one still open.  It is shown again,
    as SPEC has a free daemon do (explorer seed 25337: bob's delayed SYN copy of his invitation,
    which had become a chat and ended, reached alice's daemon 0.17 s after it restarted).  Only
    a showing before the restart is excused: one the new daemon repeats itself is not, and the
    SYN shown must have arrived after the restart."""
    inviter = n.text or ""
    restarts = _action_positions(log, host, NEW_DAEMON, 0.0, (n.t, n.seq))
    if not restarts:
        return None
    restarted = restarts[-1]
    arrived = [s for s in log.syns if s.src == inviter and s.dst == host and s.arrived is not None
               and restarted < (s.arrived, s.arrived_order) <= (n.t, n.seq)]
    if not arrived:
        return None
    syn = max(arrived, key=lambda s: (s.arrived or 0.0, s.arrived_order))
    starts = [i for i, s in enumerate(log.steps) if s.host == inviter and s.done
              and s.action == f"start {host}" and (s.t, s.seq) <= (syn.sent, syn.order)]
    if not starts or starts[-1] not in shown_at or shown_at[starts[-1]] > restarted[0]:
        return None  # (not the one the old daemon showed)
    return starts[-1]


def _crossing_violations(log: RunLog, by_host: dict[str, list[Attempt]]) -> list[str]:
    found = []
    for i, j in log.crossings:
        if i >= len(log.steps) or j >= len(log.steps) or not (log.steps[i].done and log.steps[j].done):
            continue
        for k in (i, j):
            host = log.steps[k].host or ""
            att = next((a for a in by_host.get(host, []) if a.step == k), None)
            if att is None or att.cut or att.end is None or att.peer is None:
                continue
            if _cut_between(log, att.peer, att.start, att.end.t) or _actions(
                    log, att.peer, ("quit", "decline"), att.start, att.end.t):
                continue  # the peer was killed, or its user gave up the chat it had asked for
            if att.end.kind == "no answer" and _crossing_unheard(log, by_host, att):
                continue  # every answer of the peer's was lost: "no answer" is the truth
            if att.end.kind in ("declined", "no answer", UNCLEAR):
                found.append(f"crossing invitations: {host} was told {att.end.kind!r} although both users "
                             f"asked for the chat")
    return found
