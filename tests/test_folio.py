from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap.errors import InvalidPage
from pyzswap.folio import PAGE_SIZE, folio_nr_pages, is_folio_zero_filled, zero_page_mask


def test_folio_nr_pages_accepts_1_to_512_pages() -> None:
    assert folio_nr_pages(bytes(PAGE_SIZE)) == 1
    assert folio_nr_pages(bytearray(512 * PAGE_SIZE)) == 512
    for size in (0, 100, PAGE_SIZE + 1, 513 * PAGE_SIZE):
        with pytest.raises(InvalidPage):
            folio_nr_pages(bytes(size))


def test_zero_detection_is_per_page_and_exact() -> None:
    data = bytearray(4 * PAGE_SIZE)
    data[PAGE_SIZE + 4095] = 1
    data[3 * PAGE_SIZE] = 7
    assert zero_page_mask(data).tolist() == [True, False, True, False]
    assert is_folio_zero_filled(data[:PAGE_SIZE])
    assert not is_folio_zero_filled(data)
    assert zero_page_mask(b"").shape == (0,)
    with pytest.raises(InvalidPage):
        zero_page_mask(bytes(10))
    assert isinstance(zero_page_mask(bytes(PAGE_SIZE)), np.ndarray)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2 * PAGE_SIZE), st.data())
def test_a_folio_is_zero_filled_when_no_byte_is_set(size: int, data: st.DataObject) -> None:
    """Any one non-zero byte anywhere (the first, the last, one in between) makes it not."""
    buf = bytearray(size)
    assert is_folio_zero_filled(buf) and is_folio_zero_filled(memoryview(buf))
    if size:
        pos = data.draw(st.sampled_from(sorted({0, size - 1, size // 2}))
                        | st.integers(0, size - 1))
        buf[pos] = data.draw(st.integers(1, 255))
        assert not is_folio_zero_filled(buf)
        assert not is_folio_zero_filled(memoryview(buf)[pos:pos + 1])
        assert is_folio_zero_filled(memoryview(buf)[:pos])


def test_a_zero_check_of_no_buffer_is_refused() -> None:
    with pytest.raises(TypeError):
        is_folio_zero_filled("not a page")  # type: ignore[arg-type]
