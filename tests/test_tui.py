"""The client front end's state machine, driven with a fake client (no sockets)."""

from __future__ import annotations

import asyncio

import pytest

from simp import events as ev
from simp.client import ClientError
from simp.tui import ChatUI, Phase, parse_peer

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
