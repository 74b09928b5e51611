/*
 * pyzswap._native.ZsPool: the Python type over the C zsmalloc (zsmalloc.h).
 *
 * Same methods, arguments, results and errors as the reference pyzswap.reference.zsmalloc.PyZsPool;
 * pyzswap.zsmalloc.ZsPool is a thin Python subclass that only adds the docstring and the
 * `_compact_lock` test hook. Every method copies object data under the pool mutex and builds
 * Python objects only after releasing it (code holding the mutex never calls into Python).
 * Mutex acquisition never blocks while holding the GIL: trylock, and if busy, release the
 * GIL, lock, run the (GIL-free) operation, unlock, and only then take the GIL back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>

#include "lifecycle.h"
#include "zsmalloc.h"
#include "zsmalloc_py.h"

typedef struct {
    PyObject_HEAD
    struct zs_pool *pool;
    PyObject *name;   /* str */
} ZsPoolObject;

/* Run STMT (GIL-free code) with the pool mutex held, never blocking on it with the GIL. */
#define WITH_LOCK(p, ...)                    \
    do {                                     \
        if (zs_trylock(p) == 0) {            \
            __VA_ARGS__;                     \
            zs_unlock(p);                    \
        } else {                             \
            Py_BEGIN_ALLOW_THREADS           \
            zs_lock(p);                      \
            __VA_ARGS__;                     \
            zs_unlock(p);                    \
            Py_END_ALLOW_THREADS             \
        }                                    \
    } while (0)

/* ------------------------------------------------------------------ errors --------------- */

#define E_Invalid pyz_InvalidParameter
#define E_Poor pyz_CompressPoor
#define E_Alloc pyz_AllocFail
#define load_errors pyz_load_zswap_errors

/* PyErr_Format with one of the pyzswap.errors classes (loaded on first use). */
#define RAISE(which, ...) \
    (load_errors() < 0 ? NULL : (PyErr_Format(which, __VA_ARGS__), (PyObject *)NULL))

static PyObject *dead_error(ZsPoolObject *self)
{
    return RAISE(E_Invalid, "zsmalloc pool %R has been destroyed", self->name);
}

static PyObject *bad_handle(ZsPoolObject *self, PyObject *handle)
{
    if (zs_is_shutdown(self->pool))
        return dead_error(self);
    return RAISE(E_Invalid,
                 "zsmalloc pool %R: %R is not a live handle (never allocated or already freed)",
                 self->name, handle);
}

static int check_init(ZsPoolObject *self)
{
    if (self->pool)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "ZsPool.__init__ was not called");
    return -1;
}

#define CHECK_INIT(self) \
    do { if (!(self)->pool && check_init(self) < 0) return NULL; } while (0)

/* ------------------------------------------------------------------ arguments ------------ */

/* A handle argument: its number, or 0 (never live) for anything that is not a handle. */
static uint32_t as_handle(PyObject *o)
{
    if (!PyLong_Check(o))
        return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        PyErr_Clear();
    if (overflow || v <= 0 || v > (long long)UINT32_MAX)
        return 0;
    return (uint32_t)v;
}

/* A zs_malloc size (1..4096) or -1 with InvalidParameter / CompressPoor set. */
static long as_malloc_size(PyObject *o)
{
    if (!PyLong_Check(o)) {
        RAISE(E_Invalid, "zs_malloc size must be an int, got %s", Py_TYPE(o)->tp_name);
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow < 0 || (!overflow && v <= 0)) {
        RAISE(E_Invalid, "zs_malloc size must be positive, got %R", o);
        return -1;
    }
    if (overflow > 0 || v > ZS_MAX_ALLOC_SIZE) {
        RAISE(E_Poor, "zs_malloc size %R exceeds ZS_MAX_ALLOC_SIZE (%d)", o, ZS_MAX_ALLOC_SIZE);
        return -1;
    }
    return (long)v;
}

/* A non-negative length that fits in a long long (larger ones are clipped), or -1 if `o` is
 * not an int or is negative (no exception set). */
static long long as_length(PyObject *o)
{
    if (!PyLong_Check(o))
        return -1;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (overflow > 0)
        return LLONG_MAX;
    if (overflow < 0 || v < 0)
        return -1;
    return v;
}

/* Object data as zsmalloc accepts it: any C-contiguous buffer, or a 1-D strided byte view. */
typedef struct {
    Py_buffer view;
    int have_view;
    const unsigned char *ptr;   /* contiguous bytes; NULL for a strided view (use gather) */
    Py_ssize_t len;             /* bytes */
} DataArg;

static int data_get(DataArg *d, PyObject *o, int writable)
{
    d->have_view = 0;
    if (!writable && PyBytes_CheckExact(o)) {
        d->ptr = (const unsigned char *)PyBytes_AS_STRING(o);
        d->len = PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyObject_GetBuffer(o, &d->view, PyBUF_FULL_RO) < 0) {
        PyErr_Clear();
        RAISE(E_Invalid, "object data must be a bytes-like object, not %s", Py_TYPE(o)->tp_name);
        return -1;
    }
    d->have_view = 1;
    if (PyBuffer_IsContiguous(&d->view, 'C')) {
        d->ptr = d->view.buf;
        d->len = d->view.len;
    } else if (d->view.ndim == 1 && d->view.itemsize == 1 && !d->view.suboffsets &&
               (!d->view.format || strcmp(d->view.format, "B") == 0)) {
        d->ptr = NULL;
        d->len = d->view.shape[0];
    } else {
        PyBuffer_Release(&d->view);
        d->have_view = 0;
        RAISE(E_Invalid, "object data must be a C-contiguous buffer");
        return -1;
    }
    if (writable && d->view.readonly) {
        PyBuffer_Release(&d->view);
        d->have_view = 0;
        RAISE(E_Invalid, "read_into needs a writable buffer");
        return -1;
    }
    return 0;
}

static void data_release(DataArg *d)
{
    if (d->have_view)
        PyBuffer_Release(&d->view);
    d->have_view = 0;
}

/* The first n bytes of a strided 1-D view into tmp. */
static void data_gather(const DataArg *d, unsigned char *tmp, Py_ssize_t n)
{
    const char *b = d->view.buf;
    Py_ssize_t st = d->view.strides[0];
    for (Py_ssize_t i = 0; i < n; i++)
        tmp[i] = (unsigned char)b[i * st];
}

static void data_scatter(const DataArg *d, const unsigned char *tmp, Py_ssize_t n)
{
    char *b = d->view.buf;
    Py_ssize_t st = d->view.strides[0];
    for (Py_ssize_t i = 0; i < n; i++)
        b[i * st] = (char)tmp[i];
}

/* ------------------------------------------------------------------ lifetime ------------- */

static int zspool_init(ZsPoolObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "chain_size", "max_pages", NULL};
    PyObject *name, *chain = NULL, *maxp = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$O:ZsPool", kwlist, &name, &chain, &maxp))
        return -1;
    if (load_errors() < 0)
        return -1;
    if (self->pool) {
        PyErr_SetString(PyExc_RuntimeError, "ZsPool.__init__ called twice");
        return -1;
    }
    long chain_size = ZS_DEFAULT_CHAIN_SIZE;
    if (chain) {
        chain_size = PyLong_CheckExact(chain) ? PyLong_AsLong(chain) : -1;
        if (chain_size == -1 && PyErr_Occurred())
            PyErr_Clear();
        if (chain_size < ZS_MIN_CHAIN_SIZE || chain_size > ZS_MAX_CHAIN_SIZE) {
            PyErr_Format(E_Invalid, "zsmalloc chain size must be an int in %d..%d "
                         "(CONFIG_ZSMALLOC_CHAIN_SIZE), got %R",
                         ZS_MIN_CHAIN_SIZE, ZS_MAX_CHAIN_SIZE, chain);
            return -1;
        }
    }
    long max_pages = -1;
    if (maxp != Py_None) {
        int overflow = 0;
        long long v = PyLong_CheckExact(maxp) ? PyLong_AsLongLongAndOverflow(maxp, &overflow)
                                              : -1;
        if (v == -1 && PyErr_Occurred())
            PyErr_Clear();
        if (overflow > 0)
            v = LONG_MAX;
        if (overflow < 0 || v < 0) {
            PyErr_Format(E_Invalid, "max_pages must be a non-negative int, got %R", maxp);
            return -1;
        }
        max_pages = v > LONG_MAX ? LONG_MAX : (long)v;
    }
    PyObject *sname = PyObject_Str(name);
    if (!sname)
        return -1;
    struct zs_pool *pool = zs_create((int)chain_size, max_pages);
    if (!pool) {
        Py_DECREF(sname);
        PyErr_NoMemory();
        return -1;
    }
    Py_XSETREF(self->name, sname);
    self->pool = pool;
    return 0;
}

static void zspool_dealloc(ZsPoolObject *self)
{
    zs_destroy(self->pool);
    self->pool = NULL;
    Py_CLEAR(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *zspool_repr(ZsPoolObject *self)
{
    if (!self->pool)
        return PyUnicode_FromString("ZsPool(<uninitialised>)");
    struct zs_pool *p = self->pool;
    if (zs_is_shutdown(p))
        return PyUnicode_FromFormat("ZsPool(%R, chain_size=%d, destroyed)", self->name,
                                    zs_chain_size(p));
    return PyUnicode_FromFormat("ZsPool(%R, chain_size=%d, %ld pages, %ld objs)", self->name,
                                zs_chain_size(p), zs_pages_allocated(p), zs_objects_in_use(p));
}

static PyObject *zspool_destroy(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    WITH_LOCK(p, zs_shutdown_locked(p));
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ allocation ----------- */

/* Raise for an allocation error code (the pool's state read under the mutex). */
static PyObject *malloc_error(ZsPoolObject *self, int rc, int limited, long pages, int zpages)
{
    if (rc == -ESHUTDOWN)
        return dead_error(self);
    if (rc == -ENOMEM && limited)
        return RAISE(E_Alloc, "zsmalloc pool %R: a %d-page zspage would exceed max_pages=%ld "
                     "(%ld allocated)", self->name, zpages, zs_max_pages(self->pool), pages);
    if (rc == -ENOMEM)
        return RAISE(E_Alloc, "zsmalloc pool %R: cannot allocate a zspage", self->name);
    return RAISE(E_Invalid, "zsmalloc pool %R: zs_malloc failed (%d)", self->name, rc);
}

static PyObject *do_malloc_write(ZsPoolObject *self, PyObject *data, PyObject *length)
{
    CHECK_INIT(self);
    long len = as_malloc_size(length);
    if (len < 0)
        return NULL;
    struct zs_pool *p = self->pool;
    DataArg d;
    const unsigned char *src = NULL;
    unsigned char tmp[ZS_MAX_ALLOC_SIZE];
    int rc, limited = 0;
    long pages = 0;
    struct zs_class_info ci;
    zs_class_for_len(p, (unsigned)len, &ci);
    if (data != Py_None) {
        int bad = data_get(&d, data, 0) < 0;
        if (!bad && d.len < len) {
            Py_ssize_t have = d.len;
            data_release(&d);
            RAISE(E_Invalid, "length %ld exceeds the %zd bytes of data given", len, have);
            bad = 1;
        }
        if (bad) {
            /* The reference fails on the pool's state first (a dead pool, a refused zspage)
             * and only then on the data; so do we. */
            if (!PyErr_Occurred())
                return NULL;
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            WITH_LOCK(p, rc = zs_malloc_check_locked(p, (unsigned)len);
                      pages = zs_pages_allocated(p));
            if (rc) {
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(tb);
                return malloc_error(self, rc, 1, pages, ci.pages_per_zspage);
            }
            PyErr_Restore(et, ev, tb);
            return NULL;
        }
        if (d.ptr) {
            src = d.ptr;
        } else {
            data_gather(&d, tmp, len);
            src = tmp;
        }
    }
    uint32_t h = 0;
    WITH_LOCK(p, rc = zs_malloc_write_locked(p, src, (unsigned)len, &h);
              if (rc == -ENOMEM) {
                  limited = zs_malloc_check_locked(p, (unsigned)len) == -ENOMEM;
                  pages = zs_pages_allocated(p);
              });
    if (data != Py_None)
        data_release(&d);
    if (rc)
        return malloc_error(self, rc, limited, pages, ci.pages_per_zspage);
    return PyLong_FromUnsignedLong(h);
}

static PyObject *zspool_malloc_write(ZsPoolObject *self, PyObject *const *args,
                                     Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2] = {nargs > 0 ? args[0] : NULL, nargs > 1 ? args[1] : NULL};
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2)
        goto usage;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
        int idx = PyUnicode_CompareWithASCIIString(kw, "data") == 0     ? 0
                  : PyUnicode_CompareWithASCIIString(kw, "length") == 0 ? 1
                                                                         : -1;
        if (idx < 0 || a[idx])
            goto usage;
        a[idx] = args[nargs + k];
    }
    if (!a[0] || !a[1])
        goto usage;
    return do_malloc_write(self, a[0], a[1]);
usage:
    PyErr_SetString(PyExc_TypeError, "malloc_write(data, length) takes exactly two arguments");
    return NULL;
}

static PyObject *zspool_malloc(ZsPoolObject *self, PyObject *size)
{
    return do_malloc_write(self, Py_None, size);
}

static PyObject *zspool_free(ZsPoolObject *self, PyObject *handle)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    uint32_t h = as_handle(handle);
    int rc;
    WITH_LOCK(p, rc = zs_free_locked(p, h));
    if (rc)
        return bad_handle(self, handle);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ object access -------- */

static PyObject *zspool_obj_size(ZsPoolObject *self, PyObject *handle)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    uint32_t h = as_handle(handle);
    unsigned size = 0;
    unsigned char *ptr;
    WITH_LOCK(p, ptr = zs_obj_ptr_locked(p, h, &size));
    if (!ptr)
        return bad_handle(self, handle);
    return PyLong_FromUnsignedLong(size);
}

static PyObject *zspool_write(ZsPoolObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"handle", "data", "length", NULL};
    PyObject *handle, *data, *length = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:write", kwlist, &handle, &data, &length))
        return NULL;
    CHECK_INIT(self);
    DataArg d;
    if (data_get(&d, data, 0) < 0)
        return NULL;
    Py_ssize_t n = d.len;
    if (length != Py_None) {
        long long v = as_length(length);
        if (v < 0) {
            data_release(&d);
            return RAISE(E_Invalid, "length must be a non-negative int, got %R", length);
        }
        if (v > d.len) {
            data_release(&d);
            return RAISE(E_Invalid, "length %R exceeds the %zd bytes of data given", length,
                         d.len);
        }
        n = (Py_ssize_t)v;
    }
    unsigned char tmp[ZS_MAX_ALLOC_SIZE];
    const unsigned char *src = d.ptr;
    if (!src && n <= ZS_MAX_ALLOC_SIZE) {
        data_gather(&d, tmp, n);
        src = tmp;
    }
    struct zs_pool *p = self->pool;
    uint32_t h = as_handle(handle);
    unsigned size = 0;
    unsigned char *ptr;
    WITH_LOCK(p, ptr = zs_obj_ptr_locked(p, h, &size);
              if (ptr && (size_t)n <= size) memcpy(ptr, src, (size_t)n));
    data_release(&d);
    if (!ptr)
        return bad_handle(self, handle);
    if ((size_t)n > size)
        return RAISE(E_Invalid, "write of %zd bytes to a %u-byte object (handle %R)", n, size,
                     handle);
    Py_RETURN_NONE;
}

static PyObject *zspool_read(ZsPoolObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"handle", "length", NULL};
    PyObject *handle, *length = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:read", kwlist, &handle, &length))
        return NULL;
    CHECK_INIT(self);
    long long want = -2;   /* -2: the whole object */
    if (length != Py_None) {
        if (!PyLong_Check(length))
            return RAISE(E_Invalid, "length must be an int or None, got %R", length);
        want = as_length(length);   /* -1 for negative: refused below */
    }
    struct zs_pool *p = self->pool;
    uint32_t h = as_handle(handle);
    unsigned size = 0;
    unsigned char *ptr;
    unsigned char tmp[ZS_MAX_ALLOC_SIZE];
    long long n = 0;
    WITH_LOCK(p, ptr = zs_obj_ptr_locked(p, h, &size);
              n = want == -2 ? (long long)size : want;
              if (ptr && n >= 0 && n <= size) memcpy(tmp, ptr, (size_t)n));
    if (!ptr)
        return bad_handle(self, handle);
    if (n < 0 || n > size)
        return RAISE(E_Invalid, "read of %R bytes from a %u-byte object (handle %R)", length,
                     size, handle);
    return PyBytes_FromStringAndSize((const char *)tmp, (Py_ssize_t)n);
}

static PyObject *zspool_obj_view(ZsPoolObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "obj_view(handle, length) takes exactly two arguments");
        return NULL;
    }
    CHECK_INIT(self);
    PyObject *handle = args[0];
    long long want = as_length(args[1]);
    struct zs_pool *p = self->pool;
    uint32_t h = as_handle(handle);
    unsigned size = 0;
    unsigned char *ptr;
    unsigned char tmp[ZS_MAX_ALLOC_SIZE];
    WITH_LOCK(p, ptr = zs_obj_ptr_locked(p, h, &size);
              if (ptr && want >= 0 && want <= size) memcpy(tmp, ptr, (size_t)want));
    if (!ptr || want < 0 || want > size)
        return bad_handle(self, handle);
    PyObject *b = PyBytes_FromStringAndSize((const char *)tmp, (Py_ssize_t)want);
    if (!b)
        return NULL;
    PyObject *mv = PyMemoryView_FromObject(b);
    Py_DECREF(b);
    return mv;
}

static PyObject *zspool_read_into(ZsPoolObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "read_into(handle, length, out) takes exactly three arguments");
        return NULL;
    }
    CHECK_INIT(self);
    PyObject *handle = args[0], *length = args[1];
    DataArg d;
    if (data_get(&d, args[2], 1) < 0)
        return NULL;
    long long n = as_length(length);
    if (n < 0 || n > d.len) {
        data_release(&d);
        return RAISE(E_Invalid, "length %R does not fit a %zd-byte buffer", length, d.len);
    }
    struct zs_pool *p = self->pool;
    uint32_t h = as_handle(handle);
    unsigned size = 0;
    unsigned char *ptr;
    unsigned char tmp[ZS_MAX_ALLOC_SIZE];
    unsigned char *dst = d.ptr ? (unsigned char *)d.ptr : tmp;
    WITH_LOCK(p, ptr = zs_obj_ptr_locked(p, h, &size);
              if (ptr && n <= size) memcpy(dst, ptr, (size_t)n));
    if (ptr && n <= size && !d.ptr)
        data_scatter(&d, tmp, (Py_ssize_t)n);
    data_release(&d);
    if (!ptr)
        return bad_handle(self, handle);
    if (n > size)
        return RAISE(E_Invalid, "read of %lld bytes from a %u-byte object (handle %R)", n, size,
                     handle);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ accounting ----------- */

static PyObject *get_pages_allocated(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return PyLong_FromLong(zs_pages_allocated(self->pool));
}

static PyObject *zspool_total_pages(ZsPoolObject *self, PyObject *unused)
{
    return get_pages_allocated(self, NULL);
}

static PyObject *get_pages_compacted(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return PyLong_FromLong(zs_pages_compacted(self->pool));
}

static PyObject *get_objects_in_use(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return PyLong_FromLong(zs_objects_in_use(self->pool));
}

static PyObject *get_migrate_seq(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return PyLong_FromUnsignedLong(zs_migrate_seq(self->pool));
}

static PyObject *get_destroyed(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return PyBool_FromLong(zs_is_shutdown(self->pool));
}

static PyObject *get_name(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return Py_NewRef(self->name);
}

static PyObject *get_chain_size(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return PyLong_FromLong(zs_chain_size(self->pool));
}

static PyObject *get_huge_class_size(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    return PyLong_FromLong(zs_huge_class_size(self->pool));
}

static PyObject *get_max_pages(ZsPoolObject *self, void *c)
{
    CHECK_INIT(self);
    long m = zs_max_pages(self->pool);
    if (m < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(m);
}

/* ------------------------------------------------------------------ compaction ----------- */

static int class_index_arg(PyObject *o)
{
    long v = PyLong_Check(o) ? PyLong_AsLong(o) : -1;
    if (v == -1 && PyErr_Occurred())
        PyErr_Clear();
    if (v < 0 || v >= ZS_SIZE_CLASSES) {
        RAISE(E_Invalid, "class index must be in 0..%d", ZS_SIZE_CLASSES - 1);
        return -1;
    }
    return (int)v;
}

static PyObject *zspool_can_compact(ZsPoolObject *self, PyObject *arg)
{
    CHECK_INIT(self);
    int idx = class_index_arg(arg);
    if (idx < 0)
        return NULL;
    struct zs_pool *p = self->pool;
    long n;
    WITH_LOCK(p, n = zs_can_compact_locked(p, idx));
    return PyLong_FromLong(n);
}

static PyObject *zspool_compactable_pages(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    long n;
    WITH_LOCK(p, n = zs_compactable_pages_locked(p));
    return PyLong_FromLong(n);
}

static PyObject *zspool_compact(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    if (!zs_compact_begin(p))
        return PyLong_FromLong(0);   /* compaction_in_progress */
    long freed;
    Py_BEGIN_ALLOW_THREADS
    zs_lock(p);
    freed = zs_compact_locked(p);
    zs_unlock(p);
    Py_END_ALLOW_THREADS
    zs_compact_end(p);
    if (freed < 0)
        return dead_error(self);
    return PyLong_FromLong(freed);
}

static PyObject *zspool_compaction_begin(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    return PyBool_FromLong(zs_compact_begin(self->pool));
}

static PyObject *zspool_compaction_end(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    zs_compact_end(self->pool);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ introspection -------- */

static int dict_set_long(PyObject *d, const char *key, long v)
{
    PyObject *o = PyLong_FromLong(v);
    if (!o)
        return -1;
    int rc = PyDict_SetItemString(d, key, o);
    Py_DECREF(o);
    return rc;
}

static PyObject *zspool_class_stats(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    struct zs_class_stat *rows = PyMem_RawMalloc(sizeof(*rows) * ZS_SIZE_CLASSES);
    if (!rows)
        return PyErr_NoMemory();
    int n;
    WITH_LOCK(p, n = zs_class_stats_locked(p, rows));
    PyObject *out = PyList_New(n);
    for (int k = 0; out && k < n; k++) {
        const struct zs_class_stat *s = &rows[k];
        PyObject *d = PyDict_New();
        PyObject *full = PyTuple_New(ZS_NR_FULLNESS_GROUPS);
        int bad = !d || !full;
        for (int g = 0; !bad && g < ZS_NR_FULLNESS_GROUPS; g++) {
            PyObject *v = PyLong_FromLong(s->fullness[g]);
            if (!v)
                bad = 1;
            else
                PyTuple_SET_ITEM(full, g, v);
        }
        bad = bad || dict_set_long(d, "index", s->info.index) < 0 ||
              dict_set_long(d, "size", s->info.size) < 0 ||
              dict_set_long(d, "pages_per_zspage", s->info.pages_per_zspage) < 0 ||
              dict_set_long(d, "objs_per_zspage", s->info.objs_per_zspage) < 0 ||
              dict_set_long(d, "zspages", s->zspages) < 0 ||
              dict_set_long(d, "obj_allocated", s->obj_allocated) < 0 ||
              dict_set_long(d, "obj_used", s->obj_used) < 0 ||
              dict_set_long(d, "pages_used", s->pages_used) < 0 ||
              dict_set_long(d, "freeable", s->freeable) < 0 ||
              PyDict_SetItemString(d, "fullness", full) < 0;
        Py_XDECREF(full);
        if (bad) {
            Py_XDECREF(d);
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, k, d);
    }
    PyMem_RawFree(rows);
    return out;
}

static PyObject *zspool_locate(ZsPoolObject *self, PyObject *handle)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    uint32_t h = as_handle(handle), serial = 0;
    int cls = 0, slot = 0, rc;
    WITH_LOCK(p, rc = zs_locate_locked(p, h, &cls, &serial, &slot));
    if (rc)
        return bad_handle(self, handle);
    return Py_BuildValue("(ikI)", cls, (unsigned long)serial, (unsigned)slot);
}

static PyObject *zspool_fullness_lists(ZsPoolObject *self, PyObject *arg)
{
    CHECK_INIT(self);
    int idx = class_index_arg(arg);
    if (idx < 0)
        return NULL;
    struct zs_pool *p = self->pool;
    long counts[ZS_INUSE_RATIO_99 + 1] = {0};
    uint32_t *serials = NULL;
    int nomem = 0;
    WITH_LOCK(p, {
        long total = 0;
        for (int g = ZS_INUSE_RATIO_10; g <= ZS_INUSE_RATIO_99; g++)
            total += counts[g] = zs_fullness_list_locked(p, idx, g, NULL, 0);
        serials = PyMem_RawMalloc(sizeof(uint32_t) * (size_t)(total ? total : 1));
        if (!serials)
            nomem = 1;
        else
            for (int g = ZS_INUSE_RATIO_10, off = 0; g <= ZS_INUSE_RATIO_99; off += counts[g++])
                zs_fullness_list_locked(p, idx, g, serials + off, counts[g]);
    });
    if (nomem)
        return PyErr_NoMemory();
    PyObject *out = PyList_New(ZS_INUSE_RATIO_99 + 1);
    long off = 0;
    for (int g = 0; out && g <= ZS_INUSE_RATIO_99; g++) {
        PyObject *l = PyList_New(counts[g]);
        for (long i = 0; l && i < counts[g]; i++) {
            PyObject *v = PyLong_FromUnsignedLong(serials[off + i]);
            if (!v)
                Py_CLEAR(l);
            else
                PyList_SET_ITEM(l, i, v);
        }
        off += counts[g];
        if (!l)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, g, l);
    }
    PyMem_RawFree(serials);
    return out;
}

static PyObject *zspool_check_invariants(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    struct zs_pool *p = self->pool;
    char msg[512];
    const char *bad;
    WITH_LOCK(p, bad = zs_check_invariants_locked(p, msg, sizeof(msg)));
    if (bad) {
        PyErr_Format(PyExc_AssertionError, "zsmalloc pool %R: %s", self->name, bad);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *zspool_class_table(ZsPoolObject *self, PyObject *unused)
{
    CHECK_INIT(self);
    PyObject *out = PyList_New(ZS_SIZE_CLASSES);
    for (int i = 0; out && i < ZS_SIZE_CLASSES; i++) {
        struct zs_class_info ci;
        zs_class_info(self->pool, i, &ci);
        PyObject *t = Py_BuildValue("(iiii)", ci.index, ci.size, ci.pages_per_zspage,
                                    ci.objs_per_zspage);
        if (!t)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, t);
    }
    return out;
}

/* ------------------------------------------------------------------ the type ------------- */

static PyMethodDef zspool_methods[] = {
    {"malloc_write", (PyCFunction)(void (*)(void))zspool_malloc_write,
     METH_FASTCALL | METH_KEYWORDS,
     "malloc_write(data, length) -> handle: zs_malloc(length) + zs_obj_write(data[:length])."},
    {"malloc", (PyCFunction)zspool_malloc, METH_O,
     "malloc(size) -> handle: zs_malloc(pool, size); contents unspecified until written."},
    {"free", (PyCFunction)zspool_free, METH_O, "free(handle): zs_free."},
    {"write", (PyCFunction)(void (*)(void))zspool_write, METH_VARARGS | METH_KEYWORDS,
     "write(handle, data, length=None): zs_obj_write of data[:length] at the object start."},
    {"read", (PyCFunction)(void (*)(void))zspool_read, METH_VARARGS | METH_KEYWORDS,
     "read(handle, length=None) -> bytes: a copy of the object's first length bytes."},
    {"read_into", (PyCFunction)(void (*)(void))zspool_read_into, METH_FASTCALL,
     "read_into(handle, length, out): copy the object's first length bytes into out."},
    {"obj_view", (PyCFunction)(void (*)(void))zspool_obj_view, METH_FASTCALL,
     "obj_view(handle, length) -> memoryview: a read-only view of a copy of the object's "
     "first length bytes (taken under the pool mutex)."},
    {"obj_size", (PyCFunction)zspool_obj_size, METH_O,
     "obj_size(handle) -> int: the size the object was allocated with."},
    {"total_pages", (PyCFunction)zspool_total_pages, METH_NOARGS,
     "Alias of pages_allocated, named after zs_get_total_pages."},
    {"can_compact", (PyCFunction)zspool_can_compact, METH_O,
     "can_compact(class_index) -> int: zs_can_compact of the class, in pages."},
    {"compactable_pages", (PyCFunction)zspool_compactable_pages, METH_NOARGS,
     "Σ zs_can_compact over the classes: the pool shrinker's count_objects."},
    {"compact", (PyCFunction)zspool_compact, METH_NOARGS,
     "compact() -> int: zs_compact, pages freed (0 at once if another compaction runs)."},
    {"class_stats", (PyCFunction)zspool_class_stats, METH_NOARGS,
     "One dict per created class, like debugfs zsmalloc/<pool>/classes."},
    {"destroy", (PyCFunction)zspool_destroy, METH_NOARGS,
     "zs_destroy_pool: release all memory; any further use raises. Idempotent."},
    {"_locate", (PyCFunction)zspool_locate, METH_O,
     "Debug: (class index, zspage serial, slot) of a live handle."},
    {"_fullness_lists", (PyCFunction)zspool_fullness_lists, METH_O,
     "Debug: zspage serials of each fullness list 0..10 of a class, head first."},
    {"_check_invariants", (PyCFunction)zspool_check_invariants, METH_NOARGS,
     "Debug: verify every structural invariant; raise AssertionError on the first failure."},
    {"_class_table", (PyCFunction)zspool_class_table, METH_NOARGS,
     "Debug: (index, size, pages_per_zspage, objs_per_zspage) for each raw index 0..254."},
    {"_compaction_begin", (PyCFunction)zspool_compaction_begin, METH_NOARGS,
     "Tests: claim compaction_in_progress; False if a compaction already runs."},
    {"_compaction_end", (PyCFunction)zspool_compaction_end, METH_NOARGS,
     "Tests: clear compaction_in_progress."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef zspool_getset[] = {
    {"pages_allocated", (getter)get_pages_allocated, NULL,
     "zs_get_total_pages(): pages held by all zspages of the pool (0 once destroyed).", NULL},
    {"pages_compacted", (getter)get_pages_compacted, NULL,
     "pool->stats.pages_compacted: pages freed by compaction over the pool's life.", NULL},
    {"objects_in_use", (getter)get_objects_in_use, NULL,
     "Number of live objects (allocated handles).", NULL},
    {"migrate_seq", (getter)get_migrate_seq, NULL,
     "Migration seqcount: odd while compaction moves objects, bumped twice per pass.", NULL},
    {"destroyed", (getter)get_destroyed, NULL, "True once destroy() has run.", NULL},
    {"name", (getter)get_name, NULL, "The pool's name.", NULL},
    {"chain_size", (getter)get_chain_size, NULL, "CONFIG_ZSMALLOC_CHAIN_SIZE of the pool.",
     NULL},
    {"huge_class_size", (getter)get_huge_class_size, NULL,
     "zs_huge_class_size(): a zs_malloc size at or above this lands in the huge class.", NULL},
    {"max_pages", (getter)get_max_pages, NULL,
     "The zspage allocation limit in pages (None: no limit).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ZsPoolType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.ZsPool",
    .tp_basicsize = sizeof(ZsPoolObject),
    .tp_dealloc = (destructor)zspool_dealloc,
    .tp_repr = (reprfunc)zspool_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "ZsPool(name, chain_size=8, *, max_pages=None): one zsmalloc pool, in C.",
    .tp_methods = zspool_methods,
    .tp_getset = zspool_getset,
    .tp_init = (initproc)zspool_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------ for other C files --- */

struct zs_pool *pyz_zspool_pool(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &ZsPoolType)) {
        PyErr_Format(PyExc_TypeError, "expected a ZsPool, got %s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    ZsPoolObject *self = (ZsPoolObject *)obj;
    if (check_init(self) < 0)
        return NULL;
    return self->pool;
}

int pyz_zspool_is_exact(PyObject *obj)
{
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &ZsPoolType)
        return 1;
    /* pyzswap.zsmalloc.ZsPool: a direct subclass adding only a docstring and a test hook */
    return t->tp_base == &ZsPoolType && strcmp(t->tp_name, "ZsPool") == 0 &&
           t->tp_dict && PyDict_GetItemString(t->tp_dict, "malloc_write") == NULL &&
           PyDict_GetItemString(t->tp_dict, "free") == NULL;
}

PyObject *pyz_zspool_malloc_error(PyObject *obj, int rc, unsigned len)
{
    struct zs_pool *p = pyz_zspool_pool(obj);
    if (!p)
        return NULL;
    ZsPoolObject *self = (ZsPoolObject *)obj;
    if (rc == -EINVAL)
        return RAISE(E_Invalid, "zs_malloc size must be positive, got %u", len);
    if (rc == -ENOSPC)
        return RAISE(E_Poor, "zs_malloc size %u exceeds ZS_MAX_ALLOC_SIZE (%d)", len,
                     ZS_MAX_ALLOC_SIZE);
    struct zs_class_info ci = {0};
    zs_class_for_len(p, len, &ci);
    int limited = 0;
    long pages = 0;
    WITH_LOCK(p, limited = zs_malloc_check_locked(p, len) == -ENOMEM;
              pages = zs_pages_allocated(p));
    return malloc_error(self, rc, limited, pages, ci.pages_per_zspage);
}

PyObject *pyz_zspool_handle_error(PyObject *obj, uint32_t handle)
{
    if (!pyz_zspool_pool(obj))
        return NULL;
    PyObject *h = PyLong_FromUnsignedLong(handle);
    if (!h)
        return NULL;
    bad_handle((ZsPoolObject *)obj, h);
    Py_DECREF(h);
    return NULL;
}

static PyObject *mod_block_cache_pages(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(a))
{
    return PyLong_FromLong(zs_block_cache_pages());
}

static PyObject *mod_block_cache_drain(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(a))
{
    long pages;
    Py_BEGIN_ALLOW_THREADS
    pages = zs_block_cache_drain();
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(pages);
}

static PyMethodDef zsmalloc_functions[] = {
    {"zs_block_cache_pages", mod_block_cache_pages, METH_NOARGS,
     "Pages of freed zspage memory the process keeps for reuse by any pool."},
    {"zs_block_cache_drain", mod_block_cache_drain, METH_NOARGS,
     "Free the process's cache of zspage memory; returns how many pages it held."},
    {NULL, NULL, 0, NULL},
};

int pyz_zsmalloc_add_types(PyObject *module)
{
    if (PyType_Ready(&ZsPoolType) < 0 || PyModule_AddFunctions(module, zsmalloc_functions) < 0 ||
        PyModule_AddIntConstant(module, "ZS_BLOCK_CACHE_PAGES", ZS_BLOCK_CACHE_PAGES) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "ZsPool", (PyObject *)&ZsPoolType);
}
