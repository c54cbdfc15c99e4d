"""The lead contributor's reconnaissance: waits for a viable administration, no hold and its gates.

It leaves after a drawn lead time and takes a drawn time door to door. If a hold begins while the
team is out, the attempt is aborted and the team tries again, with a fresh duration, once every
condition holds again. No contingent departs before ``done`` succeeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.conditions import Milestone, wait_all
from sim.model.critical import EMPTY, after_waits, extend

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Reconnaissance:
    """The reconnaissance process.

    Attributes:
        done: Succeeds when the team is back and has reported.
        condition: ``done`` as a condition named ``reconnaissance``.
        aborts: Attempts aborted by a hold.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.done = mission.env.event()
        self.condition = Milestone("reconnaissance", self.done)
        self.aborts = 0
        mission.env.process(self._mission())

    def _mission(self):
        m = self.mission
        params = m.scenario.reconnaissance
        rng = m.rng("reconnaissance")
        u_lead = rng.random()
        hold = m.governance.hold
        conditions = [m.governance.administration, hold, *m.gates.for_step("reconnaissance")]
        waits: list = []
        binding = yield from wait_all(conditions, waits=waits)
        chain = after_waits(EMPTY, waits)
        yield m.env.timeout(m.duration_to("recon_started", params.lead_time_days, u_lead))
        chain = extend(chain, "reconnaissance", m.now)
        # Conditions may have changed during the preparation; the team leaves only when all hold.
        waits = []
        binding = yield from wait_all(conditions, binding, waits=waits)
        chain = after_waits(chain, waits)
        while True:
            duration = m.duration_to("recon_done", params.duration_days, rng.random())
            m.reach("recon_started", chain, binding)
            m.log("reconnaissance", "team leaves", f"planned {duration:.0f} d door to door", kind="recon_leaves",
                  days=duration)
            span = m.begin_span("Reconnaissance", "reconnaissance")
            back = m.env.timeout(duration)
            if m.pinned("recon_done") is not None:
                # A re-forecast: the team came back on its observed day, whatever holds the record shows.
                yield back
                m.end_span(span)
                chain = extend(chain, "reconnaissance", m.now)
                break
            on_hold = hold.changed()
            yield back | on_hold
            if back.triggered and hold.is_open():
                m.end_span(span)
                chain = extend(chain, "reconnaissance", m.now)
                break
            # The days of the aborted attempt were lost to the hold.
            chain = extend(chain, "hold", m.now)
            self.aborts += 1
            m.end_span(span, "aborted by a hold")
            m.log("reconnaissance", "aborted: a hold began while the team was out", kind="recon_aborted")
            waits = []
            binding = yield from wait_all(conditions, "hold", waits=waits)
            chain = after_waits(chain, waits)
        self.condition.chain = chain
        self.done.succeed()
        m.log("reconnaissance", "team back and reported", kind="recon_back")
        m.reach("recon_done", chain, binding)
