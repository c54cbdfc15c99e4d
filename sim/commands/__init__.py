"""Analysis subcommands of the ``deploysim`` command line, one module each (see :mod:`sim.cli`).

Each module defines ``register(subparsers)``, which adds its parser and sets ``handler`` to a
function taking the parsed arguments and returning the exit code. User errors are raised as
:class:`sim.cli.UserError` (or ScenarioError / StoreError) and become one line and exit code 2.
This module holds what the commands share: where their output folder goes, its manifest and the
listing of the files written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.cli import UserError
from sim.scenario import Scenario
from sim.store import command_line, creation_fields, unused_folder, utc_stamp


def check_out(out: Path | None, force: bool) -> None:
    """Refuse an existing output folder before anything runs, so no long run is wasted.

    Raises:
        UserError: If ``out`` is given, exists and ``force`` is false.
    """
    if out is not None and out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to replace it")


def output_folder(args: argparse.Namespace, scenario: Scenario, kind: str) -> Path:
    """``--out``, or ``<results-root>/<scenario>/<kind>-<UTC time>`` with a counter if that exists.

    Raises:
        UserError: If ``--out`` exists and ``--force`` is not given (checked before anything runs).
    """
    check_out(args.out, args.force)
    if args.out is not None:
        return args.out
    return unused_folder(args.results_root / scenario.name, f"{kind}-{utc_stamp()}")


def command_manifest(args: argparse.Namespace, scenario: Scenario, extra: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a command run on one scenario: the command, seed, runs, ``extra``, versions,
    git commit and the resolved scenario."""
    return {
        "kind": args.command,
        "scenario_name": scenario.name,
        "seed": args.seed,
        "runs": args.runs,
        **extra,
        **creation_fields(command_line()),
        "scenario": scenario.model_dump(mode="json", by_alias=True),
    }


def print_files(folder: Path) -> None:
    """Print the output folder and every file written in it, as each command does at its end."""
    print(f"\nResults: {folder}/")
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(folder)}")
