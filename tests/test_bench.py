"""`python -m sim bench` on its smallest workloads: every row runs and the table is well formed.

Nothing here depends on speed: a row may PASS or MISS, the test only checks that it was measured,
and that a row whose measurement could not be made is an ERROR, never a PASS.
"""

from __future__ import annotations

import ast
import math
import re
import subprocess
from pathlib import Path

import pytest

from sim.bench import cli as bench
from sim.bench.model import BenchConfig, Report, Row, Target
from sim.bench.rows import _pytest_tail

ROOT = Path(__file__).resolve().parent.parent

TINY_SCENARIO = """
name: tiny chat for the benchmark smoke test
hosts: [alice, bob]
steps:
  - bob: wait
  - alice: start bob
  - bob: accept
  - alice: say "hello"
  - bob: wait-until message "hello"
  - alice: quit
expect:
  delivered: {bob: [hello]}
"""

ROWS = ["1 clean-link chat", "2 chat through relay", "2 relay forwarding", "3 loss p=0.05", "3 loss p=0.2",
        "3 loss p=0.4", "4 catalog replay", "4 pytest -n 2 scenarios/", "5 RSS after 20 messages",
        "5 RSS after 3 chats", "6 dissector", "7 model check states/s", "7 model check drop-only time",
        "7 model check drop-only verdict", "7 model check known limit, 1 duplicate",
        "7 model check known limit, 1 reorder"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    folder = tmp_path_factory.mktemp("bench") / "scenarios"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY_SCENARIO)
    return bench.run(BenchConfig.smoke(catalog=[folder]))


def test_every_row_is_measured_with_its_ceiling(report: Report) -> None:
    assert [r.name for r in report.rows] == ROWS, bench.table(report.rows)
    for row in report.rows:
        assert not row.note.startswith("could not run"), f"{row.name}: {row.note}"
        for value in (row.value, row.ceiling, row.ratio):
            assert math.isfinite(value) and value > 0, (row.name, value)
        assert row.measured and row.result in ("PASS", "MISS")
        assert row.passed == row.target.holds(row.ratio)


def test_the_table_has_a_header_a_rule_and_one_line_per_row(report: Report) -> None:
    lines = bench.table(report.rows).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["row", "measured", "ceiling", "ratio",
                                                                    "target", "result"]
    assert set(lines[1]) <= {"|", "-"}
    body = lines[2:2 + len(report.rows)]
    for row, line in zip(report.rows, body, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == row.name and cells[-1] == row.result and cells[4] == str(row.target)


def test_ratios_compare_against_the_ceiling_of_the_same_run(report: Report) -> None:
    by_name = {r.name: r for r in report.rows}
    forwarding = by_name["2 relay forwarding"]
    assert forwarding.ratio == pytest.approx(forwarding.value / forwarding.ceiling)
    replay = by_name["4 catalog replay"]
    assert replay.ratio == pytest.approx(replay.ceiling / replay.value)  # the speed-up
    assert "1 scenarios" in replay.note
    assert re.search(r"included: 1 passed\b.* in [0-9.]+s$", by_name["4 pytest -n 2 scenarios/"].note)


def test_main_prints_the_machine_and_the_table(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rows = [Row(name="x", value=1.0, unit="u", ceiling=2.0, ceiling_unit="u", ratio=0.5,
                      target=Target(low=0.4))]
    monkeypatch.setattr(bench, "run", lambda config, progress=None: Report(rows=rows, seconds=1.0))
    assert bench.main(quick=True) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: nproc=")
    assert "| x " in out and "PASS" in out and "1/1 rows PASS, 0 MISS, 0 ERROR" in out
    assert "ceiling   the reference" in out  # the column legend follows the table


def _row(ratio: float, target: Target, value: float = 1.0) -> Row:
    return Row(name="x", value=value, unit="u", ceiling=2.0, ceiling_unit="u", ratio=ratio, target=target)


@pytest.mark.parametrize(("rows", "status"), [
    ([_row(0.5, Target(low=0.4))], 0),
    ([_row(0.5, Target(low=0.4)), _row(0.3, Target(low=0.4))], 1),
    ([_row(0.5, Target(low=0.4)), Row.error("y", "boom")], 2),
    ([_row(0.3, Target(low=0.4)), Row.error("y", "boom")], 2),
    ([], 2),
])
def test_main_exits_non_zero_unless_every_row_passes(monkeypatch: pytest.MonkeyPatch, rows: list[Row],
                                                     status: int) -> None:
    monkeypatch.setattr(bench, "run", lambda config, progress=None: Report(rows=rows, seconds=1.0))
    assert bench.main(quick=True) == status


@pytest.mark.parametrize("value", [0.0, math.nan, math.inf, -1.0])
def test_a_row_without_a_measurement_never_passes(value: float) -> None:
    row = _row(0.5, Target(high=1.0), value=value)  # the ratio alone would pass
    assert not row.measured and not row.passed and row.result == "ERROR"


def test_a_step_that_raises_becomes_an_error_row_naming_the_extra() -> None:
    def needs_yaml(config: BenchConfig) -> list[Row]:
        raise ModuleNotFoundError("No module named 'yaml'", name="yaml")

    report = bench.run(BenchConfig.smoke(), steps=[("needs yaml", needs_yaml)])
    [row] = report.rows
    assert row.result == "ERROR" and "pip install 'simp-sim[harness]'" in row.note
    assert report.exit_status == 2


def test_a_step_past_the_budget_is_an_error_not_a_pass() -> None:
    calls = []
    report = bench.run(BenchConfig(budget=-1.0), steps=[("late", lambda c: calls.append(c) or [])])
    assert calls == [] and [r.result for r in report.rows] == ["ERROR"] and "skipped" in report.rows[0].note


@pytest.mark.parametrize(("code", "stdout", "stderr"), [
    (1, b"", b"/usr/bin/python: No module named pytest"),  # what made the row PASS in 0.04 s
    (4, b"", b"error: unrecognized arguments: -n"),  # no pytest-xdist
    (1, b"1 failed, 2 passed in 0.50s", b""),
    (0, b"2 passed in 0.50s", b""),  # fewer scenarios than the catalog has
    (0, b"", b""),
])
def test_the_pytest_row_needs_a_pytest_that_ran_every_scenario(code: int, stdout: bytes,
                                                                stderr: bytes) -> None:
    done = subprocess.CompletedProcess(args=[], returncode=code, stdout=stdout, stderr=stderr)
    with pytest.raises(RuntimeError, match="pytest exited"):
        _pytest_tail(done, expected=3)
    ok = subprocess.CompletedProcess(args=[], returncode=0, stdout=b"..\n3 passed in 0.50s", stderr=b"")
    assert _pytest_tail(ok, expected=3) == "3 passed in 0.50s"


def test_bench_help_explains_the_columns_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["bench", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for column in ("measured", "ceiling", "ratio", "target", "result", "ERROR", "exit status"):
        assert column in out


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_harness_imports_the_benchmarks_only_from_its_command_line() -> None:
    """sim.bench depends on the harness, never the reverse (no import circle); the model has no
    harness imports at all, so the CLI can build its --help cheaply."""
    for path in (ROOT / "sim").rglob("*.py"):
        if path.parent.name != "bench" and path != ROOT / "sim" / "cli.py":
            assert not any(n.startswith("sim.bench") for n in _imports(path)), path
    for path in (ROOT / "sim" / "bench").glob("*.py"):
        assert "sim.cli" not in _imports(path), path
    model = _imports(ROOT / "sim" / "bench" / "model.py")
    assert not {n for n in model if n.startswith(("sim", "simp"))}


def test_a_target_reads_as_its_bound() -> None:
    assert str(Target(low=0.35)) == ">= 0.35"
    assert str(Target(high=1.1)) == "<= 1.1"
    assert str(Target(low=0.9, high=1.1)) == "0.9-1.1"
    assert not Target(low=1).holds(math.nan)


def test_the_machine_is_described() -> None:
    m = bench.machine()
    assert set(m) == {"nproc", "cpu", "python"} and m["python"].split()[1].startswith("3.")


def test_workers_reject_addresses_outside_loopback() -> None:
    from sim.bench.workers import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["echo", "10.0.0.1:7777"])


def test_smoke_catalog_is_the_given_folder(tmp_path: Path) -> None:
    assert BenchConfig.smoke(catalog=[tmp_path]).catalog == (tmp_path,)


def test_a_catalog_that_fails_is_no_measurement(tmp_path: Path) -> None:
    """Both catalog rows need every scenario to pass: a run that went wrong times nothing useful."""
    from sim.bench.rows import replay_rows

    (tmp_path / "wrong.yaml").write_text(TINY_SCENARIO.replace("{bob: [hello]}", "{bob: [goodbye]}"))
    report = bench.run(BenchConfig.smoke(catalog=[tmp_path]), steps=[("catalog replay (row 4)", replay_rows)])
    assert [(r.name, r.result) for r in report.rows] == [("4 catalog replay", "ERROR"),
                                                         ("4 pytest -n 2 scenarios/", "ERROR")]
    assert "1 of 1 scenarios failed" in report.rows[0].note
    assert "instead of passing all 1 scenarios" in report.rows[1].note
    assert report.exit_status == 2
