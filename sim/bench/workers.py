"""Helper processes for `python -m sim bench`: the ceilings, and the relay in its own process.

    python -m sim.bench.workers echo ADDR                     bare asyncio UDP echo
    python -m sim.bench.workers ping LOCAL PEER COUNT         stop-and-wait pings to an echo; prints JSON
    python -m sim.bench.workers forward NAME=REAL/ALIAS ...   minimal asyncio forwarder between hosts
    python -m sim.bench.workers relay [--loss P --seed S] NAME=REAL/ALIAS ...   sim.relay.Relay

Addresses are `IP:PORT`.  Every long-running worker prints `ready` once its sockets are bound,
stops on SIGTERM, SIGINT or end of stdin, and exits by itself after `--limit` seconds, so a
benchmark that dies never leaves one behind for long.  Why separate processes: the daemons under
test are separate `daemon.py` processes, so each ceiling is measured in the same shape (one
asyncio loop per process, datagrams crossing process boundaries on loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence

Address = tuple[str, int]


def parse_address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    if not host.startswith("127.") or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected a loopback IP:PORT such as 127.16.0.1:7777, got {text!r}")
    return host, int(port)


def parse_host(text: str) -> tuple[str, Address, Address]:
    """`NAME=REAL/ALIAS`, e.g. `a=127.16.0.1:7777/127.16.0.101:7777`."""
    name, _, addresses = text.partition("=")
    real, _, alias = addresses.partition("/")
    if not name or not alias:
        raise argparse.ArgumentTypeError(f"expected NAME=REAL_IP:PORT/ALIAS_IP:PORT, got {text!r}")
    return name, parse_address(real), parse_address(alias)


# -- the bare ceilings -------------------------------------------------------------------------


class _Echo(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.transport.sendto(data, addr)


class _Pinger(asyncio.DatagramProtocol):
    """Sends the next ping when the previous one came back: stop-and-wait, nothing else."""

    def __init__(self, peer: Address) -> None:
        self.peer = peer
        self.left = 0
        self.done: asyncio.Future[float] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self, payload: bytes, count: int) -> asyncio.Future[float]:
        self.left = count
        self.done = asyncio.get_running_loop().create_future()
        self.transport.sendto(payload, self.peer)  # type: ignore[union-attr]
        return self.done

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.left -= 1
        if self.left > 0:
            self.transport.sendto(data, self.peer)  # type: ignore[union-attr]
        elif self.done is not None and not self.done.done():
            self.done.set_result(time.perf_counter())


async def ping(local: Address, peer: Address, count: int, warmup: int, limit: float) -> dict[str, float]:
    """Round trips per second of `count` stop-and-wait pings (after `warmup` untimed ones)."""
    loop = asyncio.get_running_loop()
    payload = b"\x02\x01\x00" + b"alice".ljust(32, b"\0") + b"\0\0\0\x10" + b"message 00000000"  # a CHAT
    pinger = _Pinger(peer)
    transport, _ = await loop.create_datagram_endpoint(lambda: pinger, local_addr=local)
    try:
        await asyncio.wait_for(pinger.start(payload, warmup), limit)
        started = time.perf_counter()
        finished = await asyncio.wait_for(pinger.start(payload, count), limit)
    finally:
        transport.close()
    return {"rate": count / (finished - started), "count": count}


# -- forwarders ------------------------------------------------------------------------------


class _MinimalAlias(asyncio.DatagramProtocol):
    """The least a relay must do: find the sender's host, send on from the sender's alias."""

    def __init__(self, forwarder: _MinimalForwarder, host: str) -> None:
        self.forwarder = forwarder
        self.host = host

    def datagram_received(self, data: bytes, addr: Address) -> None:
        fw = self.forwarder
        src = fw.by_real.get(addr)
        if src is not None:
            fw.transports[src].sendto(data, fw.real[self.host])


class _MinimalForwarder:
    def __init__(self) -> None:
        self.by_real: dict[Address, str] = {}
        self.real: dict[str, Address] = {}
        self.transports: dict[str, asyncio.DatagramTransport] = {}

    async def add_host(self, name: str, real: Address, alias: Address) -> None:
        self.by_real[real], self.real[name] = name, real
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _MinimalAlias(self, name), local_addr=alias)
        self.transports[name] = transport

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()


async def _serve(setup, limit: float) -> None:  # type: ignore[no-untyped-def]
    """Bind via `setup()` (returns a closer), print `ready`, run until a signal, EOF or `limit`."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # End of stdin stops the worker (the benchmark holds the other end of a pipe).  When stdin is
    # a file or closed, signals and the limit still stop it.
    with contextlib.suppress(OSError, ValueError):
        loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(4096) else None)
    close = await setup()
    print("ready", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), limit)
    except TimeoutError:
        print(f"worker stopped after its limit of {limit:g} s", file=sys.stderr)
    finally:
        close()


async def echo(addr: Address, limit: float) -> None:
    async def setup():  # type: ignore[no-untyped-def]
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(_Echo, local_addr=addr)
        return transport.close

    await _serve(setup, limit)


async def forward(hosts: Sequence[tuple[str, Address, Address]], limit: float) -> None:
    async def setup():  # type: ignore[no-untyped-def]
        forwarder = _MinimalForwarder()
        for name, real, alias in hosts:
            await forwarder.add_host(name, real, alias)
        return forwarder.close

    await _serve(setup, limit)


async def relay(hosts: Sequence[tuple[str, Address, Address]], loss: float | None, seed: int,
                limit: float) -> None:
    from sim.faults import Bernoulli, FaultPlan, Rule
    from sim.relay import Relay
    from sim.trace import Trace

    async def setup():  # type: ignore[no-untyped-def]
        rules = [] if loss is None else [Rule(action=Bernoulli(p=loss), name="loss")]
        trace = Trace([name for name, _, _ in hosts])
        r = Relay(FaultPlan(rules, seed), trace, origin=asyncio.get_running_loop().time())
        for name, real, alias in hosts:
            await r.add_host(name, real, alias)

        def close() -> None:
            r.close()
            r.check()

        return close

    await _serve(setup, limit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.bench.workers",
                                     description="Helper processes of `python -m sim bench`.")
    parser.add_argument("--limit", type=float, default=600.0, help="exit after this many seconds (600)")
    kinds = parser.add_subparsers(dest="kind", required=True)
    e = kinds.add_parser("echo", help="bare asyncio UDP echo")
    e.add_argument("addr", type=parse_address)
    p = kinds.add_parser("ping", help="stop-and-wait pings against an echo; prints JSON")
    p.add_argument("local", type=parse_address)
    p.add_argument("peer", type=parse_address)
    p.add_argument("count", type=int)
    p.add_argument("--warmup", type=int, default=500)
    f = kinds.add_parser("forward", help="minimal asyncio forwarder")
    f.add_argument("hosts", type=parse_host, nargs="+")
    r = kinds.add_parser("relay", help="sim.relay.Relay, empty fault plan or Bernoulli loss")
    r.add_argument("hosts", type=parse_host, nargs="+")
    r.add_argument("--loss", type=float, default=None,
                   help="one Bernoulli rule with this loss on every datagram (0 too); none: an empty plan")
    r.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.kind == "ping":
        result = asyncio.run(ping(args.local, args.peer, args.count, args.warmup, args.limit))
        print(json.dumps(result), flush=True)
    elif args.kind == "echo":
        asyncio.run(echo(args.addr, args.limit))
    elif args.kind == "forward":
        asyncio.run(forward(args.hosts, args.limit))
    else:
        asyncio.run(relay(args.hosts, args.loss, args.seed, args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
