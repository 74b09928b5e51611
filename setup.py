"""Build the C parts; everything else is in pyproject.toml.

* ``pyzswap._native``: the batching engines, zsmalloc, the store/load fast paths and the
  kernel's LZO (csrc/lzo.c), linking the system codec libraries (Debian: liblz4-dev,
  libzstd-dev, zlib1g-dev), which the Makefile installs.
* ``pyzswap/_replay``: the kernel replayer (``csrc/replay.c``), a standalone executable that
  ``pyzswap kernel run`` starts: the trace's processes must be small real processes, not Python
  interpreters, so that their memory cgroup holds little but the trace's pages.
"""

import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

REPLAYER_SOURCES = ["src/pyzswap/csrc/replay.c"]
REPLAYER = "_replay"


class BuildExtAndReplayer(build_ext):
    """``build_ext``, then the replayer executable with the same compiler, next to the extension
    (in the source tree too for an in-place or editable build)."""

    def run(self) -> None:
        super().run()
        objects = self.compiler.compile(
            REPLAYER_SOURCES, output_dir=self.build_temp, include_dirs=["src/pyzswap/csrc"],
            depends=["src/pyzswap/csrc/replay.h"],
            extra_postargs=["-O2", "-Wall", "-Wextra", "-Wshadow"])
        out_dir = os.path.join(self.build_lib, "pyzswap")
        self.compiler.link_executable(objects, REPLAYER, output_dir=out_dir)
        if self.inplace or getattr(self, "editable_mode", False):
            package_dir = self.get_finalized_command("build_py").get_package_dir("pyzswap")
            shutil.copy2(os.path.join(out_dir, REPLAYER), os.path.join(package_dir, REPLAYER))


setup(
    cmdclass={"build_ext": BuildExtAndReplayer},
    ext_modules=[
        Extension(
            "pyzswap._native",
            sources=["src/pyzswap/_native.c", "src/pyzswap/csrc/entries.c",
                     "src/pyzswap/csrc/zsmalloc.c", "src/pyzswap/csrc/zsmalloc_py.c",
                     "src/pyzswap/csrc/fastpath.c", "src/pyzswap/csrc/lock.c",
                     "src/pyzswap/csrc/codec.c", "src/pyzswap/csrc/lifecycle.c",
                     "src/pyzswap/csrc/lzo.c"],
            include_dirs=["src/pyzswap/csrc"],
            depends=["src/pyzswap/csrc/codec.h", "src/pyzswap/csrc/entries.h",
                     "src/pyzswap/csrc/lifecycle.h", "src/pyzswap/csrc/lock.h",
                     "src/pyzswap/csrc/lzo.h",
                     "src/pyzswap/csrc/zsmalloc.h", "src/pyzswap/csrc/zsmalloc_py.h"],
            libraries=["lz4", "zstd", "z", "pthread"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
        )
    ]
)
