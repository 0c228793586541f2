"""The conformance suite against our own daemon (every case a pytest item) and against stand-in
daemons speaking the dialects seen in the field, whose reports must name their deviation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from sim.conform import report
from sim.conform.cases import CASES, explain_format
from sim.conform.runner import FAIL, NA, PARTIAL, PASS, CaseResult, run_case, run_suite, select
from sim.profiles import ProfileError, builtin_profile, load_profile
from simp import wire
from tests.standins import profile_path


def _run(profile_file: Path | None, case_id: str) -> CaseResult:
    profile = builtin_profile() if profile_file is None else load_profile(profile_file)
    (case,) = [c for c in CASES if c.id == case_id]
    return asyncio.run(run_case(profile, case))


def _explain(r: CaseResult) -> str:
    return f"{r.case.id}: {r.status}: {r.summary()}\n{r.ladder}\nuser:\n" + "\n".join(r.user_lines)


def test_at_least_25_cases_with_unique_ids() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 25
    assert len(set(ids)) == len(ids)
    assert {c.group for c in CASES} >= {"byte format", "handshake", "loss", "duplicate", "delay", "timing",
                                        "tear-down", "garbage", "dialect"}


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_our_daemon_conforms(case_id: str) -> None:
    r = _run(None, case_id)
    assert r.status == PASS, _explain(r)


# -- stand-ins -------------------------------------------------------------------------------

DEVIATIONS = [
    ("ack-next", "ack-echoes-bit",
     "ACK carries the next expected bit (1) instead of echoing the bit of the peer's message (0)"),
    ("first-bit-1", "first-chat-bit-0",
     "the first chat datagram carries bit 1; each direction's first chat datagram carries bit 0"),
    ("first-bit-1", "format-chat",
     "sequence byte 0x01 instead of 0x00 (the first chat datagram carries bit 1"),
    ("shared-bit", "independent-bits", "one bit shared by both directions"),
    ("short-fields", "format-syn", "SYN is 21 bytes where SPEC's encoding is 39"),
    ("short-fields", "format-chat",
     "CHAT is 32 bytes where SPEC's encoding is 50 (header 39 = type 1 + op 1 + seq 1 + user 32 + length 4): "
     "a user field of 16 bytes (SPEC: 32) and a 2-byte length field (SPEC: 4)"),
]


@pytest.mark.parametrize("dialect, case_id, named", DEVIATIONS, ids=[f"{d}-{c}" for d, c, _ in DEVIATIONS])
def test_report_names_the_standins_deviation(dialect: str, case_id: str, named: str, tmp_path: Path) -> None:
    r = _run(profile_path(dialect, tmp_path), case_id)
    assert r.status == FAIL, _explain(r)
    assert named in r.detail, _explain(r)
    assert "│" in r.ladder  # the failure comes with its ladder


@pytest.mark.parametrize("dialect", ["ack-next", "first-bit-1", "shared-bit", "short-fields"])
def test_spec_cases_pass_where_the_dialect_does_not_matter(dialect: str, tmp_path: Path) -> None:
    """A dialect fails its own cases, not the ones its difference cannot reach."""
    untouched = {"ack-next": "declined-as-inviter", "first-bit-1": "lost-syn", "shared-bit": "dup-chat",
                 "short-fields": "garbage-ignored"}[dialect]
    r = _run(profile_path(dialect, tmp_path), untouched)
    expected = FAIL if dialect == "short-fields" else PASS  # nothing gets past its 21-byte handshake
    assert r.status == expected, _explain(r)


def test_spec_standin_passes_every_case_in_parallel(tmp_path: Path) -> None:
    """The control: a stand-in without a dialect gets no false failure (the suite, 4 cases at once)."""
    results = asyncio.run(run_suite(load_profile(profile_path("spec", tmp_path)), CASES, jobs=4))
    bad = [r for r in results if r.status != PASS]
    assert not bad, "\n".join(_explain(r) for r in bad)


def test_a_user_acting_through_a_text_protocol_on_the_client_port(tmp_path: Path) -> None:
    """The other client shape: each step one datagram to the client port, each notice one back."""
    path = profile_path("spec", tmp_path, client="udp")
    profile = load_profile(path)
    assert profile.user.shape == "udp"
    for case_id in ("handshake-inviter", "dup-chat", "fin-from-peer"):
        r = _run(path, case_id)
        assert r.status == PASS, _explain(r)
        assert "> name tester" in r.user_lines and "< ready" in r.user_lines


# -- what a profile cannot do or see -----------------------------------------------------------


def _limited_profile(tmp_path: Path, drop: str) -> Path:
    path = profile_path("spec", tmp_path)
    lines = [ln for ln in path.read_text().splitlines() if not ln.strip().startswith(drop)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_step_the_profile_cannot_take_is_not_applicable(tmp_path: Path) -> None:
    r = _run(_limited_profile(tmp_path, "decline:"), "decline-as-invitee")
    assert r.status == NA
    assert r.detail == "the profile gives no way for its user to decline"


def test_a_notice_the_profile_cannot_see_is_not_observable(tmp_path: Path) -> None:
    r = _run(_limited_profile(tmp_path, "message:"), "dup-chat")
    assert r.status == PARTIAL
    assert r.unobserved == ["how often the user is shown message"]
    assert "not observable" in r.summary()


# -- reports ---------------------------------------------------------------------------------


def _fake_results() -> dict[str, list[CaseResult]]:
    a, b = CASES[0], CASES[1]
    return {"ours": [CaseResult(a, "ours", PASS), CaseResult(b, "ours", FAIL, "ACK carries <bit>")],
            "theirs": [CaseResult(a, "theirs", NA, "no decline"), CaseResult(b, "theirs", PARTIAL,
                                                                             unobserved=["user shown x"])]}


def test_junit_and_html_reports(tmp_path: Path) -> None:
    by = _fake_results()
    report.write_junit(by, tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    ours = root.find("testsuite[@name='ours']")
    assert ours is not None and ours.get("failures") == "1"
    failure = ours.find(f"testcase[@name='{CASES[1].id}']/failure")
    assert failure is not None and failure.get("message") == "ACK carries <bit>"
    index = report.write_html(by, tmp_path / "html")
    matrix = index.read_text()
    assert 'href="ours.html"' in matrix and 'href="theirs.html"' in matrix
    page = (tmp_path / "html" / "ours.html").read_text()
    assert "ACK carries &lt;bit&gt;" in page and "capture.pcapng" in page
    assert (tmp_path / "html" / "ours" / CASES[1].id / "user.txt").exists()
    assert "1 passed, 1 failed" in report.totals_line(by["ours"])
    assert "pass*" in report.table(by["theirs"])


def test_explain_format_names_fields() -> None:
    dg = wire.chat(0, "tester", "Hello World")
    good = wire.encode(dg)
    assert explain_format(good, dg) is None
    spaces = good[:3] + b"tester".ljust(32, b" ") + good[35:]
    assert "padded with spaces" in (explain_format(spaces, dg) or "")
    little = good[:35] + (11).to_bytes(4, "little") + good[39:]
    assert explain_format(little, dg) == "length field is little-endian (SPEC: big-endian, network order)"


def test_select_and_profile_errors(tmp_path: Path) -> None:
    assert {c.id for c in select("dialect")} == {"ack-echoes-bit", "first-chat-bit-0", "independent-bits"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndaemon: {command: run, binds: sideways}\n")
    with pytest.raises(ProfileError, match=r"daemon\.binds: expected 'address' or 'netns'"):
        load_profile(bad)
    bad.write_text("name: x\ndaemon: {command: run}\nuser: {shape: stdio}\n")
    with pytest.raises(ProfileError, match=r"user\.command is required"):
        load_profile(bad)


def test_profiles_found_by_name_in_a_folder(tmp_path: Path) -> None:
    from sim.profiles import profiles_in, resolve

    profile_path("ack-next", tmp_path)
    profile_path("spec", tmp_path)
    assert set(profiles_in(tmp_path)) == {"simp-sim", "standin-ack-next", "standin-spec"}
    assert resolve("standin-spec", tmp_path).name == "standin-spec"
    assert resolve("standin-spec-stdio", tmp_path).name == "standin-spec"  # by file name too
    with pytest.raises(ProfileError, match="no profile 'nobody'"):
        resolve("nobody", tmp_path)
    (tmp_path / "again.yaml").write_text((tmp_path / "standin-spec-stdio.yaml").read_text())
    with pytest.raises(ProfileError, match="already used by"):
        profiles_in(tmp_path)


def test_cli_lists_and_runs(tmp_path: Path) -> None:
    from sim.cli import main

    assert main(["conform", "--list"]) == 0
    junit = tmp_path / "j.xml"
    out = ["--out", str(tmp_path / "out")]
    assert main(["conform", "-k", "fin-from-peer", "--junit", str(junit), *out]) == 0
    assert (tmp_path / "out" / "simp-sim" / "fin-from-peer" / "capture.pcapng").exists()
    assert ET.parse(junit).getroot().find("testsuite").get("tests") == "1"  # type: ignore[union-attr]
    assert main(["conform", str(tmp_path / "missing.yaml")]) == 2
    profile_path("spec", tmp_path)
    by_name = ["--implementations", str(tmp_path), "standin-spec"]
    assert main(["conform", *by_name, "-k", "fin-from-peer", *out]) == 0


def test_implementation_status_for_final_state_checks(tmp_path: Path) -> None:
    """Our daemon tells its state; a foreign one cannot, which callers report as not observable."""
    from sim.loopback import new_block
    from sim.profiles import Implementation

    async def states() -> tuple[dict[str, str] | None, dict[str, str] | None]:
        ours = Implementation(builtin_profile(), new_block() + "1")
        theirs = Implementation(load_profile(profile_path("spec", tmp_path)), new_block() + "1")
        try:
            await ours.start()
            await theirs.start()
            return await ours.status(), await theirs.status()
        finally:
            await ours.close()
            await theirs.close()

    ours, theirs = asyncio.run(states())
    assert ours is not None and ours["state"] == "free"
    assert theirs is None
