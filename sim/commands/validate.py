"""``deploysim validate``: check scenario files without running them."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.commands.errors import EXIT_USER_ERROR, print_error
from sim.scenario.errors import ScenarioError

VALIDATE_EXAMPLES = """\
examples:
  deploysim validate scenarios/baseline.toml
  deploysim validate scenarios/*.toml

Exit code 0 when every file is valid, 2 when any is not; each problem is one line naming the file,
the line, the key and what was expected.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Read each scenario file (following 'extends'), check it against the schema and the\n"
        "whole-scenario rules, and print 'ok' with its name, start date and horizon, or its problems.",
        epilog=VALIDATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, help="scenario files (TOML)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
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
