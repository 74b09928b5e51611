"""The per-CPU context designs that share contexts among pools, and the pool-lifecycle rules
every design must keep: a pool released inside a CPU's PREPARE is destroyed after it (never
prepared again once freed), compressor switches are serialised by the parameter lock, a batch
size above ZSWAP_MAX_BATCH_SIZE is clamped, and reclaim blocked inside a switch stalls only the
switch and CPU hotplug.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.compress import (
    ZSWAP_MAX_BATCH_SIZE,
    register_compressor,
    unregister_compressor,
)
from pyzswap.cpu import CpuModel
from pyzswap.pool import GLOBAL_DESIGNS, LIFETIMES, kernel_percpu_bytes
from pyzswap.tools.lab.ctx_lab import RecordingBatcher, recording_batcher

from .conftest import mixed_page, text_page

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")


@pytest.fixture
def wide16() -> Iterator[RecordingBatcher]:
    c = recording_batcher("test-wide16", 16)
    register_compressor(c)  # the kernel's crypto API has no such limit; zswap clamps
    yield c
    unregister_compressor(c.name)


@pytest.fixture
def wide8() -> Iterator[RecordingBatcher]:
    c = recording_batcher("test-wide8", 8)
    register_compressor(c)
    yield c
    unregister_compressor(c.name)


def _zswap(lifetime: str, nr_cpus: int = 4, compressor: str = "lz4", **kw: object) -> Zswap:
    z = Zswap(compressor=compressor, totalram_pages=None, cpus=CpuModel(nr_cpus),
              lifetime=lifetime, **kw)  # type: ignore[arg-type]
    z.swapon(0, 1 << 12)
    return z


def _load(z: Zswap, off: int) -> bytes:
    out = bytearray(PAGE_SIZE)
    assert z.load(out, 0, off)
    return bytes(out)


# ---------------------------------------------------------------------------- the leak -------
@pytest.mark.parametrize("lifetime", LIFETIMES)
def test_pool_emptied_by_reclaim_inside_cpu_prepare_is_destroyed_after_it(lifetime: str) -> None:
    """Reclaim run by an allocation of a CPU's PREPARE frees the old pool's last entry: the
    pool must not be destroyed inside the hotplug call and then prepared for that CPU
    (a context nobody would ever free); the kernel's release work waits for the hotplug lock."""
    cpus = CpuModel(4, online=2)
    armed = {"on": False}
    holder: dict[str, Zswap] = {}

    def reclaim(nbytes: int, what: str) -> None:
        if armed["on"] and "cpu3" in what:
            armed["on"] = False
            holder["z"].invalidate(0, 0)  # the old pool's last entry goes

    z = Zswap(compressor="lz4", totalram_pages=None, cpus=cpus, lifetime=lifetime,
              mem_hook=reclaim)
    holder["z"] = z
    z.swapon(0, 16)
    assert z.store(text_page(0), 0, 0)
    old = z.current_pool()
    z.set_param("compressor", "zstd")
    assert not old.destroyed
    armed["on"] = True
    cpus.cpu_up(3)
    assert not armed["on"] and old.destroyed
    assert not any(row["allocated"] for row in old.ctx_report())
    assert [p.tfm_name for p in z.pools()] == ["zstd"]
    assert z.current_pool().ctx_report()[3]["allocated"] or lifetime in GLOBAL_DESIGNS
    z.close()
    assert not any(row["allocated"] for row in old.ctx_report())


def test_release_waits_for_a_hotplug_operation_in_another_thread() -> None:
    """A store that frees a pool's last entry while another thread holds the hotplug lock does
    not wait for it: the pool is destroyed when that thread lets go."""
    z = _zswap("pool")
    assert z.store(text_page(0), 0, 0)
    old = z.current_pool()
    z.set_param("compressor", "zstd")
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def hotplug() -> None:
        with z.cpus.hotplug_lock:
            holding.set()
            release.wait(30)
        done.set()

    t = threading.Thread(target=hotplug)
    t.start()
    holding.wait(30)
    assert z.cpus.hotplug_lock.busy()
    assert z.invalidate(0, 0)  # returns at once: the release is deferred
    assert not old.destroyed and old not in z.pools()
    release.set()
    t.join(30)
    assert done.is_set() and old.destroyed
    z.close()


# ---------------------------------------------------------------------------- the param lock --
class _SignallingLock:
    """threading.Lock that says when a caller has to wait for it."""

    def __init__(self, contended: threading.Event) -> None:
        self._lock = threading.Lock()
        self._contended = contended

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self._contended.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


@pytest.mark.parametrize("lifetime", ["pool", "lock-retry"])
def test_concurrent_compressor_switches_are_serialised(lifetime: str) -> None:
    """Two writers switch to zstd at once: the second waits for the first (the kernel's param
    lock) and finds its pool, so exactly one pool is built and none thrown away."""
    blocked, release, contended = threading.Event(), threading.Event(), threading.Event()
    first: dict[str, threading.Thread] = {}

    def hook(nbytes: int, what: str) -> None:
        me = threading.current_thread()
        if "first" not in first:
            return
        if me is first["first"]:
            if not blocked.is_set():
                blocked.set()
                release.wait(30)
        else:
            contended.set()  # the second switch is building a pool of its own

    z = _zswap(lifetime, mem_hook=hook)
    z._param_lock = _SignallingLock(contended)  # type: ignore[assignment]
    before = z._pool_counter
    t1 = threading.Thread(target=z.set_param, args=("compressor", "zstd"))
    first["first"] = t1
    t1.start()
    assert blocked.wait(30)
    t2 = threading.Thread(target=z.set_param, args=("compressor", "zstd"))
    t2.start()
    assert contended.wait(30)  # t2 waits for the lock (or, unserialised, builds a pool)
    release.set()
    t1.join(30)
    t2.join(30)
    assert z._pool_counter - before == 1
    assert [p.tfm_name for p in z.pools()] == ["zstd", "lz4"] or \
        [p.tfm_name for p in z.pools()] == ["zstd"]
    z.close()


# ---------------------------------------------------------------------------- the clamp ------
@pytest.mark.parametrize("lifetime", ["pool", "lock-retry", "global-max"])
def test_batch_size_above_the_maximum_is_clamped(wide16: RecordingBatcher,
                                                 lifetime: str) -> None:
    """zswap_pool_create: compr_batch_size = min(ZSWAP_MAX_BATCH_SIZE, the compressor's)."""
    z = _zswap(lifetime, compressor=wide16.name)
    pool = z.current_pool()
    assert pool.compr_batch_size == ZSWAP_MAX_BATCH_SIZE
    (report,) = z.pool_report()
    assert report["batch_size"] == ZSWAP_MAX_BATCH_SIZE
    buffers = {len(ctx.res.buffers) for ctx in pool.acomp_ctx if ctx.res is not None}
    assert buffers == {ZSWAP_MAX_BATCH_SIZE}
    folio = b"".join(mixed_page(i) for i in range(20))
    assert z.store(folio, 0, 0)
    assert wide16.batches and max(wide16.batches) == ZSWAP_MAX_BATCH_SIZE
    for i in range(20):
        assert _load(z, i) == mixed_page(i)
    z.close()


# ---------------------------------------------------------------------------- blocked reclaim -
@pytest.mark.parametrize("lifetime", LIFETIMES)
def test_blocked_reclaim_in_a_switch_stalls_only_the_switch_and_hotplug(lifetime: str) -> None:
    blocked, release = threading.Event(), threading.Event()

    def hook(nbytes: int, what: str) -> None:
        # block in the first per-CPU allocation of the new pool (inside its cpuhp instance add)
        if what.startswith("acomp ") and "zstd" in what and not blocked.is_set():
            blocked.set()
            release.wait(30)

    z = _zswap(lifetime, mem_hook=hook)
    for i in range(8):
        assert z.store(text_page(i), 0, i)
    switch = threading.Thread(target=z.set_param, args=("compressor", "zstd"))
    switch.start()
    try:
        assert blocked.wait(30)
        # stores and loads go on, on the old pool, in this thread
        for i in range(8, 40):
            assert z.store(mixed_page(i), 0, i)
        for i in range(8):
            assert _load(z, i) == text_page(i)
        assert z.compressor == "lz4"
        assert z.cpus.hotplug_lock.busy()  # a CPU going up or down would wait
        assert z._param_lock.locked()  # so would another parameter write
    finally:
        release.set()
        switch.join(30)
    assert not switch.is_alive() and z.compressor == "zstd"
    for i in range(8, 40):
        assert _load(z, i) == mixed_page(i)
    z.close()


# ---------------------------------------------------------------------------- shared designs --
@pytest.mark.parametrize("lifetime", GLOBAL_DESIGNS)
def test_global_context_is_allocated_once_and_shared_by_every_pool(lifetime: str) -> None:
    labels: list[str] = []
    z = _zswap(lifetime, mem_hook=lambda n, what: labels.append(what))
    shared = z.shared_report()
    slots = ZSWAP_MAX_BATCH_SIZE if lifetime == "global-max" else 1
    assert shared is not None and shared["slots"] == slots
    assert shared["cpus_holding"] == [0, 1, 2, 3]
    setup_buffers = sum(label.startswith("buffer global") for label in labels)
    assert setup_buffers == 4 * slots
    assert z.store(text_page(0), 0, 0)
    labels.clear()
    z.set_param("compressor", "zstd")
    kinds = [label.split()[0] for label in labels]
    assert "buffer" not in kinds and "acomp_ctx" not in kinds  # no buffers or requests...
    assert kinds.count("acomp") == 4  # ...but a transform per CPU for the new pool
    lz4, zstd = z.pools()[1], z.pools()[0]
    assert all(a.mutex is b.mutex for a, b in zip(lz4.acomp_ctx, zstd.acomp_ctx, strict=True))
    assert z.pool_report()[0]["ctx_bytes"] == 0  # the pools own none of it
    z.cpus.cpu_down(2)
    assert z.shared_report()["cpus_holding"] == [0, 1, 2, 3]  # type: ignore[index]
    assert _load(z, 0) == text_page(0)
    z.close()
    assert z.shared_ctxs is not None and z.shared_ctxs.cpus_holding() == []


def test_global_one_cannot_batch_a_batching_compressor(wide8: RecordingBatcher) -> None:
    z = _zswap("global-one", compressor=wide8.name)
    assert z.current_pool().compr_batch_size == 1
    folio = b"".join(mixed_page(i) for i in range(16))
    assert z.store(folio, 0, 0)
    assert wide8.batches == []  # one page per call
    for i in range(16):
        assert _load(z, i) == mixed_page(i)
    z.close()
    g = _zswap("global-max", compressor=wide8.name)
    assert g.store(folio, 0, 0) and max(wide8.batches) == 8
    g.close()


def test_percpu_shared_buffer_and_mutex_come_and_go_with_the_cpu() -> None:
    z = _zswap("percpu-shared")
    assert z.store(text_page(0), 0, 0)
    z.set_param("compressor", "zstd")
    lz4, zstd = z.pools()[1], z.pools()[0]
    assert lz4.acomp_ctx[1].mutex is zstd.acomp_ctx[1].mutex  # one per CPU, for all pools
    old_res = zstd.acomp_ctx[1].res
    assert old_res is not None and old_res.buffers is lz4.acomp_ctx[1].res.buffers  # type: ignore[union-attr]
    z.cpus.cpu_down(1)
    assert 1 not in z.shared_report()["cpus_holding"]  # type: ignore[index]
    assert not zstd.ctx_report()[1]["allocated"] and not lz4.ctx_report()[1]["allocated"]
    assert old_res.freed  # buffer and mutex freed with the CPU
    z.cpus.cpu_up(1)
    new_res = zstd.acomp_ctx[1].res
    assert new_res is not None and new_res.buffers is not old_res.buffers  # kmalloc'd again
    assert zstd.acomp_ctx[1].mutex is lz4.acomp_ctx[1].mutex
    z.cpus.migrate_current(1)
    assert _load(z, 0) == text_page(0)
    assert z.store(text_page(1), 0, 1) and _load(z, 1) == text_page(1)
    z.close()


@pytest.mark.parametrize("lifetime", LIFETIMES)
def test_every_design_switches_cycles_cpus_and_frees_everything(lifetime: str) -> None:
    z = _zswap(lifetime, nr_cpus=4)
    model: dict[int, bytes] = {}
    for step, name in enumerate(("zstd", "lzo", "lz4", "deflate")):
        for cpu in (1, 2, 3):
            z.cpus.migrate_current(cpu)
            off = step * 10 + cpu
            model[off] = mixed_page(off)
            assert z.store(model[off], 0, off)
        z.set_param("compressor", name)
        z.cpus.migrate_current(0)
        z.cpus.cpu_down(1 + step % 3)
        z.cpus.cpu_up(1 + step % 3)
    for off, page in model.items():
        assert _load(z, off) == page
    assert [p.tfm_name for p in z.pools()] == ["deflate"]
    held = z.stream_report()
    assert set(held) == {"lz4", "zstd", "lzo", "deflate"}  # kept after their pools went
    z.close()
    assert z.stream_report() == {}
    if z.shared_ctxs is not None:
        assert z.shared_ctxs.memory_bytes() == 0


def test_kernel_equivalent_derivations() -> None:
    one = sum(kernel_percpu_bytes("pool", 1).values())
    assert one == 88 + 96 + 4096
    assert sum(kernel_percpu_bytes("lock-retry", 8).values()) == 88 + 96 + 8 * 4096 + 64
    gmax = sum(kernel_percpu_bytes("global-max", 1).values())
    gone = sum(kernel_percpu_bytes("global-one", 1).values())
    assert gmax - gone == 7 * (4096 + 96) + 2 * 64  # the 6.18 analogue of "~57 KB"
    assert sum(kernel_percpu_bytes("percpu-shared", 1, pools=3).values()) == \
        4096 + 32 + 3 * (64 + 96)
