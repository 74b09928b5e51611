"""Runs with their cost: every configuration over several seeds, next to a no-zswap baseline.

:func:`evaluate` is what ``pyzswap run`` and ``pyzswap advise`` execute. For each configuration
and seed it replays the workload (:func:`~pyzswap.run.harness.run_workload`) and adds the cost
model (:func:`~pyzswap.run.cost.estimate`); for each seed it also replays the same workload with
zswap disabled (``backend="none"``, the same seed, RAM and cgroup settings), once, shared by
every configuration that has the same machine. Each configuration's result is the report of its
first seed plus:

``cost``
    the cost model of that run;
``baseline``
    the baseline run of the same seed, summarised (its cost, faults and swap-ins);
``versus_baseline``
    the differences that decide whether zswap pays: stall time, device reads, device writes,
    major faults and CPU time (this configuration minus the baseline, means over the seeds),
    and the mean memory saved;
``spread`` / ``baseline_spread``
    mean, standard deviation, min and max over the seeds of the cost figures
    (:data:`~pyzswap.run.cost.SPREAD_FIELDS`);
``seeds``
    the seeds run.

A configuration that runs out of memory (a zram device whose pool would take most of RAM) gives
``{"label", "backend", "compressor", "failed": message}`` instead.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .cost import SwapDevice, estimate, spread
from .harness import RunConfig, run_workload
from .mm import OutOfMemory
from .workload import Workload

__all__ = ["baseline_config", "evaluate"]

#: progress(label of the current run, runs done, runs total, events done, events total)
Progress = Callable[[str, int, int, int, int], None]


def baseline_config(cfg: RunConfig) -> RunConfig:
    """The machine of ``cfg`` with zswap off: the same RAM, cgroups, sysctls and seed."""
    return replace(cfg, backend="none", compressor="lzo", max_pool_percent=20,
                   accept_threshold_percent=90, shrinker_enabled=False, zram_size_pages=None,
                   label="no zswap")


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {"backend": report["backend"], "seed": report["seed"], "cost": report["cost"],
            "faults": report["faults"], "swapins": report["swapins"],
            "pswpin": report["pswpin"], "pswpout": report["pswpout"],
            "pgmajfault": report["pgmajfault"], "wall_seconds": report["wall_seconds"]}


def _versus(run: dict[str, dict[str, float]], base: dict[str, dict[str, float]]
            ) -> dict[str, float]:
    """This configuration minus the baseline, mean over the seeds of each."""
    out = {k: round(run[k]["mean"] - base[k]["mean"], 6)
           for k in ("stall_seconds", "device_reads", "device_writes", "major_faults",
                     "cpu_seconds")}
    out["memory_saved_bytes"] = run["memory_saved_bytes"]["mean"]
    return out


def evaluate(make_workload: Callable[[int], Workload], configs: Sequence[RunConfig], *,
             seeds: Sequence[int], device: SwapDevice, baseline: bool = True,
             progress: Progress | None = None,
             swap_dir: str | None = None) -> list[dict[str, Any]]:
    """Run every configuration for every seed (module docstring); one result per config."""
    workloads: dict[int, Workload] = {}
    baselines: dict[tuple[int, str], dict[str, Any]] = {}
    total = len(configs) * len(seeds)
    if baseline:
        total += len(seeds) * len({repr(baseline_config(c)) for c in configs
                                   if c.backend != "none"})
    done = 0

    def one(cfg: RunConfig, seed: int) -> dict[str, Any]:
        nonlocal done
        if seed not in workloads:
            workloads[seed] = make_workload(seed)
        label = f"{cfg.label or cfg.compressor} seed {seed}"
        cb = None
        if progress is not None:
            step = done

            def cb(ev: int, evs: int) -> None:
                progress(label, step, total, ev, evs)

        try:
            report = run_workload(workloads[seed], replace(cfg, seed=seed), progress=cb,
                                  swap_dir=swap_dir).to_dict()
        finally:
            done += 1
            # The model's objects refer to each other (zswap's callbacks into the mm): free
            # this run's memory (a copy of every page) before the next run makes its own.
            gc.collect()
        report["cost"] = estimate(report, device)
        if cfg.backend == "none":
            report["cost"]["cpu_seconds"].update(compress=0.0, decompress=0.0, writeback=0.0,
                                                 total=0.0)
            report["cost"]["time_seconds"] = report["cost"]["stall_seconds"]["total"]
        return report

    results: list[dict[str, Any]] = []
    for cfg in configs:
        runs: list[dict[str, Any]] = []
        bases: list[dict[str, Any]] = []
        try:
            for seed in seeds:
                runs.append(one(cfg, seed))
                if not baseline:
                    continue
                if cfg.backend == "none":
                    bases.append(runs[-1])
                    continue
                bcfg = baseline_config(cfg)
                key = (seed, repr(replace(bcfg, seed=0)))
                if key not in baselines:
                    baselines[key] = one(bcfg, seed)
                bases.append(baselines[key])
        except OutOfMemory as exc:
            results.append({"label": cfg.label or cfg.compressor, "backend": cfg.backend,
                            "compressor": cfg.compressor, "failed": str(exc)})
            continue
        result = runs[0]
        result["seeds"] = list(seeds)
        result["spread"] = spread(runs)
        if bases:
            result["baseline"] = _summary(bases[0])
            result["baseline_spread"] = spread(bases)
            result["versus_baseline"] = _versus(result["spread"], result["baseline_spread"])
        results.append(result)
    return results
