"""The mm model (``pyzswap.run.mm``) against the kernel rules it follows."""

from __future__ import annotations

from pathlib import Path

from pyzswap.run.harness import RunConfig, run_workload
from pyzswap.run.workload import trace_workload


def _trace(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.trace"
    path.write_text(text)
    return path


def test_writeback_disabled_group_keeps_refused_pages_in_memory(tmp_path: Path) -> None:
    """issue 17 (1): zswap refuses every page of a group with memory.zswap.writeback=0 and
    memory.zswap.max=0; 6.18's swap_writeout keeps each one in memory (AOP_WRITEPAGE_ACTIVATE,
    activated), so nothing reaches the swap device and reclaim frees nothing."""
    lines = ["proc 1 300 memcg=g pageset=text"] + ["w 1 0-299", "r 1 0-299"] * 2
    wl = trace_workload(_trace(tmp_path, "\n".join(lines) + "\n"))
    cfg = RunConfig(compressor="lz4", ram_pages=4096, memcg_max={"g": 100 * 4096},
                    zswap_max={"g": 0}, zswap_writeback={"g": False})
    r = run_workload(wl, cfg).data
    assert r["vmstat"]["pswpout"] == 0 and r["vmstat"]["zswpout"] == 0
    assert r["vmstat"]["pgsteal"] == 0
    assert r["vmstat"]["pgactivate"] > 0
    assert r["faults"]["total"] == 0  # every page stayed resident
