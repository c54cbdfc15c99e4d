"""The example notebooks in notebooks/: each executes without error, and none is committed with outputs.

Each notebook has one cell tagged ``parameters`` that sets ``RUNS``; as papermill does, a cell is
injected after it that sets a small ``RUNS``, so the whole set executes in well under a minute. The
notebooks run with their own folder as the working directory, as in JupyterLab.
"""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
#: Replications per batch when the suite executes a notebook.
TEST_RUNS = 20
#: Seconds any one cell may take before the run is called hung.
CELL_TIMEOUT_S = 300


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_the_three_example_notebooks_exist():
    assert {p.name for p in PATHS} >= {
        "01_quickstart.ipynb",
        "02_comparing_scenarios.ipynb",
        "03_what_drives_the_delay.ipynb",
    }


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_notebook_is_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert dirty == [], f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before committing"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state; clear it before committing"


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_notebook_has_one_parameters_cell_setting_runs(path: Path):
    nb = nbformat.read(path, as_version=4)
    tagged = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters', found {len(tagged)}"
    assert "RUNS = " in tagged[0].source


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_notebook_executes_without_error(path: Path):
    nb = _with_runs(nbformat.read(path, as_version=4), TEST_RUNS)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell and the traceback, on any error
    # A widget's callback (the sliders) reports an error only in the output widget's saved state.
    errors = [f"{out['ename']}: {out['evalue']}" for out in _widget_outputs(nb) if out["output_type"] == "error"]
    assert errors == [], f"{path.name}: a widget callback failed: {errors}"
    figures = sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
                  for out in cell.outputs)
    assert figures > 0, f"{path.name}: no figure was drawn inline"


def _with_runs(nb, runs: int):
    """The notebook with a cell setting ``RUNS`` injected after its parameters cell."""
    index = next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(f"RUNS = {runs}  # injected by tests/test_notebooks.py")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, injected)
    return nb


def _widget_outputs(nb) -> list[dict]:
    """Outputs captured by output widgets (e.g. ``ipywidgets.interact``) while the notebook ran."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [out for model in state.values() for out in model.get("state", {}).get("outputs", [])]
