"""What a catalog scenario showed when run by the harness, in the model's vocabulary: the target of
a goal-directed search (`sim.check.reach`), or the reason the model cannot express it.

The outcome of a run is what its users were shown, not how the wire looked:

- per host, the exact sequence of notices its client showed (invitation, chat started, each
  message shown with its text, each "delivered" with its text, "error", and each chat end with
  its reason and the messages it listed as undelivered);
- per host, the final state the scenario expects (free, chatting, ...), when it states one;
- the daemons settled: no timer left (the harness ends a run when every daemon is quiet).

Texts are renamed into the model's: the k-th message host h really sent (`Result.said`) is the
model's `text_of(index of h, k)`, so "hello bob" said first by alice is "a1".  A notice the model's
nodes cannot produce under any name (a message no host of ours said) keeps its text and simply
cannot be matched: the search then reports the outcome unreachable, which is a disagreement.

The users' actions are the scenario's steps, in the scenario's order, with the harness's own
preconditions: accept and decline wait for an invitation notice not yet answered, say for
"chat started", a `wait-until` for its notice after the last one a wait-until consumed.  Each
precondition becomes "host h has been shown at least `need` notices", computed by replaying the
harness's cursor logic (sim.runner._await_notice) on the notices the run really showed; since
the search demands those very notices in that order, the constraint is exact.  `sleep` steps
are dropped: where a user step falls between timer deadlines is the model's own choice.

The run's network, as (label, seq) of each datagram: what each daemon sent per path, what each
received in order (copies included), what the relay lost per path, pins a first search
(sim.check.reach): a path that does what the run did is found almost without branching; it
says nothing about paths that do otherwise, so an unsuccessful pinned search is followed by an
unpinned one.

The bounds come from the run's trace (what the relay really did), not from the fault rules:
losses = datagrams never forwarded; duplicates = extra copies forwarded; reorders = datagrams
that a later datagram of the same path overtook (the model charges one per overtaken datagram;
a dropped datagram never needs overtaking, the model drops at any time); lateness = the longest
time from sending to any forwarded copy, in timeouts (at least 0.49: "under half the timeout");
messages = the most any user really said.

Lifecycle steps are script commands too, done on unmodified Nodes the way the harness and
daemon.py do them (sim.check.reach carries them out): `kill daemon` (the host's node is gone:
datagrams to it are lost at the closed port, its timers with it), `start daemon` (a fresh Node
with no client, built as sim.runner builds a daemon, with the SIMPX/1 chat-id epoch of that run
of the daemon: none for the first, "r2", "r3", ... after), `restart daemon` (kill, then start),
`connect` (`Node.connect_client`), `disconnect` (`Node.disconnect_client` at once, as the daemon
does on the client's Disconnect) and `kill client` (the client stops showing notices; the daemon
calls `Node.disconnect_client` when it notices the silence, which the search places anywhere
later).  A host may start without its daemon or its client.  The client of a killed daemon may
show a "client error" saying it lost the daemon; any other client error is outside the model.
Corruption: each datagram the relay corrupted is recorded per path, in order, with the bytes it
delivered instead; the search may deliver exactly those bytes in place of that datagram.

Outside the model (reported with the reason, never searched): foreign implementations, more
than three hosts, datagrams from an address the model does not have, a corrupted duplicate, a
mix of extension settings the model cannot place (it runs the extension on all nodes, none, or
node 0 only), or a client error other than a killed daemon's.
A run that did not pass its own expectations is reported apart (`RunFailed`): its outcome is not
the catalog's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim import scenario_model as S
from sim.check.model import Bounds, text_of
from sim.runner import Result
from sim.trace import CORRUPTED, FORWARDED, RECEIVED, UNKNOWN
from simp import wire

Notice = tuple[str, str | None, tuple[str, ...]]  # (kind, text or None, undelivered texts)
Sent = tuple[str, int]  # a datagram as the wire guidance compares it: (label, seq)
# what simp.client says when its daemon stopped answering it or a new run of it does not know it
DAEMON_GONE = ("lost the daemon", "the daemon no longer counts this client")
MIN_LATENESS = 0.49  # the model's default: every datagram arrives before the clock passes a deadline


@dataclass(frozen=True)
class Command:
    """One user step: host `node` does `kind` (start/accept/decline/say/quit, or `until`: only a
    precondition) once it has been shown `need` notices; `peer` is start's invited node.  Or a
    lifecycle step (`LIFECYCLE_KINDS`); `epoch` is a daemon start's SIMPX/1 chat-id epoch."""

    node: int
    kind: str
    need: int = 0
    peer: int = -1
    epoch: str = ""


# the scenario's lifecycle steps, as the search's commands (restart daemon = kill, then start)
LIFECYCLE_KINDS = ("connect", "disconnect", "kill client", "kill daemon", "start daemon")


@dataclass(frozen=True)
class Target:
    name: str
    hosts: tuple[str, ...]  # scenario host names, in model order (index 0 is the model's alice)
    bounds: Bounds
    script: tuple[Command, ...]
    notices: tuple[tuple[Notice, ...], ...]  # per model node, exactly as the harness showed them
    final: tuple[str | None, ...]  # per model node: the state the scenario expects at the end
    sent: tuple[tuple[Sent, ...], ...]  # per path (src * hosts + dst): what the daemons sent, in order
    received: tuple[tuple[tuple[int, str, int], ...], ...]  # per node: (sender, label, seq) in order
    dropped: tuple[tuple[Sent, ...], ...]  # per path: the datagrams the relay never forwarded, in order
    # per path, in order: each datagram the relay corrupted ((label, seq) as sent) and the bytes it
    # delivered instead
    corrupted: tuple[tuple[tuple[Sent, bytes], ...], ...] = ()
    daemons: tuple[bool, ...] = ()  # per node: its daemon runs at the start (empty: all do)
    clients: tuple[bool, ...] = ()  # per node: its client is connected at the start (empty: all are)


class Outside(Exception):
    """The scenario uses something the model does not have; str() says what."""


class RunFailed(Exception):
    """The harness run did not pass the scenario's own expectations: its outcome is not the
    catalog's, so there is nothing to look for in the model; str() says what failed."""


def target_of(sc: S.Scenario, result: Result) -> Target:
    """The run's outcome as a search target; raises Outside when the model cannot express it, RunFailed
    when the run failed its own expectations."""
    _within_model(sc, result)
    hosts = _model_order(sc)
    index = {h: i for i, h in enumerate(hosts)}
    said = {h: list(result.said.get(h, [])) for h in hosts}
    notices = tuple(tuple(_notice(seen, h, index, said) for seen in result.notices.get(h, [])) for h in hosts)
    specs = {h.name: h for h in sc.hosts}
    return Target(name=sc.source, hosts=hosts, bounds=_bounds(sc, result, hosts),
                  script=_script(sc, result, index), notices=notices,
                  final=tuple(sc.expect.final.get(h) for h in hosts), **_network(result, index),
                  daemons=tuple(specs[h].daemon for h in hosts),
                  clients=tuple(specs[h].daemon and specs[h].client for h in hosts))


def label_of(data: bytes) -> Sent:
    """A datagram as the wire guidance compares it; ("malformed", -1) for bytes that do not decode."""
    try:
        dg = wire.decode(data)
    except wire.MalformedDatagram:
        return ("malformed", -1)
    return (dg.label, dg.seq)


def _network(result: Result, index: dict[str, int]) -> dict[str, tuple]:
    """What the run's daemons sent (per path), received (per node), the relay lost (per path) and
    corrupted (per path: the datagram as sent, and the bytes delivered in its place)."""
    n = len(index)
    sent: list[list[Sent]] = [[] for _ in range(n * n)]
    dropped: list[list[Sent]] = [[] for _ in range(n * n)]
    corrupted: list[list[tuple[Sent, bytes]]] = [[] for _ in range(n * n)]
    received: list[list[tuple[int, str, int]]] = [[] for _ in range(n)]
    forwarded = {e.n for e in result.trace.events if e.action == FORWARDED}
    original: dict[int, bytes] = {}
    for e in result.trace.events:
        if e.action not in (RECEIVED, FORWARDED, CORRUPTED):
            continue
        src, dst = index[e.src], index[e.dst]
        if e.action == CORRUPTED:
            if e.copy:
                raise Outside("a duplicate corrupted apart from its original (the model corrupts only "
                              "a datagram's first arrival)")
            corrupted[src * n + dst].append((label_of(original[e.n]), e.data))
        elif e.action == FORWARDED:
            received[dst].append((src, *label_of(e.data)))
        else:
            original[e.n] = e.data
            sent[src * n + dst].append(label_of(e.data))
            if e.n not in forwarded:
                dropped[src * n + dst].append(label_of(e.data))
    return {"sent": tuple(map(tuple, sent)), "received": tuple(map(tuple, received)),
            "dropped": tuple(map(tuple, dropped)), "corrupted": tuple(map(tuple, corrupted))}


def _within_model(sc: S.Scenario, result: Result) -> None:
    if not result.passed:
        raise RunFailed("; ".join(f.message for f in result.failures))
    if len(sc.hosts) > 3:
        raise Outside(f"{len(sc.hosts)} hosts (the model has at most 3)")
    if any(h.implementation for h in sc.hosts):
        raise Outside("a foreign implementation plays a host")
    if UNKNOWN in {e.action for e in result.trace.events}:
        raise Outside("datagrams from an address that is no host")
    killed = {s.host for s in sc.steps if isinstance(s, (S.KillDaemon, S.RestartDaemon))}
    for host, seen in result.notices.items():
        for s in seen:  # the client of a killed daemon noticing it is in the model (sim.check.reach)
            gone = host in killed and (s.text or "").startswith(DAEMON_GONE)
            if s.kind == "client error" and not gone:
                raise Outside(f"a client error ({s.text})")
    with_extension = sum(h.extension for h in sc.hosts)
    if 1 < with_extension < len(sc.hosts):
        raise Outside("the extension on some hosts but not one or all")


def _model_order(sc: S.Scenario) -> tuple[str, ...]:
    """The scenario's hosts, the one running the extension first when only one does (the model's
    'one' runs it on node 0)."""
    names = list(sc.host_names)
    with_extension = [h.name for h in sc.hosts if h.extension]
    if len(with_extension) == 1:
        names.remove(with_extension[0])
        names.insert(0, with_extension[0])
    return tuple(names)


def _renamed(text: str, owner: str, index: dict[str, int], said: dict[str, list[str]]) -> str:
    return text_of(index[owner], said[owner].index(text)) if text in said.get(owner, []) else text


def _notice(seen, host: str, index: dict[str, int], said: dict[str, list[str]]) -> Notice:
    if seen.kind == "message":
        owner = next((h for h in index if h != host and seen.text in said[h]), host)
        return ("message", _renamed(seen.text, owner, index, said), ())
    if seen.kind == "delivered":
        return ("delivered", _renamed(seen.text or "", host, index, said), ())
    if seen.kind in S.END_NOTICES:
        return (seen.kind, None, tuple(_renamed(t, host, index, said) for t in seen.undelivered))
    return (seen.kind, None, ())


def _script(sc: S.Scenario, result: Result, index: dict[str, int]) -> tuple[Command, ...]:
    """The user steps with their preconditions, as `need` counts (see the module docstring)."""
    cursor = dict.fromkeys(index, 0)  # after the last notice a wait-until consumed
    answered = dict.fromkeys(index, 0)  # after the last invitation accept/decline answered
    starts = {h.name: int(h.daemon) for h in sc.hosts}  # daemon runs so far (sim.runner numbers them)
    out: list[Command] = []
    for step in sc.steps:
        host = step.host
        if host is None or isinstance(step, (S.Wait, S.Sleep)):
            continue
        i = index[host]
        seen = result.notices.get(host, [])
        if isinstance(step, S.WaitUntil):
            cursor[host] = _first_fit(seen, cursor[host], step.notice, step.source)
            out.append(Command(i, "until", cursor[host]))
        elif isinstance(step, (S.Accept, S.Decline)):
            answered[host] = _first_fit(seen, answered[host], S.Notice(kind="invitation"), step.source)
            out.append(Command(i, "accept" if isinstance(step, S.Accept) else "decline", answered[host]))
        elif isinstance(step, S.Start):
            out.append(Command(i, "start", peer=index[step.peer]))
        elif isinstance(step, S.Say):
            out.append(Command(i, "say"))
        elif isinstance(step, S.Quit):
            out.append(Command(i, "quit"))
        elif isinstance(step, (S.StartDaemon, S.RestartDaemon)):
            if isinstance(step, S.RestartDaemon):
                out.append(Command(i, "kill daemon"))
            starts[host] += 1  # each run of a daemon has its own chat-id epoch, the first none
            out.append(Command(i, "start daemon", epoch="" if starts[host] == 1 else f"r{starts[host]}"))
        elif isinstance(step, (S.Connect, S.Disconnect, S.KillClient, S.KillDaemon)):
            kinds = {S.Connect: "connect", S.Disconnect: "disconnect", S.KillClient: "kill client",
                     S.KillDaemon: "kill daemon"}
            out.append(Command(i, kinds[type(step)]))
        else:
            raise Outside(f"a step the model has no user action for: {step.source}")
    return tuple(out)


def _first_fit(seen: list, start: int, want: S.Notice, source: str) -> int:
    """How many notices the host had been shown when `want` (from `start` on) was: the cursor after it."""
    for j in range(start, len(seen)):
        if seen[j].fits(want):
            return j + 1
    raise Outside(f"the run passed without showing what {source!r} waits for")


def _bounds(sc: S.Scenario, result: Result, hosts: tuple[str, ...]) -> Bounds:
    sent: dict[int, tuple[float, str, str]] = {}
    forwards: dict[int, list[tuple[int, float]]] = {}
    for k, e in enumerate(result.trace.events):
        if e.action == RECEIVED:
            sent[e.n] = (e.t, e.src, e.dst)
        elif e.action == FORWARDED:
            forwards.setdefault(e.n, []).append((k, e.t))
    losses = sum(1 for n in sent if n not in forwards)
    duplicates = sum(len(f) - 1 for f in forwards.values())
    late = max((t - sent[n][0] for n, f in forwards.items() for _, t in f), default=0.0)
    first = {n: min(f)[0] for n, f in forwards.items()}  # event index of the first arrival
    reorders = 0
    for n, arrived in first.items():
        path = sent[n][1:]
        if any(m > n and sent[m][1:] == path and first.get(m, arrived) < arrived for m in sent):
            reorders += 1
    timeout = sc.daemon.timeout
    with_extension = [h for h in sc.hosts if h.extension]
    extension = ("both" if len(with_extension) == len(hosts) else "none" if not with_extension else "one")
    return Bounds(hosts=len(hosts), messages=max((len(v) for v in result.said.values()), default=0),
                  losses=losses, duplicates=duplicates, reorders=reorders,
                  lateness=max(MIN_LATENESS, math.ceil(late / timeout * 1000) / 1000),
                  chats=max(1, sum(isinstance(s, S.Start) for s in sc.steps)),
                  timeout=timeout, retries=sc.daemon.retries, invite_expiry=sc.daemon.invite_expiry,
                  extension=extension)
