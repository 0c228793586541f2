"""Scenario hosts played by other SIMP implementations (`hosts: {bob: {implementation: NAME}}`).

The runner (sim/runner.py) keeps its steps and checks; this module supplies what differs when a
host's daemon and user are someone else's program, started from an implementation profile
(sim/profiles.py, docs/CONFORMANCE.md):

- which profile plays which host (`--implementations DIR` finds them, `--implementation
  HOST=NAME` casts a catalog scenario's host without editing the file);
- whether the scenario can apply at all (`not_applicable`): a step the profile has no template
  for, a daemon started or restarted by a step (a foreign daemon takes real seconds to come up,
  which the scenario's timeline cannot wait for), or an address layout the relay cannot give;
- the time scale: a foreign daemon keeps its own timers, so the run's clock is scaled to make its
  retransmission timeout the scenario's (`time_scale`); a profile whose command takes
  `{timeout}` is given the scaled timeout instead, as our own daemons are in process mode;
- the aliases peers use when some daemon runs in a network namespace of its own (`aliases`);
- `ForeignDaemon` / `ForeignUser`: an Implementation and its user driver seen through the
  questions the runner asks of a host (start, kill, close; connect, start, accept, say...).

A notice the profile has no regex for, a daemon state it cannot report, a malformed-datagram
count it does not keep: these checks are "not observable" (listed in the result, never passed
silently); `observable_kind` says which scenario notice kinds a profile can see.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from sim import scenario as S
from sim.profiles import BUILTIN, Implementation, Profile, ProfileError, UserDriver, UserEvent, resolve

# scenario notice kind -> the profile's notice name (docs/CONFORMANCE.md); kinds absent here
# ("no answer", "invitation withdrawn", ...) have no profile notice: never observable
PROFILE_NOTICE = {"invitation": "invitation", "chat started": "chat_started", "message": "message",
                  "delivered": "delivered", "error": "error", "declined": "declined", "refused": "refused",
                  "peer left": "peer_left", "peer stopped answering": "not_answering",
                  "chat ended": "chat_ended"}
SEEN_KIND = {v: k for k, v in PROFILE_NOTICE.items()}
STEP_VERB = {S.Start: "start", S.Accept: "accept", S.Decline: "decline", S.Say: "say", S.Quit: "quit"}


class NotApplicable(Exception):
    """The scenario cannot be played with this profile (the text says why); not a failure."""


def cast(sc: S.Scenario, overrides: Mapping[str, str]) -> S.Scenario:
    """`sc` with the hosts named in `overrides` (host -> profile name) played by those profiles;
    a host the scenario does not have is ignored, so one cast fits a whole catalog."""
    if not any(h.name in overrides for h in sc.hosts):
        return sc
    hosts = tuple(replace(h, implementation=overrides[h.name]) if h.name in overrides else h
                  for h in sc.hosts)
    return replace(sc, hosts=hosts)


def parse_cast(items: Sequence[str]) -> dict[str, str]:
    """`HOST=NAME` arguments (`--implementation bob=course-reference`)."""
    out = {}
    for item in items:
        host, sep, name = item.partition("=")
        if not sep or not host or not name:
            raise ProfileError(f"--implementation: expected HOST=NAME (e.g. bob=course-reference), "
                               f"got {item!r}")
        out[host] = name
    return out


def foreign(sc: S.Scenario) -> bool:
    return any(h.implementation not in (None, BUILTIN) for h in sc.hosts)


def profiles_for(sc: S.Scenario, folder: str | Path | None) -> dict[str, Profile]:
    """The profile of every foreign host of `sc` (host name -> Profile); ProfileError names the
    host and what is missing."""
    out = {}
    for h in sc.hosts:
        if h.implementation in (None, BUILTIN):
            continue
        assert h.implementation is not None
        if folder is None and not Path(h.implementation).is_file():
            raise ProfileError(f"host {h.name}: implementation {h.implementation!r} needs "
                               "--implementations DIR (the folder of profiles)")
        try:
            out[h.name] = resolve(h.implementation, folder)
        except ProfileError as exc:
            raise ProfileError(f"host {h.name}: {exc}") from None
    return out


def not_applicable(sc: S.Scenario, profiles: Mapping[str, Profile]) -> str | None:
    """Why `sc` cannot be played with these profiles, or None."""
    for name, p in profiles.items():
        host = sc.host(name)
        if not host.daemon:
            return f"{name} ({p.name}): the scenario starts its daemon late, and a foreign daemon's start " \
                   "takes real time the scenario's timeline cannot wait for"
        for step in sc.steps:
            if step.host != name:
                continue
            if isinstance(step, S.StartDaemon | S.RestartDaemon):
                return f"{name} ({p.name}): {step.where}: '{step.source}' starts a foreign daemon mid-run " \
                       "(its start takes real time the scenario's timeline cannot wait for)"
            if isinstance(step, S.KillClient | S.Disconnect) and p.user.attach:
                return f"{name} ({p.name}): {step.where}: '{step.source}': its user is the daemon's own " \
                       "terminal, which cannot go away without the daemon"
            verb = STEP_VERB.get(type(step))
            if verb is not None and not p.can(verb):
                return (f"{name} ({p.name}): {step.where}: '{step.source}': the profile has no step "
                        f"for '{verb}'")
    in_netns = [n for n, p in profiles.items() if p.binds == "netns"]
    if len(in_netns) > 1 and len(sc.hosts) > 2:
        return "more than one daemon in a network namespace among three or more hosts: the relay gives " \
               "each host one alias, which cannot sit on several namespaces' links"
    if len(in_netns) == 1 and len(sc.hosts) > 3:
        return ("a daemon in a network namespace reaches at most two other hosts (its link's two "
                "host-side addresses)")
    return None


def time_scale(sc: S.Scenario, profiles: Mapping[str, Profile], default: float) -> float:
    """The run's clock scale: with a profile whose timeout is fixed (no `{timeout}` in its
    command), the one that makes its timeout the scenario's (the largest such, when several
    disagree: the others' timers then run early, which the wire checks show); else `default`,
    as process mode."""
    fixed = [p.timeout / sc.daemon.timeout for p in profiles.values() if not takes_timeout(p)]
    return max(fixed) if fixed else default


def takes_timeout(p: Profile) -> bool:
    return any("{timeout}" in part for part in p.command)


def observable_kind(p: Profile, kind: str) -> bool:
    """Whether the profile's user is shown notices of this scenario kind."""
    return kind in PROFILE_NOTICE and p.observes(PROFILE_NOTICE[kind])


def aliases(names: Sequence[str], prefix: str, namespaces: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Where each host's peers reach it (its alias on the relay).

    Loopback hosts: 127.X.Y.(100+h), as always.  A daemon in a network namespace reaches only
    its link's host-side addresses (`namespaces[name]`), so its peers' aliases are those: with one
    namespace, the other hosts take its link's addresses; with two hosts both in namespaces, each
    host's alias sits on the other's link."""
    out = {name: f"{prefix}{100 + i}" for i, name in enumerate(names, start=1)}
    if len(namespaces) == 1:
        (ns_host, link), = namespaces.items()
        others = [n for n in names if n != ns_host]
        out.update(zip(others, link, strict=False))
    elif len(namespaces) == 2 and len(names) == 2:
        a, b = names
        out[a], out[b] = namespaces[b][0], namespaces[a][0]
    return out


class ForeignDaemon:
    """A host's foreign daemon (an Implementation), asked what the runner asks of ours."""

    def __init__(self, impl: Implementation, timeout: float) -> None:
        self.impl = impl
        self.timeout = timeout  # the scenario's, for the quiet rule
        self._started = False

    @property
    def ip(self) -> str:
        return self.impl.bind_ip

    async def start(self) -> str:
        if not self._started:
            await self.impl.start()
            self._started = True
        elif not self.impl.alive():  # the runner does not restart it (not_applicable rules it out)
            raise NotApplicable(f"{self.impl.profile.name}: a foreign daemon is not started again mid-run")
        return self.ip

    async def kill(self) -> None:
        self.impl.kill()

    async def close(self) -> None:
        await self.impl.close()

    async def final_state(self, client: object) -> str | None:
        """None: the implementation cannot say (every foreign daemon so far)."""
        if not self.impl.alive():
            return "down"
        status = await self.impl.status()
        return None if status is None else status.get("state")

    async def malformed(self, client: object) -> int | None:
        return None

    async def quiet(self, client: object, silent_for: float) -> bool:
        """A foreign daemon cannot say whether a timer is left: quiet after two of the scenario's
        timeouts without a datagram of its (its retransmissions are one timeout apart)."""
        return not self.impl.alive() or silent_for >= 2 * self.timeout


class ForeignUser:
    """A foreign host's user, with the verbs of simp.client.Client the runner calls."""

    def __init__(self, driver: UserDriver, profile: Profile, scale: float) -> None:
        self.driver = driver
        self.profile = profile
        self.scale = scale
        self._next_id = 0
        self._closing: asyncio.Future[None] | None = None  # abandon(): the close under way

    async def connect(self, user: str) -> None:
        try:
            await self.driver.connect(user, timeout=max(self.profile.startup, 10.0) / self.scale)
        except TimeoutError:
            raise ConnectionError(f"{self.profile.name}: its user was not shown 'ready' after "
                                  "connecting") from None

    async def wait(self) -> None:
        if self.profile.can("wait"):  # a daemon without a wait step takes invitations at any time
            await self.driver.wait()

    async def start(self, host: str, port: int = 7777) -> None:
        await self.driver.start(host, port)

    async def accept(self) -> None:
        await self.driver.accept()

    async def decline(self) -> None:
        await self.driver.decline()

    async def say(self, text: str) -> int:
        await self.driver.say(text)
        self._next_id += 1
        return self._next_id

    async def quit(self) -> None:
        await self.driver.quit()

    async def close(self) -> None:
        await self.driver.close()

    def abandon(self) -> None:
        self._closing = asyncio.ensure_future(self.driver.close())

    async def next_event(self) -> UserEvent:
        while True:
            with contextlib.suppress(TimeoutError):
                return await self.driver.next_event(3600)


def foreign_logs(daemon: ForeignDaemon) -> dict[str, list[str]]:
    """What a foreign host's users typed (`> `) and were shown (`< `), and what its daemon printed:
    written beside the ladder (`--out`), because the wire alone cannot tell a daemon that never
    sent a datagram from a client that never showed what it got."""
    return {"user": daemon.impl.transcripts(), "daemon": daemon.impl.output()}


def translate(event: UserEvent) -> tuple[str, str | None] | None:
    """A profile notice as the runner's (kind, text); None for `ready` (not a scenario notice)."""
    kind = SEEN_KIND.get(event.kind)
    if kind is None:
        return None
    text = event.fields.get("user") if kind == "invitation" else event.fields.get("text")
    return kind, (text if kind in S.TEXT_NOTICES else None)

