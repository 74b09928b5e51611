"""Every swapped-on device by type (``swap_info[]``): see :mod:`pyzswap.swap`."""


from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InvalidParameter
from .device import SwapDevice
from .entry import MAX_SWAPFILES, SWP_OFFSET_MASK, SWP_TYPE_SHIFT, SwapBusy

if TYPE_CHECKING:
    from .._types import BytesLike, WritableBuffer

# ---------------------------------------------------------------------------- table ----------
class SwapTable:
    """``swap_info[]``: the swap devices by type, and operations addressed by swap entries.

    ``swapon`` takes the lowest free type; devices are preferred in swapon order (the kernel's
    default decreasing priorities) by :meth:`folio_alloc_swap`. ``on_free`` (if set before or
    after ``swapon``) becomes every device's slot-free hook.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._devices: list[SwapDevice | None] = [None] * MAX_SWAPFILES
        self._order: list[int] = []  # swapon order = priority order
        self._on_free: Callable[[int, int, int], None] | None = None
        self.directory = None if directory is None else os.fspath(directory)

    @property
    def on_free(self) -> Callable[[int, int, int], None] | None:
        return self._on_free

    @on_free.setter
    def on_free(self, hook: Callable[[int, int, int], None] | None) -> None:
        with self._lock:
            self._on_free = hook
            for dev in self._devices:
                if dev is not None:
                    dev.on_free = hook

    def swapon(self, path: str | os.PathLike[str] | None, nr_pages: int, *,
               preallocate: bool = False, exist_ok: bool = False) -> int:
        """Create a swap file (a temporary one for ``path=None``) and enable it; its type."""
        with self._lock:
            free = [t for t in range(MAX_SWAPFILES) if self._devices[t] is None]
            if not free:
                raise InvalidParameter(f"all {MAX_SWAPFILES} swap types are in use")
            swp_type = free[0]
            dev = SwapDevice.create(path, nr_pages, swp_type=swp_type, preallocate=preallocate,
                                    exist_ok=exist_ok, directory=self.directory)
            dev.on_free = self._on_free
            self._devices[swp_type] = dev
            self._order.append(swp_type)
        return swp_type

    def swapoff(self, swp_type: int) -> None:
        """Disable and close a device (removing its file if pyzswap made it temporary). Refused
        with :class:`SwapBusy` while any slot is allocated or in the swap cache (the kernel
        would first swap everything in: ``try_to_unuse``)."""
        with self._lock:
            dev = self.device(swp_type)
            dev._lock.acquire()
            try:
                if dev._inuse or dev._cache:
                    raise SwapBusy(f"swapoff of type {swp_type}: {dev._inuse} slots in use, "
                                   f"{len(dev._cache)} in the swap cache")
            finally:
                dev._lock.release()
            self._devices[swp_type] = None
            self._order.remove(swp_type)
        dev.close()

    def close(self) -> None:
        """Close every device regardless of its slots (teardown)."""
        with self._lock:
            devs = [d for d in self._devices if d is not None]
            self._devices = [None] * MAX_SWAPFILES
            self._order.clear()
        for dev in devs:
            dev.close()

    def __enter__(self) -> SwapTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def device(self, swp_type: int) -> SwapDevice:
        """The device of a swap type; :class:`InvalidParameter` if it is not on."""
        dev = (self._devices[swp_type]
               if type(swp_type) is int and 0 <= swp_type < MAX_SWAPFILES else None)
        if dev is None:
            raise InvalidParameter(f"swap type {swp_type!r} is not on")
        return dev

    def __getitem__(self, swp_type: int) -> SwapDevice:
        return self.device(swp_type)

    def types(self) -> list[int]:
        """Types that are on, in priority (swapon) order."""
        return list(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def folio_alloc_swap(self, nr: int = 1) -> int | None:
        """Allocate ``nr`` contiguous aligned slots on the first device (by priority) that has
        them; the packed swap entry of the first slot, or None when no device has room."""
        for swp_type in list(self._order):
            dev = self._devices[swp_type]
            if dev is None:
                continue
            off = dev.alloc_slots(nr)
            if off is not None:
                return (swp_type << SWP_TYPE_SHIFT) | off
        return None

    def _dev(self, swp: int) -> tuple[SwapDevice, int]:
        return self.device(swp >> SWP_TYPE_SHIFT), swp & SWP_OFFSET_MASK

    def swap_duplicate(self, swp: int, nr: int = 1) -> None:
        dev, off = self._dev(swp)
        dev.swap_duplicate(off, nr)

    def swap_free(self, swp: int, nr: int = 1) -> None:
        """``swap_free_nr``: drop a reference to each slot."""
        dev, off = self._dev(swp)
        dev.free_slots(off, nr)

    def write_page(self, swp: int, data: BytesLike) -> None:
        dev, off = self._dev(swp)
        dev.write_page(off, data)

    def read_page(self, swp: int, out: WritableBuffer) -> None:
        dev, off = self._dev(swp)
        dev.read_page(off, out)

    def add_to_swap_cache(self, swp: int, folio: BytesLike, nr: int = 1) -> bool:
        """See :meth:`SwapDevice.add_to_swap_cache` (False: ``-EEXIST``)."""
        dev, off = self._dev(swp)
        return dev.add_to_swap_cache(off, folio, nr)

    def lookup_swap_cache(self, swp: int) -> BytesLike | None:
        dev, off = self._dev(swp)
        return dev.lookup_swap_cache(off)

    def delete_from_swap_cache(self, swp: int, nr: int = 1) -> BytesLike | None:
        dev, off = self._dev(swp)
        return dev.delete_from_swap_cache(off, nr)

    def stats(self) -> dict[int, dict[str, int]]:
        """Per-type device statistics."""
        return {t: self.device(t).stats() for t in self.types()}
