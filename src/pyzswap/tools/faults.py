"""Fault injection: every failure zswap must survive, on demand and deterministically.

Reliability claims ("an allocation failure loses no page") are only as good as the tests that
provoke the failure. This module gives tests and the soak (:mod:`pyzswap.tools.soak`) one small,
explicit way to provoke each failure the kernel's zswap handles, through public seams only:

======================  ====================================  ===================================
fault point             how it is injected                    what zswap must do (6.18)
======================  ====================================  ===================================
compress_fail           :class:`FaultyCompressor` raises      store the page as-is
                        ``CompressFail``                      (``stored_incompressible_pages``);
                                                              memcg without writeback: reject
                                                              (``reject_compress_fail``), the
                                                              page goes to the swap file
compress_poor (ENOSPC)  :class:`FaultyCompressor` raises      as above, ``reject_compress_poor``
                        ``CompressPoor``
decompress_fail         :class:`FaultyCompressor` raises      ``decompress_fail``; the load
                        ``DecompressFail``                    fails with -EIO and the entry is
                                                              kept (writeback: -EIO, kept)
corrupt_object          :func:`corrupt_entry` overwrites the  as decompress_fail
                        zsmalloc object
alloc_fail              :class:`FaultyZsPool` fails           ``reject_alloc_fail``; the folio
                        ``zs_malloc`` on a schedule           goes to the swap file
zsmalloc_full           :class:`FaultyZsPool` with            as alloc_fail, for every store that
                        ``max_pages``                         needs a new zspage
swap_write_error,       ``SwapDevice.faults``                 device ``write_errors``; a swap-out
swap_enospc             (:class:`~pyzswap.swap.IOFaults`)     raises and the caller keeps the
                                                              page; writeback returns -EIO
                                                              (``reject_reclaim_fail``) and the
                                                              entry stays in zswap
swap_read_error         ``SwapDevice.faults``                 device ``read_errors``; the swap-in
                                                              raises, the page stays on the slot
pool_create_nomem       :class:`PoolCreationFaults` as        the compressor switch fails with
                        ``Zswap.mem_hook``                    ``AllocFail`` and nothing changes
======================  ====================================  ===================================

Every schedule is a :class:`FaultSchedule`: the next *n* calls, every *k*-th call, or calls
whose data matches a predicate; nothing is random, and each counts what it injected, so a test
can compare the kernel counter with the number of faults it caused.

Concurrency: schedules are thread-safe. :func:`install_zs_pool` replaces the current pool's
zsmalloc pool and is only safe while the pool is empty and no store is in flight (a fresh
``Zswap``, or a quiescent soak checkpoint). :func:`corrupt_entry` writes into a live object:
the caller must own the slot (hold its swap cache, or be the only thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final, cast

from ..compress import (
    PAGE_SIZE,
    Compressor,
    Transform,
    get_compressor,
    has_compressor,
    register_compressor,
    unregister_compressor,
)
from ..errors import AllocFail, CompressFail, CompressPoor, DecompressFail, InvalidParameter
from ..zsmalloc import ZsPool

if TYPE_CHECKING:
    from .._types import BytesLike
    from ..pool import MemHook
    from ..zswap import Zswap, ZswapEntry

__all__ = [
    "FAULT_POINTS",
    "FaultPoint",
    "FaultSchedule",
    "FaultyCompressor",
    "FaultyZsPool",
    "PoolCreationFaults",
    "corrupt_entry",
    "faulty_compressor",
    "install_zs_pool",
    "unregister",
]


@dataclass(frozen=True)
class FaultPoint:
    """One failure zswap must survive: how it is injected, what the kernel counts, and where
    the page must end up. The table of the module docstring, as data (docs and the soak)."""

    name: str
    injection: str
    counter: str
    fallthrough: str


#: Every fault point this module (or :class:`~pyzswap.swap.IOFaults`) can inject.
FAULT_POINTS: Final = (
    FaultPoint("compress_fail", "FaultyCompressor.compress_fail",
               "stored_incompressible_pages / reject_compress_fail",
               "stored as-is; memcg without writeback: swap file"),
    FaultPoint("compress_poor", "FaultyCompressor.compress_poor",
               "stored_incompressible_pages / reject_compress_poor",
               "stored as-is; memcg without writeback: swap file"),
    FaultPoint("decompress_fail", "FaultyCompressor.decompress_fail", "decompress_fail",
               "load fails with -EIO, entry kept; writeback -EIO, entry kept"),
    FaultPoint("corrupt_object", "corrupt_entry()", "decompress_fail",
               "load fails with -EIO, entry kept (restorable)"),
    FaultPoint("alloc_fail", "FaultyZsPool.alloc_fail", "reject_alloc_fail", "swap file"),
    FaultPoint("zsmalloc_full", "FaultyZsPool(max_pages=...)", "reject_alloc_fail",
               "swap file"),
    FaultPoint("swap_write_error", "SwapDevice.faults.fail_next_writes / fail_writes_at",
               "device write_errors; reject_reclaim_fail for writeback",
               "swap-out raises, caller keeps the page; writeback keeps the entry"),
    FaultPoint("swap_enospc", "SwapDevice.faults.fail_next_writes(err=ENOSPC)",
               "device write_errors", "swap-out raises ENOSPC, caller keeps the page"),
    FaultPoint("swap_read_error", "SwapDevice.faults.fail_next_reads / fail_reads_at",
               "device read_errors", "swap-in raises, the page stays on its slot"),
    FaultPoint("pool_create_nomem", "PoolCreationFaults (Zswap.mem_hook)",
               "AllocFail from set_param('compressor')", "old pool stays current"),
)


class FaultSchedule:
    """When an injection point fires. Deterministic, thread-safe and counted.

    Arm it with :meth:`fail_next` (the next ``n`` calls), :meth:`fail_every` (every ``k``-th
    call from now) and/or :meth:`fail_when` (calls whose data matches a predicate); they add up
    (the next-``n`` faults are consumed first). ``calls`` counts every consultation while
    armed, ``injected`` the faults produced.
    """

    __slots__ = ("_every", "_left", "_lock", "_predicate", "_since", "calls", "injected")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left = 0
        self._every: int | None = None
        self._since = 0
        self._predicate: Callable[[bytes], bool] | None = None
        self.calls = 0
        self.injected = 0

    @property
    def armed(self) -> bool:
        """True if some future call may fail (a cheap check for hot paths)."""
        return bool(self._left or self._every or self._predicate)

    def fail_next(self, n: int = 1) -> None:
        """The next ``n`` calls fail (added to any already pending)."""
        if type(n) is not int or n < 0:
            raise InvalidParameter(f"n must be a non-negative integer, got {n!r}")
        with self._lock:
            self._left += n

    def fail_every(self, k: int | None) -> None:
        """Every ``k``-th call from now fails (``None`` stops it)."""
        if k is not None and (type(k) is not int or k < 1):
            raise InvalidParameter(f"k must be a positive integer or None, got {k!r}")
        with self._lock:
            self._every = k
            self._since = 0

    def fail_when(self, predicate: Callable[[bytes], bool] | None) -> None:
        """Calls whose data (the page) makes ``predicate`` true fail (``None`` stops it)."""
        with self._lock:
            self._predicate = predicate

    def clear(self) -> None:
        """Disarm everything (the counts stay)."""
        with self._lock:
            self._left = 0
            self._every = None
            self._predicate = None

    def fire(self, data: BytesLike | None = None) -> bool:
        """Consult the schedule for one call (with its data, if any): True means fail it."""
        if not self.armed:
            return False
        predicate = self._predicate
        matched = predicate is not None and data is not None and predicate(bytes(data))
        with self._lock:
            self.calls += 1
            hit = False
            if self._left:
                self._left -= 1
                hit = True
            if self._every:
                self._since += 1
                if self._since >= self._every:
                    self._since = 0
                    hit = True
            if matched:
                hit = True
            if hit:
                self.injected += 1
            return hit

    def __repr__(self) -> str:
        return (f"FaultSchedule(next={self._left}, every={self._every}, "
                f"predicate={self._predicate is not None}, injected={self.injected})")


# ---------------------------------------------------------------------------- compressor -----
class _FaultyTransform(Transform):
    """A real transform whose calls consult the owner's schedules first."""

    __slots__ = ("_inner", "_owner")

    def __init__(self, owner: FaultyCompressor, inner: Transform) -> None:
        self._owner = owner
        self._inner = inner

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        owner = self._owner
        if owner.compress_poor.fire(src):
            raise CompressPoor(f"{owner.name}: injected -ENOSPC")
        if owner.compress_fail.fire(src):
            raise CompressFail(f"{owner.name}: injected compression error")
        return self._inner.compress(src, dst)

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        owner = self._owner
        if owner.decompress_fail.fire(None):
            raise DecompressFail(f"{owner.name}: injected decompression error")
        return self._inner.decompress(src, dst)


class FaultyCompressor(Compressor):
    """A test double: a real compressor (``base``) whose calls fail on schedules.

    ``compress_fail`` raises :class:`CompressFail`, ``compress_poor`` :class:`CompressPoor`
    (-ENOSPC), ``decompress_fail`` :class:`DecompressFail`; unscheduled calls go to the real
    codec, so stored pages are real compressed streams. Batch size 1 (a software compressor).
    Create registered instances with :func:`faulty_compressor` (the registry needs a distinct
    class-level ``name`` per instance).
    """

    name: ClassVar[str] = "faulty"
    description: ClassVar[str] = "fault-injection test double around a real compressor"

    def __init__(self, base: str | Compressor = "lz4") -> None:
        self.base = get_compressor(base) if isinstance(base, str) else base
        if isinstance(self.base, FaultyCompressor):
            raise InvalidParameter("a FaultyCompressor cannot wrap another one")
        self.compress_fail = FaultSchedule()
        self.compress_poor = FaultSchedule()
        self.decompress_fail = FaultSchedule()

    def new_transform(self) -> Transform:
        return _FaultyTransform(self, self.base.new_transform())

    def clear(self) -> None:
        """Disarm every schedule."""
        self.compress_fail.clear()
        self.compress_poor.clear()
        self.decompress_fail.clear()

    @property
    def injected(self) -> dict[str, int]:
        """Faults produced so far, per schedule."""
        return {"compress_fail": self.compress_fail.injected,
                "compress_poor": self.compress_poor.injected,
                "decompress_fail": self.decompress_fail.injected}


def faulty_compressor(name: str = "faulty", base: str | Compressor = "lz4", *,
                      register: bool = True) -> FaultyCompressor:
    """A :class:`FaultyCompressor` named ``name`` wrapping ``base``, registered (unless
    ``register=False``) so ``set_param("compressor", name)`` selects it. Remove it with
    ``pyzswap.compress.unregister_compressor(name)``; pools already using it keep working.
    """
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise InvalidParameter(f"compressor name must be a non-empty word, got {name!r}")
    if register and has_compressor(name):
        raise InvalidParameter(f"a compressor named {name!r} is already registered")
    cls = cast("type[FaultyCompressor]",
               type(f"FaultyCompressor_{name}", (FaultyCompressor,), {"name": name}))
    comp = cls(base)
    if register:
        register_compressor(comp)
    return comp


def unregister(comp: Compressor) -> None:
    """Remove ``comp`` from the registry if it is the one registered under its name."""
    if has_compressor(comp.name) and get_compressor(comp.name) is comp:
        unregister_compressor(comp.name)


# ---------------------------------------------------------------------------- zsmalloc -------
class FaultyZsPool(ZsPool):
    """A zsmalloc pool whose ``zs_malloc`` fails with :class:`AllocFail` on ``alloc_fail``'s
    schedule; ``max_pages`` (zsmalloc's own knob) makes it "full" once that many pages are
    allocated. Install it as a pool's zsmalloc with :func:`install_zs_pool`."""

    __slots__ = ("_count_lock", "alloc_fail", "full_failures")

    def __init__(self, name: str, chain_size: int = 8, *, max_pages: int | None = None) -> None:
        super().__init__(name, chain_size, max_pages=max_pages)
        self.alloc_fail = FaultSchedule()
        #: allocations refused because ``max_pages`` was reached (zsmalloc "full")
        self.full_failures = 0
        self._count_lock = threading.Lock()

    def malloc_write(self, data: BytesLike | None, length: int) -> int:
        if self.alloc_fail.armed and self.alloc_fail.fire(
                None if data is None else memoryview(data)[:length]):
            raise AllocFail(f"zsmalloc pool {self.name!r}: injected allocation failure")
        try:
            return super().malloc_write(data, length)
        except AllocFail:
            with self._count_lock:
                self.full_failures += 1
            raise


def install_zs_pool(zswap: Zswap, *, max_pages: int | None = None) -> FaultyZsPool:
    """Give zswap's current pool a :class:`FaultyZsPool` (same name and chain size) in place
    of its empty zsmalloc pool, and return it.

    Only while the pool holds no object and no store is in flight: a fresh ``Zswap``, a fresh
    pool right after a compressor switch in a quiescent program, or a soak checkpoint. A pool
    holding objects is refused with :class:`InvalidParameter` (its handles would dangle).
    """
    pool = zswap.current_pool()
    old = pool.zs_pool
    if old.objects_in_use or old.pages_allocated:
        raise InvalidParameter(
            f"pool {pool.tfm_name}#{pool.id} holds {old.objects_in_use} objects: a zsmalloc "
            "pool can only be replaced while empty"
        )
    new = FaultyZsPool(old.name, old.chain_size, max_pages=max_pages)
    pool.zs_pool = new
    old.destroy()
    return new


# ---------------------------------------------------------------------------- pool creation --
class PoolCreationFaults:
    """A ``Zswap.mem_hook`` that fails allocations of pool creation (every hook call: the
    pool, its zsmalloc pool, and per CPU the context's parts) with :class:`AllocFail` on a
    schedule: the memory limit hit while a compressor switch builds its new pool.

    ``inner`` (another hook, e.g. one that runs "direct reclaim") is called first. Install it
    with ``Zswap(mem_hook=faults)`` or by setting ``zswap.mem_hook`` before the switch.
    """

    def __init__(self, inner: MemHook | None = None) -> None:
        self.inner = inner
        self.schedule = FaultSchedule()
        #: what each injected failure was allocating ("acomp_ctx lz4#3 cpu1")
        self.failed: list[str] = []

    def __call__(self, nbytes: int, what: str) -> None:
        if self.inner is not None:
            self.inner(nbytes, what)
        if self.schedule.fire(None):
            self.failed.append(what)
            raise AllocFail(f"injected: no memory for {what} ({nbytes} bytes)")


# ---------------------------------------------------------------------------- corruption -----
def corrupt_entry(zswap: Zswap, swp_type: int, offset: int,
                  junk: bytes = b"\xff") -> Callable[[], bool]:
    """Overwrite the compressed object stored for a slot with ``junk`` (repeated); return a
    ``restore()`` that writes the original bytes back (True) if the entry is still the same,
    else does nothing (False).

    zswap, like the kernel, keeps no checksum: corruption is only detected when the
    decompressor rejects the stream or yields other than 4096 bytes. A page stored as-is
    (incompressible) is never decompressed, so corrupting it is refused here
    (:class:`InvalidParameter`), as is a slot without an entry. The caller must own the slot
    (hold its swap cache, or be the only thread) for as long as it is corrupted, or the handle
    could be freed and reused under it.
    """
    entry: ZswapEntry | None = zswap.lookup(swp_type, offset)
    if entry is None:
        raise InvalidParameter(f"no zswap entry for {swp_type}:{offset} to corrupt")
    if entry.length >= PAGE_SIZE:
        raise InvalidParameter(f"entry {swp_type}:{offset} is stored as-is: zswap has no "
                               "checksum, so corrupting it could not be detected")
    if not junk:
        raise InvalidParameter("junk must not be empty")
    zs = zswap.entry_pool(entry).zs_pool
    good = zs.read(entry.handle, entry.length)
    bad = (junk * (entry.length // len(junk) + 1))[:entry.length]
    zs.write(entry.handle, bad)

    def restore() -> bool:
        if zswap.lookup(swp_type, offset) != entry:
            return False
        zs.write(entry.handle, good)
        return True

    return restore
