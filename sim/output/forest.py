"""A forest plot of a comparison's paired differences: per milestone, the change in days with its 95% CI.

Draws :attr:`sim.analysis.compare.Comparison.differences`: for each later scenario and milestone,
the change over all runs (the restricted mean day, not reached counting as the horizon) as a filled
marker, and the change over the runs where both reach the milestone as a hollow one, each with its
95% confidence interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.analysis.compare import Comparison
from sim.output.plots import FIGSIZE, OKABE_ITO, new_figure
from sim.output.provenance import add_footer
from sim.scenario.milestones import MILESTONES

#: Milestones drawn by default.
DEFAULT_MILESTONES: tuple[str, ...] = (
    "recon_done", "first_arrival", "lead_25pct", "lead_50pct", "lead_75pct", "lead_100pct", "mission_50pct",
    "first_rotation",
)
_COLOURS = (OKABE_ITO["vermillion"], OKABE_ITO["blue"], OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"],
            OKABE_ITO["orange"], OKABE_ITO["sky_blue"])


def forest_plot(comparison: Comparison, milestones: Sequence[str] = DEFAULT_MILESTONES,
                ax: Axes | None = None) -> Figure:
    """Paired change in days of each later scenario against the first, per milestone, with 95% CIs.

    Args:
        comparison: The comparison to draw.
        milestones: Milestones, one row each from the top.
        ax: An axes to draw on (default: a new figure).

    Returns:
        The figure. The all-runs marker of scenario ``s`` at milestone ``m`` has gid ``s:m:all`` and
        sits at ``rmean_diff_days``; the if-both-reach marker has gid ``s:m:both`` at ``mean_diff_days``.
    """
    names = [m for m in milestones if m in MILESTONES]
    others = comparison.labels[1:]
    if ax is None:
        fig, ax = new_figure(None, (FIGSIZE[0] + 1.0, max(0.3 * len(names) * max(len(others), 1) + 2.2, 4.2)))
        add_footer(fig, comparison.results)
    else:
        fig = ax.figure  # type: ignore[assignment]
    diffs = comparison.differences.set_index(["scenario", "milestone"])
    step = 0.7 / max(len(others), 1)
    for j, label in enumerate(others):
        colour = _COLOURS[j % len(_COLOURS)]
        for row, milestone in enumerate(names):
            if (label, milestone) not in diffs.index:
                continue
            d = diffs.loc[(label, milestone)]
            y = row - 0.35 + step * (j + 0.5)
            for column, low, high, filled, offset, kind in (
                ("rmean_diff_days", "rmean_ci95_low", "rmean_ci95_high", True, -step * 0.18, "all"),
                ("mean_diff_days", "ci95_low", "ci95_high", False, step * 0.18, "both"),
            ):
                x = float(d[column])
                if np.isnan(x):
                    continue
                lo, hi = float(d[low]), float(d[high])
                if not np.isnan(lo):
                    ax.plot([lo, hi], [y + offset] * 2, color=colour, linewidth=1.6, solid_capstyle="butt")
                ax.plot([x], [y + offset], marker="o", markersize=6.5, color=colour,
                        markerfacecolor=colour if filled else "white", markeredgewidth=1.5, linestyle="none",
                        gid=f"{label}:{milestone}:{kind}")
    ax.axvline(0.0, color="0.35", linewidth=1.0)
    ax.set_yticks(range(len(names)), [MILESTONES[n] for n in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.grid(False, axis="y")
    ax.set_xlabel(f"Change in days against '{comparison.labels[0]}' (later is right), paired, 95% CI")
    ax.set_title(f"Paired differences against '{comparison.labels[0]}', {comparison.base.runs:,} runs", loc="left")
    handles = [Line2D([], [], color=_COLOURS[j % len(_COLOURS)], marker="o", linewidth=1.6, label=label)
               for j, label in enumerate(others)]
    handles += [
        Line2D([], [], color="0.3", marker="o", linestyle="none", label="all runs (not reached = horizon)"),
        Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="none",
               label="only runs where both reach it"),
    ]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize="small")
    return fig
