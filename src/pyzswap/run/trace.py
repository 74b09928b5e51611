"""Access traces for the memory-pressure harness: the "pyzswap trace v1" format.

A synthetic workload only approximates which pages a real program touches and in what order;
a trace says it exactly, so the harness can replay it through reclaim, zswap and swap. The
format is plain text, one access (or a range of accesses) per line, easy to write by hand, to
generate from a script, or to convert from a tracer::

    # pyzswap trace v1
    proc 1 4096 memcg=web pageset=real seed=7     # process 1: 4096 pages (16 MiB)
    w 1 0-1023                                    # write pages 0..1023 of process 1
    r 1 17                                        # read page 17
    proc 2 1024 memcg=batch/job1 file=heap.pages  # starts here; contents from a page file
    r 2 0-1023
    set batch/job1 memory.max 2M                  # write a cgroup file now
    reclaim web 1M                                # memory.reclaim
    pageout 1 0-99                                # MADV_PAGEOUT of pages 0..99 of process 1
    exit 2                                        # frees its pages and swap slots

Lines (tokens are separated by whitespace; ``#`` starts a comment anywhere on a line; blank
lines are ignored):

``proc <pid> <npages> [memcg=<path>] [pageset=<profile>] [file=<pagefile>] [seed=<n>]``
    Declares a process with ``npages`` (>= 1) virtual pages, numbered ``0..npages-1``. The
    process starts where its ``proc`` line is (before it, it does not exist and uses no
    memory), so the line must come before the pid's first use; pids are never reused within a
    trace (a second ``proc`` for a pid is an error, even after its ``exit``). A page exists
    from its first access (``r`` or ``w``), which gives it its initial contents. Options, each
    at most once:

    * ``memcg=`` the memory cgroup it is charged to, a path such as ``a/b`` or ``/a/b`` (both
      mean the same group; ``/`` is the root). Stored normalised, with a leading ``/``.
    * ``pageset=`` the :data:`pyzswap.tools.pagesets.PAGESETS` profile its page contents are drawn
      from (default ``real``).
    * ``file=`` a page file (raw 4 KiB pages, as ``pyzswap snapshot`` writes) giving page ``i``
      the file's page ``i``; a relative path is relative to the trace file's directory. The
      file must exist and hold at least ``npages`` pages: this is checked (its size only) when
      the trace is parsed, so a bad path fails before a long run, not in the middle of it.
      Paths cannot contain whitespace or ``#``.
    * ``seed=`` a non-negative integer seed for the generated contents (the harness picks one
      when it is absent).

``r <pid> <page>[-<last>]``
    Read access to one page, or to every page of the inclusive range ``page..last``.

``w <pid> <page>[-<last>]``
    Write access: like ``r``, and the page is dirtied (it gets new contents).

``exit <pid>``
    The process exits: its pages and swap slots are freed. The pid cannot be used again.

``pageout <pid> <page>[-<last>]``
    ``madvise(MADV_PAGEOUT)`` of the range: its present pages are reclaimed now (not an
    access: pages never touched stay untouched).

``reclaim <memcg> <bytes>``
    Write ``bytes`` (a number with an optional ``K``/``M``/``G`` suffix) to the group's
    ``memory.reclaim`` (cgroup v2): proactive reclaim of that much from the group.

``set <memcg> <file> <value>``
    Write ``value`` to a cgroup file of the group at this point: ``memory.max``,
    ``memory.swap.max``, ``memory.zswap.max``, ``memory.zswap.writeback`` (cgroup v2),
    ``memory.limit_in_bytes``,
    ``memory.swappiness`` (cgroup v1). The value is checked here for its syntax; the cgroup
    version of the run decides whether the file exists.

What a ``w`` does to the page (the rule both ``pyzswap run`` and ``pyzswap kernel run`` follow):
let ``n`` be the number of ``w`` accesses before this one in the whole trace (from 0, in trace
order, over all processes; a range counts one per page) and ``x = splitmix64(seed ^ n)`` with
the run's ``--seed``; the 256 bytes at ``src = (x & 15) * 256`` are copied over the 256 bytes
at ``dst = ((x >> 4) & 15) * 256`` of the same page (``dst`` moved to ``(src + 256) % 4096``
when equal). :func:`write_offsets` computes ``(src, dst)``, :func:`splitmix64` the mix
(the standard splitmix64 output for state ``v``: ``v + 0x9E3779B97F4A7C15``, then the
finaliser). The first access of a page, ``r`` or ``w``, gives it its initial contents.

A first comment line of the form ``# pyzswap trace vN`` is a version header; any version but
``v1`` is refused. Every malformed line raises :class:`~pyzswap.errors.CorruptData` with the
file name, the line number and what is wrong (``trace.txt:12: page 4096 is outside process 3
(0..4095)``).

Parsing is a single pass of ``str.split`` and integer checks (no regular expressions), about a
second per million lines.

DAMON reports convert into traces with :func:`pyzswap.run.trace_damon.parse_damo_report`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeAlias, cast

from ..errors import CorruptData, InvalidParameter
from ..folio import PAGE_SIZE
from ..tools.pagesets import DEFAULT_PAGESET, PAGESETS

__all__ = [
    "SET_FILES",
    "TRACE_HEADER",
    "WRITE_SPAN",
    "Op",
    "ProcSpec",
    "Trace",
    "TraceEvent",
    "contents_seed",
    "parse_trace",
    "parse_trace_text",
    "splitmix64",
    "write_offsets",
    "write_trace",
]

#: The optional first line of a v1 trace (``write_trace`` writes it).
TRACE_HEADER: Final = "# pyzswap trace v1"

#: What an event does: read pages, write pages, end the process, page out a range, reclaim
#: from a memcg, or write a cgroup file.
Op: TypeAlias = Literal["r", "w", "exit", "pageout", "reclaim", "set"]
#: The cgroup files a ``set`` line may write (either cgroup version's).
SET_FILES: Final = ("memory.max", "memory.swap.max", "memory.zswap.max",
                    "memory.zswap.writeback", "memory.limit_in_bytes", "memory.swappiness")

_VERSION_PREFIX: Final = "pyzswap trace v"
_PROC_OPTIONS: Final = ("memcg", "pageset", "file", "seed")
_ACCESS_USAGE: Final = "<pid> <page>[-<last>]"
_PROC_USAGE: Final = "proc <pid> <npages> [memcg=<path>] [pageset=<profile>] [file=<pagefile>] " \
                     "[seed=<n>]"


# ----------------------------------------------------------------------------- the data -------
@dataclass(frozen=True, slots=True)
class ProcSpec:
    """One ``proc`` line: a process of the trace and where its page contents come from.

    ``line`` is where it was declared (1-based; 0 when built in code). It does not take part in
    equality, so a trace that was written and parsed again compares equal to the original.
    ``at`` is where the process starts: the number of events before its ``proc`` line (0: it
    exists from the start).
    """

    pid: int
    npages: int
    memcg: str | None = None
    pageset: str = DEFAULT_PAGESET
    file: str | None = None
    seed: int | None = None
    line: int = field(default=0, compare=False)
    at: int = 0


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One event line: ``op`` on pages ``first..last`` (inclusive) of ``pid``.

    An ``exit`` has the empty range ``first=0, last=-1``, so :attr:`pages` is empty and
    :attr:`npages` is 0 for it. ``line`` (not part of equality) is the source line.
    ``reclaim`` and ``set`` name a cgroup instead of a process (``pid`` -1, the empty range):
    ``memcg`` is its normalised path, ``value`` the bytes (``reclaim``) or the value written,
    ``file`` the cgroup file (``set``). ``pageout`` has a pid and a range, like ``r``.
    """

    op: Op
    pid: int
    first: int
    last: int
    line: int = field(default=0, compare=False)
    memcg: str | None = None
    file: str | None = None
    value: str | None = None

    @property
    def npages(self) -> int:
        """How many pages the event touches (0 for ``exit``)."""
        return self.last - self.first + 1

    @property
    def pages(self) -> range:
        """The page numbers the event touches, in order."""
        return range(self.first, self.last + 1)


@dataclass
class Trace:
    """A parsed trace: every declared process (in declaration order) and the events in order."""

    procs: dict[int, ProcSpec]
    events: list[TraceEvent]
    name: str = "<string>"

    def iter_events(self) -> Iterator[TraceEvent]:
        """The events in trace order (what the harness replays)."""
        return iter(self.events)

    @property
    def accesses(self) -> int:
        """Page accesses in the trace: every page of every ``r`` and ``w`` range counts once."""
        return sum(e.last - e.first + 1 for e in self.events if e.op == "r" or e.op == "w")

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the trace to ``path`` in v1 format (see :func:`write_trace`)."""
        write_trace(path, self.procs, self.events)


# ------------------------------------------------------------------ replay semantics -----
#: Bytes a ``w`` access moves within its page (see :func:`write_offsets`).
WRITE_SPAN: Final = 256
_MASK64: Final = (1 << 64) - 1


def splitmix64(x: int) -> int:
    """SplitMix64 of one 64-bit value: add the golden gamma, then the two xor-shift-multiply
    rounds and the final xor-shift (Steele, Lea and Flood's generator as one function).

    ``splitmix64(0) == 0xE220A8397B1DCDAF`` (the generator's first output for seed 0). The C
    replayer (``csrc/replay.c``) has the same function; a test checks that they agree.
    """
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def write_offsets(seed: int, n: int) -> tuple[int, int]:
    """Where the ``n``-th write access of a trace (0-based, counted page by page in trace order
    over all processes) moves bytes within its page: ``(src, dst)``.

    A ``w`` access copies the :data:`WRITE_SPAN` bytes at ``src`` over those at ``dst`` in the
    same page (``memmove``), after the page's first-touch contents if this is its first access.
    With ``x = splitmix64(seed ^ n)``: ``src = (x & 15) * 256``, ``dst = ((x >> 4) & 15) * 256``
    and, if they are equal, ``dst = (src + 256) % 4096``. ``seed`` is the run's ``--seed``.
    Both the mm model and the kernel replayer apply writes this way, so a page's bytes are the
    same on both sides at every point of a trace.
    """
    x = splitmix64((seed ^ n) & _MASK64)
    src = (x & 15) * WRITE_SPAN
    dst = ((x >> 4) & 15) * WRITE_SPAN
    if dst == src:
        dst = (src + WRITE_SPAN) % PAGE_SIZE
    return src, dst


def contents_seed(spec: ProcSpec, run_seed: int) -> int:
    """The ``make_pages`` seed of a generated (``pageset=``) process: ``run_seed * 1000`` plus
    its ``seed=`` option, or its pid when the option is absent."""
    return run_seed * 1000 + (spec.seed if spec.seed is not None else spec.pid)


# ---------------------------------------------------------------------------- parsing --------
@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic GC while building a million small acyclic objects.

    Each generation-2 pass walks every object built so far, so a big trace would otherwise
    spend a third of its parse time in the collector finding nothing to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Input bounds: pids fit a C int, a process has at most 2^28 pages (1 TiB), seeds are 32-bit.
MAX_PID: Final = 2**31 - 1
MAX_NPAGES: Final = 1 << 28
MAX_SEED: Final = 2**32 - 1


def is_uint(token: str) -> bool:
    # int() would also take "+3", " 3", "3_000" and non-ASCII digits: a trace has none of them.
    # At most 100 digits: a longer token is refused before int() has to convert it (the
    # callers bound the values themselves).
    return token.isascii() and token.isdigit() and len(token) <= 100


def _size(token: str) -> int | None:
    """Bytes of a ``reclaim``/``set`` size token: digits with an optional K/M/G/T suffix."""
    shift = {"k": 10, "m": 20, "g": 30, "t": 40}.get(token[-1:].lower(), 0)
    digits = token[:-1] if shift else token
    return int(digits) << shift if is_uint(digits) else None


def _normalise_memcg(value: str) -> str | None:
    """``a/b``, ``/a/b``, ``a//b/`` → ``/a/b``; ``/`` → ``/``. None if a component is invalid."""
    parts = [p for p in value.split("/") if p]
    if any(p in (".", "..") for p in parts):
        return None
    return "/" + "/".join(parts)


class _Parser:
    """One pass over the lines of a v1 trace; state needed to validate each line in O(1)."""

    def __init__(self, name: str, base_dir: Path, check_files: bool) -> None:
        self.name = name
        self.base_dir = base_dir
        self.check_files = check_files
        self.procs: dict[int, ProcSpec] = {}
        self.events: list[TraceEvent] = []
        self.live: dict[int, int] = {}      # pid -> npages, while declared and not exited
        self.exited: dict[int, int] = {}    # pid -> line of its exit
        self.pid_tokens: dict[str, int] = {}  # "3" -> 3: most lines reuse a few pid tokens
        self.seen_content = False  # a line other than comments was seen (ends the header)
        #: events parsed before :attr:`events` began (a caller that drains it keeps the count)
        self.events_before = 0

    def fail(self, lineno: int, message: str) -> CorruptData:
        return CorruptData(f"{self.name}:{lineno}: {message}")

    def run(self, lines: Iterable[str]) -> Trace:
        with _no_gc():
            line = self.line
            for lineno, raw in enumerate(lines, 1):
                line(raw, lineno)
        return Trace(self.procs, self.events, self.name)

    def line(self, raw: str, lineno: int) -> None:
        """Parse one line; its event (if any) is appended to :attr:`events`."""
        if "#" in raw:
            hash_at = raw.index("#")
            if not self.seen_content and not raw[:hash_at].strip():
                self._check_header(raw[hash_at + 1:], lineno)
            raw = raw[:hash_at]
        parts = raw.split()
        if not parts:
            return
        self.seen_content = True
        op = parts[0]
        events_append = self.events.append
        live = self.live
        if op == "r" or op == "w":
            if len(parts) != 3:
                raise self.fail(lineno, f"expected '{op} {_ACCESS_USAGE}', "
                                        f"got {len(parts)} fields")
            pid = self.pid_tokens.get(parts[1])
            if pid is None:
                pid = self._pid(parts[1], lineno)
            npages = live.get(pid)
            if npages is None:
                raise self._not_live(pid, lineno)
            page = parts[2]
            if "-" in page:
                first_tok, _, last_tok = page.partition("-")
            else:
                first_tok = last_tok = page
            if not (is_uint(first_tok) and is_uint(last_tok)):
                raise self.fail(lineno, f"page {page!r} is not a page number or a "
                                        "range <first>-<last>")
            first = int(first_tok)
            last = first if last_tok is first_tok else int(last_tok)
            if last >= npages or last < first:
                raise self._bad_range(pid, npages, first, last, lineno)
            events_append(TraceEvent(cast(Op, op), pid, first, last, lineno))
        elif op == "proc":
            self._proc(parts, lineno)
        elif op == "exit":
            if len(parts) != 2:
                raise self.fail(lineno, f"expected 'exit <pid>', got {len(parts)} fields")
            pid = self._pid(parts[1], lineno)
            if pid not in live:
                raise self._not_live(pid, lineno)
            del live[pid]
            self.exited[pid] = lineno
            events_append(TraceEvent("exit", pid, 0, -1, lineno))
        elif op == "pageout":
            events_append(self._pageout(parts, lineno))
        elif op == "reclaim":
            events_append(self._reclaim(parts, lineno))
        elif op == "set":
            events_append(self._set(parts, lineno))
        else:
            raise self.fail(lineno, f"unknown operation {op!r} (expected proc, r, w, "
                                    "exit, pageout, reclaim or set)")

    def _pageout(self, parts: list[str], lineno: int) -> TraceEvent:
        if len(parts) != 3:
            raise self.fail(lineno, f"expected 'pageout {_ACCESS_USAGE}', got {len(parts)} "
                                    "fields")
        pid = self._pid(parts[1], lineno)
        npages = self.live.get(pid)
        if npages is None:
            raise self._not_live(pid, lineno)
        first_tok, dash, last_tok = parts[2].partition("-")
        if not dash:
            last_tok = first_tok
        if not (is_uint(first_tok) and is_uint(last_tok)):
            raise self.fail(lineno, f"page {parts[2]!r} is not a page number or a range "
                                    "<first>-<last>")
        first, last = int(first_tok), int(last_tok)
        if last >= npages or last < first:
            raise self._bad_range(pid, npages, first, last, lineno)
        return TraceEvent("pageout", pid, first, last, lineno)

    def _memcg_token(self, token: str, lineno: int) -> str:
        memcg = _normalise_memcg(token)
        if memcg is None:
            raise self.fail(lineno, f"memcg {token!r} is not a cgroup path ('.' and '..' are "
                                    "not allowed)")
        return memcg

    def _reclaim(self, parts: list[str], lineno: int) -> TraceEvent:
        if len(parts) != 3:
            raise self.fail(lineno, f"expected 'reclaim <memcg> <bytes>', got {len(parts)} "
                                    "fields")
        memcg = self._memcg_token(parts[1], lineno)
        if _size(parts[2]) is None:
            raise self.fail(lineno, f"reclaim size {parts[2]!r} is not a number of bytes "
                                    "(with an optional K, M or G suffix)")
        return TraceEvent("reclaim", -1, 0, -1, lineno, memcg=memcg, value=parts[2])

    def _set(self, parts: list[str], lineno: int) -> TraceEvent:
        if len(parts) != 4:
            raise self.fail(lineno, f"expected 'set <memcg> <file> <value>', got {len(parts)} "
                                    "fields")
        memcg = self._memcg_token(parts[1], lineno)
        name, value = parts[2], parts[3]
        if name not in SET_FILES:
            raise self.fail(lineno, f"set: unknown cgroup file {name!r} (known: "
                                    f"{', '.join(SET_FILES)})")
        if name in ("memory.zswap.writeback", "memory.swappiness"):
            ok = is_uint(value) and int(value) <= (1 if name == "memory.zswap.writeback"
                                                    else 200)
        elif name == "memory.limit_in_bytes" and value == "-1":
            ok = True
        else:
            ok = value == "max" or _size(value) is not None
        if not ok:
            raise self.fail(lineno, f"set {name}: bad value {value!r}")
        return TraceEvent("set", -1, 0, -1, lineno, memcg=memcg, file=name, value=value)

    def _check_header(self, comment: str, lineno: int) -> None:
        text = comment.strip()
        if text.startswith(_VERSION_PREFIX):
            version = text[len(_VERSION_PREFIX):].partition(" ")[0]
            if version != "1":
                raise self.fail(lineno, f"unsupported trace version v{version} "
                                        "(this pyzswap reads v1)")

    def _pid(self, token: str, lineno: int) -> int:
        if not is_uint(token):
            raise self.fail(lineno, f"pid {token!r} is not a non-negative integer")
        pid = int(token)
        if pid > MAX_PID:
            raise self.fail(lineno, f"pid {pid} is above {MAX_PID}")
        self.pid_tokens[token] = pid
        return pid

    def _not_live(self, pid: int, lineno: int) -> CorruptData:
        if pid in self.exited:
            return self.fail(lineno, f"pid {pid} is used after its exit at line "
                                     f"{self.exited[pid]}")
        return self.fail(lineno, f"pid {pid} is not declared (a 'proc {pid} <npages>' line "
                                 "must come before its first use)")

    def _bad_range(self, pid: int, npages: int, first: int, last: int,
                   lineno: int) -> CorruptData:
        if last < first:
            return self.fail(lineno, f"page range {first}-{last} is reversed (last < first)")
        what = f"page {first} is" if first == last else f"pages {first}-{last} are"
        return self.fail(lineno, f"{what} outside process {pid} (0..{npages - 1})")

    def _proc(self, parts: list[str], lineno: int) -> None:
        if len(parts) < 3:
            raise self.fail(lineno, f"expected '{_PROC_USAGE}'")
        pid = self._pid(parts[1], lineno)
        if pid in self.procs:
            raise self.fail(lineno, f"pid {pid} is already declared at line "
                                    f"{self.procs[pid].line}")
        if not is_uint(parts[2]) or int(parts[2]) < 1:
            raise self.fail(lineno, f"npages {parts[2]!r} is not a positive integer")
        npages = int(parts[2])
        if npages > MAX_NPAGES:
            raise self.fail(lineno, f"npages {npages} is above {MAX_NPAGES} (a 1 TiB process)")
        options: dict[str, str] = {}
        for item in parts[3:]:
            key, eq, value = item.partition("=")
            if not eq:
                raise self.fail(lineno, f"proc option {item!r} is not key=value "
                                        f"(keys: {', '.join(_PROC_OPTIONS)})")
            if key not in _PROC_OPTIONS:
                raise self.fail(lineno, f"unknown proc option {key!r} "
                                        f"(keys: {', '.join(_PROC_OPTIONS)})")
            if key in options:
                raise self.fail(lineno, f"proc option {key!r} is given twice")
            if not value:
                raise self.fail(lineno, f"proc option {key!r} has an empty value")
            options[key] = value
        memcg: str | None = None
        if "memcg" in options:
            memcg = _normalise_memcg(options["memcg"])
            if memcg is None:
                raise self.fail(lineno, f"memcg {options['memcg']!r} is not a cgroup path "
                                        "('.' and '..' are not allowed)")
        pageset = options.get("pageset", DEFAULT_PAGESET)
        if pageset not in PAGESETS:
            raise self.fail(lineno, f"unknown pageset {pageset!r} "
                                    f"(valid: {', '.join(PAGESETS)})")
        seed: int | None = None
        if "seed" in options:
            if not is_uint(options["seed"]):
                raise self.fail(lineno, f"seed {options['seed']!r} is not a non-negative "
                                        "integer")
            seed = int(options["seed"])
            if seed > MAX_SEED:
                raise self.fail(lineno, f"seed {seed} is above {MAX_SEED}")
        file: str | None = None
        if "file" in options:
            file = os.path.abspath(self.base_dir / options["file"])
            if self.check_files:
                self._check_page_file(options["file"], file, pid, npages, lineno)
        self.procs[pid] = ProcSpec(pid, npages, memcg, pageset, file, seed, lineno,
                                   self.events_before + len(self.events))
        self.live[pid] = npages

    def _check_page_file(self, given: str, path: str, pid: int, npages: int,
                         lineno: int) -> None:
        try:
            st = os.stat(path)
        except ValueError as exc:  # e.g. a NUL in the path
            raise self.fail(lineno, f"page file {given!r}: not a usable path ({exc})") from None
        except OSError as exc:
            raise self.fail(lineno, f"page file {given!r}: {exc.strerror}") from None
        if not os.path.isfile(path):
            raise self.fail(lineno, f"page file {given!r} is not a regular file")
        if st.st_size % PAGE_SIZE:
            raise self.fail(lineno, f"page file {given!r} is {st.st_size} bytes, not a "
                                    f"multiple of {PAGE_SIZE}")
        have = st.st_size // PAGE_SIZE
        if have < npages:
            raise self.fail(lineno, f"page file {given!r} has {have} pages, process {pid} "
                                    f"needs {npages}")


def parse_trace(path: str | os.PathLike[str], *, check_files: bool = True) -> Trace:
    """Parse a v1 trace file (format: this module's docstring).

    ``file=`` paths are resolved against the trace file's directory and, with ``check_files``,
    checked to exist and be large enough. Raises :class:`CorruptData` for any malformed line,
    :class:`OSError` if the trace itself cannot be read. Undecodable bytes become U+FFFD, so
    they are reported as a malformed line (with its number) unless they sit in a comment.
    """
    path = Path(path)
    with path.open(encoding="utf-8", errors="replace") as f:
        return _Parser(str(path), path.parent, check_files).run(f)


def parse_trace_text(text: str, name: str = "<string>", *,
                     base_dir: str | os.PathLike[str] | None = None,
                     check_files: bool = True) -> Trace:
    """Parse a v1 trace held in a string; ``name`` is used in error messages.

    Relative ``file=`` paths are resolved against ``base_dir`` (default: the current
    directory).
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return _Parser(name, base, check_files).run(text.splitlines())


# ---------------------------------------------------------------------------- writing --------
def _token(value: str, what: str) -> str:
    if not value or any(c.isspace() for c in value) or "#" in value:
        raise InvalidParameter(f"{what} {value!r} cannot be written to a trace (empty, or "
                               "contains whitespace or '#')")
    return value


def _proc_line(spec: ProcSpec) -> str:
    fields = [f"proc {spec.pid} {spec.npages}"]
    if spec.memcg is not None:
        fields.append(f"memcg={_token(spec.memcg, 'memcg')}")
    if spec.pageset != DEFAULT_PAGESET:
        fields.append(f"pageset={_token(spec.pageset, 'pageset')}")
    if spec.file is not None:
        fields.append(f"file={_token(spec.file, 'file')}")
    if spec.seed is not None:
        fields.append(f"seed={spec.seed}")
    return " ".join(fields)


def write_trace(path: str | os.PathLike[str],
                procs: Mapping[int, ProcSpec] | Iterable[ProcSpec],
                events: Iterable[TraceEvent]) -> None:
    """Write a v1 trace: the header, then the events in order with each ``proc`` line where
    its process starts (before event number ``spec.at``; specs with the same ``at`` in the
    order given).

    The result parses back (:func:`parse_trace`) to equal specs and events, provided the events
    are valid for the procs (the parser checks ranges and exits; this only refuses events for
    undeclared pids and values that cannot be written as one token). ``file=`` paths are
    written as given: absolute ones (what the parser produces) survive a move of the trace.
    """
    specs = list(procs.values()) if isinstance(procs, Mapping) else list(procs)
    declared = {s.pid for s in specs}
    pending = sorted(specs, key=lambda spec: spec.at)  # stable: declaration order within an at
    k = 0
    with Path(path).open("w", encoding="utf-8") as f:
        write = f.write
        write(TRACE_HEADER + "\n")
        for i, e in enumerate(events):
            while k < len(pending) and pending[k].at <= i:
                write(_proc_line(pending[k]) + "\n")
                k += 1
            if e.op == "reclaim":
                write(f"reclaim {_token(e.memcg or '', 'memcg')} {e.value}\n")
                continue
            if e.op == "set":
                write(f"set {_token(e.memcg or '', 'memcg')} {e.file} {e.value}\n")
                continue
            if e.pid not in declared:
                raise InvalidParameter(f"event {e} is for pid {e.pid}, which has no ProcSpec")
            if e.op == "exit":
                write(f"exit {e.pid}\n")
            elif e.first == e.last:
                write(f"{e.op} {e.pid} {e.first}\n")
            else:
                write(f"{e.op} {e.pid} {e.first}-{e.last}\n")
        for spec in pending[k:]:
            write(_proc_line(spec) + "\n")
