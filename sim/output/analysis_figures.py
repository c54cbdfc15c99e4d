"""Figures of the analyses: a sweep's milestone against the varied value, and the tornado chart.

Each takes what :mod:`sim.analysis.sweep` or :mod:`sim.analysis.sensitivity` returns and gives back a
matplotlib Figure.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import blended_transform_factory

from sim.analysis.sweep import SWEEP_QUANTILES, SweepResult, check_milestone, key_label, toml_text
from sim.batch.results import Results, censored_quantile
from sim.output.plots import OKABE_ITO, new_figure
from sim.output.provenance import add_footer, describe
from sim.output.style import EnglishDateFormatter, below_axis_labels, font_size, styled
from sim.output.text import format_date, share_text
from sim.scenario.milestones import MILESTONES
from sim.scenario.schema import Scenario

#: Average width of a character in ems, for wrapping text to a width in points.
_EM = 0.56


_LINE_COLOURS = ("blue", "vermillion", "bluish_green", "orange", "reddish_purple", "sky_blue", "black")


def set_titles(fig: Figure, ax: Axes, title: str, subtitle: str, own_figure: bool = True) -> None:
    """A title over a smaller grey subtitle, both left-aligned with the axes and wrapped to its width.

    Lays the figure out once to learn where the axes sit (long tick labels move its left edge). On a caller's
    figure (``own_figure`` false) both go in the axes' own title, leaving the figure's title alone.
    """
    size = font_size("note")
    if not own_figure:
        width = int(ax.get_position().width * fig.get_figwidth() * 72 / (size * _EM))
        ax.set_title(f"{title}\n{_wrap(subtitle, width)}", loc="left", fontsize=size + 1)
        return
    heading = fig.suptitle(title, x=0.01, ha="left")
    note = ax.set_title(subtitle, loc="left", fontsize=size, color="0.3", wrap=False)
    note.set_text(_wrap(subtitle, int(0.5 * fig.get_figwidth() * 72 / (size * _EM))))
    fig.draw_without_rendering()
    box = ax.get_position()
    heading.set_x(box.x0)
    note.set_text(_wrap(subtitle, int(box.width * fig.get_figwidth() * 72 / (size * _EM))))


def unique_batches(results: Iterable[Results]) -> list[Results]:
    """Batches with distinct descriptions, for a footer that names each kind once."""
    seen: dict[str, Results] = {}
    for res in results:
        seen.setdefault(describe(res), res)
    return list(seen.values())


@styled
def sweep_figure(result: SweepResult, milestone: str = "first_arrival", x: str | None = None,
                 by: str | None = None, ax: Axes | None = None) -> Figure:
    """A milestone's median date, with its P10-P90 band, against a varied value.

    With a second varied key (``by``) there is one line per value of it. Any further varied key is
    held at its first value, as the subtitle says. Under each median the share of runs that reached
    the milestone by the horizon is written; a quantile beyond the horizon is drawn at the horizon
    with an open marker.

    Args:
        result: The sweep.
        milestone: A key of :data:`sim.model.record.MILESTONES`.
        x: The varied key on the horizontal axis (default: the first one).
        by: The varied key that splits the lines (default: the second one, if any).

        ax: Draw on this axes instead of a new figure (then no provenance footer is added and the titles go
            in the axes' title).

    Returns:
        A new figure (or ``ax``'s figure). The median line of each value ``v`` of ``by`` has gid ``median:v``
        (``median`` without ``by``), its band ``band:v`` (``band``).

    Raises:
        KeyError: If the milestone is unknown or ``x`` or ``by`` is not a varied key.
    """
    check_milestone(milestone)
    keys = list(result.vary)
    x = keys[0] if x is None else x
    if by is None:
        by = next((k for k in keys if k != x), None)
    for key in (x, by):
        if key is not None and key not in result.vary:
            raise KeyError(f"{key!r} is not a varied key; varied: {', '.join(keys)}")
    if by == x:
        raise KeyError(f"x and by must differ, both are {x!r}")
    held = {k: result.vary[k][0] for k in keys if k not in (x, by)}
    scenario = result.scenario
    start = date2num(scenario.start_date)
    horizon = scenario.horizon_days
    xs_values = result.vary[x]
    positions, tick_labels = _x_positions(xs_values)

    own_figure = ax is None
    fig, ax = new_figure(ax=ax)
    groups: list[Any] = [None] if by is None else list(result.vary[by])
    span = float(positions.max() - positions.min()) or 1.0
    # Several lines: P10-P90 as whiskers, nudged apart, since overlapping bands turn muddy.
    nudge = 0.0 if len(groups) == 1 else min(0.025 * span, 0.3 * float(np.diff(positions).min()) / len(groups))
    beyond = False
    used: list[Results] = []
    drawn: list[tuple[np.ndarray, np.ndarray, str]] = []  # per line: positions, P10-P50-P90 table, colour
    for g, group in enumerate(groups):
        colour = OKABE_ITO[_LINE_COLOURS[g % len(_LINE_COLOURS)]]
        rows = []
        for value in xs_values:
            point: dict[str, Any] = {**held, x: value} if group is None else {**held, x: value, str(by): group}
            res = result.results_at({k: point[k] for k in keys})
            used.append(res)
            days = res.milestone_days(milestone)
            rows.append([censored_quantile(days, q / 100) for q in SWEEP_QUANTILES] + [float(np.mean(~np.isnan(days)))])
        table = np.array(rows)
        p10, p50, p90, share = (table[:, i] for i in range(4))
        beyond = beyond or bool(np.isnan(table[:, :3]).any())
        low, mid, high = (np.where(np.isnan(q), horizon, q) + start for q in (p10, p50, p90))
        at = positions + (g - (len(groups) - 1) / 2) * nudge
        drawn.append((at, table[:, :3], colour))
        suffix = "" if group is None else f":{toml_text(group)}"
        if group is None:
            ax.fill_between(at, low, high, color=colour, alpha=0.22, linewidth=0, gid="band",
                            label="P10–P90: 80% of runs fall in the band")
            label = "Median"
        else:
            ax.vlines(at, low, high, color=colour, linewidth=2.2, alpha=0.55, gid=f"band{suffix}")
            label = f"{by} = {format_value(str(by), group)}"
        ax.plot(at, mid, color=colour, linewidth=2.0, marker="o", markersize=6, gid=f"median{suffix}", label=label)
        late = np.isnan(p50)
        if late.any():
            ax.plot(at[late], mid[late], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                    markeredgecolor=colour, zorder=4)
        # Alternate sides with several lines, so each label sits beside its own marker.
        side = -1 if len(groups) > 1 and g % 2 == 0 else 1
        for px, py, reached in zip(at, mid, share, strict=True):
            ax.annotate(share_text(reached), xy=(px, py), xytext=(6 * side, -6), textcoords="offset points",
                        ha="left" if side > 0 else "right", va="top", color=colour, zorder=5,
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if beyond and not _clip_past_horizon(ax, drawn, start, horizon):
        ax.axhline(start + horizon, color="0.45", linestyle="--", linewidth=1.0,
                   label=f"Horizon ({_day_text(scenario.date_of(horizon))}): quantiles after it drawn on it")
    elif beyond:
        ax.plot([], [], linestyle="none", marker="^", color="0.35",
                label=f"P90 after the horizon ({_day_text(scenario.date_of(horizon))}): band runs off the top")

    if tick_labels is not None:
        ax.set_xticks(positions, tick_labels)
        ax.set_xlim(positions.min() - 0.5, positions.max() + 0.5)
    else:
        if all(isinstance(v, dt.date) for v in xs_values):
            ax.xaxis.set_major_formatter(EnglishDateFormatter())
        else:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(x, v)))
        ax.set_xticks(positions)
        ax.set_xlim(positions.min() - 0.08 * span, positions.max() + 0.08 * span)
    ax.set_xlabel(f"{key_label(x)}   [{x}]")
    ax.yaxis.set_major_locator(AutoDateLocator(minticks=4, maxticks=10))
    ax.yaxis.set_major_formatter(EnglishDateFormatter(one_line=True))
    ax.set_ylabel(f"{MILESTONES[milestone]} (date)")
    whiskers = "" if by is None else " Bars: P10–P90 (80% of runs)."
    subtitle = (f"Scenario '{scenario.name}' from {_day_text(scenario.start_date)}, {result.runs:,} runs per point, "
                f"the same seed ({result.seed}) at every point.{whiskers} Percentages: share of runs in which it "
                f"happens by {_day_text(scenario.date_of(horizon))}.")
    if held:
        subtitle += " Held at: " + "; ".join(f"{k} = {toml_text(v)}" for k, v in held.items()) + "."
    set_titles(fig, ax, f"{MILESTONES[milestone]}: median and P10–P90 by {x}", subtitle, own_figure)
    # Below the axes: a band that covers the plot leaves no free corner.
    dated = tick_labels is None and all(isinstance(v, dt.date) for v in xs_values)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False,
              bbox_transform=below_axis_labels(ax, 0.75 if dated else 0.5))
    if own_figure:
        add_footer(fig, unique_batches(used))
    return fig


def _clip_past_horizon(ax: Axes, drawn: list[tuple[np.ndarray, np.ndarray, str]], start: float,
                       horizon: float) -> bool:
    """When only P90s (not medians) fall after the horizon, end the date axis a little above the latest quantile
    that is known rather than at the horizon, so the medians' range is not squeezed into a strip; bands and bars
    then run off the top, where a triangle marks each P90 after the horizon. Returns whether it clipped."""
    quantiles = np.concatenate([table for _, table, _ in drawn])
    known = quantiles[~np.isnan(quantiles)]
    if np.isnan(quantiles[:, 1]).any() or known.size == 0:
        return False
    low, high = float(known.min()), float(known.max())
    top = high + 0.15 * max(high - low, 30.0)
    if top >= 0.9 * horizon:
        return False
    ax.set_ylim(start + low - 0.06 * max(high - low, 30.0), start + top)
    edge = blended_transform_factory(ax.transData, ax.transAxes)
    for at, table, colour in drawn:
        late = np.isnan(table[:, 2])
        ax.plot(at[late], np.ones(late.sum()), linestyle="none", marker="^", markersize=8, color=colour,
                transform=edge, clip_on=False, zorder=5)
    return True


def _x_positions(values: list[Any]) -> tuple[np.ndarray, list[str] | None]:
    """Where each varied value sits on the axis, and tick labels when the values are not numbers."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float), None
    if all(isinstance(v, dt.date) for v in values):
        return np.asarray([date2num(v) for v in values], dtype=float), None
    return np.arange(len(values), dtype=float), [_wrap(toml_text(v)) for v in values]


def format_value(key: str, value: Any) -> str:
    """A value of ``key`` for a label: US dollars in k or M, shares in percent, else a short number."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return toml_text(value)
    if key.endswith("_usd"):
        size = abs(value)
        if size >= 1e6:
            return f"${value / 1e6:,.3g}M"
        return f"${value / 1e3:,.3g}k" if size >= 1e3 else f"${value:,.0f}"
    if key.rsplit(".", 1)[-1] in ("paid_share", "share_delivered"):
        return f"{value:.0%}"
    return f"{value:,.3g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _wrap(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _day_text(date: dt.date) -> str:
    return format_date(date, "short")


#: Colours of the two pins: colour-blind safe and distinct in greyscale.
LOW_COLOUR = OKABE_ITO["blue"]


HIGH_COLOUR = OKABE_ITO["orange"]


@styled
def tornado_figure(table: pd.DataFrame, top: int = 15, dates: bool = True, ax: Axes | None = None) -> Figure:
    """A tornado chart of :func:`tornado`'s table: each input's effect on the outcome's median.

    Two bars per input start at the baseline median: the median with the input held at its P10
    (blue, above) and at its P90 (orange, below), each labelled with its change. Inputs are ranked
    by swing, largest at the top; a bar reaching past the horizon is hatched (a lower bound).

    Args:
        table: The table returned by :func:`tornado` (its ``attrs`` carry the context).
        top: How many inputs to draw, largest swings first; the rest are counted in the subtitle.
        dates: For a milestone, add calendar dates on a top axis.
        ax: Draw on this axes instead of a new figure (then no provenance footer is added and the titles go
            in the axes' title).

    Returns:
        A new figure (or ``ax``'s figure). Bars have gids ``low:<input>`` and ``high:<input>``; the baseline
        line ``baseline``.

    Raises:
        ValueError: If the table lacks the ``attrs`` that :func:`tornado` sets.
    """
    attrs = table.attrs
    needed = ("outcome", "label", "unit", "baseline_median", "scenario", "seed", "runs", "low", "high")
    if any(k not in attrs for k in needed):
        raise ValueError("the table lacks the attrs tornado() sets (outcome, scenario, seed...); pass its result")
    scenario: Scenario = attrs["scenario"]
    outcome, unit = attrs["outcome"], attrs["unit"]
    is_milestone = outcome in MILESTONES
    horizon = float(scenario.horizon_days)
    baseline = attrs["baseline_median"]
    base = horizon if math.isnan(baseline) else baseline
    shown = table.head(top)
    n = len(shown)
    low_q, high_q = round(attrs["low"] * 100), round(attrs["high"] * 100)

    reach = np.concatenate(([0.0], shown["low_delta"].to_numpy(), shown["high_delta"].to_numpy()))
    span = float(reach.max() - reach.min()) or 1.0

    own_figure = ax is None
    fig, ax = new_figure(figsize=(10.0, max(4.2, 2.2 + 0.46 * n)), ax=ax)
    ax.grid(False)
    ax.grid(True, axis="x", color="0.88", linewidth=0.8)
    y = np.arange(n)[::-1].astype(float)
    height = 0.36
    for yi, row in zip(y, shown.itertuples(index=False), strict=True):
        for which, offset, colour in (("low", height / 2, LOW_COLOUR), ("high", -height / 2, HIGH_COLOUR)):
            delta = getattr(row, f"{which}_delta")
            late = is_milestone and math.isnan(getattr(row, f"{which}_median"))
            # A swing the batch cannot tell from Monte Carlo error is drawn faint.
            faint = bool(getattr(row, "within_noise", False))
            ax.barh(yi + offset, delta, left=base, height=height, color=colour, edgecolor="white" if late else colour,
                    hatch="///" if late else None, linewidth=0.5, gid=f"{which}:{row.input}",
                    alpha=0.35 if faint else 1.0)
            if abs(delta) < 0.01 * span and not late:
                continue
            text = _delta_text(delta, unit, late)
            ax.annotate(text, xy=(base + delta, yi + offset), xytext=(4 if delta >= 0 else -4, 0),
                        textcoords="offset points", ha="left" if delta >= 0 else "right", va="center",
                        color="0.25")
    ax.axvline(base, color=OKABE_ITO["black"], linewidth=1.3, gid="baseline", zorder=3)
    labels = [f"{row.label}: {format_value(row.input, row.low_value)} → {format_value(row.input, row.high_value)}"
              + (" (within noise)" if getattr(row, "within_noise", False) else "")
              for row in shown.itertuples(index=False)]
    ax.set_yticks(y, labels)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-2.0, n - 0.45)
    # Room for the change labels at both ends.
    ax.set_xlim(base + reach.min() - 0.16 * span, base + reach.max() + 0.16 * span)

    label = attrs["label"]
    if is_milestone:
        start = scenario.start_date
        ax.set_xlabel(f"Median day of '{label}' (days after {format_date(start, 'short')})")
        if dates:
            origin = date2num(start)
            top_axis = ax.secondary_xaxis("top", functions=(lambda d: d + origin, lambda t: t - origin))
            top_axis.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
            top_axis.xaxis.set_major_formatter(EnglishDateFormatter())
            top_axis.tick_params(colors="0.3")
        when = "after the horizon" if math.isnan(baseline) else f"{_date(scenario, baseline)}, day {baseline:.0f}"
    else:
        ax.set_xlabel(f"Median of: {label}" + (f" ({unit})" if unit else ""))
        when = _number(baseline, unit)
    handles = [
        Patch(color=LOW_COLOUR, label=f"Held at its P{low_q}"),
        Line2D([], [], color=OKABE_ITO["black"], linewidth=1.3, label=f"Baseline median ({when})"),
        Patch(color=HIGH_COLOUR, label=f"Held at its P{high_q}"),
    ]
    # The legend sits in rows of its own below the last input, where no bar can run under it.
    ax.legend(handles=handles, loc="lower center", ncol=2, framealpha=0.95, borderaxespad=0.3)
    rest = len(table) - n
    subtitle = (
        f"Each input held at its P{low_q} and at its P{high_q} while every other input is drawn as usual, "
        f"{attrs['runs']:,} runs per bar with the same seed ({attrs['seed']}), so only the pinned input differs. "
        f"Scenario '{scenario.name}' from {format_date(scenario.start_date, 'short')}. "
        "Bars: change in the median (none drawn: no change); labels: the pinned values."
    )
    if rest > 0:
        small = float(table["swing"].iloc[n:].max())
        inputs_text = f"{rest} more input{'s' if rest > 1 else ''}"
        subtitle += f" {inputs_text} with smaller swings (at most {_number(small, unit)}) not shown."
    if shown["censored"].any():
        subtitle += " Hatched: median after the horizon, drawn at it (a lower bound)."
    set_titles(fig, ax, f"What moves the median of '{label}'", subtitle, own_figure)
    if not own_figure:
        return fig
    add_footer(fig, Results(scenario=scenario, seed=attrs["seed"], runs=attrs["runs"], replications=pd.DataFrame(),
                            bands=pd.DataFrame()))
    return fig


def _delta_text(delta: float, unit: str, late: bool) -> str:
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    text = f"{sign}{_number(abs(delta), unit)}"
    return f"≥{text} (after horizon)" if late else text


def _number(value: float, unit: str) -> str:
    if unit == "days":
        return f"{value:,.0f} d" if abs(value) >= 1 or value == 0 else f"{value:.1f} d"
    if unit == "US$":
        return format_value("x_usd", value)
    return f"{value:,.3g}"


def _date(scenario: Scenario, day: float) -> str:
    date = scenario.date_of(day)
    return format_date(date, "short")


