/*
 * _replay: a compiled pyzswap trace replayed by real processes on the host's kernel.
 *
 *   _replay run PROGRAM CONTENTS EXPECTED OUTPUT [DUMP]   (file descriptor numbers)
 *   _replay splitmix SEED N COUNT      the write rule's (src, dst) for writes N..N+COUNT-1
 *   _replay abi                        format version and struct sizes
 *
 * The program format, the access semantics and the output records are in replay.h. This file
 * is a controller and its workers:
 *
 *   controller  runs the steps in order. SPAWN forks a worker; RUN hands a worker a range of
 *               ops and waits until it is done; SAMPLE reads the counter files; EXIT has the
 *               worker check and free its pages, between a "pre" and a "post" sample so the
 *               caller can take the check's own faults out of the run's counters. After the
 *               last step every live worker checks its pages, then the controller reaps them.
 *   worker      joins its cgroup first (so every page it touches is charged there), maps its
 *               pages (private anonymous, no huge pages) and executes ops. Only one worker runs
 *               at a time, so the trace's order across processes is kept exactly.
 *
 * Checking touched pages without disturbing the others in the cgroup: the resident ones
 * (mincore) are compared and freed first, then each swapped-out one is faulted in, compared and
 * freed at once, so the cgroup's charge never grows during the check.
 *
 * Workers die with the controller (PR_SET_PDEATHSIG) and the controller with its caller, so a
 * killed run leaves no process behind in the cgroups the caller removes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "replay.h"
#include "write_rule.h"

_Static_assert(REPLAY_WRITE_SPAN == WRITE_RULE_SPAN && REPLAY_PAGE_SIZE == PAGE_SIZE,
	       "the replayer applies the write rule of write_rule.h");

#define PAGE REPLAY_PAGE_SIZE
#define MINCORE_CHUNK 4096        /* pages per mincore() call in the check */
#define SAMPLE_BUF (1u << 20)     /* largest counter file read at a sample */

/* ---- program -------------------------------------------------------------------------------- */

struct program {
	const struct replay_header *hdr;
	const struct replay_proc *procs;
	const struct replay_step *steps;
	const struct replay_op *ops;
	const char *strings;
	size_t size;
};

static int out_fd = -1;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (out_fd >= 0)
		dprintf(out_fd, "error %.*s\n", n, msg);
	fprintf(stderr, "_replay: %.*s\n", n, msg);
	exit(1);
}

static const char *string_at(const struct program *prog, uint64_t off)
{
	if (off >= prog->hdr->strings_len)
		die("string offset %" PRIu64 " outside the string table", off);
	return prog->strings + off;
}

static int section_ok(const struct program *prog, uint64_t off, uint64_t count, size_t size)
{
	return off <= prog->size && count <= (prog->size - off) / size;
}

static void load_program(int fd, struct program *prog)
{
	struct stat st;
	const struct replay_header *h;
	void *map;

	if (fstat(fd, &st) != 0)
		die("program fd %d: %s", fd, strerror(errno));
	if ((size_t)st.st_size < sizeof(*h))
		die("program is %lld bytes, shorter than its header", (long long)st.st_size);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap program: %s", strerror(errno));
	h = map;
	prog->hdr = h;
	prog->size = (size_t)st.st_size;
	if (h->magic != REPLAY_MAGIC || h->version != REPLAY_VERSION)
		die("not a version %d replay program", REPLAY_VERSION);
	if (!section_ok(prog, h->procs_off, h->nprocs, sizeof(struct replay_proc)) ||
	    !section_ok(prog, h->steps_off, h->nsteps, sizeof(struct replay_step)) ||
	    !section_ok(prog, h->ops_off, h->nops, sizeof(struct replay_op)) ||
	    !section_ok(prog, h->strings_off, h->strings_len, 1) ||
	    (h->strings_len && ((const char *)map)[h->strings_off + h->strings_len - 1] != '\0'))
		die("program sections do not fit its size");
	prog->procs = (const void *)((const char *)map + h->procs_off);
	prog->steps = (const void *)((const char *)map + h->steps_off);
	prog->ops = (const void *)((const char *)map + h->ops_off);
	prog->strings = (const char *)map + h->strings_off;
}

/* ---- command channel ------------------------------------------------------------------------ */

enum cmd_kind { CMD_RUN = 1, CMD_CHECK = 2 }; /* CHECK: check and free every page, exit */

struct cmd {
	uint32_t kind;
	uint32_t pad;
	uint64_t a, b;
};

struct ack {
	int32_t status; /* 0, or an errno: the worker also wrote a message to stderr */
	uint32_t pad;
	uint64_t checked, mismatched, first_bad;
	uint64_t cpu_ns; /* CHECK: the worker's CPU time (user + system) before the check */
};

/* All of len bytes through read (out == 0) or write (out != 0): 0, or -1 on EOF or error. */
static int transfer(int fd, void *buf, size_t len, int out)
{
	char *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	return transfer(fd, buf, len, 0);
}

static int write_full(int fd, const void *buf, size_t len)
{
	return transfer(fd, (void *)buf, len, 1);
}

/* ---- worker --------------------------------------------------------------------------------- */

struct worker {
	const struct program *prog;
	const struct replay_proc *proc;
	unsigned index;
	unsigned char *base;     /* npages * PAGE of private anonymous memory */
	unsigned char *present;  /* bitmap: page touched and not yet freed */
	int contents_fd, expected_fd, dump_fd;
};

static int test_bit(const unsigned char *map, uint64_t i)
{
	return map[i >> 3] & (1u << (i & 7));
}

static void set_bit(unsigned char *map, uint64_t i)
{
	map[i >> 3] |= (unsigned char)(1u << (i & 7));
}

static void clear_bit(unsigned char *map, uint64_t i)
{
	map[i >> 3] &= (unsigned char)~(1u << (i & 7));
}

static void wfail(const struct worker *w, const char *what, int err) __attribute__((noreturn));

static void wfail(const struct worker *w, const char *what, int err)
{
	fprintf(stderr, "_replay: process %u (trace pid %u): %s: %s\n", w->index,
		w->proc->trace_pid, what, strerror(err));
	_exit(3);
}

/* The page's first access: its contents are copied in, which write-faults it. */
static void first_touch(struct worker *w, uint64_t page)
{
	off_t off = (off_t)(w->proc->contents_off + page * PAGE);
	ssize_t n = pread(w->contents_fd, w->base + page * PAGE, PAGE, off);

	if (n != PAGE)
		wfail(w, "reading first-touch contents", n < 0 ? errno : EIO);
	set_bit(w->present, page);
}

static void run_ops(struct worker *w, uint64_t begin, uint64_t end)
{
	uint64_t seed = w->prog->hdr->seed;
	volatile unsigned char sink = 0;

	for (uint64_t i = begin; i < end; i++) {
		const struct replay_op *op = &w->prog->ops[i];

		for (uint64_t p = op->first; p <= op->last; p++) {
			unsigned char *page = w->base + p * PAGE;
			int fresh = !test_bit(w->present, p);

			if (fresh)
				first_touch(w, p);
			if (op->kind == REPLAY_OP_WRITE) {
				unsigned src, dst;

				write_rule_offsets(seed, op->wseq + (p - op->first), &src, &dst);
				memmove(page + dst, page + src, REPLAY_WRITE_SPAN);
			} else if (!fresh) {
				sink = *(volatile unsigned char *)page;
			}
		}
	}
	(void)sink;
}

static int page_matches(struct worker *w, uint64_t page, unsigned char *want)
{
	off_t off = (off_t)(w->proc->expected_off + page * PAGE);

	if (pread(w->expected_fd, want, PAGE, off) != PAGE)
		wfail(w, "reading expected contents", errno ? errno : EIO);
	return memcmp(w->base + page * PAGE, want, PAGE) == 0;
}

static void check_page(struct worker *w, uint64_t page, unsigned char *want, struct ack *ack)
{
	ack->checked++;
	if (!page_matches(w, page, want)) {
		if (ack->mismatched++ == 0)
			ack->first_bad = page;
	}
	clear_bit(w->present, page);
}

static void free_pages(struct worker *w, uint64_t first, uint64_t count)
{
	if (count && madvise(w->base + first * PAGE, count * PAGE, MADV_DONTNEED) != 0)
		wfail(w, "madvise(MADV_DONTNEED)", errno);
}

/*
 * Check every touched page and free it: resident pages first (no fault, and freeing them makes
 * room), then each swapped-out page on its own, freed as soon as it has been compared.
 */
static uint64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ULL +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ULL;
}

static void check_and_free(struct worker *w, struct ack *ack)
{
	static unsigned char want[PAGE];
	static unsigned char vec[MINCORE_CHUNK];
	uint64_t npages = w->proc->npages;

	ack->cpu_ns = cpu_ns();
	ack->checked = ack->mismatched = 0;
	ack->first_bad = REPLAY_NONE;
	if (w->dump_fd >= 0) {
		off_t off = (off_t)w->proc->dump_off;
		size_t len = npages * PAGE;
		size_t done = 0;

		while (done < len) {
			ssize_t n = pwrite(w->dump_fd, w->base + done, len - done, off + (off_t)done);

			if (n <= 0)
				wfail(w, "writing the dump", n < 0 ? errno : EIO);
			done += (size_t)n;
		}
	}
	for (uint64_t c = 0; c < npages; c += MINCORE_CHUNK) {
		uint64_t n = npages - c < MINCORE_CHUNK ? npages - c : MINCORE_CHUNK;
		uint64_t run = 0;

		if (mincore(w->base + c * PAGE, n * PAGE, vec) != 0)
			wfail(w, "mincore", errno);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t p = c + i;

			if (test_bit(w->present, p) && (vec[i] & 1)) {
				check_page(w, p, want, ack);
				run++;
				continue;
			}
			free_pages(w, p - run, run);
			run = 0;
		}
		free_pages(w, c + n - run, run);
	}
	for (uint64_t p = 0; p < npages; p++) {
		if (!test_bit(w->present, p))
			continue;
		check_page(w, p, want, ack);
		free_pages(w, p, 1);
	}
}

static void join_cgroup(struct worker *w)
{
	uint64_t off = w->proc->cgroup_procs;
	char pid[32];
	int fd, len;

	if (off == REPLAY_NONE)
		return;
	fd = open(string_at(w->prog, off), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		wfail(w, string_at(w->prog, off), errno);
	len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (write(fd, pid, (size_t)len) != len)
		wfail(w, "joining its cgroup", errno);
	close(fd);
}

static void worker_main(struct worker *w, int cmd_fd, int ack_fd, pid_t controller)
{
	size_t len = w->proc->npages * PAGE;
	struct cmd cmd;
	struct ack ack;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != controller)
		_exit(4);
	join_cgroup(w);
	w->base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w->base == MAP_FAILED)
		wfail(w, "mmap", errno);
	if (madvise(w->base, len, MADV_NOHUGEPAGE) != 0)
		wfail(w, "madvise(MADV_NOHUGEPAGE)", errno);
	w->present = mmap(NULL, w->proc->npages / 8 + 1, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->present == MAP_FAILED)
		wfail(w, "mmap", errno);
	for (;;) {
		if (read_full(cmd_fd, &cmd, sizeof(cmd)) != 0)
			_exit(0); /* controller gone or done with us */
		memset(&ack, 0, sizeof(ack));
		if (cmd.kind == CMD_RUN)
			run_ops(w, cmd.a, cmd.b);
		else
			check_and_free(w, &ack);
		if (write_full(ack_fd, &ack, sizeof(ack)) != 0)
			_exit(0);
		if (cmd.kind != CMD_RUN)
			_exit(0);
	}
}

/* ---- controller ----------------------------------------------------------------------------- */

struct child {
	pid_t pid;
	int cmd_fd, ack_fd;
};

static struct child *children;
static uint32_t nchildren;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void kill_children(void)
{
	for (uint32_t i = 0; i < nchildren; i++) {
		if (children[i].pid > 0) {
			kill(children[i].pid, SIGKILL);
			waitpid(children[i].pid, NULL, 0);
			children[i].pid = 0;
		}
	}
}

static void fail_children(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail_children(const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kill_children();
	die("%s", msg);
}

static void out_write(const void *buf, size_t len)
{
	if (write_full(out_fd, buf, len) != 0)
		fail_children("writing the output: %s", strerror(errno));
}

static void sample(const struct program *prog, const char *kind, uint64_t accesses,
		   uint64_t t0)
{
	static char buf[SAMPLE_BUF];
	char line[96];
	int n = snprintf(line, sizeof(line), "sample %s %" PRIu64 " %" PRIu64 "\n", kind,
			 accesses, now_ns() - t0);

	out_write(line, (size_t)n);
	for (uint32_t i = 0; i < prog->hdr->nfiles; i++) {
		const char *path = prog->strings;
		size_t len = 0;
		int fd;

		for (uint32_t k = 0; k < i; k++)
			path += strlen(path) + 1;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail_children("%s: %s", path, strerror(errno));
		for (;;) {
			ssize_t got = read(fd, buf + len, sizeof(buf) - len);

			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				fail_children("%s: %s", path, strerror(errno));
			if (got == 0 || (len += (size_t)got) == sizeof(buf))
				break;
		}
		close(fd);
		n = snprintf(line, sizeof(line), "file %u %zu\n", i, len);
		out_write(line, (size_t)n);
		out_write(buf, len);
		out_write("\n", 1);
	}
}

static void spawn(const struct program *prog, uint32_t index, int fds[3])
{
	struct child *c = &children[index];
	int cmd[2], ack[2];
	pid_t controller = getpid();
	pid_t pid;

	if (c->pid != 0)
		fail_children("process %u spawned twice", index);
	if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(ack, O_CLOEXEC) != 0)
		fail_children("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail_children("fork: %s", strerror(errno));
	if (pid == 0) {
		struct worker w = {
			.prog = prog, .proc = &prog->procs[index], .index = index,
			.contents_fd = fds[0], .expected_fd = fds[1], .dump_fd = fds[2],
		};

		for (uint32_t i = 0; i < nchildren; i++) {
			if (children[i].pid > 0) {
				close(children[i].cmd_fd);
				close(children[i].ack_fd);
			}
		}
		close(cmd[1]);
		close(ack[0]);
		close(out_fd);
		out_fd = -1;
		worker_main(&w, cmd[0], ack[1], controller);
	}
	close(cmd[0]);
	close(ack[1]);
	c->pid = pid;
	c->cmd_fd = cmd[1];
	c->ack_fd = ack[0];
}

/* Send one command and wait for its ack; a worker that died is an error naming its status. */
static void command(const struct program *prog, uint32_t index, uint32_t kind, uint64_t a,
		    uint64_t b, struct ack *ack)
{
	struct child *c = &children[index];
	struct cmd cmd = { .kind = kind, .a = a, .b = b };
	int status;

	if (c->pid <= 0)
		fail_children("process %u is not running", index);
	if (write_full(c->cmd_fd, &cmd, sizeof(cmd)) == 0 &&
	    read_full(c->ack_fd, ack, sizeof(*ack)) == 0)
		return;
	waitpid(c->pid, &status, 0);
	c->pid = 0;
	if (WIFSIGNALED(status))
		fail_children("trace pid %u was killed by signal %d%s", prog->procs[index].trace_pid,
			      WTERMSIG(status),
			      WTERMSIG(status) == SIGKILL ? " (out of memory in its cgroup?)" : "");
	fail_children("trace pid %u exited with status %d", prog->procs[index].trace_pid,
		      WEXITSTATUS(status));
}

static void finish(const struct program *prog, uint32_t index)
{
	struct ack ack;
	char line[128];
	int status, n;

	command(prog, index, CMD_CHECK, 0, 0, &ack);
	n = snprintf(line, sizeof(line), "verify %u %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRIu64
		     "\n", index, ack.checked, ack.mismatched,
		     ack.first_bad == REPLAY_NONE ? (int64_t)-1 : (int64_t)ack.first_bad, ack.cpu_ns);
	out_write(line, (size_t)n);
	close(children[index].cmd_fd);
	close(children[index].ack_fd);
	waitpid(children[index].pid, &status, 0);
	children[index].pid = -1; /* exited: cannot be spawned again */
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("pinning to CPU %d: %s", cpu, strerror(errno));
}

static int fd_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > 1 << 20)
		die("%s is not a file descriptor number", s);
	return (int)v;
}

static int cmd_run(int argc, char **argv)
{
	struct program prog;
	int fds[3] = { -1, -1, -1 };
	uint64_t t0;
	char line[64];
	int n;

	if (argc != 6 && argc != 7)
		die("usage: _replay run PROGRAM CONTENTS EXPECTED OUTPUT [DUMP]");
	out_fd = fd_arg(argv[5]);
	signal(SIGPIPE, SIG_IGN); /* a dead worker's pipe is an error to report, not a signal */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		die("prctl: %s", strerror(errno));
	load_program(fd_arg(argv[2]), &prog);
	fds[0] = fd_arg(argv[3]);
	fds[1] = fd_arg(argv[4]);
	if (argc == 7 && (prog.hdr->flags & REPLAY_FLAG_DUMP))
		fds[2] = fd_arg(argv[6]);
	pin_cpu(prog.hdr->cpu);
	nchildren = prog.hdr->nprocs;
	children = calloc(nchildren ? nchildren : 1, sizeof(*children));
	if (!children)
		die("out of memory");
	t0 = now_ns();
	n = snprintf(line, sizeof(line), "clock %" PRIu64 "\n", t0);
	out_write(line, (size_t)n);
	for (uint32_t s = 0; s < prog.hdr->nsteps; s++) {
		const struct replay_step *st = &prog.steps[s];
		struct ack ack;

		if (st->kind != REPLAY_STEP_SAMPLE && st->proc >= nchildren)
			fail_children("step %u names process %u of %u", s, st->proc, nchildren);
		switch (st->kind) {
		case REPLAY_STEP_SPAWN:
			spawn(&prog, st->proc, fds);
			break;
		case REPLAY_STEP_RUN:
			if (st->a > st->b || st->b > prog.hdr->nops)
				fail_children("step %u: ops %" PRIu64 "..%" PRIu64 " outside the program",
					      s, st->a, st->b);
			command(&prog, st->proc, CMD_RUN, st->a, st->b, &ack);
			break;
		case REPLAY_STEP_SAMPLE:
			sample(&prog, "t", st->a, t0);
			break;
		case REPLAY_STEP_EXIT:
			sample(&prog, "pre", st->a, t0);
			finish(&prog, st->proc);
			sample(&prog, "post", st->a, t0);
			break;
		default:
			fail_children("step %u has unknown kind %u", s, st->kind);
		}
	}
	for (uint32_t i = 0; i < nchildren; i++) {
		if (children[i].pid > 0)
			finish(&prog, i);
	}
	n = snprintf(line, sizeof(line), "done %" PRIu64 "\n", now_ns() - t0);
	out_write(line, (size_t)n);
	return 0;
}

static uint64_t u64_arg(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno)
		die("%s is not an unsigned 64-bit number", s);
	return v;
}

static int cmd_splitmix(int argc, char **argv)
{
	uint64_t seed, n, count;

	if (argc != 5)
		die("usage: _replay splitmix SEED N COUNT");
	seed = u64_arg(argv[2]);
	n = u64_arg(argv[3]);
	count = u64_arg(argv[4]);
	for (uint64_t i = 0; i < count; i++) {
		unsigned src, dst;

		write_rule_offsets(seed, n + i, &src, &dst);
		printf("%" PRIu64 " %u %u\n", write_rule_splitmix64(seed ^ (n + i)), src, dst);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "splitmix") == 0)
		return cmd_splitmix(argc, argv);
	if (argc == 2 && strcmp(argv[1], "abi") == 0) {
		printf("%d %zu %zu %zu %zu\n", REPLAY_VERSION, sizeof(struct replay_header),
		       sizeof(struct replay_proc), sizeof(struct replay_step),
		       sizeof(struct replay_op));
		return 0;
	}
	fprintf(stderr, "usage: _replay run|splitmix|abi ...\n");
	return 2;
}
