"""Run the SIMP chat client: `python client.py IP`.  See `python client.py --help`."""

import sys

from simp.client_cli import main

if __name__ == "__main__":
    sys.exit(main())
