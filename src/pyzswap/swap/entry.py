"""Swap entries, the swap map's values, the swap header, the errors and I/O fault injection of
:mod:`pyzswap.swap`."""


from __future__ import annotations

import errno as _errno
import os
import struct
import threading
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, NamedTuple

from ..errors import InvalidParameter, ZswapError
from ..folio import MAX_FOLIO_PAGES, PAGE_SIZE

if TYPE_CHECKING:
    pass

__all__ = [
    "MAX_SWAPFILES",
    "SWAPFILE_CLUSTER",
    "SWAP_HAS_CACHE",
    "SWAP_HEADER_MAGIC",
    "SWAP_MAP_BAD",
    "SWAP_MAP_MAX",
    "SWP_OFFSET_MASK",
    "SWP_TYPE_SHIFT",
    "IOFaults",
    "SwapBusy",
    "SwapHeader",
    "SwapIOError",
    "SwapSlotFree",
    "swp_entry",
    "swp_offset",
    "swp_type",
]

# ---------------------------------------------------------------------------- swap entries ---
#: Bits of a swap type (``MAX_SWAPFILES_SHIFT``) and the number of types.
MAX_SWAPFILES_SHIFT: Final = 5
MAX_SWAPFILES: Final = 1 << MAX_SWAPFILES_SHIFT
#: ``BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT`` on 64-bit: the offset occupies bits 0..57.
SWP_TYPE_SHIFT: Final = 58
SWP_OFFSET_MASK: Final = (1 << SWP_TYPE_SHIFT) - 1


def swp_entry(type: int, offset: int) -> int:
    """``swp_entry(type, offset)``: the packed ``swp_entry_t`` value."""
    return (type << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK)


def swp_type(val: int) -> int:
    """``swp_type(entry)``."""
    return val >> SWP_TYPE_SHIFT


def swp_offset(val: int) -> int:
    """``swp_offset(entry)``."""
    return val & SWP_OFFSET_MASK


# ---------------------------------------------------------------------------- swap map -------
#: Largest reference count kept in the map byte (the kernel continues in extra pages beyond it).
SWAP_MAP_MAX: Final = 0x3E
#: A slot that can never be used (the header, and the padding after the last page).
SWAP_MAP_BAD: Final = 0x3F
#: The slot has a folio in the swap cache.
SWAP_HAS_CACHE: Final = 0x40
_COUNT_MASK: Final = 0x3F
#: Slots per cluster (``SWAPFILE_CLUSTER`` = ``HPAGE_PMD_NR`` on x86-64).
SWAPFILE_CLUSTER: Final = 512
_CLUSTER_SHIFT: Final = 9
_MAX_ORDER: Final = 9  # 512 pages: a PMD folio

#: ``union swap_header``: the magic ends the first page.
SWAP_HEADER_MAGIC: Final = b"SWAPSPACE2"
_HDR_INFO: Final = struct.Struct("<III16s16s")  # version, last_page, nr_badpages, uuid, label
_HDR_INFO_OFFSET: Final = 1024
_ZERO_VIEW: Final = memoryview(bytes(MAX_FOLIO_PAGES * PAGE_SIZE))


# ---------------------------------------------------------------------------- errors ---------
class SwapIOError(OSError, ZswapError):  # type: ignore[misc]  # errno: OSError's
    """A swap device read or write failed; ``errno`` is the OS (or injected) error.

    An ``OSError`` (so ``except OSError`` and ``e.errno`` work as for any I/O error) and a
    :class:`~pyzswap.errors.ZswapError`. ``op`` is ``"write"`` or ``"read"``; ``swp_type``,
    ``offset`` and ``nr`` say which slots.
    """

    op: str
    swp_type: int
    offset: int
    nr: int

    def __init__(self, err: int, op: str, swp_type: int, offset: int, nr: int) -> None:
        super().__init__(err, f"swap {op} of type {swp_type} slots {offset}..{offset + nr - 1} "
                              f"failed: {os.strerror(err)}")
        self.op = op
        self.swp_type = swp_type
        self.offset = offset
        self.nr = nr


class SwapBusy(ZswapError):
    """``swapoff`` of a device that still has slots in use or folios in its swap cache."""

    errno = _errno.EBUSY


class SwapSlotFree(ZswapError):
    """The slot is not allocated (the kernel's ``swapcache_prepare`` returning -ENOENT): it was
    freed meanwhile, e.g. a writeback racing with an invalidation."""

    errno = _errno.ENOENT


# ---------------------------------------------------------------------------- faults ---------
class IOFaults:
    """Deterministic fault injection for one :class:`SwapDevice` (``device.faults``).

    ``fail_next_writes(n, err)`` makes the next ``n`` write operations fail (a folio write is one
    operation); ``fail_writes_at(offsets, err, times)`` makes every write touching one of those
    slots fail, ``times`` times per slot or until :meth:`clear` (``times=None``). The same for
    reads. "Next N" faults are consumed first, then offset faults. ``injected`` counts the
    failures produced, per operation. Nothing here is random.
    """

    __slots__ = ("_at_err", "_at_left", "_lock", "_next", "armed", "injected")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, deque[int]] = {"write": deque(), "read": deque()}
        self._at_err: dict[str, dict[int, int]] = {"write": {}, "read": {}}
        self._at_left: dict[str, dict[int, int | None]] = {"write": {}, "read": {}}
        #: fast check for the I/O path: any fault configured at all
        self.armed = False
        self.injected = {"write": 0, "read": 0}

    @staticmethod
    def _check_errno(err: int) -> int:
        if type(err) is not int or err <= 0:
            raise InvalidParameter(f"errno must be a positive integer, got {err!r}")
        return err

    def fail_next_writes(self, n: int = 1, err: int = _errno.ENOSPC) -> None:
        """The next ``n`` writes fail with ``err`` (default ENOSPC)."""
        self._add_next("write", n, err)

    def fail_next_reads(self, n: int = 1, err: int = _errno.EIO) -> None:
        """The next ``n`` reads fail with ``err`` (default EIO)."""
        self._add_next("read", n, err)

    def fail_writes_at(self, offsets: Iterable[int], err: int = _errno.EIO,
                       times: int | None = None) -> None:
        """Writes touching any of ``offsets`` fail with ``err`` (``times`` per slot, or always)."""
        self._add_at("write", offsets, err, times)

    def fail_reads_at(self, offsets: Iterable[int], err: int = _errno.EIO,
                      times: int | None = None) -> None:
        """Reads touching any of ``offsets`` fail with ``err`` (``times`` per slot, or always)."""
        self._add_at("read", offsets, err, times)

    def clear(self) -> None:
        """Remove every configured fault (the ``injected`` counts stay)."""
        with self._lock:
            for op in ("write", "read"):
                self._next[op].clear()
                self._at_err[op].clear()
                self._at_left[op].clear()
            self.armed = False

    def _add_next(self, op: str, n: int, err: int) -> None:
        if type(n) is not int or n < 0:
            raise InvalidParameter(f"n must be a non-negative integer, got {n!r}")
        err = self._check_errno(err)
        with self._lock:
            self._next[op].extend([err] * n)
            self._rearm()

    def _add_at(self, op: str, offsets: Iterable[int], err: int, times: int | None) -> None:
        err = self._check_errno(err)
        if times is not None and (type(times) is not int or times <= 0):
            raise InvalidParameter(f"times must be a positive integer or None, got {times!r}")
        offs = list(offsets)
        if any(type(o) is not int or o < 0 for o in offs):
            raise InvalidParameter("offsets must be non-negative integers")
        with self._lock:
            for off in offs:
                self._at_err[op][off] = err
                self._at_left[op][off] = times
            self._rearm()

    def _rearm(self) -> None:
        self.armed = any(self._next[op] or self._at_err[op] for op in ("write", "read"))

    def check(self, op: str, offset: int, nr: int) -> int:
        """Consume and return the errno an ``op`` of slots ``offset..offset+nr-1`` must fail
        with, or 0. Called by the device before it touches the file."""
        with self._lock:
            pending = self._next[op]
            if pending:
                err = pending.popleft()
            else:
                errs = self._at_err[op]
                if not errs:
                    return 0
                hit = next((o for o in range(offset, offset + nr) if o in errs), None)
                if hit is None:
                    return 0
                err = errs[hit]
                left = self._at_left[op][hit]
                if left is not None:
                    if left <= 1:
                        del errs[hit], self._at_left[op][hit]
                    else:
                        self._at_left[op][hit] = left - 1
            self.injected[op] += 1
            self._rearm()
            return err


# ---------------------------------------------------------------------------- header ---------
class SwapHeader(NamedTuple):
    """The fields of a swap file's first page (``union swap_header``, ``info`` part)."""

    version: int
    last_page: int
    nr_badpages: int
    uuid: bytes
    label: bytes


def _check_nr(nr: object, what: str = "nr") -> int:
    if type(nr) is not int or not 1 <= nr <= MAX_FOLIO_PAGES or nr & (nr - 1):
        raise InvalidParameter(f"{what} must be a power of two 1..{MAX_FOLIO_PAGES}, got {nr!r}")
    return nr
