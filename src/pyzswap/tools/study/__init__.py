"""Fleet studies: many workloads × a grid of ``pyzswap run`` options, on Dask distributed.

* :mod:`.spec`: the TOML spec, expanded into cells, each keyed by a content hash;
* :mod:`.engine`: the cells on a Dask cluster (a local one by default), resumable and fault
  tolerant, with progress;
* :mod:`.store`: one file per finished cell, and the Parquet table;
* :mod:`.report`: the table aggregated into a self-contained HTML report;
* :mod:`.collect`: ``pyzswap snapshot --all``, every process of a host as study input.

A tool over :mod:`pyzswap.run`: a cell is :func:`~pyzswap.run.harness.run_workload` on the
workload :func:`~pyzswap.run.workload.workload_from_name` builds, as ``pyzswap run`` does.
See docs/FLEET.md.
"""

from __future__ import annotations

from .collect import INDEX_NAME, process_info, snapshot_all
from .engine import StudyError, StudyProgress, StudyResult, execute_cell, run_study
from .report import Constraint, Objective, StudySummary, summarise, write_report
from .spec import Cell, Spec, SpecError, WorkloadRef, load_spec, parse_spec
from .store import TABLE_NAME, CellStore, read_table, write_table

__all__ = [
    "INDEX_NAME",
    "TABLE_NAME",
    "Cell",
    "CellStore",
    "Constraint",
    "Objective",
    "Spec",
    "SpecError",
    "StudyError",
    "StudyProgress",
    "StudyResult",
    "StudySummary",
    "WorkloadRef",
    "execute_cell",
    "load_spec",
    "parse_spec",
    "process_info",
    "read_table",
    "run_study",
    "snapshot_all",
    "summarise",
    "write_report",
    "write_table",
]
