"""Named preconditions (gates): UN authorisation, legal clearance, status agreements, equipment...

Each gate opens once everything it names under ``after`` (other gates or milestones) is open or
reached, plus a drawn time; a gate open at the start skips that. While open, a gate can be blocked
again (a new court order) at a constant rate, for a drawn time. Steps of the deployment list the
gates they need (``[steps]``); each gate is a :class:`~sim.model.conditions.Switch` named after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.conditions import Switch, recurring_closures
from sim.model.critical import EMPTY, Chain, extend
from sim.scenario.schema import Gate

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Gates:
    """All named gates of a scenario.

    Attributes:
        switches: Gate name -> its switch.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.switches: dict[str, Switch] = {
            name: Switch(mission.env, name, gate.open_at_start) for name, gate in mission.scenario.gates.items()
        }
        self._first_opening: dict[str, Chain] = {}
        self._for_step: dict[str, list[Switch]] = {}
        for name, gate in mission.scenario.gates.items():
            mission.env.process(self._lifecycle(name, gate))

    def __getitem__(self, name: str) -> Switch:
        return self.switches[name]

    def first_opening(self, name: str) -> Chain:
        """The critical path to gate ``name``'s first opening (empty for a gate open at the start, or not yet open)."""
        return self._first_opening.get(name, EMPTY)

    def for_step(self, step: str) -> list[Switch]:
        """The gates a step (``reconnaissance``, ``base_construction``, ``departure``, ``partner_departure``) needs."""
        gates = self._for_step.get(step)
        if gates is None:
            gates = self._for_step[step] = [self.switches[name] for name in getattr(self.mission.scenario.steps, step)]
        return list(gates)

    def _lifecycle(self, name: str, gate: Gate):
        m = self.mission
        switch = self.switches[name]
        rng = m.rng("gates", name)
        u_delay = rng.random()
        if not gate.open_at_start:
            chain = EMPTY
            for dep in gate.after:
                event = self.switches[dep].ever_opened if dep in self.switches else m.milestone_event(dep)
                if not event.triggered:
                    yield event
                    # The dependency that made the gate wait last is its critical predecessor.
                    chain = self._first_opening[dep] if dep in self.switches else m.chains[dep]
            deadline = self._deadline(name)
            if deadline is None:
                delay = gate.opens_after_days.quantile_after(u_delay, 0.0)
            else:
                # A re-forecast: a step observed before its as-of date needed this gate open by then.
                delay = gate.opens_after_days.quantile_before(u_delay, max(0.0, deadline - m.now))
            if delay > 0:
                yield m.env.timeout(delay)
            chain = extend(chain, name, m.now)
            self._first_opening[name] = switch.opening = chain
            switch.set(True)
            if m.tracing:
                m.log("gates", f"gate '{name}' opens", kind="gate_opens", name=name)
            m.span(f"Gate: {name}", 0.0, m.now, "not yet open")

        def blocked(days: float) -> None:
            if m.tracing:
                m.log("gates", f"gate '{name}' blocked", f"for {days:.0f} d", kind="gate_blocked", name=name, days=days)

        def reopened(start: float) -> None:
            m.span(f"Gate: {name}", start, m.now, "blocked")
            if m.tracing:
                m.log("gates", f"gate '{name}' reopens", kind="gate_reopens", name=name)

        yield from recurring_closures(
            m.env, switch, gate.blocks_per_year, gate.block_days, rng,
            on_close=blocked,
            on_open=reopened,
            quiet_until=m.history_until,
        )

    def _deadline(self, name: str) -> float | None:
        """In a re-forecast, the earliest observed day of a step that needs gate ``name`` (None if none)."""
        m = self.mission
        if m.as_of is None:
            return None
        steps = m.scenario.steps
        needed_by = {"reconnaissance": "recon_started", "base_construction": "base_ready",
                     "departure": "first_departure"}
        days = [m.pinned(milestone) for step, milestone in needed_by.items() if name in getattr(steps, step)]
        if name in steps.partner_departure:
            days += [m.first_seen(who) for who in m.observed_strength if who != m.scenario.force.lead_contributor]
        if name in steps.departure:
            days.append(m.first_seen(m.scenario.force.lead_contributor))
        known = [day for day in days if day is not None]
        return min(known) if known else None

    def totals(self, horizon: float) -> dict[str, float]:
        """Days any gate was blocked after first opening (summed over gates)."""
        blocked = 0.0
        for switch in self.switches.values():
            if switch.ever_opened.triggered:
                blocked += switch.closed_days(horizon) - switch.first_closed_days
        return {"gate_blocked_days": blocked}
