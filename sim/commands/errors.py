"""What the command line shares about failure: the user-error type, exit codes and option types.

Kept apart from :mod:`sim.commands.main` so that every subcommand module can import it without an
import circle.
"""

from __future__ import annotations

import argparse

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


def whole_number(minimum: int, what: str):
    """An argparse type: a whole number of at least ``minimum``, described as ``what`` in errors."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


positive_int = whole_number(1, "a whole number of at least 1")
seed_int = whole_number(0, "a non-negative whole number")
