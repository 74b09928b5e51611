"""Kernel-oracle test support: skip reasons, and a check that every test leaves the host as found.

Tests that touch the kernel are marked with :data:`needs_zram` / :data:`needs_zswap` (which
include the ``host`` mark: ``make test-host`` runs them, ``make test`` never does); they run
when the machine allows it (root, the interface present, no active swap for zswap) and are
skipped with the reason otherwise. The autouse :func:`host_unchanged` fixture records the host
state the oracle may change (zswap parameters, /proc/swaps, zram devices and their state, the
debugfs mount, leftover swap files, the journal and the lock file) before each test and asserts
it is the same afterwards, so a test that fails to restore fails loudly.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from pyzswap.tools.kernel._host import active_swaps, crypto_algorithms

from ...hoststate import SYS_BLOCK, ZSWAP_PARAMS, host_state

T = TypeVar("T")


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
#: Marks for tests that change the host: ``make test-host`` runs them, ``make test`` deselects
#: them (``-m "not host"``). As a module's ``pytestmark``: ``ZRAM_MARKS`` / ``ZSWAP_MARKS``;
#: on one test: ``@needs_zram`` / ``@needs_zswap`` / ``@needs_root``.
ZRAM_MARKS = [pytest.mark.host,
              pytest.mark.skipif(ZRAM_SKIP is not None, reason=ZRAM_SKIP or "")]
ZSWAP_MARKS = [pytest.mark.host,
               pytest.mark.skipif(ZSWAP_SKIP is not None, reason=ZSWAP_SKIP or "")]
ROOT_MARKS = [pytest.mark.host, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def _apply(marks: list[pytest.MarkDecorator]) -> Callable[[T], T]:
    def apply(obj: T) -> T:
        for mark in reversed(marks):
            obj = mark(obj)
        return obj
    return apply


needs_zram = _apply(ZRAM_MARKS)
needs_zswap = _apply(ZSWAP_MARKS)
needs_root = _apply(ROOT_MARKS)


@pytest.fixture(autouse=True)
def host_unchanged() -> Iterator[dict[str, object]]:
    """The test leaves the host as it found it. A difference while another pyzswap kernel run
    holds the host (its lock file exists before or after the test) is that run's doing: warned
    about, not failed (the session-wide check in the root conftest treats it the same way)."""
    before = host_state()
    yield before
    after = host_state()
    if after == before:
        return
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if before["lock_file"] or after["lock_file"]:
        warnings.warn(f"host changed during the test while another pyzswap kernel run held it: "
                      f"{', '.join(changed)}", stacklevel=1)
        return
    raise AssertionError(f"the test left host settings changed: {', '.join(changed)}")


@pytest.fixture(scope="session")
def small_mixed() -> bytes:
    from pyzswap.tools.pagesets import make_pages

    return make_pages("mixed", 2048, seed=3)


@pytest.fixture(scope="session")
def small_real() -> bytes:
    from pyzswap.tools.pagesets import make_pages

    return make_pages("real", 2048, seed=3)
