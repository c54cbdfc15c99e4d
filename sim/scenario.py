"""The scenario schema: the single source of truth for what a scenario file may say.

A scenario file (TOML) is read and merged by :mod:`sim.loader`, then validated into the frozen
:class:`Scenario` below; that resolved object is what one replication consumes and what a results
folder saves. Every field says its unit; every uncertain input is a distribution (see
:mod:`sim.distributions`). Unknown keys are rejected everywhere, so a misspelt key cannot silently
fall back to a default.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from sim.distributions import Distribution, Duration


def _share(d: Any) -> Any:
    if d.lower_bound() < 0 or d.quantile(1 - 1e-12) > 1:
        raise ValueError(f"a share must lie between 0 and 1, but this {d.dist} distribution does not")
    return d


#: A distribution of a share between 0 and 1 (e.g. the part of a pledge that is paid).
Share = Annotated[Distribution, AfterValidator(_share)]


class Section(BaseModel):
    """Base of every scenario table: frozen, unknown keys, NaN and infinity rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Governance(Section):
    """Haiti's political transition: crisis, then a transitional authority, then a viable administration."""

    transitional_authority_days: Duration = Field(
        description="Days from the start date until a transitional authority (council, interim PM) is named."
    )
    viable_administration_days: Duration = Field(
        description="Days from the authority being named until a viable administration is installed."
    )


class Reconnaissance(Section):
    """The lead contributor's assessment mission, which waits for a viable administration."""

    lead_time_days: Duration = Field(
        description="Days from the administration becoming viable until the team leaves."
    )
    duration_days: Duration = Field(description="Days the reconnaissance takes, door to door.")


class Pledge(Section):
    """One donor's pledge to the trust fund, paid in equal tranches after drawn lags."""

    amount_usd: float = Field(ge=0, description="Amount pledged to the trust fund, US dollars.")
    pledged_on: dt.date = Field(
        description="Date of the pledge. Lags count from the later of this and the start date."
    )
    tranches: int = Field(default=1, ge=1, description="Number of equal tranches.")
    tranche_lag_days: Duration = Field(
        description="Days from the pledge (or the previous tranche) until a tranche is paid."
    )
    paid_share: Share = Field(
        default=1.0,
        description="Share of the pledge the donor ever pays (drawn once per replication), 0 to 1.",
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

    initial_balance_usd: float = Field(ge=0, description="Trust-fund balance on the start date, US dollars.")
    runway_days: float = Field(
        ge=0,
        description="Days of running costs (at the strength after the departure) the fund must hold "
        "beyond a contingent's deployment cost before that contingent may leave.",
    )
    billing_interval_days: float = Field(
        default=30.0, gt=0, description="Days between settlements of running costs."
    )
    costs: Costs
    pledges: dict[str, Pledge] = Field(default_factory=dict, description="Donor pledges by donor name.")


class Training(Section):
    """Force generation: officers trained in cohorts, limited by the number of training seats."""

    capacity_officers: int = Field(gt=0, description="Officers who can be in training at once.")
    duration_days: Duration = Field(description="Days one cohort takes to train.")
    starts: Literal["at_start", "after_viable_administration"] = Field(
        default="at_start",
        description="Whether training runs ahead of the political decision or waits for it.",
    )


class Force(Section):
    """The lead contributor and how its pledge is split into contingents."""

    lead_contributor: str = Field(description="Name of the lead contributing country.")
    pledged_officers: int = Field(gt=0, description="Officers the lead contributor pledged.")
    contingent_size: int = Field(
        gt=0, description="Officers selected, trained and flown together as one contingent."
    )
    training: Training

    @model_validator(mode="after")
    def _fits(self) -> Force:
        if self.training.capacity_officers < self.contingent_size:
            raise ValueError(
                f"training.capacity_officers ({self.training.capacity_officers}) must be at least "
                f"contingent_size ({self.contingent_size}), or no contingent can ever train"
            )
        return self


class Airport(Section):
    """The theatre's international airport, which gang violence can close."""

    closed_at_start: bool = Field(description="Whether the airport is closed on the start date.")
    initial_closure_days: Duration = Field(
        default=0.0, description="Days until the closure in force on the start date ends."
    )
    closures_per_year: float = Field(
        ge=0, description="Rate at which new closures begin while the airport is open, per 365 days."
    )
    closure_days: Duration = Field(description="Days one new closure lasts.")


class Airlift(Section):
    """Aircraft that carry contingents into theatre."""

    seats_per_flight: int = Field(gt=0, description="Officers one flight can carry.")
    days_between_flights: Duration = Field(
        description="Days the airlift needs between two departures (turnaround)."
    )
    flight_days: Duration = Field(default=1.0, description="Days from departure to arrival in theatre.")


class Logistics(Section):
    """Getting there: the airport and the airlift."""

    airport: Airport
    airlift: Airlift


class Scenario(Section):
    """A fully resolved scenario: everything one replication needs, and nothing else."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Short name; names the results folder.")
    description: str = Field(default="", description="What question this scenario answers.")
    start_date: dt.date = Field(description="Day 0 of the simulation: what is known is as of this date.")
    horizon_days: int = Field(gt=0, le=36500, description="Days simulated after the start date.")
    governance: Governance
    reconnaissance: Reconnaissance
    funding: Funding
    force: Force
    logistics: Logistics

    def date_of(self, day: float) -> dt.date:
        """Calendar date of a simulation day (days since ``start_date``; fractions are dropped)."""
        return self.start_date + dt.timedelta(days=int(day))

    def day_of(self, date: dt.date) -> float:
        """Simulation day of a calendar date (negative before the start)."""
        return float((date - self.start_date).days)
