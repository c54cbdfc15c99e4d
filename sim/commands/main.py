"""The ``deploysim`` command line: the parser of every subcommand, and the one way errors end.

Each subcommand is a module of its own (:data:`COMMAND_MODULES`: run, merge, trace, validate, plot, compare,
backtest, calibrate, sweep, sensitivity, report, schema, explain, scenarios, show), a thin front end over the same
functions a notebook uses. User errors print one line per problem on stderr and exit with code 2, never a traceback.
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
from sim.commands.errors import (
    EXIT_INTERRUPTED,
    EXIT_MACHINE_ERROR,
    EXIT_USER_ERROR,
    MAX_ERROR_LINE,
    UserError,
    print_error,
)
from sim.scenario.errors import ScenarioError

# Only light modules above: --version, validate and schema must start fast (no pandas or matplotlib).
if TYPE_CHECKING:
    pass

EXAMPLES = """\
examples:
  deploysim run scenarios/baseline.toml
  deploysim run scenarios/baseline.toml --runs 5000 --seed 7 --workers 2
  deploysim run scenarios/baseline.toml --set funding.runway_days=30 --set horizon_days=365
  deploysim run scenarios/donors_pay_late.toml --out /tmp/late --force
  deploysim run scenarios/baseline.toml --deadline mandate_end=2024-10-02
  deploysim compare scenarios/baseline.toml scenarios/donors_pay_late.toml
  deploysim backtest scenarios/baseline.toml --observed observations/mss_haiti.toml
  deploysim calibrate baseline --observed observations/mss_haiti.toml --params governance.viable_administration_days
  deploysim sweep scenarios/baseline.toml --vary funding.runway_days=30,60,90
  deploysim sensitivity scenarios/baseline.toml --outcome first_arrival
  deploysim report results/baseline/<run-id>
  deploysim trace scenarios/baseline.toml --replication 3
  deploysim validate scenarios/*.toml
  deploysim plot results/baseline/20260101T120000Z-seed20240314-n1000
  deploysim show scenarios/donors_pay_late.toml --table
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

    parser.add_argument("--version", action="version", version=f"deploysim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

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
    "sim.commands.run",
    "sim.commands.merge",
    "sim.commands.trace",
    "sim.commands.validate",
    "sim.commands.plot",
    "sim.commands.compare",
    "sim.commands.backtest",
    "sim.commands.calibrate",
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
    try:
        check_argument_text(args)
        handler = args.handler
        return handler(args)
    except (ScenarioError, safeio.PathError, UserError) as exc:
        if debug:
            raise
        print_error(str(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        resumable = getattr(args, "command", None) == "run"
        kept = " (the completed chunks are kept: rerun with --resume)" if resumable else ""
        print(f"deploysim: interrupted; no partial results were kept{kept}", file=sys.stderr)
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


def check_argument_text(args: argparse.Namespace) -> None:
    """Refuse any path or text argument holding a NUL byte, before it reaches the file system."""
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | Path) and "\0" in str(item):
                raise UserError(f"--{name.replace('_', '-')}: holds a NUL byte")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
