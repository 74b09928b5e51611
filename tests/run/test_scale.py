"""A page-file run holds one copy of the pages: peak memory is about the page file, not twice
it (the workload used to keep its own copy next to the model's, and a run's memory was not
freed before its baseline run started)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pyzswap.tools.pagesets import make_pages, write_page_file

_SCRIPT = """
import json, resource, sys
from pyzswap.cli import main
import pyzswap.run.evaluate, pyzswap.run.report, pyzswap.run.workload, rich.console
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(["run", sys.argv[1], "--ops", "20000", "--pattern", "uniform", "--json",
             "--swap-dir", sys.argv[2]])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "grew_kib": after - before}), file=sys.stderr)
"""


def test_page_file_run_peak_memory_is_about_one_page_file(tmp_path: Path) -> None:
    path = tmp_path / "pages.bin"
    npages = 16384  # 64 MiB
    write_page_file(path, make_pages("real", npages, seed=3))
    swap_dir = tmp_path / "swap"
    swap_dir.mkdir()
    res = subprocess.run([sys.executable, "-c", _SCRIPT, str(path), str(swap_dir)],
                         capture_output=True, text=True, timeout=300, check=False)
    got = json.loads(res.stderr.strip().splitlines()[-1])
    assert got["code"] == 0, res.stderr[-2000:]
    file_kib = npages * 4
    assert got["grew_kib"] <= 1.2 * file_kib, got
    assert list(swap_dir.iterdir()) == []  # the swap file lived there and is gone
