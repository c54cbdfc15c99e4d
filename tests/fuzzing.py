"""Helpers of the fuzz tests: run the command line in-process under a time limit and judge the outcome.

A case passes if ``deploysim`` exits 0, or exits 1 or 2 with every stderr line starting
``deploysim`` (one per problem), no traceback and no "internal error", within its time limit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sim.commands.main import main
from tests.conftest import FUZZ

#: Seconds one in-process case may take before it counts as a hang.
CASE_LIMIT_S = 30
#: Longest error line accepted (the CLI cuts its lines at 400 characters).
MAX_LINE = 520


def examples(n: int) -> int:
    """``n`` examples in CI, ten times as many under ``make fuzz``."""
    return n * 10 if FUZZ else n


class Hang(BaseException):
    """A case ran past its time limit (a BaseException, so the CLI's error handling cannot hide it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (main) thread if the block runs longer than ``seconds``."""

    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    """What one command did."""

    argv: list[str]
    code: int
    out: str
    err: str
    seconds: float


def run_cli(argv: Sequence[str], limit_s: float = CASE_LIMIT_S) -> Outcome:
    """Run ``deploysim argv`` in this process; capture its output; fail on a hang."""
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with time_limit(limit_s), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Outcome(list(argv), code, out.getvalue(), err.getvalue(), time.perf_counter() - started)


def assert_clean(outcome: Outcome) -> None:
    """Exit 0, or 1/2 with only ``deploysim ...`` lines on stderr; never a traceback."""
    shown = f"argv={outcome.argv!r}\nstderr={outcome.err[-2000:]}"
    assert outcome.code in (0, 1, 2), shown
    assert "Traceback" not in outcome.err and "internal error" not in outcome.err, shown
    if outcome.code != 0:
        lines = outcome.err.strip().splitlines()
        assert lines, f"exit {outcome.code} without a message; {shown}"
        for line in lines:
            assert line.startswith("deploysim"), shown
            assert len(line) <= MAX_LINE, shown


# -- writing TOML (the standard library reads it only) -----------------------------------------------


def toml_key(key: str) -> str:
    """A key, always quoted (any text is then a valid key)."""
    return toml_string(str(key))


def toml_string(text: str) -> str:
    """A TOML basic string for any text (control characters and DEL escaped)."""
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    body = "".join(f"\\u{ord(c):04x}" if ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF else c for c in body)
    return f'"{body}"'


def toml_value(value: Any) -> str:
    """A value as TOML (tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value).__name__)


def toml_document(data: dict[str, Any]) -> str:
    """A whole TOML document: one ``key = value`` line per top-level key."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in data.items())
