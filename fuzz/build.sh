#!/usr/bin/env bash
# Build pyzswap._native with AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer's
# coverage hooks, into build-fuzz/ (never the .venv's extension): build-fuzz/site/pyzswap is
# the package's Python sources with the sanitized extension beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=build-fuzz
command -v clang >/dev/null || {
    echo "installing clang (Debian) for the sanitizer build"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang
}
"$PY" -c 'import atheris' 2>/dev/null || "$PY" -m pip install -q 'atheris>=2.3'
. fuzz/common.sh
copy_sources "$OUT"  # the Python sources (no extension of the normal build)
SAN="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"
# the C extension only: the fuzzer runs the mm model's Python source (pyzswap._compiled)
PYZSWAP_PURE_PYTHON=1 CC=clang LDSHARED="clang -shared" \
CFLAGS="$SAN -fno-omit-frame-pointer -g -O1" LDFLAGS="$SAN" \
    "$PY" setup.py -q build_ext --build-lib "$OUT/lib" --build-temp "$OUT/tmp" --force \
    2>&1 | grep -v -e BetaConfiguration -e 'warnings.warn' || true
cp "$OUT"/lib/pyzswap/_native*.so "$OUT/site/pyzswap/"
echo "sanitized build: $OUT/site/pyzswap/$(cd "$OUT/site/pyzswap" && ls _native*.so)"
