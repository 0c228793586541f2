"""The client-daemon codec (UDP 7778): every kind round-trips; malformed input raises MalformedControl."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simp import control as ctl
from simp import events as ev
from simp.control import MalformedControl

PEER = ("10.0.0.2", 7777)

REQUESTS: list[ctl.ControlMessage] = [
    ctl.Connect(ident=1, user="alice"),
    ctl.Start(ident=2, host="10.0.0.2", port=7777),
    ctl.Wait(ident=3),
    ctl.Accept(ident=4),
    ctl.Decline(ident=5),
    ctl.Say(ident=6, text="Hello World"),
    ctl.Say(ident=7, text=""),
    ctl.Quit(ident=8),
    ctl.Disconnect(ident=9),
    ctl.Heartbeat(ident=10),
    ctl.Status(ident=11),
    ctl.EventAck(ident=12),
    ctl.Reply(ident=13, ok=True, text="queued"),
    ctl.Reply(ident=0xFFFFFFFF, ok=False, text="not in a chat or an invitation"),
]

EVENTS: list[ctl.ControlMessage] = [
    ctl.EventPacket(ident=1, event=ev.Invitation(peer=PEER, user="bob")),
    ctl.EventPacket(ident=2, event=ev.ChatStarted(peer=PEER, user="bob")),
    ctl.EventPacket(ident=3, event=ev.MessageReceived(user="", text="hi there")),  # user: from the handshake
    ctl.EventPacket(ident=4, event=ev.MessageDelivered(msg_id=0xFFFFFFFF)),
    ctl.EventPacket(ident=5, event=ev.PeerError(peer=PEER, text="User already in another chat")),
    ctl.EventPacket(ident=6, event=ev.Undelivered(msg_id=7, text="lost words")),
    *(ctl.EventPacket(ident=10 + r, event=ev.ChatEnded(peer=PEER, user="bob", reason=r))
      for r in ev.EndReason),
    ctl.EventPacket(ident=30, event=ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.NOT_ANSWERING),
                    undelivered_count=3),
]


@pytest.mark.parametrize("msg", REQUESTS + EVENTS, ids=lambda m: type(getattr(m, "event", m)).__name__)
def test_every_message_kind_round_trips(msg: ctl.ControlMessage) -> None:
    assert ctl.decode(ctl.encode(msg)) == msg


def test_every_kind_of_the_codec_table_is_covered_by_the_round_trip_test() -> None:
    covered = {ctl.encode(m)[:1] for m in REQUESTS + EVENTS}
    assert covered == set(ctl.KIND_NAMES)


def test_chat_ended_with_undelivered_messages_travels_as_a_count() -> None:
    ended = ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.PEER_LEFT,
                         undelivered=(ev.Undelivered(msg_id=1, text="a"), ev.Undelivered(msg_id=2, text="b")))
    decoded = ctl.decode(ctl.encode(ctl.EventPacket(ident=9, event=ended)))
    assert decoded == ctl.EventPacket(ident=9, event=ev.ChatEnded(peer=PEER, user="bob",
                                                                  reason=ev.EndReason.PEER_LEFT),
                                      undelivered_count=2)


def test_decoded_chat_ended_reencodes_to_the_same_bytes() -> None:
    ended = ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.QUIT,
                         undelivered=(ev.Undelivered(msg_id=1, text="a"),))
    data = ctl.encode(ctl.EventPacket(ident=9, event=ended))
    assert ctl.encode(ctl.decode(data)) == data  # type: ignore[arg-type]


# -- byte-exact layout (README documents it) ---------------------------------------------------


def test_connect_is_kind_id_and_a_length_prefixed_user_name() -> None:
    assert ctl.encode(ctl.Connect(ident=1, user="alice")) == b"C\x00\x00\x00\x01\x00\x05alice"


def test_start_carries_host_then_port_big_endian() -> None:
    assert ctl.encode(ctl.Start(ident=258, host="1.2.3.4", port=7777)) == \
        b"S\x00\x00\x01\x02\x00\x071.2.3.4\x1e\x61"


def test_reply_and_chat_ended_bytes() -> None:
    assert ctl.encode(ctl.Reply(ident=5, ok=True, text="ok")) == b"R\x00\x00\x00\x05\x01\x00\x02ok"
    ended = ev.ChatEnded(peer=("1.2.3.4", 7777), user="bob", reason=ev.EndReason.PEER_LEFT,
                         undelivered=(ev.Undelivered(msg_id=1, text="a"),))
    assert ctl.encode(ctl.EventPacket(ident=7, event=ended)) == (
        b"x\x00\x00\x00\x07" + b"\x00\x071.2.3.4" + b"\x1e\x61" + b"\x00\x03bob" + b"\x02" + b"\x00\x01")


# -- refusing bad input ------------------------------------------------------------------------

MALFORMED = {
    "empty": (b"", "too short"),
    "no id": (b"C\x00\x00", "too short"),
    "unknown kind": (b"Z\x00\x00\x00\x01", "unknown kind"),
    "lower-case request kind": (b"c\x00\x00\x00\x01", "cut short"),
    "string length beyond the end": (b"C\x00\x00\x00\x01\x00\x09alice", "cut short"),
    "string length missing": (b"C\x00\x00\x00\x01\x00", "cut short"),
    "port missing": (b"S\x00\x00\x00\x01\x00\x011", "cut short"),
    "trailing bytes": (b"W\x00\x00\x00\x01!", "trailing"),
    "non-ASCII text": (b"M\x00\x00\x00\x01\x00\x02\xc3\xa9", "not ASCII"),
    "unknown end reason": (b"x\x00\x00\x00\x01\x00\x011\x00\x01\x00\x01b\x63\x00\x00", "unknown end reason"),
    "end reason zero": (b"x\x00\x00\x00\x01\x00\x011\x00\x01\x00\x01b\x00\x00\x00", "unknown end reason"),
}


@pytest.mark.parametrize(("data", "reason"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_control_message_raises_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedControl) as info:
        ctl.decode(data)
    assert reason in info.value.reason


@pytest.mark.parametrize("msg", [ctl.Say(ident=1, text="naïve"), ctl.Connect(ident=1, user="zoë"),
                                 ctl.Start(ident=1, host="h", port=70000), ctl.Say(ident=-1, text="x"),
                                 ctl.Say(ident=1, text="x" * 70000),
                                 ctl.EventPacket(ident=1, event=ev.ChatEnded(peer=PEER, user="b",
                                                                             reason=ev.EndReason.QUIT),
                                                 undelivered_count=70000)],
                         ids=["non-ASCII text", "non-ASCII user", "port too big", "negative id",
                              "bigger than a datagram", "count too big"])
def test_encode_rejects_unsendable_values_with_value_error(msg: ctl.ControlMessage) -> None:
    with pytest.raises(ValueError):
        ctl.encode(msg)


# -- properties --------------------------------------------------------------------------------

ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=60)
u32 = st.integers(0, 0xFFFFFFFF)
peers = st.tuples(ascii_text, st.integers(0, 0xFFFF))
events = st.one_of(
    st.builds(ev.Invitation, peer=peers, user=ascii_text),
    st.builds(ev.ChatStarted, peer=peers, user=ascii_text),
    st.builds(ev.MessageReceived, user=st.just(""), text=ascii_text),
    st.builds(ev.MessageDelivered, msg_id=u32),
    st.builds(ev.PeerError, peer=peers, text=ascii_text),
    st.builds(ev.Undelivered, msg_id=u32, text=ascii_text),
)
messages = st.one_of(
    st.builds(ctl.Connect, ident=u32, user=ascii_text),
    st.builds(ctl.Start, ident=u32, host=ascii_text, port=st.integers(0, 0xFFFF)),
    st.builds(ctl.Say, ident=u32, text=ascii_text),
    st.builds(ctl.Reply, ident=u32, ok=st.booleans(), text=ascii_text),
    *(st.builds(cls, ident=u32) for cls in (ctl.Wait, ctl.Accept, ctl.Decline, ctl.Quit, ctl.Disconnect,
                                           ctl.Heartbeat, ctl.Status, ctl.EventAck)),
    st.builds(ctl.EventPacket, ident=u32, event=events),
    st.builds(ctl.EventPacket, ident=u32, undelivered_count=st.integers(0, 0xFFFF),
              event=st.builds(ev.ChatEnded, peer=peers, user=ascii_text,
                              reason=st.sampled_from(ev.EndReason))),
)


@given(messages)
def test_every_valid_message_round_trips(msg: ctl.ControlMessage) -> None:
    assert ctl.decode(ctl.encode(msg)) == msg


@given(st.binary(max_size=80))
def test_decode_of_arbitrary_bytes_raises_only_malformed_control(data: bytes) -> None:
    try:
        msg = ctl.decode(data)
    except MalformedControl as exc:
        assert exc.reason
    else:
        assert isinstance(msg, ctl.Request | ctl.Reply | ctl.EventPacket)


@given(kind=st.sampled_from(sorted(ctl.KIND_NAMES)), rest=st.binary(max_size=40))
def test_decode_of_every_kind_with_arbitrary_fields_raises_only_malformed_control(kind: bytes,
                                                                                  rest: bytes) -> None:
    try:
        msg = ctl.decode(kind + b"\x00\x00\x00\x01" + rest)
    except MalformedControl as exc:
        assert exc.reason
    else:
        assert ctl.KIND_NAMES[kind] in (type(msg).__name__, type(getattr(msg, "event", None)).__name__)
