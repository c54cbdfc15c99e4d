"""The figure of a Sobol analysis: first-order and total indices per input, with their 95% intervals.

Draws :func:`sim.analysis.sensitivity.sobol_indices`: the model's own randomness is one of the bars,
so a reader sees at once how much of the outcome's variance no better knowledge of the inputs could
remove.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.analysis.sensitivity import WORLD, outcome_label
from sim.output.plots import FIGSIZE, OKABE_ITO, new_figure

_S1, _ST = OKABE_ITO["sky_blue"], OKABE_ITO["blue"]


def sobol_figure(table: pd.DataFrame, top: int = 15, ax: Axes | None = None) -> Figure:
    """Total (ST) and first-order (S1) Sobol indices of the ``top`` inputs, with 95% intervals.

    Args:
        table: What :func:`sim.analysis.sensitivity.sobol_indices` returns.
        top: How many inputs to draw (by total index; the model's randomness is always drawn).
        ax: An axes to draw on (default: a new figure).

    Returns:
        The figure. Input ``k``'s bars have gids ``k:ST`` and ``k:S1`` and widths equal to its indices.
    """
    shown = table.head(top)
    if WORLD not in set(shown["input"]):
        shown = pd.concat([shown, table[table["input"] == WORLD]], ignore_index=True)
    if ax is None:
        fig, ax = new_figure(None, (FIGSIZE[0] + 1.5, max(0.42 * len(shown) + 1.9, 4.0)))
    else:
        fig = ax.figure  # type: ignore[assignment]
    rows = np.arange(len(shown))
    for offset, column, colour in ((-0.19, "ST", _ST), (0.19, "S1", _S1)):
        values = shown[column].to_numpy(dtype=float)
        conf = shown[f"{column}_conf"].to_numpy(dtype=float)
        for row, key, value, half in zip(rows, shown["input"], values, conf, strict=True):
            if np.isnan(value):
                continue
            ax.barh(row + offset, value, height=0.36, color=colour, gid=f"{key}:{column}",
                    hatch="//" if key == WORLD else None, edgecolor="white")
            ax.errorbar(value, row + offset, xerr=half, color="0.2", capsize=2.5, linewidth=1.0)
    labels = [str(label) for label in shown["label"]]
    ax.set_yticks(rows, labels)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.grid(False, axis="y")
    ax.axvline(0.0, color="0.35", linewidth=0.8)
    ax.set_xlim(min(-0.05, float(np.nanmin(shown["S1"] - shown["S1_conf"]))), 1.05)
    attrs = table.attrs
    share = attrs.get("randomness_share", float("nan"))
    ax.set_xlabel("Share of the outcome's variance (95% intervals from SALib's bootstrap)")
    ax.set_title(
        f"What drives '{outcome_label(attrs.get('outcome', ''))}': Sobol indices, {attrs.get('evaluations', 0):,} "
        f"replications\nThe model's own randomness takes part in {share:.0%} of the variance", loc="left")
    ax.legend(handles=[Patch(color=_ST, label="total (ST): alone and with others"),
                       Patch(color=_S1, label="first order (S1): alone")],
              loc="lower right", frameon=False, fontsize="small")
    return fig
