"""Figures of a batch: fan charts of the daily series, officers by contributor, milestone S-curves and Gantt,
and what held each milestone back.

Each function reads a :class:`sim.batch.results.Results` (its bands, replications and scenario) and returns
a fresh :class:`matplotlib.figure.Figure` built without pyplot, so nothing depends on global state or
a GUI backend; every figure carries the provenance footer of :mod:`sim.output.provenance`. Nothing here shows,
and only :func:`save_png` writes: the CLI saves every entry of :data:`FIGURES` with it. The house style
the other figure modules (comparison, sweep, sensitivity) build on is here too: :func:`new_figure`,
:func:`footer_figure`, :func:`style_axes` and :func:`date_axis`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.transforms import Bbox, blended_transform_factory

from sim.batch.results import Results, censored_quantile
from sim.model.record import contributor_series, series_label
from sim.output.provenance import add_footer, png_metadata
from sim.output.style import below_axis_labels, english_date_axis, font_size, styled
from sim.output.text import display_name, format_date
from sim.scenario.milestones import GATED_MILESTONES, MILESTONES
from sim.scenario.schema import Scenario

#: Okabe-Ito colour-blind-safe palette (yellow left out: it is unreadable as a line on white).
OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish_green": "#009E73",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "sky_blue": "#56B4E9",
    "black": "#000000",
}
#: Milestones drawn by :func:`milestone_scurves` when none are given.
DEFAULT_MILESTONES: tuple[str, ...] = (
    "administration_viable",
    "recon_done",
    "first_arrival",
    "lead_100pct",
    "mission_50pct",
)
#: Figure size in inches (the Gantt and the binding chart grow with their rows).
FIGSIZE = (9.0, 5.0)
#: Milestones that are setbacks, not progress: drawn in vermillion by :func:`gantt`.
SETBACK_MILESTONES: tuple[str, ...] = ("lead_withdrawal", "mandate_lapsed")
#: Share of runs a setback (in :func:`gantt`) or a gated milestone (in :func:`binding_chart`) must reach
#: to be drawn by default: rarer ones say more about noise than about the deployment.
MIN_SHARE_SHOWN = 0.05

_NOTE_GAP = 5.0  # points between a marker and its date note
_MARKERS = {0.50: ("o", "P50"), 0.80: ("D", "P80")}
_USD_PER_MILLION = 1e6
_ROW_INCHES = 0.42
_BAR_POINTS = 9.0  # thickness of a Gantt bar
# The commonest binding constraints each have a solid colour; rarer ones are hatched (see constraint_styles).
# Segments stack as a reader scans the causes: politics, the gates, then money, housing, people and aircraft.
_SOLID_CONSTRAINTS: dict[str, str] = {
    "administration": OKABE_ITO["blue"],
    "hold": OKABE_ITO["vermillion"],
    "base": OKABE_ITO["orange"],
    "funding": OKABE_ITO["bluish_green"],
    "airlift": OKABE_ITO["sky_blue"],
    "training": OKABE_ITO["reddish_purple"],
    "airport": "#F0E442",  # Okabe-Ito yellow: fine as a fill
}
_HATCHED_CONSTRAINTS = ("reconnaissance", "recon_done", "mandate", "lead_arrival", "partner readiness", "withdrawn",
                        "start")
_HATCHES = ("//", "..", "xx", "\\\\")
_STACK_ORDER = (
    "administration", "hold", "mandate", "reconnaissance", "recon_done", "gates", "funding", "base", "training",
    "airlift", "airport", "lead_arrival", "partner readiness", "withdrawn", "start",
)
_FOOTER_INCHES = 0.2  # the provenance footer's strip: 7-point text and a little air


@styled
def fan_chart(
    results: Results, series: str = "in_theatre", observed: pd.DataFrame | None = None, ax: Axes | None = None
) -> Figure:
    """Fan chart of a daily series: the median with its P25-P75 and P10-P90 bands over calendar dates.

    Officer series are drawn with dashed reference lines: ``in_theatre`` (all contributors) with the
    lead contributor's pledge and the planned mission strength, and with the median base capacity as
    a dotted step line when the scenario models a base; ``in_theatre.<contributor>`` with that
    contributor's pledge. ``fund_balance_usd`` is drawn in US$ millions.

    Args:
        results: The batch to draw.
        series: A series of ``results.bands``: ``in_theatre``, ``fund_balance_usd``, ``base_capacity``
            or ``in_theatre.<contributor>``.
        observed: Optional real-world points with columns ``date`` and ``value`` (officers, or US
            dollars for the fund), drawn as dots labelled "Observed".
        ax: Draw on this axes instead of a new figure (then no provenance footer is added).

    Returns:
        A new figure with one axes, or ``ax``'s figure.

    Raises:
        KeyError: If ``series`` is not in ``results.bands``.
        ValueError: If ``observed`` lacks a ``date`` or ``value`` column.
    """
    band = results.series_band(series)
    if observed is not None and not {"date", "value"} <= set(observed.columns):
        raise ValueError(f"observed needs columns 'date' and 'value', got {list(observed.columns)}")
    is_fund = series == "fund_balance_usd"
    scale = _USD_PER_MILLION if is_fund else 1.0
    colour = OKABE_ITO["blue"]

    fig, ax = new_figure(results, ax=ax)
    dates = band["date"]
    ax.fill_between(
        dates, band["p10"] / scale, band["p90"] / scale, step="post", color=colour, alpha=0.18, linewidth=0,
        label="P10–P90 (80% of runs)",
    )
    ax.fill_between(
        dates, band["p25"] / scale, band["p75"] / scale, step="post", color=colour, alpha=0.38, linewidth=0,
        label="P25–P75 (middle 50%)",
    )
    ax.plot(dates, band["p50"] / scale, drawstyle="steps-post", color=colour, linewidth=2.2, label="Median")

    references = _reference_lines(results, series)
    for (label, officers), line_colour in zip(references, (OKABE_ITO["vermillion"], OKABE_ITO["reddish_purple"]),
                                              strict=False):
        ax.axhline(officers, color=line_colour, linestyle="--", linewidth=1.5, label=label)
    high_marks = [officers for _, officers in references]
    if series == "in_theatre" and not results.scenario.unlimited_base:
        capacity = results.series_band("base_capacity")
        ax.plot(
            capacity["date"], capacity["p50"], drawstyle="steps-post", color=OKABE_ITO["bluish_green"],
            linestyle=":", linewidth=1.4, label="Base capacity (median)",
        )
        high_marks.append(float(capacity["p50"].max()))
    observed_dates = None
    if observed is not None:
        observed_dates = pd.to_datetime(observed["date"])
        ax.plot(
            observed_dates, observed["value"].to_numpy(dtype=float) / scale,
            linestyle="none", marker="o", markersize=6, color=OKABE_ITO["orange"],
            markeredgecolor=OKABE_ITO["black"], markeredgewidth=0.8, zorder=5, label="Observed",
        )

    ax.set_ylabel("Trust-fund balance (US$ M)" if is_fund else series_label(series))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    low = min(0.0, float(band["p10"].min()) / scale)
    high = max(float(band["p90"].max()) / scale, 0.0, *high_marks)
    span = high - low or 1.0
    # A little room below the lowest value keeps a median stuck at zero visible above the axis line.
    ax.set_ylim(low - 0.015 * span, high + 0.08 * span)
    date_axis(ax, results, observed_dates)
    ax.set_title(_title(series_label(series), results))
    # Below the axes: inside, the legend sat on the reference lines near the top.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below_axis_labels(ax), ncol=3,
              frameon=False)
    return fig


@styled
def contributors_chart(results: Results, ax: Axes | None = None) -> Figure:
    """Median officers in theatre over calendar dates, one line per contributor, plus the total's median.

    The median of the total is not the sum of the contributors' medians: a partner that delivers in
    fewer than half the runs has a median of zero, so each partner's legend entry says in what share
    of runs any of its officers were in theatre.

    Args:
        results: The batch to draw.
        ax: Draw on this axes instead of a new figure (then no provenance footer is added).

    Returns:
        A new figure with one axes (or ``ax``'s figure). The line of series ``s`` (``in_theatre`` or
        ``in_theatre.<contributor>``) has gid ``s``.
    """
    scenario = results.scenario
    lead = scenario.force.lead_contributor
    colours = [c for name, c in OKABE_ITO.items() if name != "black"]
    styles = ("-", "--", "-.")

    own_figure = ax is None
    fig, ax = new_figure(results, ax=ax)
    for i, name in enumerate([lead, *scenario.contributors]):
        series = contributor_series(name)
        band = results.series_band(series)
        label = contributor_name(scenario, name)
        peak = f"peak_{series}"
        if name != lead and peak in results.columns:
            share = float((results.column(peak) > 0).mean())
            label += f" ({share:.0%} of runs{'; median 0' if not band['p50'].any() else ''})"
        ax.plot(
            band["date"], band["p50"], drawstyle="steps-post", color=colours[i % len(colours)],
            linestyle=styles[(i // len(colours)) % len(styles)], linewidth=1.8, label=label, gid=series,
        )
    total = results.series_band("in_theatre")
    ax.plot(
        total["date"], total["p50"], drawstyle="steps-post", color=OKABE_ITO["black"], linewidth=2.4,
        label="All contributors (median of the total)", gid="in_theatre", zorder=3,
    )
    ax.set_ylabel("Officers in theatre (median)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    high = max(float(total["p50"].max()), 1.0)
    ax.set_ylim(-0.015 * high, 1.08 * high)
    date_axis(ax, results)
    ax.set_title(_title("Officers in theatre by contributor", results))
    # Below the axes: the lines fill every corner of a long horizon.
    _legend_below(
        fig, *ax.get_legend_handles_labels(), ax=None if own_figure else ax, ncol=2,
        title="In brackets: share of runs in which any of a partner's officers reached theatre",
        title_fontsize=font_size("note"),
    )
    return fig


def fund_fan(results: Results, ax: Axes | None = None) -> Figure:
    """Fan chart of the trust-fund balance in US$ millions (see :func:`fan_chart`), on ``ax`` if given."""
    return fan_chart(results, "fund_balance_usd", ax=ax)


@styled
def milestone_scurves(results: Results, milestones: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """S-curves of milestone dates: the share of replications that reached each milestone by each date.

    Each curve is the empirical distribution of the milestone's day over all replications, so it
    levels off below 100% when some replications do not reach the milestone by the horizon. The
    P50 and P80 dates are marked and annotated only where at least that share reached the milestone.

    Args:
        results: The batch to draw.
        milestones: Milestone names (keys of :data:`sim.model.record.MILESTONES`), in legend order;
            default :data:`DEFAULT_MILESTONES`.
        ax: Draw on this axes instead of a new figure (then no provenance footer is added).

    Returns:
        A new figure with one axes (or ``ax``'s figure). The curve of milestone ``m`` has gid ``m``; its markers and
        annotations have gids ``m_p50`` and ``m_p80``.

    Raises:
        KeyError: If a milestone is unknown.
    """
    names = tuple(DEFAULT_MILESTONES if milestones is None else milestones)
    horizon = results.scenario.horizon_days
    start = pd.Timestamp(results.scenario.start_date)
    colours = list(OKABE_ITO.values())

    own_figure = ax is None
    fig, ax = new_figure(results, ax=ax)
    for q in _MARKERS:
        ax.axhline(q, color="0.55", linestyle=":", linewidth=0.9, zorder=1)
    marks: list[tuple[float, float, str, str]] = []
    for i, milestone in enumerate(names):
        days = results.milestone_days(milestone)
        colour = colours[i % len(colours)]
        reached = np.sort(days[~np.isnan(days)])
        share = reached.size / days.size
        x = np.concatenate(([0.0], reached, [float(horizon)]))
        y = np.concatenate(([0.0], np.arange(1, reached.size + 1) / days.size, [share]))
        label = MILESTONES[milestone]
        if share < 1.0:
            label += f" ({share:.1%} reached)" if share > 0.0 else " (not reached)"
        ax.step(_to_dates(start, x), y, where="post", color=colour, linewidth=2.0, label=label, gid=milestone)
        for q, (marker, _) in _MARKERS.items():
            day = censored_quantile(days, q)
            if np.isnan(day):
                continue
            gid = f"{milestone}_p{round(q * 100)}"
            ax.plot(
                _to_dates(start, np.array([day])), [q], linestyle="none", marker=marker, markersize=7,
                color=colour, markeredgecolor="white", markeredgewidth=0.8, zorder=4, gid=gid,
            )
            marks.append((q, day, colour, gid))
    notes: list[Annotation] = []
    for q in _MARKERS:
        level = sorted((m for m in marks if m[0] == q), key=lambda m: m[1])
        for rank, (_, day, colour, gid) in enumerate(level):
            text = _short_date(results.scenario.date_of(day), results.scenario.start_date.year)
            when = _to_dates(start, np.array([day]))[0]
            # Neighbouring markers on one level sit close together: alternate their notes below-right
            # and above-left, so each note has twice the room.
            notes.append(_annotate(ax, (when, q), text, colour, gid, below=rank % 2 == 0))
    # Curves start at 0%, so the left end of each level line is free for its name.
    level_names = [
        ax.annotate(
            name, xy=(date2num(start), q), xytext=(3, 2), textcoords="offset points", ha="left", va="bottom",
            color="0.4",
        )
        for q, (_, name) in _MARKERS.items()
    ]

    ax.set_ylabel("Share of runs that reached it")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    # A little room below 0% keeps a curve that never rises visible above the axis line.
    ax.set_ylim(-0.015, 1.03)
    date_axis(ax, results)
    ax.set_title(_title("When milestones are reached", results))
    # Below the axes, where no curve can hide behind it: with a short horizon no corner is free.
    _legend_below(fig, *ax.get_legend_handles_labels(), ax=None if own_figure else ax, ncol=2)
    _place_notes(fig, ax, notes, avoid=level_names)
    return fig


@styled
def gantt(results: Results, milestones: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """Probabilistic Gantt of milestone dates: per milestone a P10–P90 bar, a P50 tick and a P80 marker.

    Quantiles are censored as in :meth:`sim.batch.results.Results.milestone_summary`: a run that does not
    reach a milestone by the horizon counts as later than any date. A bar whose P90 is after the
    horizon runs to the horizon and ends in an arrow; a milestone whose P10 is after the horizon
    (fewer than 10% of runs reach it) has no bar, only the note "not reached in most runs". Each
    P50 tick is labelled with its date; the column on the right gives the share of runs that
    reached each milestone, in black where it is below 100%. Setbacks (:data:`SETBACK_MILESTONES`)
    are drawn in vermillion.

    Args:
        results: The batch to draw.
        milestones: Milestone names, one row each from the top; default: every milestone that some run
            reaches, in the order of :data:`sim.model.record.MILESTONES`, setbacks only when at least
            :data:`MIN_SHARE_SHOWN` of runs reach them.
        ax: Draw on this axes instead of a new figure (then no provenance footer is added).

    Returns:
        A new figure with one axes (or ``ax``'s figure); row ``i`` (y = i, counted from the top) draws
        ``milestones[i]``.
        Milestone ``m``'s bar is a line with gid ``m_range`` whose x data are the P10 and P90 dates
        (or the horizon's) as date numbers; its P50 tick has gid ``m_p50`` (its date label
        ``m_p50_date``), its P80 marker ``m_p80``, the arrow of a P90 after the horizon ``m_after``,
        the note of a P10 after it ``m_not_reached`` and its share reached ``m_share``.

    Raises:
        KeyError: If a milestone is unknown.
    """
    summary = results.milestone_summary().set_index("milestone")
    if milestones is None:
        names = [m for m in MILESTONES if _shown_by_default(m, float(summary.loc[m, "share_reached"]))]
    else:
        names = list(milestones)
        for name in names:
            results.milestone_days(name)  # raises KeyError for an unknown name
    start = pd.Timestamp(results.scenario.start_date)
    horizon = start + pd.Timedelta(days=results.scenario.horizon_days)
    horizon_x = date2num(horizon)

    own_figure = ax is None
    fig, ax = new_figure(results, (FIGSIZE[0], _ROW_INCHES * max(len(names), 2) + 2.6), ax=ax)
    ax.grid(False, axis="y")
    for row, name in enumerate(names):
        _gantt_row(ax, row, name, summary.loc[name], results)
    if names:
        column = blended_transform_factory(ax.transAxes, ax.transData)
        ax.text(1.015, -0.6, "Reached", transform=column, ha="left", va="bottom", fontsize=font_size("tick"),
                weight="bold")
    else:
        empty = "No milestone reached by the horizon" if milestones is None else "No milestone chosen"
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", fontsize=font_size("label"),
                color="0.35")
    ax.axvline(horizon_x, color="0.45", linestyle="--", linewidth=1.0, zorder=1)

    ax.set_yticks(range(len(names)), [MILESTONES[name] for name in names])
    ax.set_ylim(len(names) - 0.5, -0.7)
    ax.tick_params(axis="y", length=0)
    date_axis(ax, results)
    # Room left of the start for a milestone reached on day 0, right of the horizon for the arrowheads.
    span = horizon_x - date2num(start)
    ax.set_xlim(date2num(start) - 0.01 * span, horizon_x + 0.025 * span)
    ax.set_title(_title("When milestones are reached", results, two_lines=True))
    arrows = any(pd.isna(summary.loc[name, "p90_date"]) and not pd.isna(summary.loc[name, "p10_date"])
                 for name in names)
    handles = _gantt_legend(horizon, setbacks=any(name in SETBACK_MILESTONES for name in names), arrows=arrows)
    _legend_below(fig, handles, [str(handle.get_label()) for handle in handles], ax=None if own_figure else ax,
                  ncol=3)
    return fig


@styled
def binding_chart(results: Results, milestones: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """What held each milestone back last: per gated milestone, a 100%-stacked bar of binding shares.

    A milestone's binding constraint is the last condition its step waited for; the bar splits the
    runs in which the milestone waited for something (their number is written on the right) by that
    constraint, as :meth:`sim.batch.results.Results.binding_shares`. Each constraint keeps one colour
    (and hatching, beyond the seven Okabe-Ito colours) across bars and across scenarios with the same
    gates; segments are in one fixed order, labelled with their percentage where it fits.

    Args:
        results: The batch to draw.
        milestones: Gated milestones (:data:`sim.model.record.GATED_MILESTONES`), one bar each from the top;
            default: every gated milestone that at least :data:`MIN_SHARE_SHOWN` of runs reach.
        ax: Draw on this axes instead of a new figure (then no provenance footer is added).

    Returns:
        A new figure with one axes (or ``ax``'s figure); bar ``i`` (y = i, counted from the top) draws
        ``milestones[i]``.
        The segment of constraint ``c`` in milestone ``m``'s bar is a rectangle with gid ``m:c``, its
        percentage a text with gid ``m:c:label``.

    Raises:
        KeyError: If a milestone is unknown.
        ValueError: If a milestone carries no binding constraint (is not gated).
    """
    summary = results.milestone_summary().set_index("milestone")
    if milestones is None:
        names = [m for m in GATED_MILESTONES if float(summary.loc[m, "share_reached"]) >= MIN_SHARE_SHOWN]
    else:
        names = list(milestones)
        for name in names:
            results.milestone_days(name)  # raises KeyError for an unknown name
            if name not in GATED_MILESTONES:
                raise ValueError(
                    f"milestone {name!r} carries no binding constraint; gated: {', '.join(GATED_MILESTONES)}"
                )
    shares = results.binding_shares()
    shares = shares[shares["milestone"].isin(names)]
    styles = constraint_styles(results, shares["binding"])
    counts = {name: int(results.column(f"{name}_binding").notna().sum()) for name in names}

    own_figure = ax is None
    fig, ax = new_figure(results, (FIGSIZE[0], _ROW_INCHES * 1.25 * max(len(names), 2) + 2.9), ax=ax)
    ax.grid(False, axis="y")
    labels: list[tuple[Text, float]] = []
    at_right = blended_transform_factory(ax.transAxes, ax.transData)
    for row, name in enumerate(names):
        own = shares[shares["milestone"] == name].set_index("binding")["share"]
        left = 0.0
        for constraint, (colour, hatch) in styles.items():
            if constraint not in own.index:
                continue
            share = float(own[constraint])
            ax.barh(
                row, share, left=left, height=0.72, color=colour, hatch=hatch, edgecolor="white", linewidth=0.8,
                gid=f"{name}:{constraint}",
            )
            dark = _luminance(colour) < 0.45
            text = ax.text(
                left + share / 2, row, f"{share:.0%}", ha="center", va="center",
                color="white" if dark and not hatch else OKABE_ITO["black"], gid=f"{name}:{constraint}:label",
                bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
                if hatch else None,
            )
            labels.append((text, share))
            left += share
        note = f"{counts[name]:,} runs" if counts[name] else "never waited"
        ax.text(1.01, row, note, transform=at_right, ha="left", va="center", fontsize=font_size("tick"),
                color="0.3")
    if not names:
        ax.text(
            0.5, 0.5, f"No gated milestone reached in {MIN_SHARE_SHOWN:.0%} of runs", transform=ax.transAxes,
            ha="center", fontsize=font_size("label"), color="0.35",
        )

    ax.set_yticks(range(len(names)), [MILESTONES[name] for name in names])
    ax.set_ylim(max(len(names), 1) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(0.0, 1.0)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel("Share of the runs in which it waited for something")
    ax.spines["left"].set_visible(False)
    title = _title("What held each milestone back last", results, two_lines=True)
    ax.set_title(title)
    handles = [
        Patch(facecolor=colour, hatch=hatch, edgecolor="white", label=_constraint_label(results, constraint))
        for constraint, (colour, hatch) in styles.items()
    ]
    if handles:
        _legend_below(
            fig, handles, [str(handle.get_label()) for handle in handles], ax=None if own_figure else ax,
            ncol=_balanced_columns(len(handles), 5), title="Last condition waited for",
        )
    _drop_labels_that_do_not_fit(fig, ax, labels)
    return fig


def constraint_styles(results: Results, constraints: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Fill colour and hatch of each binding constraint, in the order :func:`binding_chart` stacks them.

    The seven most common constraints have a solid Okabe-Ito colour of their own; the others, then
    the scenario's gates in their order, then unknown names alphabetically, cycle through the
    colours again with hatching. A constraint's style depends only on its name and the scenario's
    gates, so it is the same in every figure of scenarios that share their gates.

    Args:
        results: The batch whose scenario names the gates.
        constraints: The constraints to style (repeats are ignored).

    Returns:
        Constraint -> ``(colour, hatch)``, in stacking order; ``hatch`` is ``""`` for a solid fill.
    """
    wanted = set(constraints)
    gates = list(results.scenario.gates)
    hatched = [*_HATCHED_CONSTRAINTS, *gates]
    hatched += sorted(wanted - set(_SOLID_CONSTRAINTS) - set(hatched))
    palette = list(_SOLID_CONSTRAINTS.values())
    styles = {name: (colour, "") for name, colour in _SOLID_CONSTRAINTS.items()}
    for i, name in enumerate(hatched):
        styles[name] = (palette[i % len(palette)], _HATCHES[(i // len(palette)) % len(_HATCHES)])
    order = [*_STACK_ORDER[: _STACK_ORDER.index("gates")], *gates, *_STACK_ORDER[_STACK_ORDER.index("gates") + 1 :]]
    order += [name for name in hatched if name not in order]
    return {name: styles[name] for name in order if name in wanted}


def save_png(fig: Figure, path: Path | str, results: Results | Sequence[Results], dpi: float = 120) -> Path:
    """Write a figure as a PNG carrying :func:`sim.output.provenance.png_metadata`, atomically.

    The image goes to a hidden partial file beside ``path`` and is renamed into place once complete
    (:func:`sim.batch.safeio.atomic_file`), so an interrupted write never leaves a truncated PNG under the
    final name. An existing regular file is replaced; anything else there is refused.

    Args:
        fig: The figure to write.
        path: The PNG's path; its folder is created if missing.
        results: The batch (or batches) the figure draws, for the metadata.
        dpi: Resolution in dots per inch.

    Returns:
        ``path``, as a :class:`pathlib.Path`.
    """
    from sim.batch.safeio import atomic_file

    path = Path(path)
    with atomic_file(path, force=True, kind="figure") as partial:
        fig.savefig(partial, format="png", dpi=dpi, metadata=png_metadata(results))
    return path


#: Every figure the CLI writes, by file name.
FIGURES: dict[str, Callable[[Results], Figure]] = {
    "fan_in_theatre.png": fan_chart,
    "milestones_scurve.png": milestone_scurves,
    "fund_balance.png": fund_fan,
    "in_theatre_by_contributor.png": contributors_chart,
    "milestones_gantt.png": gantt,
    "binding_shares.png": binding_chart,
}


#: The kinds of a batch's figure (:func:`sim.plot`), and the function each calls.
PLOT_KINDS: dict[str, Callable[..., Figure]] = {
    "fan": fan_chart,
    "fund": fund_fan,
    "contributors": contributors_chart,
    "scurves": milestone_scurves,
    "gantt": gantt,
    "binding": binding_chart,
}


def plot(results: Results, kind: str = "fan", **kwargs: object) -> Figure:
    """The figure of ``kind`` (a key of :data:`PLOT_KINDS`) of a batch; ``kwargs`` go to its function.

    Raises:
        ValueError: If ``kind`` is unknown.
    """
    if kind not in PLOT_KINDS:
        raise ValueError(f"unknown kind of plot {kind!r}; known: {', '.join(PLOT_KINDS)}")
    return PLOT_KINDS[kind](results, **kwargs)


def new_figure(
    results: Results | Sequence[Results] | None = None, figsize: tuple[float, float] = FIGSIZE,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """A figure with one axes in the house style (:func:`style_axes`) above the provenance footer's strip.

    Args:
        results: The batch or batches the footer names. Without them no footer is written: the caller
            adds it with :func:`sim.output.provenance.add_footer` once it knows which batches it drew.
        figsize: Width and height in inches.
        ax: An axes to draw on instead: it is styled and returned with its figure, which gets no footer
            (it is the caller's figure, which may hold other axes).
    """
    if ax is not None:
        style_axes(ax)
        return ax.figure, ax  # type: ignore[return-value]
    fig = footer_figure(figsize)
    if results is not None:
        add_footer(fig, results)
    ax = fig.add_subplot()
    style_axes(ax)
    return fig, ax


def footer_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    """An empty figure whose constrained layout keeps a strip at the bottom free for the provenance footer."""
    fig = Figure(figsize=figsize)
    # The layout fills the figure above the footer's strip, so nothing it places can cover the footer.
    strip = _FOOTER_INCHES / figsize[1]
    fig.set_layout_engine(ConstrainedLayoutEngine(rect=(0.0, strip, 1.0, 1.0 - strip)))
    return fig


def style_axes(ax: Axes) -> None:
    """The house style of an axes: a light grid behind the data, no top or right spine.

    Fonts come from :mod:`sim.output.style`'s file; the grid and spines are set here as well, so that an
    axes a caller made outside :func:`~sim.output.style.plot_style` (and passed as ``ax=``) gets them too.
    """
    ax.grid(True, color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def date_axis(ax: Axes, results: Results, also: pd.Series | None = None) -> None:
    """Calendar dates from the start date to the horizon, widened to show every date in ``also``."""
    english_date_axis(ax.xaxis)
    start = pd.Timestamp(results.scenario.start_date)
    end = start + pd.Timedelta(days=results.scenario.horizon_days)
    if also is not None and also.notna().any():
        start, end = min(start, also.min()), max(end, also.max())
    ax.set_xlim(start, end)
    ax.set_xlabel("Date")
    mark_as_of(ax, results)


def mark_as_of(ax: Axes, results: Results) -> None:
    """A re-forecast's as-of date as a dotted vertical line, labelled at the top: what lies left of it was observed."""
    as_of = results.as_of
    if as_of is None:
        return
    x = pd.Timestamp(as_of.date)
    ax.axvline(x, color="0.35", linestyle=":", linewidth=1.2, zorder=1, gid="as_of")
    ax.annotate(f"as of {as_of.date.isoformat()}", xy=(x, 1.0), xycoords=("data", "axes fraction"),
                xytext=(3, -3), textcoords="offset points", ha="left", va="top", fontsize="small", color="0.35",
                gid="as_of_label")


def _gantt_row(ax: Axes, row: int, name: str, line: pd.Series, results: Results) -> None:
    """One milestone's row of :func:`gantt` from its line of the milestone summary."""
    start = date2num(pd.Timestamp(results.scenario.start_date))
    horizon_x = start + results.scenario.horizon_days
    year = results.scenario.start_date.year
    shares = blended_transform_factory(ax.transAxes, ax.transData)
    colour = OKABE_ITO["vermillion"] if name in SETBACK_MILESTONES else OKABE_ITO["blue"]
    p10, p50, p80, p90 = (line[f"p{q}_date"] for q in (10, 50, 80, 90))
    if pd.isna(p10):
        ax.text(
            start + 0.01 * (horizon_x - start), row, "not reached in most runs",
            ha="left", va="center", fontstyle="italic", color="0.35",
            gid=f"{name}_not_reached",
        )
    else:
        end = horizon_x if pd.isna(p90) else date2num(p90)
        ax.plot(
            [date2num(p10), end], [row, row], color=colour, alpha=0.45, linewidth=_BAR_POINTS,
            solid_capstyle="butt", gid=f"{name}_range",
        )
        if pd.isna(p90):
            ax.plot(
                [horizon_x], [row], linestyle="none", marker=">", markersize=9, color=colour,
                markeredgecolor="white", markeredgewidth=0.6, clip_on=False, gid=f"{name}_after", zorder=4,
            )
    if not pd.isna(p80):
        ax.plot(
            [date2num(p80)], [row], linestyle="none", marker="D", markersize=6, color="white",
            markeredgecolor=OKABE_ITO["black"], markeredgewidth=1.2, clip_on=False, gid=f"{name}_p80",
            zorder=4,
        )
    if not pd.isna(p50):
        x50 = date2num(p50)
        ax.plot(
            [x50], [row], linestyle="none", marker="|", markersize=_BAR_POINTS + 6, markeredgewidth=2.5,
            color=OKABE_ITO["black"], clip_on=False, gid=f"{name}_p50", zorder=5,
        )
        where = (x50 - start) / (horizon_x - start)
        ax.annotate(
            _short_date(p50.date(), year), xy=(x50, row), xytext=(0, _BAR_POINTS / 2 + 1.5),
            textcoords="offset points", ha="right" if where > 0.93 else "left" if where < 0.04 else "center",
            va="bottom", color="0.15", gid=f"{name}_p50_date",
        )
    share = float(line["share_reached"])
    ax.text(
        1.015, row, _percent(share), transform=shares, ha="left", va="center", fontsize=font_size("tick"),
        color="0.55" if share >= 1.0 else OKABE_ITO["black"], gid=f"{name}_share",
    )


def _gantt_legend(horizon: pd.Timestamp, setbacks: bool, arrows: bool) -> list[Line2D]:
    """What the marks of :func:`gantt` mean; setback bars and arrows only when some are drawn."""
    handles = [
        Line2D([], [], color=OKABE_ITO["blue"], alpha=0.45, linewidth=_BAR_POINTS / 1.5, solid_capstyle="butt",
               label="P10–P90 (80% of runs)"),
        Line2D([], [], linestyle="none", marker="|", markersize=12, markeredgewidth=2.5, color=OKABE_ITO["black"],
               label="P50 (half of runs by then)"),
        Line2D([], [], linestyle="none", marker="D", markersize=6, color="white",
               markeredgecolor=OKABE_ITO["black"], markeredgewidth=1.2, label="P80"),
        Line2D([], [], linestyle="none", marker=">", markersize=9, color=OKABE_ITO["blue"],
               label="P90 after the horizon"),
        Line2D([], [], color="0.45", linestyle="--", linewidth=1.0,
               label=f"Horizon ({_short_date(horizon.date(), 0)})"),
    ]
    if setbacks:
        handles.insert(1, Line2D([], [], color=OKABE_ITO["vermillion"], alpha=0.45, linewidth=_BAR_POINTS / 1.5,
                                 solid_capstyle="butt", label="Setback: P10–P90"))
    if not arrows:
        handles = [handle for handle in handles if handle.get_marker() != ">"]
    return handles


def _shown_by_default(milestone: str, share_reached: float) -> bool:
    if milestone in SETBACK_MILESTONES:
        return share_reached >= MIN_SHARE_SHOWN
    return share_reached > 0.0


def _balanced_columns(entries: int, most: int) -> int:
    """Fewest legend columns, at most ``most``, that need no more rows than ``most`` columns would."""
    rows = -(-entries // most)
    return -(-entries // rows)


def _percent(share: float) -> str:
    """'100%', '95.5%', '0.3%': one decimal, dropped when it is zero."""
    return f"{share:.1%}".replace(".0%", "%")


def _constraint_label(results: Results, constraint: str) -> str:
    label = constraint.replace("_", " ")
    return f"gate: {label}" if constraint in results.scenario.gates else label


def contributor_name(scenario: Scenario, name: str) -> str:
    """A contributor's name as a reader sees it: the scenario's ``label`` for it if it sets one, else
    :func:`sim.output.text.display_name` of its key (``caricom_others`` -> ``CARICOM others``)."""
    contributor = scenario.contributors.get(name)
    return display_name(name, getattr(contributor, "label", None))


def _luminance(colour: str) -> float:
    red, green, blue = to_rgb(colour)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _drop_labels_that_do_not_fit(fig: Figure, ax: Axes, labels: list[tuple[Text, float]]) -> None:
    """Remove each segment's percentage that is wider than its segment."""
    if not labels:
        return
    fig.draw_without_rendering()
    pixels_per_share = ax.get_window_extent().width
    for text, share in labels:
        if text.get_window_extent().width + 4.0 > share * pixels_per_share:
            text.remove()


def _legend_below(fig: Figure, handles: list, labels: list[str], ax: Axes | None = None, **options: object) -> None:
    """A frameless legend below the axes: the figure's, just above the provenance footer's strip; or, on a
    caller's axes (``ax``), that axes' own legend hung below it."""
    if ax is not None:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below_axis_labels(ax),
                  frameon=False, **options)
        return
    # The layout reserves the legend's room above the footer's strip but anchors the legend itself at the
    # figure's bottom edge: lifting it by the strip puts it into that room.
    pad = 0.5 + _FOOTER_INCHES * 72.0 / font_size("legend")
    fig.legend(handles, labels, loc="outside lower center", frameon=False, borderaxespad=pad, **options)


def _title(subject: str, results: Results, two_lines: bool = False) -> str:
    """The subject, then the scenario and runs; on two lines for charts whose row labels narrow the axes."""
    batch = f"scenario '{results.name}', {results.runs:,} runs from {format_date(results.scenario.start_date, 'short')}"
    if results.as_of is not None:
        batch += f", as of {format_date(results.as_of.date, 'short')}"
    one_line = f"{subject}: {batch}"
    # A long scenario name would run the one line off the figure's edge.
    return f"{subject}\n{batch}" if two_lines or len(one_line) > TITLE_CHARS else one_line


#: Longest title kept on one line (characters at the title's size across a default-width figure).
TITLE_CHARS = 95


def _reference_lines(results: Results, series: str) -> list[tuple[str, float]]:
    """Labelled officer counts an officer series is measured against: pledges and the planned strength."""
    scenario = results.scenario
    force = scenario.force
    lead_pledge = (f"{_possessive(force.lead_contributor)} pledge ({force.pledged_officers:,})", force.pledged_officers)
    if series == "in_theatre":
        planned = scenario.mission_size_officers
        return [lead_pledge, (f"Planned mission strength ({planned:,})", planned)]
    if series == contributor_series(force.lead_contributor):
        return [lead_pledge]
    name = series.removeprefix("in_theatre.")
    if series.startswith("in_theatre.") and name in scenario.contributors:
        pledged = scenario.contributors[name].pledged_officers
        return [(f"{_possessive(contributor_name(scenario, name))} pledge ({pledged:,})", pledged)]
    return []


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _to_dates(start: pd.Timestamp, days: np.ndarray) -> pd.DatetimeIndex:
    return start + pd.to_timedelta(days, unit="D")


def _short_date(date: dt.date, year: int) -> str:
    """'4 Jul', with the year only when it is not ``year`` (the start date's): '4 Jul 2025'."""
    return format_date(date, "short", year=year)


def _annotate(ax: Axes, xy: tuple[pd.Timestamp, float], text: str, colour: str, gid: str, below: bool) -> Annotation:
    return ax.annotate(
        text,
        xy=xy, xytext=(_NOTE_GAP if below else -_NOTE_GAP, -_NOTE_GAP if below else _NOTE_GAP),
        textcoords="offset points", ha="left" if below else "right", va="top" if below else "bottom",
        color=colour, gid=gid, zorder=6,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
    )


def _place_notes(fig: Figure, ax: Axes, notes: list[Annotation], avoid: list[Annotation]) -> None:
    """Give each note the first free spot inside the axes: its own side of the marker, then the other
    side, then each of these one line further from the marker's level, until it overlaps no earlier
    note and nothing in ``avoid``."""
    if not notes:
        return
    # Text extents are known only once the layout has run.
    fig.draw_without_rendering()
    frame = ax.get_window_extent()
    placed: list[Bbox] = [text.get_window_extent() for text in avoid]
    for note in notes:
        dx, dy = note.get_position()
        step = note.get_window_extent().height * 72.0 / fig.dpi + 2.0
        spots = [(side, dy + np.sign(dy) * k * step) for k in range(len(notes) + 1) for side in (dx, -dx)]
        for spot in spots:
            box = _move(note, spot)
            if frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1) and not any(
                box.overlaps(other) for other in placed
            ):
                break
        else:
            box = _move(note, (dx, dy))
        # Side by side, two notes a space apart read as one date range: keep them well apart.
        placed.append(box.padded(2 * _NOTE_GAP * fig.dpi / 72.0, 1.0))


def _move(note: Annotation, offset: tuple[float, float]) -> Bbox:
    note.set_position(offset)
    note.set_horizontalalignment("left" if offset[0] > 0 else "right")
    return note.get_window_extent()


__all__ = [
    "DEFAULT_MILESTONES",
    "FIGSIZE",
    "FIGURES",
    "MIN_SHARE_SHOWN",
    "OKABE_ITO",
    "PLOT_KINDS",
    "SETBACK_MILESTONES",
    "binding_chart",
    "constraint_styles",
    "contributor_name",
    "contributors_chart",
    "date_axis",
    "fan_chart",
    "footer_figure",
    "fund_fan",
    "gantt",
    "milestone_scurves",
    "new_figure",
    "plot",
    "save_png",
    "style_axes",
]
