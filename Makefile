# Two commands do all set-up on a fresh machine:
#   make dev    install everything, start the devnet stack and `dagster dev` (UI on 127.0.0.1:3000)
#   make test   install everything and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup dev test bench-formats bench-pipeline bench-scale bench-zksync bench-faults docs-screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# The UI tests drive Debian's Chromium (no browser download); PostgreSQL serves the production tests.
/usr/bin/chromium:
	apt-get update -qq && apt-get install -y -qq chromium >/dev/null

setup: $(VENV)/.installed node_modules/.installed /usr/bin/chromium
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

bench-zksync: setup
	$(BIN)/python benchmarks/bench_zksync.py

# Needs PostgreSQL on 127.0.0.1:5432 (a fresh database per run, dropped at the end).
bench-faults: setup
	$(BIN)/python benchmarks/bench_faults.py

docs-screenshot: setup
	ORCHESTRATOR_UPDATE_DOCS_SCREENSHOT=1 $(BIN)/python -m pytest -p no:cacheprovider tests/ui -k asset_graph_nodes

clean:
	rm -rf $(VENV) node_modules .dagster_home .devnet
