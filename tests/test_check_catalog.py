"""`python -m sim check --catalog`: every catalog scenario's outcome is reachable in the model.

Runs over the whole catalog (about 10 s of CPU on one core; the scenarios are parametrised, so
pytest-xdist spreads them).  Every scenario is in the model, lifecycle steps (clients and daemons
killed, started, restarted), hosts without daemon or client, and corrupted datagrams included,
and every outcome must be reachable.  A search that answers "no" is also tested: outcomes the
harness never shows (a message shown twice with no duplicate allowed; an answer from a daemon
that is not running or from a daemon without user; a delivery by a killed daemon) are proved
unreachable, so "reachable" is not vacuous.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sim.check.catalog import OUTSIDE, TimeCache, check_scenario, row_text, scenario_files, summary
from sim.check.model import Bounds, Model
from sim.check.reach import REACHABLE, UNREACHABLE, ObservingModel, reach
from sim.check.target import RunFailed, target_of
from sim.cli import main as cli_main
from sim.runner import run_scenario
from sim.scenario import load_scenario

CATALOG = Path(__file__).resolve().parent.parent / "scenarios"
MAX_STATES = 200_000
TIMES = TimeCache()  # per worker process: calibration is shared by the scenarios it runs

# What each of these scenarios needs from the model beyond users and a lossy network: its path
# must take those steps (a lifecycle step, or bytes corrupted on the way).
NEEDS = {
    "client_killed_mid_chat": {"client killed", "disconnect"},
    "corrupt_datagrams_ignored": {"corrupt"},
    "daemon_killed_and_started_again_mid_chat": {"kill", "boot", "connect"},
    "daemon_restarted_mid_chat": {"kill", "boot", "connect"},
    "peer_daemon_killed_mid_chat": {"kill", "client error"},
    "peer_daemon_starts_late": {"boot", "connect"},
    "restarted_peer_invites_again": {"kill", "boot", "connect"},
    "restarted_daemon_plain_simp_limit_withdrawal_taken_for_a_decline": {"kill", "boot", "connect"},
    "restarted_daemon_simpx1_withdrawal_told_apart": {"kill", "boot", "connect"},
}
SCENARIOS = sorted(p.stem for p in scenario_files(CATALOG))


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_catalog_outcome_is_reachable_in_the_model(name: str) -> None:
    row = check_scenario(CATALOG / f"{name}.yaml", max_states=MAX_STATES, times=TIMES)
    assert row.verdict == REACHABLE, row_text(row)
    assert row.reach is not None and row.reach.path
    taken = {action.kind for action in row.reach.path}
    assert NEEDS.get(name, set()) <= taken, f"{name}: its path did not take {NEEDS[name] - taken}"
    if row.known_limit and row.verdict == REACHABLE:  # the known limit is a violation the model names
        assert row.broke, f"{name}: its outcome was reached without breaking any always-property"
    if name.startswith("closed_by_extension_"):  # the extension's twins: the same faults, no violation
        assert not row.broke, row_text(row)


def test_an_outcome_the_harness_never_shows_is_unreachable() -> None:
    sc = load_scenario(CATALOG / "happy_path.yaml")
    target = target_of(sc, run_scenario(sc))
    bob = target.notices[1]
    shown_twice = (*bob[:3], bob[2], *bob[3:])  # "a1" shown twice, with no duplicate allowed
    wrong = dataclasses.replace(target, notices=(target.notices[0], shown_twice))
    assert reach(target, times=TIMES(target.bounds)).verdict == REACHABLE
    assert reach(wrong, times=TIMES(target.bounds)).verdict == UNREACHABLE


def test_deadlines_due_at_the_same_instant_fire_in_the_order_they_were_really_set() -> None:
    """Both users' first messages are lost and retransmitted at the same model instant (alice's
    first); each ACK then sends the user's second message, bob's first, which sets each
    retransmission deadline again to the value it had.  So bob's deadline was set before alice's and
    fires first, in the checker's search as in a catalog search; with alice's ACK first, hers.
    (Ranking a deadline by its value's last change fired alice's in both: the checker missed the
    real schedule where bob's fires first.)"""
    bounds = Bounds(messages=2, losses=4)
    path = [("start", 0), ("deliver", 1), ("accept", 1), ("deliver", 0), ("deliver", 1),
            ("say", 0), ("say", 1), ("drop", 1), ("drop", 0), ("timer", 0), ("timer", 1),
            ("say", 1), ("say", 0),  # the second messages wait for the first's ACK
            ("deliver", 1), ("deliver", 0),  # the retransmitted messages, each ACKed
            ("deliver", 1), ("deliver", 0),  # bob gets his ACK first: b2 goes out, then a2
            ("drop", 1), ("drop", 0)]
    alice_first = [*path[:15], ("deliver", 0), ("deliver", 1), *path[17:]]  # a2 goes out first
    for model in (Model(bounds, TIMES(bounds)), ObservingModel(bounds, TIMES(bounds))):
        for steps, first in ((path, 1), (alice_first, 0)):
            s = model.initial()
            for want in steps:
                s = next(t for a, t, *_ in model.successors(s) if a[:2] == want)
            assert [model.table.deadline[nid] for nid in s[0]] == [5.0, 5.0]
            timers = [a[1] for a, *_ in model.successors(s) if a[0] == "timer"]
            assert timers == [first], (type(model).__name__, steps[15:17])


def test_time_passes_between_deadlines_only_in_a_catalog_search_up_to_half_a_timeout_before_one() -> None:
    """`Model.pass_time` moves the clock half a timeout, where windows no timer marks close; never
    past a deadline, never while a datagram in flight would arrive later than the bounds allow."""
    bounds = Bounds(messages=0, losses=0)
    model = ObservingModel(bounds, TIMES(bounds))
    s = next(t for a, t, *_ in model.successors(model.initial()) if a[:2] == ("start", 0))
    waited: list = []
    model.pass_time(waited, s)
    assert waited == []  # alice's SYN, in flight since the last deadline, may not wait 2.5 s at 0.49T
    s = next(t for a, t, *_ in model.successors(s) if a[:2] == ("deliver", 1))
    model.pass_time(waited, s)
    (action, after, _), = waited
    assert action[0] == "wait" and action[5] == bounds.timeout / 2
    assert [model.table.deadline[nid] for nid in after[0]] == [
        model.table.deadline[nid] - bounds.timeout / 2 for nid in s[0]]
    again: list = []
    model.pass_time(again, after)
    assert again == []  # alice's retransmission is due in half a timeout: the timer comes first
    checker = Model(bounds, TIMES(bounds))  # the checker's own search never lets time pass
    s = next(t for a, t, *_ in checker.successors(checker.initial()) if a[:2] == ("start", 0))
    s = next(t for a, t, *_ in checker.successors(s) if a[:2] == ("deliver", 1))
    assert all(a[0] != "wait" for a, *_ in checker.successors(s))


def _outcome_with(name: str, host: int, notices: tuple) -> tuple:
    """The target of catalog scenario `name`, and the same with `host` shown `notices` instead."""
    sc = load_scenario(CATALOG / f"{name}.yaml")
    target = target_of(sc, run_scenario(sc))
    shown = list(target.notices)
    shown[host] = notices
    return target, dataclasses.replace(target, notices=tuple(shown))


@pytest.mark.parametrize(("name", "instead"), [
    ("peer_daemon_not_running", (("chat started", None, ()),)),  # nothing runs at bob's address
    ("no_user_connected", (("chat started", None, ()),)),  # bob's daemon has no user to accept
])
def test_a_host_without_daemon_or_client_does_not_answer_as_if_it_had_one(name: str, instead: tuple) -> None:
    target, wrong = _outcome_with(name, 0, instead)
    assert target.daemons == (True, name != "peer_daemon_not_running")
    assert target.clients == (True, False)
    assert reach(target, times=TIMES(target.bounds)).verdict == REACHABLE
    wrong = dataclasses.replace(wrong, final=(None, None))
    assert reach(wrong, times=TIMES(target.bounds)).verdict == UNREACHABLE


def test_a_killed_daemon_delivers_nothing_more() -> None:
    """bob's daemon is killed after "are you there": alice can never be told "anyone there?" was delivered."""
    target, wrong = _outcome_with("peer_daemon_killed_mid_chat", 0, (
        ("chat started", None, ()), ("delivered", "a1", ()), ("delivered", "a2", ())))
    wrong = dataclasses.replace(wrong, final=(None, None))
    assert reach(target, times=TIMES(target.bounds)).verdict == REACHABLE
    assert reach(wrong, times=TIMES(target.bounds)).verdict == UNREACHABLE


def test_corruption_is_only_what_the_run_did() -> None:
    """Without the run's corrupted bytes the model's network only loses, copies and delays, and the
    run lost nothing: what the daemons sent (each corruption cost a retransmission) needs them."""
    sc = load_scenario(CATALOG / "corrupt_datagrams_ignored.yaml")
    target = target_of(sc, run_scenario(sc))
    assert sum(map(len, target.corrupted)) == 4 and target.bounds.losses == 0
    found = reach(target, times=TIMES(target.bounds), pin="sends")
    assert found.verdict == REACHABLE and sum(a.kind == "corrupt" for a in found.path) == 4
    clean = dataclasses.replace(target, corrupted=())
    assert reach(clean, times=TIMES(target.bounds), pin="sends").verdict == UNREACHABLE


def test_a_run_that_failed_its_expectations_is_not_taken_as_the_catalogs_outcome(tmp_path: Path) -> None:
    text = (CATALOG / "happy_path.yaml").read_text().replace("final: {alice: free, bob: free}",
                                                             "final: {alice: chatting, bob: free}")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    sc = load_scenario(broken)
    with pytest.raises(RunFailed, match="final state of alice"):
        target_of(sc, run_scenario(sc))


def test_the_cli_prints_a_row_per_scenario_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["check", "--catalog", str(CATALOG / "known_limit_duplicated_handshake_ack.yaml")])
    text = capsys.readouterr().out
    assert code == 0
    assert "known_limit_duplicated_handshake_ack" in text and "reachable" in text
    assert "breaks delivered-means-shown" in text
    assert "1 scenarios: 1 reachable, 0 UNREACHABLE, 0 undecided, 0 outside the model" in text


def test_the_summary_counts_and_names_disagreements() -> None:
    from sim.check.catalog import Row

    rows = [Row("a", REACHABLE, ""), Row("b", UNREACHABLE, ""), Row("c", OUTSIDE, "why"),
            Row("d", REACHABLE, "", ("chats-isolated",))]
    text = summary(rows)
    assert "4 scenarios: 2 reachable, 1 UNREACHABLE, 0 undecided, 1 outside the model" in text
    assert "UNREACHABLE: b" in text
    assert "without being a known-limit scenario: d (chats-isolated)" in text


def test_a_path_with_no_scenario_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["check", "--catalog", str(tmp_path / "nothing-here")]) == 2
    assert "no scenario at" in capsys.readouterr().err
