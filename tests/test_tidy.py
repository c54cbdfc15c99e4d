"""Notebook and tidy-data views of Results: a short repr, an HTML summary, a long milestone table,
labelled Parquet files that read as one dataset, and an xarray Dataset of the daily series."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim import derive, load_scenario, run, save_results
from sim.batch.store import parquet_labels, read_tables
from sim.scenario.milestones import GATED_MILESTONES, MILESTONES

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"


@pytest.fixture(scope="module")
def results():
    return run(load_scenario(BASELINE, ["horizon_days=400"]), runs=12, seed=5, keep_daily=True, progress=False)


def test_repr_is_one_short_line_and_html_shows_the_summary(results) -> None:
    assert repr(results) == "<Results 'baseline': 12 runs, seed 5, 2024-03-14 to 2025-04-18>"
    page = results._repr_html_()
    assert page.startswith("<p>&lt;Results &#x27;baseline&#x27;: 12 runs")
    assert re.findall(r"<th>(.*?)</th>", page) == ["milestone", "P10", "P50", "P80", "P90", "reached"]
    cells = re.findall(r"<td>(.*?)</td>", page)
    assert cells[::6] == list(MILESTONES.values())
    assert len(page) < 10_000


def test_milestones_long_has_one_row_per_replication_and_milestone(results) -> None:
    long = results.milestones_long()
    assert len(long) == 12 * len(MILESTONES)
    wide = results.replications.set_index("replication")
    for row in long.sample(40, random_state=1).itertuples():
        day = wide.loc[row.replication, f"{row.milestone}_day"]
        assert row.reached == (not np.isnan(day))
        if row.reached:
            assert row.day == day and row.date.date() == results.scenario.date_of(day)
        else:
            assert np.isnan(row.day) and pd.isna(row.date)
        if row.milestone in GATED_MILESTONES and row.reached:
            assert row.binding == wide.loc[row.replication, f"{row.milestone}_binding"]
        if row.milestone not in GATED_MILESTONES:
            assert pd.isna(row.binding)


def test_stored_parquet_files_name_their_run_and_read_as_one_dataset(results, tmp_path: Path) -> None:
    other = run(derive(results.scenario, {"name": "thin", "funding.runway_days": 30}), runs=12, seed=5,
                progress=False)
    first = save_results(results, root=tmp_path, run_id="one")
    second = save_results(other, root=tmp_path, run_id="two")
    labels = parquet_labels(first / "replications.parquet")
    assert labels == {"scenario": "baseline", "seed": "5", "runs": "12", "run_id": "one"}
    assert parquet_labels(second / "bands.parquet")["scenario"] == "thin"
    assert b"pandas" in pq.read_schema(first / "replications.parquet").metadata, "pandas' own metadata kept"
    both = read_tables([first, second])
    assert both.groupby("scenario").size().to_dict() == {"baseline": 12, "thin": 12}
    assert set(both["run_id"]) == {"one", "two"}
    pd.testing.assert_frame_equal(both[both["run_id"] == "one"].drop(columns=["scenario", "run_id"]),
                                  results.replications)
    # The long tables' labels stay Categoricals across runs whose labels differ, each run's rows unchanged.
    for table, column in (("delays", "cause"), ("strength", "contributor")):
        joined = read_tables([first, second], table)
        assert isinstance(joined[column].dtype, pd.CategoricalDtype), table
        for run_id, res in (("one", results), ("two", other)):
            own = joined[joined["run_id"] == run_id].drop(columns=["scenario", "run_id"]).reset_index(drop=True)
            expected = getattr(res, table)
            for name in expected.columns:
                assert own[name].astype(object).tolist() == expected[name].astype(object).tolist(), (table, name)


def test_to_xarray_holds_bands_and_every_replication(results) -> None:
    xr = pytest.importorskip("xarray")
    ds = results.to_xarray()
    assert isinstance(ds, xr.Dataset)
    band = results.series_band("in_theatre")
    np.testing.assert_array_equal(ds["band"].sel(series="in_theatre", quantile=0.5).to_numpy(), band["p50"])
    np.testing.assert_array_equal(ds["value"].sel(series="in_theatre").to_numpy(), results.daily["in_theatre"])
    assert ds.attrs["scenario"] == "baseline" and ds.sizes["replication"] == 12
    assert pd.Timestamp(ds["date"].to_numpy()[0]) == pd.Timestamp("2024-03-14")
