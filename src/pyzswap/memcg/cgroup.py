"""The memory cgroup tree: groups, object cgroups, charges and statistics
(``mm/memcontrol.c``; see :mod:`pyzswap.memcg` for the whole picture)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final, Protocol

from mypy_extensions import mypyc_attr

from ..errors import CgroupBusy, InvalidParameter
from ..folio import PAGE_SIZE
from ._files import (
    DEFAULT_SWAPPINESS,
    MEMCG_FILES,
    MEMCG_V1_FILES,
    MEMCG_WRITE_ONLY,
    read_file,
    write_file,
)
from ._iter import mem_cgroup_iter
from ._parse import PAGE_COUNTER_MAX, check_name

if TYPE_CHECKING:
    from ._iter import ZswapShrinkCursor

__all__ = [
    "MEMCG_EVENTS",
    "CgroupBusy",
    "EventSource",
    "MemCgroup",
    "Reclaimer",
    "ZswapMemcgHooks",
    "charge_zswap",
    "count_event",
    "mem_cgroup_zswap_writeback_enabled",
    "obj_cgroup_may_zswap",
    "uncharge_zswap",
]

#: memcg events zswap counts, in memory.stat order.
MEMCG_EVENTS: Final = ("zswpin", "zswpout", "zswpwb")
_EVENT_INDEX: Final = {name: i for i, name in enumerate(MEMCG_EVENTS)}


class EventSource(Protocol):
    """Adds up memcg events and hands them to :meth:`MemCgroup.count_event` when flushed
    (zswap's state: ``_native.ZswapState``)."""

    def flush_memcg_events(self) -> None: ...


#: ``reclaimer(memcg, nbytes, swappiness)`` -> True when ``nbytes`` were reclaimed.
Reclaimer = Callable[["MemCgroup", int, "int | None"], bool]


# ---------------------------------------------------------------------------- the tree -------
class _Hierarchy:
    """State shared by every group of one tree."""

    __slots__ = ("by_id", "cgroup_mutex", "cursors", "event_sources", "files", "generation",
                 "next_id", "objcg_owner", "offline_hooks", "reclaimer", "stat_lock", "version",
                 "writable")

    def __init__(self, version: int = 2) -> None:
        if version not in (1, 2):
            raise InvalidParameter(f"cgroup version must be 1 or 2, got {version!r}")
        self.version = version
        self.files = MEMCG_FILES if version == 2 else MEMCG_V1_FILES
        self.writable = self.files + MEMCG_WRITE_ONLY if version == 2 else self.files
        self.reclaimer: Reclaimer | None = None
        self.cgroup_mutex = threading.RLock()
        self.stat_lock = threading.Lock()
        self.next_id = 0
        #: bumped by every mkdir and rmdir (walks cached by position check it)
        self.generation = 0
        self.by_id: dict[int, MemCgroup] = {}  # online groups
        self.objcg_owner: dict[int, MemCgroup] = {}  # objcg id -> the group it charges now
        self.offline_hooks: list[Callable[[MemCgroup, MemCgroup], None]] = []
        self.cursors: weakref.WeakSet[ZswapShrinkCursor] = weakref.WeakSet()
        #: whoever adds up events to hand over later (MemCgroup.register_event_source)
        self.event_sources: weakref.WeakSet[EventSource] = weakref.WeakSet()


# Compiled by mypyc (setup.py): subclasses in Python may still override its methods.
@mypyc_attr(allow_interpreted_subclasses=True)
class MemCgroup:
    """A memory cgroup. ``MemCgroup()`` makes the root of a new hierarchy; children come from
    :meth:`create`. See the module docstring for files, charging, removal and locking."""

    __slots__ = ("__weakref__", "_events", "_h", "_kids", "_lock", "_memory_max",
                 "_memory_pages", "_nonroot_path", "_objcgs", "_path", "_peak", "_swap",
                 "_swap_max", "_swap_peak", "_swappiness", "_v2", "_zswap_b", "_zswap_incomp",
                 "_zswap_max", "_zswap_writeback", "_zswapped", "id", "name", "online",
                 "parent")

    def __init__(self, *, version: int = 2, _parent: MemCgroup | None = None,
                 _name: str = "") -> None:
        h: _Hierarchy = _Hierarchy(version) if _parent is None else _parent._h
        self._v2 = h.version == 2
        self._swappiness: int = (DEFAULT_SWAPPINESS if _parent is None
                                 else _parent._swappiness)
        self._h: _Hierarchy = h
        self._lock = h.stat_lock
        self.parent = _parent
        self.name = _name
        self.id = h.next_id
        h.next_id += 1
        self.online = True
        # Children as an immutable pair (groups, ids), replaced on change: lock-free readers.
        self._kids: tuple[tuple[MemCgroup, ...], tuple[int, ...]] = ((), ())
        self._path: tuple[MemCgroup, ...] = (self,) if _parent is None else (self, *_parent._path)
        self._nonroot_path = self._path[:-1]
        self._zswap_max = PAGE_COUNTER_MAX
        self._zswap_writeback = True
        self._memory_max = PAGE_COUNTER_MAX
        self._zswap_b = 0
        self._zswapped = 0
        self._zswap_incomp = 0
        self._memory_pages = 0
        self._swap = 0
        self._swap_max = PAGE_COUNTER_MAX
        # [watermark, local watermark or -1 before the first write] of the memory and swap
        # page counters (page_counter's watermark / local_watermark), in pages
        self._peak = [0, -1]
        self._swap_peak = [0, -1]
        self._events = [0] * len(MEMCG_EVENTS)
        self._objcgs = [self.id]
        h.by_id[self.id] = self
        h.objcg_owner[self.id] = self

    # ------------------------------------------------------------------ tree ----------------
    def create(self, name: object) -> MemCgroup:
        """mkdir: a child group named ``name`` (unique among the online children)."""
        name = check_name(name)
        with self._h.cgroup_mutex:
            if not self.online:
                raise InvalidParameter(f"{self.path}: the group was removed")
            kids, ids = self._kids
            if any(k.name == name for k in kids):
                raise InvalidParameter(f"{self.path}: a child named {name!r} exists")
            child = MemCgroup(_parent=self, _name=name)
            self._kids = ((*kids, child), (*ids, child.id))
            self._h.generation += 1
        return child

    def remove(self) -> None:
        """rmdir: take the group offline (see the module docstring)."""
        h = self._h
        with h.cgroup_mutex:
            parent = self.parent
            if parent is None:
                raise CgroupBusy("the root cgroup cannot be removed")
            if not self.online:
                raise InvalidParameter(f"{self.path}: already removed")
            if self._kids[0]:
                raise CgroupBusy(f"{self.path}: has child groups")
            self.flush_events()  # counted while its objcgs were its own: they count here
            self.online = False
            kids, ids = parent._kids
            i = kids.index(self)
            parent._kids = (kids[:i] + kids[i + 1:], ids[:i] + ids[i + 1:])
            h.generation += 1
            del h.by_id[self.id]
            for cursor in list(h.cursors):
                cursor.offline_cleanup(self)
            with h.stat_lock:  # memcg_reparent_objcgs
                for objcg in self._objcgs:
                    h.objcg_owner[objcg] = parent
                parent._objcgs.extend(self._objcgs)
                self._objcgs = []
            for hook in list(h.offline_hooks):  # memcg_reparent_list_lrus, ...
                hook(self, parent)

    def register_event_source(self, source: EventSource) -> None:
        """Register (weakly) an object that adds up :meth:`count_event` counts and hands them
        over later, as the kernel's per-CPU memcg event counters are flushed only when read:
        zswap's state. Every read of the events (:meth:`events`, :meth:`stat`,
        ``memory.stat``) and every :meth:`remove` (before its object cgroups move to the
        parent) first calls ``source.flush_memcg_events()`` of each one."""
        with self._h.cgroup_mutex:
            self._h.event_sources.add(source)

    def unregister_event_source(self, source: EventSource) -> None:
        with self._h.cgroup_mutex:
            self._h.event_sources.discard(source)

    def flush_events(self) -> None:
        """Flush every registered event source into the counters (see
        :meth:`register_event_source`; the readers call it themselves)."""
        sources = self._h.event_sources
        if len(sources):
            for source in list(sources):
                source.flush_memcg_events()

    def register_offline_hook(self, hook: Callable[[MemCgroup, MemCgroup], None]) -> None:
        """Call ``hook(memcg, parent)`` whenever a group of this hierarchy goes offline, after
        its object cgroups moved to ``parent`` (zswap: ``ListLru.reparent``). Runs under the
        hierarchy's ``cgroup_mutex``."""
        with self._h.cgroup_mutex:
            self._h.offline_hooks.append(hook)

    def unregister_offline_hook(self, hook: Callable[[MemCgroup, MemCgroup], None]) -> None:
        with self._h.cgroup_mutex:
            self._h.offline_hooks.remove(hook)

    @property
    def root(self) -> MemCgroup:
        return self._path[-1]

    @property
    def children(self) -> tuple[MemCgroup, ...]:
        """Online children, in creation order."""
        return self._kids[0]

    @property
    def path(self) -> str:
        if self.parent is None:
            return "/"
        return "/" + "/".join(m.name for m in reversed(self._nonroot_path))

    @property
    def depth(self) -> int:
        return len(self._path) - 1

    def is_ancestor_of(self, other: MemCgroup) -> bool:
        """True if ``self`` is ``other`` or one of its ancestors (``mem_cgroup_is_descendant``)."""
        return self in other._path

    def __repr__(self) -> str:
        return f"MemCgroup({self.path!r}, id={self.id}{'' if self.online else ', offline'})"

    def iter(self) -> Iterator[MemCgroup]:
        """Online groups of this subtree, pre-order (``for_each_mem_cgroup_tree``)."""
        memcg = mem_cgroup_iter(self, None)
        while memcg is not None:
            yield memcg
            memcg = mem_cgroup_iter(self, memcg)

    def find(self, path: str) -> MemCgroup:
        """The online group at ``path`` (absolute, or relative to this group)."""
        node = self.root if path.startswith("/") else self
        for part in path.split("/"):
            if not part:
                continue
            found = next((k for k in node._kids[0] if k.name == part), None)
            if found is None:
                raise InvalidParameter(f"no cgroup {path!r}")
            node = found
        return node

    def from_id(self, memcg_id: int) -> MemCgroup | None:
        """``mem_cgroup_from_id``: the online group with that id in this hierarchy, or None."""
        return self._h.by_id.get(memcg_id)

    # ------------------------------------------------------------------ object cgroups ------
    def obj_cgroup(self) -> int:
        """The objcg id to charge a new entry to (``get_obj_cgroup_from_memcg``): this group's,
        or the nearest online ancestor's when this one was removed."""
        for memcg in self._path:
            if memcg.online:
                return memcg.id
        raise AssertionError("the root is always online")  # pragma: no cover

    def obj_cgroup_memcg(self, objcg: int) -> MemCgroup:
        """``obj_cgroup_memcg``: the group an objcg id charges now (reparented objcgs resolve
        to the online ancestor that inherited them). Any group of the hierarchy answers."""
        try:
            return self._h.objcg_owner[objcg]
        except KeyError:
            raise InvalidParameter(f"unknown object cgroup {objcg!r}") from None

    # ------------------------------------------------------------------ hot paths -----------
    def zswap_store_target(self) -> tuple[MemCgroup, bool, bool]:
        """zswap_store's memcg questions in one call: the group its entry would charge
        (``obj_cgroup_memcg(get_obj_cgroup_from_folio())``), may that group zswap another
        entry (:meth:`may_zswap`), and is its writeback enabled
        (:meth:`zswap_writeback_enabled`). Nothing changes."""
        # An online group charges its own objcg (obj_cgroup_memcg of its id is itself).
        charged = self if self.online else self.obj_cgroup_memcg(self.obj_cgroup())
        if not self._v2:
            return charged, True, True  # v1: no zswap limit, no writeback knob
        return charged, charged.may_zswap(), charged.zswap_writeback_enabled()

    def may_zswap(self) -> bool:
        """``obj_cgroup_may_zswap``: may this group store another entry in zswap? (Always
        under cgroup v1, where zswap is not charged.)"""
        if not self._v2:
            return True
        for memcg in self._nonroot_path:
            limit = memcg._zswap_max
            if limit == PAGE_COUNTER_MAX:
                continue
            if limit == 0 or memcg._zswap_b // PAGE_SIZE >= limit:
                return False
        return True

    def charge_zswap(self, nbytes: int, nr_pages: int = 1) -> None:
        """``obj_cgroup_charge_zswap``: ``MEMCG_ZSWAP_B += nbytes``, ``MEMCG_ZSWAPPED +=
        nr_pages`` here and in every ancestor. Never fails. Nothing under cgroup v1."""
        if not self._v2:
            return
        # mainline's MEMCG_ZSWAP_INCOMP: an entry stored at PAGE_SIZE was not compressed
        incomp = 1 if nbytes == PAGE_SIZE and nr_pages == 1 else 0
        lock = self._lock
        lock.acquire()
        try:
            for memcg in self._path:
                memcg._zswap_b += nbytes
                memcg._zswapped += nr_pages
                memcg._zswap_incomp += incomp
                _note_peak(memcg._peak, memcg._memory_pages + -(-memcg._zswap_b // PAGE_SIZE))
        finally:
            lock.release()

    def uncharge_zswap(self, nbytes: int, nr_pages: int = 1) -> None:
        """``obj_cgroup_uncharge_zswap``: the reverse of :meth:`charge_zswap`."""
        if not self._v2:
            return
        incomp = 1 if nbytes == PAGE_SIZE and nr_pages == 1 else 0
        lock = self._lock
        lock.acquire()
        try:
            for memcg in self._path:
                memcg._zswap_b -= nbytes
                memcg._zswapped -= nr_pages
                memcg._zswap_incomp -= incomp
        finally:
            lock.release()

    def count_event(self, name: str, n: int = 1) -> None:
        """``count_objcg_events``: add ``n`` to event ``name`` (``zswpin``, ``zswpout``,
        ``zswpwb``) here and in every ancestor."""
        i = _EVENT_INDEX.get(name)
        if i is None:
            raise InvalidParameter(f"unknown memcg event {name!r} (known: "
                                   f"{', '.join(MEMCG_EVENTS)})")
        lock = self._lock  # acquire/release: cheaper than `with` in the compiled module
        lock.acquire()
        try:
            for memcg in self._path:
                memcg._events[i] += n
        finally:
            lock.release()

    def charge_memory(self, nr_pages: int) -> None:
        """Charge ``nr_pages`` of ordinary memory (for the harness: ``memory.current``), and
        raise the watermarks ``memory.peak`` reads (``page_counter_charge``)."""
        lock = self._lock
        lock.acquire()
        try:
            if nr_pages > 0 and self._v2:
                for memcg in self._path:
                    memcg._memory_pages += nr_pages
                    _note_peak(memcg._peak,
                               memcg._memory_pages + -(-memcg._zswap_b // PAGE_SIZE))
            else:
                for memcg in self._path:
                    memcg._memory_pages += nr_pages
        finally:
            lock.release()

    def uncharge_memory(self, nr_pages: int) -> None:
        self.charge_memory(-nr_pages)

    def over_limit(self, nr_pages: int, with_zswap: bool) -> MemCgroup | None:
        """``page_counter_try_charge``'s test: the lowest group of this one's path (itself, then
        its ancestors) whose limit ``nr_pages`` more pages would cross, or None. The usage is
        the pages charged with :meth:`charge_memory`, plus, with ``with_zswap`` (cgroup v2,
        where zswap is charged), the compressed bytes in whole pages."""
        for memcg in self._path:
            limit = memcg._memory_max
            if limit != PAGE_COUNTER_MAX:
                usage = memcg._memory_pages
                if with_zswap:
                    usage += -(-memcg._zswap_b // PAGE_SIZE)
                if usage + nr_pages > limit:
                    return memcg
        return None

    def try_charge_swap(self, nr_pages: int = 1) -> bool:
        """``__mem_cgroup_try_charge_swap``: charge ``nr_pages`` swap slots here and in every
        ancestor (``page_counter_try_charge`` on ``memcg->swap``), or charge nothing and return
        False when that would cross ``memory.swap.max`` of this group or an ancestor. Under
        cgroup v1 (swap accounted in memsw, not modelled) it always succeeds, charging
        nothing."""
        if not self._v2:
            return True
        with self._lock:
            for memcg in self._nonroot_path:
                if memcg._swap + nr_pages > memcg._swap_max:
                    return False
            for memcg in self._path:
                memcg._swap += nr_pages
                _note_peak(memcg._swap_peak, memcg._swap)
        return True

    def uncharge_swap(self, nr_pages: int = 1) -> None:
        """``__mem_cgroup_uncharge_swap``: the slots were freed."""
        if not self._v2:
            return
        with self._lock:
            for memcg in self._path:
                memcg._swap -= nr_pages

    def swap_margin(self) -> int:
        """``mem_cgroup_get_nr_swap_pages`` without the global part: the fewest slots this group
        or an ancestor below the root may still charge (``swap.max - swap usage``;
        :data:`PAGE_COUNTER_MAX` when none is limited, and under v1)."""
        margin = PAGE_COUNTER_MAX
        if self._v2:
            for memcg in self._nonroot_path:
                if memcg._swap_max != PAGE_COUNTER_MAX:
                    margin = min(margin, memcg._swap_max - memcg._swap)
        return margin

    def swap_half_full(self) -> bool:
        """The memcg part of ``mem_cgroup_swap_full``: this group or an ancestor below the root
        uses at least half of its ``memory.swap.max`` (False under v1)."""
        if not self._v2:
            return False
        return any(memcg._swap * 2 >= memcg._swap_max for memcg in self._nonroot_path)

    def zswap_writeback_enabled(self, zswap_enabled: bool = True) -> bool:
        """``mem_cgroup_zswap_writeback_enabled``: True if zswap is disabled; otherwise False
        when this group or any ancestor (root included) has ``memory.zswap.writeback`` 0."""
        if not zswap_enabled or not self._v2:
            return True
        return all(memcg._zswap_writeback for memcg in self._path)

    # ------------------------------------------------------------------ typed knobs ---------
    @property
    def zswap_max(self) -> int | None:
        """``memory.zswap.max`` in bytes (a multiple of PAGE_SIZE), None for "max"."""
        return _limit_bytes(self._zswap_max)

    @zswap_max.setter
    def zswap_max(self, value: int | str | None) -> None:
        self.write("memory.zswap.max", value)

    @property
    def zswap_writeback(self) -> bool:
        """This group's own ``memory.zswap.writeback`` (see :meth:`zswap_writeback_enabled`)."""
        return self._zswap_writeback

    @zswap_writeback.setter
    def zswap_writeback(self, value: bool | int | str) -> None:
        self.write("memory.zswap.writeback", value)

    @property
    def version(self) -> int:
        """The cgroup version of this hierarchy (1 or 2)."""
        return self._h.version

    @property
    def limit_file(self) -> str:
        """The name of the memory limit's file: ``memory.max`` (v2) or
        ``memory.limit_in_bytes`` (v1)."""
        return "memory.max" if self._v2 else "memory.limit_in_bytes"

    @property
    def memory_max(self) -> int | None:
        """The memory limit in bytes (``memory.max``, v1 ``memory.limit_in_bytes``), None for
        "max"."""
        return _limit_bytes(self._memory_max)

    @memory_max.setter
    def memory_max(self, value: int | str | None) -> None:
        self.write(self.limit_file, value)

    @property
    def memory_max_pages(self) -> int:
        """The limit in pages (:data:`PAGE_COUNTER_MAX` for none): the page counter's max."""
        return self._memory_max

    @property
    def memory_pages(self) -> int:
        """Pages charged with :meth:`charge_memory`, here and below (zswap not included)."""
        return self._memory_pages

    @property
    def swappiness(self) -> int:
        """``mem_cgroup_swappiness``: v1's per-group ``memory.swappiness``; None of v2's
        business (v2 uses ``vm.swappiness``, the caller's)."""
        return self._swappiness

    @swappiness.setter
    def swappiness(self, value: int | str) -> None:
        self.write("memory.swappiness", value)

    @property
    def zswap_current(self) -> int:
        """``MEMCG_ZSWAP_B``: compressed bytes charged here and below."""
        return self._zswap_b

    @property
    def zswapped(self) -> int:
        """``MEMCG_ZSWAPPED``: pages stored in zswap, here and below."""
        return self._zswapped

    @property
    def zswap_incomp(self) -> int:
        """``MEMCG_ZSWAP_INCOMP`` (mainline): pages zswap holds uncompressed, here and below."""
        return self._zswap_incomp

    @property
    def memory_peak(self) -> int:
        """``memory.peak`` in bytes (see "Peaks" in the module docstring)."""
        return _peak_pages(self._peak) * PAGE_SIZE

    @property
    def swap_current(self) -> int:
        """``memory.swap.current`` in bytes: swap slots charged here and below."""
        return self._swap * PAGE_SIZE

    @property
    def swap_peak(self) -> int:
        """``memory.swap.peak`` in bytes."""
        return _peak_pages(self._swap_peak) * PAGE_SIZE

    @property
    def swap_max(self) -> int | None:
        """``memory.swap.max`` in bytes, None for "max"."""
        return _limit_bytes(self._swap_max)

    @swap_max.setter
    def swap_max(self, value: int | str | None) -> None:
        self.write("memory.swap.max", value)

    def set_reclaimer(self, reclaimer: Reclaimer | None) -> None:
        """Register the mm that serves ``memory.reclaim`` writes for this hierarchy:
        ``reclaimer(memcg, nbytes, swappiness)`` reclaims and returns True when it got
        ``nbytes`` (the mm model registers :meth:`MemoryModel.memory_reclaim`). Without one
        nothing can be reclaimed: a write of more than 0 bytes raises
        :class:`ReclaimIncomplete`."""
        with self._h.cgroup_mutex:
            self._h.reclaimer = reclaimer

    @property
    def memory_current(self) -> int:
        """``memory.current`` (v1 ``memory.usage_in_bytes``) in bytes: charged pages plus
        zswap bytes (v2; v1 does not charge zswap)."""
        return self._memory_pages * PAGE_SIZE + self._zswap_b

    def events(self) -> dict[str, int]:
        """The zswap memcg events, hierarchical."""
        self.flush_events()
        return dict(zip(MEMCG_EVENTS, self._events, strict=True))

    def stat(self) -> dict[str, int]:
        """The zswap lines of ``memory.stat``, as printed (``zswapped`` and ``zswap_incomp``
        in bytes)."""
        self.flush_events()
        with self._lock:
            out = {"zswap": self._zswap_b, "zswapped": self._zswapped * PAGE_SIZE,
                   "zswap_incomp": self._zswap_incomp * PAGE_SIZE}
            out.update(zip(MEMCG_EVENTS, self._events, strict=True))
        return out

    # ------------------------------------------------------------------ files ---------------
    def read(self, name: str) -> str:
        """The content of cgroupfs file ``name`` (with its trailing newline; see
        :mod:`pyzswap.memcg._files` for the files)."""
        return read_file(self, name)

    def write(self, name: str, value: object) -> None:
        """Write cgroupfs file ``name`` (a string as cgroupfs accepts it, or a typed value:
        bytes as an int or None for "max"; a bool or 0/1 for ``memory.zswap.writeback``).
        A bad value raises :class:`InvalidParameter` and changes nothing. ``memory.reclaim``
        reclaims (see :meth:`set_reclaimer`) and raises
        :class:`~pyzswap.memcg.ReclaimIncomplete` when it could not reclaim that much."""
        write_file(self, name, value)


class ZswapMemcgHooks:
    """The memcg hooks zswap's C state calls on every charged store, load and free
    (_native.pyi MemcgHooks): charges and events by object cgroup id, resolved to the group
    that owns it now (``obj_cgroup_memcg``)."""

    __slots__ = ("charges_zswap", "root")

    def __init__(self, root: MemCgroup) -> None:
        self.root = root
        # v2 only: obj_cgroup_charge_zswap and obj_cgroup_uncharge_zswap return at once
        # unless the memory controller is on the default hierarchy. The zswap state reads it
        # once and, under v1, makes no charge calls at all.
        self.charges_zswap = root.version == 2

    def charge_zswap(self, objcg: int, nbytes: int) -> None:
        self.root.obj_cgroup_memcg(objcg).charge_zswap(nbytes)  # nothing under v1

    def uncharge_zswap(self, objcg: int, nbytes: int) -> None:
        self.root.obj_cgroup_memcg(objcg).uncharge_zswap(nbytes)

    def count_event(self, objcg: int, event: str, nr: int) -> None:
        self.root.obj_cgroup_memcg(objcg).count_event(event, nr)


def _limit_bytes(pages: int) -> int | None:
    """A page counter's max in bytes, None for "max"."""
    return None if pages == PAGE_COUNTER_MAX else pages * PAGE_SIZE


def _note_peak(peak: list[int], usage: int) -> None:
    """``page_counter_charge``'s watermark updates: the global and the local watermark."""
    if usage > peak[0]:
        peak[0] = usage
    if usage > peak[1] >= 0:
        peak[1] = usage


def _peak_pages(peak: list[int]) -> int:
    """``peak_show`` for our one open file: the local watermark once it was written."""
    return peak[0] if peak[1] < 0 else peak[1]


# ---------------------------------------------------------------------------- functions ------
def obj_cgroup_may_zswap(memcg: MemCgroup) -> bool:
    """``obj_cgroup_may_zswap``: see :meth:`MemCgroup.may_zswap`."""
    return memcg.may_zswap()


def mem_cgroup_zswap_writeback_enabled(memcg: MemCgroup | None,
                                       zswap_enabled: bool = True) -> bool:
    """``mem_cgroup_zswap_writeback_enabled`` (None: no memcg, writeback allowed)."""
    return memcg is None or memcg.zswap_writeback_enabled(zswap_enabled)


#: ``obj_cgroup_charge_zswap(memcg, nbytes, nr_pages=1)``
charge_zswap = MemCgroup.charge_zswap
#: ``obj_cgroup_uncharge_zswap(memcg, nbytes, nr_pages=1)``
uncharge_zswap = MemCgroup.uncharge_zswap
#: ``count_objcg_events(memcg, name, n=1)``
count_event = MemCgroup.count_event

