"""Run a SIMP daemon: `python daemon.py IP`.  See `python daemon.py --help`."""

import sys

from simp.daemon_cli import main

if __name__ == "__main__":
    sys.exit(main())
