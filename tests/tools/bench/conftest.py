"""Tiny page sources for the benchmark tests: sizes that run in milliseconds, not figures."""

from __future__ import annotations

import pytest

from pyzswap.tools.bench import PageSource, load_pages


@pytest.fixture(scope="session")
def tiny_source() -> PageSource:
    """64 pages of the realistic set: every kind of page (incompressible ones included)."""
    return load_pages(pageset="real", pages=64, seed=1)
