/* pyzswap._native: the C half of pyzswap, one extension module.
 *
 * Every type registers itself from its own file (pyz_*_add_types); this file adds the
 * constants of consts.h (the one definition Python reads them from), the codec table's
 * algorithms with their kernel levels, and the codec libraries' versions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include <string.h>

#include "codec.h"
#include "consts.h"

int pyz_codec_add_types(PyObject *module);    /* codec_py.c: PageCodec */
int pyz_engines_add_types(PyObject *module);  /* engines.c: Engines, Job */
int pyz_entries_add_types(PyObject *module);  /* entries.c: EntryTable */
int pyz_flow_add_types(PyObject *module);     /* flow.c: NativeFlow */
int pyz_lock_add_types(PyObject *module);     /* lock.c: Lock */
int pyz_mmu_add_types(PyObject *module);      /* mmu.c: Mmu */
int pyz_pool_add_types(PyObject *module);     /* pool.c: PercpuRef, AcompCtx, CtxResources */
int pyz_state_add_types(PyObject *module);    /* state.c: ZswapState */
int pyz_zsmalloc_add_types(PyObject *module); /* zsmalloc_py.c: ZsPool */

static PyObject *mod_versions(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(a))
{
    return Py_BuildValue("{s:s,s:s,s:s,s:s}", "lz4", LZ4_versionString(), "zstd",
                         ZSTD_versionString(), "lzo", "Linux 6.18 lib/lzo (pyzswap csrc/lzo.c)",
                         "zlib", zlibVersion());
}

/* zero_filled(buf): every byte of buf is zero (the swap core's is_folio_zero_filled). */
static PyObject *mod_zero_filled(PyObject *Py_UNUSED(m), PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    /* all zero: the first byte is, and every byte equals the one before it */
    int zero = view.len == 0 || (b[0] == 0 && !memcmp(b, b + 1, (size_t)view.len - 1));
    PyBuffer_Release(&view);
    return PyBool_FromLong(zero);
}

static PyMethodDef module_methods[] = {
    {"versions", mod_versions, METH_NOARGS, "The C codec libraries' versions."},
    {"zero_filled", mod_zero_filled, METH_O,
     "zero_filled(buf) -> bool: every byte of the buffer is zero"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "pyzswap._native",
    "pyzswap's C half: the codec table, the batching engines, zsmalloc, the entry table, the "
    "zswap state and the C flow.",
    -1, module_methods,
};

/* ALGORITHMS: {name: the kernel's level} of the codec table, in table order. */
static int add_algorithms(PyObject *m)
{
    PyObject *d = PyDict_New();
    if (!d)
        return -1;
    for (int i = 0; i < PYZ_NR_ALGOS; i++) {
        PyObject *level = PyLong_FromLong(pyz_algos[i].default_level);
        if (!level || PyDict_SetItemString(d, pyz_algos[i].name, level) < 0) {
            Py_XDECREF(level);
            Py_DECREF(d);
            return -1;
        }
        Py_DECREF(level);
    }
    int rc = PyModule_AddObjectRef(m, "ALGORITHMS", d);
    Py_DECREF(d);
    return rc;
}

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (!m)
        return NULL;
    if (PyModule_AddIntMacro(m, PAGE_SHIFT) < 0 || PyModule_AddIntMacro(m, PAGE_SIZE) < 0 ||
        PyModule_AddIntMacro(m, MAX_FOLIO_PAGES) < 0 ||
        PyModule_AddIntMacro(m, ZSWAP_MAX_BATCH_SIZE) < 0 || add_algorithms(m) < 0 ||
        pyz_codec_add_types(m) < 0 || pyz_engines_add_types(m) < 0 ||
        pyz_entries_add_types(m) < 0 || pyz_zsmalloc_add_types(m) < 0 ||
        pyz_lock_add_types(m) < 0 || pyz_mmu_add_types(m) < 0 ||
        pyz_pool_add_types(m) < 0 || pyz_state_add_types(m) < 0 || pyz_flow_add_types(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
