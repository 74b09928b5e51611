"""The "mm" around zswap: processes, RAM, memory cgroups, the anon LRU, reclaim, swap-in.

A model of Linux 6.18's memory management for anonymous memory, rule for rule, so that what
``pyzswap run`` predicts is what the kernel does (docs/ARCHITECTURE.md, "The mm model", lists
every rule with the kernel function it follows and where it simplifies). In short:

* **Pages exist from their first access** (``do_anonymous_page``): the process starts at its
  ``proc`` line, a page is allocated, charged and mapped (young and dirty: the first access
  writes its contents) on its first touch, and a page-table page is charged with the first
  page of each 512-page range (``__pte_alloc``).
* **Accounting** (``try_charge_memcg``): each page is charged to the process's memcg; a charge
  that would cross a limit reclaims from the group over it (``try_to_free_mem_cgroup_pages``,
  32 pages at a time), retries while reclaim makes progress and gives up after 16 fruitless
  tries (the kernel's OOM; the model counts ``memcg_oom`` and lets the charge through). Under
  cgroup v2 zswap's compressed bytes count against the limit; under v1 they do not.
  ``ram_pages`` is the machine's RAM: free pages are RAM minus resident pages, page tables and
  zswap's pool, with one zone's watermarks from ``vm.min_free_kbytes``; an allocation below the
  low watermark wakes kswapd, below min it reclaims directly.
* **The LRU** (``shrink_lruvec`` and friends): per memcg an inactive and an active anon list.
  New pages start inactive. Reclaim scans ``lru_size >> priority`` pages per list and priority
  (``get_scan_count``, with the swappiness/cost balance), from DEF_PRIORITY down to 0 until 32
  pages are reclaimed; a mapped page needs two references to be activated
  (``folio_check_references``: PTE young plus ``PG_referenced``); the active list is aged only
  when the inactive list is low or refaults were seen (``prepare_scan_control``'s
  ``may_deactivate``), and always by 32 pages after a pass when the inactive list is low.
* **The swap cache** (``shrink_folio_list``, ``do_swap_page``): a swapped-in page keeps its
  slot and stays clean unless zswap gave it (``zswap_load`` dirties it) or the fault was a
  write (the slot is freed); a clean swap-cache page is reclaimed without being written again;
  the slot is freed on ``vm_swap_full()``. A page written to the swap device stays in memory
  until its write ends and is freed by the next scan (``folio_rotate_reclaimable``).
* **Writeout** goes through :meth:`SwapCore.swap_writeout` (zero map, zswap, the device, or
  ``AOP_WRITEPAGE_ACTIVATE``). zswap's writeback folios join the LRU charged to the page's
  memcg, as ``zswap_writeback_entry``'s swap-cache folios do.
* **Workingset** (``workingset_eviction`` / ``workingset_refault``): reclaim leaves a shadow
  with the lruvec's non-resident age; a refault whose distance fits in the active list is
  activated (``workingset_refault_anon``, ``workingset_activate_anon``).
* **Swap readahead** (``swap_cluster_readahead``, ``swapin_nr_pages``): the slots around the
  faulting one, ``1 << page_cluster`` at most, adaptively (this machine's swap is on a
  rotational disk, so the kernel uses cluster readahead, not VMA readahead).
* **Shrinkers** (``shrink_slab``, ``do_shrink_slab``): zsmalloc's compaction shrinker is not
  memcg-aware, so it runs only in global reclaim (root memcg); zswap's shrinker is memcg-aware
  and runs for each group when ``shrinker_enabled``.
* **Background work on the model's clock**: zswap's pool-limit worker (``shrink_worker``) and
  kswapd run concurrently with the workload in the kernel; here they run on a deterministic
  clock that every operation advances by a nominal cost (:class:`Costs`), so a run is the same
  for the same seed and the worker keeps pace with the workload as the kernel's does.

Every fault is checked against the page's expected contents (the *truth*): the trace rules
(docs/WORKLOADS.md) say what each page holds after each access.

The model is one class, :class:`MemoryModel` (``model.py``: the page arrays, processes,
accesses and the background clock), assembled from one module per kernel file: ``memory.py``
(faults), ``swap_state.py`` (swap cache, readahead, slots), ``workingset.py``,
``memcontrol.py`` (charging, statistics, control files), ``page_alloc.py`` (watermarks),
``vmscan.py`` (reclaim, kswapd), ``shrinker.py`` (slab shrinkers) and ``madvise.py``. The
per-file classes are mypyc traits: the package is compiled to C when pyzswap is installed
(:mod:`pyzswap._compiled`; ``PYZSWAP_PURE_PYTHON=1`` runs this source instead).
"""

from .base import DEF_PRIORITY, SWAP_CLUSTER_MAX, Costs, LostPage, MmStats, OutOfMemory
from .model import MemoryModel
from .page_alloc import default_min_free_kbytes, watermarks

__all__ = ["DEF_PRIORITY", "SWAP_CLUSTER_MAX", "Costs", "LostPage", "MemoryModel", "MmStats",
           "OutOfMemory", "default_min_free_kbytes", "watermarks"]
