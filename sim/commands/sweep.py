"""``deploysim sweep``: run a scenario over a grid of values and tabulate and plot a milestone against them.

A thin front end over :func:`sim.analysis.sweep.sweep`. Writes ``sweep.csv``, ``sweep_<milestone>.png`` and
``manifest.json`` to ``results/<scenario>/sweep-<UTC time>/`` (or ``--out``), atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.store import write_folder, write_manifest
from sim.commands.errors import MAX_RUNS, UserError
from sim.commands.options import (
    add_batch_options,
    add_output_options,
    check_workers,
    command_manifest,
    output_folder,
    print_files,
)
from sim.scenario.milestones import MILESTONES, unknown_milestone

if TYPE_CHECKING:
    pass

#: Most grid points one sweep may have.
MAX_POINTS = 1000

EXAMPLES = """\
examples:
  deploysim sweep scenarios/baseline.toml --vary funding.runway_days=30,60,90,120
  deploysim sweep scenarios/baseline.toml --vary funding.runway_days=30,90 \\
      --vary logistics.airport.closed_at_start=true,false --milestone lead_100pct --runs 1000 --workers 0
  deploysim sweep scenarios/baseline.toml \\
      --vary 'governance.hold_days={dist="lognormal",median=21,p90=75},{dist="lognormal",median=42,p90=150}'

Values are TOML, as for --set; commas inside braces or brackets do not split values. Every grid point
runs with the same seed, so points differ only by the varied values. The grid is the product of the
--vary lists.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand."""
    p = subparsers.add_parser(
        "sweep",
        help="run a scenario over a grid of values; tabulate and plot a milestone against them",
        description="Run the scenario at every point of a grid of values (the product of the --vary lists), "
        "every point with the same seed. Writes sweep.csv (one row per grid point and milestone: P10/P50/P90 "
        "and the share of runs reaching it) and a figure of one milestone against the varied value.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument("--vary", action="append", required=True, metavar="KEY=V1,V2,...",
                   help="a scenario key and the values it takes; repeatable (the grid is their product)")
    p.add_argument("--milestone", default="first_arrival",
                   help="milestone printed and plotted (default first_arrival; the CSV has every milestone)")
    add_batch_options(
        p, runs=500, runs_help="replications per grid point (default 500)",
        seed=DEFAULT_SEED, seed_help=f"seed of every point (default {DEFAULT_SEED})",
        set_help="override a scenario value (TOML syntax) before anything is varied; repeatable",
        executor=True, failures=True,
    )
    add_output_options(p, out_help="write to this folder instead of results/<scenario>/sweep-<UTC time>")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the sweep, write its folder and print the chosen milestone's table."""
    from sim.analysis.sweep import parse_vary, sweep
    from sim.output.analysis_figures import sweep_figure
    from sim.output.tables import format_sweep
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    vary = parse_vary(args.vary)
    set_keys = {item.partition("=")[0].strip() for item in args.overrides}
    both = sorted(set_keys & set(vary))
    if both:
        raise UserError(f"{both[0]} is given to both --set and --vary; give it to one")
    check_milestone(args.milestone)
    check_workers(args.workers, args.runs, args.many_workers)
    target = output_folder(args, scenario, "sweep")
    points = 1
    for values in vary.values():
        points *= len(values)
    if points > MAX_POINTS or points * args.runs > MAX_RUNS:
        raise UserError(f"the grid has {points:,} points of {args.runs:,} runs each; at most {MAX_POINTS:,} points "
                        f"and {MAX_RUNS:,} runs in all are allowed")
    from sim.commands.options import batch_executor, failure_options

    with batch_executor(args) as executor:
        result = sweep(scenario, vary, runs=args.runs, seed=args.seed, executor=executor, progress=not args.quiet,
                       **failure_options(args))

    figure_name = f"sweep_{args.milestone}.png"

    def write(folder: Path) -> None:
        from sim.output.analysis_figures import unique_batches
        from sim.output.plots import save_png

        result.table.to_csv(folder / "sweep.csv", index=False, float_format="%.6g")
        save_png(sweep_figure(result, args.milestone), folder / figure_name, unique_batches(result.results))
        write_manifest(folder, command_manifest(args, scenario, {
            "vary": {key: [_jsonable(v) for v in values] for key, values in result.vary.items()},
            "points": len(result.points),
            "milestone": args.milestone,
        }))

    folder = write_folder(target, write, args.force)
    print(format_sweep(result, args.milestone))
    from sim.commands.options import failures_line

    failed = failures_line(result.results, [f"point {i}" for i in range(len(result.results))])
    if failed:
        print(failed)
    print_files(folder)
    return 0


def check_milestone(milestone: str) -> None:
    """Raise a UserError with a did-you-mean unless ``milestone`` is a known milestone."""
    if milestone not in MILESTONES:
        raise UserError(f"--milestone: {unknown_milestone(milestone)}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
