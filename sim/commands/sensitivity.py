"""``deploysim sensitivity``: which uncertain inputs move an outcome most (a tornado; optionally Sobol indices).

A thin front end over :func:`sim.sensitivity.tornado` and :func:`sim.sensitivity.sobol_indices`. Writes
``tornado.csv``, ``tornado.png``, with ``--method sobol`` also ``sobol.csv``, and ``manifest.json`` to
``results/<scenario>/sensitivity-<UTC time>/`` (or ``--out``), atomically.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from sim.cli import DEFAULT_SEED, MAX_RUNS, UserError, positive_int, progress_bar
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
from sim.scenario import Scenario
from sim.store import write_folder, write_manifest

EXAMPLES = """\
examples:
  deploysim sensitivity scenarios/baseline.toml
  deploysim sensitivity scenarios/baseline.toml --outcome lead_100pct --runs 500 --workers 0
  deploysim sensitivity scenarios/baseline.toml \\
      --inputs governance.viable_administration_days,base.stages.0.duration_days,funding.pledges.canada.tranche_lag_days
  deploysim sensitivity scenarios/baseline.toml --method sobol --sobol-n 128

Each input is held at its P10 and at its P90 (a yes/no input at no and yes) while every other input is
drawn as usual; every batch uses the same seed, so only the pinned input differs. --method sobol adds
global indices from SALib (first-order S1 and total ST, with 95% intervals).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sensitivity`` subcommand."""
    p = subparsers.add_parser(
        "sensitivity",
        help="rank the uncertain inputs by how far they move an outcome (tornado chart; Sobol indices)",
        description="Hold each uncertain input (every distribution in the scenario, or those named by --inputs) "
        "at its P10 and at its P90 and measure the change in an outcome's median, under the same seed; rank the "
        "inputs by swing and draw a tornado chart. --method sobol adds global Sobol indices (SALib).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument("--outcome", default="first_arrival",
                   help="a milestone (its day) or a total, e.g. lead_100pct, peak_in_theatre (default first_arrival)")
    p.add_argument("--inputs", action="append", default=[], metavar="KEY,KEY...",
                   help="only these inputs (dotted keys, comma-separated; repeatable); default: every distribution")
    add_batch_options(
        p, runs=200, runs_help="replications per batch (default 200)",
        seed=DEFAULT_SEED, seed_help=f"seed of every batch (default {DEFAULT_SEED})",
        set_help="override a scenario value (TOML syntax) before anything is varied; repeatable",
    )
    p.add_argument("--method", choices=("oat", "sobol"), default="oat",
                   help="oat: the tornado only (default); sobol: also global Sobol indices")
    p.add_argument("--sobol-n", type=positive_int, default=64, metavar="N",
                   help="SALib base sample size, a power of two (default 64)")
    p.add_argument("--sobol-replications", type=positive_int, default=4, metavar="R",
                   help="replications averaged per Sobol sample (default 4)")
    p.add_argument("--top", type=positive_int, default=15, help="inputs drawn in the tornado chart (default 15)")
    add_output_options(p, out_help="write to this folder instead of results/<scenario>/sensitivity-<UTC time>")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the tornado (and Sobol indices), write the folder and print the ranked tables."""
    from sim.sensitivity import (
        check_outcome,
        scenario_distributions,
        sobol_evaluations,
        sobol_indices,
        tornado,
        tornado_figure,
        uncertain_inputs,
    )

    scenario = load_scenario(args.scenario, args.overrides)
    check_outcome(scenario, args.outcome)
    check_workers(args.workers, args.runs, args.many_workers)
    inputs = _split_list(args.inputs) or None
    keys = uncertain_inputs(scenario) if inputs is None else inputs
    if not keys:
        raise UserError(f"scenario '{scenario.name}' has no uncertain inputs (every value is fixed)")
    if args.method == "sobol":
        n = args.sobol_n
        if n < 2 or n & (n - 1):
            raise UserError(f"--sobol-n must be a power of two (2, 4, ..., 64, 128...), got {n}")
        evaluations = sobol_evaluations(len(keys), n, 1) * args.sobol_replications if n <= 2**20 else MAX_RUNS + 1
        if evaluations > MAX_RUNS:
            raise UserError(f"--sobol-n {n} with {args.sobol_replications} replications needs more than "
                            f"{MAX_RUNS:,} replications; ask for a smaller --sobol-n")
        try:
            import SALib  # noqa: F401
        except ModuleNotFoundError:
            raise UserError("--method sobol needs SALib: pip install 'deploysim[sobol]'") from None
    total = args.runs * (1 + 2 * len(keys))
    if total > MAX_RUNS:
        raise UserError(f"{len(keys)} inputs at {args.runs:,} runs each make {total:,} replications; at most "
                        f"{MAX_RUNS:,} are allowed (ask for fewer runs or fewer --inputs)")
    target = output_folder(args, scenario, "sensitivity")
    with progress_bar(total, disabled=args.quiet) as update:
        table = tornado(scenario, args.outcome, inputs, runs=args.runs, seed=args.seed, workers=args.workers,
                        progress=update)
    sobol = None
    if args.method == "sobol":
        rows = sobol_evaluations(len(keys), args.sobol_n, 1)
        with progress_bar(rows, disabled=args.quiet) as update:
            sobol = sobol_indices(scenario, args.outcome, inputs, n=args.sobol_n, replications=args.sobol_replications,
                                  seed=args.seed, workers=args.workers, progress=update)
    dists = scenario_distributions(scenario)

    def write(folder: Path) -> None:
        from sim.plots import save_png
        from sim.results import Results

        table.to_csv(folder / "tornado.csv", index=False, float_format="%.6g")
        # The tornado's batches differ only by a pinned input: the metadata names the baseline batch.
        stub = Results(scenario=scenario, seed=args.seed, runs=args.runs, replications=pd.DataFrame(),
                       bands=pd.DataFrame())
        save_png(tornado_figure(table, top=args.top), folder / "tornado.png", stub)
        extra = {"outcome": args.outcome, "method": args.method, "inputs": list(table["input"]),
                 "distributions": {k: dists[k].model_dump(mode="json", by_alias=True) for k in table["input"]}}
        if sobol is not None:
            sobol.to_csv(folder / "sobol.csv", index=False, float_format="%.6g")
            extra["sobol"] = {k: sobol.attrs[k] for k in ("n", "replications", "evaluations")}
        write_manifest(folder, command_manifest(args, scenario, extra))

    folder = write_folder(target, write, args.force)
    print(format_tornado(table, scenario))
    if sobol is not None:
        print()
        print(format_sobol(sobol))
    print_files(folder)
    return 0


def format_tornado(table: pd.DataFrame, scenario: Scenario) -> str:
    """The printed ranking: each input's pinned values, the medians and the swing."""
    from sim.sweep import format_value

    attrs = table.attrs
    unit = attrs["unit"]
    baseline = attrs["baseline_median"]
    is_day = unit == "days" and attrs["outcome"] in MILESTONES
    low_q, high_q = round(attrs["low"] * 100), round(attrs["high"] * 100)
    if is_day:
        when = f"{scenario.date_of(baseline)} (day {baseline:.0f})" if not math.isnan(baseline) else ""
        base_text = when or "after the horizon"
    else:
        base_text = _amount(baseline, unit)
    width = max(len("Input"), *(len(k) for k in table["input"]))
    lines = [
        f"Sensitivity of '{attrs['label']}' in '{scenario.name}': {attrs['runs']} runs per batch, seed "
        f"{attrs['seed']} in every batch",
        f"Baseline median: {base_text}. Each input held at its P{low_q} and P{high_q}; others drawn as usual.",
        "",
        f"{'Rank':>4}  {'Input':<{width}}  {'P' + str(low_q):>9} {'P' + str(high_q):>9}  "
        f"{'at P' + str(low_q):>11} {'at P' + str(high_q):>11}  {'swing':>8}",
    ]
    for row in table.itertuples(index=False):
        low_text = format_value(row.input, row.low_value)
        high_text = format_value(row.input, row.high_value)
        flag = " *" if row.censored else ""
        lines.append(
            f"{row.rank:>4}  {row.input:<{width}}  {low_text:>9} {high_text:>9}  "
            f"{_delta(row.low_delta, unit):>11} {_delta(row.high_delta, unit):>11}  {_amount(row.swing, unit):>8}{flag}"
        )
    lines.append("")
    lines.append("'at P10' and 'at P90': change in the median from the baseline. Ranked by swing = |at P90 - at P10|.")
    if table["censored"].any():
        lines.append("* a median after the horizon, counted at the horizon: the change is a lower bound.")
    return "\n".join(lines)


def format_sobol(table: pd.DataFrame) -> str:
    """The printed Sobol indices, ranked by total index."""
    attrs = table.attrs
    width = max(len("Input"), *(len(k) for k in table["input"]))
    lines = [
        f"Sobol indices (SALib): N = {attrs['n']}, {attrs['replications']} replications averaged per sample, "
        f"{attrs['evaluations']:,} replications in all; ± = 95% bootstrap interval",
        "",
        f"{'Rank':>4}  {'Input':<{width}}  {'S1':>14}  {'ST':>14}",
    ]
    for row in table.itertuples(index=False):
        lines.append(f"{row.rank:>4}  {row.input:<{width}}  {row.S1:>6.3f} ± {row.S1_conf:<5.3f}  "
                     f"{row.ST:>6.3f} ± {row.ST_conf:<5.3f}")
    lines.append("")
    lines.append("S1: share of the output's variance due to the input alone; ST: including its interactions.")
    return "\n".join(lines)


def _delta(value: float, unit: str) -> str:
    if unit == "days":
        return f"{value:+.1f} d"
    return ("+" if value >= 0 else "-") + _amount(abs(value), unit)


def _amount(value: float, unit: str) -> str:
    from sim.sweep import format_value

    if unit == "days":
        return f"{value:.1f} d"
    if unit == "US$":
        return format_value("x_usd", value)
    return f"{value:,.4g}"


def _split_list(items: Iterable[str]) -> list[str]:
    """Comma-separated names from one or more options, stripped, empty ones dropped."""
    return [name.strip() for item in items for name in item.split(",") if name.strip()]
