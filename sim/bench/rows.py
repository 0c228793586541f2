"""The rows of `python -m sim bench`; each function returns its rows with their ceilings.

See the package docstring (sim/bench/__init__.py) for what each row compares, why the daemons
are processes, and how to add a row (a function here, and its entry in STEPS at the end).
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.bench.check_rows import check_rows
from sim.bench.model import ROOT, BenchConfig, Row, Target
from sim.bench.procs import (
    Address,
    BenchError,
    HostSpec,
    Processes,
    close_chat,
    connect,
    host_args,
    open_chat,
    pump,
    ready,
    rss_kib,
    run_ping,
)
from sim.loopback import new_block
from simp.client import Client

PORT = 7777
CHAT_WITHIN = 60.0  # seconds any one chat step may take before the row is abandoned
PUMP_WITHIN = 120.0  # seconds one timed run of messages may take


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


# -- rows 1 and 2: chat rates ------------------------------------------------------------------


async def _chat_rate(a: Client, b: Client, peer: Address, config: BenchConfig) -> float:
    await open_chat(a, b, peer, CHAT_WITHIN)
    await pump(a, b, config.chat_warmup, config.window, PUMP_WITHIN)
    seconds = await pump(a, b, config.chat_messages, config.window, PUMP_WITHIN)
    await close_chat(a, b, CHAT_WITHIN)
    return config.chat_messages / seconds


async def _chat_rows(config: BenchConfig) -> list[Row]:
    prefix = new_block()
    a_ip, b_ip = prefix + "1", prefix + "2"
    echo, pinger = (prefix + "3", PORT), (prefix + "4", PORT)
    hosts: list[HostSpec] = [("a", (a_ip, PORT), (prefix + "101", PORT)),
                             ("b", (b_ip, PORT), (prefix + "102", PORT))]
    loop = asyncio.get_running_loop()
    with Processes() as procs:
        daemons = [(procs.daemon(ip, timeout=5.0, retries=6), ip) for ip in (a_ip, b_ip)]
        for proc, ip in daemons:
            await ready(procs, proc, ip)
        procs.worker("echo", f"{echo[0]}:{echo[1]}")
        procs.worker("relay", *host_args(hosts))
        a, b = await connect(a_ip, "alice"), await connect(b_ip, "bob")
        pingpong, direct, relayed = [], [], []
        try:
            for _ in range(config.rounds):  # interleaved, so that a noisy moment hits all three
                pingpong.append(await loop.run_in_executor(None, run_ping, pinger, echo, config.pingpong))
                direct.append(await _chat_rate(a, b, (b_ip, PORT), config))
                relayed.append(await _chat_rate(a, b, hosts[1][2], config))
        finally:
            await a.close()
            await b.close()
    spread = (f"median of {config.rounds} interleaved rounds (ratio: median of the rounds' ratios)"
              if config.rounds > 1 else "one round")
    rows = []
    for name, rates, target, what in (
            ("1 clean-link chat", direct, 0.35, "alice's client -> 2 daemon.py -> bob's client"),
            ("2 chat through relay", relayed, 0.25, "the same via sim.relay.Relay in its own process, "
                                                    "empty FaultPlan")):
        ratios = [r / c for r, c in zip(rates, pingpong, strict=True)]
        rows.append(Row(name=name, value=_median(rates), unit="msg/s", ceiling=_median(pingpong),
                        ceiling_unit="rt/s", ratio=_median(ratios), target=Target(low=target),
                        note=f"{what}; {config.chat_messages} messages, up to {config.window} queued; "
                             f"{spread}; ceiling: bare asyncio UDP ping-pong between two processes "
                             f"({config.pingpong} round trips)"))
    return rows


def chat_rows(config: BenchConfig) -> list[Row]:
    return asyncio.run(_chat_rows(config))


# -- row 2: relay forwarding -------------------------------------------------------------------


def _blast(source: socket.socket, sink: socket.socket, target: Address, count: int, window: int,
           within: float) -> float:
    """Datagrams/s through a forwarder: `source` sends to `target`, `sink` receives; at most
    `window` in flight.  A datagram not seen within 0.5 s is counted lost."""
    payload = b"\x02\x01\x00" + b"alice".ljust(32, b"\0") + b"\0\0\0\x10" + b"message 00000000"
    sink.settimeout(0.5)
    deadline = time.monotonic() + within
    sent = got = lost = 0
    started = time.perf_counter()
    while got + lost < count:
        while sent < count and sent - got - lost < window:
            source.sendto(payload, target)
            sent += 1
        try:
            sink.recv(2048)
            got += 1
        except TimeoutError:
            lost = sent - got
        if time.monotonic() > deadline:
            raise BenchError(f"forwarding {count} datagrams took more than {within:g} s")
    seconds = time.perf_counter() - started
    if lost > count // 100:
        raise BenchError(f"{lost} of {count} datagrams were lost")
    return got / seconds


def forwarding_row(config: BenchConfig) -> list[Row]:
    prefix = new_block()
    gen, snk = (prefix + "1", PORT), (prefix + "2", PORT)
    rates: dict[str, list[float]] = {"relay": [], "forward": []}
    with Processes() as procs, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        source.bind(gen)
        sink.bind(snk)
        for _ in range(config.rounds):
            for kind, base in (("forward", 110), ("relay", 100)):
                hosts = [("g", gen, (f"{prefix}{base + 1}", PORT)), ("s", snk, (f"{prefix}{base + 2}", PORT))]
                worker = procs.worker(kind, *host_args(hosts))
                try:
                    rates[kind].append(_blast(source, sink, hosts[1][2], config.forward_count,
                                              config.forward_window, 60.0))
                finally:
                    procs.stop(worker)
    rate, ceiling = _median(rates["relay"]), _median(rates["forward"])
    return [Row(name="2 relay forwarding", value=rate, unit="dgram/s", ceiling=ceiling,
                ceiling_unit="dgram/s", ratio=rate / ceiling, target=Target(low=0.7),
                note=f"{config.forward_count} datagrams, {config.forward_window} in flight, median of "
                     f"{config.rounds}; ceiling: a minimal asyncio forwarder (dict lookup + sendto) in its "
                     "own process")]


# -- row 3: time per message under loss ------------------------------------------------------


async def _lossy_chats(config: BenchConfig, p: float, pairs: int, messages: int) -> tuple[float, int]:
    """Mean seconds per message over `pairs` chats side by side through one relay with Bernoulli
    loss `p` on every datagram; and how many chat retransmissions the senders made meanwhile."""
    prefix = new_block()
    ips = [(f"{prefix}{2 * k + 1}", f"{prefix}{2 * k + 2}") for k in range(pairs)]
    hosts: list[HostSpec] = []
    for k, (a_ip, b_ip) in enumerate(ips):
        hosts += [(f"a{k}", (a_ip, PORT), (f"{prefix}{100 + 2 * k + 1}", PORT)),
                  (f"b{k}", (b_ip, PORT), (f"{prefix}{100 + 2 * k + 2}", PORT))]
    per_pair = max(1, messages // pairs)
    with Processes() as procs:
        started = [(procs.daemon(ip, timeout=config.loss_timeout, retries=config.loss_retries), ip)
                   for pair in ips for ip in pair]
        for proc, ip in started:
            await ready(procs, proc, ip)
        procs.worker("relay", "--loss", f"{p:g}", "--seed", str(config.seed), *host_args(hosts))
        clients = [(await connect(a_ip, f"alice{k}"), await connect(b_ip, f"bob{k}")) for k, (a_ip, b_ip)
                   in enumerate(ips)]
        try:
            await asyncio.gather(*(open_chat(a, b, hosts[2 * k + 1][2], CHAT_WITHIN)
                                   for k, (a, b) in enumerate(clients)))
            before = [int((await a.status()).get("retransmissions", 0)) for a, _ in clients]
            seconds = await asyncio.gather(*(pump(a, b, per_pair, config.window, PUMP_WITHIN)
                                             for a, b in clients))
            after = [int((await a.status()).get("retransmissions", 0)) for a, _ in clients]
        finally:
            for a, b in clients:
                await a.close()
                await b.close()
    return statistics.mean(s / per_pair for s in seconds), sum(after) - sum(before)


def loss_rows(config: BenchConfig) -> list[Row]:
    t_o = config.loss_timeout
    # RTT: the same relay path (one Bernoulli rule, p = 0: the datagram is decoded and decided on)
    rtt, _ = asyncio.run(_lossy_chats(config, 0.0, 1, config.loss_rtt_messages))
    rows = []
    for p, messages, pairs in zip(config.loss, config.loss_messages, config.loss_pairs, strict=True):
        per_message, retransmissions = asyncio.run(_lossy_chats(config, p, pairs, messages))
        q = (1 - p) ** 2  # one attempt succeeds when the CHAT and its ACK both pass
        expected = rtt + t_o * (1 / q - 1)
        sampled = max(1, messages // pairs) * pairs
        error = t_o * math.sqrt(1 - q) / q / math.sqrt(sampled) / expected
        realized = rtt + t_o * retransmissions / sampled  # what the losses that happened should cost
        excess = f" ({(per_message - realized) * 1000:+.2f} ms per message)"
        rows.append(Row(
            name=f"3 loss p={p:g}", value=per_message * 1000, unit="ms/msg", ceiling=expected * 1000,
            ceiling_unit="ms/msg", ratio=per_message / expected, target=Target(low=0.9, high=1.1),
            note=f"T_o={t_o * 1000:g} ms, RTT={rtt * 1000:.3f} ms (p=0), retries={config.loss_retries} "
                 f"(never gives up), {sampled} messages over {pairs} chat(s), sampling s.e. +-{error:.1%}; "
                 f"vs the {retransmissions} retransmissions that happened: "
                 f"{per_message / realized:.3f}{excess}"))
    return rows


# -- row 4: the catalog under the virtual clock ------------------------------------------------


def replay_rows(config: BenchConfig) -> list[Row]:
    from sim.runner import run_scenario
    from sim.scenario import load_scenarios

    scenarios = load_scenarios([str(p) for p in config.catalog])
    wall = protocol = 0.0
    failed = []
    for sc in scenarios:
        result = run_scenario(sc)
        wall += result.wall_time
        protocol += result.virtual_time
        if not result.passed:
            failed.append(sc.name)
    if failed:  # a run that went wrong is no measure of the replay's speed
        rows = [Row.error("4 catalog replay", f"{len(failed)} of {len(scenarios)} scenarios failed: "
                                              f"{', '.join(failed)}")]
    else:
        rows = [Row(name="4 catalog replay", value=wall, unit="s wall", ceiling=protocol,
                    ceiling_unit="s protocol", ratio=protocol / wall if wall else math.nan,
                    target=Target(low=100), note=f"{len(scenarios)} scenarios in-process")]
    if config.pytest_catalog:
        rows.append(_pytest_row(config, len(scenarios)))
    return rows


def _pytest_row(config: BenchConfig, expected: int) -> Row:
    name = "4 pytest -n 2 scenarios/"
    args = [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
            "-p", "sim.pytest_plugin", *[str(p) for p in config.catalog]]  # -p: a catalog outside ROOT
    started = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=120, check=False)
    seconds = time.monotonic() - started
    try:
        tail = _pytest_tail(done, expected)
    except BenchError as exc:
        return Row.error(name, str(exc))
    return Row(name=name, value=seconds, unit="s", ceiling=10.0, ceiling_unit="s budget",
               ratio=seconds / 10.0, target=Target(high=1.0),
               note=f"wall time of the whole command, start-up included: {tail}")


def _pytest_tail(done: subprocess.CompletedProcess[bytes], expected: int) -> str:
    """pytest's summary line, after checking that it ran every scenario and all passed: the time
    of a pytest that could not start (not installed, a bad plugin) or failed is no measurement."""
    out = done.stdout.decode(errors="replace").strip().splitlines()
    tail = out[-1] if out else ""
    passed = re.search(r"\b(\d+) passed\b", tail)
    if done.returncode != 0 or passed is None or int(passed.group(1)) != expected:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        said = tail or (err[-1] if err else "no output")
        raise BenchError(f"pytest exited with status {done.returncode} instead of passing all {expected} "
                         f"scenarios: {said[:300]}")
    return tail


# -- row 5: memory -----------------------------------------------------------------------------


async def _memory(config: BenchConfig) -> tuple[list[int], list[int], list[int]]:
    """VmRSS in KiB of alice's and bob's daemons: idle, after the messages, after the chats."""
    prefix = new_block()
    a_ip, b_ip = prefix + "1", prefix + "2"
    with Processes() as procs:
        daemons = [procs.daemon(ip, timeout=5.0, retries=6) for ip in (a_ip, b_ip)]
        for proc, ip in zip(daemons, (a_ip, b_ip), strict=True):
            await ready(procs, proc, ip)
        a, b = await connect(a_ip, "alice"), await connect(b_ip, "bob")
        try:
            await asyncio.sleep(0.3)
            idle = [rss_kib(d.pid) for d in daemons]
            await open_chat(a, b, (b_ip, PORT), CHAT_WITHIN)
            await pump(a, b, config.memory_messages, config.window, PUMP_WITHIN)
            await close_chat(a, b, CHAT_WITHIN)
            messages = [rss_kib(d.pid) for d in daemons]
            for _ in range(config.memory_chats):
                await open_chat(a, b, (b_ip, PORT), CHAT_WITHIN)
                await close_chat(a, b, CHAT_WITHIN)
            chats = [rss_kib(d.pid) for d in daemons]
        finally:
            await a.close()
            await b.close()
    return idle, messages, chats


def memory_rows(config: BenchConfig) -> list[Row]:
    idle, messages, chats = asyncio.run(_memory(config))
    detail = (f"VmRSS of alice's/bob's daemon.py in KiB: idle {idle[0]}/{idle[1]}, after the messages "
              f"{messages[0]}/{messages[1]}, after the chats {chats[0]}/{chats[1]}; the worse daemon is "
              "shown")
    rows = []
    for after, name in ((messages, f"5 RSS after {config.memory_messages:,} messages"),
                        (chats, f"5 RSS after {config.memory_chats:,} chats")):
        worst = max(range(2), key=lambda i: after[i] / idle[i])
        rows.append(Row(name=name, value=after[worst] / 1024, unit="MiB", ceiling=idle[worst] / 1024,
                        ceiling_unit="MiB idle", ratio=after[worst] / idle[worst], target=Target(high=1.1),
                        note=detail if after is chats else ""))
    return rows


# -- row 6: dissector --------------------------------------------------------------------------


def write_harness_pcap(path: Path, packets: int) -> int:
    """A pcap as the harness writes it (sim.trace.write_pcap of a relay trace): per chat a
    handshake, messages with their ACKs, FIN/ACK, each datagram on both legs (received at the
    relay, forwarded by it), and one corrupted datagram per chat.  Returns the packet count."""
    from sim.trace import FORWARDED, RECEIVED, Trace
    from simp import wire

    trace = Trace(["alice", "bob"])
    n = 0
    t = 0.0
    chat = 0
    while n < packets:
        chat += 1
        a_real, a_alias = ("127.20.0.1", PORT + chat % 7), ("127.20.0.101", PORT)
        b_real, b_alias = ("127.20.0.2", PORT), ("127.20.0.102", PORT)
        exchange: list[tuple[str, bytes]] = [
            ("a", wire.encode(wire.control(wire.Op.SYN, 0, "alice"))),
            ("b", wire.encode(wire.control(wire.Op.SYN_ACK, 0, "bob"))),
            ("a", wire.encode(wire.control(wire.Op.ACK, 0, "alice"))),
        ]
        for i in range(40):
            text = f"message {chat}.{i} " + "x" * (i % 17)
            exchange.append(("a", wire.encode(wire.chat(i % 2, "alice", text))))
            exchange.append(("b", wire.encode(wire.control(wire.Op.ACK, i % 2, "bob"))))
        bad_seq = b"\x02\x01\x02" + b"alice".ljust(32, b"\0") + b"\0\0\0\x02hi"  # seq 2: malformed
        exchange.append(("a", bad_seq))
        exchange.append(("a", wire.encode(wire.control(wire.Op.FIN, 0, "alice"))))
        exchange.append(("b", wire.encode(wire.control(wire.Op.ACK, 0, "bob"))))
        for side, data in exchange:
            if n >= packets:
                break
            t += 0.0005
            src, dst = ("alice", "bob") if side == "a" else ("bob", "alice")
            real, alias = (a_real, b_alias) if side == "a" else (b_real, a_alias)
            out_from, out_to = (a_alias, b_real) if side == "a" else (b_alias, a_real)
            trace.record(t, RECEIVED, src, dst, data, n=n, src_addr=real, dst_addr=alias)
            n += 1
            if n < packets:
                trace.record(t, FORWARDED, src, dst, data, n=n, src_addr=out_from, dst_addr=out_to)
                n += 1
    trace.write_pcap(path)
    return n


@contextmanager
def _layers_unbound() -> Iterator[None]:
    from simp import dissect

    for layer, port in ((dissect.SIMP, dissect.DAEMON_PORT), (dissect.SIMPControl, dissect.CLIENT_PORT)):
        dissect.unbind_port(layer, port)
    try:
        yield
    finally:
        for layer, port in ((dissect.SIMP, dissect.DAEMON_PORT), (dissect.SIMPControl, dissect.CLIENT_PORT)):
            dissect.bind_port(layer, port)


def _decode_rates(path: Path, chunk: int = 2_000) -> tuple[float, float, int]:
    """Packets/s reading `path` with the SIMP layers and with them unbound.  Two readers advance
    in alternating chunks, so a noisy moment of the machine hurts both about equally."""
    from scapy.utils import PcapReader

    from simp import dissect

    spent = {"ours": 0.0, "bare": 0.0}
    counts = {"ours": 0, "bare": 0}
    simp_layers = 0
    with PcapReader(str(path)) as ours, PcapReader(str(path)) as bare:
        readers = {"ours": iter(ours), "bare": iter(bare)}
        finished: set[str] = set()
        while len(finished) < 2:
            for kind in ("ours", "bare"):
                if kind in finished:
                    continue
                with _layers_unbound() if kind == "bare" else _nothing():
                    started = time.perf_counter()
                    got = 0
                    for packet in readers[kind]:
                        got += 1
                        if kind == "ours" and dissect.simp_layer(packet) is not None:
                            simp_layers += 1
                        if got == chunk:
                            break
                    spent[kind] += time.perf_counter() - started
                counts[kind] += got
                if got < chunk:
                    finished.add(kind)
    if counts["ours"] != counts["bare"] or simp_layers != counts["ours"]:
        raise BenchError(f"decoded {counts} packets, {simp_layers} with a SIMP layer")
    return counts["ours"] / spent["ours"], counts["bare"] / spent["bare"], counts["ours"]


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def dissector_row(config: BenchConfig) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="simp-bench-") as folder:
        path = Path(folder) / "harness.pcap"
        write_harness_pcap(path, config.pcap_packets)
        ours, bare, count = _decode_rates(path)
    return [Row(name="6 dissector", value=ours, unit="pkt/s", ceiling=bare, ceiling_unit="pkt/s",
                ratio=ours / bare, target=Target(low=0.6),
                note=f"{count:,}-packet harness pcap (write_pcap of a relay trace); ceiling: scapy reading "
                     "the same file with the SIMP layers unbound (Ether/IP/UDP/Raw)")]


# -- the steps the command runs, in order ----------------------------------------------------

STEPS: list[tuple[str, Callable[[BenchConfig], list[Row]]]] = [
    ("chat rates (rows 1-2)", chat_rows),
    ("relay forwarding (row 2)", forwarding_row),
    ("loss (row 3)", loss_rows),
    ("catalog replay (row 4)", replay_rows),
    ("memory (row 5)", memory_rows),
    ("dissector (row 6)", dissector_row),
    ("model checker (row 7)", check_rows),
]
