"""Page generators, part 2: the heap, numeric, json and mixed-page kinds, and the table of
every kind (``GENERATORS``). Public through :mod:`pyzswap.tools.pagesets`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ...folio import PAGE_SIZE
from ._gen import (
    _TEXT,
    _check_count,
    _chunks,
    _fill_placeholders,
    _fix_same_filled,
    _rng_for,
    _Sampler,
    _stream_pages,
    _text_stream,
    _TokenTable,
    _zipf_weights,
    random_pages,
    text_pages,
    zero_pages,
)
from .files import _WORDS_PER_PAGE, I64Array, U8Array, U64Array

# --------------------------------------------------------------------------------------------
# heap
# --------------------------------------------------------------------------------------------

# Kinds of 8-byte words in a heap of small objects.
_W_ZERO = 0  # padding, NULL pointers, unused slots
_W_REFCNT = 1  # small reference counts
_W_TYPE = 2  # pointers to a few type objects in the executable's data segment
_W_PTR = 3  # heap pointers near this page's arena: high bits shared, low bits vary
_W_INT = 4  # small ints (values, digits)
_W_SIZE = 5  # small sizes / lengths
_W_HASH = 6  # 64-bit hashes (random)
_W_STR = 7  # 8 bytes of ASCII string data
_W_FLOAT = 8  # float64 of limited precision
_W_HDR = 9  # malloc chunk header: size | flags
_W_STATE = 10  # flag words (str state, gc bits)
_N_WKINDS = 11

_Z, _RC, _TP, _P, _I, _S, _H, _ST, _F, _HD, _SF = range(_N_WKINDS)

# Object layouts (one word kind per 8 bytes), padded to 16-byte alignment, with weights.
_HEAP_TEMPLATES: Final[list[tuple[tuple[int, ...], float]]] = [
    ((_RC, _TP, _S, _I), 0.12),  # int object (32 B)
    ((_RC, _TP, _F, _Z), 0.06),  # float object, 24 B padded to 32
    ((_RC, _TP, _S, _H, _SF, _Z, _ST, _Z), 0.08),  # compact ASCII str <= 7 chars (64 B)
    ((_RC, _TP, _S, _H, _SF, _Z, _ST, _ST, _ST, _Z), 0.06),  # str <= 23 chars (80 B)
    ((_P, _P, _RC, _TP, _S, _P, _S, _Z), 0.07),  # gc header + list (64 B)
    ((_P, _P, _RC, _TP, _S, _P, _P, _Z), 0.08),  # gc header + 2-tuple (64 B)
    ((_P, _P, _RC, _TP, _S, _P, _P, _P, _P, _Z), 0.04),  # gc header + 4-tuple (80 B)
    ((_H, _P, _P, _H, _P, _P), 0.12),  # dict entries: hash, key, value (48 B)
    ((_P, _P, _P, _P), 0.10),  # list item array (32 B)
    ((_P, _Z), 0.05),  # free block on a free list (16 B)
    ((_P, _Z, _Z, _Z), 0.04),  # free 32-byte block
    ((_Z, _Z), 0.03),  # padding
    ((_HD, _I, _I, _P), 0.07),  # malloc'd C struct (32 B)
    ((_HD, _P, _S, _I, _F, _Z), 0.05),  # malloc'd C struct (48 B)
    ((_RC, _TP, _S, _Z, _I, _I, _I, _I), 0.03),  # small array object (64 B)
]


@dataclass(frozen=True)
class _HeapModel:
    kinds: U8Array  # (T, W) word kinds, padded with _W_ZERO
    lengths: I64Array
    sampler: _Sampler
    mean_words: float


def _build_heap_model() -> _HeapModel:
    width = max(len(t) for t, _ in _HEAP_TEMPLATES)
    kinds = np.zeros((len(_HEAP_TEMPLATES), width), dtype=np.uint8)
    lengths = np.zeros(len(_HEAP_TEMPLATES), dtype=np.int64)
    for i, (t, _) in enumerate(_HEAP_TEMPLATES):
        if len(t) % 2:
            raise AssertionError("heap templates must be 16-byte aligned")
        kinds[i, : len(t)] = t
        lengths[i] = len(t)
    p = np.array([w for _, w in _HEAP_TEMPLATES])
    p = p / p.sum()
    return _HeapModel(kinds, lengths, _Sampler(p), float((lengths * p).sum()))


_HEAP: Final = _build_heap_model()
_REFCNT: Final = _Sampler(_zipf_weights(1000, 1.0, 2.0))  # P(refcount = k) ~ 1/k**2
_HEAP_RUN_MEAN: Final = 6.0  # objects of one layout tend to be allocated together
_HEAP_TAIL_P: Final = 0.45  # pages whose end is still unused (zero)
_HEAP_TAIL_MIN_USED: Final = 0.3  # such a page uses at least this fraction


def _heap_chunk(count: int, rng: np.random.Generator, process: _Process) -> U64Array:
    """``count`` pages of heap words, as a uint64 array of ``count * 512``."""
    nwords = count * _WORDS_PER_PAGE
    # Object layouts in runs (allocation bursts of one type), expanded to word kinds.
    runs = int(nwords / (_HEAP.mean_words * _HEAP_RUN_MEAN) * 1.15) + 8
    while True:
        layouts = _HEAP.sampler.draw(rng, runs)
        reps = rng.geometric(1.0 / _HEAP_RUN_MEAN, size=runs)
        objs = np.repeat(layouts, reps)
        lens = _HEAP.lengths[objs]
        if int(lens.sum()) >= nwords:
            break
        runs = runs * 5 // 4 + 8
    ends = np.cumsum(lens)
    keep = int(np.searchsorted(ends, nwords)) + 1
    objs, lens, ends = objs[:keep], lens[:keep], ends[:keep]
    starts = ends - lens
    col = np.arange(int(ends[-1]), dtype=np.int64) - np.repeat(starts, lens)
    wk = _HEAP.kinds[np.repeat(objs, lens), col][:nwords]
    run_of = np.repeat(np.repeat(np.arange(runs), reps)[:keep], lens)[:nwords]

    words = np.zeros(nwords, dtype=np.uint64)
    order = np.argsort(wk, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(wk, minlength=_N_WKINDS))])

    def idx(kind: int) -> npt.NDArray[np.intp]:
        return order[bounds[kind] : bounds[kind + 1]]

    def per_run(kind: int, run_values: U64Array, own: U64Array, p_run: float) -> None:
        """Fill ``kind`` words with their run's value (probability ``p_run``) or their own:
        objects allocated in one burst share their type, size class and flags."""
        where = idx(kind)
        use_run = rng.random(len(where)) < p_run
        words[where] = np.where(use_run, run_values[run_of[where]], own)

    def n_of(kind: int) -> int:
        return int(bounds[kind + 1] - bounds[kind])

    # Refcounts: mostly 1-3, a long tail (interned/shared objects).
    refcnt = (_REFCNT.draw(rng, runs + n_of(_W_REFCNT)) + 1).astype(np.uint64)
    per_run(_W_REFCNT, refcnt[:runs], refcnt[runs:], 0.5)
    # Type pointers: a handful of types dominate; a burst of allocations is mostly one type.
    types = process.types[process.type_sampler.draw(rng, runs + n_of(_W_TYPE))]
    per_run(_W_TYPE, types[:runs], types[runs:], 0.9)
    # Heap pointers: an arena base (per page) plus a 16-byte aligned offset within 1 MiB.
    # Objects allocated together point to each other, so successive pointers mostly step a
    # few blocks from the previous one (a random walk) and sometimes jump anywhere in the
    # arena; a good share point to the process's popular objects.
    sel = idx(_W_PTR)
    page_arena = process.arenas[rng.integers(0, len(process.arenas), size=count)]
    ptrs = page_arena[sel // _WORDS_PER_PAGE] + (_pointer_walk(len(sel), rng) << np.uint64(4))
    popular = rng.random(len(sel)) < _PTR_POPULAR
    ptrs[popular] = process.popular[process.popular_sampler.draw(rng, int(popular.sum()))]
    words[sel] = ptrs
    # Small ints: mostly tiny, some up to 100,000.
    small = rng.geometric(0.08, size=n_of(_W_INT)).astype(np.uint64)
    big = rng.random(n_of(_W_INT)) < 0.15
    small[big] = rng.integers(0, 100_000, size=int(big.sum()), dtype=np.uint64)
    words[idx(_W_INT)] = small
    sizes = rng.geometric(0.15, size=runs + n_of(_W_SIZE)).astype(np.uint64)
    per_run(_W_SIZE, sizes[:runs], sizes[runs:], 0.5)
    words[idx(_W_HASH)] = rng.integers(0, 2**64 - 1, size=n_of(_W_HASH), dtype=np.uint64)
    nstr = n_of(_W_STR)
    if nstr:
        txt = _text_stream(nstr * 8, rng)
        _fill_placeholders(txt, rng)
        words[idx(_W_STR)] = txt.view(np.uint64)
    floats = np.round(rng.normal(0.0, 50.0, size=n_of(_W_FLOAT)), 1)
    words[idx(_W_FLOAT)] = floats.view(np.uint64)
    chunk_sizes = np.array([32, 48, 64, 96, 128, 256], dtype=np.uint64) | np.uint64(1)
    hdrs = chunk_sizes[rng.integers(0, len(chunk_sizes), size=runs + n_of(_W_HDR))]
    per_run(_W_HDR, hdrs[:runs], hdrs[runs:], 0.8)
    states = np.array([0xE4, 0x64, 0xA4, 0x24], dtype=np.uint64)
    flags = states[rng.integers(0, len(states), size=runs + n_of(_W_STATE))]
    per_run(_W_STATE, flags[:runs], flags[runs:], 0.8)
    # Part of a pool never handed out yet is still zero: some pages end in a zero tail.
    tail = rng.random(count) < _HEAP_TAIL_P
    cut = (rng.uniform(_HEAP_TAIL_MIN_USED, 1.0, size=count) * _WORDS_PER_PAGE).astype(np.intp)
    grid = words.reshape(count, _WORDS_PER_PAGE)
    grid[tail[:, None] & (np.arange(_WORDS_PER_PAGE) >= cut[:, None])] = 0
    return words


_PTR_JUMP: Final = 0.35  # probability that a pointer is not near the previous one
_PTR_SPAN: Final = 1 << 16  # 16-byte blocks in an arena (1 MiB)
_PTR_POPULAR: Final = 0.45  # probability that a pointer is to one of the popular objects


def _pointer_walk(n: int, rng: np.random.Generator) -> U64Array:
    """``n`` block offsets in ``[0, _PTR_SPAN)``: a random walk of small steps with jumps."""
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    jump = rng.random(n) < _PTR_JUMP
    jump[0] = True
    starts = np.flatnonzero(jump)
    targets = rng.integers(0, _PTR_SPAN, size=len(starts), dtype=np.int64)
    # Within a run between jumps: offset = the jump's target + the steps taken since.
    walked = np.cumsum(rng.integers(-4, 17, size=n, dtype=np.int64))
    run = np.cumsum(jump) - 1
    offs: I64Array = (targets - walked[starts])[run] + walked
    return (offs % _PTR_SPAN).astype(np.uint64)


@dataclass(frozen=True)
class _Process:
    """Per-call "process identity", shared by all its pages: the type objects in its executable,
    its heap arenas, and its popular objects (None, True, small ints, interned strings), which
    a large share of all pointers point to."""

    types: U64Array
    type_sampler: _Sampler
    arenas: U64Array
    popular: U64Array
    popular_sampler: _Sampler

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Process:
        exe = np.uint64(0x0000_5500_0000_0000) + (
            rng.integers(0, 1 << 28, dtype=np.uint64) << np.uint64(12)
        )
        types = exe + (rng.integers(0, 1 << 16, size=24, dtype=np.uint64) << np.uint64(5))
        heap = np.uint64(0x0000_7F00_0000_0000) + (
            rng.integers(0, 256, dtype=np.uint64) << np.uint64(32)
        )
        arenas = heap + (rng.integers(0, 1 << 12, size=64, dtype=np.uint64) << np.uint64(20))
        popular = np.concatenate(
            [
                exe + (rng.integers(0, 1 << 16, size=8, dtype=np.uint64) << np.uint64(5)),
                arenas[rng.integers(0, 64, size=56)]
                + (rng.integers(0, _PTR_SPAN, size=56, dtype=np.uint64) << np.uint64(4)),
            ]
        )
        return cls(
            types,
            _Sampler(_zipf_weights(len(types), 1.0, 1.3)),
            arenas,
            popular,
            _Sampler(_zipf_weights(len(popular), 2.0, 1.1)),
        )


def heap_pages(n: int, rng: np.random.Generator | int = 0) -> U8Array:
    """``n`` pages of a C / Python heap of small objects.

    16-byte aligned records (ints, floats, short strs, lists, tuples, dict entry arrays, free
    blocks, malloc'd structs) laid out in allocation bursts: small refcounts, a few type
    pointers repeating, heap pointers sharing their high bits (0x00007f..), random hashes, short
    ASCII strings and zero padding. lz4 finds the repeated type pointers and pointer high bits
    but not the hashes and low pointer bits, as on a real heap.
    """
    n = _check_count(n, "n")
    gen = _rng_for(rng)
    process = _Process.draw(gen)
    out = np.empty(n * _WORDS_PER_PAGE, dtype=np.uint64)
    for start, count in _chunks(n):
        a, b = start * _WORDS_PER_PAGE, (start + count) * _WORDS_PER_PAGE
        out[a:b] = _heap_chunk(count, gen, process)
    pages = out.view(np.uint8)
    _fix_same_filled(pages)
    return pages


# --------------------------------------------------------------------------------------------
# numeric
# --------------------------------------------------------------------------------------------

# Sub-kinds of numeric pages, with weights.
_NUM_KINDS: Final[list[tuple[str, float]]] = [
    ("int64_small", 0.20),
    ("int32_small", 0.20),
    ("int64_sorted", 0.12),
    ("int32_sorted", 0.10),
    ("int32_counts", 0.12),
    ("int64_counter", 0.06),
    ("float64_round", 0.12),
    ("float64_binary", 0.08),
]


def _log_uniform(
    rng: np.random.Generator, lo: float, hi: float, size: int
) -> npt.NDArray[np.float64]:
    """Per-page scales spread evenly over orders of magnitude."""
    return np.exp(rng.uniform(math.log(lo), math.log(hi), size=size))


def _numeric_group(sub: str, k: int, rng: np.random.Generator) -> U8Array:
    """``k`` pages of one numeric sub-kind, each page with its own scale."""
    w64, w32 = _WORDS_PER_PAGE, PAGE_SIZE // 4
    if sub == "int64_small":
        scale = _log_uniform(rng, 30, 30_000, k)[:, None]
        v = (rng.exponential(1.0, size=(k, w64)) * scale).astype(np.int64)
        neg = rng.random(k) < 0.2
        v[neg] -= (scale[neg] / 2).astype(np.int64)
        return v.view(np.uint8).reshape(-1)
    if sub == "int32_small":
        scale = _log_uniform(rng, 20, 5_000, k)[:, None]
        v32 = (rng.exponential(1.0, size=(k, w32)) * scale).astype(np.int32)
        return v32.view(np.uint8).reshape(-1)
    if sub == "int64_sorted":
        step = _log_uniform(rng, 2, 400, k)[:, None]
        inc = rng.geometric(1.0 / step, size=(k, w64)).astype(np.int64)
        base = rng.integers(0, 1 << 24, size=(k, 1), dtype=np.int64)
        return (base + np.cumsum(inc, axis=1)).view(np.uint8).reshape(-1)
    if sub == "int32_sorted":
        # Sorted with repeats (CSR row indices, group keys): mean step 0.2..50, zero allowed.
        step = _log_uniform(rng, 0.2, 50, k)[:, None]
        inc = (rng.geometric(1.0 / (step + 1.0), size=(k, w32)) - 1).astype(np.int32)
        base32 = rng.integers(0, 1 << 20, size=(k, 1), dtype=np.int32)
        return (base32 + np.cumsum(inc, axis=1, dtype=np.int32)).view(np.uint8).reshape(-1)
    if sub == "int32_counts":
        lam = _log_uniform(rng, 3, 3_000, k)[:, None]
        c = rng.poisson(lam, size=(k, w32)).astype(np.int32)
        return c.view(np.uint8).reshape(-1)
    if sub == "int64_counter":
        inc = rng.poisson(_log_uniform(rng, 1, 50, k)[:, None], size=(k, w64)).astype(np.int64)
        base = rng.integers(0, 1 << 32, size=(k, 1), dtype=np.int64)
        return (base + np.cumsum(inc, axis=1)).view(np.uint8).reshape(-1)
    if sub == "float64_round":
        mu = rng.normal(0, 100, size=(k, 1))
        sigma = _log_uniform(rng, 0.5, 200, k)[:, None]
        dec = rng.integers(0, 3, size=(k, 1))
        q = 10.0**dec
        f = np.round(rng.normal(mu, sigma, size=(k, w64)) * q) / q
        return f.view(np.uint8).reshape(-1)
    if sub == "float64_binary":
        # Values that are exact binary fractions (counts, halves, quarters): zero low mantissa.
        scale = _log_uniform(rng, 4, 4_000, k)[:, None]
        steps = 2.0 ** rng.integers(-3, 1, size=(k, 1))
        f = np.round(rng.exponential(1.0, size=(k, w64)) * scale / steps) * steps
        return f.view(np.uint8).reshape(-1)
    raise AssertionError(sub)


def numeric_pages(n: int, rng: np.random.Generator | int = 0) -> U8Array:
    """``n`` pages of numpy-like arrays: small ints, sorted indices, counters, rounded floats.

    Each page is one array (of a random sub-kind and scale), so pages differ in how well they
    compress: int64 of small values compress well, int32 counts and rounded floats poorly.
    """
    n = _check_count(n, "n")
    gen = _rng_for(rng)
    p = np.array([w for _, w in _NUM_KINDS])
    sub = gen.choice(len(_NUM_KINDS), size=n, p=p / p.sum())
    out = np.empty((n, PAGE_SIZE), dtype=np.uint8)
    for i, (name, _) in enumerate(_NUM_KINDS):
        rows = np.flatnonzero(sub == i)
        if len(rows):
            out[rows] = _numeric_group(name, len(rows), gen).reshape(len(rows), PAGE_SIZE)
    flat = out.reshape(-1)
    _fix_same_filled(flat)
    return flat


# --------------------------------------------------------------------------------------------
# json
# --------------------------------------------------------------------------------------------

_WORD = -2  # slot filled by a vocabulary word

# JSON fields: (probability present, slots). A slot is literal bytes (with placeholders) or
# _WORD. Every field has the same number of slots (padded with b"").
_JSON_FIELDS: Final[list[tuple[float, list[bytes | int]]]] = [
    (1.00, [b'{"id": \x04\x01\x01\x01\x01']),
    (0.90, [b', "name": "', _WORD, b" ", _WORD, b'"']),
    (0.50, [b', "email": "', _WORD, b'@example.com"']),
    (0.70, [b', "created_at": "2024-0\x04-\x07\x04T\x07\x01:\x06\x01:\x06\x01Z"']),
    (0.60, [b', "active": true']),
    (0.30, [b', "deleted": false']),
    (0.60, [b', "score": \x01.\x01\x01']),
    (0.50, [b', "tags": ["', _WORD, b'", "', _WORD, b'"]']),
    (0.40, [b', "count": \x04\x01']),
    (0.40, [b', "type": "user"']),
    (0.20, [b', "type": "group"']),
    (0.50, [b', "status": "ok"']),
    (0.15, [b', "error": {"code": \x04\x01\x01, "message": "', _WORD, b" ", _WORD, b'"}']),
    (0.30, [b', "url": "https://example.com/', _WORD, b"/\x04\x01\x01", b'"']),
    (0.40, [b', "user_id": \x04\x01\x01\x01']),
    (0.35, [b', "description": "', _WORD, b" ", _WORD, b" ", _WORD, b'"']),
    (0.30, [b', "price": \x04\x01.\x01\x01']),
    (
        0.20,
        [b', "location": {"lat": 4\x01.\x01\x01\x01\x01, "lon": -7\x01.\x01\x01\x01\x01}'],
    ),
    (0.25, [b', "parent": null']),
    (0.30, [b', "verified": true, "role": "member"']),
    (0.20, [b', "meta": {"source": "api", "version": 2}']),
    (1.00, [b"}"]),
]
_JSON_RECORD_END: Final[list[tuple[bytes, float]]] = [
    (b",\n", 0.5),
    (b", ", 0.2),
    (b",\n  ", 0.3),
]


@dataclass(frozen=True)
class _JsonModel:
    table: _TokenTable
    slots: npt.NDArray[np.intp]  # (F, S) literal token id, -1 for empty, _WORD for a word
    present_p: npt.NDArray[np.float64]  # (F,)
    end_ids: npt.NDArray[np.intp]
    end_p: npt.NDArray[np.float64]
    mean_record: float


def _build_json_model() -> _JsonModel:
    n_word = _TEXT.n_word
    # Literal tokens follow the text model's word tokens, so one table serves both.
    words = [
        bytes(_TEXT.table.data[o : o + ln])
        for o, ln in zip(_TEXT.table.offsets[:n_word], _TEXT.table.lengths[:n_word], strict=True)
    ]
    literals: list[bytes] = []
    width = max(len(s) for _, s in _JSON_FIELDS)
    slots = np.full((len(_JSON_FIELDS), width), -1, dtype=np.intp)
    for f, (_, field) in enumerate(_JSON_FIELDS):
        for j, s in enumerate(field):
            if isinstance(s, int):
                slots[f, j] = _WORD
            else:
                slots[f, j] = n_word + len(literals)
                literals.append(s)
    end_ids = np.arange(len(_JSON_RECORD_END), dtype=np.intp) + n_word + len(literals)
    literals += [b for b, _ in _JSON_RECORD_END]
    table = _TokenTable.build(words + literals)
    present_p = np.array([p for p, _ in _JSON_FIELDS])
    end_p = np.array([p for _, p in _JSON_RECORD_END])
    end_p = end_p / end_p.sum()
    mean_word = float((_TEXT.table.lengths[:n_word] * _TEXT.word_p).sum())
    mean_record = sum(
        p * sum(mean_word if isinstance(s, int) else len(s) for s in field)
        for p, field in _JSON_FIELDS
    )
    mean_record += float((table.lengths[end_ids] * end_p).sum())
    return _JsonModel(table, slots, present_p, end_ids, end_p, mean_record)


_JSON: Final = _build_json_model()


def _json_stream(nbytes: int, rng: np.random.Generator) -> U8Array:
    """Exactly ``nbytes`` of JSON records, placeholders not yet filled."""
    m = _JSON
    records = int(nbytes / m.mean_record * 1.1) + 4
    nf, ns = m.slots.shape
    while True:
        present = rng.random((records, nf)) < m.present_p
        tok = np.broadcast_to(m.slots, (records, nf, ns)).copy()
        tok[~present] = -1
        is_word = tok == _WORD
        tok[is_word] = _TEXT.plain.draw(rng, int(is_word.sum()))
        ends = rng.choice(m.end_ids, size=(records, 1), p=m.end_p)
        flat = np.concatenate([tok.reshape(records, nf * ns), ends], axis=1).reshape(-1)
        buf, _ = m.table.expand(flat[flat >= 0])
        if len(buf) >= nbytes:
            break
        records = records * 5 // 4 + 4
    # Start at a random offset into the first record, as a page boundary would.
    skip = int(rng.integers(0, max(1, min(len(buf) - nbytes, int(m.mean_record)))))
    return buf[skip : skip + nbytes]


def json_pages(n: int, rng: np.random.Generator | int = 0) -> U8Array:
    """``n`` pages of JSON text: records whose keys repeat and whose values vary.

    The repeated keys make these the most compressible text-like pages, as an API response
    cache or a log of JSON lines is on a real machine.
    """
    return _stream_pages(_check_count(n, "n"), _rng_for(rng), _json_stream)


# --------------------------------------------------------------------------------------------
# mixed_page
# --------------------------------------------------------------------------------------------

_SEGMENT_KINDS: Final[list[tuple[str, float]]] = [
    ("zero", 0.15),
    ("text", 0.20),
    ("heap", 0.25),
    ("numeric", 0.20),
    ("json", 0.10),
    ("random", 0.10),
]


def mixed_page_pages(n: int, rng: np.random.Generator | int = 0) -> U8Array:
    """``n`` pages whose halves or quarters are of different kinds.

    Small allocations of different kinds share pages; such a page compresses like the average
    of its parts, which is what a whole-page-kind model misses. The first segment is never a
    zero segment, so the page is not a zero page.
    """
    n = _check_count(n, "n")
    gen = _rng_for(rng)
    out = np.empty((n, PAGE_SIZE), dtype=np.uint8)
    names = [k for k, _ in _SEGMENT_KINDS]
    p = np.array([w for _, w in _SEGMENT_KINDS])
    p_first = np.where(np.array(names) == "zero", 0.0, p)
    quarters = gen.random(n) < 0.5  # else halves, which use kinds[:, :2]
    kinds = gen.choice(len(names), size=(n, 4), p=p / p.sum())
    kinds[:, 0] = gen.choice(len(names), size=n, p=p_first / p_first.sum())
    halves2 = out.reshape(n, 2, PAGE_SIZE // 2)
    quarters4 = out.reshape(n, 4, PAGE_SIZE // 4)
    for i, name in enumerate(names):
        # One generator call per kind: its pages are cut into aligned halves first, then the
        # remaining quarters.
        hsel = (kinds[:, :2] == i) & ~quarters[:, None]
        qsel = (kinds == i) & quarters[:, None]
        h, q = int(hsel.sum()), int(qsel.sum())
        if h + q == 0:
            continue
        src = GENERATORS[name](-(-(2 * h + q) // 4), gen)
        halves2[hsel] = src.reshape(-1, PAGE_SIZE // 2)[:h]
        quarters4[qsel] = src.reshape(-1, PAGE_SIZE // 4)[2 * h : 2 * h + q]
    flat = out.reshape(-1)
    _fix_same_filled(flat)
    return flat


# --------------------------------------------------------------------------------------------
# Registry and profiles
# --------------------------------------------------------------------------------------------

GENERATORS: Final[dict[str, Callable[[int, np.random.Generator | int], U8Array]]] = {
    "zero": zero_pages,
    "text": text_pages,
    "heap": heap_pages,
    "numeric": numeric_pages,
    "random": random_pages,
    "json": json_pages,
    "mixed_page": mixed_page_pages,
}
"""Page kind → generator ``(n, rng) -> uint8 array of n * 4096``."""

