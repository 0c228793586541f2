"""What a daemon tells its user: the events a session produces and the client receives.

These frozen dataclasses are the shared vocabulary of the session (which produces them), the
client-daemon protocol (which carries them over UDP 7778) and the client library (which hands
them to the terminal UI or a test).  `peer` is the peer daemon's (host, port).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

Address = tuple[str, int]


class EndReason(enum.IntEnum):
    """Why a chat (or an attempt to start one) ended."""

    QUIT = 1  # our user ended it and the peer acknowledged
    PEER_LEFT = 2  # the peer sent FIN
    NOT_ANSWERING = 3  # retries ran out
    NO_ANSWER = 4  # our invitation expired unanswered
    DECLINED = 5  # the peer declined our invitation
    REFUSED = 6  # the peer answered ERR (busy, no user) then FIN
    SHUTDOWN = 7  # our daemon is stopping or our client went away
    WITHDRAWN = 8  # an invitation to us was abandoned by the inviter (also after our accept,
    # before the chat began: its FIN before the handshake's ACK) or expired
    WITHDRAWN_BY_US = 9  # our user withdrew our invitation (the inviter's side of WITHDRAWN)
    UNCLEAR = 10  # our invitation expired after a FIN 0 that plain SIMP cannot tell apart: the
    # peer's decline, or a re-sent copy of the previous chat's FIN (Session._on_fin_refused)

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    EndReason.QUIT: "chat ended",
    EndReason.PEER_LEFT: "peer left",
    EndReason.NOT_ANSWERING: "peer stopped answering",
    EndReason.NO_ANSWER: "no answer",
    EndReason.DECLINED: "declined",
    EndReason.REFUSED: "refused",
    EndReason.SHUTDOWN: "daemon shutting down",
    EndReason.WITHDRAWN: "invitation withdrawn",
    EndReason.WITHDRAWN_BY_US: "our invitation withdrawn",
    EndReason.UNCLEAR: "no clear answer",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    peer: Address
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatStarted:
    peer: Address
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    user: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDelivered:
    """The peer acknowledged our message `msg_id` (the id the client gave it).  Usually during the
    chat; it may also follow the ChatEnded that listed the message as sent but not confirmed."""

    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerError:
    """The peer daemon answered ERR; `text` is its error text."""

    peer: Address
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Undelivered:
    """One of our messages the peer did not acknowledge before the chat ended.

    `sent` False: it never left our daemon, so it is undelivered for sure.  `sent` True: it was
    sent and its ACK had not come: the peer's user may have been shown it ("not confirmed").
    Its ACK may still come after the chat ended (the peer, leaving or lingering, acknowledges
    only what it showed); then a MessageDelivered with the same `msg_id` follows the ChatEnded.
    """

    msg_id: int
    text: str
    sent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatEnded:
    """The chat, invitation or attempt is over; `undelivered` lists our messages not delivered."""

    peer: Address
    user: str
    reason: EndReason
    undelivered: tuple[Undelivered, ...] = ()

    @property
    def text(self) -> str:
        return self.reason.text


Event = Invitation | ChatStarted | MessageReceived | MessageDelivered | PeerError | ChatEnded
