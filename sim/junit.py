"""A JUnit XML report of a run, the format CI systems (GitLab, Jenkins, GitHub actions) display.

One `testsuite` with one `testcase` per scenario file: `classname` is the file (without .yaml),
`name` the scenario's name.  A failed scenario has a `failure` whose message is its first failed
expectation and whose text is the whole report (failures, ladder, replay command); an invalid
file has an `error` with the file:line message; a seed-bound result is `skipped` with the reason,
since under another seed its expectations were not meant to hold.  A scenario a foreign host
cannot play (`n/a`) and one that passed with checks its profile cannot observe (`pass*`) are
`skipped` too, with the reason or the list of what was not observable: CI shows them apart from
passes, never as plain passes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from sim.outcome import FAIL, INVALID, NOT_APPLICABLE, PASS_UNOBSERVED, SEED_BOUND, Outcome

SUITE = "simp-sim scenarios"


def junit_xml(outcomes: list[Outcome]) -> ET.ElementTree:
    suites = ET.Element("testsuites", name=SUITE)
    counts = {s: sum(o.status == s for o in outcomes) for s in (FAIL, INVALID, SEED_BOUND)}
    wall = sum(o.result.wall_time for o in outcomes if o.result is not None)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=SUITE,
        tests=str(len(outcomes)),
        failures=str(counts[FAIL]),
        errors=str(counts[INVALID]),
        skipped=str(sum(o.status in (SEED_BOUND, NOT_APPLICABLE, PASS_UNOBSERVED) for o in outcomes)),
        time=f"{wall:.3f}",
    )
    for o in outcomes:
        r = o.result
        case = ET.SubElement(
            suite,
            "testcase",
            classname=o.stem,
            name=o.name,
            file=o.source,
            time=f"{r.wall_time:.3f}" if r else "0",
        )
        message = o.message()
        first = message.splitlines()[0] if message else ""
        if o.status == INVALID:
            ET.SubElement(case, "error", message=first, type="invalid scenario").text = message
        elif o.status == FAIL:
            assert r is not None
            ET.SubElement(case, "failure", message=first, type="expectation").text = r.report()
        elif o.status in (SEED_BOUND, NOT_APPLICABLE):
            ET.SubElement(case, "skipped", message=first)
        elif o.status == PASS_UNOBSERVED:
            ET.SubElement(case, "skipped", message=f"passed what could be observed; {first}").text = message
        if r is not None:
            ET.SubElement(case, "system-out").text = f"seed {r.seed}; replay: {r.replay_command()}"
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(path: Path, outcomes: list[Outcome]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_xml(outcomes).write(path, encoding="utf-8", xml_declaration=True)
