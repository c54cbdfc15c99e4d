"""Haiti's political transition, and the setbacks that put the lead contributor on hold.

Crisis, then a transitional authority is named, then a viable administration is installed: the lead
contributor said it would act only then, so ``viable`` gates the reconnaissance and every departure.
Once viable, setbacks (a government falls, a council splits) arrive at a constant rate; each closes
the ``hold`` switch for a drawn time, during which the recon and new departures wait (as Kenya
paused on 2024-03-12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.conditions import Milestone, Switch, recurring_closures
from sim.model.critical import EMPTY, extend

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Governance:
    """The transition and its setbacks.

    Attributes:
        authority_named: Succeeds when the transitional authority is named.
        viable: Succeeds when a viable administration is installed.
        administration: ``viable`` as a condition named ``administration``.
        hold: Open while the lead contributor is not on hold.
        holds: Number of holds begun.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        env = mission.env
        self.authority_named = env.event()
        self.viable = env.event()
        self.administration = Milestone("administration", self.viable)
        self.hold = Switch(env, "hold", True)
        self.holds = 0
        env.process(self._transition())

    def _transition(self):
        m = self.mission
        params = m.scenario.governance
        rng = m.rng("governance")
        # Both durations are drawn up front so the stream's use does not depend on timing.
        to_authority = params.transitional_authority_days.sample(rng)
        to_viable = params.viable_administration_days.sample(rng)
        yield m.env.timeout(to_authority)
        chain = extend(EMPTY, "transition", m.now)
        self.authority_named.succeed()
        m.reach("authority_named", chain)
        m.span("Governance", 0.0, m.now, "crisis: no transitional authority")
        yield m.env.timeout(to_viable)
        self.administration.chain = chain = extend(chain, "administration", m.now)
        self.viable.succeed()
        m.reach("administration_viable", chain)
        m.span("Governance", to_authority, m.now, "transitional authority, not yet viable")
        if params.setbacks_per_year > 0:
            yield from self._setbacks(rng)

    def _setbacks(self, rng):
        m = self.mission
        params = m.scenario.governance

        def on_hold(days: float) -> None:
            self.holds += 1
            m.log("governance", "setback: lead contributor on hold", f"for {days:.0f} d", kind="hold_begins",
                  days=days)

        def lifted(start: float) -> None:
            m.span("Hold", start, m.now, "on hold after a setback")
            m.log("governance", "hold lifted", kind="hold_lifted")

        yield from recurring_closures(m.env, self.hold, params.setbacks_per_year, params.hold_days, rng,
                                      on_close=on_hold, on_open=lifted)

    def totals(self, horizon: float) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {"holds": float(self.holds), "hold_days": self.hold.closed_days(horizon)}
