"""Unique loopback address blocks, so parallel tests and runs never share a port.

Linux answers on all of 127.0.0.0/8 without configuration.  Each process draws blocks
127.X.Y.0/24 from a sequence that starts at a point derived from its pid (xdist workers and
concurrent runs are different processes), and hands out one block per test or scenario run; a
host is then 127.X.Y.h.  A block is checked free by binding its .1 address on port 7777.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

_FIRST_X, _LAST_X = 16, 250  # 127.0.0.0/16 stays free for people's own daemons


def _candidates(pid: int) -> Iterator[tuple[int, int]]:
    span = (_LAST_X - _FIRST_X + 1) * 256
    start = (pid * 7919) % span
    for offset in range(span):
        index = (start + offset) % span
        yield _FIRST_X + index // 256, index % 256


def _is_free(prefix: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((prefix + "1", 7777))
        except OSError:
            return False
    return True


class LoopbackAllocator:
    """Hands out `127.X.Y.` prefixes, each unused by this process before."""

    def __init__(self, pid: int | None = None) -> None:
        self._blocks = _candidates(os.getpid() if pid is None else pid)

    def block(self) -> str:
        for x, y in self._blocks:
            prefix = f"127.{x}.{y}."
            if _is_free(prefix):
                return prefix
        raise RuntimeError("no free 127.X.Y.0/24 block left in this process")


_allocator = LoopbackAllocator()


def new_block() -> str:
    """A fresh `127.X.Y.` prefix for this process (the process-wide allocator)."""
    return _allocator.block()
