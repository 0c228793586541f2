"""The chat client's front end: one state machine, driven by a terminal or by a script.

`ChatUI` interprets each input line according to where the user is (menu, asking for the
peer, invited, chatting...) and turns daemon events into output lines.  Three drivers feed it:

- scripted (stdin is not a terminal): reads the next line only when `wants_input` is true, so a
  script can be written without timing (contract in README.md, "Scripted client");
- interactive (a terminal): prompt_toolkit keeps the input line intact while messages and
  invitations are printed above it;
- plain (a terminal without prompt_toolkit): prompts with input-style lines and says how to get
  the full terminal UI.

Output lines are `NAME: TEXT` for a received message and `* ...` for every other notice.

Why phases change *before* a request is awaited, never after: the daemon's events arrive on
their own task while a request waits for its reply, in whichever order the scheduler picks.  A
phase set after the reply would overwrite what an event decided meanwhile (the bug this replaced:
an invitation arriving while the Wait request was unanswered was shown, then the client moved to
"waiting" and ignored the user's `y`).  So a request's own phase is entered first; when the
request fails, the phase is rolled back only if nothing else changed it since (`_epoch`).
"""

from __future__ import annotations

import asyncio
import enum
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TextIO

from simp import events as ev
from simp import wire
from simp.client import Client, ClientError


class Phase(enum.Enum):
    MENU = "menu"
    ASK_PEER = "ask-peer"  # after `s`: the next line is the peer's IP[:PORT]
    STARTING = "starting"  # invitation sent, waiting for the answer
    WITHDRAWING = "withdrawing"  # `q` typed while inviting: the peer is being told
    WAITING = "waiting"  # after `w`: waiting for an invitation
    INVITED = "invited"  # the next line answers the invitation: y or n
    ACCEPTING = "accepting"
    DECLINING = "declining"
    CHAT = "chat"
    LEAVING = "leaving"  # `q` typed in a chat: queued messages go first
    DONE = "done"


PROMPTS = {
    Phase.MENU: "[s]tart a chat, [w]ait for an invitation, [q]uit > ",
    Phase.ASK_PEER: "peer daemon IP[:PORT] > ",
    Phase.STARTING: "(inviting; q withdraws) > ",
    Phase.WITHDRAWING: "(withdrawing the invitation) > ",
    Phase.WAITING: "(waiting; q or Enter goes back to the menu) > ",
    Phase.INVITED: "accept? [y/n] > ",
    Phase.ACCEPTING: "(accepting) > ",
    Phase.DECLINING: "(declining) > ",
    Phase.CHAT: "> ",
    Phase.LEAVING: "(leaving) > ",
}
MENU_HINT = "type s to start a chat, w to wait for one, q to quit"
TUI_HINT = "for the full terminal UI (input line kept below the messages): pip install 'simp-sim[tui]'"
# phases in which a script must supply the next line (an interactive user can always type)
_SCRIPT_INPUT = frozenset({Phase.MENU, Phase.ASK_PEER, Phase.INVITED, Phase.CHAT})
# phases in which the daemon holds an invitation to us that the user may still answer
_ANSWERING = frozenset({Phase.INVITED, Phase.ACCEPTING, Phase.DECLINING})
END_NOTICES = {
    ev.EndReason.QUIT: "chat ended",
    ev.EndReason.PEER_LEFT: "{user} left the chat",
    ev.EndReason.NOT_ANSWERING: "peer stopped answering: chat with {user} ended",
    ev.EndReason.NO_ANSWER: "no answer from {host}",
    ev.EndReason.DECLINED: "invitation declined",
    ev.EndReason.REFUSED: "invitation refused by {host}",
    ev.EndReason.SHUTDOWN: "chat ended: daemon shutting down",
    ev.EndReason.WITHDRAWN: "invitation from {user} withdrawn",
    ev.EndReason.WITHDRAWN_BY_US: "invitation to {host} withdrawn",
    ev.EndReason.UNCLEAR: "no clear answer from {host}: it may have declined (a FIN came that SIMP "
                          "cannot tell from the last chat's)",
}
MAX_LINE = wire.MAX_PAYLOAD  # no longer line can ever be sent: refused while it is read

def shown(text: str) -> str:
    """Text that came from a peer, as printed: control characters and line breaks escaped.

    Why: everything a peer sends reaches the user's terminal; a raw line break would let it print
    a line of its own (a forged `* bob left the chat`), an escape sequence could move the cursor.
    """
    return wire.escaped(text)


def shown_name(name: str, fallback: str) -> str:
    """A peer's user name as printed: escaped, and quoted when it could pass for a notice (`* ...`)
    or for more of the line than a name: spaces at its ends (` * bob` before a message), a colon
    (`ok: fake` before `: text`), or ` at ` (`bob at 10.0.0.1:7777` in "invitation from NAME at
    HOST:PORT").  SPEC allows any ASCII in the name field; these are how a peer could dress one up."""
    text = shown(name) or fallback
    disguised = text.startswith("*") or text != text.strip() or ":" in text or " at " in text
    return f'"{text}"' if disguised else text


def _abridged(text: str, limit: int = 40) -> str:
    """A typed line as quoted back in a notice: the start of it when it is long."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_peer(text: str) -> tuple[str, int]:
    """`IP` or `IP:PORT` -> (ip, port); ValueError with a readable message otherwise."""
    host, _, port_text = text.strip().partition(":")
    parts = host.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"not an IPv4 address: {text.strip()!r}")
    port = int(port_text) if port_text.isdigit() else 7777
    if port_text and not (port_text.isdigit() and 0 < port < 65536):
        raise ValueError(f"not a port: {port_text!r}")
    return host, port


class ChatUI:
    """Lines and events in, client calls and output lines out.

    Delivery state of our own lines: each is `pending` from the moment it is typed until the
    daemon reports the peer's ACK (`delivered`), or the chat ends without it (`undelivered`, or
    `not confirmed` when the event says the peer may have seen it).  `echo` (interactive use)
    prints our own lines with their state; a script gets the `* delivered: TEXT` notices only.
    """

    def __init__(self, client: Client, emit: Callable[[str], None], *, echo: bool = False) -> None:
        self.client = client
        self.emit = emit
        self.echo = echo
        self.phase = Phase.MENU
        self.end_of_input = False
        self.changed = asyncio.Event()  # set whenever the phase changes
        self.on_change: Callable[[], None] | None = None  # drivers redraw the prompt
        self._epoch = 0  # counts phase changes: a reply acts only if none happened meanwhile
        self._invitation: tuple[ev.Address, str] | None = None  # shown and not ended
        self._peer_name = ""  # from the handshake (Invitation / ChatStarted), never from a message
        self._pending: dict[int, str] = {}  # our messages the peer has not acknowledged yet
        self._early: dict[int, str] = {}  # outcomes that overtook their Say reply: delivered / reported
        self._unconfirmed: dict[int, str] = {}  # reported "not confirmed": a late ACK may confirm them
        self._tasks: set[asyncio.Task[None]] = set()  # requests started by events (kept referenced)

    @property
    def wants_input(self) -> bool:
        return self.phase in _SCRIPT_INPUT and not self.end_of_input

    @property
    def prompt(self) -> str:
        text = PROMPTS.get(self.phase, "")
        if self.phase in (Phase.CHAT, Phase.LEAVING) and self._pending:
            text = f"({len(self._pending)} pending) {text}"
        return text

    @property
    def pending_messages(self) -> list[str]:
        return list(self._pending.values())

    @property
    def invitation_open(self) -> bool:
        """An invitation was shown and has not ended: the user may still answer it."""
        return self._invitation is not None

    def _go(self, phase: Phase) -> int:
        if phase is Phase.MENU and self.end_of_input:
            phase = Phase.DONE
        if phase is not self.phase:
            self.phase = phase
            self._epoch += 1
            self.changed.set()
            if self.on_change is not None:
                self.on_change()
        return self._epoch

    def _undo(self, epoch: int, back: Phase | None) -> None:
        """A request failed: leave its phase (for `back`, or what the events so far say), unless
        events moved the phase on meanwhile."""
        if epoch == self._epoch:
            self._go(back or (Phase.INVITED if self._invitation else Phase.MENU))

    def notice(self, text: str) -> None:
        self.emit(f"* {text}")

    # -- input -------------------------------------------------------------------------------

    async def on_line(self, line: str, typed_in: Phase | None = None) -> None:
        """Act on one typed line.

        `typed_in` is the phase whose prompt the line answered, when the driver knows it.  A line
        typed for a chat that ended before it was entered is kept and reported, never run as a
        menu command (a message `w` or `q` must not start waiting or quit the client).
        """
        text = line.rstrip("\r\n")
        command = text.strip()
        if typed_in is Phase.CHAT and self.phase not in (Phase.CHAT, Phase.LEAVING):
            if command:
                self.notice(f"not sent (the chat had ended): {text}; type it again if it was meant "
                            "for the menu")
            return
        if typed_in is Phase.ASK_PEER and self.phase is Phase.INVITED and command:
            _, user = self._invitation or (None, "the peer")
            self.notice(f"invitation to {command} not sent: {user} invited you first; answer y or n")
            return
        if len(text) > MAX_LINE:
            self.notice(f"error: message too long: {len(text)} characters, the limit is {MAX_LINE}; "
                        "not used")
            return
        try:
            await self._LINE[self.phase](self, text, command)
        except ClientError as exc:
            self.notice(f"error: {exc}")

    async def _request(self, phase: Phase, call: Callable[[], Awaitable[object]],
                       back: Phase | None = None) -> bool:
        """Enter `phase`, then run the request; on failure say why and roll back (see `_undo`)."""
        epoch = self._go(phase)
        try:
            await call()
        except ClientError as exc:
            self.notice(f"error: {exc}")
            self._undo(epoch, back)
            return False
        return True

    async def _menu_line(self, text: str, command: str) -> None:
        if command == "s":
            self._go(Phase.ASK_PEER)
        elif command == "w":
            self.notice("waiting for an invitation")
            await self._request(Phase.WAITING, self.client.wait)
        elif command == "q":
            self._go(Phase.DONE)
        elif command:
            self.notice(f"unknown command {_abridged(command)!r}: {MENU_HINT}")

    async def _peer_line(self, text: str, command: str) -> None:
        if not command:
            self._go(Phase.MENU)
            return
        try:
            host, port = parse_peer(command)
        except ValueError as exc:
            self.notice(f"error: {exc}")
            self._go(Phase.MENU)
            return
        self.notice(f"inviting {host}:{port}")
        await self._request(Phase.STARTING, lambda: self.client.start(host, port))

    async def _waiting_line(self, text: str, command: str) -> None:
        if command in ("", "q"):
            self._go(Phase.MENU)
        else:
            self.notice(f"no invitation to answer yet: {_abridged(command)!r} not used "
                        "(q or Enter: back to the menu)")

    async def _invited_line(self, text: str, command: str) -> None:
        if command.lower() in ("y", "yes"):
            await self._request(Phase.ACCEPTING, self.client.accept)
        elif command.lower() in ("n", "no"):
            await self._request(Phase.DECLINING, self.client.decline)
        else:
            _, user = self._invitation or (None, "the peer")
            self.notice(f"answer y or n (invitation from {user}); {_abridged(command)!r} not used")

    async def _chat_line(self, text: str, command: str) -> None:
        if command == "q":
            await self._request(Phase.LEAVING, self.client.quit)
        elif text:
            await self._say(text)

    async def _say(self, text: str) -> None:
        if self.echo:
            self.emit(f"[pending] you: {text}")
        try:
            msg_id = await self.client.say(text)
        except ClientError as exc:
            self.notice(f"error: {exc}; not sent: {_abridged(text, 200)}")
            return
        early = self._early.pop(msg_id, None)
        if early == "delivered":
            self._outcome("delivered", text)
        elif early is None and self.phase in (Phase.CHAT, Phase.LEAVING):
            self._pending[msg_id] = text
        elif early is None:  # the chat ended before this reply was seen, and never named the message
            self._outcome("not confirmed", text)

    async def _busy_line(self, text: str, command: str) -> None:
        if command == "q" and self.phase is Phase.STARTING:
            self.notice("withdrawing the invitation")
            await self._request(Phase.WITHDRAWING, self.client.quit, back=Phase.STARTING)
        else:
            self._not_sent(text)

    async def _ignore_line(self, text: str, command: str) -> None:
        self._not_sent(text)

    def _not_sent(self, text: str) -> None:
        """Nothing typed is dropped silently: say so when a line cannot be used now."""
        if text.strip():
            self.notice(f"not sent (no chat at the moment): {text}")

    _LINE = {
        Phase.MENU: _menu_line,
        Phase.ASK_PEER: _peer_line,
        Phase.STARTING: _busy_line,
        Phase.WITHDRAWING: _busy_line,
        Phase.WAITING: _waiting_line,
        Phase.INVITED: _invited_line,
        Phase.ACCEPTING: _ignore_line,
        Phase.DECLINING: _ignore_line,
        Phase.CHAT: _chat_line,
        Phase.LEAVING: _ignore_line,
        Phase.DONE: _ignore_line,
    }

    async def on_end_of_input(self) -> None:
        """Leave cleanly: a chat ends after its queued messages; an invitation is answered no."""
        self.end_of_input = True
        try:
            if self.phase is Phase.CHAT:
                await self._request(Phase.LEAVING, self.client.quit)
            elif self.phase is Phase.INVITED:
                await self._request(Phase.DECLINING, self.client.quit)
            elif self.phase is Phase.STARTING:
                await self._request(Phase.WITHDRAWING, self.client.quit, back=Phase.STARTING)
            elif self.phase in (Phase.MENU, Phase.ASK_PEER, Phase.WAITING):
                self._go(Phase.DONE)
        except ClientError as exc:
            self.notice(f"error: {exc}")
            self._go(Phase.DONE)

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: ev.Event) -> None:
        match event:
            case ev.MessageReceived(text=text):
                self.emit(f"{self._peer_name or shown_name(event.user, 'peer')}: {shown(text)}")
            case ev.Invitation(peer=(host, port), user=user):
                self._invitation = ((host, port), shown_name(user, host))
                self.notice(f"invitation from {shown_name(user, host)} at {host}:{port}: accept? (y/n)")
                if self.phase is not Phase.DONE:
                    self._go(Phase.INVITED)
            case ev.ChatStarted(user=user, peer=(host, port)):
                self._invitation = None
                self._unconfirmed.clear()  # the last chat's late ACKs came within its linger, or never
                self._peer_name = shown_name(user, host)
                self.notice(f"chat with {self._peer_name} at {host}:{port} started; type q to leave")
                self._go(Phase.CHAT)
                if self.end_of_input:  # accepted before input ended: leave it as cleanly as any other
                    self._leave_soon()
            case ev.PeerError(text=text):
                self.notice(f"error from peer: {shown(text)}")
            case ev.MessageDelivered(msg_id=msg_id):
                if (text := self._pending.pop(msg_id, None)) is not None:
                    self._outcome("delivered", text)
                elif (text := self._unconfirmed.pop(msg_id, None)) is not None:
                    self._outcome("delivered", f"{text} (confirmed after the chat ended)")
                else:
                    self._early[msg_id] = "delivered"
            case ev.ChatEnded():
                self._chat_ended(event)

    def _leave_soon(self) -> None:
        """End a chat that started after the end of input (from an event: the request runs apart)."""
        task = asyncio.ensure_future(self.on_end_of_input())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _outcome(self, state: str, text: str) -> None:
        """The final delivery state of one of our lines."""
        self.emit(f"[{state}] you: {text}" if self.echo else f"* {state}: {text}")

    def _chat_ended(self, event: ev.ChatEnded) -> None:
        host = event.peer[0]
        user = self._peer_name or (self._invitation[1] if self._invitation else shown_name(event.user, host))
        self.notice(END_NOTICES[event.reason].format(user=user, host=host))
        for item in event.undelivered:
            if self._pending.pop(item.msg_id, None) is None:
                self._early[item.msg_id] = "reported"
            if item.sent:  # the peer may have shown it; its ACK may still come
                self._unconfirmed[item.msg_id] = item.text
            self._outcome("not confirmed" if item.sent else "undelivered", item.text)
        for msg_id, text in self._pending.items():  # neither acknowledged nor named undelivered
            self._unconfirmed[msg_id] = text
            self._outcome("not confirmed", text)
        self._pending.clear()
        self._invitation = None
        self._peer_name = ""
        self._go(Phase.MENU)


# -- drivers -----------------------------------------------------------------------------------


class _LineReader:
    """Reads stdin on a daemon thread, one line per request, so exit never waits for it.

    A line longer than MAX_LINE is refused while it is read: the rest of it is skipped in
    bounded chunks and never held in memory (`TOO_LONG` is returned instead).
    """

    TOO_LONG = "\x00too long"

    def __init__(self, loop: asyncio.AbstractEventLoop, stream: TextIO) -> None:
        self._loop = loop
        self._stream = stream
        self._want = threading.Event()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.phase_of: Callable[[], Phase] = lambda: Phase.MENU
        self.arrived_in = Phase.MENU  # the phase when the last line arrived (it answers that one)
        self._eof = False
        threading.Thread(target=self._run, name="stdin", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._want.wait()
            self._want.clear()
            line = self._read_bounded()
            self._loop.call_soon_threadsafe(self._arrive, line)
            if line is None:
                return

    def _arrive(self, line: str | None) -> None:
        self.arrived_in = self.phase_of()
        self._lines.put_nowait(line)

    def _read_bounded(self) -> str | None:
        line = self._stream.readline(MAX_LINE + 2)
        if not line:
            return None
        if len(line) <= MAX_LINE + 1 or line.endswith("\n"):
            return line
        while (rest := self._stream.readline(65536)) and not rest.endswith("\n"):
            pass
        return self.TOO_LONG

    async def readline(self) -> str | None:
        """The next line, or None at end of input (and for every call after it)."""
        if self._eof:
            return None
        self._want.set()
        line = await self._lines.get()
        self._eof = line is None
        return line


async def _pump_events(client: Client, ui: ChatUI) -> None:
    while ui.phase is not Phase.DONE:
        ui.on_event(await client.next_event())


async def _feed(ui: ChatUI, line: str | None, typed_in: Phase) -> None:
    if line is None:
        await ui.on_end_of_input()
    elif line == _LineReader.TOO_LONG:
        ui.notice(f"error: message too long: more than {MAX_LINE} characters; not used")
    else:
        await ui.on_line(line, typed_in)


Read = Callable[[], Awaitable[str | None]]


async def _drive(ui: ChatUI, client: Client, read: Read, scripted: bool,
                 typed_in: Callable[[Phase], Phase] | None = None) -> int:
    """Run input and events together until the user is done; exit status (always said why).

    `typed_in(began)` says which phase's prompt the line answered: the phase when its first
    character was typed (terminal UI, which sees keystrokes) or when the line arrived (scripted
    and plain input); without it, the phase in which the read began.
    """
    events = asyncio.ensure_future(_pump_events(client, ui))
    try:
        while ui.phase is not Phase.DONE:
            if scripted and not ui.wants_input:
                ui.changed.clear()
                waiter = asyncio.ensure_future(ui.changed.wait())
                await asyncio.wait([waiter, events], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
            else:
                began = ui.phase
                reader = asyncio.ensure_future(read())
                await asyncio.wait([reader, events], return_when=asyncio.FIRST_COMPLETED)
                if reader.done():
                    await _feed(ui, reader.result(), typed_in(began) if typed_in else began)
                else:
                    reader.cancel()
            if events.done():
                events.result()  # raises the ClientError that ended it
    except ClientError as exc:
        ui.notice(f"error: {exc}")
        ui.notice("exiting: the daemon is gone")
        return 1
    finally:
        events.cancel()
    ui.notice("bye" if not ui.end_of_input else "end of input: bye")
    return 0


async def _connect(client: Client, user: str, emit: Callable[[str], None]) -> int:
    try:
        await client.connect(user)
    except ClientError as exc:
        emit(f"* error: {exc}")
        return 2 if "user name" in str(exc) else 1
    emit(f"* connected to {client.daemon[0]} as {user}")
    return 0


async def run_scripted(client: Client, user: str | None, stdin: TextIO = sys.stdin) -> int:
    reader = _LineReader(asyncio.get_running_loop(), stdin)

    def emit(text: str) -> None:
        print(text, flush=True)

    if user is None:
        line = await reader.readline()
        if line is None:
            emit("* error: no user name given (first line of input)")
            return 2
        user = line.strip()
    code = await _connect(client, user, emit)
    if code:
        return code
    ui = ChatUI(client, emit)
    reader.phase_of = lambda: ui.phase
    try:
        return await _drive(ui, client, reader.readline, scripted=True, typed_in=lambda _: reader.arrived_in)
    finally:
        await client.close()


async def run_plain(client: Client, user: str | None, stdin: TextIO = sys.stdin) -> int:
    """A terminal without prompt_toolkit: the same client with printed prompts.

    While a line is being read, the prompt is printed again after every output line, so an
    invitation arriving while the user types keeps a visible prompt (what was typed stays in the
    terminal's line buffer); no prompt is left dangling when the client exits.
    """
    reader = _LineReader(asyncio.get_running_loop(), stdin)
    prompt = {"text": "user name > ", "shown": False, "reading": False}

    def show_prompt() -> None:
        if prompt["reading"] and not prompt["shown"]:
            print(prompt["text"], end="", flush=True)
            prompt["shown"] = True

    def emit(text: str) -> None:
        print(f"\r{text}" if prompt["shown"] else text, flush=True)
        prompt["shown"] = False
        show_prompt()

    async def read() -> str | None:
        prompt["reading"] = True
        show_prompt()
        try:
            return await reader.readline()
        finally:
            prompt["reading"] = prompt["shown"] = False  # Enter ended the prompt's line

    print(f"* {TUI_HINT}", flush=True)
    code = 2 if user is None else await _connect(client, user, emit)
    while code == 2:  # ask again until the name is acceptable
        line = await read()
        if line is None:
            print("\n* end of input: bye", flush=True)
            return 0
        code = await _connect(client, line.strip(), emit)
    if code:
        return code
    ui = ChatUI(client, emit, echo=True)

    def redraw() -> None:
        prompt["text"] = ui.prompt

    ui.on_change = redraw
    reader.phase_of = lambda: ui.phase
    redraw()
    ui.notice(MENU_HINT)

    try:
        return await _drive(ui, client, read, scripted=False, typed_in=lambda _: reader.arrived_in)
    finally:
        print(flush=True)
        await client.close()


async def run_interactive(client: Client, user: str | None) -> int:
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.patch_stdout import patch_stdout
    except ImportError:
        return await run_plain(client, user)
    session: PromptSession[str] = PromptSession(erase_when_done=True)
    with patch_stdout():
        code = 2 if user is None else await _connect(client, user, print)
        while code == 2:  # ask again until the name is acceptable
            try:
                user = (await session.prompt_async("user name > ")).strip()
            except (EOFError, KeyboardInterrupt):
                print("* bye")
                return 0
            code = await _connect(client, user, print)
        if code:
            return code
        ui = ChatUI(client, print, echo=True)
        buffer = session.default_buffer
        # the phase shown when the line's first character was typed (kept across the buffer's
        # reset after Enter, which may come before the line is handed over)
        first_key: dict[str, Phase] = {}

        def on_text(_: object) -> None:
            if not buffer.text:
                if "now" in first_key:
                    first_key["last"] = first_key.pop("now")
            elif "now" not in first_key:
                first_key["now"] = ui.phase
                first_key.pop("last", None)
            if len(buffer.text) > MAX_LINE:  # refused as it is typed or pasted, never held or sent cut
                buffer.text = ""
                ui.notice(f"error: message too long: more than {MAX_LINE} characters; discarded")

        def typed_in(began: Phase) -> Phase:
            phase = first_key.get("now", first_key.get("last", ui.phase))
            first_key.clear()
            return phase

        def redraw() -> None:
            if session.app.is_running:
                session.app.invalidate()

        buffer.on_text_changed += on_text
        ui.on_change = redraw

        async def read() -> str | None:
            try:
                return await session.prompt_async(lambda: ui.prompt)
            except (EOFError, KeyboardInterrupt):
                return None

        ui.notice(MENU_HINT)
        try:
            return await _drive(ui, client, read, scripted=False, typed_in=typed_in)
        finally:
            await client.close()
