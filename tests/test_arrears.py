"""The graded response to arrears: a pause of new departures, then a withdrawal hazard.

Cases are built on ``tests/data/deterministic.toml`` so that arrears begin on a known day (120, see
:func:`in_arrears`); the pause is checked to the day, and the hazard's withdrawal times against the
closed-form survival ``S(a) = exp(-H(a))`` of its cumulative hazard.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy import stats

from sim import simulate
from sim.model.critical import days_by_cause
from sim.model.operations import age_at_hazard, arrears_hazard, cumulative_hazard
from sim.scenario.schema import ArrearsResponse
from tests.test_dynamics import HORIZON, RECON_DONE, deterministic, flight_days, steps, traced

ARREARS_BEGIN = 120
LANDED = RECON_DONE + 1


def in_arrears(**changes: object):
    """One contingent of 200 and money for 60 days' running costs: bills on days 60, 90 and 120 cost 6,
    30 and 30 days (66 > 60), so arrears begin on day 120 with $60,000 unpaid and, with no donor,
    last to the horizon, growing by 30 days' costs ($300,000) at every bill."""
    return deterministic(**{
        "funding.initial_balance_usd": 60 * 200 * 50,
        "funding.runway_days": 60,
        "funding.costs.deployment_per_officer_usd": 0,
        "funding.costs.daily_per_officer_usd": 50,
        "force.pledged_officers": 200,
        **changes,
    })


# Rotation: the relief of the contingent landed on day 54 trains from day 114 and is due to leave on 154.
ROTATION = {"force.tour_days": 100, "force.replacement_lead_days": 40, "force.max_extension_days": 100}
TOUR_END = LANDED + 100
# A donor who pays enough to clear the arrears on day 200.
CLEARED = 200
DONOR = {"funding.pledges": {"donor": {"amount_usd": 1e9, "pledged_on": dt.date(2024, 3, 14),
                                       "tranche_lag_days": CLEARED}}}


def first_flights(rec) -> list[float]:
    """Flight days before the second rotation (due on day 255 or later)."""
    return [day for day in flight_days(rec) if day < TOUR_END + 100]


def test_without_the_table_the_cliff_is_unchanged() -> None:
    cliff = {"force.withdraw_after_arrears_days": 100}
    plain = traced(in_arrears(**cliff))
    graded = traced(in_arrears(**cliff, **{"force.arrears_response": {}}))
    assert plain.milestones["lead_withdrawal"] == ARREARS_BEGIN + 100
    assert graded.milestones == plain.milestones and steps(graded) == steps(plain)


def test_no_pause_without_arrears_long_enough() -> None:
    """The relief leaves when the tour ends (day 154); a 40-day threshold is only passed on 160 (the pause
    then lasts until the arrears clear on 200, holding no one)."""
    rec = traced(in_arrears(**ROTATION, **DONOR, **{"force.arrears_response.pause_departures_after_days": 40}))
    assert first_flights(rec) == [RECON_DONE, TOUR_END]
    assert rec.totals["arrears_pause_days"] == CLEARED - (ARREARS_BEGIN + 40)


@pytest.mark.parametrize("threshold", [0, 30])
def test_the_pause_holds_departures_exactly_while_arrears_last_past_the_threshold(threshold: float) -> None:
    """Paused from day 120 + threshold until the donor clears the arrears on 200: the relief due on 154
    leaves on 200, and its wait is charged to the pause on the critical path."""
    rec = traced(in_arrears(**ROTATION, **DONOR,
                            **{"force.arrears_response.pause_departures_after_days": threshold}))
    assert rec.totals["arrears_days"] == CLEARED - ARREARS_BEGIN
    assert first_flights(rec) == [RECON_DONE, CLEARED]
    assert rec.totals["arrears_pause_days"] == CLEARED - (ARREARS_BEGIN + threshold)
    assert rec.milestones["first_rotation"] == CLEARED + 1
    assert rec.binding["first_rotation"] == "arrears pause"
    assert days_by_cause(rec.critical_paths["first_rotation"])["arrears pause"] == CLEARED - TOUR_END
    paused = [e.day for e in rec.trace if e.kind == "arrears_pause"]
    resumed = [e.day for e in rec.trace if e.kind == "arrears_pause_ends"]
    assert paused == [ARREARS_BEGIN + threshold] and resumed == [CLEARED]


def test_the_cumulative_hazard_and_its_inverse_agree() -> None:
    rate, shape, start = 0.01, 1.7, 45.0
    h = cumulative_hazard(rate, shape, start, 10.0, 200.0)
    assert age_at_hazard(rate, shape, start, 10.0, h) == pytest.approx(200.0)
    params = ArrearsResponse(withdrawal_hazard_per_year=rate * 365, hazard_shape=shape, hazard_starts_after_days=start)
    grid = np.linspace(start, 200.0, 20001)
    numeric = np.trapezoid([arrears_hazard(params, a, 0.0) for a in grid], grid)
    assert h == pytest.approx(numeric, rel=1e-6)
    assert arrears_hazard(params, start - 1, 5.0) == 0.0


def withdrawal_ages(scenario, runs: int) -> np.ndarray:
    """Days of arrears before the lead withdrew, per replication (inf if it never did by the horizon)."""
    ages = []
    for k in range(runs):
        rec = simulate(scenario, seed=5, replication=k)
        ages.append(rec.milestones.get("lead_withdrawal", math.inf) - ARREARS_BEGIN)
    return np.array(ages)


def depth_at(age: float) -> float:
    """Depth of the arrears of :func:`in_arrears` after ``age`` days: $60,000 plus $300,000 a bill, over
    one month's running costs of 200 officers ($300,000)."""
    return (60_000 + 300_000 * math.floor(age / 30 + 1e-9)) / 300_000


def survival(params: ArrearsResponse, age: float) -> float:
    """The closed form S(a) = exp(-H(a)) for :func:`in_arrears`: the depth is constant within each month."""
    rate, shape, start = params.withdrawal_hazard_per_year / 365, params.hazard_shape, params.hazard_starts_after_days
    total, lo = 0.0, 0.0
    while lo < age:
        hi = min(age, lo + 30)
        total += cumulative_hazard(rate * (1 + params.depth_weight * depth_at(lo)), shape, start, lo, hi)
        lo = hi
    return math.exp(-total)


@pytest.mark.parametrize("table", [
    {"withdrawal_hazard_per_year": 2.0, "hazard_shape": 1.0, "hazard_starts_after_days": 60},
    {"withdrawal_hazard_per_year": 6.0, "hazard_shape": 0.0},
    {"withdrawal_hazard_per_year": 0.5, "hazard_shape": 0.5, "depth_weight": 0.4, "hazard_starts_after_days": 20},
])
def test_withdrawal_times_follow_the_closed_form_survival(table: dict) -> None:
    """Kolmogorov-Smirnov: 1 - S(age) at withdrawal is uniform, with the horizon's censoring negligible."""
    params = ArrearsResponse(**table)
    assert survival(params, HORIZON - ARREARS_BEGIN) < 1e-4
    ages = withdrawal_ages(in_arrears(**{"force.arrears_response": table}), 300)
    assert np.isfinite(ages).all()
    assert (ages >= params.hazard_starts_after_days).all()
    u = np.array([1 - survival(params, a) for a in ages])
    assert stats.kstest(u, "uniform").pvalue > 0.001
    # The mean age too: the integral of S, within four standard errors.
    grid = np.linspace(0, HORIZON - ARREARS_BEGIN, 6101)
    mean = np.trapezoid([survival(params, a) for a in grid], grid)
    se = ages.std(ddof=1) / math.sqrt(len(ages))
    assert abs(ages.mean() - mean) < 4 * se


def test_deeper_arrears_never_delay_a_withdrawal() -> None:
    """Same draws, a depth weight on top: the hazard is higher at every age, so each withdrawal comes no later."""
    base = {"withdrawal_hazard_per_year": 0.5, "hazard_shape": 1.0}
    shallow = withdrawal_ages(in_arrears(**{"force.arrears_response": base}), 40)
    deep = withdrawal_ages(in_arrears(**{"force.arrears_response": {**base, "depth_weight": 1.0}}), 40)
    assert (deep <= shallow).all() and (deep < shallow).any()


def test_a_withdrawal_over_the_hazard_reaches_lead_withdrawal_with_its_chain() -> None:
    scenario = in_arrears(**{"force.arrears_response": {"withdrawal_hazard_per_year": 3.0, "hazard_shape": 0.0}})
    rec = traced(scenario)
    day = rec.milestones["lead_withdrawal"]
    assert day > ARREARS_BEGIN
    assert days_by_cause(rec.critical_paths["lead_withdrawal"]) == pytest.approx(
        {"before arrears": ARREARS_BEGIN, "arrears": day - ARREARS_BEGIN})
    assert steps(rec)[-1] == (day, 0)
    assert rec.totals["officers_withdrawn"] == 200 and rec.totals["arrears_hazard_withdrawals"] == 1


def test_the_cliff_still_binds_when_it_comes_first() -> None:
    """A weak hazard and a 30-day cliff: every replication withdraws by day 150, most at exactly 150."""
    scenario = in_arrears(**{"force.withdraw_after_arrears_days": 30,
                             "force.arrears_response": {"withdrawal_hazard_per_year": 0.1}})
    ages = withdrawal_ages(scenario, 30)
    assert (ages <= 30).all() and (ages == 30).sum() >= 25
