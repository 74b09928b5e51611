"""zswap's module parameters, statistics and entry snapshot, by their kernel names.

``/sys/module/zswap/parameters`` (:data:`PARAMETERS`), ``/sys/kernel/debug/zswap``
(:data:`DEBUGFS_STATS`), the vmstat events (:data:`VMSTAT_EVENTS`) and ``struct zswap_entry``
as Python sees it (:class:`ZswapEntry`). The counters themselves live in the zswap state
(``pyzswap._native.ZswapState``), the one place they change.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from ..errors import InvalidParameter

__all__ = [
    "DEBUGFS_STATS",
    "FLOWS",
    "MAX_RECLAIM_RETRIES",
    "PARAMETERS",
    "PASS_END",
    "SHRINK_STOP",
    "SWAP_ADDRESS_SPACE_SHIFT",
    "VMSTAT_EVENTS",
    "ZswapEntry",
    "host_totalram_pages",
]

#: The kernel keeps one tree (an xarray with its own lock) per 64 MiB of swap space
#: (``swap_zswap_tree``), to spread lock contention. pyzswap's C entry table has no per-tree
#: locks, so one table per swap type serves; the constant is kept for reference.
SWAP_ADDRESS_SPACE_SHIFT: Final = 14

#: The debugfs statistics of 6.18, in the kernel's order.
DEBUGFS_STATS: Final = (
    "pool_limit_hit",
    "reject_reclaim_fail",
    "reject_alloc_fail",
    "reject_kmemcache_fail",
    "reject_compress_fail",
    "reject_compress_poor",
    "decompress_fail",
    "written_back_pages",
    "pool_total_size",
    "stored_pages",
    "stored_incompressible_pages",
)

#: vmstat events zswap counts (``/proc/vmstat``).
VMSTAT_EVENTS: Final = ("zswpin", "zswpout", "zswpwb")

#: ``shrink_worker`` gives up after this many failures.
MAX_RECLAIM_RETRIES: Final = 16
#: What :meth:`ZswapWriteback.shrink_worker_steps` yields where a walk over the memcg hierarchy
#: ended (a positive value: never a ``shrink_memcg`` result).
PASS_END: Final = 1
#: A shrinker scan that could free nothing.
SHRINK_STOP: Final = -1

#: The two complete flows over the one state, and ``auto`` (see :class:`~pyzswap.zswap.Zswap`).
FLOWS: Final = ("auto", "python", "native")


def host_totalram_pages() -> int:
    """This machine's RAM in pages, the kernel's ``totalram_pages()``."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):  # pragma: no cover - every Linux has it
        return 1 << 20


def _parse_bool(name: str, value: object) -> bool:
    """Accept what ``param_set_bool`` accepts (y/n/1/0, plus Python bools and on/off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("y", "yes", "1", "on", "true"):
            return True
        if text in ("n", "no", "0", "off", "false"):
            return False
    raise InvalidParameter(f"{name}: expected a boolean (Y/N/1/0), got {value!r}")


def _parse_percent(name: str, value: object) -> int:
    """An unsigned percentage 0..100 (``param_set_uint_minmax(..., 0, 100)``)."""
    number: int
    if isinstance(value, bool):
        raise InvalidParameter(f"{name}: expected an integer 0..100, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise InvalidParameter(f"{name}: expected an integer 0..100, got {value!r}")
    if not 0 <= number <= 100:
        raise InvalidParameter(f"{name}: {number} is outside 0..100")
    return number


@dataclass(frozen=True)
class ParamSpec:
    """A module parameter: its default, its parser (``param_set_*``), what it means."""

    default: object
    parse: Callable[[str, object], object]
    doc: str


#: The module parameters, with kernel names, defaults and what they mean.
PARAMETERS: Final[dict[str, ParamSpec]] = {
    "enabled": ParamSpec(
        True, _parse_bool, "accept new stores (existing entries stay either way)"
    ),
    "compressor": ParamSpec("lzo", lambda n, v: v, "compression algorithm of the current pool"),
    "max_pool_percent": ParamSpec(20, _parse_percent, "pool limit, percent of RAM"),
    "accept_threshold_percent": ParamSpec(
        90, _parse_percent, "after the limit is hit, accept again below this percent of it"
    ),
    "shrinker_enabled": ParamSpec(False, _parse_bool, "write back under memory pressure"),
}


class ZswapEntry(NamedTuple):
    """One stored page (``struct zswap_entry``): where it lives and how long it is.

    The entries themselves live in C (``_native.EntryTable``: one 32-byte record per entry, in
    per-type trees and intrusive LRU lists); a ``ZswapEntry`` is a snapshot of one record,
    made when Python code asks for it (:meth:`Zswap.lookup`, a load, a writeback walk). Two
    snapshots of the same stored entry are equal but not identical: compare with ``==``. The
    pool is named by id, as mm-new's ``u8 pool_idx`` does; :meth:`Zswap.entry_pool` resolves
    it, and the object cgroup by id too. The second-chance ``referenced`` bit lives with the
    LRU (:mod:`pyzswap.lru`).
    """

    type: int
    offset: int
    #: compressed length; ``PAGE_SIZE`` means stored as-is (incompressible)
    length: int
    pool_id: int
    #: the zsmalloc handle
    handle: int
    #: the object cgroup charged (``entry->objcg``); -1 when stored without a memcg
    objcg: int = -1
