"""Regenerate the example figures in docs/. Run deliberately, after a change that should move them:

    .venv/bin/python scripts/docs_figures.py                 # every example
    .venv/bin/python scripts/docs_figures.py gantt.png ...   # only these
    .venv/bin/python scripts/docs_figures.py --out /tmp/x --runs 200   # a quick look, docs/ untouched

Each example draws batches of library scenarios run with the same runs and seed (common random
numbers, so comparisons are paired) and is written at 80 dpi with the provenance in the PNG
metadata; a file over 200 KB is an error. Review the images before committing them.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from sim import load_scenario, run, simulate
from sim.analysis.sensitivity import tornado
from sim.analysis.sweep import sweep
from sim.batch.results import Results
from sim.output.analysis_figures import sweep_figure, tornado_figure
from sim.output.compare_figures import overlay_fan, overlay_scurves
from sim.output.delays import delays_chart
from sim.output.plots import binding_chart, contributors_chart, fan_chart, fund_fan, gantt, milestone_scurves, save_png
from sim.output.timeline import timeline

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
DOCS = ROOT / "docs"
RUNS, SEED = 1000, 20240314
DPI = 80
MAX_BYTES = 200_000
#: Where the examples go, their runs and resolution; ``--out``, ``--runs`` and ``--dpi`` change them for a preview.
settings: dict = {"out": DOCS, "runs": RUNS, "dpi": DPI}


@functools.cache
def batch(scenario: str) -> Results:
    """``scenarios/<scenario>.toml`` run ``RUNS`` times with ``SEED``, once per invocation of the script."""
    return run(load_scenario(SCENARIOS / f"{scenario}.toml"), runs=settings["runs"], seed=SEED)


def trace_timeline(results: Results, replication: int = 0) -> Figure:
    """The timeline of one replication of a batch (the story of its row ``replication``)."""
    record = simulate(results.scenario, seed=results.seed, replication=replication, trace=True)
    return timeline(record, results.scenario)


#: File name -> (draw, scenario): ``draw`` gets the scenario's batch, or a list of batches when
#: ``scenario`` is a tuple of names. Add an example with one line.
def runway_sweep(results: Results) -> Figure:
    """Full delivery of the lead pledge against the money runway a departure needs."""
    grid = sweep(results.scenario, {"funding.runway_days": [30, 60, 90, 120]}, runs=settings["runs"] // 2, seed=SEED,
                 workers=2)
    return sweep_figure(grid, milestone="lead_100pct")


def first_arrival_tornado(results: Results) -> Figure:
    """What moves the median first landing most, each uncertain input pinned at its P10 and P90."""
    return tornado_figure(tornado(results.scenario, "first_arrival", runs=settings["runs"] // 5, seed=SEED,
                                  workers=2))


EXAMPLES: dict[str, tuple[Callable[..., Figure], str | tuple[str, ...]]] = {
    "fan_in_theatre.png": (fan_chart, "baseline"),
    "in_theatre_by_contributor.png": (contributors_chart, "baseline"),
    "milestones_scurve.png": (milestone_scurves, "baseline"),
    "milestones_gantt.png": (gantt, "baseline"),
    "binding_shares.png": (binding_chart, "baseline"),
    "where_the_days_went.png": (delays_chart, "baseline"),
    "fund_balance.png": (fund_fan, "baseline"),
    "trace_timeline.png": (trace_timeline, "baseline"),
    "compare_in_theatre.png": (overlay_fan, ("baseline", "donors_pay_late")),
    "compare_scurves.png": (overlay_scurves, ("baseline", "donors_pay_late")),
    "sweep_runway.png": (runway_sweep, "baseline"),
    "tornado_first_arrival.png": (first_arrival_tornado, "baseline"),
}


def write_example(filename: str) -> Path:
    """Draw one example and write it to ``docs/``.

    Raises:
        ValueError: If the PNG is larger than ``MAX_BYTES``.
    """
    draw, scenarios = EXAMPLES[filename]
    results = [batch(name) for name in scenarios] if isinstance(scenarios, tuple) else batch(scenarios)
    path = save_png(draw(results), Path(settings["out"]) / filename, results, dpi=settings["dpi"])
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path} is {size:,} bytes, over the {MAX_BYTES:,} allowed in docs/")
    return path


def main(argv: list[str] | None = None) -> int:
    """Write the examples named on the command line (all by default); print each file and its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"example file names: {', '.join(EXAMPLES)}")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write to (default: docs/)")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per batch (default {RUNS})")
    parser.add_argument("--dpi", type=float, default=DPI, help=f"resolution (default {DPI})")
    args = parser.parse_args(argv)
    settings.update(out=args.out, runs=args.runs, dpi=args.dpi)
    names = args.names or list(EXAMPLES)
    if unknown := [name for name in names if name not in EXAMPLES]:
        parser.error(f"unknown example {', '.join(unknown)}; known: {', '.join(EXAMPLES)}")
    for filename in names:
        path = write_example(filename)
        print(f"{path}  {path.stat().st_size / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
