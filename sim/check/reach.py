"""Goal-directed search: is a harness run's outcome (a `Target`) reachable in the model?

The search is breadth-first over the model's own states (the same unmodified Nodes, network and
time abstraction as `python -m sim check`), paired with two counters: how far the scenario's
user script has got, and, per host, how many of the run's notices the model's users have been
shown.  Two restrictions keep it small, and both are sound for the question asked:

- users act only as the script says, in its order, once their precondition holds (see
  sim.check.target): the harness's users did exactly that, so any path of the run is a path here;
- a transition whose events do not extend each host's notices as a prefix of the run's is cut:
  notices are only ever appended, so no continuation of it could show the run's notices.

The network and the timers are the model's, unrestricted within the bounds derived from the run.
With `wire` on, a third restriction guides the search: each daemon sends, per path, what it
sent in the run ((label, seq) in the same order), and the goal includes having sent all of it.
A path found so reproduces the run's datagrams as well as its notices; but paths that send
otherwise are cut, so "not found" proves nothing and `decide` then searches without it.

The search stops at the first state whose users have done the whole script, have been shown
exactly the run's notices, whose daemons have no timer left and are in the final states the
scenario expects: the outcome is *reachable*, and the shortest path to it (BFS) is returned
with the always-properties it broke on the way (a known-limit scenario's outcome breaks one).
A search that runs out of states without finding one proves the outcome *unreachable* within the
bounds: the model and the harness disagree.  A search cut by `max_states` decides nothing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from sim.check.model import INF, NIDS, USERS, Action, Model, text_of
from sim.check.nodestate import TimePaths
from sim.check.target import Command, Notice, Target
from sim.runner import _FINAL as FINAL_OF  # the harness's own names of a daemon's state
from simp import events as ev
from simp.wire import decode as wire_decode

REACHABLE, UNREACHABLE, UNDECIDED = "reachable", "UNREACHABLE", "undecided"


class ObservingModel(Model):
    """The model, with each node step's acting node and events kept alongside its successor, so the
    search can compare them with the run's notices (the checker's own search does not need them)."""

    def _act(self, out: list, s: tuple, i: int, inp: tuple, action: tuple) -> None:
        before = len(out)
        super()._act(out, s, i, inp, action)
        if len(out) > before:
            _, sends, events = self.table.steps[(s[NIDS][i], inp)]
            out[-1] = (*out[-1], i, events, sends)


@dataclass
class Reach:
    verdict: str
    states: int
    seconds: float
    path: list[Action] = field(default_factory=list)
    broke: tuple[str, ...] = ()  # always-properties violated on the path found
    wire: bool = False  # found by the search guided by the run's datagrams


def notice_of(event: ev.Event, node: int) -> Notice:
    """An event as the harness's client names it, texts in the model's names (sim.check.target)."""
    if isinstance(event, ev.MessageReceived):
        return ("message", event.text, ())
    if isinstance(event, ev.MessageDelivered):
        return ("delivered", text_of(node, (event.msg_id - 1) % 1000), ())
    if isinstance(event, ev.ChatEnded):
        return (event.reason.text, None, tuple(u.text for u in event.undelivered))
    kinds = {ev.Invitation: "invitation", ev.ChatStarted: "chat started", ev.PeerError: "error"}
    return (kinds.get(type(event), type(event).__name__), None, ())


def decide(target: Target, *, max_states: int = 200_000, times: TimePaths | None = None) -> Reach:
    """Reachable or not: guided by the run's datagrams first, then (if that finds nothing) unguided,
    each search with up to `max_states` states."""
    guided = reach(target, max_states=max_states, times=times, wire=True)
    if guided.verdict == REACHABLE:
        return guided
    plain = reach(target, max_states=max_states, times=times)
    plain.seconds += guided.seconds
    return plain


def reach(target: Target, *, max_states: int = 200_000, times: TimePaths | None = None,
          wire: bool = False) -> Reach:
    """Search for a state showing `target`'s outcome; see the module docstring."""
    start = time.process_time()
    model = ObservingModel(target.bounds, times)
    search = _Search(model, target, wire)
    first = (model.initial(), *search.settle(0, (0,) * model.n), (0,) * (model.n * model.n))
    if search.is_goal(first):
        return Reach(REACHABLE, 1, time.process_time() - start, wire=wire)
    parent: list[int] = [-1]
    via: list[tuple] = [()]
    seen = {first: 0}
    states = [first]
    queue = deque([0])
    while queue:
        k = queue.popleft()
        for action, violation, nxt in search.successors(states[k]):
            j = len(states)
            if seen.setdefault(nxt, j) != j:
                continue
            states.append(nxt)
            parent.append(k)
            via.append((action, violation))
            if search.is_goal(nxt):
                path, broke = _path(j, parent, via)
                return Reach(REACHABLE, len(states), time.process_time() - start, path, broke, wire)
            if len(states) >= max_states:
                return Reach(UNDECIDED, len(states), time.process_time() - start)
            queue.append(j)
    return Reach(UNREACHABLE, len(states), time.process_time() - start)


class _Search:
    def __init__(self, model: ObservingModel, target: Target, wire: bool) -> None:
        self.model, self.target, self.wire = model, target, wire
        self.sent = tuple(tuple(sends) for sends in target.sent)
        self.sent_lengths = tuple(len(p) for p in target.sent) if wire else None
        self.labels: dict[bytes, tuple[str, int]] = {}
        self.script: tuple[Command, ...] = target.script
        self.wanted = target.notices
        self.lengths = tuple(len(n) for n in target.notices)

    def settle(self, k: int, pos: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        """Script position past every `until` already satisfied (they are no choice, only a wait)."""
        script = self.script
        while k < len(script) and script[k].kind == "until" and pos[script[k].node] >= script[k].need:
            k += 1
        return k, pos

    def successors(self, state: tuple) -> list[tuple[tuple, str | None, tuple]]:
        s, k, pos, wpos = state
        model = self.model
        users: list = []
        if k < len(self.script):
            self._user_step(users, s, self.script[k], pos)
        rest: list = []
        if any(s[2]) or s[3]:
            model._network_steps(rest, s)
        model._tick(rest, s)
        out = []
        for moved, entries in ((1, users), (0, rest)):
            for entry in entries:
                action, t, violation = entry[:3]
                new_pos, new_wpos = pos, wpos
                if self.wire and len(entry) == 6 and entry[5]:
                    new_wpos = self._sends_fit(entry[3], entry[5], wpos)
                    if new_wpos is None:
                        continue  # the run's daemon did not send this
                if len(entry) == 6 and entry[4]:
                    i, events = entry[3], entry[4]
                    at, wanted = pos[i], self.wanted[i]
                    shown = tuple(notice_of(e, i) for e in events)
                    if wanted[at:at + len(shown)] != shown:
                        continue  # the run's users were not shown this
                    new_pos = (*pos[:i], at + len(shown), *pos[i + 1:])
                out.append((action, violation.prop if violation else None,
                            (t, *self.settle(k + moved, new_pos), new_wpos)))
        return out

    def _sends_fit(self, i: int, sends: tuple, wpos: tuple[int, ...]) -> tuple[int, ...] | None:
        """The wire positions after node i sent `sends`, or None if the run's daemon sent otherwise."""
        n, labels = self.model.n, self.labels
        out = list(wpos)
        for dst, data in sends:
            sent = labels.get(data)
            if sent is None:
                dg = wire_decode(data)
                sent = labels[data] = (dg.label, dg.seq)
            p = i * n + dst
            if out[p] >= len(self.sent[p]) or self.sent[p][out[p]] != sent:
                return None
            out[p] += 1
        return tuple(out)

    def _user_step(self, out: list, s: tuple, cmd: Command, pos: tuple[int, ...]) -> None:
        i = cmd.node
        if cmd.kind == "until" or pos[i] < cmd.need:
            return
        in_chat, _, said, _ = s[USERS][i]
        act = self.model._act
        if cmd.kind == "start":
            act(out, s, i, ("start", cmd.peer), ("start", i, -1, b"", 0, 0.0, cmd.peer))
        elif cmd.kind == "say":
            if in_chat and said < self.model.m:
                slot = i * 1000 + said
                act(out, s, i, ("say", slot, text_of(i, said)), ("say", i, -1, b"", 0, 0.0, slot))
        else:
            act(out, s, i, (cmd.kind,), (cmd.kind, i, -1, b"", 0, 0.0, -1))

    def is_goal(self, state: tuple) -> bool:
        s, k, pos, wpos = state
        if k < len(self.script) or pos != self.lengths or (self.wire and wpos != self.sent_lengths):
            return False
        table = self.model.table
        if any(table.deadline[nid] != INF for nid in s[NIDS]):
            return False
        return all(want is None or FINAL_OF.get(table.state_of(nid)) == want
                   for want, nid in zip(self.target.final, s[NIDS], strict=True))


def _path(j: int, parent: list[int], via: list[tuple]) -> tuple[list[Action], tuple[str, ...]]:
    path, broke = [], []
    while j > 0:
        action, violation = via[j]
        path.append(Action(*action))
        if violation:
            broke.append(violation)
        j = parent[j]
    return path[::-1], tuple(dict.fromkeys(broke[::-1]))
