"""What an "as of" re-forecast holds fixed: the observations dated before the as-of date, as model days.

A re-forecast from an as-of date (``deploysim run SCENARIO --as-of 2024-10-01 --observed FILE``) runs
every replication from the scenario's start date, but before the as-of date it replays what the
observations say happened instead of drawing it:

- a milestone observed before the as-of date happens on its observed day (**pinned**);
- a milestone observed *not* reached by a date happens after it: the duration that leads to it is
  drawn from its residual-life distribution (:meth:`sim.scenario.distributions._Dist.sample_after`);
- officers land, and leave, on the days the strength points say, by contributor; no other officer
  lands before the as-of date, and a contingent in theatre on that date serves the rest of a tour
  that has already lasted since it landed;
- the trust fund's balance (or the money it has received) is set to the latest money point;
- the only holds, airport closures and gate blocks before the as-of date are those the observations
  record, and no contributor withdraws before it unless recorded; a mandate renewal recorded before
  the as-of date is granted at the next expiry.

Everything else keeps its distribution. This module turns an :class:`~sim.scenario.observations.Observations`
and a scenario into the :class:`AsOf` the model reads (plain numbers, picklable, sent to workers with
the scenario).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.scenario.milestones import MILESTONES
from sim.scenario.observations import Observations, load_observations
from sim.scenario.schema import Scenario

__all__ = ["AsOf", "AsOfError", "as_of"]

#: Milestones of the deployment itself: they come from officers landing, which the strength points replay.
DEPLOYMENT_MILESTONES = frozenset({
    "first_departure", "first_arrival", "lead_25pct", "lead_50pct", "lead_75pct", "lead_100pct",
    "mission_50pct", "mission_100pct", "first_rotation",
})


class AsOfError(ValueError):
    """Observations that cannot condition a re-forecast (a date outside them, an unknown contributor)."""


@dataclass(frozen=True)
class AsOf:
    """The observed history a re-forecast holds fixed, in days since the scenario's start date.

    Attributes:
        date: The as-of date: observations dated before it are known.
        day: The as-of date as a model day.
        source: Where the observations came from (a file name, for the manifest).
        reached: Milestone -> the day it was observed reached (before the as-of date).
        not_before: Milestone -> the last day it was observed not yet reached (before the as-of date).
        strength: Contributor -> its observed strength points ``(day, low, high)`` in date order.
        money: The latest trust-fund point before the as-of date: ``(day, what, amount_usd)``, or None.
        closures: ``"hold"`` or ``"airport"`` -> observed closures ``(start, end)``; ``end`` is None
            for one still under way on the as-of date.
        airport_reopened: Day the airport was observed to reopen after its closure at the start, or None.
        mandate_renewed: Day a mandate renewal was observed, or None.
        complete_until: The last day the observations are complete up to before the as-of date (the
            file's ``observed_until``, at most the day before the as-of date), or None: a milestone, or
            the airport's reopening, not recorded by then had not happened by then.
        notes: What the observations held that the re-forecast could not use, one sentence each.
    """

    date: dt.date
    day: float
    source: str
    reached: dict[str, float] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)
    strength: dict[str, tuple[tuple[float, int, int], ...]] = field(default_factory=dict)
    money: tuple[float, str, float] | None = None
    closures: dict[str, tuple[tuple[float, float | None], ...]] = field(default_factory=dict)
    airport_reopened: float | None = None
    mandate_renewed: float | None = None
    complete_until: float | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Everything held fixed, as JSON-ready data (the manifest's ``as_of``); :meth:`from_dict` reads it back."""
        return {
            "date": self.date.isoformat(),
            "day": self.day,
            "source": self.source,
            "reached": dict(sorted(self.reached.items())),
            "not_before": dict(sorted(self.not_before.items())),
            "strength": {k: [list(p) for p in v] for k, v in sorted(self.strength.items())},
            "money": None if self.money is None else list(self.money),
            "closures": {k: [list(c) for c in v] for k, v in sorted(self.closures.items())},
            "airport_reopened": self.airport_reopened,
            "mandate_renewed": self.mandate_renewed,
            "complete_until": self.complete_until,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AsOf:
        """Read back :meth:`to_dict`'s data.

        Raises:
            AsOfError: If a key is missing or has the wrong kind of value.
        """
        try:
            money = data["money"]
            return cls(
                date=dt.date.fromisoformat(data["date"]),
                day=float(data["day"]),
                source=str(data["source"]),
                reached={str(k): float(v) for k, v in data["reached"].items()},
                not_before={str(k): float(v) for k, v in data["not_before"].items()},
                strength={str(k): tuple((float(d), int(lo), int(hi)) for d, lo, hi in v)
                          for k, v in data["strength"].items()},
                money=None if money is None else (float(money[0]), str(money[1]), float(money[2])),
                closures={str(k): tuple((float(a), None if b is None else float(b)) for a, b in v)
                          for k, v in data["closures"].items()},
                airport_reopened=None if data["airport_reopened"] is None else float(data["airport_reopened"]),
                mandate_renewed=None if data["mandate_renewed"] is None else float(data["mandate_renewed"]),
                complete_until=None if data.get("complete_until") is None else float(data["complete_until"]),
                notes=tuple(str(n) for n in data["notes"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AsOfError(f"as_of: not a stored re-forecast's history ({exc!s})") from None


def as_of(observations: Observations | str | Path, scenario: Scenario, date: dt.date | str, source: str = "") -> AsOf:
    """The history of ``observations`` before ``date``, for re-forecasting ``scenario`` from that date.

    Args:
        observations: An observations file (a path) or a loaded :class:`~sim.scenario.observations.Observations`.
        scenario: The scenario to re-forecast; its start date stays day 0.
        date: The as-of date (a date or ``"YYYY-MM-DD"``): observations dated before it are held fixed.
        source: What the manifest calls the observations (default: the file's path, or their name).

    A strength point of a contributor the scenario does not have is not replayed; ``notes`` says so.

    Raises:
        AsOfError: If the observations' start date is not the scenario's, or ``date`` is not after the
            start date and within the scenario's horizon.

    Example:
        >>> import datetime as dt
        >>> from sim import load_scenario
        >>> from sim.scenario.observations import observations_from_dict
        >>> obs = observations_from_dict({"name": "x", "start_date": dt.date(2024, 3, 14), "milestone": [
        ...     {"name": "authority_named", "date": dt.date(2024, 4, 12), "source": "s"}]})
        >>> as_of(obs, load_scenario("baseline"), dt.date(2024, 10, 1)).reached
        {'authority_named': 29.0}
    """
    if not isinstance(observations, Observations):
        source = source or str(observations)
        observations = load_observations(observations)
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise AsOfError(f"as-of date: expected a calendar date (YYYY-MM-DD), got {date!r}") from None
    if observations.start_date != scenario.start_date:
        raise AsOfError(f"start_date: the observations start on {observations.start_date}, the scenario on "
                        f"{scenario.start_date}; expected the same day 0")
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise AsOfError(f"as-of date: expected a calendar date (YYYY-MM-DD), got {date!r}")
    end = scenario.date_of(scenario.horizon_days)
    if not scenario.start_date < date <= end:
        raise AsOfError(f"as-of date: expected a date after the start date {scenario.start_date} and no later than "
                        f"the horizon {end}, got {date}")
    contributors = {scenario.force.lead_contributor, *scenario.contributors}
    known = [entry for entry in observations.strength if entry.date < date]
    unknown = sorted({e.contributor for e in known if e.contributor != "all" and e.contributor not in contributors})
    day = scenario.day_of
    notes: list[str] = []
    if unknown:
        notes.append(f"strength points of {', '.join(map(repr, unknown))} were not replayed: scenario "
                     f"{scenario.name!r} has no such contributor (it has {', '.join(sorted(contributors))})")
        known = [e for e in known if e.contributor not in unknown]
    reached = {m.name: day(m.date) for m in observations.milestone if m.date < date}
    not_before: dict[str, float] = {}
    for entry in observations.not_reached:
        if entry.by < date and entry.name not in reached:
            not_before[entry.name] = max(not_before.get(entry.name, -1.0), day(entry.by))
    # The file is complete up to its observed_until: what it does not record by then (or by the day before
    # the as-of date, if earlier) had not happened by then.
    complete = min(observations.until, date - dt.timedelta(days=1))
    complete_until = day(complete) if complete >= scenario.start_date else None
    if complete_until is not None:
        for name in MILESTONES:
            if name not in reached:
                not_before[name] = max(not_before.get(name, -1.0), complete_until)
    strength: dict[str, list[tuple[float, int, int]]] = {}
    for entry in sorted(known, key=lambda e: e.date):
        if entry.contributor == "all":
            continue
        low, high = entry.bounds
        strength.setdefault(entry.contributor, []).append((day(entry.date), low, high))
    if any(e.contributor == "all" for e in known) and not strength:
        notes.append("strength points for 'all' name no contributor, so no officers were placed in theatre; "
                     "record them by contributor to replay them")
    money = None
    fund_points = [m for m in observations.money
                   if m.date < date and m.channel == "trust_fund" and m.what in ("trust_fund_balance", "received")]
    if fund_points:
        latest = max(fund_points, key=lambda m: m.date)
        money = (day(latest.date), latest.what, float(latest.amount_usd))
    elsewhere = sorted({m.channel for m in observations.money if m.date < date and m.channel != "trust_fund"})
    if elsewhere:
        notes.append(f"money outside the trust fund ({', '.join(elsewhere)}) is recorded but not replayed: "
                     "the model's channels are the scenario's, not the observations'")
    closures: dict[str, tuple[tuple[float, float | None], ...]] = {}
    events = sorted((e for e in observations.event if e.date < date), key=lambda e: e.date)
    reopened = None
    for lane, begins, ends in (("hold", "hold_began", "hold_ended"), ("airport", "airport_closed", "airport_reopened")):
        spans: list[tuple[float, float | None]] = []
        opened_at: float | None = None
        for event in events:
            if event.kind == begins and opened_at is None:
                opened_at = day(event.date)
            elif event.kind == ends:
                if opened_at is not None:
                    spans.append((opened_at, day(event.date)))
                    opened_at = None
                elif lane == "airport" and reopened is None:
                    reopened = day(event.date)  # the end of the closure under way on the start date
        if opened_at is not None:
            spans.append((opened_at, None))
        if spans:
            closures[lane] = tuple(spans)
    renewed = [day(e.date) for e in events if e.kind == "mandate_renewed"]
    return AsOf(
        date=date,
        day=day(date),
        source=source or observations.name,
        reached=reached,
        not_before=not_before,
        strength={k: tuple(v) for k, v in strength.items()},
        money=money,
        closures=closures,
        airport_reopened=reopened,
        mandate_renewed=renewed[-1] if renewed else None,
        complete_until=complete_until,
        notes=tuple(notes),
    )
