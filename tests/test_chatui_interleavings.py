"""The client under every interleaving of user lines, request replies and daemon events (issue 13).

The real `Client` library and the real `ChatUI` with its real driver (`_drive`) run against a
fake daemon that speaks the 7778 protocol through a fake transport: nothing reaches a socket, and
the test decides, datagram by datagram, what arrives when.  Replies and events can be delivered
late, out of order, twice, or lost and re-sent; the remote peer invites, accepts, declines,
withdraws, talks and leaves whenever the daemon's state allows it.

Invariants, checked after every step once the loop has nothing left to run:
- every line the user typed is acted on (a request, a phase change) or answered with a notice;
- an invitation that was shown and has not ended can be answered (the phase says so);
- once nothing is in flight, the phase matches the daemon's state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from simp import control as ctl
from simp import events as ev
from simp.client import Client, ClientConfig
from simp.tui import ChatUI, Phase, _drive

PEER = ("127.0.0.2", 7777)
LINES = ["s", "w", "q", "y", "n", "127.0.0.2", "hello", "x", ""]
# the daemon's state as the client can know it -> the phases that agree with it
AGREEING = {
    "free": {Phase.MENU, Phase.WAITING, Phase.ASK_PEER},
    "inviting": {Phase.STARTING},
    "withdrawing": {Phase.WITHDRAWING},
    "invited": {Phase.INVITED},
    "accepting": {Phase.ACCEPTING},
    "chat": {Phase.CHAT},
    "leaving": {Phase.LEAVING},
}


class FakeTransport:
    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent

    def sendto(self, data: bytes, addr: object = None) -> None:
        self.sent.append(data)

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


@dataclass
class FakeDaemon:
    """The client-visible behaviour of simp/daemon.py + node.py, one request at a time."""

    state: str = "free"
    connected: bool = True  # a user is connected (after Disconnect the node refuses invitations)
    next_event: int = 0
    unacked: dict[int, bytes] = field(default_factory=dict)
    queued: list[tuple[int, str]] = field(default_factory=list)  # our user's messages not yet ACKed
    in_flight: list[bytes] = field(default_factory=list)  # datagrams on their way to the client
    late_ack: list[int] = field(default_factory=list)  # sent, not confirmed at the end: may be ACKed late

    def event(self, event: ev.Event | ev.Undelivered) -> None:
        self.next_event += 1
        data = ctl.encode(ctl.EventPacket(ident=self.next_event, event=event))
        self.unacked[self.next_event] = data
        self.in_flight.append(data)

    def end(self, reason: ev.EndReason) -> None:
        for n, (msg_id, text) in enumerate(self.queued):  # the first one was in flight
            self.event(ev.Undelivered(msg_id=msg_id, text=text, sent=n == 0))
        self.late_ack = [msg_id for msg_id, _ in self.queued[:1]]
        self.event(ev.ChatEnded(peer=PEER, user="bob", reason=reason))
        self.queued.clear()
        self.state = "free"

    def handle(self, msg: ctl.Request) -> None:
        if isinstance(msg, ctl.EventAck):
            self.unacked.pop(msg.ident, None)
            return
        ok, text = self._command(msg)
        self.in_flight.append(ctl.encode(ctl.Reply(ident=msg.ident, ok=ok, text=text)))

    def _command(self, msg: ctl.Request) -> tuple[bool, str]:
        match msg, self.state:
            case ctl.Disconnect(), _:  # the node ends what is open, as a quit would
                self.connected = False
                if self.state == "invited":
                    self.end(ev.EndReason.DECLINED)
                elif self.state in ("chat", "accepting", "inviting"):
                    self.state = "withdrawing" if self.state == "inviting" else "leaving"
                return True, "bye"
            case ctl.Wait() | ctl.Heartbeat(), _:
                return True, ""
            case ctl.Start(), "free":
                self.state = "inviting"
                return True, "inviting"
            case ctl.Start(), _:
                return False, "already in a chat or an invitation; end it first"
            case ctl.Accept(), "invited":
                self.state = "accepting"
                return True, "accepted"
            case ctl.Decline() | ctl.Quit(), "invited":
                self.end(ev.EndReason.DECLINED)
                return True, "declined"
            case ctl.Say(ident=ident, text=text), "chat" | "accepting":
                self.queued.append((ident, text))
                return True, "queued"
            case ctl.Quit(), "inviting":
                self.state = "withdrawing"
                return True, "ending"
            case ctl.Quit(), "chat" | "accepting":
                self.state = "leaving"
                return True, "ending"
            case _, "free":
                return False, "not in a chat or an invitation"
        return False, f"cannot {type(msg).__name__.lower()} in state {self.state}"


class ClientUnderTest(RuleBasedStateMachine):
    """One user at a terminal (lines answer the prompt shown when they were typed)."""

    SCRIPTED = False

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.daemon = FakeDaemon()
        self.requests: list[bytes] = []  # datagrams from the client the daemon has not read yet
        config = ClientConfig(request_interval=1e6, request_timeout=1e9, heartbeat_interval=1e9)
        self.client = Client("127.0.0.1", config=config)
        self.client._transport = FakeTransport(self.requests)  # type: ignore[assignment]
        self.client.user = "alice"
        self.out: list[str] = []
        self.ui = ChatUI(self.client, self.out.append)
        self.typed: asyncio.Queue[tuple[str | None, Phase]] = asyncio.Queue()  # None: end of input
        self.taken: tuple[str | None, Phase] | None = None  # the line the driver read last
        self.input_ended = False
        self.closing: asyncio.Task[None] | None = None
        self.line_open: tuple[str, int, int, int] | None = None  # line, requests, output, epoch at start
        self.invitation_shown = False
        self._wrap_on_line()
        self.driver = self.loop.create_task(_drive(self.ui, self.client, self._read, self.SCRIPTED,
                                                   typed_in=self._typed_in))
        self.settle()

    # -- plumbing --------------------------------------------------------------------------

    async def _read(self) -> str | None:
        self.taken = await self.typed.get()
        return self.taken[0]

    def _typed_in(self, began: Phase) -> Phase:
        return began if self.SCRIPTED or self.taken is None else self.taken[1]

    def _wrap_on_line(self) -> None:
        original = self.ui.on_line

        async def on_line(line: str, typed_in: Phase | None = None) -> None:
            sent = sum(1 for d in self.requests if ctl.decode(d).KIND != ctl.EventAck.KIND)  # type: ignore[union-attr]
            self.line_open = (line, sent + self.processed, len(self.out), self.ui._epoch)
            await original(line, typed_in)
            self._check_line_answered()
            self.line_open = None

        self.processed = 0
        self.ui.on_line = on_line  # type: ignore[method-assign]

    def _check_line_answered(self) -> None:
        assert self.line_open is not None
        line, sent_before, out_before, epoch_before = self.line_open
        sent = sum(1 for d in self.requests if ctl.decode(d).KIND != ctl.EventAck.KIND)  # type: ignore[union-attr]
        acted = sent + self.processed > sent_before or self.ui._epoch != epoch_before
        assert acted or len(self.out) > out_before or not line.strip(), (
            f"line {line!r} neither acted on nor answered; output {self.out[out_before:]}")

    def settle(self) -> None:
        for _ in range(30):
            self.loop.run_until_complete(asyncio.sleep(0))
        if self.driver.done() and self.closing is None:  # as run_scripted / run_interactive do
            self.closing = self.loop.create_task(self.client.close())
            self.settle()

    def deliver(self, data: bytes) -> None:
        self.loop.call_soon(self.client._on_datagram, data)  # as the socket would, on the loop
        self.settle()

    def teardown(self) -> None:
        self.client.abandon()
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        for _ in range(30):
            self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    @property
    def done(self) -> bool:
        return self.driver.done()

    # -- the user ---------------------------------------------------------------------------

    @precondition(lambda self: not self.done and not self.input_ended)
    @rule(line=st.sampled_from(LINES))
    def user_types(self, line: str) -> None:
        self.typed.put_nowait((line + "\n", self.ui.phase))
        self.settle()

    @precondition(lambda self: not self.done and not self.input_ended)
    @rule()
    def input_ends(self) -> None:
        """Ctrl-D, or the end of a script: any chat ends cleanly, an invitation is declined."""
        self.input_ended = True
        self.typed.put_nowait((None, self.ui.phase))
        self.settle()

    @rule()
    def nothing_happens(self) -> None:
        """Always possible, so a run can continue after everything else has ended."""
        self.settle()

    # -- the daemon reads the client's datagrams, in order ----------------------------------

    @precondition(lambda self: bool(self.requests))
    @rule()
    def daemon_reads_a_request(self) -> None:
        msg = ctl.decode(self.requests.pop(0))
        assert isinstance(msg, ctl.Request)
        if not isinstance(msg, ctl.EventAck):
            self.processed += 1
        self.daemon.handle(msg)
        self.settle()

    # -- the network between daemon and client ----------------------------------------------

    @precondition(lambda self: bool(self.daemon.in_flight))
    @rule(pick=st.integers(min_value=0))
    def datagram_arrives(self, pick: int) -> None:
        """Any datagram in flight, not only the oldest: replies and events overtake each other."""
        self.deliver(self.daemon.in_flight.pop(pick % len(self.daemon.in_flight)))

    @precondition(lambda self: bool(self.daemon.in_flight))
    @rule(pick=st.integers(min_value=0))
    def datagram_arrives_twice(self, pick: int) -> None:
        data = self.daemon.in_flight[pick % len(self.daemon.in_flight)]
        self.deliver(data)

    @precondition(lambda self: bool(self.daemon.in_flight))
    @rule(pick=st.integers(min_value=0))
    def datagram_is_lost(self, pick: int) -> None:
        """Lost: an event is re-sent by the daemon later; a reply is re-sent from its cache when the
        client repeats the request, which for the client is the same reply arriving late."""
        data = self.daemon.in_flight.pop(pick % len(self.daemon.in_flight))
        if isinstance(ctl.decode(data), ctl.Reply):
            self.daemon.in_flight.append(data)

    @precondition(lambda self: bool(self.daemon.unacked))
    @rule()
    def daemon_resends_unacknowledged_events(self) -> None:
        self.daemon.in_flight.extend(self.daemon.unacked.values())

    # -- the remote peer --------------------------------------------------------------------

    @precondition(lambda self: self.daemon.state == "free" and self.daemon.connected)
    @rule()
    def peer_invites(self) -> None:
        self.daemon.state = "invited"
        self.daemon.event(ev.Invitation(peer=PEER, user="bob"))

    @precondition(lambda self: self.daemon.state == "inviting")
    @rule(answer=st.sampled_from(["accept", "decline", "refuse", "expire"]))
    def peer_answers_our_invitation(self, answer: str) -> None:
        if answer == "accept":
            self.daemon.state = "chat"
            self.daemon.event(ev.ChatStarted(peer=PEER, user="bob"))
        elif answer == "refuse":
            self.daemon.event(ev.PeerError(peer=PEER, text="User already in another chat"))
            self.daemon.end(ev.EndReason.REFUSED)
        else:
            self.daemon.end(ev.EndReason.DECLINED if answer == "decline" else ev.EndReason.NO_ANSWER)

    @precondition(lambda self: self.daemon.state in ("invited", "accepting"))
    @rule(completes=st.booleans())
    def peer_completes_or_withdraws(self, completes: bool) -> None:
        if completes and self.daemon.state == "accepting":
            self.daemon.state = "chat"
            self.daemon.event(ev.ChatStarted(peer=PEER, user="bob"))
        elif not completes:
            self.daemon.end(ev.EndReason.WITHDRAWN)

    @precondition(lambda self: self.daemon.state == "withdrawing")
    @rule()
    def peer_acknowledges_the_withdrawal(self) -> None:
        self.daemon.end(ev.EndReason.WITHDRAWN_BY_US)

    @precondition(lambda self: self.daemon.state in ("chat", "leaving"))
    @rule(what=st.sampled_from(["says", "acks", "leaves", "acks-fin"]))
    def peer_in_the_chat(self, what: str) -> None:
        daemon = self.daemon
        if what == "says":
            daemon.event(ev.MessageReceived(user="bob", text="hi"))
        elif what == "acks" and daemon.queued:
            daemon.event(ev.MessageDelivered(msg_id=daemon.queued.pop(0)[0]))
        elif what == "leaves":
            daemon.end(ev.EndReason.PEER_LEFT)
        elif what == "acks-fin" and daemon.state == "leaving" and not daemon.queued:
            daemon.end(ev.EndReason.QUIT)

    @precondition(lambda self: bool(self.daemon.late_ack))
    @rule()
    def peer_acknowledges_after_the_end(self) -> None:
        self.daemon.event(ev.MessageDelivered(msg_id=self.daemon.late_ack.pop()))

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def an_invitation_shown_stays_answerable(self) -> None:
        if self.line_open is None and self.ui.invitation_open and not self.done:
            assert self.ui.phase in (Phase.INVITED, Phase.ACCEPTING, Phase.DECLINING), (
                f"invitation shown but phase {self.ui.phase}; output {self.out}")

    @invariant()
    def quiet_phase_matches_the_daemon(self) -> None:
        quiet = not (self.requests or self.daemon.in_flight or self.daemon.unacked or self.line_open
                     or self.done)
        if quiet and self.typed.empty() and not self.ui.end_of_input:
            assert self.ui.phase in AGREEING[self.daemon.state], (
                f"daemon {self.daemon.state}, client {self.ui.phase}; output {self.out}")
            if self.daemon.state == "free":  # no line of ours stays "pending" after its chat
                assert self.ui.pending_messages == [], self.out

    @invariant()
    def after_the_end_of_input_nothing_stays_open(self) -> None:
        """A chat is ended, an invitation declined, and once the daemon is free the client exits."""
        quiet = not (self.requests or self.daemon.in_flight or self.daemon.unacked or self.line_open)
        if quiet and self.ui.end_of_input and self.typed.empty():
            assert self.daemon.state not in ("invited", "chat"), (self.daemon.state, self.ui.phase, self.out)
            if self.daemon.state == "free":
                assert self.done, (self.ui.phase, self.out)

    @invariant()
    def driver_alive(self) -> None:
        if self.done and not self.driver.cancelled():
            assert self.driver.result() == 0  # only the user's own `q` ends it here


class ScriptedClientUnderTest(ClientUnderTest):
    """The scripted client: reads the next line only when it needs one."""

    SCRIPTED = True


RUNS = settings(max_examples=150, stateful_step_count=40, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
TestInteractiveClient = ClientUnderTest.TestCase
TestInteractiveClient.settings = RUNS
TestScriptedClient = ScriptedClientUnderTest.TestCase
TestScriptedClient.settings = RUNS


# -- the race that was found, as a regression test ---------------------------------------------


@pytest.mark.parametrize("reply_first", [False, True])
@pytest.mark.parametrize("scripted", [False, True])
def test_invitation_while_wait_is_unanswered_can_be_accepted(reply_first: bool, scripted: bool) -> None:
    """`w` typed, the invitation's event overtakes (or follows) the Wait reply: `y` still accepts."""
    machine = ScriptedClientUnderTest() if scripted else ClientUnderTest()
    try:
        machine.user_types("w")
        machine.peer_invites()  # the SYN lands before the daemon reads Wait
        machine.daemon_reads_a_request()
        event, reply = machine.daemon.in_flight
        for data in ((reply, event) if reply_first else (event, reply)):
            machine.deliver(data)
            machine.daemon.in_flight.remove(data)
        assert machine.ui.phase is Phase.INVITED
        machine.user_types("y")
        assert any(isinstance(ctl.decode(d), ctl.Accept) for d in machine.requests)
    finally:
        machine.teardown()


def test_a_line_typed_as_the_chat_ends_is_reported_not_run_as_a_command() -> None:
    machine = ClientUnderTest()
    try:
        machine.user_types("s")
        machine.user_types("127.0.0.2")
        machine.daemon_reads_a_request()
        machine.peer_answers_our_invitation("accept")
        while machine.daemon.in_flight:
            machine.datagram_arrives(0)
        assert machine.ui.phase is Phase.CHAT
        machine.typed.put_nowait(("w\n", Phase.CHAT))  # typed in the chat ...
        machine.peer_in_the_chat("leaves")  # ... entered just after the peer left
        while machine.daemon.in_flight:
            machine.datagram_arrives(0)
        machine.settle()
        assert machine.ui.phase is Phase.MENU
        assert machine.out[-1].startswith("* not sent (the chat had ended): w")
        assert not any(isinstance(ctl.decode(d), ctl.Wait) for d in machine.requests)
    finally:
        machine.teardown()


@pytest.mark.parametrize("scripted", [False, True])
def test_a_chat_accepted_just_before_the_end_of_input_is_ended_cleanly(scripted: bool) -> None:
    machine = ScriptedClientUnderTest() if scripted else ClientUnderTest()
    try:
        machine.peer_invites()
        machine.datagram_arrives(0)
        machine.user_types("y")
        while machine.requests:
            machine.daemon_reads_a_request()
        machine.datagram_arrives(0)
        assert machine.ui.phase is Phase.ACCEPTING
        machine.input_ends()
        machine.peer_completes_or_withdraws(completes=True)
        machine.datagram_arrives(0)
        assert any(isinstance(ctl.decode(d), ctl.Quit) for d in machine.requests)
        while machine.requests:
            machine.daemon_reads_a_request()
        assert machine.daemon.state == "leaving"
    finally:
        machine.teardown()
