"""The project's commands as a newcomer meets them: console scripts, a missing optional package,
a closed pipe.

A missing package is simulated in a child interpreter by `sys.modules[name] = None` before the
command runs (via runpy, exactly as `python -m` runs it): the import then fails as it does when
the package is not installed, whatever this environment has installed.  A closed pipe is a pipe
whose reading end is closed before the command starts, so its first write fails: deterministic,
unlike racing `| head`.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from simp.wireshark_plugin import plugin_path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"simp-daemon": "simp.daemon_cli:main", "simp-client": "simp.client_cli:main",
           "simp-sim": "sim.__main__:main", "simp-dissect": "simp.dissect_cli:main"}
WITHOUT = ("import runpy, sys\n"
           "for name in sys.argv[1].split(','): sys.modules[name] = None\n"
           "module = sys.argv[2]\n"
           "del sys.argv[1:3]\n"
           "runpy.run_module(module, run_name='__main__', alter_sys=True)\n")


def run(args: list[str], *, stdout: int | None = subprocess.PIPE, timeout: float = 120,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, check=False)


def without(blocked: str, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["-c", WITHOUT, blocked, module, *args])


def test_pyproject_declares_the_four_console_scripts() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == SCRIPTS
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_console_scripts_are_installed_and_answer_help(script: str) -> None:
    path = Path(sys.executable).parent / script
    assert path.is_file(), f"{script} not installed next to {sys.executable}: pip install -e '.[test]'"
    done = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")


@pytest.mark.parametrize(("blocked", "command"), [
    ("yaml", ["sim", "run", "scenarios/"]),
    ("yaml,scapy", ["sim", "explore", "--runs", "1"]),
    ("scapy", ["simp.dissect", "capture.pcap"]),
])
def test_a_missing_optional_package_names_the_extra_in_one_line(blocked: str, command: list[str]) -> None:
    done = without(blocked, *command)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'simp-sim[harness]'" in lines[0], done.stderr


def test_the_wireshark_plugin_path_needs_no_scapy() -> None:
    done = without("scapy", "simp.dissect", "--wireshark-plugin")
    assert (done.returncode, done.stderr) == (0, "")
    assert Path(done.stdout.strip()) == plugin_path() and plugin_path().is_file()


def test_the_console_dissector_without_scapy() -> None:
    code = ("import sys; sys.modules['scapy'] = None\n"
            "from simp.dissect_cli import main\n"
            "print('status', main(['--wireshark-plugin']), main(['x.pcap']))\n")
    done = run(["-c", code])
    assert done.stdout.splitlines() == [str(plugin_path()), "status 0 2"]
    assert "pip install 'simp-sim[harness]'" in done.stderr and "Traceback" not in done.stderr


def closed_pipe() -> int:
    """The writing end of a pipe nobody reads any more (the caller closes it after the run)."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    from sim.bench.rows import write_harness_pcap

    path = tmp_path / "capture.pcap"
    write_harness_pcap(path, 50)
    return path


@pytest.mark.parametrize("command", [
    ["-m", "sim", "run", "scenarios/"],
    ["-m", "simp.dissect", "CAPTURE"],
    ["-m", "simp.dissect", "--wireshark-plugin"],
])
def test_a_closed_pipe_ends_the_command_quietly(command: list[str], capture: Path) -> None:
    pipe = closed_pipe()
    try:
        done = run([str(capture) if arg == "CAPTURE" else arg for arg in command], stdout=pipe)
    finally:
        os.close(pipe)
    assert done.stderr == ""
    assert done.returncode == 141  # as if ended by SIGPIPE, like `yes | head`
