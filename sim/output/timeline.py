"""The timeline of one replication: a Gantt of its spans above its officers-in-theatre curve.

Reads a traced :class:`sim.model.record.Record` (``simulate(..., trace=True)``) and its scenario; the
text of the same story is :func:`sim.analysis.story.format_story`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import textwrap
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import blended_transform_factory

from sim.analysis.story import MARKED_MILESTONES, traced_events
from sim.model.record import Record, contributor_series
from sim.output.delays import cause_colours
from sim.output.plots import OKABE_ITO, contributor_name, footer_figure
from sim.output.style import english_date_axis, font_size, styled
from sim.output.text import format_date
from sim.scenario.schema import Scenario

#: Order of the timeline's lanes, top to bottom (``Gate: <name>`` lanes go where ``Gate:`` is).
LANE_ORDER = (
    "Governance", "Hold", "Gate:", "Reconnaissance", "Training", "Base construction", "Airport closed", "Arrears",
    "Mandate lapsed",
)


_LANE_COLOURS = {
    "Governance": OKABE_ITO["reddish_purple"],
    "Hold": OKABE_ITO["vermillion"],
    "Gate:": OKABE_ITO["orange"],
    "Reconnaissance": OKABE_ITO["bluish_green"],
    "Training": OKABE_ITO["sky_blue"],
    "Base construction": OKABE_ITO["blue"],
    "Airport closed": "#555555",
    "Arrears": "#F0E442",  # Okabe-Ito yellow: readable as a filled bar with an edge, not as a line
    "Mandate lapsed": OKABE_ITO["black"],
}


_ROW_INCHES = 0.36


_NOTE_RISE = 3.0  # points between the top panel and its lowest milestone labels


@styled
def timeline(record: Record, scenario: Scenario) -> Figure:
    """The replication's timeline: a Gantt of its spans above its officers in theatre, on one date axis.

    The top panel has one row per lane of ``record.intervals`` (governance, holds, gates,
    reconnaissance, training, base construction, airport closures, arrears, a lapsed mandate);
    spans that overlap in a lane (contingents in training together) share its row in thinner
    tracks, and each bar is labelled when its label fits. Key milestones are marked by vertical
    lines through both panels, labelled above the top one. The bottom panel draws the officers in
    theatre as step lines: the total, each contributor that sent anyone, and the base capacity when
    the scenario models a base.

    Args:
        record: A replication run with ``trace=True``.
        scenario: The scenario it ran.

    Returns:
        A new figure with two axes sharing the x axis (dates as matplotlib date numbers). Each bar
        has the gid of its lane; the total's line has gid ``in_theatre``, a contributor's
        ``in_theatre.<name>``, the capacity's ``base_capacity``; every line continues to the horizon.

    Raises:
        ValueError: If the record holds no trace.
    """
    traced_events(record)
    spans = sorted(record.intervals or (), key=lambda s: (s[1], s[2]))
    lanes = _lanes([lane for lane, *_ in spans])
    origin = date2num(dt.datetime.combine(scenario.start_date, dt.time()))

    top_inches = (max(len(lanes), 1) + 1) * _ROW_INCHES + 0.3
    bottom_inches = 2.6
    # The layout keeps the footer's strip free, so the provenance line never runs into the x axis' label.
    fig = footer_figure((12.0, top_inches + bottom_inches + 2.0))
    gantt, strength = fig.subplots(2, 1, sharex=True, height_ratios=[top_inches, bottom_inches])

    labels = _draw_gantt(gantt, spans, lanes, origin)
    labels += _draw_critical_path(gantt, record, origin, len(lanes))
    _draw_strength(strength, record, scenario, origin)
    notes = _mark_milestones(gantt, strength, record, scenario, origin)

    strength.set_xlim(origin, origin + scenario.horizon_days)
    english_date_axis(strength.xaxis, minticks=6, maxticks=14)
    strength.set_xlabel("Date")
    fig.suptitle(
        f"One replication of scenario '{scenario.name}' (seed {record.seed}, replication {record.replication}), "
        f"from {format_date(scenario.start_date)}",
        x=0.01, ha="left",
    )
    from sim import __version__

    rerun = f"deploysim trace --seed {record.seed} --replication {record.replication}"
    fig.text(0.005, 0.002, f"deploysim {__version__} | {scenario.name} (seed {record.seed}, replication "
             f"{record.replication}; rerun with: {rerun})",
             fontsize=7, color="0.45", ha="left", va="bottom", gid="provenance")
    # Text extents are known only once the layout has run.
    fig.draw_without_rendering()
    _fit_bar_labels(labels)
    _stack_notes(notes, gantt)
    return fig


def _lanes(names: list[str]) -> list[str]:
    """Distinct lanes in :data:`LANE_ORDER`; gates by first appearance, unknown lanes last."""
    distinct = list(dict.fromkeys(names))

    def rank(lane: str) -> int:
        key = "Gate:" if lane.startswith("Gate:") else lane
        return LANE_ORDER.index(key) if key in LANE_ORDER else len(LANE_ORDER)

    return sorted(distinct, key=lambda lane: (rank(lane), distinct.index(lane)))


def _lane_colour(lane: str) -> str:
    return _LANE_COLOURS.get("Gate:" if lane.startswith("Gate:") else lane, "#999999")


def _tracks(spans: list[tuple[str, float, float, str]]) -> list[int]:
    """Greedy track of each span (sorted by start) so that spans on one track never overlap."""
    ends: list[float] = []
    out = []
    for _, start, end, _ in spans:
        track = next((k for k, last in enumerate(ends) if last <= start), len(ends))
        if track == len(ends):
            ends.append(end)
        else:
            ends[track] = end
        out.append(track)
    return out


def _draw_gantt(ax: Axes, spans: list, lanes: list[str], origin: float) -> list[tuple[Text, Rectangle, list[str]]]:
    """Draw one row per lane; return each bar's label with its shorter alternatives."""
    labels = []
    for row, lane in enumerate(lanes):
        if row % 2:
            ax.axhspan(row - 0.5, row + 0.5, color="0.95", zorder=0, linewidth=0)
        mine = [s for s in spans if s[0] == lane]
        tracks = _tracks(mine)
        height = 0.8 / (max(tracks) + 1)
        colour = _lane_colour(lane)
        ink = "white" if _luminance(colour) < 0.45 else "black"
        for (_, start, end, label), track in zip(mine, tracks, strict=True):
            y = row - 0.4 + (track + 0.5) * height
            hatch = "////" if "aborted" in label or "blocked" in label else None
            (bar,) = ax.barh(
                y, end - start, left=origin + start, height=height * 0.92, color=colour, edgecolor="white",
                linewidth=0.6, hatch=hatch, gid=lane, zorder=2,
            )
            text = ax.text(
                origin + (start + end) / 2, y, label, ha="center", va="center", fontsize="small",
                color=ink, zorder=3, clip_on=True,
            )
            labels.append((text, bar, _short_labels(lane, label, end - start)))
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.grid(True, axis="x", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    if not lanes:
        ax.text(0.5, 0.5, "nothing waited: no spans recorded", transform=ax.transAxes, ha="center", va="center")
        ax.set_yticks([])
    return labels


def _draw_critical_path(ax: Axes, record: Record, origin: float, rows: int) -> list[tuple[Text, Rectangle, list[str]]]:
    """A band above the lanes: the first landing's critical path, one bar per cause (gid ``critical:<cause>``)."""
    chain = record.critical_paths.get("first_arrival")
    if not chain:
        return []
    colours = cause_colours([cause for cause, *_ in chain])
    y = -1.0
    labels = []
    for cause, start, end in chain:
        (bar,) = ax.barh(y, end - start, left=origin + start, height=0.62, color=colours[cause], edgecolor="white",
                         linewidth=0.6, gid=f"critical:{cause}", zorder=2)
        ink = "white" if _luminance(colours[cause]) < 0.45 else "black"
        text = ax.text(origin + (start + end) / 2, y, cause, ha="center", va="center", fontsize="small", color=ink,
                       zorder=3, clip_on=True)
        labels.append((text, bar, [cause, f"{end - start:.0f} d"]))
    left_margin = blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(-0.008, y, "Critical path to\nthe first landing", transform=left_margin, ha="right", va="center",
            fontsize="small", fontweight="bold", gid="critical")
    ax.axhline(-0.5, color="0.6", linewidth=0.8, zorder=1)
    ax.set_ylim(max(rows, 1) - 0.5, -1.5)
    days = {cause: 0.0 for cause in colours}
    for cause, start, end in chain:
        days[cause] += end - start
    ax.legend(handles=[Patch(facecolor=c, edgecolor="white", label=f"{cause}, {days[cause]:.0f} d")
                       for cause, c in colours.items()],
              loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False, fontsize=font_size("note") + 0.5,
              title="Critical path to the\nfirst landing", title_fontsize=font_size("note") + 0.5, alignment="left")
    return labels


def _short_labels(lane: str, label: str, days: float) -> list[str]:
    """A bar's label, then shorter ones to try when it does not fit, ending with its length in days.

    A label that repeats its lane's name ("airport closed" in lane "Airport closed") gives way to the length.
    """
    length = f"{days:.0f} d"
    if any(word in label.lower() for word in lane.lower().removeprefix("gate:").split()):
        return [length]
    short = "#" + label.rsplit(" #", 1)[1] if " #" in label else re.split(r"[:,]", label)[0]
    return list(dict.fromkeys([f"{label}, {length}", label, short, length]))


def _fit_bar_labels(labels: list) -> None:
    """Give each bar the longest label that fits inside it, or none."""
    for text, bar, candidates in labels:
        box = bar.get_window_extent()
        for candidate in candidates:
            text.set_text(candidate)
            extent = text.get_window_extent()
            if extent.width <= box.width - 6 and extent.height <= box.height + 1:
                break
        else:
            text.set_visible(False)


def _luminance(colour: str) -> float:
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _step(days: np.ndarray, values: np.ndarray, origin: float, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """A step series as points to draw with ``steps-post``, held to the horizon."""
    return np.append(origin + days, origin + horizon), np.append(values, values[-1])


def _draw_strength(ax: Axes, record: Record, scenario: Scenario, origin: float) -> None:
    horizon = float(scenario.horizon_days)
    lead = scenario.force.lead_contributor
    colours = [c for name, c in OKABE_ITO.items() if name != "black"]
    idle = []
    for i, name in enumerate([lead, *scenario.contributors]):
        series = contributor_series(name)
        days, values = record.series[series]
        if not values.any():
            idle.append(contributor_name(scenario, name))
            continue
        x, y = _step(days, values, origin, horizon)
        ax.plot(x, y, drawstyle="steps-post", color=colours[i % len(colours)], linewidth=1.3,
                label=contributor_name(scenario, name), gid=series)
    x, y = _step(*record.series["in_theatre"], origin, horizon)
    ax.plot(x, y, drawstyle="steps-post", color=OKABE_ITO["black"], linewidth=2.2, label="All contributors",
            gid="in_theatre", zorder=3)
    high = float(y.max())
    if not scenario.unlimited_base:
        x, y = _step(*record.series["base_capacity"], origin, horizon)
        ax.plot(x, y, drawstyle="steps-post", color="0.45", linestyle=":", linewidth=1.4, label="Base capacity",
                gid="base_capacity")
        high = max(high, float(y.max()))
    pledge = scenario.force.pledged_officers
    ax.axhline(pledge, color="0.45", linestyle="--", linewidth=0.9, label=f"{lead}'s pledge ({pledge:,})")
    high = max(high, pledge, 1.0)
    ax.set_ylim(-0.02 * high, 1.08 * high)
    ax.set_ylabel("Officers in theatre")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(True, color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", linestyle=(0, (2, 2)), linewidth=0.8))
    labels.append("Milestone (labelled above;\nin brackets: what it\nlast waited for)")
    ax.legend(
        handles, labels, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=font_size("note") + 0.5, frameon=False,
        title=textwrap.fill("Sent no one: " + ", ".join(idle), 30) if idle else None, title_fontsize=font_size("note"),
        alignment="left",
    )


def _mark_milestones(gantt: Axes, strength: Axes, record: Record, scenario: Scenario, origin: float) -> list:
    """Draw a vertical line through both panels at each marked milestone; return its (unplaced) labels."""
    lead = scenario.force.lead_contributor
    notes = []
    for name, short in MARKED_MILESTONES.items():
        day = record.milestones.get(name)
        if day is None or math.isnan(day) or (name == "base_ready" and scenario.unlimited_base):
            continue
        x = origin + day
        for ax in (gantt, strength):
            ax.axvline(x, color="0.3", linestyle=(0, (2, 2)), linewidth=0.8, zorder=1, gid=f"milestone:{name}")
        date = scenario.date_of(day)
        when = format_date(date, "short", year=scenario.start_date.year)
        binding = record.binding.get(name)
        text = f"{short.format(lead=lead)} {when}" + (f" ({binding.replace('_', ' ')})" if binding else "")
        note = gantt.annotate(
            text, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, _NOTE_RISE),
            textcoords="offset points", ha="center", va="bottom", gid=name, zorder=4,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
        )
        notes.append(note)
    return notes


def _stack_notes(notes: list[Annotation], ax: Axes) -> None:
    """Give each milestone label (in date order) the lowest level where it overlaps no earlier label.

    A label is centred on its line unless that would cross the axes' side, and joined to the axes by
    a leader line.
    """
    frame = ax.get_window_extent()
    levels: list[list[tuple[float, float]]] = []
    for note in sorted(notes, key=lambda n: n.xy[0]):
        box = note.get_window_extent()
        x = (box.x0 + box.x1) / 2
        width = box.width
        align: Literal["left", "center", "right"]
        if x - width / 2 < frame.x0:
            align, left = "left", x
        elif x + width / 2 > frame.x1:
            align, left = "right", x - width
        else:
            align, left = "center", x - width / 2
        span = (left - 4.0, left + width + 4.0)
        level = next(
            (k for k, taken in enumerate(levels) if all(span[1] <= a or span[0] >= b for a, b in taken)), len(levels)
        )
        if level == len(levels):
            levels.append([])
        levels[level].append(span)
        rise = _NOTE_RISE + level * (font_size("note") * 1.6 + 1.0)
        note.set_horizontalalignment(align)
        note.set_position((0, rise))
        ax.annotate(
            "", xy=note.xy, xycoords=("data", "axes fraction"), xytext=(0, rise), textcoords="offset points",
            arrowprops={"arrowstyle": "-", "color": "0.3", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 0},
            zorder=3,
        )


__all__ = ["LANE_ORDER", "timeline"]
