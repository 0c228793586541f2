"""The scenario runner, its CLI and its pytest plugin, end to end on small scenarios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main as sim_main
from sim.runner import run_scenario, run_scenario_processes
from sim.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "scenarios"

LOST_SYN_ACK = """
name: lost SYN+ACK
seed: 3
hosts: [alice, bob]
faults:
  - {match: {from: bob, op: SYN+ACK}, nth: 1, drop: true}
steps:
  - bob: wait
  - alice: start bob
  - bob: accept
  - alice: say "hello"
  - bob: wait-until message "hello"
  - alice: quit
expect:
  delivered: {bob: [hello]}
  wire:
    - bob > alice SYN+ACK dropped
    - bob > alice SYN+ACK at +5s ~0.1s
  count: {bob > alice SYN+ACK: COUNT}
  final: {alice: free, bob: free}
"""


def scenario(count: int = 2):
    return parse_scenario(LOST_SYN_ACK.replace("COUNT", str(count)), "test.yaml")


def test_same_seed_gives_byte_identical_traces() -> None:
    first, second = run_scenario(scenario()), run_scenario(scenario())
    assert first.passed and second.passed, first.report()
    assert first.trace.jsonl() == second.trace.jsonl()
    assert len(first.trace.sent()) >= 8


def test_random_loss_is_reproducible_from_the_seed_and_changes_with_it() -> None:
    text = LOST_SYN_ACK.replace("COUNT", "\">=1\"").replace(
        "faults:\n", "faults:\n  - {loss: 0.3}\n").replace("  delivered: {bob: [hello]}\n", "")
    sc = parse_scenario(text, "lossy.yaml")
    runs = [run_scenario(sc, seed=s).trace.jsonl() for s in (11, 11, 12)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_wrong_expectation_fails_with_a_marked_ladder_and_replay_command() -> None:
    result = run_scenario(scenario(count=3))
    assert not result.passed
    report = result.report()
    assert "count of bob > alice SYN+ACK: expected 3, got 2" in report
    assert "══ ✗ count of bob > alice SYN+ACK" in report  # the marker line on the ladder
    assert "✗──── SYN+ACK seq=0" in report or "SYN+ACK seq=0" in report
    assert "replay: python -m sim run test.yaml --seed 3" in report


def test_minutes_of_protocol_time_take_little_wall_time() -> None:
    text = LOST_SYN_ACK.replace("COUNT", "2")
    text = text.replace("  - alice: quit\n", "  - sleep: 10m\n  - alice: quit\n")
    text = text.replace("seed: 3\n", "seed: 3\ntime_limit: 30m\n")
    result = run_scenario(parse_scenario(text, "long.yaml"))
    assert result.passed, result.report()
    assert result.virtual_time > 600
    assert result.wall_time < result.virtual_time  # loose on purpose: the point is no real waiting


def test_an_outcome_that_never_comes_fails_the_step_instead_of_hanging() -> None:
    text = LOST_SYN_ACK.replace("COUNT", "2").replace(
        '  - bob: wait-until message "hello"\n', '  - bob: wait-until message "never sent" within 30s\n')
    result = run_scenario(parse_scenario(text, "never.yaml"))
    assert not result.passed
    assert 'message "never sent" did not happen within 30s' in result.report()


def test_starting_a_running_daemon_fails_the_step_with_what_to_write_instead() -> None:
    text = "name: twice\nhosts: [alice, bob]\nsteps:\n  - bob: kill daemon\n  - bob: start daemon\n" \
           "  - bob: start daemon\n"
    result = run_scenario(parse_scenario(text, "twice.yaml"))
    assert [f.message for f in result.failures] == [
        "steps[2]: bob: start daemon: its daemon is already running "
        "(write 'restart daemon', or 'kill daemon' before this step)"]


@pytest.mark.parametrize("name", ["lost_syn_ack", "decline_with_fin_dropped", "chat_dropped_once"])
def test_catalog_scenarios_pass_with_real_daemon_processes(name: str) -> None:
    path = CATALOG / f"{name}.yaml"
    result = run_scenario_processes(load_scenario(path), scale=0.1)
    assert result.passed, result.report()
    assert result.mode == "process"


def test_cli_runs_reports_and_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(LOST_SYN_ACK.replace("COUNT", "2"))
    bad.write_text(LOST_SYN_ACK.replace("COUNT", "5").replace("name: lost SYN+ACK", "name: wrong count"))
    assert sim_main(["run", str(good), "--out", str(tmp_path / "out")]) == 0
    for artefact in ("trace.jsonl", "capture.pcapng", "ladder.txt", "ladder.svg"):
        assert (tmp_path / "out" / "good" / artefact).stat().st_size > 0
    assert sim_main(["run", str(tmp_path), "-k", "wrong"]) == 1
    out = capsys.readouterr().out
    assert "FAIL wrong count" in out
    assert "0 passed, 1 failed" in out


def test_cli_reports_an_invalid_file_with_file_line_and_hint_and_runs_the_rest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(LOST_SYN_ACK.replace("COUNT", "2").replace("bob: accept", "bob: acept"))
    (tmp_path / "good.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "2"))
    done = subprocess.run([sys.executable, "-m", "sim", "run", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert f"INVALID {broken}" in done.stdout
    assert f"{broken}:10: steps[2].bob: expected a command" in done.stdout
    assert "(did you mean 'accept'?)" in done.stdout
    assert "PASS lost SYN+ACK" in done.stdout
    assert "1 passed, 0 failed, 1 invalid" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_pytest_plugin_reports_a_failing_scenario_as_a_ladder(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "wrong.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "7"))
    (folder / "right.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "2"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "sim.pytest_plugin", "-q", str(folder),
                           "--rootdir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    assert "expected 7, got 2" in done.stdout
    assert "replay: python -m sim run" in done.stdout
    assert "Traceback" not in done.stdout


def _readme_examples() -> list[str]:
    text = (CATALOG / "README.md").read_text()
    blocks = text.split("```yaml\n")[1:]
    return [b.split("```")[0] for b in blocks if b.lstrip().startswith("name:")]


@pytest.mark.parametrize("index", range(len(_readme_examples())))
def test_complete_examples_in_the_scenario_guide_run_and_pass(index: int) -> None:
    example = _readme_examples()[index]
    result = run_scenario(parse_scenario(example, f"scenarios/README.md example {index + 1}"))
    assert result.passed, result.report()
