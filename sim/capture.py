"""Captures of a harness run that Wireshark, tshark, tcpdump and `python -m simp.dissect` read.

Every datagram crosses the wire twice, because the relay sits between the daemons:

    leg 1  alice (127.X.Y.1) -> bob.relay (127.X.Y.102)   what alice's daemon sent ("received")
    leg 2  alice.relay (127.X.Y.101) -> bob (127.X.Y.2)   what the relay passed on ("forwarded")

A dropped datagram has only leg 1; a delayed one has its leg 2 later; a duplicated one has
several leg-2 packets.  Both legs are written, with the real loopback addresses and the virtual
time (epoch 0 = the scenario's start), so that the capture shows exactly what each daemon saw.

`write_pcapng` (the default of the harness) adds what a plain pcap cannot carry:
- a name-resolution block: each host's real address is named after the host (`alice`) and its
  address on the relay `alice.relay` (a DNS-style name, so it stays one word in tshark's
  columns and fields); Wireshark shows them with name resolution on (`tshark -N n`);
- a comment on every packet whose datagram a fault touched ("#4 dropped by faults[0] (drop)",
  "#2 delayed 6.000s (faults[0])"), and on datagrams from unknown senders.
`write_pcap` stays for tools that only read classic pcap (same packets, no names or comments).

The pcapng blocks are written by hand: the format is five fixed block layouts, and the scapy
writer (the harness's only capture library) has no name-resolution block.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

from sim.trace import DROPPED, FORWARDED, ON_WIRE, RECEIVED, UNKNOWN, Address, TraceEvent

RELAY_SUFFIX = ".relay"  # `alice.relay`: the address on the relay that stands in for alice
_LINKTYPE_ETHERNET = 1  # what a capture on `lo` gives; every tool reads it
_SNAPLEN = 65535
_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_SHB, _IDB, _NRB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000004, 0x00000006
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_OPT_END, _OPT_COMMENT = 0, 1
_NRB_END, _NRB_IPV4 = 0, 1


# -- frames ------------------------------------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src: Address, dst: Address, payload: bytes, ident: int) -> bytes:
    """Ethernet (zero MACs, as on loopback) + IPv4 + UDP around `payload`, checksums included."""
    s, d = ipaddress.IPv4Address(src[0]).packed, ipaddress.IPv4Address(dst[0]).packed
    udp_len = 8 + len(payload)
    pseudo = s + d + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0x4000, 64, 17, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\0" * 12 + b"\x08\x00" + ip + udp


def _legs(events: Iterable[TraceEvent]) -> list[TraceEvent]:
    return [e for e in events if e.action in ON_WIRE and e.src_addr is not None and e.dst_addr is not None]


def _micros(t: float) -> int:
    return round(max(t, 0.0) * 1_000_000)


# -- names and comments --------------------------------------------------------------------------


def host_names(events: Iterable[TraceEvent]) -> dict[str, str]:
    """IPv4 address -> name, from the legs themselves: a received leg goes from the sender's real
    address to the receiver's relay address, a forwarded leg from the sender's relay address to
    the receiver's real address."""
    names: dict[str, str] = {}
    for e in events:
        if e.src_addr is None or e.dst_addr is None:
            continue
        if e.action == RECEIVED:
            names[e.src_addr[0]] = e.src
            names[e.dst_addr[0]] = e.dst + RELAY_SUFFIX
        elif e.action == FORWARDED:
            names[e.src_addr[0]] = e.src + RELAY_SUFFIX
            names[e.dst_addr[0]] = e.dst
        elif e.action == UNKNOWN:
            names[e.dst_addr[0]] = e.dst + RELAY_SUFFIX
    return names


def _drop_text(note: str) -> str:
    """`faults[0]: drop; faults[2]: loss p=0.3` -> `dropped by faults[0] (drop), faults[2] (loss p=0.3)`;
    other notes (a host that left the relay) are kept as they are."""
    rules = [part.partition(": ") for part in note.split("; ") if part]
    if rules and all(name.startswith("faults[") and sep for name, sep, _ in rules):
        return "dropped by " + ", ".join(f"{name} ({what})" for name, _, what in rules)
    return f"dropped: {note}" if note else "dropped"


def comments(events: Sequence[TraceEvent]) -> dict[int, str]:
    """Index in `events` of an on-wire leg -> its packet comment, for the legs a fault touched.

    Leg 1 of a datagram says its whole fate (dropped by which rule, or what happened to it on
    the way); a leg 2 that is not a plain on-time forward says what was done to that copy."""
    fates: dict[int, list[TraceEvent]] = {}
    for e in events:
        if e.n and e.action not in ON_WIRE:
            fates.setdefault(e.n, []).append(e)
    out: dict[int, str] = {}
    for i, e in enumerate(events):
        if e.action == UNKNOWN:
            out[i] = f"#{e.n} from {e.src}, which is no host of the scenario: the relay dropped it"
        elif e.action == RECEIVED and (fate := fates.get(e.n)):
            drops = [f for f in fate if f.action == DROPPED and f.copy == 0]
            if drops and len(fate) == 1:
                out[i] = f"#{e.n} {_drop_text(drops[0].note)}"
            else:
                out[i] = f"#{e.n} " + "; ".join(dict.fromkeys(f.note or f.action for f in fate))
        elif e.action == FORWARDED and (e.note or e.copy):
            out[i] = f"#{e.n} " + (e.note or f"copy {e.copy}")
    return out


# -- pcap ----------------------------------------------------------------------------------------


def write_pcap(path: str | Path, events: Iterable[TraceEvent]) -> None:
    """Classic pcap of every on-wire leg (no names, no comments: the format has no room for them)."""
    out = bytearray(_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, _SNAPLEN, _LINKTYPE_ETHERNET))
    for e in _legs(events):
        data = frame(e.src_addr, e.dst_addr, e.data, e.n)  # type: ignore[arg-type]
        micros = _micros(e.t)
        out += _PCAP_RECORD.pack(micros // 1_000_000, micros % 1_000_000, len(data), len(data))
        out += data
    Path(path).write_bytes(bytes(out))


# -- pcapng --------------------------------------------------------------------------------------


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(comment: str | None) -> bytes:
    if comment is None:
        return b""
    return _option(_OPT_COMMENT, comment.encode("utf-8")) + struct.pack("<HH", _OPT_END, 0)


def _name_block(names: dict[str, str]) -> bytes:
    records = b""
    for address, name in sorted(names.items(), key=lambda item: ipaddress.IPv4Address(item[0])):
        value = ipaddress.IPv4Address(address).packed + name.encode("utf-8") + b"\0"
        records += struct.pack("<HH", _NRB_IPV4, len(value)) + _pad(value)
    return _block(_NRB, records + struct.pack("<HH", _NRB_END, 0))


def pcapng(events: Sequence[TraceEvent]) -> bytes:
    """The capture as pcapng bytes: section header, one Ethernet interface, the host names, then
    one enhanced packet block per on-wire leg (microsecond timestamps, comments where faulted)."""
    events = list(events)
    out = bytearray(_block(_SHB, struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1)))
    out += _block(_IDB, struct.pack("<HHI", _LINKTYPE_ETHERNET, 0, _SNAPLEN))
    names = host_names(events)
    if names:
        out += _name_block(names)
    notes = comments(events)
    for i, e in enumerate(events):
        if e.action not in ON_WIRE or e.src_addr is None or e.dst_addr is None:
            continue
        data = frame(e.src_addr, e.dst_addr, e.data, e.n)
        micros = _micros(e.t)
        head = struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(data), len(data))
        out += _block(_EPB, head + _pad(data) + _options(notes.get(i)))
    return bytes(out)


def write_pcapng(path: str | Path, events: Sequence[TraceEvent]) -> None:
    Path(path).write_bytes(pcapng(events))
