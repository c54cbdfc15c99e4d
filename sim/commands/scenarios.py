"""``deploysim scenarios``: list the scenario library shipped with the package.

Each scenario is named by its file's stem (``deploysim run baseline``) and shown with the first
sentence of its description, the question it answers. The files themselves are in
:func:`sim.scenario.library.library_folder`; copy one to start a scenario of your own.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

EXAMPLES = """\
examples:
  deploysim scenarios
  deploysim run baseline
  deploysim compare baseline donors_pay_late

a scenario of your own can start from a library one:
  extends = "baseline"   # at the top of my_variant.toml, then: deploysim run my_variant.toml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scenarios`` subcommand to the ``deploysim`` parser."""
    p = subparsers.add_parser(
        "scenarios",
        help="list the scenario library (names to use instead of a file) with the question each answers",
        description="List the scenarios shipped with deploysim. Give a name instead of a file to any command\n"
        "(deploysim run baseline); a path (with a folder or .toml) is read as a file.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--paths", action="store_true", help="also print each scenario's file")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the library, one scenario per entry; returns the exit code."""
    from sim.scenario.library import library, library_folder

    entries = library()
    width = max(len(e.name) for e in entries)
    columns = max(60, shutil.get_terminal_size((100, 24)).columns)
    indent = " " * (width + 2)
    for entry in entries:
        text = textwrap.fill(entry.question, width=columns, initial_indent=f"{entry.name:<{width}}  ",
                             subsequent_indent=indent)
        print(text)
        if args.paths:
            print(f"{indent}{entry.path}")
    print(f"\n{len(entries)} scenarios in {library_folder()}")
    return 0
