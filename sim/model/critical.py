"""The critical path of a replication: where the days up to each milestone went, cause by cause.

A **chain** is a tuple of segments ``(cause, start, end)`` that follow each other without a gap from
day 0 to the day a step was reached. Each process of the model carries the chain of its own progress:
work extends it by its duration (``training``, ``flight``, ``base construction``...), and a wait for
conditions extends it by walking the wait backwards (:func:`after_waits`): a condition that is a task
with a chain of its own (the administration, the reconnaissance, a base stage, a gate's first
opening) hands over its chain, so an upstream delay shows under its own name; any other condition
(the airport, a hold, money, the airlift) is charged the days it was waited for. A milestone's chain
therefore sums exactly to its day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.model.conditions import Condition

#: One stretch of the critical path: the cause, and the days it began and ended.
Segment = tuple[str, float, float]
#: Segments that follow each other from day 0 without a gap.
Chain = tuple[Segment, ...]

#: The chain of something reached on day 0.
EMPTY: Chain = ()


def chain_end(chain: Chain) -> float:
    """The day a chain reaches (0 for the empty chain)."""
    return chain[-1][2] if chain else 0.0


def extend(chain: Chain, cause: str, end: float) -> Chain:
    """``chain`` followed by ``cause`` up to day ``end`` (unchanged if ``end`` is not later than its end).

    A cause that continues the last segment's cause lengthens that segment instead of adding one.
    """
    start = chain_end(chain)
    if end <= start:
        return chain
    if chain and chain[-1][0] == cause:
        return (*chain[:-1], (cause, chain[-1][1], end))
    return (*chain, (cause, start, end))


def cut(chain: Chain, end: float) -> Chain:
    """The part of ``chain`` up to day ``end``."""
    if chain_end(chain) <= end:
        return chain
    kept = []
    for cause, start, stop in chain:
        if start >= end:
            break
        kept.append((cause, start, min(stop, end)))
    return tuple(kept)


def after_waits(chain: Chain, waits: Sequence[tuple[Condition, float, float]]) -> Chain:
    """The chain of a step that had reached ``chain`` and then waited as ``waits`` records.

    ``waits`` holds ``(condition, start, end)`` for each stretch a step waited on one condition, in
    time order (as :func:`sim.model.conditions.wait_all` records them). Walking backwards from the
    last wait, stretches spent on a plain condition are charged to its name; the first task-like
    condition met (one whose opening has a chain, see :meth:`Condition.opening_chain`) is the
    critical predecessor: its chain replaces everything before it, because the step could not have
    gone on before that task was done, whatever else it waited for earlier.
    """
    tail: list[tuple[str, float]] = []
    base = chain
    for condition, _start, end in reversed(waits):
        opened = condition.opening_chain(end)
        if opened is not None:
            base = cut(opened, end)
            if chain_end(base) < end:
                base = extend(base, condition.name, end)
            break
        tail.append((condition.name, end))
    for cause, end in reversed(tail):
        base = extend(base, cause, end)
    return base


def days_by_cause(chain: Chain) -> dict[str, float]:
    """Days per cause along a chain, in the order the causes first appear on it."""
    days: dict[str, float] = {}
    for cause, start, end in chain:
        days[cause] = days.get(cause, 0.0) + (end - start)
    return days
