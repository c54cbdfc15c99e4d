"""Operations in theatre: losses to injury, death and resignation, and withdrawal over unpaid costs.

Losses are counted every ``interval_days``: each officer present is injured, or else killed, or else
resigns, each with the chance its rate per officer-year gives over the interval; resignations run
``arrears_resignation_multiplier`` times faster while running costs are in arrears. Per contingent
that is one binomial draw of the officers lost and, only when some are, two that split them by
cause: the same multinomial as a binomial per cause in turn, with fewer draws. A contributor with
``withdraw_after_arrears_days`` set withdraws all its officers once arrears have lasted that long
without a break."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.model.critical import EMPTY, extend
from sim.model.force import Contingent, ContributorForce

if TYPE_CHECKING:
    from sim.model.mission import Mission


def _loss_chances(injuries: float, casualties: float, resignations: float, days: float) -> tuple[float, float, float]:
    """Chances over ``days`` at the given rates per officer-year: an officer is lost; a loss is an
    injury; a loss that is not an injury is a death (the rest resign)."""
    injury, casualty, resign = (1.0 - math.exp(-rate * days / 365.0) for rate in (injuries, casualties, resignations))
    as_casualty = (1.0 - injury) * casualty
    as_resignation = (1.0 - injury) * (1.0 - casualty) * resign
    lost = injury + as_casualty + as_resignation
    if lost <= 0:
        return 0.0, 0.0, 0.0
    rest = as_casualty + as_resignation
    return lost, min(1.0, injury / lost), (min(1.0, as_casualty / rest) if rest > 0 else 0.0)


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
        binomial = rng.binomial
        dt = params.interval_days
        normal = _loss_chances(params.injuries_per_officer_year, params.casualties_per_officer_year,
                               params.resignations_per_officer_year, dt)
        arrears = _loss_chances(params.injuries_per_officer_year, params.casualties_per_officer_year,
                                params.resignations_per_officer_year * params.arrears_resignation_multiplier, dt)
        forces, deployment, fund, losses = m.forces, m.deployment, m.fund, self.losses
        tick = m.env.timeout
        while True:
            yield tick(dt)
            p_lost, p_injury, p_casualty = arrears if fund.in_arrears else normal
            any_lost = False
            for force in forces:
                lost_here: list[tuple[Contingent, int]] = []
                for contingent in force.contingents:
                    officers = contingent.landed
                    if officers <= 0:
                        continue
                    lost = binomial(officers, p_lost) if p_lost > 0 else 0
                    if not lost:
                        continue
                    injuries = binomial(lost, p_injury)
                    casualties = binomial(lost - injuries, p_casualty)
                    losses["injuries"] += injuries
                    losses["casualties"] += casualties
                    losses["resignations"] += lost - injuries - casualties
                    lost_here.append((contingent, lost))
                    if m.tracing:
                        m.log("operations", f"{contingent.label} loses officers", f"{lost} lost this interval",
                              kind="losses", contingent=contingent.label, officers=lost)
                if lost_here:
                    any_lost = True
                    deployment.lose_at_once(force, lost_here)
            if any_lost:
                # Waiters for base places or money are woken once for all of this instant's losses.
                deployment.strength_fell()

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
