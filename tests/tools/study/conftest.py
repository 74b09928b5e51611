"""Study fixtures: small specs (cells of a few tenths of a second) and one local Dask cluster."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: 2 workloads × 2 compressors × 3 seeds = 12 cells of ~0.1-0.3 s each.
SPEC_12 = """
name = "twelve"
[run]
ops = 1000
max-pool-percent = 20
[grid]
compressor = ["lz4", "zstd"]
seed = [0, 1, 2]
[[workload]]
builtin = ["heap", "phased"]
scale = 0.02
"""

#: Columns a seed fixes (everything but timings and where/when a cell ran).
_VOLATILE = ("seconds", "latency", "_us", "cell.exec_id", "cell.host", "cell.pid",
             "cell.worker", "cell.started_at", "wall")


def deterministic(table: Any) -> list[dict[str, Any]]:
    """The table's rows by cell key, without the columns that vary between equal runs."""
    keep = [c for c in table.column_names if not any(v in c for v in _VOLATILE)]
    return sorted(table.select(keep).to_pylist(), key=lambda r: r["cell.key"])


def write_spec(directory: Path, text: str = SPEC_12, name: str = "study.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A LocalCluster of two worker processes, shared by a test module."""
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               silence_logs=logging.ERROR, dashboard_address=None)
    c = Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
