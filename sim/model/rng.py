"""Random streams: one SeedSequence per batch, one child per replication, one stream per subsystem.

Replication ``k`` of a batch seeded ``s`` gets ``SeedSequence(s, spawn_key=(k,))``, the same child
``SeedSequence(s).spawn(n)[k]`` would give, so it can be rerun alone and does not depend on the
number of workers. Inside it, each subsystem (and each named item, such as one donor's pledge) draws
from its own stream keyed by its name, so two scenarios run with the same seed share their draws
subsystem by subsystem (common random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np


def replication_sequence(seed: int, replication: int) -> np.random.SeedSequence:
    """The SeedSequence of one replication: child ``replication`` of the batch's sequence."""
    return np.random.SeedSequence(seed, spawn_key=(replication,))


def _name_key(name: str) -> int:
    # crc32 is stable across runs and platforms, unlike hash(), which is salted per process.
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """The named random streams of one replication, created on first use.

    Args:
        seed: The batch seed (a non-negative integer).
        replication: The replication index within the batch.
    """

    def __init__(self, seed: int, replication: int):
        self._base = replication_sequence(seed, replication)
        self._cache: dict[tuple[str, ...], np.random.Generator] = {}

    def __call__(self, *names: str) -> np.random.Generator:
        """The generator for a subsystem, optionally narrowed to an item: ``streams("funding", "canada")``."""
        gen = self._cache.get(names)
        if gen is None:
            seq = np.random.SeedSequence(
                self._base.entropy,
                spawn_key=(*self._base.spawn_key, *(_name_key(n) for n in names)),
            )
            gen = self._cache[names] = np.random.Generator(np.random.PCG64(seq))
        return gen
