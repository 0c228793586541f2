"""asyncio client library for a SIMP daemon's client port (UDP 7778).

Used by the terminal client (simp/tui.py), the harness and the tests alike:

    client = Client("127.0.0.1")
    await client.connect("alice")           # ClientError with a clear text on any failure
    await client.start("127.0.0.2")
    event = await client.next_event(timeout=10)
    msg_id = await client.say("hello")
    await client.quit()
    await client.close()

Every request is re-sent until the daemon answers (`request_interval`) and fails with
ClientError after `request_timeout` seconds; a daemon that is not running at all is usually
reported at once (ICMP port unreachable on loopback).  Events arrive numbered, are acknowledged,
and are handed out exactly once and in order; a ChatEnded carries the Undelivered messages that
preceded it on the wire.  A MessageReceived names the user of the chat's handshake (the 7778
wire does not carry it).  While connected, a heartbeat goes out every `heartbeat_interval`
seconds; if the daemon stops answering, or an event number stays missing for
`event_gap_timeout` seconds (the daemon re-sends an event for at most its client timeout, then
drops the client), `next_event` raises ClientError: the client never waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass, replace

from simp import control as ctl
from simp import events as ev
from simp import wire
from simp.channel import InOrder


class ClientError(Exception):
    """Something the user must be told: the text is a complete sentence."""


class Refused(ClientError):
    """The daemon answered, and said no (the text is its answer)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    request_interval: float = 0.25
    request_timeout: float = 2.0
    heartbeat_interval: float = 1.0
    event_gap_timeout: float = 5.0  # longer than the daemon's default client timeout (3 s)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: Client) -> None:
        self._client = client

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._client._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        self._client._on_socket_error(exc)


class Client:
    def __init__(self, host: str, port: int = 7778, config: ClientConfig | None = None) -> None:
        self.daemon = (host, port)
        self.config = config or ClientConfig()
        self.user: str | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[ctl.Reply]] = {}
        self._inbox: InOrder[ev.Event | ev.Undelivered] = InOrder()
        self._undelivered: list[ev.Undelivered] = []
        # handed out by next_event(); a deque and plain futures rather than an asyncio.Queue and
        # wait_for(), which costs a task per call (this is the per-message path of every chat)
        self._events: deque[ev.Event | ClientError] = deque()
        self._event_waiters: list[asyncio.Future[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._peer_user = ""  # from the current chat's Invitation / ChatStarted
        self._handed = 0  # events handed over in order (the last event number used)
        self._highest = 0  # the highest event number received
        self._gap_timer: asyncio.TimerHandle | None = None  # armed while a later event waits
        self.malformed = 0  # garbage datagrams received on our socket

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect(self, user: str) -> None:
        reason = wire.valid_user_name(user)
        if reason:
            raise ClientError(f"invalid user name {user!r}: {reason}")
        await self.open()
        self._inbox.reset()
        self._handed = self._highest = 0
        await self._request(ctl.Connect, user=user)
        self.user = user
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def open(self) -> None:
        """Open the socket to the daemon without connecting as a user (enough for `status()`)."""
        if self._transport is None:
            loop = asyncio.get_running_loop()
            try:
                self._transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Protocol(self), remote_addr=self.daemon)
            except OSError as exc:
                raise ClientError(f"cannot reach daemon at {self._where}: {exc.strerror or exc}") from None

    async def close(self) -> None:
        """Disconnect politely (best effort) and release the socket."""
        if self.user is not None and self._transport is not None:
            with contextlib.suppress(ClientError):
                await self._request(ctl.Disconnect)
        self.abandon()

    def abandon(self) -> None:
        """Vanish without a word, as a killed client would (the daemon notices by silence)."""
        self.user = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ClientError("client closed"))
        self._waiting.clear()

    # -- requests ----------------------------------------------------------------------------

    async def start(self, host: str, port: int = 7777) -> None:
        await self._request(ctl.Start, host=host, port=port)

    async def wait(self) -> None:
        await self._request(ctl.Wait)

    async def accept(self) -> None:
        await self._request(ctl.Accept)

    async def decline(self) -> None:
        await self._request(ctl.Decline)

    async def say(self, text: str) -> int:
        """Queue `text` for the peer; returns its message id (see MessageDelivered/Undelivered)."""
        if not text.isascii():
            raise ClientError("only ASCII text can be sent in SIMP")
        if len(text) > wire.MAX_PAYLOAD:
            raise ClientError(f"message too long: {len(text)} characters, the limit is {wire.MAX_PAYLOAD}")
        reply = await self._request(ctl.Say, text=text)
        return reply.ident

    async def quit(self) -> None:
        await self._request(ctl.Quit)

    async def status(self) -> dict[str, str]:
        """The daemon's state and counters (`state`, `malformed`, `retransmissions`, ...).

        The counters go to the connected client only; anyone else (a probe that only opened the
        socket) is told `state` alone, enough to see that a daemon runs and whether it is free.
        """
        reply = await self._request(ctl.Status)
        return dict(item.partition("=")[::2] for item in reply.text.split())

    async def next_event(self, timeout: float | None = None) -> ev.Event:
        """The next event from the daemon; TimeoutError after `timeout`, ClientError if it is gone."""
        if not self._events:
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while not self._events:
                waiter: asyncio.Future[None] = loop.create_future()
                timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
                self._event_waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if timer is not None:
                        timer.cancel()
                    with contextlib.suppress(ValueError):
                        self._event_waiters.remove(waiter)
        item = self._events[0]
        if isinstance(item, ClientError):
            raise item  # stays failed for every later call
        return self._events.popleft()  # type: ignore[return-value]

    def pending_events(self) -> int:
        return len(self._events)

    # -- internals ---------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"{self.daemon[0]}:{self.daemon[1]}"

    async def _request(self, kind: type[ctl.Request], **fields: object) -> ctl.Reply:
        if self._transport is None:
            raise ClientError("not connected to a daemon")
        ident = next(self._ids)
        data = ctl.encode(kind(ident=ident, **fields))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ctl.Reply] = loop.create_future()
        self._waiting[ident] = future
        deadline = loop.time() + self.config.request_timeout
        interval = self.config.request_interval
        timer: asyncio.TimerHandle | None = None

        def resend() -> None:  # every request_interval until answered, at most request_timeout
            nonlocal timer
            if future.done():
                return
            if loop.time() >= deadline:
                future.set_exception(ClientError(f"daemon at {self._where} is not answering"))
                return
            self._send(data)
            timer = loop.call_at(min(loop.time() + interval, deadline), resend)

        self._send(data)
        timer = loop.call_at(min(loop.time() + interval, deadline), resend)
        try:
            reply = await future
        finally:
            timer.cancel()
            self._waiting.pop(ident, None)
        if not reply.ok:
            raise Refused(reply.text)
        return reply

    def _send(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.sendto(data)

    def _on_datagram(self, data: bytes) -> None:
        try:
            msg = ctl.decode(data)
        except ctl.MalformedControl:
            self.malformed += 1
            return
        if isinstance(msg, ctl.Reply):
            future = self._waiting.get(msg.ident)
            if future is not None and not future.done():
                future.set_result(msg)
        elif isinstance(msg, ctl.EventPacket):
            self._send(ctl.encode(ctl.EventAck(ident=msg.ident)))
            for event in self._inbox.push(msg.ident, msg.event):
                self._handed += 1
                self._deliver(event)
            self._watch_gap(msg.ident)
        else:
            self.malformed += 1

    def _watch_gap(self, number: int) -> None:
        """Arm a timer while a later event waits for a missing one; disarm once the gap closes."""
        self._highest = max(self._highest, number)
        if self._highest <= self._handed:
            if self._gap_timer is not None:
                self._gap_timer.cancel()
                self._gap_timer = None
        elif self._gap_timer is None and self.user is not None:
            self._gap_timer = asyncio.get_running_loop().call_later(
                self.config.event_gap_timeout, self._gap_expired, self._handed + 1)

    def _gap_expired(self, missing: int) -> None:
        self._gap_timer = None
        if self._handed < missing:
            self._push(ClientError(f"event {missing} from the daemon never arrived "
                                   f"(waited {self.config.event_gap_timeout:g} s): what happened since "
                                   "is unknown"))
        else:  # that gap closed; another may be open
            self._watch_gap(self._highest)

    def _deliver(self, event: ev.Event | ev.Undelivered) -> None:
        if isinstance(event, ev.Invitation | ev.ChatStarted):
            self._peer_user = event.user
        elif isinstance(event, ev.MessageReceived) and not event.user:
            event = replace(event, user=self._peer_user)
        if isinstance(event, ev.Undelivered):
            self._undelivered.append(event)
            return
        if isinstance(event, ev.ChatEnded):
            event = replace(event, undelivered=tuple(self._undelivered))
            self._undelivered = []
        self._push(event)

    def _push(self, item: ev.Event | ClientError) -> None:
        self._events.append(item)
        for waiter in self._event_waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _on_socket_error(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError):
            error = ClientError(f"no daemon is running at {self._where}")
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(error)

    async def _beat(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.config.heartbeat_interval)
                await self._request(ctl.Heartbeat)
        except Refused as exc:  # it dropped us (silent or not acknowledging too long) or restarted
            if self.user is not None:
                self._push(ClientError(f"the daemon no longer counts this client as connected ({exc})"))
        except ClientError as exc:
            if self.user is not None:
                self._push(ClientError(f"lost the daemon: {exc}"))


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
