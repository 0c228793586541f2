"""`python -m sim relay`: the scenario relay as a standalone lossy network, in real time.

Two (or more) people each run their own SIMP daemon; the relay sits between them so their
chat crosses a bad network.  Addressing is the harness's own (sim/relay.py): each host has a
*real* address where its daemon binds 7777 and an *alias* address where the relay binds one
socket for it.  A user invites the peer's ALIAS; the relay passes every datagram through the
fault rules and sends it on to the peer's real address from the sender's alias, so both
daemons run unmodified and each sees the other at its alias.

    python -m sim relay alice=127.0.0.1 bob=127.0.0.2 --loss 0.2 --delay 50ms..300ms

binds 127.0.0.101:7777 for alice and 127.0.0.102:7777 for bob (loopback reals get the alias
127.X.Y.(100+h), as in scenario runs; elsewhere give it: `alice=10.0.0.1@10.0.0.254:7001`).

Fault rules come from a YAML file with a `faults:` list written exactly as in a scenario (host
names in `match: {from: alice}` are the relay's host names) and/or from flags; the flags' rules
follow the file's.  Every datagram is printed as it passes, one ladder line each, with its fate;
on exit (Ctrl-C, SIGTERM or `--duration`) the trace, a pcapng capture (hosts named, faulted
datagrams commented) and the full ladder are written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim import faults as F
from sim.ladder import ladder
from sim.relay import Relay
from sim.trace import DROPPED, NOTE, RECEIVED, UNKNOWN, Address, Trace, TraceEvent

DEFAULT_PORT = 7777
LADDER_WIDTH = 44  # fixed, so the live lines of different datagrams line up


class RelaySetupError(ValueError):
    """A host or fault argument the relay cannot use; the text is the complete sentence."""


@dataclass(frozen=True, slots=True)
class HostSpec:
    name: str
    real: Address
    alias: Address


def _address(text: str, what: str) -> Address:
    host, sep, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not sep:
        host, port = text, str(DEFAULT_PORT)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise RelaySetupError(f"{what}: {host!r} is not an IPv4 address") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RelaySetupError(f"{what}: {port!r} is not a port number")
    return host, int(port)


def parse_host(text: str) -> HostSpec:
    """`NAME=REAL[:PORT][@ALIAS[:PORT]]`; a loopback REAL 127.X.Y.h defaults to alias 127.X.Y.(100+h)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise RelaySetupError(f"expected NAME=IP[:PORT][@ALIAS[:PORT]], got {text!r}")
    real_text, _, alias_text = rest.partition("@")
    real = _address(real_text, f"host {name}")
    if alias_text:
        alias = _address(alias_text, f"alias of {name}")
    else:
        ip = ipaddress.IPv4Address(real[0])
        last = ip.packed[3]
        if not ip.is_loopback or last > 155:
            raise RelaySetupError(
                f"host {name}: give the address the relay should bind for it, e.g. {name}={rest}@ALIAS "
                "(an alias is derived only for loopback addresses 127.X.Y.h with h <= 155)")
        alias = (str(ipaddress.IPv4Address(ip.packed[:3] + bytes([last + 100]))), DEFAULT_PORT)
    if alias == real:
        raise RelaySetupError(f"host {name}: the alias must differ from the daemon's own address")
    return HostSpec(name, real, alias)


def parse_delay(text: str) -> F.Delay:
    """`200ms` (fixed) or `50ms..300ms` (uniform in that range)."""
    from sim.scenario import parse_duration

    low_text, sep, high_text = text.partition("..")
    try:
        low = parse_duration(low_text)
        high = parse_duration(high_text) if sep else None
    except ValueError as exc:
        raise RelaySetupError(f"--delay: {exc}") from None
    if high is not None and high < low:
        raise RelaySetupError(f"--delay: {text!r} goes downwards; write LOW..HIGH")
    return F.Delay(low=low, high=high)


def _probability(flag: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise RelaySetupError(f"{flag}: expected a probability from 0 to 1, got {value:g}")


def flag_rules(
    *, loss: float | None, delay: str | None, duplicate: float | None, reorder: float | None
) -> list[F.Rule]:
    """The rules the command-line flags ask for, in a fixed order: loss, delay, duplicate, reorder."""
    for flag, value in (("--loss", loss), ("--duplicate", duplicate), ("--reorder", reorder)):
        _probability(flag, value)
    rules = []
    if loss:
        rules.append(F.Rule(name="--loss", action=F.Bernoulli(p=loss)))
    if delay:
        rules.append(F.Rule(name="--delay", action=parse_delay(delay)))
    if duplicate:
        rules.append(F.Rule(name="--duplicate", action=F.Duplicate(), probability=duplicate))
    if reorder:
        rules.append(F.Rule(name="--reorder", action=F.Reorder(), probability=reorder))
    return rules


def file_rules(path: Path, hosts: Sequence[str]) -> list[F.Rule]:
    """The `faults:` list of a YAML file, validated by the scenario parser (same messages).

    A bare fault file is completed into a scenario by *appending* the required keys, so the
    line numbers in error messages are those of the user's file.
    """
    from sim.scenario import ScenarioError, parse_scenario
    from sim.scenario_yaml import load_yaml

    text = path.read_text(encoding="utf-8")
    try:
        data, _ = load_yaml(text, str(path))
    except ScenarioError as exc:
        raise RelaySetupError(str(exc)) from None
    if not isinstance(data, dict) or "faults" not in data:
        raise RelaySetupError(f"{path}: expected a mapping with a 'faults:' list (as in a scenario file)")
    missing = {"name": "relay", "hosts": list(hosts), "steps": [{"sleep": "1s"}]}
    addition = "".join(f"\n{k}: {json.dumps(v)}" for k, v in missing.items() if k not in data)
    try:
        scenario = parse_scenario(text + "\n" + addition + "\n", str(path))
    except ScenarioError as exc:
        raise RelaySetupError(str(exc)) from None
    unknown = sorted({h for r in scenario.faults for h in (r.match.src, r.match.dst)
                      if h is not None and h not in hosts})
    if unknown:
        raise RelaySetupError(f"{path}: fault rules name {', '.join(unknown)}; the relay's hosts are "
                              f"{', '.join(hosts)}")
    return list(scenario.faults)


class LiveTrace(Trace):
    """A Trace that also hands each datagram's ladder lines to `emit` as soon as its fate is known.

    The relay records a datagram's arrival and its fate in one synchronous call, so a flush
    scheduled with `call_soon` at the first event sees them all; a delayed copy's later arrival
    triggers another flush that prints only the new line.
    """

    def __init__(self, hosts: Sequence[str], emit: Callable[[str], None]) -> None:
        super().__init__(hosts)
        self._emit = emit
        self._by_n: dict[int, list[TraceEvent]] = {}
        self._printed: dict[int, int] = {}
        self._dirty: list[int] = []

    def header(self) -> str:
        return ladder([], self.hosts, width=LADDER_WIDTH).rstrip("\n")

    def record(
        self, t: float, action: str, src: str, dst: str, data: bytes = b"", **kw: object
    ) -> TraceEvent:
        event = super().record(t, action, src, dst, data, **kw)  # type: ignore[arg-type]
        if event.n and action != NOTE:
            self._by_n.setdefault(event.n, []).append(event)
            if not self._dirty:
                asyncio.get_running_loop().call_soon(self.flush)
            if event.n not in self._dirty:
                self._dirty.append(event.n)
        return event

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for n in dirty:
            lines = ladder(self._by_n[n], self.hosts, width=LADDER_WIDTH).splitlines()[1:]
            done = self._printed.get(n, 0)
            for line in lines[done:]:
                self._emit(line)
            self._printed[n] = len(lines)


def summary(trace: Trace) -> str:
    """One line of counts: datagrams seen, dropped, and each other fate."""
    seen = sum(1 for e in trace.events if e.action in (RECEIVED, UNKNOWN))
    fates: dict[str, int] = {}
    for e in trace.events:
        if e.action not in (RECEIVED, UNKNOWN, NOTE, "forwarded"):
            fates[e.action] = fates.get(e.action, 0) + 1
    parts = [f"{seen} datagrams"] + [f"{k} {v}" for k, v in sorted(fates.items())]
    if not fates.get(DROPPED):
        parts.append("dropped 0")
    return ", ".join(parts)


def write_outputs(trace: Trace, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "trace.jsonl", out / "capture.pcapng", out / "ladder.txt", out / "ladder.svg"]
    trace.write_jsonl(paths[0])
    trace.write_pcapng(paths[1])
    paths[2].write_text(trace.ladder(), encoding="utf-8")
    trace.write_svg(paths[3], title="python -m sim relay")
    return paths


async def serve(
    hosts: Sequence[HostSpec],
    rules: Sequence[F.Rule],
    *,
    seed: int | str,
    duration: float | None,
    emit: Callable[[str], None],
    ready: Callable[[], None] | None = None,
) -> Trace:
    """Relay until SIGINT/SIGTERM (or `duration` seconds) and return the trace."""
    loop = asyncio.get_running_loop()
    trace = LiveTrace([h.name for h in hosts], emit)
    relay = Relay(F.FaultPlan(rules, seed), trace, origin=loop.time())
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        for h in hosts:
            try:
                await relay.add_host(h.name, h.real, h.alias)
            except OSError as exc:
                raise RelaySetupError(f"cannot bind {h.alias[0]}:{h.alias[1]} for {h.name}: "
                                      f"{exc.strerror or exc}") from None
        emit(trace.header())
        if ready is not None:
            ready()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
        trace.flush()
        relay.check()
    finally:
        relay.close()
        for sig in installed:
            loop.remove_signal_handler(sig)
    return trace


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("hosts", nargs="+", metavar="NAME=IP[:PORT][@ALIAS[:PORT]]",
                        help="a host's daemon address; peers reach it at its alias (default for "
                             "127.X.Y.h: 127.X.Y.(100+h), port 7777)")
    parser.add_argument("--faults", type=Path, metavar="FILE",
                        help="YAML file with a 'faults:' list, written as in a scenario")
    parser.add_argument("--loss", type=float, metavar="P", help="drop each datagram with probability P")
    parser.add_argument("--delay", metavar="T|LOW..HIGH",
                        help="delay every datagram, e.g. 200ms or 50ms..300ms")
    parser.add_argument("--duplicate", type=float, metavar="P", help="send a second copy with probability P")
    parser.add_argument("--reorder", type=float, metavar="P",
                        help="hold a datagram back until the next one on its path, with probability P")
    parser.add_argument("--seed", default="0", help="seed of the fault rules' random draws (default 0)")
    parser.add_argument("--out", type=Path, default=Path("relay-out"), metavar="DIR",
                        help="where trace.jsonl, capture.pcapng, ladder.txt/.svg go on exit "
                             "(default ./relay-out)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop by itself after this long")
    parser.add_argument("-q", "--quiet", action="store_true", help="no live ladder, only the summary")
    return parser


def main(args: argparse.Namespace) -> int:
    try:
        hosts = [parse_host(h) for h in args.hosts]
        names = [h.name for h in hosts]
        if len(set(names)) != len(names):
            raise RelaySetupError("each host needs its own name")
        if len(hosts) < 2:
            raise RelaySetupError("a relay needs at least two hosts")
        rules = file_rules(args.faults, names) if args.faults else []
        rules += flag_rules(loss=args.loss, delay=args.delay, duplicate=args.duplicate, reorder=args.reorder)
    except (RelaySetupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def emit(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    def ready() -> None:
        for h in hosts:
            print(f"# {h.name}: daemon at {h.real[0]}:{h.real[1]}; peers invite {h.alias[0]}"
                  + (f":{h.alias[1]}" if h.alias[1] != DEFAULT_PORT else ""), file=sys.stderr)
        described = "; ".join(r.describe() for r in rules) or "none (a perfect network)"
        print(f"# faults: {described}; seed {args.seed}. Ctrl-C ends and writes {args.out}/", file=sys.stderr,
              flush=True)

    started = time.monotonic()
    try:
        trace = asyncio.run(
            serve(hosts, rules, seed=args.seed, duration=args.duration, emit=emit, ready=ready))
    except RelaySetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths = write_outputs(trace, args.out)
    print(f"# {summary(trace)} in {time.monotonic() - started:.1f}s; wrote "
          + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0
