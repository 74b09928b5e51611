# pyzswap: two commands on a fresh machine.
#   make run   - set everything up, then run the main job (pyzswap run, built-in workload)
#   make test  - set everything up, then run the whole test suite (pytest, ruff, mypy); it never
#                changes the host (swap, zram, zswap parameters, cgroups)
#   make test-host - the kernel-oracle tests, which do change the host (root; restored after)
#   make test-fidelity - pyzswap run against the kernel's recorded fidelity suite (minutes)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pyzswap-installed
# Debian packages the build needs: the C extension (src/pyzswap/csrc/) links liblz4,
# libzstd and zlib and needs a C compiler; python-lzo (the tests' LZO cross-check) and the
# fuzz-lzo harness link liblzo2.
DEB_PACKAGES := liblzo2-dev liblz4-dev libzstd-dev zlib1g-dev gcc
# The HTML reports' browser test (tests/run/test_html_browser.py) drives Debian's chromium
# headless; where it cannot be installed the setup goes on and that test skips, saying why.
BROWSER_PACKAGES := chromium

.PHONY: run test test-host test-fidelity lint bench fuzz fuzz-lzo stateful-long setup clean

setup: $(STAMP)

# The modules mypyc compiles (src/pyzswap/_compiled.py): an edit rebuilds them.
COMPILED_SOURCES := $(shell $(PYTHON) src/pyzswap/_compiled.py)

$(STAMP): pyproject.toml setup.py Makefile $(wildcard src/pyzswap/csrc/*) $(COMPILED_SOURCES)
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@command -v chromium >/dev/null 2>&1 || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		echo "installing Debian packages: $(BROWSER_PACKAGES)"; \
		( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install \
		  -y -qq $(BROWSER_PACKAGES) ) || echo "chromium could not be installed: the browser \
		test of the HTML reports will skip"; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/pyzswap run

test: $(STAMP)
	$(VENV)/bin/pytest -q
	$(VENV)/bin/ruff check src tests fuzz
	$(VENV)/bin/mypy

# Tests marked `host` (pyproject: deselected by default) change zswap parameters, swap, zram and
# memory cgroups, each restored afterwards; they skip themselves without root.
test-host: $(STAMP)
	$(VENV)/bin/pytest -q -m host

# The whole fidelity suite: pyzswap run against the kernel's recorded replays (no host change;
# minutes). make test runs its fast case.
test-fidelity: $(STAMP)
	$(VENV)/bin/pytest -q -m fidelity tests/run/test_fidelity.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests fuzz
	$(VENV)/bin/mypy

# The main benchmark (store/load vs the raw codecs); its subcommands: pyzswap bench --help.
bench: $(STAMP)
	$(VENV)/bin/pyzswap bench

# Coverage-guided fuzzing of the C extension and the public API (atheris), with the extension
# built separately with AddressSanitizer + UndefinedBehaviorSanitizer into build-fuzz/
# (clang and atheris are installed on first use). FUZZ_SECONDS bounds the run.
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

# The model-based stateful test with 5,000 examples (make test runs 2,000): minutes, opt-in.
stateful-long: $(STAMP)
	STATEFUL_EXAMPLES=5000 $(VENV)/bin/pytest -q -p no:cacheprovider tests/test_stateful.py

# The LZO decompressor and compressor (src/pyzswap/csrc/lzo.c) under ASan and UBSan, with
# liblzo2 as a cross-check: FUZZ_ITERATIONS random, mutated and crafted streams (and round
# trips), deterministic for FUZZ_SEED. Runs niced: the machine may be shared.
FUZZ_ITERATIONS ?= 1000000
FUZZ_SEED ?= 1
fuzz-lzo: $(STAMP)
	@mkdir -p build
	gcc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra \
		-Isrc/pyzswap/csrc tests/fuzz/lzo_fuzz.c src/pyzswap/csrc/lzo.c -llzo2 -o build/lzo_fuzz
	nice -n 10 build/lzo_fuzz $(FUZZ_ITERATIONS) $(FUZZ_SEED)

clean:
	rm -rf $(VENV) build build-fuzz build-tsan src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
