"""The host's memory cgroups, for the kernel replayer: which version, and a fresh tree of groups.

The memory controller lives in one hierarchy: cgroup v1 (a ``cgroup`` mount with the ``memory``
option, e.g. ``/sys/fs/cgroup/memory``) or cgroup v2 (the ``cgroup2`` mount whose
``cgroup.controllers`` lists ``memory``). :func:`memory_hierarchy` finds it; :class:`MemcgTree`
creates a trace's groups under one fresh, uniquely named parent and removes them afterwards
(each ``mkdir`` is recorded in a :class:`~pyzswap.tools.kernel._host.HostChanges` first, so a
run that dies leaves a journal entry that removes it).

The file names differ between the versions: the limit is ``memory.limit_in_bytes`` in v1 and
``memory.max`` in v2; v1 has a per-group ``memory.swappiness`` (``mem_cgroup_swappiness()``
reads it for a v1 group, v2 uses ``vm.swappiness``); ``memory.zswap.max``,
``memory.zswap.writeback`` and ``memory.reclaim`` exist only in v2.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ._host import HOST, HostChanges, HostPaths, KernelUnavailable, read_text, write_text

__all__ = ["MemcgTree", "MemoryHierarchy", "memory_hierarchy"]

#: Per-version names of the files a run writes or samples.
_LIMIT: Final = {1: "memory.limit_in_bytes", 2: "memory.max"}
_USAGE: Final = {1: "memory.usage_in_bytes", 2: "memory.current"}


@dataclass(frozen=True)
class MemoryHierarchy:
    """Where the memory controller is mounted, and which cgroup version that is."""

    version: int
    root: Path

    @property
    def limit_file(self) -> str:
        return _LIMIT[self.version]

    @property
    def usage_file(self) -> str:
        return _USAGE[self.version]


def memory_hierarchy(host: HostPaths = HOST) -> MemoryHierarchy:
    """The host's memory-controller hierarchy (v1 preferred if, oddly, both are mounted)."""
    v2: Path | None = None
    for line in (host.proc / "mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        mountpoint, fstype, options = Path(parts[1]), parts[2], parts[3].split(",")
        if fstype == "cgroup" and "memory" in options:
            return MemoryHierarchy(1, mountpoint)
        if fstype == "cgroup2" and v2 is None:
            try:
                if "memory" in read_text(mountpoint / "cgroup.controllers").split():
                    v2 = mountpoint
            except OSError:
                continue
    if v2 is not None:
        return MemoryHierarchy(2, v2)
    raise KernelUnavailable("no memory cgroup controller is mounted on this host")


@dataclass
class MemcgTree:
    """A trace's memory cgroups under one fresh parent, ``<root>/pyzswap-replay-<pid>-<id>``.

    A trace's group ``/a/b`` is ``<parent>/a/b``. Processes without a group run in the parent
    itself, which has no limit.
    """

    hierarchy: MemoryHierarchy
    parent: Path = field(init=False)
    groups: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = f"pyzswap-replay-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.parent = self.hierarchy.root / name

    def path(self, group: str) -> Path:
        """The directory of a trace group (``/`` or ``""``: the parent)."""
        parts = [p for p in group.split("/") if p]
        return self.parent.joinpath(*parts) if parts else self.parent

    def create(self, changes: HostChanges, groups: list[str], empty: Sequence[str] = ()
               ) -> None:
        """Make the parent, the ``empty`` groups directly under it (in that order: made first,
        they come first in a walk of the hierarchy), then every group (with its ancestors);
        each recorded before it is made."""
        self._mkdir(changes, self.parent)
        for name in empty:
            self._mkdir(changes, self.parent / name)
        if self.hierarchy.version == 2:
            root_control = read_text(self.hierarchy.root / "cgroup.subtree_control").split()
            if "memory" not in root_control:
                raise KernelUnavailable(
                    f"the memory controller is not enabled for children of "
                    f"{self.hierarchy.root} (cgroup.subtree_control)")
        for group in sorted(set(groups)):
            node = self.parent
            for part in [p for p in group.split("/") if p]:
                if self.hierarchy.version == 2:
                    self._enable_memory(node)
                node = node / part
                if not node.is_dir():
                    self._mkdir(changes, node)
            self.groups[group] = node

    def _mkdir(self, changes: HostChanges, path: Path) -> None:
        changes.record("rmdir_cgroup", path=str(path))
        path.mkdir()

    @staticmethod
    def _enable_memory(node: Path) -> None:
        control = node / "cgroup.subtree_control"
        if "memory" not in read_text(control).split():
            write_text(control, "+memory")

    def write(self, group: str, name: str, value: str) -> None:
        """Write one control file of a group (the group's own file: removed with it)."""
        write_text(self.path(group) / name, value)

    def procs_file(self, group: str | None) -> Path:
        return self.path(group or "/") / "cgroup.procs"
