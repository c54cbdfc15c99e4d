"""What the subcommands of ``deploysim`` share (see :mod:`sim.commands.main`).

Each module defines ``register(subparsers)``, which adds its parser and sets ``handler`` to a
function taking the parsed arguments and returning the exit code. User errors are raised as
:class:`sim.commands.errors.UserError` (or ScenarioError / StoreError) and become one line and exit code 2.
This module holds what the commands share: their common options, where their output folder goes,
its manifest and the listing of the files written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.batch import safeio
from sim.batch.store import command_line, creation_fields, is_own_folder, unused_folder, utc_stamp
from sim.commands.errors import UserError, runs_int, seed_int, whole_number

#: ``--executor`` choices (as :data:`sim.batch.executors.EXECUTOR_KINDS`, without importing the batch runner).
EXECUTOR_KINDS = ("serial", "pool", "dask")

if TYPE_CHECKING:
    from sim.scenario.schema import Scenario

#: Most worker processes, even with --many-workers.
MAX_WORKERS = 1024


def add_batch_options(
    parser: argparse.ArgumentParser,
    runs: int | None,
    runs_help: str,
    seed: int | None,
    seed_help: str,
    set_help: str | None = None,
    executor: bool = False,
    failures: bool = False,
) -> None:
    """Add ``--runs``, ``--seed`` and ``--workers`` (and ``--set`` when ``set_help`` is given), in that order.

    With ``executor``, also ``--executor`` and ``--scheduler`` (see :func:`batch_executor`); with
    ``failures``, ``--max-failures`` and ``--fail-fast`` (see :func:`sim.batch.runner.run`).

    Args:
        parser: The command's parser.
        runs: Default of ``--runs`` (None: the command decides later).
        runs_help: Help of ``--runs``, its default included.
        seed: Default of ``--seed`` (None: the command decides later).
        seed_help: Help of ``--seed``, its default included.
        set_help: Help of ``--set`` (its values land in ``args.overrides``); None: no ``--set``.
    """
    parser.add_argument("--runs", type=runs_int, default=runs, help=runs_help)
    parser.add_argument("--seed", type=seed_int, default=seed, help=seed_help)
    parser.add_argument("--workers", type=whole_number(0, f"a whole number from 0 to {MAX_WORKERS}", MAX_WORKERS),
                        default=1, help="worker processes; 0 = one per CPU (default 1; at most 4 per CPU)")
    parser.add_argument("--many-workers", action="store_true",
                        help="allow more than 4 worker processes per CPU")
    if executor:
        parser.add_argument("--executor", choices=EXECUTOR_KINDS, default=None,
                            help="where the replications run: serial (this process), pool (--workers local "
                            "processes) or dask (on --scheduler, else a local Dask cluster of --workers processes; "
                            "needs pip install 'deploysim[dask]'); default: serial for --workers 1, else pool")
        parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                            help="address of a running Dask scheduler (with --executor dask)")
    if failures:
        parser.add_argument("--max-failures", type=whole_number(0, "a whole number, 0 or more"), default=None,
                            metavar="N", help="replications that may raise before the batch stops; they are "
                            "recorded in failures.parquet and left out of the tables (default: the larger of 10 "
                            "and 1%% of the runs)")
        parser.add_argument("--fail-fast", action="store_true", help="stop at the first replication that raises")
    if set_help is not None:
        parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=set_help)


@contextmanager
def batch_executor(args: argparse.Namespace) -> Iterator[Any]:
    """The executor of ``--executor``, ``--workers`` and ``--scheduler``, kept for the block.

    A batch stopped by failed replications (:class:`sim.batch.runner.BatchFailed`) becomes one line,
    after the first failure's traceback on stderr.

    Raises:
        UserError: If the options do not fit together, Dask is asked for but not installed, or too
            many replications failed.
    """
    from sim.batch.executors import make_executor
    from sim.batch.runner import BatchFailed

    kind, scheduler = getattr(args, "executor", None), getattr(args, "scheduler", None)
    if scheduler is not None:
        if kind is None:
            kind = "dask"
        if "://" not in scheduler:
            raise UserError(f"--scheduler: expected an address such as tcp://HOST:8786, got {scheduler!r}")
    try:
        executor = make_executor(args.workers, kind, scheduler)
    except (ValueError, ImportError) as exc:
        raise UserError(str(exc)) from None
    try:
        with executor as active:
            yield active
    except BatchFailed as exc:
        print(exc.failures[0].traceback, file=sys.stderr, end="")
        raise UserError(str(exc)) from None


def failures_line(results: Any, labels: list[str]) -> str:
    """One line saying how many replications of each batch failed (left out of the tables); empty if none."""
    parts = [f"{label}: {r.failed}" for label, r in zip(labels, results, strict=True) if r.failed]
    if not parts:
        return ""
    return (f"Failed replications, left out of every table ({', '.join(parts)}); reproduce one with "
            "deploysim trace SCENARIO --seed S --replication K")


def failure_options(args: argparse.Namespace) -> dict[str, Any]:
    """``max_failures`` and ``fail_fast`` from ``--max-failures`` and ``--fail-fast``."""
    return {"max_failures": getattr(args, "max_failures", None), "fail_fast": getattr(args, "fail_fast", False)}


def add_output_options(parser: argparse.ArgumentParser, out_help: str, quiet: bool = True) -> None:
    """Add ``--out`` (with help ``out_help``), ``--results-root``, ``--force`` and, with ``quiet``, ``--quiet``."""
    parser.add_argument("--out", type=Path, help=out_help)
    parser.add_argument(
        "--results-root", type=Path, default=Path("results"), help="root of the store (default results)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    if quiet:
        parser.add_argument("--quiet", action="store_true", help="no progress bar")


def check_workers(workers: int, runs: int | None = None, many: bool = False) -> None:
    """Refuse a worker count that is negative or, without ``many``, above 4 per CPU.

    More workers than runs are never started (the batch runner uses at most one per run), so
    ``runs`` only makes the message clearer.
    """
    if workers < 0:
        raise UserError(f"--workers must be 0 (one per CPU) or more, got {workers}")
    limit = 4 * (os.cpu_count() or 1)
    if workers > limit and not many:
        raise UserError(f"--workers {workers} is more than 4 per CPU ({limit} here); pass --many-workers "
                        "if you mean it")


def check_out(out: Path | None, force: bool) -> None:
    """Refuse an existing output folder before anything runs, so no long run is wasted.

    Raises:
        sim.batch.safeio.PathError: If ``out`` exists and ``force`` is false, or it is not a folder this
            program wrote (only those are replaced).
    """
    if out is not None:
        safeio.check_replaceable(out, force, is_own_folder, kind="results folder")


def output_folder(args: argparse.Namespace, scenario: Scenario, kind: str) -> Path:
    """``--out``, or ``<results-root>/<scenario>/<kind>-<UTC time>`` with a counter if that exists.

    Raises:
        UserError: If ``--out`` exists and ``--force`` is not given (checked before anything runs).
    """
    check_out(args.out, args.force)
    if args.out is not None:
        return args.out
    safeio.check_name(scenario.name, "scenario name")
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
