"""Observations as data: what happened, each entry dated and sourced, validated like a scenario.

An observations file (TOML) records milestones reached, milestones not reached by a date (right-censored),
strength and money points and other events, for the back-test (:mod:`sim.analysis.backtest`) to score a
forecast against. It is read by :func:`load_observations` into the frozen :class:`Observations` below; any
problem becomes a :class:`sim.scenario.errors.ScenarioError` with one line per problem naming the file, the
line, the key path (``milestone.2.name``) and what was expected, all problems in one pass.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from sim.scenario.distributions import as_tuple
from sim.scenario.errors import Problem, ScenarioError
from sim.scenario.milestones import MILESTONES, unknown_milestone
from sim.scenario.schema import MAX_OFFICERS, MAX_USD, CalendarDate, Section

__all__ = [
    "EVENT_KINDS", "Event", "MilestoneReached", "Money", "NotReached", "Observations", "Strength",
    "load_observations", "observations_from_dict",
]

#: Most entries of one kind an observations file may hold.
MAX_ENTRIES = 10_000
#: Kinds of ``[[event]]`` entries.
EVENT_KINDS = (
    "accord_signed", "airport_closed", "airport_reopened", "hold_began", "hold_ended", "mandate_renewed",
    "mandate_lapsed", "pledge_made", "pay_delayed", "pay_resumed", "government_changed", "other",
)


def _milestone(name: str) -> str:
    if name not in MILESTONES:
        raise ValueError(unknown_milestone(name))
    return name


#: The name of a milestone (a key of :data:`sim.scenario.milestones.MILESTONES`).
MilestoneName = Annotated[str, AfterValidator(_milestone)]
_Source = Annotated[str, Field(min_length=1, max_length=2000)]
_Note = Annotated[str, Field(max_length=10_000)]


class MilestoneReached(Section):
    """A milestone the model records, reached on a known date (``[[milestone]]``)."""

    name: MilestoneName = Field(description="The milestone (see the milestone names of the scenario reference).")
    date: CalendarDate = Field(description="Date it was reached (calendar date).")
    source: _Source = Field(description="Where this is recorded: a publication or web address.")
    note: _Note = Field(default="", description="Free text: how the date was chosen where sources disagree.")


class NotReached(Section):
    """A milestone not yet reached on a date (``[[not_reached]]``): a right-censored observation."""

    name: MilestoneName = Field(description="The milestone (see the milestone names of the scenario reference).")
    by: CalendarDate = Field(description="Date by which it had not been reached (calendar date, inclusive).")
    source: _Source = Field(description="Where this is recorded: a publication or web address.")
    note: _Note = Field(default="", description="Free text.")

    @property
    def date(self) -> dt.date:
        """The date of the observation (``by``)."""
        return self.by


class Strength(Section):
    """Officers in theatre on a date (``[[strength]]``): one figure, or a range where sources disagree."""

    date: CalendarDate = Field(description="Date of the count (calendar date).")
    contributor: str = Field(
        default="all", min_length=1, max_length=200,
        description="Whose officers: a contributor's key in the scenario (the lead contributor's name, e.g. "
        "\"Kenya\", or a key of [contributors]), or \"all\" for the whole mission.",
    )
    officers: int | None = Field(
        default=None, ge=0, le=MAX_OFFICERS, description="Officers in theatre (give this, or low and high)."
    )
    low: int | None = Field(default=None, ge=0, le=MAX_OFFICERS, description="Lowest figure reported, officers.")
    high: int | None = Field(default=None, ge=0, le=MAX_OFFICERS, description="Highest figure reported, officers.")
    source: _Source = Field(description="Where this is recorded: a publication or web address.")
    note: _Note = Field(default="", description="Free text.")

    @model_validator(mode="after")
    def _one_figure_or_a_range(self) -> Strength:
        ranged = self.low is not None or self.high is not None
        if self.officers is not None and ranged:
            raise ValueError("give officers, or low and high, not both")
        if self.officers is None and not ranged:
            raise ValueError("give officers, or low and high")
        if ranged and (self.low is None or self.high is None):
            raise ValueError("a range needs both low and high")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) must be at most high ({self.high})")
        return self

    @property
    def bounds(self) -> tuple[int, int]:
        """The figure as a range ``(low, high)``; a single figure is ``(officers, officers)``."""
        if self.officers is not None:
            return self.officers, self.officers
        assert self.low is not None and self.high is not None
        return self.low, self.high


class Money(Section):
    """A money point (``[[money]]``): a trust-fund balance, money received to date, or one payment."""

    date: CalendarDate = Field(description="Date of the figure (calendar date).")
    what: Literal["trust_fund_balance", "received", "payment"] = Field(
        description="trust_fund_balance: the balance on the date; received: all money received up to the date "
        "(cumulative, the balance on the start date included); payment: one payment received on the date."
    )
    amount_usd: float = Field(ge=0, le=MAX_USD, description="The amount, US dollars.")
    channel: Literal["trust_fund", "bilateral", "in_kind"] = Field(
        default="trust_fund",
        description="trust_fund: the UN trust fund the model tracks; bilateral: money given to the mission "
        "outside it (e.g. US drawdown authority); in_kind: goods and works (e.g. a base built by a donor).",
    )
    source: _Source = Field(description="Where this is recorded: a publication or web address.")
    note: _Note = Field(default="", description="Free text: conversions from other currencies, approximations.")


class Event(Section):
    """Something that happened that is not a model milestone (``[[event]]``), for the record and the figures."""

    date: CalendarDate = Field(description="Date it happened (calendar date).")
    kind: Literal[EVENT_KINDS] = Field(  # type: ignore[valid-type]
        description=f"What happened: one of {', '.join(EVENT_KINDS)}."
    )
    source: _Source = Field(description="Where this is recorded: a publication or web address.")
    note: _Note = Field(default="", description="Free text: what happened.")


def _entries(model: Any) -> Any:
    return Annotated[tuple[model, ...], BeforeValidator(as_tuple), Field(max_length=MAX_ENTRIES)]


class Observations(Section):
    """An observations file: what happened after a forecast's start date, each entry dated and sourced."""

    name: str = Field(min_length=1, max_length=200, description="Short name of the observation set.")
    description: str = Field(default="", max_length=10_000, description="What the file records, and from where.")
    start_date: CalendarDate = Field(
        description="Day 0 of the forecasts these observations score (must equal the scenario's start_date)."
    )
    observed_until: CalendarDate | None = Field(
        default=None,
        description="Last date the file is complete up to (calendar date): a milestone not listed as reached is "
        "taken as unknown, not as unreached. Yes/no scores ask 'reached by this date?'. Default: the latest date "
        "in the file.",
    )
    milestone: _entries(MilestoneReached) = Field(  # type: ignore[valid-type]
        default=(), description="Milestones reached, one [[milestone]] table each."
    )
    not_reached: _entries(NotReached) = Field(  # type: ignore[valid-type]
        default=(), description="Milestones not reached by a date, one [[not_reached]] table each (right-censored)."
    )
    strength: _entries(Strength) = Field(  # type: ignore[valid-type]
        default=(), description="Officers in theatre on dates, one [[strength]] table each."
    )
    money: _entries(Money) = Field(  # type: ignore[valid-type]
        default=(), description="Money points, one [[money]] table each."
    )
    event: _entries(Event) = Field(  # type: ignore[valid-type]
        default=(), description="Other events, one [[event]] table each."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Observations:
        problems = []
        reached = {m.name: m.date for m in self.milestone}
        if len(reached) < len(self.milestone):
            seen: set[str] = set()
            twice = sorted({m.name for m in self.milestone if m.name in seen or seen.add(m.name)})  # type: ignore[func-returns-value]
            problems.append(f"milestone: {', '.join(twice)} reached more than once")
        for entry in self.not_reached:
            if entry.name in reached and reached[entry.name] <= entry.by:
                problems.append(f"not_reached: {entry.name} is recorded as reached on {reached[entry.name]}, "
                                f"before {entry.by}")
        early = [d for d in self.dates() if d < self.start_date]
        if early:
            problems.append(f"start_date: {min(early)} is before the start date {self.start_date}")
        if self.observed_until is not None and any(d > self.observed_until for d in self.dates()):
            problems.append(f"observed_until: {max(self.dates())} is after observed_until {self.observed_until}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def dates(self) -> Iterator[dt.date]:
        """Every entry's date, in file order by kind."""
        for group in (self.milestone, self.not_reached, self.strength, self.money, self.event):
            for entry in group:
                yield entry.date

    @property
    def until(self) -> dt.date:
        """``observed_until``, or the latest date in the file (the start date for an empty file)."""
        if self.observed_until is not None:
            return self.observed_until
        return max(self.dates(), default=self.start_date)


# -- reading ---------------------------------------------------------------------------------------


def load_observations(path: str | Path) -> Observations:
    """Read and validate an observations file (TOML).

    Raises:
        ScenarioError: One line per problem, naming the file, its line, the key path and what was
            expected: a missing or malformed file, an unknown key or milestone (with a did-you-mean),
            a value of the wrong type or out of range.

    Example:
        >>> obs = load_observations("observations/mss_haiti.toml")  # doctest: +SKIP
        >>> obs.milestone[0].name  # doctest: +SKIP
        'authority_named'
    """
    from sim.scenario.loader import _read_text, _Unreadable

    path = Path(path)
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise ScenarioError([Problem(str(path), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError, _Unreadable) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise ScenarioError([Problem(str(path), "", reason)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        msg = re.sub(r"\(at line \d+, (column \d+)\)", r"(\1)", str(exc))
        line = int(m.group(1)) if m else None
        raise ScenarioError([Problem(str(path), "", f"not valid TOML: {msg}", line)]) from None
    return _validate(data, str(path), text)


def observations_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Observations:
    """Validate a plain mapping (as a parsed TOML file would be) into :class:`Observations`."""
    return _validate(dict(data), source, "")


def _validate(data: dict[str, Any], source: str, text: str) -> Observations:
    from sim.scenario.loader import MAX_DEPTH, _depth

    if _depth(data) > MAX_DEPTH:
        raise ScenarioError([Problem(source, "", f"nested deeper than {MAX_DEPTH} levels")])
    try:
        return Observations.model_validate(data)
    except pydantic.ValidationError as exc:
        lines = _key_lines(text)
        problems = []
        for err in exc.errors():
            messages = str(err.get("msg", "")).splitlines() if err["type"] == "value_error" else []
            for message in messages if len(messages) > 1 else [None]:
                detail: dict[str, Any] = {**err, "msg": message} if message else dict(err)
                problems.append(_problem(detail, data, source, lines))
        from sim.scenario.loader import _unique

        raise ScenarioError(_unique(problems)) from None


def _problem(err: dict[str, Any], raw: Mapping[str, Any], source: str, lines: dict[tuple[str, ...], int]) -> Problem:
    from sim.scenario.loader import _clean_loc, _show, known_kind_message, unknown_key
    from sim.scenario.walk import annotation_at, keys_of

    loc = _clean_loc(err["loc"], raw)
    kind = err["type"]
    got = f", got {_show(err.get('input'))}"
    if kind == "extra_forbidden":
        annotation, node = annotation_at(list(loc[:-1]), raw, root=Observations)
        message = unknown_key(loc[-1], keys_of(annotation, node) or set())
    elif (known := known_kind_message(err, got)) is not None:
        message = known
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
        named = re.match(r"([a-z_]+): ", message)
        if named and not loc:
            loc, message = (named.group(1),), message[named.end():]
    return Problem(source, ".".join(loc), message, _line_of(loc, lines))


def _line_of(loc: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    """The line writing ``loc``, or the nearest table holding it."""
    for depth in range(len(loc), 0, -1):
        if loc[:depth] in lines:
            return lines[loc[:depth]]
    return None


_ARRAY = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_-]+)\s*\]\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Key paths of an observations file -> their first line: ``("strength", "1", "officers")`` for the
    ``officers`` key of the second ``[[strength]]`` table, ``("strength", "1")`` for its header."""
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        array, plain, key = _ARRAY.match(line), _TABLE.match(line), _KEY.match(line)
        if array:
            name = array.group(1)
            counts[name] = counts.get(name, -1) + 1
            table = (name, str(counts[name]))
            out.setdefault(table, number)
            out.setdefault((name,), number)
        elif plain:
            table = tuple(plain.group(1).split("."))
            out.setdefault(table, number)
        elif key:
            out.setdefault((*table, key.group(1)), number)
    return out
