"""A latency histogram with geometric bins: bounded memory, bounded relative error.

Bin ``k`` holds values in ``[floor * r**k, floor * r**(k+1))`` with ``r = 1.01``; a
quantile is reported as its bin's geometric centre (clamped to the smallest and largest
value seen), so it is within ``sqrt(r) - 1`` (about 0.5%) of a value in that bin.
Latencies from a microsecond to a day need about 2,300 bins, whatever the number of
requests.
"""

from __future__ import annotations

import math

RATIO = 1.01
"""Width of a bin, as a ratio of its upper to its lower edge."""

FLOOR_MS = 1e-3
"""Values at or below this (1 us) share one bin."""

_INV_LOG_RATIO = 1.0 / math.log(RATIO)
_INV_FLOOR = 1.0 / FLOOR_MS
_LOW = -1  # the bin of values at or below FLOOR_MS


def bin_index(value_ms: float) -> int:
    """The bin of ``value_ms``: ``floor(log(value / FLOOR_MS) / log(RATIO))``, or -1."""
    return int(math.log(value_ms * _INV_FLOOR) * _INV_LOG_RATIO) if value_ms > FLOOR_MS else _LOW


class LogHistogram:
    """Counts of values (ms) in geometric bins, plus their exact count, sum, min and max."""

    __slots__ = ("counts", "maximum", "minimum", "n", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, value_ms: float) -> None:
        """Count one value."""
        index = bin_index(value_ms)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        self.n += 1
        self.total += value_ms
        self.minimum = min(self.minimum, value_ms)
        self.maximum = max(self.maximum, value_ms)

    def merge(self, other: LogHistogram) -> None:
        """Add every value counted by ``other``."""
        counts = self.counts
        for index, count in other.counts.items():
            counts[index] = counts.get(index, 0) + count
        self.n += other.n
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @property
    def mean(self) -> float | None:
        """The exact mean of the values, or ``None`` for none."""
        return self.total / self.n if self.n else None

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0 to 1), within about 0.5%; ``None`` for no values.

        As numpy's default (linear) method: the rank ``q * (n - 1)`` falls between two
        order statistics and the result interpolates between them; each order statistic
        is represented by the centre of its bin, so the result is within the bins'
        relative half-width of numpy's.
        """
        if not self.n:
            return None
        rank = q * (self.n - 1)
        below = math.floor(rank)
        low = self._value_at(below)
        if rank == below or below + 1 >= self.n:
            return low
        return low + (rank - below) * (self._value_at(below + 1) - low)

    def _value_at(self, rank: int) -> float:
        """The order statistic ``rank`` (0-based), as the centre of its bin."""
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen > rank:
                centre = self.minimum if index == _LOW else FLOOR_MS * RATIO ** (index + 0.5)
                return min(max(centre, self.minimum), self.maximum)
        return self.maximum

    def summary(self) -> dict[str, float | None]:
        """Mean, p50, p95 and p99, as :func:`simulator.results.metrics.latency_summary` gives."""
        return {
            "mean": self.mean,
            "p50": self.quantile(0.50),
            "p95": self.quantile(0.95),
            "p99": self.quantile(0.99),
        }
