"""Results of a batch as tidy pandas tables, and the statistics every front end reads from them.

:class:`Results` holds one row per replication and the daily quantile bands of the step series.
Milestone quantiles treat a milestone not reached by the horizon as later than any date, so a P80
is reported only if at least 80% of replications reached the milestone; otherwise it reads
"after the horizon" (NaN days, no date).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.batch.spill import strength_column as spill_strength_column
from sim.model.record import TOTALS
from sim.scenario.asof import AsOf
from sim.scenario.milestones import GATED_MILESTONES, MILESTONES, check_milestone
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    from sim.batch.sketch import SeriesSketch
    from sim.batch.spill import Spill

#: Labels of the totals the optional funding mechanisms add (see :mod:`sim.model.funding`).
FUNDING_TOTALS = {
    "prefinanced_usd": "Running costs a contributor pre-financed, US$",
    "reimbursed_usd": "Pre-financing reimbursed by the trust fund, US$",
    "response_pledges": "New pledges made during the mission (donor response)",
    "response_received_usd": "Money paid from new pledges by the horizon, US$",
    "pledge_frozen_days": "Days pledges' tranches were frozen, summed over donors",
    "pledge_cuts": "Pledges cut",
}
#: Quantiles of the daily bands.
BAND_QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
#: Quantiles of milestone dates reported in summaries.
MILESTONE_QUANTILES = (0.10, 0.50, 0.80, 0.90)
#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054
#: Columns of :attr:`Results.strength`: officers in theatre at the end of each checkpoint date.
STRENGTH_COLUMNS = ("replication", "date", "day", "contributor", "officers")
#: Months between the default checkpoint dates of officers in theatre.
CHECKPOINT_MONTHS = 6


def checkpoint_dates(scenario: Scenario, extra: Iterable[dt.date] = ()) -> list[dt.date]:
    """The dates at which each replication's officers in theatre are kept: every
    :data:`CHECKPOINT_MONTHS` calendar months from the start date up to the horizon, plus ``extra``
    (those inside the simulated period), sorted.

    Example:
        >>> from sim import load_scenario
        >>> [d.isoformat() for d in checkpoint_dates(load_scenario("baseline"))]
        ['2024-09-14', '2025-03-14', '2025-09-14', '2026-03-14']
    """
    start, end = scenario.start_date, scenario.date_of(scenario.horizon_days)
    dates = set()
    months = CHECKPOINT_MONTHS
    while True:
        date = (pd.Timestamp(start) + pd.DateOffset(months=months)).date()
        if date > end:
            break
        dates.add(date)
        months += CHECKPOINT_MONTHS
    dates.update(d for d in extra if start <= d <= end)
    return sorted(dates)


def strength_frame(daily: dict[str, np.ndarray], scenario: Scenario, dates: Iterable[dt.date]) -> pd.DataFrame:
    """Officers in theatre per replication at the end of each date, in total (``all``) and per contributor.

    Args:
        daily: Series name -> (replications, horizon + 1) values at the end of each day.
        scenario: The scenario that ran (for the day of each date and the contributors' names).
        dates: The dates, inside the simulated period.
    """
    days = [int(scenario.day_of(date)) for date in dates]
    columns = {name: np.nan_to_num(values[:, days]).astype(np.int64) for name, values in daily.items()
               if is_strength_series(name)}
    runs = next(iter(daily.values())).shape[0] if daily else 0
    return strength_from_checkpoints(columns, np.arange(runs), scenario, days)


def is_strength_series(name: str) -> bool:
    """Whether the series counts officers in theatre (in total or of one contributor)."""
    return name == "in_theatre" or name.startswith("in_theatre.")


def strength_from_checkpoints(columns: dict[str, np.ndarray], replications: np.ndarray, scenario: Scenario,
                              days: list[int]) -> pd.DataFrame:
    """The :attr:`Results.strength` table from officers in theatre at the checkpoint days.

    Args:
        columns: Series name (``in_theatre``, ``in_theatre.<contributor>``) -> (replications, len(days))
            whole numbers of officers at the end of each day of ``days``.
        replications: The replication number of each row of ``columns``.
        scenario: The scenario that ran.
        days: The checkpoint days.
    """
    replications = np.asarray(replications)
    if columns and len(replications) and len(days) and (np.diff(replications) > 0).all() and (np.diff(days) > 0).all():
        return _strength_in_order(columns, replications, scenario, days)
    frames = []
    for name, values in columns.items():
        contributor = "all" if name == "in_theatre" else name.removeprefix("in_theatre.")
        for i, day in enumerate(days):
            column = values[:, i]
            frames.append(pd.DataFrame({
                "replication": replications,
                # The same dtype as the bands' dates, so a stored table reads back equal.
                "date": pd.Timestamp(scenario.start_date) + pd.to_timedelta(np.full(len(column), day), unit="D"),
                "day": day, "contributor": contributor, "officers": column.astype(np.int64),
            }))
    if not frames:
        return compact_labels(pd.DataFrame({c: [] for c in STRENGTH_COLUMNS}), scenario)
    frame = pd.concat(frames, ignore_index=True)
    frame = compact_labels(frame, scenario)
    return frame.sort_values(["date", "replication"], kind="stable").reset_index(drop=True)


# -- repeated labels as categoricals -------------------------------------------------------------


def label_categories(column: str, scenario: Scenario | None, values: Iterable[str] = ()) -> list[str]:
    """The categories of a label column (:func:`compact_labels`): a fixed set where it is known
    (milestones; contributors from the scenario), then any other label seen, sorted, so that a fresh
    batch, its chunks, merged slices and a stored run read back all hold the same categories."""
    seen = {str(v) for v in values}
    fixed: list[str] = []
    if column == "milestone":
        fixed = list(MILESTONES)
    elif column == "contributor" and scenario is not None:
        fixed = list(planned_strength(scenario))
    return fixed + sorted(seen.difference(fixed))


#: The label columns of the long tables kept as pandas Categorical (a byte per value instead of a string).
#: Not the replications' ``<milestone>_binding`` columns: the golden table compares them as strings.
LABEL_COLUMNS = ("milestone", "cause", "contributor")


def _label_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c in LABEL_COLUMNS]


def _labels_seen(values: pd.Series) -> Iterable[str]:
    """The labels some row of ``values`` holds (a Categorical's unused categories left out)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)) > 0
        return values.cat.categories[used]
    return pd.unique(values.dropna())


def _as_labels(values: pd.Series, dtype: pd.CategoricalDtype) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.set_categories(dtype.categories).astype(dtype)
    return values.astype(object).astype(dtype)


def compact_labels(frame: pd.DataFrame, scenario: Scenario | None = None) -> pd.DataFrame:
    """``frame`` with its repeated-label columns (:data:`LABEL_COLUMNS`) as unordered Categoricals of
    :func:`label_categories` (in place; returned)."""
    for column in _label_columns(frame):
        values = frame[column]
        categories = label_categories(column, scenario, _labels_seen(values))
        frame[column] = _as_labels(values, pd.CategoricalDtype(categories, ordered=False))
    return frame


def concat_labelled(frames: Sequence[pd.DataFrame], scenario: Scenario | None = None) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)`` keeping the label columns Categorical: each frame's
    categories are first set to the union of the labels its rows hold (:func:`label_categories`), so
    none falls back to object and no unused category is carried."""
    if not frames:
        return pd.DataFrame()
    dtypes = {}
    for column in _label_columns(frames[0]):
        seen: set[str] = set()
        for f in frames:
            seen.update(_labels_seen(f[column]))
        dtypes[column] = pd.CategoricalDtype(label_categories(column, scenario, seen), ordered=False)
    unified = []
    for f in frames:
        f = f.copy(deep=False)
        for column, dtype in dtypes.items():
            f[column] = _as_labels(f[column], dtype)
        unified.append(f)
    return pd.concat(unified, ignore_index=True)


def _strength_in_order(columns: dict[str, np.ndarray], replications: np.ndarray, scenario: Scenario,
                       days: list[int]) -> pd.DataFrame:
    """:func:`strength_from_checkpoints` for increasing replications and days: the table built at once in
    its sorted order (day, then replication, then series), without a frame per series and day, their
    concatenation and a sort, which at a million runs held the table three times over."""
    names = list(columns)
    n, width = len(replications), len(names)
    contributors = ["all" if name == "in_theatre" else name.removeprefix("in_theatre.") for name in names]
    dtype = pd.CategoricalDtype(label_categories("contributor", scenario, contributors), ordered=False)
    codes = dtype.categories.get_indexer(contributors).astype(np.int8 if len(dtype.categories) < 127 else np.int32)
    # (series, replication, day) -> (day, replication, series)
    officers = np.stack([columns[name] for name in names]).transpose(2, 1, 0).astype(np.int64).ravel()
    day = np.repeat(np.asarray(days, dtype=np.int64), n * width)
    return pd.DataFrame({
        "replication": np.tile(np.repeat(replications.astype(np.int64), width), len(days)),
        "date": pd.Timestamp(scenario.start_date) + pd.to_timedelta(day, unit="D"),
        "day": day,
        "contributor": pd.Categorical.from_codes(np.tile(codes, n * len(days)), dtype=dtype),
        "officers": officers,
    })


def planned_strength(scenario: Scenario) -> dict[str, int]:
    """The officers each contributor pledged, and the mission's planned strength as ``all``."""
    plans = {"all": scenario.mission_size_officers, scenario.force.lead_contributor: scenario.force.pledged_officers}
    plans.update({name: c.pledged_officers for name, c in scenario.contributors.items()})
    return plans


def quantiles_by_column(values: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """``np.quantile(values, quantiles, axis=0)`` (its default, linear method), the same numbers faster.

    One sort of each column instead of a selection per quantile, then numpy's own interpolation
    (``a + (b - a) g``, or ``b - (b - a)(1 - g)`` when ``g >= 0.5``). With NaN, numpy's quantile itself.
    """
    n = values.shape[0]
    if n == 0 or np.isnan(values).any():
        return np.quantile(values, quantiles, axis=0)
    ordered = np.sort(values, axis=0)
    virtual = np.asarray(quantiles, dtype=float) * (n - 1)
    below = np.floor(virtual).astype(np.intp)
    above = np.minimum(below + 1, n - 1)
    gamma = (virtual - below)[:, None]
    a, b = ordered[below], ordered[above]
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def bands_from_daily(daily: dict[str, np.ndarray], start_date: dt.date) -> pd.DataFrame:
    """Daily quantile bands of each series, as a long table.

    Args:
        daily: Series name -> array (replications, days).
        start_date: Calendar date of day 0.

    Returns:
        Columns ``series, day, date, mean, p10, p25, p50, p75, p90``.
    """
    frames = []
    for name, values in daily.items():
        days = np.arange(values.shape[1])
        q = quantiles_by_column(values, BAND_QUANTILES)
        frame = pd.DataFrame({"series": name, "day": days})
        frame["date"] = pd.Timestamp(start_date) + pd.to_timedelta(days, unit="D")
        frame["mean"] = values.mean(axis=0)
        for quantile, row in zip(BAND_QUANTILES, q, strict=True):
            frame[f"p{round(quantile * 100)}"] = row
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["series"] = out["series"].astype("string")
    return out


#: Columns of :attr:`Results.delays`.
DELAY_COLUMNS = ("replication", "milestone", "cause", "days")


def delays_frame(rows: list[tuple[int, str, str, float]]) -> pd.DataFrame:
    """The long table of days per cause (see :attr:`Results.delays`) from ``(replication, milestone,
    cause, days)`` rows, in the order of replications, then milestones along each critical path.
    ``milestone`` and ``cause`` are Categoricals (see :func:`compact_labels`)."""
    if rows:
        replication, milestone, cause, days = zip(*rows, strict=True)
    else:
        replication, milestone, cause, days = (), (), (), ()
    frame = pd.DataFrame({
        "replication": np.asarray(replication, dtype=np.int64),
        "milestone": pd.Categorical(milestone, categories=label_categories("milestone", None, milestone)),
        "cause": pd.Categorical(cause, categories=label_categories("cause", None, cause)),
        "days": np.asarray(days, dtype=np.float64),
    })
    return frame


def censored_quantile(days: np.ndarray, q: float) -> float:
    """Quantile of milestone days where NaN (not reached) counts as later than the horizon.

    Returns NaN when the quantile falls among the replications that did not reach the milestone.
    """
    filled = np.where(np.isnan(days), np.inf, days)
    value = float(np.quantile(filled, q, method="inverted_cdf"))
    return value if math.isfinite(value) else math.nan


@dataclass(repr=False)
class Results:
    """The outcome of a batch.

    Attributes:
        scenario: The resolved scenario that ran.
        seed: The batch seed.
        runs: Number of replications.
        replications: One row per replication: ``replication``, ``seed``, ``<milestone>_day``
            (NaN if not reached), ``<milestone>_binding`` and the totals.
        bands: Daily quantiles of the step series (see :func:`bands_from_daily`).
        daily: Every replication's daily series, when the batch was run with ``keep_daily=True``.
        run_id: The stored run's id, once saved or loaded.
        path: The stored run's folder, once saved or loaded.
        wall_time_s: Seconds the batch took.
        delays: Where the days went: one row per replication, milestone reached and cause on its
            critical path (columns ``replication, milestone, cause, days``); the days of one
            replication's milestone add up to its day; ``milestone`` and ``cause`` are Categoricals
            (:func:`compact_labels`). None for runs stored before it was recorded.
        strength: Officers in theatre at the end of each checkpoint date, per replication, in total
            (contributor ``all``) and per contributor (columns :data:`STRENGTH_COLUMNS`; the dates are
            :func:`checkpoint_dates` plus any asked for; ``contributor`` a Categorical). None for runs
            stored before it was recorded.
        as_of: For a re-forecast, the observed history it held fixed (:mod:`sim.scenario.asof`); its
            days still count from the scenario's start date.
        failures: Replications that raised (columns ``replication``, ``seed``, ``error``,
            ``traceback``); they are absent from every other table, whose shares and quantiles are
            over the replications that finished. None for runs stored before failures were isolated.
        precision: For a batch run to a precision (:func:`sim.batch.precision.run_to_precision`): the
            rounds, the runs and each target's estimate, half-width reached and target; else None.
        sketches: Per series, the counts the bands were computed from (:class:`sim.batch.sketch.SeriesSketch`),
            which slices of a batch add up when merged; None for a stored run that kept none.
        replication_range: ``(start, stop)`` when this is a slice of a batch (replications start to
            stop - 1, see ``run(..., replications=...)``); None for a whole batch.
    """

    scenario: Scenario
    seed: int
    runs: int
    replications: pd.DataFrame
    bands: pd.DataFrame
    daily: dict[str, np.ndarray] | None = None
    run_id: str | None = None
    path: Path | None = None
    wall_time_s: float | None = None
    delays: pd.DataFrame | None = None
    strength: pd.DataFrame | None = None
    as_of: AsOf | None = None
    failures: pd.DataFrame | None = None
    precision: dict[str, Any] | None = None
    sketches: dict[str, SeriesSketch] | None = None
    replication_range: tuple[int, int] | None = None
    #: The Parquet files of a spilled batch (``run(..., spill=...)``), which ``replications``, ``delays``
    #: and ``strength`` are read from when first used; None for a batch held in memory.
    spill: Spill | None = None

    def is_spilled(self, table: str) -> bool:
        """Whether a table is read from the spill's file when used (spilled, and not yet read whole)."""
        return self._spilled(table) is not None

    def _spilled(self, table: str) -> Spill | None:
        """The spill to read a table from, if it is spilled and not yet read whole."""
        if self.__dict__.get(f"_table_{table}") is None and self.spill is not None and self.spill.has(table):
            return self.spill
        return None

    def has(self, table: str) -> bool:
        """Whether the batch holds a table (``replications``, ``delays`` or ``strength``), without reading it."""
        if table not in ("replications", "delays", "strength"):
            raise KeyError(f"unknown table {table!r}; known: replications, delays, strength")
        if self.__dict__.get(f"_table_{table}") is not None:
            return True
        return self.spill is not None and self.spill.has(table)

    @property
    def columns(self) -> list[str]:
        """The columns of the replication table (read from a spilled batch's file without its rows)."""
        if (spill := self._spilled("replications")) is not None:
            return spill.columns("replications")
        return list(self.replications.columns)

    def column(self, name: str) -> pd.Series:
        """One column of the replication table: for a spilled batch, read alone (8 MB at a million runs).

        Raises:
            KeyError: If the table has no such column.
        """
        if (spill := self._spilled("replications")) is not None:
            if name not in self.columns:
                raise KeyError(name)
            return spill.column("replications", name)
        return self.replications[name]

    @property
    def replication_count(self) -> int:
        """Rows of the replication table (the replications that finished)."""
        if (spill := self._spilled("replications")) is not None:
            return spill.rows["replications"]
        return len(self.replications)

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name

    @property
    def failed(self) -> int:
        """How many replications raised (and are left out of the tables)."""
        return 0 if self.failures is None else len(self.failures)

    def __repr__(self) -> str:
        """One line: scenario, runs (and failures), seed, simulated period and, once stored, the run id."""
        s = self.scenario
        stored = f", run {self.run_id}" if self.run_id else ""
        failed = f" ({self.failed:,} failed)" if self.failed else ""
        return (f"<Results '{s.name}': {self.runs:,} runs{failed}, seed {self.seed}, "
                f"{s.start_date} to {s.date_of(s.horizon_days)}{stored}>")

    def _repr_html_(self) -> str:
        """The summary a notebook shows: the one-line description and the milestone table."""
        table = self.milestone_summary()
        shown = pd.DataFrame({"milestone": table["label"]})
        for q in MILESTONE_QUANTILES:
            column = f"p{round(q * 100)}_date"
            shown[f"P{round(q * 100)}"] = table[column].dt.strftime("%Y-%m-%d").fillna("after horizon")
        shown["reached"] = [f"{share:.0%}" for share in table["share_reached"]]
        return f"<p>{html.escape(repr(self))}</p>" + shown.to_html(index=False, escape=True)

    def date_of(self, day: float) -> dt.date | None:
        """Calendar date of a simulation day, or None for NaN (not reached)."""
        return None if day is None or math.isnan(day) else self.scenario.date_of(day)

    def milestone_days(self, milestone: str) -> np.ndarray:
        """Each replication's day for a milestone (NaN where not reached).

        Raises:
            KeyError: If ``milestone`` is not one of :data:`sim.model.record.MILESTONES`.

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1)
            >>> arrival, departure = res.milestone_days("first_arrival"), res.milestone_days("first_departure")
            >>> arrival.shape
            (20,)
            >>> landed = ~np.isnan(arrival)
            >>> bool((arrival[landed] >= departure[landed]).all())   # no contingent lands before it leaves
            True
        """
        check_milestone(milestone)
        return self.column(f"{milestone}_day").to_numpy(dtype=float)

    def milestone_summary(self) -> pd.DataFrame:
        """Per milestone: P10/P50/P80/P90 in days and dates, and the share reached by the horizon.

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1)
            >>> table = res.milestone_summary()
            >>> list(table.columns[:5]), len(table) == len(MILESTONES)
            (['milestone', 'label', 'share_reached', 'p10_day', 'p10_date'], True)
            >>> bool(table["share_reached"].between(0, 1).all())
            True
        """
        rows = []
        for name, label in MILESTONES.items():
            days = self.milestone_days(name)
            reached = float(np.mean(~np.isnan(days)))
            row: dict[str, object] = {"milestone": name, "label": label, "share_reached": reached}
            for q in MILESTONE_QUANTILES:
                value = censored_quantile(days, q)
                row[f"p{round(q * 100)}_day"] = value
                row[f"p{round(q * 100)}_date"] = self.date_of(value)
            rows.append(row)
        frame = pd.DataFrame(rows)
        for q in MILESTONE_QUANTILES:
            column = f"p{round(q * 100)}_date"
            frame[column] = pd.to_datetime(frame[column])
        return frame

    def milestones_long(self) -> pd.DataFrame:
        """One row per replication and milestone: a tidy table of when each milestone was reached.

        Returns:
            Columns ``replication``, ``milestone``, ``label``, ``day`` (NaN: not reached), ``date``
            (NaT: not reached), ``reached`` and ``binding`` (the constraint that held the milestone
            back last; missing where the milestone carries none or was not reached), in replication
            order, milestones in their deployment order.

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1, progress=False)
            >>> long = res.milestones_long()
            >>> len(long) == 20 * len(MILESTONES), list(long.columns)
            (True, ['replication', 'milestone', 'label', 'day', 'date', 'reached', 'binding'])
        """
        frame = self.replications
        n = len(frame)
        names = list(MILESTONES)
        days = np.column_stack([frame[f"{m}_day"].to_numpy(dtype=float) for m in names]).ravel()
        empty = pd.Series(pd.NA, index=frame.index, dtype="string")
        columns = [frame[f"{m}_binding"] if m in GATED_MILESTONES and f"{m}_binding" in frame else empty
                   for m in names]
        binding = np.column_stack([column.to_numpy(dtype=object) for column in columns]).ravel()
        long = pd.DataFrame({
            "replication": np.repeat(frame["replication"].to_numpy(), len(names)),
            "milestone": np.tile(names, n),
            "label": np.tile([MILESTONES[m] for m in names], n),
            "day": days,
        })
        long["date"] = pd.Timestamp(self.scenario.start_date) + pd.to_timedelta(np.floor(days), unit="D")
        long["reached"] = ~np.isnan(days)
        long["binding"] = pd.array(binding, dtype="string")
        long["milestone"] = long["milestone"].astype("string")
        long["label"] = long["label"].astype("string")
        return long

    def to_xarray(self) -> Any:
        """The daily series as an :class:`xarray.Dataset` (needs the ``xarray`` extra).

        Variables: ``mean`` (series, day) and ``band`` (series, quantile, day) from the daily bands,
        and, when the batch kept every replication's series (``run(..., keep_daily=True)``),
        ``value`` (series, replication, day). Coordinates: ``series``, ``day``, ``date`` (along
        ``day``), ``quantile`` and ``replication``. Attributes: scenario, seed, runs, run id and start date.

        Raises:
            ImportError: If xarray is not installed (``pip install 'deploysim[xarray]'``).
        """
        try:
            import xarray as xr
        except ModuleNotFoundError:
            raise ImportError("Results.to_xarray needs xarray: pip install 'deploysim[xarray]'") from None
        names = list(dict.fromkeys(self.bands["series"]))
        per_series = [self.series_band(name) for name in names]
        first = per_series[0]
        quantiles = [f"p{round(q * 100)}" for q in BAND_QUANTILES]
        data: dict[str, Any] = {
            "mean": (("series", "day"), np.stack([b["mean"].to_numpy() for b in per_series])),
            "band": (("series", "quantile", "day"),
                     np.stack([b[quantiles].to_numpy().T for b in per_series])),
        }
        coords: dict[str, Any] = {
            "series": names,
            "day": first["day"].to_numpy(),
            "date": ("day", pd.to_datetime(first["date"]).to_numpy()),
            "quantile": list(BAND_QUANTILES),
        }
        if self.daily is not None:
            data["value"] = (("series", "replication", "day"), np.stack([self.daily[name] for name in names]))
            coords["replication"] = self.replications["replication"].to_numpy()
        attrs = {"scenario": self.name, "seed": self.seed, "runs": self.runs, "run_id": self.run_id or "",
                 "start_date": self.scenario.start_date.isoformat()}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def totals_summary(self) -> pd.DataFrame:
        """Per total: mean with a 95% confidence interval (normal approximation), and P10/P50/P90.

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1)
            >>> totals = res.totals_summary().set_index("total")
            >>> list(totals.columns)
            ['label', 'mean', 'ci95_low', 'ci95_high', 'p10', 'p50', 'p90']
            >>> days = totals.loc["officer_days"]
            >>> bool(days["ci95_low"] <= days["mean"] <= days["ci95_high"])
            True
        """
        rows = []
        n = self.replication_count
        columns = self.columns
        per_contributor = {
            c: f"Most of {c.removeprefix('peak_in_theatre.')}'s officers in theatre at once"
            for c in columns
            if c.startswith("peak_in_theatre.")
        }
        # Money by channel, and the optional funding mechanisms' totals, when a scenario uses them.
        money = {"paid_usd.": "Paid by {}, US$", "received_usd.": "Received by {}, US$",
                 "balance_usd.": "Left in {} at the horizon, US$"}
        for c in columns:
            for prefix, text in money.items():
                if c.startswith(prefix):
                    per_contributor[c] = text.format(c.removeprefix(prefix).replace("trust_fund", "the trust fund"))
        per_contributor.update({k: v for k, v in FUNDING_TOTALS.items() if k in columns})
        for name, label in {**TOTALS, **per_contributor}.items():
            if name not in columns:
                continue
            values = self.column(name).to_numpy(dtype=float)
            if np.isnan(values).all():
                continue
            mean = float(values.mean())
            half = Z95 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
            p10, p50, p90 = np.quantile(values, [0.1, 0.5, 0.9])
            rows.append(
                {
                    "total": name,
                    "label": label,
                    "mean": mean,
                    "ci95_low": mean - half,
                    "ci95_high": mean + half,
                    "p10": p10,
                    "p50": p50,
                    "p90": p90,
                }
            )
        return pd.DataFrame(rows)

    def strength_summary(self) -> pd.DataFrame:
        """Officers present (not cumulative landings) against plan at each checkpoint date.

        One row per date and contributor (``all`` first, against the mission's planned strength; each
        contributor against its pledge): the mean and P10/P50/P90 of officers in theatre at the end of
        the date, the plan, the median as a share of it, and the share of runs at or above the plan.

        Raises:
            ValueError: If the batch kept no checkpoints (a run stored before they were recorded).

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1, progress=False)
            >>> table = res.strength_summary()
            >>> list(table.columns)
            ['date', 'day', 'contributor', 'plan', 'mean', 'p10', 'p50', 'p90', 'p50_share_of_plan', 'p_at_plan']
            >>> table.iloc[0]["contributor"], int(table.iloc[0]["plan"])
            ('all', 2500)
        """
        plans = planned_strength(self.scenario)
        order = {name: i for i, name in enumerate(plans)}
        rows = []
        for date, day, contributor, values in self._strength_groups():
            officers = values.astype(float)
            plan = plans.get(contributor, 0)
            p10, p50, p90 = np.quantile(officers, [0.1, 0.5, 0.9])
            rows.append({
                "date": date, "day": day, "contributor": contributor, "plan": plan,
                "mean": float(officers.mean()), "p10": p10, "p50": p50, "p90": p90,
                "p50_share_of_plan": p50 / plan if plan else math.nan,
                "p_at_plan": float((officers >= plan).mean()) if plan else math.nan,
            })
        columns = ["date", "day", "contributor", "plan", "mean", "p10", "p50", "p90", "p50_share_of_plan", "p_at_plan"]
        table = pd.DataFrame(rows, columns=columns)  # no rows for a horizon shorter than six months
        table["_order"] = table["contributor"].map(order)
        return table.sort_values(["date", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)

    def strength_on(self, date: dt.date, contributor: str = "all") -> np.ndarray:
        """Per replication: officers in theatre at the end of ``date`` (``all`` or one contributor).

        Raises:
            KeyError: If the date is not a checkpoint of this batch and no daily series were kept
                (run it with ``strength_dates=[date]`` or ``keep_daily=True``), or the contributor is unknown.
        """
        plans = planned_strength(self.scenario)
        if contributor not in plans:
            raise KeyError(f"unknown contributor {contributor!r}; known: {', '.join(plans)}")
        series = "in_theatre" if contributor == "all" else f"in_theatre.{contributor}"
        if self.daily is not None and series in self.daily:
            day = int(self.scenario.day_of(date))
            return np.nan_to_num(self.daily[series][:, day]).astype(np.int64)
        if (spill := self._spilled("strength")) is not None:
            day = int(self.scenario.day_of(date))
            name = spill_strength_column(series, day)
            if name not in spill.columns("strength"):
                kept_days = sorted(spill.strength_days)
                kept = ", ".join(self.scenario.date_of(d).isoformat() for d in kept_days)
                raise KeyError(f"officers in theatre on {date} were not kept by this batch (kept: {kept}); "
                               "run it again with that date as a strength deadline")
            return spill.column("strength", name).to_numpy()
        strength = self._strength()
        rows = strength[(strength["date"] == pd.Timestamp(date)) & (strength["contributor"] == contributor)]
        if rows.empty:
            kept = ", ".join(sorted({d.date().isoformat() for d in strength["date"]}))
            raise KeyError(f"officers in theatre on {date} were not kept by this batch (kept: {kept}); "
                           "run it again with that date as a strength deadline")
        return rows.sort_values("replication")["officers"].to_numpy()

    def _strength(self) -> pd.DataFrame:
        if self.strength is None:
            raise ValueError("this batch kept no officers-in-theatre checkpoints (stored before they were recorded)")
        return self.strength

    def _strength_groups(self) -> Iterator[tuple[pd.Timestamp, int, str, np.ndarray]]:
        """Per checkpoint date and contributor, in the table's order: the date, its day, the contributor
        and the officers of each replication (in replication order); a spilled batch reads one at a time."""
        if (spill := self._spilled("strength")) is not None:
            for day in spill.strength_days:
                date = pd.Timestamp(self.scenario.start_date) + pd.Timedelta(days=day)
                for series in spill.strength_series:
                    contributor = "all" if series == "in_theatre" else series.removeprefix("in_theatre.")
                    yield date, int(day), contributor, spill.column("strength", spill_strength_column(series, day)
                                                                    ).to_numpy()
            return
        strength = self._strength()
        for (date, contributor), group in strength.groupby(["date", "contributor"], sort=False, observed=True):
            yield date, int(group["day"].iloc[0]), str(contributor), group["officers"].to_numpy()

    def binding_shares(self) -> pd.DataFrame:
        """How often each constraint was binding, per milestone (share of replications reaching it).

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1)
            >>> shares = res.binding_shares()
            >>> list(shares.columns)
            ['milestone', 'binding', 'share']
            >>> bool(shares.groupby("milestone")["share"].sum().round(9).eq(1).all())
            True
        """
        frames = []
        for column in [c for c in self.columns if c.endswith("_binding")]:
            counts = self.column(column).dropna().value_counts(normalize=True)
            frames.append(
                pd.DataFrame(
                    {
                        "milestone": column.removesuffix("_binding"),
                        "binding": counts.index.astype(str),
                        # As float whatever the column type: pandas 2.1 counts a string column as nullable Float64.
                        "share": counts.to_numpy(dtype=float),
                    }
                )
            )
        if not frames:
            return pd.DataFrame(columns=["milestone", "binding", "share"])
        return pd.concat(frames, ignore_index=True)

    def delay_summary(self, milestones: list[str] | None = None) -> pd.DataFrame:
        """Where the days went: per milestone and cause, over the runs that reach the milestone.

        Each milestone's days from the start date are split along its critical path into causes
        (:attr:`delays`). Per cause: ``mean_days`` (the mean over the runs reaching the milestone,
        counting 0 where the cause took no days, so a milestone's ``mean_days`` add up to its
        ``milestone_mean_day``), ``share_with_days`` (share of those runs where it took any days) and
        ``p50_days``/``p90_days`` among those runs. Causes are ordered by ``mean_days``, largest first.

        Args:
            milestones: Which milestones (default every one reached in some run, in the usual order).

        Raises:
            ValueError: If the batch holds no delay table (a run stored before it was recorded).

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1)
            >>> table = res.delay_summary(["first_arrival"])
            >>> total = table["mean_days"].sum()
            >>> bool(abs(total - table["milestone_mean_day"].iloc[0]) < 1e-6)
            True
        """
        if not self.has("delays"):
            raise ValueError(f"the batch of '{self.name}' holds no delay table; run it again to record one")
        columns = ["milestone", "label", "cause", "runs_reached", "mean_days", "share_with_days", "p50_days",
                   "p90_days", "milestone_mean_day"]
        wanted = [m for m in (milestones or MILESTONES) if m in MILESTONES]
        frames = [frame for milestone in wanted if (frame := self._milestone_delays(milestone)) is not None]
        if not frames:
            return pd.DataFrame(columns=columns)
        out = pd.concat(frames, ignore_index=True)[columns]
        out["cause"] = out["cause"].astype(str)
        return out

    def _milestone_delays(self, milestone: str) -> pd.DataFrame | None:
        """One milestone's rows of :meth:`delay_summary` (None if no run reached it). A spilled batch keeps
        them: each is a pass over its delay file."""
        cache = self.__dict__.setdefault("_delay_rows", {}) if self.is_spilled("delays") else {}
        if milestone not in cache:
            cache[milestone] = self._delay_rows_of(milestone)
        return cache[milestone]

    def _delay_rows_of(self, milestone: str) -> pd.DataFrame | None:
        days = self.milestone_days(milestone)
        reached = int(np.sum(~np.isnan(days)))
        if reached == 0:
            return None
        rows = []
        for cause, values in self._delays_of(milestone):
            total, with_days, p50, p90 = _cause_days(values)
            rows.append((cause, total / reached, with_days / reached, p50, p90))
        if not rows:
            return None
        frame = pd.DataFrame(rows, columns=["cause", "mean_days", "share_with_days", "p50_days", "p90_days"])
        frame.insert(0, "milestone", milestone)
        frame.insert(1, "label", MILESTONES[milestone])
        frame.insert(3, "runs_reached", reached)
        frame["milestone_mean_day"] = float(np.nanmean(days))
        return frame.sort_values("mean_days", ascending=False, kind="stable")

    def _delays_of(self, milestone: str) -> Iterator[tuple[str, np.ndarray]]:
        """One milestone's causes, in the order they first appear along the delay table (as a
        ``groupby(sort=False)`` lists them), each with the days of its rows in the table's order. A
        spilled batch reads only that milestone's rows and holds one cause's days at a time."""
        if (spill := self._spilled("delays")) is not None:
            yield from spill.label_values("delays", "cause", "days", where={"milestone": milestone})
            return
        assert self.delays is not None  # has("delays") was checked
        rows = self.delays[self.delays["milestone"] == milestone]
        codes = rows["cause"].astype("category").cat.codes.to_numpy()
        categories = rows["cause"].astype("category").cat.categories
        values = rows["days"].to_numpy(dtype=float)
        for code in pd.unique(codes).tolist():
            yield str(categories[code]), values[codes == code]

    def summary(self) -> pd.DataFrame:
        """Milestones and totals in one long table, as written to ``summary.csv``.

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1)
            >>> sorted(set(res.summary()["kind"]))
            ['milestone', 'total']
        """
        milestones = self.milestone_summary().assign(kind="milestone").rename(columns={"milestone": "name"})
        totals = self.totals_summary().assign(kind="total").rename(columns={"total": "name"})
        return pd.concat([milestones, totals], ignore_index=True)[
            ["kind", "name", "label", *[c for c in milestones.columns if c not in ("kind", "name", "label")],
             *[c for c in totals.columns if c not in ("kind", "name", "label")]]
        ]

    def series_band(self, series: str) -> pd.DataFrame:
        """The daily bands of one series (``in_theatre``, ``in_theatre.<country>``, ``fund_balance_usd``...).

        Raises:
            KeyError: If no series of that name was recorded.

        Example:
            >>> from sim import load_scenario, run
            >>> res = run(load_scenario("baseline"), runs=20, seed=1)
            >>> band = res.series_band("in_theatre")
            >>> list(band.columns)
            ['series', 'day', 'date', 'mean', 'p10', 'p25', 'p50', 'p75', 'p90']
            >>> len(band) == res.scenario.horizon_days + 1, bool((band["p10"] <= band["p90"]).all())
            (True, True)
        """
        known = list(dict.fromkeys(self.bands["series"]))
        if series not in known:
            raise KeyError(f"unknown series {series!r}; known: {', '.join(known)}")
        return self.bands[self.bands["series"] == series].reset_index(drop=True)


def _cause_days(values: np.ndarray) -> tuple[float, int, float, float]:
    """One cause's days at one milestone: their sum, how many are positive, and the P50 and P90 of the
    positive ones (NaN if none). The sum is correctly rounded (:func:`math.fsum`), so it does not depend
    on the order the rows come in or how a batch was gathered."""
    total = math.fsum(values)  # element by element: no list of a million floats
    positive = values[values > 0]
    if not len(positive):
        return total, 0, math.nan, math.nan
    ordered = np.sort(positive)
    return total, len(positive), _linear_quantile(ordered, 0.5), _linear_quantile(ordered, 0.9)


def _linear_quantile(ordered: np.ndarray, q: float) -> float:
    """The ``linear`` quantile of sorted values, computed as pandas' grouped quantile does (``a + (b - a) *
    fraction``; numpy's rounds differently above the median), so the table is the one earlier versions gave."""
    at = q * (len(ordered) - 1)
    low = int(math.floor(at))
    fraction = at - low
    if fraction == 0 or low + 1 >= len(ordered):
        return float(ordered[low])
    return float(ordered[low] + (ordered[low + 1] - ordered[low]) * fraction)


def _spilled_table(table: str) -> property:
    """A :class:`Results` table held in ``_table_<table>``, or, for a spilled batch, read whole from its file
    when first used (and kept)."""
    private = f"_table_{table}"

    def get(self: Results) -> pd.DataFrame | None:
        value = self.__dict__.get(private)
        if value is None and self.spill is not None and self.spill.has(table):
            value = _read_spilled(self, table)
            self.__dict__[private] = value
        return value

    def put(self: Results, value: pd.DataFrame | None) -> None:
        self.__dict__[private] = value

    return property(get, put, doc=f"The {table} table (see the class's attributes).")


def _read_spilled(results: Results, table: str) -> pd.DataFrame:
    spill = results.spill
    assert spill is not None
    if table == "replications":
        return spill.read("replications")
    if table == "delays":
        return compact_labels(spill.read("delays"), results.scenario)
    wide = spill.read("strength")
    days = spill.strength_days
    columns = {series: (np.column_stack([wide[spill_strength_column(series, day)].to_numpy() for day in days])
                        if days else np.zeros((len(wide), 0), dtype=np.int64)) for series in spill.strength_series}
    return strength_from_checkpoints(columns, wide["replication"].to_numpy(), results.scenario,
                                     list(spill.strength_days))


# The three tables of a batch: plain attributes, except that a spilled batch reads them when first used.
for _table in ("replications", "delays", "strength"):
    setattr(Results, _table, _spilled_table(_table))


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); NaNs when ``n`` is 0."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave it a hair inside.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high
