"""Shared helpers: small deterministic page makers for tests that must not depend on pagesets."""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator

import pytest
from hypothesis import settings

from pyzswap.compress import (
    BatchingCompressor,
    available_compressors,
    get_compressor,
    unregister_compressor,
)

#: No per-example time limit: tests here are not timed (benchmarks are), and on a shared
#: machine Hypothesis's default 200 ms deadline fails a correct test that was merely descheduled.
settings.register_profile("pyzswap", deadline=None)
settings.load_profile("pyzswap")

PAGE = 4096
COMPRESSORS = ["deflate", "lz4", "lz4hc", "lzo", "zstd"]
FAST_COMPRESSORS = ["lz4", "lzo", "zstd"]


@pytest.fixture(scope="session", autouse=True)
def _host_left_as_found() -> Iterator[None]:
    """The whole session leaves every host setting pyzswap could change as it found it.

    ``make test`` runs no host-changing test (they are marked ``host``), so any difference is a
    test that touched the host without the mark. A difference while another pyzswap kernel run
    holds the host (its lock file exists) is that run's doing and only warned about.
    """
    from pyzswap.tools.kernel._host import HOST

    from .hoststate import host_state

    before = host_state()
    yield
    after = host_state()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if not changed:
        return
    message = f"host settings changed during the test session: {', '.join(changed)}"
    if before["lock_file"] or HOST.lock_file.exists():
        warnings.warn(f"{message} (another pyzswap kernel run held the host)", stacklevel=1)
    else:
        pytest.fail(message)


#: The two complete flows of zswap; behavioural test modules run once per flow.
FLOWS = ["python", "native"]


@pytest.fixture(params=FLOWS)
def flow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on one flow: every ``Zswap(flow="auto")`` it makes (the default) runs
    that flow (where the configuration leaves "auto" the choice). A module opts in with
    ``pytestmark = pytest.mark.usefixtures("flow")``; the whole behavioural suite does."""
    from pyzswap.zswap import core

    flow_name = str(request.param)
    monkeypatch.setattr(core, "DEFAULT_FLOW", flow_name)
    return flow_name


@pytest.fixture(autouse=True)
def _compressor_registry_restored() -> Iterator[None]:
    """Compressors a test registered, or made on first use of a name like ``zstd-x2``, are
    unregistered (and their engines stopped) afterwards, so no test sees another's."""
    before = set(available_compressors())
    yield
    for name in set(available_compressors()) - before:
        made = get_compressor(name)
        unregister_compressor(name)
        if isinstance(made, BatchingCompressor):
            made.close()


def text_page(seed: int) -> bytes:
    rnd = random.Random(seed)
    words = [b"swap", b"page", b"zswap", b"memory", b"folio", b"kernel", b"pool", b"entry",
             b"compress", b"reclaim", b"lru", b"cgroup"]
    out = bytearray()
    while len(out) < PAGE:
        out += rnd.choice(words) + (b"\n" if rnd.random() < 0.1 else b" ")
        if rnd.random() < 0.05:
            out += str(rnd.randrange(10**6)).encode()
    return bytes(out[:PAGE])


def random_page(seed: int) -> bytes:
    return random.Random(seed).randbytes(PAGE)


def mixed_page(seed: int) -> bytes:
    rnd = random.Random(seed)
    kind = rnd.randrange(3)
    if kind == 0:
        return text_page(seed)
    if kind == 1:
        return random_page(seed)
    return (text_page(seed)[: PAGE // 2] + random_page(seed)[: PAGE // 2])


@pytest.fixture
def pages() -> list[bytes]:
    return [mixed_page(i) for i in range(64)]


def _compose_page(kind: int, seed: int, pattern: bytes, cut: int) -> bytes:
    """Build a page from small hypothesis inputs (so examples stay small and shrink well)."""
    rnd = random.Random(seed)
    pattern = pattern or b"\0"
    repeated = (pattern * (PAGE // len(pattern) + 1))[:PAGE]
    if kind == 0:
        return rnd.randbytes(PAGE)  # incompressible
    if kind == 1:
        return repeated  # highly compressible (same-filled when the pattern is 8-periodic)
    if kind == 2:
        return text_page(seed)
    # a run of one kind, then another: partly compressible
    return (repeated[:cut] + rnd.randbytes(PAGE))[:PAGE]


def page_strategy() -> object:
    from hypothesis import strategies as st

    return st.builds(_compose_page, st.integers(0, 3), st.integers(0, 2**32),
                     st.binary(max_size=64), st.integers(0, PAGE))
