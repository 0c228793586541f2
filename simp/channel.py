"""Reliability for the client-daemon protocol (UDP 7778), sans-IO.

Loopback UDP rarely loses a datagram, but "rarely" is not "never" (a full socket buffer drops
silently), and SPEC asks that a lost request be noticed and re-sent.  Both directions therefore
use the same two pieces:

- `Retransmitter` on the sending side: everything sent waits, by id, for its answer (a Reply for
  a request, an EventAck for an event) and is re-sent every `interval` until answered or until
  `attempts` sends went unanswered.
- `ReplyCache` (daemon, for requests) and `InOrder` (client, for events) on the receiving side:
  a duplicate is answered again but acted on once; events are handed over in number order.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Pending:
    data: bytes
    due: float
    sends: int


class Retransmitter:
    """Datagrams awaiting an answer, by id."""

    def __init__(self, interval: float, attempts: int | None = None) -> None:
        self.interval = interval
        self.attempts = attempts  # None: until answered or cleared
        self._pending: dict[int, _Pending] = {}

    def add(self, ident: int, data: bytes, now: float) -> bytes:
        """Register `data` (already sent once by the caller) and return it."""
        self._pending[ident] = _Pending(data, now + self.interval, 1)
        return data

    def answered(self, ident: int) -> bool:
        return self._pending.pop(ident, None) is not None

    def clear(self) -> None:
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)

    def get_timer(self) -> float | None:
        return min((p.due for p in self._pending.values()), default=None)

    def handle_timer(self, now: float) -> tuple[list[bytes], list[int]]:
        """Return (datagrams to re-send, ids given up on), in id order."""
        resend: list[bytes] = []
        given_up: list[int] = []
        for ident, pending in sorted(self._pending.items()):
            if pending.due > now:
                continue
            if self.attempts is not None and pending.sends >= self.attempts:
                given_up.append(ident)
                continue
            pending.sends += 1
            pending.due = now + self.interval
            resend.append(pending.data)
        for ident in given_up:
            del self._pending[ident]
        return resend, given_up


class ReplyCache:
    """The last `size` replies by request id, so a re-sent request is answered, not re-done."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._replies: OrderedDict[int, bytes] = OrderedDict()

    def get(self, ident: int) -> bytes | None:
        return self._replies.get(ident)

    def put(self, ident: int, reply: bytes) -> None:
        self._replies[ident] = reply
        if len(self._replies) > self._size:
            self._replies.popitem(last=False)

    def clear(self) -> None:
        self._replies.clear()


class InOrder(Generic[T]):
    """Numbered items (1, 2, 3...) in, the same items out in order, each exactly once."""

    def __init__(self) -> None:
        self._next = 1
        self._held: dict[int, T] = {}

    def reset(self) -> None:
        self._next, self._held = 1, {}

    def push(self, number: int, item: T) -> list[T]:
        """Accept item `number`; return every item now deliverable, in order."""
        if number >= self._next and len(self._held) < 4096:
            self._held[number] = item
        ready: list[T] = []
        while self._next in self._held:
            ready.append(self._held.pop(self._next))
            self._next += 1
        return ready
