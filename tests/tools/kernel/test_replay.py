"""The kernel replayer without changing the host: the trace's compilation, the C replayer run
dry (real processes and pages, no cgroup, no zswap, no root) and the one-line refusals.

The real runs, which change the host, are in test_replay_host.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyzswap.cli import main
from pyzswap.errors import CorruptData, InvalidParameter
from pyzswap.run.trace import (
    ProcSpec,
    Trace,
    TraceEvent,
    parse_trace_text,
    splitmix64,
    write_offsets,
)
from pyzswap.tools.kernel._host import HostPaths, KernelUnavailable
from pyzswap.tools.kernel.cgroup import MemoryHierarchy, memory_hierarchy
from pyzswap.tools.kernel.replay import (
    ReplayOptions,
    _check_host,
    count_memcgs,
    dry_run,
    this_host_memcgs,
)
from pyzswap.tools.kernel.replay_program import (
    HEADER_DTYPE,
    OP_DTYPE,
    OP_WRITE,
    PROC_DTYPE,
    STEP_DTYPE,
    STEP_EXIT,
    STEP_RUN,
    STEP_SAMPLE,
    STEP_SPAWN,
    compile_trace,
    expected_contents,
    initial_contents,
    replayer_path,
)
from pyzswap.tools.pagesets import write_page_file

TRACE = """# pyzswap trace v1
proc 1 64 memcg=G
w 1 0-63
r 1 5
w 1 3
proc 2 16 pageset=mixed seed=4
r 2 0-15
w 2 4-9
exit 2
r 1 0-63
w 1 10-20
"""


def trace(text: str = TRACE) -> Trace:
    return parse_trace_text(text, "t.trace")


def test_replayer_abi_matches_the_program_format() -> None:
    out = subprocess.run([str(replayer_path()), "abi"], capture_output=True, text=True,
                         check=True).stdout.split()
    assert [int(x) for x in out] == [1, HEADER_DTYPE.itemsize, PROC_DTYPE.itemsize,
                                     STEP_DTYPE.itemsize, OP_DTYPE.itemsize]


def test_splitmix64_known_value() -> None:
    # SplitMix64's first output for seed 0 (Steele, Lea and Flood; Vigna's splitmix64.c).
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4


@pytest.mark.parametrize("seed", [0, 1, 7, 0xDEADBEEF, (1 << 64) - 1])
def test_write_rule_agrees_between_python_and_c(seed: int) -> None:
    start, count = 1 << 40, 2000
    out = subprocess.run([str(replayer_path()), "splitmix", str(seed), str(start), str(count)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == count
    for i, line in enumerate(out):
        x, src, dst = (int(v) for v in line.split())
        assert x == splitmix64(seed ^ (start + i))
        assert (src, dst) == write_offsets(seed, start + i)


@given(st.integers(0, (1 << 64) - 1), st.integers(0, 1 << 40))
def test_write_offsets_move_whole_slots_within_the_page(seed: int, n: int) -> None:
    src, dst = write_offsets(seed, n)
    assert src != dst
    assert src % 256 == dst % 256 == 0
    assert 0 <= src <= 4096 - 256 and 0 <= dst <= 4096 - 256


# ---- compilation -------------------------------------------------------------------------------


def test_processes_start_at_their_proc_line_and_samples_fall_on_boundaries() -> None:
    c = compile_trace(trace(), samples=4)
    kinds = [(int(s["kind"]), int(s["proc"])) for s in c.steps]
    # process 2 is spawned only after process 1's first accesses (its proc line is later)
    assert kinds.index((STEP_SPAWN, 1)) > kinds.index((STEP_RUN, 0))
    assert (STEP_EXIT, 1) in kinds
    assert c.total_accesses == 64 + 1 + 1 + 16 + 6 + 64 + 11
    samples = [int(s["a"]) for s in c.steps if s["kind"] == STEP_SAMPLE]
    assert samples == [0, 40, 80, 120, 160, 163]  # every 163 // 4 accesses, and the end
    # the ops cover every access once, split at the boundaries
    assert int((c.ops["last"] - c.ops["first"] + 1).sum()) == c.total_accesses
    # the write count runs over all processes, page by page, in trace order
    writes = c.ops[c.ops["kind"] == OP_WRITE]
    assert writes["wseq"].tolist() == [0, 40, 64, 65, 71, 79]
    assert c.nwrites == 64 + 1 + 6 + 11


def test_every_run_step_holds_one_process_s_ops() -> None:
    c = compile_trace(trace(), samples=7)
    for s in c.steps[c.steps["kind"] == STEP_RUN]:
        assert set(c.op_proc[int(s["a"]):int(s["b"])].tolist()) == {int(s["proc"])}
    ran = sorted(i for s in c.steps[c.steps["kind"] == STEP_RUN]
                 for i in range(int(s["a"]), int(s["b"])))
    assert ran == list(range(len(c.ops)))


def test_a_line_the_replayer_cannot_run_is_refused_with_its_line() -> None:
    t = Trace({1: ProcSpec(1, 4, line=1)},
              [TraceEvent("r", 1, 0, 3, 2), TraceEvent("pageout", 1, 0, 3, 3)],  # type: ignore[arg-type]
              "t.trace")
    with pytest.raises(CorruptData, match=r"t.trace:3: .*'pageout'"):
        compile_trace(t)


def test_expected_contents_apply_the_write_rule() -> None:
    t = trace("proc 1 2\nw 1 1\nr 1 0\nw 1 1\n")
    c = compile_trace(t)
    initial = initial_contents(t.procs[1], 3)
    got = expected_contents(c, 0, initial, 3)
    page = bytearray(initial[4096:])
    for n in (0, 1):
        src, dst = write_offsets(3, n)
        page[dst:dst + 256] = page[src:src + 256]
    assert got[:4096] == initial[:4096]
    assert got[4096:] == page != initial[4096:]


def test_page_file_contents(tmp_path: Path) -> None:
    pages = bytes(range(256)) * 16 * 3
    write_page_file(tmp_path / "p.pages", pages)
    t = parse_trace_text("proc 9 2 file=p.pages\nr 9 0-1\n", base_dir=tmp_path)
    assert initial_contents(t.procs[9], 0) == pages[:8192]


# ---- the replayer, dry ---------------------------------------------------------------------------


def touched_pages(t: Trace) -> dict[int, set[int]]:
    touched: dict[int, set[int]] = {pid: set() for pid in t.procs}
    for e in t.events:
        touched[e.pid].update(e.pages)
    return touched


def check_dump(t: Trace, seed: int) -> None:
    result = dry_run(t, seed=seed, dump=True)
    assert result["verified"]
    c = compile_trace(t)
    touched = touched_pages(t)
    assert result["checked_pages"] == sum(len(p) for p in touched.values())
    for i, spec in enumerate(c.procs):
        want = expected_contents(c, i, initial_contents(spec, seed), seed)
        got = result["dump"][spec.pid]
        for page in touched[spec.pid]:
            at = page * 4096
            assert got[at:at + 4096] == want[at:at + 4096], (spec.pid, page)


def test_the_replayer_leaves_the_expected_contents_in_memory() -> None:
    check_dump(trace(), seed=0)


@st.composite
def small_traces(draw: st.DrawFn) -> Trace:
    nprocs = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 12)) for _ in range(nprocs)]
    lines = []
    declared: list[int] = []
    exited: set[int] = set()
    for _ in range(draw(st.integers(1, 25))):
        choice = draw(st.integers(0, 9))
        if choice == 0 and len(declared) < nprocs:
            pid = len(declared) + 1
            pageset = draw(st.sampled_from(["real", "zero", "random", "text"]))
            lines.append(f"proc {pid} {sizes[pid - 1]} pageset={pageset}")
            declared.append(pid)
            continue
        live = [p for p in declared if p not in exited]
        if not live:
            continue
        pid = draw(st.sampled_from(live))
        if choice == 1 and len(live) > 1:
            lines.append(f"exit {pid}")
            exited.add(pid)
            continue
        first = draw(st.integers(0, sizes[pid - 1] - 1))
        last = draw(st.integers(first, sizes[pid - 1] - 1))
        lines.append(f"{draw(st.sampled_from('rw'))} {pid} {first}-{last}")
    return parse_trace_text("\n".join(lines) + "\n", "h.trace")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_traces(), st.integers(0, 1 << 32))
def test_any_small_trace_replays_to_the_python_contents(t: Trace, seed: int) -> None:
    check_dump(t, seed)


def test_a_wrong_page_is_caught() -> None:
    result = dry_run(trace(), corrupt_expected=17)
    assert not result["verified"]
    assert result["mismatched_pages"] == 1
    assert result["first_bad"] == {1: 17}


def test_an_exiting_process_is_checked_at_its_exit() -> None:
    result = dry_run(trace(), samples=10)
    assert result["exits"] == 1
    assert result["checked_pages"] == 64 + 16
    assert result["samples"][0] == 0.0 and result["samples"][-1] == 1.0
    assert len(result["samples"]) == 12  # t=0, every 163 // 10 accesses, the end


# ---- refusals ------------------------------------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_bad_trace_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.trace"
    bad.write_text("proc 1 4\nr 1 9\n")
    assert "bad.trace:2: page 9 is outside process 1" in one_line_error(
        capsys, ["kernel", "run", str(bad)])


def test_not_root_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "t.trace"
    good.write_text(TRACE)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for argv in (["kernel", "run", str(good)], ["kernel", "compare", str(good)]):
        line = one_line_error(capsys, argv)
        assert "kernel side unavailable" in line and "root" in line


def test_bad_options_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "t.trace"
    good.write_text(TRACE)
    pages = tmp_path / "p.pages"
    write_page_file(pages, bytes(8192))
    assert "GROUP=SIZE" in one_line_error(capsys, ["kernel", "run", str(good),
                                                   "--memcg-max", "G"])
    assert "root cgroup" in one_line_error(capsys, ["kernel", "run", str(good),
                                                    "--memcg-max", "/=64M"])
    assert "--target applies to page files" in one_line_error(
        capsys, ["kernel", "compare", str(good), "--target", "zram"])
    assert "--memcg-max applies to traces" in one_line_error(
        capsys, ["kernel", "compare", str(pages), "--memcg-max", "G=1M"])


def fake_host(tmp_path: Path, mounts: str) -> HostPaths:
    proc = tmp_path / "proc"
    (proc / "sys/vm").mkdir(parents=True)
    (proc / "mounts").write_text(mounts)
    (proc / "meminfo").write_text("MemTotal:       24683780 kB\nMemAvailable: 24000000 kB\n")
    (proc / "swaps").write_text("Filename\tType\tSize\tUsed\tPriority\n")
    (proc / "crypto").write_text("name         : lzo\ntype         : scomp\n")
    for name in ("swappiness", "page-cluster"):
        (proc / "sys/vm" / name).write_text("1\n")
    params = tmp_path / "zswap"
    params.mkdir()
    for name, value in (("enabled", "N"), ("compressor", "lzo"), ("max_pool_percent", "20"),
                        ("accept_threshold_percent", "90"), ("shrinker_enabled", "N")):
        (params / name).write_text(value + "\n")
    return HostPaths(zswap_params=params, proc=proc, run_dir=tmp_path / "run",
                     debugfs=tmp_path / "debug")


V1 = "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"


def test_memory_hierarchy_versions(tmp_path: Path) -> None:
    assert memory_hierarchy(fake_host(tmp_path / "a", V1)).version == 1
    v2root = tmp_path / "cg2"
    v2root.mkdir()
    (v2root / "cgroup.controllers").write_text("cpu io memory pids\n")
    h = memory_hierarchy(fake_host(tmp_path / "b", f"cgroup2 {v2root} cgroup2 rw 0 0\n"))
    assert (h.version, h.root, h.limit_file) == (2, v2root, "memory.max")
    with pytest.raises(KernelUnavailable, match="no memory cgroup"):
        memory_hierarchy(fake_host(tmp_path / "c", "sysfs /sys sysfs rw 0 0\n"))


@pytest.mark.parametrize(("opts", "error", "match"), [
    (ReplayOptions(cgroup_version=2), KernelUnavailable, "cgroup v1"),
    (ReplayOptions(zswap_max={"G": 1 << 20}), KernelUnavailable, "do not exist under cgroup v1"),
    (ReplayOptions(ram=8 << 30), InvalidParameter, "not this machine's RAM"),
    (ReplayOptions(compressor="zstd"), KernelUnavailable, "does not offer 'zstd'"),
])
def test_host_checks_refuse_before_any_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              opts: ReplayOptions, error: type[Exception],
                                              match: str) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    host = fake_host(tmp_path, V1)
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(error, match=match):
        _check_host(opts, compile_trace(trace()), host)
    assert {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_the_contract_ram_is_this_machine_s(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    host = fake_host(tmp_path, V1)
    # 24683772K (the contract's) is within a MiB of this host's MemTotal 24683780K
    opts = ReplayOptions(ram=24683772 << 10, swap_dir=tmp_path, cgroup_version=1)
    _, hierarchy, total = _check_host(opts, compile_trace(trace()), host)
    assert (hierarchy.version, total) == (1, 24683780 << 10)


def test_dry_run_needs_no_root(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "t.trace"
    good.write_text(TRACE)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["kernel", "run", str(good), "--dry-run"]) == 0
    assert "80 pages checked, 0 wrong, 1 exits" in capsys.readouterr().out


def test_the_host_s_other_memory_cgroups_are_counted(tmp_path: Path) -> None:
    host = fake_host(tmp_path, V1)
    root = tmp_path / "memory"
    parent = root / "pyzswap-replay-1-ab"
    for d in ("system/a", "system/b", "pyzswap-host-0", "x/y"):
        (root / d if d.startswith("system") else parent / d).mkdir(parents=True)
    # online: root, system, system/a, system/b, the parent, pyzswap-host-0, x, x/y = 8
    (host.proc / "cgroups").write_text("#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
                                       "cpu\t2\t40\t1\nmemory\t4\t20\t1\n")
    v1 = MemoryHierarchy(1, root)
    # the trace's groups x and x/y are the model's own, the root is the model's root
    assert count_memcgs(v1, host, ["/x/y"]) == {"host_memcgs": 5, "dying_memcgs": 12}
    # processes in the parent itself: the parent is then the model's root group
    assert count_memcgs(v1, host, ["/x/y"], parent_used=True)["host_memcgs"] == 4
    # cgroup v2: only groups whose parent enables the memory controller have a memcg
    for d in (root, root / "system", parent, parent / "x"):
        (d / "cgroup.subtree_control").write_text("memory\n")
    for d in (root / "system/a", root / "system/b", parent / "pyzswap-host-0", parent / "x/y"):
        (d / "cgroup.subtree_control").write_text("\n")
    (root / "system/cgroup.subtree_control").write_text("cpu\n")
    v2 = MemoryHierarchy(2, root)
    assert count_memcgs(v2, host, ["/x/y"]) == {"host_memcgs": 3, "dying_memcgs": 14}


def test_this_host_s_memory_cgroups_are_read_for_run_auto(tmp_path: Path) -> None:
    root = tmp_path / "memory"
    for d in ("system/a", "user"):
        (root / d).mkdir(parents=True)
    host = fake_host(tmp_path, f"cgroup {root} cgroup rw,relatime,memory 0 0\n")
    (host.proc / "cgroups").write_text("memory\t4\t9\t1\n")
    # online: root, system, system/a, user; the root is the model's own
    assert this_host_memcgs(host) == {"host_memcgs": 3, "dying_memcgs": 5}


def test_add_memcgs_is_checked() -> None:
    with pytest.raises(InvalidParameter, match="add_memcgs"):
        ReplayOptions(add_memcgs=-1).check()
