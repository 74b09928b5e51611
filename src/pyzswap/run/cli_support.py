"""Helpers of the ``run`` and ``advise`` commands (pyzswap.cli): workloads, configurations,
sizes, limits, the evaluation with its progress bar, the advice and the HTML file."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._cliutil import MAX_RAM_BYTES, MAX_RUNS, CliError
from ..errors import ZswapError
from ..folio import PAGE_SIZE

__all__ = ["advice", "backend_configs", "check_groups", "device", "evaluate", "limits",
           "progress_runs", "ram_pages", "run_configs", "size", "workload_maker", "write_html"]


def advice(wl: Any, results: list[dict[str, Any]], rows: list[dict[str, Any]],
            objective: str, offers: dict[str, Any], device: Any,
            seeds: int) -> dict[str, Any]:
    """The JSON of ``advise``: the ranked grid, the recommendation and how to apply it."""
    import math
    from dataclasses import asdict

    from .advise import apply_commands

    best = next((r for r in rows if r["failed"] is None and r["offered"] is not False), None)
    apply = None
    if best is not None:
        size = None
        if best["backend"] == "zram":
            run = next(r for r in results if r.get("label") == best["label"])
            peak = max(run["series"]["stored_pages"], default=0) * 4096
            size = max(int(peak * 1.25), run["ram_bytes"] // 4)
        apply = apply_commands(best, size)
    ok = next((r for r in results if "failed" not in r), None)
    return {
        "workload": wl.name, "description": wl.description,
        "ram_bytes": ok["ram_bytes"] if ok else None,
        "total_pages": wl.total_pages, "seeds": seeds, "objective": objective,
        "formula": {"memory": "saved_fraction", "latency": "-time_increase",
                    "balanced": "saved_fraction - time_increase"}[objective],
        "kernel_offers": offers,
        "swap_device": {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                        for k, v in asdict(device).items()},
        "grid": rows, "recommendation": best, "apply": apply,
    }


def write_html(write: Callable[[], Any], path: Path) -> None:
    try:
        write()
    except OSError as exc:
        raise CliError(f"--html {path}: {exc.strerror or exc}") from None


def device(name: str | None, latency: float | None, backends: list[str]) -> Any:
    """The cost model's swap device; conflicting choices are an error, not an override."""
    from .cost import swap_device

    if name is not None and latency is not None:
        raise CliError("--swap-device and --swap-latency both describe the swap device: "
                       "give one")
    if backends == ["zram"]:
        if (name not in (None, "zram")) or latency is not None:
            raise CliError("--backend zram: zram is the swap device (no --swap-device or "
                           "--swap-latency)")
        return swap_device("zram")
    if name == "zram":
        raise CliError("--swap-device zram describes zram; compare it with --backend zram")
    return swap_device(name or "nvme", latency)


def size(text: str, option: str, parse_size: Callable[[str, str], int]) -> int:
    try:
        return parse_size(text, option)
    except ZswapError as exc:
        raise CliError(str(exc)) from None


def backend_configs(configs: list[Any], backends: list[str]) -> list[Any]:
    """Every zswap configuration once per backend; zram takes each compressor once, and the
    no-zswap backend once (its results do not depend on zswap's parameters)."""
    from dataclasses import replace

    out: list[Any] = []
    seen: set[str] = set()
    multi = len(backends) > 1
    for b in backends:
        for cfg in configs:
            label = cfg.label if b == "zswap" else (
                f"zram {cfg.compressor}" if b == "zram" else "no zswap")
            if multi and b == "zswap":
                label = f"zswap {label}"
            if label in seen:
                continue
            seen.add(label)
            out.append(replace(cfg, backend=b, label=label))
    return out


def workload_maker(workload: str | None, pattern: str | None, ops: int | None,
                    scale: float | None) -> Callable[[int], Any]:
    """The workload for a seed; options a workload does not use are errors, not ignored. The
    last one made is kept: the option checks read a trace once, and the runs use that copy
    (a workload is not changed by a run)."""
    from ..tools.pagesets import check_regular_file
    from .workload import PROFILES, workload_from_name

    builtin = workload is None or workload in PROFILES
    if workload is not None and not builtin and Path(workload).exists():
        check_regular_file(workload)  # a FIFO would block the look at its first bytes
        with open(workload, "rb") as fh:
            is_trace = fh.read(64).lstrip().startswith((b"#", b"proc"))
        if scale is not None:
            raise CliError("--scale sizes a built-in workload; this is a "
                           f"{'trace' if is_trace else 'page file'}")
        if is_trace and (pattern is not None or ops is not None):
            raise CliError("--pattern and --ops apply to a page file or a built-in workload; "
                           "a trace gives its own accesses")
    elif pattern is not None:
        raise CliError("--pattern applies to a page file; built-in workloads have their own "
                       "patterns (docs/WORKLOADS.md)")

    last: dict[int, Any] = {}

    def make(seed: int) -> Any:
        if seed not in last:
            last.clear()
            last[seed] = workload_from_name(workload, seed=seed, pattern=pattern or "zipf",
                                            ops=ops, scale=scale if scale is not None else 1.0)
        return last[seed]

    return make


def check_groups(wl: Any, cfg: Any) -> None:
    """A cgroup option must name one of the workload's groups (a misspelt name would make a
    new, empty group and silently limit nothing)."""
    known = {(p.memcg or "").strip("/") for p in wl.procs} | {
        k.strip("/") for k in wl.memcg_max} | {
        (ev.memcg or "").strip("/") for ev in wl.controls if getattr(ev, "memcg", None)}
    known.discard("")
    # a group's ancestors exist too (a/b makes a)
    known |= {"/".join(p.split("/")[:k]) for p in known for k in range(1, p.count("/") + 1)}
    for option, paths in (("--memcg-max", cfg.memcg_max), ("--zswap-max", cfg.zswap_max),
                          ("--no-writeback", cfg.zswap_writeback)):
        for path in paths:
            if path.strip("/") not in known:
                have = ", ".join(sorted(known)) or "none: every process is in the root group"
                raise CliError(f"{option} {path}: the workload has no cgroup {path!r} "
                               f"(its cgroups: {have})")


def evaluate(make: Callable[[int], Any], configs: list[Any], seed: int, seeds: int,
              device: Any, quiet: bool, swap_dir: Path | None, *,
              baseline: bool = True) -> list[dict[str, Any]]:
    from .evaluate import evaluate

    with progress_runs(not quiet) as progress:
        return evaluate(make, configs, seeds=list(range(seed, seed + seeds)), device=device,
                        baseline=baseline, progress=progress,
                        swap_dir=None if swap_dir is None else str(swap_dir))


def ram_pages(text: str, parse_size: Callable[[str, str], int]) -> int:
    try:
        nbytes = parse_size(text, "--ram")
    except ZswapError as exc:
        raise CliError(str(exc)) from None
    if nbytes < PAGE_SIZE:
        raise CliError(f"--ram {text}: RAM must be at least one page ({PAGE_SIZE} bytes)")
    if nbytes > MAX_RAM_BYTES:
        raise CliError(f"--ram {text}: at most 1T (a RAM of {MAX_RAM_BYTES >> 30} GiB)")
    return nbytes // PAGE_SIZE


def memcg_counts(host: str, dying: str) -> dict[str, int]:
    """``--host-memcgs`` and ``--dying-memcgs``: a count each, or ``auto`` for this machine's
    (read from its cgroup file system and /proc/cgroups; nothing is changed)."""
    out: dict[str, int] = {}
    auto: dict[str, int] | None = None
    for key, text in (("host_memcgs", host), ("dying_memcgs", dying)):
        option = f"--{key.replace('_', '-')}"
        if text.strip().lower() == "auto":
            if auto is None:
                from ..tools.kernel.replay import this_host_memcgs

                try:
                    auto = this_host_memcgs()
                except (OSError, ZswapError) as exc:
                    raise CliError(f"{option} auto: cannot count this machine's memory "
                                   f"cgroups ({exc})") from None
            out[key] = auto[key]
            continue
        try:
            value = int(text)
        except ValueError:
            raise CliError(f"{option} {text!r}: give a count or auto") from None
        if not 0 <= value <= 1_000_000:
            raise CliError(f"{option} {value}: give 0..1000000")
        out[key] = value
    return out


def limits(items: tuple[str, ...], option: str,
            parse_size: Callable[[str, str], int]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip("/"):
            raise CliError(f"{option} {item!r}: expected PATH=SIZE, e.g. batch=64M")
        try:
            out[path.strip("/")] = None if value == "max" else parse_size(value, option)
        except ZswapError as exc:
            raise CliError(str(exc)) from None
    return out


def run_configs(base: Any, names: list[str], sweep: str | None,
                 parse_size: Callable[[str, str], int]) -> list[Any]:
    from dataclasses import replace

    if sweep is None:
        return [replace(base, compressor=n, label=n) for n in names]
    key, sep, values = sweep.partition("=")
    choices = {"max_pool_percent", "accept_threshold_percent", "shrinker_enabled", "ram"}
    if not sep or key not in choices or not values:
        raise CliError(f"--sweep {sweep!r}: expected NAME=V1,V2 with NAME one of "
                       f"{', '.join(sorted(choices))}")
    nvalues = values.count(",") + 1
    if nvalues > MAX_RUNS:
        raise CliError(f"--sweep: at most {MAX_RUNS} values, got {nvalues}")
    if nvalues * len(names) > MAX_RUNS:
        raise CliError(f"--sweep: at most {MAX_RUNS} runs, got {nvalues} values x "
                       f"{len(names)} compressors")
    configs = []
    for raw in values.split(","):
        raw = raw.strip()
        try:
            if key == "ram":
                cfg = replace(base, ram_pages=ram_pages(raw, parse_size))
            elif key == "shrinker_enabled":
                if raw not in ("0", "1", "Y", "N", "y", "n"):
                    raise ValueError(raw)
                cfg = replace(base, shrinker_enabled=raw in ("1", "Y", "y"))
            else:
                value = int(raw)
                if not 0 <= value <= 100:
                    raise ValueError(raw)
                cfg = replace(base, **{key: value})
        except ValueError:
            raise CliError(f"--sweep {key}: bad value {raw!r}") from None
        for n in names:  # a grid: every compressor at every value
            label = f"{key}={raw}" if len(names) == 1 else f"{n} {key}={raw}"
            configs.append(replace(cfg, compressor=n, label=label))
    return configs


@contextmanager
def progress_runs(enabled: bool) -> Iterator[Callable[[str, int, int, int, int], None] | None]:
    """One bar over every run (run index, label, seed; ETA), shown on a terminal only."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as bar:
        task = bar.add_task("", total=1.0)

        def update(label: str, run: int, runs: int, done: int, total: int) -> None:
            frac = (run + (done / total if total else 1.0)) / runs
            bar.update(task, completed=frac,
                       description=f"run {min(run + 1, runs)}/{runs}: {label}")

        yield update
