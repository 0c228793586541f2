"""`python -m sim explore`: random schedules of users and faults, checked against invariants.

Each run is an ordinary scenario (generated as YAML text by `sim.explore_gen`, so what is
written out replays exactly), run in-process under the virtual clock with
`on_step_failure: continue`.  What the run showed becomes a `RunLog`, checked by
`sim.explore_check.violations`.

Each violation of a run is classified on its own.  *Known limit*: the run had a duplicate, a
reorder or a delay beyond half the timeout, and the same schedule with those rules switched off
(replaced by a rule that never fires, so every other rule draws the same random numbers) no
longer shows that kind of violation: SPEC's one-bit limit, reported apart, by kind.  *Real*:
everything else, and every violation of a drop-only schedule.  Real violations are counted by
kind (the message with hosts, texts and numbers blanked) with the first seed of each; the first
run of each kind is shrunk (fault rules and steps removed while a violation of that kind
remains) and written as a scenario: `python -m sim run FILE` shows its ladder, and
`python -m sim explore --replay FILE` checks it with the explorer's invariants again.

A run is *inconclusive* when it could not exercise what it was generated for; the reasons are
counted: every chat failed to start, so no message could be said (SPEC allows giving up).

A run that does not finish within `RUN_WALL_LIMIT` seconds of real time (a run takes some
milliseconds) is a real violation of its own kind, "did not finish": something spins without
moving the virtual clock (seed 44101 found such a loop in the harness's waits).  It is written
as generated, not shrunk: each try of a smaller schedule could cost the whole limit.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from sim.explore_check import PLAIN_LIMIT, Notice, RunLog, Sent, StepLog, violations
from sim.explore_gen import KINDS, NEVER, STEP_WAIT, TIMEOUT, Schedule, beyond_drops, generate, step_parts
from sim.runner import Result, run_scenario
from sim.scenario import parse_scenario
from sim.trace import DUPLICATED, FORWARDED, NOTE, RECEIVED, REORDERED
from simp.wire import Op, Type

DEFAULT_RUNS = 400
SHRINK_BUDGET = 60  # runs spent shrinking one kind of violation
RUN_WALL_LIMIT = 20.0  # real seconds one run may take
UNFINISHED = "the run did not finish"
_STEP_INDEX = re.compile(r"steps\[(\d+)\]")


def run_log(result: Result, schedule: Schedule) -> RunLog:
    """What `result` showed, in the terms the invariants use."""
    events = result.trace.events
    step_at = [(e.t, k) for k, e in enumerate(events) if e.action == NOTE and e.note.startswith("> ")]
    skipped = {int(m.group(1)) for f in result.skipped if (m := _STEP_INDEX.match(f.message))}
    steps = []
    for i, step in enumerate(schedule.steps):
        host, action = step_parts(step)
        t, seq = step_at[i] if i < len(step_at) else (result.virtual_time, len(result.trace.events))
        steps.append(StepLog(t, host, action, i < len(step_at) and i not in skipped, seq))
    shown: dict[str, list[int]] = {}  # each host's notices' places in the trace, in order
    for k, e in enumerate(result.trace.events):
        if e.action == NOTE and e.note.startswith("* "):
            shown.setdefault(e.src, []).append(k)
    notices = {
        host: [Notice(s.t, s.kind, s.text, s.undelivered,
                      tuple(u for u in s.undelivered if u not in s.unconfirmed),
                      shown.get(host, [])[j] if j < len(shown.get(host, [])) else 0)
               for j, s in enumerate(seen)]
        for host, seen in result.notices.items()
    }
    arrived: dict[int, tuple[float, int]] = {}  # (when, and its place in the trace)
    for k, e in enumerate(result.trace.events):
        if e.action == FORWARDED and e.copy == 0:
            arrived.setdefault(e.n, (e.t, k))
    fins: list[Sent] = []
    syns: list[Sent] = []
    syn_acks: list[Sent] = []
    kept = {Op.FIN: fins, Op.SYN: syns, Op.SYN_ACK: syn_acks}
    for k, e in enumerate(result.trace.events):
        dg = e.datagram if e.action == RECEIVED else None
        if dg is not None and dg.type is Type.CONTROL and dg.op in kept:
            at, at_order = arrived.get(e.n, (None, 0))
            kept[Op(dg.op)].append(Sent(e.t, e.src, e.dst, dg.seq, at, k, at_order))
    said: dict[str, list[str]] = {h: [] for h in schedule.hosts}  # (the runner's said is per client)
    for s in steps:
        if s.done and s.host and s.action.startswith("say "):
            said[s.host].append(s.action[4:])
    return RunLog(steps=steps, notices=notices, said=said, fins=fins, syns=syns, syn_acks=syn_acks,
                  failures=[f.message for f in result.failures], crossings=schedule.crossings,
                  timeout=result.scenario.daemon.timeout, invite_expiry=result.scenario.daemon.invite_expiry,
                  end=result.virtual_time, plain=schedule.plain,  # (an old harness counts no dialects)
                  dialects_learned=dict(getattr(result, "dialects_learned", {})))


def run(schedule: Schedule) -> Result:
    sc = parse_scenario(schedule.yaml(f"explore seed {schedule.seed}"), f"explore-{schedule.seed}.yaml")
    return run_scenario(sc, wall_limit=RUN_WALL_LIMIT)


def check(schedule: Schedule) -> tuple[Result, list[str]]:
    result = run(schedule)
    return result, violations(run_log(result, schedule))


def inconclusive(result: Result, schedule: Schedule) -> str | None:
    """Why the run could not exercise what it was generated for (None: it could)."""
    says = [s for s in schedule.steps if step_parts(s)[1].startswith("say ")]
    if says and not any(result.said.values()):
        return "no chat started, so no message could be said (handshake gave up under loss)"
    return None


# -- known limit -----------------------------------------------------------------------------------


def _beyond_drops(result: Result) -> bool:
    """A duplicate, a reorder or a delay beyond half the timeout happened in the run."""
    sent = {e.n: e.t for e in result.trace.events if e.action == RECEIVED}
    for e in result.trace.events:
        if e.action in (DUPLICATED, REORDERED):
            return True
        if e.action == FORWARDED and e.t - sent.get(e.n, e.t) > TIMEOUT / 2:
            return True
    return False


def drops_only(schedule: Schedule) -> Schedule:
    """`schedule` with every duplicate, reorder and long-delay rule replaced by one that never fires."""
    keep = tuple(NEVER if beyond_drops(f) else f for f in schedule.faults)
    return replace(schedule, faults=keep)


def split_known_limit(schedule: Schedule, result: Result,
                      problems: list[str]) -> tuple[list[str], list[str]]:
    """(real, known limit): a kind of violation that needs a duplicate, a reorder or a long delay
    is gone from the same schedule with those rules switched off."""
    if not _beyond_drops(result):
        return problems, []
    remaining = {_shape(p) for p in check(drops_only(schedule))[1]}
    real = [p for p in problems if _shape(p) in remaining]
    return real, [p for p in problems if p not in real]


# -- shrinking -------------------------------------------------------------------------------------


def _shape(problem: str) -> str:
    """A violation with hosts, messages, times and numbers blanked: its kind."""
    problem = re.sub(r"'[a-z]\d+-\d+'", "'m'", problem)
    problem = re.sub(r"\b(alice|bob|carol)\b", "X", problem)
    return re.sub(r"\d+(\.\d+)?s?", "#", problem)


def shrink(schedule: Schedule, problems: list[str], budget: int = SHRINK_BUDGET) -> Schedule:
    """Remove fault rules and steps while a violation of the same kind as the first remains.

    A smaller schedule must keep the meaning of the expectations: removing a user's closing
    `quit`, a kill, or the third host whose invitation makes a daemon notice its vanished peer
    would leave a chat open on purpose, and "expected free, got chatting" would then hold by
    construction, not show a daemon that failed to free itself (explorer seed 713 shrank to two
    crossing `start`s and nothing else).  So a step is removed only if every host expected free
    still has nothing left open (`Schedule.legitimate`); that is decided from the steps alone,
    before spending a run on it."""
    want = _shape(problems[0])
    spent = 0

    def still(candidate: Schedule) -> bool:
        nonlocal spent
        spent += 1
        return any(_shape(p) == want for p in check(candidate)[1])

    changed = True
    while changed and spent < budget:
        changed = False
        for i in range(len(schedule.faults)):
            smaller = replace(schedule, faults=schedule.faults[:i] + schedule.faults[i + 1:])
            if spent < budget and still(smaller):
                schedule, changed = smaller, True
                break
        else:
            for i in reversed(range(len(schedule.steps))):
                smaller = schedule.without_step(i)
                if spent < budget and smaller.legitimate() and still(smaller):
                    schedule, changed = smaller, True
                    break
    return schedule


# -- the exploration -------------------------------------------------------------------------------


@dataclass
class Found:
    schedule: Schedule
    problems: list[str]
    yaml: str
    path: Path | None = None


@dataclass
class Outcome:
    """What one seed gave, small enough to come back from a worker process."""

    seed: int
    protocol_time: float
    episodes: tuple[str, ...]
    skipped: int
    inconclusive: str | None = None
    found: Found | None = None
    known_limit: Found | None = None
    plain_limit: Found | None = None


@dataclass
class Summary:
    runs: int = 0
    run_time: float = 0.0  # seconds spent on the runs themselves
    wall_time: float = 0.0  # ... and on shrinking and writing what they found
    protocol_time: float = 0.0
    skipped_steps: int = 0
    inconclusive: Counter[str] = field(default_factory=Counter)
    episodes: Counter[str] = field(default_factory=Counter)
    found: list[Found] = field(default_factory=list)
    known_limit: list[Found] = field(default_factory=list)
    plain_limit: list[Found] = field(default_factory=list)
    examples: dict[str, tuple[int, Found]] = field(default_factory=dict)  # kinds(), shrunk and written

    @property
    def inconclusive_runs(self) -> int:
        return sum(self.inconclusive.values())

    def kinds(self) -> dict[str, tuple[int, Found]]:
        """Per kind of real violation (`_shape`): in how many runs, and the first run with it (its
        problems reordered so that this kind comes first)."""
        first: dict[str, tuple[int, Found]] = {}
        for found in self.found:
            for shape, problem in {_shape(p): p for p in reversed(found.problems)}.items():
                n, example = first.get(shape, (0, None))
                if example is None:
                    others = [p for p in found.problems if p != problem]
                    example = Found(found.schedule, [problem, *others], "")
                first[shape] = (n + 1, example)
        return first


def _written(schedule: Schedule, problems: list[str], title: str) -> str:
    result, peers = run(schedule), _peers(schedule)
    return schedule.yaml(f"explore seed {schedule.seed}: {problems[0]}",
                         f"Found by python -m sim explore ({title}); check it again with "
                         f"python -m sim explore --replay FILE"
                         + ("; expect.delivered is what each peer said in the found run (a fix that "
                            "lets more be said changes it)" if peers else "")
                         + "; violations:\n" + "\n".join(problems),
                         delivered={h: result.said.get(o, []) for h, o in peers.items()} if peers else None)


def _peers(schedule: Schedule) -> dict[str, str]:
    """For the `delivered` expectation of two-host schedules: each host receives what the other said.
    With three hosts who said what to whom is not written down, so no `delivered` is expected
    (an empty list for each host failed as a scenario as soon as a message got through).  Nor
    where a kill or restart may cut a chat: its messages are then reported, not delivered
    (explorer seed 14694)."""
    cuts = ("kill client", "kill daemon", "restart daemon")
    if len(schedule.hosts) != 2 or any(step_parts(s)[1] in cuts for s in schedule.steps):
        return {}
    a, b = schedule.hosts
    return {a: b, b: a}


def one_seed(seed: int, kinds: Sequence[str]) -> Outcome:
    """Run and check the schedule of `seed`; a violation is classified, not yet shrunk."""
    schedule = generate(seed, kinds)
    try:
        result, problems = check(schedule)
    except Exception as exc:  # the harness itself broke (e.g. no loopback address): say so, go on
        return Outcome(seed, 0.0, schedule.episodes, 0, inconclusive=f"harness crashed: {type(exc).__name__}")
    outcome = Outcome(seed, result.virtual_time, schedule.episodes, len(result.skipped))
    unfinished = [f"{UNFINISHED}: {f.message}" for f in result.failures
                  if f.message.startswith("WallTimeExceeded")]
    if unfinished:
        outcome.found = Found(schedule, unfinished, "")
        return outcome
    if problems:
        plain = [p for p in problems if p.startswith(PLAIN_LIMIT)]
        real, limit = split_known_limit(schedule, result, [p for p in problems if p not in plain])
        outcome.found = Found(schedule, real, "") if real else None
        outcome.known_limit = Found(schedule, limit, "") if limit else None
        outcome.plain_limit = Found(schedule, plain, "") if plain else None
        return outcome
    outcome.inconclusive = inconclusive(result, schedule)
    return outcome


def _one_seed_star(args: tuple[int, tuple[str, ...]]) -> Outcome:
    return one_seed(*args)


def explore(runs: int, seed: int, kinds: Sequence[str], out: Path | None, jobs: int = 1,
            stop_after: int | None = None, shrinking: bool = True) -> Summary:
    """Run `runs` seeds from `seed`; then shrink and write one scenario per kind of real violation."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    summary = Summary()
    started = time.monotonic()
    work = [(s, tuple(kinds)) for s in range(seed, seed + runs)]
    if jobs > 1:
        # spawn, not fork: each worker must draw its own loopback blocks (sim.loopback), not a copy
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for outcome in pool.map(_one_seed_star, work, chunksize=8):
                if _add(summary, outcome, stop_after):
                    break
    else:
        for item in work:
            if _add(summary, _one_seed_star(item), stop_after):
                break
    summary.run_time = time.monotonic() - started
    summary.examples = summary.kinds()
    for number, (_, first) in enumerate(summary.examples.values(), start=1):
        unfinished = first.problems[0].startswith(UNFINISHED)
        small = shrink(first.schedule, first.problems) if shrinking and not unfinished else first.schedule
        want = _shape(first.problems[0])
        problems = first.problems if unfinished else sorted(check(small)[1] or first.problems,
                                                            key=lambda p, want=want: _shape(p) != want)
        first.yaml = _written(small, problems, "real violation")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            first.path = out / f"explore-{','.join(kinds)}-seed{first.schedule.seed}-{number}.yaml"
            first.path.write_text(first.yaml)
    summary.wall_time = time.monotonic() - started
    return summary


def _add(summary: Summary, outcome: Outcome, stop_after: int | None) -> bool:
    """Count one outcome; True when enough violations were found to stop."""
    summary.runs += 1
    summary.protocol_time += outcome.protocol_time
    summary.skipped_steps += outcome.skipped
    summary.episodes.update(outcome.episodes)
    if outcome.inconclusive:
        summary.inconclusive[outcome.inconclusive] += 1
    if outcome.known_limit:
        summary.known_limit.append(outcome.known_limit)
    if outcome.plain_limit:
        summary.plain_limit.append(outcome.plain_limit)
    if outcome.found:
        summary.found.append(outcome.found)
    return stop_after is not None and len(summary.found) >= stop_after


def report(summary: Summary, kinds: Sequence[str]) -> str:
    lines = []
    for count, first in sorted(summary.examples.values(), key=lambda e: e[1].schedule.seed):
        seed = first.schedule.seed
        lines.append(f"VIOLATION in {count} runs, first seed {seed}: {first.problems[0]}")
        lines += [f"    also: {p}" for p in first.problems[1:3]]
        if first.path is not None:
            # `sim run` checks only the file's expectations (final states), which a violation of
            # the explorer's invariants (a notice that lies, a message shown twice) may pass.
            lines.append(f"    replay: python -m sim explore --replay {first.path}   "
                         f"(ladder: python -m sim run --out DIR {first.path})")
    lines += _limit_lines(f"known limit (needs a duplicate, a reorder or a delay beyond {TIMEOUT / 2:g}s; "
                          f"SPEC 'Known limit')", summary.known_limit)
    lines += _limit_lines("plain SIMP's limit (its SYN and FIN carry no invitation identity; SIMPX/1 "
                          "tells these apart)", summary.plain_limit)
    rate = summary.runs / summary.run_time if summary.run_time else 0.0
    shrinking = summary.wall_time - summary.run_time
    lines.append(f"{summary.runs} runs ({','.join(kinds)}) in {summary.run_time:.1f}s ({rate:.1f} runs/s; "
                 f"{shrinking:.1f}s more to shrink and write), "
                 f"{summary.protocol_time:.0f}s of protocol time, {summary.skipped_steps} steps skipped: "
                 f"{len(summary.found)} runs with a real violation ({len(summary.examples)} kinds), "
                 f"{len(summary.known_limit)} with a known-limit one, "
                 f"{len(summary.plain_limit)} with a plain-SIMP-limit one, "
                 f"{summary.inconclusive_runs} inconclusive "
                 f"({100 * summary.inconclusive_runs / max(1, summary.runs):.2f}%)")
    lines += [f"    inconclusive: {n} x {reason}" for reason, n in summary.inconclusive.most_common()]
    lines.append("episodes: " + ", ".join(f"{k} {n}" for k, n in sorted(summary.episodes.items())))
    return "\n".join(lines)


def _limit_lines(title: str, runs: list[Found]) -> list[str]:
    """A limit's runs, counted per kind of violation, each with the first seed that showed it."""
    if not runs:
        return []
    shapes = Counter(shape for f in runs for shape in {_shape(p) for p in f.problems})
    seeds: dict[str, int] = {}
    for f in runs:
        for p in f.problems:
            seeds.setdefault(_shape(p), f.schedule.seed)
    return [f"{title}: {len(runs)} runs",
            *(f"    {n:5d} x {shape}  (e.g. seed {seeds[shape]})" for shape, n in shapes.most_common())]


def replay(paths: Sequence[Path]) -> int:
    """Run scenarios written by the explorer again and check them with its invariants; only a
    violation that is not plain SIMP's limit (`PLAIN_LIMIT`, printed all the same) fails."""
    status = 0
    for path in paths:
        schedule = Schedule.from_yaml(path.read_text())
        problems = check(schedule)[1]
        print(f"{path}: " + ("no violation" if not problems else f"{len(problems)} violations"))
        print("".join(f"    {p}\n" for p in problems), end="")
        status = status or (1 if any(not p.startswith(PLAIN_LIMIT) for p in problems) else 0)
    return status


def main(runs: int, seed: int, faults: list[str], out: Path, jobs: int = 1) -> int:
    try:
        summary = explore(runs, seed, faults, out, jobs=jobs)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    print(report(summary, faults))
    return 1 if summary.found else 0


__all__ = ["DEFAULT_RUNS", "STEP_WAIT", "explore", "generate", "main", "one_seed", "run_log", "violations"]
