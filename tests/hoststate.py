"""A comparable snapshot of every host setting pyzswap's tools could change.

``make test`` must leave the host exactly as it found it (it never runs the host-changing tests,
which are marked ``host``); the root conftest compares this snapshot before and after the whole
session. The kernel-oracle conftest compares it around each host test.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from pyzswap.tools.kernel._host import HOST, debugfs_mounted, mount_points

ZSWAP_PARAMS = Path("/sys/module/zswap/parameters")
SYS_BLOCK = Path("/sys/block")
SWAP_DIR = Path("/var/tmp")
VM_SYSCTLS = ("swappiness", "page-cluster", "min_free_kbytes", "watermark_scale_factor")
CGROUP_ROOTS = (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/unified"),
                Path("/sys/fs/cgroup"))


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _cgroups() -> list[str]:
    """Every cgroup directory pyzswap's tools could have made (their names start with
    ``pyzswap``), in the v1 memory and v2 hierarchies, relative to its root. Other cgroups
    come and go with the machine's own services and are not ours to watch. The groups below a
    ``pyzswap*`` group (a kernel replay's) are listed too."""
    found: set[str] = set()
    for root in CGROUP_ROOTS:
        if not root.is_dir():
            continue
        with contextlib.suppress(OSError):
            for d in root.rglob("pyzswap*"):
                if d.is_dir() and not d.is_symlink():
                    found.add(f"{root.name}:{d.relative_to(root)}")
                    found.update(f"{root.name}:{sub.relative_to(root)}" for sub in d.rglob("*")
                                 if sub.is_dir())
    return sorted(found)


def host_state() -> dict[str, object]:
    """Everything the kernel oracle could change, as comparable data."""
    state: dict[str, object] = {}
    if ZSWAP_PARAMS.is_dir():
        state["zswap"] = {p.name: _read(p) for p in sorted(ZSWAP_PARAMS.iterdir())}
    state["swaps"] = _read(Path("/proc/swaps"))
    zram: dict[str, dict[str, str | None]] = {}
    for dev in sorted(SYS_BLOCK.glob("zram*")):
        zram[dev.name] = {attr: _read(dev / attr)
                          for attr in ("initstate", "disksize", "comp_algorithm", "mm_stat")}
    state["zram"] = zram
    state["vm"] = {name: _read(Path("/proc/sys/vm") / name) for name in VM_SYSCTLS}
    state["cgroups"] = _cgroups()
    state["debugfs_mounted"] = debugfs_mounted()
    tracefs = mount_points("tracefs")
    state["tracefs"] = [str(p) for p in tracefs]
    state["trace_instances"] = sorted(p.name for root in tracefs
                                      for p in (root / "instances").glob("pyzswap-*"))
    state["swap_files"] = sorted(p.name for p in SWAP_DIR.glob("pyzswap-*"))
    state["journal"] = HOST.journal.exists()
    state["lock_file"] = HOST.lock_file.exists()
    return state
