"""Random streams: one SeedSequence per batch, one child per replication, one stream per subsystem.

Replication ``k`` of a batch seeded ``s`` gets ``SeedSequence(s, spawn_key=(k,))``, the same child
``SeedSequence(s).spawn(n)[k]`` would give, so it can be rerun alone and does not depend on the
number of workers. Inside it, each subsystem (and each named item, such as one donor's pledge) draws
from its own stream keyed by its name, so two scenarios run with the same seed share their draws
subsystem by subsystem (common random numbers).

A stream's PCG64 state is a keyed BLAKE2b hash of its name, the key being 256 bits generated once by
the replication's SeedSequence. That is a function of (seed, replication, name) alone, like a child
SeedSequence per name, but costs a hash instead of a SeedSequence, which matters at 28 streams a
replication.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import numpy as np
from numpy.random.bit_generator import ISeedSequence

#: Bytes of the per-replication key (BLAKE2b takes up to 64) and of each stream's seed material.
_KEY_BYTES = 32
_STATE_BYTES = 32


def replication_sequence(seed: int, replication: int) -> np.random.SeedSequence:
    """The SeedSequence of one replication: child ``replication`` of the batch's sequence."""
    return np.random.SeedSequence(seed, spawn_key=(replication,))


#: Little-endian dtypes of the word types bit generators ask for.
_LITTLE: dict[Any, np.dtype] = {t: np.dtype(t).newbyteorder("<") for t in (np.uint32, np.uint64)}


class _HashedSeed(ISeedSequence):
    """Seed material already mixed by a cryptographic hash, handed to a bit generator as it is.

    Raise a ValueError if more words are asked for than the material holds.
    """

    __slots__ = ("_material",)

    def __init__(self, material: bytes):
        self._material = material

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:  # type: ignore[override]
        """The first ``n_words`` words of the material, read little-endian on every platform."""
        little = _LITTLE.get(dtype)
        if little is None:
            little = np.dtype(dtype).newbyteorder("<")
        if n_words * little.itemsize > len(self._material):
            raise ValueError(f"asked for {n_words} words of {np.dtype(dtype)}, have "
                             f"{len(self._material) // little.itemsize}")
        words = np.frombuffer(self._material, dtype=little, count=n_words)
        # Read-only is enough for a bit generator's seeding; a big-endian machine gets a native copy.
        return words if little.isnative else words.astype(np.dtype(dtype))


@functools.lru_cache(maxsize=4096)
def _name_bytes(names: tuple[str, ...]) -> bytes:
    # Length-prefixed, so ("ab", "c") and ("a", "bc") cannot collide whatever characters names hold.
    return b"".join(len(b).to_bytes(4, "little") + b for b in (n.encode("utf-8") for n in names))


class Streams:
    """The named random streams of one replication, created on first use.

    Args:
        seed: The batch seed (a non-negative integer).
        replication: The replication index within the batch.
    """

    def __init__(self, seed: int, replication: int):
        words = replication_sequence(seed, replication).generate_state(_KEY_BYTES // 4, np.uint32)
        self._key: bytes = words.astype(_LITTLE[np.uint32], copy=False).tobytes()
        self._cache: dict[tuple[str, ...], np.random.Generator] = {}

    def __call__(self, *names: str) -> np.random.Generator:
        """The generator for a subsystem, optionally narrowed to an item: ``streams("funding", "canada")``."""
        gen = self._cache.get(names)
        if gen is None:
            material = hashlib.blake2b(_name_bytes(names), digest_size=_STATE_BYTES, key=self._key).digest()
            # PCG64 takes any object with generate_state (numpy's ISeedSequence protocol); the stubs name only
            # SeedSequence.
            gen = self._cache[names] = np.random.Generator(np.random.PCG64(_HashedSeed(material)))  # type: ignore[arg-type]
        return gen
