"""Ladders that read well: folding, label placement, wrapping, legend, time axis, Mermaid."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sim.ladder import FOLD_MIN, QUIET_KEEP, QUIET_MIN, rows
from sim.ladder_mermaid import markdown
from sim.ladder_svg import CHAR_W, NOTE_CHARS
from sim.trace import Marker, Trace
from simp import wire
from tests.test_trace import handshake_with_lost_syn_ack, leg

NS = "{http://www.w3.org/2000/svg}"


def exchanges(count: int) -> Trace:
    """`count` messages from alice, each acknowledged, as a plain relay records them."""
    trace = Trace(["alice", "bob"])
    n = 0
    for i in range(count):
        seq = i % 2
        trace.annotate(i * 0.1, "alice", f'> say "m{i:03}"')
        n += 1
        leg(trace, i * 0.1, n, "alice", "bob", wire.encode(wire.chat(seq, "alice", f"m{i:03}")))
        n += 1
        leg(trace, i * 0.1, n, "bob", "alice", wire.encode(wire.control(wire.Op.ACK, seq, "bob")))
    return trace


def height(svg: str) -> float:
    return float(re.search(r'height="(\d+)"', svg).group(1))


def test_fifty_identical_exchanges_fold_to_a_few_rows() -> None:
    trace = exchanges(50)
    folded, full = rows(trace.events), rows(trace.events, fold=False)
    assert len(full) == 150
    assert len(folded) == 3 + 1 + 3  # the first exchange, the fold, the last exchange
    fold = folded[3]
    assert fold.kind == "fold" and fold.note.startswith("48 more like the 3 rows above")
    assert "#3..#98" in fold.note
    assert height(trace.svg()) < 700 < 2000 < height(trace.svg(fold=False))
    text = trace.ladder()
    assert "48 more like the 3 rows above" in text and '"m049"' in text and '"m025"' not in text


def test_short_repeats_and_markers_are_never_folded() -> None:
    trace = exchanges(FOLD_MIN - 1)
    assert all(r.kind != "fold" for r in rows(trace.events))
    marked = rows(exchanges(50).events, [Marker(2.0, "expected something")])
    assert any(r.kind == "marker" and r.note == "expected something" for r in marked)


def labels_and_lifelines(svg: str) -> tuple[list[tuple[float, str]], list[float]]:
    root = ET.fromstring(svg)
    lifelines = [float(line.get("x1")) for line in root.iter(f"{NS}line") if line.get("class") == "l"]
    labels = [(float(t.get("x")), t.text or "") for t in root.iter(f"{NS}text") if t.get("class") is None]
    return labels, lifelines


def test_no_datagram_label_crosses_another_hosts_lifeline() -> None:
    trace = Trace(["alice", "bob", "carol", "dave"])
    long_text = "a message long enough to be cut to the gap between two hosts"
    trace.record(0.0, "received", "alice", "dave", wire.encode(wire.chat(0, "alice", long_text)), n=1)
    trace.record(0.0, "forwarded", "alice", "dave", wire.encode(wire.chat(0, "alice", long_text)), n=1)
    trace.record(1.0, "received", "dave", "alice", wire.encode(wire.control(wire.Op.ACK, 0, "dave")), n=2)
    trace.record(1.0, "forwarded", "dave", "alice", wire.encode(wire.control(wire.Op.ACK, 0, "dave")), n=2)
    trace.record(2.0, "received", "carol", "bob", wire.encode(wire.control(wire.Op.SYN, 0, "carol")), n=3)
    trace.record(2.0, "dropped", "carol", "bob", wire.encode(wire.control(wire.Op.SYN, 0, "carol")), n=3)
    labels, lifelines = labels_and_lifelines(trace.svg())
    assert len(lifelines) == 4 and len(labels) == 3
    for x, text in labels:
        half = len(text) * CHAR_W / 2
        assert not any(x - half < line < x + half for line in lifelines), (text, x, lifelines)
    assert any(text.endswith("…") for _, text in labels)  # the long one was cut to its gap


def test_long_notes_and_failures_wrap_and_the_legend_explains_the_marks() -> None:
    trace = handshake_with_lost_syn_ack()
    trace.annotate(6.0, "alice", "* message " + "x" * (2 * NOTE_CHARS))
    failure = "delivered to bob: " + "a very long explanation " * 20
    root = ET.fromstring(trace.svg([Marker(6.0, failure)]))
    texts = [t.text or "" for t in root.iter(f"{NS}text")]
    assert all(len(t) <= NOTE_CHARS for t in texts if t.startswith("alice: * message") or t.startswith("xx"))
    assert sum(t.startswith("x" * 10) for t in texts) >= 2  # the note went on over more lines
    width = float(root.get("width"))
    marker_lines = [t for t in texts if "a very long explanation" in t]
    assert len(marker_lines) >= 2 and all(len(t) * CHAR_W < width for t in marker_lines)
    legend = (
        "delivered", "late or extra copy", "dropped", "failed expectation",
        "rows folded (repeats, or nothing lost)",
    )
    for meaning in legend:
        assert meaning in texts


def row_y(svg: str, stamp: str) -> float:
    root = ET.fromstring(svg)
    return next(float(t.get("y")) for t in root.iter(f"{NS}text") if t.text == stamp)


def test_time_proportional_axis_spaces_rows_by_time() -> None:
    trace = handshake_with_lost_syn_ack()  # rows at 0.000, 0.001 and 5.001
    plain, timed = trace.svg(), trace.svg(timed=True)
    gap_plain = row_y(plain, "5.001") - row_y(plain, "0.001")
    gap_timed = row_y(timed, "5.001") - row_y(timed, "0.001")
    assert gap_timed > gap_plain + 100
    assert row_y(timed, "0.001") - row_y(timed, "0.000") < 40  # an instant apart stays one row apart


def test_mermaid_sequence_diagram_shows_fates_notes_markers_and_folds() -> None:
    trace = handshake_with_lost_syn_ack()
    trace.annotate(6.0, "alice", '> say "a; b #1"')
    text = trace.mermaid([Marker(5.0, "expected: bob > alice SYN+ACK")])
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert lines[1:3] == ["    participant alice", "    participant bob"]
    assert "    alice->>bob: 0.000s SYN seq=0 (#35;1)" in lines
    assert any(line.startswith("    bob-xalice: 0.001s SYN+ACK seq=0") for line in lines)
    assert any(line.startswith("    alice--)bob: 5.002s ACK seq=0") for line in lines)  # in flight
    assert any(line.startswith("    alice-->>bob: 5.302s ACK seq=0") for line in lines)  # its late arrival
    assert "    Note over alice,bob: ✗ expected: bob > alice SYN+ACK" in lines
    assert '    Note over alice: 6.000s > say "a#59; b #35;1"' in lines
    folded = exchanges(50).mermaid()
    assert "    Note over alice,bob: ⋮ 48 more like the 3 rows above" in folded
    page = markdown(text, "lost SYN+ACK")
    assert page.startswith("# lost SYN+ACK\n\n```mermaid\nsequenceDiagram\n") and page.endswith("```\n")


def test_a_long_note_never_makes_a_multi_kilobyte_text_ladder_line() -> None:
    trace = handshake_with_lost_syn_ack()
    trace.annotate(6.0, "bob", '* message "' + "y" * 4000 + '"')
    lines = trace.ladder().splitlines()
    assert max(len(line) for line in lines) < 300
    assert any(line.endswith("…") for line in lines)


def test_a_long_uneventful_stretch_is_folded_but_losses_and_late_copies_stay() -> None:
    trace = Trace(["alice", "bob"])
    n = 0
    for i in range(40):  # no exact repeats: alice and bob take turns unevenly
        sender, receiver = ("alice", "bob") if i % 3 else ("bob", "alice")
        n += 1
        leg(trace, i * 0.1, n, sender, receiver, wire.encode(wire.chat(i % 2, sender, f"t{i}")))
        if i % 5 == 0:
            trace.annotate(i * 0.1, receiver, f'* message "t{i}"')
    n += 1
    trace.record(5.0, "received", "alice", "bob", wire.encode(wire.chat(0, "alice", "lost")), n=n)
    trace.record(5.0, "dropped", "alice", "bob", wire.encode(wire.chat(0, "alice", "lost")), n=n,
                 note="faults[0]: drop")  # fmt: skip
    shown = rows(trace.events)
    folds = [r for r in shown if r.kind == "fold"]
    assert len(folds) == 1 and "rows where nothing was lost or late" in folds[0].note
    hidden = len(rows(trace.events, fold=False)) - (len(shown) - 1)
    assert hidden >= QUIET_MIN - 2 * QUIET_KEEP
    assert f"{hidden} rows where nothing was lost or late" in folds[0].note
    assert any(r.head == "✗" and r.label.startswith("CHAT seq=0") for r in shown)  # the loss is kept
