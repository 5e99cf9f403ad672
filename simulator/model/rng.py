"""Named random streams derived from one seed.

Every random component asks for its own stream by name (``"arrivals"``, ``"users"``,
``"service"``, ``"balancer"``...). A stream depends only on the seed, the replication
number and its name, never on which other streams exist or the order they are created in,
so every strategy compared in one run sees the same arrivals, users and service times
(common random numbers), and adding a component never shifts the others.

The stable hash of client addresses and ring points (:func:`splitmix64`, :func:`hash64`)
lives here too: like the streams, it must give the same value in every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt


def _name_key(name: str) -> int:
    """A stable 32-bit key for a stream name (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")


class Streams:
    """Factory of independent, reproducible generators.

    Args:
        seed: the scenario seed.
        replication: replication index; each gives an independent set of streams.
    """

    def __init__(self, seed: int, replication: int = 0) -> None:
        if seed < 0 or replication < 0:
            raise ValueError("seed and replication must be non-negative")
        self.seed = seed
        self.replication = replication

    def generator(self, name: str) -> np.random.Generator:
        """A fresh generator for ``name``: the same values every time it is asked for."""
        sequence = np.random.SeedSequence(
            entropy=self.seed, spawn_key=(self.replication, _name_key(name))
        )
        return np.random.Generator(np.random.PCG64(sequence))


class DrawBuffer:
    """Random draws one at a time, generated in blocks for speed.

    Drawing a single value from numpy costs about a microsecond; a block of 4096 costs
    about as much as ten single draws, so hot paths (random routing, store operation
    times) take their values from a buffer.

    Args:
        draw: ``draw(n)`` returns the next ``n`` values of the stream.
        block: values generated per call of ``draw``.
    """

    __slots__ = ("_block", "_draw", "_index", "_values")

    def __init__(self, draw: Callable[[int], npt.NDArray[np.float64]], block: int = 4096) -> None:
        self._draw = draw
        self._block = block
        self._values: list[float] = []
        self._index = 0

    def next(self) -> float:
        """The next value of the stream."""
        if self._index >= len(self._values):
            self._values = self._draw(self._block).tolist()
            self._index = 0
        value = self._values[self._index]
        self._index += 1
        return value


def uniform_buffer(generator: np.random.Generator) -> DrawBuffer:
    """Uniform draws in [0, 1) from ``generator``."""
    return DrawBuffer(generator.random)


def exponential_buffer(generator: np.random.Generator, mean: float) -> DrawBuffer:
    """Exponential draws with the given mean from ``generator``."""
    return DrawBuffer(lambda n: generator.exponential(mean, n))


# ---------------------------------------------------------------- the stable hash

_MASK64 = (1 << 64) - 1


def splitmix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """A stable 64-bit mixing hash (SplitMix64 finaliser), applied element-wise.

    Used for ``ip_hash`` and the consistent-hash ring: stable across processes and
    platforms, and well spread even for consecutive inputs.
    """
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash64(value: int) -> int:
    """:func:`splitmix64` of one integer, in plain Python (no array for one value)."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)
