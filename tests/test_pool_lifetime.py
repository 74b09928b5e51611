"""Per-CPU compression contexts under CPU hotplug: the six context designs.

The races are provoked with deterministic schedules: ``CpuModel.preempt_hook`` runs a hotplug
operation at an exact point between a thread's context lookup and its use.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.cpu import CpuModel, HotplugError
from pyzswap.errors import AllocFail, UseAfterFree
from pyzswap.pool import LIFETIMES, STABLE_DESIGNS, kernel_percpu_bytes

from .conftest import mixed_page, text_page

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")


def _zswap(lifetime: str, nr_cpus: int = 4, **kw: object) -> tuple[Zswap, CpuModel]:
    cpus = CpuModel(nr_cpus)
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=cpus, lifetime=lifetime,
              **kw)  # type: ignore[arg-type]
    z.swapon(0, 1 << 14)
    return z, cpus


def _in_other_thread(fn: Callable[[], object]) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "hotplug operation deadlocked"
    assert not errors, errors


def _hotunplug_at(cpus: CpuModel, point: str, cpu: int) -> list[str]:
    """Install a hook that takes ``cpu`` offline (from another thread) once, at ``point``."""
    fired: list[str] = []

    def hook(where: str, on_cpu: int) -> None:
        if where == point and on_cpu == cpu and not fired:
            fired.append(where)
            _in_other_thread(lambda: cpus.cpu_down(cpu))

    cpus.preempt_hook = hook
    return fired


def _load(z: Zswap, off: int) -> bytes:
    out = bytearray(PAGE_SIZE)
    assert z.load(out, 0, off)
    return bytes(out)


@pytest.mark.parametrize("lifetime", ["naive", "percpu-shared"])
@pytest.mark.parametrize("point", ["acomp_ctx_get", "acomp_ctx_locked"])
def test_naive_lifetime_race_is_detected_never_silent(point: str, lifetime: str) -> None:
    z, cpus = _zswap(lifetime)
    cpus.migrate_current(1)
    fired = _hotunplug_at(cpus, point, 1)
    with pytest.raises(UseAfterFree):
        z.store(text_page(1), 0, 10)
    assert fired and z.ctx_use_after_free == 1
    assert z.lookup(0, 10) is None and z.stats()["stored_pages"] == 0  # nothing half-stored
    assert z.stats()["pool_total_size"] == 0
    # The same race on the load side: the entry survives the detected use.
    cpus.preempt_hook = None
    cpus.cpu_up(1)
    cpus.migrate_current(1)
    assert z.store(text_page(2), 0, 11)
    _hotunplug_at(cpus, point, 1)
    with pytest.raises(UseAfterFree):
        z.load(bytearray(PAGE_SIZE), 0, 11)
    assert z.ctx_use_after_free == 2
    cpus.preempt_hook = None
    assert _load(z, 11) == text_page(2)


@pytest.mark.parametrize("lifetime", STABLE_DESIGNS)
@pytest.mark.parametrize("point", ["acomp_ctx_get", "acomp_ctx_locked"])
def test_pool_lifetime_survives_the_same_schedule(point: str, lifetime: str) -> None:
    z, cpus = _zswap(lifetime)
    cpus.migrate_current(1)
    fired = _hotunplug_at(cpus, point, 1)
    assert z.store(text_page(1), 0, 10)  # the migrated thread keeps using CPU 1's context
    assert fired and z.ctx_use_after_free == 0
    cpus.preempt_hook = None
    assert _load(z, 10) == text_page(1)


def test_lock_retry_retries_on_the_new_cpu() -> None:
    z, cpus = _zswap("lock-retry")
    cpus.migrate_current(1)
    # Unplug between the lookup and the mutex: the dead callback frees; the user retries.
    # (At "acomp_ctx_locked" the dead callback would wait for our mutex: no race to show.)
    fired = _hotunplug_at(cpus, "acomp_ctx_get", 1)
    assert z.store(text_page(1), 0, 10)
    assert fired and z.ctx_use_after_free == 0
    assert cpus.current() != 1
    row = z.current_pool().ctx_report()[1]
    assert row["allocated"] is False and row["frees"] == 1
    cpus.preempt_hook = None
    assert _load(z, 10) == text_page(1)


def test_offline_online_allocates_nothing_under_pool_and_reallocates_under_lock_retry() -> None:
    for lifetime, allocated_offline, allocations, frees in (
        ("pool", True, 1, 0), ("lock-retry", False, 2, 1), ("naive", False, 2, 1),
        ("global-max", True, 1, 0), ("global-one", True, 1, 0), ("percpu-shared", False, 2, 1),
    ):
        z, cpus = _zswap(lifetime)
        before = z.current_pool().ctx_report()[2]
        assert before["allocated"] and before["allocations"] == 1
        cpus.cpu_down(2)
        offline = z.current_pool().ctx_report()[2]
        assert offline["online"] is False
        assert offline["allocated"] is allocated_offline, lifetime
        cpus.cpu_up(2)
        after = z.current_pool().ctx_report()[2]
        assert after["allocated"] and after["online"]
        assert (after["allocations"], after["frees"]) == (allocations, frees), lifetime


def test_pool_created_while_a_cpu_is_offline_prepares_it_when_it_comes_online() -> None:
    cpus = CpuModel(4, online=2)
    z = Zswap(compressor="lzo", totalram_pages=None, cpus=cpus)
    rows = z.current_pool().ctx_report()
    assert [r["allocated"] for r in rows] == [True, True, False, False]
    cpus.cpu_up(3)
    assert z.current_pool().ctx_report()[3]["allocated"]


def test_destroy_frees_every_cpu_including_offline_ones() -> None:
    for lifetime in LIFETIMES:
        z, cpus = _zswap(lifetime)
        assert z.store(text_page(0), 0, 0)
        old = z.current_pool()
        cpus.cpu_down(3)
        z.set_param("compressor", "zstd")
        assert not old.destroyed  # still holds an entry
        z.invalidate(0, 0)
        assert old.destroyed
        assert all(not row["allocated"] for row in old.ctx_report()), lifetime
        assert old.ctx_memory_bytes() == 0


def test_pool_report_and_kernel_equivalent_cost() -> None:
    z, cpus = _zswap("pool", nr_cpus=8)
    cpus.cpu_down(5)
    (report,) = z.pool_report()
    assert report["compressor"] == "lz4" and report["lifetime"] == "pool" and report["current"]
    assert report["cpus_holding"] == list(range(8))  # offline CPU 5 keeps its resources
    # 6.18: struct crypto_acomp_ctx 88 + one request (kmalloc-96) + one PAGE_SIZE buffer
    assert report["kernel_ctx_bytes_per_cpu"] == 88 + 96 + 4096
    assert report["kernel_ctx_bytes"] == 8 * (88 + 96 + 4096)
    assert report["ctx_bytes"] >= 8 * PAGE_SIZE
    assert sum(kernel_percpu_bytes("pool", 8).values()) == 88 + 96 + 8 * 4096 + 64
    assert z.shared_report() is None
    assert z.stream_report() == {"lz4": list(range(8))}  # kept for the offline CPU too


@pytest.mark.parametrize("lifetime", LIFETIMES)
def test_compressor_switch_under_reclaim_on_every_allocation(lifetime: str) -> None:
    """Pool creation allocates through a hook that "reclaims" by storing into the old pool."""
    model: dict[int, bytes] = {}
    calls = {"n": 0}
    labels: list[str] = []
    holder: dict[str, Zswap] = {}

    def reclaim(nbytes: int, what: str) -> None:
        # Direct reclaim: swap a page out, which re-enters zswap_store on the current pool.
        calls["n"] += 1
        labels.append(what)
        z = holder.get("z")
        if z is None:
            return
        off = 1000 + calls["n"]
        page = mixed_page(off)
        assert z.store(page, 0, off)
        model[off] = page

    def run() -> None:
        z, _ = _zswap(lifetime, nr_cpus=8, mem_hook=reclaim)
        holder["z"] = z
        for off in range(20):
            assert z.store(text_page(off), 0, off)
            model[off] = text_page(off)
        for name in ("zstd", "lzo", "lz4", "deflate", "zstd"):
            z.set_param("compressor", name)
        for off, page in model.items():
            assert _load(z, off) == page
        assert z.stats()["stored_pages"] == 0 and z.stats()["pool_total_size"] == 0
        assert len(z.pools()) == 1

    _in_other_thread(run)
    # initial lz4, then new zstd, lzo, deflate pools (lz4 and zstd are reused: they hold
    # entries): every allocation of their creation went through the hook, per-CPU or not
    kinds = [label.split()[0] for label in labels]
    assert kinds.count("zswap_pool") == kinds.count("zs_pool") == 4
    assert kinds.count("percpu_ref") == kinds.count("alloc_percpu") == 4
    assert kinds.count("acomp") == 4 * 8  # a transform per pool per CPU in every design
    assert kinds.count("stream") == 4 * 8  # one stream per algorithm per CPU
    per_pool_ctx = 0 if lifetime in ("global-max", "global-one") else 4 * 8
    assert kinds.count("acomp_ctx") == per_pool_ctx


def test_allocation_failure_during_switch_changes_nothing() -> None:
    fail = {"on": False}

    def hook(nbytes: int, what: str) -> None:
        if fail["on"] and "cpu2" in what:
            raise AllocFail("no memory for the new pool's context")

    z, _ = _zswap("pool", mem_hook=hook)
    assert z.store(text_page(3), 0, 3)
    fail["on"] = True
    with pytest.raises(AllocFail):
        z.set_param("compressor", "zstd")
    assert z.compressor == "lz4" and [p.tfm_name for p in z.pools()] == ["lz4"]
    assert _load(z, 3) == text_page(3)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Make the interpreter switch threads every few microseconds (more interleavings)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


@pytest.mark.usefixtures("fast_switching")
@pytest.mark.parametrize("lifetime", ["pool", "lock-retry", "global-max", "global-one"])
def test_stress_hotplug_migration_and_switching(lifetime: str) -> None:
    """Workers store/load/invalidate on their own slots while CPUs come and go and the
    compressor changes; seeded, bounded, no sleeps."""
    z, cpus = _zswap(lifetime, nr_cpus=6)
    pages = [mixed_page(i) for i in range(32)]
    nr_workers, slots_per_worker, ops = 4, 300, 3000
    start = threading.Barrier(nr_workers + 2)
    models: list[dict[int, bytes]] = [{} for _ in range(nr_workers)]
    failures: list[str] = []

    def worker(k: int) -> None:
        rng = random.Random(k)
        model = models[k]
        base = k * slots_per_worker
        start.wait()
        for _ in range(ops):
            off = base + rng.randrange(slots_per_worker)
            op = rng.random()
            if op < 0.1:
                with contextlib.suppress(HotplugError):
                    cpus.migrate_current(rng.randrange(cpus.nr_possible))
            if op < 0.5:
                page = pages[rng.randrange(len(pages))]
                assert z.store(page, 0, off)
                model[off] = page
            elif op < 0.8:
                out = bytearray(PAGE_SIZE)
                found = z.load(out, 0, off, swapcache=rng.random() < 0.5)
                if found != (off in model) or (found and bytes(out) != model[off]):
                    failures.append(f"slot {off}: mismatch")
                if found and z.lookup(0, off) is None:
                    del model[off]
            else:
                assert z.invalidate(0, off) == (off in model)
                model.pop(off, None)

    def hotplug() -> None:
        rng = random.Random(99)
        start.wait()
        for _ in range(1500):
            cpu = rng.randrange(cpus.nr_possible)
            with contextlib.suppress(HotplugError):
                if cpus.is_online(cpu):
                    cpus.cpu_down(cpu)
                else:
                    cpus.cpu_up(cpu)

    def switcher() -> None:
        rng = random.Random(7)
        start.wait()
        for _ in range(100):
            z.set_param("compressor", rng.choice(["lz4", "lzo", "zstd"]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(nr_workers)]
    threads += [threading.Thread(target=hotplug), threading.Thread(target=switcher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "stress test deadlocked"
    assert not failures, failures[:5]
    assert z.ctx_use_after_free == 0
    for model in models:
        for off, page in model.items():
            assert _load(z, off) == page
    st = z.stats()
    assert st["stored_pages"] == 0 and st["pool_total_size"] == 0
    pools = z.pools()
    assert len(pools) == 1 and pools[0] is z.current_pool()


@pytest.mark.parametrize("lifetime", ["pool", "global-max", "percpu-shared"])
def test_a_batching_pool_runs_single_pages_on_its_base_codec(
        lifetime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A native batching pool's contexts name the base transform as the one single pages run
    on, and the C flow stores and loads a 4 KiB page with it directly, never through the
    batching transform's Python forwarding methods."""
    from pyzswap.compress.native import NativeBatchingTransform

    z = Zswap(compressor="lz4-x2", totalram_pages=None, flow="native", lifetime=lifetime)
    try:
        res = z.current_pool().acomp_ctx[0].res
        assert res is not None and isinstance(res.tfm, NativeBatchingTransform)
        assert res.single is res.tfm.base

        def forwarded(*args: object) -> int:
            raise AssertionError("the single page went through the batching transform")

        monkeypatch.setattr(NativeBatchingTransform, "compress", forwarded)
        monkeypatch.setattr(NativeBatchingTransform, "decompress", forwarded)
        z.swapon(0, 16)
        page = text_page(3)
        assert z.store(page, 0, 5)
        out = bytearray(PAGE_SIZE)
        assert z.load(out, 0, 5) and out == page
    finally:
        z.close()
