/* The lifetime errors of the native types and pyzswap.errors' classes (see lifecycle.h). */
#include "lifecycle.h"

PyObject *pyz_ZswapError, *pyz_InvalidParameter, *pyz_SlotBusy, *pyz_AllocFail,
    *pyz_CompressPoor, *pyz_CompressFail, *pyz_DecompressFail, *pyz_InvalidPage,
    *pyz_UseAfterFree;

PyObject *pyz_err_uninit(const char *type)
{
    PyErr_Format(PyExc_RuntimeError, "%s.__init__ was not called", type);
    return NULL;
}

int pyz_err_init_twice(const char *type)
{
    PyErr_Format(PyExc_RuntimeError, "%s.__init__ called twice", type);
    return -1;
}

int pyz_load_zswap_errors(void)
{
    static const struct {
        const char *name;
        PyObject **cls;
    } classes[] = {
        {"ZswapError", &pyz_ZswapError},         {"InvalidParameter", &pyz_InvalidParameter},
        {"SlotBusy", &pyz_SlotBusy},             {"AllocFail", &pyz_AllocFail},
        {"CompressPoor", &pyz_CompressPoor},     {"CompressFail", &pyz_CompressFail},
        {"InvalidPage", &pyz_InvalidPage},       {"UseAfterFree", &pyz_UseAfterFree},
        {"DecompressFail", &pyz_DecompressFail},
    };
    const size_t n = sizeof(classes) / sizeof(classes[0]);
    if (*classes[n - 1].cls) /* the last one is set only once all are */
        return 0;
    PyObject *m = PyImport_ImportModule("pyzswap.errors");
    if (!m)
        return -1;
    PyObject *got[sizeof(classes) / sizeof(classes[0])];
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= (got[i] = PyObject_GetAttrString(m, classes[i].name)) != NULL;
    Py_DECREF(m);
    for (size_t i = 0; i < n; i++) {
        if (ok)
            *classes[i].cls = got[i];
        else
            Py_XDECREF(got[i]);
    }
    return ok ? 0 : -1;
}
