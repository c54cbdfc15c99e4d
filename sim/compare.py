"""Paired comparison of scenarios run with the same seed: what changed, and what difference it makes.

Scenarios run with one seed share their random draws subsystem by subsystem (:mod:`sim.rng`), so
replication ``k`` of one scenario is the same world as replication ``k`` of another, except for
what the scenarios change. Differences are therefore taken replication by replication (paired),
which removes the shared noise from their confidence intervals. This module sits after the runner:
it reads :class:`sim.results.Results` (fresh or stored) and returns tables and figures; only the
CLI (:mod:`sim.commands.compare`) saves them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sim.plots import FIGSIZE, date_axis, footer_figure, new_figure, style_axes
from sim.provenance import add_footer
from sim.record import MILESTONES, series_label
from sim.results import Z95, Results, censored_quantile, wilson_interval
from sim.scenario import Scenario
from sim.text import date_text, share_text

#: Seed of a comparison when none is given and no stored run fixes it (the forecast's date).
DEFAULT_SEED = 20240314
#: Replications per scenario when none are given and no stored run fixes them.
DEFAULT_RUNS = 1000
#: Milestones drawn by :func:`overlay_scurves` when none are given.
OVERLAY_MILESTONES: tuple[str, ...] = ("first_arrival", "lead_100pct")
#: Keys left out of :func:`config_diff`: they name and describe, they change no draw.
DESCRIPTIVE_KEYS = ("name", "description")

# Colour and line style per scenario, in order: Okabe-Ito hues (colour-blind safe) and distinct
# dashes, so the scenarios stay apart in greyscale too.
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 1)))
_TITLE_SIZE = 13
_LABEL_SIZE = 11
_TICK_SIZE = 10
_LEGEND_SIZE = 9.5
_NOTE_SIZE = 8.5
_USD_PER_MILLION = 1e6
_DEADLINE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)=(?P<date>\d{4}-\d{2}-\d{2})$")
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
    old = _leaves(base.model_dump(mode="json", by_alias=True))
    new = _leaves(other.model_dump(mode="json", by_alias=True))
    rows = [
        {"key": key, "old": _compact(old[key]) if key in old else "(absent)",
         "new": _compact(new[key]) if key in new else "(absent)"}
        for key in [*old, *(k for k in new if k not in old)]
        if old.get(key, _ABSENT) != new.get(key, _ABSENT)
    ]
    return pd.DataFrame(rows, columns=["key", "old", "new"]).astype("string")


_ABSENT = object()


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value; distributions and lists of plain values are leaves."""
    out: dict[str, Any] = {}
    if isinstance(node, dict) and "dist" not in node:
        for key, value in node.items():
            if key in DESCRIPTIVE_KEYS and (not prefix or not isinstance(value, dict)):
                continue
            out.update(_leaves(value, f"{prefix}.{_key_part(key)}" if prefix else _key_part(key)))
    elif isinstance(node, list) and any(isinstance(item, dict) and "dist" not in item for item in node):
        for i, item in enumerate(node):
            out.update(_leaves(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = node
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


def parse_deadlines(items: Sequence[str]) -> dict[str, dt.date]:
    """Read ``NAME=YYYY-MM-DD`` deadlines, as given to ``--deadline``.

    Raises:
        ComparisonError: If an item is not of that form, its date does not exist, or a name repeats.

    Example:
        >>> parse_deadlines(["mandate_end=2024-10-02"])
        {'mandate_end': datetime.date(2024, 10, 2)}
    """
    deadlines: dict[str, dt.date] = {}
    for item in items:
        match = _DEADLINE.match(item.strip())
        if match is None:
            raise ComparisonError(f"deadline {item!r}: expected NAME=YYYY-MM-DD")
        try:
            date = dt.date.fromisoformat(match["date"])
        except ValueError:
            message = f"deadline {item!r}: {match['date']} is not a date (expected NAME=YYYY-MM-DD)"
            raise ComparisonError(message) from None
        if match["name"] in deadlines:
            raise ComparisonError(f"deadline {item!r}: the name {match['name']!r} is given twice")
        deadlines[match["name"]] = date
    return deadlines


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

    The difference in days is the mean, over replications in which both batches reach the milestone,
    of ``other``'s day minus ``base``'s day in the same replication, with a 95% Student t interval
    from the differences' standard deviation. For reference, ``unpaired_ci95_*`` is the interval the
    same replications would give if the batches were independent (Welch's standard error): the gap
    between the two is what common random numbers buy. The change in the share reaching the
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
        unpaired_ci95_low, unpaired_ci95_high``, ``base_share_reached, share_reached, share_change,
        share_change_ci95_low, share_change_ci95_high``.

    Raises:
        ComparisonError: If the batches cannot be paired (see :func:`check_comparable`).
        KeyError: If a milestone is unknown.

    Example:
        >>> from sim import derive, load_scenario, run
        >>> base = load_scenario("scenarios/baseline.toml", ["horizon_days=365"])
        >>> a = run(base, runs=30, seed=2)
        >>> same = paired_differences(a, run(base, runs=30, seed=2)).set_index("milestone")
        >>> float(same.loc["first_arrival", "mean_diff_days"])  # a scenario against itself
        0.0
    """
    check_comparable([base, other])
    base, other = _by_replication(base), _by_replication(other)
    rows = []
    for milestone in milestones or MILESTONES:
        a, b = base.milestone_days(milestone), other.milestone_days(milestone)
        row: dict[str, object] = {"scenario": other.name, "base": base.name, "milestone": milestone,
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


def _by_replication(results: Results) -> Results:
    """The batch with its rows in replication order, so row i of two batches is one pair."""
    frame = results.replications
    if frame["replication"].is_monotonic_increasing:
        return results
    from dataclasses import replace

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
    """

    results: list[Results]
    labels: list[str]
    config_diffs: pd.DataFrame
    differences: pd.DataFrame
    deadlines: pd.DataFrame | None = None
    deadline_dates: dict[str, dt.date] | None = None

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
            ["scenario", "milestone", "label", "p50_date", "p80_date", "share_reached", "n_pairs", "mean_diff_days",
             "ci95_low", "ci95_high", "share_change", "share_change_ci95_low", "share_change_ci95_high"]
        ]
        order = {m: i for i, m in enumerate(MILESTONES)}
        table = pd.concat([first, rest], ignore_index=True)
        table["n_pairs"] = table["n_pairs"].astype("Int64")
        table["_m"], table["_s"] = table["milestone"].map(order), table["scenario"].map(self.labels.index)
        return table.sort_values(["_m", "_s"]).drop(columns=["_m", "_s"]).reset_index(drop=True)

    def summary_text(self) -> str:
        """The comparison as printed by ``deploysim compare``: settings changed, milestones, deadlines."""
        return format_comparison(self)


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
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Run (or load) each scenario with one seed and compare every one with the first, paired.

    Args:
        inputs: Scenarios, stored batches (:class:`Results`), scenario files or stored run folders
            (a folder holding ``manifest.json``). The first is the reference.
        runs: Replications per scenario. Default: those of the first stored batch given, else 1000.
        seed: The common seed. Default: that of the first stored batch given, else 20240314.
        workers: Worker processes for each run (see :func:`sim.runner.run`).
        overrides: Dotted-key overrides applied to every scenario (not to stored batches), as ``--set``.
        deadlines: Name -> date; adds :attr:`Comparison.deadlines`.
        progress: Called with the replications finished so far, over all scenarios to run.

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
        >>> base = load_scenario("scenarios/baseline.toml", ["horizon_days=365"])
        >>> c = compare([base, derive(base, {"funding.runway_days": 60})], runs=20, seed=1)
        >>> c.labels
        ['baseline', 'baseline#2']
    """
    from sim.loader import derive, load_scenario
    from sim.runner import run
    from sim.store import load_results

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
    done = 0

    def advance(n: int) -> None:
        if progress is not None:
            progress(done + n)

    results: list[Results] = []
    for item in resolved:
        if isinstance(item, Results):
            results.append(item)
            continue
        results.append(run(item, runs=runs, seed=seed, workers=workers, progress=advance))
        done += runs
    return comparison_of(results, deadlines)


def comparison_of(results_list: Sequence[Results], deadlines: Mapping[str, dt.date] | None = None) -> Comparison:
    """Compare batches already run with one seed (the first is the reference).

    Raises:
        ComparisonError: If the batches cannot be paired or a deadline is outside the simulated period.
    """
    results_list = list(results_list)
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
    return Comparison(
        results=results_list,
        labels=labels,
        config_diffs=config_diffs,
        differences=pd.concat(differences, ignore_index=True),
        deadlines=deadline_table,
        deadline_dates=dict(deadlines) if deadlines else None,
    )


# -- text ----------------------------------------------------------------------------------------


def format_comparison(comparison: Comparison) -> str:
    """The printed comparison: the run, each scenario's changed settings, milestones and deadlines."""
    base = comparison.base
    s = base.scenario
    labels = comparison.labels
    width = max(24, *(len(label) + 2 for label in labels))
    lines = [
        f"Comparing {', '.join(repr(label) for label in labels)}: {base.runs:,} runs each, seed {base.seed}, "
        f"from {s.start_date} to {s.date_of(s.horizon_days)}",
        "Same seed: replication k of every scenario shares its draws subsystem by subsystem, so the changes "
        "below are paired.",
    ]
    for label in labels[1:]:
        diff = comparison.config_diffs[comparison.config_diffs["scenario"] == label]
        lines += ["", f"Settings of '{label}' that differ from '{labels[0]}':"]
        if diff.empty:
            lines.append("  (none: the same resolved configuration)")
        key_width = max(len(k) for k in diff["key"]) if len(diff) else 0
        for row in diff.itertuples():
            lines.append(f"  {row.key:<{key_width}}  {row.old} -> {row.new}")

    lines += [
        "",
        f"Milestones: P50 and P80 dates, share of runs reaching it by the horizon, and the change against "
        f"'{labels[0]}' with its 95% CI",
        "(change in days: mean over the runs where both reach the milestone, of the difference in the same run; "
        "pairs = such runs)",
        "",
        f"{'':<{width}} {'P50':>10} {'P80':>10} {'reached':>8}   {'change in days (95% CI)':<26} {'pairs':>5}   "
        "change in reached (95% CI)",
    ]
    table = comparison.milestone_table()
    for milestone, rows in table.groupby("milestone", sort=False):
        lines.append(MILESTONES[milestone])
        for row in rows.itertuples():
            text = (f"  {row.scenario:<{width - 2}} {date_text(row.p50_date):>10} {date_text(row.p80_date):>10} "
                    f"{share_text(row.share_reached):>8}")
            if row.scenario != labels[0]:
                days = _days_ci_text(row.mean_diff_days, row.ci95_low, row.ci95_high)
                share = _points_ci_text(row.share_change, row.share_change_ci95_low, row.share_change_ci95_high)
                text += f"   {days:<26} {int(row.n_pairs):>5}   {share}"
            lines.append(text.rstrip())
    lines.append("")
    lines.append(f"'after' = not reached by the horizon ({s.date_of(s.horizon_days)}) in that share of runs; "
                 "pts = percentage points.")
    if comparison.deadlines is not None:
        lines += ["", format_deadlines(comparison.deadlines, labels)]
    return "\n".join(lines)


def format_deadlines(table: pd.DataFrame, labels: Sequence[str] | None = None) -> str:
    """Deadline probabilities as printed: per deadline, each milestone's probability per scenario.

    Args:
        table: Rows of :func:`deadline_probabilities` (one batch, or several with ``scenario`` labels).
        labels: Scenario order (default: order of appearance); the first is the reference of ``change``.
    """
    labels = list(labels) if labels is not None else list(dict.fromkeys(table["scenario"]))
    width = max(24, *(len(label) + 2 for label in labels))
    paired = len(labels) > 1 and "change" in table
    out: list[str] = []
    for deadline, at in table.groupby("deadline", sort=False):
        date = pd.Timestamp(at["deadline_date"].iloc[0]).date()
        if out:
            out.append("")
        out.append(f"Probability of reaching each milestone by {deadline} ({date}), with its 95% CI"
                   + (f", and the change against '{labels[0]}'" if paired else ""))
        never = []
        for milestone, rows in at.groupby("milestone", sort=False):
            if (rows["probability"] == 0).all():
                never.append(MILESTONES[milestone])
                continue
            if len(labels) == 1:
                row = rows.iloc[0]
                out.append(f"  {MILESTONES[milestone]:<44} {_probability_text(row):>22}")
                continue
            out.append(f"  {MILESTONES[milestone]}")
            rows = rows.set_index("scenario").loc[[label for label in labels if label in set(rows["scenario"])]]
            for label, row in rows.iterrows():
                text = f"    {label:<{width - 2}} {_probability_text(row):<22}"
                if paired and label != labels[0]:
                    text += f"   {_points_ci_text(row['change'], row['change_ci95_low'], row['change_ci95_high'])}"
                out.append(text.rstrip())
        if never:
            out += textwrap.wrap(f"Reached by {date} in no run: {'; '.join(never)}.", width=110,
                                 initial_indent="  ", subsequent_indent="    ")
    return "\n".join(out)


def _probability_text(row: Any) -> str:
    return f"{share_text(row['probability'])} ({100 * row['ci95_low']:.1f} to {100 * row['ci95_high']:.1f})"




def _days_ci_text(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "never both reach it"
    if math.isnan(low):
        return f"{_signed(mean)} (one pair)"
    if mean == low == high == 0.0:
        return "0 (same in every run)"
    return f"{_signed(mean)} ({_signed(low)} to {_signed(high)})"


def _points_ci_text(change: float, low: float, high: float) -> str:
    if math.isnan(change):
        return ""
    if change == low == high == 0.0:
        return "0 (same in every run)"
    return f"{_signed(100 * change)} pts ({_signed(100 * low)} to {_signed(100 * high)})"


def _signed(x: float) -> str:
    """``+1.5``, ``-0.3``, and ``0.0`` rather than ``-0.0`` for a value that rounds to zero."""
    text = f"{x:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


# -- figures -------------------------------------------------------------------------------------


def overlay_fan(results_list: Sequence[Results], series: str = "in_theatre") -> Figure:
    """Fan charts of one daily series for several batches on shared axes.

    Each batch has its median as a thick line and its P10-P90 band as a light fill edged by thin
    lines, in its own Okabe-Ito colour and line style (so the batches stay apart in greyscale).
    ``in_theatre`` also shows the first scenario's lead pledge and planned mission strength;
    ``fund_balance_usd`` is drawn in US$ millions.

    Args:
        results_list: The batches (same start date and horizon; see :func:`check_comparable`).
        series: A series every batch holds: ``in_theatre``, ``fund_balance_usd``, ``base_capacity``
            or ``in_theatre.<contributor>``.

    Returns:
        A new figure with one axes. The median line of batch ``i`` has gid ``median_<label>``.

    Raises:
        KeyError: If a batch lacks the series.
    """
    labels = unique_labels(results_list)
    is_fund = series == "fund_balance_usd"
    scale = _USD_PER_MILLION if is_fund else 1.0
    fig, ax = new_figure()
    handles: list[object] = []
    high, low = 0.0, 0.0
    for i, (label, results) in enumerate(zip(labels, results_list, strict=True)):
        band = results.series_band(series)
        colour, style = _COLOURS[i % len(_COLOURS)], _STYLES[i % len(_STYLES)]
        dates = band["date"]
        ax.fill_between(dates, band["p10"] / scale, band["p90"] / scale, step="post", color=colour, alpha=0.10,
                        linewidth=0)
        for edge in ("p10", "p90"):
            ax.plot(dates, band[edge] / scale, drawstyle="steps-post", color=colour, linestyle=style, linewidth=0.9,
                    alpha=0.8)
        line = ax.plot(dates, band["p50"] / scale, drawstyle="steps-post", color=colour, linestyle=style,
                       linewidth=2.4, gid=f"median_{label}", zorder=4)[0]
        handles.append((line, label, band, colour, style))
        high = max(high, float(band["p90"].max()) / scale)
        low = min(low, float(band["p10"].min()) / scale)

    legend_handles: list[object] = []
    legend_labels: list[str] = []
    for line, label, _, colour, style in handles:
        legend_handles.append((Patch(facecolor=colour, alpha=0.10, edgecolor=colour, linestyle=style, linewidth=0.9),
                               line))
        legend_labels.append(label)
    if series == "in_theatre":
        force = results_list[0].scenario.force
        references = [(f"{force.lead_contributor}'s pledge ({force.pledged_officers:,})", force.pledged_officers),
                      (f"Planned mission strength ({results_list[0].scenario.mission_size_officers:,})",
                       results_list[0].scenario.mission_size_officers)]
        for label, officers in references:
            if officers > 1.6 * high:
                continue
            ax.axhline(officers, color="0.35", linestyle=(0, (2, 2)), linewidth=1.0, zorder=2)
            ax.annotate(label, xy=(1.0, officers), xycoords=("axes fraction", "data"), xytext=(-3, 3),
                        textcoords="offset points", ha="right", va="bottom", fontsize=_NOTE_SIZE, color="0.3",
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
            high = max(high, officers)
    from matplotlib.legend_handler import HandlerTuple

    ax.set_ylabel("Trust-fund balance (US$ M)" if is_fund else series_label(series), fontsize=_LABEL_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    span = (high - low) or 1.0
    ax.set_ylim(low - 0.015 * span, high + 0.08 * span)
    date_axis(ax, results_list[0])
    subject = "Trust-fund balance" if is_fund else series_label(series)
    ax.set_title(_overlay_title(subject, results_list, labels), fontsize=_TITLE_SIZE, loc="left")
    # Below the date axis, inside the layout (unlike a figure legend, which would sit on the footer):
    # the bands fill every corner of the plot.
    ax.legend(legend_handles, legend_labels, handler_map={tuple: HandlerTuple(ndivide=1)}, loc="upper center",
              bbox_to_anchor=(0.5, -0.14), ncol=min(len(labels), 4), fontsize=_LEGEND_SIZE, frameon=False,
              handlelength=3.2, title="Thick line: median of the runs; shaded band: P10–P90 (80% of the runs)",
              title_fontsize=_NOTE_SIZE)
    return add_footer(fig, results_list)


def overlay_scurves(results_list: Sequence[Results], milestones: Sequence[str] = OVERLAY_MILESTONES) -> Figure:
    """S-curves of milestone dates for several batches: one panel per milestone, one curve per batch.

    A curve is the share of replications that reached the milestone by each date; it levels off
    below 100% when some runs do not reach it by the horizon. Each batch's P50 date is marked with a
    dot and written, with the batch's name, beside it; the legend gives each batch's share reached by
    the horizon per panel.

    Args:
        results_list: The batches (same start date and horizon; see :func:`check_comparable`).
        milestones: Milestone names, one panel each.

    Returns:
        A new figure. The curve of batch ``label`` in milestone ``m``'s panel has gid ``m:label``, its
        P50 marker ``m:label:p50``.

    Raises:
        KeyError: If a milestone is unknown.
    """
    labels = unique_labels(results_list)
    for milestone in milestones:
        if milestone not in MILESTONES:
            raise KeyError(f"unknown milestone {milestone!r}; known: {', '.join(MILESTONES)}")
    width = 4.6 * len(milestones) + 0.6 if len(milestones) > 1 else FIGSIZE[0]
    fig = footer_figure((max(width, FIGSIZE[0]), 5.6))
    axes = fig.subplots(1, len(milestones), sharey=True, sharex=True, squeeze=False)[0]
    start = pd.Timestamp(results_list[0].scenario.start_date)
    horizon = results_list[0].scenario.horizon_days
    for ax, milestone in zip(axes, milestones, strict=True):
        style_axes(ax)
        ax.axhline(0.5, color="0.55", linestyle=":", linewidth=0.9, zorder=1)
        ax.annotate("P50", xy=(date2num(start), 0.5), xytext=(3, 2), textcoords="offset points", ha="left",
                    va="bottom", fontsize=_NOTE_SIZE, color="0.4")
        notes = []
        for i, (label, results) in enumerate(zip(labels, results_list, strict=True)):
            colour, style = _COLOURS[i % len(_COLOURS)], _STYLES[i % len(_STYLES)]
            days = results.milestone_days(milestone)
            reached = np.sort(days[~np.isnan(days)])
            share = reached.size / days.size
            x = np.concatenate(([0.0], reached, [float(horizon)]))
            y = np.concatenate(([0.0], np.arange(1, reached.size + 1) / days.size, [share]))
            ax.step(start + pd.to_timedelta(x, unit="D"), y, where="post", color=colour, linestyle=style,
                    linewidth=2.2, gid=f"{milestone}:{label}", label=f"{label} ({share_text(share)} reach it"
                    + ("; P50 after the horizon)" if share < 0.5 else ")"))
            day = censored_quantile(days, 0.5)
            if not np.isnan(day):
                when = start + pd.Timedelta(days=float(day))
                ax.plot([when], [0.5], linestyle="none", marker="o", markersize=7, color=colour,
                        markeredgecolor="white", markeredgewidth=0.9, zorder=5, gid=f"{milestone}:{label}:p50")
                notes.append((when, results.date_of(day), colour, label))
        # P50 dates stacked under the P50 line, earliest first, each beside its own marker's date and
        # named, so that they read without colour.
        for rank, (when, date, colour, label) in enumerate(sorted(notes, key=lambda n: n[0])):
            ax.annotate(
                f"{label}: {date.day} {date:%b %Y}", xy=(when, 0.5), xytext=(5, -6 - 13 * rank),
                textcoords="offset points", ha="left", va="top", fontsize=_NOTE_SIZE, color=colour, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
                zorder=6,
            )
        ax.set_title(MILESTONES[milestone], fontsize=_LABEL_SIZE + 1, loc="left")
        ax.legend(loc="upper left", fontsize=_NOTE_SIZE, frameon=True, framealpha=0.9, handlelength=3.0)
        date_axis(ax, results_list[0])
    axes[0].set_ylabel("Share of runs that reached it", fontsize=_LABEL_SIZE)
    axes[0].yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    axes[0].set_ylim(-0.015, 1.03)
    fig.suptitle(_overlay_title("When milestones are reached", results_list, labels), fontsize=_TITLE_SIZE,
                 x=0.01, ha="left")
    return add_footer(fig, results_list)


#: Figures the CLI writes for a comparison, by file name: each takes the batches, first the reference.
OVERLAY_FIGURES: dict[str, Callable[[Sequence[Results]], Figure]] = {
    "overlay_in_theatre.png": overlay_fan,
    "overlay_milestones_scurve.png": overlay_scurves,
    "overlay_fund_balance.png": lambda results_list: overlay_fan(results_list, "fund_balance_usd"),
}


def _overlay_title(subject: str, results_list: Sequence[Results], labels: Sequence[str]) -> str:
    start = results_list[0].scenario.start_date
    names = " vs ".join(f"'{label}'" for label in labels)
    runs = f"{results_list[0].runs:,} paired runs from {start.day} {start:%b %Y}"
    return f"{subject}\n{names}: {runs}" if len(names) + len(runs) < 80 else f"{subject}\n{names}\n{runs}"


__all__ = [
    "OVERLAY_FIGURES",
    "Comparison",
    "ComparisonError",
    "check_comparable",
    "check_deadlines",
    "compare",
    "comparison_of",
    "config_diff",
    "deadline_probabilities",
    "format_comparison",
    "format_deadlines",
    "overlay_fan",
    "overlay_scurves",
    "paired_differences",
    "parse_deadlines",
    "reached_by",
    "t95",
    "unique_labels",
    "wilson_interval",
]
