"""The figure of where the days went: each milestone's mean days, split by cause along its critical path.

Draws :meth:`sim.batch.results.Results.delay_summary`: one stacked bar per milestone, whose segments
are the mean days each cause took over the runs that reach it (so the bar's length is the mean
milestone day), with the milestone's P50 day marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.batch.results import Results, censored_quantile
from sim.output.plots import FIGSIZE, OKABE_ITO, new_figure
from sim.output.provenance import add_footer
from sim.scenario.milestones import MILESTONES

#: Milestones drawn by default (those reached in at least :data:`MIN_SHARE` of runs).
DEFAULT_MILESTONES: tuple[str, ...] = (
    "recon_done", "base_ready", "first_arrival", "lead_50pct", "lead_100pct", "mission_50pct", "first_rotation",
)
#: Share of runs a milestone must reach to be drawn by default.
MIN_SHARE = 0.05
#: Causes in the order they stack (roughly the order they act in); others follow alphabetically.
CAUSE_ORDER: tuple[str, ...] = (
    "transition", "administration", "hold", "reconnaissance", "base construction", "base", "funding", "training",
    "airlift", "airport", "flight", "partner readiness", "tour", "mandate", "before arrears", "arrears",
)
_COLOURS: dict[str, str] = {
    "transition": "#7F3C8D",
    "administration": OKABE_ITO["reddish_purple"],
    "hold": OKABE_ITO["vermillion"],
    "reconnaissance": OKABE_ITO["bluish_green"],
    "base construction": OKABE_ITO["orange"],
    "base": "#F5C26B",
    "funding": OKABE_ITO["blue"],
    "training": OKABE_ITO["sky_blue"],
    "airlift": "#999999",
    "airport": "#F0E442",
    "flight": "#CCCCCC",
    "partner readiness": "#B2DF8A",
    "tour": "#DDDDDD",
    "mandate": OKABE_ITO["black"],
}
_GATE_COLOURS = ("#7570B3", "#E7298A", "#66A61E", "#A6761D", "#E6AB02", "#666666")


def cause_colours(causes: Sequence[str]) -> dict[str, str]:
    """A colour per cause, in stacking order: fixed ones for the model's causes, then gates and the rest."""
    known = [c for c in CAUSE_ORDER if c in causes]
    others = sorted(c for c in causes if c not in CAUSE_ORDER)
    colours = {c: _COLOURS.get(c, "#BBBBBB") for c in known}
    for i, cause in enumerate(others):
        colours[cause] = _GATE_COLOURS[i % len(_GATE_COLOURS)]
    return colours


def default_milestones(results: Results) -> list[str]:
    """The milestones :func:`delays_chart` draws when none are given."""
    shares = results.milestone_summary().set_index("milestone")["share_reached"]
    return [m for m in DEFAULT_MILESTONES if float(shares[m]) >= MIN_SHARE]


def delays_chart(results: Results, milestones: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """Where the days went: per milestone, its mean days split by cause along the critical path.

    Each bar is a milestone; its segments are the mean days each cause took over the runs that
    reach the milestone (those runs' number and share are written at the bar's end), so the bar
    ends on the milestone's mean day. A black tick marks the P50 day, over all runs (not reached
    counts as later than the horizon, so a milestone reached in fewer than half the runs has none).

    Args:
        results: The batch to draw (with a delay table: :attr:`Results.delays`).
        milestones: Milestones, one bar each from the top (default :func:`default_milestones`).
        ax: An axes to draw on (default: a new figure).

    Returns:
        The figure. The segment of cause ``c`` in milestone ``m``'s bar has gid ``m:c`` and its width
        is the ``mean_days`` of :meth:`Results.delay_summary`; the P50 tick has gid ``m:p50``.

    Raises:
        KeyError: If a milestone is unknown.
        ValueError: If the batch holds no delay table.
    """
    names = list(milestones) if milestones is not None else default_milestones(results)
    for name in names:
        if name not in MILESTONES:
            raise KeyError(f"unknown milestone {name!r}; known: {', '.join(MILESTONES)}")
    table = results.delay_summary(names)
    colours = cause_colours(list(dict.fromkeys(table["cause"])))
    if ax is None:
        fig, ax = new_figure(None, (FIGSIZE[0] + 2.5, max(0.55 * len(names) + 1.8, 4.6)))
        add_footer(fig, results)
    else:
        fig = ax.figure  # type: ignore[assignment]
    ax.grid(False, axis="y")
    horizon = results.scenario.horizon_days
    longest = float(table.groupby("milestone")["mean_days"].sum().max()) if len(table) else float(horizon)
    for row, name in enumerate(names):
        own = table[table["milestone"] == name].set_index("cause")
        left = 0.0
        for cause, colour in colours.items():
            if cause not in own.index:
                continue
            width = float(own.loc[cause, "mean_days"])
            ax.barh(row, width, left=left, height=0.68, color=colour, edgecolor="white", linewidth=0.6,
                    gid=f"{name}:{cause}")
            if width >= 0.07 * longest:
                ax.text(left + width / 2, row, f"{width:.0f}", ha="center", va="center", fontsize="x-small",
                        color="white" if cause in ("transition", "funding", "mandate", "hold") else "black")
            left += width
        days = results.milestone_days(name)
        reached = float(np.mean(~np.isnan(days)))
        p50 = censored_quantile(days, 0.5)
        if not np.isnan(p50):
            ax.plot([p50, p50], [row - 0.42, row + 0.42], color=OKABE_ITO["black"], linewidth=2.0, gid=f"{name}:p50")
        note = f"{left:.0f} d mean; reached in {reached:.0%}" if left else f"reached in {reached:.0%}"
        end = max(left, 0.0 if np.isnan(p50) else p50)
        ax.text(end + longest * 0.015, row, note, ha="left", va="center", fontsize="x-small", color="0.3")
    ax.set_yticks(range(len(names)), [MILESTONES[n] for n in names])
    ax.set_ylim(max(len(names), 1) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(0, longest * 1.32)
    ax.set_xlabel(f"Days from {results.scenario.start_date.isoformat()} (mean over the runs reaching each milestone)")
    ax.set_title(f"Where the days went: '{results.name}', {results.runs:,} runs", loc="left")
    handles: list[Artist] = [Patch(facecolor=c, edgecolor="white", label=cause) for cause, c in colours.items()]
    handles.append(Line2D([], [], color=OKABE_ITO["black"], linewidth=2.0, label="P50 day (all runs)"))
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize="small",
              title="Cause", title_fontsize="small")
    return fig


def delays_text(results: Results, milestone: str, top: int = 6) -> str:
    """One printed line of where a milestone's days went: its largest causes by mean days.

    Example: ``Where the days went to 'First contingent lands' (mean 172 d over the 97% of runs
    reaching it): administration 45, transition 42, base construction 31, reconnaissance 29, ...``
    """
    table = results.delay_summary([milestone])
    if table.empty:
        return f"Where the days went to '{MILESTONES[milestone]}': not reached in any run"
    reached = int(table["runs_reached"].iloc[0]) / results.runs
    parts = [f"{r.cause} {r.mean_days:.0f}" for r in table.head(top).itertuples() if r.mean_days >= 0.5]
    rest = float(table["mean_days"].iloc[top:].sum())
    if rest >= 0.5:
        parts.append(f"other {rest:.0f}")
    return (f"Where the days went to '{MILESTONES[milestone]}' (mean {table['milestone_mean_day'].iloc[0]:.0f} d "
            f"over the {reached:.0%} of runs reaching it): " + ", ".join(parts))
