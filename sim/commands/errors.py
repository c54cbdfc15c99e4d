"""What the command line shares about failure: the user-error type, exit codes, limits and option types.

Kept apart from :mod:`sim.commands.main` so that every subcommand module can import it without an
import circle.
"""

from __future__ import annotations

import argparse
import sys

from sim.batch import safeio

#: A problem with what was asked: input, arguments, a folder that is not a result.
EXIT_USER_ERROR = 2
#: The machine refused: disk full, read-only, no permission.
EXIT_MACHINE_ERROR = 1
EXIT_INTERRUPTED = 130
#: Most replications one batch may ask for.
MAX_RUNS = 1_000_000
#: Longest error line printed; longer ones are cut.
MAX_ERROR_LINE = 400


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


def whole_number(minimum: int, what: str, maximum: int | None = None):
    """An argparse type: a whole number from ``minimum`` to ``maximum``, described as ``what`` in errors."""

    def parse(text: str) -> int:
        shown = safeio.short(text, 40)
        try:
            value = int(text.strip()) if len(text) <= 4000 else None
        except ValueError:
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"expected {what}, got '{shown}'")
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {shown}")
        return value

    return parse


positive_int = whole_number(1, "a whole number of at least 1")
runs_int = whole_number(1, f"a whole number from 1 to {MAX_RUNS:,}", MAX_RUNS)
#: Largest seed: numpy's SeedSequence takes any non-negative integer; the tables store it as a 64-bit integer.
MAX_SEED = 2**64 - 1
seed_int = whole_number(0, "a non-negative whole number below 2**64", MAX_SEED)
replication_int = whole_number(0, "a whole number from 0 to 1,000,000,000", 10**9)


def print_error(text: str) -> None:
    """Print each line of ``text`` as ``deploysim: error: ...`` on stderr, long lines cut."""
    for line in str(text).splitlines() or [""]:
        print(f"deploysim: error: {safeio.short(line, MAX_ERROR_LINE)}", file=sys.stderr)
