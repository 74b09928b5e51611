"""The kernel oracle: run the host's own zram and zswap on a page set, next to pyzswap.

pyzswap claims to reproduce what Linux 6.18's zswap, compressors and zsmalloc do with a page
set. This package checks the claim against the running kernel (root only):

* :func:`run_zram` writes the pages into a fresh zram device and reads ``mm_stat``
  (:class:`ZramDevice` holds such a device open for timed block-by-block I/O);
* :func:`run_zswap` pages them out of a child process through the host's zswap and reads its
  debugfs statistics;
* :func:`compare` runs one or both and pyzswap on the same pages, with differences.

Every change to the host (zram device, zswap parameters, swap file, debugfs mount) is undone
on the way out, including on errors and Ctrl-C; :class:`KernelUnavailable` says why the
kernel side cannot run, before anything is changed. See docs/KERNEL_ORACLE.md.
"""

from __future__ import annotations

from ._host import KernelRunError, KernelUnavailable
from .compare import compare, pyzswap_zram
from .zram import MM_STAT_FIELDS, ZramDevice, ZramRun, run_zram, zram_algorithms
from .zswap import ZswapRun, run_zswap, zswap_algorithms

__all__ = [
    "MM_STAT_FIELDS",
    "KernelRunError",
    "KernelUnavailable",
    "ZramDevice",
    "ZramRun",
    "ZswapRun",
    "compare",
    "pyzswap_zram",
    "run_zram",
    "run_zswap",
    "zram_algorithms",
    "zswap_algorithms",
]
