"""What can be wrong with a scenario: a :class:`Problem` (where, and what was expected) and the
:class:`ScenarioError` that carries them.

Kept apart from :mod:`sim.scenario.loader`, which raises them, so that the command line can catch
them without importing pydantic or numpy; import them from the loader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where it is and what was expected."""

    source: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used. ``str()`` gives one line per problem.

    Example:
        >>> from sim.scenario.loader import load_scenario
        >>> try:
        ...     load_scenario("baseline", ["funding.runway_dayz=30"])
        ... except ScenarioError as exc:
        ...     print(exc)
        --set: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?
    """

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


__all__ = ["Problem", "ScenarioError"]
