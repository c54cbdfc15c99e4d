"""The scenario schema: the single source of truth for what a scenario file may say.

A scenario file (TOML) is read and merged by :mod:`sim.scenario.loader`, then validated into the frozen
:class:`Scenario` below; that resolved object is what one replication consumes and what a results
folder saves. Every field says its unit; every uncertain input is a distribution (see
:mod:`sim.scenario.distributions`). Unknown keys are rejected everywhere, so a misspelt key cannot silently
fall back to a default.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.scenario.distributions import Distribution, Duration, as_tuple
from sim.scenario.milestones import MILESTONES


def _share(d: Any) -> Any:
    if d.lower_bound() < 0 or d.quantile(1 - 1e-12) > 1:
        raise ValueError(f"a share must lie between 0 and 1, but this {d.dist} distribution does not")
    return d


#: A distribution of a share between 0 and 1 (e.g. the part of a pledge that is paid).
Share = Annotated[Distribution, AfterValidator(_share)]

#: Earliest and latest calendar date a scenario may use: every date it computes stays in the calendar.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2200, 12, 31)
#: Most contingents one contributor's pledge may be split into (pledged officers / contingent size).
MAX_CONTINGENTS = 1000
#: Most officers any one count may hold.
MAX_OFFICERS = 100_000
#: Most events of one kind per year (setbacks, blocks, closures): at most one a day.
MAX_PER_YEAR = 365.0
#: Most US dollars any one amount may hold.
MAX_USD = 1e13


def _in_calendar(day: dt.date) -> dt.date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"expected a date from {EARLIEST_DATE} to {LATEST_DATE}, got {day}")
    return day


#: A TOML date (not text, not a date-time) from 1900 to 2200.
CalendarDate = Annotated[dt.date, AfterValidator(_in_calendar)]
#: Names of gates or milestones, written as a TOML array.
Names = Annotated[tuple[str, ...], BeforeValidator(as_tuple), Field(max_length=200)]


class Section(BaseModel):
    """Base of every scenario table: frozen, unknown keys, NaN and infinity rejected."""

    # Strict: a boolean is a TOML boolean, a number a number, a date a TOML date; nothing is coerced.
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False, validate_default=True, strict=True
    )


class Governance(Section):
    """Haiti's political transition: crisis, then a transitional authority, then a viable administration."""

    transitional_authority_days: Duration = Field(
        description="Days from the start date until a transitional authority (council, interim PM) is named."
    )
    viable_administration_days: Duration = Field(
        description="Days from the authority being named until a viable administration is installed."
    )
    setbacks_per_year: float = Field(
        default=0.0,
        ge=0,
        le=MAX_PER_YEAR,
        description="Rate of setbacks (a government falls, a council splits) once the administration is viable, "
        "per 365 days. Each puts the lead contributor on hold.",
    )
    hold_days: Duration = Field(
        default=0.0, description="Days one setback keeps the lead contributor on hold (no recon, no departures)."
    )


class Reconnaissance(Section):
    """The lead contributor's assessment mission, which waits for a viable administration."""

    lead_time_days: Duration = Field(
        description="Days from the administration becoming viable until the team leaves."
    )
    duration_days: Duration = Field(description="Days the reconnaissance takes, door to door.")


#: The pool every cost is paid from unless a channel covers it, and every pledge's default destination.
TRUST_FUND = "trust_fund"


class Pledge(Section):
    """One donor's pledge to the trust fund, paid in equal tranches after drawn lags."""

    amount_usd: float = Field(ge=0, le=MAX_USD, description="Amount pledged to the trust fund, US dollars.")
    pledged_on: CalendarDate = Field(
        description="Date of the pledge. Lags count from the later of this and the start date."
    )
    tranches: int = Field(default=1, ge=1, le=120, description="Number of equal tranches the pledge is paid in.")
    tranche_lag_days: Duration = Field(
        description="Days from the pledge (or the previous tranche) until a tranche is paid."
    )
    paid_share: Share = Field(
        default=1.0,
        description="Share of the pledge the donor ever pays (drawn once per replication), 0 to 1.",
    )
    channel: str = Field(
        default=TRUST_FUND, max_length=100,
        description="Pool the money goes into: 'trust_fund', or the name of a money channel under "
        "[funding.channels].",
    )
    freeze_per_year: float = Field(
        default=0.0, ge=0, le=MAX_PER_YEAR,
        description="Rate of freezes (a shock) while a tranche's lag runs, per 365 days; each pauses the "
        "tranche's clock for freeze_days.",
    )
    freeze_days: Duration = Field(default=0.0, description="Days one freeze pauses the pledge's tranches.")
    cut_probability: float = Field(
        default=0.0, ge=0, le=1,
        description="Probability that the donor cuts the pledge (drawn once per replication), 0 to 1; the cut "
        "falls before a tranche drawn uniformly among them.",
    )
    cut_share: Share = Field(
        default=1.0, description="Share of the tranches still unpaid that a cut cancels, 0 to 1 (drawn once)."
    )


#: Kinds of cost a funding channel may cover.
CostKind = Literal["base_construction", "deployment", "running_per_officer", "fixed"]


class Channel(Section):
    """A pool of money outside the trust fund that pays the costs of the kinds it covers.

    A cost of a covered kind is paid from the channel as far as it can (its balance, for money; its
    remaining ``limit_usd``, for support in kind); the trust fund pays the rest.
    """

    covers: Annotated[tuple[CostKind, ...], BeforeValidator(as_tuple)] = Field(
        min_length=1, max_length=4,
        description="Kinds of cost it pays: 'base_construction', 'deployment' (one-off per officer), "
        "'running_per_officer' (per officer-day in theatre), 'fixed' (fixed monthly costs).",
    )
    contributor: str | None = Field(
        default=None, max_length=100,
        description="For deployment and running_per_officer costs, pay only this contributor's (bilateral "
        "support); omit: every contributor's.",
    )
    in_kind: bool = Field(
        default=False,
        description="True: pays what it covers without money (a donor's contractors, equipment or airlift in "
        "kind), up to limit_usd; false: pays from the pledges paid into it.",
    )
    limit_usd: float | None = Field(
        default=None, ge=0, le=MAX_USD,
        description="Most it ever pays, US dollars; beyond it costs fall back to the trust fund (omit: no cap).",
    )


class DonorResponse(Section):
    """New pledges that arrive during the mission, faster while it is visibly short of money."""

    base_pledges_per_year: float = Field(
        ge=0, le=MAX_PER_YEAR, description="Rate of new pledges while the mission is not short of money, per 365 days."
    )
    shortfall_multiplier: float = Field(
        default=1.0, ge=0, le=1000,
        description="Factor on that rate while the mission is short of money (a pledging conference after a "
        "shortfall).",
    )
    short_runway_days: float = Field(
        default=0.0, ge=0, le=36500,
        description="The mission is short of money while running costs are in arrears or the trust fund holds "
        "less than this many days of running costs at the current strength.",
    )
    amount_usd: Duration = Field(description="Amount of one new pledge (drawn per pledge), US dollars.")
    lag_days: Duration = Field(default=0.0, description="Days from a new pledge until it is paid (drawn per pledge).")
    channel: str = Field(
        default=TRUST_FUND, max_length=100,
        description="Pool new pledges are paid into: 'trust_fund' or a money channel's name.",
    )


class Prefinance(Section):
    """A contributor that carries its own running costs for a while when the trust fund cannot pay them."""

    contributor: str = Field(max_length=100, description="The contributor that pre-finances (usually the lead).")
    limit_usd: float = Field(
        ge=0, le=MAX_USD, description="Most it is owed at any time (carried and not yet reimbursed), US dollars."
    )
    days: float = Field(
        ge=0, le=36500,
        description="Days it keeps carrying costs, from the first cost it carries while owed nothing until it "
        "is reimbursed in full.",
    )


class Costs(Section):
    """What the mission spends from the trust fund."""

    deployment_per_officer_usd: Duration = Field(
        description="One-off cost per officer deployed (equipment, transport), US dollars."
    )
    daily_per_officer_usd: Duration = Field(
        description="Running cost per officer in theatre per day (allowances, upkeep), US dollars."
    )
    fixed_monthly_usd: Duration = Field(
        description="Fixed mission running cost per 30-day month (headquarters, support) from the first "
        "departure on, US dollars."
    )


class Funding(Section):
    """The trust fund, its donors and the rule that gates each departure on money."""

    initial_balance_usd: float = Field(
        ge=0, le=MAX_USD, description="Trust-fund balance on the start date, US dollars."
    )
    runway_days: float = Field(
        ge=0,
        le=36500,
        description="Days of running costs (at the strength after the departure) the fund must hold "
        "beyond a contingent's deployment cost before that contingent may leave.",
    )
    billing_interval_days: float = Field(
        default=30.0, ge=1, le=36500, description="Days between settlements of running costs (at least 1)."
    )
    costs: Costs = Field(description="What the mission spends from the trust fund, US dollars.")
    pledges: dict[str, Pledge] = Field(default_factory=dict, max_length=200, description="Donor pledges by donor name.")
    channels: dict[str, Channel] = Field(
        default_factory=dict, max_length=50,
        description="Pools outside the trust fund by name (direct payments, support in kind, bilateral money); "
        "omit: every cost is paid from the trust fund.",
    )
    donor_response: DonorResponse | None = Field(
        default=None, description="New pledges arriving during the mission (omit: only the pledges listed)."
    )
    prefinance: Prefinance | None = Field(
        default=None, description="A contributor that carries its running costs when the fund cannot (omit: none)."
    )

    @model_validator(mode="after")
    def _channels_resolve(self) -> Funding:
        if TRUST_FUND in self.channels:
            raise ValueError(f"channels: '{TRUST_FUND}' is the trust fund itself, not a channel")
        money = [n for n, c in self.channels.items() if not c.in_kind]
        targets = [(f"pledges.{n}.channel", p.channel) for n, p in self.pledges.items()]
        if self.donor_response is not None:
            targets.append(("donor_response.channel", self.donor_response.channel))
        for key, channel in targets:
            if channel != TRUST_FUND and channel not in money:
                raise ValueError(
                    f"{key} is '{channel}', which is neither '{TRUST_FUND}' nor a money channel "
                    f"(money channels: {', '.join(money) or 'none'}){_hint(channel, money)}"
                )
        return self


class Training(Section):
    """Force generation: officers trained in cohorts, limited by the number of training seats."""

    capacity_officers: int = Field(gt=0, le=MAX_OFFICERS, description="Officers who can be in training at once.")
    duration_days: Duration = Field(description="Days one cohort takes to train.")
    starts: Literal["at_start", "after_viable_administration"] = Field(
        default="at_start",
        description="When training begins: 'at_start' runs it from the start date, ahead of the political "
        "decision; 'after_viable_administration' waits for a viable administration.",
    )


class Tranche(Section):
    """One tranche of the lead contributor's pledge: its own political decision, funding check and training.

    A tranche already decided on the start date (``decided``, an announced promise) deploys as the
    pledge does without tranches. Otherwise its decision waits for everything named in ``after``,
    for ``min_balance_usd`` in the trust fund and for ``min_lead_in_theatre_officers`` of the lead's officers
    in theatre, all at once, then for a drawn ``decision_days``. Raise a ValueError if a decided
    tranche also names a condition or a delay, or if only one of ``shortened_training_share`` and
    ``pressure_below_officers`` is given, or if training is shortened for a tranche trained at the start.
    """

    officers: int = Field(gt=0, le=MAX_OFFICERS, description="Officers in this tranche (split into contingents of "
                          "force.contingent_size; the tranches add up to force.pledged_officers).")
    decided: bool = Field(
        default=False,
        description="Whether the decision is already taken on the start date (an announced promise); then no "
        "condition or delay may be given.",
    )
    after: Names = Field(
        default=(),
        description="Gates (first opening) or milestones the decision waits for; none: no wait.",
    )
    min_balance_usd: float | None = Field(
        default=None, ge=0, le=MAX_USD,
        description="Money in hand the decision waits for: the trust fund's balance at least this, US dollars "
        "(omit: no wait).",
    )
    min_lead_in_theatre_officers: int | None = Field(
        default=None, ge=0, le=MAX_OFFICERS,
        description="State of the mission the decision waits for: at least this many of the lead's officers in "
        "theatre (omit: no wait).",
    )
    decision_days: Duration = Field(
        default=0.0, description="Days of political delay once the decision's conditions hold, until it is taken."
    )
    training_starts: Literal["at_decision", "at_start"] = Field(
        default="at_decision",
        description="When the tranche trains: 'at_decision' once it is decided, 'at_start' ahead of the decision "
        "(as force.training.starts says); either way no earlier than force.training.starts allows, and its "
        "contingents are ready only once both training and decision are done.",
    )
    training_days: Duration | None = Field(
        default=None, description="Days one of its cohorts takes to train (omit: force.training.duration_days)."
    )
    shortened_training_share: float | None = Field(
        default=None, gt=0, le=1,
        description="Share (0 to 1) of the drawn training time its cohorts take when the tranche is decided under "
        "pressure (omit: never shortened); only with training_starts = 'at_decision'.",
    )
    pressure_below_officers: int | None = Field(
        default=None, gt=0, le=MAX_OFFICERS,
        description="The decision is under pressure when the lead has fewer than this many officers in theatre at "
        "the moment it is taken (given together with shortened_training_share).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Tranche:
        if self.decided:
            given = [k for k in ("after", "min_balance_usd", "min_lead_in_theatre_officers")
                     if getattr(self, k) not in (None, ())]
            if self.decision_days.quantile(1.0 - 1e-12) > 0:
                given.append("decision_days")
            if given:
                raise ValueError(f"a tranche already decided waits for nothing, but it gives {', '.join(given)}")
        if (self.shortened_training_share is None) != (self.pressure_below_officers is None):
            raise ValueError("shortened_training_share and pressure_below_officers go together: give both or neither")
        if self.shortened_training_share is not None and self.training_starts == "at_start":
            raise ValueError("shortened_training_share needs training_starts = 'at_decision': pressure is judged "
                             "when the tranche is decided, and a tranche trained at the start has already trained")
        return self

class ArrearsResponse(Section):
    """A contributor's graded response to unpaid running costs: a pause of new departures, then a
    withdrawal hazard that grows with the length and depth of the arrears (omit the table: neither)."""

    pause_departures_after_days: float | None = Field(
        default=None, ge=0, le=36500,
        description="New departures of this contributor (replacements included) wait, under the condition "
        "'arrears pause', while arrears have lasted at least this many days; they resume when arrears clear "
        "(omit: no pause).",
    )
    withdrawal_hazard_per_year: float = Field(
        default=0.0, ge=0, le=MAX_PER_YEAR,
        description="Rate r of the withdrawal hazard per 365 days: h = r * (a / 30)^shape * (1 + depth_weight * "
        "depth) while arrears have lasted a >= hazard_starts_after_days days (0: no hazard).",
    )
    hazard_shape: float = Field(
        default=1.0, ge=0, le=10,
        description="Exponent on the months (30 days) arrears have lasted in the hazard, 0 to 10 (0: constant).",
    )
    depth_weight: float = Field(
        default=0.0, ge=0, le=1000,
        description="Weight of the depth of arrears in the hazard; depth is the arrears in US$ over 30 days of "
        "running costs at the strength in theatre, measured every billing interval of the stretch.",
    )
    hazard_starts_after_days: float = Field(
        default=0.0, ge=0, le=36500,
        description="Days of unbroken arrears before the withdrawal hazard starts.",
    )


class Force(Section):
    """The lead contributor and how its pledge is split into contingents."""

    lead_contributor: str = Field(description="Name of the lead contributing country.")
    pledged_officers: int = Field(gt=0, le=MAX_OFFICERS, description="Officers the lead contributor pledged.")
    contingent_size: int = Field(
        gt=0, le=MAX_OFFICERS, description="Officers selected, trained and flown together as one contingent."
    )
    training: Training = Field(description="Training of the lead contributor's officers.")
    tour_days: Duration = Field(
        default=365.0, description="Days a contingent serves in theatre before it is due to rotate out."
    )
    replacement_lead_days: float = Field(
        default=120.0,
        ge=0,
        le=36500,
        description="Days before a tour ends that the replacement contingent's training starts.",
    )
    max_extension_days: float = Field(
        default=60.0,
        ge=0,
        le=36500,
        description="Days an outgoing contingent stays past its tour waiting for relief before it leaves anyway.",
    )
    withdraw_after_arrears_days: float | None = Field(
        default=None,
        gt=0,
        description="The lead contributor withdraws once running costs have been in arrears this many days "
        "without a break (omit: never).",
    )
    tranches: Annotated[tuple[Tranche, ...], BeforeValidator(as_tuple)] = Field(
        default=(),
        max_length=100,
        description="The pledge deployed in tranches, each with its own decision, funding check and training "
        "(omit: the whole pledge is one tranche decided on the start date).",
    )
    arrears_response: ArrearsResponse | None = Field(
        default=None, description="The lead's graded response to arrears: pause, then withdrawal hazard (omit: none)."
    )

    @model_validator(mode="after")
    def _fits(self) -> Force:
        if self.training.capacity_officers < self.contingent_size:
            raise ValueError(
                f"training.capacity_officers ({self.training.capacity_officers}) must be at least "
                f"contingent_size ({self.contingent_size}), or no contingent can ever train"
            )
        _check_contingents(self.pledged_officers, self.contingent_size)
        if self.tranches:
            _check_contingents(sum(-(-t.officers // self.contingent_size) * self.contingent_size
                                   for t in self.tranches), self.contingent_size)
        return self

    @field_validator("tranches")
    @classmethod
    def _tranches_add_up(cls, tranches: tuple[Tranche, ...], info: ValidationInfo) -> tuple[Tranche, ...]:
        """Raise a ValueError unless the tranches (if any) add up to ``pledged_officers``."""
        pledged = info.data.get("pledged_officers")
        total = sum(t.officers for t in tranches)
        if tranches and pledged is not None and total != pledged:
            listed = " + ".join(str(t.officers) for t in tranches)
            raise ValueError(f"the tranches' officers add up to {total} ({listed}), but force.pledged_officers "
                             f"is {pledged}; they must be equal")
        return tranches


class Contributor(Section):
    """Another country's pledge of officers, which may be delivered in full, in part or not at all."""

    pledged_officers: int = Field(gt=0, le=MAX_OFFICERS, description="Officers pledged.")
    delivers: float = Field(
        ge=0, le=1, description="Probability that any of the pledge is delivered (drawn once per replication), 0 to 1."
    )
    share_delivered: Share = Field(
        default=1.0, description="Share of the pledge delivered when it is delivered (drawn once), 0 to 1."
    )
    delay_days: Duration = Field(
        description="Days from the lead contributor's first arrival until this contributor's first contingent "
        "is ready to leave."
    )
    contingent_size: int = Field(gt=0, le=MAX_OFFICERS, description="Officers per contingent.")
    days_between_contingents: Duration = Field(
        default=30.0, description="Days between this contributor's successive contingents being ready."
    )
    tour_days: Duration = Field(default=365.0, description="Days a contingent serves before it rotates out.")
    withdraw_after_arrears_days: float | None = Field(
        default=None, gt=0, description="Withdraws after this many days of unbroken arrears (omit: never)."
    )
    arrears_response: ArrearsResponse | None = Field(
        default=None, description="Graded response to arrears: pause, then withdrawal hazard (omit: none)."
    )
    joins: Literal["with_lead", "successor"] = Field(
        default="with_lead",
        description="'with_lead': delay_days counts from the lead's first arrival; 'successor': it counts from "
        "the start of a successor mission (mandate.successor), and the contributor never deploys without one.",
    )

    @model_validator(mode="after")
    def _few_contingents(self) -> Contributor:
        _check_contingents(self.pledged_officers, self.contingent_size)
        return self


class Gate(Section):
    """A named precondition: opens after its dependencies and a drawn time; may be blocked again later."""

    description: str = Field(default="", max_length=10_000, description="What the gate stands for, and its source.")
    open_at_start: bool = Field(default=False, description="Whether the gate is already open on the start date.")
    after: Names = Field(
        default=(),
        description="Gates or milestones that must be open or reached before this gate's clock starts.",
    )
    opens_after_days: Duration = Field(
        default=0.0, description="Days from its dependencies being met until the gate opens."
    )
    blocks_per_year: float = Field(
        default=0.0, ge=0, le=MAX_PER_YEAR,
        description="Rate of new blocks (e.g. court orders) while open, per 365 days.",
    )
    block_days: Duration = Field(default=0.0, description="Days one block lasts.")


class Steps(Section):
    """Which gates each step of the deployment needs."""

    reconnaissance: Names = Field(default=(), description="Gates the reconnaissance needs.")
    base_construction: Names = Field(default=(), description="Gates base construction needs.")
    departure: Names = Field(
        default=(), description="Gates every departure of the lead contributor's contingents needs."
    )
    partner_departure: Names = Field(
        default=(),
        description="Gates every departure of another contributor's contingents needs (the lead's national "
        "clearances do not bind them).",
    )


class Successor(Section):
    """A renewal that changes the mission: a new ceiling and new contributors, the lead handing over."""

    probability: float = Field(
        ge=0, le=1,
        description="Chance, 0 to 1, that a renewal starts a successor mission instead of plainly continuing "
        "(at most one successor per replication).",
    )
    ceiling_officers: int = Field(
        gt=0, le=MAX_OFFICERS,
        description="Officers the successor mission may have in theatre or on the way: no departure beyond it.",
    )
    handover_days: float = Field(
        default=90.0, ge=0, le=36500,
        description="Days from the successor's start until the lead hands over (when lead_draws_down).",
    )
    lead_draws_down: bool = Field(
        default=True,
        description="After the handover the lead sends no more contingents or replacements, and each of its "
        "contingents leaves at the end of its tour (at once if the tour is already over).",
    )


class Mandate(Section):
    """The international authorisation the force operates under, renewed or not at each expiry."""

    expires_on: CalendarDate = Field(description="Date the current authorisation expires.")
    renewal_probability: float = Field(
        ge=0, le=1, description="Probability that each expiry brings a renewal, 0 to 1."
    )
    term_days: float = Field(default=365.0, ge=1, le=36500, description="Days each renewal adds (at least 1).")
    drawdown_days: Duration = Field(
        default=90.0, description="Days after a lapse until every officer has left theatre."
    )
    renewal_probability_if_below_plan: float | None = Field(
        default=None, ge=0, le=1,
        description="Renewal probability, 0 to 1, when the strength in theatre at expiry is below plan_share of "
        "the planned strength (mission_size_officers, or the successor's ceiling); when several state "
        "probabilities apply the lowest is used, when none applies renewal_probability (omit: not used).",
    )
    plan_share: float = Field(
        default=0.5, ge=0, le=1,
        description="Share, 0 to 1, of the planned strength below which renewal_probability_if_below_plan applies.",
    )
    renewal_probability_if_short_of_money: float | None = Field(
        default=None, ge=0, le=1,
        description="Renewal probability, 0 to 1, when running costs are in arrears at expiry (omit: not used).",
    )
    successor: Successor | None = Field(
        default=None, description="A renewal may start a successor mission (omit: renewals only continue)."
    )


class BaseStage(Section):
    """One step of base construction."""

    capacity_officers: int = Field(gt=0, le=MAX_OFFICERS, description="Officers this stage can house.")
    cost_usd: Duration = Field(description="Cost of the stage, paid from the trust fund before work starts, US$.")
    duration_days: Duration = Field(description="Days the stage takes to build once paid for.")


class Base(Section):
    """Housing in theatre: officers can land only if there is room for them."""

    initial_capacity_officers: int = Field(
        default=0, ge=0, le=MAX_OFFICERS, description="Officers housed before any construction."
    )
    starts_after: Literal["start", "administration_viable", "recon_done"] = Field(
        default="recon_done",
        description="What construction waits for: 'start' (nothing), 'administration_viable' (a viable "
        "administration) or 'recon_done' (the reconnaissance's findings).",
    )
    stages: Annotated[tuple[BaseStage, ...], BeforeValidator(as_tuple)] = Field(
        default=(), max_length=100, description="Construction stages, built one after another."
    )


class Attrition(Section):
    """Officers lost from theatre, per officer-year of service."""

    injuries_per_officer_year: float = Field(
        default=0.0, ge=0, description="Injuries needing evacuation, per officer-year in theatre."
    )
    casualties_per_officer_year: float = Field(default=0.0, ge=0, description="Deaths, per officer-year in theatre.")
    resignations_per_officer_year: float = Field(
        default=0.0, ge=0, description="Resignations and desertions, per officer-year in theatre."
    )
    arrears_resignation_multiplier: float = Field(
        default=1.0, ge=1, description="Factor (at least 1) on the resignation rate while pay is in arrears."
    )
    interval_days: float = Field(
        default=30.0, ge=1, le=36500, description="Days between counts of losses (at least 1)."
    )


class Airport(Section):
    """The theatre's international airport, which gang violence can close."""

    closed_at_start: bool = Field(description="Whether the airport is closed on the start date.")
    initial_closure_days: Duration = Field(
        default=0.0, description="Days until the closure in force on the start date ends."
    )
    closures_per_year: float = Field(
        ge=0, le=MAX_PER_YEAR, description="Rate at which new closures begin while the airport is open, per 365 days."
    )
    closure_days: Duration = Field(description="Days one new closure lasts.")


class Airlift(Section):
    """Aircraft that carry contingents into theatre."""

    seats_per_flight: int = Field(gt=0, le=MAX_OFFICERS, description="Officers one flight can carry.")
    days_between_flights: Duration = Field(
        description="Days the airlift needs between two departures (turnaround)."
    )
    flight_days: Duration = Field(default=1.0, description="Days from departure to arrival in theatre.")


class Logistics(Section):
    """Getting there: the airport and the airlift."""

    airport: Airport = Field(description="The theatre's international airport and its closures.")
    airlift: Airlift = Field(description="Aircraft that carry contingents into theatre.")


class Scenario(Section):
    """A fully resolved scenario: everything one replication needs, and nothing else."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100,
        description="Short name (letters, digits, '_', '-', '.'; not starting with '.'); names the results folder.",
    )
    description: str = Field(default="", max_length=10_000, description="What question this scenario answers.")
    start_date: CalendarDate = Field(description="Day 0 of the simulation: what is known is as of this date.")
    horizon_days: int = Field(gt=0, le=36500, description="Days simulated after the start date.")
    mission_size_officers: int = Field(
        default=2500, gt=0, le=1_000_000, description="The mission's planned strength across all contributors."
    )
    governance: Governance = Field(description="The political transition the deployment waits for.")
    reconnaissance: Reconnaissance = Field(description="The lead contributor's assessment mission.")
    gates: dict[str, Gate] = Field(default_factory=dict, max_length=200, description="Named preconditions by name.")
    steps: Steps = Field(default_factory=Steps, description="Which gates each step needs.")
    mandate: Mandate | None = Field(default=None, description="The authorisation and its renewals (omit: none).")
    funding: Funding = Field(description="The trust fund, its donors and what the mission costs.")
    force: Force = Field(description="The lead contributor's force: pledge, contingents, training, tours.")
    contributors: dict[str, Contributor] = Field(
        default_factory=dict, max_length=100, description="Other contributing countries by name."
    )
    base: Base = Field(default_factory=Base, description="Housing in theatre (omit: unlimited).")
    attrition: Attrition = Field(default_factory=Attrition, description="Losses in theatre.")
    logistics: Logistics = Field(description="Getting there: the airport and the airlift.")

    @model_validator(mode="after")
    def _names_resolve(self) -> Scenario:
        problems = reference_problems(self.model_dump(mode="python", by_alias=True))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def unlimited_base(self) -> bool:
        """True when no base is modelled (no initial capacity and no stages): housing never binds."""
        return self.base.initial_capacity_officers == 0 and not self.base.stages

    def date_of(self, day: float) -> dt.date:
        """Calendar date of a simulation day (days since ``start_date``; fractions are dropped)."""
        return self.start_date + dt.timedelta(days=int(day))

    def day_of(self, date: dt.date) -> float:
        """Simulation day of a calendar date (negative before the start)."""
        return float((date - self.start_date).days)


def _check_contingents(officers: int, size: int) -> None:
    """Raise a ValueError if a pledge would be split into more than :data:`MAX_CONTINGENTS` contingents."""
    count = -(-officers // size)
    if count > MAX_CONTINGENTS:
        raise ValueError(
            f"contingent_size: {officers} officers in contingents of {size} make {count} contingents; at most "
            f"{MAX_CONTINGENTS} are allowed (use larger contingents)"
        )


def _table(data: dict, key: str) -> dict:
    """``data[key]`` if it is a table, else an empty one (raw data may have any shape)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def reference_problems(data: Any) -> list[str]:
    """Every cross-reference problem of a scenario's data, one message each, starting with the key it is about.

    Works on raw (not yet validated) data as well as on a valid scenario's dump, skipping whatever
    has the wrong shape, so that a file's reference problems are reported together with its other
    errors: names in ``gates.<g>.after``, ``steps.*`` and ``force.tranches[k].after`` that are not
    defined, cycles among gates, the lead contributor repeated among ``contributors``, and a mandate
    expiring before the start.
    """
    if not isinstance(data, dict):
        return []
    problems: list[str] = []
    gates = _table(data, "gates")
    listed = ", ".join(sorted(map(str, gates))) or "none"
    deps: dict[str, list[str]] = {}
    for name, gate in gates.items():
        after = gate.get("after", ()) if isinstance(gate, dict) else ()
        after = after if isinstance(after, list | tuple) else ()
        deps[name] = [d for d in after if isinstance(d, str) and d in gates]
        for dep in after:
            if isinstance(dep, str) and dep not in gates and dep not in MILESTONES:
                problems.append(
                    f"gates.{name}.after names '{dep}', which is neither a gate nor a milestone "
                    f"(gates: {listed}){_hint(dep, [*gates, *MILESTONES])}"
                )
    steps = _table(data, "steps")
    for step in ("reconnaissance", "base_construction", "departure", "partner_departure"):
        named = steps.get(step, ())
        for gate in named if isinstance(named, list | tuple) else ():
            if isinstance(gate, str) and gate not in gates:
                problems.append(
                    f"steps.{step} names gate '{gate}', which is not defined under [gates] "
                    f"(gates: {listed}){_hint(gate, gates)}"
                )
    try:
        _check_acyclic(deps)
    except ValueError as exc:
        problems.append(str(exc))
    force = _table(data, "force")
    tranches = force.get("tranches", ())
    for k, tranche in enumerate(tranches if isinstance(tranches, list | tuple) else (), start=1):
        after = tranche.get("after", ()) if isinstance(tranche, dict) else ()
        for dep in after if isinstance(after, list | tuple) else ():
            if isinstance(dep, str) and dep not in gates and dep not in MILESTONES:
                problems.append(
                    f"force.tranches: tranche {k}'s after names '{dep}', which is neither a gate nor a milestone "
                    f"(gates: {listed}){_hint(dep, [*gates, *MILESTONES])}"
                )
    contributors = _table(data, "contributors")
    lead = force.get("lead_contributor")
    if isinstance(lead, str) and lead in contributors:
        problems.append(f"contributors.{lead} repeats the lead contributor")
    funding = _table(data, "funding")
    named = {lead, *contributors} if isinstance(lead, str) else set(contributors)
    owners = [(f"funding.channels.{n}.contributor", _table(_table(funding, "channels"), n).get("contributor"))
              for n in _table(funding, "channels")]
    owners.append(("funding.prefinance.contributor", _table(funding, "prefinance").get("contributor")))
    for key, who in owners:
        if isinstance(who, str) and who not in named:
            problems.append(f"{key} is '{who}', which is neither the lead contributor nor one of the contributors"
                            f"{_hint(who, named)}")
    mandate = _table(data, "mandate")
    start, expiry = data.get("start_date"), mandate.get("expires_on")
    if (isinstance(start, dt.date) and isinstance(expiry, dt.date) and not isinstance(start, dt.datetime)
            and not isinstance(expiry, dt.datetime) and expiry < start):
        problems.append(f"mandate.expires_on is {expiry}, before start_date ({start}): the mandate would "
                        "have lapsed before the simulation starts")
    return problems


def _hint(word: str, candidates: Any) -> str:
    """A did-you-mean suffix for a misspelt name, or nothing."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _check_acyclic(deps: dict[str, list[str]]) -> None:
    """Raise a ValueError naming a cycle among gate dependencies, if there is one."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in deps.get(node, []):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep] if dep in path else [node, dep]
                raise ValueError(f"gate dependencies form a cycle: {' -> '.join(cycle)}")
            if state.get(dep) is None:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in deps:
        if node not in state:
            visit(node, [node])
