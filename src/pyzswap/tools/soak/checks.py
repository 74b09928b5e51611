"""What the soak and the model-based stateful test share: rewriting a slot as the swap core
would, and the invariants that must hold whenever zswap is quiescent."""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING, Final

from ...compress import PAGE_SIZE
from ...folio import is_folio_zero_filled
from ...memcg import MemCgroup
from ...swap import SWP_TYPE_SHIFT, swp_offset, swp_type
from ...swapcore import SwapCore

if TYPE_CHECKING:
    from ..._types import BytesLike
    from ...zswap import ZswapEntry


#: Compressors the chaos thread switches between (deflate is slow: it is in, but rarely).
SOAK_COMPRESSORS: Final = ("lz4", "lzo", "zstd", "lz4hc", "deflate", "zstd-x2", "lz4-x2")
#: Writeback return values that are normal races (slot in the swap cache, entry gone).
_WRITEBACK_RACES: Final = (0, -errno.EEXIST, -errno.ENOMEM)
_MAX_SAMPLES: Final = 20
_STAMP: Final = struct.Struct("<IIQ")



# ---------------------------------------------------------------------------- shared helpers --
def rewrite_slot(core: SwapCore, swp: int, page: BytesLike,
                 memcg: MemCgroup | None = None) -> str:
    """Write a new version of one page to the slot it already owns; where it went.

    This is the kernel's redirtied swap-cache folio written out again to the same entry
    (``swap_writeout``, 6.18 order): the slot's swap cache is held throughout (so writeback of
    the slot waits or fails with -EEXIST), a zero page sets the zero bit, otherwise the zero
    bit is cleared and zswap gets the page, or the swap file if zswap refuses (zswap then
    erased the old entry). A failed write raises :class:`SwapIOError`; the slot then holds no
    data and the caller keeps the page (and should free the slot).

    For a zero page the kernel leaves an older zswap entry in place, shadowed by the zero bit;
    like ``SwapCore.swap_out``, the stale entry is dropped here instead (it could only ever be
    written back, never read).
    """
    table = core.table
    t, off = swp_type(swp), swp_offset(swp)
    device = table.device(t)
    while not table.add_to_swap_cache(swp, page):
        os.sched_yield()  # a writeback or swap-in of this slot is in flight
    try:
        if is_folio_zero_filled(page):
            device.zeromap_set(off, 1)
            core.zswap.invalidate(t, off)
            return "zero"
        device.zeromap_clear(off, 1)
        if core.zswap.store(page, t, off, memcg):
            return "zswap"
        table.write_page(swp, page)
        return "disk"
    finally:
        table.delete_from_swap_cache(swp)


def check_invariants(core: SwapCore) -> list[str]:
    """The accounting invariants of a quiescent zswap (no operation in flight); violations.

    * ``stored_pages`` equals the live entries, ``stored_incompressible_pages`` those stored
      as-is, and every entry is in exactly one tree slot and on exactly one LRU list (its
      memcg's), once;
    * ``pool_total_size`` equals the zsmalloc pages of the live pools, and each pool's zsmalloc
      holds exactly one object per entry;
    * every pool's reference count equals its entries plus one for the current role; a
      non-current pool without entries no longer exists;
    * every entry's swap slot is allocated, and no swap cache folio is left;
    * the root memcg's ``memory.zswap.current`` and ``zswapped`` equal the charged entries.
    """
    z = core.zswap
    bad: list[str] = []
    entries: list[ZswapEntry] = []
    for t in core.table.types():
        entries.extend(z.entries(t))
    st = z.stats()
    if st["stored_pages"] != len(entries):
        bad.append(f"stored_pages {st['stored_pages']} != {len(entries)} live entries")
    as_is = sum(1 for e in entries if e.length == PAGE_SIZE)
    if st["stored_incompressible_pages"] != as_is:
        bad.append(f"stored_incompressible_pages {st['stored_incompressible_pages']} != "
                   f"{as_is} entries stored as-is")
    pools = z.pools()
    current = pools[0] if pools else None
    zs_pages = sum(p.zs_pool.pages_allocated for p in pools)
    if st["pool_total_size"] != zs_pages * PAGE_SIZE:
        bad.append(f"pool_total_size {st['pool_total_size']} != {zs_pages} zsmalloc pages")
    per_pool: dict[int, int] = {}
    for e in entries:
        per_pool[e.pool_id] = per_pool.get(e.pool_id, 0) + 1
    ids = {p.id for p in pools}
    for pid in set(per_pool) - ids:
        bad.append(f"{per_pool[pid]} entries use pool #{pid}, which is not live")
    for p in pools:
        n = per_pool.get(p.id, 0)
        want = n + (1 if p is current else 0)
        if p.ref != want:
            bad.append(f"pool {p.tfm_name}#{p.id}: ref {p.ref} != {n} entries"
                       f"{' + current' if p is current else ''}")
        if p is not current and not n:
            bad.append(f"pool {p.tfm_name}#{p.id} is not current, has no entries, still lives")
        if p.killed == (p is current):
            bad.append(f"pool {p.tfm_name}#{p.id}: killed={p.killed} but current="
                       f"{p is current}")
        if p.destroyed or p.zs_pool.destroyed:
            bad.append(f"pool {p.tfm_name}#{p.id} is listed but destroyed")
        if p.zs_pool.objects_in_use != n:
            bad.append(f"pool {p.tfm_name}#{p.id}: zsmalloc holds {p.zs_pool.objects_in_use} "
                       f"objects for {n} entries")
    # Every entry on exactly one LRU list, its memcg's, under its slot's key.
    root = z.memcg_root
    seen: dict[ZswapEntry, int] = {}
    lru_items = 0
    for mid in z.lru.memcg_ids():
        for key, item, _ in z.lru.items(mid):
            lru_items += 1
            seen[item] = seen.get(item, 0) + 1
            want_mid = 0 if item.objcg < 0 or root is None else \
                root.obj_cgroup_memcg(item.objcg).id
            if mid != want_mid or key != (item.type << SWP_TYPE_SHIFT | item.offset):
                bad.append(f"entry {item.type}:{item.offset} listed under memcg {mid} key "
                           f"{key:#x}, expected memcg {want_mid}")
    if lru_items != len(entries):
        bad.append(f"the LRU lists {lru_items} items for {len(entries)} entries")
    for e in entries:
        if seen.get(e, 0) != 1:
            bad.append(f"entry {e.type}:{e.offset} is on the LRU {seen.get(e, 0)} times")
        device = core.table.device(e.type)
        if device.swap_count(e.offset) < 1:
            bad.append(f"entry {e.type}:{e.offset} outlived its swap slot")
    for t in core.table.types():
        cached = core.table.device(t).stats()["swap_cache_pages"]
        if cached:
            bad.append(f"swap type {t}: {cached} swap-cache folios left at a quiescent point")
    if root is not None:
        charged = [e for e in entries if e.objcg >= 0]
        nbytes = sum(e.length for e in charged)
        if root.zswap_current != nbytes or root.zswapped != len(charged):
            bad.append(f"root memcg charges {root.zswap_current} bytes / {root.zswapped} pages "
                       f"for {nbytes} bytes / {len(charged)} entries")
    return bad
