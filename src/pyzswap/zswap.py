"""Zswap: the compressed swap cache, one readable flow per operation.

This is the one place the flows of ``mm/zswap.c`` live (docs/KERNEL_REFERENCE.md §4):

* :meth:`Zswap.store` — ``zswap_store``: check enabled and the global limit, take the current
  pool, compress each page of the folio on this CPU's context (incompressible pages are stored
  as-is, 6.18), allocate in zsmalloc, then publish the entries in the tree. A folio is
  all-or-nothing: on any failure every entry for the folio's slots is erased, so a stale copy
  can never be written back over newer data.
* :meth:`Zswap.load` — ``zswap_load``: find the entry, decompress into the caller's page, and
  (when the folio is in the swap cache, the default) erase and free the entry.
* :meth:`Zswap.invalidate` — ``zswap_invalidate``: the slot was freed; drop its entry.

Where the data lives: entries are 32-byte records in a C table (``_native.EntryTable``: the
per-type trees and the memcg LRU lists), counters in ``Zswap._c`` (``_native.ZswapFast``), and
compressed pages in zsmalloc (``_native.ZsPool``). The store of a folio (one 4 KiB page, or a
large folio on lz4/lz4hc) and the load of a page are first offered to
``ZswapFast.store_page`` / ``load_page`` (``csrc/fastpath.c``): the same steps in C, on the
same objects and locks, for the common case (the ``pool`` context lifetime, a plain zsmalloc
pool, a memcg below its ``zswap.max`` if any); anything else, it declines before doing
anything and the flow below runs. This module stays the reference the C paths are tested
against.

Parameters and statistics carry the kernel's names (``/sys/module/zswap/parameters`` and
``/sys/kernel/debug/zswap``); see :data:`PARAMETERS` and :meth:`Zswap.stats`.

Locking (see docs/ARCHITECTURE.md): compression and decompression run under the per-CPU context
mutex only, so threads on different CPUs compress in parallel (codecs release the GIL). Trees,
LRU lists, counters, pool references and the pool list change under ``Zswap._lock`` (the xarray
lock, the list_lru lock, the pools lock and the atomics of the kernel, folded into one).
Order: ``acomp_ctx.mutex`` → zsmalloc pool lock; ``Zswap._lock`` → zsmalloc pool lock; never a
context mutex under ``Zswap._lock``.

One slot, one operation (docs/RELIABILITY.md): the kernel calls ``zswap_store`` and
``zswap_load`` with the swap-cache folio of the entry locked, so operations on one swap entry
never overlap. Here store, load and writeback mark their slots busy in the entry table
(``EntryTable.slots_begin`` / ``slots_end``) from their first look at a slot to their last
change of it; a store, load or invalidate of a busy slot raises :class:`SlotBusy` and changes
nothing, writeback skips it (-EEXIST), and swapoff of a type with busy slots is refused. A
store or load that raced :meth:`Zswap.close` finds out under ``Zswap._lock`` before it
publishes or erases anything, and raises.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar, cast

from ._native import EntryTable, Lock, ZswapFast
from .compress import (
    PAGE_SIZE,
    ZSWAP_MAX_BATCH_SIZE,
    BatchingCompressor,
    get_compressor,
)
from .cpu import CpuModel
from .errors import (
    AllocFail,
    CompressFail,
    CompressPoor,
    DecompressFail,
    InvalidPage,
    InvalidParameter,
    SlotBusy,
    UseAfterFree,
    ZswapError,
)
from .folio import MAX_FOLIO_PAGES, PAGE_SHIFT
from .lru import LRU_REMOVED_RETRY, LRU_RETRY, LRU_ROTATE, LRU_STOP, EntryLru, IsolateFn, LruWalk
from .memcg import MemCgroup, ZswapShrinkCursor
from .pool import (
    TEARDOWN_DESIGNS,
    CompStreams,
    MemHook,
    SharedCtxs,
    ZswapPool,
    check_lifetime,
    kernel_percpu_bytes,
)
from .swap import SWP_TYPE_SHIFT, SwapIOError, SwapSlotFree, SwapTable

if TYPE_CHECKING:
    from ._types import BytesLike
    from .compress.native import NativeBatchingTransform

__all__ = [
    "DEBUGFS_STATS",
    "PARAMETERS",
    "SWAP_ADDRESS_SPACE_SHIFT",
    "Zswap",
    "ZswapEntry",
]

#: The kernel keeps one tree (an xarray with its own lock) per 64 MiB of swap space
#: (``swap_zswap_tree``), to spread lock contention. pyzswap's C entry table has no per-tree
#: locks, so one table per swap type serves; the constant is kept for reference.
SWAP_ADDRESS_SPACE_SHIFT: Final = 14

#: The debugfs statistics of 6.18, in the kernel's order.
DEBUGFS_STATS: Final = (
    "pool_limit_hit",
    "reject_reclaim_fail",
    "reject_alloc_fail",
    "reject_kmemcache_fail",
    "reject_compress_fail",
    "reject_compress_poor",
    "decompress_fail",
    "written_back_pages",
    "pool_total_size",
    "stored_pages",
    "stored_incompressible_pages",
)

#: ``shrink_worker`` gives up after this many failures.
MAX_RECLAIM_RETRIES: Final = 16
#: A shrinker scan that could free nothing.
SHRINK_STOP: Final = -1

#: vmstat events zswap counts (``/proc/vmstat``).
VMSTAT_EVENTS: Final = ("zswpin", "zswpout", "zswpwb")

_HOST_RAM: Final = object()


#: An item of a batched load or writeback: ``(index, entry, ...)``.
_T = TypeVar("_T", tuple[int, "ZswapEntry"], tuple[int, "ZswapEntry", "_Pinned"])

#: A slot pinned for writeback: (swap entry value, the swap-cache folio).
_Pinned = tuple[int, bytearray]


class _StreamFolio:
    """One folio of a native-engine store (:meth:`Zswap._store_stream`) and its progress."""

    __slots__ = ("charged", "failed", "mv", "nr", "offset", "pending", "published", "swp_type",
                 "wb_enabled")

    def __init__(self, mv: BytesLike, nr: int, swp_type: int, offset: int,
                 charged: MemCgroup | None, wb_enabled: bool) -> None:
        self.mv = mv
        self.nr = nr
        self.swp_type = swp_type
        self.offset = offset
        self.charged = charged
        self.wb_enabled = wb_enabled
        #: ``(handle, length)`` of stored pages not yet published
        self.pending: list[tuple[int, int]] = []
        #: pages published so far (they are slots offset .. offset + published - 1)
        self.published = 0
        self.failed = False


def _streams(pool: ZswapPool) -> bool:
    """Does this pool stream pages through native engines (see :meth:`Zswap._store_stream`)?
    Not with batch size 1 (the compressor's, or all a shared context's buffers allow): a
    one-buffer ring leaves the engines nothing to do ahead of the caller, so such a pool
    stores like a software one."""
    compressor = pool.compressor
    return (type(compressor) is BatchingCompressor and compressor.engine == "native"
            and pool.compr_batch_size > 1)


def _view(obj: object, what: str) -> memoryview:
    """``memoryview(obj)``, or :class:`InvalidPage` for something that is not a buffer (a
    str, None): every bad argument of the public calls is a ZswapError."""
    try:
        return memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidPage(f"{what} must be a bytes-like object, not "
                          f"{type(obj).__name__}") from None


def _host_totalram_pages() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):  # pragma: no cover - every Linux has it
        return 1 << 20


def _parse_bool(name: str, value: object) -> bool:
    """Accept what ``param_set_bool`` accepts (y/n/1/0, plus Python bools and on/off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("y", "yes", "1", "on", "true"):
            return True
        if text in ("n", "no", "0", "off", "false"):
            return False
    raise InvalidParameter(f"{name}: expected a boolean (Y/N/1/0), got {value!r}")


def _parse_percent(name: str, value: object) -> int:
    """An unsigned percentage 0..100 (``param_set_uint_minmax(..., 0, 100)``)."""
    number: int
    if isinstance(value, bool):
        raise InvalidParameter(f"{name}: expected an integer 0..100, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise InvalidParameter(f"{name}: expected an integer 0..100, got {value!r}")
    if not 0 <= number <= 100:
        raise InvalidParameter(f"{name}: {number} is outside 0..100")
    return number


@dataclass(frozen=True)
class _ParamSpec:
    default: object
    parse: Callable[[str, object], object]
    doc: str


#: The module parameters, with kernel names, defaults and what they mean.
PARAMETERS: Final[dict[str, _ParamSpec]] = {
    "enabled": _ParamSpec(
        True, _parse_bool, "accept new stores (existing entries stay either way)"
    ),
    "compressor": _ParamSpec("lzo", lambda n, v: v, "compression algorithm of the current pool"),
    "max_pool_percent": _ParamSpec(20, _parse_percent, "pool limit, percent of RAM"),
    "accept_threshold_percent": _ParamSpec(
        90, _parse_percent, "after the limit is hit, accept again below this percent of it"
    ),
    "shrinker_enabled": _ParamSpec(False, _parse_bool, "write back under memory pressure"),
}


class ZswapEntry(NamedTuple):
    """One stored page (``struct zswap_entry``): where it lives and how long it is.

    The entries themselves live in C (``_native.EntryTable``: one 32-byte record per entry, in
    per-type trees and intrusive LRU lists); a ``ZswapEntry`` is a snapshot of one record,
    made when Python code asks for it (:meth:`Zswap.lookup`, a load, a writeback walk). Two
    snapshots of the same stored entry are equal but not identical: compare with ``==``. The
    pool is named by id, as mm-new's ``u8 pool_idx`` does; :meth:`Zswap.entry_pool` resolves
    it, and the object cgroup by id too. The second-chance ``referenced`` bit lives with the
    LRU (:mod:`pyzswap.lru`).
    """

    type: int
    offset: int
    #: compressed length; ``PAGE_SIZE`` means stored as-is (incompressible)
    length: int
    pool_id: int
    #: the zsmalloc handle
    handle: int
    #: the object cgroup charged (``entry->objcg``); -1 when stored without a memcg
    objcg: int = -1


class _StoreRejected(Exception):
    """Internal: a page of the folio could not be stored (its counter is already bumped)."""


class _ShrinkWork:
    """``zswap_shrink_work`` on ``shrink_wq`` (an ordered workqueue with max_active 1).

    A daemon thread started on first use runs :meth:`Zswap.shrink_worker` once per queueing;
    queueing while it is pending does nothing, queueing while it runs makes it run again.
    With ``inline`` (a pyzswap option for deterministic replays) the worker runs in the caller
    of :meth:`queue` instead, after the failed store has released every lock. With ``clock``
    (deterministic and asynchronous, for the mm model) queueing only marks the work pending;
    the owner runs :meth:`Zswap.shrink_worker_steps` on its own clock (``take``).
    """

    def __init__(self, zswap: Zswap, inline: bool = False, clock: bool = False) -> None:
        self._zswap = zswap
        self.inline = inline
        self.clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._pending = False
        self._running = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.errors: list[BaseException] = []

    def queue(self) -> None:
        if self.clock:
            self._pending = True
            notify = self._zswap.on_shrink_queue
            if notify is not None:
                notify()
            return
        if self.inline:
            self._run_inline()
            return
        with self._cond:
            if self._stopped or self._pending:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zswap-shrink",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def take(self) -> bool:
        """``clock`` mode: True (and clear it) if work was queued since the last take."""
        pending, self._pending = self._pending, False
        return pending

    def _run_inline(self) -> None:
        if self._running:  # queued from inside the worker: run once more afterwards
            self._pending = True
            return
        self._running = True
        try:
            self._pending = True
            while self._pending and not self._stopped:
                self._pending = False
                self._zswap.shrink_worker()
                self.runs += 1
        finally:
            self._running = False

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                self._pending = False
                self._running = True
            try:
                self._zswap.shrink_worker()
            except BaseException as exc:
                self.errors.append(exc)
            finally:
                with self._cond:
                    self._running = False
                    self.runs += 1
                    self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._running,
                                       timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


class Zswap:
    """A zswap instance: parameters, pools, per-swap-type trees and statistics.

    ``totalram_pages`` is the RAM size the global limit is a percentage of; it defaults to this
    machine's RAM, like the kernel's ``totalram_pages()``. ``None`` means no global limit at all
    (a pyzswap extension for measuring tools that must never refuse a store).
    """

    #: The stream loop of native batching stores runs in C (``ZswapFast.stream_consume``);
    #: False: the Python reference (:meth:`_stream_pages`), for tests that compare the two.
    _c_stream = True
    #: Reclaim batches of 4 KiB pages are checked and admitted in C
    #: (``ZswapFast.admit_batch``); False: per folio in Python, for the tests that compare.
    _c_admit_batch = True

    def __init__(
        self,
        *,
        compressor: str = "lzo",
        enabled: bool = True,
        max_pool_percent: int = 20,
        accept_threshold_percent: int = 90,
        shrinker_enabled: bool = False,
        totalram_pages: Any = _HOST_RAM,
        cpus: CpuModel | int | None = None,
        chain_size: int = 8,
        lifetime: str = "pool",
        mem_hook: MemHook | None = None,
        memcg_root: MemCgroup | None = None,
        swap_table: SwapTable | None = None,
        shrink_work: str = "thread",
    ) -> None:
        if totalram_pages is _HOST_RAM:
            totalram_pages = _host_totalram_pages()
        if totalram_pages is not None and (
            not isinstance(totalram_pages, int) or isinstance(totalram_pages, bool)
            or totalram_pages <= 0
        ):
            raise InvalidParameter(f"totalram_pages must be a positive integer or None, got "
                                   f"{totalram_pages!r}")
        self.totalram_pages: int | None = totalram_pages
        self.cpus = cpus if isinstance(cpus, CpuModel) else CpuModel(cpus)
        self.chain_size = chain_size
        #: Per-CPU context design of every pool (see pyzswap.pool): fixed for the instance,
        #: as the shared designs allocate their contexts here, in zswap_setup().
        self.lifetime = check_lifetime(lifetime)
        #: Called before every allocation of pool creation and CPU preparation; may run
        #: "direct reclaim".
        self.mem_hook = mem_hook
        self._cpuhp_states: dict[str, int] = {}
        #: The module parameter lock (kernel_param_lock): every parameter write, so two
        #: compressor switches never build two pools at once.
        self._param_lock = threading.Lock()
        #: 6.18's per-algorithm per-CPU compression streams, shared by every pool.
        self.streams = CompStreams()
        #: zswap_setup(): the per-CPU contexts every pool shares (shared designs only).
        self.shared_ctxs = SharedCtxs.create(self.lifetime, self.cpus, mem_hook)
        #: Detected uses of a freed per-CPU context (only the ``naive`` lifetime has any).
        self.ctx_use_after_free = 0
        #: zswap's lock (threading.Lock's interface, in C so the fast paths take it directly)
        self._lock = Lock()
        #: set by close(), under _lock: every operation checks it there before it changes
        #: anything
        self._closed = False
        self._params: dict[str, object] = {}
        for name, value in (("enabled", enabled), ("max_pool_percent", max_pool_percent),
                            ("accept_threshold_percent", accept_threshold_percent),
                            ("shrinker_enabled", shrinker_enabled)):
            self._params[name] = PARAMETERS[name].parse(name, value)
        self._pools: list[ZswapPool] = []  # head is the current pool (zswap_pools)
        self._pool_ids: dict[int, ZswapPool] = {}  # live pools by id, for entry.pool_id
        self._pool_counter = 0
        self._release_pending: list[ZswapPool] = []
        #: The per-type trees and the LRU lists, packed in C (``_native.EntryTable``).
        self._table = EntryTable(ZswapEntry)
        self._tree_pages: dict[int, int] = {}
        #: The debugfs counters, vmstat events, ``enabled`` and the limit state (the one copy,
        #: shared with the C fast paths: ``_native.ZswapFast``, src/pyzswap/csrc/fastpath.c);
        #: mutated under ``_lock``.
        self._c = ZswapFast()
        self._c.enabled = bool(self._params["enabled"])
        self._update_limits()
        # The writeback tier: one LRU keyed by memcg, the shrink worker, the swap devices.
        self.lru: EntryLru[ZswapEntry] = EntryLru(self._table, self._lock)
        self.memcg_root = None if memcg_root is None else memcg_root.root
        self._shrink_cursor: ZswapShrinkCursor | None = None
        if self.memcg_root is not None:
            self._shrink_cursor = ZswapShrinkCursor(self.memcg_root)
            self.memcg_root.register_offline_hook(self._memcg_offline)
        self._nr_disk_swapins: dict[int, int] = {}
        if shrink_work not in ("thread", "inline", "clock"):
            raise InvalidParameter(f"shrink_work must be 'thread', 'inline' or 'clock', got "
                                   f"{shrink_work!r}")
        self._shrink_work = _ShrinkWork(self, inline=shrink_work == "inline",
                                        clock=shrink_work == "clock")
        #: Called as ``on_writeback(swp_type, offset)`` after each entry written back (no
        #: lock held): the mm model puts the swap-cache folio writeback made on its LRU.
        self.on_writeback: Callable[[int, int], None] | None = None
        #: ``shrink_work="clock"``: called when the shrink work is queued (no lock held).
        self.on_shrink_queue: Callable[[], None] | None = None
        #: Entries dropped because their swap slot was freed (``zswap_invalidate``).
        self.invalidated_pages = 0
        self.swap_table: SwapTable | None = None
        if swap_table is not None:
            self.attach_swap(swap_table)
        # zswap_setup(): create the first pool; an unknown compressor is an error here, where
        # the kernel would fall back to its Kconfig default at boot.
        try:
            self._pools.append(self._pool_create(compressor))
        except BaseException:
            if self.shared_ctxs is not None:  # leave the CpuModel as it was
                self.shared_ctxs.destroy()
            raise
        self._params["compressor"] = compressor
        self._c.bind(self, self._table, self._lock, self._pools, self._pool_ids,
                     self._release_pending, self.cpus)
        # The hot calls skip the Python frame: this instance's store and load are ZswapFast's,
        # which run the C fast path and fall back to _store_flow / _load_flow (the same steps
        # as the methods below; a subclass that overrides them keeps its own).
        if type(self).store is Zswap.store:
            self.store = self._c.store  # type: ignore[method-assign]
        if type(self).load is Zswap.load:
            self.load = self._c.load  # type: ignore[method-assign]

    # ------------------------------------------------------------------ parameters ----------
    @property
    def enabled(self) -> bool:
        return self._c.enabled

    @property
    def compressor(self) -> str:
        return str(self._params["compressor"])

    def get_param(self, name: str) -> object:
        """The value of a module parameter, by its kernel name."""
        if name not in PARAMETERS:
            raise InvalidParameter(f"unknown parameter {name!r} (known: {', '.join(PARAMETERS)})")
        return self._params[name]

    def params(self) -> dict[str, object]:
        """All module parameters (a copy)."""
        return dict(self._params)

    def set_param(self, name: str, value: object) -> None:
        """Set a module parameter as writing its sysfs file would; a bad value changes nothing."""
        if name not in PARAMETERS:
            raise InvalidParameter(f"unknown parameter {name!r} (known: {', '.join(PARAMETERS)})")
        # param_attr_store() runs every parameter write under kernel_param_lock(): a compressor
        # switch, with its allocations and any reclaim they run, holds it throughout.
        with self._param_lock:
            self._set_param_locked(name, value)

    def _set_param_locked(self, name: str, value: object) -> None:
        if name == "compressor":
            if not isinstance(value, str) or not value.strip():
                raise InvalidParameter(f"compressor: expected an algorithm name, got {value!r}")
            self._check_open()
            self._set_compressor(value.strip())
            return
        parsed = PARAMETERS[name].parse(name, value)
        with self._lock:
            self._params[name] = parsed
            if name == "enabled":
                self._c.enabled = bool(parsed)
            self._update_limits()

    # ------------------------------------------------------------------ pools ---------------
    def _cpuhp_state(self, lifetime: str) -> int:
        """The ``CPUHP_MM_ZSWP_POOL_PREPARE`` state for a design (made on first use).

        The merged design and the shared designs register no teardown callback; the older
        ones free in ``dead``.
        """
        state = self._cpuhp_states.get(lifetime)
        if state is None:
            def prepare(cpu: int, pool: ZswapPool) -> None:
                pool.cpu_prepare(cpu)

            def dead(cpu: int, pool: ZswapPool) -> None:
                pool.cpu_dead(cpu)

            state = self.cpus.setup_state_multi(
                "mm/zswap_pool:prepare", prepare, dead if lifetime in TEARDOWN_DESIGNS else None
            )
            self._cpuhp_states[lifetime] = state
        return state

    def _pool_create(self, name: str) -> ZswapPool:
        compressor = get_compressor(name)  # UnknownCompressor: crypto_has_acomp failed
        with self._lock:
            self._pool_counter += 1
            pool_id = self._pool_counter
        lifetime = self.lifetime
        # No zswap lock is held here: the allocations may reclaim into store on the old pool.
        pool = ZswapPool.create(compressor, self.cpus, pool_id, self._cpuhp_state(lifetime),
                                chain_size=self.chain_size, lifetime=lifetime,
                                mem_hook=self.mem_hook, shared=self.shared_ctxs,
                                streams=self.streams)
        with self._lock:
            self._pool_ids[pool_id] = pool
        return pool

    def _set_compressor(self, name: str) -> None:
        """``zswap_compressor_param_set``: make ``name``'s pool current, reusing a live one.
        The caller holds the parameter lock."""
        get_compressor(name)  # validate before touching anything
        with self._lock:
            if self._pools and self._pools[0].tfm_name == name:
                self._params["compressor"] = name
                return
            pool = next((p for p in self._pools[1:]
                         if p.tfm_name == name and p.tryget()), None)
            if pool is not None:  # zswap_pool_find_get: reuse the old pool
                self._pools.remove(pool)
                pool.resurrect()
                pool.put()  # the find reference
        if pool is None:
            pool = self._pool_create(name)
        with self._lock:
            closed = self._closed
            if not closed:
                old = self._pools[0] if self._pools else None
                self._pools.insert(0, pool)
                self._params["compressor"] = name
                if old is not None and old.kill():
                    self._release_pending.append(old)
        if closed:  # close() ran while the pool was made: it must not outlive the instance
            self.cpus.hotplug_lock.run_or_defer(pool.destroy)
            raise ZswapError("this Zswap was closed during the compressor switch")
        self._flush_releases()

    def _pool_put_locked(self, pool: ZswapPool, nr: int = 1) -> None:
        if pool.put(nr):
            self._release_pending.append(pool)

    def _flush_releases(self) -> None:
        """Release pools whose last reference went (``__zswap_pool_empty``): off the pool
        list now, destroyed by the release work (``__zswap_pool_release``) under the hotplug
        lock -- at once if it is free, else when its holder lets go. So a pool emptied by
        reclaim inside a CPU's PREPARE is destroyed after that hotplug operation (never
        prepared again after it was freed), and a store never waits for hotplug."""
        if not self._release_pending:
            return
        with self._lock:
            dead = list(self._release_pending)
            self._release_pending.clear()  # in place: the fast paths hold this list
            for pool in dead:
                if pool in self._pools:
                    self._pools.remove(pool)
                self._pool_ids.pop(pool.id, None)
                self._c.forget(pool)
        for pool in dead:
            self.cpus.hotplug_lock.run_or_defer(pool.destroy)

    def pools(self) -> list[ZswapPool]:
        """Live pools, current first (``zswap_pools``)."""
        with self._lock:
            return list(self._pools)

    def pool_report(self) -> list[dict[str, Any]]:
        """Per pool: compressor, design, batch size, references, and per-CPU contexts.

        ``ctx_bytes`` is what the pool's contexts own in pyzswap (sizes of its buffers and
        request objects); ``kernel_ctx_bytes_per_cpu`` the kernel-equivalent bytes of the
        pool's own per-CPU structures (x86-64, 6.18 structures: ``pool.kernel_percpu_bytes``).
        What a shared design shares is in :meth:`shared_report`, the compression streams in
        :meth:`stream_report`.
        """
        report = []
        pools = self.pools()
        for pool in pools:
            rows = pool.ctx_report()
            holding = [row for row in rows if row["allocated"]]
            batch = pool.compr_batch_size
            per_cpu = sum(v for k, v in kernel_percpu_bytes(pool.lifetime, batch).items()
                          if "(global)" not in k)
            report.append({
                "id": pool.id,
                "compressor": pool.tfm_name,
                "lifetime": pool.lifetime,
                "batch_size": batch,
                "current": pool is pools[0],
                "ref": pool.ref,
                "pool_pages": pool.total_pages(),
                "cpus_holding": [row["cpu"] for row in holding],
                "ctx_bytes": sum(row["bytes"] for row in holding),
                "kernel_ctx_bytes_per_cpu": per_cpu,
                "kernel_ctx_bytes": per_cpu * len(holding),
                "per_cpu": rows,
            })
        return report

    def shared_report(self) -> dict[str, Any] | None:
        """The per-CPU contexts a shared design shares among all pools (None for per-pool
        designs): CPUs holding them, requests and buffers per CPU, pyzswap bytes and the
        kernel-equivalent bytes per CPU."""
        shared = self.shared_ctxs
        if shared is None:
            return None
        holding = shared.cpus_holding()
        per_cpu = sum(v for k, v in kernel_percpu_bytes(self.lifetime, shared.nr).items()
                      if "(global)" in k)
        return {"lifetime": self.lifetime, "slots": shared.nr, "cpus_holding": holding,
                "ctx_bytes": shared.memory_bytes(), "kernel_ctx_bytes_per_cpu": per_cpu,
                "kernel_ctx_bytes": per_cpu * len(holding)}

    def stream_report(self) -> dict[str, list[int]]:
        """CPUs holding a compression stream, per algorithm (6.18's per-algorithm streams:
        kept through offline and after the pool that made them is gone)."""
        return self.streams.held()

    def entry_pool(self, entry: ZswapEntry) -> ZswapPool:
        """The pool an entry was stored in (still alive while the entry is)."""
        return self._pool_ids[entry.pool_id]

    def current_pool(self) -> ZswapPool:
        try:
            return self._pools[0]
        except IndexError:  # close() emptied the list (maybe on another thread just now)
            raise ZswapError("this Zswap is closed: it has no current pool") from None

    def compact(self) -> int:
        """``zs_compact`` on every live pool (zsmalloc's shrinker under memory pressure);
        the pages freed. A pool destroyed meanwhile (its last entry went) is skipped."""
        freed = 0
        for pool in self.pools():
            try:
                freed += pool.zs_pool.compact()
            except InvalidParameter:
                if not pool.zs_pool.destroyed:
                    raise
        return freed

    def compactable_pages(self) -> int:
        """What :meth:`compact` could free now (the zsmalloc shrinker's count)."""
        return sum(pool.zs_pool.compactable_pages() for pool in self.pools())

    def total_pages(self) -> int:
        """``zswap_total_pages()``: zsmalloc pages over every live pool."""
        return sum(pool.zs_pool.pages_allocated for pool in self._pools)

    # ------------------------------------------------------------------ swap types -----------
    def swapon(self, swp_type: int, nr_pages: int) -> None:
        """``zswap_swapon``: allocate the trees for a swap device of ``nr_pages`` slots."""
        if not isinstance(swp_type, int) or not 0 <= swp_type < 32:
            raise InvalidParameter(f"swap type must be 0..31, got {swp_type!r}")
        if not isinstance(nr_pages, int) or nr_pages <= 0:
            raise InvalidParameter(f"nr_pages must be a positive integer, got {nr_pages!r}")
        if nr_pages > 1 << 32:
            raise InvalidParameter(f"nr_pages must be at most 2^32, got {nr_pages}")
        with self._lock:
            if swp_type in self._tree_pages:
                raise InvalidParameter(f"swap type {swp_type} is already on")
            self._table.swapon(swp_type, nr_pages)
            self._tree_pages[swp_type] = nr_pages

    def swapoff(self, swp_type: int) -> None:
        """``zswap_swapoff``: drop the trees; every entry must already be loaded or invalidated."""
        with self._lock:
            if swp_type not in self._tree_pages:
                raise InvalidParameter(f"swap type {swp_type} is not on")
            busy = self._table.busy_count(swp_type)
            if busy:
                raise SlotBusy(f"swapoff of type {swp_type} while {busy} operation(s) on it are "
                               "in flight")
            left = self._table.count(swp_type)
            if left:
                raise ZswapError(f"swapoff of type {swp_type} with {left} entries still in "
                                 "zswap: load or invalidate them first")
            self._table.swapoff(swp_type)
            del self._tree_pages[swp_type]

    def _check_slot(self, swp_type: int, offset: int, nr: int) -> None:
        """Raise unless ``offset..offset+nr-1`` lies inside a swapped-on type."""
        pages = self._tree_pages.get(swp_type)
        if pages is None or type(offset) is not int or offset < 0 or offset + nr > pages:
            raise self._bad_slot(swp_type, offset, nr)

    def _bad_slot(self, swp_type: object, offset: object, nr: int) -> InvalidParameter:
        pages = self._tree_pages.get(swp_type) if isinstance(swp_type, int) else None
        if pages is None:
            return InvalidParameter(f"swap type {swp_type!r} is not on (call swapon first)")
        return InvalidParameter(
            f"swap offset {offset!r}+{nr} is outside type {swp_type} (0..{pages - 1})"
        )

    # ------------------------------------------------------------------ limits --------------
    def max_pages(self) -> int | None:
        """``zswap_max_pages()``: the global limit in pages, or None without one."""
        return None if self._c.max_pages < 0 else self._c.max_pages

    def accept_thr_pages(self) -> int | None:
        """``zswap_accept_thr_pages()``: where a full pool starts accepting again."""
        return None if self._c.thr_pages < 0 else self._c.thr_pages

    def _update_limits(self) -> None:
        """Recompute the limits in pages after a parameter change (not on every store)."""
        if self.totalram_pages is None:
            self._c.max_pages = self._c.thr_pages = -1  # no limit
            return
        max_pages = self.totalram_pages * int(self._params["max_pool_percent"])  # type: ignore[call-overload]
        thr = int(self._params["accept_threshold_percent"])  # type: ignore[call-overload]
        self._c.max_pages = max_pages // 100
        self._c.thr_pages = max_pages // 100 * thr // 100

    def _check_limits(self) -> bool:
        """``zswap_check_limits()``: True while the pool is (still) considered full: at the
        limit, or above the accept threshold since it last was (the hysteresis). Counts
        ``pool_limit_hit``. In C (``ZswapFast.check_limits``), shared with the fast path."""
        return self._c.check_limits()

    # ------------------------------------------------------------------ store ---------------
    def store(self, folio: BytesLike, swp_type: int, offset: int,
              memcg: MemCgroup | None = None) -> bool:
        """``zswap_store``: keep the folio's pages at slots ``offset..offset+nr-1``.

        ``memcg`` is the folio's memory cgroup (None: no memcg accounting, root LRU). Returns
        True when every page is stored, False when the folio must go to the swap device instead
        (zswap disabled, cgroup or pool limit, or a page could not be stored); in that case no
        entry is left for any of the folio's slots. Bad arguments raise.
        """
        # The same steps in C (csrc/fastpath.c), which declines, before doing anything, every
        # case it does not cover (a large folio on another codec, a memcg over its zswap.max).
        # (Each instance calls ZswapFast.store instead: these two steps in one C call.)
        done = self._c.store_page(folio, swp_type, offset, memcg)
        if done is not NotImplemented:
            return cast(bool, done)
        return self._store_flow(folio, swp_type, offset, memcg)

    def _store_flow(self, folio: BytesLike, swp_type: int, offset: int,
                    memcg: MemCgroup | None = None) -> bool:
        """:meth:`store`'s steps in Python, for everything the C fast path declines."""
        self._check_open()
        # 1. The folio (1..512 whole pages) and its slots, marked busy until the store is done
        #    (the kernel holds the folio lock).
        mv, nr = self._check_folio(folio, swp_type, offset)
        self._table.slots_begin(swp_type, offset, nr)
        try:
            return self._store_marked(mv, nr, swp_type, offset, memcg)
        except (InvalidParameter, UseAfterFree) as exc:
            self._raise_if_closed(exc, "store")
            raise
        finally:
            self._table.slots_end(swp_type, offset, nr)

    def _raise_if_closed(self, exc: BaseException, what: str) -> None:
        """An operation that failed because :meth:`close` destroyed its pool meanwhile (a
        destroyed zsmalloc, freed contexts) says so."""
        if self._closed:
            raise ZswapError(f"this Zswap was closed during the {what}") from exc

    def _store_marked(self, mv: BytesLike, nr: int, swp_type: int, offset: int,
                      memcg: MemCgroup | None) -> bool:
        """:meth:`_store_flow` from step 2, its slots marked busy."""
        # 2. Enabled? The cgroup's zswap.max? The global limit?
        admitted = self._admit(memcg, swp_type, offset, nr)
        if admitted is None:
            return False
        charged, wb_enabled = admitted
        # 3. The current pool, with one reference per entry to be (zswap_pool_current_get).
        pool = self._pool_current_get(nr)
        if nr > 1 and _streams(pool):
            # 4-5 on native engines: compress, allocate and publish batch by batch.
            folio_ = _StreamFolio(mv, nr, swp_type, offset, charged, wb_enabled)
            return self._store_stream([folio_], pool)[0]
        # 4. Compress and allocate every page (zswap_compress), all or nothing.
        try:
            stored = self._compress_folio(mv, nr, pool, wb_enabled)
        except UseAfterFree:
            self._store_undo(pool, swp_type, offset, nr)
            raise
        if stored is None:
            self._store_undo(pool, swp_type, offset, nr)
            return False
        # 5. Publish the entries, charge the cgroup, add them to the LRU.
        self._publish(swp_type, offset, stored, pool, charged)
        return True

    def store_batch(self, folios: Sequence[tuple[BytesLike, int, int]],
                    memcg: MemCgroup | None = None) -> list[bool]:
        """Reclaim batching: store several folios at once, e.g. the ``SWAP_CLUSTER_MAX`` (32)
        folios reclaim isolates in one go; one result per folio, as :meth:`store` would give.

        With a batching compressor the pages of *all* the folios are compressed together in
        batches of the compressor's batch size, so even 4 KiB folios compress in parallel; each
        folio stays all-or-nothing. With a software compressor this is a loop over
        :meth:`store`.
        """
        self._check_open()
        pool = self.current_pool()
        if pool.compr_batch_size == 1:
            return [self.store(folio, t, off, memcg) for folio, t, off in folios]
        if memcg is None and self._c_admit_batch and _streams(pool):
            # Reclaim's common batch (4 KiB pages, no memcg, pool below its limit): steps 1-2
            # for every folio in one C call, which declines anything else before doing it.
            specs = self._c.admit_batch(folios, _StreamFolio)
            if specs is not NotImplemented:
                ranges = [(f.swp_type, f.offset, 1) for f in specs]
                self._slots_begin_all(ranges)
                try:
                    pool = self._pool_current_get(len(specs))
                    if _streams(pool):
                        return self._store_stream(specs, pool)
                    # a compressor switch since the check above: the general path instead
                    with self._lock:
                        self._pool_put_locked(pool, len(specs))
                    self._flush_releases()
                    checked = [self._check_folio(folio, t, off) for folio, t, off in folios]
                    return self._store_batch_marked(folios, checked, memcg)
                finally:
                    self._slots_end_all(ranges)
        checked = [self._check_folio(folio, t, off) for folio, t, off in folios]
        ranges = [(t, off, nr) for (_, nr), (_, t, off) in zip(checked, folios, strict=True)]
        self._slots_begin_all(ranges)
        try:
            return self._store_batch_marked(folios, checked, memcg)
        finally:
            self._slots_end_all(ranges)

    def _slots_begin_all(self, ranges: Sequence[tuple[int, int, int]]) -> None:
        """Mark every ``(type, offset, nr)`` range busy, or none (:class:`SlotBusy`)."""
        begin = self._table.slots_begin
        done: list[tuple[int, int, int]] = []
        try:
            for r in ranges:
                try:
                    begin(*r)
                except SlotBusy:
                    t, off, nr = r
                    if any(t == t2 and off < off2 + nr2 and off2 < off + nr
                           for t2, off2, nr2 in done):
                        raise InvalidParameter(f"a batch names swap slot {t}:{off} twice") \
                            from None
                    raise
                done.append(r)
        except BaseException:
            self._slots_end_all(done)
            raise

    def _slots_end_all(self, ranges: Sequence[tuple[int, int, int]]) -> None:
        end = self._table.slots_end
        for r in ranges:
            end(*r)

    def _store_batch_marked(self, folios: Sequence[tuple[BytesLike, int, int]],
                            checked: list[tuple[BytesLike, int]],
                            memcg: MemCgroup | None) -> list[bool]:
        """:meth:`store_batch` for checked folios whose slots are marked busy."""
        results = [False] * len(folios)
        todo: list[int] = []
        admitted_info: dict[int, tuple[MemCgroup | None, bool]] = {}
        for k, ((_, nr), (_, t, off)) in enumerate(zip(checked, folios, strict=True)):
            admitted = self._admit(memcg, t, off, nr)
            if admitted is not None:
                todo.append(k)
                admitted_info[k] = admitted
        if not todo:
            return results
        # One reference per page, on the pool current now: that pool (a compressor switch
        # may have run since the checks above) decides how the pages are stored.
        pool = self._pool_current_get(sum(checked[k][1] for k in todo))
        if _streams(pool):
            specs = [_StreamFolio(checked[k][0], checked[k][1], folios[k][1], folios[k][2],
                                  *admitted_info[k]) for k in todo]
            for k, ok in zip(todo, self._store_stream(specs, pool), strict=True):
                results[k] = ok
            return results
        wb_enabled = all(admitted_info[k][1] for k in todo)
        pages: list[BytesLike] = []
        owner: list[int] = []
        for k in todo:
            mv, nr = checked[k]
            if nr == 1:
                pages.append(mv)
            else:
                view = mv if isinstance(mv, memoryview) else memoryview(mv)
                pages.extend(view[i << PAGE_SHIFT:(i + 1) << PAGE_SHIFT] for i in range(nr))
            owner.extend([k] * nr)
        try:
            compressed = self._compress_pages(pages, pool, wb_enabled, all_or_nothing=False)
        except UseAfterFree:
            for k in todo:
                _, nr = checked[k]
                self._store_undo(pool, folios[k][1], folios[k][2], nr)
            raise
        stored = compressed or []  # never None without all_or_nothing
        # Per folio: publish when every page made it, else undo that folio alone.
        i = 0
        for k in todo:
            _, nr = checked[k]
            _, t, off = folios[k]
            mine = stored[i:i + nr]
            i += nr
            if all(item is not None for item in mine):
                self._publish(t, off, cast(list[tuple[int, int]], mine), pool,
                              admitted_info[k][0])
                results[k] = True
            else:
                free = pool.zs_pool.free
                for item in mine:
                    if item is not None:
                        free(item[0])
                self._store_undo(pool, t, off, nr)
        return results

    def _check_folio(self, folio: BytesLike, swp_type: int,
                     offset: int) -> tuple[BytesLike, int]:
        """A folio of 1..512 whole pages at slots inside a swapped-on type; else raise."""
        mv: BytesLike
        if type(folio) is bytes and len(folio) == PAGE_SIZE:
            mv, nr = folio, 1  # the common 4 KiB page: no view needed
        else:
            mv = folio if type(folio) is memoryview else _view(folio, "a folio")
            size = mv.nbytes
            nr = size >> PAGE_SHIFT
            if size & (PAGE_SIZE - 1) or not 0 < nr <= MAX_FOLIO_PAGES:
                raise InvalidPage(
                    f"a folio must be 1..{MAX_FOLIO_PAGES} whole {PAGE_SIZE}-byte pages, "
                    f"got {size} bytes"
                )
            if not mv.c_contiguous:
                raise InvalidPage("a folio must be one contiguous buffer, got a strided view")
            if mv.itemsize != 1 or mv.ndim != 1:
                mv = mv.cast("B")
        pages = self._tree_pages.get(swp_type)
        if pages is None or type(offset) is not int or offset < 0 or offset + nr > pages:
            raise self._bad_slot(swp_type, offset, nr)
        return mv, nr

    def _admit(self, memcg: MemCgroup | None, swp_type: int, offset: int,
               nr: int) -> tuple[MemCgroup | None, bool] | None:
        """Steps before compression: enabled, the cgroup's ``zswap.max`` (writing back the
        group's own entries to make room), the global limit. ``(charged memcg, writeback
        enabled)``, or None after the failure path ran."""
        charged: MemCgroup | None = None
        wb_enabled = True
        ok = self._c.enabled
        if memcg is not None and not isinstance(memcg, MemCgroup):
            raise InvalidParameter(f"memcg must be a MemCgroup or None, not "
                                   f"{type(memcg).__name__}")
        if ok and memcg is not None:
            charged, may, wb_enabled = memcg.zswap_store_target()
            if not may and self.shrink_memcg(charged):
                ok = False
        if ok and self._c.max_pages >= 0 and self._check_limits():
            ok = False
        if not ok:
            self._store_failed(swp_type, offset, nr)
            return None
        return charged, wb_enabled

    def _check_open(self) -> None:
        """A closed instance has no pool and no pages: storing, loading, invalidating or
        writing back is an error, before any side effect."""
        if self._closed or not self._pools:
            raise ZswapError("this Zswap is closed: its pools and pages are gone")

    def _pool_current_get(self, nr: int) -> ZswapPool:
        """The current pool with ``nr`` references taken (``zswap_pool_current_get``)."""
        lock = self._lock
        lock.acquire()
        try:
            if self._closed or not self._pools:  # close() ran since the caller checked
                raise ZswapError("this Zswap was closed during the store")
            pool = self._pools[0]
            pool.ref += nr
        finally:
            lock.release()
        return pool

    def _publish(self, swp_type: int, offset: int,
                 stored: list[tuple[int, int]], pool: ZswapPool,
                 charged: MemCgroup | None, *, count_out: bool = True,
                 flush: bool = True) -> None:
        """Insert the entries; an older entry for a slot (redirtied, swapped out again) goes.
        Charge the cgroup and put the entries on the LRU (referenced: second chance).

        ``count_out=False``: part of a folio, whose ``zswpout`` is counted once it is whole
        (see :meth:`_store_stream`); ``flush=False``: the caller holds a context mutex, so pools
        released meanwhile are destroyed later (their destruction takes the hotplug lock)."""
        nr = len(stored)
        c = self._c
        pool_id = pool.id
        objcg = -1 if charged is None else charged.id
        lru_id = 0 if charged is None else charged.id
        insert = self._table.insert
        lock = self._lock
        lock.acquire()
        if self._closed:
            # close() ran while this store compressed: its pools are gone, nothing to publish
            lock.release()
            raise ZswapError("this Zswap was closed during the store: nothing was stored")
        try:
            off = offset
            for handle, length in stored:
                # the entry goes in the tree and at the tail of its memcg's LRU list
                old = insert(swp_type, off, length, pool_id, handle, objcg, lru_id)
                if old is not None:
                    self._entry_free_locked(old)
                if length == PAGE_SIZE:
                    c.stored_incompressible_pages += 1
                if charged is not None:
                    charged.charge_zswap(length)
                off += 1
            c.stored_pages += nr
            if count_out:
                c.zswpout += nr
        finally:
            lock.release()
        if count_out and charged is not None:
            charged.count_event("zswpout", nr)
        if flush and self._release_pending:
            self._flush_releases()

    def _compress_folio(self, mv: BytesLike, nr: int, pool: ZswapPool,
                        wb_enabled: bool = True) -> list[tuple[int, int]] | None:
        """Every page of a folio into zsmalloc: ``[(handle, length)]``, or None (all undone)."""
        if nr == 1:
            # The common 4 KiB folio: the same steps as _compress_pages, without the batching
            # (a batching compressor compresses a single page on the caller's own context).
            ctx, res = pool.ctx_get_cpu_lock()
            try:
                buf = res.buffers[0]
                try:
                    result: int | ZswapError = res.tfm.compress(mv, buf)
                except (CompressPoor, CompressFail) as exc:
                    result = exc
                try:
                    item = self._zs_store(mv, buf, result, pool, wb_enabled)
                except _StoreRejected:
                    return None
                if res.freed:
                    pool.zs_pool.free(item[0])
                    with self._lock:
                        self.ctx_use_after_free += 1
                    pool.check_res(ctx, res)
            finally:
                ctx.mutex.release()
            return [item]
        if nr == 1:
            pages: list[BytesLike] = [mv]
        else:
            view = mv if isinstance(mv, memoryview) else memoryview(mv)
            pages = [view[i << PAGE_SHIFT:(i + 1) << PAGE_SHIFT] for i in range(nr)]
        out = self._compress_pages(pages, pool, wb_enabled, all_or_nothing=True)
        return None if out is None else cast(list[tuple[int, int]], out)

    def _compress_pages(self, pages: Sequence[BytesLike], pool: ZswapPool, wb_enabled: bool,
                        *, all_or_nothing: bool) -> list[tuple[int, int] | None] | None:
        """Compress and allocate pages on this CPU's context, batch by batch.

        A batch is the compressor's batch size for a batching compressor (one
        ``compress_batch`` call, pages compressed in parallel) and ZSWAP_MAX_BATCH_SIZE pages
        otherwise (compressed one by one). The context is locked per batch, so loads on this CPU
        are not starved behind a 2 MiB folio (the series' v8/v13 choice), and a thread that
        migrates between batches takes its new CPU's context for the next one.
        ``all_or_nothing``: a rejected page undoes every page and returns None; otherwise a
        rejected page is None in the result and the others stay.
        """
        batch_size = pool.compr_batch_size
        step = batch_size if batch_size > 1 else ZSWAP_MAX_BATCH_SIZE
        out: list[tuple[int, int] | None] = []
        store_one = self._zs_store
        try:
            for start in range(0, len(pages), step):
                chunk = pages[start:start + step]
                ctx, res = pool.ctx_get_cpu_lock()
                try:
                    if batch_size > 1 and len(chunk) > 1:
                        results: list[int | ZswapError] = res.tfm.compress_batch(
                            chunk, res.buffers[:len(chunk)])
                        bufs = res.buffers
                    else:
                        results, bufs = [], []
                    for k, page in enumerate(chunk):
                        if bufs:
                            buf, result = bufs[k], results[k]
                        else:
                            buf = res.buffers[0]
                            try:
                                result = res.tfm.compress(page, buf)
                            except (CompressPoor, CompressFail) as exc:
                                result = exc
                        try:
                            out.append(store_one(page, buf, result, pool, wb_enabled))
                        except _StoreRejected:
                            if all_or_nothing:
                                raise
                            out.append(None)
                    if res.freed:
                        pool.check_res(ctx, res)
                finally:
                    ctx.mutex.release()
        except (_StoreRejected, UseAfterFree) as exc:
            free = pool.zs_pool.free
            for item in out:
                if item is not None:
                    free(item[0])
            if isinstance(exc, UseAfterFree):
                with self._lock:
                    self.ctx_use_after_free += 1
                raise
            return None
        return out

    def _store_stream(self, folios: list[_StreamFolio], pool: ZswapPool) -> list[bool]:
        """Steps 4-5 of :meth:`store` for one or more folios on native engines; one result
        per folio. The caller took one pool reference per page.

        Every page of every folio goes into one engine job that streams through the
        compressor's ``batch_size`` context buffers, so the engines compress the next pages
        while this thread allocates and publishes the previous ones. As in the series'
        ``zswap_store_pages``, a folio's entries are published (tree, charge, LRU) one batch
        of ``batch_size`` pages at a time; a page that cannot be stored fails its folio: the
        folio's published entries and any older entries of its slots are erased, its other
        pages are dropped, and the other folios go on. ``zswpout`` counts whole folios only.

        Deliberate difference: the context stays locked for the whole job (its buffers are
        the job's ring), where the series locks it per batch; a 2 MiB folio holds it for a
        few ms. Pools released meanwhile are destroyed after the mutex is dropped.
        """
        batch = pool.compr_batch_size
        pages: list[BytesLike] = []
        for f in folios:
            if f.nr == 1:  # reclaim's 4 KiB folios: the folio is the page
                pages.append(f.mv)
                continue
            view = f.mv if isinstance(f.mv, memoryview) else memoryview(f.mv)
            pages.extend(view[i << PAGE_SHIFT:(i + 1) << PAGE_SHIFT] for i in range(f.nr))
        done = False
        try:
            ctx, res = pool.ctx_get_cpu_lock()
            try:
                tfm = cast("NativeBatchingTransform", res.tfm)
                # The ring is the pool's compr_batch_size buffers (a global-max context has
                # eight whatever the pool uses; the others stay unused, as in the kernel).
                ring = res.buffers[:batch]
                job = tfm.compress_stream(pages, len(pages), ring)
                completed = False
                try:
                    # Per page, in order: take the engines' result, store it in zsmalloc,
                    # publish the folio's entries a batch at a time; a rejected page fails
                    # its folio (_stream_fail). In C (ZswapFast.stream_consume) with the
                    # same steps; _stream_pages below is the same loop in Python.
                    if self._c_stream:
                        self._c.stream_consume(job.take, tfm.error, pages, ring, folios, pool,
                                               batch)
                    else:
                        self._stream_pages(job.take, tfm.error, pages, ring, folios, pool,
                                           batch)
                    completed = True
                finally:
                    tfm.end_stream(job, completed)
                if res.freed:
                    pool.check_res(ctx, res)
                done = True
            finally:
                ctx.mutex.release()
        except UseAfterFree:
            with self._lock:
                self.ctx_use_after_free += 1
            raise
        finally:
            if not done:  # an error escaped: nothing of this store may stay
                for f in folios:
                    if not f.failed:
                        self._stream_fail(f, pool)
            self._flush_releases()
            if any(f.failed for f in folios) and self._c.reached_full:
                self._shrink_work.queue()
        # zswpout for the folios stored whole: one lock round for the batch, one event per memcg
        stored = [f for f in folios if not f.failed]
        if stored:
            with self._lock:
                self._c.zswpout += sum(f.nr for f in stored)
            by_memcg: dict[MemCgroup, int] = {}
            for f in stored:
                if f.charged is not None:
                    by_memcg[f.charged] = by_memcg.get(f.charged, 0) + f.nr
            for memcg, nr in by_memcg.items():
                memcg.count_event("zswpout", nr)
        return [not f.failed for f in folios]

    def _stream_pages(self, take: Callable[[int], int], error: Callable[[int], ZswapError],
                      pages: list[BytesLike], ring: Sequence[bytearray],
                      folios: list[_StreamFolio], pool: ZswapPool, batch: int) -> None:
        """The per-page loop of :meth:`_store_stream` (reference for ``stream_consume``)."""
        nslots = len(ring)
        k = 0
        for f in folios:
            pending = f.pending
            for i in range(f.nr):
                code = take(k)
                page = pages[k]
                k += 1
                if f.failed:
                    continue
                result: int | ZswapError = code if code > 0 else error(code)
                try:
                    pending.append(self._zs_store(page, ring[(k - 1) % nslots], result, pool,
                                                  f.wb_enabled))
                except _StoreRejected:
                    self._stream_fail(f, pool)
                    continue
                if len(pending) == batch or i == f.nr - 1:
                    self._publish(f.swp_type, f.offset + f.published, pending, pool, f.charged,
                                  count_out=False, flush=False)
                    f.published += len(pending)
                    pending.clear()

    def _stream_fail(self, f: _StreamFolio, pool: ZswapPool) -> None:
        """A folio of a stream failed: free its unpublished objects, give back the pool
        references of its unpublished pages, erase its published entries and any older
        entries of its slots (a stale copy must never be written back)."""
        free = pool.zs_pool.free
        for handle, _ in f.pending:
            free(handle)
        f.pending.clear()
        f.failed = True
        with self._lock:
            self._pool_put_locked(pool, f.nr - f.published)
        self._store_failed(f.swp_type, f.offset, f.nr, flush=False)

    def _zs_store(self, page: BytesLike, buf: bytearray, result: int | ZswapError,
                  pool: ZswapPool, wb_enabled: bool) -> tuple[int, int]:
        """The rest of ``zswap_compress`` for one page: ``(handle, length)`` in zsmalloc.

        6.18: a page that does not compress below PAGE_SIZE is stored as-is (so it keeps its LRU
        position for writeback), unless its cgroup has writeback disabled: then it is rejected,
        -ENOSPC counting as ``reject_compress_poor`` and any other failure as
        ``reject_compress_fail``, as the kernel counts them.
        """
        src: BytesLike = buf
        dlen = result if type(result) is int else 0
        if not 0 < dlen < PAGE_SIZE:
            if not wb_enabled:
                if isinstance(result, CompressPoor):
                    self._c.reject_compress_poor += 1
                else:
                    self._c.reject_compress_fail += 1  # an error, or -EINVAL: no gain
                raise _StoreRejected
            src, dlen = page, PAGE_SIZE
        try:
            return pool.zs_pool.malloc_write(src, dlen), dlen
        except CompressPoor:
            self._c.reject_compress_poor += 1
            raise _StoreRejected from None
        except (AllocFail, MemoryError):
            self._c.reject_alloc_fail += 1
            raise _StoreRejected from None

    def _store_undo(self, pool: ZswapPool, swp_type: int, offset: int, nr: int) -> None:
        """Drop the store's pool references and erase the folio's slots (the failure path)."""
        with self._lock:
            self._pool_put_locked(pool, nr)
        self._store_failed(swp_type, offset, nr)

    def _store_failed(self, swp_type: int, offset: int, nr: int, *,
                      flush: bool = True) -> None:
        """Erase every entry of the folio's slots: a stale copy must never be written back.

        If the pool is full, queue the shrink worker to write back down to the threshold.
        ``flush=False``: the caller holds a context mutex and flushes later.
        """
        pop = self._table.pop
        with self._lock:
            if self._closed:  # close() destroyed every pool: nothing left to erase
                return
            for off in range(offset, offset + nr):
                entry = pop(swp_type, off)
                if entry is not None:
                    self._entry_free_locked(entry)
        if not flush:
            return
        self._flush_releases()
        if self._c.reached_full:
            self._shrink_work.queue()

    # ------------------------------------------------------------------ free ----------------
    def _entry_free_locked(self, entry: ZswapEntry) -> None:
        """``zswap_entry_free`` of an entry already erased from the table (which took it off
        its LRU list): zsmalloc object, pool reference, charge, counters.

        Called with ``Zswap._lock`` held (the memcg locks nest inside it).
        """
        objcg = entry.objcg
        if objcg >= 0:
            self._objcg_memcg(objcg).uncharge_zswap(entry.length)
        pool = self._pool_ids[entry.pool_id]
        pool.zs_pool.free(entry.handle)
        pool.ref -= 1
        if not pool.ref:
            self._release_pending.append(pool)
        c = self._c
        c.stored_pages -= 1
        if entry.length == PAGE_SIZE:
            c.stored_incompressible_pages -= 1

    # ------------------------------------------------------------------ load ----------------
    def load(self, out: bytearray | memoryview, swp_type: int, offset: int, *,
             swapcache: bool = True) -> bool:
        """``zswap_load``: decompress slot ``offset`` into ``out`` (one writable page).

        Returns False if zswap holds no entry for the slot (read the swap device instead).
        With ``swapcache`` (the folio is in the swap cache, always true in current kernels) the
        entry is erased after a successful load: the page in memory is now the only copy.
        A decompression failure raises :class:`DecompressFail` and keeps the entry.
        """
        if swapcache:
            # The same steps in C (csrc/fastpath.c), memcg events and charges included; it declines,
            # before doing anything, every case it does not cover. (Each instance calls
            # ZswapFast.load instead: this step and the next in one C call.)
            done = self._c.load_page(out, swp_type, offset)
            if done is not NotImplemented:
                return cast(bool, done)
        return self._load_flow(out, swp_type, offset, swapcache=swapcache)

    def _load_flow(self, out: bytearray | memoryview, swp_type: int, offset: int, *,
                   swapcache: bool = True) -> bool:
        """:meth:`load`'s steps in Python, for everything the C fast path declines."""
        mv = out if type(out) is memoryview else _view(out, "the output page")
        if mv.nbytes != PAGE_SIZE or mv.readonly:
            raise InvalidPage(
                f"zswap loads one writable {PAGE_SIZE}-byte page at a time (large folios are "
                f"refused, as in the kernel), got {mv.nbytes} bytes"
                + (" read-only" if mv.readonly else "")
            )
        self._check_open()
        pages = self._tree_pages.get(swp_type)
        if pages is None or type(offset) is not int or offset < 0 or offset >= pages:
            raise self._bad_slot(swp_type, offset, 1)
        table = self._table
        table.slots_begin(swp_type, offset, 1)  # the folio lock's part: see the module
        try:
            return self._load_marked(mv, swp_type, offset, swapcache)
        except (InvalidParameter, UseAfterFree) as exc:
            self._raise_if_closed(exc, "load")
            raise
        finally:
            table.slots_end(swp_type, offset, 1)

    def _load_marked(self, mv: memoryview, swp_type: int, offset: int, swapcache: bool) -> bool:
        """:meth:`_load_flow` once its slot is marked busy."""
        entry = self._table.get(swp_type, offset)
        if entry is None:
            return False
        self._decompress(entry, mv)
        lock = self._lock
        lock.acquire()
        if self._closed:
            lock.release()
            raise ZswapError("this Zswap was closed during the load")
        try:
            self._c.zswpin += 1
            if entry.objcg >= 0:
                self._objcg_memcg(entry.objcg).count_event("zswpin")
            if swapcache and self._table.pop(swp_type, offset, entry) is not None:
                self._entry_free_locked(entry)
        finally:
            lock.release()
        if self._release_pending:
            self._flush_releases()
        return True

    def load_batch(self, outs: Sequence[bytearray | memoryview], swp_type: int,
                   offsets: Sequence[int], *, swapcache: bool = True) -> list[bool]:
        """Load several slots at once (swap-in readahead): one result per slot, as
        :meth:`load` would give. With a batching compressor, the pages of each pool are
        decompressed together in batches of its batch size (in parallel); other pages go one
        by one. If some pages fail to decompress, the others are loaded and
        :class:`DecompressFail` is raised at the end naming the failed slots (their entries
        stay)."""
        if len(outs) != len(offsets):
            raise InvalidParameter(f"load_batch: {len(outs)} buffers for {len(offsets)} slots")
        views = [o if type(o) is memoryview else _view(o, "an output page") for o in outs]
        for view in views:
            if view.nbytes != PAGE_SIZE or view.readonly:
                raise InvalidPage(f"load_batch: every buffer must be one writable "
                                  f"{PAGE_SIZE}-byte page")
        self._check_open()
        for off in offsets:
            self._check_slot(swp_type, off, 1)
        ranges = [(swp_type, off, 1) for off in offsets]
        self._slots_begin_all(ranges)
        try:
            return self._load_batch_marked(views, swp_type, offsets, swapcache)
        finally:
            self._slots_end_all(ranges)

    def _load_batch_marked(self, views: list[memoryview], swp_type: int,
                           offsets: Sequence[int], swapcache: bool) -> list[bool]:
        """:meth:`load_batch` once its slots are marked busy."""
        get = self._table.get
        results = [False] * len(offsets)
        failed: list[int] = []
        batch_failed = 0  # _decompress counts its own failures
        found: list[tuple[int, ZswapEntry]] = []
        for k, off in enumerate(offsets):
            entry = get(swp_type, off)
            if entry is not None:
                found.append((k, entry))
        loaded: list[tuple[int, ZswapEntry]] = []
        for pool, chunk in self._pool_batches(found):
            if pool is None or len(chunk) == 1:
                for k, entry in chunk:
                    try:
                        self._decompress(entry, views[k])
                        loaded.append((k, entry))
                    except DecompressFail:
                        failed.append(offsets[k])
            else:
                ok = self._decompress_batch(pool, chunk, views)
                for (k, entry), good in zip(chunk, ok, strict=True):
                    if good:
                        loaded.append((k, entry))
                    else:
                        failed.append(offsets[k])
                        batch_failed += 1
        with self._lock:
            if self._closed:
                raise ZswapError("this Zswap was closed during the load")
            for k, entry in loaded:
                results[k] = True
                self._c.zswpin += 1
                if entry.objcg >= 0:
                    self._objcg_memcg(entry.objcg).count_event("zswpin")
                if swapcache and self._table.pop(swp_type, entry.offset, entry) is not None:
                    self._entry_free_locked(entry)
            self._c.decompress_fail += batch_failed
        if self._release_pending:
            self._flush_releases()
        if failed:
            raise DecompressFail(f"zswap: decompressing slots {sorted(failed)} of type "
                                 f"{swp_type} failed; those entries are kept")
        return results

    def _pool_batches(self, items: Sequence[_T]) -> Iterator[tuple[ZswapPool | None, list[_T]]]:
        """``items`` (tuples whose second element is an entry) grouped by the entry's pool, in
        chunks of the pool's batch size: what one ``decompress_batch`` call may carry (one
        item at a time for a software pool; pool None if it is gone meanwhile)."""
        groups: dict[int, list[_T]] = {}
        for item in items:
            groups.setdefault(item[1].pool_id, []).append(item)
        for pool_id, members in groups.items():
            pool = self._pool_ids.get(pool_id)
            step = 1 if pool is None else pool.compr_batch_size
            for start in range(0, len(members), step):
                yield pool, members[start:start + step]

    def _decompress_batch(self, pool: ZswapPool, chunk: list[tuple[int, ZswapEntry]],
                          views: list[memoryview]) -> list[bool]:
        """Decompress one batch of a batching pool's entries in one call; ok per page."""
        zs = pool.zs_pool
        ctx, res = pool.ctx_get_cpu_lock()
        try:
            ok = [True] * len(chunk)
            srcs: list[BytesLike] = []
            dsts: list[memoryview] = []
            slots: list[int] = []
            for i, (k, entry) in enumerate(chunk):
                if entry.length == PAGE_SIZE:
                    zs.read_into(entry.handle, PAGE_SIZE, views[k])
                else:
                    srcs.append(zs.read(entry.handle, entry.length))
                    dsts.append(views[k])
                    slots.append(i)
            if srcs:
                for i, result in zip(slots, res.tfm.decompress_batch(srcs, dsts), strict=True):
                    ok[i] = result == PAGE_SIZE
            if res.freed:
                pool.check_res(ctx, res)
        except UseAfterFree:
            with self._lock:
                self.ctx_use_after_free += 1
            raise
        finally:
            ctx.mutex.release()
        return ok

    def _decompress(self, entry: ZswapEntry, out: memoryview) -> None:
        """``zswap_decompress``: the entry's bytes into ``out``, on this CPU's context.

        The object is read in place (no copy) unless compaction is moving objects; the
        zsmalloc migration seqcount tells if it moved meanwhile, and then it is read again
        under the zsmalloc lock.
        """
        pool = self._pool_ids[entry.pool_id]
        zs = pool.zs_pool
        handle, length = entry.handle, entry.length
        ctx, res = pool.ctx_get_cpu_lock()
        try:
            if length == PAGE_SIZE:  # stored as-is
                zs.read_into(handle, PAGE_SIZE, out)
                dlen = PAGE_SIZE
            else:
                decompress = res.tfm.decompress
                seq = zs.migrate_seq
                dlen = -1
                if not seq & 1:
                    try:
                        dlen = decompress(zs.obj_view(handle, length), out)
                    except DecompressFail:
                        dlen = -1
                if seq & 1 or zs.migrate_seq != seq:
                    try:
                        dlen = decompress(zs.read(handle, length), out)
                    except DecompressFail:
                        dlen = -1
            if res.freed:
                pool.check_res(ctx, res)
        except UseAfterFree:
            with self._lock:
                self.ctx_use_after_free += 1
            raise
        finally:
            ctx.mutex.release()
        if dlen != PAGE_SIZE:
            with self._lock:
                self._c.decompress_fail += 1
            raise DecompressFail(
                f"zswap: decompressing {entry.type}:{entry.offset} with {pool.tfm_name} failed "
                f"(got {dlen} bytes); the entry is kept"
            )

    # ------------------------------------------------------------------ invalidate ----------
    def invalidate(self, swp_type: int, offset: int) -> bool:
        """``zswap_invalidate``: the slot was freed; drop its entry. True if there was one.
        :class:`SlotBusy` (nothing changes) while a store, load or writeback of the slot is in
        flight: the swap core frees a slot only when nobody holds its folio."""
        self._check_open()
        with self._lock:  # checked under the lock: a swapoff or close may run meanwhile
            self._check_open()
            self._check_slot(swp_type, offset, 1)
            self._check_not_busy(swp_type, offset, 1)
            entry = self._table.pop(swp_type, offset)
            if entry is not None:
                self._entry_free_locked(entry)
                self.invalidated_pages += 1
        if self._release_pending:
            self._flush_releases()
        return entry is not None

    # ------------------------------------------------------------------ memcg & swap glue ---
    def _objcg_memcg(self, objcg: int) -> MemCgroup:
        """``obj_cgroup_memcg``: the group an entry's objcg charges now (reparenting-aware)."""
        root = self.memcg_root
        if root is None:
            raise InvalidParameter("an entry has an object cgroup but zswap has no memcg root")
        return root.obj_cgroup_memcg(objcg)

    def _memcg_offline(self, memcg: MemCgroup, parent: MemCgroup) -> None:
        """memcg offline: its LRU entries move to the parent (``memcg_reparent_list_lrus``)."""
        self.lru.reparent(memcg.id, parent.id)

    def attach_swap(self, table: SwapTable) -> None:
        """Put zswap in front of ``table``'s swap devices: writeback writes to them, and freeing
        a slot invalidates its entry (the swap core's call of ``zswap_invalidate``)."""
        self.swap_table = table
        table.on_free = self._on_swap_free

    def _check_not_busy(self, swp_type: int, offset: int, nr: int) -> None:
        if self._table.slots_busy(swp_type, offset, nr):
            raise SlotBusy(f"invalidate of swap slots {swp_type}:{offset}+{nr} while a store, "
                           "load or writeback of one of them is in flight")

    def _on_swap_free(self, swp_type: int, offset: int, nr: int) -> None:
        pop = self._table.pop
        with self._lock:
            if swp_type not in self._tree_pages or self._closed:
                return
            self._check_not_busy(swp_type, offset, nr)
            for off in range(offset, offset + nr):
                entry = pop(swp_type, off)
                if entry is not None:
                    self._entry_free_locked(entry)
                    self.invalidated_pages += 1
        if self._release_pending:
            self._flush_releases()

    def folio_swapin(self, memcg: MemCgroup | None = None) -> None:
        """``zswap_folio_swapin``: a page came back from the swap *device*: the shrinker
        protects that many entries from its next count (it wrote back too eagerly)."""
        key = 0 if memcg is None else memcg.id
        with self._lock:
            self._nr_disk_swapins[key] = self._nr_disk_swapins.get(key, 0) + 1

    # ------------------------------------------------------------------ writeback -----------
    def writeback_entry(self, entry: ZswapEntry) -> int:
        """``zswap_writeback_entry``: decompress an entry and write it to its swap slot.

        Returns 0, or a negative errno: -EEXIST (the slot's folio is already in the swap
        cache: it is being swapped in, or another writeback has it), -ENOMEM (the entry was
        invalidated or the slot reused meanwhile: nothing is written), -EIO (decompression or
        the device write failed: the entry stays in zswap), -ENODEV (no swap device).

        Deliberate difference: the kernel erases the entry before submitting the write and
        relies on the swap cache to retry a failed write; pyzswap writes synchronously and
        erases the entry only after the write succeeded, so an I/O error loses nothing.
        """
        # 1-2. Pin the slot with a swap-cache folio (and mark it busy); still this entry's?
        self._check_open()
        pinned = self._wb_pin(entry)
        if type(pinned) is int:
            return pinned
        swp, folio = cast(_Pinned, pinned)
        try:
            # 3. Decompress into the folio.
            try:
                self._decompress(entry, memoryview(folio))
            except DecompressFail:
                return -errno.EIO
            except InvalidParameter:
                return -errno.ENOMEM  # freed under us (a load without the swap cache)
            # 4. Write it to the device; only then drop the entry.
            ret = self._wb_write(entry, swp, folio)
        finally:
            self._wb_unpin(entry, swp)
        if self._release_pending:
            self._flush_releases()
        return ret

    def writeback_entries(self, entries: Sequence[ZswapEntry]) -> list[int]:
        """Write back a batch of entries: one result per entry, as :meth:`writeback_entry`
        gives. The steps are the same, but every slot is pinned first and the entries of a
        batching pool are then decompressed together, in batches of its batch size (in
        parallel on its engines), before the pages are written one by one."""
        self._check_open()
        table = self.swap_table
        results = [0] * len(entries)
        pinned: list[tuple[int, ZswapEntry, _Pinned]] = []
        try:
            for k, entry in enumerate(entries):
                got = self._wb_pin(entry)
                if type(got) is int:
                    results[k] = got
                else:
                    pinned.append((k, entry, cast(_Pinned, got)))
            decoded: list[tuple[int, ZswapEntry, _Pinned]] = []
            for pool, chunk in self._pool_batches(pinned):
                for item, ret in zip(chunk, self._wb_decompress(pool, chunk), strict=True):
                    if ret:
                        results[item[0]] = ret
                    else:
                        decoded.append(item)
            for k, entry, (swp, folio) in sorted(decoded, key=lambda item: item[0]):
                results[k] = self._wb_write(entry, swp, folio)
        finally:
            if table is not None:
                for _, entry, (swp, _) in pinned:
                    self._wb_unpin(entry, swp)
        if self._release_pending:
            self._flush_releases()
        return results

    def _wb_pin(self, entry: ZswapEntry) -> int | _Pinned:
        """Writeback steps 1-2: a swap-cache folio for the entry's slot pins it against reuse
        and swapoff, and the slot is marked busy (-EEXIST if a store or load of it is in
        flight); then the slot must still hold this entry. ``(swp, folio)``, or the negative
        errno (the swap-cache folio and the mark are already gone again then); release with
        :meth:`_wb_unpin`."""
        table = self.swap_table
        swp_type, offset = entry.type, entry.offset
        if table is None or swp_type not in self._tree_pages:
            return -errno.ENODEV
        swp = (swp_type << SWP_TYPE_SHIFT) | offset
        folio = bytearray(PAGE_SIZE)
        try:
            if not table.add_to_swap_cache(swp, folio):
                return -errno.EEXIST
        except (SwapSlotFree, InvalidParameter):
            return -errno.ENOMEM  # the slot was freed: the entry is being invalidated
        try:
            marked = self._table.slots_try_begin(swp_type, offset, 1)
        except ValueError:  # not a slot of the tree (a made-up entry)
            table.delete_from_swap_cache(swp)
            return -errno.ENOMEM
        if not marked:
            table.delete_from_swap_cache(swp)
            return -errno.EEXIST
        if self._table.get(swp_type, offset) != entry:
            self._wb_unpin(entry, swp)
            return -errno.ENOMEM
        return swp, folio

    def _wb_unpin(self, entry: ZswapEntry, swp: int) -> None:
        """Undo :meth:`_wb_pin`: the busy mark first, then the swap-cache folio (whose removal
        may free the slot and so invalidate it)."""
        self._table.slots_end(entry.type, entry.offset, 1)
        cast(SwapTable, self.swap_table).delete_from_swap_cache(swp)

    def _wb_decompress(self, pool: ZswapPool | None,
                       chunk: list[tuple[int, ZswapEntry, _Pinned]]) -> list[int]:
        """Writeback step 3 for a chunk of one pool's pinned entries: 0 or -errno each."""
        if pool is not None and len(chunk) > 1:
            views = [memoryview(folio) for _, _, (_, folio) in chunk]
            try:
                ok = self._decompress_batch(pool, [(i, e) for i, (_, e, _) in enumerate(chunk)],
                                            views)
            except InvalidParameter:
                pass  # an entry freed under us: find out which, one by one
            else:
                bad = ok.count(False)
                if bad:
                    with self._lock:
                        self._c.decompress_fail += bad
                return [0 if good else -errno.EIO for good in ok]
        rets: list[int] = []
        for _, entry, (_, folio) in chunk:
            try:
                self._decompress(entry, memoryview(folio))
                rets.append(0)
            except DecompressFail:
                rets.append(-errno.EIO)
            except InvalidParameter:
                rets.append(-errno.ENOMEM)
        return rets

    def _wb_write(self, entry: ZswapEntry, swp: int, folio: bytearray) -> int:
        """Writeback step 4: write the page to its slot; only then drop the entry."""
        try:
            cast(SwapTable, self.swap_table).write_page(swp, folio)
        except SwapIOError:
            return -errno.EIO
        with self._lock:
            if self._closed:
                raise ZswapError("this Zswap was closed during the writeback")
            if self._table.pop(entry.type, entry.offset, entry) is not None:
                self._entry_free_locked(entry)
            self._c.zswpwb += 1
            if entry.objcg >= 0:
                self._objcg_memcg(entry.objcg).count_event("zswpwb")
        if self.on_writeback is not None:
            self.on_writeback(entry.type, entry.offset)
        return 0

    def _shrink_memcg_cb(self, encountered: list[bool] | None) -> IsolateFn[ZswapEntry]:
        """``shrink_memcg_cb`` for one walk (``encountered`` set only by the shrinker)."""
        c = self._c

        def isolate(key: int, entry: ZswapEntry, referenced: bool,
                    w: LruWalk[ZswapEntry]) -> int:
            if referenced:
                return LRU_ROTATE  # second chance; the walk clears the bit
            w.move_tail()  # rotate before unlocking: once unlocked the entry may be freed
            w.unlock()
            try:
                err = self.writeback_entry(entry)
            finally:
                w.lock()
            if err:
                c.reject_reclaim_fail += 1
                if err == -errno.EEXIST and encountered is not None:
                    encountered[0] = True
                    return LRU_STOP
                return LRU_RETRY
            c.written_back_pages += 1
            return LRU_REMOVED_RETRY

        return isolate

    def shrink_memcg(self, memcg: MemCgroup | None) -> int:
        """``shrink_memcg``: write back one entry of the group's LRU.

        0 if one was written back, -EAGAIN if entries were scanned but none written, -ENOENT if
        writeback is disabled, the group is offline or its LRU is empty.
        """
        if memcg is not None and (not memcg.zswap_writeback_enabled() or not memcg.online):
            return -errno.ENOENT
        shrunk, left = self.lru.walk_one(0 if memcg is None else memcg.id, 1,
                                         self._shrink_memcg_cb(None))
        if 1 - left == 0:
            return -errno.ENOENT
        return 0 if shrunk else -errno.EAGAIN

    def shrink_worker(self) -> None:
        """``shrink_worker``: write back, round-robin over cgroups, until the pool is below the
        accept threshold; give up after ``MAX_RECLAIM_RETRIES`` (16) failures."""
        for _ in self.shrink_worker_steps():
            pass

    def shrink_work_take(self) -> bool:
        """``shrink_work="clock"``: True if the shrink work was queued since the last call (the
        caller then runs :meth:`shrink_worker_steps` on its own clock)."""
        return self._shrink_work.take()

    def shrink_worker_steps(self) -> Iterator[int]:
        """:meth:`shrink_worker` one ``shrink_memcg`` call at a time: yields each call's result
        (0, -EAGAIN, -ENOENT), so a caller can interleave the worker with other work."""
        thr = self.accept_thr_pages()
        if thr is None:
            return
        failures = attempts = 0
        cursor = self._shrink_cursor
        while True:
            memcg = None if cursor is None else cursor.next()
            if cursor is not None and memcg is None:
                # End of a full pass over the hierarchy.
                if not attempts:
                    failures += 1
                    if failures == MAX_RECLAIM_RETRIES:
                        break
                attempts = 0
            else:
                ret = self.shrink_memcg(memcg)
                yield ret
                if ret != -errno.ENOENT:
                    attempts += 1
                    if ret:
                        failures += 1
                        if failures == MAX_RECLAIM_RETRIES:
                            break
                elif cursor is None:
                    break  # no memcg hierarchy and nothing to write back
            if self.total_pages() <= thr:
                break

    def shrink_work_queue(self) -> None:
        """``queue_work(shrink_wq, &zswap_shrink_work)``: run the shrink worker on its thread."""
        self._shrink_work.queue()

    def shrink_work_flush(self, timeout: float | None = None) -> bool:
        """``flush_work``: wait until queued shrink work has run; False on timeout."""
        return self._shrink_work.flush(timeout)

    def shrinker_count(self, memcg: MemCgroup | None = None) -> int:
        """``zswap_shrinker_count``: freeable entries, scaled by the compression ratio and
        reduced by recent swap-ins from disk (which show writeback was too eager)."""
        if not self._params["shrinker_enabled"]:
            return 0
        if memcg is not None and not memcg.zswap_writeback_enabled():
            return 0
        if memcg is None or self.memcg_root is None:
            nr_backing, nr_stored = self.total_pages(), self._c.stored_pages
        else:
            nr_backing, nr_stored = memcg.zswap_current >> PAGE_SHIFT, memcg.zswapped
        if not nr_stored:
            return 0
        key = 0 if memcg is None else memcg.id
        nr_freeable = self.lru.count(key)
        if not nr_freeable:
            return 0
        with self._lock:  # consume the protection atomically, as the kernel's cmpxchg loop
            swapins = self._nr_disk_swapins.get(key, 0)
            self._nr_disk_swapins[key] = max(swapins - nr_freeable, 0)
        nr_freeable = max(nr_freeable - swapins, 0)
        if not nr_freeable:
            return 0
        return nr_freeable * nr_backing // nr_stored

    def shrinker_scan(self, memcg: MemCgroup | None = None, nr_to_scan: int = 128) -> int:
        """``zswap_shrinker_scan``: walk the group's LRU writing back cold entries; the
        number written back, or ``SHRINK_STOP`` (-1) if none or a swap-cache hit was seen.

        As the kernel's, it first returns ``SHRINK_STOP`` without touching the LRU when
        ``shrinker_enabled`` is off or the group's ``memory.zswap.writeback`` is disabled."""
        if not self._params["shrinker_enabled"]:
            return SHRINK_STOP
        if memcg is not None and not memcg.zswap_writeback_enabled():
            return SHRINK_STOP
        encountered = [False]
        freed = self.lru.walk(0 if memcg is None else memcg.id, nr_to_scan,
                              self._shrink_memcg_cb(encountered))
        if encountered[0] or not freed:
            return SHRINK_STOP
        return freed

    def close(self) -> None:
        """Stop the shrink worker thread, detach from the swap table and memcg tree, and destroy
        every pool (zsmalloc memory, per-CPU contexts, CPU hotplug instances). The instance
        cannot store, load, invalidate or write back afterwards (:class:`ZswapError`); an
        operation still in flight on another thread finds out under ``_lock`` before it
        publishes or erases anything, and raises the same. Idempotent."""
        with self._lock:
            if self._closed:
                return
        self._shrink_work.stop()
        with self._lock:
            self._closed = True
            # the fast paths decline from now on, and those in flight see it under this lock;
            # their references go once none is active (this breaks the reference cycle)
            self._c.unbind()
            pools = list(self._pools)
            self._pools.clear()  # in place: the fast paths hold this list
            self._pool_ids.clear()
            for pool in pools:
                self._c.forget(pool)
        # Under the hotplug lock: it waits for a hotplug operation in progress, whose holder
        # first runs any pool release it deferred (see _flush_releases).
        with self.cpus.hotplug_lock:
            for pool in pools:
                pool.destroy()
            if self.shared_ctxs is not None:
                self.shared_ctxs.destroy()
        self.streams.clear()
        if self.swap_table is not None and self.swap_table.on_free == self._on_swap_free:
            self.swap_table.on_free = None
        if self.memcg_root is not None:
            self.memcg_root.unregister_offline_hook(self._memcg_offline)
        if self._shrink_cursor is not None:
            self._shrink_cursor.close()

    # ------------------------------------------------------------------ queries -------------
    def lookup(self, swp_type: int, offset: int) -> ZswapEntry | None:
        """The entry stored for a slot, or None (read-only view for tools and tests)."""
        with self._lock:
            self._check_slot(swp_type, offset, 1)
            entry: ZswapEntry | None = self._table.get(swp_type, offset)
        return entry

    def entries(self, swp_type: int) -> list[ZswapEntry]:
        """Every entry of a swap type, by offset."""
        with self._lock:
            if swp_type not in self._tree_pages:
                raise InvalidParameter(f"swap type {swp_type!r} is not on")
            return self._table.values(swp_type)  # by offset

    def stats(self) -> dict[str, int]:
        """The debugfs statistics (``/sys/kernel/debug/zswap/*``), by their file names."""
        c = self._c
        with self._lock:
            values = {name: getattr(c, name) for name in DEBUGFS_STATS
                      if name != "pool_total_size"}
            values["pool_total_size"] = self.total_pages() * PAGE_SIZE
        return {name: values[name] for name in DEBUGFS_STATS}

    def vmstat(self) -> dict[str, int]:
        """zswap's vmstat events: ``zswpin``, ``zswpout``, ``zswpwb``."""
        c = self._c
        return {name: getattr(c, name) for name in VMSTAT_EVENTS}

    def compressed_bytes(self) -> int:
        """Sum of entry lengths (what memcg charges: compressed bytes, no class rounding)."""
        with self._lock:
            return self._table.total_length
