"""Implementation profiles: how to start any SIMP daemon and act as its user.

A profile is a short YAML file (format in docs/CONFORMANCE.md).  It tells

- how to start the daemon: a command template (`{ip}`, `{port}`, `{client_port}`,
  `{timeout}`), its working directory, its ports, its retransmission timeout (tolerances of
  timing checks are derived from it), and whether it can bind a given address (`binds:
  address`, run on its own loopback address) or hard-codes ports / binds 0.0.0.0 (`binds:
  netns`, run in a network namespace of its own, see sim/netns.py);
- how its user acts and what its user sees, in one of three shapes:
  `builtin` (our daemon's client port, driven by simp.client.Client),
  `stdio` (a client program, or the daemon itself with `attach: daemon`, driven by typing one
  or more lines per step and reading one regex per notice, as pexpect would), or
  `udp` (a text protocol on the client port: a request template per step, a regex per event).

Every driver offers the verbs of simp.client.Client (connect, start, wait, accept, decline,
say, quit) and one event stream of `UserEvent`s with the kinds in NOTICES.  A step the profile
has no template for raises `NotSupported`; `observes(kind)` says whether a notice can be seen at
all, so a check on it is reported "not observable" instead of passing silently.

`Implementation` starts one daemon from a profile at one address and hands out its user
driver: the scenario runner can use it for `implementation:` hosts as the conformance suite does
(start, kill for a crash, close, alive, output, and status for final-state checks where the
implementation can tell its state).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from simp import events as ev

ROOT = Path(__file__).resolve().parent.parent
VERBS = ("connect", "start", "wait", "accept", "decline", "say", "quit")
NOTICES = ("ready", "invitation", "chat_started", "message", "delivered", "declined", "error", "refused",
           "peer_left", "not_answering", "chat_ended")
SHAPES = ("builtin", "stdio", "udp")
BUILTIN = "simp-sim"


class ProfileError(ValueError):
    """A profile file that cannot be used; the text names the file and the key."""


class NotSupported(Exception):
    """The profile has no way to take this step (the case is not applicable)."""


@dataclass(frozen=True, slots=True)
class UserEvent:
    """Something the implementation's user was shown: `kind` from NOTICES, fields from the regex."""

    kind: str
    fields: Mapping[str, str] = field(default_factory=dict)
    line: str = ""


@dataclass(frozen=True, kw_only=True)
class UserShape:
    shape: str
    command: tuple[str, ...] = ()
    attach: bool = False  # stdio: the daemon's own stdin/stdout is the user interface
    steps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notices: Mapping[str, re.Pattern[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    command: tuple[str, ...]
    cwd: Path = ROOT
    port: int = 7777
    client_port: int = 7778
    binds: str = "address"  # or "netns"
    timeout: float = 5.0
    retries: int | None = None
    ready: re.Pattern[str] | None = None
    startup: float = 5.0
    user: UserShape = field(default_factory=lambda: UserShape(shape="builtin"))
    description: str = ""
    source: str = "<built in>"

    def observes(self, kind: str) -> bool:
        return self.user.shape == "builtin" or kind in self.user.notices

    def can(self, verb: str) -> bool:
        return self.user.shape == "builtin" or verb in self.user.steps


def builtin_profile(timeout: float = 0.5) -> Profile:
    """Our own daemon, fast timers, driven through simp.client.Client on its client port."""
    return Profile(
        name=BUILTIN,
        command=(sys.executable, str(ROOT / "daemon.py"), "{ip}", "--timeout", "{timeout}",
                 "--retries", "6", "--invite-expiry", "20", "--client-timeout", "3", "--log-level", "DEBUG"),
        timeout=timeout,
        retries=6,
        ready=re.compile("listening"),
        description="this project's daemon.py",
    )


# -- loading ---------------------------------------------------------------------------------


def _duration(value: object, where: str) -> float:
    from sim.scenario import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ProfileError(f"{where}: {exc}") from None


def _command(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ProfileError(f"{where}: expected a command line (a string or a list of strings)")


def _mapping(value: object, where: str, allowed: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: expected a mapping")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return value


def load_profile(path: str | Path) -> Profile:
    """Read one profile file; `simp-sim` (or nothing) names the built-in profile."""
    from sim.scenario import ScenarioError
    from sim.scenario_yaml import load_yaml  # the one YAML reader: duplicate keys are errors

    if str(path) == BUILTIN:
        return builtin_profile()
    path = Path(path)
    try:
        data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ProfileError(f"{path}: {exc.strerror}") from None
    except ScenarioError as exc:
        raise ProfileError(str(exc)) from None
    src = str(path)
    top = _mapping(data, src, ("name", "description", "daemon", "user"))
    d = _mapping(top.get("daemon"), f"{src}: daemon",
                 ("command", "cwd", "port", "client_port", "binds", "timeout", "retries", "ready", "startup"))
    if "command" not in d:
        raise ProfileError(f"{src}: daemon.command is required")
    binds = d.get("binds", "address")
    if binds not in ("address", "netns"):
        raise ProfileError(f"{src}: daemon.binds: expected 'address' or 'netns', got {binds!r}")
    u = _mapping(top.get("user", {"shape": "builtin"}), f"{src}: user",
                 ("shape", "command", "attach", "steps", "notices"))
    shape = u.get("shape", "stdio")
    if shape not in SHAPES:
        raise ProfileError(f"{src}: user.shape: expected one of {', '.join(SHAPES)}, got {shape!r}")
    steps = _mapping(u.get("steps", {}), f"{src}: user.steps", VERBS)
    notices = _mapping(u.get("notices", {}), f"{src}: user.notices", NOTICES)
    compiled = {}
    for kind, pattern in notices.items():
        try:
            compiled[kind] = re.compile(str(pattern))
        except re.error as exc:
            raise ProfileError(f"{src}: user.notices.{kind}: not a regular expression: {exc}") from None
    attach = u.get("attach") == "daemon"
    if shape == "stdio" and not attach and "command" not in u:
        raise ProfileError(f"{src}: user.command is required for a stdio client (or attach: daemon)")
    cwd = Path(d.get("cwd", "."))
    return Profile(
        name=str(top.get("name") or path.stem),
        description=str(top.get("description", "")),
        source=src,
        command=_command(d["command"], f"{src}: daemon.command"),
        cwd=cwd if cwd.is_absolute() else (path.parent / cwd).resolve(),
        port=int(d.get("port", 7777)),
        client_port=int(d.get("client_port", 7778)),
        binds=binds,
        timeout=_duration(d.get("timeout", "5s"), f"{src}: daemon.timeout"),
        retries=int(d["retries"]) if "retries" in d else None,
        ready=re.compile(d["ready"]) if "ready" in d else None,
        startup=_duration(d.get("startup", "5s"), f"{src}: daemon.startup"),
        user=UserShape(
            shape=shape,
            command=_command(u["command"], f"{src}: user.command") if "command" in u else (),
            attach=attach,
            steps={k: tuple(v) if isinstance(v, list) else (str(v),) for k, v in steps.items()},
            notices=compiled,
        ),
    )


def profiles_in(folder: str | Path) -> dict[str, Profile]:
    """Every profile (*.yaml, *.yml) in `folder` by its name, plus the built-in one; a name used
    twice is an error naming both files."""
    found: dict[str, Profile] = {BUILTIN: builtin_profile()}
    for path in sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")]):
        profile = load_profile(path)
        if profile.name in found:
            raise ProfileError(f"{path}: profile name {profile.name!r} is already used by "
                               f"{found[profile.name].source}")
        found[profile.name] = profile
    return found


def resolve(spec: str, folder: str | Path | None = None) -> Profile:
    """A profile file, `simp-sim`, or (with `folder`) a profile name or file stem in that folder."""
    if spec == BUILTIN or Path(spec).is_file() or folder is None:
        return load_profile(spec)
    known = profiles_in(folder)
    if spec in known:
        return known[spec]
    by_stem = [p for p in known.values() if Path(p.source).stem == spec]
    if by_stem:
        return by_stem[0]
    raise ProfileError(f"no profile {spec!r} in {folder} (there: {', '.join(sorted(known))})")


# -- the user side ---------------------------------------------------------------------------


class UserDriver(Protocol):
    async def connect(self, user: str, timeout: float = 10.0) -> None: ...
    async def start(self, host: str, port: int = 7777) -> None: ...
    async def wait(self) -> None: ...
    async def accept(self) -> None: ...
    async def decline(self) -> None: ...
    async def say(self, text: str) -> None: ...
    async def quit(self) -> None: ...
    async def next_event(self, timeout: float) -> UserEvent: ...
    async def close(self) -> None: ...
    def transcript(self) -> list[str]: ...


_END_KIND = {
    ev.EndReason.DECLINED: "declined",
    ev.EndReason.REFUSED: "refused",
    ev.EndReason.PEER_LEFT: "peer_left",
    ev.EndReason.NOT_ANSWERING: "not_answering",
}


class BuiltinDriver:
    """Our daemon's user, through simp.client.Client; events translated into UserEvents."""

    def __init__(self, ip: str, client_port: int) -> None:
        from simp.client import Client

        self._client = Client(ip, client_port)
        self._lines: list[str] = []

    async def connect(self, user: str, timeout: float = 10.0) -> None:
        await self._call("connect", user)

    async def start(self, host: str, port: int = 7777) -> None:
        await self._call("start", host, port)

    async def wait(self) -> None:
        await self._call("wait")

    async def accept(self) -> None:
        await self._call("accept")

    async def decline(self) -> None:
        await self._call("decline")

    async def say(self, text: str) -> None:
        await self._call("say", text)

    async def quit(self) -> None:
        await self._call("quit")

    async def _call(self, verb: str, *args: object) -> None:
        self._lines.append(f"> {verb} {' '.join(map(str, args))}".rstrip())
        await getattr(self._client, verb)(*args)

    async def next_event(self, timeout: float) -> UserEvent:
        event = await self._client.next_event(timeout=timeout)
        out = self._translate(event)
        self._lines.append(f"< {out.kind} {dict(out.fields)}")
        return out

    @staticmethod
    def _translate(event: ev.Event) -> UserEvent:
        if isinstance(event, ev.Invitation):
            return UserEvent("invitation", {"user": event.user})
        if isinstance(event, ev.ChatStarted):
            return UserEvent("chat_started", {"user": event.user})
        if isinstance(event, ev.MessageReceived):
            return UserEvent("message", {"user": event.user, "text": event.text})
        if isinstance(event, ev.MessageDelivered):
            return UserEvent("delivered", {"id": str(event.msg_id)})
        if isinstance(event, ev.PeerError):
            return UserEvent("error", {"text": event.text})
        assert isinstance(event, ev.ChatEnded)
        return UserEvent(_END_KIND.get(event.reason, "chat_ended"), {"reason": event.reason.text})

    async def close(self) -> None:
        await self._client.close()

    def transcript(self) -> list[str]:
        return list(self._lines)


class _LineDriver:
    """Shared by the stdio and udp shapes: steps are templates, notices are regexes."""

    def __init__(self, shape: UserShape, ip: str = "") -> None:
        self._shape = shape
        self._ip = ip  # the daemon's address: step templates may use {ip} (a client that asks for it)
        self._events: asyncio.Queue[UserEvent | None] = asyncio.Queue()
        self._lines: list[str] = []
        self._user = ""

    def _feed(self, line: str) -> None:
        self._lines.append(f"< {line}")
        for kind, regex in self._shape.notices.items():
            if m := regex.search(line):
                self._events.put_nowait(UserEvent(kind, m.groupdict(), line))
                return

    def _render(self, verb: str, **values: object) -> list[str]:
        if verb not in self._shape.steps:
            raise NotSupported(f"the profile has no step for '{verb}'")
        return [t.format(user=self._user, ip=self._ip, **values) for t in self._shape.steps[verb]]

    async def _send(self, verb: str, **values: object) -> None:
        for line in self._render(verb, **values):
            self._lines.append(f"> {line}")
            await self._write(line)

    async def _write(self, line: str) -> None:
        raise NotImplementedError

    async def connect(self, user: str, timeout: float = 10.0) -> None:
        """Type the connect step; with a `ready` notice, wait until the user's side shows it (so
        an invitation cannot reach the daemon before its user is there)."""
        self._user = user
        if "connect" in self._shape.steps:
            await self._send("connect")
        if "ready" in self._shape.notices:
            while (await self.next_event(timeout)).kind != "ready":
                pass

    async def start(self, host: str, port: int = 7777) -> None:
        await self._send("start", peer=host, port=port)

    async def wait(self) -> None:
        await self._send("wait")

    async def accept(self) -> None:
        await self._send("accept")

    async def decline(self) -> None:
        await self._send("decline")

    async def say(self, text: str) -> None:
        await self._send("say", text=text)

    async def quit(self) -> None:
        await self._send("quit")

    async def next_event(self, timeout: float) -> UserEvent:
        event = await asyncio.wait_for(self._events.get(), timeout)
        if event is None:
            self._events.put_nowait(None)
            raise ConnectionError("the user's program ended")
        return event

    def transcript(self) -> list[str]:
        return list(self._lines)


class StdioDriver(_LineDriver):
    """A program whose stdin the user types into and whose stdout shows notices."""

    def __init__(self, shape: UserShape, proc: asyncio.subprocess.Process | None = None,
                 spawn: Sequence[str] = (), cwd: Path = ROOT, ip: str = "") -> None:
        super().__init__(shape, ip)
        self._proc = proc
        self._spawn = tuple(spawn)
        self._cwd = cwd
        self._reader: asyncio.Task[None] | None = None
        if proc is not None:
            self._reader = asyncio.ensure_future(self._read())

    async def connect(self, user: str, timeout: float = 10.0) -> None:
        if self._proc is None:
            argv = [a.format(user=user) for a in self._spawn]
            self._proc = await asyncio.create_subprocess_exec(
                *argv, cwd=self._cwd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=_unbuffered(), start_new_session=True)
            self._reader = asyncio.ensure_future(self._read())
        await super().connect(user, timeout)

    async def _read(self) -> None:
        """Lines, and also a prompt that waits without a newline (`input("accept? ")`): as pexpect
        does, output is matched as it comes, and a matched partial line is consumed."""
        assert self._proc is not None and self._proc.stdout is not None
        pending = ""
        while chunk := await self._proc.stdout.read(4096):
            pending += chunk.decode("ascii", "replace").replace("\r", "")
            *lines, pending = pending.split("\n")
            for line in lines:
                self._feed(line)
            if pending and any(r.search(pending) for r in self._shape.notices.values()):
                self._feed(pending)
                pending = ""
        if pending:
            self._feed(pending)
        self._events.put_nowait(None)

    async def _write(self, line: str) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise ConnectionError("the user's program is not running")
        self._proc.stdin.write(line.encode("ascii", "replace") + b"\n")
        with contextlib.suppress(ConnectionError):
            await self._proc.stdin.drain()

    async def close(self) -> None:
        """Stop a program we spawned (its whole group, even if the program itself has ended) and
        close its pipes; a daemon's own terminal (`attach`) is closed with the daemon."""
        if self._spawn and self._proc is not None:
            _signal_group(self._proc, signal.SIGKILL)
            await self._proc.wait()
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        elif self._proc is not None and self._proc.returncode is None and self._reader is not None:
            self._reader.cancel()  # the daemon is still up, so its output has no end yet to wait for
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await _finish(self._reader, self._proc if self._spawn else None)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, driver: UdpTextDriver) -> None:
        self._driver = driver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for line in data.decode("ascii", "replace").splitlines() or [""]:
            self._driver._feed(line)


class UdpTextDriver(_LineDriver):
    """A text protocol on the daemon's client port: one datagram per rendered step line."""

    def __init__(self, shape: UserShape, address: tuple[str, int]) -> None:
        super().__init__(shape, address[0])
        self._address = address
        self._transport: asyncio.DatagramTransport | None = None

    async def _write(self, line: str) -> None:
        if self._transport is None:
            self._transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _UdpProtocol(self), remote_addr=self._address)
        self._transport.sendto(line.encode("ascii", "replace"))

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _finish(reader: asyncio.Task[None] | None, proc: asyncio.subprocess.Process | None) -> None:
    """Let a reader drain its pipe to the end, then close `proc`'s transport (`proc` has exited).

    asyncio closes a subprocess transport by itself only once the process has exited *and* every
    pipe reached end of file.  A process that left the group (a daemon that detached with
    `setsid`) can keep a pipe open after the harness is done: the reader is then cancelled, and
    the transport must be closed here, inside the loop; left open, its finaliser runs after the
    loop has ended and prints "RuntimeError: Event loop is closed".  `asyncio.subprocess.Process`
    has no public close, hence its `_transport`."""
    if reader is not None and not reader.done():
        try:
            await asyncio.wait_for(asyncio.shield(reader), 2.0)
        except TimeoutError:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


def _unbuffered() -> dict[str, str]:
    import os

    return dict(os.environ, PYTHONUNBUFFERED="1")


# -- the daemon side -------------------------------------------------------------------------


class Implementation:
    """One daemon started from a profile at `ip` (or in a namespace), and its user.

    `await start()`, then `user()` for the driver; `kill()` stops it at once (a crash),
    `await close()` stops it and removes its namespace.  `address` is where peers reach it and
    `output()` what it printed (for reports).
    """

    def __init__(self, profile: Profile, ip: str, *, scale: float = 1.0) -> None:
        self.profile = profile
        self.ip = ip
        self.scale = scale  # on a loop whose clock is real time / scale (sim.clock): waits in real seconds
        self.netns = None
        self.proc: asyncio.subprocess.Process | None = None
        self._output: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._users: list[_LineDriver] = []  # every user handed out (a client program per connect)

    @property
    def address(self) -> tuple[str, int]:
        return (self.netns.inside if self.netns is not None else self.ip, self.profile.port)

    @property
    def bind_ip(self) -> str:
        """The address the daemon binds: its namespace's own in netns mode."""
        return self.netns.inside if self.netns is not None else self.ip

    @property
    def peer_ip_hint(self) -> str | None:
        """In netns mode the raw peer must sit on the namespace's link (the host side)."""
        return self.netns.outside if self.netns is not None else None

    def _argv(self) -> list[str]:
        p = self.profile
        values = {"ip": self.bind_ip, "port": p.port, "client_port": p.client_port,
                  "timeout": f"{p.timeout:g}", "python": sys.executable}
        argv = [a.format(**values) for a in p.command]
        return self.netns.wrap(argv) if self.netns is not None else argv

    async def start(self) -> None:
        p = self.profile
        if p.binds == "netns":
            from sim.netns import Namespace

            self.netns = Namespace()
        attach = p.user.shape == "stdio" and p.user.attach
        self.proc = await asyncio.create_subprocess_exec(
            *self._argv(), cwd=p.cwd, env=_unbuffered(),
            stdin=asyncio.subprocess.PIPE if attach else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if attach else asyncio.subprocess.STDOUT,
            start_new_session=True)  # its own process group: a shell command's children go with it
        stream = self.proc.stderr if attach else self.proc.stdout
        self._reader = asyncio.ensure_future(self._read(stream))
        await self._wait_ready()

    async def _read(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        while line := await stream.readline():
            text = line.decode("ascii", "replace").rstrip("\r\n")
            self._output.append(text)
            if self.profile.ready is not None and self.profile.ready.search(text):
                self._ready.set()

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.profile.startup / self.scale
        while loop.time() < deadline:
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"{self.profile.name} exited with {self.proc.returncode} at start:\n"
                                   + "\n".join(self._output[-20:]))
            if self._ready.is_set() or (self.profile.ready is None and self._bound()):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 0.05)
        if self.profile.ready is not None or self.netns is None:
            raise RuntimeError(f"{self.profile.name} did not come up within {self.profile.startup:g}s at "
                               f"{self.bind_ip}:{self.profile.port}:\n" + "\n".join(self._output[-20:]))

    def _bound(self) -> bool:
        """True once something holds the daemon's UDP port (we cannot bind it any more)."""
        if self.netns is not None:
            return False  # cannot probe inside; the startup time (or `ready`) decides
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((self.bind_ip, self.profile.port))
            except OSError:
                return True
        return False

    def user(self) -> UserDriver:
        p = self.profile
        shape = p.user
        if shape.shape == "builtin":
            if self.netns is not None:
                raise NotSupported("the built-in client cannot reach into a namespace")
            return BuiltinDriver(self.bind_ip, p.client_port)
        driver: _LineDriver
        if shape.shape == "udp":
            driver = UdpTextDriver(shape, (self.bind_ip, p.client_port))
        elif shape.attach:
            driver = StdioDriver(shape, proc=self.proc, ip=self.bind_ip)
        else:
            values = {"ip": self.bind_ip, "client_port": p.client_port, "port": p.port,
                      "python": sys.executable}
            argv = [a.replace("{user}", "\0") for a in shape.command]
            argv = [a.format(**values).replace("\0", "{user}") for a in argv]
            driver = StdioDriver(shape, spawn=self.netns.wrap(argv) if self.netns is not None else argv,
                                 cwd=p.cwd, ip=self.bind_ip)
        self._users.append(driver)
        return driver

    def output(self) -> list[str]:
        return list(self._output)

    def transcripts(self) -> list[str]:
        """What every user handed out typed (`> `) and was shown (`< `), one after the other: a
        client killed by a step (`kill client`) and its successor included."""
        lines: list[str] = []
        for n, driver in enumerate(self._users, start=1):
            if len(self._users) > 1:
                lines.append(f"-- user {n} of {len(self._users)} --")
            lines += driver.transcript()
        return lines

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def status(self) -> dict[str, str] | None:
        """The daemon's own account of its state (`state=free`, counters), for final-state checks;
        None when the implementation has no way to say it (every foreign daemon so far): the
        caller reports such a check "not observable"."""
        if self.profile.user.shape != "builtin" or not self.alive():
            return None
        from simp.client import Client

        client = Client(self.bind_ip, self.profile.client_port)
        try:
            await client.open()
            return await client.status()
        finally:
            client.abandon()

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            _signal_group(self.proc, signal.SIGKILL)

    async def close(self) -> None:
        """Stop the daemon and every user handed out, also one a caller abandoned (a client killed
        by a step is closed in the background, which may not have ended), and remove the namespace."""
        for driver in self._users:
            await driver.close()
        if self.proc is not None and self.proc.returncode is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 3 / self.scale)
            except TimeoutError:
                _signal_group(self.proc, signal.SIGKILL)
                await self.proc.wait()
        elif self.proc is not None:  # the command itself ended; what it started may not have
            _signal_group(self.proc, signal.SIGKILL)
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        await _finish(self._reader, self.proc)
        if self.netns is not None:
            self.netns.close()
            self.netns = None


def _signal_group(proc: asyncio.subprocess.Process, signum: int) -> None:
    """Signal the process group a foreign command was started in (`start_new_session`): a
    profile's command is often a shell (`echo IP | exec python run_daemon.py`) whose real daemon
    is a child, which signalling the shell alone would leave running."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
