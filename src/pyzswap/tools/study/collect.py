"""``pyzswap snapshot --all``: every process of a host (or those matching) as study input.

Each process goes through :func:`pyzswap.tools.snapshot.snapshot_process`, the single-process
snapshot (its page file and ``FILE.json`` beside it), into ``DIR/PID-COMM.pages``. The
directory's ``index.json`` (written last, atomically) lists every snapshot with what a fleet
study groups by: the command line, the memory cgroup, the resident set size, and the host; and
every process that was left out, with the reason (it exited, it has no anonymous memory, it
could not be read). A study spec names the directory (``snapshots = "DIR"``).

Kernel threads (no command line) and this process itself are never taken.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ...errors import ZswapError
from ..snapshot import SnapshotError, snapshot_process

__all__ = ["INDEX_NAME", "process_info", "snapshot_all"]

INDEX_NAME: Final = "index.json"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.+-]+")

#: Called before each process is read: (done, total, process info).
ProcessProgress = Callable[[int, int, dict[str, Any]], None]


def _read(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read().decode(errors="replace")


def _status_kib(status: str, field: str) -> int | None:
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def process_info(pid: int) -> dict[str, Any] | None:
    """Command line, comm, memory cgroup and RSS of ``pid``; None for a kernel thread or a
    process that is gone."""
    try:
        cmdline = [a for a in _read(pid, "cmdline").split("\0") if a]
        comm = _read(pid, "comm").strip()
        cgroups = _read(pid, "cgroup").splitlines()
        status = _read(pid, "status")
    except (FileNotFoundError, ProcessLookupError):
        return None
    if not cmdline:
        return None  # a kernel thread (or a zombie): nothing to snapshot
    # cgroup v1: the memory controller's line ("4:memory:/a/b"); v2: the unified one ("0::/a")
    memory = next((ln.split(":", 2)[2] for ln in cgroups if ln.split(":", 2)[1:2] == ["memory"]),
                  None)
    unified = next((ln.split(":", 2)[2] for ln in cgroups if ln.startswith("0::")), None)
    return {"pid": pid, "comm": comm, "cmdline": cmdline,
            "cgroup": memory if memory is not None else unified, "cgroups": cgroups,
            "rss_bytes": _status_kib(status, "VmRSS"),
            "rss_anon_bytes": _status_kib(status, "RssAnon")}


def snapshot_all(directory: str | os.PathLike[str], *, match: str | None = None,
                 all_pages: bool = False, progress: ProcessProgress | None = None,
                 pids: list[int] | None = None) -> dict[str, Any]:
    """Snapshot every process (or those whose command line matches the regular expression
    ``match``) into ``directory``; returns the index (also written as ``index.json``)."""
    from .store import atomic_write

    try:
        pattern = re.compile(match) if match is not None else None
    except re.error as exc:
        raise ZswapError(f"--match {match!r}: {exc}") from None
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    candidates = pids if pids is not None else sorted(
        int(p) for p in os.listdir("/proc") if p.isdigit())
    infos = []
    for pid in candidates:
        if pid == os.getpid():
            continue
        info = process_info(pid)
        if info is None:
            continue
        if pattern is not None and not (pattern.search(" ".join(info["cmdline"]))
                                        or pattern.search(info["comm"])):
            continue
        infos.append(info)
    host = socket.gethostname()
    taken, skipped = [], []
    t0 = time.perf_counter()
    for done, info in enumerate(infos):
        if progress is not None:
            progress(done, len(infos), info)
        name = f"{info['pid']}-{_UNSAFE.sub('_', info['comm']) or 'process'}.pages"
        try:
            snap = snapshot_process(info["pid"], out / name, all_pages=all_pages)
        except (SnapshotError, OSError) as exc:
            skipped.append({"pid": info["pid"], "comm": info["comm"],
                            "cmdline": info["cmdline"], "reason": str(exc)})
            continue
        taken.append({**info, "host": host, "page_file": name, "pages": snap.total_pages,
                      "zero_pages": snap.zero_pages, "metadata": f"{name}.json"})
    index = {"host": host, "taken_at": time.time(), "seconds": time.perf_counter() - t0,
             "match": match, "all_pages": all_pages, "processes": taken, "skipped": skipped}
    atomic_write(out / INDEX_NAME, (json.dumps(index, indent=2) + "\n").encode())
    return index
