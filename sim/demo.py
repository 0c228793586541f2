"""`python -m sim demo`: a chat between two real daemons on 127.0.0.1 and 127.0.0.2, as it happens.

It starts `daemon.py` twice and `client.py` twice (scripted), prints every line they print,
prefixed with who said it, and the daemons' one-line-per-datagram debug log, then stops them.
Only loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTS = {"alice": "127.0.0.1", "bob": "127.0.0.2"}


async def _echo(name: str, stream: asyncio.StreamReader, seen: asyncio.Queue[tuple[str, str]]) -> None:
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        print(f"{name:>14} | {text}", flush=True)
        seen.put_nowait((name, text))


async def _until(seen: asyncio.Queue[tuple[str, str]], who: str, fragment: str, timeout: float = 15) -> None:
    async def look() -> None:
        while True:
            name, text = await seen.get()
            if name == who and fragment in text:
                return
    await asyncio.wait_for(look(), timeout)


async def demo(timeout: float = 0.5) -> int:
    procs: list[asyncio.subprocess.Process] = []
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    readers = []

    async def spawn(name: str, *args: str, stdin: bool = False) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE if stdin else None)
        procs.append(proc)
        readers.append(asyncio.ensure_future(_echo(name, proc.stdout, seen)))  # type: ignore[arg-type]
        readers.append(asyncio.ensure_future(_echo(name, proc.stderr, seen)))  # type: ignore[arg-type]
        return proc

    def say(proc: asyncio.subprocess.Process, *lines: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write("".join(line + "\n" for line in lines).encode())

    try:
        for ip in HOSTS.values():
            await spawn(f"daemon {ip}", "daemon.py", ip, "--timeout", str(timeout), "--log-level", "DEBUG")
            await _until(seen, f"daemon {ip}", "listening")
        bob = await spawn("bob", "client.py", HOSTS["bob"], "--user", "bob", stdin=True)
        say(bob, "w")
        await _until(seen, "bob", "waiting")
        alice = await spawn("alice", "client.py", HOSTS["alice"], "--user", "alice", stdin=True)
        say(alice, "s", HOSTS["bob"])
        await _until(seen, "bob", "invitation from alice")
        say(bob, "y")
        await _until(seen, "alice", "started")
        say(alice, "Hello Bob!", "How are you?")
        await _until(seen, "bob", "How are you?")
        say(bob, "Fine, thanks. Bye!", "q")
        await _until(seen, "alice", "left the chat")
        say(alice, "q")
        say(bob, "q")
        for proc in procs[2:]:
            await asyncio.wait_for(proc.wait(), 10)
        return 0
    except TimeoutError:
        print("demo: a step did not happen within 15 s (see the output above)", file=sys.stderr)
        return 1
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        await asyncio.gather(*readers, return_exceptions=True)


def main() -> int:
    return asyncio.run(demo())
