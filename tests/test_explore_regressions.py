"""Every schedule the explorer once found breaking an invariant stays fixed.

Each file in tests/explore_regressions/ is a scenario `python -m sim explore` wrote (shrunk, or
as generated when shrinking lost its meaning), from the seed in its name.  pytest also runs each
as a plain scenario (its final states); here the explorer's own invariants check the run
(`sim.explore.check`): exactly-once delivery, both sides' notices agreeing, every daemon free
and quiet at the end.  Seeds 703, 910, 1242, 1718, 1825, 2461 and 2861 failed on the core of
commit 889c93c; the others (39, 154, 572, 1043, 1072, 1879, 10087, 10117, 12292) guard mechanisms
added while fixing those (a re-invitation held back by a withdrawal, the wait after a decline,
the decline memory's length), which an intermediate version got wrong; 2969 is a decline a
restarted daemon forgot, which SPEC's decline memory answers with FIN (classified, not a bug).
Seeds 1491, 3405 and 4618 failed on commit 8a6dd51 (the last kinds of the 10,000-run figure),
4923 and 7260 on 4b08669 (the 10,000 runs after it), 12449 on 5c82fcc and 14495 on b8c6862 (seeds
10000-19999); 12533 is a schedule the checker misjudged (one SYN reaching a peer still in the chat
need not be shown).  5237 failed on fe37bdc ("no answer" where the wire could not tell; now "no
clear answer"), 15838 on f837c56 (SIMPX/1: a SYN with a new chat-id, from a peer that restarted,
was ignored while we were leaving our crossed invitation to it); 11761 is a schedule the checker
misjudged (an invitation shown again after the decliner invited its inviter, which took it for a
crossing, and withdrew: that one still stood).  13724 and 16640 failed on 87f30d4 (a quit-before-ACK
refusal forgotten while the inviter still asked; a withdrawal that crossed our decline taken for a
decline of our next invitation); 14694 guards the refusal a chat datagram of the inviter voids,
which an intermediate version of the 13724 fix got wrong.  15838-one-syn is a schedule the checker
misjudged: between SIMPX/1 daemons one SYN of a restarted inviter, reaching a peer that answers
the crossing with its invitation, need not be shown (two across half a timeout must).  13633
failed on 7f62151 (a refusal forgotten when our invitation that followed it was withdrawn and
replaced it); 19650, 10552 and 10356 guard that inherited refusal, which intermediate versions kept
too long (past the inviter's wait after a decline; past a FIN of the inviter that ended it).
23522 and 24701 failed on 5aaced4 (a re-invitation after a chat in which the invited peer said
nothing, told "declined" by its quit-before-ACK memory; a busy answer to a withdrawn invitation
taken for a decline, which held the next invitations back); 20828 is a schedule the checker
misjudged (SYNs answered as a crossing, with a SYN+ACK, need not be shown).  32683 failed on
e569cac (a crossed invitation we gave up on remembered as a refusal: the peer's next invitation
was told "declined"), 33459 on 724218a (a decline that crossed our withdrawal, re-sent, taken for
a decline of our next invitation).  44101 never finished on a5e46a6: a harness wait spun at one
virtual instant (sim.runner `_until`), so the run used its whole wall-clock limit.  46040 and
49682 failed on b06d1b8 (a decline that crossed our withdrawal, taken for a decline of our next
invitation after the withdrawn session was forgotten; a refusal the inviter had moved on from,
renewed by its later FINs, that answered its new invitation).  48006 and 48978 failed on b06d1b8
too (SIMPX/1: a restarted inviter's SYNs ignored while its earlier invitation was still shown; an
invitation's SYNs taken for stragglers of our ended invitation, which knew its chat-id only from a
crossing's SYN+ACK).  59583 is a schedule the checker misjudged (a withdrawn invitation's FIN
answering the inviter's crossing SYN+ACK, taken for the first FIN of a decline made just before).
69339 is one too (a decline's FIN 0, asked about since the inviter had just given up on the
decliner's chat, whose FIN may come with either bit; every question lost: "no clear answer").
60304 failed on c6016d7 (a copy of the FIN that undid a crossing, taken for a decline of the
invitation that went on: the peer was shown it afterwards, and its decline answered the next one).
60308 is a schedule the checker misjudged (the declined invitation's last SYN, sent at the instant
the inviter invited again, taken for one of the new invitation's, whose SYNs were all lost).
63061 is one too (a crossing whose every SYN+ACK and SYN from one side was lost: "no answer"
for the other side is the truth).  2511 is one too, found by the 60304 fix (a copy of the FIN that
undid a crossing, asked about; the questions shown, never answered: "no clear answer").
68145 failed on 3622232 (a handshake given up 55 s after the acceptance, remembered as a refusal
till the invitation's expiry counted from the give-up: a restarted inviter's new invitation was
answered with FIN, "declined").  71118 failed on c930587 (a crossed handshake given up with a FIN
alone, which the restarted peer's new invitation took for a decline; now an ERR says why first).
548 failed on f46beef, found by the explorer's `reinvite-at-fin-resend` episode (a copy of an
older FIN heard while inviting was recorded as the peer's FIN of the chat that followed, so a copy
of that chat's real FIN 1 ended the next chat).  481 failed on df53a37, found by `left-at-start`'s
slowed SYNs (a late SYN of a withdrawn invitation, shown again after our own invitation, withdrawn
at once, had replaced the withdrawn one in the node).  9427 failed on 2d43511 (a late copy of the
ended chat's own SYN taken for one crossing our new invitation, which our answer undid).  5823 too
(a restarted daemon's invitation, SIMPX/1 not settled yet, learned first-bit-1 from its
predecessor's tagged chat straggler).  619 and 3874 failed on e193319 (a late SYN of a chat that had
begun, shown again after our withdrawn invitation replaced it; a copy of a withdrawal's FIN 0,
right after the peer's first message of the next chat, taken for its leave).  13786 failed on
0cd61a9 (a copy of an older FIN 0 undid a crossing the peer had completed, its ACK lost).
619-chat-between and 6179 failed on a2b4c07 (the late SYN of 619 after our invitation became a chat
too; a copy of a withdrawal's FIN 0 in the first half timeout of the next chat, before the peer
said anything); 3647 failed on an intermediate version of that 619 fix (a refusal from before a
chat, reached down the chain of invitations, answered an invitation after it).  26172 failed on
8a1c204 (a copy of the peer's FIN 1, 0.25 s into a restarted daemon's first chat with it, which
knew of no earlier chat whose FIN might come).  86557 failed on d64238c (SIMPX/1: the peer's
withdrawal of its crossing invitation, naming its own offer, was taken for another chat's).
81717 failed on 464c990 (a copy of our message re-sent in a chat a restarted peer lost reached its
new chat after our SYN+ACK: shown again, and our real first message taken for a duplicate).
83484 failed on 60de92b (a restarted daemon, shown a late SYN of its predecessor's peer, learned
first-bit-1 from that peer's re-sent bit-1 message of the old chat while its user was deciding).
81738 failed on 60de92b (a late SYN of an invitation withdrawn before it came, whose FIN had reached
our ended chat with the inviter: shown, and its decline's memory answered the inviter's next one);
81738-both-left is its unshrunk form, found by an intermediate version of that fix (both users had
left that chat at once, so the FIN might also be a copy of the inviter's FIN of it).
97705 is a schedule the checker misjudged (the decliner's FIN withdrawing its own invitation, which
ended the inviter's crossing of it, taken for the first FIN of the decline, whose FINs were lost).
80451 failed on 60de92b (a quit-before-ACK refusal remembered for QUIT_MEMORY, though the
inviter could take its FIN for a copy of the one that ended our chat before, and asked as after
a decline: its third question was shown again).  31042 failed on e6e0c6f, a first fix of 80451
that renewed that memory at each ACK of our re-sent FIN (an inviter that had completed the
handshake re-invited with its ACK of a late copy, and was told "declined").  81805 is a schedule
the checker misjudged after the 80451 fix (a quit remembered as a decline, since the inviter might
have doubted the FIN; the inviter's daemon had restarted and forgot the FIN that made it so).
98285 failed on e6e0c6f (SIMPX/1: a late SYN of a declined invitation, naming its chat, came just
after the chat the inviter's next invitation opened had ended, and was shown as a new one).
98502 failed on 2dff937 (a FIN answering our SYN+ACK asked again while crossed, taken for a decline
of the SYN sent when another FIN undid the crossing: the peer was shown that invitation after it).
84677's file is another schedule of that one, found at the same time (on 6fd1de6).
97321 failed on 6fd1de6 (plain SIMP: a late SYN of the peer's invitation that crossed ours came
just after the peer left the chat the crossing began, and was shown as a new one; its decline,
a minute later, was taken by the peer for a decline of its new invitation).
84677-giveup failed on 470cba4 (plain SIMP: the inviter gave up its invitation as the peer declined
it and re-invited at once; the new SYN, right behind the give-up's FIN, was answered from the
decline's memory with FIN: "declined"). 106717 failed on 76b2995 (the inviter's FIN 0 withdrawing
its invitation as we declined it, 11 s after its SYN, taken for a copy of its earlier withdrawal's
FIN: the refusal lasted until our lost FIN was acknowledged, and answered the next invitation).
101849 failed on 2debdfd (a re-invitation after a silent leave waited only QUIT_MEMORY's span, but
the quitter remembered its refusal as a decline: its FIN 0 of the chat before, lost as ours crossed
it, might have reached us). 102800 is a schedule the checker misjudged (a decline's FIN 0, asked
about since a decline may have crossed our withdrawal until its FIN reached the peer, 5 s after our
quit: the checker counted that span from the quit, and judged "declined" a round trip later as
late). 104068 failed on 55e5440 (plain SIMP: the peer's FIN at the chat's start, taken for a copy
of its earlier withdrawal's; the probe went unanswered, and the FIN we sent on giving up was taken
by the peer for a decline of its next invitation). 111214 failed on 2cbba45 (a refusal whose FIN
our own invitation cut short, acknowledged only then: that ACK was not counted for the refusal,
remembered till the refused invitation's expiry). 125956 is one too (the same span, counted from
the first copy of our withdrawal's FIN that reached the peer, though its ACK was lost and the next
copy's came 10 s later).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.explore import check
from sim.explore_gen import Schedule

FOLDER = Path(__file__).parent / "explore_regressions"


@pytest.mark.parametrize("path", sorted(FOLDER.glob("*.yaml")), ids=lambda p: p.stem)
def test_found_schedule_keeps_every_invariant(path: Path) -> None:
    schedule = Schedule.from_yaml(path.read_text())
    assert check(schedule)[1] == []


def test_the_regressions_are_there() -> None:
    assert len(list(FOLDER.glob("*.yaml"))) >= 12
