"""The international authorisation: it expires on its date unless renewed; a lapse draws the force down.

At each expiry a renewal is drawn with ``renewal_probability``, or with a probability that depends on
the mission's state then (strength in theatre below a share of plan, running costs in arrears: the
lowest of those that apply). A renewal adds ``term_days``. It may instead start a **successor**
mission: a new ceiling on strength, contributors that join it (``joins = "successor"``), and the lead
handing over and drawing down. If it is not renewed the ``mandate`` condition closes for good (no
more departures or rotations) and, after a drawn drawdown time, every officer still in theatre leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.conditions import Milestone, Switch
from sim.model.critical import EMPTY, extend

if TYPE_CHECKING:
    from sim.model.mission import Mission
    from sim.scenario.schema import Successor


#: A re-forecast's observed renewal renews the first expiry at most this many days after it (a Security
#: Council renews a mandate days or weeks before it expires).
RENEWAL_VOTE_DAYS = 90.0


class Mandate:
    """The mandate's renewals, its successor and its lapse.

    Attributes:
        switch: Open while the force is authorised (a condition named ``mandate``).
        renewals: Renewals granted so far (a successor mission counts as one).
        successor: Holds once a successor mission has started (a condition named ``successor mandate``);
            its chain runs to that start.
        ceiling: The successor's ceiling on officers in theatre or on the way, once it has started.
        lead_handed_over: True once the lead has handed over to a successor and draws down.
        successor_day: The day the successor started, if it has.
    """

    def __init__(self, mission: Mission):
        self.mission = mission
        self.switch = Switch(mission.env, "mandate", True)
        self.renewals = 0
        self._observed_used = False
        self.successor = Milestone("successor mandate", mission.env.event())
        self.ceiling: int | None = None
        self.lead_handed_over = False
        self.successor_day: float | None = None
        if mission.scenario.mandate is not None:
            mission.env.process(self._expiries())

    def renewal_probability(self) -> float:
        """The chance that an expiry now brings a renewal, given the mission's state now.

        The lowest of the state probabilities that apply (strength in theatre below ``plan_share`` of
        the planned strength; running costs in arrears), or ``renewal_probability`` when none applies.
        """
        m = self.mission
        params = m.scenario.mandate
        assert params is not None  # only asked while a mandate runs
        applicable = []
        if params.renewal_probability_if_below_plan is not None:
            plan = self.ceiling if self.ceiling is not None else m.scenario.mission_size_officers
            if m.deployment.in_theatre < params.plan_share * plan:
                applicable.append(params.renewal_probability_if_below_plan)
        if params.renewal_probability_if_short_of_money is not None and m.fund.in_arrears:
            applicable.append(params.renewal_probability_if_short_of_money)
        return min(applicable) if applicable else params.renewal_probability

    def _expiries(self):
        m = self.mission
        params = m.scenario.mandate
        rng = m.rng("mandate")
        successor = params.successor
        # Its own stream, one draw at every expiry whatever the outcome: the renewal draws stay as they were.
        successor_rng = m.rng("mandate", "successor") if successor is not None else None
        expiry = max(0.0, m.scenario.day_of(params.expires_on))
        while True:
            if expiry > m.now:
                yield m.env.timeout(expiry - m.now)
            renewed = rng.random() < self.renewal_probability()
            observed = m.as_of.mandate_renewed if m.as_of is not None else None
            if observed is not None and observed <= m.now <= observed + RENEWAL_VOTE_DAYS and not self._observed_used:
                # A re-forecast: a renewal recorded before its as-of date is the one granted at the expiry it
                # came shortly before.
                renewed, self._observed_used = True, True
            elif m.now < m.history_until and m.pinned("mandate_lapsed") is None:
                renewed = True  # a re-forecast: an expiry before its as-of day with no recorded lapse was renewed
            changes = successor_rng.random() if successor_rng is not None else 1.0
            if renewed:
                self.renewals += 1
                expiry += params.term_days
                if successor is not None and self.successor_day is None and changes < successor.probability:
                    self._begin_successor(successor, expiry)
                else:
                    m.log("mandate", "mandate renewed", f"until {m.scenario.date_of(expiry)}", kind="mandate_renewed")
                continue
            self.switch.set(False)
            m.reach("mandate_lapsed", extend(EMPTY, "mandate", m.now))
            m.log("mandate", "mandate lapses", "no renewal; the force draws down", kind="mandate_lapses")
            drawdown = params.drawdown_days.sample(rng)
            span = m.begin_span("Mandate lapsed", "drawdown")
            yield m.env.timeout(drawdown)
            m.end_span(span)
            m.deployment.withdraw_all(None, "mandate lapsed")
            return

    def _begin_successor(self, successor: Successor, expiry: float) -> None:
        m = self.mission
        self.successor_day = m.now
        self.ceiling = successor.ceiling_officers
        self.successor.chain = extend(EMPTY, "successor mandate", m.now)
        self.successor.event.succeed()
        m.log("mandate", "successor mission", f"ceiling {successor.ceiling_officers} officers, until "
              f"{m.scenario.date_of(expiry)}", kind="mandate_successor", officers=successor.ceiling_officers)
        m.deployment.ceiling_changed()
        if successor.lead_draws_down:
            m.env.process(self._handover(successor.handover_days))

    def _handover(self, days: float):
        m = self.mission
        if days > 0:
            span = m.begin_span("Successor mission", "handover")
            yield m.env.timeout(days)
            m.end_span(span)
        if not self.switch.is_open():
            return
        self.lead_handed_over = True
        lead = m.forces[0]
        m.log("mandate", f"{lead.name} hands over", "the lead draws down", kind="lead_hands_over", name=lead.name)
        m.deployment.draw_down(lead)
