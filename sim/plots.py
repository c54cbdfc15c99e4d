"""Figures of a batch: fan charts of the daily series, officers by contributor, S-curves of milestone dates.

Each function reads a :class:`sim.results.Results` (its bands, replications and scenario) and returns
a fresh :class:`matplotlib.figure.Figure` built without pyplot, so nothing depends on global state or
a GUI backend. Nothing here saves or shows: the CLI writes every entry of :data:`FIGURES`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.transforms import Bbox

from sim.record import MILESTONES, contributor_series, series_label
from sim.results import Results, censored_quantile

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
#: Figure size in inches.
FIGSIZE = (9.0, 5.0)

_TITLE_SIZE = 13
_LABEL_SIZE = 11
_TICK_SIZE = 10
_LEGEND_SIZE = 9.5
_NOTE_SIZE = 8.5
_NOTE_GAP = 5.0  # points between a marker and its date note
_MARKERS = {0.50: ("o", "P50"), 0.80: ("D", "P80")}
_USD_PER_MILLION = 1e6


def fan_chart(results: Results, series: str = "in_theatre", observed: pd.DataFrame | None = None) -> Figure:
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

    Returns:
        A new figure with one axes.

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

    fig, ax = _new_figure()
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
    observed_dates = pd.to_datetime(observed["date"]) if observed is not None else None
    if observed is not None:
        ax.plot(
            observed_dates, observed["value"].to_numpy(dtype=float) / scale,
            linestyle="none", marker="o", markersize=6, color=OKABE_ITO["orange"],
            markeredgecolor=OKABE_ITO["black"], markeredgewidth=0.8, zorder=5, label="Observed",
        )

    ax.set_ylabel("Trust-fund balance (US$ M)" if is_fund else series_label(series), fontsize=_LABEL_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    low = min(0.0, float(band["p10"].min()) / scale)
    high = max(float(band["p90"].max()) / scale, 0.0, *high_marks)
    span = high - low or 1.0
    # A little room below the lowest value keeps a median stuck at zero visible above the axis line.
    ax.set_ylim(low - 0.015 * span, high + 0.08 * span)
    _date_axis(ax, results, observed_dates)
    ax.set_title(_title(series_label(series), results), fontsize=_TITLE_SIZE, loc="left")
    ax.legend(loc="best", fontsize=_LEGEND_SIZE, framealpha=0.9)
    return fig


def contributors_chart(results: Results) -> Figure:
    """Median officers in theatre over calendar dates, one line per contributor, plus the total's median.

    The median of the total is not the sum of the contributors' medians: a partner that delivers in
    fewer than half the runs has a median of zero, so each partner's legend entry says in what share
    of runs any of its officers were in theatre.

    Args:
        results: The batch to draw.

    Returns:
        A new figure with one axes. The line of series ``s`` (``in_theatre`` or
        ``in_theatre.<contributor>``) has gid ``s``.
    """
    scenario = results.scenario
    lead = scenario.force.lead_contributor
    colours = [c for name, c in OKABE_ITO.items() if name != "black"]
    styles = ("-", "--", "-.")

    fig, ax = _new_figure()
    for i, name in enumerate([lead, *scenario.contributors]):
        series = contributor_series(name)
        band = results.series_band(series)
        label = name
        peak = f"peak_{series}"
        if name != lead and peak in results.replications:
            share = float((results.replications[peak] > 0).mean())
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
    ax.set_ylabel("Officers in theatre (median)", fontsize=_LABEL_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    high = max(float(total["p50"].max()), 1.0)
    ax.set_ylim(-0.015 * high, 1.08 * high)
    _date_axis(ax, results)
    ax.set_title(_title("Officers in theatre by contributor", results), fontsize=_TITLE_SIZE, loc="left")
    # Below the axes: the lines fill every corner of a long horizon.
    fig.legend(
        *ax.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=_LEGEND_SIZE, frameon=False,
        title="In brackets: share of runs in which any of a partner's officers reached theatre",
        title_fontsize=_NOTE_SIZE,
    )
    return fig


def fund_fan(results: Results) -> Figure:
    """Fan chart of the trust-fund balance in US$ millions (see :func:`fan_chart`)."""
    return fan_chart(results, "fund_balance_usd")


def milestone_scurves(results: Results, milestones: Sequence[str] | None = None) -> Figure:
    """S-curves of milestone dates: the share of replications that reached each milestone by each date.

    Each curve is the empirical distribution of the milestone's day over all replications, so it
    levels off below 100% when some replications do not reach the milestone by the horizon. The
    P50 and P80 dates are marked and annotated only where at least that share reached the milestone.

    Args:
        results: The batch to draw.
        milestones: Milestone names (keys of :data:`sim.record.MILESTONES`), in legend order;
            default :data:`DEFAULT_MILESTONES`.

    Returns:
        A new figure with one axes. The curve of milestone ``m`` has gid ``m``; its markers and
        annotations have gids ``m_p50`` and ``m_p80``.

    Raises:
        KeyError: If a milestone is unknown.
    """
    names = tuple(DEFAULT_MILESTONES if milestones is None else milestones)
    horizon = results.scenario.horizon_days
    start = pd.Timestamp(results.scenario.start_date)
    colours = list(OKABE_ITO.values())

    fig, ax = _new_figure()
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
            text = _short_date(results.date_of(day), results.scenario.start_date.year)
            when = _to_dates(start, np.array([day]))[0]
            # Neighbouring markers on one level sit close together: alternate their notes below-right
            # and above-left, so each note has twice the room.
            notes.append(_annotate(ax, (when, q), text, colour, gid, below=rank % 2 == 0))
    # Curves start at 0%, so the left end of each level line is free for its name.
    level_names = [
        ax.annotate(
            name, xy=(date2num(start), q), xytext=(3, 2), textcoords="offset points", ha="left", va="bottom",
            fontsize=_NOTE_SIZE, color="0.4",
        )
        for q, (_, name) in _MARKERS.items()
    ]

    ax.set_ylabel("Share of runs that reached it", fontsize=_LABEL_SIZE)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    # A little room below 0% keeps a curve that never rises visible above the axis line.
    ax.set_ylim(-0.015, 1.03)
    _date_axis(ax, results)
    ax.set_title(_title("When milestones are reached", results), fontsize=_TITLE_SIZE, loc="left")
    # Below the axes, where no curve can hide behind it: with a short horizon no corner is free.
    fig.legend(
        *ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=_LEGEND_SIZE, frameon=False
    )
    _place_notes(fig, ax, notes, avoid=level_names)
    return fig


#: Every figure the CLI writes, by file name.
FIGURES: dict[str, Callable[[Results], Figure]] = {
    "fan_in_theatre.png": fan_chart,
    "milestones_scurve.png": milestone_scurves,
    "fund_balance.png": fund_fan,
    "in_theatre_by_contributor.png": contributors_chart,
}


def _new_figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=_TICK_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _date_axis(ax: Axes, results: Results, also: pd.Series | None = None) -> None:
    """Calendar dates from the start date to the horizon, widened to show every date in ``also``."""
    locator = AutoDateLocator(minticks=5, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    start = pd.Timestamp(results.scenario.start_date)
    end = start + pd.Timedelta(days=results.scenario.horizon_days)
    if also is not None and also.notna().any():
        start, end = min(start, also.min()), max(end, also.max())
    ax.set_xlim(start, end)
    ax.set_xlabel("Date", fontsize=_LABEL_SIZE)


def _title(subject: str, results: Results) -> str:
    start = results.scenario.start_date
    return f"{subject}: scenario '{results.name}', {results.runs:,} runs from {start.day} {start:%b %Y}"


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
        return [(f"{_possessive(name)} pledge ({pledged:,})", pledged)]
    return []


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _to_dates(start: pd.Timestamp, days: np.ndarray) -> pd.DatetimeIndex:
    return start + pd.to_timedelta(days, unit="D")


def _short_date(date: dt.date, year: int) -> str:
    """'4 Jul', with the year only when it is not ``year`` (the start date's): '4 Jul 2025'."""
    return f"{date.day} {date:%b}" if date.year == year else f"{date.day} {date:%b %Y}"


def _annotate(ax: Axes, xy: tuple[pd.Timestamp, float], text: str, colour: str, gid: str, below: bool) -> Annotation:
    return ax.annotate(
        text,
        xy=xy, xytext=(_NOTE_GAP if below else -_NOTE_GAP, -_NOTE_GAP if below else _NOTE_GAP),
        textcoords="offset points", ha="left" if below else "right", va="top" if below else "bottom",
        fontsize=_NOTE_SIZE, color=colour, gid=gid, zorder=6,
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
    "OKABE_ITO",
    "contributors_chart",
    "fan_chart",
    "fund_fan",
    "milestone_scurves",
]
