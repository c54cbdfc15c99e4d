"""Operations in theatre: losses to injury, death and resignation, and withdrawal over unpaid costs.

Losses are counted every ``interval_days``: each officer present is injured, or else killed, or else
resigns, each with the chance its rate per officer-year gives over the interval; resignations run
``arrears_resignation_multiplier`` times faster while running costs are in arrears. Per contingent
that is one binomial draw of the officers lost and, only when some are, two that split them by
cause: the same multinomial as a binomial per cause in turn, with fewer draws. A contributor with
``withdraw_after_arrears_days`` set withdraws all its officers once arrears have lasted that long
without a break. A contributor with an ``arrears_response`` table responds in grades instead: its new
departures pause (the condition ``arrears pause``) while arrears have lasted a threshold, and it
withdraws at a hazard that grows with the months and the depth of the arrears (:func:`arrears_hazard`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.model.conditions import Switch
from sim.model.critical import EMPTY, extend
from sim.model.force import Contingent, ContributorForce
from sim.model.funding import MONTH_DAYS

if TYPE_CHECKING:
    from sim.model.mission import Mission
    from sim.scenario.schema import ArrearsResponse


def cumulative_hazard(rate_per_day: float, shape: float, start_days: float, a0: float, a1: float) -> float:
    """Integral of ``rate_per_day * (a / 30)^shape`` over arrears ages ``a`` from ``a0`` to ``a1`` (days),
    counting only ages of at least ``start_days``."""
    lo, hi = max(a0, start_days), max(a1, start_days)
    if hi <= lo or rate_per_day <= 0:
        return 0.0
    k = shape + 1.0
    return rate_per_day * MONTH_DAYS / k * ((hi / MONTH_DAYS) ** k - (lo / MONTH_DAYS) ** k)


def age_at_hazard(rate_per_day: float, shape: float, start_days: float, a0: float, target: float) -> float:
    """The arrears age at which :func:`cumulative_hazard` from ``a0`` reaches ``target`` (its inverse)."""
    lo = max(a0, start_days)
    k = shape + 1.0
    return MONTH_DAYS * ((lo / MONTH_DAYS) ** k + target * k / (rate_per_day * MONTH_DAYS)) ** (1.0 / k)


def arrears_hazard(params: ArrearsResponse, age_days: float, depth: float) -> float:
    """The withdrawal hazard per day after ``age_days`` of unbroken arrears of the given depth (arrears over
    30 days of running costs): ``r / 365 * (age / 30)^shape * (1 + depth_weight * depth)``, zero before
    ``hazard_starts_after_days``."""
    if age_days < params.hazard_starts_after_days:
        return 0.0
    return (params.withdrawal_hazard_per_year / 365.0 * (age_days / MONTH_DAYS) ** params.hazard_shape
            * (1.0 + params.depth_weight * depth))


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
        pauses: Per contributor with a pause threshold, the switch named ``arrears pause`` its
            departures need (closed while arrears have lasted the threshold).
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.losses = {"injuries": 0, "casualties": 0, "resignations": 0}
        self.pauses: dict[str, Switch] = {}
        self.arrears_withdrawals = 0
        self._graded = False
        params = mission.scenario.attrition
        if (params.injuries_per_officer_year + params.casualties_per_officer_year
                + params.resignations_per_officer_year) > 0:
            mission.env.process(self._attrition())
        for force in mission.forces:
            threshold = self._withdrawal_threshold(force)
            if threshold is not None:
                mission.env.process(self._watch_arrears(force, threshold))
            response = self._response(force)
            if response is None:
                continue
            if response.pause_departures_after_days is not None:
                self.pauses[force.name] = Switch(mission.env, "arrears pause", True)
                mission.env.process(self._pause(force, response.pause_departures_after_days))
            if response.withdrawal_hazard_per_year > 0:
                self._graded = True
                mission.env.process(self._hazard(force, response))

    def _withdrawal_threshold(self, force: ContributorForce) -> float | None:
        scenario = self.mission.scenario
        if force.is_lead:
            return scenario.force.withdraw_after_arrears_days
        return scenario.contributors[force.name].withdraw_after_arrears_days

    def _response(self, force: ContributorForce) -> ArrearsResponse | None:
        scenario = self.mission.scenario
        if force.is_lead:
            return scenario.force.arrears_response
        return scenario.contributors[force.name].arrears_response

    def pause(self, force: ContributorForce) -> list[Switch]:
        """The ``arrears pause`` condition of ``force``'s departures: one switch, or none without a threshold."""
        switch = self.pauses.get(force.name)
        return [] if switch is None else [switch]

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
        history = m.history_until
        while True:
            yield tick(dt)
            if m.env.now <= history:
                continue  # a re-forecast: before its as-of day, strength is what the observations say
            p_lost, p_injury, p_casualty = arrears if fund.arrears_usd > 0 else normal
            if p_lost <= 0:
                continue
            any_lost = False
            for force in forces:
                if force.ledger["in_theatre"] <= 0:
                    continue  # none of its contingents has officers to lose: no draws
                lost_here: list[tuple[Contingent, int]] | None = None
                for contingent in force.contingents:
                    officers = contingent.landed
                    if officers <= 0:
                        continue
                    lost = binomial(officers, p_lost)
                    if not lost:
                        continue
                    injuries = binomial(lost, p_injury)
                    casualties = binomial(lost - injuries, p_casualty)
                    losses["injuries"] += injuries
                    losses["casualties"] += casualties
                    losses["resignations"] += lost - injuries - casualties
                    if lost_here is None:
                        lost_here = [(contingent, lost)]
                    else:
                        lost_here.append((contingent, lost))
                    if m.tracing:
                        m.log("operations", f"{contingent.label} loses officers", f"{lost} lost this interval",
                              kind="losses", contingent=contingent.label, officers=lost)
                if lost_here is not None:
                    any_lost = True
                    deployment.lose_at_once(force, lost_here)
            if any_lost:
                # Waiters for base places or money are woken once for all of this instant's losses.
                deployment.strength_fell()

    def _watch_arrears(self, force: ContributorForce, threshold: float):
        m = self.mission
        if m.history_until > 0:
            # A re-forecast: no withdrawal before the as-of day that the observations do not record.
            yield m.env.timeout(m.history_until)
        yield from self._arrears_last(threshold)
        m.log("deployment", f"{force.name} withdraws", f"arrears for {threshold:.0f} d",
              kind="contributor_withdraws", name=force.name, days=threshold)
        if force.is_lead:
            began = m.now - threshold
            m.reach("lead_withdrawal", extend(extend(EMPTY, "before arrears", began), "arrears", m.now))
        m.deployment.withdraw_all(force, f"{force.name}: arrears beyond {threshold:.0f} d")

    def _arrears_last(self, threshold: float, cleared: Callable[[], None] | None = None):
        """Process fragment: return once the arrears under way have lasted ``threshold`` days, calling
        ``cleared`` (if given) each time they are found cleared while waiting."""
        m = self.mission
        fund = m.fund
        while True:
            if not fund.in_arrears:
                if cleared is not None:
                    cleared()
                yield fund.arrears_changed
                continue
            remaining = threshold - fund.arrears_running_days()
            if remaining > 0:
                changed = fund.arrears_changed
                yield m.env.timeout(remaining) | changed
                if changed.triggered:
                    continue
            return

    def _pause(self, force: ContributorForce, threshold: float):
        m = self.mission
        fund = m.fund
        switch = self.pauses[force.name]

        def resume() -> None:
            if not switch.is_open():
                switch.set(True)
                if m.tracing:
                    m.log("deployment", f"{force.name} resumes departures", "arrears cleared",
                          kind="arrears_pause_ends", name=force.name)

        while True:
            yield from self._arrears_last(threshold, resume)
            if switch.is_open():
                switch.set(False)
                if m.tracing:
                    m.log("deployment", f"{force.name} pauses departures", f"arrears for {threshold:.0f} d",
                          kind="arrears_pause", name=force.name, days=threshold)
            yield fund.arrears_changed

    def _depth(self) -> float:
        """Arrears over 30 days of running costs at the strength in theatre now (0 if that costs nothing)."""
        fund = self.mission.fund
        month = MONTH_DAYS * fund.running_cost_per_day(self.mission.deployment.in_theatre)
        return fund.arrears_usd / month if month > 0 else 0.0

    def _hazard(self, force: ContributorForce, params: ArrearsResponse):
        """Withdrawal at the hazard :func:`arrears_hazard`, by inversion: one unit exponential is the
        cumulative hazard the contributor can bear, used up over every stretch of arrears. The depth is
        held between measurements at the start of each billing interval of a stretch (arrears begin on a
        billing day), so between them the hazard is a power of the age and its integral is exact."""
        m = self.mission
        fund = m.fund
        bearable = m.rng("operations", force.name, "arrears").exponential()
        rate = params.withdrawal_hazard_per_year / 365.0
        shape, start = params.hazard_shape, params.hazard_starts_after_days
        interval = m.scenario.funding.billing_interval_days if params.depth_weight > 0 else math.inf
        if m.history_until > 0:
            # A re-forecast: the contributor had not withdrawn by the as-of day. Given that, what it can still
            # bear is again a unit exponential (the threshold is memoryless), used up from then on.
            yield m.env.timeout(m.history_until)
        while True:
            if not force.active.is_open():
                return
            if not fund.in_arrears:
                yield fund.arrears_changed
                continue
            age = fund.arrears_running_days()
            if age < start:
                changed = fund.arrears_changed
                yield m.env.timeout(start - age) | changed
                continue
            scaled = rate * (1.0 + params.depth_weight * self._depth())
            # The next measurement of the depth: the next billing day of this stretch.
            until = (math.floor(age / interval + 1e-9) + 1.0) * interval if interval < math.inf else math.inf
            due = age_at_hazard(scaled, shape, start, age, bearable) if scaled > 0 else math.inf
            changed = fund.arrears_changed
            began = m.now
            if min(until, due) < math.inf:
                yield m.env.timeout(min(until, due) - age) | changed
            else:
                yield changed
            if due <= until and not changed.triggered:
                if force.active.is_open():
                    self._withdraw(force, f"{force.name} withdraws over arrears",
                                   f"arrears for {fund.arrears_running_days():.0f} d (hazard)")
                return
            bearable -= cumulative_hazard(scaled, shape, start, age, age + (m.now - began))

    def _withdraw(self, force: ContributorForce, event: str, details: str) -> None:
        """``force`` withdraws now over arrears; for the lead that is the milestone ``lead_withdrawal``."""
        m = self.mission
        days = m.fund.arrears_running_days()
        m.log("deployment", event, details, kind="contributor_withdraws", name=force.name, days=days)
        self.arrears_withdrawals += 1
        if force.is_lead:
            m.reach("lead_withdrawal", extend(extend(EMPTY, "before arrears", m.now - days), "arrears", m.now))
        m.deployment.withdraw_all(force, f"{force.name}: {details}")

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        totals = {cause: float(n) for cause, n in self.losses.items()}
        if self.pauses:
            horizon = self.mission.now
            totals["arrears_pause_days"] = sum(s.closed_days(horizon) for s in self.pauses.values())
        if self._graded:
            totals["arrears_hazard_withdrawals"] = float(self.arrears_withdrawals)
        return totals
