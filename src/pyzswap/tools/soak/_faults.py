"""The soak's fault injection and checkpoints."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...compress import PAGE_SIZE
from ...errors import AllocFail, DecompressFail, ZswapError
from ...memcg import MemCgroup
from ...swap import SwapIOError, swp_offset, swp_type
from ..faults import (
    FaultyZsPool,
    corrupt_entry,
    faulty_compressor,
    install_zs_pool,
    unregister,
)
from ._machinery import _crc
from .checks import _WRITEBACK_RACES, check_invariants

if TYPE_CHECKING:
    from .run import _Soak
    pass


# Methods of :class:`~pyzswap.tools.soak.run._Soak` (assigned in its class body): the fault thread
# and the quiescent checkpoints.


# ------------------------------------------------------------------ faults --------------
def _arm_faults(self: _Soak) -> None:
    """Standing faults of the faulty compressor (used whenever it is the current pool)."""
    if self.faulty is not None:
        self.faulty.compress_fail.fail_every(7)
        self.faulty.compress_poor.fail_every(11)
        self.faulty.decompress_fail.fail_every(13)


def fault_thread(self: _Soak) -> None:
    rng = self.fault_owner.rng
    scenarios: list[tuple[str, Callable[[random.Random], None]]] = [
        ("fault_corrupt", self._f_corrupt), ("fault_writeback_eio", self._f_writeback_eio),
        ("fault_read_error", self._f_read_error), ("fault_write_enospc", self._f_enospc),
    ]
    while not self.stop.is_set():
        kind, fn = scenarios[rng.randrange(len(scenarios))]
        with self.gate.read():
            try:
                fn(rng)
            except Exception as exc:
                self.unexpected(kind, exc)
            finally:
                self._release_fault_slots()
            self.op(kind)
        time.sleep(0.005)


def _release_fault_slots(self: _Soak) -> None:
    """A scenario frees its slots and disarms its I/O faults before it ends, so a
    checkpoint never sees them."""
    led = self.fault_owner.ledger
    for swp in led.slots():
        with contextlib.suppress(ZswapError):
            self.core.swap_free(swp)
        led.remove(swp)
    for t in self.core.table.types():
        self.core.table.device(t).faults.clear()


def _own_page(self: _Soak, memcg: MemCgroup | None = None) -> tuple[int, bytes] | None:
    page = self.new_page(self.fault_owner, allow_zero=False)
    swp = self.core.swap_out(page, memcg)
    if swp is None:
        return None
    self.fault_owner.ledger.put(swp, _crc(page), memcg)
    return swp, page


def _verify_own(self: _Soak, swp: int, page: bytes, who: str) -> None:
    out = bytearray(PAGE_SIZE)
    for _ in range(50):  # the faulty compressor may fail a decompression: retry
        try:
            source = self.core.swap_in(swp, out)
            break
        except DecompressFail:
            self.expected(f"{who}_decompress_retry")
    else:
        raise ZswapError(f"{who}: slot never became readable")
    self._check_load(who, swp, out, _crc(page), source)


def _f_corrupt(self: _Soak, rng: random.Random) -> None:
    """Corrupt one of our compressed objects while holding its slot's swap cache: the load
    must fail (decompress_fail), the entry must stay, and after the restore the page must
    come back intact."""
    got = self._own_page()
    if got is None:
        return
    swp, page = got
    t, off = swp_type(swp), swp_offset(swp)
    z, table = self.zswap, self.core.table
    while not table.add_to_swap_cache(swp, bytearray(PAGE_SIZE)):
        os.sched_yield()
    try:
        entry = z.lookup(t, off)
        if entry is None or entry.length >= PAGE_SIZE:
            return  # written back already, or stored as-is: nothing to corrupt
        before = z.stats()["decompress_fail"]
        restore = corrupt_entry(z, t, off)
        with self._tally_lock:
            self.corruptions += 1
        try:
            out = bytearray(PAGE_SIZE)
            try:
                z.load(out, t, off)
                raise ZswapError("a corrupted object was loaded without an error")
            except DecompressFail:
                self.expected("corrupt_detected")
            if z.lookup(t, off) != entry:
                raise ZswapError("the corrupted entry was dropped by the failed load")
            if z.stats()["decompress_fail"] <= before:
                raise ZswapError("decompress_fail did not count the corrupted load")
        finally:
            if not restore():
                raise ZswapError("the corrupted entry went away while its slot was held")
    finally:
        table.delete_from_swap_cache(swp)
    self._verify_own(swp, page, "fault_corrupt")


def _f_writeback_eio(self: _Soak, rng: random.Random) -> None:
    got = self._own_page()
    if got is None:
        return
    swp, page = got
    t, off = swp_type(swp), swp_offset(swp)
    entry = self.zswap.lookup(t, off)
    if entry is not None:
        device = self.core.table.device(t)
        device.faults.fail_writes_at([off], errno.EIO, times=1)
        ret = self.zswap.writeback_entry(entry)
        if ret == -errno.EIO:  # the injected write error (or a decompression fault)
            self.expected("writeback_eio")
        elif ret not in _WRITEBACK_RACES:
            raise ZswapError(f"writeback_entry returned {ret}")
    self._verify_own(swp, page, "fault_writeback_eio")


def _f_read_error(self: _Soak, rng: random.Random) -> None:
    got = self._own_page(self.nozswap)  # zswap.max=0: straight to the swap file
    if got is None:
        return
    swp, page = got
    t, off = swp_type(swp), swp_offset(swp)
    if self.zswap.lookup(t, off) is not None:
        raise ZswapError("a page of a group with memory.zswap.max=0 went to zswap")
    device = self.core.table.device(t)
    errs = device.read_errors
    device.faults.fail_reads_at([off], errno.EIO, times=1)
    try:
        self.core.swap_in(swp, bytearray(PAGE_SIZE))
        raise ZswapError("an injected read error was not reported")
    except SwapIOError:
        self._io_error("swap_in_io_error")
    if device.read_errors != errs + 1:
        raise ZswapError("read_errors did not count the injected read error")
    self._verify_own(swp, page, "fault_read_error")


def _f_enospc(self: _Soak, rng: random.Random) -> None:
    """ENOSPC on the next write of every device: our own swap-out to the file (or
    whoever writes first) must fail cleanly and lose nothing."""
    page = self.new_page(self.fault_owner, allow_zero=False)
    for t in self.core.table.types():
        self.core.table.device(t).faults.fail_next_writes(1, errno.ENOSPC)
    swp = None
    for _ in range(len(self.core.table.types()) + 1):  # each device fails once at most
        try:
            swp = self.core.swap_out(page, self.nozswap)
            break
        except SwapIOError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            self._io_error("swap_out_io_error")  # the slots were freed, the page is ours
    else:
        raise ZswapError("a swap-out kept failing after every one-shot fault was used")
    if swp is None:
        return
    self.fault_owner.ledger.put(swp, _crc(page), self.nozswap)
    self._verify_own(swp, page, "fault_write_enospc")


# ------------------------------------------------------------------ checkpoints ---------
def checkpoint(self: _Soak, n: int) -> None:
    """All soak threads paused: invariants, then maybe a swapoff/swapon of the churn
    device and a faulty zsmalloc under a fresh pool."""
    z = self.zswap
    if not z.shrink_work_flush(timeout=120):
        self.unexpected("checkpoint", message="the shrink worker did not finish in 120 s")
        return
    for problem in check_invariants(self.core):
        self.unexpected(f"checkpoint {n} invariant", message=problem)
    self.report.checkpoints += 1
    if not self.cfg.concurrent_memcg_offline:
        self._offline_volatile()
        self.op("memcg_offline")
    if n % 2 == 1 and self.churn_type is not None:
        self._churn()
    if self.cfg.faults:
        self._prune_faulty_pools()
        if n % 2 == 0:
            self._fresh_faulty_pool()


def _restore(self: _Soak, swp: int, page: bytes) -> None:
    """swapoff's ``restore``: hand the page back to its owner, checked against its ledger."""
    for w in self.workers:
        if swp in w.ledger:
            crc, _ = w.ledger.crc[swp]
            self._check_load(f"swapoff->worker{w.index}", swp, page, crc, "swapoff")
            w.ledger.remove(swp)
            self.report.swapoff_pages += 1
            return
    self.unexpected("swapoff", message=f"slot {swp_type(swp)}:{swp_offset(swp)} has no "
                                       "owner (a leaked swap slot)")


def _churn(self: _Soak) -> None:
    t = self.churn_type
    assert t is not None
    if self.faulty is not None:
        self.faulty.clear()
    device = self.core.table.device(t)
    self._check_device_faults([t])
    try:
        self.core.swapoff(t, self._restore)
    except Exception as exc:
        self.unexpected("swapoff", exc)
        return
    finally:
        self._arm_faults()
    self.report.swapoffs += 1
    for op, n in device.faults.injected.items():  # the device is closed: keep its tally
        self.io_injected_closed[op] += n
    self.churn_type = self.core.swapon(self.cfg.churn_pages)


def _fresh_faulty_pool(self: _Soak) -> None:
    """Switch to a fresh compressor name (a fault-free :class:`FaultyCompressor` around a
    real codec): the first attempt runs out of memory while building the pool (nothing
    may change), the second succeeds; the new, empty pool gets a zsmalloc that fails
    allocations (every k-th, and maybe a page limit: "full"), exercised at once with
    pages of our own. The chaos thread switches away later; the pool lives until its
    last entry goes."""
    z = self.zswap
    base = ("lz4", "lzo", "zstd")[self.rng.randrange(3)]
    self._zs_made += 1
    comp = faulty_compressor(f"{self.tag}-zs{self._zs_made}", base)
    self.zs_compressors.append(comp)
    before = (z.compressor, [p.id for p in z.pools()])
    self.pool_faults.schedule.fail_next(1)
    try:
        z.set_param("compressor", comp.name)
        raise ZswapError("an injected allocation failure did not stop the pool creation")
    except AllocFail:
        self.expected("switch_pool_create_nomem")
    finally:
        self.pool_faults.schedule.clear()
    if (z.compressor, [p.id for p in z.pools()]) != before:
        raise ZswapError("a failed pool creation changed the pools")
    z.set_param("compressor", comp.name)
    zs = install_zs_pool(z, max_pages=self.rng.choice((None, 4, 16, 64)))
    zs.alloc_fail.fail_every(self.rng.choice((5, 17, 50)))
    self.zs_faulty.append(zs)
    self._exercise(zs)


def _prune_faulty_pools(self: _Soak) -> None:
    """Let go of faulty zsmallocs whose pool died (keeping their counts) and unregister
    the test compressors no live pool uses, so a long soak's bookkeeping stays flat."""
    for zs in [zs for zs in self.zs_faulty if zs.destroyed]:
        self.zs_closed["alloc_fail"] += zs.alloc_fail.injected
        self.zs_closed["zsmalloc_full"] += zs.full_failures
        self.zs_faulty.remove(zs)
    live = {p.tfm_name for p in self.zswap.pools()}
    for comp in self.zs_compressors[:-1]:
        if comp.name not in live:
            unregister(comp)
            self.zs_compressors.remove(comp)


def _exercise(self: _Soak, zs: FaultyZsPool) -> None:
    """64 pages through the faulty zsmalloc: each refused allocation must be counted as
    ``reject_alloc_fail`` and its page found on the swap file."""
    z = self.zswap
    for name, value in (("enabled", True), ("max_pool_percent", 40),
                        ("accept_threshold_percent", 100)):
        z.set_param(name, value)  # let the stores reach zsmalloc
    before = z.stats()["reject_alloc_fail"]
    failed = zs.alloc_fail.injected + zs.full_failures
    pages: dict[int, bytes] = {}
    for _ in range(64):
        got = self._own_page()
        if got is not None:
            pages[got[0]] = got[1]
    refused = zs.alloc_fail.injected + zs.full_failures - failed
    if z.stats()["reject_alloc_fail"] - before != refused:
        raise ZswapError(f"{refused} zsmalloc allocations failed but reject_alloc_fail "
                         f"moved by {z.stats()['reject_alloc_fail'] - before}")
    for swp, page in pages.items():
        self._verify_own(swp, page, "fault_zsmalloc")
    self._release_fault_slots()
    self.op("fault_zsmalloc")
def _check_device_faults(self: _Soak, types: list[int] | None = None) -> None:
    """Every I/O error a device counted was injected, and every injected one counted."""
    for t in self.core.table.types() if types is None else types:
        device = self.core.table.device(t)
        inj = device.faults.injected
        if device.write_errors != inj["write"] or device.read_errors != inj["read"]:
            self.unexpected("io accounting", message=(
                f"swap type {t}: write_errors {device.write_errors} / read_errors "
                f"{device.read_errors} but {inj['write']} / {inj['read']} injected"))
