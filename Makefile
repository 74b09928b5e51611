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
# Debian packages the build needs: python-lzo links liblzo2; the C batching engines
# (src/pyzswap/_native.c) link liblz4, libzstd, liblzo2 and zlib and need a C compiler.
DEB_PACKAGES := liblzo2-dev liblz4-dev libzstd-dev zlib1g-dev gcc

.PHONY: run test test-host test-fidelity lint bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py Makefile src/pyzswap/_native.c $(wildcard src/pyzswap/csrc/*)
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/pyzswap run

test: $(STAMP)
	$(VENV)/bin/pytest -q
	$(VENV)/bin/ruff check src tests benchmarks
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
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/bench_store_load.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
