"""The ``deploysim`` command line: run, validate and plot scenarios.

A thin front end over the same functions a notebook uses (:mod:`sim.scenario.loader`, :mod:`sim.batch.runner`,
:mod:`sim.batch.store`, :mod:`sim.output.plots`). User errors print one line per problem on stderr and exit
with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sim.batch import safeio
from sim.batch.defaults import DEFAULT_SEED
from sim.commands.errors import (
    EXIT_INTERRUPTED,
    EXIT_MACHINE_ERROR,
    EXIT_USER_ERROR,
    MAX_ERROR_LINE,
    UserError,
    replication_int,
    seed_int,
)
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
        # One line, like every other error: the usage is one --help away.
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {safeio.short(message, MAX_ERROR_LINE)} "
                  f"(see '{self.prog} --help')\n")


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
    p.add_argument("--replication", type=replication_int, default=0, metavar="K",
                   help="replication index (default 0)")
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
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    for command in sub.choices.values():
        # SUPPRESS: a subcommand's default must not undo `deploysim --debug COMMAND`.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error")
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
    """Entry point of ``deploysim`` and ``python -m sim``; returns the exit code.

    Every failure a user can cause or meet becomes one line on stderr (per problem, for a scenario
    with several) and exit code 2 (a problem with what was asked) or 1 (the machine refused: disk
    full, read-only, permission); Ctrl-C exits with 130. ``--debug`` shows tracebacks instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USER_ERROR)
    handlers = {"run": _cmd_run, "trace": _cmd_trace, "validate": _cmd_validate, "plot": _cmd_plot}
    try:
        check_argument_text(args)
        handler = getattr(args, "handler", None) or handlers[args.command]
        return handler(args)
    except (ScenarioError, safeio.PathError, UserError) as exc:
        if debug:
            raise
        print_error(str(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("deploysim: interrupted; no partial results were kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `head`) left early; stay quiet rather than print a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        if debug:
            raise
        print_error(safeio.os_error_line(exc))
        return EXIT_MACHINE_ERROR if safeio.is_machine_error(exc) else EXIT_USER_ERROR
    except MemoryError:
        if debug:
            raise
        print_error("out of memory; ask for fewer runs or a shorter horizon")
        return EXIT_MACHINE_ERROR
    except Exception as exc:
        if debug:
            raise
        print_error(f"internal error ({type(exc).__name__}: {exc}); please report it, "
                    "with the command, and rerun with --debug for the details")
        return EXIT_MACHINE_ERROR


@functools.cache
def _parser() -> argparse.ArgumentParser:
    # Built once per process: building it imports every command module and costs more than most commands.
    return build_parser()


def print_error(text: str) -> None:
    """Print each line of ``text`` as ``deploysim: error: ...`` on stderr, long lines cut."""
    for line in str(text).splitlines() or [""]:
        print(f"deploysim: error: {safeio.short(line, MAX_ERROR_LINE)}", file=sys.stderr)


def check_argument_text(args: argparse.Namespace) -> None:
    """Refuse any path or text argument holding a NUL byte, before it reaches the file system."""
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | Path) and "\0" in str(item):
                raise UserError(f"--{name.replace('_', '-')}: holds a NUL byte")


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
    check_workers(args.workers, args.runs, args.many_workers)
    safeio.check_name(scenario.name, "scenario name")
    target = args.out
    if args.run_id is not None:
        safeio.check_name(args.run_id, "--run-id")
    if target is None and args.run_id is not None:
        target = safeio.check_inside(args.results_root / scenario.name / args.run_id, args.results_root, "run folder")
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
        safeio.check_name(scenario.name, "scenario name")
        out = args.results_root / scenario.name / "traces" / f"seed{args.seed}-rep{args.replication}-{digest[:8]}.png"
        safeio.check_inside(out, args.results_root, "trace file")
    with safeio.atomic_file(out, force=True, is_ours=_is_own_png, kind="timeline") as partial:
        timeline(record, scenario).savefig(partial, format="png", dpi=120, metadata={"Software": "deploysim"})
    print(f"\nTimeline: {out}")
    return 0


def _is_own_png(path: Path) -> bool:
    """Whether ``path`` is a PNG this program drew (its metadata names deploysim)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(65536)
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and b"deploysim" in head


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.scenario.loader import load_scenario

    bad = 0
    for file in args.files:
        try:
            scenario = load_scenario(file)
        except ScenarioError as exc:
            bad += 1
            print_error(str(exc))
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
