"""Model-based stateful test: zswap behind the swap core against a plain dictionary.

Hypothesis drives a real ``SwapCore`` (real temporary swap files, memcgs, a small global limit,
the shrink worker inline) through every operation zswap has: swap-out of folios of 1..512
pages, swap-in (exclusive or keeping the entry), free, overwrite in place, writeback, the
shrinkers and compaction, compressor switches, CPU hotplug and migration, parameter changes
(valid and invalid), swapoff/swapon, each injected fault, closing zswap (every page brought
back first, then every call on the closed instance must refuse cleanly) and starting a new
one, a second operation on a slot while one is in flight (it must be refused with
``SlotBusy``, writeback with -EEXIST, and change nothing), and the native types used without
``__init__`` or initialised twice. After every step the swap core is compared with the model
(slot -> the page's last contents) and the accounting invariants are checked
(:func:`pyzswap.tools.soak.check_invariants`); at the end of every example each device is swapped
off and every page must come back exactly.

``STATEFUL_EXAMPLES`` sets the number of examples (2,000 in ``make test``; ``make
stateful-long`` runs 5,000).
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pyzswap import PAGE_SIZE, SlotBusy, Zswap, ZswapError, _native
from pyzswap.compress import has_compressor
from pyzswap.cpu import CpuModel, HotplugError
from pyzswap.errors import AllocFail, DecompressFail, InvalidParameter, UnknownCompressor
from pyzswap.memcg import MemCgroup
from pyzswap.swap import SWP_TYPE_SHIFT, SwapIOError, swp_offset, swp_type
from pyzswap.swapcore import SwapCore
from pyzswap.tools.faults import (
    FaultyCompressor,
    PoolCreationFaults,
    corrupt_entry,
    faulty_compressor,
    install_zs_pool,
)
from pyzswap.tools.soak import check_invariants, rewrite_slot
from pyzswap.zswap import SHRINK_STOP

from .conftest import random_page, text_page

FAULTY = "stateful-faulty"
COMPRESSORS = ["lz4", "lzo", "zstd", "lz4hc", "deflate", FAULTY]
DEVICE_PAGES = 1536  # three clusters: room for two aligned 512-page folios


def _faulty() -> FaultyCompressor:
    if not has_compressor(FAULTY):
        return faulty_compressor(FAULTY, "lz4")
    from pyzswap.compress import get_compressor

    comp = get_compressor(FAULTY)
    assert isinstance(comp, FaultyCompressor)
    return comp


def _palette() -> list[bytes]:
    half = text_page(3)[: PAGE_SIZE // 2] + random_page(3)[: PAGE_SIZE // 2]
    return [bytes(PAGE_SIZE), text_page(1), text_page(2), random_page(1), half,
            (b"pyzswap!" * (PAGE_SIZE // 8)), bytes(PAGE_SIZE // 2) + text_page(4)[2048:]]


PALETTE = _palette()

#: folio sizes: mostly one page, sometimes a few, now and then a PMD folio
folio_pages = st.integers(0, 99).map(
    lambda x: 1 if x < 70 else (512 if x >= 97 else (2, 4, 8, 16)[x % 4]))
memcg_names = st.sampled_from([None, "a", "nowb"])
picks = st.integers(0, 1 << 16)

VALID_PARAMS = st.one_of(
    st.tuples(st.just("max_pool_percent"), st.sampled_from([0, 5, 20, 50, 100, "10"])),
    st.tuples(st.just("accept_threshold_percent"), st.sampled_from([0, 50, 90, 100])),
    st.tuples(st.just("shrinker_enabled"), st.sampled_from([True, False, "Y", "n"])),
    st.tuples(st.just("enabled"), st.sampled_from([True, False, "1", "0"])),
)
INVALID_PARAMS = st.one_of(
    st.tuples(st.just("max_pool_percent"), st.sampled_from([101, -1, "x", 2.5, None, True])),
    st.tuples(st.just("enabled"), st.sampled_from(["maybe", 2, None, 1.0])),
    st.tuples(st.just("compressor"), st.sampled_from(["", "lz5", 42, None])),
    st.tuples(st.sampled_from(["nope", "", "Enabled"]), st.just(1)),
)


class ZswapMachine(RuleBasedStateMachine):
    #: The flow the machine's Zswap runs (a subclass per flow below).
    FLOW = "native"

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="pyzswap-stateful-")
        self.faulty = _faulty()
        self.faulty.clear()
        self.pool_faults = PoolCreationFaults()
        root = MemCgroup()
        nowb = root.create("nowb")
        nowb.write("memory.zswap.writeback", "0")
        self.memcgs: dict[str | None, MemCgroup | None] = {
            None: None, "a": root.create("a"), "nowb": nowb}
        self.nozswap = root.create("nozswap")
        self.nozswap.write("memory.zswap.max", "0")
        self.root = root
        self.cpus = CpuModel(3)
        self.start_zswap()
        self.core.swapon(DEVICE_PAGES)
        #: slot -> (the page's last contents, its memcg)
        self.model: dict[int, tuple[bytes, MemCgroup | None]] = {}
        self.version = 0

    def start_zswap(self) -> None:
        self.z = Zswap(compressor="lz4", totalram_pages=600, max_pool_percent=20,
                       cpus=self.cpus, memcg_root=self.root, shrink_work="inline",
                       mem_hook=self.pool_faults, flow=self.FLOW)
        self.core = SwapCore(self.z, directory=self.dir)

    # ------------------------------------------------------------------ helpers -------------
    def page(self, kind: int) -> bytes:
        base = PALETTE[kind % len(PALETTE)]
        if kind % len(PALETTE) == 0:
            return base  # a zero page stays zero: the swap core's zero bitmap
        self.version += 1
        return self.version.to_bytes(8, "little") + base[8:]

    def pick(self, n: int) -> int:
        keys = sorted(self.model)
        return keys[n % len(keys)]

    def read(self, swp: int, keep: bool = True) -> tuple[bytes, str]:
        out = bytearray(PAGE_SIZE)
        page, memcg = self.model[swp]
        source = self.core.swap_in(swp, out, memcg, keep_zswap=keep)
        assert bytes(out) == page, f"slot {swp_type(swp)}:{swp_offset(swp)} from {source}"
        return bytes(out), source

    def devices(self) -> list[int]:
        return self.core.table.types()

    def swapoff_all(self) -> None:
        """Every device off: every page must come back exactly."""
        for t in list(self.devices()):
            back: dict[int, bytes] = {}
            self.core.swapoff(t, back.__setitem__)
            for swp, page in back.items():
                assert page == self.model.pop(swp)[0]
        assert not self.model

    # ------------------------------------------------------------------ the swap core -------
    @rule(nr=folio_pages, kind=st.integers(0, 50), memcg=memcg_names)
    def swap_out(self, nr: int, kind: int, memcg: str | None) -> None:
        pages = [self.page(kind + i * (kind % 3)) for i in range(nr)]
        swp = self.core.swap_out(b"".join(pages), self.memcgs[memcg])
        if swp is None:
            event(f"swap_out: no room for {nr} pages")
            return  # no aligned run of slots left: the kernel would split the folio
        if nr == 512:
            event("swap_out: a 512-page folio")
        for i, page in enumerate(pages):
            assert swp + i not in self.model
            self.model[swp + i] = (page, self.memcgs[memcg])

    @rule(n=picks, keep=st.booleans())
    def swap_in(self, n: int, keep: bool) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        self.read(swp, keep)
        if not keep:
            self.core.swap_free(swp)
            del self.model[swp]

    @rule(n=picks)
    def swap_free(self, n: int) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        self.core.swap_free(swp)
        del self.model[swp]

    @rule(n=picks, kind=st.integers(0, 50))
    def overwrite(self, n: int, kind: int) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        page, memcg = self.page(kind), self.model[swp][1]
        rewrite_slot(self.core, swp, page, memcg)
        self.model[swp] = (page, memcg)

    # ------------------------------------------------------------------ writeback -----------
    @rule(n=picks)
    def writeback(self, n: int) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        entry = self.z.lookup(swp_type(swp), swp_offset(swp))
        if entry is not None:
            event("writeback: written")
            assert self.z.writeback_entry(entry) == 0
            assert self.z.lookup(swp_type(swp), swp_offset(swp)) is None

    @rule(which=st.sampled_from(["memcg", "scan", "worker", "compact", "count"]),
          memcg=memcg_names, nr=st.sampled_from([1, 8, 64]))
    def shrink(self, which: str, memcg: str | None, nr: int) -> None:
        z, group = self.z, self.memcgs[memcg]
        if which == "memcg":
            assert z.shrink_memcg(group) in (0, -errno.EAGAIN, -errno.ENOENT)
        elif which == "scan":
            ret = z.shrinker_scan(group, nr)
            assert ret == SHRINK_STOP or ret > 0
        elif which == "worker":
            z.shrink_worker()
        elif which == "compact":
            z.compact()
        else:
            assert z.shrinker_count(group) >= 0

    # ------------------------------------------------------------------ configuration -------
    @rule(name=st.sampled_from(COMPRESSORS))
    def switch_compressor(self, name: str) -> None:
        self.z.set_param("compressor", name)
        assert self.z.compressor == name and self.z.current_pool().tfm_name == name

    @rule(cpu=st.integers(0, 2), up=st.booleans())
    def hotplug(self, cpu: int, up: bool) -> None:
        if up:
            self.cpus.cpu_up(cpu)
        elif len(self.cpus.online_cpus()) == 1 and self.cpus.is_online(cpu):
            with pytest.raises(HotplugError):
                self.cpus.cpu_down(cpu)
        else:
            self.cpus.cpu_down(cpu)

    @rule(cpu=st.integers(0, 2))
    def migrate(self, cpu: int) -> None:
        if self.cpus.is_online(cpu):
            self.cpus.migrate_current(cpu)
        else:
            with pytest.raises(HotplugError):
                self.cpus.migrate_current(cpu)

    @rule(param=VALID_PARAMS)
    def set_param(self, param: tuple[str, object]) -> None:
        self.z.set_param(*param)

    @rule(param=INVALID_PARAMS)
    def set_bad_param(self, param: tuple[str, object]) -> None:
        before = self.z.params()
        with pytest.raises((InvalidParameter, UnknownCompressor)):
            self.z.set_param(*param)
        assert self.z.params() == before

    @rule(limit=st.sampled_from(["max", "0", "8K", "64K"]), wb=st.sampled_from(["0", "1"]))
    def memcg_knobs(self, limit: str, wb: str) -> None:
        group = self.memcgs["a"]
        assert group is not None
        group.write("memory.zswap.max", limit)
        group.write("memory.zswap.writeback", wb)

    @rule(n=picks)
    def swapoff(self, n: int) -> None:
        types = self.devices()
        if not types:
            return
        t = types[n % len(types)]
        back: dict[int, bytes] = {}
        count = self.core.swapoff(t, back.__setitem__)
        mine = {swp for swp in self.model if swp_type(swp) == t}
        event(f"swapoff: {'pages brought back' if mine else 'empty device'}")
        assert set(back) == mine and count == len(mine)
        for swp in mine:
            assert back[swp] == self.model.pop(swp)[0]
        assert t not in self.devices()
        if len(self.devices()) < 2:
            self.core.swapon(DEVICE_PAGES)

    @rule()
    def swapon(self) -> None:
        if len(self.devices()) < 2:
            self.core.swapon(DEVICE_PAGES // 3)

    # ------------------------------------------------------------------ faults --------------
    @rule(poor=st.booleans(), nowb=st.booleans())
    def fault_compress(self, poor: bool, nowb: bool) -> None:
        z, group = self.z, self.memcgs["nowb" if nowb else None]
        for name, value in (("compressor", FAULTY), ("enabled", True),
                            ("max_pool_percent", 100), ("accept_threshold_percent", 100)):
            z.set_param(name, value)  # make sure the store reaches the compressor
        before = z.stats()
        schedule = self.faulty.compress_poor if poor else self.faulty.compress_fail
        injected = schedule.injected
        schedule.fail_next(1)
        page = self.page(1)
        swp = self.core.swap_out(page, group)
        schedule.clear()
        if swp is None:
            return
        self.model[swp] = (page, group)
        after = z.stats()
        if schedule.injected == injected:  # refused before compressing: the pool is over its
            assert after["pool_limit_hit"] > before["pool_limit_hit"]  # limit (a PMD folio
            assert self.read(swp)[1] == "disk"  # overshoots it), so the page is on the file
            return
        assert schedule.injected == injected + 1
        counter = "reject_compress_poor" if poor else "reject_compress_fail"
        entry = z.lookup(swp_type(swp), swp_offset(swp))
        event(f"fault_compress: {'rejected' if nowb else 'as-is'}")
        if nowb:  # writeback disabled: rejected, the page went to the swap file
            assert after[counter] == before[counter] + 1 and entry is None
            assert self.read(swp)[1] == "disk"
        else:  # 6.18: stored as-is, not a rejection...
            assert after[counter] == before[counter]
            if after["reject_alloc_fail"] == before["reject_alloc_fail"]:
                assert entry is not None and entry.length == PAGE_SIZE
                assert after["stored_incompressible_pages"] == before[
                    "stored_incompressible_pages"] + 1
                assert self.read(swp)[1] == "zswap"
            else:  # ...unless a faulty zsmalloc (fault_zsmalloc) refused the object
                assert entry is None and self.read(swp)[1] == "disk"

    @rule(n=picks)
    def fault_corrupt(self, n: int) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        t, off = swp_type(swp), swp_offset(swp)
        entry = self.z.lookup(t, off)
        if entry is None or entry.length >= PAGE_SIZE or self.core.table.device(t).zeromap[off]:
            return
        event("fault_corrupt: corrupted")
        before = self.z.stats()["decompress_fail"]
        restore = corrupt_entry(self.z, t, off)
        with pytest.raises(DecompressFail):
            self.read(swp)
        assert self.z.stats()["decompress_fail"] == before + 1
        assert self.z.lookup(t, off) == entry
        assert self.z.writeback_entry(entry) == -errno.EIO  # writeback keeps it too
        assert restore()
        self.read(swp)

    @rule(n=picks)
    def fault_decompress(self, n: int) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        t, off = swp_type(swp), swp_offset(swp)
        entry = self.z.lookup(t, off)
        if (entry is None or entry.length >= PAGE_SIZE
                or self.z.entry_pool(entry).tfm_name != FAULTY
                or self.core.table.device(t).zeromap[off]):
            return
        event("fault_decompress: injected")
        self.faulty.decompress_fail.fail_next(1)
        before = self.z.stats()["decompress_fail"]
        with pytest.raises(DecompressFail):
            self.read(swp)
        self.faulty.decompress_fail.clear()
        assert self.z.stats()["decompress_fail"] == before + 1
        assert self.z.lookup(t, off) == entry
        self.read(swp)

    @rule(err=st.sampled_from([errno.EIO, errno.ENOSPC]), kind=st.integers(1, 50))
    def fault_swap_write(self, err: int, kind: int) -> None:
        devices = [self.core.table.device(t) for t in self.devices()]
        inuse = [d.inuse_pages for d in devices]
        errors = sum(d.write_errors for d in devices)
        for d in devices:
            d.faults.fail_next_writes(1, err)
        page = self.page(kind)
        try:
            swp = self.core.swap_out(page, self.nozswap)  # zswap.max=0: to the swap file
        except SwapIOError as exc:
            event("fault_swap_write: injected")
            assert exc.errno == err
            assert sum(d.write_errors for d in devices) == errors + 1
            assert [d.inuse_pages for d in devices] == inuse  # slots given back
            swp = None
        finally:
            for d in devices:
                d.faults.clear()
        if swp is not None:  # no slot was free: nothing was written
            self.model[swp] = (page, self.nozswap)
            self.read(swp)

    @rule(n=picks)
    def fault_writeback_write(self, n: int) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        t, off = swp_type(swp), swp_offset(swp)
        entry = self.z.lookup(t, off)
        if entry is None:
            return
        event("fault_writeback_write: injected")
        device = self.core.table.device(t)
        errors = device.write_errors
        device.faults.fail_writes_at([off], errno.EIO, times=1)
        assert self.z.writeback_entry(entry) == -errno.EIO
        device.faults.clear()
        assert device.write_errors == errors + 1 and self.z.lookup(t, off) == entry
        self.read(swp)

    @rule(n=picks)
    def fault_swap_read(self, n: int) -> None:
        if not self.model:
            return
        swp = self.pick(n)
        t, off = swp_type(swp), swp_offset(swp)
        device = self.core.table.device(t)
        if self.z.lookup(t, off) is not None or device.zeromap[off]:
            return  # the read would not touch the file
        event("fault_swap_read: injected")
        errors = device.read_errors
        device.faults.fail_reads_at([off], errno.EIO, times=1)
        with pytest.raises(SwapIOError):
            self.read(swp)
        device.faults.clear()
        assert device.read_errors == errors + 1
        self.read(swp)

    @rule(max_pages=st.sampled_from([None, 1, 4]), every=st.integers(1, 4))
    def fault_zsmalloc(self, max_pages: int | None, every: int) -> None:
        if self.z.current_pool().zs_pool.objects_in_use:
            return  # only an empty pool's zsmalloc can be replaced
        zs = install_zs_pool(self.z, max_pages=max_pages)
        zs.alloc_fail.fail_every(every)
        before = self.z.stats()["reject_alloc_fail"]
        for i in range(4):
            self.swap_out(1, 1 + i, None)
        assert self.z.stats()["reject_alloc_fail"] - before == (
            zs.alloc_fail.injected + zs.full_failures)
        if zs.alloc_fail.injected + zs.full_failures:
            event("fault_zsmalloc: allocation refused")
        zs.alloc_fail.clear()

    @rule(name=st.sampled_from(["lz4", "lzo", "zstd", "lz4hc"]))
    def fault_pool_create(self, name: str) -> None:
        live = {p.tfm_name for p in self.z.pools()}
        current = self.z.compressor
        self.pool_faults.schedule.fail_next(1)
        try:
            self.z.set_param("compressor", name)
            assert name in live  # an existing pool is reused: nothing allocated
            assert self.z.compressor == name
        except AllocFail:
            event("fault_pool_create: injected")
            assert name not in live
            assert self.z.compressor == current
            assert {p.tfm_name for p in self.z.pools()} == live
        finally:
            self.pool_faults.schedule.clear()

    # ------------------------------------------------------------------ lifetimes -----------
    @rule()
    def close_and_restart(self) -> None:
        """Bring every page back, close zswap, check every call on the closed instance fails
        with a ZswapError (nothing crashes, nothing hangs), and start a new zswap."""
        self.swapoff_all()
        z, pools = self.z, self.z.pools()
        z.swapon(0, 16)
        self.core.close()
        for pool in pools:
            pool.destroy()
        out = bytearray(PAGE_SIZE)
        for call in (lambda: z.store(PALETTE[1], 0, 1), lambda: z.load(out, 0, 1),
                     lambda: z.load(out, 0, 1, swapcache=False), lambda: z.invalidate(0, 1),
                     lambda: z.store_batch([(PALETTE[1], 0, 2)]),
                     lambda: z.load_batch([out], 0, [1]),
                     lambda: z.set_param("compressor", "zstd")):
            with pytest.raises(ZswapError, match="closed"):
                call()
        z.close()  # idempotent
        self.start_zswap()
        self.core.swapon(DEVICE_PAGES)

    @rule(n=picks, first=st.sampled_from(["load", "load_keep", "overwrite"]),
          second=st.sampled_from(["invalidate", "store", "load", "writeback", "swapoff"]))
    def same_slot_race(self, n: int, first: str, second: str) -> None:
        """While a swap-in or an overwrite of a slot is between its lookup and its publish
        (the hook runs at the CPU-context lookup, in either flow), a second
        operation on the same slot: refused (SlotBusy; writeback -EEXIST), and the first
        one finishes as if alone."""
        if not self.model:
            return
        swp = self.pick(n)
        t, off = swp_type(swp), swp_offset(swp)
        if self.z.lookup(t, off) is None or self.core.table.device(t).zeromap[off]:
            return  # the first operation would not reach zswap
        entry = self.z.lookup(t, off)
        assert entry is not None
        seen: list[str] = []
        z = self.z

        def race() -> None:
            if second == "invalidate":
                z.invalidate(t, off)
            elif second == "store":
                z.store(PALETTE[2], t, off)
            elif second == "load":
                z.load(bytearray(PAGE_SIZE), t, off)
            elif second == "writeback":
                seen.append(f"writeback {z.writeback_entry(entry)}")
                return
            else:
                z.swapoff(t)
            seen.append("not refused")

        def hook(point: str, cpu: int) -> None:
            if point != "acomp_ctx_get" or self.cpus.preempt_hook is not hook:
                return
            self.cpus.preempt_hook = None
            try:
                race()
            except SlotBusy:
                seen.append("busy")

        self.cpus.preempt_hook = hook
        try:
            if first == "overwrite":
                page, memcg = self.page(1 + n % 40), self.model[swp][1]
                rewrite_slot(self.core, swp, page, memcg)
                self.model[swp] = (page, memcg)
            else:
                self.read(swp, keep=first == "load_keep")
                if first == "load":  # the page left zswap: its owner frees the slot
                    self.core.swap_free(swp)
                    del self.model[swp]
        finally:
            self.cpus.preempt_hook = None
        if not seen:
            event("same_slot_race: the first operation never reached a CPU context")
            return
        expected = f"writeback {-errno.EEXIST}" if second == "writeback" else "busy"
        assert seen == [expected], (first, second, seen)
        event(f"same_slot_race: {first} vs {second} refused")

    @rule(which=st.sampled_from(["PageCodec", "EntryTable", "ZswapState", "ZsPool",
                                 "Engines"]))
    def uninitialised_native(self, which: str) -> None:
        """A native object made without __init__ refuses use; initialised once, a second
        __init__ is refused. Nothing here may crash the interpreter."""
        cls = getattr(_native, which)
        obj = cls.__new__(cls)
        use = {"PageCodec": lambda o: o.compress(PALETTE[1], bytearray(8192)),
               "EntryTable": lambda o: o.insert(0, 1, 100, 1, 1, -1, 0),
               "ZswapState": lambda o: o.check_limits(),
               "ZsPool": lambda o: o.malloc_write(b"abc", 3),
               "Engines": lambda o: o.compress([PALETTE[1]], [bytearray(8192)])}[which]
        args = {"PageCodec": ("lz4",), "EntryTable": (tuple,),
                "ZswapState": (_native.EntryTable(tuple), _native.Lock()),
                "ZsPool": ("p",), "Engines": ("lz4", 0, 0)}[which]
        with pytest.raises(RuntimeError, match="__init__ was not called"):
            use(obj)
        obj.__init__(*args)
        with pytest.raises(RuntimeError, match="called twice"):
            obj.__init__(*args)

    # ------------------------------------------------------------------ invariants ----------
    @invariant()
    def accounting_holds(self) -> None:
        assert check_invariants(self.core) == []

    @invariant()
    def slots_match_the_model(self) -> None:
        table = self.core.table
        assert sum(table.device(t).inuse_pages for t in table.types()) == len(self.model)
        for swp in self.model:
            assert table.device(swp_type(swp)).swap_count(swp_offset(swp)) == 1
        for t in table.types():
            for entry in self.z.entries(t):
                assert (t << SWP_TYPE_SHIFT | entry.offset) in self.model

    @invariant()
    def a_random_page_reads_back(self) -> None:
        if self.model:
            swp = self.pick(random.Random(self.version).randrange(1 << 16))
            self.read(swp)

    def teardown(self) -> None:
        try:
            self.swapoff_all()
            st_ = self.z.stats()
            assert st_["stored_pages"] == 0 and st_["pool_total_size"] == 0
            assert len(self.z.pools()) == 1
        finally:
            pools = self.z.pools()
            self.core.close()
            for pool in pools:
                pool.destroy()
            self.faulty.clear()
            shutil.rmtree(self.dir, ignore_errors=True)


class PythonFlowMachine(ZswapMachine):
    FLOW = "python"


#: The examples are shared between the two flows (the same total as one flow had).
_SETTINGS = settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "2000")) // 2,
    stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ZswapMachine.TestCase.settings = _SETTINGS
PythonFlowMachine.TestCase.settings = _SETTINGS
TestZswapStatefulNative = ZswapMachine.TestCase
TestZswapStatefulPython = PythonFlowMachine.TestCase
