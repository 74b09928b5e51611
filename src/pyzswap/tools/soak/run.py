"""The soak itself: the workers, the chaos and reclaim threads, the run and its teardown."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...compress import PAGE_SIZE, has_compressor
from ...cpu import CpuModel, HotplugError
from ...errors import AllocFail, DecompressFail, InvalidParameter, ZswapError
from ...memcg import MemCgroup
from ...swap import SwapIOError, swp_offset, swp_type
from ...swapcore import SwapCore
from ...zswap import Zswap
from ..faults import (
    FaultyCompressor,
    FaultyZsPool,
    PoolCreationFaults,
    faulty_compressor,
    unregister,
)
from ..pagesets import make_pageset
from . import _faults
from ._machinery import _crc, _fd_desc, _fd_set, _Gate, _Worker
from .checks import (
    _MAX_SAMPLES,
    _STAMP,
    _WRITEBACK_RACES,
    SOAK_COMPRESSORS,
    check_invariants,
    rewrite_slot,
)
from .config import SoakConfig, SoakReport

if TYPE_CHECKING:
    from ..._types import BytesLike
    from ...zswap import ZswapEntry


class _Soak:
    """One run: the zswap under test, the threads, the ledgers and the tallies."""

    def __init__(self, cfg: SoakConfig) -> None:
        cfg.check()
        self.cfg = cfg
        self.report = SoakReport(cfg.seconds, cfg.threads, cfg.seed, cfg.faults)
        self._tally_lock = threading.Lock()
        self.stop = threading.Event()
        self.gate = _Gate()
        self.rng = random.Random(cfg.seed)
        self._threads_before = {t.ident for t in threading.enumerate()}
        self._fds_before = _fd_set()
        self._own_dir = cfg.directory is None
        self.directory = tempfile.mkdtemp(prefix="pyzswap-soak-") if cfg.directory is None \
            else cfg.directory
        self._files_before = set(os.listdir(self.directory))
        self.tag = tag = f"soak-{os.getpid()}-{cfg.seed}-{id(self):x}"
        self.zs_compressors: list[FaultyCompressor] = []
        # Faults: a registered faulty compressor, pool-creation failures, faulty zsmallocs.
        self.faulty: FaultyCompressor | None = None
        self.pool_faults = PoolCreationFaults()
        self.zs_faulty: list[FaultyZsPool] = []
        #: failures of faulty zsmallocs already destroyed (their objects are let go)
        self.zs_closed = {"alloc_fail": 0, "zsmalloc_full": 0}
        self._zs_made = 0
        self.corruptions = 0
        self.io_errors_seen = 0
        self.io_injected_closed = {"write": 0, "read": 0}
        self.compressors = list(SOAK_COMPRESSORS)
        if cfg.faults:
            self.faulty = faulty_compressor(f"{tag}-faulty", "lz4")
            self.compressors.append(self.faulty.name)
        self.cpus = CpuModel(cfg.nr_cpus)
        root = MemCgroup()
        self.root = root
        self.zswap = Zswap(compressor="lz4", totalram_pages=cfg.totalram_pages,
                           cpus=self.cpus, lifetime=cfg.lifetime, memcg_root=root,
                           mem_hook=self.pool_faults, flow=cfg.flow)
        self.core = SwapCore(self.zswap, directory=self.directory)
        self.core.swapon(cfg.swap_pages)
        self.churn_type: int | None = self.core.swapon(cfg.churn_pages)
        a, b = root.create("a"), root.create("b")
        nowb = root.create("nowb")
        nowb.write("memory.zswap.writeback", "0")
        self.nozswap = root.create("nozswap")
        self.nozswap.write("memory.zswap.max", "0")
        self.volatile = root.create("volatile0")
        self._volatile_n = 0
        self.memcgs: list[MemCgroup | None] = [None, a, b, nowb, self.volatile]
        self.group_a, self.group_b = a, b
        pageset = make_pageset("mixed", 512, cfg.seed)
        self.palette = [pageset.page(i) for i in range(pageset.n_pages)]
        self.palette_zero = [k == "zero" for k in pageset.kinds]
        self.workers = [_Worker(i, cfg.seed * 1009 + i) for i in range(cfg.threads)]
        self.fault_owner = _Worker(-1, cfg.seed * 1009 + 999)
        self._arm_faults()

    # ------------------------------------------------------------------ tallies -------------
    def op(self, kind: str) -> None:
        with self._tally_lock:
            self.report.ops += 1
            self.report.ops_by_kind[kind] = self.report.ops_by_kind.get(kind, 0) + 1

    def expected(self, kind: str) -> None:
        with self._tally_lock:
            self.report.expected_errors[kind] = self.report.expected_errors.get(kind, 0) + 1

    def unexpected(self, where: str, exc: BaseException | None = None,
                   message: str = "") -> None:
        text = message if exc is None else "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__, limit=6))
        with self._tally_lock:
            self.report.unexpected_errors += 1
            if len(self.report.unexpected_samples) < _MAX_SAMPLES:
                self.report.unexpected_samples.append(f"{where}: {text}".rstrip())

    def mismatch(self, message: str) -> None:
        with self._tally_lock:
            self.report.mismatches += 1
            if len(self.report.mismatch_samples) < _MAX_SAMPLES:
                self.report.mismatch_samples.append(message)

    def verified(self) -> None:
        with self._tally_lock:
            self.report.loads_verified += 1

    # ------------------------------------------------------------------ pages ---------------
    def new_page(self, w: _Worker, allow_zero: bool = True) -> bytes:
        """A palette page stamped with (owner, version): every page ever written is unique,
        so a page handed to the wrong slot or owner is caught by the checksum."""
        i = w.rng.randrange(len(self.palette))
        if self.palette_zero[i]:
            if allow_zero:
                return self.palette[i]
            i = (i + 1) % len(self.palette)
            if self.palette_zero[i]:
                i = 1 if self.palette_zero[0] else 0
        w.version += 1
        page = bytearray(self.palette[i])
        _STAMP.pack_into(page, 0, w.index & 0xFFFFFFFF, 0x50A4, w.version)
        return bytes(page)

    def _folio_nr(self, rng: random.Random) -> int:
        x = rng.random()
        if x < 0.80:
            return 1
        if x < 0.995:
            return rng.choice((2, 4, 8, 16))
        return 512

    def _memcg(self, rng: random.Random) -> MemCgroup | None:
        memcgs = self.memcgs
        return memcgs[rng.randrange(len(memcgs))]

    def _check_load(self, who: str, swp: int, out: BytesLike, crc: int, source: str) -> bool:
        got = _crc(out)
        if got != crc:
            self.mismatch(f"{who}: slot {swp_type(swp)}:{swp_offset(swp)} from {source}: "
                          f"crc {got:#010x}, ledger {crc:#010x}")
            return False
        self.verified()
        return True

    # ------------------------------------------------------------------ workers -------------
    def worker(self, w: _Worker) -> None:
        rng = w.rng
        name = f"worker{w.index}"
        limit = self.cfg.max_slots_per_worker
        while not self.stop.is_set():
            n = len(w.ledger)
            x = rng.random()
            if n == 0 or (x < 0.40 and n < limit):
                kind, fn = "swap_out", self._w_out
            elif x < 0.62:
                kind, fn = "swap_in", self._w_in
            elif x < 0.72:
                kind, fn = "swap_in_keep", self._w_in_keep
            elif x < 0.84:
                kind, fn = "overwrite", self._w_overwrite
            elif x < 0.96:
                kind, fn = "swap_free", self._w_free
            else:
                kind, fn = "migrate", self._w_migrate
            with self.gate.read():
                try:
                    fn(w)
                except Exception as exc:
                    self.unexpected(f"{name} {kind}", exc)
                self.op(kind)

    def _w_out(self, w: _Worker) -> None:
        nr = self._folio_nr(w.rng)
        memcg = self._memcg(w.rng)
        pages = [self.new_page(w) for _ in range(nr)]
        try:
            swp = self.core.swap_out(b"".join(pages) if nr > 1 else pages[0], memcg)
        except SwapIOError:
            self._io_error("swap_out_io_error")  # the slots were freed; the page stays here
            return
        if swp is None:
            self.expected("swap_out_no_space")
            return
        for i, page in enumerate(pages):
            w.ledger.put(swp + i, _crc(page), memcg)

    def _io_error(self, kind: str) -> None:
        with self._tally_lock:
            self.io_errors_seen += 1
        self.expected(kind)

    def _load(self, w: _Worker, who: str, keep: bool) -> None:
        swp = w.ledger.pick(w.rng)
        crc, memcg = w.ledger.crc[swp]
        out = bytearray(PAGE_SIZE)
        try:
            source = self.core.swap_in(swp, out, memcg, keep_zswap=keep)
        except DecompressFail:
            self.expected("swap_in_decompress_fail")  # the entry is kept: retried later
            return
        except SwapIOError:
            self._io_error("swap_in_io_error")  # the page stays on its slot
            return
        ok = self._check_load(who, swp, out, crc, source)
        if not keep or not ok:
            self.core.swap_free(swp)
            w.ledger.remove(swp)

    def _w_in(self, w: _Worker) -> None:
        self._load(w, f"worker{w.index}", keep=False)

    def _w_in_keep(self, w: _Worker) -> None:
        self._load(w, f"worker{w.index}", keep=True)

    def _w_overwrite(self, w: _Worker) -> None:
        swp = w.ledger.pick(w.rng)
        _, memcg = w.ledger.crc[swp]
        page = self.new_page(w)
        try:
            rewrite_slot(self.core, swp, page, memcg)
        except SwapIOError:
            self._io_error("overwrite_io_error")  # the slot holds nothing: give it back
            self.core.swap_free(swp)
            w.ledger.remove(swp)
            return
        w.ledger.put(swp, _crc(page), memcg)

    def _w_free(self, w: _Worker) -> None:
        swp = w.ledger.pick(w.rng)
        self.core.swap_free(swp)
        w.ledger.remove(swp)

    def _w_migrate(self, w: _Worker) -> None:
        online = self.cpus.online_cpus()
        try:  # the CPU may go offline meanwhile: then the migration is refused
            self.cpus.migrate_current(online[w.rng.randrange(len(online))])
        except HotplugError:
            self.expected("migrate_to_offline_cpu")

    # ------------------------------------------------------------------ chaos ---------------
    def chaos(self) -> None:
        rng = random.Random(self.cfg.seed * 7 + 1)
        z = self.zswap
        ops: list[tuple[str, Callable[[random.Random], None]]] = [
            ("switch_compressor", self._c_switch), ("cpu_down", self._c_cpu_down),
            ("cpu_up", self._c_cpu_up), ("set_max_pool_percent", self._c_max_pool),
            ("set_accept_threshold", self._c_accept), ("set_shrinker", self._c_shrinker),
            ("toggle_enabled", self._c_enabled), ("memcg_limits", self._c_memcg),
        ]
        if self.cfg.concurrent_memcg_offline:
            ops.append(("memcg_offline", self._c_memcg_offline))

        def reenable(rng: random.Random) -> None:
            if not z.enabled and rng.random() < 0.5:
                with self.gate.read():
                    z.set_param("enabled", True)

        self._op_loop("chaos", rng, ops, 0.002, after=reenable)

    def _op_loop(self, name: str, rng: random.Random,
                 ops: list[tuple[str, Callable[[random.Random], None]]], pause: float,
                 after: Callable[[random.Random], None] | None = None) -> None:
        """The chaos and reclaim threads' loop until the soak stops: a random operation of
        ``ops`` under the gate (an exception is an unexpected failure of ``name kind``),
        counted, then ``after`` and a pause of ``pause`` seconds (pacing, not
        synchronisation: nothing waits for anything here)."""
        while not self.stop.is_set():
            kind, fn = ops[rng.randrange(len(ops))]
            with self.gate.read():
                try:
                    fn(rng)
                except Exception as exc:
                    self.unexpected(f"{name} {kind}", exc)
                self.op(kind)
            if after is not None:
                after(rng)
            time.sleep(pause)

    def _c_switch(self, rng: random.Random) -> None:
        names = self.compressors
        if self.zs_compressors:  # the latest pool with a faulty zsmalloc, while it lives
            names = [*names, self.zs_compressors[-1].name]
        name = names[rng.randrange(len(names))]
        if name == "deflate" and rng.random() < 0.7:
            name = "lz4"
        armed = self.cfg.faults and rng.random() < 0.15
        before = self.pool_faults.schedule.injected
        if armed:
            self.pool_faults.schedule.fail_every(rng.randrange(1, self.cfg.nr_cpus + 1))
        try:
            self.zswap.set_param("compressor", name)
        except AllocFail:
            if self.pool_faults.schedule.injected == before:
                raise
            self.expected("switch_pool_create_nomem")  # the old pool stays current
        finally:
            if armed:
                self.pool_faults.schedule.clear()

    def _c_cpu_down(self, rng: random.Random) -> None:
        online = self.cpus.online_cpus()
        if len(online) <= 1:
            return
        try:
            self.cpus.cpu_down(online[rng.randrange(len(online))])
        except HotplugError:
            self.expected("cpu_down_last_cpu")

    def _c_cpu_up(self, rng: random.Random) -> None:
        self.cpus.cpu_up(rng.randrange(self.cpus.nr_possible))

    def _c_max_pool(self, rng: random.Random) -> None:
        self.zswap.set_param("max_pool_percent", rng.choice((2, 5, 10, 20, 40)))

    def _c_accept(self, rng: random.Random) -> None:
        self.zswap.set_param("accept_threshold_percent", rng.choice((50, 80, 90, 100)))

    def _c_shrinker(self, rng: random.Random) -> None:
        self.zswap.set_param("shrinker_enabled", rng.choice(("Y", "N")))

    def _c_enabled(self, rng: random.Random) -> None:
        self.zswap.set_param("enabled", rng.random() < 0.7)

    def _c_memcg(self, rng: random.Random) -> None:
        self.group_a.write("memory.zswap.max", rng.choice(("max", "256K", "1M", "4M")))
        self.group_b.write("memory.zswap.writeback", rng.choice(("0", "1", "1")))

    def _c_memcg_offline(self, rng: random.Random) -> None:
        if rng.random() < 0.3:
            self._offline_volatile()

    def _offline_volatile(self) -> None:
        """rmdir of a group in use: its entries and charges move to the parent; workers keep
        loading the old group's pages and store into its replacement."""
        self._volatile_n += 1
        fresh = self.root.create(f"volatile{self._volatile_n}")
        old, self.volatile = self.volatile, fresh
        self.memcgs = [m for m in self.memcgs if m is not old] + [fresh]
        old.remove()

    # ------------------------------------------------------------------ reclaim -------------
    def reclaim(self) -> None:
        rng = random.Random(self.cfg.seed * 7 + 2)
        ops: list[tuple[str, Callable[[random.Random], None]]] = [
            ("shrinker_scan", self._r_shrinker), ("shrink_memcg", self._r_shrink_memcg),
            ("writeback_entry", self._r_writeback), ("compact", self._r_compact),
            ("shrink_work_queue", self._r_queue), ("writeback_entries", self._r_writeback_batch),
        ]
        self._op_loop("reclaim", rng, ops, 0.001)

    def _r_shrinker(self, rng: random.Random) -> None:
        memcg = self._memcg(rng)
        if self.zswap.shrinker_count(memcg):
            self.zswap.shrinker_scan(memcg, rng.choice((8, 32, 128)))

    def _r_shrink_memcg(self, rng: random.Random) -> None:
        ret = self.zswap.shrink_memcg(self._memcg(rng))
        if ret not in (0, -errno.EAGAIN, -errno.ENOENT):
            raise ZswapError(f"shrink_memcg returned {ret}")

    def _r_writeback(self, rng: random.Random) -> None:
        for entry in self._sample_entries(rng, 8):
            self._writeback_result(self.zswap.writeback_entry(entry))

    def _r_writeback_batch(self, rng: random.Random) -> None:
        """Batched writeback: entries of a batching pool are decompressed together."""
        for ret in self.zswap.writeback_entries(self._sample_entries(rng, 16)):
            self._writeback_result(ret)

    def _sample_entries(self, rng: random.Random, k: int) -> list[ZswapEntry]:
        """Up to ``k`` random entries of a random swap type."""
        types = self.core.table.types()
        entries = self.zswap.entries(types[rng.randrange(len(types))])
        return rng.sample(entries, min(len(entries), k))

    def _writeback_result(self, ret: int) -> None:
        if ret == -errno.EIO:
            self.expected("writeback_eio")  # injected fault; the entry stays
        elif ret not in _WRITEBACK_RACES:
            raise ZswapError(f"writeback returned {ret}")

    def _r_compact(self, rng: random.Random) -> None:
        if rng.random() < 0.5:
            self.zswap.compact()
        else:
            self.zswap.compactable_pages()

    def _r_queue(self, rng: random.Random) -> None:
        self.zswap.shrink_work_queue()

    # ------------------------------------------------------------------ faults, checkpoints ---
    # (soak/_faults.py)
    _arm_faults = _faults._arm_faults
    fault_thread = _faults.fault_thread
    _release_fault_slots = _faults._release_fault_slots
    _own_page = _faults._own_page
    _verify_own = _faults._verify_own
    _f_corrupt = _faults._f_corrupt
    _f_writeback_eio = _faults._f_writeback_eio
    _f_read_error = _faults._f_read_error
    _f_enospc = _faults._f_enospc
    checkpoint = _faults.checkpoint
    _restore = _faults._restore
    _churn = _faults._churn
    _fresh_faulty_pool = _faults._fresh_faulty_pool
    _prune_faulty_pools = _faults._prune_faulty_pools
    _exercise = _faults._exercise
    _check_device_faults = _faults._check_device_faults

    # ------------------------------------------------------------------ the run -------------
    def run(self) -> SoakReport:
        try:
            return self._run()
        except BaseException:
            # Ctrl-C, SIGTERM or a bug: the threads are joined by now; remove the swap files
            # and the soak's own temporary directory before the exception leaves
            self._abort()
            raise

    def _run(self) -> SoakReport:
        cfg = self.cfg
        threads = [threading.Thread(target=self.worker, args=(w,), name=f"soak-worker{w.index}",
                                    daemon=True) for w in self.workers]
        threads.append(threading.Thread(target=self.chaos, name="soak-chaos", daemon=True))
        threads.append(threading.Thread(target=self.reclaim, name="soak-reclaim", daemon=True))
        if cfg.faults:
            threads.append(threading.Thread(target=self.fault_thread, name="soak-faults",
                                            daemon=True))
        old_interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-4)  # more interleavings per second
        start = time.monotonic()
        started: list[threading.Thread] = []
        try:
            for t in threads:
                t.start()
                started.append(t)
            n = 0
            deadline = start + cfg.seconds
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                self.stop.wait(min(cfg.checkpoint_every, deadline - now))
                if time.monotonic() >= deadline:
                    break
                with self.gate.write():
                    try:
                        self.checkpoint(n)
                    except Exception as exc:
                        self.unexpected(f"checkpoint {n}", exc)
                n += 1
        finally:
            self.stop.set()
            for t in started:  # (Ctrl-C may come while a thread starts: join what started)
                t.join(timeout=120)
            sys.setswitchinterval(old_interval)
        hung = [t.name for t in threads if t.is_alive()]
        if hung:
            self.unexpected("join", message=f"threads did not stop: {', '.join(hung)}")
        self.report.seconds = round(time.monotonic() - start, 1)
        self.finish()
        self.report.peak_rss_mib = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return self.report

    def _abort(self) -> None:
        """Tear down after an interruption: no checks, just nothing left behind."""
        with contextlib.suppress(Exception):
            self.core.close()  # closes zswap, removes the temporary swap files
        for comp in (self.faulty, *self.zs_compressors):
            if comp is not None:
                unregister(comp)
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def finish(self) -> None:
        """Stop the faults, check everything, bring every page back, tear down, look for
        leaks."""
        z, core, rep = self.zswap, self.core, self.report
        if self.faulty is not None:
            self.faulty.clear()
        for zs in self.zs_faulty:
            zs.alloc_fail.clear()
        for t in core.table.types():
            core.table.device(t).faults.clear()
        if not z.shrink_work_flush(timeout=120):
            self.unexpected("finish", message="the shrink worker did not finish in 120 s")
        for problem in check_invariants(core):
            self.unexpected("final invariant", message=problem)
        self._check_device_faults()
        self._reconcile()
        out = bytearray(PAGE_SIZE)
        for w in self.workers:
            for swp in w.ledger.slots():
                crc, memcg = w.ledger.crc[swp]
                try:
                    source = core.swap_in(swp, out, memcg)
                    if self._check_load(f"final worker{w.index}", swp, out, crc, source):
                        rep.final_pages_verified += 1
                    core.swap_free(swp)
                except Exception as exc:
                    self.unexpected(f"final load {swp_type(swp)}:{swp_offset(swp)}", exc)
                w.ledger.remove(swp)
        rep.stats = z.stats()
        rep.vmstat = z.vmstat()
        rep.swap = core.stats()
        rep.faults_injected = self._injected()
        for t in core.table.types():
            try:
                core.swapoff(t, self._restore)
            except Exception as exc:
                self.unexpected(f"final swapoff of type {t}", exc)
        st = z.stats()
        if st["stored_pages"] or st["pool_total_size"] or len(z.pools()) != 1:
            self.unexpected("teardown", message=(
                f"after swapoff: stored_pages {st['stored_pages']}, pool_total_size "
                f"{st['pool_total_size']}, {len(z.pools())} pools"))
        pools = z.pools()
        core.close()  # Zswap.close() destroys the pools: _leaks checks that it did
        for comp in (self.faulty, *self.zs_compressors):
            if comp is not None:
                unregister(comp)
        self._leaks(pools)

    def _reconcile(self) -> None:
        """Kernel counters against the faults injected."""
        st = self.zswap.stats()
        alloc = sum(zs.alloc_fail.injected + zs.full_failures for zs in self.zs_faulty)
        alloc += sum(self.zs_closed.values())
        if st["reject_alloc_fail"] != alloc:
            self.unexpected("fault accounting", message=(
                f"reject_alloc_fail {st['reject_alloc_fail']} but {alloc} allocation "
                "failures injected"))
        injected_dec = self.faulty.decompress_fail.injected if self.faulty else 0
        if not self.corruptions <= st["decompress_fail"] <= injected_dec + self.corruptions:
            self.unexpected("fault accounting", message=(
                f"decompress_fail {st['decompress_fail']} outside [{self.corruptions}, "
                f"{injected_dec + self.corruptions}] (corruptions, + injected)"))
        io_injected = sum(sum(core_dev.faults.injected.values()) for core_dev in (
            self.core.table.device(t) for t in self.core.table.types()))
        io_injected += sum(self.io_injected_closed.values())
        if self.io_errors_seen > io_injected:
            self.unexpected("fault accounting", message=(
                f"{self.io_errors_seen} swap I/O errors seen, only {io_injected} injected"))

    def _injected(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.faulty is not None:
            out.update(self.faulty.injected)
        out["alloc_fail"] = self.zs_closed["alloc_fail"] + sum(
            zs.alloc_fail.injected for zs in self.zs_faulty)
        out["zsmalloc_full"] = self.zs_closed["zsmalloc_full"] + sum(
            zs.full_failures for zs in self.zs_faulty)
        out["pool_create_nomem"] = self.pool_faults.schedule.injected
        out["corrupt_object"] = self.corruptions
        writes = reads = 0
        for t in self.core.table.types():
            inj = self.core.table.device(t).faults.injected
            writes += inj["write"]
            reads += inj["read"]
        out["swap_write_error"] = writes + self.io_injected_closed["write"]
        out["swap_read_error"] = reads + self.io_injected_closed["read"]
        return out

    def _leaks(self, pools: list[Any]) -> None:
        leaks = self.report.leaks
        # Threads: ours joined, zswap's shrink worker stopped by close().
        deadline = time.monotonic() + 10
        extra = [t for t in threading.enumerate() if t.ident not in self._threads_before]
        while extra and time.monotonic() < deadline:
            time.sleep(0.05)
            extra = [t for t in threading.enumerate() if t.ident not in self._threads_before]
        leaks["threads"] = [t.name for t in extra]
        leaks["fds"] = [_fd_desc(fd) for fd in sorted(_fd_set() - self._fds_before)]
        leaks["temp_files"] = sorted(set(os.listdir(self.directory)) - self._files_before)
        leaks["pools"] = [f"{p.tfm_name}#{p.id}" for p in pools
                          if not (p.destroyed and p.zs_pool.destroyed
                                  and p.zs_pool.pages_allocated == 0
                                  and not p.ctx_memory_bytes())]
        leaks["zsmalloc"] = [zs.name for zs in self.zs_faulty
                             if zs.pages_allocated and not zs.destroyed]
        leaks["registry"] = [c.name for c in (self.faulty, *self.zs_compressors)
                             if c is not None and has_compressor(c.name)]
        if self._own_dir and not leaks["temp_files"]:
            shutil.rmtree(self.directory, ignore_errors=True)


def run_soak(seconds: float = 60.0, threads: int = 4, seed: int = 0, *, faults: bool = True,
             **options: Any) -> SoakReport:
    """Run the soak for ``seconds`` with ``threads`` worker threads; the report.

    ``options`` are further :class:`SoakConfig` fields (``nr_cpus``, ``lifetime``,
    ``checkpoint_every``, ``directory``, …). Raises :class:`InvalidParameter` for a bad
    configuration; everything the soak finds is in the report (``report.ok``).
    """
    unknown = set(options) - set(SoakConfig.__dataclass_fields__)
    if unknown:
        raise InvalidParameter(f"unknown soak option(s): {', '.join(sorted(unknown))}")
    cfg = SoakConfig(seconds=seconds, threads=threads, seed=seed, faults=faults, **options)
    return _Soak(cfg).run()
