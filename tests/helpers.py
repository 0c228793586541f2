"""Shared test helpers: sans-IO Nodes wired to each other through a virtual network.

`Net` owns a few `simp.node.Node`s, each at its own address, and a virtual clock `now`.  It
moves every datagram a node wants to send through the real codec (`wire.encode` then the
receiving node's `receive(bytes)`), applies fault rules matched by (from, label, seq, nth),
records a transcript of every datagram and every event, and jumps `now` to the next deadline
(a node's `get_timer()`, a delayed datagram, or a scheduled user action).  No sockets, no sleeps.

    net = Net("alice", "bob")
    net.drop(src="bob", label="ACK")          # lose bob's next ACK
    net.start("alice", "bob"); net.accept("bob")
    net.say("alice", "hi")
    net.run()                                 # until nothing is scheduled any more
    assert net.received("bob") == ["hi"]

On an assertion failure, `net.ladder()` prints the whole exchange.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from simp import events as ev
from simp import wire
from simp.node import Node, NodeConfig
from simp.session import SessionConfig
from simp.wire import Datagram

Address = tuple[str, int]
Action = Literal["drop", "dup", "delay"]
E = TypeVar("E")

# plain SIMP: these helpers pin its behaviour; SIMPX/1 (simp.extension) has tests/test_extension.py
DEFAULT_CONFIG = NodeConfig(session=SessionConfig(timeout=5.0, retries=6, invite_expiry=60.0, linger=3.0),
                            extension=False)


@dataclass(kw_only=True)
class Rule:
    """A fault: `action` applies to the datagrams that match every given field.

    `label` is the ladder name (SYN, SYN+ACK, ACK, FIN, ERR, CHAT).  `nth` counts, from 1, the
    datagrams matching (src, dst, label, seq, where) since the rule was added: an int or a
    collection of ints picks those, None picks every match.  `delay` is how late a delayed
    datagram (or the second copy of a duplicated one) arrives; None holds it until `release()`.
    """

    action: Action
    src: str | None = None
    dst: str | None = None
    label: str | None = None
    seq: int | None = None
    nth: int | Collection[int] | None = 1
    delay: float | None = 0.0
    where: Callable[[Datagram], bool] | None = None
    seen: int = field(default=0, init=False)
    hits: int = field(default=0, init=False)

    def applies(self, src: str, dst: str, dg: Datagram) -> bool:
        if self.src is not None and self.src != src:
            return False
        if self.dst is not None and self.dst != dst:
            return False
        if self.label is not None and self.label != dg.label:
            return False
        if self.seq is not None and self.seq != dg.seq:
            return False
        if self.where is not None and not self.where(dg):
            return False
        self.seen += 1
        if self.nth is None:
            chosen = True
        elif isinstance(self.nth, int):
            chosen = self.seen == self.nth
        else:
            chosen = self.seen in self.nth
        self.hits += chosen
        return chosen


@dataclass(kw_only=True)
class Hop:
    """One datagram on the virtual wire."""

    time: float
    src: str
    dst: str
    dg: Datagram
    fate: str  # delivered, dropped, delayed, held, duplicate
    arrival: float | None = None

    def line(self) -> str:
        when = "" if self.arrival is None or self.arrival == self.time else f" (arrives {self.arrival:g})"
        return f"{self.time:9.3f}  {self.src} -> {self.dst}  {self.dg.describe()}  [{self.fate}{when}]"


@dataclass(order=True)
class _Pending:
    when: float
    order: int
    src: str = field(compare=False)
    dst: str = field(compare=False)
    data: bytes = field(compare=False)


class Net:
    """Nodes named `names`, each connected as a user of the same name (unless `connected=False`)."""

    def __init__(self, *names: str, config: NodeConfig = DEFAULT_CONFIG, connected: bool = True,
                 now: float = 0.0, latency: Callable[[str, str, Datagram], float] | None = None,
                 drop: Callable[[str, str, Datagram], bool] | None = None, keep_order: bool = True) -> None:
        self.config = config
        self.now = now
        self.names = names or ("alice", "bob")
        self.nodes: dict[str, Node] = {}
        self.addresses: dict[str, Address] = {}
        for i, name in enumerate(self.names, start=1):
            self.nodes[name] = Node(config)
            self.addresses[name] = (f"10.0.0.{i}", 7777)
            if connected:
                self.nodes[name].connect_client(name)
        self.rules: list[Rule] = []
        self.transcript: list[Hop] = []
        self.log: dict[str, list[tuple[float, ev.Event]]] = {name: [] for name in self.names}
        self.notes: dict[str, list[str]] = {name: [] for name in self.names}
        self.latency = latency
        self.random_drop = drop
        self.keep_order = keep_order  # with `latency`: a datagram never overtakes an earlier one
        self._later: list[_Pending] = []
        self._held: list[_Pending] = []
        self._actions: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self._msg_ids = itertools.count(1)
        self._last_arrival: dict[tuple[str, str], float] = {}
        self._story: list[Hop | tuple[float, str, ev.Event]] = []  # datagrams and events, in order

    # -- addressing ------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def addr(self, name: str) -> Address:
        return self.addresses[name]

    def name_of(self, address: Address) -> str:
        for name, known in self.addresses.items():
            if known == address:
                return name
        return f"{address[0]}:{address[1]}"

    # -- faults ----------------------------------------------------------------------------

    def add_rule(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def drop(self, **match: object) -> Rule:
        return self.add_rule(Rule(action="drop", **match))  # type: ignore[arg-type]

    def dup(self, **match: object) -> Rule:
        return self.add_rule(Rule(action="dup", **match))  # type: ignore[arg-type]

    def delay(self, **match: object) -> Rule:
        """Deliver late by `delay` seconds; `delay=None` holds the datagram until release()."""
        return self.add_rule(Rule(action="delay", **match))  # type: ignore[arg-type]

    def release(self, *, label: str | None = None, src: str | None = None) -> int:
        """Deliver now the held datagrams (all, or those with `label`/`src`), oldest first."""
        chosen = [p for p in self._held if (label is None or wire.decode(p.data).label == label)
                  and (src is None or p.src == src)]
        for pending in chosen:
            self._held.remove(pending)
            self._deliver(pending.src, pending.dst, pending.data)
        self.pump()
        return len(chosen)

    @property
    def held(self) -> list[Datagram]:
        return [wire.decode(p.data) for p in self._held]

    # -- user commands (each pumps the network afterwards) ---------------------------------

    def start(self, name: str, peer: str) -> None:
        self.nodes[name].start(self.addresses[peer], self.now)
        self.pump()

    def accept(self, name: str) -> None:
        self.nodes[name].accept(self.now)
        self.pump()

    def decline(self, name: str) -> None:
        self.nodes[name].decline(self.now)
        self.pump()

    def say(self, name: str, text: str, msg_id: int | None = None) -> int:
        ident = next(self._msg_ids) if msg_id is None else msg_id
        self.nodes[name].say(ident, text, self.now)
        self.pump()
        return ident

    def quit(self, name: str) -> None:
        self.nodes[name].quit(self.now)
        self.pump()

    def disconnect(self, name: str) -> None:
        self.nodes[name].disconnect_client(self.now)
        self.pump()

    def shutdown(self, name: str) -> None:
        self.nodes[name].shutdown(self.now)
        self.pump()

    def at(self, when: float, action: Callable[[], object]) -> None:
        """Run `action` (a user command, typically) when the clock reaches `when`."""
        heapq.heappush(self._actions, (when, next(self._order), action))

    def inject(self, src: str | Address, dst: str, dg: Datagram | bytes) -> None:
        """Deliver a datagram as if sent from `src` (a node name or any address), then pump."""
        data = dg if isinstance(dg, bytes) else wire.encode(dg)
        source = self.addresses[src] if isinstance(src, str) else src
        self.nodes[dst].receive(data, source, self.now)
        self.pump()

    # -- the wire --------------------------------------------------------------------------

    def pump(self) -> None:
        """Move datagrams and events until no node has anything more to say at this instant."""
        wire_now: deque[_Pending] = deque()
        while True:
            for name, node in self.nodes.items():
                for address, dg in node.datagrams_to_send():
                    wire_now.extend(self._transmit(name, self.name_of(address), dg))
                for event in node.events():
                    self.log[name].append((self.now, event))
                    self._story.append((self.now, name, event))
                self.notes[name].extend(node.notes())
            if not wire_now:
                return
            pending = wire_now.popleft()
            self._deliver(pending.src, pending.dst, pending.data)

    def _transmit(self, src: str, dst: str, dg: Datagram) -> list[_Pending]:
        """Apply the faults to one datagram; returns the copies that arrive at once."""
        data = wire.encode(dg)
        rule = next((r for r in self.rules if r.applies(src, dst, dg)), None)
        hop = Hop(time=self.now, src=src, dst=dst, dg=dg, fate="delivered")
        self.transcript.append(hop)
        self._story.append(hop)
        if rule is None and self.random_drop is not None and self.random_drop(src, dst, dg):
            hop.fate = "dropped"
            return []
        if rule is not None and rule.action == "drop":
            hop.fate = "dropped"
            return []
        if rule is not None and rule.action == "delay":
            return self._postpone(hop, data, rule.delay)
        arrival = self.now
        if self.latency is not None:
            arrival = self.now + self.latency(src, dst, dg)
            if self.keep_order:
                arrival = max(arrival, self._last_arrival.get((src, dst), 0.0))
                self._last_arrival[src, dst] = arrival
        hop.arrival = arrival
        now_copies = [] if arrival > self.now else [_Pending(self.now, 0, src, dst, data)]
        if arrival > self.now:
            heapq.heappush(self._later, _Pending(arrival, next(self._order), src, dst, data))
        if rule is not None and rule.action == "dup":
            copy = Hop(time=self.now, src=src, dst=dst, dg=dg, fate="duplicate")
            self.transcript.append(copy)
            self._story.append(copy)
            if rule.delay == 0.0 and arrival == self.now:
                copy.arrival = self.now
                now_copies.append(_Pending(self.now, 0, src, dst, data))
            else:
                self._postpone(copy, data, None if rule.delay is None else arrival - self.now + rule.delay)
        return now_copies

    def _postpone(self, hop: Hop, data: bytes, delay: float | None) -> list[_Pending]:
        pending = _Pending(self.now + (delay or 0.0), next(self._order), hop.src, hop.dst, data)
        if delay is None:
            hop.fate = "held" if hop.fate == "delivered" else hop.fate + ", held"
            self._held.append(pending)
        else:
            hop.fate = "delayed" if hop.fate == "delivered" else hop.fate
            hop.arrival = pending.when
            heapq.heappush(self._later, pending)
        return []

    def _deliver(self, src: str, dst: str, data: bytes) -> None:
        node = self.nodes.get(dst)
        if node is not None:
            node.receive(data, self.addresses[src], self.now)

    # -- time ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        candidates = [t for t in (n.get_timer() for n in self.nodes.values()) if t is not None]
        if self._later:
            candidates.append(self._later[0].when)
        if self._actions:
            candidates.append(self._actions[0][0])
        return min(candidates, default=None)

    def advance(self, until: float | None = None) -> bool:
        """Jump to the next deadline (not beyond `until`) and process it; False when idle."""
        deadline = self.next_deadline()
        if deadline is None or (until is not None and deadline > until):
            if until is not None and until > self.now:
                self.now = until
            return False
        self.now = max(self.now, deadline)
        while self._later and self._later[0].when <= self.now:
            pending = heapq.heappop(self._later)
            self._deliver(pending.src, pending.dst, pending.data)
            self.pump()
        while self._actions and self._actions[0][0] <= self.now:
            _, _, action = heapq.heappop(self._actions)
            action()
            self.pump()
        for node in self.nodes.values():
            timer = node.get_timer()
            if timer is not None and timer <= self.now:
                node.handle_timer(self.now)
        self.pump()
        return True

    def run(self, until: float | None = None, max_steps: int = 100_000) -> None:
        """Advance until nothing is scheduled (or until the clock would pass `until`)."""
        for _ in range(max_steps):
            if not self.advance(until):
                return
        raise AssertionError(f"still busy after {max_steps} steps at t={self.now}\n{self.ladder()}")

    def run_until(self, done: Callable[[], bool], limit: float = 3600.0) -> None:
        """Advance until `done()` holds; fail (with the ladder) if the clock passes `limit`."""
        while not done():
            if not self.advance(limit):
                raise AssertionError(f"condition not reached by t={self.now}\n{self.ladder()}")

    # -- what happened ---------------------------------------------------------------------

    def story(self) -> list[Hop | tuple[float, str, ev.Event]]:
        """Every datagram put on the wire and every event, in the order they happened."""
        return list(self._story)

    def events(self, name: str, kind: type[E] | None = None) -> list[E]:
        return [e for _, e in self.log[name] if kind is None or isinstance(e, kind)]  # type: ignore[misc]

    def timed_events(self, name: str, kind: type[E]) -> list[tuple[float, E]]:
        return [(t, e) for t, e in self.log[name] if isinstance(e, kind)]  # type: ignore[misc]

    def received(self, name: str) -> list[str]:
        """Texts shown to `name`'s user, in order."""
        return [e.text for e in self.events(name, ev.MessageReceived)]

    def delivered(self, name: str) -> list[int]:
        """Ids of `name`'s messages reported delivered, in order."""
        return [e.msg_id for e in self.events(name, ev.MessageDelivered)]

    def ended(self, name: str) -> list[ev.ChatEnded]:
        return self.events(name, ev.ChatEnded)

    def reasons(self, name: str) -> list[ev.EndReason]:
        return [e.reason for e in self.ended(name)]

    def undelivered(self, name: str) -> list[str]:
        return [u.text for e in self.ended(name) for u in e.undelivered]

    def sent(self, src: str | None = None, label: str | None = None, seq: int | None = None,
             dst: str | None = None) -> list[Hop]:
        """Datagrams put on the wire (duplicate copies made by the network not counted)."""
        return [h for h in self.transcript if h.fate != "duplicate"
                and (src is None or h.src == src) and (dst is None or h.dst == dst)
                and (label is None or h.dg.label == label) and (seq is None or h.dg.seq == seq)]

    def times(self, src: str, label: str) -> list[float]:
        return [h.time for h in self.sent(src, label)]

    def is_free(self, name: str) -> bool:
        """No chat, no invitation, nothing lingering: the node has forgotten everything."""
        node = self.nodes[name]
        self.pump()
        return node.current is None and node.get_timer() is None

    def ladder(self) -> str:
        """The whole exchange, one line per datagram or event, in the order it happened."""
        return "\n".join(item.line() if isinstance(item, Hop) else f"{item[0]:9.3f}  {item[1]}: {item[2]}"
                         for item in self._story)


def establish(net: Net, initiator: str = "alice", responder: str = "bob") -> None:
    """Run the handshake to completion with whatever faults are installed."""
    shown = len(net.events(responder, ev.Invitation))
    net.start(initiator, responder)
    net.run_until(lambda: len(net.events(responder, ev.Invitation)) > shown)
    net.accept(responder)
    net.run_until(lambda: bool(net.events(initiator, ev.ChatStarted)) and
                  bool(net.events(responder, ev.ChatStarted)))
