"""Scenario hosts played by other implementations (sim/foreign_hosts.py), with the stand-in daemon.

The stand-in (tests/standins/sloppy_daemon.py) speaks SPEC in dialect `spec` and must pass the
catalog scenarios it can play; in dialect `ack-next` (an ACK carries the next expected bit) the
same scenarios must fail, and the failure must say which datagram deviated.  Its profile is
written into each test's tmp dir, as a user would write one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sim.cli import main as sim_main
from sim.foreign_hosts import aliases, cast, parse_cast
from sim.outcome import FAIL, NOT_APPLICABLE, PASS, PASS_UNOBSERVED, Outcome
from sim.profiles import ProfileError, load_profile
from sim.runner import run_chosen
from sim.scenario import load_scenario
from tests.standins import profile_path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "scenarios"
INTEROP = ROOT / "sim" / "conform" / "interop"  # "does our daemon chat with X, both ways" (README)
PLAYED = ("happy_path", "decline", "chat_dropped_once")


def _profiles(tmp_path: Path, *dialects: str, client: str = "stdio", binds: str = "address") -> Path:
    folder = tmp_path / "impls"
    folder.mkdir(exist_ok=True)
    for dialect in dialects:
        path = profile_path(dialect, folder, client=client)
        path.write_text(path.read_text().replace("binds: address", f"binds: {binds}"))
    return folder


def _run(name: str, folder: Path, **hosts: str) -> Outcome:
    sc = cast(load_scenario(CATALOG / f"{name}.yaml"), hosts)
    return Outcome(sc.source, result=run_chosen(sc, implementations=folder))


def test_spec_standin_plays_catalog_scenarios_in_parallel_with_reports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _profiles(tmp_path, "spec")
    junit, html = tmp_path / "run.xml", tmp_path / "html"
    status = sim_main(["run", *(str(CATALOG / f"{n}.yaml") for n in PLAYED), "-j", "3",
                       "--implementations", str(folder), "--implementation", "bob=standin-spec",
                       "--junit", str(junit), "--report", str(html)])
    out = capsys.readouterr().out
    assert status == 0, out
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and all(" PASS* " in line for line in lines), out
    # what the stand-in's user cannot show is listed, never passed silently
    assert "not observable: notice of bob: delivered" in out
    assert "not observable: final state of bob (free)" in out
    assert "0 passed, 3 passed with checks not observable (pass*), 0 failed" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "3" and suite.get("failures") == "0"
    messages = [s.get("message", "") for s in suite.iter("skipped")]
    assert all(m.startswith("passed what could be observed; not observable:") for m in messages)
    assert 'data-status="pass*"' in (html / "index.html").read_text()


@pytest.mark.parametrize("name", PLAYED)
def test_spec_standin_as_the_inviter(tmp_path: Path, name: str) -> None:
    outcome = _run(name, _profiles(tmp_path, "spec"), alice="standin-spec")
    assert outcome.status == PASS_UNOBSERVED, outcome.result.report() if outcome.result else ""


@pytest.mark.parametrize(("dialect", "name", "deviation"), [
    ("ack-next", "happy_path", "expected bob > alice ACK seq=0"),  # it ACKs "hello bob" with bit 1
    ("ack-next", "chat_dropped_once", "expected bob > alice ACK seq=0"),
    ("first-bit-1", "happy_path", 'expected bob > alice CHAT seq=0 "hi alice"'),  # it sends it with bit 1
])
def test_sloppy_dialects_fail_naming_the_datagram(tmp_path: Path, dialect: str, name: str,
                                                  deviation: str) -> None:
    outcome = _run(name, _profiles(tmp_path, dialect), bob=f"standin-{dialect}")
    assert outcome.status == FAIL
    assert outcome.result is not None
    messages = "\n".join(f.message for f in outcome.result.failures)
    assert deviation in messages, messages


CHATTY = ("spec", "ack-next", "short-fields")  # stand-ins that are SPEC, or whose dialect our daemon learns
CASTS = [{}, *({host: f"standin-{d}"} for d in CHATTY for host in ("bob", "alice"))]


@pytest.mark.parametrize("name", ["inviter_speaks_first", "invitee_speaks_first"])
@pytest.mark.parametrize("hosts", CASTS, ids=["ours-both", *(f"{d}-{side}" for d in CHATTY
                                                            for side in ("invited", "invites"))])
def test_interop_scenarios_chat_both_ways(tmp_path: Path, name: str, hosts: dict[str, str]) -> None:
    """The chats README's interop commands run: with our daemon on both sides, and with a SPEC
    stand-in, or one of a dialect our daemon learns, on either side; every check in them is one
    a stdio profile can observe."""
    sc = cast(load_scenario(INTEROP / f"{name}.yaml"), hosts)
    outcome = Outcome(sc.source, result=run_chosen(sc, implementations=_profiles(tmp_path, *CHATTY)))
    assert outcome.status == PASS, outcome.result.report() if outcome.result else ""
    assert outcome.result is not None and outcome.result.said["alice"] and outcome.result.said["bob"]


def test_a_sloppy_run_on_the_command_line_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _profiles(tmp_path, "ack-next")
    status = sim_main(["run", str(CATALOG / "happy_path.yaml"), "--implementations", str(folder),
                       "--implementation", "bob=standin-ack-next"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL happy path" in out and "wire[4]: expected bob > alice ACK seq=0" in out
    assert "--implementations" in out and "--implementation bob=standin-ack-next" in out  # the replay command


def test_text_protocol_client_shape(tmp_path: Path) -> None:
    outcome = _run("happy_path", _profiles(tmp_path, "spec", client="udp"), bob="standin-spec")
    assert outcome.status == PASS_UNOBSERVED, outcome.result.report() if outcome.result else ""


def test_a_step_without_template_is_not_applicable(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = _profiles(tmp_path, "spec")
    profile = folder / "standin-spec-stdio.yaml"
    profile.write_text(profile.read_text().replace('    decline: ["decline"]\n', ""))
    outcome = _run("decline", folder, bob="standin-spec")
    assert outcome.status == NOT_APPLICABLE
    assert "the profile has no step for 'decline'" in outcome.message()
    junit = tmp_path / "run.xml"
    status = sim_main(["run", str(CATALOG / "decline.yaml"), "--implementations", str(folder),
                       "--implementation", "bob=standin-spec", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert status == 0 and "N/A decline" in out and "1 not applicable" in out
    skipped = ET.parse(junit).getroot().find("testsuite/testcase/skipped")
    assert skipped is not None and skipped.get("message", "").startswith("not applicable:")


def test_unknown_implementation_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _profiles(tmp_path, "spec")
    status = sim_main(["run", str(CATALOG / "happy_path.yaml"), "--implementations", str(folder),
                       "--implementation", "bob=nobody"])
    assert status == 2
    assert "host bob: no profile 'nobody'" in capsys.readouterr().err
    with pytest.raises(ProfileError, match="HOST=NAME"):
        parse_cast(["bob"])


def test_a_host_named_in_the_scenario_file(tmp_path: Path) -> None:
    folder = _profiles(tmp_path, "spec")
    text = (CATALOG / "happy_path.yaml").read_text().replace(
        "hosts: [alice, bob]", "hosts: {alice: {}, bob: {implementation: standin-spec}}")
    path = tmp_path / "happy.yaml"
    path.write_text(text)
    sc = load_scenario(path)
    assert sc.host("bob").implementation == "standin-spec" and sc.host("alice").implementation is None
    with pytest.raises(ProfileError, match="needs --implementations DIR"):
        run_chosen(sc)
    assert Outcome(str(path), result=run_chosen(sc, implementations=folder)).status == PASS_UNOBSERVED


def test_pytest_items_take_implementations(tmp_path: Path) -> None:
    folder = _profiles(tmp_path, "spec")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         str(CATALOG / "happy_path.yaml"), "--implementations", str(folder),
         "--implementation", "bob=standin-spec"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "NotObservable" in proc.stdout, proc.stdout


def test_aliases_sit_where_a_namespaced_daemon_can_reach_them() -> None:
    names = ("alice", "bob", "carol")
    plain = aliases(names, "127.9.9.", {})
    assert plain == {"alice": "127.9.9.101", "bob": "127.9.9.102", "carol": "127.9.9.103"}
    one = aliases(names, "127.9.9.", {"bob": ("10.1.1.1", "10.1.1.3")})
    assert one == {"alice": "10.1.1.1", "bob": "127.9.9.102", "carol": "10.1.1.3"}
    two = aliases(("alice", "bob"), "127.9.9.", {"alice": ("10.1.1.1", "10.1.1.3"), "bob": ("10.2.2.1", "x")})
    assert two == {"alice": "10.2.2.1", "bob": "10.1.1.1"}


_NETNS = os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.mark.skipif(not _NETNS, reason="network namespaces need root and iproute2's ip")
@pytest.mark.parametrize("hosts", [{"bob": "standin-spec"}, {"alice": "standin-spec", "bob": "standin-spec"}],
                         ids=["bob-in-a-namespace", "both-in-namespaces"])
def test_daemons_in_network_namespaces(tmp_path: Path, hosts: dict[str, str]) -> None:
    folder = _profiles(tmp_path, "spec", client="udp", binds="netns")
    outcome = _run("happy_path", folder, **hosts)
    assert outcome.status == PASS_UNOBSERVED, outcome.result.report() if outcome.result else ""
    leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"simp{os.getpid() % 100000}x" not in leftover  # every namespace was removed


def test_a_detached_grandchild_holding_the_pipes_leaves_no_transport_open(tmp_path: Path) -> None:
    """A foreign command whose child leaves the process group (setsid) and keeps the daemon's
    stdout and stderr open: the harness stops waiting for end of file and closes the subprocess
    transport itself; left open, asyncio's finaliser ran after the loop had ended and printed
    "Exception ignored ... RuntimeError: Event loop is closed" at exit."""
    folder = _profiles(tmp_path, "spec")
    pidfile = tmp_path / "grandchild.pid"
    profile = folder / "standin-spec-stdio.yaml"
    detached = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 60' & exec "
    text = profile.read_text().replace('command: "{python} sloppy_daemon.py',
                                       f'command: "sh -c \\"{detached}{{python}} sloppy_daemon.py')
    profile.write_text(text.replace('--timeout {timeout}"', '--timeout {timeout}\\""'))
    try:
        proc = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-m", "sim", "run",
             str(INTEROP / "inviter_speaks_first.yaml"), "--implementations", str(folder),
             "--implementation", "bob=standin-spec"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert pidfile.exists(), proc.stdout + proc.stderr  # the grandchild did hold the pipes
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for sign in ("Exception ignored", "Event loop is closed", "ResourceWarning", "unclosed"):
        assert sign not in proc.stderr, proc.stderr


@pytest.mark.parametrize(("profile", "line", "kind", "fields"), [
    ("lunic-custom-protocol", "Message from bob: bob accepted.", "chat_started", {"user": "bob"}),
    ("lunic-custom-protocol", "Message from bob: hi alice", "message", {"user": "bob", "text": "hi alice"}),
    ("lunic-custom-protocol", "Chat accepted. Chat started.", "chat_started", {"user": None}),
    ("lunic-custom-protocol", "Do you want to accept the chat request from 10.1.1.1, bob ? (y/n): ",
     "invitation", {"ip": "10.1.1.1"}),
    ("course-reference", "connected|username=alice", "chat_started", {"user": "alice"}),
    ("course-reference", "message|username=alice|text=a|b", "message", {"user": "alice", "text": "a|b"}),
    ("dfoddav2-networking-ii", "RECV bob: hi alice", "message", {"user": "bob", "text": "hi alice"}),
    ("dfoddav2-networking-ii", "Chat connection established with bob.", "chat_started", {"user": "bob"}),
    ("dfoddav2-networking-ii", "CONNECT User alice\x00\x00 wants to start a chat", "invitation",
     {"user": "alice"}),
])
def test_shipped_profiles_read_their_clients_lines(profile: str, line: str, kind: str,
                                                   fields: dict[str, str | None]) -> None:
    """docs/profiles: the first notice regex (in the profile's order, as the drivers try them)
    that matches a line the implementation's user is shown gives the right kind and fields; lunic's
    acceptance, which its client prints as a message from the peer, is its 'chat started'."""
    notices = load_profile(ROOT / "docs" / "profiles" / f"{profile}.yaml").user.notices
    kind_seen, match = next((k, m) for k, r in notices.items() if (m := r.search(line)))
    assert (kind_seen, match.groupdict()) == (kind, fields)


def test_out_holds_what_a_foreign_user_saw_and_its_daemon_printed(tmp_path: Path) -> None:
    folder = _profiles(tmp_path, "spec")
    out = tmp_path / "out"
    status = sim_main(["run", str(INTEROP / "inviter_speaks_first.yaml"), "--implementations", str(folder),
                       "--implementation", "bob=standin-spec", "--out", str(out)])
    assert status == 0
    user = (out / "inviter-speaks-first" / "bob.user.txt").read_text().splitlines()
    assert "> accept" in user and "< message from alice: hello bob" in user and "> say hi alice" in user
    assert "listening on" in (out / "inviter-speaks-first" / "bob.daemon.txt").read_text()
    assert not (out / "inviter-speaks-first" / "alice.user.txt").exists()  # ours: the trace says it all


BRIDGE = """\
import socket, sys, threading
link = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
link.connect((sys.argv[1], int(sys.argv[2])))
def show():
    while True:
        for line in link.recv(65535).decode("ascii", "replace").splitlines():
            print(line, flush=True)
threading.Thread(target=show, daemon=True).start()
for line in sys.stdin:
    link.send(line.rstrip("\\n").encode("ascii", "replace"))
threading.Event().wait()
"""


def test_a_killed_client_program_and_its_successor_are_both_closed_and_logged(tmp_path: Path) -> None:
    """A client program of its own (stdio, not the daemon's terminal: here a bridge to the
    stand-in's client port) that a step kills is closed with its daemon at the end, and --out
    shows both programs' transcripts."""
    folder = _profiles(tmp_path, "spec", client="udp")
    (tmp_path / "bridge.py").write_text(BRIDGE)
    profile = folder / "standin-spec-udp.yaml"
    profile.write_text(profile.read_text().replace(
        "  shape: udp\n", f'  shape: stdio\n  command: ["{{python}}", "{tmp_path / "bridge.py"}", "{{ip}}", '
        '"{client_port}"]\n'))
    scenario = tmp_path / "reconnect.yaml"
    scenario.write_text("name: reconnect\nhosts: [alice, bob]\nsteps:\n"
                        "  - bob: kill client\n  - bob: connect\n  - bob: wait\n  - alice: start bob\n"
                        "  - bob: accept\n  - alice: say hi\n"
                        "  - bob: wait-until message \"hi\"\n  - alice: quit\n  - bob: wait-until peer left\n"
                        "expect:\n  delivered: {bob: [hi]}\n")
    out = tmp_path / "out"
    status = sim_main(["run", str(scenario), "--implementations", str(folder),
                       "--implementation", "bob=standin-spec", "--out", str(out)])
    assert status == 0
    user = (out / "reconnect" / "bob.user.txt").read_text().splitlines()
    first, second = user.index("-- user 1 of 2 --"), user.index("-- user 2 of 2 --")
    assert "> name bob" in user[first:second] and "< message from alice: hi" in user[second:], user
