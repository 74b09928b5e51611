"""zsmalloc: the allocator zswap stores compressed pages in, with the kernel's memory accounting.

zswap's ``pool_total_size`` (and with it the ``max_pool_percent`` limit, the accept-threshold
hysteresis and every "compression ratio" figure) is not the sum of the compressed lengths: it is
``zs_get_total_pages() * PAGE_SIZE`` of the zsmalloc pool, which includes class round-up,
partially filled zspages and whole-zspage granularity. To reproduce those numbers this module
re-implements ``mm/zsmalloc.c`` (Linux 6.18) rather than wrapping a Python allocator:

* the same 255 size classes, built and merged exactly as ``zs_create_pool`` does, with
  ``CONFIG_ZSMALLOC_CHAIN_SIZE`` (4..16, default 8) pages per zspage at most;
* the same placement: an 8-byte handle header in front of every non-huge object, objects of a
  zspage packed back to back (they may straddle the 4 KiB page boundaries inside it), and any
  ``zs_malloc`` size >= ``huge_class_size`` (3625 with chain 8) in the huge class 254, one
  headerless object per page, so that a 4096-byte object costs exactly one page;
* the same fullness groups and allocation order (fullest non-full zspage first, most recently
  inserted within a group), immediate freeing of a zspage whose last object goes away, and the
  same compaction algorithm (``__zs_compact``: least-full source into fullest destination).

**Two implementations, one behaviour.** :class:`ZsPool`, the pool everyone gets, is C
(``src/pyzswap/csrc/zsmalloc.c``, the plain-C allocator whose API ``zsmalloc.h`` other C code
can call, and ``zsmalloc_py.c``, its Python type ``pyzswap._native.ZsPool``); :class:`ZsPool`
here is a thin subclass that only adds this documentation. :class:`PyZsPool` below is the
readable reference implementation in Python. Both give the same handles, the same
``pages_allocated``, class statistics, fullness lists and compaction results for the same
sequence of calls (``tests/test_zsmalloc.py`` runs every test on both and compares them step
by step), and raise the same :mod:`pyzswap.errors` classes. The C pool costs about 8 bytes of
handle table per object plus a 32-byte descriptor per zspage, instead of ~150 Python bytes.

The storage is real: every zspage owns one contiguous block of ``pages_per_zspage * 4096``
bytes (a ``bytearray`` in Python, a ``PyMem_RawMalloc`` block in C) and objects are copied in
and out of it. Handles are small integers that stay valid while compaction moves objects,
exactly as the kernel's handles do (the kernel rewrites the location stored *in* the handle slab
object; we rewrite that handle's row of a handle table).

Deliberate simplifications, all invisible to the accounting:

* One lock per pool (a ``threading.Lock`` in Python, a pthread mutex in C) instead of
  ``pool->lock`` (rwlock) + per-class spinlocks + per-zspage migrate locks. Every mutation and
  every read holds it, and ``compact`` holds it for the whole pass (the kernel drops its locks
  between classes and when contended). Hence the kernel's deferred zspage freeing
  (``kick_deferred_free`` after a failed ``trylock_zspage``) never happens here: an emptied
  zspage is always freed at once. The C pool never blocks on its mutex while holding the GIL
  and releases the GIL while compacting. The Python hot paths spell the lock as ``acquire()`` /
  ``try`` / ``finally: release()``: on CPython 3.11 that is 2-3x cheaper than a ``with`` block.
* The handle header bytes are reserved inside every non-huge object (so capacities and offsets
  are the kernel's). The C pool uses them as the kernel does: the tagged handle while the slot
  is allocated, the link to the next free slot while it is free (``link_free``); compaction
  finds allocated objects by that tag. The Python pool does not write them: the back-reference
  from a slot to its handle lives in a per-zspage ``owners`` list.
* Page migration between zones (``zsmalloc_mops``) is not modelled; only compaction moves data.
* Memory of freed zspages is partly kept for reuse (:data:`ZSPAGE_CACHE_PAGES`), the part the
  page allocator's free lists play in the kernel; it is not counted in ``pages_allocated``.
  The C pools also share a process-wide cache behind their own (:data:`BLOCK_CACHE_PAGES`,
  :func:`block_cache_pages`, :func:`drain_block_cache`): the blocks a pool's cache has no room
  for and those of a destroyed pool, so a new pool (a compressor switch) reuses mapped, warm
  memory as the kernel's zsmalloc reuses freed pages, instead of faulting fresh pages in.
* The full (100%) fullness group is tracked by each zspage's ``group`` field but not kept as a
  linked list: the kernel never picks from it, so its order is unobservable.
* ``obj_view`` of the C pool returns a view of a *copy* taken under the pool lock (a live view
  into C memory could outlive a zspage that compaction frees); the Python pool's is a live
  view validated by ``migrate_seq``. Callers use both the same way.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Final, TypeAlias, TypedDict

from . import _native
from .errors import AllocFail, CompressPoor, InvalidParameter

__all__ = [
    "BLOCK_CACHE_PAGES",
    "DEFAULT_CHAIN_SIZE",
    "NR_FULLNESS_GROUPS",
    "PAGE_SIZE",
    "ZSPAGE_CACHE_PAGES",
    "ZS_ALIGN",
    "ZS_HANDLE_SIZE",
    "ZS_INUSE_RATIO_0",
    "ZS_INUSE_RATIO_10",
    "ZS_INUSE_RATIO_99",
    "ZS_INUSE_RATIO_100",
    "ZS_MAX_ALLOC_SIZE",
    "ZS_MAX_CHAIN_SIZE",
    "ZS_MIN_ALLOC_SIZE",
    "ZS_MIN_CHAIN_SIZE",
    "ZS_SIZE_CLASSES",
    "ZS_SIZE_CLASS_DELTA",
    "BytesLike",
    "ClassStats",
    "PyZsPool",
    "SizeClassInfo",
    "ZsPool",
    "alloc_class",
    "block_cache_pages",
    "calculate_zspage_chain_size",
    "class_index_for",
    "distinct_classes",
    "drain_block_cache",
    "fullness_group",
    "huge_class_size",
    "size_class_table",
]

PAGE_SIZE: Final = _native.PAGE_SIZE
ZS_ALIGN = 8
ZS_HANDLE_SIZE = 8
ZS_MIN_ALLOC_SIZE = 32
ZS_MAX_ALLOC_SIZE = PAGE_SIZE
ZS_SIZE_CLASS_DELTA = 16
# DIV_ROUND_UP(ZS_MAX_ALLOC_SIZE - ZS_MIN_ALLOC_SIZE, ZS_SIZE_CLASS_DELTA) + 1
ZS_SIZE_CLASSES = -(-(ZS_MAX_ALLOC_SIZE - ZS_MIN_ALLOC_SIZE) // ZS_SIZE_CLASS_DELTA) + 1
DEFAULT_CHAIN_SIZE = 8  # CONFIG_ZSMALLOC_CHAIN_SIZE default
ZSPAGE_CACHE_PAGES = 4096  # freed zspage memory a pool keeps for reuse (not a kernel constant)
#: Freed zspage memory the whole process keeps for any C pool (64 MiB; csrc/zsmalloc.h).
BLOCK_CACHE_PAGES: int = _native.ZS_BLOCK_CACHE_PAGES


def block_cache_pages() -> int:
    """Pages of freed zspage memory the process holds for reuse by any C pool."""
    return _native.zs_block_cache_pages()


def drain_block_cache() -> int:
    """Free the process-wide cache of zspage memory (returns the pages it held), e.g. before
    measuring memory: stores then allocate fresh memory instead of reusing cached blocks."""
    return _native.zs_block_cache_drain()
ZS_MIN_CHAIN_SIZE = 4  # Kconfig range of CONFIG_ZSMALLOC_CHAIN_SIZE
ZS_MAX_CHAIN_SIZE = 16

# Fullness groups (enum fullness_group): 0 = empty, 1..10 = (100*inuse//objs)//10 + 1, 11 = full.
ZS_INUSE_RATIO_0 = 0
ZS_INUSE_RATIO_10 = 1
ZS_INUSE_RATIO_99 = 10
ZS_INUSE_RATIO_100 = 11
NR_FULLNESS_GROUPS = 12

_FULL = ZS_INUSE_RATIO_100
_ISOLATED = -1  # group of a zspage taken off its list by compaction (never seen outside it)

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""What object data may be given as: any C-contiguous buffer works, these are the typed ones."""


# --------------------------------------------------------------------------------------------
# Size classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeClassInfo:
    """One zsmalloc size class as ``zs_create_pool`` creates it.

    ``index`` is the index of the class actually created (merged indices point to the class with
    the largest size of their run), ``size`` its object size including the handle header,
    ``pages_per_zspage`` the number of 4 KiB pages of one zspage and ``objs_per_zspage`` how many
    objects fit in it.
    """

    index: int
    size: int
    pages_per_zspage: int
    objs_per_zspage: int

    @property
    def huge(self) -> bool:
        """True for a 1-page/1-object class: its zspages keep the handle out of the object."""
        return self.pages_per_zspage == 1 and self.objs_per_zspage == 1


def _check_chain(chain_size: int) -> None:
    if type(chain_size) is not int or not ZS_MIN_CHAIN_SIZE <= chain_size <= ZS_MAX_CHAIN_SIZE:
        raise InvalidParameter(
            f"zsmalloc chain size must be an int in {ZS_MIN_CHAIN_SIZE}..{ZS_MAX_CHAIN_SIZE} "
            f"(CONFIG_ZSMALLOC_CHAIN_SIZE), got {chain_size!r}"
        )


def calculate_zspage_chain_size(class_size: int, chain_size: int = DEFAULT_CHAIN_SIZE) -> int:
    """Pages per zspage for ``class_size``-byte objects (kernel ``calculate_zspage_chain_size``).

    A power of two packs one page perfectly, so it gets 1 page. Otherwise the page count in
    ``1..chain_size`` leaving the least tail waste is chosen, the smallest count on ties.
    """
    _check_chain(chain_size)
    if class_size <= 0:
        raise InvalidParameter(f"class size must be positive, got {class_size}")
    if class_size & (class_size - 1) == 0:
        return 1
    best, min_waste = 1, PAGE_SIZE + 1
    for pages in range(1, chain_size + 1):
        waste = (pages * PAGE_SIZE) % class_size
        if waste < min_waste:
            best, min_waste = pages, waste
    return best


@cache
def _build_table(chain_size: int) -> tuple[tuple[SizeClassInfo, ...], int]:
    """(info for each of the 255 indices, huge_class_size) for one chain size."""
    table: list[SizeClassInfo | None] = [None] * ZS_SIZE_CLASSES
    prev: SizeClassInfo | None = None
    huge_size = 0
    for i in range(ZS_SIZE_CLASSES - 1, -1, -1):
        size = min(ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA, ZS_MAX_ALLOC_SIZE)
        pages = calculate_zspage_chain_size(size, chain_size)
        objs = pages * PAGE_SIZE // size
        if pages != 1 and objs != 1 and not huge_size:
            # zs_malloc() adds the header before the class lookup, hence the -(8 - 1).
            huge_size = size - (ZS_HANDLE_SIZE - 1)
        if prev is not None and prev.pages_per_zspage == pages and prev.objs_per_zspage == objs:
            table[i] = prev  # can_merge(): same geometry as the previously created class
            continue
        prev = SizeClassInfo(i, size, pages, objs)
        table[i] = prev
    return tuple(info for info in table if info is not None), huge_size


def size_class_table(chain_size: int = DEFAULT_CHAIN_SIZE) -> list[SizeClassInfo]:
    """For each of the 255 class indices, the class it resolves to (``pool->size_class[i]``)."""
    _check_chain(chain_size)
    return list(_build_table(chain_size)[0])


def distinct_classes(chain_size: int = DEFAULT_CHAIN_SIZE) -> list[SizeClassInfo]:
    """The classes actually created, by ascending index (119 for chain 8, 69 for 4, 192 for 16)."""
    _check_chain(chain_size)
    table = _build_table(chain_size)[0]
    return [info for i, info in enumerate(table) if info.index == i]


def huge_class_size(chain_size: int = DEFAULT_CHAIN_SIZE) -> int:
    """``zs_huge_class_size()``: a ``zs_malloc`` size at or above this lands in the huge class.

    3625 for chain 8 (3257 for chain 4, 3833 for chain 16). zram uses it to store a page as-is.
    """
    _check_chain(chain_size)
    return _build_table(chain_size)[1]


def class_index_for(size: int) -> int:
    """Kernel ``get_size_class_index(size)``: the raw class index (0..254) for a chunk size.

    ``size`` is the size *after* ``zs_malloc`` has added the 8-byte handle header, i.e. for
    ``zs_malloc(n)`` call ``class_index_for(n + ZS_HANDLE_SIZE)``; valid values are 1..4104.
    The result is ``ceil((size - 32) / 16)`` (0 for sizes up to 32), capped at 254. It is an
    index into :func:`size_class_table`, which may resolve to a larger merged class.
    """
    if type(size) is not int or not 0 < size <= ZS_MAX_ALLOC_SIZE + ZS_HANDLE_SIZE:
        raise InvalidParameter(
            f"chunk size must be an int in 1..{ZS_MAX_ALLOC_SIZE + ZS_HANDLE_SIZE} "
            f"(object size plus the {ZS_HANDLE_SIZE}-byte handle), got {size!r}"
        )
    idx = 0
    if size > ZS_MIN_ALLOC_SIZE:
        idx = -(-(size - ZS_MIN_ALLOC_SIZE) // ZS_SIZE_CLASS_DELTA)
    return min(ZS_SIZE_CLASSES - 1, idx)


def alloc_class(size: int, chain_size: int = DEFAULT_CHAIN_SIZE) -> SizeClassInfo:
    """The class a ``zs_malloc(size)`` object occupies (``size`` *without* the header, 1..4096)."""
    _check_malloc_size(size)
    return size_class_table(chain_size)[class_index_for(size + ZS_HANDLE_SIZE)]


def fullness_group(inuse: int, objs_per_zspage: int) -> int:
    """Kernel ``get_fullness_group``: 0 empty, 11 full, else ``(100*inuse//objs)//10 + 1``.

    The ``+ 1`` keeps a zspage with one object out of 128 in the 10% group rather than 0%.
    """
    if inuse == 0:
        return ZS_INUSE_RATIO_0
    if inuse == objs_per_zspage:
        return ZS_INUSE_RATIO_100
    return (100 * inuse // objs_per_zspage) // 10 + 1


def _check_malloc_size(size: int) -> None:
    if type(size) is not int:
        raise InvalidParameter(f"zs_malloc size must be an int, got {type(size).__name__}")
    if size <= 0:
        raise InvalidParameter(f"zs_malloc size must be positive, got {size}")
    if size > ZS_MAX_ALLOC_SIZE:
        raise CompressPoor(f"zs_malloc size {size} exceeds ZS_MAX_ALLOC_SIZE ({ZS_MAX_ALLOC_SIZE})")


# --------------------------------------------------------------------------------------------
# Pool internals
# --------------------------------------------------------------------------------------------


@cache
def _class_tables(size: int, objs: int, hdr: int) -> tuple[list[int], list[int], list[int]]:
    """(fullness group by inuse, data offset by slot, initial free stack) of a class.

    ``init_zspage`` links the free objects 0 -> 1 -> 2 ...; as a LIFO stack popped from the
    end that is the reversed range. Callers must not mutate these lists (copy ``free_init``).
    """
    gmap = [fullness_group(n, objs) for n in range(objs + 1)]
    offs = [slot * size + hdr for slot in range(objs)]
    return gmap, offs, list(range(objs - 1, -1, -1))


@cache
def _len_to_index(chain_size: int) -> tuple[int, ...]:
    """zs_malloc size (0..4096, without header) -> created class index; entry 0 unused."""
    table = _build_table(chain_size)[0]
    sizes = range(1, ZS_MAX_ALLOC_SIZE + 1)
    return (0, *(table[class_index_for(n + ZS_HANDLE_SIZE)].index for n in sizes))


class _SizeClass:
    """Mutable per-pool state of one created class (``struct size_class``).

    ``heads[g]`` is the head of the doubly linked fullness list of group ``g`` (1..10; index 0
    unused, group 0 is always empty because empty zspages are freed at once); bit ``g`` of
    ``mask`` is set iff that list is non-empty, so the fullest non-full group is
    ``mask.bit_length() - 1`` without scanning. ``zspages`` holds every live zspage of the class,
    full ones included. ``gmap[inuse]`` and ``offs[slot]`` are precomputed so that the hot paths
    do no arithmetic beyond indexing.
    """

    __slots__ = (
        "cap",
        "free_init",
        "gmap",
        "hdr",
        "heads",
        "huge",
        "index",
        "mask",
        "objs",
        "offs",
        "pages",
        "size",
        "spare",
        "zsbytes",
        "zspages",
    )

    def __init__(self, info: SizeClassInfo) -> None:
        self.index = info.index
        self.size = info.size
        self.pages = info.pages_per_zspage
        self.objs = info.objs_per_zspage
        self.huge = info.huge
        # Non-huge objects start with the 8-byte handle header; huge ones are headerless.
        self.hdr = 0 if self.huge else ZS_HANDLE_SIZE
        self.cap = self.size - self.hdr
        self.zsbytes = self.pages * PAGE_SIZE
        # Read-only tables, shared by every pool with the same class geometry.
        self.gmap, self.offs, self.free_init = _class_tables(self.size, self.objs, self.hdr)
        self.heads: list[_ZsPage | None] = [None] * (ZS_INUSE_RATIO_99 + 1)
        self.mask = 0
        self.zspages: set[_ZsPage] = set()
        self.spare: list[_ZsPage] = []  # freed zspages kept for reuse (see PyZsPool)


class _ZsPage:
    """One zspage (``struct zspage``): its memory, its free-slot stack and its list links.

    ``free`` is the kernel's per-zspage freelist as a LIFO stack (``obj_free`` pushes at the
    head, ``obj_malloc`` pops the head): the most recently freed slot is reused first.
    ``owners[slot]`` is the handle stored in a slot (0 = free), the reverse map compaction
    needs. ``serial`` only names the zspage in debug output.
    """

    __slots__ = ("cls", "free", "group", "inuse", "mv", "next", "owners", "prev", "serial")

    def __init__(self, cls: _SizeClass, serial: int) -> None:
        self.cls = cls
        self.mv = memoryview(bytearray(cls.zsbytes))
        self.free = cls.free_init[:]
        self.owners = [0] * cls.objs
        self.inuse = 0
        self.group = ZS_INUSE_RATIO_0
        self.prev: _ZsPage | None = None
        self.next: _ZsPage | None = None
        self.serial = serial


def _link(cls: _SizeClass, z: _ZsPage, g: int) -> None:
    """insert_zspage(): put ``z`` at the head of group ``g`` (only 1..10 are real lists)."""
    z.group = g
    z.prev = None
    if g in (_FULL, ZS_INUSE_RATIO_0):
        z.next = None
        return
    head = cls.heads[g]
    z.next = head
    if head is None:
        cls.mask |= 1 << g
    else:
        head.prev = z
    cls.heads[g] = z


def _unlink(cls: _SizeClass, z: _ZsPage) -> None:
    """remove_zspage(): take ``z`` off its fullness list (a no-op for the untracked groups)."""
    g = z.group
    if g == _FULL or g <= ZS_INUSE_RATIO_0:
        return
    p, n = z.prev, z.next
    if p is None:
        cls.heads[g] = n
        if n is None:
            cls.mask &= ~(1 << g)
    else:
        p.next = n
    if n is not None:
        n.prev = p
    z.prev = z.next = None


def _byte_view(data: object, length: int | None) -> memoryview:
    """``data`` as a flat unsigned-byte view of ``length`` bytes (all of it if None)."""
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidParameter(
            f"object data must be a bytes-like object, not {type(data).__name__}"
        ) from None
    if view.format != "B" or view.ndim != 1:
        if not view.c_contiguous:
            raise InvalidParameter("object data must be a C-contiguous buffer")
        view = view.cast("B")
    if length is None:
        return view
    if type(length) is not int or length < 0:
        raise InvalidParameter(f"length must be a non-negative int, got {length!r}")
    if length > len(view):
        raise InvalidParameter(f"length {length} exceeds the {len(view)} bytes of data given")
    return view if length == len(view) else view[:length]


class ClassStats(TypedDict):
    """One row of :meth:`ZsPool.class_stats` (the kernel's debugfs ``zsmalloc/<pool>/classes``).

    ``fullness[g]`` counts the zspages in fullness group ``g`` (0 empty .. 11 full);
    ``freeable`` is ``zs_can_compact`` for the class, in pages.
    """

    index: int
    size: int
    pages_per_zspage: int
    objs_per_zspage: int
    zspages: int
    obj_allocated: int
    obj_used: int
    pages_used: int
    freeable: int
    fullness: tuple[int, ...]


# --------------------------------------------------------------------------------------------
# The pool
# --------------------------------------------------------------------------------------------


class PyZsPool:
    """One zsmalloc pool (``struct zs_pool``) in Python: the reference implementation.

    :class:`ZsPool` (C) behaves identically and is what pyzswap uses; this class is the
    readable specification the tests compare it with, call for call.

    Handles are positive ints (0 is never a handle). The handle table is four parallel lists
    indexed by handle (zspage, data offset, slot, size), so an object costs no Python container
    of its own and the garbage collector has nothing per object to scan; freed handle numbers
    go on a LIFO free-list and are handed out again by later mallocs, as the kernel's handle
    slab reuses its objects. Using a handle after freeing it is therefore a bug the pool cannot
    always detect: it raises :class:`InvalidParameter` while the number is unused and silently
    refers to the new object once the number is reused.

    Memory of freed zspages (up to :data:`ZSPAGE_CACHE_PAGES` pages per pool) is kept for the
    next zspage of the same class instead of going back to the Python allocator, playing the
    part of the page allocator's free lists: it is *not* counted in :attr:`pages_allocated`,
    and, like a kernel page, a reused zspage is not zeroed.

    All methods are thread-safe (one lock per pool, see the module docstring). ``max_pages``
    (not a kernel knob) makes zspage allocation fail with :class:`AllocFail` once the pool would
    exceed that many pages, to exercise callers' -ENOMEM paths deterministically.
    """

    __slots__ = (
        "_by_index",
        "_by_len",
        "_classes",
        "_compact_lock",
        "_dead",
        "_hfree",
        "_hoff",
        "_hsize",
        "_hslot",
        "_hz",
        "_lock",
        "_max_pages",
        "_next_serial",
        "_pages",
        "_pages_compacted",
        "_spare_pages",
        "chain_size",
        "huge_class_size",
        "migrate_seq",
        "name",
    )

    def __init__(
        self, name: str, chain_size: int = DEFAULT_CHAIN_SIZE, *, max_pages: int | None = None
    ) -> None:
        _check_chain(chain_size)
        if max_pages is not None and (type(max_pages) is not int or max_pages < 0):
            raise InvalidParameter(f"max_pages must be a non-negative int, got {max_pages!r}")
        self.name = str(name)
        self.chain_size = chain_size
        self.huge_class_size = huge_class_size(chain_size)
        table = size_class_table(chain_size)
        created = {info.index: _SizeClass(info) for info in table}
        self._classes: list[_SizeClass] = [created[i] for i in sorted(created)]
        self._by_index: list[_SizeClass] = [created[info.index] for info in table]
        # zs_malloc size (without header) -> class; entry 0 is a placeholder, never used.
        self._by_len: list[_SizeClass] = [created[i] for i in _len_to_index(chain_size)]
        # Handle table; index 0 is a permanent hole so that 0 is never a valid handle.
        self._hz: list[_ZsPage | None] = [None]
        self._hoff: list[int] = [0]
        self._hslot: list[int] = [0]
        self._hsize: list[int] = [0]
        self._hfree: list[int] = []
        self._next_serial = 0
        self._pages = 0
        self._pages_compacted = 0
        self._spare_pages = 0
        self._max_pages = max_pages
        self._dead = False
        self._lock = threading.Lock()
        self._compact_lock = threading.Lock()
        #: Migration sequence count: odd while compaction moves objects, bumped twice per pass.
        #: :meth:`obj_view` readers compare it before and after using the view.
        self.migrate_seq = 0

    def __repr__(self) -> str:
        state = "destroyed" if self._dead else f"{self._pages} pages, {self.objects_in_use} objs"
        return f"ZsPool({self.name!r}, chain_size={self.chain_size}, {state})"

    # ---- accounting ------------------------------------------------------------------------

    @property
    def pages_allocated(self) -> int:
        """``zs_get_total_pages()``: pages held by all zspages of the pool (0 once destroyed)."""
        return self._pages

    def total_pages(self) -> int:
        """Alias of :attr:`pages_allocated`, named after ``zs_get_total_pages``."""
        return self._pages

    @property
    def pages_compacted(self) -> int:
        """``pool->stats.pages_compacted``: pages freed by compaction over the pool's life."""
        return self._pages_compacted

    @property
    def objects_in_use(self) -> int:
        """Number of live objects (allocated handles)."""
        return len(self._hz) - 1 - len(self._hfree)

    # ---- allocation --------------------------------------------------------------------------

    def malloc(self, size: int) -> int:
        """``zs_malloc(pool, size)``: allocate an object of ``size`` bytes, return its handle.

        Raises :class:`InvalidParameter` for ``size <= 0``, :class:`CompressPoor` (-ENOSPC) for
        ``size > 4096`` and :class:`AllocFail` if a new zspage cannot be allocated. The object's
        contents are unspecified until written.
        """
        return self.malloc_write(None, size)

    def malloc_write(self, data: BytesLike | None, length: int) -> int:
        """``zs_malloc(length)`` + ``zs_obj_write(data[:length])`` in one lock round.

        The store fast path: ``data`` is typically the compressor's destination buffer, longer
        than ``length`` (a memoryview of it saves one copy over a bytearray). ``data=None`` only
        allocates (that is :meth:`malloc`). On any error nothing is allocated and the pool is
        unchanged.
        """
        try:
            if not 0 < length <= 4096:  # ZS_MAX_ALLOC_SIZE, as a constant for speed
                _check_malloc_size(length)
            cls = self._by_len[length]
        except TypeError:
            _check_malloc_size(length)  # raises InvalidParameter for a non-int
            raise
        lock = self._lock
        lock.acquire()
        try:
            # find_get_zspage(): head of the fullest non-empty group among 99%..10%.
            mask = cls.mask
            if mask:
                g0 = mask.bit_length() - 1
                z = cls.heads[g0]
                assert z is not None
            else:
                reused = bool(cls.spare)
                z = self._alloc_zspage(cls)  # not accounted until the object is committed
                g0 = ZS_INUSE_RATIO_0
            free = z.free
            slot = free[-1]
            off = cls.offs[slot]
            if data is not None:
                # Write before committing anything, so a bad ``data`` leaves no trace.
                mv = z.mv
                try:
                    if len(data) == length:
                        mv[off : off + length] = data
                    else:
                        mv[off : off + length] = data[:length]
                except (TypeError, ValueError):
                    try:
                        mv[off : off + length] = _byte_view(data, length)
                    except InvalidParameter:
                        if not g0:
                            self._unalloc_zspage(cls, z, reused)
                        raise
            free.pop()
            inuse = z.inuse + 1
            z.inuse = inuse
            g = cls.gmap[inuse]
            if g != g0:
                # fix_fullness_group(). z was the head of g0, the highest non-empty group, so
                # the group it moves up to (if not full) is empty and z becomes its only member.
                if g0:
                    n = z.next
                    cls.heads[g0] = n
                    if n is None:
                        mask ^= 1 << g0
                    else:
                        n.prev = None
                else:
                    cls.zspages.add(z)
                    self._pages += cls.pages
                z.next = None
                if g != _FULL:
                    cls.heads[g] = z
                    mask |= 1 << g
                cls.mask = mask
                z.group = g
            hfree = self._hfree
            h = hfree.pop() if hfree else self._new_handle()
            z.owners[slot] = h
            self._hz[h] = z
            self._hoff[h] = off
            self._hslot[h] = slot
            self._hsize[h] = length
            return h
        finally:
            lock.release()

    def _alloc_zspage(self, cls: _SizeClass) -> _ZsPage:
        """alloc_zspage(): memory for one zspage, reused if possible; the caller accounts it."""
        if self._dead:
            raise self._dead_error()
        if self._max_pages is not None and self._pages + cls.pages > self._max_pages:
            raise AllocFail(
                f"zsmalloc pool {self.name!r}: a {cls.pages}-page zspage would exceed "
                f"max_pages={self._max_pages} ({self._pages} allocated)"
            )
        serial = self._next_serial
        self._next_serial = serial + 1
        if cls.spare:
            z = cls.spare.pop()
            self._spare_pages -= cls.pages
            z.free = cls.free_init[:]  # init_zspage(): free objects linked in slot order
            z.serial = serial
            return z
        try:
            return _ZsPage(cls, serial)
        except MemoryError:
            raise AllocFail(f"zsmalloc pool {self.name!r}: cannot allocate a zspage") from None

    def _unalloc_zspage(self, cls: _SizeClass, z: _ZsPage, reused: bool) -> None:
        """Undo :meth:`_alloc_zspage` of a zspage that got no object: its serial number goes
        back, and its memory back to the spare list if it came from there."""
        self._next_serial -= 1
        if reused:
            cls.spare.append(z)
            self._spare_pages += cls.pages

    def _free_zspage(self, cls: _SizeClass, z: _ZsPage) -> None:
        """__free_zspage(): drop an empty, unlinked zspage and its pages."""
        z.group = ZS_INUSE_RATIO_0
        z.prev = z.next = None
        cls.zspages.discard(z)
        self._pages -= cls.pages
        if self._spare_pages + cls.pages <= ZSPAGE_CACHE_PAGES:
            cls.spare.append(z)
            self._spare_pages += cls.pages

    def _new_handle(self) -> int:
        """A never used handle number: grow the handle table by one row."""
        h = len(self._hz)
        self._hz.append(None)
        self._hoff.append(0)
        self._hslot.append(0)
        self._hsize.append(0)
        return h

    # ---- object access -----------------------------------------------------------------------

    def _zspage_of(self, handle: int) -> _ZsPage:
        """The zspage of a live handle (caller holds the lock), else InvalidParameter."""
        try:
            z = self._hz[handle]
        except (IndexError, TypeError):
            z = None
        if z is None or handle <= 0:
            raise self._bad_handle(handle)
        return z

    def write(self, handle: int, data: BytesLike, length: int | None = None) -> None:
        """``zs_obj_write``: copy ``data[:length]`` (all of ``data`` if None) to the object start.

        ``length`` may not exceed the size given to malloc; bytes beyond it are left alone.
        """
        if type(data) is not bytes or type(length) is not int or len(data) != length:
            data = _byte_view(data, length)
            length = len(data)
        lock = self._lock
        lock.acquire()
        try:
            z = self._zspage_of(handle)
            size = self._hsize[handle]
            if length > size:
                raise InvalidParameter(
                    f"write of {length} bytes to a {size}-byte object (handle {handle})"
                )
            off = self._hoff[handle]
            z.mv[off : off + length] = data
        finally:
            lock.release()

    def read(self, handle: int, length: int | None = None) -> bytes:
        """A copy of the object's first ``length`` bytes (all of it if None).

        Taken under the pool lock, so a concurrent compaction can never hand out moved or
        reused memory (the role of the kernel's ``zs_obj_read_begin``/``_end`` locking).
        """
        lock = self._lock
        lock.acquire()
        try:
            try:
                z = self._hz[handle]
                if z is None or handle <= 0:
                    raise IndexError
            except (IndexError, TypeError):
                raise self._bad_handle(handle) from None
            size = self._hsize[handle]
            if length is None:
                length = size
            elif not 0 <= length <= size:
                raise InvalidParameter(
                    f"read of {length} bytes from a {size}-byte object (handle {handle})"
                )
            off = self._hoff[handle]
            return z.mv[off : off + length].tobytes()
        finally:
            lock.release()

    def obj_view(self, handle: int, length: int) -> memoryview:
        """A zero-copy view of the object's first ``length`` bytes, taken without the lock.

        The view is only as good as the object's place: compaction may move the object while
        the caller reads. Callers read :attr:`migrate_seq` first (and use this only when it is
        even), use the view, then check that :attr:`migrate_seq` is unchanged, falling back to
        :meth:`read` otherwise — a seqcount, the lock-free counterpart of the kernel's
        ``zs_obj_read_begin`` mapping the object in place. The caller must own the handle (no
        concurrent free of *this* object), as zswap's swap-cache exclusion guarantees.
        """
        try:
            z = self._hz[handle]
            if z is None or handle <= 0 or not 0 <= length <= self._hsize[handle]:
                raise IndexError
        except (IndexError, TypeError):
            raise self._bad_handle(handle) from None
        off = self._hoff[handle]
        return z.mv[off : off + length]

    def read_into(self, handle: int, length: int, out: bytearray | memoryview) -> None:
        """Copy the object's first ``length`` bytes into ``out[:length]`` (no allocation)."""
        dst = _byte_view(out, None)
        if dst.readonly:
            raise InvalidParameter("read_into needs a writable buffer")
        if type(length) is not int or not 0 <= length <= len(dst):
            raise InvalidParameter(f"length {length!r} does not fit a {len(dst)}-byte buffer")
        lock = self._lock
        lock.acquire()
        try:
            z = self._zspage_of(handle)
            size = self._hsize[handle]
            if length > size:
                raise InvalidParameter(
                    f"read of {length} bytes from a {size}-byte object (handle {handle})"
                )
            off = self._hoff[handle]
            dst[:length] = z.mv[off : off + length]
        finally:
            lock.release()

    def obj_size(self, handle: int) -> int:
        """The size the object was allocated with (what zswap keeps as ``entry->length``)."""
        lock = self._lock
        lock.acquire()
        try:
            self._zspage_of(handle)
            return self._hsize[handle]
        finally:
            lock.release()

    def free(self, handle: int) -> None:
        """``zs_free``: release an object; a zspage losing its last object is freed at once.

        An unknown or already freed handle raises :class:`InvalidParameter` and changes nothing.
        """
        lock = self._lock
        lock.acquire()
        try:
            hz = self._hz
            try:
                z = hz[handle]
                if z is None or handle <= 0:
                    raise IndexError
            except (IndexError, TypeError):
                raise self._bad_handle(handle) from None
            hz[handle] = None
            slot = self._hslot[handle]
            z.free.append(slot)
            z.owners[slot] = 0
            self._hfree.append(handle)
            inuse = z.inuse - 1
            z.inuse = inuse
            cls = z.cls
            g = cls.gmap[inuse]
            g0 = z.group
            if g != g0:
                # fix_fullness_group(): move to the head of the lower group.
                if g0 != _FULL:
                    p, n = z.prev, z.next
                    if p is None:
                        cls.heads[g0] = n
                        if n is None:
                            cls.mask ^= 1 << g0
                    else:
                        p.next = n
                    if n is not None:
                        n.prev = p
                if g:
                    head = cls.heads[g]
                    z.prev = None
                    z.next = head
                    if head is None:
                        cls.mask |= 1 << g
                    else:
                        head.prev = z
                    cls.heads[g] = z
                    z.group = g
                else:
                    self._free_zspage(cls, z)
        finally:
            lock.release()

    # ---- compaction --------------------------------------------------------------------------

    def can_compact(self, class_index: int) -> int:
        """``zs_can_compact``: pages compaction could free in the class at ``class_index``.

        ``((obj_allocated - obj_used) // objs_per_zspage) * pages_per_zspage``. A merged index
        refers to the class it resolves to.
        """
        if type(class_index) is not int or not 0 <= class_index < ZS_SIZE_CLASSES:
            raise InvalidParameter(f"class index must be in 0..{ZS_SIZE_CLASSES - 1}")
        lock = self._lock
        lock.acquire()
        try:
            return self._can_compact(self._by_index[class_index])
        finally:
            lock.release()

    def compactable_pages(self) -> int:
        """Σ ``zs_can_compact`` over the classes: the pool shrinker's ``count_objects``."""
        lock = self._lock
        lock.acquire()
        try:
            return sum(self._can_compact(cls) for cls in self._classes)
        finally:
            lock.release()

    @staticmethod
    def _can_compact(cls: _SizeClass) -> int:
        zspages = cls.zspages
        if not zspages:
            return 0
        allocated = len(zspages) * cls.objs
        used = sum(z.inuse for z in zspages)
        return ((allocated - used) // cls.objs) * cls.pages

    def compact(self) -> int:
        """``zs_compact``: pack each class's objects into fewer zspages; return pages freed.

        Classes go from largest to smallest. Within a class, objects move (lowest slot first)
        from the least-full zspage into the fullest one until the destination is full or the
        source is empty; an emptied source is freed. Handles stay valid and data identical.
        Like the kernel, a call made while another compaction runs returns 0 at once.
        """
        if not self._compact_lock.acquire(blocking=False):
            return 0  # compaction_in_progress
        try:
            lock = self._lock
            lock.acquire()
            self.migrate_seq += 1  # odd: objects may move
            try:
                if self._dead:
                    raise self._dead_error()
                freed = 0
                for cls in reversed(self._classes):
                    if cls.objs > 1 and len(cls.zspages) > 1:
                        freed += self._compact_class(cls)
                self._pages_compacted += freed
                return freed
            finally:
                self.migrate_seq += 1
                lock.release()
        finally:
            self._compact_lock.release()

    def _compact_class(self, cls: _SizeClass) -> int:
        """__zs_compact() for one class (caller holds the lock)."""
        objs = cls.objs
        allocated = len(cls.zspages) * objs
        used = sum(z.inuse for z in cls.zspages)
        freed = 0
        dst: _ZsPage | None = None
        while (allocated - used) // objs:  # zs_can_compact(class) != 0
            if dst is None:
                dst = self._isolate(cls, range(ZS_INUSE_RATIO_99, ZS_INUSE_RATIO_0, -1))
                if dst is None:
                    break
            src = self._isolate(cls, range(ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_100))
            if src is None:
                break
            self._migrate(cls, src, dst)
            fg = cls.gmap[src.inuse]
            if fg == ZS_INUSE_RATIO_0:
                self._free_zspage(cls, src)
                allocated -= objs
                freed += cls.pages
            else:
                _link(cls, src, fg)  # putback_zspage()
            if dst.inuse == objs:
                _link(cls, dst, _FULL)
                dst = None
        if dst is not None:
            _link(cls, dst, cls.gmap[dst.inuse])
        return freed

    @staticmethod
    def _isolate(cls: _SizeClass, groups: range) -> _ZsPage | None:
        """isolate_{src,dst}_zspage(): take the head of the first non-empty group in order."""
        for g in groups:
            z = cls.heads[g]
            if z is not None:
                _unlink(cls, z)
                z.group = _ISOLATED
                return z
        return None

    def _migrate(self, cls: _SizeClass, src: _ZsPage, dst: _ZsPage) -> None:
        """migrate_zspage(): move src's objects, lowest offset first, into dst's free slots."""
        size, objs, offs = cls.size, cls.objs, cls.offs
        hz, hoff, hslot = self._hz, self._hoff, self._hslot
        smv, dmv = src.mv, dst.mv
        sowners, downers = src.owners, dst.owners
        sfree, dfree = src.free, dst.free
        for slot in range(objs):
            h = sowners[slot]
            if not h:
                continue
            nslot = dfree.pop()
            so, do = slot * size, nslot * size
            dmv[do : do + size] = smv[so : so + size]  # zs_object_copy(): the whole chunk
            downers[nslot] = h
            sowners[slot] = 0
            sfree.append(slot)
            src.inuse -= 1
            dst.inuse += 1
            hz[h] = dst
            hoff[h] = offs[nslot]
            hslot[h] = nslot
            if dst.inuse == objs or src.inuse == 0:
                break

    # ---- introspection -----------------------------------------------------------------------

    def class_stats(self) -> list[ClassStats]:
        """One row per created class, like debugfs ``/sys/kernel/debug/zsmalloc/<pool>/classes``."""
        lock = self._lock
        lock.acquire()
        try:
            rows: list[ClassStats] = []
            for cls in self._classes:
                fullness = [0] * NR_FULLNESS_GROUPS
                used = 0
                for z in cls.zspages:
                    fullness[z.group] += 1
                    used += z.inuse
                n = len(cls.zspages)
                rows.append(
                    ClassStats(
                        index=cls.index,
                        size=cls.size,
                        pages_per_zspage=cls.pages,
                        objs_per_zspage=cls.objs,
                        zspages=n,
                        obj_allocated=n * cls.objs,
                        obj_used=used,
                        pages_used=n * cls.pages,
                        freeable=self._can_compact(cls),
                        fullness=tuple(fullness),
                    )
                )
            return rows
        finally:
            lock.release()

    def _locate(self, handle: int) -> tuple[int, int, int]:
        """Debug: (class index, zspage serial, slot) of a live handle."""
        lock = self._lock
        lock.acquire()
        try:
            z = self._zspage_of(handle)
            return z.cls.index, z.serial, self._hslot[handle]
        finally:
            lock.release()

    def _fullness_lists(self, class_index: int) -> list[list[int]]:
        """Debug: zspage serials of each fullness list 0..10 of a class, head first."""
        lock = self._lock
        lock.acquire()
        try:
            cls = self._by_index[class_index]
            lists: list[list[int]] = [[]]
            for g in range(ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_99 + 1):
                serials = []
                z = cls.heads[g]
                while z is not None:
                    serials.append(z.serial)
                    z = z.next
                lists.append(serials)
            return lists
        finally:
            lock.release()

    def _check_invariants(self) -> None:
        """Debug: verify every structural invariant; raise AssertionError on the first failure."""

        def fail(msg: str) -> None:
            raise AssertionError(f"zsmalloc pool {self.name!r}: {msg}")

        lock = self._lock
        lock.acquire()
        try:
            hz, hoff, hslot, hsize = self._hz, self._hoff, self._hslot, self._hsize
            if not len(hz) == len(hoff) == len(hslot) == len(hsize) or hz[0] is not None:
                fail("handle table columns disagree")
            pages = 0
            spare = 0
            owned: set[int] = set()
            for cls in self._classes:
                linked: set[_ZsPage] = set()
                for g in range(ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_99 + 1):
                    z = cls.heads[g]
                    if bool(cls.mask >> g & 1) != (z is not None):
                        fail(f"class {cls.index}: mask bit {g} disagrees with list")
                    prev: _ZsPage | None = None
                    while z is not None:
                        if z.prev is not prev:
                            fail(f"class {cls.index} group {g}: broken prev link")
                        if z.group != g or z in linked:
                            fail(f"class {cls.index} group {g}: zspage {z.serial} misfiled")
                        linked.add(z)
                        prev, z = z, z.next
                if cls.mask & ~0b11111111110:
                    fail(f"class {cls.index}: stray mask bits {cls.mask:#x}")
                if linked - cls.zspages:
                    fail(f"class {cls.index}: a listed zspage is not live")
                for z in cls.zspages:
                    if z.cls is not cls or len(z.mv) != cls.zsbytes or z in cls.spare:
                        fail(f"zspage {z.serial} belongs to the wrong class or is spare")
                    free = set(z.free)
                    if len(free) != len(z.free) or not free <= set(range(cls.objs)):
                        fail(f"zspage {z.serial}: corrupt freelist {z.free}")
                    if z.inuse != cls.objs - len(z.free) or z.inuse <= 0:
                        fail(f"zspage {z.serial}: inuse {z.inuse} with {len(z.free)} free")
                    if z.group != cls.gmap[z.inuse]:
                        fail(f"zspage {z.serial}: group {z.group} for inuse {z.inuse}")
                    if (z.group != _FULL) != (z in linked):
                        fail(f"zspage {z.serial}: list membership wrong for group {z.group}")
                    for slot, h in enumerate(z.owners):
                        if (h == 0) != (slot in free):
                            fail(f"zspage {z.serial} slot {slot}: owner {h} vs freelist")
                        if not h:
                            continue
                        if hz[h] is not z or hslot[h] != slot or hoff[h] != cls.offs[slot]:
                            fail(f"handle {h}: table row does not point at its slot")
                        if not 0 < hsize[h] <= cls.cap or self._by_len[hsize[h]] is not cls:
                            fail(f"handle {h}: object of size {hsize[h]} in the wrong class")
                        owned.add(h)
                pages += len(cls.zspages) * cls.pages
                for z in cls.spare:
                    if z.inuse or any(z.owners) or z.cls is not cls:
                        fail(f"spare zspage {z.serial} is not empty")
                    spare += cls.pages
            if pages != self._pages:
                fail(f"pages_allocated {self._pages} != {pages} counted")
            if spare != self._spare_pages or spare > ZSPAGE_CACHE_PAGES:
                fail(f"spare pages {self._spare_pages} != {spare} counted")
            live = {h for h in range(1, len(hz)) if hz[h] is not None}
            if owned != live:
                fail("handle table and zspage owners disagree")
            hfree = set(self._hfree)
            if (
                len(hfree) != len(self._hfree)
                or hfree | live != set(range(1, len(hz)))
                or (hfree & live)
            ):
                fail("handle free-list is not exactly the unused handle numbers")
        finally:
            lock.release()

    # ---- lifetime ----------------------------------------------------------------------------

    def destroy(self) -> None:
        """``zs_destroy_pool``: release all memory; any further use raises. Idempotent."""
        lock = self._lock
        lock.acquire()
        try:
            self._dead = True
            self._hz = [None]
            self._hoff = [0]
            self._hslot = [0]
            self._hsize = [0]
            self._hfree = []
            for cls in self._classes:
                cls.heads = [None] * (ZS_INUSE_RATIO_99 + 1)
                cls.mask = 0
                cls.zspages.clear()
                cls.spare.clear()
            self._pages = 0
            self._spare_pages = 0
        finally:
            lock.release()

    @property
    def destroyed(self) -> bool:
        """True once :meth:`destroy` has run."""
        return self._dead

    def _dead_error(self) -> InvalidParameter:
        return InvalidParameter(f"zsmalloc pool {self.name!r} has been destroyed")

    def _bad_handle(self, handle: object) -> InvalidParameter:
        if self._dead:
            return self._dead_error()
        return InvalidParameter(
            f"zsmalloc pool {self.name!r}: {handle!r} is not a live handle (never allocated "
            "or already freed)"
        )


# --------------------------------------------------------------------------------------------
# The pool everyone gets: the C implementation
# --------------------------------------------------------------------------------------------


class _CompactionFlag:
    """A C pool's ``compaction_in_progress`` flag as a lock-like object (``ZsPool._compact_lock``
    mirrors :class:`PyZsPool`'s lock): holding it makes :meth:`ZsPool.compact` return 0."""

    __slots__ = ("_pool",)

    def __init__(self, pool: _native.ZsPool) -> None:
        self._pool = pool

    def acquire(self, blocking: bool = True) -> bool:
        while not self._pool._compaction_begin():
            if not blocking:
                return False
            time.sleep(0.001)
        return True

    def release(self) -> None:
        self._pool._compaction_end()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class ZsPool(_native.ZsPool):
    """One zsmalloc pool (``struct zs_pool``): what zswap allocates every compressed page from.

    ``ZsPool(name, chain_size=8, *, max_pages=None)``. Implemented in C
    (``src/pyzswap/csrc/zsmalloc.c``); every method behaves exactly as :class:`PyZsPool`'s,
    the reference implementation, and this subclass adds nothing on the hot paths
    (``malloc_write``, ``free``, ``read_into``, ``obj_view``, ``pages_allocated`` are the C
    methods themselves). It can be subclassed like any class (see ``faults.FaultyZsPool``).

    Handles are positive ints (0 is never a handle); freed handle numbers are handed out again
    by later mallocs, last freed first, as the kernel's handle slab reuses its objects. Using a
    handle after freeing it is therefore a bug the pool cannot always detect: it raises
    :class:`InvalidParameter` while the number is unused and silently refers to the new object
    once the number is reused.

    Memory of freed zspages (up to :data:`ZSPAGE_CACHE_PAGES` pages per pool) is kept for the
    next zspage of the same class, playing the part of the page allocator's free lists: it is
    *not* counted in :attr:`pages_allocated`, and, like a kernel page, a reused zspage is not
    zeroed (a fresh one is).

    All methods are thread-safe (one mutex per pool, see the module docstring); the GIL is
    released while a call waits for the mutex and during compaction. ``max_pages`` (not a
    kernel knob) makes zspage allocation fail with :class:`AllocFail` once the pool would exceed
    that many pages, to exercise callers' -ENOMEM paths deterministically. Data arguments take
    any C-contiguous buffer (or a 1-D strided byte view).
    """

    __slots__ = ()

    @property
    def _compact_lock(self) -> _CompactionFlag:
        """Tests: hold it to make :meth:`compact` behave as if another compaction ran."""
        return _CompactionFlag(self)
