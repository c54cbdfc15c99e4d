"""Where a figure or table came from: scenario, run id, seed, runs and package version.

Every figure carries a small footer with this, and the CLI writes the same into the PNG's
metadata, so a figure pasted into a briefing can be traced back to its run.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from sim.batch.results import Results


def describe(results: Results) -> str:
    """One line naming a batch: ``baseline (run 2026...-seed1-n1000, seed 1, 1,000 runs)``."""
    run = f"run {results.run_id}, " if results.run_id else ""
    return f"{results.scenario.name} ({run}seed {results.seed}, {results.runs:,} runs)"


def footer_text(results: Results | Sequence[Results]) -> str:
    """The footer line for one batch or several."""
    from sim import __version__

    batches = [results] if isinstance(results, Results) else list(results)
    return f"deploysim {__version__} | " + "; ".join(describe(r) for r in batches)


def add_footer(fig: Figure, results: Results | Sequence[Results]) -> Figure:
    """Write the provenance footer in the figure's bottom-left corner; returns the figure."""
    fig.text(0.005, 0.005, footer_text(results), fontsize=7, color="0.45", ha="left", va="bottom", gid="provenance")
    return fig


def png_metadata(results: Results | Sequence[Results]) -> dict[str, str]:
    """Metadata for ``Figure.savefig(..., metadata=...)`` on a PNG."""
    from sim import __version__

    batches = [results] if isinstance(results, Results) else list(results)
    return {
        "Software": f"deploysim {__version__}",
        "Source": footer_text(batches),
        "Description": "; ".join(
            f"scenario={r.scenario.name} run_id={r.run_id or ''} seed={r.seed} runs={r.runs}" for r in batches
        ),
    }
