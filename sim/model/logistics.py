"""Getting officers into theatre: the airport (open or closed by violence) and the airlift.

The airport may be closed on the start date; afterwards closures begin at a constant rate while it
is open and last a drawn time. Each contributor's airlift flies one departure at a time, each
carrying up to ``seats_per_flight`` officers, and needs a drawn turnaround before the next. A
flight leaves only while the airport is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.model.conditions import Switch, observed_closures, recurring_closures
from sim.model.resources import Slot

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Airport:
    """The theatre's international airport.

    Attributes:
        switch: Open while flights can land (a condition named ``airport``).
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        params = mission.scenario.logistics.airport
        self.switch = Switch(mission.env, "airport", not params.closed_at_start)
        mission.env.process(self._violence())

    def _violence(self):
        m = self.mission
        params = m.scenario.logistics.airport
        rng = m.rng("logistics", "airport")
        if not self.switch.is_open():
            m.log("logistics", "airport closed", "closed on the start date", kind="airport_closed")
            # A stream of its own: opening the airport at the start must not shift later closures.
            initial = params.initial_closure_days.sample(m.rng("logistics", "airport", "initial"))
            as_of = m.as_of
            if as_of is not None and as_of.airport_reopened is not None:
                initial = as_of.airport_reopened  # a re-forecast: it reopened on the observed day
            elif as_of is not None and as_of.complete_until is not None:
                # A re-forecast whose observations record no reopening: the closure outlasted their record.
                initial = params.initial_closure_days.sample_after(m.rng("logistics", "airport", "initial"),
                                                                   as_of.complete_until)
            yield m.env.timeout(initial)
            self._reopen(0.0)
        observed = m.as_of.closures.get("airport") if m.as_of is not None else None
        if observed:
            yield from observed_closures(
                m.env, self.switch, observed, params.closure_days, m.rng("as_of", "airport"), m.history_until,
                on_close=lambda days: m.log("logistics", "airport closed (observed)", f"for {days:.0f} d",
                                            kind="airport_closed", days=days),
                on_open=self._reopen,
            )
        yield from recurring_closures(
            m.env, self.switch, params.closures_per_year, params.closure_days, rng,
            on_close=self._closed,
            on_open=self._reopen,
            quiet_until=m.history_until,
        )

    def _closed(self, days: float) -> None:
        m = self.mission
        if m.tracing:
            m.log("logistics", "airport closed", f"for {days:.0f} d", kind="airport_closed", days=days)

    def _reopen(self, closed_at: float) -> None:
        m = self.mission
        self.switch.set(True)
        m.span("Airport closed", closed_at, m.now, "airport closed")
        m.log("logistics", "airport reopens", kind="airport_reopens")

    def totals(self, horizon: float) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {
            "airport_closed_days": self.switch.closed_days(horizon),
            "airport_closures": float(self.switch.closures),
        }


class Airlift:
    """One contributor's aircraft: one departure at a time, with a turnaround between."""

    def __init__(self, mission: Mission, contributor: str):
        self.mission = mission
        self.contributor = contributor
        self.seats_per_flight = mission.scenario.logistics.airlift.seats_per_flight
        self.flights = 0
        # Made on first use: about half the partners of a replication never fly anyone.
        self._slot: Slot | None = None
        self._stream: np.random.Generator | None = None

    @property
    def slot(self) -> Slot:
        """The aircraft, as a resource of capacity one."""
        if self._slot is None:
            self._slot = Slot(self.mission.env, capacity=1)
        return self._slot

    @property
    def _rng(self) -> np.random.Generator:
        if self._stream is None:
            self._stream = self.mission.rng("logistics", "airlift", self.contributor)
        return self._stream

    def turnaround(self, request: simpy.Event) -> None:
        """Hold the airlift for a drawn turnaround after a departure, then release it (a timeout's callback)."""
        params = self.mission.scenario.logistics.airlift
        done = self.mission.env.timeout(params.days_between_flights.sample(self._rng))

        def release(_: simpy.Event) -> None:
            self.slot.release(request)

        done.callbacks.append(release)

    def flight_days(self) -> float:
        """Draw how long one flight takes."""
        return self.mission.scenario.logistics.airlift.flight_days.sample(self._rng)
