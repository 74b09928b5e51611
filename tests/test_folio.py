from __future__ import annotations

import numpy as np
import pytest

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
