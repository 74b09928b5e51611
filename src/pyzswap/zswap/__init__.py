"""zswap: the compressed swap cache of ``mm/zswap.c``.

:class:`Zswap` is the instance (``core``); its parameters and statistics carry the kernel's
names (``params``). One state in C holds every entry, counter, limit and pool; two complete
flows run store and load over it, the readable Python reference (``flow``, ``stream``) and the
C flow (``pyzswap._native.NativeFlow``). Pools and compressor switches are in ``pools``,
writeback and the shrinkers in ``writeback``. docs/ARCHITECTURE.md has the map.
"""

from __future__ import annotations

from . import params
from .core import DEFAULT_FLOW, Zswap
from .params import *  # noqa: F403  (params.__all__: parameters, statistics, ZswapEntry, ...)

__all__ = ["DEFAULT_FLOW", "Zswap"]
__all__ += params.__all__
