/* What every native type of pyzswap._native raises for a misused lifetime, and the
 * pyzswap.errors classes C code raises (lifecycle.c).
 *
 * The contract each type keeps (docs/RELIABILITY.md): a method called before __init__ ran
 * raises RuntimeError("T.__init__ was not called"); a second __init__ raises
 * RuntimeError("T.__init__ called twice") and changes nothing; a method called after the
 * object was closed or destroyed raises the error its docstring names. None of them crashes.
 */
#ifndef PYZSWAP_LIFECYCLE_H
#define PYZSWAP_LIFECYCLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Raise RuntimeError("<type>.__init__ was not called"); returns NULL. */
PyObject *pyz_err_uninit(const char *type);
/* Raise RuntimeError("<type>.__init__ called twice"); returns -1 (for tp_init). */
int pyz_err_init_twice(const char *type);

/* The pyzswap.errors classes C code raises: 0 once loaded, -1 with an exception if the module
 * cannot be imported. */
int pyz_load_zswap_errors(void);
extern PyObject *pyz_ZswapError, *pyz_InvalidParameter, *pyz_SlotBusy, *pyz_AllocFail,
    *pyz_CompressPoor, *pyz_CompressFail, *pyz_DecompressFail, *pyz_InvalidPage,
    *pyz_UseAfterFree;

#endif
