"""``pyzswap bench``: how fast pyzswap is, against the raw codecs and the kernel, on the same pages.

The measurements, each a library call and a command:

* :func:`run_bench` (``pyzswap bench``): per compressor, the raw codec loop, zswap store and
  load, batched stores (64 KiB and 2 MiB folios, reclaim batches) and the kernel's zram
  write/read, as µs/page and pages/s with the ratios the performance issue targets;
* :func:`run_scaling` (``pyzswap bench scaling``): store/load cost per page as the pool grows
  from 1k to 1M stored pages;
* :func:`run_memory` (``pyzswap bench memory``): Python-side bytes per stored entry, beside the
  kernel's 56-byte entry and 8-byte handle;
* :func:`replay_bench` (``pyzswap bench replay``): ``pyzswap run`` on the fidelity suite's
  traces against the kernel's recorded replays of them, and accesses/s to resident pages;
* :func:`run_batching_bench` (``pyzswap bench batching``): batched against sequential stores
  of 4K, 64K and 2M folios and reclaim batches;
* :func:`run_engines` (``pyzswap bench engines``): the batching engines themselves against the
  sequential base transform, and the cost of a hand-off;
* :func:`run_cpu_time` (``pyzswap bench cpu-time``): the main benchmark's store/load rounds in
  thread CPU time, which a shared machine does not bias as it does the wall clock;
* :func:`run_memcg` (``pyzswap bench memcg``): what charging a memory cgroup costs a store and
  a load;
* :func:`run_writeback` (``pyzswap bench writeback``): writeback against raw decompress plus a
  file write;
* :func:`run_zsmalloc` (``pyzswap bench zsmalloc``): the C allocator on its own, µs per call and
  metadata bytes per object.

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
from .cpu_time import cpu_time, run_cpu_time
from .engines import engines, run_engines
from .memcg import memcg, run_memcg
from .replay import replay_bench, resident_hits
from .writeback import run_writeback, writeback
from .zsmalloc import run_zsmalloc, zsmalloc

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
    "run_cpu_time",
    "run_engines",
    "run_memcg",
    "run_memory",
    "run_scaling",
    "run_writeback",
    "run_zsmalloc",
]

# Subcommands from other modules of this package are added here with bench.add_command(...).
for _command in (batching, cpu_time, engines, memcg, writeback, zsmalloc):
    bench.add_command(_command)
