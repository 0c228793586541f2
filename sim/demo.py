"""`python -m sim demo`: a chat between two real daemons, as it happens, over a lossy link.

It starts `daemon.py` twice and `client.py` twice (scripted), and prints every line they print,
prefixed with who said it, including the daemons' one-line-per-datagram debug log.  With
`--loss P` (default 0.3) the daemons talk through an in-process `sim.relay.Relay` that drops each
daemon-to-daemon datagram with probability P (seeded, `--seed`), and the `network` lines show
every datagram it dropped and every retransmission it saw, so the protocol's recovery is visible;
a summary counts both at the end.  `--loss 0` is a direct chat, no relay.

Addressing: daemon A binds A:7777 (peers) and A:7778 (its client), and so does daemon B.  The
relay binds one alias per host on the same address, port 7780 (A:7780 stands for A to B, and B:7780
for B to A), and alice invites B:7780; so two loopback addresses suffice.  Every address is
checked before anything starts: one that cannot be bound (another daemon running there, an
address not on this host) fails the demo at once with one line naming it, exit status 2.  A
process that stops early fails the demo at once too; a step that does not happen within
`STEP_WITHIN` seconds fails it with exit status 1.  Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.trace import DROPPED, RECEIVED, Trace, TraceEvent, describe_bytes
from simp import wire

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("alice", "bob")
DAEMON_PORT, CLIENT_PORT, ALIAS_PORT = 7777, 7778, 7780
STEP_WITHIN = 15.0  # seconds any one step of the script may take
RETRANSMITTED = {(wire.Type.CONTROL, wire.Op.SYN), (wire.Type.CONTROL, wire.Op.SYN_ACK),
                 (wire.Type.CONTROL, wire.Op.FIN), (wire.Type.CHAT, wire.MESSAGE)}


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why, in one line, `status` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _loopback(text: str) -> str:
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(f"the demo uses loopback addresses only (127.x.y.z), got {text}")
    return str(address)


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= p < 1:
        raise argparse.ArgumentTypeError(f"a loss probability is at least 0 and less than 1, got {text}")
    return p


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m sim demo` (sim/cli.py calls this)."""
    parser.description = (
        "A scripted chat between two real daemon.py processes and two client.py processes, printed as it "
        "happens: the clients' lines and each daemon's log of every datagram.  By default the daemons "
        "talk through a lossy relay, and 'network' lines show each datagram it dropped and each "
        "retransmission that followed.  Exit status: 0 the chat went through, 1 a step did not "
        "happen or a process stopped, 2 an address cannot be used.")
    parser.add_argument("--addresses", nargs=2, type=_loopback, default=["127.0.0.1", "127.0.0.2"],
                        metavar=("ALICE", "BOB"), help="loopback addresses of the two daemons "
                        "(default 127.0.0.1 127.0.0.2)")
    parser.add_argument("--loss", type=_probability, default=0.3,
                        help="probability that the network drops a daemon-to-daemon datagram, each "
                        "direction (default 0.3; 0: a direct chat without the relay)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the losses (default 1)")
    parser.add_argument("--timeout", type=float, default=0.5,
                        help="the daemons' retransmission timeout in seconds (default 0.5)")
    parser.add_argument("--no-extension", action="store_true",
                        help="plain SIMP: the daemons do not negotiate the SIMPX/1 extension (its tags "
                        "show as [chat-id #counter] in the log otherwise)")


def check_bindable(addresses: list[tuple[str, int]]) -> None:
    """Bind and release each address, so a busy or foreign one fails now, in one line."""
    for host, port in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                why = {errno.EADDRINUSE: "already in use (a daemon running there? stop it, or choose "
                                         "other addresses with --addresses)",
                       errno.EADDRNOTAVAIL: "not an address of this host"}.get(exc.errno, exc.strerror)
                raise DemoError(f"cannot bind {host}:{port}: {why or exc}", status=2) from None


class LiveTrace(Trace):
    """The relay's trace, printing the datagrams the network dropped and the retransmissions it
    carried as they happen.  A retransmission is a SYN, SYN+ACK, FIN or CHAT whose bytes repeat
    the previous datagram from the same host: stop-and-wait sends nothing new before an ACK."""

    def __init__(self, hosts: Sequence[str]) -> None:
        super().__init__(hosts)
        self.dropped = 0
        self.retransmissions = 0
        self._last: dict[str, bytes] = {}

    def record(self, t: float, action: str, src: str, dst: str, data: bytes = b"",
               **details: Any) -> TraceEvent:
        event = super().record(t, action, src, dst, data, **details)
        if action == RECEIVED:
            if data == self._last.get(src) and _retransmittable(data):
                self.retransmissions += 1
                _show("network", f"{src} -> {dst}  {describe_bytes(data)}  (retransmission)")
            self._last[src] = data
        elif action == DROPPED:
            self.dropped += 1
            _show("network", f"{src} -> {dst}  {describe_bytes(data)}  DROPPED")
        return event


def _retransmittable(data: bytes) -> bool:
    try:
        dg = wire.decode(data)
    except wire.MalformedDatagram:
        return False
    return (dg.type, dg.op) in RETRANSMITTED


# A daemon's log line starts "2026-01-02 10:11:12,345 simp.daemon DEBUG ": the demo shows the time
# (seconds and milliseconds, enough to see a timeout) and the level only when it is not routine.
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:(\d\d,\d{3}) \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def _level_if_notable(match: re.Match[str]) -> str:
    level = match[2]
    return f"{match[1].replace(',', '.')}s  " + ("" if level in ("DEBUG", "INFO") else f"{level} ")


def _show(name: str, text: str) -> None:
    print(f"{name:>17} | {text}", flush=True)


class Demo:
    """The processes of one demo and the lines they printed."""

    def __init__(self, addresses: list[str], timeout: float, daemon_options: Sequence[str] = ()) -> None:
        self.addresses = dict(zip(NAMES, addresses, strict=True))
        self.timeout = timeout
        self.daemon_options = list(daemon_options)
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.exits: dict[str, asyncio.Task[int]] = {}
        self.readers: list[asyncio.Task[None]] = []
        self.seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def spawn(self, name: str, *args: str, stdin: bool = False) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE if stdin else None)
        self.procs[name] = proc
        self.exits[name] = asyncio.ensure_future(proc.wait())
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            self.readers.append(asyncio.ensure_future(self._echo(name, stream)))

    async def _echo(self, name: str, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            _show(name, LOG_PREFIX.sub(_level_if_notable, text))
            self.seen.put_nowait((name, text))

    async def daemon(self, name: str, retries: int) -> None:
        ip = self.addresses[name]
        await self.spawn(f"daemon {ip}", "daemon.py", ip, "--timeout", f"{self.timeout:g}",
                         "--retries", str(retries), "--log-level", "DEBUG", *self.daemon_options)
        await self.until(f"daemon {ip}", "listening")

    def end_input(self, name: str) -> None:
        stdin = self.procs[name].stdin
        assert stdin is not None
        stdin.close()

    def say(self, name: str, *lines: str) -> None:
        stdin = self.procs[name].stdin
        assert stdin is not None
        stdin.write("".join(line + "\n" for line in lines).encode())

    async def until(self, who: str, fragment: str) -> None:
        """Wait until `who` prints a line containing `fragment`; fail at once when a process
        ends before that, and after STEP_WITHIN seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_WITHIN
        while True:
            line = asyncio.ensure_future(self.seen.get())
            done, _ = await asyncio.wait({line, *self.exits.values()}, timeout=deadline - loop.time(),
                                         return_when=asyncio.FIRST_COMPLETED)
            if line not in done:
                line.cancel()
                ended = [(name, task.result()) for name, task in self.exits.items() if task.done()]
                if ended:
                    name, status = ended[0]
                    await asyncio.gather(*self.readers, return_exceptions=True)  # its last words first
                    raise DemoError(f"{name} stopped (exit status {status}) while waiting for {who} to "
                                    f"print {fragment!r}; see its output above")
                raise DemoError(f"{who} did not print {fragment!r} within {STEP_WITHIN:g} s "
                                "(see the output above)")
            name, text = line.result()
            if name == who and fragment in text:
                return

    async def close(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
        await asyncio.gather(*self.exits.values(), return_exceptions=True)
        await asyncio.gather(*self.readers, return_exceptions=True)


async def _chat(demo: Demo, peer: str) -> None:
    """The script: bob waits, alice invites him at `peer`, says two lines and waits until the
    second is acknowledged, bob answers and leaves, and both clients' input ends."""
    bob_ip = demo.addresses["bob"]
    await demo.spawn("bob", "client.py", bob_ip, "--user", "bob", stdin=True)
    demo.say("bob", "w")
    await demo.until("bob", "waiting")
    await demo.spawn("alice", "client.py", demo.addresses["alice"], "--user", "alice", stdin=True)
    demo.say("alice", "s", peer)
    await demo.until("bob", "invitation from alice")
    demo.say("bob", "y")
    await demo.until("alice", "started")
    demo.say("alice", "Hello Bob!", "How are you?")
    await demo.until("alice", "delivered: How are you?")  # bob's ACK came back, lost copies or not
    demo.say("bob", "Fine, thanks. Bye!", "q")
    await demo.until("alice", "left the chat")
    for name in NAMES:  # end of input: a scripted client leaves the menu and exits 0
        demo.end_input(name)
    for name in NAMES:
        try:
            status = await asyncio.wait_for(asyncio.shield(demo.exits[name]), STEP_WITHIN)
        except TimeoutError:
            raise DemoError(f"{name}'s client did not exit within {STEP_WITHIN:g} s after its input "
                            "ended") from None
        if status != 0:
            raise DemoError(f"{name}'s client exited with status {status}; see its output above")


async def demo(addresses: list[str], loss: float, seed: int, timeout: float, *,
               extension: bool = True) -> int:
    from sim.faults import Bernoulli, FaultPlan, Rule
    from sim.relay import Relay

    a_ip, b_ip = addresses
    ports = [DAEMON_PORT, CLIENT_PORT] + ([ALIAS_PORT] if loss > 0 else [])
    check_bindable([(ip, port) for ip in addresses for port in ports])
    run = Demo(addresses, timeout, () if extension else ("--no-extension",))
    relay: Relay | None = None
    trace = LiveTrace(NAMES)
    try:
        peer = b_ip
        if loss > 0:
            loop = asyncio.get_running_loop()
            relay = Relay(FaultPlan([Rule(action=Bernoulli(p=loss), name="loss")], seed), trace,
                          origin=loop.time())
            for name, ip in zip(NAMES, addresses, strict=True):
                await relay.add_host(name, (ip, DAEMON_PORT), (ip, ALIAS_PORT))
            peer = f"{b_ip}:{ALIAS_PORT}"
            _show("network", f"drops each daemon-to-daemon datagram with p={loss:g} (seed {seed}); alice "
                  f"reaches bob at {peer}, bob reaches alice at {a_ip}:{ALIAS_PORT}")
        # enough re-sends that a lossy link does not make the demo give up
        retries = 6 if loss == 0 else 30
        for name in NAMES:
            await run.daemon(name, retries)
        await _chat(run, peer)
    finally:
        await run.close()
        if relay is not None:
            relay.close()
    if relay is not None:
        relay.check()
        _show("network", f"{trace.dropped} datagram(s) dropped, {trace.retransmissions} retransmission(s) "
              "sent to make up for them")
    return 0


def main(args: argparse.Namespace) -> int:
    """Exit status: 0 the chat went through; 1 a step did not happen in time or a process
    stopped; 2 an address cannot be used."""
    if args.addresses[0] == args.addresses[1]:
        print("demo: error: alice and bob need two different addresses", file=sys.stderr)
        return 2
    try:
        return asyncio.run(demo(args.addresses, args.loss, args.seed, args.timeout,
                                extension=not args.no_extension))
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return exc.status
    except OSError as exc:  # the relay's alias could not be bound after all (taken meanwhile)
        print(f"demo: error: {exc.strerror or exc}", file=sys.stderr)
        return 2
