"""Run one Scenario: daemons behind the relay, clients driven by the steps, then the checks.

Two modes share everything but how a host's daemon runs:

- in-process (default): every daemon is a `simp.daemon.Daemon` on the same event loop as the
  relay and the clients, under the virtual clock: deterministic, and minutes of protocol time
  cost milliseconds;
- process: every daemon is a real `daemon.py` process; the harness runs on a loop whose clock is
  real time divided by `scale`, so every duration of the scenario (timeouts, delays, sleeps,
  expected times) shrinks by the same factor and the scenario file stays unchanged.

A host may be played by another implementation (`implementation: NAME`, sim/foreign_hosts.py):
such a scenario runs in process mode, at the scale the foreign daemon's timers allow; what its
profile cannot observe is listed as "not observable", and a scenario it cannot play at all is
"not applicable" (Result.not_applicable), neither of them a pass or a failure.

A host's real address is 127.X.Y.h; its alias on the relay is 127.X.Y.(100+h).  Clients are
always the `simp.client.Client` library, connected to their daemon's real address.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sim import scenario as S
from sim.clock import ClockError, run_scaled, run_virtual
from sim.faults import FaultPlan
from sim.foreign_hosts import (
    ForeignDaemon,
    ForeignUser,
    NotApplicable,
    aliases,
    foreign_logs,
    observable_kind,
    profiles_for,
    takes_timeout,
    time_scale,
    translate,
)
from sim.foreign_hosts import foreign as has_foreign_hosts
from sim.foreign_hosts import not_applicable as why_not_applicable
from sim.ladder_mermaid import markdown
from sim.listdiff import brief, difference
from sim.loopback import new_block
from sim.process_mode import (
    PROBE_PERIOD,
    LatenessProbe,
    ProcessDaemon,
    StartError,
    retransmission_lateness,
    slack,
)
from sim.profiles import Implementation, NotSupported, Profile, ProfileError
from sim.relay import Relay
from sim.trace import DROPPED, Marker, Trace
from simp import events as ev
from simp import wire
from simp.client import Client, ClientConfig, ClientError
from simp.daemon import Daemon, DaemonConfig
from simp.node import NodeConfig
from simp.session import SessionConfig, State

ROOT = Path(__file__).resolve().parent.parent
SPARE_ADDRESSES = 150  # process mode: later incarnations of daemons listen on 127.X.Y.150 and up
_BLOCKS = threading.Lock()  # sim.loopback's allocator is one generator per process
SETTLE_POLL = 0.05  # in timeouts: how often the end of a run checks whether all is quiet
_FINAL = {None: "free", State.SYN_SENT: "inviting", State.INVITED: "invited", State.SYN_ACK_SENT: "invited",
          State.ESTABLISHED: "chatting", State.DRAINING: "chatting", State.FIN_SENT: "chatting"}


class StepFailed(Exception):
    """A step could not be carried out; the run stops there and reports it."""


@dataclass(frozen=True, slots=True)
class Failure:
    message: str
    t: float | None = None  # where to mark it on the ladder


@dataclass(frozen=True, slots=True)
class Seen:
    """A notice as a client showed it, at virtual time `t`."""

    t: float
    kind: str
    text: str | None = None
    undelivered: tuple[str, ...] = ()
    unconfirmed: tuple[str, ...] = ()  # of `undelivered`: those sent, whose ACK had not come

    def fits(self, want: S.Notice) -> bool:
        return (self.kind == want.kind and (want.text is None or want.text == self.text)
                and (want.undelivered is None or want.undelivered == self.undelivered))

    def describe(self) -> str:
        """As the ladder shows it; a chat end names the messages its user was told were not
        delivered, and apart from them those "not confirmed" (sent; the peer may have shown them)."""
        out = self.kind + ("" if self.text is None else f' "{wire.escaped(self.text)}"')
        never = tuple(u for u in self.undelivered if u not in self.unconfirmed)
        parts = ([f"undelivered: {brief(never)}"] if never else []) + \
                ([f"not confirmed: {brief(self.unconfirmed)}"] if self.unconfirmed else [])
        return out + (f" ({'; '.join(parts)})" if parts else "")


@dataclass
class Result:
    scenario: S.Scenario
    seed: int
    trace: Trace
    failures: list[Failure] = field(default_factory=list)
    notices: dict[str, list[Seen]] = field(default_factory=dict)
    said: dict[str, list[str]] = field(default_factory=dict)  # messages each user really sent
    virtual_time: float = 0.0
    wall_time: float = 0.0
    mode: str = "virtual"
    skipped: list[Failure] = field(default_factory=list)  # steps not carried out (on_step_failure: continue)
    unobservable: list[str] = field(default_factory=list)  # checks a foreign host's profile cannot see
    not_applicable: str | None = None  # why a foreign host cannot play this scenario (nothing was checked)
    replay_flags: str = ""  # what else the replay command needs (--implementations ...)
    dialects_learned: dict[str, int] = field(default_factory=dict)  # per in-process host (simp.dialect)
    foreign_logs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # foreign host -> what its
    # user typed and was shown, and what its daemon printed (sim.foreign_hosts.foreign_logs)

    @property
    def passed(self) -> bool:
        return not self.failures

    def markers(self) -> list[Marker]:
        """Where the failures go on the ladder."""
        return [Marker(f.t, f.message) for f in self.failures if f.t is not None]

    def ladder(self) -> str:
        return self.trace.ladder(self.markers())

    def replay_command(self) -> str:
        return f"python -m sim run {self.scenario.source} --seed {self.seed}{self.replay_flags}"

    def verdict(self) -> str:
        if self.not_applicable is not None:
            return f"not applicable: {self.not_applicable}"
        if self.failures:
            return f"{len(self.failures)} expectation(s) failed"
        return f"passed, {len(self.unobservable)} check(s) not observable" if self.unobservable else "passed"

    def report(self) -> str:
        """What a person needs when the scenario failed: what, where on the wire, how to replay."""
        sc = self.scenario
        lines = [f"scenario {sc.name!r} ({sc.source}), seed {self.seed}, {self.mode} mode: {self.verdict()}"]
        if sc.known_limit:
            lines.append(f"known protocol limit: {sc.known_limit.strip()}")
        lines += [f"  ✗ {f.message}" for f in self.failures]
        lines += [f"  - skipped {f.message}" for f in self.skipped]
        lines += [f"  ? not observable: {u}" for u in self.unobservable]
        lines += ["", self.ladder(), f"replay: {self.replay_command()}"]
        return "\n".join(lines)

    def write(self, directory: Path, *, timed: bool = False) -> None:
        """trace.jsonl, capture.pcapng, ladder.txt (the report), ladder.svg and ladder.md (Mermaid)
        into `directory`; `timed`: the SVG's vertical gaps follow time."""
        directory.mkdir(parents=True, exist_ok=True)
        self.trace.write_jsonl(directory / "trace.jsonl")
        self.trace.write_pcapng(directory / "capture.pcapng")
        (directory / "ladder.txt").write_text(self.report() + "\n")
        self.trace.write_svg(directory / "ladder.svg", self.markers(), title=self.scenario.name, timed=timed)
        diagram = self.trace.mermaid(self.markers())
        (directory / "ladder.md").write_text(markdown(diagram, self.scenario.name), encoding="utf-8")
        for host, logs in self.foreign_logs.items():  # HOST.user.txt, HOST.daemon.txt
            for kind, lines in logs.items():
                (directory / f"{host}.{kind}.txt").write_text("".join(f"{line}\n" for line in lines))


# -- hosts ---------------------------------------------------------------------------------------


class _InProcessDaemon:
    """A Daemon object on the harness's own loop."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.daemon: Daemon | None = None
        self.starts = 0
        self.learned_before = 0  # dialects learned by the runs of this daemon that were killed

    async def start(self) -> str:
        """Each restart is a new daemon run, with its own SIMPX/1 chat-id epoch as daemon.py's start
        time gives it (the first run keeps the model checker's: none)."""
        self.starts += 1
        epoch = "" if self.starts == 1 else f"r{self.starts}"
        self.daemon = Daemon(replace(self.config, node=replace(self.config.node, chat_id_epoch=epoch)))
        await self.daemon.start()
        return self.config.host

    async def kill(self) -> None:
        if self.daemon is not None:
            self.learned_before = self.dialects_learned()
            self.daemon.close(graceful=False)
            await self.daemon.wait_closed()
            self.daemon = None

    close = kill

    def dialects_learned(self) -> int:
        """How many times this host's daemons (every run of it) learned a peer's dialect."""
        now = self.daemon.counters().get("dialects_learned", 0) if self.daemon else 0
        return self.learned_before + now

    async def final_state(self, client: Client | None) -> str:
        if self.daemon is None:
            return "down"
        current = self.daemon.node.current
        return _FINAL[current.state if current else None]

    async def malformed(self, client: Client | None) -> int:
        return self.daemon.counters().get("malformed", 0) if self.daemon else 0

    async def quiet(self, client: Client | None, silent_for: float) -> bool:
        """Nothing will happen on its own any more (no retransmission, expiry or linger)."""
        return self.daemon is None or self.daemon.node.get_timer() is None


class _ProcessDaemon(ProcessDaemon):
    """A real `daemon.py` process (sim.process_mode), seen through the same questions."""

    async def prepare(self, addresses: list[str]) -> None:
        try:
            await super().prepare(addresses)
        except StartError as exc:
            raise StepFailed(str(exc)) from None

    async def start(self) -> str:
        try:
            return await super().start()
        except StartError as exc:
            raise StepFailed(str(exc)) from None

    async def final_state(self, client: Client | None) -> str:
        self.client = client
        state = await super().final_state()
        return next((name for s, name in _FINAL.items() if s is not None and s.value == state), state)

    async def malformed(self, client: Client | None) -> int:  # type: ignore[override]
        self.client = client
        return await super().malformed()

    async def quiet(self, client: Client | None, silent_for: float) -> bool:  # type: ignore[override]
        self.client = client
        return await super().quiet(silent_for)


@dataclass
class _Host:
    spec: S.Host
    index: int
    ip: str
    alias: str
    daemon: _InProcessDaemon | _ProcessDaemon | ForeignDaemon
    client: Client | ForeignUser | None = None
    profile: Profile | None = None  # a foreign host's implementation profile (None: our daemon)
    pump: asyncio.Task[None] | None = None
    seen: list[Seen] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    said: dict[int, str] = field(default_factory=dict)
    cursor: int = 0  # notices before this were consumed by wait-until
    answered: int = 0  # invitations before this were answered by accept / decline
    chatting: bool = False
    daemon_up: bool = False  # started by the harness and not killed since
    changed: asyncio.Event = field(default_factory=asyncio.Event)


# -- the run -------------------------------------------------------------------------------------


class _Run:
    def __init__(self, sc: S.Scenario, seed: int, scale: float | None,
                 profiles: Mapping[str, Profile] | None = None) -> None:
        self.sc = sc
        self.seed = seed
        self.scale = scale
        self.profiles = dict(profiles or {})  # host name -> profile, for foreign hosts
        self.foreign: dict[str, ForeignDaemon] = {}  # their daemons, as started
        self.trace = Trace(sc.host_names)
        self.result = Result(sc, seed, self.trace, mode="virtual" if scale is None else "process")
        self.hosts: dict[str, _Host] = {}
        self.relay: Relay | None = None
        self.origin = 0.0
        self.drops: set[int] = set()
        self.lateness = LatenessProbe(PROBE_PERIOD * sc.daemon.timeout)  # process mode only

    # time, in scenario seconds since the start
    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.origin

    def fail(self, message: str, t: float | None = None) -> None:
        self.result.failures.append(Failure(message, self.now() if t is None else t))

    async def main(self) -> Result:
        loop = asyncio.get_running_loop()
        self.origin = loop.time()
        self.relay = Relay(FaultPlan(self.sc.faults, self.seed), self.trace, origin=self.origin)
        if self.scale is not None:
            self.lateness.start()
        try:
            await self._set_up()
            self.origin = self.relay.origin = loop.time()  # t=0 is when the first step runs
            await self._run_steps()
            await self._settle()
        except StepFailed as exc:
            self.fail(str(exc))
        except (NotApplicable, NotSupported) as exc:
            self.result.not_applicable = str(exc)
        except Exception as exc:  # a harness fault must still give a report, not a traceback
            self.fail(f"harness error: {type(exc).__name__}: {self._named(str(exc))}")
        finally:
            self.lateness.stop()
            try:
                if self.result.not_applicable is None:
                    await self._collect_checks()
            finally:  # (interrupted, the checks' first await is cancelled: the daemons must still stop)
                await self._tear_down()
        self.result.virtual_time = self.now()
        self.result.notices = {name: h.seen for name, h in self.hosts.items()}
        self.result.said = {name: list(h.said.values()) for name, h in self.hosts.items()}
        return self.result

    async def _set_up(self) -> None:
        with _BLOCKS:  # one allocator for the threads of `python -m sim run -j N`
            prefix = new_block()
        opts = self.sc.daemon
        session = SessionConfig(timeout=opts.timeout, retries=opts.retries, invite_expiry=opts.invite_expiry)
        spares = (f"{prefix}{n}" for n in range(SPARE_ADDRESSES, 255))
        await self._start_foreign(prefix)
        links = {name: (d.impl.netns.outside, d.impl.netns.outside_extra)
                 for name, d in self.foreign.items() if d.impl.netns is not None}
        alias_of = aliases(self.sc.host_names, prefix, links)
        for index, spec in enumerate(self.sc.hosts, start=1):
            ip, alias, port = f"{prefix}{index}", alias_of[spec.name], 7777
            told = tuple((alias_of[peer], name) for peer, name in spec.peer_dialects)  # as it sees them
            config = DaemonConfig(host=ip, node=NodeConfig(session=session, extension=spec.extension,
                                                           peer_dialects=told))
            if spec.name in self.foreign:
                daemon: _InProcessDaemon | _ProcessDaemon | ForeignDaemon = self.foreign[spec.name]
                ip, port = self.foreign[spec.name].ip, self.profiles[spec.name].port
            elif self.scale is None:
                daemon = _InProcessDaemon(config)
            else:
                daemon = _ProcessDaemon(config, self.scale, watch_clients=any(
                    isinstance(step, S.KillClient) for step in self.sc.steps))
            host = _Host(spec, index, ip, alias, daemon, profile=self.profiles.get(spec.name))
            self.hosts[spec.name] = host  # (first: interrupted while it starts, `_tear_down` stops it)
            if isinstance(daemon, _ProcessDaemon):
                first = [ip] if spec.daemon else []  # a daemon started by a step: nothing at ip till then
                later = [next(spares) for _ in range(self._starts(spec.name) - len(first))]
                await daemon.prepare(first + later)
            assert self.relay is not None
            await self.relay.add_host(spec.name, (ip, port), (alias, 7777))
        for host in self.hosts.values():
            if host.spec.daemon:
                await self._start_daemon(host)
        for host in self.hosts.values():
            if host.spec.daemon and host.spec.client:
                await self._connect(host, host.spec.user)

    async def _start_foreign(self, prefix: str) -> None:
        """Start every foreign host's daemon before the relay is set up: one that runs in a
        network namespace decides its peers' aliases (sim.foreign_hosts.aliases).  A profile whose
        command takes `{timeout}` gets the scenario's timeout on the run's scale."""
        assert self.scale is not None or not self.profiles
        for index, spec in enumerate(self.sc.hosts, start=1):
            profile = self.profiles.get(spec.name)
            if profile is None:
                continue
            assert self.scale is not None
            if takes_timeout(profile):
                profile = replace(profile, timeout=self.sc.daemon.timeout * self.scale)
            daemon = ForeignDaemon(Implementation(profile, f"{prefix}{index}", scale=self.scale),
                                   self.sc.daemon.timeout)
            self.foreign[spec.name] = daemon
            try:
                await daemon.start()
            except (RuntimeError, OSError) as exc:  # NetnsError included: it says what is missing
                raise StepFailed(f"{spec.name} ({profile.name}) did not start: {exc}") from None

    def _starts(self, name: str) -> int:
        """How many daemons host `name` runs in this scenario, one after the other."""
        steps = sum(1 for step in self.sc.steps
                    if step.host == name and isinstance(step, S.StartDaemon | S.RestartDaemon))
        return steps + (1 if self.sc.host(name).daemon else 0)

    async def _start_daemon(self, host: _Host) -> None:
        ip = await host.daemon.start()
        host.daemon_up = True
        if ip != host.ip:  # process mode: this incarnation listens on an address of its own
            assert self.relay is not None
            self.relay.move_host(host.spec.name, (ip, 7777))
            host.ip = ip

    async def _tear_down(self) -> None:
        for host in self.hosts.values():
            if host.pump is not None:
                host.pump.cancel()
            if isinstance(host.client, Client):
                host.client.abandon()
            if not isinstance(host.daemon, ForeignDaemon):
                await host.daemon.close()
        for name, daemon in self.foreign.items():  # also those started before a later one failed
            await daemon.close()
            client = self.hosts[name].client if name in self.hosts else None
            if isinstance(client, ForeignUser):
                await client.close()
            self.result.foreign_logs[name] = foreign_logs(daemon)
        if self.relay is not None:
            self.relay.close()

    # -- clients and their notices -------------------------------------------------------------

    async def _connect(self, host: _Host, user: str) -> None:
        if host.pump is not None:
            host.pump.cancel()
        host.chatting = False  # a new connection has no chat yet (the old one may have died with its daemon)
        if isinstance(host.daemon, ForeignDaemon):
            await self._connect_foreign(host, host.daemon, user)
            return
        if host.client is not None:
            host.client.abandon()
        host.client = Client(host.ip, config=ClientConfig(request_timeout=10.0))
        await host.client.connect(user)
        host.pump = asyncio.ensure_future(self._pump(host, host.client))

    async def _connect_foreign(self, host: _Host, daemon: ForeignDaemon, user: str) -> None:
        """A foreign host's user, through its profile's driver; the daemon's own terminal
        (`attach: daemon`) is one for the daemon's life, a client program a new one each time."""
        assert self.scale is not None and host.profile is not None
        client = host.client
        if not (isinstance(client, ForeignUser) and host.profile.user.attach):
            if isinstance(client, ForeignUser):
                await client.close()
            client = ForeignUser(daemon.impl.user(), host.profile, self.scale)
            host.client = client
        try:
            await client.connect(user)
        except ConnectionError as exc:
            raise StepFailed(f"{host.spec.name} ({host.profile.name}): {exc}") from None
        host.pump = asyncio.ensure_future(self._foreign_pump(host, client))

    async def _foreign_pump(self, host: _Host, client: ForeignUser) -> None:
        """A foreign user's notices, as the runner's Seen (sim.foreign_hosts.translate)."""
        while True:
            try:
                event = await client.next_event()
            except ConnectionError as exc:
                self._notice(host, Seen(self.now(), "client error", self._named(str(exc))))
                return
            got = translate(event)
            if got is None:
                continue
            kind, text = got
            if kind == "chat started":
                host.chatting = True
            elif kind == "message":
                host.messages.append(text or "")
            elif kind == "delivered" and text is None:  # a bare "delivered": the oldest message not yet
                done = sum(1 for s in host.seen if s.kind == "delivered")
                text = list(host.said.values())[done] if done < len(host.said) else None
            elif kind in S.END_NOTICES:
                host.chatting = False
            self._notice(host, Seen(self.now(), kind, text))

    async def _pump(self, host: _Host, client: Client) -> None:
        while True:
            try:
                event = await client.next_event()
            except ClientError as exc:
                self._notice(host, Seen(self.now(), "client error", self._named(str(exc))))
                return
            self._notice(host, self._seen(host, event))

    def _named(self, text: str) -> str:
        """`text` with loopback addresses replaced by host names, so traces do not depend on them."""
        for name, host in self.hosts.items():
            text = text.replace(host.alias, f"{name}(alias)").replace(host.ip, name)
        return text

    def _seen(self, host: _Host, event: ev.Event) -> Seen:
        t = self.now()
        match event:
            case ev.Invitation(user=user):
                return Seen(t, "invitation", user)
            case ev.ChatStarted():
                host.chatting = True
                return Seen(t, "chat started")
            case ev.MessageReceived(text=text):
                host.messages.append(text)
                return Seen(t, "message", text)
            case ev.MessageDelivered(msg_id=msg_id):
                return Seen(t, "delivered", host.said.get(msg_id, f"#{msg_id}"))
            case ev.PeerError(text=text):
                return Seen(t, "error", text)
            case ev.ChatEnded(reason=reason, undelivered=undelivered):
                host.chatting = False
                return Seen(t, reason.text, None, tuple(u.text for u in undelivered),
                            tuple(u.text for u in undelivered if getattr(u, "sent", False)))
        raise AssertionError(f"unexpected event {event!r}")

    def _notice(self, host: _Host, seen: Seen) -> None:
        host.seen.append(seen)
        self.trace.annotate(seen.t, host.spec.name, f"* {seen.describe()}")
        host.changed.set()

    async def _until(self, host: _Host, ready: Callable[[], bool], within: float, what: str) -> None:
        """Wait until `ready()`, at most `within` seconds.  One timer bounds the whole wait: a
        loop that waited for the time left each round spun for ever at one virtual instant when
        that time fell below the event loop's clock resolution (asyncio runs a timer due within
        it at once, so the clock never moved; explorer seed 44101 used a minute of real time)."""
        try:
            async with asyncio.timeout(within):
                while not ready():
                    host.changed.clear()
                    await host.changed.wait()
        except TimeoutError:
            raise StepFailed(f"{host.spec.name}: {what} did not happen within {within:g}s") from None

    def _unobservable(self, host: _Host, kind: str, what: str) -> bool:
        """True (and `what` listed as not observable) when a foreign host's profile cannot show
        notices of `kind`."""
        p = host.profile
        if p is None or observable_kind(p, kind):
            return False
        entry = f"{what} ({host.spec.name} is {p.name}: no '{kind}' notice in its profile)"
        if entry not in self.result.unobservable:
            self.result.unobservable.append(entry)
        return True

    async def _await_notice(self, host: _Host, want: S.Notice, within: float, *,
                            answer: bool = False) -> None:
        """Wait for `want` after the last notice a wait-until consumed (or, with `answer`, after
        the last invitation an accept/decline answered: the two keep separate places).  A notice
        a foreign host's profile cannot show is not waited for (listed as not observable)."""
        if self._unobservable(host, want.kind, f"{host.spec.name}: waiting for {want.describe()}"):
            return
        def found() -> bool:
            start = host.answered if answer else host.cursor
            for i in range(start, len(host.seen)):
                if host.seen[i].fits(want):
                    if answer:
                        host.answered = i + 1
                    else:
                        host.cursor = i + 1
                    return True
            return False
        await self._until(host, found, within, want.describe())

    # -- steps ---------------------------------------------------------------------------------

    async def _run_steps(self) -> None:
        for step in self.sc.steps:
            said = (step.source or type(step).__name__).removeprefix(f"{step.host}:").strip()
            self.trace.annotate(self.now(), step.host or self.sc.hosts[0].name, f"> {said}")
            try:
                try:
                    await self._step(step)
                except (ClientError, ConnectionError) as exc:  # ConnectionError: a foreign user's program
                    raise StepFailed(f"{step.where}: {step.source}: {exc}") from None
                except StepFailed as exc:
                    raise StepFailed(f"{step.where}: {exc}") from None
            except StepFailed as exc:
                if not self.sc.continue_on_step_failure:
                    raise
                self.result.skipped.append(Failure(str(exc), self.now()))
                self.trace.annotate(self.now(), step.host or self.sc.hosts[0].name, f"! skipped: {exc}")

    async def _step(self, step: S.Step) -> None:
        if isinstance(step, S.Sleep):
            await asyncio.sleep(step.seconds)
            return
        assert step.host is not None
        host = self.hosts[step.host]
        match step:
            case S.Connect(user=user):
                await self._connect(host, user or host.spec.user)
            case S.StartDaemon():
                if host.daemon_up:
                    raise StepFailed(f"{step.host}: start daemon: its daemon is already running "
                                     "(write 'restart daemon', or 'kill daemon' before this step)")
                await self._start_daemon(host)
            case S.KillDaemon():
                await host.daemon.kill()
                host.daemon_up = False
            case S.RestartDaemon():
                await host.daemon.kill()
                host.daemon_up = False
                await self._start_daemon(host)
            case S.WaitUntil(notice=notice, within=within):
                await self._await_notice(host, notice, within)
            case _:
                await self._client_step(host, step)

    async def _client_step(self, host: _Host, step: S.Step) -> None:
        client = host.client
        if client is None:
            raise StepFailed(f"{host.spec.name} has no client connected")
        match step:
            case S.Wait():
                await client.wait()
            case S.Start(peer=peer):
                await client.start(self.hosts[peer].alias, 7777)
            case S.Accept():
                await self._await_notice(host, S.Notice(kind="invitation"), self.sc.step_wait, answer=True)
                await client.accept()
            case S.Decline():
                await self._await_notice(host, S.Notice(kind="invitation"), self.sc.step_wait, answer=True)
                await client.decline()
            case S.Say(text=text):
                if not self._unobservable(host, "chat started", f"{step.host}: waiting for chat started"):
                    await self._until(host, lambda: host.chatting, self.sc.step_wait, "chat started")
                host.said[await client.say(text)] = text
            case S.Quit():
                await client.quit()
            case S.Disconnect():
                await client.close()
                host.client = None
            case S.KillClient():
                client.abandon()
                host.client = None
            case _:
                raise StepFailed(f"unsupported step {step!r}")

    async def _settle(self) -> None:
        """Let the run finish: until no daemon has anything left to do, or the time limit.

        In process mode a daemon's answer may still be crossing the relay when it says it is
        quiet, so all must be quiet twice in a row, a poll apart."""
        poll = SETTLE_POLL * self.sc.daemon.timeout
        quiet_polls = 0
        while quiet_polls < (1 if self.scale is None else 2):
            busy = [name for name, host in self.hosts.items()
                    if not await host.daemon.quiet(host.client, self._silent_for(name))]
            quiet_polls = 0 if busy else quiet_polls + 1
            if busy and self.now() >= self.sc.time_limit:
                self.fail(f"not settled within the time limit of {self.sc.time_limit:g}s: "
                          f"{', '.join(busy)} still had timers running (a state that never ends?)")
                return
            if quiet_polls < (1 if self.scale is None else 2):
                await asyncio.sleep(poll)

    def _silent_for(self, name: str) -> float:
        """Scenario seconds since a datagram from or to host `name` last crossed the relay."""
        times = [e.t for e in self.trace.sent() if name in (e.src, e.dst)]
        return self.now() - max(times, default=0.0)

    # -- checks --------------------------------------------------------------------------------

    async def _collect_checks(self) -> None:
        expect = self.sc.expect
        self.result.dialects_learned = {name: h.daemon.dialects_learned() for name, h in self.hosts.items()
                                        if isinstance(h.daemon, _InProcessDaemon)}
        self.drops = {e.n for e in self.trace.events if e.action == DROPPED}
        for name, wanted in expect.delivered.items():
            if self._unobservable(self.hosts[name], "message", f"delivered to {name}: {brief(wanted)}"):
                continue
            got = tuple(self.hosts[name].messages)
            if got != wanted:
                self.fail(f"delivered to {name}: expected {len(wanted)} message(s), got {len(got)}: "
                          + difference(wanted, got))
        for name, notices in expect.notices.items():
            self._check_notices(name, notices)
        self._check_wire(expect.wire)
        for count in expect.count:
            n = sum(1 for e in self.trace.sent()
                    if count.line.matches(e.src, e.dst, e.datagram, e.n in self.drops))
            if not count.ok(n):
                self.fail(f"count of {count.line.source}: expected {count.describe()}, got {n}")
        for name, state in expect.final.items():
            got_state = await self.hosts[name].daemon.final_state(self.hosts[name].client)
            if got_state is None:
                self.result.unobservable.append(f"final state of {name} ({state}): its implementation "
                                                "cannot tell it")
            elif got_state != state:
                self.fail(f"final state of {name}: expected {state}, got {got_state}")
        for name, wanted_count in expect.malformed.items():
            got_count = await self.hosts[name].daemon.malformed(self.hosts[name].client)
            if got_count is None:
                self.result.unobservable.append(f"malformed datagrams counted by {name} ({wanted_count}): "
                                                "its implementation does not count them")
            elif got_count != wanted_count:
                self.fail(f"malformed datagrams counted by {name}: expected {wanted_count}, got {got_count}")

    def _check_notices(self, name: str, notices: tuple[S.Notice, ...]) -> None:
        host = self.hosts[name]
        seen = host.seen
        if host.profile is not None:  # a foreign user: check what it can be shown, list the rest
            notices = tuple(n for n in notices if not self._unobservable(host, n.kind, f"notice of {name}: "
                                                                         f"{n.describe()}"))
            if any(n.undelivered is not None for n in notices):
                self.result.unobservable.append(f"notices of {name}: the undelivered messages a chat end "
                                                f"lists ({host.profile.name} does not say them)")
                notices = tuple(replace(n, undelivered=None) for n in notices)
        own_decline = any(isinstance(step, S.Decline) and step.host == name for step in self.sc.steps)
        i = 0
        for want in notices:
            j = i
            while j < len(seen) and not seen[j].fits(want):
                j += 1
            if j == len(seen) and host.profile is not None and want.kind == "declined" and own_decline:
                # our client confirms its user's own decline; a profile's `declined` is the inviter's
                self.result.unobservable.append(f"notice of {name}: declined, as the confirmation of its "
                                                f"own decline ({host.profile.name} does not show one)")
                continue
            if j == len(seen):
                shown = brief([s.describe() for s in seen], quote=False, sep="; ") or "nothing"
                self.fail(f"notices of {name}: expected {want.describe()} (in order); saw: {shown}")
                return
            i = j + 1

    def _on_time(self, line: S.WireLine, t: float, previous: float, lateness: float) -> bool:
        """`line.time_ok`; in process mode the tolerance is widened by what the scheduler really
        did in this run (`lateness`, see sim.process_mode)."""
        due = line.expected_time(previous)
        if due is None:
            return True
        allowed = line.tolerance  # the protocol's own leeway; in process mode the scheduler's on top
        if self.scale is not None:
            allowed += slack(due=due, timeout=self.sc.daemon.timeout, scale=self.scale, lateness=lateness)
        return abs(t - due) <= allowed + 1e-9

    def _check_wire(self, lines: tuple[S.WireLine, ...]) -> None:
        """Each line matches a datagram after the previous line's, on time.  In process mode two
        datagrams sent within the scheduling noise of each other (`concurrent`) may have crossed
        the relay in either order, so a line may also match one of those, if no line took it."""
        sent = self.trace.sent()
        previous, start, used = 0.0, 0, set[int]()
        lateness, concurrent = 0.0, 0.0
        if self.scale is not None:
            lateness = max(self.lateness.worst, retransmission_lateness(self.trace, self.sc.daemon.timeout))
            concurrent = slack(due=0.0, timeout=self.sc.daemon.timeout, scale=self.scale, lateness=lateness)
        for k, line in enumerate(lines):
            first = start
            while first > 0 and previous - sent[first - 1].t <= concurrent:
                first -= 1
            candidates = [j for j in range(first, len(sent)) if j not in used and line.matches(
                sent[j].src, sent[j].dst, sent[j].datagram, sent[j].n in self.drops)]
            timely = [j for j in candidates if self._on_time(line, sent[j].t, previous, lateness)]
            if not timely:
                due = line.expected_time(previous)
                near = (f"; the nearest match was #{sent[candidates[0]].n} at {sent[candidates[0]].t:.3f}s"
                        if candidates else "; no datagram after the previous line matches at all")
                when = "" if due is None else f" at {due:.3f}s ~{line.tolerance:g}s"
                self.fail(f"wire[{k}]: expected {line.source}{when}{near}",
                          due if due is not None else (sent[start].t if start < len(sent) else previous))
                return
            used.add(timely[0])
            previous, start = sent[timely[0]].t, max(start, timely[0] + 1)

def run_scenario(sc: S.Scenario, *, seed: int | None = None, wall_limit: float = 60.0) -> Result:
    """Run `sc` in-process under the virtual clock; deterministic for a given seed."""
    run = _Run(sc, sc.seed if seed is None else seed, None)
    started = time.monotonic()
    try:
        result = run_virtual(run.main(), wall_limit=wall_limit, virtual_limit=sc.time_limit + 3600)
    except ClockError as exc:
        result = run.result
        result.failures.append(Failure(f"{type(exc).__name__}: {exc}", None))
    result.wall_time = time.monotonic() - started
    return result


def run_scenario_processes(sc: S.Scenario, *, seed: int | None = None, scale: float = 0.05,
                           implementations: str | Path | None = None) -> Result:
    """Run `sc` with real daemon.py processes, every duration multiplied by `scale` in real time.

    Hosts with `implementation:` are played by profiles from the folder `implementations`
    (ProfileError when one is missing); the scale is then the one their timers allow
    (sim.foreign_hosts.time_scale), and a scenario they cannot play comes back not applicable,
    without running."""
    profiles = profiles_for(sc, implementations)
    if profiles:
        scale = time_scale(sc, profiles, scale)
    run = _Run(sc, sc.seed if seed is None else seed, scale, profiles)
    if profiles:
        run.result.mode = f"foreign-host (clock x{scale:g} of real time)"
        if (reason := why_not_applicable(sc, profiles)) is not None:
            run.result.not_applicable = reason
            return run.result
    started = time.monotonic()
    result = run_scaled(run.main(), scale)
    result.wall_time = time.monotonic() - started
    return result


def run_chosen(sc: S.Scenario, *, seed: int | None = None, processes: bool = False, scale: float = 0.05,
               implementations: str | Path | None = None) -> Result:
    """In-process under the virtual clock, unless `processes` or a host is another implementation
    (its daemon keeps real timers: process mode at the scale it allows)."""
    if processes or has_foreign_hosts(sc):
        return run_scenario_processes(sc, seed=seed, scale=scale, implementations=implementations)
    return run_scenario(sc, seed=seed)


__all__ = ["ProfileError", "Result", "run_chosen", "run_scenario", "run_scenario_processes"]
