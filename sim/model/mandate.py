"""The international authorisation: it expires on its date unless renewed; a lapse draws the force down.

At each expiry a renewal is drawn with ``renewal_probability``; a renewal adds ``term_days``. If it
is not renewed the ``mandate`` condition closes for good (no more departures or rotations) and,
after a drawn drawdown time, every officer still in theatre leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.conditions import Switch
from sim.model.critical import EMPTY, extend

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Mandate:
    """The mandate's renewals and lapse.

    Attributes:
        switch: Open while the force is authorised (a condition named ``mandate``).
        renewals: Renewals granted so far.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.switch = Switch(mission.env, "mandate", True)
        self.renewals = 0
        if mission.scenario.mandate is not None:
            mission.env.process(self._expiries())

    def _expiries(self):
        m = self.mission
        params = m.scenario.mandate
        rng = m.rng("mandate")
        expiry = max(0.0, m.scenario.day_of(params.expires_on))
        while True:
            if expiry > m.now:
                yield m.env.timeout(expiry - m.now)
            if rng.random() < params.renewal_probability:
                self.renewals += 1
                expiry += params.term_days
                m.log("mandate", "mandate renewed", f"until {m.scenario.date_of(expiry)}", kind="mandate_renewed")
                continue
            self.switch.set(False)
            m.reach("mandate_lapsed", extend(EMPTY, "mandate", m.now))
            m.log("mandate", "mandate lapses", "no renewal; the force draws down", kind="mandate_lapses")
            drawdown = params.drawdown_days.sample(rng)
            span = m.begin_span("Mandate lapsed", "drawdown")
            yield m.env.timeout(drawdown)
            m.end_span(span)
            m.deployment.withdraw_all(None, "mandate lapsed")
            return
