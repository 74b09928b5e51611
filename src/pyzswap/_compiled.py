"""Which modules mypyc compiles, and which of the two backends of them this process runs.

``pyzswap run`` spends its time in the mm model's per-fault and per-reclaim calls and in the
swap layers under them (swap slots, memcg counters). Those modules (:data:`COMPILED`) are
compiled to C by mypyc when pyzswap is installed (setup.py); their Python source stays the one
definition of the model. Two backends, chosen once, at the first ``import pyzswap``:

* **compiled** (the default where the build made them): the extension modules;
* **source**: the same modules interpreted, with ``PYZSWAP_PURE_PYTHON=1`` in the environment
  (for a debugger, a profiler, or to check the compiled build: ``tests/test_compiled.py`` runs
  workloads on both and requires the same counters), or when the sources changed since the
  build (the build records their digest in :data:`DIGEST_FILE`; a one-line warning says
  ``make setup`` rebuilds).

The choice is all or nothing: compiled classes check the types of their arguments, so a
compiled module cannot be mixed with an interpreted copy of another.

This module is stdlib-only: setup.py loads it by path to learn :data:`COMPILED`.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["COMPILED", "DIGEST_FILE", "PURE_ENV", "backend", "compiled_sources",
           "sources_digest"]

#: Relative to the package: files, or folders (every module in them). Their classes are native:
#: no attribute or method can be replaced on an instance at run time.
COMPILED: Final = ("run/mm/", "swapcore.py", "swap/device.py", "swap/table.py",
                   "memcg/cgroup.py", "memcg/_iter.py", "zswap/shrink.py")
#: The environment variable that selects the source backend.
PURE_ENV: Final = "PYZSWAP_PURE_PYTHON"
#: Written by the build beside this module: :func:`sources_digest` of what it compiled.
DIGEST_FILE: Final = "_compiled.sha256"

_PACKAGE: Final = Path(__file__).resolve().parent
_backend: str | None = None


def compiled_sources(package: Path = _PACKAGE) -> list[Path]:
    """The Python files of :data:`COMPILED`, sorted."""
    out: list[Path] = []
    for entry in COMPILED:
        path = package / entry
        out.extend(sorted(path.glob("*.py")) if entry.endswith("/") else [path])
    return out


def sources_digest(package: Path = _PACKAGE) -> str:
    """SHA-256 over the compiled modules' names and contents."""
    h = hashlib.sha256()
    for source in compiled_sources(package):
        h.update(source.relative_to(package).as_posix().encode() + b"\0")
        h.update(source.read_bytes())
    return h.hexdigest()


def _extension_of(source: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        ext = source.with_name(source.stem + suffix)
        if ext.exists():
            return ext
    return None


class _SourceFirst(importlib.abc.MetaPathFinder):
    """A meta-path finder: the compiled modules load from their ``.py`` files."""

    def __init__(self, sources: Sequence[Path]) -> None:
        self._sources = {self._name(p): p for p in sources}

    @staticmethod
    def _name(source: Path) -> str:
        parts = source.relative_to(_PACKAGE.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        source = self._sources.get(name)
        if source is None:
            return None
        package = [str(source.parent)] if source.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(name, source,
                                                      submodule_search_locations=package)


def backend() -> str:
    """``"compiled"`` or ``"source"``: the backend this process runs, chosen at its first call
    (the import of pyzswap; the module docstring)."""
    global _backend
    if _backend is not None:
        return _backend
    sources = compiled_sources()
    exts = [_extension_of(s) for s in sources]
    if os.environ.get(PURE_ENV) == "1" or not all(exts):
        _backend = "source"
    else:
        try:
            built = (_PACKAGE / DIGEST_FILE).read_text().strip()
        except OSError:
            built = ""
        _backend = "compiled" if built == sources_digest() else "source"
        if _backend == "source":
            sys.stderr.write("pyzswap: the mm model's source changed since it was compiled; "
                             "running the source, slower (make setup rebuilds)\n")
    if _backend == "source" and any(exts):
        sys.meta_path.insert(0, _SourceFirst(sources))
    return _backend


if __name__ == "__main__":  # the Makefile: the sources a build depends on
    print(" ".join(os.path.relpath(p) for p in compiled_sources()))
elif __name__ == "pyzswap._compiled":  # not when setup.py loads this file by path
    backend()
