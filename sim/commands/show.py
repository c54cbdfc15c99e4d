"""``deploysim show``: a scenario as it runs (after ``extends`` and ``--set``), as TOML or as a parameter table.

A thin front end over :func:`sim.scenario.toml.toml_document` and
:func:`sim.scenario.parameters.parameter_table`; the table is printed by
:func:`sim.output.tables.format_parameters`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  deploysim show scenarios/donors_pay_late.toml
  deploysim show scenarios/baseline.toml --set funding.runway_days=30 > thin_runway.toml
  deploysim show scenarios/baseline.toml --table
  deploysim show scenarios/donors_pay_late.toml --table --csv > parameters.csv

The TOML printed is complete (no 'extends'): 'deploysim run' of it runs the same scenario.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``show`` subcommand to the ``deploysim`` parser."""
    p = subparsers.add_parser(
        "show",
        help="print the resolved scenario (after extends and --set) as TOML, or its parameter table",
        description="Print a scenario as it runs: its file merged over the files it extends, with every --set\n"
        "applied and every default filled in, as TOML. With --table, print every value with its unit (from\n"
        "the key's name) and its source or 'judgement', read from the comment beside it in the file that\n"
        "sets it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value (TOML syntax); repeatable")
    p.add_argument("--table", action="store_true", help="print the parameter table instead of TOML")
    p.add_argument("--csv", action="store_true", help="with --table: print it as CSV")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the resolved scenario or its parameter table; returns the exit code."""
    from sim.commands.errors import UserError
    from sim.scenario.loader import load_scenario

    if args.csv and not args.table:
        raise UserError("--csv goes with --table")
    if args.table:
        from sim.output.tables import format_parameters
        from sim.scenario.parameters import parameter_table

        table = parameter_table(args.scenario, args.overrides)
        if args.csv:
            table.to_csv(sys.stdout, index=False)
        else:
            print(format_parameters(table))
        return 0
    from sim.scenario.toml import toml_document

    scenario = load_scenario(args.scenario, args.overrides)
    sets = "".join(f" --set {item}" for item in args.overrides)
    sys.stdout.write(f"# Resolved by 'deploysim show {args.scenario}{sets}'\n\n"
                     + toml_document(scenario.model_dump(mode="python", by_alias=True)))
    return 0
