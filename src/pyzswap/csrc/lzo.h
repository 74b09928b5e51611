/*
 * LZO1X-1 and LZO-RLE in C: the Linux 6.18 kernel's lib/lzo codecs, written here from the
 * algorithm and the stream format (Documentation/staging/lzo.rst), for pyzswap.
 *
 * Plain C, no Python API, no global state, no allocation: a caller owns its work memory and
 * buffers. Any number of threads may call at once as long as no two share a work area.
 *
 * COMPRESSION makes the kernel's exact stream, byte for byte, so every page compresses to the
 * kernel's length:
 *   - pyz_lzo_compress(..., PYZ_LZO_V0) is the kernel's lzo1x_1_compress_safe (crypto "lzo",
 *     zswap's default; zram's "lzo" calls lzo1x_1_compress, which makes the same stream and
 *     differs only in not checking the destination);
 *   - pyz_lzo_compress(..., PYZ_LZO_RLE) is lzorle1x_1_compress_safe ("lzo-rle", zram's
 *     default): bitstream version 1, a stream that starts with the bytes 17, 1 and codes runs
 *     of 4..2051 zero bytes in 4 bytes.
 * The same match choices: a 2^13-entry dictionary of 16-bit offsets, cleared per block of at
 * most 49152 (v0) / 49151 (v1) input bytes, hashed from the 4 bytes at each position, probed
 * at an accelerating stride through literals, match lengths measured 8 bytes at a time as on
 * x86_64 and arm64 (CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS with LZO_USE_CTZ64).
 * The destination checks are the kernel's too (lzo1x_1_compress_safe checks before every write;
 * a short literal run in mid-stream asks for 4 or 17 bytes of room, more than it writes). They
 * never refuse a stream that would fit, because after any mid-stream literal run come at least
 * an instruction, 10 bytes of final literals and the end marker: a compression is refused
 * (PYZ_LZO_OUTPUT_OVERRUN) exactly when the whole stream is longer than *dlen.
 *
 * DECOMPRESSION accepts exactly what the kernel's lzo1x_decompress_safe accepts (one decoder
 * for both versions: a stream of 5 bytes or more that starts with 17 names its version in its
 * second byte) and produces the same bytes. It never reads outside src[0..slen) nor writes
 * outside dst[0..*dlen), whatever the input: a corrupt or truncated stream is an error code.
 *
 * Results are the kernel's LZO_E_* codes: PYZ_LZO_OK (0) or one of the negative codes below.
 */
#ifndef PYZSWAP_LZO_H
#define PYZSWAP_LZO_H

#include <stddef.h>

/* Bytes of work memory one compression needs (the kernel's LZO1X_1_MEM_COMPRESS): the
 * dictionary, 8192 16-bit offsets. Any alignment suitable for uint16_t (malloc's is). */
#define PYZ_LZO_WORKMEM 16384

/* The longest stream n input bytes can compress to (the kernel's lzo1x_worst_compress, which
 * counts LZO-RLE's 2-byte header): a destination this long never overruns. */
#define PYZ_LZO_BOUND(n) ((n) + (n) / 16 + 64 + 3 + 2)

/* Bitstream versions (lzodefs.h LZO_VERSION; lzo.rst "Versions"). */
enum pyz_lzo_version {
    PYZ_LZO_V0 = 0,  /* "lzo": LZO1X */
    PYZ_LZO_RLE = 1, /* "lzo-rle": LZO1X with zero runs */
};

/* Result codes, the kernel's include/linux/lzo.h values. */
enum pyz_lzo_result {
    PYZ_LZO_OK = 0,
    PYZ_LZO_ERROR = -1,              /* malformed stream (bad end marker, absurd length) */
    PYZ_LZO_INPUT_OVERRUN = -4,      /* the stream ends in the middle of an instruction */
    PYZ_LZO_OUTPUT_OVERRUN = -5,     /* the output does not fit the destination */
    PYZ_LZO_LOOKBEHIND_OVERRUN = -6, /* a copy reaches before the start of the output */
    PYZ_LZO_INPUT_NOT_CONSUMED = -8, /* bytes follow the end marker */
};

/* Compress src[0..slen) into dst[0..*dlen) as bitstream `version` (PYZ_LZO_V0/PYZ_LZO_RLE).
 * PYZ_LZO_OK with *dlen set to the stream's length, or PYZ_LZO_OUTPUT_OVERRUN (dst holds
 * garbage then; *dlen is unchanged). wrkmem: PYZ_LZO_WORKMEM bytes, overwritten. */
int pyz_lzo_compress(const unsigned char *src, size_t slen, unsigned char *dst, size_t *dlen,
                     void *wrkmem, int version);

/* Decompress src[0..slen) into dst[0..*dlen). PYZ_LZO_OK with *dlen set to the bytes written,
 * or a negative code (dst holds a partial output then; *dlen is unchanged). */
int pyz_lzo_decompress(const unsigned char *src, size_t slen, unsigned char *dst, size_t *dlen);

/* A short English description of a result code ("lookbehind overrun"). */
const char *pyz_lzo_strerror(int result);

#endif
