"""Housing in theatre: officers can be sent only if the base has room for them.

Capacity starts at ``initial_capacity_officers`` and grows stage by stage: construction waits for
``starts_after`` (the reconnaissance's findings by default) and the gates of the
``base_construction`` step, and stops if the mandate lapses; each stage is paid (by a channel that
covers base construction, else the trust fund) before work starts, then takes a drawn time. Places
are held for officers from the moment they depart. A scenario with no base (no initial capacity, no
stages) never runs out of room.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.model.conditions import Predicate, Signal, wait_all
from sim.model.critical import EMPTY, Chain, after_waits, extend
from sim.model.series import StepSeries

if TYPE_CHECKING:
    from sim.model.mission import Mission


class Base:
    """The mission's base.

    Attributes:
        capacity: Officers it can house now (``inf`` when no base is modelled).
        series: Capacity over time.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        params = mission.scenario.base
        self.unlimited = mission.scenario.unlimited_base
        self.capacity = math.inf if self.unlimited else float(params.initial_capacity_officers)
        #: Places built (the start's and every finished stage's); ``capacity`` is at least the officers a
        #: re-forecast observed housed, once they exceed it.
        self.built = self.capacity
        self._observed_floor = 0.0
        self.series = StepSeries(0.0 if self.unlimited else self.capacity)
        self._changed = Signal(mission.env)
        self._stage_chain: Chain = EMPTY
        self._stage_day = math.nan
        if self.unlimited:
            mission.reach("base_ready", EMPTY)
        else:
            if self.capacity > 0:
                mission.reach("base_ready", EMPTY)
            if params.stages:
                mission.env.process(self._construction())

    def room_for(self, needed: Callable[[], int]) -> Predicate:
        """A condition named ``base``: there are free places for ``needed()`` more officers."""
        deployment = self.mission.deployment
        return Predicate(
            "base",
            lambda: self.unlimited or self.capacity - deployment.occupied >= needed(),
            self._changed.wait,
            # Room that came with a finished stage hands over the stage's critical path.
            lambda day: self._stage_chain if day == self._stage_day else None,
        )

    def observed_room(self, officers: int) -> None:
        """A re-forecast's observed landing: the base held these officers, so it has room for them now."""
        if self.unlimited:
            return
        self._observed_floor = max(self._observed_floor, float(self.mission.deployment.occupied + officers))
        short = self._observed_floor - self.capacity
        if short > 0:
            self.capacity = self._observed_floor
            self.series.set(self.mission.now, self.capacity)
            self.mission.log("base", "room for observed officers", f"{short:.0f} places", kind="stage_ready",
                             officers=self.capacity)

    def places_freed(self) -> None:
        """Tell waiters that places may have come free (officers left theatre)."""
        self._changed.fire()

    def _construction(self):
        m = self.mission
        params = m.scenario.base
        rng = m.rng("base")
        costs = [stage.cost_usd.sample(rng) for stage in params.stages]
        uniforms = [rng.random() for _ in params.stages]
        chain = EMPTY
        if params.starts_after != "start":
            event = m.milestone_event(params.starts_after)
            if not event.triggered:
                yield event
            chain = m.chains[params.starts_after]
        gates = m.gates.for_step("base_construction")
        binding = params.starts_after
        for i, (stage, cost, u) in enumerate(zip(params.stages, costs, uniforms, strict=True), start=1):
            waits: list = []
            money = m.fund.holds(cost, kind="base_construction")
            binding = yield from wait_all([*gates, m.mandate.switch, money], binding, waits=waits)
            chain = after_waits(chain, waits)
            m.fund.pay(cost, kind="base_construction")
            # The first stage's completion is the milestone base_ready, which a re-forecast may pin.
            if i == 1:
                duration = m.duration_to("base_ready", stage.duration_days, u)
            else:
                duration = stage.duration_days.quantile_after(u, 0.0)
            if m.tracing:
                m.log("base", f"stage {i} paid, construction starts", f"${cost / 1e6:.1f}M, {duration:.0f} d",
                      kind="stage_paid", name=str(i), amount_usd=cost, days=duration)
            span = m.begin_span("Base construction", f"stage {i}")
            yield m.env.timeout(duration)
            self.built += stage.capacity_officers
            self.capacity = max(self.built, self._observed_floor)
            self.series.set(m.now, self.capacity)
            chain = extend(chain, "base construction", m.now)
            self._stage_chain, self._stage_day = chain, m.now
            m.end_span(span)
            if m.tracing:
                m.log("base", f"stage {i} ready", f"room for {self.capacity:.0f} officers",
                      kind="stage_ready", name=str(i), officers=self.capacity)
            m.reach("base_ready", chain, binding)
            self.places_freed()

    def totals(self) -> dict[str, float]:
        """This subsystem's totals for the record."""
        return {"base_capacity_at_horizon": math.nan if self.unlimited else self.capacity}
