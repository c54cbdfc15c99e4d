"""The trust fund: donor pledges paid in tranches, running costs billed, departures gated on money.

The balance is a number: nothing ever waits on the account itself (departures wait on the
:class:`~sim.model.conditions.Predicate` conditions below), so a SimPy Container would only add two
scheduled events to every payment. Donors pay each tranche after a drawn lag, possibly only a drawn
share of their pledge. Running costs (officers in theatre per day, plus a fixed monthly cost while a force is in
theatre or on its way) are settled every billing interval; what the fund cannot pay becomes arrears, cleared first from the
next deposits. A contingent may leave only when the fund holds its deployment cost plus a runway of
running costs at the strength it will bring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from sim.model.conditions import Predicate, Signal
from sim.model.series import StepSeries
from sim.scenario.schema import Pledge

if TYPE_CHECKING:
    from sim.model.mission import Mission

#: Days in the month that ``fixed_monthly_usd`` is quoted for.
MONTH_DAYS = 30.0


class TrustFund:
    """The mission's money.

    Attributes:
        deploy_per_officer_usd, daily_per_officer_usd, fixed_monthly_usd: This replication's costs,
            drawn once from the scenario's distributions.
        balance_series: The balance over time.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        env = mission.env
        params = mission.scenario.funding
        rng = mission.rng("funding")
        self.deploy_per_officer_usd = params.costs.deployment_per_officer_usd.sample(rng)
        self.daily_per_officer_usd = params.costs.daily_per_officer_usd.sample(rng)
        self.fixed_monthly_usd = params.costs.fixed_monthly_usd.sample(rng)
        self.runway_days = params.runway_days

        self._balance = float(params.initial_balance_usd)
        self.balance_series = StepSeries(params.initial_balance_usd)
        self.pledged_usd = sum(p.amount_usd for p in params.pledges.values())
        self.received_usd = 0.0
        self.spent_usd = 0.0
        self.arrears_usd = 0.0
        self.arrears_days = 0.0
        self._arrears_since: float | None = None
        self._officer_days_unbilled = 0.0
        self._officers = 0
        self._en_route = 0
        self._fixed_days_unbilled = 0.0
        self._last_change = 0.0
        self._deposited = Signal(env)
        self._arrears_changed = Signal(env)

        for name, pledge in params.pledges.items():
            env.process(self._donor(name, pledge))
        env.process(self._billing(params.billing_interval_days))

    @property
    def balance_usd(self) -> float:
        """Money in the fund now."""
        return self._balance

    @property
    def arrears_changed(self) -> simpy.Event:
        """An event that fires when arrears next begin or end."""
        return self._arrears_changed.wait()

    def running_cost_per_day(self, officers: int) -> float:
        """Running cost of one day with ``officers`` in theatre."""
        return officers * self.daily_per_officer_usd + self.fixed_monthly_usd / MONTH_DAYS

    def deployment_cost(self, officers: int) -> float:
        """One-off cost of deploying ``officers``."""
        return officers * self.deploy_per_officer_usd

    def required_to_depart(self, officers: int, in_theatre_after: int) -> float:
        """Balance a contingent needs before it leaves: its deployment cost plus the runway."""
        return self.deployment_cost(officers) + self.runway_days * self.running_cost_per_day(in_theatre_after)

    def affordable(self, officers: int, in_theatre_after: Callable[[], int],
                   extra_usd: Callable[[], float] = lambda: 0.0) -> Predicate:
        """A condition named ``funding``: the fund can pay for a departure of ``officers``.

        Args:
            officers: Officers in the departing contingent.
            in_theatre_after: Returns the strength the runway must cover once they are there.
            extra_usd: Returns money that must stay in the fund beyond that (e.g. kept for the lead).
        """
        return Predicate(
            "funding",
            lambda: self._balance >= self.required_to_depart(officers, in_theatre_after()) + extra_usd(),
            self._deposited.wait,
        )

    def holds(self, amount_usd: float | Callable[[], float]) -> Predicate:
        """A condition named ``funding``: the fund holds at least ``amount_usd`` (a number or a callable)."""
        amount = amount_usd if callable(amount_usd) else (lambda: amount_usd)
        return Predicate("funding", lambda: self._balance >= amount(), self._deposited.wait)

    def pay_deployment(self, officers: int) -> None:
        """Pay the one-off cost of deploying ``officers`` now (the caller checked it is affordable)."""
        self._spend(self.deployment_cost(officers))

    def strength_fell(self) -> None:
        """Tell waiters that officers left theatre, so the runway a departure needs may have shrunk."""
        self._wake()

    def pay(self, amount_usd: float) -> None:
        """Pay a one-off cost now (the caller checked the fund holds it)."""
        self._spend(amount_usd)

    def arrears_running_days(self) -> float:
        """Days the current stretch of arrears has lasted (0 when none)."""
        return 0.0 if self._arrears_since is None else self.mission.env.now - self._arrears_since

    @property
    def in_arrears(self) -> bool:
        """Whether running costs are unpaid now."""
        return self.arrears_usd > 0

    def officers_changed(self, officers: int) -> None:
        """Tell the fund the strength in theatre changed now (running costs accrue per officer-day)."""
        self._accrue()
        self._officers = officers

    def en_route_changed(self, officers: int) -> None:
        """Tell the fund how many officers are on their way now (funded, not yet landed).

        The mission's fixed costs (headquarters, support) run only while a force is in theatre or on its way.
        """
        self._accrue()
        self._en_route = officers

    def _accrue(self) -> None:
        now = self.mission.env.now
        elapsed = now - self._last_change
        self._officer_days_unbilled += self._officers * elapsed
        if self._officers > 0 or self._en_route > 0:
            self._fixed_days_unbilled += elapsed
        self._last_change = now

    def _donor(self, name: str, pledge: Pledge):
        m = self.mission
        rng = m.rng("funding", name)
        share = pledge.paid_share.sample(rng)
        lags = [pledge.tranche_lag_days.sample(rng) for _ in range(pledge.tranches)]
        start = max(0.0, m.scenario.day_of(pledge.pledged_on))
        if start > 0:
            yield m.env.timeout(start)
        tranche = pledge.amount_usd * share / pledge.tranches
        for i, lag in enumerate(lags, start=1):
            yield m.env.timeout(lag)
            if tranche > 0:
                self._deposit(tranche)
                if m.tracing:
                    m.log("funding", f"{name} pays tranche {i}/{pledge.tranches}", f"${tranche / 1e6:.1f}M",
                          kind="tranche_paid", name=name, amount_usd=tranche)

    def _deposit(self, amount: float) -> None:
        self._balance += amount
        self.received_usd += amount
        if self.arrears_usd > 0:
            paid = min(self.arrears_usd, self._balance)
            self._spend(paid)
            self.arrears_usd -= paid
            if self.arrears_usd <= 1e-6:
                self.arrears_usd = 0.0
                self._end_arrears()
        self._record_balance()
        self._wake()

    def _wake(self) -> None:
        self._deposited.fire()

    def _spend(self, amount: float) -> None:
        if amount > 0:
            self._balance -= amount
            self.spent_usd += amount
            self._record_balance()

    def _record_balance(self) -> None:
        self.balance_series.set(self.mission.env.now, self._balance)

    def _billing(self, interval: float):
        env = self.mission.env
        while True:
            yield env.timeout(interval)
            self._settle()

    def _settle(self) -> None:
        now = self.mission.env.now
        self._accrue()
        due = (
            self._officer_days_unbilled * self.daily_per_officer_usd
            + self.fixed_monthly_usd * self._fixed_days_unbilled / MONTH_DAYS
        )
        self._officer_days_unbilled = 0.0
        self._fixed_days_unbilled = 0.0
        paid = min(due, self._balance)
        self._spend(paid)
        unpaid = due - paid
        if unpaid > 1e-6:
            if self.arrears_usd == 0:
                self._arrears_since = now
                self.mission.log("funding", "arrears begin", f"${unpaid / 1e6:.1f}M unpaid", kind="arrears_begin",
                                 amount_usd=unpaid)
                self._signal_arrears()
            self.arrears_usd += unpaid

    def _end_arrears(self) -> None:
        if self._arrears_since is not None:
            self.arrears_days += self.mission.env.now - self._arrears_since
            self.mission.span("Arrears", self._arrears_since, self.mission.env.now, "running costs unpaid")
            self._arrears_since = None
            self.mission.log("funding", "arrears cleared", kind="arrears_cleared")
            self._signal_arrears()

    def _signal_arrears(self) -> None:
        self._arrears_changed.fire()

    def close_books(self, horizon: float) -> None:
        """Count arrears still open at the horizon."""
        if self._arrears_since is not None:
            self.arrears_days += horizon - self._arrears_since
            self.mission.span("Arrears", self._arrears_since, horizon, "running costs unpaid")
            self._arrears_since = None

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {
            "pledged_usd": self.pledged_usd,
            "received_usd": self.received_usd,
            "spent_usd": self.spent_usd,
            "final_balance_usd": self._balance,
            "arrears_days": self.arrears_days,
            "arrears_usd_at_horizon": self.arrears_usd,
        }

