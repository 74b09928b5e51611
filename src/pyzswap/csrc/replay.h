/*
 * The kernel replayer's program: a pyzswap trace compiled for replay on the host's kernel.
 *
 * pyzswap.tools.kernel.replay compiles a trace (docs/WORKLOADS.md) into this format and runs
 * `_replay run` (csrc/replay.c, a standalone executable) on it. The replayer knows nothing of
 * traces, cgroups or zswap: it starts one process per `replay_proc` where a SPAWN step says,
 * has it join the cgroup whose `cgroup.procs` file the program names, executes the page accesses
 * of RUN steps in that process, reads the listed counter files at SAMPLE steps, and at the end
 * (or at EXIT) checks every touched page against its expected contents and frees it.
 *
 * Inputs are file descriptors inherited from the caller (memfds in practice):
 *   program   this layout; mapped read-only and shared by every process, so a process's own
 *             memory (and so its memory cgroup's charge) holds only its pages, a small bitmap and
 *             its stack;
 *   contents  page i of proc p's first-touch contents at contents_off + i * 4096;
 *   expected  its expected contents at the end, at expected_off + i * 4096;
 *   output    the records below, appended;
 *   dump      (REPLAY_FLAG_DUMP) every proc's whole mapping at dump_off, before it is checked.
 *
 * Layout, native byte order and alignment, offsets in bytes from the start of the program:
 *   struct replay_header       at 0
 *   struct replay_proc[nprocs] at procs_off
 *   struct replay_step[nsteps] at steps_off
 *   struct replay_op[nops]     at ops_off
 *   char strings[strings_len]  at strings_off: NUL-terminated strings; the first nfiles are the
 *                              counter files a SAMPLE reads, in order.
 *
 * Semantics of one access (the trace rules shared with the mm model, pyzswap.run.trace):
 *   - a page's first access (READ or WRITE) copies its 4096 contents bytes into it: a write
 *     fault, whatever the op;
 *   - a READ of a present page reads its first byte (a swapped-out page is faulted back in);
 *   - a WRITE then moves REPLAY_WRITE_SPAN bytes within the page: for the n-th write access of
 *     the trace (n = op.wseq + page - op.first), x = splitmix64(seed ^ n),
 *     src = (x & 15) * 256, dst = ((x >> 4) & 15) * 256, dst = (src + 256) % 4096 if equal;
 *     memmove(page + dst, page + src, 256).
 *
 * Output records (text lines; a "file" line is followed by exactly <len> raw bytes and "\n"):
 *   clock <ns>                      CLOCK_MONOTONIC at the first step, in ns
 *   sample <kind> <accesses> <ns>   kind t: a timeline point; pre/post: around an EXIT's check
 *   file <index> <len>              one counter file's content at that sample
 *   verify <proc> <checked> <mismatched> <first_bad_page or -1> <cpu_ns>
 *                                   cpu_ns: the process's CPU time (user + system: its page
 *                                   faults and the reclaim they ran) before its check
 *   done <ns>                       ns (here and in samples): since the first step
 *   error <message>                 then exit status 1
 */
#ifndef PYZSWAP_REPLAY_H
#define PYZSWAP_REPLAY_H

#include <stdint.h>

#define REPLAY_MAGIC 0x31504c5952505a50ULL /* "PZPRYLP1" */
#define REPLAY_VERSION 1
#define REPLAY_PAGE_SIZE 4096
#define REPLAY_WRITE_SPAN 256 /* WRITE_RULE_SPAN (write_rule.h) */
#define REPLAY_NONE UINT64_MAX

enum replay_flags {
	REPLAY_FLAG_DUMP = 1, /* write each proc's mapping to the dump fd before checking it */
};

struct replay_header {
	uint64_t magic;
	uint32_t version;
	uint32_t flags;
	uint64_t seed;           /* the run's --seed: the write rule's trace seed */
	uint64_t total_accesses; /* page accesses of the whole trace */
	uint32_t nprocs;
	uint32_t nsteps;
	uint64_t nops;
	uint32_t nfiles;         /* counter files read at each SAMPLE: strings 0..nfiles-1 */
	int32_t cpu;             /* every process pinned to this CPU, or -1 */
	uint64_t procs_off;
	uint64_t steps_off;
	uint64_t ops_off;
	uint64_t strings_off;
	uint64_t strings_len;
};

struct replay_proc {
	uint64_t npages;
	uint64_t contents_off;
	uint64_t expected_off;
	uint64_t dump_off;
	uint64_t cgroup_procs; /* string offset of the cgroup.procs file to join, or REPLAY_NONE */
	uint32_t trace_pid;    /* for messages */
	uint32_t pad;
};

enum replay_step_kind {
	REPLAY_STEP_SPAWN = 1,  /* start proc */
	REPLAY_STEP_RUN = 2,    /* proc executes ops [a, b) */
	REPLAY_STEP_SAMPLE = 3, /* read the counter files; a = accesses done so far */
	REPLAY_STEP_EXIT = 4,   /* proc checks and frees its pages, then exits (pre/post samples) */
};

struct replay_step {
	uint32_t kind;
	uint32_t proc;
	uint64_t a;
	uint64_t b;
};

enum replay_op_kind {
	REPLAY_OP_READ = 1,
	REPLAY_OP_WRITE = 2,
};

struct replay_op {
	uint32_t kind;
	uint32_t first; /* pages first..last, inclusive, in order */
	uint32_t last;
	uint32_t pad;
	uint64_t wseq;  /* WRITE: the trace's write count before page `first` */
};

#endif /* PYZSWAP_REPLAY_H */
