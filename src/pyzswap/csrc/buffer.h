/* The module's buffer check (module.c), for the types that read typed arrays. */
#ifndef PYZSWAP_BUFFER_H
#define PYZSWAP_BUFFER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* obj's C-contiguous buffer into view (writable if asked), its items `itemsize` bytes wide:
 * 8, int64; 1, bytes (unsigned, signed, bool or char). 0, or -1 with an exception
 * ("<who>: <what> must be ...") and nothing held. */
int pyz_typed_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize,
                     const char *who, const char *what);

#endif
