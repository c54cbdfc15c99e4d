"""``deploysim run``: a scenario's Monte Carlo batch, its printed forecast and its stored run."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sim.batch import safeio
from sim.batch.defaults import DEFAULT_SEED
from sim.commands.errors import MAX_RUNS, UserError, runs_int, whole_number
from sim.commands.options import add_batch_options

if TYPE_CHECKING:
    from sim.scenario.asof import AsOf
    from sim.scenario.schema import Scenario

RUN_EXAMPLES = """\
examples:
  deploysim run scenarios/baseline.toml
  deploysim run scenarios/baseline.toml --runs 5000 --seed 7 --workers 2
  deploysim run scenarios/baseline.toml --set funding.runway_days=30 --set horizon_days=365
  deploysim run scenarios/donors_pay_late.toml --out /tmp/late --force
  deploysim run scenarios/baseline.toml --deadline "mandate end=2024-10-02"
  deploysim run scenarios/baseline.toml --runs 100000 --run-id big --resume
  deploysim run scenarios/mss_as_of_2024-10-01.toml --as-of 2024-10-01 --observed observations/mss_haiti.toml
  deploysim run scenarios/baseline.toml --replications 0:50000 --out shards/a

Prints P10/P50/P90 dates per milestone and what held the deployment back; writes manifest.json,
replications.parquet, bands.parquet, summary.csv and figures/ to results/<scenario>/<run-id>/.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    p = subparsers.add_parser(
        "run",
        help="run a scenario's Monte Carlo batch; write tables and plots",
        description="Run a scenario's Monte Carlo batch, print the milestone forecast and store tables and plots "
        "in results/<scenario>/<run-id>/.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    add_batch_options(p, runs=1000, runs_help="replications (default 1000)",
                      seed=DEFAULT_SEED, seed_help=f"batch seed (default {DEFAULT_SEED})", executor=True, failures=True)
    p.add_argument("--out", type=Path, help="write to this folder instead of results/<scenario>/<run-id>")
    p.add_argument("--results-root", type=Path, default=Path("results"), help="root of the store (default results)")
    p.add_argument("--run-id", help="name of the run folder (default: UTC time, seed and runs)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a scenario value (TOML syntax), e.g. --set funding.runway_days=60; repeatable",
    )
    p.add_argument(
        "--deadline", dest="deadlines", action="append", default=[], metavar="NAME=DATE",
        help="also report the chance of each milestone by this date, e.g. mandate_end=2024-10-02, or of at least "
        "X officers in theatre on a date, e.g. strength>=500@2024-12-31 or strength.Kenya>=600@2024-12-31; "
        "repeatable",
    )
    p.add_argument(
        "--as-of", dest="as_of", metavar="DATE",
        help="re-forecast from this date (YYYY-MM-DD): what --observed records before it happens as observed; "
        "days still count from the scenario's start date",
    )
    p.add_argument("--observed", type=Path, metavar="FILE",
                   help="observations file (TOML) for --as-of: see deploysim schema --observations")
    p.add_argument(
        "--precision", dest="precision", action="append", default=[], metavar="NAME.STAT=TARGET",
        help="run rounds of --runs replications until the 95%% interval of this statistic is at most +-TARGET, "
        "e.g. first_arrival.p50=2d (a quantile, in days) or lead_100pct.share=0.01 or spent_usd.mean=1e6; "
        "repeatable (all must be met)",
    )
    p.add_argument("--max-runs", type=runs_int, default=None, metavar="N",
                   help="with --precision: most replications in all (default 100 rounds)")
    p.add_argument("--force", action="store_true", help="replace an existing run folder")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run of the same batch from its completed chunks (kept in a hidden "
                   ".resume-* folder beside the run folder)")
    p.add_argument("--replications", type=replication_range, metavar="START:STOP",
                   help="run only replications START to STOP-1 of the batch (a slice, for `deploysim merge`); "
                   "--runs is then ignored")
    p.add_argument("--chunk-size", type=whole_number(1, "a whole number from 1", 10**7), metavar="N",
                   help="replications per chunk sent to a worker (default: about four chunks per worker, at most 250)")
    p.set_defaults(handler=handle)


def replication_range(text: str) -> range:
    """``START:STOP`` as a range of replications.

    Raises:
        argparse.ArgumentTypeError: If it is not two whole numbers with 0 <= START < STOP.
    """
    start, sep, stop = text.partition(":")
    if not sep or not start.strip().isdigit() or not stop.strip().isdigit() or int(start) >= int(stop):
        raise argparse.ArgumentTypeError(f"expected START:STOP with 0 <= START < STOP, got {text!r}")
    if int(stop) > MAX_REPLICATION:
        raise argparse.ArgumentTypeError(f"STOP should be at most {MAX_REPLICATION}, got {stop}")
    return range(int(start), int(stop))


#: Largest replication number a slice may reach.
MAX_REPLICATION = 10**9


def handle(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from sim.analysis.compare import (
        ComparisonError,
        check_deadlines,
        check_strength_targets,
        deadline_probabilities,
        split_deadlines,
        strength_probabilities,
    )
    from sim.batch.memory import fix_mmap_threshold, return_free_memory
    from sim.batch.runner import open_journal, run
    from sim.batch.store import command_line, save_results
    from sim.commands.options import batch_executor, check_out, check_workers, failure_options, print_files
    from sim.output.text import format_deadlines, format_strength, format_strength_deadlines
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    try:
        deadlines, targets = split_deadlines(args.deadlines)
        check_deadlines(deadlines, scenario)
        check_strength_targets(targets, scenario)
    except ComparisonError as exc:
        raise UserError(str(exc)) from None
    conditioned = reforecast_history(args, scenario)
    check_workers(args.workers, args.runs, args.many_workers)
    targets_precision = _precision_targets(args, scenario)
    if targets_precision and (args.replications is not None or args.resume):
        raise UserError("--precision: runs rounds of its own; it takes neither --replications nor --resume")
    safeio.check_name(scenario.name, "scenario name")
    target = args.out
    if args.run_id is not None:
        safeio.check_name(args.run_id, "--run-id")
    if target is None and args.run_id is not None:
        target = safeio.check_inside(args.results_root / scenario.name / args.run_id, args.results_root, "run folder")
    check_out(target, args.force)
    span = args.replications if args.replications is not None else range(args.runs)
    dates = [t.date for t in targets]
    parent = target.parent if target is not None else args.results_root / scenario.name
    created = safeio.make_parents(parent)
    try:
        # None when another process runs this very batch: this one then runs without a journal.
        journal = None if targets_precision else open_journal(parent, scenario, args.seed, span, dates, args.resume,
                                                             conditioned)
    except BaseException:
        safeio.remove_empty(created)
        raise
    if journal is not None and journal.resumed:
        print(f"deploysim: resuming from {journal.found} completed chunks", file=sys.stderr)
    elif journal is not None and journal.found:
        print(f"deploysim: an interrupted run of this batch left {journal.found} completed chunks; starting again "
              "(pass --resume to continue from them)", file=sys.stderr)
    # The tables go to Parquet files as chunks complete (flat memory at any --runs): inside the journal,
    # or a hidden folder of this run's own beside the run folder (with --precision, each round's tables
    # and the chunks run so far).
    import pyarrow as pa

    # Arrow's default allocator (mimalloc) keeps the pages of every table read back: at 10,000 runs
    # the peak was 437 MiB with it and 345 MiB with the system's.
    pa.set_memory_pool(pa.system_memory_pool())
    fix_mmap_threshold()
    own_spill = None
    if journal is not None:
        spill = journal.folder / ".tables"
        if spill.is_dir() and not spill.is_symlink():
            shutil.rmtree(spill)  # an interrupted run's: the journal's chunks are what resumes
    else:
        spill = own_spill = Path(tempfile.mkdtemp(prefix=".spill-", dir=parent))
    try:
        with batch_executor(args) as executor:
            if targets_precision:
                from sim.batch.precision import run_to_precision

                results = run_to_precision(scenario, targets_precision, round_runs=args.runs, max_runs=args.max_runs,
                                           seed=args.seed, executor=executor, progress=not args.quiet,
                                           strength_dates=dates, as_of=conditioned, spill=spill,
                                           **failure_options(args))
            else:
                results = run(scenario, runs=args.runs, seed=args.seed, executor=executor, progress=not args.quiet,
                              strength_dates=dates, replications=args.replications, journal=journal,
                              chunk_size=args.chunk_size, as_of=conditioned, spill=spill, **failure_options(args))
        return_free_memory()
        deadline_table = deadline_probabilities(results, deadlines) if deadlines else None
        strength_table = strength_probabilities(results, targets) if targets else None

        def extra(tmp: Path) -> None:
            if deadline_table is not None:
                deadline_table.to_csv(tmp / "deadlines.csv", index=False, float_format="%.6g")
            if strength_table is not None:
                strength_table.to_csv(tmp / "strength_deadlines.csv", index=False, float_format="%.6g")
            if not args.no_plots:
                from sim.commands.plot import write_figures

                write_figures(results, tmp)

        folder = save_results(
            results,
            folder=target,
            root=args.results_root,
            run_id=args.run_id,
            force=args.force,
            extra=extra,
            command=command_line(),
        )
        from sim.output.tables import format_forecast

        # Read before the spilled tables are removed with the journal.
        forecast = format_forecast(results)
        strength = results.strength_summary()
    except KeyboardInterrupt:
        if journal is not None:
            journal.close()  # Ctrl-C keeps the completed chunks, for --resume (as a kill does)
        _remove_spill(own_spill)
        raise
    except BaseException:
        # Any other failure leaves nothing behind, as every command does.
        if journal is not None:
            journal.remove()
        _remove_spill(own_spill)
        safeio.remove_empty(created)
        raise
    if journal is not None:
        journal.remove()
    _remove_spill(own_spill)
    if conditioned is not None:
        print(f"Re-forecast as of {conditioned.date} from {conditioned.source}: {len(conditioned.reached)} milestones "
              f"held at their observed days, {len(conditioned.not_before)} not reached by a date, strength of "
              f"{', '.join(sorted(conditioned.strength)) or 'no contributor'} replayed.")
        for note in conditioned.notes:
            print(f"  note: {note}")
    print(forecast)
    if results.precision is not None:
        from sim.batch.precision import precision_text

        print()
        print(precision_text(results.precision))
    print()
    print(format_strength(strength[strength["contributor"].isin(["all", scenario.force.lead_contributor])]))
    print("  (every contributor: strength_summary.csv)")
    if deadline_table is not None:
        print()
        print(format_deadlines(deadline_table))
    if strength_table is not None:
        print()
        print(format_strength_deadlines(strength_table))
    print_files(folder)
    return 0


def _remove_spill(folder: Path | None) -> None:
    """Remove the hidden folder this run made for its spilled tables (None: it made none)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def reforecast_history(args: argparse.Namespace, scenario: Scenario) -> AsOf | None:
    """The observed history ``--as-of`` and ``--observed`` ask to hold fixed (None without them)."""
    from sim.scenario.asof import AsOfError, as_of

    if args.as_of is None and args.observed is None:
        return None
    if args.as_of is None or args.observed is None:
        given, missing = ("--observed", "--as-of") if args.as_of is None else ("--as-of", "--observed")
        raise UserError(f"{given}: a re-forecast needs both --as-of DATE and --observed FILE; {missing} is missing")
    try:
        return as_of(args.observed, scenario, args.as_of, source=str(args.observed))
    except AsOfError as exc:
        raise UserError(f"{args.observed}: {exc}") from None


def _precision_targets(args: argparse.Namespace, scenario: object) -> list:
    """``--precision`` read and checked against the scenario, and ``--max-runs`` settled (before anything runs)."""
    if not args.precision:
        if args.max_runs is not None:
            raise UserError("--max-runs goes with --precision")
        return []
    from sim.analysis.sensitivity import outcome_names
    from sim.batch.precision import parse_precision

    try:
        targets = parse_precision(args.precision, outcome_names(scenario))  # type: ignore[arg-type]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.max_runs is None:
        args.max_runs = min(MAX_RUNS, 100 * args.runs)
    if args.max_runs < args.runs:
        raise UserError(f"--max-runs {args.max_runs} is below the round size --runs {args.runs}")
    return targets
