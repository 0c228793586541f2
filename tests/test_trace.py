"""Trace records and their renderings: JSON lines, pcap, text ladder, SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from sim.trace import Marker, Trace, describe_bytes
from simp import wire

SYN = wire.encode(wire.control(wire.Op.SYN, 0, "alice"))
SYN_ACK = wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob"))
ACK = wire.encode(wire.control(wire.Op.ACK, 0, "alice"))
HI = wire.encode(wire.chat(0, "alice", "hi"))
A_REAL, B_REAL = ("127.20.1.1", 7777), ("127.20.1.2", 7777)
A_ALIAS, B_ALIAS = ("127.20.1.101", 7777), ("127.20.1.102", 7777)


def leg(
    trace: Trace, t: float, n: int, src: str, dst: str, data: bytes, note: str = "", copy: int = 0
) -> None:
    """Record a received datagram and its plain forward (what the relay does without faults)."""
    s_real, d_alias = (A_REAL, B_ALIAS) if src == "alice" else (B_REAL, A_ALIAS)
    s_alias, d_real = (A_ALIAS, B_REAL) if src == "alice" else (B_ALIAS, A_REAL)
    trace.record(t, "received", src, dst, data, n=n, src_addr=s_real, dst_addr=d_alias)
    trace.record(t, "forwarded", src, dst, data, n=n, src_addr=s_alias, dst_addr=d_real)


def handshake_with_lost_syn_ack() -> Trace:
    trace = Trace(["alice", "bob"])
    leg(trace, 0.0, 1, "alice", "bob", SYN)
    trace.record(0.001, "received", "bob", "alice", SYN_ACK, n=2, src_addr=B_REAL, dst_addr=A_ALIAS)
    trace.record(0.001, "dropped", "bob", "alice", SYN_ACK, n=2, note="faults[0]: drop")
    leg(trace, 5.001, 3, "bob", "alice", SYN_ACK)
    trace.record(5.002, "received", "alice", "bob", ACK, n=4, src_addr=A_REAL, dst_addr=B_ALIAS)
    trace.record(5.002, "delayed", "alice", "bob", ACK, n=4, note="delayed 0.300s (faults[1])")
    trace.record(5.302, "forwarded", "alice", "bob", ACK, n=4, note="delayed 0.300s (faults[1])",
                 src_addr=A_ALIAS, dst_addr=B_REAL)  # fmt: skip
    trace.annotate(5.5, "bob", "chat started")
    return trace


def test_describe_bytes_uses_datagram_notation_or_the_malformation():
    assert describe_bytes(HI) == 'CHAT seq=0 "hi"'
    assert describe_bytes(b"\x01") == "malformed (too short: 1 bytes, header needs 39)"


def test_event_records_decoded_description_and_datagram():
    trace = Trace()
    event = trace.record(1.5, "received", "alice", "bob", HI, n=1)
    assert event.desc == 'CHAT seq=0 "hi"'
    assert event.datagram == wire.chat(0, "alice", "hi")
    assert trace.record(2, "received", "alice", "bob", b"junk", n=2).datagram is None


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="unknown trace action 'lost'"):
        Trace().record(0, "lost", "a", "b", SYN)


def test_jsonl_has_one_sorted_object_per_event_without_addresses(tmp_path):
    trace = handshake_with_lost_syn_ack()
    path = tmp_path / "t.jsonl"
    trace.write_jsonl(path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(trace.events)
    first = json.loads(lines[0])
    assert first == {
        "action": "received", "bytes": SYN.hex(), "copy": 0, "desc": "SYN seq=0", "dst": "bob",
        "n": 1, "note": "", "src": "alice", "t": 0.0,
    }  # fmt: skip
    assert list(json.loads(lines[3])) == sorted(json.loads(lines[3]))
    assert "127.20" not in path.read_text()
    again = tmp_path / "again.jsonl"
    handshake_with_lost_syn_ack().write_jsonl(again)
    assert again.read_bytes() == path.read_bytes()


def test_sent_and_dropped_queries():
    trace = handshake_with_lost_syn_ack()
    assert [e.n for e in trace.sent()] == [1, 2, 3, 4]
    assert trace.dropped(2) and not trace.dropped(3)


def test_text_ladder_shows_arrows_drops_delays_and_notes():
    text = handshake_with_lost_syn_ack().ladder(width=30)
    lines = text.splitlines()
    assert lines[0].split() == ["time(s)", "alice", "bob"]
    assert (
        lines[1].startswith("   0.000") and "├" in lines[1] and " SYN seq=0 " in lines[1] and "▶│" in lines[1]
    )
    assert (
        "│✗" in lines[2] and "SYN+ACK seq=0" in lines[2] and lines[2].endswith("#2 dropped: faults[0]: drop")
    )
    assert "│◀" in lines[3] and lines[3].endswith("#3")
    assert "⋯│" in lines[4] and lines[4].endswith("#4 delayed 0.300s (faults[1])")
    assert lines[5].startswith("   5.302") and "┄" in lines[5] and "▶│" in lines[5]
    assert lines[6].startswith("   5.500") and "●" in lines[6] and lines[6].endswith("bob: chat started")
    assert len(lines) == 7


def test_ladder_arrows_line_up_with_host_columns():
    lines = handshake_with_lost_syn_ack().ladder(width=30).splitlines()
    alice_col, bob_col = lines[0].index("alice") + 2, lines[0].index("bob") + 1
    for line in lines[1:6]:
        assert line[alice_col] in "├│" and line[bob_col] in "│┤"


def test_ladder_exact_rendering_of_one_exchange():
    trace = Trace(["alice", "bob"])
    leg(trace, 0.0, 1, "alice", "bob", SYN)
    leg(trace, 0.25, 2, "bob", "alice", SYN_ACK)
    assert trace.ladder(width=24) == (
        "  time(s)  alice                    bob\n"
        "   0.000     ├────── SYN seq=0 ─────▶│  #1\n"
        "   0.250     │◀─── SYN+ACK seq=0 ────┤  #2\n"
    )


def test_marker_line_is_placed_by_time():
    lines = (
        handshake_with_lost_syn_ack()
        .ladder([Marker(5.0, "expected: bob > alice SYN+ACK at +5s")])
        .splitlines()
    )
    assert lines[3] == "   5.000  ══ ✗ expected: bob > alice SYN+ACK at +5s ══"
    assert lines[2].startswith("   0.001") and lines[4].startswith("   5.001")


def test_unknown_sender_and_third_host_columns():
    trace = Trace(["alice", "bob"])
    trace.record(1.0, "unknown", "127.9.9.9:9999", "bob", SYN, n=1)
    trace.record(2.0, "received", "carol", "alice", SYN, n=2)
    trace.record(2.0, "forwarded", "carol", "alice", SYN, n=2)
    text = trace.ladder(width=20)
    head = text.splitlines()[0].split()
    assert head == ["time(s)", "alice", "bob", "carol"]
    assert "from unknown 127.9.9.9:9999, dropped: SYN seq=0 to bob" in text
    assert "◀" in text.splitlines()[2]


def test_long_labels_are_shortened_to_fit():
    trace = Trace(["alice", "bob"])
    leg(trace, 0.0, 1, "alice", "bob", wire.encode(wire.chat(0, "alice", "x" * 40)))
    line = trace.ladder(width=24).splitlines()[1]
    assert "…" in line and line.index("▶") == line.index("│", line.index("├") + 1) - 1


def test_svg_is_well_formed_and_shows_everything(tmp_path):
    trace = handshake_with_lost_syn_ack()
    path = tmp_path / "t.svg"
    trace.write_svg(path, [Marker(5.0, "expected X")], title="lost SYN+ACK")
    root = ET.fromstring(path.read_text())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for expected in (
        "lost SYN+ACK",
        "alice",
        "bob",
        "SYN seq=0",
        "SYN+ACK seq=0",
        "✗ expected X",
        "bob: chat started",
    ):
        assert expected in texts
    assert "✗" in texts  # the drop
