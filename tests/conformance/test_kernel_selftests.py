"""The kernel's own zswap selftests, ported onto pyzswap's public API.

Every test of mainline's ``tools/testing/selftests/cgroup/test_zswap.c`` (the version that has
``test_zswap_incompressible``) runs here on a modelled 6.18 machine (:class:`Machine`: RAM, one
swap file, zswap with lzo, a cgroup v2 hierarchy, the mm of ``pyzswap run``) with the kernel
test's own sizes and assertions. The processes write what the C programs write, byte for byte
(glibc's ``malloc`` of a large size is an ``mmap`` whose first 16 bytes are the chunk header),
and every page read back is checked against those bytes by the model.

After them, one test per documented behaviour of ``Documentation/admin-guide/mm/zswap.rst``
and of the memcg files of ``Documentation/admin-guide/cgroup-v2.rst`` zswap and these tests
use (``memory.zswap.*``, ``memory.swap.*``, ``memory.peak``, ``memory.reclaim``,
``memory.stat``).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.errors import InvalidParameter
from pyzswap.memcg import MemCgroup, ReclaimIncomplete
from pyzswap.run.mm import MemoryModel
from pyzswap.swapcore import SwapCore

MB = 1 << 20
#: glibc: a chunk that ``malloc`` maps with ``mmap`` starts with a 16-byte header
#: (``prev_size``, ``size | IS_MMAPPED``); the caller's pointer follows it.
MALLOC_HEADER = 16
IS_MMAPPED = 2


class Machine:
    """A modelled Linux 6.18 machine: ``ram`` bytes of RAM, one swap file of ``swap`` bytes,
    zswap (lzo, the kernel's default compressor, default parameters), a cgroup v2 hierarchy
    (``root``) and the mm (``mm``). ``spawn`` starts a process (the selftests' ``cg_run``)."""

    def __init__(self, directory: Path, *, ram: int = 1024 * MB, swap: int = 256 * MB) -> None:
        self.root = MemCgroup(version=2)
        self.zswap = Zswap(compressor="lzo", totalram_pages=ram // PAGE_SIZE,
                           memcg_root=self.root, shrink_work="clock", cpus=1)
        self.core = SwapCore(self.zswap, directory=directory)
        self.core.swapon(swap // PAGE_SIZE)
        self.mm = MemoryModel(self.core, ram // PAGE_SIZE, memcg_root=self.root)
        self._next_pid = 1

    def spawn(self, memcg: MemCgroup | None, contents: bytes) -> int:
        """A process in ``memcg`` (None: the root) whose address space will hold ``contents``
        (whole pages); a page takes its bytes on its first access."""
        pid = self._next_pid
        self._next_pid += 1
        self.mm.add_process(pid, len(contents) // PAGE_SIZE, lambda: contents, memcg)
        self.mm.start(pid)
        return pid

    def touch(self, pid: int, pages: list[int] | range) -> None:
        """The process accesses ``pages`` in order (the first access of a page writes its
        contents; a later one reads it, faulting it back in if it was swapped out)."""
        pages_arr = np.asarray(pages, dtype=np.int64)
        gs = self.mm.page_index(np.full(len(pages_arr), pid, dtype=np.int64), pages_arr)
        self.mm.run(gs, np.zeros(len(pages_arr), dtype=np.int8))

    def close(self) -> None:
        self.core.close()


MachineFactory = Callable[..., Machine]


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[MachineFactory]:
    """``machine(ram=..., swap=...)``: a new :class:`Machine`, closed after the test."""
    made: list[Machine] = []

    def make(**kwargs: int) -> Machine:
        directory = tmp_path / f"machine{len(made)}"
        directory.mkdir()
        made.append(Machine(directory, **kwargs))
        return made[-1]

    yield make
    for m in made:
        m.close()


def malloc_region(size: int, stride: int = PAGE_SIZE, byte: bytes = b"a") -> tuple[bytes, list[int]]:
    """What ``mem = malloc(size); for (i = 0; i < size; i += stride) mem[i] = byte;`` leaves in
    the mapping, and the pages it touches in order (the header's page first: malloc writes it)."""
    npages = -(-(size + MALLOC_HEADER) // PAGE_SIZE)
    buf = np.zeros(npages * PAGE_SIZE, dtype=np.uint8)
    buf[8:16] = np.frombuffer((npages * PAGE_SIZE | IS_MMAPPED).to_bytes(8, "little"), np.uint8)
    offsets = MALLOC_HEADER + np.arange(0, size, stride)
    buf[offsets] = byte[0]
    touched = [0] + [p for p in dict.fromkeys((offsets // PAGE_SIZE).tolist()) if p]
    return buf.tobytes(), touched


def read_key(memcg: MemCgroup, name: str, key: str) -> int:
    """``cg_read_key_long``: the number after ``key`` in a flat-keyed file."""
    for line in memcg.read(name).splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    raise AssertionError(f"no {key!r} in {name}")


def read_long(memcg: MemCgroup, name: str) -> int:
    """``cg_read_long``."""
    return int(memcg.read(name))


# ============================================================= test_zswap.c, test by test ====
def allocate_bytes(m: Machine, memcg: MemCgroup, size: int) -> None:
    """``cg_run(cgroup, allocate_bytes, size)``: touch every page of a fresh allocation, exit."""
    contents, touched = malloc_region(size)
    pid = m.spawn(memcg, contents)
    m.touch(pid, touched)
    m.mm.exit(pid)


def allocate_and_read_bytes(m: Machine, memcg: MemCgroup, size: int) -> None:
    """``cg_run(cgroup, allocate_and_read_bytes, size)``: write one byte per page, then read
    each back (the model checks every page that faults back in), exit."""
    contents, touched = malloc_region(size)
    pid = m.spawn(memcg, contents)
    m.touch(pid, touched)
    m.touch(pid, touched)
    m.mm.exit(pid)


def test_zswap_usage(machine: MachineFactory) -> None:
    """Pages of a group over its memory.max go to zswap: zswpout grows."""
    m = machine()
    group = m.root.create("no_shrink_test")
    group.write("memory.max", "1M")
    before = read_key(group, "memory.stat", "zswpout")
    assert before >= 0
    allocate_bytes(m, group, 4 * MB)
    assert read_key(group, "memory.stat", "zswpout") > before


def test_swapin_nozswap(machine: MachineFactory) -> None:
    """memory.zswap.max 0: pages are swapped out (memory.swap.peak >= 8M), none to zswap."""
    m = machine()
    group = m.root.create("no_zswap_test")
    group.write("memory.max", "24M")
    group.write("memory.zswap.max", "0")
    allocate_and_read_bytes(m, group, 32 * MB)
    swap_peak = read_long(group, "memory.swap.peak")
    assert swap_peak >= 8 * MB, "at least 8MB of memory should be swapped out"
    assert read_key(group, "memory.stat", "zswpout") == 0


def test_zswapin(machine: MachineFactory) -> None:
    """Reading back 32M through an 8M group brings at least 24M back from zswap."""
    m = machine()
    group = m.root.create("zswapin_test")
    group.write("memory.max", "8M")
    group.write("memory.zswap.max", "max")
    allocate_and_read_bytes(m, group, 32 * MB)
    assert read_key(group, "memory.stat", "zswpin") >= 24 * MB // PAGE_SIZE


def attempt_writeback(m: Machine, cgroup: MemCgroup, wb_enabled: bool) -> None:
    """``attempt_writeback``: fill 1024 pages with half-compressible data, reclaim them into
    zswap, fault them back, halve memory.zswap.max to half the zswap usage seen, reclaim
    again: that succeeds by writing back when writeback is enabled, and fails with -EAGAIN
    when it is not."""
    memsize = PAGE_SIZE * 1024
    pattern = bytes(i % 256 if i < PAGE_SIZE // 2 else 0 for i in range(PAGE_SIZE))
    contents, _ = malloc_region(memsize)
    buf = bytearray(contents)
    buf[MALLOC_HEADER:MALLOC_HEADER + memsize] = pattern * 1024  # the memcpy loop
    pid = m.spawn(cgroup, bytes(buf))
    pages = list(range(len(buf) // PAGE_SIZE))
    m.touch(pid, pages)
    cgroup.write("memory.reclaim", str(memsize))  # must succeed
    zswap_usage = read_long(cgroup, "memory.zswap.current")
    assert zswap_usage > 0
    m.touch(pid, pages)  # memcmp every page: zswpin, checked by the model
    cgroup.write("memory.zswap.max", str(zswap_usage // 2))
    if wb_enabled:
        cgroup.write("memory.reclaim", str(memsize))
    else:
        with pytest.raises(ReclaimIncomplete) as exc:
            cgroup.write("memory.reclaim", str(memsize))
        assert exc.value.errno == errno.EAGAIN
    m.mm.exit(pid)


def zswap_writeback_one(m: Machine, cgroup: MemCgroup, wb: bool) -> None:
    assert read_key(cgroup, "memory.stat", "zswpwb") == 0
    attempt_writeback(m, cgroup, wb)
    assert bool(read_key(cgroup, "memory.stat", "zswpwb")) == wb


@pytest.mark.parametrize("wb", [True, False], ids=["enabled", "disabled"])
def test_zswap_writeback(machine: MachineFactory, wb: bool) -> None:
    """test_zswap_writeback_enabled / _disabled: writeback happens exactly when the group's
    memory.zswap.writeback allows it, also for a child whose own setting is 1 (hierarchical)."""
    m = machine()
    assert m.root.read("memory.zswap.writeback") == "1\n"
    group = m.root.create("zswap_writeback_test")
    group.write("memory.zswap.writeback", "1" if wb else "0")
    zswap_writeback_one(m, group, wb)
    group.write("memory.zswap.max", "max")
    child = group.create("zswap_writeback_test_child")
    child.write("memory.zswap.writeback", "1")
    zswap_writeback_one(m, child, wb)


def test_no_invasive_cgroup_shrink(machine: MachineFactory) -> None:
    """A group at its memory.zswap.max writes back only its own zswap entries."""
    m = machine()
    wb_group = m.root.create("per_memcg_wb_test1")
    wb_group.write("memory.max", "1M")
    wb_group.write("memory.zswap.max", "64K")
    wb_group.write("memory.max", "32M")
    control_group = m.root.create("per_memcg_wb_test2")
    control_group.write("memory.max", "1M")
    control_group.write("memory.max", "32M")
    contents, touched = malloc_region(64 * MB)  # the test process enters control_group
    control = m.spawn(control_group, contents)
    m.touch(control, touched)
    assert read_key(control_group, "memory.stat", "zswapped") >= 1
    allocate_bytes(m, wb_group, 64 * MB)
    assert read_key(wb_group, "memory.stat", "zswpwb") > 0
    assert read_key(control_group, "memory.stat", "zswpwb") == 0


def test_no_kmem_bypass(machine: MachineFactory) -> None:
    """Pages kswapd pushes to zswap are charged to their memcg: with min_free_kbytes raised
    to half the RAM, allocations wake kswapd, and when zswap holds more than a fifth of RAM the
    group's ``zswapped`` accounts for at least three quarters of it. The kernel test needs a
    machine of at most ~4.6 GiB (``totalram > 5000000000`` skips); every size scales with the
    RAM, so the model runs it on a 64 MiB machine."""
    totalram = 64 * MB
    m = machine(ram=totalram, swap=64 * MB)
    min_free_kb_high = totalram // 2000
    min_free_kb_low = totalram // 500000
    target_alloc_bytes = (totalram - min_free_kb_high * 1000) + totalram * 5 // 100
    stored_pages_threshold = totalram // 5 // PAGE_SIZE
    trigger_allocation_size = totalram // 20

    test_group = m.root.create("kmem_bypass_test")
    m.mm.set_min_free_kbytes(min_free_kb_low)
    contents, touched = malloc_region(target_alloc_bytes)
    child = m.spawn(test_group, contents)
    m.touch(child, touched)  # then pause()

    m.mm.set_min_free_kbytes(min_free_kb_high)
    result = None
    for _ in range(20):
        contents, touched = malloc_region(trigger_allocation_size, byte=b"b")
        trigger = m.spawn(None, contents)  # the test process, in the root cgroup
        m.touch(trigger, touched)
        m.mm.idle(0.1)  # usleep(100000)
        m.mm.exit(trigger)
        stored_pages = m.zswap.stats()["stored_pages"]
        if stored_pages > stored_pages_threshold:
            zswapped = read_key(test_group, "memory.stat", "zswapped")
            delta = stored_pages * PAGE_SIZE - zswapped
            result = delta < stored_pages * PAGE_SIZE / 4
            break
    assert result is True
    assert m.mm.stats.kswapd_wakeups > 0 and m.mm.stats.pgsteal_kswapd > 0
    m.mm.exit(child)


def test_zswap_incompressible(machine: MachineFactory) -> None:
    """Random data pushed out with MADV_PAGEOUT is kept in zswap uncompressed and counted by
    memory.stat's ``zswap_incomp`` (mainline's MEMCG_ZSWAP_INCOMP, after 6.18)."""
    m = machine()
    group = m.root.create("zswap_incompressible_test")
    group.write("memory.max", "32M")
    size = 4 * MB  # mmap: page aligned, no malloc header
    child = m.spawn(group, np.random.default_rng(17).bytes(size))
    m.touch(child, range(size // PAGE_SIZE))
    m.mm.pageout(child, 0, size // PAGE_SIZE - 1)
    zswap_incomp = read_key(group, "memory.stat", "zswap_incomp")
    assert zswap_incomp > 0
    m.mm.exit(child)
    assert read_key(group, "memory.stat", "zswap_incomp") == 0  # a gauge: freed with the pages
