"""Tranches of the lead contributor's pledge: each waits for its own decision, then trains and deploys.

Constructed cases on ``tests/data/deterministic.toml`` (every duration fixed): the recon is done on
day 53, cohorts train 30 days, the airlift needs 4 days between departures and a flight takes 1;
contingents are 200 officers. A first tranche of 400 already decided deploys on days 53 and 57, so a
later tranche's contingents find the airlift free and leave 4 days apart from the day they are ready.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import load_scenario, simulate
from sim.model.critical import days_by_cause
from sim.scenario.loader import ScenarioError
from tests.test_delays import check_chain
from tests.test_dynamics import (
    BASELINE,
    DETERMINISTIC,
    FLIGHT,
    RECON_DONE,
    TURNAROUND,
    assert_mean_within,
    exponential,
    flight_days,
    traced,
)
from tests.test_model import check_invariants

TRAINING = 30
SERIAL = {"transition": 20.0, "administration": 15.0, "reconnaissance": 18.0}
ANNOUNCED = {"officers": 400, "decided": True}
DETERMINISTIC_START = load_scenario(DETERMINISTIC).start_date


def with_tranches(*tranches: dict[str, object], **changes: object):
    """The deterministic scenario with the given tranches (and dotted-key changes)."""
    return load_scenario(DETERMINISTIC, {"force.tranches": list(tranches), **changes})


def departures_from(ready: float, contingents: int = 3) -> list[float]:
    """Departure days of a tranche's contingents all ready on ``ready``, the airlift free."""
    return [ready + i * TURNAROUND for i in range(contingents)]


def test_a_tranche_waiting_for_a_gate_lands_after_the_gate_the_decision_training_and_flight() -> None:
    """Gate x opens 20 days after the recon; tranche 2 (600) is decided 7 days later, then trains."""
    gate_opens, decision = RECON_DONE + 20, 7
    scenario = with_tranches(ANNOUNCED, {"officers": 600, "after": ["x"], "decision_days": decision},
                             gates={"x": {"after": ["recon_done"], "opens_after_days": 20}})
    rec = traced(scenario)
    decided = gate_opens + decision
    ready = decided + TRAINING
    assert flight_days(rec) == [RECON_DONE, RECON_DONE + TURNAROUND, *departures_from(ready)]
    assert rec.totals["tranche_2_decided_day"] == decided and rec.totals["tranche_1_decided_day"] == 0
    assert rec.totals["tranches_decided"] == 2
    assert rec.milestones["lead_50pct"] == ready + FLIGHT  # the third contingent, tranche 2's first
    assert rec.milestones["lead_100pct"] == ready + 2 * TURNAROUND + FLIGHT
    assert rec.binding["lead_50pct"] == "training"
    # The gate's own path (the recon's) comes first, then the gate's delay, the decision and training.
    assert days_by_cause(rec.critical_paths["lead_50pct"]) == {
        **SERIAL, "x": 20.0, "tranche decision": 7.0, "training": 30.0, "flight": 1.0}
    decided_events = [e for e in rec.trace if e.kind == "tranche_decided"]
    assert [(e.day, e.event, e.officers) for e in decided_events] == [
        (0, "Kenya tranche 1 decided", 400), (decided, "Kenya tranche 2 decided", 600)]


def test_a_milestone_dependency_hands_over_its_path() -> None:
    """Tranche 2 waits for the first landing (day 54): its path is the first landing's, then training."""
    rec = traced(with_tranches(ANNOUNCED, {"officers": 600, "after": ["first_arrival"]}))
    ready = RECON_DONE + FLIGHT + TRAINING
    assert rec.milestones["lead_100pct"] == ready + 2 * TURNAROUND + FLIGHT
    assert days_by_cause(rec.critical_paths["lead_50pct"]) == {**SERIAL, "flight": 2.0, "training": 30.0}


def test_a_tranche_trained_ahead_waits_for_its_decision() -> None:
    """Trained from day 0 (ready on day 30), tranche 2 leaves only once decided on day 80."""
    decided = RECON_DONE + 20 + 7
    rec = traced(with_tranches(
        ANNOUNCED, {"officers": 600, "after": ["x"], "decision_days": 7, "training_starts": "at_start"},
        gates={"x": {"after": ["recon_done"], "opens_after_days": 20}}))
    assert flight_days(rec)[2:] == departures_from(decided)
    assert rec.binding["lead_50pct"] == "tranche decision"
    assert days_by_cause(rec.critical_paths["lead_100pct"]) == {
        **SERIAL, "x": 20.0, "tranche decision": 7.0, "airlift": 8.0, "flight": 1.0}


@pytest.mark.parametrize("changes", [{}, {"force.training.capacity_officers": 200},
                                     {"force.training.starts": "after_viable_administration"}],
                         ids=["ample seats", "one seat-load", "after the administration"])
@pytest.mark.parametrize("tranches", [[{"officers": 1000, "decided": True}],
                                      [ANNOUNCED, {"officers": 600, "decided": True}],
                                      [ANNOUNCED, {"officers": 600, "decided": True, "training_starts": "at_start"}]],
                         ids=["one", "two", "two, trained ahead"])
def test_announced_tranches_deploy_as_the_pledge_does_without_tranches(changes, tranches) -> None:
    today = traced(load_scenario(DETERMINISTIC, changes))
    rec = traced(with_tranches(*tranches, **changes))
    assert rec.milestones == today.milestones
    assert rec.binding == today.binding
    assert rec.critical_paths == today.critical_paths
    assert flight_days(rec) == flight_days(today)


def test_tranches_that_do_not_add_up_to_the_pledge_are_one_clear_error() -> None:
    with pytest.raises(ScenarioError) as caught:
        with_tranches(ANNOUNCED, {"officers": 500})
    assert len(caught.value.problems) == 1
    assert str(caught.value) == ("--set: force.tranches: the tranches' officers add up to 900 (400 + 500), but "
                                 "force.pledged_officers is 1000; they must be equal")


@pytest.mark.parametrize("tranche, message", [
    ({"officers": 1000, "decided": True, "after": ["recon_done"]}, "already decided waits for nothing"),
    ({"officers": 1000, "decided": True, "decision_days": 5}, "already decided waits for nothing"),
    ({"officers": 1000, "shortened_training_share": 0.5}, "go together"),
    ({"officers": 1000, "shortened_training_share": 0.5, "pressure_below_officers": 10,
      "training_starts": "at_start"}, "needs training_starts = 'at_decision'"),
    ({"officers": 1000, "after": ["recon_dne"]}, "did you mean 'recon_done'"),
])
def test_inconsistent_tranches_are_refused(tranche, message) -> None:
    with pytest.raises(ScenarioError, match=message):
        with_tranches(tranche)


def test_a_decision_waiting_for_money_in_hand_waits_for_the_deposit() -> None:
    """A donor deposits $50M on day 100; tranche 2 needs $20M in hand, so it is decided that day."""
    deposit = 100
    rec = traced(with_tranches(
        ANNOUNCED, {"officers": 600, "min_balance_usd": 20e6},
        **{"funding.initial_balance_usd": 1e6,
           "funding.pledges": {"donor": {"amount_usd": 50e6, "pledged_on": DETERMINISTIC_START,
                                         "tranche_lag_days": deposit}}}))
    assert rec.totals["tranche_2_decided_day"] == deposit
    assert rec.milestones["lead_100pct"] == deposit + TRAINING + 2 * TURNAROUND + FLIGHT
    assert days_by_cause(rec.critical_paths["lead_100pct"]) == {
        "funding": 100.0, "training": 30.0, "airlift": 8.0, "flight": 1.0}


def test_a_decision_waiting_for_strength_in_theatre() -> None:
    """Tranche 2 waits for 400 of the lead in theatre: tranche 1's second flight lands on day 58."""
    rec = traced(with_tranches(ANNOUNCED, {"officers": 600, "min_lead_in_theatre_officers": 400}))
    strong = RECON_DONE + TURNAROUND + FLIGHT
    assert rec.totals["tranche_2_decided_day"] == strong
    assert rec.milestones["lead_100pct"] == strong + TRAINING + 2 * TURNAROUND + FLIGHT
    assert days_by_cause(rec.critical_paths["lead_50pct"]) == {"mission strength": 58.0, "training": 30.0,
                                                               "flight": 1.0}


@pytest.mark.parametrize("below, training", [(1000, TRAINING / 2), (200, TRAINING)],
                         ids=["under pressure", "200 in theatre is not below 200"])
def test_training_is_shortened_under_pressure(below: int, training: float) -> None:
    """Decided at the first landing (day 54, 200 in theatre): below the threshold, training takes half."""
    rec = traced(with_tranches(ANNOUNCED, {"officers": 600, "after": ["first_arrival"],
                                           "shortened_training_share": 0.5, "pressure_below_officers": below}))
    ready = RECON_DONE + FLIGHT + training
    assert flight_days(rec)[2:] == departures_from(ready)
    assert rec.milestones["lead_100pct"] == ready + 2 * TURNAROUND + FLIGHT


def test_a_tranche_never_decided_never_deploys() -> None:
    """Tranche 2 waits for more money than ever arrives: only tranche 1 lands, and its day is NaN."""
    rec = traced(with_tranches(ANNOUNCED, {"officers": 600, "min_balance_usd": 1e13}))
    assert rec.totals["tranches_decided"] == 1 and math.isnan(rec.totals["tranche_2_decided_day"])
    assert rec.totals["peak_in_theatre_lead"] == 400
    assert "lead_25pct" in rec.milestones and "lead_50pct" not in rec.milestones


def test_the_drawn_decision_delay_has_its_distribution_mean() -> None:
    """Tranche 2 is decided an exponential time (mean 30 d) after the recon is done."""
    scenario = with_tranches(ANNOUNCED, {"officers": 600, "after": ["recon_done"], "decision_days": exponential(30)})
    delays = np.array([simulate(scenario, seed=5, replication=k).totals["tranche_2_decided_day"] - RECON_DONE
                       for k in range(300)])
    assert delays.min() >= 0
    assert_mean_within(delays, 30.0)


#: Kenya's pledge in two tranches: 400 announced, 600 once the first contingent has landed, $20M is in
#: hand and a drawn political delay has passed; the second trains once decided, shortened under pressure.
TWO_TRANCHES = {"force.tranches": [
    {"officers": 400, "decided": True},
    {"officers": 600, "after": ["first_arrival"], "min_balance_usd": 20e6,
     "decision_days": {"dist": "lognormal", "median": 30, "p90": 90},
     "shortened_training_share": 0.5, "pressure_below_officers": 300},
]}
#: Three tranches, the last trained ahead and waiting for strength in theatre.
THREE_TRANCHES = {"force.tranches": [
    {"officers": 200, "decided": True},
    {"officers": 400, "after": ["recon_done"], "decision_days": {"dist": "lognormal", "median": 30, "p90": 90}},
    {"officers": 400, "min_lead_in_theatre_officers": 400, "training_starts": "at_start",
     "training_days": {"dist": "pert", "low": 20, "mode": 40, "high": 90}},
]}


@pytest.mark.parametrize("changes", [TWO_TRANCHES, THREE_TRANCHES], ids=["two", "three"])
def test_invariants_and_paths_hold_with_tranches_on_the_baseline(changes) -> None:
    scenario = load_scenario(BASELINE, changes)
    decided = 0
    for k in range(50):
        rec = simulate(scenario, seed=11, replication=k, trace=True)
        check_invariants(scenario, rec)
        assert set(rec.critical_paths) == set(rec.milestones)
        for milestone, chain in rec.critical_paths.items():
            check_chain(chain, rec.milestones[milestone])
        if "lead_100pct" in rec.milestones:
            assert math.isclose(sum(days_by_cause(rec.critical_paths["lead_100pct"]).values()),
                                rec.milestones["lead_100pct"], abs_tol=1e-9)
        days = [rec.totals[f"tranche_{i}_decided_day"] for i in range(1, len(changes["force.tranches"]) + 1)]
        assert rec.totals["tranches_decided"] == sum(not math.isnan(d) for d in days)
        decided += int(rec.totals["tranches_decided"])
    # Tranche 1 is decided in every run; later ones in most, or the later tranches went untested.
    assert decided - 50 > 25 * (len(changes["force.tranches"]) - 1)


@pytest.mark.parametrize("changes", [TWO_TRANCHES, THREE_TRANCHES], ids=["two", "three"])
def test_every_removal_of_a_tranche_cause_is_a_valid_scenario(changes) -> None:
    from sim.analysis.explain import removals
    from sim.scenario.loader import derive

    scenario = load_scenario(BASELINE, changes)
    available = removals(scenario)
    assert {"tranche decision", "mission strength"} <= set(available)
    for changed in available.values():
        derive(scenario, changed)  # raises ScenarioError if a removal breaks a bound of the schema


def test_removing_the_decision_delay_shifts_the_milestone_by_its_ledger_days() -> None:
    from sim.analysis.explain import removals
    from sim.scenario.loader import derive

    scenario = with_tranches(ANNOUNCED, {"officers": 600, "after": ["recon_done"], "decision_days": 7})
    removed = derive(scenario, removals(scenario)["tranche decision"])
    before, after = simulate(scenario).milestones["lead_100pct"], simulate(removed).milestones["lead_100pct"]
    assert before - after == days_by_cause(simulate(scenario).critical_paths["lead_100pct"])["tranche decision"] == 7
