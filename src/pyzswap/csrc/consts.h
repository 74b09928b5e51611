/* The sizes every part of pyzswap agrees on, defined once.
 *
 * C code includes this header; Python reads the same values from pyzswap._native (the module
 * exports each of them under its name, module.c), and every Python module imports them from
 * there (pyzswap.folio re-exports them for the leaves). Changing one here changes it
 * everywhere: the batch size, for instance, sizes the C flow's per-batch arrays, the shared
 * contexts' buffers, the batching compressors' largest batch and the name pattern
 * "NAME-xN-bB" accepts.
 */
#ifndef PYZSWAP_CONSTS_H
#define PYZSWAP_CONSTS_H

/* The kernel's PAGE_SHIFT / PAGE_SIZE on x86-64. */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1 << PAGE_SHIFT)
/* The largest folio zswap stores: a PMD-sized 2 MiB folio (HPAGE_PMD_NR). */
#define MAX_FOLIO_PAGES 512
/* Pages per batch of a large folio's store (the compress-batching series' constant): a
 * pool's compr_batch_size is at most this, and a per-CPU context is locked per batch. */
#define ZSWAP_MAX_BATCH_SIZE 8

#endif
