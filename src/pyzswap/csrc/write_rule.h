/* The trace's write rule (pyzswap.run.trace.write_offsets): where the n-th write access of a
 * trace moves bytes within its page. Shared by the kernel replayer (replay.c) and the model's
 * MMU (mmu.c), so a page holds the same bytes on both sides at every point of a trace. */
#ifndef PYZSWAP_WRITE_RULE_H
#define PYZSWAP_WRITE_RULE_H

#include <stdint.h>

#include "consts.h"

#define WRITE_RULE_SPAN 256 /* bytes moved by one write */

static inline uint64_t write_rule_splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9E3779B97F4A7C15ULL;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* With x = splitmix64(seed ^ n): src = (x & 15) * span, dst = ((x >> 4) & 15) * span and, if
 * they are equal, dst = (src + span) % PAGE_SIZE. */
static inline void write_rule_offsets(uint64_t seed, uint64_t n, unsigned *src, unsigned *dst)
{
	uint64_t x = write_rule_splitmix64(seed ^ n);

	*src = (unsigned)(x & 15) * WRITE_RULE_SPAN;
	*dst = (unsigned)((x >> 4) & 15) * WRITE_RULE_SPAN;
	if (*dst == *src)
		*dst = (*src + WRITE_RULE_SPAN) % PAGE_SIZE;
}

#endif
