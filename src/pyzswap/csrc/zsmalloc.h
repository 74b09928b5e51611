/*
 * zsmalloc in C: Linux 6.18's mm/zsmalloc.c allocator with the kernel's accounting, for pyzswap.
 *
 * Plain C, no Python API: the Python type (zsmalloc_py.c) and any other C file call it. Memory
 * comes from PyMem_RawMalloc/RawCalloc/RawRealloc/RawFree only (thread-safe without the GIL and
 * seen by tracemalloc); every zspage is ONE contiguous block of exactly pages_per_zspage * 4096
 * bytes, so every object is one pointer + length even when it straddles a 4 KiB boundary.
 *
 * Behaviour is identical, call for call, to the reference Python implementation
 * (pyzswap.reference.zsmalloc.PyZsPool): the same size classes (zs_create_pool), the same placement
 * (fullest non-full zspage first, most recently inserted within a fullness group, LIFO slot
 * reuse), the same handles (small positive integers, freed numbers reused LIFO), the same
 * compaction (__zs_compact) and the same spare-zspage reuse (ZS_ZSPAGE_CACHE_PAGES, not counted
 * in pages_allocated). As in the kernel, a non-huge object's 8-byte header holds its handle
 * (tagged) while allocated and the link to the next free slot while free (link_free); a huge
 * zspage keeps its one handle in the zspage descriptor.
 *
 * LOCKING. One mutex per pool.
 *   - Functions named *_locked require the caller to hold the mutex (zs_lock/zs_trylock).
 *   - zs_create, zs_destroy and zs_compact take no lock / take it themselves as documented.
 *   - The zs_pages_allocated-style counters are lock-free relaxed atomic reads (a snapshot).
 *   - Pointers returned by zs_obj_ptr_locked are valid only while the mutex stays held:
 *     compaction (which runs under the mutex) may move any object once it is released. A
 *     reader that decompresses without the mutex pins the object's zspage instead
 *     (zs_obj_read_begin_locked / zs_obj_read_end, the kernel's zspage read lock): compaction,
 *     the free of the zspage's last object and shutdown wait for its readers.
 *   - Nothing in this file ever calls into Python. A caller holding the GIL must never BLOCK on
 *     the mutex: zs_trylock() first, and if busy release the GIL around zs_lock() (the Python
 *     type does exactly this), else a thread holding the mutex and waiting for the GIL deadlocks.
 * Error returns are negative errnos; -ESHUTDOWN means the pool was shut down (zs_shutdown_locked).
 *
 * From C code holding the GIL, on the pool of a Python ZsPool (zsmalloc_py.h gives the
 * struct zs_pool * of a ZsPool object and raises the Python type's exact errors):
 *
 *     uint32_t h; int rc;
 *     if (zs_trylock(pool) == 0) {
 *         rc = zs_malloc_write_locked(pool, buf, len, &h);
 *         zs_unlock(pool);
 *     } else {
 *         Py_BEGIN_ALLOW_THREADS
 *         zs_lock(pool);
 *         rc = zs_malloc_write_locked(pool, buf, len, &h);
 *         zs_unlock(pool);
 *         Py_END_ALLOW_THREADS
 *     }
 *     if (rc) return pyz_zspool_malloc_error(pool_obj, rc, len);
 */
#ifndef PYZSWAP_ZSMALLOC_H
#define PYZSWAP_ZSMALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "consts.h"

#define ZS_PAGE_SIZE PAGE_SIZE
#define ZS_ALIGN 8
#define ZS_HANDLE_SIZE 8
#define ZS_MIN_ALLOC_SIZE 32
#define ZS_MAX_ALLOC_SIZE ZS_PAGE_SIZE
#define ZS_SIZE_CLASS_DELTA 16
#define ZS_SIZE_CLASSES 255          /* raw class indices 0..254 */
#define ZS_MIN_CHAIN_SIZE 4          /* CONFIG_ZSMALLOC_CHAIN_SIZE range */
#define ZS_MAX_CHAIN_SIZE 16
#define ZS_DEFAULT_CHAIN_SIZE 8
#define ZS_ZSPAGE_CACHE_PAGES 4096   /* freed zspage memory a pool keeps for reuse */
#define ZS_BLOCK_CACHE_PAGES 16384   /* freed zspage memory the process keeps (64 MiB) */
#define ZS_NR_FULLNESS_GROUPS 12     /* 0 empty, 1..10 by tenths (ratio/10 + 1), 11 full */
#define ZS_INUSE_RATIO_0 0
#define ZS_INUSE_RATIO_10 1
#define ZS_INUSE_RATIO_99 10
#define ZS_INUSE_RATIO_100 11

struct zs_pool;

/* One size class as zs_create_pool creates it (immutable for the pool's life). */
struct zs_class_info {
    int index;              /* created class this raw index resolves to (largest of its run) */
    int size;               /* object size including the 8-byte handle header */
    int pages_per_zspage;
    int objs_per_zspage;
    int huge;               /* 1 page / 1 object: no in-object header */
};

/* One row of debugfs zsmalloc/<pool>/classes, for a created class. */
struct zs_class_stat {
    struct zs_class_info info;
    long zspages, obj_allocated, obj_used, pages_used;
    long freeable;                         /* zs_can_compact(class), in pages */
    long fullness[ZS_NR_FULLNESS_GROUPS];  /* zspages per fullness group */
};

/* ---- class table (pure functions, no pool) ---- */
/* Kernel calculate_zspage_chain_size(); 0 if chain_size is out of 4..16 or class_size <= 0. */
int zs_calculate_zspage_chain_size(int class_size, int chain_size);
/* Kernel get_size_class_index(size) for a chunk size (object + header), capped at 254. */
int zs_class_index_for(int chunk_size);
/* Fill table[ZS_SIZE_CLASSES] for a chain size; returns huge_class_size, or -EINVAL. */
int zs_build_class_table(int chain_size, struct zs_class_info table[ZS_SIZE_CLASSES]);
/* get_fullness_group(): 0 if inuse == 0, 11 if inuse == objs, else (100*inuse/objs)/10 + 1. */
int zs_fullness_group(int inuse, int objs);

/* ---- pool lifetime ---- */
/* A new, empty pool. max_pages < 0: no limit; else zspage allocation fails with -ENOMEM once
 * pages_allocated would exceed it. NULL with errno EINVAL (chain size) or ENOMEM. */
struct zs_pool *zs_create(int chain_size, long max_pages);
/* Free the pool and everything in it. No other thread may use it any more (no lock taken). */
void zs_destroy(struct zs_pool *pool);
/* The process-wide cache of freed zspage memory (see zsmalloc.c): pages it holds now, and
 * free them all (returns how many pages it held). Thread-safe, no GIL needed. */
long zs_block_cache_pages(void);
long zs_block_cache_drain(void);
/* zs_destroy_pool's effect while others may still hold a pointer: free every zspage, handle
 * and spare block; the pool struct stays (until zs_destroy) and every later operation
 * returns -ESHUTDOWN (allocation, free, object access, compaction). Idempotent. */
void zs_shutdown_locked(struct zs_pool *pool);
int zs_is_shutdown(const struct zs_pool *pool);   /* lock-free */

/* ---- the pool mutex ---- */
void zs_lock(struct zs_pool *pool);
int zs_trylock(struct zs_pool *pool);   /* 0 if acquired, else nonzero (busy) */
void zs_unlock(struct zs_pool *pool);

/* ---- objects (mutex held) ---- */
/* zs_malloc(len) + zs_obj_write(src, len). src NULL: allocate only (contents unspecified:
 * zspage memory is never zeroed, as the kernel's zsmalloc pages are not). On success *handle is a positive
 * integer and 0 is returned; on error nothing changed: -EINVAL (len == 0), -ENOSPC
 * (len > 4096), -ENOMEM (max_pages reached or out of memory), -ESHUTDOWN. */
int zs_malloc_write_locked(struct zs_pool *pool, const void *src, unsigned len,
                           uint32_t *handle);
/* What zs_malloc_write_locked(len) would fail with before touching data: 0 if it would
 * succeed, -EINVAL, -ENOSPC, -ENOMEM (max_pages only; memory is not probed) or -ESHUTDOWN. */
int zs_malloc_check_locked(const struct zs_pool *pool, unsigned len);
/* zs_free: 0, -EINVAL (not a live handle: never allocated or already freed) or -ESHUTDOWN.
 * A zspage losing its last object is freed at once (to the spare cache if it has room). */
int zs_free_locked(struct zs_pool *pool, uint32_t handle);
/* The object's bytes (after the header) and, if size != NULL, its allocated length; NULL if
 * the handle is not live (or the pool is shut down). Valid while the mutex is held. The
 * caller may write up to *size bytes through the pointer (zs_obj_write). */
unsigned char *zs_obj_ptr_locked(struct zs_pool *pool, uint32_t handle, unsigned *size);
/* zs_obj_read_begin(): as zs_obj_ptr_locked, but the pointer stays valid after the mutex is
 * dropped, until zs_obj_read_end(*pin): the object's zspage is pinned, so neither compaction
 * nor freeing its last object releases or moves it (they wait, holding the mutex, until it
 * is unpinned). Read only; any number of readers at once. zs_obj_read_end takes no lock and
 * must be called exactly once per successful begin; between the two the reader must not wait
 * for the mutex, or for anything a thread holding it may wait for. */
unsigned char *zs_obj_read_begin_locked(struct zs_pool *pool, uint32_t handle, unsigned *size,
                                        void **pin);
void zs_obj_read_end(void *pin);

/* ---- accounting (lock-free relaxed reads) ---- */
long zs_pages_allocated(const struct zs_pool *pool);   /* zs_get_total_pages() */
long zs_objects_in_use(const struct zs_pool *pool);
long zs_pages_compacted(const struct zs_pool *pool);
/* Migration seqcount: odd while compaction may move objects, +2 per compaction pass. */
unsigned long zs_migrate_seq(const struct zs_pool *pool);
int zs_chain_size(const struct zs_pool *pool);
int zs_huge_class_size(const struct zs_pool *pool);   /* zs_huge_class_size() */
long zs_max_pages(const struct zs_pool *pool);        /* < 0: none */
/* The class a zs_malloc(len) object (1..4096, no header) lands in; -EINVAL/-ENOSPC. */
int zs_class_for_len(const struct zs_pool *pool, unsigned len, struct zs_class_info *out);
/* Raw index 0..254 -> its class; -EINVAL for a bad index. */
int zs_class_info(const struct zs_pool *pool, int raw_index, struct zs_class_info *out);
int zs_nr_classes(const struct zs_pool *pool);   /* created classes (119 for chain 8) */

/* ---- compaction ---- */
/* zs_can_compact() of the class a raw index 0..254 resolves to (0 if shut down); -EINVAL. */
long zs_can_compact_locked(const struct zs_pool *pool, int raw_index);
long zs_compactable_pages_locked(const struct zs_pool *pool);   /* Σ zs_can_compact */
/* compaction_in_progress: zs_compact_begin returns 1 if this caller now owns compaction, 0 if
 * another compaction runs (then do not compact: zs_compact returns 0 in that case). */
int zs_compact_begin(struct zs_pool *pool);
void zs_compact_end(struct zs_pool *pool);
/* One full pass (classes from largest to smallest; requires the mutex AND zs_compact_begin):
 * pages freed, or -ESHUTDOWN. Bumps migrate_seq to odd at the start and to even at the end. */
long zs_compact_locked(struct zs_pool *pool);
/* begin + lock + compact_locked + unlock + end: 0 at once if another compaction runs. Blocks
 * on the mutex: never call it while holding the GIL. */
long zs_compact(struct zs_pool *pool);

/* ---- introspection (mutex held) ---- */
/* One row per created class in ascending index order into out[ZS_SIZE_CLASSES]; returns
 * the number of rows (zero counts once shut down). */
int zs_class_stats_locked(const struct zs_pool *pool, struct zs_class_stat *out);
/* Debug: (created class index, zspage serial, slot) of a live handle; 0 or -EINVAL/-ESHUTDOWN. */
int zs_locate_locked(const struct zs_pool *pool, uint32_t handle, int *class_index,
                     uint32_t *serial, int *slot);
/* Debug: serials of fullness list `group` (1..10) of the class of a raw index, head first;
 * writes at most max, returns the list's full length (or -EINVAL). */
long zs_fullness_list_locked(const struct zs_pool *pool, int raw_index, int group,
                             uint32_t *serials, long max);
/* Debug: check every structural invariant; NULL if all hold, else msg (a description of the
 * first failure, written into msg[msglen]). */
const char *zs_check_invariants_locked(const struct zs_pool *pool, char *msg, size_t msglen);

#endif
