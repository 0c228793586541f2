"""Scapy layers and a command-line dissector for SIMP: `SIMP` (UDP 7777) and `SIMPControl` (UDP 7778).

Why a dissector next to wire.decode() and control.decode(): those codecs serve the daemon, so they
answer "valid, or malformed because ...".  A dissector must show every datagram of a capture field
by field, broken ones included.  The layers here therefore decode as far as the bytes go, never
raise, keep bytes they cannot place in an `extra` field (so nothing is left to a Raw layer), and
ask the codecs, the single source of truth, whether the datagram is malformed and why (`malformed`).
Fields a malformed datagram does not carry are not shown, rather than shown with default values.

Importing this module binds both layers to UDP by source and by destination port.  It is the only
module of simp/ that imports scapy.

    python -m simp.dissect capture.pcapng [-v] [-n]   one line per SIMP packet (-n: no host names)
    python -m simp.dissect --live lo --count 10       sniff (needs root)
    python -m simp.dissect --wireshark-plugin         path of the Lua dissector for Wireshark
"""

from __future__ import annotations

import argparse
import graphlib
import ipaddress
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

try:
    import scapy.layers.inet6  # noqa: F401  (registers IPv6, so captures over IPv6 reach UDP too)
except ImportError as _no_scapy:  # as a command, still print the plugin's path / name the extra
    if __name__ != "__main__":
        raise
    from simp.dissect_cli import without_scapy

    sys.exit(without_scapy(_no_scapy, sys.argv[1:]))
from scapy.config import conf
from scapy.error import Scapy_Exception
from scapy.fields import (
    ByteEnumField,
    ByteField,
    ConditionalField,
    Field,
    FieldLenField,
    FlagsField,
    IntField,
    MultipleTypeField,
    ShortField,
    StrField,
    StrFixedLenField,
    StrLenField,
    XByteEnumField,
    XByteField,
)
from scapy.layers.inet import UDP
from scapy.packet import NoPayload, Packet, Padding, Raw, bind_bottom_up, bind_top_down, split_bottom_up
from scapy.sendrecv import sniff
from scapy.utils import PcapReader

from simp import control, extension, wire
from simp.console import run_command
from simp.events import EndReason
from simp.wireshark_plugin import install_plugin, personal_plugin_dir, plugin_path

DAEMON_PORT = 7777
CLIENT_PORT = 7778
PROG = "python -m simp.dissect"
SUMMARY_TEXT_MAX = 40  # the same cut as wire.Datagram.describe(): longer text shows 37 chars + "..."
EXTRA, MALFORMED = "extra", "malformed"  # fields that describe the datagram, not read in order
# SIMPX/1 (docs/EXTENSION.md): the tag at the start of the text, shown as fields of their own
SIMPX_FIELDS = ("simpx_chat_id", "simpx_counter", "simpx_text")


# -- fields -----------------------------------------------------------------------------------


class UserField(StrFixedLenField):
    """The 32-byte user field: the value keeps the wire bytes (so a rebuild is byte-exact, even for a
    sloppy peer's space padding), the display shows the name without its NUL or space padding."""

    def i2repr(self, pkt: Packet | None, x: bytes) -> str:
        return repr(x.rstrip(b"\0 ").decode("ascii", "backslashreplace"))


class NoteField(Field):
    """A field with no bytes on the wire: a note the dissector attaches (here: why it is malformed)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, None, fmt="0s")

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, None]:
        return s, None

    def addfield(self, pkt: Packet, s: bytes, val: Any) -> bytes:
        return s

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        return str(x)


def _carried(pkt: Packet, name: str) -> bool:
    """A built or well-formed packet has every field; a malformed one shows only what it carried."""
    return pkt.getfieldval(MALFORMED) is None or name in pkt.fields


def _always(pkt: Packet) -> bool:
    return True


class CarriedField(ConditionalField):
    """A field hidden when a malformed datagram ends before it, and whenever `also` fails.

    `also` is kept apart so that dissecting a well-formed datagram (where every field is carried)
    asks only `also`, straight from `_WholeDatagram.do_dissect`: that is the dissector's hot path."""

    def __init__(self, fld: Field, also: Callable[[Packet], bool] = _always) -> None:
        super().__init__(fld, lambda pkt: also(pkt) and _carried(pkt, fld.name))
        self.also = also


def carried(fld: Field, also: Callable[[Packet], bool] = _always) -> CarriedField:
    """Wrap `fld` so it is hidden when a malformed datagram ends before it (and when `also` fails)."""
    return CarriedField(fld, also)


def _notes() -> list[Field]:
    """The two trailing fields every SIMP layer has; both are present only when there is something."""
    return [
        ConditionalField(StrField(EXTRA, None), lambda pkt: pkt.getfieldval(EXTRA) is not None),
        ConditionalField(NoteField(MALFORMED), lambda pkt: pkt.getfieldval(MALFORMED) is not None),
    ]


def _take(pkt: Packet, fld: Field, s: bytes) -> tuple[bytes, Any] | None:
    """Read one field from `s`; None when the bytes left cannot hold it whole (a cut datagram)."""
    try:
        rest, value = fld.getfield(pkt, s)
    except (struct.error, IndexError, ValueError):
        return None
    if value is not None and len(fld.addfield(pkt, b"", value)) != len(s) - len(rest):
        return None  # a fixed-size field read from fewer bytes than it needs
    return rest, value


def _quoted(text: str) -> str:
    shown = text if len(text) <= SUMMARY_TEXT_MAX else text[: SUMMARY_TEXT_MAX - 3] + "..."
    return f'"{shown}"'


# -- the shared dissection rule ---------------------------------------------------------------


class _WholeDatagram:
    """Dissection shared by both layers: read fields in order while they fit, put any bytes left in
    `extra`, then note the codec's reason when the datagram is malformed.  It never raises and never
    hands bytes on to a Raw payload, so "no undecoded SIMP bytes" is simply "no Raw under SIMP"."""

    fields_desc: list[Field]
    fields: dict[str, Any]

    def malformation(self, data: bytes) -> str | None:
        raise NotImplementedError

    def do_dissect(self, s: bytes) -> bytes:
        raw = s
        reason = self.malformation(raw)
        for fld in self.fields_desc:
            if fld.name in (EXTRA, MALFORMED):
                continue
            if reason is None:  # well formed (the codec says so): every field is there, whole
                inner = fld
                if isinstance(fld, CarriedField):
                    if not fld.also(self):  # type: ignore[arg-type]
                        continue  # a field this kind of message does not have
                    inner = fld.fld
                s, value = inner.getfield(self, s)  # type: ignore[arg-type]
            else:
                taken = _take(self, fld, s)  # type: ignore[arg-type]
                if taken is None:
                    break
                s, value = taken
            if value is not None:  # None: a conditional field this kind of message does not have
                self.fields[fld.name] = value
        if s:
            self.fields[EXTRA] = s
        if reason is not None:
            self.fields[MALFORMED] = reason
        self.raw_packet_cache = raw
        self.raw_packet_cache_fields: dict[str, Any] = {}
        self.explicit = 1
        return b""

    def reason(self) -> str | None:
        """Why this datagram is malformed (the codec's words), or None when it is well formed."""
        return self.malformation(self.self_build())  # type: ignore[attr-defined]


# -- daemon to daemon (7777) ------------------------------------------------------------------

_TYPE_NAMES = {int(t): t.name for t in wire.Type}
# Bit 0 first: ERR SYN ACK FIN, then the unused bits by value, so a stray bit reads e.g. SYN+0x10.
_CONTROL_FLAGS = [wire.Op(1 << bit).name for bit in range(4)] + [f"{1 << bit:#04x}" for bit in range(4, 8)]
# An answer and what it answers (same sequence bit, opposite direction).
_ANSWERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "ACK": frozenset({"CHAT", "FIN", "SYN+ACK"}),
        "SYN+ACK": frozenset({"SYN"}),
        "FIN": frozenset({"SYN"}),
        "ERR": frozenset({"SYN"}),
    }
)


def decode_datagram(data: bytes) -> wire.Datagram | str:
    """wire.decode(), with the reason returned instead of raised."""
    try:
        return wire.decode(data)
    except wire.MalformedDatagram as exc:
        return exc.reason


def ladder(dg: wire.Datagram) -> str:
    """The log/ladder notation with the sender's name: `CHAT seq=1 alice "hi"`, `SYN+ACK seq=0 bob`,
    and a SIMPX/1 tag at the end: `CHAT seq=0 alice "hi" [4bce.1.0 #1]`.

    Built from Datagram.describe() so the quoting and the cut of long text stay the codec's."""
    head = f"{dg.label} seq={dg.seq}"
    return " ".join(part for part in (head, dg.user) if part) + extension.describe(dg).removeprefix(head)


def _is_control(pkt: Packet) -> bool:
    return pkt.type == wire.Type.CONTROL


def _is_chat(pkt: Packet) -> bool:
    return pkt.type == wire.Type.CHAT


class SIMP(_WholeDatagram, Packet):
    """A daemon-to-daemon datagram: type, op, seq, user (32 bytes), length, text (docs/PROTOCOL.md)."""

    name = "SIMP"
    fields_desc = [
        carried(ByteEnumField("type", wire.Type.CHAT, _TYPE_NAMES)),
        carried(
            MultipleTypeField(  # the op's meaning depends on the type: flags, MESSAGE, or unknown
                [
                    (FlagsField("op", wire.Op.SYN, 8, _CONTROL_FLAGS), _is_control),
                    (ByteEnumField("op", wire.MESSAGE, {wire.MESSAGE: "MESSAGE"}), _is_chat),
                ],
                XByteField("op", wire.MESSAGE),
            )
        ),
        carried(ByteField("seq", 0)),
        carried(UserField("user", b"", wire.USER_SIZE)),
        carried(FieldLenField("length", None, length_of="text", fmt="!I")),
        carried(StrLenField("text", b"", length_from=lambda pkt: pkt.length)),
        *(ConditionalField(NoteField(name), lambda pkt, name=name: pkt.getfieldval(name) is not None)
          for name in SIMPX_FIELDS),
        *_notes(),
    ]

    def malformation(self, data: bytes) -> str | None:
        decoded = decode_datagram(data)
        return decoded if isinstance(decoded, str) else None

    def do_dissect(self, s: bytes) -> bytes:
        """The fields in order, then the SIMPX/1 tag, when the text starts with one, as fields of
        their own (they take no bytes: the text keeps the whole payload, so a rebuild is exact)."""
        left = super().do_dissect(s)
        decoded = decode_datagram(self.raw_packet_cache)
        tag, text = (None, "") if isinstance(decoded, str) else extension.parse(decoded.payload)
        if tag is not None:
            self.fields.update(simpx_chat_id=tag.chat_id, simpx_counter=tag.counter)
            if decoded.is_chat and text:
                self.fields["simpx_text"] = text
        return left

    def datagram(self) -> wire.Datagram | str:
        """This layer as the codec sees it: a Datagram, or why it is malformed."""
        return decode_datagram(self.self_build())

    def mysummary(self) -> str:
        decoded = self.datagram()
        if isinstance(decoded, str):
            return f"SIMP malformed ({decoded})"
        return f"SIMP {ladder(decoded)}"

    def hashret(self) -> bytes:
        return bytes([int(self.seq) & 0xFF])

    def answers(self, other: Packet) -> int:
        if not isinstance(other, SIMP):
            return 0
        mine, theirs = self.datagram(), other.datagram()
        if isinstance(mine, str) or isinstance(theirs, str):
            return 0
        return int(mine.seq == theirs.seq and theirs.label in _ANSWERS.get(mine.label, ()))


# -- client to daemon (7778) ------------------------------------------------------------------

# control.py's codec table, keyed by the kind byte's value: the one description of every message.
_SPECS: Mapping[int, tuple[tuple[str, str], ...]] = MappingProxyType(
    {kind[0]: tuple(spec) for kind, (_, spec) in (control._REQUESTS | control._EVENTS).items()}
)
_FIELD_NAMES = MappingProxyType({kind: frozenset(name for name, _ in spec) for kind, spec in _SPECS.items()})
_KIND_NAMES = {kind[0]: name for kind, name in control.KIND_NAMES.items()}
_REPLY, _EVENT_ACK = control.Reply.KIND[0], control.EventAck.KIND[0]
_ANSWERED: Mapping[int, frozenset[int]] = MappingProxyType(
    {
        _REPLY: frozenset(kind[0] for kind in control._REQUESTS) - {_REPLY, _EVENT_ACK},
        _EVENT_ACK: frozenset(kind[0] for kind in control._EVENTS),
    }
)
_INT_FIELDS: Mapping[str, type[Field]] = MappingProxyType(
    {control.U8: ByteField, control.U16: ShortField, control.U32: IntField}
)
_ENUMS: Mapping[str, dict[int, str]] = MappingProxyType({"reason": {int(r): r.name for r in EndReason}})


def field_order(specs: Iterable[Sequence[tuple[str, str]]]) -> list[tuple[str, str]]:
    """One field list in which every kind's fields appear in that kind's order.

    A scapy layer has one fields_desc; each field is then present only for the kinds that have it.
    Raises ValueError when the table gives one name two types or two kinds contradicting orders."""
    types: dict[str, str] = {}
    after: dict[str, set[str]] = {}
    for spec in specs:
        previous = None
        for name, ftype in spec:
            if types.setdefault(name, ftype) != ftype:
                raise ValueError(f"control field {name!r} is both {types[name]} and {ftype}")
            after.setdefault(name, set())
            if previous is not None:
                after[name].add(previous)
            previous = name
    try:
        order = list(graphlib.TopologicalSorter(after).static_order())
    except graphlib.CycleError as exc:
        raise ValueError(f"control message kinds order fields {exc.args[1]} inconsistently") from None
    return [(name, types[name]) for name in order]


def _has(name: str) -> Callable[[Packet], bool]:
    """The condition "this message's kind has field `name`"."""
    return lambda pkt: name in _FIELD_NAMES.get(pkt.kind, ())


def _control_fields() -> list[Field]:
    """Scapy fields for the kind-specific part: `str` is a u16 length field plus the text."""
    result: list[Field] = []
    for name, ftype in field_order(_SPECS.values()):
        if ftype == control.STR:
            size = f"{name}_len"
            text = StrLenField(name, b"", length_from=lambda pkt, size=size: pkt.getfieldval(size))
            length = FieldLenField(size, None, length_of=name, fmt="!H")
            result += [carried(length, _has(name)), carried(text, _has(name))]
        elif name in _ENUMS:
            result.append(carried(ByteEnumField(name, min(_ENUMS[name]), _ENUMS[name]), _has(name)))
        else:
            result.append(carried(_INT_FIELDS[ftype](name, 0), _has(name)))
    return result


def decode_control(data: bytes) -> control.ControlMessage | str:
    """control.decode(), with the reason returned instead of raised."""
    try:
        return control.decode(data)
    except control.MalformedControl as exc:
        return exc.reason


class SIMPControl(_WholeDatagram, Packet):
    """A client-daemon message: kind (a letter), id (4 bytes), then the kind's fields (control.py)."""

    name = "SIMP control"
    fields_desc = [
        carried(XByteEnumField("kind", control.Heartbeat.KIND[0], _KIND_NAMES)),
        carried(IntField("id", 0)),
        *_control_fields(),
        *_notes(),
    ]

    def malformation(self, data: bytes) -> str | None:
        decoded = decode_control(data)
        return decoded if isinstance(decoded, str) else None

    def _shown(self, name: str, ftype: str) -> str:
        value = self.getfieldval(name)
        if ftype == control.STR:
            return _quoted(value.decode("ascii", "backslashreplace"))
        if name in _ENUMS:
            return _ENUMS[name].get(value, str(value))
        return str(value)

    def mysummary(self) -> str:
        reason = self.reason()
        if reason is not None:
            return f"SIMP-CTL malformed ({reason})"
        fields = (f"{name}={self._shown(name, ftype)}" for name, ftype in _SPECS[self.kind])
        return " ".join(["SIMP-CTL", _KIND_NAMES[self.kind], f"id={self.id}", *fields])

    def hashret(self) -> bytes:
        return struct.pack("!I", int(self.id) & 0xFFFFFFFF)

    def answers(self, other: Packet) -> int:
        """A Reply answers the request with its id; an EventAck answers the event with its id."""
        if not isinstance(other, SIMPControl) or self.id != other.id:
            return 0
        return int(other.kind in _ANSWERED.get(self.kind, ()))


# -- bindings and helpers for captures --------------------------------------------------------

LAYERS = (SIMP, SIMPControl)


def _bound(layer: type[Packet], port: int) -> bool:
    return ({"dport": port}, layer) in UDP.payload_guess


def bind_port(layer: type[Packet], port: int) -> None:
    """Dissect UDP datagrams from or to `port` as `layer` (bottom-up only: building is unchanged)."""
    bind_bottom_up(UDP, layer, dport=port)
    bind_bottom_up(UDP, layer, sport=port)


def unbind_port(layer: type[Packet], port: int) -> None:
    split_bottom_up(UDP, layer, dport=port)
    split_bottom_up(UDP, layer, sport=port)


@contextmanager
def extra_ports(daemon: Iterable[int] = (), client: Iterable[int] = ()) -> Iterator[None]:
    """Bind more ports for the duration (the CLI's --port/--client-port), then unbind exactly those."""
    added = [(layer, port) for layer, ports in ((SIMP, daemon), (SIMPControl, client)) for port in ports]
    added = [(layer, port) for layer, port in dict.fromkeys(added) if not _bound(layer, port)]
    for layer, port in added:
        bind_port(layer, port)
    try:
        yield
    finally:
        for layer, port in added:
            unbind_port(layer, port)


def simp_layer(packet: Packet) -> SIMP | SIMPControl | None:
    """The SIMP or SIMPControl layer the packet's UDP carries, if any.  (A datagram quoted inside an
    ICMP error sits under UDPerror, not UDP: it is not traffic and is not returned.)"""
    udp = packet.getlayer(UDP)
    inner = None if udp is None else udp.payload
    return inner if isinstance(inner, LAYERS) else None


def malformed(packet: Packet) -> str | None:
    """Why the packet's SIMP datagram is malformed, or None (also when it carries no SIMP at all)."""
    layer = simp_layer(packet)
    return None if layer is None else layer.reason()


def undecoded(packet: Packet) -> bool:
    """True when a UDP datagram on a SIMP port carries bytes no SIMP field accounts for.

    Malformed datagrams are decoded (their fields plus `extra` and `malformed`), so this is about
    dissector gaps: a SIMP port's payload left as Raw, or anything but link padding under SIMP."""
    udp = packet.getlayer(UDP)
    if udp is None:
        return False
    inner = udp.payload
    if isinstance(inner, LAYERS):
        return not isinstance(inner.payload, NoPayload | Padding)
    left_raw = isinstance(inner, Raw) and not isinstance(inner, Padding)
    return left_raw and udp.guess_payload_class(inner.load) in LAYERS


_DEFAULT_BINDINGS = ((SIMP, DAEMON_PORT), (SIMPControl, CLIENT_PORT))
for _layer, _port in _DEFAULT_BINDINGS:
    bind_port(_layer, _port)
# Building IP()/UDP()/SIMP() fills in the ports a real exchange uses.  (Two bind_layers() calls
# would leave only the last one's port for building; bind_top_down takes both at once.)
bind_top_down(UDP, SIMP, sport=DAEMON_PORT, dport=DAEMON_PORT)
bind_top_down(UDP, SIMPControl, dport=CLIENT_PORT)


# -- Wireshark plugin -------------------------------------------------------------------------


# plugin_path, personal_plugin_dir and install_plugin live in simp/wireshark_plugin.py (no scapy
# needed) and are imported above, so `from simp.dissect import plugin_path` keeps working.


# -- command line -----------------------------------------------------------------------------


_PCAPNG_SHB, _PCAPNG_NRB = 0x0A0D0D0A, 0x00000004
_NRB_IPV4, _NRB_IPV6 = 1, 2


def capture_names(path: str | Path) -> dict[str, str]:
    """Address -> host name from the name-resolution blocks of a pcapng file (as the harness and
    Wireshark write them); {} for a classic pcap, a capture without names or an unreadable file.

    Read here with struct because scapy's pcapng reader skips these blocks."""
    names: dict[str, str] = {}
    try:
        data = Path(path).read_bytes()
    except OSError:
        return names
    if data[:4] != struct.pack("<I", _PCAPNG_SHB):
        return names
    endian = "<"
    at = 0
    while at + 12 <= len(data):
        kind = struct.unpack_from(endian + "I", data, at)[0]
        if kind == _PCAPNG_SHB:  # each section says its own byte order
            endian = "<" if data[at + 8 : at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        length = struct.unpack_from(endian + "I", data, at + 4)[0]
        if length < 12 or at + length > len(data):
            break
        if kind == _PCAPNG_NRB:
            names.update(_name_records(data[at + 8 : at + length - 4], endian))
        at += length
    return names


def _name_records(body: bytes, endian: str) -> dict[str, str]:
    out: dict[str, str] = {}
    at = 0
    while at + 4 <= len(body):
        kind, size = struct.unpack_from(endian + "HH", body, at)
        value = body[at + 4 : at + 4 + size]
        at += 4 + size + (-size % 4)
        width = {_NRB_IPV4: 4, _NRB_IPV6: 16}.get(kind)
        if width is None or len(value) <= width:
            if kind == 0:
                break
            continue
        address = str(ipaddress.ip_address(value[:width]))
        first = value[width:].split(b"\0")[0].decode("utf-8", "replace")
        if first:
            out[address] = first
    return out


def _endpoint(packet: Packet, side: str, names: Mapping[str, str]) -> str:
    udp = packet[UDP]
    host = str(getattr(udp.underlayer, side, "?"))
    port = getattr(udp, "sport" if side == "src" else "dport")
    host = names.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Printer:
    """Prints each SIMP packet as one line: time (seconds since the first packet), src > dst, summary,
    and the packet's comment (`# ...`) if the capture has one; verbose adds the layer's field view.
    Addresses are shown as the host names in `names` (from the capture's name-resolution blocks).
    One Printer per capture, so each file's time starts at 0."""

    def __init__(
        self, verbose: bool = False, prefix: str = "", names: Mapping[str, str] | None = None
    ) -> None:
        self.verbose = verbose
        self.prefix = prefix
        self.names = names or {}
        self.start: float | None = None

    def line(self, packet: Packet) -> str | None:
        if self.start is None:
            self.start = float(packet.time)
        layer = simp_layer(packet)
        if layer is None:
            return None
        when = float(packet.time) - self.start
        route = f"{_endpoint(packet, 'src', self.names)} > {_endpoint(packet, 'dst', self.names)}"
        text = f"{self.prefix}{when:.6f} {route} {layer.mysummary()}"
        for comment in getattr(packet, "comments", None) or ():
            note = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
            text += f"  [{note}]"
        if self.verbose:
            text += "\n" + layer.show(dump=True).rstrip("\n")
        return text

    def __call__(self, packet: Packet) -> None:
        text = self.line(packet)
        if text is not None:
            print(text, flush=True)


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _port(text: str) -> int:
    value = _positive(int)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a UDP port is 1 to 65535, got {text}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Decode SIMP traffic: daemon-to-daemon datagrams (UDP 7777, layer SIMP) and the "
            "client-daemon protocol (UDP 7778, layer SIMPControl).  Prints one line per SIMP packet: "
            "time in seconds since the capture's first packet, source > destination (as host names "
            "when a pcapng capture has a name-resolution block), a summary in the ladder notation "
            '(e.g. SIMP CHAT seq=1 alice "hi", SIMP-CTL Reply id=3 ok=1 text=""), and the packet\'s '
            "comment in [brackets] if it has one. "
            "Malformed datagrams read 'malformed (REASON)', as in the ladders.  Other packets are skipped."
        ),
        epilog=(
            "Wireshark: the same decoding as a Lua dissector (protocol 'simp'; fields simp.type, simp.op, "
            "simp.seq, simp.user, simp.length, simp.text, simp.malformed, simp.ctl.kind, simp.ctl.id, "
            "simp.ctl.<field>).  Use it once with 'tshark -X lua_script:$(%(prog)s --wireshark-plugin) "
            "-r FILE', or install it with --install-wireshark-plugin; do not do both at once (the "
            "protocol would be registered twice).  Exit status: 0 done, 2 bad arguments or an "
            "unreadable capture."
        ),
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="capture files to read (pcap or pcapng)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print every field of each packet")
    parser.add_argument(
        "-n",
        "--numeric",
        action="store_true",
        help="show addresses as numbers, even when the capture names its hosts (pcapng name blocks)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        action="append",
        default=[],
        metavar="N",
        help=f"also decode UDP port N as daemon-to-daemon SIMP (besides {DAEMON_PORT}); repeatable",
    )
    parser.add_argument(
        "--client-port",
        type=_port,
        action="append",
        default=[],
        metavar="N",
        help=f"also decode UDP port N as the client-daemon protocol (besides {CLIENT_PORT}); repeatable",
    )
    live = parser.add_argument_group("live capture (needs root or CAP_NET_RAW)")
    live.add_argument("--live", metavar="IFACE", help="sniff on interface IFACE (e.g. lo), not read files")
    live.add_argument("--count", type=_positive(int), metavar="N", help="stop after N SIMP packets")
    live.add_argument("--timeout", type=_positive(float), metavar="S", help="stop after S seconds")
    live.add_argument(
        "--filter",
        metavar="BPF",
        help="capture filter in tcpdump syntax, e.g. 'host 127.0.0.1' (applied before SIMP decoding)",
    )
    plugin = parser.add_argument_group("Wireshark")
    plugin.add_argument(
        "--wireshark-plugin", action="store_true", help="print the path of the Lua dissector and exit"
    )
    plugin.add_argument(
        "--install-wireshark-plugin",
        action="store_true",
        help=f"copy the Lua dissector into Wireshark's personal plugin folder ({personal_plugin_dir()})",
    )
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject contradictory combinations (argparse exits with status 2)."""
    if args.wireshark_plugin or args.install_wireshark_plugin:
        return
    if args.live and args.files:
        parser.error("give capture FILEs or --live IFACE, not both")
    if not args.live and not args.files:
        parser.error("give at least one capture FILE, or --live IFACE")
    if not args.live and (args.count or args.timeout or args.filter):
        parser.error("--count, --timeout and --filter apply to --live only")


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip().rstrip("!").strip() or type(exc).__name__


def read_files(paths: Sequence[str], verbose: bool, numeric: bool = False) -> int:
    for path in paths:
        names = {} if numeric else capture_names(path)
        printer = Printer(verbose, prefix=f"{path}: " if len(paths) > 1 else "", names=names)
        try:
            with PcapReader(path) as reader:
                for packet in reader:
                    printer(packet)
        except BrokenPipeError:  # stdout closed (`| head`): not the capture's fault
            raise
        except (OSError, Scapy_Exception, EOFError) as exc:
            hint = " (expected a pcap or pcapng file)" if isinstance(exc, Scapy_Exception) else ""
            return _fail(f"cannot read capture {path!r}: {_why(exc)}{hint}")
    return 0


def sniff_live(args: argparse.Namespace) -> int:
    def started() -> None:
        print(f"{PROG}: listening on {args.live}", file=sys.stderr, flush=True)

    # On loopback every packet passes twice, going out and coming in.  L2socket drops the outgoing
    # copy (as libpcap does on loopback); elsewhere the default listen socket keeps both directions.
    once = conf.L2socket if args.live == conf.loopback_name else None
    try:
        sniff(
            iface=args.live,
            prn=Printer(args.verbose),
            store=False,
            count=args.count or 0,
            timeout=args.timeout,
            filter=args.filter,
            started_callback=started,
            L2socket=once,
            lfilter=lambda packet: simp_layer(packet) is not None,
        )
    except (OSError, Scapy_Exception, ValueError) as exc:
        return _fail(f"cannot sniff on {args.live!r}: {_why(exc)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    if args.wireshark_plugin:
        print(plugin_path())
        return 0
    if args.install_wireshark_plugin:
        try:
            print(install_plugin())
        except OSError as exc:
            return _fail(f"cannot install the Wireshark plugin: {exc}")
        return 0
    with extra_ports(args.port, args.client_port):
        return sniff_live(args) if args.live else read_files(args.files, args.verbose, args.numeric)


if __name__ == "__main__":
    sys.exit(run_command(main, PROG))  # quiet on a closed pipe (`| head`)
