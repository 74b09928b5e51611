"""Page generators, part 1: the shared machinery (chunking, token tables, samplers) and the
zero, random and text kinds. Public through :mod:`pyzswap.tools.pagesets`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ...errors import InvalidParameter
from ...folio import PAGE_SIZE
from .files import BoolArray, U8Array, same_filled_mask

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


