"""Loads against the kernel's zswap fault-in: the same pages, faulted back from the host's zswap.

The kernel side is :func:`pyzswap.tools.kernel.run_zswap`: a child process holds the pages in
private anonymous memory (order-0 folios), ``madvise(MADV_PAGEOUT)`` sends every one through
the host's zswap, and the child copies its whole mapping, so every page faults back in:
``do_swap_page`` -> ``swap_read_folio`` -> ``zswap_load`` (decompression into a freshly
allocated folio, mapped again). The read-back is timed in wall-clock and in the child's thread
CPU time (user and kernel: the faults and the decompressions run in that thread).

The pyzswap side, right after it in the same repetition: ``Zswap(compressor=c).store`` of the
same pages (untimed), then ``Zswap.load`` of each page into its output buffer, timed the same
two ways; every page is compared with the original afterwards.

The ratio is throughput: kernel seconds per page / pyzswap load seconds per page (>= 1.0 means
pyzswap's load is at least as fast as the kernel's fault-in), one per repetition. Each kernel
run is its own host change (a swap file, zswap's parameters; announced once per command,
restored on the way out, also on Ctrl-C) and needs root, zswap with the algorithm in the
crypto API, and no active swap: :func:`faultin_unavailable` says why not, before anything
changes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ...zswap import Zswap
from ..kernel import KernelRunError, run_zswap
from ..kernel._host import HostPaths, active_swaps, crypto_algorithms, read_zswap_params
from ._common import BenchError

__all__ = ["FaultIn", "faultin_rep", "faultin_unavailable"]


@dataclass(frozen=True)
class FaultIn:
    """One repetition: the kernel's read-back and pyzswap's loads of the same pages."""

    kernel_seconds: float
    kernel_cpu_seconds: float | None
    load_seconds: float
    load_cpu_seconds: float


def faultin_unavailable(name: str, host: HostPaths) -> str | None:
    """Why the kernel's zswap cannot fault ``name`` pages in here, or None (nothing changed)."""
    if os.geteuid() != 0:
        return "kernel zswap fault-in skipped: not root"
    if "compressor" not in read_zswap_params(host):
        return "kernel zswap fault-in skipped: no zswap in this kernel"
    if name not in crypto_algorithms(host):
        return f"kernel zswap fault-in skipped: the crypto API has no {name!r} here"
    swaps = active_swaps(host)
    if swaps:
        return f"kernel zswap fault-in skipped: swap is active ({', '.join(swaps)})"
    return None


def faultin_rep(name: str, data: bytes, pages: Sequence[memoryview],
                outs: Sequence[memoryview], out: memoryview, host: HostPaths) -> FaultIn:
    """One paired repetition (kernel first, then pyzswap); raises :class:`BenchError` if
    pyzswap loses or changes a page, :class:`KernelRunError` if the kernel's does, and
    ``KernelUnavailable``/``KernelRunError`` if the kernel side cannot run (the host is
    restored)."""
    n = len(pages)
    run = run_zswap(data, name, host=host)
    # zswap's statistics are global: another process swapping meanwhile adds its pages (a
    # note, not an error); fewer than ours means some of ours did not fault in from zswap.
    if run.stored_pages < n or not run.verified:
        raise KernelRunError(f"the kernel's zswap run was not clean: {'; '.join(run.notes)} "
                             f"({run.mismatched_pages} pages read back wrong)")
    z = Zswap(compressor=name, totalram_pages=None, cpus=1)
    try:
        z.swapon(0, n)
        store, load = z.store, z.load
        for i in range(n):
            if not store(pages[i], 0, i):
                raise BenchError(f"{name}: zswap refused page {i} with no limit set")
        out[:] = bytes(len(out))
        missing = 0
        c0, t0 = time.thread_time(), time.perf_counter()
        for i in range(n):
            if not load(outs[i], 0, i):
                missing += 1
        t1, c1 = time.perf_counter(), time.thread_time()
    finally:
        z.close()
    if missing or out != data:
        raise BenchError(f"{name}: {missing} pages missing or a page loaded wrong")
    return FaultIn(run.readback_seconds, run.readback_cpu_seconds, t1 - t0, c1 - c0)

