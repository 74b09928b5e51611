"""The cell store and the table: atomic cells, flattened figures, one schema for all rows."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from pyzswap.tools.study import CellStore
from pyzswap.tools.study.store import flatten, rows_to_table


def test_flatten_keeps_number_lists_and_encodes_the_rest() -> None:
    flat = flatten({"a": {"b": 1, "c": {"d": 2.5}}, "t": [1, 2, 3], "p": [{"pid": 1}],
                    "s": "x", "e": []})
    assert flat == {"a.b": 1, "a.c.d": 2.5, "t": [1, 2, 3], "p": '[{"pid": 1}]', "s": "x",
                    "e": []}


def test_table_unifies_types_across_rows() -> None:
    table = rows_to_table([{"r": 0, "m": {"x": 1}.get("x"), "l": [1, 2]},
                           {"r": 1.5, "m": "text", "z": True}])
    assert table.schema.field("r").type == pa.float64()  # 0 and 1.5: floats
    assert table.column("m").to_pylist() == ["1", "text"]  # mixed: text
    assert table.column("z").to_pylist() == [None, True]  # missing: null
    assert rows_to_table([{"e": None}]).schema.field("e").type == pa.string()
    assert table.column("l").type == pa.list_(pa.int64())


def test_cells_are_whole_or_absent(tmp_path: Path) -> None:
    store = CellStore(tmp_path / "s")
    assert not (tmp_path / "s").exists()  # nothing is created before the first cell
    store.put({"key": "abc123", "status": "ok"})
    assert store.get("abc123") == {"key": "abc123", "status": "ok"}
    assert "abc123" in store and list(store.finished()) == ["abc123"]
    # a torn or foreign file is not a finished cell
    (tmp_path / "s" / "cells" / "dead00.json").write_text('{"key": "dead00", "sta')
    (tmp_path / "s" / "cells" / "beef00.json").write_text(json.dumps({"key": "other"}))
    assert store.get("dead00") is None and store.get("beef00") is None
    assert not [p for p in (tmp_path / "s" / "cells").iterdir() if p.name.startswith(".")]


def test_file_hashes_are_cached_by_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "w.pages"
    f.write_bytes(bytes(4096))
    store = CellStore(tmp_path / "s")
    first = store.file_sha256(f)
    store.save_hashes()
    again = CellStore(tmp_path / "s")
    assert again.file_sha256(f) == first
    f.write_bytes(b"\1" * 8192)
    assert again.file_sha256(f) != first
