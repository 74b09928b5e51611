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
from pyzswap.swap import swp_offset, swp_type
from pyzswap.swapcore import SwapCore
from pyzswap.tools.pagesets import make_pages

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


def malloc_region(size: int, stride: int = PAGE_SIZE,
                  byte: bytes = b"a") -> tuple[bytes, list[int]]:
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


# ============================================== Documentation/admin-guide/mm/zswap.rst =======
def text_process(m: Machine, memcg: MemCgroup | None, npages: int, seed: int = 1) -> int:
    """A process of ``npages`` compressible pages, all touched."""
    pid = m.spawn(memcg, make_pages("text", npages, seed=seed))
    m.touch(pid, range(npages))
    return pid


def test_doc_disabling_zswap_at_runtime_keeps_what_it_holds(machine: MachineFactory,
                                                            tmp_path: Path) -> None:
    """"When zswap is disabled at runtime it will stop storing pages ... The pages stored in
    zswap will remain in the compressed pool until they are either invalidated or faulted back
    into memory ... a swapoff ... will fault back into memory all swapped out pages, including
    those in the compressed pool.\""""
    m = machine()
    g = m.root.create("g")
    pid = text_process(m, g, 64)
    m.mm.pageout(pid, 0, 31)
    assert m.zswap.stats()["stored_pages"] == 32
    m.zswap.set_param("enabled", False)
    m.mm.pageout(pid, 32, 63)
    assert m.zswap.stats()["stored_pages"] == 32  # stopped storing, kept what it had
    assert m.core.stats()["swpout_disk"] == 32
    m.touch(pid, range(16))  # faulted back in (with readahead): they leave the pool
    stored = m.zswap.stats()["stored_pages"]
    assert stored <= 16 and read_key(g, "memory.stat", "zswpin") == 32 - stored
    # swapoff brings back everything, the compressed pool included
    z = Zswap(compressor="lzo", totalram_pages=1 << 18)
    core = SwapCore(z, directory=tmp_path)
    swp_type = core.swapon(64)
    data = make_pages("text", 8, seed=2)
    pages = [data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(8)]
    slots = {core.swap_out(page): page for page in pages}
    assert z.stats()["stored_pages"] == 8
    z.set_param("enabled", False)
    back: dict[int, bytes] = {}
    assert core.swapoff(swp_type, lambda swp, page: back.__setitem__(swp, page)) == 8
    assert back == slots and z.stats()["stored_pages"] == 0
    core.close()


def test_doc_compressor_change_leaves_old_pages_in_their_pool(machine: MachineFactory) -> None:
    """"When the compressor parameter is changed at runtime, any existing compressed pages are
    not modified; they are left in their own pool ... uncompressed using its original
    compressor. Once all pages are removed from an old pool, the pool and its compressor are
    freed.\""""
    m = machine()
    g = m.root.create("g")
    pid = text_process(m, g, 32)
    m.mm.pageout(pid, 0, 15)  # lzo
    m.zswap.set_param("compressor", "zstd")
    m.mm.pageout(pid, 16, 31)  # zstd
    assert [p.tfm_name for p in m.zswap.pools()] == ["zstd", "lzo"]
    m.touch(pid, range(16))  # every lzo page faults back, decompressed with lzo (checked)
    assert [p.tfm_name for p in m.zswap.pools()] == ["zstd"]
    m.touch(pid, range(16, 32))


def test_doc_full_pool_evicts_on_an_lru_basis(machine: MachineFactory) -> None:
    """"Zswap evicts pages from compressed cache on an LRU basis to the backing swap device
    when the compressed pool reaches its size limit" (max_pool_percent): the oldest stores
    are the ones written back."""
    m = machine(ram=16 * MB)
    m.zswap.set_param("max_pool_percent", 2)  # 81 pages of pool
    g = m.root.create("g")
    pid = m.spawn(g, make_pages("mixed", 2048, seed=3))
    m.touch(pid, range(2048))
    for first in range(0, 2048, 64):
        m.mm.pageout(pid, first, first + 63)
    m.mm.idle(1.0)  # the shrink worker runs
    st = m.zswap.stats()
    assert st["pool_limit_hit"] > 0 and st["written_back_pages"] > 0
    in_zswap = [p for p in range(2048) if m.zswap.lookup(*swp_of(m, pid, p)) is not None]
    assert in_zswap and min(in_zswap) > 0  # the oldest left first
    assert read_key(g, "memory.stat", "zswpwb") == st["written_back_pages"]


def swp_of(m: Machine, pid: int, page: int) -> tuple[int, int]:
    """(swap type, offset) of a swapped-out page."""
    slot = int(m.mm.page_state(pid, page)["slot"])
    return swp_type(slot), swp_offset(slot)


def test_doc_accept_threshold_hysteresis() -> None:
    """"refuse taking pages into zswap pool until it has sufficient space if the limit has
    been hit ... Setting this parameter to 100 will disable the hysteresis.\""""
    for threshold, refused_at_19 in ((90, True), (100, False)):
        z = Zswap(compressor="lz4", totalram_pages=100, max_pool_percent=20,
                  accept_threshold_percent=threshold)
        z.swapon(0, 1000)
        data = make_pages("random", 30, seed=4)
        random = [data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(30)]
        off = 0
        while z.store(random[off], 0, off):  # incompressible: one zsmalloc page each
            off += 1
        assert off == 20 and z.stats()["pool_limit_hit"] == 1
        z.invalidate(0, 0)  # 19 of 20 pages
        assert z.store(random[25], 0, 25) is not refused_at_19


def test_doc_writeback_disabled_group_never_swaps_to_the_device(machine: MachineFactory) -> None:
    """"Swapping can be disabled entirely (without disabling zswap itself) on a cgroup-basis
    ... memory.zswap.writeback ... if the pages are incompressible, users can observe reclaim
    inefficiency after disabling writeback (because the same pages might be rejected again
    and again).\""""
    m = machine()
    g = m.root.create("g")
    g.write("memory.zswap.writeback", "0")
    g.write("memory.max", "512K")
    pid = m.spawn(g, make_pages("text", 64, seed=5) + make_pages("random", 64, seed=5))
    m.touch(pid, range(128))
    m.touch(pid, range(128))
    assert m.core.stats()["swpout_disk"] == 0  # nothing reached the swap device
    assert read_key(g, "memory.stat", "zswpout") > 0  # zswap itself still works
    assert m.zswap.stats()["stored_incompressible_pages"] == 0  # rejected, not stored as-is
    m.mm.flush_stats()  # the kernel's reading of memory.stat flushes what reclaim reads
    with pytest.raises(ReclaimIncomplete):  # only the rejected pages are left to reclaim
        g.write("memory.reclaim", "256K")
    assert m.mm.stats.pageout_activate > 64  # the same pages rejected again and again


def test_doc_shrinker_is_off_by_default_and_obeys_writeback(machine: MachineFactory) -> None:
    """"By default, the zswap shrinker is disabled ... Once enabled, the shrinker
    automatically writes back zswap pages to backing swap during memory reclaim ... subject
    to the memory.zswap.writeback control.\""""
    wb = {}
    for shrinker, writeback in ((False, "1"), (True, "1"), (True, "0")):
        m = machine()
        assert m.zswap.get_param("shrinker_enabled") is False
        m.zswap.set_param("shrinker_enabled", shrinker)
        g = m.root.create("g")
        g.write("memory.max", "1536K")
        g.write("memory.zswap.writeback", writeback)
        pid = text_process(m, g, 512)
        m.touch(pid, range(512))
        wb[shrinker, writeback] = read_key(g, "memory.stat", "zswpwb")
    assert wb == {(False, "1"): 0, (True, "1"): wb[True, "1"], (True, "0"): 0}
    assert wb[True, "1"] > 0


def test_doc_freed_swap_entries_free_their_zswap_entries(machine: MachineFactory) -> None:
    """"Once there are no PTEs referencing a swap page stored in zswap (i.e. the count in the
    swap_map goes to 0) the swap code calls the zswap invalidate function".\""""
    m = machine()
    g = m.root.create("g")
    pid = text_process(m, g, 64)
    m.mm.pageout(pid, 0, 63)
    assert m.zswap.stats()["stored_pages"] == 64 and read_long(g, "memory.zswap.current") > 0
    m.mm.exit(pid)
    assert m.zswap.stats()["stored_pages"] == 0
    assert read_long(g, "memory.zswap.current") == 0 and read_long(g, "memory.swap.current") == 0


def test_doc_zero_filled_pages_do_not_reach_zswap(machine: MachineFactory) -> None:
    """Same-value filled pages (zswap.rst): since 6.12 zero-filled pages never reach zswap,
    the swap core keeps them in its zero map (``swap_writeout``/``is_folio_zero_filled``)."""
    m = machine()
    g = m.root.create("g")
    pid = m.spawn(g, bytes(64 * PAGE_SIZE))
    m.touch(pid, range(64))
    m.mm.pageout(pid, 0, 63)
    assert m.core.stats()["swpout_zero"] == 64 and read_key(g, "memory.stat", "zswpout") == 0
    m.touch(pid, range(64))


# ============================ cgroup-v2.rst: the memcg files zswap and the selftests use =====
def test_doc_memory_zswap_current_and_max(machine: MachineFactory) -> None:
    """memory.zswap.current: "The total amount of memory consumed by the zswap compression
    backend" (read-only, not on the root, hierarchical). memory.zswap.max: "Zswap usage hard
    limit. If a cgroup's zswap pool reaches this limit, it will refuse to take any more
    stores" (6.18 first writes back one of the group's own entries, ``shrink_memcg``)."""
    m = machine()
    parent = m.root.create("p")
    g = parent.create("g")
    with pytest.raises(InvalidParameter):
        g.write("memory.zswap.current", "0")
    with pytest.raises(InvalidParameter):
        m.root.read("memory.zswap.current")
    g.write("memory.zswap.max", "8K")
    pid = text_process(m, g, 256)
    m.mm.pageout(pid, 0, 255)
    current = read_long(g, "memory.zswap.current")
    assert 0 < current <= 8192 + PAGE_SIZE  # checked before each store
    assert read_long(parent, "memory.zswap.current") == current
    assert read_key(g, "memory.stat", "zswpwb") > 0
    g.write("memory.zswap.max", "0")
    before = read_key(g, "memory.stat", "zswpout")
    m.touch(pid, range(256))
    m.mm.pageout(pid, 0, 255)
    assert read_key(g, "memory.stat", "zswpout") == before  # 0: zswap refused for the group


def test_doc_memory_zswap_writeback(machine: MachineFactory) -> None:
    """memory.zswap.writeback: default 1; "hierarchical, i.e. the writeback would be
    implicitly disabled for child cgroups if the upper hierarchy does so"; "subtly different
    from setting memory.swap.max to 0, as it still allows for pages to be written to the
    zswap pool"; "no effect if zswap is disabled"."""
    m = machine()
    parent = m.root.create("p")
    child = parent.create("c")
    assert child.read("memory.zswap.writeback") == "1\n"
    parent.write("memory.zswap.writeback", "0")
    child.write("memory.zswap.max", "0")  # zswap refuses the child's pages ...
    pid = text_process(m, child, 64)
    m.mm.pageout(pid, 0, 63)
    assert m.core.stats()["swpout_disk"] == 0  # ... and they may not reach the device
    assert m.mm.page_state(pid, 0)["present"]
    m.zswap.set_param("enabled", False)  # zswap off: the setting has no effect
    m.touch(pid, range(64))  # mapped again (MADV_PAGEOUT only sees present PTEs)
    m.mm.pageout(pid, 0, 63)
    assert m.core.stats()["swpout_disk"] == 64
    m.zswap.set_param("enabled", True)
    # memory.swap.max 0 allows no swapping at all, zswap included
    other = m.root.create("o")
    other.write("memory.swap.max", "0")
    pid2 = text_process(m, other, 64)
    m.mm.pageout(pid2, 0, 63)
    assert read_key(other, "memory.stat", "zswpout") == 0
    assert read_long(other, "memory.swap.current") == 0


def test_doc_memory_swap_max_current_and_peak(machine: MachineFactory) -> None:
    """memory.swap.max: "Swap usage hard limit. If a cgroup's swap usage reaches this limit,
    anonymous memory of the cgroup will not be swapped out"; memory.swap.current and
    memory.swap.peak follow the slots the group holds."""
    m = machine()
    g = m.root.create("g")
    g.write("memory.swap.max", "256K")  # 64 slots
    pid = text_process(m, g, 256)
    m.mm.pageout(pid, 0, 255)
    assert read_long(g, "memory.swap.current") == 256 * 1024
    assert read_long(g, "memory.swap.peak") == 256 * 1024
    assert sum(not m.mm.page_state(pid, p)["present"] for p in range(256)) == 64
    # a read fault keeps the slot (swap cache) unless the group uses half its swap.max
    # (mem_cgroup_swap_full): here it does, so the slots are freed
    back = [p for p in range(256) if not m.mm.page_state(pid, p)["present"]][:16]
    m.touch(pid, back)
    assert read_long(g, "memory.swap.current") <= (64 - 16) * PAGE_SIZE
    m.mm.exit(pid)
    assert read_long(g, "memory.swap.current") == 0
    assert read_long(g, "memory.swap.peak") == 256 * 1024
    g.write("memory.swap.peak", "reset")
    assert read_long(g, "memory.swap.peak") == 0


def test_doc_memory_peak(machine: MachineFactory) -> None:
    """memory.peak: "the max memory usage recorded for the cgroup and its descendants";
    a write resets it to the current usage (for the writer)."""
    m = machine()
    g = m.root.create("g")
    pid = text_process(m, g, 512)
    peak = read_long(g, "memory.peak")
    assert peak >= 512 * PAGE_SIZE and peak >= read_long(g, "memory.current")
    m.mm.pageout(pid, 0, 511)  # zswap is charged before the freed folios are uncharged
    assert read_long(g, "memory.peak") >= peak
    peak = read_long(g, "memory.peak")
    g.write("memory.peak", "0")
    current = read_long(g, "memory.current")  # zswap's bytes: a page counter counts pages
    assert read_long(g, "memory.peak") == -(-current // PAGE_SIZE) * PAGE_SIZE < peak
    m.touch(pid, range(512))
    assert read_long(g, "memory.peak") >= 512 * PAGE_SIZE


def test_doc_memory_reclaim(machine: MachineFactory) -> None:
    """memory.reclaim: "a simple interface to trigger memory reclaim in the target cgroup";
    "If less bytes are reclaimed than the specified amount, -EAGAIN is returned";
    ``swappiness=`` sets the swappiness to reclaim with (0: no anonymous memory)."""
    m = machine()
    g = m.root.create("g")
    pid = text_process(m, g, 1024)
    with pytest.raises(InvalidParameter):
        g.read("memory.reclaim")  # write-only
    for bad in ("", "x", "1M swappiness=201", "1M colour=red"):
        with pytest.raises(InvalidParameter):
            g.write("memory.reclaim", bad)
    with pytest.raises(ReclaimIncomplete):
        g.write("memory.reclaim", "1M swappiness=0")
    assert read_key(g, "memory.stat", "zswpout") == 0
    before = read_long(g, "memory.current")
    g.write("memory.reclaim", "1M")
    assert read_long(g, "memory.current") <= before - MB + read_long(g, "memory.zswap.current")
    with pytest.raises(ReclaimIncomplete) as exc:
        g.write("memory.reclaim", "1G")  # more than the group holds
    assert exc.value.errno == errno.EAGAIN
    m.root.write("memory.reclaim", "0")  # on the root too
    m.mm.exit(pid)
