"""From a counterexample path to a scenario that fails the same way on real daemons.

The model's path says only in which order things happen between timer deadlines.  To replay
it, `timeline` runs the path again on fresh, unnormalised Nodes with concrete times:

- a timer step happens exactly at the node's deadline (a real daemon's timer fires there);
- every other step gets a time strictly between its neighbours: between two timer steps of the
  same instant, evenly spaced; after the last one, `spacing` apart.  Offsets from the model's
  clock therefore stay under half a timeout, and a timer set by a step fires at the same offset
  one timeout later, so deadlines the model fired in set order fire in that order here too.

The replay checks, step by step, that the nodes send and report exactly what the model's nodes
did (`ReplayError` otherwise).  Each datagram the daemons send is then pinned by a fault rule
that matches it by sender, receiver and label and fires on its `nth` occurrence: `drop`, or
`delay` by (arrival - sending), with `duplicate: {gap}` first when a copy arrives too.  User
steps become scenario steps separated by `sleep`s.  The expectations state the correct outcome
(every message said delivered once, in order; daemons free when that was the violation), so
`python -m sim run` fails, and `harness_violations` names the property the run broke, which must
be the model's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sim.check.bfs import Counterexample
from sim.check.model import HAS_EXTENSION, NAMES, Action, Bounds, Model, fresh_nodes, text_of
from simp import events as ev
from simp import wire

SPACING = 0.04  # in timeouts: time between steps after the last timer of an instant


class ReplayError(RuntimeError):
    """The concrete replay of a model path did not behave as the model did."""


@dataclass
class Sent:
    """One datagram a daemon sent during the replay, and what the network did with it."""

    src: int
    dst: int
    data: bytes
    at: float
    nth: int  # among datagrams with the same sender, receiver and label
    arrivals: list[float] = field(default_factory=list)
    dropped: bool = False

    @property
    def label(self) -> str:
        return wire.decode(self.data).label


@dataclass
class Timeline:
    steps: list[tuple[float, Action, str]]  # (time, action, what it caused)
    sent: list[Sent]
    end: float
    notices: dict[str, list[str]] = field(default_factory=dict)  # per host, as the harness names them


def timeline(model: Model, cx: Counterexample, spacing: float = SPACING) -> Timeline:
    """Run `cx.path` on fresh nodes at concrete times; raises ReplayError if they disagree with the model."""
    nodes = fresh_nodes(model.bounds)
    addresses, index = model.table.addresses, model.table.index
    gap = spacing * model.bounds.timeout
    sent: list[Sent] = []
    counts: dict[tuple[int, int, str], int] = {}
    flight: dict[tuple[int, int], list[int]] = {}
    strays: list[int] = []
    steps: list[tuple[float, Action, str]] = []
    state, last = model.initial(), 0.0
    notices: dict[str, list[str]] = {name: [] for name in NAMES[:model.bounds.hosts]}
    for k, action in enumerate(cx.path):
        node = nodes[action.node]
        now = _time_of(nodes, cx.path, k, last, gap)
        if now <= last and k > 0 and not (action.kind == "timer" and now == last):
            raise ReplayError(f"step {k + 1} ({action.describe()}) has no room: {now:.4f}s is not after "
                              f"{last:.4f}s")
        state, expected = _model_step(model, state, action)
        if action.kind == "timer":
            node.handle_timer(now)
        elif action.kind in NETWORK:
            queue = flight.get((action.src, action.node), [])
            if action.kind == "stray":
                pick = next(j for j in strays if (sent[j].src, sent[j].dst, sent[j].data)
                            == (action.src, action.node, action.data))
                strays.remove(pick)
            else:
                position = action.position if action.kind == "reorder" else 0
                pick = queue[position]
                strays.extend(queue[:position])
                del queue[:position + 1]
            if action.kind == "drop":
                sent[pick].dropped = True
            else:
                sent[pick].arrivals.append(now)
                if action.kind == "duplicate":
                    strays.append(pick)
                node.receive(sent[pick].data, addresses[action.src], now)
        elif action.kind == "start":
            node.start(addresses[action.arg], now)
        elif action.kind == "say":
            node.say(action.arg + 1, text_of(action.arg // 1000, action.arg % 1000), now)
        else:
            getattr(node, action.kind)(now)
        sends = tuple((index[a], wire.encode(dg)) for a, dg in node.datagrams_to_send() if a in index)
        events = tuple(node.events())
        node.notes()
        if (sends, events) != expected:
            raise ReplayError(f"step {k + 1} ({action.describe()}) at {now:.4f}s: the daemon did "
                              f"[{_brief(sends, events)}], the model [{_brief(*expected)}]")
        for dst, data in sends:
            label = wire.decode(data).label
            counts[(action.node, dst, label)] = counts.get((action.node, dst, label), 0) + 1
            flight.setdefault((action.node, dst), []).append(len(sent))
            sent.append(Sent(action.node, dst, data, now, counts[(action.node, dst, label)]))
        steps.append((now, action, _brief(sends, events)))
        notices[NAMES[action.node]] += [notice_kind(e) for e in events]
        last = now
    return Timeline(steps, sent, last, notices)


def notice_kind(e: ev.Event) -> str:
    """The event as the harness's notices name it (sim.runner's Seen.kind)."""
    if isinstance(e, ev.ChatEnded):
        return e.reason.text
    return {ev.Invitation: "invitation", ev.ChatStarted: "chat started", ev.MessageReceived: "message",
            ev.MessageDelivered: "delivered", ev.PeerError: "error"}.get(type(e), type(e).__name__)


NETWORK = frozenset({"deliver", "duplicate", "reorder", "stray", "drop"})


def _time_of(nodes: list, path: list[Action], k: int, last: float, gap: float) -> float:
    """A timer step happens at its deadline; any other step after `last`, before the next deadline."""
    action = path[k]
    if action.kind == "timer":
        due = nodes[action.node].get_timer()
        if due is None:
            raise ReplayError(f"step {k + 1} ({action.describe()}): no timer is set")
        return due
    others = 1  # steps from here to the next timer step, this one included
    upper = None
    for later in path[k + 1:]:
        if later.kind == "timer":
            if later.advance == 0:  # the same instant: that node's deadline is already fixed
                upper = nodes[later.node].get_timer()
            break
        others += 1
    if upper is None:
        pending = [t for n in nodes if (t := n.get_timer()) is not None and t > last]
        upper = min(pending, default=None)
    if upper is None:
        return last + gap
    return last + min(gap, (upper - last) / (others + 1))


def _model_step(model: Model, state: tuple, action: Action) -> tuple[tuple, tuple]:
    """The model's successor of `state` by `action`, and (datagrams sent, events) of the acting node."""
    wanted = (action.kind, action.node, action.src, action.data, action.position, action.advance, action.arg)
    for step, successor, _ in model.successors(state):
        if step != wanted:
            continue
        if action.kind == "drop":
            return successor, ((), ())
        nid = state[0][action.node]
        if action.kind == "timer" and action.advance > 0:
            nid = model.table.shift(nid, action.advance)
        result = model.table.step(nid, _input_of(action))
        assert result is not None
        return successor, (result[1], result[2])
    raise ReplayError(f"{action.describe()} is not a step the model can take there")


def _input_of(action: Action) -> tuple:
    if action.kind in NETWORK:
        return ("recv", action.data, action.src)
    if action.kind == "start":
        return ("start", action.arg)
    if action.kind == "say":
        return ("say", action.arg, text_of(action.arg // 1000, action.arg % 1000))
    return (action.kind,)


def _brief(sends: tuple, events: tuple) -> str:
    parts = [f"-> {NAMES[d]} {wire.decode(b).describe()}" for d, b in sends]
    parts += [_event_text(e) for e in events]
    return "; ".join(parts)


def _event_text(e: ev.Event) -> str:
    if isinstance(e, ev.MessageReceived):
        return f'shown "{e.text}"'
    if isinstance(e, ev.MessageDelivered):
        return f"told #{e.msg_id} delivered"
    if isinstance(e, ev.ChatEnded):
        lost = ", ".join(u.text for u in e.undelivered)
        return f"told {e.reason.text!r}" + (f" (undelivered: {lost})" if lost else "")
    return type(e).__name__


# -- the scenario ------------------------------------------------------------------------------------


def _seconds(t: float) -> str:
    return f"{t:.6f}".rstrip("0").rstrip(".") + "s"


def fault_rules(line: Timeline) -> list[str]:
    rules = []
    for s in line.sent:
        where = f"match: {{from: {NAMES[s.src]}, to: {NAMES[s.dst]}, op: {s.label}}}, nth: {s.nth}"
        arrivals = sorted(s.arrivals)
        if not arrivals:
            if s.dropped:
                rules.append(f"{{{where}, drop: true}}")
            else:  # still in flight when the path ended: lost, so the violation stays visible at the end
                rules.append(f"{{{where}, drop: true}}")
            continue
        if len(arrivals) > 2:
            raise ReplayError("a datagram arrived more than twice; the scenario language cannot say so")
        if len(arrivals) == 2:
            rules.append(f"{{{where}, duplicate: {{copies: 1, gap: {_seconds(arrivals[1] - arrivals[0])}}}}}")
        if arrivals[0] > s.at:
            rules.append(f"{{{where}, delay: {_seconds(arrivals[0] - s.at)}}}")
    return rules


def scenario_yaml(model: Model, cx: Counterexample, line: Timeline) -> str:
    b: Bounds = model.bounds
    hosts = NAMES[:b.hosts]
    said: dict[int, list[str]] = {i: [] for i in range(b.hosts)}
    steps = [f"{h}: wait" for h in hosts]
    last = 0.0
    for t, action, _ in line.steps:
        if action.kind not in ("start", "accept", "decline", "say", "quit"):
            continue
        if t > last:
            steps.append(f"sleep: {_seconds(t - last)}")
            last = t
        who = NAMES[action.node]
        if action.kind == "start":
            steps.append(f"{who}: start {NAMES[action.arg]}")
        elif action.kind == "say":
            text = text_of(action.arg // 1000, action.arg % 1000)
            steps.append(f"{who}: say {text}")
            receiver = _receiver(line, action)
            if receiver is not None:
                said[receiver].append(text)
        else:
            steps.append(f"{who}: {action.kind}")
    steps.append(f"sleep: {_seconds(line.end - last + b.timeout)}")
    ladder = "\n".join(f"{t:9.4f}s  {a.describe()}" + (f"   [{caused}]" if caused else "")
                       for t, a, caused in line.steps)
    lines = [f"name: {json.dumps(f'check: {cx.violation.prop}: {cx.violation.text}')}",
             "description: |",
             f"  Found by python -m sim check ({b.describe()}): the shortest path ({len(cx.path)} steps)",
             f"  to a violation of {cx.violation.prop!r}. Every datagram is pinned by a fault rule",
             "  (nth match: drop, delay, duplicate) so the real daemons follow the model's path:",
             *(f"  {row}" for row in ladder.splitlines()),
             f"timeout: {_seconds(b.timeout)}", f"retries: {b.retries}",
             f"invite_expiry: {_seconds(b.invite_expiry)}", "time_limit: 30m",
             _hosts_line(b)]
    rules = fault_rules(line)
    lines += ["faults:" if rules else "faults: []", *(f"  - {r}" for r in rules)]
    lines += ["steps:", *(f"  - {s}" for s in steps), "expect:", "  delivered:"]
    lines += [f"    {NAMES[i]}: [{', '.join(texts)}]" for i, texts in said.items()]
    if cx.violation.prop == "daemons-free":
        lines.append(f"  final: {{{', '.join(f'{h}: free' for h in hosts)}}}")
    return "\n".join(lines) + "\n"


def _hosts_line(b: Bounds) -> str:
    """The hosts, each running the extension or not as the model's node did."""
    if not HAS_EXTENSION:
        return f"hosts: [{', '.join(NAMES[:b.hosts])}]"
    return "hosts: {" + ", ".join(f"{NAMES[i]}: {{extension: {str(b.runs_extension(i)).lower()}}}"
                                  for i in range(b.hosts)) + "}"


def _receiver(line: Timeline, action: Action) -> int | None:
    """The node the message was said to: the peer of the sender's chat at that moment."""
    peer = None
    for _, a, _ in line.steps:
        if a.node == action.node and a.kind == "start":
            peer = a.arg
        if a.kind == "accept" and a.node == action.node:
            peer = _inviter(line, a)
        if a is action:
            return peer
    return peer


def _inviter(line: Timeline, accept: Action) -> int | None:
    inviter = None
    for _, a, _ in line.steps:
        if a.kind == "start" and a.arg == accept.node:
            inviter = a.node
        if a is accept:
            break
    return inviter


# -- what a harness run broke ------------------------------------------------------------------------


def harness_violations(result, hosts: list[str]) -> set[str]:
    """The checker's properties, judged on a finished harness run (sim.runner.Result)."""
    found: set[str] = set()
    for receiver in hosts:
        chat, first_chat = 0, {}
        for seen in result.notices.get(receiver, []):
            chat += seen.kind == "chat started"
            if seen.kind == "message" and first_chat.setdefault(seen.text, chat) != chat:
                found.add("chats-isolated")  # shown again in a later chat
        shown = [s.text for s in result.notices.get(receiver, []) if s.kind == "message"]
        for text in set(shown):
            if shown.count(text) > 1:
                found.add("at-most-once")
        owners = {t: h for h in hosts for t in result.said.get(h, [])}
        for text in shown:
            if text not in owners or owners[text] == receiver:
                found.add("not-invented")
        by_sender: dict[str, list[int]] = {}
        for text in dict.fromkeys(shown):
            if text in owners:
                by_sender.setdefault(owners[text], []).append(result.said[owners[text]].index(text))
        if any(order != sorted(order) for order in by_sender.values()):
            found.add("in-order")
    for sender in hosts:
        shown_at: dict[str, float] = {}
        for h in hosts:
            for s in result.notices.get(h, []):
                if h != sender and s.kind == "message":
                    shown_at.setdefault(s.text, s.t)
        peers_shown = set(shown_at)
        for seen in result.notices.get(sender, []):
            if seen.kind == "delivered" and shown_at.get(seen.text, float("inf")) > seen.t:
                found.add("delivered-means-shown")
            unconfirmed = set(getattr(seen, "unconfirmed", ()))  # "not confirmed" claims nothing
            if any(t in peers_shown and t not in unconfirmed for t in seen.undelivered):
                found.add("shown-or-undelivered")
        reported = {t for s in result.notices.get(sender, []) for t in s.undelivered}
        everyone_shown = {s.text for h in hosts for s in result.notices.get(h, []) if s.kind == "message"}
        for text in result.said.get(sender, []):
            if text not in everyone_shown and text not in reported:
                found.add("every-message-accounted")
    if any(f.message.startswith("final state of") for f in result.failures):
        found.add("daemons-free")
    return found


# properties a finished run's notices cannot show on their own: whether a notice blaming the peer
# belongs to the chat it ended (a message shown again in a later chat they do show)
NOT_JUDGED = frozenset({"chats-isolated"})


def replay_disagreement(line: Timeline, result, prop: str) -> str | None:
    """Why the harness run did not fail the way the model's path did, or None if it did: each user
    was shown the model path's notices first, and the run broke `prop` (for properties the
    notices can show)."""
    for host, expected in line.notices.items():
        got = [s.kind for s in result.notices.get(host, [])][:len(expected)]
        if got != expected:
            return f"{host} was shown {got}, the model's path {expected}"
    if prop not in NOT_JUDGED and prop not in harness_violations(result, list(line.notices)):
        return f"the run did not break {prop}"
    return None
