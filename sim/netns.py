"""A network namespace of its own for a daemon that hard-codes its ports or binds 0.0.0.0.

Such a daemon cannot share the host's loopback with another copy of itself (or with the raw
peer on 7777), so it gets a namespace with one veth link to the host: the daemon is at
`inside` (10.X.Y.2), the host side of the link at `outside` (10.X.Y.1).  Both addresses exist
only inside this machine: the link goes nowhere but into the namespace we created, so nothing
we send there leaves the host.  The harness's peers bind `outside`-side addresses; a command is
run inside with `wrap(argv)` (`ip netns exec NAME ...`).

Needs root and iproute2 (`ip`); `NetnsError` says clearly which is missing.  Every namespace is
removed by `close()` (also on errors half-way through setup), and a name is derived from the
process id and a counter so parallel runs never collide; within a process (the threads of
`python -m sim run -j N`) choosing a free block and taking it is one locked step.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence

_counter = itertools.count(1)
_taking = threading.Lock()  # a block is free until its address is added: one thread at a time


class NetnsError(RuntimeError):
    """The namespace cannot be made here; the text says why and what to do."""


def check_available() -> None:
    """Raise NetnsError unless namespaces can be made (root, `ip` installed)."""
    if shutil.which("ip") is None:
        raise NetnsError("network namespaces need iproute2's `ip` command: apt-get install -y iproute2")
    if os.geteuid() != 0:
        raise NetnsError("a profile with `binds: netns` needs root to create network namespaces "
                         "(run as root, or use a profile whose daemon can bind a given address)")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and proc.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip() or proc.returncode}")
    return proc


_BLOCKS = 50 * 256  # 10.200.0.0 - 10.249.255.0: /24 blocks for namespace links


def _free_prefix(start: int) -> str:
    """A `10.X.Y.` block no interface of this host uses yet, searched from `start` (pid-derived,
    so parallel processes start far apart)."""
    used = _ip("-o", "-4", "addr", "show").stdout
    for offset in range(_BLOCKS):
        block = (start + offset) % _BLOCKS
        prefix = f"10.{200 + block // 256}.{block % 256}."
        if f" {prefix}" not in used:
            return prefix
    raise NetnsError("no free 10.200-249.X.0/24 block left for a namespace link")


class Namespace:
    """One namespace with a veth pair to the host.  Use as a context manager or call close()."""

    def __init__(self, index: int | None = None) -> None:
        check_available()
        n = next(_counter) if index is None else index
        tag = f"{os.getpid() % 100000}x{n}"
        self.name = f"simp{tag}"
        self.host_if = f"sh{tag}"[:15]
        self.ns_if = f"sn{tag}"[:15]
        self._made = False
        with _taking:
            self.prefix = _free_prefix(os.getpid() * 131 + n)
            self.outside = f"{self.prefix}1"
            self.inside = f"{self.prefix}2"
            self.outside_extra = f"{self.prefix}3"  # a second host-side address (a third party)
            try:
                self._setup()
            except BaseException:
                self.close()
                raise

    def _setup(self) -> None:
        _ip("netns", "add", self.name)
        self._made = True
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _ip("link", "set", self.ns_if, "netns", self.name)
        _ip("addr", "add", f"{self.outside}/24", "dev", self.host_if)
        _ip("addr", "add", f"{self.outside_extra}/24", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("-n", self.name, "addr", "add", f"{self.inside}/24", "dev", self.ns_if)
        _ip("-n", self.name, "link", "set", self.ns_if, "up")
        _ip("-n", self.name, "link", "set", "lo", "up")

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def close(self) -> None:
        """Remove the link and the namespace (safe to call twice)."""
        _ip("link", "del", self.host_if, check=False)
        if self._made:
            _ip("netns", "del", self.name, check=False)
            self._made = False

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
