"""``python -m sim``: the same command line as ``deploysim``."""

import sys

from sim.cli import main

sys.exit(main())
