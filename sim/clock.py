"""Virtual time for asyncio: an event loop whose clock jumps instead of waiting.

Why: scenarios wait for 5 s retransmission timeouts and 60 s invitation expiries; under this loop
they cost microseconds and the timing is exact and repeatable.  Real loopback UDP sockets keep
working, because the selector still polls them: it only refuses to *block*.  When the loop would
block (no callback ready, no socket readable), the selector advances the loop's clock by the
timeout the loop asked for, which is exactly the time of the next timer.

Hazard handled here: a datagram sent on loopback is, in practice, queued at the receiver before
`sendto` returns, but the kernel may finish that work a moment later.  Before every jump the
selector therefore polls again after yielding the CPU (`settle_polls` times), so a reply already
on its way is seen at the current virtual time instead of after the jump.

A run in which nothing can ever happen again (no timer, no ready socket) raises `Stalled` instead
of hanging; a run that spins for more than `wall_limit` real seconds, or goes past `virtual_limit`
virtual seconds, raises `WallTimeExceeded` / `VirtualTimeExceeded`.  Executor jobs
(`run_in_executor`, hence `getaddrinfo`) run inline, since a thread's progress is invisible to
virtual time; for the same reason subprocesses need a real loop (the harness's process mode).
"""

from __future__ import annotations

import asyncio
import os
import selectors
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ClockError(RuntimeError):
    """Base of the errors that abort a virtual-time run."""


class Stalled(ClockError):
    """Nothing is scheduled and no socket is readable: the run would wait forever."""


class WallTimeExceeded(ClockError):
    """The run used more real time than allowed (likely a busy loop)."""


class VirtualTimeExceeded(ClockError):
    """Virtual time went past the limit (likely a periodic timer with nothing else happening)."""


class _WrappedSelector(selectors.BaseSelector):
    """Delegates to a real selector; subclasses change only how `select` waits."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class _VirtualSelector(_WrappedSelector):
    """Polls the real selector without blocking, and jumps the clock instead of waiting."""

    def __init__(self, loop: VirtualEventLoop, settle_polls: int) -> None:
        super().__init__()
        self._loop = loop
        self._settle_polls = settle_polls

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self._loop._check_wall()
        events = self._inner.select(0)
        if events or timeout == 0:
            return events
        for _ in range(self._settle_polls):
            os.sched_yield()
            events = self._inner.select(0)
            if events:
                return events
        if timeout is None:
            raise Stalled(self._loop._stall_report())
        self._loop._advance(timeout)
        return []


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """A SelectorEventLoop whose `time()` is virtual; see the module docstring.

    `start` is the initial `time()`.  `now` is the same as `time()`, for readers.
    """

    def __init__(
        self,
        *,
        start: float = 0.0,
        wall_limit: float = 60.0,
        virtual_limit: float | None = 86400.0,
        settle_polls: int = 2,
    ) -> None:
        self._now = float(start)
        self._start = float(start)
        self._wall_limit = wall_limit
        self._virtual_limit = virtual_limit
        self._wall_start = time.monotonic()
        super().__init__(selector=_VirtualSelector(self, settle_polls))

    def time(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        return self._now

    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `func` inline: a worker thread would race the virtual clock."""
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # handed to the awaiting coroutine, as an executor would
            future.set_exception(exc)
        return future

    def _advance(self, seconds: float) -> None:
        target = self._now + seconds
        if self._virtual_limit is not None and target - self._start > self._virtual_limit:
            raise VirtualTimeExceeded(
                f"virtual time would pass {self._virtual_limit:g}s (at t={self._now - self._start:.3f}s "
                f"the next timer is {seconds:.3f}s away); {self._waiting_tasks()}"
            )
        self._now = target

    def _check_wall(self) -> None:
        spent = time.monotonic() - self._wall_start
        if spent > self._wall_limit:
            raise WallTimeExceeded(
                f"the run took more than {self._wall_limit:g}s of real time (virtual t="
                f"{self._now - self._start:.3f}s); {self._waiting_tasks()}"
            )

    def _waiting_tasks(self) -> str:
        tasks = sorted(
            f"{t.get_name()} ({getattr(t.get_coro(), '__qualname__', t.get_coro())})"
            for t in asyncio.all_tasks(self)
            if not t.done()
        )
        return "waiting tasks: " + (", ".join(tasks) if tasks else "none")

    def _stall_report(self) -> str:
        return (
            f"stalled at virtual t={self._now - self._start:.3f}s: no timer is scheduled and no socket "
            f"is readable, so nothing can happen any more; {self._waiting_tasks()}"
        )


def run_virtual(
    coro: Coroutine[Any, Any, T],
    *,
    start: float = 0.0,
    wall_limit: float = 60.0,
    virtual_limit: float | None = 86400.0,
) -> T:
    """Run `coro` to completion on a fresh VirtualEventLoop, like `asyncio.run`.

    Tasks still pending at the end are cancelled and awaited; the loop is closed.  A ClockError
    from that clean-up is raised only when the run itself succeeded.
    """
    loop = VirtualEventLoop(start=start, wall_limit=wall_limit, virtual_limit=virtual_limit)
    failed = False
    try:
        return loop.run_until_complete(coro)
    except BaseException:
        failed = True
        raise
    finally:
        try:
            _cancel_pending(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        except ClockError:
            if not failed:
                raise
        finally:
            loop.close()


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


class _ScaledSelector(_WrappedSelector):
    """Waits `scale` times the timeout the loop asks for."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self._scale = scale

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._inner.select(None if timeout is None else timeout * self._scale)


class ScaledEventLoop(asyncio.SelectorEventLoop):
    """Real time, slowed or sped up: `time()` is the monotonic clock divided by `scale`.

    Why: the harness's process mode runs real daemon processes with their timeouts multiplied
    by `scale`; on this loop the harness's own durations (fault delays, sleeps, expected times,
    which the scenario states at full scale) shrink by the same factor without being rewritten.
    """

    def __init__(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self._scale = scale
        super().__init__(selector=_ScaledSelector(scale))

    def time(self) -> float:
        return time.monotonic() / self._scale


def run_scaled(coro: Coroutine[Any, Any, T], scale: float) -> T:
    """Run `coro` to completion on a fresh ScaledEventLoop, like `asyncio.run`."""
    loop = ScaledEventLoop(scale)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            _cancel_pending(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
