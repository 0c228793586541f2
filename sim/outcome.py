"""What one scenario file came to in a run, in the words every report uses (terminal, HTML, JUnit).

Statuses, worst first (the order reports sort by):
- `invalid`: the file is not a valid scenario; nothing ran.  Exit status 2.
- `fail`: an expectation failed.  Exit status 1.
- `seed-bound`: an expectation failed, but the scenario says its expectations hold only for its
  own seed (`seed_bound:` in the file) and it ran with another one (`--seed N`).  Not a failure:
  such a run explores, it does not check.  Exit status unaffected.
- `n/a`: a host is another implementation (sim/foreign_hosts.py) that cannot play this scenario
  (a step its profile has no template for...); nothing was checked.  Exit status unaffected.
- `pass*`: nothing failed, but some checks were not observable with a foreign host's profile (a
  notice it has no regex for, a state it cannot report): listed, never counted as a plain pass.
  Exit status unaffected.
- `pass`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no import cost: reports are written from outcomes already made
    from sim.runner import Result
    from sim.scenario import ScenarioError

INVALID, FAIL, SEED_BOUND, PASS = "invalid", "fail", "seed-bound", "pass"
NOT_APPLICABLE, PASS_UNOBSERVED = "n/a", "pass*"
STATUSES = (INVALID, FAIL, SEED_BOUND, NOT_APPLICABLE, PASS_UNOBSERVED, PASS)


@dataclass(frozen=True)
class Outcome:
    """One file's outcome: a Result when it ran, a ScenarioError when it could not be parsed."""

    source: str
    result: Result | None = None
    error: ScenarioError | None = None

    @property
    def status(self) -> str:
        r = self.result
        if r is None:
            return INVALID
        if r.not_applicable is not None:
            return NOT_APPLICABLE
        if r.passed:
            return PASS_UNOBSERVED if r.unobservable else PASS
        if r.scenario.seed_bound and r.seed != r.scenario.seed:
            return SEED_BOUND
        return FAIL

    @property
    def name(self) -> str:
        return self.result.scenario.name if self.result else Path(self.source).stem

    @property
    def stem(self) -> str:
        return Path(self.source).stem

    def message(self) -> str:
        """The reason in one paragraph: the parse error, the failed expectations, or ""."""
        if self.error is not None:
            return str(self.error)
        assert self.result is not None
        if self.status == NOT_APPLICABLE:
            return f"not applicable: {self.result.not_applicable}"
        lines = [f.message for f in self.result.failures]
        lines += [f"not observable: {u}" for u in self.result.unobservable]
        if self.status == SEED_BOUND:
            why = self.result.scenario.seed_bound or ""
            lines.insert(0, f"expectations hold for seed {self.result.scenario.seed} only: {why}")
        return "\n".join(lines)


def worst_first(outcomes: list[Outcome]) -> list[Outcome]:
    """Invalid files, then failures, then seed-bound runs, then passes; stable within each."""
    return sorted(outcomes, key=lambda o: STATUSES.index(o.status))


def exit_status(outcomes: list[Outcome]) -> int:
    statuses = {o.status for o in outcomes}
    if INVALID in statuses:
        return 2
    return 1 if FAIL in statuses else 0
