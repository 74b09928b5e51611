"""``python -m pyzswap.soak``: the soak command alone."""

import sys

from .cli import main

sys.exit(main())
