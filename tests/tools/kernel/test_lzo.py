"""pyzswap's lzo and lzo-rle against this machine's kernel, page by page (root, zram, zswap).

The non-root suite checks the same sets against the recorded fixture
(tests/compress/test_lzo.py); these tests check the live kernel, pyzswap and the fixture agree.
"""

from __future__ import annotations

import pytest

from pyzswap.tools.kernel import compare
from pyzswap.tools.kernel.zram import zram_algorithms

from ...kernel_lzo_sets import ALGORITHMS, SETS, load_fixture
from .conftest import needs_zram, needs_zswap

KERNEL = load_fixture()
#: zero-heavy, incompressible, near-a-page and the two realistic profiles
SETS_CHECKED = ("real", "mixed", "sparse", "random", "edge")


def _offered(alg: str) -> None:
    offered = zram_algorithms()
    if offered and alg not in offered:
        pytest.skip(f"zram here does not offer {alg}")


@needs_zram
@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("name", SETS_CHECKED)
def test_zram_every_page_has_the_kernels_length(name: str, alg: str) -> None:
    _offered(alg)
    result = compare(SETS[name](), alg, ("zram",), per_page=True)
    analysis = result["analysis"]["zram"]  # type: ignore[index]
    assert analysis["differing_pages"] == []
    assert result["delta"]["zram"]["mem_used_total"] == 0  # type: ignore[index]
    # the recorded fixture still describes this kernel
    assert analysis["page_lengths"]["kernel"] == KERNEL["sets"][name][alg]["zram_page_lengths"]


@needs_zswap
@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("name", SETS_CHECKED)
def test_zswap_pool_is_the_kernels(name: str, alg: str) -> None:
    result = compare(SETS[name](), alg, ("zswap",))
    delta = result["delta"]["zswap"]  # type: ignore[index]
    assert delta["stored_pages"] == 0
    assert delta["stored_incompressible_pages"] == 0
    assert delta["pool_total_size"] == 0
    kernel = result["kernel"]["zswap"]  # type: ignore[index]
    assert {k: kernel[k] for k in KERNEL["sets"][name][alg]["zswap"]} == \
        KERNEL["sets"][name][alg]["zswap"]
