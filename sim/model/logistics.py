"""Getting officers into theatre: the airport (open or closed by violence) and the airlift.

The airport may be closed on the start date; afterwards closures begin at a constant rate while it
is open and last a drawn time. The airlift flies one departure at a time, each carrying up to
``seats_per_flight`` officers, and needs a drawn turnaround before the next. A flight leaves only
while the airport is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Airport:
    """The theatre's international airport.

    Attributes:
        is_open: Whether flights can land now.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        params = mission.scenario.logistics.airport
        self.is_open = not params.closed_at_start
        self.closures = 0
        self.closed_days = 0.0
        self._closed_since: float | None = None if self.is_open else 0.0
        self._reopened = mission.env.event()
        if not self.is_open:
            self.closures = 1
        mission.env.process(self._violence())

    def wait_open(self):
        """Process fragment: wait until the airport is open. Returns True if it had to wait."""
        waited = False
        while not self.is_open:
            waited = True
            yield self._reopened
        return waited

    def _violence(self):
        m = self.mission
        params = m.scenario.logistics.airport
        rng = m.rng("logistics", "airport")
        if not self.is_open:
            m.log("logistics", "airport closed", "closed on the start date")
            yield m.env.timeout(params.initial_closure_days.sample(rng))
            self._open()
        if params.closures_per_year <= 0:
            return
        mean_gap = 365.0 / params.closures_per_year
        while True:
            yield m.env.timeout(rng.exponential(mean_gap))
            duration = params.closure_days.sample(rng)
            self._close()
            m.log("logistics", "airport closed", f"for {duration:.0f} d")
            yield m.env.timeout(duration)
            self._open()

    def _close(self) -> None:
        self.is_open = False
        self.closures += 1
        self._closed_since = self.mission.env.now

    def _open(self) -> None:
        m = self.mission
        self.is_open = True
        if self._closed_since is not None:
            self.closed_days += m.env.now - self._closed_since
            self._closed_since = None
        m.log("logistics", "airport reopens")
        event, self._reopened = self._reopened, m.env.event()
        event.succeed()

    def close_books(self, horizon: float) -> None:
        """Count a closure still in force at the horizon."""
        if self._closed_since is not None:
            self.closed_days += horizon - self._closed_since
            self._closed_since = None

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {"airport_closed_days": self.closed_days, "airport_closures": float(self.closures)}


class Airlift:
    """The aircraft flying contingents in: one departure at a time, with a turnaround between."""

    def __init__(self, mission: Mission):
        self.mission = mission
        params = mission.scenario.logistics.airlift
        self.seats_per_flight = params.seats_per_flight
        self.slot = simpy.Resource(mission.env, capacity=1)
        self.flights = 0
        self._rng = mission.rng("logistics", "airlift")

    def turnaround(self, request: simpy.resources.resource.Request):
        """Process fragment: hold the airlift for a drawn turnaround after a departure, then release it."""
        params = self.mission.scenario.logistics.airlift
        yield self.mission.env.timeout(params.days_between_flights.sample(self._rng))
        self.slot.release(request)

    def flight_days(self) -> float:
        """Draw how long one flight takes."""
        return self.mission.scenario.logistics.airlift.flight_days.sample(self._rng)
