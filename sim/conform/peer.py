"""The raw SIMP peer of the conformance suite: a daemon's wire side with no logic of its own.

A case scripts it as packetdrill scripts a TCP peer: send this datagram now, expect that one
within so long, expect nothing matching for a while.  Everything it sends and receives is
recorded in a `sim.trace.Trace` (as the relay records, a send and its on-time arrival under one
number) so a failing case comes with its ladder and a pcap with the real addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sim.trace import FORWARDED, RECEIVED, Address, Trace
from simp import wire


class Deviation(AssertionError):
    """The implementation did not do what SIMP requires; the text says what, in protocol terms."""


class NotApplicable(Exception):
    """The case cannot run against this implementation (e.g. its user cannot take a step)."""


@dataclass(frozen=True, slots=True)
class Got:
    """A datagram the implementation sent us: raw bytes, decoded form (None if malformed), time."""

    data: bytes
    dg: wire.Datagram | None
    t: float
    source: Address

    @property
    def label(self) -> str:
        return self.dg.label if self.dg is not None else "malformed"

    def loose(self) -> Got:
        """This datagram read only by its first three bytes (type, op, seq), which sit at the same
        offsets whatever sizes the other fields have: lets a case get past a handshake in a
        dialect with other field sizes, so it can name those sizes."""
        if self.dg is not None or len(self.data) < 3 or self.data[0] not in wire.VALID_OPS:
            return self
        type_, op, seq = self.data[0], self.data[1], self.data[2]
        if op not in wire.VALID_OPS[type_] or seq not in (0, 1):
            return self
        kind_ = wire.Type(type_)
        dg = wire.Datagram(type=kind_, op=wire.Op(op) if kind_ is wire.Type.CONTROL else op, seq=seq, user="")
        return Got(self.data, dg, self.t, self.source)

    def describe(self) -> str:
        if self.dg is not None:
            return self.dg.describe()
        try:
            wire.decode(self.data)
        except wire.MalformedDatagram as exc:
            return f"malformed ({exc.reason}, {len(self.data)} bytes)"
        return "?"


Want = Callable[[Got], bool]


def kind(label: str, seq: int | None = None) -> Want:
    """A matcher: datagrams of this ladder label (SYN, SYN+ACK, ACK, FIN, ERR, CHAT), and bit."""
    return lambda g: g.dg is not None and g.dg.label == label and (seq is None or g.dg.seq == seq)


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, peer: RawPeer) -> None:
        self._peer = peer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._peer._arrived(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP from a daemon that is down
        pass


class RawPeer:
    """One raw peer bound at `local`, talking to the implementation at `remote`."""

    def __init__(self, trace: Trace, name: str, local: Address, remote_name: str, remote: Address,
                 *, origin: float, numbers: Iterator[int], user: str = "conform") -> None:
        self.trace = trace
        self.name = name
        self.local = local
        self.remote_name = remote_name
        self.remote = remote
        self.origin = origin
        self.user = user
        self.inbox: list[Got] = []
        self.sent: list[tuple[wire.Datagram, int]] = []  # each datagram sent, with len(inbox) then
        self.loose = False  # match datagrams by their first three bytes only (see Got.loose)
        self._cursor = 0
        self._changed = asyncio.Event()
        self._transport: asyncio.DatagramTransport | None = None
        self._numbers = numbers  # shared by every peer of a case: one numbering per trace

    async def open(self) -> None:
        self._transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Endpoint(self), local_addr=self.local)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.origin

    # -- sending ---------------------------------------------------------------------------------

    def send(self, what: wire.Datagram | bytes) -> None:
        if isinstance(what, wire.Datagram):
            self.sent.append((what, len(self.inbox)))
        data = wire.encode(what) if isinstance(what, wire.Datagram) else what
        assert self._transport is not None
        self._transport.sendto(data, self.remote)
        self._record(self.name, self.remote_name, data, self.local, self.remote)

    def control(self, op: wire.Op, seq: int = 0, payload: str = "") -> None:
        self.send(wire.control(op, seq, self.user, payload))

    def chat(self, seq: int, text: str) -> None:
        self.send(wire.chat(seq, self.user, text))

    # -- receiving -------------------------------------------------------------------------------

    def _arrived(self, data: bytes, source: Address) -> None:
        try:
            dg: wire.Datagram | None = wire.decode(data)
        except wire.MalformedDatagram:
            dg = None
        self.inbox.append(Got(data, dg, self.now(), source))
        self._record(self.remote_name, self.name, data, source, self.local)
        self._changed.set()

    def _record(self, src: str, dst: str, data: bytes, src_addr: Address, dst_addr: Address) -> None:
        n = next(self._numbers)
        t = self.now()
        self.trace.record(t, RECEIVED, src, dst, data, n=n, src_addr=src_addr, dst_addr=dst_addr)
        self.trace.record(t, FORWARDED, src, dst, data, n=n)  # no addresses: one pcap packet per datagram

    async def expect(self, want: Want, within: float, what: str) -> Got:
        """The first not yet consumed datagram matching `want`, arriving within `within` seconds.

        Datagrams before it are consumed too (they stay in `inbox` for checks and the ladder).
        Raises Deviation naming `what` and what did arrive instead.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for i in range(self._cursor, len(self.inbox)):
                got = self.inbox[i].loose() if self.loose else self.inbox[i]
                if want(got):
                    self._cursor = i + 1
                    return got
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [g.describe() for g in self.inbox[self._cursor:]]
                self._cursor = len(self.inbox)
                instead = f"; instead: {', '.join(seen)}" if seen else "; nothing arrived"
                raise Deviation(f"expected {what} within {within:.1f}s{instead}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def collect(self, during: float) -> list[Got]:
        """Every datagram arriving in the next `during` seconds (consumed)."""
        await asyncio.sleep(during)
        got = self.inbox[self._cursor:]
        self._cursor = len(self.inbox)
        return got

    def pending(self) -> list[Got]:
        return self.inbox[self._cursor:]
