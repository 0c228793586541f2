"""Process mode: the whole catalog against real daemon.py processes, and the timing allowances.

The catalog runs here as it runs in the virtual clock, one pytest item per scenario, so xdist
spreads the processes over the cores while the rest of the suite loads them: the allowances of
sim.process_mode must hold on a busy machine, not only on an idle one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.process_mode import BASE_SLACK, SAFETY, retransmission_lateness, slack
from sim.runner import run_scenario_processes
from sim.scenario import load_scenario
from sim.trace import RECEIVED, Trace
from simp import wire

CATALOG = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_catalog_scenario_passes_with_real_daemon_processes(path: Path) -> None:
    result = run_scenario_processes(load_scenario(path))
    assert result.mode == "process"
    assert result.passed, result.report()


def _trace(*sends: tuple[float, str, bytes]) -> Trace:
    trace = Trace(["alice", "bob"])
    for n, (t, src, data) in enumerate(sends, start=1):
        trace.record(t=t, action=RECEIVED, src=src, dst="bob" if src == "alice" else "alice", n=n, data=data)
    return trace


def test_retransmission_lateness_is_the_worst_excess_of_a_resend_over_the_timeout() -> None:
    syn = wire.encode(wire.control(wire.Op.SYN, 0, "alice"))
    chat = wire.encode(wire.chat(0, "alice", "hi"))
    trace = _trace((0.0, "alice", syn), (5.2, "alice", syn), (10.3, "alice", syn),  # 0.2 and 0.1 late
                   (20.0, "alice", chat), (40.0, "alice", chat))  # 20 s apart: not a timer's re-send
    assert retransmission_lateness(trace, 5.0) == pytest.approx(0.2)


def test_a_resend_by_another_sender_or_to_another_host_is_not_a_retransmission() -> None:
    syn = wire.encode(wire.control(wire.Op.SYN, 0, "alice"))
    trace = _trace((0.0, "alice", syn), (5.4, "bob", syn))
    assert retransmission_lateness(trace, 5.0) == 0.0


def test_slack_grows_with_the_timers_between_the_expected_time_and_the_start() -> None:
    lateness = 0.01
    first = slack(due=0.0, timeout=5.0, scale=0.05, lateness=lateness)
    sixth = slack(due=30.0, timeout=5.0, scale=0.05, lateness=lateness)
    assert first == pytest.approx(BASE_SLACK / 0.05 + SAFETY * lateness)
    assert sixth == pytest.approx(BASE_SLACK / 0.05 + SAFETY * lateness * 7)
