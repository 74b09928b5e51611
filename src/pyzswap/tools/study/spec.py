"""The study spec: workloads × a grid of ``pyzswap run`` options, expanded into cells.

A spec is a TOML file (format: docs/FLEET.md)::

    name = "fleet"
    [run]                       # options every cell gets (``pyzswap run`` CLI names)
    ops = 20000
    [grid]                      # every combination of these values
    compressor = ["lz4", "zstd"]
    max-pool-percent = [10, 20, 40]
    seed = [0, 1]
    [[workload]]                # a built-in workload ...
    builtin = "heap"
    scale = 0.1                 # ... with its own options
    [[workload]]
    files = "snaps/*.pages"     # page files or traces (globs, relative to the spec)
    [[workload]]
    snapshots = "host1/"        # a `pyzswap snapshot --all` directory

Options go by their ``pyzswap run`` names and are mapped onto the run in three groups, which
is what keeps the study generic over ``run``'s configuration:

* **workload options** are the keyword parameters of
  :func:`~pyzswap.run.workload.workload_from_name` (``pattern``, ``ops``, ``scale``, ``seed``):
  they make a workload *variant*;
* **configuration options** are :class:`~pyzswap.run.harness.RunConfig` fields, by the field's
  name with dashes (``max-pool-percent`` → ``max_pool_percent``) or by the CLI name of a
  field the CLI spells differently (:data:`RENAMED`: ``ram``, ``shrinker``, ``memcg-max``,
  ``zswap-max``, ``no-writeback``, ``no-verify``); a field added to ``RunConfig`` is a study
  option with no change here;
* ``seed`` is both, and a *replica* rather than a configuration in the report.

Each cell gets a key: the SHA-256 of the pyzswap version, the workload's content (the bytes of
a page file or trace and of the page files a trace names; a built-in's definition) and the
resolved options. Equal keys are the same computation, whoever asked for it.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import inspect
import itertools
import json
import os
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ... import __version__
from ...errors import InvalidParameter
from ...folio import PAGE_SIZE
from ...run.harness import RunConfig
from ...run.workload import PROFILES, workload_from_name
from ...units import parse_size

__all__ = [
    "CONFIG_OPTIONS",
    "RENAMED",
    "WORKLOAD_OPTIONS",
    "Cell",
    "Spec",
    "SpecError",
    "WorkloadRef",
    "file_sha256",
    "load_spec",
    "parse_spec",
]


class SpecError(InvalidParameter):
    """The spec cannot be read or names something that does not exist."""


#: Hashes a file: (path) -> hex SHA-256. The store passes a cached one.
Hasher = Callable[[Path], str]

#: Options of ``pyzswap run`` that only make sense on one command line.
_CLI_ONLY: Final = frozenset({"sweep", "json", "plot", "label", "help"})


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "y", "yes", "true", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "n", "no", "false", "off"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise SpecError(f"option {name}: expected true or false, got {value!r}")


def _size(value: Any, name: str) -> int | None:
    """Bytes from an int or a size as `run` reads it ("64M", "1.5G"); "max" is None."""
    if value == "max":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        return parse_size(value.strip(), name)
    raise SpecError(f"option {name}: expected a size such as 64M, got {value!r}")


def _ram(value: Any, name: str) -> int | str:
    """RAM as pages, or "N%" of the workload's pages (resolved per workload, on the worker)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            raise SpecError(f"option {name}: bad percentage {value!r}") from None
        if not 0 < pct <= 1000:
            raise SpecError(f"option {name}: {value!r} is outside 0..1000%")
        return f"{pct:g}%"
    nbytes = _size(value, name)
    if nbytes is None or nbytes < PAGE_SIZE:
        raise SpecError(f"option {name}: RAM must be at least one page ({PAGE_SIZE} bytes)")
    return nbytes // PAGE_SIZE


def _limits(value: Any, name: str) -> dict[str, int | None]:
    """{cgroup path: bytes or None}, from a TOML table or a list of "PATH=SIZE"."""
    items: Iterable[tuple[str, Any]]
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | str):
        pairs = [value] if isinstance(value, str) else value
        items = []
        for pair in pairs:
            path, sep, size = str(pair).partition("=")
            if not sep:
                raise SpecError(f"option {name}: expected PATH=SIZE, got {pair!r}")
            items.append((path, size))
    else:
        raise SpecError(f"option {name}: expected a table {{path = size}}, got {value!r}")
    out: dict[str, int | None] = {}
    for path, size in items:
        if not str(path).strip("/"):
            raise SpecError(f"option {name}: empty cgroup path")
        out[str(path).strip("/")] = _size(size, name)
    return out


def _no_writeback(value: Any, name: str) -> dict[str, bool]:
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.strip("/")
                                              for p in paths):
        raise SpecError(f"option {name}: expected a list of cgroup paths, got {value!r}")
    return dict.fromkeys((p.strip("/") for p in paths), False)


def _compressor(value: Any, name: str) -> str:
    from ...compress import get_compressor

    if not isinstance(value, str):
        raise SpecError(f"option {name}: expected a compressor name, got {value!r}")
    get_compressor(value)  # UnknownCompressor (a ZswapError) names the choices
    return value


#: CLI name -> (RunConfig field, converter) for the options ``pyzswap run`` spells
#: differently from the field (its own parsing lives in the ``run`` command).
RENAMED: Final[dict[str, tuple[str, Callable[[Any, str], Any]]]] = {
    "ram": ("ram_pages", _ram),
    "shrinker": ("shrinker_enabled", _bool),
    "memcg-max": ("memcg_max", _limits),
    "zswap-max": ("zswap_max", _limits),
    "no-writeback": ("zswap_writeback", _no_writeback),
    "no-verify": ("verify", lambda v, n: not _bool(v, n)),
    "compressor": ("compressor", _compressor),
}

#: Configuration options: RunConfig fields by their dashed names (plus :data:`RENAMED`).
CONFIG_OPTIONS: Final = frozenset(
    f.name.replace("_", "-") for f in dataclasses.fields(RunConfig)) | frozenset(RENAMED)
#: Workload options: workload_from_name's keyword parameters, dashed.
WORKLOAD_OPTIONS: Final = frozenset(
    p.replace("_", "-") for p in inspect.signature(workload_from_name).parameters if p != "spec")


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """``value`` as the annotated type (int, float, bool, str, or X | None)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next((a for a in args if a is not type(None)), hint)
    if hint is bool:
        return _bool(value, name)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SpecError(f"option {name}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise SpecError(f"option {name}: expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"option {name}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SpecError(f"option {name}: expected a string, got {value!r}")
        return value
    return value


_CONFIG_HINTS: Final = typing.get_type_hints(RunConfig)
_WORKLOAD_HINTS: Final = typing.get_type_hints(workload_from_name)


def canonical_name(name: str) -> str:
    """``--max_pool_percent`` and ``max-pool-percent`` are one option."""
    return name.strip().lstrip("-").replace("_", "-")


@dataclass(frozen=True)
class Resolved:
    """One cell's options mapped onto the run: workload_from_name and RunConfig keywords."""

    workload: dict[str, Any]
    config: dict[str, Any]

    def identity(self) -> dict[str, Any]:
        return {"workload_options": self.workload, "config": self.config}


def resolve_options(options: Mapping[str, Any]) -> Resolved:
    """Map ``{CLI name: value}`` onto workload_from_name and RunConfig (see the module)."""
    wl: dict[str, Any] = {}
    cfg: dict[str, Any] = {}
    for raw, value in options.items():
        name = canonical_name(raw)
        if name in _CLI_ONLY:
            raise SpecError(f"option {name} has no meaning in a study (the grid replaces it)")
        if name not in CONFIG_OPTIONS and name not in WORKLOAD_OPTIONS:
            known = sorted((CONFIG_OPTIONS | WORKLOAD_OPTIONS) - _CLI_ONLY)
            raise SpecError(f"unknown run option {name!r} (options: {', '.join(known)})")
        attr = name.replace("-", "_")
        if name in WORKLOAD_OPTIONS:
            wl[attr] = _coerce(value, _WORKLOAD_HINTS.get(attr), name)
        if name in RENAMED:
            field_name, convert = RENAMED[name]
            cfg[field_name] = convert(value, name)
        elif name in CONFIG_OPTIONS:
            cfg[attr] = _coerce(value, _CONFIG_HINTS.get(attr), name)
    return Resolved(wl, cfg)


@dataclass(frozen=True)
class WorkloadRef:
    """One workload of the study, as the client sees it (the worker rebuilds it)."""

    #: unique name in the study: a built-in's name or the path relative to the spec
    id: str
    #: workload class for the report (spec's ``class``, a snapshot's command, the name)
    cls: str
    #: "builtin", "pagefile" or "trace"
    kind: str
    #: built-in name, or absolute path
    source: str
    sha256: str
    #: bytes to ship with the task (the file, plus the page files a trace names)
    size: int = 0
    #: a trace that names page files cannot be shipped as one file
    shippable: bool = True
    #: options of this workload entry (CLI names)
    options: dict[str, Any] = field(default_factory=dict)
    #: metadata from a snapshot directory (command line, cgroup, RSS)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One run of the study: a workload, its options, and the key that names the result."""

    workload: WorkloadRef
    #: every option of this run, CLI names, as given
    options: dict[str, Any]
    resolved: Resolved
    key: str
    #: the workload and its variant options ("heap scale=0.1")
    variant: str
    #: the configuration: grid options that are not workload options ("compressor=lz4 …")
    config: str
    seed: int

    def run_config(self) -> RunConfig:
        """The RunConfig this cell runs with (ram "N%" is resolved by the worker)."""
        kwargs = dict(self.resolved.config)
        if isinstance(kwargs.get("ram_pages"), str):
            kwargs["ram_pages"] = None
        return RunConfig(**kwargs, label=self.config)


@dataclass
class Spec:
    """A parsed spec: name, workloads, options and the expanded cells."""

    name: str
    path: Path | None
    text: str
    run: dict[str, Any]
    grid: dict[str, list[Any]]
    workloads: list[WorkloadRef]
    cells: list[Cell]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _is_trace(path: Path) -> bool:
    """As ``pyzswap run`` tells a trace from a page file: it starts with a comment or proc."""
    with path.open("rb") as f:
        return f.read(64).lstrip().startswith((b"#", b"proc"))


def _file_ref(path: Path, base: Path, cls: str | None, options: dict[str, Any],
              hasher: Hasher, meta: dict[str, Any] | None = None) -> WorkloadRef:
    from ...run.trace import parse_trace

    if not path.is_file():
        raise SpecError(f"{path}: no such workload file")
    ident = os.path.relpath(path, base) if path.is_relative_to(base) else str(path)
    digest = hashlib.sha256(hasher(path).encode())
    size = path.stat().st_size
    kind, shippable = "pagefile", True
    if _is_trace(path):
        kind = "trace"
        for proc in parse_trace(path).procs.values():
            if proc.file is not None:
                shippable = False
                digest.update(hasher(Path(proc.file)).encode())
                size += Path(proc.file).stat().st_size
    return WorkloadRef(ident, cls or path.stem, kind, str(path.resolve()), digest.hexdigest(),
                       size, shippable, options, meta or {})


def _builtin_ref(name: str, cls: str | None, options: dict[str, Any]) -> WorkloadRef:
    if name not in PROFILES:
        raise SpecError(f"unknown built-in workload {name!r} (built-in: {', '.join(PROFILES)})")
    digest = hashlib.sha256(json.dumps(["builtin", name, PROFILES[name]]).encode()).hexdigest()
    return WorkloadRef(name, cls or name, "builtin", name, digest, 0, True, options)


def _snapshot_refs(directory: Path, base: Path, cls: str | None, match: str | None,
                   options: dict[str, Any], hasher: Hasher) -> list[WorkloadRef]:
    """The processes of a ``pyzswap snapshot --all`` directory (its index.json)."""
    import re

    from .collect import INDEX_NAME

    index = directory / INDEX_NAME
    try:
        data = json.loads(index.read_text())
        procs = data["processes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"{index}: not a snapshot index ({exc})") from None
    pattern = re.compile(match) if match else None
    refs = []
    for proc in procs:
        command = " ".join(proc.get("cmdline") or []) or proc.get("comm", "")
        if pattern is not None and not pattern.search(command):
            continue
        meta = {k: proc.get(k) for k in ("pid", "comm", "cmdline", "cgroup", "rss_bytes",
                                         "rss_anon_bytes", "host")}
        refs.append(_file_ref(directory / proc["page_file"], base, cls or proc.get("comm"),
                              options, hasher, meta))
    return refs


def _workload_refs(entry: Mapping[str, Any], base: Path, hasher: Hasher) -> list[WorkloadRef]:
    entry = dict(entry)
    cls = entry.pop("class", None)
    if cls is not None and not isinstance(cls, str):
        raise SpecError(f"workload class must be a string, got {cls!r}")
    sources = [k for k in ("builtin", "files", "snapshots") if k in entry]
    if len(sources) != 1:
        raise SpecError(f"each [[workload]] needs exactly one of builtin, files, snapshots; "
                        f"got {sorted(entry)}")
    source = sources[0]
    value = entry.pop(source)
    match = entry.pop("match", None) if source == "snapshots" else None
    options = {canonical_name(k): v for k, v in entry.items()}
    resolve_options(options)  # refuse unknown options early
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise SpecError(f"workload {source}: expected a string or a list of strings")
    refs: list[WorkloadRef] = []
    for item in values:
        if source == "builtin":
            refs.append(_builtin_ref(item, cls, options))
        elif source == "snapshots":
            refs.extend(_snapshot_refs(base / item, base, cls, match, options, hasher))
        else:
            paths = sorted(glob.glob(str(base / item), recursive=True))
            if not paths:
                raise SpecError(f"workload files {item!r}: nothing matches")
            refs.extend(_file_ref(Path(p), base, cls, options, hasher) for p in paths
                        if Path(p).is_file())
    return refs


def _label(options: Mapping[str, Any], names: Iterable[str]) -> str:
    parts = []
    for name in names:
        if name in options:
            value = options[name]
            text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) \
                else str(value).lower() if isinstance(value, bool) else str(value)
            parts.append(f"{name}={text}")
    return " ".join(parts)


def cell_key(workload: WorkloadRef, resolved: Resolved, version: str = __version__) -> str:
    """SHA-256 of the version, the workload's content and the resolved options."""
    ident = {"version": version, "workload_sha256": workload.sha256, **resolved.identity()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def parse_spec(text: str, *, base: Path, path: Path | None = None,
               hasher: Hasher = file_sha256) -> Spec:
    """Parse spec text; relative workload paths are relative to ``base``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path or 'spec'}: {exc}") from None
    unknown = set(doc) - {"name", "run", "grid", "workload"}
    if unknown:
        raise SpecError(f"unknown spec keys: {', '.join(sorted(unknown))} (expected name, "
                        "run, grid, workload)")
    name = doc.get("name", path.stem if path else "study")
    run = {canonical_name(k): v for k, v in doc.get("run", {}).items()}
    grid_doc = doc.get("grid", {})
    if not isinstance(run, dict) or not isinstance(grid_doc, dict):
        raise SpecError("[run] and [grid] must be tables")
    grid: dict[str, list[Any]] = {}
    for key, values in grid_doc.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"grid {key}: expected a non-empty list of values")
        grid[canonical_name(key)] = values
    clash = set(grid) & set(run)
    if clash:
        raise SpecError(f"option(s) {', '.join(sorted(clash))} in both [run] and [grid]")
    resolve_options(run)
    entries = doc.get("workload", [])
    if not isinstance(entries, list) or not entries:
        raise SpecError("the spec names no workload (add a [[workload]] table)")
    workloads = [ref for entry in entries for ref in _workload_refs(entry, base, hasher)]
    ids = [w.id for w in workloads]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise SpecError(f"workload(s) listed twice: {', '.join(dup)}")
    config_names = [k for k in grid if k not in WORKLOAD_OPTIONS]
    cells: list[Cell] = []
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    for wl in workloads:
        clash = set(grid) & set(wl.options)
        if clash:
            raise SpecError(f"workload {wl.id}: option(s) {', '.join(sorted(clash))} are in "
                            "the grid too")
        for combo in combos:
            options = {**run, **wl.options, **combo}
            resolved = resolve_options(options)
            # the workload options that set this variant apart ([run] ones are everyone's)
            variant_names = sorted(k for k in {**wl.options, **combo}
                                   if k in WORKLOAD_OPTIONS and k != "seed")
            variant = " ".join(filter(None, [wl.id, _label(options, variant_names)]))
            cells.append(Cell(wl, options, resolved, cell_key(wl, resolved), variant,
                              _label(options, config_names) or "default",
                              int(resolved.workload.get("seed", 0))))
    return Spec(str(name), path, text, run, grid, workloads, cells)


def load_spec(path: str | os.PathLike[str], *, hasher: Hasher = file_sha256) -> Spec:
    """Read and parse a spec file (paths in it are relative to its directory)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{p}: no such spec file")
    return parse_spec(p.read_text(), base=p.resolve().parent, path=p, hasher=hasher)
