"""The two backends of the mypyc-compiled modules (pyzswap._compiled): the build compiles them,
and the compiled model computes exactly what its Python source computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

import pyzswap.run.mm.model
import pyzswap.swapcore
from pyzswap import _compiled

#: The report's sections that depend only on the workload and the model (not on the clock).
DETERMINISTIC = ("zswpout", "zswpin", "zswpwb", "pswpin", "pswpout", "swpout_zero",
                 "swpin_zero", "pgmajfault", "pgscan_anon", "pgsteal_anon", "pgactivate",
                 "pgdeactivate", "workingset_refault_anon", "workingset_activate_anon",
                 "pool_total_size", "stored_pages", "stored_incompressible_pages",
                 "written_back_pages", "pool_limit_hit", "timeline", "events", "debugfs",
                 "vmstat", "memcg", "memory", "faults", "swapins", "consistency", "mm",
                 "ratio_histogram", "series")

pure = os.environ.get(_compiled.PURE_ENV) == "1"


def _python(code: str, pure_env: bool) -> str:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop(_compiled.PURE_ENV, None)
    if pure_env:
        env[_compiled.PURE_ENV] = "1"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(pure, reason=f"{_compiled.PURE_ENV}=1: the source backend was chosen")
def test_the_build_compiled_the_listed_modules() -> None:
    assert _compiled.backend() == "compiled"
    for module in (pyzswap.run.mm.model, pyzswap.swapcore):
        assert module.__file__ is not None and not module.__file__.endswith(".py")


def test_the_environment_selects_the_source() -> None:
    out = _python("import pyzswap._compiled as c, pyzswap.run.mm.model as m, "
                  "pyzswap.run.mm.vmscan as v; print(c.backend(), m.__file__, v.__file__)",
                  pure_env=True)
    backend, *files = out.split()
    assert backend == "source" and all(f.endswith(".py") for f in files)


def test_the_listing_covers_real_files() -> None:
    sources = _compiled.compiled_sources()
    assert len(sources) >= len(_compiled.COMPILED)
    assert all(p.is_file() and p.suffix == ".py" for p in sources)
    assert len(_compiled.sources_digest()) == 64


def _run(args: list[str], pure_env: bool) -> dict[str, Any]:
    out = _python("import sys; from pyzswap.cli import main; "
                  f"sys.exit(main({['run', *args, '--json']!r}))", pure_env)
    report: dict[str, Any] = json.loads(out)
    return {k: report[k] for k in DETERMINISTIC if k in report}


@pytest.mark.skipif(pure, reason=f"{_compiled.PURE_ENV}=1: only one backend to compare")
@pytest.mark.parametrize("args", [
    ["heap", "--scale", "0.2", "-c", "lz4"],  # kswapd, the pool limit's writeback
    ["cgroups", "--scale", "0.3", "--cgroup-version", "1"],  # several memcgs, v1
    ["phased", "--scale", "0.3", "--page-cluster", "3", "--no-baseline"],  # exits, readahead
], ids=["heap", "cgroups-v1", "phased"])
def test_compiled_and_source_give_the_same_report(args: list[str]) -> None:
    compiled = _run(args, pure_env=False)
    source = _run(args, pure_env=True)
    assert compiled["zswpout"] > 0 and compiled["pgscan_anon"] > 0  # the run had pressure
    assert compiled == source
