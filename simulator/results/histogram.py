"""A latency histogram with geometric bins: bounded memory, bounded relative error.

Bin ``k`` holds values in ``[floor * r**k, floor * r**(k+1))`` with ``r = 1.01``; a
quantile is reported as its bin's geometric centre (clamped to the smallest and largest
value seen), so it is within ``sqrt(r) - 1`` (about 0.5%) of a value in that bin.
Latencies from a microsecond to a day need about 2,300 bins, whatever the number of
requests.
"""

from __future__ import annotations

import bisect
import itertools
import math

import numpy as np
import numpy.typing as npt

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


_EDGE_SLACK = 1e-9
"""How close to a bin edge (in bins) numpy's ``log`` is not trusted to agree with
:func:`math.log`: they may differ in the last bit."""


def bin_indices(values_ms: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """:func:`bin_index` of each value, exactly: numpy's ``log`` may round differently
    from :func:`math.log` in the last bit, so values within a hair of a bin edge are
    binned again one by one with :func:`bin_index`."""
    values = np.asarray(values_ms, dtype=np.float64)
    if values.size and float(values.min()) > FLOOR_MS and float(values.max()) < math.inf:
        return bin_indices_inside(values)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        position = np.log(values * _INV_FLOOR)
        position *= _INV_LOG_RATIO
        index = position.astype(np.int64)  # meaningless where the value is at or below the floor
        fraction = position - index
    low = ~(values > FLOOR_MS)  # NaN included, as bin_index has it
    near = (fraction < _EDGE_SLACK) | (fraction > 1.0 - _EDGE_SLACK)
    near &= ~low
    near |= np.isposinf(values)  # bin_index raises for it, as add does
    index[low] = _LOW
    for at in np.flatnonzero(near).tolist():
        index[at] = bin_index(float(values[at]))
    return index


def bin_indices_inside(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """:func:`bin_indices` of values the caller knows are all above ``FLOOR_MS`` and
    finite (no NaN): no value needs the floor's bin, so there are fewer passes over
    them."""
    position = np.multiply(values, _INV_FLOOR)
    np.log(position, out=position)
    position *= _INV_LOG_RATIO
    whole = np.floor(position)  # (positions are >= 0: the floor is the truncation)
    index = whole.astype(np.int64)
    position -= whole  # the fraction of a bin above the lower edge (no integer cast)
    near = position < _EDGE_SLACK
    near |= position > 1.0 - _EDGE_SLACK
    if near.any():  # (rarely: a few values in a billion)
        for at in np.flatnonzero(near).tolist():
            index[at] = bin_index(float(values[at]))
    return index


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

    def add_many(self, values_ms: npt.ArrayLike) -> None:
        """Count many values: the same state as :meth:`add` on each in turn (the sum is
        made in the same order, and new bins are added to ``counts`` in the order
        :meth:`add` would add them)."""
        values = np.asarray(values_ms, dtype=np.float64).ravel()
        if not values.size:
            return
        indices = bin_indices(values)
        low = int(indices.min())
        tallies = np.bincount(indices - low)
        present = np.flatnonzero(tallies)
        if len(present) == 1:
            order = present
        else:  # new bins enter ``counts`` in the order of their first value
            shifted = indices - low
            if len(tallies) <= 1 << 16:
                shifted = shifted.astype(np.uint16)  # a radix sort
            by_bin = np.argsort(shifted, kind="stable")
            firsts = by_bin[np.searchsorted(shifted[by_bin], present)]
            order = present[np.argsort(firsts, kind="stable")]
        counts = self.counts
        added = tallies[order].tolist()
        if not counts:
            counts.update(zip((order + low).tolist(), added, strict=True))
        else:
            for index, tally in zip((order + low).tolist(), added, strict=True):
                counts[index] = counts.get(index, 0) + tally
        self.n += int(values.size)
        # a running sum, as add makes it (not numpy's pairwise sum)
        self.total = float(np.cumsum(np.concatenate(([self.total], values)))[-1])
        smallest = float(values.min())
        if not smallest > 0.0:  # NaN (the minimum is NaN then), 0.0 or below
            for value in values.tolist():  # NaN, or 0.0 and -0.0: min/max follow the order
                self.minimum = min(self.minimum, value)
                self.maximum = max(self.maximum, value)
        else:
            self.minimum = min(self.minimum, smallest)
            self.maximum = max(self.maximum, float(values.max()))

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
        return self.quantiles([q])[0]

    def quantiles(self, qs: list[float]) -> list[float | None]:
        """:meth:`quantile` of each of ``qs`` (the bins sorted once)."""
        if not self.n:
            return [None] * len(qs)
        bins = sorted(self.counts)
        seen = list(itertools.accumulate(self.counts[index] for index in bins))
        found: list[float | None] = []
        for q in qs:
            rank = q * (self.n - 1)
            below = math.floor(rank)
            low = self._value_at(below, bins, seen)
            if rank == below or below + 1 >= self.n:
                found.append(low)
            else:
                found.append(low + (rank - below) * (self._value_at(below + 1, bins, seen) - low))
        return found

    def _value_at(self, rank: int, bins: list[int], seen: list[int]) -> float:
        """The order statistic ``rank`` (0-based), as the centre of its bin (``bins``: the
        bins in order, ``seen``: the running count of values up to each)."""
        at = bisect.bisect_right(seen, rank)  # the first bin whose running count passes rank
        if at == len(bins):
            return self.maximum
        index = bins[at]
        centre = self.minimum if index == _LOW else FLOOR_MS * RATIO ** (index + 0.5)
        return min(max(centre, self.minimum), self.maximum)

    def summary(self) -> dict[str, float | None]:
        """Mean, p50, p95 and p99, as :func:`simulator.results.metrics.latency_summary` gives."""
        p50, p95, p99 = self.quantiles([0.50, 0.95, 0.99])
        return {"mean": self.mean, "p50": p50, "p95": p95, "p99": p99}
