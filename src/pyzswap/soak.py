"""The concurrency soak: many threads doing everything zswap does at once, nothing lost.

A unit test shows one path works; a soak shows the paths work *together*: stores, loads,
overwrites and frees on many threads while the compressor changes, CPUs come and go, limits
move, the shrink worker and the shrinker write back, zsmalloc compacts, a swap device is
swapped off and on, and faults are injected (:mod:`pyzswap.faults`). What it checks is
deterministic even though the interleaving is not:

* **Every load against a checksum ledger.** Each worker thread owns the slots it swapped out
  and keeps the CRC-32 of each page's last contents; every swap-in is checked against it (a
  mismatch is a lost or corrupted page, and there must be none).
* **Only expected errors.** Each operation lists the errors an injected fault may cause
  (``SwapIOError`` from an I/O fault, ``DecompressFail`` from a decompression fault, …);
  anything else is an unexpected error.
* **Invariants at quiescent checkpoints** (:func:`check_invariants`): every few seconds all soak
  threads pause at an operation boundary, the shrink worker is flushed, and the counters are
  compared with the trees, the pools, zsmalloc, the LRU and the memcg charges.
* **Fault accounting**: every injected I/O error shows up in the device's counters, every
  injected allocation failure in ``reject_alloc_fail``, decompression failures are bounded by
  the faults injected.
* **Full verification and teardown**: at the end every page is swapped in and checked, every
  device swapped off, the pools destroyed, and threads, file descriptors and temporary swap
  files compared with what existed before (a leak is a failure).

``pyzswap soak --seconds N`` (:func:`soak`) runs it from the command line;
``python -m pyzswap.soak`` does the same without the rest of the CLI. :func:`run_soak` is the
library entry point, :func:`rewrite_slot` and :func:`check_invariants` are shared with the
model-based stateful test.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import resource
import shutil
import struct
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

import click

from ._cliutil import MAX_SECONDS, SEED, finite_float, main_error_message, terminate_on_sigterm
from .compress import PAGE_SIZE, has_compressor
from .cpu import CpuModel, HotplugError
from .errors import AllocFail, DecompressFail, InvalidParameter, ZswapError
from .faults import (
    FaultyCompressor,
    FaultyZsPool,
    PoolCreationFaults,
    corrupt_entry,
    faulty_compressor,
    install_zs_pool,
    unregister,
)
from .folio import is_folio_zero_filled
from .memcg import MemCgroup
from .pagesets import make_pageset
from .swap import SWP_TYPE_SHIFT, SwapIOError, swp_offset, swp_type
from .swapcore import SwapCore
from .zswap import Zswap

if TYPE_CHECKING:
    from ._types import BytesLike
    from .zswap import ZswapEntry

__all__ = [
    "SoakConfig",
    "SoakReport",
    "check_invariants",
    "main",
    "rewrite_slot",
    "run_soak",
    "soak",
]

#: Compressors the chaos thread switches between (deflate is slow: it is in, but rarely).
SOAK_COMPRESSORS: Final = ("lz4", "lzo", "zstd", "lz4hc", "deflate", "zstd-x2", "lz4-x2")
#: Writeback return values that are normal races (slot in the swap cache, entry gone).
_WRITEBACK_RACES: Final = (0, -errno.EEXIST, -errno.ENOMEM)
_MAX_SAMPLES: Final = 20
_STAMP: Final = struct.Struct("<IIQ")


# ---------------------------------------------------------------------------- shared helpers --
def rewrite_slot(core: SwapCore, swp: int, page: BytesLike,
                 memcg: MemCgroup | None = None) -> str:
    """Write a new version of one page to the slot it already owns; where it went.

    This is the kernel's redirtied swap-cache folio written out again to the same entry
    (``swap_writeout``, 6.18 order): the slot's swap cache is held throughout (so writeback of
    the slot waits or fails with -EEXIST), a zero page sets the zero bit, otherwise the zero
    bit is cleared and zswap gets the page, or the swap file if zswap refuses (zswap then
    erased the old entry). A failed write raises :class:`SwapIOError`; the slot then holds no
    data and the caller keeps the page (and should free the slot).

    For a zero page the kernel leaves an older zswap entry in place, shadowed by the zero bit;
    like ``SwapCore.swap_out``, the stale entry is dropped here instead (it could only ever be
    written back, never read).
    """
    table = core.table
    t, off = swp_type(swp), swp_offset(swp)
    device = table.device(t)
    while not table.add_to_swap_cache(swp, page):
        os.sched_yield()  # a writeback or swap-in of this slot is in flight
    try:
        if is_folio_zero_filled(page):
            device.zeromap_set(off, 1)
            core.zswap.invalidate(t, off)
            return "zero"
        device.zeromap_clear(off, 1)
        if core.zswap.store(page, t, off, memcg):
            return "zswap"
        table.write_page(swp, page)
        return "disk"
    finally:
        table.delete_from_swap_cache(swp)


def check_invariants(core: SwapCore) -> list[str]:
    """The accounting invariants of a quiescent zswap (no operation in flight); violations.

    * ``stored_pages`` equals the live entries, ``stored_incompressible_pages`` those stored
      as-is, and every entry is in exactly one tree slot and on exactly one LRU list (its
      memcg's), once;
    * ``pool_total_size`` equals the zsmalloc pages of the live pools, and each pool's zsmalloc
      holds exactly one object per entry;
    * every pool's reference count equals its entries plus one for the current role; a
      non-current pool without entries no longer exists;
    * every entry's swap slot is allocated, and no swap cache folio is left;
    * the root memcg's ``memory.zswap.current`` and ``zswapped`` equal the charged entries.
    """
    z = core.zswap
    bad: list[str] = []
    entries: list[ZswapEntry] = []
    for t in core.table.types():
        entries.extend(z.entries(t))
    st = z.stats()
    if st["stored_pages"] != len(entries):
        bad.append(f"stored_pages {st['stored_pages']} != {len(entries)} live entries")
    as_is = sum(1 for e in entries if e.length == PAGE_SIZE)
    if st["stored_incompressible_pages"] != as_is:
        bad.append(f"stored_incompressible_pages {st['stored_incompressible_pages']} != "
                   f"{as_is} entries stored as-is")
    pools = z.pools()
    current = pools[0] if pools else None
    zs_pages = sum(p.zs_pool.pages_allocated for p in pools)
    if st["pool_total_size"] != zs_pages * PAGE_SIZE:
        bad.append(f"pool_total_size {st['pool_total_size']} != {zs_pages} zsmalloc pages")
    per_pool: dict[int, int] = {}
    for e in entries:
        per_pool[e.pool_id] = per_pool.get(e.pool_id, 0) + 1
    ids = {p.id for p in pools}
    for pid in set(per_pool) - ids:
        bad.append(f"{per_pool[pid]} entries use pool #{pid}, which is not live")
    for p in pools:
        n = per_pool.get(p.id, 0)
        want = n + (1 if p is current else 0)
        if p.ref != want:
            bad.append(f"pool {p.tfm_name}#{p.id}: ref {p.ref} != {n} entries"
                       f"{' + current' if p is current else ''}")
        if p is not current and not n:
            bad.append(f"pool {p.tfm_name}#{p.id} is not current, has no entries, still lives")
        if p.killed == (p is current):
            bad.append(f"pool {p.tfm_name}#{p.id}: killed={p.killed} but current="
                       f"{p is current}")
        if p.destroyed or p.zs_pool.destroyed:
            bad.append(f"pool {p.tfm_name}#{p.id} is listed but destroyed")
        if p.zs_pool.objects_in_use != n:
            bad.append(f"pool {p.tfm_name}#{p.id}: zsmalloc holds {p.zs_pool.objects_in_use} "
                       f"objects for {n} entries")
    # Every entry on exactly one LRU list, its memcg's, under its slot's key.
    root = z.memcg_root
    seen: dict[ZswapEntry, int] = {}
    lru_items = 0
    for mid in z.lru.memcg_ids():
        for key, item, _ in z.lru.items(mid):
            lru_items += 1
            seen[item] = seen.get(item, 0) + 1
            want_mid = 0 if item.objcg < 0 or root is None else \
                root.obj_cgroup_memcg(item.objcg).id
            if mid != want_mid or key != (item.type << SWP_TYPE_SHIFT | item.offset):
                bad.append(f"entry {item.type}:{item.offset} listed under memcg {mid} key "
                           f"{key:#x}, expected memcg {want_mid}")
    if lru_items != len(entries):
        bad.append(f"the LRU lists {lru_items} items for {len(entries)} entries")
    for e in entries:
        if seen.get(e, 0) != 1:
            bad.append(f"entry {e.type}:{e.offset} is on the LRU {seen.get(e, 0)} times")
        device = core.table.device(e.type)
        if device.swap_count(e.offset) < 1:
            bad.append(f"entry {e.type}:{e.offset} outlived its swap slot")
    for t in core.table.types():
        cached = core.table.device(t).stats()["swap_cache_pages"]
        if cached:
            bad.append(f"swap type {t}: {cached} swap-cache folios left at a quiescent point")
    if root is not None:
        charged = [e for e in entries if e.objcg >= 0]
        nbytes = sum(e.length for e in charged)
        if root.zswap_current != nbytes or root.zswapped != len(charged):
            bad.append(f"root memcg charges {root.zswap_current} bytes / {root.zswapped} pages "
                       f"for {nbytes} bytes / {len(charged)} entries")
    return bad


# ---------------------------------------------------------------------------- config/report --
@dataclass(frozen=True)
class SoakConfig:
    """What a soak runs. The defaults are the CI soak's."""

    seconds: float = 60.0
    #: worker threads (each owns its slots); the chaos, reclaim and fault threads come on top
    threads: int = 4
    seed: int = 0
    #: inject faults (faulty compressor, zsmalloc and swap I/O failures, corruption, …)
    faults: bool = True
    nr_cpus: int = 4
    lifetime: str = "pool"
    #: RAM the global pool limit is a percentage of (small, so the limit is hit often)
    totalram_pages: int = 16384
    #: slots of the primary swap device and of the one swapped off and on at checkpoints
    swap_pages: int = 2048
    churn_pages: int = 4096
    #: slots a worker keeps at most (together they overflow the primary device)
    max_slots_per_worker: int = 700
    #: seconds between quiescent checkpoints
    checkpoint_every: float = 5.0
    #: directory for the swap files (default: a fresh temporary directory, removed at the end)
    directory: str | None = None
    #: take the busy volatile memcg offline from the chaos thread, concurrently with stores
    #: and frees (False: only at quiescent checkpoints)
    concurrent_memcg_offline: bool = True

    def check(self) -> None:
        if not 0 < self.seconds <= MAX_SECONDS:
            raise InvalidParameter(f"seconds must be in (0, {MAX_SECONDS:.0f}] (a week), got "
                                   f"{self.seconds!r}")
        if not 1 <= self.threads <= 64:
            raise InvalidParameter(f"threads must be 1..64, got {self.threads!r}")
        if not 2 <= self.nr_cpus <= 64:
            raise InvalidParameter(f"nr_cpus must be 2..64, got {self.nr_cpus!r}")
        if self.seed < 0:
            raise InvalidParameter(f"seed must be non-negative, got {self.seed!r}")


@dataclass
class SoakReport:
    """What a soak did and found. ``ok`` means no mismatch, no unexpected error, no leak."""

    seconds: float
    threads: int
    seed: int
    faults: bool
    ops: int = 0
    ops_by_kind: dict[str, int] = field(default_factory=dict)
    expected_errors: dict[str, int] = field(default_factory=dict)
    unexpected_errors: int = 0
    unexpected_samples: list[str] = field(default_factory=list)
    loads_verified: int = 0
    final_pages_verified: int = 0
    mismatches: int = 0
    mismatch_samples: list[str] = field(default_factory=list)
    checkpoints: int = 0
    swapoffs: int = 0
    swapoff_pages: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    vmstat: dict[str, int] = field(default_factory=dict)
    swap: dict[str, int] = field(default_factory=dict)
    leaks: dict[str, list[str]] = field(default_factory=dict)
    #: the process's peak resident memory (``ru_maxrss``), MiB
    peak_rss_mib: float = 0.0

    @property
    def expected_error_count(self) -> int:
        return sum(self.expected_errors.values())

    @property
    def leak_count(self) -> int:
        return sum(len(v) for v in self.leaks.values())

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.unexpected_errors or self.leak_count)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["expected_error_count"] = self.expected_error_count
        out["leak_count"] = self.leak_count
        out["ok"] = self.ok
        return out

    def lines(self) -> list[str]:
        """The human report."""
        def kinds(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in sorted(d.items()) if v) or "none"

        st = self.stats
        out = [
            f"pyzswap soak: {self.seconds:.1f} s, {self.threads} workers + chaos, reclaim"
            f"{', faults' if self.faults else ''}; seed {self.seed}",
            f"operations: {self.ops:,}, {self.ops / max(self.seconds, 1e-9):,.0f}/s "
            f"({kinds(self.ops_by_kind)})",
            f"loads verified against the ledger: {self.loads_verified:,} during the run, "
            f"{self.final_pages_verified:,} at the end",
            f"mismatches: {self.mismatches}",
            f"unexpected errors: {self.unexpected_errors}",
            f"expected errors (injected faults and races): {self.expected_error_count:,} "
            f"({kinds(self.expected_errors)})",
            f"faults injected: {kinds(self.faults_injected)}",
            f"checkpoints (invariants checked): {self.checkpoints}; swapoff+swapon: "
            f"{self.swapoffs} ({self.swapoff_pages:,} pages brought back)",
            "zswap: " + ", ".join(f"{k} {st.get(k, 0):,}" for k in (
                "written_back_pages", "pool_limit_hit", "reject_reclaim_fail",
                "reject_alloc_fail", "reject_compress_fail", "reject_compress_poor",
                "decompress_fail")),
            f"vmstat: {kinds(self.vmstat)}; swap: {kinds(self.swap)}",
            f"peak RSS: {self.peak_rss_mib:.0f} MiB",
            "leaks: " + ("none" if not self.leak_count else "; ".join(
                f"{k}: {', '.join(v)}" for k, v in self.leaks.items() if v)),
        ]
        for sample in self.mismatch_samples[:5]:
            out.append(f"  mismatch: {sample}")
        for sample in self.unexpected_samples[:5]:
            first, *rest = sample.splitlines() or [""]
            out.append(f"  unexpected: {first}" + (f" ... {rest[-1]}" if rest else ""))
        out.append("result: PASS" if self.ok else "result: FAIL")
        return out


# ---------------------------------------------------------------------------- machinery ------
class _Gate:
    """Operations take the read side; a checkpoint takes the write side (writers first), so it
    sees every soak thread between two operations."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class _Ledger:
    """One owner's slots: swap entry -> (CRC-32 of the page's last contents, its memcg), with
    O(1) random choice."""

    def __init__(self) -> None:
        self.crc: dict[int, tuple[int, MemCgroup | None]] = {}
        self._keys: list[int] = []
        self._pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, swp: object) -> bool:
        return swp in self._pos

    def put(self, swp: int, crc: int, memcg: MemCgroup | None) -> None:
        if swp not in self._pos:
            self._pos[swp] = len(self._keys)
            self._keys.append(swp)
        self.crc[swp] = (crc, memcg)

    def remove(self, swp: int) -> None:
        i = self._pos.pop(swp)
        last = self._keys.pop()
        if last != swp:
            self._keys[i] = last
            self._pos[last] = i
        del self.crc[swp]

    def pick(self, rng: random.Random) -> int:
        return self._keys[rng.randrange(len(self._keys))]

    def slots(self) -> list[int]:
        return list(self._keys)


class _Worker:
    def __init__(self, index: int, seed: int) -> None:
        self.index = index
        self.rng = random.Random(seed)
        self.ledger = _Ledger()
        self.version = 0


def _crc(data: BytesLike) -> int:
    return zlib.crc32(data)


def _fd_set() -> set[str]:
    try:
        return set(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return set()


def _fd_desc(fd: str) -> str:
    try:
        return f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}"
    except OSError:
        return fd


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
                           mem_hook=self.pool_faults)
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
        while not self.stop.is_set():
            kind, fn = ops[rng.randrange(len(ops))]
            with self.gate.read():
                try:
                    fn(rng)
                except Exception as exc:
                    self.unexpected(f"chaos {kind}", exc)
                self.op(kind)
            if not z.enabled and rng.random() < 0.5:
                with self.gate.read():
                    z.set_param("enabled", True)
            time.sleep(0.002)

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
        while not self.stop.is_set():
            kind, fn = ops[rng.randrange(len(ops))]
            with self.gate.read():
                try:
                    fn(rng)
                except Exception as exc:
                    self.unexpected(f"reclaim {kind}", exc)
                self.op(kind)
            time.sleep(0.001)

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

    # ------------------------------------------------------------------ faults --------------
    def _arm_faults(self) -> None:
        """Standing faults of the faulty compressor (used whenever it is the current pool)."""
        if self.faulty is not None:
            self.faulty.compress_fail.fail_every(7)
            self.faulty.compress_poor.fail_every(11)
            self.faulty.decompress_fail.fail_every(13)

    def fault_thread(self) -> None:
        rng = self.fault_owner.rng
        scenarios: list[tuple[str, Callable[[random.Random], None]]] = [
            ("fault_corrupt", self._f_corrupt), ("fault_writeback_eio", self._f_writeback_eio),
            ("fault_read_error", self._f_read_error), ("fault_write_enospc", self._f_enospc),
        ]
        while not self.stop.is_set():
            kind, fn = scenarios[rng.randrange(len(scenarios))]
            with self.gate.read():
                try:
                    fn(rng)
                except Exception as exc:
                    self.unexpected(kind, exc)
                finally:
                    self._release_fault_slots()
                self.op(kind)
            time.sleep(0.005)

    def _release_fault_slots(self) -> None:
        """A scenario frees its slots and disarms its I/O faults before it ends, so a
        checkpoint never sees them."""
        led = self.fault_owner.ledger
        for swp in led.slots():
            with contextlib.suppress(ZswapError):
                self.core.swap_free(swp)
            led.remove(swp)
        for t in self.core.table.types():
            self.core.table.device(t).faults.clear()

    def _own_page(self, memcg: MemCgroup | None = None) -> tuple[int, bytes] | None:
        page = self.new_page(self.fault_owner, allow_zero=False)
        swp = self.core.swap_out(page, memcg)
        if swp is None:
            return None
        self.fault_owner.ledger.put(swp, _crc(page), memcg)
        return swp, page

    def _verify_own(self, swp: int, page: bytes, who: str) -> None:
        out = bytearray(PAGE_SIZE)
        for _ in range(50):  # the faulty compressor may fail a decompression: retry
            try:
                source = self.core.swap_in(swp, out)
                break
            except DecompressFail:
                self.expected(f"{who}_decompress_retry")
        else:
            raise ZswapError(f"{who}: slot never became readable")
        self._check_load(who, swp, out, _crc(page), source)

    def _f_corrupt(self, rng: random.Random) -> None:
        """Corrupt one of our compressed objects while holding its slot's swap cache: the load
        must fail (decompress_fail), the entry must stay, and after the restore the page must
        come back intact."""
        got = self._own_page()
        if got is None:
            return
        swp, page = got
        t, off = swp_type(swp), swp_offset(swp)
        z, table = self.zswap, self.core.table
        while not table.add_to_swap_cache(swp, bytearray(PAGE_SIZE)):
            os.sched_yield()
        try:
            entry = z.lookup(t, off)
            if entry is None or entry.length >= PAGE_SIZE:
                return  # written back already, or stored as-is: nothing to corrupt
            before = z.stats()["decompress_fail"]
            restore = corrupt_entry(z, t, off)
            with self._tally_lock:
                self.corruptions += 1
            try:
                out = bytearray(PAGE_SIZE)
                try:
                    z.load(out, t, off)
                    raise ZswapError("a corrupted object was loaded without an error")
                except DecompressFail:
                    self.expected("corrupt_detected")
                if z.lookup(t, off) != entry:
                    raise ZswapError("the corrupted entry was dropped by the failed load")
                if z.stats()["decompress_fail"] <= before:
                    raise ZswapError("decompress_fail did not count the corrupted load")
            finally:
                if not restore():
                    raise ZswapError("the corrupted entry went away while its slot was held")
        finally:
            table.delete_from_swap_cache(swp)
        self._verify_own(swp, page, "fault_corrupt")

    def _f_writeback_eio(self, rng: random.Random) -> None:
        got = self._own_page()
        if got is None:
            return
        swp, page = got
        t, off = swp_type(swp), swp_offset(swp)
        entry = self.zswap.lookup(t, off)
        if entry is not None:
            device = self.core.table.device(t)
            device.faults.fail_writes_at([off], errno.EIO, times=1)
            ret = self.zswap.writeback_entry(entry)
            if ret == -errno.EIO:  # the injected write error (or a decompression fault)
                self.expected("writeback_eio")
            elif ret not in _WRITEBACK_RACES:
                raise ZswapError(f"writeback_entry returned {ret}")
        self._verify_own(swp, page, "fault_writeback_eio")

    def _f_read_error(self, rng: random.Random) -> None:
        got = self._own_page(self.nozswap)  # zswap.max=0: straight to the swap file
        if got is None:
            return
        swp, page = got
        t, off = swp_type(swp), swp_offset(swp)
        if self.zswap.lookup(t, off) is not None:
            raise ZswapError("a page of a group with memory.zswap.max=0 went to zswap")
        device = self.core.table.device(t)
        errs = device.read_errors
        device.faults.fail_reads_at([off], errno.EIO, times=1)
        try:
            self.core.swap_in(swp, bytearray(PAGE_SIZE))
            raise ZswapError("an injected read error was not reported")
        except SwapIOError:
            self._io_error("swap_in_io_error")
        if device.read_errors != errs + 1:
            raise ZswapError("read_errors did not count the injected read error")
        self._verify_own(swp, page, "fault_read_error")

    def _f_enospc(self, rng: random.Random) -> None:
        """ENOSPC on the next write of every device: our own swap-out to the file (or
        whoever writes first) must fail cleanly and lose nothing."""
        page = self.new_page(self.fault_owner, allow_zero=False)
        for t in self.core.table.types():
            self.core.table.device(t).faults.fail_next_writes(1, errno.ENOSPC)
        swp = None
        for _ in range(len(self.core.table.types()) + 1):  # each device fails once at most
            try:
                swp = self.core.swap_out(page, self.nozswap)
                break
            except SwapIOError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                self._io_error("swap_out_io_error")  # the slots were freed, the page is ours
        else:
            raise ZswapError("a swap-out kept failing after every one-shot fault was used")
        if swp is None:
            return
        self.fault_owner.ledger.put(swp, _crc(page), self.nozswap)
        self._verify_own(swp, page, "fault_write_enospc")

    # ------------------------------------------------------------------ checkpoints ---------
    def checkpoint(self, n: int) -> None:
        """All soak threads paused: invariants, then maybe a swapoff/swapon of the churn
        device and a faulty zsmalloc under a fresh pool."""
        z = self.zswap
        if not z.shrink_work_flush(timeout=120):
            self.unexpected("checkpoint", message="the shrink worker did not finish in 120 s")
            return
        for problem in check_invariants(self.core):
            self.unexpected(f"checkpoint {n} invariant", message=problem)
        self.report.checkpoints += 1
        if not self.cfg.concurrent_memcg_offline:
            self._offline_volatile()
            self.op("memcg_offline")
        if n % 2 == 1 and self.churn_type is not None:
            self._churn()
        if self.cfg.faults:
            self._prune_faulty_pools()
            if n % 2 == 0:
                self._fresh_faulty_pool()

    def _restore(self, swp: int, page: bytes) -> None:
        """swapoff's ``restore``: hand the page back to its owner, checked against its ledger."""
        for w in self.workers:
            if swp in w.ledger:
                crc, _ = w.ledger.crc[swp]
                self._check_load(f"swapoff->worker{w.index}", swp, page, crc, "swapoff")
                w.ledger.remove(swp)
                self.report.swapoff_pages += 1
                return
        self.unexpected("swapoff", message=f"slot {swp_type(swp)}:{swp_offset(swp)} has no "
                                           "owner (a leaked swap slot)")

    def _churn(self) -> None:
        t = self.churn_type
        assert t is not None
        if self.faulty is not None:
            self.faulty.clear()
        device = self.core.table.device(t)
        self._check_device_faults([t])
        try:
            self.core.swapoff(t, self._restore)
        except Exception as exc:
            self.unexpected("swapoff", exc)
            return
        finally:
            self._arm_faults()
        self.report.swapoffs += 1
        for op, n in device.faults.injected.items():  # the device is closed: keep its tally
            self.io_injected_closed[op] += n
        self.churn_type = self.core.swapon(self.cfg.churn_pages)

    def _fresh_faulty_pool(self) -> None:
        """Switch to a fresh compressor name (a fault-free :class:`FaultyCompressor` around a
        real codec): the first attempt runs out of memory while building the pool (nothing
        may change), the second succeeds; the new, empty pool gets a zsmalloc that fails
        allocations (every k-th, and maybe a page limit: "full"), exercised at once with
        pages of our own. The chaos thread switches away later; the pool lives until its
        last entry goes."""
        z = self.zswap
        base = ("lz4", "lzo", "zstd")[self.rng.randrange(3)]
        self._zs_made += 1
        comp = faulty_compressor(f"{self.tag}-zs{self._zs_made}", base)
        self.zs_compressors.append(comp)
        before = (z.compressor, [p.id for p in z.pools()])
        self.pool_faults.schedule.fail_next(1)
        try:
            z.set_param("compressor", comp.name)
            raise ZswapError("an injected allocation failure did not stop the pool creation")
        except AllocFail:
            self.expected("switch_pool_create_nomem")
        finally:
            self.pool_faults.schedule.clear()
        if (z.compressor, [p.id for p in z.pools()]) != before:
            raise ZswapError("a failed pool creation changed the pools")
        z.set_param("compressor", comp.name)
        zs = install_zs_pool(z, max_pages=self.rng.choice((None, 4, 16, 64)))
        zs.alloc_fail.fail_every(self.rng.choice((5, 17, 50)))
        self.zs_faulty.append(zs)
        self._exercise(zs)

    def _prune_faulty_pools(self) -> None:
        """Let go of faulty zsmallocs whose pool died (keeping their counts) and unregister
        the test compressors no live pool uses, so a long soak's bookkeeping stays flat."""
        for zs in [zs for zs in self.zs_faulty if zs.destroyed]:
            self.zs_closed["alloc_fail"] += zs.alloc_fail.injected
            self.zs_closed["zsmalloc_full"] += zs.full_failures
            self.zs_faulty.remove(zs)
        live = {p.tfm_name for p in self.zswap.pools()}
        for comp in self.zs_compressors[:-1]:
            if comp.name not in live:
                unregister(comp)
                self.zs_compressors.remove(comp)

    def _exercise(self, zs: FaultyZsPool) -> None:
        """64 pages through the faulty zsmalloc: each refused allocation must be counted as
        ``reject_alloc_fail`` and its page found on the swap file."""
        z = self.zswap
        for name, value in (("enabled", True), ("max_pool_percent", 40),
                            ("accept_threshold_percent", 100)):
            z.set_param(name, value)  # let the stores reach zsmalloc
        before = z.stats()["reject_alloc_fail"]
        failed = zs.alloc_fail.injected + zs.full_failures
        pages: dict[int, bytes] = {}
        for _ in range(64):
            got = self._own_page()
            if got is not None:
                pages[got[0]] = got[1]
        refused = zs.alloc_fail.injected + zs.full_failures - failed
        if z.stats()["reject_alloc_fail"] - before != refused:
            raise ZswapError(f"{refused} zsmalloc allocations failed but reject_alloc_fail "
                             f"moved by {z.stats()['reject_alloc_fail'] - before}")
        for swp, page in pages.items():
            self._verify_own(swp, page, "fault_zsmalloc")
        self._release_fault_slots()
        self.op("fault_zsmalloc")
    def _check_device_faults(self, types: list[int] | None = None) -> None:
        """Every I/O error a device counted was injected, and every injected one counted."""
        for t in self.core.table.types() if types is None else types:
            device = self.core.table.device(t)
            inj = device.faults.injected
            if device.write_errors != inj["write"] or device.read_errors != inj["read"]:
                self.unexpected("io accounting", message=(
                    f"swap type {t}: write_errors {device.write_errors} / read_errors "
                    f"{device.read_errors} but {inj['write']} / {inj['read']} injected"))

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


# ---------------------------------------------------------------------------- the command ----
@click.command()
@click.option("--seconds", type=finite_float(0, MAX_SECONDS, min_open=True), default=60.0,
              show_default=True, help="how long to run (at most a week)")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="worker threads (chaos, reclaim and fault threads come on top)")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="seed of every thread's choices (the interleaving still varies)")
@click.option("--faults/--no-faults", default=True, show_default=True,
              help="inject faults (compressor, zsmalloc, swap I/O, corruption, pool creation)")
@click.option("--cpus", "nr_cpus", type=click.IntRange(2, 64), default=4, show_default=True,
              help="logical CPUs of the CPU model (hot-plugged during the run)")
@click.option("--lifetime", type=click.Choice(["pool", "lock-retry"]), default="pool",
              show_default=True, help="per-CPU context lifetime strategy")
@click.option("--memcg-offline", type=click.Choice(["concurrent", "checkpoint"]),
              default="concurrent", show_default=True,
              help="remove a busy memcg while other threads use it, or only at checkpoints")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.pass_context
def soak(ctx: click.Context, seconds: float, threads: int, seed: int, faults: bool,
         nr_cpus: int, lifetime: str, memcg_offline: str, as_json: bool) -> None:
    """Run zswap under many concurrent threads with faults and check nothing is lost.

    Workers swap pages out and in, overwrite and free them, each checking every load against
    a checksum ledger, while other threads switch compressors, hot-plug CPUs, change
    parameters, write back and compact. Exit status 1 if any page mismatched, an unexpected
    error occurred or a resource leaked.
    """
    report = run_soak(seconds, threads, seed, faults=faults, nr_cpus=nr_cpus, lifetime=lifetime,
                      concurrent_memcg_offline=memcg_offline == "concurrent")
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        ctx.exit(1)


def main(argv: list[str] | None = None) -> int:
    """``python -m pyzswap.soak``: the command alone, errors as one line and status 2."""
    terminate_on_sigterm()
    try:
        soak.main(args=argv, prog_name="pyzswap soak", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("pyzswap: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"pyzswap: error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except (ZswapError, OSError, ValueError, OverflowError, MemoryError) as exc:
        message = main_error_message(exc)
        if message is None:  # pragma: no cover
            raise
        click.echo(f"pyzswap: error: {' '.join(message.split())}", err=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
