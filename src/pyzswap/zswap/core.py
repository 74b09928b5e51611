"""Zswap: the compressed swap cache of ``mm/zswap.c``, one object per instance.

Where things live (docs/ARCHITECTURE.md):

* the state -- entries (the per-type trees and memcg LRU lists), the debugfs statistics and
  vmstat events, the global limit and its hysteresis, the live pools and their references --
  is one C object, ``pyzswap._native.ZswapState`` (csrc/state.c), the only place accounting
  happens;
* two complete flows run store and load over it: the Python reference
  (:class:`~pyzswap.zswap.flow.PythonFlow`, to be read) and the C flow
  (``pyzswap._native.NativeFlow``, csrc/flow.c, to be fast). ``Zswap(flow=...)`` chooses:
  ``"python"``, ``"native"``, or ``"auto"`` (the default: the C flow, except while the current
  pool's compressor batches through ``compress_batch`` -- on Python engine threads, say --
  whose batches only the Python flow makes; the C flow would compress them page by page).
  The choice is made when the configuration changes (construction, a compressor switch),
  never per call; :attr:`Zswap.flow` says which runs;
* pools are built and switched in :mod:`pyzswap.zswap.pools`, writeback and the shrinkers are
  in :mod:`pyzswap.zswap.writeback`.

Locking: compression and decompression run under the per-CPU context mutex only, so threads on
different CPUs compress in parallel (codecs release the GIL). Entries, counters, pool
references and the pool list change under ``Zswap._lock`` (the xarray lock, the list_lru
lock, the pools lock and the atomics of the kernel, folded into one). Order:
``acomp_ctx.mutex`` -> zsmalloc pool lock; ``Zswap._lock`` -> zsmalloc pool lock; never a
context mutex under ``Zswap._lock``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from .._native import EntryTable, Lock, NativeFlow, SwapFreeHook, ZswapState
from ..compress import PageCodecCompressor
from ..cpu import CpuModel
from ..errors import DecompressFail, InvalidPage, InvalidParameter, SlotBusy, ZswapError
from ..folio import PAGE_SIZE
from ..lru import EntryLru
from ..memcg import MemCgroup, ZswapMemcgHooks, ZswapShrinkCursor
from ..pool import CompStreams, MemHook, SharedCtxs, ZswapPool, check_lifetime
from ..swap import SwapTable
from .flow import PythonFlow, _view
from .params import (
    DEBUGFS_STATS,
    FLOWS,
    PARAMETERS,
    VMSTAT_EVENTS,
    ZswapEntry,
    host_totalram_pages,
)
from .pools import ZswapPools
from .writeback import ShrinkWork, ZswapWriteback

if TYPE_CHECKING:
    from .._types import BytesLike
    from ..compress import Compressor, Transform

__all__ = ["DEFAULT_FLOW", "Zswap"]

_HOST_RAM: Final = object()

#: What ``flow="auto"`` resolves to where nothing needs the Python flow; the environment
#: variable ``PYZSWAP_FLOW`` (``native`` or ``python``) overrides it, as python-zstandard's
#: import policy does, to run a whole program or test suite on one flow.
DEFAULT_FLOW: str = os.environ.get("PYZSWAP_FLOW", "native")


class Zswap(ZswapPools, ZswapWriteback):
    """A zswap instance: parameters, pools, per-swap-type trees and statistics.

    ``totalram_pages`` is the RAM size the global limit is a percentage of; it defaults to this
    machine's RAM, like the kernel's ``totalram_pages()``. ``None`` means no global limit at all
    (a pyzswap extension for measuring tools that must never refuse a store). ``flow`` chooses
    the flow that runs store and load (see the module docstring).
    """

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
        flow: str = "auto",
    ) -> None:
        if totalram_pages is _HOST_RAM:
            totalram_pages = host_totalram_pages()
        if totalram_pages is not None and (
            not isinstance(totalram_pages, int) or isinstance(totalram_pages, bool)
            or totalram_pages <= 0
        ):
            raise InvalidParameter(f"totalram_pages must be a positive integer or None, got "
                                   f"{totalram_pages!r}")
        if flow not in FLOWS:
            raise InvalidParameter(f"flow must be one of {', '.join(FLOWS)}, got {flow!r}")
        if shrink_work not in ("thread", "inline", "clock"):
            raise InvalidParameter(f"shrink_work must be 'thread', 'inline' or 'clock', got "
                                   f"{shrink_work!r}")
        self.totalram_pages: int | None = totalram_pages
        self.cpus = cpus if isinstance(cpus, CpuModel) else CpuModel(cpus)
        self.chain_size = chain_size
        #: Per-CPU context design of every pool (see pyzswap.pool): fixed for the instance,
        #: as the shared designs allocate their contexts here, in zswap_setup().
        self.lifetime = check_lifetime(lifetime)
        #: Called before every allocation of pool creation and CPU preparation; may run
        #: "direct reclaim".
        self.mem_hook = mem_hook
        self._cpuhp_states = {}
        self._pool_counter = 0
        #: The module parameter lock (kernel_param_lock): every parameter write, so two
        #: compressor switches never build two pools at once.
        self._param_lock = threading.Lock()
        #: 6.18's per-algorithm per-CPU compression streams, shared by every pool.
        self.streams = CompStreams()
        #: zswap_setup(): the per-CPU contexts every pool shares (shared designs only).
        self.shared_ctxs = SharedCtxs.create(self.lifetime, self.cpus, mem_hook)
        self._params = {}
        for name, value in (("enabled", enabled), ("max_pool_percent", max_pool_percent),
                            ("accept_threshold_percent", accept_threshold_percent),
                            ("shrinker_enabled", shrinker_enabled)):
            self._params[name] = PARAMETERS[name].parse(name, value)
        self.memcg_root = None if memcg_root is None else memcg_root.root
        #: The state: entries, counters, limits, pools (csrc/state.c); and zswap's lock.
        self._lock = Lock()
        self._table = EntryTable(ZswapEntry)
        hooks = None if self.memcg_root is None else ZswapMemcgHooks(self.memcg_root)
        self._state = ZswapState(self._table, self._lock, hooks)
        self._state.enabled = bool(self._params["enabled"])
        self._update_limits()
        self._tree_pages = {}
        # The writeback tier: one LRU keyed by memcg, the shrink worker, the swap devices.
        self.lru = EntryLru(self._table, self._lock)
        self._shrink_cursor = None
        self.enoent_run = 1
        if self.memcg_root is not None:
            self._shrink_cursor = ZswapShrinkCursor(self.memcg_root)
            self.memcg_root.register_offline_hook(self._memcg_offline)
            # the state adds up memcg events; the tree flushes it whenever they are read
            self.memcg_root.register_event_source(self._state)
        self._nr_disk_swapins = {}
        self._shrink_work = ShrinkWork(self, inline=shrink_work == "inline",
                                       clock=shrink_work == "clock")
        #: Called as ``on_writeback(swp_type, offset)`` after each entry written back (no
        #: lock held): the mm model puts the swap-cache folio writeback made on its LRU.
        self.on_writeback: Callable[[int, int], None] | None = None
        #: ``shrink_work="clock"``: called when the shrink work is queued (no lock held).
        self.on_shrink_queue: Callable[[], None] | None = None
        self._flow_policy = flow
        self._python_flow = PythonFlow(self)
        self._native_flow = NativeFlow(self._state, self, self.cpus)
        self._precompress_tfm: tuple[Compressor, Transform] | None = None
        self.swap_table = None
        if swap_table is not None:
            self.attach_swap(swap_table)
        # zswap_setup(): create the first pool; an unknown compressor is an error here, where
        # the kernel would fall back to its Kconfig default at boot.
        try:
            pool = self._pool_create(compressor)
        except BaseException:
            if self.shared_ctxs is not None:  # leave the CpuModel as it was
                self.shared_ctxs.destroy()
            raise
        with self._lock:
            self._state.pool_add(pool)
        self._params["compressor"] = compressor
        self._configure_flow()

    # ------------------------------------------------------------------ the flow ------------
    @property
    def flow(self) -> str:
        """The flow running store and load now: ``"python"`` or ``"native"``."""
        return "python" if self._flow is self._python_flow else "native"

    @property
    def flow_policy(self) -> str:
        """What was asked for: ``"auto"``, ``"python"`` or ``"native"``."""
        return self._flow_policy

    def _configure_flow(self) -> None:
        """Choose the flow for the current configuration, and make this instance's ``store``,
        ``load`` and ``store_batch`` the flow's own (one call, no Python frame for the C flow;
        a subclass that overrides them keeps its own)."""
        policy = self._flow_policy
        if policy == "auto":
            policy = DEFAULT_FLOW if DEFAULT_FLOW in ("native", "python") else "native"
            pools = self._state.pools()
            if pools and _python_engines(pools[0]):
                policy = "python"  # its batches run on the engines only in the Python flow
        flow: PythonFlow | NativeFlow = (self._python_flow if policy == "python"
                                         else self._native_flow)
        self._flow = flow
        cls = type(self)
        if cls.store is Zswap.store:
            self.store = flow.store  # type: ignore[method-assign]
        if cls.load is Zswap.load:
            self.load = flow.load  # type: ignore[method-assign]
        if cls.store_batch is Zswap.store_batch:
            self.store_batch = flow.store_batch  # type: ignore[method-assign]

    # ------------------------------------------------------------------ parameters ----------
    @property
    def enabled(self) -> bool:
        return bool(self._state.enabled)

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
                self._state.enabled = bool(parsed)
            self._update_limits()

    # ------------------------------------------------------------------ limits --------------
    def max_pages(self) -> int | None:
        """``zswap_max_pages()``: the global limit in pages, or None without one."""
        return None if self._state.max_pages < 0 else int(self._state.max_pages)

    def accept_thr_pages(self) -> int | None:
        """``zswap_accept_thr_pages()``: where a full pool starts accepting again."""
        return None if self._state.thr_pages < 0 else int(self._state.thr_pages)

    def _update_limits(self) -> None:
        """Recompute the limits in pages after a parameter change (not on every store)."""
        if self.totalram_pages is None:
            self._state.set_limits(-1, -1)  # no limit
            return
        max_pages = self.totalram_pages * int(self._params["max_pool_percent"])  # type: ignore[call-overload]
        thr = int(self._params["accept_threshold_percent"])  # type: ignore[call-overload]
        self._state.set_limits(max_pages // 100, max_pages // 100 * thr // 100)

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

    # ------------------------------------------------------------------ store / load --------
    def store(self, folio: BytesLike, swp_type: int, offset: int,
              memcg: MemCgroup | None = None) -> bool:
        """``zswap_store``: keep the folio's pages at slots ``offset..offset+nr-1``.

        ``memcg`` is the folio's memory cgroup (None: no memcg accounting, root LRU). Returns
        True when every page is stored, False when the folio must go to the swap device instead
        (zswap disabled, cgroup or pool limit, or a page could not be stored); in that case no
        entry is left for any of the folio's slots. Bad arguments raise. (Each instance's
        ``store`` is its flow's own, see :meth:`_configure_flow`.)
        """
        return self._flow.store(folio, swp_type, offset, memcg)

    def load(self, out: bytearray | memoryview, swp_type: int, offset: int, *,
             swapcache: bool = True) -> bool:
        """``zswap_load``: decompress slot ``offset`` into ``out`` (one writable page).

        Returns False if zswap holds no entry for the slot (read the swap device instead).
        With ``swapcache`` (the folio is in the swap cache, always true in current kernels) the
        entry is erased after a successful load: the page in memory is now the only copy.
        A decompression failure raises :class:`DecompressFail` and keeps the entry.
        """
        return self._flow.load(out, swp_type, offset, swapcache=swapcache)

    def precompress(self, pages: Sequence[BytesLike] | BytesLike,
                    indexes: Sequence[int] | None = None) -> int:
        """Compress pages that are about to be stored (up to 32, reclaim's batch) on a helper
        thread, so that their stores find the output ready. pyzswap's own, not the kernel's:
        a later :meth:`store` of a page with the same bytes (with the same compressor) takes
        the helper's output instead of running the codec, and the codec gives the same bytes on
        every path, so what is stored and counted is unchanged; a page changed since is
        compressed again. Only the C flow and the codec table's compressors use it; otherwise,
        for pages beyond the first 32, and while zswap is disabled or its pool is full
        (``zswap_store`` refuses the page before it compresses: ``zswap_check_limits``),
        nothing is done. Returns how many pages were taken.

        ``pages`` is a sequence of page-sized buffers, copied before this returns; or, with
        ``indexes``, one buffer of whole pages, of which the pages at those indexes are handed
        over (no object per page; an index outside the buffer raises InvalidPage and hands
        nothing over). That buffer is lent, not copied: the helper copies each page when it
        gets to it, so the buffer stays exported (a bytearray cannot be resized) until another
        buffer is handed over this way, :meth:`precompress_wait` or :meth:`close`.
        """
        if self._flow is not self._native_flow:
            return 0
        pools = self._state.pools()
        if not pools or not isinstance(pools[0].compressor, PageCodecCompressor):
            return 0
        compressor = pools[0].compressor
        probe = self._precompress_tfm
        if probe is None or probe[0] is not compressor:
            probe = self._precompress_tfm = (compressor, compressor.new_transform())
        if indexes is None:
            taken: int = self._native_flow.precompress(probe[1],
                                                       cast("Sequence[BytesLike]", pages))
        else:
            taken = self._native_flow.precompress(probe[1], cast("BytesLike", pages), indexes)
        return taken

    def precompress_wait(self) -> None:
        """Wait until the helper has compressed every page :meth:`precompress` handed over, and
        release the buffer lent to it, if any."""
        self._native_flow.precompress_wait()

    def precompress_counts(self) -> tuple[int, int]:
        """(stores that took a :meth:`precompress` result, pages handed over) so far."""
        counts: tuple[int, int] = self._native_flow.precompress_counts()
        return counts

    def store_batch(self, folios: Sequence[tuple[BytesLike, int, int]],
                    memcg: MemCgroup | None = None) -> list[bool]:
        """Reclaim batching: store several folios at once, e.g. the ``SWAP_CLUSTER_MAX`` (32)
        folios reclaim isolates in one go; one result per folio, as :meth:`store` would give.

        With a batching compressor the pages of *all* the folios are compressed together in
        batches of the compressor's batch size, so even 4 KiB folios compress in parallel; each
        folio stays all-or-nothing. With a software compressor this is a loop over
        :meth:`store`.
        """
        return self._flow.store_batch(folios, memcg)

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
        flow = self._python_flow
        ranges = [(swp_type, off, 1) for off in offsets]
        flow._slots_begin_all(ranges)
        try:
            return self._load_batch_marked(views, swp_type, offsets, swapcache)
        finally:
            flow._slots_end_all(ranges)

    def _load_batch_marked(self, views: list[memoryview], swp_type: int,
                           offsets: Sequence[int], swapcache: bool) -> list[bool]:
        """:meth:`load_batch` once its slots are marked busy."""
        get = self._table.get
        failed: list[int] = []
        found = [(k, entry) for k, off in enumerate(offsets)
                 if (entry := get(swp_type, off)) is not None]
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
        results = [False] * len(offsets)
        with self._lock:
            if self._state.closed:
                raise ZswapError("this Zswap was closed during the load: nothing changed")
            for k, entry in loaded:
                results[k] = True
                self._state.loaded(entry, swapcache)
        self.release_pools()
        if failed:
            raise DecompressFail(f"zswap: decompressing slots {sorted(failed)} of type "
                                 f"{swp_type} failed; those entries are kept")
        return results

    def invalidate(self, swp_type: int, offset: int) -> bool:
        """``zswap_invalidate``: the slot was freed; drop its entry. True if there was one.
        :class:`SlotBusy` (nothing changes) while a store, load or writeback of the slot is in
        flight: the swap core frees a slot only when nobody holds its folio."""
        self._check_open()
        with self._lock:  # checked under the lock: a swapoff or close may run meanwhile
            self._check_open()
            self._check_slot(swp_type, offset, 1)
            self._check_not_busy(swp_type, offset, 1)
            freed = self._state.invalidate(swp_type, offset)
        self.release_pools()
        return bool(freed)

    def _check_not_busy(self, swp_type: int, offset: int, nr: int) -> None:
        if self._table.slots_busy(swp_type, offset, nr):
            raise SlotBusy(f"invalidate of swap slots {swp_type}:{offset}+{nr} while a store, "
                           "load or writeback of one of them is in flight")

    # ------------------------------------------------------------------ memcg & swap glue ---
    def _memcg_offline(self, memcg: MemCgroup, parent: MemCgroup) -> None:
        """memcg offline: its LRU entries move to the parent (``memcg_reparent_list_lrus``)."""
        self.lru.reparent(memcg.id, parent.id)

    def attach_swap(self, table: SwapTable) -> None:
        """Put zswap in front of ``table``'s swap devices: writeback writes to them, and freeing
        a slot invalidates its entry (the swap core's call of ``zswap_invalidate``)."""
        self.swap_table = table
        # the same steps in C, unless a subclass has its own (the swap core calls it for every
        # freed slot); either way the table keeps this Zswap alive
        native = type(self)._on_swap_free is Zswap._on_swap_free
        table.on_free = SwapFreeHook(self._native_flow, self) if native else self._on_swap_free

    def _on_swap_free(self, swp_type: int, offset: int, nr: int) -> None:
        """``zswap_invalidate`` of slots that became free (the swap table's hook; the C flow's
        ``on_swap_free`` takes the same steps)."""
        with self._lock:
            if swp_type not in self._tree_pages or self._state.closed:
                return
            self._check_not_busy(swp_type, offset, nr)
            self._state.invalidate(swp_type, offset, nr)
        self.release_pools()

    # ------------------------------------------------------------------ close ---------------
    def close(self) -> None:
        """Stop the shrink worker thread, detach from the swap table and memcg tree, and destroy
        every pool (zsmalloc memory, per-CPU contexts, CPU hotplug instances). The instance
        cannot store or load afterwards (:class:`ZswapError`); an operation still in flight on
        another thread finds out under ``_lock`` before it publishes anything, and raises the
        same. Idempotent."""
        with self._lock:
            if self._state.closed:
                return
        self._shrink_work.stop()
        with self._lock:
            if self._state.closed:  # another thread closed it meanwhile
                return
            pools: list[ZswapPool] = self._state.close() + self._state.take_released()
        # Under the hotplug lock: it waits for a hotplug operation in progress, whose holder
        # first runs any pool release it deferred (see release_pools).
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
            self._state.flush_memcg_events()
            self.memcg_root.unregister_event_source(self._state)
        if self._shrink_cursor is not None:
            self._shrink_cursor.close()
        self._native_flow.precompress_wait()  # the buffer lent to the look-ahead, released

    # ------------------------------------------------------------------ queries -------------
    @property
    def ctx_use_after_free(self) -> int:
        """Detected uses of a freed per-CPU context (only the racy designs have any)."""
        return int(self._state.ctx_use_after_free)

    @property
    def invalidated_pages(self) -> int:
        """Entries dropped because their swap slot was freed (``zswap_invalidate``)."""
        return int(self._state.invalidated_pages)

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
            entries: list[ZswapEntry] = self._table.values(swp_type)  # by offset
            return entries

    def stats(self) -> dict[str, int]:
        """The debugfs statistics (``/sys/kernel/debug/zswap/*``), by their file names."""
        with self._lock:
            values: dict[str, int] = self._state.stats()
            values["pool_total_size"] = self.total_pages() * PAGE_SIZE
        return {name: values[name] for name in DEBUGFS_STATS}

    def vmstat(self) -> dict[str, int]:
        """zswap's vmstat events: ``zswpin``, ``zswpout``, ``zswpwb``."""
        values = self._state.stats()
        return {name: int(values[name]) for name in VMSTAT_EVENTS}

    def compressed_bytes(self) -> int:
        """Sum of entry lengths (what memcg charges: compressed bytes, no class rounding)."""
        with self._lock:
            return int(self._table.total_length)


def _python_engines(pool: ZswapPool) -> bool:
    """Does the pool batch through its transform's ``compress_batch`` (a batching compressor
    on Python engine threads, or any other that is not a native stream)? Only the Python flow
    makes those batch calls; the C flow compresses such a pool's pages one by one."""
    return pool.compr_batch_size > 1 and not pool.streams
