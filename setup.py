"""Build the C parts; everything else is in pyproject.toml.

* ``pyzswap._native``: the codec table (the kernel's LZO is pyzswap's own C, csrc/lzo.c), the
  batching engines, zsmalloc, the entry table, the zswap state and the C flow, linking the
  system codec libraries (Debian: liblz4-dev, libzstd-dev, zlib1g-dev), which the Makefile
  installs.
* ``pyzswap/_replay``: the kernel replayer (``csrc/replay.c``), a standalone executable that
  ``pyzswap kernel run`` starts: the trace's processes must be small real processes, not Python
  interpreters, so that their memory cgroup holds little but the trace's pages.
* The mm model and the swap layers under it (listed in src/pyzswap/_compiled.py), compiled to
  C by mypyc from their Python source, which stays the one definition: ``pyzswap run`` spends
  its time in their per-fault and per-reclaim Python calls. ``PYZSWAP_PURE_PYTHON=1`` at
  install time skips this (the same code, interpreted; ``tests/test_compiled.py`` checks that
  both agree).
"""

import importlib.util
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

REPLAYER_SOURCES = ["src/pyzswap/csrc/replay.c"]
REPLAYER = "_replay"


class BuildExtAndReplayer(build_ext):
    """``build_ext``, then the replayer executable with the same compiler, next to the extension
    (in the source tree too for an in-place or editable build)."""

    def run(self) -> None:
        super().run()
        self._record_compiled()
        objects = self.compiler.compile(
            REPLAYER_SOURCES, output_dir=self.build_temp, include_dirs=[str(CSRC)],
            depends=["src/pyzswap/csrc/replay.h"],
            extra_postargs=["-O2", "-Wall", "-Wextra", "-Wshadow"])
        out_dir = os.path.join(self.build_lib, "pyzswap")
        # LDFLAGS too: a sanitizer build (fuzz/build.sh, fuzz/tsan.sh) links its runtime here
        self.compiler.link_executable(objects, REPLAYER, output_dir=out_dir,
                                      extra_postargs=shlex.split(os.environ.get("LDFLAGS", "")))
        if self.inplace or getattr(self, "editable_mode", False):
            package_dir = self.get_finalized_command("build_py").get_package_dir("pyzswap")
            shutil.copy2(os.path.join(out_dir, REPLAYER), os.path.join(package_dir, REPLAYER))

    def _record_compiled(self) -> None:
        """The digest of the sources mypyc compiled, beside the package (pyzswap._compiled)."""
        listing = _compiled_listing()
        if os.environ.get(listing.PURE_ENV) == "1":
            return
        digest = listing.sources_digest()
        dirs = {os.path.join(self.build_lib, "pyzswap")}
        if self.inplace or getattr(self, "editable_mode", False):
            dirs.add(self.get_finalized_command("build_py").get_package_dir("pyzswap"))
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, listing.DIGEST_FILE), "w") as f:
                f.write(digest + "\n")


def _compiled_listing() -> Any:
    """src/pyzswap/_compiled.py, loaded by path (it is stdlib-only)."""
    spec = importlib.util.spec_from_file_location("_pyzswap_compiled",
                                                  "src/pyzswap/_compiled.py")
    assert spec is not None and spec.loader is not None
    listing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(listing)
    return listing


def compiled_modules() -> list[Extension]:
    """mypyc's extensions for the modules src/pyzswap/_compiled.py lists (none with
    ``PYZSWAP_PURE_PYTHON=1``)."""
    listing = _compiled_listing()
    if os.environ.get(listing.PURE_ENV) == "1":
        return []
    from mypyc.build import mypycify

    sources = [os.path.relpath(p) for p in listing.compiled_sources()]
    return list(mypycify(sources, opt_level="3", group_name="pyzswap"))


#: The C sources live in one folder (docs/ARCHITECTURE.md, "The C sources").
CSRC = Path("src/pyzswap/csrc")
#: The extension's files there, by layer: the module; the codec table and its users; the
#: zswap state and the C flow over it; the plain-C leaves (zsmalloc, entry table, lock).
NATIVE = ["module", "codec", "codec_py", "lzo", "engines", "state", "pool", "flow", "stream",
          "entries", "lock", "lifecycle", "zsmalloc", "zsmalloc_py", "ahead", "mmu"]

setup(
    cmdclass={"build_ext": BuildExtAndReplayer},
    ext_modules=[
        Extension(
            "pyzswap._native",
            sources=[str(CSRC / f"{name}.c") for name in NATIVE],
            include_dirs=[str(CSRC)],
            depends=sorted(str(p) for p in CSRC.glob("*.h")),
            libraries=["lz4", "zstd", "z", "pthread"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
        ),
        *compiled_modules(),
    ]
)
