"""Memory cgroups: tree, knobs and their parsing, hierarchical charges and limits, writeback,
events, removal with object-cgroup and LRU reparenting, round-robin iteration."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap import _compiled
from pyzswap.errors import InvalidParameter
from pyzswap.folio import PAGE_SIZE
from pyzswap.memcg import (
    MEMCG_FILES,
    PAGE_COUNTER_MAX,
    CgroupBusy,
    MemCgroup,
    ZswapMemcgHooks,
    ZswapShrinkCursor,
    charge_zswap,
    count_event,
    mem_cgroup_iter,
    mem_cgroup_zswap_writeback_enabled,
    memparse,
    obj_cgroup_may_zswap,
    page_counter_memparse,
    uncharge_zswap,
)
from pyzswap.reference.lru import ListLru

PAGE = 4096


@pytest.fixture
def tree() -> dict[str, MemCgroup]:
    root = MemCgroup()
    a = root.create("a")
    b = a.create("b")
    c = a.create("c")
    d = root.create("d")
    return {"root": root, "a": a, "b": b, "c": c, "d": d}


def unpack(tree: dict[str, MemCgroup]) -> tuple[MemCgroup, ...]:
    return tree["root"], tree["a"], tree["b"], tree["c"], tree["d"]


# ------------------------------------------------------------------------------ the tree -----
def test_tree_ids_paths_and_lookup(tree: dict[str, MemCgroup]) -> None:
    root, a, b, c, d = unpack(tree)
    assert (root.id, a.id, b.id, c.id, d.id) == (0, 1, 2, 3, 4)
    assert (root.path, b.path, d.path) == ("/", "/a/b", "/d")
    assert root.parent is None and b.parent is a and b.root is root and b.depth == 2
    assert root.children == (a, d) and a.children == (b, c)
    assert root.find("/a/c") is c and a.find("b") is b and root.find("/") is root
    assert root.from_id(3) is c and root.from_id(99) is None
    assert a.is_ancestor_of(c) and not c.is_ancestor_of(a) and a.is_ancestor_of(a)
    with pytest.raises(InvalidParameter):
        root.find("/a/zz")
    for bad in ("", ".", "..", "x/y", "a\n", 5):
        with pytest.raises(InvalidParameter):
            root.create(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        root.create("a")  # exists
    assert repr(b) == "MemCgroup('/a/b', id=2)"


# ------------------------------------------------------------------------------ parsing ------
@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("4096", 4096), ("1k", 1024), ("1K", 1024), ("3M", 3 << 20), ("2G", 2 << 30),
    ("1T", 1 << 40), ("1P", 1 << 50), ("1E", 1 << 60), ("0x1000", 4096), ("0X10k", 16 << 10),
    ("010", 8), ("1e", 1 << 60), ("0x1e", 30),
])
def test_memparse(text: str, value: int) -> None:
    assert memparse(text) == value


@pytest.mark.parametrize("text", ["", "k", "abc", "-1", "+1", "1.5G", "1KB", "1 K", "0x", "08",
                                  "max1", "MAX", "1KK"])
def test_memparse_rejects(text: str) -> None:
    with pytest.raises(InvalidParameter):
        page_counter_memparse(text)


def test_page_counter_memparse_rounds_down_to_pages() -> None:
    assert page_counter_memparse(" max\n") == PAGE_COUNTER_MAX
    assert page_counter_memparse("8191") == 1 and page_counter_memparse("1k") == 0
    assert page_counter_memparse(10 * PAGE + 5) == 10 and page_counter_memparse(None) == \
        PAGE_COUNTER_MAX
    assert page_counter_memparse("16E") == PAGE_COUNTER_MAX  # capped
    for bad in (-1, 1.0, b"1", [1]):
        with pytest.raises(InvalidParameter):
            page_counter_memparse(bad)


@given(st.integers(0, 1 << 50), st.sampled_from(["", "k", "M", "g"]))
def test_knob_round_trip(number: int, suffix: str) -> None:
    g = MemCgroup().create("g")
    g.write("memory.zswap.max", f"{number}{suffix}\n")
    shift = {"": 0, "k": 10, "M": 20, "g": 30}[suffix]
    nbytes = (number << shift) // PAGE * PAGE
    pages = min((number << shift) // PAGE, PAGE_COUNTER_MAX)
    want = "max\n" if pages == PAGE_COUNTER_MAX else f"{nbytes}\n"
    assert g.read("memory.zswap.max") == want
    g.write("memory.zswap.max", g.read("memory.zswap.max"))  # what is read can be written back
    assert g.read("memory.zswap.max") == want


def test_knob_files(tree: dict[str, MemCgroup]) -> None:
    root, a = tree["root"], tree["a"]
    assert a.read("memory.zswap.max") == "max\n" and a.zswap_max is None
    assert a.read("memory.zswap.writeback") == "1\n" and a.zswap_writeback
    assert a.read("memory.max") == "max\n" and a.memory_max is None
    a.write("memory.zswap.max", "1M")
    assert a.read("memory.zswap.max") == "1048576\n" and a.zswap_max == 1 << 20
    a.zswap_max = 10_000  # typed: bytes, rounded down to pages
    assert a.zswap_max == 8192
    a.zswap_max = None
    assert a.read("memory.zswap.max") == "max\n"
    a.memory_max = "2G"
    assert a.memory_max == 2 << 30 and a.read("memory.max") == f"{2 << 30}\n"
    for good, want in (("0", False), (" 1\n", True), ("0x0", False), ("+1", True),
                       (False, False), (1, True)):
        a.write("memory.zswap.writeback", good)
        assert a.zswap_writeback is want
    a.zswap_writeback = False
    assert a.read("memory.zswap.writeback") == "0\n"
    # the root has memory.zswap.writeback but none of the limit files
    root.write("memory.zswap.writeback", "1")
    assert root.read("memory.zswap.writeback") == "1\n"
    for name in ("memory.zswap.max", "memory.max", "memory.zswap.current", "memory.current"):
        with pytest.raises(InvalidParameter):
            root.read(name)
    assert root.read("memory.stat").startswith("zswap 0\n")
    assert set(MEMCG_FILES) >= {"memory.stat", "memory.zswap.current"}


@pytest.mark.parametrize(("name", "value"), [
    ("memory.zswap.max", "lots"), ("memory.zswap.max", "-4096"), ("memory.zswap.max", 1.5),
    ("memory.zswap.max", ""), ("memory.max", "1.5G"), ("memory.max", -1),
    ("memory.zswap.writeback", "2"), ("memory.zswap.writeback", "-1"),
    ("memory.zswap.writeback", "yes"), ("memory.zswap.writeback", ""),
    ("memory.zswap.writeback", None), ("memory.zswap.writeback", 1 << 40),
    ("memory.zswap.current", "0"), ("memory.stat", "x"), ("memory.current", "0"),
    ("memory.nonsense", "1"),
])
def test_invalid_writes_change_nothing(tree: dict[str, MemCgroup], name: str,
                                       value: object) -> None:
    a = tree["a"]
    a.write("memory.zswap.max", "64k")
    a.write("memory.max", "1G")
    before = {f: a.read(f) for f in MEMCG_FILES}
    with pytest.raises(InvalidParameter) as exc:
        a.write(name, value)
    assert exc.value.errno == errno.EINVAL
    assert {f: a.read(f) for f in MEMCG_FILES} == before


# ------------------------------------------------------------------------------ charges ------
def test_charges_and_events_are_hierarchical(tree: dict[str, MemCgroup]) -> None:
    root, a, b, c, d = unpack(tree)
    charge_zswap(b, 1000)
    b.charge_zswap(3000, nr_pages=2)
    c.charge_zswap(500)
    d.charge_zswap(7)
    assert (b.zswap_current, c.zswap_current, a.zswap_current) == (4000, 500, 4500)
    assert root.zswap_current == 4507 and root.zswapped == 5 and a.zswapped == 4
    assert a.read("memory.zswap.current") == "4500\n"
    count_event(b, "zswpout", 3)
    c.count_event("zswpin")
    d.count_event("zswpwb", 2)
    assert a.events() == {"zswpin": 1, "zswpout": 3, "zswpwb": 0}
    assert root.events() == {"zswpin": 1, "zswpout": 3, "zswpwb": 2}
    assert a.read("memory.stat") == ("zswap 4500\nzswapped 16384\nzswap_incomp 0\n"  # bytes
                                     "zswpin 1\nzswpout 3\nzswpwb 0\n")
    assert a.stat()["zswapped"] == 4 * PAGE
    uncharge_zswap(b, 1000)
    b.uncharge_zswap(3000, 2)
    assert b.zswap_current == 0 and a.zswap_current == 500 and root.zswapped == 2
    with pytest.raises(InvalidParameter):
        b.count_event("pswpin")
    b.charge_memory(10)
    assert a.memory_current == 10 * PAGE + 500
    assert a.read("memory.current") == f"{10 * PAGE + 500}\n"
    b.uncharge_memory(10)
    assert a.memory_current == 500


def test_zswap_max_on_parent_limits_children(tree: dict[str, MemCgroup]) -> None:
    """The cgroup selftests' shape: a parent's memory.zswap.max caps its children's zswap."""
    root, a, b, c, d = unpack(tree)
    a.write("memory.zswap.max", str(2 * PAGE))  # 2 pages of compressed data for a and below
    assert obj_cgroup_may_zswap(b)
    b.charge_zswap(3000)
    c.charge_zswap(3000)  # 6000 bytes: 1 page < 2
    assert b.may_zswap() and c.may_zswap()
    b.charge_zswap(2192)  # 8192 bytes: 2 pages >= 2: full
    assert not b.may_zswap() and not c.may_zswap() and not a.may_zswap()
    assert d.may_zswap() and root.may_zswap()  # outside the limited subtree
    b.uncharge_zswap(2192)
    assert b.may_zswap()
    c.zswap_max = PAGE  # a limit on the child itself: 3000 bytes are 0 whole pages
    assert c.may_zswap()
    c.charge_zswap(1096)
    assert not c.may_zswap() and b.may_zswap()
    d.zswap_max = 0  # zswap disabled for the group, even when empty
    assert not d.may_zswap()
    root.charge_zswap(1 << 40)  # the root has no limit
    assert root.may_zswap()


def test_writeback_setting_is_hierarchical(tree: dict[str, MemCgroup]) -> None:
    root, a, b, d = tree["root"], tree["a"], tree["b"], tree["d"]
    assert b.zswap_writeback_enabled()
    a.zswap_writeback = False
    assert b.read("memory.zswap.writeback") == "1\n"  # its own knob is unchanged...
    assert not b.zswap_writeback_enabled() and not a.zswap_writeback_enabled()  # ...but off
    assert d.zswap_writeback_enabled()
    assert b.zswap_writeback_enabled(zswap_enabled=False)  # zswap off: pages go to disk
    assert mem_cgroup_zswap_writeback_enabled(None)
    a.zswap_writeback = True
    root.zswap_writeback = False
    assert not mem_cgroup_zswap_writeback_enabled(d) and not root.zswap_writeback_enabled()


def test_zswap_store_target_answers_the_three_store_questions(
        tree: dict[str, MemCgroup]) -> None:
    """(the group charged, may it zswap, is its writeback on), as the separate calls give."""
    root, a, b, c, d = unpack(tree)
    assert b.zswap_store_target() == (b, True, True)
    a.zswap_max = 0
    a.zswap_writeback = False
    assert b.zswap_store_target() == (b, False, False)
    assert d.zswap_store_target() == (d, True, True)
    b.remove()  # an offline group charges its nearest online ancestor
    assert b.zswap_store_target() == (a, False, False)
    for g in (root, a, c, d):
        charged, may, wb = g.zswap_store_target()
        assert charged is g.obj_cgroup_memcg(g.obj_cgroup())
        assert (may, wb) == (charged.may_zswap(), charged.zswap_writeback_enabled())


def test_concurrent_charges_add_up() -> None:
    root = MemCgroup()
    groups = [root.create(f"g{i}").create("leaf") for i in range(4)]
    barrier = threading.Barrier(4)

    def worker(g: MemCgroup) -> None:
        barrier.wait()
        for i in range(5000):
            g.charge_zswap(100)
            g.count_event("zswpout")
            if i % 2:
                g.uncharge_zswap(100)

    threads = [threading.Thread(target=worker, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert root.zswap_current == 4 * 2500 * 100 and root.zswapped == 4 * 2500
    assert root.events()["zswpout"] == 20000


# ------------------------------------------------------------------------------ removal ------
def test_remove_rules(tree: dict[str, MemCgroup]) -> None:
    root, a, b = tree["root"], tree["a"], tree["b"]
    with pytest.raises(CgroupBusy) as exc:
        root.remove()
    assert exc.value.errno == errno.EBUSY
    with pytest.raises(CgroupBusy):
        a.remove()  # has children
    b.charge_zswap(100)
    b.remove()  # charges do not block rmdir
    assert not b.online and a.children == (tree["c"],) and root.from_id(b.id) is None
    with pytest.raises(InvalidParameter):
        b.remove()
    with pytest.raises(InvalidParameter):
        b.read("memory.stat")
    with pytest.raises(InvalidParameter):
        b.write("memory.zswap.max", "max")
    with pytest.raises(InvalidParameter):
        b.create("x")
    assert a.create("b") is not b  # the name is free again; ids are not reused
    assert a.find("b").id == 5
    assert repr(b) == "MemCgroup('/a/b', id=2, offline)"


def test_removal_reparents_objcgs_charges_and_lru() -> None:
    root = MemCgroup()
    a = root.create("a")
    b = a.create("b")
    lru: ListLru[str] = ListLru()
    hook_calls: list[tuple[int, int]] = []

    def offline(memcg: MemCgroup, parent: MemCgroup) -> None:
        hook_calls.append((memcg.id, parent.id))
        lru.reparent(memcg.id, parent.id)

    root.register_offline_hook(offline)
    # zswap stores two entries for b: objcg id in the entry, charge, LRU add
    objcg = b.obj_cgroup()
    assert objcg == b.id and root.obj_cgroup_memcg(objcg) is b
    for key, length in ((1, 1000), (2, 2000)):
        memcg = root.obj_cgroup_memcg(objcg)
        memcg.charge_zswap(length)
        memcg.count_event("zswpout")
        lru.add(memcg.id, key, f"entry{key}")
    lru.add(a.id, 3, "entry3")
    b.remove()
    assert hook_calls == [(b.id, a.id)]
    # the entries' objcg now charges the parent; the parent's totals already held them
    assert root.obj_cgroup_memcg(objcg) is a and b.obj_cgroup() == a.id
    assert [k for k, _, _ in lru.items(a.id)] == [1, 2, 3] and lru.count(b.id) == 0
    for key, length in ((1, 1000), (2, 2000)):  # zswap_entry_free after the removal
        memcg = root.obj_cgroup_memcg(objcg)
        memcg.uncharge_zswap(length)
        assert lru.delete(memcg.id, key)
    assert a.zswap_current == root.zswap_current == 0 and a.zswapped == 0
    assert a.events()["zswpout"] == 2  # events that happened in b stay counted above it
    # removing a as well moves everything (b's old objcg included) up to the root
    a.remove()
    assert root.obj_cgroup_memcg(objcg) is root and root.obj_cgroup_memcg(a.id) is root
    assert [k for k, _, _ in lru.items(root.id)] == [3]
    root.unregister_offline_hook(offline)
    with pytest.raises(InvalidParameter):
        root.obj_cgroup_memcg(999)


# ------------------------------------------------------------------------------ iteration ----
def test_mem_cgroup_iter_pre_order(tree: dict[str, MemCgroup]) -> None:
    root, a, b, c, d = unpack(tree)
    assert list(root.iter()) == [root, a, b, c, d]
    assert list(a.iter()) == [a, b, c]
    assert mem_cgroup_iter(root, None) is root and mem_cgroup_iter(root, d) is None
    assert mem_cgroup_iter(a, c) is None
    with pytest.raises(InvalidParameter):
        mem_cgroup_iter(a, d)
    # a walk whose position is removed resumes after it
    assert mem_cgroup_iter(root, b) is c
    b.remove()
    assert mem_cgroup_iter(root, b) is c
    c.remove()
    assert mem_cgroup_iter(root, c) is d and mem_cgroup_iter(root, b) is d
    e = a.create("e")
    assert list(root.iter()) == [root, a, e, d]


def test_shrink_cursor_round_robin_and_offline_cleanup(tree: dict[str, MemCgroup]) -> None:
    root, a, b, c, d = unpack(tree)
    cur = ZswapShrinkCursor(a)  # any group: the cursor walks the whole hierarchy
    assert [cur.next() for _ in range(7)] == [root, a, b, c, d, None, root]
    assert cur.next() is a and cur.next() is b
    b.remove()  # zswap_memcg_offline_cleanup: the cursor moves on to c...
    assert cur.next_shrink is c
    assert cur.next() is d  # ...so shrink_worker's next step skips c (the kernel's comment)
    d.remove()  # the cursor was on the last group: it goes to None (a new pass)
    assert cur.next_shrink is None and cur.next() is root
    cur.close()
    a.create("x").remove()  # no longer followed
    assert cur.next() is a


def test_shrink_cursor_jump_from_a_group_removed_under_it(tree: dict[str, MemCgroup]) -> None:
    """A walk whose position was removed before its offline cleanup ran resumes after it, as
    mem_cgroup_iter does (the worker holds the cursor's lock while the rmdir waits for it)."""
    root, _a, b, c, d = unpack(tree)
    cur = ZswapShrinkCursor(root)
    assert cur.next_with([b.id]) == (b, 2)  # root and a passed
    cur.close()  # no offline cleanup from here on: b stays the position once removed
    b.remove()
    assert cur.next_with([d.id]) == (d, 1)  # c passed, then d
    assert cur.next_with([]) == (None, 0)
    assert cur.next_with([root.id, c.id]) == (root, 0)


@settings(max_examples=80, deadline=None)
@given(shape=st.lists(st.integers(0, 9), min_size=1, max_size=12),
       ops=st.lists(st.tuples(st.sets(st.integers(0, 12), max_size=3), st.integers(0, 12)),
                    max_size=25))
def test_shrink_cursor_jumps_exactly_as_its_steps_would(
        shape: list[int], ops: list[tuple[set[int], int]]) -> None:
    """next_with(candidates) lands where repeated next() calls would stop at the first
    candidate (or the end of the pass), passing exactly the groups in between."""
    def build() -> list[MemCgroup]:
        nodes = [MemCgroup(version=2)]
        for i, parent in enumerate(shape):
            nodes.append(nodes[min(parent, len(nodes) - 1)].create(f"g{i}"))
        return nodes

    fast_nodes, slow_nodes = build(), build()
    fast, slow = ZswapShrinkCursor(fast_nodes[0]), ZswapShrinkCursor(slow_nodes[0])
    for wanted, removal in ops:
        ids = {fast_nodes[i].id for i in wanted if i < len(fast_nodes)}
        got, passed = fast.next_with(sorted(ids))
        steps = 0
        while True:
            nxt = slow.next()
            if nxt is None or nxt.id in ids:
                break
            steps += 1
        assert (None if got is None else got.path, passed) == (
            None if nxt is None else nxt.path, steps)
        victim = removal + 1  # never the root; a leaf only
        if victim < len(fast_nodes) and fast_nodes[victim].online and \
                not fast_nodes[victim].children:
            fast_nodes[victim].remove()
            slow_nodes[victim].remove()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["create", "remove", "next"]), st.integers(0, 50)),
                max_size=40))
def test_shrink_cursor_visits_online_groups_in_pre_order(ops: list[tuple[str, int]]) -> None:
    root = MemCgroup()
    cur = ZswapShrinkCursor(root)
    n = 0
    for op, pick in ops:
        online = list(root.iter())
        if op == "create":
            online[pick % len(online)].create(f"g{n}")
            n += 1
        elif op == "remove":
            leaves = [m for m in online if m.parent is not None and not m.children]
            if leaves:
                leaves[pick % len(leaves)].remove()
        else:
            got = cur.next()
            assert got is None or got.online
    # a full pass from a fresh cursor position sees every online group once, in pre-order
    while cur.next() is not None:
        pass
    seen = []
    while (m := cur.next()) is not None:
        seen.append(m)
    assert seen == list(root.iter())
    assert all(m.online for m in seen)


@pytest.mark.parametrize("version", [1, 2])
def test_over_limit_finds_the_lowest_group_a_charge_would_cross(version: int) -> None:
    root = MemCgroup(version=version)
    parent = root.create("p")
    child = parent.create("c")
    parent.write(parent.limit_file, str(10 * PAGE_SIZE))
    child.write(child.limit_file, str(4 * PAGE_SIZE))
    child.charge_memory(3)
    assert child.over_limit(1, version == 2) is None
    assert child.over_limit(2, version == 2) is child
    child.write(child.limit_file, "max")
    assert child.over_limit(7, version == 2) is None
    assert child.over_limit(8, version == 2) is parent
    assert root.over_limit(1 << 40, version == 2) is None  # the root has no limit


_COUNT_RESOLVES = """
import json
from pyzswap import Zswap
from pyzswap.memcg import MemCgroup
calls = []
resolve = MemCgroup.obj_cgroup_memcg
def counting(self, objcg):
    calls.append(objcg)
    return resolve(self, objcg)
MemCgroup.obj_cgroup_memcg = counting
out = {}
for version in (1, 2):
    root = MemCgroup(version=version)
    job = root.create("job")
    z = Zswap(totalram_pages=None, cpus=1, memcg_root=root, shrink_work="inline")
    z.swapon(0, 16)
    page = bytearray(b"zswap" * 819 + b"z")
    calls.clear()
    for off in range(1, 9):
        assert z.store(bytes(page), 0, off, job)
    buf = bytearray(len(page))
    for off in range(1, 9):
        assert z.load(buf, 0, off) and buf == page  # exclusive: the entry is freed
    during = len(calls)
    out[version] = [during, job.events()["zswpout"], job.events()["zswpin"],
                    job.zswap_current, len(calls) - during]
print(json.dumps(out))
"""


def test_zswap_under_v1_makes_no_charge_calls() -> None:
    """obj_cgroup_charge_zswap and obj_cgroup_uncharge_zswap return at once unless the memory
    controller is on the default hierarchy (v2): under v1 the zswap state makes no charge
    calls at all (ZswapMemcgHooks.charges_zswap, read once). Counted on the source backend,
    where the resolving method can be wrapped: 8 stores and 8 exclusive loads resolve the group
    0 times under v1, 16 under v2 (the charges and uncharges); the events add up in the state
    and are handed over when read, which resolves it once per event either way."""
    env = {**os.environ, _compiled.PURE_ENV: "1"}
    proc = subprocess.run([sys.executable, "-c", _COUNT_RESOLVES], capture_output=True,
                          text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out == {"1": [0, 8, 8, 0, 2], "2": [16, 8, 8, 0, 2]}
    assert ZswapMemcgHooks(MemCgroup(version=1)).charges_zswap is False
    assert ZswapMemcgHooks(MemCgroup(version=2)).charges_zswap is True


class _RecordingHooks:
    """MemcgHooks that records the event calls (the zswap state's side of the protocol)."""

    charges_zswap = False

    def __init__(self) -> None:
        self.events: list[tuple[int, str, int]] = []

    def charge_zswap(self, objcg: int, nbytes: int) -> None:
        raise AssertionError("no charge calls under charges_zswap False")

    uncharge_zswap = charge_zswap

    def count_event(self, objcg: int, event: str, nr: int) -> None:
        self.events.append((objcg, event, nr))


def test_zswap_events_add_up_in_the_state_until_flushed() -> None:
    """count_objcg_events adds to per-CPU counters the kernel flushes when memory.stat is read:
    the state adds them up by object cgroup and hands each sum over once, when flushed."""
    from pyzswap import Zswap

    hooks = _RecordingHooks()
    z = Zswap(totalram_pages=None, cpus=1, shrink_work="inline")
    z.swapon(0, 32)
    state = type(z._state)(z._table, z._lock, hooks)
    state.flush_memcg_events()  # nothing counted: nothing handed over
    with z._lock:
        state.stored(3, 5)
        state.stored(1, 7)
        state.stored(2, 5)
    assert hooks.events == []
    state.flush_memcg_events()
    assert sorted(hooks.events) == [(5, "zswpout", 5), (7, "zswpout", 1)]
    state.flush_memcg_events()
    assert len(hooks.events) == 2  # each sum handed over once


def test_zswap_events_reach_the_group_that_counted_them_when_read() -> None:
    """Through the public interface: every read sees every event so far, also one taken
    while the group goes offline (its objcg moves to the parent: the events counted before
    stay with the group), after close(), and from a Zswap dropped without close()."""
    import gc

    from pyzswap import Zswap

    root = MemCgroup(version=2)
    job = root.create("job")
    z = Zswap(totalram_pages=None, cpus=1, memcg_root=root, shrink_work="inline")
    z.swapon(0, 64)
    for off in range(1, 5):
        assert z.store(bytes(PAGE_SIZE - 1) + b"a", 0, off, job)
    assert job.events()["zswpout"] == 4
    assert root.stat()["zswpout"] == 4
    assert "zswpout 4" in job.read("memory.stat")
    buf = bytearray(PAGE_SIZE)
    assert z.load(buf, 0, 1)
    job.remove()  # the zswpin above was counted while the objcg was the job's
    assert job.events()["zswpin"] == 1 and root.events()["zswpin"] == 1
    assert z.load(buf, 0, 2)  # the objcg is the root's now
    assert job.events()["zswpin"] == 1 and root.events()["zswpin"] == 2
    z.store(bytes(PAGE_SIZE - 1) + b"b", 0, 10, root)
    z.close()
    assert root.events()["zswpout"] == 5

    dropped = Zswap(totalram_pages=None, cpus=1, memcg_root=root, shrink_work="inline")
    dropped.swapon(0, 8)
    dropped.store(bytes(PAGE_SIZE - 1) + b"c", 0, 1, root)
    del dropped
    gc.collect()
    assert root.events()["zswpout"] == 6
