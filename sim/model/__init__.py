"""The SimPy model: one module per subsystem, wired together in :mod:`sim.model.mission`.

:func:`simulate` is the only entry point: a pure function of (resolved scenario, seed, replication)
that builds a fresh environment, runs it to the horizon and returns a :class:`sim.model.record.Record`.
"""

from sim.model.mission import simulate

__all__ = ["simulate"]
