"""What every command of the project does at its edges: a closed pipe, a missing optional package.

Why here: `python -m sim ... | head` and `python -m simp.dissect x.pcap | head` must end quietly
when `head` closes the pipe, like any Unix tool, instead of printing a BrokenPipeError traceback;
and a command run without one of the optional packages (PyYAML and scapy for the harness,
prompt_toolkit for the terminal UI) must say in one line which extra installs it, instead of a
ModuleNotFoundError traceback.  Standard library only: the daemon's side of the project may use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

# importable module -> (what pip calls the package, the extra of simp-sim that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "yaml": ("PyYAML", "harness"),
    "scapy": ("scapy", "harness"),
    "prompt_toolkit": ("prompt_toolkit", "tui"),
}
SIGPIPE_STATUS = 141  # what a shell reports for a program ended by SIGPIPE (128 + 13), e.g. `yes | head`
INTERRUPTED_STATUS = 130  # and for one ended by SIGINT (128 + 2)


def program_name(default: str) -> str:
    """How the user started the command, for usage and error lines: the console script's name
    (`simp-client`) when it was one, else `default` (`client.py`, as `python client.py` runs it)."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return invoked if invoked.startswith("simp-") else default


def missing_extra(exc: BaseException) -> str | None:
    """For an ImportError of one of the optional packages: the one-line advice; else None."""
    if not isinstance(exc, ImportError):
        return None
    top = (exc.name or "").partition(".")[0]
    if top not in EXTRAS:
        return None
    package, extra = EXTRAS[top]
    return f"{package} is not installed; install it with: pip install 'simp-sim[{extra}]'"


def run_command(main: Callable[[], int | None], prog: str) -> int:
    """`main()`'s exit status; a closed stdout ends the command quietly with status 141, Ctrl-C
    with one line and status 130, and a missing optional package with its one-line advice on
    stderr and status 2 (never a traceback for any of these)."""
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe must show up here, not in the interpreter's final flush
        return status or 0
    except BrokenPipeError:
        _silence_stdout()
        return SIGPIPE_STATUS
    except KeyboardInterrupt:  # Ctrl-C: the `finally` blocks have stopped what was started
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED_STATUS
    except ImportError as exc:
        advice = missing_extra(exc)
        if advice is None:
            raise
        print(f"{prog}: error: {advice}", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind stdout (e.g. replaced in a test)
        pass
