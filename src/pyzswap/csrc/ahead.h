/* Look-ahead compression on a helper thread (ahead.c): pyzswap's own, not the kernel's.
 *
 * A caller that knows which pages it is about to store (reclaim's list of isolated folios)
 * hands their bytes over in one batch; a helper thread compresses them with a codec context
 * of its own while the caller goes on. A later compression of a page with the same bytes (with
 * the same algorithm, level and output capacity) takes the helper's result instead of running
 * the codec: the bytes are those the codec gives (codec.h: one table, the same output on every
 * path), only the core that computed them differs.
 *
 * The object compresses a copy of each page and a store takes a result only for a page whose
 * bytes equal that copy, so the caller may change its pages at any time: a page whose bytes
 * changed since the copy was made is a miss (compressed again by the caller), never a stale
 * result. The copy is made at the hand-over, so the caller may also free its pages at once;
 * or, for pages the caller *lends* (all in memory it keeps alive until
 * pyz_ahead_end_loan() returns), by the helper when it starts on the page, which takes the
 * copying off the caller's thread. The helper's copy of a lent page may race with the caller's
 * writes to it: a copy that is not the page's bytes at the store is a miss like any other. A page handed over again from the
 * same place with the same bytes keeps what was done for it (it is neither copied nor
 * compressed again); results of earlier batches stay until their room is needed by a later
 * one (four batches in all), so pages handed over early (reclaim's next candidates) may be
 * stored in later, smaller batches. Each result is taken at most once.
 *
 * Locking: every function may be called from any thread, without the GIL (nothing here
 * touches Python). One mutex per object protects the batch; it is never held while a codec
 * runs. pyz_ahead_take may wait for the helper to finish the page it is compressing (one page,
 * microseconds). After fork() the child must not use an object made by its parent (its
 * thread does not exist there): pyz_ahead_here() says whether it was made in this process.
 */
#ifndef PYZSWAP_AHEAD_H
#define PYZSWAP_AHEAD_H

/* Pages in one batch: reclaim's SWAP_CLUSTER_MAX. */
#define PYZ_AHEAD_MAX 32

struct pyz_ahead;

/* A new object, its thread not yet started (it starts with the first batch). NULL on ENOMEM. */
struct pyz_ahead *pyz_ahead_new(void);
/* Stop the thread (waiting for the page it compresses) and free everything. NULL is a no-op. */
void pyz_ahead_free(struct pyz_ahead *a);
/* 1 if `a` was made in this process, 0 in a child of fork() that inherited it (its thread is
 * not there and its lock may be held: leave it alone). Two loads, cheap enough per store. */
int pyz_ahead_here(const struct pyz_ahead *a);

/* Hand over a batch of `n` (at most PYZ_AHEAD_MAX) pages of `page_size` bytes, to be
 * compressed with `algo` at `level` into at most `cap` bytes, before what is left of earlier
 * batches (whose results are dropped if they were made otherwise); `lent`: the pages are lent
 * (see above), not copied now. Returns how many were taken
 * (0 when the thread cannot be started, or the algorithm has no context), -1 on ENOMEM. */
int pyz_ahead_submit(struct pyz_ahead *a, int algo, int level, const char *const *pages, int n,
                     int page_size, int cap, int lent);

/* After this returns, nothing reads the pages lent so far: those the helper has not copied
 * yet are dropped (a store of one compresses it itself); it waits for the copy of the page the
 * helper is working on, if it is a lent one. */
void pyz_ahead_end_loan(struct pyz_ahead *a);

/* The result for a page with `page`'s bytes if the batch has one, for the same algorithm,
 * level and capacity: 1 with the codec's result in *result (a length copied to `dst`, or
 * -ENOSPC); 0 for a miss (compress it yourself). */
int pyz_ahead_take(struct pyz_ahead *a, int algo, int level, const char *page, int page_size,
                   void *dst, int cap, int *result);

/* Wait until the helper has finished every page of the batch it can take (none PENDING or
 * RUNNING). */
void pyz_ahead_wait(struct pyz_ahead *a);

/* Results taken, and pages copied in (a page handed over again is not), since it was made. */
void pyz_ahead_counts(struct pyz_ahead *a, long long *taken, long long *submitted);

#endif
