# deploysim: each target sets up .venv itself, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## run the baseline scenario; tables and plots land under results/
	$(BIN)/deploysim run scenarios/baseline.toml

test: $(STAMP)  ## the whole test suite, statistical (slow) tests included
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## skip the slow statistical tests
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)  ## benchmarks (never part of the tests)
	$(BIN)/python bench/bench_replication.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
