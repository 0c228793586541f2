"""Goal-directed search: is a harness run's outcome (a `Target`) reachable in the model?

The search runs over the model's own states (the same unmodified Nodes, network and time
abstraction as `python -m sim check`), paired with two counters: how far the scenario's
user script has got, and, per host, how many of the run's notices the model's users have been
shown.  Two restrictions keep it small, and both are sound for the question asked:

- users act only as the script says, in its order, once their precondition holds (see
  sim.check.target): the harness's users did exactly that, so any path of the run is a path here;
- a transition whose events do not extend each host's notices as a prefix of the run's is cut:
  notices are only ever appended, so no continuation of it could show the run's notices.

The network and the timers are the model's, unrestricted within the bounds derived from the run.
Beyond the checker's own search it has what a scenario's target asks for (sim.check.target):
its lifecycle steps, as script commands; two environment steps they enable, a killed client's
daemon disconnecting it and a killed daemon's client showing "client error", each at any moment
(where the harness's client timeout and heartbeat put them is not the model's concern); hosts
without daemon or client at the start; and the run's corrupted bytes, each delivered at most
once in place of the datagram the relay corrupted.  Events of a node whose host has no client
listening are shown to nobody.
Pins (`pin`) guide the search by the run's own network, which makes it nearly linear:
"sends": each daemon sends, per path, what it sent in the run ((label, seq), same order);
"network": also, each daemon receives what it received, in the same order ((sender, label,
seq), copies included), and the network drops on each path what the run lost, in order.  The
goal then includes having done all of it.  A path found so reproduces the run's datagrams as
well as its notices; paths that differ are cut, so a pinned "not found" proves nothing.
Pinned searches go best first (`_Frontier`), the others breadth first.
`decide` tries, in order (`PHASES`): the network pinned within the derived bounds; then with
one timeout of lateness more (the model's clock stands still between deadlines, so a run's
small delay across a deadline needs the model lateness of the gap since the deadline before
the sending, usually under one timeout as a datagram in flight is under a retransmission timer;
the path's own lateness, the longest time on the model's clock from sending to arrival, is
reported); then with lateness unbounded (`REPLAY_LATENESS`); the sends pinned (the receipt
order free); nothing pinned, within the derived bounds.  The last two also let time pass
between deadlines (`Model.pass_time`), where windows no timer marks close: the run's exact
receipt order can need that (sim.check.model's docstring), and the unpinned search, whose "no"
is the proof, should have every behaviour the model can give.

The search stops at the first state whose users have done the whole script, have been shown
exactly the run's notices, whose daemons have no timer left and are in the final states the
scenario expects: the outcome is *reachable*, and the path to it (a shortest one when breadth
first) is returned with the always-properties it broke on the way (a known-limit scenario's
outcome breaks one).  A search that runs out of states without finding one proves the outcome
*unreachable* within the bounds: the model and the harness disagree.  A search cut by
`max_states` decides nothing.
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from collections import deque
from dataclasses import dataclass, field

from sim.check.model import DOWN, FIFO, INF, NIDS, STRAYS, USERS, Action, Model, NodeTable, text_of
from sim.check.nodestate import TimePaths
from sim.check.target import Command, Notice, Target, label_of
from sim.runner import _FINAL as FINAL_OF  # the harness's own names of a daemon's state
from simp import events as ev

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
    pinned: str = ""  # the run's network the path was pinned to: "network", "sends" or "" (none)
    lateness: float = 0.0  # the path's longest send-to-arrival on the model's clock, in timeouts


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
    """Reachable or not, in up to five searches (`PHASES`) of up to `max_states` states each, stopping
    at the first that finds the outcome; the last, unpinned, is the only one whose "no" is a proof."""
    spent = 0.0
    for pin, more, waits in PHASES:
        found = reach(target, max_states=max_states, times=times, pin=pin,
                      lateness=target.bounds.lateness + more, waits=waits)
        spent += found.seconds
        if found.verdict == REACHABLE or not pin:
            found.seconds = spent
            return found
    raise AssertionError("unreachable: the last search returns")


REPLAY_LATENESS = 1000.0  # timeouts: no bound (see the module docstring)
# (pins, timeouts of lateness beyond the derived bound, time passes between deadlines): the whole
# network, within the bounds, then with one timeout more, then with lateness unbounded; the sends
# only (receipt order free); nothing pinned.  The last two let time pass between deadlines too.
PHASES = (("network", 0.0, False), ("network", 1.0, False), ("network", REPLAY_LATENESS, False),
          ("sends", 0.0, True), ("", 0.0, True))


def reach(target: Target, *, max_states: int = 200_000, times: TimePaths | None = None,
          pin: str = "", lateness: float | None = None, waits: bool = True) -> Reach:
    """Search for a state showing `target`'s outcome; see the module docstring.  `lateness` replaces
    the derived bound (in timeouts); `waits`: time may pass between deadlines (`Model.pass_time`)."""
    start = time.process_time()
    bounds = target.bounds if lateness is None else dataclasses.replace(target.bounds, lateness=lateness)
    model = ObservingModel(bounds, times)
    search = _Search(model, target, pin, waits)
    first = search.initial()
    if search.is_goal(first):
        return Reach(REACHABLE, 1, time.process_time() - start, pinned=pin)
    parent: list[int] = [-1]
    via: list[tuple] = [()]
    seen = {first: 0}
    states = [first]
    frontier = _Frontier(bool(pin))
    frontier.push(0, first)
    while frontier:
        k = frontier.pop()
        for action, violation, late, nxt in search.successors(states[k]):
            j = len(states)
            if seen.setdefault(nxt, j) != j:
                continue
            states.append(nxt)
            parent.append(k)
            via.append((action, violation, late))
            if search.is_goal(nxt):
                path, broke, lateness = _path(j, parent, via)
                return Reach(REACHABLE, len(states), time.process_time() - start, path, broke, pin,
                             lateness / bounds.timeout)
            if len(states) >= max_states:
                return Reach(UNDECIDED, len(states), time.process_time() - start, pinned=pin)
            frontier.push(j, nxt)
    return Reach(UNREACHABLE, len(states), time.process_time() - start, pinned=pin)


class _Frontier:
    """The states still to expand: first in, first out (breadth first: the path found is a shortest
    one), or, for a pinned search, the state that has matched most of the run first (best first:
    a pinned path follows the run, and breadth first would also expand every interleaving of the
    two daemons' independent steps before reaching the run's end).  Either way every state is
    expanded before the search says "no"."""

    def __init__(self, best_first: bool) -> None:
        self.best_first = best_first
        self.queue: deque[int] = deque()
        self.heap: list[tuple[int, int]] = []

    def __bool__(self) -> bool:
        return bool(self.heap or self.queue)

    def push(self, j: int, state: tuple) -> None:
        if self.best_first:
            _, k, pos, pins = state[:4]
            heapq.heappush(self.heap, (-(k + sum(pos) + sum(pins)), j))
        else:
            self.queue.append(j)

    def pop(self) -> int:
        return heapq.heappop(self.heap)[1] if self.best_first else self.queue.popleft()


class _Search:
    """States are (model state, script position, notices shown per host, pins, clients, corrupted)
    where pins are the positions in the run's sends per path, receipts per node and drops per path
    (all 0 unpinned), clients says per host what client it has (`NO_CLIENT`, `CLIENT`: connected,
    shown its daemon's events, `ORPHAN`: connected to a daemon since killed, which it has yet to
    notice), and corrupted is the position per path in the run's corruptions."""

    def __init__(self, model: ObservingModel, target: Target, pin: str, waits: bool) -> None:
        self.model, self.target, self.replay, self.waits = model, target, bool(pin), waits
        self.receipts = pin == "network"  # else only the sends are pinned
        self.script: tuple[Command, ...] = target.script
        self.wanted = target.notices
        self.lengths = tuple(len(n) for n in target.notices)
        nothing = tuple(() for _ in target.received) + tuple(() for _ in target.dropped)
        self.pins = (*target.sent, *((*target.received, *target.dropped) if self.receipts else nothing))
        self.pin_lengths = tuple(len(p) for p in self.pins)
        self.paths = model.n * model.n  # pins: sends per path, then receipts per node, then drops per path
        self.labels: dict[bytes, tuple[str, int]] = {}
        self.corrupted = target.corrupted or tuple(() for _ in range(self.paths))

    def initial(self) -> tuple:
        n, target = self.model.n, self.target
        clients = tuple(CLIENT if up else NO_CLIENT for up in target.clients or (True,) * n)
        return (self.model.initial(target.daemons, clients), *self.settle(0, (0,) * n),
                (0,) * len(self.pins), clients, (0,) * self.paths)

    def settle(self, k: int, pos: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        """Script position past every `until` already satisfied (they are no choice, only a wait)."""
        script = self.script
        while k < len(script) and script[k].kind == "until" and pos[script[k].node] >= script[k].need:
            k += 1
        return k, pos

    def label(self, data: bytes) -> tuple[str, int]:
        got = self.labels.get(data)
        if got is None:
            got = self.labels[data] = label_of(data)
        return got

    def successors(self, state: tuple) -> list[tuple[tuple, str | None, float, tuple]]:
        s, k, pos, _, clients, corrupted = state
        model = self.model
        users: list = []
        after = clients  # who has a client once the script's step is done
        if k < len(self.script):
            after = self._user_step(users, s, self.script[k], pos, clients)
        rest: list = []
        if any(s[FIFO]) or s[STRAYS]:
            model._network_steps(rest, s)
        model._tick(rest, s)
        if self.waits:
            model.pass_time(rest, s)
        self._client_lost(rest, s, clients)
        out = []
        self._orphan_error(out, state)
        for moved, entries in ((1, users), (0, rest)):
            for entry in entries:
                self._follow(out, state, entry, moved, after if moved else clients, corrupted)
        if any(s[FIFO]):
            self._corrupt(out, state)
        return out

    def _follow(self, out: list, state: tuple, entry: tuple, moved: int, clients: tuple[int, ...],
                corrupted: tuple[int, ...]) -> None:
        """Keep one successor if the run did what it does, with the search's counters moved on."""
        s, k, pos, pins = state[:4]
        action, t, violation = entry[:3]
        new_pos, new_pins = pos, pins
        if self.replay:
            new_pins = self._pinned(action, entry, pins)
            if new_pins is None:
                return  # the run's network or daemons did otherwise
        if len(entry) == 6 and entry[4] and clients[entry[3]] == CLIENT:  # else its events reach nobody
            i, events = entry[3], entry[4]
            at, wanted = pos[i], self.wanted[i]
            shown = tuple(notice_of(e, i) for e in events)
            if wanted[at:at + len(shown)] != shown:
                return  # the run's users were not shown this
            new_pos = (*pos[:i], at + len(shown), *pos[i + 1:])
        out.append((action, violation.prop if violation else None, _late(s, action),
                    (t, *self.settle(k + moved, new_pos), new_pins, clients, corrupted)))

    def _client_lost(self, out: list, s: tuple, clients: tuple[int, ...]) -> None:
        """A killed client's daemon, which still has its user, notices the silence (daemon.py: after
        its client timeout) and disconnects it, at any moment the model chooses."""
        nodes = self.model.table.nodes
        for i, nid in enumerate(s[NIDS]):
            if clients[i] == NO_CLIENT and nodes[nid].user is not None:
                self.model._act(out, s, i, ("disconnect",), ("disconnect", i, -1, b"", 0, 0.0, -1))

    def _orphan_error(self, out: list, state: tuple) -> None:
        """A client whose daemon was killed notices it (its heartbeat goes unanswered, or a new run of
        the daemon refuses it) and shows "client error", at any moment until a new client replaces
        it (simp.client; sim.runner shows the error as a notice)."""
        s, k, pos, pins, clients, corrupted = state
        for i, has in enumerate(clients):
            at = pos[i]
            if has == ORPHAN and self.wanted[i][at:at + 1] == (CLIENT_ERROR,):
                after = (*clients[:i], NO_CLIENT, *clients[i + 1:])
                out.append((("client error", i, -1, b"", 0, 0.0, -1), None, 0.0,
                            (s, *self.settle(k, (*pos[:i], at + 1, *pos[i + 1:])), pins, after, corrupted)))

    def _corrupt(self, out: list, state: tuple) -> None:
        """The oldest datagram of a path arrives as the bytes the run's relay delivered in place of the
        next datagram it corrupted on that path, if it is that datagram (same label and seq)."""
        s, corrupted = state[0], state[5]
        for p, queue in enumerate(s[FIFO]):
            c = corrupted[p]
            if not queue or c >= len(self.corrupted[p]) or self.label(queue[0][0]) != self.corrupted[p][c][0]:
                continue
            entries: list = []
            self.model.corrupt(entries, s, p, self.corrupted[p][c][1])
            moved_on = (*corrupted[:p], c + 1, *corrupted[p + 1:])
            for entry in entries:
                self._follow(out, state, entry, 0, state[4], moved_on)

    def _pinned(self, action: tuple, entry: tuple, pins: tuple[int, ...]) -> tuple[int, ...] | None:
        """The pin positions after this step, or None if the run did not do it."""
        n, pins_of, out = self.model.n, self.pins, list(pins)
        kind, node, src, data = action[:4]
        if self.receipts and kind == "drop":
            p = self.paths + n + src * n + node  # drops come after sends and receipts
            if out[p] >= len(pins_of[p]) or pins_of[p][out[p]] != self.label(data):
                return None
            out[p] += 1
            return tuple(out)
        if self.receipts and kind in RECEIVING:
            p = self.paths + node
            if out[p] >= len(pins_of[p]) or pins_of[p][out[p]] != (src, *self.label(data)):
                return None
            out[p] += 1
        if len(entry) == 6:
            i = entry[3]
            for dst, sent in entry[5]:
                p = i * n + dst
                if out[p] >= len(pins_of[p]) or pins_of[p][out[p]] != self.label(sent):
                    return None
                out[p] += 1
        return tuple(out)

    def _user_step(self, out: list, s: tuple, cmd: Command, pos: tuple[int, ...],
                   clients: tuple[int, ...]) -> tuple[int, ...]:
        """The script's next step, if its precondition holds; returns who has a client after it."""
        i = cmd.node
        if cmd.kind == "until" or pos[i] < cmd.need:
            return clients
        in_chat, _, said, _ = s[USERS][i]
        act = self.model._act
        if cmd.kind in LIFECYCLE_STEPS:
            inp, action = LIFECYCLE_STEPS[cmd.kind]
            if cmd.kind == "kill client":  # nothing happens at the daemon until it notices
                out.append(((action, i, -1, b"", 0, 0.0, -1), s, None))
            else:
                inp = (inp, i, cmd.epoch) if inp == "boot" else (inp, i) if inp == "connect" else (inp,)
                act(out, s, i, inp, (action, i, -1, b"", 0, 0.0, -1))
            has = {"connect": CLIENT, "start daemon": clients[i],  # a new daemon has no client yet
                   "kill daemon": NO_CLIENT if clients[i] == NO_CLIENT else ORPHAN}.get(cmd.kind, NO_CLIENT)
            return (*clients[:i], has, *clients[i + 1:])
        if clients[i] != CLIENT:
            return clients  # the harness's step fails: no client to give the command
        if cmd.kind == "start":
            act(out, s, i, ("start", cmd.peer), ("start", i, -1, b"", 0, 0.0, cmd.peer))
        elif cmd.kind == "say":
            if in_chat and said < self.model.m:
                slot = i * 1000 + said
                act(out, s, i, ("say", slot, text_of(i, said)), ("say", i, -1, b"", 0, 0.0, slot))
        else:
            act(out, s, i, (cmd.kind,), (cmd.kind, i, -1, b"", 0, 0.0, -1))
        return clients

    def is_goal(self, state: tuple) -> bool:
        s, k, pos, pins = state[:4]
        if k < len(self.script) or pos != self.lengths or (self.replay and pins != self.pin_lengths):
            return False
        table = self.model.table
        if any(table.deadline[nid] != INF for nid in s[NIDS]):
            return False
        return all(want is None or _final(table, nid) == want
                   for want, nid in zip(self.target.final, s[NIDS], strict=True))


def _final(table: NodeTable, nid: int) -> str | None:
    """A node's final state as the harness names it ("down" when its daemon is not running)."""
    return "down" if table.nodes[nid] is DOWN else FINAL_OF.get(table.state_of(nid))


# a scenario's lifecycle step (sim.check.target): the node's input, and the action's kind
LIFECYCLE_STEPS = {"connect": ("connect", "connect"), "disconnect": ("disconnect", "disconnect"),
                   "kill client": ("", "client killed"), "kill daemon": ("kill", "kill"),
                   "start daemon": ("boot", "boot")}
RECEIVING = frozenset({"deliver", "duplicate", "reorder", "stray", "corrupt"})
NO_CLIENT, CLIENT, ORPHAN = 0, 1, 2  # what client a host has (_Search)
CLIENT_ERROR: Notice = ("client error", None, ())


def _late(s: tuple, action: tuple) -> float:
    """How long (model clock) the datagram a network step delivers has been in flight."""
    kind, node, src, data, position = action[:5]
    if kind not in RECEIVING:
        return 0.0
    p = src * len(s[NIDS]) + node
    if kind == "stray":
        return max(-t for q, d, t in s[STRAYS] if q == p and d == data)
    return -s[FIFO][p][position if kind == "reorder" else 0][1]


def _path(j: int, parent: list[int], via: list[tuple]) -> tuple[list[Action], tuple[str, ...], float]:
    path, broke, late = [], [], 0.0
    while j > 0:
        action, violation, lateness = via[j]
        path.append(Action(*action))
        late = max(late, lateness)
        if violation:
            broke.append(violation)
        j = parent[j]
    return path[::-1], tuple(dict.fromkeys(broke[::-1])), late
