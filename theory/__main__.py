"""`python -m theory solve|ufm ...`: see theory.cli."""

import sys

from theory.cli import main

sys.exit(main())
