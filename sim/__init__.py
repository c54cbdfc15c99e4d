"""deploysim: a discrete-event Monte Carlo simulation of a police deployment.

The public API, for notebooks and scripts::

    from sim import load_scenario, derive, run, paired_differences
    baseline = load_scenario("scenarios/baseline.toml")
    results = run(baseline, runs=500, seed=1)
    results.milestone_summary()
    variant = run(derive(baseline, {"funding.runway_days": 30}), runs=500, seed=1)
    paired_differences(results, variant)

Figures are in :mod:`sim.plots` (and :mod:`sim.compare`, :mod:`sim.sweep`, :mod:`sim.sensitivity`);
stored runs are read and written with :func:`load_results` and :func:`save_results`.
"""

from sim.compare import compare, paired_differences
from sim.loader import ScenarioError, derive, load_scenario
from sim.model import simulate
from sim.record import MILESTONES, SERIES, TOTALS, Record
from sim.results import Results
from sim.runner import run
from sim.scenario import Scenario
from sim.store import load_results, save_results

__version__ = "0.1.0"

__all__ = [
    "MILESTONES",
    "SERIES",
    "TOTALS",
    "Record",
    "Results",
    "Scenario",
    "ScenarioError",
    "compare",
    "derive",
    "load_results",
    "load_scenario",
    "paired_differences",
    "run",
    "save_results",
    "simulate",
]
