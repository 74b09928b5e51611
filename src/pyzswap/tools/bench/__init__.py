"""``pyzswap bench``: how fast pyzswap is, against the raw codecs and the kernel, on the same pages.

Four measurements, each a library call and a command:

* :func:`run_bench` (``pyzswap bench``): per compressor, the raw codec loop, zswap store and
  load, batched stores (64 KiB and 2 MiB folios, reclaim batches) and the kernel's zram
  write/read, as µs/page and pages/s with the ratios the performance issue targets;
* :func:`run_scaling` (``pyzswap bench scaling``): store/load cost per page as the pool grows
  from 1k to 1M stored pages;
* :func:`run_memory` (``pyzswap bench memory``): Python-side bytes per stored entry, beside the
  kernel's 56-byte entry and 8-byte handle;
* :func:`replay_bench` (``pyzswap bench replay``): ``pyzswap run`` on the fidelity suite's
  traces against the kernel's recorded replays of them, and accesses/s to resident pages.

The package is a tool: it drives :class:`~pyzswap.Zswap` only through its public calls
(``store``, ``store_batch``, ``load``, ``stats``) and the compressor registry, and the kernel's
zram only through :mod:`pyzswap.tools.kernel`. See docs/PERFORMANCE.md for the method and figures.
"""

from __future__ import annotations

from ._cli import bench
from ._common import DEFAULT_PAGES, PageSource, load_pages, nonzero_pages
from ._core import BenchError, run_bench
from ._memory import run_memory
from ._scaling import ladder, run_scaling
from .batching import batching, run_batching_bench
from .replay import replay_bench, resident_hits

__all__ = [
    "DEFAULT_PAGES",
    "BenchError",
    "PageSource",
    "bench",
    "ladder",
    "load_pages",
    "nonzero_pages",
    "replay_bench",
    "resident_hits",
    "run_batching_bench",
    "run_bench",
    "run_memory",
    "run_scaling",
]

# Subcommands from other modules of this package are added here with bench.add_command(...).
bench.add_command(batching)
