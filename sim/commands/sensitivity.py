"""``deploysim sensitivity``: which uncertain inputs move an outcome most (a tornado; optionally Sobol indices).

A thin front end over :func:`sim.analysis.sensitivity.tornado` and
:func:`sim.analysis.sensitivity.sobol_indices`; the printed tables come from :mod:`sim.output.tables`.
Writes ``tornado.csv``, ``tornado.png``, with ``--method sobol`` also ``sobol.csv``, and
``manifest.json`` to ``results/<scenario>/sensitivity-<UTC time>/`` (or ``--out``), atomically.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.store import write_folder, write_manifest
from sim.commands.errors import MAX_RUNS, UserError, positive_int
from sim.commands.options import (
    add_batch_options,
    add_output_options,
    check_workers,
    command_manifest,
    output_folder,
    print_files,
)

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
        executor=True,
    )
    p.add_argument("--method", choices=("oat", "sobol"), default="oat",
                   help="oat: the tornado only (default); sobol: also global Sobol indices")
    p.add_argument("--sobol-n", type=positive_int, default=256, metavar="N",
                   help="SALib base sample size, a power of two (default 256: on the baseline, intervals of about "
                   "+-0.2 on the largest indices; 16 times n cuts them to a quarter)")
    p.add_argument("--sobol-replications", type=positive_int, default=1, metavar="R",
                   help="random worlds averaged per Sobol sample (default 1: the model's randomness is an input "
                   "of its own)")
    p.add_argument("--top", type=positive_int, default=15, help="inputs drawn in the tornado chart (default 15)")
    add_output_options(p, out_help="write to this folder instead of results/<scenario>/sensitivity-<UTC time>")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the tornado (and Sobol indices), write the folder and print the ranked tables."""
    from sim.analysis.sensitivity import (
        check_outcome,
        is_power_of_two,
        scenario_distributions,
        sobol_evaluations,
        sobol_indices,
        tornado,
        uncertain_inputs,
    )
    from sim.output.analysis_figures import tornado_figure
    from sim.output.tables import format_sobol, format_tornado
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    check_outcome(scenario, args.outcome)
    check_workers(args.workers, args.runs, args.many_workers)
    inputs = _split_list(args.inputs) or None
    keys = uncertain_inputs(scenario) if inputs is None else inputs
    if not keys:
        raise UserError(f"scenario '{scenario.name}' has no uncertain inputs (every value is fixed)")
    if args.method == "sobol":
        n = args.sobol_n
        if not is_power_of_two(n):
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
    from sim.commands.options import batch_executor

    sobol = None
    with batch_executor(args) as executor:
        table = tornado(scenario, args.outcome, inputs, runs=args.runs, seed=args.seed, executor=executor,
                        progress=not args.quiet)
        if args.method == "sobol":
            sobol = sobol_indices(scenario, args.outcome, inputs, n=args.sobol_n,
                                  replications=args.sobol_replications, seed=args.seed, executor=executor,
                                  progress=not args.quiet)
    dists = scenario_distributions(scenario)

    def write(folder: Path) -> None:
        import pandas as pd

        from sim.batch.results import Results
        from sim.output.plots import save_png

        table.to_csv(folder / "tornado.csv", index=False, float_format="%.6g")
        # The tornado's batches differ only by a pinned input: the metadata names the baseline batch.
        stub = Results(scenario=scenario, seed=args.seed, runs=args.runs, replications=pd.DataFrame(),
                       bands=pd.DataFrame())
        save_png(tornado_figure(table, top=args.top), folder / "tornado.png", stub)
        extra = {"outcome": args.outcome, "method": args.method, "inputs": list(table["input"]),
                 "distributions": {k: dists[k].model_dump(mode="json", by_alias=True) for k in table["input"]}}
        if sobol is not None:
            from sim.output.sobol import sobol_figure

            sobol.to_csv(folder / "sobol.csv", index=False, float_format="%.6g")
            save_png(sobol_figure(sobol, top=args.top), folder / "sobol.png", stub)
            extra["sobol"] = {k: sobol.attrs[k] for k in ("n", "replications", "evaluations")}
        write_manifest(folder, command_manifest(args, scenario, extra))

    folder = write_folder(target, write, args.force)
    print(format_tornado(table, scenario))
    if sobol is not None:
        print()
        print(format_sobol(sobol))
    print_files(folder)
    return 0


def _split_list(items: Iterable[str]) -> list[str]:
    """Comma-separated names from one or more options, stripped, empty ones dropped."""
    return [name.strip() for item in items for name in item.split(",") if name.strip()]
