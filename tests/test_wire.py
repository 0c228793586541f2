"""The daemon-to-daemon codec (UDP 7777) against docs/PROTOCOL.md "Daemon to daemon: the datagram"."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simp import wire
from simp.wire import MESSAGE, Datagram, MalformedDatagram, Op, Type

HELLO_WORLD = b"\x02\x01\x00" + b"test" + b"\x00" * 28 + b"\x00\x00\x00\x0b" + b"Hello World"


def header(type_: int = 0x02, op: int = 0x01, seq: int = 0, user: bytes = b"test", length: int | None = None,
           payload: bytes = b"") -> bytes:
    """Raw bytes with any field values, valid or not (user is NUL padded unless 32 bytes long)."""
    size = len(payload) if length is None else length
    return bytes([type_, op, seq]) + user.ljust(32, b"\0") + struct.pack("!I", size) + payload


# -- the SPEC example ------------------------------------------------------------------------


def test_spec_hello_world_example_encodes_to_the_exact_50_bytes() -> None:
    dg = wire.chat(0, "test", "Hello World")
    assert wire.encode(dg) == HELLO_WORLD
    assert len(HELLO_WORLD) == 50


def test_spec_hello_world_example_decodes_to_a_chat_message() -> None:
    dg = wire.decode(HELLO_WORLD)
    assert dg == Datagram(type=Type.CHAT, op=MESSAGE, seq=0, user="test", payload="Hello World")
    assert dg.is_chat and dg.label == "CHAT"


def test_header_is_39_bytes_and_the_largest_payload_fills_one_udp_datagram() -> None:
    assert wire.HEADER_SIZE == 39
    assert wire.MAX_PAYLOAD == 65507 - 39 == 65468
    biggest = wire.chat(1, "u", "x" * wire.MAX_PAYLOAD)
    data = wire.encode(biggest)
    assert len(data) == 65507
    assert wire.decode(data) == biggest


@pytest.mark.parametrize(("op", "code"), [(Op.ERR, 0x01), (Op.SYN, 0x02), (Op.ACK, 0x04), (Op.FIN, 0x08),
                                          (Op.SYN_ACK, 0x06)])
def test_every_control_operation_has_the_spec_code_and_round_trips(op: Op, code: int) -> None:
    dg = wire.control(op, 1, "alice", "oops" if op is Op.ERR else "")
    data = wire.encode(dg)
    assert data[:3] == bytes([0x01, code, 0x01])
    assert data[3:35] == b"alice" + b"\0" * 27
    decoded = wire.decode(data)
    assert decoded == dg
    assert decoded.op is op and decoded.is_control(op)


def test_user_of_exactly_32_characters_fills_the_field_without_padding() -> None:
    name = "u" * 32
    data = wire.encode(wire.control(Op.SYN, 0, name))
    assert data[3:35] == name.encode()
    assert wire.decode(data).user == name


def test_describe_uses_the_ladder_notation() -> None:
    assert wire.chat(1, "a", "hi").describe() == 'CHAT seq=1 "hi"'
    assert wire.control(Op.SYN_ACK, 0, "a").describe() == "SYN+ACK seq=0"
    assert wire.control(Op.ERR, 0, "a", "busy").describe() == 'ERR seq=0 "busy"'
    assert wire.control(Op.FIN, 0, "a", "ignored").describe() == "FIN seq=0"
    long = wire.chat(0, "a", "x" * 100).describe()
    assert long == 'CHAT seq=0 "' + "x" * 37 + '..."'


# -- malformed datagrams -----------------------------------------------------------------------

MALFORMED = {
    "empty": (b"", "too short"),
    "one byte short of a header": (HELLO_WORLD[:38], "too short"),
    "unknown type 0x00": (header(type_=0x00), "unknown type"),
    "unknown type 0x03": (header(type_=0x03), "unknown type"),
    "unknown type 0xff": (header(type_=0xFF), "unknown type"),
    "chat with op 0x02": (header(type_=0x02, op=0x02), "not valid for type CHAT"),
    "chat with op 0x00": (header(type_=0x02, op=0x00), "not valid for type CHAT"),
    "control with op 0x00": (header(type_=0x01, op=0x00), "not valid for type CONTROL"),
    "control with op 0x03 (ERR+SYN)": (header(type_=0x01, op=0x03), "not valid for type CONTROL"),
    "control with op 0x0c (ACK+FIN)": (header(type_=0x01, op=0x0C), "not valid for type CONTROL"),
    "control with op 0x10": (header(type_=0x01, op=0x10), "not valid for type CONTROL"),
    "sequence 2": (header(seq=2), "neither 0 nor 1"),
    "sequence 0xff": (header(seq=0xFF), "neither 0 nor 1"),
    "length larger than what follows": (header(length=12, payload=b"Hello World"), "length field says 12"),
    "length smaller than what follows": (header(length=10, payload=b"Hello World"), "length field says 10"),
    "length set but nothing follows": (header(length=1), "but 0 bytes follow"),
    "non-ASCII user": (header(user=b"t\xe9st"), "non-ASCII user"),
    "non-ASCII payload": (header(payload=b"caf\xc3\xa9"), "non-ASCII payload"),
    "NUL inside the user name": (header(user=b"te\0st"), "NUL"),
    "NUL before space padding": (header(user=b"te\0st".ljust(32, b" ")), "NUL"),
}


@pytest.mark.parametrize(("data", "reason"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_datagram_raises_with_a_readable_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedDatagram) as info:
        wire.decode(data)
    assert reason in info.value.reason
    assert str(info.value) == info.value.reason
    assert isinstance(info.value, ValueError)


# -- leniencies for sloppy peers ---------------------------------------------------------------


def test_user_field_padded_with_spaces_is_accepted_and_stripped() -> None:
    data = header(user=b"test".ljust(32, b" "), payload=b"Hello World")
    assert wire.decode(data) == wire.chat(0, "test", "Hello World")


def test_user_field_padded_with_a_mix_of_spaces_and_nuls_is_stripped() -> None:
    data = header(user=b"test  \0 \0".ljust(32, b"\0"))
    assert wire.decode(data).user == "test"


def test_spaces_inside_a_user_name_are_kept() -> None:
    assert wire.decode(header(user=b"joe bloggs")).user == "joe bloggs"


@pytest.mark.parametrize("op", [Op.SYN, Op.ACK, Op.FIN, Op.SYN_ACK])
def test_payload_on_a_control_datagram_is_accepted_and_kept(op: Op) -> None:
    data = header(type_=0x01, op=op, payload=b"sloppy")
    decoded = wire.decode(data)
    assert decoded.op is op
    assert decoded.payload == "sloppy"


def test_empty_user_name_decodes_to_the_empty_string() -> None:
    assert wire.decode(header(user=b"")).user == ""


# -- encode refuses what cannot be sent --------------------------------------------------------

UNSENDABLE = {
    "control op 0x03": (Datagram(type=Type.CONTROL, op=0x03, seq=0, user="a"), "operation 0x03"),
    "chat op 0x02": (Datagram(type=Type.CHAT, op=0x02, seq=0, user="a"), "operation 0x02"),
    "unknown type": (Datagram(type=3, op=1, seq=0, user="a"), "not valid for type"),  # type: ignore[arg-type]
    "sequence 2": (wire.chat(2, "a", "x"), "sequence must be 0 or 1"),
    "sequence -1": (wire.chat(-1, "a", "x"), "sequence must be 0 or 1"),
    "non-ASCII user": (wire.chat(0, "zoë", "x"), "ASCII"),
    "non-ASCII payload": (wire.chat(0, "a", "naïve"), "ASCII"),
    "user of 33 bytes": (wire.chat(0, "u" * 33, "x"), "at most 32"),
    "NUL in user": (wire.chat(0, "a\0b", "x"), "without NUL"),
    "payload one byte too big": (wire.chat(0, "a", "x" * (wire.MAX_PAYLOAD + 1)), "exceeds the maximum"),
}


@pytest.mark.parametrize(("dg", "reason"), list(UNSENDABLE.values()), ids=list(UNSENDABLE))
def test_encode_rejects_unsendable_values_with_value_error(dg: Datagram, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        wire.encode(dg)


# -- user names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "alice", "u" * 32, "joe bloggs", "~!@#"])
def test_valid_user_names_are_accepted(name: str) -> None:
    assert wire.valid_user_name(name) is None


@pytest.mark.parametrize(("name", "why"), [("", "1 to 32"), ("u" * 33, "1 to 32"), ("zoë", "printable"),
                                           ("a\0b", "printable"), ("tab\t", "printable"),
                                           (" alice", "start or end"), ("alice ", "start or end")])
def test_invalid_user_names_are_refused_with_a_reason(name: str, why: str) -> None:
    reason = wire.valid_user_name(name)
    assert reason is not None and why in reason


# -- properties --------------------------------------------------------------------------------

printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
users = st.text(printable, max_size=32).filter(lambda u: not u.endswith(" "))
payloads = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=300)
kinds = st.sampled_from([(Type.CHAT, MESSAGE)] + [(Type.CONTROL, op) for op in Op])


@given(kind=kinds, seq=st.sampled_from([0, 1]), user=users, payload=payloads)
def test_every_valid_datagram_round_trips(kind: tuple[Type, int], seq: int, user: str, payload: str) -> None:
    dg = Datagram(type=kind[0], op=kind[1], seq=seq, user=user, payload=payload)
    data = wire.encode(dg)
    assert len(data) == 39 + len(payload)
    assert wire.decode(data) == dg


@given(st.binary(max_size=120))
def test_decode_of_arbitrary_bytes_raises_only_malformed_datagram(data: bytes) -> None:
    try:
        dg = wire.decode(data)
    except MalformedDatagram as exc:
        assert exc.reason
    else:
        assert wire.decode(wire.encode(dg)) == dg


@given(type_=st.sampled_from([0x01, 0x02]), op=st.integers(0, 255), seq=st.integers(0, 255),
       user=st.binary(max_size=32), payload=st.binary(max_size=40), slack=st.integers(-3, 3))
def test_decode_of_near_valid_headers_raises_only_malformed_datagram(
        type_: int, op: int, seq: int, user: bytes, payload: bytes, slack: int) -> None:
    length = max(0, len(payload) + slack)
    try:
        dg = wire.decode(header(type_=type_, op=op, seq=seq, user=user, length=length, payload=payload))
    except MalformedDatagram as exc:
        assert exc.reason
    else:
        assert length == len(payload)
        assert dg.seq in (0, 1) and dg.op in wire.VALID_OPS[type_]
