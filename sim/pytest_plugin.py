"""pytest collects every scenarios/*.yaml as one test item (pytest's non-Python collection).

A failing item reports what a person needs instead of a traceback: the failed expectations, the
ladder diagram with the failure marked, the seed, and the command that replays it.  A file that
does not parse becomes one failing item whose report is the ScenarioError (file, line, key).

Options: `--sim-out DIR` writes every scenario's trace.jsonl, capture.pcapng and ladders there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.scenario import Scenario, ScenarioError, load_scenario


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--sim-out", type=Path, default=None, metavar="DIR",
                     help="write each scenario's trace.jsonl, capture.pcapng and ladder to DIR/<file name>")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> ScenarioFile | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.parent.name == "scenarios":
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario: Scenario | None = load_scenario(self.path)
            error = None
        except ScenarioError as exc:
            scenario, error = None, str(exc)
        yield ScenarioItem.from_parent(self, name=self.path.stem, scenario=scenario, error=error)


class ScenarioFailed(Exception):
    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario | None, error: str | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.scenario = scenario
        self.error = error
        if scenario is not None and scenario.known_limit:
            self.add_marker("known_limit")

    def runtest(self) -> None:
        from sim.runner import run_scenario  # the daemon is imported only when scenarios run

        if self.scenario is None:
            raise ScenarioFailed(f"invalid scenario file: {self.error}")
        result = run_scenario(self.scenario)
        out = self.config.getoption("--sim-out")
        if out is not None:
            result.write(out / self.path.stem)
        if not result.passed:
            raise ScenarioFailed(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.report
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        name = self.scenario.name if self.scenario else self.name
        return self.path, 0, f"scenario: {name}"
