"""Lean stand-ins for the three SimPy resources the model uses: training seats, a ready queue, an aircraft.

SimPy's ``Container``, ``Store`` and ``Resource`` build each request as an event subclass with queues
of pending puts and gets that are scanned on every request and every processed event. The model
uses each in one simple way (seats are only ever given back after being taken, the queue has no
capacity, an aircraft serves one departure at a time), so these classes keep only what that needs.

They schedule the **same events at the same points** as the SimPy classes they replace, so a
replication's steps, their order and every number are unchanged:

- a request that can be served now is an event succeeded at once (scheduled now), except that the
  aircraft's is an event already processed and never scheduled: its caller does not yield it, so
  SimPy's would be a step that does nothing;
- a put or a release is an event succeeded at once whose processing (its first callback, before
  the process that yielded it resumes) serves waiting requests, as SimPy's ``_trigger_get`` and
  ``_trigger_put`` callbacks do;
- waiting requests are served first come, first served, with SimPy's rules for which of them a
  trigger looks at: every one that fits for seats (a ``Container``), only the first for the ready
  queue (a ``Store``) and the aircraft (a ``Resource``).
"""

from __future__ import annotations

from typing import Any

import simpy
from simpy.events import Event

from sim.model.conditions import processed_event


class Seats:
    """Training seats: a ``simpy.Container`` that starts full and only gets back what was taken.

    Args:
        env: The SimPy environment.
        capacity: Seats, all free at the start.
    """

    __slots__ = ("env", "capacity", "level", "_waiting")

    def __init__(self, env: simpy.Environment, capacity: float):
        self.env = env
        self.capacity = capacity
        self.level = capacity
        self._waiting: list[tuple[Event, float]] = []

    def get(self, amount: float) -> Event:
        """An event that succeeds once ``amount`` seats are taken (now, if they are free and no one waits)."""
        if amount <= 0:
            raise ValueError(f"amount(={amount}) must be > 0.")
        event = Event(self.env)
        self._waiting.append((event, amount))
        self._serve(None)
        return event

    def put(self, amount: float) -> Event:
        """Give back ``amount`` seats now; processing the returned event serves waiting requests.

        Raises:
            ValueError: If more seats would be free than there are (never in the model: only seats
                taken are given back).
        """
        if amount <= 0:
            raise ValueError(f"amount(={amount}) must be > 0.")
        if self.level + amount > self.capacity:
            raise ValueError(f"giving back {amount} seats would leave more than {self.capacity} free")
        self.level += amount
        event = Event(self.env)
        event.callbacks.append(self._serve)  # type: ignore[union-attr]
        event.succeed()
        return event

    def _serve(self, _: Event | None) -> None:
        waiting = self._waiting
        while waiting:
            event, amount = waiting[0]
            if self.level < amount:
                break
            self.level -= amount
            del waiting[0]
            event.succeed()


class ReadyQueue:
    """Items waiting to be taken in order: a ``simpy.Store`` of unlimited capacity.

    Args:
        env: The SimPy environment.
    """

    __slots__ = ("env", "items", "_waiting")

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.items: list[Any] = []
        self._waiting: list[Event] = []

    def put(self, item: Any) -> Event:
        """Add ``item`` now; processing the returned event hands it to a waiting taker."""
        self.items.append(item)
        event = Event(self.env)
        event.callbacks.append(self._serve)  # type: ignore[union-attr]
        event.succeed()
        return event

    def get(self) -> Event:
        """An event whose value is the first item (succeeded now if one is there and no one waits)."""
        event = Event(self.env)
        self._waiting.append(event)
        self._serve(None)
        return event

    def _serve(self, _: Event | None) -> None:
        # Like a Store, each trigger looks at the first waiting taker only.
        if self._waiting and self.items:
            self._waiting.pop(0).succeed(self.items.pop(0))


class Slot:
    """An aircraft, one departure at a time: a ``simpy.Resource`` of capacity one.

    Args:
        env: The SimPy environment.
        capacity: Departures served at once.
    """

    __slots__ = ("env", "capacity", "users", "_waiting")

    def __init__(self, env: simpy.Environment, capacity: int = 1):
        self.env = env
        self.capacity = capacity
        self.users: list[Event] = []
        self._waiting: list[Event] = []

    def request(self) -> Event:
        """An event that succeeds once the slot is this request's (now, if it is free and no one waits).

        A request granted at once is an event already processed: its caller sees it triggered and does
        not yield it, so scheduling it would only process a no-op.
        """
        if not self._waiting and len(self.users) < self.capacity:
            event = processed_event(self.env)
            self.users.append(event)
            return event
        event = Event(self.env)
        self._waiting.append(event)
        self._grant(None)
        return event

    def release(self, request: Event) -> Event:
        """Free the slot held by ``request`` now; processing the returned event grants the next request."""
        event = Event(self.env)
        event.callbacks.append(self._grant)  # type: ignore[union-attr]
        if request in self.users:
            self.users.remove(request)
        event.succeed()
        return event

    def _grant(self, _: Event | None) -> None:
        # Like a Resource, each trigger looks at the first waiting request only.
        if self._waiting and len(self.users) < self.capacity:
            event = self._waiting.pop(0)
            self.users.append(event)
            event.succeed()
