"""Printed tables: a run's forecast, a sweep, a tornado, Sobol indices and a scenario's parameters.

What the command line prints after each command, built from the data :mod:`sim.batch` and
:mod:`sim.analysis` return, so that a notebook can print the same text. Number and date formatting
comes from :mod:`sim.output.text`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.output.text import date_text, share_text
from sim.scenario.milestones import MILESTONES
from sim.scenario.toml import toml_value

if TYPE_CHECKING:
    import pandas as pd

    from sim.analysis.sweep import SweepResult
    from sim.batch.results import Results
    from sim.scenario.schema import Scenario


def format_forecast(results: Results) -> str:
    """The milestone table printed after a run: P10/P50/P90 dates and share reached by the horizon."""
    s = results.scenario
    table = results.milestone_summary()
    horizon = s.date_of(s.horizon_days)
    lines = [
        f"Scenario '{s.name}': {results.runs} runs, seed {results.seed}, from {s.start_date} to {horizon}",
        *([f"{results.failed} of them failed and are left out of every table (failures.parquet; reproduce one "
           f"with deploysim trace RESULT_DIR --replication K)"] if results.failed else []),
        "",
        f"{'Milestone':<44} {'P10':>10} {'P50':>10} {'P90':>10} {'reached':>8}",
    ]
    for row in table.itertuples():
        dates = [date_text(getattr(row, f"p{q}_date")) for q in (10, 50, 90)]
        lines.append(f"{MILESTONES[row.milestone]:<44} {dates[0]:>10} {dates[1]:>10} {dates[2]:>10} "
                     f"{share_text(row.share_reached):>8}")
    lines.append("")
    lines.append(f"'after' = that quantile falls after the horizon ({horizon}): too few runs reach the milestone.")
    if results.has("delays"):
        from sim.output.delays import delays_text

        lines.append("")
        lines += [delays_text(results, milestone) for milestone in ("first_arrival", "lead_100pct")]
        lines.append("(days on each milestone's critical path, by cause: they add up to its mean day; see "
                     "delays_summary.csv and figures/where_the_days_went.png)")
    return "\n".join(lines)


def format_sweep(result: SweepResult, milestone: str) -> str:
    """The printed table: one line per grid point with the milestone's P10/P50/P90 dates and share reached."""

    s = result.scenario
    keys = list(result.vary)
    table = result.milestone_table(milestone)
    texts = [[toml_value(point[k]) for k in keys] for point in result.points]
    widths = [max(len(k), *(len(t[i]) for t in texts)) for i, k in enumerate(keys)]
    horizon = s.date_of(s.horizon_days)
    lines = [
        f"Sweep of '{s.name}': {len(result.points)} point{'s' if len(result.points) > 1 else ''}, "
        f"{result.runs} runs each, seed {result.seed} at every point, from {s.start_date} to {horizon}",
        "",
        f"{MILESTONES[milestone]}:",
        "  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))
        + f"  {'P10':>10} {'P50':>10} {'P90':>10} {'reached':>8}",
    ]
    for text, row in zip(texts, table.itertuples(), strict=True):
        dates = [date_text(getattr(row, f"p{q}_date")) for q in (10, 50, 90)]
        lines.append("  ".join(t.rjust(w) for t, w in zip(text, widths, strict=True))
                     + f"  {dates[0]:>10} {dates[1]:>10} {dates[2]:>10} {share_text(row.share_reached):>8}")
    lines += ["", f"'after' = not reached by the horizon ({horizon}) in that share of runs. "
              "sweep.csv holds every milestone."]
    return "\n".join(lines)


def format_tornado(table: pd.DataFrame, scenario: Scenario) -> str:
    """The printed ranking: each input's pinned values, the medians and the swing."""
    from sim.output.analysis_figures import format_value

    attrs = table.attrs
    unit = attrs["unit"]
    baseline = attrs["baseline_median"]
    is_day = unit == "days" and attrs["outcome"] in MILESTONES
    low_q, high_q = round(attrs["low"] * 100), round(attrs["high"] * 100)
    if is_day:
        when = f"{scenario.date_of(baseline)} (day {baseline:.0f})" if not math.isnan(baseline) else ""
        base_text = when or "after the horizon"
    else:
        base_text = _amount(baseline, unit)
    width = max(len("Input"), *(len(k) for k in table["input"]))
    lines = [
        f"Sensitivity of '{attrs['label']}' in '{scenario.name}': {attrs['runs']} runs per batch, seed "
        f"{attrs['seed']} in every batch",
        f"Baseline median: {base_text}. Each input held at its P{low_q} and P{high_q}; others drawn as usual.",
        "",
        f"{'Rank':>4}  {'Input':<{width}}  {'P' + str(low_q):>9} {'P' + str(high_q):>9}  "
        f"{'at P' + str(low_q):>11} {'at P' + str(high_q):>11}  {'swing':>8}  {'95% CI of the swing':<22}",
    ]
    noisy = "within_noise" in table.columns
    for row in table.itertuples(index=False):
        low_text = format_value(row.input, row.low_value)
        high_text = format_value(row.input, row.high_value)
        flag = " *" if row.censored else ""
        interval = ""
        if noisy:
            interval = f"{_delta(row.swing_ci95_low, unit)} to {_delta(row.swing_ci95_high, unit)}"
            if row.within_noise:
                more = row.runs_to_resolve
                interval += " noise" + (f" (~{more:,.0f} runs)" if math.isfinite(more) else "")
        lines.append(
            f"{row.rank:>4}  {row.input:<{width}}  {low_text:>9} {high_text:>9}  "
            f"{_delta(row.low_delta, unit):>11} {_delta(row.high_delta, unit):>11}  {_amount(row.swing, unit):>8}  "
            f"{interval}{flag}".rstrip()
        )
    lines.append("")
    lines.append("'at P10' and 'at P90': change in the median from the baseline. Ranked by swing = |at P90 - at P10|.")
    if noisy and table["within_noise"].any():
        lines.append("noise: the swing's 95% interval (paired bootstrap over the shared runs) holds 0, so this batch "
                     "cannot tell it from Monte Carlo error; in brackets, about how many runs per batch would.")
    if table["censored"].any():
        lines.append("* a median after the horizon, counted at the horizon: the change is a lower bound.")
    return "\n".join(lines)


def format_sobol(table: pd.DataFrame) -> str:
    """The printed Sobol indices, ranked by total index."""
    attrs = table.attrs
    width = max(len("Input"), *(len(k) for k in table["input"]))
    lines = [
        f"Sobol indices (SALib): N = {attrs['n']}, {attrs['replications']} replications averaged per sample, "
        f"{attrs['evaluations']:,} replications in all; ± = 95% bootstrap interval",
        "",
        f"{'Rank':>4}  {'Input':<{width}}  {'S1':>14}  {'ST':>14}",
    ]
    for row in table.itertuples(index=False):
        lines.append(f"{row.rank:>4}  {row.input:<{width}}  {row.S1:>6.3f} ± {row.S1_conf:<5.3f}  "
                     f"{row.ST:>6.3f} ± {row.ST_conf:<5.3f}")
    lines.append("")
    lines.append("S1: share of the output's variance due to the input alone; ST: including its interactions.")
    return "\n".join(lines)


def _delta(value: float, unit: str) -> str:
    if unit == "days":
        return f"{value:+.1f} d"
    return ("+" if value >= 0 else "-") + _amount(abs(value), unit)


def _amount(value: float, unit: str) -> str:
    from sim.output.analysis_figures import format_value

    if unit == "days":
        return f"{value:.1f} d"
    if unit == "US$":
        return format_value("x_usd", value)
    return f"{value:,.4g}"


def format_parameters(table: pd.DataFrame, value_width: int = 40) -> str:
    """The printed parameter table of :func:`sim.scenario.parameters.parameter_table`, one line per value.

    Columns key, value (cut to ``value_width`` characters), unit, basis and source; a value's file
    is named after its source when it is not the first file's (an inherited value).
    """
    def cut(text: str) -> str:
        text = text.replace("\n", " ")
        return text if len(text) <= value_width else text[: value_width - 3] + "..."

    own = table.attrs.get("file", "")
    rows = []
    for r in table.itertuples():
        inherited = f" [{r.file}]" if r.file not in (own, "", "--set") else ""
        rows.append((r.key, cut(r.value), r.unit or "", r.basis, (r.source or "") + inherited))
    header = ("key", "value", "unit", "basis", "source")
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:4], widths, strict=True)) + "  " + header[4]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4] for row in rows]
    return "\n".join(line.rstrip() for line in lines)
