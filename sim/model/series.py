"""Piecewise-constant series recorded at their changes (officers in theatre, fund balance)."""

from __future__ import annotations

import numpy as np


class StepSeries:
    """A piecewise-constant series recorded at its changes only."""

    def __init__(self, value: float):
        self.days: list[float] = [0.0]
        self.values: list[float] = [value]

    def set(self, day: float, value: float) -> None:
        """Record that the series takes ``value`` from ``day`` on."""
        if value == self.values[-1]:
            return
        if day == self.days[-1]:
            # Several changes at one instant: only the last is ever observable.
            self.values[-1] = value
            if len(self.values) > 1 and self.values[-2] == value:
                self.days.pop()
                self.values.pop()
        else:
            self.days.append(day)
            self.values.append(value)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The series as ``(days, values)`` arrays."""
        return np.asarray(self.days, dtype=float), np.asarray(self.values, dtype=float)
