"""Conditions a step waits for, and the one way of waiting for several of them.

Every precondition of a step (the viable administration, the absence of a hold, a named gate, the
airport, money, base capacity, the mandate) is a :class:`Condition`: it can say whether it holds now
and give an event that fires at its next change. :func:`wait_all` waits until all hold at once and
reports the last one it had to wait for: the **binding** constraint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import simpy

from sim.model.critical import Chain


def processed_event(env: simpy.Environment, value: Any = None) -> simpy.Event:
    """An event that has already succeeded and been processed, without ever entering the schedule.

    For an event that is triggered from the start and that nothing has to be woken by: processing
    it would cost a scheduled event that does nothing. A process that yields it goes on at once, as
    SimPy does for any processed event. Callers test ``triggered`` before they yield, so no process
    waits for it.
    """
    event = simpy.Event(env)
    event._ok = True
    event._value = value
    event.callbacks = None  # type: ignore[assignment]
    return event


class Signal:
    """The event of a quantity's next change, armed only when something waits for it.

    A change that nobody is waiting for schedules nothing, so a quantity that changes often (money,
    base places, officers in theatre) costs an event only when a waiter has to be woken.

    Args:
        env: The SimPy environment.
    """

    __slots__ = ("env", "_event")

    def __init__(self, env: simpy.Environment):
        self.env = env
        self._event: simpy.Event | None = None

    def wait(self) -> simpy.Event:
        """The event that fires at the next change (the same one for every waiter until then)."""
        event = self._event
        if event is None:
            event = self._event = self.env.event()
        return event

    def fire(self) -> None:
        """Wake whatever waits for the next change; later waiters get a fresh event."""
        event = self._event
        if event is not None:
            self._event = None
            event.succeed()


class Condition:
    """Something that holds or does not, and can tell when that may have changed."""

    name: str

    def is_open(self) -> bool:
        """Whether the condition holds now."""
        raise NotImplementedError

    def changed(self) -> simpy.Event:
        """An event that fires at the condition's next possible change."""
        raise NotImplementedError

    def opening_chain(self, day: float) -> Chain | None:
        """If the condition opened on ``day`` as the end of a task, that task's critical path.

        None for a condition that is only available or not (the airport, money, a hold): a wait for
        it is charged to its own name (see :func:`sim.model.critical.after_waits`).
        """
        return None


class Switch(Condition):
    """A condition that is opened and closed explicitly (a gate, the airport, the absence of a hold).

    It also keeps the total time it has been closed, up to now.

    Args:
        env: The SimPy environment.
        name: The name reported when this switch is binding.
        is_open: Its state at time 0.
    """

    def __init__(self, env: simpy.Environment, name: str, is_open: bool):
        self.env = env
        self.name = name
        self._open = is_open
        self._changed = Signal(env)
        self._closed_since: float | None = None if is_open else env.now
        self.closed_days_before = 0.0
        self.first_closed_days = 0.0
        self.closures = 0 if is_open else 1
        # Open from the start: already opened, an event with nothing to wake (no scheduled no-op).
        self.ever_opened = processed_event(env) if is_open else env.event()
        #: The critical path of the task whose end opened the switch, until it closes again.
        self.opening: Chain | None = None

    def is_open(self) -> bool:
        return self._open

    def changed(self) -> simpy.Event:
        return self._changed.wait()

    def opening_chain(self, day: float) -> Chain | None:
        return self.opening if self._open else None

    def set(self, is_open: bool) -> None:
        """Open or close the switch now; waiters are woken only by a real change."""
        if is_open == self._open:
            return
        self._open = is_open
        now = self.env.now
        if is_open:
            assert self._closed_since is not None  # closed until now, so a closing time was kept
            self.closed_days_before += now - self._closed_since
            self._closed_since = None
            if not self.ever_opened.triggered:
                self.first_closed_days = self.closed_days_before
                self.ever_opened.succeed()
        else:
            self._closed_since = now
            self.closures += 1
            self.opening = None
        self._changed.fire()

    def closed_days(self, until: float) -> float:
        """Total days closed from time 0 up to ``until``."""
        open_stretch = 0.0 if self._closed_since is None else max(0.0, until - self._closed_since)
        return self.closed_days_before + open_stretch


class Milestone(Condition):
    """A condition that holds once an event has happened (e.g. the reconnaissance is done)."""

    def __init__(self, name: str, event: simpy.Event):
        self.name = name
        self.event = event
        #: The critical path of what the event marks, set by whoever makes it happen.
        self.chain: Chain | None = None

    def is_open(self) -> bool:
        return self.event.triggered

    def changed(self) -> simpy.Event:
        return self.event

    def opening_chain(self, day: float) -> Chain | None:
        return self.chain


class Predicate(Condition):
    """A condition computed on demand (money in the fund, room in the base).

    Args:
        name: The name reported when it is binding.
        test: Returns whether the condition holds now.
        changed: Returns the event that fires when the quantities ``test`` reads may have changed.
        opening: If given, returns :meth:`opening_chain` for a day (a base stage finished that day).
    """

    def __init__(self, name: str, test: Callable[[], bool], changed: Callable[[], simpy.Event],
                 opening: Callable[[float], Chain | None] | None = None):
        self.name = name
        self._test = test
        self._changed = changed
        self._opening = opening

    def is_open(self) -> bool:
        return self._test()

    def changed(self) -> simpy.Event:
        return self._changed()

    def opening_chain(self, day: float) -> Chain | None:
        return None if self._opening is None else self._opening(day)


def wait_all(
    conditions: Iterable[Condition],
    binding: str | None = None,
    waited: dict[str, float] | None = None,
    log: Callable[[str], None] | None = None,
    waits: list[tuple[Condition, float, float]] | None = None,
):
    """Process fragment: wait until every condition holds at the same instant.

    Conditions are checked in the order given; the process waits on the first that does not hold,
    then checks them all again, so a condition that closes while another is awaited is caught.

    Args:
        conditions: What must hold.
        binding: The binding constraint so far (from earlier waits of the same step).
        waited: If given, the days spent waiting on each condition are added to it, by name.
        log: If given, called with a condition's name each time the wait turns to a new condition.
        waits: If given, ``(condition, start, end)`` is appended for each stretch spent waiting on one
            condition, in time order (the input of :func:`sim.model.critical.after_waits`).

    Returns:
        The name of the last condition that made the process wait, or ``binding`` if none did.
    """
    conditions = list(conditions)
    while True:
        for blocked in conditions:
            if not blocked.is_open():
                break
        else:
            return binding
        if log is not None and blocked.name != binding:
            log(blocked.name)
        binding = blocked.name
        event = blocked.changed()
        start = event.env.now
        yield event
        end = event.env.now
        if waited is not None:
            waited[blocked.name] = waited.get(blocked.name, 0.0) + end - start
        if waits is not None and end > start:
            waits.append((blocked, start, end))



def recurring_closures(
    env: simpy.Environment,
    switch: Switch,
    per_year: float,
    duration: Any,
    rng: np.random.Generator,
    on_close: Callable[[float], None],
    on_open: Callable[[float], None],
    quiet_until: float = 0.0,
):
    """Process fragment: close ``switch`` at a constant rate, each time for a drawn duration.

    The shape shared by airport closures, holds after setbacks and court blocks of a gate. Gaps
    between closures are exponential (``per_year`` per 365 days, counted while open); a drawn
    duration of zero is no closure.

    Args:
        env: The SimPy environment.
        switch: What closes and reopens.
        per_year: Closures per 365 days; nothing happens if it is not positive.
        duration: A distribution of the days one closure lasts.
        rng: The stream both the gaps and the durations come from, in that order.
        on_close: Called with the drawn duration just after the switch closes.
        on_open: Called with the closure's start day just after the switch reopens.
        quiet_until: No closure begins before this day (a re-forecast's as-of day: before it, the
            observations are the record). The gaps are memoryless, so starting the clock then is
            exactly the process conditioned on no closure before it.
    """
    if per_year <= 0:
        return
    mean_gap = 365.0 / per_year
    if quiet_until > env.now:
        yield env.timeout(quiet_until - env.now)
    while True:
        yield env.timeout(rng.exponential(mean_gap))
        days = duration.sample(rng)
        if days <= 0:
            continue
        switch.set(False)
        on_close(days)
        start = env.now
        yield env.timeout(days)
        switch.set(True)
        on_open(start)


def observed_closures(
    env: simpy.Environment,
    switch: Switch,
    spans: Sequence[tuple[float, float | None]],
    duration: Any,
    rng: np.random.Generator,
    as_of_day: float,
    on_close: Callable[[float], None],
    on_open: Callable[[float], None],
):
    """Process fragment: replay observed closures of ``switch``, each ``(start, end)`` in days.

    A closure still under way on the as-of day (``end`` None) lasts a drawn ``duration`` conditioned on
    having lasted until then (residual life, one uniform from ``rng``).
    """
    for start, end in spans:
        if end is None:
            end = start + duration.sample_after(rng, as_of_day - start)
        if start > env.now:
            yield env.timeout(start - env.now)
        switch.set(False)
        on_close(end - start)
        yield env.timeout(max(0.0, end - env.now))
        switch.set(True)
        on_open(start)
