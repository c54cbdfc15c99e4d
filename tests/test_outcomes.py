"""Outcomes users ask for: officers present against plan at dates, ``strength>=X@DATE`` deadlines, the
lead's peak strength and its day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run, simulate
from sim.analysis.compare import (
    ComparisonError,
    compare,
    parse_strength_target,
    split_deadlines,
    strength_probabilities,
)
from sim.batch.results import checkpoint_dates
from sim.commands.main import main

DETERMINISTIC = Path(__file__).resolve().parent / "data" / "deterministic.toml"
# The deterministic scenario's flights land on days 54, 58, 62, 66 and 70, 200 officers each (see test_story).
LANDINGS = [54, 58, 62, 66, 70]


def deterministic(**changes: object):
    return load_scenario(DETERMINISTIC, changes)


def test_checkpoints_are_every_six_months_within_the_horizon() -> None:
    scenario = load_scenario("baseline")
    assert [d.isoformat() for d in checkpoint_dates(scenario)] == [
        "2024-09-14", "2025-03-14", "2025-09-14", "2026-03-14"]
    extra = [dt.date(2024, 12, 31), dt.date(2030, 1, 1), dt.date(2024, 1, 1)]
    assert dt.date(2024, 12, 31) in checkpoint_dates(scenario, extra)
    assert len(checkpoint_dates(scenario, extra)) == 5  # dates outside the simulated period are dropped


def test_strength_at_checkpoints_is_each_replications_own_series() -> None:
    scenario = load_scenario("baseline", ["horizon_days=400"])
    date = dt.date(2024, 12, 31)
    res = run(scenario, runs=12, seed=5, progress=False, strength_dates=[date])
    day = int(scenario.day_of(date))
    for k in range(12):
        record = simulate(scenario, seed=5, replication=k)
        assert res.strength_on(date)[k] == record.daily("in_theatre", 400)[day]
        assert res.strength_on(date, "Kenya")[k] == record.daily("in_theatre.Kenya", 400)[day]
    with pytest.raises(KeyError, match="not kept"):
        res.strength_on(dt.date(2024, 12, 30))


def test_deterministic_strength_and_peak_day_are_exact() -> None:
    scenario = deterministic()
    start = scenario.start_date
    dates = [start + dt.timedelta(days=d) for d in (53, 54, 60, 70)]
    res = run(scenario, runs=3, seed=1, progress=False, strength_dates=dates)
    expected = {53: 0, 54: 200, 60: 400, 70: 1000}
    for date, (day, officers) in zip(dates, expected.items(), strict=True):
        assert (res.strength_on(date) == officers).all(), day
    assert (res.replications["peak_day_lead"] == LANDINGS[-1]).all()
    assert (res.replications["peak_in_theatre_lead"] == 1000).all()
    targets = split_deadlines([f"strength>=400@{dates[2]}", f"strength.Kenya>=401@{dates[2]}"])[1]
    table = strength_probabilities(res, targets)
    assert table["probability"].tolist() == [1.0, 0.0]


def test_strength_summary_is_against_plan() -> None:
    scenario = deterministic()
    res = run(scenario, runs=2, seed=1, progress=False)
    table = res.strength_summary()
    lead = table[table["contributor"] == scenario.force.lead_contributor]
    assert (lead["plan"] == 1000).all() and (lead["p50"] == 1000).all() and (lead["p_at_plan"] == 1.0).all()
    every = table[table["contributor"] == "all"]
    assert (every["plan"] == scenario.mission_size_officers).all()
    np.testing.assert_allclose(every["p50_share_of_plan"], 1000 / scenario.mission_size_officers)


def test_the_probability_is_the_share_of_runs_meeting_the_target() -> None:
    scenario = load_scenario("baseline", ["horizon_days=400"])
    date = dt.date(2025, 1, 31)
    res = run(scenario, runs=60, seed=3, progress=False, strength_dates=[date])
    [target] = split_deadlines([f"strength>=600@{date}"])[1]
    row = strength_probabilities(res, [target]).iloc[0]
    assert row["probability"] == pytest.approx(float((res.strength_on(date) >= 600).mean()))
    assert row["ci95_low"] <= row["probability"] <= row["ci95_high"]


@pytest.mark.parametrize("text, message", [
    ("strength>=500@2024-02-30", "not a date"),
    ("strength>=lots@2024-12-31", "expected strength>=OFFICERS@YYYY-MM-DD"),
])
def test_bad_strength_deadlines_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ComparisonError, match=message):
        split_deadlines([text])


def test_a_target_outside_the_run_or_for_an_unknown_contributor_is_refused() -> None:
    res = run(deterministic(), runs=2, seed=1, progress=False)
    with pytest.raises(ComparisonError, match="after the horizon"):
        strength_probabilities(res, [parse_strength_target("strength>=1@2100-01-01")])
    with pytest.raises(ComparisonError, match="no contributor 'Atlantis'"):
        strength_probabilities(res, [parse_strength_target("strength.Atlantis>=1@2024-06-01")])


def test_compare_pairs_strength_targets() -> None:
    base = load_scenario("baseline", ["horizon_days=400"])
    date = dt.date(2025, 1, 31)
    c = compare([base, "plan_as_announced"], runs=30, seed=2, progress=False, overrides=["horizon_days=400"],
                strength_targets=split_deadlines([f"strength>=500@{date}"])[1])
    table = c.strength_deadlines.set_index("scenario")
    change = table.loc["plan_as_announced", "change"]
    assert change == pytest.approx(table.loc["plan_as_announced", "probability"] - table.loc["baseline", "probability"])


def test_run_command_writes_strength_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    code = main(["run", str(DETERMINISTIC), "--runs", "3", "--quiet", "--no-plots", "--out", str(out),
                 "--deadline", "strength>=400@2024-05-01"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "against plan" in printed and "400 or more officers of all contributors" in printed
    table = pd.read_csv(out / "strength_deadlines.csv")
    assert table["officers"].tolist() == [400]
    assert (out / "strength_summary.csv").is_file()
