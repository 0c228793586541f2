"""`python -m sim COMMAND` and the `simp-sim` console script: see `python -m sim --help`.

The command runs inside `simp.console.run_command`, so `python -m sim run scenarios/ | head -1`
ends quietly and a missing PyYAML or scapy is reported as the extra to install, in one line.
SIGTERM is handled as Ctrl-C is: the `finally` blocks stop the daemon processes a run started
(by default SIGTERM ends the interpreter without them, and left those daemons running).
"""

import signal
import sys
from types import FrameType

from simp.console import run_command


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _terminated)

    def command() -> int:
        from sim.cli import main as cli_main  # inside: a missing PyYAML is reported, not raised

        return cli_main()

    return run_command(command, "python -m sim")


if __name__ == "__main__":
    sys.exit(main())
