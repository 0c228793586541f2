"""Captures as Wireshark users read them: pcapng with host names and comments on faulted datagrams."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.utils import rdpcap

from sim.capture import comments, host_names
from sim.runner import run_scenario
from sim.scenario import parse_scenario
from simp.dissect import capture_names
from simp.dissect import main as dissect_main
from tests.test_trace import handshake_with_lost_syn_ack

LOST_CHAT = """
name: lost chat
hosts: [alice, bob]
faults:
  - {match: {type: chat, from: alice}, nth: 1, drop: true}
  - {match: {op: ACK, from: bob}, nth: 1, delay: 2s}
steps:
  - bob: wait
  - alice: start bob
  - bob: accept
  - alice: say "hi"
  - alice: wait-until delivered "hi" within 30s
"""


@pytest.mark.parametrize("suffix", ["pcapng", "pcap"])
def test_capture_has_both_legs_real_addresses_virtual_times_and_right_checksums(
        tmp_path: Path, suffix: str) -> None:
    trace = handshake_with_lost_syn_ack()
    path = tmp_path / f"t.{suffix}"
    getattr(trace, f"write_{suffix}")(path)
    packets = rdpcap(str(path))
    on_wire = [e for e in trace.events if e.action in ("received", "forwarded")]
    assert len(packets) == len(on_wire) == 7
    for pkt, event in zip(packets, on_wire, strict=True):
        assert (pkt[IP].src, pkt[UDP].sport) == event.src_addr
        assert (pkt[IP].dst, pkt[UDP].dport) == event.dst_addr
        assert bytes(pkt[UDP].payload) == event.data
        assert float(pkt.time) == pytest.approx(event.t, abs=1e-6)
        fresh = IP(bytes(pkt[IP]))  # checksums as written are what scapy computes
        del fresh.chksum, fresh[UDP].chksum
        assert IP(bytes(fresh)).chksum == pkt[IP].chksum
        assert IP(bytes(fresh))[UDP].chksum == pkt[UDP].chksum


def test_names_come_from_the_legs_real_address_is_the_host_relay_address_is_host_dot_relay() -> None:
    names = host_names(handshake_with_lost_syn_ack().events)
    assert names == {
        "127.20.1.1": "alice",
        "127.20.1.2": "bob",
        "127.20.1.101": "alice.relay",
        "127.20.1.102": "bob.relay",
    }


def test_faulted_datagrams_carry_a_comment_and_plain_ones_none(tmp_path: Path) -> None:
    trace = handshake_with_lost_syn_ack()
    path = tmp_path / "t.pcapng"
    trace.write_pcapng(path)
    got = [[c.decode() for c in (p.comments or [])] for p in rdpcap(str(path))]
    assert got == [
        [],
        [],  # SYN: untouched
        ["#2 dropped by faults[0] (drop)"],  # leg 1 of the lost SYN+ACK; it has no leg 2
        [],
        [],  # the retransmitted SYN+ACK
        ["#4 delayed 0.300s (faults[1])"],  # leg 1 of the delayed ACK...
        ["#4 delayed 0.300s (faults[1])"],  # ...and its late leg 2
    ]


def test_capture_names_reads_the_name_block_and_a_classic_pcap_has_none(tmp_path: Path) -> None:
    trace = handshake_with_lost_syn_ack()
    trace.write_pcapng(tmp_path / "t.pcapng")
    trace.write_pcap(tmp_path / "t.pcap")
    assert capture_names(tmp_path / "t.pcapng") == host_names(trace.events)
    assert capture_names(tmp_path / "t.pcap") == {}
    assert capture_names(tmp_path / "missing.pcapng") == {}


def test_dissector_cli_shows_names_and_comments_and_numbers_with_n(tmp_path: Path, capsys) -> None:
    handshake_with_lost_syn_ack().write_pcapng(tmp_path / "t.pcapng")
    assert dissect_main([str(tmp_path / "t.pcapng")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "0.000000 alice:7777 > bob.relay:7777 SIMP SYN seq=0 alice"
    assert lines[1] == "0.000000 alice.relay:7777 > bob:7777 SIMP SYN seq=0 alice"
    dropped = "0.001000 bob:7777 > alice.relay:7777 SIMP SYN+ACK seq=0 bob  [#2 dropped by faults[0] (drop)]"
    assert lines[2] == dropped
    assert dissect_main(["-n", str(tmp_path / "t.pcapng")]) == 0
    numeric = capsys.readouterr().out.splitlines()
    assert numeric[0] == "0.000000 127.20.1.1:7777 > 127.20.1.102:7777 SIMP SYN seq=0 alice"


def test_a_scenario_run_comments_every_dropped_and_delayed_datagram() -> None:
    result = run_scenario(parse_scenario(LOST_CHAT))
    notes = comments(result.trace.events)
    texts = sorted(set(notes.values()))
    assert any(t.endswith("dropped by faults[0] (drop)") for t in texts), texts
    assert any("delayed 2.000s (faults[1])" in t for t in texts), texts
    faulted = {e.n for e in result.trace.events if e.action in ("dropped", "delayed")}
    commented = {result.trace.events[i].n for i in notes}
    assert faulted == commented


def test_tshark_shows_host_names_and_packet_comments(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        if os.environ.get("CI"):
            pytest.fail("tshark is not on PATH although CI is set: the CI job must install tshark")
        pytest.skip("tshark is not installed (CI installs it; with CI set this test fails instead)")
    path = tmp_path / "t.pcapng"
    handshake_with_lost_syn_ack().write_pcapng(path)
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        [tshark, "-r", str(path), "-N", "n", "-T", "fields", "-E", "separator=|",
         "-e", "ip.src_host", "-e", "ip.dst_host", "-e", "frame.comment"],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )  # fmt: skip
    rows = [line.split("|") for line in done.stdout.splitlines()]
    assert rows[0] == ["alice", "bob.relay", ""]
    assert rows[1] == ["alice.relay", "bob", ""]
    assert rows[2] == ["bob", "alice.relay", "#2 dropped by faults[0] (drop)"]
