"""The explorer: silent on drop-only schedules, finds SPEC's known limit otherwise, and what it
writes replays the violation."""

from __future__ import annotations

from pathlib import Path

from sim.explore import explore, generate, violations
from sim.runner import run_scenario
from sim.scenario import load_scenario, parse_scenario


def test_drop_only_schedules_never_violate_the_invariants() -> None:
    summary = explore(runs=1000, seed=0, kinds=["drop"], out=None)
    assert summary.runs == 1000
    assert summary.found == [], [problems for _, problems, _ in summary.found]


def test_duplication_and_long_delays_find_the_known_limit_and_the_scenario_replays_it(tmp_path: Path) -> None:
    summary = explore(runs=300, seed=0, kinds=["dup", "delay"], out=tmp_path, stop_after=1)
    assert summary.found, "no violation in 300 schedules with duplication and long delays"
    schedule, problems, path = summary.found[0]
    assert path is not None and path.exists()
    replay = run_scenario(load_scenario(path))
    assert not replay.passed
    assert violations(replay) == problems
    assert len(schedule.faults) <= 2, schedule.faults  # shrunk to the essentials


def test_generated_schedules_are_valid_scenarios_and_reproducible() -> None:
    for seed in range(20):
        first, second = generate(seed, ["drop", "dup", "delay", "reorder"]), generate(seed, ["drop", "dup"])
        assert generate(seed, ["drop", "dup", "delay", "reorder"]) == first
        for schedule in (first, second):
            parse_scenario(schedule.yaml(f"seed {seed}"), "generated.yaml")
