"""Memory cgroups (v2 or v1), as far as zswap and the mm use them: the tree, zswap's knobs,
charges, statistics.

One :class:`MemCgroup` tree per hierarchy: ``root = MemCgroup()`` is the root (id 0, path
``/``), ``a = root.create("a")``, ``b = a.create("b")``; ids are ints that are never reused.
``MemCgroup(version=1)`` makes a cgroup v1 memory hierarchy (see "cgroup v1" below).

Files (``read(name) -> str`` / ``write(name, value)``, content exactly as cgroupfs shows it,
trailing newline included; the typed properties in brackets):

=========================  ====================================================================
``memory.zswap.max``       bytes or ``max`` (default); stored in pages, rounded down, as the
                           kernel's ``page_counter_memparse`` does; 0 disables zswap for the
                           group. Not on the root. [``zswap_max``: int bytes or None]
``memory.zswap.writeback`` ``0`` / ``1`` (default 1). Hierarchical: writeback is off for a group
                           if it or any ancestor has 0. [``zswap_writeback``]
``memory.zswap.current``   read-only, bytes = ``MEMCG_ZSWAP_B``. Not on the root.
                           [``zswap_current``]
``memory.max``             bytes or ``max``; stored for the memory-pressure harness (nothing here
                           reclaims). Not on the root. [``memory_max``]
``memory.current``         read-only: pages charged with :meth:`MemCgroup.charge_memory` plus
                           the zswap bytes (the kernel charges zswap's compressed objects to the
                           memory counter as kernel memory). Not on the root.
                           [``memory_current``]
``memory.stat``            read-only, the zswap lines: ``zswap`` (bytes), ``zswapped`` and
                           ``zswap_incomp`` (pages × PAGE_SIZE: memory.stat prints them in bytes,
                           like the kernel), and the events ``zswpin``, ``zswpout``, ``zswpwb``.
                           [``stat()``; ``zswapped`` is the page count ``MEMCG_ZSWAPPED``,
                           ``zswap_incomp`` the count ``MEMCG_ZSWAP_INCOMP``]
``memory.peak``            the memory counter's high watermark in bytes (``memory_peak_show``);
                           writing anything resets it to the current usage (``peak_write``: see
                           "Peaks" below). Not on the root. [``memory_peak``]
``memory.swap.current``    read-only, swap slots charged here and below, in bytes
                           (``MEMCG_SWAP``). Not on the root. [``swap_current``]
``memory.swap.max``        bytes or ``max`` (default): a charge that would cross it fails
                           (:meth:`MemCgroup.try_charge_swap`). Not on the root. [``swap_max``]
``memory.swap.peak``       the swap counter's high watermark, reset by a write like
                           ``memory.peak``. Not on the root. [``swap_peak``]
``memory.reclaim``         write-only (and on the root too): ``"<bytes> [swappiness=<0..200>]"``
                           asks the mm that registered itself with :meth:`set_reclaimer` to
                           reclaim that much from the group (``user_proactive_reclaim``);
                           :class:`ReclaimIncomplete` (-EAGAIN) when it could not.
=========================  ====================================================================

``zswap_incomp`` is mainline's (after 6.18): ``obj_cgroup_charge_zswap`` counts an entry whose
stored length is PAGE_SIZE (a page zswap keeps uncompressed) and ``obj_cgroup_uncharge_zswap``
uncounts it. The swap files, ``memory.peak`` and ``memory.reclaim`` exist under cgroup v2 only
(cgroup v1 accounts swap in ``memory.memsw.*``, which is not modelled).

Peaks (``peak_show``/``peak_write``): the kernel keeps a global watermark and, per open file
that wrote to the peak file, a watermark since that write. ``read``/``write`` here act as one
open file: until the first write a read shows the global watermark; after a write, the highest
usage since the last write.

Values parse as cgroupfs parses them: ``max``, or a number (decimal, ``0x`` hex, ``0`` octal)
with an optional ``K``/``M``/``G``/``T``/``P``/``E`` suffix (``memparse``); surrounding
whitespace is ignored. ``memory.zswap.writeback`` takes an integer (``kstrtoint``) that must be 0
or 1. Anything else raises :class:`~pyzswap.errors.InvalidParameter` and changes nothing.
Deviation: an empty value or a bare suffix (``"K"``) is refused, where the kernel's ``memparse``
would read 0.

Statistics are hierarchical, as in cgroup v2: a charge or an event counts in the group and in
every ancestor (the root included), so a parent's ``memory.zswap.current`` and ``memory.stat``
include its children's.

Charging (``mm/memcontrol.c``; docs/KERNEL_REFERENCE.md §3):

* :meth:`MemCgroup.may_zswap` / :func:`obj_cgroup_may_zswap` — the kernel's rule, exactly: for
  the group and each ancestor below the root, skip an unlimited one, refuse if the limit is 0,
  refuse if ``MEMCG_ZSWAP_B // PAGE_SIZE >= zswap.max`` (pages). The root has no limit.
* :meth:`MemCgroup.charge_zswap` / :meth:`MemCgroup.uncharge_zswap` (``obj_cgroup_charge_zswap``
  / ``obj_cgroup_uncharge_zswap``): compressed bytes and pages (``nr_pages``, 1 per entry, more
  for a batch). The charge is forced: it never fails (the limit is checked before compressing).
* :meth:`MemCgroup.count_event` (``count_objcg_events``): ``zswpin``, ``zswpout``, ``zswpwb``.
* :meth:`MemCgroup.zswap_writeback_enabled` / :func:`mem_cgroup_zswap_writeback_enabled`: True
  when zswap is disabled (so pages can still reach the disk), else False if the group or any
  ancestor has ``memory.zswap.writeback`` 0.

Object cgroups and removal (``memcg_reparent_objcgs``): every group owns an object cgroup whose
id equals the group's id. zswap records the objcg id in its entry (:meth:`MemCgroup.obj_cgroup`
gives the id to charge for a group: its own, or the nearest online ancestor's once it is gone)
and resolves it back with :meth:`MemCgroup.obj_cgroup_memcg` when it uncharges, counts an event
or picks the LRU list. :meth:`MemCgroup.remove` (rmdir) takes the group offline the way
``mem_cgroup_css_offline`` does: refused for the root or while it has children
(:class:`CgroupBusy`, EBUSY); allowed with charges. It unlinks the group (iteration never
returns it again), advances every zswap shrink cursor that points at it
(``zswap_memcg_offline_cleanup``), hands its object cgroups to the parent — so the entries it
charged are uncharged from the parent later, whose hierarchical totals already contain them —
and then runs the offline hooks (:meth:`MemCgroup.register_offline_hook`; zswap registers
``ListLru.reparent`` there: ``memcg_reparent_list_lrus``). The removed object keeps its last
counters (frozen; the kernel's are invisible once the directory is gone) and refuses
``read``/``write``.

Iteration: :func:`mem_cgroup_iter` is the kernel's pre-order round robin over online groups
(``prev=None`` gives the root, the last group gives None), and :class:`ZswapShrinkCursor` is
``zswap_next_shrink`` with ``zswap_shrink_lock``: :meth:`ZswapShrinkCursor.next` is the
``shrink_worker`` step that advances it, and group removal moves it on automatically.

cgroup v1 (``MemCgroup(version=1)``, the legacy memory controller): zswap is not charged to the
memcg at all (``obj_cgroup_may_zswap`` allows every store, ``obj_cgroup_charge_zswap`` and
``obj_cgroup_uncharge_zswap`` return at once unless ``cgroup_subsys_on_dfl``), so
``zswap_current`` and ``zswapped`` stay 0 (and zswap's shrinker, which scales by them, finds
nothing to do for a group) and the limit bounds the group's own pages only. The files are v1's:
``memory.limit_in_bytes`` (the limit: :attr:`MemCgroup.memory_max`), ``memory.usage_in_bytes``
(read-only), ``memory.swappiness`` (0..200, per group, inherited from the parent at creation as
``mem_cgroup_css_alloc`` does; :attr:`MemCgroup.swappiness`) and ``memory.stat``; there are no
``memory.zswap.*`` files and writeback is always enabled. zswap's events are still counted per
group (``count_objcg_events`` does not depend on the version).

Deviation: charges to the root are counted in the root (the kernel gives root tasks no object
cgroup, so their zswap usage shows only in the global statistics).

Locking: ``cgroup_mutex`` (per hierarchy) serialises create, remove and knob writes; a lock per
shrink cursor; ``stat_lock`` (per hierarchy) guards the counters and object-cgroup ownership and
is innermost — charges, uncharges and events take only it. Lock order: ``cgroup_mutex`` →
cursor lock → offline hooks (zswap's lock → LRU lock) → ``stat_lock``. Reads of knobs and
counters, ``may_zswap`` and iteration take no lock (like ``READ_ONCE`` and RCU walks). Callers
may hold zswap's lock or the LRU lock while charging or counting.
"""

from __future__ import annotations

import errno as _errno
import threading
import weakref
from bisect import bisect_right
from collections.abc import Callable, Iterator
from string import hexdigits
from typing import Final

from .errors import InvalidParameter, ZswapError
from .folio import PAGE_SIZE

__all__ = [
    "MEMCG_EVENTS",
    "MEMCG_FILES",
    "MEMCG_V1_FILES",
    "MEMCG_WRITE_ONLY",
    "PAGE_COUNTER_MAX",
    "CgroupBusy",
    "MemCgroup",
    "ReclaimIncomplete",
    "ZswapShrinkCursor",
    "charge_zswap",
    "count_event",
    "mem_cgroup_iter",
    "mem_cgroup_zswap_writeback_enabled",
    "memparse",
    "obj_cgroup_may_zswap",
    "page_counter_memparse",
    "uncharge_zswap",
]

#: ``LONG_MAX / PAGE_SIZE``: the page counters' "max".
PAGE_COUNTER_MAX: Final = ((1 << 63) - 1) // PAGE_SIZE
#: memcg events zswap counts, in memory.stat order.
MEMCG_EVENTS: Final = ("zswpin", "zswpout", "zswpwb")
_EVENT_INDEX: Final = {name: i for i, name in enumerate(MEMCG_EVENTS)}
#: The cgroupfs files modelled here (cgroup v2).
MEMCG_FILES: Final = ("memory.current", "memory.max", "memory.peak", "memory.stat",
                      "memory.swap.current", "memory.swap.max", "memory.swap.peak",
                      "memory.zswap.current", "memory.zswap.max", "memory.zswap.writeback")
#: The cgroup v2 files that can only be written (reading one raises InvalidParameter).
MEMCG_WRITE_ONLY: Final = ("memory.reclaim",)
#: The cgroup v1 files modelled here.
MEMCG_V1_FILES: Final = ("memory.limit_in_bytes", "memory.stat", "memory.swappiness",
                         "memory.usage_in_bytes")
_NOT_ON_ROOT: Final = frozenset(("memory.current", "memory.max", "memory.peak",
                                 "memory.swap.current", "memory.swap.max", "memory.swap.peak",
                                 "memory.zswap.current", "memory.zswap.max",
                                 "memory.limit_in_bytes", "memory.swappiness"))
_READ_ONLY: Final = frozenset(("memory.current", "memory.stat", "memory.swap.current",
                               "memory.zswap.current", "memory.usage_in_bytes"))
#: ``MIN_SWAPPINESS``: the lowest ``swappiness=`` memory.reclaim takes.
MIN_SWAPPINESS: Final = 0
#: ``vm_swappiness``'s default, and the v1 ``memory.swappiness`` a new hierarchy starts with.
DEFAULT_SWAPPINESS: Final = 60
#: ``MAX_SWAPPINESS``.
MAX_SWAPPINESS: Final = 200
_SUFFIX_SHIFT: Final = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


class CgroupBusy(ZswapError):
    """rmdir of the root, or of a group that still has child groups (-EBUSY)."""

    errno = _errno.EBUSY


class ReclaimIncomplete(ZswapError):
    """A ``memory.reclaim`` write reclaimed less than asked (``user_proactive_reclaim``'s
    -EAGAIN after ``MAX_RECLAIM_RETRIES`` attempts that reclaimed nothing)."""

    errno = _errno.EAGAIN

#: ``reclaimer(memcg, nbytes, swappiness)`` -> True when ``nbytes`` were reclaimed.
Reclaimer = Callable[["MemCgroup", int, "int | None"], bool]


# ---------------------------------------------------------------------------- parsing --------
def _parse_uint(text: str, what: str) -> tuple[int, str]:
    """``simple_strtoull(text, &end, 0)``: the value and the unparsed rest (≥ 1 digit)."""
    if len(text) >= 3 and text[0] == "0" and text[1] in "xX" and text[2] in hexdigits:
        base, start, digits = 16, 2, hexdigits
    elif text.startswith("0"):
        base, start, digits = 8, 0, "01234567"
    else:
        base, start, digits = 10, 0, "0123456789"
    end = start
    while end < len(text) and text[end] in digits:
        end += 1
    if end == start:
        raise InvalidParameter(f"{what}: expected a number, got {text!r}")
    return int(text[start:end], base), text[end:]


def memparse(text: str, what: str = "value") -> int:
    """The kernel's ``memparse``: a number with an optional K/M/G/T/P/E suffix, in bytes."""
    value, rest = _parse_uint(text, what)
    if rest:
        shift = _SUFFIX_SHIFT.get(rest[0].lower())
        if shift is not None:
            value <<= shift
            rest = rest[1:]
    if rest:
        raise InvalidParameter(f"{what}: cannot parse {text!r} (a number with an optional "
                               "K/M/G/T/P/E suffix, or 'max')")
    return value


def page_counter_memparse(value: object, what: str = "value") -> int:
    """``page_counter_memparse(buf, "max", &pages)``: "max" → :data:`PAGE_COUNTER_MAX`, else
    bytes rounded down to pages (capped at the max). Also takes an int of bytes or None."""
    if value is None:
        return PAGE_COUNTER_MAX
    if type(value) is int:
        if value < 0:
            raise InvalidParameter(f"{what}: {value} is negative")
        return min(value // PAGE_SIZE, PAGE_COUNTER_MAX)
    if not isinstance(value, str):
        raise InvalidParameter(f"{what}: expected bytes (int or string) or 'max', got "
                               f"{value!r}")
    text = value.strip()
    if text == "max":
        return PAGE_COUNTER_MAX
    return min(memparse(text, what) // PAGE_SIZE, PAGE_COUNTER_MAX)


def _kstrtoint(value: object, what: str) -> int:
    """``kstrtoint(strstrip(buf), 0, &v)``: a signed 32-bit integer, C base prefixes."""
    if type(value) is bool:
        return int(value)
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        text = value.strip()
        sign = 1
        if text[:1] in ("+", "-"):
            sign = -1 if text[0] == "-" else 1
            text = text[1:]
        number, rest = _parse_uint(text, what)
        if rest:
            raise InvalidParameter(f"{what}: expected an integer, got {value!r}")
        number *= sign
    else:
        raise InvalidParameter(f"{what}: expected an integer, got {value!r}")
    if not -(1 << 31) <= number < 1 << 31:
        raise InvalidParameter(f"{what}: {number} is out of range")
    return number


def _check_name(name: object) -> str:
    if (not isinstance(name, str) or not name or name in (".", "..")
            or any(c in name for c in "/\0\n")):
        raise InvalidParameter(f"invalid cgroup name {name!r}")
    return name


# ---------------------------------------------------------------------------- the tree -------
class _Hierarchy:
    """State shared by every group of one tree."""

    __slots__ = ("by_id", "cgroup_mutex", "cursors", "files", "next_id", "objcg_owner",
                 "offline_hooks", "reclaimer", "stat_lock", "version", "writable")

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
        self.by_id: dict[int, MemCgroup] = {}  # online groups
        self.objcg_owner: dict[int, MemCgroup] = {}  # objcg id -> the group it charges now
        self.offline_hooks: list[Callable[[MemCgroup, MemCgroup], None]] = []
        self.cursors: weakref.WeakSet[ZswapShrinkCursor] = weakref.WeakSet()


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
    def create(self, name: str) -> MemCgroup:
        """mkdir: a child group named ``name`` (unique among the online children)."""
        _check_name(name)
        with self._h.cgroup_mutex:
            if not self.online:
                raise InvalidParameter(f"{self.path}: the group was removed")
            kids, ids = self._kids
            if any(k.name == name for k in kids):
                raise InvalidParameter(f"{self.path}: a child named {name!r} exists")
            child = MemCgroup(_parent=self, _name=name)
            self._kids = ((*kids, child), (*ids, child.id))
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
            self.online = False
            kids, ids = parent._kids
            i = kids.index(self)
            parent._kids = (kids[:i] + kids[i + 1:], ids[:i] + ids[i + 1:])
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
        with self._lock:
            for memcg in self._path:
                memcg._events[i] += n

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
        return dict(zip(MEMCG_EVENTS, self._events, strict=True))

    def stat(self) -> dict[str, int]:
        """The zswap lines of ``memory.stat``, as printed (``zswapped`` and ``zswap_incomp``
        in bytes)."""
        with self._lock:
            out = {"zswap": self._zswap_b, "zswapped": self._zswapped * PAGE_SIZE,
                   "zswap_incomp": self._zswap_incomp * PAGE_SIZE}
            out.update(zip(MEMCG_EVENTS, self._events, strict=True))
        return out

    # ------------------------------------------------------------------ files ---------------
    def _check_file(self, name: str, files: tuple[str, ...] | None = None) -> None:
        if files is None:
            files = self._h.files
        if name not in files:
            raise InvalidParameter(f"no cgroup v{self._h.version} file {name!r} (known: "
                                   f"{', '.join(files)})")
        if self.parent is None and name in _NOT_ON_ROOT:
            raise InvalidParameter(f"{name} does not exist on the root cgroup")
        if not self.online:
            raise InvalidParameter(f"{self.path}: the group was removed")

    def read(self, name: str) -> str:
        """The content of cgroupfs file ``name`` (with its trailing newline)."""
        if name in MEMCG_WRITE_ONLY and self._v2:
            raise InvalidParameter(f"{name} is write-only")
        self._check_file(name)
        if name == "memory.peak":
            return f"{self.memory_peak}\n"
        if name == "memory.swap.current":
            return f"{self.swap_current}\n"
        if name == "memory.swap.peak":
            return f"{self.swap_peak}\n"
        if name == "memory.swap.max":
            return _show_max(self._swap_max)
        if name == "memory.zswap.max":
            return _show_max(self._zswap_max)
        if name == "memory.max":
            return _show_max(self._memory_max)
        if name == "memory.limit_in_bytes":
            return f"{self._memory_max * PAGE_SIZE}\n"
        if name == "memory.swappiness":
            return f"{self._swappiness}\n"
        if name == "memory.zswap.writeback":
            return f"{int(self._zswap_writeback)}\n"
        if name == "memory.zswap.current":
            return f"{self._zswap_b}\n"
        if name in ("memory.current", "memory.usage_in_bytes"):
            return f"{self.memory_current}\n"
        return "".join(f"{key} {value}\n" for key, value in self.stat().items())

    def write(self, name: str, value: object) -> None:
        """Write cgroupfs file ``name`` (a string as cgroupfs accepts it, or a typed value:
        bytes as an int or None for "max"; a bool or 0/1 for ``memory.zswap.writeback``).
        A bad value raises :class:`InvalidParameter` and changes nothing. ``memory.reclaim``
        reclaims (see :meth:`set_reclaimer`) and raises :class:`ReclaimIncomplete` when it
        could not reclaim that much."""
        if name == "memory.reclaim":
            self._check_file(name, self._h.writable)
            self._memory_reclaim(value)
            return
        with self._h.cgroup_mutex:
            self._check_file(name)
            if name in _READ_ONLY:
                raise InvalidParameter(f"{name} is read-only")
            if name in ("memory.peak", "memory.swap.peak"):  # peak_write: any content
                with self._lock:
                    if name == "memory.peak":
                        pk = self._peak
                        pk[1] = self._memory_pages + -(-self._zswap_b // PAGE_SIZE)
                    else:
                        pk = self._swap_peak
                        pk[1] = self._swap
                return
            if name == "memory.swap.max":  # swap_max_write
                self._swap_max = page_counter_memparse(value, name)
                return
            if name == "memory.zswap.writeback":
                number = _kstrtoint(value, name)
                if number not in (0, 1):
                    raise InvalidParameter(f"{name}: must be 0 or 1, got {number}")
                self._zswap_writeback = bool(number)
            elif name == "memory.zswap.max":
                self._zswap_max = page_counter_memparse(value, name)
            elif name == "memory.swappiness":  # mem_cgroup_swappiness_write
                number = _kstrtoint(value, name)
                if not 0 <= number <= MAX_SWAPPINESS:
                    raise InvalidParameter(f"{name}: must be 0..{MAX_SWAPPINESS}, got {number}")
                self._swappiness = number
            elif name == "memory.limit_in_bytes":  # v1: -1 means no limit
                text = value.strip() if isinstance(value, str) else value
                self._memory_max = (PAGE_COUNTER_MAX if text in ("-1", -1)
                                    else page_counter_memparse(value, name))
            else:  # memory.max
                self._memory_max = page_counter_memparse(value, name)


    def _memory_reclaim(self, value: object) -> None:
        """``user_proactive_reclaim`` for a memcg: parse ``"<bytes> [swappiness=N]"`` (bytes
        as ``memparse``, rounded down to pages; swappiness ``MIN_SWAPPINESS..MAX_SWAPPINESS``),
        then hand the work to the registered reclaimer. Runs without ``cgroup_mutex`` (the
        kernel's write does not serialise against other cgroup files either)."""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidParameter(f"memory.reclaim: expected bytes, got {value!r}")
        tokens = str(value).split()
        if not tokens:
            raise InvalidParameter("memory.reclaim: expected a number of bytes")
        nbytes = memparse(tokens[0], "memory.reclaim")
        swappiness: int | None = None
        for token in tokens[1:]:
            key, _, arg = token.partition("=")
            if key != "swappiness" or not arg:
                raise InvalidParameter(f"memory.reclaim: unknown option {token!r} (known: "
                                       "swappiness=N)")
            number = _kstrtoint(arg, "memory.reclaim swappiness")
            if not MIN_SWAPPINESS <= number <= MAX_SWAPPINESS:
                raise InvalidParameter(f"memory.reclaim: swappiness must be "
                                       f"{MIN_SWAPPINESS}..{MAX_SWAPPINESS}, got {number}")
            swappiness = number
        if nbytes // PAGE_SIZE == 0:
            return  # the loop has nothing to do
        reclaimer = self._h.reclaimer
        if reclaimer is None or not reclaimer(self, nbytes - nbytes % PAGE_SIZE, swappiness):
            raise ReclaimIncomplete(f"{self.path}: memory.reclaim could not reclaim "
                                    f"{nbytes} bytes")


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


def _show_max(pages: int) -> str:
    """``seq_puts_memcg_tunable``."""
    return "max\n" if pages == PAGE_COUNTER_MAX else f"{pages * PAGE_SIZE}\n"


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


def mem_cgroup_iter(root: MemCgroup, prev: MemCgroup | None) -> MemCgroup | None:
    """``mem_cgroup_iter(root, prev, NULL)``: the online group after ``prev`` in a pre-order
    walk of ``root``'s subtree; ``root`` itself for ``prev=None``; None after the last one.
    ``prev`` may have been removed meanwhile: the walk resumes where it was. Lock-free."""
    if prev is None:
        return root if root.online else None
    if root not in prev._path:
        raise InvalidParameter(f"{prev!r} is not in the subtree of {root!r}")
    if prev.online:
        kids = prev._kids[0]
        if kids:
            return kids[0]
    node = prev
    while node is not root:
        parent = node.parent
        assert parent is not None  # node is below root
        kids, ids = parent._kids
        i = bisect_right(ids, node.id)  # ids grow with creation: works for removed nodes too
        if i < len(kids):
            return kids[i]
        node = parent
    return None


class ZswapShrinkCursor:
    """``zswap_next_shrink`` and ``zswap_shrink_lock``: the round-robin position of zswap's
    ``shrink_worker`` in one memcg hierarchy. Group removal advances it automatically."""

    def __init__(self, root: MemCgroup) -> None:
        self.root = root.root
        self._lock = threading.Lock()
        #: ``zswap_next_shrink``: the group shrunk last (None: start a new pass at the root)
        self.next_shrink: MemCgroup | None = None
        with root._h.cgroup_mutex:
            root._h.cursors.add(self)

    def next(self) -> MemCgroup | None:
        """The ``shrink_worker`` step: advance to the next online group and return it; None
        at the end of a full pass (the next call starts again at the root)."""
        self._lock.acquire()
        try:
            while True:
                memcg = mem_cgroup_iter(self.root, self.next_shrink)
                self.next_shrink = memcg
                if memcg is None or memcg.online:  # mem_cgroup_tryget_online
                    return memcg
        finally:
            self._lock.release()

    def offline_cleanup(self, memcg: MemCgroup) -> None:
        """``zswap_memcg_offline_cleanup``: if the cursor is on ``memcg``, move it on to the
        next online group (called by :meth:`MemCgroup.remove`)."""
        self._lock.acquire()
        try:
            if self.next_shrink is memcg:
                nxt: MemCgroup | None = memcg
                while True:
                    nxt = mem_cgroup_iter(self.root, nxt)
                    if nxt is None or nxt.online:
                        break
                self.next_shrink = nxt
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop following removals (the cursor is also dropped when garbage-collected)."""
        self.root._h.cursors.discard(self)
