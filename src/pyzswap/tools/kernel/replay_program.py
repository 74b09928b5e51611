"""The replayer's program (csrc/replay.h): a parsed trace compiled into steps and ops, and the
memfds of first-touch and expected contents the replayer reads (no host access, no root)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ...errors import CorruptData
from ...run.trace import ProcSpec, Trace, contents_seed, write_offsets
from ..pagesets import make_pages, read_page_file
from ._host import PAGE_SIZE, KernelUnavailable

__all__ = [
    "HEADER_DTYPE",
    "OP_DTYPE",
    "PROC_DTYPE",
    "STEP_DTYPE",
    "CompiledTrace",
    "Inputs",
    "build_inputs",
    "build_program",
    "compile_trace",
    "expected_contents",
    "initial_contents",
    "memfd",
    "replayer_path",
    "write_all",
]

_REPLAYER: Final = "_replay"

# The program format of csrc/replay.h, as numpy dtypes (a test checks the sizes against the
# replayer's `abi` command).
REPLAY_MAGIC: Final = 0x31504C5952505A50
REPLAY_VERSION: Final = 1
FLAG_DUMP: Final = 1
NONE: Final = (1 << 64) - 1
STEP_SPAWN: Final = 1
STEP_RUN: Final = 2
STEP_SAMPLE: Final = 3
STEP_EXIT: Final = 4
OP_READ: Final = 1
OP_WRITE: Final = 2
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


def memfd(name: str) -> int:
    return os.memfd_create(f"pyzswap-replay-{name}", os.MFD_CLOEXEC)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


@dataclass
class Inputs:
    """The memfds the replayer reads: contents and expected contents of every process."""

    contents_fd: int
    expected_fd: int
    offsets: list[int]

    def close(self) -> None:
        for fd in (self.contents_fd, self.expected_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def build_inputs(compiled: CompiledTrace, seed: int) -> Inputs:
    contents_fd, expected_fd = memfd("contents"), memfd("expected")
    inputs = Inputs(contents_fd, expected_fd, [])
    try:
        offset = 0
        for i, spec in enumerate(compiled.procs):
            data = initial_contents(spec, seed)
            write_all(contents_fd, data)
            write_all(expected_fd, expected_contents(compiled, i, data, seed))
            inputs.offsets.append(offset)
            offset += len(data)
            del data
    except BaseException:
        inputs.close()
        raise
    return inputs


def build_program(compiled: CompiledTrace, inputs: Inputs, *, seed: int, cpu: int,
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
