"""How often SPEC's known limit bites over a reordering path: `python -m sim.explore_limit`.

One-bit stop-and-wait is exactly-once only over a path that keeps order.  This measures what a
user sees over a path that does not: two hosts chat MESSAGES messages each way (queued at once)
through a relay that delays a share of all datagrams by 0 to 2.4 timeouts, so that later
datagrams overtake them (a reordering path), then both quit.  Per message the outcome is one
of: delivered once; delivered twice (a stale duplicate passed as new); lost silently (never
shown to the peer, yet its sender was not told: a stale ACK acknowledged it); lost and reported
undelivered (the honest failure).

Runs use real `daemon.py` processes in scaled real time (`--processes`, the harness's process
mode) or the in-process daemons under the virtual clock (the default, fast); the figures of
RELIABILITY.md come from both.  The daemons run plain SIMP (SPEC's protocol, whose limit this
is) unless `--extension` makes both speak SIMPX/1, the negotiated extension that closes it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass

from sim.run_command import time_scale
from sim.runner import Result, run_scenario, run_scenario_processes
from sim.scenario import parse_scenario

MESSAGES = 40
HOLD = 12.0  # seconds a datagram may be held back (timeout 5 s): later ones overtake it


def scenario_text(share: float, messages: int = MESSAGES, extension: bool = False) -> str:
    on = "true" if extension else "false"
    says = [f"  - {who}: say {who[0]}{i}" for i in range(1, messages + 1) for who in ("alice", "bob")]
    return "\n".join([
        "name: known limit over a reordering path",
        f"hosts: {{alice: {{extension: {on}}}, bob: {{extension: {on}}}}}",
        "retries: 8",
        "time_limit: 60m",
        "faults:",
        f"  - {{probability: {share}, delay: [0s, {HOLD:g}s]}}",
        "steps:",
        "  - bob: wait", "  - alice: start bob", "  - bob: accept",
        *says,
        f"  - sleep: {messages * 12}s",
        "  - alice: quit", "  - sleep: 60s", "  - bob: quit",
    ]) + "\n"


@dataclass
class Tally:
    runs: int = 0
    outcomes: Counter[str] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.outcomes = Counter()

    def add(self, result: Result) -> None:
        self.runs += 1
        got = {h: Counter(s.text for s in seen if s.kind == "message") for h, seen in result.notices.items()}
        reported = {h: {t for s in seen for t in s.undelivered} for h, seen in result.notices.items()}
        for sender, receiver in (("alice", "bob"), ("bob", "alice")):
            for text in result.said.get(sender, []):
                n = got.get(receiver, Counter())[text]
                if n == 1:
                    self.outcomes["delivered once"] += 1
                elif n > 1:
                    self.outcomes["delivered twice or more"] += 1
                elif text in reported.get(sender, set()):
                    self.outcomes["lost, reported to its sender"] += 1
                else:
                    self.outcomes["lost silently"] += 1

    def report(self) -> str:
        total = sum(self.outcomes.values()) or 1
        lines = [f"{self.runs} runs, {total} messages:"]
        kinds = ("delivered once", "delivered twice or more", "lost silently", "lost, reported to its sender")
        for kind in kinds:
            n = self.outcomes[kind]
            lines.append(f"  {kind:<28} {n:6d}  {100 * n / total:6.2f}%")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.explore_limit", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs (seeds 0..runs-1)")
    parser.add_argument("--share", type=float, default=0.1, help="share of datagrams held back")
    parser.add_argument("--messages", type=int, default=MESSAGES, help="messages each way per run")
    parser.add_argument("--extension", action="store_true",
                        help="both daemons speak SIMPX/1 (docs/EXTENSION.md), which closes the limit")
    parser.add_argument("--processes", action="store_true",
                        help="real daemon.py processes in scaled real time")
    parser.add_argument("--scale", type=time_scale, default=0.05,
                        help="real seconds per scenario second with --processes, 0.001 to 10 (default 0.05)")
    args = parser.parse_args(argv)
    sc = parse_scenario(scenario_text(args.share, args.messages, args.extension), "reordering-path.yaml")
    tally = Tally()
    for seed in range(args.runs):
        if args.processes:
            tally.add(run_scenario_processes(sc, seed=seed, scale=args.scale))
        else:
            tally.add(run_scenario(sc, seed=seed, wall_limit=600))
    mode = f"real processes, scale {args.scale:g}" if args.processes else "in-process, virtual clock"
    protocol = "SIMPX/1 on both sides" if args.extension else "plain SIMP"
    print(f"reordering path: {args.share:g} of datagrams held up to {HOLD:g}s ({protocol}; {mode})")
    print(tally.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
