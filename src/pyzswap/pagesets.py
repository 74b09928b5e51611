"""Realistic 4 KiB page contents, and raw page files.

zswap's behaviour (which pages are rejected as incompressible, how full zsmalloc's size classes
get, how fast the compressors run) depends on what the pages hold. A benchmark over ``os.urandom``
pages or over one page repeated says nothing about a real machine, so the tools, benchmarks and
property tests draw their pages from here.

Every page *kind* has a numpy-vectorised generator that makes ``n`` pages at once as one
contiguous ``n * 4096`` uint8 buffer (a folio-shaped buffer, as the rest of pyzswap wants), from a
``numpy.random.Generator``; nothing loops per page in Python, so 16,384 pages take a fraction of a
second. The kinds are modelled on what anonymous memory holds:

``zero``
    all-zero pages (the swap layer's zero bitmap catches these since 6.12).
``text``
    English-like text: words from a built-in vocabulary with Zipf-ish frequencies, punctuation,
    newlines, numbers, some log-style line prefixes (a document or log buffer).
``heap``
    a C / Python heap of small objects: 16-byte aligned records with refcounts, repeating type
    pointers, heap pointers sharing their high bits, small ints, hashes, short strings, padding.
``numeric``
    numpy-like arrays: small int32/int64 values, sorted index arrays, counters, float64 values of
    limited precision.
``random``
    already-compressed or encrypted data: incompressible (ratio ~1.0).
``json``
    JSON text: records with repeating keys and varied values.
``mixed_page``
    a page whose halves or quarters come from different kinds (objects of different kinds sharing
    a page).

A *profile* (``PAGESETS``) says which fraction of a page set is of each kind. ``"mixed"`` is the
synthetic set of docs/KERNEL_REFERENCE.md §10 (20% zero, 30% text, 15% random, 35% numeric) and
``"real"`` approximates that section's live-Python-process set. The generators are aimed at the
kernel's measurements there, not tuned to them: stored the zram way (same-filled pages 0 bytes,
outputs >= 3625 bytes stored as 4096), 16,384 pages of "mixed" come to within 1% of zram's lz4
size and 2% of its lzo size; "real" comes out about 8% larger than zram's (2.0:1 against 2.15:1
for lz4). Generation is deterministic for a seed: pages of the different kinds are interleaved
in a seeded shuffled order, as in real memory.

Page files are raw pages back to back, as ``dd`` writes them (and as ``dd`` can feed them to
``/dev/zram0``): no header, the length a multiple of 4096.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from .errors import CorruptData, InvalidPage, InvalidParameter
from .folio import PAGE_SIZE, zero_page_mask

if TYPE_CHECKING:
    from ._types import BytesLike

    # Whole pages: any contiguous bytes-like, numpy arrays (what the generators return) included.
    PageBuffer: TypeAlias = BytesLike | npt.NDArray[Any]

__all__ = [
    "DEFAULT_PAGESET",
    "GENERATORS",
    "KINDS",
    "MAX_PAGE_FILE_BYTES",
    "PAGESETS",
    "PAGE_SIZE",
    "PARTIAL_SUFFIX",
    "PageSet",
    "check_regular_file",
    "count_zero_pages",
    "generate_pages",
    "heap_pages",
    "iter_page_file",
    "json_pages",
    "make_pages",
    "make_pages_view",
    "make_pageset",
    "mixed_page_pages",
    "numeric_pages",
    "page_kinds",
    "random_pages",
    "read_page_file",
    "same_filled_mask",
    "text_pages",
    "write_page_file",
    "zero_page_mask",
    "zero_pages",
]

_WORDS_PER_PAGE: Final = PAGE_SIZE // 8

U8Array = npt.NDArray[np.uint8]
U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Generators work on this many pages at a time: bounds the temporaries (the text expansion's
# index array is 4 bytes per output byte) and keeps them in cache, faster than one huge pass.
_CHUNK_PAGES: Final = 256


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _check_count(n: object, what: str = "n_pages") -> int:
    """Validate a page count: a non-negative int (bool is refused: ``True`` pages is a bug)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidParameter(f"{what} must be an int, got {type(n).__name__}")
    if n < 0:
        raise InvalidParameter(f"{what} must be >= 0, got {n}")
    return n


def _rng_for(rng: np.random.Generator | int) -> np.random.Generator:
    """Accept a Generator or an int seed, so one-off callers need not build a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, int) or rng < 0:
        raise InvalidParameter(f"rng must be a numpy Generator or a seed int >= 0, got {rng!r}")
    return np.random.default_rng(rng)


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    """(first page, page count) of each generation chunk."""
    for start in range(0, n, _CHUNK_PAGES):
        yield start, min(_CHUNK_PAGES, n - start)


I32Array = npt.NDArray[np.int32]


@dataclass(frozen=True)
class _TokenTable:
    """Variable-length byte strings packed into one array, for vectorised concatenation.

    Offsets and lengths are int32: callers expand about a MiB at a time, and int32 indices halve
    the memory traffic of the gather, which is most of its cost.
    """

    data: U8Array
    offsets: I32Array
    lengths: I32Array

    @classmethod
    def build(cls, items: list[bytes]) -> _TokenTable:
        lengths = np.array([len(b) for b in items], dtype=np.int32)
        offsets = np.cumsum(lengths, dtype=np.int32) - lengths
        data = np.frombuffer(b"".join(items), dtype=np.uint8).copy()
        return cls(data, offsets, lengths)

    def expand(self, tokens: npt.NDArray[np.intp]) -> tuple[U8Array, I32Array]:
        """Concatenate the byte strings of ``tokens``; also return each token's output offset.

        The classic repeat/arange gather: output byte ``i`` of token ``t`` (starting at output
        offset ``s``) is ``data[offsets[t] + i - s]``.
        """
        lens = self.lengths[tokens]
        ends = np.cumsum(lens, dtype=np.int32)
        starts = ends - lens
        total = int(ends[-1]) if len(ends) else 0
        src = np.repeat(self.offsets[tokens] - starts, lens)
        src += np.arange(total, dtype=np.int32)
        return self.data[src], starts


# Placeholder bytes in token strings, replaced by random characters after expansion: this gives
# numbers, hex addresses and identifiers their real (poor) compressibility without a per-token
# Python loop.
_PH_DIGIT: Final = 1
_PH_HEX: Final = 2
_PH_LOWER: Final = 3
_PH_NZDIGIT: Final = 4
_PH_UPPER: Final = 5
_PH_DIGIT05: Final = 6  # tens of minutes and seconds
_PH_DIGIT01: Final = 7  # tens of hours, months
_PH_MAX: Final = 7


def _placeholder_lut() -> U8Array:
    lut = np.zeros((_PH_MAX + 1, 256), dtype=np.uint8)
    r = np.arange(256)
    lut[0] = 0
    lut[_PH_DIGIT] = np.frombuffer(b"0123456789", dtype=np.uint8)[r % 10]
    lut[_PH_HEX] = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[r % 16]
    lut[_PH_LOWER] = 97 + (r % 26)
    lut[_PH_NZDIGIT] = 49 + (r % 9)
    lut[_PH_UPPER] = 65 + (r % 26)
    lut[_PH_DIGIT05] = 48 + (r % 6)
    lut[_PH_DIGIT01] = 48 + (r % 2)
    return lut


_PH_LUT: Final = _placeholder_lut()


def _fill_placeholders(buf: U8Array, rng: np.random.Generator) -> None:
    """Replace placeholder bytes (1..7) in ``buf`` by random characters of their class."""
    pos = np.flatnonzero(buf <= _PH_MAX)
    if len(pos) == 0:
        return
    r = rng.integers(0, 256, size=len(pos), dtype=np.uint8)
    buf[pos] = _PH_LUT[buf[pos], r]


class _Sampler:
    """Draw from a fixed categorical distribution by table lookup.

    ``Generator.choice(p=...)`` bisects a CDF per draw and dominated generation time; a
    2**18-entry inverse-CDF table makes a draw one gather (probabilities quantised to 4e-6,
    far below anything the models rely on).
    """

    _BITS: Final = 18

    def __init__(self, p: npt.NDArray[np.float64]) -> None:
        cdf = np.cumsum(p / p.sum())
        m = 1 << self._BITS
        lut = np.searchsorted(cdf, (np.arange(m) + 0.5) / m, side="right")
        self.lut: npt.NDArray[np.intp] = np.minimum(lut, len(p) - 1).astype(np.intp)

    def draw(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> npt.NDArray[np.intp]:
        return self.lut[rng.integers(0, 1 << self._BITS, size=size, dtype=np.uint32)]


# Text-like kinds are cut from a stream. Up to this many pages are generated fresh; beyond it,
# pages are windows at distinct offsets into a stream of this many pages (then their numbers are
# drawn afresh). Each page is compressed on its own, so sharing text between pages changes no
# page's compressibility, and it makes a large set several times faster to generate.
_CORPUS_PAGES: Final = 512


def _stream_pages(
    n: int, rng: np.random.Generator, stream: Callable[[int, np.random.Generator], U8Array]
) -> U8Array:
    """``n`` pages cut from a text-like ``stream`` (see ``_CORPUS_PAGES``)."""
    if n <= _CORPUS_PAGES:
        out = np.empty(n * PAGE_SIZE, dtype=np.uint8)
        for start, count in _chunks(n):
            out[start * PAGE_SIZE : (start + count) * PAGE_SIZE] = stream(count * PAGE_SIZE, rng)
    else:
        corpus = np.concatenate(
            [stream(count * PAGE_SIZE, rng) for _, count in _chunks(_CORPUS_PAGES + 1)]
        )
        # Distinct offsets (one per stratum of the stream, jittered), in a shuffled order.
        span = len(corpus) - PAGE_SIZE + 1
        edges = np.arange(n, dtype=np.int64) * span // n
        widths = np.maximum(np.diff(np.append(edges, span)), 1)
        offsets = rng.permutation(edges + (rng.random(n) * widths).astype(np.int64))
        windows = np.lib.stride_tricks.sliding_window_view(corpus, PAGE_SIZE)
        out = windows[offsets].reshape(-1)
    _fill_placeholders(out, rng)
    _fix_same_filled(out)
    return out


def _zipf_weights(n: int, shift: float, exponent: float) -> npt.NDArray[np.float64]:
    w: npt.NDArray[np.float64] = 1.0 / (np.arange(n, dtype=np.float64) + shift) ** exponent
    p: npt.NDArray[np.float64] = w / w.sum()
    return p


def _fix_same_filled(pages: U8Array) -> None:
    """Make sure no page of a non-zero kind is same-filled (or zero), flipping one bit if so.

    A same-filled page is stored in 0 bytes by zram (and by zswap <= 6.9); a generator that
    produced one by chance would silently move a page between kinds.
    """
    bad = np.flatnonzero(same_filled_mask(pages))
    if len(bad):
        pages[bad * PAGE_SIZE] ^= 1


# --------------------------------------------------------------------------------------------
# zero / random
# --------------------------------------------------------------------------------------------


def zero_pages(n: int, rng: np.random.Generator | int = 0) -> U8Array:
    """``n`` all-zero pages (freshly touched anonymous memory, zeroed buffers)."""
    n = _check_count(n, "n")
    _rng_for(rng)
    return np.zeros(n * PAGE_SIZE, dtype=np.uint8)


def random_pages(n: int, rng: np.random.Generator | int = 0) -> U8Array:
    """``n`` pages of uniformly random bytes: compressed, encrypted or media data.

    No compressor gets below 4096 bytes on these; they exercise zswap's incompressible path.
    """
    n = _check_count(n, "n")
    gen = _rng_for(rng)
    return np.frombuffer(bytearray(gen.bytes(n * PAGE_SIZE)), dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------

# Five hundred of the most common English words, roughly by frequency (rank drives the Zipf
# weight, so the order matters more than the exact list).
_VOCAB: Final = [
    "the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on",
    "are", "with", "as", "i", "his", "they", "be", "at", "one", "have", "this", "from", "or",
    "had", "by", "not", "word", "but", "what", "some", "we", "can", "out", "other", "were", "all",
    "there", "when", "up", "use", "your", "how", "said", "an", "each", "she", "which", "do",
    "their", "time", "if", "will", "way", "about", "many", "then", "them", "write", "would",
    "like", "so", "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look",
    "more", "day", "could", "go", "come", "did", "number", "sound", "no", "most", "people", "my",
    "over", "know", "water", "than", "call", "first", "who", "may", "down", "side", "been", "now",
    "find", "any", "new", "work", "part", "take", "get", "place", "made", "live", "where", "after",
    "back", "little", "only", "round", "man", "year", "came", "show", "every", "good", "me",
    "give", "our", "under", "name", "very", "through", "just", "form", "sentence", "great",
    "think", "say", "help", "low", "line", "differ", "turn", "cause", "much", "mean", "before",
    "move", "right", "boy", "old", "too", "same", "tell", "does", "set", "three", "want", "air",
    "well", "also", "play", "small", "end", "put", "home", "read", "hand", "port", "large",
    "spell", "add", "even", "land", "here", "must", "big", "high", "such", "follow", "act", "why",
    "ask", "men", "change", "went", "light", "kind", "off", "need", "house", "picture", "try",
    "us", "again", "animal", "point", "mother", "world", "near", "build", "self", "earth",
    "father", "head", "stand", "own", "page", "should", "country", "found", "answer", "school",
    "grow", "study", "still", "learn", "plant", "cover", "food", "sun", "four", "between", "state",
    "keep", "eye", "never", "last", "let", "thought", "city", "tree", "cross", "farm", "hard",
    "start", "might", "story", "saw", "far", "sea", "draw", "left", "late", "run", "while",
    "press", "close", "night", "real", "life", "few", "north", "open", "seem", "together", "next",
    "white", "children", "begin", "got", "walk", "example", "ease", "paper", "group", "always",
    "music", "those", "both", "mark", "often", "letter", "until", "mile", "river", "car", "feet",
    "care", "second", "book", "carry", "took", "science", "eat", "room", "friend", "began", "idea",
    "fish", "mountain", "stop", "once", "base", "hear", "horse", "cut", "sure", "watch", "color",
    "face", "wood", "main", "enough", "plain", "girl", "usual", "young", "ready", "above", "ever",
    "red", "list", "though", "feel", "talk", "bird", "soon", "body", "dog", "family", "direct",
    "pose", "leave", "song", "measure", "door", "product", "black", "short", "numeral", "class",
    "wind", "question", "happen", "complete", "ship", "area", "half", "rock", "order", "fire",
    "south", "problem", "piece", "told", "knew", "pass", "since", "top", "whole", "king", "space",
    "heard", "best", "hour", "better", "during", "hundred", "five", "remember", "step", "early",
    "hold", "west", "ground", "interest", "reach", "fast", "verb", "sing", "listen", "six",
    "table", "travel", "less", "morning", "ten", "simple", "several", "vowel", "toward", "war",
    "lay", "against", "pattern", "slow", "center", "love", "person", "money", "serve", "appear",
    "road", "map", "rain", "rule", "govern", "pull", "cold", "notice", "voice", "unit", "power",
    "town", "fine", "certain", "fly", "fall", "lead", "cry", "dark", "machine", "note", "wait",
    "plan", "figure", "star", "box", "noun", "field", "rest", "correct", "able", "pound", "done",
    "beauty", "drive", "stood", "contain", "front", "teach", "week", "final", "gave", "green",
    "quick", "develop", "ocean", "warm", "free", "minute", "strong", "special", "mind", "behind",
    "clear", "tail", "produce", "fact", "street", "inch", "multiply", "nothing", "course", "stay",
    "wheel", "full", "force", "blue", "object", "decide", "surface", "deep", "moon", "island",
    "foot", "system", "busy", "test", "record", "boat", "common", "gold", "possible", "plane",
    "stead", "dry", "wonder", "laugh", "thousand", "ago", "ran", "check", "game", "shape",
    "equate", "miss", "brought", "heat", "snow", "tire", "bring", "yes", "distant", "fill", "east",
    "paint", "language", "among", "grand", "ball", "yet", "wave"
]

# Separators after a word, with weights: mostly spaces, some punctuation, line breaks, and
# log-style line starts ("[ 1234.567890] ", "2024-05-17 12:34:56 INFO ") with random digits.
_SEPARATORS: Final[list[tuple[bytes, float]]] = [
    (b" ", 0.760),
    (b", ", 0.070),
    (b". ", 0.055),
    (b".\n", 0.025),
    (b"\n", 0.015),
    (b".\n\n", 0.006),
    (b": ", 0.010),
    (b"; ", 0.005),
    (b" - ", 0.006),
    (b" (", 0.004),
    (b") ", 0.004),
    (b"\n[\x01\x01\x01\x01\x01.\x01\x01\x01\x01\x01\x01] ", 0.014),
    (b"\n202\x01-0\x04-\x07\x04 \x07\x01:\x06\x01:\x06\x01 INFO ", 0.010),
    (b"\n202\x01-0\x04-\x07\x04 \x07\x01:\x06\x01:\x06\x01 WARN ", 0.004),
    (b"=", 0.006),
    (b"/", 0.006),
]
# Separators after which the next word starts a sentence (capitalised).
_SENTENCE_END: Final = frozenset({b". ", b".\n", b".\n\n"})

# Word-slot fillers other than vocabulary words: numbers, addresses, identifiers.
_WORDLIKE: Final[list[tuple[bytes, float]]] = [
    (b"\x04", 0.012),
    (b"\x04\x01", 0.012),
    (b"\x04\x01\x01", 0.008),
    (b"\x04\x01\x01\x01\x01", 0.006),
    (b"\x01.\x01\x01", 0.005),
    (b"0x\x02\x02\x02\x02\x02\x02\x02\x02", 0.004),
    (b"0x7f\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02", 0.004),
    (b"\x03\x03\x03\x01\x01", 0.003),
    (b"\x05\x03\x03\x03\x03\x03", 0.004),
    (b"\x02\x02\x02\x02\x02\x02\x02\x02-\x02\x02\x02\x02", 0.002),
]


# Phrase repetition: real prose and logs repeat word sequences ("in the", a log message with
# new numbers), which is most of what lz4 finds in text. Some spans of word/separator pairs are
# copies of a span shortly before.
_REPEAT_FRACTION: Final = 0.60  # of pairs, covered by copies
_REPEAT_LEN: Final = (3, 14)  # pairs per copied span, [lo, hi)
_REPEAT_DIST: Final = (14, 200)  # how far back, in pairs, [lo, hi); lo >= longest span


@dataclass(frozen=True)
class _TextModel:
    table: _TokenTable
    words: _Sampler  # over word-slot tokens 0..n_word-1
    plain: _Sampler  # over vocabulary words only (no numbers or identifiers)
    seps: _Sampler  # over separator tokens, offset by n_word
    word_p: npt.NDArray[np.float64]
    n_word: int
    sentence_end: BoolArray  # per token id
    mean_pair: float  # mean bytes per (word, separator) pair, placeholders included


def _build_text_model() -> _TextModel:
    words = [w.encode() for w in _VOCAB]
    zipf = _zipf_weights(len(words), shift=2.5, exponent=1.0)
    wl_p = np.array([p for _, p in _WORDLIKE])
    word_p = np.concatenate([zipf * (1.0 - wl_p.sum()), wl_p])
    word_items = words + [b for b, _ in _WORDLIKE]
    sep_items = [b for b, _ in _SEPARATORS]
    sep_p = np.array([p for _, p in _SEPARATORS])
    sep_p = sep_p / sep_p.sum()
    table = _TokenTable.build(word_items + sep_items)
    n_word = len(word_items)
    sentence_end = np.zeros(len(word_items) + len(sep_items), dtype=np.bool_)
    for i, s in enumerate(sep_items):
        sentence_end[n_word + i] = s in _SENTENCE_END
    mean_pair = float(
        (table.lengths[:n_word] * word_p).sum() + (table.lengths[n_word:] * sep_p).sum()
    )
    return _TextModel(
        table,
        _Sampler(word_p),
        _Sampler(zipf),
        _Sampler(sep_p),
        word_p,
        n_word,
        sentence_end,
        mean_pair,
    )


_TEXT: Final = _build_text_model()


def _repeat_spans(n: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """An index map over ``n`` items in which some spans copy a span shortly before."""
    idx = np.arange(n, dtype=np.intp)
    lo_len, hi_len = _REPEAT_LEN
    lo_d, hi_d = _REPEAT_DIST
    if n <= hi_d + hi_len:
        return idx
    events = int(n * _REPEAT_FRACTION / ((lo_len + hi_len - 1) / 2))
    starts = rng.integers(hi_d, n - hi_len, size=events)
    lens = rng.integers(lo_len, hi_len, size=events)
    dists = rng.integers(lo_d, hi_d, size=events)
    total = int(lens.sum())
    within = np.arange(total, dtype=np.intp) - np.repeat(np.cumsum(lens) - lens, lens)
    dst = np.repeat(starts, lens) + within
    idx[dst] = dst - np.repeat(dists, lens)
    # A source span may itself have been overwritten by a later copy: follow the chains (pointer
    # jumping; sources always lie before their copies, so this terminates) so that every copy
    # matches what is really in the stream before it.
    while True:
        nxt = idx[idx]
        if np.array_equal(nxt, idx):
            return idx
        idx = nxt


def _text_stream(nbytes: int, rng: np.random.Generator) -> U8Array:
    """Exactly ``nbytes`` of English-like text, placeholders not yet filled."""
    m = _TEXT
    pairs = int(nbytes / m.mean_pair * 1.08) + 16
    while True:
        rep = _repeat_spans(pairs, rng)
        tokens = np.empty(2 * pairs, dtype=np.intp)
        tokens[0::2] = m.words.draw(rng, pairs)[rep]
        tokens[1::2] = (m.n_word + m.seps.draw(rng, pairs))[rep]
        buf, starts = m.table.expand(tokens)
        if len(buf) >= nbytes:
            break
        pairs = pairs * 5 // 4 + 16
    # Capitalise words that start a sentence (a lowercase letter right after ". " etc.).
    cap = starts[2::2][m.sentence_end[tokens[1:-1:2]]]
    cap = cap[(buf[cap] >= 97) & (buf[cap] <= 122)]
    buf[cap] -= 32
    return buf[:nbytes]


def text_pages(n: int, rng: np.random.Generator | int = 0) -> U8Array:
    """``n`` pages of English-like text, as a document or log buffer holds.

    Words come from a vocabulary of 500 common words with Zipf-ish frequencies, with
    punctuation, capitalised sentence starts, newlines, numbers, hex addresses and log prefixes;
    some phrases repeat a little later, as in real prose and logs. lz4 gets about 1.6:1, like
    on real English prose (a licence text or a Markdown document gives 1.4-1.7:1).
    """
    return _stream_pages(_check_count(n, "n"), _rng_for(rng), _text_stream)


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

KINDS: Final[tuple[str, ...]] = tuple(GENERATORS)
"""Every page kind, in a fixed order (which also fixes each kind's seed stream)."""

PAGESETS: Final[dict[str, dict[str, float]]] = {
    # docs/KERNEL_REFERENCE.md §10's synthetic set.
    "mixed": {"zero": 0.20, "text": 0.30, "random": 0.15, "numeric": 0.35},
    # A Python process's anonymous memory: object heap, strings, parsed JSON, numpy arrays,
    # a little compressed data, 0.6% zero pages.
    "real": {
        "heap": 0.48,
        "text": 0.10,
        "json": 0.12,
        "numeric": 0.14,
        "mixed_page": 0.12,
        "random": 0.034,
        "zero": 0.006,
    },
    "text": {"text": 1.0},
    "heap": {"heap": 1.0},
    "numeric": {"numeric": 1.0},
    "json": {"json": 1.0},
    "mixed_page": {"mixed_page": 1.0},
    "random": {"random": 1.0},
    "zero": {"zero": 1.0},
}
"""Named profiles: page kind → fraction of the pages (fractions sum to 1)."""

DEFAULT_PAGESET: Final = "real"


def generate_pages(kind: str, n: int, rng: np.random.Generator | int = 0) -> bytes:
    """``n`` pages of one kind as ``bytes`` (``rng`` a Generator or a seed)."""
    try:
        gen = GENERATORS[kind]
    except KeyError:
        raise InvalidParameter(
            f"unknown page kind {kind!r}; valid kinds: {', '.join(KINDS)}"
        ) from None
    return gen(n, rng).tobytes()


def _resolve_profile(profile: str | Mapping[str, float]) -> tuple[str, dict[str, float]]:
    if isinstance(profile, str):
        try:
            return profile, PAGESETS[profile]
        except KeyError:
            raise InvalidParameter(
                f"unknown page set {profile!r}; valid names: {', '.join(PAGESETS)}"
            ) from None
    fractions = dict(profile)
    unknown = sorted(set(fractions) - set(KINDS))
    if unknown:
        raise InvalidParameter(
            f"unknown page kind(s) {', '.join(unknown)}; valid kinds: {', '.join(KINDS)}"
        )
    if any(not math.isfinite(v) or v < 0 for v in fractions.values()):
        raise InvalidParameter("page kind fractions must be finite and >= 0")
    total = sum(fractions.values())
    if total <= 0:
        raise InvalidParameter("page kind fractions must not all be zero")
    return "custom", {k: v / total for k, v in fractions.items()}


def _kind_counts(fractions: Mapping[str, float], n: int) -> dict[str, int]:
    """Pages per kind: largest-remainder rounding, so each count is within 1 of fraction * n
    and the counts sum to exactly ``n`` (ties go to the earlier kind in ``KINDS``)."""
    total = sum(fractions.values())
    exact = {k: n * fractions.get(k, 0.0) / total for k in KINDS}
    counts = {k: math.floor(v) for k, v in exact.items()}
    short = n - sum(counts.values())
    by_remainder = sorted(KINDS, key=lambda k: (-(exact[k] - counts[k]), KINDS.index(k)))
    for k in by_remainder[:short]:
        counts[k] += 1
    return counts


def _seeds(seed: int) -> list[np.random.Generator]:
    """Independent generators: [layout, one per kind in KINDS order]. A kind's pages depend only
    on the seed and how many of them there are, not on the other kinds of the profile."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidParameter(f"seed must be an int >= 0, got {seed!r}")
    children = np.random.SeedSequence(seed).spawn(1 + len(KINDS))
    return [np.random.default_rng(c) for c in children]


def _layout(
    fractions: Mapping[str, float], n: int, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """The kind id of each page: exact counts, in a seeded shuffled order."""
    counts = _kind_counts(fractions, n)
    ids = np.repeat(np.arange(len(KINDS)), [counts[k] for k in KINDS])
    return rng.permutation(ids)


@dataclass(frozen=True)
class PageSet:
    """A generated page set: the pages and the kind of each page."""

    profile: str
    seed: int
    data: bytes
    kinds: tuple[str, ...]

    @property
    def n_pages(self) -> int:
        return len(self.kinds)

    def counts(self) -> dict[str, int]:
        """Pages per kind (kinds with no pages omitted)."""
        out: dict[str, int] = {}
        for k in self.kinds:
            out[k] = out.get(k, 0) + 1
        return out

    def page(self, i: int) -> bytes:
        """Page ``i`` as bytes."""
        if not 0 <= i < self.n_pages:
            raise InvalidParameter(f"page index {i} out of range 0..{self.n_pages - 1}")
        return self.data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE]


def make_pageset(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> PageSet:
    """Generate ``n_pages`` pages of a profile, with the kind of each page.

    ``profile`` is a name in ``PAGESETS`` or a mapping kind → weight (normalised). Page kinds are
    counted by largest-remainder rounding and interleaved in a seeded shuffled order.
    """
    name, out, ids = _generate(profile, n_pages, seed)
    return PageSet(name, seed, out.tobytes(), tuple(KINDS[i] for i in ids))


def _generate(profile: str | Mapping[str, float], n_pages: int, seed: int
              ) -> tuple[str, U8Array, npt.NDArray[np.intp]]:
    """The profile's name, the pages as an (n, 4096) array, and each page's kind index."""
    name, fractions = _resolve_profile(profile)
    n = _check_count(n_pages)
    rngs = _seeds(seed)
    ids = _layout(fractions, n, rngs[0])
    out = np.empty((n, PAGE_SIZE), dtype=np.uint8)
    for i, kind in enumerate(KINDS):
        rows = np.flatnonzero(ids == i)
        if len(rows):
            out[rows] = GENERATORS[kind](len(rows), rngs[1 + i]).reshape(len(rows), PAGE_SIZE)
    return name, out, ids


def make_pages_view(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> memoryview:
    """The bytes of :func:`make_pages` as a read-only memoryview of the generated array,
    without the copy into a ``bytes`` object (a run's contents are copied once, into the
    model's memory)."""
    _, out, _ = _generate(profile, n_pages, seed)
    return out.reshape(-1).data.toreadonly()


def make_pages(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> bytes:
    """``n_pages * 4096`` bytes of pages of a profile; deterministic for ``seed``.

    Raises ``InvalidParameter`` for an unknown profile (the message lists the valid names), a
    negative ``n_pages`` or a negative seed. ``n_pages == 0`` gives ``b""``.
    """
    return make_pageset(profile, n_pages, seed).data


def page_kinds(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> list[str]:
    """The kind of each page ``make_pages(profile, n_pages, seed)`` makes, without generating."""
    _, fractions = _resolve_profile(profile)
    n = _check_count(n_pages)
    ids = _layout(fractions, n, _seeds(seed)[0])
    return [KINDS[i] for i in ids]


# --------------------------------------------------------------------------------------------
# Zero / same-filled detection
# --------------------------------------------------------------------------------------------


def _byte_view(data: PageBuffer) -> memoryview:
    """A flat byte memoryview of ``data`` (no copy): ``InvalidParameter`` unless it is a
    contiguous bytes-like, ``InvalidPage`` unless it holds whole pages."""
    try:
        mv = memoryview(data.data if isinstance(data, np.ndarray) else data)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
    except TypeError:
        raise InvalidParameter(
            f"page data must be a contiguous bytes-like, got {type(data).__name__}"
        ) from None
    if mv.nbytes % PAGE_SIZE:
        raise InvalidPage(f"{mv.nbytes} bytes is not a whole number of {PAGE_SIZE}-byte pages")
    return mv


def _page_words(data: PageBuffer) -> U64Array:
    """View whole pages as (n, 512) uint64 without copying."""
    flat = np.frombuffer(_byte_view(data), np.uint8)
    return flat.view(np.uint64).reshape(-1, _WORDS_PER_PAGE)


def count_zero_pages(data: PageBuffer) -> int:
    """How many pages of ``data`` are all zero (``zero_page_mask`` is ``pyzswap.folio``'s)."""
    return int(zero_page_mask(_byte_view(data)).sum())


def same_filled_mask(data: PageBuffer) -> BoolArray:
    """Per page, True if every 8-byte word of the page is equal (zero pages included).

    This is zram's (and pre-6.10 zswap's) same-filled rule: such pages are stored as one word.
    """
    w = _page_words(data)
    return np.asarray((w == w[:, :1]).all(axis=1), dtype=np.bool_)


# --------------------------------------------------------------------------------------------
# Page files
# --------------------------------------------------------------------------------------------


#: The largest page file :func:`read_page_file` reads (it holds the whole file in memory):
#: 4 GiB, a million pages. :func:`iter_page_file` reads larger ones chunk by chunk.
MAX_PAGE_FILE_BYTES: Final = 4 << 30
#: The name a page file has while it is being written (``pyzswap snapshot``): such a file is
#: incomplete, and reading it is refused.
PARTIAL_SUFFIX: Final = ".partial"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular_file(path: str | os.PathLike[str]) -> None:
    """Refuse (``InvalidParameter``) a path that exists but is neither a regular file nor a
    directory: a FIFO would block whoever opens it, a device such as ``/dev/zero`` never ends.
    Missing paths and directories are left to the caller's own message."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        raise InvalidParameter(f"{os.fspath(path)}: is {_kind(st.st_mode)}, not a regular file")


def _open_checked(path: str | os.PathLike[str], *, limit: int | None = None) -> int:
    """Open ``path`` for reading and return the fd.

    A missing file raises ``FileNotFoundError`` (an ``OSError``: the CLI reports it like any
    I/O error); a directory raises ``IsADirectoryError`` naming the path (``os.open`` itself
    would accept it). Anything but a regular file (a FIFO, which would block the open or the
    read forever; a device such as ``/dev/zero``, which never ends) raises
    ``InvalidParameter``, before it is opened. A file whose size is not a multiple of 4096, or
    above ``limit``, raises ``CorruptData`` / ``InvalidParameter`` before anything is read, and
    so does an incomplete snapshot (a ``.partial`` name, or a metadata file that does not match
    the size: see :func:`read_page_file`).
    """
    name = os.fspath(path)
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "is a directory, not a page file", name)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidParameter(f"{name}: is {_kind(st.st_mode)}, not a regular page file")
    # O_NONBLOCK: should the path have become a FIFO since the stat, the open returns at once
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidParameter(f"{name}: is {_kind(st.st_mode)}, not a regular page file")
        _check_file_size(path, st.st_size)
        if limit is not None and st.st_size > limit:
            raise InvalidParameter(f"page file {name!r}: {st.st_size:,} bytes is above the "
                                   f"limit of {limit:,} ({limit >> 30} GiB)")
        _check_complete(name, st.st_size)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_complete(name: str, size: int) -> None:
    """Refuse a snapshot that was not finished: still under its temporary name, or with a
    metadata file (``NAME.json``, as ``pyzswap snapshot`` writes) that does not describe it."""
    if name.endswith(PARTIAL_SUFFIX):
        raise CorruptData(f"page file {name!r} is an incomplete snapshot (a {PARTIAL_SUFFIX} "
                          "file is still being written, or its writer was killed)")
    try:
        st = os.stat(f"{name}.json")
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 << 20:
            return  # not metadata pyzswap wrote
        with open(f"{name}.json", encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return  # no (readable) metadata: a plain page file
    if not isinstance(meta, dict) or "total_pages" not in meta or "page_size" not in meta:
        return  # not a snapshot's metadata
    total, page_size = meta["total_pages"], meta["page_size"]
    if not (isinstance(total, int) and page_size == PAGE_SIZE and total * PAGE_SIZE == size):
        raise CorruptData(f"page file {name!r} is {size // PAGE_SIZE:,} pages but its snapshot "
                          f"metadata says {total!r}: an incomplete or replaced snapshot")


def _check_file_size(path: str | os.PathLike[str], size: int) -> None:
    if size % PAGE_SIZE:
        raise CorruptData(
            f"page file {os.fspath(path)!r}: size {size} bytes is not a multiple of "
            f"{PAGE_SIZE} ({size // PAGE_SIZE} whole pages + {size % PAGE_SIZE} bytes)"
        )


def read_page_file(path: str | os.PathLike[str]) -> bytes:
    """Read a raw page file (pages back to back, as ``dd`` writes them).

    Raises ``CorruptData`` if the length is not a multiple of 4096 or the file is an
    incomplete snapshot, ``InvalidParameter`` for anything but a regular file (FIFOs, devices)
    and for a file above :data:`MAX_PAGE_FILE_BYTES`, ``FileNotFoundError`` if the file is
    missing and ``IsADirectoryError`` for a directory (OSErrors are left as they are: they are
    the environment's, not the data's). An empty file gives ``b""``.
    """
    with os.fdopen(_open_checked(path, limit=MAX_PAGE_FILE_BYTES), "rb") as f:
        data = f.read()
    _check_file_size(path, len(data))
    return data


def write_page_file(path: str | os.PathLike[str], data: PageBuffer) -> int:
    """Write whole pages to ``path`` (created or truncated); return the page count.

    ``data`` is any bytes-like whose length is a multiple of 4096, else ``InvalidPage``.
    """
    mv = _byte_view(data)
    with open(path, "wb") as f:
        f.write(mv)
    return mv.nbytes // PAGE_SIZE


def iter_page_file(path: str | os.PathLike[str], chunk_pages: int = 256) -> Iterator[memoryview]:
    """Yield a page file in chunks of up to ``chunk_pages`` pages, as read-only memoryviews.

    For files too large to hold at once. The file is opened and checked now, not at the first
    ``next()``: a bad ``chunk_pages`` raises ``InvalidParameter``, and a regular file of the
    wrong size ``CorruptData``, before any chunk; FIFOs and devices are refused as by
    :func:`read_page_file` (there is no size limit here). Each chunk is a fresh buffer, so
    keeping one does not pin or alias the next. The file is closed when the iterator is
    exhausted or closed.
    """
    if isinstance(chunk_pages, bool) or not isinstance(chunk_pages, int) or chunk_pages < 1:
        raise InvalidParameter(f"chunk_pages must be an int >= 1, got {chunk_pages!r}")
    # A file object now (not an fd inside the generator): if the iterator is dropped unstarted,
    # the file is still closed when collected.
    f = os.fdopen(_open_checked(path), "rb", buffering=0)
    return _iter_chunks(f, path, chunk_pages * PAGE_SIZE)


def _iter_chunks(
    f: io.RawIOBase, path: str | os.PathLike[str], want: int
) -> Iterator[memoryview]:
    total = 0
    with f:
        while True:
            buf = bytearray(want)
            got = 0
            while got < want:
                r = f.readinto(memoryview(buf)[got:])
                if not r:
                    break
                got += r
            total += got
            if got % PAGE_SIZE:
                _check_file_size(path, total)
            if got:
                yield memoryview(buf)[:got].toreadonly()
            if got < want:
                return
