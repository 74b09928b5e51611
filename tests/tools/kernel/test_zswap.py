"""The host's zswap as an oracle (skipped without root, zswap, or with swap already active).

Every test also passes through conftest's ``host_unchanged``: zswap's parameters, /proc/swaps,
the debugfs mount, swap files and the journal must be as before, whether the run succeeded,
failed, was interrupted, or was killed outright and recovered by the next run.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pyzswap.tools.kernel import zswap as zswap_mod
from pyzswap.tools.kernel._host import (
    HOST,
    HostChanges,
    KernelUnavailable,
    active_swaps,
    compression_algorithms,
)
from pyzswap.tools.kernel.zswap import run_zswap
from pyzswap.tools.storecheck import store_check

from .conftest import ZSWAP_MARKS

pytestmark = ZSWAP_MARKS


def test_every_nonzero_page_reaches_zswap(small_mixed: bytes) -> None:
    run = run_zswap(small_mixed, "lzo")
    assert run.complete and run.verified, run.notes
    assert run.zero_pages > 0
    assert run.stored_pages == run.pages - run.zero_pages
    assert run.vmstat.get("zswpout") == run.stored_pages
    assert run.vmstat.get("pswpout", 0) == 0  # nothing went to the disk
    assert run.stats["written_back_pages"] == 0
    assert run.params["shrinker_enabled"] == "N" and run.params["enabled"] == "Y"
    assert run.pageout_seconds > 0 and run.readback_seconds > 0
    assert not Path(run.swap_file).exists()


@pytest.mark.parametrize("compressor, pool_tol", [("lzo", 0.03), ("deflate", 0.04)])
def test_matches_pyzswap(small_real: bytes, compressor: str, pool_tol: float) -> None:
    if compressor not in compression_algorithms():
        pytest.skip(f"the crypto API has no {compressor}")
    data = small_real[:1024 * 4096]
    run = run_zswap(data, compressor)
    rep = store_check(data, compressor=compressor, folio_pages=1)
    assert run.stored_pages == rep.stored_pages
    assert abs(run.stored_incompressible_pages - rep.stored_incompressible_pages) <= 3
    assert abs(rep.pool_total_size - run.pool_total_size) <= pool_tol * run.pool_total_size


def test_unknown_algorithm_is_refused(small_mixed: bytes) -> None:
    with pytest.raises(KernelUnavailable, match="does not offer 'lz9'"):
        run_zswap(small_mixed, "lz9")


def test_active_swap_is_refused(small_mixed: bytes, tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    for name in ("crypto", "meminfo", "mounts", "vmstat"):
        (proc / name).write_text(Path("/proc", name).read_text())
    (proc / "swaps").write_text("Filename Type Size Used Priority\n/dev/sdz1 partition 1 0 -2\n")
    host = dataclasses.replace(HOST, proc=proc)
    with pytest.raises(KernelUnavailable, match="swap is active"):
        run_zswap(small_mixed, "lzo", host=host)


def test_unmountable_debugfs_is_refused_and_undone(small_mixed: bytes, tmp_path: Path) -> None:
    host = dataclasses.replace(HOST, debugfs=tmp_path / "no" / "such" / "dir")
    with pytest.raises(KernelUnavailable, match="debugfs is not mountable"):
        run_zswap(small_mixed, "lzo", host=host)


def test_swap_file_on_tmpfs_is_refused_and_undone(small_mixed: bytes) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or "tmpfs" not in _fstype(shm):
        pytest.skip("no tmpfs at /dev/shm")
    with pytest.raises(KernelUnavailable, match="swap file unsupported"):
        run_zswap(small_mixed, "lzo", swap_dir=shm)
    assert not list(shm.glob("pyzswap-oracle-*"))


def _fstype(path: Path) -> str:
    best, fstype = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if str(path).startswith(parts[1]) and len(parts[1]) > len(best):
            best, fstype = parts[1], parts[2]
    return fstype


@pytest.mark.parametrize("exc", [RuntimeError("injected"), KeyboardInterrupt()])
def test_restored_when_interrupted_mid_run(small_mixed: bytes, monkeypatch: pytest.MonkeyPatch,
                                           exc: BaseException) -> None:
    """Fail right after the page-out, with the child's pages in zswap and the swap file on."""
    real = zswap_mod._Child.command
    seen: dict[str, object] = {}

    def command(self: zswap_mod._Child, cmd: str) -> dict[str, object]:
        reply = real(self, cmd)
        if cmd == "pageout":
            seen["swaps"] = active_swaps()
            raise exc
        return reply

    monkeypatch.setattr(zswap_mod._Child, "command", command)
    with pytest.raises(type(exc)):
        run_zswap(small_mixed, "lzo")
    assert seen["swaps"]  # the failure really happened with swap on


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from pyzswap.tools.pagesets import make_pages
    from pyzswap.tools.kernel import zswap
    def load(self, src):
        print("swap on", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    zswap._Child.load = load
    zswap.run_zswap(make_pages("mixed", 256, 1), "deflate" if "deflate" in
                    zswap.zswap_algorithms() else "lzo")
""")


def test_run_killed_outright_is_recovered_by_the_next(
        host_unchanged: dict[str, object]) -> None:
    """SIGKILL leaves the swap file on and the parameters changed; the journal lets the next
    run put everything back before it starts."""
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "swap on" in proc.stdout
    # Its page-out child, if any, exits when its stdin closes; give it a moment.
    time.sleep(0.2)
    assert HOST.journal.exists()
    assert active_swaps()  # left behind
    messages: list[str] = []
    with HostChanges(report=messages.append):
        assert not active_swaps()
    assert messages and "restoring host state" in messages[0]


def test_sigterm_mid_run_restores(small_mixed: bytes, tmp_path: Path) -> None:
    """A real SIGTERM from outside while the child's pages are out."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from pyzswap.tools.pagesets import make_pages
        from pyzswap.tools.kernel import zswap
        real = zswap._Child.command
        def command(self, cmd):
            reply = real(self, cmd)
            if cmd == "pageout":
                print("paged out", flush=True)
                time.sleep(30)
            return reply
        zswap._Child.command = command
        try:
            zswap.run_zswap(make_pages("mixed", 256, 2), "lzo")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "paged out"
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in out
