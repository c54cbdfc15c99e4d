"""The story of one replication: its dated events as text, and its timeline as a figure.

Both read a traced :class:`sim.record.Record` (``simulate(..., trace=True)``) and its scenario, after
the model has run; :mod:`sim.plots` draws whole batches. Nothing here runs the model, saves or
shows: the CLI's ``trace`` command prints :func:`format_story` and saves :func:`timeline`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter

from sim.plots import OKABE_ITO
from sim.record import MILESTONES, Record, TraceEvent, contributor_series
from sim.scenario import Scenario

#: What each binding constraint means: "binding: funding" says the step last waited for money.
BINDING_MEANINGS: dict[str, str] = {
    "administration": "a viable administration",
    "hold": "a hold to be lifted",
    "reconnaissance": "the reconnaissance to report",
    "training": "its contingent's training",
    "funding": "money in the trust fund",
    "base": "room in the base",
    "airlift": "an aircraft",
    "airport": "the airport to reopen",
    "mandate": "the mandate",
    "withdrawn": "a contributor that had withdrawn",
    "lead_arrival": "the lead contributor's first landing",
    "start": "the start date",
}
#: Milestones the timeline marks, with their short labels (``{lead}`` is the lead contributor).
MARKED_MILESTONES: dict[str, str] = {
    "administration_viable": "Administration viable",
    "recon_done": "Recon done",
    "base_ready": "Base ready",
    "first_arrival": "First landing",
    "lead_50pct": "{lead} 50%",
    "lead_100pct": "{lead} 100%",
    "mission_50pct": "Mission 50%",
    "mission_100pct": "Mission 100%",
    "first_rotation": "First rotation",
    "lead_withdrawal": "{lead} withdraws",
    "mandate_lapsed": "Mandate lapses",
}
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
# Events that open a condition a departure waits for: a wait that ends at the same instant ended because of them.
_RELEASES = re.compile(
    r"stage \d+ ready|pays tranche|gate '.*' (opens|reopens)|hold lifted|airport reopens|team back|"
    r"Viable administration installed|flight leaves with|flight lands|relieved by|leaves unrelieved|"
    r"loses officers|withdrawal|arrears cleared"
)
_CONTINGENT_STEP = re.compile(r"^(?P<contingent>.+ #\d+) (?P<step>trained|ready|funded)$")
_FLIGHT = re.compile(r"^flight leaves with (?P<contingent>.+ #\d+)$")
_LOSS = re.compile(r"^(?P<contingent>.+ #\d+) loses officers$")
_LOSS_COUNT = re.compile(r"^(\d+) lost")
_LABELS = {label: name for name, label in MILESTONES.items()}
_WAIT_DAYS = 0.5  # shorter waits are the same day's bookkeeping, not worth a word

_TITLE_SIZE = 12
_LABEL_SIZE = 10
_TICK_SIZE = 9
_BAR_TEXT_SIZE = 7.5
_NOTE_SIZE = 8
_ROW_INCHES = 0.36
_NOTE_RISE = 3.0  # points between the top panel and its lowest milestone labels


def format_story(record: Record, scenario: Scenario) -> str:
    """The replication's dated events in order, then a summary of its milestones and totals.

    One line per event: calendar date, day number, subsystem, what happened and its details; only
    the attrition of one instant, counted for every contingent at once, shares a line. Milestone
    lines start with ``*`` and say what the milestone last waited for (its binding constraint). A
    contingent's funding and flights say how long it waited since it was ready and which event, at
    the same instant, ended the wait. The summary gives every milestone's date (or "not reached by"
    the horizon), key totals, and what was still pending at the horizon.

    Args:
        record: A replication run with ``trace=True``.
        scenario: The scenario it ran.

    Returns:
        The story as text, lines separated by newlines.

    Raises:
        ValueError: If the record holds no trace.
    """
    events = _trace(record)
    horizon = scenario.horizon_days
    start = scenario.start_date
    lines = [
        f"Story of scenario '{scenario.name}', seed {record.seed}, replication {record.replication}",
        f"From {start.isoformat()} (day 0) to {scenario.date_of(horizon).isoformat()} (day {horizon}). "
        "Milestones are marked '*'; 'binding' names what a milestone last waited for.",
        "",
    ]
    ready: dict[str, tuple[float, str]] = {}
    last_step: dict[str, tuple[float, str]] = {}
    losses_at: dict[float, list] = {}
    for i, event in enumerate(events):
        text = event.event + (f" ({event.details})" if event.details else "")
        mark = " "
        if loss := _LOSS.match(event.event):
            # Attrition is counted for every contingent at once: one line per count, not per contingent.
            counted = _LOSS_COUNT.match(event.details)
            count = int(counted[1]) if counted else 0
            previous = losses_at.get(event.day)
            if previous is not None:
                previous[1].append(f"{count} from {loss['contingent']}")
                previous[2] += count
                lines[previous[0]] = _loss_line(scenario, event, previous[1], previous[2])
                continue
            losses_at[event.day] = [len(lines), [f"{count} from {loss['contingent']}"], count]
            lines.append(_loss_line(scenario, event, losses_at[event.day][1], count))
            continue
        if event.subsystem == "milestone":
            mark = "*"
            milestone = _LABELS.get(event.event, "")
            binding = record.binding.get(milestone)
            text = event.event + (f" - binding: {binding} (it last waited for {_meaning(binding)})" if binding else "")
            if milestone == "base_ready" and scenario.unlimited_base:
                text += " (no base modelled: housing never binds)"
        elif step := _CONTINGENT_STEP.match(event.event):
            contingent = step["contingent"]
            if step["step"] in ("trained", "ready"):
                ready[contingent] = (event.day, step["step"])
            else:
                since, how = ready.get(contingent, (event.day, ""))
                text += _wait(event.day - since, f"since {how}", _release(events, i))
                last_step[contingent] = (event.day, "funding")
        elif flight := _FLIGHT.match(event.event):
            contingent = flight["contingent"]
            since, how = last_step.get(contingent, (event.day, ""))
            text += _wait(event.day - since, f"after {how}", _release(events, i) or "for the aircraft")
            last_step[contingent] = (event.day, "its previous flight")
        lines.append(_event_line(scenario, event.day, event.subsystem, text, mark))
    lines += ["", *_summary(record, scenario, ready, last_step)]
    return "\n".join(lines)


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
    _trace(record)
    spans = sorted(record.intervals or (), key=lambda s: (s[1], s[2]))
    lanes = _lanes([lane for lane, *_ in spans])
    origin = date2num(dt.datetime.combine(scenario.start_date, dt.time()))

    top_inches = max(len(lanes), 1) * _ROW_INCHES + 0.3
    bottom_inches = 2.6
    fig = Figure(figsize=(12.0, top_inches + bottom_inches + 2.0), layout="constrained")
    gantt, strength = fig.subplots(2, 1, sharex=True, height_ratios=[top_inches, bottom_inches])
    for ax in (gantt, strength):
        ax.tick_params(labelsize=_TICK_SIZE)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    labels = _draw_gantt(gantt, spans, lanes, origin)
    _draw_strength(strength, record, scenario, origin)
    notes = _mark_milestones(gantt, strength, record, scenario, origin)

    strength.set_xlim(origin, origin + scenario.horizon_days)
    locator = AutoDateLocator(minticks=6, maxticks=14)
    strength.xaxis.set_major_locator(locator)
    strength.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    strength.set_xlabel("Date", fontsize=_LABEL_SIZE)
    fig.suptitle(
        f"One replication of scenario '{scenario.name}' (seed {record.seed}, replication {record.replication}), "
        f"from {scenario.start_date.isoformat()}",
        fontsize=_TITLE_SIZE, x=0.01, ha="left",
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


def _trace(record: Record) -> tuple:
    if record.trace is None or record.intervals is None:
        raise ValueError(
            f"replication {record.replication} was run without a trace; run simulate(..., trace=True) to tell its story"
        )
    return record.trace


def _meaning(binding: str) -> str:
    if binding in BINDING_MEANINGS:
        return BINDING_MEANINGS[binding]
    if binding in MILESTONES:
        return f"'{MILESTONES[binding]}'"
    return f"gate '{binding}'"


def _event_line(scenario: Scenario, day: float, subsystem: str, text: str, mark: str = " ") -> str:
    return f"{mark} {scenario.date_of(day).isoformat()}  day {int(day):>4}  {subsystem:<14}  {text}"


def _loss_line(scenario: Scenario, event: TraceEvent, parts: list[str], total: int) -> str:
    text = f"{total} {'officer' if total == 1 else 'officers'} lost this interval ({', '.join(parts)})"
    return _event_line(scenario, event.day, event.subsystem, text)


def _release(events: Sequence, i: int) -> str | None:
    """The latest earlier event at the same instant as event ``i`` that opens a condition, if any."""
    day = events[i].day
    for j in range(i - 1, -1, -1):
        if events[j].day != day:
            return None
        if _RELEASES.search(events[j].event):
            return f"until: {events[j].event}"
    return None


def _wait(days: float, since: str, until: str | None) -> str:
    if days < _WAIT_DAYS:
        return ""
    return f" - waited {days:.0f} d {since}" + (f", {until}" if until else "")


def _summary(record: Record, scenario: Scenario, ready: dict, last_step: dict) -> list[str]:
    horizon = scenario.horizon_days
    horizon_date = scenario.date_of(horizon).isoformat()
    lead = scenario.force.lead_contributor
    lines = [f"Summary at the horizon, {horizon_date} (day {horizon})", "  Milestones"]
    width = max(len(label) for label in MILESTONES.values())
    for name, label in MILESTONES.items():
        day = record.milestones.get(name)
        if day is None or math.isnan(day):
            lines.append(f"    {label:<{width}}  not reached by {horizon_date}")
            continue
        when = f"{scenario.date_of(day).isoformat()} (day {int(day)})"
        binding = record.binding.get(name)
        note = f"  binding: {binding}" if binding else ""
        if name == "base_ready" and scenario.unlimited_base:
            note = "  (no base modelled: housing never binds)"
        lines.append(f"    {label:<{width}}  {when}{note}")

    t = record.totals
    peaks = [
        f"{name} {t[f'peak_{contributor_series(name)}']:,.0f}"
        for name in [lead, *scenario.contributors]
        if t.get(f"peak_{contributor_series(name)}", 0) > 0
    ]
    losses = t["injuries"] + t["casualties"] + t["resignations"]
    lines += [
        "  Totals",
        f"    Peak in theatre: {t['peak_in_theatre']:,.0f} officers" + (f" ({', '.join(peaks)})" if peaks else ""),
        f"    Holds: {t['holds']:.0f}, {t['hold_days']:.0f} days on hold",
        f"    Airport closed: {t['airport_closed_days']:.0f} days ({t['airport_closures']:.0f} closures); "
        f"flights waited {t['airport_delay_days']:.0f} days for it",
        f"    Arrears: {t['arrears_days']:.0f} days; US${t['arrears_usd_at_horizon'] / 1e6:.1f}M unpaid at the horizon",
        f"    Rotations: {t['rotations']:.0f} contingents relieved",
        f"    Losses: {losses:,.0f} officers ({t['injuries']:.0f} injured, {t['casualties']:.0f} killed, "
        f"{t['resignations']:.0f} resigned); {t['officers_withdrawn']:,.0f} withdrawn",
    ]

    withdrew = {
        e.event.removesuffix(" withdraws"): e.day for e in record.trace or () if e.event.endswith(" withdraws")
    }
    waiting = []
    for contingent, (day, how) in ready.items():
        if contingent in last_step:
            continue
        contributor = contingent.rsplit(" #", 1)[0]
        why = (
            f" ({contributor} withdrew on {scenario.date_of(withdrew[contributor]).isoformat()})"
            if contributor in withdrew else ""
        )
        waiting.append(f"    {contingent} {how} on {scenario.date_of(day).isoformat()}, not sent by the horizon{why}")
    open_spans = [
        f"    {lane}: {label} since {scenario.date_of(start).isoformat()}"
        for lane, start, end, label in sorted(record.intervals or (), key=lambda s: s[1])
        if end >= horizon and lane != "Training"
    ]
    if waiting or open_spans:
        lines += ["  Still waiting at the horizon", *open_spans, *waiting]
    return lines


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
                origin + (start + end) / 2, y, label, ha="center", va="center", fontsize=_BAR_TEXT_SIZE,
                color=ink, zorder=3, clip_on=True,
            )
            labels.append((text, bar, _short_labels(lane, label, end - start)))
    ax.set_yticks(range(len(lanes)), lanes, fontsize=_LABEL_SIZE - 0.5)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.grid(True, axis="x", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    if not lanes:
        ax.text(0.5, 0.5, "nothing waited: no spans recorded", transform=ax.transAxes, ha="center", va="center")
        ax.set_yticks([])
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
            idle.append(name)
            continue
        x, y = _step(days, values, origin, horizon)
        ax.plot(x, y, drawstyle="steps-post", color=colours[i % len(colours)], linewidth=1.3, label=name, gid=series)
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
    ax.axhline(pledge, color="0.45", linestyle="--", linewidth=0.9, label=f"{lead} pledge ({pledge:,})")
    high = max(high, pledge, 1.0)
    ax.set_ylim(-0.02 * high, 1.08 * high)
    ax.set_ylabel("Officers in theatre", fontsize=_LABEL_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(True, color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", linestyle=(0, (2, 2)), linewidth=0.8))
    labels.append("Milestone (labelled above;\nin brackets: what it\nlast waited for)")
    ax.legend(
        handles, labels, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=_NOTE_SIZE + 0.5, frameon=False,
        title=textwrap.fill("Sent no one: " + ", ".join(idle), 30) if idle else None, title_fontsize=_NOTE_SIZE,
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
        when = f"{date.day} {date:%b}" if date.year == scenario.start_date.year else f"{date.day} {date:%b %Y}"
        binding = record.binding.get(name)
        text = f"{short.format(lead=lead)} {when}" + (f" ({binding})" if binding else "")
        note = gantt.annotate(
            text, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, _NOTE_RISE),
            textcoords="offset points", ha="center", va="bottom", fontsize=_NOTE_SIZE, gid=name, zorder=4,
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
        rise = _NOTE_RISE + level * (_NOTE_SIZE * 1.6 + 1.0)
        note.set_horizontalalignment(align)
        note.set_position((0, rise))
        ax.annotate(
            "", xy=note.xy, xycoords=("data", "axes fraction"), xytext=(0, rise), textcoords="offset points",
            arrowprops={"arrowstyle": "-", "color": "0.3", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 0},
            zorder=3,
        )


__all__ = ["BINDING_MEANINGS", "LANE_ORDER", "MARKED_MILESTONES", "format_story", "timeline"]
