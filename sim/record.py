"""What one replication returns: milestones, binding constraints, totals, step series and a trace.

A :class:`Record` is built by the model (:mod:`sim.model`) and flattened by the batch runner
(:mod:`sim.runner`) into one row of the replications table plus daily samples of its series.
Records are plain data: no SimPy objects, so they pickle cheaply across processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Milestones in the order they normally occur, with the label a reader sees.
MILESTONES: dict[str, str] = {
    "authority_named": "Transitional authority named",
    "administration_viable": "Viable administration installed",
    "recon_started": "Reconnaissance leaves",
    "recon_done": "Reconnaissance done",
    "first_departure": "First contingent departs",
    "first_arrival": "First contingent lands",
    "lead_25pct": "25% of the lead pledge in theatre",
    "lead_50pct": "50% of the lead pledge in theatre",
    "lead_75pct": "75% of the lead pledge in theatre",
    "lead_100pct": "100% of the lead pledge in theatre",
}

#: Milestones reached by a contingent's departure or arrival, which carry a binding constraint.
GATED_MILESTONES = ("first_departure", "first_arrival", "lead_25pct", "lead_50pct", "lead_75pct", "lead_100pct")

#: Totals every record carries, with their meaning.
TOTALS: dict[str, str] = {
    "peak_in_theatre": "Most officers in theatre at once",
    "officer_days": "Officer-days in theatre up to the horizon",
    "contingents_flown": "Contingents that departed",
    "flights": "Flights flown",
    "pledged_usd": "Money pledged to the trust fund (US$)",
    "received_usd": "Money received by the trust fund (US$)",
    "spent_usd": "Money spent from the trust fund (US$)",
    "final_balance_usd": "Trust-fund balance at the horizon (US$)",
    "arrears_days": "Days with running costs unpaid",
    "arrears_usd_at_horizon": "Running costs unpaid at the horizon (US$)",
    "airport_closed_days": "Days the airport was closed",
    "airport_closures": "Airport closures begun (including one in force at the start)",
}

#: Step series every record carries.
SERIES: dict[str, str] = {
    "in_theatre": "Officers in theatre",
    "fund_balance_usd": "Trust-fund balance (US$)",
}


@dataclass(frozen=True)
class TraceEvent:
    """One dated event of a replication's story."""

    day: float
    subsystem: str
    event: str
    details: str = ""


@dataclass(frozen=True)
class Record:
    """The outcome of one replication.

    Attributes:
        replication: Index within the batch.
        seed: The batch seed.
        milestones: Day each milestone was reached, NaN if not by the horizon.
        binding: For milestones reached by a contingent's arrival, the last constraint that held
            that contingent back (``training``, ``administration``, ``reconnaissance``, ``funding``,
            ``airlift``, ``airport``), or ``none`` if nothing made it wait.
        totals: Named totals (see :data:`TOTALS`).
        series: Step series as ``(days, values)``: each value holds from its day until the next.
        trace: The dated events, when the replication was run with ``trace=True``.
    """

    replication: int
    seed: int
    milestones: dict[str, float]
    binding: dict[str, str]
    totals: dict[str, float]
    series: dict[str, tuple[np.ndarray, np.ndarray]]
    trace: tuple[TraceEvent, ...] | None = field(default=None, compare=False)

    def row(self) -> dict[str, object]:
        """The record as one flat row: ``<milestone>_day``, ``<milestone>_binding`` and the totals."""
        row: dict[str, object] = {"replication": self.replication, "seed": self.seed}
        for name in MILESTONES:
            row[f"{name}_day"] = self.milestones.get(name, math.nan)
        for name in GATED_MILESTONES:
            row[f"{name}_binding"] = self.binding.get(name)
        row.update(self.totals)
        return row

    def daily(self, name: str, horizon_days: int) -> np.ndarray:
        """Series ``name`` at the end of each day 0..horizon_days (changes during day d count on day d)."""
        days, values = self.series[name]
        grid = np.arange(1, horizon_days + 2, dtype=float)
        idx = np.searchsorted(days, grid, side="left") - 1
        return np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)

    def trace_frame(self) -> pd.DataFrame:
        """The trace as a DataFrame (empty if the replication was not traced)."""
        events = self.trace or ()
        return pd.DataFrame(
            [(e.day, e.subsystem, e.event, e.details) for e in events],
            columns=["day", "subsystem", "event", "details"],
        )
