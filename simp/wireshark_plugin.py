"""The Lua dissector for Wireshark that ships in simp/wireshark/: where it is, and installing it.

Separate from simp/dissect.py (the scapy layers) because neither needs scapy: a Wireshark user
without scapy still gets the plugin's path from `python -m simp.dissect --wireshark-plugin`.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def plugin_path() -> Path:
    """The Lua dissector shipped with this package (usable with `tshark -X lua_script:PATH`)."""
    return Path(__file__).resolve().parent / "wireshark" / "simp.lua"


def personal_plugin_dir() -> Path:
    """Wireshark's personal plugin folder on Linux and macOS (`tshark -G folders` lists it)."""
    return Path.home() / ".local" / "lib" / "wireshark" / "plugins"


def install_plugin(folder: Path | None = None) -> Path:
    """Copy the Lua dissector into Wireshark's personal plugin folder; returns the copy's path."""
    target = folder or personal_plugin_dir()
    target.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(plugin_path(), target / plugin_path().name))
