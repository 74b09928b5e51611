"""The spec: options by their ``pyzswap run`` names, cells, keys; a cell is a ``pyzswap run``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyzswap import __version__
from pyzswap.cli import cli as cli_group
from pyzswap.errors import ZswapError
from pyzswap.run.harness import RunConfig
from pyzswap.tools.pagesets import make_pages, write_page_file
from pyzswap.tools.study import SpecError, execute_cell, load_spec, parse_spec
from pyzswap.tools.study.spec import CONFIG_OPTIONS, WORKLOAD_OPTIONS, cell_key, resolve_options

from .conftest import SPEC_12, write_spec


def test_grid_expands_to_every_combination(tmp_path: Path) -> None:
    spec = parse_spec(SPEC_12, base=tmp_path)
    assert spec.name == "twelve" and len(spec.cells) == 12
    assert len({c.key for c in spec.cells}) == 12
    first = spec.cells[0]
    assert first.variant == "heap scale=0.02"  # [run] options are everyone's
    assert first.config == "compressor=lz4"  # seeds are replicas, not configurations
    assert first.resolved.workload == {"ops": 1000, "scale": 0.02, "seed": 0}
    assert first.resolved.config == {"max_pool_percent": 20, "compressor": "lz4", "seed": 0}


def test_every_runconfig_field_is_an_option_by_its_dashed_name() -> None:
    """A field the mm model adds to RunConfig is a study option with no study change."""
    for f in dataclasses.fields(RunConfig):
        assert f.name.replace("_", "-") in CONFIG_OPTIONS
    assert {"pattern", "ops", "scale", "seed"} <= WORKLOAD_OPTIONS


def test_cli_spellings_map_onto_runconfig() -> None:
    r = resolve_options({"ram": "64M", "shrinker": True, "memcg-max": {"batch": "8M"},
                         "zswap-max": ["web=1M"], "no-writeback": ["batch"], "no-verify": True,
                         "--accept_threshold_percent": 80, "samples": "50"})
    assert r.config == {"ram_pages": 16384, "shrinker_enabled": True,
                        "memcg_max": {"batch": 8 << 20}, "zswap_max": {"web": 1 << 20},
                        "zswap_writeback": {"batch": False}, "verify": False,
                        "accept_threshold_percent": 80, "samples": 50}
    assert resolve_options({"ram": "50%"}).config == {"ram_pages": "50%"}


@pytest.mark.parametrize(("options", "message"), [
    ({"max-pool-percnt": 10}, "unknown run option 'max-pool-percnt'"),
    ({"sweep": "ram=1M"}, "no meaning in a study"),
    ({"compressor": "lz5"}, "lz5"),
    ({"max-pool-percent": "ten"}, "expected an integer"),
    ({"shrinker": "perhaps"}, "expected true or false"),
    ({"ram": "0"}, "at least one page"),
    ({"memcg-max": ["batch"]}, "PATH=SIZE"),
])
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ZswapError, match=message):
        resolve_options(options)


def test_keys_follow_content_options_and_version(tmp_path: Path) -> None:
    pages = tmp_path / "a.pages"
    write_page_file(pages, make_pages("real", 64, seed=1))
    text = '[grid]\ncompressor = ["lz4"]\n[[workload]]\nfiles = "*.pages"\n'
    key = parse_spec(text, base=tmp_path).cells[0].key
    assert parse_spec(text, base=tmp_path).cells[0].key == key  # stable
    # the same options spelled differently are the same cell
    same = parse_spec(text.replace("compressor", "--compressor"), base=tmp_path)
    assert same.cells[0].key == key
    write_page_file(pages, make_pages("real", 64, seed=2))  # other bytes, same name
    assert parse_spec(text, base=tmp_path).cells[0].key != key
    cell = parse_spec(text, base=tmp_path).cells[0]
    assert cell_key(cell.workload, cell.resolved, version=__version__ + "+1") != cell.key
    other = parse_spec(text.replace('["lz4"]', '["zstd"]'), base=tmp_path)
    assert other.cells[0].key != cell.key


def test_trace_key_covers_the_page_files_it_names(tmp_path: Path) -> None:
    write_page_file(tmp_path / "heap.pages", make_pages("real", 8, seed=1))
    (tmp_path / "t.trace").write_text("# pyzswap trace v1\nproc 1 8 file=heap.pages\nr 1 0-7\n")
    text = '[[workload]]\nfiles = "t.trace"\n'
    before = parse_spec(text, base=tmp_path).cells[0]
    assert before.workload.kind == "trace" and not before.workload.shippable
    write_page_file(tmp_path / "heap.pages", make_pages("real", 8, seed=2))
    assert parse_spec(text, base=tmp_path).cells[0].key != before.key


@pytest.mark.parametrize(("text", "message"), [
    ("[grid]\ncompressor = ['lz4']\n", "names no workload"),
    ("[[workload]]\nbuiltin = 'nope'\n", "unknown built-in workload"),
    ("[[workload]]\nfiles = 'missing/*.pages'\n", "nothing matches"),
    ("[[workload]]\nbuiltin = 'heap'\nfiles = 'x'\n", "exactly one of"),
    ("[run]\nseed = 1\n[grid]\nseed = [1, 2]\n[[workload]]\nbuiltin = 'heap'\n",
     "both \\[run\\] and \\[grid\\]"),
    ("[grid]\nseed = []\n[[workload]]\nbuiltin = 'heap'\n", "non-empty list"),
    ("[[workload]]\nbuiltin = ['heap', 'heap']\n", "listed twice"),
    ("colour = 1\n[[workload]]\nbuiltin = 'heap'\n", "unknown spec keys"),
    ("[grid\n", "spec"),
])
def test_bad_specs_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(text, base=tmp_path)


def test_a_cell_is_a_pyzswap_run(tmp_path: Path) -> None:
    """The cell's report equals `pyzswap run --json` with the same options (timings aside)."""
    spec = parse_spec("""
        [run]
        ops = 2000
        scale = 0.03
        seed = 3
        ram = "1M"
        compressor = "zstd"
        max-pool-percent = 30
        shrinker = true
        [[workload]]
        builtin = "phased"
    """, base=tmp_path)
    record = execute_cell(spec.cells[0])
    assert record["status"] == "ok", record.get("error")
    result = CliRunner().invoke(cli_group, [
        "run", "phased", "--ops", "2000", "--scale", "0.03", "--seed", "3", "--ram", "1M",
        "-c", "zstd", "--max-pool-percent", "30", "--shrinker", "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.output)
    cell = record["report"]
    volatile = ("wall_seconds", "cpu_seconds", "latency", "latency_us", "writeback",
                "median_store_us", "label",
                # what `run` adds around the run: the baseline, the cost model, the seeds
                "cost", "baseline", "baseline_spread", "versus_baseline", "spread", "seeds")
    for key in cli:
        if key in volatile:
            continue
        assert cell[key] == cli[key], key
    assert cell["writeback"]["written_back_pages"] == cli["writeback"]["written_back_pages"]


def test_a_failing_cell_is_a_record_not_an_exception(tmp_path: Path) -> None:
    (tmp_path / "bad.pages").write_bytes(bytes(4096))
    spec = parse_spec('[[workload]]\nfiles = "bad.pages"\n', base=tmp_path)
    (tmp_path / "bad.pages").write_bytes(bytes(100))  # broken after the spec was read
    record = execute_cell(spec.cells[0])
    assert record["status"] == "error" and "CorruptData" in record["error"]
    assert record["report"] is None and record["execution"]["exec_id"]


def test_ram_percent_is_resolved_per_workload(tmp_path: Path) -> None:
    spec = parse_spec('[run]\nops = 500\nscale = 0.02\nram = "25%"\n'
                      '[[workload]]\nbuiltin = "heap"\n', base=tmp_path)
    report = execute_cell(spec.cells[0])["report"]
    assert report["ram_pages"] == round(report["total_pages"] * 0.25)


def test_load_spec_reads_paths_relative_to_the_spec(tmp_path: Path) -> None:
    sub = tmp_path / "snaps"
    sub.mkdir()
    write_page_file(sub / "x.pages", make_pages("real", 16, seed=1))
    path = write_spec(tmp_path, '[[workload]]\nfiles = "snaps/*.pages"\nclass = "db"\n')
    spec = load_spec(path)
    (wl,) = spec.workloads
    assert wl.id == "snaps/x.pages" and wl.cls == "db" and wl.kind == "pagefile"
    assert wl.size == 16 * 4096
    with pytest.raises(SpecError, match="no such spec"):
        load_spec(tmp_path / "nope.toml")


def test_the_example_spec_parses() -> None:
    spec = load_spec(Path(__file__).parents[3] / "examples" / "fleet.toml")
    assert len(spec.cells) == 60 and spec.name == "built-in fleet"
    assert {w.cls for w in spec.workloads} == {"interactive", "batch"}
    assert len({c.config for c in spec.cells}) == 6
