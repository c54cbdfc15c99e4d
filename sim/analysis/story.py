"""The story of one replication: its dated events, and what each step waited for, as text.

Reads a traced :class:`sim.model.record.Record` (``simulate(..., trace=True)``) and its scenario after
the model has run, through the trace's structured fields (kind, contingent, name...), never by
parsing its words. The timeline figure of the same story is :func:`sim.output.timeline.timeline`;
the CLI's ``trace`` command prints :func:`format_story` and saves that figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.model.record import RELEASE_KINDS, Record, TraceEvent, contributor_series
from sim.scenario.milestones import MILESTONES
from sim.scenario.schema import Scenario

#: What each binding constraint means: "binding: funding" says the step last waited for money.
BINDING_MEANINGS: dict[str, str] = {
    "administration": "a viable administration",
    "hold": "a hold to be lifted",
    "reconnaissance": "the reconnaissance to report",
    "training": "its contingent's training",
    "funding": "money in the trust fund",
    "base": "room in the base",
    "airlift": "an aircraft",
    "airport": "the airport to reopen",
    "mandate": "the mandate",
    "withdrawn": "a contributor that had withdrawn",
    "lead_arrival": "the lead contributor's first landing",
    "start": "the start date",
}
#: Milestones the timeline marks, with their short labels (``{lead}`` is the lead contributor).
MARKED_MILESTONES: dict[str, str] = {
    "administration_viable": "Administration viable",
    "recon_done": "Recon done",
    "base_ready": "Base ready",
    "first_arrival": "First landing",
    "lead_50pct": "{lead} 50%",
    "lead_100pct": "{lead} 100%",
    "mission_50pct": "Mission 50%",
    "mission_100pct": "Mission 100%",
    "first_rotation": "First rotation",
    "lead_withdrawal": "{lead} withdraws",
    "mandate_lapsed": "Mandate lapses",
}
_WAIT_DAYS = 0.5  # shorter waits are the same day's bookkeeping, not worth a word


def format_story(record: Record, scenario: Scenario) -> str:
    """The replication's dated events in order, then a summary of its milestones and totals.

    One line per event: calendar date, day number, subsystem, what happened and its details; only
    the attrition of one instant, counted for every contingent at once, shares a line. Milestone
    lines start with ``*`` and say what the milestone last waited for (its binding constraint). A
    contingent's funding and flights say how long it waited since it was ready and which event, at
    the same instant, ended the wait. The summary gives every milestone's date (or "not reached by"
    the horizon), key totals, and what was still pending at the horizon.

    Args:
        record: A replication run with ``trace=True``.
        scenario: The scenario it ran.

    Returns:
        The story as text, lines separated by newlines.

    Raises:
        ValueError: If the record holds no trace.
    """
    events = traced_events(record)
    horizon = scenario.horizon_days
    start = scenario.start_date
    lines = [
        f"Story of scenario '{scenario.name}', seed {record.seed}, replication {record.replication}",
        f"From {start.isoformat()} (day 0) to {scenario.date_of(horizon).isoformat()} (day {horizon}). "
        "Milestones are marked '*'; 'binding' names what a milestone last waited for.",
        "",
    ]
    ready: dict[str, tuple[float, str]] = {}
    last_step: dict[str, tuple[float, str]] = {}
    losses_at: dict[float, list] = {}
    for i, event in enumerate(events):
        text = event.event + (f" ({event.details})" if event.details else "")
        mark = " "
        if event.kind == "losses":
            # Attrition is counted for every contingent at once: one line per count, not per contingent.
            count = int(event.officers or 0)
            previous = losses_at.get(event.day)
            if previous is not None:
                previous[1].append(f"{count} from {event.contingent}")
                previous[2] += count
                lines[previous[0]] = _loss_line(scenario, event, previous[1], previous[2])
                continue
            losses_at[event.day] = [len(lines), [f"{count} from {event.contingent}"], count]
            lines.append(_loss_line(scenario, event, losses_at[event.day][1], count))
            continue
        if event.subsystem == "milestone":
            mark = "*"
            milestone = event.name or ""
            binding = record.binding.get(milestone)
            text = event.event + (f" - binding: {binding} (it last waited for {_meaning(binding)})" if binding else "")
            if milestone == "base_ready" and scenario.unlimited_base:
                text += " (no base modelled: housing never binds)"
        elif event.kind in ("trained", "ready", "funded") and event.contingent:
            contingent = event.contingent
            if event.kind in ("trained", "ready"):
                ready[contingent] = (event.day, event.kind)
            else:
                since, how = ready.get(contingent, (event.day, ""))
                text += _wait(event.day - since, f"since {how}", _release(events, i))
                last_step[contingent] = (event.day, "funding")
        elif event.kind == "flight_leaves" and event.contingent:
            contingent = event.contingent
            since, how = last_step.get(contingent, (event.day, ""))
            text += _wait(event.day - since, f"after {how}", _release(events, i) or "for the aircraft")
            last_step[contingent] = (event.day, "its previous flight")
        lines.append(_event_line(scenario, event.day, event.subsystem, text, mark))
    lines += ["", *_summary(record, scenario, ready, last_step)]
    return "\n".join(lines)


def traced_events(record: Record) -> tuple:
    """The trace of a replication run with ``trace=True``; raise a ValueError for one run without it."""
    if record.trace is None or record.intervals is None:
        raise ValueError(
            f"replication {record.replication} was run without a trace; run simulate(..., trace=True) to tell its story"
        )
    return record.trace


def _meaning(binding: str) -> str:
    if binding in BINDING_MEANINGS:
        return BINDING_MEANINGS[binding]
    if binding in MILESTONES:
        return f"'{MILESTONES[binding]}'"
    return f"gate '{binding}'"


def _event_line(scenario: Scenario, day: float, subsystem: str, text: str, mark: str = " ") -> str:
    return f"{mark} {scenario.date_of(day).isoformat()}  day {int(day):>4}  {subsystem:<14}  {text}"


def _loss_line(scenario: Scenario, event: TraceEvent, parts: list[str], total: int) -> str:
    text = f"{total} {'officer' if total == 1 else 'officers'} lost this interval ({', '.join(parts)})"
    return _event_line(scenario, event.day, event.subsystem, text)


def _release(events: Sequence, i: int) -> str | None:
    """The latest earlier event at the same instant as event ``i`` that opens a condition, if any."""
    day = events[i].day
    for j in range(i - 1, -1, -1):
        if events[j].day != day:
            return None
        if events[j].kind in RELEASE_KINDS:
            other = events[j].contingent
            if events[j].kind == "flight_leaves" and other and other != events[i].contingent:
                # Contingents of one contributor leave in turn: another's departure is not a release of
                # money or room, only the end of the wait for this one's turn.
                return f"until its turn came, once {other} had left"
            return f"until: {events[j].event}"
    return None


def _wait(days: float, since: str, until: str | None) -> str:
    if days < _WAIT_DAYS:
        return ""
    return f" - waited {days:.0f} d {since}" + (f", {until}" if until else "")


def _summary(record: Record, scenario: Scenario, ready: dict, last_step: dict) -> list[str]:
    horizon = scenario.horizon_days
    horizon_date = scenario.date_of(horizon).isoformat()
    lead = scenario.force.lead_contributor
    lines = [f"Summary at the horizon, {horizon_date} (day {horizon})", "  Milestones"]
    width = max(len(label) for label in MILESTONES.values())
    for name, label in MILESTONES.items():
        day = record.milestones.get(name)
        if day is None or math.isnan(day):
            lines.append(f"    {label:<{width}}  not reached by {horizon_date}")
            continue
        when = f"{scenario.date_of(day).isoformat()} (day {int(day)})"
        binding = record.binding.get(name)
        note = f"  binding: {binding}" if binding else ""
        if name == "base_ready" and scenario.unlimited_base:
            note = "  (no base modelled: housing never binds)"
        lines.append(f"    {label:<{width}}  {when}{note}")

    t = record.totals
    peaks = [
        f"{name} {t[f'peak_{contributor_series(name)}']:,.0f}"
        for name in [lead, *scenario.contributors]
        if t.get(f"peak_{contributor_series(name)}", 0) > 0
    ]
    losses = t["injuries"] + t["casualties"] + t["resignations"]
    lines += [
        "  Totals",
        f"    Peak in theatre: {t['peak_in_theatre']:,.0f} officers" + (f" ({', '.join(peaks)})" if peaks else ""),
        f"    Holds: {t['holds']:.0f}, {t['hold_days']:.0f} days on hold",
        f"    Airport closed: {t['airport_closed_days']:.0f} days ({t['airport_closures']:.0f} closures); "
        f"flights waited {t['airport_delay_days']:.0f} days for it",
        f"    Arrears: {t['arrears_days']:.0f} days; US${t['arrears_usd_at_horizon'] / 1e6:.1f}M unpaid at the horizon",
        f"    Rotations: {t['rotations']:.0f} contingents relieved",
        f"    Losses: {losses:,.0f} officers ({t['injuries']:.0f} injured, {t['casualties']:.0f} killed, "
        f"{t['resignations']:.0f} resigned); {t['officers_withdrawn']:,.0f} withdrawn",
    ]

    withdrew = {e.name: e.day for e in record.trace or () if e.kind == "contributor_withdraws"}
    waiting = []
    for contingent, (day, how) in ready.items():
        if contingent in last_step:
            continue
        contributor = contingent.rsplit(" #", 1)[0]
        why = (
            f" ({contributor} withdrew on {scenario.date_of(withdrew[contributor]).isoformat()})"
            if contributor in withdrew else ""
        )
        waiting.append(f"    {contingent} {how} on {scenario.date_of(day).isoformat()}, not sent by the horizon{why}")
    open_spans = [
        f"    {lane}: {label} since {scenario.date_of(start).isoformat()}"
        for lane, start, end, label in sorted(record.intervals or (), key=lambda s: s[1])
        if end >= horizon and lane != "Training"
    ]
    if waiting or open_spans:
        lines += ["  Still waiting at the horizon", *open_spans, *waiting]
    lines += _critical_paths(record, scenario)
    return lines


#: Milestones whose critical path the story spells out.
CRITICAL_MILESTONES = ("first_arrival", "lead_100pct")


def _critical_paths(record: Record, scenario: Scenario) -> list[str]:
    """Where the days to the key milestones went: each segment of their critical path, dated."""
    lines: list[str] = []
    for name in CRITICAL_MILESTONES:
        chain = record.critical_paths.get(name)
        if not chain:
            continue
        if not lines:
            lines.append("  Where the days went (each milestone's critical path, by cause)")
        lines.append(f"    {MILESTONES[name]}, day {record.milestones[name]:.0f}:")
        for cause, start, end in chain:
            lines.append(f"      {cause}: {scenario.date_of(start).isoformat()} to {scenario.date_of(end).isoformat()},"
                         f" {end - start:.0f} d")
    return lines


__all__ = ["BINDING_MEANINGS", "MARKED_MILESTONES", "format_story", "traced_events"]
