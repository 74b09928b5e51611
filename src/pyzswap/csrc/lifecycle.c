/* The lifetime errors of the native types and pyzswap.errors' classes (see lifecycle.h). */
#include "lifecycle.h"

PyObject *pyz_ZswapError, *pyz_InvalidParameter, *pyz_SlotBusy;

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
    if (pyz_SlotBusy)
        return 0;
    PyObject *m = PyImport_ImportModule("pyzswap.errors");
    if (!m)
        return -1;
    PyObject *a = PyObject_GetAttrString(m, "ZswapError");
    PyObject *b = PyObject_GetAttrString(m, "InvalidParameter");
    PyObject *c = PyObject_GetAttrString(m, "SlotBusy");
    Py_DECREF(m);
    if (!a || !b || !c) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        return -1;
    }
    pyz_ZswapError = a;
    pyz_InvalidParameter = b;
    pyz_SlotBusy = c;
    return 0;
}
