# The two commands a user needs: `make reproduce` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
OUT ?= results/$(PROFILE)
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
# Persistent XLA compilation cache: repeated test and reproduce runs skip recompiling.
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.jax_cache
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup test test-multidevice reproduce dry-run bench mutation lint clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed
	@if [ ! -d $(FASHION_MNIST_DIR) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "FashionMNIST not found at $(FASHION_MNIST_DIR). Install it with" \
	         "'sudo apt-get install dataset-fashion-mnist', or pass raw_dir/data_dir (see README)."; \
	    exit 1; \
	  fi; \
	fi

test: setup
	$(PY) -m pytest -n 2 --dist loadfile tests

reproduce: setup
	$(VENV)/bin/nc-mixup reproduce --profile $(PROFILE) --out $(OUT)

# The paper profile's real networks (WRN-40-10, ViT-B/4), a few steps each, end to end on CPU:
# proves every code path before accelerator hours are spent (minutes; the numbers mean nothing).
dry-run: setup
	$(VENV)/bin/nc-mixup reproduce --profile paper --dry-run --out results/paper-dry-run

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

# Mutation testing of the science core (issue 16; slow: kept out of CI). mutmut mutates the core
# modules listed in pyproject.toml's [tool.mutmut] and runs, on each mutant, only the fast tests
# that call the mutated function; results land in mutants/ (`mutmut show NAME` shows a mutant).
# MUTANTS picks the mutants (mutmut name globs; named mutants are always rerun); the default is
# the whole core, of train.py only step_randomness. Over an hour on 2 shared cores: one module at a
# time, e.g. make mutation MUTANTS='theory.etf*'. Kill survivors with a test or document them as
# equivalent in docs/mutation.md; scripts/mutation_report.py prints the score.
MUTANTS ?= 'nc_mixup.mixup*' 'nc_mixup.losses*' 'nc_mixup.train.x_step_randomness*' \
  'nc_mixup.analysis.calibration*' 'nc_mixup.analysis.geometry*' 'nc_mixup.analysis.projection*' \
  'nc_mixup.analysis.neural_collapse*' 'theory.projection*' 'theory.etf*' \
  'theory.fixed_classifier*' 'experiments.claims*'

mutation: setup
	$(PY) -m pip install -q -e '.[mutation]'
	nice -n 19 $(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(PY) scripts/mutation_report.py

lint: setup
	$(VENV)/bin/ruff check nc_mixup theory experiments tests benchmarks scripts
	$(VENV)/bin/ruff format --check nc_mixup theory experiments tests benchmarks scripts

clean:
	rm -rf $(VENV) .jax_cache .pytest_cache
