"""`python -m sim explore`: random fault schedules and user actions, checked against invariants.

Each run is an ordinary scenario (generated as YAML text, so what is written out replays
exactly), run in-process under the virtual clock.  After each run the explorer checks:

- every message is delivered at most once, in the order it was said, and nothing is delivered
  that was not said;
- every message not delivered was reported undelivered to its sender;
- the run settled (no state stuck with timers forever), both daemons ended free, no harness error.

A run whose steps could not be carried out (the chat never started because the handshake gave
up) is counted as inconclusive, not as a violation: SPEC allows giving up.  A violation is
shrunk (fault rules, messages and pauses removed while it persists) and written as a scenario
whose expectations state the correct outcome, so running it fails the same way.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sim.runner import Result, run_scenario
from sim.scenario import parse_scenario

KINDS = ("drop", "dup", "delay", "reorder")
OPS = ("SYN", "SYN+ACK", "ACK", "CHAT", "FIN")
TIMEOUT = 5.0


@dataclass(frozen=True)
class Schedule:
    """What one run does: fault rules (YAML flow mappings), the users' actions, the seed."""

    seed: int
    faults: tuple[str, ...]
    steps: tuple[str, ...]
    said: dict[str, tuple[str, ...]] = field(default_factory=dict)
    retries: int = 8

    def yaml(self, name: str, description: str = "") -> str:
        lines = [f"name: {json.dumps(name)}"]
        if description:
            lines += ["description: >", *(f"  {line}" for line in description.splitlines())]
        lines += [f"seed: {self.seed}", f"retries: {self.retries}", "time_limit: 30m", "hosts: [alice, bob]"]
        lines += ["faults:" if self.faults else "faults: []", *(f"  - {f}" for f in self.faults)]
        lines += ["steps:", *(f"  - {s}" for s in self.steps)]
        lines += ["expect:", "  delivered:",
                  f"    bob: [{', '.join(self.said.get('alice', ()))}]",
                  f"    alice: [{', '.join(self.said.get('bob', ()))}]",
                  "  final: {alice: free, bob: free}"]
        return "\n".join(lines) + "\n"


def _rule(rng: random.Random, kind: str) -> str:
    side = rng.choice(["alice", "bob"])
    op = rng.choice(OPS)
    where = f"match: {{from: {side}, op: {op}}}, nth: {rng.randint(1, 3)}"
    if kind == "drop":
        if rng.random() < 0.4:
            return f"{{loss: {rng.choice([0.05, 0.1, 0.2, 0.3])}}}"
        if rng.random() < 0.3:  # small delays only: under a quarter of the timeout
            return f"{{{where}, delay: [0s, {TIMEOUT / 4 * rng.random():.2f}s]}}"
        return f"{{{where}, drop: true}}"
    if kind == "dup":
        return f"{{{where}, duplicate: {{copies: 1, gap: {rng.uniform(0, 2 * TIMEOUT):.2f}s}}}}"
    if kind == "delay":
        return f"{{{where}, delay: {rng.uniform(TIMEOUT / 2, 2.5 * TIMEOUT):.2f}s}}"
    return f"{{{where}, reorder: {{max_hold: {rng.uniform(0.5, 2 * TIMEOUT):.2f}s}}}}"


def generate(seed: int, kinds: Sequence[str]) -> Schedule:
    """A random schedule from `seed`, with fault rules of the given kinds."""
    rng = random.Random(seed)
    faults = tuple(_rule(rng, rng.choice(list(kinds))) for _ in range(rng.randint(1, 4)))
    said: dict[str, list[str]] = {"alice": [], "bob": []}
    steps = ["bob: wait", "alice: start bob", "bob: accept"]
    for _ in range(rng.randint(1, 8)):
        who = rng.choice(["alice", "bob"])
        text = f"{who[0]}{len(said[who]) + 1}"
        said[who].append(text)
        steps.append(f"{who}: say {text}")
        if rng.random() < 0.3:
            steps.append(f"sleep: {rng.choice([1, 3, 6, 12])}s")
    quitter = rng.choice(["alice", "bob"])
    steps.append(f"{quitter}: quit")
    if rng.random() < 0.2:
        steps.append(f"{'bob' if quitter == 'alice' else 'alice'}: quit")
    return Schedule(seed, faults, tuple(steps), {k: tuple(v) for k, v in said.items()})


# -- invariants ------------------------------------------------------------------------------------

HARD_FAILURES = ("not settled", "final state", "harness error", "Stalled", "WallTimeExceeded",
                 "VirtualTimeExceeded")


def violations(result: Result) -> list[str]:
    """What went wrong in `result` by the explorer's invariants (empty: nothing).

    Only messages whose `say` step really ran count (a run may stop early)."""
    hard = HARD_FAILURES[2:] if inconclusive(result) else HARD_FAILURES  # no quit ran: not settling is fine
    found = [f.message for f in result.failures if f.message.startswith(hard)]
    for sender, receiver in (("alice", "bob"), ("bob", "alice")):
        sent = result.said.get(sender, [])
        got = [s.text for s in result.notices.get(receiver, []) if s.kind == "message"]
        reported = {t for s in result.notices.get(sender, []) for t in s.undelivered}
        for text in sorted(set(got)):
            if got.count(text) > 1:
                found.append(f"{receiver} received {text!r} {got.count(text)} times")
            if text not in sent:
                found.append(f"{receiver} received {text!r}, which {sender} never said")
        order = [sent.index(t) for t in dict.fromkeys(got) if t in sent]
        if order != sorted(order):
            found.append(f"{receiver} received {sender}'s messages out of order: {got}")
        for text in sent:
            if text not in got and text not in reported:
                found.append(f"{sender}'s {text!r} was neither delivered nor reported undelivered")
    return found


def inconclusive(result: Result) -> bool:
    """The steps stopped early (e.g. the chat never started), which SPEC allows under loss."""
    return any(not f.message.startswith(HARD_FAILURES) for f in result.failures)


def check(schedule: Schedule) -> tuple[Result, list[str]]:
    sc = parse_scenario(schedule.yaml(f"explore seed {schedule.seed}"), f"explore-{schedule.seed}.yaml")
    sc = replace(sc, expect=replace(sc.expect, delivered={}))  # delivery is judged by violations()
    result = run_scenario(sc)
    return result, violations(result)


# -- shrinking -------------------------------------------------------------------------------------


def _without_step(schedule: Schedule, index: int) -> Schedule:
    step = schedule.steps[index]
    said = dict(schedule.said)
    who, _, action = step.partition(": ")
    if action.startswith("say "):
        said[who] = tuple(t for t in said[who] if t != action[4:])
    return replace(schedule, steps=schedule.steps[:index] + schedule.steps[index + 1:], said=said)


def shrink(schedule: Schedule) -> Schedule:
    """Remove fault rules, messages and pauses while some violation remains."""
    changed = True
    while changed:
        changed = False
        for i in range(len(schedule.faults)):
            smaller = replace(schedule, faults=schedule.faults[:i] + schedule.faults[i + 1:])
            if check(smaller)[1]:
                schedule, changed = smaller, True
                break
        else:
            for i, step in enumerate(schedule.steps):
                if step.split(": ", 1)[1].startswith(("say ", "quit")) or step.startswith("sleep"):
                    smaller = _without_step(schedule, i)
                    if any(s.endswith(": quit") for s in smaller.steps) and check(smaller)[1]:
                        schedule, changed = smaller, True
                        break
    return schedule


@dataclass
class Summary:
    runs: int = 0
    inconclusive: int = 0
    protocol_time: float = 0.0
    found: list[tuple[Schedule, list[str], Path | None]] = field(default_factory=list)


def explore(runs: int, seed: int, kinds: Sequence[str], out: Path | None,
            stop_after: int | None = None) -> Summary:
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    summary = Summary()
    for s in range(seed, seed + runs):
        schedule = generate(s, kinds)
        result, problems = check(schedule)
        summary.runs += 1
        summary.protocol_time += result.virtual_time
        if problems:
            small = shrink(schedule)
            small_problems = check(small)[1] or problems
            path = None
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"explore-{','.join(kinds)}-seed{s}.yaml"
                path.write_text(small.yaml(f"explore seed {s}: {small_problems[0]}",
                                           "Found by python -m sim explore; violations:\n"
                                           + "\n".join(small_problems)))
            summary.found.append((small, small_problems, path))
            if stop_after is not None and len(summary.found) >= stop_after:
                break
        elif inconclusive(result):
            summary.inconclusive += 1
    return summary


def main(runs: int, seed: int, faults: list[str], out: Path) -> int:
    try:
        summary = explore(runs, seed, faults, out)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    for schedule, problems, path in summary.found:
        print(f"seed {schedule.seed}: {problems[0]}  -> {path}  (replay: python -m sim run {path})")
    print(f"{summary.runs} runs ({','.join(faults)}), {summary.protocol_time:.0f}s of protocol time: "
          f"{len(summary.found)} violations, {summary.inconclusive} inconclusive")
    return 1 if summary.found else 0
