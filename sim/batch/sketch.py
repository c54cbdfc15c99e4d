"""Mergeable per-day summaries of a batch's step series: the daily bands without the daily grid.

A worker reduces its chunk to a :class:`ChunkSketch` per series (how many replications had each value
on each day, as sparse changes along the days); the parent adds them into a :class:`SeriesSketch`,
whose memory depends on the horizon and the range of values, never on the number of replications.
Whole-number series (officers, base capacity) are counted exactly, so their quantiles are exactly
numpy's (``method="linear"``) on the dense grid. Money (:data:`MONEY_SERIES`) is counted in fine
logarithmic bins: see :data:`MONEY_RELATIVE_ERROR` for the error of its quantiles.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

#: Series holding amounts of money; every other series holds whole numbers and is counted exactly.
MONEY_SERIES = frozenset({"fund_balance_usd"})
#: Ratio of the edges of successive money bins: 128 bins per doubling.
MONEY_BIN_RATIO = 2.0 ** (1 / 128)
#: A money value ``v`` with ``|v| >= 1`` US$ is represented by its bin's geometric middle, within
#: ``MONEY_RELATIVE_ERROR * |v|`` of it (about 0.27%); values between 0 and 1 US$ in size by +-1.0027 US$
#: (within :data:`MONEY_ABSOLUTE_ERROR_USD`); zero exactly. A money quantile, which interpolates between
#: two order statistics ``x_j`` and ``x_j+1``, is within ``MONEY_RELATIVE_ERROR * max(|x_j|, |x_j+1|)
#: + MONEY_ABSOLUTE_ERROR_USD`` of numpy's. The mean is that of the values rounded to whole cents.
MONEY_RELATIVE_ERROR = math.sqrt(MONEY_BIN_RATIO) - 1.0
#: Absolute part of the money error bound, US$ (values smaller than 1 US$ share the first bin).
MONEY_ABSOLUTE_ERROR_USD = 1.01
_LOG_RATIO = math.log(MONEY_BIN_RATIO)
#: Largest whole-number value counted exactly (larger ones are refused rather than rounded).
MAX_EXACT_VALUE = 2**31 - 1


def is_money(series: str) -> bool:
    """Whether ``series`` is counted in money bins (rather than exactly)."""
    return series in MONEY_SERIES


def encode(series: str, values: np.ndarray) -> np.ndarray:
    """The code of each (finite) value: the value itself for whole-number series, the signed bin for money.

    Raises:
        ValueError: If a whole-number series holds a value that is not a whole number within +-2**31.
    """
    if not is_money(series):
        if len(values) and not (values.min() >= -MAX_EXACT_VALUE and values.max() <= MAX_EXACT_VALUE):
            raise ValueError(f"series {series!r} holds values beyond +-{MAX_EXACT_VALUE}; it cannot be counted exactly")
        codes = values.astype(np.int64)
        if not np.array_equal(codes, values):
            raise ValueError(f"series {series!r} should hold whole numbers; it cannot be counted exactly")
        return codes
    size = np.abs(values)
    with np.errstate(divide="ignore"):
        bins = 1 + np.floor(np.log(np.maximum(size, 1.0)) / _LOG_RATIO).astype(np.int64)
    return np.where(size == 0, 0, np.sign(values).astype(np.int64) * bins)


def decode(series: str, codes: np.ndarray) -> np.ndarray:
    """The value each code stands for (the bin's geometric middle for money)."""
    if not is_money(series):
        return codes.astype(float)
    size = np.exp((np.abs(codes) - 0.5) * _LOG_RATIO)
    return np.where(codes == 0, 0.0, np.sign(codes) * size)


@dataclass
class ChunkSketch:
    """One chunk's counts of one series, as a worker sends them.

    ``days[i], codes[i], weights[i]``: from day ``days[i]`` on, ``weights[i]`` more replications (or
    fewer, if negative) hold the value of code ``codes[i]``. ``nan_days``: per day, replications without a
    value (None when there are none). ``sum_cents``: per day, the sum of the money values in whole cents
    (money series only; whole-number series take their sums from the counts).
    """

    n: int
    days: np.ndarray
    codes: np.ndarray
    weights: np.ndarray
    nan_days: np.ndarray | None = None
    sum_cents: list[int] | None = None


def sketch_rows(series: str, rows: np.ndarray) -> ChunkSketch:
    """The counts of a chunk's daily rows of one series, ``rows`` (replications, days), NaN for no value.

    Vectorised over the chunk: a replication adds +1 at the first day of each run of equal codes and
    -1 where that run ends.
    """
    n, n_days = rows.shape
    missing = np.isnan(rows)
    any_missing = bool(missing.any())
    sentinel = np.iinfo(np.int64).min
    if any_missing:
        codes = np.full(rows.shape, sentinel, dtype=np.int64)
        codes[~missing] = encode(series, rows[~missing])
    else:
        codes = encode(series, rows.ravel()).reshape(rows.shape)
    changed = np.empty(rows.shape, dtype=bool)
    changed[:, 0] = True
    np.not_equal(codes[:, 1:], codes[:, :-1], out=changed[:, 1:])
    start_r, start_d = np.nonzero(changed)
    start_codes = codes[start_r, start_d]
    inner = start_d > 0
    end_r, end_d = start_r[inner], start_d[inner]
    end_codes = codes[end_r, end_d - 1]
    days = np.concatenate([start_d, end_d])
    all_codes = np.concatenate([start_codes, end_codes])
    weights = np.concatenate([np.ones(len(start_d), dtype=np.int64), -np.ones(len(end_d), dtype=np.int64)])
    if any_missing:
        keep = all_codes != sentinel
        days, all_codes, weights = days[keep], all_codes[keep], weights[keep]
    nan_days = missing.sum(axis=0).astype(np.int64) if any_missing else None
    sum_cents = _cents_sums(rows, missing) if is_money(series) else None
    if not len(days):
        empty = np.zeros(0, dtype=np.int64)
        return ChunkSketch(n, empty.astype(np.int32), empty, empty.astype(np.int32), nan_days, sum_cents)
    low = int(all_codes.min())
    width = int(all_codes.max()) - low + 1
    # One key per (day, code); the chunk's changes of one key add up.
    keys, inverse = np.unique(days.astype(np.int64) * width + (all_codes - low), return_inverse=True)
    summed = np.bincount(inverse, weights=weights, minlength=len(keys)).astype(np.int64)
    nonzero = summed != 0
    keys = keys[nonzero]
    return ChunkSketch(n, (keys // width).astype(np.int32), keys % width + low, summed[nonzero].astype(np.int32),
                       nan_days, sum_cents)


def _cents_sums(rows: np.ndarray, missing: np.ndarray) -> list[int]:
    """Per day, the exact sum of the rows' values in whole cents (NaN counting 0)."""
    cents = np.round(np.where(missing, 0.0, rows) * 100.0)
    if not cents.size:
        return [0] * rows.shape[1]
    if float(np.abs(cents).max()) * len(rows) < 2.0**62:
        return [int(v) for v in cents.astype(np.int64).sum(axis=0)]
    return [sum(int(v) for v in column) for column in cents.T.tolist()]


class ChunkSketcher:
    """Builds a :class:`ChunkSketch` from one replication's daily row at a time."""

    def __init__(self, series: str, days: int):
        self.series = series
        self.n_days = days
        self._rows: list[np.ndarray] = []

    @property
    def n(self) -> int:
        """Replications added."""
        return len(self._rows)

    def add(self, row: np.ndarray) -> None:
        """Count one replication's value at the end of each day (NaN: no value)."""
        self._rows.append(np.array(row, dtype=float))

    def result(self) -> ChunkSketch:
        """The chunk's counts."""
        rows = np.stack(self._rows) if self._rows else np.zeros((0, self.n_days))
        return sketch_rows(self.series, rows)


@dataclass
class SeriesSketch:
    """All replications' counts of one series: per day and code, as differences along the days.

    Attributes:
        series: The series' name.
        n_days: Days of the grid (horizon + 1).
        n: Replications counted.
        offset: Code of the first column of ``diff``.
        diff: (n_days, codes) counts; the counts on day d are the sum of rows 0..d.
        nan_days: Per day, replications without a value.
        sum_cents: Per day, the exact sum of money values in cents (money only).
    """

    series: str
    n_days: int
    n: int = 0
    offset: int = 0
    diff: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    nan_days: np.ndarray | None = None
    sum_cents: list[int] | None = None

    def __post_init__(self) -> None:
        if self.diff.shape[0] != self.n_days:
            self.diff = np.zeros((self.n_days, 0), dtype=np.int64)
        if self.nan_days is None:
            self.nan_days = np.zeros(self.n_days, dtype=np.int64)
        if self.sum_cents is None and is_money(self.series):
            self.sum_cents = [0] * self.n_days

    def _cover(self, low: int, high: int) -> None:
        """Widen ``diff`` so that codes ``low`` to ``high`` have columns."""
        width = self.diff.shape[1]
        if width == 0:
            self.offset, self.diff = low, np.zeros((self.n_days, high - low + 1), dtype=np.int64)
            return
        left = max(0, self.offset - low)
        right = max(0, high - (self.offset + width - 1))
        if left or right:
            self.diff = np.pad(self.diff, ((0, 0), (left, right)))
            self.offset -= left

    def add(self, chunk: ChunkSketch) -> None:
        """Add one chunk's counts."""
        self.n += chunk.n
        if len(chunk.codes):
            self._cover(int(chunk.codes.min()), int(chunk.codes.max()))
            np.add.at(self.diff, (chunk.days.astype(np.intp), (chunk.codes - self.offset).astype(np.intp)),
                      chunk.weights.astype(np.int64))
        if chunk.nan_days is not None:
            assert self.nan_days is not None
            self.nan_days += chunk.nan_days
        if chunk.sum_cents is not None and self.sum_cents is not None:
            self.sum_cents = [a + b for a, b in zip(self.sum_cents, chunk.sum_cents, strict=True)]

    def merge(self, other: SeriesSketch) -> None:
        """Add another sketch of the same series (another slice of the batch)."""
        if other.series != self.series or other.n_days != self.n_days:
            raise ValueError(f"cannot merge sketches of {other.series!r} ({other.n_days} days) into "
                             f"{self.series!r} ({self.n_days} days)")
        self.n += other.n
        if other.diff.shape[1]:
            self._cover(other.offset, other.offset + other.diff.shape[1] - 1)
            start = other.offset - self.offset
            self.diff[:, start:start + other.diff.shape[1]] += other.diff
        assert self.nan_days is not None and other.nan_days is not None
        self.nan_days += other.nan_days
        if self.sum_cents is not None and other.sum_cents is not None:
            self.sum_cents = [a + b for a, b in zip(self.sum_cents, other.sum_cents, strict=True)]

    def counts(self) -> np.ndarray:
        """(n_days, codes): replications holding each code at the end of each day."""
        return np.cumsum(self.diff, axis=0)

    def values(self) -> np.ndarray:
        """The value each column of :meth:`counts` stands for."""
        return decode(self.series, np.arange(self.offset, self.offset + self.diff.shape[1], dtype=np.int64))

    def mean(self, counts: np.ndarray | None = None) -> np.ndarray:
        """Per day, the mean over replications (NaN on a day where some replication has no value).

        Whole-number series: exactly numpy's mean of the dense grid (the sum of whole numbers is exact).
        ``counts``, if given, are :meth:`counts`, already worked out.
        """
        assert self.nan_days is not None
        missing = self.nan_days > 0
        if self.sum_cents is not None:
            out = np.array([float(Fraction(total, 100 * self.n)) for total in self.sum_cents])
        else:
            codes = np.arange(self.offset, self.offset + self.diff.shape[1], dtype=np.int64)
            totals = (self.counts() if counts is None else counts) @ codes
            out = totals.astype(float) / self.n
        out[missing] = np.nan
        return out

    def quantiles(self, quantiles: Iterable[float], counts: np.ndarray | None = None) -> np.ndarray:
        """(quantiles, n_days): numpy's ``np.quantile(grid, quantiles, axis=0)`` (method ``linear``),
        computed from the counts; exact for whole-number series, within the bound of
        :data:`MONEY_RELATIVE_ERROR` for money. ``counts``, if given, are :meth:`counts`, already worked out."""
        assert self.nan_days is not None
        quantiles = list(quantiles)
        values = self.values()
        if not len(values):  # no replication ever had a value
            return np.full((len(quantiles), self.n_days), np.nan)
        at_most = _RowCounts(np.cumsum(self.counts() if counts is None else counts, axis=1), self.n)
        missing = self.nan_days > 0
        n = self.n
        rows = []
        for q in quantiles:
            # As numpy: virtual index (n - 1) q, its floor and the next one, clipped at the last.
            virtual = (n - 1) * float(q)
            previous = float(np.floor(virtual))
            if virtual >= n - 1:
                previous = nxt = float(n - 1)
            else:
                nxt = previous + 1.0
            gamma = virtual - previous
            a = values[np.minimum(at_most(previous), len(values) - 1)]
            b = values[np.minimum(at_most(nxt), len(values) - 1)]
            rows.append(_lerp(a, b, gamma))
        out = np.array(rows) if rows else np.zeros((0, self.n_days))
        out[:, missing] = np.nan
        return out


class _RowCounts:
    """Per row of a matrix whose rows do not decrease, how many entries are at most ``x``.

    That is ``(cumulative <= x).sum(axis=1)``, found by one binary search per row instead of a pass over
    the whole matrix per ``x``: the rows are laid end to end, row ``r`` shifted up by ``r (top + 1)``, so
    the whole is sorted and the count for row ``r`` is where ``x`` shifted the same way falls, less the
    entries of the rows before it.

    Args:
        cumulative: The matrix, of whole numbers from 0 to ``top``, each row non-decreasing (an int64
            array that this takes over: it is shifted in place).
        top: The largest entry it may hold.
    """

    def __init__(self, cumulative: np.ndarray, top: int):
        rows, self._width = cumulative.shape
        self._rows = np.arange(rows, dtype=np.int64)
        self._shifted = self._rows * (top + 1)
        self._before = self._rows * self._width  # entries of the rows before each row
        cumulative += self._shifted[:, None]
        self._flat = cumulative.ravel()

    def __call__(self, x: float) -> np.ndarray:
        """The counts for a whole-number threshold ``x`` with ``0 <= x <= top``."""
        # Whole-number queries: a float query would make numpy convert the whole matrix on every search.
        found = np.searchsorted(self._flat, int(x) + self._shifted, side="right")
        return found - self._before


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """numpy's interpolation between order statistics (``numpy.lib._function_base_impl._lerp``), so that
    the bands are numpy's to the last bit."""
    diff = b - a
    if t >= 0.5:
        return b - diff * (1 - t)
    return a + diff * t


def bands_frame(means: Mapping[str, np.ndarray], quantile_rows: Mapping[str, np.ndarray],
                quantiles: Iterable[float], start_date: dt.date) -> pd.DataFrame:
    """The long table of daily bands (``series, day, date, mean, p10...``) from per-series means and
    quantile rows, in the order of ``means``."""
    quantiles = list(quantiles)
    frames = []
    for name, mean in means.items():
        days = np.arange(len(mean))
        frame = pd.DataFrame({"series": name, "day": days})
        frame["date"] = pd.Timestamp(start_date) + pd.to_timedelta(days, unit="D")
        frame["mean"] = mean
        for quantile, row in zip(quantiles, quantile_rows[name], strict=True):
            frame[f"p{round(quantile * 100)}"] = row
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["series"] = out["series"].astype("string")
    return out


def bands_from_sketches(sketches: Mapping[str, SeriesSketch], quantiles: Iterable[float],
                        start_date: dt.date) -> pd.DataFrame:
    """Daily bands of each series from its sketch (see :func:`sim.batch.results.bands_from_daily`)."""
    quantiles = list(quantiles)
    means, rows = {}, {}
    for name, sketch in sketches.items():
        counts = sketch.counts()  # one running sum over the days serves both
        means[name] = sketch.mean(counts)
        rows[name] = sketch.quantiles(quantiles, counts)
    return bands_frame(means, rows, quantiles, start_date)


# -- Stored sketches (slices of a batch, to be merged) ----------------------------------------


def save_sketches(sketches: Mapping[str, SeriesSketch], path: str) -> None:
    """Write sketches to one ``.npz`` file (no pickles; the money sums as decimal text)."""
    arrays: dict[str, Any] = {"series": np.array(list(sketches), dtype=str)}
    for i, s in enumerate(sketches.values()):
        arrays[f"s{i}_meta"] = np.array([s.n_days, s.n, s.offset], dtype=np.int64)
        arrays[f"s{i}_diff"] = s.diff
        assert s.nan_days is not None
        arrays[f"s{i}_nan"] = s.nan_days
        if s.sum_cents is not None:
            arrays[f"s{i}_cents"] = np.array([str(c) for c in s.sum_cents], dtype=str)
    with open(path, "xb") as stream:
        np.savez_compressed(stream, **arrays)


def load_sketches(path: str) -> dict[str, SeriesSketch]:
    """Read sketches written by :func:`save_sketches`."""
    out: dict[str, SeriesSketch] = {}
    with np.load(path, allow_pickle=False) as data:
        for i, name in enumerate(data["series"].tolist()):
            n_days, n, offset = (int(v) for v in data[f"s{i}_meta"])
            cents = [int(c) for c in data[f"s{i}_cents"].tolist()] if f"s{i}_cents" in data else None
            out[name] = SeriesSketch(name, n_days, n, offset, data[f"s{i}_diff"].astype(np.int64),
                                     data[f"s{i}_nan"].astype(np.int64), cents)
    return out
