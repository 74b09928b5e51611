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

import datetime as _dt
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ...errors import InvalidParameter
from ...run.trace import ProcSpec, Trace, parse_trace
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
from .replay_program import (
    CompiledTrace,
    Inputs,
    build_inputs,
    build_program,
    compile_trace,
    expected_contents,
    memfd,
    replayer_path,
    write_all,
)
from .replay_samples import (
    COUNTER_KEYS,
    GAUGE_KEYS,
    METRIC_KEYS,
    Output,
    SampleFiles,
    parse_output,
    replay_result,
)
from .zswap import DEFAULT_SWAP_DIR, _make_swap_file

__all__ = [
    "COUNTER_KEYS",
    "GAUGE_KEYS",
    "METRIC_KEYS",
    "CompiledTrace",
    "PreparedReplay",
    "ReplayOptions",
    "compile_trace",
    "dry_run",
    "expected_contents",
    "replayer_path",
    "run_replay",
]

#: Swap pages beyond the trace's, as the mm model gives its swap device.
_SWAP_SLACK_PAGES: Final = 1024
#: The most empty groups ``--add-memcgs`` makes, and their names (never a trace group's:
#: :func:`_run_on_host` refuses a trace group of that name).
MAX_ADD_MEMCGS: Final = 10_000
HOST_GROUP_PREFIX: Final = "pyzswap-host-"
_RAM_TOLERANCE: Final = 1 << 20


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
    #: empty memory cgroups made beside the trace's groups for the run (created first, removed
    #: after): a host with more groups, which zswap's shrink worker walks past
    add_memcgs: int = 0

    def check(self) -> None:
        for name, value, lo, hi in (
                ("max_pool_percent", self.max_pool_percent, 0, 100),
                ("accept_threshold_percent", self.accept_threshold_percent, 0, 100),
                ("swappiness", self.swappiness, 0, 200),
                ("page_cluster", self.page_cluster, 0, 31),
                ("samples", self.samples, 1, 100_000),
                ("add_memcgs", self.add_memcgs, 0, MAX_ADD_MEMCGS)):
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


# ---- running the replayer ----------------------------------------------------------------------


def _launch(program: bytes, inputs: Inputs, dump_fd: int | None,
            changes: HostChanges | None) -> tuple[Output, str]:
    """Run the replayer to the end; returns its parsed output and its stderr."""
    prog_fd, out_fd = memfd("program"), memfd("output")
    try:
        write_all(prog_fd, program)
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
        out = parse_output(b"".join(chunks))
        stderr = err.decode(errors="replace").strip()
        if proc.returncode != 0:
            reason = out.error or (stderr.splitlines()[-1] if stderr else
                                   f"exit status {proc.returncode}")
            raise KernelRunError(f"the replayer failed: {reason}")
        return out, stderr
    finally:
        for fd in (prog_fd, out_fd):
            os.close(fd)


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
        self.inputs = build_inputs(self.compiled, opts.seed)
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
        result = replay_result(compiled, out, files, hierarchy.version, counts)
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
            "host_memcgs": settings["host_memcgs"],
            "dying_memcgs": settings["dying_memcgs"],
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


def _run_on_host(compiled: CompiledTrace, inputs: Inputs, opts: ReplayOptions,
                 saved: dict[str, str], hierarchy: MemoryHierarchy, host: HostPaths,
                 say: Callable[[str], None]
                 ) -> tuple[Output, SampleFiles, dict[str, Any], LruCounts | None, str | None]:
    """Set the host up, replay, restore; the replayer's output, the sample files, the settings
    used, and (cgroup v1) the traced LRU counts or why there are none."""
    cpu = opts.cpu if opts.cpu is not None else min(os.sched_getaffinity(0))
    groups = sorted({g for g in map(_group_of, compiled.procs) if g} | opts.groups)
    if opts.add_memcgs and any(g.strip("/").split("/")[0].startswith(HOST_GROUP_PREFIX)
                               for g in groups):
        raise InvalidParameter(f"a trace group is named {HOST_GROUP_PREFIX}*, the name "
                               f"--add-memcgs gives its groups")
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
        tree.create(changes, groups,
                    empty=[f"{HOST_GROUP_PREFIX}{i}" for i in range(opts.add_memcgs)])
        _configure_groups(tree, hierarchy, opts, groups)
        lru = LruTrace(host, tree.parent.name) if hierarchy.version == 1 else None
        no_lru = lru.start(changes) if lru is not None else None
        files = _sample_files(tree, hierarchy, groups, host)
        program = build_program(compiled, inputs, seed=opts.seed, cpu=cpu, files=files.paths,
                                cgroup_procs=[str(tree.procs_file(_group_of(s)))
                                              for s in compiled.procs],
                                dump=False)
        memcgs = count_memcgs(hierarchy, host, groups,
                              parent_used=not all(map(_group_of, compiled.procs)))
        say(f"replaying {compiled.total_accesses:,} accesses")
        out, _ = _launch(program, inputs, None, changes)
        counts: LruCounts | None = None
        if lru is not None and no_lru is None:
            counts, no_lru = lru.counts()
        settings = {"zswap": params, "vm": sysctls, "swap_pages": swap_pages, "cpu": cpu,
                    **memcgs,
                    "cgroup_parent": str(tree.parent),
                    "memcg_max": {g: opts.memcg_max.get(g.strip("/")) for g in groups
                                  if g.strip("/") in opts.memcg_max}}
        say("restoring the host")
    return out, files, settings, counts, no_lru


def count_memcgs(hierarchy: MemoryHierarchy, host: HostPaths, groups: Sequence[str] = (),
                 parent_used: bool = False) -> dict[str, int]:
    """The host's memory cgroups besides the root and the trace's own groups (with their
    ancestors below the run's parent directory): ``host_memcgs`` online ones (the directories
    with a memory controller, the run's parent among them unless a process runs in it,
    ``parent_used``: then it is the model's root) and ``dying_memcgs`` (removed, not yet freed:
    ``/proc/cgroups`` counts them, the file system no longer shows them). zswap's shrink worker
    walks past every one of them (``mem_cgroup_iter`` in ``shrink_worker``)."""
    online = 1
    for dirpath, dirnames, _ in os.walk(hierarchy.root):
        if hierarchy.version == 2 and "memory" not in read_text(
                Path(dirpath) / "cgroup.subtree_control").split():
            dirnames[:] = []  # no memory controller below here
            continue
        online += len(dirnames)
    total = online
    for line in (host.proc / "cgroups").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "memory":
            total = max(total, int(fields[2]))
    own = {"/".join(parts[:i + 1]) for g in groups
           for parts in [[p for p in g.split("/") if p]] for i in range(len(parts))}
    return {"host_memcgs": max(0, online - 1 - len(own) - parent_used),
            "dying_memcgs": total - online}


def this_host_memcgs(host: HostPaths = HOST) -> dict[str, int]:
    """This machine's memory cgroups besides the root, now: ``host_memcgs`` online and
    ``dying_memcgs`` (:func:`count_memcgs` with no trace groups). Reads only."""
    return count_memcgs(memory_hierarchy(host), host)


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
                  host: HostPaths) -> SampleFiles:
    files = SampleFiles()
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
    inputs = build_inputs(compiled, seed)
    dump_fd = memfd("dump") if dump else None
    try:
        if corrupt_expected is not None:
            at = inputs.offsets[0] + corrupt_expected * PAGE_SIZE
            byte = os.pread(inputs.expected_fd, 1, at)
            os.pwrite(inputs.expected_fd, bytes([byte[0] ^ 0xFF]), at)
        program = build_program(compiled, inputs, seed=seed, cpu=-1, files=[],
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
