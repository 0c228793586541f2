"""The SIMP daemon: asyncio endpoints on UDP 7777 (peers) and 7778 (the local client).

All protocol decisions are made by the sans-IO `Node`; this module only moves bytes, reads
`loop.time()` (so the harness's virtual clock drives it unchanged) and keeps one timer armed at
the earliest deadline of the node, the client channel and the client's heartbeat.

The client port serves one client: the first address that sends Connect.  It is considered gone
after `client_timeout` seconds without a datagram from it (the client sends a heartbeat every
second), or when it leaves an event unacknowledged that long; its chat is then ended cleanly
with FIN.

The client port is a local port (why: it controls the user's chats and carries their text):
- only this host's own addresses are served (loopback, or the address the daemon is bound to);
  a datagram from anywhere else is counted (`foreign_control`) and ignored, never answered;
- anyone who is not the connected client gets short answers that name nobody (no user name,
  no address, no counters: Status says only `state=...`), at most `stranger_answers_per_s` a
  second in all, so the port cannot be used to flood a third party or learn who chats;
- garbage is counted (`malformed_control`) and logged at DEBUG, at most one line a second;
- every event is encoded before it takes an event number (one that cannot be encoded is logged
  and skipped, so it can never leave a gap that blocks the events after it); at most
  `max_pending_events` wait for their acknowledgement at any time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from simp import control as ctl
from simp import events as ev
from simp import extension, wire
from simp.channel import ReplyCache, Retransmitter
from simp.node import Node, NodeConfig
from simp.session import CommandError

log = logging.getLogger("simp.daemon")


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    host: str
    port: int = 7777
    client_port: int = 7778
    node: NodeConfig = field(default_factory=NodeConfig)
    client_timeout: float = 3.0  # silence after which the client is considered gone
    event_interval: float = 0.25  # re-send unacknowledged events to the client this often
    max_pending_events: int = 512  # unacknowledged events beyond this: the client is not keeping up
    stranger_answers_per_s: float = 20.0  # answers to anyone but the connected client, in all


class _RateLimit:
    """A token bucket: at most `rate` a second on average, bursts of `rate`."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class _Endpoint(asyncio.DatagramProtocol):
    """Hands every datagram (or socket error) to a callback; nothing else."""

    def __init__(self, on_datagram: Callable[[bytes, ev.Address], None]) -> None:
        self._on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None
        self.lost = asyncio.Event()  # set once the socket is really closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("socket error (ignored): %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


class Daemon:
    """One SIMP daemon.  `await start()`, then it runs on the event loop until `close()`."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        own = frozenset({(config.host, config.port), (config.host, config.client_port)})
        self.node = Node(replace(config.node, own_addresses=config.node.own_addresses | own))
        self._loop = asyncio.get_running_loop()
        self._peers = _Endpoint(self._on_peer_datagram)
        self._clients = _Endpoint(self._on_client_datagram)
        self._client: ev.Address | None = None
        self._client_seen = 0.0
        self._replies = ReplyCache()
        # an event is sent at most this many times: unacknowledged for a client timeout, it is gone
        attempts = max(1, math.ceil(config.client_timeout / config.event_interval))
        self._events_out = Retransmitter(config.event_interval, attempts=attempts)
        self._event_number = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stranger_answers = _RateLimit(config.stranger_answers_per_s)
        self._garbage_log = _RateLimit(1.0)
        self.stats_control: dict[str, int] = {"malformed_control": 0, "foreign_control": 0,
                                              "events_unsendable": 0}
        self.closed = asyncio.Event()

    async def start(self) -> None:
        """Bind both ports; raises OSError (with errno) when an address is unusable."""
        cfg = self.config
        await self._loop.create_datagram_endpoint(lambda: self._peers, local_addr=(cfg.host, cfg.port))
        try:
            await self._loop.create_datagram_endpoint(lambda: self._clients,
                                                      local_addr=(cfg.host, cfg.client_port))
        except OSError:
            self._peers.transport.close()  # type: ignore[union-attr]
            raise
        log.info("listening on %s:%d (peers) and %s:%d (client)", cfg.host, cfg.port, cfg.host,
                 cfg.client_port)
        for address, name in cfg.node.peer_dialects:
            log.info("peer %s speaks %s (set by configuration): chats with it use that dialect, "
                     "nothing is learned from it", address, name)

    def close(self, *, graceful: bool = True) -> None:
        """End any chat with one FIN (best effort), tell the client, release the ports.

        `graceful=False` releases the ports without a word, as a killed process would (the
        harness uses it to crash a daemon in a scenario).
        """
        if self.closed.is_set():
            return
        if graceful:
            self.node.shutdown(self._loop.time())
            self._flush()
        if self._timer is not None:
            self._timer.cancel()
        for endpoint in (self._peers, self._clients):
            if endpoint.transport is not None:
                endpoint.transport.close()
        self.closed.set()
        log.info("stopped")

    async def wait_closed(self) -> None:
        """After close(): returns once both ports are released (a new daemon may bind them)."""
        for endpoint in (self._peers, self._clients):
            if endpoint.transport is not None:
                await endpoint.lost.wait()

    def counters(self) -> dict[str, int]:
        return self.node.counters() | self.stats_control

    def status(self) -> dict[str, str | int]:
        """What a Status request from the connected client answers: `state`, `quiet` (1 when the
        protocol has no timer left: nothing will happen unless a datagram or a command comes; the
        harness's process mode waits for it), `mode` (how the current chat runs: extended, plain,
        negotiating, none; `extension` says whether this daemon offers SIMPX/1 at all), `dialect` (what
        simp.dialect learned of the current chat's peer: spec, ack-next...; none) and the counters."""
        return {"state": self.state, "quiet": int(self.node.get_timer() is None), "mode": self.node.chat_mode,
                "extension": "on" if self.node.config.extension else "off", "dialect": self.node.dialect,
                **self.counters()}

    @property
    def state(self) -> str:
        """free, invited, established...: all a Status request from anyone else is told."""
        current = self.node.current
        return current.state.value if current else "free"

    @property
    def _me(self) -> str:
        """How this daemon appears in its log: its user, or its address when nobody is connected."""
        return self.node.user or f"{self.config.host}:{self.config.port}"

    @property
    def client(self) -> ev.Address | None:
        return self._client

    # -- peers (7777) ------------------------------------------------------------------------

    def _on_peer_datagram(self, data: bytes, source: ev.Address) -> None:
        dg = self.node.receive(data, source, self._loop.time())
        if dg is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("%s@%s:%d -> %s  %s", dg.user or "?", source[0], source[1], self._me,
                      extension.describe(dg))
        self._flush()

    # -- client (7778) -----------------------------------------------------------------------

    def _is_local(self, host: str) -> bool:
        return host == self.config.host or host.startswith("127.")

    def _garbage(self, counter: str, now: float, what: str, source: ev.Address) -> None:
        self.stats_control[counter] += 1
        if log.isEnabledFor(logging.DEBUG) and self._garbage_log.allow(now):
            log.debug("client port: %s from %s:%d (%d so far)", what, source[0], source[1],
                      self.stats_control[counter])

    def _on_client_datagram(self, data: bytes, source: ev.Address) -> None:
        now = self._loop.time()
        if not self._is_local(source[0]):
            self._garbage("foreign_control", now, "datagram from another host ignored", source)
            return
        try:
            msg = ctl.decode(data)
        except ctl.MalformedControl as exc:
            self._garbage("malformed_control", now, f"malformed datagram: {exc.reason}", source)
            return
        if not isinstance(msg, ctl.Request):
            self._garbage("malformed_control", now, f"daemon-only message {type(msg).__name__}", source)
            return
        if source == self._client:
            self._client_seen = now
        if isinstance(msg, ctl.EventAck):
            if source == self._client:
                self._events_out.answered(msg.ident)  # deadlines only move later: no re-arming
            return
        cached = self._replies.get(msg.ident) if source == self._client else None
        if cached is not None:
            self._send_client(cached, source)
            return
        ok, text = self._handle_request(msg, source, now)
        reply = ctl.encode(ctl.Reply(ident=msg.ident, ok=ok, text=text))
        if source == self._client:
            self._replies.put(msg.ident, reply)
            self._send_client(reply, source)
        elif self._stranger_answers.allow(now):
            self._send_client(reply, source)
        self._flush()

    def _handle_request(self, msg: ctl.Request, source: ev.Address, now: float) -> tuple[bool, str]:
        if isinstance(msg, ctl.Connect):
            return self._connect(msg, source, now)
        if isinstance(msg, ctl.Status):
            status = self.status() if source == self._client else {"state": self.state}
            return True, " ".join(f"{k}={v}" for k, v in sorted(status.items()))
        if source != self._client:
            return False, "not connected: send Connect first"
        try:
            return True, self._run_command(msg, now)
        except CommandError as exc:
            return False, str(exc)

    def _connect(self, msg: ctl.Connect, source: ev.Address, now: float) -> tuple[bool, str]:
        if self._client is not None and source != self._client:
            return False, "daemon busy: another client is connected"
        try:
            self.node.connect_client(msg.user)
        except CommandError as exc:
            return False, str(exc)
        self._client, self._client_seen = source, now
        self._event_number = 0
        self._events_out.clear()
        self._replies.clear()
        log.info("client %s connected from %s:%d", msg.user, *source)
        return True, f"connected as {msg.user}"

    def _run_command(self, msg: ctl.Request, now: float) -> str:
        node = self.node
        match msg:
            case ctl.Start(host=host, port=port):
                try:
                    ipaddress.IPv4Address(host)
                except ValueError:
                    raise CommandError(f"not an IPv4 address: {host!r}") from None
                node.start((host, port), now)
                return f"inviting {host}:{port}"
            case ctl.Wait():
                return "waiting for an invitation"
            case ctl.Accept():
                node.accept(now)
                return "accepted"
            case ctl.Decline():
                node.decline(now)
                return "declined"
            case ctl.Say(ident=ident, text=text):
                node.say(ident, text, now)
                return "queued"
            case ctl.Quit():
                node.quit(now)
                return "ending"
            case ctl.Disconnect():
                self._drop_client(now, "disconnected")
                return "bye"
            case ctl.Heartbeat():
                return ""
        raise CommandError(f"unsupported request {type(msg).__name__}")

    def _drop_client(self, now: float, why: str) -> None:
        log.info("client %s %s", self.node.user, why)
        self.node.disconnect_client(now)
        self._client = None
        self._events_out.clear()

    def _send_client(self, data: bytes, addr: ev.Address) -> None:
        if self._clients.transport is not None and not self._clients.transport.is_closing():
            self._clients.transport.sendto(data, addr)

    def _send_event(self, event: ev.Event | ev.Undelivered, now: float) -> bool:
        """Number, send and keep `event` for re-sending; False when it cannot be sent at all."""
        if self._client is None:
            log.debug("no client for event %s", type(event).__name__)
            return False
        if len(self._events_out) >= self.config.max_pending_events:
            self._drop_client(now, f"left {len(self._events_out)} events unacknowledged: considered gone")
            return False
        number = self._event_number + 1
        try:  # encoded first: an event that cannot travel never takes a number (no gap)
            data = ctl.encode(ctl.EventPacket(ident=number, event=event))
        except ValueError as exc:
            self.stats_control["events_unsendable"] += 1
            log.warning("event not sent to the client (%s): %s", exc, type(event).__name__)
            return False
        self._event_number = number
        self._send_client(self._events_out.add(number, data, now), self._client)
        return True

    # -- output and timers -------------------------------------------------------------------

    def _flush(self) -> None:
        """Send what the node produced, forward its events, and re-arm the one timer."""
        now = self._loop.time()
        transport = self._peers.transport
        for peer, dg in self.node.datagrams_to_send():
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s -> %s:%d  %s", self._me, peer[0], peer[1], extension.describe(dg))
            try:
                data = wire.encode(dg)
            except ValueError as exc:  # a bug of ours, never a peer's doing: logged, and the rest goes out
                log.error("datagram to %s:%d not sent (%s): %s", peer[0], peer[1], exc, dg.describe())
                continue
            if transport is not None and not transport.is_closing():
                transport.sendto(data, peer)
        for note in self.node.notes():
            log.debug("%s", note)
        for note in self.node.dialect_notes():
            log.info("%s", note)
        for event in self.node.events():
            if isinstance(event, ev.ChatEnded):  # its count says how many Undelivered really went
                sent = tuple(item for item in event.undelivered if self._send_event(item, now))
                event = replace(event, undelivered=sent)
            self._send_event(event, now)
        self._arm_timer()

    def _arm_timer(self) -> None:
        """Keep the one timer armed no later than the earliest deadline.

        A timer armed earlier than needed is left alone: it fires, finds nothing due, and re-arms
        (`_on_timer`).  Why: in a chat the retransmission deadline moves on with every message, and
        cancelling and re-arming an asyncio timer per datagram costs more than one spare wake-up per
        timeout.
        """
        deadlines = [self.node.get_timer(), self._events_out.get_timer()]
        if self._client is not None:
            deadlines.append(self._client_seen + self.config.client_timeout)
        when = min((d for d in deadlines if d is not None), default=None)
        if when is None or (self._timer_at is not None and self._timer_at <= when):
            return
        if self._timer is not None:
            self._timer.cancel()
        if self.closed.is_set():
            self._timer, self._timer_at = None, None
        else:
            self._timer, self._timer_at = self._loop.call_at(when, self._on_timer), when

    def _on_timer(self) -> None:
        now = self._loop.time()
        self._timer, self._timer_at = None, None
        if self._client is not None and now >= self._client_seen + self.config.client_timeout:
            self._drop_client(now, f"silent for {self.config.client_timeout:g} s: considered gone")
        self.node.handle_timer(now)
        resend, given_up = self._events_out.handle_timer(now)
        if given_up and self._client is not None:
            self._drop_client(now, f"left event {given_up[0]} unacknowledged for about "
                                   f"{self.config.client_timeout:g} s: considered gone")
        for data in resend:
            if self._client is not None:
                self._send_client(data, self._client)
        self._flush()
