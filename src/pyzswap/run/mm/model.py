"""The mm model's state and its workload side: the page arrays, processes (start, exit),
accesses (one by one, or a trace's run with resident hits vectorised), and the clock that runs
the background work (zswap's shrink worker, kswapd) as the workload advances it. The kernel's
operations come from the modules its base classes live in (the package docstring)."""

from __future__ import annotations

import errno
import math
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..._native import Mmu
from ...errors import InvalidParameter
from ...folio import PAGE_SIZE
from ...memcg import MemCgroup
from ...swap import SWP_OFFSET_MASK
from ...swapcore import SwapCore
from ...zswap import Zswap
from ...zswap.params import PASS_END
from ...zswap.shrink import SHRINK_DONE, ShrinkWalk
from .base import (
    F_ACTIVE,
    F_PRESENT,
    F_REFERENCED,
    F_SWAPCACHE,
    F_WORKINGSET,
    MAX_SWAPPINESS,
    NO_SLOT,
    Costs,
    LruVec,
    MmStats,
    Proc,
    ScanControl,
)
from .madvise import Madvise
from .memcontrol import MemControl
from .memory import Faults
from .page_alloc import PageAlloc, default_min_free_kbytes
from .shrinker import Shrinkers
from .swap_state import SwapState
from .vmscan import Vmscan
from .workingset import Workingset

__all__ = ["MemoryModel"]


class MemoryModel(Faults, SwapState, Workingset, MemControl, PageAlloc, Vmscan, Shrinkers,
                  Madvise):
    """Processes, RAM, memcgs and reclaim around a :class:`SwapCore` (the package docstring).

    ``memcg_root`` is the memory cgroup hierarchy (v1 or v2) the processes' groups live in.
    ``ram_pages`` is the machine's RAM. ``swappiness`` is ``vm.swappiness`` (cgroup v1 groups
    use their own ``memory.swappiness``), ``page_cluster`` is ``vm.page-cluster``.
    """

    # The page arrays (index: a page or list sentinel), with memoryviews for scalar access.
    mapped: npt.NDArray[np.uint8]       # the PTE maps the folio
    young: npt.NDArray[np.uint8]        # the PTE's accessed bit
    dirty: npt.NDArray[np.uint8]        # the folio (or its PTE) is dirty
    flags: npt.NDArray[np.uint8]        # F_* bits
    # The word-wide arrays are lists: only the compiled per-page code reads them, and a list
    # is what it indexes fastest.
    slot: list[int]                     # the page's swap entry, or -1
    shadow: list[int]                   # the eviction age left at reclaim, or -1
    shadow_memcg: list[int]             # the memcg id of that shadow
    nxt: list[int]                      # LRU list links (towards the tail / the head)
    prv: list[int]
    owner: list[int]                    # the process index of a page
    # The bytes of mapped, young, dirty and flags (the arrays are numpy views of them).
    _mv_mapped: bytearray
    _mv_young: bytearray
    _mv_dirty: bytearray
    _mv_flags: bytearray

    _kswapd_sc: ScanControl
    _ahead_vec: LruVec  # the lruvec reclaim isolated from last (the look-ahead's)
    _ahead_due: bool    # and the look-ahead has not had its tail since
    _kswapd_reclaimed: int

    def __init__(self, core: SwapCore, ram_pages: int, *, memcg_root: MemCgroup | None = None,
                 seed: int = 0, verify: bool = True, swappiness: int = 60,
                 page_cluster: int = 3, min_free_kbytes: int | None = None,
                 costs: Costs | None = None, capacity: int = 0) -> None:
        if isinstance(ram_pages, bool) or not isinstance(ram_pages, int) or ram_pages < 1:
            raise InvalidParameter(f"RAM must be at least one page, got {ram_pages!r} pages")
        if not 0 <= swappiness <= MAX_SWAPPINESS:
            raise InvalidParameter(f"swappiness must be 0..{MAX_SWAPPINESS}, got {swappiness}")
        if not 0 <= page_cluster <= 31:
            raise InvalidParameter(f"page_cluster must be 0..31, got {page_cluster}")
        self.core: SwapCore = core
        self.zswap: Zswap = core.zswap
        self.ram_pages: int = ram_pages
        self.verify: bool = verify
        self.seed: int = seed
        self.swappiness: int = swappiness
        self.page_cluster: int = page_cluster
        #: Dying memory cgroups on the machine (offline, not yet freed): each walk of zswap's
        #: shrink worker passes them (``mem_cgroup_iter``), at ``costs.memcg_dying`` each.
        self.dying_memcgs: int = 0
        #: Hand each reclaim batch's pages to zswap's look-ahead compressor
        #: (:meth:`Zswap.precompress`): a second core computes the same bytes; off, the
        #: stores compress inline. The results are the same either way.
        self.precompress: bool = True
        self.set_min_free_kbytes(default_min_free_kbytes(ram_pages) if min_free_kbytes is None
                                 else min_free_kbytes)
        self.costs: Costs = costs or Costs()
        self.stats: MmStats = MmStats()
        self.root: MemCgroup = memcg_root if memcg_root is not None else MemCgroup()
        self.v2 = self.root.version == 2
        # Pages: index g of every array below. Sentinel list nodes and processes' pages share
        # the index space (a process reserves npages indices when it is added).
        self._cap: int = 0
        self._n: int = 0
        self._grow(capacity + 64)
        self._procs: dict[int, Proc] = {}
        self._proc_list: list[Proc] = []
        self._contents_of: dict[int, Callable[[], bytes | memoryview]] = {}
        self._vecs: dict[int, LruVec] = {}
        self._root_vec: LruVec = self._lruvec(self.root)
        self.resident_pages: int = 0   # folios in memory
        self.pgtable_pages: int = 0
        self._writes: int = 0          # w accesses so far (the trace's write counter)
        self.now: float = 0.0            # the model's clock, µs
        self._in_reclaim: int = 0      # PF_MEMALLOC: charges are forced, no nested reclaim
        self._oom: set[int] = set()  # memcgs whose last charge ended in OOM
        self._flush_time: float = 0.0    # the model time of the last memcg statistics flush
        self._wb_folios: list[int] = []
        self._wb_count: int = 0
        self._bg_running: bool = False
        self._worker: ShrinkWalk | None = None
        self._worker_time: float = 0.0
        #: Wall seconds spent in the shrink worker's steps (its writeback time).
        self.worker_seconds: float = 0.0
        self._kswapd_awake: bool = False
        self._kswapd_time: float = 0.0
        self._kswapd_failures: int = 0
        self._bg_next: float = math.inf
        self._shrinker_deferred: dict[tuple[str, int], int] = {}
        self._walk_pos: dict[int, int] = {}  # the reclaim iterator's position per target
        self._ahead_vec = self._root_vec
        self._ahead_due = False
        # swapin_readahead state (swap_state.c's statics)
        self._ra_hits: int = 4
        self._ra_prev_offset: int = 0
        self._ra_last_pages: int = 0
        self._scratch = bytearray(PAGE_SIZE)
        self._scratch_view = memoryview(self._scratch)
        self._slot_owner: list[int] = []  # by swap offset: the page holding it, or -1
        self._slot_owner_v: list[int] = self._slot_owner
        self._swap_type: int = -1
        self._swap_used: int = 0    # slots the model holds (allocated, not yet freed)
        self._swap_total: int = -1
        #: called as hook(kind, seconds) around swap-out/swap-in (the harness's timers)
        self.on_swap: Callable[[str, float], None] | None = None
        self.zswap.on_writeback = self._on_writeback
        self.zswap.on_shrink_queue = self._on_shrink_queue
        # memory.reclaim writes through MemCgroup.write reach this model
        self.root.set_reclaimer(self.memory_reclaim)

    def _grow(self, need: int) -> None:
        cap = max(need, 2 * self._cap, 1024)
        if cap <= self._cap:
            return

        def more(old: list[int] | None, fill: int) -> list[int]:
            arr = [fill] * cap
            if old is not None:
                arr[:len(old)] = old
            return arr

        def more_bytes(old: bytearray | None) -> bytearray:
            arr = bytearray(cap)
            if old is not None:
                arr[:len(old)] = old
            return arr

        first = self._cap == 0
        # The byte-wide arrays are bytearrays that numpy views: the compiled model indexes a
        # bytearray directly (a memoryview of a numpy array goes through the buffer protocol
        # and struct packing on every access), numpy runs the vectorised hits over the same
        # bytes.
        self._mv_mapped = more_bytes(None if first else self._mv_mapped)
        self._mv_young = more_bytes(None if first else self._mv_young)
        self._mv_dirty = more_bytes(None if first else self._mv_dirty)
        self._mv_flags = more_bytes(None if first else self._mv_flags)
        self.mapped = np.frombuffer(self._mv_mapped, dtype=np.uint8)
        self.young = np.frombuffer(self._mv_young, dtype=np.uint8)
        self.dirty = np.frombuffer(self._mv_dirty, dtype=np.uint8)
        self.flags = np.frombuffer(self._mv_flags, dtype=np.uint8)
        self.slot = more(None if first else self.slot, NO_SLOT)
        self.shadow = more(None if first else self.shadow, -1)
        self.shadow_memcg = more(None if first else self.shadow_memcg, -1)
        self.nxt = more(None if first else self.nxt, -1)
        self.prv = more(None if first else self.prv, -1)
        self.owner = more(None if first else self.owner, -1)
        self._cap = cap
        self._mv_slot = self.slot
        self._mv_shadow = self.shadow
        self._mv_shadow_memcg = self.shadow_memcg
        self._mv_nxt = self.nxt
        self._mv_prv = self.prv
        self._mv_owner = self.owner
        old_truth = getattr(self, "_truth", None)
        self._truth = bytearray(cap * PAGE_SIZE)
        if old_truth is not None:
            self._truth[:len(old_truth)] = old_truth
        self._truth_v = memoryview(self._truth)

    def _reserve(self, n: int) -> int:
        base = self._n
        if base + n > self._cap:
            self._grow(base + n)
        self._n = base + n
        return base

    def _sentinel(self) -> int:
        g = self._reserve(1)
        self._mv_nxt[g] = g
        self._mv_prv[g] = g
        return g

    def _lruvec(self, memcg: MemCgroup) -> LruVec:
        vec = self._vecs.get(memcg.id)
        if vec is None:
            parent = None if memcg.parent is None else self._lruvec(memcg.parent)
            vec = LruVec(memcg, parent, self._sentinel(), self._sentinel())
            if parent is not None:
                parent.children.append(vec)
            self._vecs[memcg.id] = vec
        return vec

    def add_process(self, pid: int, npages: int, contents: Callable[[], bytes | memoryview],
                    memcg: MemCgroup | None = None) -> None:
        """Declare a process of ``npages`` pages whose initial contents ``contents()`` gives
        (read when it starts: bytes, or an object with ``len()`` and ``readinto(view)`` that
        fills the process's memory itself, as a page file does). It does not exist until
        :meth:`start`."""
        if pid in self._procs:
            raise InvalidParameter(f"process {pid} already exists")
        if npages < 1:
            raise InvalidParameter(f"process {pid}: needs at least one page")
        group = memcg if memcg is not None else self.root
        base = self._reserve(npages)
        proc = Proc(pid, len(self._proc_list), base, npages, group, self._lruvec(group),
                     None if group.parent is None else group)
        self.owner[base:base + npages] = [proc.idx] * npages
        self._procs[pid] = proc
        self._proc_list.append(proc)
        self._contents_of[pid] = contents

    def start(self, pid: int) -> None:
        """The process starts (its ``proc`` line): it exists from now, with no page yet."""
        proc = self._procs.get(pid)
        if proc is None:
            raise InvalidParameter(f"no process {pid}")
        if proc.started:
            raise InvalidParameter(f"process {pid} already started")
        data = self._contents_of.pop(pid)()
        if len(data) < proc.npages * PAGE_SIZE:
            raise InvalidParameter(f"process {pid}: contents hold {len(data)} bytes, it needs "
                                   f"{proc.npages * PAGE_SIZE}")
        lo = proc.base * PAGE_SIZE
        readinto = getattr(data, "readinto", None)
        if readinto is not None:  # a page file read straight into memory (no second copy)
            readinto(self._truth_v[lo:lo + proc.npages * PAGE_SIZE])
        else:
            self._truth_v[lo:lo + proc.npages * PAGE_SIZE] = memoryview(data)[
                :proc.npages * PAGE_SIZE]
        proc.started = True

    def processes(self) -> list[int]:
        return [p.pid for p in self._proc_list if p.started and not p.exited]

    def truth(self, pid: int, page: int) -> bytes:
        """What the page holds now (for tests)."""
        g = self._procs[pid].base + page
        return bytes(self._truth_v[g * PAGE_SIZE:(g + 1) * PAGE_SIZE])

    def page_state(self, pid: int, page: int) -> dict[str, Any]:
        """The model's state of one page (for tests and tools)."""
        g = self._procs[pid].base + page
        fl = self._mv_flags[g]
        return {"present": bool(fl & F_PRESENT), "mapped": bool(self._mv_mapped[g]),
                "swapcache": bool(fl & F_SWAPCACHE), "active": bool(fl & F_ACTIVE),
                "referenced": bool(fl & F_REFERENCED), "young": bool(self._mv_young[g]),
                "dirty": bool(self._mv_dirty[g]), "slot": self._mv_slot[g],
                "workingset": bool(fl & F_WORKINGSET)}

    def exit(self, pid: int) -> None:
        """The process exits (``exit_mmap``): its folios are freed and uncharged, its swap
        slots (and zswap entries) freed, its page tables freed."""
        proc = self._procs.get(pid)
        if proc is None or not proc.started or proc.exited:
            raise InvalidParameter(f"no running process {pid}")
        self._background()
        lo, hi = proc.base, proc.base + proc.npages
        present = np.flatnonzero(self.flags[lo:hi] & F_PRESENT) + lo
        slot_v = self._mv_slot
        slots = [g for g in range(lo, hi) if slot_v[g] >= 0]
        flags, vec = self._mv_flags, proc.vec
        for g in present.tolist():
            self._lru_del(g)
            if flags[g] & F_ACTIVE:
                vec.nr_active -= 1
            else:
                vec.nr_inactive -= 1
        n = len(present)
        self.resident_pages -= n
        proc.memcg.uncharge_memory(n + sum(proc.pt))
        self.pgtable_pages -= sum(proc.pt)
        core, owner_v = self.core, self._slot_owner_v
        for g in slots:
            swp = slot_v[g]
            owner_v[swp & SWP_OFFSET_MASK] = -1
            core.swap_free(swp)
        self._swap_used -= len(slots)
        if self.v2 and len(slots):
            proc.memcg.uncharge_swap(len(slots))
        self.mapped[lo:hi] = 0
        self.young[lo:hi] = 0
        self.dirty[lo:hi] = 0
        self.flags[lo:hi] = 0
        self.slot[lo:hi] = [NO_SLOT] * (hi - lo)
        self.shadow[lo:hi] = [-1] * (hi - lo)
        proc.pt[:] = bytes(len(proc.pt))
        proc.exited = True
        self.stats.exits += 1

    def _lru_add(self, g: int, vec: LruVec, active: bool, tail: bool = False) -> None:
        """``lruvec_add_folio`` (head: the newest end) or ``lruvec_add_folio_tail``."""
        nxt, prv = self._mv_nxt, self._mv_prv
        if active:
            h = vec.aa
            vec.nr_active += 1
        else:
            h = vec.ia
            vec.nr_inactive += 1
        if tail:
            p = prv[h]
            prv[g] = p
            nxt[g] = h
            nxt[p] = g
            prv[h] = g
        else:
            n = nxt[h]
            nxt[g] = n
            prv[g] = h
            prv[n] = g
            nxt[h] = g

    def _lru_del(self, g: int) -> None:
        nxt, prv = self._mv_nxt, self._mv_prv
        p = prv[g]
        n = nxt[g]
        nxt[p] = n
        prv[n] = p

    def _vec_of(self, g: int) -> LruVec:
        return self._proc_list[self._mv_owner[g]].vec

    def _background(self) -> None:
        """Run the background work (zswap's shrink worker, kswapd) that the clock says has
        happened by now. Called at every slow-path step of the workload and of reclaim (not
        from inside background work itself: a worker's reclaim does not run other work)."""
        if self._bg_running:
            return
        if self._worker is None and self.zswap.shrink_work_take():
            self._worker = self.zswap.shrink_walk()
            self._worker_time = max(self._worker_time, self.now) + self.costs.wakeup
            self.stats.worker_runs += 1
        now = self.now
        self._bg_running = True
        try:
            while True:
                wt = self._worker_time if self._worker is not None else math.inf
                kt = self._kswapd_time if self._kswapd_awake else math.inf
                if wt > now and kt > now:
                    self._bg_next = min(wt, kt)
                    return
                if wt <= kt:
                    self._worker_step()
                else:
                    self._kswapd_step()
        finally:
            self._bg_running = False

    def _on_shrink_queue(self) -> None:
        """zswap queued its shrink work: the worker starts at the next background check."""
        self._bg_next = self.now

    def _worker_step(self) -> None:
        """One ``shrink_memcg`` call of zswap's ``shrink_worker``, at the worker's time."""
        assert self._worker is not None
        saved, self.now = self.now, self._worker_time
        wb_before = self._wb_count
        t0 = time.perf_counter()
        worker = self._worker
        ret = worker.step()
        if ret == SHRINK_DONE:
            ret = 0
            self._worker = None
            if self.zswap.shrink_work_take():  # queued again while it ran: run once more
                self._worker = self.zswap.shrink_walk()
                self.stats.worker_runs += 1
        self.worker_seconds += time.perf_counter() - t0
        written = self._wb_count - wb_before
        costs = self.costs
        if ret == PASS_END:  # the walk passed the machine's dying groups too
            cost = costs.memcg_dying * self.dying_memcgs
        elif ret == -_ENOENT:  # groups with nothing to write back, passed in one go
            n = worker.enoent_run
            self.stats.worker_steps += n
            cost = costs.worker_enoent * n
        else:
            self.stats.worker_steps += 1
            cost = costs.writeback * written if written else costs.worker_idle
        self._drain_wb_folios()
        self._worker_time = max(self._worker_time + cost, self.now)
        self.now = saved

    def access(self, pid: int, page: int, write: bool = False) -> None:
        """One memory access by a running process: a run of one (:meth:`run`)."""
        proc = self._procs.get(pid)
        if proc is None or not proc.started or proc.exited:
            raise InvalidParameter(f"access to process {pid}, which is not running")
        if not 0 <= page < proc.npages:
            raise InvalidParameter(f"page {page} is outside process {pid} (0..{proc.npages - 1})")
        self.run(np.array([proc.base + page], dtype=np.int64),
                 np.array([1 if write else 0], dtype=np.int8))

    def run(self, gs: npt.NDArray[np.int64], ops: npt.NDArray[np.int8]) -> None:
        """Replay accesses ``gs`` (global page indices, from :meth:`page_index`) with ``ops``
        (0 read, 1 write) in order. Accesses to mapped pages are the MMU's (young and dirty
        bits, the write rule, the clock: :class:`pyzswap._native.Mmu`, in C); each access that
        faults takes the slow path here, in order."""
        truth = self._truth
        gs = np.ascontiguousarray(gs, dtype=np.int64)  # the Mmu reads them as C arrays
        ops = np.ascontiguousarray(ops, dtype=np.int8)
        mmu = Mmu(gs, ops, self._mv_mapped, self._mv_young, self._mv_dirty, truth, self.seed,
                  self._writes, self.costs.access)
        owner, procs = self._mv_owner, self._proc_list
        fault = self._fault
        try:
            while True:
                g = mmu.next_fault(self.now)
                self.now = mmu.now
                if g < 0:
                    break
                fault(procs[owner[g]], g, mmu.write)
                if self._truth is not truth:  # the Mmu would write to the old arrays
                    raise RuntimeError("the model's page arrays grew during a run")
        finally:
            st = self.stats
            st.accesses += mmu.accesses
            st.reads += mmu.reads
            st.writes += mmu.writes
            self._writes += mmu.writes

    def page_index(self, pids: npt.NDArray[np.int64],
                   pages: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Global page indices of (pid, page) pairs of declared processes."""
        uniq, inv = np.unique(pids, return_inverse=True)
        table = np.array([self._procs[int(p)].base for p in uniq], dtype=np.int64)
        return table[inv] + pages

    def idle(self, seconds: float) -> None:
        """The workload sleeps for ``seconds`` (``usleep``): the model's clock advances and the
        background work due by then (kswapd, zswap's shrink worker) runs."""
        if not seconds >= 0:
            raise InvalidParameter(f"idle time must be >= 0, got {seconds!r}")
        self.now += seconds * 1e6
        self._background()

    def lru_sizes(self) -> dict[str, dict[str, int]]:
        """Inactive/active anon pages per memcg path (own lists)."""
        return {v.memcg.path: {"inactive_anon": v.nr_inactive, "active_anon": v.nr_active}
                for v in self._vecs.values()}

    def swapcache_pages(self) -> int:
        return int(np.count_nonzero(self.flags[:self._n] & F_SWAPCACHE))


_ENOENT: Final = errno.ENOENT
