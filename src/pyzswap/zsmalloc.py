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
here is a thin subclass that only adds this documentation.
:class:`pyzswap.reference.zsmalloc.PyZsPool` is the readable reference implementation in
Python, imported by the tests only. Both give the same handles, the same
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

import time
from dataclasses import dataclass
from functools import cache
from typing import Final, TypeAlias, TypedDict

from . import _native
from .errors import CompressPoor, InvalidParameter

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
# The pool everyone gets: the C implementation
# --------------------------------------------------------------------------------------------


class _CompactionFlag:
    """A C pool's ``compaction_in_progress`` flag as a lock-like object (``ZsPool._compact_lock``
    mirrors the reference ``PyZsPool``'s lock): holding it makes :meth:`ZsPool.compact`
    return 0."""

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
    (``src/pyzswap/csrc/zsmalloc.c``); every method behaves exactly as the reference
    implementation's (:class:`~pyzswap.reference.zsmalloc.PyZsPool`), and this subclass adds
    nothing on the hot paths (``malloc_write``, ``free``, ``read_into``, ``obj_view``,
    ``pages_allocated`` are the C methods themselves). It can be subclassed like any class
    (see ``faults.FaultyZsPool``).

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
