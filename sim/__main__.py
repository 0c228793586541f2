"""`python -m sim COMMAND`: see `python -m sim --help`."""

import sys

from sim.cli import main

sys.exit(main())
