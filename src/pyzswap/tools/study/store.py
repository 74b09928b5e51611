"""Where a study keeps its results: one JSON file per finished cell, and the Parquet table.

The cell files are the truth. Each is written under a temporary name and renamed into place
(``rename(2)`` is atomic), so a study killed at any moment leaves only whole cells, and a
rerun computes exactly the cells whose key has no file. The Parquet table is derived from them
(:func:`write_table`): one row per cell of the spec, the cell's identity first, then every
figure of the run's report, flattened (``memory.saved_bytes``, ``vmstat.zswpout``,
``series.pool_total_size`` as a list column, …). Columns therefore follow the report: a
figure ``pyzswap run --json`` gains is a column with no change here.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ... import __version__

if TYPE_CHECKING:
    import pyarrow as pa

    from .spec import Cell, Spec

__all__ = ["TABLE_NAME", "CellStore", "atomic_write", "flatten", "read_table", "table_rows",
           "write_table"]

TABLE_NAME: Final = "results.parquet"
_CELLS: Final = "cells"
_HASHES: Final = "hashes.json"
#: Cell-identity columns; a report figure with one of these names gets a "run." prefix.
IDENTITY_COLUMNS: Final = ("cell.key", "cell.status", "cell.error", "cell.workload",
                           "cell.variant", "cell.class", "cell.kind", "cell.source",
                           "cell.sha256", "cell.config", "cell.seed", "cell.version")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CellStore:
    """A study's directory: ``cells/KEY.json`` per finished cell, the table, a hash cache."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.cells = self.directory / _CELLS
        self._hashes_path = self.directory / _HASHES
        try:
            self._hashes: dict[str, list[Any]] = json.loads(self._hashes_path.read_text())
        except (OSError, ValueError):
            self._hashes = {}

    @property
    def table_path(self) -> Path:
        return self.directory / TABLE_NAME

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"bad cell key {key!r}")
        return self.cells / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of a finished cell, or None (also for a file that does not parse)."""
        try:
            record: dict[str, Any] = json.loads(self._path(key).read_bytes())
        except (OSError, ValueError):
            return None
        return record if record.get("key") == key else None

    def put(self, record: Mapping[str, Any]) -> None:
        self.cells.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(record["key"]),
                     json.dumps(record, separators=(",", ":")).encode())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._path(key).is_file()

    def finished(self) -> Iterator[str]:
        """The keys of every finished cell in the store."""
        return (p.stem for p in self.cells.glob("*.json"))

    def save_hashes(self) -> None:
        """Keep the file hashes computed so far for the next run (creates the directory)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self._hashes_path, json.dumps(self._hashes).encode())

    def file_sha256(self, path: Path) -> str:
        """SHA-256 of a file, cached by (path, size, mtime) across runs of the study."""
        from .spec import file_sha256

        st = path.stat()
        ident = [st.st_size, st.st_mtime_ns]
        cached = self._hashes.get(str(path.resolve()))
        if cached is not None and cached[:2] == ident:
            return str(cached[2])
        digest = file_sha256(path)
        self._hashes[str(path.resolve())] = [*ident, digest]
        return digest


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists of numbers stay lists, other lists become JSON."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple) and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            out[name] = json.dumps(value, sort_keys=True)
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def _option_value(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def table_rows(cells: Sequence[Cell], store: CellStore) -> list[dict[str, Any]]:
    """One row per cell that has a record: identity, options (``option.NAME``), figures."""
    option_names = list(dict.fromkeys(name for c in cells for name in c.options))
    rows = []
    for cell in cells:
        record = store.get(cell.key)
        if record is None:
            continue
        wl = cell.workload
        row: dict[str, Any] = {
            "cell.key": cell.key, "cell.status": record["status"],
            "cell.error": record.get("error"), "cell.workload": wl.id,
            "cell.variant": cell.variant, "cell.class": wl.cls, "cell.kind": wl.kind,
            "cell.source": wl.source, "cell.sha256": wl.sha256, "cell.config": cell.config,
            "cell.seed": cell.seed, "cell.version": record.get("version", __version__),
        }
        row.update({f"cell.{k}": v for k, v in record.get("execution", {}).items()})
        row.update({f"workload_meta.{k}": _option_value(v) for k, v in wl.meta.items()})
        row.update({f"option.{n}": _option_value(cell.options.get(n)) for n in option_names})
        for key, value in flatten(record.get("report") or {}).items():
            row[f"run.{key}" if key in row or key.startswith("cell.") else key] = value
        rows.append(row)
    return rows


def _column(values: list[Any]) -> pa.Array:
    """One Arrow column; ints and floats mixed become floats, anything else mixed becomes text."""
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if not kinds:  # no value at all (cell.error when nothing failed): text, not Arrow's null
        return pa.array(values, type=pa.string())
    if kinds <= {int, float} and float in kinds:
        values = [None if v is None else float(v) for v in values]
    elif len(kinds) > 1 and not kinds <= {int, float}:
        values = [None if v is None else v if isinstance(v, str) else json.dumps(v)
                  for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else json.dumps(v) for v in values])


def rows_to_table(rows: Iterable[Mapping[str, Any]],
                  metadata: Mapping[str, str] | None = None) -> pa.Table:
    import pyarrow as pa

    rows = list(rows)
    names = list(dict.fromkeys(k for row in rows for k in row))
    table = pa.table({n: _column([row.get(n) for row in rows]) for n in names})
    if metadata:
        table = table.replace_schema_metadata({k.encode(): v.encode()
                                               for k, v in metadata.items()})
    return table


def write_table(spec: Spec, store: CellStore, path: Path | None = None) -> Path:
    """Write the spec's finished cells as Parquet (atomically); returns the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = path or store.table_path
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {"pyzswap.tools.study": spec.name, "pyzswap.version": __version__,
            "pyzswap.spec": spec.text, "pyzswap.cells": str(len(spec.cells)),
            "pyzswap.written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    table = rows_to_table(table_rows(spec.cells, store), meta)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write(target, sink.getvalue().to_pybytes())
    return target


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    """A study's table: the Parquet file, or a study directory holding one."""
    import pyarrow.parquet as pq

    p = Path(path)
    if p.is_dir():
        p = p / TABLE_NAME
    if not p.is_file():
        raise FileNotFoundError(2, "no such study table", str(p))
    return pq.read_table(p)
