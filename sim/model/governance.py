"""Haiti's political transition, and the setbacks that put the lead contributor on hold.

Crisis, then a transitional authority is named, then a viable administration is installed: the lead
contributor said it would act only then, so ``viable`` gates the reconnaissance and every departure.
Once viable, setbacks (a government falls, a council splits) arrive at a constant rate; each closes
the ``hold`` switch for a drawn time, during which the recon and new departures wait (as Kenya
paused on 2024-03-12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.conditions import Milestone, Switch, observed_closures, recurring_closures
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
        observed = mission.as_of.closures.get("hold") if mission.as_of is not None else None
        if observed:
            env.process(self._observed_holds(observed))

    def _transition(self):
        m = self.mission
        params = m.scenario.governance
        rng = m.rng("governance")
        # Both uniforms are drawn up front so the stream's use does not depend on timing.
        u_authority, u_viable = rng.random(), rng.random()
        to_authority = m.duration_to("authority_named", params.transitional_authority_days, u_authority)
        yield m.env.timeout(to_authority)
        chain = extend(EMPTY, "transition", m.now)
        self.authority_named.succeed()
        m.reach("authority_named", chain)
        m.span("Governance", 0.0, m.now, "crisis: no transitional authority")
        yield m.env.timeout(m.duration_to("administration_viable", params.viable_administration_days, u_viable))
        self.administration.chain = chain = extend(chain, "administration", m.now)
        self.viable.succeed()
        m.reach("administration_viable", chain)
        m.span("Governance", to_authority, m.now, "transitional authority, not yet viable")
        if params.setbacks_per_year > 0:
            yield from self._setbacks(rng)

    def _observed_holds(self, spans):
        """Process: the holds a re-forecast's observations record (a hold under way lasts its residual life)."""
        m = self.mission

        def on_hold(days: float) -> None:
            self.holds += 1
            m.log("governance", "observed hold", f"for {days:.0f} d", kind="hold_begins", days=days)

        yield from observed_closures(m.env, self.hold, spans, m.scenario.governance.hold_days,
                                     m.rng("as_of", "hold"), m.history_until, on_close=on_hold,
                                     on_open=lambda start: m.span("Hold", start, m.now, "on hold (observed)"))

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
                                      on_close=on_hold, on_open=lifted, quiet_until=m.history_until)

    def totals(self, horizon: float) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {"holds": float(self.holds), "hold_days": self.hold.closed_days(horizon)}
