"""Docstring examples: each public function of the API shows one, and every example runs.

doctest runs over the modules that document the notebook API from an empty temporary folder, so
an example works from any working directory: it names library scenarios (``"baseline"``), never a
path into the repository, and writes only where it says. Examples use small runs and
fixed seeds, and show shapes, column names and properties that hold for any seed, never numbers
pinned to one.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import sim
from sim.batch.results import Results
from sim.model.record import Record

#: Modules whose docstring examples are run.
MODULES = (
    "sim.scenario.asof",
    "sim.scenario.observations",
    "sim.scenario.loader",
    "sim.batch.runner",
    "sim.batch.results",
    "sim.model.record",
    "sim.model.mission",
    "sim.scenario.distributions",
    "sim.scenario.schema",
    "sim.analysis.compare",
    "sim.analysis.calibrate",
    "sim.output.figure",
    "sim.batch.store",
    "sim.commands.schema",
    "sim.scenario.library",
    "sim.scenario.errors",
    "sim.scenario.toml",
    "sim.scenario.walk",
    "sim.scenario.parameters",
)

#: Methods a notebook user calls on what the API returns.
METHODS = (
    Results.milestone_summary,
    Results.totals_summary,
    Results.binding_shares,
    Results.series_band,
    Results.milestone_days,
    Results.summary,
    Results.milestones_long,
    Record.row,
    Record.trace_frame,
)


def public_functions() -> list:
    """The functions exported from ``sim`` (its classes are documented by their methods)."""
    exported = [getattr(sim, name) for name in sim.__all__]
    return [obj for obj in exported if callable(obj) and not isinstance(obj, type)]


@pytest.fixture(autouse=True)
def in_an_empty_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"


@pytest.mark.parametrize("obj", [*public_functions(), sim.ScenarioError, *METHODS], ids=lambda o: o.__qualname__)
def test_public_names_carry_an_example(obj) -> None:
    assert "Example:" in (obj.__doc__ or ""), f"{obj.__qualname__} has no 'Example:' section"
    tests = doctest.DocTestFinder(recurse=False).find(obj, obj.__qualname__)
    assert any(t.examples for t in tests), f"{obj.__qualname__}'s example has no '>>>' lines"
    assert obj.__module__ in MODULES, f"{obj.__module__} is not in MODULES, so its examples never run"


def test_the_api_is_covered() -> None:
    names = {f.__name__ for f in public_functions()}
    assert {"load_scenario", "derive", "run", "simulate"} <= names
