"""`python -m sim demo`: the chat goes through a lossy link with visible retransmissions, and an
address that cannot be used fails the demo at once, in one line.

Each test runs the demo as a user does (`python -m sim demo`) on its own loopback block.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from sim.loopback import new_block

ROOT = Path(__file__).resolve().parent.parent


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "demo", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


def test_a_lossy_demo_shows_drops_and_retransmissions_and_completes() -> None:
    prefix = new_block()
    done = demo("--addresses", prefix + "1", prefix + "2", "--loss", "0.4", "--seed", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    drops = [line for line in lines if re.match(r"\s+network \| .* DROPPED$", line)]
    resent = [line for line in lines if re.match(r"\s+network \| .* \(retransmission\)$", line)]
    assert drops and resent
    summary = re.search(r"network \| (\d+) datagram\(s\) dropped, (\d+) retransmission", done.stdout)
    assert summary and (int(summary[1]), int(summary[2])) == (len(drops), len(resent))
    for said in ("bob | alice: Hello Bob!", "bob | alice: How are you?", "alice | bob: Fine, thanks. Bye!"):
        assert any(line.endswith(said) for line in lines), said


def test_without_loss_the_daemons_talk_directly_and_plain_simp_on_request() -> None:
    prefix = new_block()
    done = demo("--addresses", prefix + "1", prefix + "2", "--loss", "0", "--no-extension")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "network |" not in done.stdout
    assert "SIMPX" not in done.stdout and "#0]" not in done.stdout  # no extension tag in any log line
    assert f"invitation from alice at {prefix}1:7777" in done.stdout


def test_an_address_in_use_fails_at_once_naming_it() -> None:
    prefix = new_block()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((prefix + "2", 7778))
        done = demo("--addresses", prefix + "1", prefix + "2")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"demo: error: cannot bind {prefix}2:7778: already in use (a daemon "
                                   "running there? stop it, or choose other addresses with --addresses)")
    assert "listening" not in done.stdout  # nothing was started


def test_addresses_must_be_two_different_loopback_ones() -> None:
    assert demo("--addresses", "10.0.0.1", "127.0.0.2").returncode == 2
    same = demo("--addresses", "127.0.0.9", "127.0.0.9")
    assert same.returncode == 2 and "two different addresses" in same.stderr
