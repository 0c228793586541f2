"""The sans-IO daemon: strangers, rate limits, lingering sessions, user commands, counters."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import DEFAULT_CONFIG, Net, establish

from simp import events as ev
from simp import wire
from simp.events import EndReason
from simp.node import ADDRESS_MEMORY, BUSY_TEXT, NO_USER_TEXT, Node, NodeConfig
from simp.session import (
    ACCEPTED_NO_ANSWER_TEXT,
    REINVITE_AFTER_DECLINE,
    CommandError,
    Session,
    SessionConfig,
    State,
)
from simp.wire import Op

T = DEFAULT_CONFIG.session.timeout
LINGER = DEFAULT_CONFIG.session.linger * T
STRANGER = ("10.9.9.9", 7777)


def chatting() -> Net:
    net = Net("alice", "bob", "carol")
    establish(net)
    return net


def answers_to(net: Net, node: str, address: tuple[str, int]) -> list[str]:
    """What `node` sent to an address outside the net, in ladder notation."""
    where = f"{address[0]}:{address[1]}"
    return [h.dg.describe() for h in net.transcript if h.src == node and h.dst == where]


def assert_chat_untouched(net: Net) -> None:
    """alice and bob are still chatting, and a message still goes through both ways."""
    assert net["alice"].current is not None and net["alice"].current.state is State.ESTABLISHED
    assert net["bob"].current is not None and net["bob"].current.state is State.ESTABLISHED
    assert net.ended("alice") == [] and net.ended("bob") == []
    net.say("alice", "still there?")
    net.say("bob", "yes")
    assert net.received("bob")[-1] == "still there?" and net.received("alice")[-1] == "yes"


# -- strangers never end or alter a chat ------------------------------------------------------


def test_fin_from_a_stranger_is_acked_but_never_ends_the_chat() -> None:
    net = chatting()
    net.inject(STRANGER, "bob", wire.control(Op.FIN, 1, "mallory"))
    assert answers_to(net, "bob", STRANGER) == ["ACK seq=1"]
    assert_chat_untouched(net)


def test_fin_from_a_third_node_with_the_peers_user_name_never_ends_the_chat() -> None:
    net = chatting()
    net.inject("carol", "bob", wire.control(Op.FIN, 0, "alice"))
    assert_chat_untouched(net)


def test_chat_from_a_stranger_is_not_shown_and_is_answered_with_fin() -> None:
    net = chatting()
    net.inject(STRANGER, "bob", wire.chat(0, "alice", "I am alice, honest"))
    assert net.events("bob", ev.MessageReceived) == []
    assert answers_to(net, "bob", STRANGER) == ["FIN seq=0"]
    assert_chat_untouched(net)
    assert "I am alice, honest" not in net.received("bob")


def test_ack_from_a_stranger_does_not_acknowledge_our_message_in_flight() -> None:
    net = chatting()
    net.drop(src="bob", label="ACK")  # alice's message stays in flight
    net.say("alice", "pending")
    for seq in (0, 1):
        net.inject(STRANGER, "alice", wire.control(Op.ACK, seq, "bob"))
        net.inject("carol", "alice", wire.control(Op.ACK, seq, "bob"))
    assert net.delivered("alice") == []
    # a stale peer learns there is no chat: one FIN, the second ACK is within the rate limit
    assert answers_to(net, "alice", STRANGER) == ["FIN seq=0"]
    net.run_until(lambda: bool(net.delivered("alice")))
    assert net.now == T  # delivered by the real ACK of the retransmission


def test_err_from_a_stranger_is_ignored() -> None:
    net = chatting()
    net.inject(STRANGER, "bob", wire.control(Op.ERR, 0, "x", "User already in another chat"))
    assert net.events("bob", ev.PeerError) == []
    assert answers_to(net, "bob", STRANGER) == []
    assert_chat_untouched(net)


def test_syn_ack_from_a_stranger_is_answered_with_fin_and_changes_nothing() -> None:
    net = chatting()
    net.inject(STRANGER, "bob", wire.control(Op.SYN_ACK, 0, "x"))
    assert answers_to(net, "bob", STRANGER) == ["FIN seq=0"]
    assert net.events("bob", ev.ChatStarted) == [ev.ChatStarted(peer=net.addr("alice"), user="alice")]
    assert_chat_untouched(net)


def test_the_ack_of_our_answer_to_a_straggler_does_not_start_the_next_chat() -> None:
    """Explorer seed 27888: a chat datagram from an address we have no chat with gets FIN 0; that
    address then invites us and our user accepts.  The first ACK 0 from it within a timeout of
    our FIN is that FIN's ACK (it was sent before our SYN+ACK could arrive), not the handshake's:
    the chat starts on the next one, not on a handshake the peer may never have completed."""
    net = Net("bob")
    net.inject(STRANGER, "bob", wire.chat(0, "alice", "straggler"))
    assert answers_to(net, "bob", STRANGER) == ["FIN seq=0"]
    net.run(until=0.1 * T)
    net.inject(STRANGER, "bob", wire.control(Op.SYN, 0, "alice"))
    assert len(net.events("bob", ev.Invitation)) == 1
    net.accept("bob")
    net.inject(STRANGER, "bob", wire.control(Op.ACK, 0, "alice"))
    assert net.events("bob", ev.ChatStarted) == []
    net.inject(STRANGER, "bob", wire.control(Op.ACK, 0, "alice"))
    assert len(net.events("bob", ev.ChatStarted)) == 1


def test_syn_from_a_stranger_during_a_chat_gets_the_busy_answer() -> None:
    net = chatting()
    net.inject(STRANGER, "bob", wire.control(Op.SYN, 0, "mallory"))
    assert answers_to(net, "bob", STRANGER) == [f'ERR seq=0 "{BUSY_TEXT}"', "FIN seq=0"]
    assert len(net.events("bob", ev.Invitation)) == 1  # alice's only
    assert_chat_untouched(net)


def test_third_party_invitation_probes_an_idle_chat_whose_peer_is_alive_and_changes_nothing() -> None:
    """carol's SYN makes bob ask alice, with a copy of an already-acknowledged chat datagram (the
    other bit), whether she still has the chat: she acknowledges it without showing anything."""
    net = chatting()
    net.say("alice", "hello")
    net.inject("carol", "bob", wire.control(Op.SYN, 0, "carol"))
    net.run(until=net.now + 3 * T)
    assert net.received("alice") == [] and net.received("bob") == ["hello"]
    assert_chat_untouched(net)


def test_a_flood_of_stranger_invitations_probes_the_peer_once_a_timeout() -> None:
    """Each refused SYN may make us ask the peer whether it still has the chat (`probe`), but not
    more than once a timeout: 200 SYNs within one timeout, from many addresses, each answered
    after the peer's ACK of the probe, once made bob re-send his (up to 65 kB) message to alice
    200 times (an amplifier aimed at the peer, found from outside with raw datagrams)."""
    net = chatting()
    net.say("bob", "x" * 1000)
    net.run_until(lambda: bool(net.received("alice")))
    sent = len(net.sent(src="bob", label="CHAT"))
    for i in range(200):
        net.inject((f"127.9.0.{1 + i}", 7777), "bob", wire.control(Op.SYN, 0, "mallory"))
        net.run(until=net.now + T / 250)
    assert len(net.sent(src="bob", label="CHAT")) - sent == 1
    net.run(until=net.now + 2 * T)
    net.inject(("127.9.9.9", 7777), "bob", wire.control(Op.SYN, 0, "mallory"))
    assert len(net.sent(src="bob", label="CHAT")) - sent == 2  # a timeout later, it asks again
    assert_chat_untouched(net)


@pytest.mark.parametrize("extension", [False, True], ids=["plain", "simpx"])
def test_silent_inviter_probes_a_vanished_peer_and_is_freed(extension: bool) -> None:
    """alice invited bob and has said nothing when bob's daemon vanishes: carol's invitation makes
    alice probe with an empty bit-1 datagram, and with no answer her chat ends as "not answering"
    (explorer seed 713: in plain SIMP the silent inviter used not to probe, and stayed busy)."""
    net = Net("alice", "bob", "carol", config=dataclasses.replace(DEFAULT_CONFIG, extension=extension))
    establish(net)
    net.drop(src="bob", nth=None)
    net.drop(dst="bob", nth=None)
    net.inject("carol", "alice", wire.control(Op.SYN, 0, "carol"))
    net.run(until=net.now + (DEFAULT_CONFIG.session.retries + 2) * T)
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING]


def test_message_said_during_a_probe_waits_for_its_ack_so_the_probe_is_never_taken_for_a_message() -> None:
    """The probe carries the bit the peer has already taken; our next message flips it.  Sent at
    once, that message could overtake the probe (delays under a quarter timeout), and the probe
    would then read as a new message.  So a message waits for the probe's ACK."""
    net = chatting()
    net.delay(src="bob", dst="alice", label="CHAT", seq=1, delay=T / 5)
    net.inject("carol", "bob", wire.control(Op.SYN, 0, "carol"))
    net.say("bob", "after the probe")
    net.run(until=net.now + 3 * T)
    assert net.received("alice") == ["after the probe"]
    assert_chat_untouched(net)


def test_silent_inviters_probe_is_an_empty_duplicate_that_shows_nothing_and_teaches_no_dialect() -> None:
    """Before the inviter's first message its probe is an empty chat datagram with bit 1: the
    peer acknowledges it as a duplicate, shows nothing, learns no dialect from it (simp.dialect),
    and the inviter's first real message still goes out with bit 0 and is shown."""
    net = chatting()
    net.inject("carol", "alice", wire.control(Op.SYN, 0, "carol"))
    net.run(until=net.now + 3 * T)
    assert [h.dg.describe() for h in net.sent(src="alice", label="CHAT")] == ['CHAT seq=1']
    assert [h.dg.describe() for h in net.sent(src="bob", label="ACK")] == ["ACK seq=1"]
    assert net.received("bob") == []
    assert net["bob"].stats["dialects_learned"] == 0
    assert_chat_untouched(net)


def test_chat_whose_peer_vanished_frees_the_daemon_when_a_third_party_invites() -> None:
    """alice's daemon vanishes silently while bob has nothing to send: bob's chat would never end,
    and carol would be told "busy" forever.  Her invitation makes bob probe alice; with no answer
    within the retries his chat ends as "not answering" (issue 9.3), and carol gets through."""
    net = chatting()
    net.say("alice", "last words")
    net.drop(src="alice", nth=None)
    net.drop(dst="alice", nth=None)
    net.start("carol", "bob")
    net.run_until(lambda: bool(net.ended("carol")))
    assert net.reasons("carol") == [EndReason.REFUSED]
    net.run(until=net.now + (DEFAULT_CONFIG.session.retries + 2) * T)
    assert net.reasons("bob") == [EndReason.NOT_ANSWERING]
    net.run(until=net.now + LINGER + (DEFAULT_CONFIG.session.retries + 2) * T)
    net.start("carol", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2)
    assert net.events("bob", ev.Invitation)[-1].user == "carol"


def test_stranger_datagrams_do_not_alter_the_sequence_bits() -> None:
    net = chatting()
    net.say("alice", "one")  # alice -> bob now expects seq 1
    spoofs = (wire.chat(1, "alice", "spoof"), wire.control(Op.ACK, 1, "bob"), wire.control(Op.FIN, 1, "bob"))
    for dg in spoofs:
        net.inject(STRANGER, "bob", dg)
        net.inject(STRANGER, "alice", dg)
    net.say("alice", "two")
    net.say("bob", "back")
    assert net.received("bob") == ["one", "two"] and net.received("alice") == ["back"]
    assert [h.dg.seq for h in net.sent("alice", "CHAT")] == [0, 1]


def test_malformed_datagram_is_counted_noted_and_changes_nothing() -> None:
    net = chatting()
    node = net["bob"]
    assert node.receive(b"\x02\x01\x00garbage", net.addr("alice"), net.now) is None
    assert node.counters()["malformed"] == 1
    assert node.notes() == ["malformed datagram from 10.0.0.1:7777: too short: 10 bytes, header needs 39"]
    net.pump()
    assert_chat_untouched(net)


# -- rate limiting of stranger answers ------------------------------------------------------


def test_stranger_answers_are_limited_per_source_to_one_per_half_timeout() -> None:
    net = chatting()
    for _ in range(5):
        net.inject(STRANGER, "bob", wire.control(Op.FIN, 0, "x"))
    assert answers_to(net, "bob", STRANGER) == ["ACK seq=0"]
    assert net["bob"].counters()["stranger_answers_suppressed"] == 4
    assert any("this source is over its rate" in note for note in net.notes["bob"])
    net.now += T / 2 - 0.01
    net.inject(STRANGER, "bob", wire.control(Op.SYN, 0, "x"))
    assert answers_to(net, "bob", STRANGER) == ["ACK seq=0"]
    net.now += 0.01
    net.inject(STRANGER, "bob", wire.control(Op.SYN, 0, "x"))
    assert answers_to(net, "bob", STRANGER) == ["ACK seq=0", f'ERR seq=0 "{BUSY_TEXT}"', "FIN seq=0"]


def test_per_source_limit_does_not_hold_back_other_sources() -> None:
    net = chatting()
    other = ("10.9.9.8", 7777)
    net.inject(STRANGER, "bob", wire.control(Op.FIN, 0, "x"))
    net.inject(other, "bob", wire.control(Op.FIN, 0, "y"))
    assert answers_to(net, "bob", STRANGER) == ["ACK seq=0"]
    assert answers_to(net, "bob", other) == ["ACK seq=0"]


def test_stranger_answers_are_limited_overall() -> None:
    config = NodeConfig(session=SessionConfig(), stranger_rate=10.0)
    node = Node(config)
    node.connect_client("bob")
    sources = [(f"10.8.0.{i}", 7777) for i in range(30)]
    fin = wire.encode(wire.control(Op.FIN, 0, "x"))
    now = 100.0
    for source in sources:
        node.receive(fin, source, now)
    answered = {peer for peer, _ in node.datagrams_to_send()}
    assert len(answered) == 10  # the whole budget of one second, then nothing
    assert node.counters()["stranger_answers_suppressed"] == 20
    assert any("over the overall rate" in note for note in node.notes())
    for source in sources[10:15]:  # half a second later the bucket holds five answers
        node.receive(fin, source, now + 0.5)
    assert len(node.datagrams_to_send()) == 5


def withdrawn_invitations(node: Node, count: int, now: float = 0.0, step: float = 0.0) -> list[ev.Address]:
    """`count` strangers each invite `node` and withdraw at once: each leaves a lingering session."""
    sources = [(f"10.7.{i // 250}.{i % 250}", 7777) for i in range(count)]
    for i, source in enumerate(sources):
        node.receive(wire.encode(wire.control(Op.SYN, 0, "x")), source, now + i * step)
        node.receive(wire.encode(wire.control(Op.FIN, 0, "x")), source, now + i * step)
        node.datagrams_to_send()
    return sources


def test_invitations_from_strangers_go_through_the_stranger_rate_limit() -> None:
    """A flood of invitations (each withdrawn at once, so the daemon is free for the next) shows the
    user at most `stranger_rate` per second, and one source at most one per half timeout."""
    node = Node(NodeConfig(stranger_rate=10.0))
    node.connect_client("bob")
    withdrawn_invitations(node, 30)
    assert len([e for e in node.events() if isinstance(e, ev.Invitation)]) == 10
    assert node.counters()["invitations_suppressed"] == 20
    flood = wire.encode(wire.control(Op.SYN, 0, "x"))
    source = ("10.6.0.1", 7777)
    for t in (100.0, 100.0, 100.0 + T / 4):
        node.receive(flood, source, t)
        node.receive(wire.encode(wire.control(Op.FIN, 0, "x")), source, t)
    assert len([e for e in node.events() if isinstance(e, ev.Invitation)]) == 1
    node.receive(flood, source, 100.0 + T / 2)
    assert len([e for e in node.events() if isinstance(e, ev.Invitation)]) == 1


def test_lingering_sessions_are_capped_and_a_datagram_costs_the_same_whatever_their_number(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = NodeConfig(stranger_rate=1e9, max_lingering=500)
    node = Node(config)
    node.connect_client("bob")
    withdrawn_invitations(node, 600)
    assert node.lingering == 500
    calls = 0
    real = Session.datagrams_to_send

    def counted(self: Session) -> list[wire.Datagram]:
        nonlocal calls
        calls += 1
        return real(self)

    monkeypatch.setattr(Session, "datagrams_to_send", counted)
    node.receive(wire.encode(wire.control(Op.FIN, 0, "x")), ("10.7.1.1", 7777), 1.0)  # a lingering peer's
    node.receive(wire.encode(wire.control(Op.FIN, 0, "x")), STRANGER, 1.0)
    # each withdrawn invitation lingers while its inviter may re-send the FIN, from the first
    # copy (Session._keep_for_peer_fin), longer than a linger from the copy at 1.0
    span = (config.session.retries + 1.5) * T
    assert len(node.datagrams_to_send()) == 2 and node.get_timer() == span
    assert calls <= 4
    node.handle_timer(span)
    assert node.lingering == 0 and node.get_timer() is None


def test_rate_limit_never_suppresses_the_peer_of_the_chat() -> None:
    config = NodeConfig(session=SessionConfig(), stranger_rate=1.0, stranger_interval=100.0)
    net = Net("alice", "bob", config=config)
    establish(net)
    for i in range(20):
        net.say("alice", f"m{i}")
    assert net.received("bob") == [f"m{i}" for i in range(20)]
    assert net["bob"].counters().get("stranger_answers_suppressed", 0) == 0


# -- busy, free, no user --------------------------------------------------------------------


def test_daemon_without_a_user_answers_syn_with_err_and_fin() -> None:
    node = Node(DEFAULT_CONFIG)
    node.receive(wire.encode(wire.control(Op.SYN, 0, "alice")), STRANGER, 0.0)
    assert node.datagrams_to_send() == [(STRANGER, wire.control(Op.ERR, 0, "", NO_USER_TEXT)),
                                        (STRANGER, wire.control(Op.FIN, 0, ""))]
    assert node.current is None and node.events() == []


def test_free_daemon_with_a_user_shows_the_invitation() -> None:
    node = Node(DEFAULT_CONFIG)
    node.connect_client("bob")
    node.receive(wire.encode(wire.control(Op.SYN, 0, "alice")), STRANGER, 0.0)
    assert node.events() == [ev.Invitation(peer=STRANGER, user="alice")]
    assert node.busy and node.datagrams_to_send() == []


def test_after_a_chat_ends_the_daemon_is_free_for_another_peer_at_once() -> None:
    net = chatting()
    net.quit("alice")
    net.start("carol", "bob")  # bob still lingers for alice
    assert net.events("bob", ev.Invitation)[-1] == ev.Invitation(peer=net.addr("carol"), user="carol")
    net.accept("bob")
    net.say("carol", "hello bob")
    assert net.received("bob") == ["hello bob"]


def test_lingering_session_answers_its_peer_while_a_new_chat_is_current() -> None:
    net = chatting()
    net.drop(src="bob", dst="alice", label="ACK")  # bob's ACK of alice's FIN is lost
    net.quit("alice")
    net.start("carol", "bob")
    net.accept("bob")
    net.run_until(lambda: bool(net.ended("alice")))
    assert net.now == T
    assert net.reasons("alice") == [EndReason.QUIT]  # alice's repeated FIN got its ACK
    assert net["bob"].current is not None and net["bob"].current.peer == net.addr("carol")
    assert net.reasons("bob") == [EndReason.PEER_LEFT]


def test_syn_from_the_previous_peer_after_the_chat_ended_is_a_new_invitation() -> None:
    net = chatting()
    net.say("alice", "hi")  # (bob ACKs it: see test_reinviting_a_peer_that_said_nothing_waits)
    net.run(until=net.now + T / 2)  # the chat began half a timeout ago: see the next test
    net.quit("alice")
    net.start("alice", "bob")
    assert len(net.events("bob", ev.Invitation)) == 2
    net.accept("bob")
    net.say("alice", "again")
    assert net.received("bob") == ["hi", "again"]


def test_late_copy_of_the_handshake_syn_after_a_short_chat_opens_no_phantom_chat() -> None:
    """A copy of alice's SYN, late by less than half a timeout, reaches bob after their chat
    already ended: it is no new invitation (its inviter sent it before the chat began), so it is
    ignored, not shown (test_session's reordering property found the phantom chat it opened)."""
    net = Net("alice", "bob", "carol")
    net.dup(src="alice", label="SYN", delay=T / 3)
    establish(net)
    net.quit("alice")
    net.run()
    assert len(net.events("bob", ev.Invitation)) == 1
    assert any("SYN from a peer whose chat just ended" in note for note in net.notes["bob"])
    assert net.is_free("alice") and net.is_free("bob")


def test_reinvitation_within_half_a_timeout_of_the_last_chats_start_is_shown_at_its_next_syn() -> None:
    """The price of the rule above, in plain SIMP (SIMPX/1 tells the two apart by chat-id): an
    invitation sent so soon after the last chat began cannot be told from a late copy of that
    chat's SYN, so its first SYN is ignored and it is shown at the next, a timeout later."""
    net = chatting()
    net.say("alice", "hi")  # (bob ACKs it: see test_reinviting_a_peer_that_said_nothing_waits)
    net.quit("alice")
    net.start("alice", "bob")
    assert len(net.events("bob", ev.Invitation)) == 1
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2)
    assert net.now == T


@pytest.mark.parametrize("ack_lost", [False, True], ids=["decline acknowledged", "its ACK lost"])
def test_invitation_right_after_a_decline_is_a_new_invitation_and_is_shown(ack_lost: bool) -> None:
    """bob declines; alice invites him again at once.  Once bob's FIN is acknowledged, bob takes
    SYNs for repeats of the declined invitation for DECLINE_MEMORY timeouts only, and alice's
    daemon sends the new invitation's first SYN REINVITE_AFTER_DECLINE timeouts after the decline
    (after the decline's last re-sent FIN): it is a new invitation.  So alice is not told
    "declined" for an invitation bob never saw; he is asked, that much later."""
    net = Net("alice", "bob")
    if ack_lost:
        net.drop(src="alice", label="ACK")
    net.start("alice", "bob")
    net.decline("bob")
    net.start("alice", "bob")  # alice asks again at once
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2,
                  limit=(REINVITE_AFTER_DECLINE + ack_lost) * T)
    assert net.reasons("alice") == [EndReason.DECLINED] and net.reasons("bob") == [EndReason.DECLINED]
    net.accept("bob")
    net.say("alice", "thanks")
    assert net.received("bob") == ["thanks"]


def test_invitation_after_a_chat_we_left_before_its_handshake_ack_is_shown() -> None:
    """bob accepted alice's invitation and quit before her ACK came (his FIN refused it); once
    that FIN is acknowledged and its decline memory has passed (a timeout and a half), her next
    invitation is a new one (our daemon, as alice, waits REINVITE_AFTER_DECLINE before it asks)."""
    net = Net("alice", "bob")
    net.drop(src="alice", label="ACK", nth=1)
    net.start("alice", "bob")
    net.accept("bob")
    net.quit("bob")
    net.run_until(lambda: bool(net.ended("alice")) and bool(net.ended("bob")))
    left = net.now
    net.run(until=net.now + 1.5 * T)  # within bob's linger (3 timeouts)
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2,
                  limit=left + (REINVITE_AFTER_DECLINE + 1) * T)
    assert len(net.ended("alice")) == 1


def test_repeated_syns_of_a_declined_invitation_get_fin_until_the_decline_is_acknowledged() -> None:
    """The decliner's FIN is lost again and again: the inviter's SYNs keep coming and each gets
    FIN (SPEC's decline memory), for as long as they come, never a second invitation."""
    net = Net("alice", "bob")
    net.drop(src="bob", label="FIN", nth={1, 2, 3, 4, 5})
    net.start("alice", "bob")
    net.decline("bob")
    net.run()
    assert net.reasons("alice") == [EndReason.DECLINED] and len(net.events("bob", ev.Invitation)) == 1
    assert net.is_free("alice") and net.is_free("bob")


def test_reinviting_the_peer_that_just_left_is_not_mistaken_for_a_decline() -> None:
    """bob quits; alice's ACK of his FIN is lost and she invites him again at once.  bob's
    repeated FIN belongs to the old chat: the lingering session answers it, and the new
    invitation goes on until bob's daemon is free for it."""
    net = chatting()
    net.drop(src="alice", dst="bob", label="ACK")
    net.quit("bob")
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2)
    assert net.reasons("alice") == [EndReason.PEER_LEFT]  # no false "declined"
    assert net.reasons("bob") == [EndReason.QUIT]
    net.accept("bob")
    net.say("bob", "hi again")
    assert net.received("alice") == ["hi again"]


def reinvitation_is_shown_and_chats(net: Net, inviter: str, invited: str, within: float) -> None:
    """`inviter`, told "peer left" by its only chat so far, invites `invited` again: the second
    invitation is shown within `within` (no false "declined"), and the new chat carries a message."""
    net.start(inviter, invited)
    net.run_until(lambda: len(net.events(invited, ev.Invitation)) == 2, limit=net.now + within)
    assert net.reasons(inviter) == [EndReason.PEER_LEFT]  # no false "declined"
    net.accept(invited)
    net.say(invited, "hi again")
    assert net.received(inviter) == ["hi again"]


def test_reinviting_the_peer_that_left_after_the_linger_while_its_fin_still_comes_is_not_declined() -> None:
    """bob quits; alice's ACKs of his FIN are lost four times, so bob still re-sends it when alice,
    past her lingering session's first linger, invites him again (explorer seed 249, plain SIMP).
    bob's next FIN 0 reaches alice after her SYN: it is the old chat's, not a decline.  Each copy
    of the peer's FIN renews the ended session's linger, so alice still remembers the old chat
    when she invites and asks again instead of being told 'declined'."""
    net = chatting()
    net.drop(src="alice", dst="bob", label="ACK", nth=[1, 2, 3, 4])
    net.quit("bob")
    net.run(until=net.now + 3.5 * T)  # bob's FIN re-sent every T; alice's linger (3 T) would be over
    reinvitation_is_shown_and_chats(net, "alice", "bob", within=(REINVITE_AFTER_DECLINE + 1) * T)


def test_withdrawing_an_invitation_to_a_vanished_peer_frees_our_user_for_others_at_once() -> None:
    """carol invites alice, whose daemon then vanishes; carol withdraws.  She is told at once and
    may invite bob right away, while her FIN is re-sent in the background (explorer seed 2861:
    she waited for its ACK a minute, and could not invite bob, whose peer had vanished)."""
    net = Net("alice", "bob", "carol")
    net.drop(dst="alice", nth=None)
    net.start("carol", "alice")
    net.quit("carol")
    assert net.reasons("carol") == [EndReason.WITHDRAWN_BY_US]
    net.start("carol", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    assert len(net.sent(src="carol", label="FIN")) >= 1


def test_reinviting_at_once_after_a_withdrawal_waits_for_it_so_a_late_acceptance_opens_nothing() -> None:
    """alice withdraws while bob's acceptance is on its way, and invites him again at once.  The
    new SYN waits until the withdrawal is acknowledged (Session.hold), so bob's SYN+ACK of the
    withdrawn invitation never starts a chat bob has already ended (test_session's drop-only
    property found alice chatting and told "delivered" for a message bob never saw)."""
    net = Net("alice", "bob", "carol")
    net.delay(src="bob", label="SYN+ACK", delay=T / 4)
    net.start("alice", "bob")
    net.accept("bob")
    net.quit("alice")
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2)
    assert net.reasons("alice") == [EndReason.WITHDRAWN_BY_US] and net.reasons("bob") == [EndReason.WITHDRAWN]
    assert net.events("alice", ev.ChatStarted) == []
    net.accept("bob")
    net.run_until(lambda: all(net.events(name, ev.ChatStarted) for name in ("alice", "bob")))
    net.say("alice", "hi")
    assert net.received("bob") == ["hi"]


def test_withdrawing_an_invitation_already_refused_frees_our_user_at_once() -> None:
    """carol invites alice, who is busy: ERR arrives, the FIN after it is lost, and alice's daemon
    then dies (nothing of hers reaches carol any more).  carol withdraws: no invitation waits at
    alice's (she refused it), so carol is told at once and may invite bob right away; the FIN
    still goes out, re-sent in the background as after a decline (explorer seed 382: carol was
    kept busy ~55 s re-sending it, and could not invite bob, whose peer had vanished)."""
    net = chatting()
    net.drop(src="alice", dst="carol", label="FIN", nth=None)
    net.drop(src="alice", dst="carol", label="ACK", nth=None)
    net.start("carol", "alice")
    assert [e.text for e in net.events("carol", ev.PeerError)] == [BUSY_TEXT]
    net.quit("carol")
    assert net.reasons("carol") == [EndReason.WITHDRAWN_BY_US]
    assert net["carol"].current is None
    net.run(until=net.now + 2 * T)
    assert len(net.sent(src="carol", label="FIN")) >= 2  # the FIN is still re-sent
    net.start("carol", "bob")  # (bob chats with alice: he refuses too, but the invitation goes out)
    assert any(h.src == "carol" and h.dst == "bob" and h.dg.is_control(Op.SYN) for h in net.transcript)


def test_reinviting_a_peer_that_quit_before_our_handshake_ack_is_not_declined_by_its_memory() -> None:
    """bob invites alice; she accepts and quits before bob's handshake ACK reaches her, so for
    her daemon a SYN of bob's may still be a repeat of that invitation (its decline memory, until
    half a timeout after that ACK).  bob, told 'peer left', invites her again at once (explorer
    seed 373, no loss at all): his first SYN waits until her memory is over, as after a decline,
    so it is shown to her, not answered with FIN and told to bob as 'declined'."""
    net = Net("alice", "bob")
    held = net.delay(src="bob", label="ACK", delay=None)
    net.start("bob", "alice")
    net.accept("alice")
    net.quit("alice")
    held.nth = 0  # (only the handshake ACK was held)
    net.release()
    net.run_until(lambda: bool(net.ended("bob")))
    assert net.reasons("bob") == [EndReason.PEER_LEFT]
    reinvitation_is_shown_and_chats(net, "bob", "alice", within=(REINVITE_AFTER_DECLINE + 1) * T)


def gave_up_on_bob() -> Net:
    """alice gives up on bob (his ACKs are lost, and so is her best-effort FIN); bob never knows."""
    net = chatting()
    net.drop(src="bob", dst="alice", label="ACK", nth=None)
    net.drop(src="alice", label="FIN")
    net.say("alice", "anyone there?")
    net.run_until(lambda: bool(net.ended("alice")))
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING] and net.ended("bob") == []
    return net


def test_reinviting_a_peer_we_gave_up_on_is_not_declined_by_its_fin_for_the_old_chat() -> None:
    net = gave_up_on_bob()
    net.start("alice", "bob")  # bob, still in the old chat, ignores the SYN
    net.quit("bob")  # ...and now leaves the old chat: his FIN must not read as a decline
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING]
    assert net.reasons("bob") == [EndReason.QUIT]
    assert net["alice"].current is not None and net["alice"].current.state is State.SYN_SENT
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2)  # the next SYN is a new invitation


def test_chat_straggler_of_an_older_chat_is_not_shown_in_a_withdrawn_invitation() -> None:
    net = gave_up_on_bob()
    net.start("alice", "bob")
    net.drop(src="alice", label="FIN", nth=None)
    net.quit("alice")  # withdraws: told at once, the FIN re-sent in the background (CLOSING)
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING, EndReason.WITHDRAWN_BY_US]
    net.say("bob", "old chat, late")
    net.run(until=net.now + 3 * T)
    assert net.received("alice") == []
    assert any("new CHAT after the chat ended" in note for note in net.notes["alice"])


def test_reinviting_after_our_own_quit_gets_a_prompt_decline() -> None:
    net = chatting()
    net.say("alice", "hi")  # (bob ACKs it: see test_reinviting_a_peer_that_said_nothing_waits)
    net.run(until=T / 2)  # (an earlier invitation: see test_reinvitation_within_half_a_timeout...)
    net.quit("alice")
    net.start("alice", "bob")
    net.decline("bob")
    assert net.reasons("alice") == [EndReason.QUIT, EndReason.DECLINED]
    assert net.now == T / 2


def test_inviter_asking_again_after_a_decline_keeps_getting_fin_until_it_acknowledges_one() -> None:
    """alice's ACK of bob's decline reached bob, but she asks again with a SYN at once (her daemon
    could not tell the FIN from a copy of an older one).  bob answers FIN; that one is lost, so
    her next SYN, a timeout or two later, is the same invitation still: it gets FIN again and is
    never shown twice (explorer seed 910)."""
    net = Net("alice", "bob", "carol")
    net.start("alice", "bob")
    net.decline("bob")
    assert net.reasons("alice") == [EndReason.DECLINED]
    net.drop(src="bob", label="FIN")
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))
    net.run(until=net.now + 2 * T)
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))
    assert len(net.events("bob", ev.Invitation)) == 1
    assert [h.dg.describe() for h in net.sent(src="bob", label="FIN")] == ["FIN seq=0"] * 3


@pytest.mark.parametrize("ack_lost", [False, True], ids=["clean end", "ACK of the FIN lost"])
def test_reinviting_the_peer_that_left_and_being_declined_is_told_at_once(ack_lost: bool) -> None:
    """alice quits; bob (told "peer left") invites her again at once and she declines.  Like
    strangers: bob hears "declined" promptly, alice is shown the invitation once, nothing more."""
    net = chatting()
    if ack_lost:
        net.drop(src="bob", dst="alice", label="ACK")  # alice's FIN of the old chat is re-sent at T
    net.quit("alice")
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    asked = net.now
    assert asked == (T if ack_lost else 0.0)
    net.decline("alice")
    net.run_until(lambda: len(net.ended("bob")) == 2, limit=asked + T / 2)
    assert net.reasons("bob") == [EndReason.PEER_LEFT, EndReason.DECLINED]
    net.run()
    assert net.events("alice", ev.Invitation) == [ev.Invitation(peer=net.addr("bob"), user="bob")]
    assert net.reasons("alice") == [EndReason.QUIT, EndReason.DECLINED]
    assert net.reasons("bob") == [EndReason.PEER_LEFT, EndReason.DECLINED]


def test_reinvitation_after_a_chat_the_invited_side_quit_before_its_handshake_ack_is_shown() -> None:
    """bob accepts and quits before alice's handshake ACK arrives: his FIN refuses the invitation
    (he remembers it as declined), but the late ACK shows alice completed the handshake, so her SYNs
    of that invitation are over.  Told "peer left", she invites him again: that SYN is a new
    invitation, shown to bob, not answered from his decline memory ("declined" without a decline)."""
    net = Net("alice", "bob")
    net.delay(src="alice", dst="bob", label="ACK", nth=1, delay=T / 5)
    net.drop(src="bob", dst="alice", label="FIN", nth=1)
    net.drop(src="alice", dst="bob", label="ACK", nth=2)
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.accept("bob")
    net.quit("bob")
    net.run_until(lambda: len(net.ended("alice")) == 1)
    assert net.reasons("alice") == [EndReason.PEER_LEFT]
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2,
                  limit=net.now + (REINVITE_AFTER_DECLINE + 1) * T)
    assert net.reasons("alice") == [EndReason.PEER_LEFT]


def test_decline_fin_0_after_a_chat_that_ended_with_fin_1_is_a_decline_at_once() -> None:
    """alice said something, so her FIN of the old chat carries seq 1 (re-sent unchanged): a FIN 0
    can only answer bob's new invitation.  bob hears "declined" when it arrives, without asking
    again (here that SYN would be lost: alice would show the invitation a second time)."""
    net = chatting()
    net.say("alice", "bye")
    net.quit("alice")
    net.run_until(lambda: bool(net.ended("bob")))
    net.drop(src="bob", dst="alice", label="SYN", nth=2)
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    asked = net.now
    net.decline("alice")
    net.run_until(lambda: len(net.ended("bob")) == 2, limit=asked + T / 2)
    assert net.reasons("bob") == [EndReason.PEER_LEFT, EndReason.DECLINED]
    assert len(net.sent(src="bob", label="SYN")) == 1
    net.run()
    assert net.events("alice", ev.Invitation) == [ev.Invitation(peer=net.addr("bob"), user="bob")]


def test_a_stray_fin_of_an_invitation_we_never_saw_is_no_decline_of_ours() -> None:
    """Explorer seed 14953: bob invited alice, every SYN was lost, and bob withdrew.  His FIN
    reached alice, who had no session with him, and her ACKs were lost, so it kept coming.  A copy
    arriving while alice invites bob is no decline: she asks again, and bob, who declined
    nothing, is shown her invitation.  Without the memory of that FIN she was told "declined"."""
    net = Net("alice", "bob")
    net.drop(src="bob", dst="alice", label="SYN", nth=None)
    net.drop(src="alice", dst="bob", label="ACK", nth=None)
    net.start("bob", "alice")
    net.quit("bob")
    net.run_until(lambda: len(net.sent(src="bob", label="FIN")) == 2)
    net.drop(src="alice", dst="bob", label="SYN")  # (her first: bob's next FIN copy comes first)
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    assert len(net.sent(src="bob", label="FIN")) >= 3  # a copy came while alice invited
    assert net.ended("alice") == []
    assert net.events("bob", ev.Invitation) == [ev.Invitation(peer=net.addr("alice"), user="alice")]


def withdrawal_crossing_a_decline(inviter: str, decliner: str, lost_fins: int) -> Net:
    """The inviter withdraws its invitation at the instant the decliner declines it, and the
    inviter's first `lost_fins` FINs are lost: its withdrawal keeps coming after the decline."""
    net = Net("alice", "bob")
    net.start(inviter, decliner)
    net.run_until(lambda: bool(net.events(decliner, ev.Invitation)))
    net.drop(src=inviter, dst=decliner, label="FIN", nth=range(1, lost_fins + 1))
    net.quit(inviter)
    net.decline(decliner)
    return net


def test_a_withdrawal_that_crossed_our_decline_is_no_decline_of_our_next_invitation() -> None:
    """Explorer seed 16640: bob withdrew his invitation as alice declined it; his FIN was lost and
    hers acknowledged, so he kept re-sending his (she never saw one, so never acknowledged it).
    Alice then invites bob, her first SYN lost: a copy of his withdrawal arriving now is no decline.
    She asks again, and bob, who declined nothing, is shown her invitation."""
    net = withdrawal_crossing_a_decline("bob", "alice", lost_fins=3)
    net.run(until=net.now + 2.4 * T)  # bob's FIN re-sent at T and 2T: lost
    net.drop(src="alice", dst="bob", label="SYN", nth=1)
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)), limit=net.now + 3 * T)
    assert net.reasons("alice") == [EndReason.DECLINED]  # (her decline of bob's invitation only)
    assert net.events("bob", ev.Invitation) == [ev.Invitation(peer=net.addr("alice"), user="alice")]


def test_a_refusal_outlives_our_withdrawn_invitation_that_followed_it() -> None:
    """Explorer seed 13633: bob declines alice's invitation and at once invites her and withdraws.
    His refusal's FIN, his SYN and his withdrawal's FIN are all lost, so alice keeps asking.  Her
    repeated SYN still repeats the invitation bob declined: it gets the refusal's FIN, and bob is
    not shown it a second time (his withdrawn invitation replaced the refusing session, which
    forgot the refusal)."""
    net = Net("alice", "bob")
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.drop(src="bob", dst="alice", label="FIN", nth=range(1, 3))
    net.drop(src="bob", dst="alice", label="SYN")
    net.decline("bob")
    net.start("bob", "alice")
    net.quit("bob")
    net.run_until(lambda: net.reasons("alice") != [], limit=net.now + 3 * T)
    assert net.reasons("alice") == [EndReason.DECLINED]
    assert len(net.events("bob", ev.Invitation)) == 1
    assert net.events("alice", ev.Invitation) == []


def test_after_a_decline_and_the_decliners_withdrawn_invitation_we_wait_before_inviting() -> None:
    """Explorer seed 19650, no loss: bob declines alice's invitation, invites her and withdraws
    at once.  Alice's next invitation to bob waits as after any decline (REINVITE_AFTER_DECLINE):
    bob may answer a SYN from her from his decline memory until then, and a SYN sent at once was
    told "declined" though bob never saw it.  Sent later, it is shown to bob."""
    net = Net("alice", "bob")
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.decline("bob")
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.quit("bob")
    net.run_until(lambda: len(net.ended("alice")) == 2)
    declined_at = net.times("bob", "FIN")[0]
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2, limit=net.now + 10 * T)
    assert net.times("alice", "SYN")[-1] >= declined_at + REINVITE_AFTER_DECLINE * T
    assert net.reasons("alice") == [EndReason.DECLINED, EndReason.WITHDRAWN]
    assert net["alice"].current is not None and net["alice"].current.state is State.SYN_SENT


def test_an_ended_invitation_acknowledges_no_chat_datagram() -> None:
    """Explorer seed 26363: alice accepted bob's invitation, and his withdrawal's FIN came before
    his ACK.  Chat datagrams from bob after that (his restarted daemon took her SYN+ACK for the
    answer to its new invitation) are no copies of anything alice was shown, whatever their bit:
    no ACK, which bob would read as "delivered"."""
    net = Net("alice", "bob")
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.drop(src="alice", dst="bob", label="SYN+ACK")
    net.accept("alice")
    net.quit("bob")
    net.run_until(lambda: net.reasons("alice") == [EndReason.WITHDRAWN])
    net.run(until=net.now + 2 * T)  # (alice's ended session still lingers)
    acks = len(net.sent(src="alice", label="ACK"))
    net.inject("bob", "alice", wire.chat(0, "bob", "one"))
    net.inject("bob", "alice", wire.chat(1, "bob", "two"))
    assert net["alice"].lingering == 1
    assert len(net.sent(src="alice", label="ACK")) == acks
    assert net.received("alice") == []


def test_a_withdrawal_that_crossed_our_decline_is_no_decline_even_after_the_refusal_is_forgotten() -> None:
    """Explorer seed 40259: as in 16640, but bob's refusing session is gone (its memory ran out)
    when he invites alice, and a copy of her withdrawal's FIN reaches that invitation.  The node
    still knows a FIN 0 of hers may come for a re-send span after the refusal: bob asks again
    instead of being told "declined", and alice, free, is shown his invitation."""
    net = withdrawal_crossing_a_decline("alice", "bob", lost_fins=4)
    net.run(until=net.now + 3.6 * T)  # alice's FIN re-sent at T..3T, lost; bob's refusal forgotten
    assert net["bob"].lingering == 0
    net.drop(src="bob", dst="alice", label="SYN", nth=1)  # (it would free alice, and stop her FIN)
    net.start("bob", "alice")
    net.run(until=net.now + 1.5 * T)  # the next copy arrives
    assert len(net.times("alice", "FIN")) == 5  # (the copy at 4T reached bob's invitation)
    assert net.reasons("bob") == [EndReason.DECLINED]  # (his own decline of alice's invitation)
    assert net["bob"].current is not None and net["bob"].current.state is State.SYN_SENT
    assert len(net.events("alice", ev.Invitation)) == 1


def test_a_decline_that_crossed_our_withdrawal_is_no_decline_even_after_the_withdrawal_is_forgotten() -> None:
    """Explorer seed 46040: bob withdrew his invitation as alice declined it; his FIN reached her
    (she acknowledged it at T), hers was lost, and so were its copies for longer than his
    withdrawn session lingers.  His next invitation to alice, its first SYN lost, meets the next
    copy: the node still knows a FIN 0 of hers may come for a re-send span after the withdrawal's
    ACK, so bob asks again instead of being told "declined", and alice is shown the invitation."""
    net = Net("alice", "bob")
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.drop(src="bob", dst="alice", label="FIN", nth=1)  # (his withdrawal reaches her at T)
    net.drop(src="alice", dst="bob", label="FIN", nth=range(1, 6))  # her decline, and copies to 4T
    net.quit("bob")
    net.decline("alice")
    net.run(until=net.now + 4.2 * T)  # bob's withdrawn session, acknowledged at T, is forgotten
    assert net["bob"].lingering == 0
    net.drop(src="bob", dst="alice", label="SYN", nth=1)  # (it would free alice, and stop her FIN)
    net.start("bob", "alice")
    net.run(until=net.now + 1.5 * T)  # the next copy arrives
    assert len(net.times("alice", "FIN")) == 6  # (the copy at 5T reached bob's invitation)
    assert net.reasons("bob") == [EndReason.WITHDRAWN_BY_US]
    assert net["bob"].current is not None and net["bob"].current.state is State.SYN_SENT
    assert len(net.events("alice", ev.Invitation)) == 2


def test_a_refusal_the_inviter_moved_on_from_is_not_renewed_by_its_later_fins() -> None:
    """Explorer seed 49682: alice declined bob's invitation as he withdrew it, and his FIN showed
    her he asks no more, so her refusal is remembered half a timeout after it.  Later she invites
    bob and he declines; his FIN 0, handed by her invitation to the refusal it follows, renewed
    that refusal, and his own invitation, whose SYN came just after that FIN, was answered from
    it with FIN: bob was told "declined" of an invitation alice never saw.  It is shown to her."""
    net = withdrawal_crossing_a_decline("bob", "alice", lost_fins=1)
    net.run(until=net.now + 6 * T)  # his FIN at T showed her he moved on; bob may invite again
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.decline("bob")  # (she asks whether his FIN was the decline: it may be his withdrawal's)
    net.start("bob", "alice")
    net.run_until(lambda: len(net.events("alice", ev.Invitation)) == 2 or len(net.ended("bob")) == 3,
                  limit=net.now + 6 * T)
    assert net.reasons("alice")[-1] == EndReason.DECLINED
    assert net.reasons("bob") == [EndReason.WITHDRAWN_BY_US, EndReason.DECLINED]
    assert len(net.events("alice", ev.Invitation)) == 2


def test_an_inviter_that_chatted_after_we_quit_before_its_ack_invites_anew() -> None:
    """bob accepted and quit at once, before alice's handshake ACK (lost) came: his FIN refuses the
    invitation.  But alice's message reached him while he left: she completed the handshake, so no
    SYN of that invitation can come any more, and a SYN of hers soon after his FIN's ACK is a new
    invitation, shown to bob, not refused from his memory (explorer seed 14694; our daemon
    waits longer before it invites again, `initiate`, so the SYN here is injected as another
    implementation, or alice's restarted daemon, sends it)."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", label="ACK", nth=1)
    net.drop(src="bob", dst="alice", label="FIN", nth=1)
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.accept("bob")
    net.quit("bob")
    net.run_until(lambda: bool(net.events("alice", ev.ChatStarted)))
    net.say("alice", "hi")
    net.run_until(lambda: len(net.ended("alice")) == 1 and len(net.ended("bob")) == 1)
    assert net.received("bob") == ["hi"]
    net.run(until=net.now + 0.4 * T)
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))
    assert len(net.events("bob", ev.Invitation)) == 2
    assert net.times("bob", "FIN")[-1] < net.now  # no FIN answered it


@pytest.mark.parametrize("where", ["inviter", "invited"])
def test_late_fin_seq_1_of_the_previous_chat_never_ends_the_next_one(where: str) -> None:
    """bob's FIN of chat 1 carries seq 1 (after one message); a copy arrives late, while chat 2
    between the same daemons is being set up.  An invitation's FIN (decline, withdrawal) always
    carries seq 0, so the copy is told apart: acknowledged for the old chat, chat 2 goes on."""
    net = chatting()
    net.say("bob", "one")
    net.dup(src="bob", label="FIN", delay=None)  # the copy is held until released
    net.quit("bob")
    assert net.reasons("alice") == [EndReason.PEER_LEFT] and {h.dg.seq for h in net.sent("bob", "FIN")} == {1}
    inviter, invited = ("alice", "bob") if where == "inviter" else ("bob", "alice")
    shown = len(net.events(invited, ev.Invitation))
    net.start(inviter, invited)
    net.run_until(lambda: len(net.events(invited, ev.Invitation)) > shown)
    receiver = "alice"
    net.release(label="FIN")
    assert net.reasons(receiver) == [EndReason.PEER_LEFT]
    net.accept(invited)
    said = net.now
    net.say("alice", "chat two")  # shown at its re-send: alice's chat 1 message may still come
    net.run_until(lambda: bool(net.received("bob")))  # (bob left chat 1 himself: Session._old_chat)
    assert net.received("bob") == ["chat two"] and net.now == said + T
    assert net.reasons("alice") == [EndReason.PEER_LEFT] and net.reasons("bob") == [EndReason.QUIT]


def chat_two_after_bobs_fin_1() -> Net:
    """bob said one message and left (FIN 1); at once he invites alice again, she accepts, and
    neither has said anything in chat 2."""
    net = Net("alice", "bob")
    net.start("bob", "alice")
    net.accept("alice")
    net.run_until(lambda: bool(net.events("bob", ev.ChatStarted)))
    net.say("bob", "m0")
    net.quit("bob")
    net.run_until(lambda: bool(net.ended("alice")))
    net.start("bob", "alice")
    net.run_until(lambda: len(net.events("alice", ev.Invitation)) == 2)
    net.accept("alice")
    net.run_until(lambda: len(net.events("alice", ev.ChatStarted)) == 2)
    return net


def test_a_late_fin_1_of_the_previous_chat_never_ends_the_established_next_one() -> None:
    """A copy of bob's chat-1 FIN 1 (a plain peer may re-send it while it invites again) reaching
    alice in chat 2, before bob said anything there: a FIN of chat 2 would carry 0.  Acknowledged
    as the old chat's, and chat 2 goes on; alice asks bob whether he still has it, and he does.
    It used to end chat 2 at once (found from outside with a raw datagram)."""
    net = chat_two_after_bobs_fin_1()
    net.run(until=net.now + 0.2)
    net.inject("bob", "alice", wire.control(Op.FIN, 1, "bob"))
    net.run(until=net.now + 3 * T)
    assert net.reasons("alice") == [EndReason.PEER_LEFT]  # (chat 1 only)
    assert net["alice"].current is not None and net["alice"].current.state is State.ESTABLISHED
    net.say("bob", "chat two")
    net.run_until(lambda: net.received("alice") == ["m0", "chat two"])


def test_a_fin_1_of_a_peer_that_abandoned_its_lost_first_message_ends_the_chat_by_the_probe() -> None:
    """The other reading of that FIN 1: bob's first message of chat 2 was lost and his daemon
    stopped (FIN 1, abandoning it).  alice's probe gets no answer, and chat 2 ends as "not
    answering" after the retries: never stuck, and what it was from her side."""
    net = chat_two_after_bobs_fin_1()
    net.drop(src="bob", dst="alice", label="CHAT", nth=None)
    net.say("bob", "lost")
    net.shutdown("bob")
    assert [h.dg.seq for h in net.sent("bob", "FIN")] == [1, 1]  # chat 1's; the stop's
    net.drop(src="bob", nth=None)  # (his daemon is gone: nothing answers any more)
    retries = DEFAULT_CONFIG.session.retries
    net.run_until(lambda: len(net.ended("alice")) == 2, limit=net.now + (retries + 2) * T)
    assert net.reasons("alice") == [EndReason.PEER_LEFT, EndReason.NOT_ANSWERING]


def test_late_chat_datagram_with_bit_1_of_the_previous_chat_never_opens_the_next_one() -> None:
    """A copy of alice's second message of chat 1 (bit 1) reaches bob after he accepted chat 2,
    before its handshake completed (his SYN+ACK was lost).  A chat's first message carries bit 0,
    so the copy cannot complete chat 2's handshake: bob waits for the real one, and chat 2 starts
    once on both sides instead of ending at once as "peer left"."""
    net = chatting()
    net.dup(src="alice", label="CHAT", seq=1, delay=None)
    net.say("alice", "one")
    net.say("alice", "two")
    net.quit("alice")
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2)
    net.drop(src="bob", label="SYN+ACK")
    net.accept("bob")
    net.release(label="CHAT")
    assert net["bob"].current is not None and net["bob"].current.state is State.SYN_ACK_SENT
    net.run_until(lambda: all(len(net.events(n, ev.ChatStarted)) == 2 for n in ("alice", "bob")))
    net.say("alice", "chat two")
    net.run(until=net.now + 5 * T)
    assert net.received("bob") == ["one", "two", "chat two"]
    assert net.reasons("bob") == [EndReason.PEER_LEFT] and net.reasons("alice") == [EndReason.QUIT]


def restart(net: Net, name: str) -> None:
    """`name`'s daemon crashes and starts again at once: a fresh Node, same address, same user."""
    net.nodes[name] = Node(net.config)
    net.nodes[name].connect_client(name)


@pytest.mark.parametrize("state_of_alice", ["established", "message in flight", "quitting"])
def test_restarted_peer_that_invites_again_gets_a_new_chat_within_a_timeout(state_of_alice: str) -> None:
    """bob's daemon lost the chat (crash, restart) and invites alice again.  alice's daemon takes
    SYNs from bob repeated across half a timeout, with nothing else from bob in between, for proof
    that bob lost the chat: her chat ends ("peer left", no FIN that could read as a decline) and
    the SYN is shown as a new invitation."""
    net = chatting()
    net.say("bob", "before the crash")
    restart(net, "bob")
    net.drop(src="bob", dst="alice", label="FIN", nth=None)  # bob's new daemon's answers are lost
    if state_of_alice == "message in flight":
        net.say("alice", "lost in the crash")
    elif state_of_alice == "quitting":
        net.quit("alice")
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    assert net.now <= T
    assert net.reasons("alice") == [EndReason.QUIT if state_of_alice == "quitting" else EndReason.PEER_LEFT]
    assert net.events("alice", ev.Invitation) == [ev.Invitation(peer=net.addr("bob"), user="bob")]
    if state_of_alice == "message in flight":
        assert net.undelivered("alice") == ["lost in the crash"]
    net.accept("alice")
    # (with her message in flight, her SYN+ACK waits until its copies have reached bob: seed 81717)
    net.run_until(lambda: len(net.events("bob", ev.ChatStarted)) == 2, limit=net.now + T / 2)
    net.say("bob", "after the restart")
    assert net.received("alice") == ["before the crash", "after the restart"]
    assert net.ended("bob") == []


def test_restarted_inviter_whose_acceptance_was_lost_gets_its_new_invitation_through() -> None:
    """SIMPX/1 on both sides: bob accepted alice's invitation, alice's daemon restarts before the
    SYN+ACK arrives and invites again.  The SYN+ACK carries the old chat-id, so alice's new
    invitation cannot take it; it is answered as a stranger's would be (FIN with its tag), which
    ends bob's accepted invitation, and alice's next SYN is shown to bob as a new invitation."""
    config = dataclasses.replace(DEFAULT_CONFIG, extension=True)
    net = Net("alice", "bob", config=config)
    net.drop(src="bob", label="SYN+ACK")
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.accept("bob")
    net.run(until=T / 5)
    net.nodes["alice"] = Node(dataclasses.replace(config, chat_id_epoch="restarted"))
    net.nodes["alice"].connect_client("alice")
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2, limit=net.now + 3 * T)
    net.accept("bob")
    net.run_until(lambda: bool(net.events("alice", ev.ChatStarted)), limit=net.now + 2 * T)
    assert net.reasons("bob") == [EndReason.WITHDRAWN]


def test_restarted_inviter_whose_invitation_is_still_shown_gets_its_new_one_shown() -> None:
    """SIMPX/1 on both sides (explorer seed 48006): bob is shown alice's invitation and has not
    answered it when alice's daemon restarts and invites again.  The new SYNs name another chat:
    once two came across half a timeout, the old invitation ends as withdrawn and the new one is
    shown, so bob can accept it.  One such SYN alone (a late copy of one alice sent before the
    restart names another chat too) changes nothing."""
    config = dataclasses.replace(DEFAULT_CONFIG, extension=True)
    net = Net("alice", "bob", config=config)
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice", "SIMPX/1 older.1 0\n"))
    assert net.reasons("bob") == [] and net["bob"].busy
    net.run(until=net.now + T)
    net.nodes["alice"] = Node(dataclasses.replace(config, chat_id_epoch="restarted"))
    net.nodes["alice"].connect_client("alice")
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2, limit=net.now + 1.5 * T)
    assert net.reasons("bob") == [EndReason.WITHDRAWN]
    net.accept("bob")
    net.run_until(lambda: bool(net.events("alice", ev.ChatStarted)), limit=net.now + 2 * T)


def test_syn_of_an_invitation_whose_crossing_our_ended_invitation_refused_is_shown() -> None:
    """SIMPX/1 on both sides (explorer seed 48978): alice and bob invite each other; alice's SYN
    is lost, bob's crosses alice's invitation, and alice's SYN+ACK (the joined chat-id) reaches
    bob only after bob withdrew.  Bob's ended invitation answers it with FIN, which undoes the
    crossing at alice, who goes on inviting: her next SYN is a new invitation for bob, never a
    straggler of his ended one (which never took a SYN of hers), though its chat-id is part of
    the joined one."""
    config = dataclasses.replace(DEFAULT_CONFIG, extension=True)
    net = Net("alice", "bob", config=config)
    net.drop(src="alice", label="SYN")
    net.delay(src="alice", label="SYN+ACK", delay=None)
    net.start("alice", "bob")
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.held))
    net.quit("bob")
    net.run(until=net.now + T / 4)
    assert net.release(label="SYN+ACK") == 1
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)), limit=net.now + 1.5 * T)
    net.accept("bob")
    net.run_until(lambda: bool(net.events("alice", ev.ChatStarted)), limit=net.now + 2 * T)


LATE_SYNS = {  # seconds after the chat began at which a copy of alice's handshake SYN reaches bob
    "one copy, late": [4 * T],
    "one copy, very late": [100 * T],
    "three copies together": [3 * T, 3 * T, 3 * T + T / 4],
    "copies spread, alice chatting between them": [T, 2 * T, 3 * T, 4 * T],
}


@pytest.mark.parametrize("arrivals", LATE_SYNS.values(), ids=LATE_SYNS.keys())
def test_late_duplicates_of_the_handshake_syn_never_end_a_live_chat(arrivals: list[float]) -> None:
    """Copies of the chat's own SYN arriving late never end it: one copy is never enough, copies
    closer than half a timeout count as one, and anything else alice sends in the chat shows she
    still has it."""
    net = chatting()
    syn = wire.control(Op.SYN, 0, "alice")
    for i, when in enumerate(arrivals):
        net.run(until=when)
        net.inject("alice", "bob", syn)
        net.say("alice", f"m{i}")
    assert net.received("bob") == [f"m{i}" for i in range(len(arrivals))]
    assert_chat_untouched(net)


def crossing(net: Net) -> None:
    """alice and bob invite each other at the same instant."""
    net["alice"].start(net.addr("bob"), net.now)
    net["bob"].start(net.addr("alice"), net.now)
    net.pump()


LOSSES = {
    "no loss": [],
    "alice's first SYN lost": [dict(src="alice", label="SYN")],
    "both first SYNs lost": [dict(src="alice", label="SYN"), dict(src="bob", label="SYN")],
    "first SYN+ACK each way lost": [dict(src="alice", label="SYN+ACK"), dict(src="bob", label="SYN+ACK")],
    "every first ACK lost": [dict(src="alice", label="ACK"), dict(src="bob", label="ACK")],
    "bob's SYN+ACKs lost twice": [dict(src="bob", label="SYN+ACK", nth={1, 2})],
}


@pytest.mark.parametrize("losses", LOSSES.values(), ids=LOSSES.keys())
def test_crossing_invitations_start_one_chat_like_a_simultaneous_open(
        losses: list[dict[str, object]]) -> None:
    """Both users asked for this chat: it starts (SPEC "Crossing invitations"), each side is told
    "chat started" once, nobody hears "declined" or "no answer", and messages go through once."""
    net = Net("alice", "bob")
    for rule in losses:
        net.drop(**rule)
    crossing(net)
    net.run_until(lambda: all(net.events(name, ev.ChatStarted) for name in ("alice", "bob")))
    assert net.now <= 3 * T
    if not losses:
        assert net.now == 0.0
    for first, second in (("alice", "bob"), ("bob", "alice")):
        assert net.events(first, ev.ChatStarted) == [ev.ChatStarted(peer=net.addr(second), user=second)]
        assert net.events(first, ev.Invitation) == [] and net.ended(first) == []
    for i in range(3):
        net.say("alice", f"a{i}")
        net.say("bob", f"b{i}")
    net.run(until=net.now + 10 * T)
    assert net.received("bob") == ["a0", "a1", "a2"] and net.received("alice") == ["b0", "b1", "b2"]
    assert len(net.delivered("alice")) == len(net.delivered("bob")) == 3
    net.quit("alice")
    net.run()
    assert net.reasons("alice") == [EndReason.QUIT] and net.reasons("bob") == [EndReason.PEER_LEFT]


def test_crossing_invitations_withdrawn_before_the_chat_began_are_told_from_each_side() -> None:
    """bob quits right after answering alice's crossing SYN: no chat began on either side; bob's
    invitation is withdrawn by him, nobody hears "peer left" or "invitation withdrawn" for an
    invitation of its own.  bob's user never saw alice's invitation, so his quit refuses nothing
    (explorer seed 1879): a copy of his FIN is no decline (seed 60304), her invitation is shown
    to him, and his decline of it is hers to hear."""
    net = Net("alice", "bob")
    net.drop(label="SYN+ACK", nth=None)
    crossing(net)
    net.quit("bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)), limit=2 * T)
    assert net.reasons("bob") == [EndReason.WITHDRAWN_BY_US] and net.ended("alice") == []
    net.decline("bob")
    net.run()
    assert net.reasons("alice") == [EndReason.DECLINED]
    assert net.events("alice", ev.ChatStarted) == [] and net.events("bob", ev.ChatStarted) == []
    assert net.is_free("alice") and net.is_free("bob")


def test_a_withdrawal_crossing_a_new_invitation_the_other_way_leaves_that_invitation_standing() -> None:
    """alice invites bob and withdraws at once; bob, meanwhile, invites alice.  alice's SYN reaches
    bob first (a crossing, he answers SYN+ACK), then her FIN: it ends her invitation, not bob's.
    bob is not told "declined": his invitation goes on and alice is shown it (found by the model
    checker)."""
    net = Net("alice", "bob")
    net.delay(src="alice", dst="bob", delay=None, nth=None)  # held until released
    net.start("alice", "bob")
    net.quit("alice")
    net.start("bob", "alice")  # reaches alice's withdrawing session: ignored till it is over
    net.release(label="SYN")
    net.release(label="FIN")
    assert net.ended("bob") == []
    net.rules.clear()
    net.release()
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    assert net.now <= T and net.reasons("alice") == [EndReason.WITHDRAWN_BY_US] and net.ended("bob") == []
    net.accept("alice")
    net.say("bob", "hi")
    assert net.received("alice") == ["hi"]


def test_copies_of_the_fin_that_undid_a_crossing_are_no_decline() -> None:
    """Explorer seed 60304: bob and alice invite each other, bob's first SYN lost; alice withdraws
    hers at once, after it crossed bob's.  Her FIN undoes the crossing at bob, who goes on
    inviting, but his ACK of it is lost, and her FIN answering his SYN+ACK (the same bytes, a
    decline on the wire) comes next: not a decline, since alice never saw bob's invitation.  Bob
    asks again; alice is shown his invitation, and her decline is then his answer."""
    net = Net("alice", "bob")
    net.drop(src="bob", label="SYN", nth=1)
    net.drop(src="bob", label="ACK", nth=1)
    net.delay(src="bob", dst="alice", delay=T / 10, nth=None)
    net.start("bob", "alice")
    net.start("alice", "bob")
    net.quit("alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)), limit=T)
    assert len(net.sent(src="alice", label="FIN")) == 2  # (her withdrawal, and its answer to the SYN+ACK)
    net.run(until=net.now + T)
    assert net.ended("bob") == [] and net.reasons("alice") == [EndReason.WITHDRAWN_BY_US]
    net.decline("alice")
    net.run_until(lambda: bool(net.ended("bob")), limit=net.now + 2 * T)
    assert net.reasons("bob") == [EndReason.DECLINED]


def test_crossing_invitation_with_a_peer_that_does_not_know_the_rule() -> None:
    """bob is a plain SPEC daemon: in SYN_SENT it ignores alice's SYN, and answers her SYN+ACK
    with ACK.  alice answers bob's SYN with SYN+ACK, so the chat starts at once all the same."""
    net = Net("alice", "bob")
    net.start("alice", "bob")
    alice = net["alice"]
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand below
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    assert [h.dg.describe() for h in net.sent("alice")][-1] == "SYN+ACK seq=0"
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))
    assert net.events("alice", ev.ChatStarted) == [ev.ChatStarted(peer=net.addr("bob"), user="bob")]
    assert alice.current is not None and alice.current.state is State.ESTABLISHED
    net.inject("bob", "alice", wire.chat(0, "bob", "hello"))
    assert net.received("alice") == ["hello"] and net.ended("alice") == []



def test_an_invitation_after_a_crossing_we_gave_up_on_is_shown_not_declined() -> None:
    """alice invites bob and his SYN crosses hers: she answers SYN+ACK, which never reaches him,
    and gives up ("peer stopped answering").  Her user never saw bob's invitation, so her FIN
    refuses nothing: bob's next invitation, a moment after her FIN was acknowledged, is shown to
    her, not answered from a decline memory (explorer seed 32683: bob was told "declined")."""
    net = Net("alice", "bob")
    net.start("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand below
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    assert [h.dg.describe() for h in net.sent("alice")][-1] == "SYN+ACK seq=0"
    net.run_until(lambda: bool(net.ended("alice")))
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING]
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # of her FIN
    net.run(until=net.now + T)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # his new invitation
    assert net.events("alice", ev.Invitation) == [ev.Invitation(peer=net.addr("bob"), user="bob")]
    assert [h.time for h in net.sent("alice", label="FIN") if h.time >= net.now] == []  # (none from a memory)


def test_a_crossed_handshake_given_up_is_refused_with_a_reason_not_declined() -> None:
    """Explorer seed 71118: alice's and bob's invitations crossed, and every SYN+ACK alice answered
    bob's SYNs with was lost.  Her daemon gives up; its FIN alone read as a decline at bob, whose
    user was told "declined" though alice had asked for the chat too.  An ERR first says why."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", label="SYN", nth=None)
    net.drop(src="alice", dst="bob", label="SYN+ACK", nth=None)
    crossing(net)
    alice_gives_up_and_bob_is_told_why(net)


# -- user commands ---------------------------------------------------------------------------


def test_commands_without_a_user_or_a_session_raise_command_error() -> None:
    node = Node(DEFAULT_CONFIG)
    with pytest.raises(CommandError, match="no user connected"):
        node.start(STRANGER, 0.0)
    node.connect_client("alice")
    for command in (node.accept, node.decline, node.quit):
        with pytest.raises(CommandError, match="not in a chat or an invitation"):
            command(0.0)
    with pytest.raises(CommandError, match="not in a chat"):
        node.say(1, "hi", 0.0)


@pytest.mark.parametrize("port", [7777, 7778], ids=["peer port", "client port"])
def test_inviting_your_own_daemon_is_refused_at_once(port: int) -> None:
    me = ("10.0.0.1", 7777)
    node = Node(NodeConfig(own_addresses=frozenset({me, (me[0], 7778)})))
    node.connect_client("alice")
    with pytest.raises(CommandError, match="cannot invite yourself"):
        node.start((me[0], port), 0.0)
    assert node.current is None and node.datagrams_to_send() == [] and node.get_timer() is None


def test_inviting_port_0_is_refused_at_once() -> None:
    """Nothing listens on port 0 and nothing can be sent to it: refused with the reason, not
    60 s of failed sends and "no answer" (a raw Start request could ask for it)."""
    node = Node(NodeConfig())
    node.connect_client("alice")
    with pytest.raises(CommandError, match="not a UDP port a daemon can listen on: 0"):
        node.start(("10.0.0.2", 0), 0.0)
    assert node.current is None and node.datagrams_to_send() == []


def test_datagrams_from_our_own_address_are_ignored_and_never_answered() -> None:
    """A SYN (or anything) that claims to come from this daemon is looped back or spoofed: it is
    neither an invitation nor answered, so the daemon can never be made to talk to itself."""
    me = ("10.0.0.1", 7777)
    node = Node(NodeConfig(own_addresses=frozenset({me})))
    node.connect_client("alice")
    for dg in (wire.control(Op.SYN, 0, "alice"), wire.control(Op.FIN, 0, "alice"), wire.chat(0, "a", "x")):
        node.receive(wire.encode(dg), me, 0.0)
    assert node.current is None and node.events() == [] and node.datagrams_to_send() == []
    assert node.counters()["ignored"] == 3
    assert any("our own address" in note for note in node.notes())


def test_starting_a_second_chat_raises_command_error() -> None:
    net = chatting()
    with pytest.raises(CommandError, match="already in a chat"):
        net.start("alice", "carol")
    assert net.sent("alice", dst="carol") == []


@pytest.mark.parametrize(("name", "reason"), [("", "1 to 32"), ("x" * 33, "1 to 32"), ("zoë", "printable"),
                                              (" bob", "start or end")])
def test_connect_with_an_invalid_user_name_raises_command_error(name: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        Node(DEFAULT_CONFIG).connect_client(name)


@pytest.mark.parametrize("text", ["naïve", "x" * (wire.MAX_PAYLOAD + 1)])
def test_message_that_cannot_be_sent_is_refused_before_anything_is_queued(text: str) -> None:
    net = chatting()
    with pytest.raises(CommandError, match="message cannot be sent"):
        net.say("alice", text)
    assert net.sent("alice", "CHAT") == []
    assert net["alice"].current is not None and net["alice"].current.pending == ()


def test_say_beyond_the_queue_cap_is_refused_with_a_clear_error() -> None:
    config = NodeConfig(session=SessionConfig(max_queued=5))
    net = Net("alice", "bob", config=config)
    establish(net)
    net.drop(src="bob", label="ACK", nth=None)
    for i in range(5):
        net.say("alice", f"m{i}")
    with pytest.raises(CommandError, match="too many messages waiting for the peer: 5"):
        net.say("alice", "one too many")
    assert [m.text for m in net["alice"].current.pending] == [f"m{i}" for i in range(5)]  # type: ignore[union-attr]


def test_largest_message_goes_through() -> None:
    net = chatting()
    net.say("alice", "x" * wire.MAX_PAYLOAD)
    assert net.received("bob") == ["x" * wire.MAX_PAYLOAD]


def test_client_disconnecting_mid_chat_drains_the_queue_and_sends_fin() -> None:
    net = chatting()
    net.delay(src="bob", label="ACK", delay=1.0, nth=None)
    net.say("alice", "last words")
    net.disconnect("alice")
    assert net["alice"].user is None
    net.run()
    assert net.received("bob") == ["last words"]
    assert net.reasons("bob") == [EndReason.PEER_LEFT]
    net.inject("carol", "alice", wire.control(Op.SYN, 0, "carol"))
    assert [h.dg.describe() for h in net.sent("alice", dst="carol")] == [f'ERR seq=0 "{NO_USER_TEXT}"',
                                                                          "FIN seq=0"]


@pytest.mark.parametrize("state", ["draining", "fin-sent"])
def test_client_vanishing_after_its_user_quit_changes_nothing(state: str) -> None:
    """The user quit (messages still going out, or our FIN awaiting its ACK), then the client
    vanishes: the chat is already ending, so the disconnection is no second quit (and no error)."""
    net = chatting()
    net.drop(src="bob", label="ACK", nth=None)
    if state == "draining":
        net.say("alice", "last words")
    net.quit("alice")
    assert net["alice"].current is not None and net["alice"].current.state.value == state
    net.disconnect("alice")
    assert net["alice"].user is None and net["alice"].current.state.value == state
    net.run()
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING if state == "draining" else EndReason.QUIT]


def test_client_disconnecting_while_invited_declines() -> None:
    net = Net("alice", "bob")
    net.start("alice", "bob")
    net.disconnect("bob")
    assert net.reasons("alice") == [EndReason.DECLINED]


def test_shutdown_while_invited_sends_fin_and_repeated_syn_gets_fin() -> None:
    net = Net("alice", "bob")
    net.drop(src="bob", label="FIN")
    net.start("alice", "bob")
    net.shutdown("bob")
    assert net.reasons("bob") == [EndReason.SHUTDOWN]
    net.run_until(lambda: bool(net.ended("alice")))
    assert net.reasons("alice") == [EndReason.DECLINED] and net.now == T


def test_shutdown_without_a_chat_does_nothing() -> None:
    node = Node(DEFAULT_CONFIG)
    node.shutdown(0.0)
    assert node.datagrams_to_send() == [] and node.events() == [] and node.get_timer() is None


# -- counters and timers ---------------------------------------------------------------------


def test_counters_count_sent_received_retransmissions_and_ignored() -> None:
    net = Net("alice", "bob")
    net.drop(src="alice", label="CHAT")
    establish(net)
    net.say("alice", "hi")
    net.run()
    alice, bob = net["alice"].counters(), net["bob"].counters()
    assert alice["sent"] == len(net.sent("alice")) and bob["sent"] == len(net.sent("bob"))
    assert bob["received"] == len([h for h in net.sent("alice") if h.fate != "dropped"])
    assert alice["retransmissions"] == 1 and bob["retransmissions"] == 0
    assert alice["chats_started"] == 1 and bob["invitations"] == 1


def test_node_timer_is_the_earliest_of_current_and_lingering_sessions() -> None:
    net = chatting()
    net.quit("alice")  # bob lingers for alice until LINGER
    net.drop(src="carol", nth=None)
    net.now = 1.0
    net.start("bob", "carol")  # SYN re-sent at 1 + T
    assert net["bob"].get_timer() == min(LINGER, 1.0 + T)
    net.run(until=LINGER + 0.5)
    assert net["bob"].get_timer() == (int((LINGER + 0.5 - 1.0) / T) + 1) * T + 1.0  # only the SYN left


def test_retransmissions_of_forgotten_and_replaced_lingering_sessions_are_still_counted() -> None:
    net = chatting()
    net.drop(src="alice", dst="bob", label="ACK", nth={1, 2})
    net.quit("bob")  # alice's ACK is lost twice: bob re-sends his FIN twice
    net.drop(src="alice", label="SYN")  # (bob left without a word: her first SYN waits 1.5 T, see
    net.start("alice", "bob")  # Session.initiate; lost, it is re-sent once)
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)[1:]))
    net.quit("alice")  # the new session ends while the old one may still linger
    net.run()
    assert net["bob"].counters()["retransmissions"] == len(net.sent("bob", "FIN")) - 1 == 2
    assert net["alice"].counters()["retransmissions"] == len(net.sent("alice", "SYN")) - 2 > 0  # 2 chats
    assert net.is_free("alice") and net.is_free("bob")


def test_a_bit_0_straggler_of_the_last_chat_is_not_shown_in_the_next_one() -> None:
    """Explorer seed 36872 (plain SIMP): bob's first message of chat 1 (CHAT 0) is delayed a
    little (0.112 s, well under half a timeout) and overtaken by the ACK of alice's FIN, bob's
    new invitation and its handshake ACK.  It reached alice's chat 2, which expects bit 0 from
    bob, and was shown there (and acknowledged, though bob had told his user it was never
    confirmed).  Everything bob sent in chat 1 left before his first datagram of chat 2, so it
    arrives within half a timeout of that; a bit-0 chat datagram in that window is not taken.
    A real first message of chat 2 left after our answer to that datagram: its re-send, a
    timeout later, is shown once."""
    net = Net("alice", "bob")
    establish(net, "bob", "alice")
    net.say("alice", "a1-1")
    net.run(until=3.0)  # (a SYN within half a timeout of chat 1's start is taken for its copy)
    net.delay(src="bob", label="CHAT", delay=None)  # held: the network keeps it
    net.say("bob", "b1-1")
    net.quit("alice")  # bob ACKs the FIN: chat 1 over, "b1-1" not confirmed
    assert [(u.text, u.sent) for u in net.ended("bob")[0].undelivered] == [("b1-1", True)]
    net.start("bob", "alice")
    net.accept("alice")
    assert len(net.events("alice", ev.ChatStarted)) == 2
    net.drop(src="bob", label="ACK")  # the ACK of alice's FIN of chat 2: she is still leaving
    net.quit("alice")
    net.run(until=net.now + 0.112)
    net.release(label="CHAT")
    net.run()
    assert net.received("alice") == []
    assert net.events("bob", ev.MessageDelivered) == []


@pytest.mark.parametrize("extension", [False, True], ids=["plain", "simpx"])
def test_the_first_message_of_a_chat_right_after_the_last_one_is_shown_once_at_its_re_send(
        extension: bool) -> None:
    """The price of the rule above (plain SIMP): bob's first message of chat 2, sent at once, is
    not taken within half a timeout of his SYN; its re-send a timeout later is shown, once.  In
    SIMPX/1 it names chat 2: shown at once."""
    net = Net("alice", "bob", config=dataclasses.replace(DEFAULT_CONFIG, extension=extension))
    establish(net, "bob", "alice")
    net.say("alice", "a1-1")
    net.run(until=3.0)
    net.quit("alice")
    net.start("bob", "alice")
    net.accept("alice")
    net.say("bob", "b2-1")
    assert net.received("alice") == ([] if not extension else ["b2-1"])
    net.run_until(lambda: bool(net.delivered("bob")))
    assert net.received("alice") == ["b2-1"] and net.now == (3.0 if extension else 3.0 + T)
    net.quit("bob")
    net.run()
    assert net.received("alice") == ["b2-1"]


def test_a_decline_that_crossed_our_withdrawal_is_no_decline_of_our_next_invitation() -> None:
    """Explorer seeds 33459, 36028: bob withdrew his invitation as alice declined it, and the
    first FIN of each was lost.  His next invitation waits for the withdrawal's ACK (Session.hold),
    and its first SYNs are lost; a re-sent copy of alice's decline of the withdrawn invitation,
    sent before any SYN of the new one reached her, is no decline of it: bob asks again, and
    alice, who knows from his FIN that he asks no more about the old one, is shown the new one.
    Taken for a decline, bob was told "declined" of an invitation alice never saw; asked, alice's
    decline memory, renewed by the ACK of that copy, answered it with FIN."""
    net = Net("alice", "bob")
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.drop(src="bob", dst="alice", label="FIN", nth=1)  # his withdrawal's first FIN
    net.drop(src="alice", dst="bob", label="FIN", nth=range(1, 4))  # her decline, and copies at T, 2T
    net.drop(src="bob", dst="alice", label="SYN", nth=range(1, 3))  # his next invitation's, at 1.5T, 2.5T
    net.quit("bob")
    net.decline("alice")
    net.start("bob", "alice")  # (held until alice acknowledges his FIN, at T)
    net.run_until(lambda: len(net.events("alice", ev.Invitation)) == 2 or net.reasons("bob") != [
        EndReason.WITHDRAWN_BY_US], limit=net.now + 6 * T)
    assert len(net.sent(src="alice", label="FIN")) >= 4  # a copy of the decline came (at 3T)
    assert net.reasons("bob") == [EndReason.WITHDRAWN_BY_US]
    assert len(net.events("alice", ev.Invitation)) == 2


@pytest.mark.parametrize("extension", [False, True], ids=["plain", "simpx"])
def test_the_ack_of_the_fin_of_a_chat_we_left_does_not_complete_the_next_handshake(extension: bool) -> None:
    """Explorer seed 45424: alice quit, and bob's ACK of her FIN was lost; bob, told "peer left",
    invited her at once, his first SYN lost.  Her re-sent FIN reached bob while he invited her:
    he acknowledged it and asked again with a SYN, which ended alice's side of the chat she was
    leaving and was shown.  She accepted, her SYN+ACK was lost, and then the ACK of her FIN came.
    The leaving session had been forgotten when the invitation was shown, so that ACK reached
    the new one and completed a handshake bob never saw: alice chatted alone, her messages
    unacknowledged, until bob's next SYNs ended that chat as "peer left" and showed his
    invitation a second time.  The ended session now stays to take that ACK (Node `_retire`).
    Between SIMPX/1 daemons the ACK names the old chat, and the new one never took it."""
    net = Net("alice", "bob", config=dataclasses.replace(DEFAULT_CONFIG, extension=extension))
    establish(net, "alice", "bob")
    net.run(until=T)  # (a SYN within half a timeout of the chat's start is taken for its copy)
    net.drop(src="bob", label="ACK")  # the ACK of alice's FIN: she is still leaving
    net.quit("alice")
    net.run(until=T + 1)
    net.drop(src="bob", label="SYN")
    net.start("bob", "alice")
    net.delay(src="bob", label="ACK", delay=None)  # the ACK of her re-sent FIN, held
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.drop(src="alice", label="SYN+ACK")
    net.accept("alice")
    assert net.release(label="ACK") == 1
    assert len(net.events("alice", ev.ChatStarted)) == 1  # only chat 1: bob has not accepted anything
    net.say("alice", "a2-1")
    net.run_until(lambda: net.delivered("alice") == [1])
    assert [len(net.events(h, ev.ChatStarted)) for h in ("alice", "bob")] == [2, 2]
    net.quit("bob")
    net.run()
    assert net.received("bob") == ["a2-1"] and len(net.events("alice", ev.Invitation)) == 1
    assert net.is_free("alice") and net.is_free("bob")


def test_a_message_said_while_a_crossing_was_undone_is_sent_when_the_peer_accepts() -> None:
    """alice's invitation crosses bob's (she answers his SYN with SYN+ACK) and she says something;
    bob withdraws his invitation (FIN 0: alice invites again) and then accepts hers.  Her message
    goes out at once, and her quit sends FIN once it is acknowledged.  It used to wait in the queue
    with nothing to start it: never sent, and a quit left the daemon draining for ever, busy for
    everyone (found from outside with a raw client and a raw peer)."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # (bob's side is played by the datagrams injected)
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    assert net["alice"].current is not None and net["alice"].current.state is State.SYN_ACK_SENT
    net.say("alice", "first words")
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))
    assert net["alice"].current.state is State.SYN_SENT
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))
    assert [h.dg.payload for h in net.sent(src="alice", label="CHAT")] == ["first words"]
    net.quit("alice")
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))
    assert net.delivered("alice") == [1]
    assert [h.dg.seq for h in net.sent(src="alice", label="FIN")] == [1]


def test_a_fin_flood_from_ever_new_addresses_keeps_the_stray_fin_memory_bounded() -> None:
    """10,000 FINs from 10,000 addresses within a second (all recent, none expired): the memory of
    stray FINs keeps the newest ADDRESS_MEMORY addresses, oldest forgotten first.  It used to
    grow with the flood, rebuilding the whole table for every FIN (found from outside: a FIN flood
    made the longest round trip of a chat 293 ms instead of 18 ms)."""
    node = Node(NodeConfig())
    node.connect_client("alice")
    sources = [(f"127.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", 7777) for i in range(10_000)]
    for i, source in enumerate(sources):
        node.receive(wire.encode(wire.control(Op.FIN, 0, "flood")), source, i / 10_000)
    assert len(node._stray_fins) == ADDRESS_MEMORY
    assert sources[-1] in node._stray_fins and sources[0] not in node._stray_fins


def alice_gives_up_and_bob_is_told_why(net: Net) -> None:
    """alice's SYN+ACKs all lost, her daemon gives the handshake up; bob's invitation ends as
    refused, with the reason (ERR before the FIN), not as declined."""
    net.run_until(lambda: bool(net.ended("alice")) and bool(net.ended("bob")), limit=net.now + 20 * T)
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING]
    assert net.reasons("bob") == [EndReason.REFUSED]
    told = ev.PeerError(peer=net.addr("alice"), text=ACCEPTED_NO_ANSWER_TEXT)
    assert net.events("bob", ev.PeerError) == [told]


def test_a_handshake_given_up_after_the_user_accepted_is_refused_with_a_reason_not_declined() -> None:
    """Explorer seed 62550: alice accepted bob's invitation and every SYN+ACK of hers was lost;
    her daemon gives up.  Its FIN alone is a decline on the wire, and bob was told "declined"
    though alice accepted; an ERR first says why, and bob's invitation ends as refused."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", label="SYN+ACK", nth=None)
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.accept("alice")
    alice_gives_up_and_bob_is_told_why(net)


def test_a_given_up_acceptance_is_remembered_only_until_the_invitation_could_still_be_repeated() -> None:
    """Explorer seed 68145: bob invited alice and she accepted, but every ACK of his was lost; her
    daemon gave up at 55 s (ERR and FIN, lost too) and remembers the invitation as refused, so a
    repeat of it gets FIN.  bob's daemon restarted and invited her again at 65 s.  Its inviter
    sent no SYN of the old invitation after that invitation's expiry, which began before its first
    SYN reached alice; the memory ran from her give-up instead, and the new invitation was
    answered with FIN: bob was told "declined"."""
    net = Net("alice", "bob")
    net.drop(src="bob", dst="alice", label="ACK", nth=None)
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    invited_at = net.now
    net.accept("alice")
    net.drop(src="alice", dst="bob", nth=None)  # (her ERR and FIN: bob never hears the give-up)
    net.run_until(lambda: bool(net.ended("alice")), limit=invited_at + 20 * T)
    assert net.reasons("alice") == [EndReason.NOT_ANSWERING]
    expired = invited_at + DEFAULT_CONFIG.session.invite_expiry + T / 2
    assert net.now < expired  # (still within the give-up's own memory)
    net.run(until=expired + T / 10)
    fins_before = len(net.sent(src="alice", label="FIN"))
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    assert len(net.events("alice", ev.Invitation)) == 2
    assert len(net.sent(src="alice", label="FIN")) == fins_before  # no FIN answers it


def test_a_copy_of_the_chats_own_fin_1_never_ends_the_next_chat_after_an_older_fin_was_heard() -> None:
    """Explorer seed 548: while alice invited bob again, a copy of his FIN 0 of their previous chat
    came (acknowledged as that chat's); the chat then began, and bob left it with FIN 1 after
    one message.  That session had recorded the old copy as the peer's FIN, so the next chat
    expected copies of a FIN 0, and a copy of the FIN 1 ended it as "peer left"."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand

    def invites() -> None:  # (once its first SYN is out: it may be held back after a silent chat)
        net.start("alice", "bob")
        net.run_until(lambda: net.sent("alice")[-1].dg.op == Op.SYN, limit=net.now + 4 * T)

    def chat_begins() -> None:
        invites()
        net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))

    chat_begins()
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # bob leaves chat 1 (our ACK lost)
    first_fin = net.now
    net.run(until=net.now + T / 2)
    invites()
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # a copy of it reaches chat 2's invitation
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))
    assert len(net.events("alice", ev.ChatStarted)) == 2
    net.inject("bob", "alice", wire.chat(0, "bob", "hello"))
    net.inject("bob", "alice", wire.control(Op.FIN, 1, "bob"))  # bob leaves chat 2
    assert net.reasons("alice") == [EndReason.PEER_LEFT, EndReason.PEER_LEFT]
    net.run(until=net.now + T / 2)
    chat_begins()  # chat 3
    assert len(net.events("alice", ev.ChatStarted)) == 3 and net.now < first_fin + 10 * T
    net.inject("bob", "alice", wire.control(Op.FIN, 1, "bob"))  # a copy of chat 2's FIN
    assert net.reasons("alice") == [EndReason.PEER_LEFT, EndReason.PEER_LEFT]  # chat 3 goes on


def test_a_late_syn_of_a_withdrawn_invitation_is_no_new_one_after_our_own_withdrawn_invitation() -> None:
    """Explorer seed 481: bob withdrew his invitation as its last SYN left, delayed; alice at once
    invited bob and withdrew.  Her ended invitation replaced bob's in the node, and the late SYN,
    arriving within half a timeout of bob's FIN, was shown as a new invitation nobody made."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    net.run(until=net.now + 2 * T)  # (his SYNs repeat it; the last one is delayed)
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # bob withdraws
    assert net.reasons("alice") == [EndReason.WITHDRAWN]
    net.start("alice", "bob")
    net.quit("alice")
    assert net.reasons("alice") == [EndReason.WITHDRAWN, EndReason.WITHDRAWN_BY_US]
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # of her withdrawal's FIN
    net.run(until=net.now + T / 4)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # the late copy
    assert len(net.events("alice", ev.Invitation)) == 1


def test_a_late_copy_of_the_ended_chats_own_syn_does_not_cross_our_new_invitation() -> None:
    """Explorer seed 9427: bob's invitation became a chat just as his SYN was re-sent, delayed; he
    left at once and alice invited him again.  The late copy of his SYN reached her invitation and
    was taken for a crossing one: her answer undid her invitation, and bob, who had accepted it,
    was told "invitation withdrawn"."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    net.accept("alice")
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # bob leaves at once
    assert net.reasons("alice") == [EndReason.PEER_LEFT]
    net.start("alice", "bob")
    net.run(until=net.now + T / 4)
    answers = len(net.sent("alice", label="SYN+ACK"))
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # the late copy
    assert len(net.sent("alice", label="SYN+ACK")) == answers  # (no crossing answered)
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))  # bob accepts her invitation
    assert len(net.events("alice", ev.ChatStarted)) == 2 and net.reasons("alice") == [EndReason.PEER_LEFT]


@pytest.mark.parametrize("ours", ["withdrawn", "a chat the peer left"])
def test_a_late_syn_of_the_chat_just_ended_is_no_new_one_after_our_own_invitation(ours: str) -> None:
    """Explorer seed 619: bob's invitation became a chat just as his SYN was re-sent, delayed;
    alice left it at once and invited bob, and that invitation was withdrawn, or became a chat
    bob left at once.  It replaced the first chat in the node, and the late SYN was shown as a
    new invitation nobody made."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    net.run(until=net.now + T)  # (alice accepts a timeout later: the SYN is being re-sent)
    net.accept("alice")
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # the chat begins
    net.quit("alice")
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # of her FIN
    net.start("alice", "bob")
    if ours == "withdrawn":
        net.quit("alice")
        net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # of her withdrawal's FIN
    else:
        net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))  # bob accepts: a second chat
        net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # and leaves it
    assert len(net.ended("alice")) == 2
    net.run(until=net.now + T / 4)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # the late copy of the first chat's
    assert len(net.events("alice", ev.Invitation)) == 1


def chat_after_a_withdrawal_crossing_a_decline() -> Net:
    """alice declined bob's invitation as he withdrew it; her ACKs of his FIN 0 are lost (bob is
    played by hand), so copies of it may still come.  Twenty seconds later she invites him and he
    accepts: the chat has just begun."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))
    net.decline("alice")
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # his withdrawal, crossing it
    net.run(until=net.now + 4 * T)
    net.start("alice", "bob")
    net.run_until(lambda: net.sent("alice")[-1].dg.op == Op.SYN, limit=net.now + 6 * T)
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))
    return net


def test_a_copy_of_the_withdrawal_fin_0_after_the_peers_first_message_is_no_leave() -> None:
    """Explorer seed 3874: bob withdrew his invitation as alice declined it, and every ACK of hers
    to his FIN 0 was lost, so he re-sent it.  Twenty seconds later alice invited him; a copy sent
    just before her SYN reached him came right after his first message of the new chat.  Bob's
    own FIN there would carry bit 1 (his message acknowledged) unless he abandoned it: the copy
    ended the chat as "peer left" though bob had not left."""
    net = chat_after_a_withdrawal_crossing_a_decline()
    net.inject("bob", "alice", wire.chat(0, "bob", "b2-1"))
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # a copy of the withdrawal's
    assert net.received("alice") == ["b2-1"] and net.reasons("alice") == [EndReason.DECLINED]
    net.inject("bob", "alice", wire.control(Op.FIN, 1, "bob"))  # bob does leave
    assert net.reasons("alice") == [EndReason.DECLINED, EndReason.PEER_LEFT]


def test_the_ack_of_our_re_sent_withdrawal_does_not_complete_the_peers_new_handshake() -> None:
    """Explorer seed 13556: alice's invitation expired and its FIN was re-sent; bob's daemon,
    restarted, invited her, and acknowledged her FIN's copy.  Her user accepted (the SYN+ACK was
    lost), and that ACK 0 completed the handshake: alice "chatting" with a peer that had no chat."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    net.run(until=net.now + T)
    net.quit("alice")  # (her FIN is re-sent: no ACK comes)
    net.run(until=net.now + T)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # bob, restarted, invites her
    net.accept("alice")
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # ...of her FIN's copy
    assert net.events("alice", ev.ChatStarted) == []
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # (the handshake's, after her SYN+ACK)
    assert len(net.events("alice", ev.ChatStarted)) == 1


def test_a_copy_of_an_older_fin_0_makes_a_crossing_ask_not_undo() -> None:
    """Explorer seed 13786: bob's decline of alice's invitation was re-sent (her ACKs lost); later
    their invitations crossed, bob took her SYN+ACK (his ACK lost), and a copy of the old FIN 0
    reached her.  Taken for bob withdrawing his crossing invitation, it undid the crossing: her
    SYN asking again reached bob in the chat, who took it for a restart and was told "peer left".
    Now she asks with her SYN+ACK, which bob, in the chat, acknowledges."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # bob declines (her ACK lost)
    assert net.reasons("alice") == [EndReason.DECLINED]
    net.run(until=net.now + T)
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # his invitation crosses hers
    assert net.sent("alice")[-1].dg.op == Op.SYN_ACK
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # a copy of the decline's FIN
    assert [h.dg.op for h in net.sent("alice")[-2:]] == [Op.ACK, Op.SYN_ACK]  # asked, not undone
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # bob, in the chat, answers
    assert len(net.events("alice", ev.ChatStarted)) == 1 and net.reasons("alice") == [EndReason.DECLINED]


def test_a_copy_of_the_withdrawal_fin_0_right_after_the_chat_began_is_no_leave() -> None:
    """Explorer seed 6179: as in seed 3874, but the copy came 1 s into the chat, before the
    peer's first message: a FIN 0, the bit the peer's own FIN would carry.  Sent before alice's
    invitation reached bob, it arrives within half a timeout of the chat's start; it ended the
    chat, and bob's message was never shown."""
    net = chat_after_a_withdrawal_crossing_a_decline()
    net.run(until=net.now + T / 5)
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # a copy of the withdrawal's
    net.inject("bob", "alice", wire.chat(0, "bob", "b2-1"))
    assert net.received("alice") == ["b2-1"] and net.reasons("alice") == [EndReason.DECLINED]


def test_a_refusal_before_a_chat_never_answers_an_invitation_after_it() -> None:
    """Explorer seed 3647: bob declined alice's invitation, then their invitations became a chat,
    which ended; bob invited her again and withdrew.  Her next invitation, within the first
    decline's memory, was answered with that decline's FIN through the chain of invitations each
    following the one before (`replaced_invitation`): "declined" that bob never gave.  A chat
    between them ends that refusal; only a late SYN copy goes down that chain."""
    net = Net("alice", "bob")
    net.drop(src="bob", dst="alice", nth=None)  # alice is played by hand
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))
    net.decline("bob")
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # of the decline's FIN
    net.run(until=net.now + T)
    net.start("bob", "alice")
    net.run_until(lambda: net.sent("bob")[-1].dg.op == Op.SYN, limit=net.now + 6 * T)
    net.inject("alice", "bob", wire.control(Op.SYN_ACK, 0, "alice"))  # a chat
    net.quit("bob")
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # of his FIN
    net.start("bob", "alice")
    net.quit("bob")  # withdrawn at once
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # of his withdrawal's FIN
    net.run(until=net.now + T)
    fins = len(net.sent("bob", label="FIN"))
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))  # her new invitation
    assert len(net.events("bob", ev.Invitation)) == 2 and len(net.sent("bob", label="FIN")) == fins


def test_a_fin_1_right_after_a_restarted_daemons_chat_began_is_no_leave() -> None:
    """Explorer seed 26172: bob left his chat with alice with FIN 1 (her ACKs lost, so he re-sent
    it); alice's daemon restarted and invited bob, who accepted, and a copy of that FIN sent before
    her SYN reached him came 0.25 s into the new chat.  The new daemon remembers no chat whose FIN
    may still come, and took it: "peer left", though bob was in the chat.  A FIN 1 from a peer
    that has said nothing is this chat's only if it abandoned its first message; within half a
    timeout of the start it is asked about (probed), not taken."""
    net = Net("alice", "bob")  # alice's daemon is new: it knows of no earlier chat with bob
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))  # bob accepts
    assert len(net.events("alice", ev.ChatStarted)) == 1
    net.run(until=net.now + T / 20)
    net.inject("bob", "alice", wire.control(Op.FIN, 1, "bob"))  # a copy of the old chat's FIN
    assert net.reasons("alice") == []
    assert net.sent("alice")[-2].dg.op == Op.ACK and net.sent("alice")[-1].dg.type == wire.Type.CHAT  # probed
    net.inject("bob", "alice", wire.control(Op.ACK, 1, "bob"))  # bob, in the chat, answers the probe
    net.inject("bob", "alice", wire.chat(0, "bob", "b7-1"))
    net.inject("bob", "alice", wire.control(Op.FIN, 1, "bob"))  # and now leaves, after his message
    assert net.received("alice") == ["b7-1"] and net.reasons("alice") == [EndReason.PEER_LEFT]


def test_simpx1_peers_withdrawal_of_its_crossing_invitation_undoes_the_crossing() -> None:
    """SIMPX/1 on both sides (explorer seed 86557): alice's and bob's invitations cross (alice
    answers bob's SYN with SYN+ACK, the joined chat-id), but bob had withdrawn his before alice's
    SYN reached him: his FIN names his offer alone.  It is his part of this crossing, not another
    chat: the crossing is undone and alice invites again, so bob's acceptance of her invitation
    (a SYN+ACK naming her offer alone) starts the chat.  The FIN used to be acknowledged as
    another chat's and the crossing kept: the acceptance, named with alice's offer and not the
    joined id, was answered with FIN, and bob's user was told "withdrawn" of an invitation alice
    never withdrew, while her daemon went on to start a chat he did not have."""
    net = Net("alice", "bob", config=dataclasses.replace(DEFAULT_CONFIG, extension=True))
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    offer = net["alice"].current.chat_id
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob", "SIMPX/1 bob.1 0\n"))  # crossing hers
    assert net["alice"].current.state is State.SYN_ACK_SENT
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob", "SIMPX/1 bob.1 1\n"))  # his withdrawal
    assert net["alice"].current.state is State.SYN_SENT
    assert net.sent("alice")[-2].dg.payload == "SIMPX/1 bob.1 1\n"  # (its ACK, for that chat)
    assert net.sent("alice")[-1].dg.op == Op.SYN  # she invites again
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob", f"SIMPX/1 {offer} 0\n"))  # he accepts
    assert len(net.events("alice", ev.ChatStarted)) == 1 and net.sent("alice", label="FIN") == []
    net.say("alice", "a1-1")
    assert net.sent("alice")[-1].dg.payload == f"SIMPX/1 {offer} 1\na1-1"


def test_simpx1_acceptance_of_our_offer_before_the_withdrawal_of_the_crossing_one_starts_the_chat() -> None:
    """As above, the other order: bob's acceptance of alice's invitation (her offer alone) comes
    before his withdrawal of his own, which crossed hers.  It starts the chat; it used to be
    answered with FIN as another chat's, and bob was told "withdrawn" though alice still invited
    him.  His withdrawal's FIN, coming next, is acknowledged for his chat and ends nothing."""
    net = Net("alice", "bob", config=dataclasses.replace(DEFAULT_CONFIG, extension=True))
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    offer = net["alice"].current.chat_id
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob", "SIMPX/1 bob.1 0\n"))  # crossing hers
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob", f"SIMPX/1 {offer} 0\n"))  # he accepts
    assert len(net.events("alice", ev.ChatStarted)) == 1 and net.sent("alice", label="FIN") == []
    assert net.sent("alice")[-1].dg.payload == f"SIMPX/1 {offer} 0\n"  # (the handshake's ACK)
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob", "SIMPX/1 bob.1 1\n"))  # his withdrawal
    assert net.reasons("alice") == [] and net.sent("alice")[-1].dg.payload == "SIMPX/1 bob.1 1\n"
    net.say("alice", "a1-1")
    assert net.sent("alice")[-1].dg.payload == f"SIMPX/1 {offer} 1\na1-1"


def test_a_restarted_peers_new_invitation_is_answered_after_our_last_chat_datagrams_copies() -> None:
    """Explorer seed 81717: bob's message b1-1 was being re-sent (alice's ACKs lost) when alice's
    daemon restarted and invited him; its SYNs ended his chat ("not confirmed") and he accepted at
    once.  The copy of b1-1 sent just before reached her new chat after his SYN+ACK: shown again
    (her new daemon remembers no chat whose stragglers may come), its ACK 0 taken by bob for the
    handshake's, and his real first message, bit 0 too, acknowledged as a duplicate and never
    shown, though reported delivered.  Now his SYN+ACK waits until every copy has arrived, when
    alice, still inviting, ignores them."""
    net = Net("alice", "bob")
    net.drop(src="bob", dst="alice", nth=None)  # alice is played by hand
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))
    net.accept("bob")
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # the chat begins
    net.say("bob", "b1-1")  # (never acknowledged: re-sent every timeout)
    net.run(until=net.now + T + T / 10)
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))  # alice, restarted, invites bob
    net.run(until=net.now + T)
    last_copy = net.times("bob", "CHAT")[-1]
    net.run(until=net.now + T / 20)
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))  # a timeout later: she lost the chat
    assert net.reasons("bob") == [EndReason.PEER_LEFT]
    net.accept("bob")
    net.say("bob", "b2-1")
    assert net.sent("bob", label="SYN+ACK") == [net.sent("bob", label="SYN+ACK")[0]]  # the first chat's
    net.run(until=last_copy + T / 2)
    answers = net.times("bob", "SYN+ACK")
    assert len(answers) == 2 and answers[-1] >= last_copy + T / 2  # every copy of b1-1 came before
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # the new chat begins
    assert net.sent("bob")[-1].dg == wire.chat(0, "bob", "b2-1")


def test_a_chat_datagram_before_we_answered_the_invitation_teaches_no_dialect() -> None:
    """Explorer seed 83484: bob's daemon restarted while alice, in a chat with his old daemon,
    was re-sending her second message (bit 1); her late SYN (sent before the restart) showed the
    new daemon an invitation, and her re-sent message, coming a timeout after it, was taken for
    the first CHAT of a first-bit-1 peer (simp.dialect rule 3), though bob had not answered the
    invitation: no peer, of any dialect, sends a chat datagram before our SYN+ACK, and the session
    ignores it.  Learned, it flipped her bits: the first message of the chat bob then accepted,
    bit 0, was acknowledged as a duplicate and never shown.  Such a datagram teaches nothing."""
    net = Net("alice", "bob")
    net.drop(src="bob", dst="alice", nth=None)  # alice is played by hand
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))  # bob's new daemon is invited
    net.run(until=net.now + T)
    net.inject("alice", "bob", wire.chat(1, "alice", "a3-2"))  # re-sent in her chat with the old one
    assert net["bob"].current.state is State.INVITED and net["bob"].dialect == "spec"
    net.accept("bob")
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # the chat begins
    net.inject("alice", "bob", wire.chat(0, "alice", "a4-1"))
    assert net.received("bob") == ["a4-1"] and net["bob"].dialect == "spec"


@pytest.mark.parametrize("ended", ["she left", "both left", "forgotten"])
def test_a_late_syn_of_an_invitation_withdrawn_before_it_came_is_not_shown(ended: str) -> None:
    """Explorer seed 81738: bob invited alice and withdrew at once; his SYN, delayed, came after
    his FIN 0, which reached alice's ended chat with him (she had left it, he had acknowledged; or
    both had left at once, so it might be a copy of his; or, that chat forgotten, no session at
    all).  The SYN was shown: an invitation no user had made, which alice declined later, and that
    decline's memory answered bob's next, real invitation with FIN ("declined" that alice never
    gave).  A SYN within half a timeout of such a FIN is a late copy of the invitation it may have
    withdrawn: ignored, unanswered.  A new invitation is shown at its next SYN."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))  # he accepts
    net.quit("alice")
    if ended == "both left":
        net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # his, crossing hers
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))  # of her FIN: the chat is over
    assert net.reasons("alice") == [EndReason.QUIT]
    net.run(until=net.now + (LINGER + T if ended == "forgotten" else T))
    assert net["alice"].lingering == (0 if ended == "forgotten" else 1)
    sent = len(net.sent("alice"))
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # his withdrawal
    net.run(until=net.now + T / 5)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # its SYN, late
    assert net.events("alice", ev.Invitation) == [] and net["alice"].current is None
    assert [h.dg.op for h in net.sent("alice")[sent:]] == [Op.ACK]  # (the FIN's)
    net.run(until=net.now + T)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # a new invitation
    assert net.events("alice", ev.Invitation) == [ev.Invitation(peer=net.addr("bob"), user="bob")]


@pytest.mark.parametrize("before", ["bob left a chat with her", "nothing"])
def test_a_quit_before_ack_refusal_lasts_as_a_decline_where_our_fin_may_read_as_old(before: str) -> None:
    """Explorer seed 80451: bob left a chat with alice (FIN 0); 20 s later she invited him, he
    accepted and quit before her handshake ACK.  She could not tell his FIN from a copy of the
    one that ended their chat, so she asked again, as after a decline, every timeout till a FIN
    answered; two questions in a row were lost, and the third came after QUIT_MEMORY: shown to
    bob a second time.  That refusal is now remembered as a decline (DECLINE_MEMORY), also once
    the old chat's session is forgotten (the node keeps the time).  With no earlier FIN of his,
    she has nothing to doubt: an invitation after QUIT_MEMORY is new (seeds 2056, 31042), and
    shown."""
    net = Net("alice", "bob")
    net.drop(src="bob", dst="alice", nth=None)  # alice is played by hand
    if before != "nothing":
        net.start("bob", "alice")
        net.inject("alice", "bob", wire.control(Op.SYN_ACK, 0, "alice"))
        net.quit("bob")  # his FIN 0
        net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))
        net.run(until=net.now + LINGER + T)  # that chat is forgotten
        assert net["bob"].lingering == 0
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))
    net.accept("bob")
    net.quit("bob")
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # taken for the handshake's
    net.run_until(lambda: len(net.sent("bob", label="FIN")) == (3 if before != "nothing" else 2),
                  limit=net.now + 2 * T)
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice"))  # of his FIN: the end
    assert net.reasons("bob")[-1] is EndReason.QUIT
    net.run(until=net.now + 2 * T)  # her questions, lost
    fins = len(net.sent("bob", label="FIN"))
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice"))
    if before == "nothing":
        assert len(net.events("bob", ev.Invitation)) == 2  # a new invitation
    else:
        assert len(net.events("bob", ev.Invitation)) == 1
        assert len(net.sent("bob", label="FIN")) == fins + 1  # answered: the refusal again


def test_a_late_syn_of_an_invitation_declined_before_a_chat_is_not_shown_after_it() -> None:
    """SIMPX/1 on both sides (explorer seed 98285): bob declined alice's invitation; his FIN was
    re-sent, and as it reached her she re-sent her SYN, which was delayed.  She invited him again
    at once, he accepted, and both left the chat.  The late SYN, naming the declined chat, came
    just after: another chat-id than the ended chat's, it was shown as a new invitation no one
    had made.  The peer's earlier invitations are over once a later one came: a SYN naming one
    is a late copy, not shown.  A SYN naming a chat never seen is still shown."""
    net = Net("alice", "bob", config=dataclasses.replace(DEFAULT_CONFIG, extension=True))
    net.drop(src="bob", dst="alice", nth=None)  # alice is played by hand
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice", "SIMPX/1 alice.1 0\n"))
    net.decline("bob")
    net.run(until=net.now + T)  # (his FIN, lost, is re-sent)
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice", "SIMPX/1 alice.1 1\n"))  # of his FIN
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice", "SIMPX/1 alice.2 0\n"))
    net.accept("bob")
    net.inject("alice", "bob", wire.control(Op.ACK, 0, "alice", "SIMPX/1 alice.2 0\n"))
    net.inject("alice", "bob", wire.control(Op.FIN, 0, "alice", "SIMPX/1 alice.2 1\n"))  # she leaves
    assert net.reasons("bob") == [EndReason.DECLINED, EndReason.PEER_LEFT]
    net.run(until=net.now + T / 5)
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice", "SIMPX/1 alice.1 0\n"))  # the late copy
    assert len(net.events("bob", ev.Invitation)) == 2 and not net["bob"].busy
    net.inject("alice", "bob", wire.control(Op.SYN, 0, "alice", "SIMPX/1 alice.3 0\n"))  # a new one
    assert len(net.events("bob", ev.Invitation)) == 3


@pytest.mark.parametrize("before", ["bob left a chat with her", "both left a chat, his FIN lost", "nothing"])
def test_reinviting_a_silent_peer_waits_as_after_a_decline(before: str) -> None:
    """Explorer seed 23522: bob accepted and quit before alice's handshake ACK (lost); his FIN was
    lost too, and alice's FIN, which he acknowledged, ended his side.  For bob the invitation was
    refused, and he answers its repeats with FIN for a while after her last news; for alice the
    chat began and ended normally.  Since bob said nothing after his SYN+ACK, alice cannot tell
    this from a silent chat: her next invitation waits, and is shown to bob instead of "declined".
    Seed 80451: bob remembers that refusal as a decline (DECLINE_MEMORY) when she may have taken
    his FIN for a copy of his FIN 0 of their previous chat; seed 101849: he must, since he cannot
    know whether she heard that FIN, but she never did (it was lost as hers crossed it), so only
    a wait as after a decline, REINVITE_AFTER_DECLINE, whatever came before, outlasts his memory."""
    net = Net("alice", "bob")
    if before != "nothing":
        net.start("bob", "alice")
        net.accept("alice")
        net.run_until(lambda: bool(net.events("bob", ev.ChatStarted)))
        if before == "both left a chat, his FIN lost":
            net.drop(src="bob", label="FIN", nth=1)
            net.quit("bob")
            net.quit("alice")
        else:
            net.quit("bob")
        net.run_until(lambda: len(net.ended("alice")) == 1 and len(net.ended("bob")) == 1)
        net.run(until=net.now + T)
    net.drop(src="alice", label="ACK")
    net.drop(src="bob", label="FIN")
    net.start("alice", "bob")
    net.accept("bob")
    net.quit("bob")
    net.quit("alice")
    net.run_until(lambda: net.reasons("alice")[-1:] == [EndReason.QUIT])
    left = net.now
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2, limit=left + 8 * T)
    assert min(t for t in net.times("alice", "SYN") if t > left) >= left + REINVITE_AFTER_DECLINE * T
    assert EndReason.DECLINED not in net.reasons("alice")


def test_a_fin_answering_our_syn_ack_question_is_no_decline_after_the_undone_crossing() -> None:
    """Explorer seed 98502: right after bob left their chat with FIN 0, alice's invitation
    crossed his (she answered his SYN with SYN+ACK) and he withdrew his at once.  His withdrawal
    could be a copy of that chat's FIN, so she asked by her SYN+ACK again; he answered both her
    SYN+ACKs with FIN.  The first undid the crossing (she invites him again with SYN); the second,
    sent before that SYN reached him, came within half a timeout of her question and was taken for
    his decline of her invitation, which he was then shown.  The question was answered by the
    first FIN: the second is asked about (her SYN again), as a FIN 0 is for a re-send span after
    the crossing was undone, and bob's decline is told by his answer to such a question."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))  # he accepts
    net.run(until=net.now + T)
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # he leaves, having said nothing
    assert net.reasons("alice") == [EndReason.PEER_LEFT]
    net.run(until=net.now + T)
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # his invitation crosses hers
    assert net["alice"].current.state is State.SYN_ACK_SENT
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # his withdrawal (or an old copy)
    assert [h.dg.op for h in net.sent("alice")[-2:]] == [Op.ACK, Op.SYN_ACK]  # she asks
    net.run(until=net.now + T / 10)
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # his answer to her first SYN+ACK
    assert net["alice"].current.state is State.SYN_SENT and net.sent("alice")[-1].dg.op == Op.SYN
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # and to her question
    assert net.reasons("alice") == [EndReason.PEER_LEFT] and net["alice"].current is not None
    assert net.sent("alice")[-1].dg.op == Op.SYN  # asked about
    net.run(until=net.now + 2 * T)  # (bob is shown her invitation, and declines it later)
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # asked about, as any FIN 0 then
    assert net.reasons("alice") == [EndReason.PEER_LEFT] and net.sent("alice")[-1].dg.op == Op.SYN
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # his decline's answer to it
    assert net.reasons("alice") == [EndReason.PEER_LEFT, EndReason.DECLINED]


def test_a_late_syn_of_the_peers_crossing_invitation_is_not_shown_after_the_chat() -> None:
    """Plain SIMP (explorer seed 97321): bob invited alice as she invited him; his SYN was
    delayed, hers reached him and got his SYN+ACK (the crossing rule), and he quit at once.  For
    alice the chat began and ended; his delayed SYN came 1.1 s later and was shown as a new
    invitation no one had made.  Every SYN of bob's crossing invitation left before his SYN+ACK,
    so one within half a timeout of the chat's start is a late copy, as for the invited side; a
    SYN after that is a new invitation."""
    net = Net("alice", "bob")
    net.drop(src="alice", dst="bob", nth=None)  # bob is played by hand
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN_ACK, 0, "bob"))  # answers her SYN (crossing)
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob"))  # he quit
    assert net.reasons("alice") == [EndReason.PEER_LEFT]
    net.run(until=net.now + T / 5)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # the late copy of his own SYN
    assert not net.events("alice", ev.Invitation) and not net["alice"].busy
    net.run(until=net.now + T / 2)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob"))  # a new invitation
    assert len(net.events("alice", ev.Invitation)) == 1


def test_a_syn_right_after_the_inviters_own_end_of_a_declined_invitation_gets_no_fin() -> None:
    """Explorer seed 84677: bob gave up his invitation just as alice declined it, and invited her
    again at once.  His new SYN came right behind his give-up's FIN, inside the half timeout in
    which a SYN may still be a late copy of the invitation he ended, and her memory of the decline
    answered it with FIN: bob was told "declined" of an invitation she never saw.  Such a SYN now
    gets no answer (bob needs none for the old one), and his next SYN is shown as new.  bob is a
    raw peer here (a give-up 55 s into a crossing, or another implementation's quick re-invite)."""
    net = Net("alice")
    bob = ("10.7.7.7", 7777)
    net.inject(bob, "alice", wire.control(Op.SYN, 0, "bob"))
    net.decline("alice")
    net.run(until=net.now + 0.5 * T)
    net.inject(bob, "alice", wire.control(Op.FIN, 0, "bob"))  # his give-up, crossing her FIN
    net.inject(bob, "alice", wire.control(Op.SYN, 0, "bob"))  # his new invitation, right behind
    assert answers_to(net, "alice", bob) == ["FIN seq=0", "ACK seq=0"]
    assert len(net.events("alice", ev.Invitation)) == 1
    net.run(until=net.now + T)
    net.inject(bob, "alice", wire.control(Op.SYN, 0, "bob"))  # re-sent a timeout later
    assert len(net.events("alice", ev.Invitation)) == 2


def raw_bob_invites_again_after_a_withdrawal() -> tuple[Net, tuple[str, int]]:
    """bob, a raw peer, invites alice, withdraws, and invites her again a timeout later."""
    net = Net("alice")
    bob = ("10.7.7.7", 7777)
    net.inject(bob, "alice", wire.control(Op.SYN, 0, "bob"))
    net.inject(bob, "alice", wire.control(Op.FIN, 0, "bob"))  # withdrawn
    net.run(until=net.now + 1.2 * T)
    net.inject(bob, "alice", wire.control(Op.SYN, 0, "bob"))  # his second invitation
    return net, bob


def test_the_inviters_fin_long_after_its_syn_ends_the_refusal_though_an_older_fin_may_still_come() -> None:
    """Explorer seed 106717: bob withdrew an invitation, invited alice again, and withdrew that
    one as she declined it (both FINs crossed; hers were lost).  His FIN 0, 11 s after the SYN,
    passed for a copy of his first withdrawal's FIN, which may come for a re-send span after the
    first: so her refusal stayed remembered until her FIN was acknowledged, and it answered his
    third invitation with FIN ("declined").  A daemon stops re-sending an old FIN before it
    invites again, so past half a timeout after the SYN that FIN is his end of this invitation.
    bob is a raw peer here; every FIN of alice's to him is lost, as none is acknowledged."""
    net, bob = raw_bob_invites_again_after_a_withdrawal()
    net.run(until=net.now + 1.2 * T)
    net.decline("alice")
    net.run(until=net.now + T)
    net.inject(bob, "alice", wire.control(Op.FIN, 0, "bob"))  # his withdrawal, crossing her FIN
    fins = len(net.sent("alice", "FIN"))
    net.run(until=net.now + 0.6 * T)
    net.inject(bob, "alice", wire.control(Op.SYN, 0, "bob"))  # his third invitation
    assert len(net.events("alice", ev.Invitation)) == 3
    assert len(net.sent("alice", "FIN")) == fins  # nothing answered it


def test_a_chat_whose_peers_fin_was_doubted_ends_unanswered_with_no_fin_of_ours() -> None:
    """Explorer seed 104068: bob withdrew an invitation, invited alice again, and quit as soon as
    she accepted.  His FIN 0, at the chat's start while his withdrawal's FIN could still be re-sent,
    passed for a copy of that (acknowledged; she probed), though it was his end of this chat.  No
    probe was answered, and the FIN she sent on giving up reached his next invitation: "declined",
    which she never said.  The chat now ends as "not answering" with no FIN: in that reading the
    peer's FIN, acknowledged, ended it already.  bob is a raw peer here that answers nothing."""
    net, bob = raw_bob_invites_again_after_a_withdrawal()
    net.accept("alice")
    net.inject(bob, "alice", wire.control(Op.ACK, 0, "bob"))  # the chat starts
    net.inject(bob, "alice", wire.control(Op.FIN, 0, "bob"))  # he quits at once
    assert answers_to(net, "alice", bob)[-2:] == ["ACK seq=0", "CHAT seq=1"]  # taken for his
    assert net.reasons("alice") == [EndReason.WITHDRAWN]  # withdrawal's FIN: acknowledged; she probes
    fins = len(net.sent("alice", "FIN"))
    net.run(until=net.now + (DEFAULT_CONFIG.session.retries + 2) * T)
    assert net.reasons("alice") == [EndReason.WITHDRAWN, EndReason.NOT_ANSWERING]
    assert len(net.sent("alice", "FIN")) == fins  # no FIN to read as a decline of his next invitation


def test_a_refusal_cut_short_by_our_own_invitation_runs_its_memory_from_the_next_ack() -> None:
    """Explorer seed 111214: alice declined bob's invitation; his ACKs of her FIN were lost twice,
    then she invited him and withdrew at once (her invitation cut her refusal's FIN short, and
    carries the refusal on).  His ACK of her withdrawal shows he heard a FIN 0 of hers, but it
    was taken only as the ACK of the cut-short FIN, so the refusal stayed unacknowledged and was
    remembered till the refused invitation's expiry: bob's next invitation, sent after his wait
    as after a decline, was answered from it with FIN ("declined").  It is shown to her."""
    net = Net("alice", "bob")
    net.drop(src="bob", label="ACK", nth={1, 2})
    net.start("bob", "alice")
    net.decline("alice")
    net.run(until=net.now + 1.2 * T)
    net.start("alice", "bob")
    net.quit("alice")
    net.start("bob", "alice")
    net.run_until(lambda: len(net.events("alice", ev.Invitation)) == 2 or len(net.ended("bob")) == 2,
                  limit=net.now + 8 * T)
    assert net.reasons("bob") == [EndReason.DECLINED]
    assert len(net.events("alice", ev.Invitation)) == 2
