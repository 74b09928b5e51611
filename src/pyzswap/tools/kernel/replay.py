"""``pyzswap kernel run``: a trace replayed for real on this host's kernel.

The mm model (``pyzswap run``) predicts what Linux does when a workload runs under a memory
limit with zswap. This module produces what Linux *does*: the trace's processes are real
processes (the small C replayer ``csrc/replay.c``, one process per ``proc`` line, started where
that line appears), charged to real memory cgroups with the given limits, swapping through the
real zswap into a temporary swap file, while the kernel's own counters are sampled.

A run, in order:

1. **Checks, before anything changes** (:class:`KernelUnavailable` / :class:`InvalidParameter`
   otherwise, one line each): root; the memory controller's cgroup version equals
   ``--cgroup-version`` if given; ``--ram`` (if given) is this machine's ``MemTotal``; zswap
   offers the compressor; **no swap is active** (a quiet start: zswap holds nothing, and no
   other swap area takes the trace's pages); every trace line is one this host can replay;
   enough memory and disk.
2. **Compilation** (:func:`compile_trace`, no root needed): the trace becomes a program for the
   replayer, the first-touch contents of every page (``make_pages`` or the page file, per the
   trace rules in :mod:`pyzswap.run.trace`) and the expected contents at the end (the writes
   applied in Python), each in a memfd of this process, so none of it is charged to the
   trace's cgroups.
3. **Host changes**, each recorded in :class:`~pyzswap.tools.kernel._host.HostChanges` first (which
   takes the run lock and announces the first change): debugfs mounted if it was not; zswap's
   parameters saved, then ``compressor``, ``max_pool_percent``, ``accept_threshold_percent``,
   ``shrinker_enabled`` and ``enabled=Y`` set; ``vm.swappiness`` and ``vm.page-cluster`` set; a
   swap file of ``total trace pages + 1024`` pages (the size the mm model gives its swap
   device, since ``vm_swap_full()`` depends on it) made and swapped on; a fresh parent cgroup
   with the trace's groups under it, their limits, and (v1) their ``memory.swappiness``.
4. **The replay**: the replayer runs the program pinned to one CPU (so the per-CPU LRU batches
   and the order of reclaim are the same from run to run) and reads ``/proc/vmstat``, every
   zswap debugfs statistic and each group's ``memory.stat`` and usage at every 1% of the
   trace's accesses. At an ``exit`` the process checks its pages before it ends (samples before
   and after, so the check's own swap-ins are taken out of the counters); at the end every
   process checks its pages (after the last sample).
5. **Restore**: everything undone in reverse order, also on Ctrl-C, SIGTERM, or by the next
   run from the journal if this one was killed.

What makes runs repeatable: a fresh memory cgroup (no page of anyone else in it, no history in
its LRU lists or workingset shadow entries), an empty zswap (no swap active before the run),
a fresh swap file, one CPU. Caches are not dropped and memory is not compacted: the groups are
fresh, so the host's page cache is not in them, and zswap and the trace allocate order-0 pages
only; the checks require free memory far above the watermarks so kswapd has nothing to do.
The spread that remains comes from asynchronous kernel work (zswap's shrink worker when the
pool limit is hit, swap-device writeback completing) and is measured, not assumed
(docs/KERNEL_ORACLE.md, "Dynamic fidelity").
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from ...errors import CorruptData, InvalidParameter
from ...run.trace import ProcSpec, Trace, contents_seed, parse_trace, write_offsets
from ..pagesets import make_pages, read_page_file
from ._host import (
    HOST,
    PAGE_SIZE,
    HostChanges,
    HostPaths,
    KernelRunError,
    KernelUnavailable,
    active_swaps,
    crypto_algorithms,
    debugfs_mounted,
    free_bytes,
    mem_info,
    mount_debugfs,
    read_text,
    read_zswap_params,
    require_root,
    swapon,
    write_text,
)
from .cgroup import MemcgTree, MemoryHierarchy, memory_hierarchy
from .lrutrace import LruCounts, LruTrace
from .zswap import DEFAULT_SWAP_DIR, _make_swap_file

__all__ = [
    "COUNTER_KEYS",
    "GAUGE_KEYS",
    "METRIC_KEYS",
    "CompiledTrace",
    "PreparedReplay",
    "ReplayOptions",
    "compile_trace",
    "expected_contents",
    "replayer_path",
    "run_replay",
]

#: The JSON's counters (deltas over the run), in the order of the trace semantics.
COUNTER_KEYS: Final = (
    "zswpout", "zswpin", "zswpwb", "pswpin", "pswpout", "swpout_zero", "swpin_zero",
    "pgmajfault", "pgscan_anon", "pgsteal_anon", "pgactivate", "pgdeactivate",
    "workingset_refault_anon", "workingset_activate_anon",
)
#: zswap's debugfs gauges (values at the end of the run).
GAUGE_KEYS: Final = ("pool_total_size", "stored_pages", "stored_incompressible_pages")
#: zswap's debugfs counters (deltas).
DEBUGFS_COUNTERS: Final = ("written_back_pages", "pool_limit_hit")
#: Every metric of the JSON, in order.
METRIC_KEYS: Final = (*COUNTER_KEYS, *GAUGE_KEYS, *DEBUGFS_COUNTERS)
#: Counters read from the trace's cgroups rather than /proc/vmstat where the cgroup version has
#: them (v1's memory.stat has only these two of the list; the hierarchical "total_" form covers
#: every group of the trace). /proc/vmstat counts the whole host, so a counter other processes
#: also move (pgmajfault: anyone's file reads) is better taken from the group.
_MEMCG_COUNTERS: Final = {1: {"pgmajfault": "total_pgmajfault",
                              "workingset_refault_anon": "total_workingset_refault_anon"},
                          2: {k: k for k in COUNTER_KEYS}}
#: Counted from the replay's own tracepoints under cgroup v1 (:mod:`.lrutrace`).
_LRU_KEYS: Final = ("pgactivate", "pgdeactivate")
#: Extra per-sample series of the timeline (besides t, stored_pages, pool_total_size).
_TIMELINE_COUNTERS: Final = ("zswpout", "zswpin", "pswpin", "pswpout", "written_back_pages")
_SWAP_SLACK_PAGES: Final = 1024
_REPLAYER: Final = "_replay"
_RAM_TOLERANCE: Final = 1 << 20

# The program format of csrc/replay.h, as numpy dtypes (a test checks the sizes against the
# replayer's `abi` command).
REPLAY_MAGIC: Final = 0x31504C5952505A50
REPLAY_VERSION: Final = 1
FLAG_DUMP: Final = 1
NONE: Final = (1 << 64) - 1
STEP_SPAWN, STEP_RUN, STEP_SAMPLE, STEP_EXIT = 1, 2, 3, 4
OP_READ, OP_WRITE = 1, 2
HEADER_DTYPE: Final = np.dtype([
    ("magic", "<u8"), ("version", "<u4"), ("flags", "<u4"), ("seed", "<u8"),
    ("total_accesses", "<u8"), ("nprocs", "<u4"), ("nsteps", "<u4"), ("nops", "<u8"),
    ("nfiles", "<u4"), ("cpu", "<i4"), ("procs_off", "<u8"), ("steps_off", "<u8"),
    ("ops_off", "<u8"), ("strings_off", "<u8"), ("strings_len", "<u8"),
])
PROC_DTYPE: Final = np.dtype([
    ("npages", "<u8"), ("contents_off", "<u8"), ("expected_off", "<u8"), ("dump_off", "<u8"),
    ("cgroup_procs", "<u8"), ("trace_pid", "<u4"), ("pad", "<u4"),
])
STEP_DTYPE: Final = np.dtype([("kind", "<u4"), ("proc", "<u4"), ("a", "<u8"), ("b", "<u8")])
OP_DTYPE: Final = np.dtype([("kind", "<u4"), ("first", "<u4"), ("last", "<u4"), ("pad", "<u4"),
                            ("wseq", "<u8")])


def replayer_path() -> Path:
    """The replayer executable, built with the package (setup.py)."""
    path = Path(__file__).resolve().parents[2] / _REPLAYER
    if not os.access(path, os.X_OK):
        raise KernelUnavailable(f"the replayer {path} is not built (run `make setup`)")
    return path


# ---- options -----------------------------------------------------------------------------------


@dataclass
class ReplayOptions:
    """The settings of a run, under the names of ``pyzswap run``'s options."""

    compressor: str = "lzo"
    max_pool_percent: int = 20
    accept_threshold_percent: int = 90
    shrinker_enabled: bool = False
    #: limit per trace group (bytes; None = no limit)
    memcg_max: dict[str, int | None] = field(default_factory=dict)
    #: cgroup v2 only: memory.zswap.max per group and memory.zswap.writeback=0 groups
    zswap_max: dict[str, int | None] = field(default_factory=dict)
    no_writeback: tuple[str, ...] = ()
    swappiness: int = 60
    page_cluster: int = 3
    seed: int = 0
    #: timeline points: one every 1/samples of the accesses
    samples: int = 100
    #: the CPU every replay process runs on (default: the lowest this process may use)
    cpu: int | None = None
    swap_dir: Path = DEFAULT_SWAP_DIR
    #: must be this machine's MemTotal if given (bytes)
    ram: int | None = None
    cgroup_version: int | None = None

    def check(self) -> None:
        for name, value, lo, hi in (
                ("max_pool_percent", self.max_pool_percent, 0, 100),
                ("accept_threshold_percent", self.accept_threshold_percent, 0, 100),
                ("swappiness", self.swappiness, 0, 200),
                ("page_cluster", self.page_cluster, 0, 31),
                ("samples", self.samples, 1, 100_000)):
            if not lo <= value <= hi:
                raise InvalidParameter(f"{name} {value} is outside {lo}..{hi}")
        if self.seed < 0:
            raise InvalidParameter(f"seed {self.seed} is negative")
        if self.cgroup_version not in (None, 1, 2):
            raise InvalidParameter(f"cgroup version {self.cgroup_version} is not 1 or 2")
        for path in (*self.memcg_max, *self.zswap_max, *self.no_writeback):
            if not path.strip("/"):
                raise InvalidParameter("the root cgroup cannot be limited: the kernel side runs "
                                       "on this machine's RAM (give the group a name)")

    @property
    def groups(self) -> set[str]:
        return {_norm(p) for p in (*self.memcg_max, *self.zswap_max, *self.no_writeback)}


def _norm(group: str) -> str:
    return "/" + "/".join(p for p in group.split("/") if p)


# ---- compilation -------------------------------------------------------------------------------


@dataclass
class CompiledTrace:
    """A trace as the replayer's steps and ops (see csrc/replay.h), plus what it needs to know.

    ``procs`` is in ``proc``-line order (the replayer's process index); ``op_proc`` gives each
    op's process index; ``total_accesses`` counts page accesses (the timeline's denominator).
    """

    trace: Trace
    procs: list[ProcSpec]
    steps: np.ndarray
    ops: np.ndarray
    op_proc: np.ndarray
    total_accesses: int
    nwrites: int

    @property
    def total_pages(self) -> int:
        return sum(int(p.npages) for p in self.procs)


def _boundaries(total: int, samples: int) -> list[int]:
    """Access counts after which a timeline sample is taken: every ``total // samples``
    accesses (so never more than 1/samples of the trace apart), and at the end."""
    step = max(1, total // samples)
    return sorted({*range(step, total, step), total} - {0})


def compile_trace(trace: Trace, *, samples: int = 100) -> CompiledTrace:
    """Turn a parsed trace into the replayer's steps and ops (no host access).

    A process is spawned at its ``proc`` line (before the first event that follows it); a run
    of consecutive accesses of one process is one RUN step; a range that crosses a sample
    boundary is split there, so samples fall exactly every ``total // samples`` accesses.
    Write ops carry the trace's write count before their first page (the write rule's ``n``).
    Raises :class:`CorruptData` for a line the replayer cannot run.
    """
    procs = list(trace.procs.values())
    index = {spec.pid: i for i, spec in enumerate(procs)}
    spawn_order = sorted(range(len(procs)), key=lambda i: procs[i].line)
    total = trace.accesses
    bounds = _boundaries(total, samples)
    steps: list[tuple[int, int, int, int]] = [(STEP_SAMPLE, 0, 0, 0)]
    ops: list[tuple[int, int, int, int, int]] = []
    op_proc: list[int] = []
    spawned = [False] * len(procs)
    next_spawn = 0
    done = 0
    writes = 0
    b = 0  # next boundary index
    run_proc = -1
    run_start = 0

    def close_run() -> None:
        nonlocal run_proc
        if run_proc >= 0 and len(ops) > run_start:
            steps.append((STEP_RUN, run_proc, run_start, len(ops)))
        run_proc = -1

    def spawn(i: int) -> None:
        if not spawned[i]:
            close_run()
            spawned[i] = True
            steps.append((STEP_SPAWN, i, 0, 0))

    for ev in trace.events:
        while next_spawn < len(spawn_order) and procs[spawn_order[next_spawn]].line <= ev.line:
            spawn(spawn_order[next_spawn])
            next_spawn += 1
        if ev.op not in ("r", "w", "exit"):
            raise CorruptData(f"{trace.name}:{ev.line}: the kernel replayer cannot run "
                              f"'{ev.op}' lines")
        p = index[ev.pid]
        spawn(p)
        if ev.op == "exit":
            close_run()
            steps.append((STEP_EXIT, p, done, 0))
            continue
        kind = OP_WRITE if ev.op == "w" else OP_READ
        first = ev.first
        while first <= ev.last:
            room = bounds[b] - done if b < len(bounds) else ev.last - first + 1
            last = min(ev.last, first + room - 1)
            if run_proc != p:
                close_run()
                run_proc, run_start = p, len(ops)
            ops.append((kind, first, last, 0, writes if kind == OP_WRITE else 0))
            op_proc.append(p)
            n = last - first + 1
            done += n
            if kind == OP_WRITE:
                writes += n
            first = last + 1
            if b < len(bounds) and done == bounds[b]:
                close_run()
                steps.append((STEP_SAMPLE, 0, done, 0))
                b += 1
    while next_spawn < len(spawn_order):  # processes declared after the last event
        spawn(spawn_order[next_spawn])
        next_spawn += 1
    close_run()
    if steps[-1][0] != STEP_SAMPLE:
        steps.append((STEP_SAMPLE, 0, done, 0))
    return CompiledTrace(trace, procs, np.array(steps, dtype=STEP_DTYPE),
                         np.array(ops, dtype=OP_DTYPE), np.array(op_proc, dtype=np.int64),
                         total, writes)


def initial_contents(spec: ProcSpec, seed: int) -> bytes:
    """A process's first-touch contents (page i of its page file, or of ``make_pages``)."""
    if spec.file is not None:
        data = read_page_file(spec.file)
        if len(data) < spec.npages * PAGE_SIZE:
            raise CorruptData(f"{spec.file}: {len(data) // PAGE_SIZE} pages, process "
                              f"{spec.pid} needs {spec.npages}")
        return bytes(memoryview(data)[:spec.npages * PAGE_SIZE])
    return make_pages(spec.pageset, spec.npages, contents_seed(spec, seed))


def expected_contents(compiled: CompiledTrace, proc: int, initial: bytes,
                      seed: int) -> bytearray:
    """Process ``proc``'s pages at the end of the trace: ``initial`` with its writes applied in
    trace order (:func:`pyzswap.run.trace.write_offsets`). Pages it never touches keep their
    initial bytes (nothing checks them)."""
    buf = bytearray(initial)
    ops = compiled.ops
    mine = np.flatnonzero((compiled.op_proc == proc) & (ops["kind"] == OP_WRITE))
    span = 256
    for first, last, wseq in zip(ops["first"][mine].tolist(), ops["last"][mine].tolist(),
                                 ops["wseq"][mine].tolist(), strict=True):
        for page in range(first, last + 1):
            src, dst = write_offsets(seed, wseq + page - first)
            at = page * PAGE_SIZE
            buf[at + dst:at + dst + span] = buf[at + src:at + src + span]
    return buf


def _memfd(name: str) -> int:
    return os.memfd_create(f"pyzswap-replay-{name}", os.MFD_CLOEXEC)


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


@dataclass
class _Inputs:
    """The memfds the replayer reads: contents and expected contents of every process."""

    contents_fd: int
    expected_fd: int
    offsets: list[int]

    def close(self) -> None:
        for fd in (self.contents_fd, self.expected_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def _build_inputs(compiled: CompiledTrace, seed: int) -> _Inputs:
    contents_fd, expected_fd = _memfd("contents"), _memfd("expected")
    inputs = _Inputs(contents_fd, expected_fd, [])
    try:
        offset = 0
        for i, spec in enumerate(compiled.procs):
            data = initial_contents(spec, seed)
            _write_all(contents_fd, data)
            _write_all(expected_fd, expected_contents(compiled, i, data, seed))
            inputs.offsets.append(offset)
            offset += len(data)
            del data
    except BaseException:
        inputs.close()
        raise
    return inputs


def _program(compiled: CompiledTrace, inputs: _Inputs, *, seed: int, cpu: int,
             files: list[str], cgroup_procs: list[str | None], dump: bool) -> bytes:
    """The program bytes (csrc/replay.h) for one run."""
    strings = bytearray()
    offsets: dict[str, int] = {}

    def string(text: str) -> int:
        if text not in offsets:
            offsets[text] = len(strings)
            strings.extend(os.fsencode(text) + b"\0")
        return offsets[text]

    for f in files:  # the sample files come first, in order
        strings.extend(os.fsencode(f) + b"\0")
    procs = np.zeros(len(compiled.procs), dtype=PROC_DTYPE)
    for i, spec in enumerate(compiled.procs):
        group = cgroup_procs[i]
        procs[i] = (spec.npages, inputs.offsets[i], inputs.offsets[i], inputs.offsets[i],
                    NONE if group is None else string(group), spec.pid, 0)
    steps = compiled.steps
    header = np.zeros(1, dtype=HEADER_DTYPE)
    procs_off = HEADER_DTYPE.itemsize
    steps_off = procs_off + procs.nbytes
    ops_off = steps_off + steps.nbytes
    strings_off = ops_off + compiled.ops.nbytes
    header[0] = (REPLAY_MAGIC, REPLAY_VERSION, FLAG_DUMP if dump else 0, seed,
                 compiled.total_accesses, len(procs), len(steps), len(compiled.ops), len(files),
                 cpu, procs_off, steps_off, ops_off, strings_off, len(strings))
    return b"".join([header.tobytes(), procs.tobytes(), steps.tobytes(),
                     compiled.ops.tobytes(), bytes(strings)])


# ---- running the replayer ----------------------------------------------------------------------


@dataclass
class _Sample:
    kind: str
    accesses: int
    ns: int
    files: dict[int, str]


@dataclass
class _Output:
    samples: list[_Sample]
    verify: dict[int, tuple[int, int, int]]
    cpu_ns: dict[int, int]
    done_ns: int | None
    error: str | None
    clock_ns: int = 0


def _parse_output(raw: bytes) -> _Output:
    """The replayer's records (csrc/replay.h)."""
    out = _Output([], {}, {}, None, None)
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        if end < 0:
            break
        words = raw[pos:end].decode(errors="replace").split()
        pos = end + 1
        if not words:
            continue
        if words[0] == "sample":
            out.samples.append(_Sample(words[1], int(words[2]), int(words[3]), {}))
        elif words[0] == "file":
            length = int(words[2])
            out.samples[-1].files[int(words[1])] = raw[pos:pos + length].decode(errors="replace")
            pos += length + 1
        elif words[0] == "verify":
            out.verify[int(words[1])] = (int(words[2]), int(words[3]), int(words[4]))
            out.cpu_ns[int(words[1])] = int(words[5])
        elif words[0] == "done":
            out.done_ns = int(words[1])
        elif words[0] == "clock":
            out.clock_ns = int(words[1])
        elif words[0] == "error":
            out.error = " ".join(words[1:])
    return out


def _launch(program: bytes, inputs: _Inputs, dump_fd: int | None,
            changes: HostChanges | None) -> tuple[_Output, str]:
    """Run the replayer to the end; returns its parsed output and its stderr."""
    prog_fd, out_fd = _memfd("program"), _memfd("output")
    try:
        _write_all(prog_fd, program)
        fds = [prog_fd, inputs.contents_fd, inputs.expected_fd, out_fd]
        if dump_fd is not None:
            fds.append(dump_fd)
        argv = [str(replayer_path()), "run", *map(str, fds)]
        proc = subprocess.Popen(argv, pass_fds=fds, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        kill = changes.record("kill", pid=proc.pid) if changes is not None else None
        try:
            _, err = proc.communicate()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if kill is not None and changes is not None:
                changes.forget(kill)
        os.lseek(out_fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(out_fd, 1 << 20):
            chunks.append(chunk)
        out = _parse_output(b"".join(chunks))
        stderr = err.decode(errors="replace").strip()
        if proc.returncode != 0:
            reason = out.error or (stderr.splitlines()[-1] if stderr else
                                   f"exit status {proc.returncode}")
            raise KernelRunError(f"the replayer failed: {reason}")
        return out, stderr
    finally:
        for fd in (prog_fd, out_fd):
            os.close(fd)


# ---- reading samples ---------------------------------------------------------------------------


def _parse_keyed(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            with contextlib.suppress(ValueError):
                out[parts[0]] = int(parts[1])
    return out


@dataclass
class _SampleFiles:
    """Which counter file sits at which index of a sample, and how to read them."""

    paths: list[str] = field(default_factory=list)
    vmstat: int = -1
    debugfs: dict[str, int] = field(default_factory=dict)
    parent_stat: int = -1
    parent_usage: int = -1
    group_stat: dict[str, int] = field(default_factory=dict)
    group_usage: dict[str, int] = field(default_factory=dict)

    def add(self, path: Path) -> int:
        self.paths.append(str(path))
        return len(self.paths) - 1


def _sample_values(sample: _Sample, files: _SampleFiles, version: int,
                   lru: tuple[LruCounts, int] | None) -> dict[str, int]:
    """Every metric's raw (cumulative or gauge) value at one sample. ``lru``: the traced
    (de)activation counts and the replayer's clock at its first step."""
    vm = _parse_keyed(sample.files.get(files.vmstat, ""))
    values: dict[str, int] = {k: vm[k] for k in COUNTER_KEYS if k in vm}
    if lru is not None:
        for key in _LRU_KEYS:
            if key in values:
                values[f"host_{key}"] = values[key]
        counts, clock = lru
        values["pgactivate"], values["pgdeactivate"] = counts.at(clock + sample.ns)
    if files.parent_stat >= 0:
        stat = _parse_keyed(sample.files.get(files.parent_stat, ""))
        for key, name in _MEMCG_COUNTERS[version].items():
            if name in stat:
                values[key] = stat[name]
    for name, i in files.debugfs.items():
        with contextlib.suppress(ValueError):
            values[name] = int(sample.files.get(i, "").split()[0])
    if files.parent_usage >= 0:
        with contextlib.suppress(ValueError, IndexError):
            values["memcg_usage"] = int(sample.files[files.parent_usage].split()[0])
    return values


def _result(compiled: CompiledTrace, out: _Output, files: _SampleFiles, version: int,
            counts: LruCounts | None) -> dict[str, Any]:
    """The contract's metrics and timeline from the samples (see the module docstring)."""
    timeline_samples = [s for s in out.samples if s.kind == "t"]
    if not timeline_samples:
        raise KernelRunError("the replayer took no samples")
    lru = None if counts is None else (counts, out.clock_ns)

    def _values(sample: _Sample) -> dict[str, int]:
        return _sample_values(sample, files, version, lru)

    first = _values(timeline_samples[0])
    last = _values(timeline_samples[-1])
    host_wide = tuple(f"host_{k}" for k in _LRU_KEYS)
    counters = (*COUNTER_KEYS, *DEBUGFS_COUNTERS, *host_wide)
    # Around every exit: the check's own swap-ins, taken out of every later counter value.
    adjust_at: list[tuple[int, dict[str, int]]] = []
    pending: _Sample | None = None
    paused_ns = 0
    for s in out.samples:
        if s.kind == "pre":
            pending = s
        elif s.kind == "post" and pending is not None:
            pre, post = _values(pending), _values(s)
            adjust_at.append((s.ns, {k: post[k] - pre[k] for k in counters
                                     if k in pre and k in post}))
            paused_ns += s.ns - pending.ns
            pending = None

    def counter(values: dict[str, int], key: str, ns: int) -> int | None:
        if key not in values or key not in first:
            return None
        taken = sum(d.get(key, 0) for at, d in adjust_at if at <= ns)
        return values[key] - first[key] - taken

    metrics: dict[str, Any] = {}
    for key in METRIC_KEYS:
        if key in GAUGE_KEYS:
            metrics[key] = last.get(key)
        else:
            metrics[key] = counter(last, key, timeline_samples[-1].ns)
    total = max(compiled.total_accesses, 1)
    timeline = []
    for s in timeline_samples:
        v = _values(s)
        point: dict[str, Any] = {"t": round(s.accesses / total, 6),
                                 "stored_pages": v.get("stored_pages"),
                                 "pool_total_size": v.get("pool_total_size")}
        for key in _TIMELINE_COUNTERS:
            point[key] = counter(v, key, s.ns)
        if "memcg_usage" in v:
            point["memcg_usage"] = v["memcg_usage"]
        timeline.append(point)
    wall_ns = timeline_samples[-1].ns - timeline_samples[0].ns - paused_ns
    exits = {key: sum(d.get(key, 0) for _, d in adjust_at) for key in counters}
    return {**metrics, "timeline": timeline, "wall_seconds": round(wall_ns / 1e9, 3),
            "exit_check_adjustment": {k: v for k, v in exits.items() if v},
            "host_vmstat": {k[5:]: counter(last, k, timeline_samples[-1].ns) for k in host_wide
                            if k in last}}


# ---- the run -----------------------------------------------------------------------------------


def _check_host(opts: ReplayOptions, compiled: CompiledTrace, host: HostPaths
                ) -> tuple[dict[str, str], MemoryHierarchy, int]:
    """Everything that can refuse the run, before anything changes."""
    require_root()
    hierarchy = memory_hierarchy(host)
    if opts.cgroup_version is not None and opts.cgroup_version != hierarchy.version:
        raise KernelUnavailable(f"this host's memory controller is cgroup v{hierarchy.version} "
                                f"({hierarchy.root}), not v{opts.cgroup_version}")
    if hierarchy.version == 1 and (opts.zswap_max or opts.no_writeback):
        raise KernelUnavailable("memory.zswap.max and memory.zswap.writeback do not exist "
                                "under cgroup v1 (this host's memory controller)")
    mem = mem_info(host)
    total = mem.get("MemTotal", 0)
    if opts.ram is not None and abs(opts.ram - total) > _RAM_TOLERANCE:
        raise InvalidParameter(f"--ram {opts.ram >> 10}K is not this machine's RAM "
                               f"(MemTotal {total >> 10}K): the kernel side runs on the real "
                               "machine")
    params = read_zswap_params(host)
    for name in ("enabled", "compressor", "max_pool_percent", "accept_threshold_percent"):
        if name not in params:
            raise KernelUnavailable(f"zswap has no {name!r} parameter here")
    if opts.shrinker_enabled and "shrinker_enabled" not in params:
        raise KernelUnavailable("zswap has no 'shrinker_enabled' parameter here")
    if opts.compressor not in crypto_algorithms(host):
        raise KernelUnavailable(f"zswap on this kernel does not offer {opts.compressor!r}")
    swaps = active_swaps(host)
    if swaps:
        raise KernelUnavailable(f"swap is active ({', '.join(swaps)}); the replay needs a quiet "
                                "start (no swap on)")
    for name in ("swappiness", "page-cluster"):
        if not (host.proc / "sys/vm" / name).exists():
            raise KernelUnavailable(f"/proc/sys/vm/{name} is missing")
    swap_dir = opts.swap_dir
    if not swap_dir.is_dir():
        raise KernelUnavailable(f"swap file directory {swap_dir} does not exist")
    swap_pages = compiled.total_pages + _SWAP_SLACK_PAGES
    if free_bytes(swap_dir) < swap_pages * PAGE_SIZE + (256 << 20):
        raise KernelUnavailable(f"not enough free space in {swap_dir} for a "
                                f"{swap_pages * PAGE_SIZE >> 20} MiB swap file")
    # The memfds (contents and expected) and every process's pages, with room to spare.
    need = 3 * compiled.total_pages * PAGE_SIZE + (1 << 30)
    if mem.get("MemAvailable", 0) < need:
        raise KernelUnavailable(f"not enough available memory: the replay needs about "
                                f"{need >> 20} MiB")
    replayer_path()
    cpus = sorted(os.sched_getaffinity(0))
    if opts.cpu is not None and opts.cpu not in cpus:
        raise InvalidParameter(f"CPU {opts.cpu} is not one this process may run on "
                               f"({', '.join(map(str, cpus))})")
    return params, hierarchy, total


def _group_of(spec: ProcSpec) -> str | None:
    return None if spec.memcg in (None, "/") else _norm(spec.memcg)


class PreparedReplay:
    """A trace compiled, its host checks passed and its page contents generated: ready to be
    replayed once or several times (:meth:`run`). Close it (or use ``with``) to free the
    contents."""

    def __init__(self, trace: Trace | str | os.PathLike[str], options: ReplayOptions | None,
                 host: HostPaths = HOST) -> None:
        t0 = time.perf_counter()
        self.options = opts = options or ReplayOptions()
        opts.check()
        self.trace = trace if isinstance(trace, Trace) else parse_trace(trace)
        self.compiled = compile_trace(self.trace, samples=opts.samples)
        self.host = host
        self.saved_params, self.hierarchy, self.memtotal = _check_host(opts, self.compiled, host)
        self.inputs = _build_inputs(self.compiled, opts.seed)
        self.prepare_seconds = time.perf_counter() - t0

    def __enter__(self) -> PreparedReplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.inputs.close()

    def run(self, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """One replay on the host; returns the JSON of ``pyzswap kernel run``."""
        t_start = time.perf_counter()
        compiled, hierarchy = self.compiled, self.hierarchy
        out, files, settings, counts, no_lru = _run_on_host(
            compiled, self.inputs, self.options, self.saved_params, hierarchy, self.host,
            progress or (lambda message: None))
        result = _result(compiled, out, files, hierarchy.version, counts)
        checked = sum(v[0] for v in out.verify.values())
        mismatched = sum(v[1] for v in out.verify.values())
        notes = []
        if mismatched:
            bad = [f"pid {compiled.procs[i].pid} page {v[2]}" for i, v in out.verify.items()
                   if v[1]]
            notes.append(f"{mismatched} pages did not hold their expected contents "
                         f"(first: {', '.join(bad)})")
        if no_lru is not None:
            notes.append(f"pgactivate and pgdeactivate are /proc/vmstat's, which count every "
                         f"process on the host: the replay's own could not be traced "
                         f"({no_lru})")
        return {
            **{k: result[k] for k in METRIC_KEYS},
            "timeline": result["timeline"],
            "wall_seconds": result["wall_seconds"],
            "cpu_seconds": round(sum(out.cpu_ns.values()) / 1e9, 3),
            "total_seconds": round(time.perf_counter() - t_start + self.prepare_seconds, 3),
            "verified": mismatched == 0 and len(out.verify) == len(compiled.procs),
            "checked_pages": checked,
            "mismatched_pages": mismatched,
            "trace": self.trace.name,
            "accesses": compiled.total_accesses,
            "processes": len(compiled.procs),
            "total_pages": compiled.total_pages,
            "kernel": platform.release(),
            "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ram_bytes": self.memtotal,
            "cgroup_version": hierarchy.version,
            "settings": settings,
            "exit_check_adjustment": result["exit_check_adjustment"],
            "host_vmstat": result["host_vmstat"],
            "notes": notes,
        }


def run_replay(trace: Trace | str | os.PathLike[str], options: ReplayOptions | None = None, *,
               host: HostPaths = HOST,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Replay ``trace`` on this host's kernel once; returns the JSON of ``pyzswap kernel run``.

    Raises :class:`KernelUnavailable` or :class:`InvalidParameter` before changing anything,
    :class:`KernelRunError` if the replay failed (the host restored).
    """
    with PreparedReplay(trace, options, host) as prepared:
        return prepared.run(progress)


def _run_on_host(compiled: CompiledTrace, inputs: _Inputs, opts: ReplayOptions,
                 saved: dict[str, str], hierarchy: MemoryHierarchy, host: HostPaths,
                 say: Callable[[str], None]
                 ) -> tuple[_Output, _SampleFiles, dict[str, Any], LruCounts | None, str | None]:
    """Set the host up, replay, restore; the replayer's output, the sample files, the settings
    used, and (cgroup v1) the traced LRU counts or why there are none."""
    cpu = opts.cpu if opts.cpu is not None else min(os.sched_getaffinity(0))
    groups = sorted({g for g in map(_group_of, compiled.procs) if g} | opts.groups)
    tree = MemcgTree(hierarchy)
    swap_pages = compiled.total_pages + _SWAP_SLACK_PAGES
    with HostChanges(host) as changes:
        if not debugfs_mounted(host):
            changes.record("umount", path=str(host.debugfs))
            mount_debugfs(host.debugfs)
        changes.record("zswap_params", values=saved)
        vm = host.proc / "sys/vm"
        sysctls = {"swappiness": str(opts.swappiness), "page-cluster": str(opts.page_cluster)}
        for name, value in sysctls.items():
            changes.record("sysctl", path=str(vm / name), value=read_text(vm / name))
            write_text(vm / name, value)
        swap_file = opts.swap_dir.resolve() / (f"pyzswap-replay-{os.getpid()}-"
                                               f"{os.urandom(4).hex()}.swap")
        changes.record("unlink", path=str(swap_file))
        _make_swap_file(swap_file, swap_pages)
        changes.record("swapoff", path=str(swap_file))
        try:
            swapon(swap_file)
        except OSError as exc:
            raise KernelUnavailable(f"swap file unsupported in {opts.swap_dir}: "
                                    f"{exc.strerror or exc}") from None
        params = {"compressor": opts.compressor, "max_pool_percent": str(opts.max_pool_percent),
                  "accept_threshold_percent": str(opts.accept_threshold_percent)}
        if "shrinker_enabled" in saved:
            params["shrinker_enabled"] = "Y" if opts.shrinker_enabled else "N"
        params["enabled"] = "Y"
        for name, value in params.items():
            try:
                write_text(host.zswap_params / name, value)
            except OSError as exc:
                raise KernelUnavailable(f"zswap refused {name}={value}: "
                                        f"{exc.strerror or exc}") from None
        got = read_zswap_params(host)
        if got.get("compressor") != opts.compressor:
            raise KernelUnavailable(f"zswap kept compressor {got.get('compressor')!r}")
        tree.create(changes, groups)
        _configure_groups(tree, hierarchy, opts, groups)
        lru = LruTrace(host, tree.parent.name) if hierarchy.version == 1 else None
        no_lru = lru.start(changes) if lru is not None else None
        files = _sample_files(tree, hierarchy, groups, host)
        program = _program(compiled, inputs, seed=opts.seed, cpu=cpu, files=files.paths,
                           cgroup_procs=[str(tree.procs_file(_group_of(s)))
                                         for s in compiled.procs],
                           dump=False)
        say(f"replaying {compiled.total_accesses:,} accesses")
        out, _ = _launch(program, inputs, None, changes)
        counts: LruCounts | None = None
        if lru is not None and no_lru is None:
            counts, no_lru = lru.counts()
        settings = {"zswap": params, "vm": sysctls, "swap_pages": swap_pages, "cpu": cpu,
                    "cgroup_parent": str(tree.parent),
                    "memcg_max": {g: opts.memcg_max.get(g.strip("/")) for g in groups
                                  if g.strip("/") in opts.memcg_max}}
        say("restoring the host")
    return out, files, settings, counts, no_lru


def _configure_groups(tree: MemcgTree, hierarchy: MemoryHierarchy, opts: ReplayOptions,
                      groups: list[str]) -> None:
    limits = {_norm(k): v for k, v in opts.memcg_max.items()}
    zswap_max = {_norm(k): v for k, v in opts.zswap_max.items()}
    no_writeback = {_norm(k) for k in opts.no_writeback}
    nodes = ["/", *groups]
    for group in nodes:
        if hierarchy.version == 1:
            tree.write(group, "memory.swappiness", str(opts.swappiness))
        if group in limits:
            limit = limits[group]
            tree.write(group, hierarchy.limit_file,
                       ("max" if hierarchy.version == 2 else "-1") if limit is None
                       else str(limit))
        if group in zswap_max:
            value = zswap_max[group]
            tree.write(group, "memory.zswap.max", "max" if value is None else str(value))
        if group in no_writeback:
            tree.write(group, "memory.zswap.writeback", "0")


def _sample_files(tree: MemcgTree, hierarchy: MemoryHierarchy, groups: list[str],
                  host: HostPaths) -> _SampleFiles:
    files = _SampleFiles()
    files.vmstat = files.add(host.proc / "vmstat")
    for p in sorted(host.zswap_debugfs.iterdir()):
        if p.is_file():
            files.debugfs[p.name] = files.add(p)
    files.parent_stat = files.add(tree.parent / "memory.stat")
    files.parent_usage = files.add(tree.parent / hierarchy.usage_file)
    for group in groups:
        files.group_stat[group] = files.add(tree.path(group) / "memory.stat")
        files.group_usage[group] = files.add(tree.path(group) / hierarchy.usage_file)
    return files


# ---- dry run: the replayer without the host ----------------------------------------------------


def dry_run(trace: Trace, *, seed: int = 0, samples: int = 100, dump: bool = False,
            corrupt_expected: int | None = None) -> dict[str, Any]:
    """Run the replayer on ``trace`` without cgroups, zswap or root: real processes, real
    pages, the same program, the contents checked at exits and at the end. Changes nothing on
    the host. ``dump``: also return each process's whole mapping as the replayer left it
    (``dump``: pid → bytes). ``corrupt_expected`` flips one byte of that page of the first
    process's expected contents (tests use it to see a check fail).
    """
    compiled = compile_trace(trace, samples=samples)
    inputs = _build_inputs(compiled, seed)
    dump_fd = _memfd("dump") if dump else None
    try:
        if corrupt_expected is not None:
            at = inputs.offsets[0] + corrupt_expected * PAGE_SIZE
            byte = os.pread(inputs.expected_fd, 1, at)
            os.pwrite(inputs.expected_fd, bytes([byte[0] ^ 0xFF]), at)
        program = _program(compiled, inputs, seed=seed, cpu=-1, files=[],
                           cgroup_procs=[None] * len(compiled.procs), dump=dump)
        out, _ = _launch(program, inputs, dump_fd, None)
        dumps: dict[int, bytes] = {}
        if dump_fd is not None:
            for i, spec in enumerate(compiled.procs):
                dumps[spec.pid] = os.pread(dump_fd, spec.npages * PAGE_SIZE, inputs.offsets[i])
    finally:
        inputs.close()
        if dump_fd is not None:
            os.close(dump_fd)
    ticks = [s for s in out.samples if s.kind == "t"]
    return {
        "verified": all(v[1] == 0 for v in out.verify.values())
        and len(out.verify) == len(compiled.procs),
        "checked_pages": sum(v[0] for v in out.verify.values()),
        "mismatched_pages": sum(v[1] for v in out.verify.values()),
        "first_bad": {compiled.procs[i].pid: v[2] for i, v in out.verify.items() if v[1]},
        "samples": [round(s.accesses / max(compiled.total_accesses, 1), 6) for s in ticks],
        "exits": sum(1 for s in out.samples if s.kind == "pre"),
        "wall_seconds": round((out.done_ns or 0) / 1e9, 3),
        "dump": dumps,
    }
