/*
 * The page codecs: one table of algorithms with the kernel's parameters (codec.c).
 *
 * Plain C, no Python API, no global state beyond the constant table: every path that
 * compresses a page (the engines' threads, the PageCodec transform Python calls, the C flow)
 * calls these functions, so an algorithm gives the same bytes whichever path runs it.
 *
 *   lzo      the kernel's LZO1X-1 (lib/lzo, pyzswap's port in lzo.c), bitstream version 0
 *   lzo-rle  the same with zero-run coding, bitstream version 1
 *   lz4      liblz4 LZ4_compress_fast at acceleration 1 (the kernel's LZ4_compress_default)
 *   lz4hc    liblz4 LZ4_compress_HC at the kernel's default level 9 (levels 1..12)
 *   zstd     libzstd at the kernel's ZSTD_DEF_LEVEL 3 with the parameters the kernel's
 *            crypto/zstd.c chooses for its 256 KiB maximum (ZSTD_getParams(3, 1 << 18, 0)),
 *            set as lib/zstd's zstd_compress_cctx sets them: frame format, content size, no
 *            checksum
 *   deflate  zlib, raw (window bits -11), level 6 (Z_DEFAULT_COMPRESSION), memLevel 9,
 *            the stream reset per page (deflateReset), as crypto/deflate.c does
 *
 * A context (struct pyz_codec_ctx) is one transform's working memory, the kernel's per-CPU
 * stream: allocated per direction on first use and reused. One thread at a time may use a
 * context; any number of contexts run in parallel. Nothing here needs the GIL.
 *
 * Results: compress returns the compressed length (> 0), -ENOSPC when the output does not fit
 * `cap` bytes (the kernel's "compress poor"), -ENOMEM, or -EINVAL for any other failure.
 * decompress returns the decompressed length (>= 0), -ENOMEM, or -EINVAL for a corrupt
 * stream (or one that does not fit `cap`); it never reads or writes outside its buffers.
 */
#ifndef PYZSWAP_CODEC_H
#define PYZSWAP_CODEC_H

enum pyz_algo {
    PYZ_ALGO_LZO,
    PYZ_ALGO_LZO_RLE,
    PYZ_ALGO_LZ4,
    PYZ_ALGO_LZ4HC,
    PYZ_ALGO_ZSTD,
    PYZ_ALGO_DEFLATE,
    PYZ_NR_ALGOS,
};

struct pyz_algo_desc {
    const char *name;      /* the kernel's crypto name */
    int default_level;     /* the kernel's level (lz4: its acceleration; lzo: 0) */
    int min_level, max_level;
    const char *library;   /* "liblz4", "libzstd", "zlib" or "pyzswap" (lzo.c) */
};

/* The table, indexed by enum pyz_algo. */
extern const struct pyz_algo_desc pyz_algos[PYZ_NR_ALGOS];

/* The algorithm called `name`, or -1. */
int pyz_algo_find(const char *name);

struct pyz_codec_ctx;

/* A context for `algo` at `level` (0: the default; otherwise min_level..max_level, checked
 * by the caller with pyz_algo_level_ok). NULL when out of memory. */
struct pyz_codec_ctx *pyz_codec_ctx_new(int algo, int level);
void pyz_codec_ctx_free(struct pyz_codec_ctx *ctx);
int pyz_codec_ctx_algo(const struct pyz_codec_ctx *ctx);
int pyz_codec_ctx_level(const struct pyz_codec_ctx *ctx);
/* 1 if `level` is 0 or inside the algorithm's range. */
int pyz_algo_level_ok(int algo, int level);

int pyz_codec_compress(struct pyz_codec_ctx *ctx, const void *src, int slen, void *dst, int cap);
int pyz_codec_decompress(struct pyz_codec_ctx *ctx, const void *src, int slen, void *dst,
                         int cap);
/* A one-line description of a decompression failure of this context's last call. */
const char *pyz_codec_strerror(const struct pyz_codec_ctx *ctx);

#endif
