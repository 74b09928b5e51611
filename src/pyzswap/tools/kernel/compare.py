"""Kernel versus pyzswap on the same pages: the oracle comparison behind ``pyzswap kernel compare``.

Two targets:

* **zram**: the kernel side is :func:`~pyzswap.tools.kernel.zram.run_zram` (``mm_stat``). The
  pyzswap side, :func:`pyzswap_zram`, applies zram's storage rule with pyzswap's own compressor and
  zsmalloc: a same-filled page (every 8-byte word equal) stores nothing (``same_pages``); a
  page whose compressed length is at least ``zs_huge_class_size()`` (3625 with chain 8) is
  stored raw as 4096 bytes (``huge_pages``); every other page stores its compressed length.
  ``compr_data_size`` is the sum of stored lengths and ``mem_used_total`` is
  ``pages_allocated * 4096`` of a :class:`~pyzswap.zsmalloc.ZsPool` after allocating every
  object in page order, as zram's single writer does.
* **zswap**: the kernel side is :func:`~pyzswap.tools.kernel.zswap.run_zswap` (debugfs). The
  pyzswap side is :func:`pyzswap.tools.storecheck.store_check` with single-page folios: it plays
  the 6.18 swap core (an all-zero page never reaches zswap), as the kernel's page-out of order-0
  pages does.

Both sides use the compressor of the same kernel name; pyzswap's ``lzo`` and ``lzo-rle`` make
the kernel's exact streams, so with ``per_page`` every page's length is expected to match.

The result has three keys with one entry per target: ``kernel``, ``pyzswap`` and ``diff``
(relative differences, ``(pyzswap - kernel) / kernel``), plus ``delta`` (absolute
differences), ``analysis`` (per-page comparisons) and ``notes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ...compress import get_compressor, has_compressor
from ...errors import CompressPoor, InvalidParameter
from ...zsmalloc import ZsPool, huge_class_size
from ..storecheck import store_check
from ._host import (
    HOST,
    PAGE_SIZE,
    HostPaths,
    KernelUnavailable,
    crypto_algorithms,
    require_root,
)
from .zram import MM_STAT_FIELDS, run_zram, zram_algorithms
from .zswap import run_zswap, zswap_algorithms

__all__ = [
    "TARGETS",
    "ZSWAP_FIELDS",
    "ZramModel",
    "compare",
    "pyzswap_zram",
    "relative_diff",
    "zram_size_analysis",
    "zsmalloc_pages_for",
]

TARGETS: Final = ("zram", "zswap")
#: zswap figures compared, in display order.
ZSWAP_FIELDS: Final = (
    "zero_pages",
    "stored_pages",
    "stored_incompressible_pages",
    "pool_total_size",
    "pool_total_size_per_stored_page",
)
_ZRAM_BUFFER: Final = 2 * PAGE_SIZE  # zcomp's per-stream buffer: compression never runs out

Progress = Callable[[str], None]


@dataclass
class ZramModel:
    """pyzswap's figures for zram's ``mm_stat`` (same names, same units)."""

    orig_data_size: int
    compr_data_size: int
    mem_used_total: int
    mem_limit: int
    mem_used_max: int
    same_pages: int
    pages_compacted: int
    huge_pages: int
    huge_pages_since: int
    compress_seconds: float
    #: The bytes stored for each page, in page order (0 same-filled, 4096 huge).
    page_sizes: list[int] | None = None

    def mm_stat(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in MM_STAT_FIELDS}


def pyzswap_zram(data: bytes | bytearray | memoryview, compressor: str) -> ZramModel:
    """zram's ``mm_stat`` for ``data`` as pyzswap computes it (see the module docstring)."""
    src = memoryview(data).cast("B")
    if src.nbytes % PAGE_SIZE:
        raise InvalidParameter(f"{src.nbytes} bytes is not a whole number of pages")
    npages = src.nbytes // PAGE_SIZE
    words = np.frombuffer(src, dtype=np.uint64).reshape(npages, PAGE_SIZE // 8)
    same = (words == words[:, :1]).all(axis=1)
    del words
    transform = get_compressor(compressor).new_transform()
    huge_limit = huge_class_size()
    pool = ZsPool(f"zram-{compressor}")
    buf = bytearray(_ZRAM_BUFFER)
    compr = huge = 0
    sizes = [0] * npages
    t0 = time.perf_counter()
    try:
        for i in np.flatnonzero(~same).tolist():
            try:
                length = transform.compress(src[i * PAGE_SIZE:(i + 1) * PAGE_SIZE], buf)
            except CompressPoor:
                length = PAGE_SIZE + 1
            if length >= huge_limit:
                length = PAGE_SIZE
                huge += 1
            pool.malloc(length)
            sizes[i] = length
            compr += length
        seconds = time.perf_counter() - t0
        used = pool.pages_allocated * PAGE_SIZE
    finally:
        pool.destroy()
    return ZramModel(
        orig_data_size=src.nbytes,
        compr_data_size=compr,
        mem_used_total=used,
        mem_limit=0,
        mem_used_max=used,
        same_pages=int(same.sum()),
        pages_compacted=0,
        huge_pages=huge,
        huge_pages_since=huge,
        compress_seconds=seconds,
        page_sizes=sizes,
    )


def zsmalloc_pages_for(sizes: list[int]) -> int:
    """``pages_allocated`` of a fresh zsmalloc pool after ``zs_malloc`` of each non-zero size,
    in order: pyzswap's zsmalloc fed someone else's object sizes (e.g. the kernel's)."""
    pool = ZsPool("replay")
    try:
        for size in sizes:
            if size:
                pool.malloc(size)
        return pool.pages_allocated
    finally:
        pool.destroy()


def zram_size_analysis(kernel_sizes: list[int], ours: list[int],
                       kernel_mem_used_total: int) -> dict[str, object]:
    """Separate the compressor from zsmalloc: how many pages got the kernel's exact stored
    length, which did not, and what pyzswap's zsmalloc makes of the kernel's own lengths.

    ``page_lengths`` holds both lists in page order (the stored length: 0 for a same-filled
    page, 4096 for a huge one, else the compressed length); ``differing_pages`` the indices of
    the pages whose lengths differ, same-filled ones included."""
    if len(kernel_sizes) != len(ours):
        raise InvalidParameter("per-page size lists differ in length")
    stored = [i for i, k in enumerate(kernel_sizes) if k]
    same = sum(1 for i in stored if kernel_sizes[i] == ours[i])
    replay = zsmalloc_pages_for(kernel_sizes) * PAGE_SIZE
    delta = [ours[i] - kernel_sizes[i] for i in stored]
    return {
        "stored_pages": len(stored),
        "pages_with_identical_size": same,
        "identical_size_fraction": round(same / len(stored), 6) if stored else 1.0,
        "differing_pages": [i for i, (k, o) in enumerate(zip(kernel_sizes, ours, strict=True))
                            if k != o],
        "mean_size_difference_bytes": round(sum(delta) / len(delta), 3) if delta else 0.0,
        "zsmalloc_replay_mem_used_total": replay,
        "zsmalloc_replay_diff": relative_diff(kernel_mem_used_total, replay),
        "page_lengths": {"kernel": list(kernel_sizes), "pyzswap": list(ours)},
    }


def relative_diff(kernel: float, ours: float) -> float | None:
    """``(ours - kernel) / kernel``; 0.0 when both are 0, None when only the kernel's is 0."""
    if kernel == 0:
        return 0.0 if ours == 0 else None
    return (ours - kernel) / kernel


def _check_targets(targets: tuple[str, ...], compressor: str, host: HostPaths) -> None:
    """Refuse up front (nothing changed) if a requested target cannot use ``compressor``."""
    if "zram" in targets:
        offered = zram_algorithms(host)
        if offered and compressor not in offered:
            raise KernelUnavailable(f"zram on this kernel does not offer {compressor!r} "
                                    f"(offers: {', '.join(offered)})")
    if "zswap" in targets and compressor not in crypto_algorithms(host):
        raise KernelUnavailable(f"zswap on this kernel does not offer {compressor!r} "
                                f"(the crypto API has: {', '.join(zswap_algorithms(host))})")


def compare(
    data: bytes | bytearray | memoryview,
    compressor: str,
    targets: tuple[str, ...] = TARGETS,
    *,
    swap_dir: Path | None = None,
    per_page: bool = False,
    host: HostPaths = HOST,
    progress: Progress | None = None,
) -> dict[str, object]:
    """Run the kernel side and pyzswap on ``data`` for each target; see the module docstring.

    ``per_page=True`` also asks zram for every page's stored length and adds
    ``analysis.zram`` (:func:`zram_size_analysis`): every page's length from both sides, the
    pages that differ, and pyzswap's zsmalloc replaying the kernel's lengths, which isolates
    zsmalloc from the compressor.
    """
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise InvalidParameter(f"targets must be among {', '.join(TARGETS)}, got {targets!r}")
    if not has_compressor(compressor):
        get_compressor(compressor)  # raises UnknownCompressor listing the valid names
    require_root()
    _check_targets(targets, compressor, host)
    say = progress or (lambda msg: None)
    npages = memoryview(data).nbytes // PAGE_SIZE
    kernel: dict[str, dict[str, object]] = {}
    ours: dict[str, dict[str, object]] = {}
    diff: dict[str, dict[str, float | None]] = {}
    delta: dict[str, dict[str, int | float]] = {}
    notes: list[str] = []
    analysis: dict[str, dict[str, object]] = {}

    if "zram" in targets:
        say("zram: kernel")
        krun = run_zram(data, compressor, per_page=per_page, host=host)
        say("zram: pyzswap")
        model = pyzswap_zram(data, compressor)
        kstat, ostat = krun.mm_stat, model.mm_stat()
        kernel["zram"] = {**kstat, "write_seconds": krun.write_seconds,
                          "read_seconds": krun.read_seconds, "verified": krun.verified,
                          "device": krun.device}
        ours["zram"] = {**ostat, "compress_seconds": model.compress_seconds}
        diff["zram"] = {k: relative_diff(kstat[k], ostat[k]) for k in kstat}
        delta["zram"] = {k: ostat[k] - kstat[k] for k in kstat}
        if not krun.verified:
            notes.append(f"zram: {krun.mismatched_pages} pages read back differently")
        if krun.page_sizes is not None and model.page_sizes is not None:
            analysis["zram"] = zram_size_analysis(krun.page_sizes, model.page_sizes,
                                                  kstat["mem_used_total"])

    if "zswap" in targets:
        say("zswap: kernel")
        zrun = run_zswap(data, compressor, swap_dir=swap_dir, host=host)
        say("zswap: pyzswap")
        rep = store_check(data, compressor=compressor, folio_pages=1)
        kvals = _zswap_figures(zrun.zero_pages, zrun.stored_pages,
                               zrun.stored_incompressible_pages, zrun.pool_total_size)
        ovals = _zswap_figures(rep.zero_pages, rep.stored_pages,
                               rep.stored_incompressible_pages, rep.pool_total_size)
        kernel["zswap"] = {**kvals, "pageout_seconds": zrun.pageout_seconds,
                           "readback_seconds": zrun.readback_seconds,
                           "verified": zrun.verified, "complete": zrun.complete,
                           "stats": zrun.stats, "vmstat": zrun.vmstat}
        ours["zswap"] = {**ovals, "store_seconds": rep.store_seconds,
                         "load_seconds": rep.load_seconds, "verified": rep.verified}
        diff["zswap"] = {k: relative_diff(kvals[k], ovals[k]) for k in ZSWAP_FIELDS}
        delta["zswap"] = {k: ovals[k] - kvals[k] for k in ZSWAP_FIELDS}
        notes.extend(f"zswap: {n}" for n in zrun.notes)
        if not zrun.verified:
            notes.append(f"zswap: {zrun.mismatched_pages} pages read back differently")

    return {
        "compressor": compressor,
        "pages": npages,
        "targets": list(targets),
        "kernel": kernel,
        "pyzswap": ours,
        "diff": diff,
        "delta": delta,
        "analysis": analysis,
        "notes": notes,
    }


def _zswap_figures(zero: int, stored: int, incompressible: int,
                   pool: int) -> dict[str, int | float]:
    return {
        "zero_pages": zero,
        "stored_pages": stored,
        "stored_incompressible_pages": incompressible,
        "pool_total_size": pool,
        "pool_total_size_per_stored_page": round(pool / stored, 3) if stored else 0.0,
    }
