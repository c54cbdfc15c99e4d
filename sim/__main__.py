"""``python -m sim``: the same command line as ``deploysim``."""

import sys

from sim.commands.main import main

sys.exit(main())
