"""deploysim: a discrete-event Monte Carlo simulation of a police deployment.

The public API, for notebooks and scripts::

    from sim import load_scenario, derive, run
    baseline = load_scenario("scenarios/baseline.toml")
    results = run(baseline, runs=500, seed=1)
    results.milestone_summary()
"""

from sim.loader import ScenarioError, derive, load_scenario
from sim.model import simulate
from sim.record import MILESTONES, SERIES, TOTALS, Record
from sim.results import Results
from sim.runner import run
from sim.scenario import Scenario

__version__ = "0.1.0"

__all__ = [
    "MILESTONES",
    "SERIES",
    "TOTALS",
    "Record",
    "Results",
    "Scenario",
    "ScenarioError",
    "derive",
    "load_scenario",
    "run",
    "simulate",
]
