"""One replication: build the environment, start every subsystem, run to the horizon, record.

The :class:`Mission` is the shared context the subsystems receive: the SimPy environment, the
scenario, the random streams, and the recorder of milestones, series and trace. Subsystems talk to
each other through the SimPy events they expose (``governance.viable``, ``reconnaissance.done``...).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import simpy

from sim.model.base import Base
from sim.model.critical import EMPTY, Chain, extend
from sim.model.deployment import Deployment
from sim.model.force import ContributorForce, build_forces
from sim.model.funding import TrustFund
from sim.model.gates import Gates
from sim.model.governance import Governance
from sim.model.logistics import Airport
from sim.model.mandate import Mandate
from sim.model.operations import Operations
from sim.model.reconnaissance import Reconnaissance
from sim.model.record import LEDGER, Record, TraceEvent, contributor_series
from sim.model.rng import Streams
from sim.scenario.asof import AsOf
from sim.scenario.distributions import _Dist
from sim.scenario.milestones import MILESTONES
from sim.scenario.schema import Scenario

#: Generation-0 threshold of the garbage collector while replications run. A replication allocates
#: tens of thousands of short-lived objects, none in reference cycles that outlive it for long; at
#: Python's default (700) the collector runs every few events and keeps traversing the long-lived
#: objects (the scenario, modules, a notebook's data).
GC_THRESHOLD = 50_000


@contextmanager
def rare_collections() -> Iterator[None]:
    """Raise the collector's generation-0 threshold for the block, then restore it. Memory stays
    bounded: collections still happen, just every ``GC_THRESHOLD`` allocations."""
    saved = gc.get_threshold()
    if saved[0] >= GC_THRESHOLD or saved[0] == 0:
        yield
        return
    gc.set_threshold(GC_THRESHOLD, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


class Mission:
    """The context of one replication, shared by every subsystem.

    Args:
        scenario: The resolved scenario.
        seed: The batch seed.
        replication: The replication index; with ``seed`` it fixes every random draw.
        trace: Whether to keep the dated event trace, the timeline's spans and the ledgers.
        as_of: For a re-forecast, the observed history to hold fixed before its as-of date
            (see :mod:`sim.scenario.asof`).
    """

    def __init__(self, scenario: Scenario, seed: int, replication: int = 0, trace: bool = False,
                 as_of: AsOf | None = None):
        self.scenario = scenario
        self.as_of = as_of
        #: The as-of day of a re-forecast (0 otherwise): before it, only observed holds, closures,
        #: blocks, landings and withdrawals happen.
        self.history_until = 0.0 if as_of is None else as_of.day
        self._pinned: dict[str, float] = {} if as_of is None else dict(as_of.reached)
        self._not_before: dict[str, float] = {} if as_of is None else dict(as_of.not_before)
        self.seed = seed
        self.replication = replication
        self.env = simpy.Environment()
        self.rng = Streams(seed, replication)
        self.milestones: dict[str, float] = {}
        self.binding: dict[str, str] = {}
        self.chains: dict[str, Chain] = {}
        self._milestone_events: dict[str, simpy.Event] = {}
        #: Whether a trace is kept: callers test it before building a message nobody would read.
        self.tracing = trace
        self._trace: list[TraceEvent] | None = [] if trace else None
        self._spans: list[tuple[str, float, float, str]] | None = [] if trace else None
        self._ledger: list[tuple] | None = [] if trace else None
        self._open_spans: dict[int, tuple[str, float, str]] = {}
        self._span_count = 0
        #: Contributor -> its observed strength points (day, officers), a range drawn once per replication.
        self.observed_strength = self._draw_observed_strength()

        # Order matters only in that later subsystems use the events of earlier ones.
        self.governance = Governance(self)
        self.gates = Gates(self)
        self.mandate = Mandate(self)
        self.reconnaissance = Reconnaissance(self)
        self.airport = Airport(self)
        self.fund = TrustFund(self)
        self.deployment = Deployment(self)
        self.base = Base(self)
        self.forces = build_forces(self)
        self.operations = Operations(self)
        self.deployment.start()
        for name, day in self._pinned.items():
            self.env.process(self._observed(name, day))

    @property
    def now(self) -> float:
        """Current simulation day."""
        return self.env.now

    def log(self, subsystem: str, event: str, details: str = "", **fields: Any) -> None:
        """Add an event to the trace (a no-op unless tracing); ``fields`` are :class:`TraceEvent`'s data fields."""
        if self._trace is not None:
            self._trace.append(TraceEvent(self.env.now, subsystem, event, details, **fields))

    def span(self, lane: str, start: float, end: float, label: str) -> None:
        """Record a span of the timeline (a no-op unless tracing)."""
        if self._spans is not None and end > start:
            self._spans.append((lane, start, end, label))

    def begin_span(self, lane: str, label: str) -> int:
        """Open a timeline span now; :meth:`end_span` closes it (the horizon closes any left open)."""
        self._span_count += 1
        if self._spans is not None:
            self._open_spans[self._span_count] = (lane, self.env.now, label)
        return self._span_count

    def end_span(self, token: int, label: str | None = None) -> None:
        """Close a span opened by :meth:`begin_span`, optionally relabelling it."""
        opened = self._open_spans.pop(token, None)
        if opened is not None:
            self.span(opened[0], opened[1], self.env.now, opened[2] if label is None else label)

    def ledger_snapshot(self, force: ContributorForce) -> None:
        """Record a contributor's accounts now (a no-op unless tracing)."""
        if self._ledger is not None:
            self._ledger.append((self.env.now, force.name, *(force.ledger[k] for k in LEDGER)))

    def milestone_event(self, name: str) -> simpy.Event:
        """An event that succeeds when milestone ``name`` is reached."""
        event = self._milestone_events.get(name)
        if event is None:
            event = self._milestone_events[name] = self.env.event()
            if name in self.milestones:
                event.succeed()
        return event

    def _draw_observed_strength(self) -> dict[str, list[tuple[float, int]]]:
        """Each contributor's observed strength points; a range is drawn uniformly, from a stream of its own."""
        if self.as_of is None:
            return {}
        rng = self.rng("as_of", "strength")
        drawn: dict[str, list[tuple[float, int]]] = {}
        for name, points in sorted(self.as_of.strength.items()):
            values: list[tuple[float, int]] = []
            for day, low, high in points:
                previous = values[-1][1] if values else None
                if previous is not None and low <= previous <= high:
                    officers = previous  # a range that holds the last figure: no landing or loss is invented
                else:
                    officers = low if low == high else int(rng.integers(low, high + 1))
                values.append((day, officers))
            drawn[name] = values
        return drawn

    def first_seen(self, contributor: str) -> float | None:
        """The first day a re-forecast's observations put officers of ``contributor`` in theatre, or None."""
        return next((day for day, officers in self.observed_strength.get(contributor, ()) if officers > 0), None)

    def observed_delivered(self, contributor: str) -> int:
        """Officers of ``contributor``'s pledge observed delivered before the as-of date: the most observed in
        theatre at once (a rise back to an earlier strength is a relief, not a new delivery)."""
        return max((officers for _, officers in self.observed_strength.get(contributor, ())), default=0)

    def pinned(self, milestone: str) -> float | None:
        """The day a re-forecast holds ``milestone`` at (it was observed before the as-of date), or None."""
        return self._pinned.get(milestone)

    def duration_to(self, milestone: str, dist: _Dist, u: float) -> float:
        """A duration starting now that ends at ``milestone``, at the uniform ``u``.

        Outside a re-forecast, ``dist``'s draw at ``u``. In one, a pinned milestone's duration ends on its
        observed day, and a milestone observed not reached by a day ends after it (residual life).
        """
        now = self.env.now
        pin = self._pinned.get(milestone)
        if pin is not None:
            return max(0.0, pin - now)
        not_before = self._not_before.get(milestone)
        return dist.quantile_after(u, 0.0 if not_before is None else not_before - now)

    def _observed(self, milestone: str, day: float):
        """Process: reach an observed milestone on its day (a re-forecast's history)."""
        if day > self.env.now:
            yield self.env.timeout(day - self.env.now)
        self.reach(milestone, extend(EMPTY, "observed", self.env.now), "observed", observed=True)
        if milestone == "lead_withdrawal" and self.forces[0].active.is_open():
            self.deployment.withdraw_all(self.forces[0], "observed withdrawal")
        if milestone == "mandate_lapsed" and self.mandate.switch.is_open():
            self.mandate.switch.set(False)
            self.deployment.withdraw_all(None, "observed lapse of the mandate")

    def reach(self, milestone: str, chain: Chain, binding: str | None = None, observed: bool = False) -> None:
        """Mark a milestone as reached now, unless it was reached before.

        Args:
            milestone: Its name (see :data:`MILESTONES`).
            chain: The critical path that led to it; it must end now (see :mod:`sim.model.critical`).
            binding: The last condition the step that reached it waited for.
            observed: Reached from the observations of a re-forecast. A milestone a re-forecast pins
                is reached only so, on its observed day.
        """
        if milestone in self.milestones or (milestone in self._pinned and not observed):
            return
        self.milestones[milestone] = float(self.env.now)
        self.chains[milestone] = chain
        if binding is not None:
            self.binding[milestone] = binding
        event = self._milestone_events.get(milestone)
        if event is not None:
            event.succeed()
        if self.tracing:
            self.log("milestone", MILESTONES[milestone], f"binding: {binding}" if binding else "",
                     kind="administration_viable" if milestone == "administration_viable" else "milestone",
                     name=milestone, condition=binding)

    def run(self) -> Record:
        """Run to the horizon and return the record."""
        horizon = self.scenario.horizon_days
        self.env.run(until=horizon)
        self.fund.close_books(horizon)
        self.deployment.close_books(horizon)
        self._close_spans(horizon)
        totals = {
            **self.deployment.totals(),
            **self.governance.totals(horizon),
            "recon_aborts": float(self.reconnaissance.aborts),
            **self.fund.totals(),
            **self.airport.totals(horizon),
            **self.gates.totals(horizon),
            **self.base.totals(),
            **self.operations.totals(),
            **self.forces[0].totals(),
        }
        milestones = {k: v for k, v in self.milestones.items() if v <= horizon}
        series = {
            "in_theatre": self.deployment.series.arrays(),
            "fund_balance_usd": self.fund.balance_series.arrays(),
            "base_capacity": self.base.series.arrays(),
        }
        for force in self.forces:
            series[contributor_series(force.name)] = force.series.arrays()
        return Record(
            replication=self.replication,
            seed=self.seed,
            milestones=milestones,
            binding={k: v for k, v in self.binding.items() if k in milestones},
            critical_paths={k: v for k, v in self.chains.items() if k in milestones},
            totals=totals,
            series=series,
            trace=None if self._trace is None else tuple(self._trace),
            intervals=None if self._spans is None else tuple(self._spans),
            ledger=None if self._ledger is None else tuple(self._ledger),
        )

    def _close_spans(self, horizon: float) -> None:
        """Spans still open at the horizon (a hold, a closure, a gate) end there."""
        if self._spans is None:
            return
        for lane, start, label in self._open_spans.values():
            self.span(lane, start, horizon, f"{label} (under way at the horizon)")
        self._open_spans.clear()
        open_switches = [("Hold", self.governance.hold, "on hold after a setback"),
                         ("Airport closed", self.airport.switch, "airport closed")]
        open_switches += [(f"Gate: {n}", sw, "closed") for n, sw in self.gates.switches.items()]
        for lane, switch, label in open_switches:
            if not switch.is_open() and switch._closed_since is not None:
                self.span(lane, switch._closed_since, horizon, label)
        if "authority_named" not in self.milestones:
            self.span("Governance", 0.0, horizon, "crisis: no transitional authority")
        elif "administration_viable" not in self.milestones:
            named = self.milestones["authority_named"]
            self.span("Governance", named, horizon, "transitional authority, not yet viable")


def simulate(scenario: Scenario, seed: int = 0, replication: int = 0, trace: bool = False,
             as_of: AsOf | None = None) -> Record:
    """Run one replication.

    A pure function: the same scenario, seed and replication give the same record, whatever ran
    before and in whichever process.

    Args:
        scenario: The resolved scenario (see :func:`sim.load_scenario`).
        seed: The batch seed.
        replication: Which replication of the batch this is.
        trace: Keep the dated event trace in ``record.trace``.
        as_of: Re-forecast from this observed history (see :func:`sim.scenario.asof.as_of`).

    Example:
        >>> from sim import load_scenario, run, simulate
        >>> scenario = load_scenario("baseline")
        >>> rec = simulate(scenario, seed=1, replication=7)
        >>> rec.totals["peak_in_theatre_lead"] <= scenario.force.pledged_officers
        True
        >>> batch = run(scenario, runs=8, seed=1)   # its row 7 is this same replication
        >>> bool(batch.replications.loc[7, "officer_days"] == rec.totals["officer_days"])
        True
    """
    if not isinstance(seed, int | np.integer) or seed < 0 or isinstance(seed, bool):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    with rare_collections():
        return Mission(scenario, int(seed), replication, trace, as_of).run()

