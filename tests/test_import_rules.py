"""Import rules (pure core, simp/ free of the harness), checked by reading every import statement with `ast`.

Files that do not exist yet are skipped; the core files must exist.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ["simp/wire.py", "simp/session.py", "simp/control.py", "simp/events.py", "simp/node.py",
        "simp/channel.py", "simp/extension.py", "simp/dialect.py"]
MUST_EXIST = ["simp/wire.py", "simp/session.py", "simp/control.py", "simp/events.py", "simp/node.py"]
NEVER_IN_CORE = {"asyncio", "socket", "time", "random", "select", "selectors"}
CORE_MODULES = {"simp"} | {"simp." + Path(path).stem for path in CORE}
ENTRY_POINTS = ["daemon.py", "client.py"]


def imported_modules(path: Path) -> list[str]:
    """Absolute names of every module `path` imports, anywhere in the file (functions included)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    return modules_in(path.read_text(), package, str(path))


def modules_in(source: str, package: str, filename: str = "<source>") -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names if module in ("simp", "sim")]
    return names


def top(name: str) -> str:
    return name.split(".")[0]


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def existing(paths: list[str]) -> list[Path]:
    return [ROOT / p for p in paths if (ROOT / p).exists()]


def test_core_files_exist() -> None:
    missing = [p for p in MUST_EXIST if not (ROOT / p).exists()]
    assert not missing, f"core protocol files missing: {missing}"


def test_core_modules_import_only_the_standard_library_and_other_core_modules() -> None:
    bad = [(path.name, name) for path in existing(CORE) for name in imported_modules(path)
           if (top(name) != "simp" and top(name) not in sys.stdlib_module_names)
           or (top(name) == "simp" and name not in CORE_MODULES)]
    assert not bad, f"the core may use only the standard library and other core modules: {bad}"


def test_core_modules_never_touch_clocks_sockets_or_randomness() -> None:
    bad = [(path.name, name) for path in existing(CORE) for name in imported_modules(path)
           if top(name) in NEVER_IN_CORE]
    assert not bad, f"time must arrive as `now`, I/O belongs at the edge: {bad}"


def test_nothing_in_simp_imports_the_harness_yaml_or_scapy() -> None:
    offenders = []
    for path in python_files("simp"):
        allowed = {"scapy"} if path.name == "dissect.py" else set()
        offenders += [(path.name, name) for name in imported_modules(path)
                      if top(name) in {"sim", "yaml", "scapy"} - allowed]
    assert not offenders, f"simp/ must not depend on the harness, yaml or scapy: {offenders}"


def test_only_sim_scenario_yaml_imports_yaml() -> None:
    programs = [*python_files("simp"), *python_files("sim"), *existing(ENTRY_POINTS)]
    offenders = [str(path.relative_to(ROOT)) for path in programs
                 if path != ROOT / "sim" / "scenario_yaml.py" and "yaml" in map(top, imported_modules(path))]
    assert not offenders, f"only sim/scenario_yaml.py may import yaml: {offenders}"


def test_entry_points_import_only_simp_and_the_standard_library() -> None:
    bad = [(path.name, name) for path in existing(ENTRY_POINTS) for name in imported_modules(path)
           if top(name) != "simp" and top(name) not in sys.stdlib_module_names]
    assert not bad, f"daemon.py and client.py may import only simp and the standard library: {bad}"


def test_nothing_imports_the_entry_points() -> None:
    offenders = []
    for path in [*python_files("simp"), *python_files("sim"), *python_files("tests"),
                 *existing(ENTRY_POINTS)]:
        offenders += [(str(path.relative_to(ROOT)), name) for name in imported_modules(path)
                      if top(name) in {"daemon", "client"}]
    assert not offenders, f"daemon.py and client.py are programs, not libraries: {offenders}"


def test_the_checker_sees_imports_inside_functions_and_relative_imports() -> None:
    source = "def f():\n    import time\nfrom . import wire\nfrom .events import Address\n"
    assert sorted(modules_in(source, "simp")) == sorted(["time", "simp", "simp.wire", "simp.events"])
    assert {"struct", "enum"} <= set(imported_modules(ROOT / "simp" / "wire.py"))
