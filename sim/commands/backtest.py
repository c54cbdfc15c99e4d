"""``deploysim backtest``: score a forecast (a scenario or a stored run) against what happened.

The front end of :mod:`sim.analysis.backtest`. Prints one line per observation and the calibration summary
(or that there are too few observations for one), and, given a second forecast (``--against``), the paired
score differences. Writes ``backtest.csv``, ``backtest_summary.csv`` (and ``backtest_paired.csv``), the
figure ``backtest.png`` and a manifest into ``results/backtest/<forecast>-<UTC time>/``, atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.analysis.backtest import PairedScores
    from sim.batch.results import Results
    from sim.scenario.observations import Observations

EXAMPLES = """\
examples:
  deploysim backtest scenarios/baseline.toml --observed observations/mss_haiti.toml
  deploysim backtest results/baseline/<run-id> --observed observations/mss_haiti.toml
  deploysim backtest baseline plan_as_announced --observed observations/mss_haiti.toml --runs 500
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` subcommand to the ``deploysim`` parser."""
    from sim.batch.defaults import DEFAULT_SEED
    from sim.commands.options import add_batch_options, add_output_options

    p = subparsers.add_parser(
        "backtest",
        help="score a forecast against what happened (an observations file)",
        description="Score a forecast against observations: for each, its PIT (where it fell in the forecast;\n"
        "an interval for censored and ranged observations), CRPS, Brier score of 'reached by the date' and\n"
        "whether it fell inside the 50% and 90% intervals. A second forecast (--against, or a second input)\n"
        "is compared with the first observation by observation, with bootstrap 95% CIs. A stored run is\n"
        "rerun with its seed and runs to recover each replication's daily series.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="SCENARIO_OR_RUN",
                   help="a scenario or stored run folder; a second one is compared with the first")
    p.add_argument("--observed", type=Path, required=True, metavar="FILE", help="the observations file (TOML)")
    p.add_argument("--against", type=Path, metavar="SCENARIO_OR_RUN", help="a second forecast to compare with")
    add_batch_options(
        p, runs=None, runs_help="replications of a scenario (default 1000; a stored run keeps its own)",
        seed=None, seed_help=f"seed of a scenario (default {DEFAULT_SEED}; a stored run keeps its own)",
        set_help="override a value of each scenario (TOML syntax); repeatable", executor=True,
    )
    add_output_options(p, out_help="output folder (default results/backtest/<forecast>-<time>)", quiet=True)
    p.add_argument("--no-plots", action="store_true", help="skip the figure")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run ``deploysim backtest``; returns the exit code."""
    from sim.analysis.backtest import BacktestError, forecast, paired, score, summary
    from sim.batch import safeio
    from sim.batch.store import unused_folder, utc_stamp
    from sim.commands.errors import UserError
    from sim.commands.options import batch_executor, check_out, check_workers, print_files
    from sim.scenario.library import is_name
    from sim.scenario.observations import load_observations

    inputs = list(args.inputs) + ([args.against] if args.against is not None else [])
    if len(inputs) > 2:
        raise UserError(f"backtest scores one forecast, or compares two; got {len(inputs)}")
    for path in inputs:
        if not path.exists() and not is_name(path):
            raise UserError(f"{path}: no such file or folder")
    check_workers(args.workers, args.runs, args.many_workers)
    check_out(args.out, args.force)
    observations = load_observations(args.observed)
    try:
        with batch_executor(args) as executor:
            forecasts = [forecast(path, runs=args.runs, seed=args.seed, overrides=args.overrides, executor=executor,
                                  progress=not args.quiet) for path in inputs]
        tables = [score(results, observations) for results in forecasts]
        comparison = None
        if len(tables) == 2:
            labels = _labels(forecasts)
            comparison = paired(tables[0], tables[1], labels=(labels[0], labels[1]))
    except BacktestError as exc:
        raise UserError(str(exc)) from None
    folder = args.out
    if folder is None:
        stem = f"{forecasts[0].name}-{utc_stamp()}"
        safeio.check_name(stem, "back-test folder name")
        folder = safeio.check_inside(unused_folder(args.results_root / "backtest", stem), args.results_root,
                                     "back-test folder")
    write_backtest(forecasts, tables, comparison, observations, args.observed, folder, force=args.force,
                   plots=not args.no_plots)
    print(format_backtest(forecasts[0], tables[0], summary(tables[0])))
    if comparison is not None:
        print()
        print(format_paired(comparison))
    print_files(folder)
    return 0


def _labels(forecasts: list[Results]) -> list[str]:
    names = [r.name for r in forecasts]
    return names if len(set(names)) == len(names) else [f"{n} ({i + 1})" for i, n in enumerate(names)]


def format_backtest(results: Results, table: pd.DataFrame, summary_table: pd.DataFrame) -> str:
    """Printed lines: one per scored observation, then the calibration summary or why there is none."""
    from sim.output.backtest import SCORE_NOTE, calibration_lines, score_cells

    lines = [f"Back-test of '{results.name}' ({results.runs:,} runs, seed {results.seed}):",
             f"  {'observation':<38} {'date':<10} {'observed':>10} {'P10':>8} {'P50':>8} {'P90':>8} "
             f"{'PIT':>11} {'CRPS':>8} {'Brier':>6} {'in50':>4} {'in90':>4}"]
    for label, date, observed, p10, p50, p90, pit, crps, brier, in50, in90 in score_cells(table):
        lines.append(f"  {label[:38]:<38} {date:<10} {observed:>10} {p10:>8} {p50:>8} {p90:>8} {pit:>11} "
                     f"{crps:>8} {brier:>6} {in50:>4} {in90:>4}")
    skipped = int((~table["scored"]).sum())
    if skipped:
        lines.append(f"  ({skipped} entries not scored: events, money outside the trust-fund balance, or dates "
                     "outside the forecast; see backtest.csv)")
    lines.append(f"  {SCORE_NOTE}")
    lines.append("")
    lines.extend(calibration_lines(table, summary_table))
    return "\n".join(lines)


def format_paired(comparison: PairedScores) -> str:
    """Printed lines: the mean paired score differences, second forecast minus first, with bootstrap CIs."""
    a, b = comparison.labels
    lines = [f"'{b}' against '{a}', paired by observation (score of '{b}' minus '{a}'; negative: '{b}' better):"]
    for row in comparison.means.itertuples():
        ci = "" if row.ci95_low != row.ci95_low else f" (95% CI {row.ci95_low:+.3g} to {row.ci95_high:+.3g})"
        unit = f" {row.unit}" if row.unit else ""
        what = {"milestone": "milestones", "strength": "strengths", "money": "trust-fund balances"}[row.group]
        lines.append(f"  {row.score.upper()} of {what}: {row.mean_diff:+.3g}{unit}{ci} over {row.n} observations")
    return "\n".join(lines)


def write_backtest(
    forecasts: list[Results], tables: list[pd.DataFrame], comparison: PairedScores | None,
    observations: Observations, observed_file: Path, folder: Path, force: bool = False, plots: bool = True,
) -> Path:
    """Write a back-test's tables, figure and manifest into ``folder``, atomically (see
    :func:`sim.batch.store.write_folder`).

    Files: ``backtest.csv`` (one row per observation, a ``forecast`` column naming the forecast),
    ``backtest_summary.csv``, ``backtest_paired.csv`` and ``backtest_paired_means.csv`` (with two forecasts),
    ``backtest.png`` and ``manifest.json``, written last.

    Raises:
        sim.batch.store.StoreError: If ``folder`` exists and ``force`` is false, or it is not this program's.
    """
    import pandas as pd

    from sim.analysis.backtest import summary
    from sim.batch.store import command_line, creation_fields, write_folder, write_manifest
    from sim.output.provenance import png_metadata

    labels = _labels(forecasts)

    def write(partial: Path) -> None:
        frames = [t.assign(forecast=label) for label, t in zip(labels, tables, strict=True)]
        pd.concat(frames, ignore_index=True).to_csv(partial / "backtest.csv", index=False, float_format="%.6g")
        summaries = [summary(t).assign(forecast=label) for label, t in zip(labels, tables, strict=True)]
        pd.concat(summaries, ignore_index=True).to_csv(partial / "backtest_summary.csv", index=False,
                                                       float_format="%.6g")
        if comparison is not None:
            comparison.differences.to_csv(partial / "backtest_paired.csv", index=False, float_format="%.6g")
            comparison.means.to_csv(partial / "backtest_paired_means.csv", index=False, float_format="%.6g")
        if plots:
            from sim.output.backtest import backtest_figure

            backtest_figure(forecasts[0], tables[0]).savefig(partial / "backtest.png", format="png", dpi=120,
                                                             metadata=png_metadata(forecasts[0]))
        write_manifest(partial, {
            "kind": "backtest",
            "observations": {"file": str(observed_file), "name": observations.name,
                             "start_date": observations.start_date, "observed_until": observations.until},
            **creation_fields(command_line()),
            "forecasts": [
                {"label": label, "stored_run": str(r.path) if r.path else None, "run_id": r.run_id, "seed": r.seed,
                 "runs": r.runs, "scenario": r.scenario.model_dump(mode="json", by_alias=True)}
                for label, r in zip(labels, forecasts, strict=True)
            ],
        })

    return write_folder(folder, write, force)
