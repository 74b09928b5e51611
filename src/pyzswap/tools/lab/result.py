"""What an experiment returns: its main table, any further tables, notes and parameters.

Kept apart from the experiments so modules of experiments can share it without importing each
other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LabResult", "LabTable", "progress", "set_progress"]

_PROGRESS: list[Callable[[str], None]] = []


def set_progress(report: Callable[[str], None] | None) -> None:
    """Where :func:`progress` messages go (None: nowhere, the default)."""
    _PROGRESS[:] = [] if report is None else [report]


def progress(message: str) -> None:
    """Say what a long experiment is doing now (the ``lab`` command shows it on stderr)."""
    for report in _PROGRESS:
        report(message)


@dataclass
class LabTable:
    """A further table of an experiment (e.g. throughput beside a memory table): one
    experiment can answer a question from two sides without mixing unlike rows in one table."""

    title: str
    columns: list[str]
    rows: list[list[Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows}


@dataclass
class LabResult:
    """One experiment's answer: a table (``columns`` and ``rows``) and what it shows.

    ``tables`` holds any further tables; ``params`` the knobs the run used, so a JSON result
    says how to reproduce it.
    """

    name: str
    question: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    tables: list[LabTable] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "question": self.question,
                               "columns": self.columns, "rows": self.rows, "notes": self.notes,
                               "params": self.params}
        if self.tables:
            out["tables"] = [t.to_dict() for t in self.tables]
        return out
