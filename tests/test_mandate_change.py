"""Mandates that change: renewal probabilities that depend on the mission's state, and successor missions.

Built on ``tests/data/deterministic.toml``: the lead's five contingents of 200 leave on days 53, 57,
61, 65 and 69 and land a day later, so the strength at an expiry is known.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from sim import load_scenario, simulate
from tests.test_arrears import ARREARS_BEGIN, in_arrears
from tests.test_dynamics import RECON_DONE, deterministic, steps, traced
from tests.test_model import check_invariants

ROOT = Path(__file__).resolve().parents[1]
EXPIRES = dt.date(2024, 5, 13)  # day 60: 400 officers in theatre, two more contingents due to leave
RUNS = 400


def renewed_share(scenario, runs: int = RUNS) -> np.ndarray:
    """Per replication, 1 if the first expiry brought a renewal, else 0."""
    return np.array([0.0 if "mandate_lapsed" in simulate(scenario, seed=3, replication=k).milestones else 1.0
                     for k in range(runs)])


def assert_share(samples: np.ndarray, p: float) -> None:
    """The share of successes is within four binomial standard errors of ``p``."""
    se = math.sqrt(p * (1 - p) / len(samples))
    assert abs(samples.mean() - p) <= 4 * se + 1e-12, (samples.mean(), p)


def mandate(**keys: object) -> dict[str, object]:
    return {"mandate": {"expires_on": EXPIRES, "renewal_probability": 0.9, "term_days": 1000, **keys}}


@pytest.mark.parametrize("mission_size, expected", [(2500, 0.3), (500, 0.9)])
def test_renewal_below_plan(mission_size: int, expected: float) -> None:
    """400 in theatre at expiry: below half of 2500 (0.3 applies), not below half of 500 (0.9)."""
    scenario = deterministic(**mandate(renewal_probability_if_below_plan=0.3, plan_share=0.5),
                             mission_size_officers=mission_size)
    assert scenario.day_of(EXPIRES) == 60
    assert_share(renewed_share(scenario), expected)


@pytest.mark.parametrize("expires_on, expected", [(dt.date(2024, 7, 1), 0.9), (dt.date(2024, 8, 12), 0.4)])
def test_renewal_short_of_money(expires_on: dt.date, expected: float) -> None:
    """Arrears begin on day 120: an expiry on day 151 finds them (0.4), one on day 109 does not (0.9)."""
    scenario = in_arrears(**{"mandate": {"expires_on": expires_on, "renewal_probability": 0.9, "term_days": 1000,
                                         "renewal_probability_if_short_of_money": 0.4}})
    assert (scenario.day_of(expires_on) > ARREARS_BEGIN) == (expected == 0.4)
    assert_share(renewed_share(scenario), expected)


def test_the_lowest_applicable_probability_is_used() -> None:
    scenario = in_arrears(**{"mission_size_officers": 2500, "mandate": {
        "expires_on": dt.date(2024, 8, 12), "renewal_probability": 0.9, "term_days": 1000,
        "renewal_probability_if_short_of_money": 0.6, "renewal_probability_if_below_plan": 0.2}})
    assert_share(renewed_share(scenario), 0.2)


def test_without_the_new_keys_renewals_are_unchanged() -> None:
    plain = deterministic(**{"mandate": {"expires_on": EXPIRES, "renewal_probability": 0.5, "term_days": 100}})
    same = deterministic(**{"mandate": {"expires_on": EXPIRES, "renewal_probability": 0.5, "term_days": 100,
                                        "plan_share": 0.7}})
    for k in range(20):
        assert simulate(plain, seed=2, replication=k).milestones == simulate(same, seed=2, replication=k).milestones


SUCCESSOR = {"probability": 1.0, "ceiling_officers": 300, "handover_days": 30}
PARTNER = {"pledged_officers": 200, "delivers": 1.0, "delay_days": 10, "contingent_size": 100,
           "days_between_contingents": 5, "joins": "successor"}


def successor_case(**changes: object):
    return deterministic(**{
        **mandate(renewal_probability=1.0, successor=SUCCESSOR),
        "force.tour_days": 100, "force.replacement_lead_days": 40,
        "contributors.Haiti_friends": PARTNER,
        **changes,
    })


def test_a_successor_mission_hands_over_from_the_lead_to_its_contributors() -> None:
    """Successor on day 60 with a ceiling of 300: the lead's third contingent, funded on day 57, still
    flies; its last two wait for room under the ceiling. The lead hands over on day 90 and its three
    contingents leave at the ends of their tours (154, 158, 162). The partner's contingents are ready
    10 and 15 days after day 60 and leave as the ceiling allows: on 158 (200 + 100 fit) and 162."""
    rec = traced(successor_case())
    [event] = [e for e in rec.trace if e.kind == "mandate_successor"]
    assert event.day == 60 and event.officers == 300
    assert [e.day for e in rec.trace if e.kind == "lead_hands_over"] == [90]
    landed = RECON_DONE + 1
    assert steps(rec, "in_theatre.Kenya") == [(0, 0), (landed, 200), (landed + 4, 400), (landed + 8, 600),
                                              (landed + 100, 400), (landed + 104, 200), (landed + 108, 0)]
    ready = [e.day for e in rec.trace if e.kind == "ready" and e.name is None and str(e.contingent).startswith("Haiti")]
    assert ready == [70, 75]
    assert steps(rec, "in_theatre.Haiti_friends") == [(0, 0), (landed + 105, 100), (landed + 109, 200)]
    for contingent in ("Kenya #4", "Haiti_friends #1"):
        assert "mandate ceiling" in {e.condition for e in rec.trace if e.kind == "waits" and e.contingent == contingent}
    assert rec.totals["peak_in_theatre"] == 600
    days, total = rec.series["in_theatre"]
    assert total[days > landed + 100].max() <= 300


def test_a_successor_contributor_never_deploys_without_a_successor() -> None:
    rec = traced(successor_case(**{"mandate.successor.probability": 0.0}))
    assert steps(rec, "in_theatre.Haiti_friends") == [(0, 0)]
    assert not [e for e in rec.trace if e.kind == "mandate_successor"]


def test_the_successor_share_matches_its_probability() -> None:
    scenario = successor_case(**{"mandate.successor.probability": 0.3})
    joined = np.array([float(simulate(scenario, seed=4, replication=k).totals["peak_in_theatre.Haiti_friends"] > 0)
                       for k in range(RUNS)])
    assert_share(joined, 0.3)


def test_ledgers_add_up_under_successors_on_the_baseline() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "baseline.toml", {
        "mandate.successor": {"probability": 0.5, "ceiling_officers": 1500, "handover_days": 120},
        "mandate.renewal_probability_if_below_plan": 0.7,
        "mandate.renewal_probability_if_short_of_money": 0.6,
        "contributors.benin.joins": "successor",
        "force.arrears_response": {"pause_departures_after_days": 30, "withdrawal_hazard_per_year": 0.5},
    })
    successors = 0
    for k in range(50):
        rec = simulate(scenario, seed=8, replication=k, trace=True)
        check_invariants(scenario, rec)
        successors += any(e.kind == "mandate_successor" for e in rec.trace)
    assert successors > 0
