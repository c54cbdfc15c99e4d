# deploysim: each target sets up .venv itself, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOK_STAMP := $(VENV)/.installed-notebook
DOCS_STAMP := $(VENV)/.installed-docs

MIN_VENV := .venv-min

.PHONY: run test test-fast test-min fuzz docs bench lint notebook clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

$(NOTEBOOK_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebook]'
	touch $(NOTEBOOK_STAMP)

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,dask,docs]'
	touch $(DOCS_STAMP)

run: $(STAMP)  ## run the baseline scenario; tables and plots land under results/
	$(BIN)/deploysim run scenarios/baseline.toml

test: $(STAMP)  ## the whole test suite, statistical (slow) tests included
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## skip the slow statistical tests
	$(BIN)/python -m pytest -q -m "not slow"

# The lowest versions pyproject.toml allows, in a venv of their own: a lower bound set too low fails here.
test-min:  ## the fast tests on the minimum versions of every dependency (builds .venv-min)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) scripts/min_constraints.py dev > $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/python -m pip install --quiet -c $(MIN_VENV)/constraints.txt -e '.[dev]'
	$(MIN_VENV)/bin/python -m pip list --format=freeze | grep -i -E '^(simpy|numpy|pandas|matplotlib|pydantic|pyarrow|tqdm)=='
	$(MIN_VENV)/bin/python -m pytest -q -m "not slow" -p no:cacheprovider

# mkdocs 1.6's plugins print a notice about a future mkdocs 2 on every build; the variables silence it.
docs: $(DOCS_STAMP)  ## the documentation site into site/ (mkdocs --strict: a warning fails the build)
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

fuzz: $(STAMP)  ## the fuzz and kill tests with ten times the cases and 40 more kill points
	DEPLOYSIM_FUZZ=1 $(BIN)/python -m pytest -q tests/test_fuzz.py tests/test_kill.py tests/test_safety.py

# Extra options for `make bench`, e.g. BENCH_ARGS="--quick" or BENCH_ARGS="--out bench/out/old.json".
BENCH_ARGS ?=

bench: $(STAMP)  ## benchmarks (never part of the tests); writes bench/out/bench-<commit>-<time>.json
	$(BIN)/python bench/bench_replication.py $(BENCH_ARGS)
	$(BIN)/python bench/bench_startup.py
	$(BIN)/python bench/bench_executors.py $(BENCH_ARGS)

lint: $(STAMP)  ## ruff over the tree and mypy over the package
	$(BIN)/ruff check .
	$(BIN)/mypy sim

# Extra options for `make notebook`, e.g. JUPYTER_ARGS=--no-browser. Jupyter refuses to run as root
# without --allow-root (as in containers and on this project's machines), so it is added for root.
JUPYTER_ARGS ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

notebook: $(NOTEBOOK_STAMP)  ## JupyterLab on the example notebooks (installs the notebook extra)
	$(BIN)/jupyter lab notebooks/ $(ALLOW_ROOT) $(JUPYTER_ARGS)

clean:
	rm -rf $(VENV) $(MIN_VENV) build dist site *.egg-info .pytest_cache .ruff_cache
