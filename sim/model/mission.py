"""One replication: build the environment, start every subsystem, run to the horizon, record.

The :class:`Mission` is the shared context the subsystems receive: the SimPy environment, the
scenario, the random streams, and the recorder of milestones, series and trace. Subsystems talk to
each other through the SimPy events they expose (``governance.viable``, ``reconnaissance.done``...).
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.model.deployment import Deployment
from sim.model.force import ForceGeneration
from sim.model.funding import TrustFund
from sim.model.governance import Governance
from sim.model.logistics import Airlift, Airport
from sim.model.reconnaissance import Reconnaissance
from sim.record import Record, TraceEvent
from sim.rng import Streams
from sim.scenario import Scenario


class Mission:
    """The context of one replication, shared by every subsystem.

    Args:
        scenario: The resolved scenario.
        seed: The batch seed.
        replication: The replication index; with ``seed`` it fixes every random draw.
        trace: Whether to keep the dated event trace.
    """

    def __init__(self, scenario: Scenario, seed: int, replication: int = 0, trace: bool = False):
        self.scenario = scenario
        self.seed = seed
        self.replication = replication
        self.env = simpy.Environment()
        self.rng = Streams(seed, replication)
        self.milestones: dict[str, float] = {}
        self.binding: dict[str, str] = {}
        self._trace: list[TraceEvent] | None = [] if trace else None

        self.governance = Governance(self)
        self.reconnaissance = Reconnaissance(self)
        self.airport = Airport(self)
        self.airlift = Airlift(self)
        self.fund = TrustFund(self)
        self.force = ForceGeneration(self)
        self.deployment = Deployment(self)

    @property
    def now(self) -> float:
        """Current simulation day."""
        return self.env.now

    def log(self, subsystem: str, event: str, details: str = "") -> None:
        """Add an event to the trace (a no-op unless tracing)."""
        if self._trace is not None:
            self._trace.append(TraceEvent(self.env.now, subsystem, event, details))

    def reach(self, milestone: str, binding: str | None = None) -> None:
        """Mark a milestone as reached now, unless it was reached before."""
        if milestone not in self.milestones:
            self.milestones[milestone] = self.env.now
            if binding is not None:
                self.binding[milestone] = binding
            self.log("milestone", milestone, f"binding: {binding}" if binding else "")

    def run(self) -> Record:
        """Run to the horizon and return the record."""
        horizon = self.scenario.horizon_days
        self.env.run(until=horizon)
        self.fund.close_books(horizon)
        self.airport.close_books(horizon)
        self.deployment.close_books(horizon)
        totals = {
            **self.deployment.totals(),
            **self.fund.totals(),
            **self.airport.totals(),
            "flights": float(self.airlift.flights),
        }
        milestones = {k: v for k, v in self.milestones.items() if v <= horizon}
        return Record(
            replication=self.replication,
            seed=self.seed,
            milestones=milestones,
            binding={k: v for k, v in self.binding.items() if k in milestones},
            totals=totals,
            series={
                "in_theatre": self.deployment.in_theatre_series.arrays(),
                "fund_balance_usd": self.fund.balance_series.arrays(),
            },
            trace=None if self._trace is None else tuple(self._trace),
        )


def simulate(scenario: Scenario, seed: int = 0, replication: int = 0, trace: bool = False) -> Record:
    """Run one replication.

    A pure function: the same scenario, seed and replication give the same record, whatever ran
    before and in whichever process.

    Args:
        scenario: The resolved scenario (see :func:`sim.load_scenario`).
        seed: The batch seed.
        replication: Which replication of the batch this is.
        trace: Keep the dated event trace in ``record.trace``.

    Example:
        >>> from sim import load_scenario, simulate
        >>> rec = simulate(load_scenario("scenarios/baseline.toml"), seed=1)
        >>> rec.totals["peak_in_theatre"] <= 1000
        True
    """
    if not isinstance(seed, int | np.integer) or seed < 0 or isinstance(seed, bool):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return Mission(scenario, int(seed), replication, trace).run()

