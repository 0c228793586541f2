"""Our daemon told that a peer speaks shared-bit (`--peer-dialect`, scenario host option
`peer_dialects`) chats with a daemon of that dialect, both ways; untold, it stays SPEC.

The peer is the stand-in daemon in dialect `shared-bit-1` (tests/standins/sloppy_daemon.py),
which behaves on the wire as the student daemon README's implementations table lists as
speaking it: one bit for both directions, 1 after the handshake, a chat datagram or FIN with
another bit dropped without an ACK, refusals as one 0x09 (FIN|ERR) datagram.  The chats run as
scenarios (sim/runner.py), so faults can be put on the path between the two daemons.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sim.conform.cases import CASES
from sim.conform.runner import FAIL as CONFORM_FAIL
from sim.conform.runner import run_case
from sim.foreign_hosts import cast
from sim.outcome import FAIL, PASS, Outcome
from sim.process_mode import ProcessDaemon
from sim.profiles import load_profile
from sim.runner import run_chosen
from sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from sim.trace import DROPPED
from simp.daemon_cli import build_parser, config_from
from simp.daemon_cli import main as daemon_main
from simp.node import Node
from tests.standins import profile_path

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "sim" / "conform" / "interop"
STANDIN = "standin-shared-bit-1"
TOLD = ROOT / "sim" / "conform" / "interop-shared-bit"  # the interop chats, ours told (README)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "impls"
    folder.mkdir(exist_ok=True)
    profile_path("shared-bit-1", folder)
    return folder


def _run(sc: Scenario, tmp_path: Path) -> Outcome:
    return Outcome(sc.source, result=run_chosen(sc, implementations=_folder(tmp_path)))


def _report(outcome: Outcome) -> str:
    return outcome.result.report() if outcome.result else ""


SIDES = [("bob", "alice"), ("alice", "bob")]  # (the stand-in, our daemon): we invite / it invites


@pytest.mark.parametrize("name", ["inviter_speaks_first", "invitee_speaks_first"])
@pytest.mark.parametrize(("standin", "ours"), SIDES, ids=["we-invite", "it-invites"])
def test_told_our_daemon_chats_with_a_shared_bit_daemon_both_ways_in_both_orders(
        tmp_path: Path, name: str, standin: str, ours: str) -> None:
    """The shipped chats of sim/conform/interop-shared-bit/ (README: whichever host is ours is told
    the other speaks shared-bit), with the stand-in cast as the other host."""
    sc = cast(load_scenario(TOLD / f"{name}.yaml"), {standin: STANDIN})
    assert dict(next(h for h in sc.hosts if h.name == ours).peer_dialects) == {standin: "shared-bit"}
    outcome = _run(sc, tmp_path)
    assert outcome.status == PASS, _report(outcome)
    assert outcome.result is not None and outcome.result.dialects_learned.get(ours, 0) == 0


LOSSY = """
name: shared-bit - a chat datagram each way and an ACK of ours lost
description: >
  {inviter} invites; strict turns, two messages each. The first chat datagram each side sends is
  lost, and so is our daemon's ACK of the stand-in's first message: the stand-in re-sends it with
  its old bit, which our daemon takes for the duplicate it is (ACKed again with that bit, not shown
  again). Every message is shown exactly once on both sides.
hosts:
  alice: {alice}
  bob: {bob}
faults:
  - {{match: {{from: alice, op: CHAT}}, nth: 1, drop: true}}
  - {{match: {{from: bob, op: CHAT}}, nth: 1, drop: true}}
  - {{match: {{from: {ours}, op: ACK}}, nth: {ack_nth}, drop: true}}
steps:
  - bob: wait
  - alice: start bob
  - bob: wait-until invitation
  - bob: accept
  - bob: wait-until chat started within 30s
  - alice: wait-until chat started within 30s
  - {first}: say "one"
  - {second}: wait-until message "one" within 30s
  - {second}: say "two"
  - {first}: wait-until message "two" within 30s
  - {first}: say "three"
  - {second}: wait-until message "three" within 30s
  - {second}: say "four"
  - {first}: wait-until message "four" within 30s
  - alice: quit
  - bob: wait-until peer left within 30s
expect:
  delivered: {{{first}: [two, four], {second}: [one, three]}}
"""


@pytest.mark.parametrize("first", ["alice", "bob"])
@pytest.mark.parametrize(("standin", "ours"), SIDES, ids=["we-invite", "it-invites"])
def test_lost_chat_datagrams_and_a_lost_ack_of_ours_still_show_each_message_once(
        tmp_path: Path, standin: str, ours: str, first: str) -> None:
    # our ACKs: as the inviter the first is the handshake's, then one per message of the stand-in's
    first_of_its = 1 if first == standin else 2  # its first message comes first or second
    ack_nth = first_of_its + (ours == "alice")
    text = LOSSY.format(inviter="alice", ours=ours, ack_nth=ack_nth, first=first,
                        second="bob" if first == "alice" else "alice",
                        alice=f"{{implementation: {STANDIN}}}" if standin == "alice" else
                        "{peer_dialects: {bob: shared-bit}}",
                        bob=f"{{implementation: {STANDIN}}}" if standin == "bob" else
                        "{peer_dialects: {alice: shared-bit}}")
    outcome = _run(parse_scenario(text, f"shared-bit-lossy-{standin}-{first}.yaml"), tmp_path)
    assert outcome.status == PASS, _report(outcome)
    assert outcome.result is not None
    lost = [e.desc for e in outcome.result.trace.events if e.action == DROPPED]
    assert sorted(lost)[0].startswith("ACK") and len(lost) == 3, lost  # the faults really struck


DECLINE = """
name: shared-bit - the stand-in declines with one 0x09 (FIN|ERR) datagram
description: >
  Our daemon reads it as ERR then FIN: its user is shown the text and the invitation refused,
  and our ACK (its bit, 0) stops the stand-in's re-sending.
hosts:
  alice: {peer_dialects: {bob: shared-bit}}
  bob: {implementation: standin-shared-bit-1}
steps:
  - bob: wait
  - alice: start bob
  - bob: wait-until invitation
  - bob: decline
  - alice: wait-until refused within 30s
expect:
  notices:
    alice: [error "Chat invitation rejected.", refused]
  wire:
    - alice > bob ACK seq=0
  final: {alice: free}
"""


def test_a_decline_by_fin_err_is_shown_with_its_text_and_acknowledged(tmp_path: Path) -> None:
    outcome = _run(parse_scenario(DECLINE, "shared-bit-decline.yaml"), tmp_path)
    assert outcome.status == PASS, _report(outcome)


UNTOLD = [("bob", "inviter_speaks_first"), ("bob", "invitee_speaks_first"), ("alice", "invitee_speaks_first")]


@pytest.mark.parametrize(("standin", "name"), UNTOLD,
                         ids=["we-invite-we-speak", "we-invite-it-speaks", "it-invites-we-speak"])
def test_untold_our_daemon_stays_spec_and_learns_nothing(tmp_path: Path, standin: str, name: str) -> None:
    """Without the option the chat fails as SPEC says it must with such a peer (README, Dialects):
    our first message carries bit 0, which the stand-in drops without an ACK; when we invited,
    its first message, bit 1, is a duplicate for SPEC (acknowledged, not shown).  (When it
    invites and speaks first, our daemon learns first-bit-1: test_dialect.py.)"""
    ours = "alice" if standin == "bob" else "bob"
    outcome = _run(cast(load_scenario(INTEROP / f"{name}.yaml"), {standin: STANDIN}), tmp_path)
    assert outcome.status == FAIL, _report(outcome)
    assert outcome.result is not None and outcome.result.dialects_learned.get(ours, 0) == 0


# -- the conformance suite names the dialect --------------------------------------------------


@pytest.mark.parametrize("case_id", ["ack-echoes-bit", "fin-after-messages"])
def test_conformance_says_a_first_chat_with_bit_0_is_dropped_and_bit_1_expected(
        tmp_path: Path, case_id: str) -> None:
    (case,) = [c for c in CASES if c.id == case_id]
    r = asyncio.run(run_case(load_profile(profile_path("shared-bit-1", tmp_path)), case))
    assert r.status == CONFORM_FAIL, r.ladder
    assert "drops a chat datagram with bit 0 after the handshake without an ACK (expects bit 1: one bit " \
           "shared by both directions?)" in r.detail, r.ladder


def test_conformance_keeps_nothing_arrived_for_a_daemon_that_never_acknowledges(tmp_path: Path) -> None:
    """A stand-in that ACKs no chat datagram at all (the bit-1 copy neither) is not called shared-bit."""
    path = profile_path("shared-bit-1", tmp_path)
    mute = tmp_path / "mute.py"  # the stand-in, sending no ACK of a chat datagram
    source = (Path(__file__).parent / "standins" / "sloppy_daemon.py").read_text()
    mute.write_text(source.replace("        self.send(self.encode(CONTROL, ACK, echo))\n", ""))
    path.write_text(path.read_text().replace("sloppy_daemon.py", str(mute)))
    (case,) = [c for c in CASES if c.id == "ack-echoes-bit"]
    r = asyncio.run(run_case(load_profile(path), case))
    assert r.status == CONFORM_FAIL, r.ladder
    assert "nothing arrived" in r.detail and "shared by both" not in r.detail, r.detail


# -- configuration -----------------------------------------------------------------------------


def test_the_option_reaches_the_node_and_the_daemons_the_harness_starts() -> None:
    args = build_parser().parse_args(["127.0.0.1", "--peer-dialect", "127.0.0.2=shared-bit",
                                      "--peer-dialect", "127.0.0.3=shared-bit"])
    config = config_from(args)
    assert config.node.peer_dialects == (("127.0.0.2", "shared-bit"), ("127.0.0.3", "shared-bit"))
    assert Node(config.node).dialect == "none"
    command = ProcessDaemon(config, scale=0.1).command("127.0.0.1")
    assert command[command.index("--peer-dialect") + 1] == "127.0.0.2=shared-bit"


@pytest.mark.parametrize(("value", "said"), [
    ("127.0.0.2=first-bit-1", "unknown dialect 'first-bit-1' in '127.0.0.2=first-bit-1': one of shared-bit"),
    ("127.0.0.2", "expected ADDR=DIALECT, e.g. 127.0.0.2=shared-bit; got '127.0.0.2'"),
    ("bob=shared-bit", "not an IPv4 address: 'bob'"),
])
def test_a_bad_peer_dialect_is_a_usage_error(value: str, said: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        daemon_main(["127.0.0.1", "--peer-dialect", value])
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_one_address_with_two_dialects_is_a_usage_error() -> None:
    args = build_parser().parse_args(["127.0.0.1", "--peer-dialect", "127.0.0.2=shared-bit"])
    args.peer_dialect.append(("127.0.0.2", "other"))
    with pytest.raises(ValueError, match=r"gives 127\.0\.0\.2 two dialects"):
        config_from(args)


def test_a_scenario_host_told_about_an_unknown_host_or_dialect_is_refused() -> None:
    with pytest.raises(ScenarioError, match="no host 'carol'"):
        parse_scenario("name: x\nhosts:\n  alice: {peer_dialects: {carol: shared-bit}}\n  bob:\n"
                       "steps:\n  - bob: wait\n")
    with pytest.raises(ScenarioError, match="expected one of shared-bit"):
        parse_scenario("name: x\nhosts:\n  alice: {peer_dialects: {bob: ack-next}}\n  bob:\n"
                       "steps:\n  - bob: wait\n")
