"""What a benchmark row is: a measurement, the ceiling it is compared with, and the verdict.

These types import nothing of the harness, so every other module of `sim.bench` can use them
without an import circle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CATALOG = ROOT / "scenarios"

COLUMNS = """\
columns:
  measured  the value this run measured (the row's own unit)
  ceiling   the reference it is judged against, measured in the same run on this machine
            (a bare ping-pong, a minimal forwarder, the stop-and-wait formula, idle memory...)
            or, where the note says so, a fixed budget
  ratio     the number the verdict is about, usually measured/ceiling (the note says otherwise)
  target    the range the ratio must fall in
  result    PASS: measured and within target; MISS: measured, outside target;
            ERROR: could not be measured (the note says why): a row never passes unmeasured
exit status: 0 all rows PASS, 1 a row MISSed, 2 a row could not be measured (ERROR)"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What a ratio must be: at least `low`, at most `high` (either may be absent)."""

    low: float | None = None
    high: float | None = None

    def holds(self, ratio: float) -> bool:
        if not math.isfinite(ratio):
            return False
        return (self.low is None or ratio >= self.low) and (self.high is None or ratio <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}-{self.high:g}"
        if self.low is not None:
            return f">= {self.low:g}"
        if self.high is not None:
            return f"<= {self.high:g}"
        return "-"


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the table.  `ratio` is how the row is judged against `target`.

    A row is `measured` only when its value, ceiling and ratio are finite and positive: every
    quantity here (a rate, a time, a size) is, so a zero or NaN means the measurement did not
    happen, and such a row is an ERROR, never a PASS.
    """

    name: str
    value: float
    unit: str
    ceiling: float
    ceiling_unit: str
    ratio: float
    target: Target
    note: str = ""

    @classmethod
    def error(cls, name: str, reason: str) -> Row:
        """The row of a step that could not run: no numbers, `reason` as its note."""
        return cls(name=name, value=math.nan, unit="", ceiling=math.nan, ceiling_unit="", ratio=math.nan,
                   target=Target(), note=f"could not run: {reason}")

    @property
    def measured(self) -> bool:
        return all(math.isfinite(x) and x > 0 for x in (self.value, self.ceiling, self.ratio))

    @property
    def passed(self) -> bool:
        return self.measured and self.target.holds(self.ratio)

    @property
    def result(self) -> str:
        if not self.measured:
            return "ERROR"
        return "PASS" if self.passed else "MISS"


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchConfig:
    """Workload sizes.  `full()` is the documented run, `quick()` the one-minute one, `smoke()`
    the smallest that still exercises every row (the test suite uses it)."""

    rounds: int = 5  # interleaved repetitions of rows 1-2; the median is reported
    pingpong: int = 10_000  # round trips per ping-pong run
    chat_warmup: int = 300
    chat_messages: int = 3_000
    window: int = 32  # messages the sending client keeps queued at its daemon
    forward_count: int = 40_000  # datagrams per forwarding run
    forward_window: int = 64
    loss: tuple[float, ...] = (0.05, 0.2, 0.4)
    # T_o of the daemons in row 3, seconds.  50 ms (not 20): every timeout also costs about 1 ms of
    # wake-ups that the formula does not count (epoll's 1 ms resolution, idle CPUs waking up)
    loss_timeout: float = 0.05
    loss_retries: int = 1000  # so that giving up never happens, not even at p = 0.4
    # per p: chats side by side through one relay (they spend most of their time waiting for
    # timeouts, so they barely compete) and messages over all of them: about 3% sampling error
    loss_pairs: tuple[int, ...] = (4, 4, 8)
    loss_messages: tuple[int, ...] = (10_000, 3_000, 1_800)
    loss_rtt_messages: int = 1_000
    memory_messages: int = 10_000
    memory_chats: int = 1_000
    catalog: tuple[Path, ...] = (CATALOG,)
    pytest_catalog: bool = True
    pcap_packets: int = 100_000
    seed: int = 1
    budget: float = 290.0  # seconds; a step that would start later is skipped (reported, not run)

    @classmethod
    def full(cls) -> BenchConfig:
        return cls()

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(rounds=1, pingpong=5_000, chat_warmup=100, chat_messages=1_500, forward_count=10_000,
                   loss_messages=(2_000, 600, 400), loss_rtt_messages=400, memory_messages=2_000, budget=55.0,
                   memory_chats=200, pcap_packets=10_000)

    @classmethod
    def smoke(cls, catalog: Sequence[Path] = (CATALOG,)) -> BenchConfig:
        return cls(rounds=1, pingpong=200, chat_warmup=5, chat_messages=20, forward_count=200,
                   loss_pairs=(1, 1, 1), loss_messages=(8, 8, 8), loss_rtt_messages=8, memory_messages=20,
                   memory_chats=3, catalog=tuple(catalog), pcap_packets=300)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_status(self) -> int:
        """0 when every row passed, 2 when a row could not be measured, else 1 (a row missed)."""
        if any(not r.measured for r in self.rows) or not self.rows:
            return 2
        return 0 if all(r.passed for r in self.rows) else 1
