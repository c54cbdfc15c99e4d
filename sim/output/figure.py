"""One entry point to the figures of a batch or of a comparison: ``sim.plot(results, "fan")``.

The batch and analysis layers return data and never import this layer, so a :class:`~sim.batch.results.Results`
or a :class:`~sim.analysis.compare.Comparison` has no drawing method of its own: this function draws either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.analysis.compare import Comparison
from sim.batch.results import Results
from sim.output.compare_figures import plot_comparison
from sim.output.plots import plot as plot_batch

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot(what: Results | Comparison | Sequence[Results], kind: str = "fan", **kwargs: Any) -> Figure:
    """A figure of a batch, or of compared batches (a :class:`Comparison`, or several batches, the
    reference first).

    A batch's kinds are those of :data:`sim.output.plots.PLOT_KINDS` (``fan``, ``fund``, ``contributors``,
    ``scurves``, ``gantt``, ``binding``); compared batches' those of
    :data:`sim.output.compare_figures.COMPARISON_KINDS` (``fan``, ``fund``, ``scurves``). ``kwargs`` go
    to the figure function (e.g. ``milestones=``, or ``ax=`` to draw on an axes of your own).

    Raises:
        ValueError: If ``kind`` is unknown.
        TypeError: If ``what`` is neither a batch, a comparison nor a sequence of batches.

    Example:
        >>> from sim import compare, derive, load_scenario, plot, run
        >>> base = load_scenario("baseline")
        >>> res = run(base, runs=20, seed=1)
        >>> type(plot(res, "gantt")).__name__, len(plot(res).axes)
        ('Figure', 1)
        >>> late = derive(base, {"name": "short_runway", "funding.runway_days": 30})
        >>> len(plot(compare([base, late], runs=20, seed=1), "scurves").axes)
        2
    """
    if isinstance(what, Comparison):
        return plot_comparison(what.results, kind, **kwargs)
    if isinstance(what, Results):
        return plot_batch(what, kind, **kwargs)
    if isinstance(what, Sequence) and what and all(isinstance(r, Results) for r in what):
        return plot_comparison(list(what), kind, **kwargs)
    raise TypeError(f"plot draws a Results, a Comparison or a list of Results, not {type(what).__name__}")
