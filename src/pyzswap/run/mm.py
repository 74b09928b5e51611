"""The "mm" around zswap: processes, RAM, LRU lists, reclaim and page faults.

A deliberately small model of Linux memory management, enough to put zswap under the pressure a
real workload would:

* **Processes** own virtual pages with real contents (the *truth*, kept by the model so every
  fault can be checked). A page is resident or swapped out (then it has a swap entry).
* **RAM** is ``ram_pages`` 4 KiB pages shared by resident pages *and* zswap's pool, as in the
  kernel (the compressed pool is memory too). A memory cgroup's ``memory.max`` limits its own
  resident pages plus its zswap charge.
* **LRU**: per memcg an active and an inactive list (the kernel's lruvec, anon only), pages
  entering inactive; an access sets a referenced bit. Reclaim scans the inactive tail in
  ``SWAP_CLUSTER_MAX`` (32) batches: referenced pages are activated, the others swapped out;
  the active list is aged into the inactive one when the latter is smaller. Each batch ends
  with the shrinkers (``shrink_slab``): zsmalloc compaction when it can free a batch's worth of
  pages, and zswap's own shrinker when enabled.
* **Swap-out** goes through :class:`~pyzswap.swapcore.SwapCore`: whole-zero pages to the zero
  bitmap, the rest to zswap, falling through to the swap file when zswap refuses. With
  ``shrinker_enabled`` each reclaim batch also runs zswap's shrinker (count, then scan in
  proportion to the pages just scanned), the way ``shrink_slab`` follows ``shrink_lruvec``.
* **Faults** swap the page in (zero bitmap, zswap or the file), check it against the truth, and
  free the slot (the page is dirty in memory now). **Writes** fault the page in if needed and
  change its contents. **Exit** frees every page and slot.

Single-threaded and deterministic: with a seed, two runs make the same decisions.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from ..errors import InvalidParameter, ZswapError
from ..folio import PAGE_SHIFT, PAGE_SIZE
from ..memcg import MemCgroup
from ..swapcore import AOP_WRITEPAGE_ACTIVATE, SwapCore
from ..zswap import Zswap

__all__ = ["SWAP_CLUSTER_MAX", "LostPage", "MemoryModel", "MmStats", "OutOfMemory"]

#: Pages reclaimed per batch (the kernel's SWAP_CLUSTER_MAX).
SWAP_CLUSTER_MAX: Final = 32
_PID_SHIFT: Final = 32
_clock = time.perf_counter


class LostPage(ZswapError):
    """A fault returned different bytes than the page last held: data was lost."""


class OutOfMemory(ZswapError):
    """Reclaim could not make room (no swap space left, or RAM smaller than the pool)."""


@dataclass
class MmStats:
    """What the mm saw (the vmstat-like counters of the harness)."""

    accesses: int = 0
    reads: int = 0
    writes: int = 0
    faults: int = 0
    faults_zswap: int = 0
    faults_disk: int = 0
    faults_zero: int = 0
    reclaim_batches: int = 0
    pgscan: int = 0
    pgsteal: int = 0
    pgactivate: int = 0
    pgdeactivate: int = 0
    shrinker_scanned: int = 0
    pages_compacted: int = 0
    exits: int = 0
    over_limit: int = 0
    memcg_reclaims: dict[str, int] = field(default_factory=dict)


class _LruVec:
    """One memcg's anon LRU lists (oldest first), keys are ``pid << 32 | page``."""

    __slots__ = ("active", "inactive", "memcg")

    def __init__(self, memcg: MemCgroup | None) -> None:
        self.memcg = memcg
        self.active: OrderedDict[int, None] = OrderedDict()
        self.inactive: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self.active) + len(self.inactive)


class _Proc:
    __slots__ = ("data", "lruvec", "memcg", "npages", "pid", "referenced", "resident", "swp",
                 "view")

    def __init__(self, pid: int, contents: bytes, memcg: MemCgroup | None,
                 lruvec: _LruVec) -> None:
        self.pid = pid
        self.data = bytearray(contents)
        self.view = memoryview(self.data)
        self.npages = len(self.data) >> PAGE_SHIFT
        self.memcg = memcg
        self.lruvec = lruvec
        self.resident = bytearray(self.npages)
        self.referenced = bytearray(self.npages)
        self.swp = [-1] * self.npages

    def page(self, page: int) -> memoryview:
        return self.view[page << PAGE_SHIFT:(page + 1) << PAGE_SHIFT]


class MemoryModel:
    """Processes, RAM and reclaim around a :class:`SwapCore` (see the module docstring)."""

    def __init__(self, core: SwapCore, ram_pages: int, *, seed: int = 0,
                 verify: bool = True) -> None:
        if isinstance(ram_pages, bool) or not isinstance(ram_pages, int) or ram_pages < 1:
            raise InvalidParameter(f"RAM must be at least one page, got {ram_pages!r} pages")
        self.core = core
        self.zswap: Zswap = core.zswap
        self.ram_pages = ram_pages
        self.verify = verify
        self.stats = MmStats()
        self.resident_pages = 0
        self._procs: dict[int, _Proc] = {}
        self._lruvecs: dict[int, _LruVec] = {}
        self._rr = 0
        self._rng = np.random.default_rng(seed ^ 0x5EED)
        self._scratch = bytearray(PAGE_SIZE)
        #: called as hook(kind, seconds) around swap-out/swap-in (the harness's timers)
        self.on_swap: Callable[[str, float], None] | None = None

    # ------------------------------------------------------------------ processes ------------
    def _lruvec(self, memcg: MemCgroup | None) -> _LruVec:
        key = -1 if memcg is None else memcg.id
        vec = self._lruvecs.get(key)
        if vec is None:
            vec = self._lruvecs[key] = _LruVec(memcg)
        return vec

    def add_process(self, pid: int, contents: bytes, memcg: MemCgroup | None = None) -> None:
        """Start a process whose pages hold ``contents``; it touches them all in order (the
        way a program initialises its memory), which may already push older pages out."""
        if pid in self._procs:
            raise InvalidParameter(f"process {pid} already exists")
        if not contents or len(contents) % PAGE_SIZE:
            raise InvalidParameter(f"process {pid}: contents must be whole pages, got "
                                   f"{len(contents)} bytes")
        proc = _Proc(pid, contents, memcg, self._lruvec(memcg))
        self._procs[pid] = proc
        for page in range(proc.npages):
            self._make_resident(proc, page)

    def exit(self, pid: int) -> None:
        """The process exits: resident pages are freed, swap slots released."""
        proc = self._procs.pop(pid, None)
        if proc is None:
            raise InvalidParameter(f"no process {pid}")
        vec = proc.lruvec
        base = pid << _PID_SHIFT
        for page in range(proc.npages):
            if proc.resident[page]:
                key = base | page
                vec.inactive.pop(key, None)
                vec.active.pop(key, None)
                self.resident_pages -= 1
                if proc.memcg is not None:
                    proc.memcg.uncharge_memory(1)
            elif proc.swp[page] >= 0:
                self.core.swap_free(proc.swp[page])
        self.stats.exits += 1

    def processes(self) -> list[int]:
        return list(self._procs)

    def truth(self, pid: int, page: int) -> bytes:
        """What the page holds now (for tests)."""
        return bytes(self._procs[pid].page(page))

    # ------------------------------------------------------------------ accesses -------------
    def access(self, pid: int, page: int, write: bool = False) -> None:
        """One memory access: fault the page in if needed; a write changes its contents."""
        proc = self._procs.get(pid)
        if proc is None:
            raise InvalidParameter(f"access to process {pid}, which does not exist")
        if not 0 <= page < proc.npages:
            raise InvalidParameter(f"page {page} is outside process {pid} (0..{proc.npages - 1})")
        st = self.stats
        st.accesses += 1
        if proc.resident[page]:
            proc.referenced[page] = 1
        else:
            self._fault(proc, page)
        if write:
            st.writes += 1
            self._write(proc, page)
        else:
            st.reads += 1

    def _write(self, proc: _Proc, page: int) -> None:
        """New contents: a 256-byte run copied from elsewhere in the process (stays realistic)."""
        rng = self._rng
        src = int(rng.integers(0, proc.npages * PAGE_SIZE - 256))
        dst = (page << PAGE_SHIFT) + int(rng.integers(0, PAGE_SIZE - 256))
        proc.data[dst:dst + 256] = proc.data[src:src + 256]

    def _fault(self, proc: _Proc, page: int) -> None:
        self.stats.faults += 1
        self._reserve(proc.memcg)
        swp = proc.swp[page]
        buf = self._scratch
        hook = self.on_swap
        if hook is None:
            source = self.core.swap_in(swp, buf, proc.memcg)
        else:
            t0 = _clock()
            source = self.core.swap_in(swp, buf, proc.memcg)
            hook("in:" + source, _clock() - t0)
        if source == "zswap":
            self.stats.faults_zswap += 1
        elif source == "disk":
            self.stats.faults_disk += 1
        else:
            self.stats.faults_zero += 1
        if self.verify and buf != proc.page(page):
            raise LostPage(f"process {proc.pid} page {page}: the fault (from {source}) returned "
                           "different bytes than the page last held")
        self.core.swap_free(swp)
        proc.swp[page] = -1
        self._add_resident(proc, page)
        proc.referenced[page] = 1

    def _make_resident(self, proc: _Proc, page: int) -> None:
        self._reserve(proc.memcg)
        self._add_resident(proc, page)

    def _add_resident(self, proc: _Proc, page: int) -> None:
        proc.resident[page] = 1
        proc.lruvec.inactive[(proc.pid << _PID_SHIFT) | page] = None
        self.resident_pages += 1
        if proc.memcg is not None:
            proc.memcg.charge_memory(1)

    # ------------------------------------------------------------------ reclaim --------------
    def used_pages(self) -> int:
        """RAM in use: resident pages plus zswap's pool."""
        return self.resident_pages + self.zswap.total_pages()

    def _reserve(self, memcg: MemCgroup | None) -> None:
        """Make room for one more resident page: memcg limit first, then global RAM."""
        if memcg is not None:
            node: MemCgroup | None = memcg
            while node is not None:
                limit = node.memory_max
                if limit is not None:
                    while node.memory_current + PAGE_SIZE > limit:
                        if not self._reclaim_memcg(node):
                            self.stats.over_limit += 1
                            break
                node = node.parent
        while self.used_pages() + 1 > self.ram_pages:
            if not self._reclaim_global():
                self.stats.over_limit += 1
                break

    def _reclaim_memcg(self, memcg: MemCgroup) -> int:
        self.stats.memcg_reclaims[memcg.path] = self.stats.memcg_reclaims.get(memcg.path, 0) + 1
        for vec in self._lruvecs.values():
            if vec.memcg is not None and memcg.is_ancestor_of(vec.memcg) and len(vec):
                got = self.shrink_lruvec(vec)
                if got:
                    return got
        return 0

    def _reclaim_global(self) -> int:
        vecs = [v for v in self._lruvecs.values() if len(v)]
        for i in range(len(vecs)):
            vec = vecs[(self._rr + i) % len(vecs)]
            got = self.shrink_lruvec(vec)
            if got:
                self._rr += i + 1
                return got
        return 0

    def _age_active(self, vec: _LruVec, nr: int) -> None:
        """shrink_active_list: the oldest active pages go to the inactive list, unreferenced."""
        for _ in range(min(nr, len(vec.active))):
            key, _ = vec.active.popitem(last=False)
            proc = self._procs[key >> _PID_SHIFT]
            proc.referenced[key & 0xFFFFFFFF] = 0
            vec.inactive[key] = None
            self.stats.pgdeactivate += 1

    def shrink_lruvec(self, vec: _LruVec, nr: int = SWAP_CLUSTER_MAX) -> int:
        """Reclaim up to ``nr`` pages of one lruvec; the number swapped out."""
        st = self.stats
        st.reclaim_batches += 1
        if len(vec.inactive) < len(vec.active):
            self._age_active(vec, nr)
        victims: list[tuple[_Proc, int]] = []
        scanned = 0
        while len(victims) < nr and scanned < 4 * nr:
            if not vec.inactive:
                self._age_active(vec, nr)
                if not vec.inactive:
                    break
            key, _ = vec.inactive.popitem(last=False)
            scanned += 1
            proc = self._procs[key >> _PID_SHIFT]
            page = key & 0xFFFFFFFF
            if proc.referenced[page]:
                proc.referenced[page] = 0
                vec.active[key] = None
                st.pgactivate += 1
                continue
            victims.append((proc, page))
        st.pgscan += scanned
        reclaimed = 0
        hook = self.on_swap
        core = self.core
        for i, (proc, page) in enumerate(victims):
            swp = core.folio_alloc_swap()
            if swp is not None:
                t0 = _clock()
                result = core.swap_writeout(swp, proc.page(page), proc.memcg)
                if hook is not None:
                    hook("out", _clock() - t0)
                if result == AOP_WRITEPAGE_ACTIVATE:
                    # swap_writeout kept it (memory.zswap.writeback 0): activate_locked.
                    core.swap_free(swp)
                    vec.active[(proc.pid << _PID_SHIFT) | page] = None
                    st.pgactivate += 1
                    continue
            if swp is None:  # no swap space: put the rest back and stop
                for p, pg in victims[i:]:
                    vec.inactive[(p.pid << _PID_SHIFT) | pg] = None
                    vec.inactive.move_to_end((p.pid << _PID_SHIFT) | pg, last=False)
                if not reclaimed:
                    raise OutOfMemory("out of swap space: reclaim cannot swap anything out")
                break
            proc.swp[page] = swp
            proc.resident[page] = 0
            self.resident_pages -= 1
            if proc.memcg is not None:
                proc.memcg.uncharge_memory(1)
            reclaimed += 1
        st.pgsteal += reclaimed
        z = self.zswap
        # shrink_slab: zsmalloc's own shrinker compacts the pool's half-empty zspages.
        if z.compactable_pages() >= SWAP_CLUSTER_MAX:
            st.pages_compacted += z.compact()
        if scanned and z.get_param("shrinker_enabled"):
            memcg = vec.memcg
            count = z.shrinker_count(memcg)
            if count:
                to_scan = max(1, count * scanned // max(1, len(vec) + scanned))
                st.shrinker_scanned += to_scan
                z.shrinker_scan(memcg, to_scan)
        return reclaimed
