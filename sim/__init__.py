"""deploysim: a discrete-event Monte Carlo simulation of a police deployment.

The public API, for notebooks and scripts::

    from sim import load_scenario, derive, run, paired_differences
    baseline = load_scenario("baseline")
    results = run(baseline, runs=500, seed=1)
    results.milestone_summary()
    variant = run(derive(baseline, {"funding.runway_days": 30}), runs=500, seed=1)
    paired_differences(results, variant)

The package is layered in the order of its data flow: :mod:`sim.scenario`, :mod:`sim.model`,
:mod:`sim.batch`, :mod:`sim.analysis`, :mod:`sim.output` (figures, report, text) and
:mod:`sim.commands` (the CLI). The names below are imported on first use, so ``import sim`` stays
cheap and never loads matplotlib. Stored runs are read and written with :func:`load_results` and
:func:`save_results`.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("deploysim")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree never installed
    __version__ = "0.0.0+unknown"

#: Where each public name lives.
_EXPORTS = {
    "AsOf": "sim.scenario.asof",
    "MILESTONES": "sim.scenario.milestones",
    "SERIES": "sim.model.record",
    "TOTALS": "sim.model.record",
    "Record": "sim.model.record",
    "Results": "sim.batch.results",
    "Scenario": "sim.scenario.schema",
    "ScenarioError": "sim.scenario.loader",
    "as_of": "sim.scenario.asof",
    "calibrate": "sim.analysis.calibrate",
    "compare": "sim.analysis.compare",
    "derive": "sim.scenario.loader",
    "load_observations": "sim.scenario.observations",
    "load_results": "sim.batch.store",
    "load_scenario": "sim.scenario.loader",
    "paired_differences": "sim.analysis.compare",
    "plot": "sim.output.figure",
    "run": "sim.batch.runner",
    "save_results": "sim.batch.store",
    "simulate": "sim.model",
}

__all__ = [
    "AsOf",
    "MILESTONES",
    "SERIES",
    "TOTALS",
    "Record",
    "Results",
    "Scenario",
    "ScenarioError",
    "as_of",
    "calibrate",
    "compare",
    "derive",
    "load_observations",
    "load_results",
    "load_scenario",
    "paired_differences",
    "plot",
    "run",
    "save_results",
    "simulate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and editors; __all__ names them all
    from sim.analysis.calibrate import calibrate  # noqa: F401
    from sim.analysis.compare import compare, paired_differences  # noqa: F401
    from sim.batch.results import Results  # noqa: F401
    from sim.batch.runner import run  # noqa: F401
    from sim.batch.store import load_results, save_results  # noqa: F401
    from sim.model import simulate  # noqa: F401
    from sim.model.record import SERIES, TOTALS, Record  # noqa: F401
    from sim.output.figure import plot  # noqa: F401
    from sim.scenario.loader import ScenarioError, derive, load_scenario  # noqa: F401
    from sim.scenario.milestones import MILESTONES  # noqa: F401
    from sim.scenario.schema import Scenario  # noqa: F401
