"""The forecast-against-actual figure of a back-test (:mod:`sim.analysis.backtest`), and its score table as text.

The figure has two panels: the fan of officers in theatre (P10-P90, P25-P75, median, as
:func:`sim.output.plots.fan_chart`) with the observed strength points and ranges, and the milestone S-curves of
the observed milestones with each observed date marked on its curve (a milestone not reached by a date as an
arrow pointing right). It returns a Figure; only the CLI saves it. :func:`score_cells` and
:func:`calibration_lines` word a scored table the same way for the ``backtest`` command's printout and the
report's back-test section.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sim.analysis.backtest import milestone_ensemble
from sim.batch.results import Results
from sim.output.plots import OKABE_ITO, date_axis, fan_chart, footer_figure, style_axes
from sim.output.provenance import add_footer
from sim.output.style import styled
from sim.scenario.milestones import MILESTONES

#: Size of the figure in inches (two panels, one above the other).
FIGSIZE = (10.0, 11.0)
#: Headings of the score table (:func:`score_cells`), as the ``backtest`` command prints them.
SCORE_HEADINGS = ("observation", "date", "observed", "P10", "P50", "P90", "PIT", "CRPS", "Brier", "in50", "in90")
#: What the score table's day columns mean, printed under it.
SCORE_NOTE = ("Days: milestone P10/P50/P90 in days after the start date ('-': beyond the horizon); PIT as an "
              "interval (censored, ranged and tied observations).")


def score_cells(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """The scored rows of a back-test table as text, one tuple per row in the order of :data:`SCORE_HEADINGS`.

    Milestones are in days after the start date, strength in officers, money in US$ millions (``12.3M``);
    ``-`` marks a quantile beyond the horizon or a score that does not apply (no CRPS for a censored row).
    """
    cells: list[tuple[str, ...]] = []
    for row in table[table["scored"]].itertuples():
        observed = f"> {row.observed_low - 1:g}" if row.kind == "not_reached" else (
            f"{row.observed_low:g}-{row.observed_high:g}" if row.observed_low != row.observed_high
            else f"{row.observed:g}")
        scale = 1e6 if row.unit == "US$" else 1.0
        if scale != 1.0:
            observed = f"{row.observed / scale:.1f}M"

        def num(value: float, scale: float = scale) -> str:
            return "-" if value != value else (f"{value / scale:.1f}M" if scale != 1.0 else f"{value:.0f}")

        crps = "-" if row.crps != row.crps else (f"{row.crps / scale:.1f}M" if scale != 1.0 else f"{row.crps:.1f}")
        cells.append((f"{row.kind} {row.name}", str(row.date), observed, num(row.p10), num(row.p50), num(row.p90),
                      f"{row.pit_low:.2f}-{row.pit_high:.2f}", crps,
                      "-" if row.brier != row.brier else f"{row.brier:.3f}",
                      "yes" if row.in50 else "no", "yes" if row.in90 else "no"))
    return cells


def calibration_lines(table: pd.DataFrame, summary_table: pd.DataFrame) -> list[str]:
    """The calibration summary in words (first line a heading, the rest indented), or why there is none.

    Args:
        table: A scored table (:func:`sim.analysis.backtest.score`).
        summary_table: Its summary (:func:`sim.analysis.backtest.summary`).
    """
    from sim.analysis.backtest import MIN_CALIBRATION, enough_for_calibration

    if not enough_for_calibration(table):
        return [f"Calibration: {int(table['scored'].sum())} scored observations, too few to say anything "
                f"(at least {MIN_CALIBRATION} are needed)."]
    s = summary_table.set_index(["group", "metric"])
    n = int(s.loc[("all", "scored"), "value"])
    lines = [f"Calibration over {n} scored observations (not independent: e.g. Kenya's and the mission's "
             "strength on one date):"]
    for level in ("50", "90"):
        row = s.loc[("all", f"coverage_{level}")]
        lines.append(f"  inside the {level}% interval: {row['value']:.0%} (95% CI {row['low']:.0%} to "
                     f"{row['high']:.0%}; {level}% expected)")
    counts = [int(s.loc[("all", f"pit_bin_{k}"), "value"]) for k in range(1, 11)]
    lines.append(f"  PIT histogram (10 bins from 0 to 1; flat if calibrated): {' '.join(map(str, counts))}")
    for group, unit in (("milestone", "days"), ("strength", "officers")):
        if (group, "mean_crps") in s.index:
            lines.append(f"  mean CRPS, {group}s: {s.loc[(group, 'mean_crps'), 'value']:.1f} {unit}")
    if ("all", "mean_brier") in s.index:
        lines.append(f"  mean Brier score, milestones reached by the date: {s.loc[('all', 'mean_brier'), 'value']:.3f}")
    return lines


@styled
def backtest_figure(results: Results, table: pd.DataFrame) -> Figure:
    """Forecast against actual: the officers-in-theatre fan with observed strength, and milestone S-curves.

    Args:
        results: The forecast (a batch; its bands are drawn).
        table: Its scored observations (:func:`sim.analysis.backtest.score`).

    Returns:
        A new figure with two axes; the observed strength markers have gid ``observed_strength``, the
        observed milestone markers ``observed_<milestone>``.
    """
    fig = footer_figure(FIGSIZE)
    add_footer(fig, results)
    top, bottom = fig.subplots(2, 1)
    style_axes(top)
    style_axes(bottom)
    fan_chart(results, "in_theatre", ax=top)
    start = pd.Timestamp(results.scenario.start_date)

    strength = table[(table["kind"] == "strength") & table["scored"]]
    for who, marker, colour in (("all", "o", OKABE_ITO["orange"]), (None, "s", OKABE_ITO["vermillion"])):
        rows = strength[strength["name"] == "all"] if who == "all" else strength[strength["name"] != "all"]
        if rows.empty:
            continue
        dates = pd.to_datetime(rows["date"])
        mid = rows["observed"].to_numpy(dtype=float)
        errors = np.vstack([mid - rows["observed_low"].to_numpy(dtype=float),
                            rows["observed_high"].to_numpy(dtype=float) - mid])
        label = "Observed, all contributors" if who == "all" else "Observed, " + ", ".join(sorted(set(rows["name"])))
        top.errorbar(dates, mid, yerr=errors, linestyle="none", marker=marker, markersize=6, color=colour,
                     markeredgecolor=OKABE_ITO["black"], markeredgewidth=0.8, capsize=3, zorder=6, label=label,
                     gid="observed_strength")
    top.legend(loc="upper left", ncol=2, frameon=False)
    top.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))

    milestones = table[table["kind"].isin(["milestone", "not_reached"]) & table["scored"]]
    colours = [c for name, c in OKABE_ITO.items() if name != "black"]
    horizon = results.scenario.horizon_days
    for i, row in enumerate(milestones.itertuples()):
        name = str(row.name)
        colour = colours[i % len(colours)]
        ensemble = np.sort(milestone_ensemble(results, name))
        reached = ensemble[ensemble <= horizon]
        x = np.concatenate(([0.0], reached, [float(horizon)]))
        y = np.concatenate(([0.0], np.arange(1, reached.size + 1) / ensemble.size, [reached.size / ensemble.size]))
        bottom.step(start + pd.to_timedelta(x, unit="D"), y, where="post", color=colour, linewidth=1.6,
                    label=MILESTONES[name], gid=name)
        when = start + pd.Timedelta(days=float(row.day))
        share = float(np.mean(ensemble <= row.day))
        marker = "o" if row.kind == "milestone" else ">"
        bottom.plot([when], [share], linestyle="none", marker=marker, markersize=8, color=colour,
                    markeredgecolor=OKABE_ITO["black"], markeredgewidth=0.8, zorder=5, gid=f"observed_{name}")
    bottom.set_ylabel("Share of runs that reached it")
    bottom.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    bottom.set_ylim(-0.015, 1.03)
    date_axis(bottom, results)
    bottom.set_title("Milestones: forecast share reached by each date, and what happened")
    handles, labels = bottom.get_legend_handles_labels()
    handles += [Line2D([], [], linestyle="none", marker="o", color="0.5", markeredgecolor="black"),
                Line2D([], [], linestyle="none", marker=">", color="0.5", markeredgecolor="black")]
    labels += ["Observed date (on its curve)", "Not reached by this date"]
    bottom.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False,
                  fontsize="small")
    return fig
