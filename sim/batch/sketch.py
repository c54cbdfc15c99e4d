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
        if not (np.all(values == np.round(values)) and np.all(np.abs(values) <= MAX_EXACT_VALUE)):
            raise ValueError(f"series {series!r} should hold whole numbers; it cannot be counted exactly")
        return values.astype(np.int64)
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


class ChunkSketcher:
    """Builds a :class:`ChunkSketch` from one replication's daily row at a time (in a worker)."""

    def __init__(self, series: str, days: int):
        self.series = series
        self.n_days = days
        self.n = 0
        self._days: list[np.ndarray] = []
        self._codes: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        self._nan: np.ndarray | None = None
        self._cents: list[int] | None = [0] * days if is_money(series) else None

    def add(self, row: np.ndarray) -> None:
        """Count one replication's value at the end of each day (NaN: no value)."""
        self.n += 1
        missing = np.isnan(row)
        codes = np.zeros(len(row), dtype=np.int64)
        if missing.any():
            if self._nan is None:
                self._nan = np.zeros(self.n_days, dtype=np.int64)
            self._nan += missing
            codes[~missing] = encode(self.series, row[~missing])
            # A day without a value is counted apart; give it a code that changes at its edges only.
            codes[missing] = np.iinfo(np.int64).min
        else:
            codes = encode(self.series, row)
        starts = np.concatenate(([0], np.flatnonzero(codes[1:] != codes[:-1]) + 1))
        values = codes[starts]
        ends = np.append(starts[1:], self.n_days)
        keep_start = values != np.iinfo(np.int64).min
        keep_end = keep_start & (ends < self.n_days)
        self._days += [starts[keep_start], ends[keep_end]]
        self._codes += [values[keep_start], values[keep_end]]
        self._weights += [np.ones(int(keep_start.sum()), dtype=np.int64), -np.ones(int(keep_end.sum()), dtype=np.int64)]
        if self._cents is not None:
            cents = np.round(np.where(missing, 0.0, row) * 100.0).astype(np.int64).tolist()
            self._cents = [a + b for a, b in zip(self._cents, cents, strict=True)]

    def result(self) -> ChunkSketch:
        """The chunk's counts, with equal (day, code) changes added together."""
        if not self._days:
            empty = np.zeros(0, dtype=np.int64)
            return ChunkSketch(self.n, empty, empty, empty, self._nan, self._cents)
        days = np.concatenate(self._days)
        codes = np.concatenate(self._codes)
        weights = np.concatenate(self._weights)
        # One key per (day, code); the chunk's changes of one key add up.
        keys, inverse = np.unique(np.stack([days, codes]), axis=1, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=weights, minlength=keys.shape[1]).astype(np.int64)
        nonzero = summed != 0
        return ChunkSketch(self.n, keys[0, nonzero].astype(np.int32), keys[1, nonzero].astype(np.int64),
                           summed[nonzero].astype(np.int32), self._nan, self._cents)


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

    def mean(self) -> np.ndarray:
        """Per day, the mean over replications (NaN on a day where some replication has no value).

        Whole-number series: exactly numpy's mean of the dense grid (the sum of whole numbers is exact).
        """
        assert self.nan_days is not None
        missing = self.nan_days > 0
        if self.sum_cents is not None:
            out = np.array([float(Fraction(total, 100 * self.n)) for total in self.sum_cents])
        else:
            codes = np.arange(self.offset, self.offset + self.diff.shape[1], dtype=np.int64)
            totals = self.counts() @ codes
            out = totals.astype(float) / self.n
        out[missing] = np.nan
        return out

    def quantiles(self, quantiles: Iterable[float]) -> np.ndarray:
        """(quantiles, n_days): numpy's ``np.quantile(grid, quantiles, axis=0)`` (method ``linear``),
        computed from the counts; exact for whole-number series, within the bound of
        :data:`MONEY_RELATIVE_ERROR` for money."""
        assert self.nan_days is not None
        quantiles = list(quantiles)
        values = self.values()
        if not len(values):  # no replication ever had a value
            return np.full((len(quantiles), self.n_days), np.nan)
        cumulative = np.cumsum(self.counts(), axis=1)
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
            a = values[np.minimum((cumulative <= previous).sum(axis=1), len(values) - 1)]
            b = values[np.minimum((cumulative <= nxt).sum(axis=1), len(values) - 1)]
            rows.append(_lerp(a, b, gamma))
        out = np.array(rows) if rows else np.zeros((0, self.n_days))
        out[:, missing] = np.nan
        return out


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
    return bands_frame({name: s.mean() for name, s in sketches.items()},
                       {name: s.quantiles(quantiles) for name, s in sketches.items()}, quantiles, start_date)


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
