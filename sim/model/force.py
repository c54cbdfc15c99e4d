"""Force generation: the lead contributor selects and trains its contingents.

The pledge is split into contingents of ``contingent_size`` officers (the last may be smaller).
Cohorts take training seats from a SimPy Container of ``capacity_officers`` seats, train for a
drawn time and join the ``ready`` store, from which the deployment takes them in order of readiness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from sim.model.mission import Mission


@dataclass
class Contingent:
    """Officers who are trained, flown and serve together."""

    number: int
    contributor: str
    officers: int


class ForceGeneration:
    """Training of the lead contributor's contingents.

    Attributes:
        contingents: Every contingent of the pledge, in order.
        ready: Trained contingents waiting to deploy.
        trained_officers: Officers who have finished training so far.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        force = mission.scenario.force
        env = mission.env
        seats = force.training.capacity_officers
        self.seats = simpy.Container(env, init=seats, capacity=seats)
        self.ready = simpy.Store(env)
        self.trained_officers = 0
        sizes = [force.contingent_size] * (force.pledged_officers // force.contingent_size)
        if force.pledged_officers % force.contingent_size:
            sizes.append(force.pledged_officers % force.contingent_size)
        self.contingents = [Contingent(i + 1, force.lead_contributor, n) for i, n in enumerate(sizes)]
        env.process(self._generate())

    def _generate(self):
        m = self.mission
        params = m.scenario.force.training
        rng = m.rng("force")
        durations = [params.duration_days.sample(rng) for _ in self.contingents]
        if params.starts == "after_viable_administration":
            yield m.governance.viable
        for contingent, duration in zip(self.contingents, durations, strict=True):
            m.env.process(self._train(contingent, duration))

    def _train(self, contingent: Contingent, duration: float):
        m = self.mission
        yield self.seats.get(contingent.officers)
        m.log("force", f"contingent {contingent.number} starts training", f"{contingent.officers} officers")
        yield m.env.timeout(duration)
        yield self.seats.put(contingent.officers)
        self.trained_officers += contingent.officers
        m.log("force", f"contingent {contingent.number} trained")
        yield self.ready.put(contingent)
