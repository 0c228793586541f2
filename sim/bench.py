"""`python -m sim bench [--quick]`: throughput, timing, memory and dissector benchmarks.

Every row compares a measurement with a ceiling measured in the same run on the same machine
(the machine is shared and noisy, so absolute numbers mean little and ratios mean much):

1. clean-link chat: messages/s from client A to client B through two `daemon.py` processes, vs
   a bare asyncio UDP ping-pong between two processes (the stop-and-wait ceiling in Python);
2. the same chat through `sim.relay.Relay` (its own process, empty fault plan) vs the same
   ping-pong; and the relay's forwarding rate vs a minimal asyncio forwarder;
3. time per message under seeded Bernoulli loss on both directions vs the stop-and-wait
   expectation RTT + T_o * (1/(1-p)^2 - 1);
4. the scenario catalog under the virtual clock: wall time vs the protocol time it simulates,
   and `pytest -n 2 scenarios/` vs its 10 s budget;
5. a `daemon.py` process's VmRSS after 10,000 messages and after 1,000 chats vs idle;
6. packets/s decoding a harness pcap with the SIMP layers vs scapy with them unbound.

The daemons are real `daemon.py` processes, not in-process Daemon objects: that is what users
run, the ping-pong ceiling is measured between two processes in the same way, and a daemon
cannot borrow the harness's event loop.  The clients are `simp.client.Client` objects in this
process.  Every process started here is ended here, by its own handle; every loop is bounded in
count and in time.  Row functions are in `sim/bench_rows.py`.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "scenarios"


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
        return f"<= {self.high:g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the table.  `ratio` is how the row is judged against `target`."""

    name: str
    value: float
    unit: str
    ceiling: float
    ceiling_unit: str
    ratio: float
    target: Target
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.target.holds(self.ratio)

    @property
    def result(self) -> str:
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


def machine() -> dict[str, str]:
    """nproc, the CPU model from /proc/cpuinfo, the Python version."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count() or "?"), "cpu": model,
            "python": f"{platform.python_implementation()} {platform.python_version()}"}


def _fmt(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return f"- {unit}"
    digits = 0 if abs(value) >= 100 else 2 if abs(value) < 10 else 1
    return f"{value:,.{digits}f} {unit}"


def table(rows: Sequence[Row]) -> str:
    """The benchmark table as Markdown (readable in a terminal, pasteable into BENCHMARKS.md)."""
    head = ("row", "measured", "ceiling", "ratio", "target", "result")
    lines = [[r.name, _fmt(r.value, r.unit), _fmt(r.ceiling, r.ceiling_unit),
              f"{r.ratio:.3g}" if math.isfinite(r.ratio) else "-", str(r.target), r.result] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=False)]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    out = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines)]
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    return "\n".join(out + (["", *notes] if notes else []))


Step = Callable[[BenchConfig], list[Row]]


def run(config: BenchConfig, *, progress: Callable[[str], None] | None = None) -> Report:
    """Run every row; a row that fails to run, or is skipped because `config.budget` seconds have
    passed, is reported as a MISS with the reason as its note."""
    from sim import bench_rows as rows

    steps: list[tuple[str, Step]] = [
        ("chat rates (rows 1-2)", rows.chat_rows),
        ("relay forwarding (row 2)", rows.forwarding_row),
        ("loss (row 3)", rows.loss_rows),
        ("catalog replay (row 4)", rows.replay_rows),
        ("memory (row 5)", rows.memory_rows),
        ("dissector (row 6)", rows.dissector_row),
    ]
    report = Report()
    started = time.monotonic()
    for title, step in steps:
        if progress:
            progress(f"{title} ...")
        spent = time.monotonic() - started
        try:
            if spent > config.budget:
                raise TimeoutError(f"skipped: {spent:.0f} s of the {config.budget:g} s budget were spent")
            report.rows += step(config)
        except Exception as exc:  # one broken row must not hide the others' results
            report.rows.append(Row(name=title, value=math.nan, unit="", ceiling=math.nan, ceiling_unit="",
                                   ratio=math.nan, target=Target(), note=f"could not run: {exc!r}"))
    report.seconds = time.monotonic() - started
    return report


def main(quick: bool = False, config: BenchConfig | None = None) -> int:
    """Print the machine, the table and the total time.  Exit status 0 (a MISS is a result)."""
    import sys

    config = config or (BenchConfig.quick() if quick else BenchConfig.full())
    m = machine()
    print(f"machine: nproc={m['nproc']}, {m['cpu']}, {m['python']}", flush=True)
    tty = sys.stderr.isatty()
    report = run(config, progress=(lambda s: print(s, file=sys.stderr, flush=True)) if tty else None)
    print(table(report.rows))
    print(f"\n{sum(r.passed for r in report.rows)}/{len(report.rows)} rows PASS; "
          f"{'quick' if quick else 'full'} run took {report.seconds:.0f} s")
    return 0

