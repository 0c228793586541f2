"""Processes and chats for the benchmark: `daemon.py` and worker processes, clients, timed chats.

Every wait here is bounded; every process is ended by its own handle (terminate, then kill).
"""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from sim.bench.model import ROOT
from simp import events as ev
from simp.client import Client, ClientConfig, ClientError

Address = tuple[str, int]
HostSpec = tuple[str, Address, Address]  # name, real address, alias address
WORKER_LIMIT = 600.0  # a worker exits by itself after this many seconds, whatever happens here


class BenchError(RuntimeError):
    """A benchmark could not be carried out (a process did not start, a chat did not work)."""


def address(addr: Address) -> str:
    return f"{addr[0]}:{addr[1]}"


def host_args(hosts: Sequence[HostSpec]) -> list[str]:
    return [f"{name}={address(real)}/{address(alias)}" for name, real, alias in hosts]


class Processes:
    """The processes one benchmark step started; leaving the `with` block ends all of them."""

    def __init__(self) -> None:
        self._procs: list[tuple[subprocess.Popen[bytes], str]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _spawn(self, args: list[str], what: str) -> subprocess.Popen[bytes]:
        err = tempfile.TemporaryFile()  # noqa: SIM115 (kept open as long as the process)
        proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        proc.stderr = err  # type: ignore[assignment]
        self._procs.append((proc, what))
        return proc

    def daemon(self, ip: str, *, timeout: float, retries: int) -> subprocess.Popen[bytes]:
        """Start `daemon.py ip`; `await ready(...)` before using it."""
        args = [sys.executable, str(ROOT / "daemon.py"), ip, "--timeout", f"{timeout:g}",
                "--retries", str(retries), "--log-level", "WARNING"]
        return self._spawn(args, f"daemon.py {ip}")

    def worker(self, kind: str, *args: str, within: float = 15.0) -> subprocess.Popen[bytes]:
        """Start `python -m sim.bench.workers kind args` and wait for its `ready` line."""
        proc = self._spawn([sys.executable, "-m", "sim.bench.workers", "--limit", f"{WORKER_LIMIT:g}", kind,
                            *args], f"worker {kind}")
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], within)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop(proc)
            raise BenchError(f"worker {kind} did not start within {within:g} s: {self.errors(proc)}")
        return proc

    def errors(self, proc: subprocess.Popen[bytes]) -> str:
        err = proc.stderr
        if err is None:
            return ""
        err.seek(0)
        return err.read().decode(errors="replace").strip()[-500:] or f"exit status {proc.poll()}"

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()  # a worker stops at end of stdin
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self._procs = [(p, w) for p, w in self._procs if p is not proc]

    def close(self) -> None:
        for proc, _ in list(self._procs):
            self.stop(proc)


def run_ping(local: Address, peer: Address, count: int, within: float = 60.0) -> float:
    """Round trips per second of the bare stop-and-wait ping-pong against an echo worker."""
    args = [sys.executable, "-m", "sim.bench.workers", "--limit", f"{within:g}", "ping", address(local),
            address(peer), str(count)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=within + 10, check=False)
    if done.returncode != 0:
        raise BenchError(f"ping worker failed: {done.stderr.decode(errors='replace').strip()[-500:]}")
    return float(json.loads(done.stdout)["rate"])


def rss_kib(pid: int) -> int:
    """VmRSS of process `pid` in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


# -- clients and chats -----------------------------------------------------------------------


async def ready(procs: Processes, proc: subprocess.Popen[bytes], ip: str, within: float = 15.0) -> None:
    """Wait until the daemon at `ip` answers a Status request."""
    deadline = time.monotonic() + within
    while True:
        probe = Client(ip, config=ClientConfig(request_timeout=0.5))
        try:
            await probe.open()
            await probe.status()
            return
        except ClientError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"daemon.py {ip} did not start: {procs.errors(proc)}") from None
            await asyncio.sleep(0.05)
        finally:
            probe.abandon()


async def connect(ip: str, user: str) -> Client:
    client = Client(ip, config=ClientConfig(request_timeout=10.0))
    await client.connect(user)
    return client


async def _next_before(client: Client, deadline: float, what: str) -> ev.Event:
    """The client's next event before `deadline` (time.monotonic), else BenchError naming `what`."""
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            return await client.next_event(remaining)
        except TimeoutError:
            continue
    raise BenchError(f"{client.user}: {what}")


async def expect(client: Client, kind: type, within: float) -> ev.Event:
    """The next event of type `kind` (events of other types are skipped, a ChatEnded fails)."""
    deadline = time.monotonic() + within
    while True:
        event = await _next_before(client, deadline, f"no {kind.__name__} within {within:g} s")
        if isinstance(event, kind):
            return event
        if isinstance(event, ev.ChatEnded):
            raise BenchError(f"{client.user}: the chat ended ({event.reason.text}) while waiting for "
                             f"{kind.__name__}")


async def drain(client: Client) -> None:
    """Forget the events already queued (e.g. thousands of MessageDelivered)."""
    while client.pending_events():
        await client.next_event(1.0)


async def open_chat(a: Client, b: Client, peer: Address, within: float) -> None:
    """A invites B's daemon at `peer`, B accepts; returns when A sees the chat started."""
    await b.wait()
    await a.start(*peer)
    await expect(b, ev.Invitation, within)
    await b.accept()
    await expect(a, ev.ChatStarted, within)


async def close_chat(a: Client, b: Client, within: float) -> None:
    """A quits; returns when both sides saw the chat end (bounded by `within`)."""
    await a.quit()
    for client in (a, b):
        deadline, what = time.monotonic() + within, f"the chat did not end within {within:g} s"
        while not isinstance(await _next_before(client, deadline, what), ev.ChatEnded):
            pass


async def pump(a: Client, b: Client, count: int, window: int, within: float) -> float:
    """Seconds from A's first Say until B received `count` messages.

    A keeps at most `window` messages queued at its daemon beyond those B has received, so the
    daemons' stop-and-wait, not the client, sets the pace.
    """
    received = 0
    room = asyncio.Event()

    async def send() -> None:
        for i in range(count):
            while i - received >= window:
                room.clear()
                await room.wait()
            await a.say(f"message {i:08d}")

    async def receive() -> None:
        nonlocal received
        while received < count:
            event = await b.next_event(within)
            if isinstance(event, ev.MessageReceived):
                received += 1
                room.set()
            elif isinstance(event, ev.ChatEnded):
                raise BenchError(f"the chat ended ({event.reason.text}) after {received} of {count} messages")

    started = time.perf_counter()
    async with asyncio.timeout(within), asyncio.TaskGroup() as group:
        group.create_task(send())
        group.create_task(receive())
    seconds = time.perf_counter() - started
    await drain(a)
    return seconds
