"""Property: every byte stored is loaded back identically, whatever the operation sequence."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyzswap import PAGE_SIZE, Zswap

from .conftest import COMPRESSORS, page_strategy

NR_SLOTS = 64

page_contents = page_strategy()

store_op = st.tuples(st.just("store"), st.integers(0, NR_SLOTS - 1),
                     st.lists(page_contents, min_size=1, max_size=4))  # type: ignore[arg-type]
load_op = st.tuples(st.just("load"), st.integers(0, NR_SLOTS - 1), st.booleans())
invalidate_op = st.tuples(st.just("invalidate"), st.integers(0, NR_SLOTS - 1), st.none())
switch_op = st.tuples(st.just("switch"), st.sampled_from(COMPRESSORS), st.none())
operations = st.lists(st.one_of(store_op, load_op, invalidate_op, switch_op), max_size=40)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.sampled_from(COMPRESSORS), ops=operations)
def test_loads_return_exactly_what_was_stored(first: str, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    z = Zswap(compressor=first, totalram_pages=None, cpus=2)
    z.swapon(0, NR_SLOTS + 4)
    model: dict[int, bytes] = {}
    for op, arg, extra in ops:
        if op == "store":
            folio = b"".join(extra)
            assert z.store(folio, 0, arg)
            for i, page in enumerate(extra):
                model[arg + i] = page
        elif op == "load":
            out = bytearray(PAGE_SIZE)
            found = z.load(out, 0, arg, swapcache=extra)
            assert found == (arg in model)
            if found:
                assert bytes(out) == model[arg]
                if extra:
                    del model[arg]
        elif op == "invalidate":
            assert z.invalidate(0, arg) == (arg in model)
            model.pop(arg, None)
        else:
            z.set_param("compressor", arg)
        assert z.stats()["stored_pages"] == len(model)
    for off, page in sorted(model.items()):
        out = bytearray(PAGE_SIZE)
        assert z.load(out, 0, off)
        assert bytes(out) == page
    st_ = z.stats()
    assert st_["stored_pages"] == 0
    assert st_["stored_incompressible_pages"] == 0
    assert st_["pool_total_size"] == 0
    pools = z.pools()
    assert len(pools) == 1 and pools[0] is z.current_pool()
