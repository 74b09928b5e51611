"""zsmalloc's Python twin: :class:`PyZsPool`, the readable reference implementation.

:class:`pyzswap.zsmalloc.ZsPool` (C, ``src/pyzswap/csrc/zsmalloc.c``) is the pool pyzswap uses;
this class is the specification it is tested against, call for call (tests/test_zsmalloc.py
runs every test on both; tests/test_zsmalloc_c.py compares them step by step). The size
classes, constants and fullness groups it shares with the C pool are in
:mod:`pyzswap.zsmalloc`. Imported by the tests only.
"""

from __future__ import annotations

import threading

from ..errors import AllocFail, InvalidParameter
from ..zsmalloc import (
    DEFAULT_CHAIN_SIZE,
    NR_FULLNESS_GROUPS,
    ZS_INUSE_RATIO_0,
    ZS_INUSE_RATIO_10,
    ZS_INUSE_RATIO_99,
    ZS_INUSE_RATIO_100,
    ZS_SIZE_CLASSES,
    ZSPAGE_CACHE_PAGES,
    BytesLike,
    ClassStats,
    _check_chain,
    _check_malloc_size,
    huge_class_size,
    size_class_table,
)
from ._zspage import (
    _byte_view,
    _len_to_index,
    _link,
    _SizeClass,
    _unlink,
    _ZsPage,
)

__all__ = ["PyZsPool"]

_FULL = ZS_INUSE_RATIO_100
_ISOLATED = -1  # group of a zspage taken off its list by compaction (never seen outside it)


# --------------------------------------------------------------------------------------------
# Pool internals
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

    def _object_span(self, handle: int, length: int, what: str, prep: str) -> tuple[_ZsPage, int]:
        """Under the pool lock: the zspage and offset of ``handle``'s object, which must be at
        least ``length`` bytes (else "<what> N bytes <prep> a M-byte object")."""
        z = self._zspage_of(handle)
        size = self._hsize[handle]
        if length > size:
            raise InvalidParameter(
                f"{what} {length} bytes {prep} a {size}-byte object (handle {handle})"
            )
        return z, self._hoff[handle]

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
            z, off = self._object_span(handle, length, "write of", "to")
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
            z, off = self._object_span(handle, length, "read of", "from")
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
                _unlink(cls, z)
                if g:
                    _link(cls, z, g)
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
