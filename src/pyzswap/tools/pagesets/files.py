"""Whole-page buffers and page files: zero and same-filled detection, reading, writing and
checking raw page files. Public through :mod:`pyzswap.tools.pagesets`."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from ...errors import CorruptData, InvalidPage, InvalidParameter
from ...folio import PAGE_SIZE, zero_page_mask

if TYPE_CHECKING:
    from ..._types import BytesLike

    # Whole pages: any contiguous bytes-like, numpy arrays (what the generators return) included.
    PageBuffer: TypeAlias = BytesLike | npt.NDArray[Any]

_WORDS_PER_PAGE: Final = PAGE_SIZE // 8

U8Array = npt.NDArray[np.uint8]
U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

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

