"""Figures of a comparison: several batches' fans and milestone S-curves on shared axes.

Each takes the batches (the first is the reference) and returns a matplotlib Figure; the data come
from :mod:`sim.analysis.compare`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sim.analysis.compare import unique_labels
from sim.batch.results import Results, censored_quantile
from sim.model.record import series_label
from sim.output.plots import FIGSIZE, date_axis, footer_figure, mark_as_of, new_figure, style_axes
from sim.output.provenance import add_footer
from sim.output.style import below_axis_labels, font_size, styled
from sim.output.text import format_date, share_text
from sim.scenario.milestones import MILESTONES

#: Milestones drawn by :func:`overlay_scurves` when none are given.
OVERLAY_MILESTONES: tuple[str, ...] = ("first_arrival", "lead_100pct")


# Colour and line style per scenario, in order: Okabe-Ito hues (colour-blind safe) and distinct
# dashes, so the scenarios stay apart in greyscale too.
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 1)))


_USD_PER_MILLION = 1e6


@styled
def overlay_fan(results_list: Sequence[Results], series: str = "in_theatre", ax: Axes | None = None) -> Figure:
    """Fan charts of one daily series for several batches on shared axes.

    Each batch has its median as a thick line and its P10-P90 band as a light fill edged by thin
    lines, in its own Okabe-Ito colour and line style (so the batches stay apart in greyscale).
    ``in_theatre`` also shows the first scenario's lead pledge and planned mission strength;
    ``fund_balance_usd`` is drawn in US$ millions.

    Args:
        results_list: The batches (same start date and horizon; see :func:`check_comparable`).
        series: A series every batch holds: ``in_theatre``, ``fund_balance_usd``, ``base_capacity``
            or ``in_theatre.<contributor>``.
        ax: Draw on this axes instead of a new figure (then no provenance footer is added).

    Returns:
        A new figure with one axes (or ``ax``'s figure). The median line of batch ``i`` has gid ``median_<label>``.

    Raises:
        KeyError: If a batch lacks the series.
    """
    labels = unique_labels(results_list)
    is_fund = series == "fund_balance_usd"
    scale = _USD_PER_MILLION if is_fund else 1.0
    own_figure = ax is None
    fig, ax = new_figure(ax=ax)
    handles: list[tuple[Any, str, Any, str, Any]] = []
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

    legend_handles: list[Any] = []
    legend_labels: list[str] = []
    for line, label, _, colour, style in handles:
        patch = Patch(facecolor=colour, alpha=0.10, edgecolor=colour, linestyle=style, linewidth=0.9)  # type: ignore[arg-type]
        legend_handles.append((patch, line))
        legend_labels.append(label)
    if series == "in_theatre":
        force = results_list[0].scenario.force
        references = [(f"{possessive(force.lead_contributor)} pledge ({force.pledged_officers:,})",
                       force.pledged_officers),
                      (f"Planned mission strength ({results_list[0].scenario.mission_size_officers:,})",
                       results_list[0].scenario.mission_size_officers)]
        for label, officers in references:
            if officers > 1.6 * high:
                continue
            ax.axhline(officers, color="0.35", linestyle=(0, (2, 2)), linewidth=1.0, zorder=2)
            ax.annotate(label, xy=(1.0, officers), xycoords=("axes fraction", "data"), xytext=(-3, 3),
                        textcoords="offset points", ha="right", va="bottom", color="0.3",
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
            high = max(high, officers)
    from matplotlib.legend_handler import HandlerTuple

    ax.set_ylabel("Trust-fund balance (US$ M)" if is_fund else series_label(series))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    span = (high - low) or 1.0
    ax.set_ylim(low - 0.015 * span, high + 0.08 * span)
    date_axis(ax, results_list[0])
    _mark_other_as_of_dates(ax, results_list)
    subject = "Trust-fund balance" if is_fund else series_label(series)
    ax.set_title(_overlay_title(subject, results_list, labels))
    # Below the date axis, inside the layout (unlike a figure legend, which would sit on the footer):
    # the bands fill every corner of the plot.
    ax.legend(legend_handles, legend_labels, handler_map={tuple: HandlerTuple(ndivide=1)}, loc="upper center",
              bbox_to_anchor=(0.5, 0.0), bbox_transform=below_axis_labels(ax), ncol=min(len(labels), 4), frameon=False,
              handlelength=3.2, title="Thick line: median of the runs; shaded band: P10–P90 (80% of the runs)",
              title_fontsize=font_size("note"))
    return add_footer(fig, results_list) if own_figure else fig


@styled
def overlay_scurves(results_list: Sequence[Results], milestones: Sequence[str] = OVERLAY_MILESTONES) -> Figure:
    """S-curves of milestone dates for several batches: one panel per milestone, one curve per batch.

    A curve is the share of replications that reached the milestone by each date; it levels off
    below 100% when some runs do not reach it by the horizon. Each batch's P50 date is marked with a
    dot and written, with the batch's name, beside it; the legend below each panel (where no curve can
    run behind it) gives each batch's share reached by the horizon.

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
                    va="bottom", color="0.4")
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
                f"{label}: {format_date(date, 'short')}", xy=(when, 0.5), xytext=(5, -6 - 13 * rank),
                textcoords="offset points", ha="left", va="top", color=colour, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
                zorder=6,
            )
        ax.set_title(MILESTONES[milestone], fontsize=font_size("label") + 1)
        # Below the panel: inside it, the legend covered the curves of a scenario that is late or levels off.
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.0), bbox_transform=below_axis_labels(ax),
                  fontsize=font_size("note"), frameon=False, handlelength=3.0)
        date_axis(ax, results_list[0])
        _mark_other_as_of_dates(ax, results_list)
    axes[0].set_ylabel("Share of runs that reached it")
    axes[0].yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    axes[0].set_ylim(-0.015, 1.03)
    fig.suptitle(_overlay_title("When milestones are reached", results_list, labels), x=0.01, ha="left")
    return add_footer(fig, results_list)


#: Figures the CLI writes for a comparison, by file name: each takes the batches, first the reference.
OVERLAY_FIGURES: dict[str, Callable[[Sequence[Results]], Figure]] = {
    "overlay_in_theatre.png": overlay_fan,
    "overlay_milestones_scurve.png": overlay_scurves,
    "overlay_fund_balance.png": lambda results_list: overlay_fan(results_list, "fund_balance_usd"),
}


#: The kinds of compared batches' figure (:func:`sim.plot`), and the function each calls.
COMPARISON_KINDS: dict[str, Callable[..., Figure]] = {
    "fan": overlay_fan,
    "fund": lambda results_list, **kwargs: overlay_fan(results_list, "fund_balance_usd", **kwargs),
    "scurves": overlay_scurves,
}


def plot_comparison(results_list: Sequence[Results], kind: str = "fan", **kwargs: object) -> Figure:
    """The figure of ``kind`` (a key of :data:`COMPARISON_KINDS`) of compared batches, first the reference.

    Raises:
        ValueError: If ``kind`` is unknown.
    """
    if kind not in COMPARISON_KINDS:
        raise ValueError(f"unknown kind of comparison plot {kind!r}; known: {', '.join(COMPARISON_KINDS)}")
    return COMPARISON_KINDS[kind](results_list, **kwargs)


def possessive(name: str) -> str:
    """``Kenya's``, ``Bahamas'``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _overlay_title(subject: str, results_list: Sequence[Results], labels: Sequence[str]) -> str:
    start = results_list[0].scenario.start_date
    names = " vs ".join(f"'{label}'" for label in labels)
    runs = f"{results_list[0].runs:,} paired runs from {format_date(start, 'short')}"
    return f"{subject}\n{names}: {runs}" if len(names) + len(runs) < 80 else f"{subject}\n{names}\n{runs}"




def _mark_other_as_of_dates(ax: Axes, results_list: Sequence[Results]) -> None:
    """Forecasts made on different dates share one time axis: mark each re-forecast's as-of date once."""
    first = results_list[0].as_of
    seen = {None if first is None else first.date}
    for results in results_list[1:]:
        if results.as_of is not None and results.as_of.date not in seen:
            seen.add(results.as_of.date)
            mark_as_of(ax, results)
