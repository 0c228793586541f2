"""Network namespaces for daemons that bind 0.0.0.0 or hard-code their ports (sim/netns.py).

Skipped only when not root (creating namespaces needs it); CI runs as root.  Every namespace is
created by the test itself and removed again; nothing is sent beyond its veth link.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sim.conform.cases import CASES
from sim.conform.runner import PASS, run_case
from sim.netns import Namespace, NetnsError, check_available
from sim.profiles import load_profile
from tests.standins import profile_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

ECHO = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7777)); "
        "print('up', flush=True); d, a = s.recvfrom(100); s.sendto(b'echo ' + d, a)")


def _ip_netns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout


def test_a_daemon_bound_to_0_0_0_0_is_reached_inside_its_namespace() -> None:
    check_available()
    with Namespace() as ns:
        assert ns.name in _ip_netns_list()
        proc = subprocess.Popen(ns.wrap([sys.executable, "-c", ECHO]), stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((ns.outside, 7777))  # the host side: the same port as the daemon, no conflict
                s.settimeout(5)
                s.sendto(b"hi", (ns.inside, 7777))
                data, source = s.recvfrom(100)
            assert (data, source) == (b"echo hi", (ns.inside, 7777))
            assert proc.wait(5) == 0
        finally:
            proc.kill()
            proc.wait(5)
    assert ns.name not in _ip_netns_list()


def test_two_namespaces_hold_the_same_port_at_once() -> None:
    with Namespace() as a, Namespace() as b:
        assert a.inside != b.inside and a.name != b.name
        procs = [subprocess.Popen(ns.wrap([sys.executable, "-c", ECHO]), stdout=subprocess.PIPE, text=True)
                 for ns in (a, b)]
        try:
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "up"
        finally:
            for p in procs:
                p.kill()
                p.wait(5)


def test_conformance_of_a_daemon_that_binds_0_0_0_0(tmp_path: Path) -> None:
    path = profile_path("spec", tmp_path)
    text = path.read_text().replace("sloppy_daemon.py {ip}", "sloppy_daemon.py 0.0.0.0")
    path.write_text(text.replace("binds: address", "binds: netns"))
    profile = load_profile(path)
    assert profile.binds == "netns"
    for case_id in ("handshake-invitee", "busy"):
        (case,) = [c for c in CASES if c.id == case_id]
        r = asyncio.run(run_case(profile, case))
        assert r.status == PASS, f"{r.detail}\n{r.ladder}\n{r.daemon_output}"
        assert r.trace is not None and all(
            e.src_addr[0].startswith("10.") for e in r.trace.events if e.src_addr is not None)


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsError, match="needs root to create network namespaces"):
        Namespace()
