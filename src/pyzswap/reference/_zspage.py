"""The size-class and zspage structures of :class:`~pyzswap.reference.zsmalloc.PyZsPool`
(``struct size_class``, ``struct zspage`` and their fullness lists), in Python."""

from __future__ import annotations

from functools import cache

from ..errors import InvalidParameter
from ..zsmalloc import (
    PAGE_SIZE,
    ZS_HANDLE_SIZE,
    ZS_INUSE_RATIO_0,
    ZS_INUSE_RATIO_99,
    ZS_INUSE_RATIO_100,
    ZS_MAX_ALLOC_SIZE,
    SizeClassInfo,
    _build_table,
    class_index_for,
    fullness_group,
)

__all__ = ["_SizeClass", "_ZsPage", "_byte_view", "_class_tables", "_len_to_index", "_link",
           "_unlink"]

_FULL = ZS_INUSE_RATIO_100


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


# --------------------------------------------------------------------------------------------
# The pool
# --------------------------------------------------------------------------------------------
