"""Dissectors on real traffic: every catalog capture (pcapng, as the harness writes it), and a live
capture of two real daemons."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from scapy.all import UDP, AsyncSniffer, Packet, rdpcap

from sim.loopback import new_block
from sim.runner import run_scenario
from sim.scenario import load_scenario
from simp import dissect
from tests.processes import ClientProcess, DaemonProcess, cleanup

CATALOG = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_every_catalog_pcap_decodes_with_nothing_left_undecoded(path: Path, tmp_path: Path) -> None:
    result = run_scenario(load_scenario(path))
    pcap = tmp_path / "capture.pcapng"
    result.trace.write_pcapng(pcap)
    packets = rdpcap(str(pcap))
    assert len(packets) > 0
    for packet in packets:
        assert packet.haslayer(UDP)
        assert dissect.simp_layer(packet) is not None, packet.summary()
        assert not dissect.undecoded(packet), packet.summary()
        summary = packet.summary()
        assert "SIMP" in summary


def _can_sniff() -> bool:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not _can_sniff(), reason="live capture needs root or CAP_NET_RAW (AF_PACKET sockets)")
def test_live_capture_of_two_daemons_decodes_handshake_message_and_ack() -> None:
    prefix = new_block()
    capturing = threading.Event()

    def chat_acknowledged(packet: Packet) -> bool:  # the last datagram the test waits for
        simp = packet.getlayer(dissect.SIMP)
        return simp is not None and simp.mysummary().startswith("SIMP ACK seq=0 bob [")

    sniffer = AsyncSniffer(iface="lo", filter=f"udp and net {prefix}0/24", started_callback=capturing.set,
                           stop_filter=chat_acknowledged)
    sniffer.start()
    assert capturing.wait(10), "the capture did not start within 10 s"
    procs = []
    try:
        procs += [DaemonProcess(prefix + "1"), DaemonProcess(prefix + "2")]
        bob = ClientProcess(prefix + "2", "bob")
        procs.append(bob)
        bob.send("w")
        bob.expect("waiting")
        alice = ClientProcess(prefix + "1", "alice")
        procs.append(alice)
        alice.send("s", prefix + "2")
        bob.expect("invitation from alice")
        bob.send("y")
        alice.expect("started")
        alice.send("sniff me")
        bob.expect("^alice: sniff me$")
        sniffer.join(timeout=15)  # the capture thread may lag behind the processes
    finally:
        cleanup(*procs)
        if sniffer.running:
            sniffer.stop()
    packets = sniffer.results
    summaries = [p[dissect.SIMP].mysummary() for p in packets if p.haslayer(dissect.SIMP)]
    for expected in ("SIMP SYN seq=0 alice", "SIMP SYN+ACK seq=0 bob", "SIMP ACK seq=0 alice",
                     'SIMP CHAT seq=0 alice "sniff me"', "SIMP ACK seq=0 bob"):
        assert any(s.startswith(expected) for s in summaries), (expected, summaries)
    simp_packets = [p for p in packets if p.haslayer(dissect.SIMP)]
    chat = next(p for p in simp_packets if "sniff me" in p[dissect.SIMP].mysummary())
    ack = next(p for p in simp_packets if p[dissect.SIMP].mysummary().startswith("SIMP ACK seq=0 bob ["))
    assert ack.answers(chat)
    # both daemons speak SIMPX/1 (docs/EXTENSION.md): the tag is decoded into fields of its own
    assert (chat[dissect.SIMP].simpx_counter, chat[dissect.SIMP].simpx_text) == (1, "sniff me")
    assert ack[dissect.SIMP].simpx_chat_id == chat[dissect.SIMP].simpx_chat_id
    assert ack[dissect.SIMP].simpx_counter == 1
