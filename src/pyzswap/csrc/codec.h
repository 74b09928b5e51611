/* pyzswap._native.PageCodec (codec.c): a page codec that C callers use without Python.
 *
 * The lz4 and lzo families' transforms are PageCodec objects. Python calls their compress/decompress
 * methods like any Transform's; the fast paths (fastpath.c) call the C functions below
 * directly, with the GIL released, when pyz_codec_native() says the transform's methods are
 * the C ones (a Python subclass that overrides them keeps the Python call).
 */
#ifndef PYZSWAP_CODEC_H
#define PYZSWAP_CODEC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct pyz_codec PyzCodecObject;

/* Compress src[0..slen) (zswap: one 4 KiB page) into dst[0..cap): the length (> 0), 0 if it
 * does not fit (the kernel's -ENOSPC), -ENOMEM, or < 0 on another failure. Needs no GIL; the
 * codec's state is taken for the call, so concurrent calls on one codec are safe (the second
 * one uses a fresh state). */
int pyz_codec_compress(PyzCodecObject *codec, const void *src, int slen, void *dst, int cap);
/* Decompress src[0..slen) into dst[0..cap): the length, or < 0 for a corrupt stream. No GIL. */
int pyz_codec_decompress(PyzCodecObject *codec, const void *src, int slen, void *dst, int cap);
/* tfm as a codec if its compress and decompress are PageCodec's own, else NULL (no error). */
PyzCodecObject *pyz_codec_native(PyObject *tfm);
int pyz_codec_add_types(PyObject *module);

/* pyzswap.errors' codec errors, for every C file that raises or matches them: 0 once
 * loaded, -1 with an exception if the module cannot be imported. */
int pyz_load_errors(void);
extern PyObject *pyz_CompressPoor, *pyz_CompressFail, *pyz_DecompressFail;

#endif
