"""Memory overhead per stored entry: what pyzswap's Python objects cost beyond zsmalloc.

The kernel keeps a stored page as a 56-byte ``struct zswap_entry`` (x86-64, 6.18) plus an
8-byte zsmalloc handle, besides the compressed object itself and zsmalloc's waste (class
round-up, the handle header in front of the object, partly used zspages). pyzswap's
equivalent is every Python allocation a store makes outside the zspage memory: the entry
tuple, the tree dict's slot, the LRU node and key, the int objects, zsmalloc's handle-table
rows, and the per-zspage Python objects amortised over their objects.

How it is measured (two independent ways, same store loop):

``tracemalloc``
    After a warm-up store (pool, per-CPU contexts and first-use caches exist), with
    ``tracemalloc`` tracing: take the traced total, store ``entries`` pages at fresh offsets,
    ``gc.collect()``, take the total again. The difference is every byte the Python allocator
    handed out for those stores, zspage buffers included; minus
    ``pages_allocated * 4096`` (zsmalloc's pages: the compressed data and zsmalloc's own waste)
    it is the overhead per entry. The C parts (zsmalloc's tables, the entry table) allocate
    through ``PyMem_RawMalloc``, which tracemalloc traces, so they are counted too (the JSON
    key keeps its old name, ``python_bytes_per_entry``). Divided by ``entries``. The top
    allocation sites (file:line) are reported too, per entry.
``rss``
    The same without ``tracemalloc``: the process's resident set (``/proc/self/statm``) before
    and after, minus the same zsmalloc bytes. Includes allocator fragmentation and slack, and
    can undercount when the stores reuse memory freed earlier: a cross-check, not the figure.

Both passes start with zsmalloc's process-wide cache of freed zspage memory drained
(:func:`pyzswap.zsmalloc.drain_block_cache`), so no zspage is a block some earlier pool left.

Growing containers (dicts, lists) resize by doubling, so the per-entry figure depends a little
on where ``entries`` falls between two resizes; the default (100,000) is a typical point.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import linecache
import os
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from ...compress import get_compressor
from ...errors import InvalidParameter
from ...folio import PAGE_SIZE
from ...zsmalloc import drain_block_cache
from ...zswap import Zswap
from ._common import PageSource, Progress
from ._core import BenchError

__all__ = [
    "DEFAULT_ENTRIES",
    "KERNEL_ENTRY_BYTES",
    "KERNEL_HANDLE_BYTES",
    "MEMORY_TARGET",
    "run_memory",
]

DEFAULT_ENTRIES: Final = 100_000
#: ``sizeof(struct zswap_entry)`` on x86-64 in 6.18 (docs/KERNEL_REFERENCE.md §2) and a
#: zsmalloc handle.
KERNEL_ENTRY_BYTES: Final = 56
KERNEL_HANDLE_BYTES: Final = 8
#: Python-side bytes per entry the issue allows.
MEMORY_TARGET: Final = 100
_TOP_SITES: Final = 8


def _trim_heap() -> None:
    """Give the C heap's free memory back to the OS (glibc ``malloc_trim``), so that the RSS
    pass's stores allocate fresh pages instead of silently reusing freed, still resident ones
    (the page generation's temporaries). A no-op where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _fill(z: Zswap, src: Sequence[memoryview], start: int, count: int) -> None:
    store = z.store
    n_src = len(src)
    for off in range(start, start + count):
        if not store(src[off % n_src], 0, off):
            raise BenchError("zswap refused a page with no limit set")


def _zs_bytes(z: Zswap) -> int:
    return z.total_pages() * PAGE_SIZE


def _one(compressor: str, src: Sequence[memoryview], entries: int,
         traced: bool) -> dict[str, Any]:
    # Zspage memory a dead pool left in the process-wide cache would be reused unseen by
    # tracemalloc and RSS alike: start with the cache empty, so every zspage is allocated here.
    drain_block_cache()
    z = Zswap(compressor=compressor, totalram_pages=None, cpus=1)
    try:
        z.swapon(0, entries + 1)
        _fill(z, src, entries, 1)  # warm-up: first-use allocations are not per entry
        zs0 = _zs_bytes(z)
        gc.collect()
        if traced:
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            base = tracemalloc.get_traced_memory()[0]
        else:
            _trim_heap()
            base = _rss_bytes()
        _fill(z, src, 0, entries)
        gc.collect()
        if traced:
            total = tracemalloc.get_traced_memory()[0] - base
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
        else:
            total = _rss_bytes() - base
        zs = _zs_bytes(z) - zs0
        stats = z.stats()
        compressed = z.compressed_bytes()
    finally:
        z.close()
    out: dict[str, Any] = {
        "bytes_total": total,
        "zsmalloc_bytes": zs,
        "python_bytes_per_entry": round((total - zs) / entries, 1),
        "stored_pages": stats["stored_pages"],
    }
    if traced:
        out["compressed_bytes_per_entry"] = round(compressed / (entries + 1), 1)
        out["zsmalloc_waste_bytes_per_entry"] = round((zs + zs0 - compressed) / (entries + 1), 1)
        diffs = after.compare_to(before, "lineno")
        sites = []
        for d in sorted(diffs, key=lambda d: -d.size_diff)[:_TOP_SITES]:
            frame = d.traceback[0]
            sites.append({"site": f"{Path(frame.filename).name}:{frame.lineno}",
                          "code": linecache.getline(frame.filename, frame.lineno).strip(),
                          "bytes_per_entry": round(d.size_diff / entries, 1),
                          "blocks_per_entry": round(d.count_diff / entries, 3)})
        out["top_sites"] = sites
    return out


def run_memory(source: PageSource, compressor: str = "lz4", *,
               entries: int = DEFAULT_ENTRIES, progress: Progress | None = None
               ) -> dict[str, Any]:
    """Python-side bytes per stored entry, by tracemalloc and by RSS; see the module doc."""
    get_compressor(compressor)
    if entries <= 0:
        raise InvalidParameter(f"entries must be positive, got {entries}")
    view = memoryview(source.data)
    src = [view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(source.pages)]
    if progress:
        progress(f"memory: {entries:,} entries, RSS pass")
    rss = _one(compressor, src, entries, traced=False)
    if progress:
        progress(f"memory: {entries:,} entries, tracemalloc pass")
    traced = _one(compressor, src, entries, traced=True)
    per_entry = traced["python_bytes_per_entry"]
    return {
        "compressor": compressor,
        "source": source.to_dict(),
        "entries": entries,
        "tracemalloc": traced,
        "rss": rss,
        "python_bytes_per_entry": per_entry,
        "kernel_bytes_per_entry": KERNEL_ENTRY_BYTES + KERNEL_HANDLE_BYTES,
        "kernel": {"zswap_entry": KERNEL_ENTRY_BYTES, "zsmalloc_handle": KERNEL_HANDLE_BYTES},
        "target": f"<= {MEMORY_TARGET}",
        "met": per_entry <= MEMORY_TARGET,
    }
