"""``python -m pyzswap.tools.soak``: the soak command alone."""

import sys

from .cli import main

sys.exit(main())
