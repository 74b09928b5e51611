"""The host helpers without a kernel: parsing, the swap header, the undo stack and its journal.

These run anywhere (a fake /proc and /sys tree under tmp_path); the kernel tests exercise the
same code against the real host.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from pyzswap.errors import ZswapError
from pyzswap.tools.kernel import _host
from pyzswap.tools.kernel._host import (
    PAGE_SIZE,
    HostChanges,
    HostPaths,
    KernelUnavailable,
    active_swaps,
    compression_algorithms,
    crypto_algorithms,
    debugfs_mounted,
    mem_info,
    recover,
    require_root,
    run_lock,
    selected_algorithm,
    signals_blocked,
    swap_header,
)

CRYPTO = """name         : lzo-rle
driver       : lzo-rle-scomp
module       : kernel
type         : scomp

name         : deflate
driver       : deflate-generic
module       : kernel
type         : acomp

name         : sha256
driver       : sha256-generic
module       : kernel
type         : shash
"""


def fake_host(tmp_path: Path, *, swaps: str = "", params: dict[str, str] | None = None
              ) -> HostPaths:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "swaps").write_text("Filename\tType\tSize\tUsed\tPriority\n" + swaps)
    (proc / "crypto").write_text(CRYPTO)
    (proc / "mounts").write_text("sysfs /sys sysfs rw 0 0\n")
    (proc / "meminfo").write_text("MemTotal:       24684032 kB\nMemAvailable:   1000 kB\n"
                                  "HugePages_Total:       0\n")
    (proc / "vmstat").write_text("zswpout 5\npswpout 0\n")
    zp = tmp_path / "zswap"
    zp.mkdir()
    for name, value in (params or {"enabled": "N", "compressor": "lzo",
                                   "max_pool_percent": "20"}).items():
        (zp / name).write_text(value + "\n")
    run = tmp_path / "run"
    return HostPaths(zswap_params=zp, debugfs=tmp_path / "debug", proc=proc, run_dir=run,
                     zram_control=tmp_path / "zram-control", sys_block=tmp_path / "block",
                     dev=tmp_path / "dev")


def params(host: HostPaths) -> dict[str, str]:
    return _host.read_zswap_params(host)


def test_swap_header_layout() -> None:
    page = swap_header(100)
    assert len(page) == PAGE_SIZE
    assert page[4086:] == b"SWAPSPACE2"
    assert int.from_bytes(page[1024:1028], "little") == 1  # version
    assert int.from_bytes(page[1028:1032], "little") == 99  # last_page
    assert int.from_bytes(page[1032:1036], "little") == 0  # nr_badpages
    assert page[:1024] == bytes(1024)  # boot block left empty
    with pytest.raises(ValueError):
        swap_header(1)


def test_proc_parsing(tmp_path: Path) -> None:
    host = fake_host(tmp_path, swaps="/swapfile file 1024 0 -2\n")
    assert active_swaps(host) == ["/swapfile"]
    assert crypto_algorithms(host) == {"lzo-rle", "deflate", "sha256"}
    assert compression_algorithms(host) == ["deflate", "lzo-rle"]
    assert not debugfs_mounted(host)
    (host.proc / "mounts").write_text(f"debugfs {host.debugfs} debugfs rw 0 0\n")
    assert debugfs_mounted(host)
    mem = mem_info(host)
    assert mem["MemTotal"] == 24684032 * 1024 and mem["HugePages_Total"] == 0
    assert _host.read_vmstat(host) == {"zswpout": 5, "pswpout": 0}
    assert selected_algorithm("lzo [lz4] zstd") == "lz4"
    assert selected_algorithm("lzo lz4") == ""


def test_kernel_unavailable_is_a_zswap_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert issubclass(KernelUnavailable, ZswapError)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(KernelUnavailable, match="root"):
        require_root()


def _change(host: HostPaths, changes: HostChanges) -> None:
    changes.record("zswap_params", values=params(host))
    _host.write_text(host.zswap_params / "enabled", "Y")
    _host.write_text(host.zswap_params / "compressor", "deflate")


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_changes_undone_on_error(tmp_path: Path, exc: BaseException) -> None:
    host = fake_host(tmp_path)
    before = params(host)
    with pytest.raises(type(exc)), HostChanges(host) as changes:
        _change(host, changes)
        assert params(host)["compressor"] == "deflate"
        assert json.loads(host.journal.read_text())["undo"][0]["kind"] == "zswap_params"
        raise exc
    assert params(host) == before
    assert not host.journal.exists()


def test_sigterm_takes_the_ctrl_c_path(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    before = params(host)
    old = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), HostChanges(host) as changes:
        _change(host, changes)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler raises before this ends
    assert params(host) == before
    assert signal.getsignal(signal.SIGTERM) is old


def test_signal_during_restore_is_deferred() -> None:
    # Python's own Ctrl-C handler, whatever an earlier test left installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _deferred_sigint_raises_at_exit()
    finally:
        signal.signal(signal.SIGINT, previous)


def _deferred_sigint_raises_at_exit() -> None:
    reached = False
    with pytest.raises(KeyboardInterrupt), signals_blocked() as pending:
        os.kill(os.getpid(), signal.SIGINT)
        # Wait until Python has run the (deferring) handler: the kernel may have delivered
        # the signal to another thread of the process, and the main thread notices it at
        # its next check, not at a fixed time.
        deadline = time.monotonic() + 10
        while not pending and time.monotonic() < deadline:
            time.sleep(0.001)
        assert pending
        reached = True
    assert reached


def test_journal_of_a_dead_run_is_replayed(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    before = params(host)
    leftover = tmp_path / "pyzswap-oracle-1-x.swap"
    leftover.write_bytes(b"x")
    # What a run killed with SIGKILL leaves: changed parameters, a file, and its journal.
    _host.write_text(host.zswap_params / "compressor", "deflate")
    host.run_dir.mkdir()
    host.journal.write_text(json.dumps({"pid": 999999, "undo": [
        {"kind": "zswap_params", "args": {"values": before}},
        {"kind": "unlink", "args": {"path": str(leftover)}},
    ]}))
    messages: list[str] = []
    with HostChanges(host, report=messages.append):
        assert params(host) == before  # replayed on entry, before anything else
    assert not leftover.exists()
    assert not host.journal.exists()
    assert messages and "pid 999999" in messages[0]
    with run_lock(host):
        assert recover(host) == 0  # nothing left


def test_a_journal_with_unknown_changes_is_left_whole(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    host.run_dir.mkdir()
    journal = json.dumps({"pid": 999999, "undo": [
        {"kind": "zswap_params", "args": {"values": params(host)}},
        {"kind": "a_newer_kind", "args": {}},
    ]})
    host.journal.write_text(journal)
    with pytest.raises(KernelUnavailable, match="a_newer_kind"), HostChanges(host):
        pass
    assert host.journal.read_text() == journal


def test_failed_undo_is_reported(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    with pytest.raises(OSError, match="could not restore"), HostChanges(host) as changes:
        changes.record("zswap_params", values={"enabled": "N", "no_such_param": "1"})
    # the journal is kept so the next run retries
    assert host.journal.exists()


def test_run_lock_is_exclusive(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    with run_lock(host), pytest.raises(KernelUnavailable, match="another pyzswap"), \
            run_lock(host, wait=0.2):
        pass
    with run_lock(host, wait=0.2):  # released again
        assert host.lock_file.exists()
    assert not host.lock_file.exists()  # a run leaves nothing behind


def test_run_lock_survives_unlink_races(tmp_path: Path) -> None:
    """Many processes taking and releasing (and unlinking) the lock never overlap."""
    import multiprocessing

    host = fake_host(tmp_path)
    log = tmp_path / "log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_locked_append, args=(host, log, i)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    lines = log.read_text().split()
    assert len(lines) == 6 * 20 * 2
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("+") and leave == "-" + enter[1:]  # strictly one at a time


def _locked_append(host: HostPaths, log: Path, who: int) -> None:
    for n in range(20):
        with run_lock(host, wait=30):
            with log.open("a") as f:
                f.write(f"+{who}.{n}\n")
            time.sleep(0.001)
            with log.open("a") as f:
                f.write(f"-{who}.{n}\n")


def test_unknown_undo_kind_is_refused(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    with HostChanges(host) as changes, pytest.raises(ValueError):
        changes.record("reboot")
