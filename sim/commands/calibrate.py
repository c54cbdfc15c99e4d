"""``deploysim calibrate``: fit chosen uncertain inputs of a scenario to an observations file (ABC).

A thin front end over :func:`sim.analysis.calibrate.calibrate`. Prints each input's prior and posterior
(mean and 90% interval), the simulations, the ESS and the threshold, and writes the calibrated scenario
``<scenario>_calibrated.toml``, ``posterior.csv``, ``draws.csv``, ``calibration.json``, ``calibration.png``
and a manifest into ``results/<scenario>/calibrate-<UTC time>/`` (or ``--out``), atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

from sim.batch.defaults import DEFAULT_SEED

if TYPE_CHECKING:
    from sim.analysis.calibrate import Calibration

EXAMPLES = """\
examples:
  deploysim calibrate baseline --observed observations/mss_haiti.toml \\
      --params governance.viable_administration_days,reconnaissance.lead_time_days
  deploysim calibrate scenarios/baseline.toml --observed observations/mss_haiti.toml \\
      --params governance.viable_administration_days --until 2024-06-30 --draws 400 --rounds 2

Each draw of the inputs (from their distributions in the scenario: the prior) runs --runs replications with
the same seed; the draws closest to the observations (the --accept share of replication distances) are kept
and weighted, then --rounds rounds of ABC-SMC move them closer. The calibrated scenario replaces each input's
distribution by an empirical one of the posterior values and weights.
"""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got '{text[:40]}'") from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share above 0 and at most 1, got '{text[:40]}'")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` subcommand to the ``deploysim`` parser."""
    from sim.batch.defaults import DEFAULT_CALIBRATION_ACCEPT as DEFAULT_ACCEPT
    from sim.batch.defaults import DEFAULT_CALIBRATION_DRAWS as DEFAULT_DRAWS
    from sim.batch.defaults import DEFAULT_CALIBRATION_ROUNDS as DEFAULT_ROUNDS
    from sim.batch.defaults import DEFAULT_CALIBRATION_RUNS_PER_DRAW as DEFAULT_RUNS_PER_DRAW
    from sim.commands.errors import whole_number
    from sim.commands.options import add_batch_options, add_output_options

    p = subparsers.add_parser(
        "calibrate",
        help="fit uncertain inputs' distributions to what happened (approximate Bayesian computation)",
        description="Fit the distributions of the inputs named by --params to the observations up to a date\n"
        "(default: the file's observed_until) by approximate Bayesian computation: rejection with importance\n"
        "weights, then ABC-SMC rounds. Writes a calibrated scenario, the posterior samples and a figure.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML) or library name")
    p.add_argument("--observed", type=Path, required=True, metavar="FILE", help="the observations file (TOML)")
    p.add_argument("--params", action="append", required=True, metavar="KEY,KEY...",
                   help="the inputs to calibrate: dotted keys of distributions in the scenario, comma-separated; "
                   "repeatable")
    p.add_argument("--until", type=_date, metavar="DATE",
                   help="use observations up to this date (default: the file's observed_until)")
    p.add_argument("--draws", type=whole_number(2, "a whole number from 2 to 100,000", 100_000),
                   default=DEFAULT_DRAWS, help=f"parameter draws per round (default {DEFAULT_DRAWS})")
    p.add_argument("--rounds", type=whole_number(0, "a whole number from 0 to 20", 20), default=DEFAULT_ROUNDS,
                   help=f"ABC-SMC rounds after the first (default {DEFAULT_ROUNDS}; 0: rejection only)")
    p.add_argument("--accept", type=_share, default=DEFAULT_ACCEPT,
                   help=f"share of replication distances accepted in each round (default {DEFAULT_ACCEPT})")
    add_batch_options(
        p, runs=DEFAULT_RUNS_PER_DRAW, runs_help=f"replications per draw (default {DEFAULT_RUNS_PER_DRAW})",
        seed=DEFAULT_SEED, seed_help=f"seed of every draw's replications (default {DEFAULT_SEED})",
        set_help="override a scenario value (TOML syntax) before calibrating, e.g. to give a fixed input a "
        "prior; repeatable",
    )
    add_output_options(p, out_help="write to this folder instead of results/<scenario>/calibrate-<UTC time>")
    p.add_argument("--no-plots", action="store_true", help="skip the figure")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the calibration, write its folder and print the posterior; returns the exit code."""
    from sim.analysis.calibrate import CalibrationError, calibrate, check_params
    from sim.batch.store import write_folder, write_manifest
    from sim.commands.errors import MAX_RUNS, UserError
    from sim.commands.options import check_workers, command_manifest, output_folder, print_files
    from sim.scenario.library import is_name, resolve
    from sim.scenario.loader import load_scenario
    from sim.scenario.observations import load_observations

    scenario = load_scenario(args.scenario, args.overrides)
    params = [name.strip() for item in args.params for name in item.split(",") if name.strip()]
    keys = check_params(scenario, params)
    check_workers(args.workers, args.runs, args.many_workers)
    total = args.draws * args.runs * (args.rounds + 1)
    if total > MAX_RUNS:
        raise UserError(f"{args.draws:,} draws x {args.runs} runs x {args.rounds + 1} rounds make {total:,} "
                        f"replications; at most {MAX_RUNS:,} are allowed")
    observations = load_observations(args.observed)
    target = output_folder(args, scenario, "calibrate")
    try:
        fit = calibrate(scenario, observations, keys, until=args.until, draws=args.draws, runs_per_draw=args.runs,
                        seed=args.seed, accept=args.accept, rounds=args.rounds, workers=args.workers,
                        progress=not args.quiet)
    except CalibrationError as exc:
        raise UserError(str(exc)) from None
    source = None if args.overrides else resolve(args.scenario) if is_name(args.scenario) else args.scenario
    toml_name = f"{scenario.name}_calibrated.toml"

    def write(folder: Path) -> None:
        import pandas as pd

        from sim.batch.results import Results
        from sim.output.calibrate import calibrated_toml, calibration_figure, calibration_record
        from sim.output.plots import save_png
        from sim.output.provenance import add_footer

        text = calibrated_toml(fit, source, observed_file=str(args.observed))
        (folder / toml_name).write_text(text, encoding="utf-8")
        load_scenario(folder / toml_name)  # the file written must load: a failure here is a bug, not the user's
        fit.posterior.to_csv(folder / "posterior.csv", index=False, float_format="%.8g")
        fit.draws.to_csv(folder / "draws.csv", index=False, float_format="%.8g")
        record = calibration_record(fit)
        (folder / "calibration.json").write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        if not args.no_plots:
            stub = Results(scenario=scenario, seed=args.seed, runs=fit.simulations, replications=pd.DataFrame(),
                           bands=pd.DataFrame())
            save_png(add_footer(calibration_figure(fit), stub), folder / "calibration.png", stub)
        write_manifest(folder, command_manifest(args, scenario, {
            "params": list(keys), "observations": {"file": str(args.observed), "name": observations.name},
            "until": fit.until, "draws": args.draws, "rounds": args.rounds, "accept": args.accept,
            "simulations": fit.simulations, "ess": fit.ess,
        }))

    folder = write_folder(target, write, args.force)
    print(format_calibration(fit))
    print_files(folder)
    return 0


def format_calibration(fit: Calibration) -> str:
    """Printed lines: the evidence (simulations, ESS, threshold), then each input's prior and posterior."""
    lines = [f"Calibration of '{fit.scenario.name}' against '{fit.observations.name}' up to {fit.until}: "
             f"{len(fit.targets)} observations used, {fit.simulations:,} simulations ({fit.runs_per_draw} per draw, "
             f"seed {fit.seed}), {len(fit.posterior)} draws accepted, ESS {fit.ess:.1f}, threshold "
             f"{fit.threshold:.3g}.",
             f"  {'input':<48} {'prior mean':>11} {'prior 90%':>19} {'posterior mean':>15} {'posterior 90%':>19}"]
    for row in fit.summary().itertuples():
        lines.append(f"  {row.param[:48]:<48} {row.prior_mean:>11.4g} "
                     f"{f'{row.prior_p05:.4g}-{row.prior_p95:.4g}':>19} {row.posterior_mean:>15.4g} "
                     f"{f'{row.posterior_p05:.4g}-{row.posterior_p95:.4g}':>19}")
    return "\n".join(lines)
