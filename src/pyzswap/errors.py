"""One exception hierarchy for pyzswap.

Every failure a kernel zswap path would report with an errno has a named class here, carrying
that errno, so callers (and the CLI) can tell a full pool from a poor compression from a missing
entry without parsing messages. ``ZswapError`` is the root; nothing in pyzswap raises a bare
``Exception`` for a condition a user can cause.
"""

from __future__ import annotations

import errno as _errno

__all__ = [
    "AllocFail",
    "CgroupBusy",
    "CompressFail",
    "CompressPoor",
    "CorruptData",
    "DecompressFail",
    "EntryNotFound",
    "InvalidPage",
    "InvalidParameter",
    "PoolLimitHit",
    "SlotBusy",
    "UnknownCompressor",
    "UseAfterFree",
    "ZswapDisabled",
    "ZswapError",
]


class ZswapError(Exception):
    """Root of every pyzswap error. ``errno`` is the kernel errno the condition maps to."""

    errno: int = _errno.EINVAL


class CgroupBusy(ZswapError):
    """rmdir of a memory cgroup's root, or of a group that still has child groups (-EBUSY)."""

    errno = _errno.EBUSY


class InvalidParameter(ZswapError, ValueError):
    """A parameter value is out of range or of the wrong type; nothing was changed."""

    errno = _errno.EINVAL


class UnknownCompressor(ZswapError, KeyError):
    """No compressor is registered under that name (the kernel's ``crypto_has_acomp`` failing)."""

    errno = _errno.ENOENT

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown compressor"


class InvalidPage(ZswapError, ValueError):
    """Page data of the wrong size or shape (a folio must be 1..512 whole 4 KiB pages)."""

    errno = _errno.EINVAL


class EntryNotFound(ZswapError, KeyError):
    """No zswap entry for that swap slot (the kernel's -ENOENT from ``zswap_load``)."""

    errno = _errno.ENOENT

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "entry not found"


class ZswapDisabled(ZswapError):
    """zswap is disabled: stores are refused and go to the swap device."""

    errno = _errno.ENODEV


class PoolLimitHit(ZswapError):
    """The global pool limit (or the accept-threshold hysteresis) refused the store."""

    errno = _errno.ENOMEM


class CompressPoor(ZswapError):
    """The output did not fit (-ENOSPC): a compressor or ``zs_malloc`` size failure."""

    errno = _errno.ENOSPC


class CompressFail(ZswapError):
    """The compressor returned an error other than -ENOSPC."""

    errno = _errno.EINVAL


class AllocFail(ZswapError, MemoryError):
    """An allocation failed (zsmalloc object, entry, tree slot)."""

    errno = _errno.ENOMEM


class DecompressFail(ZswapError):
    """Decompression returned an error or did not produce exactly one page (-EIO)."""

    errno = _errno.EIO


class CorruptData(ZswapError, ValueError):
    """Input data (a page file, a fixture, a compressed stream) is malformed."""

    errno = _errno.EINVAL


class SlotBusy(ZswapError):
    """Another operation on the same swap slot is in flight; this one was refused, nothing
    changed.

    The kernel's zswap runs store, load and invalidate of one swap entry with the entry's
    swap-cache folio locked (``zswap_store`` and ``zswap_load`` warn if it is not), so two of
    them never overlap. pyzswap enforces that rule instead of relying on it: an operation that
    would overlap one in flight on the same slot (or a swapoff of a type with operations in
    flight) raises this; retry once the other one is done. Writeback skips such a slot
    (-EEXIST), as the kernel's does when it finds the folio in the swap cache.
    """

    errno = _errno.EBUSY


class UseAfterFree(ZswapError):
    """A per-CPU compression context was used after CPU hotplug freed it.

    Only the ``naive`` context-lifetime strategy (the pre-2025 kernel race) can raise it: the
    use is detected, counted and reported instead of silently reading freed resources.
    """

    errno = _errno.EFAULT
