"""The checker's properties, in stateright's three kinds, and the bookkeeping they need.

*Always* properties are judged at every transition, from the events the nodes emit:

- `at-most-once`: no message is shown to its receiver twice;
- `in-order`: a sender's messages are shown in the order they were said;
- `not-invented`: only messages the peer said (to this receiver) are shown;
- `delivered-means-shown`: a "delivered" notice comes only for a message the peer was shown
  (the one-bit known limit shows up here first: a stale ACK 0 acknowledges a lost message);
- `shown-or-undelivered`: a message is never both shown to the peer and reported undelivered;
- `chats-isolated`: nothing of chat k changes chat k+1: a message said in a chat that has ended
  for its sender is never shown in a chat its receiver started after that end, and a notice that
  blames the peer ("peer left", "declined", "invitation withdrawn") comes only if that peer ended,
  declined or withdrew something since this side's last chat ended or its own invitation began.

*Eventually* properties are judged on every path that ends (no transition left): both daemons
free (`daemons-free`), and every message shown or reported undelivered to its sender
(`every-message-accounted`).  *Sometimes* properties need one example each in the whole run:
`chat-starts`, `message-delivered`, `decline-seen`; a run without one fails it, which guards
against a model that is vacuous (e.g. a user who can never act).
"""

from __future__ import annotations

from dataclasses import dataclass

ALWAYS = ("at-most-once", "in-order", "not-invented", "delivered-means-shown", "shown-or-undelivered",
          "chats-isolated")
EVENTUALLY = ("daemons-free", "every-message-accounted")
SOMETIMES = ("chat-starts", "message-delivered", "decline-seen")
KIND = {**dict.fromkeys(ALWAYS, "always"), **dict.fromkeys(EVENTUALLY, "eventually"),
        **dict.fromkeys(SOMETIMES, "sometimes")}
# end reasons that say the peer did something: true only if the peer did end, decline or withdraw
BLAMING = frozenset({"PEER_LEFT", "DECLINED", "WITHDRAWN"})


@dataclass(frozen=True, slots=True)
class Violation:
    prop: str
    text: str

    @property
    def kind(self) -> str:
        return KIND[self.prop]
