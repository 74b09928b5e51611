"""The concurrency soak: many threads doing everything zswap does at once, nothing lost.

A unit test shows one path works; a soak shows the paths work *together*: stores, loads,
overwrites and frees on many threads while the compressor changes, CPUs come and go, limits
move, the shrink worker and the shrinker write back, zsmalloc compacts, a swap device is
swapped off and on, and faults are injected (:mod:`pyzswap.tools.faults`). What it checks is
deterministic even though the interleaving is not:

* **Every load against a checksum ledger.** Each worker thread owns the slots it swapped out
  and keeps the CRC-32 of each page's last contents; every swap-in is checked against it (a
  mismatch is a lost or corrupted page, and there must be none).
* **Only expected errors.** Each operation lists the errors an injected fault may cause
  (``SwapIOError`` from an I/O fault, ``DecompressFail`` from a decompression fault, …);
  anything else is an unexpected error.
* **Invariants at quiescent checkpoints** (:func:`check_invariants`): every few seconds all soak
  threads pause at an operation boundary, the shrink worker is flushed, and the counters are
  compared with the trees, the pools, zsmalloc, the LRU and the memcg charges.
* **Fault accounting**: every injected I/O error shows up in the device's counters, every
  injected allocation failure in ``reject_alloc_fail``, decompression failures are bounded by
  the faults injected.
* **Full verification and teardown**: at the end every page is swapped in and checked, every
  device swapped off, the pools destroyed, and threads, file descriptors and temporary swap
  files compared with what existed before (a leak is a failure).

``pyzswap soak --seconds N`` (:func:`soak`) runs it from the command line;
``python -m pyzswap.tools.soak`` does the same without the rest of the CLI. :func:`run_soak` is the
library entry point, :func:`rewrite_slot` and :func:`check_invariants` are shared with the
model-based stateful test.
"""

from __future__ import annotations

from .checks import SOAK_COMPRESSORS, check_invariants, rewrite_slot
from .cli import main, soak
from .config import SoakConfig, SoakReport
from .run import _Soak as _Soak  # tests reach the run through it
from .run import run_soak

__all__ = [
    "SOAK_COMPRESSORS",
    "SoakConfig",
    "SoakReport",
    "check_invariants",
    "main",
    "rewrite_slot",
    "run_soak",
    "soak",
]
