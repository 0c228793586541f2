"""The virtual-time event loop: jumps, real loopback sockets, ordering, and loud failures."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from sim.clock import (
    Stalled,
    VirtualEventLoop,
    VirtualTimeExceeded,
    WallTimeExceeded,
    run_virtual,
)
from sim.loopback import new_block


class Inbox(asyncio.DatagramProtocol):
    """Records (virtual time, bytes) of every datagram, and wakes a waiter per arrival."""

    def __init__(self) -> None:
        self.got: list[tuple[float, bytes]] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append((asyncio.get_running_loop().time(), data))
        self.arrived.set()


async def endpoint(addr: tuple[str, int], protocol: asyncio.DatagramProtocol | None = None):
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: protocol or Inbox(), local_addr=addr)
    return transport, proto


def test_an_hour_of_sleep_takes_no_real_time():
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = time.monotonic()
    assert run_virtual(main()) == 3600.0
    assert time.monotonic() - started < 5


def test_start_sets_the_initial_time_and_timers_fire_in_order():
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        done = asyncio.Event()
        loop.call_later(5, lambda: fired.append(("b", loop.time())))
        loop.call_later(1.5, lambda: fired.append(("a", loop.time())))
        loop.call_later(60, done.set)
        await done.wait()
        return fired

    assert run_virtual(main(), start=100.0) == [("a", 101.5), ("b", 105.0)]


def test_asyncio_timeouts_use_virtual_time():
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.Event().wait()
        return loop.time()

    assert run_virtual(main()) == 30.0


def test_datagram_sent_before_a_jump_arrives_before_it():
    """A send followed at once by a long sleep must be delivered at the send time, every time."""

    async def main() -> list[tuple[float, bytes]]:
        prefix = new_block()
        rx_t, rx = await endpoint((prefix + "2", 7777))
        tx_t, _ = await endpoint((prefix + "1", 7777), asyncio.DatagramProtocol())
        for i in range(300):
            tx_t.sendto(b"%d" % i, (prefix + "2", 7777))
            await asyncio.sleep(5)
        tx_t.close()
        rx_t.close()
        return rx.got

    got = run_virtual(main())
    assert got == [(i * 5.0, b"%d" % i) for i in range(300)]


def test_reply_beats_a_retransmission_timer():
    """Ping-pong over loopback with a 5 s retransmission timer armed: no timer ever fires."""

    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        prefix = new_block()
        b_addr = (prefix + "2", 7777)

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                self.transport.sendto(data, addr)

        echo_t, _ = await endpoint(b_addr, Echo())
        a_t, a = await endpoint((prefix + "1", 7777))
        retransmissions = 0
        for i in range(200):
            a.arrived.clear()
            a_t.sendto(b"%d" % i, b_addr)
            try:
                async with asyncio.timeout(5):
                    await a.arrived.wait()
            except TimeoutError:
                retransmissions += 1
        a_t.close()
        echo_t.close()
        return retransmissions, loop.time()

    assert run_virtual(main()) == (0, 0.0)


def test_a_run_with_nothing_left_to_happen_raises_stalled():
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(Stalled, match=r"stalled at virtual t=0\.000s.*main"):
        run_virtual(main())


def test_stalled_after_time_has_passed_reports_the_time():
    async def main() -> None:
        prefix = new_block()
        transport, inbox = await endpoint((prefix + "1", 7777))
        try:
            await asyncio.sleep(12)
            await inbox.arrived.wait()  # nobody sends: stalled
        finally:
            transport.close()

    with pytest.raises(Stalled, match=r"t=12\.000s"):
        run_virtual(main())


def test_busy_loop_hits_the_wall_time_limit():
    async def spin() -> None:
        while True:
            await asyncio.sleep(0)

    with pytest.raises(WallTimeExceeded):
        run_virtual(spin(), wall_limit=0.2)


def test_endless_timers_hit_the_virtual_time_limit():
    async def tick() -> None:
        while True:
            await asyncio.sleep(10)

    with pytest.raises(VirtualTimeExceeded, match="1000s"):
        run_virtual(tick(), virtual_limit=1000)


def test_pending_tasks_are_cancelled_and_the_loop_closed():
    cancelled = []

    async def background() -> None:
        try:
            await asyncio.sleep(1e6)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> str:
        asyncio.get_running_loop().create_task(background())
        await asyncio.sleep(1)
        return "done"

    assert run_virtual(main()) == "done"
    assert cancelled == [True]


def test_executor_jobs_run_inline():
    async def main() -> list:
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(None, lambda: 6 * 7)
        info = await loop.getaddrinfo("127.0.0.1", 7777, type=socket.SOCK_DGRAM)
        return [value, info[0][4]]

    assert run_virtual(main()) == [42, ("127.0.0.1", 7777)]


def test_loop_exposes_virtual_now():
    loop = VirtualEventLoop(start=7.5)
    try:
        assert loop.time() == loop.now == 7.5
        loop.run_until_complete(asyncio.sleep(2.5))
        assert loop.now == 10.0
    finally:
        loop.close()
