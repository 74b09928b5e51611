#!/usr/bin/env bash
# ThreadSanitizer over the concurrency tests (run by hand; docs/RELIABILITY.md has the last
# report). Builds pyzswap._native with -fsanitize=thread into build-tsan/ (never the .venv's
# extension) and runs the tests whose threads race on the extension's objects under the TSan
# runtime. CPython is not instrumented: the GIL's hand-offs are seen through the pthread calls
# TSan intercepts, so a report inside the extension is a race the GIL does not order.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=build-tsan
. fuzz/common.sh
copy_sources "$OUT"  # the Python sources (no extension of the normal build)
PYZSWAP_PURE_PYTHON=1 CC=gcc CFLAGS="-fsanitize=thread -g -O1" LDFLAGS="-fsanitize=thread" \
    "$PY" setup.py -q build_ext --build-lib "$OUT/lib" --build-temp "$OUT/tmp" --force \
    2>&1 | grep -v -e BetaConfiguration -e 'warnings.warn' || true
cp "$OUT"/lib/pyzswap/_native*.so "$OUT/site/pyzswap/"
TESTS=${TSAN_TESTS:-"tests/test_races.py tests/test_lock.py tests/test_native_lifecycle.py
    tests/compress/test_native.py tests/test_flows.py tests/test_pool_lifetime.py"}
# numpy is not instrumented and takes no part here; the interpreter's pthread calls must stay
# visible (they are the GIL's hand-offs, which order everything the extension does under it)
cat > "$OUT/suppressions" <<'SUP'
called_from_lib:_multiarray_umath*
SUP
TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 suppressions=$PWD/$OUT/suppressions \
log_path=$PWD/$OUT/tsan" \
LD_PRELOAD="$(gcc -print-file-name=libtsan.so)" PYTHONPATH="$OUT/site" \
    nice -n 10 "$PY" -m pytest -q -p no:cacheprovider -x $TESTS "$@"
echo "TSan reports: $(cat "$OUT"/tsan.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true)"
