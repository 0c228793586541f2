"""`simp-dissect` (console script) and `python -m simp.dissect` when scapy is not installed.

The dissector's layers are scapy layers, so simp/dissect.py cannot even be imported without
scapy.  Two things still work without it, because they need no decoding: printing the path of
the Wireshark plugin, and installing it.  Everything else says in one line which extra to install.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from simp.console import missing_extra, run_command
from simp.wireshark_plugin import install_plugin, plugin_path

PROG = "python -m simp.dissect"


def without_scapy(exc: ImportError, argv: Sequence[str]) -> int:
    """The dissector's command line when importing scapy raised `exc`."""
    advice = missing_extra(exc)
    if advice is None or not (exc.name or "").startswith("scapy"):
        raise exc
    if "--wireshark-plugin" in argv:
        print(plugin_path(), flush=True)
        return 0
    if "--install-wireshark-plugin" in argv:
        try:
            print(install_plugin(), flush=True)
        except OSError as error:
            print(f"{PROG}: error: cannot install the Wireshark plugin: {error}", file=sys.stderr)
            return 2
        return 0
    print(f"{PROG}: error: decoding captures needs scapy. {advice} (--wireshark-plugin works without it)",
          file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: the dissector's own command line, or `without_scapy`."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from simp.dissect import main as dissect_main
    except ImportError as exc:
        return without_scapy(exc, args)
    return run_command(lambda: dissect_main(args), PROG)
