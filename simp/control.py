"""Client-daemon protocol (UDP 7778): message codec.

Every datagram is `kind (1 byte, an ASCII letter) | id (4 bytes, big endian) | fields`.
Fields are, in the order the table below lists them: `str` = 2-byte big-endian length + ASCII
bytes; `u8`/`u16`/`u32` = big-endian unsigned integers.  Upper-case kinds travel client to
daemon, lower-case kinds daemon to client (plus `R`, the reply).

Reliability (see simp/channel.py): each request carries a fresh id and is answered by a Reply
with the same id; each event carries the daemon's next event number and is answered by an
EventAck with that number.  A sender re-sends until answered; a receiver answers duplicates again
but acts on them once.  The full byte-level description is in README.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import ClassVar

from simp import events as ev
from simp.wire import MAX_DATAGRAM

PREFIX = struct.Struct("!cI")


class MalformedControl(ValueError):
    """Raised by decode(); `reason` says what was wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- requests (client -> daemon) -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    KIND: ClassVar[bytes]
    ident: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Request):
    KIND = b"C"
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Start(Request):
    KIND = b"S"
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait(Request):
    KIND = b"W"


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept(Request):
    KIND = b"A"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decline(Request):
    KIND = b"D"


@dataclass(frozen=True, slots=True, kw_only=True)
class Say(Request):
    """Send `text`; the daemon reports MessageDelivered/Undelivered with msg_id = ident."""

    KIND = b"M"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit(Request):
    """End the current chat (or withdraw our invitation)."""

    KIND = b"Q"


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect(Request):
    KIND = b"X"


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Request):
    KIND = b"H"


@dataclass(frozen=True, slots=True, kw_only=True)
class Status(Request):
    """Ask for the daemon's counters; the Reply text is `key=value` pairs separated by spaces."""

    KIND = b"T"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventAck(Request):
    """Acknowledges event number `ident`; never answered itself."""

    KIND = b"K"


# -- daemon -> client ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    KIND: ClassVar[bytes] = b"R"
    ident: int
    ok: bool
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPacket:
    """An event numbered `ident`.

    A ChatEnded travels as its header plus a count; its undelivered messages travel first, one
    Undelivered event each (a long list would not fit one datagram).  On decode, `event` is a
    ChatEnded with an empty list and `undelivered_count` says how many Undelivered preceded it.
    """

    ident: int
    event: ev.Event | ev.Undelivered
    undelivered_count: int = 0


ControlMessage = Request | Reply | EventPacket

STR, U8, U16, U32 = "str", "u8", "u16", "u32"
_INTS = {U8: struct.Struct("!B"), U16: struct.Struct("!H"), U32: struct.Struct("!I")}

# kind -> (python class, [(attribute, field type)])  The one table the codec is driven by.
_REQUESTS: dict[bytes, tuple[type, list[tuple[str, str]]]] = {
    Connect.KIND: (Connect, [("user", STR)]),
    Start.KIND: (Start, [("host", STR), ("port", U16)]),
    Wait.KIND: (Wait, []),
    Accept.KIND: (Accept, []),
    Decline.KIND: (Decline, []),
    Say.KIND: (Say, [("text", STR)]),
    Quit.KIND: (Quit, []),
    Disconnect.KIND: (Disconnect, []),
    Heartbeat.KIND: (Heartbeat, []),
    Status.KIND: (Status, []),
    EventAck.KIND: (EventAck, []),
    Reply.KIND: (Reply, [("ok", U8), ("text", STR)]),
}
_EVENTS: dict[bytes, tuple[type, list[tuple[str, str]]]] = {
    b"i": (ev.Invitation, [("host", STR), ("port", U16), ("user", STR)]),
    b"c": (ev.ChatStarted, [("host", STR), ("port", U16), ("user", STR)]),
    # no user: the client shows the name from the handshake (Invitation / ChatStarted), and a
    # 65,468-byte message still fits one datagram
    b"m": (ev.MessageReceived, [("text", STR)]),
    b"d": (ev.MessageDelivered, [("msg_id", U32)]),
    b"e": (ev.PeerError, [("host", STR), ("port", U16), ("text", STR)]),
    b"u": (ev.Undelivered, [("msg_id", U32), ("text", STR), ("sent", U8)]),
    b"x": (ev.ChatEnded, [("host", STR), ("port", U16), ("user", STR), ("reason", U8), ("count", U16)]),
}
_EVENT_KIND = {cls: kind for kind, (cls, _) in _EVENTS.items()}
KIND_NAMES = {kind: cls.__name__ for kind, (cls, _) in (_REQUESTS | _EVENTS).items()}


def _flatten(obj: object) -> dict[str, object]:
    """Attribute values of a message, with `peer` split into host/port and lists counted."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}  # type: ignore[arg-type]
    if "peer" in values:
        values["host"], values["port"] = values.pop("peer")  # type: ignore[misc]
    if isinstance(obj, ev.ChatEnded):
        values["count"] = len(obj.undelivered)
    return values


def encode(msg: ControlMessage) -> bytes:
    """Encode one message; raises ValueError for values that cannot be sent (non-ASCII, out of range)."""
    if isinstance(msg, EventPacket):
        kind = _EVENT_KIND[type(msg.event)]
        spec, values = _EVENTS[kind][1], _flatten(msg.event)
        if isinstance(msg.event, ev.ChatEnded) and not msg.event.undelivered:
            values["count"] = msg.undelivered_count  # a decoded ChatEnded carries only the count
    else:
        kind = msg.KIND
        spec, values = _REQUESTS[kind][1], _flatten(msg)
    try:
        parts = [PREFIX.pack(kind, msg.ident)]
        for name, ftype in spec:
            value = values[name]
            if ftype == STR:
                raw = str(value).encode("ascii")
                parts += [_INTS[U16].pack(len(raw)), raw]
            else:
                parts.append(_INTS[ftype].pack(int(value)))  # type: ignore[call-overload]
    except struct.error as exc:
        raise ValueError(f"{type(msg).__name__}: a field is out of range: {exc}") from None
    data = b"".join(parts)
    if len(data) > MAX_DATAGRAM:
        raise ValueError(f"control message of {len(data)} bytes exceeds one UDP datagram")
    return data


def decode(data: bytes) -> ControlMessage:
    """Decode one 7778 datagram; anything malformed raises MalformedControl only."""
    if len(data) < PREFIX.size:
        raise MalformedControl(f"too short: {len(data)} bytes")
    kind, ident = PREFIX.unpack_from(data)
    entry = _REQUESTS.get(kind) or _EVENTS.get(kind)
    if entry is None:
        raise MalformedControl(f"unknown kind {kind!r}")
    cls, spec = entry
    values: dict[str, object] = {}
    pos = PREFIX.size
    try:
        for name, ftype in spec:
            if ftype == STR:
                (size,) = _INTS[U16].unpack_from(data, pos)
                raw = data[pos + 2 : pos + 2 + size]
                if len(raw) != size:
                    raise MalformedControl(f"field {name!r} is cut short")
                values[name] = raw.decode("ascii")
                pos += 2 + size
            else:
                (values[name],) = _INTS[ftype].unpack_from(data, pos)
                pos += _INTS[ftype].size
    except struct.error:
        raise MalformedControl(f"{cls.__name__} is cut short") from None
    except UnicodeDecodeError:
        raise MalformedControl(f"{cls.__name__} field {name!r} is not ASCII") from None
    if pos != len(data):
        raise MalformedControl(f"{len(data) - pos} unexpected trailing bytes after {cls.__name__}")
    if kind in _EVENTS:
        count = int(values.pop("count", 0))  # type: ignore[call-overload]
        return EventPacket(ident=ident, event=_build_event(cls, values), undelivered_count=count)
    if cls is Reply:
        values["ok"] = bool(values["ok"])
    return cls(ident=ident, **values)


def _build_event(cls: type, values: dict[str, object]) -> ev.Event | ev.Undelivered:
    if cls is ev.Undelivered:
        values["sent"] = bool(values["sent"])  # sent but not confirmed, or never sent
    if cls is ev.MessageReceived:
        values["user"] = ""  # not on the wire: the client library fills in the chat's peer
    if "host" in values:
        values["peer"] = (values.pop("host"), values.pop("port"))
    if cls is ev.ChatEnded:
        try:
            values["reason"] = ev.EndReason(values["reason"])
        except ValueError:
            raise MalformedControl(f"unknown end reason {values['reason']}") from None
    return cls(**values)
