/*
 * Fuzzing pyzswap's LZO codec (src/pyzswap/csrc/lzo.c) under AddressSanitizer and
 * UndefinedBehaviorSanitizer: `make fuzz-lzo` (ITERATIONS=..., SEED=...).
 *
 * Every buffer handed to the codec is a heap block of exactly its length, so ASan reports the
 * first byte read or written outside it. Four kinds of case, round-robin:
 *
 *   random     random bytes of random length (0..5000) into a destination of random size;
 *   mutated    a valid stream (of a random structured input, either version) with 1..8
 *              mutations (bit flips, byte values, inserts, deletes, truncation, splices);
 *   crafted    a stream of random instructions in the stream grammar (literal runs, copies of
 *              every kind, zero runs, long length extensions, bad distances, end markers);
 *   roundtrip  a random structured input (0..70000 bytes: text, zeros, runs, repeats, noise)
 *              compressed as both versions into destinations of random size.
 *
 * Checks: every decode returns PYZ_LZO_OK or one of the error codes, with a length no larger
 * than the destination; a v0 stream our decoder accepts decodes to the same bytes with
 * liblzo2 (lzo1x_decompress_safe); a compression into a destination of random size near the
 * stream's length succeeds with the same stream exactly when the stream fits, and is refused
 * with PYZ_LZO_OUTPUT_OVERRUN otherwise; every stream decodes to its input with ours and, for
 * v0, with liblzo2; liblzo2's LZO1X-1 streams of the same inputs decode with ours. The counts are
 * printed at the end; any failed check aborts with the case that broke it.
 */
#include "lzo.h"

#include <lzo/lzo1x.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void fail(const char *what, const unsigned char *buf, size_t len)
{
    fprintf(stderr, "lzo_fuzz: FAILED: %s (case of %zu bytes:", what, len);
    for (size_t i = 0; i < len && i < 256; i++)
        fprintf(stderr, " %02x", buf[i]);
    fprintf(stderr, "%s)\n", len > 256 ? " ..." : "");
    abort();
}

/* a copy of src in a heap block of exactly len bytes (malloc(0) may be NULL: use 1 then) */
static unsigned char *exact_copy(const unsigned char *src, size_t len)
{
    unsigned char *p = malloc(len ? len : 1);
    if (!p)
        abort();
    if (len)
        memcpy(p, src, len);
    return p;
}

static struct {
    unsigned long decodes, ok, errors[16], lib_checked, lib_stricter, compressions, refused,
        cases[4], ok_by_kind[4], stricter_by[6];
} count;
static int current_kind;

static int error_index(int r)
{
    switch (r) {
    case PYZ_LZO_OK: return 0;
    case PYZ_LZO_ERROR: return 1;
    case PYZ_LZO_INPUT_OVERRUN: return 2;
    case PYZ_LZO_OUTPUT_OVERRUN: return 3;
    case PYZ_LZO_LOOKBEHIND_OVERRUN: return 4;
    case PYZ_LZO_INPUT_NOT_CONSUMED: return 5;
    }
    return -1;
}

/* Decode one stream into a destination of cap bytes; cross-check v0 streams with liblzo2. */
static void decode_case(const unsigned char *stream, size_t slen, size_t cap)
{
    unsigned char *src = exact_copy(stream, slen);
    unsigned char *dst = malloc(cap ? cap : 1);
    size_t dlen = cap;
    int r = pyz_lzo_decompress(src, slen, dst, &dlen);
    int e = error_index(r);
    if (e < 0)
        fail("unknown result code", stream, slen);
    count.decodes++;
    count.errors[e]++;
    if (r == PYZ_LZO_OK) {
        count.ok++;
        count.ok_by_kind[current_kind]++;
        if (dlen > cap)
            fail("decoded length beyond the destination", stream, slen);
        /* liblzo2 reads v0 only and knows no version header */
        int versioned = slen >= 5 && stream[0] == 17;
        if (!versioned) {
            unsigned char *ref = malloc(cap ? cap : 1);
            lzo_uint rlen = cap;
            int lr = lzo1x_decompress_safe(src, slen, ref, &rlen, NULL);
            count.lib_checked++;
            if (lr != LZO_E_OK || rlen != dlen || memcmp(ref, dst, dlen) != 0)
                fail("accepted stream decodes differently with liblzo2", stream, slen);
            free(ref);
        }
    } else if (slen >= 1 && !(slen >= 5 && stream[0] == 17)) {
        /* liblzo2 may accept what the kernel's decoder refuses (an end marker of another
         * length), never the reverse: counted, not an error */
        unsigned char *ref = malloc(cap ? cap : 1);
        lzo_uint rlen = cap;
        if (lzo1x_decompress_safe(src, slen, ref, &rlen, NULL) == LZO_E_OK) {
            count.lib_stricter++;
            count.stricter_by[e]++;
        }
        free(ref);
    }
    free(src);
    free(dst);
}

/* ---------------------------------------------------------------- structured inputs ---- */
static size_t structured_input(unsigned char *buf, size_t max)
{
    size_t len = below(8) == 0 ? below(max + 1) : below(4097 < max ? 4097 : max + 1);
    if (below(4) == 0 && max >= 4096)
        len = 4096; /* a page */
    static const char words[][8] = {"zswap", "page ", "lzo  ", "\n", "  ", "kernel", "0000",
                                    "the ", "pool", "{\"id\":"};
    size_t i = 0;
    while (i < len) {
        size_t n = 1 + below(600);
        if (n > len - i)
            n = len - i;
        switch (below(7)) {
        case 0: /* zeros */
        case 1:
            memset(buf + i, 0, n);
            break;
        case 2: /* one byte repeated */
            memset(buf + i, (int)below(256), n);
            break;
        case 3: /* noise */
            for (size_t k = 0; k < n; k++)
                buf[i + k] = (unsigned char)rnd();
            break;
        case 4: /* a repeat of earlier data, near or far */
            if (i) {
                size_t from = below(i);
                for (size_t k = 0; k < n; k++)
                    buf[i + k] = buf[from + k];
                break;
            }
            /* fall through */
        case 5: /* words */
            for (size_t k = 0; k < n; k++) {
                const char *w = words[below(sizeof words / sizeof words[0])];
                size_t wl = strlen(w);
                for (size_t j = 0; j < wl && k < n; j++, k++)
                    buf[i + k] = (unsigned char)w[j];
            }
            break;
        default: /* small integers in 8-byte words */
            for (size_t k = 0; k < n; k++)
                buf[i + k] = k % 8 == 0 ? (unsigned char)below(16) : 0;
        }
        i += n;
    }
    return len;
}

#define MAX_IN 70000
#define MAX_STREAM PYZ_LZO_BOUND(MAX_IN)

static unsigned char input[MAX_IN], stream[MAX_STREAM + 64], stream2[MAX_STREAM + 64];
static unsigned char wrkmem[PYZ_LZO_WORKMEM];
static unsigned char libwrk[LZO1X_1_MEM_COMPRESS];

/* A valid stream of a structured input (length returned), for mutation. */
static size_t valid_stream(unsigned char *out, int version)
{
    size_t n = structured_input(input, 9000);
    size_t dlen = MAX_STREAM;
    if (pyz_lzo_compress(input, n, out, &dlen, wrkmem, version) != PYZ_LZO_OK)
        fail("compression with unlimited room refused", input, n);
    return dlen;
}

static void mutated_case(void)
{
    size_t len = valid_stream(stream, (int)below(2));
    int mutations = 1 + (int)below(8);
    for (int m = 0; m < mutations; m++) {
        size_t at = below(len + 1);
        switch (below(8)) {
        case 0: /* flip a bit */
            if (len)
                stream[below(len)] ^= (unsigned char)(1u << below(8));
            break;
        case 1: /* set a byte to an interesting value */
            if (len) {
                static const unsigned char v[] = {0, 1, 3, 15, 16, 17, 0x18, 0x1f, 31, 32,
                                                  63, 64, 127, 128, 0xfc, 0xfe, 0xff};
                stream[below(len)] = v[below(sizeof v)];
            }
            break;
        case 2: /* truncate */
            len = below(len + 1);
            break;
        case 3: /* insert random bytes */
        {
            size_t n = 1 + below(8);
            if (len + n > MAX_STREAM)
                break;
            memmove(stream + at + n, stream + at, len - at);
            for (size_t k = 0; k < n; k++)
                stream[at + k] = (unsigned char)rnd();
            len += n;
            break;
        }
        case 4: /* delete bytes */
        {
            size_t n = 1 + below(8);
            if (at + n > len)
                n = len - at;
            memmove(stream + at, stream + at + n, len - at - n);
            len -= n;
            break;
        }
        case 5: /* splice in part of another valid stream */
        {
            size_t other = valid_stream(stream2, (int)below(2));
            size_t from = below(other + 1), n = below(other - from + 1);
            if (at + n > MAX_STREAM)
                n = MAX_STREAM - at;
            memcpy(stream + at, stream2 + from, n);
            if (at + n > len)
                len = at + n;
            break;
        }
        case 6: /* a run of zero bytes (long length extensions) */
        {
            size_t n = 1 + below(64);
            if (at + n > MAX_STREAM)
                n = MAX_STREAM - at;
            memset(stream + at, 0, n);
            if (at + n > len)
                len = at + n;
            break;
        }
        default: /* append garbage after the end marker */
        {
            size_t n = 1 + below(4);
            if (len + n > MAX_STREAM)
                break;
            for (size_t k = 0; k < n; k++)
                stream[len + k] = (unsigned char)rnd();
            len += n;
        }
        }
    }
    size_t cap = below(3) == 0 ? below(10000) : 4096 + below(64) - 32;
    decode_case(stream, len, cap);
}

/* Crafting streams: an output cursor, the bytes the stream decodes to so far, and the
 * decoder's state (literals copied by the last instruction: 0..3, or 4 for 4 or more). */
struct craft {
    unsigned char *op;
    size_t produced;
    int state;
    int wild; /* distances need not be servable */
};

static void put_length(struct craft *c, unsigned opcode, size_t len, size_t max_short)
{
    if (len <= max_short) {
        *c->op++ = (unsigned char)(opcode | (len - 2));
        return;
    }
    *c->op++ = (unsigned char)opcode;
    size_t r = len - max_short;
    while (r > 255) {
        *c->op++ = 0;
        r -= 255;
    }
    *c->op++ = (unsigned char)r;
}

static void put_literal_bytes(struct craft *c, size_t n)
{
    for (size_t k = 0; k < n; k++)
        *c->op++ = (unsigned char)rnd();
    c->produced += n;
}

/* A distance: mostly one the output so far can serve, sometimes any. */
static size_t craft_distance(const struct craft *c, size_t max)
{
    if (c->produced && (!c->wild || below(8))) {
        size_t lim = c->produced < max ? c->produced : max;
        return 1 + below(lim);
    }
    return 1 + below(max);
}

/* One instruction valid for the current state, then its 0..3 trailing literals. */
static void craft_instruction(struct craft *c, int rle)
{
    size_t s = below(4);
    if (c->state == 0 && (below(3) == 0 || (c->produced == 0 && !c->wild))) {
        /* literal run (state 0 only) */
        size_t t = 4 + (below(4) ? below(30) : below(700));
        if (t <= 18)
            *c->op++ = (unsigned char)(t - 3);
        else
            put_length(c, 0, t - 18 + 2, 2); /* 0, then the extension of t - 18 */
        put_literal_bytes(c, t);
        c->state = 4;
        return;
    }
    switch (below(rle ? 6 : 5)) {
    case 0: /* 0000DDSS: 2 bytes within 1 KiB (state 1..3) or 3 from 2..3 KiB (state 4) */
        if (c->state != 0 && (c->wild || c->produced >= (c->state == 4 ? 3072u : 1024u))) {
            size_t d = c->state == 4 ? craft_distance(c, 3072) : craft_distance(c, 1024);
            size_t base = c->state == 4 ? 2049 : 1;
            d = d < base ? 0 : d - base;
            *c->op++ = (unsigned char)((d & 3) << 2 | s);
            *c->op++ = (unsigned char)(d >> 2);
            c->produced += c->state == 4 ? 3 : 2;
            break;
        }
        goto near; /* in state 0 that opcode is a literal run */
    case 1:
near: /* 3..8 bytes within 2 KiB */
    {
        size_t len = 3 + below(6), d = craft_distance(c, 2048) - 1;
        *c->op++ = (unsigned char)((len - 1) << 5 | (d & 7) << 2 | s);
        *c->op++ = (unsigned char)(d >> 3);
        c->produced += len;
        break;
    }
    case 2: /* within 16 KiB, maybe a long length */
    {
        size_t len = 3 + (below(4) ? below(40) : below(900)), d = craft_distance(c, 16384) - 1;
        put_length(c, 32, len, 33);
        *c->op++ = (unsigned char)((d & 63) << 2 | s);
        *c->op++ = (unsigned char)(d >> 6);
        c->produced += len;
        break;
    }
    case 3: /* 16..48 KiB back */
    {
        if (c->produced <= 16384 && !c->wild)
            goto near;
        size_t len = 3 + below(300), d = craft_distance(c, 49151);
        d = d < 16384 ? 0 : d - 16384;
        put_length(c, 16 | ((d >> 11) & 8), len, 9);
        *c->op++ = (unsigned char)((d & 63) << 2 | s);
        *c->op++ = (unsigned char)(d >> 6);
        c->produced += len;
        break;
    }
    case 4: /* a literal-count-only instruction: a 3-byte copy from just behind */
    {
        size_t d = craft_distance(c, 8) - 1;
        *c->op++ = (unsigned char)(2 << 5 | (d & 7) << 2 | s);
        *c->op++ = (unsigned char)(d >> 3);
        c->produced += 3;
        break;
    }
    default: /* a zero run (version 1) */
    {
        size_t r = below(2048);
        *c->op++ = (unsigned char)(0x18 | (r & 7));
        *c->op++ = (unsigned char)(0xfc | s);
        *c->op++ = 0xff;
        *c->op++ = (unsigned char)(r >> 3);
        c->produced += r + 4;
    }
    }
    put_literal_bytes(c, s);
    c->state = (int)s;
}

/* A random instruction sequence in the stream grammar (lzo.rst), mostly well formed; one in
 * eight has a byte changed. */
static void crafted_case(void)
{
    struct craft c = {stream, 0, 0, below(4) == 0};
    unsigned char *const end = stream + 8192;
    int rle = 0;
    if (below(2)) {
        *c.op++ = 17;
        *c.op++ = (unsigned char)(below(8) ? 1 : below(256));
        rle = c.op[-1] != 0;
    }
    if (below(4)) { /* a literal run in the first byte */
        size_t t = 1 + below(60);
        *c.op++ = (unsigned char)(17 + t);
        put_literal_bytes(&c, t);
        c.state = t < 4 ? (int)t : 4;
    }
    int instructions = (int)below(80);
    for (int i = 0; i < instructions && c.op + 1200 < end; i++)
        craft_instruction(&c, rle);
    if (below(12)) { /* the end marker, sometimes with another length or S bits */
        *c.op++ = (unsigned char)(below(8) ? 0x11 : 16 + below(8));
        *c.op++ = (unsigned char)(below(8) ? 0 : below(4));
        *c.op++ = 0;
    }
    size_t len = (size_t)(c.op - stream);
    if (below(8) == 0 && len)
        stream[below(len)] = (unsigned char)rnd();
    if (below(8) == 0)
        len = below(len + 1);
    size_t cap = below(4) ? c.produced + below(32) : below(20000);
    decode_case(stream, len, cap);
}

static void random_case(void)
{
    size_t len = below(5001);
    for (size_t k = 0; k < len; k++)
        stream[k] = (unsigned char)rnd();
    if (len >= 2 && below(2)) { /* often start like a real stream */
        stream[0] = below(2) ? 17 : (unsigned char)(18 + below(238));
        stream[1] = (unsigned char)below(3);
    }
    decode_case(stream, len, below(10000));
}

static void roundtrip_case(void)
{
    size_t n = structured_input(input, MAX_IN);
    unsigned char *src = exact_copy(input, n);
    for (int version = 0; version <= 1; version++) {
        size_t full = MAX_STREAM;
        if (pyz_lzo_compress(src, n, stream, &full, wrkmem, version) != PYZ_LZO_OK)
            fail("compression with unlimited room refused", input, n);
        if (full > PYZ_LZO_BOUND(n))
            fail("stream longer than PYZ_LZO_BOUND", input, n);
        /* the same input into a destination of random size near the stream's length */
        size_t cap = full + 24 >= 48 ? full - 24 + below(48) : below(full + 24);
        unsigned char *dst = malloc(cap ? cap : 1);
        size_t dlen = cap;
        int r = pyz_lzo_compress(src, n, dst, &dlen, wrkmem, version);
        count.compressions++;
        if (r == PYZ_LZO_OK) {
            if (cap < full)
                fail("wrote beyond the destination", input, n);
            if (dlen != full || memcmp(dst, stream, full) != 0)
                fail("stream depends on the destination size", input, n);
        } else {
            count.refused++;
            if (r != PYZ_LZO_OUTPUT_OVERRUN)
                fail("compression failed other than by overrun", input, n);
            if (cap >= full)
                fail("refused a stream that fits", input, n);
        }
        free(dst);
        /* decode with ours into an exact-size destination */
        unsigned char *back = malloc(n ? n : 1);
        size_t blen = n;
        unsigned char *s = exact_copy(stream, full);
        if (pyz_lzo_decompress(s, full, back, &blen) != PYZ_LZO_OK || blen != n ||
            memcmp(back, input, n) != 0)
            fail("round trip", input, n);
        count.decodes++;
        count.ok++;
        count.errors[0]++;
        if (version == 0) { /* liblzo2 reads our v0 streams */
            lzo_uint llen = n;
            if (lzo1x_decompress_safe(s, full, back, &llen, NULL) != LZO_E_OK || llen != n ||
                memcmp(back, input, n) != 0)
                fail("liblzo2 cannot read our stream", input, n);
            count.lib_checked++;
        }
        free(s);
        free(back);
    }
    /* and ours reads liblzo2's LZO1X-1 streams */
    lzo_uint llen = 0;
    if (lzo1x_1_compress(src, n, stream2, &llen, libwrk) != LZO_E_OK)
        abort();
    unsigned char *s = exact_copy(stream2, llen);
    unsigned char *back = malloc(n ? n : 1);
    size_t blen = n;
    if (pyz_lzo_decompress(s, llen, back, &blen) != PYZ_LZO_OK || blen != n ||
        memcmp(back, input, n) != 0)
        fail("cannot read liblzo2's stream", input, n);
    free(s);
    free(back);
    free(src);
}

int main(int argc, char **argv)
{
    unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9e3779b97f4a7c15ULL;
    if (!rng_state)
        rng_state = 1;
    if (lzo_init() != LZO_E_OK)
        return 2;
    for (unsigned long i = 0; i < iterations; i++) {
        int kind = (int)(i % 4);
        count.cases[kind]++;
        current_kind = kind;
        switch (kind) {
        case 0: random_case(); break;
        case 1: mutated_case(); break;
        case 2: crafted_case(); break;
        default:
            if (i % 64 == 3) /* round trips are slow (up to 70 KB): one in 16 of this kind */
                roundtrip_case();
            else
                crafted_case();
        }
    }
    printf("lzo_fuzz: %lu iterations (%lu random, %lu mutated, %lu crafted/roundtrip)\n",
           iterations, count.cases[0], count.cases[1], count.cases[2] + count.cases[3]);
    printf("  decoded without error: %lu random, %lu mutated, %lu crafted\n",
           count.ok_by_kind[0], count.ok_by_kind[1], count.ok_by_kind[2] + count.ok_by_kind[3]);
    printf("  decodes %lu: ok %lu, malformed %lu, input overrun %lu, output overrun %lu, "
           "lookbehind overrun %lu, input not consumed %lu\n",
           count.decodes, count.ok, count.errors[1], count.errors[2], count.errors[3],
           count.errors[4], count.errors[5]);
    printf("  accepted v0 streams decoded identically by liblzo2: %lu; refused streams "
           "liblzo2 accepts: %lu (malformed %lu, input overrun %lu, output overrun %lu, "
           "lookbehind %lu, not consumed %lu)\n", count.lib_checked, count.lib_stricter,
           count.stricter_by[1], count.stricter_by[2], count.stricter_by[3],
           count.stricter_by[4], count.stricter_by[5]);
    printf("  compressions into tight destinations: %lu (%lu refused, each exactly when the "
           "stream does not fit)\n", count.compressions, count.refused);
    printf("  no crash, no sanitizer report, every check held\n");
    return 0;
}
