"""The rollout: each trained contingent waits for its preconditions, then flies into theatre.

A contingent leaves when, in this order, it is trained, the administration is viable, the
reconnaissance is done, the trust fund can pay for it, the airlift is free and the airport is open.
The last of these to make it wait is recorded as the **binding** constraint of the milestones its
arrival reaches. Officers in theatre are counted per flight as it lands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.force import Contingent
from sim.model.series import StepSeries

if TYPE_CHECKING:
    from sim.model.mission import Mission

#: Shares of the lead contributor's pledge whose arrival in theatre is a milestone.
PLEDGE_SHARES = {"lead_25pct": 0.25, "lead_50pct": 0.50, "lead_75pct": 0.75, "lead_100pct": 1.0}


class Deployment:
    """Departures and arrivals of the lead contributor's contingents.

    Attributes:
        in_theatre: Officers in theatre now.
        in_theatre_series: ``in_theatre`` over time.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.in_theatre = 0
        self.committed = 0
        self.peak = 0
        self.contingents_flown = 0
        self.in_theatre_series = StepSeries(0)
        self._officer_days = 0.0
        self._last_change = 0.0
        mission.env.process(self._rollout())

    def _rollout(self):
        m = self.mission
        total = sum(c.officers for c in m.force.contingents)
        for _ in m.force.contingents:
            binding = "none"
            get = m.force.ready.get()
            if not get.triggered:
                binding = "training"
            contingent: Contingent = yield get
            for name, event in (
                ("administration", m.governance.viable),
                ("reconnaissance", m.reconnaissance.done),
            ):
                if not event.triggered:
                    binding = name
                    yield event
            self.committed += contingent.officers
            if (yield from m.fund.wait_affordable(contingent.officers, self.committed)):
                binding = "funding"
            m.log("funding", f"contingent {contingent.number} funded", f"balance ${m.fund.balance_usd / 1e6:.1f}M")
            yield from self._fly(contingent, binding, total)

    def _fly(self, contingent: Contingent, binding: str, total: int):
        m = self.mission
        airlift = m.airlift
        left = contingent.officers
        while left > 0:
            request = airlift.slot.request()
            if not request.triggered:
                binding = "airlift"
            yield request
            if (yield from m.airport.wait_open()):
                binding = "airport"
            load = min(left, airlift.seats_per_flight)
            left -= load
            airlift.flights += 1
            if left == 0:
                self.contingents_flown += 1
            m.reach("first_departure", binding)
            m.log("logistics", f"flight leaves with contingent {contingent.number}", f"{load} officers")
            m.env.process(self._land(load, airlift.flight_days(), binding, total))
            m.env.process(airlift.turnaround(request))

    def _land(self, officers: int, flight_days: float, binding: str, total: int):
        m = self.mission
        yield m.env.timeout(flight_days)
        self._set_in_theatre(self.in_theatre + officers)
        m.reach("first_arrival", binding)
        for milestone, share in PLEDGE_SHARES.items():
            if self.in_theatre >= share * total:
                m.reach(milestone, binding)
        m.log("deployment", "flight lands", f"{officers} officers; {self.in_theatre} in theatre")

    def _set_in_theatre(self, officers: int) -> None:
        m = self.mission
        now = m.env.now
        self._officer_days += self.in_theatre * (now - self._last_change)
        self._last_change = now
        self.in_theatre = officers
        self.peak = max(self.peak, officers)
        self.in_theatre_series.set(now, officers)
        m.fund.officers_changed(officers)

    def close_books(self, horizon: float) -> None:
        """Count officer-days up to the horizon."""
        self._officer_days += self.in_theatre * (horizon - self._last_change)
        self._last_change = horizon

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {
            "peak_in_theatre": float(self.peak),
            "officer_days": self._officer_days,
            "contingents_flown": float(self.contingents_flown),
        }
