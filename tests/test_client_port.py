"""The client port (UDP 7778) as an attacker, a stalled client and a huge message see it (issue 9.6-9.9).

Real daemons on their own loopback block under the virtual clock; raw sockets play strangers
and misbehaving clients.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket

import pytest

from sim.clock import run_virtual
from sim.loopback import new_block
from simp import control as ctl
from simp import daemon_cli, wire
from simp import events as ev
from simp.client import Client, ClientConfig, ClientError
from simp.daemon import Daemon, DaemonConfig
from simp.node import NodeConfig
from tests.test_fuzz import Chat, drain, in_chat, udp_socket

POLL = 0.05


async def replies(sock: socket.socket, within: float) -> list[ctl.ControlMessage]:
    """Every datagram that reaches `sock` within `within` seconds (virtual time), decoded."""
    loop = asyncio.get_running_loop()
    got: list[ctl.ControlMessage] = []
    deadline = loop.time() + within
    while loop.time() < deadline:
        await asyncio.sleep(POLL)
        got += [ctl.decode(d) for d in drain(sock)]
    return got


def in_daemon(test, **config: object) -> None:  # type: ignore[no-untyped-def]
    """Run `test(daemon, prefix)` against one daemon on a fresh block, under the virtual clock."""
    prefix = new_block()

    async def main() -> None:
        daemon = Daemon(DaemonConfig(host=prefix + "1", **config))  # type: ignore[arg-type]
        await daemon.start()
        try:
            await test(daemon, prefix)
        finally:
            daemon.close(graceful=False)
            await daemon.wait_closed()

    run_virtual(main(), wall_limit=60.0)


# -- 6: a local port -------------------------------------------------------------------------


def test_datagrams_from_other_hosts_are_counted_and_never_answered() -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        sent: list[tuple[bytes, object]] = []
        daemon._send_client = lambda data, addr: sent.append((data, addr))  # type: ignore[method-assign]
        for request in (ctl.Connect(ident=1, user="mallory"), ctl.Status(ident=2), b"garbage"):
            data = request if isinstance(request, bytes) else ctl.encode(request)
            daemon._on_client_datagram(data, ("192.0.2.7", 40000))
        assert sent == []
        assert daemon.counters()["foreign_control"] == 3
        assert daemon.client is None and daemon.node.user is None

    in_daemon(test)


def test_a_stranger_learns_no_name_address_or_counter() -> None:
    async def test(chat: Chat) -> None:
        stranger = udp_socket(chat.prefix + "9")
        try:
            for request in (ctl.Connect(ident=1, user="m"), ctl.Status(ident=2), ctl.Say(ident=3, text="x")):
                stranger.sendto(ctl.encode(request), (chat.prefix + "1", 7778))
            answers = await replies(stranger, 0.5)
        finally:
            stranger.close()
        texts = sorted(a.text for a in answers if isinstance(a, ctl.Reply))
        assert texts == ["daemon busy: another client is connected", "not connected: send Connect first",
                         "state=established"]
        # the connected client is told everything
        status = await chat.a.status()
        assert {"state", "malformed_control", "foreign_control", "retransmissions"} <= set(status)

    in_chat(test)


def test_answers_to_strangers_are_rate_limited() -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        stranger = udp_socket(prefix + "9")
        try:
            for ident in range(500):  # one burst, far more than the limit
                stranger.sendto(ctl.encode(ctl.Status(ident=ident)), (prefix + "1", 7778))
            answers = await replies(stranger, 0.5)
        finally:
            stranger.close()
        limit = daemon.config.stranger_answers_per_s
        assert 1 <= len(answers) <= limit + math.ceil(limit * 0.5 + 1), len(answers)

    in_daemon(test)


def test_garbage_is_counted_and_logged_at_debug_at_most_once_a_second(
        caplog: pytest.LogCaptureFixture) -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        sock = udp_socket(prefix + "9")
        try:
            for _ in range(200):
                sock.sendto(b"\xffjunk", (prefix + "1", 7778))
            await replies(sock, 0.5)
        finally:
            sock.close()
        assert daemon.counters()["malformed_control"] == 200

    with caplog.at_level(logging.DEBUG, logger="simp.daemon"):
        in_daemon(test)
    lines = [r for r in caplog.records if "client port" in r.getMessage()]
    assert 1 <= len(lines) <= 2 and all(r.levelno == logging.DEBUG for r in lines)


# -- 7: no amplification, no stall ------------------------------------------------------------


def test_the_largest_message_from_the_longest_user_name_fits_one_event() -> None:
    text = "x" * wire.MAX_PAYLOAD
    event = ev.MessageReceived(user="u" * wire.USER_SIZE, text=text)
    data = ctl.encode(ctl.EventPacket(ident=1, event=event))
    assert len(data) <= wire.MAX_DATAGRAM
    assert ctl.decode(data) == ctl.EventPacket(ident=1, event=ev.MessageReceived(user="", text=text))


def test_the_largest_message_arrives_named_from_the_handshake() -> None:
    prefix = new_block()
    long_name = "n" * wire.USER_SIZE
    text = "y" * wire.MAX_PAYLOAD

    async def main() -> None:
        plain = NodeConfig(extension=False)  # plain SIMP: the largest payload of all (no extension tag)
        daemons = [Daemon(DaemonConfig(host=prefix + h, node=plain)) for h in "12"]
        for d in daemons:
            await d.start()
        a, b = Client(prefix + "1"), Client(prefix + "2")
        try:
            await a.connect(long_name)
            await b.connect("bob")
            await a.start(prefix + "2")
            assert isinstance(await b.next_event(timeout=10), ev.Invitation)
            await b.accept()
            assert await a.next_event(timeout=10) == ev.ChatStarted(peer=(prefix + "2", 7777), user="bob")
            await b.next_event(timeout=10)
            await a.say(text)
            assert await b.next_event(timeout=10) == ev.MessageReceived(user=long_name, text=text)
        finally:
            for c in (a, b):
                c.abandon()
            for d in daemons:
                d.close(graceful=False)
                await d.wait_closed()

    run_virtual(main(), wall_limit=60.0)


def test_an_event_that_cannot_be_encoded_takes_no_number_and_blocks_nothing() -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        client = Client(prefix + "1")
        await client.connect("alice")
        try:
            now = asyncio.get_running_loop().time()
            assert not daemon._send_event(ev.PeerError(peer=("1.2.3.4", 7777), text="caf\u00e9"), now)
            assert daemon._send_event(ev.PeerError(peer=("1.2.3.4", 7777), text="fine"), now)
            assert await client.next_event(timeout=5) == ev.PeerError(peer=("1.2.3.4", 7777), text="fine")
            assert daemon.counters()["events_unsendable"] == 1
        finally:
            client.abandon()

    in_daemon(test)


def raw_client(prefix: str) -> socket.socket:
    """Connected as `eve`; it never acknowledges an event (but keeps sending heartbeats)."""
    sock = udp_socket(prefix + "9")
    sock.sendto(ctl.encode(ctl.Connect(ident=1, user="eve")), (prefix + "1", 7778))
    return sock


def test_an_event_never_acknowledged_is_resent_for_the_client_timeout_then_the_client_is_dropped() -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        sock = raw_client(prefix)
        try:
            await replies(sock, 0.2)
            assert daemon.client is not None
            now = asyncio.get_running_loop().time()
            daemon._send_event(ev.PeerError(peer=("1.2.3.4", 7777), text="ack me"), now)
            copies = 0
            for _ in range(int(2 * daemon.config.client_timeout / 0.5)):  # alive: heartbeats, no acks
                sock.sendto(ctl.encode(ctl.Heartbeat(ident=100 + copies)), (prefix + "1", 7778))
                copies += sum(isinstance(m, ctl.EventPacket) for m in await replies(sock, 0.5))
            assert daemon.client is None
            assert copies <= math.ceil(daemon.config.client_timeout / daemon.config.event_interval)
        finally:
            sock.close()

    in_daemon(test)


def test_pending_events_are_capped() -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        sock = raw_client(prefix)
        try:
            await replies(sock, 0.2)
            now = asyncio.get_running_loop().time()
            sent = [daemon._send_event(ev.MessageDelivered(msg_id=n), now) for n in range(10)]
            assert sent == [True] * 4 + [False] * 6
            assert daemon.client is None
        finally:
            sock.close()

    in_daemon(test, max_pending_events=4)


def test_the_client_never_waits_forever_for_a_missing_event_number() -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        client = Client(prefix + "1", config=ClientConfig(event_gap_timeout=2.0))
        await client.connect("alice")
        try:
            daemon._event_number += 1  # event 1 "lost for good": event 2 arrives, 1 never does
            loop = asyncio.get_running_loop()
            daemon._send_event(ev.PeerError(peer=("1.2.3.4", 7777), text="second"), loop.time())
            started = loop.time()
            with pytest.raises(ClientError, match="event 1 from the daemon never arrived"):
                await client.next_event(timeout=30)
            assert loop.time() - started <= 2.5
        finally:
            client.abandon()

    in_daemon(test)


# -- 9: bounds on the command line ------------------------------------------------------------


@pytest.mark.parametrize("option", ["--timeout", "--client-timeout", "--invite-expiry"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "0.0009", "1e-9", "x", "86401", "1e308"])
def test_durations_reject_nan_inf_zero_below_a_millisecond_and_above_a_day(option: str, value: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        daemon_cli.main(["127.0.0.1", f"{option}={value}"])
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_a_millisecond_is_accepted() -> None:
    args = daemon_cli.build_parser().parse_args(["127.0.0.1", "--timeout", "0.001",
                                                 "--invite-expiry", "0.001"])
    assert args.timeout == args.invite_expiry == 0.001


def test_a_client_the_daemon_dropped_is_told_so_at_its_next_heartbeat() -> None:
    async def test(daemon: Daemon, prefix: str) -> None:
        client = Client(prefix + "1")
        await client.connect("alice")
        try:
            daemon._drop_client(asyncio.get_running_loop().time(), "dropped by the test")
            with pytest.raises(ClientError, match="the daemon no longer counts this client as connected"):
                await client.next_event(timeout=5)
        finally:
            client.abandon()

    in_daemon(test)


def test_the_daemon_log_escapes_what_a_peer_sent() -> None:
    """A DEBUG line quotes the peer's user name and text: a line break or an escape sequence in
    them must not start a forged log line or reach the terminal raw."""
    record = logging.LogRecord("simp.daemon", logging.DEBUG, __file__, 1, "%s@%s -> %s", None, None)
    record.args = ("bob\n2026-01-01 simp.daemon INFO client x connected", "127.0.0.2:7777", 'CHAT "\x1b[2J"')
    line = daemon_cli.OneLineFormatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in line and "\x1b" not in line
    assert line == ('DEBUG bob\\n2026-01-01 simp.daemon INFO client x connected@127.0.0.2:7777 -> '
                    'CHAT "\\x1b[2J"')
