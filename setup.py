"""Build the C extension (``pyzswap._native``); everything else is in pyproject.toml.

It links the system codec libraries (Debian: liblz4-dev, libzstd-dev, zlib1g-dev), which the
Makefile installs; LZO is pyzswap's own C (csrc/lzo.c).
"""

from pathlib import Path

from setuptools import Extension, setup

#: The C sources live in one folder (docs/ARCHITECTURE.md, "The C sources").
CSRC = Path("src/pyzswap/csrc")
#: The extension's files there, by layer: the module; the codec table and its users; the
#: zswap state and the C flow over it; the plain-C leaves (zsmalloc, entry table, lock).
NATIVE = ["module", "codec", "codec_py", "lzo", "engines", "state", "pool", "flow", "stream",
          "entries", "lock", "zsmalloc", "zsmalloc_py"]

setup(
    ext_modules=[
        Extension(
            "pyzswap._native",
            sources=[str(CSRC / f"{name}.c") for name in NATIVE],
            include_dirs=[str(CSRC)],
            depends=sorted(str(p) for p in CSRC.glob("*.h")),
            libraries=["lz4", "zstd", "z", "pthread"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
        )
    ]
)
