"""SIMPX/1 (simp.extension, docs/EXTENSION.md): the tag, the negotiation, and the known limit closed.

Each known-limit case of tests/test_session.py is run again here: with the extension on both
daemons every message is delivered exactly once and a lost one is re-sent; with it on one side
only the chat is plain SIMP, on the wire and in its outcome (the limit is still there).
"""

from __future__ import annotations

import dataclasses

import pytest

from simp import events as ev
from simp import extension, wire
from simp.extension import Tag
from simp.node import Node
from simp.session import CommandError, State
from simp.wire import Op
from tests.helpers import DEFAULT_CONFIG, Net, establish

T = DEFAULT_CONFIG.session.timeout


def net_with(alice: bool = True, bob: bool = True, *names: str) -> Net:
    """alice and bob (and `names`, with the extension), each with the extension on or off."""
    net = Net("alice", "bob", *names)
    for name in net.names:
        on = {"alice": alice, "bob": bob}.get(name, True)
        net.nodes[name] = Node(dataclasses.replace(DEFAULT_CONFIG, extension=on))
        net.nodes[name].connect_client(name)
    return net


def modes(net: Net) -> tuple[str, str]:
    return net["alice"].chat_mode, net["bob"].chat_mode


# -- the tag -----------------------------------------------------------------------------------


def test_tag_round_trip_and_what_is_not_a_tag() -> None:
    tag = Tag("4bce.1.2c0d22", 7)
    assert tag.encode() == "SIMPX/1 4bce.1.2c0d22 7\n"
    assert extension.parse(tag.encode() + "hi\nthere") == (tag, "hi\nthere")
    joined = Tag(extension.join("b.1.0", "a.1.0"), 0)
    assert joined.chat_id == "a.1.0+b.1.0" == extension.join("a.1.0", "b.1.0")
    assert extension.parse(joined.encode()) == (joined, "")
    for text in ("", "hello", "SIMPX/1 x 1", "SIMPX/2 x 1\n", "SIMPX/1 x 01\n", "SIMPX/1 x -1\n",
                 "SIMPX/1  1\n", "SIMPX/1 a b 1\n", "SIMPX/1 x 4294967296\n", "simpx/1 x 1\n"):
        assert extension.parse(text) == (None, text), text


def test_counter_parity_is_the_simp_bit() -> None:
    assert [extension.bit(n) for n in range(1, 6)] == [0, 1, 0, 1, 0]


def test_describe_shows_the_text_and_the_tag_apart() -> None:
    dg = wire.chat(0, "alice", Tag("c", 1).encode() + "hi")
    assert extension.describe(dg) == 'CHAT seq=0 "hi" [c #1]'
    assert extension.describe(wire.chat(0, "alice", "hi")) == 'CHAT seq=0 "hi"'


# -- negotiation and fallback ------------------------------------------------------------------


@pytest.mark.parametrize(("alice", "bob", "expected"), [
    (True, True, ("extended", "extended")),
    (True, False, ("plain", "plain")),
    (False, True, ("plain", "plain")),
    (False, False, ("plain", "plain")),
])
def test_both_sides_agree_on_the_mode(alice: bool, bob: bool, expected: tuple[str, str]) -> None:
    net = net_with(alice, bob)
    net.start("alice", "bob")
    assert net["alice"].chat_mode == ("negotiating" if alice else "plain")
    net.accept("bob")
    assert modes(net) == expected
    log = [n for name in ("alice", "bob") for n in net.notes[name] if "runs in" in n]
    assert bool(log) == (alice or bob), log
    assert all(("extended (SIMPX/1" in n) == (expected[0] == "extended") for n in log), log


def test_a_plain_peer_sees_nothing_but_plain_simp_after_the_offer() -> None:
    """Whoever invites, every datagram our extended daemon sends a plain peer, except the SYN's
    offer, has SIMP's exact payload: empty on control datagrams, the text on chat datagrams."""
    for inviter, responder in (("alice", "bob"), ("bob", "alice")):
        net = net_with(alice=True, bob=False)
        establish(net, inviter, responder)
        net.say("alice", "from alice")
        net.say("bob", "from bob")
        net.run()
        net.quit("alice")
        net.run()
        sent = [hop.dg for hop in net.transcript if hop.src == "alice"]
        assert {dg.label for dg in sent} >= {"CHAT", "ACK", "FIN"}
        for dg in sent:
            if dg.is_control(Op.SYN):  # the offer, and nothing else
                offer, rest = extension.parse(dg.payload)
                assert offer is not None and offer.counter == 0 and rest == ""
            else:
                assert dg.payload == ("from alice" if dg.is_chat else ""), dg
        assert net.received("bob") == ["from alice"] and net.received("alice") == ["from bob"]


def test_crossing_invitations_run_extended_with_the_joined_chat_id() -> None:
    net = net_with()
    net["alice"].start(net.addr("bob"), net.now)
    net["bob"].start(net.addr("alice"), net.now)
    net.pump()
    net.run_until(lambda: all(net.events(name, ev.ChatStarted) for name in ("alice", "bob")))
    assert modes(net) == ("extended", "extended")
    ids = {net["alice"].current.chat_id, net["bob"].current.chat_id}
    assert len(ids) == 1 and "+" in ids.pop()
    net.say("alice", "a")
    net.say("bob", "b")
    net.run()
    assert net.received("bob") == ["a"] and net.received("alice") == ["b"]


def test_crossing_invitations_with_a_plain_peer_run_plain() -> None:
    net = net_with(alice=True, bob=False)
    net["alice"].start(net.addr("bob"), net.now)
    net["bob"].start(net.addr("alice"), net.now)
    net.pump()
    net.run_until(lambda: all(net.events(name, ev.ChatStarted) for name in ("alice", "bob")))
    assert modes(net) == ("plain", "plain")
    net.say("alice", "a")
    net.run()
    assert net.received("bob") == ["a"]


def test_text_that_no_longer_fits_with_the_tag_is_refused_with_a_clear_error() -> None:
    net = net_with()
    establish(net)
    limit = extension.MAX_TAGGED_TEXT
    assert limit < extension.max_text(net["alice"].current.chat_id) < wire.MAX_PAYLOAD
    with pytest.raises(CommandError, match=f"exceed the maximum of {limit} in a SIMPX/1 chat"):
        net["alice"].say(1, "x" * (limit + 1), net.now)
    net.say("alice", "x" * limit)
    net.run()
    assert net.received("bob") == ["x" * limit]


def test_a_plain_chat_keeps_the_whole_payload() -> None:
    net = net_with(bob=False)
    establish(net)
    net.say("alice", "x" * wire.MAX_PAYLOAD)
    net.run()
    assert net.received("bob") == ["x" * wire.MAX_PAYLOAD]


# -- the known limit, closed with the extension on both sides, open with it on one ------------


def stale_handshake_ack(net: Net) -> None:
    net.dup(src="alice", label="ACK", delay=1.0)
    establish(net)
    net.drop(src="bob", label="CHAT")


def ack_resent_for_a_duplicate_syn_ack(net: Net) -> None:
    net.dup(src="bob", label="SYN+ACK", delay=1.0)
    establish(net)
    net.drop(src="bob", label="CHAT")


def handshake_ack_delayed_beyond_the_timeout(net: Net) -> None:
    net.delay(src="alice", label="ACK", delay=1.2 * T)
    net.start("alice", "bob")
    net.accept("bob")
    net.run_until(lambda: net["bob"].current is not None and net["bob"].current.state is State.ESTABLISHED)
    net.drop(src="bob", label="CHAT")


STALE_ACK_CASES = [stale_handshake_ack, ack_resent_for_a_duplicate_syn_ack,
                   handshake_ack_delayed_beyond_the_timeout]


@pytest.mark.parametrize("case", STALE_ACK_CASES, ids=lambda f: f.__name__)
def test_stale_ack_no_longer_acknowledges_a_lost_message(case) -> None:
    net = net_with()
    case(net)
    ident = net.say("bob", "first words")
    net.say("bob", "second words")
    net.run()
    assert net.received("alice") == ["first words", "second words"]
    assert net.delivered("bob")[0] == ident
    assert len(net.sent("bob", "CHAT")) == 3  # the lost one was re-sent
    assert any("nothing of ours with that number awaits its ACK" in n for n in net.notes["bob"])


@pytest.mark.parametrize("case", STALE_ACK_CASES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("side", ["alice", "bob"])
def test_with_the_extension_on_one_side_only_the_limit_is_plain_simps(case, side: str) -> None:
    outcomes = []
    for alice, bob in ((side == "alice", side == "bob"), (False, False)):
        net = net_with(alice, bob)
        case(net)
        net.say("bob", "first words")
        net.run()
        outcomes.append((net.received("alice"), net.delivered("bob"), len(net.sent("bob", "CHAT")),
                         modes(net)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == []  # the message was lost, as in plain SIMP


@pytest.mark.parametrize("on", [True, False])
def test_chat_delayed_beyond_the_timeout_is_delivered_once(on: bool) -> None:
    net = net_with(on, on)
    establish(net)
    net.delay(src="alice", label="CHAT", delay=1.5 * T)
    net.say("alice", "a1")
    net.say("alice", "a2")
    net.run()
    assert net.received("bob") == (["a1", "a2"] if on else ["a1", "a2", "a1"])


def test_duplicates_of_a_delivered_message_are_acknowledged_by_the_layer_and_never_shown() -> None:
    net = net_with()
    establish(net)
    net.dup(src="alice", label="CHAT", delay=2.5 * T)
    net.say("alice", "once")
    net.say("alice", "twice?")
    net.run()
    assert net.received("bob") == ["once", "twice?"]
    assert any("was shown already: acknowledged again" in n for n in net.notes["bob"])


@pytest.mark.parametrize("on", [True, False])
def test_a_straggler_of_the_previous_chat_never_enters_the_next(on: bool) -> None:
    """A copy of chat 1's first message, a timeout and a half late, lands in chat 2 (bit 0
    expected again): plain SIMP shows it; SIMPX/1 drops it by its chat-id."""
    net = net_with(on, on)
    establish(net)
    net.dup(src="alice", label="CHAT", delay=1.5 * T)
    net.say("alice", "one")
    net.run_until(lambda: net.received("bob") == ["one"])
    net.quit("alice")
    net.run_until(lambda: net["alice"].current is None and net["bob"].current is None)
    establish(net)
    net.run()
    assert net.received("bob") == (["one"] if on else ["one", "one"]), net.ladder()


def test_a_fin_of_the_previous_chat_is_acknowledged_for_that_chat_only() -> None:
    net = net_with()
    establish(net)
    old = net["bob"].current.chat_id
    net.quit("bob")
    net.run()
    establish(net)
    assert net["bob"].current.chat_id != old
    net.inject("bob", "alice", wire.control(Op.FIN, 0, "bob", Tag(old, 1).encode()))
    net.pump()
    assert net["alice"].current is not None and net["alice"].current.state is State.ESTABLISHED
    assert any("FIN of another chat" in n for n in net.notes["alice"])


def test_a_restarted_peer_tells_an_extended_chat_it_is_gone_with_a_tagged_answer() -> None:
    net = net_with()
    establish(net)
    net.nodes["bob"] = Node(dataclasses.replace(DEFAULT_CONFIG, extension=True))
    net.nodes["bob"].connect_client("bob")  # bob's daemon restarted: it knows no chat
    net.say("alice", "still there?")
    net.run_until(lambda: bool(net.ended("alice")))
    assert net.reasons("alice") == [ev.EndReason.PEER_LEFT]
    assert net.now < T / 2  # at once, from the echoed FIN, not after the retries
    fin = [hop.dg for hop in net.transcript if hop.src == "bob" and hop.dg.is_control(Op.FIN)]
    assert fin and extension.parse(fin[0].payload)[0] is not None


def test_the_hello_world_example_of_docs_extension_md() -> None:
    dg = wire.chat(0, "test", Tag("4bce.1.2c0d22", 1).encode() + "Hello World")
    assert wire.encode(dg) == (bytes.fromhex("020100") + b"test" + bytes(28) + bytes.fromhex("00000023")
                               + b"SIMPX/1 4bce.1.2c0d22 1\nHello World")


def test_the_scapy_dissector_shows_the_tag_as_fields_and_rebuilds_the_bytes() -> None:
    from simp.dissect import SIMP

    data = wire.encode(wire.chat(1, "test", Tag("c.2.0", 2).encode() + "two"))
    packet = SIMP(data)
    assert (packet.simpx_chat_id, packet.simpx_counter, packet.simpx_text) == ("c.2.0", 2, "two")
    assert packet.mysummary() == 'SIMP CHAT seq=1 test "two" [c.2.0 #2]'
    assert bytes(packet) == data
    plain = SIMP(wire.encode(wire.control(Op.ACK, 0, "test")))
    assert plain.getfieldval("simpx_chat_id") is None and plain.mysummary() == "SIMP ACK seq=0 test"


def test_the_connected_clients_status_says_how_the_chat_runs() -> None:
    from tests.test_fuzz import in_chat

    async def check(chat) -> None:
        for client in (chat.a, chat.b):
            status = await client.status()
            assert (status["mode"], status["extension"]) == ("extended", "on"), status
        await chat.a.quit()
        await chat.a.next_event(timeout=5.0)  # chat ended
        assert (await chat.a.status())["mode"] == "none"

    in_chat(check)


def test_after_a_crossing_chat_ends_by_the_peers_fin_our_invitation_offers_its_own_chat_id_again() -> None:
    """Crossing invitations, then alice's daemon restarts and invites bob again (explorer seed
    214).  Bob's crossed chat (the joined chat-id) is ended by the restarted alice's FIN, so bob
    asks again with its own invitation.  That SYN must offer bob's own chat-id: with the joined
    one, alice's crossing rule joined three ids into a tag nobody can parse, bob dropped every
    SYN+ACK as untagged, and alice's invitation gave up and was told to bob as 'declined'."""
    config = dataclasses.replace(DEFAULT_CONFIG, extension=True)
    net = Net("alice", "bob", config=config)
    net.drop(src="alice", label="SYN+ACK")  # the old alice's answer to bob's SYN: lost in the crash
    net.delay(src="alice", nth=None, delay=T / 10)
    net.start("alice", "bob")
    net.start("bob", "alice")
    net.nodes["alice"] = Node(dataclasses.replace(config, chat_id_epoch="restarted"))
    net.nodes["alice"].connect_client("alice")
    net.start("alice", "bob")
    net.run_until(lambda: all(net.events(name, ev.ChatStarted) for name in ("alice", "bob")),
                  limit=net.now + 2 * T)
    syns = [extension.parse(hop.dg.payload)[0] for hop in net.transcript
            if hop.src == "bob" and hop.dg.is_control(Op.SYN)]
    assert all(tag is not None and "+" not in tag.chat_id for tag in syns), net.ladder()
    assert net.reasons("bob") == [] and net.reasons("alice") == []
    net.say("bob", "hi")
    net.run()
    assert net.received("alice") == ["hi"]


@pytest.mark.parametrize("on", [True, False], ids=["extended", "plain"])
def test_a_decline_fin_0_after_a_chat_ended_by_fin_0_is_told_at_once_when_it_names_its_chat(on: bool) -> None:
    """bob leaves a chat without a word (his FIN carries seq 0), alice invites him again and he
    declines (FIN seq 0 too).  In plain SIMP the decline cannot be told from a copy of the old
    chat's FIN, so alice asks again (one more SYN; explorer seed 353: that SYN lost and bob's
    decline memory over, the invitation was shown twice and alice told 'no answer').  With
    SIMPX/1 the decline's FIN names the new chat: it is the answer, told at once."""
    net = net_with(on, on)
    establish(net)
    net.quit("bob")
    net.run_until(lambda: bool(net.ended("alice")))
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2)
    before = len(net.sent("alice", "SYN"))
    net.decline("bob")
    net.run_until(lambda: len(net.ended("alice")) == 2)
    assert net.reasons("alice") == [ev.EndReason.PEER_LEFT, ev.EndReason.DECLINED]
    assert len(net.sent("alice", "SYN")) == before + (0 if on else 1), net.ladder()


def test_a_new_invitation_after_a_decline_is_shown_while_the_decline_memory_lasts() -> None:
    """bob declines alice; her ACK of his FIN is lost and so is his re-sent FIN, so his daemon
    still remembers the decline when alice invites again (explorer seed 887).  In plain SIMP
    that SYN may be a repeat of the declined one; with SIMPX/1 its chat-id is new, so it is a
    new invitation: shown to bob, never answered from the memory (was: alice told 'declined')."""
    net = net_with()
    net.drop(src="alice", label="ACK", nth=None)
    net.drop(src="bob", label="FIN", nth=2)
    net.start("alice", "bob")
    net.run_until(lambda: bool(net.events("bob", ev.Invitation)))
    net.decline("bob")
    net.run_until(lambda: bool(net.ended("alice")))
    net.start("alice", "bob")
    net.run_until(lambda: len(net.events("bob", ev.Invitation)) == 2, limit=net.now + 3 * T)
    assert net.reasons("alice") == [ev.EndReason.DECLINED]


def test_a_syn_reaching_our_withdrawn_offer_is_not_taken_for_crossing_invitations() -> None:
    """bob's invitation (offered, never answered: alice's SYN+ACK is lost) is withdrawn, and his
    FIN is re-sent as its ACKs are lost; alice then invites him (explorer seed 469).  Her SYN
    reaches a session that is no longer inviting: it must not join her chat-id to bob's, or his
    next FIN names her invitation and she is told 'declined' that bob never gave."""
    net = net_with()
    net.drop(src="alice", label="SYN+ACK", nth=None)
    net.drop(src="alice", label="ACK", nth=None)
    net.start("bob", "alice")
    net.run_until(lambda: bool(net.events("alice", ev.Invitation)))
    net.quit("bob")  # (alice is told 'invitation withdrawn'; her ACKs never reach bob)
    net.run(until=net.now + T / 2)
    net.start("alice", "bob")
    net.run(until=net.now + 3 * T)
    fins = [extension.parse(hop.dg.payload)[0] for hop in net.transcript
            if hop.src == "bob" and hop.dg.is_control(Op.FIN)]
    assert all(tag is not None and "+" not in tag.chat_id for tag in fins), net.ladder()
    assert ev.EndReason.DECLINED not in net.reasons("alice")


@pytest.mark.parametrize("undone", [False, True], ids=["ack-of-a-refused-crossing", "ack-of-the-undone-one"])
def test_after_a_crossing_is_undone_only_its_own_ack_completes_it(undone: bool) -> None:
    """bob's invitation crossed alice's (joined chat-id J3), when a SYN+ACK of another crossing of
    his offer (J4: alice's daemon restarted and crossed his SYN anew) came: bob answered it with
    FIN #0, as another chat's.  Then a FIN undid J3, and bob invites again; alice's ACK #0 of his
    FIN then names J4 (explorer seed 48006: taken for the ACK completing the undone crossing, it
    started a chat alice never had, and her new SYNs were dropped as another chat's).  Only an
    ACK naming J3 completes it, and the chat then runs in J3."""
    net = net_with()
    net.drop(src="bob", nth=None)  # what bob says goes nowhere: alice's side is played by hand
    net.start("bob", "alice")
    offer = net["bob"].current.chat_id

    def tagged(op: Op, chat_id: str) -> wire.Datagram:
        return wire.control(op, 0, "alice", Tag(chat_id, 0).encode())

    crossed, other = extension.join(offer, "a.3"), extension.join(offer, "a.1.r2")
    net.inject("alice", "bob", tagged(Op.SYN, "a.3"))
    assert net["bob"].current.state is State.SYN_ACK_SENT
    net.inject("alice", "bob", tagged(Op.SYN_ACK, other))
    net.inject("alice", "bob", tagged(Op.FIN, crossed))
    assert net["bob"].current.state is State.SYN_SENT
    net.inject("alice", "bob", tagged(Op.ACK, crossed if undone else other))
    if undone:
        assert net.events("bob", ev.ChatStarted) and net["bob"].chat_mode == "extended"
        assert net["bob"].current.chat_id == crossed
    else:
        assert not net.events("bob", ev.ChatStarted) and net["bob"].current.state is State.SYN_SENT


def test_a_message_said_before_a_crossing_joined_a_longer_chat_id_is_still_sent() -> None:
    """alice's invitation crosses bob's (chat-id A+B) and she says the longest text allowed; bob's
    daemon restarts and crosses anew with a 32-character id, so the chat-id grows before her
    message is sent.  It is still sent, whole: a message is held to the longest tag any chat can
    have (`MAX_TAGGED_TEXT`).  Held to the id of the moment, it no longer fitted its datagram:
    every send raised, and the chat ended as "not answering" (found from outside, raw peer)."""
    net = net_with()
    net.drop(src="alice", dst="bob", nth=None)  # (bob's side is played by the datagrams injected)
    net.start("alice", "bob")
    ours = net["alice"].current.chat_id
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob", "SIMPX/1 B 0\n"))
    net.say("alice", "x" * extension.MAX_TAGGED_TEXT)
    restarted = "N" * 32
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob", f"SIMPX/1 {restarted} 0\n"))
    net.run(until=net.now + T)
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob", f"SIMPX/1 {restarted} 0\n"))
    joined = extension.join(ours, restarted)
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob", f"SIMPX/1 {joined} 0\n"))
    assert net["alice"].current.chat_id == joined
    sent = [h.dg for h in net.sent(src="alice", label="CHAT")]
    assert sent and extension.parse(sent[-1].payload) == (Tag(joined, 1), "x" * extension.MAX_TAGGED_TEXT)


def test_a_crossing_syn_offering_a_joined_id_is_no_offer() -> None:
    """A SYN crossing our invitation offers "a+b": an offer is one id, and joined with ours it
    would give a tag neither side can parse (every answer dropped, "not answering" at the end).
    It is taken as an invitation without an offer: the crossing runs in plain SIMP."""
    net = net_with()
    net.drop(src="alice", dst="bob", nth=None)  # (bob's side is played by the datagrams injected)
    net.start("alice", "bob")
    net.inject("bob", "alice", wire.control(Op.SYN, 0, "bob", "SIMPX/1 a+b 0\n"))
    session = net["alice"].current
    assert session is not None and session.state is State.SYN_ACK_SENT
    assert session.mode is extension.Mode.PLAIN
    net.inject("bob", "alice", wire.control(Op.ACK, 0, "bob"))
    assert net["alice"].current.state is State.ESTABLISHED
    assert all(extension.parse(h.dg.payload)[0] is None for h in net.sent(src="alice", label="SYN+ACK"))
