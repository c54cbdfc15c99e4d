"""Monte Carlo batches: reproducibility, executors, replication reruns and common random numbers."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import derive, load_scenario, run, simulate
from sim.batch.results import censored_quantile
from sim.batch.runner import InProcess, ProcessPool
from sim.model.rng import Streams, replication_sequence

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


def test_same_seed_gives_identical_tables(baseline) -> None:
    a = run(baseline, runs=60, seed=9)
    b = run(baseline, runs=60, seed=9)
    pd.testing.assert_frame_equal(a.replications, b.replications)
    pd.testing.assert_frame_equal(a.bands, b.bands)
    c = run(baseline, runs=60, seed=10)
    assert not a.replications["first_arrival_day"].equals(c.replications["first_arrival_day"])


def test_one_and_two_workers_and_any_chunking_give_identical_tables(baseline) -> None:
    serial = run(baseline, runs=90, seed=4, executor=InProcess(), chunk_size=90)
    pooled = run(baseline, runs=90, seed=4, executor=ProcessPool(2), chunk_size=7)
    pd.testing.assert_frame_equal(serial.replications, pooled.replications)
    pd.testing.assert_frame_equal(serial.bands, pooled.bands)


def test_any_replication_can_be_rerun_alone(baseline) -> None:
    batch = run(baseline, runs=40, seed=12)
    for k in (0, 17, 39):
        row = simulate(baseline, seed=12, replication=k).row()
        expected = batch.replications.iloc[k]
        for key, value in row.items():
            if isinstance(value, float):
                assert value == pytest.approx(expected[key], nan_ok=True), key
            elif value is None:
                assert pd.isna(expected[key]), key
            else:
                assert value == expected[key], key


def test_batch_daily_series_are_the_records_daily_series(baseline) -> None:
    res = run(baseline, runs=12, seed=6, keep_daily=True)
    for k in (0, 5, 11):
        record = simulate(baseline, seed=6, replication=k)
        for name, daily in res.daily.items():
            np.testing.assert_array_equal(daily[k], record.daily(name, baseline.horizon_days))


def test_a_chunk_leaves_the_garbage_collector_as_it_found_it(baseline) -> None:
    before = gc.get_threshold()
    run(baseline, runs=3, seed=1)
    assert gc.get_threshold() == before


def test_streams_of_a_replication_are_distinct_and_reproducible() -> None:
    draws = {names: Streams(8, 4)(*names).random(4).tolist()
             for names in [("funding",), ("funding", "canada"), ("fundingcanada",), ("force", "kenya")]}
    assert len({tuple(d) for d in draws.values()}) == len(draws)
    assert Streams(8, 4)("funding", "canada").random(4).tolist() == draws[("funding", "canada")]
    assert Streams(8, 5)("funding").random(4).tolist() != draws[("funding",)]
    assert Streams(9, 4)("funding").random(4).tolist() != draws[("funding",)]


def test_replication_sequence_is_the_spawned_child() -> None:
    children = np.random.SeedSequence(77).spawn(5)
    assert replication_sequence(77, 3).generate_state(4).tolist() == children[3].generate_state(4).tolist()


def test_streams_are_independent_of_use_order() -> None:
    a, b = Streams(5, 2), Streams(5, 2)
    a("funding").random(10)
    assert a("governance").random() == b("governance").random()
    assert Streams(5, 2)("funding", "canada").random() != Streams(5, 2)("funding", "usa").random()


def test_common_random_numbers_across_scenarios(baseline) -> None:
    """Changing the airport leaves the governance and recon draws of every replication untouched."""
    variant = derive(baseline, {"logistics.airport.closed_at_start": False})
    a = run(baseline, runs=50, seed=3).replications
    b = run(variant, runs=50, seed=3).replications
    for column in ("administration_viable_day", "recon_done_day"):
        np.testing.assert_array_equal(a[column], b[column])
    assert not np.array_equal(a["airport_closed_days"], b["airport_closed_days"])


def test_bands_are_ordered_and_match_daily_quantiles(baseline) -> None:
    res = run(baseline, runs=80, seed=2, keep_daily=True)
    band = res.series_band("in_theatre")
    assert len(band) == baseline.horizon_days + 1
    assert (band["p10"] <= band["p25"]).all() and (band["p25"] <= band["p50"]).all()
    assert (band["p50"] <= band["p75"]).all() and (band["p75"] <= band["p90"]).all()
    day = 200
    assert band.loc[day, "p50"] == pytest.approx(np.quantile(res.daily["in_theatre"][:, day], 0.5))
    assert band["date"].iloc[0] == pd.Timestamp(baseline.start_date)


def test_censored_quantile_reports_after_horizon() -> None:
    days = np.array([10.0, 20.0, 30.0, np.nan, np.nan])
    assert censored_quantile(days, 0.5) == 30.0
    assert np.isnan(censored_quantile(days, 0.8))


def test_summary_shares_and_cis(baseline) -> None:
    res = run(baseline, runs=100, seed=1)
    milestones = res.milestone_summary().set_index("milestone")
    reached = res.replications["first_arrival_day"].notna().mean()
    assert milestones.loc["first_arrival", "share_reached"] == reached
    assert milestones.loc["first_arrival", "p50_date"] == pd.Timestamp(
        baseline.date_of(milestones.loc["first_arrival", "p50_day"]))
    totals = res.totals_summary().set_index("total")
    mean = res.replications["officer_days"].mean()
    assert totals.loc["officer_days", "ci95_low"] < mean < totals.loc["officer_days", "ci95_high"]


def test_bad_batch_arguments(baseline) -> None:
    with pytest.raises(ValueError, match="runs"):
        run(baseline, runs=0)
    with pytest.raises(ValueError, match="seed"):
        run(baseline, runs=5, seed=-1)
