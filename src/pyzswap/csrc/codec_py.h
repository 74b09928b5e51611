/* pyzswap._native.PageCodec (codec_py.c): a transform of the codec table (codec.h).
 *
 * Every compressor of pyzswap's own (lzo, lzo-rle, lz4, lz4hc, zstd, deflate) makes PageCodec
 * transforms. Python calls their compress/decompress methods like any Transform's; the C
 * flow calls the functions below directly, with the GIL released, when pyz_pagecodec_of()
 * says the transform's methods are PageCodec's own (a Python subclass that overrides them is
 * called through Python instead).
 */
#ifndef PYZSWAP_CODEC_PY_H
#define PYZSWAP_CODEC_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct pyz_pagecodec PyzPageCodecObject;

/* tfm as a PageCodec if its compress and decompress are PageCodec's own, else NULL (no
 * error). The object stays valid while the caller holds a reference to tfm. */
PyzPageCodecObject *pyz_pagecodec_of(PyObject *tfm);
/* The codec table's compress / decompress (codec.h results) on the object's context. Need no
 * GIL; the context is taken for the call, so two concurrent calls on one object are safe (the
 * second uses a context of its own). -ENOMEM if no context can be made. */
int pyz_pagecodec_compress(PyzPageCodecObject *codec, const void *src, int slen, void *dst,
                           int cap);
int pyz_pagecodec_decompress(PyzPageCodecObject *codec, const void *src, int slen, void *dst,
                             int cap);
/* The algorithm (enum pyz_algo) and, in *level, the level its contexts are made with. */
int pyz_pagecodec_algo(PyzPageCodecObject *codec, int *level);
/* The algorithm's name (static storage). */
const char *pyz_pagecodec_name(PyzPageCodecObject *codec);
/* Raise DecompressFail for a failed decompression of `slen` bytes; returns NULL. */
PyObject *pyz_pagecodec_decompress_error(PyzPageCodecObject *codec, int slen);
int pyz_codec_add_types(PyObject *module);

#endif
