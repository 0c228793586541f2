"""The checked system: unmodified `Node`s, a network with bounded faults, and their users.

State.  A global state is one flat tuple: the node states (ids into a table of interned,
never-mutated Node objects), which of the times they hold was set first, the datagrams in flight, the
fault budget left, what each user has done, and the observations the properties need.  Every
node is kept *normalised* so that the current time is 0.0 (see `sim.check.nodestate`), so the
tuple is itself the canonical fingerprint: two states that differ only in absolute time are one.

Transitions (each one step of a counterexample):

- a user acts: `start` (alice first; later chats by either side, up to `chats`), `accept`,
  `decline`, `say` (once the user was told "chat started", up to `messages` each), `quit`
  (in a chat, or withdrawing an invitation when `withdraw` is on), at the current time;
- the network delivers the oldest datagram of a path, loses it (`losses`), or delivers it and
  keeps a copy in flight (`duplicates`); it delivers a younger datagram of a path first
  (`reorders`: each datagram overtaken costs one and is from then on free to arrive at any
  time); a copy or an overtaken datagram may arrive at any later point;
- the clock jumps to the earliest timer deadline and that node handles it.

Only when a search asks for them (sim.check.reach, for a catalog scenario that has them; never
in `python -m sim check`): a daemon is killed (`DOWN`: datagrams to it are lost, it holds no
timer) or started (a fresh Node without client, `fresh_node`), a client connects or goes
(`Node.connect_client`, `Node.disconnect_client`, as daemon.py calls them), and a datagram
arrives as given corrupted bytes (`Model.corrupt`).

Time abstraction (why it is sound for the harness's timings).  A node's behaviour depends on
time only through the order of its inputs and deadlines and through comparisons of time
differences with multiples of half a timeout.  The model's clock therefore moves only from
deadline to deadline, earliest first, and every delivery and user action happens between two
consecutive deadlines, in any order the bounds allow.  Any real schedule (the harness's
virtual clock, or real processes) orders its events among the deadlines in one of these ways,
so its behaviour is one of the model's paths, as long as its delays stay within `lateness`:
a datagram may cross a timer deadline only if it arrives at most `lateness` timeouts after it
was sent, so with `lateness` < 1/2 ("delays under half the timeout") every datagram arrives
before the clock moves on, and with `lateness` = 1.2 it may arrive after one retransmission.
Caution: "sent" is the model's clock, which stands still between deadlines, so lateness counts
from the last deadline *before* the sending, not from the sending.  A real datagram sent just
before a deadline and arriving just after it (a small real delay) needs a lateness of the whole
gap from the previous deadline, up to a timeout or more; with `lateness` < 1/2 the model has no
such crossing at all.  `python -m sim check --catalog` (sim.check.catalog) reports, for each
catalog run it repeats, the model lateness its path needed.
Deadlines that fall on the same instant are fired in the order they were set, as they would be
by any real clock on which setting them took time.  The state records, for every time a node
holds (`TimePaths.times_of`), the rank of the step that really set it, renumbered 0, 1, ... so
that only the order counts: a time a step sets is a new float object (each step gets a `now` of
its own), a time it keeps or only moves is the same object (`NodeTable.origins`), so a time set
again to the value it had (a retransmission deadline set again for the next message at the same
model instant) ranks as new, and a moved one keeps its rank.  A deadline ranks as the times that
make it (`NodeTable.deadline_sources`: those that move it when moved), not as any time equal to
it (a window ending at the same instant, set earlier, would lend it its rank).  Both matter
because the model's times coincide often (its clock stands still between deadlines).  An earlier
ranking by the step that last changed a time's *value*, and by the lowest rank of any equal time,
could fire two simultaneous deadlines in one order only where a real run fired them in the other
(tests/test_check_catalog.py has a 19-step path), so the search missed real schedules;
drops_and_small_delays_exactly_once was undecided because of it.  Firing them in either order
instead is not sound either: it has orders no run has (a chats-isolated path that needs bob's
invitation expiry to fire before alice's, which was set first).  What the abstraction
does not distinguish: *where* between two deadlines an input arrives.  Nodes do compare arrival
times with windows that no timer marks (a stranger is answered at most once per half timeout,
a stranger's ACK within two timeouts of our answer is taken for its echo, and the session and
dialect layers keep similar windows), so the model misses the schedules where such a window
closes between two inputs with no deadline between them: it is *incomplete* there.
`pass_time` (used by sim.check.reach only) narrows that: the clock may move half a timeout
without a deadline, to the point where windows whose lengths are multiples of half a timeout,
counted from a time on that grid, close (`now - t < c` turns false); windows tested with `<=`
close only just after it, and no time passes once no deadline is pending, so it is not complete
either.  The default search does not let time pass.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sim.check.nodestate import TimePaths, calibrate, clone, fingerprint
from sim.check.properties import BLAMING, Violation
from simp import events as ev
from simp import wire
from simp.node import Node, NodeConfig
from simp.session import CommandError, SessionConfig, State

NAMES = ("alice", "bob", "carol")
PORT = 7777
INF = float("inf")
EXTENSIONS = ("none", "one", "both")
LABELS = frozenset({"SYN", "SYN+ACK", "ACK", "FIN", "ERR", "CHAT"})
HAS_EXTENSION = "extension" in {f.name for f in dataclasses.fields(NodeConfig)}  # a per-node option
# Lifecycle steps, taken only when a search asks for them (sim.check.reach follows a scenario's
# `kill daemon`, `start daemon`, `connect`, `disconnect`, `kill client`); the default search never does.
LIFECYCLE = frozenset({"kill", "boot", "connect", "disconnect"})
COMMANDS = frozenset({"start", "accept", "decline", "say", "quit"}) | LIFECYCLE  # what no peer caused
USER_EFFECTS = frozenset({"start", "quit", "decline", "say"})  # accept changes nothing properties track
EFFECTS = USER_EFFECTS | {"kill", "boot", "disconnect"}  # steps whose users/observations change
_MISSING = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounds:
    hosts: int = 2
    messages: int = 2  # each user says at most this many
    losses: int = 3
    duplicates: int = 0
    reorders: int = 0
    lateness: float = 0.49  # in timeouts: how late after sending a datagram may arrive
    chats: int = 1  # invitations in all (alice first); carol, when there, invites alice once more
    withdraw: bool = True  # an inviter may withdraw its invitation
    timeout: float = 5.0
    retries: int = 6
    invite_expiry: float = 60.0
    extension: str = "none"  # which nodes run the negotiated extension, when NodeConfig has one
    faulty: frozenset[str] = LABELS  # the datagram labels faults may hit (lost, copied, overtaken, late)

    def __post_init__(self) -> None:
        if not 2 <= self.hosts <= 3:
            raise ValueError(f"hosts must be 2 or 3, got {self.hosts}")
        if min(self.messages, self.losses, self.duplicates, self.reorders, self.chats) < 0 or self.chats < 1:
            raise ValueError("message, fault and chat bounds must be whole numbers >= 0 (chats >= 1)")
        if self.lateness < 0:
            raise ValueError(f"lateness must be >= 0 timeouts, got {self.lateness}")
        if not self.faulty <= LABELS:
            raise ValueError(f"faults can hit only {', '.join(sorted(LABELS))}; "
                             f"got {', '.join(sorted(self.faulty))}")
        if self.extension not in EXTENSIONS:
            raise ValueError(f"extension must be one of {', '.join(EXTENSIONS)}, got {self.extension!r}")
        if self.extension != "none" and not HAS_EXTENSION:
            raise ValueError("this NodeConfig has no `extension` option yet; use --extension none")

    def describe(self) -> str:
        return (f"hosts={self.hosts} msgs={self.messages} loss={self.losses} dup={self.duplicates} "
                f"reorder={self.reorders} late={self.lateness:g}T chats={self.chats}"
                + ("" if self.faulty == LABELS else f" on={'/'.join(sorted(self.faulty))}")
                + ("" if self.extension == "none" else f" ext={self.extension}"))

    def node_config(self, index: int) -> NodeConfig:
        """The configuration of node `index`: the place where per-node options (the extension) go."""
        session = SessionConfig(timeout=self.timeout, retries=self.retries, invite_expiry=self.invite_expiry)
        options: dict[str, object] = {}
        if HAS_EXTENSION:
            options["extension"] = self.runs_extension(index)
        return NodeConfig(session=session, **options)

    def runs_extension(self, index: int) -> bool:
        return self.extension == "both" or (self.extension == "one" and index == 0)


def address(index: int) -> ev.Address:
    return (f"10.0.0.{index + 1}", PORT)


def text_of(user: int, k: int) -> str:
    return f"{NAMES[user][0]}{k + 1}"


def fresh_nodes(bounds: Bounds) -> list[Node]:
    return [fresh_node(bounds, i) for i in range(bounds.hosts)]


def fresh_node(bounds: Bounds, i: int, *, epoch: str = "", client: bool = True) -> Node:
    """Node i as a daemon starts it (daemon.py, sim.runner): its configuration, the SIMPX/1 chat-id
    epoch of this run of the daemon ("" for the first), and its client connected when `client`."""
    config = bounds.node_config(i)
    node = Node(dataclasses.replace(config, chat_id_epoch=epoch) if epoch else config)
    if client:
        node.connect_client(NAMES[i])
    return node


class _Down:
    """A host whose daemon is not running: a datagram to it is lost at the closed port, it holds no
    timer, takes no command, and is neither busy nor in a chat (NodeTable.down)."""

    busy = False
    current = None
    user = None


DOWN = _Down()


# -- per-node transitions, memoised ----------------------------------------------------------------

Send = tuple[int, bytes]  # (destination index, datagram)


@dataclass
class NodeTable:
    """Interned node states and their memoised transitions: the checker's inner loop is a dict
    lookup, since a node state receives the same input in many global states."""

    bounds: Bounds
    times: TimePaths
    nodes: list[Node] = field(default_factory=list)
    deadline: list[float] = field(default_factory=list)
    ids: dict[tuple, int] = field(default_factory=dict)
    steps: dict[tuple, tuple | None] = field(default_factory=dict)
    shifts: dict[tuple[int, float], int] = field(default_factory=dict)
    times_of: list[dict[int, float]] = field(default_factory=list)  # per node id: place id -> time
    places: dict[tuple, int] = field(default_factory=dict)  # where a node holds a time -> small id
    # per (node id, input): where each time the new node holds came from (the place of the old node
    # holding the same float object, or -1: written by this step); Model._restamp ranks by it
    origins: dict[tuple, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    sources: dict[int, frozenset[int]] = field(default_factory=dict)  # per node id (deadline_sources)
    held: dict[int, dict[int, int]] = field(default_factory=dict)  # per node id: id of a time -> place

    def __post_init__(self) -> None:
        self._down = -1  # the id of DOWN, made on first use, so searches without lifecycle steps keep theirs
        self.addresses = [address(i) for i in range(self.bounds.hosts)]
        self.statistics = frozenset(fresh_nodes(self.bounds)[0].counters())  # counted, never decisive
        self.index = {a: i for i, a in enumerate(self.addresses)}

    def intern(self, node: Node, placed: dict[int, float] | None = None) -> int:
        """The id of `node`'s state; `placed`: the times it holds by place, when the caller has them."""
        key = fingerprint(node, self.statistics)
        nid = self.ids.get(key)
        if nid is None:
            nid = self.ids[key] = len(self.nodes)
            self.nodes.append(node)
            timer = node.get_timer()
            self.deadline.append(INF if timer is None else timer)
            self.times_of.append(self.placed(node) if placed is None else placed)
        return nid

    def placed(self, node: Node) -> dict[int, float]:
        """The times `node` holds, keyed by the small id of where each is held (`places`)."""
        places = self.places
        return {places.setdefault(where, len(places)): t for where, t in self.times.times_of(node).items()}

    @property
    def down(self) -> int:
        """The id of a host whose daemon is not running."""
        if self._down < 0:
            self._down = len(self.nodes)
            self.nodes.append(DOWN)  # type: ignore[arg-type]  # read only through busy/current/user
            self.deadline.append(INF)
            self.times_of.append({})
        return self._down

    def step(self, nid: int, inp: tuple) -> tuple | None:
        """(new id, datagrams sent, events) for input `inp` at time 0, or None if refused."""
        key = (nid, inp)
        try:
            return self.steps[key]
        except KeyError:
            pass
        kind = inp[0]
        if kind == "kill" or self.nodes[nid] is DOWN:  # a killed daemon only takes its next start
            result = (self.down, (), ()) if kind in ("kill", "recv") else None
            if kind == "boot" and self.nodes[nid] is DOWN:
                result = (self.intern(fresh_node(self.bounds, inp[1], epoch=inp[2], client=False)), (), ())
            if result is not None:
                self.origins[key] = tuple((w, -1) for w in self.times_of[result[0]])
            self.steps[key] = result
            return result
        node = clone(self.nodes[nid])
        try:  # a `now` of its own, so that a time this step sets is a float object of its own (_origins)
            self._apply(node, inp, float("0"))
        except CommandError:
            self.steps[key] = None
            return None
        index = self.index
        sends = tuple((index[a], wire.encode(dg)) for a, dg in node.datagrams_to_send() if a in index)
        events = tuple(node.events())
        node.notes()
        placed = self.placed(node)
        result = (self.intern(node, placed), sends, events)
        self.origins[key] = self._origins(nid, placed)
        self.steps[key] = result
        return result

    def _origins(self, nid: int, after: dict[int, float]) -> tuple[tuple[int, int], ...]:
        """Per time a step from node `nid` left its node holding (`after`, by place): (its place, the
        place of node `nid` holding the very same float object, or -1).  A time a step
        sets is a new object even when its value equals the old one (a retransmission deadline set
        again for a new message), and one a step only moves (a session that ended goes on
        lingering) is the same object: this tells when each was really set."""
        held = self.held.get(nid)
        if held is None:  # the interned node is never mutated, so the ids of its times stay its own
            held = self.held[nid] = {}
            for place, value in self.placed(self.nodes[nid]).items():
                held.setdefault(id(value), place)
        return tuple((place, held.get(id(value), -1)) for place, value in after.items())

    def deadline_sources(self, nid: int) -> frozenset[int]:
        """The places of node `nid`'s times that make its deadline: equal to it, and moving it when
        moved (a window that ends at the same instant is not one); all equal ones if none alone does."""
        found = self.sources.get(nid)
        if found is None:
            node, when = self.nodes[nid], self.deadline[nid]
            equal = [w for w, t in self.times.times_of(node).items() if t == when]
            making = [w for w in equal if self.times.nudged(node, w, 1.0).get_timer() != when]
            found = self.sources[nid] = frozenset(self.places[w] for w in making or equal)
        return found

    def _apply(self, node: Node, inp: tuple, now: float) -> None:
        kind = inp[0]
        if kind == "recv":
            node.receive(inp[1], self.addresses[inp[2]], now)
        elif kind == "timer":
            node.handle_timer(now)
        elif kind == "start":
            node.start(self.addresses[inp[1]], now)
        elif kind == "say":
            node.say(inp[1] + 1, inp[2], now)
        elif kind == "connect":  # the daemon takes a client only once it has forgotten the last one
            if node.user is not None:
                raise CommandError("daemon busy: another client is connected")
            node.connect_client(NAMES[inp[1]])
        elif kind == "disconnect":  # the client said so, or the daemon stopped hearing from it
            node.disconnect_client(now)
        elif kind == "boot":
            raise CommandError("a running daemon cannot be started again")
        else:
            getattr(node, kind)(now)  # accept, decline, quit

    def shift(self, nid: int, by: float) -> int:
        key = (nid, by)
        out = self.shifts.get(key)
        if out is None:
            node = self.nodes[nid]
            out = self.shifts[key] = nid if node is DOWN else self.intern(
                self.times.shift(node, by), {place: t - by for place, t in self.times_of[nid].items()})
        return out

    def state_of(self, nid: int) -> State | None:
        current = self.nodes[nid].current
        return None if current is None else current.state


# -- global states -----------------------------------------------------------------------------------
# A state is the tuple (nids, stamps, fifo, strays, budget, users, obs):
#   nids    node ids;  stamps: the id of the ranks (Model.stampings: per node, ((place of a time,
#           rank of the step that set it), ...)); interned, so a state hashes and compares a small int
#   fifo    per path (src * n + dst) a tuple of (datagram, sent_at) oldest first
#   strays  sorted tuple of (path, datagram, sent_at): copies and overtaken datagrams
#   budget  (losses, duplicates, reorders) left
#   users   per user (in_chat, quit_used, said, starts)
#   obs     (shown, reported, ended, stale per user, blame per user, said_to per message); bitmasks
#           by message; `reported` has a message's bit when its sender was told it was not
#           delivered or not confirmed, and that bit << DEFINITE too when told "undelivered"

DEFINITE = 64  # see `reported` above
NIDS, STAMPS, FIFO, STRAYS, BUDGET, USERS, OBS = range(7)


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a path, as the ladder and the scenario writer need it."""

    kind: str  # say/start/accept/decline/quit, deliver, drop, duplicate, reorder, stray, timer; and
    # where a search asks for them: kill/boot/connect/disconnect, "client killed", corrupt, wait
    node: int  # the acting node, or the receiving node for network steps
    src: int = -1
    data: bytes = b""
    position: int = 0  # reorder: the position in the path delivered first
    advance: float = 0.0  # timer: how far the clock moved
    arg: int = -1  # start: the invited node; say: the message slot

    def describe(self) -> str:
        if self.kind in ("deliver", "drop", "duplicate", "reorder", "stray", "corrupt"):
            what = {"deliver": "", "drop": "  LOST", "duplicate": "  (duplicated: a copy stays in flight)",
                    "reorder": f"  (overtakes {self.position} older)", "stray": "  (late copy)",
                    "corrupt": "  (corrupted on the way)"}[self.kind]
            try:
                shown = wire.decode(self.data).describe()
            except wire.MalformedDatagram as exc:
                shown = f"malformed ({exc.reason})"
            return f"{NAMES[self.src]} -> {NAMES[self.node]}  {shown}{what}"
        if self.kind == "timer":
            return f"{NAMES[self.node]} timer" + (f" (clock +{self.advance:g}s)" if self.advance else "")
        if self.kind == "wait":
            return f"time passes (clock +{self.advance:g}s)"
        if self.kind == "start":
            return f"{NAMES[self.node]}: start {NAMES[self.arg]}"
        if self.kind == "say":
            return f"{NAMES[self.node]}: say {text_of(self.arg // 1000, self.arg % 1000)}"
        lifecycle = {"kill": "daemon killed", "boot": "daemon started", "connect": "client connects",
                     "disconnect": "client gone (its daemon disconnects it)"}
        return f"{NAMES[self.node]}: {lifecycle.get(self.kind, self.kind)}"


class Model:
    """Successors of global states, with property checks on each transition."""

    def __init__(self, bounds: Bounds, times: TimePaths | None = None) -> None:
        self.bounds = bounds
        self.n = bounds.hosts
        self.times = times or calibrate(lambda: fresh_nodes(bounds), [address(i) for i in range(self.n)])
        self.table = NodeTable(bounds, self.times)
        self.late_limit = bounds.lateness * bounds.timeout + 1e-9
        self.faulty: dict[bytes, bool] = {}  # datagram -> may faults hit it (bounds.faulty)
        self.m = bounds.messages
        self.by_text = {text_of(u, k): u * 1000 + k for u in range(self.n) for k in range(self.m)}
        self.blaming = frozenset(r for r in ev.EndReason if r.name in BLAMING)
        self.examples: set[str] = set()  # sometimes-properties seen
        # _restamp's results: its inputs recur in many global states (few stamp and node pairs)
        self.restamped: dict[tuple, tuple] = {}
        self.firsts: dict[tuple, int] = {}  # (nids, stamps) -> whose due timer fires first (_tick)
        self.due: dict[tuple, tuple[float, tuple[int, ...]]] = {}  # nids -> (earliest deadline, whose)
        self.user_moves: dict[tuple, tuple] = {}  # (nids, users) -> the user steps to try (_user_steps)
        self.effects: dict[tuple, tuple] = {}  # (node step, i, users, obs) -> _effect's result
        self.stampings: list[tuple] = []  # the ranks, per their id in a state (STAMPS)
        self.stamp_ids: dict[tuple, int] = {}

    def slot_bit(self, slot: int) -> int:
        return 1 << ((slot // 1000) * self.m + slot % 1000)

    def initial(self, daemons: tuple[bool, ...] = (), clients: tuple[bool, ...] = ()) -> tuple:
        """The start: every daemon running with its client connected, unless `daemons` / `clients`
        (per node) say otherwise (a scenario's host may start without either)."""
        table, b = self.table, self.bounds
        nids = tuple(table.down if i < len(daemons) and not daemons[i]
                     else table.intern(fresh_node(b, i, client=i >= len(clients) or clients[i]))
                     for i in range(self.n))
        n = self.n
        fifo = tuple(() for _ in range(n * n))
        users = tuple((False, False, 0, 0) for _ in range(n))
        obs = (0, 0, 0, (0,) * n, (0,) * n, (-1,) * (n * self.m))
        stamps = self._stamp_id(tuple(tuple(sorted((where, 0) for where in self.table.times_of[nid]))
                                      for nid in nids))
        return (nids, stamps, fifo, (), (b.losses, b.duplicates, b.reorders), users, obs)

    # -- enumeration -------------------------------------------------------------------------------
    # Actions are plain tuples (see Action's fields) while searching, which is measurably faster.

    def successors(self, s: tuple) -> list[tuple[tuple, tuple, Violation | None]]:
        out: list[tuple[tuple, tuple, Violation | None]] = []
        self._user_steps(out, s)
        if any(s[FIFO]) or s[STRAYS]:
            self._network_steps(out, s)
        self._tick(out, s)
        return out

    def _user_steps(self, out: list, s: tuple) -> None:
        key = (s[NIDS], s[USERS])
        moves = self.user_moves.get(key)
        if moves is None:
            moves = self.user_moves[key] = self._user_moves(*key)
        act = self._act
        for i, inp, action in moves:
            act(out, s, i, inp, action)

    def _user_moves(self, nids: tuple, users: tuple) -> tuple:
        """What the users may do, as (node, input, action): it depends on the nodes and users only."""
        state_of, moves = self.table.state_of, []
        starts = users[0][3] + users[1][3]
        for i in range(self.n):
            in_chat, quit_used, said, started = users[i]
            state = state_of(nids[i])
            if state is None:
                target = self._may_start(i, starts, started)
                if target is not None:
                    moves.append((i, ("start", target), ("start", i, -1, b"", 0, 0.0, target)))
            elif state is State.INVITED:
                moves.append((i, ("accept",), ("accept", i, -1, b"", 0, 0.0, -1)))
                moves.append((i, ("decline",), ("decline", i, -1, b"", 0, 0.0, -1)))
            if in_chat and not quit_used:
                if said < self.m:
                    slot = i * 1000 + said
                    moves.append((i, ("say", slot, text_of(i, said)), ("say", i, -1, b"", 0, 0.0, slot)))
                moves.append((i, ("quit",), ("quit", i, -1, b"", 0, 0.0, -1)))
            elif not quit_used and self.bounds.withdraw and state is State.SYN_SENT:
                moves.append((i, ("quit",), ("quit", i, -1, b"", 0, 0.0, -1)))
        return tuple(moves)

    def _may_start(self, i: int, starts: int, started: int) -> int | None:
        if i == 0 and starts < self.bounds.chats:
            return 1
        if i == 1 and 0 < starts < self.bounds.chats:
            return 0
        if i == 2 and started == 0:
            return 0
        return None

    def _network_steps(self, out: list, s: tuple) -> None:
        n, act = self.n, self._act
        losses, dups, reorders = s[BUDGET]
        nids, stamps, fifo, strays, budget, users, obs = s
        for p, queue in enumerate(fifo):
            if not queue:
                continue
            src, dst = divmod(p, n)
            data, sent = queue[0]
            rest = (*fifo[:p], queue[1:], *fifo[p + 1:])
            act(out, (nids, stamps, rest, strays, budget, users, obs), dst, ("recv", data, src),
                ("deliver", dst, src, data, 0, 0.0, -1))
            if not self.hits(data):
                continue
            if losses:
                out.append((("drop", dst, src, data, 0, 0.0, -1),
                            (nids, stamps, rest, strays, (losses - 1, dups, reorders), users, obs), None))
            if dups:
                more = tuple(sorted((*strays, (p, data, sent))))
                act(out, (nids, stamps, rest, more, (losses, dups - 1, reorders), users, obs), dst,
                    ("recv", data, src), ("duplicate", dst, src, data, 0, 0.0, -1))
            for k in range(1, min(reorders, len(queue) - 1) + 1):
                if not all(self.hits(d) for d, _ in queue[1:k]):
                    break  # only datagrams faults may hit can be overtaken
                data_k = queue[k][0]
                more = tuple(sorted((*strays, *((p, d, t) for d, t in queue[:k]))))
                rest_k = (*fifo[:p], queue[k + 1:], *fifo[p + 1:])
                act(out, (nids, stamps, rest_k, more, (losses, dups, reorders - k), users, obs), dst,
                    ("recv", data_k, src), ("reorder", dst, src, data_k, k, 0.0, -1))
        seen = set()
        for j, (p, data, _) in enumerate(strays):
            if (p, data) in seen:
                continue
            seen.add((p, data))
            src, dst = divmod(p, n)
            act(out, (nids, stamps, fifo, strays[:j] + strays[j + 1:], budget, users, obs), dst,
                ("recv", data, src), ("stray", dst, src, data, 0, 0.0, -1))

    def hits(self, data: bytes) -> bool:
        """May faults hit this datagram (its label is in bounds.faulty)?"""
        hit = self.faulty.get(data)
        if hit is None:
            hit = self.faulty[data] = wire.decode(data).label in self.bounds.faulty
        return hit

    def _tick(self, out: list, s: tuple) -> None:
        nids = s[NIDS]
        due = self.due.get(nids)
        if due is None:
            deadline = self.table.deadline
            when = min(deadline[nid] for nid in nids)
            due = self.due[nids] = (when, tuple(i for i, nid in enumerate(nids) if deadline[nid] == when))
        when, due = due
        if when == INF:
            return
        if when > 0:
            limit, hits = self.late_limit - when, self.hits
            if (any(-t > limit or not hits(d) for q in s[FIFO] for d, t in q)
                    or any(-t > limit for _, _, t in s[STRAYS])):
                return  # a datagram in flight would arrive later than the bounds allow
        if len(due) == 1:
            first = due[0]
        else:
            key = (nids, s[STAMPS])
            first = self.firsts.get(key, -1)
            if first < 0:
                first = self.firsts[key] = min(due, key=lambda i: self._set_rank(s, i))
        if when > 0:
            s = self._advance(s, when)
        self._act(out, s, first, ("timer",), ("timer", first, -1, b"", 0, when, -1))

    def pass_time(self, out: list, s: tuple) -> None:
        """The clock moves on by half a timeout, with no deadline on the way: the next point where a
        window closes that no timer marks (`Model`'s docstring).  Only while a deadline is pending
        and half a timeout before it; never part of the default search (sim.check.reach adds it)."""
        half = self.bounds.timeout / 2
        if min(self.table.deadline[nid] for nid in s[NIDS]) <= half:
            return  # the earliest deadline comes first, or at the same instant (_tick); INF > half
        if all(self.table.deadline[nid] == INF for nid in s[NIDS]):
            return  # nothing pending: time passing without end would make new states without end
        limit, hits = self.late_limit - half, self.hits
        if (any(-t > limit or not hits(d) for q in s[FIFO] for d, t in q)
                or any(-t > limit for _, _, t in s[STRAYS])):
            return  # a datagram in flight would arrive later than the bounds allow
        out.append((("wait", -1, -1, b"", 0, half, -1), self._advance(s, half), None))

    def _set_rank(self, s: tuple, i: int) -> int:
        """How early node i's deadline was set, compared with other nodes' deadlines: the rank of the
        times that make it (NodeTable.deadline_sources)."""
        making = self.table.deadline_sources(s[NIDS][i])
        return min((rank for where, rank in self.stampings[s[STAMPS]][i] if where in making), default=0)

    def _restamp(self, sid: int, i: int, step: tuple) -> int:
        """The ranks after node i took `step`: a time keeps the rank of the one it is (moved or not), a
        time the step set ranks after every time held so far (NodeTable.origins of the step);
        renumbered.  Memoised: its inputs recur in many global states (few stamp and node pairs)."""
        key = (sid, i, step)
        out = self.restamped.get(key)
        if out is None:
            stamps = self.stampings[sid]
            rank = dict(stamps[i])
            top = max((r for node in stamps for _, r in node), default=-1) + 1
            mine = tuple(sorted((w, rank.get(u, top)) for w, u in self.table.origins[step]))
            out = self.restamped[key] = self._stamp_id(self._renumbered((*stamps[:i], mine, *stamps[i + 1:])))
        return out

    def _stamp_id(self, stamps: tuple) -> int:
        sid = self.stamp_ids.get(stamps)
        if sid is None:
            sid = self.stamp_ids[stamps] = len(self.stampings)
            self.stampings.append(stamps)
        return sid

    def _renumbered(self, stamps: tuple) -> tuple:
        """Ranks renumbered 0, 1, ... keeping their order: only the order counts."""
        ranks = sorted({r for node in stamps for _, r in node})
        if ranks == list(range(len(ranks))):
            return stamps
        renumber = {r: k for k, r in enumerate(ranks)}
        return tuple(tuple((where, renumber[r]) for where, r in node) for node in stamps)

    def _advance(self, s: tuple, by: float) -> tuple:
        shift = self.table.shift
        nids = tuple(shift(nid, by) for nid in s[NIDS])
        fifo = tuple(tuple((d, t - by) for d, t in q) if q else q for q in s[FIFO])
        strays = tuple((p, d, t - by) for p, d, t in s[STRAYS])
        return (nids, s[STAMPS], fifo, strays, s[BUDGET], s[USERS], s[OBS])

    # -- applying one node step -----------------------------------------------------------------

    def _act(self, out: list, s: tuple, i: int, inp: tuple, action: tuple) -> None:
        table = self.table
        nids = s[NIDS]
        old = nids[i]
        key = (old, inp)
        result = table.steps.get(key, _MISSING)
        if result is _MISSING:
            result = table.step(old, inp)
        if result is None:
            return
        new, sends, events = result
        nids = (*nids[:i], new, *nids[i + 1:])
        stamps = self._restamp(s[STAMPS], i, key)
        fifo = s[FIFO]
        if sends:
            fifo = list(fifo)
            base = i * self.n
            for dst, data in sends:
                fifo[base + dst] = (*fifo[base + dst], (data, 0.0))
            fifo = tuple(fifo)
        kind = inp[0]
        if not events and kind not in EFFECTS:
            out.append((action, (nids, stamps, fifo, s[STRAYS], s[BUDGET], s[USERS], s[OBS]), None))
            return
        effect_key = (key, i, s[USERS], s[OBS])
        effect = self.effects.get(effect_key)
        if effect is None:
            effect = self.effects[effect_key] = self._effect(s[USERS], s[OBS], i, inp, new, events)
        users, obs, violation = effect
        out.append((action, (nids, stamps, fifo, s[STRAYS], s[BUDGET], users, obs), violation))

    def _effect(self, users: tuple, obs: tuple, i: int, inp: tuple, new: int, events: tuple
                ) -> tuple[tuple, tuple, Violation | None]:
        """What node i's step (`inp`, to node `new`, emitting `events`) does to the users and the
        observations, and the always-property it breaks; a function of its arguments only, so
        `_act` memoises it (`effects`)."""
        kind, user = inp[0], users[i]
        violation = None
        if kind in USER_EFFECTS:
            current = self.table.nodes[new].current
            peer = self.table.index.get(current.peer, -1) if current is not None else -1
            user, obs = self._user_effect(user, obs, i, inp, peer)
        elif kind in LIFECYCLE:
            user, obs = self._lifecycle_effect(user, obs, i, kind)
        for event in events:
            user, obs, found = self._observe(user, obs, i, event, kind not in COMMANDS)
            violation = violation or found
        return (*users[:i], user, *users[i + 1:]), obs, violation

    def _user_effect(self, user: tuple, obs: tuple, i: int, inp: tuple, peer: int) -> tuple[tuple, tuple]:
        in_chat, quit_used, said, started = user
        shown, reported, ended, stale, blame, said_to = obs
        kind = inp[0]
        if kind == "start":  # our new invitation: what the peer ended before is about older chats
            blame = (*blame[:i], 0, *blame[i + 1:])
            return (in_chat, False, said, started + 1), (shown, reported, ended, stale, blame, said_to)
        if kind == "say":
            slot = inp[1]
            index = (slot // 1000) * self.m + slot % 1000
            said_to = (*said_to[:index], peer, *said_to[index + 1:])
            return (in_chat, quit_used, said + 1, started), (shown, reported, ended, stale, blame, said_to)
        blame = tuple(b | (1 << i) if k != i else b for k, b in enumerate(blame))  # quit / decline
        return (in_chat, True, said, started), (shown, reported, ended, stale, blame, said_to)

    def _lifecycle_effect(self, user: tuple, obs: tuple, i: int, kind: str) -> tuple[tuple, tuple]:
        """A client gone ends its user's chat as a quit does; a daemon killed (or started) ends it
        without a word: its user is in no chat, its messages belong to a chat that ended, and its
        peer being told "peer left" or "declined" has a cause."""
        in_chat, _, said, started = user
        shown, reported, ended, stale, blame, said_to = obs
        blame = tuple(b | (1 << i) if k != i else b for k, b in enumerate(blame))
        if kind == "disconnect":
            return (in_chat, True, said, started), (shown, reported, ended, stale, blame, said_to)
        for index in range(i * self.m, (i + 1) * self.m):
            if said_to[index] >= 0:
                ended |= 1 << index
        return (False, False, said, started), (shown, reported, ended, stale, blame, said_to)

    def corrupt(self, out: list, s: tuple, p: int, data: bytes) -> None:
        """The oldest datagram of path p arrives as `data` (corrupted on the way: a search pins the
        bytes a run's relay delivered, sim.check.reach); never part of the default search."""
        src, dst = divmod(p, self.n)
        fifo = s[FIFO]
        rest = (*fifo[:p], fifo[p][1:], *fifo[p + 1:])
        self._act(out, (s[NIDS], s[STAMPS], rest, *s[STRAYS:]), dst, ("recv", data, src),
                  ("corrupt", dst, src, data, 0, 0.0, -1))

    def _observe(self, user: tuple, obs: tuple, i: int, event: ev.Event,
                 from_outside: bool) -> tuple[tuple, tuple, Violation | None]:
        in_chat, quit_used, said, started = user
        shown, reported, ended, stale, blame, said_to = obs
        violation = None
        who = NAMES[i]
        if isinstance(event, ev.MessageReceived):
            slot = self.by_text.get(event.text)
            if slot is None or said_to[(slot // 1000) * self.m + slot % 1000] != i:
                violation = Violation("not-invented", f"{who} was shown {event.text!r}, which nobody said to "
                                      "it")
            else:
                bit = self.slot_bit(slot)
                if stale[i] & bit:
                    violation = Violation("chats-isolated", f"{who} was shown {event.text!r}, said in an "
                                          "earlier chat, in a later one")
                elif shown & bit:
                    violation = Violation("at-most-once", f"{who} was shown {event.text!r} a second time")
                elif shown & ~(bit - 1) & self._user_mask(slot // 1000):
                    violation = Violation("in-order", f"{who} was shown {event.text!r} after a later message")
                elif reported & (bit << DEFINITE):
                    violation = Violation("shown-or-undelivered", f"{who} was shown {event.text!r}, "
                                          "which its sender had been told was undelivered")
                shown |= bit
                self.examples.add("message-delivered")
        elif isinstance(event, ev.MessageDelivered):
            slot = event.msg_id - 1
            if not shown & self.slot_bit(slot):
                violation = Violation("delivered-means-shown", f"{who} was told {text_of(i, slot % 1000)!r} "
                                      "was delivered, but its peer was never shown it")
        elif isinstance(event, ev.ChatStarted):
            in_chat, quit_used = True, False
            stale = (*stale[:i], ended, *stale[i + 1:])
            self.examples.add("chat-starts")
        elif isinstance(event, ev.Invitation):
            quit_used = False
        elif isinstance(event, ev.ChatEnded):
            in_chat = False
            for item in event.undelivered:
                bit = self.slot_bit(item.msg_id - 1)
                reported |= bit
                if getattr(item, "sent", False):  # "not confirmed": the peer may have been shown it
                    continue
                if shown & bit:
                    violation = Violation("shown-or-undelivered", f"{NAMES[i]} was told {item.text!r} was "
                                          "undelivered, but its peer was shown it")
                reported |= bit << DEFINITE
            for index in range(i * self.m, (i + 1) * self.m):
                if said_to[index] >= 0:
                    ended |= 1 << index
            peer = self.table.index.get(event.peer, -1)
            if (from_outside and not quit_used and event.reason in self.blaming and peer >= 0
                    and not blame[i] & (1 << peer)):
                violation = violation or Violation(
                    "chats-isolated", f"{NAMES[i]} was told {event.reason.text!r} although {NAMES[peer]} "
                    "did not end, decline or withdraw anything since this chat began")
            if event.reason is ev.EndReason.DECLINED:
                self.examples.add("decline-seen")
            blame = tuple(0 if k == i else b | (1 << i) for k, b in enumerate(blame))  # ours is consumed
        return (in_chat, quit_used, said, started), (shown, reported, ended, stale, blame, said_to), violation

    def _user_mask(self, user: int) -> int:
        return ((1 << self.m) - 1) << (user * self.m)

    # -- end of a path ---------------------------------------------------------------------------------

    def at_end(self, s: tuple) -> Violation | None:
        """The eventually-properties, judged at a state with no successor."""
        busy = [NAMES[i] for i, nid in enumerate(s[NIDS]) if self.table.nodes[nid].busy]
        if busy:
            return Violation("daemons-free", f"the path ended with {', '.join(busy)} still busy")
        shown, reported, *_, said_to = s[OBS]
        for index, receiver in enumerate(said_to):
            if receiver >= 0 and not (shown | reported) & (1 << index):
                text = text_of(index // self.m, index % self.m)
                return Violation("every-message-accounted", f"{text!r} was neither shown to "
                                 f"{NAMES[receiver]} nor reported undelivered to its sender")
        return None
