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
    if len(data) < HEADER_SIZE:
        raise MalformedDatagram(f"too short: {len(data)} bytes, header needs {HEADER_SIZE}")
    type_, op, seq, raw_user, length = HEADER.unpack_from(data)
    if type_ not in VALID_OPS:
        raise MalformedDatagram(f"unknown type {type_:#04x}")
    if op not in VALID_OPS[type_]:
        raise MalformedDatagram(f"operation {op:#04x} is not valid for type {Type(type_).name}")
    if seq not in (0, 1):
        raise MalformedDatagram(f"sequence {seq} is neither 0 nor 1")
    if length != len(data) - HEADER_SIZE:
        raise MalformedDatagram(f"length field says {length} but {len(data) - HEADER_SIZE} bytes follow")
    user_bytes = raw_user.rstrip(b"\0 ")
    if b"\0" in user_bytes:
        raise MalformedDatagram("NUL byte inside the user name")
    try:
        user = user_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedDatagram("non-ASCII user") from None
    try:
        payload = data[HEADER_SIZE:].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedDatagram("non-ASCII payload") from None
    kind = Type(type_)
    return Datagram(type=kind, op=Op(op) if kind is Type.CONTROL else op, seq=seq, user=user, payload=payload)


def valid_user_name(name: str) -> str | None:
    """Return why `name` is not a valid SIMP user name, or None when it is."""
    if not 1 <= len(name) <= USER_SIZE:
        return f"a user name must be 1 to {USER_SIZE} characters long (got {len(name)})"
    if not all(" " <= ch <= "~" for ch in name):
        return "a user name may contain only printable ASCII characters"
    if name != name.strip():
        return "a user name may not start or end with a space"
    return None
