"""``pyzswap._native.copy_blocks``: the mm model's write rule on its page contents (a trace's
``w`` copies one 256-byte block of a page over another), one block or a run of them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap._native import copy_blocks


def _slices(buf: bytearray, pairs: list[tuple[int, int]], size: int) -> None:
    for d, s in pairs:
        buf[d:d + size] = buf[s:s + size]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 64), st.lists(st.tuples(st.integers(0, 1024), st.integers(0, 1024)),
                                    max_size=40), st.binary(min_size=1100, max_size=1100))
def test_blocks_are_copied_in_order_as_slices_would_be(
        size: int, pairs: list[tuple[int, int]], data: bytes) -> None:
    """Later blocks see what earlier ones wrote (a page written twice in one run)."""
    want, got, one_by_one = bytearray(data), bytearray(data), bytearray(data)
    _slices(want, pairs, size)
    copy_blocks(got, np.array([d for d, _ in pairs], dtype=np.int64),
                np.array([s for _, s in pairs], dtype=np.int64), size)
    for d, s in pairs:
        copy_blocks(memoryview(one_by_one), d, s, size)
    assert got == want and one_by_one == want


def test_a_block_outside_the_buffer_copies_nothing() -> None:
    buf = bytearray(range(256)) * 4
    before = bytes(buf)
    with pytest.raises(ValueError, match="outside"):
        copy_blocks(buf, np.array([0, 900], dtype=np.int64), np.array([256, 0], dtype=np.int64),
                    256)
    for d, s in ((-1, 0), (0, -1), (769, 0), (0, 1 << 62)):
        with pytest.raises(ValueError, match="outside"):
            copy_blocks(buf, d, s, 256)
    with pytest.raises(ValueError, match="outside"):
        copy_blocks(buf, 0, 0, 2000)
    assert bytes(buf) == before


def test_bad_arguments_are_refused() -> None:
    buf = bytearray(1024)
    with pytest.raises(BufferError):
        copy_blocks(bytes(1024), 0, 256, 256)  # type: ignore[arg-type]  # read-only
    with pytest.raises(TypeError, match="int64"):
        copy_blocks(buf, np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.int32),  # type: ignore[arg-type]
                    256)
    with pytest.raises(ValueError, match="length"):
        copy_blocks(buf, np.zeros(2, dtype=np.int64), np.zeros(3, dtype=np.int64), 256)
    with pytest.raises(ValueError, match=">= 0"):
        copy_blocks(buf, 0, 0, -1)
    with pytest.raises(TypeError):
        copy_blocks(buf, 0, 0)  # type: ignore[call-arg]
    with pytest.raises(OverflowError):
        copy_blocks(buf, 1 << 80, 0, 1)
    assert buf == bytearray(1024)
