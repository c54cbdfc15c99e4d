"""Printed tables live in the library (sim.output.tables), and the checks commands make, in sim.analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import load_scenario, run
from sim.analysis.sensitivity import is_power_of_two, sobol_indices, tornado
from sim.output.tables import format_forecast, format_tornado
from sim.scenario.milestones import check_milestone, unknown_milestone

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"


def test_power_of_two() -> None:
    assert [n for n in range(0, 70) if is_power_of_two(n)] == [2, 4, 8, 16, 32, 64]
    with pytest.raises(ValueError, match="power of two"):
        sobol_indices(load_scenario(BASELINE), n=48)


def test_forecast_and_tornado_tables_print_from_python() -> None:
    scenario = load_scenario(BASELINE, ["horizon_days=365"])
    text = format_forecast(run(scenario, runs=5, seed=1, progress=False))
    assert text.startswith("Scenario 'baseline': 5 runs, seed 1, from 2024-03-14 to 2025-03-14")
    table = tornado(scenario, inputs=["reconnaissance.duration_days"], runs=4, progress=False)
    lines = format_tornado(table, scenario).splitlines()
    assert lines[0].startswith("Sensitivity of 'First contingent lands' in 'baseline': 4 runs per batch")
    assert lines[4].split()[:2] == ["1", "reconnaissance.duration_days"]


def test_one_unknown_milestone_message_for_library_and_command_line() -> None:
    assert unknown_milestone("first_arival") == "unknown milestone 'first_arival'; did you mean 'first_arrival'?"
    assert unknown_milestone("zzz").startswith("unknown milestone 'zzz'; expected one of authority_named, ")
    with pytest.raises(KeyError, match="did you mean 'lead_100pct'"):
        check_milestone("lead_100pc")
    results = run(load_scenario(BASELINE, ["horizon_days=100"]), runs=2, progress=False)
    with pytest.raises(KeyError, match="did you mean 'first_arrival'"):
        results.milestone_days("first_arival")

