"""SIMP datagram codec (daemon to daemon, UDP 7777): bytes in, bytes out, nothing else.

Layout (docs/PROTOCOL.md): type(1) op(1) seq(1) user(32, NUL padded) length(4, big
endian) payload(length).  Decoding is strict about everything the SPEC calls malformed and
lenient exactly where the SPEC asks for interoperability: a user field padded with spaces is
accepted, and a payload on SYN/ACK/FIN is kept (the session ignores it).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

HEADER = struct.Struct("!BBB32sI")
HEADER_SIZE = HEADER.size  # 39
MAX_DATAGRAM = 65507  # largest UDP payload over IPv4
MAX_PAYLOAD = MAX_DATAGRAM - HEADER_SIZE  # 65468
USER_SIZE = 32
LENGTH_SIZE = 4


class Type(enum.IntEnum):
    CONTROL = 0x01
    CHAT = 0x02


class Op(enum.IntEnum):
    """Operation codes.  Control ops are bit flags (SYN+ACK = 0x06); chat has only MESSAGE."""

    ERR = 0x01
    SYN = 0x02
    ACK = 0x04
    FIN = 0x08
    SYN_ACK = 0x06

    @property
    def label(self) -> str:
        return "SYN+ACK" if self is Op.SYN_ACK else self.name


MESSAGE = 0x01  # the only chat operation
CONTROL_OPS = frozenset(int(op) for op in Op)
VALID_OPS: dict[int, frozenset[int]] = {Type.CONTROL: CONTROL_OPS, Type.CHAT: frozenset({MESSAGE})}


class MalformedDatagram(ValueError):
    """Raised by decode(); `reason` is a short human-readable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Datagram:
    """One SIMP datagram.  `op` is an Op for control datagrams and MESSAGE (1) for chat."""

    type: Type
    op: int
    seq: int
    user: str
    payload: str = ""

    @property
    def is_chat(self) -> bool:
        return self.type is Type.CHAT

    def is_control(self, op: Op) -> bool:
        return self.type is Type.CONTROL and self.op == op

    @property
    def label(self) -> str:
        """Short name used in logs and ladders: CHAT, SYN, SYN+ACK, ACK, FIN, ERR."""
        return "CHAT" if self.is_chat else Op(self.op).label

    def describe(self) -> str:
        """The log/ladder notation, e.g. `CHAT seq=1 "hi"` or `SYN+ACK seq=0`."""
        text = f"{self.label} seq={self.seq}"
        if self.payload and (self.is_chat or self.op == Op.ERR):
            shown = self.payload if len(self.payload) <= 40 else self.payload[:37] + "..."
            text += f' "{shown}"'
        return text


_ESCAPES = {i: f"\\x{i:02x}" for i in [*range(32), 127]}
_ESCAPES |= {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def escaped(text: str) -> str:
    """`text` with control characters and line breaks escaped (`\\n`, `\\x1b`): how anything a
    peer sent is printed, to a terminal or a log, so that it can never start a line of its own or
    move the cursor.  Non-ASCII never gets this far (the decoders refuse it)."""
    return text.translate(_ESCAPES)


def control(op: Op, seq: int, user: str, payload: str = "") -> Datagram:
    return Datagram(type=Type.CONTROL, op=op, seq=seq, user=user, payload=payload)


def chat(seq: int, user: str, text: str) -> Datagram:
    return Datagram(type=Type.CHAT, op=MESSAGE, seq=seq, user=user, payload=text)


def encode(dg: Datagram) -> bytes:
    """Encode exactly as docs/PROTOCOL.md says; raises ValueError for values that cannot be sent."""
    if dg.op not in VALID_OPS.get(dg.type, ()):
        raise ValueError(f"operation {dg.op:#04x} is not valid for type {dg.type!r}")
    if dg.seq not in (0, 1):
        raise ValueError(f"sequence must be 0 or 1, got {dg.seq!r}")
    try:
        user = dg.user.encode("ascii")
        payload = dg.payload.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError(f"user and payload must be ASCII: {exc}") from None
    if len(user) > USER_SIZE or b"\0" in user:
        raise ValueError(f"user name must be at most {USER_SIZE} ASCII bytes without NUL: {dg.user!r}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the maximum of {MAX_PAYLOAD}")
    return HEADER.pack(dg.type, dg.op, dg.seq, user, len(payload)) + payload


def decode(data: bytes) -> Datagram:
    """Decode one datagram; any malformation raises MalformedDatagram and nothing else."""
    return decode_with(data, USER_SIZE, LENGTH_SIZE)


def decode_with(data: bytes, user_size: int, length_size: int) -> Datagram:
    """Decode a datagram whose user and length fields have the given sizes (SPEC: 32 and 4).

    Some implementations use other sizes (simp.dialect learns them from a peer's handshake);
    everything else is checked exactly as SPEC says."""
    header = 3 + user_size + length_size
    if len(data) < header:
        raise MalformedDatagram(f"too short: {len(data)} bytes, header needs {header}")
    type_, op, seq = data[0], data[1], data[2]
    raw_user = data[3:3 + user_size]
    length = int.from_bytes(data[3 + user_size:header], "big")
    if type_ not in VALID_OPS:
        raise MalformedDatagram(f"unknown type {type_:#04x}")
    if op not in VALID_OPS[type_]:
        raise MalformedDatagram(f"operation {op:#04x} is not valid for type {Type(type_).name}")
    if seq not in (0, 1):
        raise MalformedDatagram(f"sequence {seq} is neither 0 nor 1")
    if length != len(data) - header:
        raise MalformedDatagram(f"length field says {length} but {len(data) - header} bytes follow")
    user_bytes = raw_user.rstrip(b"\0 ")
    if b"\0" in user_bytes:
        raise MalformedDatagram("NUL byte inside the user name")
    try:
        user = user_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedDatagram("non-ASCII user") from None
    try:
        payload = data[header:].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedDatagram("non-ASCII payload") from None
    kind = Type(type_)
    return Datagram(type=kind, op=Op(op) if kind is Type.CONTROL else op, seq=seq, user=user, payload=payload)


def find_layout(data: bytes) -> tuple[int, int] | None:
    """(user size, length size) that decode a SYN or SYN+ACK SPEC's sizes cannot, or None.

    Tries user fields of 1 to 64 bytes and length fields of 1, 2, 4 or 8 bytes (big endian).
    Splits that differ only in whether padding NULs belong to the user or to the length's high
    bytes decode to the same user and payload; if two splits disagree, the datagram is ambiguous
    and None is returned.  Of the agreeing splits the one with the widest length field is kept:
    the peer's padding then serves as its high bytes, so it reads this peer's later, longer
    datagrams as the true split would (the peer's name does not change)."""
    if len(data) < 3 or data[0] != Type.CONTROL or data[1] not in (Op.SYN, Op.SYN_ACK) or data[2] > 1:
        return None
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for length_size in (8, 4, 2, 1):
        for user_size in range(1, 65):
            try:
                dg = decode_with(data, user_size, length_size)
            except MalformedDatagram:
                continue
            if valid_user_name(dg.user) is None:
                found.setdefault((dg.user, dg.payload), (user_size, length_size))
    return next(iter(found.values())) if len(found) == 1 else None


def valid_user_name(name: str) -> str | None:
    """Return why `name` is not a valid SIMP user name, or None when it is."""
    if not 1 <= len(name) <= USER_SIZE:
        return f"a user name must be 1 to {USER_SIZE} characters long (got {len(name)})"
    if not all(" " <= ch <= "~" for ch in name):
        return "a user name may contain only printable ASCII characters"
    if name != name.strip():
        return "a user name may not start or end with a space"
    return None
