"""The ``deploysim`` command line: run, validate and plot scenarios.

A thin front end over the same functions a notebook uses (:mod:`sim.scenario.loader`, :mod:`sim.batch.runner`,
:mod:`sim.batch.store`, :mod:`sim.output.plots`). User errors print one line per problem on stderr and exit
with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.store import StoreError
from sim.commands.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError, seed_int
from sim.scenario.errors import ScenarioError

# Only light modules above: --version, validate and schema must start fast (no pandas or matplotlib).
if TYPE_CHECKING:
    from sim.batch.results import Results

EXAMPLES = """\
examples:
  deploysim run scenarios/baseline.toml
  deploysim run scenarios/baseline.toml --runs 5000 --seed 7 --workers 2
  deploysim run scenarios/baseline.toml --set funding.runway_days=30 --set horizon_days=365
  deploysim run scenarios/donors_pay_late.toml --out /tmp/late --force
  deploysim run scenarios/baseline.toml --deadline mandate_end=2024-10-02
  deploysim compare scenarios/baseline.toml scenarios/donors_pay_late.toml
  deploysim sweep scenarios/baseline.toml --vary funding.runway_days=30,60,90
  deploysim sensitivity scenarios/baseline.toml --outcome first_arrival
  deploysim report results/baseline/<run-id>
  deploysim trace scenarios/baseline.toml --replication 3
  deploysim validate scenarios/*.toml
  deploysim plot results/baseline/20260101T120000Z-seed20240314-n1000
  deploysim show scenarios/donors_pay_late.toml --table
"""

RUN_EXAMPLES = """\
examples:
  deploysim run scenarios/baseline.toml
  deploysim run scenarios/baseline.toml --runs 5000 --seed 7 --workers 2
  deploysim run scenarios/baseline.toml --set funding.runway_days=30 --set horizon_days=365
  deploysim run scenarios/donors_pay_late.toml --out /tmp/late --force
  deploysim run scenarios/baseline.toml --deadline "mandate end=2024-10-02"

Prints P10/P50/P90 dates per milestone and what held the deployment back; writes manifest.json,
replications.parquet, bands.parquet, summary.csv and figures/ to results/<scenario>/<run-id>/.
"""

VALIDATE_EXAMPLES = """\
examples:
  deploysim validate scenarios/baseline.toml
  deploysim validate scenarios/*.toml

Exit code 0 when every file is valid, 2 when any is not; each problem is one line naming the file,
the line, the key and what was expected.
"""

PLOT_EXAMPLES = """\
examples:
  deploysim plot results/baseline/20260101T120000Z-seed20240314-n1000
  deploysim plot results/donors_pay_late/<run-id>

Writes the standard figures (officers in theatre, in total and by contributor; milestone S-curves and
Gantt; trust-fund balance; binding gates) into the run's figures/ folder, replacing those there.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="deploysim",
        description="Monte Carlo forecasts of a police deployment (first subject: the Kenya-led mission to Haiti).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from sim import __version__
    from sim.commands.options import add_batch_options

    parser.add_argument("--version", action="version", version=f"deploysim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "run",
        help="run a scenario's Monte Carlo batch; write tables and plots",
        description="Run a scenario's Monte Carlo batch, print the milestone forecast and store tables and plots "
        "in results/<scenario>/<run-id>/.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    add_batch_options(p, runs=1000, runs_help="replications (default 1000)",
                      seed=DEFAULT_SEED, seed_help=f"batch seed (default {DEFAULT_SEED})")
    p.add_argument("--out", type=Path, help="write to this folder instead of results/<scenario>/<run-id>")
    p.add_argument("--results-root", type=Path, default=Path("results"), help="root of the store (default results)")
    p.add_argument("--run-id", help="name of the run folder (default: UTC time, seed and runs)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a scenario value (TOML syntax), e.g. --set funding.runway_days=60; repeatable",
    )
    p.add_argument(
        "--deadline", dest="deadlines", action="append", default=[], metavar="NAME=DATE",
        help="also report the chance of each milestone by this date, e.g. mandate_end=2024-10-02; repeatable",
    )
    p.add_argument("--force", action="store_true", help="replace an existing run folder")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "trace",
        help="tell the story of one replication and draw its timeline",
        description="Run one replication with its event trace, print its dated events (what happened, what it "
        "waited for) and write a timeline figure. Its numbers equal row K of a batch run with the same seed.",
        epilog="examples:\n  deploysim trace scenarios/baseline.toml\n"
        "  deploysim trace scenarios/baseline.toml --replication 17 --seed 7\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument("--replication", type=int, default=0, metavar="K", help="replication index (default 0)")
    p.add_argument("--seed", type=seed_int, default=DEFAULT_SEED, help=f"batch seed (default {DEFAULT_SEED})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value (TOML syntax); repeatable")
    p.add_argument("--out", type=Path, help="timeline file (default results/<scenario>/traces/...png)")
    p.add_argument("--results-root", type=Path, default=Path("results"), help="root of the store (default results)")

    p = sub.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Read each scenario file (following 'extends'), check it against the schema and the\n"
        "whole-scenario rules, and print 'ok' with its name, start date and horizon, or its problems.",
        epilog=VALIDATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, help="scenario files (TOML)")

    p = sub.add_parser(
        "plot",
        help="redraw the figures of a stored run",
        description="Redraw every standard figure of a stored run from its tables, without rerunning it,\n"
        "and print the files written.",
        epilog=PLOT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results_dir", type=Path, help="a run folder, e.g. results/baseline/<run-id>")
    for module in _command_modules():
        module.register(sub)
    return parser


#: Modules that add a subcommand each: ``register(subparsers)`` adds its parser (setting
#: ``handler=`` with ``set_defaults``) and the handler returns the exit code. Keeps this file small
#: as analysis commands are added.
COMMAND_MODULES = (
    "sim.commands.compare",
    "sim.commands.sweep",
    "sim.commands.sensitivity",
    "sim.commands.report",
    "sim.commands.schema",
    "sim.commands.explain",
    "sim.commands.scenarios",
    "sim.commands.show",
)


def _command_modules() -> list:
    import importlib

    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``deploysim`` and ``python -m sim``; returns the exit code."""
    args = build_parser().parse_args(argv)
    handlers = {"run": _cmd_run, "trace": _cmd_trace, "validate": _cmd_validate, "plot": _cmd_plot}
    try:
        handler = getattr(args, "handler", None) or handlers[args.command]
        return handler(args)
    except (ScenarioError, StoreError, UserError) as exc:
        for line in str(exc).splitlines():
            print(f"deploysim: error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("deploysim: interrupted; no partial results were kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `head`) left early; stay quiet rather than print a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _cmd_run(args: argparse.Namespace) -> int:
    from sim.analysis.compare import ComparisonError, check_deadlines, deadline_probabilities, parse_deadlines
    from sim.batch.runner import run
    from sim.batch.store import command_line, save_results
    from sim.commands.options import check_out, check_workers, print_files
    from sim.output.text import format_deadlines
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    try:
        deadlines = parse_deadlines(args.deadlines)
        check_deadlines(deadlines, scenario)
    except ComparisonError as exc:
        raise UserError(str(exc)) from None
    check_workers(args.workers)
    target = args.out
    if target is None and args.run_id is not None:
        target = args.results_root / scenario.name / args.run_id
    check_out(target, args.force)
    results = run(scenario, runs=args.runs, seed=args.seed, workers=args.workers, progress=not args.quiet)
    deadline_table = deadline_probabilities(results, deadlines) if deadlines else None

    def extra(tmp: Path) -> None:
        if deadline_table is not None:
            deadline_table.to_csv(tmp / "deadlines.csv", index=False, float_format="%.6g")
        if not args.no_plots:
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

    print(format_forecast(results))
    if deadline_table is not None:
        print()
        print(format_deadlines(deadline_table))
    print_files(folder)
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    import hashlib
    import json

    from sim.analysis.story import format_story
    from sim.model import simulate
    from sim.output.timeline import timeline
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if args.replication < 0:
        raise UserError(f"--replication must be 0 or more, got {args.replication}")
    record = simulate(scenario, seed=args.seed, replication=args.replication, trace=True)
    print(format_story(record, scenario))
    out = args.out
    if out is None:
        # The resolved scenario's digest in the name: a changed scenario never overwrites another's picture.
        digest = hashlib.sha256(json.dumps(scenario.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        out = args.results_root / scenario.name / "traces" / f"seed{args.seed}-rep{args.replication}-{digest[:8]}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    timeline(record, scenario).savefig(partial, format="png", dpi=120)
    partial.replace(out)
    print(f"\nTimeline: {out}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.scenario.loader import load_scenario

    bad = 0
    for file in args.files:
        try:
            scenario = load_scenario(file)
        except ScenarioError as exc:
            bad += 1
            for line in str(exc).splitlines():
                print(f"deploysim: error: {line}", file=sys.stderr)
        else:
            print(f"ok: {file} (scenario '{scenario.name}', from {scenario.start_date}, {scenario.horizon_days} days)")
    return EXIT_USER_ERROR if bad else 0


def _cmd_plot(args: argparse.Namespace) -> int:
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
    if results.delays is not None:
        figures["where_the_days_went.png"] = delays_chart
    out = Path(folder) / "figures"
    return [save_png(draw(results), out / filename, results, dpi=120) for filename, draw in figures.items()]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
