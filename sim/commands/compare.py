"""``deploysim compare``: run scenarios with one seed and print, table and draw their paired comparison.

The front end of :mod:`sim.analysis.compare`. Inputs are scenario files or stored run folders; outputs land
in ``results/compare/<first>-vs-<others>-<UTC time>/`` (tables as CSV, overlay figures as PNG, a
manifest), written to a hidden partial folder and renamed into place only when complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.analysis.compare import Comparison

EXAMPLES = """\
examples:
  deploysim compare scenarios/baseline.toml scenarios/donors_pay_late.toml
  deploysim compare scenarios/baseline.toml scenarios/donors_pay_late.toml --deadline mandate_end=2024-10-02
  deploysim compare scenarios/baseline.toml scenarios/airport_reopens.toml scenarios/no_second_hold.toml --runs 2000
  deploysim compare scenarios/baseline.toml scenarios/kenya_alone.toml --set horizon_days=365 --out /tmp/cmp --force
  deploysim compare results/baseline/<run-id> results/donors_pay_late/<run-id>
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand to the ``deploysim`` parser."""
    from sim.batch.defaults import DEFAULT_SEED
    from sim.commands.options import add_batch_options, add_output_options

    p = subparsers.add_parser(
        "compare",
        help="run scenarios with one seed and compare them with the first, paired run by run",
        description="Run each scenario with the same seed, so that replication k of every scenario shares its\n"
        "draws subsystem by subsystem. Print the settings each differs in from the first, each milestone's\n"
        "P50/P80 dates, the paired change in days and in the share reaching it (95% CIs), and the\n"
        "probability of each milestone by each --deadline. Tables and overlay figures go to the output folder.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="SCENARIO_OR_RUN",
                   help="scenario files (TOML) or stored run folders; the first is the reference")
    add_batch_options(
        p, runs=None, runs_help="replications per scenario (default: those of a stored run given, else 1000)",
        seed=None, seed_help=f"common seed (default: that of a stored run given, else {DEFAULT_SEED})",
        set_help="override a value of every scenario (TOML syntax), e.g. --set horizon_days=365; repeatable",
        executor=True, failures=True,
    )
    p.add_argument("--deadline", dest="deadlines", action="append", default=[], metavar="NAME=DATE",
                   help="add the probability of each milestone by this date, e.g. mandate_end=2024-10-02, or of at "
                   "least X officers in theatre on a date, e.g. strength>=500@2024-12-31; repeatable")
    add_output_options(p, out_help="output folder (default results/compare/<first>-vs-<others>-<time>)", quiet=True)
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run ``deploysim compare``; returns the exit code."""
    from sim.analysis.compare import ComparisonError, compare, split_deadlines
    from sim.batch import safeio
    from sim.batch.store import unused_folder, utc_stamp
    from sim.commands.errors import UserError
    from sim.commands.options import batch_executor, check_out, check_workers, failure_options, print_files

    if len(args.inputs) < 2:
        raise UserError(f"compare needs at least two scenarios or stored runs, got {len(args.inputs)}")
    check_workers(args.workers, args.runs, args.many_workers)
    from sim.scenario.library import is_name
    for path in args.inputs:
        # A bare name is a library scenario; the loader says if it is not one.
        if not path.exists() and not is_name(path):
            raise UserError(f"{path}: no such file or folder")
    check_out(args.out, args.force)
    try:
        deadlines, targets = split_deadlines(args.deadlines)
        with batch_executor(args) as executor:
            comparison = compare(
                args.inputs, runs=args.runs, seed=args.seed, executor=executor, overrides=args.overrides,
                deadlines=deadlines, progress=not args.quiet, strength_targets=targets, **failure_options(args),
            )
    except ComparisonError as exc:
        raise UserError(str(exc)) from None
    stem = f"{comparison.labels[0]}-vs-{'+'.join(comparison.labels[1:])}-{utc_stamp()}"
    if len(stem.encode()) > safeio.MAX_NAME_BYTES - 8:
        stem = f"{comparison.labels[0][:60]}-vs-{len(comparison.labels) - 1}-others-{utc_stamp()}"
    folder = args.out
    if folder is None:
        safeio.check_name(stem, "comparison folder name")
        parent = args.results_root / "compare"
        folder = safeio.check_inside(unused_folder(parent, stem), args.results_root, "comparison folder")
    write_comparison(comparison, folder, force=args.force, plots=not args.no_plots)
    from sim.output.text import format_comparison

    print(format_comparison(comparison))
    from sim.commands.options import failures_line

    failed = failures_line(comparison.results, comparison.labels)
    if failed:
        print(failed)
    if comparison.strength_deadlines is not None:
        from sim.output.text import format_strength_deadlines

        print()
        print(format_strength_deadlines(comparison.strength_deadlines, comparison.labels))
    delays = comparison_delays(comparison)
    if delays is not None:
        print()
        print(format_delay_changes(delays))
    print_files(folder)
    return 0


def comparison_delays(comparison: Comparison) -> pd.DataFrame | None:
    """Paired changes per cause of each later batch against the first, or None if a run has no delay table."""
    import pandas as pd

    from sim.analysis.compare import paired_delays

    base = comparison.base
    if base.delays is None or any(r.delays is None for r in comparison.results[1:]):
        return None
    frames = [paired_delays(base, other).assign(scenario=label)
              for label, other in zip(comparison.labels[1:], comparison.results[1:], strict=True)]
    return pd.concat(frames, ignore_index=True)


def format_delay_changes(delays: pd.DataFrame, top: int = 5) -> str:
    """Printed lines: for each later scenario and milestone, the causes whose days changed most."""
    from sim.scenario.milestones import MILESTONES

    lines = ["Where the days changed (paired, over the runs where both reach the milestone; 95% CI):"]
    for (scenario, milestone), rows in delays.groupby(["scenario", "milestone"], sort=False):
        moved = rows[rows["mean_diff_days"].abs() >= 0.05].head(top)
        parts = [f"{r.cause} {r.mean_diff_days:+.1f} d ({r.ci95_low:+.1f} to {r.ci95_high:+.1f})"
                 for r in moved.itertuples()]
        lines.append(f"  '{scenario}', {MILESTONES[milestone]}: " + ("; ".join(parts) or "no change"))
    return "\n".join(lines)


def write_comparison(comparison: Comparison, folder: Path, force: bool = False, plots: bool = True) -> Path:
    """Write a comparison's tables, figures and manifest into ``folder``, atomically (see
    :func:`sim.batch.store.write_folder`).

    Files: ``config_diff.csv``, ``milestones.csv`` (per milestone and scenario), ``differences.csv``
    (every column of the paired differences), ``deadlines.csv`` (with deadlines), ``figures/*.png``
    (see :data:`sim.analysis.compare.OVERLAY_FIGURES`) and ``manifest.json`` (inputs, seed, runs, resolved
    scenarios, versions), written last.

    Raises:
        sim.batch.store.StoreError: If ``folder`` exists and ``force`` is false.
    """
    from sim.batch.store import command_line, creation_fields, write_folder, write_manifest
    from sim.output.compare_figures import OVERLAY_FIGURES
    from sim.output.provenance import png_metadata

    def write(partial: Path) -> None:
        comparison.config_diffs.to_csv(partial / "config_diff.csv", index=False)
        comparison.milestone_table().to_csv(partial / "milestones.csv", index=False, float_format="%.6g")
        comparison.differences.to_csv(partial / "differences.csv", index=False, float_format="%.6g")
        if comparison.deadlines is not None:
            comparison.deadlines.to_csv(partial / "deadlines.csv", index=False, float_format="%.6g")
        if comparison.strength_deadlines is not None:
            comparison.strength_deadlines.to_csv(partial / "strength_deadlines.csv", index=False,
                                                 float_format="%.6g")
        delays = comparison_delays(comparison)
        if delays is not None:
            delays.to_csv(partial / "delay_changes.csv", index=False, float_format="%.6g")
        if plots:
            figures = partial / "figures"
            figures.mkdir()
            for filename, draw in OVERLAY_FIGURES.items():
                draw(comparison.results).savefig(figures / filename, format="png", dpi=120,
                                                 metadata=png_metadata(comparison.results))
            from sim.output.forest import forest_plot

            forest_plot(comparison).savefig(figures / "forest_differences.png", format="png", dpi=120,
                                            metadata=png_metadata(comparison.results))
        write_manifest(partial, {
            "kind": "comparison",
            "labels": comparison.labels,
            "seed": comparison.base.seed,
            "runs": comparison.base.runs,
            "deadlines": {k: v.isoformat() for k, v in (comparison.deadline_dates or {}).items()},
            **creation_fields(command_line()),
            "inputs": [
                {"label": label, "stored_run": str(r.path) if r.path else None, "run_id": r.run_id,
                 "scenario": r.scenario.model_dump(mode="json", by_alias=True)}
                for label, r in zip(comparison.labels, comparison.results, strict=True)
            ],
        })

    return write_folder(folder, write, force)
