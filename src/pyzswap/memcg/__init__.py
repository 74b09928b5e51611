"""Memory cgroups (v2 or v1), as far as zswap and the mm use them: the tree, zswap's knobs,
charges, statistics.

One :class:`MemCgroup` tree per hierarchy: ``root = MemCgroup()`` is the root (id 0, path
``/``), ``a = root.create("a")``, ``b = a.create("b")``; ids are ints that are never reused.
``MemCgroup(version=1)`` makes a cgroup v1 memory hierarchy (see "cgroup v1" below).

Statistics are hierarchical, as in cgroup v2: a charge or an event counts in the group and in
every ancestor (the root included), so a parent's ``memory.zswap.current`` and ``memory.stat``
include its children's.

Charging (``mm/memcontrol.c``; docs/KERNEL_REFERENCE.md §3):

* :meth:`MemCgroup.may_zswap` / :func:`obj_cgroup_may_zswap` — the kernel's rule, exactly: for
  the group and each ancestor below the root, skip an unlimited one, refuse if the limit is 0,
  refuse if ``MEMCG_ZSWAP_B // PAGE_SIZE >= zswap.max`` (pages). The root has no limit.
* :meth:`MemCgroup.charge_zswap` / :meth:`MemCgroup.uncharge_zswap` (``obj_cgroup_charge_zswap``
  / ``obj_cgroup_uncharge_zswap``): compressed bytes and pages (``nr_pages``, 1 per entry, more
  for a batch). The charge is forced: it never fails (the limit is checked before compressing).
* :meth:`MemCgroup.count_event` (``count_objcg_events``): ``zswpin``, ``zswpout``, ``zswpwb``.
  zswap's state adds its events up and hands them over when flushed, as the kernel flushes its
  per-CPU counters when ``memory.stat`` is read: every read of the events and every removal
  flushes the registered sources first (:meth:`MemCgroup.register_event_source`).
* :meth:`MemCgroup.zswap_writeback_enabled` / :func:`mem_cgroup_zswap_writeback_enabled`: True
  when zswap is disabled (so pages can still reach the disk), else False if the group or any
  ancestor has ``memory.zswap.writeback`` 0.

Object cgroups and removal (``memcg_reparent_objcgs``): every group owns an object cgroup whose
id equals the group's id. zswap records the objcg id in its entry (:meth:`MemCgroup.obj_cgroup`
gives the id to charge for a group: its own, or the nearest online ancestor's once it is gone)
and resolves it back with :meth:`MemCgroup.obj_cgroup_memcg` when it uncharges, counts an event
or picks the LRU list. :meth:`MemCgroup.remove` (rmdir) takes the group offline the way
``mem_cgroup_css_offline`` does: refused for the root or while it has children
(:class:`CgroupBusy`, EBUSY); allowed with charges. It unlinks the group (iteration never
returns it again), advances every zswap shrink cursor that points at it
(``zswap_memcg_offline_cleanup``), hands its object cgroups to the parent — so the entries it
charged are uncharged from the parent later, whose hierarchical totals already contain them —
and then runs the offline hooks (:meth:`MemCgroup.register_offline_hook`; zswap registers
``ListLru.reparent`` there: ``memcg_reparent_list_lrus``). The removed object keeps its last
counters (frozen; the kernel's are invisible once the directory is gone) and refuses
``read``/``write``.

Iteration: :func:`mem_cgroup_iter` is the kernel's pre-order round robin over online groups
(``prev=None`` gives the root, the last group gives None), and :class:`ZswapShrinkCursor` is
``zswap_next_shrink`` with ``zswap_shrink_lock``: :meth:`ZswapShrinkCursor.next` is the
``shrink_worker`` step that advances it, and group removal moves it on automatically.

cgroup v1 (``MemCgroup(version=1)``, the legacy memory controller): zswap is not charged to the
memcg at all (``obj_cgroup_may_zswap`` allows every store, ``obj_cgroup_charge_zswap`` and
``obj_cgroup_uncharge_zswap`` return at once unless ``cgroup_subsys_on_dfl``), so
``zswap_current`` and ``zswapped`` stay 0 (and zswap's shrinker, which scales by them, finds
nothing to do for a group) and the limit bounds the group's own pages only. The files are v1's:
``memory.limit_in_bytes`` (the limit: :attr:`MemCgroup.memory_max`), ``memory.usage_in_bytes``
(read-only), ``memory.swappiness`` (0..200, per group, inherited from the parent at creation as
``mem_cgroup_css_alloc`` does; :attr:`MemCgroup.swappiness`) and ``memory.stat``; there are no
``memory.zswap.*`` files and writeback is always enabled. zswap's events are still counted per
group (``count_objcg_events`` does not depend on the version).

Deviation: charges to the root are counted in the root (the kernel gives root tasks no object
cgroup, so their zswap usage shows only in the global statistics).

Locking: ``cgroup_mutex`` (per hierarchy) serialises create, remove and knob writes; a lock per
shrink cursor; ``stat_lock`` (per hierarchy) guards the counters and object-cgroup ownership and
is innermost — charges, uncharges and events take only it. Lock order: ``cgroup_mutex`` →
cursor lock → offline hooks (zswap's lock → LRU lock) → ``stat_lock``. Reads of knobs and
counters, ``may_zswap`` and iteration take no lock (like ``READ_ONCE`` and RCU walks). Callers
may hold zswap's lock or the LRU lock while charging or counting.
The cgroupfs files, their values and ``memory.reclaim`` are described in
:mod:`pyzswap.memcg._files`; the parsing of values in :mod:`pyzswap.memcg._parse`; the tree,
object cgroups and charging in :mod:`pyzswap.memcg.cgroup`; the walks in
:mod:`pyzswap.memcg._iter`. Everything public is importable from ``pyzswap.memcg``.
"""

from __future__ import annotations

from ._files import (
    DEFAULT_SWAPPINESS,
    MAX_SWAPPINESS,
    MEMCG_FILES,
    MEMCG_V1_FILES,
    MEMCG_WRITE_ONLY,
    MIN_SWAPPINESS,
    ReclaimIncomplete,
)
from ._iter import ZswapShrinkCursor, mem_cgroup_iter
from ._parse import PAGE_COUNTER_MAX, memparse, page_counter_memparse
from .cgroup import (
    MEMCG_EVENTS,
    CgroupBusy,
    MemCgroup,
    Reclaimer,
    ZswapMemcgHooks,
    charge_zswap,
    count_event,
    mem_cgroup_zswap_writeback_enabled,
    obj_cgroup_may_zswap,
    uncharge_zswap,
)

__all__ = [
    "DEFAULT_SWAPPINESS",
    "MAX_SWAPPINESS",
    "MEMCG_EVENTS",
    "MEMCG_FILES",
    "MEMCG_V1_FILES",
    "MEMCG_WRITE_ONLY",
    "MIN_SWAPPINESS",
    "PAGE_COUNTER_MAX",
    "CgroupBusy",
    "MemCgroup",
    "ReclaimIncomplete",
    "Reclaimer",
    "ZswapMemcgHooks",
    "ZswapShrinkCursor",
    "charge_zswap",
    "count_event",
    "mem_cgroup_iter",
    "mem_cgroup_zswap_writeback_enabled",
    "memparse",
    "obj_cgroup_may_zswap",
    "page_counter_memparse",
    "uncharge_zswap",
]
