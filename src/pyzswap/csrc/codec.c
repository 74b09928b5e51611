/* The page codecs (see codec.h): one table, one implementation per algorithm. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getParams, as the kernel's zstd_get_params */
#include "codec.h"

#include "lzo.h"

#include <errno.h>
#include <lz4.h>
#include <lz4hc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* crypto/zstd.c: ZSTD_DEF_LEVEL and the source size its parameters are chosen for
 * (ZSTD_MAX_WINDOWLOG 18: zstd_get_params(ZSTD_DEF_LEVEL, ZSTD_MAX_SIZE)). */
#define ZSTD_KERNEL_LEVEL 3
#define ZSTD_KERNEL_SIZE_HINT (1u << 18)
/* crypto/deflate.c: DEFLATE_DEF_LEVEL (Z_DEFAULT_COMPRESSION, zlib's 6), DEFLATE_DEF_WINBITS
 * (11, passed negated: a raw stream) and the memLevel pyzswap uses (see docs/KERNEL_REFERENCE). */
#define DEFLATE_KERNEL_LEVEL 6
#define DEFLATE_WINBITS 11
#define DEFLATE_MEMLEVEL 9

const struct pyz_algo_desc pyz_algos[PYZ_NR_ALGOS] = {
    [PYZ_ALGO_LZO] = {"lzo", 0, 0, 0, "pyzswap"},
    [PYZ_ALGO_LZO_RLE] = {"lzo-rle", 0, 0, 0, "pyzswap"},
    [PYZ_ALGO_LZ4] = {"lz4", 1, 1, 1, "liblz4"},
    [PYZ_ALGO_LZ4HC] = {"lz4hc", LZ4HC_CLEVEL_DEFAULT, LZ4HC_CLEVEL_MIN, LZ4HC_CLEVEL_MAX,
                        "liblz4"},
    [PYZ_ALGO_ZSTD] = {"zstd", ZSTD_KERNEL_LEVEL, 1, 22, "libzstd"},
    [PYZ_ALGO_DEFLATE] = {"deflate", DEFLATE_KERNEL_LEVEL, 1, 9, "zlib"},
};

struct pyz_codec_ctx {
    int algo, level;
    void *work;       /* lz4 / lz4hc state, or the LZO dictionary */
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    ZSTD_parameters zparams;
    z_stream zc, zd;
    int zc_ok, zd_ok;
    int last_error;   /* the library's code of the last failed decompression */
};

int pyz_algo_find(const char *name)
{
    for (int i = 0; i < PYZ_NR_ALGOS; i++)
        if (strcmp(name, pyz_algos[i].name) == 0)
            return i;
    return -1;
}

int pyz_algo_level_ok(int algo, int level)
{
    return level == 0 || (level >= pyz_algos[algo].min_level && level <= pyz_algos[algo].max_level);
}

struct pyz_codec_ctx *pyz_codec_ctx_new(int algo, int level)
{
    struct pyz_codec_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->algo = algo;
    c->level = level ? level : pyz_algos[algo].default_level;
    if (algo == PYZ_ALGO_ZSTD)
        c->zparams = ZSTD_getParams(c->level, ZSTD_KERNEL_SIZE_HINT, 0);
    return c;
}

void pyz_codec_ctx_free(struct pyz_codec_ctx *c)
{
    if (!c)
        return;
    free(c->work);
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    if (c->zc_ok)
        deflateEnd(&c->zc);
    if (c->zd_ok)
        inflateEnd(&c->zd);
    free(c);
}

int pyz_codec_ctx_algo(const struct pyz_codec_ctx *c)
{
    return c->algo;
}

int pyz_codec_ctx_level(const struct pyz_codec_ctx *c)
{
    return c->level;
}

/* The context's work area of `size` bytes, allocated on first use. */
static void *work(struct pyz_codec_ctx *c, size_t size)
{
    if (!c->work)
        c->work = malloc(size);
    return c->work;
}

/* ---------------------------------------------------------------- per algorithm ---------- */

static int lz4_compress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    void *st = work(c, (size_t)LZ4_sizeofState());
    if (!st)
        return -ENOMEM;
    int r = LZ4_compress_fast_extState(st, src, dst, slen, cap, 1);
    return r > 0 ? r : -ENOSPC; /* LZ4 returns 0 exactly when the output does not fit */
}

static int lz4hc_compress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    void *st = work(c, (size_t)LZ4_sizeofStateHC());
    if (!st)
        return -ENOMEM;
    int r = LZ4_compress_HC_extStateHC(st, src, dst, slen, cap, c->level);
    return r > 0 ? r : -ENOSPC;
}

static int lzo_compress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    void *dict = work(c, PYZ_LZO_WORKMEM);
    if (!dict)
        return -ENOMEM;
    size_t out = (size_t)cap;
    int version = c->algo == PYZ_ALGO_LZO ? PYZ_LZO_V0 : PYZ_LZO_RLE;
    /* the kernel's overrun check: its only failure is an output that does not fit */
    if (pyz_lzo_compress(src, (size_t)slen, dst, &out, dict, version) != PYZ_LZO_OK)
        return -ENOSPC;
    return (int)out;
}

/* crypto/zstd.c's zstd_compress_one through lib/zstd's zstd_compress_cctx: the session and
 * parameters reset, the source size pledged, every parameter of ZSTD_getParams set, then one
 * ZSTD_compress2. */
static int zstd_compress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    if (!c->cctx && !(c->cctx = ZSTD_createCCtx()))
        return -ENOMEM;
    const ZSTD_compressionParameters *cp = &c->zparams.cParams;
    const ZSTD_frameParameters *fp = &c->zparams.fParams;
    const struct {
        ZSTD_cParameter param;
        int value;
    } set[] = {
        {ZSTD_c_windowLog, (int)cp->windowLog},     {ZSTD_c_hashLog, (int)cp->hashLog},
        {ZSTD_c_chainLog, (int)cp->chainLog},       {ZSTD_c_searchLog, (int)cp->searchLog},
        {ZSTD_c_minMatch, (int)cp->minMatch},       {ZSTD_c_targetLength, (int)cp->targetLength},
        {ZSTD_c_strategy, (int)cp->strategy},       {ZSTD_c_contentSizeFlag, fp->contentSizeFlag},
        {ZSTD_c_checksumFlag, fp->checksumFlag},    {ZSTD_c_dictIDFlag, !fp->noDictIDFlag},
    };
    size_t r = ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_and_parameters);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setPledgedSrcSize(c->cctx, (unsigned long long)slen);
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]) && !ZSTD_isError(r); i++)
        r = ZSTD_CCtx_setParameter(c->cctx, set[i].param, set[i].value);
    if (!ZSTD_isError(r))
        r = ZSTD_compress2(c->cctx, dst, (size_t)cap, src, (size_t)slen);
    if (ZSTD_isError(r))
        return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? -ENOSPC : -EINVAL;
    return (int)r;
}

static int deflate_compress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst,
                            int cap)
{
    if (!c->zc_ok) {
        int r = deflateInit2(&c->zc, c->level, Z_DEFLATED, -DEFLATE_WINBITS, DEFLATE_MEMLEVEL,
                             Z_DEFAULT_STRATEGY);
        if (r != Z_OK)
            return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
        c->zc_ok = 1;
    } else if (deflateReset(&c->zc) != Z_OK) {
        return -EINVAL;
    }
    c->zc.next_in = (Bytef *)src;
    c->zc.avail_in = (uInt)slen;
    c->zc.next_out = dst;
    c->zc.avail_out = (uInt)cap;
    int r = deflate(&c->zc, Z_FINISH);
    if (r == Z_STREAM_END)
        return (int)c->zc.total_out;
    return r == Z_OK || r == Z_BUF_ERROR ? -ENOSPC : -EINVAL; /* out of room, or a failure */
}

static int lz4_decompress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    int r = LZ4_decompress_safe(src, dst, slen, cap);
    c->last_error = r;
    return r >= 0 ? r : -EINVAL;
}

static int lzo_decompress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    size_t out = (size_t)cap;
    /* one decoder for both versions, as the kernel's lzo1x_decompress_safe */
    int r = pyz_lzo_decompress(src, (size_t)slen, dst, &out);
    c->last_error = r;
    return r == PYZ_LZO_OK ? (int)out : -EINVAL;
}

static int zstd_decompress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    if (!c->dctx && !(c->dctx = ZSTD_createDCtx()))
        return -ENOMEM;
    size_t r = ZSTD_decompressDCtx(c->dctx, dst, (size_t)cap, src, (size_t)slen);
    c->last_error = ZSTD_isError(r) ? (int)ZSTD_getErrorCode(r) : 0;
    return ZSTD_isError(r) ? -EINVAL : (int)r;
}

static int deflate_decompress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst,
                              int cap)
{
    if (!c->zd_ok) {
        int r = inflateInit2(&c->zd, -DEFLATE_WINBITS);
        if (r != Z_OK)
            return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
        c->zd_ok = 1;
    } else if (inflateReset(&c->zd) != Z_OK) {
        return -EINVAL;
    }
    c->zd.next_in = (Bytef *)src;
    c->zd.avail_in = (uInt)slen;
    c->zd.next_out = dst;
    c->zd.avail_out = (uInt)cap;
    int r = inflate(&c->zd, Z_FINISH);
    c->last_error = r;
    return r == Z_STREAM_END ? (int)c->zd.total_out : -EINVAL;
}

/* ---------------------------------------------------------------- dispatch --------------- */

int pyz_codec_compress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    switch (c->algo) {
    case PYZ_ALGO_LZO:
    case PYZ_ALGO_LZO_RLE:
        return lzo_compress(c, src, slen, dst, cap);
    case PYZ_ALGO_LZ4:
        return lz4_compress(c, src, slen, dst, cap);
    case PYZ_ALGO_LZ4HC:
        return lz4hc_compress(c, src, slen, dst, cap);
    case PYZ_ALGO_ZSTD:
        return zstd_compress(c, src, slen, dst, cap);
    case PYZ_ALGO_DEFLATE:
        return deflate_compress(c, src, slen, dst, cap);
    }
    return -EINVAL;
}

int pyz_codec_decompress(struct pyz_codec_ctx *c, const void *src, int slen, void *dst, int cap)
{
    if (slen <= 0)
        return -EINVAL;
    switch (c->algo) {
    case PYZ_ALGO_LZO:
    case PYZ_ALGO_LZO_RLE:
        return lzo_decompress(c, src, slen, dst, cap);
    case PYZ_ALGO_LZ4:
    case PYZ_ALGO_LZ4HC: /* both are the LZ4 block format */
        return lz4_decompress(c, src, slen, dst, cap);
    case PYZ_ALGO_ZSTD:
        return zstd_decompress(c, src, slen, dst, cap);
    case PYZ_ALGO_DEFLATE:
        return deflate_decompress(c, src, slen, dst, cap);
    }
    return -EINVAL;
}

const char *pyz_codec_strerror(const struct pyz_codec_ctx *c)
{
    static __thread char msg[96];
    switch (c->algo) {
    case PYZ_ALGO_LZO:
    case PYZ_ALGO_LZO_RLE:
        return pyz_lzo_strerror(c->last_error);
    case PYZ_ALGO_LZ4:
    case PYZ_ALGO_LZ4HC:
        snprintf(msg, sizeof(msg), "LZ4_decompress_safe failed at input byte %d",
                 -c->last_error - 1);
        return msg;
    case PYZ_ALGO_ZSTD:
        return ZSTD_getErrorString((ZSTD_ErrorCode)c->last_error);
    default:
        snprintf(msg, sizeof(msg), "inflate returned %d", c->last_error);
        return msg;
    }
}
