"""The command lines that used to end in a traceback, a hang or a leftover file (each one
rebuilt from the reliability issue), and the bounds and signal handling that fixed them: every
one now ends in one error line and status 2, quickly, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyzswap import PAGE_SIZE, InvalidPage, Zswap
from pyzswap.cli import main
from pyzswap.errors import CorruptData, InvalidParameter
from pyzswap.tools.pagesets import MAX_PAGE_FILE_BYTES, iter_page_file, read_page_file
from pyzswap.tools.soak import main as soak_main


def _run(argv: list[str], entry: object = main) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = entry(argv)  # type: ignore[operator]
    return rc, out.getvalue(), err.getvalue()


def _refused(argv: list[str], match: str, entry: object = main) -> None:
    t0 = time.monotonic()
    rc, _, err = _run(argv, entry)
    assert rc == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("pyzswap: error: ") and match in err, err
    assert time.monotonic() - t0 < 30


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ok.pages").write_bytes(os.urandom(2 * PAGE_SIZE))
    with open(tmp_path / "sparse.pages", "wb") as f:
        f.truncate(1 << 40)  # 1 TiB, sparse
    os.mkfifo(tmp_path / "fifo.pages")
    (tmp_path / "huge.trace").write_text("proc 1 100000000000000000000\nw 1 0\n")
    (tmp_path / "pid.trace").write_text(f"proc {2**64} 10\nw {2**64} 0\n")
    (tmp_path / "pid31.trace").write_text(f"proc {2**31} 10\nw {2**31} 0\n")
    (tmp_path / "seed.trace").write_text(f"proc 1 4 seed={2**32}\nw 1 0\n")
    return tmp_path


@pytest.mark.parametrize(("argv", "match"), [
    (["store", "{d}/ok.pages", "-c", "lz4-x65"], "at most 64 engine threads"),
    (["run", "-c", "lz4-x65"], "at most 64 engine threads"),
    (["run", "--ram", "100000000000000000000000G"], "--ram"),
    (["run", "--ram", "2T"], "at most 1T"),
    (["run", "{d}/huge.trace"], "npages 100000000000000000000"),
    (["run", "{d}/pid.trace"], "pid"),
    (["run", "{d}/pid31.trace"], "is above 2147483647"),
    (["run", "{d}/seed.trace"], "is above 4294967295"),
    (["run", "--seed", "1" + "0" * 5000], "--seed"),
    (["run", "--seed", str(2**32)], "--seed"),
    (["store", "{d}/sparse.pages"], "above the limit"),
    (["store", "/dev/zero"], "character device"),
    (["store", "{d}/fifo.pages"], "a FIFO"),
    (["run", "{d}/fifo.pages"], "a FIFO"),
    (["lab", "hotplug-race", "--size", "nan"], "not a finite number"),
    (["run", "--scale", "nan"], "not a finite number"),
    (["run", "--scale", "inf"], "--scale"),
    (["run", "--ops", str(2**64)], "--ops"),
    (["run", "--sweep", "max_pool_percent=" + ",".join(["10"] * 1000)], "at most 32 values"),
    (["run", "-c", ",".join(["lz4"] * 40)], "at most 32 algorithms"),
    (["soak", "--seconds", "nan"], "not a finite number"),
    (["soak", "--seconds", "inf"], "--seconds"),
    (["soak", "--seconds", "1e9"], "--seconds"),
    (["snapshot", str(2**64), "-o", "{d}/x"], "PID"),
], ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else None)
def test_hostile_command_lines_end_in_one_line(files: Path, argv: list[str], match: str) -> None:
    _refused([a.replace("{d}", str(files)) for a in argv], match)


def test_the_soak_entry_point_bounds_its_options_too() -> None:
    _refused(["--seconds", "nan"], "not a finite number", soak_main)
    _refused(["--seconds", "inf"], "--seconds", soak_main)
    _refused(["--seed", str(2**40)], "--seed", soak_main)


def test_value_overflow_and_memory_errors_become_one_line(monkeypatch: pytest.MonkeyPatch,
                                                         files: Path) -> None:
    """The entry point's last line of defence: whatever a layer raises for input too large
    or malformed for it (here injected into the page-file reader) is one line, status 2."""
    import pyzswap.tools.pagesets as pagesets

    for exc in (ValueError("bad value"), OverflowError("too big"), MemoryError()):
        def boom(path: object, exc: BaseException = exc) -> bytes:
            raise exc

        monkeypatch.setattr(pagesets, "read_page_file", boom)
        rc, _, err = _run(["store", str(files / "ok.pages")])
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err


# ---------------------------------------------------------------- page files -----------------
def test_page_files_must_be_regular_and_bounded(files: Path) -> None:
    with pytest.raises(InvalidParameter, match="a FIFO"):
        read_page_file(files / "fifo.pages")
    with pytest.raises(InvalidParameter, match="a FIFO"):
        iter_page_file(files / "fifo.pages")
    with pytest.raises(InvalidParameter, match="character device"):
        read_page_file("/dev/zero")
    with pytest.raises(InvalidParameter, match="above the limit"):
        read_page_file(files / "sparse.pages")
    assert (files / "sparse.pages").stat().st_size > MAX_PAGE_FILE_BYTES
    assert len(read_page_file(files / "ok.pages")) == 2 * PAGE_SIZE


def test_an_incomplete_snapshot_is_refused(files: Path) -> None:
    """A ``.partial`` file (a snapshot still being written, or killed), and a page file whose
    snapshot metadata does not describe it (a partial file that lost its .json to a stale
    one), are refused; a page file without metadata is a plain page file."""
    partial = files / "snap.pages.partial"
    partial.write_bytes(bytes(PAGE_SIZE))
    with pytest.raises(CorruptData, match="incomplete snapshot"):
        read_page_file(partial)
    page_file = files / "snap.pages"
    page_file.write_bytes(bytes(3 * PAGE_SIZE))
    assert len(read_page_file(page_file)) == 3 * PAGE_SIZE
    (files / "snap.pages.json").write_text(json.dumps({"total_pages": 5, "page_size": 4096}))
    with pytest.raises(CorruptData, match="incomplete or replaced snapshot"):
        read_page_file(page_file)
    rc, _, err = _run(["run", str(page_file)])
    assert rc == 2 and "incomplete or replaced snapshot" in err
    (files / "snap.pages.json").write_text(json.dumps({"total_pages": 3, "page_size": 4096}))
    assert len(read_page_file(page_file)) == 3 * PAGE_SIZE


def test_snapshot_refuses_an_output_that_is_not_a_regular_file(files: Path) -> None:
    """``snapshot -o FIFO`` used to block forever opening the FIFO."""
    from pyzswap.tools.snapshot import SnapshotError, snapshot_process

    with pytest.raises(SnapshotError, match="not a regular file"):
        snapshot_process(os.getpid(), files / "fifo.pages")


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_snapshot_writes_under_a_temporary_name_and_renames_when_complete(
        files: Path) -> None:
    from pyzswap.tools.snapshot import snapshot_process

    child = subprocess.Popen([sys.executable, "-c", "import sys; b = bytearray(1 << 20); "
                              "b[::4096] = b'x' * 256; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        out = files / "child.pages"
        seen: list[list[str]] = []
        info = snapshot_process(child.pid, out, progress=lambda done, total: seen.append(
            sorted(p.name for p in files.iterdir() if p.name.startswith("child"))))
    finally:
        child.communicate(b"")
    assert seen and all("child.pages.partial" in names and "child.pages" not in names
                        for names in seen)
    assert sorted(p.name for p in files.iterdir() if p.name.startswith("child")) == \
        ["child.pages", "child.pages.json"]
    assert len(read_page_file(out)) == info.total_pages * PAGE_SIZE


# ---------------------------------------------------------------- signals --------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_soak_leaves_no_temporary_files(sig: signal.Signals) -> None:
    """The soak makes a temporary directory with its swap files; Ctrl-C and SIGTERM used to
    leave it behind (its swap files are inside it). The child reports the directory on
    stderr once the run holds it."""
    code = ("import sys, threading, pyzswap.tools.soak as s\n"
            "orig = s._Soak._run\n"
            "def run(self):\n"
            "    print('DIR', self.directory, file=sys.stderr, flush=True)\n"
            "    return orig(self)\n"
            "s._Soak._run = run\n"
            "sys.exit(s.main(['--seconds', '600', '--threads', '1', '--no-faults']))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("DIR "), line
    directory = Path(line.split(maxsplit=1)[1].strip())
    assert directory.is_dir()
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    rest = proc.stderr.read()
    proc.stderr.close()
    assert rc in (130, 143), (rc, rest[-2000:])
    assert not directory.exists()


def test_store_and_load_refuse_non_buffers_with_a_zswap_error() -> None:
    """The issue's case: a str or None as the folio or the output page raised TypeError."""
    z = Zswap(compressor="lz4", totalram_pages=None)
    z.swapon(0, 8)
    try:
        for call in (lambda: z.store("a page", 0, 1), lambda: z.store(None, 0, 1),
                     lambda: z.load("out", 0, 1), lambda: z.load(None, 0, 1),
                     lambda: z.store_batch([(None, 0, 1)]),
                     lambda: z.load_batch([None], 0, [1])):
            with pytest.raises(InvalidPage, match="bytes-like"):
                call()  # type: ignore[no-untyped-call]
    finally:
        z.close()
