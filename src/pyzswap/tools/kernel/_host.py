"""Host helpers for the kernel oracle: sysfs, debugfs, swap files, and undoing every change.

The kernel oracle changes global state of the machine it runs on (zswap's module parameters,
a swap file, a debugfs mount, a zram device). Everything here exists so that state is put back
exactly as it was found, whatever happens:

* :class:`HostChanges` is an undo stack. Every change is recorded *before* it is made, as a
  plain-data :class:`Undo` record, and undone in reverse order on exit, on an exception, on
  Ctrl-C (SIGINT) and on SIGTERM/SIGHUP (turned into ``KeyboardInterrupt`` for the duration).
  While undoing, those signals are deferred (:func:`signals_blocked`), so a second Ctrl-C
  cannot cut the restore short; it takes effect afterwards.
* The undo records are also written to a journal in ``/run``. If a run is killed outright
  (SIGKILL, a crash), the next run finds the journal, sees that its owner no longer holds the
  lock, and replays it before doing anything else (:func:`recover`).
* One run at a time: an exclusive ``flock`` on ``/run/pyzswap-kernel.lock`` serialises runs
  (zswap's parameters and statistics are global, two runs would corrupt each other's figures).
  The file exists only while a run holds it.

Preconditions that make the kernel side unavailable raise :class:`KernelUnavailable` (a
:class:`~pyzswap.errors.ZswapError`, so the CLI prints it as one line and exits with status 2)
before anything is changed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno as _errno
import fcntl
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

from ...errors import ZswapError
from ...folio import PAGE_SIZE

__all__ = [
    "HOST",
    "PAGE_SIZE",
    "HostChanges",
    "HostPaths",
    "KernelRunError",
    "KernelUnavailable",
    "Undo",
    "active_swaps",
    "cgroup_pids",
    "compression_algorithms",
    "crypto_algorithms",
    "debugfs_mounted",
    "free_bytes",
    "fs_mounted",
    "mem_info",
    "mount_fs",
    "mount_points",
    "read_int",
    "read_text",
    "read_vmstat",
    "read_zswap_debugfs",
    "read_zswap_params",
    "recover",
    "require_root",
    "run_lock",
    "selected_algorithm",
    "signals_blocked",
    "swap_header",
    "swapoff",
    "swapon",
    "write_text",
]

#: ``MAX_SWAP_BADPAGES`` is irrelevant here; a swap header with no bad pages is all we write.
SWAP_MAGIC: Final = b"SWAPSPACE2"
_SWAP_VERSION: Final = 1
_LOCK_WAIT_SECONDS: Final = 300.0
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class KernelUnavailable(ZswapError):
    """The kernel side cannot run here (not root, no zram/zswap, algorithm not offered, ...).

    Raised before anything on the host is changed (or after every change has been undone), with
    a one-line reason.
    """

    errno = _errno.ENODEV


class KernelRunError(ZswapError):
    """The kernel side started but failed (a child died, a device vanished); host restored."""

    errno = _errno.EIO


@dataclass(frozen=True)
class HostPaths:
    """Where the host's interfaces live. Tests point these at a fake tree."""

    zswap_params: Path = Path("/sys/module/zswap/parameters")
    debugfs: Path = Path("/sys/kernel/debug")
    zram_control: Path = Path("/sys/class/zram-control")
    sys_block: Path = Path("/sys/block")
    dev: Path = Path("/dev")
    proc: Path = Path("/proc")
    run_dir: Path = Path("/run")

    @property
    def zswap_debugfs(self) -> Path:
        return self.debugfs / "zswap"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "pyzswap-kernel.lock"

    @property
    def journal(self) -> Path:
        return self.run_dir / "pyzswap-kernel.journal.json"


HOST: Final = HostPaths()


# ---- small readers and writers ----------------------------------------------------------------


def read_text(path: Path) -> str:
    """A sysfs/procfs file's content without the trailing newline."""
    return path.read_text().rstrip("\n")


def read_int(path: Path) -> int:
    return int(read_text(path).split()[0])


def write_text(path: Path, value: str) -> None:
    """Write a sysfs attribute in one ``write(2)``, as ``echo value > path`` does.

    sysfs takes one write per store; an ``OSError`` keeps the kernel's errno and names the file.
    ``O_TRUNC`` is what the shell passes too (sysfs ignores it; a regular file in a test tree
    needs it).
    """
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def require_root() -> None:
    if os.geteuid() != 0:
        raise KernelUnavailable("the kernel oracle needs root (it changes zswap/zram settings)")


def read_zswap_params(host: HostPaths = HOST) -> dict[str, str]:
    """Every file of ``/sys/module/zswap/parameters`` (name → text), in name order."""
    if not host.zswap_params.is_dir():
        raise KernelUnavailable(f"no zswap in this kernel ({host.zswap_params} is missing)")
    return {p.name: read_text(p) for p in sorted(host.zswap_params.iterdir()) if p.is_file()}


def read_zswap_debugfs(host: HostPaths = HOST) -> dict[str, int]:
    """Every statistic in ``/sys/kernel/debug/zswap`` (name → integer)."""
    out: dict[str, int] = {}
    base = host.zswap_debugfs
    if not base.is_dir():
        raise KernelUnavailable(f"{base} is missing (zswap was never enabled, or no debugfs)")
    for p in sorted(base.iterdir()):
        try:
            out[p.name] = read_int(p)
        except PermissionError:
            raise KernelUnavailable(f"{p} is not readable (kernel lockdown?)") from None
        except (ValueError, IndexError):
            continue
    return out


def read_vmstat(host: HostPaths = HOST) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (host.proc / "vmstat").read_text().splitlines():
        name, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[name] = int(value)
    return out


def active_swaps(host: HostPaths = HOST) -> list[str]:
    """The file names of the active swap areas (``/proc/swaps`` minus its header)."""
    lines = (host.proc / "swaps").read_text().splitlines()[1:]
    return [line.split()[0] for line in lines if line.strip()]


def crypto_algorithms(host: HostPaths = HOST) -> set[str]:
    """Algorithm names registered with the crypto API (what zswap's ``compressor`` accepts).

    Only algorithms already registered count: one that would need a module load is reported
    as unavailable rather than loaded (loading a module would change the host).
    """
    names: set[str] = set()
    for line in (host.proc / "crypto").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "name":
            names.add(value.strip())
    return names


def compression_algorithms(host: HostPaths = HOST) -> list[str]:
    """Crypto API compression algorithms (type scomp, acomp or compression), sorted."""
    names: set[str] = set()
    for block in (host.proc / "crypto").read_text().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if fields.get("type") in {"scomp", "acomp", "compression"} and "name" in fields:
            names.add(fields["name"])
    return sorted(names)


def mem_info(host: HostPaths = HOST) -> dict[str, int]:
    """``/proc/meminfo`` in bytes (name → value)."""
    out: dict[str, int] = {}
    for line in (host.proc / "meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def mount_points(fstype: str, host: HostPaths = HOST) -> list[Path]:
    """Where filesystems of ``fstype`` are mounted (``/proc/mounts`` order)."""
    points = []
    for line in (host.proc / "mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == fstype:
            points.append(Path(parts[1]))
    return points


def fs_mounted(path: Path, fstype: str, host: HostPaths = HOST) -> bool:
    """Whether a filesystem of ``fstype`` is mounted at ``path``."""
    return path in mount_points(fstype, host)


def debugfs_mounted(host: HostPaths = HOST) -> bool:
    return fs_mounted(host.debugfs, "debugfs", host)


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


# ---- syscalls through libc ---------------------------------------------------------------------

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def _check(ret: int, what: str, path: Path) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", str(path))


def swapon(path: Path) -> None:
    """``swapon(2)`` with default priority (the util-linux command is not required)."""
    _check(_c().swapon(os.fsencode(path), 0), "swapon", path)


def swapoff(path: Path) -> None:
    _check(_c().swapoff(os.fsencode(path)), "swapoff", path)


def mount_fs(fstype: str, path: Path) -> None:
    """Mount a pseudo filesystem (debugfs, tracefs) at ``path``."""
    name = fstype.encode()
    _check(_c().mount(name, os.fsencode(path), name, 0, None), f"mount {fstype}", path)


def mount_debugfs(path: Path) -> None:
    mount_fs("debugfs", path)




def umount(path: Path) -> None:
    _check(_c().umount2(os.fsencode(path), 0), "umount", path)


def swap_header(nr_pages: int) -> bytes:
    """Page 0 of a swap area of ``nr_pages`` pages, as ``mkswap`` writes it.

    ``union swap_header``: version 1 at byte 1024, ``last_page`` (the last usable page index),
    ``nr_badpages`` 0, a random UUID, a volume label, and the ``SWAPSPACE2`` magic in the last
    10 bytes of the page. Writing it ourselves drops the dependency on util-linux.
    """
    if nr_pages < 2:
        raise ValueError(f"a swap area needs at least 2 pages, got {nr_pages}")
    page = bytearray(PAGE_SIZE)
    info = (
        _SWAP_VERSION.to_bytes(4, "little")
        + (nr_pages - 1).to_bytes(4, "little")
        + (0).to_bytes(4, "little")
        + uuid.uuid4().bytes
        + b"pyzswap-oracle\0\0"
    )
    page[1024:1024 + len(info)] = info
    page[PAGE_SIZE - len(SWAP_MAGIC):] = SWAP_MAGIC
    return bytes(page)


# ---- undo records, the journal and recovery ----------------------------------------------------


@dataclass
class Undo:
    """One change to put back. Plain data, so it can be journalled and replayed by another run.

    ``kind`` selects the action in :data:`_UNDO_ACTIONS`; ``args`` are its JSON-able arguments.
    """

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind} {json.dumps(self.args, sort_keys=True)}"


def _undo_zswap_params(args: dict[str, Any], host: HostPaths) -> None:
    saved: dict[str, str] = args["values"]
    current = read_zswap_params(host)
    # 'enabled' first: with it off, nothing new enters zswap while the rest is put back.
    order = sorted(saved, key=lambda name: (name != "enabled", name))
    failures: list[str] = []
    for name in order:
        if current.get(name) == saved[name]:
            continue
        try:
            write_text(host.zswap_params / name, saved[name])
        except OSError as exc:
            failures.append(f"{name}={saved[name]!r}: {exc.strerror or exc}")
    if failures:
        raise OSError(_errno.EIO, "could not restore zswap parameter(s): " + "; ".join(failures))


def _undo_swapoff(args: dict[str, Any], host: HostPaths) -> None:
    path = Path(args["path"])
    if str(path) in active_swaps(host):
        swapoff(path)


def _undo_unlink(args: dict[str, Any], host: HostPaths) -> None:
    with contextlib.suppress(FileNotFoundError):
        Path(args["path"]).unlink()


def _undo_umount(args: dict[str, Any], host: HostPaths) -> None:
    path = Path(args["path"])
    if fs_mounted(path, args.get("fstype", "debugfs"), host):
        umount(path)


def _undo_rmdir_trace_instance(args: dict[str, Any], host: HostPaths) -> None:
    """Remove a tracefs instance the run made (its buffers and event settings go with it)."""
    path = Path(args["path"])

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            path.rmdir()

    _retry_busy(remove)


def _undo_kill(args: dict[str, Any], host: HostPaths) -> None:
    # Only used in-process (the child dies by itself when its stdin closes); never replayed from
    # a journal, where the pid may have been reused.
    pid = int(args["pid"])
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _undo_zram_reset(args: dict[str, Any], host: HostPaths) -> None:
    dev = host.sys_block / f"zram{int(args['id'])}"
    if not dev.exists():
        return
    _retry_busy(lambda: write_text(dev / "reset", "1"))
    algorithm = args.get("comp_algorithm")
    if algorithm and selected_algorithm(read_text(dev / "comp_algorithm")) != algorithm:
        write_text(dev / "comp_algorithm", algorithm)


def _undo_zram_hot_remove(args: dict[str, Any], host: HostPaths) -> None:
    dev_id = int(args["id"])
    if (host.sys_block / f"zram{dev_id}").exists():
        _retry_busy(lambda: write_text(host.zram_control / "hot_remove", str(dev_id)))


def _undo_sysctl(args: dict[str, Any], host: HostPaths) -> None:
    """Put a ``/proc/sys`` value back (the text it had, as read before the change)."""
    path = Path(args["path"])
    if read_text(path) != args["value"]:
        write_text(path, args["value"])


def cgroup_pids(path: Path) -> list[int]:
    """The processes in one cgroup (its ``cgroup.procs``); [] if the cgroup is gone."""
    try:
        return [int(line) for line in (path / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def _undo_rmdir_cgroup(args: dict[str, Any], host: HostPaths) -> None:
    """Remove a cgroup this tool created, after killing what is left in it.

    Only a cgroup the run made itself is ever recorded (a fresh, uniquely named directory), so
    every process still in it is one of the run's own replay processes.
    """
    path = Path(args["path"])

    def kill_and_remove() -> None:
        if not path.is_dir():
            return
        for pid in cgroup_pids(path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        path.rmdir()

    _retry_busy(kill_and_remove, seconds=10.0)


def _retry_busy(action: Callable[[], None], seconds: float = 5.0) -> None:
    """Retry an action that fails with EBUSY while the last opener lets go of a block device."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except OSError as exc:
            if exc.errno != _errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def selected_algorithm(comp_algorithm: str) -> str:
    """The bracketed name in a zram ``comp_algorithm`` listing ("[lzo-rle] lzo lz4")."""
    for word in comp_algorithm.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return ""


_UNDO_ACTIONS: Final[dict[str, Callable[[dict[str, Any], HostPaths], None]]] = {
    "zswap_params": _undo_zswap_params,
    "swapoff": _undo_swapoff,
    "unlink": _undo_unlink,
    "umount": _undo_umount,
    "kill": _undo_kill,
    "zram_reset": _undo_zram_reset,
    "zram_hot_remove": _undo_zram_hot_remove,
    "sysctl": _undo_sysctl,
    "rmdir_cgroup": _undo_rmdir_cgroup,
    "rmdir_trace_instance": _undo_rmdir_trace_instance,
}
_NOT_REPLAYED: Final = frozenset({"kill"})
_ANNOUNCE_TEXT: Final = {
    "zswap_params": "zswap's parameters", "swapoff": "a temporary swap file",
    "unlink": "a temporary file", "umount": "a debugfs mount", "kill": "a child process",
    "zram_reset": "a zram device", "zram_hot_remove": "a hot-added zram device",
    "sysctl": "a vm sysctl", "rmdir_cgroup": "a memory cgroup",
    "rmdir_trace_instance": "a trace instance",
}


def _run_undo(records: list[Undo], host: HostPaths) -> list[str]:
    """Undo ``records`` newest first; every one is attempted, failures are returned."""
    failures: list[str] = []
    for rec in reversed(records):
        try:
            _UNDO_ACTIONS[rec.kind](rec.args, host)
        except Exception as exc:
            failures.append(f"{rec.kind}: {exc}")
    return failures


def _write_journal(records: list[Undo], host: HostPaths) -> None:
    replayable = [{"kind": r.kind, "args": r.args} for r in records
                  if r.kind not in _NOT_REPLAYED]
    tmp = host.journal.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "undo": replayable}))
    os.replace(tmp, host.journal)


def recover(host: HostPaths = HOST, *, report: Callable[[str], None] | None = None) -> int:
    """Replay a journal left by a run that died. Call with the run lock held.

    Returns the number of records replayed (0 if there was no journal). A record that fails is
    reported and the journal is kept, so the next run tries again. A journal holding a kind of
    change this version does not know (written by a newer pyzswap) is left alone, whole:
    replaying only the part this version knows and deleting the journal would lose the rest
    (a cgroup, a sysctl) for good. The run is refused instead.
    """
    try:
        data = json.loads(host.journal.read_text())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError):
        host.journal.unlink(missing_ok=True)
        return 0
    unknown = sorted({str(r.get("kind")) for r in data.get("undo", [])} - set(_UNDO_ACTIONS))
    if unknown:
        raise KernelUnavailable(
            f"{host.journal} (left by pid {data.get('pid')}) holds changes this pyzswap cannot "
            f"undo ({', '.join(unknown)}); a kernel run of the pyzswap that wrote it restores "
            "them")
    records = [Undo(str(r["kind"]), dict(r["args"])) for r in data.get("undo", [])]
    if report is not None and records:
        report(f"restoring host state left by pyzswap kernel run (pid {data.get('pid')}): "
               + ", ".join(r.kind for r in records))
    failures = _run_undo(records, host)
    if failures:
        raise OSError(_errno.EIO, "could not restore the host state of an earlier run: "
                      + "; ".join(failures))
    host.journal.unlink(missing_ok=True)
    return len(records)


@contextlib.contextmanager
def run_lock(host: HostPaths = HOST, wait: float = _LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the exclusive run lock (waiting up to ``wait`` seconds for another run).

    The lock file is removed on release, so a run leaves nothing behind. That is safe because a
    waiter that wins the lock checks that the file it locked is still the one at the path (the
    holder may have unlinked it meanwhile) and starts over if not.
    """
    host.run_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        fd = os.open(host.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() > deadline:
                raise KernelUnavailable(
                    f"another pyzswap kernel run holds {host.lock_file}"
                ) from None
            time.sleep(0.1)
            continue
        try:
            same = os.stat(host.lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # locked a file its holder had already removed: try again
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            host.lock_file.unlink()
        os.close(fd)  # releases the lock


# ---- the undo stack ----------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


#: Called with one line of text when a run makes its first host change; the CLI sets it to print
#: to stderr (tools that change the host say so first). ``None``: silent (library use).
announce: Callable[[str], None] | None = None
#: Whether this command has announced already (a command, e.g. ``bench --kernel`` over two
#: compressors, may make several runs); reset by :func:`begin_command`.
_command_announced = False


def begin_command() -> None:
    """A new command starts: its first host change is announced again (CLI entry points)."""
    global _command_announced
    _command_announced = False


class HostChanges:
    """Context manager: record changes as they are made, undo them all on the way out.

    Use :meth:`record` *before* making a change (so a change that half-happened is still
    undone; every undo action tolerates the change not having happened). On exit the records are
    undone newest first with SIGINT/SIGTERM/SIGHUP blocked; if any undo fails, an ``OSError``
    names it (after every other record was still attempted). Inside the block, SIGTERM and
    SIGHUP raise ``KeyboardInterrupt`` like Ctrl-C does, so they take the same path.

    Entering takes the run lock and replays the journal of a run that died (see
    :func:`recover`).
    """

    def __init__(self, host: HostPaths = HOST, *, journal: bool = True,
                 report: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.records: list[Undo] = []
        self._journal = journal
        self._report = report or (lambda msg: print(f"pyzswap: {msg}", file=sys.stderr))
        self._lock: contextlib.ExitStack | None = None
        self._old_handlers: dict[int, Any] = {}
        self._announced = False

    def __enter__(self) -> HostChanges:
        stack = contextlib.ExitStack()
        stack.enter_context(run_lock(self.host))
        try:
            if self._journal:
                with signals_blocked():
                    recover(self.host, report=self._report)
        except BaseException:
            stack.close()
            raise
        self._lock = stack
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS[1:]:
                self._old_handlers[sig] = signal.signal(sig, _raise_interrupt)
        return self

    def record(self, kind: str, **args: Any) -> Undo:
        """Note a change about to be made; returns the record (see :meth:`forget`).

        The first record of a run calls :data:`announce` (by then every precondition has been
        checked, so a refused run says nothing but its error)."""
        if kind not in _UNDO_ACTIONS:
            raise ValueError(f"unknown undo kind {kind!r}")
        global _command_announced
        if not self.records and not self._announced:
            self._announced = True
            if announce is not None and not _command_announced:
                _command_announced = True
                announce(f"changing the host ({_ANNOUNCE_TEXT.get(kind, kind)} and more); "
                         "everything is restored afterwards, also on Ctrl-C")
        rec = Undo(kind, args)
        self.records.append(rec)
        if self._journal:
            _write_journal(self.records, self.host)
        return rec

    def forget(self, rec: Undo) -> None:
        """Drop a record whose change has already been undone by the caller."""
        self.records.remove(rec)
        if self._journal:
            _write_journal(self.records, self.host)

    def undo_now(self, rec: Undo) -> None:
        """Undo one record early (e.g. kill the child before swapoff) and forget it."""
        with signals_blocked():
            _UNDO_ACTIONS[rec.kind](rec.args, self.host)
            self.forget(rec)

    def __exit__(self, *exc_info: object) -> None:
        failures: list[str] = []
        msg = ""
        try:
            # Undo and give the lock back with Ctrl-C/SIGTERM deferred: a signal that arrives
            # now is acted on once the host is whole again.
            with signals_blocked() as pending:
                try:
                    failures = _run_undo(self.records, self.host)
                    if not failures:
                        self.records.clear()
                        if self._journal:
                            self.host.journal.unlink(missing_ok=True)
                    else:
                        msg = "could not restore the host: " + "; ".join(failures)
                        if exc_info[0] is not None or pending:
                            self._report(msg)  # the error in flight would hide it
                finally:
                    if self._lock is not None:
                        self._lock.close()
                        self._lock = None
        finally:
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)
            self._old_handlers.clear()
        if failures and exc_info[0] is None:
            raise OSError(_errno.EIO, msg)


@contextlib.contextmanager
def signals_blocked() -> Iterator[list[int]]:
    """Defer SIGINT/SIGTERM/SIGHUP: one that arrives meanwhile is acted on at the end.

    Python-level deferral, not ``pthread_sigmask``: the kernel delivers a process-directed
    signal (Ctrl-C, ``kill``) to *any* thread that does not block it, numpy's BLAS threads
    included, so masking the main thread alone defers nothing. Python runs every handler in the
    main thread, so swapping the handlers works whichever thread the kernel picked. On exit the
    handlers are put back and the first deferred signal is handed to its original handler
    (``KeyboardInterrupt`` for Ctrl-C; the default action for a signal that had none). Yields
    the list of deferred signal numbers.
    """
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def defer(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    old = {sig: signal.signal(sig, defer) for sig in _SIGNALS}
    try:
        yield pending
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if pending:
            first = signal.Signals(pending[0])
            handler = old[first]
            if callable(handler):
                handler(first, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(first)
