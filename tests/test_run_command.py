"""`python -m sim run` as CI and people read it: one line per scenario, 100 columns, short diffs,
seed-bound scenarios, scenario files found in any folder, HTML and JUnit reports."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from sim.cli import main as sim_main
from tests.test_runner import LOST_SYN_ACK, ROOT

MESSAGES = [f"m{i:03}" for i in range(1, 31)]
LONG_NAME = "a scenario whose name goes on and on " * 4

MANY = """
name: NAME
seed: 5
SEED_BOUND
hosts: [alice, bob]
faults:
  - {match: {from: alice, type: chat}, nth: "12-", drop: true}
retries: 2
steps:
  - bob: wait
  - alice: start bob
  - bob: accept
SAYS
  - sleep: 2m
expect:
  delivered: {bob: [LIST]}
"""


def many(name: str = "thirty messages", seed_bound: str = "") -> str:
    says = "\n".join(f"  - alice: say {m}" for m in MESSAGES)
    text = MANY.replace("NAME", name).replace("SAYS", says).replace("LIST", ", ".join(MESSAGES))
    return text.replace("SEED_BOUND", f"seed_bound: {seed_bound}" if seed_bound else "")


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "run", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_failed_list_is_reported_as_a_short_diff_not_the_whole_lists(tmp_path: Path) -> None:
    (tmp_path / "many.yaml").write_text(many())
    done = run_cli(tmp_path / "many.yaml")
    assert done.returncode == 1
    assert 'delivered to bob: expected 30 message(s), got 11: missing "m012".."m030" (19) after "m011"' in (
        done.stdout
    )
    assert "'m001', 'm002'" not in done.stdout


def test_output_without_a_terminal_has_one_line_per_scenario_no_carriage_returns_and_100_columns(
    tmp_path: Path,
) -> None:
    (tmp_path / "long.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "2").replace("lost SYN+ACK", LONG_NAME))
    (tmp_path / "b.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "2"))
    done = run_cli(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "\r" not in done.stdout
    lines = done.stdout.splitlines()
    assert sum(line.startswith("[") for line in lines) == 2
    summary = lines[lines.index("") + 1 :]
    assert summary[0].startswith("scenario ") and "result" in summary[0]
    assert all(len(line) <= 100 for line in summary), summary
    assert any(line.startswith("a scenario whose name goes on") and "…" in line for line in summary)
    assert all(len(line) <= 100 for line in lines if line.startswith("["))


def test_seed_bound_scenario_with_another_seed_is_reported_not_failed(tmp_path: Path) -> None:
    path = tmp_path / "bound.yaml"
    path.write_text(many("bound", seed_bound="the drops depend on seed 5"))
    own = run_cli(path)  # its own seed: the expectations are checked as always
    assert own.returncode == 1 and "FAIL bound" in own.stdout
    other = run_cli(path, "--seed", "6")
    assert other.returncode == 0, other.stdout
    assert "SEED-BOUND bound" in other.stdout
    assert "0 passed, 0 failed, 1 seed-bound" in other.stdout
    unbound = tmp_path / "unbound.yaml"
    unbound.write_text(many("unbound"))
    assert run_cli(unbound, "--seed", "6").returncode == 1


def test_folders_are_searched_for_scenario_files_and_other_yaml_is_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / "mine" / "deeper"
    mine.mkdir(parents=True)
    (mine / "one.yml").write_text(LOST_SYN_ACK.replace("COUNT", "2"))
    workflow = tmp_path / "ci.yaml"
    workflow.write_text("on: push\njobs:\n  test:\n    steps:\n      - run: pytest\n")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    done = run_cli(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "[1/1] PASS lost SYN+ACK" in done.stdout
    assert f"note: 2 YAML file(s) skipped, no top-level hosts: or steps: key: {workflow}" in done.stderr
    named = run_cli(workflow)  # named explicitly: taken as a scenario, and reported invalid
    assert named.returncode == 2 and "INVALID" in named.stdout and "keys must be text" in named.stdout


def test_pytest_collects_scenarios_from_any_folder_and_a_named_file(tmp_path: Path) -> None:
    folder = tmp_path / "my_cases"
    folder.mkdir()
    (folder / "right.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "2"))
    (folder / "config.yaml").write_text("colour: blue\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "sim.pytest_plugin", "-p", "no:xdist", "-q",
                           str(folder), "--rootdir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert "1 passed" in done.stdout, done.stdout


def test_html_and_junit_reports_list_every_scenario_failures_first(tmp_path: Path) -> None:
    (tmp_path / "a_good.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "2"))
    (tmp_path / "b_bad.yaml").write_text(LOST_SYN_ACK.replace("COUNT", "9").replace("lost SYN+ACK", "wrong"))
    (tmp_path / "c_broken.yaml").write_text("name: x\nhosts: [a]\nsteps: [{a: acept}]\n")
    report, junit = tmp_path / "report", tmp_path / "junit.xml"
    status = sim_main(["run", str(tmp_path), "--report", str(report), "--junit", str(junit)])
    assert status == 2
    page = (report / "index.html").read_text()
    assert page.index("c_broken") < page.index("wrong") < page.index("lost SYN+ACK")
    assert page.count("<svg") >= 2  # ladders inline
    assert "python -m sim run " in page and "--seed 3" in page  # replay commands
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external assets
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("errors") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["wrong"].find("failure") is not None
    assert "expected 9, got 2" in (cases["wrong"].find("failure").text or "")
    assert cases["c_broken"].find("error") is not None
    assert cases["lost SYN+ACK"].find("failure") is None


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_stops_the_daemon_processes_of_a_run(tmp_path: Path) -> None:
    """SIGTERM (what `kill`, CI runners and timeouts send) ends the run as Ctrl-C does: its daemon
    processes are stopped, none is left running (they were, orphaned, before the handler)."""
    scenario = tmp_path / "long.yaml"
    scenario.write_text("name: long\nhosts: [alice, bob]\nsteps:\n  - sleep: 10m\n")
    run = subprocess.Popen([sys.executable, "-m", "sim", "run", str(scenario), "--processes", "--scale", "1"],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        daemons: set[int] = set()
        deadline = time.monotonic() + 30
        while len(daemons) < 2 and time.monotonic() < deadline and run.poll() is None:
            daemons = {c for c in _children(run.pid) if "daemon.py" in Path(f"/proc/{c}/cmdline").read_text()}
            time.sleep(0.05)  # (polling the process table: there is no event to wait on)
        assert len(daemons) == 2, run.communicate(timeout=10)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
        assert run.returncode == 130 and "interrupted" in err
        assert not [pid for pid in daemons if _alive(pid)]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
