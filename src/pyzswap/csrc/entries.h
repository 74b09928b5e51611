/* The zswap entry table: per-swap-type trees and the memcg-aware LRU, packed in C.
 *
 * One record per stored page (struct zswap_entry), 32 bytes, in chunked slabs addressed by a
 * 32-bit entry id (0 = none). A swap type's tree maps offset -> entry id through lazily
 * allocated chunks of 4096 slots (the kernel's xarray plays this part: one word per slot). The
 * LRU is intrusive: prev/next entry ids live in the record, one list head per memcg id.
 *
 * Locking: none of its own. The table is only touched with the GIL held, and zswap calls every
 * mutation with Zswap._lock held, so a multi-step operation (a walk) is as atomic as zswap's
 * own flow needs. Nothing here calls into Python except to build result objects.
 *
 * Busy slots (et_slots_begin/end): the swap-cache folio lock's part. zswap's store, load and
 * writeback of a slot run with the slot marked busy, from their first look at the slot to
 * their last change of it; an operation that finds its slot busy is refused (SlotBusy, or
 * -EEXIST for writeback) instead of interleaving with the one in flight, and swapoff of a
 * type with busy slots is refused. The marks are few (one range per operation in flight) and
 * kept in a small array, changed under the GIL like everything else here.
 *
 * Every entry point checks its arguments and the object's lifetime (lifecycle.h): the C
 * functions below validate the slot and memcg id they are given, so no argument can make
 * them read or write outside the table.
 */
#ifndef PYZSWAP_ENTRIES_H
#define PYZSWAP_ENTRIES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define ET_MAX_TYPES 32
#define ET_TREE_CHUNK_SHIFT 12
#define ET_TREE_CHUNK (1u << ET_TREE_CHUNK_SHIFT)
#define ET_SLAB_SHIFT 16
#define ET_SLAB (1u << ET_SLAB_SHIFT)
#define ET_SWP_TYPE_SHIFT 58

/* memcg ids the LRU accepts: 0..ET_MAX_MEMCG_ID (one 32-byte list head per id up to the
 * largest seen, so the bound keeps that array under 128 MiB). The kernel's ids are 16 bits
 * (MEM_CGROUP_ID_MAX) but reused; pyzswap's memcg model never reuses one. */
#define ET_MAX_MEMCG_ID ((1u << 22) - 1)

#define ET_REFERENCED 1u
#define ET_ON_LRU 2u

struct et_rec {
    uint32_t handle;   /* zsmalloc handle */
    uint32_t offset;   /* swap offset */
    uint16_t length;   /* compressed length, 4096 = stored as-is */
    uint8_t type;      /* swap type */
    uint8_t flags;     /* ET_REFERENCED | ET_ON_LRU */
    uint32_t pool_id;
    int32_t objcg;     /* -1: not charged to a memcg */
    uint32_t lru;      /* memcg id of the list it was added to (resolve through redirects) */
    uint32_t prev, next; /* LRU links; next doubles as the free-list link */
};

struct et_tree {
    uint64_t nr_pages;
    uint64_t count;
    uint32_t nr_chunks;
    uint32_t **chunks;     /* NULL until a slot of the chunk is used */
    uint32_t *chunk_used;  /* entries per chunk, to free an emptied chunk */
};

struct et_list {
    uint32_t head, tail;
    uint64_t nr;
    int64_t redirect;      /* -1 while alive; the parent id once reparented */
    uint8_t exists;
};

/* One operation in flight on slots offset..offset+nr-1 of a swap type. */
struct et_busy {
    uint64_t offset;
    uint32_t nr;
    uint32_t type;
};

typedef struct {
    PyObject_HEAD
    PyObject *entry_type;  /* ZswapEntry (a tuple subclass of 6 ints); NULL before __init__ */
    struct et_rec **slabs;
    uint32_t nr_slabs;
    uint32_t next_unused;  /* ids below this have been handed out at least once */
    uint32_t free_head;
    uint64_t nr_entries;
    uint64_t total_length;
    struct et_tree *trees[ET_MAX_TYPES];
    struct et_list *lists;
    uint64_t nr_lists;     /* capacity of lists[] */
    uint64_t lru_items;
    struct et_busy *busy;  /* operations in flight (see the top) */
    uint32_t nr_busy, cap_busy;
} EntryTableObject;

extern PyTypeObject EntryTableType;

static inline struct et_rec *et_rec(EntryTableObject *t, uint32_t id)
{
    return &t->slabs[id >> ET_SLAB_SHIFT][id & (ET_SLAB - 1)];
}

/* The C-level operations the zswap state and the C flow use (entries.c). */
uint32_t et_lookup(EntryTableObject *t, unsigned type, uint64_t off);
/* Insert; returns the new id (0 and a Python exception on failure: MemoryError, or ValueError
 * for a slot outside a swapped-on type or a memcg id above ET_MAX_MEMCG_ID). *old receives
 * the id of the entry it replaced (unlinked from the tree and LRU but not yet released), or 0. */
uint32_t et_insert(EntryTableObject *t, unsigned type, uint64_t off, unsigned length,
                   uint32_t pool_id, uint32_t handle, int32_t objcg, uint32_t lru_id,
                   int referenced, uint32_t *old);
/* Unlink from the tree and LRU; the record stays valid until et_release. */
void et_erase(EntryTableObject *t, uint32_t id);
void et_release(EntryTableObject *t, uint32_t id);
PyObject *et_entry_obj(EntryTableObject *t, uint32_t id);
/* Mark slots offset..offset+nr-1 of a type busy: 0, or -1 with SlotBusy if one of them is
 * (ValueError if they are not all inside a swapped-on type, MemoryError). */
int et_slots_begin(EntryTableObject *t, unsigned type, uint64_t offset, uint32_t nr);
/* Drop the mark et_slots_begin made for exactly this range (no-op if there is none). */
void et_slots_end(EntryTableObject *t, unsigned type, uint64_t offset, uint32_t nr);
/* 1 if any of the slots is busy, else 0. */
int et_slots_busy(EntryTableObject *t, unsigned type, uint64_t offset, uint32_t nr);

int pyz_entries_add_types(PyObject *module);

#endif
