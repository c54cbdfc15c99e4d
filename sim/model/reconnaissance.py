"""The lead contributor's reconnaissance: leaves after the administration is viable, takes a drawn time.

No contingent departs before ``done`` succeeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Reconnaissance:
    """The reconnaissance process.

    Attributes:
        done: Succeeds when the team is back and has reported.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.done = mission.env.event()
        mission.env.process(self._mission())

    def _mission(self):
        m = self.mission
        params = m.scenario.reconnaissance
        rng = m.rng("reconnaissance")
        lead_time = params.lead_time_days.sample(rng)
        duration = params.duration_days.sample(rng)
        yield m.governance.viable
        yield m.env.timeout(lead_time)
        m.reach("recon_started")
        m.log("reconnaissance", "team leaves", f"planned {duration:.0f} d door to door")
        yield m.env.timeout(duration)
        self.done.succeed()
        m.reach("recon_done")
        m.log("reconnaissance", "team back and reported")
