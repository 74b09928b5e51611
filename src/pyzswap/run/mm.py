"""The "mm" around zswap: processes, RAM, memory cgroups, the anon LRU, reclaim, swap-in.

A model of Linux 6.18's memory management for anonymous memory, rule for rule, so that what
``pyzswap run`` predicts is what the kernel does (docs/ARCHITECTURE.md, "The mm model", lists
every rule with the kernel function it follows and where it simplifies). In short:

* **Pages exist from their first access** (``do_anonymous_page``): the process starts at its
  ``proc`` line, a page is allocated, charged and mapped (young and dirty: the first access
  writes its contents) on its first touch, and a page-table page is charged with the first
  page of each 512-page range (``__pte_alloc``).
* **Accounting** (``try_charge_memcg``): each page is charged to the process's memcg; a charge
  that would cross a limit reclaims from the group over it (``try_to_free_mem_cgroup_pages``,
  32 pages at a time), retries while reclaim makes progress and gives up after 16 fruitless
  tries (the kernel's OOM; the model counts ``memcg_oom`` and lets the charge through). Under
  cgroup v2 zswap's compressed bytes count against the limit; under v1 they do not.
  ``ram_pages`` is the machine's RAM: free pages are RAM minus resident pages, page tables and
  zswap's pool, with one zone's watermarks from ``vm.min_free_kbytes``; an allocation below the
  low watermark wakes kswapd, below min it reclaims directly.
* **The LRU** (``shrink_lruvec`` and friends): per memcg an inactive and an active anon list.
  New pages start inactive. Reclaim scans ``lru_size >> priority`` pages per list and priority
  (``get_scan_count``, with the swappiness/cost balance), from DEF_PRIORITY down to 0 until 32
  pages are reclaimed; a mapped page needs two references to be activated
  (``folio_check_references``: PTE young plus ``PG_referenced``); the active list is aged only
  when the inactive list is low or refaults were seen (``prepare_scan_control``'s
  ``may_deactivate``), and always by 32 pages after a pass when the inactive list is low.
* **The swap cache** (``shrink_folio_list``, ``do_swap_page``): a swapped-in page keeps its
  slot and stays clean unless zswap gave it (``zswap_load`` dirties it) or the fault was a
  write (the slot is freed); a clean swap-cache page is reclaimed without being written again;
  the slot is freed on ``vm_swap_full()``. A page written to the swap device stays in memory
  until its write ends and is freed by the next scan (``folio_rotate_reclaimable``).
* **Writeout** goes through :meth:`SwapCore.swap_writeout` (zero map, zswap, the device, or
  ``AOP_WRITEPAGE_ACTIVATE``). zswap's writeback folios join the LRU charged to the page's
  memcg, as ``zswap_writeback_entry``'s swap-cache folios do.
* **Workingset** (``workingset_eviction`` / ``workingset_refault``): reclaim leaves a shadow
  with the lruvec's non-resident age; a refault whose distance fits in the active list is
  activated (``workingset_refault_anon``, ``workingset_activate_anon``).
* **Swap readahead** (``swap_cluster_readahead``, ``swapin_nr_pages``): the slots around the
  faulting one, ``1 << page_cluster`` at most, adaptively (this machine's swap is on a
  rotational disk, so the kernel uses cluster readahead, not VMA readahead).
* **Shrinkers** (``shrink_slab``, ``do_shrink_slab``): zsmalloc's compaction shrinker is not
  memcg-aware, so it runs only in global reclaim (root memcg); zswap's shrinker is memcg-aware
  and runs for each group when ``shrinker_enabled``.
* **Background work on the model's clock**: zswap's pool-limit worker (``shrink_worker``) and
  kswapd run concurrently with the workload in the kernel; here they run on a deterministic
  clock that every operation advances by a nominal cost (:class:`Costs`), so a run is the same
  for the same seed and the worker keeps pace with the workload as the kernel's does.

Every fault is checked against the page's expected contents (the *truth*): the trace rules
(docs/WORKLOADS.md) say what each page holds after each access.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..errors import InvalidParameter, ZswapError
from ..folio import PAGE_SHIFT, PAGE_SIZE
from ..memcg import MemCgroup, mem_cgroup_iter
from ..swap import SWP_OFFSET_MASK, SWP_TYPE_SHIFT
from ..swapcore import AOP_WRITEPAGE_ACTIVATE, SwapCore
from ..zswap import SHRINK_STOP, Zswap

__all__ = ["DEF_PRIORITY", "SWAP_CLUSTER_MAX", "Costs", "LostPage", "MemoryModel", "MmStats",
           "OutOfMemory", "default_min_free_kbytes", "watermarks"]

#: Pages reclaimed per batch (``SWAP_CLUSTER_MAX``).
SWAP_CLUSTER_MAX: Final = 32
#: The first reclaim priority (``DEF_PRIORITY``): lists are scanned ``size >> priority``.
DEF_PRIORITY: Final = 12
#: ``MAX_RECLAIM_RETRIES``.
MAX_RECLAIM_RETRIES: Final = 16
#: ``PTRS_PER_PTE``: pages mapped by one page-table page.
PTRS_PER_PTE: Final = 512
#: ``SHRINK_BATCH`` and ``DEFAULT_SEEKS`` of ``do_shrink_slab``.
SHRINK_BATCH: Final = 128
DEFAULT_SEEKS: Final = 2
#: ``MAX_SWAPPINESS``.
MAX_SWAPPINESS: Final = 200
#: ``FLUSH_TIME`` (2 * HZ): the memcg statistics' periodic flush, µs of the model's clock.
FLUSH_TIME_US: Final = 2_000_000.0

# Folio flags (the kernel's page flags the model needs), in ``MemoryModel._flags``.
F_PRESENT: Final = 1        # the folio is in memory (mapped, or unmapped in the swap cache)
F_SWAPCACHE: Final = 2      # PG_swapcache: the folio holds its swap slot
F_ACTIVE: Final = 4         # PG_active
F_REFERENCED: Final = 8     # PG_referenced
F_WORKINGSET: Final = 16    # PG_workingset
F_RECLAIM: Final = 32       # PG_reclaim: written to the device, rotate when the write ends
F_READAHEAD: Final = 64     # PG_readahead
F_SHADOW_WS: Final = 128    # the shadow left at eviction says "was workingset"

_NO_SLOT: Final = -1
_clock = time.perf_counter


class LostPage(ZswapError):
    """A fault returned different bytes than the page last held: data was lost."""


class OutOfMemory(ZswapError):
    """Reclaim could not make room (no swap space left, or RAM smaller than the pool)."""


@dataclass
class Costs:
    """Nominal costs (µs of kernel CPU time) of the operations that advance the model's clock.

    They only decide how much background work (zswap's pool-limit worker, kswapd) happens
    while the workload runs, never what a rule decides. The defaults are the order of magnitude
    of this class of machine (a 2-vCPU x86-64 guest on a virtio disk): lzo compresses a page in
    about 5 µs and decompresses it in about 2 µs in the kernel (zram on the same pages), a swap
    read from the disk waits for the device, a write is only submitted.
    """

    access: float = 0.02        #: an access to a resident page (the workload's own loop)
    minor_fault: float = 0.5    #: a fault served without I/O (swap cache hit)
    first_touch: float = 1.0    #: allocate, charge and fill a new page
    zswap_load: float = 2.5     #: a swap-in from zswap
    zero_io: float = 0.5        #: a swap-in or swap-out through the zero map
    zswap_store: float = 6.0    #: a swap-out into zswap
    disk_read: float = 60.0     #: a swap-in from the device (the fault waits for it)
    disk_write: float = 4.0     #: a swap-out to the device (submitted, asynchronous)
    scan: float = 0.15          #: reclaim's work per page scanned
    writeback: float = 8.0      #: zswap writes back one entry (folio, decompress, submit)
    worker_idle: float = 1.0    #: a shrink-worker step that wrote nothing back
    wakeup: float = 50.0        #: a queued worker starts running (a cross-CPU wakeup)


@dataclass
class MmStats:
    """What the mm saw: the kernel's vmstat events (their names) and a few of the model's."""

    accesses: int = 0
    reads: int = 0
    writes: int = 0
    pgfault: int = 0             #: every fault (first touches, swap-ins, swap-cache hits)
    pgmajfault: int = 0          #: swap-in faults that missed the swap cache
    first_touch: int = 0         #: pages allocated by their first access
    swapcache_hits: int = 0      #: faults served from the swap cache (minor)
    faults_zswap: int = 0
    faults_disk: int = 0
    faults_zero: int = 0
    pgscan_anon: int = 0
    pgsteal_anon: int = 0
    pgscan_kswapd: int = 0
    pgsteal_kswapd: int = 0
    pgactivate: int = 0
    pgdeactivate: int = 0
    pgrefill: int = 0
    workingset_refault_anon: int = 0
    workingset_activate_anon: int = 0
    workingset_restore_anon: int = 0
    swap_ra: int = 0
    swap_ra_hit: int = 0
    pageout_activate: int = 0     #: AOP_WRITEPAGE_ACTIVATE (memory.zswap.writeback=0)
    reclaim_batches: int = 0
    shrinker_scanned: int = 0
    pages_compacted: int = 0
    compactions: int = 0
    memcg_reclaims: dict[str, int] = field(default_factory=dict)
    memcg_oom: int = 0
    global_oom: int = 0
    direct_reclaims: int = 0
    kswapd_wakeups: int = 0
    allocstall: int = 0
    worker_runs: int = 0
    worker_steps: int = 0
    writeback_folios: int = 0
    reclaim_eagain: int = 0
    exits: int = 0
    over_limit: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def default_min_free_kbytes(ram_pages: int) -> int:
    """``calculate_min_free_kbytes``: ``int_sqrt(lowmem_kbytes * 16)`` within 128..262144."""
    kbytes = ram_pages * (PAGE_SIZE // 1024)
    return max(128, min(262144, math.isqrt(kbytes * 16)))


def watermarks(ram_pages: int, min_free_kbytes: int,
               watermark_scale_factor: int = 10) -> tuple[int, int, int]:
    """``__setup_per_zone_wmarks`` for one zone of ``ram_pages``: (min, low, high) in pages.
    min = min_free_kbytes in pages; low and high add ``max(min / 4, managed *
    watermark_scale_factor / 10000)`` once and twice."""
    wmin = min_free_kbytes >> (PAGE_SHIFT - 10)
    tmp = max(wmin >> 2, ram_pages * watermark_scale_factor // 10000)
    return wmin, wmin + tmp, wmin + 2 * tmp


class _LruVec:
    """One memcg's lruvec (one node): its two anon lists (sentinel nodes in the page arrays)
    and the per-lruvec state reclaim and the workingset code keep."""

    __slots__ = ("aa", "anon_cost", "children", "depth", "file_cost", "flushed", "ia", "memcg",
                 "nonresident_age", "nr_active", "nr_inactive", "parent", "refaults",
                 "ws_activate", "ws_refault")

    def __init__(self, memcg: MemCgroup, parent: _LruVec | None, ia: int, aa: int) -> None:
        self.memcg = memcg
        self.parent = parent
        self.children: list[_LruVec] = []
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.ia = ia  # sentinel of the inactive anon list
        self.aa = aa  # sentinel of the active anon list
        self.nr_inactive = 0
        self.nr_active = 0
        self.nonresident_age = 0  # lruvec->nonresident_age
        self.anon_cost = 0
        self.file_cost = 0
        self.refaults = 0  # target_lruvec->refaults[WORKINGSET_ANON] snapshot
        self.ws_activate = 0  # WORKINGSET_ACTIVATE_ANON counted here (own)
        self.ws_refault = 0
        #: the memcg statistics as last flushed (rstat): hierarchical inactive and active anon
        #: pages and WORKINGSET_ACTIVATE_ANON, what ``lruvec_page_state`` reads
        self.flushed = (0, 0, 0)

    def subtree(self) -> Iterator[_LruVec]:
        yield self
        for child in self.children:
            yield from child.subtree()

    def flush(self) -> None:
        """``mem_cgroup_flush_stats`` for this lruvec (its subtree's counts)."""
        self.flushed = (self.hier("nr_inactive"), self.hier("nr_active"),
                        self.hier("ws_activate"))

    def hier(self, attr: str) -> int:
        """A counter summed over this lruvec and its descendants (memcg stats are
        hierarchical: ``lruvec_page_state``)."""
        if not self.children:
            return int(getattr(self, attr))
        return sum(getattr(v, attr) for v in self.subtree())


class _Proc:
    __slots__ = ("base", "exited", "idx", "memcg", "npages", "pid", "pt", "started", "vec",
                 "zmemcg")

    def __init__(self, pid: int, idx: int, base: int, npages: int, memcg: MemCgroup,
                 vec: _LruVec, zmemcg: MemCgroup | None) -> None:
        self.pid = pid
        self.idx = idx
        self.base = base
        self.npages = npages
        self.memcg = memcg  # the group charged (the root for a process without memcg)
        self.vec = vec
        self.zmemcg = zmemcg  # what zswap is told (None for the root: no objcg)
        self.started = False
        self.exited = False
        self.pt = bytearray((npages + PTRS_PER_PTE - 1) // PTRS_PER_PTE)


class _Scan:
    """``struct scan_control``: what one reclaim invocation wants and has done."""

    __slots__ = ("anon_cost", "file_cost", "file_is_tiny", "force_deactivate", "full_walk",
                 "kswapd", "may_deactivate", "nr_reclaimed", "nr_scanned", "nr_to_reclaim",
                 "priority", "proactive", "skipped_deactivate", "swappiness", "target")

    def __init__(self, target: _LruVec | None, nr_to_reclaim: int, *, kswapd: bool = False,
                 proactive: bool = False, swappiness: int | None = None) -> None:
        self.target = target  # None: global reclaim (the root)
        self.nr_to_reclaim = nr_to_reclaim
        self.priority = DEF_PRIORITY
        self.nr_reclaimed = 0
        self.nr_scanned = 0
        self.may_deactivate = False
        self.force_deactivate = False
        self.skipped_deactivate = False
        self.file_is_tiny = False
        self.full_walk = kswapd
        self.kswapd = kswapd
        self.proactive = proactive
        self.swappiness = swappiness
        self.anon_cost = 0
        self.file_cost = 0


class MemoryModel:
    """Processes, RAM, memcgs and reclaim around a :class:`SwapCore` (module docstring).

    ``memcg_root`` is the memory cgroup hierarchy (v1 or v2) the processes' groups live in.
    ``ram_pages`` is the machine's RAM. ``swappiness`` is ``vm.swappiness`` (cgroup v1 groups
    use their own ``memory.swappiness``), ``page_cluster`` is ``vm.page-cluster``.
    """

    # The page arrays (index: a page or list sentinel), with memoryviews for scalar access.
    mapped: npt.NDArray[np.uint8]       # the PTE maps the folio
    young: npt.NDArray[np.uint8]        # the PTE's accessed bit
    dirty: npt.NDArray[np.uint8]        # the folio (or its PTE) is dirty
    flags: npt.NDArray[np.uint8]        # F_* bits
    slot: npt.NDArray[np.int64]         # the page's swap entry, or -1
    shadow: npt.NDArray[np.int64]       # the eviction age left at reclaim, or -1
    shadow_memcg: npt.NDArray[np.int64]  # the memcg id of that shadow
    nxt: npt.NDArray[np.int64]          # LRU list links (towards the tail / the head)
    prv: npt.NDArray[np.int64]
    owner: npt.NDArray[np.int64]        # the process index of a page

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
        self.core = core
        self.zswap: Zswap = core.zswap
        self.ram_pages = ram_pages
        self.verify = verify
        self.seed = seed
        self.swappiness = swappiness
        self.page_cluster = page_cluster
        self.set_min_free_kbytes(default_min_free_kbytes(ram_pages) if min_free_kbytes is None
                                 else min_free_kbytes)
        self.costs = costs or Costs()
        self.stats = MmStats()
        self.root = memcg_root if memcg_root is not None else MemCgroup()
        self.v2 = self.root.version == 2
        # Pages: index g of every array below. Sentinel list nodes and processes' pages share
        # the index space (a process reserves npages indices when it is added).
        self._cap = 0
        self._n = 0
        self._grow(capacity + 64)
        self._procs: dict[int, _Proc] = {}
        self._proc_list: list[_Proc] = []
        self._contents_of: dict[int, Callable[[], bytes | memoryview]] = {}
        self._vecs: dict[int, _LruVec] = {}
        self._root_vec = self._lruvec(self.root)
        self.resident_pages = 0   # folios in memory
        self.pgtable_pages = 0
        self._writes = 0          # w accesses so far (the trace's write counter)
        self.now = 0.0            # the model's clock, µs
        self._in_reclaim = 0      # PF_MEMALLOC: charges are forced, no nested reclaim
        self._oom: set[int] = set()  # memcgs whose last charge ended in OOM
        self._flush_time = 0.0    # the model time of the last memcg statistics flush
        self._wb_folios: list[int] = []
        self._wb_count = 0
        self._bg_running = False
        self._worker: Iterator[int] | None = None
        self._worker_time = 0.0
        self._kswapd_awake = False
        self._kswapd_time = 0.0
        self._kswapd_failures = 0
        self._bg_next = math.inf
        self._shrinker_deferred: dict[tuple[str, int], int] = {}
        self._walk_pos: dict[int, int] = {}  # the reclaim iterator's position per target
        # swapin_readahead state (swap_state.c's statics)
        self._ra_hits = 4
        self._ra_prev_offset = 0
        self._ra_last_pages = 0
        self._scratch = bytearray(PAGE_SIZE)
        self._scratch_view = memoryview(self._scratch)
        self._slot_owner = np.full(0, -1, dtype=np.int64)
        self._slot_owner_v = self._slot_owner.data
        self._swap_type = -1
        self._swap_used = 0    # slots the model holds (allocated, not yet freed)
        self._swap_total = -1
        #: called as hook(kind, seconds) around swap-out/swap-in (the harness's timers)
        self.on_swap: Callable[[str, float], None] | None = None
        self.zswap.on_writeback = self._on_writeback
        self.zswap.on_shrink_queue = self._on_shrink_queue
        # memory.reclaim writes through MemCgroup.write reach this model
        self.root.set_reclaimer(self.memory_reclaim)

    # ================================================================== the page arrays ======
    def _grow(self, need: int) -> None:
        cap = max(need, 2 * self._cap, 1024)
        if cap <= self._cap:
            return

        def more(old: npt.NDArray[Any] | None, dtype: Any, fill: int) -> npt.NDArray[Any]:
            arr = np.full(cap, fill, dtype=dtype)
            if old is not None:
                arr[:len(old)] = old
            return arr

        first = self._cap == 0
        self.mapped = more(None if first else self.mapped, np.uint8, 0)
        self.young = more(None if first else self.young, np.uint8, 0)
        self.dirty = more(None if first else self.dirty, np.uint8, 0)
        self.flags = more(None if first else self.flags, np.uint8, 0)
        self.slot = more(None if first else self.slot, np.int64, _NO_SLOT)
        self.shadow = more(None if first else self.shadow, np.int64, -1)
        self.shadow_memcg = more(None if first else self.shadow_memcg, np.int64, -1)
        self.nxt = more(None if first else self.nxt, np.int64, -1)
        self.prv = more(None if first else self.prv, np.int64, -1)
        self.owner = more(None if first else self.owner, np.int64, -1)
        self._cap = cap
        self._mv_mapped = self.mapped.data
        self._mv_young = self.young.data
        self._mv_dirty = self.dirty.data
        self._mv_flags = self.flags.data
        self._mv_slot = self.slot.data
        self._mv_shadow = self.shadow.data
        self._mv_shadow_memcg = self.shadow_memcg.data
        self._mv_nxt = self.nxt.data
        self._mv_prv = self.prv.data
        self._mv_owner = self.owner.data
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

    # ================================================================== lruvecs, memcgs ======
    def _lruvec(self, memcg: MemCgroup) -> _LruVec:
        vec = self._vecs.get(memcg.id)
        if vec is None:
            parent = None if memcg.parent is None else self._lruvec(memcg.parent)
            vec = _LruVec(memcg, parent, self._sentinel(), self._sentinel())
            if parent is not None:
                parent.children.append(vec)
            self._vecs[memcg.id] = vec
        return vec

    def _usage(self, memcg: MemCgroup) -> int:
        """The memcg's page counter: its pages (and, under v2, zswap's compressed bytes)."""
        pages = memcg.memory_pages
        if self.v2:
            pages += -(-memcg.zswap_current // PAGE_SIZE)
        return pages

    def _swappiness(self, memcg: MemCgroup) -> int:
        """``mem_cgroup_swappiness``: v1 groups below the root have their own."""
        if self.v2 or memcg.parent is None:
            return self.swappiness
        return memcg.swappiness

    # ================================================================== processes ============
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
        proc = _Proc(pid, len(self._proc_list), base, npages, group, self._lruvec(group),
                     None if group.parent is None else group)
        self.owner[base:base + npages] = proc.idx
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
        slots = np.flatnonzero(self.slot[lo:hi] >= 0) + lo
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
        core, slot_v, owner_v = self.core, self._mv_slot, self._slot_owner_v
        for g in slots.tolist():
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
        self.slot[lo:hi] = _NO_SLOT
        self.shadow[lo:hi] = -1
        proc.pt[:] = bytes(len(proc.pt))
        proc.exited = True
        self.stats.exits += 1

    # ================================================================== the LRU lists ========
    def _lru_add(self, g: int, vec: _LruVec, active: bool, tail: bool = False) -> None:
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

    def _vec_of(self, g: int) -> _LruVec:
        return self._proc_list[self._mv_owner[g]].vec

    # ================================================================== the clock ============
    def _background(self) -> None:
        """Run the background work (zswap's shrink worker, kswapd) that the clock says has
        happened by now. Called at every slow-path step of the workload and of reclaim (not
        from inside background work itself: a worker's reclaim does not run other work)."""
        if self._bg_running:
            return
        if self._worker is None and self.zswap.shrink_work_take():
            self._worker = self.zswap.shrink_worker_steps()
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
        try:
            next(self._worker)
        except StopIteration:
            self._worker = None
            if self.zswap.shrink_work_take():  # queued again while it ran: run once more
                self._worker = self.zswap.shrink_worker_steps()
                self.stats.worker_runs += 1
        self.stats.worker_steps += 1
        written = self._wb_count - wb_before
        cost = self.costs.writeback * written if written else self.costs.worker_idle
        self._drain_wb_folios()
        self._worker_time = max(self._worker_time + cost, self.now)
        self.now = saved

    # ================================================================== accesses =============
    def access(self, pid: int, page: int, write: bool = False) -> None:
        """One memory access by a running process (the slow path does everything)."""
        proc = self._procs.get(pid)
        if proc is None or not proc.started or proc.exited:
            raise InvalidParameter(f"access to process {pid}, which is not running")
        if not 0 <= page < proc.npages:
            raise InvalidParameter(f"page {page} is outside process {pid} (0..{proc.npages - 1})")
        g = proc.base + page
        st = self.stats
        st.accesses += 1
        self.now += self.costs.access
        if self._mv_mapped[g]:
            self._mv_young[g] = 1
        else:
            self._fault(proc, g, write)
        if write:
            st.writes += 1
            self._mv_dirty[g] = 1
            self._apply_write(g, self._writes)
            self._writes += 1
        else:
            st.reads += 1

    def run(self, gs: npt.NDArray[np.int64], ops: npt.NDArray[np.int8]) -> None:
        """Replay accesses ``gs`` (global page indices, from :meth:`page_index`) with ``ops``
        (0 read, 1 write) in order. Runs of accesses to mapped pages are applied vectorised;
        where faults are dense, access by access; each fault takes the slow path in order."""
        n = len(gs)
        wmask = ops == 1
        nw = int(np.count_nonzero(wmask))
        if nw:
            src, dst = _write_offsets_np(self.seed, self._writes, nw)
            widx = np.cumsum(wmask) - 1  # the write number of a write, within this run
            src_l, dst_l, widx_l = src.tolist(), dst.tolist(), widx.tolist()
        else:
            src = dst = widx = _EMPTY
            src_l = dst_l = widx_l = []
        gl = gs.tolist()
        wl = wmask.tolist()
        pos = 0
        chunk = 256
        dense = False
        mapped, mv_mapped, mv_young, mv_dirty = self.mapped, self._mv_mapped, self._mv_young, \
            self._mv_dirty
        owner, procs = self._mv_owner, self._proc_list
        st = self.stats
        cost_access = self.costs.access
        truth = self._truth
        fault = self._fault
        hits = 0
        while pos < n:
            if dense:
                # Faults are dense: access by access, no numpy call per fault.
                g = gl[pos]
                write = wl[pos]
                st.accesses += 1
                self.now += cost_access
                if mv_mapped[g]:
                    mv_young[g] = 1
                    hits += 1
                    if hits > 64:
                        dense = False
                        chunk = 256
                else:
                    hits = 0
                    fault(procs[owner[g]], g, write)
                if write:
                    st.writes += 1
                    mv_dirty[g] = 1
                    w = widx_l[pos]
                    lo = g * PAGE_SIZE
                    d = lo + dst_l[w]
                    s = lo + src_l[w]
                    truth[d:d + 256] = truth[s:s + 256]
                else:
                    st.reads += 1
                pos += 1
                continue
            end = min(n, pos + chunk)
            miss = np.flatnonzero(mapped[gs[pos:end]] == 0)
            k = int(miss[0]) if len(miss) else end - pos
            if k:
                self._apply_hits(gs[pos:pos + k], wmask[pos:pos + k], widx[pos:pos + k]
                                 if nw else _EMPTY, src, dst)
            pos += k
            if pos < end:
                if k < 16:
                    dense = True
                    hits = 0
                    continue
                chunk = max(64, chunk >> 1)
                g = gl[pos]
                write = wl[pos]
                st.accesses += 1
                self.now += cost_access
                fault(procs[owner[g]], g, write)
                if write:
                    st.writes += 1
                    mv_dirty[g] = 1
                    w = widx_l[pos]
                    lo = g * PAGE_SIZE
                    d = lo + dst_l[w]
                    s = lo + src_l[w]
                    truth[d:d + 256] = truth[s:s + 256]
                else:
                    st.reads += 1
                pos += 1
            else:
                chunk = min(8192, chunk << 1)
        self._writes += nw

    def page_index(self, pids: npt.NDArray[np.int64],
                   pages: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Global page indices of (pid, page) pairs of declared processes."""
        uniq, inv = np.unique(pids, return_inverse=True)
        table = np.array([self._procs[int(p)].base for p in uniq], dtype=np.int64)
        return table[inv] + pages

    def _apply_hits(self, gs: npt.NDArray[np.int64], wmask: npt.NDArray[np.bool_],
                    widx: npt.NDArray[np.int64], src: npt.NDArray[np.int64],
                    dst: npt.NDArray[np.int64]) -> None:
        """Accesses to mapped pages: the PTE's young bit (and dirty bit for a write), and the
        write rule on the truth. No fault, no reclaim."""
        st = self.stats
        k = len(gs)
        self.young[gs] = 1
        st.accesses += k
        self.now += self.costs.access * k
        nw = int(np.count_nonzero(wmask))
        if nw:
            wg = gs[wmask]
            self.dirty[wg] = 1
            which = widx[wmask]
            base = wg * PAGE_SIZE
            truth = self._truth
            for s, d in zip((base + src[which]).tolist(), (base + dst[which]).tolist(),
                            strict=True):
                truth[d:d + 256] = truth[s:s + 256]
        st.writes += nw
        st.reads += k - nw

    def _apply_write(self, g: int, n: int) -> None:
        src, dst = _write_offsets(self.seed, n)
        lo = g * PAGE_SIZE
        truth = self._truth
        truth[lo + dst:lo + dst + 256] = truth[lo + src:lo + src + 256]

    # ================================================================== faults ===============
    def _fault(self, proc: _Proc, g: int, write: bool) -> None:
        """A fault on an unmapped page: first touch, swap-cache hit, or swap-in."""
        st = self.stats
        st.pgfault += 1
        if self._bg_next <= self.now:
            self._background()
        flags = self._mv_flags
        fl = flags[g]
        if fl & F_PRESENT:
            # do_swap_page finds the folio in the swap cache: a minor fault.
            st.swapcache_hits += 1
            self.now += self.costs.minor_fault
            if fl & F_READAHEAD:  # swap_update_readahead
                flags[g] = fl & ~F_READAHEAD
                st.swap_ra_hit += 1
                self._ra_hits += 1
            self._map_swapped_in(proc, g, write)
            return
        slot = self._mv_slot[g]
        if slot == _NO_SLOT:
            self._first_touch(proc, g)
            return
        # do_swap_page: not in the swap cache: a major fault; swapin_readahead.
        st.pgmajfault += 1
        self._swapin_readahead(proc, g, slot)
        self._map_swapped_in(proc, g, write)

    def _first_touch(self, proc: _Proc, g: int) -> None:
        """``do_anonymous_page``: allocate, charge, fill and map a new page (young and dirty:
        the first access writes its contents). A new page-table page first if needed."""
        st = self.stats
        st.first_touch += 1
        self.now += self.costs.first_touch
        pte = (g - proc.base) // PTRS_PER_PTE
        if not proc.pt[pte]:  # __pte_alloc: a page-table page, charged to the memcg
            self._alloc_page()
            self._charge(proc.memcg, 1)
            proc.pt[pte] = 1
            self.pgtable_pages += 1
        self._alloc_page()
        self._charge(proc.memcg, 1)
        self._mv_flags[g] = F_PRESENT
        self._mv_mapped[g] = 1
        self._mv_young[g] = 1
        self._mv_dirty[g] = 1
        self.resident_pages += 1
        self._lru_add(g, proc.vec, False)

    def _map_swapped_in(self, proc: _Proc, g: int, write: bool) -> None:
        """The end of ``do_swap_page``: free the slot when ``should_try_to_free_swap`` says so
        (swap full, or a write fault: the page becomes the only copy, dirty); map the page
        young (and dirty for a write)."""
        flags = self._mv_flags
        if flags[g] & F_SWAPCACHE and (write or self._swap_full(proc.memcg)):
            self._free_swap(g)
        self._mv_mapped[g] = 1
        self._mv_young[g] = 1
        if write:
            self._mv_dirty[g] = 1

    def _free_swap(self, g: int) -> None:
        """``folio_free_swap``: the folio leaves the swap cache, its slot is freed (zswap's
        entry with it) and it is dirty: memory holds the only copy now."""
        swp = self._mv_slot[g]
        self._mv_flags[g] &= ~F_SWAPCACHE
        self._mv_slot[g] = _NO_SLOT
        self._mv_shadow[g] = -1
        self._slot_owner_v[swp & SWP_OFFSET_MASK] = -1
        self._mv_dirty[g] = 1
        # SwapCore.swap_free(swp) of one slot, without its two layers of dispatch
        self.core.table.device(swp >> SWP_TYPE_SHIFT).free_slot(swp & SWP_OFFSET_MASK)
        self._swap_used -= 1
        if self.v2:  # __mem_cgroup_uncharge_swap, as the slot is freed
            self._proc_list[self._mv_owner[g]].memcg.uncharge_swap(1)

    def _swap_full(self, memcg: MemCgroup | None = None) -> bool:
        """``mem_cgroup_swap_full`` for a folio of ``memcg``: ``vm_swap_full()`` (less than
        half of the swap space is free) or, under cgroup v2, the group or an ancestor uses
        half of its ``memory.swap.max``."""
        if self._swap_total < 0:
            self._swap_space()
        if (self._swap_total - self._swap_used) * 2 < self._swap_total:
            return True
        return self.v2 and memcg is not None and memcg.swap_half_full()

    def _swap_space(self) -> tuple[int, int]:
        """``nr_swap_pages`` and ``total_swap_pages`` (the model allocates every slot itself,
        so it counts them; the devices' sizes are read once)."""
        if self._swap_total < 0:
            table = self.core.table
            self._swap_total = sum(table.device(t).nr_pages - 1 for t in table.types())
        return self._swap_total - self._swap_used, self._swap_total

    def _swapin_readahead(self, proc: _Proc, g: int, swp: int) -> None:
        """``swap_cluster_readahead``: read the ``swapin_nr_pages`` aligned slots around the
        faulting one into the swap cache (allocated, not-cached slots only), then the faulting
        slot itself."""
        offset = swp & SWP_OFFSET_MASK
        mask = self._swapin_nr_pages(offset) - 1
        if mask:
            owner_v, flags = self._slot_owner_v, self._mv_flags
            start = max(offset & ~mask, 1)  # slot 0 is the swap header
            end = min(offset | mask, len(self._slot_owner) - 1)
            for off in range(start, end + 1):
                h = owner_v[off]
                if h < 0 or flags[h] & F_PRESENT:
                    continue
                if off != offset:
                    hp = self._proc_list[self._mv_owner[h]]
                    self._read_swap_cache(hp, h)
                    flags[h] |= F_READAHEAD
                    self.stats.swap_ra += 1
        if not self._mv_flags[g] & F_PRESENT:
            self._read_swap_cache(proc, g)

    def _swapin_nr_pages(self, offset: int) -> int:
        """``swapin_nr_pages`` / ``__swapin_nr_pages``: the readahead window from the hits of
        earlier readahead (``+ 2``, rounded up to a power of two; 1 with no hit unless the
        fault is next to the previous one), capped by ``1 << page_cluster`` and halving at
        most per fault."""
        max_pages = 1 << self.page_cluster
        if max_pages <= 1:
            return 1
        hits, self._ra_hits = self._ra_hits, 0
        pages = hits + 2
        if pages == 2:
            prev = self._ra_prev_offset
            if offset != prev + 1 and offset != prev - 1:
                pages = 1
        else:
            roundup = 4
            while roundup < pages:
                roundup <<= 1
            pages = roundup
        pages = min(pages, max_pages)
        pages = max(pages, self._ra_last_pages // 2)
        if not hits:
            self._ra_prev_offset = offset
        self._ra_last_pages = pages
        return pages

    def _read_swap_cache(self, proc: _Proc, g: int) -> None:
        """``__read_swap_cache_async`` + ``swap_read_folio`` for page ``g``: allocate and charge
        a folio (to the memcg the slot was charged to), test the shadow
        (``workingset_refault``), add it to the LRU, read it: zero map, zswap (the load
        dirties it) or the device. The contents are checked against the truth."""
        flags = self._mv_flags
        was_ws = flags[g] & F_SHADOW_WS
        flags[g] = F_SWAPCACHE  # swapcache_prepare: zswap writeback leaves the slot alone
        self._alloc_page()
        self._charge(proc.memcg, 1)
        flags[g] = F_PRESENT | F_SWAPCACHE | was_ws
        self.resident_pages += 1
        shadow = self._mv_shadow[g]
        active = False
        if shadow >= 0:
            active = self._workingset_refault(proc, g, shadow)
            self._mv_shadow[g] = -1
        flags[g] &= ~F_SHADOW_WS
        self._lru_add(g, proc.vec, active)
        swp = self._mv_slot[g]
        if self.on_swap is None:
            source = self.core.swap_read_folio(swp, self._scratch_view, proc.zmemcg)
        else:
            t0 = _clock()
            source = self.core.swap_read_folio(swp, self._scratch_view, proc.zmemcg)
            self.on_swap("in:" + source, _clock() - t0)
        st = self.stats
        costs = self.costs
        if source == "zswap":
            st.faults_zswap += 1
            self._mv_dirty[g] = 1
            self.now += costs.zswap_load
        elif source == "disk":
            st.faults_disk += 1
            self._mv_dirty[g] = 0
            self.now += costs.disk_read
        else:
            st.faults_zero += 1
            self._mv_dirty[g] = 0
            self.now += costs.zero_io
        if self.verify and self._scratch != self._truth[g * PAGE_SIZE:(g + 1) * PAGE_SIZE]:
            raise LostPage(f"process {proc.pid} page {g - proc.base}: the fault (from {source}) "
                           "returned different bytes than the page last held")

    # ================================================================== workingset ===========
    @staticmethod
    def _age_nonresident(vec: _LruVec | None, nr: int) -> None:
        """``workingset_age_nonresident``: the lruvec and every ancestor."""
        while vec is not None:
            vec.nonresident_age += nr
            vec = vec.parent

    def _workingset_refault(self, proc: _Proc, g: int, eviction: int) -> bool:
        """``workingset_refault`` / ``workingset_test_recent`` for an anon folio: count the
        refault; activate it if its refault distance (the eviction lruvec's non-resident age
        since) is at most the active anon pages of that lruvec (with swap available); a folio
        that was workingset at eviction is restored as such."""
        st = self.stats
        st.workingset_refault_anon += 1
        vec = proc.vec
        vec.ws_refault += 1
        memcg_id = self._mv_shadow_memcg[g]
        ev_vec = self._vecs.get(memcg_id)
        if ev_vec is None or not ev_vec.memcg.online:
            return False
        distance = ev_vec.nonresident_age - eviction
        size = ev_vec.flushed[1] if self._nr_swap_free() > 0 else 0
        if distance > size:
            return False
        self._age_nonresident(vec, 1)
        st.workingset_activate_anon += 1
        vec.ws_activate += 1
        if self._mv_flags[g] & F_SHADOW_WS:
            self._mv_flags[g] |= F_WORKINGSET
            st.workingset_restore_anon += 1
            self._lru_note_cost(vec, 1, 0)  # lru_note_cost_refault
        return True

    def _nr_swap_free(self) -> int:
        if self._swap_total < 0:
            self._swap_space()
        return self._swap_total - self._swap_used

    # ================================================================== memcg statistics =====
    def flush_stats(self) -> None:
        """``mem_cgroup_flush_stats``: bring the statistics reclaim reads (through
        ``lruvec_page_state``: list sizes, refault activations) up to date. The kernel flushes
        them every 2 seconds (``flush_memcg_stats_dwork``) and when they are read, as reading
        ``memory.stat`` does: the harness calls this at every timeline sample, where the kernel
        replayer reads each group's ``memory.stat``."""
        for vec in self._vecs.values():
            vec.flush()
        self._flush_time = self.now

    def _flush_ratelimited(self) -> None:
        """``mem_cgroup_flush_stats_ratelimited``: flush if the periodic flush (every 2 s) is
        due on the model's clock."""
        if self.now - self._flush_time >= FLUSH_TIME_US:
            self.flush_stats()

    # ================================================================== charging =============
    def _alloc_page(self) -> None:
        """The page allocator for one page (``get_page_from_freelist`` / the slow path): below
        the low watermark kswapd is woken; below min the allocating task reclaims directly
        (``try_to_free_pages``), retrying while it makes progress."""
        if self.resident_pages + self.pgtable_pages < self._no_pressure_below:
            return  # even a full zswap pool leaves RAM above the low watermark
        free = self.free_pages()
        if free - 1 > self.wmark_low:
            return
        self._wakeup_kswapd()
        if free - 1 > self.wmark_min:
            return
        if self._in_reclaim:
            return  # PF_MEMALLOC: reclaim's own allocations dip into the reserves
        retries = MAX_RECLAIM_RETRIES
        while self.free_pages() - 1 <= self.wmark_min:
            self.stats.allocstall += 1
            got = self.try_to_free_pages()
            if not got:
                retries -= 1
                if retries <= 0:
                    self.stats.global_oom += 1
                    return

    def free_pages(self) -> int:
        """Free RAM in pages: RAM minus folios, page tables and zswap's pool."""
        return self.ram_pages - self.resident_pages - self.pgtable_pages - \
            self.zswap.total_pages()

    def _charge(self, memcg: MemCgroup, nr: int) -> None:
        """``try_charge_memcg``: charge ``nr`` pages (``page_counter_try_charge``:
        :meth:`MemCgroup.over_limit` finds the group a charge would take over its limit); over a
        limit, reclaim from the group over
        it (``try_to_free_mem_cgroup_pages``) and retry while that makes progress, 16 fruitless
        retries at most (then the kernel's OOM: counted, the charge forced). Inside reclaim
        (``PF_MEMALLOC``) the charge is forced at once."""
        retries = MAX_RECLAIM_RETRIES
        v2 = self.v2
        while True:
            over = memcg.over_limit(nr, v2)
            if over is None or self._in_reclaim:
                memcg.charge_memory(nr)
                if self._oom and over is None:
                    self._oom.clear()  # back under the limits: reclaim works again
                return
            st = self.stats
            st.memcg_reclaims[over.path] = st.memcg_reclaims.get(over.path, 0) + 1
            got = self.try_to_free_mem_cgroup_pages(over, nr)
            if memcg.over_limit(nr, v2) is None:
                self._oom.discard(over.id)
                continue
            if got:
                self._oom.discard(over.id)
                continue
            retries -= 1
            if retries <= 0 or over.id in self._oom:
                # The kernel's memcg OOM: it would kill a task of the group. The model has
                # none to kill: the charge is forced and counted, and until reclaim makes
                # progress again the group's charges try once instead of 16 times.
                self._oom.add(over.id)
                st.memcg_oom += 1
                st.over_limit += 1
                memcg.charge_memory(nr)
                return

    # ================================================================== reclaim entry points =
    def try_to_free_mem_cgroup_pages(self, memcg: MemCgroup, nr_pages: int, *,
                                     proactive: bool = False,
                                     swappiness: int | None = None) -> int:
        """``try_to_free_mem_cgroup_pages``: reclaim ``max(nr_pages, 32)`` pages from the
        group and its descendants; the number reclaimed."""
        sc = _Scan(self._lruvec(memcg), max(nr_pages, SWAP_CLUSTER_MAX), proactive=proactive,
                   swappiness=swappiness)
        return self._do_try_to_free_pages(sc)

    def try_to_free_pages(self) -> int:
        """``try_to_free_pages``: global direct reclaim of 32 pages."""
        self.stats.direct_reclaims += 1
        return self._do_try_to_free_pages(_Scan(None, SWAP_CLUSTER_MAX))

    def _do_try_to_free_pages(self, sc: _Scan) -> int:
        """``do_try_to_free_pages``: shrink the node at priority 12, 11, ... 0 until enough is
        reclaimed; then, if nothing was, retry with a full cgroup walk and with forced
        deactivation (when deactivation was skipped)."""
        self._in_reclaim += 1
        try:
            while True:
                sc.priority = DEF_PRIORITY
                while True:
                    sc.nr_scanned = 0
                    self._shrink_node(sc)
                    if sc.nr_reclaimed >= sc.nr_to_reclaim:
                        break
                    sc.priority -= 1
                    if sc.priority < 0:
                        break
                target = sc.target if sc.target is not None else self._root_vec
                target.refaults = target.flushed[2]  # snapshot_refaults
                if sc.nr_reclaimed:
                    return sc.nr_reclaimed
                if not sc.full_walk:
                    sc.full_walk = True
                    continue
                if sc.skipped_deactivate:
                    sc.force_deactivate = True
                    sc.skipped_deactivate = False
                    continue
                return 0
        finally:
            self._in_reclaim -= 1

    def _shrink_node(self, sc: _Scan) -> None:
        """``shrink_node``: ``prepare_scan_control`` (costs, ``may_deactivate`` from refaults
        or a low inactive list, ``file_is_tiny`` for global reclaim), then the memcgs."""
        target = sc.target if sc.target is not None else self._root_vec
        sc.anon_cost = target.anon_cost
        sc.file_cost = target.file_cost
        if not sc.force_deactivate:
            self._flush_ratelimited()
            sc.may_deactivate = (target.flushed[2] != target.refaults
                                 or self._inactive_is_low(target))
        else:
            sc.may_deactivate = True
        if sc.target is None:
            # No file pages in the model: file + free <= high watermark is free <= high.
            free = self.free_pages()
            sc.file_is_tiny = (free <= self.wmark_high and not sc.may_deactivate
                               and (self._root_vec.hier("nr_inactive") >> sc.priority) > 0)
        self._shrink_node_memcgs(sc)

    def _shrink_node_memcgs(self, sc: _Scan) -> None:
        """``shrink_node_memcgs``: each memcg of the target's subtree in pre-order, its lruvec
        and its slab shrinkers. A direct reclaimer walks partially from where the last walk
        of this target stopped and stops once it has enough (kswapd and full walks do all)."""
        target = sc.target if sc.target is not None else self._root_vec
        order = [m for m in mem_cgroup_iter_list(target.memcg) if m.id in self._vecs]
        start = 0
        partial = not sc.full_walk
        if partial:
            pos = self._walk_pos.get(target.memcg.id, -1)
            ids = [m.id for m in order]
            start = ids.index(pos) + 1 if pos in ids else 0
            if start >= len(order):
                start = 0
        for i in range(len(order)):
            memcg = order[(start + i) % len(order)] if partial else order[i]
            vec = self._vecs[memcg.id]
            self._shrink_lruvec(vec, sc)
            self._shrink_slab(memcg, sc.priority)
            if partial:
                self._walk_pos[target.memcg.id] = memcg.id
                if sc.nr_reclaimed >= sc.nr_to_reclaim:
                    break
        if partial and len(order) and self._walk_pos.get(target.memcg.id) == order[-1].id:
            self._walk_pos[target.memcg.id] = -1

    def _inactive_is_low(self, vec: _LruVec) -> bool:
        """``inactive_is_low`` for anon: inactive * ratio < active, ratio = sqrt(10 * GB) of
        the lists' size (1 under a gigabyte); the memcg statistics as last flushed."""
        inactive, active, _ = vec.flushed
        gb = (inactive + active) >> (30 - PAGE_SHIFT)
        ratio = math.isqrt(10 * gb) if gb else 1
        return inactive * ratio < active

    def _get_scan_count(self, vec: _LruVec, sc: _Scan) -> tuple[int, int]:
        """``get_scan_count`` for the anon lists (the model has no file pages): how many of
        the inactive and the active list to scan at this priority."""
        memcg = vec.memcg
        swappiness = sc.swappiness if sc.proactive and sc.swappiness is not None \
            else self._swappiness(memcg)
        if self._nr_swap_free() <= 0:
            return 0, 0  # SCAN_FILE: anon cannot be reclaimed
        if self.v2 and memcg.swap_margin() <= 0:
            return 0, 0  # can_reclaim_anon_pages: mem_cgroup_get_nr_swap_pages() is 0
        if sc.target is not None and not swappiness:
            return 0, 0  # SCAN_FILE
        equal = (not sc.priority and swappiness) or sc.file_is_tiny
        if not equal:
            total = sc.anon_cost + sc.file_cost
            anon_cost = total + sc.anon_cost
            file_cost = total + sc.file_cost
            total = anon_cost + file_cost
            ap = swappiness * (total + 1) // (anon_cost + 1)
            fp = (MAX_SWAPPINESS - swappiness) * (total + 1) // (file_cost + 1)
            denominator = ap + fp
        out = []
        online = memcg.online
        for size in (vec.nr_inactive, vec.nr_active):
            scan = size >> sc.priority
            if not scan and not online:
                scan = min(size, SWAP_CLUSTER_MAX)
            if not equal:
                scan = scan * ap // denominator if denominator else 0
            out.append(scan)
        return out[0], out[1]

    def _shrink_lruvec(self, vec: _LruVec, sc: _Scan) -> None:
        """``shrink_lruvec``: scan the lists in chunks of 32 until the counts are done (the
        active anon list does not keep the loop going) or, outside proportional global
        reclaim, enough is reclaimed; then age the active list by 32 if the inactive one is
        low."""
        nr_inactive, nr_active = self._get_scan_count(vec, sc)
        proportional = sc.target is None and not sc.kswapd and sc.priority == DEF_PRIORITY
        reclaimed = 0
        while nr_inactive:  # with no file lists, only inactive anon keeps the loop going
            scan = min(nr_inactive, SWAP_CLUSTER_MAX)
            nr_inactive -= scan
            reclaimed += self._shrink_inactive_list(scan, vec, sc)
            if nr_active:  # shrink_list on the active list
                scan = min(nr_active, SWAP_CLUSTER_MAX)
                nr_active -= scan
                if sc.may_deactivate:
                    self._shrink_active_list(scan, vec, sc)
                else:
                    sc.skipped_deactivate = True
            if reclaimed < sc.nr_to_reclaim or proportional:
                continue
            break  # no file pages: the proportional adjustment ends the loop
        sc.nr_reclaimed += reclaimed
        if self._nr_swap_free() > 0 and self._inactive_is_low(vec):
            self._shrink_active_list(SWAP_CLUSTER_MAX, vec, sc)

    def _shrink_active_list(self, nr_to_scan: int, vec: _LruVec, sc: _Scan) -> None:
        """``shrink_active_list``: take ``nr_to_scan`` folios from the active tail; each has its
        references cleared (``folio_referenced``) and, being anon, is deactivated
        (``PG_workingset`` set) onto the inactive head."""
        nxt, prv = self._mv_nxt, self._mv_prv
        flags, young = self._mv_flags, self._mv_young
        h = vec.aa
        taken: list[int] = []
        while len(taken) < nr_to_scan:
            g = prv[h]
            if g == h:
                break
            self._lru_del(g)
            vec.nr_active -= 1
            taken.append(g)
        st = self.stats
        st.pgrefill += len(taken)
        self.now += self.costs.scan * len(taken)
        for g in taken:
            young[g] = 0  # folio_referenced clears the PTE's young bit
            flags[g] = (flags[g] & ~F_ACTIVE) | F_WORKINGSET
            self._lru_add(g, vec, False)
        st.pgdeactivate += len(taken)
        del nxt

    def _shrink_inactive_list(self, nr_to_scan: int, vec: _LruVec, sc: _Scan) -> int:
        """``shrink_inactive_list``: isolate up to ``nr_to_scan`` folios from the inactive tail,
        ``shrink_folio_list`` them, put the rest back (activated ones on the active list), note
        the cost; folios whose device write ended rotate to the tail
        (``folio_rotate_reclaimable``)."""
        prv, nxt = self._mv_prv, self._mv_nxt
        h = vec.ia
        isolated: list[int] = []
        g = prv[h]
        while g != h and len(isolated) < nr_to_scan:  # isolate_lru_folios, from the tail
            isolated.append(g)
            g = prv[g]
        if not isolated:
            return 0
        prv[h] = g  # unlink them all: the list now ends at g
        nxt[g] = h
        vec.nr_inactive -= len(isolated)
        st = self.stats
        n = len(isolated)
        st.pgscan_anon += n
        if sc.kswapd:
            st.pgscan_kswapd += n
        st.reclaim_batches += 1
        self.now += self.costs.scan * n
        reclaimed, pageout, keep, rotate = self._shrink_folio_list(isolated, vec, sc)
        flags = self._mv_flags
        for g in keep:  # move_folios_to_lru
            if flags[g] & F_ACTIVE:
                self._lru_add(g, vec, True)
                self._age_nonresident(vec, 1)
            else:
                self._lru_add(g, vec, False)
        for g in rotate:  # the device write ended: folio_rotate_reclaimable
            if flags[g] & F_PRESENT and not flags[g] & F_ACTIVE:
                self._lru_del(g)
                vec.nr_inactive -= 1
                self._lru_add(g, vec, False, tail=True)
            flags[g] &= ~F_RECLAIM
        st.pgsteal_anon += reclaimed
        if sc.kswapd:
            st.pgsteal_kswapd += reclaimed
        self._lru_note_cost(vec, pageout, n - reclaimed)
        return reclaimed

    def _lru_note_cost(self, vec: _LruVec, nr_io: int, nr_rotated: int) -> None:
        """``lru_note_cost`` (anon): cost = io * 32 + rotations, on the lruvec and its
        ancestors, halved when it exceeds a quarter of the lists."""
        cost = nr_io * SWAP_CLUSTER_MAX + nr_rotated
        v: _LruVec | None = vec
        while v is not None:
            v.anon_cost += cost
            if v.anon_cost + v.file_cost > (v.nr_inactive + v.nr_active) // 4:
                v.anon_cost //= 2
                v.file_cost //= 2
            v = v.parent

    def _shrink_folio_list(self, folios: list[int], vec: _LruVec, sc: _Scan,
                           ignore_references: bool = False
                           ) -> tuple[int, int, list[int], list[int]]:
        """``shrink_folio_list`` for anon folios, oldest first. Returns (reclaimed, written
        out, the folios kept (to put back), those whose device write ended)."""
        flags, mapped, young, dirty = self._mv_flags, self._mv_mapped, self._mv_young, \
            self._mv_dirty
        slot_v = self._mv_slot
        core = self.core
        st = self.stats
        costs = self.costs
        reclaimed = pageout = 0
        keep: list[int] = []
        rotate: list[int] = []
        target = sc.target if sc.target is not None else self._root_vec
        zmemcg = vec.memcg if vec.memcg.parent is not None else None  # the folios' memcg
        truth_v = self._truth_v
        shadow_v, shadow_memcg_v = self._mv_shadow, self._mv_shadow_memcg
        target_id = target.memcg.id
        types = core.table.types()
        dev1 = core.table.device(types[0]) if len(types) == 1 else None
        type1 = types[0] << SWP_TYPE_SHIFT if types else 0
        v2 = self.v2
        for g in folios:
            if self._bg_next <= self.now:
                self._background()
            fl = flags[g]
            if not ignore_references:
                # folio_check_references
                ref_ptes = young[g] if mapped[g] else 0
                young[g] = 0
                ref_folio = fl & F_REFERENCED
                fl &= ~F_REFERENCED
                if ref_ptes:
                    fl |= F_REFERENCED
                    flags[g] = fl
                    if ref_folio:
                        self._activate(g)
                    keep.append(g)  # FOLIOREF_KEEP (or activated)
                    continue
                flags[g] = fl
            # FOLIOREF_RECLAIM
            if not fl & F_SWAPCACHE:
                # add_to_swap -> folio_alloc_swap: a slot, charged to the folio's memcg
                # (mem_cgroup_try_charge_swap; the model charges before it allocates, the
                # kernel frees the slot again when the charge fails: the same outcome)
                if v2 and not vec.memcg.try_charge_swap(1):
                    self._activate(g)
                    keep.append(g)
                    continue
                if dev1 is None:
                    swp = core.folio_alloc_swap()
                else:  # the same, on the only swap device, without two layers of dispatch
                    off = dev1.alloc_slots(1)
                    swp = None if off is None else type1 | off
                if swp is None:
                    if v2:
                        vec.memcg.uncharge_swap(1)
                    self._activate(g)
                    keep.append(g)
                    continue
                fl |= F_SWAPCACHE
                flags[g] = fl
                slot_v[g] = swp
                self._swap_used += 1
                self._set_slot_owner(swp, g)
                dirty[g] = 1
            if mapped[g]:  # try_to_unmap: the PTE now holds the swap entry
                mapped[g] = 0
            if dirty[g]:
                # pageout -> swap_writeout
                dirty[g] = 0
                t0 = _clock()
                try:
                    result = core.swap_writeout(slot_v[g], truth_v[
                        g * PAGE_SIZE:(g + 1) * PAGE_SIZE], zmemcg)
                except OSError:
                    dirty[g] = 1  # the write failed: the folio keeps its data, dirty
                    keep.append(g)
                    continue
                if self.on_swap is not None:
                    self.on_swap("out", _clock() - t0)
                if self._wb_folios:
                    self._drain_wb_folios()
                if result == AOP_WRITEPAGE_ACTIVATE:
                    dirty[g] = 1
                    st.pageout_activate += 1
                    self._activate(g)
                    keep.append(g)
                    continue
                pageout += 1
                if result == "disk":
                    self.now += costs.disk_write
                    flags[g] |= F_RECLAIM  # under writeback: back on the list, rotate later
                    keep.append(g)
                    rotate.append(g)
                    continue
                self.now += costs.zswap_store if result == "zswap" else costs.zero_io
            # __remove_mapping: leave a shadow (workingset_eviction: the target lruvec's
            # non-resident age, then aged by one), drop the swap cache, free.
            shadow_v[g] = target.nonresident_age
            shadow_memcg_v[g] = target_id
            self._age_nonresident(target, 1)
            flags[g] = F_SHADOW_WS if flags[g] & F_WORKINGSET else 0
            reclaimed += 1
        if reclaimed:  # the freed folios are uncharged together (mem_cgroup_uncharge_folios)
            self.resident_pages -= reclaimed
            vec.memcg.uncharge_memory(reclaimed)
        return reclaimed, pageout, keep, rotate

    def _activate(self, g: int) -> None:
        """``activate_locked``: free the swap slot if swap is full (only a mapped folio's slot
        is unused: once unmapped, the page table holds it), set PG_active (``pgactivate``)."""
        if self._mv_flags[g] & F_SWAPCACHE and self._mv_mapped[g] and self._swap_full(
                self._proc_list[self._mv_owner[g]].memcg):
            self._free_swap(g)
        self._mv_flags[g] |= F_ACTIVE
        self.stats.pgactivate += 1

    def _set_slot_owner(self, swp: int, g: int) -> None:
        if self._swap_type < 0:
            self._swap_type = swp >> SWP_TYPE_SHIFT
        off = swp & SWP_OFFSET_MASK
        if off >= len(self._slot_owner):
            n = self.core.table.device(swp >> SWP_TYPE_SHIFT).nr_pages
            grown = np.full(max(n, off + 1), -1, dtype=np.int64)
            grown[:len(self._slot_owner)] = self._slot_owner
            self._slot_owner = grown
            self._slot_owner_v = grown.data
        self._slot_owner_v[off] = g

    # ================================================================== zswap writeback ======
    def _on_writeback(self, swp_type: int, offset: int) -> None:
        """zswap wrote an entry back: ``zswap_writeback_entry``'s swap-cache folio now exists
        (handled by :meth:`_drain_wb_folios` once zswap has returned)."""
        self._wb_count += 1
        self._wb_folios.append(offset)

    def _drain_wb_folios(self) -> None:
        """The folios zswap's writeback allocated: charged to the page's memcg (reclaiming if
        needed, outside reclaim), in the swap cache, clean, unmapped, written (their write
        ended: at the inactive tail, where the next scan frees them)."""
        pending, self._wb_folios = self._wb_folios, []
        owner_v, flags = self._slot_owner_v, self._mv_flags
        for off in pending:
            g = owner_v[off] if off < len(self._slot_owner) else -1
            if g < 0 or flags[g] & (F_PRESENT | F_SWAPCACHE):
                continue  # being read in already (the kernel's writeback got -EEXIST)
            proc = self._proc_list[self._mv_owner[g]]
            self._alloc_page()
            self._charge(proc.memcg, 1)
            if flags[g] & F_PRESENT:  # the charge's reclaim cannot bring it in; defensive
                continue
            flags[g] = F_PRESENT | F_SWAPCACHE
            self._mv_dirty[g] = 0
            self._mv_shadow[g] = -1
            self.resident_pages += 1
            self._lru_add(g, proc.vec, False, tail=True)
            self.stats.writeback_folios += 1

    # ================================================================== slab shrinkers =======
    def _shrink_slab(self, memcg: MemCgroup, priority: int) -> None:
        """``shrink_slab``: for a non-root memcg only the memcg-aware shrinkers run (zswap's);
        for the root every shrinker (zsmalloc's compaction, one per pool, and zswap's on the
        root list)."""
        z = self.zswap
        root = memcg.parent is None
        if z.get_param("shrinker_enabled"):
            zm = None if root else memcg
            self._do_shrink_slab(("zswap", memcg.id), lambda: z.shrinker_count(zm),
                                 lambda nr: self._zswap_scan(zm, nr), priority)
        if root:
            for pool in z.pools():
                zs = pool.zs_pool

                def compact(nr: int, zs: Any = zs) -> int:
                    return self._compact(zs)

                self._do_shrink_slab(("zsmalloc", pool.id), zs.compactable_pages, compact,
                                     priority)

    def _zswap_scan(self, memcg: MemCgroup | None, nr: int) -> int:
        self.stats.shrinker_scanned += nr
        ret = self.zswap.shrinker_scan(memcg, nr)
        self._drain_wb_folios()
        return ret

    def _compact(self, zs: Any) -> int:
        """``zs_shrinker_scan``: compact the whole pool."""
        if zs.destroyed:
            return SHRINK_STOP
        freed = int(zs.compact())
        self.stats.compactions += 1
        self.stats.pages_compacted += freed
        return freed if freed else SHRINK_STOP

    def _do_shrink_slab(self, key: tuple[str, int], count: Callable[[], int],
                        scan: Callable[[int], int], priority: int) -> None:
        """``do_shrink_slab``: ``freeable >> priority * 4 / seeks`` plus the deferred work,
        at most twice the freeable objects, scanned in batches of 128 (or all of it when the
        total reaches the freeable count); what is not scanned is deferred."""
        freeable = count()
        if freeable <= 0:
            return
        nr = self._shrinker_deferred.pop(key, 0)
        delta = (freeable >> priority) * 4 // DEFAULT_SEEKS
        total_scan = min((nr >> priority) + delta, 2 * freeable)
        scanned = 0
        while total_scan >= SHRINK_BATCH or total_scan >= freeable:
            nr_to_scan = min(SHRINK_BATCH, total_scan)
            ret = scan(nr_to_scan)
            if ret == SHRINK_STOP:
                break
            total_scan -= nr_to_scan
            scanned += nr_to_scan
        deferred = min(max(nr + delta - scanned, 0), 2 * freeable)
        if deferred:
            self._shrinker_deferred[key] = deferred

    # ================================================================== kswapd ===============
    def _wakeup_kswapd(self) -> None:
        """``wakeup_kswapd``: unless it is running, or has failed 16 times in a row."""
        if self._kswapd_awake or self._kswapd_failures >= MAX_RECLAIM_RETRIES:
            return
        if self.free_pages() > self.wmark_high:
            return
        self._kswapd_awake = True
        self._kswapd_time = max(self._kswapd_time, self.now) + self.costs.wakeup
        self._kswapd_sc = _Scan(None, 0, kswapd=True)
        self._kswapd_reclaimed = 0
        self.stats.kswapd_wakeups += 1
        self._bg_next = min(self._bg_next, self._kswapd_time)

    _kswapd_sc: _Scan
    _kswapd_reclaimed: int

    def _kswapd_step(self) -> None:
        """One iteration of ``balance_pgdat`` at kswapd's time: done when the zone is above
        its high watermark; else ``kswapd_shrink_node`` (reclaim the high watermark's worth at
        this priority) and raise the priority when that scanned too little or reclaimed
        nothing."""
        saved, self.now = self.now, self._kswapd_time
        sc = self._kswapd_sc
        if self.free_pages() > self.wmark_high or sc.priority < 1:
            self._kswapd_awake = False
            if self._kswapd_reclaimed:
                self._kswapd_failures = 0
            else:
                self._kswapd_failures += 1
            self._root_vec.refaults = self._root_vec.flushed[2]
            self.now = saved
            return
        before = sc.nr_reclaimed
        sc.nr_to_reclaim = max(self.wmark_high, SWAP_CLUSTER_MAX)
        sc.nr_scanned = 0
        start = self.now
        self._in_reclaim += 1
        try:
            self._shrink_node(sc)
        finally:
            self._in_reclaim -= 1
        got = sc.nr_reclaimed - before
        self._kswapd_reclaimed += got
        if not (sc.nr_scanned >= sc.nr_to_reclaim) or not got:
            sc.priority -= 1
        self._kswapd_time = max(self.now, start + self.costs.scan)
        self.now = saved

    # ================================================================== controls =============
    def _madvise_range(self, pid: int, first: int, last: int, what: str) -> list[int]:
        """The pages ``madvise_cold_or_pageout_pte_range`` visits: present PTEs of a running
        process's range (swap entries and untouched pages are skipped)."""
        proc = self._procs.get(pid)
        if proc is None or not proc.started or proc.exited:
            raise InvalidParameter(f"{what} of process {pid}, which is not running")
        if not 0 <= first <= last < proc.npages:
            raise InvalidParameter(f"{what} {first}-{last} is outside process {pid}")
        self._background()
        lo = proc.base
        return (np.flatnonzero(self.mapped[lo + first:lo + last + 1]) + lo + first).tolist()

    def pageout(self, pid: int, first: int, last: int) -> int:
        """``madvise(MADV_PAGEOUT)`` of pages ``first..last`` (``madvise_cold_or_pageout_pte_range``
        with ``pageout``): each mapped folio has ``PG_referenced`` cleared (the PTE's young bit
        stays: only MADV_COLD clears it), an active one is marked workingset, and all are
        isolated and reclaimed now by ``reclaim_pages``, which clears ``PG_active`` and runs
        ``shrink_folio_list`` ignoring references; what it keeps goes back on its list
        (``folio_putback_lru``). Returns the number reclaimed."""
        gs = self._madvise_range(pid, first, last, "pageout")
        proc = self._procs[pid]
        flags, vec = self._mv_flags, proc.vec
        for g in gs:
            fl = flags[g]
            if fl & F_ACTIVE:
                vec.nr_active -= 1
                fl |= F_WORKINGSET
            else:
                vec.nr_inactive -= 1
            flags[g] = fl & ~(F_REFERENCED | F_ACTIVE)
            self._lru_del(g)
        sc = _Scan(None, len(gs))
        self._in_reclaim += 1  # reclaim_pages: memalloc_noreclaim_save
        try:
            reclaimed, _, keep, rotate = self._shrink_folio_list(gs, vec, sc,
                                                                 ignore_references=True)
        finally:
            self._in_reclaim -= 1
        for g in keep:
            self._lru_add(g, vec, bool(flags[g] & F_ACTIVE))
        for g in rotate:
            flags[g] &= ~F_RECLAIM
        return reclaimed

    def cold(self, pid: int, first: int, last: int) -> int:
        """``madvise(MADV_COLD)`` of pages ``first..last`` (``madvise_cold_or_pageout_pte_range``
        without ``pageout``): each mapped folio's PTE young bit and ``PG_referenced`` are
        cleared, an active folio is marked workingset and deactivated (``folio_deactivate`` →
        ``lru_deactivate``: to the head of the inactive list, ``pgdeactivate``); inactive ones
        stay where they are. Nothing is reclaimed now. Returns the number deactivated."""
        gs = self._madvise_range(pid, first, last, "cold")
        proc = self._procs[pid]
        flags, vec, young = self._mv_flags, proc.vec, self._mv_young
        moved = 0
        for g in gs:
            young[g] = 0
            fl = flags[g] & ~F_REFERENCED
            if fl & F_ACTIVE:
                self._lru_del(g)
                vec.nr_active -= 1
                flags[g] = (fl | F_WORKINGSET) & ~F_ACTIVE
                self._lru_add(g, vec, False)
                moved += 1
            else:
                flags[g] = fl
        self.stats.pgdeactivate += moved
        return moved

    def memory_reclaim(self, memcg: MemCgroup, nbytes: int,
                       swappiness: int | None = None) -> bool:
        """``memory.reclaim`` (``user_proactive_reclaim``): proactive reclaim of ``nbytes``
        from the group in batches of a quarter of what is left
        (``try_to_free_mem_cgroup_pages`` makes that at least 32 pages), with ``swappiness``
        instead of the group's when given; False (the write's ``-EAGAIN``) once an attempt
        reclaims nothing after ``MAX_RECLAIM_RETRIES`` (16) such attempts, before the goal.
        ``MemCgroup.write("memory.reclaim", ...)`` of this model's hierarchy calls it."""
        self._background()
        goal = nbytes // PAGE_SIZE
        done = 0
        retries = MAX_RECLAIM_RETRIES
        while done < goal:
            batch = (goal - done) // 4
            got = self.try_to_free_mem_cgroup_pages(memcg, batch, proactive=True,
                                                    swappiness=swappiness)
            if not got:
                if retries <= 0:
                    self.stats.reclaim_eagain += 1
                    return False
                retries -= 1
            done += got
        return True

    def set_min_free_kbytes(self, kbytes: int) -> None:
        """Write ``vm.min_free_kbytes`` (``min_free_kbytes_sysctl_handler`` →
        ``setup_per_zone_wmarks``): the zone's min, low and high watermarks follow at once;
        kswapd and direct reclaim act on the next allocation."""
        if isinstance(kbytes, bool) or not isinstance(kbytes, int) or kbytes < 0:
            raise InvalidParameter(f"min_free_kbytes must be a non-negative integer, got "
                                   f"{kbytes!r}")
        self.min_free_kbytes = kbytes
        self.wmark_min, self.wmark_low, self.wmark_high = watermarks(self.ram_pages, kbytes)
        max_pool = self.zswap.max_pages()
        #: Below this many resident and page-table pages no allocation can reach the low
        #: watermark, whatever zswap's pool holds (its limit, plus one zspage of slack).
        self._no_pressure_below = (self.ram_pages - self.wmark_low - 1 - (max_pool + 8)
                                   if max_pool is not None else -1)

    def idle(self, seconds: float) -> None:
        """The workload sleeps for ``seconds`` (``usleep``): the model's clock advances and the
        background work due by then (kswapd, zswap's shrink worker) runs."""
        if not seconds >= 0:
            raise InvalidParameter(f"idle time must be >= 0, got {seconds!r}")
        self.now += seconds * 1e6
        self._background()

    def set_limit(self, memcg: MemCgroup, name: str, value: str) -> None:
        """Write a cgroup file now. A lower memory limit reclaims down to it first, as
        ``memory_max_write`` (v2: then OOM, counted) or ``mem_cgroup_resize_max`` (v1: the
        old limit stays when reclaim cannot make room: ``-EBUSY``) do."""
        self._background()
        if name not in (memcg.limit_file,):
            memcg.write(name, value)
            return
        if not self.v2:
            # mem_cgroup_resize_max: the new limit is set once the usage fits under it.
            old = memcg.memory_max_pages
            memcg.write(name, value)
            limit = memcg.memory_max_pages
            memcg.write(name, str(old * PAGE_SIZE))
            while self._usage(memcg) > limit:
                if not self.try_to_free_mem_cgroup_pages(memcg, 1):
                    return  # -EBUSY: the old limit stays
            memcg.write(name, value)
            return
        memcg.write(name, value)  # memory_max_write: set first, then reclaim down to it
        limit = memcg.memory_max_pages
        retries = MAX_RECLAIM_RETRIES
        while self._usage(memcg) > limit:
            if retries:
                if not self.try_to_free_mem_cgroup_pages(memcg, self._usage(memcg) - limit):
                    retries -= 1
                continue
            self.stats.memcg_oom += 1
            return

    # ================================================================== reports ==============
    def lru_sizes(self) -> dict[str, dict[str, int]]:
        """Inactive/active anon pages per memcg path (own lists)."""
        return {v.memcg.path: {"inactive_anon": v.nr_inactive, "active_anon": v.nr_active}
                for v in self._vecs.values()}

    def swapcache_pages(self) -> int:
        return int(np.count_nonzero(self.flags[:self._n] & F_SWAPCACHE))


def mem_cgroup_iter_list(root: MemCgroup) -> list[MemCgroup]:
    """The online groups of ``root``'s subtree in ``mem_cgroup_iter`` order (pre-order)."""
    out = []
    memcg = mem_cgroup_iter(root, None)
    while memcg is not None:
        out.append(memcg)
        memcg = mem_cgroup_iter(root, memcg)
    return out


_EMPTY: Final = np.zeros(0, dtype=np.int64)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)


def _write_offsets_np(seed: int, n0: int, count: int
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`pyzswap.run.trace.write_offsets` for writes ``n0 .. n0 + count - 1`` at once."""
    n = np.arange(n0, n0 + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (np.uint64(seed & ((1 << 64) - 1)) ^ n) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z ^= z >> np.uint64(31)
    src = ((z & np.uint64(15)) * np.uint64(256)).astype(np.int64)
    dst = (((z >> np.uint64(4)) & np.uint64(15)) * np.uint64(256)).astype(np.int64)
    same = dst == src
    dst[same] = (src[same] + 256) % PAGE_SIZE
    return src, dst


def _write_offsets(seed: int, n: int) -> tuple[int, int]:
    from .trace import write_offsets

    return write_offsets(seed, n)
