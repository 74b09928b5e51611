"""``pyzswap snapshot``: a live process's anonymous memory into a page file plus metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pyzswap.tools.kernel.cli import snapshot
from pyzswap.tools.snapshot import SnapshotError, is_anonymous, parse_maps, snapshot_process

MARKER = b"PYZSWAP-SNAPSHOT-MARKER!"  # 24 bytes: repeats with period 24 within a page
SHARED_MARKER = b"SHARED-ANON-MAPPING-MARK"  # 24 bytes too
MARKER_PAGES = 64
ZERO_PAGES = 32
UNTOUCHED_PAGES = 1024

_TARGET = textwrap.dedent(f"""
    import mmap, sys
    marker = bytearray({MARKER!r} * ({MARKER_PAGES} * 4096 // {len(MARKER)} + 1))
    private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # (mmap's default is MAP_SHARED: shmem)
    zeros = mmap.mmap(-1, {ZERO_PAGES} * 4096, flags=private)
    zeros[:] = bytes({ZERO_PAGES} * 4096)          # written: populated zero pages
    untouched = mmap.mmap(-1, {UNTOUCHED_PAGES} * 4096, flags=private)  # never touched
    shared = mmap.mmap(-1, 16 * 4096)               # MAP_SHARED: not private, left out
    for i in range(0, 16 * 4096 - 24, 24):          # (no big temporary copy on the heap)
        shared[i:i + 24] = {SHARED_MARKER!r}
    print("ready", flush=True)
    sys.stdin.read()
""")


@pytest.fixture(scope="module")
def target() -> Iterator[int]:
    """A small live process with a marker buffer, written zero pages and an untouched map."""
    proc = subprocess.Popen([sys.executable, "-c", _TARGET], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _can_read(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/mem", "rb"):
            return True
    except OSError:
        return False


def test_parse_maps_and_anonymous_rule() -> None:
    text = textwrap.dedent("""\
        55e0a000-55e0b000 r--p 00000000 fd:00 123   /usr/bin/python3.11
        55e0b000-55e0d000 rw-p 00001000 fd:00 123   /usr/bin/python3.11
        55e0d000-55e10000 rw-p 00000000 00:00 0     [heap]
        7f00000-7f02000 rw-p 00000000 00:00 0
        7f02000-7f03000 rw-s 00000000 00:01 77      /dev/zero (deleted)
        7f03000-7f04000 rw-p 00000000 00:00 0       [anon:my arena]
        7f04000-7f05000 ---p 00000000 00:00 0
        7f05000-7f06000 rw-p 00000000 fd:00 9       /tmp/a file with spaces
        7ffd000-7fff000 rw-p 00000000 00:00 0       [stack]
        7fff000-8000000 r--p 00000000 00:00 0       [vvar]
    """)
    regions = parse_maps(text)
    assert len(regions) == 10
    assert regions[7].pathname == "/tmp/a file with spaces"
    assert regions[2].pages == 3
    anon = [r.pathname for r in regions if is_anonymous(r)]
    assert anon == ["[heap]", "", "[anon:my arena]", "[stack]"]


def test_snapshot_of_a_live_process(target: int, tmp_path: Path) -> None:
    if not _can_read(target):
        pytest.skip("no ptrace access to a child process here")
    out = tmp_path / "proc.pages"
    info = snapshot_process(target, out)
    data = out.read_bytes()
    assert len(data) == info.total_pages * 4096 > 0
    # The private marker buffer is in; the shared mapping is not (its marker only appears in
    # the few copies of the program text the interpreter holds).
    assert data.count(MARKER) >= MARKER_PAGES * 4096 // len(MARKER) - 1
    assert data.count(SHARED_MARKER) < 16
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["pid"] == target
    assert meta["cmdline"][1] == "-c"
    assert meta["total_pages"] == info.total_pages
    assert meta["unreadable_pages"] == 0
    assert sum(r["captured_pages"] for r in meta["regions"]) == info.total_pages
    for region in meta["regions"]:
        assert {"start", "end", "perms", "pathname", "pages", "zero_pages"} <= set(region)
        assert region["perms"].startswith("rw") and region["perms"][3] == "p"
    # Zero pages are counted from the content, and match the file.
    pages = np.frombuffer(data, dtype=np.uint64).reshape(-1, 512)
    assert int((~pages.any(axis=1)).sum()) == info.zero_pages >= ZERO_PAGES
    # The untouched mapping was skipped, not read as zeros.
    assert info.unpopulated_pages_skipped >= UNTOUCHED_PAGES


def test_all_pages_takes_untouched_ones(target: int, tmp_path: Path) -> None:
    if not _can_read(target):
        pytest.skip("no ptrace access to a child process here")
    some = snapshot_process(target, tmp_path / "a.pages")
    every = snapshot_process(target, tmp_path / "b.pages", all_pages=True)
    assert every.unpopulated_pages_skipped == 0
    assert every.total_pages >= some.total_pages + UNTOUCHED_PAGES
    assert every.zero_pages >= some.zero_pages + UNTOUCHED_PAGES


def test_no_such_process(tmp_path: Path) -> None:
    pid = 2**22 + 12345  # above pid_max's maximum
    with pytest.raises(SnapshotError, match="no such process"):
        snapshot_process(pid, tmp_path / "x.pages")
    assert not (tmp_path / "x.pages").exists()


def test_permission_denied(target: int, tmp_path: Path) -> None:
    """An unprivileged user may not read another user's process."""
    if os.geteuid() != 0:
        with pytest.raises(SnapshotError, match="permission denied"):
            snapshot_process(1, tmp_path / "x.pages")
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, try, report the message
        os.close(r)
        msg = "no error"
        try:
            os.setgid(65534)
            os.setuid(65534)
            snapshot_process(target, "/nonexistent/x.pages")
        except SnapshotError as exc:
            msg = str(exc)
        except BaseException as exc:
            msg = f"{type(exc).__name__}: {exc}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        msg = f.read()
    os.waitpid(pid, 0)
    assert "permission denied" in msg, msg


def test_cli_json_and_errors(target: int, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(snapshot, [str(2**22 + 12345), "-o", str(tmp_path / "m.pages")])
    assert missing.exit_code == 2
    assert len(missing.stderr.strip().splitlines()) == 1 and "no such process" in missing.stderr
    if not _can_read(target):
        return
    out = tmp_path / "c.pages"
    result = runner.invoke(snapshot, [str(target), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["pid"] == target and data["metadata"] == f"{out}.json"
    assert out.stat().st_size == data["total_pages"] * 4096
    table = runner.invoke(snapshot, [str(target), "-o", str(out)])
    assert table.exit_code == 0 and "pages written" in table.stdout
