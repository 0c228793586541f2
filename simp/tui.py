"""The chat client's front end: one state machine, driven by a terminal or by a script.

`ChatUI` interprets each input line according to where the user is (menu, asking for the
peer, invited, chatting...) and turns daemon events into output lines.  Two drivers feed it:

- scripted (stdin is not a terminal): reads the next line only when `wants_input` is true, so a
  script can be written without timing (contract in README.md, "Scripted client");
- interactive (a terminal): prompt_toolkit keeps the input line intact while messages and
  invitations are printed above it; without prompt_toolkit it falls back to plain input().

Output lines are `NAME: TEXT` for a received message and `* ...` for every other notice.
"""

from __future__ import annotations

import asyncio
import enum
import sys
import threading
from collections.abc import Callable

from simp import events as ev
from simp.client import Client, ClientError


class Phase(enum.Enum):
    MENU = "menu"
    ASK_PEER = "ask-peer"  # after `s`: the next line is the peer's IP[:PORT]
    STARTING = "starting"  # invitation sent, waiting for the answer
    WAITING = "waiting"  # after `w`: waiting for an invitation
    INVITED = "invited"  # the next line answers the invitation: y or n
    ACCEPTING = "accepting"
    CHAT = "chat"
    LEAVING = "leaving"  # `q` typed in a chat: queued messages go first
    DONE = "done"


PROMPTS = {
    Phase.MENU: "[s]tart a chat, [w]ait for an invitation, [q]uit > ",
    Phase.ASK_PEER: "peer daemon IP[:PORT] > ",
    Phase.STARTING: "(inviting; q withdraws) > ",
    Phase.WAITING: "(waiting; q or Enter goes back to the menu) > ",
    Phase.INVITED: "accept? [y/n] > ",
    Phase.ACCEPTING: "(accepting) > ",
    Phase.CHAT: "> ",
    Phase.LEAVING: "(leaving) > ",
}
# phases in which a script must supply the next line (an interactive user can always type)
_SCRIPT_INPUT = frozenset({Phase.MENU, Phase.ASK_PEER, Phase.INVITED, Phase.CHAT})
END_NOTICES = {
    ev.EndReason.QUIT: "chat ended",
    ev.EndReason.PEER_LEFT: "{user} left the chat",
    ev.EndReason.NOT_ANSWERING: "peer stopped answering: chat with {user} ended",
    ev.EndReason.NO_ANSWER: "no answer from {host}",
    ev.EndReason.DECLINED: "invitation declined",
    ev.EndReason.REFUSED: "invitation refused by {host}",
    ev.EndReason.SHUTDOWN: "chat ended: daemon shutting down",
    ev.EndReason.WITHDRAWN: "invitation from {user} withdrawn",
}


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
    """Lines and events in, client calls and output lines out."""

    def __init__(self, client: Client, emit: Callable[[str], None]) -> None:
        self.client = client
        self.emit = emit
        self.phase = Phase.MENU
        self.end_of_input = False
        self.changed = asyncio.Event()  # set whenever the phase changes

    @property
    def wants_input(self) -> bool:
        return self.phase in _SCRIPT_INPUT and not self.end_of_input

    @property
    def prompt(self) -> str:
        return PROMPTS.get(self.phase, "")

    def _go(self, phase: Phase) -> None:
        if phase is Phase.MENU and self.end_of_input:
            phase = Phase.DONE
        self.phase = phase
        self.changed.set()

    def notice(self, text: str) -> None:
        self.emit(f"* {text}")

    # -- input -------------------------------------------------------------------------------

    async def on_line(self, line: str) -> None:
        text = line.rstrip("\r\n")
        command = text.strip()
        try:
            await self._LINE[self.phase](self, text, command)
        except ClientError as exc:
            self.notice(f"error: {exc}")
            if self.phase in (Phase.ASK_PEER, Phase.STARTING, Phase.ACCEPTING):
                self._go(Phase.MENU)

    async def _menu_line(self, text: str, command: str) -> None:
        if command == "s":
            self._go(Phase.ASK_PEER)
        elif command == "w":
            await self.client.wait()
            self.notice("waiting for an invitation")
            self._go(Phase.WAITING)
        elif command == "q":
            self._go(Phase.DONE)
        elif command:
            self.notice(f"unknown command {command!r}: type s, w or q")

    async def _peer_line(self, text: str, command: str) -> None:
        try:
            host, port = parse_peer(command)
        except ValueError as exc:
            self.notice(f"error: {exc}")
            self._go(Phase.MENU)
            return
        self._go(Phase.STARTING)
        await self.client.start(host, port)
        self.notice(f"inviting {host}:{port}")

    async def _waiting_line(self, text: str, command: str) -> None:
        if command in ("", "q"):
            self._go(Phase.MENU)

    async def _invited_line(self, text: str, command: str) -> None:
        if command.lower() in ("y", "yes"):
            self._go(Phase.ACCEPTING)
            await self.client.accept()
        elif command.lower() in ("n", "no"):
            await self.client.decline()
        else:
            self.notice("answer y or n")

    async def _chat_line(self, text: str, command: str) -> None:
        if command == "q":
            self._go(Phase.LEAVING)
            await self.client.quit()
        elif text:
            await self.client.say(text)

    async def _busy_line(self, text: str, command: str) -> None:
        if command == "q" and self.phase is Phase.STARTING:
            await self.client.quit()
        else:
            self._not_sent(text)

    async def _ignore_line(self, text: str, command: str) -> None:
        self._not_sent(text)

    def _not_sent(self, text: str) -> None:
        """Nothing typed is dropped silently: say so when a line cannot be sent now."""
        if text.strip():
            self.notice(f"not sent (no chat at the moment): {text}")

    _LINE = {
        Phase.MENU: _menu_line,
        Phase.ASK_PEER: _peer_line,
        Phase.STARTING: _busy_line,
        Phase.WAITING: _waiting_line,
        Phase.INVITED: _invited_line,
        Phase.ACCEPTING: _ignore_line,
        Phase.CHAT: _chat_line,
        Phase.LEAVING: _ignore_line,
        Phase.DONE: _ignore_line,
    }

    async def on_end_of_input(self) -> None:
        """Leave cleanly: a chat ends after its queued messages; an invitation is answered no."""
        self.end_of_input = True
        if self.phase is Phase.CHAT:
            self._go(Phase.LEAVING)
            await self.client.quit()
        elif self.phase in (Phase.INVITED, Phase.STARTING):
            await self.client.quit()
        elif self.phase in (Phase.MENU, Phase.ASK_PEER, Phase.WAITING):
            self._go(Phase.DONE)

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: ev.Event) -> None:
        match event:
            case ev.MessageReceived(user=user, text=text):
                self.emit(f"{user}: {text}")
            case ev.Invitation(peer=(host, port), user=user):
                self.notice(f"invitation from {user} at {host}:{port}: accept? (y/n)")
                self._go(Phase.INVITED)
            case ev.ChatStarted(user=user, peer=(host, port)):
                self.notice(f"chat with {user} at {host}:{port} started; type q to leave")
                self._go(Phase.CHAT)
            case ev.PeerError(text=text):
                self.notice(f"error from peer: {text}")
            case ev.ChatEnded():
                host = event.peer[0]
                self.notice(END_NOTICES[event.reason].format(user=event.user or host, host=host))
                for item in event.undelivered:
                    self.notice(f"undelivered: {item.text}")
                self._go(Phase.MENU)
            case ev.MessageDelivered():
                pass


class _LineReader:
    """Reads stdin on a daemon thread, one line per request, so exit never waits for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stream: object) -> None:
        self._loop = loop
        self._stream = stream
        self._want = threading.Event()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=self._run, name="stdin", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._want.wait()
            self._want.clear()
            line = self._stream.readline()  # type: ignore[attr-defined]
            self._loop.call_soon_threadsafe(self._lines.put_nowait, line or None)
            if not line:
                return

    async def readline(self) -> str | None:
        """The next line, or None at end of input."""
        self._want.set()
        return await self._lines.get()


async def _pump_events(client: Client, ui: ChatUI) -> None:
    while ui.phase is not Phase.DONE:
        ui.on_event(await client.next_event())


async def _drive(ui: ChatUI, client: Client, read: Callable[[], object], scripted: bool) -> int:
    """Run input and events together until the user is done; exit status."""
    events = asyncio.ensure_future(_pump_events(client, ui))
    try:
        while ui.phase is not Phase.DONE:
            if scripted and not ui.wants_input:
                ui.changed.clear()
                waiter = asyncio.ensure_future(ui.changed.wait())
                await asyncio.wait([waiter, events], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
            else:
                reader = asyncio.ensure_future(read())  # type: ignore[arg-type]
                await asyncio.wait([reader, events], return_when=asyncio.FIRST_COMPLETED)
                if reader.done():
                    line = reader.result()
                    if line is None:
                        await ui.on_end_of_input()
                    else:
                        await ui.on_line(line)
                else:
                    reader.cancel()
            if events.done():
                events.result()  # raises the ClientError that ended it
    except ClientError as exc:
        ui.notice(f"error: {exc}")
        return 1
    finally:
        events.cancel()
    return 0


async def run_scripted(client: Client, user: str | None, stdin: object = sys.stdin) -> int:
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
    try:
        return await _drive(ui, client, reader.readline, scripted=True)
    finally:
        await client.close()


async def _connect(client: Client, user: str, emit: Callable[[str], None]) -> int:
    try:
        await client.connect(user)
    except ClientError as exc:
        emit(f"* error: {exc}")
        return 2 if "user name" in str(exc) else 1
    emit(f"* connected to {client.daemon[0]} as {user}")
    return 0


async def run_interactive(client: Client, user: str | None) -> int:
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.patch_stdout import patch_stdout
    except ImportError:  # plain fallback: works, but output may interleave with typing
        return await run_scripted(client, user)
    session: PromptSession[str] = PromptSession()
    with patch_stdout():
        code = 2 if user is None else await _connect(client, user, print)
        while code == 2:  # ask again until the name is acceptable
            try:
                user = (await session.prompt_async("user name > ")).strip()
            except (EOFError, KeyboardInterrupt):
                return 0
            code = await _connect(client, user, print)
        if code:
            return code
        ui = ChatUI(client, print)

        async def read() -> str | None:
            try:
                return await session.prompt_async(lambda: ui.prompt)
            except (EOFError, KeyboardInterrupt):
                return None

        ui.notice("type s to start a chat, w to wait for one, q to quit")
        try:
            return await _drive(ui, client, read, scripted=False)
        finally:
            await client.close()
