"""The trust fund: donor pledges paid in tranches, running costs billed, departures gated on money.

The balance is a number: nothing ever waits on the account itself (departures wait on the
:class:`~sim.model.conditions.Predicate` conditions below), so a SimPy Container would only add two
scheduled events to every payment. Donors pay each tranche after a drawn lag, possibly only a drawn
share of their pledge. Running costs (officers in theatre per day, plus a fixed monthly cost while a
force is in theatre or on its way) are settled every billing interval; what the fund cannot pay
becomes arrears, cleared first from the next deposits. A contingent may leave only when the fund
holds its deployment cost plus a runway of running costs at the strength it will bring.

Optional mechanisms, all off unless the scenario names them: **channels**, pools outside the fund (a
donor paying the base's contractors, kit in kind, bilateral money to a contributor) that pay the
costs of the kinds they cover, the fund paying the rest; a **donor response**, new pledges arriving
as a Poisson process that runs faster while the mission is short of money; **shocks** on a pledge
(freezes that pause its tranches, a cut that cancels part of the rest); and **pre-financing**, a
contributor carrying its own running costs for a while when the fund cannot, reimbursed first from
later deposits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.model.conditions import Predicate, Signal
from sim.model.series import StepSeries
from sim.scenario.schema import TRUST_FUND, Channel, DonorResponse, Pledge

if TYPE_CHECKING:
    from sim.model.mission import Mission

#: Days in the month that ``fixed_monthly_usd`` is quoted for.
MONTH_DAYS = 30.0


class Pool:
    """A channel's money outside the trust fund (see :class:`sim.scenario.schema.Channel`).

    Support in kind has no balance: what it pays counts as received and paid at once.

    Attributes:
        name: The channel's name.
        balance_usd, received_usd, paid_usd: Money in it now, paid into it, paid out of it.
    """

    def __init__(self, name: str, params: Channel):
        self.name = name
        self.covers = frozenset(params.covers)
        self.contributor = params.contributor
        self.in_kind = params.in_kind
        self.limit_usd = math.inf if params.limit_usd is None else params.limit_usd
        self.balance_usd = 0.0
        self.received_usd = 0.0
        self.paid_usd = 0.0

    def serves(self, kind: str, contributor: str | None) -> bool:
        """Whether it pays costs of ``kind`` incurred for ``contributor`` (None: no contributor's in particular)."""
        return kind in self.covers and (self.contributor is None or self.contributor == contributor)

    def available(self) -> float:
        """Most it can pay now."""
        room = self.limit_usd - self.paid_usd
        return room if self.in_kind else min(self.balance_usd, room)

    def pay(self, amount_usd: float) -> float:
        """Pay as much of ``amount_usd`` as it can now; returns the part it could not pay."""
        paid = min(amount_usd, max(0.0, self.available()))
        if paid > 0:
            if self.in_kind:
                self.received_usd += paid
            else:
                self.balance_usd -= paid
            self.paid_usd += paid
        return amount_usd - paid


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
        #: Channels by name, in the scenario's order: the first that covers a cost pays first.
        self.channels = {name: Pool(name, c) for name, c in params.channels.items()}
        self.prefinance = params.prefinance
        self.prefinanced_usd = 0.0
        self.reimbursed_usd = 0.0
        self._prefinance_since: float | None = None
        self.frozen_days = 0.0
        self.cuts = 0
        self.response_pledges = 0
        self.response_received_usd = 0.0
        # Channels and pre-financing need each contributor's officer-days; without them the fund keeps one count.
        self._by_contributor = bool(self.channels) or self.prefinance is not None
        self._officers_of: dict[str, int] = {}
        self._officer_days_of: dict[str, float] = {}
        #: The donor response, when there is one: its stream, whether the mission is short now, and the
        #: ticket of the pledge clock armed last (a timeout armed before a re-draw is stale).
        self._response: DonorResponse | None = None
        self._response_rng: np.random.Generator | None = None
        self._response_short = False
        self._response_ticket = 0

        for name, pledge in params.pledges.items():
            env.process(self._donor(name, pledge))
        if params.donor_response is not None:
            self._pledging(params.donor_response)
        env.process(self._billing(params.billing_interval_days))
        if mission.as_of is not None and mission.as_of.money is not None:
            env.process(self._observed_money(*mission.as_of.money))
        #: A re-forecast's correction of the trust fund to its observed money (0 otherwise), US dollars.
        self.observed_correction_usd = 0.0

    def _observed_money(self, day: float, what: str, amount_usd: float):
        """Process: a re-forecast sets the trust fund to its latest observed money point, on its day.

        ``received`` sets what the fund has received (the start balance included); the difference is a
        deposit, or money taken back. ``trust_fund_balance`` sets the balance itself, after any arrears.
        """
        m = self.mission
        if day > m.env.now:
            yield m.env.timeout(day - m.env.now)
        if what == "received":
            delta = amount_usd - (float(m.scenario.funding.initial_balance_usd) + self.received_usd)
        else:
            delta = amount_usd - self._balance + self.arrears_usd
        if delta > 0:
            self._deposit(delta)
        elif delta < 0:
            taken = min(-delta, self._balance)
            self._balance -= taken
            self.received_usd -= taken
            delta = -taken
            self._record_balance()
        self.observed_correction_usd = delta
        if m.tracing:
            m.log("funding", "trust fund set to the observations", f"{what} ${amount_usd / 1e6:.1f}M",
                  kind="deposit", amount_usd=delta)

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
                   extra_usd: Callable[[], float] = lambda: 0.0, contributor: str | None = None) -> Predicate:
        """A condition named ``funding``: the pools that will pay can pay for a departure of ``officers``.

        Without channels that is the trust fund holding :meth:`required_to_depart` plus ``extra_usd()``.
        With channels, the channels that cover each part (the deployment cost, the runway's per-officer and
        fixed costs) count first and the fund must hold the rest; a bilateral channel counts towards the
        runway of at most its contributor's officers.

        Args:
            officers: Officers in the departing contingent.
            in_theatre_after: Returns the strength the runway must cover once they are there.
            extra_usd: Returns money that must stay in the fund beyond that (e.g. kept for the lead).
            contributor: The departing contingent's contributor.
        """
        if not self.channels:
            return Predicate(
                "funding",
                lambda: self._balance >= self.required_to_depart(officers, in_theatre_after()) + extra_usd(),
                self._deposited.wait,
            )

        def enough() -> bool:
            after = in_theatre_after()
            own = min(after, officers + self._officers_of.get(contributor or "", 0))
            per_officer = self.runway_days * self.daily_per_officer_usd
            demands = [("deployment", contributor, self.deployment_cost(officers)),
                       ("running_per_officer", contributor, per_officer * own),
                       ("running_per_officer", None, per_officer * (after - own)),
                       ("fixed", None, self.runway_days * self.fixed_monthly_usd / MONTH_DAYS)]
            return self._balance >= self._fund_share(demands) + extra_usd()

        return Predicate("funding", enough, self._deposited.wait)

    def holds(self, amount_usd: float | Callable[[], float], kind: str | None = None,
              contributor: str | None = None) -> Predicate:
        """A condition named ``funding``: the pools that would pay a cost of ``kind`` hold ``amount_usd``.

        Args:
            amount_usd: A number, or a callable returning one.
            kind: The kind of cost (see :data:`sim.scenario.schema.CostKind`); None: the trust fund alone.
            contributor: Whose cost it is, for bilateral channels.
        """
        amount = amount_usd if callable(amount_usd) else (lambda: amount_usd)
        if kind is None or not self.channels:
            return Predicate("funding", lambda: self._balance >= amount(), self._deposited.wait)
        return Predicate("funding", lambda: self._balance >= self._fund_share([(kind, contributor, amount())]),
                         self._deposited.wait)

    def _fund_share(self, demands: list[tuple[str, str | None, float]]) -> float:
        """What the trust fund would have to pay of ``demands`` (kind, contributor, amount) after the channels."""
        left = {name: pool.available() for name, pool in self.channels.items()}
        share = 0.0
        for kind, contributor, amount in demands:
            for name, pool in self.channels.items():
                if amount <= 0:
                    break
                if pool.serves(kind, contributor):
                    used = min(amount, max(0.0, left[name]))
                    left[name] -= used
                    amount -= used
            share += amount
        return share

    def _charge(self, kind: str, contributor: str | None, amount_usd: float) -> float:
        """Pay a cost from the channels that cover it, in order; returns what is left for the trust fund."""
        for pool in self.channels.values():
            if amount_usd <= 0:
                break
            if pool.serves(kind, contributor):
                amount_usd = pool.pay(amount_usd)
        return amount_usd

    def pay_deployment(self, officers: int, contributor: str | None = None) -> None:
        """Pay the one-off cost of deploying ``officers`` now (the caller checked it is affordable)."""
        cost = self.deployment_cost(officers)
        if self.channels:
            cost = self._charge("deployment", contributor, cost)
        self._spend(cost)

    def pay_observed_deployment(self, officers: int, contributor: str) -> None:
        """A re-forecast's observed deployment: its cost is paid from the pools that cover it as far as they
        can; what they cannot cover was, as observed, paid from elsewhere (the fund never goes below zero)."""
        cost = self.deployment_cost(officers)
        if self.channels:
            cost = self._charge("deployment", contributor, cost)
        self._spend(min(cost, max(0.0, self._balance)))

    def strength_fell(self) -> None:
        """Tell waiters that officers left theatre, so the runway a departure needs may have shrunk."""
        self._wake()

    def pay(self, amount_usd: float, kind: str | None = None, contributor: str | None = None) -> None:
        """Pay a one-off cost of ``kind`` now, from the channels that cover it and then the trust fund
        (the caller checked :meth:`holds`)."""
        if kind is not None and self.channels:
            amount_usd = self._charge(kind, contributor, amount_usd)
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
        if self._by_contributor:
            self._officers_of = {f.name: f.ledger["in_theatre"] for f in self.mission.forces}
        self._money_moved()

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
        if self._by_contributor:
            for name, officers in self._officers_of.items():
                self._officer_days_of[name] = self._officer_days_of.get(name, 0.0) + officers * elapsed
        self._last_change = now

    def _donor(self, name: str, pledge: Pledge):
        m = self.mission
        rng = m.rng("funding", name)
        share = pledge.paid_share.sample(rng)
        lags = [pledge.tranche_lag_days.sample(rng) for _ in range(pledge.tranches)]
        freezes, cut_at, kept = self._shocks(name, pledge, lags)
        start = max(0.0, m.scenario.day_of(pledge.pledged_on))
        if start > 0:
            yield m.env.timeout(start)
        tranche = pledge.amount_usd * share / pledge.tranches
        for i, lag in enumerate(lags, start=1):
            if freezes[i - 1] > 0:
                self.frozen_days += freezes[i - 1]
                if m.tracing:
                    m.log("funding", f"{name} freezes its pledge", f"{freezes[i - 1]:.0f} d", kind="pledge_frozen",
                          name=name, days=freezes[i - 1])
            yield m.env.timeout(lag + freezes[i - 1])
            if i == cut_at:
                self.cuts += 1
                m.log("funding", f"{name} cuts its pledge", f"keeps {kept:.0%} of the rest", kind="pledge_cut",
                      name=name)
            amount = tranche * kept if i >= cut_at else tranche
            if amount > 0:
                self._deposit_into(pledge.channel, amount)
                if m.tracing:
                    m.log("funding", f"{name} pays tranche {i}/{pledge.tranches}", f"${amount / 1e6:.1f}M",
                          kind="tranche_paid", name=name, amount_usd=amount)

    def _shocks(self, name: str, pledge: Pledge, lags: list[float]) -> tuple[list[float], float, float]:
        """Draw a pledge's shocks: each tranche's days frozen, the tranche a cut falls before (inf: none) and
        the share of each later tranche still paid. Drawn from the donor's own ``shocks`` stream, in a fixed order.

        Freezes arrive at ``freeze_per_year`` while a tranche's clock runs and each pauses it, so a tranche
        whose lag is L sees a Poisson(rate L / 365) number of freezes.
        """
        none = ([0.0] * len(lags), math.inf, 1.0)
        if pledge.freeze_per_year == 0 and pledge.cut_probability == 0:
            return none
        rng = self.mission.rng("funding", name, "shocks")
        freezes = []
        for lag in lags:
            count = int(rng.poisson(pledge.freeze_per_year * lag / 365.0)) if pledge.freeze_per_year > 0 else 0
            freezes.append(sum(pledge.freeze_days.sample(rng) for _ in range(count)))
        cut = rng.random() < pledge.cut_probability
        before = int(rng.integers(1, len(lags) + 1))
        kept = 1.0 - pledge.cut_share.sample(rng)
        return (freezes, float(before), kept) if cut else (freezes, math.inf, 1.0)

    def _pledging(self, params: DonorResponse) -> None:
        """New pledges: a Poisson process whose rate is multiplied while the mission is short of money.

        No process: the next pledge is a timeout whose callback makes it, and every change of the money
        (:meth:`_money_moved`) checks the regime at once, re-drawing the clock only when it changed; the
        exponential's lack of memory makes that exact. A clock re-drawn leaves its old timeout to fire
        as a no-op (its ticket is stale).
        """
        self._response = params
        self._response_rng = self.mission.rng("funding", "donor_response")
        self._response_short = self._short(params)
        self._redraw_pledge()

    def _redraw_pledge(self) -> None:
        """Draw the time to the next pledge at the current regime's rate and arm its timeout."""
        params, rng = self._response, self._response_rng
        assert params is not None and rng is not None
        self._response_ticket += 1
        rate = params.base_pledges_per_year * (params.shortfall_multiplier if self._response_short else 1.0) / 365.0
        if rate > 0:
            # A re-forecast: no pledge the observations do not record before its as-of day; the gaps are
            # memoryless, so the clock starts then.
            wait = max(0.0, self.mission.history_until - self.mission.env.now)
            due = self.mission.env.timeout(wait + rng.exponential(1.0 / rate))
            due.callbacks.append(self._on_pledge_due(self._response_ticket))

    def _on_pledge_due(self, ticket: int) -> Callable[[simpy.Event], None]:
        def pledge(_: simpy.Event) -> None:
            if ticket == self._response_ticket:
                self._pledge_now()

        return pledge

    def _pledge_now(self) -> None:
        """A donor pledges now; the clock to the next pledge is drawn afresh."""
        m = self.mission
        params, rng = self._response, self._response_rng
        assert params is not None and rng is not None
        amount = params.amount_usd.sample(rng)
        lag = params.lag_days.sample(rng)
        self.response_pledges += 1
        self.pledged_usd += amount
        if m.tracing:
            m.log("funding", "a donor pledges", f"${amount / 1e6:.1f}M, paid in {lag:.0f} d",
                  kind="pledge_made", amount_usd=amount, days=lag)
        paid = m.env.timeout(lag)
        paid.callbacks.append(self._on_response_paid(params.channel, amount))
        self._response_short = self._short(params)
        self._redraw_pledge()

    def _on_response_paid(self, channel: str, amount: float) -> Callable[[simpy.Event], None]:
        def paid(_: simpy.Event) -> None:
            self.response_received_usd += amount
            self._deposit_into(channel, amount)

        return paid

    def _short(self, params: DonorResponse) -> bool:
        """Whether the mission is visibly short of money: in arrears, or with too short a runway."""
        return self.arrears_usd > 0 or self._balance < params.short_runway_days * (
            self._officers * self.daily_per_officer_usd + self.fixed_monthly_usd / MONTH_DAYS)

    def _money_moved(self) -> None:
        params = self._response
        if params is not None and self._short(params) != self._response_short:
            self._response_short = not self._response_short
            self._redraw_pledge()

    def _deposit_into(self, channel: str, amount: float) -> None:
        if channel == TRUST_FUND:
            self._deposit(amount)
            return
        pool = self.channels[channel]
        pool.balance_usd += amount
        pool.received_usd += amount
        self._wake()

    def _deposit(self, amount: float) -> None:
        self._balance += amount
        self.received_usd += amount
        owed = self.prefinanced_usd - self.reimbursed_usd
        if owed > 0:
            # The contributor that carried costs is repaid before anything else.
            repaid = min(owed, self._balance)
            self._spend(repaid)
            self.reimbursed_usd += repaid
            if self.prefinanced_usd - self.reimbursed_usd <= 1e-6:
                self._prefinance_since = None
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
        self._money_moved()

    def _billing(self, interval: float):
        env = self.mission.env
        while True:
            yield env.timeout(interval)
            self._settle()

    def _settle(self) -> None:
        if self._by_contributor:
            self._settle_by_contributor()
            return
        self._accrue()
        due = (
            self._officer_days_unbilled * self.daily_per_officer_usd
            + self.fixed_monthly_usd * self._fixed_days_unbilled / MONTH_DAYS
        )
        self._officer_days_unbilled = 0.0
        self._fixed_days_unbilled = 0.0
        paid = min(due, self._balance)
        self._spend(paid)
        self._add_arrears(due - paid)

    def _settle_by_contributor(self) -> None:
        """Settle running costs contributor by contributor: channels first, then the fund, then pre-financing."""
        self._accrue()
        costs: list[tuple[str, str | None, float]] = [
            ("running_per_officer", name, days * self.daily_per_officer_usd)
            for name, days in self._officer_days_of.items()]
        costs.append(("fixed", None, self.fixed_monthly_usd * self._fixed_days_unbilled / MONTH_DAYS))
        self._officer_days_of = {}
        self._officer_days_unbilled = 0.0
        self._fixed_days_unbilled = 0.0
        unpaid = 0.0
        for kind, contributor, due in costs:
            left = self._charge(kind, contributor, due)
            paid = min(left, self._balance)
            self._spend(paid)
            left -= paid
            if left > 0 and self.prefinance is not None and contributor == self.prefinance.contributor:
                left -= self._carry(left)
            unpaid += left
        self._add_arrears(unpaid)

    def _carry(self, amount: float) -> float:
        """The pre-financing contributor carries what it can of ``amount`` of its own costs; returns that."""
        assert self.prefinance is not None
        now = self.mission.env.now
        if self._prefinance_since is not None and now - self._prefinance_since >= self.prefinance.days:
            return 0.0
        carried = min(amount, max(0.0, self.prefinance.limit_usd - (self.prefinanced_usd - self.reimbursed_usd)))
        if carried > 0:
            if self._prefinance_since is None:
                self._prefinance_since = now
            self.prefinanced_usd += carried
            if self.mission.tracing:
                self.mission.log("funding", f"{self.prefinance.contributor} pre-finances its costs",
                                 f"${carried / 1e6:.1f}M", kind="prefinanced", name=self.prefinance.contributor,
                                 amount_usd=carried)
        return carried

    def _add_arrears(self, unpaid: float) -> None:
        now = self.mission.env.now
        if unpaid > 1e-6:
            if self.arrears_usd == 0:
                self._arrears_since = now
                if self.mission.tracing:
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
        self._money_moved()

    def close_books(self, horizon: float) -> None:
        """Count arrears still open at the horizon."""
        if self._arrears_since is not None:
            self.arrears_days += horizon - self._arrears_since
            self.mission.span("Arrears", self._arrears_since, horizon, "running costs unpaid")
            self._arrears_since = None

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        totals = {
            "pledged_usd": self.pledged_usd,
            "received_usd": self.received_usd,
            "spent_usd": self.spent_usd,
            "final_balance_usd": self._balance,
            "arrears_days": self.arrears_days,
            "arrears_usd_at_horizon": self.arrears_usd,
        }
        # Columns of the optional mechanisms appear only when a scenario uses them.
        if self.mission.as_of is not None and self.mission.as_of.money is not None:
            totals["as_of_money_correction_usd"] = self.observed_correction_usd
        if self.channels:
            totals[f"received_usd.{TRUST_FUND}"] = self.received_usd
            totals[f"paid_usd.{TRUST_FUND}"] = self.spent_usd
            for name, pool in self.channels.items():
                totals[f"received_usd.{name}"] = pool.received_usd
                totals[f"paid_usd.{name}"] = pool.paid_usd
                totals[f"balance_usd.{name}"] = pool.balance_usd
        if self.prefinance is not None:
            totals["prefinanced_usd"] = self.prefinanced_usd
            totals["reimbursed_usd"] = self.reimbursed_usd
        if self.mission.scenario.funding.donor_response is not None:
            totals["response_pledges"] = float(self.response_pledges)
            totals["response_received_usd"] = self.response_received_usd
        if any(p.freeze_per_year > 0 or p.cut_probability > 0 for p in self.mission.scenario.funding.pledges.values()):
            totals["pledge_frozen_days"] = self.frozen_days
            totals["pledge_cuts"] = float(self.cuts)
        return totals

    def pool_balances(self) -> dict[str, float]:
        """Each pool's balance now: the trust fund and every channel."""
        return {TRUST_FUND: self._balance, **{n: p.balance_usd for n, p in self.channels.items()}}

