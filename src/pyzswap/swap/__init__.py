"""Swap devices: real swap files, slots, the swap map, the zero bitmap, the swap cache, I/O.

This is the part of ``mm/swapfile.c``, ``mm/swap_state.c`` and ``mm/page_io.c`` that zswap's
writeback tier and the memory-pressure harness need, on a real file:

* **Swap entries** are packed ints like ``swp_entry_t``: ``type << SWP_TYPE_SHIFT | offset``
  (:func:`swp_entry`, :func:`swp_type`, :func:`swp_offset`), with ``SWP_TYPE_SHIFT = 58`` and
  ``MAX_SWAPFILES = 32`` types.
* :class:`SwapDevice` is one swap file that pyzswap creates and sizes itself
  (:meth:`SwapDevice.create`). Page ``i`` lives at byte ``i * 4096``; slot 0 holds a real swap
  header (``SWAPSPACE2`` at byte 4086, version 1, ``last_page``, a uuid and a label) exactly as
  ``mkswap`` writes it, so the file is a valid swap file, and is never allocated.
* **Slots** are handed out by a simplified version of the 6.12+ cluster allocator: the device is
  cut into ``SWAPFILE_CLUSTER`` (512) slot clusters; each order (folio size ``1 << order``) has a
  current cluster it fills front to back, then takes a partially free cluster of the same order,
  then a wholly free cluster. A large folio always gets one naturally aligned contiguous run
  (:meth:`SwapDevice.alloc_slots`); when none is left the caller splits the folio, as the kernel
  does. Order-0 allocation (:meth:`SwapDevice.get_swap_slots`) falls back to any free slot.
* The **swap map** (``numpy.uint8`` per slot) holds the reference count (1..``SWAP_MAP_MAX``;
  an allocation starts at 1, :meth:`SwapDevice.swap_duplicate` adds references) plus the
  ``SWAP_HAS_CACHE`` bit while a swap-cache folio exists. A slot is free when its byte is 0:
  freeing the last reference of a slot that is in the swap cache frees it only when the folio
  leaves the cache, as in the kernel (the swap cache pins the slot against reuse, which is what
  makes ``zswap_writeback_entry``'s check of the tree safe).
* The **zero bitmap** (``numpy.bool_`` per slot, 6.12+): the swap core records whole-zero folios
  here (:meth:`SwapDevice.zeromap_set`) instead of writing them; reading such a slot fills zeros
  without I/O. Freeing a slot clears its bit.
* The **swap cache** maps a slot to the folio in flight (:meth:`SwapDevice.add_to_swap_cache`
  returns False for a slot that already has one: the kernel's ``-EEXIST``).
* **I/O** is ``os.pwrite`` / ``os.preadv`` straight from and into the caller's buffer (both
  release the GIL). Errors raise :class:`SwapIOError`, which is both an ``OSError`` (``errno``
  ENOSPC, EIO, …) and a :class:`~pyzswap.errors.ZswapError`; they are counted per device
  (``write_errors``, ``read_errors``) and lose nothing: the caller's page is untouched and the
  slot is marked "not written", so reading it back is refused rather than returning stale bytes.
* :class:`IOFaults` injects deterministic failures (the next N writes/reads, or any I/O touching
  given offsets) with any errno, for the reliability tests.
* :class:`SwapTable` is ``swap_info[]``: several devices at once by type, ``swapon`` /
  ``swapoff`` (refused while a slot is in use), and the same operations addressed by packed swap
  entries.

Hooks: ``SwapDevice.on_free(type, offset, nr)`` is called for every range of slots that becomes
free, **with the device lock held and before the slots can be reallocated** — where the kernel's
``swap_entries_free`` calls ``zswap_invalidate``. The integration points it at
``Zswap.invalidate``.

Locking: one ``threading.Lock`` per device (the kernel's ``si->lock`` plus the cluster locks)
guards the swap map, clusters, zero bitmap, counters and swap cache; it is never held during I/O.
Lock order: ``SwapTable._lock`` → ``SwapDevice._lock`` → (``on_free`` hook: zswap's lock → the
LRU lock). Nothing may call into a device while holding zswap's or the LRU's lock.
"""

from __future__ import annotations

from . import entry
from .device import SwapDevice
from .entry import *  # noqa: F403  (entry.__all__: swap entries, map values, errors, faults)
from .table import SwapTable

__all__ = ["SwapDevice", "SwapTable"]
__all__ += entry.__all__
