"""Haiti's political transition: crisis, then a transitional authority, then a viable administration.

The lead contributor said it would act only once a viable administration is in place, so the
``viable`` event gates the reconnaissance and every departure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Governance:
    """The transition process and the events it exposes.

    Attributes:
        authority_named: Succeeds when the transitional authority is named.
        viable: Succeeds when a viable administration is installed.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        env = mission.env
        self.authority_named = env.event()
        self.viable = env.event()
        env.process(self._transition())

    def _transition(self):
        m = self.mission
        params = m.scenario.governance
        rng = m.rng("governance")
        # Both durations are drawn up front so the stream's use does not depend on timing.
        to_authority = params.transitional_authority_days.sample(rng)
        to_viable = params.viable_administration_days.sample(rng)
        yield m.env.timeout(to_authority)
        self.authority_named.succeed()
        m.reach("authority_named")
        m.log("governance", "transitional authority named")
        yield m.env.timeout(to_viable)
        self.viable.succeed()
        m.reach("administration_viable")
        m.log("governance", "viable administration installed")
