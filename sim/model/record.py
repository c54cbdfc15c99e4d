"""What one replication returns: milestones, binding constraints, totals, step series and a trace.

A :class:`Record` is built by the model (:mod:`sim.model`) and flattened by the batch runner
(:mod:`sim.batch.runner`) into one row of the replications table plus daily samples of its series.
Records are plain data: no SimPy objects, so they pickle cheaply across processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.model.critical import Chain, days_by_cause
from sim.scenario.milestones import GATED_MILESTONES, MILESTONES

if TYPE_CHECKING:
    from sim.scenario.schema import Scenario


#: Totals every record carries, with their meaning.
TOTALS: dict[str, str] = {
    "peak_in_theatre": "Most officers in theatre at once, all contributors",
    "peak_in_theatre_lead": "Most of the lead contributor's officers in theatre at once",
    "peak_day_lead": "Day the lead contributor's strength first reached its peak (NaN: none ever landed)",
    "officer_days": "Officer-days in theatre up to the horizon, all contributors",
    "contingents_flown": "Contingents that departed (replacements included)",
    "flights": "Flights flown into theatre",
    "holds": "Holds the lead contributor went on after the administration was viable",
    "hold_days": "Days on hold",
    "recon_aborts": "Reconnaissance attempts aborted by a hold",
    "pledged_usd": "Money pledged to the trust fund (US$)",
    "received_usd": "Money received by the trust fund (US$)",
    "spent_usd": "Money spent from the trust fund (US$)",
    "final_balance_usd": "Trust-fund balance at the horizon (US$)",
    "arrears_days": "Days with running costs unpaid",
    "arrears_usd_at_horizon": "Running costs unpaid at the horizon (US$)",
    "airport_closed_days": "Days the airport was closed",
    "airport_closures": "Airport closures begun (including one in force at the start)",
    "airport_delay_days": "Days flights were ready but waited for the airport to reopen",
    "gate_blocked_days": "Days some named gate was closed after it had first opened",
    "base_capacity_at_horizon": "Officers the base can house at the horizon",
    "injuries": "Officers evacuated injured",
    "casualties": "Officers killed",
    "resignations": "Officers who resigned",
    "rotations": "Contingents relieved by their replacement",
    "officers_rotated_out": "Officers who left theatre at the end of a tour",
    "officers_withdrawn": "Officers withdrawn (contributor withdrawal or mandate drawdown)",
    "contributors_delivering": "Other contributors that delivered any officers",
}

#: Step series every record carries (per-contributor series are added as ``in_theatre.<name>``).
SERIES: dict[str, str] = {
    "in_theatre": "Officers in theatre, all contributors",
    "fund_balance_usd": "Trust-fund balance (US$)",
    "base_capacity": "Officers the base can house",
}

#: Columns of a contributor's ledger, the accounts that must always add up.
LEDGER = ("trained", "departed", "landed", "in_theatre", "rotated_out", "lost", "withdrawn")


def contributor_series(name: str) -> str:
    """Name of the step series of one contributor's officers in theatre."""
    return f"in_theatre.{name}"


def series_names(scenario: Scenario) -> list[str]:
    """Every step series a replication of ``scenario`` records, in a stable order."""
    contributors = [scenario.force.lead_contributor, *scenario.contributors]
    return [*SERIES, *(contributor_series(name) for name in contributors)]


def series_label(name: str) -> str:
    """What a series measures, for axis labels."""
    if name in SERIES:
        return SERIES[name]
    if name.startswith("in_theatre."):
        return f"{name.removeprefix('in_theatre.')}'s officers in theatre"
    return name


@dataclass(frozen=True)
class TraceEvent:
    """One dated event of a replication's story.

    ``event`` and ``details`` are the words a reader sees; the other fields say the same as data, so
    that nothing downstream has to parse the words back.

    Attributes:
        day: When it happened (days since the start date).
        subsystem: The model's subsystem that logged it (``force``, ``funding``, ``milestone``...).
        event: What happened, in words.
        details: Figures that go with it, in words.
        kind: What happened, as a fixed name (see :data:`RELEASE_KINDS` and the model's ``log`` calls).
        contingent: The contingent concerned (``Kenya #3``), if any.
        name: The gate, donor, milestone or contributor concerned, if any.
        condition: The condition a step waits for (``funding``, ``airlift``...), for ``waits``.
        officers: Officers concerned, if any.
        amount_usd: Money concerned, if any.
        days: A drawn duration that begins here (a hold, a closure, a block), if any.
    """

    day: float
    subsystem: str
    event: str
    details: str = ""
    kind: str = ""
    contingent: str | None = None
    name: str | None = None
    condition: str | None = None
    officers: float | None = None
    amount_usd: float | None = None
    days: float | None = None


#: Kinds of trace event that open a condition some step may be waiting for: a wait that ends at the
#: same instant as one of them ended because of it.
RELEASE_KINDS = frozenset({
    "stage_ready", "tranche_paid", "gate_opens", "gate_reopens", "hold_lifted", "airport_reopens", "recon_back",
    "administration_viable", "flight_leaves", "flight_lands", "relieved", "leaves_unrelieved", "losses",
    "withdrawal", "arrears_cleared",
})

#: Columns of :meth:`Record.trace_frame`.
TRACE_COLUMNS = ("day", "subsystem", "event", "details", "kind", "contingent", "name", "condition", "officers",
                 "amount_usd", "days")


@dataclass(frozen=True)
class Record:
    """The outcome of one replication.

    Attributes:
        replication: Index within the batch.
        seed: The batch seed.
        milestones: Day each milestone was reached, NaN if not by the horizon.
        binding: For the milestones in :data:`GATED_MILESTONES`, the last condition that made the step
            reaching it wait (``training``, ``administration``, ``reconnaissance``, ``hold``, ``mandate``,
            a gate's name, ``funding``, ``base``, ``airlift``, ``airport``...); absent when nothing
            made it wait (``none`` in the row, or NA when the milestone was not reached).
        totals: Named totals (see :data:`TOTALS`).
        series: Step series as ``(days, values)``: each value holds from its day until the next.
        trace: The dated events, when the replication was run with ``trace=True``.
        intervals: With ``trace=True``, the spans a timeline draws: ``(lane, start, end, label)``.
        ledger: With ``trace=True``, each contributor's accounts after every change:
            ``(day, contributor, *LEDGER)``.
        critical_paths: For each milestone reached, where its days went: segments ``(cause, start,
            end)`` that follow each other from day 0 to the milestone's day (:mod:`sim.model.critical`).
    """

    replication: int
    seed: int
    milestones: dict[str, float]
    binding: dict[str, str]
    totals: dict[str, float]
    series: dict[str, tuple[np.ndarray, np.ndarray]]
    trace: tuple[TraceEvent, ...] | None = field(default=None, compare=False)
    intervals: tuple[tuple[str, float, float, str], ...] | None = field(default=None, compare=False)
    ledger: tuple[tuple, ...] | None = field(default=None, compare=False)
    critical_paths: dict[str, Chain] = field(default_factory=dict)

    def row(self) -> dict[str, object]:
        """The record as one flat row: ``<milestone>_day``, ``<milestone>_binding`` and the totals.

        Example:
            >>> from sim import load_scenario, simulate
            >>> row = simulate(load_scenario("baseline"), seed=1, replication=7).row()
            >>> row["replication"], row["seed"], "first_arrival_day" in row, "first_arrival_binding" in row
            (7, 1, True, True)
        """
        row: dict[str, object] = {"replication": self.replication, "seed": self.seed}
        for name in MILESTONES:
            row[f"{name}_day"] = self.milestones.get(name, math.nan)
        for name in GATED_MILESTONES:
            # Reached without waiting for anything: "none", so shares count every run that reached it.
            default = "none" if name in self.milestones else None
            row[f"{name}_binding"] = self.binding.get(name, default)
        row.update(self.totals)
        return row

    def delay_rows(self) -> list[tuple[int, str, str, float]]:
        """Days per cause along each reached milestone's critical path: ``(replication, milestone, cause, days)``.

        The days of one milestone add up to its day.

        Example:
            >>> from sim import load_scenario, simulate
            >>> rec = simulate(load_scenario("baseline"), seed=1, replication=7)
            >>> rows = [r for r in rec.delay_rows() if r[1] == "first_arrival"]
            >>> abs(sum(days for *_, days in rows) - rec.milestones["first_arrival"]) < 1e-9
            True
        """
        return [
            (self.replication, milestone, cause, days)
            for milestone, chain in self.critical_paths.items()
            for cause, days in days_by_cause(chain).items()
        ]

    def critical_path_frame(self, milestone: str) -> pd.DataFrame:
        """The segments of one milestone's critical path: columns ``cause, start, end, days``
        (empty if the milestone was not reached)."""
        segments = self.critical_paths.get(milestone, ())
        frame = pd.DataFrame(list(segments), columns=["cause", "start", "end"])
        frame["days"] = frame["end"] - frame["start"]
        return frame

    def ledger_frame(self) -> pd.DataFrame:
        """The contributors' ledgers as a DataFrame (empty if the replication was not traced)."""
        return pd.DataFrame(list(self.ledger or ()), columns=["day", "contributor", *LEDGER])

    def intervals_frame(self) -> pd.DataFrame:
        """The timeline's spans as a DataFrame (empty if the replication was not traced)."""
        return pd.DataFrame(list(self.intervals or ()), columns=["lane", "start", "end", "label"])

    def daily(self, name: str, horizon_days: int) -> np.ndarray:
        """Series ``name`` at the end of each day 0..horizon_days (changes during day d count on day d)."""
        days, values = self.series[name]
        grid = np.arange(1, horizon_days + 2, dtype=float)
        idx = np.searchsorted(days, grid, side="left") - 1
        return np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)

    def trace_frame(self) -> pd.DataFrame:
        """The trace as a DataFrame (empty if the replication was not traced).

        Example:
            >>> from sim import load_scenario, simulate
            >>> rec = simulate(load_scenario("baseline"), seed=1, replication=7, trace=True)
            >>> story = rec.trace_frame()
            >>> list(story.columns)[:5], bool(story["day"].is_monotonic_increasing)
            (['day', 'subsystem', 'event', 'details', 'kind'], True)
        """
        events = self.trace or ()
        return pd.DataFrame([[getattr(e, c) for c in TRACE_COLUMNS] for e in events], columns=list(TRACE_COLUMNS))
