"""One swap device on a real file (``struct swap_info_struct``): see :mod:`pyzswap.swap`."""


from __future__ import annotations

import contextlib
import errno as _errno
import os
import tempfile
import threading
import uuid as _uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from ..errors import InvalidParameter
from ..folio import MAX_FOLIO_PAGES, PAGE_SHIFT, PAGE_SIZE
from .entry import (
    _CLUSTER_SHIFT,
    _COUNT_MASK,
    _HDR_INFO,
    _HDR_INFO_OFFSET,
    _MAX_ORDER,
    _ZERO_VIEW,
    MAX_SWAPFILES,
    SWAP_HAS_CACHE,
    SWAP_HEADER_MAGIC,
    SWAP_MAP_BAD,
    SWAP_MAP_MAX,
    SWAPFILE_CLUSTER,
    IOFaults,
    SwapHeader,
    SwapIOError,
    SwapSlotFree,
    _check_nr,
)

if TYPE_CHECKING:
    from .._types import BytesLike

#: Up to this many free slots, a cluster's order-0 candidates are found byte by byte.
_FEW_FREE: Final = 32

# ---------------------------------------------------------------------------- device ---------
class SwapDevice:
    """One swap file with its swap map, clusters, zero bitmap, swap cache and counters.

    Create one with :meth:`create`; ``nr_pages`` counts the header page, so offsets
    ``1..nr_pages-1`` are usable (the kernel's ``maxpages``; zswap's trees are sized by
    ``nr_pages``). ``faults`` is this device's :class:`IOFaults`; ``on_free`` the slot-free hook.
    """

    def __init__(self, path: str, fd: int, nr_pages: int, *, swp_type: int = 0,
                 remove_on_close: bool = False) -> None:
        """Wrap an open swap file; use :meth:`create` rather than calling this directly."""
        self.path = path
        self.type = swp_type
        self.nr_pages = nr_pages
        self.remove_on_close = remove_on_close
        self.faults = IOFaults()
        #: called as ``on_free(type, offset, nr)`` under the device lock when slots become free
        self.on_free: Callable[[int, int, int], None] | None = None
        self._fd = fd
        self._lock = threading.Lock()
        nclusters = -(-nr_pages >> _CLUSTER_SHIFT)
        padded = nclusters << _CLUSTER_SHIFT
        self._map: npt.NDArray[np.uint8] = np.zeros(padded, dtype=np.uint8)
        self._map[0] = SWAP_MAP_BAD
        self._map[nr_pages:] = SWAP_MAP_BAD
        self._zero: npt.NDArray[np.bool_] = np.zeros(padded, dtype=np.bool_)
        self._written: npt.NDArray[np.bool_] = np.zeros(padded, dtype=np.bool_)
        # Scalar access through memoryviews is several times cheaper than numpy indexing.
        self._mapv = self._map.data
        self._zerov = self._zero.data
        self._writtenv = self._written.data
        self._usable = nr_pages - 1
        self._inuse = 0
        self._cache: dict[int, BytesLike] = {}
        # Clusters: used slots (bad ones included), order (-1: wholly free), free list, the
        # per-order current cluster with its remaining candidate offsets, per-order partials.
        self._ci_count = [0] * nclusters
        self._ci_order = [-1] * nclusters
        self._in_free = [False] * nclusters
        self._free_clusters: deque[int] = deque()
        self._nonfull: list[OrderedDict[int, None]] = [OrderedDict()
                                                       for _ in range(_MAX_ORDER + 1)]
        self._cur = [-1] * (_MAX_ORDER + 1)
        self._cand: list[list[int]] = [[] for _ in range(_MAX_ORDER + 1)]
        for ci in range(nclusters):
            base = ci << _CLUSTER_SHIFT
            bad = int(np.count_nonzero(self._map[base:base + SWAPFILE_CLUSTER]))
            self._ci_count[ci] = bad
            if bad == 0:
                self._free_clusters.append(ci)
                self._in_free[ci] = True
            elif bad < SWAPFILE_CLUSTER:  # the header's cluster, the tail: order-0 partials
                self._ci_order[ci] = 0
                self._nonfull[0][ci] = None
            else:
                self._ci_order[ci] = 0
        # Counters (vmstat names where the kernel has one).
        self.pswpout = 0  # pages written to the device
        self.pswpin = 0  # pages read from the device
        self.swpout_zero = 0  # pages recorded in the zero bitmap
        self.swpin_zero = 0  # pages read back from the zero bitmap
        self.write_errors = 0
        self.read_errors = 0

    # ------------------------------------------------------------------ create / close ------
    @classmethod
    def create(cls, path: str | os.PathLike[str] | None, nr_pages: object, *,
               swp_type: object = 0, preallocate: bool = False, exist_ok: bool = False,
               remove_on_close: bool | None = None, directory: str | None = None,
               label: bytes = b"pyzswap") -> SwapDevice:
        """Create a swap file of ``nr_pages`` pages (header included) and open it.

        ``path=None`` makes a temporary file (in ``directory``) that is removed on
        :meth:`close`. An existing file is refused unless ``exist_ok`` (then it is overwritten,
        as ``mkswap`` does). ``preallocate`` allocates the blocks (``posix_fallocate``: no
        holes, as the kernel's ``swapon`` demands); otherwise the file is sparse.
        """
        if type(nr_pages) is not int or not 2 <= nr_pages <= 1 << 32:
            raise InvalidParameter(f"nr_pages must be an integer 2..2**32 (header included), "
                                   f"got {nr_pages!r}")
        if type(swp_type) is not int or not 0 <= swp_type < MAX_SWAPFILES:
            raise InvalidParameter(f"swap type must be 0..{MAX_SWAPFILES - 1}, got {swp_type!r}")
        if path is None:
            fd, name = tempfile.mkstemp(prefix="pyzswap-swap-", suffix=".swap", dir=directory)
            remove = True if remove_on_close is None else remove_on_close
        else:
            name = os.fspath(path)
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            flags |= os.O_TRUNC if exist_ok else os.O_EXCL
            fd = os.open(name, flags, 0o600)
            remove = bool(remove_on_close)
        try:
            size = nr_pages * PAGE_SIZE
            if preallocate:
                os.posix_fallocate(fd, 0, size)
            else:
                os.ftruncate(fd, size)
            header = bytearray(PAGE_SIZE)
            _HDR_INFO.pack_into(header, _HDR_INFO_OFFSET, 1, nr_pages - 1, 0,
                                _uuid.uuid4().bytes, label[:16])
            header[PAGE_SIZE - len(SWAP_HEADER_MAGIC):] = SWAP_HEADER_MAGIC
            os.pwrite(fd, header, 0)
        except BaseException:
            os.close(fd)
            if remove or path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(name)
            raise
        return cls(name, fd, nr_pages, swp_type=swp_type, remove_on_close=remove)

    @staticmethod
    def read_header(path: str | os.PathLike[str]) -> SwapHeader:
        """Parse the header page of a swap file; :class:`InvalidParameter` if it is not one."""
        with open(path, "rb") as f:
            page = f.read(PAGE_SIZE)
        if len(page) < PAGE_SIZE or page[PAGE_SIZE - len(SWAP_HEADER_MAGIC):] != \
                SWAP_HEADER_MAGIC:
            raise InvalidParameter(f"{os.fspath(path)}: no SWAPSPACE2 signature")
        version, last_page, nr_bad, uid, label = _HDR_INFO.unpack_from(page, _HDR_INFO_OFFSET)
        return SwapHeader(version, last_page, nr_bad, uid, label.rstrip(b"\0"))

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def _folio_io(self, buf: BytesLike, offset: int, op: str) -> tuple[memoryview, int]:
        """The byte view of a read or write buffer of 1..MAX_FOLIO_PAGES whole pages, and its
        page count, with the slots ``offset..offset+nr`` checked to lie on the device."""
        mv = buf if type(buf) is memoryview else memoryview(buf)
        if mv.itemsize != 1 or mv.ndim != 1:
            mv = mv.cast("B")
        nbytes = mv.nbytes
        nr = nbytes >> PAGE_SHIFT
        if nbytes & (PAGE_SIZE - 1) or not 0 < nr <= MAX_FOLIO_PAGES:
            raise InvalidParameter(f"a swap {op} is 1..{MAX_FOLIO_PAGES} whole pages, got "
                                   f"{nbytes} bytes")
        self._check_range(offset, nr)
        return mv, nr

    def close(self) -> None:
        """Close the file (and remove it if ``remove_on_close``). Idempotent."""
        self._lock.acquire()
        try:
            fd, self._fd = self._fd, -1
        finally:
            self._lock.release()
        if fd < 0:
            return
        os.close(fd)
        if self.remove_on_close:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> SwapDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"SwapDevice(type={self.type}, path={self.path!r}, nr_pages={self.nr_pages}, "
                f"inuse={self._inuse}{', closed' if self.closed else ''})")

    # ------------------------------------------------------------------ queries -------------
    @property
    def swap_map(self) -> npt.NDArray[np.uint8]:
        """Read-only view of the swap map (count | ``SWAP_HAS_CACHE``; header = BAD)."""
        view = self._map[:self.nr_pages]
        view.flags.writeable = False
        return view

    @property
    def zeromap(self) -> npt.NDArray[np.bool_]:
        """Read-only view of the zero bitmap."""
        view = self._zero[:self.nr_pages]
        view.flags.writeable = False
        return view

    @property
    def inuse_pages(self) -> int:
        """Allocated slots (``si->inuse_pages``)."""
        return self._inuse

    @property
    def free_pages(self) -> int:
        return self._usable - self._inuse

    def swap_count(self, offset: int) -> int:
        """References to the slot (``swap_count(si->swap_map[offset])``), without the cache bit."""
        self._check_range(offset, 1)
        return self._mapv[offset] & _COUNT_MASK

    def stats(self) -> dict[str, int]:
        """Counters and occupancy of the device."""
        with self._lock:
            return {
                "nr_pages": self.nr_pages,
                "inuse_pages": self._inuse,
                "free_pages": self._usable - self._inuse,
                "zero_pages": int(np.count_nonzero(self._zero)),
                "swap_cache_pages": len(self._cache),
                "pswpout": self.pswpout,
                "pswpin": self.pswpin,
                "swpout_zero": self.swpout_zero,
                "swpin_zero": self.swpin_zero,
                "write_errors": self.write_errors,
                "read_errors": self.read_errors,
            }

    def _check_range(self, offset: object, nr: int) -> None:
        if type(offset) is not int or offset < 1 or offset + nr > self.nr_pages:
            raise InvalidParameter(
                f"swap offset {offset!r}+{nr} is outside type {self.type} "
                f"(1..{self.nr_pages - 1}; slot 0 is the header)")

    def _check_open(self) -> int:
        fd = self._fd
        if fd < 0:
            raise InvalidParameter(f"swap device type {self.type} is closed")
        return fd

    # ------------------------------------------------------------------ allocation ----------
    def alloc_slots(self, nr: int = 1) -> int | None:
        """Allocate ``nr`` (a power of two up to 512) naturally aligned contiguous slots for one
        folio (``folio_alloc_swap``); their counts start at 1. Returns the first offset, or
        None when no such run is free (the caller splits the folio or fails the swap-out)."""
        order = 0 if nr == 1 and type(nr) is int else _check_nr(nr).bit_length() - 1
        self._check_open()
        self._lock.acquire()
        try:
            if self._inuse + nr > self._usable:
                return None
            return self._alloc_locked(order)
        finally:
            self._lock.release()

    def get_swap_slots(self, n: int) -> list[int]:
        """Allocate up to ``n`` single slots (``get_swap_pages`` for order 0), in allocation
        order; fewer only when the device is full."""
        if type(n) is not int or n < 0:
            raise InvalidParameter(f"n must be a non-negative integer, got {n!r}")
        self._check_open()
        out: list[int] = []
        self._lock.acquire()
        try:
            for _ in range(min(n, self._usable - self._inuse)):
                off = self._alloc_locked(0)
                if off is None:
                    break
                out.append(off)
        finally:
            self._lock.release()
        return out

    def _alloc_locked(self, order: int) -> int | None:
        nr = 1 << order
        mapv = self._mapv
        while True:
            cand = self._cand[order]
            while cand:
                off = cand.pop()
                if order == 0:
                    if mapv[off]:
                        continue
                    mapv[off] = 1
                else:
                    run = self._map[off:off + nr]
                    if run.any():
                        continue
                    run[:] = 1
                self._ci_count[off >> _CLUSTER_SHIFT] += nr
                self._inuse += nr
                return off
            ci = self._cur[order]
            if ci >= 0:  # exhausted: back on the partial list if frees left room in it
                self._cur[order] = -1
                if 0 < self._ci_count[ci] < SWAPFILE_CLUSTER and self._ci_order[ci] == order:
                    self._nonfull[order][ci] = None
            ci = self._next_cluster(order)
            if ci < 0:
                break
            cand = self._candidates(ci, order)
            if cand:  # else fragmented for this order: dropped until a slot in it is freed
                self._cur[order] = ci
                self._cand[order] = cand
        if order == 0:  # steal any free slot (the kernel's fragment / other-order fallback)
            free = np.flatnonzero(self._map == 0)
            if free.size:
                off = int(free[0])
                mapv[off] = 1
                self._ci_count[off >> _CLUSTER_SHIFT] += 1
                self._inuse += 1
                return off
        return None

    def _next_cluster(self, order: int) -> int:
        nonfull = self._nonfull[order]
        if nonfull:
            return nonfull.popitem(last=False)[0]
        free = self._free_clusters
        while free:
            ci = free.popleft()
            self._in_free[ci] = False
            if self._ci_order[ci] == -1 and self._ci_count[ci] == 0:
                self._ci_order[ci] = order
                return ci
        return -1

    def _candidates(self, ci: int, order: int) -> list[int]:
        """Free aligned runs of the cluster, as offsets in descending order (pop() = lowest)."""
        base = ci << _CLUSTER_SHIFT
        seg = self._map[base:base + SWAPFILE_CLUSTER]
        if order == 0:
            # A partial cluster usually has few free slots: find them in its bytes (one
            # search each) rather than with four array operations.
            raw = seg.tobytes()
            if raw.count(0) <= _FEW_FREE:
                few: list[int] = []
                end = SWAPFILE_CLUSTER
                while (i := raw.rfind(b"\0", 0, end)) >= 0:
                    few.append(base + i)
                    end = i
                return few
            idx = np.flatnonzero(seg == 0)
        else:
            idx = np.flatnonzero(~seg.reshape(-1, 1 << order).any(axis=1)) << order
        out: list[int] = (idx[::-1] + base).tolist()
        return out

    def swap_duplicate(self, offset: int, nr: int = 1) -> None:
        """Add one reference to each slot (``swap_duplicate``: another PTE maps the entry)."""
        self._check_range(offset, nr)
        self._lock.acquire()
        try:
            seg = self._map[offset:offset + nr]
            counts = seg & _COUNT_MASK
            if not counts.all() or (counts >= SWAP_MAP_MAX).any():
                raise InvalidParameter(f"swap_duplicate of {self.type}:{offset}+{nr}: a slot is "
                                       f"free or at SWAP_MAP_MAX")
            seg += 1
        finally:
            self._lock.release()

    def free_slot(self, offset: int) -> None:
        """Drop one reference to the slot (``swap_free``); at zero the slot is freed (if it is
        in the swap cache, when the folio leaves it). A slot without references is refused."""
        self._check_range(offset, 1)
        mapv = self._mapv
        self._lock.acquire()
        try:
            val = mapv[offset]
            if not val & _COUNT_MASK or val == SWAP_MAP_BAD:
                raise InvalidParameter(f"swap_free: unused swap offset {self.type}:{offset}")
            val -= 1
            mapv[offset] = val
            if not val:
                self._release_locked(offset, 1)
        finally:
            self._lock.release()

    def free_slots(self, offset: int, nr: int) -> None:
        """Drop one reference to each of ``nr`` consecutive slots (``swap_free_nr``); all or
        nothing."""
        if nr == 1:
            self.free_slot(offset)
            return
        if type(nr) is not int or nr < 1:
            raise InvalidParameter(f"nr must be a positive integer, got {nr!r}")
        self._check_range(offset, nr)
        self._lock.acquire()
        try:
            seg = self._map[offset:offset + nr]
            counts = seg & _COUNT_MASK
            if not counts.all() or (counts == SWAP_MAP_BAD).any():
                raise InvalidParameter(f"swap_free: unused swap offset in {self.type}:"
                                       f"{offset}+{nr}")
            seg -= 1
            self._release_mask_locked(offset, seg == 0)
        finally:
            self._lock.release()

    def _release_mask_locked(self, offset: int, freed: npt.NDArray[np.bool_]) -> None:
        """Release every slot ``offset + i`` with ``freed[i]``, range by range."""
        if not freed.any():
            return
        if freed.all():
            self._release_locked(offset, freed.size)
            return
        idx = np.flatnonzero(freed)
        # split into runs of consecutive offsets
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for run in np.split(idx, breaks):
            self._release_locked(offset + int(run[0]), int(run.size))

    def _release_locked(self, offset: int, nr: int) -> None:
        """Slots ``offset..offset+nr-1`` (map already 0) become free: zero and written bits,
        cluster accounting, then the ``on_free`` hook (zswap_invalidate) — all before the lock
        is dropped, so nobody can reallocate the slots first. Lock held."""
        self._inuse -= nr
        ci = offset >> _CLUSTER_SHIFT
        if nr == 1:
            self._zerov[offset] = False
            self._writtenv[offset] = False
            self._cluster_put(ci, 1)
        else:
            start, end = offset, offset + nr
            self._zero[start:end] = False
            self._written[start:end] = False
            while start < end:
                cend = min(end, (ci + 1) << _CLUSTER_SHIFT)
                self._cluster_put(ci, cend - start)
                start = cend
                ci += 1
        hook = self.on_free
        if hook is not None:
            hook(self.type, offset, nr)

    def _cluster_put(self, ci: int, n: int) -> None:
        counts = self._ci_count
        count = counts[ci] - n
        counts[ci] = count
        order = self._ci_order[ci]
        if order < 0:  # cannot happen: a cluster with used slots has an order
            order = 0
        if count == 0:  # wholly free: back to the free list
            self._nonfull[order].pop(ci, None)
            if self._cur[order] == ci:
                self._cur[order] = -1
                self._cand[order] = []
            self._ci_order[ci] = -1
            if not self._in_free[ci]:
                self._in_free[ci] = True
                self._free_clusters.append(ci)
        elif self._cur[order] != ci:
            nonfull = self._nonfull[order]
            if ci not in nonfull:
                nonfull[ci] = None

    # ------------------------------------------------------------------ zero bitmap ---------
    def zeromap_set(self, offset: int, nr: int = 1) -> None:
        """Record a whole-zero folio (``swap_zeromap_folio_set``): no I/O will happen for it."""
        self._check_range(offset, nr)
        self._lock.acquire()
        try:
            self._zero[offset:offset + nr] = True
            self._written[offset:offset + nr] = False
            self.swpout_zero += nr
        finally:
            self._lock.release()

    def zeromap_clear(self, offset: int, nr: int = 1) -> None:
        """Forget zero bits (``swap_zeromap_folio_clear``): the folio now has data."""
        self._check_range(offset, nr)
        self._lock.acquire()
        try:
            self._zero[offset:offset + nr] = False
        finally:
            self._lock.release()

    def zeromap_count(self, offset: int, nr: int = 1) -> int:
        """How many of the ``nr`` slots are recorded as zero (0 or ``nr`` for a folio that
        can be read back in one piece)."""
        self._check_range(offset, nr)
        if nr == 1:
            return 1 if self._zerov[offset] else 0
        return int(np.count_nonzero(self._zero[offset:offset + nr]))

    # ------------------------------------------------------------------ I/O -----------------
    def write_page(self, offset: int, data: BytesLike) -> None:
        """Write a folio (1..512 whole pages) to its slots starting at ``offset``
        (``__swap_writepage``). Leaves the zero bits alone:
        the swap core clears them before a data write-out (6.18 ``swap_writeout``), and a
        zswap writeback of an entry shadowed by a later zero write-out must keep reading
        zeros. On failure raises
        :class:`SwapIOError`, counts ``write_errors`` and marks the slots not written; ``data``
        is never modified."""
        mv, nr = self._folio_io(data, offset, "write")
        fd = self._check_open()
        if not self._allocated(offset, nr):
            raise InvalidParameter(f"swap write to unallocated slots {self.type}:{offset}+{nr}")
        try:
            self._transfer("write", fd, mv, offset, nr)
        except OSError as e:
            self._lock.acquire()
            try:
                self.write_errors += 1
                self._written[offset:offset + nr] = False
            finally:
                self._lock.release()
            raise SwapIOError(e.errno or _errno.EIO, "write", self.type, offset, nr) from e
        self._lock.acquire()
        try:
            self._written[offset:offset + nr] = True
            self.pswpout += nr
        finally:
            self._lock.release()

    def read_page(self, offset: int, out: BytesLike) -> None:
        """Read the folio at ``offset`` into ``out`` (1..512 whole writable pages), straight
        into the buffer (``swap_read_folio``). Slots recorded in the zero bitmap are filled with
        zeros without I/O. A folio whose slots are partly zero, or that holds no data (never
        written, or its write failed), is refused with :class:`InvalidParameter`; an I/O error
        raises :class:`SwapIOError` and counts ``read_errors``."""
        mv = out if type(out) is memoryview else memoryview(out)
        if mv.readonly:
            raise InvalidParameter("read_page needs a writable buffer")
        mv, nr = self._folio_io(mv, offset, "read")
        fd = self._check_open()
        zeros = self.zeromap_count(offset, nr)
        if zeros:
            if zeros != nr:
                raise InvalidParameter(f"swap read of {self.type}:{offset}+{nr}: only {zeros} "
                                       "pages are in the zero bitmap (a mixed folio)")
            mv[:] = _ZERO_VIEW[:nr << PAGE_SHIFT]
            self._lock.acquire()
            self.swpin_zero += nr
            self._lock.release()
            return
        written = self._written[offset] if nr == 1 else self._written[offset:offset + nr].all()
        if not written:
            raise InvalidParameter(f"swap read of {self.type}:{offset}+{nr}: the slots hold no "
                                   "data (never written, or the write failed)")
        try:
            self._transfer("read", fd, mv, offset, nr)
        except OSError as e:
            self._lock.acquire()
            self.read_errors += 1
            self._lock.release()
            raise SwapIOError(e.errno or _errno.EIO, "read", self.type, offset, nr) from e
        self._lock.acquire()
        self.pswpin += nr
        self._lock.release()

    def _transfer(self, op: str, fd: int, mv: memoryview, offset: int, nr: int) -> None:
        """The whole I/O of ``nr`` pages at slot ``offset`` (``op`` "read" or "write"), an
        injected fault first; a short transfer continues, a zero one is EIO."""
        err = self.faults.check(op, offset, nr) if self.faults.armed else 0
        if err:
            raise OSError(err, os.strerror(err))
        nbytes, pos, done = nr << PAGE_SHIFT, offset << PAGE_SHIFT, 0
        while done < nbytes:
            if op == "write":
                n = os.pwrite(fd, mv[done:], pos + done)
            else:
                n = os.preadv(fd, [mv[done:]], pos + done)
            if n <= 0:
                raise OSError(_errno.EIO, f"short {op}")
            done += n

    def _allocated(self, offset: int, nr: int) -> bool:
        if nr == 1:
            val = self._mapv[offset]
            return bool(val) and val != SWAP_MAP_BAD
        seg = self._map[offset:offset + nr]
        return bool(seg.all()) and not (seg == SWAP_MAP_BAD).any()

    # ------------------------------------------------------------------ swap cache ----------
    def add_to_swap_cache(self, offset: int, folio: BytesLike, nr: int = 1) -> bool:
        """Put ``folio`` in the swap cache for slots ``offset..offset+nr-1`` and set their
        ``SWAP_HAS_CACHE`` bit (``swapcache_prepare`` + ``add_to_swap_cache``); all or nothing.

        False if a slot already has a swap-cache folio (``-EEXIST``: someone else is swapping
        it in or writing it back). :class:`SwapSlotFree` if a slot is not allocated (the kernel's
        ``-ENOENT``)."""
        self._check_range(offset, nr)
        mapv = self._mapv
        self._lock.acquire()
        try:
            if nr == 1:
                val = mapv[offset]
                if not val & _COUNT_MASK or val == SWAP_MAP_BAD:
                    if val & SWAP_HAS_CACHE:
                        return False
                    raise SwapSlotFree(f"swap slot {self.type}:{offset} is not allocated")
                if val & SWAP_HAS_CACHE:
                    return False
                mapv[offset] = val | SWAP_HAS_CACHE
                self._cache[offset] = folio
                return True
            seg = self._map[offset:offset + nr]
            if (seg & SWAP_HAS_CACHE).any():
                return False
            if not (seg & _COUNT_MASK).all() or (seg == SWAP_MAP_BAD).any():
                raise SwapSlotFree(f"swap slots {self.type}:{offset}+{nr} are not all allocated")
            seg |= SWAP_HAS_CACHE
            cache = self._cache
            for off in range(offset, offset + nr):
                cache[off] = folio
            return True
        finally:
            self._lock.release()

    def lookup_swap_cache(self, offset: int) -> BytesLike | None:
        """The swap-cache folio of a slot, or None (lock-free read)."""
        return self._cache.get(offset)

    def delete_from_swap_cache(self, offset: int, nr: int = 1) -> BytesLike | None:
        """Take the folio out of the swap cache for ``nr`` slots and clear ``SWAP_HAS_CACHE``
        (``delete_from_swap_cache`` + ``put_swap_folio``); slots without references left are
        freed now. Returns the folio (None if the first slot had none)."""
        self._check_range(offset, nr)
        mapv = self._mapv
        cache = self._cache
        self._lock.acquire()
        try:
            folio = cache.get(offset)
            if nr == 1:
                if folio is None:
                    return None
                del cache[offset]
                val = mapv[offset] & ~SWAP_HAS_CACHE
                mapv[offset] = val
                if not val:
                    self._release_locked(offset, 1)
                return folio
            present = np.fromiter((off in cache for off in range(offset, offset + nr)),
                                  dtype=np.bool_, count=nr)
            if not present.any():
                return None
            for off in range(offset, offset + nr):
                cache.pop(off, None)
            seg = self._map[offset:offset + nr]
            seg[present] &= ~SWAP_HAS_CACHE & 0xFF
            self._release_mask_locked(offset, present & (seg == 0))
            return folio
        finally:
            self._lock.release()
