"""What every part of the mm model shares: the kernel's constants, the folio flags, the
per-lruvec, per-process and per-reclaim state (``struct lruvec``, the process, ``struct
scan_control``), the nominal costs of the model's clock, the statistics and the errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Final

from ...errors import ZswapError
from ...memcg import MemCgroup, mem_cgroup_iter

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

# Folio flags (the kernel's page flags the model needs), in ``MemoryModel.flags``.
F_PRESENT: Final = 1        # the folio is in memory (mapped, or unmapped in the swap cache)
F_SWAPCACHE: Final = 2      # PG_swapcache: the folio holds its swap slot
F_ACTIVE: Final = 4         # PG_active
F_REFERENCED: Final = 8     # PG_referenced
F_WORKINGSET: Final = 16    # PG_workingset
F_RECLAIM: Final = 32       # PG_reclaim: written to the device, rotate when the write ends
F_READAHEAD: Final = 64     # PG_readahead
F_SHADOW_WS: Final = 128    # the shadow left at eviction says "was workingset"

#: ``swp_entry`` of a page without a slot.
NO_SLOT: Final = -1


class LostPage(ZswapError):
    """A fault returned different bytes than the page last held: data was lost."""


class OutOfMemory(ZswapError):
    """Reclaim could not make room (no swap space left, or RAM smaller than the pool)."""


@dataclass
class Costs:
    """Costs (µs of kernel time) of the operations that advance the model's clock.

    They only decide how much background work (zswap's pool-limit worker, kswapd) happens
    while the workload runs, never what a rule decides; with a pool limit the worker's pace
    against the workload's decides how many stores the limit rejects. Where a figure is
    measured, it is this project's reference machine (a 2-vCPU x86-64 guest, virtio disk, Linux
    6.18) replaying the fidelity suite's traces (``pyzswap kernel run``), docs/KERNEL_ORACLE.md
    "What paces the shrink worker": ``perf record -a -g`` of the *scan* replay (lzo, real pages)
    for the store, load and scan costs (``zswap_store``, ``zswap_load`` and
    ``shrink_folio_list`` outside ``swap_writeout``, per event, less perf's own 1.29x); wall
    minus CPU time over ``pswpin`` of the *poolhit* replays for a disk read; the
    ``workqueue_execute_start``/``_end`` tracepoints around ``shrink_worker`` with 100 empty
    memory cgroups added and without for the worker's walk. The others are nominal.
    """

    access: float = 0.02        #: an access to a resident page (the workload's own loop)
    minor_fault: float = 0.5    #: a fault served without I/O (swap cache hit)
    first_touch: float = 1.0    #: allocate, charge and fill a new page
    zswap_load: float = 5.0     #: a swap-in from zswap (measured: lzo, real pages)
    zero_io: float = 0.5        #: a swap-in or swap-out through the zero map
    zswap_store: float = 10.5   #: a swap-out into zswap (measured: lzo, real pages)
    disk_read: float = 48.0     #: a swap-in from the device: the fault waits (measured)
    disk_write: float = 4.0     #: a swap-out to the device (submitted, asynchronous)
    scan: float = 1.2           #: reclaim's work per page scanned, store aside (measured)
    writeback: float = 8.0      #: zswap writes back one entry (folio, decompress, submit)
    worker_idle: float = 0.75   #: a shrink-worker step that rotated an entry (measured)
    #: a shrink-worker step on an online group with no zswap entries (measured)
    worker_enoent: float = 0.17
    #: the worker's walk passing one dying (offline, not yet freed) group (measured)
    memcg_dying: float = 0.033
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



class LruVec:
    """One memcg's lruvec (one node): its two anon lists (sentinel nodes in the page arrays)
    and the per-lruvec state reclaim and the workingset code keep."""

    __slots__ = ("aa", "anon_cost", "children", "depth", "file_cost", "flushed", "ia", "memcg",
                 "nonresident_age", "nr_active", "nr_inactive", "parent", "refaults",
                 "ws_activate", "ws_refault")

    def __init__(self, memcg: MemCgroup, parent: LruVec | None, ia: int, aa: int) -> None:
        self.memcg = memcg
        self.parent = parent
        self.children: list[LruVec] = []
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

    def subtree(self) -> Iterator[LruVec]:
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


class Proc:
    __slots__ = ("base", "exited", "idx", "memcg", "npages", "pid", "pt", "started", "vec",
                 "zmemcg")

    def __init__(self, pid: int, idx: int, base: int, npages: int, memcg: MemCgroup,
                 vec: LruVec, zmemcg: MemCgroup | None) -> None:
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


class ScanControl:
    """``struct scan_control``: what one reclaim invocation wants and has done."""

    __slots__ = ("anon_cost", "file_cost", "file_is_tiny", "force_deactivate", "full_walk",
                 "kswapd", "may_deactivate", "nr_reclaimed", "nr_scanned", "nr_to_reclaim",
                 "priority", "proactive", "skipped_deactivate", "swappiness", "target")

    def __init__(self, target: LruVec | None, nr_to_reclaim: int, *, kswapd: bool = False,
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


def mem_cgroup_iter_list(root: MemCgroup) -> list[MemCgroup]:
    """The online groups of ``root``'s subtree in ``mem_cgroup_iter`` order (pre-order)."""
    out = []
    memcg = mem_cgroup_iter(root, None)
    while memcg is not None:
        out.append(memcg)
        memcg = mem_cgroup_iter(root, memcg)
    return out
