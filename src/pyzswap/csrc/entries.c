/* The zswap entry table (see entries.h): trees and LRU without a Python object per entry. */
#include "entries.h"

#include <string.h>

#include "consts.h"
#include "lifecycle.h"

#define CHECK_READY(self)                                  \
    do {                                                   \
        if (!(self)->entry_type)                           \
            return pyz_err_uninit("EntryTable");           \
    } while (0)

static int as_int(PyObject *o)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT32_MIN || v > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "value out of range");
        return -1;
    }
    return (int)v;
}

/* ---------------------------------------------------------------- records ---------------- */

static uint32_t alloc_id(EntryTableObject *t)
{
    if (t->free_head) {
        uint32_t id = t->free_head;
        t->free_head = et_rec(t, id)->next;
        return id;
    }
    uint32_t id = t->next_unused;
    if (id == UINT32_MAX) {
        PyErr_SetString(PyExc_MemoryError, "zswap entry table: 2^32 entries");
        return 0;
    }
    uint32_t slab = id >> ET_SLAB_SHIFT;
    if (slab >= t->nr_slabs) {
        struct et_rec **slabs = PyMem_RawRealloc(t->slabs, (size_t)(slab + 1) * sizeof(*slabs));
        if (!slabs) {
            PyErr_NoMemory();
            return 0;
        }
        t->slabs = slabs;
        slabs[slab] = PyMem_RawMalloc((size_t)ET_SLAB * sizeof(struct et_rec));
        if (!slabs[slab]) {
            PyErr_NoMemory();
            return 0;
        }
        t->nr_slabs = slab + 1;
    }
    t->next_unused = id + 1;
    return id;
}

void et_release(EntryTableObject *t, uint32_t id)
{
    struct et_rec *r = et_rec(t, id);
    r->flags = 0;
    r->next = t->free_head;
    t->free_head = id;
}

/* ---------------------------------------------------------------- trees ------------------ */

static inline uint32_t *slot_ptr(struct et_tree *tr, uint64_t off, int create)
{
    uint32_t c = (uint32_t)(off >> ET_TREE_CHUNK_SHIFT);
    uint32_t *chunk = tr->chunks[c];
    if (!chunk) {
        if (!create)
            return NULL;
        chunk = PyMem_RawCalloc(ET_TREE_CHUNK, sizeof(uint32_t));
        if (!chunk) {
            PyErr_NoMemory();
            return NULL;
        }
        tr->chunks[c] = chunk;
    }
    return &chunk[off & (ET_TREE_CHUNK - 1)];
}

uint32_t et_lookup(EntryTableObject *t, unsigned type, uint64_t off)
{
    struct et_tree *tr = type < ET_MAX_TYPES ? t->trees[type] : NULL;
    if (!tr || off >= tr->nr_pages)
        return 0;
    uint32_t *slot = slot_ptr(tr, off, 0);
    return slot ? *slot : 0;
}

/* ---------------------------------------------------------------- LRU -------------------- */

static struct et_list *list_at(EntryTableObject *t, uint64_t id, int create)
{
    if (id >= t->nr_lists) {
        if (!create)
            return NULL;
        if (id > ET_MAX_MEMCG_ID) {
            PyErr_Format(PyExc_ValueError, "memcg id %llu is above %u",
                         (unsigned long long)id, ET_MAX_MEMCG_ID);
            return NULL;
        }
        uint64_t n = t->nr_lists ? t->nr_lists : 16;
        while (n <= id)
            n *= 2;
        struct et_list *l = PyMem_RawRealloc(t->lists, n * sizeof(*l));
        if (!l) {
            PyErr_NoMemory();
            return NULL;
        }
        for (uint64_t i = t->nr_lists; i < n; i++) {
            l[i].head = l[i].tail = 0;
            l[i].nr = 0;
            l[i].redirect = -1;
            l[i].exists = 0;
        }
        t->lists = l;
        t->nr_lists = n;
    }
    struct et_list *l = &t->lists[id];
    if (create)
        l->exists = 1;
    return l;
}

/* The live list an id names now (a dead id's list went to its parent), with path halving. */
static uint64_t resolve(EntryTableObject *t, uint64_t id)
{
    while (id < t->nr_lists && t->lists[id].redirect >= 0) {
        int64_t up = t->lists[id].redirect;
        if ((uint64_t)up < t->nr_lists && t->lists[up].redirect >= 0)
            t->lists[id].redirect = t->lists[up].redirect;
        id = (uint64_t)up;
    }
    return id;
}

static void lru_unlink(EntryTableObject *t, uint32_t id)
{
    struct et_rec *r = et_rec(t, id);
    if (!(r->flags & ET_ON_LRU))
        return;
    uint64_t lid = resolve(t, r->lru);
    r->lru = (uint32_t)lid;
    struct et_list *l = &t->lists[lid];
    if (r->prev)
        et_rec(t, r->prev)->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        et_rec(t, r->next)->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = 0;
    r->flags &= (uint8_t)~ET_ON_LRU;
    l->nr--;
    t->lru_items--;
}

static void lru_link_tail(EntryTableObject *t, struct et_list *l, uint64_t lid, uint32_t id)
{
    struct et_rec *r = et_rec(t, id);
    r->lru = (uint32_t)lid;
    r->next = 0;
    r->prev = l->tail;
    if (l->tail)
        et_rec(t, l->tail)->next = id;
    else
        l->head = id;
    l->tail = id;
    r->flags |= ET_ON_LRU;
    l->nr++;
    t->lru_items++;
}

/* ---------------------------------------------------------------- insert / erase --------- */

void et_erase(EntryTableObject *t, uint32_t id)
{
    struct et_rec *r = et_rec(t, id);
    struct et_tree *tr = t->trees[r->type];
    uint32_t c = r->offset >> ET_TREE_CHUNK_SHIFT;
    tr->chunks[c][r->offset & (ET_TREE_CHUNK - 1)] = 0;
    if (!--tr->chunk_used[c]) {
        PyMem_RawFree(tr->chunks[c]);
        tr->chunks[c] = NULL;
    }
    tr->count--;
    t->nr_entries--;
    t->total_length -= r->length;
    lru_unlink(t, id);
}

uint32_t et_insert(EntryTableObject *t, unsigned type, uint64_t off, unsigned length,
                   uint32_t pool_id, uint32_t handle, int32_t objcg, uint32_t lru_id,
                   int referenced, uint32_t *old)
{
    struct et_tree *tr = type < ET_MAX_TYPES ? t->trees[type] : NULL;
    *old = 0;
    /* revalidated here, under the caller's lock: the type may have been swapped off (and on
     * again, smaller) since the caller looked */
    if (!tr || off >= tr->nr_pages) {
        PyErr_Format(PyExc_ValueError, "swap slot %u:%llu is not in a swapped-on type", type,
                     (unsigned long long)off);
        return 0;
    }
    if (lru_id > ET_MAX_MEMCG_ID) {
        PyErr_Format(PyExc_ValueError, "memcg id %u is above %u", lru_id, ET_MAX_MEMCG_ID);
        return 0;
    }
    struct et_list *l = list_at(t, resolve(t, lru_id), 1);
    if (!l)
        return 0;
    uint64_t lid = (uint64_t)(l - t->lists);
    uint32_t *slot = slot_ptr(tr, off, 1);
    if (!slot)
        return 0;
    uint32_t id = alloc_id(t);
    if (!id) {
        /* an empty chunk just allocated stays: harmless, reused by the next insert */
        return 0;
    }
    if (*slot) {
        *old = *slot;
        et_erase(t, *old);
        /* et_erase may have freed the chunk if it held only the old entry */
        slot = slot_ptr(tr, off, 1);
        if (!slot) {
            et_release(t, id);
            return 0;
        }
    }
    struct et_rec *r = et_rec(t, id);
    r->handle = handle;
    r->offset = (uint32_t)off;
    r->length = (uint16_t)length;
    r->type = (uint8_t)type;
    r->flags = referenced ? ET_REFERENCED : 0;
    r->pool_id = pool_id;
    r->objcg = objcg;
    *slot = id;
    tr->chunk_used[off >> ET_TREE_CHUNK_SHIFT]++;
    tr->count++;
    t->nr_entries++;
    t->total_length += length;
    lru_link_tail(t, l, lid, id);
    return id;
}

/* ---------------------------------------------------------------- Python glue ------------ */

PyObject *et_entry_obj(EntryTableObject *t, uint32_t id)
{
    struct et_rec *r = et_rec(t, id);
    PyTypeObject *tp = (PyTypeObject *)t->entry_type;
    PyObject *e = tp->tp_alloc(tp, 6);
    if (!e)
        return NULL;
    PyObject *v[6] = {PyLong_FromUnsignedLong(r->type), PyLong_FromUnsignedLong(r->offset),
                      PyLong_FromUnsignedLong(r->length), PyLong_FromUnsignedLong(r->pool_id),
                      PyLong_FromUnsignedLong(r->handle), PyLong_FromLong(r->objcg)};
    int bad = 0;
    for (int i = 0; i < 6; i++) {
        if (!v[i])
            bad = 1;
        PyTuple_SET_ITEM(e, i, v[i]);
    }
    if (bad) {
        Py_DECREF(e);
        return NULL;
    }
    return e;
}

static PyObject *key_obj(struct et_rec *r)
{
    return PyLong_FromUnsignedLongLong(((unsigned long long)r->type << ET_SWP_TYPE_SHIFT) |
                                       r->offset);
}

static int parse_type(EntryTableObject *t, int type, struct et_tree **tr)
{
    if (type < 0 || type >= ET_MAX_TYPES || !t->trees[type]) {
        PyErr_Format(PyExc_ValueError, "swap type %d is not on", type);
        return -1;
    }
    *tr = t->trees[type];
    return 0;
}

static int parse_slot(EntryTableObject *t, int type, long long off, struct et_tree **tr)
{
    if (parse_type(t, type, tr) < 0)
        return -1;
    if (off < 0 || (unsigned long long)off >= (*tr)->nr_pages) {
        PyErr_Format(PyExc_ValueError, "swap offset %lld is outside type %d", off, type);
        return -1;
    }
    return 0;
}

static int entry_matches(struct et_rec *r, PyObject *entry)
{
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 6)
        return 0;
    long long v[6];
    for (int i = 0; i < 6; i++) {
        v[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, i));
        if (v[i] == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
    }
    return v[0] == r->type && v[1] == r->offset && v[2] == r->length && v[3] == r->pool_id &&
           v[4] == r->handle && v[5] == r->objcg;
}

static int et_init(EntryTableObject *self, PyObject *args, PyObject *kw)
{
    PyObject *entry_type;
    if (!PyArg_ParseTuple(args, "O:EntryTable", &entry_type))
        return -1;
    if (!PyType_Check(entry_type) ||
        !PyType_IsSubtype((PyTypeObject *)entry_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "EntryTable: the entry type must be a tuple subclass");
        return -1;
    }
    if (self->entry_type)
        return pyz_err_init_twice("EntryTable");
    self->entry_type = Py_NewRef(entry_type);
    self->next_unused = 1; /* id 0 means "none" */
    return 0;
}

static void tree_free(struct et_tree *tr)
{
    if (!tr)
        return;
    for (uint32_t c = 0; c < tr->nr_chunks; c++)
        PyMem_RawFree(tr->chunks[c]);
    PyMem_RawFree(tr->chunks);
    PyMem_RawFree(tr->chunk_used);
    PyMem_RawFree(tr);
}

static void et_dealloc(EntryTableObject *self)
{
    for (int i = 0; i < ET_MAX_TYPES; i++)
        tree_free(self->trees[i]);
    for (uint32_t s = 0; s < self->nr_slabs; s++)
        PyMem_RawFree(self->slabs[s]);
    PyMem_RawFree(self->slabs);
    PyMem_RawFree(self->lists);
    PyMem_RawFree(self->busy);
    Py_XDECREF(self->entry_type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *et_swapon(EntryTableObject *self, PyObject *args)
{
    int type;
    long long nr_pages;
    CHECK_READY(self);
    if (!PyArg_ParseTuple(args, "iL:swapon", &type, &nr_pages))
        return NULL;
    if (type < 0 || type >= ET_MAX_TYPES || nr_pages <= 0 || nr_pages > (1LL << 32)) {
        PyErr_Format(PyExc_ValueError, "swapon: type %d with %lld pages is out of range",
                     type, nr_pages);
        return NULL;
    }
    if (self->trees[type]) {
        PyErr_Format(PyExc_ValueError, "swap type %d is already on", type);
        return NULL;
    }
    struct et_tree *tr = PyMem_RawCalloc(1, sizeof(*tr));
    if (!tr)
        return PyErr_NoMemory();
    tr->nr_pages = (uint64_t)nr_pages;
    tr->nr_chunks = (uint32_t)((nr_pages + ET_TREE_CHUNK - 1) >> ET_TREE_CHUNK_SHIFT);
    tr->chunks = PyMem_RawCalloc(tr->nr_chunks, sizeof(uint32_t *));
    tr->chunk_used = PyMem_RawCalloc(tr->nr_chunks, sizeof(uint32_t));
    if (!tr->chunks || !tr->chunk_used) {
        tree_free(tr);
        return PyErr_NoMemory();
    }
    self->trees[type] = tr;
    Py_RETURN_NONE;
}

static PyObject *et_swapoff(EntryTableObject *self, PyObject *args)
{
    int type;
    struct et_tree *tr;
    CHECK_READY(self);
    if (!PyArg_ParseTuple(args, "i:swapoff", &type) || parse_type(self, type, &tr) < 0)
        return NULL;
    for (uint32_t i = 0; i < self->nr_busy; i++) {
        if (self->busy[i].type == (uint32_t)type) {
            if (pyz_load_zswap_errors() == 0)
                PyErr_Format(pyz_SlotBusy, "swapoff of type %d while an operation on its "
                             "slot %llu is in flight", type,
                             (unsigned long long)self->busy[i].offset);
            return NULL;
        }
    }
    if (tr->count) {
        PyErr_Format(PyExc_ValueError, "swapoff of type %d with %llu entries", type,
                     (unsigned long long)tr->count);
        return NULL;
    }
    tree_free(tr);
    self->trees[type] = NULL;
    Py_RETURN_NONE;
}

static PyObject *et_get(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct et_tree *tr;
    CHECK_READY(self);
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "get(type, offset)");
        return NULL;
    }
    int type = as_int(args[0]);
    long long off = PyLong_AsLongLong(args[1]);
    if (PyErr_Occurred() || parse_slot(self, type, off, &tr) < 0)
        return NULL;
    uint32_t id = et_lookup(self, (unsigned)type, (uint64_t)off);
    if (!id)
        Py_RETURN_NONE;
    return et_entry_obj(self, id);
}

static PyObject *et_py_insert(EntryTableObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"type", "offset", "length", "pool_id", "handle", "objcg",
                             "lru_id", "referenced", NULL};
    int type, objcg, referenced = 1;
    long long off;
    unsigned int length, pool_id, handle, lru_id;
    struct et_tree *tr;
    CHECK_READY(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iLIIIiI|p:insert", kwlist, &type, &off, &length,
                                     &pool_id, &handle, &objcg, &lru_id, &referenced))
        return NULL;
    if (parse_slot(self, type, off, &tr) < 0)
        return NULL;
    if (length == 0 || length > PAGE_SIZE) {
        PyErr_Format(PyExc_ValueError, "entry length %u is not 1..%d", length, PAGE_SIZE);
        return NULL;
    }
    uint32_t old;
    if (!et_insert(self, (unsigned)type, (uint64_t)off, length, pool_id, handle, objcg, lru_id,
                   referenced, &old))
        return NULL;
    if (!old)
        Py_RETURN_NONE;
    PyObject *e = et_entry_obj(self, old);
    et_release(self, old);
    return e;
}

static PyObject *et_pop(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct et_tree *tr;
    CHECK_READY(self);
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "pop(type, offset[, entry])");
        return NULL;
    }
    int type = as_int(args[0]);
    long long off = PyLong_AsLongLong(args[1]);
    if (PyErr_Occurred() || parse_slot(self, type, off, &tr) < 0)
        return NULL;
    uint32_t id = et_lookup(self, (unsigned)type, (uint64_t)off);
    if (!id || (nargs == 3 && !entry_matches(et_rec(self, id), args[2])))
        Py_RETURN_NONE;
    PyObject *e = et_entry_obj(self, id);
    if (!e)
        return NULL;
    et_erase(self, id);
    et_release(self, id);
    return e;
}

static PyObject *et_count(EntryTableObject *self, PyObject *arg)
{
    struct et_tree *tr;
    CHECK_READY(self);
    int type = as_int(arg);
    if ((type == -1 && PyErr_Occurred()) || parse_type(self, type, &tr) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(tr->count);
}

static PyObject *et_values(EntryTableObject *self, PyObject *arg)
{
    struct et_tree *tr;
    CHECK_READY(self);
    int type = as_int(arg);
    if ((type == -1 && PyErr_Occurred()) || parse_type(self, type, &tr) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    for (uint32_t c = 0; c < tr->nr_chunks; c++) {
        uint32_t *chunk = tr->chunks[c];
        if (!chunk)
            continue;
        for (uint32_t i = 0; i < ET_TREE_CHUNK; i++) {
            if (!chunk[i])
                continue;
            PyObject *e = et_entry_obj(self, chunk[i]);
            if (!e || PyList_Append(out, e) < 0) {
                Py_XDECREF(e);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(e);
        }
    }
    return out;
}

static Py_ssize_t et_len(EntryTableObject *self)
{
    return (Py_ssize_t)self->nr_entries;
}

/* ---- LRU methods ---- */

static int parse_memcg(PyObject *arg, uint64_t *id)
{
    long long v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 0 || v > ET_MAX_MEMCG_ID) {
        PyErr_Format(PyExc_ValueError, "memcg id %lld is outside 0..%u", v, ET_MAX_MEMCG_ID);
        return -1;
    }
    *id = (uint64_t)v;
    return 0;
}

static int is_dead(EntryTableObject *self, uint64_t id)
{
    return id < self->nr_lists && self->lists[id].redirect >= 0;
}

static PyObject *et_lru_count(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t id;
    CHECK_READY(self);
    if (nargs == 0 || args[0] == Py_None)
        return PyLong_FromUnsignedLongLong(self->lru_items);
    if (parse_memcg(args[0], &id) < 0)
        return NULL;
    if (id >= self->nr_lists || is_dead(self, id))
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLongLong(self->lists[id].nr);
}

/* The ids of live lists; with `nonempty`, only those holding entries. */
static PyObject *lru_ids(EntryTableObject *self, int nonempty)
{
    CHECK_READY(self);
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    for (uint64_t i = 0; i < self->nr_lists; i++) {
        if (!self->lists[i].exists || self->lists[i].redirect >= 0 ||
            (nonempty && !self->lists[i].nr))
            continue;
        PyObject *v = PyLong_FromUnsignedLongLong(i);
        if (!v || PyList_Append(out, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(v);
    }
    return out;
}

static PyObject *et_lru_memcg_ids(EntryTableObject *self, PyObject *unused)
{
    return lru_ids(self, 0);
}

static PyObject *et_lru_nonempty_ids(EntryTableObject *self, PyObject *unused)
{
    return lru_ids(self, 1);
}

static PyObject *item_tuple(EntryTableObject *self, uint32_t id)
{
    struct et_rec *r = et_rec(self, id);
    PyObject *key = key_obj(r);
    PyObject *e = key ? et_entry_obj(self, id) : NULL;
    if (!e) {
        Py_XDECREF(key);
        return NULL;
    }
    return Py_BuildValue("(NNO)", key, e, (r->flags & ET_REFERENCED) ? Py_True : Py_False);
}

static PyObject *et_lru_items(EntryTableObject *self, PyObject *arg)
{
    uint64_t id;
    CHECK_READY(self);
    if (parse_memcg(arg, &id) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    if (!out || id >= self->nr_lists || is_dead(self, id))
        return out;
    for (uint32_t e = self->lists[id].head; e; e = et_rec(self, e)->next) {
        PyObject *item = item_tuple(self, e);
        if (!item || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}

/* The n-th item (0 = oldest) of a live list: (key, entry, referenced), or None. O(n). */
static PyObject *et_lru_nth(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t id;
    CHECK_READY(self);
    if (nargs != 2 || parse_memcg(args[0], &id) < 0)
        return nargs != 2 ? (PyErr_SetString(PyExc_TypeError, "lru_nth(memcg_id, n)"), NULL)
                          : NULL;
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (id >= self->nr_lists || is_dead(self, id) || n < 0)
        Py_RETURN_NONE;
    uint32_t e = self->lists[id].head;
    while (e && n--)
        e = et_rec(self, e)->next;
    if (!e)
        Py_RETURN_NONE;
    return item_tuple(self, e);
}

static uint32_t listed(EntryTableObject *self, PyObject *key_arg)
{
    unsigned long long key = PyLong_AsUnsignedLongLong(key_arg);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    uint32_t id = et_lookup(self, (unsigned)(key >> ET_SWP_TYPE_SHIFT),
                            key & ((1ULL << ET_SWP_TYPE_SHIFT) - 1));
    return id && (et_rec(self, id)->flags & ET_ON_LRU) ? id : 0;
}

/* lru_move_tail(key, clear_referenced): rotate a listed item; False if not listed. */
static PyObject *et_lru_move_tail(EntryTableObject *self, PyObject *const *args,
                                  Py_ssize_t nargs)
{
    CHECK_READY(self);
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "lru_move_tail(key, clear_referenced)");
        return NULL;
    }
    uint32_t id = listed(self, args[0]);
    if (!id)
        Py_RETURN_FALSE;
    struct et_rec *r = et_rec(self, id);
    uint64_t lid = resolve(self, r->lru);
    lru_unlink(self, id);
    lru_link_tail(self, &self->lists[lid], lid, id);
    if (PyObject_IsTrue(args[1]))
        r->flags &= (uint8_t)~ET_REFERENCED;
    Py_RETURN_TRUE;
}

/* lru_rotate_head(memcg_id): a referenced head of the group's list gets its second chance
 * (moved to the tail, the bit cleared): True; False if the head is not referenced; None if
 * the list is empty or gone. One call for zswap's shrink_memcg_cb on a referenced entry. */
static PyObject *et_lru_rotate_head(EntryTableObject *self, PyObject *arg)
{
    uint64_t id;
    CHECK_READY(self);
    if (parse_memcg(arg, &id) < 0)
        return NULL;
    if (id >= self->nr_lists || is_dead(self, id) || !self->lists[id].head)
        Py_RETURN_NONE;
    uint32_t e = self->lists[id].head;
    struct et_rec *r = et_rec(self, e);
    if (!(r->flags & ET_REFERENCED))
        Py_RETURN_FALSE;
    uint64_t lid = resolve(self, r->lru);
    lru_unlink(self, e);
    lru_link_tail(self, &self->lists[lid], lid, e);
    r->flags &= (uint8_t)~ET_REFERENCED;
    Py_RETURN_TRUE;
}

/* lru_isolate(key[, entry]): take a listed item off its list (it stays in the tree). */
static PyObject *et_lru_isolate(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    CHECK_READY(self);
    if (nargs != 1 && nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "lru_isolate(key[, entry])");
        return NULL;
    }
    uint32_t id = listed(self, args[0]);
    if (!id || (nargs == 2 && !entry_matches(et_rec(self, id), args[1])))
        Py_RETURN_FALSE;
    lru_unlink(self, id);
    Py_RETURN_TRUE;
}

/* lru_add(key, memcg_id, referenced): put an isolated entry back at a list's tail. */
static PyObject *et_lru_add(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t mid;
    CHECK_READY(self);
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "lru_add(key, memcg_id, referenced)");
        return NULL;
    }
    if (parse_memcg(args[1], &mid) < 0)
        return NULL;
    unsigned long long key = PyLong_AsUnsignedLongLong(args[0]);
    if (PyErr_Occurred())
        return NULL;
    uint32_t id = et_lookup(self, (unsigned)(key >> ET_SWP_TYPE_SHIFT),
                            key & ((1ULL << ET_SWP_TYPE_SHIFT) - 1));
    if (!id || (et_rec(self, id)->flags & ET_ON_LRU))
        Py_RETURN_FALSE;
    uint64_t lid = resolve(self, mid);
    struct et_list *l = list_at(self, lid, 1);
    if (!l)
        return NULL;
    lru_link_tail(self, l, lid, id);
    if (PyObject_IsTrue(args[2]))
        et_rec(self, id)->flags |= ET_REFERENCED;
    else
        et_rec(self, id)->flags &= (uint8_t)~ET_REFERENCED;
    Py_RETURN_TRUE;
}

/* lru_set_referenced(key, value): False if not listed. */
static PyObject *et_lru_set_referenced(EntryTableObject *self, PyObject *const *args,
                                       Py_ssize_t nargs)
{
    CHECK_READY(self);
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "lru_set_referenced(key, value)");
        return NULL;
    }
    uint32_t id = listed(self, args[0]);
    if (!id)
        Py_RETURN_FALSE;
    if (PyObject_IsTrue(args[1]))
        et_rec(self, id)->flags |= ET_REFERENCED;
    else
        et_rec(self, id)->flags &= (uint8_t)~ET_REFERENCED;
    Py_RETURN_TRUE;
}

/* lru_where(key): (resolved memcg id, referenced) of a listed key, or None. */
static PyObject *et_lru_where(EntryTableObject *self, PyObject *arg)
{
    CHECK_READY(self);
    uint32_t id = listed(self, arg);
    if (!id)
        Py_RETURN_NONE;
    struct et_rec *r = et_rec(self, id);
    return Py_BuildValue("(KO)", (unsigned long long)resolve(self, r->lru),
                         (r->flags & ET_REFERENCED) ? Py_True : Py_False);
}

/* lru_reparent(memcg_id, parent_id): splice the list onto the head of the parent's. */
static PyObject *et_lru_reparent(EntryTableObject *self, PyObject *const *args,
                                 Py_ssize_t nargs)
{
    uint64_t id, parent;
    CHECK_READY(self);
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "lru_reparent(memcg_id, parent_id)");
        return NULL;
    }
    if (parse_memcg(args[0], &id) < 0 || parse_memcg(args[1], &parent) < 0)
        return NULL;
    if (id == parent) {
        PyErr_SetString(PyExc_ValueError, "cannot reparent a list to itself");
        return NULL;
    }
    if (is_dead(self, id)) {
        PyErr_Format(PyExc_ValueError, "memcg %llu is already reparented",
                     (unsigned long long)id);
        return NULL;
    }
    parent = resolve(self, parent);
    if (parent == id) {
        /* the parent's list already went to this one: a redirect cycle would make every
         * later resolve() spin */
        PyErr_Format(PyExc_ValueError, "cannot reparent memcg %llu into its own descendant",
                     (unsigned long long)id);
        return NULL;
    }
    if (!list_at(self, parent, 1) || !list_at(self, id, 1))
        return NULL;
    struct et_list *src = &self->lists[id], *dst = &self->lists[parent];
    uint64_t moved = src->nr;
    if (src->head) {
        /* list_splice_init(&src->list, &dst->list): src goes in front, in its order */
        et_rec(self, src->tail)->next = dst->head;
        if (dst->head)
            et_rec(self, dst->head)->prev = src->tail;
        else
            dst->tail = src->tail;
        dst->head = src->head;
        dst->nr += src->nr;
    }
    src->head = src->tail = 0;
    src->nr = 0;
    src->redirect = (int64_t)parent;
    return PyLong_FromUnsignedLongLong(moved);
}

/* ---- busy slots (see entries.h) ---- */

static int ranges_overlap(const struct et_busy *b, unsigned type, uint64_t off, uint32_t nr)
{
    return b->type == type && off < b->offset + b->nr && b->offset < off + nr;
}

int et_slots_busy(EntryTableObject *t, unsigned type, uint64_t off, uint32_t nr)
{
    for (uint32_t i = 0; i < t->nr_busy; i++)
        if (ranges_overlap(&t->busy[i], type, off, nr))
            return 1;
    return 0;
}

int et_slots_begin(EntryTableObject *t, unsigned type, uint64_t off, uint32_t nr)
{
    struct et_tree *tr = type < ET_MAX_TYPES ? t->trees[type] : NULL;
    if (!tr || nr == 0 || off >= tr->nr_pages || nr > tr->nr_pages - off) {
        /* InvalidParameter (a ValueError): a swapoff may have run since the caller looked */
        if (pyz_load_zswap_errors() < 0)
            return -1;
        if (!tr)
            PyErr_Format(pyz_InvalidParameter, "swap type %u is not on", type);
        else
            PyErr_Format(pyz_InvalidParameter, "swap slots %u:%llu+%u are outside the type",
                         type, (unsigned long long)off, nr);
        return -1;
    }
    for (uint32_t i = 0; i < t->nr_busy; i++) {
        if (ranges_overlap(&t->busy[i], type, off, nr)) {
            uint64_t at = off > t->busy[i].offset ? off : t->busy[i].offset;
            if (pyz_load_zswap_errors() == 0)
                PyErr_Format(pyz_SlotBusy, "swap slot %u:%llu is busy: another operation on "
                             "it is in flight (operations on one slot must not overlap)", type,
                             (unsigned long long)at);
            return -1;
        }
    }
    if (t->nr_busy == t->cap_busy) {
        uint32_t cap = t->cap_busy ? t->cap_busy * 2 : 8;
        struct et_busy *b = PyMem_RawRealloc(t->busy, (size_t)cap * sizeof(*b));
        if (!b) {
            PyErr_NoMemory();
            return -1;
        }
        t->busy = b;
        t->cap_busy = cap;
    }
    t->busy[t->nr_busy++] = (struct et_busy){.offset = off, .nr = nr, .type = type};
    return 0;
}

void et_slots_end(EntryTableObject *t, unsigned type, uint64_t off, uint32_t nr)
{
    for (uint32_t i = t->nr_busy; i-- > 0;) {
        struct et_busy *b = &t->busy[i];
        if (b->type == type && b->offset == off && b->nr == nr) {
            *b = t->busy[--t->nr_busy];
            return;
        }
    }
}

/* (type, offset[, nr]) of the busy-slot methods; 0 or -1 with an exception. */
static int parse_range(PyObject *const *args, Py_ssize_t nargs, const char *what,
                       unsigned *type, uint64_t *off, uint32_t *nr)
{
    if (nargs != 2 && nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s(type, offset, nr=1)", what);
        return -1;
    }
    int t = as_int(args[0]);
    if (t == -1 && PyErr_Occurred())
        return -1;
    long long o = PyLong_AsLongLong(args[1]);
    if (o == -1 && PyErr_Occurred())
        return -1;
    long long n = nargs == 3 ? PyLong_AsLongLong(args[2]) : 1;
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (t < 0 || t >= ET_MAX_TYPES || o < 0 || n < 1 || n > UINT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s: swap slots %d:%lld+%lld are out of range", what, t,
                     o, n);
        return -1;
    }
    *type = (unsigned)t;
    *off = (uint64_t)o;
    *nr = (uint32_t)n;
    return 0;
}

enum slots_op { SLOTS_BEGIN, SLOTS_TRY_BEGIN, SLOTS_END, SLOTS_BUSY };

/* The busy-slot methods: parse (type, offset[, nr]), then do one thing with the range. */
static PyObject *slots_method(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs,
                              enum slots_op op)
{
    static const char *const names[] = {"slots_begin", "slots_try_begin", "slots_end",
                                        "slots_busy"};
    unsigned type;
    uint64_t off;
    uint32_t nr;
    CHECK_READY(self);
    if (parse_range(args, nargs, names[op], &type, &off, &nr) < 0)
        return NULL;
    switch (op) {
    case SLOTS_BUSY:
        return PyBool_FromLong(et_slots_busy(self, type, off, nr));
    case SLOTS_TRY_BEGIN:
        if (et_slots_busy(self, type, off, nr))
            Py_RETURN_FALSE;
        if (et_slots_begin(self, type, off, nr) < 0)
            return NULL;
        Py_RETURN_TRUE;
    case SLOTS_BEGIN:
        if (et_slots_begin(self, type, off, nr) < 0)
            return NULL;
        Py_RETURN_NONE;
    case SLOTS_END:
        for (uint32_t i = 0; i < self->nr_busy; i++) {
            struct et_busy *b = &self->busy[i];
            if (b->type == type && b->offset == off && b->nr == nr) {
                et_slots_end(self, type, off, nr);
                Py_RETURN_NONE;
            }
        }
        PyErr_Format(PyExc_ValueError, "slots_end: swap slots %u:%llu+%u are not marked busy",
                     type, (unsigned long long)off, nr);
        return NULL;
    }
    return NULL;
}

static PyObject *et_py_slots_begin(EntryTableObject *self, PyObject *const *args, Py_ssize_t n)
{
    return slots_method(self, args, n, SLOTS_BEGIN);
}

static PyObject *et_py_slots_try_begin(EntryTableObject *self, PyObject *const *args,
                                       Py_ssize_t n)
{
    return slots_method(self, args, n, SLOTS_TRY_BEGIN);
}

static PyObject *et_py_slots_end(EntryTableObject *self, PyObject *const *args, Py_ssize_t n)
{
    return slots_method(self, args, n, SLOTS_END);
}

static PyObject *et_py_slots_busy(EntryTableObject *self, PyObject *const *args, Py_ssize_t n)
{
    return slots_method(self, args, n, SLOTS_BUSY);
}

/* busy_count(type=None): operations in flight on a type (or on every type). */
static PyObject *et_busy_count(EntryTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    CHECK_READY(self);
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "busy_count(type=None)");
        return NULL;
    }
    if (nargs == 0 || args[0] == Py_None)
        return PyLong_FromUnsignedLong(self->nr_busy);
    int type = as_int(args[0]);
    if (type == -1 && PyErr_Occurred())
        return NULL;
    unsigned long n = 0;
    for (uint32_t i = 0; i < self->nr_busy; i++)
        n += self->busy[i].type == (uint32_t)type;
    return PyLong_FromUnsignedLong(n);
}

static PyObject *et_get_total_length(EntryTableObject *self, void *c)
{
    CHECK_READY(self);
    return PyLong_FromUnsignedLongLong(self->total_length);
}

static PyObject *et_get_lru_items(EntryTableObject *self, void *c)
{
    CHECK_READY(self);
    return PyLong_FromUnsignedLongLong(self->lru_items);
}

/* Bytes of C memory the table holds (records, tree chunks, lists): for the memory report. */
static PyObject *et_get_nbytes(EntryTableObject *self, void *c)
{
    unsigned long long n = (unsigned long long)self->nr_slabs * ET_SLAB * sizeof(struct et_rec);
    n += self->nr_lists * sizeof(struct et_list);
    for (int i = 0; i < ET_MAX_TYPES; i++) {
        struct et_tree *tr = self->trees[i];
        if (!tr)
            continue;
        n += tr->nr_chunks * (sizeof(uint32_t *) + sizeof(uint32_t));
        for (uint32_t k = 0; k < tr->nr_chunks; k++)
            if (tr->chunks[k])
                n += ET_TREE_CHUNK * sizeof(uint32_t);
    }
    return PyLong_FromUnsignedLongLong(n);
}

static PyMethodDef et_methods[] = {
    {"swapon", (PyCFunction)et_swapon, METH_VARARGS, "swapon(type, nr_pages): a new tree."},
    {"swapoff", (PyCFunction)et_swapoff, METH_VARARGS, "swapoff(type): drop an empty tree."},
    {"get", (PyCFunction)(void (*)(void))et_get, METH_FASTCALL,
     "get(type, offset) -> entry or None."},
    {"insert", (PyCFunction)(void (*)(void))et_py_insert, METH_VARARGS | METH_KEYWORDS,
     "insert(type, offset, length, pool_id, handle, objcg, lru_id, referenced=True) -> the "
     "replaced entry (already off the tree and LRU) or None; the new one goes to the LRU tail."},
    {"pop", (PyCFunction)(void (*)(void))et_pop, METH_FASTCALL,
     "pop(type, offset[, entry]) -> the erased entry (off the tree and LRU) or None; with "
     "entry, only if the slot still holds an equal one."},
    {"count", (PyCFunction)et_count, METH_O, "count(type): entries in a swap type's tree."},
    {"values", (PyCFunction)et_values, METH_O, "values(type): its entries by offset."},
    {"lru_count", (PyCFunction)(void (*)(void))et_lru_count, METH_FASTCALL,
     "lru_count(memcg_id=None): items on a live list (0 for a dead id), or on all."},
    {"lru_memcg_ids", (PyCFunction)et_lru_memcg_ids, METH_NOARGS, "ids with a live list."},
    {"lru_nonempty_ids", (PyCFunction)et_lru_nonempty_ids, METH_NOARGS,
     "ids with a live list holding entries."},
    {"lru_items", (PyCFunction)et_lru_items, METH_O,
     "lru_items(memcg_id): [(key, entry, referenced)] oldest first."},
    {"lru_nth", (PyCFunction)(void (*)(void))et_lru_nth, METH_FASTCALL,
     "lru_nth(memcg_id, n): the n-th oldest (key, entry, referenced), or None."},
    {"lru_rotate_head", (PyCFunction)et_lru_rotate_head, METH_O,
     "lru_rotate_head(memcg_id): rotate a referenced head, clearing the bit: True; False if "
     "the head is not referenced; None if the list is empty or gone."},
    {"lru_move_tail", (PyCFunction)(void (*)(void))et_lru_move_tail, METH_FASTCALL,
     "lru_move_tail(key, clear_referenced) -> False if not listed."},
    {"lru_isolate", (PyCFunction)(void (*)(void))et_lru_isolate, METH_FASTCALL,
     "lru_isolate(key[, entry]) -> False if not listed (or another entry is)."},
    {"lru_add", (PyCFunction)(void (*)(void))et_lru_add, METH_FASTCALL,
     "lru_add(key, memcg_id, referenced): relist an isolated entry; False if not possible."},
    {"lru_set_referenced", (PyCFunction)(void (*)(void))et_lru_set_referenced, METH_FASTCALL,
     "lru_set_referenced(key, value) -> False if not listed."},
    {"lru_where", (PyCFunction)et_lru_where, METH_O,
     "lru_where(key) -> (memcg id, referenced) or None."},
    {"lru_reparent", (PyCFunction)(void (*)(void))et_lru_reparent, METH_FASTCALL,
     "lru_reparent(memcg_id, parent_id) -> items moved."},
    {"slots_begin", (PyCFunction)(void (*)(void))et_py_slots_begin, METH_FASTCALL,
     "slots_begin(type, offset, nr=1): mark the slots busy; SlotBusy if one already is."},
    {"slots_try_begin", (PyCFunction)(void (*)(void))et_py_slots_try_begin, METH_FASTCALL,
     "slots_try_begin(type, offset, nr=1) -> False if a slot is busy, else marks them."},
    {"slots_end", (PyCFunction)(void (*)(void))et_py_slots_end, METH_FASTCALL,
     "slots_end(type, offset, nr=1): drop the mark slots_begin made for this range."},
    {"slots_busy", (PyCFunction)(void (*)(void))et_py_slots_busy, METH_FASTCALL,
     "slots_busy(type, offset, nr=1) -> True if one of the slots is busy."},
    {"busy_count", (PyCFunction)(void (*)(void))et_busy_count, METH_FASTCALL,
     "busy_count(type=None) -> operations in flight on the type (or on all)."},
    {NULL},
};

static PyGetSetDef et_getset[] = {
    {"total_length", (getter)et_get_total_length, NULL, "sum of entry lengths", NULL},
    {"lru_total", (getter)et_get_lru_items, NULL, "items on every LRU list", NULL},
    {"nbytes", (getter)et_get_nbytes, NULL, "C memory held by the table", NULL},
    {NULL},
};

static PySequenceMethods et_as_sequence = {
    .sq_length = (lenfunc)et_len,
};

PyTypeObject EntryTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.EntryTable",
    .tp_basicsize = sizeof(EntryTableObject),
    .tp_dealloc = (destructor)et_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "zswap's per-type trees and memcg LRU lists, one 32-byte record per entry.",
    .tp_methods = et_methods,
    .tp_getset = et_getset,
    .tp_as_sequence = &et_as_sequence,
    .tp_init = (initproc)et_init,
    .tp_new = PyType_GenericNew,
};

int pyz_entries_add_types(PyObject *module)
{
    if (PyType_Ready(&EntryTableType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "EntryTable", (PyObject *)&EntryTableType);
}
