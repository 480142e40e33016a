# QuorumDB developer entry points. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
DURATION ?= 60
RUNS ?= 1
RESULTS ?=

.PHONY: run test venv proto lint bench bench-quick chaos clean postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

venv: $(STAMP)

## make run: start a local three-node cluster in the foreground (Ctrl-C stops it)
run: $(STAMP)
	$(BIN)/python -m quorumdb.node.devcluster

## make test: install what the tests need (incl. PostgreSQL 15 as the reference) and run them
test: $(STAMP) postgres
	$(BIN)/python -m pytest $(PYTEST_ARGS)

postgres:
	@bash .ci/ensure-postgres

proto: $(STAMP)
	$(BIN)/python -m quorumdb.proto.generate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy storage raft sql node

bench: $(STAMP) postgres
	$(BIN)/python -m bench.run --full

bench-quick: $(STAMP) postgres
	$(BIN)/python -m bench.run --quick

## make chaos [DURATION=60] [RUNS=1]: every fault-injection scenario, DURATION seconds of
## faults each, RUNS times in a row (stops at the first failing run; its histories and
## node logs are kept in tests/chaos/artifacts/); RESULTS=file appends every run's figures
## to file as JSON lines
chaos: $(STAMP)
	@for run in $$(seq $(RUNS)); do \
		echo "== chaos run $$run of $(RUNS), $(DURATION)s per scenario"; \
		QUORUMDB_CHAOS_DURATION=$(DURATION) QUORUMDB_CHAOS_RESULTS=$(RESULTS) \
			$(BIN)/python -m pytest tests/chaos -m chaos $(PYTEST_ARGS) || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
