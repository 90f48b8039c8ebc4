# Two commands do all set-up on a fresh machine:
#   make dev    install everything, start the devnet stack and `dagster dev` (UI on 127.0.0.1:3000)
#   make test   install everything and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup dev test bench-formats bench-pipeline bench-scale clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

dev: setup
	$(BIN)/orchestrator dev

test: setup
	$(BIN)/python -m pytest -p no:cacheprovider

bench-formats: setup
	$(BIN)/python benchmarks/bench_formats.py

bench-pipeline: setup
	$(BIN)/python benchmarks/bench_pipeline.py

bench-scale: setup
	$(BIN)/python benchmarks/bench_scale.py

clean:
	rm -rf $(VENV) node_modules .dagster_home .devnet
