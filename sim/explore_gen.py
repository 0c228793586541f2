"""Random schedules for `python -m sim explore`: what the users do, and what the network does.

A schedule is a chain of *episodes* between two or three hosts, each a thing users really do:

- `chat`: X invites Y, Y accepts, both say a few messages, then it ends one of several ways
  (either side quits, both quit at once, X's client is killed, X's daemon is killed and maybe
  started again, X's daemon restarts and X re-invites Y at once); or one side leaves as soon as
  it starts (`left-at-start`, with X's SYNs slowed and Y's SYN+ACKs lossy, so that a copy of
  the chat's own SYN may arrive after the chat);
- `decline`, `withdraw` (X gives up before Y answers, or right after Y accepted), `cross` (X and
  Y invite each other at the same moment);
- `busy`: a third host invites one that is in a chat; `vanished`: the peer's daemon is killed and
  a third host keeps inviting the survivor, whose user does nothing (its daemon must free itself).

Episodes often follow each other between the same two hosts *right after an end*, in either
direction (the side told "peer left" re-invites at once, or the side that quit does), since the
linger of the old chat is where a new one gets confused; or the side told "peer left"
re-invites a little less than a timeout later (`reinvite-at-fin-resend`), when the quitter re-sends a FIN
whose ACK was lost, with those FINs slowed, so that a copy may land in the new chat.  The rules
an episode asks for are drop-only ones (losses, delays under a quarter of the timeout).  Steps are written for
`on_step_failure: continue`: a step whose precondition no longer holds (quit after the chat
already ended) is skipped and recorded by the runner, and the run still reaches its checks.

Message texts name their sender, episode and number (`a2-1`: alice's first message of episode
2), so the checks can tell which chat a delivered message belongs to.  Everything derives from
the seed: the same seed always gives the same schedule.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

KINDS = ("drop", "dup", "delay", "reorder")
OPS = ("SYN", "SYN+ACK", "ACK", "CHAT", "FIN")
EPISODES = ("chat", "decline", "withdraw", "withdraw-after-accept", "cross", "busy", "restart-reinvite",
            "vanished", "kill-client", "kill-daemon", "reinvite", "left-at-start", "reinvite-at-fin-resend")
TIMEOUT = 5.0
RETRIES = 10
CROSSING_DELAY = 0.5  # seconds every datagram of a host that crosses invitations takes (< timeout / 4)
FIN_DELAY = 1.0  # seconds the quitter's FINs take in `reinvite-at-fin-resend` (< timeout / 4)
STEP_WAIT = 30.0  # seconds accept/decline/say wait for their precondition
NEVER = "{match: {op: ERR, text: never-sent}, drop: true}"  # a rule that never fires (keeps positions)


@dataclass(frozen=True)
class Schedule:
    """What one run does: hosts, fault rules (YAML flow mappings), the users' steps, the seed.

    `episodes` names what the steps exercise (for coverage and reports); `crossings` holds the
    step indices of pairs of `start` steps that cross; `final` the state each host must end in;
    `plain` the hosts whose daemons run plain SIMP (`extension: false`; the others speak SIMPX/1,
    docs/EXTENSION.md, the default of scenario hosts)."""

    seed: int
    hosts: tuple[str, ...]
    faults: tuple[str, ...]
    steps: tuple[str, ...]
    episodes: tuple[str, ...] = ()
    crossings: tuple[tuple[int, int], ...] = ()
    final: dict[str, str] = field(default_factory=dict)
    plain: tuple[str, ...] = ()

    def yaml(self, name: str, description: str = "",
             delivered: dict[str, Sequence[str]] | None = None) -> str:
        lines = [f"# explore: episodes {' '.join(self.episodes) or '-'}; crossings "
                 + (" ".join(f"{a}-{b}" for a, b in self.crossings) or "-"),
                 f"name: {json.dumps(name)}"]
        if description:
            lines += ["description: >", *(f"  {line}" for line in description.splitlines())]
        lines += [f"seed: {self.seed}", f"timeout: {TIMEOUT:g}s", f"retries: {RETRIES}", "time_limit: 60m",
                  "on_step_failure: continue", f"step_wait: {STEP_WAIT:g}s",
                  "hosts: {" + ", ".join(f"{h}: {{{'extension: false' if h in self.plain else ''}}}"
                                         for h in self.hosts) + "}"]
        lines += ["faults:" if self.faults else "faults: []", *(f"  - {f}" for f in self.faults)]
        lines += ["steps:", *(f"  - {s}" for s in self.steps)]
        lines += ["expect:"]
        if delivered is not None:
            lines += ["  delivered:", *(f"    {h}: [{', '.join(delivered.get(h, ()))}]" for h in self.hosts)]
        lines += ["  final: {" + ", ".join(f"{h}: {s}" for h, s in self.final.items()) + "}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_yaml(cls, text: str) -> Schedule:
        """Read back what `yaml` wrote (for `python -m sim explore --replay`)."""
        head = re.match(r"# explore: episodes (.*); crossings (.*)", text)
        if head is None:
            raise ValueError("not a scenario written by python -m sim explore (no '# explore:' first line)")
        section, lists, final = "", {"faults": [], "steps": []}, {}
        seed, hosts, plain = 0, (), ()
        for line in text.splitlines():
            if line.startswith("seed: "):
                seed = int(line[6:])
            elif line.startswith("hosts: {"):
                options = dict(re.findall(r"(\w+): \{([^}]*)\}", line[7:]))
                hosts = tuple(options)
                plain = tuple(h for h, o in options.items() if "extension: false" in o)
            elif line.startswith("  final: {"):
                final = dict(item.split(": ") for item in line[10:].rstrip("}").split(", "))
            elif not line.startswith(" "):
                section = line.split(":")[0]
            elif section in lists and line.startswith("  - "):
                lists[section].append(line[4:])
        episodes = () if head[1] == "-" else tuple(head[1].split())
        crossings = () if head[2] == "-" else tuple(
            (int(a), int(b)) for a, b in (pair.split("-") for pair in head[2].split()))
        return cls(seed, hosts, tuple(lists["faults"]), tuple(lists["steps"]), episodes, crossings, final,
                   plain)

    def legitimate(self) -> bool:
        """Every host expected free at the end has no chat its users left open (`left_in_a_chat`),
        and every `connect` follows the end of the host's last client (a kill, a disconnect or
        its daemon's end): a `connect` to a daemon that still serves a client is refused, yet
        the runner has dropped the old client by then, a kill of the client no check knows of
        (explorer seed 5246 shrank to that once its `kill client` was removed)."""
        return (not left_in_a_chat(self.steps) & {h for h, state in self.final.items() if state == "free"}
                and not _connect_while_connected(self.steps))

    def without_step(self, index: int) -> Schedule:
        """The schedule with step `index` removed (crossing indices shifted, broken ones dropped)."""
        def shift(i: int) -> int:
            return i - 1 if i > index else i
        crossings = tuple((shift(a), shift(b)) for a, b in self.crossings if index not in (a, b))
        steps = self.steps[:index] + self.steps[index + 1:]
        return Schedule(self.seed, self.hosts, self.faults, steps, self.episodes, crossings,
                        final_states(self.hosts, steps), self.plain)


def final_states(hosts: Sequence[str], steps: Sequence[str]) -> dict[str, str]:
    """Each host must end free, or down when the last thing done to its daemon was a kill."""
    last = {h: "" for h in hosts}
    for step in steps:
        who, action = step_parts(step)
        if who in last and action in ("kill daemon", "start daemon", "restart daemon"):
            last[who] = action
    return {h: "down" if last[h] == "kill daemon" else "free" for h in hosts}


def left_in_a_chat(steps: Sequence[str]) -> set[str]:
    """The hosts that may still be in a chat when `steps` are done (their daemons up).

    "free" is a legitimate final expectation only for a host not in this set: the explorer's
    `final state` check must find daemons that failed to free themselves, never users who simply
    did not end their chat.  The model over-approximates (any invitation accepted, or crossed,
    may have become a chat, whatever the network did); a chat ends when either user quits, is
    disconnected or has its client killed (the daemon ends the chat it was serving).  A killed or
    restarted daemon leaves its peer in a chat with nobody, which ends only when a SYN reaches
    that peer from someone (a third host's is refused as busy and makes the daemon probe its
    peer; the restarted peer's shows it lost the chat: simp/node.py), or when it quits itself.
    Not always: an invitation the orphan accepted whose chat had not begun (its SYN+ACK awaiting
    the ACK) takes the restarted peer's new SYN, in plain SIMP, for a repeat of that invitation,
    and its SYN+ACK starts the new invitation's chat with no `accept` (explorer seed 81717 shrank
    to that once the final `quit` was removed: "expected free, got chatting" held by construction).
    So the restarted peer's `start` may make that pair a chat again."""
    invited: dict[str, set[str]] = {}  # who may have an open invitation to the host (its inviters)
    chats: set[frozenset[str]] = set()
    orphans: dict[str, set[str]] = {}  # in a chat whose peer's daemon is gone: those peers

    def release(h: str) -> None:  # h's chat ends and its own invitations are withdrawn; one to h
        for pair in [c for c in chats if h in c]:  # may not have reached it yet, and stays open
            chats.discard(pair)  # (explorer seed 6484: a quit before the peer's crossing SYN came)
        orphans.pop(h, None)
        for inviters in invited.values():
            inviters.discard(h)

    for step in steps:
        host, action = step_parts(step)
        verb, _, arg = action.partition(" ")
        if host is None:
            continue
        if verb == "start" and arg != "daemon":
            if arg in orphans:  # our SYN frees it from its chat with a vanished peer
                vanished = orphans[arg]
                release(arg)
                if host in vanished:  # ...or, that peer restarted, is taken for its repeat (above)
                    chats.add(frozenset((host, arg)))
            invited.setdefault(arg, set()).add(host)
            if arg in invited.get(host, set()):  # crossing invitations: a chat
                chats.add(frozenset((host, arg)))
        elif verb == "accept":
            chats.update(frozenset((host, inviter)) for inviter in invited.get(host, set()))
        elif action in ("quit", "kill client", "disconnect"):
            release(host)
        elif action in ("kill daemon", "restart daemon"):
            for h in (h for c in chats if host in c for h in c if h != host):
                orphans.setdefault(h, set()).add(host)
            release(host)
    return {h for c in chats for h in c} | set(orphans)


def _connect_while_connected(steps: Sequence[str]) -> bool:
    """Some `connect` comes while its host's client is still connected (hosts begin connected)."""
    connected: set[str] = {h for h in (step_parts(s)[0] for s in steps) if h}
    for step in steps:
        host, action = step_parts(step)
        if host is None:
            continue
        if action == "connect":
            if host in connected:
                return True
            connected.add(host)
        elif action in ("kill client", "disconnect", "kill daemon", "restart daemon"):
            connected.discard(host)
    return False


def step_parts(step: str) -> tuple[str | None, str]:
    """`"alice: start bob"` -> ("alice", "start bob"); `"sleep: 3s"` -> (None, "3s")."""
    who, _, action = step.partition(": ")
    return (None, action) if who == "sleep" else (who, action)


# -- fault rules ---------------------------------------------------------------------------------


def _rule(rng: random.Random, kind: str, hosts: Sequence[str]) -> str:
    side = rng.choice(list(hosts[:2]))
    op = rng.choice(OPS)
    where = f"match: {{from: {side}, op: {op}}}, nth: {rng.randint(1, 6)}"
    if kind == "drop":
        roll = rng.random()
        if roll < 0.3:
            return f"{{loss: {rng.choice([0.05, 0.1, 0.2, 0.3])}}}"
        if roll < 0.45:  # one kind of datagram of one side is lossy (e.g. every handshake ACK)
            return f"{{match: {{from: {side}, op: {op}}}, loss: {rng.choice([0.3, 0.5])}}}"
        if roll < 0.6:  # small delays only: under a quarter of the timeout
            return f"{{{where}, delay: [0s, {TIMEOUT / 4 * rng.random():.2f}s]}}"
        return f"{{{where}, drop: true}}"
    if kind == "dup":
        return f"{{{where}, duplicate: {{copies: 1, gap: {rng.uniform(0, 2 * TIMEOUT):.2f}s}}}}"
    if kind == "delay":
        if rng.random() < 0.4:  # a FIN or chat datagram late enough to land in the next chat
            late = rng.choice(["FIN", "CHAT"])
            return (f"{{match: {{from: {side}, op: {late}}}, nth: {rng.randint(1, 3)}, "
                    f"delay: {rng.uniform(TIMEOUT, 3 * TIMEOUT):.2f}s}}")
        return f"{{{where}, delay: {rng.uniform(TIMEOUT / 2, 2.5 * TIMEOUT):.2f}s}}"
    return f"{{{where}, reorder: {{max_hold: {rng.uniform(0.5, 2 * TIMEOUT):.2f}s}}}}"


def beyond_drops(rule: str) -> bool:
    """The rule duplicates, reorders or delays by half the timeout or more (SPEC's known limit)."""
    fixed = re.search(r"delay: ([\d.]+)s", rule)
    long_delay = fixed is not None and float(fixed[1]) >= TIMEOUT / 2
    return "duplicate:" in rule or "reorder:" in rule or long_delay


# -- users' steps --------------------------------------------------------------------------------


class _Builder:
    """Accumulates steps while keeping a rough model of who is up, connected and in a chat."""

    def __init__(self, rng: random.Random, hosts: Sequence[str]) -> None:
        self.rng = rng
        self.hosts = list(hosts)
        self.steps: list[str] = []
        self.episodes: list[str] = []
        self.crossings: list[tuple[int, int]] = []
        self.down: set[str] = set()
        self.passive: set[str] = set()  # survivors of a vanished peer: their users do nothing more
        self.episode = 0
        self.count: dict[str, int] = {}
        self.slow_path: set[str] = set()  # hosts whose datagrams take CROSSING_DELAY (crossings)
        self.faults: list[str] = []  # rules an episode asks for (drop-only: losses, small delays)
        self.fin_resend = False  # the next re-invite comes when the quitter re-sends its FIN

    def fault(self, rule: str) -> None:
        if rule not in self.faults:
            self.faults.append(rule)

    def add(self, *steps: str) -> None:
        self.steps.extend(steps)

    def maybe_sleep(self, p: float = 0.3, choices: Sequence[float] = (0.5, 1, 3, 6, 12)) -> None:
        if self.rng.random() < p:
            self.add(f"sleep: {self.rng.choice(list(choices)):g}s")

    def say(self, who: str) -> None:
        key = f"{who}{self.episode}"
        self.count[key] = self.count.get(key, 0) + 1
        self.add(f"{who}: say {who[0]}{self.episode}-{self.count[key]}")

    def talk(self, x: str, y: str, most: int = 4) -> None:
        for _ in range(self.rng.randint(0, most)):
            self.say(self.rng.choice([x, y]))
            self.maybe_sleep(0.25)

    def invite(self, x: str, y: str) -> None:
        if self.rng.random() < 0.5:
            self.add(f"{y}: wait")
        self.add(f"{x}: start {y}")

    def revive(self, x: str) -> None:
        """Bring x's daemon and client back (after a kill)."""
        if x in self.down:
            self.add(f"{x}: start daemon")
            self.down.discard(x)
        self.add(f"{x}: connect")


def _end_chat(b: _Builder, x: str, y: str, third: str | None) -> tuple[str, str] | None:
    """End the chat between x and y; returns (who may re-invite at once, the notice it waits for)."""
    rng = b.rng
    roll = rng.random()
    if roll < 0.35:
        quitter, other = (x, y) if rng.random() < 0.5 else (y, x)
        if rng.random() < 0.5:
            if rng.random() < 0.5:  # the re-invite comes about a timeout later (`_reinvite_at_fin_resend`)
                b.fin_resend = True
                if b.count.get(f"{quitter}{b.episode}", 0) % 2 == 0:
                    b.say(quitter)  # (an odd number said: the FIN carries bit 1, which a copy landing
                    # in the next chat, where the quitter has said nothing yet, is told apart by)
            b.add(f"{quitter}: quit")
            return other, "peer left"
        b.add(f"{quitter}: quit")
        return quitter, "chat ended"
    if roll < 0.45:
        b.add(f"{x}: quit", f"{y}: quit")
        return None
    if roll < 0.55:
        b.episodes.append("kill-client")
        b.add(f"{x}: kill client")
        b.add(f"sleep: {rng.choice([4, 5, 10])}s")  # the daemon notices a vanished client within 3 s
        b.add(f"{x}: connect")
        return y, "peer left"
    if roll < 0.65:
        b.episodes.append("kill-daemon")
        b.add(f"{x}: kill daemon")
        b.down.add(x)
        b.maybe_sleep(0.7, (1, 5, 20))
        if rng.random() < 0.5:
            b.revive(x)
        return None
    if roll < 0.85 or third is None:
        b.episodes.append("restart-reinvite")
        b.add(f"{x}: restart daemon", f"{x}: connect")
        b.maybe_sleep(0.3, (0.5, 2))
        b.episode += 1
        b.invite(x, y)
        b.add(f"{y}: accept")
        b.talk(x, y, 2)
        b.add(f"{rng.choice([x, y])}: quit")
        return None
    b.episodes.append("vanished")
    b.add(f"{x}: kill daemon")
    b.down.add(x)
    b.passive.add(y)
    for _ in range(rng.randint(2, 5)):
        b.add(f"{third}: start {y}")
        b.add(f"sleep: {rng.choice([10, 20, 40]):g}s")
        b.add(f"{third}: quit")
    return None


def _left_at_start(b: _Builder, x: str, y: str) -> tuple[str, str] | None:
    """One side leaves the chat as soon as it starts, with x's SYNs slowed (under a quarter of the
    timeout) and y's SYN+ACKs lossy: a SYN re-sent before the SYN+ACK came may reach y after
    the whole chat is over (SPEC: a late copy of the chat's own SYN is no new invitation)."""
    b.episodes.append("left-at-start")
    b.fault(f"{{match: {{from: {x}, op: SYN}}, delay: [0s, {TIMEOUT / 4:g}s]}}")
    b.fault(f"{{match: {{from: {y}, op: SYN+ACK}}, loss: 0.5}}")
    leaver = x if b.rng.random() < 0.75 else y  # (x's FIN ends y's side at once)
    b.add(f"{leaver}: wait-until chat started within {STEP_WAIT:g}s", f"{leaver}: quit")
    # (the leaver re-invites once its FIN is acknowledged: invited at once by the other side, it
    # may still be leaving, and a crossing it should join is skipped: no chat, nothing said)
    return (leaver, "chat ended") if b.rng.random() < 0.5 else None


def _reinvite_at_fin_resend(b: _Builder, who: str, quitter: str) -> None:
    """`who` was told "peer left" and re-invites a little less than a timeout later, just after
    `quitter` re-sends its FIN if `who`'s ACK was lost (lossy here), with those FINs slowed by
    FIN_DELAY (under a quarter of the timeout): a copy sent just before the new SYN reached
    `quitter` arrives in the new chat (SPEC: late datagrams of the old chat never decide the new
    one).  The FIN that told `who` took FIN_DELAY too, so the re-send comes TIMEOUT - FIN_DELAY
    after "peer left"; the new chat starts when the SYN and SYN+ACK have crossed, before the copy
    comes FIN_DELAY after it left unless they take longer."""
    b.fin_resend = False
    b.episodes.append("reinvite-at-fin-resend")
    b.fault(f"{{match: {{from: {who}, op: ACK}}, loss: 0.5}}")
    b.fault(f"{{match: {{from: {quitter}, op: FIN}}, delay: {FIN_DELAY:g}s}}")
    b.add(f"sleep: {b.rng.uniform(TIMEOUT - FIN_DELAY, TIMEOUT - FIN_DELAY / 4):.2f}s")


def _chat_begun_quietly(b: _Builder, x: str, y: str, third: str | None) -> tuple[str, str] | None:
    """A chat y accepts at once and says nothing in for two seconds (after
    `_reinvite_at_fin_resend`): a copy of y's old FIN that arrives meanwhile is no leave of it."""
    b.episode += 1
    b.episodes.append("chat")
    b.add(f"{x}: start {y}", f"{y}: accept", "sleep: 2s")
    b.talk(x, y)
    return _end_chat(b, x, y, third)


def _episode(b: _Builder, kind: str, x: str, y: str, third: str | None) -> tuple[str, str] | None:
    rng = b.rng
    b.episode += 1
    b.episodes.append(kind)
    if kind == "decline":
        b.invite(x, y)
        b.maybe_sleep(0.2, (0.5, 3))
        b.add(f"{y}: decline")
        return (x, "declined") if rng.random() < 0.5 else None
    if kind in ("withdraw", "withdraw-after-accept"):
        b.invite(x, y)
        if kind == "withdraw-after-accept":
            b.add(f"{y}: accept")
        elif rng.random() < 0.5:
            b.add(f"{y}: wait-until invitation within {STEP_WAIT:g}s")
        b.maybe_sleep(0.3, (0.5, 2, 6))
        b.add(f"{x}: quit")
        # y answers what it was shown: declines an invitation still open, or (skipped) takes note of
        # the withdrawn one, so that its next `accept` waits for a new invitation
        b.add(f"{y}: {'quit' if kind == 'withdraw-after-accept' else 'decline'}")
        return None
    if kind == "cross":
        b.add(f"{x}: start {y}")  # x's datagrams are slowed (see generate) so that y's start crosses
        first = len(b.steps) - 1
        b.maybe_sleep(0.5, (0.1, 0.3))
        b.add(f"{y}: start {x}")
        b.crossings.append((first, len(b.steps) - 1))
        b.slow_path.add(x)
    else:  # chat, busy
        b.invite(x, y)
        b.maybe_sleep(0.2, (0.5, 3))
        b.add(f"{y}: accept")
        if kind == "chat" and rng.random() < 0.3:
            return _left_at_start(b, x, y)
    b.talk(x, y)
    if kind == "busy" and third is not None:
        b.add(f"{third}: start {rng.choice([x, y])}")
        b.maybe_sleep(0.5, (0.5, 6))
        b.add(f"{third}: quit")
        b.talk(x, y, 2)
    return _end_chat(b, x, y, third)


def generate(seed: int, kinds: Sequence[str]) -> Schedule:
    """A random schedule from `seed`, with fault rules of the given kinds."""
    rng = random.Random(seed)
    hosts = ("alice", "bob", "carol") if rng.random() < 0.4 else ("alice", "bob")
    faults = tuple(_rule(rng, rng.choice(list(kinds)), hosts) for _ in range(rng.randint(0, 4)))
    b = _Builder(rng, hosts)
    kinds_here = [k for k in ("chat", "decline", "withdraw", "withdraw-after-accept", "cross", "busy")
                  if k != "busy" or len(hosts) == 3]
    again: tuple[str, str] | None = None
    x, y = rng.sample(["alice", "bob"], 2)
    for _ in range(rng.randint(1, 4)):
        if b.passive or b.down & {x, y}:
            break
        third = next((h for h in hosts if h not in (x, y)), None)
        if again is not None:  # right after an end: re-invite at once, in either direction
            who, notice = again
            b.add(f"{who}: wait-until {notice} within 60s")
            x, y = who, (y if who == x else x)
            b.episodes.append("reinvite")
            if b.fin_resend:
                _reinvite_at_fin_resend(b, x, y)
        elif b.episode:  # later, when the last chat's FIN exchange has had time to end
            b.add(f"sleep: {rng.choice([6, 12, 20])}s")
        else:
            b.maybe_sleep(0.3, (1, 6, 20))
        kind = rng.choice(kinds_here)
        if "reinvite-at-fin-resend" in b.episodes[-1:]:
            again = _chat_begun_quietly(b, x, y, third)
        else:
            again = _episode(b, kind, x, y, third)
        if again is None and rng.random() < 0.5:
            x, y = y, x
    for h in hosts:  # the users still in a chat end it; survivors of a vanished peer do nothing
        if h not in b.down and h not in b.passive:
            b.add(f"{h}: quit")
    final = final_states(hosts, b.steps)
    # a loopback path has no latency: without it, the first SYN would arrive before the second
    # user typed `start`, and the invitations would not cross (the same small delay for every
    # datagram of that host keeps its order: still a drop-only path)
    faults += tuple(b.faults)
    faults += tuple(f"{{match: {{from: {h}}}, delay: {CROSSING_DELAY:g}s}}" for h in sorted(b.slow_path))
    # plain SIMP everywhere (SPEC's protocol, with its known limit), SIMPX/1 everywhere, or a
    # SIMPX/1 daemon with a plain peer (which must behave as plain SIMP)
    mode = rng.random()
    plain = hosts if mode < 0.4 else () if mode < 0.8 else (rng.choice(hosts),)
    return Schedule(seed, hosts, faults, tuple(b.steps), tuple(b.episodes), tuple(b.crossings), final,
                    plain)
