"""``deploysim sweep``: run a scenario over a grid of values and tabulate and plot a milestone against them.

A thin front end over :func:`sim.sweep.sweep`. Writes ``sweep.csv``, ``sweep_<milestone>.png`` and
``manifest.json`` to ``results/<scenario>/sweep-<UTC time>/`` (or ``--out``), atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.cli import DEFAULT_SEED, MAX_RUNS, UserError, progress_bar
from sim.commands import (
    add_batch_options,
    add_output_options,
    check_workers,
    command_manifest,
    output_folder,
    print_files,
)
from sim.loader import load_scenario
from sim.record import MILESTONES
from sim.store import write_folder, write_manifest
from sim.text import date_text, share_text

if TYPE_CHECKING:
    from sim.sweep import SweepResult

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
    )
    add_output_options(p, out_help="write to this folder instead of results/<scenario>/sweep-<UTC time>")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the sweep, write its folder and print the chosen milestone's table."""
    from sim.sweep import parse_vary, sweep, sweep_figure

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
    with progress_bar(args.runs * points, disabled=args.quiet) as update:
        result = sweep(scenario, vary, runs=args.runs, seed=args.seed, workers=args.workers, progress=update)

    figure_name = f"sweep_{args.milestone}.png"

    def write(folder: Path) -> None:
        from sim.plots import save_png
        from sim.sweep import unique_batches

        result.table.to_csv(folder / "sweep.csv", index=False, float_format="%.6g")
        save_png(sweep_figure(result, args.milestone), folder / figure_name, unique_batches(result.results))
        write_manifest(folder, command_manifest(args, scenario, {
            "vary": {key: [_jsonable(v) for v in values] for key, values in result.vary.items()},
            "points": len(result.points),
            "milestone": args.milestone,
        }))

    folder = write_folder(target, write, args.force)
    print(format_sweep(result, args.milestone))
    print_files(folder)
    return 0


def format_sweep(result: SweepResult, milestone: str) -> str:
    """The printed table: one line per grid point with the milestone's P10/P50/P90 dates and share reached."""
    from sim.sweep import toml_text

    s = result.scenario
    keys = list(result.vary)
    table = result.milestone_table(milestone)
    texts = [[toml_text(point[k]) for k in keys] for point in result.points]
    widths = [max(len(k), *(len(t[i]) for t in texts)) for i, k in enumerate(keys)]
    horizon = s.date_of(s.horizon_days)
    lines = [
        f"Sweep of '{s.name}': {len(result.points)} point{'s' if len(result.points) > 1 else ''}, "
        f"{result.runs} runs each, seed {result.seed} at every point, from {s.start_date} to {horizon}",
        "",
        f"{MILESTONES[milestone]}:",
        "  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))
        + f"  {'P10':>10} {'P50':>10} {'P90':>10} {'reached':>8}",
    ]
    for text, row in zip(texts, table.itertuples(), strict=True):
        dates = [date_text(getattr(row, f"p{q}_date")) for q in (10, 50, 90)]
        lines.append("  ".join(t.rjust(w) for t, w in zip(text, widths, strict=True))
                     + f"  {dates[0]:>10} {dates[1]:>10} {dates[2]:>10} {share_text(row.share_reached):>8}")
    lines += ["", f"'after' = not reached by the horizon ({horizon}) in that share of runs. "
              "sweep.csv holds every milestone."]
    return "\n".join(lines)


def check_milestone(milestone: str) -> None:
    """Raise a UserError with a did-you-mean unless ``milestone`` is a known milestone."""
    if milestone not in MILESTONES:
        import difflib

        close = difflib.get_close_matches(milestone, list(MILESTONES), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(MILESTONES)}"
        raise UserError(f"--milestone: unknown milestone '{milestone}'; {hint}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
