"""pytest collects scenario files as test items (pytest's non-Python collection), from any folder.

Collected: every YAML file named on the command line, and every *.yaml / *.yml under a collected
folder that looks like a scenario (a top-level `hosts:` or `steps:` key, or the schema line; see
`sim.scenario.is_scenario_file`), so `pytest my_scenarios/` works and unrelated YAML is left
alone.  The installed package registers the plugin with pytest (entry point `pytest11`), so
`pytest PATH` works from any folder; a bare checkout loads it from its root conftest.py, and
`pytest -p sim.pytest_plugin PATH` loads it where neither applies.

A failing item reports what a person needs instead of a traceback: the failed expectations, the
ladder diagram with the failure marked, the seed, and the command that replays it.  A file that
does not parse becomes one failing item whose report is the ScenarioError (file, line, key).

Options: `--sim-out DIR` writes every scenario's trace.jsonl, capture.pcapng and ladders there;
`--implementations DIR` is the folder of implementation profiles for hosts with `implementation:`,
and `--implementation HOST=NAME` (repeatable) has that profile play HOST in every scenario
(sim/foreign_hosts.py).  Such items run in real time, so spread them with xdist (`-n N`): each
item has its own address block (or network namespaces).  A scenario the profile cannot play is
skipped with the reason (not applicable); one that passed with checks the profile cannot observe
passes with a `NotObservable` warning listing them and a "not observable" report section.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.scenario import SUFFIXES, Scenario, ScenarioError, is_scenario_file, load_scenario


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--sim-out", type=Path, default=None, metavar="DIR",
                     help="write each scenario's trace.jsonl, capture.pcapng and ladder to DIR/<file name>")
    parser.addoption("--implementations", type=Path, default=None, metavar="DIR",
                     help="folder of implementation profiles for scenario hosts with 'implementation: NAME'")
    parser.addoption("--implementation", action="append", default=[], metavar="HOST=NAME",
                     help="play HOST of every scenario by the implementation profile NAME (repeatable)")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> ScenarioFile | None:
    """A YAML file named on the command line, or one that looks like a scenario (sim.scenario.
    is_scenario_file: a top-level `hosts:` or `steps:` key, or the schema line)."""
    named = file_path.suffix in SUFFIXES and parent.session.isinitpath(file_path)
    if named or is_scenario_file(file_path):
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


class NotObservable(UserWarning):
    """A scenario passed, but some of its checks cannot be observed with a foreign host's profile."""


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
        from sim.foreign_hosts import cast, parse_cast
        from sim.profiles import ProfileError
        from sim.runner import run_chosen  # the daemon is imported only when scenarios run

        if self.scenario is None:
            raise ScenarioFailed(f"invalid scenario file: {self.error}")
        try:
            scenario = cast(self.scenario, parse_cast(self.config.getoption("--implementation")))
            result = run_chosen(scenario, implementations=self.config.getoption("--implementations"))
        except ProfileError as exc:
            raise ScenarioFailed(f"implementation profile: {exc}") from None
        out = self.config.getoption("--sim-out")
        if out is not None:
            result.write(out / self.path.stem)
        if result.not_applicable is not None:
            pytest.skip(f"not applicable: {result.not_applicable}")
        if not result.passed:
            raise ScenarioFailed(result.report())
        if result.unobservable:
            listed = "\n".join(result.unobservable)
            self.add_report_section("call", "not observable", listed)
            warnings.warn(NotObservable(f"{self.name}: passed what could be observed; "
                                        f"not observable:\n{listed}"), stacklevel=1)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.report
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        name = self.scenario.name if self.scenario else self.name
        return self.path, 0, f"scenario: {name}"
