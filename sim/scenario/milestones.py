"""The milestones a replication records, with the labels a reader sees, in the deployment's order.

Part of what a scenario may say (a gate may wait for a milestone), so it sits in the lowest layer;
the model's :class:`sim.model.record.Record` carries a day for each.
"""

from __future__ import annotations

__all__ = ["GATED_MILESTONES", "MILESTONES", "MILESTONE_CHAIN", "check_milestone", "unknown_milestone"]

#: Milestones, with the label a reader sees.
MILESTONES: dict[str, str] = {
    "authority_named": "Transitional authority named",
    "administration_viable": "Viable administration installed",
    "recon_started": "Reconnaissance leaves",
    "recon_done": "Reconnaissance done",
    "base_ready": "First base stage ready",
    "first_departure": "First contingent departs",
    "first_arrival": "First contingent lands",
    "lead_25pct": "25% of the lead pledge delivered",
    "lead_50pct": "50% of the lead pledge delivered",
    "lead_75pct": "75% of the lead pledge delivered",
    "lead_100pct": "All of the lead pledge delivered",
    "mission_50pct": "50% of planned mission strength delivered",
    "mission_100pct": "Planned mission strength delivered",
    "first_rotation": "First contingent relieved",
    "lead_withdrawal": "Lead contributor withdraws",
    "mandate_lapsed": "Mandate lapses (not renewed)",
}


#: Milestones that always come in this order when reached (the deployment's critical chain).
MILESTONE_CHAIN = (
    "authority_named", "administration_viable", "recon_started", "recon_done", "first_departure",
    "first_arrival", "lead_25pct", "lead_50pct", "lead_75pct", "lead_100pct",
)


#: Milestones that carry a binding constraint: the last condition that held them back.
GATED_MILESTONES = (
    "recon_started", "recon_done", "base_ready", "first_departure", "first_arrival", "lead_25pct", "lead_50pct",
    "lead_75pct", "lead_100pct", "mission_50pct", "mission_100pct", "first_rotation",
)


def unknown_milestone(name: str) -> str:
    """The message for a name that is no milestone, with the closest one or the list of all.

    Example:
        >>> unknown_milestone("first_arival")
        "unknown milestone 'first_arival'; did you mean 'first_arrival'?"
    """
    import difflib

    close = difflib.get_close_matches(name, list(MILESTONES), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(MILESTONES)}"
    return f"unknown milestone {name!r}; {hint}"


def check_milestone(name: str) -> None:
    """Raise a KeyError (see :func:`unknown_milestone`) unless ``name`` is a milestone."""
    if name not in MILESTONES:
        raise KeyError(unknown_milestone(name))

