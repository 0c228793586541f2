"""The scapy layers SIMP (7777) and SIMPControl (7778), and the `python -m simp.dissect` command."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Padding, Raw
from scapy.utils import wrpcap, wrpcapng

import simp
from sim.loopback import new_block
from simp import control, wire
from simp import events as ev
from simp.dissect import (
    SIMP,
    SIMPControl,
    extra_ports,
    field_order,
    install_plugin,
    main,
    malformed,
    plugin_path,
    simp_layer,
    undecoded,
)

ROOT = Path(simp.__file__).resolve().parent.parent

# The SPEC's byte-exact example: chat, sequence 0, user `test`, payload `Hello World`.
HELLO = bytes.fromhex("020100") + b"test" + b"\0" * 28 + bytes.fromhex("0000000b") + b"Hello World"


def udp(prefix: str, payload: bytes, sport: int = 7777, dport: int = 7777, host: int = 1) -> IP:
    """A datagram from host `host` to the other of the two hosts 127.X.Y.1 and 127.X.Y.2."""
    other = 3 - host
    return IP(src=f"{prefix}{host}", dst=f"{prefix}{other}") / UDP(sport=sport, dport=dport) / Raw(payload)


def dissected(packet: IP) -> IP:
    """The packet as a capture reader sees it: parsed back from its bytes."""
    return IP(bytes(packet))


def reason_of(data: bytes) -> str:
    with pytest.raises(wire.MalformedDatagram) as caught:
        wire.decode(data)
    return caught.value.reason


def control_reason_of(data: bytes) -> str:
    with pytest.raises(control.MalformedControl) as caught:
        control.decode(data)
    return caught.value.reason


# -- 7777: build, dissect, round trip ---------------------------------------------------------


def test_building_the_spec_example_gives_its_50_bytes() -> None:
    packet = SIMP(type="CHAT", op="MESSAGE", seq=0, user="test", text="Hello World")
    assert bytes(packet) == HELLO
    assert len(HELLO) == 50
    assert wire.encode(wire.chat(0, "test", "Hello World")) == HELLO


def test_the_spec_example_dissects_to_typed_fields() -> None:
    packet = SIMP(HELLO)
    assert (packet.type, packet.op, packet.seq, packet.length, packet.text) == (2, 1, 0, 11, b"Hello World")
    assert packet.user == b"test" + b"\0" * 28  # the wire bytes, so a rebuild is exact
    shown = packet.show(dump=True)
    assert "type      = CHAT" in shown
    assert "op        = MESSAGE" in shown
    assert "user      = 'test'" in shown
    assert packet.mysummary() == 'SIMP CHAT seq=0 test "Hello World"'
    assert malformed(packet) is None


def test_length_is_filled_in_on_build() -> None:
    assert SIMP(bytes(SIMP(type="CHAT", user="a", text="x" * 300))).length == 300
    assert bytes(SIMP(type="CONTROL", op="SYN", user="a"))[35:39] == b"\0\0\0\0"


DATAGRAMS = {
    "SYN": (wire.control(wire.Op.SYN, 0, "alice"), "SIMP SYN seq=0 alice"),
    "SYN+ACK": (wire.control(wire.Op.SYN_ACK, 0, "bob"), "SIMP SYN+ACK seq=0 bob"),
    "ACK": (wire.control(wire.Op.ACK, 1, "alice"), "SIMP ACK seq=1 alice"),
    "FIN": (wire.control(wire.Op.FIN, 1, "bob"), "SIMP FIN seq=1 bob"),
    "ERR": (
        wire.control(wire.Op.ERR, 0, "bob", "No user connected"),
        'SIMP ERR seq=0 bob "No user connected"',
    ),
    "CHAT": (wire.chat(1, "alice", "hi"), 'SIMP CHAT seq=1 alice "hi"'),
}


@pytest.mark.parametrize("label", DATAGRAMS)
def test_each_operation_round_trips_and_reads_in_ladder_notation(label: str) -> None:
    datagram, summary = DATAGRAMS[label]
    data = wire.encode(datagram)
    packet = SIMP(data)
    assert bytes(packet) == data
    assert packet.mysummary() == summary
    assert packet.datagram() == datagram
    built = SIMP(
        type=int(datagram.type),
        op=int(datagram.op),
        seq=datagram.seq,
        user=datagram.user,
        text=datagram.payload,
    )
    assert bytes(built) == data


def test_control_op_is_shown_as_flags_and_chat_op_as_message() -> None:
    synack = SIMP(wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob")))
    assert "op        = SYN+ACK" in synack.show(dump=True)
    assert synack.op.SYN and synack.op.ACK and not synack.op.FIN
    assert bytes(SIMP(type="CONTROL", op="SYN+ACK", user="bob")) == bytes(synack)
    assert "op        = MESSAGE" in SIMP(HELLO).show(dump=True)


def test_user_is_shown_without_nul_or_space_padding_and_rebuilt_exactly() -> None:
    spaced = HELLO[:3] + b"test".ljust(32) + HELLO[35:]  # a sloppy peer's padding, accepted by the SPEC
    packet = SIMP(spaced)
    assert "user      = 'test'" in packet.show(dump=True)
    assert packet.mysummary() == 'SIMP CHAT seq=0 test "Hello World"'
    assert bytes(packet) == spaced


def test_long_text_is_cut_in_the_summary_as_describe_cuts_it() -> None:
    datagram = wire.chat(0, "alice", "x" * 60)
    assert SIMP(wire.encode(datagram)).mysummary() == f"SIMP CHAT seq=0 alice {datagram.describe()[11:]}"
    assert SIMP(wire.encode(datagram)).mysummary().endswith('x..."')


def test_no_field_is_named_after_a_packet_attribute() -> None:
    names = {f.name for layer in (SIMP, SIMPControl) for f in layer.fields_desc}
    assert "payload" not in names and "time" not in names


# -- 7777: answers ----------------------------------------------------------------------------


def exchange(
    prefix: str, request: wire.Datagram, answer: wire.Datagram, reverse: bool = True
) -> tuple[IP, IP]:
    sent = dissected(udp(prefix, wire.encode(request), host=1))
    back = dissected(udp(prefix, wire.encode(answer), host=2 if reverse else 1))
    return sent, back


@pytest.mark.parametrize(
    "request_, answer",
    [
        (wire.chat(1, "alice", "hi"), wire.control(wire.Op.ACK, 1, "bob")),
        (wire.control(wire.Op.FIN, 0, "alice"), wire.control(wire.Op.ACK, 0, "bob")),
        (wire.control(wire.Op.SYN, 0, "alice"), wire.control(wire.Op.SYN_ACK, 0, "bob")),
        (wire.control(wire.Op.SYN, 0, "alice"), wire.control(wire.Op.FIN, 0, "bob")),
        (
            wire.control(wire.Op.SYN, 0, "alice"),
            wire.control(wire.Op.ERR, 0, "bob", "User already in another chat"),
        ),
    ],
)
def test_an_answer_matches_its_request(request_: wire.Datagram, answer: wire.Datagram) -> None:
    sent, back = exchange("127.0.0.", request_, answer)
    assert back.answers(sent)
    assert back.hashret() == sent.hashret()
    assert not sent.answers(back)


def test_an_ack_with_the_other_bit_or_in_the_same_direction_answers_nothing() -> None:
    chat = wire.chat(1, "alice", "hi")
    sent, other_bit = exchange("127.0.0.", chat, wire.control(wire.Op.ACK, 0, "bob"))
    assert not other_bit.answers(sent)
    sent, same_way = exchange("127.0.0.", chat, wire.control(wire.Op.ACK, 1, "alice"), reverse=False)
    assert not same_way.answers(sent)


# -- 7777: malformed --------------------------------------------------------------------------


def header(
    type_: int = 2, op: int = 1, seq: int = 0, user: bytes = b"test", length: int | None = None
) -> bytes:
    return wire.HEADER.pack(type_, op, seq, user, 0 if length is None else length)


MALFORMED_DATAGRAMS = {
    "one byte": HELLO[:1],
    "cut in the user": HELLO[:20],
    "one byte short of a header": HELLO[:38],
    "length says more": HELLO[:45],
    "length says less": HELLO + b"zz",
    "unknown type": header(type_=3),
    "control op not a control op": header(type_=1, op=0x10),
    "chat op not MESSAGE": header(op=2),
    "sequence 2": header(seq=2),
    "NUL inside user": header(user=b"a\0b"),
    "non-ASCII user": header(user=b"al\xe9"),
    "non-ASCII payload": header(length=2) + b"\xff\xfe",
}


@pytest.mark.parametrize("case", MALFORMED_DATAGRAMS)
def test_a_malformed_datagram_is_dissected_and_marked_with_the_codecs_reason(case: str) -> None:
    data = MALFORMED_DATAGRAMS[case]
    reason = reason_of(data)
    packet = dissected(udp("127.0.0.", data))
    layer = packet[SIMP]
    assert layer.malformed == reason
    assert malformed(packet) == reason
    assert layer.mysummary() == f"SIMP malformed ({reason})"
    assert f"malformed = {reason}" in layer.show(dump=True)
    assert bytes(layer) == data  # every byte is in a field
    assert not undecoded(packet)


def test_a_cut_datagram_shows_only_the_fields_it_carries() -> None:
    layer = SIMP(HELLO[:20])
    shown = layer.show(dump=True)
    assert "seq" in shown
    assert "user" not in shown and "length" not in shown and "text" not in shown
    assert layer.extra == HELLO[3:20]


def test_bytes_beyond_the_length_field_are_kept_as_extra() -> None:
    assert SIMP(HELLO + b"zz").extra == b"zz"
    assert SIMP(HELLO).extra is None


# -- 7778 -------------------------------------------------------------------------------------

PEER = ("127.0.0.2", 7777)
CONTROL_MESSAGES: dict[str, control.ControlMessage] = {
    "Connect": control.Connect(ident=1, user="alice"),
    "Start": control.Start(ident=2, host="127.0.0.2", port=7777),
    "Wait": control.Wait(ident=3),
    "Accept": control.Accept(ident=4),
    "Decline": control.Decline(ident=5),
    "Say": control.Say(ident=6, text="hello there"),
    "Quit": control.Quit(ident=7),
    "Disconnect": control.Disconnect(ident=8),
    "Heartbeat": control.Heartbeat(ident=9),
    "Status": control.Status(ident=10),
    "EventAck": control.EventAck(ident=11),
    "Reply": control.Reply(ident=12, ok=True, text="sent=3 received=2"),
    "Invitation": control.EventPacket(ident=13, event=ev.Invitation(peer=PEER, user="bob")),
    "ChatStarted": control.EventPacket(ident=14, event=ev.ChatStarted(peer=PEER, user="bob")),
    "MessageReceived": control.EventPacket(ident=15, event=ev.MessageReceived(user="", text="hi")),
    "MessageDelivered": control.EventPacket(ident=16, event=ev.MessageDelivered(msg_id=6)),
    "PeerError": control.EventPacket(ident=17, event=ev.PeerError(peer=PEER, text="No user connected")),
    "Undelivered": control.EventPacket(ident=18, event=ev.Undelivered(msg_id=6, text="lost")),
    "ChatEnded": control.EventPacket(
        ident=19, event=ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.PEER_LEFT)
    ),
}
EXPECTED_CONTROL_SUMMARIES = {
    "Connect": 'SIMP-CTL Connect id=1 user="alice"',
    "Start": 'SIMP-CTL Start id=2 host="127.0.0.2" port=7777',
    "Reply": 'SIMP-CTL Reply id=12 ok=1 text="sent=3 received=2"',
    "ChatEnded": 'SIMP-CTL ChatEnded id=19 host="127.0.0.2" port=7777 user="bob" reason=PEER_LEFT count=0',
    "Heartbeat": "SIMP-CTL Heartbeat id=9",
}


def test_every_control_kind_is_covered_by_these_tests() -> None:
    assert set(CONTROL_MESSAGES) == set(control.KIND_NAMES.values())


def flattened(data: bytes) -> dict[str, object]:
    """The kind-specific values as the codec's table names them, read with the codec itself."""
    kind = data[:1]
    spec = (control._REQUESTS | control._EVENTS)[kind][1]
    message = control.decode(data)
    holder = message.event if isinstance(message, control.EventPacket) else message
    values: dict[str, object] = {}
    for name, _ in spec:
        if name in ("host", "port") and hasattr(holder, "peer"):
            values[name] = holder.peer[0 if name == "host" else 1]
        elif name == "count":
            values[name] = message.undelivered_count
        else:
            values[name] = getattr(holder, name)
    return values


@pytest.mark.parametrize("kind", CONTROL_MESSAGES)
def test_each_control_kind_round_trips_with_its_fields_decoded(kind: str) -> None:
    data = control.encode(CONTROL_MESSAGES[kind])
    packet = SIMPControl(data)
    assert bytes(packet) == data
    assert control.KIND_NAMES[data[:1]] == kind
    assert f"kind      = {kind}" in packet.show(dump=True)
    assert packet.id == CONTROL_MESSAGES[kind].ident
    for name, value in flattened(data).items():
        field = packet.getfieldval(name)
        assert (field.decode() if isinstance(field, bytes) else field) == value, name
    assert malformed(packet) is None
    assert packet.mysummary().startswith(f"SIMP-CTL {kind} id={packet.id}")
    if kind in EXPECTED_CONTROL_SUMMARIES:
        assert packet.mysummary() == EXPECTED_CONTROL_SUMMARIES[kind]


def test_a_control_message_built_with_scapy_is_what_the_codec_decodes() -> None:
    built = SIMPControl(kind="Start", id=2, host="127.0.0.2", port=7777)
    assert bytes(built) == control.encode(CONTROL_MESSAGES["Start"])
    assert (
        control.decode(
            bytes(SIMPControl(kind="ChatEnded", id=5, host="h", port=1, user="u", reason="QUIT"))
        ).event.reason
        is ev.EndReason.QUIT
    )


def test_a_reply_answers_the_request_with_the_same_id_and_an_event_ack_the_event() -> None:
    say = SIMPControl(control.encode(control.Say(ident=6, text="hi")))
    event = SIMPControl(control.encode(CONTROL_MESSAGES["MessageReceived"]))
    assert SIMPControl(control.encode(control.Reply(ident=6, ok=True))).answers(say)
    assert not SIMPControl(control.encode(control.Reply(ident=7, ok=True))).answers(say)
    assert SIMPControl(control.encode(control.EventAck(ident=15))).answers(event)
    assert not SIMPControl(control.encode(control.Reply(ident=15, ok=True))).answers(event)
    assert not SIMPControl(control.encode(control.EventAck(ident=6))).answers(say)
    assert SIMPControl(kind="Reply", id=6).hashret() == say.hashret()


MALFORMED_CONTROL = {
    "too short": b"C\0\0",
    "unknown kind": b"Z\0\0\0\1abc",
    "string cut short": control.encode(CONTROL_MESSAGES["Connect"])[:-1],
    "length prefix cut": control.encode(CONTROL_MESSAGES["Connect"])[:6],
    "integer cut short": control.encode(CONTROL_MESSAGES["Start"])[:-1],
    "trailing bytes": control.encode(CONTROL_MESSAGES["Wait"]) + b"??",
    "non-ASCII text": b"M\0\0\0\1\0\2\xc3\xa9",
    "unknown end reason": control.encode(CONTROL_MESSAGES["ChatEnded"])[:-3] + b"\x63\0\0",
}


@pytest.mark.parametrize("case", MALFORMED_CONTROL)
def test_a_malformed_control_message_is_dissected_and_marked(case: str) -> None:
    data = MALFORMED_CONTROL[case]
    reason = control_reason_of(data)
    packet = dissected(udp("127.0.0.", data, sport=40000, dport=7778))
    layer = packet[SIMPControl]
    assert layer.malformed == reason
    assert layer.mysummary() == f"SIMP-CTL malformed ({reason})"
    assert f"malformed = {reason}" in layer.show(dump=True)
    assert bytes(layer) == data
    assert not undecoded(packet)


def test_field_order_merges_the_kinds_and_rejects_a_contradicting_table() -> None:
    assert field_order([[("a", "str")], [("b", "u8"), ("a", "str")]]) == [("b", "u8"), ("a", "str")]
    with pytest.raises(ValueError, match="inconsistently"):
        field_order([[("a", "str"), ("b", "u8")], [("b", "u8"), ("a", "str")]])
    with pytest.raises(ValueError, match="'a' is both"):
        field_order([[("a", "str")], [("a", "u8")]])


# -- bindings and capture helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sport", "dport", "layer"),
    [
        (7777, 7777, SIMP),
        (40000, 7777, SIMP),
        (7777, 40000, SIMP),
        (40000, 7778, SIMPControl),
        (7778, 40000, SIMPControl),
    ],
)
def test_importing_binds_both_layers_by_source_and_destination_port(
    sport: int, dport: int, layer: type
) -> None:
    payload = HELLO if layer is SIMP else control.encode(CONTROL_MESSAGES["Heartbeat"])
    assert isinstance(simp_layer(dissected(udp("127.0.0.", payload, sport=sport, dport=dport))), layer)


def test_building_over_udp_fills_in_the_simp_ports() -> None:
    built = dissected(IP() / UDP() / SIMP(type="CONTROL", op="SYN", user="a"))
    assert (built[UDP].sport, built[UDP].dport) == (7777, 7777)
    assert dissected(IP() / UDP(sport=40000) / SIMPControl())[UDP].dport == 7778


def test_undecoded_spots_bytes_left_to_raw_on_a_simp_port() -> None:
    assert undecoded(IP() / UDP(sport=40000, dport=7777) / Raw(HELLO))  # as a failed dissection leaves it
    assert not undecoded(dissected(udp("127.0.0.", HELLO)))
    assert not undecoded(dissected(udp("127.0.0.", b"dns?", sport=53, dport=53)))
    assert undecoded(dissected(udp("127.0.0.", HELLO)) / Raw(b"left over"))


def test_link_padding_is_not_undecoded_simp() -> None:
    frame = Ether(
        bytes(Ether() / IP() / UDP(sport=40000, dport=7778) / SIMPControl(kind="Heartbeat", id=1)) + bytes(9)
    )
    assert isinstance(frame[SIMPControl].payload, Padding)
    assert not undecoded(frame)
    assert malformed(frame) is None


def test_extra_ports_bind_for_the_duration_then_unbind_exactly() -> None:
    before = list(UDP.payload_guess)
    with extra_ports([9001, 7777], [9002]):
        assert isinstance(simp_layer(dissected(udp("127.0.0.", HELLO, sport=9001, dport=9001))), SIMP)
        assert isinstance(
            simp_layer(dissected(udp("127.0.0.", b"H\0\0\0\1", sport=1, dport=9002))), SIMPControl
        )
    assert UDP.payload_guess == before
    assert simp_layer(dissected(udp("127.0.0.", HELLO, sport=9001, dport=9001))) is None


# -- command line -----------------------------------------------------------------------------


def capture(path: Path, packets: list[IP], start: float = 1000.0, step: float = 0.25) -> Path:
    for index, packet in enumerate(packets):
        packet.time = start + index * step
    wrpcap(str(path), packets)
    return path


@pytest.fixture
def prefix() -> str:
    return new_block()


@pytest.fixture
def chat_capture(tmp_path: Path, prefix: str) -> Path:
    return capture(
        tmp_path / "chat.pcap",
        [
            udp(prefix, wire.encode(wire.control(wire.Op.SYN, 0, "alice")), host=1),
            udp(prefix, wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob")), host=2),
            udp(prefix, b"not simp", sport=5353, dport=5353),
            udp(prefix, wire.encode(wire.chat(1, "alice", "hi")), host=1),
            udp(prefix, control.encode(control.Say(ident=3, text="hi")), sport=40000, dport=7778),
            udp(prefix, HELLO[:5], host=2),
        ],
    )


def expected_lines(prefix: str) -> list[str]:
    a, b = f"{prefix}1", f"{prefix}2"
    return [
        f"0.000000 {a}:7777 > {b}:7777 SIMP SYN seq=0 alice",
        f"0.250000 {b}:7777 > {a}:7777 SIMP SYN+ACK seq=0 bob",
        f'0.750000 {a}:7777 > {b}:7777 SIMP CHAT seq=1 alice "hi"',
        f'1.000000 {a}:40000 > {b}:7778 SIMP-CTL Say id=3 text="hi"',
        f"1.250000 {b}:7777 > {a}:7777 SIMP malformed (too short: 5 bytes, header needs 39)",
    ]


def test_cli_prints_one_line_per_simp_packet(
    chat_capture: Path, prefix: str, capsys: pytest.CaptureFixture
) -> None:
    assert main([str(chat_capture)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == expected_lines(prefix)
    assert err == ""


def test_cli_reads_pcapng(tmp_path: Path, prefix: str, capsys: pytest.CaptureFixture) -> None:
    packet = udp(prefix, HELLO)
    packet.time = 5.0
    wrpcapng(str(tmp_path / "one.pcapng"), [packet])
    assert main([str(tmp_path / "one.pcapng")]) == 0
    assert (
        capsys.readouterr().out
        == f'0.000000 {prefix}1:7777 > {prefix}2:7777 SIMP CHAT seq=0 test "Hello World"\n'
    )


def test_cli_verbose_adds_the_field_view(chat_capture: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(chat_capture), "-v"]) == 0
    out = capsys.readouterr().out
    assert "###[ SIMP ]###" in out and "###[ SIMP control ]###" in out
    assert "op        = SYN+ACK" in out and "user      = 'alice'" in out
    assert "malformed = too short: 5 bytes, header needs 39" in out


def test_cli_prefixes_lines_with_the_file_when_given_several(
    chat_capture: Path, tmp_path: Path, prefix: str, capsys: pytest.CaptureFixture
) -> None:
    other = capture(tmp_path / "other.pcap", [udp(prefix, HELLO)])
    assert main([str(chat_capture), str(other)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{chat_capture}: {expected_lines(prefix)[0]}"
    assert lines[-1].startswith(f"{other}: 0.000000 ")


def test_cli_port_option_decodes_another_port_and_leaves_no_binding(
    tmp_path: Path, prefix: str, capsys: pytest.CaptureFixture
) -> None:
    path = capture(
        tmp_path / "ports.pcap",
        [udp(prefix, HELLO, sport=9777, dport=9777), udp(prefix, b"H\0\0\0\7", sport=40000, dport=9778)],
    )
    before = list(UDP.payload_guess)
    assert main([str(path)]) == 0
    assert capsys.readouterr().out == ""
    assert main([str(path), "--port", "9777", "--client-port", "9778"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f'0.000000 {prefix}1:9777 > {prefix}2:9777 SIMP CHAT seq=0 test "Hello World"',
        f"0.250000 {prefix}1:40000 > {prefix}2:9778 SIMP-CTL Heartbeat id=7",
    ]
    assert UDP.payload_guess == before


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "directory"])
def test_cli_unreadable_capture_is_one_error_line_and_exit_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / kind
    if kind == "text":
        path.write_text("this is not a capture\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    assert main([str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("python -m simp.dissect: error: cannot read capture") and str(path) in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["x.pcap", "--live", "lo"],
        ["x.pcap", "--count", "3"],
        ["--port", "70000", "x.pcap"],
        ["--live", "lo", "--timeout", "0"],
    ],
)
def test_cli_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_help_explains_every_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "FILE",
        "-v",
        "--port",
        "--client-port",
        "--live",
        "--count",
        "--timeout",
        "--filter",
        "--wireshark-plugin",
        "--install-wireshark-plugin",
        "pcapng",
        "malformed",
    ):
        assert option in text, option


def test_cli_prints_the_wireshark_plugin_path(capsys: pytest.CaptureFixture) -> None:
    assert main(["--wireshark-plugin"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == plugin_path() and path.name == "simp.lua" and path.is_file()


def test_cli_installs_the_plugin_into_the_personal_plugin_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["--install-wireshark-plugin"]) == 0
    installed = tmp_path / ".local" / "lib" / "wireshark" / "plugins" / "simp.lua"
    assert Path(capsys.readouterr().out.strip()) == installed
    assert installed.read_bytes() == plugin_path().read_bytes()
    elsewhere = install_plugin(tmp_path / "elsewhere")
    assert elsewhere.read_bytes() == plugin_path().read_bytes()


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "simp.dissect", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_cli_as_a_subprocess(chat_capture: Path, prefix: str, tmp_path: Path) -> None:
    done = run_cli(str(chat_capture))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == expected_lines(prefix)
    nowhere = tmp_path / "nope.pcap"
    missing = run_cli(str(nowhere))
    assert missing.returncode == 2
    assert missing.stdout == "" and "Traceback" not in missing.stderr
    assert missing.stderr.splitlines() == [
        f"python -m simp.dissect: error: cannot read capture '{nowhere}': No such file or directory"
    ]


def can_sniff() -> bool:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not can_sniff(), reason="live capture needs root or CAP_NET_RAW (AF_PACKET sockets)")
def test_cli_live_prints_packets_as_they_pass(prefix: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    argv = ["--live", "lo", "--count", "2", "--timeout", "30", "--filter", f"udp and host {prefix}1"]
    with subprocess.Popen(
        [sys.executable, "-m", "simp.dissect", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    ) as sniffer:
        try:
            with selectors.DefaultSelector() as selector:  # wait (bounded) until the capture is open
                assert sniffer.stderr is not None
                selector.register(sniffer.stderr, selectors.EVENT_READ)
                assert selector.select(timeout=30), "the sniffer did not start within 30 s"
            assert "listening on lo" in sniffer.stderr.readline()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((f"{prefix}1", 7777))
                sock.sendto(wire.encode(wire.chat(0, "alice", "one")), (f"{prefix}2", 7777))
                sock.sendto(wire.encode(wire.chat(1, "alice", "two")), (f"{prefix}2", 7777))
            out, err = sniffer.communicate(timeout=30)
        finally:
            sniffer.kill()
    assert sniffer.returncode == 0, err
    lines = out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        f'{prefix}1:7777 > {prefix}2:7777 SIMP CHAT seq=0 alice "one"',
        f'{prefix}1:7777 > {prefix}2:7777 SIMP CHAT seq=1 alice "two"',
    ]
