"""The SIMP daemon: asyncio endpoints on UDP 7777 (peers) and 7778 (the local client).

All protocol decisions are made by the sans-IO `Node`; this module only moves bytes, reads
`loop.time()` (so the harness's virtual clock drives it unchanged) and keeps one timer armed at
the earliest deadline of the node, the client channel and the client's heartbeat.

The client port serves one client: the first address that sends Connect.  It is considered gone
after `client_timeout` seconds without a datagram from it (the client sends a heartbeat every
second); its chat is then ended cleanly with FIN.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from simp import control as ctl
from simp import events as ev
from simp import wire
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
        self._events_out = Retransmitter(config.event_interval)
        self._event_number = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.stats_control: dict[str, int] = {"malformed_control": 0}
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
        """What a Status request answers: the counters plus `state` (free, invited, ...)."""
        current = self.node.current
        return {"state": current.state.value if current else "free", **self.counters()}

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
            log.debug("%s@%s:%d -> %s  %s", dg.user or "?", source[0], source[1], self._me, dg.describe())
        self._flush()

    # -- client (7778) -----------------------------------------------------------------------

    def _on_client_datagram(self, data: bytes, source: ev.Address) -> None:
        now = self._loop.time()
        try:
            msg = ctl.decode(data)
        except ctl.MalformedControl as exc:
            self.stats_control["malformed_control"] += 1
            log.info("malformed client datagram from %s:%d: %s", source[0], source[1], exc.reason)
            return
        if not isinstance(msg, ctl.Request):
            self.stats_control["malformed_control"] += 1
            log.info("client sent a daemon-only message %s from %s:%d", type(msg).__name__, *source)
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
        self._flush()

    def _handle_request(self, msg: ctl.Request, source: ev.Address, now: float) -> tuple[bool, str]:
        if isinstance(msg, ctl.Connect):
            return self._connect(msg, source, now)
        if isinstance(msg, ctl.Status):
            return True, " ".join(f"{k}={v}" for k, v in sorted(self.status().items()))
        if source != self._client:
            return False, "not connected: send Connect first"
        try:
            return True, self._run_command(msg, now)
        except CommandError as exc:
            return False, str(exc)

    def _connect(self, msg: ctl.Connect, source: ev.Address, now: float) -> tuple[bool, str]:
        if self._client is not None and source != self._client:
            return False, (f"daemon busy: user {self.node.user} is connected from "
                           f"{self._client[0]}:{self._client[1]}")
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

    def _send_event(self, event: ev.Event | ev.Undelivered, now: float) -> None:
        if self._client is None:
            log.debug("no client for event %s", event)
            return
        self._event_number += 1
        data = ctl.encode(ctl.EventPacket(ident=self._event_number, event=event))
        self._send_client(self._events_out.add(self._event_number, data, now), self._client)

    # -- output and timers -------------------------------------------------------------------

    def _flush(self) -> None:
        """Send what the node produced, forward its events, and re-arm the one timer."""
        now = self._loop.time()
        transport = self._peers.transport
        for peer, dg in self.node.datagrams_to_send():
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s -> %s:%d  %s", self._me, peer[0], peer[1], dg.describe())
            if transport is not None and not transport.is_closing():
                transport.sendto(wire.encode(dg), peer)
        for note in self.node.notes():
            log.debug("%s", note)
        for event in self.node.events():
            if isinstance(event, ev.ChatEnded):
                for item in event.undelivered:
                    self._send_event(item, now)
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
        resend, _ = self._events_out.handle_timer(now)
        for data in resend:
            if self._client is not None:
                self._send_client(data, self._client)
        self._flush()
