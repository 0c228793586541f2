"""Process mode: real `daemon.py` processes in real time, and how much timing noise to forgive.

The harness runs on a clock that is real time divided by `scale` (sim.clock.run_scaled), so a
scenario file written for 5 s timeouts runs unchanged with 0.25 s ones.  What changes is that
timers are no longer exact: every timer of a daemon fires a little late, and a chain of timers
(the 6th retransmission is 6 timers after the first send) accumulates that lateness.  A fixed
tolerance either hides real deviations on an idle machine or fails on a loaded one, so the
tolerance is derived from what the scheduler really did in this run:

- `LatenessProbe` samples, all through the run, how late a timer of the harness's own loop
  fires (the daemons share the machine and its load);
- `retransmission_lateness` reads the trace: a datagram re-sent by its retransmission timer
  shows by how much the *daemon's* timer was late (interval minus the timeout);
- an expected time `due` that sits `hops` timers after the previous wire line is allowed
  `BASE_SLACK + SAFETY * lateness * (hops + 1)` of real time either way.

Quiet: the run ends when no daemon has a timer left.  A daemon with a connected client tells
it (`quiet=1` in Status); one without a client says only its state to a probe, so it counts as
quiet when it is free (or down) and no datagram of its has crossed the relay for two timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from sim.trace import Trace
from simp.client import Client, ClientError
from simp.daemon import DaemonConfig

ROOT = Path(__file__).resolve().parent.parent
BASE_SLACK = 0.02  # real seconds: delivery through the relay and the client ports, unloaded
SAFETY = 3.0  # times the worst lateness seen: the tail of a scheduler is longer than one sample shows
CLIENT_TIMEOUT = 3.0  # scenario seconds, as the daemon's default; scaled like everything else
UNWATCHED_CLIENT_TIMEOUT = 2.0  # real seconds, where no step kills a client (see ProcessDaemon)
PROBE_PERIOD = 0.1  # in timeouts: how often the lateness probe wakes up


class StartError(Exception):
    """The daemon process did not start listening; the text says why (its stderr)."""


class LatenessProbe:
    """The worst lateness of a timer on this loop since `start()`, in scenario seconds."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, loop.time() - before - self.period)


def retransmission_lateness(trace: Trace, timeout: float) -> float:
    """The worst lateness of a daemon's retransmission timer seen in `trace` (scenario seconds).

    Two identical datagrams from the same sender to the same receiver, between one and one and a
    half timeouts apart, are a retransmission: the excess over `timeout` is how late its timer
    fired.  (Identical datagrams further apart are not a timer's doing, e.g. a new chat.)
    """
    last: dict[tuple[str, str, bytes], float] = {}
    worst = 0.0
    for event in trace.sent():
        key = (event.src, event.dst, event.data)
        before = last.get(key)
        if before is not None and timeout <= event.t - before <= 1.5 * timeout:
            worst = max(worst, event.t - before - timeout)
        last[key] = event.t
    return worst


def slack(*, due: float, timeout: float, scale: float, lateness: float) -> float:
    """How far (scenario seconds) an event due at `due` may be from it in process mode."""
    hops = max(0, math.ceil(due / timeout - 1e-9))
    return BASE_SLACK / scale + SAFETY * lateness * (hops + 1)


class ProcessDaemon:
    """A host's real `daemon.py` processes; every duration of the scenario is multiplied by `scale`.

    Starting a Python process takes a tenth of a second or more of real time, which at scale
    0.05 is several seconds of scenario time: a daemon started by a step at 12 s would listen at
    15 s and miss the SYN the scenario is about.  So every process a host will need (one per
    start or restart) is spawned before the first step, each on its own address of the run's
    block, idle until a step makes it the host's daemon; the relay then forwards the host's
    traffic to that address (peers keep seeing the host at its alias, as before).
    """

    def __init__(self, config: DaemonConfig, scale: float, *, watch_clients: bool = True) -> None:
        """`watch_clients`: the scenario kills a client, so the daemon must notice its silence in
        the scenario's own time (3 s).  Elsewhere the client timeout is not what the scenario is
        about, and 3 s scaled (150 ms at 0.05) would let a busy machine's pause in the harness's
        heartbeats drop a live client; those runs get UNWATCHED_CLIENT_TIMEOUT of real time."""
        self.config = config
        self.scale = scale
        self.client_timeout = CLIENT_TIMEOUT if watch_clients else max(
            CLIENT_TIMEOUT, UNWATCHED_CLIENT_TIMEOUT / scale)
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Client | None = None  # the harness's connected client on this host, if any
        self._standby: list[tuple[str, subprocess.Popen[bytes]]] = []

    def command(self, host: str) -> list[str]:
        session = self.config.node.session
        scaled = {"--timeout": session.timeout, "--invite-expiry": session.invite_expiry,
                  "--client-timeout": self.client_timeout, "--client-heartbeat": 1.0}
        args = [sys.executable, str(ROOT / "daemon.py"), host,
                "--port", str(self.config.port), "--client-port", str(self.config.client_port),
                "--retries", str(session.retries), "--log-level", "WARNING"]
        if not self.config.node.extension:
            args.append("--no-extension")
        for address, name in self.config.node.peer_dialects:
            args += ["--peer-dialect", f"{address}={name}"]
        for flag, seconds in scaled.items():  # the harness's clients heartbeat on the scaled clock too
            args += [flag, f"{seconds * self.scale:g}"]
        return args

    async def prepare(self, addresses: list[str]) -> None:
        """Spawn one idle daemon per address (in the order `start()` will use them)."""
        for host in addresses:
            proc = subprocess.Popen(self.command(host), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self._standby.append((host, proc))
        for host, proc in self._standby:
            await self._until_listening(host, proc)

    async def _until_listening(self, host: str, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 10
        while not await self._listening(host):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise StartError(f"daemon.py {host} did not start: {err.strip() or 'no answer within 10 s'}")

    async def _listening(self, host: str) -> bool:
        """True once the client port at `host` answers (a throw-away Status request)."""
        try:
            await self._probe_status(host)
            return True
        except ClientError:
            await asyncio.sleep(0.05 / self.scale)
            return False

    async def start(self) -> str:
        """Make the next prepared process the host's daemon; returns its address."""
        if not self._standby:
            raise StartError(f"no daemon process was prepared for another start of {self.config.host}")
        host, self.proc = self._standby.pop(0)
        self.config = replace(self.config, host=host)
        return host

    async def kill(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        self.proc = None

    async def close(self) -> None:
        """Kill the daemon and every prepared process not used."""
        await self.kill()
        for _, proc in self._standby:
            _stop(proc)
        self._standby.clear()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def _probe_status(self, host: str | None = None) -> dict[str, str]:
        """Status as a stranger on this host sees it: the state alone."""
        probe = Client(host or self.config.host, self.config.client_port)
        try:
            await probe.open()
            return await probe.status()
        finally:
            probe.abandon()

    async def _status(self) -> dict[str, str]:
        """Status through the connected client (state, quiet and the counters) when there is one."""
        if self.client is not None:
            with contextlib.suppress(ClientError):
                return await self.client.status()
        return await self._probe_status()

    async def final_state(self) -> str:
        if not self.running:
            return "down"
        return (await self._status()).get("state", "?")

    async def malformed(self) -> int:
        if not self.running:
            return 0
        return int((await self._status()).get("malformed", 0))

    async def quiet(self, silent_for: float) -> bool:
        """No timer left: asked of the daemon when a client is connected, else judged from outside
        (free or down, and `silent_for` scenario seconds without a datagram of its)."""
        if not self.running:
            return True
        status = await self._status()
        if "quiet" in status:
            return status["quiet"] == "1"
        return status.get("state") == "free" and silent_for >= 2 * self.config.node.session.timeout


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    if proc.stderr is not None:
        proc.stderr.close()
