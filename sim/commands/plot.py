"""``deploysim plot``: redraw the figures of a stored run; :func:`write_figures` draws them for ``run`` too."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.batch.results import Results

PLOT_EXAMPLES = """\
examples:
  deploysim plot results/baseline/20260101T120000Z-seed20240314-n1000
  deploysim plot results/donors_pay_late/<run-id>

Writes the standard figures (officers in theatre, in total and by contributor; milestone S-curves and
Gantt; trust-fund balance; binding gates) into the run's figures/ folder, replacing those there.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand."""
    p = subparsers.add_parser(
        "plot",
        help="redraw the figures of a stored run",
        description="Redraw every standard figure of a stored run from its tables, without rerunning it,\n"
        "and print the files written.",
        epilog=PLOT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results_dir", type=Path, help="a run folder, e.g. results/baseline/<run-id>")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from sim.batch.store import load_results

    results = load_results(args.results_dir)
    for path in write_figures(results, args.results_dir):
        print(path)
    return 0


def write_figures(results: Results, folder: Path) -> list[Path]:
    """Draw every standard figure of a run into ``folder/figures``; return the files written."""
    from sim.output.delays import delays_chart
    from sim.output.plots import FIGURES, save_png

    figures = dict(FIGURES)
    if results.has("delays"):
        figures["where_the_days_went.png"] = delays_chart
    out = Path(folder) / "figures"
    return [save_png(draw(results), out / filename, results, dpi=120) for filename, draw in figures.items()]
