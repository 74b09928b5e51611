"""Native batching engines: the C job protocol, batching compressors on it, and zswap's
streaming store through them (byte-exact, all-or-nothing, nothing stale)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pyzswap import Zswap
from pyzswap._native import Engines
from pyzswap.compress import (
    PAGE_SIZE,
    BatchingCompressor,
    get_compressor,
    register_compressor,
    unregister_compressor,
)
from pyzswap.compress.native import (
    NATIVE_ALGORITHMS,
    NativeBatchingTransform,
    native_gates,
    native_versions,
)
from pyzswap.errors import CompressPoor, DecompressFail
from pyzswap.memcg import MemCgroup
from pyzswap.tools.faults import install_zs_pool
from pyzswap.tools.pagesets import make_pages

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")

ALGOS = sorted(NATIVE_ALGORITHMS)
REAL = make_pages("real", 96, seed=11)
PAGES = [REAL[i:i + PAGE_SIZE] for i in range(0, len(REAL), PAGE_SIZE)]
RANDOM = os.urandom(PAGE_SIZE)  # incompressible: -ENOSPC into a 4096-byte buffer
#: A compress result that is not a codec failure: a length, or -ENOSPC (does not fit).
FITS_OR_ENOSPC = frozenset([-28, *range(1, PAGE_SIZE + 1)])


def _compressed(algo: str, page: bytes) -> bytes | None:
    """What the Python-side codec makes of a page (None: does not fit a page)."""
    buf = bytearray(PAGE_SIZE)
    try:
        n = get_compressor(algo).new_transform().compress(page, buf)
    except CompressPoor:
        return None
    return bytes(buf[:n])


@pytest.fixture
def engines() -> Iterator[list[Engines]]:
    made: list[Engines] = []
    yield made
    for e in made:
        e.close()
        assert e.live == 0


def _eng(made: list[Engines], algo: str, threads: int = 2) -> Engines:
    e = Engines(algo, NATIVE_ALGORITHMS[algo], threads)
    made.append(e)
    return e


# ---------------------------------------------------------------- the C job protocol --------
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("wake", [0, -1])
def test_batch_round_trip_is_byte_exact(engines: list[Engines], algo: str, wake: int) -> None:
    e = _eng(engines, algo)
    pages = [*PAGES[:40], RANDOM, *PAGES[40:]]
    dsts = [bytearray(PAGE_SIZE) for _ in pages]
    with e.compress(pages, dsts, wake) as job:
        codes = job.wait()
    assert codes[40] == -28  # -ENOSPC: the random page does not fit
    assert all(c > 0 or c == -28 for c in codes)  # no codec failure
    ok = [i for i, c in enumerate(codes) if c > 0]
    assert len(ok) >= len(pages) - 8  # the real set holds a few incompressible pages
    streams = [bytes(dsts[i][:codes[i]]) for i in ok]
    outs = [bytearray(PAGE_SIZE) for _ in ok]
    with e.decompress(streams, outs, wake) as job:
        assert job.wait() == [PAGE_SIZE] * len(ok)
    assert all(outs[k] == pages[i] for k, i in enumerate(ok))
    # the Python-side codec decodes every native stream too
    base = get_compressor(algo).new_transform()
    out = bytearray(PAGE_SIZE)
    for k, i in enumerate(ok[:8]):
        assert base.decompress(streams[k], out) == PAGE_SIZE and out == pages[i]


@pytest.mark.parametrize("algo", ["lz4", "lz4hc", "lzo", "lzo-rle", "deflate"])
def test_same_streams_as_the_python_codecs(engines: list[Engines], algo: str) -> None:
    e = _eng(engines, algo)
    dsts = [bytearray(PAGE_SIZE) for _ in PAGES]
    with e.compress([REAL], dsts) as job:  # one buffer of 96 pages
        codes = job.wait()
    for page, code, dst in zip(PAGES, codes, dsts, strict=True):
        ref = _compressed(algo, page)
        assert (code < 0) if ref is None else bytes(dst[:code]) == ref


def test_ring_streams_pages_through_few_slots(engines: list[Engines]) -> None:
    e = _eng(engines, "zstd")
    ring = [bytearray(PAGE_SIZE) for _ in range(3)]
    with e.compress(PAGES, ring) as job:
        assert job.pages == len(PAGES)
        for i in range(len(PAGES)):
            n = job.take(i)
            if n < 0:  # one of the real set's incompressible pages
                assert n == -28
                continue
            # slot i % 3 holds page i until the next take; the engines' zstd may differ from
            # zstandard's by a few bytes, so compare what it decodes to
            out = bytearray(PAGE_SIZE)
            get_compressor("zstd").new_transform().decompress(ring[i % 3][:n], out)
            assert out == PAGES[i]
        with pytest.raises(IndexError, match="in order"):
            job.take(0)
    with pytest.raises(ValueError, match="closed"):
        job.take(len(PAGES) - 1)


def test_protocol_errors(engines: list[Engines]) -> None:
    e = _eng(engines, "lz4")
    with pytest.raises(ValueError, match="whole 4096-byte pages"):
        e.compress([b"x" * 100], [bytearray(PAGE_SIZE)])
    with pytest.raises(ValueError, match="dsts is empty"):
        e.compress(PAGES[:2], [])
    with pytest.raises(ValueError, match="destinations"):
        e.decompress([b"ab", b"cd"], [bytearray(PAGE_SIZE)])
    with pytest.raises(BufferError, match="not writable"):
        e.compress([bytearray(PAGE_SIZE)], [b"read-only" * 500])
    with pytest.raises(ValueError, match="no native engine"):
        Engines("lz5")
    with pytest.raises(ValueError, match="threads"):
        Engines("lz4", 0, 1000)
    ring = [bytearray(PAGE_SIZE) for _ in range(2)]
    with e.compress(PAGES[:10], ring, 0) as job:
        with pytest.raises(ValueError, match="ring job"):
            job.wait()  # 10 pages cannot all be in a 2-slot ring
        for i in range(8):
            job.take(i)
        assert len(job.wait()) == 10
    # corrupt streams fail per page; the others decode
    good = _compressed("lz4", PAGES[0])
    assert good is not None
    outs = [bytearray(PAGE_SIZE) for _ in range(3)]
    with e.decompress([good, b"\xff" * 20, good], outs) as job:
        codes = job.wait()
    assert codes[0] == codes[2] == PAGE_SIZE and codes[1] < 0


def test_engines_start_on_demand_stop_and_restart(engines: list[Engines]) -> None:
    e = _eng(engines, "zstd", threads=2)
    assert e.live == 0 and e.threads == 2 and e.algorithm == "zstd"
    with e.compress(PAGES[:8], [bytearray(PAGE_SIZE) for _ in range(8)], 0) as job:
        job.wait()
    assert e.live == 0 and e.engine_pages == 0  # wake=0: the caller alone, no thread started
    big = REAL * 6  # 576 pages of zstd: engines certainly join in
    ring = [bytearray(PAGE_SIZE) for _ in range(8)]
    with e.compress([big], ring) as job:
        for i in range(job.pages):
            job.take(i)
        assert job.engine_pages > 0
    assert e.live == 2
    e.close()
    assert e.live == 0
    with e.compress([big], ring) as job:  # a later job starts them again
        for i in range(job.pages):
            assert job.take(i) in FITS_OR_ENOSPC
    assert e.live == 2


def test_closing_engines_under_a_job_never_hangs(engines: list[Engines]) -> None:
    e = _eng(engines, "deflate", threads=2)
    ring = [bytearray(PAGE_SIZE) for _ in range(8)]
    with e.compress([REAL * 4], ring) as job:
        job.take(0)
        e.close()  # the engines leave; the caller finishes the job alone
        codes = [job.take(i) for i in range(1, job.pages)]
    assert all(c in FITS_OR_ENOSPC for c in codes)


def test_closing_a_job_midway_releases_it(engines: list[Engines]) -> None:
    e = _eng(engines, "zstd")
    ring = [bytearray(PAGE_SIZE) for _ in range(8)]
    job = e.compress([REAL * 4], ring)
    job.take(0)
    job.close()
    job.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        job.poll()
    assert set(native_versions()) == {"lz4", "zstd", "lzo", "zlib"}


# ---------------------------------------------------------------- batching compressors -----
@pytest.mark.parametrize("algo", ["lz4", "zstd", "lzo", "lzo-rle", "deflate"])
def test_batching_compressor_on_native_engines(algo: str) -> None:
    c = BatchingCompressor(algo, 2, min_parallel_us=0)
    try:
        assert c.engine == "native" and c.name == f"{algo}-x2"
        t = c.new_transform()
        assert isinstance(t, NativeBatchingTransform)
        pages = [PAGES[0], RANDOM, *PAGES[1:9]]
        dsts = [bytearray(PAGE_SIZE) for _ in pages]
        results = t.compress_batch(pages, dsts)
        assert isinstance(results[1], CompressPoor)
        ok = [i for i, r in enumerate(results) if isinstance(r, int)]
        srcs = [bytes(dsts[i][:results[i]]) for i in ok]  # type: ignore[index]
        srcs.insert(1, b"\x00garbage")
        outs = [bytearray(PAGE_SIZE) for _ in srcs]
        back = t.decompress_batch(srcs, outs)
        assert isinstance(back[1], DecompressFail)
        del outs[1], back[1]
        assert back == [PAGE_SIZE] * len(ok)
        assert [bytes(o) for o in outs] == [pages[i] for i in ok]
        assert t.parallel_batches == 2 and c.started
        # single pages run on the caller's own context
        buf = bytearray(PAGE_SIZE)
        n = t.compress(PAGES[3], buf)
        out = bytearray(PAGE_SIZE)
        assert t.decompress(buf[:n], out) == PAGE_SIZE and out == PAGES[3]
    finally:
        c.close()
    assert not c.started


def test_cheap_batches_stay_with_the_caller() -> None:
    c = BatchingCompressor("lz4", 2)  # the measured threshold: 30 µs of pages after the first
    try:
        t = c.new_transform()
        assert isinstance(t, NativeBatchingTransform)
        for _ in range(20):  # 3 lz4 pages cost a few µs: never worth a wake-up
            t.decompress_batch([b"\x00"] * 3, [bytearray(PAGE_SIZE) for _ in range(3)])
        assert t.parallel_batches == 0 and t.inline_batches == 20
        assert not c.started and c.engine_pages == 0
        assert c.page_cost_us()["decompress"] is not None  # sampled on the caller's jobs
    finally:
        c.close()


# ---------------------------------------------------------------- zswap streaming store ----
@pytest.fixture
def zstd_x2() -> Iterator[str]:
    c = register_compressor(BatchingCompressor("zstd", 2))
    yield c.name
    unregister_compressor(c.name)
    assert isinstance(c, BatchingCompressor)
    c.close()


def _check_all(z: Zswap, pages: list[bytes], base: int = 0) -> None:
    out = bytearray(PAGE_SIZE)
    for i, page in enumerate(pages):
        z.load(out, 0, base + i)
        assert out == page, f"slot {base + i}"


def test_large_folios_stream_through_native_engines(zstd_x2: str) -> None:
    z = Zswap(compressor=zstd_x2, totalram_pages=None, cpus=2)
    z.swapon(0, 4096)
    folio = REAL * 5 + RANDOM + REAL[:PAGE_SIZE * 31]  # 512 pages, one incompressible
    pages = [folio[i:i + PAGE_SIZE] for i in range(0, len(folio), PAGE_SIZE)]
    assert len(pages) == 512
    assert z.store(folio, 0, 0)
    st = z.stats()
    assert st["stored_pages"] == 512 and st["stored_incompressible_pages"] >= 1
    _check_all(z, pages)
    # reclaim batching: 32 4 KiB folios at once
    assert z.store_batch([(p, 0, 1024 + i) for i, p in enumerate(pages[:32])]) == [True] * 32
    # and a batched load of those slots (a load takes the entry: swap cache semantics)
    outs = [bytearray(PAGE_SIZE) for _ in range(32)]
    assert z.load_batch(outs, 0, range(1024, 1056)) == [True] * 32
    assert [bytes(o) for o in outs] == pages[:32]
    z.close()


def test_a_failure_mid_folio_rejects_it_and_leaves_nothing(zstd_x2: str) -> None:
    root = MemCgroup()
    z = Zswap(compressor=zstd_x2, totalram_pages=None, cpus=2, memcg_root=root)
    z.swapon(0, 1024)
    zs = install_zs_pool(z)
    zs.alloc_fail.fail_every(100)  # the 100th allocation of the folio fails
    folio = REAL * 2  # 192 pages
    assert not z.store(folio, 0, 0)
    st = z.stats()
    assert st["stored_pages"] == 0 and st["reject_alloc_fail"] == 1
    assert zs.objects_in_use == 0 and z.lookup(0, 0) is None and z.lookup(0, 150) is None
    # a page that does not compress, in a memcg without writeback: rejected mid-folio too
    zs.alloc_fail.fail_every(None)
    g = root.create("nowb")
    g.write("memory.zswap.writeback", "0")
    folio = REAL[:PAGE_SIZE * 20] + RANDOM + REAL[:PAGE_SIZE * 43]
    assert z.store(REAL[:PAGE_SIZE * 64], 0, 256)  # an older version of the slots...
    assert not z.store(folio, 0, 256, memcg=g)  # ...is erased by the failed store
    assert z.stats()["reject_compress_poor"] == 1
    assert all(z.lookup(0, 256 + i) is None for i in range(64))
    assert zs.objects_in_use == 0
    assert z.store(folio, 0, 256)  # with writeback allowed it is stored, one page as-is
    _check_all(z, [folio[i:i + PAGE_SIZE] for i in range(0, len(folio), PAGE_SIZE)], 256)
    z.close()


def test_the_gate_wakes_engines_only_while_they_measure_faster() -> None:
    from pyzswap.compress.batching import _Cost

    gate = native_gates("zstd", _Cost)[0]
    assert gate.wake(1, 30.0) == (False, False)  # one page: never
    assert gate.wake(8, 0.0) == (True, False)  # forced
    assert gate.wake(2, 30.0) == (False, False)  # 1 x 20 µs nominal cannot pay for a wake-up
    # the first qualifying jobs run alone, timed, until the alone figure settles
    decisions = []
    for _ in range(5):
        decisions.append(gate.wake(16, 30.0))
        gate.record(False, 16 * 10e-6, 16)  # 10 µs a page alone
    assert decisions == [(False, True)] * 5
    for _ in range(5):  # then with engines, until that figure settles too
        woke, timed = gate.wake(16, 30.0)
        assert woke and timed
        gate.record(True, 16 * 12e-6, 16)  # 12 µs a page: engines lose (a busy machine)
    plan = [gate.wake(16, 30.0)[0] for _ in range(64)]
    assert sum(plan) == 4  # only every 16th job wakes them now, to re-measure
    for _ in range(5):
        gate.record(True, 16 * 9e-6, 16)  # the machine is free again: 9 µs a page
    plan = [gate.wake(16, 30.0)[0] for _ in range(64)]
    assert sum(plan) == 60  # all but every 16th, run alone to re-measure
    for _ in range(5):
        gate.record(True, 16 * 5e-6, 16)  # 5 µs a page: engines win by far
    plan = [gate.wake(16, 30.0)[0] for _ in range(128)]
    assert sum(plan) == 126  # a clear win: only every 64th job runs alone


def test_a_job_the_caller_runs_alone_never_wakes_an_engine() -> None:
    """Taking a page releases its ring slot, which makes room for more work; for a job handed
    to the engines that wakes one, but a job the caller runs alone (wake=0) is not theirs:
    waking an engine per page cost the caller a futex wake each and put a polling engine on
    the other core (such jobs ran 1.5-2.5x slower than a sequential store)."""
    e = Engines("lz4", 0, 2, 0.0)  # no polling: an engine with nothing to do sleeps at once
    try:
        ring = [bytearray(PAGE_SIZE) for _ in range(8)]
        with e.compress(PAGES[:32], ring, -1) as job:  # starts both engines
            for i in range(32):
                job.take(i)
        spins = 0
        while e.sleeping < 2:  # both back asleep (a state, polled; no timing involved)
            spins += 1
            assert spins < 10**8
        before = e.wakeups
        with e.compress(PAGES[:64], ring, 0) as job:
            for i in range(64):
                ref = _compressed("lz4", PAGES[i])
                assert job.take(i) == (-28 if ref is None else len(ref))
            assert job.engine_pages == 0
        assert e.wakeups == before and e.sleeping == 2
    finally:
        e.close()


def test_an_engine_polls_between_jobs_instead_of_sleeping() -> None:
    """Waking a sleeping engine costs 50-100 µs on a VM: an engine polls for a while after its
    last page (NATIVE_SPIN_US for zswap's engines), so a job that comes within that time finds
    it awake; with no polling it sleeps at once and the next job has to wake it."""
    ring = [bytearray(PAGE_SIZE) for _ in range(8)]

    def two_jobs(e: Engines, until_asleep: bool) -> int:
        for _ in range(2):
            with e.compress(PAGES[:16], ring, -1) as job:
                for i in range(16):
                    job.take(i)
            spins = 0
            # asleep (and not signalled) after each job: a state, polled
            while until_asleep and e.sleeping < 1:
                spins += 1
                assert spins < 10**8
        return e.wakeups

    polling = Engines("lz4", 0, 1, 1e6)  # 1 s: far longer than the gap between the jobs
    sleeping = Engines("lz4", 0, 1, 0.0)
    try:
        assert two_jobs(polling, False) == 0
        assert two_jobs(sleeping, True) >= 1
    finally:
        polling.close()  # ends the polling at once (not after a second)
        sleeping.close()
    assert polling.live == 0


@pytest.mark.parametrize("spin_us", [0.0, 50.0])
def test_many_threads_many_jobs_never_hang_and_stay_exact(spin_us: float) -> None:
    """Callers in several threads stream jobs of random sizes through rings of random size
    into one Engines object, with random pauses between takes (the caller's own work); every
    result must match the single-threaded result and no job may hang (a lost wake-up would)."""
    import random
    import threading

    e = Engines("lz4", 0, 2, spin_us)
    refs = []
    for page in PAGES:
        ref = _compressed("lz4", page)
        refs.append(-28 if ref is None else len(ref))
    failures: list[str] = []

    def caller(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(60):
            start = rng.randrange(len(PAGES))
            n = rng.randint(1, len(PAGES) - start)
            ring = [bytearray(PAGE_SIZE) for _ in range(rng.choice([1, 2, 3, 8]))]
            with e.compress(PAGES[start:start + n], ring, rng.choice([0, -1, 1])) as job:
                for i in range(n):
                    if rng.random() < 0.3:
                        end = rng.random() * 2e-5
                        t = 0.0
                        while t < end:  # the caller's own work, holding the GIL
                            t += 1e-6
                    code = job.take(i)
                    if code != refs[start + i]:
                        failures.append(f"seed {seed} page {start + i}: {code}")
                if rng.random() < 0.1:
                    job.poll()

    threads = [threading.Thread(target=caller, args=(s,), daemon=True) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a job hung"
    e.close()
    assert not failures, failures[:5]


def test_a_page_finished_while_the_caller_polls_is_not_missed() -> None:
    """The lost wake-up a first version had: a caller polls for a page an engine holds, the
    engine finishes it after the poll gave up but before the caller re-locks (and signals no
    one, as nobody waits yet); the caller must re-check instead of sleeping for good. A test
    hook stretches that window to 300 µs so the race happens on nearly every wait."""
    import threading

    from pyzswap import _native

    e = Engines("deflate", 6, 2, 1.0)  # ~45 µs pages, a 1 µs poll
    done: list[list[int]] = []

    def run() -> None:
        ring = [bytearray(PAGE_SIZE) for _ in range(8)]
        with e.compress([REAL[:PAGE_SIZE * 48]], ring) as job:
            done.append([job.take(i) for i in range(48)])

    _native._test_delay_after_poll(300_000)
    try:
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout=60)
        assert not t.is_alive(), "the caller missed a finished page and sleeps forever"
    finally:
        _native._test_delay_after_poll(0)
        e.close()
    assert len(done) == 1 and all(c in FITS_OR_ENOSPC for c in done[0])


def test_stream_publishes_per_batch_and_a_late_failure_undoes_the_folio(zstd_x2: str) -> None:
    """A folio's entries are published batch by batch (the series' zswap_store_pages); when
    a page of a later batch fails, the batches already published, the older entries of the
    folio's slots and the unpublished objects all go, and every counter, charge and pool
    reference comes back to where it was. Other folios of a reclaim batch are unaffected."""
    root = MemCgroup()
    g = root.create("g")
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=2, memcg_root=root)
    z.swapon(0, 2048)
    assert z.store(REAL[:PAGE_SIZE * 64], 0, 0, memcg=g)  # older copies of slots 0..63
    lz4_pool = z.current_pool()
    zswpout0 = z.vmstat()["zswpout"]
    z.set_param("compressor", zstd_x2)
    zs = install_zs_pool(z)
    zs.alloc_fail.fail_every(43)  # 5 batches of 8 are published when the 43rd page fails
    assert not z.store(REAL[PAGE_SIZE * 10:PAGE_SIZE * 74], 0, 0, memcg=g)
    zs.alloc_fail.clear()
    st = z.stats()
    assert st["stored_pages"] == 0 and st["reject_alloc_fail"] == 1 and zs.objects_in_use == 0
    assert all(z.lookup(0, i) is None for i in range(64))  # the old copies are erased too
    assert z.vmstat()["zswpout"] == zswpout0  # a failed folio is not counted out
    assert g.read("memory.zswap.current") == "0\n"
    assert lz4_pool.destroyed  # its last entries were the erased old copies
    # a reclaim batch: the third folio fails (its 6th page), the others are stored
    zs.alloc_fail.fail_every(38)
    folios = [(REAL[PAGE_SIZE * 16 * j:PAGE_SIZE * (16 * j + 16)], 0, 100 + 16 * j)
              for j in range(5)]
    results = z.store_batch(folios, memcg=g)
    zs.alloc_fail.clear()
    assert results == [True, True, False, True, True]
    assert z.stats()["stored_pages"] == 64 == zs.objects_in_use
    assert z.vmstat()["zswpout"] == zswpout0 + 64
    out = bytearray(PAGE_SIZE)
    for (folio, _, off), ok in zip(folios, results, strict=True):
        for i in range(16):
            if ok:
                assert z.load(out, 0, off + i) and out == folio[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
            else:
                assert z.lookup(0, off + i) is None
    assert z.stats()["stored_pages"] == 0 and g.read("memory.zswap.current") == "0\n"
    assert zs.objects_in_use == 0 and len(z.pools()) == 1
    z.close()


def test_a_burst_of_slow_jobs_with_engines_does_not_put_them_to_sleep() -> None:
    """The host only ever slows a job down, and in bursts (another tenant, a halted vCPU
    woken late): three slow jobs out of five used to tip the median and run every job alone
    for dozens of jobs after. The figures are a low quantile of the recent jobs instead."""
    from pyzswap.compress.batching import _Cost

    gate = native_gates("lz4", _Cost)[0]
    for _ in range(5):
        gate.record(False, 512 * 10e-6, 512)  # 10 µs a page alone
        gate.record(True, 512 * 5e-6, 512)  # 5 with engines
    for _ in range(3):
        gate.record(True, 512 * 20e-6, 512)  # a burst: three jobs at 20
    assert sum(gate.wake(512, 30.0)[0] for _ in range(64)) >= 60
    for _ in range(2):
        gate.record(True, 512 * 20e-6, 512)  # but all five slow: the engines lose now
    assert sum(gate.wake(512, 30.0)[0] for _ in range(64)) <= 4


def test_a_probe_that_beats_the_choice_is_repeated_at_once() -> None:
    """After a burst that made engines look slow, the engines are re-measured one job in 64;
    a re-measurement that comes back faster than running alone is followed by another right
    away, so two good jobs bring the engines back instead of two probes 64 jobs apart."""
    from pyzswap.compress.batching import _Cost

    gate = native_gates("lz4", _Cost)[0]
    for _ in range(5):
        gate.record(False, 512 * 10e-6, 512)  # 10 µs a page alone
        gate.record(True, 512 * 20e-6, 512)  # 20 with engines: a clear loss
    plan = []
    for _ in range(80):
        woke = gate.wake(512, 30.0)[0]
        plan.append(woke)
        if woke:
            gate.record(True, 512 * 5e-6, 512)  # the machine is free again: 5 with engines
    first = plan.index(True)
    assert first == 63  # one job in 64 re-measures the engines...
    assert all(plan[first:])  # ...probed again at once, then preferred


def test_a_repeated_probe_waits_for_a_job_of_its_own_size() -> None:
    """The repeated probe belongs to the size class that earned it: a job of another size in
    between neither takes it nor drops it."""
    from pyzswap.compress.batching import _Cost

    gate = native_gates("lz4", _Cost)[0]
    for n in (512, 16):
        for _ in range(5):
            gate.record(False, n * 10e-6, n)  # alone 10 µs a page
            gate.record(True, n * 20e-6, n)  # engines 20: a clear loss, both sizes
    gate.record(True, 512 * 5e-6, 512)  # a 2 MiB probe comes back fast
    assert gate.wake(16, 30.0) == (False, True)  # a 64 KiB job: still alone
    assert gate.wake(512, 30.0) == (True, True)  # the next 2 MiB job probes again
    assert gate.wake(512, 30.0) == (False, True)  # once: one fast job is not yet a figure


def test_the_gate_compares_jobs_of_about_the_same_size() -> None:
    from pyzswap.compress.batching import _Cost

    gate = native_gates("zstd", _Cost)[0]
    for _ in range(5):
        gate.record(False, 16 * 10e-6, 16)  # 16-page jobs: 10 µs a page alone...
        gate.record(True, 16 * 11e-6, 16)  # ...11 with engines (the wake-up does not pay)
        gate.record(False, 512 * 10e-6, 512)  # 512-page jobs: 10 alone...
        gate.record(True, 512 * 6e-6, 512)  # ...6 with engines
    big = [gate.wake(512, 30.0)[0] for _ in range(32)]
    small = [gate.wake(16, 30.0)[0] for _ in range(32)]
    assert sum(big) >= 28 and sum(small) <= 4  # only the every-16th re-measurements differ


def test_async_submit_poll_wait_on_native_engines() -> None:
    """iaa_crypto's async mode: submit, go on with other work, poll, then collect."""
    c = BatchingCompressor("zstd", 2)
    try:
        t = c.new_transform()
        assert isinstance(t, NativeBatchingTransform)
        pages = [*PAGES[:16], RANDOM]
        dsts = [bytearray(PAGE_SIZE) for _ in pages]
        req = t.submit_compress(pages, dsts)
        assert len(req) == 17
        polls = 0
        while not req.poll():  # the caller's "other work": here, asking again
            polls += 1
            assert polls < 10**8
        results = req.wait()
        assert req.poll() and req.wait() is results  # spent: the same results again
        assert isinstance(results[16], CompressPoor)
        ok = [i for i, r in enumerate(results) if isinstance(r, int)]
        outs = [bytearray(PAGE_SIZE) for _ in ok]
        back = t.submit_decompress([bytes(dsts[i][:results[i]]) for i in ok],  # type: ignore[index]
                                   outs).wait()
        assert back == [PAGE_SIZE] * len(ok) and [bytes(o) for o in outs] == [pages[i] for i in ok]
        with pytest.raises(ValueError, match="one destination per page"):
            t.submit_compress(pages, dsts[:3])
        t.submit_compress(pages, dsts)  # dropped unwaited: cancelled, nothing hangs
    finally:
        c.close()


def test_lz4hc_is_high_compression_not_lz4_under_another_name() -> None:
    """cramjam's block API ignored the HC mode: "lz4hc" gave lz4's exact streams. Through
    liblz4's LZ4_compress_HC it must be clearly smaller in total (here by ~12%)."""
    hc, fast = get_compressor("lz4hc").new_transform(), get_compressor("lz4").new_transform()
    total_hc = total_fast = 0
    for page in PAGES:
        a, b = bytearray(PAGE_SIZE), bytearray(PAGE_SIZE)
        try:
            n_fast = fast.compress(page, b)
        except CompressPoor:
            continue
        n_hc = hc.compress(page, a)
        out = bytearray(PAGE_SIZE)
        assert hc.decompress(a[:n_hc], out) == PAGE_SIZE and out == page
        total_hc += n_hc
        total_fast += n_fast
    assert total_hc < 0.95 * total_fast


def test_a_partial_2m_job_shares_the_2m_figures() -> None:
    """Size classes end at the folio sizes: 463 pages (the last, partial folio of a range)
    uses the figures of 512-page jobs, so it is woken as they are, not run alone unsettled."""
    from pyzswap.compress.batching import _Cost

    gate = native_gates("lz4", _Cost)[0]
    for _ in range(5):
        gate.record(False, 512 * 10e-6, 512)
        gate.record(True, 512 * 6e-6, 512)
    assert gate.figures(463) is gate.figures(512) is gate.figures(257)
    assert gate.figures(256) is not gate.figures(257)
    assert gate.figures(16) is not gate.figures(17) and gate.figures(17) is gate.figures(32)
    assert sum(gate.wake(463, 30.0)[0] for _ in range(32)) >= 28
