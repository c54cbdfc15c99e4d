"""The rollout and rotation of contingents: departure conditions, flights, landings, tours, departures home.

A contingent leaves when every condition of its contributor holds at once (for the lead: a viable
administration, the finished reconnaissance and no hold; for others: the lead's first arrival; for
all: the mandate, the departure gates, not having withdrawn, money for its deployment plus the
runway, and room in the base; with a graded response to arrears, no ``arrears pause``), then when its
airlift is free and the airport is open. A contributor that joins a successor mission waits for it
instead of the lead's arrival; under a successor every departure must fit its ceiling, and once the
lead has handed over it sends no one and its contingents leave at the end of their tours. The last
condition that made it wait is the **binding** constraint of the milestones its arrival reaches.

Each contingent serves a drawn tour. Its replacement is prepared ahead of the tour's end and sent
under the same conditions; as each replacement flight lands, as many outgoing officers fly home.
An outgoing contingent still unrelieved ``max_extension_days`` after its tour leaves anyway, and
strength dips.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.model.conditions import Condition, Milestone, Predicate, Signal, Switch, wait_all
from sim.model.critical import EMPTY, Chain, after_waits, extend
from sim.model.force import Contingent, ContributorForce
from sim.model.series import StepSeries

if TYPE_CHECKING:
    import simpy

    from sim.model.mission import Mission

#: Shares of the lead contributor's pledge whose delivery (initial contingents landed) is a milestone.
LEAD_SHARES = {"lead_25pct": 0.25, "lead_50pct": 0.50, "lead_75pct": 0.75, "lead_100pct": 1.0}
#: Shares of the planned mission strength (all contributors) whose delivery is a milestone.
MISSION_SHARES = {"mission_50pct": 0.50, "mission_100pct": 1.0}


class Deployment:
    """Departures, arrivals, rotations and departures home of every contributor's contingents.

    Attributes:
        in_theatre: Officers in theatre now, all contributors.
        delivered: Officers of initial (not replacement) contingents landed so far, all contributors.
        reserved: Base places held for officers on their way.
        lead_waiting: Officers of the lead's contingents ready and waiting to leave.
        lead_first_arrival: Succeeds when the lead contributor's first contingent has landed.
        series: ``in_theatre`` over time.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.in_theatre = 0
        self.delivered = 0
        self.reserved = 0
        self.peak = 0
        self.contingents_flown = 0
        self.rotations = 0
        self.series = StepSeries(0)
        self.lead_first_arrival = mission.env.event()
        self.lead_arrival = Milestone("lead_arrival", self.lead_first_arrival)
        self.lead_waiting = 0
        self.waited: dict[str, float] = {}
        #: Officers of funded contingents not yet landed, and each such contingent's officers not yet flown.
        self.en_route = 0
        self._unflown: dict[int, int] = {}
        self._officer_days = 0.0
        self._last_change = 0.0
        mandate = mission.scenario.mandate
        self._successor = mandate is not None and mandate.successor is not None
        #: Closed once the lead has handed over to a successor mission (a condition of its departures).
        self.handover = Switch(mission.env, "handed over", True)
        self._ceiling_changed = Signal(mission.env)
        self._tour_ends: dict[Contingent, float] = {}
        #: In a re-forecast, closed until its as-of day: before it, officers land only as observed.
        self.history = Switch(mission.env, "as of", mission.as_of is None)
        self._conditions_of: dict[str, list[Condition]] = {}
        self._flight_conditions_of: dict[str, list[Condition]] = {}

    @property
    def occupied(self) -> int:
        """Base places taken: officers in theatre plus those held for officers on their way."""
        return self.in_theatre + self.reserved

    def start(self) -> None:
        """Start every contributor's force generation and rollout (and a re-forecast's observed history)."""
        m = self.mission
        for force in m.forces:
            force.start()
            if force.sizes:
                m.env.process(self._rollout(force))
        if m.as_of is not None:
            m.env.process(self._history_ends())
            for force in m.forces:
                points = m.observed_strength.get(force.name)
                if points:
                    m.env.process(self._replay(force, points))

    def _history_ends(self):
        m = self.mission
        yield m.env.timeout(m.history_until)
        self.history.set(True)

    def _replay(self, force: ContributorForce, points: list[tuple[float, int]]):
        """Process: a re-forecast's observed strength of ``force``: officers land, or leave, on the days
        its strength points say (each rise one contingent; a fall lost from the earliest contingents)."""
        m = self.mission
        peak = 0
        for day, officers in points:
            if day > m.now:
                yield m.env.timeout(day - m.now)
            change = officers - force.ledger["in_theatre"]
            if change > 0:
                # Officers up to the earlier peak relieve or replace others: they deliver nothing new.
                refill = min(change, max(0, peak - force.ledger["in_theatre"]))
                force.delivered -= refill
                self.delivered -= refill
                m.base.observed_room(change)
                contingent = force.new_contingent(change)
                contingent.departed = True
                force.count("trained", change, snapshot=False)
                force.count("departed", change, snapshot=False)
                self.contingents_flown += 1
                self._move_en_route(change)
                m.fund.pay_observed_deployment(change, force.name)
                chain = extend(EMPTY, "observed", m.now)
                if force.is_lead:
                    m.reach("first_departure", chain, "observed")
                if m.tracing:
                    m.log("deployment", f"{contingent.label} observed in theatre", f"{change} officers",
                          kind="flight_leaves", contingent=contingent.label, officers=change)
                self._land(force, contingent, change, "observed", True, chain)
            peak = max(peak, officers)
            if change < 0:
                lost = -change
                for contingent in force.in_theatre_contingents():
                    lost -= self._leave(force, contingent, lost, "lost", notify=False)
                    if lost <= 0:
                        break
                self.strength_fell()

    def conditions(self, force: ContributorForce) -> list[Condition]:
        """The conditions every departure of ``force`` needs, money and base room aside (the same objects
        all along, so they are listed once per contributor)."""
        listed = self._conditions_of.get(force.name)
        if listed is None:
            listed = self._conditions_of[force.name] = self._list_conditions(force)
        return listed

    def _list_conditions(self, force: ContributorForce) -> list[Condition]:
        m = self.mission
        if force.is_lead:
            first = [m.governance.administration, m.reconnaissance.condition, m.governance.hold]
            gates = m.gates.for_step("departure")
            if self._successor:
                gates = [*gates, self.handover]
        else:
            joins = m.scenario.contributors[force.name].joins
            first = [m.mandate.successor if joins == "successor" else self.lead_arrival]
            gates = m.gates.for_step("partner_departure")
        # Withdrawal comes first: it is for good, so a contributor that has withdrawn waits for nothing else.
        history = [] if m.as_of is None else [self.history]
        return [force.active, *history, *first, m.mandate.switch, *gates, *m.operations.pause(force)]

    def _ceiling(self, contingent: Contingent) -> list[Condition]:
        """Under a successor mission, a condition named ``mandate ceiling``: the contingent fits its ceiling."""
        if not self._successor:
            return []
        mandate = self.mission.mandate

        def fits() -> bool:
            return mandate.ceiling is None or self.occupied + self._needed(contingent) <= mandate.ceiling

        return [Predicate("mandate ceiling", fits, self._ceiling_changed.wait)]

    def ceiling_changed(self) -> None:
        """Wake departures waiting for room under the mandate's ceiling: the ceiling changed."""
        self._ceiling_changed.fire()

    def draw_down(self, force: ContributorForce) -> None:
        """``force`` sends no more contingents or replacements; each of its contingents in theatre leaves at
        the end of its tour (now if that is past), and those still landing leave when their tour ends."""
        self.handover.set(False)
        if force.is_lead:
            self.lead_waiting = 0
        for contingent in force.in_theatre_contingents():
            ends = self._tour_ends.get(contingent)
            if ends is not None:
                self.mission.env.process(self._leave_at(force, contingent, ends))
        self.strength_fell()

    def _leave_at(self, force: ContributorForce, contingent: Contingent, when: float):
        m = self.mission
        if when > m.now:
            yield m.env.timeout(when - m.now)
        if not contingent.gone and contingent.landed > 0:
            if m.tracing:
                m.log("deployment", f"{contingent.label} leaves in the drawdown", f"{contingent.landed} officers",
                      kind="leaves_unrelieved", contingent=contingent.label, officers=contingent.landed)
            self._leave(force, contingent, contingent.landed, "rotated_out")

    def _rollout(self, force: ContributorForce):
        waiting_for = "training" if force.is_lead else "partner readiness"
        # Contingents leave one after another: each starts from the later of its own readiness and
        # the previous one's last flight.
        chain = EMPTY
        for _ in force.sizes:
            get = force.ready.get()
            binding = None if get.triggered else waiting_for
            contingent = yield get
            if not force.active.is_open():
                return  # withdrawn: nothing more is sent
            if binding is not None:
                chain = contingent.chain
                binding = contingent.ready_after or binding
            chain = yield from self._send(force, contingent, binding, chain)

    def _needed(self, contingent: Contingent) -> int:
        """Base places a contingent needs beyond those its outgoing contingent hands over."""
        outgoing = contingent.outgoing
        handed_over = outgoing.landed if outgoing is not None and not outgoing.gone else 0
        return max(0, contingent.planned - handed_over)

    def _lead_claim(self, force: ContributorForce) -> int:
        """Officers of the lead's contingents waiting to leave; their places and money come before a partner's."""
        if force.is_lead or self.mission.mandate.lead_handed_over:
            return 0
        return self.lead_waiting

    def _send(self, force: ContributorForce, contingent: Contingent, binding: str | None, chain: Chain):
        """Process fragment: fund and fly one contingent; returns the critical path to its last departure."""
        m = self.mission
        fund = m.fund
        conditions = self.conditions(force)
        waiting_log = self._waiting_log(contingent) if m.tracing else None
        if force.is_lead:
            self.lead_waiting += contingent.planned
        if contingent.outgoing is not None:
            # Relieving a contingent adds no running costs, so a replacement needs only its deployment cost.
            money = fund.holds(lambda: fund.deployment_cost(contingent.planned + self._lead_claim(force)),
                               kind="deployment", contributor=force.name)
        else:
            money = fund.affordable(
                contingent.planned,
                lambda: self.occupied + self._needed(contingent) + self._lead_claim(force),
                extra_usd=lambda: fund.deployment_cost(self._lead_claim(force)),
                contributor=force.name,
            )
        room = m.base.room_for(lambda: self._needed(contingent) + self._lead_claim(force))
        waits: list = []
        binding = yield from wait_all([*conditions, money, room, *self._ceiling(contingent)], binding,
                                      log=waiting_log, waits=waits)
        chain = after_waits(chain, waits)
        fund.pay_deployment(contingent.planned, force.name)
        self._move_en_route(contingent.planned)
        self._unflown[id(contingent)] = contingent.planned
        if force.is_lead:
            self.lead_waiting -= contingent.planned
        contingent.reserved = self._needed(contingent)
        self.reserved += contingent.reserved
        contingent.departed = True
        if contingent.outgoing is not None:
            contingent.outgoing.relief = contingent
        if m.tracing:
            m.log("funding", f"{contingent.label} funded", f"balance ${m.fund.balance_usd / 1e6:.1f}M",
                  kind="funded", contingent=contingent.label)

        airlift = force.airlift
        left = contingent.planned
        while left > 0:
            request = airlift.slot.request()
            if not request.triggered:
                binding = "airlift"
                yield request
                chain = extend(chain, "airlift", m.now)
            waits = []
            flight = self._flight_conditions_of.get(force.name)
            if flight is None:
                flight = self._flight_conditions_of[force.name] = [*conditions, m.airport.switch]
            binding = yield from wait_all(flight, binding, self.waited, log=waiting_log, waits=waits)
            chain = after_waits(chain, waits)
            load = min(left, airlift.seats_per_flight)
            if left == contingent.planned:
                self.contingents_flown += 1
            left -= load
            if left:
                self._unflown[id(contingent)] = left
            else:
                del self._unflown[id(contingent)]
            airlift.flights += 1
            force.count("departed", load)
            if force.is_lead:
                m.reach("first_departure", chain, binding)
            if m.tracing:
                m.log("logistics", f"flight leaves with {contingent.label}", f"{load} officers",
                      kind="flight_leaves", contingent=contingent.label, officers=load)
            # Landing and turnaround run as callbacks of their timeouts: no process, no extra events.
            landing = m.env.timeout(airlift.flight_days())
            landing.callbacks.append(self._on_landing(force, contingent, load, binding, left == 0, chain))
            airlift.turnaround(request)
        return chain

    def _waiting_log(self, contingent: Contingent):
        """A callback for :func:`wait_all` that tells the trace what a contingent is waiting for."""
        mission = self.mission

        def log(condition: str) -> None:
            if condition == "withdrawn":
                return  # a contributor that has withdrawn takes no more steps, waiting included
            mission.log("deployment", f"{contingent.label} waits", f"for {condition}", kind="waits",
                        contingent=contingent.label, condition=condition)

        return log

    def _on_landing(self, force: ContributorForce, contingent: Contingent, load: int, binding: str | None,
                    last: bool, chain: Chain) -> Callable[[simpy.Event], None]:
        """The callback of a flight's arrival."""
        return lambda _: self._land(force, contingent, load, binding, last, chain)

    def _land(self, force: ContributorForce, contingent: Contingent, load: int, binding: str | None,
              last: bool, chain: Chain) -> None:
        m = self.mission
        chain = extend(chain, "flight", m.now)
        self._move_en_route(-load)
        outgoing = contingent.outgoing
        swapped = 0
        if outgoing is not None and not outgoing.gone:
            # The aircraft that brings the relief takes as many outgoing officers home.
            swapped = min(load, outgoing.landed)
            outgoing.relieved = True
            self._leave(force, outgoing, swapped, "rotated_out", keep_places=True)
        use = min(contingent.reserved, load - swapped)
        contingent.reserved -= use
        self.reserved -= use
        contingent.landed += load
        force.count("landed", load, snapshot=False)
        self._set(force, load)
        if m.tracing:
            m.log("deployment", f"{contingent.label}: flight lands",
                  f"{load} officers; {force.ledger['in_theatre']} of {force.name}'s in theatre",
                  kind="flight_lands", contingent=contingent.label, name=force.name, officers=load)
        if outgoing is None:
            force.delivered += load
            self.delivered += load
        if force.is_lead:
            m.reach("first_arrival", chain, binding)
            for milestone, share in LEAD_SHARES.items():
                if force.delivered >= share * force.pledged:
                    m.reach(milestone, chain, binding)
        for milestone, share in MISSION_SHARES.items():
            if self.delivered >= share * m.scenario.mission_size_officers:
                m.reach(milestone, chain, binding)
        if not force.active.is_open():
            # The contributor withdrew while this flight was in the air: its officers leave as they land.
            m.log("deployment", f"{contingent.label} withdrawn on landing", f"{contingent.landed} officers",
                  kind="withdrawn_on_landing", contingent=contingent.label, officers=contingent.landed)
            self._leave(force, contingent, contingent.landed, "withdrawn")
        if not last:
            return
        contingent.arrived = True
        contingent.chain = chain
        if contingent.reserved:
            self.reserved -= contingent.reserved
            contingent.reserved = 0
            m.base.places_freed()
            m.fund.strength_fell()
        if force.is_lead and not self.lead_first_arrival.triggered:
            self.lead_arrival.chain = chain
            self.lead_first_arrival.succeed()
        # A relief that lands after its outgoing contingent has gone (unrelieved, or lost) relieves no one.
        if outgoing is not None and outgoing.relieved:
            if not outgoing.gone:
                self._leave(force, outgoing, outgoing.landed, "rotated_out")
            self.rotations += 1
            m.reach("first_rotation", chain, binding)
            if m.tracing:
                m.log("deployment", f"{outgoing.label} relieved by {contingent.label}", kind="relieved",
                      contingent=outgoing.label, name=contingent.label)
        m.env.process(self._tour(force, contingent))

    def _tour(self, force: ContributorForce, contingent: Contingent):
        m = self.mission
        params = m.scenario.force
        # A contingent in theatre on a re-forecast's as-of day has served since it landed: its tour is longer.
        tour = force.tour_days.sample_after(force.rng, m.history_until - m.now)
        ahead = params.replacement_lead_days if force.is_lead else 0.0
        ends = m.now + tour
        if self._successor:
            self._tour_ends[contingent] = ends
        yield m.env.timeout(max(0.0, tour - ahead))
        if force.is_lead and m.mandate.lead_handed_over:
            yield from self._leave_at(force, contingent, ends)
            return
        if contingent.gone or not m.mandate.switch.is_open() or not force.active.is_open():
            return
        m.env.process(self._deadline(force, contingent, ends + params.max_extension_days))
        chain = extend(contingent.chain, "tour", m.now)
        replacement = yield from force.prepare_replacement(contingent, chain)
        chain = replacement.chain
        if m.now < ends:
            # Trained early: the replacement leaves when the tour it relieves is over.
            yield m.env.timeout(ends - m.now)
            chain = extend(chain, "tour", m.now)
        if not contingent.gone:
            yield from self._send(force, replacement, None, chain)

    def _deadline(self, force: ContributorForce, contingent: Contingent, when: float):
        m = self.mission
        yield m.env.timeout(max(0.0, when - m.now))
        if not contingent.gone and contingent.landed > 0:
            if m.tracing:
                m.log("deployment", f"{contingent.label} leaves unrelieved", f"{contingent.landed} officers",
                      kind="leaves_unrelieved", contingent=contingent.label, officers=contingent.landed)
            self._leave(force, contingent, contingent.landed, "rotated_out")

    def lose(self, force: ContributorForce, contingent: Contingent, officers: int, notify: bool = True) -> None:
        """Officers of a contingent lost in theatre (injured, killed, resigned).

        With ``notify`` false, waiters are not woken: the caller calls :meth:`strength_fell` once
        after several losses at the same instant.
        """
        self._leave(force, contingent, officers, "lost", notify=notify)

    def lose_at_once(self, force: ContributorForce, losses: list[tuple[Contingent, int]]) -> None:
        """Officers of several of ``force``'s contingents lost at this instant: one change of its strength.

        Waiters are not woken: the caller calls :meth:`strength_fell` once, after every force's losses.
        When tracing, each contingent's loss stays a change of its own, so the ledger shows each one.
        """
        if self.mission.tracing:
            for contingent, officers in losses:
                self._leave(force, contingent, officers, "lost", notify=False)
            return
        total = sum(self._leave(force, c, k, "lost", notify=False, set_strength=False) for c, k in losses)
        if total:
            # Several changes at one instant leave the same series, officer-days and accruals as their sum.
            self._set(force, -total)

    def strength_fell(self) -> None:
        """Wake departures waiting for base places or money: officers have left theatre."""
        self.mission.base.places_freed()
        self._ceiling_changed.fire()
        # The runway a waiting departure needs covers the strength after it, which has just fallen.
        self.mission.fund.strength_fell()

    def withdraw_all(self, force: ContributorForce | None, reason: str) -> None:
        """Every officer of ``force`` (or of every force) leaves theatre now, and no more are sent."""
        m = self.mission
        for f in m.forces if force is None else [force]:
            f.active.set(False)
            if f.is_lead:
                self.lead_waiting = 0
            for contingent in f.contingents:
                # Funded officers who will now never fly are no longer on their way.
                unflown = self._unflown.pop(id(contingent), 0)
                if unflown:
                    self._move_en_route(-unflown)
                if contingent.reserved:
                    # Places held for officers who will now never serve come free.
                    self.reserved -= contingent.reserved
                    contingent.reserved = 0
            for contingent in f.in_theatre_contingents():
                self._leave(f, contingent, contingent.landed, "withdrawn")
        m.base.places_freed()
        m.fund.strength_fell()
        m.log("deployment", "withdrawal", reason, kind="withdrawal", name="all" if force is None else force.name)

    def _leave(self, force: ContributorForce, contingent: Contingent, officers: int, column: str,
               keep_places: bool = False, notify: bool = True, set_strength: bool = True) -> int:
        """Officers leave theatre; returns how many did. With ``set_strength`` false the caller records
        the change of strength (:meth:`_set`) itself."""
        officers = min(officers, contingent.landed)
        if officers <= 0:
            return 0
        contingent.landed -= officers
        force.count(column, officers, snapshot=False)
        if set_strength:
            self._set(force, -officers)
        relief = contingent.relief
        if keep_places:
            pass
        elif relief is not None and relief.departed and not relief.arrived:
            # Places freed while the relief is on its way are kept for it.
            relief.reserved += officers
            self.reserved += officers
        elif notify:
            self.strength_fell()
        if contingent.landed == 0 and (contingent.arrived or column != "lost"):
            contingent.gone = True
        return officers

    def _set(self, force: ContributorForce, delta: int) -> None:
        m = self.mission
        now = m.env.now
        self._officer_days += self.in_theatre * (now - self._last_change)
        self._last_change = now
        in_theatre = self.in_theatre = self.in_theatre + delta
        if in_theatre > self.peak:
            self.peak = in_theatre
        self.series.set(now, in_theatre)
        ledger = force.ledger
        officers = ledger["in_theatre"] = ledger["in_theatre"] + delta
        if officers > force.peak:
            force.peak = officers
            force.peak_day = now
        force.series.set(now, officers)
        force.strength_changed.fire()
        if m.tracing:
            m.ledger_snapshot(force)
        m.fund.officers_changed(in_theatre)

    def _move_en_route(self, delta: int) -> None:
        self.en_route += delta
        self.mission.fund.en_route_changed(self.en_route)

    def close_books(self, horizon: float) -> None:
        """Count officer-days up to the horizon."""
        self._officer_days += self.in_theatre * (horizon - self._last_change)
        self._last_change = horizon

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        m = self.mission
        lead = m.forces[0]
        totals = {
            "peak_in_theatre": float(self.peak),
            "peak_in_theatre_lead": float(lead.peak),
            "peak_day_lead": lead.peak_day,
            "officer_days": self._officer_days,
            "contingents_flown": float(self.contingents_flown),
            "flights": float(sum(f.airlift.flights for f in m.forces)),
            "rotations": float(self.rotations),
            "officers_rotated_out": float(sum(f.ledger["rotated_out"] for f in m.forces)),
            "officers_withdrawn": float(sum(f.ledger["withdrawn"] for f in m.forces)),
            "airport_delay_days": self.waited.get("airport", 0.0),
            "contributors_delivering": float(sum(1 for f in m.forces[1:] if f.ledger["landed"] > 0)),
        }
        for force in m.forces:
            totals[f"peak_in_theatre.{force.name}"] = float(force.peak)
        return totals
