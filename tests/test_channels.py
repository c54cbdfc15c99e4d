"""Funding: what the mission's costs are charged for, and when.

Constructed cases on the deterministic scenario (every duration fixed) with known answers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sim import load_scenario, simulate
from sim.scenario.schema import Scenario

DETERMINISTIC = Path(__file__).resolve().parent / "data" / "deterministic.toml"
START = dt.date(2024, 3, 14)
# The deterministic scenario's first contingent is funded on day 53 (viable at 35, recon 10 + 8 days later);
# its five contingents of 200 leave 4 days apart, one flight each, and each flight takes a day.
FIRST_DEPARTURE = 53.0
HORIZON = 730


def deterministic(**changes: object) -> Scenario:
    """The deterministic scenario with dotted-key changes."""
    return load_scenario(DETERMINISTIC, changes)


def test_fixed_costs_stop_when_everyone_has_left() -> None:
    """The mandate lapses on day 200 with no drawdown: every officer leaves, and fixed costs stop then."""
    lapse = 200
    scenario = deterministic(**{
        "funding.costs.daily_per_officer_usd": 0,
        "funding.costs.fixed_monthly_usd": 3000,  # 100 a day
        "mandate.expires_on": START + dt.timedelta(days=lapse),
        "mandate.renewal_probability": 0.0,
        "mandate.drawdown_days": 0,
    })
    rec = simulate(scenario, seed=1)
    assert rec.milestones["mandate_lapsed"] == lapse
    deployment = 1000 * 1000
    assert rec.totals["spent_usd"] == pytest.approx(deployment + 100 * (lapse - FIRST_DEPARTURE), rel=1e-12)


def test_fixed_costs_run_from_the_first_departure_to_the_horizon_while_a_force_serves() -> None:
    scenario = deterministic(**{"funding.costs.daily_per_officer_usd": 0, "funding.costs.fixed_monthly_usd": 3000,
                                "funding.billing_interval_days": 1})
    rec = simulate(scenario, seed=1)
    # Daily settlements: the last is on day 729, since the run stops before events of the horizon's day.
    assert rec.totals["spent_usd"] == pytest.approx(1000 * 1000 + 100 * (HORIZON - 1 - FIRST_DEPARTURE), rel=1e-12)
