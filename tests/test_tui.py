"""The client front end's state machine, driven with a fake client (no sockets)."""

from __future__ import annotations

import asyncio
import io

import pytest

from sim.loopback import new_block
from simp import events as ev
from simp import tui
from simp.client import Client, ClientError
from simp.daemon import Daemon, DaemonConfig
from simp.tui import (
    MAX_LINE,
    MENU_HINT,
    PROMPTS,
    TUI_HINT,
    ChatUI,
    Phase,
    _LineReader,
    parse_peer,
    run_plain,
    shown,
)

PEER = ("127.0.0.2", 7777)


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def start(self, host: str, port: int) -> None:
        self.calls.append(("start", host, str(port)))

    async def wait(self) -> None:
        self.calls.append(("wait",))

    async def accept(self) -> None:
        self.calls.append(("accept",))

    async def decline(self) -> None:
        self.calls.append(("decline",))

    async def say(self, text: str) -> int:
        if not text.isascii():
            raise ClientError("only ASCII text can be sent in SIMP")
        self.calls.append(("say", text))
        return len(self.calls)

    async def quit(self) -> None:
        self.calls.append(("quit",))


def make() -> tuple[ChatUI, FakeClient, list[str]]:
    out: list[str] = []
    client = FakeClient()
    return ChatUI(client, out.append), client, out  # type: ignore[arg-type]


def lines(ui: ChatUI, *texts: str) -> None:
    async def feed() -> None:
        for text in texts:
            await ui.on_line(text + "\n")
    asyncio.run(feed())


def test_start_asks_for_the_peer_then_invites_it() -> None:
    ui, client, out = make()
    lines(ui, "s", "127.0.0.2:7000")
    assert client.calls == [("start", "127.0.0.2", "7000")]
    assert ui.phase is Phase.STARTING and not ui.wants_input
    ui.on_event(ev.ChatStarted(peer=PEER, user="bob"))
    assert ui.phase is Phase.CHAT and ui.wants_input
    lines(ui, "hello", "q")
    assert client.calls[1:] == [("say", "hello"), ("quit",)]
    ui.on_event(ev.MessageDelivered(msg_id=2))
    assert out[-1] == "* delivered: hello"
    ui.on_event(ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.QUIT))
    assert ui.phase is Phase.MENU
    assert out[-1] == "* chat ended"


def test_invitation_is_shown_at_the_menu_and_the_next_line_answers_it() -> None:
    ui, client, out = make()
    ui.on_event(ev.Invitation(peer=PEER, user="bob"))
    assert out == ["* invitation from bob at 127.0.0.2:7777: accept? (y/n)"]
    lines(ui, "y")
    assert client.calls == [("accept",)]
    lines(ui, "too early")  # the chat has not started yet: said, not dropped
    assert out[-1] == "* not sent (no chat at the moment): too early"
    ui.on_event(ev.MessageReceived(user="bob", text="hi"))
    assert out[-1] == "bob: hi"


def test_decline_then_back_at_the_menu() -> None:
    ui, client, out = make()
    lines(ui, "w")
    assert ui.phase is Phase.WAITING and not ui.wants_input
    ui.on_event(ev.Invitation(peer=PEER, user="bob"))
    lines(ui, "maybe", "n")
    assert "* answer y or n (invitation from bob); 'maybe' not used" in out
    assert client.calls == [("wait",), ("decline",)]
    ui.on_event(ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.DECLINED))
    assert ui.phase is Phase.MENU


def test_errors_and_undelivered_messages_are_notices() -> None:
    ui, _, out = make()
    ui.on_event(ev.ChatStarted(peer=PEER, user="bob"))
    lines(ui, "gr\u00fc\u00df")
    assert out[-1] == "* error: only ASCII text can be sent in SIMP; not sent: gr\u00fc\u00df"
    undelivered = (ev.Undelivered(msg_id=3, text="lost one"),)
    ui.on_event(ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.NOT_ANSWERING,
                             undelivered=undelivered))
    assert out[-2:] == ["* peer stopped answering: chat with bob ended", "* undelivered: lost one"]


def test_end_of_input_in_a_chat_quits_cleanly_then_finishes() -> None:
    ui, client, _ = make()
    ui.on_event(ev.ChatStarted(peer=PEER, user="bob"))
    asyncio.run(ui.on_end_of_input())
    assert client.calls == [("quit",)] and ui.phase is Phase.LEAVING
    ui.on_event(ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.QUIT))
    assert ui.phase is Phase.DONE


@pytest.mark.parametrize("text, expected", [("127.0.0.2", ("127.0.0.2", 7777)),
                                            ("10.1.2.3:9000", ("10.1.2.3", 9000))])
def test_peer_address_parsing(text: str, expected: tuple[str, int]) -> None:
    assert parse_peer(text) == expected


@pytest.mark.parametrize("text", ["bob", "1.2.3", "1.2.3.400", "1.2.3.4:0", "1.2.3.4:x"])
def test_bad_peer_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_peer(text)


# -- what the peer sends is escaped; names come from the handshake ------------------------------


def test_a_peer_cannot_forge_a_line_or_a_notice() -> None:
    ui, _, out = make()
    ui.on_event(ev.Invitation(peer=PEER, user="* bob\x1b[2J"))
    assert out[-1] == '* invitation from "* bob\\x1b[2J" at 127.0.0.2:7777: accept? (y/n)'
    ui.on_event(ev.ChatStarted(peer=PEER, user="bob"))
    ui.on_event(ev.MessageReceived(user="mallory", text="hi\n* bob left the chat\r"))
    assert out[-1] == "bob: hi\\n* bob left the chat\\r"  # one line, and the handshake's name
    ui.on_event(ev.PeerError(peer=PEER, text="busy\nalice: fake"))
    assert out[-1] == "* error from peer: busy\\nalice: fake"
    assert shown("tab\there\x7f") == "tab\\there\\x7f"


@pytest.mark.parametrize("name", [" * bob", "ok: fake", "bob at 10.0.0.1:7777", "bob "])
def test_a_name_that_could_pass_for_more_of_the_line_is_quoted(name: str) -> None:
    ui, _, out = make()
    ui.on_event(ev.Invitation(peer=PEER, user=name))
    assert out[-1] == f'* invitation from "{name}" at 127.0.0.2:7777: accept? (y/n)'
    ui.on_event(ev.ChatStarted(peer=PEER, user=name))
    ui.on_event(ev.MessageReceived(user=name, text="hi"))
    assert out[-1] == f'"{name}": hi'


# -- delivery state ------------------------------------------------------------------------------


def test_each_own_line_is_pending_until_acknowledged_then_delivered_undelivered_or_not_confirmed() -> None:
    out: list[str] = []
    ui = ChatUI(FakeClient(), out.append, echo=True)  # type: ignore[arg-type]
    ui.on_event(ev.ChatStarted(peer=PEER, user="bob"))
    lines(ui, "one", "two", "three")
    assert out[-3:] == ["[pending] you: one", "[pending] you: two", "[pending] you: three"]
    assert ui.prompt == "(3 pending) > "
    ui.on_event(ev.MessageDelivered(msg_id=1))
    assert out[-1] == "[delivered] you: one"
    ui.on_event(ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.NOT_ANSWERING,
                             undelivered=(ev.Undelivered(msg_id=2, text="two", sent=True),
                                          ev.Undelivered(msg_id=3, text="three"))))
    assert out[-3:] == ["* peer stopped answering: chat with bob ended", "[not confirmed] you: two",
                        "[undelivered] you: three"]
    ui.on_event(ev.MessageDelivered(msg_id=2))  # the peer's late ACK: it was shown after all
    assert out[-1] == "[delivered] you: two (confirmed after the chat ended)"


def test_an_acknowledgement_that_overtakes_its_reply_still_marks_the_line_delivered() -> None:
    ui, _, out = make()
    ui.on_event(ev.ChatStarted(peer=PEER, user="bob"))
    ui.on_event(ev.MessageDelivered(msg_id=1))  # the event was handled before the Say reply
    lines(ui, "quick")
    assert out[-1] == "* delivered: quick"
    assert ui.pending_messages == []


# -- lines that answer a prompt that is gone -----------------------------------------------------


def test_a_line_typed_for_a_chat_that_ended_is_reported_and_not_run() -> None:
    ui, client, out = make()
    ui.on_event(ev.ChatStarted(peer=PEER, user="bob"))
    ui.on_event(ev.ChatEnded(peer=PEER, user="bob", reason=ev.EndReason.PEER_LEFT))
    asyncio.run(ui.on_line("q\n", typed_in=Phase.CHAT))
    assert ui.phase is Phase.MENU and client.calls == []
    assert out[-1].startswith("* not sent (the chat had ended): q")


def test_an_invitation_while_the_peer_address_is_typed_keeps_the_address_and_asks_for_y_or_n() -> None:
    ui, client, out = make()
    lines(ui, "s")
    ui.on_event(ev.Invitation(peer=PEER, user="bob"))
    asyncio.run(ui.on_line("127.0.0.9\n", typed_in=Phase.ASK_PEER))
    assert out[-1] == "* invitation to 127.0.0.9 not sent: bob invited you first; answer y or n"
    assert ui.phase is Phase.INVITED and client.calls == []
    lines(ui, "y")
    assert client.calls == [("accept",)]


def test_the_inviter_is_told_its_own_invitation_was_withdrawn() -> None:
    ui, client, out = make()
    lines(ui, "s", "127.0.0.2", "q")
    assert client.calls[-1] == ("quit",) and ui.phase is Phase.WITHDRAWING
    ui.on_event(ev.ChatEnded(peer=PEER, user="", reason=ev.EndReason.WITHDRAWN_BY_US))
    assert out[-1] == "* invitation to 127.0.0.2 withdrawn" and ui.phase is Phase.MENU


def test_an_over_long_line_is_refused_while_it_is_read() -> None:
    async def read_all(text: str) -> list[str | None]:
        reader = _LineReader(asyncio.get_running_loop(), io.StringIO(text))
        return [await reader.readline() for _ in range(3)]

    got = asyncio.run(read_all("x" * (MAX_LINE + 10) + "\nnext\n"))
    assert got == [_LineReader.TOO_LONG, "next\n", None]
    assert asyncio.run(read_all("x" * MAX_LINE + "\n"))[0] == "x" * MAX_LINE + "\n"


# -- the plain terminal client (no prompt_toolkit) -----------------------------------------------


def test_the_plain_client_prompts_and_says_how_to_get_the_full_ui(capsys: pytest.CaptureFixture[str]) -> None:
    prefix = new_block()

    async def main() -> int:
        daemon = Daemon(DaemonConfig(host=prefix + "1"))
        await daemon.start()
        try:
            return await run_plain(Client(prefix + "1"), None, io.StringIO("bad\tname\nalice\nz\nq\n"))
        finally:
            daemon.close()
            await daemon.wait_closed()

    assert asyncio.run(main()) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"* {TUI_HINT}\nuser name > ")
    assert "* error: invalid user name" in out
    assert f"* connected to {prefix}1 as alice" in out
    assert f"* {MENU_HINT}\n{PROMPTS[Phase.MENU]}" in out
    assert "* unknown command 'z'" in out
    assert out.rstrip().endswith("* bye")


# -- the terminal UI (prompt_toolkit), keys through a pipe ----------------------------------------


def test_the_terminal_ui_refuses_an_over_long_paste_as_it_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    pt_input = pytest.importorskip("prompt_toolkit.input")
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.output import DummyOutput

    printed: list[str] = []
    monkeypatch.setattr(tui, "print", lambda *a, **_: printed.append(" ".join(map(str, a))), raising=False)
    prefix = new_block()

    async def main() -> int:
        daemon = Daemon(DaemonConfig(host=prefix + "1"))
        await daemon.start()

        async def keys(pipe) -> None:  # type: ignore[no-untyped-def]
            paste = "\x1b[200~" + "x" * (MAX_LINE + 100) + "\x1b[201~"
            for i in range(0, len(paste), 8192):  # the pipe holds 64 KiB: never block the loop
                pipe.send_text(paste[i:i + 8192])
                await asyncio.sleep(0.01)
            for line in ("\r", "z\r", "q\r"):
                await asyncio.sleep(0.2)
                pipe.send_text(line)

        try:
            with pt_input.create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
                typing = asyncio.ensure_future(keys(pipe))
                code = await asyncio.wait_for(tui.run_interactive(Client(prefix + "1"), "alice"), 30)
                await typing
                return code
        finally:
            daemon.close()
            await daemon.wait_closed()

    assert asyncio.run(main()) == 0
    assert f"* error: message too long: more than {MAX_LINE} characters; discarded" in printed
    assert not any("xxx" in line for line in printed)  # nothing of it was used or sent
    assert printed[-2:] == [f"* unknown command 'z': {MENU_HINT}", "* bye"]
