"""The published JSON Schema of scenario files (sim/scenario.schema.json) agrees with the harness.

The harness's own validator (sim.scenario) stays the one that reports errors, with file:line and
"did you mean"; the schema is for editors (yaml-language-server completes and checks with it).
These tests keep the two in step: same keys, same choices, the catalog valid under both, and the
usual mistakes refused by both.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sim import faults as F
from sim import scenario as S
from sim import scenario_lang as L

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "sim" / S.SCHEMA_NAME).read_text())
CATALOG = sorted((ROOT / "scenarios").glob("*.yaml"))
SCHEMA_LINE = f"# yaml-language-server: $schema=../sim/{S.SCHEMA_NAME}"
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)

GOOD = """
name: ok
hosts: [alice, bob]
faults:
  - {match: {from: bob, op: SYN+ACK}, nth: 1, drop: true}
steps:
  - bob: wait
  - alice: start bob
  - bob: accept
expect:
  final: {alice: chatting}
"""


def test_the_schema_is_a_valid_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_keys_and_choices_are_the_harness_ones() -> None:
    props = SCHEMA["properties"]
    assert set(SCHEMA["required"]) == set(S._TOP_REQUIRED)
    assert set(props) == set(S._TOP_REQUIRED) | set(S._TOP_OPTIONAL)
    rule = SCHEMA["definitions"]["rule"]["properties"]
    assert set(rule) == set(S._RULE_KEYS) | set(S._ACTIONS)
    assert set(rule["match"]["properties"]) == set(S._MATCH_KEYS)
    assert set(rule["match"]["properties"]["type"]["enum"]) == set(F.TYPES)
    assert set(rule["corrupt"]["properties"]["field"]["enum"]) == set(F.CORRUPT_FIELDS)
    assert set(props["expect"]["properties"]) == set(S._EXPECT_KEYS)
    assert set(props["expect"]["properties"]["final"]["additionalProperties"]["enum"]) == set(S.FINAL_STATES)
    command = SCHEMA["definitions"]["step"]["patternProperties"]
    (pattern,) = command.values()
    for verb in L._COMMANDS:
        assert verb in pattern["pattern"]


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_every_catalog_file_names_the_schema_and_is_valid_under_it(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == SCHEMA_LINE
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(yaml.safe_load(text))]
    assert errors == []
    S.parse_scenario(text, str(path))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("name: ok", "name: ok\nseeed: 3"),  # unknown top-level key
        ("name: ok\n", ""),  # required key missing
        ("bob: accept", "bob: acept"),  # unknown command
        ("drop: true}", "drop: true, delay: 2s}"),  # two actions in one rule
        ("nth: 1, drop: true", "nth: 1"),  # no action
        ("final: {alice: chatting}", "final: {alice: talking}"),  # no such state
        ("{from: bob, op: SYN+ACK}", "{form: bob}"),  # unknown match key
        ("hosts: [alice, bob]", "hosts: [alice, 2bob]"),  # not a host name
        ("expect:\n", "expect:\n  delivred: {bob: []}\n"),  # unknown expectation
        ("- bob: wait", "- sleep: soon"),  # not a duration
    ],
)
def test_the_usual_mistakes_are_refused_by_both(old: str, new: str) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    assert list(VALIDATOR.iter_errors(yaml.safe_load(text))), "the schema accepted it"
    with pytest.raises(S.ScenarioError):
        S.parse_scenario(text, "mistake.yaml")


def test_the_good_example_is_valid_under_both() -> None:
    assert list(VALIDATOR.iter_errors(yaml.safe_load(GOOD))) == []
    S.parse_scenario(GOOD, "good.yaml")


def test_the_schema_line_marks_a_file_as_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(f"{SCHEMA_LINE}\nname: only a name\n")
    assert S.is_scenario_file(path)
    other = tmp_path / "other.yaml"
    other.write_text("name: x\nitems: [1]\n")
    assert not S.is_scenario_file(other)
