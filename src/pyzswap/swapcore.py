"""The swap core around zswap: swap-out, swap-in, slot freeing and swapoff.

This is the part of Linux's ``mm/page_io.c``, ``mm/swap_state.c`` and ``mm/swapfile.c`` that
decides where a page goes and where it comes back from, on top of :mod:`pyzswap.swap`'s devices
and a :class:`~pyzswap.zswap.Zswap` in front of them (6.18 order):

* :meth:`SwapCore.swap_writeout` (``swap_writeout``): a whole-zero folio is only recorded in
  the device's zero bitmap; otherwise ``zswap_store``; if zswap refuses, the folio is written to
  the swap file, except in a memcg with ``memory.zswap.writeback`` 0, where it stays in memory
  (``AOP_WRITEPAGE_ACTIVATE``). :meth:`SwapCore.folio_alloc_swap` allocates the slots first
  (reclaim's ``add_to_swap``); :meth:`SwapCore.swap_out` does both.
* :meth:`SwapCore.swap_in` (``swap_read_folio``): zero bitmap → zeros; else ``zswap_load``; else
  read the swap file (and tell zswap's shrinker, ``zswap_folio_swapin``).
* :meth:`SwapCore.swap_free`: drop the slots; the device's free hook invalidates zswap's entries.
* :meth:`SwapCore.swapoff` (``try_to_unuse``): bring every page back to its owner, free the slots,
  then turn the device and zswap's trees off.

Swap-in takes the slot's swap-cache place for the duration, so it never overlaps zswap's
writeback of the same slot (which holds the swap cache while it writes): the same exclusion the
kernel gets from the swap cache and the folio lock. This module is the glue the memory-pressure
harness and the tests drive; zswap itself never imports it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal

from ._native import zero_filled
from .errors import InvalidParameter
from .folio import PAGE_SIZE, folio_nr_pages
from .swap import SWP_OFFSET_MASK, SWP_TYPE_SHIFT, SwapTable, swp_offset, swp_type

if TYPE_CHECKING:
    from ._types import BytesLike, WritableBuffer
    from .memcg import MemCgroup
    from .zswap import Zswap

__all__ = ["AOP_WRITEPAGE_ACTIVATE", "SwapCore", "SwapInSource", "WriteoutResult", "ZswapTimer"]

SwapInSource = Literal["zero", "zswap", "disk"]
_ZERO_PAGE: Final = bytes(PAGE_SIZE)
#: Where :meth:`SwapCore.swap_writeout` put a folio, or ``"activate"``: it stays in memory.
WriteoutResult = Literal["zero", "zswap", "disk", "activate"]
#: ``AOP_WRITEPAGE_ACTIVATE``: the folio was not written; keep it, dirty, and activate it.
AOP_WRITEPAGE_ACTIVATE: Literal["activate"] = "activate"


class ZswapTimer:
    """Latency samples of the zswap stores and loads :meth:`SwapCore.swap_writeout` and
    :meth:`SwapCore.swap_read_folio` make: one call in ``every`` is timed on the wall clock (a
    thread CPU clock costs as much as a store), a load only when zswap held the page. Set as
    :attr:`SwapCore.timer`."""

    def __init__(self, every: object = 8) -> None:
        if type(every) is not int or every < 1:
            raise InvalidParameter(f"every must be a positive integer, got {every!r}")
        self.every = every
        self.stores = 0   # calls so far
        self.loads = 0
        self.store: list[float] = []  # seconds of the sampled calls
        self.load: list[float] = []


class SwapCore:
    """Swap devices with zswap in front of them."""

    def __init__(self, zswap: Zswap, table: SwapTable | None = None, *,
                 directory: str | os.PathLike[str] | None = None) -> None:
        self.zswap = zswap
        self.table = table if table is not None else SwapTable(directory)
        zswap.attach_swap(self.table)
        self._lock = threading.Lock()
        #: single-page slots whose zero bit may be set (every one that is; more after a free):
        #: a write-out clears the bit only where it may be set
        self._maybe_zero: set[int] = set()
        #: where swapped-out pages went: zero bitmap, zswap, or the device (pswpout)
        self.swpout_zero = 0
        self.swpout_zswap = 0
        self.swpout_disk = 0
        #: where swapped-in pages came from
        self.swpin_zero = 0
        self.swpin_zswap = 0
        self.swpin_disk = 0
        #: samples zswap's store and load latency when set
        self.timer: ZswapTimer | None = None

    # ------------------------------------------------------------------ devices --------------
    def swapon(self, nr_pages: int, path: str | os.PathLike[str] | None = None) -> int:
        """``sys_swapon``: a swap file of ``nr_pages`` slots (a temporary file if no path) and
        zswap's trees for it; returns the swap type."""
        swp_type_ = self.table.swapon(path, nr_pages)
        try:
            self.zswap.swapon(swp_type_, nr_pages)
        except BaseException:
            self.table.swapoff(swp_type_)
            raise
        return swp_type_

    def swapoff(self, swp_type_: int, restore: Callable[[int, bytes], None]) -> int:
        """``sys_swapoff`` / ``try_to_unuse``: every page still on the device comes back.

        ``restore(swp, page)`` hands each page to its owner (who must stop using ``swp``); the
        slot is then freed. When all are back, the device and zswap's trees are turned off.
        Returns the number of pages brought back. An I/O error leaves the device on and the
        remaining pages where they are.
        """
        device = self.table.device(swp_type_)
        count = 0
        page = bytearray(PAGE_SIZE)
        for off in map(int, (device.swap_map[1:] != 0).nonzero()[0] + 1):  # slot 0: header
            if device.swap_count(off) == 0:
                continue
            swp = (swp_type_ << SWP_TYPE_SHIFT) | off
            self.swap_in(swp, page)
            restore(swp, bytes(page))
            self.swap_free(swp)
            count += 1
        self.zswap.swapoff(swp_type_)
        self.table.swapoff(swp_type_)
        return count

    # ------------------------------------------------------------------ swap-out -------------
    def folio_alloc_swap(self, nr: int = 1) -> int | None:
        """``folio_alloc_swap`` (reclaim's ``add_to_swap``): ``nr`` contiguous slots for a folio
        about to be written out; the packed swap entry of the first, or None when swap is full.
        The slots stay allocated until :meth:`swap_free`, across any number of write-outs."""
        return self.table.folio_alloc_swap(nr)

    def swap_writeout(self, swp: int, folio: BytesLike,
                      memcg: MemCgroup | None = None) -> WriteoutResult:
        """``swap_writeout``: write a folio to its (already allocated) slots at ``swp``.

        6.18's order: a whole-zero folio only sets the slots' zero bits (``swpout_zero``);
        otherwise the zero bits are cleared and ``zswap_store`` is tried; when zswap refuses
        and the folio's memcg has ``memory.zswap.writeback`` disabled, nothing is written and
        :data:`AOP_WRITEPAGE_ACTIVATE` (``"activate"``) is returned: the caller keeps the folio
        in memory, dirty, with its slots, and activates it (``shrink_folio_list``'s
        ``activate_locked``); otherwise the folio is written to the swap device
        (``__swap_writepage``, a ``pswpout``). A device write error raises (the caller keeps
        the folio and its slots).
        """
        if type(folio) is memoryview and folio.nbytes == PAGE_SIZE:
            nr = 1
            if not folio.c_contiguous:  # zswap and the zero check read one contiguous page
                folio = bytes(folio)
        else:
            nr = folio_nr_pages(folio)
        t, off = swp >> SWP_TYPE_SHIFT, swp & SWP_OFFSET_MASK
        if zero_filled(folio):  # is_folio_zero_filled, without a Python frame
            device = self.table.device(t)
            # A stale zswap entry for these slots must not outlive the zero page (writeback
            # would otherwise write old data over the slot later).
            for k in range(nr):
                self.zswap.invalidate(t, off + k)
            device.zeromap_set(off, nr)
            with self._lock:
                self.swpout_zero += nr
                self._maybe_zero.update(range(swp, swp + nr))
            return "zero"
        if nr > 1 or swp in self._maybe_zero:
            self.table.device(t).zeromap_clear(off, nr)
            self._maybe_zero.discard(swp)
        if self._zswap_store(folio, t, off, memcg):
            with self._lock:
                self.swpout_zswap += nr
            return "zswap"
        if memcg is not None and not memcg.zswap_writeback_enabled(self.zswap.enabled):
            return AOP_WRITEPAGE_ACTIVATE
        self.table.write_page(swp, folio)
        with self._lock:
            self.swpout_disk += nr
        return "disk"

    def _zswap_store(self, folio: BytesLike, t: int, off: int, memcg: MemCgroup | None) -> bool:
        timer = self.timer
        if timer is None:
            return self.zswap.store(folio, t, off, memcg)
        timer.stores += 1
        if timer.stores % timer.every:
            return self.zswap.store(folio, t, off, memcg)
        t0 = time.perf_counter()
        stored = self.zswap.store(folio, t, off, memcg)
        timer.store.append(time.perf_counter() - t0)
        return stored

    def _zswap_load(self, out: memoryview, t: int, off: int) -> bool:
        timer = self.timer
        if timer is None:
            return self.zswap.load(out, t, off)
        timer.loads += 1
        if timer.loads % timer.every:
            return self.zswap.load(out, t, off)
        t0 = time.perf_counter()
        found = self.zswap.load(out, t, off)
        if found:
            timer.load.append(time.perf_counter() - t0)
        return found

    def swap_out(self, folio: BytesLike, memcg: MemCgroup | None = None) -> int | None:
        """Allocate slots for a folio and write it out (:meth:`folio_alloc_swap` then
        :meth:`swap_writeout`); the first slot as a packed swap entry, or None when the folio
        stays in memory: no swap space, or ``memory.zswap.writeback`` 0 and zswap refused it
        (its slots are freed again: this call keeps no swap cache).

        The folio's bytes are safe once this returns a slot: in the zero bitmap, in zswap or on
        the device. A device write error frees the slots and raises (the caller keeps the page).
        """
        nr = folio_nr_pages(folio)
        swp = self.folio_alloc_swap(nr)
        if swp is None:
            return None
        try:
            result = self.swap_writeout(swp, folio, memcg)
        except BaseException:
            self.table.swap_free(swp, nr)
            raise
        if result == AOP_WRITEPAGE_ACTIVATE:
            self.table.swap_free(swp, nr)
            return None
        return swp

    # ------------------------------------------------------------------ swap-in --------------
    def swap_in(self, swp: int, out: WritableBuffer, memcg: MemCgroup | None = None,
                *, keep_zswap: bool = False) -> SwapInSource:
        """Read the page at ``swp`` into ``out`` (one page); where it came from.

        The slot stays allocated (the owner frees it with :meth:`swap_free`). A page that came
        from zswap leaves it (the kernel's exclusive load): the page in memory is then its only
        copy, so the owner must free the slot, or swap the page out again, rather than read the
        slot twice. ``keep_zswap`` keeps the entry (the swap-cache-bypass path of 6.12-6.17).
        """
        view = memoryview(out)
        if view.nbytes != PAGE_SIZE:
            raise InvalidParameter(f"swap_in reads one {PAGE_SIZE}-byte page, got {view.nbytes}")
        t, off = swp_type(swp), swp_offset(swp)
        device = self.table.device(t)
        # Take the slot's swap-cache place: waits out a writeback of this slot in flight.
        while not self.table.add_to_swap_cache(swp, view):
            os.sched_yield()
        try:
            if device.zeromap_count(off) == 1:
                view[:] = bytes(PAGE_SIZE)
                source: SwapInSource = "zero"
            elif (self.zswap.load(view, t, off, swapcache=False) if keep_zswap
                  else self.zswap.load(view, t, off)):
                source = "zswap"
            else:
                self.table.read_page(swp, view)
                self.zswap.folio_swapin(memcg)
                source = "disk"
        finally:
            self.table.delete_from_swap_cache(swp)
        with self._lock:
            if source == "zero":
                self.swpin_zero += 1
            elif source == "zswap":
                self.swpin_zswap += 1
            else:
                self.swpin_disk += 1
        return source

    def swap_read_folio(self, swp: int, out: memoryview, memcg: MemCgroup | None = None
                        ) -> SwapInSource:
        """``swap_read_folio`` for a caller whose folio already holds the slot's swap cache
        (the mm model's own swap cache): :meth:`swap_in` without taking the swap-cache place,
        so only for a caller that runs nothing else meanwhile (no writeback of the slot can
        be in flight). ``out`` is one writable page. The zswap entry goes with the load."""
        t, off = swp >> SWP_TYPE_SHIFT, swp & SWP_OFFSET_MASK
        device = self.table.device(t)
        if device.zeromap_count(off):
            out[:] = _ZERO_PAGE
            self.swpin_zero += 1
            return "zero"
        if self._zswap_load(out, t, off):
            self.swpin_zswap += 1
            return "zswap"
        device.read_page(off, out)
        self.zswap.folio_swapin(memcg)
        self.swpin_disk += 1
        return "disk"

    def swap_free(self, swp: int, nr: int = 1) -> None:
        """Drop the owner's reference to ``nr`` slots; zswap's entries go with them."""
        self.table.swap_free(swp, nr)

    def stats(self) -> dict[str, int]:
        """Where pages went and came from, with the kernel's vmstat meanings: ``pswpout`` is
        every page written to a swap device, zswap's writeback included (both go through
        ``__swap_writepage``), ``swpout_disk`` only the folios :meth:`swap_writeout` wrote
        directly; ``pswpin`` every page read from a device."""
        pswpout = sum(self.table.device(t).pswpout for t in self.table.types())
        return {
            "swpout_zero": self.swpout_zero, "swpout_zswap": self.swpout_zswap,
            "swpout_disk": self.swpout_disk, "pswpout": pswpout,
            "swpin_zero": self.swpin_zero, "swpin_zswap": self.swpin_zswap,
            "pswpin": self.swpin_disk,
        }

    def close(self) -> None:
        """Close the devices (temporary swap files are removed) and detach zswap."""
        self.zswap.close()
        self.table.close()
