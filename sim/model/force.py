"""Force generation: each contributing country's contingents, its accounts, and the lead's training.

The lead contributor's pledge is split into contingents of ``contingent_size`` officers (the last may
be smaller). Cohorts take seats from a SimPy Container of ``capacity_officers`` training seats,
train for a drawn time and join the contributor's ``ready`` store. A pledge given in **tranches**
(``force.tranches``) is split tranche by tranche: each tranche's contingents are ready once its own
political decision is taken (a wait for milestones, gates, money in hand and the lead's strength in
theatre, then a drawn delay) and they have trained, before or after that decision. Replacements for rotation are
trained the same way. Other contributors deliver their pledge with a drawn probability and share;
their contingents become ready after a drawn delay from the lead's first arrival (or from a successor
mission's start, for a contributor that joins it), one every
``days_between_contingents``, and their replacements are ready when a tour ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.model.conditions import Condition, Milestone, Predicate, Signal, Switch, wait_all
from sim.model.critical import EMPTY, Chain, after_waits, extend
from sim.model.logistics import Airlift
from sim.model.record import LEDGER
from sim.model.resources import ReadyQueue, Seats
from sim.model.series import StepSeries

if TYPE_CHECKING:
    from sim.model.mission import Mission
    from sim.scenario.distributions import _Dist
    from sim.scenario.schema import Tranche


@dataclass(eq=False)
class Contingent:
    """Officers who are trained, flown and serve together.

    Attributes:
        number: Order of creation within its contributor (replacements continue the count).
        contributor: The contributing country.
        planned: Officers it was formed with.
        landed: Officers of it in theatre now.
        reserved: Base places held for its officers still on the way.
        outgoing: The contingent it relieves, for a replacement.
        relief: Its replacement, once that exists.
        relieved: True once a flight of its relief has landed while it was still in theatre.
        departed: True once it has been funded and sent.
        arrived: True once its last flight has landed.
        gone: True once it has left theatre for good.
        chain: The critical path to its latest step: ready, then landed (see :mod:`sim.model.critical`).
        ready_after: What it waited for last before it was ready (the rollout's binding if it waits for it).
    """

    number: int
    contributor: str
    planned: int
    landed: int = 0
    reserved: int = 0
    outgoing: Contingent | None = None
    relief: Contingent | None = None
    relieved: bool = False
    departed: bool = False
    arrived: bool = False
    gone: bool = False
    chain: Chain = EMPTY
    ready_after: str | None = None

    @property
    def label(self) -> str:
        """A short name for traces: ``Kenya #3``."""
        return f"{self.contributor} #{self.number}"


class ContributorForce:
    """One contributing country: its contingents, airlift, accounts and series.

    Attributes:
        name: The country.
        is_lead: Whether it is the lead contributor.
        sizes: Planned sizes of its initial contingents (empty if it delivers nothing).
        ready: Contingents ready to deploy.
        active: Open until the contributor withdraws (a condition named ``withdrawn``).
        ledger: Officer counts: trained, departed, landed, in_theatre, rotated_out, lost, withdrawn.
        contingents: Every contingent formed so far.
        series: Its officers in theatre over time.
        delivered: Officers of its initial contingents landed so far (losses and rotations aside).
        strength_changed: Fires when its officers in theatre change (only if something waits for it).
    """

    def __init__(self, mission: Mission, name: str, is_lead: bool, sizes: list[int], tour_days: _Dist):
        self.mission = mission
        self.name = name
        self.is_lead = is_lead
        self.sizes = sizes
        self.pledged = sum(sizes)
        self.tour_days = tour_days
        self._ready: ReadyQueue | None = None
        self.active = Switch(mission.env, "withdrawn", True)
        self.airlift = Airlift(mission, name)
        self.ledger = dict.fromkeys(LEDGER, 0)
        self.contingents: list[Contingent] = []
        self.series = StepSeries(0)
        self.peak = 0
        #: The day its strength first reached ``peak`` (NaN until an officer lands).
        self.peak_day = math.nan
        self.delivered = 0
        self.strength_changed = Signal(mission.env)
        self.rng = mission.rng("force", name)

    @property
    def ready(self) -> ReadyQueue:
        """Contingents ready to deploy (made on first use: a partner that delivers nothing never needs it)."""
        if self._ready is None:
            self._ready = ReadyQueue(self.mission.env)
        return self._ready

    def new_contingent(self, size: int, outgoing: Contingent | None = None) -> Contingent:
        """Form a contingent (a replacement when ``outgoing`` is given)."""
        contingent = Contingent(len(self.contingents) + 1, self.name, size, outgoing=outgoing)
        self.contingents.append(contingent)
        return contingent

    def in_theatre_contingents(self) -> list[Contingent]:
        """Contingents with officers in theatre now."""
        return [c for c in self.contingents if c.landed > 0]

    def count(self, column: str, officers: int, snapshot: bool = True) -> None:
        """Add to a ledger column; snapshot the ledger (when tracing) unless more changes follow at once."""
        self.ledger[column] += officers
        if snapshot:
            self.mission.ledger_snapshot(self)

    def start(self) -> None:
        """Start forming the initial contingents."""
        raise NotImplementedError

    def totals(self) -> dict[str, float]:
        """This contributor's totals for the record (none by default)."""
        return {}

    def prepare_replacement(self, outgoing: Contingent, chain: Chain):
        """Process fragment: form and make ready a replacement for ``outgoing``, whose preparation
        begins at the end of ``chain``; returns it, its ``chain`` ending when it is ready."""
        raise NotImplementedError


def split(officers: int, size: int) -> list[int]:
    """Contingent sizes of ``officers`` split into contingents of ``size`` (the last may be smaller)."""
    sizes = [size] * (officers // size)
    if officers % size:
        sizes.append(officers % size)
    return sizes


class LeadForce(ContributorForce):
    """The lead contributor, whose cohorts are trained under a limit of training seats.

    Attributes:
        tranche_sizes: Contingent sizes of each tranche of the pledge (one tranche if none are given).
        decided_days: Day each tranche was decided (NaN until then); empty without tranches.
    """

    def __init__(self, mission: Mission):
        force = mission.scenario.force
        # A re-forecast: officers observed landing before its as-of day come off the front of the pledge.
        observed = mission.observed_delivered(force.lead_contributor)
        tranches = [t.officers for t in force.tranches] or [force.pledged_officers]
        left = []
        for officers in tranches:
            taken = min(officers, observed)
            observed -= taken
            left.append(officers - taken)
        self.tranche_sizes = [split(officers, force.contingent_size) for officers in left]
        sizes = [size for tranche in self.tranche_sizes for size in tranche]
        super().__init__(mission, force.lead_contributor, True, sizes, force.tour_days)
        self.pledged = force.pledged_officers
        seats = force.training.capacity_officers
        self.seats = Seats(mission.env, seats)
        self.decided_days = [math.nan] * len(force.tranches)

    def start(self) -> None:
        m = self.mission
        tranches = m.scenario.force.tranches
        if not tranches:
            m.env.process(self._generate())
            return
        # A stream of its own, drawn in a fixed order, so that a scenario without tranches keeps its draws.
        rng = m.rng("force", self.name, "tranches")
        default = m.scenario.force.training.duration_days
        for k, (tranche, sizes) in enumerate(zip(tranches, self.tranche_sizes, strict=True), start=1):
            delay = tranche.decision_days.sample(rng)
            training = default if tranche.training_days is None else tranche.training_days
            durations = [training.sample(rng) for _ in sizes]
            m.env.process(self._tranche(k, tranche, sizes, delay, durations))

    def _tranche(self, k: int, tranche: Tranche, sizes: list[int], delay: float, durations: list[float]):
        """Process: tranche ``k``'s decision, and the training of its contingents before or after it."""
        m = self.mission
        decision = Milestone(f"tranche {k} decision", m.env.event())
        if tranche.training_starts == "at_start":
            m.env.process(self._train_ahead(sizes, durations, decision))
        chain = EMPTY
        if not tranche.decided:
            waits: list = []
            yield from wait_all(self._decision_conditions(tranche), waits=waits)
            chain = after_waits(EMPTY, waits)
            if delay > 0:
                yield m.env.timeout(delay)
                chain = extend(chain, "tranche decision", m.now)
        if not self.active.is_open():
            return  # withdrawn before the decision: no more tranches
        decision.chain = chain
        self.decided_days[k - 1] = float(m.now)
        decision.event.succeed()
        if m.tracing:
            m.log("force", f"{self.name} tranche {k} decided", f"{tranche.officers} officers", kind="tranche_decided",
                  name=self.name, officers=tranche.officers)
        if tranche.training_starts == "at_start":
            return
        share = 1.0
        below = tranche.pressure_below_officers
        # Under pressure (too few officers in theatre when it is decided), training is cut short.
        if tranche.shortened_training_share is not None and below is not None and self.ledger["in_theatre"] < below:
            share = tranche.shortened_training_share
        chain = yield from self._training_may_start(chain)
        for size, duration in zip(sizes, durations, strict=True):
            m.env.process(self._train_initial(self.new_contingent(size), duration * share, chain))

    def _decision_conditions(self, tranche: Tranche) -> list[Condition]:
        """What a tranche's decision waits for: each named gate's first opening or milestone, money, strength."""
        m = self.mission
        conditions: list[Condition] = [self._dependency(name) for name in tranche.after]
        if tranche.min_balance_usd is not None:
            conditions.append(m.fund.holds(tranche.min_balance_usd))
        if tranche.min_lead_in_theatre_officers is not None:
            needed = tranche.min_lead_in_theatre_officers
            conditions.append(Predicate("mission strength", lambda: self.ledger["in_theatre"] >= needed,
                                        self.strength_changed.wait))
        return conditions

    def _dependency(self, name: str) -> Predicate:
        """A gate's first opening or a milestone, as a task: a decision that waited for it inherits its path."""
        m = self.mission
        if name in m.gates.switches:
            opened = m.gates[name].ever_opened
            return Predicate(name, lambda: opened.triggered, lambda: opened, lambda _day: m.gates.first_opening(name))
        reached = m.milestone_event(name)
        return Predicate(name, lambda: reached.triggered, lambda: reached, lambda _day: m.chains.get(name))

    def _training_may_start(self, chain: Chain):
        """Process fragment: wait until ``force.training.starts`` allows training; returns the chain then."""
        m = self.mission
        if m.scenario.force.training.starts == "after_viable_administration":
            waits: list = []
            yield from wait_all([m.governance.administration], waits=waits)
            chain = after_waits(chain, waits)
        return chain

    def _train_ahead(self, sizes: list[int], durations: list[float], decision: Milestone):
        """Process: a tranche trained ahead of its decision; each contingent is ready once both are done."""
        m = self.mission
        chain = yield from self._training_may_start(EMPTY)
        for size, duration in zip(sizes, durations, strict=True):
            m.env.process(self._train_then_wait(self.new_contingent(size), duration, chain, decision))

    def _train_then_wait(self, contingent: Contingent, duration: float, chain: Chain, decision: Milestone):
        if not (yield from self._train(contingent, duration, chain)):
            return  # withdrawn
        if not decision.is_open():
            waits: list = []
            yield from wait_all([decision], waits=waits)
            contingent.chain = after_waits(contingent.chain, waits)
            contingent.ready_after = "tranche decision"
        yield self.ready.put(contingent)

    def totals(self) -> dict[str, float]:
        """With tranches: how many were decided, and the day each was (NaN if not by the horizon)."""
        if not self.decided_days:
            return {}
        totals = {"tranches_decided": float(sum(not math.isnan(day) for day in self.decided_days))}
        for k, day in enumerate(self.decided_days, start=1):
            totals[f"tranche_{k}_decided_day"] = day
        return totals

    def _generate(self):
        m = self.mission
        params = m.scenario.force.training
        durations = [params.duration_days.sample(self.rng) for _ in self.sizes]
        chain = EMPTY
        if params.starts == "after_viable_administration":
            yield m.governance.viable
            chain = m.governance.administration.chain or EMPTY
        for size, duration in zip(self.sizes, durations, strict=True):
            m.env.process(self._train_initial(self.new_contingent(size), duration, chain))

    def _train_initial(self, contingent: Contingent, duration: float, chain: Chain):
        if (yield from self._train(contingent, duration, chain)):
            yield self.ready.put(contingent)

    def _train(self, contingent: Contingent, duration: float, chain: Chain):
        m = self.mission
        # Waiting for a seat and the course itself are both training.
        yield self.seats.get(contingent.planned)
        if not self.active.is_open():
            # Withdrawn while waiting for a seat: no course starts.
            yield self.seats.put(contingent.planned)
            return False
        chain = extend(chain, "training", m.now)
        span = m.begin_span("Training", contingent.label)
        if m.tracing:
            m.log("force", f"{contingent.label} starts training", f"{contingent.planned} officers",
                  kind="training_starts", contingent=contingent.label, officers=contingent.planned)
        yield m.env.timeout(duration)
        yield self.seats.put(contingent.planned)
        if not self.active.is_open():
            m.end_span(span)
            return False  # withdrawn during the course: its officers never become ready
        contingent.chain = extend(chain, "training", m.now)
        self.count("trained", contingent.planned)
        m.end_span(span)
        if m.tracing:
            m.log("force", f"{contingent.label} trained", kind="trained", contingent=contingent.label)
        return True

    def prepare_replacement(self, outgoing: Contingent, chain: Chain):
        replacement = self.new_contingent(outgoing.planned, outgoing)
        duration = self.mission.scenario.force.training.duration_days.sample(self.rng)
        yield from self._train(replacement, duration, chain)
        return replacement


class PartnerForce(ContributorForce):
    """Another contributing country: delivers in full, in part or not at all, after a delay."""

    def __init__(self, mission: Mission, name: str):
        params = mission.scenario.contributors[name]
        rng = mission.rng("force", name)
        # Draws in a fixed order so that they do not depend on the outcome.
        delivers = rng.random() < params.delivers
        share = params.share_delivered.sample(rng)
        officers = int(round(params.pledged_officers * share)) if delivers else 0
        # A re-forecast: officers observed landing before its as-of day are part of what it delivers.
        officers = max(0, officers - mission.observed_delivered(name))
        sizes = [params.contingent_size] * (officers // params.contingent_size)
        if officers % params.contingent_size:
            sizes.append(officers % params.contingent_size)
        super().__init__(mission, name, False, sizes, params.tour_days)
        self.rng = rng
        self.params = params

    def start(self) -> None:
        if self.sizes:
            self.mission.env.process(self._generate())

    def _generate(self):
        m = self.mission
        u_delay = self.rng.random()
        gaps = [self.params.days_between_contingents.sample(self.rng) for _ in self.sizes[1:]]
        # The delay counts from the lead's first arrival, or from a successor mission's start.
        start = m.mandate.successor if self.params.joins == "successor" else m.deployment.lead_arrival
        yield start.event
        chain = start.chain or EMPTY
        # A re-forecast: a partner observed with no one in theatre by its as-of day was not ready before it.
        unseen = m.as_of is not None and not any(n > 0 for _, n in m.observed_strength.get(self.name, ()))
        delay = self.params.delay_days.quantile_after(u_delay, m.history_until - m.now if unseen else 0.0)
        yield m.env.timeout(delay)
        for i, size in enumerate(self.sizes):
            if i > 0:
                yield m.env.timeout(gaps[i - 1])
            if not self.active.is_open():
                return  # withdrawn: no more contingents
            chain = extend(chain, "partner readiness", m.now)
            contingent = self.new_contingent(size)
            contingent.chain = chain
            self.count("trained", size)
            if m.tracing:
                m.log("force", f"{contingent.label} ready", f"{size} officers", kind="ready",
                      contingent=contingent.label, officers=size)
            yield self.ready.put(contingent)

    def prepare_replacement(self, outgoing: Contingent, chain: Chain):
        yield from ()  # nothing to wait for: partners prepare replacements during the tour
        if not self.active.is_open():
            return self.new_contingent(outgoing.planned, outgoing)  # never sent: its sender waits for good
        replacement = self.new_contingent(outgoing.planned, outgoing)
        replacement.chain = chain
        self.count("trained", replacement.planned)
        if self.mission.tracing:
            self.mission.log("force", f"{replacement.label} ready", f"to relieve {outgoing.label}", kind="ready",
                             contingent=replacement.label, name=outgoing.label)
        return replacement


def build_forces(mission: Mission) -> list[ContributorForce]:
    """The lead contributor first, then the others in scenario order."""
    return [LeadForce(mission), *(PartnerForce(mission, name) for name in mission.scenario.contributors)]

