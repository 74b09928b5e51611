"""Scaling: does a store or a load cost more when zswap already holds a million pages?

zswap's hot paths must not walk anything whose length grows with the pool (the issue's
"no O(n) walks"), and its per-entry structures (tree dicts, the LRU, zsmalloc's handle table)
must not degrade as they grow. This benchmark fills one ``Zswap`` (no limit) up to each size
of a ladder (by default 1k, 10k, 100k, 1M stored pages) and, at each size, times a fixed
*window* of fresh pages: store the window, then load it back (which frees it, so the pool is
back at the size). The window is always the same pages at the same swap offsets (the top of
the swap area), so the only thing that changes between sizes is how much the pool holds.

The fill cycles through a few thousand distinct pages of the same page set at increasing
offsets: a million distinct 4 KiB pages would need 4 GiB of input, and what grows with the pool
(entries, LRU nodes, handles, zspages) does not depend on whether contents repeat. Each size's
figure is the median of ``repeat`` window passes.

The ratio to the smallest size is measured, not computed from two figures taken seconds or
minutes apart (this VM's speed drifts more than the effect looked for): a second ``Zswap``
holding the smallest size stays alive, and at every size each timed window pass on the big pool
is paired with one on the small pool just before it; the ratio is taken per pair and its median
reported (``vs_smallest``). The figure at the largest size is the result (target: within 1.2x).
Python's cyclic garbage collector runs as it normally would: its cost per store is part of
what is measured.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence
from typing import Any, Final

from ...compress import get_compressor
from ...errors import InvalidParameter
from ...folio import PAGE_SIZE
from ...zswap import Zswap
from ._common import PageSource, Progress, ratio_summary, timing_summary
from ._core import BenchError

__all__ = ["DEFAULT_MAX_PAGES", "DEFAULT_WINDOW", "SCALING_TARGET", "ladder", "run_scaling"]

DEFAULT_MAX_PAGES: Final = 1_000_000
DEFAULT_WINDOW: Final = 2000
#: cost at the largest size / cost at the smallest, per the issue.
SCALING_TARGET: Final = 1.2

clock = time.perf_counter


def ladder(max_pages: int, min_pages: int = 1000) -> list[int]:
    """Pool sizes to measure at: ``min_pages`` times powers of ten up to ``max_pages``, and
    ``max_pages`` itself."""
    if min_pages <= 0 or max_pages < min_pages:
        raise InvalidParameter(f"need 0 < min_pages <= max_pages, got {min_pages}, {max_pages}")
    sizes = []
    size = min_pages
    while size <= max_pages:
        sizes.append(size)
        size *= 10
    if sizes[-1] != max_pages:
        sizes.append(max_pages)
    return sizes


def _fill(z: Zswap, src: Sequence[memoryview], start: int, end: int) -> None:
    store = z.store
    n_src = len(src)
    for off in range(start, end):
        if not store(src[off % n_src], 0, off):
            raise BenchError("zswap refused a fill page with no limit set")


def _window_pass(z: Zswap, window: Sequence[memoryview], base: int,
                 outs: Sequence[memoryview]) -> tuple[float, float]:
    """Store the window at ``base..`` and load it back; (store s, load s)."""
    store, load = z.store, z.load
    t0 = clock()
    for k, page in enumerate(window):
        if not store(page, 0, base + k):
            raise BenchError("zswap refused a window page with no limit set")
    t1 = clock()
    for k, out in enumerate(outs):
        if not load(out, 0, base + k):
            raise BenchError("a window page was missing from zswap")
    t2 = clock()
    return t1 - t0, t2 - t1


def run_scaling(source: PageSource, compressor: str = "lz4", *,
                max_pages: int = DEFAULT_MAX_PAGES, min_pages: int = 1000,
                window: int = DEFAULT_WINDOW, repeat: int = 5,
                progress: Progress | None = None) -> dict[str, Any]:
    """Fill a pool size by size and time the window at each; see the module docstring.

    The window is the first ``window`` pages of ``source`` (cycled if it has fewer); the fill
    cycles through all of its pages.
    """
    get_compressor(compressor)
    if window <= 0 or repeat <= 0:
        raise InvalidParameter(f"window and repeat must be positive, got {window}, {repeat}")
    sizes = ladder(max_pages, min_pages)
    view = memoryview(source.data)
    n_src = source.pages
    src = [view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n_src)]
    win = [src[k % n_src] for k in range(window)]
    out_buf = bytearray(window * PAGE_SIZE)
    out_view = memoryview(out_buf)
    outs = [out_view[k * PAGE_SIZE:(k + 1) * PAGE_SIZE] for k in range(window)]
    expected = b"".join(win)
    z = Zswap(compressor=compressor, totalram_pages=None, cpus=1)
    ref = Zswap(compressor=compressor, totalram_pages=None, cpus=1)
    rows: list[dict[str, Any]] = []
    t_start = clock()
    try:
        z.swapon(0, max_pages + window)
        ref.swapon(0, sizes[0] + window)
        _fill(ref, src, 0, sizes[0])
        filled = 0
        for size in sizes:
            if progress:
                progress(f"scaling: filling to {size:,} pages")
            t0 = clock()
            _fill(z, src, filled, size)
            fill_s = clock() - t0
            fill_pages = size - filled
            filled = size
            st: list[float] = []
            ld: list[float] = []
            vs_ref: dict[str, list[float]] = {"store": [], "load": []}
            # One untimed pass each first: the window's zspages, dict slots and handle rows are
            # then reused memory at every size, so no size is charged for cold caches.
            _window_pass(z, win, max_pages, outs)
            _window_pass(ref, win, sizes[0], outs)
            for _ in range(repeat):
                r_st, r_ld = _window_pass(ref, win, sizes[0], outs)
                s, ld_s = _window_pass(z, win, max_pages, outs)
                st.append(s)
                ld.append(ld_s)
                vs_ref["store"].append(s / r_st)
                vs_ref["load"].append(ld_s / r_ld)
            if out_buf != expected:
                raise BenchError("a window page loaded back differs from the one stored")
            stats = z.stats()
            rows.append({
                "stored_pages": size,
                "store": timing_summary(st, window),
                "load": timing_summary(ld, window),
                "vs_smallest": {op: ratio_summary(v) for op, v in vs_ref.items()},
                "fill_us_per_page": round(fill_s * 1e6 / fill_pages, 3) if fill_pages else None,
                "pool_total_size": stats["pool_total_size"],
            })
    finally:
        z.close()
        ref.close()
        gc.collect()
    last = rows[-1]
    ratios = {op: last["vs_smallest"][op]["median"] for op in ("store", "load")}
    return {
        "compressor": compressor,
        "source": {**source.to_dict(), "distinct_fill_pages": n_src},
        "window": window,
        "repeat": repeat,
        "sizes": sizes,
        "rows": rows,
        "ratio_max_vs_min": ratios,
        "target": f"<= {SCALING_TARGET}",
        "met": {op: r <= SCALING_TARGET for op, r in ratios.items()},
        "median_fill_us_per_page": round(statistics.median(
            [r["fill_us_per_page"] for r in rows if r["fill_us_per_page"] is not None]), 3),
        "seconds": round(clock() - t_start, 2),
    }
