# llmkit: set-up, the demo pipeline, tests, lint and benchmarks.
#   make demo    create .venv, install, run the pipeline on sample_data/ into runs/demo/
#   make test    create .venv, install with dev extras, run the test suite
# Knobs: PYTHON=python3.11  TORCH="torch==2.13.0"  RUN=runs/demo  WORKERS=2

PYTHON  ?= python3
TORCH   ?= torch==2.13.0
VENV    ?= .venv
RUN     ?= runs/demo
WORKERS ?= 2
PYTEST_ARGS ?=

BIN     := $(VENV)/bin
LLMKIT  := $(BIN)/llmkit

.PHONY: setup setup-dev demo test lint bench clean distclean

# The venv is cached: each stamp depends on pyproject.toml, so a second `make` installs nothing.
# torch is installed first, pinned, so the resolver never pulls a multi-gigabyte CUDA build.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "llmkit needs Python >= 3.11 (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check llmkit tests benchmarks sample_data

bench: $(VENV)/.installed-dev
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache .ruff_cache benchmarks/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info

# ------------------------------------------------------------------------------ the demo pipeline
# Each target is a stage's manifest.json, so make re-runs a stage only when its inputs changed.

SAMPLE_WARCS := $(sort $(wildcard sample_data/crawl/*.warc.gz))

demo: $(VENV)/.installed $(RUN)/pages/manifest.json
	$(LLMKIT) inspect $(RUN)/pages --rows 2
