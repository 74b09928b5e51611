/*
 * LZO1X-1 and LZO-RLE, the kernel's lib/lzo codecs (Linux 6.18); the contract is in lzo.h.
 *
 * The stream (Documentation/staging/lzo.rst) is a sequence of instructions. Each copies a run
 * of literal bytes from the stream, or a block of earlier output (length, distance), or, in
 * version 1 only, writes a run of zero bytes; the low two bits of most instructions ("S") say
 * how many literals (0..3) follow it directly, and the decoder's state remembers that count,
 * because the meaning of the opcodes 0..15 depends on it. A block copy of distance 16384
 * ends the stream (the 3 bytes 0x11 0x00 0x00).
 *
 *   first byte 18..255   t = byte - 17 literals follow (t < 4: as S bits, state t)
 *   0000LLLL  state 0    literal run of L + 3 bytes (L == 0: 18 + extension)
 *   0000DDSS  state 1-3  copy 2 bytes, distance 1 + D + 4 * next byte
 *   0000DDSS  state 4    copy 3 bytes, distance 2049 + D + 4 * next byte
 *   0001HLLL  + LE16     copy L + 2 bytes (L == 0: 9 + extension), distance
 *                        16384 + 16384 * H + LE16 / 4 (S = LE16 & 3); v1: H = 1 and
 *                        LE16 >= 0xfffc is a zero run of (L | next byte << 3) + 4 bytes
 *   001LLLLL  + LE16     copy L + 2 bytes (L == 0: 33 + extension), distance 1 + LE16 / 4
 *   01LDDDSS, 1LLDDDSS   copy 3..8 bytes, distance 1 + D + 8 * next byte
 * A length "extension" is a count of zero bytes (255 each) plus the first non-zero byte.
 *
 * The compressor is LZO1X-1 as lib/lzo/lzo1x_compress.c runs it: greedy, one dictionary probe
 * per position, the first match found is taken and extended as far as it goes.
 */
#include "lzo.h"

#include <stdint.h>
#include <string.h>

/* lzodefs.h */
#define M2_MAX_LEN 8
#define M3_MAX_LEN 33
#define M4_MAX_LEN 9
#define M2_MAX_OFFSET 0x0800
#define M3_MAX_OFFSET 0x4000
#define M4_MAX_OFFSET_V0 0xbfff
#define M4_MAX_OFFSET_V1 0xbffe /* v1 keeps 0xbfff for the zero-run marker */
#define M3_MARKER 32
#define M4_MARKER 16
#define MIN_ZERO_RUN 4
#define MAX_ZERO_RUN (2047 + MIN_ZERO_RUN)
#define D_BITS 13
#define D_SIZE (1u << D_BITS)
#define LZO_HASH_MUL 0x1824429du
/* lzo1x_1_do_compress stops looking for matches this many bytes before the end of a block */
#define TAIL_RESERVE 20

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* ------------------------------------------------------------------ little-endian loads -- */
/* The kernel measures matches and zero runs with little-endian word loads (__builtin_ctz on
 * x86_64 and arm64); pyzswap runs on little-endian hosts only. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "csrc/lzo.c assumes a little-endian host"
#endif

static inline u32 le32(const u8 *p)
{
    u32 v;
    memcpy(&v, p, 4);
    return v;
}

static inline u64 le64(const u8 *p)
{
    u64 v;
    memcpy(&v, p, 8);
    return v;
}

static inline unsigned le16(const u8 *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* Index of the first non-zero byte of a non-zero little-endian word. */
static inline unsigned first_set_byte(u64 v)
{
    return (unsigned)__builtin_ctzll(v) >> 3;
}

/* ================================================================== compression ========== */

/* Where compression writes: the cursor, its limit, and which byte of the last instruction
 * takes the count of 1..3 literals that follow it (lib/lzo's state_offset: 2 bytes back after
 * a block copy, whose S bits are in its last-but-one byte; 3 after a zero run). */
struct sink {
    u8 *op;
    u8 *end;
    int s_back;
};

static inline int room(const struct sink *o, size_t n)
{
    return (size_t)(o->end - o->op) >= n;
}

/* A length that does not fit its opcode's bits: zero bytes worth 255 each, then the rest. */
static inline u8 *put_extension(u8 *op, size_t n)
{
    while (n > 255) {
        *op++ = 0;
        n -= 255;
    }
    *op++ = (u8)n;
    return op;
}

static inline size_t extension_bytes(size_t n)
{
    return n <= 255 ? 1 : 1 + (n - 1) / 255;
}

/* The literal run lit[0..t) before an instruction in mid-stream (t >= 1). Runs of at most 16
 * are written with fixed 4- or 16-byte copies, so the kernel asks for that much room first
 * (lzo1x_1_do_compress's NEED_OP(4) / NEED_OP(17)); longer runs need their exact size. (The
 * extra room is always needed later anyway: the stream ends with at least 10 literals and the
 * 3-byte end marker after the instruction that follows, so this refuses nothing that fits.) */
static inline int put_literals(struct sink *o, const u8 *lit, size_t t)
{
    u8 *op = o->op;
    if (t <= 3) {
        if (!room(o, 4))
            return -1;
        op[o->s_back] |= (u8)t; /* the previous instruction's S bits */
        memcpy(op, lit, 4);
        o->op = op + t;
        return 0;
    }
    if (t <= 16) {
        if (!room(o, 17))
            return -1;
        *op++ = (u8)(t - 3);
        memcpy(op, lit, 16);
        o->op = op + t;
        return 0;
    }
    size_t head = t <= 18 ? 1 : 1 + extension_bytes(t - 18);
    if (!room(o, head + t))
        return -1;
    if (t <= 18) {
        *op++ = (u8)(t - 3);
    } else {
        *op++ = 0;
        op = put_extension(op, t - 18);
    }
    memcpy(op, lit, t);
    o->op = op + t;
    return 0;
}

/* A zero run of n (4..MAX_ZERO_RUN) bytes, v1 only: the block-copy opcode with H = 1 and
 * distance bits all ones, the 11-bit count split over its L bits and a fourth byte. */
static inline int put_zero_run(struct sink *o, size_t n)
{
    if (!room(o, 4))
        return -1;
    size_t r = n - MIN_ZERO_RUN;
    u8 *op = o->op;
    op[0] = (u8)(M4_MARKER | 8 | (r & 7));
    op[1] = 0xfc; /* the S bits of the two distance bytes stay free for the next literals */
    op[2] = 0xff;
    op[3] = (u8)(r >> 3);
    o->op = op + 4;
    o->s_back = -3;
    return 0;
}

/* A block copy of len bytes from dist bytes back (the encodings of lzo1x_1_do_compress). */
static inline int put_match(struct sink *o, size_t dist, size_t len)
{
    u8 *op = o->op;
    if (len <= M2_MAX_LEN && dist <= M2_MAX_OFFSET) {
        if (!room(o, 2))
            return -1;
        size_t d = dist - 1;
        op[0] = (u8)((len - 1) << 5 | (d & 7) << 2);
        op[1] = (u8)(d >> 3);
        op += 2;
    } else {
        size_t d, head;
        u8 opcode;
        size_t max_short;
        if (dist <= M3_MAX_OFFSET) {
            d = dist - 1;
            opcode = M3_MARKER;
            max_short = M3_MAX_LEN;
        } else {
            d = dist - 0x4000;
            opcode = (u8)(M4_MARKER | ((d >> 11) & 8));
            max_short = M4_MAX_LEN;
        }
        head = len <= max_short ? 1 : 1 + extension_bytes(len - max_short);
        if (!room(o, head + 2))
            return -1;
        if (len <= max_short) {
            *op++ = (u8)(opcode | (len - 2));
        } else {
            *op++ = opcode;
            op = put_extension(op, len - max_short);
        }
        *op++ = (u8)(d << 2);
        *op++ = (u8)(d >> 6);
    }
    o->op = op;
    o->s_back = -2;
    return 0;
}

/* How far the match at ip (its first 4 bytes equal to those at m) goes. As the kernel
 * measures it with 64-bit loads: 8 bytes at a time, and once those reach ip_end the count
 * stops at the last whole 8 bytes that matched. */
static inline size_t match_length(const u8 *ip, const u8 *m, const u8 *ip_end)
{
    size_t len = 4;
    u64 diff = le64(ip + len) ^ le64(m + len);
    while (diff == 0) {
        len += 8;
        diff = le64(ip + len) ^ le64(m + len);
        if (ip + len >= ip_end)
            return len;
    }
    return len + first_set_byte(diff);
}

/* How many zero bytes start at ip (its first 4 are known to be zero), counting no further
 * than limit, and at most MAX_ZERO_RUN. */
static inline size_t zero_run_length(const u8 *ip, const u8 *limit)
{
    const u8 *p = ip + 4;
    for (;;) {
        if (p + 8 > limit) {
            while (p < limit && *p == 0)
                p++;
            break;
        }
        u64 w = le64(p);
        if (w) {
            p += first_set_byte(w);
            break;
        }
        p += 8;
    }
    size_t n = (size_t)(p - ip);
    return n > MAX_ZERO_RUN ? MAX_ZERO_RUN : n;
}

/* One block of in[0..len) (len > TAIL_RESERVE) with a fresh dictionary: lzo1x_1_do_compress.
 * *pending counts literals not yet written that end where this block starts (they are
 * written before this block's first instruction) and on return the literals left at its end. */
static int compress_block(const u8 *in, size_t len, struct sink *o, size_t *pending, u16 *dict,
                          int rle)
{
    const u8 *const in_end = in + len;
    const u8 *const ip_end = in_end - TAIL_RESERVE;
    const u8 *lit = in;           /* the first byte of this block not yet written */
    size_t carried = *pending;    /* and how many bytes before it are not written either */
    const u8 *ip = in + (carried < 4 ? 4 - carried : 0);
    int step = 1;                 /* 0 right after an instruction: probe ip itself */

    for (;;) {
        if (step)
            ip += 1 + ((size_t)(ip - lit) >> 5); /* skip faster through incompressible data */
        step = 1;
        if (ip >= ip_end)
            break;
        u32 dv = le32(ip);
        size_t zeros = 0;
        const u8 *m = NULL;
        if (dv == 0 && rle) {
            const u8 *limit = ip_end;
            if ((size_t)(ip_end - ip) > MAX_ZERO_RUN + 1)
                limit = ip + MAX_ZERO_RUN + 1;
            zeros = zero_run_length(ip, limit);
        } else {
            u32 h = (u32)(dv * LZO_HASH_MUL) >> (32 - D_BITS);
            m = in + dict[h];
            dict[h] = (u16)(ip - in);
            if (le32(m) != dv)
                continue;
        }

        lit -= carried;
        carried = 0;
        if (ip > lit && put_literals(o, lit, (size_t)(ip - lit)) < 0)
            return PYZ_LZO_OUTPUT_OVERRUN;

        if (zeros) {
            ip += zeros;
            if (put_zero_run(o, zeros) < 0)
                return PYZ_LZO_OUTPUT_OVERRUN;
        } else {
            size_t mlen = match_length(ip, m, ip_end);
            size_t dist = (size_t)(ip - m);
            /* v1: a long far copy whose length extension byte and distance bytes would read
             * as a zero-run marker is shortened to 260 (lzo.rst: distance & 0x803f == 0x803f,
             * 261 <= length <= 264) */
            if (rle && dist > M3_MAX_OFFSET && mlen >= 261 && mlen <= 264 &&
                ((dist - 0x4000) & 0x403f) == 0x403f)
                mlen = 260;
            ip += mlen;
            if (put_match(o, dist, mlen) < 0)
                return PYZ_LZO_OUTPUT_OVERRUN;
        }
        lit = ip;
        step = 0;
    }
    *pending = (size_t)(in_end - lit) + carried;
    return PYZ_LZO_OK;
}

/* lzogeneric1x_1_compress (the _safe build). */
int pyz_lzo_compress(const unsigned char *src, size_t slen, unsigned char *dst, size_t *dlen,
                     void *wrkmem, int version)
{
    struct sink o = {dst, dst + *dlen, -2};
    int rle = version != PYZ_LZO_V0;
    if (rle) {
        /* v0 never starts with 17 (save for an empty input), so 17 announces a version */
        if (!room(&o, 2))
            return PYZ_LZO_OUTPUT_OVERRUN;
        *o.op++ = 17;
        *o.op++ = (u8)version;
    }
    u8 *const data_start = o.op;
    size_t max_block = (rle ? M4_MAX_OFFSET_V1 : M4_MAX_OFFSET_V0) + 1;
    const u8 *ip = src;
    size_t left = slen, pending = 0;

    /* blocks no longer than the farthest distance an M4 copy can reach */
    while (left > TAIL_RESERVE) {
        size_t n = left < max_block ? left : max_block;
        memset(wrkmem, 0, D_SIZE * sizeof(u16));
        int r = compress_block(ip, n, &o, &pending, wrkmem, rle);
        if (r != PYZ_LZO_OK)
            return r;
        ip += n;
        left -= n;
    }
    pending += left;

    if (pending) { /* the last literals: exact room checks */
        const u8 *lit = src + slen - pending;
        size_t t = pending;
        if (o.op == data_start && t <= 238) {
            if (!room(&o, 1 + t))
                return PYZ_LZO_OUTPUT_OVERRUN;
            *o.op++ = (u8)(17 + t);
        } else if (t <= 3) {
            if (!room(&o, t))
                return PYZ_LZO_OUTPUT_OVERRUN;
            o.op[o.s_back] |= (u8)t;
        } else {
            size_t head = t <= 18 ? 1 : 1 + extension_bytes(t - 18);
            if (!room(&o, head + t))
                return PYZ_LZO_OUTPUT_OVERRUN;
            if (t <= 18) {
                *o.op++ = (u8)(t - 3);
            } else {
                *o.op++ = 0;
                o.op = put_extension(o.op, t - 18);
            }
        }
        memcpy(o.op, lit, t);
        o.op += t;
    }
    if (!room(&o, 3))
        return PYZ_LZO_OUTPUT_OVERRUN;
    *o.op++ = M4_MARKER | 1; /* end of stream: a block copy of distance 16384 */
    *o.op++ = 0;
    *o.op++ = 0;
    *dlen = (size_t)(o.op - dst);
    return PYZ_LZO_OK;
}

/* ================================================================== decompression ======== */

/* Largest zero-byte count of a length extension that cannot overflow a size_t (the kernel's
 * MAX_255_COUNT): longer is PYZ_LZO_ERROR. */
#define MAX_255_COUNT ((SIZE_MAX / 255) - 2)

/* len bytes of `byte` at op; room >= len bytes may be written there. With 31 more, whole
 * 32-byte stores may run past the end (what they write past it is overwritten or unused):
 * runs are often long (a page's zero tail), and a string store's start-up costs more than a
 * short run. */
static inline void fill(u8 *op, u8 byte, size_t len, size_t room)
{
    if (room >= len + 31) {
        u8 v[32];
        memset(v, byte, sizeof(v));
        u8 *const oe = op + len;
        do {
            memcpy(op, v, 32);
            op += 32;
        } while (op < oe);
    } else {
        memset(op, byte, len);
    }
}

/* Copy len bytes to op from dist bytes back, as a byte-by-byte forward copy would (the source
 * may overlap what the copy writes). room >= len bytes may be written at op; with 15 more,
 * whole 16-byte steps may run past the end. */
static inline void copy_match(u8 *op, size_t dist, size_t len, size_t room)
{
    const u8 *m = op - dist;
    u8 *const oe = op + len;
    if (dist >= 16 && room >= len + 15) {
        do { /* whole 16 bytes behind the cursor: already written */
            memcpy(op, m, 16);
            op += 16;
            m += 16;
        } while (op < oe);
    } else if (dist >= 8 && room >= len + 15) {
        do {
            memcpy(op, m, 8);
            memcpy(op + 8, m + 8, 8);
            op += 16;
            m += 16;
        } while (op < oe);
    } else if (dist == 1) {
        fill(op, *m, len, room); /* a run of one byte (LZO1X codes zero runs so) */
    } else {
        /* a short period: the output repeats every dist bytes, so whatever is already written
         * from m on may be copied whole, and each copy doubles what there is */
        size_t have = dist;
        while (len > have) {
            memcpy(op, m, have);
            op += have;
            len -= have;
            have *= 2;
        }
        memcpy(op, m, len);
    }
}

/* A length extension at *ipp (its first byte is readable): zero bytes worth 255 each, then a
 * non-zero byte, added to `base`. PYZ_LZO_OK with *len set and *ipp past it, or the kernel's
 * error: the stream ends among the zeros, or there are too many of them. */
static inline int length_extension(const u8 **ipp, const u8 *ip_end, size_t base, size_t *len)
{
    const u8 *ip = *ipp, *first = ip;
    while (*ip == 0) {
        ip++;
        if (ip == ip_end)
            return PYZ_LZO_INPUT_OVERRUN;
    }
    size_t zeros = (size_t)(ip - first);
    if (zeros > MAX_255_COUNT)
        return PYZ_LZO_ERROR;
    *len = 255 * zeros + base + *ip++;
    *ipp = ip;
    return PYZ_LZO_OK;
}

/* The decompressor's cursors: input at ip (ending at ip_end), output at op (from dst to op_end).
 * The helpers below take it by address; inlined, the compiler keeps it in registers. */
struct lzo_cursor {
    const u8 *ip;
    const u8 *ip_end;
    u8 *op;
    u8 *dst;
    u8 *op_end;
};

/* Returned by a copy instruction that is the end marker (never seen by a caller of
 * pyz_lzo_decompress: it becomes PYZ_LZO_OK). */
#define LZO_STREAM_END 1

/* As the kernel's: the error paths out of the decoding loop are cold (measured: without the
 * hint the split decoder was ~2% slower on lzo-rle pages than the one-function original). */
#define unlikely(x) __builtin_expect(!!(x), 0)

#define IN_LEFT(c) ((size_t)((c)->ip_end - (c)->ip))
#define OUT_LEFT(c) ((size_t)((c)->op_end - (c)->op))

/* t literals from the input (a run of 4 or more, or the stream's first bare run). */
static inline int lzo_literal_run(struct lzo_cursor *c, size_t t)
{
    if (IN_LEFT(c) >= t + 15 && OUT_LEFT(c) >= t + 15) {
        /* room for whole 16-byte copies on both sides */
        const u8 *ip = c->ip, *ie = ip + t;
        u8 *op = c->op, *oe = op + t;
        do {
            memcpy(op, ip, 16);
            op += 16;
            ip += 16;
        } while (ip < ie);
        c->ip = ie;
        c->op = oe;
        return PYZ_LZO_OK;
    }
    if (OUT_LEFT(c) < t)
        return PYZ_LZO_OUTPUT_OVERRUN;
    if (IN_LEFT(c) < t + 3)
        return PYZ_LZO_INPUT_OVERRUN;
    memcpy(c->op, c->ip, t);
    c->op += t;
    c->ip += t;
    return PYZ_LZO_OK;
}

/* The 0..3 literals that follow a copy instruction (its low two bits: `next`). */
static inline int lzo_trailing_literals(struct lzo_cursor *c, size_t next)
{
    if (IN_LEFT(c) >= 6 && OUT_LEFT(c) >= 4) {
        memcpy(c->op, c->ip, 4);
        c->op += next;
        c->ip += next;
        return PYZ_LZO_OK;
    }
    if (IN_LEFT(c) < next + 3)
        return PYZ_LZO_INPUT_OVERRUN;
    if (OUT_LEFT(c) < next)
        return PYZ_LZO_OUTPUT_OVERRUN;
    for (size_t i = 0; i < next; i++)
        *c->op++ = *c->ip++;
    return PYZ_LZO_OK;
}

/* A block copy of t bytes from dist back in the output. */
static inline int lzo_block_copy(struct lzo_cursor *c, size_t dist, size_t t)
{
    if (dist > (size_t)(c->op - c->dst))
        return PYZ_LZO_LOOKBEHIND_OVERRUN;
    if (OUT_LEFT(c) < t)
        return PYZ_LZO_OUTPUT_OVERRUN;
    copy_match(c->op, dist, t, OUT_LEFT(c));
    c->op += t;
    return PYZ_LZO_OK;
}

/* Opcode 0..15 after literals (`state` 1..4): 2 bytes from at most 1 KiB back, or after 4+
 * literals 3 bytes from 2..3 KiB back. */
static inline int lzo_short_match(struct lzo_cursor *c, size_t t, size_t state, size_t *next)
{
    *next = t & 3;
    size_t dist = 1 + (t >> 2) + ((size_t)*c->ip++ << 2);
    if (state == 4)
        return lzo_block_copy(c, dist + M2_MAX_OFFSET, 3);
    if (dist > (size_t)(c->op - c->dst))
        return PYZ_LZO_LOOKBEHIND_OVERRUN;
    if (OUT_LEFT(c) < 2)
        return PYZ_LZO_OUTPUT_OVERRUN;
    const u8 *m = c->op - dist;
    c->op[0] = m[0];
    c->op[1] = m[1];
    c->op += 2;
    return PYZ_LZO_OK;
}

/* A copy's length field *t: when it is 0, a length extension worth `base` more follows, and
 * after it the copy's two distance bytes must be there. */
static inline int lzo_copy_length(struct lzo_cursor *c, size_t *t, size_t base)
{
    int r;
    if (*t != 0)
        return PYZ_LZO_OK;
    if ((r = length_extension(&c->ip, c->ip_end, base, t)) != PYZ_LZO_OK)
        return r;
    return IN_LEFT(c) < 2 ? PYZ_LZO_INPUT_OVERRUN : PYZ_LZO_OK;
}

/* Opcode 32..63: a copy from up to 16 KiB back, its length extended when the low 5 bits are
 * 0, then a little-endian 16-bit distance whose low two bits are `next`. */
static inline int lzo_middle_match(struct lzo_cursor *c, size_t t, size_t *next)
{
    int r;
    t &= 31;
    if ((r = lzo_copy_length(c, &t, 31)) != PYZ_LZO_OK)
        return r;
    size_t d = le16(c->ip);
    c->ip += 2;
    *next = d & 3;
    return lzo_block_copy(c, 1 + (d >> 2), t + 2);
}

/* Opcode 16..31: a copy from 16..48 KiB back, the end marker (LZO_STREAM_END), or, in an
 * lzo-rle stream, a run of zero bytes. */
static inline int lzo_far_match(struct lzo_cursor *c, size_t t, int rle, size_t *next)
{
    int r;
    if (IN_LEFT(c) < 2)
        return PYZ_LZO_INPUT_OVERRUN;
    size_t d = le16(c->ip);
    if (rle && (t & 0xf8) == 0x18 && (d & 0xfffc) == 0xfffc) {
        if (IN_LEFT(c) < 3)
            return PYZ_LZO_INPUT_OVERRUN;
        t = ((t & 7) | (size_t)c->ip[2] << 3) + MIN_ZERO_RUN;
        if (OUT_LEFT(c) < t)
            return PYZ_LZO_OUTPUT_OVERRUN;
        fill(c->op, 0, t, OUT_LEFT(c));
        c->op += t;
        *next = d & 3;
        c->ip += 3;
        return PYZ_LZO_OK;
    }
    size_t far = (t & 8) << 11;
    t &= 7;
    if (t == 0) {
        if ((r = lzo_copy_length(c, &t, 7)) != PYZ_LZO_OK)
            return r;
        d = le16(c->ip);
    }
    t += 2;
    c->ip += 2;
    *next = d & 3;
    size_t dist = far + (d >> 2);
    if (dist == 0) { /* end of stream: the marker is a copy of exactly 3 */
        if (t != 3)
            return PYZ_LZO_ERROR;
        if (c->ip != c->ip_end)
            return c->ip < c->ip_end ? PYZ_LZO_INPUT_NOT_CONSUMED : PYZ_LZO_INPUT_OVERRUN;
        return LZO_STREAM_END;
    }
    return lzo_block_copy(c, dist + 0x4000, t);
}

/* One copy instruction (opcode t, not a literal run): the copy; `next` literals follow it. */
static inline int lzo_copy_instruction(struct lzo_cursor *c, size_t t, size_t state, int rle,
                                       size_t *next)
{
    int r;
    if (t < 16)
        r = lzo_short_match(c, t, state, next);
    else if (t >= 64) { /* 3..8 bytes from at most 2 KiB back */
        *next = t & 3;
        size_t dist = 1 + ((t >> 2) & 7) + ((size_t)*c->ip++ << 3);
        r = lzo_block_copy(c, dist, (t >> 5) + 1);
    } else if (t >= 32)
        r = lzo_middle_match(c, t, next);
    else
        r = lzo_far_match(c, t, rle, next);
    return r;
}

/*
 * lzo1x_decompress_safe. The checks are the kernel's, in its order, so the same streams are
 * accepted and the same error is reported. Every instruction starts with at least 3 input
 * bytes left (the end marker is 3 bytes, and each literal copy insists on 3 more after it), so
 * an opcode and up to two operand bytes are read without a check; every other read is checked.
 * `state` is what the last instruction copied as literals: 0, 1..3, or 4 for "4 or more"; an
 * opcode below 16 is a literal run after a copy with no trailing literals (state 0) and a short
 * match otherwise.
 */
int pyz_lzo_decompress(const unsigned char *src, size_t slen, unsigned char *dst, size_t *dlen)
{
    struct lzo_cursor c = {src, src + slen, dst, dst, dst + *dlen};
    size_t state = 0, t, next;
    int rle = 0, r;

    if (slen < 3)
        return PYZ_LZO_INPUT_OVERRUN;
    if (slen >= 5 && *c.ip == 17) { /* a versioned stream: 17, version */
        rle = c.ip[1] != 0;
        c.ip += 2;
    }
    if (*c.ip > 17) { /* the first instruction may be a bare literal run */
        t = (size_t)*c.ip++ - 17;
        if (t < 4) {
            r = lzo_trailing_literals(&c, t);
            state = t;
        } else {
            r = lzo_literal_run(&c, t);
            state = 4;
        }
        if (r != PYZ_LZO_OK)
            return r;
    }
    for (;;) {
        t = *c.ip++;
        if (t < 16 && state == 0) { /* a literal run */
            if (t == 0 && (r = length_extension(&c.ip, c.ip_end, 15, &t)) != PYZ_LZO_OK)
                return r;
            if ((r = lzo_literal_run(&c, t + 3)) != PYZ_LZO_OK)
                return r;
            state = 4;
            continue;
        }
        r = lzo_copy_instruction(&c, t, state, rle, &next);
        if (unlikely(r != PYZ_LZO_OK)) {
            if (r != LZO_STREAM_END)
                return r;
            *dlen = (size_t)(c.op - dst);
            return PYZ_LZO_OK;
        }
        if (unlikely((r = lzo_trailing_literals(&c, next)) != PYZ_LZO_OK))
            return r;
        state = next;
    }
}

#undef IN_LEFT
#undef OUT_LEFT
#undef unlikely

const char *pyz_lzo_strerror(int result)
{
    switch (result) {
    case PYZ_LZO_OK:
        return "ok";
    case PYZ_LZO_ERROR:
        return "malformed stream";
    case PYZ_LZO_INPUT_OVERRUN:
        return "input overrun (truncated stream)";
    case PYZ_LZO_OUTPUT_OVERRUN:
        return "output overrun";
    case PYZ_LZO_LOOKBEHIND_OVERRUN:
        return "lookbehind overrun";
    case PYZ_LZO_INPUT_NOT_CONSUMED:
        return "input not consumed (bytes after the end marker)";
    }
    return "unknown error";
}
