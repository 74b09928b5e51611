"""PGACTIVATE and PGDEACTIVATE of the trace's pages, from the kernel's tracepoints.

Under cgroup v1, ``memory.stat`` has neither counter, and ``/proc/vmstat`` counts every process
on the host (any file page another process reads twice is an activation: hundreds a second on a
busy machine). So the replayer counts them at their source. The kernel bumps PGACTIVATE for LRU
pages in two places: ``shrink_folio_list()`` (pages found referenced by reclaim), which
``shrink_inactive_list()`` reports per call in the tracepoint
``vmscan:mm_vmscan_lru_shrink_inactive`` (``nr_activate_anon`` + ``nr_activate_file``), and
``folio_activate_fn()`` (``folio_mark_accessed()`` on a page's second access through a read or
write system call, GUP or the page cache). The trace's pages are private anonymous pages touched
only by loads and stores, so only the first applies to them (a refault the workingset code
activates goes to the active list directly, counted as ``workingset_activate_anon``, not
PGACTIVATE). ``folio_activate_fn()`` does see the replayer's reads of its contents memfd
(shmem pages charged to the pyzswap process, not to the trace's groups), so it is left out.
PGDEACTIVATE comes from ``shrink_active_list()`` (``vmscan:mm_vmscan_lru_shrink_active``,
``nr_deactivated``), besides ``MADV_COLD`` and file invalidation, which a replay never does.
Memory-cgroup reclaim runs in the task that charges the page, so the trace's reclaim is done by
the replay's own processes.

:class:`LruTrace` records these events in a private trace instance (``instances/<name>`` of
tracefs, so nobody else's tracing is touched) for this process and its descendants only
(``set_event_pid`` with ``options/event-fork``), timestamped with ``CLOCK_MONOTONIC`` like the
replayer's samples, so the counts can be summed up to any sample. tracefs is mounted at
``/sys/kernel/tracing`` if it is not (undone afterwards); if the instance's buffer overflowed, the
counts are reported as unavailable rather than short.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._host import HostChanges, HostPaths, mount_fs, mount_points, read_text, write_text

__all__ = ["LruCounts", "LruTrace"]

TRACEFS: Final = Path("/sys/kernel/tracing")
_EVENTS: Final = ("vmscan/mm_vmscan_lru_shrink_inactive", "vmscan/mm_vmscan_lru_shrink_active")
#: Per-CPU ring buffer of the instance: one event per reclaim batch of 32 pages is ~100 bytes,
#: so this holds a few hundred million reclaimed pages.
_BUFFER_KB: Final = 16384


@dataclass
class LruCounts:
    """Cumulative PGACTIVATE / PGDEACTIVATE of the traced processes over time."""

    times_ns: list[int]
    activate: list[int]
    deactivate: list[int]

    def at(self, ns: int) -> tuple[int, int]:
        """(pgactivate, pgdeactivate) counted up to monotonic time ``ns``."""
        i = bisect.bisect_right(self.times_ns, ns)
        if i == 0:
            return 0, 0
        return self.activate[i - 1], self.deactivate[i - 1]


class LruTrace:
    """A trace instance counting the reclaim (de)activations of this process and its
    children."""

    def __init__(self, host: HostPaths, name: str) -> None:
        self.host = host
        self.name = name
        self.instance: Path | None = None

    def start(self, changes: HostChanges) -> str | None:
        """Mount tracefs if needed and start the instance; returns why not, or None."""
        mounted = mount_points("tracefs", self.host)
        root = mounted[0] if mounted else None
        if root is None:
            if not TRACEFS.is_dir():
                return f"no tracefs mount point {TRACEFS}"
            changes.record("umount", path=str(TRACEFS), fstype="tracefs")
            try:
                mount_fs("tracefs", TRACEFS)
            except OSError as exc:
                return f"tracefs is not mountable at {TRACEFS}: {exc.strerror or exc}"
            root = TRACEFS
        instance = root / "instances" / self.name
        if not all((root / "events" / e).is_dir() for e in _EVENTS):
            return "this kernel lacks the vmscan tracepoints"
        changes.record("rmdir_trace_instance", path=str(instance))
        instance.mkdir()
        self.instance = instance
        write_text(instance / "trace_clock", "mono")
        write_text(instance / "buffer_size_kb", str(_BUFFER_KB))
        write_text(instance / "options/event-fork", "1")
        write_text(instance / "set_event_pid", str(os.getpid()))
        for event in _EVENTS:
            write_text(instance / "events" / event / "enable", "1")
        write_text(instance / "tracing_on", "1")
        return None

    def counts(self) -> tuple[LruCounts | None, str | None]:
        """The recorded counts, or None and why (a buffer overrun loses events)."""
        if self.instance is None:
            return None, "no trace instance"
        write_text(self.instance / "tracing_on", "0")
        for stats in sorted((self.instance / "per_cpu").glob("cpu*/stats")):
            stat = dict(line.split(":", 1) for line in read_text(stats).splitlines()
                        if ":" in line)
            if int(stat.get("overrun", "0").strip() or 0):
                return None, f"the trace buffer overflowed ({stats.parent.name})"
        counts = LruCounts([], [], [])
        activate = deactivate = 0
        with (self.instance / "trace").open(errors="replace") as f:
            for line in f:
                if line.startswith("#"):
                    continue
                head, _, payload = line.partition(": ")
                event, _, args = payload.partition(": ")
                values = dict(kv.split("=", 1) for kv in args.split() if "=" in kv)
                if event == "mm_vmscan_lru_shrink_inactive":
                    activate += int(values.get("nr_activate_anon", 0)) + \
                        int(values.get("nr_activate_file", 0))
                elif event == "mm_vmscan_lru_shrink_active":
                    deactivate += int(values.get("nr_deactivated", 0))
                else:
                    continue
                stamp = head.split()[-1]
                with contextlib.suppress(ValueError):
                    seconds, _, micros = stamp.partition(".")
                    counts.times_ns.append(int(seconds) * 1_000_000_000
                                           + int(micros.ljust(6, "0")[:9].ljust(9, "0")))
                    counts.activate.append(activate)
                    counts.deactivate.append(deactivate)
        return counts, None
