"""`python -m sim bench` on its smallest workloads: every row runs and the table is well formed.

Nothing here depends on speed: a row may PASS or MISS, the test only checks that it was measured.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sim import bench

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
        "5 RSS after 3 chats", "6 dissector"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> bench.Report:
    folder = tmp_path_factory.mktemp("bench") / "scenarios"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY_SCENARIO)
    return bench.run(bench.BenchConfig.smoke(catalog=[folder]))


def test_every_row_is_measured_with_its_ceiling(report: bench.Report) -> None:
    assert [r.name for r in report.rows] == ROWS, bench.table(report.rows)
    for row in report.rows:
        assert not row.note.startswith("could not run"), f"{row.name}: {row.note}"
        for value in (row.value, row.ceiling, row.ratio):
            assert math.isfinite(value) and value > 0, (row.name, value)
        assert row.result in ("PASS", "MISS")
        assert row.passed == row.target.holds(row.ratio)


def test_the_table_has_a_header_a_rule_and_one_line_per_row(report: bench.Report) -> None:
    lines = bench.table(report.rows).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["row", "measured", "ceiling", "ratio",
                                                                    "target", "result"]
    assert set(lines[1]) <= {"|", "-"}
    body = lines[2:2 + len(report.rows)]
    for row, line in zip(report.rows, body, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == row.name and cells[-1] == row.result and cells[4] == str(row.target)


def test_ratios_compare_against_the_ceiling_of_the_same_run(report: bench.Report) -> None:
    by_name = {r.name: r for r in report.rows}
    forwarding = by_name["2 relay forwarding"]
    assert forwarding.ratio == pytest.approx(forwarding.value / forwarding.ceiling)
    replay = by_name["4 catalog replay"]
    assert replay.ratio == pytest.approx(replay.ceiling / replay.value)  # the speed-up
    assert "1 scenarios" in replay.note


def test_main_prints_the_machine_and_the_table(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rows = [bench.Row(name="x", value=1.0, unit="u", ceiling=2.0, ceiling_unit="u", ratio=0.5,
                      target=bench.Target(low=0.4))]
    monkeypatch.setattr(bench, "run", lambda config, progress=None: bench.Report(rows=rows, seconds=1.0))
    assert bench.main(quick=True) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: nproc=")
    assert "| x " in out and "PASS" in out and "1/1 rows PASS" in out


def test_a_target_reads_as_its_bound() -> None:
    assert str(bench.Target(low=0.35)) == ">= 0.35"
    assert str(bench.Target(high=1.1)) == "<= 1.1"
    assert str(bench.Target(low=0.9, high=1.1)) == "0.9-1.1"
    assert not bench.Target(low=1).holds(math.nan)


def test_the_machine_is_described() -> None:
    m = bench.machine()
    assert set(m) == {"nproc", "cpu", "python"} and m["python"].split()[1].startswith("3.")


def test_workers_reject_addresses_outside_loopback() -> None:
    from sim.bench_workers import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["echo", "10.0.0.1:7777"])


def test_smoke_catalog_is_the_given_folder(tmp_path: Path) -> None:
    assert bench.BenchConfig.smoke(catalog=[tmp_path]).catalog == (tmp_path,)
