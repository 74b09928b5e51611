"""Build the C extension (``pyzswap._native``); everything else is in pyproject.toml.

It links the system codec libraries (Debian: liblz4-dev, libzstd-dev, zlib1g-dev), which the
Makefile installs; LZO is pyzswap's own C (csrc/lzo.c).
"""

from setuptools import Extension, setup

setup(
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
