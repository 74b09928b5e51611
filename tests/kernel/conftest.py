"""Kernel-oracle test support: skip reasons, and a check that every test leaves the host as found.

Tests that touch the kernel are marked with :data:`needs_zram` / :data:`needs_zswap`; they run
when the machine allows it (root, the interface present, no active swap for zswap) and are
skipped with the reason otherwise. The autouse :func:`host_unchanged` fixture records the host
state the oracle may change (zswap parameters, /proc/swaps, zram devices and their state, the
debugfs mount, leftover swap files, the journal and the lock file) before each test and asserts
it is the same afterwards, so a test that fails to restore fails loudly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyzswap.kernel._host import HOST, active_swaps, crypto_algorithms, debugfs_mounted

ZSWAP_PARAMS = Path("/sys/module/zswap/parameters")
SYS_BLOCK = Path("/sys/block")
SWAP_DIR = Path("/var/tmp")


def _why_not_zram() -> str | None:
    if os.geteuid() != 0:
        return "kernel oracle tests need root"
    if not (Path("/sys/class/zram-control/hot_add").exists() or (SYS_BLOCK / "zram0").exists()):
        return "no zram in this kernel"
    return None


def _why_not_zswap() -> str | None:
    if os.geteuid() != 0:
        return "kernel oracle tests need root"
    if not ZSWAP_PARAMS.is_dir():
        return "no zswap in this kernel"
    if "lzo" not in crypto_algorithms():
        return "the crypto API has no lzo"
    if active_swaps():
        return "swap is active on this machine; the zswap oracle refuses to disturb it"
    return None


ZRAM_SKIP = _why_not_zram()
ZSWAP_SKIP = _why_not_zswap()
needs_zram = pytest.mark.skipif(ZRAM_SKIP is not None, reason=ZRAM_SKIP or "")
needs_zswap = pytest.mark.skipif(ZSWAP_SKIP is not None, reason=ZSWAP_SKIP or "")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def host_state() -> dict[str, object]:
    """Everything the kernel oracle could change, as comparable data."""
    state: dict[str, object] = {}
    if ZSWAP_PARAMS.is_dir():
        state["zswap"] = {p.name: p.read_text() for p in sorted(ZSWAP_PARAMS.iterdir())}
    state["swaps"] = Path("/proc/swaps").read_text()
    zram: dict[str, dict[str, str]] = {}
    for dev in sorted(SYS_BLOCK.glob("zram*")):
        zram[dev.name] = {}
        for attr in ("initstate", "disksize", "comp_algorithm", "mm_stat"):
            with contextlib.suppress(OSError):
                zram[dev.name][attr] = (dev / attr).read_text()
    state["zram"] = zram
    state["debugfs_mounted"] = debugfs_mounted()
    state["swap_files"] = sorted(p.name for p in SWAP_DIR.glob("pyzswap-oracle-*"))
    state["journal"] = HOST.journal.exists()
    state["lock_file"] = HOST.lock_file.exists()
    return state


@pytest.fixture(autouse=True)
def host_unchanged() -> Iterator[dict[str, object]]:
    before = host_state()
    yield before
    assert host_state() == before


@pytest.fixture(scope="session")
def small_mixed() -> bytes:
    from pyzswap.pagesets import make_pages

    return make_pages("mixed", 2048, seed=3)


@pytest.fixture(scope="session")
def small_real() -> bytes:
    from pyzswap.pagesets import make_pages

    return make_pages("real", 2048, seed=3)
