"""The lossy network: an asyncio UDP relay between the hosts' daemons.

Addressing: each host has a real address where its
daemon binds 7777, and an alias address where the relay binds one socket for it.  Daemons are
told their peers' alias addresses.  A datagram from host A's real address arriving at B's alias
is passed through the FaultPlan and then sent to B's real address *from A's alias socket*, so B
sees A at A's alias and replies there.  The daemons run unmodified and never know.

Everything the relay does is recorded in the Trace with the loop's time minus `origin`; delayed
copies are scheduled with `loop.call_at`, so under the virtual clock they cost no real time and
happen at exact, repeatable times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sim.faults import Delivery, FaultPlan
from sim.trace import (
    CORRUPTED,
    DELAYED,
    DROPPED,
    DUPLICATED,
    FORWARDED,
    RECEIVED,
    REORDERED,
    UNKNOWN,
    Address,
    Trace,
    describe_bytes,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostAddresses:
    """Where a host's daemon really is (`real`) and where its peers are told it is (`alias`)."""

    real: Address
    alias: Address


@dataclass
class _Held:
    """A copy kept back by a reorder rule until the next datagram on its path passes."""

    n: int
    delivery: Delivery
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Path:
    held: list[_Held] = field(default_factory=list)
    last_due: float = float("-inf")  # when the last delayed copy on this path is due


# Copies due at the same instant on one path arrive in the order they were sent: asyncio's
# scheduler breaks ties of equal deadlines in heap order, not FIFO (6 callbacks due at one
# instant ran as 0, 2, 5, 1, 3, 4), so a fixed delay on every datagram of a host reordered
# two datagrams it sent at one instant (explorer seeds 1828, 5246, 6705).  The later one is
# due TIE_GAP later: far below any timer that matters, and still a path that keeps its order.
TIE_GAP = 1e-6


class _AliasProtocol(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay, host: str) -> None:
        self._relay = relay
        self._host = host

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            self._relay._on_datagram(self._host, data, (addr[0], addr[1]))
        except Exception as exc:  # a bug in the relay or a rule must fail the run, not vanish in a log
            self._relay._fail(exc)

    def error_received(self, exc: Exception) -> None:
        # A peer daemon that is down makes the kernel report ICMP errors; that is the network's
        # business, not the relay's.
        log.debug("relay alias of %s: %s", self._host, exc)


class RelayError(RuntimeError):
    """The relay hit an internal error while handling a datagram; the run's trace is unreliable."""


class Relay:
    """UDP relay applying `plan` to every datagram between hosts and recording to `trace`.

    Use inside a running loop: `await relay.add_host(...)` for each host, then let daemons talk,
    then `relay.close()`.  `origin` is the loop time that counts as t=0 in the trace and for
    the fault rules' time windows.
    """

    def __init__(self, plan: FaultPlan, trace: Trace, *, origin: float = 0.0) -> None:
        self.plan = plan
        self.trace = trace
        self.origin = origin
        self._hosts: dict[str, HostAddresses] = {}
        self._by_real: dict[Address, str] = {}
        self._transports: dict[str, asyncio.DatagramTransport] = {}
        self._paths: dict[tuple[str, str], _Path] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._count = 0
        self._closed = False
        self._failure: BaseException | None = None

    # -- hosts -------------------------------------------------------------------------------

    async def add_host(self, name: str, real: Address, alias: Address) -> None:
        """Bind `alias` for host `name`, whose daemon is (or will be) at `real`."""
        if name in self._hosts:
            raise ValueError(f"host {name!r} is already on the relay")
        if real in self._by_real:
            raise ValueError(f"address {real} already belongs to host {self._by_real[real]!r}")
        # Known before the socket exists, so a datagram arriving at once finds its host.
        self._hosts[name] = HostAddresses(real=real, alias=alias)
        self._by_real[real] = name
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _AliasProtocol(self, name), local_addr=alias
            )
        except BaseException:
            del self._hosts[name], self._by_real[real]
            raise
        self._transports[name] = transport

    def remove_host(self, name: str) -> None:
        """Close `name`'s alias.  Copies still in flight from or to it are lost (and recorded)."""
        addresses = self._hosts.pop(name)
        del self._by_real[addresses.real]
        transport = self._transports.pop(name, None)
        if transport is not None:
            transport.close()

    def move_host(self, name: str, real: Address) -> None:
        """Host `name`'s daemon is now at `real` (its alias stays): the harness's process mode
        starts each incarnation of a daemon on an address of its own."""
        owner = self._by_real.get(real)
        if owner is not None and owner != name:
            raise ValueError(f"address {real} already belongs to host {owner!r}")
        addresses = self._hosts[name]
        del self._by_real[addresses.real]
        self._hosts[name] = HostAddresses(real=real, alias=addresses.alias)
        self._by_real[real] = name

    def alias(self, name: str) -> Address:
        """The address peers must use to reach host `name` through the relay."""
        return self._hosts[name].alias

    def real(self, name: str) -> Address:
        return self._hosts[name].real

    @property
    def hosts(self) -> list[str]:
        return list(self._hosts)

    def close(self) -> None:
        """Close every alias and cancel every pending copy.  Safe to call twice."""
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for path in self._paths.values():
            path.held.clear()
        for name in list(self._hosts):
            self.remove_host(name)

    def check(self) -> None:
        """Raise RelayError if handling any datagram failed (call it when a run ends)."""
        if self._failure is not None:
            raise RelayError(f"the relay failed: {self._failure!r}") from self._failure

    def _fail(self, exc: BaseException) -> None:
        log.error("relay failure", exc_info=exc)
        if self._failure is None:
            self._failure = exc

    # -- datagrams ---------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time() - self.origin

    def _on_datagram(self, dst: str, data: bytes, addr: Address) -> None:
        now = self._now()
        self._count += 1
        n = self._count
        src = self._by_real.get(addr)
        dst_addr = self._hosts[dst].alias
        if src is None:
            log.debug("%s -> %s  from unknown %s:%d, dropped", "?", dst, *addr)
            self.trace.record(
                now, UNKNOWN, f"{addr[0]}:{addr[1]}", dst, data, n=n, src_addr=addr, dst_addr=dst_addr
            )
            return
        self.trace.record(now, RECEIVED, src, dst, data, n=n, src_addr=addr, dst_addr=dst_addr)
        if not self.plan.rules:  # nothing can happen to it: skip decoding it and building a Decision
            self._forward(src, dst, n, data, "", 0)
            return
        decision = self.plan.decide(data, src, dst, now)
        if decision.dropped:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s -> %s  %s  dropped (%s)", src, dst, describe_bytes(data), decision.note)
            self.trace.record(now, DROPPED, src, dst, data, n=n, note=decision.note)
            return
        loop = asyncio.get_running_loop()
        for d in decision.deliveries:
            self._record_fate(now, src, dst, n, data, d)
            if d.delay <= 0:
                self._arrive(src, dst, n, d)
            else:
                path = self._paths.setdefault((src, dst), _Path())
                due = loop.time() + d.delay
                if path.last_due - 1000 * TIE_GAP < due <= path.last_due:  # a tie (or a bumped one)
                    due = path.last_due + TIE_GAP
                path.last_due = max(path.last_due, due)
                self._schedule(due, self._arrive, src, dst, n, d)

    def _record_fate(self, now: float, src: str, dst: str, n: int, original: bytes, d: Delivery) -> None:
        if d.data != original:
            self.trace.record(now, CORRUPTED, src, dst, d.data, n=n, note=d.note, copy=d.copy)
        if d.copy:
            action = DUPLICATED
        elif d.hold is not None:
            action = REORDERED
        elif d.delay > 0:
            action = DELAYED
        else:
            return
        self.trace.record(now, action, src, dst, d.data, n=n, note=d.note, copy=d.copy)

    def _schedule(self, when: float, callback: Callable[..., None], *args: object) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._timers.discard(holder[0])
            try:
                callback(*args)
            except Exception as exc:  # see _AliasProtocol.datagram_received
                self._fail(exc)

        handle = loop.call_at(when, fire)
        holder.append(handle)
        self._timers.add(handle)
        return handle

    def _arrive(self, src: str, dst: str, n: int, d: Delivery) -> None:
        """The copy's delay is over: hold it for reordering, or send it on."""
        if d.hold is not None:
            held = _Held(n, d)
            held.timer = self._schedule(
                asyncio.get_running_loop().time() + d.hold, self._release_held, src, dst, held
            )
            self._paths.setdefault((src, dst), _Path()).held.append(held)
            return
        self._forward(src, dst, n, d.data, d.note, d.copy)
        path = self._paths.get((src, dst))
        if path and path.held:
            released, path.held = path.held, []
            for held in released:
                if held.timer is not None:
                    held.timer.cancel()
                    self._timers.discard(held.timer)
                self._forward(
                    src,
                    dst,
                    held.n,
                    held.delivery.data,
                    f"{held.delivery.note}, released after #{n}",
                    held.delivery.copy,
                )

    def _release_held(self, src: str, dst: str, held: _Held) -> None:
        path = self._paths.get((src, dst))
        if path and held in path.held:
            path.held.remove(held)
            d = held.delivery
            self._forward(src, dst, held.n, d.data, f"{d.note}, released after max hold", d.copy)

    def _forward(self, src: str, dst: str, n: int, data: bytes, note: str, copy: int) -> None:
        now = self._now()
        via = self._transports.get(src)
        target = self._hosts.get(dst)
        if self._closed or via is None or target is None:
            gone = src if via is None else dst
            self.trace.record(
                now,
                DROPPED,
                src,
                dst,
                data,
                n=n,
                note=f"{note}; {gone} left the relay".lstrip("; "),
                copy=copy,
            )
            return
        if log.isEnabledFor(logging.DEBUG):  # describing the datagram costs more than forwarding it
            log.debug("%s -> %s  %s%s", src, dst, describe_bytes(data), f"  ({note})" if note else "")
        via.sendto(data, target.real)
        self.trace.record(
            now,
            FORWARDED,
            src,
            dst,
            data,
            n=n,
            note=note,
            copy=copy,
            src_addr=self._hosts[src].alias,
            dst_addr=target.real,
        )
