"""Real `daemon.py` and `client.py` processes for end-to-end tests, with bounded waits.

Every wait takes a timeout and fails with the output seen so far, so a broken run is a
readable failure, never a hang.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--timeout", "0.2", "--retries", "3", "--client-timeout", "2"]


class Output:
    """Lines of one stream of a process, read on a thread, waited for by pattern."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._seen = 0
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait for the next line (after those already matched) that matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._seen, len(self.lines)):
                if match := regex.search(self.lines[index]):
                    self._seen = index + 1
                    return match
            self._seen = len(self.lines)
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s; saw:\n"
                                     + "\n".join(self.lines)) from None
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"stream ended before {pattern!r}; saw:\n" + "\n".join(self.lines))
            self.lines.append(line)


def _spawn(args: list[str], stdin: int | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


class DaemonProcess:
    def __init__(self, ip: str, *extra: str) -> None:
        self.ip = ip
        self.proc = _spawn(["daemon.py", ip, *FAST, "--log-level", "DEBUG", *extra])
        self.log = Output(self.proc.stderr)
        self.log.expect("listening on", timeout=10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


class ClientProcess:
    def __init__(self, ip: str, user: str | None = None, *extra: str) -> None:
        self.proc = _spawn(["client.py", ip, *extra], stdin=subprocess.PIPE)
        self.out = Output(self.proc.stdout)
        self.err = Output(self.proc.stderr)
        if user is not None:
            self.send(user)

    def send(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        for line in lines:
            self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        return self.out.expect(pattern, timeout)

    def end_input(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


def cleanup(*procs: DaemonProcess | ClientProcess) -> None:
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(5)


class LoopbackHosts:
    """Daemons and clients on one 127.X.Y.0/24 block; `close()` kills whatever still runs."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.procs: list[DaemonProcess | ClientProcess] = []

    def ip(self, host: int) -> str:
        return f"{self.prefix}{host}"

    def daemon(self, host: int, *extra: str) -> DaemonProcess:
        daemon = DaemonProcess(self.ip(host), *extra)
        self.procs.append(daemon)
        return daemon

    def client(self, host: int, user: str | None, *extra: str) -> ClientProcess:
        client = ClientProcess(self.ip(host), user, *extra)
        self.procs.append(client)
        return client

    def close(self) -> None:
        cleanup(*self.procs)
