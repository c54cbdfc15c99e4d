# deploysim: each target sets up .venv itself, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOK_STAMP := $(VENV)/.installed-notebook

.PHONY: run test test-fast fuzz bench lint notebook clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NOTEBOOK_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebook]'
	touch $(NOTEBOOK_STAMP)

run: $(STAMP)  ## run the baseline scenario; tables and plots land under results/
	$(BIN)/deploysim run scenarios/baseline.toml

test: $(STAMP)  ## the whole test suite, statistical (slow) tests included
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## skip the slow statistical tests
	$(BIN)/python -m pytest -q -m "not slow"

fuzz: $(STAMP)  ## the fuzz and kill tests with ten times the cases and 40 more kill points
	DEPLOYSIM_FUZZ=1 $(BIN)/python -m pytest -q tests/test_fuzz.py tests/test_kill.py tests/test_safety.py

bench: $(STAMP)  ## benchmarks (never part of the tests)
	$(BIN)/python bench/bench_replication.py

lint: $(STAMP)
	$(BIN)/ruff check .

# Extra options for `make notebook`, e.g. JUPYTER_ARGS=--no-browser. Jupyter refuses to run as root
# without --allow-root (as in containers and on this project's machines), so it is added for root.
JUPYTER_ARGS ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

notebook: $(NOTEBOOK_STAMP)  ## JupyterLab on the example notebooks (installs the notebook extra)
	$(BIN)/jupyter lab notebooks/ $(ALLOW_ROOT) $(JUPYTER_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
