"""Operations in theatre: losses to injury, death and resignation, and withdrawal over unpaid costs.

Losses are counted every ``interval_days``: each contingent loses a binomial number of officers
for each cause, at the cause's rate per officer-year over the interval; resignations run
``arrears_resignation_multiplier`` times faster while running costs are in arrears. A contributor
with ``withdraw_after_arrears_days`` set withdraws all its officers once arrears have lasted that
long without a break.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.model.critical import EMPTY, extend
from sim.model.force import ContributorForce

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Operations:
    """Attrition and withdrawals.

    Attributes:
        losses: Officers lost by cause: ``injuries``, ``casualties``, ``resignations``.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.losses = {"injuries": 0, "casualties": 0, "resignations": 0}
        params = mission.scenario.attrition
        if (params.injuries_per_officer_year + params.casualties_per_officer_year
                + params.resignations_per_officer_year) > 0:
            mission.env.process(self._attrition())
        for force in mission.forces:
            threshold = self._withdrawal_threshold(force)
            if threshold is not None:
                mission.env.process(self._watch_arrears(force, threshold))

    def _withdrawal_threshold(self, force: ContributorForce) -> float | None:
        scenario = self.mission.scenario
        if force.is_lead:
            return scenario.force.withdraw_after_arrears_days
        return scenario.contributors[force.name].withdraw_after_arrears_days

    def _attrition(self):
        m = self.mission
        params = m.scenario.attrition
        rng = m.rng("operations", "attrition")
        dt = params.interval_days
        while True:
            yield m.env.timeout(dt)
            resign = params.resignations_per_officer_year * (
                params.arrears_resignation_multiplier if m.fund.in_arrears else 1.0
            )
            rates = {
                "injuries": params.injuries_per_officer_year,
                "casualties": params.casualties_per_officer_year,
                "resignations": resign,
            }
            probabilities = {cause: 1.0 - math.exp(-rate * dt / 365.0) for cause, rate in rates.items()}
            for force in m.forces:
                for contingent in force.in_theatre_contingents():
                    lost = 0
                    for cause, p in probabilities.items():
                        k = int(rng.binomial(contingent.landed - lost, p)) if p > 0 else 0
                        self.losses[cause] += k
                        lost += k
                    if lost:
                        m.deployment.lose(force, contingent, lost)
                        m.log("operations", f"{contingent.label} loses officers", f"{lost} lost this interval",
                              kind="losses", contingent=contingent.label, officers=lost)

    def _watch_arrears(self, force: ContributorForce, threshold: float):
        m = self.mission
        fund = m.fund
        while True:
            if not fund.in_arrears:
                yield fund.arrears_changed
                continue
            remaining = threshold - fund.arrears_running_days()
            if remaining > 0:
                changed = fund.arrears_changed
                yield m.env.timeout(remaining) | changed
                if changed.triggered:
                    continue
            m.log("deployment", f"{force.name} withdraws", f"arrears for {threshold:.0f} d",
                  kind="contributor_withdraws", name=force.name, days=threshold)
            if force.is_lead:
                began = m.now - threshold
                m.reach("lead_withdrawal", extend(extend(EMPTY, "before arrears", began), "arrears", m.now))
            m.deployment.withdraw_all(force, f"{force.name}: arrears beyond {threshold:.0f} d")
            return

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {cause: float(n) for cause, n in self.losses.items()}
