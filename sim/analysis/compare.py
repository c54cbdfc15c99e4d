"""Paired comparison of scenarios run with the same seed: what changed, and what difference it makes.

Scenarios run with one seed share their random draws subsystem by subsystem (:mod:`sim.model.rng`), so
replication ``k`` of one scenario is the same world as replication ``k`` of another, except for
what the scenarios change. Differences are therefore taken replication by replication (paired),
which removes the shared noise from their confidence intervals. This module sits after the runner:
it reads :class:`sim.batch.results.Results` (fresh or stored) and returns tables and figures; only the
CLI (:mod:`sim.commands.compare`) saves them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import Z95, Results, censored_quantile, planned_strength, wilson_interval
from sim.scenario.milestones import MILESTONES
from sim.scenario.schema import Scenario
from sim.scenario.walk import leaves

#: Seed of a comparison when none is given and no stored run fixes it (the forecast's date).
#: Replications per scenario when none are given and no stored run fixes them.
DEFAULT_RUNS = 1000
#: Keys left out of :func:`config_diff`: they name and describe, they change no draw.
DESCRIPTIVE_KEYS = ("name", "description")

_DEADLINE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Two-sided 95% Student t quantiles for 1..30 degrees of freedom; beyond, a Cornish-Fisher
# expansion around the normal quantile is accurate to better than 1e-4.
_T95 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)


class ComparisonError(ValueError):
    """Batches that cannot be compared, or a deadline that cannot be read. ``str()`` is one line."""


# -- configuration -------------------------------------------------------------------------------


def config_diff(base: Scenario, other: Scenario) -> pd.DataFrame:
    """The resolved settings in which ``other`` differs from ``base``.

    Leaves of the scenarios' JSON form are compared by dotted key (``funding.runway_days``,
    ``base.stages[0].cost_usd``); a distribution is one leaf, compared and shown whole
    (``lognormal(median=30, p90=90)``; a fixed value as its number). Names and descriptions are left
    out. A key present in only one scenario (a contributor, a gate) shows ``(absent)`` on the other side.

    Args:
        base: The reference scenario.
        other: The scenario compared with it.

    Returns:
        Columns ``key, old, new`` (text), in the order of the base's keys, then keys only ``other`` has.
    """
    old, new = _leaves(base), _leaves(other)
    rows = [
        {"key": key, "old": _compact(old[key]) if key in old else "(absent)",
         "new": _compact(new[key]) if key in new else "(absent)"}
        for key in [*old, *(k for k in new if k not in old)]
        if old.get(key, _ABSENT) != new.get(key, _ABSENT)
    ]
    return pd.DataFrame(rows, columns=["key", "old", "new"]).astype("string")


_ABSENT = object()


def _leaves(scenario: Scenario) -> dict[str, Any]:
    """Dotted key (list entries as ``[i]``) -> leaf of the scenario's JSON form; names and descriptions left out."""
    out = {}
    for leaf in leaves(scenario.model_dump(mode="json", by_alias=True)):
        if leaf.path[-1] not in DESCRIPTIVE_KEYS:
            key = "".join(f"[{part}]" if isinstance(part, int) else f".{_key_part(part)}" for part in leaf.path)
            out[key.lstrip(".")] = leaf.value
    return out


def _key_part(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _compact(value: Any) -> str:
    """A resolved value as a reader wants it: ``90``, ``10_800_000``, ``lognormal(median=30, p90=90)``."""
    if isinstance(value, dict) and "dist" in value:
        if value["dist"] == "fixed":
            return _compact(value["value"])
        params = ", ".join(f"{k}={_compact(v)}" for k, v in value.items() if k != "dist" and v is not None)
        return f"{value['dist']}({params})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    if isinstance(value, int | float):
        if float(value).is_integer():
            n = int(value)
            return f"{n:_}" if abs(n) >= 10_000 else str(n)
        short = f"{value:g}"
        return short if float(short) == value else repr(float(value))
    return str(value)


# -- checks and deadlines ------------------------------------------------------------------------


def check_comparable(results_list: Sequence[Results], labels: Sequence[str] | None = None) -> None:
    """Refuse batches whose replications cannot be paired.

    Batches are comparable when they share the start date, the horizon, the seed and the number of
    runs. The message names every property that differs and each batch's value of it.

    Args:
        results_list: The batches, the first being the reference.
        labels: How to name each batch in the message (default: the scenario names).

    Raises:
        ComparisonError: If fewer than two batches are given, or any of these properties differ.
    """
    if len(results_list) < 2:
        raise ComparisonError(f"a comparison needs at least two scenarios, got {len(results_list)}")
    labels = list(labels) if labels is not None else unique_labels(results_list)
    _check_facts(labels, [(r.scenario, r.seed, r.runs) for r in results_list])
    first = results_list[0].replications["replication"].to_numpy()
    for label, r in zip(labels[1:], results_list[1:], strict=True):
        if not np.array_equal(np.sort(r.replications["replication"].to_numpy()), np.sort(first)):
            raise ComparisonError(f"cannot compare: {label} holds other replications than {labels[0]}")


def _check_facts(labels: Sequence[str], facts: Sequence[tuple[Scenario, int, int]]) -> None:
    """Refuse (scenario, seed, runs) triples that differ in start date, horizon, seed or runs."""
    checks: list[tuple[str, Callable[[Scenario, int, int], object], str]] = [
        ("start dates differ", lambda s, seed, runs: s.start_date, "give them the same start_date"),
        ("horizons differ", lambda s, seed, runs: f"{s.horizon_days} days",
         "give them the same horizon_days (e.g. --set horizon_days=365)"),
        ("seeds differ", lambda s, seed, runs: f"seed {seed}", "paired replications need one seed (--seed)"),
        ("numbers of runs differ", lambda s, seed, runs: f"{runs:,} runs",
         "paired replications need as many runs (--runs)"),
    ]
    problems = []
    for what, value, hint in checks:
        values = [value(*fact) for fact in facts]
        if len(set(map(str, values))) > 1:
            listed = ", ".join(f"{label} {v}" for label, v in zip(labels, values, strict=True))
            problems.append(f"{what} ({listed}); {hint}")
    if problems:
        raise ComparisonError("cannot compare: " + "; ".join(problems))


def parse_deadline(text: str) -> tuple[str, dt.date]:
    """Read one ``NAME=YYYY-MM-DD`` deadline, as given to ``--deadline``; the name may hold spaces.

    The date follows the last ``=``; the name is what comes before it, stripped.

    Raises:
        ComparisonError: If there is no ``=``, the name is empty, or the date is not a real date
            written YYYY-MM-DD.

    Example:
        >>> parse_deadline("mandate end=2024-10-02")
        ('mandate end', datetime.date(2024, 10, 2))
    """
    name, sep, value = text.strip().rpartition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not _DEADLINE_DATE.match(value):
        raise ComparisonError(f"deadline {text!r}: expected NAME=YYYY-MM-DD")
    try:
        return name, dt.date.fromisoformat(value)
    except ValueError:
        raise ComparisonError(f"deadline {text!r}: {value} is not a date (expected NAME=YYYY-MM-DD)") from None


def parse_deadlines(items: Sequence[str]) -> dict[str, dt.date]:
    """Read ``NAME=YYYY-MM-DD`` deadlines, as given to ``--deadline`` of ``run``, ``compare`` and ``report``.

    Each item is read by :func:`parse_deadline`, so names may hold spaces (``"mandate end=2024-10-02"``).

    Raises:
        ComparisonError: If an item is not of that form, its date does not exist, or a name repeats.

    Example:
        >>> parse_deadlines(["mandate_end=2024-10-02", "one year on=2025-03-14"])
        {'mandate_end': datetime.date(2024, 10, 2), 'one year on': datetime.date(2025, 3, 14)}
    """
    deadlines: dict[str, dt.date] = {}
    for item in items:
        name, date = parse_deadline(item)
        if name in deadlines:
            raise ComparisonError(f"deadline {item!r}: the name {name!r} is given twice")
        deadlines[name] = date
    return deadlines


#: ``strength>=X@DATE`` or ``strength.<contributor>>=X@DATE``: at least X officers in theatre on DATE.
_STRENGTH_TARGET = re.compile(r"^strength(?:\.(?P<who>[^\s>=@]+))?\s*>=\s*(?P<officers>\d+)\s*@\s*(?P<date>\S+)$")


@dataclass(frozen=True)
class StrengthTarget:
    """A deadline on officers present: at least ``officers`` in theatre at the end of ``date``.

    Attributes:
        text: As written (``strength>=500@2024-12-31``), the target's name in tables.
        contributor: ``all`` (every contributor) or one contributor's name.
        officers: The number of officers to reach.
        date: The date.
    """

    text: str
    contributor: str
    officers: int
    date: dt.date


def parse_strength_target(text: str) -> StrengthTarget | None:
    """Read ``strength>=X@DATE`` (every contributor) or ``strength.<name>>=X@DATE`` (one contributor);
    None if ``text`` is not of that form (it may be a ``NAME=DATE`` milestone deadline).

    Raises:
        ComparisonError: If it is of that form but the date is not a real date written YYYY-MM-DD.

    Example:
        >>> target = parse_strength_target("strength.Kenya>=600@2024-12-31")
        >>> target.contributor, target.officers, target.date
        ('Kenya', 600, datetime.date(2024, 12, 31))
        >>> parse_strength_target("mandate end=2024-10-02") is None
        True
    """
    match = _STRENGTH_TARGET.match(text.strip())
    if match is None:
        return None
    value = match["date"]
    try:
        if not _DEADLINE_DATE.match(value):
            raise ValueError
        date = dt.date.fromisoformat(value)
    except ValueError:
        raise ComparisonError(f"deadline {text!r}: {value} is not a date (expected strength>=OFFICERS@YYYY-MM-DD)") \
            from None
    return StrengthTarget(text.strip(), match["who"] or "all", int(match["officers"]), date)


def split_deadlines(items: Sequence[str]) -> tuple[dict[str, dt.date], list[StrengthTarget]]:
    """Read ``--deadline`` items: ``NAME=YYYY-MM-DD`` (every milestone by that date) and
    ``strength>=X@YYYY-MM-DD`` / ``strength.<contributor>>=X@YYYY-MM-DD`` (officers present).

    Raises:
        ComparisonError: If an item is of neither form, a date does not exist, or a name repeats.

    Example:
        >>> split_deadlines(["mandate end=2024-10-02", "strength>=500@2024-12-31"])[1][0].officers
        500
    """
    targets: list[StrengthTarget] = []
    rest: list[str] = []
    for item in items:
        target = parse_strength_target(item)
        if target is None:
            if item.strip().startswith("strength") and ">=" in item:
                raise ComparisonError(f"deadline {item!r}: expected strength>=OFFICERS@YYYY-MM-DD "
                                      "or strength.<contributor>>=OFFICERS@YYYY-MM-DD")
            rest.append(item)
        elif target.text in {t.text for t in targets}:
            raise ComparisonError(f"deadline {item!r} is given twice")
        else:
            targets.append(target)
    return parse_deadlines(rest), targets


def check_strength_targets(targets: Sequence[StrengthTarget], scenario: Scenario) -> None:
    """Refuse targets outside the simulated period or naming a contributor the scenario does not have.

    Raises:
        ComparisonError: If one is.
    """
    check_deadlines({t.text: t.date for t in targets}, scenario)
    known = planned_strength(scenario)
    for target in targets:
        if target.contributor not in known:
            raise ComparisonError(f"deadline '{target.text}': no contributor '{target.contributor}' in scenario "
                                  f"'{scenario.name}' (known: {', '.join(known)})")


def strength_probabilities(results: Results, targets: Sequence[StrengthTarget],
                           base: Results | None = None) -> pd.DataFrame:
    """Per target: the probability of at least X officers in theatre at the end of its date.

    The share of replications meeting the target, with a 95% Wilson interval; given ``base`` (a batch
    run with the same seed), the paired change, as :func:`deadline_probabilities` gives it.

    Returns:
        Columns ``scenario, target, contributor, officers, date, probability, ci95_low, ci95_high, n``,
        with ``base`` also ``change, change_ci95_low, change_ci95_high``.

    Raises:
        ComparisonError: If a target is outside the simulated period, names an unknown contributor, or
            its date was not kept by a stored batch (rerun it with the target as a deadline).
    """
    check_strength_targets(targets, results.scenario)
    if base is not None:
        check_comparable([base, results])
        base, results = _by_replication(base), _by_replication(results)

    def meets(batch: Results, target: StrengthTarget) -> np.ndarray:
        try:
            return batch.strength_on(target.date, target.contributor) >= target.officers
        except (KeyError, ValueError) as exc:
            raise ComparisonError(f"deadline '{target.text}' for {batch.name}: {exc.args[0]}") from None

    rows = []
    for target in targets:
        hit = meets(results, target)
        low, high = wilson_interval(int(hit.sum()), hit.size)
        row: dict[str, object] = {
            "scenario": results.name, "target": target.text, "contributor": target.contributor,
            "officers": target.officers, "date": pd.Timestamp(target.date), "probability": float(hit.mean()),
            "ci95_low": low, "ci95_high": high, "n": hit.size,
        }
        if base is not None:
            change = hit.astype(float) - meets(base, target).astype(float)
            row["change"], row["change_ci95_low"], row["change_ci95_high"] = _mean_ci(change, Z95)
        rows.append(row)
    return pd.DataFrame(rows)


def check_deadlines(deadlines: Mapping[str, dt.date], scenario: Scenario) -> None:
    """Refuse deadlines outside the simulated period, where the runs cannot say what happened.

    Raises:
        ComparisonError: If a deadline falls before the start date or after the horizon.
    """
    end = scenario.date_of(scenario.horizon_days)
    for name, date in deadlines.items():
        if date < scenario.start_date or date > end:
            side = "before the start date" if date < scenario.start_date else "after the horizon"
            raise ComparisonError(
                f"deadline '{name}={date}': {date} is {side}; the runs cover {scenario.start_date} to {end}"
            )


def reached_by(results: Results, milestone: str, date: dt.date) -> np.ndarray:
    """Per replication: whether the milestone's date is on or before ``date`` (not reached: False)."""
    days = results.milestone_days(milestone)
    # A milestone at day 201.5 falls on the date of day 201 (see Scenario.date_of).
    return np.floor(np.nan_to_num(days, nan=np.inf)) <= results.scenario.day_of(date)


def deadline_probabilities(
    results: Results,
    deadlines: Mapping[str, dt.date],
    milestones: Sequence[str] | None = None,
    base: Results | None = None,
) -> pd.DataFrame:
    """Per milestone and deadline: the probability that the milestone is reached by then.

    The probability is the share of replications whose milestone date is on or before the deadline,
    with a 95% Wilson interval. Given ``base`` (a batch run with the same seed), the paired change in
    that probability is added: the mean of the per-replication differences of the indicators, with
    a 95% normal interval from their standard deviation.

    Args:
        results: The batch.
        deadlines: Name -> date (see :func:`parse_deadlines`).
        milestones: Milestone names (default: every milestone).
        base: The reference batch of a comparison, or None.

    Returns:
        Columns ``scenario, milestone, label, deadline, deadline_date, probability, ci95_low,
        ci95_high, n``, and with ``base`` also ``change, change_ci95_low, change_ci95_high``.

    Raises:
        ComparisonError: If a deadline is outside the simulated period, or ``base`` cannot be paired.
    """
    check_deadlines(deadlines, results.scenario)
    if base is not None:
        check_comparable([base, results])
        base, results = _by_replication(base), _by_replication(results)
    rows = []
    for milestone in milestones or MILESTONES:
        for name, date in deadlines.items():
            hit = reached_by(results, milestone, date)
            low, high = wilson_interval(int(hit.sum()), hit.size)
            row: dict[str, object] = {
                "scenario": results.name, "milestone": milestone, "label": MILESTONES[milestone],
                "deadline": name, "deadline_date": pd.Timestamp(date), "probability": float(hit.mean()),
                "ci95_low": low, "ci95_high": high, "n": hit.size,
            }
            if base is not None:
                change = hit.astype(float) - reached_by(base, milestone, date).astype(float)
                row["change"], row["change_ci95_low"], row["change_ci95_high"] = _mean_ci(change, Z95)
            rows.append(row)
    return pd.DataFrame(rows)


# -- paired differences --------------------------------------------------------------------------


def paired_differences(base: Results, other: Results, milestones: Sequence[str] | None = None) -> pd.DataFrame:
    """Per milestone: each batch's P50/P80 dates and the paired difference of ``other`` from ``base``.

    The first measure counts every run: ``rmean_diff_days`` is the paired change in the restricted
    mean day (a run that does not reach the milestone counts as reaching it on the horizon), so a
    fall in the share reaching it shows as a delay. The conditional difference in days is the mean,
    over replications in which both batches reach the milestone, of ``other``'s day minus ``base``'s
    day in the same replication, with a 95% Student t interval from the differences' standard
    deviation: read it beside the share reached, since it ignores the runs that lost the milestone.
    For reference, ``unpaired_ci95_*`` is the interval the same replications would give if the
    batches were independent (Welch's standard error): the gap between the two is what common random
    numbers buy. The change in the share reaching the
    milestone by the horizon is paired the same way (per-replication differences of the indicators,
    95% normal interval).

    Args:
        base: The reference batch.
        other: A batch run with the same seed, runs, start date and horizon.
        milestones: Milestone names (default: every milestone).

    Returns:
        One row per milestone: ``scenario, base, milestone, label``, ``base_p50_day, base_p50_date,
        base_p80_day, base_p80_date, p50_day, p50_date, p80_day, p80_date`` (NaN / NaT: after the
        horizon), ``p50_shift_days, p80_shift_days``, ``n_pairs, mean_diff_days, ci95_low, ci95_high,
        unpaired_ci95_low, unpaired_ci95_high``, ``base_rmean_day, rmean_day, rmean_diff_days,
        rmean_ci95_low, rmean_ci95_high``, ``base_share_reached, share_reached, share_change,
        share_change_ci95_low, share_change_ci95_high``.

    Raises:
        ComparisonError: If the batches cannot be paired (see :func:`check_comparable`).
        KeyError: If a milestone is unknown.

    Example:
        >>> from sim import derive, load_scenario, run
        >>> base = load_scenario("baseline", ["horizon_days=365"])
        >>> a = run(base, runs=30, seed=2)
        >>> same = paired_differences(a, run(base, runs=30, seed=2)).set_index("milestone")
        >>> float(same.loc["first_arrival", "mean_diff_days"])  # a scenario against itself
        0.0
    """
    base, other = paired_prefix([base, other])
    check_comparable([base, other])
    base, other = _by_replication(base), _by_replication(other)
    rows = []
    for milestone in milestones or MILESTONES:
        a, b = base.milestone_days(milestone), other.milestone_days(milestone)
        row: dict[str, Any] = {"scenario": other.name, "base": base.name, "milestone": milestone,
                                  "label": MILESTONES[milestone]}
        for prefix, res, days in (("base_", base, a), ("", other, b)):
            for q in (0.5, 0.8):
                day = censored_quantile(days, q)
                row[f"{prefix}p{round(q * 100)}_day"] = day
                row[f"{prefix}p{round(q * 100)}_date"] = pd.Timestamp(res.date_of(day)) if day == day else pd.NaT
        row["p50_shift_days"] = row["p50_day"] - row["base_p50_day"]
        row["p80_shift_days"] = row["p80_day"] - row["base_p80_day"]
        both = ~np.isnan(a) & ~np.isnan(b)
        diff = b[both] - a[both]
        n = int(both.sum())
        row["n_pairs"] = n
        row["mean_diff_days"], row["ci95_low"], row["ci95_high"] = _mean_ci(diff, t95(n - 1))
        if n > 1:
            half = t95(_welch_df(a[both], b[both])) * math.sqrt((a[both].var(ddof=1) + b[both].var(ddof=1)) / n)
            row["unpaired_ci95_low"], row["unpaired_ci95_high"] = row["mean_diff_days"] - half, \
                row["mean_diff_days"] + half
        else:
            row["unpaired_ci95_low"] = row["unpaired_ci95_high"] = math.nan
        # Counting a run that never reaches the milestone as reaching it on the horizon keeps every pair,
        # so a fall in the share reaching it shows as a delay instead of vanishing from the mean.
        ra, rb = restricted_days(a, base.scenario.horizon_days), restricted_days(b, other.scenario.horizon_days)
        row["base_rmean_day"], row["rmean_day"] = float(ra.mean()), float(rb.mean())
        row["rmean_diff_days"], row["rmean_ci95_low"], row["rmean_ci95_high"] = _mean_ci(rb - ra, t95(len(ra) - 1))
        reached_a, reached_b = ~np.isnan(a), ~np.isnan(b)
        row["base_share_reached"], row["share_reached"] = float(reached_a.mean()), float(reached_b.mean())
        row["share_change"], row["share_change_ci95_low"], row["share_change_ci95_high"] = _mean_ci(
            reached_b.astype(float) - reached_a.astype(float), Z95
        )
        rows.append(row)
    return pd.DataFrame(rows)


def t95(df: float) -> float:
    """Two-sided 95% quantile of Student's t with ``df`` degrees of freedom (NaN if ``df`` < 1)."""
    if not df >= 1:
        return math.nan
    if df <= len(_T95) and float(df).is_integer():
        return _T95[int(df) - 1]
    if df < len(_T95):
        low = _T95[int(df) - 1]
        return low + (df - int(df)) * (_T95[int(df)] - low)
    z = Z95
    return (
        z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def _mean_ci(values: np.ndarray, quantile: float) -> tuple[float, float, float]:
    """Mean and its interval ``mean +- quantile * sd / sqrt(n)``; an all-equal sample has a zero-width one."""
    n = values.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n == 1:
        return mean, math.nan, math.nan
    half = quantile * float(values.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def _welch_df(a: np.ndarray, b: np.ndarray) -> float:
    va, vb, n = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size, a.size
    if va + vb == 0:
        return math.inf
    return (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))


def restricted_days(days: np.ndarray, horizon: float) -> np.ndarray:
    """Milestone days with not reached (NaN) counted as the horizon: their mean is the restricted mean
    time to the milestone, a measure that counts not reaching it."""
    return np.where(np.isnan(days), float(horizon), days)


def paired_prefix(results_list: Sequence[Results]) -> list[Results]:
    """The batches cut to their first ``min(runs)`` replications, so batches of different sizes pair.

    Replication ``k`` is the same world in every batch run with one seed, so the first ``n`` of a
    larger batch pair with a batch of ``n``. The cut batches keep their daily bands, which describe
    the whole of each original batch.

    Raises:
        ComparisonError: If a batch does not hold its first ``min(runs)`` replications.
    """
    results_list = list(results_list)
    n = min(r.runs for r in results_list)
    out = []
    for r in results_list:
        if r.runs == n:
            out.append(r)
            continue
        rows = r.replications[r.replications["replication"] < n].reset_index(drop=True)
        failed = 0 if r.failures is None else int((r.failures["replication"] < n).sum())
        if len(rows) != n - failed:
            raise ComparisonError(f"cannot compare: {r.name} does not hold replications 0 to {n - 1}")
        delays = None if r.delays is None else r.delays[r.delays["replication"] < n].reset_index(drop=True)
        out.append(replace(r, runs=n, replications=rows, delays=delays, daily=None))
    return out


def common_replications(results_list: Sequence[Results]) -> list[Results]:
    """The batches restricted to the replications every one of them finished, so that pairs stay pairs.

    Only batches with failed replications (:attr:`Results.failures`) lose rows: a replication that
    raised in one scenario is left out of every scenario's paired figures. Bands are not cut.
    """
    results_list = list(results_list)
    if not any(r.failed for r in results_list):
        return results_list
    failed: set[int] = set()
    for r in results_list:
        if r.failures is not None:
            failed |= {int(k) for k in r.failures["replication"]}
    out = []
    for r in results_list:

        def kept(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            if frame is None:
                return None
            return frame[~frame["replication"].isin(failed)].reset_index(drop=True)

        out.append(replace(r, replications=kept(r.replications), delays=kept(r.delays), strength=kept(r.strength),
                           daily=None))
    return out


def _by_replication(results: Results) -> Results:
    """The batch with its rows in replication order, so row i of two batches is one pair."""
    frame = results.replications
    if frame["replication"].is_monotonic_increasing:
        return results
    return replace(results, replications=frame.sort_values("replication", ignore_index=True))


# -- running a comparison ------------------------------------------------------------------------


@dataclass
class Comparison:
    """Batches of several scenarios run with one seed, and their paired comparison with the first.

    Attributes:
        results: The batches; the first is the reference.
        labels: A unique name per batch (the scenario's name, numbered if it repeats).
        config_diffs: Columns ``scenario, key, old, new``: each later scenario's resolved settings
            that differ from the first's (see :func:`config_diff`).
        differences: Columns ``scenario`` and those of :func:`paired_differences`, for each later scenario.
        deadlines: Columns of :func:`deadline_probabilities` for every batch (the change against the
            first for the later ones), or None without deadlines.
        deadline_dates: The deadlines asked for.
        strength_deadlines: Columns of :func:`strength_probabilities` for every batch (the change against
            the first for the later ones), or None without ``strength>=X@DATE`` deadlines.
    """

    results: list[Results]
    labels: list[str]
    config_diffs: pd.DataFrame
    differences: pd.DataFrame
    deadlines: pd.DataFrame | None = None
    deadline_dates: dict[str, dt.date] | None = None
    strength_deadlines: pd.DataFrame | None = None

    @property
    def base(self) -> Results:
        """The reference batch (the first)."""
        return self.results[0]

    def milestone_table(self) -> pd.DataFrame:
        """Per milestone and batch: P50/P80 dates, share reached, and for later batches the paired changes."""
        base = self.differences[self.differences["scenario"] == self.labels[1]]
        first = pd.DataFrame({
            "scenario": self.labels[0], "milestone": base["milestone"], "label": base["label"],
            "p50_date": base["base_p50_date"], "p80_date": base["base_p80_date"],
            "share_reached": base["base_share_reached"],
        })
        rest = self.differences[
            ["scenario", "milestone", "label", "p50_date", "p80_date", "share_reached", "rmean_diff_days",
             "rmean_ci95_low", "rmean_ci95_high", "n_pairs", "mean_diff_days", "ci95_low", "ci95_high",
             "share_change", "share_change_ci95_low", "share_change_ci95_high"]
        ]
        order = {m: i for i, m in enumerate(MILESTONES)}
        table = pd.concat([first, rest], ignore_index=True)
        table["n_pairs"] = table["n_pairs"].astype("Int64")
        table["_m"], table["_s"] = table["milestone"].map(order), table["scenario"].map(self.labels.index)
        return table.sort_values(["_m", "_s"]).drop(columns=["_m", "_s"]).reset_index(drop=True)


def unique_labels(results_list: Sequence[Results]) -> list[str]:
    """The scenarios' names, with ``#2``, ``#3``... added to repeats."""
    return _unique([r.name for r in results_list])


def _unique(names: Sequence[str]) -> list[str]:
    labels: list[str] = []
    for name in names:
        label, n = name, 1
        while label in labels:
            n += 1
            label = f"{name}#{n}"
        labels.append(label)
    return labels


def compare(
    inputs: Sequence[Scenario | Results | str | Path],
    runs: int | None = None,
    seed: int | None = None,
    workers: int | None = 1,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    deadlines: Mapping[str, dt.date] | None = None,
    progress: Progress = True,
    strength_targets: Sequence[StrengthTarget] = (),
    executor: Any = None,
    max_failures: int | None = None,
    fail_fast: bool = False,
) -> Comparison:
    """Run (or load) each scenario with one seed and compare every one with the first, paired.

    Args:
        inputs: Scenarios, stored batches (:class:`Results`), scenario files or stored run folders
            (a folder holding ``manifest.json``). The first is the reference.
        runs: Replications per scenario. Default: those of the first stored batch given, else 1000.
        seed: The common seed. Default: that of the first stored batch given, else 20240314.
        workers: Worker processes for each run (see :func:`sim.batch.runner.run`).
        overrides: Dotted-key overrides applied to every scenario (not to stored batches), as ``--set``.
        deadlines: Name -> date; adds :attr:`Comparison.deadlines`.
        strength_targets: Officers-present targets (see :func:`split_deadlines`); adds
            :attr:`Comparison.strength_deadlines`. Scenarios run here keep their dates.
        progress: True: one progress bar over all scenarios to run, once it has run a second; False:
            none; a function: called with the replications finished so far, over all scenarios to run.
        executor: Where the batches run (see :func:`sim.batch.runner.run`); default: one made from
            ``workers``, shared by every scenario to run.
        max_failures: Failed replications each batch tolerates (see :func:`sim.batch.runner.run`).
        fail_fast: Stop at the first failed replication.

    Returns:
        The :class:`Comparison`.

    Raises:
        ComparisonError: If fewer than two inputs are given, overrides are given for a stored batch,
            the batches cannot be paired (see :func:`check_comparable`) or a deadline is outside
            the simulated period.
        ScenarioError: If a scenario file or an override is invalid.
        StoreError: If a folder holds no stored run.

    Example:
        >>> from sim import load_scenario, derive
        >>> base = load_scenario("baseline", ["horizon_days=365"])
        >>> c = compare([base, derive(base, {"funding.runway_days": 60})], runs=20, seed=1)
        >>> c.labels
        ['baseline', 'baseline#2']
    """
    from sim.analysis.sweep import resolve_workers
    from sim.batch.runner import as_executor, make_executor, run
    from sim.batch.store import load_results
    from sim.scenario.loader import derive, load_scenario

    if len(inputs) < 2:
        raise ComparisonError(f"a comparison needs at least two scenarios, got {len(inputs)}")
    resolved: list[Scenario | Results] = []
    for item in inputs:
        if isinstance(item, str | Path):
            path = Path(item)
            item = load_results(path) if path.is_dir() else load_scenario(path)
        if isinstance(item, Results) and overrides:
            where = f" ({item.path})" if item.path else ""
            raise ComparisonError(f"--set applies only to scenarios, not to the stored run of {item.name}{where}")
        if isinstance(item, Scenario) and overrides:
            item = derive(item, overrides)
        resolved.append(item)
    stored = [item for item in resolved if isinstance(item, Results)]
    runs = runs if runs is not None else (stored[0].runs if stored else DEFAULT_RUNS)
    seed = seed if seed is not None else (stored[0].seed if stored else DEFAULT_SEED)
    # Check what can be checked before spending time on runs.
    facts = [(i.scenario, i.seed, i.runs) if isinstance(i, Results) else (i, seed, runs) for i in resolved]
    _check_facts(_unique([fact[0].name for fact in facts]), facts)
    if deadlines:
        check_deadlines(deadlines, facts[0][0])
    check_strength_targets(strength_targets, facts[0][0])
    dates = [t.date for t in strength_targets]
    done = 0
    results: list[Results] = []
    to_run = [i for i in resolved if isinstance(i, Scenario)]
    own = executor is None
    chosen = make_executor(min(resolve_workers(workers), runs)) if own else as_executor(executor)
    with (chosen if own else contextlib.nullcontext(chosen)) as active, \
            progress_callback(progress, runs * len(to_run)) as report:

        def advance(n: int) -> None:
            if report is not None:
                report(done + n)

        share = getattr(active, "share", None)
        if share is not None and to_run:
            share(to_run)
        for item in resolved:
            if isinstance(item, Results):
                results.append(item)
                continue
            results.append(run(item, runs=runs, seed=seed, executor=active, progress=advance, strength_dates=dates,
                               max_failures=max_failures, fail_fast=fail_fast))
            done += runs
    return comparison_of(results, deadlines, strength_targets)


def comparison_of(results_list: Sequence[Results], deadlines: Mapping[str, dt.date] | None = None,
                  strength_targets: Sequence[StrengthTarget] = ()) -> Comparison:
    """Compare batches already run with one seed (the first is the reference).

    Raises:
        ComparisonError: If the batches cannot be paired or a deadline is outside the simulated period.
    """
    results_list = common_replications(paired_prefix(results_list))
    labels = unique_labels(results_list)
    check_comparable(results_list, labels)
    base = results_list[0]
    diffs, differences = [], []
    for label, other in zip(labels[1:], results_list[1:], strict=True):
        diffs.append(config_diff(base.scenario, other.scenario).assign(scenario=label))
        differences.append(paired_differences(base, other).assign(scenario=label, base=labels[0]))
    config_diffs = pd.concat(diffs, ignore_index=True)[["scenario", "key", "old", "new"]]
    deadline_table = None
    if deadlines:
        frames = [deadline_probabilities(base, deadlines).assign(scenario=labels[0])]
        frames += [
            deadline_probabilities(r, deadlines, base=base).assign(scenario=label)
            for label, r in zip(labels[1:], results_list[1:], strict=True)
        ]
        deadline_table = pd.concat(frames, ignore_index=True)
    strength_table = None
    if strength_targets:
        frames = [strength_probabilities(base, strength_targets).assign(scenario=labels[0])]
        frames += [
            strength_probabilities(r, strength_targets, base=base).assign(scenario=label)
            for label, r in zip(labels[1:], results_list[1:], strict=True)
        ]
        strength_table = pd.concat(frames, ignore_index=True)
    return Comparison(
        results=results_list,
        labels=labels,
        config_diffs=config_diffs,
        differences=pd.concat(differences, ignore_index=True),
        deadlines=deadline_table,
        deadline_dates=dict(deadlines) if deadlines else None,
        strength_deadlines=strength_table,
    )


# -- text ----------------------------------------------------------------------------------------


# -- figures -------------------------------------------------------------------------------------










__all__ = [
    "paired_delays",
    "Comparison",
    "ComparisonError",
    "check_comparable",
    "check_deadlines",
    "compare",
    "comparison_of",
    "config_diff",
    "deadline_probabilities",
    "paired_differences",
    "parse_deadline",
    "parse_deadlines",
    "reached_by",
    "t95",
    "unique_labels",
    "wilson_interval",
]


def paired_delays(base: Results, other: Results, milestones: Sequence[str] = ("first_arrival", "lead_100pct"),
                  ) -> pd.DataFrame:
    """Per milestone and cause: the paired change in the days the cause took on the critical path.

    Over the replications in which both batches reach the milestone, the mean of ``other``'s days
    for the cause minus ``base``'s in the same replication (a cause absent from a path took 0 days),
    with a 95% Student t interval. The changes of one milestone add up to its ``mean_diff_days`` in
    :func:`paired_differences`.

    Args:
        base: The reference batch.
        other: A batch run with the same seed, runs, start date and horizon.
        milestones: The milestones to split.

    Returns:
        Columns ``scenario, base, milestone, cause, n_pairs, base_mean_days, mean_days, mean_diff_days,
        ci95_low, ci95_high``, causes ordered by the size of their change, largest first.

    Raises:
        ComparisonError: If the batches cannot be paired or either holds no delay table.
    """
    check_comparable([base, other])
    if base.delays is None or other.delays is None:
        raise ComparisonError("both runs need a delay table (runs stored before it was recorded have none)")
    rows = []
    for milestone in milestones:
        a, b = base.milestone_days(milestone), other.milestone_days(milestone)
        both = np.flatnonzero(~np.isnan(a) & ~np.isnan(b))
        pairs = base.replications["replication"].to_numpy()[both]
        tables = []
        for res in (base, other):
            assert res.delays is not None  # checked above
            own = res.delays[res.delays["milestone"] == milestone]
            tables.append(own.pivot_table(index="replication", columns="cause", values="days", aggfunc="sum")
                          .reindex(pairs).fillna(0.0))
        causes = list(dict.fromkeys([*tables[0].columns, *tables[1].columns]))
        for cause in causes:
            x = tables[0][cause].to_numpy() if cause in tables[0] else np.zeros(len(pairs))
            y = tables[1][cause].to_numpy() if cause in tables[1] else np.zeros(len(pairs))
            mean, low, high = _mean_ci(y - x, t95(len(pairs) - 1))
            rows.append({"scenario": other.name, "base": base.name, "milestone": milestone, "cause": str(cause),
                         "n_pairs": len(pairs), "base_mean_days": float(x.mean()) if len(x) else math.nan,
                         "mean_days": float(y.mean()) if len(y) else math.nan, "mean_diff_days": mean,
                         "ci95_low": low, "ci95_high": high})
    frame = pd.DataFrame(rows, columns=["scenario", "base", "milestone", "cause", "n_pairs", "base_mean_days",
                                        "mean_days", "mean_diff_days", "ci95_low", "ci95_high"])
    order = frame["mean_diff_days"].abs().fillna(0.0)
    frame = frame.assign(_o=-order).sort_values(["milestone", "_o"], kind="stable").drop(columns="_o")
    frame["_m"] = frame["milestone"].map({m: i for i, m in enumerate(milestones)})
    return frame.sort_values("_m", kind="stable").drop(columns="_m").reset_index(drop=True)
