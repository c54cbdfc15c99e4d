"""Funding: what the mission's costs are charged for, and when.

Constructed cases on the deterministic scenario (every duration fixed) with known answers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from sim import load_scenario, simulate
from sim.scenario.schema import Scenario
from tests.test_dynamics import assert_mean_within
from tests.test_model import BASELINE, check_invariants

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


# -- channels ------------------------------------------------------------------------------------

# Five contingents of 200 land on days 54, 58, 62, 66 and 70; monthly settlements on days 30, 60, ..., 720
# bill 200 * (666 + 662 + 658 + 654 + 650) officer-days by day 720, at 10 a day each.
RUNNING_BILLED = 200 * (666 + 662 + 658 + 654 + 650) * 10
DEPLOYMENT = 1000 * 1000


def _at(series: tuple, day: float) -> float:
    days, values = series
    return float(values[np.searchsorted(days, day, side="right") - 1])


def test_a_base_paid_directly_never_moves_the_trust_fund() -> None:
    """The fund holds less than the stage costs: only the donor's contractors can build it, in 20 days."""
    scenario = deterministic(**{
        "funding.initial_balance_usd": 3e6,
        "base.initial_capacity_officers": 0,
        "base.stages": [{"capacity_officers": 1000, "cost_usd": 5e6, "duration_days": 20}],
        "funding.channels": {"us_direct": {"covers": ["base_construction"], "in_kind": True}},
    })
    rec = simulate(scenario, seed=1)
    ready = FIRST_DEPARTURE + 20  # construction starts when the recon is done, day 53
    assert rec.milestones["base_ready"] == ready
    days, balance = rec.series["fund_balance_usd"]
    assert _at(rec.series["fund_balance_usd"], ready - 1e-9) == 3e6
    assert days[1] == ready, "the first change of the fund's balance is the first contingent's departure"
    assert rec.totals["paid_usd.us_direct"] == rec.totals["received_usd.us_direct"] == 5e6
    assert rec.totals["paid_usd.trust_fund"] == rec.totals["spent_usd"] <= 3e6
    without = simulate(scenario.model_copy(update={"funding": scenario.funding.model_copy(update={"channels": {}})}),
                       seed=1)
    assert "base_ready" not in without.milestones


def _bilateral(limit_usd: float | None) -> Scenario:
    channel: dict[str, object] = {"covers": ["running_per_officer"], "contributor": "Kenya"}
    if limit_usd is not None:
        channel["limit_usd"] = limit_usd
    return deterministic(**{
        "funding.channels": {"kenya_bilateral": channel},
        "funding.pledges": {"bilateral": {"amount_usd": 1e12, "pledged_on": START, "tranche_lag_days": 0,
                                          "channel": "kenya_bilateral"}},
    })


def test_a_bilateral_pool_pays_the_leads_running_costs() -> None:
    rec = simulate(_bilateral(None), seed=1)
    assert rec.totals["paid_usd.kenya_bilateral"] == pytest.approx(RUNNING_BILLED, rel=1e-12)
    assert rec.totals["spent_usd"] == DEPLOYMENT
    assert rec.totals["balance_usd.kenya_bilateral"] == pytest.approx(1e12 - RUNNING_BILLED, rel=1e-12)


def test_beyond_its_cap_a_channels_costs_fall_back_to_the_trust_fund() -> None:
    rec = simulate(_bilateral(1e6), seed=1)
    assert rec.totals["paid_usd.kenya_bilateral"] == 1e6
    assert rec.totals["spent_usd"] == pytest.approx(DEPLOYMENT + RUNNING_BILLED - 1e6, rel=1e-12)


# -- donor response ------------------------------------------------------------------------------

RESPONSE = {"base_pledges_per_year": 6.0, "shortfall_multiplier": 4.0, "short_runway_days": 30,
            "amount_usd": {"dist": "uniform", "low": 0, "high": 2e6}, "lag_days": 30, "channel": "conference"}
# A money channel that covers nothing the deterministic scenario spends, so it only collects.
CONFERENCE = {"conference": {"covers": ["base_construction"]}}
RUNS = 300


def _response_money(**changes: object) -> np.ndarray:
    scenario = deterministic(**{"funding.donor_response": RESPONSE, "funding.channels": CONFERENCE, **changes})
    return np.array([simulate(scenario, seed=5, replication=k).totals["received_usd.conference"]
                     for k in range(RUNS)])


def _compound_poisson(per_year: float) -> tuple[float, float]:
    """Mean and variance of the money paid by the horizon: pledges made before day 700 are paid by 730."""
    n = per_year * (HORIZON - 30) / 365.0
    mean_amount, second_moment = 1e6, (2e6) ** 2 / 3
    return n * mean_amount, n * second_moment


def test_a_pledging_process_adds_the_expected_money() -> None:
    """Never short (the fund holds 1e12): pledges arrive at the base rate."""
    money = _response_money()
    mean, variance = _compound_poisson(6.0)
    assert_mean_within(money, mean)
    assert money.var(ddof=1) == pytest.approx(variance, rel=0.25)


def test_the_shortfall_multiplier_raises_the_rate() -> None:
    """An empty fund with fixed costs of 100 a day is always short of 30 days' runway: four times the rate."""
    money = _response_money(**{"funding.initial_balance_usd": 0, "funding.costs.fixed_monthly_usd": 3000})
    assert_mean_within(money, _compound_poisson(6.0 * 4.0)[0])


def test_a_zero_multiplier_stops_pledges_while_short() -> None:
    """An empty fund with fixed costs is always short, a full one never: only the full one gets pledges."""
    response = {**RESPONSE, "shortfall_multiplier": 0.0}
    full = deterministic(**{"funding.donor_response": response, "funding.channels": CONFERENCE})
    empty = load_scenario(DETERMINISTIC, {"funding.donor_response": response, "funding.channels": CONFERENCE,
                                          "funding.initial_balance_usd": 0, "funding.costs.fixed_monthly_usd": 3000})
    assert simulate(full, seed=1).totals["response_pledges"] > 0
    assert simulate(empty, seed=1).totals["response_pledges"] == 0


# -- shocks ----------------------------------------------------------------------------------------


def _pledge(**fields: object) -> dict[str, object]:
    return {"funding.pledges": {"donor": {"amount_usd": 1e6, "pledged_on": START, "tranche_lag_days": 100,
                                          **fields}}}


def test_a_cut_cancels_the_expected_share() -> None:
    """One tranche: cut with probability 0.5, keeping 40% of it, so 1e6 (1 - 0.5 * 0.6) is paid on average."""
    scenario = deterministic(**_pledge(cut_probability=0.5, cut_share=0.6))
    received = np.array([simulate(scenario, seed=2, replication=k).totals["received_usd"] for k in range(400)])
    assert set(np.round(received)) == {400_000.0, 1e6}
    assert_mean_within(received, 0.7e6)


def test_freezes_pause_the_tranches() -> None:
    """Freezes at 3.65 a year over a 100-day lag: Poisson(1) of them, 50 days each, so 50 days on average;
    each tranche lands exactly its lag plus its frozen days after the pledge."""
    scenario = deterministic(**_pledge(freeze_per_year=3.65, freeze_days=50))
    frozen = []
    for k in range(400):
        rec = simulate(scenario, seed=3, replication=k, trace=True)
        paid = [e.day for e in rec.trace if e.kind == "tranche_paid"]
        assert paid == [100 + rec.totals["pledge_frozen_days"]]
        frozen.append(rec.totals["pledge_frozen_days"])
    assert_mean_within(np.array(frozen), 50.0)


# -- pre-financing ---------------------------------------------------------------------------------

# Deployment is free and the fund empty: every contingent leaves on time and every running cost is unpaid.
# Monthly bills: 16,000 on day 60, 264,000 on day 90, then 300,000 a month.
BROKE = {"funding.initial_balance_usd": 0, "funding.costs.deployment_per_officer_usd": 0}


def test_without_prefinancing_arrears_begin_at_the_first_bill() -> None:
    rec = simulate(deterministic(**BROKE), seed=1)
    assert rec.totals["arrears_days"] == HORIZON - 60


def test_prefinancing_removes_arrears_up_to_its_limit() -> None:
    """Carrying up to 1e6: the bills of days 60 to 150 (880,000) and 120,000 of day 180's; arrears from 180."""
    rec = simulate(deterministic(**BROKE, **{"funding.prefinance": {"contributor": "Kenya", "limit_usd": 1e6,
                                                                     "days": 10000}}), seed=1)
    assert rec.totals["prefinanced_usd"] == pytest.approx(1e6)
    assert rec.totals["arrears_days"] == HORIZON - 180
    assert rec.totals["arrears_usd_at_horizon"] == pytest.approx(RUNNING_BILLED - 1e6)


def test_prefinancing_lasts_its_days_and_is_reimbursed_first() -> None:
    """Carrying for 50 days from day 60: the bills of days 60 and 90; arrears from 120. A 100,000 pledge on
    day 100 repays the lead and leaves nothing for anyone else."""
    rec = simulate(deterministic(**BROKE, **{
        "funding.prefinance": {"contributor": "Kenya", "limit_usd": 1e12, "days": 50},
        "funding.pledges": {"donor": {"amount_usd": 1e5, "pledged_on": START + dt.timedelta(days=100),
                                      "tranche_lag_days": 0}},
    }), seed=1)
    assert rec.totals["prefinanced_usd"] == pytest.approx(280_000)
    assert rec.totals["reimbursed_usd"] == pytest.approx(1e5)
    assert rec.totals["arrears_days"] == HORIZON - 120
    assert rec.totals["spent_usd"] == pytest.approx(1e5)


# -- invariants ------------------------------------------------------------------------------------


def test_invariants_hold_on_the_baseline_with_channels() -> None:
    baseline = load_scenario(BASELINE, {
        "funding.channels": {"us_direct": {"covers": ["base_construction", "deployment"], "in_kind": True,
                                           "limit_usd": 50e6},
                             "kenya_bilateral": {"covers": ["running_per_officer"], "contributor": "Kenya"}},
        "funding.donor_response": {"base_pledges_per_year": 2, "shortfall_multiplier": 3, "short_runway_days": 60,
                                   "amount_usd": {"dist": "uniform", "low": 5e6, "high": 30e6},
                                   "lag_days": 60, "channel": "kenya_bilateral"},
        "funding.prefinance": {"contributor": "Kenya", "limit_usd": 20e6, "days": 120},
    })
    initial = baseline.funding.initial_balance_usd
    used = 0
    for k in range(50):
        rec = simulate(baseline, seed=11, replication=k, trace=True)
        check_invariants(baseline, rec)
        t = rec.totals
        assert t["received_usd"] - t["spent_usd"] == pytest.approx(t["final_balance_usd"] - initial, abs=1e-3)
        for pool in ("us_direct", "kenya_bilateral"):
            assert t[f"balance_usd.{pool}"] >= -1e-6
            assert t[f"received_usd.{pool}"] - t[f"paid_usd.{pool}"] == pytest.approx(t[f"balance_usd.{pool}"],
                                                                                      abs=1e-3)
        assert t["paid_usd.us_direct"] <= 50e6 + 1e-6
        assert t["reimbursed_usd"] <= t["prefinanced_usd"] + 1e-6
        used += t["paid_usd.us_direct"] > 0 and t["paid_usd.kenya_bilateral"] > 0
    assert used > 0, "the channels paid something"
