/*
 * The Python side of the C zsmalloc, for other C files of pyzswap._native (e.g. a C zswap
 * entry store) that hold a pyzswap ZsPool object and want its struct zs_pool.
 *
 * Calls through these bypass Python-level overrides of a ZsPool subclass (faults.FaultyZsPool
 * injects allocation failures by overriding malloc_write in Python): check the exact type with
 * pyz_zspool_is_exact() and call the Python method when it is a subclass that must be honoured.
 * All of these need the GIL; the zs_* calls themselves never do (zsmalloc.h for the locking).
 */
#ifndef PYZSWAP_ZSMALLOC_PY_H
#define PYZSWAP_ZSMALLOC_PY_H

#include <Python.h>

#include "zsmalloc.h"

/* Register pyzswap._native.ZsPool in the module (called once from PyInit__native). */
int pyz_zsmalloc_add_types(PyObject *module);
/* The pool of a ZsPool instance (or of a subclass); NULL with TypeError set if obj is not one,
 * RuntimeError if its __init__ did not run. Valid while the caller keeps a reference to obj
 * (ZsPool.destroy() only shuts the pool down: later calls return -ESHUTDOWN). */
struct zs_pool *pyz_zspool_pool(PyObject *obj);
/* 1 if obj's type is exactly pyzswap.zsmalloc.ZsPool or pyzswap._native.ZsPool, i.e. no
 * Python subclass overrides anything, else 0. */
int pyz_zspool_is_exact(PyObject *obj);
/* Raise what ZsPool.malloc_write raises for rc (< 0) from zs_malloc_write_locked(len), with the
 * same class and message; always returns NULL. Call it after releasing the mutex. */
PyObject *pyz_zspool_malloc_error(PyObject *obj, int rc, unsigned len);
/* Raise what ZsPool.free/read/... raise for a handle that is not live (or a destroyed pool);
 * always returns NULL. */
PyObject *pyz_zspool_handle_error(PyObject *obj, uint32_t handle);

#endif
