"""What a conformance case works with: the implementation, its user, the raw peers, the clock.

`Ctx` gives a case three kinds of verbs: the user's (`act`), the wire's (`peer.send`,
`peer.expect`) and the user's screen (`see`, `shown`).  A screen check the profile cannot make
is recorded in `unobserved` and reported "not observable" (never counted as a pass).  The
common openings of a chat (`chat_as_invitee`, `chat_as_inviter`) live here so every case that
needs a chat opens it the same way and a handshake deviation is reported by the handshake cases.

Tolerances come from the implementation's own retransmission timeout `T` (its profile says
it): an answer is due within `prompt` (T/2 + 2 s, a reaction, not a retransmission), a notice
on the user's screen within T + 2 s, a retransmission between 0.5 T and 2 T + 1 s after the
original.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from sim.conform.peer import Deviation, Got, NotApplicable, RawPeer, kind
from sim.profiles import Implementation, NotSupported, Profile, UserDriver, UserEvent
from sim.trace import Trace
from simp import wire

USER = "tester"  # the implementation's user
PEER = "conform"  # the raw peer's user
STRANGER = "stranger"


@dataclass
class Ctx:
    profile: Profile
    impl: Implementation
    user: UserDriver
    trace: Trace
    peer: RawPeer
    stranger: RawPeer
    unobserved: list[str] = field(default_factory=list)
    screen: list[UserEvent] = field(default_factory=list)
    _seen: int = 0

    @property
    def T(self) -> float:
        return self.profile.timeout

    @property
    def prompt(self) -> float:
        """How long a reaction (an ACK, a SYN+ACK after accept) may take: generous, since a loaded
        machine delays processes, and it only costs time when the reaction never comes."""
        return self.T / 2 + 2.0

    @property
    def screen_wait(self) -> float:
        """How long a notice may take to reach the user's screen (through a client program)."""
        return self.T + 2.0

    @property
    def peer_ip(self) -> str:
        return self.peer.local[0]

    def note(self, text: str) -> None:
        self.trace.annotate(self.peer.now(), self.profile.name, text)

    # -- the user ------------------------------------------------------------------------------

    async def act(self, verb: str, *args: object) -> None:
        """The implementation's user takes a step; NotApplicable when the profile cannot."""
        if not self.profile.can(verb):
            raise NotApplicable(f"the profile gives no way for its user to {verb}")
        self.note(f"user: {verb} {' '.join(map(str, args))}".rstrip())
        try:
            await getattr(self.user, verb)(*args)
        except NotSupported as exc:
            raise NotApplicable(str(exc)) from None

    async def _pump(self, timeout: float) -> bool:
        try:
            event = await self.user.next_event(timeout)
        except (TimeoutError, ConnectionError):
            return False
        except Exception as exc:  # the client library's "daemon lost" and the like
            raise Deviation(f"the user's side failed: {exc}") from None
        self.screen.append(event)
        self.note(f"shown: {event.kind} {dict(event.fields) or ''}".rstrip())
        return True

    async def see(self, what: str, within: float | None = None, **fields: str) -> UserEvent | None:
        """Wait until the user is shown `what` (with these fields); None when not observable."""
        if not self.profile.observes(what):
            self.unobserved.append(f"user shown {what}" + (f" {fields}" if fields else ""))
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.screen_wait if within is None else within)
        while True:
            for i in range(self._seen, len(self.screen)):
                e = self.screen[i]
                if e.kind == what and all(e.fields.get(k) == v for k, v in fields.items()):
                    self._seen = i + 1
                    return e
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._pump(remaining):
                shown = [f"{e.kind} {dict(e.fields)}" for e in self.screen[self._seen:]]
                detail = f"; shown instead: {', '.join(shown)}" if shown else ""
                raise Deviation(f"the user was not shown {what} {fields or ''}".rstrip()
                                + f" within {(self.screen_wait if within is None else within):.1f}s{detail}")

    async def shown(self, what: str, during: float, **fields: str) -> int | None:
        """How often the user was shown `what` (all of the screen, after waiting `during`)."""
        if not self.profile.observes(what):
            self.unobserved.append(f"how often the user is shown {what}")
            return None
        loop = asyncio.get_running_loop()

        def count() -> int:
            return sum(1 for e in self.screen
                       if e.kind == what and all(e.fields.get(k) == v for k, v in fields.items()))

        deadline = loop.time() + during
        while (remaining := deadline - loop.time()) > 0:
            if not await self._pump(remaining):
                break
        # "never shown" needs a longer look than "not shown twice": a loaded machine may be slow
        deadline = loop.time() + self.T + 2.0
        while count() == 0 and (remaining := deadline - loop.time()) > 0:
            if not await self._pump(remaining):
                break
        return count()

    # -- common openings -------------------------------------------------------------------------

    async def invited_and_accepted(self) -> Got:
        """The peer invites (SYN), the user sees it and accepts; returns the SYN+ACK."""
        if self.profile.can("wait"):
            await self.act("wait")
        self.peer.control(wire.Op.SYN)
        await self.see("invitation")
        await self.act("accept")
        return await self.peer.expect(kind("SYN+ACK"), self.prompt, "SYN+ACK after the user accepted")

    async def chat_as_invitee(self) -> None:
        """The peer invites, the user accepts, the handshake completes."""
        await self.invited_and_accepted()
        self.peer.control(wire.Op.ACK, 0)
        await self.see("chat_started")

    async def chat_as_inviter(self) -> Got:
        """The user invites the peer, the peer accepts; returns the SYN."""
        await self.act("start", self.peer_ip, self.peer.local[1])
        syn = await self.peer.expect(kind("SYN"), self.prompt, "a SYN after the user invited")
        self.peer.control(wire.Op.SYN_ACK, 0)
        await self.peer.expect(kind("ACK"), self.prompt, "the handshake's ACK after SYN+ACK")
        await self.started_as_inviter()
        return syn

    async def started_as_inviter(self) -> None:
        """The inviting user is shown the chat started once the handshake is done.  Some daemons
        take the invitee's first chat datagram, not the handshake, for its user's acceptance: when
        nothing is shown, the peer says something, and a chat started then names that."""
        try:
            await self.see("chat_started")
        except Deviation as missing:
            self.peer.chat(0, "hello")
            try:
                await self.see("chat_started")
            except Deviation:
                raise missing from None
            raise Deviation("its user is shown the chat started only when the peer's first chat datagram "
                            "arrives, not when the handshake completes (SYN+ACK, then its ACK): it takes a "
                            "chat datagram for the acceptance, which a SPEC invitee does not send") from None

    async def message_from_user(self, text: str) -> Got:
        await self.act("say", text)
        return await self.peer.expect(kind("CHAT"), self.prompt, f'a chat datagram carrying "{text}"')

    async def retransmission_of(self, first: Got, what: str) -> Got:
        """Wait for a byte-identical copy of `first`; check it came about one timeout later."""
        again = await self.peer.expect(lambda g: g.data == first.data, 2 * self.T + 1.0,
                                       f"{what} re-sent after one timeout ({self.T:g}s)")
        gap = again.t - first.t
        if gap < 0.5 * self.T:
            raise Deviation(f"{what} re-sent after {gap:.2f}s, before half the timeout ({self.T:g}s)")
        return again


def new_peers(trace: Trace, impl: Implementation, peer_ip: str, stranger_ip: str,
              origin: float) -> tuple[RawPeer, RawPeer]:
    numbers = itertools.count(1)
    name = impl.profile.name
    peer = RawPeer(trace, "peer", (peer_ip, 7777), name, impl.address, origin=origin, numbers=numbers,
                   user=PEER)
    stranger = RawPeer(trace, "stranger", (stranger_ip, 7777), name, impl.address, origin=origin,
                       numbers=numbers, user=STRANGER)
    return peer, stranger
