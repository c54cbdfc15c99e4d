"""Back-testing: how a forecast scored against what happened (an observations file).

Reads a batch run with ``keep_daily=True`` (:class:`sim.batch.results.Results`) and the observations of
:mod:`sim.scenario.observations`, and returns tables, one row per observation: where the observation falls
in the forecast (its PIT, as an interval), the CRPS (``scoringrules.crps_ensemble``), the Brier score of
"reached by the date" and whether it lies inside the central 50% and 90% intervals. A paired comparison of
two forecasts on the same observations and a calibration summary build on those tables. Only the CLI
(:mod:`sim.commands.backtest`) saves them.

Conventions (each is a choice, stated once here):

- Milestone days are whole calendar days: a replication's day is floored to the day of its date, as the
  date it is reported on, and an observed date is its day number. A replication that never reaches a
  milestone counts as reaching it on day ``horizon + 1`` (beyond any date the forecast covers): so the CRPS
  of a reached milestone is finite, and an observation after the horizon is not scored.
- The PIT of an observation ``y`` against an ensemble with distribution ``F`` is the interval
  ``[F(y-), F(y)]`` (the ensemble is discrete); a milestone not reached by day ``d`` (right-censored) gives
  ``[F(d), 1]``; a strength reported as a range ``[low, high]`` gives ``[F(low-), F(high)]``. ``pit`` is one
  uniform draw inside the interval (randomised PIT, seeded by :data:`PIT_SEED`), which is uniform across
  observations whenever the forecast is calibrated; the calibration summary uses it.
- CRPS: of the observed day (milestones, days), officers (strength) or US dollars (trust-fund balance).
  A right-censored milestone has no CRPS (its Brier score carries it); a range is scored at its midpoint.
- Brier: for every milestone row, the yes/no event "reached by the date" -- ``observed_until`` for a milestone
  reached (the answer is yes), ``by`` for one not reached (no): ``(P(reached by the date) - outcome)**2``.
- Inside the 50% (90%) interval: the observation lies within the ensemble's P25-P75 (P5-P95); a range or a
  censored observation ("after day d") counts as inside if it overlaps the interval.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.results import Results, wilson_interval
from sim.model.record import contributor_series
from sim.scenario.observations import Observations
from sim.scenario.schema import Scenario

#: Seed of the uniform draws that place each randomised PIT inside its interval.
PIT_SEED = 20240930
#: Seed of the bootstrap of paired score differences.
BOOTSTRAP_SEED = 20241001
#: Bootstrap resamples of a paired comparison.
BOOTSTRAP_RESAMPLES = 10_000
#: Fewest scored observations for which a calibration summary says something.
MIN_CALIBRATION = 10
#: Bins of the PIT histogram.
PIT_BINS = 10
#: Replications per forecast when none are given and no stored run fixes them.
DEFAULT_RUNS = 1000

#: Columns of :func:`score` (see the module docstring for what each means).
COLUMNS = (
    "kind", "name", "date", "day", "observed", "observed_low", "observed_high", "unit", "p10", "p50", "p90",
    "p_reached_by", "pit_low", "pit_high", "pit", "crps", "brier", "in50", "in90", "scored", "note",
)
#: Groups of observations whose CRPS share a unit (and may be averaged together).
CRPS_GROUPS = {"milestone": "days", "strength": "officers", "money": "US$"}


class BacktestError(ValueError):
    """A forecast that cannot be scored against the observations given. ``str()`` is one line."""


def forecast(
    source: str | Path,
    runs: int | None = None,
    seed: int | None = None,
    overrides: Sequence[str] = (),
    workers: int | None = 1,
    progress: bool = False,
    executor: Any = None,
) -> Results:
    """The batch to score, with every replication's daily series (``keep_daily=True``).

    A stored run folder does not keep the per-replication series, so its scenario is run again with its
    seed and runs (replication ``k`` is fixed by the seed and ``k``); the milestone days are checked
    against the stored ones, so a rerun that would not reproduce the stored run is refused.

    Args:
        source: A scenario (file or library name) or a stored run folder.
        runs: Replications of a scenario (default :data:`DEFAULT_RUNS`); a stored run fixes its own.
        seed: Seed of a scenario (default :data:`sim.batch.defaults.DEFAULT_SEED`); a stored run fixes its own.
        overrides: ``--set`` style overrides of a scenario.
        workers: Worker processes (see :func:`sim.batch.runner.run`). Ignored when ``executor`` is given.
        progress: Show a progress bar.
        executor: Where the batch runs (see :func:`sim.batch.runner.run`); a front end scoring two
            forecasts passes one, opened once, to both.

    Raises:
        BacktestError: If a stored run is given with other runs, seed or overrides, or its rerun differs.
        sim.scenario.loader.ScenarioError: If the scenario is invalid.
    """
    from sim.batch.runner import run
    from sim.batch.store import MANIFEST, load_results
    from sim.scenario.loader import load_scenario

    path = Path(source)
    if path.is_dir() and (path / MANIFEST).exists():
        stored = load_results(path)
        if (runs not in (None, stored.runs)) or (seed not in (None, stored.seed)) or overrides:
            raise BacktestError(f"{path}: a stored run fixes its runs ({stored.runs}) and seed ({stored.seed}) "
                                "and takes no --set; give its scenario instead to change them")
        again = run(stored.scenario, runs=stored.runs, seed=stored.seed, workers=workers, executor=executor,
                    keep_daily=True, progress=progress, as_of=stored.as_of)
        columns = [c for c in stored.replications.columns if c.endswith("_day")]
        if not again.replications[columns].equals(stored.replications[columns]):
            raise BacktestError(f"{path}: rerunning the stored scenario with its seed does not reproduce its "
                                "milestone days (a different version of the model?); back-test its scenario instead")
        again.run_id, again.path = stored.run_id, stored.path
        return again
    scenario = load_scenario(source, list(overrides))
    return run(scenario, runs=runs or DEFAULT_RUNS, seed=DEFAULT_SEED if seed is None else seed, workers=workers,
               executor=executor, keep_daily=True, progress=progress)


def check_matches(results: Results, observations: Observations) -> None:
    """Refuse a forecast whose day 0 differs from the observations' ``start_date``, or without daily series.

    Raises:
        BacktestError: If the start dates differ or ``results.daily`` is None.
    """
    if results.scenario.start_date != observations.start_date:
        raise BacktestError(
            f"the forecast '{results.name}' starts on {results.scenario.start_date}, the observations "
            f"'{observations.name}' on {observations.start_date}; back-test forecasts with the same day 0"
        )
    if results.daily is None:
        raise BacktestError("the forecast has no per-replication series; run it with keep_daily=True")


def milestone_ensemble(results: Results, milestone: str) -> np.ndarray:
    """Each replication's milestone day as a whole calendar day; ``horizon + 1`` where never reached."""
    days = results.milestone_days(milestone)
    horizon = results.scenario.horizon_days
    return np.where(np.isnan(days), horizon + 1.0, np.floor(days))


def _cdf(ensemble: np.ndarray, y: float, strict: bool = False) -> float:
    return float(np.mean(ensemble < y) if strict else np.mean(ensemble <= y))


def _quantiles(ensemble: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    return np.quantile(ensemble, qs, method="inverted_cdf")


def _crps(y: float, ensemble: np.ndarray) -> float:
    import scoringrules

    return float(scoringrules.crps_ensemble(float(y), np.asarray(ensemble, dtype=float)))


def score(results: Results, observations: Observations) -> pd.DataFrame:
    """Score a forecast against observations: one row per observation (columns :data:`COLUMNS`).

    Rows come in the file's order by kind: milestones reached, not reached, strength, money, events.
    Rows that cannot be scored (an event, money outside the trust fund, a date outside the forecast, a
    contributor the scenario does not have, or, for a re-forecast, anything dated before its as-of date,
    which it held fixed) are kept with ``scored`` false and the reason in ``note``.

    Raises:
        BacktestError: See :func:`check_matches`.

    Example:
        >>> from sim import load_scenario, run
        >>> from sim.scenario.observations import observations_from_dict
        >>> res = run(load_scenario("baseline"), runs=50, seed=1, keep_daily=True, progress=False)
        >>> obs = observations_from_dict({"name": "x", "start_date": res.scenario.start_date,
        ...     "milestone": [{"name": "first_arrival", "date": dt.date(2024, 6, 25), "source": "s"}]})
        >>> table = score(res, obs)
        >>> table.loc[0, "kind"], bool(0 <= table.loc[0, "pit"] <= 1), bool(table.loc[0, "crps"] >= 0)
        ('milestone', True, True)
    """
    check_matches(results, observations)
    assert results.daily is not None
    scenario = results.scenario
    horizon = scenario.horizon_days
    rows: list[dict[str, object]] = []
    until = scenario.day_of(observations.until)

    def base(kind: str, name: str, date: dt.date, unit: str) -> dict[str, object]:
        return {"kind": kind, "name": name, "date": date, "day": scenario.day_of(date), "unit": unit,
                "scored": False, "note": ""}

    def place(row: dict[str, object], ensemble: np.ndarray, low: float, high: float, beyond: float) -> None:
        """Fill the forecast's quantiles, the PIT interval, the CRPS and the interval checks."""
        q = _quantiles(ensemble, (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95))
        row.update(p10=_within(q[1], beyond), p50=_within(q[3], beyond), p90=_within(q[5], beyond))
        row["pit_low"], row["pit_high"] = _cdf(ensemble, low, strict=True), _cdf(ensemble, high)
        row["in50"] = bool(low <= q[4] and high >= q[2])
        row["in90"] = bool(low <= q[6] and high >= q[0])
        row["scored"] = True

    for entry in observations.milestone:
        row = base("milestone", entry.name, entry.date, "days")
        y = scenario.day_of(entry.date)
        row.update(observed=y, observed_low=y, observed_high=y)
        if 0 <= y <= horizon:
            ensemble = milestone_ensemble(results, entry.name)
            place(row, ensemble, y, y, horizon + 1.0)
            row["crps"] = _crps(y, ensemble)
            p = _cdf(ensemble, min(until, horizon))
            row["p_reached_by"], row["brier"] = p, (1.0 - p) ** 2
            row["note"] = f"reached by {observations.until}: yes"
        else:
            row["note"] = "after the forecast's horizon"
        rows.append(row)
    for censored in observations.not_reached:
        row = base("not_reached", censored.name, censored.by, "days")
        d = scenario.day_of(censored.by)
        row.update(observed=math.nan, observed_low=d + 1, observed_high=math.inf)
        if 0 <= d <= horizon:
            ensemble = milestone_ensemble(results, censored.name)
            place(row, ensemble, d + 1, math.inf, horizon + 1.0)
            p = _cdf(ensemble, d)
            row["pit_low"], row["pit_high"] = p, 1.0
            row["p_reached_by"], row["brier"] = p, p**2
            row["note"] = f"reached by {censored.by}: no (right-censored: no CRPS)"
        else:
            row["note"] = "after the forecast's horizon"
        rows.append(row)
    for point in observations.strength:
        row = base("strength", point.contributor, point.date, "officers")
        low, high = point.bounds
        row.update(observed=(low + high) / 2, observed_low=low, observed_high=high)
        series = strength_series(scenario, point.contributor)
        d = scenario.day_of(point.date)
        if series is None:
            row["note"] = f"the scenario has no contributor '{point.contributor}'"
        elif not 0 <= d <= horizon:
            row["note"] = "outside the forecast's days"
        else:
            ensemble = results.daily[series][:, int(d)]
            place(row, ensemble, low, high, math.inf)
            row["crps"] = _crps((low + high) / 2, ensemble)
            if low != high:
                row["note"] = "a range: PIT over the range, CRPS at its midpoint"
        rows.append(row)
    for money in observations.money:
        row = base("money", f"{money.what}:{money.channel}", money.date, "US$")
        row.update(observed=money.amount_usd, observed_low=money.amount_usd, observed_high=money.amount_usd)
        d = scenario.day_of(money.date)
        if money.what != "trust_fund_balance" or money.channel != "trust_fund":
            row["note"] = "not scored: the model keeps a daily series of the trust-fund balance only"
        elif not 0 <= d <= horizon:
            row["note"] = "outside the forecast's days"
        else:
            ensemble = results.daily["fund_balance_usd"][:, int(d)]
            place(row, ensemble, money.amount_usd, money.amount_usd, math.inf)
            row["crps"] = _crps(money.amount_usd, ensemble)
        rows.append(row)
    for event in observations.event:
        row = base("event", event.kind, event.date, "")
        row["note"] = "an event: recorded, not scored"
        rows.append(row)

    if results.as_of is not None:
        # A re-forecast held what was observed before its as-of date fixed: scoring it would score the input.
        for row in rows:
            if row["scored"] and row["date"] < results.as_of.date:  # type: ignore[operator]
                for key in ("p10", "p50", "p90", "p_reached_by", "pit_low", "pit_high", "crps", "brier", "in50",
                            "in90"):
                    row.pop(key, None)
                row["scored"] = False
                row["note"] = f"before the re-forecast's as-of date {results.as_of.date}: held fixed, not scored"
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    for column in ("observed", "observed_low", "observed_high", "p10", "p50", "p90", "p_reached_by", "pit_low",
                   "pit_high", "crps", "brier"):
        table[column] = table[column].astype("float64")
    table["scored"] = table["scored"].astype(bool)
    # One draw per row in file order, used or not, so a row's draw never depends on another's outcome.
    u = np.random.default_rng(PIT_SEED).uniform(size=len(table))
    table["pit"] = np.where(table["scored"], table["pit_low"] + u * (table["pit_high"] - table["pit_low"]), np.nan)
    for column in ("in50", "in90"):
        table[column] = table[column].astype("boolean")
    for column in ("kind", "name", "unit", "note"):
        table[column] = table[column].astype("string")
    return table


def _within(value: float, beyond: float) -> float:
    """A quantile, or NaN where it falls among the replications that never reached the milestone."""
    return math.nan if value >= beyond else float(value)


def strength_series(scenario: Scenario, contributor: str) -> str | None:
    """The daily series of a contributor's officers in theatre (``all``: the mission's), or None if unknown."""
    if contributor == "all":
        return "in_theatre"
    names = [scenario.force.lead_contributor, *scenario.contributors]
    for name in names:
        if name.lower() == contributor.lower():
            return contributor_series(name)
    return None


def _group(kind: str) -> str:
    return "milestone" if kind in ("milestone", "not_reached") else kind


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """The calibration summary of a scored table: per group and for all scored observations together.

    Returns:
        Columns ``group, metric, value, low, high, n, unit``. Metrics: ``scored`` (count), ``mean_crps``
        (per group: milestone days, officers, US$), ``mean_brier``, ``coverage_50`` and ``coverage_90``
        (share inside the interval, with a 95% Wilson interval in ``low``/``high``), and for ``all``
        ``pit_bin_<k>`` (counts of the randomised PIT in :data:`PIT_BINS` equal bins).
    """
    scored = table[table["scored"]]
    rows: list[dict[str, object]] = []
    groups = [(g, scored[scored["kind"].map(_group) == g]) for g in CRPS_GROUPS]
    for name, rows_of in [*groups, ("all", scored)]:
        if rows_of.empty:
            continue
        n = len(rows_of)
        rows.append({"group": name, "metric": "scored", "value": float(n), "n": n, "unit": "observations"})
        crps = rows_of["crps"].dropna()
        if name != "all" and not crps.empty:
            rows.append({"group": name, "metric": "mean_crps", "value": float(crps.mean()), "n": len(crps),
                         "unit": CRPS_GROUPS[name]})
        brier = rows_of["brier"].dropna()
        if not brier.empty:
            rows.append({"group": name, "metric": "mean_brier", "value": float(brier.mean()), "n": len(brier),
                         "unit": ""})
        for level in ("50", "90"):
            inside = int(rows_of[f"in{level}"].sum())
            low, high = wilson_interval(inside, n)
            rows.append({"group": name, "metric": f"coverage_{level}", "value": inside / n, "low": low,
                         "high": high, "n": n, "unit": "share"})
    counts = pit_histogram(scored["pit"].to_numpy(dtype=float))
    for k, count in enumerate(counts):
        rows.append({"group": "all", "metric": f"pit_bin_{k + 1}", "value": float(count), "low": k / PIT_BINS,
                     "high": (k + 1) / PIT_BINS, "n": int(counts.sum()), "unit": "observations"})
    frame = pd.DataFrame(rows, columns=["group", "metric", "value", "low", "high", "n", "unit"])
    frame["n"] = frame["n"].astype("int64")
    return frame


def pit_histogram(pit: np.ndarray, bins: int = PIT_BINS) -> np.ndarray:
    """Counts of PIT values in ``bins`` equal bins of [0, 1] (1 falls in the last)."""
    pit = pit[~np.isnan(pit)]
    return np.histogram(pit, bins=bins, range=(0.0, 1.0))[0]


def enough_for_calibration(table: pd.DataFrame) -> bool:
    """Whether the table has at least :data:`MIN_CALIBRATION` scored observations."""
    return int(table["scored"].sum()) >= MIN_CALIBRATION


@dataclass(frozen=True)
class PairedScores:
    """Two forecasts scored on the same observations, paired observation by observation.

    Attributes:
        labels: The two forecasts' names, reference first.
        differences: One row per observation scored by both: ``kind, name, date, score, group, unit, a, b,
            diff`` (``b - a``: negative means the second forecast scored better).
        means: Per score and group: ``score, group, unit, n, mean_diff, ci95_low, ci95_high`` (bootstrap
            over observations, :data:`BOOTSTRAP_RESAMPLES` resamples, seed :data:`BOOTSTRAP_SEED`).
    """

    labels: tuple[str, str]
    differences: pd.DataFrame
    means: pd.DataFrame


def paired(a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str] = ("a", "b")) -> PairedScores:
    """Per-observation CRPS and Brier differences of two scored tables of the same observations.

    CRPS differences are averaged within a group of one unit (milestone days, officers, US$); Brier
    differences over every milestone row. The 95% interval of each mean is a percentile bootstrap over
    observations (NaN with fewer than two).

    Raises:
        BacktestError: If the tables do not hold the same observations in the same order.
    """
    keys = ["kind", "name", "date"]
    if len(a) != len(b) or not a[keys].reset_index(drop=True).equals(b[keys].reset_index(drop=True)):
        raise BacktestError("the two forecasts were scored on different observations")
    rows = []
    for score_name in ("crps", "brier"):
        both = a["scored"] & b["scored"] & a[score_name].notna() & b[score_name].notna()
        for i in np.flatnonzero(both.to_numpy()):
            group = _group(str(a["kind"].iloc[i]))
            rows.append({"kind": a["kind"].iloc[i], "name": a["name"].iloc[i], "date": a["date"].iloc[i],
                         "score": score_name, "group": group if score_name == "crps" else "milestone",
                         "unit": CRPS_GROUPS[group] if score_name == "crps" else "",
                         "a": float(a[score_name].iloc[i]), "b": float(b[score_name].iloc[i])})
    differences = pd.DataFrame(rows, columns=["kind", "name", "date", "score", "group", "unit", "a", "b"])
    differences["diff"] = differences["b"] - differences["a"]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = []
    for (score_name, group), rows_of in differences.groupby(["score", "group"], sort=False):
        diffs = rows_of["diff"].to_numpy(dtype=float)
        low = high = math.nan
        if len(diffs) >= 2:
            picks = rng.integers(0, len(diffs), size=(BOOTSTRAP_RESAMPLES, len(diffs)))
            boot = diffs[picks].mean(axis=1)
            low, high = (float(v) for v in np.quantile(boot, (0.025, 0.975)))
        means.append({"score": score_name, "group": group, "unit": rows_of["unit"].iloc[0], "n": len(diffs),
                      "mean_diff": float(diffs.mean()), "ci95_low": low, "ci95_high": high})
    frame = pd.DataFrame(means, columns=["score", "group", "unit", "n", "mean_diff", "ci95_low", "ci95_high"])
    return PairedScores(labels=labels, differences=differences, means=frame)
