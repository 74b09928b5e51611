#!/usr/bin/env bash
# make fuzz: build the sanitized extension (fuzz/build.sh), then run the atheris harness for
# FUZZ_SECONDS (default 120). New inputs go to build-fuzz/corpus (the committed seeds in
# fuzz/corpus are read, never written); a finding is saved in build-fuzz/artifacts/ and the
# run exits non-zero. The machine is shared: the fuzzer runs under nice.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
bash fuzz/build.sh
ATHERIS=$("$PY" -c 'import atheris; print(atheris.path())')
mkdir -p build-fuzz/corpus build-fuzz/artifacts
# leaks: the interpreter keeps objects for its lifetime; PYTHONMALLOC=malloc routes Python's
# own small allocations through malloc, so ASan checks them too
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_abort=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONMALLOC=malloc
LD_PRELOAD="$ATHERIS/asan_with_fuzzer.so" PYTHONPATH=build-fuzz/site \
    nice -n 10 "$PY" fuzz/fuzz_native.py build-fuzz/corpus fuzz/corpus \
    -max_total_time="$FUZZ_SECONDS" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/ "$@"
