"""A small SIMP daemon with one "dialect" seen in student implementations, for tests only.

CI cannot hold other people's code, so each dialect the field shows is reproduced here, written
by us from its description, in the shape many student programs take: one process that is daemon
and user at once, commands on stdin, notices on stdout.  `--dialect`:

- spec:         SPEC's behaviour (the control: the conformance suite must pass it);
- ack-next:     an ACK carries the next expected bit instead of echoing the message's bit;
- first-bit-1:  each direction's first chat datagram carries bit 1;
- shared-bit:   one bit for both directions (sending and receiving flip the same bit);
- shared-bit-1: as one student daemon does it: the one bit starts at 1 after the handshake
                (which flips it), a chat datagram or FIN with any other bit is dropped without
                an ACK, and decline and busy are one datagram, operation 0x09 (FIN|ERR) with a
                text, re-sent until acknowledged (our daemon speaks it only by configuration);
- short-fields: user field of 16 bytes and length field of 2 bytes (it reads SPEC's too).

stdin: `name USER`, `invite IP`, `accept`, `decline`, `say TEXT`, `quit`.  stdout: `invitation
from USER`, `chat started with USER`, `message from USER: TEXT`, `declined`, `error: TEXT`, `peer
left`, `chat ended`, `peer not answering`.  With `--client-port P` the same commands are also
taken as UDP datagrams on IP:P and every notice is sent back to the last sender as a datagram
(the other client shape: a text protocol on the client port).  Deliberately simple: no linger,
no rate limits.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

CONTROL, CHAT = 1, 2
ERR, SYN, ACK, FIN, SYN_ACK, FIN_ERR = 1, 2, 4, 8, 6, 9
DIALECTS = ("spec", "ack-next", "first-bit-1", "shared-bit", "shared-bit-1", "short-fields")


class Sloppy(asyncio.DatagramProtocol):
    def __init__(self, ip: str, user: str, dialect: str, timeout: float, retries: int) -> None:
        self.ip, self.user, self.dialect = ip, user, dialect
        self.timeout, self.retries = timeout, retries
        self.user_size, self.length_size = (16, 2) if dialect == "short-fields" else (32, 4)
        self.state = "idle"
        self.peer: tuple[str, int] | None = None
        self.peer_user = ""
        self.transport: asyncio.DatagramTransport | None = None
        self.outbox: list[str] = []
        self.in_flight: bytes | None = None
        self.tries = 0
        self.timer: asyncio.TimerHandle | None = None
        self.client: asyncio.DatagramTransport | None = None
        self.client_addr: tuple[str, int] | None = None
        self.shared = dialect.startswith("shared-bit")
        self.strict = dialect == "shared-bit-1"  # wrong bit: dropped without ACK; refusals as 0x09
        self.reset_bits()

    def reset_bits(self) -> None:
        start = 1 if self.dialect == "first-bit-1" else 0
        self.send_bit = self.recv_bit = start

    # shared-bit: both directions read and flip one bit
    def _get_send(self) -> int:
        return self.recv_bit if self.shared else self.send_bit

    def _flip_send(self) -> None:
        if self.shared:
            self.recv_bit ^= 1
        else:
            self.send_bit ^= 1

    # -- wire ------------------------------------------------------------------------------------

    def encode(self, type_: int, op: int, seq: int, payload: str = "") -> bytes:
        body = payload.encode("ascii")
        return (bytes([type_, op, seq]) + self.user.encode().ljust(self.user_size, b"\0")
                + len(body).to_bytes(self.length_size, "big") + body)

    @staticmethod
    def decode(data: bytes) -> tuple[int, int, int, str, str] | None:
        for user_size, length_size in ((32, 4), (16, 2)):
            header = 3 + user_size + length_size
            if len(data) < header:
                continue
            length = int.from_bytes(data[3 + user_size:header], "big")
            if length != len(data) - header or data[0] not in (1, 2) or data[2] not in (0, 1):
                continue
            try:
                user = data[3:3 + user_size].rstrip(b"\0 ").decode("ascii")
                return data[0], data[1], data[2], user, data[header:].decode("ascii")
            except UnicodeDecodeError:
                return None
        return None

    def send(self, data: bytes, to: tuple[str, int] | None = None) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to or self.peer)

    def send_reliably(self, data: bytes) -> None:
        self.in_flight, self.tries = data, 0
        self.send(data)
        self._arm()

    def _arm(self) -> None:
        if self.timer:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.timeout, self._expire)

    def _expire(self) -> None:
        if self.in_flight is None:
            return
        self.tries += 1
        if self.tries > self.retries and self.state == "refusing":
            self.end()
            return
        if self.tries > self.retries and self.state != "inviting":
            self.say("peer not answering")
            self.end()
            return
        self.send(self.in_flight)
        self._arm()

    def settle(self) -> None:
        self.in_flight = None
        if self.timer:
            self.timer.cancel()
            self.timer = None

    def end(self) -> None:
        self.settle()
        self.state, self.peer, self.outbox = "idle", None, []
        self.reset_bits()

    def say(self, line: str) -> None:
        print(line, flush=True)
        if self.client is not None and self.client_addr is not None:
            self.client.sendto(line.encode("ascii", "replace"), self.client_addr)

    # -- receiving -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        dg = self.decode(data)
        if dg is None:
            return
        type_, op, seq, user, payload = dg
        if addr != self.peer:
            if type_ == CONTROL and op == SYN and self.state == "idle":
                self.state, self.peer, self.peer_user = "invited", addr, user
                self.say(f"invitation from {user}")
            elif type_ == CONTROL and op == SYN and self.strict:
                self.send(self.encode(CONTROL, FIN_ERR, 0, "User already in another chat"), addr)
            elif type_ == CONTROL and op == SYN:
                self.send(self.encode(CONTROL, ERR, 0, "User already in another chat"), addr)
                self.send(self.encode(CONTROL, FIN, 0), addr)
            elif type_ == CONTROL and op == FIN:
                self.send(self.encode(CONTROL, ACK, seq), addr)
            return
        if self.strict and (type_ == CHAT or op == FIN) and seq != self.recv_bit:
            return  # not the one bit it expects: dropped, no ACK
        if type_ == CHAT:
            self.on_chat(seq, payload)
        elif op == SYN_ACK and self.state in ("inviting", "chat"):
            self.send(self.encode(CONTROL, ACK, 0))
            if self.state == "inviting":
                self.settle()
                self.state, self.peer_user = "chat", user  # its messages are shown from this name
                self.handshake_done()
                self.say(f"chat started with {user}")
        elif op == ACK:
            self.on_ack(seq)
        elif op == FIN:
            self.send(self.encode(CONTROL, ACK, seq))
            if self.state == "inviting":
                self.say("declined")
            elif self.state in ("chat", "accepting"):
                self.say("peer left")
            self.end()
        elif op == ERR:
            self.say(f"error: {payload}")

    def on_chat(self, seq: int, text: str) -> None:
        if self.state == "accepting":
            self.settle()
            self.state = "chat"
            self.say(f"chat started with {self.peer_user}")
        if self.state != "chat":
            return
        if seq == self.recv_bit:
            self.say(f"message from {self.peer_user}: {text}")
            self.recv_bit ^= 1
        echo = self.recv_bit if self.dialect == "ack-next" else seq
        self.send(self.encode(CONTROL, ACK, echo))

    def handshake_done(self) -> None:
        if self.dialect == "shared-bit-1":
            self.recv_bit = 1

    def on_ack(self, seq: int) -> None:
        if self.state == "refusing":
            self.end()
            return
        if self.state == "accepting":
            self.settle()
            self.state = "chat"
            self.handshake_done()
            self.say(f"chat started with {self.peer_user}")
            return
        if self.state == "closing":
            self.settle()
            self.say("chat ended")
            self.end()
            return
        if self.in_flight is None or self.state != "chat":
            return
        bit = self.in_flight[2]
        wanted = bit ^ 1 if self.dialect == "ack-next" else bit
        if seq == wanted:
            self.settle()
            self._flip_send()
            self.pump()

    def pump(self) -> None:
        if self.in_flight is None and self.outbox and self.state == "chat":
            self.send_reliably(self.encode(CHAT, 1, self._get_send(), self.outbox.pop(0)))

    # -- the user --------------------------------------------------------------------------------

    def command(self, line: str) -> None:
        verb, _, arg = line.strip().partition(" ")
        if verb == "name":
            self.user = arg
            self.say("ready")
        if verb == "invite" and self.state == "idle":
            self.state, self.peer = "inviting", (arg, 7777)
            self.send_reliably(self.encode(CONTROL, SYN, 0))
        elif verb == "accept" and self.state == "invited":
            self.state = "accepting"
            self.send_reliably(self.encode(CONTROL, SYN_ACK, 0))
        elif verb == "decline" and self.state == "invited" and self.strict:
            self.state = "refusing"
            self.send_reliably(self.encode(CONTROL, FIN_ERR, 0, "Chat invitation rejected."))
        elif verb == "decline" and self.state == "invited":
            self.send(self.encode(CONTROL, FIN, 0))
            self.end()
        elif verb == "say" and self.state == "chat":
            self.outbox.append(arg)
            self.pump()
        elif verb == "quit" and self.state == "chat":
            self.settle()
            self.state = "closing"
            self.send_reliably(self.encode(CONTROL, FIN, self._get_send()))


class _ClientPort(asyncio.DatagramProtocol):
    def __init__(self, daemon: Sloppy) -> None:
        self.daemon = daemon

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.daemon.client_addr = addr
        self.daemon.command(data.decode("ascii", "replace"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ip")
    parser.add_argument("--dialect", choices=DIALECTS, default="spec")
    parser.add_argument("--user", default="tester")
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--retries", type=int, default=6)
    parser.add_argument("--client-port", type=int)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    daemon = Sloppy(args.ip, args.user, args.dialect, args.timeout, args.retries)
    await loop.create_datagram_endpoint(lambda: daemon, local_addr=(args.ip, 7777))
    if args.client_port:
        daemon.client, _ = await loop.create_datagram_endpoint(
            lambda: _ClientPort(daemon), local_addr=(args.ip, args.client_port))
    print(f"listening on {args.ip}:7777 ({args.dialect})", file=sys.stderr, flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        daemon.command(line.decode("ascii", "replace").strip())


if __name__ == "__main__":
    asyncio.run(main())
