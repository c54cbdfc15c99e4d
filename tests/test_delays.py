"""Where the days went: each milestone's critical path splits its days into causes that add up exactly.

Constructed cases on ``tests/data/deterministic.toml`` (every duration fixed) have known answers: a
serial chain gives each cause exactly its days, a short airlift wait after a long funding wait gives
the airlift its few days and funding the rest, a late administration upstream of the base shows as
the administration (not as the base), and of two parallel paths only the critical one is charged.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from sim import load_scenario, run, simulate
from sim.model.critical import EMPTY, after_waits, chain_end, cut, days_by_cause, extend

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "scenarios").glob("*.toml"))
DETERMINISTIC = Path(__file__).resolve().parent / "data" / "deterministic.toml"

# The deterministic scenario: authority named at 20, viable 15 later, the recon leaves 10 days after
# that and takes 8 (done on day 53); cohorts train 30 days; a flight takes 1 day and the airlift 4
# days between departures; 5 contingents of 200.
SERIAL = {"transition": 20.0, "administration": 15.0, "reconnaissance": 18.0}


def deterministic(**changes: object):
    return load_scenario(DETERMINISTIC, changes)


def path_days(scenario, milestone: str, replication: int = 0) -> dict[str, float]:
    record = simulate(scenario, seed=1, replication=replication)
    assert milestone in record.critical_paths, f"{milestone} not reached"
    return days_by_cause(record.critical_paths[milestone])


def check_chain(chain, day: float) -> None:
    """Segments follow each other from day 0 without gap or overlap and end on the milestone's day."""
    assert chain[0][1] == 0.0 if chain else day == 0.0
    for (_, _, end), (_, start, _) in zip(chain, chain[1:], strict=False):
        assert start == end
    for cause, start, end in chain:
        assert end > start, (cause, start, end)
    assert chain_end(chain) == day


# -- the invariant ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_every_milestone_adds_up_to_its_day_in_every_library_scenario(path: Path) -> None:
    scenario = load_scenario(path)
    for k in range(40):
        record = simulate(scenario, seed=3, replication=k)
        assert set(record.critical_paths) == set(record.milestones)
        for milestone, chain in record.critical_paths.items():
            check_chain(chain, record.milestones[milestone])


def test_the_batch_delay_table_adds_up_to_each_milestone_day() -> None:
    results = run(load_scenario(ROOT / "scenarios" / "baseline.toml"), runs=60, seed=5)
    sums = results.delays.groupby(["replication", "milestone"])["days"].sum()
    for (k, milestone), total in sums.items():
        day = results.replications.loc[k, f"{milestone}_day"]
        assert math.isclose(total, day, rel_tol=1e-12, abs_tol=1e-9), (k, milestone, total, day)
    reached = results.replications.filter(like="_day").notna().sum().sum()
    # Every reached milestone has a path (those reached on day 0 have an empty one and no rows).
    assert sums.size <= reached
    table = results.delay_summary()
    totals = table.groupby("milestone")[["mean_days", "milestone_mean_day"]].agg({"mean_days": "sum",
                                                                                   "milestone_mean_day": "first"})
    np.testing.assert_allclose(totals["mean_days"], totals["milestone_mean_day"], rtol=1e-9)
    assert ((table["share_with_days"] > 0) & (table["share_with_days"] <= 1)).all()


# -- constructed cases -----------------------------------------------------------------------------


def test_a_serial_chain_gives_each_cause_exactly_its_days() -> None:
    scenario = deterministic()
    assert path_days(scenario, "recon_done") == SERIAL
    assert path_days(scenario, "first_arrival") == {**SERIAL, "flight": 1.0}
    # Five contingents leave 4 days apart from day 53: the airlift holds the last one 16 days.
    assert path_days(scenario, "lead_100pct") == {**SERIAL, "airlift": 16.0, "flight": 1.0}


def test_a_short_airlift_wait_after_a_long_funding_wait() -> None:
    scenario = deterministic(**{
        "funding.initial_balance_usd": 0,
        "funding.pledges": {"donor": {"amount_usd": 1e12, "pledged_on": dt.date(2024, 3, 14), "tranche_lag_days": 100}},
    })
    # Money arrives on day 100, 47 days after the recon is done; then the airlift spaces the departures.
    assert path_days(scenario, "first_arrival") == {**SERIAL, "funding": 47.0, "flight": 1.0}
    assert path_days(scenario, "lead_100pct") == {**SERIAL, "funding": 47.0, "airlift": 16.0, "flight": 1.0}


def test_a_late_administration_upstream_of_the_base_shows_as_the_administration() -> None:
    scenario = deterministic(**{
        "governance.viable_administration_days": 200,
        "base": {"initial_capacity_officers": 0, "starts_after": "recon_done",
                 "stages": [{"capacity_officers": 1000, "cost_usd": 0, "duration_days": 30}]},
    })
    record = simulate(scenario, seed=1)
    # The old answer: the first landing last waited for the base.
    assert record.binding["first_arrival"] == "base"
    assert days_by_cause(record.critical_paths["first_arrival"]) == {
        "transition": 20.0, "administration": 200.0, "reconnaissance": 18.0, "base construction": 30.0, "flight": 1.0,
    }


def test_of_parallel_paths_only_the_critical_one_is_charged() -> None:
    # Training (100 days, from day 0) outlasts the administration and the recon (done on day 53).
    assert path_days(deterministic(**{"force.training.duration_days": 100}), "first_arrival") == {
        "training": 100.0, "flight": 1.0,
    }
    # Training (30 days) is done before the recon: it is not charged at all.
    assert "training" not in path_days(deterministic(), "first_arrival")


def test_a_gate_charges_its_own_delay_after_its_dependency() -> None:
    scenario = deterministic(**{
        "gates": {"status_agreement": {"after": ["administration_viable"], "opens_after_days": 40}},
        "steps": {"departure": ["status_agreement"]},
    })
    # The gate opens on day 75, after the recon (day 53): its path is the administration's, then 40 days.
    assert path_days(scenario, "first_arrival") == {
        "transition": 20.0, "administration": 15.0, "status_agreement": 40.0, "flight": 1.0,
    }


def test_an_airport_closure_is_charged_only_the_days_it_was_waited_for() -> None:
    scenario = deterministic(**{"logistics.airport": {"closed_at_start": True, "closures_per_year": 0,
                                                      "closure_days": 0, "initial_closure_days": 70}})
    # Closed until day 70: the first flight, ready on day 53, waits 17 days for it.
    assert path_days(scenario, "first_arrival") == {**SERIAL, "airport": 17.0, "flight": 1.0}


# -- the chain operations --------------------------------------------------------------------------


class _Plain:
    def __init__(self, name: str):
        self.name = name

    def opening_chain(self, day: float):
        return None


class _Task(_Plain):
    def __init__(self, name: str, chain):
        super().__init__(name)
        self.chain = chain

    def opening_chain(self, day: float):
        return self.chain


def test_walking_back_stops_at_the_first_task_and_charges_plain_waits_by_name() -> None:
    start = extend(EMPTY, "training", 30.0)
    task = _Task("administration", extend(extend(EMPTY, "transition", 20.0), "administration", 35.0))
    waits = [(_Plain("funding"), 30.0, 32.0), (task, 32.0, 35.0), (_Plain("airport"), 35.0, 50.0)]
    chain = after_waits(start, waits)
    assert chain == (("transition", 0.0, 20.0), ("administration", 20.0, 35.0), ("airport", 35.0, 50.0))
    # Without a task among them, every wait is charged after the step's own path.
    plain = after_waits(start, [waits[0], (_Plain("airport"), 32.0, 50.0)])
    assert days_by_cause(plain) == {"training": 30.0, "funding": 2.0, "airport": 18.0}
    assert cut(chain, 25.0) == (("transition", 0.0, 20.0), ("administration", 20.0, 25.0))
    assert extend(chain, "airport", 60.0)[-1] == ("airport", 35.0, 60.0)


# -- counterfactuals -------------------------------------------------------------------------------


def test_removing_a_cause_of_a_serial_chain_shifts_the_milestone_by_its_ledger_days() -> None:
    from sim.analysis.explain import explain

    # Random durations on a serial chain (transition, administration, recon; training never binds):
    # removing a cause gains exactly the days the ledger charged it, run by run.
    scenario = deterministic(**{
        "governance.transitional_authority_days": {"dist": "uniform", "low": 10, "high": 60},
        "governance.viable_administration_days": {"dist": "triangular", "low": 5, "mode": 15, "high": 40},
        "reconnaissance.duration_days": {"dist": "uniform", "low": 4, "high": 12},
        "force.training.duration_days": 1,
    })
    result = explain(scenario, "first_arrival", runs=60, seed=4, causes=["transition", "administration"],
                     interactions=2)
    table = result.table.set_index("cause")
    ledger = result.base.delays
    ledger = ledger[ledger["milestone"] == "first_arrival"].groupby("cause")["days"].sum() / 60
    for cause in ("transition", "administration"):
        row = table.loc[cause]
        assert row["rmean_ci95_low"] - 1e-9 <= -ledger[cause] <= row["rmean_ci95_high"] + 1e-9
        assert math.isclose(row["rmean_shift_days"], -row["ledger_mean_days"], rel_tol=1e-9)
    # In series, the two gains add up: no interaction.
    assert abs(float(result.interactions["interaction_days"].iloc[0])) < 1e-9


def test_explain_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim.commands.main import main

    out = tmp_path / "explain"
    code = main(["explain", str(DETERMINISTIC), "--runs", "5", "--causes", "transition,airlift",
                 "--interactions", "0", "--out", str(out), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "transition" in text and "-20.0 d" in text
    assert {"explain.csv", "interactions.csv", "delays_summary.csv", "manifest.json"} <= {p.name for p in out.iterdir()}
    assert main(["explain", str(DETERMINISTIC), "--causes", "nonsense", "--out", str(tmp_path / "x")]) == 2


def test_paired_changes_per_cause_add_up_to_the_paired_change_of_the_milestone() -> None:
    from sim.analysis.compare import paired_delays, paired_differences

    base = run(load_scenario(ROOT / "scenarios" / "baseline.toml"), runs=80, seed=9)
    other = run(load_scenario(ROOT / "scenarios" / "airport_reopens.toml"), runs=80, seed=9)
    by_cause = paired_delays(base, other).groupby("milestone")["mean_diff_days"].sum()
    whole = paired_differences(base, other, list(by_cause.index)).set_index("milestone")["mean_diff_days"]
    np.testing.assert_allclose(by_cause.to_numpy(), whole.loc[by_cause.index].to_numpy(), atol=1e-9)
    table = paired_delays(base, other).set_index(["milestone", "cause"])
    # Reopening the airport takes the airport's days off the first landing's path and adds none.
    assert table.loc[("first_arrival", "airport"), "mean_days"] == 0.0
    assert table.loc[("first_arrival", "airport"), "mean_diff_days"] < 0


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_every_removal_is_a_valid_scenario(path: Path) -> None:
    from sim.analysis.explain import removals
    from sim.scenario.loader import derive

    scenario = load_scenario(path)
    for cause, changes in removals(scenario).items():
        derive(scenario, changes)  # raises ScenarioError if a removal breaks a bound of the schema
        assert cause
