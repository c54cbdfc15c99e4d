"""Batches at scale: bands from mergeable counts (exact for whole numbers, a stated error for money),
the resume journal, and slices of a batch merged into one run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run, simulate
from sim.batch.results import BAND_QUANTILES, bands_from_daily, checkpoint_dates, strength_frame
from sim.batch.runner import _replications_frame
from sim.batch.sketch import (
    MONEY_ABSOLUTE_ERROR_USD,
    MONEY_RELATIVE_ERROR,
    ChunkSketcher,
    SeriesSketch,
    decode,
    encode,
    is_money,
    load_sketches,
    save_sketches,
)

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


@pytest.fixture(scope="module")
def batch(baseline):
    """A batch with its dense daily grid, in uneven chunks."""
    return run(baseline, runs=80, seed=5, keep_daily=True, chunk_size=7, progress=False)


def _sketch_of(series: str, rows: np.ndarray) -> SeriesSketch:
    sketcher = ChunkSketcher(series, rows.shape[1])
    for row in rows:
        sketcher.add(row)
    sketch = SeriesSketch(series, rows.shape[1])
    sketch.add(sketcher.result())
    return sketch


# -- Counts of whole numbers: numpy's quantiles exactly ---------------------------------------


def test_counted_quantiles_are_numpys_on_a_constructed_grid() -> None:
    rows = np.array([[0, 0, 3, 3, 7], [1, 1, 1, 2, 2], [0, 5, 5, 5, 9], [4, 4, 4, 4, 4]], dtype=float)
    sketch = _sketch_of("in_theatre", rows)
    quantiles = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    np.testing.assert_array_equal(sketch.quantiles(quantiles), np.quantile(rows, quantiles, axis=0))
    np.testing.assert_array_equal(sketch.mean(), rows.mean(axis=0))
    np.testing.assert_array_equal(sketch.counts().sum(axis=1), [4] * 5)


def test_a_day_without_a_value_has_no_quantile_as_in_numpy() -> None:
    rows = np.array([[np.nan, 2, 2], [1, 1, np.nan], [3, 3, 3]])
    sketch = _sketch_of("in_theatre", rows)
    np.testing.assert_array_equal(sketch.quantiles(BAND_QUANTILES), np.quantile(rows, BAND_QUANTILES, axis=0))
    np.testing.assert_array_equal(sketch.mean(), rows.mean(axis=0))


def test_sketches_of_slices_merge_into_the_sketch_of_the_whole() -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(-3, 40, size=(57, 30)).astype(float)
    whole = _sketch_of("base_capacity", rows)
    merged = _sketch_of("base_capacity", rows[:20])
    merged.merge(_sketch_of("base_capacity", rows[20:]))
    np.testing.assert_array_equal(merged.quantiles(BAND_QUANTILES), whole.quantiles(BAND_QUANTILES))
    np.testing.assert_array_equal(merged.quantiles(BAND_QUANTILES), np.quantile(rows, BAND_QUANTILES, axis=0))
    np.testing.assert_array_equal(merged.mean(), rows.mean(axis=0))


def test_a_whole_number_series_that_is_not_whole_is_refused() -> None:
    with pytest.raises(ValueError, match="whole numbers"):
        _sketch_of("in_theatre", np.array([[1.0, 1.5]]))


def test_batch_bands_of_whole_number_series_are_the_dense_bands_exactly(baseline, batch) -> None:
    dense = bands_from_daily(batch.daily, baseline.start_date)
    for name in batch.daily:
        if is_money(name):
            continue
        pd.testing.assert_frame_equal(batch.series_band(name), dense[dense["series"] == name].reset_index(drop=True),
                                      check_exact=True)


# -- Money: fine logarithmic bins, with a stated error ----------------------------------------


def test_money_codes_stand_for_values_within_the_stated_error() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([[0.0, 0.3, -0.7, 1.0, -1.0, 2.0**40], rng.lognormal(12, 6, 5000),
                             -rng.lognormal(8, 3, 500)])
    back = decode("fund_balance_usd", encode("fund_balance_usd", values))
    small = np.where(np.abs(values) < 1, MONEY_ABSOLUTE_ERROR_USD, 0)
    bound = MONEY_RELATIVE_ERROR * np.abs(values) * (1 + 1e-9) + small
    assert np.all(np.abs(back - values) <= bound)
    assert back[0] == 0.0
    assert MONEY_RELATIVE_ERROR < 0.003


def test_batch_money_bands_are_within_the_stated_error_of_the_dense_bands(baseline, batch) -> None:
    grid = batch.daily["fund_balance_usd"]
    band = batch.series_band("fund_balance_usd")
    ordered = np.sort(grid, axis=0)
    n = len(grid)
    for q in BAND_QUANTILES:
        exact = np.quantile(grid, q, axis=0)
        j = int(np.floor((n - 1) * q))
        size = np.maximum(np.abs(ordered[j]), np.abs(ordered[min(j + 1, n - 1)]))
        error = np.abs(band[f"p{round(q * 100)}"].to_numpy() - exact)
        assert np.all(error <= MONEY_RELATIVE_ERROR * size * (1 + 1e-9) + MONEY_ABSOLUTE_ERROR_USD)
    # The mean is that of the values in whole cents.
    np.testing.assert_allclose(band["mean"].to_numpy(), grid.mean(axis=0), rtol=0, atol=0.005 + 1e-6)


# -- The other tables are those of the dense grid and of the records ---------------------------


def test_strength_checkpoints_are_those_of_the_dense_grid(baseline, batch) -> None:
    pd.testing.assert_frame_equal(batch.strength, strength_frame(batch.daily, baseline, checkpoint_dates(baseline)),
                                  check_exact=True)


def test_replications_are_the_records_rows_in_one_frame(baseline, batch) -> None:
    expected = _replications_frame(simulate(baseline, 5, k).row() for k in range(80))
    pd.testing.assert_frame_equal(batch.replications, expected, check_exact=True)


def test_without_the_dense_grid_the_tables_are_the_same(baseline, batch) -> None:
    lean = run(baseline, runs=80, seed=5, chunk_size=13, progress=False)
    assert lean.daily is None
    for table in ("replications", "bands", "strength", "delays"):
        pd.testing.assert_frame_equal(getattr(lean, table), getattr(batch, table), check_exact=True)


def test_stored_sketches_read_back_equal(tmp_path, batch) -> None:
    path = tmp_path / "sketch.npz"
    assert batch.sketches is not None
    save_sketches(batch.sketches, str(path))
    back = load_sketches(str(path))
    assert list(back) == list(batch.sketches)
    for name, sketch in batch.sketches.items():
        np.testing.assert_array_equal(back[name].quantiles(BAND_QUANTILES), sketch.quantiles(BAND_QUANTILES))
        np.testing.assert_array_equal(back[name].mean(), sketch.mean())
