"""The SimPy model: invariants over batches, closed-form degenerate cases, and theory checks."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from sim import load_scenario, simulate
from sim.model.record import LEDGER
from sim.scenario.distributions import LogNormal
from sim.scenario.milestones import MILESTONE_CHAIN

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
BASELINE = ROOT / "scenarios" / "baseline.toml"

#: Everything fixed, no shocks, money no object: milestones follow from the durations alone.
DETERMINISTIC = Path(__file__).resolve().parent / "data" / "deterministic.toml"


def deterministic(**changes: object) -> object:
    return load_scenario(DETERMINISTIC, changes)


def spans(rec, lane: str) -> list[tuple[float, float]]:
    """The [start, end) spans of one timeline lane of a traced replication."""
    return [(start, end) for name, start, end, _ in rec.intervals if name == lane]


def inside(day: float, intervals: list[tuple[float, float]]) -> bool:
    return any(start <= day < end for start, end in intervals)


def check_invariants(scenario, rec) -> None:
    """Every invariant a replication must satisfy, whatever its parameters."""
    plans = {scenario.force.lead_contributor: scenario.force.pledged_officers}
    plans.update({name: c.pledged_officers for name, c in scenario.contributors.items()})

    # Each contributor's accounts add up at every change.
    ledger = rec.ledger_frame()
    assert (ledger[list(LEDGER)] >= 0).all().all()
    assert (ledger["landed"] - ledger["rotated_out"] - ledger["lost"] - ledger["withdrawn"]
            == ledger["in_theatre"]).all()
    assert (ledger["departed"] <= ledger["trained"]).all() and (ledger["landed"] <= ledger["departed"]).all()
    for name, plan in plans.items():
        days, officers = rec.series[f"in_theatre.{name}"]
        assert officers.min() >= 0 and officers.max() <= plan, name

    # The total is the sum of the contributors, and never above the base's capacity.
    days, total = rec.series["in_theatre"]
    assert total.max() <= sum(plans.values())
    probe = np.union1d(days, rec.series["base_capacity"][0])
    summed = sum(_at(rec.series[f"in_theatre.{name}"], probe) for name in plans)
    np.testing.assert_array_equal(_at(rec.series["in_theatre"], probe), summed)
    if not scenario.unlimited_base:
        assert np.all(_at(rec.series["in_theatre"], probe) <= _at(rec.series["base_capacity"], probe))

    _, balance = rec.series["fund_balance_usd"]
    assert balance.min() >= -1e-6, "the fund never goes negative"

    m = rec.milestones
    chain = [m.get(name, math.nan) for name in MILESTONE_CHAIN]
    for earlier, later, name in zip(chain, chain[1:], MILESTONE_CHAIN[1:], strict=False):
        if not math.isnan(later):
            assert not math.isnan(earlier) and later >= earlier - 1e-9, name
    first_landing = days[np.argmax(total > 0)] if total.max() > 0 else math.inf
    assert first_landing >= m.get("recon_done", math.inf) >= m.get("administration_viable", math.inf)

    # No flight leaves while the airport is closed, and none of the lead's during a hold.
    lead = scenario.force.lead_contributor
    closed, holds = spans(rec, "Airport closed"), spans(rec, "Hold")
    flights = [e for e in rec.trace if e.event.startswith("flight leaves")]
    assert rec.totals["flights"] == len(flights)
    for e in flights:
        assert not inside(e.day, closed), e
        if f"with {lead} #" in e.event:
            assert not inside(e.day, holds), e

    check_no_step_after_withdrawal(scenario, rec)
    check_no_running_cost_without_a_force(scenario, rec)


#: What may still happen to a contributor's contingents after it has withdrawn: flights already in the
#: air land, and their officers leave at once.
AFTER_WITHDRAWAL = frozenset({"flight_lands", "withdrawn_on_landing"})


def check_no_step_after_withdrawal(scenario, rec) -> None:
    """No contributor trains, readies, waits, is funded or flies after it has withdrawn."""
    withdrawn: dict[str, float] = {}
    contributors = [scenario.force.lead_contributor, *scenario.contributors]
    in_air: dict[str, int] = {}
    for event in rec.trace:
        if event.kind == "contributor_withdraws" and event.name:
            withdrawn.setdefault(event.name, event.day)
        elif event.kind == "withdrawal":
            for name in contributors if event.name in (None, "all") else [event.name]:
                withdrawn.setdefault(name, event.day)
        if not event.contingent:
            continue
        owner = event.contingent.rsplit(" #", 1)[0]
        if event.kind == "flight_leaves":
            in_air[owner] = in_air.get(owner, 0) + 1
        elif event.kind == "flight_lands":
            in_air[owner] = in_air.get(owner, 0) - 1
        if owner in withdrawn and event.day >= withdrawn[owner] and event.kind not in AFTER_WITHDRAWAL:
            # The instant of the withdrawal itself may still see the step that triggered it.
            assert event.day == withdrawn[owner] and event.kind in {"losses"}, (owner, withdrawn[owner], event)
    for owner in withdrawn:
        assert in_air.get(owner, 0) >= 0


def check_no_running_cost_without_a_force(scenario, rec) -> None:
    """Once every officer has left theatre for good (and none is on the way), the trust fund pays no
    more running costs: after the settlement that bills the last days with a force, its balance falls
    only on a one-off payment (a base stage, a deployment)."""
    days, total = rec.series["in_theatre"]
    if total[-1] != 0 or total.max() == 0:
        return
    emptied = days[-1]  # the last change of strength brought it to 0
    flights = [e.day for e in rec.trace if e.kind == "flight_leaves"]
    if flights and max(flights) >= emptied:
        return  # someone was on the way: not the end of the force
    one_off = {e.day for e in rec.trace if e.kind in ("stage_paid", "funded")}
    last_bill = emptied + scenario.funding.billing_interval_days
    when, balance = rec.series["fund_balance_usd"]
    for i in range(1, len(when)):
        if when[i] > last_bill + 1e-9 and balance[i] < balance[i - 1] - 1e-6:
            assert when[i] in one_off, (f"the fund paid {balance[i - 1] - balance[i]:.0f} on day {when[i]:.1f}, "
                                        f"after every officer had left on day {emptied:.1f}")


def _at(series: tuple[np.ndarray, np.ndarray], days: np.ndarray) -> np.ndarray:
    """A step series' values at given days (right-continuous)."""
    times, values = series
    return values[np.searchsorted(times, days, side="right") - 1]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_invariants_hold_for_every_replication(path: Path) -> None:
    scenario = load_scenario(path)
    for k in range(100):
        check_invariants(scenario, simulate(scenario, seed=11, replication=k, trace=True))


def test_fixed_durations_give_exact_milestones() -> None:
    rec = simulate(deterministic(), seed=3)
    viable = 20 + 15
    recon_done = viable + 10 + 8
    # Training (30 d) finished long before the recon, so five flights leave 4 d apart from recon_done.
    expected = {
        "authority_named": 20,
        "administration_viable": viable,
        "base_ready": 0,  # no base modelled: housing never binds
        "recon_started": viable + 10,
        "recon_done": recon_done,
        "first_departure": recon_done,
        "first_arrival": recon_done + 1,
        "lead_25pct": recon_done + 4 + 1,
        "lead_50pct": recon_done + 2 * 4 + 1,
        "lead_75pct": recon_done + 3 * 4 + 1,
        "lead_100pct": recon_done + 4 * 4 + 1,
    }
    assert rec.milestones == pytest.approx(expected)
    assert rec.binding["first_arrival"] == "reconnaissance"
    assert rec.binding["lead_100pct"] == "airlift"
    # Officer-days: flight i lands at recon_done + 4i + 1 and stays to the horizon.
    horizon = 730
    officer_days = sum(200 * (horizon - (recon_done + 4 * i + 1)) for i in range(5))
    assert rec.totals["officer_days"] == pytest.approx(officer_days)


def test_training_binds_when_it_is_slowest() -> None:
    rec = simulate(deterministic(**{"force.training.duration_days": 200, "force.training.capacity_officers": 400}),
                   seed=3)
    # Two cohorts at a time: contingents ready at 200, 200, 400, 400, 600.
    assert rec.milestones["first_arrival"] == pytest.approx(201)
    assert rec.milestones["lead_100pct"] == pytest.approx(601)
    assert rec.binding["first_arrival"] == "training"
    assert rec.binding["lead_100pct"] == "training"


@pytest.mark.parametrize("m", [0, 1, 2, 4])
def test_money_for_exactly_m_contingents_deploys_exactly_m(m: int) -> None:
    cost = 200 * 1000  # one contingent: 200 officers at $1,000 each, no runway, no running costs
    scenario = deterministic(**{
        "funding.initial_balance_usd": m * cost + cost / 2,
        "funding.costs.daily_per_officer_usd": 0,
    })
    rec = simulate(scenario, seed=5)
    assert rec.totals["contingents_flown"] == m
    assert rec.totals["peak_in_theatre"] == 200 * m
    assert rec.totals["spent_usd"] == pytest.approx(m * cost)
    if m < 5:
        assert "lead_100pct" not in rec.milestones


def test_a_pledge_unlocks_the_next_contingent_when_it_lands() -> None:
    cost = 200 * 1000
    scenario = deterministic(**{
        "funding.initial_balance_usd": cost,
        "funding.costs.daily_per_officer_usd": 0,
        "funding.pledges": {"canada": {"amount_usd": 4 * cost, "pledged_on": dt.date(2024, 3, 14), "tranches": 1,
                                       "tranche_lag_days": 100}},
    })
    rec = simulate(scenario, seed=5)
    assert rec.milestones["first_arrival"] == pytest.approx(54)
    # The second contingent leaves on the payment day (400 of 1,000 in theatre), the third a turnaround later.
    assert rec.milestones["lead_25pct"] == pytest.approx(101)
    assert rec.binding["lead_25pct"] == "funding"
    assert rec.milestones["lead_50pct"] == pytest.approx(105)
    assert rec.binding["lead_50pct"] == "airlift"
    assert rec.totals["contingents_flown"] == 5


def test_runway_and_arrears_follow_the_books() -> None:
    # One contingent may leave once the fund holds its cost plus 60 days of running costs at 200 officers.
    daily = 200 * 50 + 0  # $50 per officer-day, no fixed costs
    need = 200 * 1000 + 60 * daily
    scenario = deterministic(**{
        "funding.initial_balance_usd": need,
        "funding.runway_days": 60,
        "funding.costs.daily_per_officer_usd": 50,
        "funding.billing_interval_days": 30,
        "force.pledged_officers": 200,
    })
    rec = simulate(scenario, seed=1)
    arrive = rec.milestones["first_arrival"]
    assert arrive == pytest.approx(54)
    # The fund holds 60 days of running costs after arrival, so the first unpaid bill is the first
    # billing day more than 60 days after arrival; arrears then last to the horizon.
    first_unpaid = 30 * math.floor((arrive + 60) / 30 + 1)
    assert rec.totals["arrears_days"] == pytest.approx(730 - first_unpaid)
    assert rec.totals["spent_usd"] == pytest.approx(need)
    unpaid = (730 - arrive) * daily - 60 * daily
    assert rec.totals["arrears_usd_at_horizon"] == pytest.approx(unpaid - (730 - 720) * daily)


def test_nothing_happens_while_the_administration_never_becomes_viable() -> None:
    rec = simulate(deterministic(**{"governance.viable_administration_days": 5000}), seed=2)
    assert "administration_viable" not in rec.milestones
    assert rec.totals["peak_in_theatre"] == 0
    assert "recon_started" not in rec.milestones


def test_mean_of_viable_administration_matches_theory() -> None:
    """E[viable day] = E[authority] + E[viable after authority]; the batch mean lies within 4 SE."""
    a = LogNormal(dist="lognormal", median=30, p90=90)
    b = LogNormal(dist="lognormal", median=20, p90=60)
    # A horizon of a century so that no replication is censored.
    scenario = deterministic(**{
        "horizon_days": 36500,
        "funding.billing_interval_days": 36500,
        "governance.transitional_authority_days": {"dist": "lognormal", "median": 30, "p90": 90},
        "governance.viable_administration_days": {"dist": "lognormal", "median": 20, "p90": 60},
    })
    days = np.array([simulate(scenario, seed=4, replication=k).milestones["administration_viable"]
                     for k in range(3000)])
    se = days.std(ddof=1) / math.sqrt(len(days))
    assert abs(days.mean() - (a.mean() + b.mean())) < 4 * se
