"""Property: every byte stored is loaded back identically, whatever the operation sequence."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyzswap import PAGE_SIZE, Zswap

from .conftest import COMPRESSORS, page_strategy

NR_SLOTS = 64
#: Batching compressors (made on first use of the name): native engines with rings of 8, 4 and
#: 2 buffers, lz4hc's native engine, and a batch-size-1 pool that stores like a software one.
BATCHING = ["zstd-x2", "lz4-x1-b4", "deflate-x2-b2", "lz4hc-x2", "lzo-x2-b1"]
ALL_COMPRESSORS = [*COMPRESSORS, *BATCHING]

page_contents = page_strategy()

store_op = st.tuples(st.just("store"), st.integers(0, NR_SLOTS - 1),
                     st.lists(page_contents, min_size=1, max_size=4))  # type: ignore[arg-type]
load_op = st.tuples(st.just("load"), st.integers(0, NR_SLOTS - 1), st.booleans())
invalidate_op = st.tuples(st.just("invalidate"), st.integers(0, NR_SLOTS - 1), st.none())
switch_op = st.tuples(st.just("switch"), st.sampled_from(ALL_COMPRESSORS), st.none())
# reclaim batching: several 4 KiB folios at consecutive slots in one store_batch
store_batch_op = st.tuples(st.just("store_batch"), st.integers(0, NR_SLOTS - 1),
                           st.lists(page_contents, min_size=1, max_size=6))  # type: ignore[arg-type]
# swap-in readahead: a run of slots through load_batch (entries kept or taken)
load_batch_op = st.tuples(st.just("load_batch"), st.integers(0, NR_SLOTS - 1),
                          st.tuples(st.integers(1, 8), st.booleans()))
operations = st.lists(st.one_of(store_op, load_op, invalidate_op, switch_op, store_batch_op,
                                load_batch_op), max_size=40)


@pytest.mark.parametrize("flow", ["native", "python"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.sampled_from(ALL_COMPRESSORS), ops=operations)
def test_loads_return_exactly_what_was_stored(flow: str, first: str, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    z = Zswap(compressor=first, totalram_pages=None, cpus=2, flow=flow)
    z.swapon(0, NR_SLOTS + 8)
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
        elif op == "store_batch":
            folios = [(page, 0, arg + i) for i, page in enumerate(extra)]
            assert z.store_batch(folios) == [True] * len(folios)
            for i, page in enumerate(extra):
                model[arg + i] = page
        elif op == "load_batch":
            count, take = extra
            outs = [bytearray(PAGE_SIZE) for _ in range(count)]
            slots = range(arg, arg + count)
            assert z.load_batch(outs, 0, slots, swapcache=take) == [s in model for s in slots]
            for out, slot in zip(outs, slots, strict=True):
                if slot in model:
                    assert bytes(out) == model[slot]
                    if take:
                        del model[slot]
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
