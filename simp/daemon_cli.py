"""Command line of the daemon: argument checking, logging, signals, exit codes.

Exit status: 0 after SIGINT/SIGTERM (the chat, if any, is ended with FIN first); 2 for bad
arguments or an address that cannot be bound (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import logging
import math
import signal
import sys
import time

from simp.console import program_name
from simp.daemon import Daemon, DaemonConfig
from simp.dialect import CONFIGURABLE
from simp.node import NodeConfig
from simp.session import SessionConfig
from simp.wire import escaped

HEARTBEAT_MARGIN = 1.5  # --client-timeout must cover this many heartbeat intervals
MIN_DURATION = 0.001  # seconds: below a millisecond a timer is only scheduling noise
MAX_DURATION = 86400.0  # seconds: a day; longer is a typo (1e308 overflowed the client re-send count)


class OneLineFormatter(logging.Formatter):
    """Every log entry one line, with nothing a peer sent acting on the terminal: a DEBUG line
    quotes the peer's user name and text, and raw line breaks or escape sequences in them forged
    log lines and moved the cursor.  Control characters are escaped as the client escapes them
    (a traceback, ours, keeps its line breaks)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escaped(super().formatMessage(record))


def _duration(text: str) -> float:
    """Seconds: a finite number from 1 ms to a day (nan, inf, zero, negatives and values no timer
    can mean are mistakes)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < MIN_DURATION:
        raise argparse.ArgumentTypeError(
            f"must be positive: a finite number of seconds, at least {MIN_DURATION:g} (1 ms), got {text}")
    if value > MAX_DURATION:
        raise argparse.ArgumentTypeError(f"too long: at most {MAX_DURATION:g} seconds (a day), got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a UDP port: {text}")
    return value


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None


def _peer_dialect(text: str) -> tuple[str, str]:
    """ADDR=DIALECT: an IPv4 address and a dialect name of simp.dialect CONFIGURABLE."""
    address, sep, name = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(
            f"expected ADDR=DIALECT, e.g. 127.0.0.2={CONFIGURABLE[0]}; got {text!r}")
    if name not in CONFIGURABLE:
        raise argparse.ArgumentTypeError(
            f"unknown dialect {name!r} in {text!r}: one of {', '.join(CONFIGURABLE)}")
    return _ipv4(address), name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name("daemon.py"),
        description="SIMP daemon: talks to other daemons on UDP PORT and serves one local chat client "
        "on UDP CLIENT_PORT, both on IP.",
        epilog="Example: python daemon.py 127.0.0.1   then, in another terminal: python client.py 127.0.0.1")
    parser.add_argument("ip", type=_ipv4, help="IPv4 address of this host to bind, e.g. 127.0.0.1")
    parser.add_argument("--port", type=_port, default=7777, help="daemon-to-daemon port (default 7777)")
    parser.add_argument("--client-port", type=_port, default=7778, help="client port (default 7778)")
    parser.add_argument("--timeout", type=_duration, default=5.0,
                        help="retransmission timeout in seconds (default 5.0)")
    parser.add_argument("--retries", type=int, default=6,
                        help="re-sends of a datagram before giving up on the peer (default 6)")
    parser.add_argument("--invite-expiry", type=_duration, default=60.0,
                        help="seconds an invitation stays open (default 60)")
    parser.add_argument("--client-timeout", type=_duration, default=3.0,
                        help="seconds of client silence after which it counts as gone "
                        f"(default 3, at least {HEARTBEAT_MARGIN:g} heartbeat intervals)")
    parser.add_argument("--client-heartbeat", type=_duration, default=1.0, metavar="SECONDS",
                        help="how often this daemon's clients send a heartbeat (default 1, as client.py "
                        "does); only bounds --client-timeout from below. The harness's process mode, "
                        "whose clients run on a scaled clock, sets it")
    parser.add_argument("--no-extension", action="store_true",
                        help="speak plain SIMP only: never offer or accept the SIMPX/1 extension, which "
                        "closes SIMP's one-bit hole with peers that speak it (docs/EXTENSION.md)")
    parser.add_argument("--peer-dialect", type=_peer_dialect, action="append", default=[],
                        metavar="ADDR=DIALECT",
                        help="the peer daemon at IPv4 address ADDR speaks DIALECT; repeatable. The one "
                        f"dialect: {CONFIGURABLE[0]} (one sequence bit for both directions of a chat, "
                        "starting at 1 after the handshake; refusals as one FIN|ERR datagram). It is not "
                        "learned automatically because nothing such a peer sends tells it apart from a "
                        "SPEC peer's loss, and reading a SPEC peer this way would lose or repeat messages "
                        "(README, Dialects)"),
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="DEBUG logs one line per datagram sent, received or ignored (default INFO)")
    return parser


def config_from(args: argparse.Namespace) -> DaemonConfig:
    if args.retries < 0:
        raise ValueError("--retries must be 0 or more")
    shortest = HEARTBEAT_MARGIN * args.client_heartbeat
    if args.client_timeout < shortest:
        raise ValueError(f"--client-timeout must be at least {shortest:g} s: clients send a heartbeat "
                         f"every {args.client_heartbeat:g} s; a shorter timeout would drop a client that is "
                         "only idle")
    session = SessionConfig(timeout=args.timeout, retries=args.retries, invite_expiry=args.invite_expiry)
    return DaemonConfig(host=args.ip, port=args.port, client_port=args.client_port,
                        node=NodeConfig(session=session, extension=not args.no_extension,
                                        chat_id_epoch=f"{int(time.time() * 1000) & 0xFFFFFFFF:x}",
                                        peer_dialects=_distinct(args.peer_dialect)),
                        client_timeout=args.client_timeout)


def _distinct(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The configured peer dialects, each address once (twice with different dialects: an error)."""
    chosen: dict[str, str] = {}
    for address, name in pairs:
        if chosen.setdefault(address, name) != name:
            raise ValueError(f"--peer-dialect gives {address} two dialects: {chosen[address]} and {name}")
    return tuple(chosen.items())


def _bind_error(exc: OSError, config: DaemonConfig) -> str:
    where = f"{config.host} (ports {config.port} and {config.client_port})"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot bind {where}: a port is already in use (another daemon running?)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot bind {where}: that address is not on this host"
    return f"cannot bind {where}: {exc.strerror or exc}"


async def run(config: DaemonConfig) -> int:
    daemon = Daemon(config)
    try:
        await daemon.start()
    except OSError as exc:
        print(f"{program_name('daemon.py')}: error: {_bind_error(exc, config)}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, daemon.close)
    await daemon.closed.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from(args)
    except ValueError as exc:
        parser.error(str(exc))
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=args.log_level, handlers=[handler])
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    return asyncio.run(run(config))
