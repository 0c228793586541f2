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
import re
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


# -- the documents a clone ships ------------------------------------------------------------------

SHIPPED = ["README.md", "BENCHMARKS.md", "RELIABILITY.md", "pyproject.toml", "tox.ini", "daemon.py",
           "client.py", "conftest.py", "docs", "scenarios", "sim", "simp", "tests", ".ci"]
OUTSIDE = re.compile(r"\.\./shared|/work/|\b(SPEC|ARCHITECTURE|STYLE)\.md\b")


def shipped_files() -> list[Path]:
    files: list[Path] = []
    for name in SHIPPED:
        path = ROOT / name
        files += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] \
            if path.is_dir() else [path]
    return files


def test_nothing_shipped_refers_to_files_outside_the_repository() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in shipped_files()
                 if path.suffix not in (".pcap", ".pcapng")
                 for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
                 if OUTSIDE.search(line) and path.name != "test_packaging.py"]
    assert not offenders, "\n".join(offenders)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", ["README.md", "docs/PROTOCOL.md", "scenarios/README.md"])
def test_relative_links_and_anchors_resolve(document: str) -> None:
    source = ROOT / document
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        path = (source.parent / file).resolve() if file else source
        assert path.exists(), f"{document}: link to missing {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.MULTILINE)
            assert anchor in {slug(h) for h in headings}, f"{document}: no heading for #{anchor}"


def test_readme_links_the_protocol_document() -> None:
    assert "(docs/PROTOCOL.md)" in (ROOT / "README.md").read_text()


def test_the_protocol_documents_hex_example_is_what_the_encoder_sends() -> None:
    from simp import wire

    text = (ROOT / "docs" / "PROTOCOL.md").read_text()
    [one_line] = re.findall(r"`(0201[0-9a-f]+)`", text)
    expected = wire.encode(wire.chat(0, "test", "Hello World"))
    assert bytes.fromhex(one_line) == expected and len(expected) == 50
    dump = re.search(r"```\noffset  bytes.*?\n(.*?)```", text, flags=re.DOTALL)
    assert dump is not None
    row = re.compile(r"([0-9a-f]{4})    ((?:[0-9a-f]{2} )*[0-9a-f]{2})")
    rows = [row.match(line) for line in dump[1].splitlines()]
    assert b"".join(bytes.fromhex(r[2]) for r in rows if r) == expected
    assert all(int(r[1], 16) == sum(len(bytes.fromhex(p[2])) for p in rows[:i] if p)
               for i, r in enumerate(rows) if r)


def test_ci_runs_readmes_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    [command] = [line.strip() for line in readme.splitlines() if "pip install -q -e '.[test]'" in line]
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_ctrl_c_ends_a_command_in_one_line() -> None:
    code = ("import sys\nfrom simp.console import run_command\n"
            "def main():\n    raise KeyboardInterrupt\n"
            "sys.exit(run_command(main, 'python -m sim'))\n")
    done = run(["-c", code])
    assert done.returncode == 130 and done.stderr.strip() == "python -m sim: interrupted"
