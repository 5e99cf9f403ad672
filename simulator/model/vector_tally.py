"""The vector engine's counts of the measured requests: what the DES's
:class:`~simulator.results.timeseries.Tally` holds at the end of a run, computed directly.

The tally counts a request in the bucket of its *arrival*, and the requests of a run of
the vector engine are known in arrival order (the order of the request stream), so every
bucket is a contiguous slice of that order: counts, histogram bins, smallest and largest
latency need no sorting at all. Only the latency sum of a bucket depends on an order
(the DES adds the latencies one by one, in the order the requests finish): it is made,
when asked for, bucket by bucket in that order (see :func:`count_requests`).

Everything here is exact: the same counts, the same bins (:func:`bin_indices`), the same
sums made in the same order, the same quantiles (:meth:`LogHistogram.quantiles`, whose
steps :func:`bucket_quantiles` repeats with the same floating-point operations).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator import outcomes
from simulator.results.histogram import (
    FLOOR_MS,
    RATIO,
    LogHistogram,
    bin_indices,
    bin_indices_inside,
)
from simulator.results.metrics import PERCENTILES, latency_summary
from simulator.results.timeseries import Buckets

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

QUANTILES: tuple[float, ...] = (0.50, 0.95, 0.99)
"""The quantiles of the latency series (as :class:`StrategySeries` has them)."""

BIN_LOW = -1
"""The lowest histogram bin (values at or below ``FLOOR_MS``)."""

BIN_SPAN = 4096
"""Histogram bins counted from :data:`BIN_LOW` (values up to 1e-3 * 1.01**4095 ms, about
2e14 ms: any latency; larger ones make :func:`np.bincount` grow the count)."""


@dataclass
class Counted:
    """What a :class:`Tally` would hold after counting a run's measured requests.

    Attributes:
        buckets: the time buckets.
        requests: requests that arrived in each bucket.
        succeeded: of those, the ``ok`` ones (here also the served ones).
        forced: of those, the ones that forced a re-login (none: the engine has none).
        latency_ms: p50, p95 and p99 of each bucket's served latencies, ms (NaN where
            none), shape (3, B).
        overall: every served latency in one histogram (only when asked for: its sum
            needs the order the requests finish).
        window: requests and ``ok`` ones of the (single) window, then forced re-logins
            by cause (zeros).
        served_ms: the served latencies, ms, in arrival order.
        bins: how many of them fall in each histogram bin, from :data:`BIN_LOW`.
    """

    buckets: Buckets
    requests: IntArray
    succeeded: IntArray
    forced: IntArray
    latency_ms: FloatArray
    overall: LogHistogram | None
    window: list[int]
    served_ms: FloatArray
    bins: IntArray

    def window_counts(self, begin_s: float, end_s: float, first: bool) -> list[int]:
        """:meth:`Tally.window_counts`: the run has one window, keyed ``-inf``."""
        if (begin_s <= -math.inf < end_s) or (first and -math.inf < begin_s):
            return list(self.window)
        return [0] * len(self.window)

    def window_users(self, begin_s: float, end_s: float, first: bool) -> int:
        """:meth:`Tally.window_users`: nobody is logged out."""
        return 0


def first_where(count: int, reached: Callable[[int], bool]) -> int:
    """The first index in ``0..count`` at which ``reached`` (false, then true) holds."""
    return bisect.bisect_left(range(count), True, key=reached)


def tally_bounds(buckets: Buckets, arrival_s: FloatArray) -> IntArray:
    """Where each of the tally's buckets starts in ``arrival_s`` (non-decreasing), and
    where the last ends: bucket ``b`` holds ``bounds[b]:bounds[b + 1]``. The tally's
    bucket of a time, ``int((t - start) * (1 / width))`` clipped into the buckets, does
    not decrease with the time, so each bound is found by bisection."""
    start_s = buckets.start_s
    per_s = 1.0 / buckets.width_s
    last = buckets.count - 1
    count = len(arrival_s)

    def bucket(at: int) -> int:
        position = (float(arrival_s[at]) - start_s) * per_s
        return int(min(max(position, 0.0), float(last)))

    bounds = np.empty(buckets.count + 1, dtype=np.int64)
    bounds[0], bounds[-1] = 0, count
    # a guess for each bound (the first arrival at or after the bucket's start), kept if
    # the tally's own rule says it is the bound, else found by bisection
    guesses = np.searchsorted(arrival_s, start_s + np.arange(buckets.count) * buckets.width_s)
    for index, guess in enumerate(guesses.tolist()[1:], 1):
        if (guess == count or bucket(guess) >= index) and (guess == 0 or bucket(guess - 1) < index):
            bounds[index] = guess
        else:
            bounds[index] = first_where(count, lambda at: bucket(at) >= index)  # noqa: B023
    return bounds


def window_bounds(buckets: Buckets, times_s: FloatArray) -> IntArray:
    """As :func:`tally_bounds` for :meth:`Buckets.index` (``-1`` outside the window) of
    non-decreasing ``times_s``: bucket ``b`` holds ``bounds[b]:bounds[b + 1]``; times
    before the window come before ``bounds[0]``, those after it from ``bounds[-1]``."""
    count = len(times_s)
    index = buckets.index

    def key(at: int) -> int:
        time_s = float(times_s[at])
        if time_s >= buckets.end_s:
            return buckets.count
        return index(time_s)

    edges_s = buckets.start_s + np.arange(buckets.count + 1) * buckets.width_s
    edges_s[-1] = buckets.end_s
    guesses = np.searchsorted(times_s, edges_s, side="left").tolist()
    bounds = np.empty(buckets.count + 1, dtype=np.int64)
    for edge, guess in enumerate(guesses):
        # the guess (the first time at or after the edge's time) is kept if the index's
        # own rule says it is the bound, else the bound is found by bisection
        if (guess == count or key(guess) >= edge) and (guess == 0 or key(guess - 1) < edge):
            bounds[edge] = guess
        else:
            bounds[edge] = first_where(count, lambda at: key(at) >= edge)  # noqa: B023
    return bounds


def bucket_quantiles(
    bins: IntArray, tallies: IntArray, minimum: float, maximum: float
) -> list[float]:
    """:meth:`LogHistogram.quantiles` of :data:`QUANTILES` for a histogram whose
    non-empty bins are ``bins`` (ascending) holding ``tallies`` values: the same steps
    with the same floating-point operations (every order statistic's bin found at once)."""
    seen = np.cumsum(tallies)
    n = int(seen[-1])
    ranks = [q * (n - 1) for q in QUANTILES]
    belows = [math.floor(rank) for rank in ranks]
    # _value_at's bins: the order statistic ``below``'s, then ``below + 1``'s
    found = np.searchsorted(seen, [*belows, *(below + 1 for below in belows)], side="right")
    at = found.tolist()
    ways = len(QUANTILES)
    values = []
    for way, (rank, below) in enumerate(zip(ranks, belows, strict=True)):
        low = _centre(at[way], bins, minimum, maximum)
        if rank == below or below + 1 >= n:
            values.append(low)
        else:
            high = _centre(at[ways + way], bins, minimum, maximum)
            values.append(low + (rank - below) * (high - low))
    return values


def _centre(at: int, bins: IntArray, minimum: float, maximum: float) -> float:
    """:meth:`LogHistogram._value_at`: the order statistic in the ``at``-th non-empty bin
    (``len(bins)``: beyond the last) as the bin's centre, within the values' range."""
    if at == len(bins):
        return maximum
    index = int(bins[at])
    centre = minimum if index == -1 else FLOOR_MS * RATIO ** (index + 0.5)
    return min(max(centre, minimum), maximum)


def count_requests(
    buckets: Buckets,
    arrival_s: FloatArray,
    latency_ms: FloatArray,
    ok: BoolArray | None,
    finish: Callable[[int, int], IntArray] | None,
) -> Counted:
    """Count the measured requests as the DES's tally does.

    Args:
        buckets: the time buckets.
        arrival_s: when each measured request arrived, seconds, in arrival order.
        latency_ms: its latency, ms (same order).
        ok: whether it was answered in time (``ok``; otherwise a ``timeout``, not
            served), or ``None`` when every one was.
        finish: ``finish(lo, hi)`` gives the positions ``lo..hi-1`` in the order the
            requests finished (relative to ``lo``); ``None``: no sums (``overall`` is not
            computed).
    """
    bounds = tally_bounds(buckets, arrival_s)
    count = buckets.count
    requests = np.diff(bounds)
    if ok is None:
        succeeded = requests.copy()
        served_bounds = bounds
        values = latency_ms
    else:
        before = np.zeros(len(ok) + 1, dtype=np.int64)
        np.cumsum(ok, out=before[1:])
        served_bounds = before[bounds]
        succeeded = np.diff(served_bounds)
        values = latency_ms[ok]
    latency = np.full((3, count), np.nan)
    every = np.zeros(BIN_SPAN, dtype=np.int64)  # bins BIN_LOW.., every value's
    totals = [0.0] * count
    minimum, maximum = math.inf, -math.inf
    for bucket in range(count):
        lo, hi = int(served_bounds[bucket]), int(served_bounds[bucket + 1])
        if lo == hi:
            continue
        part = values[lo:hi]
        # min and max of latencies (never NaN, never -0.0) do not depend on the order
        smallest, largest = float(part.min()), float(part.max())
        # a bucket at a time: its arrays stay in the cache
        inside = smallest > FLOOR_MS and largest < math.inf
        if inside:  # bins 0.. (none at BIN_LOW): counted from 0, placed one up
            tallies = np.bincount(bin_indices_inside(part))
            offset = -BIN_LOW
        else:
            bins = bin_indices(part)
            bins -= BIN_LOW
            tallies = np.bincount(bins)
            offset = 0
        if offset + len(tallies) > len(every):  # latencies beyond BIN_SPAN bins
            grown = offset + len(tallies) - len(every)
            every = np.concatenate((every, np.zeros(grown, np.int64)))
        every[offset : offset + len(tallies)] += tallies
        present = np.flatnonzero(tallies)
        latency[:, bucket] = bucket_quantiles(
            present + (BIN_LOW + offset), tallies[present], smallest, largest
        )
        minimum, maximum = min(minimum, smallest), max(maximum, largest)
        if finish is not None:
            order = _finish_positions(finish, bounds, bucket, ok)
            # the tally's sum starts at 0.0, and 0.0 + x is x for any latency (never -0.0)
            totals[bucket] = float(np.cumsum(part[order])[-1])
    overall = None
    if finish is not None:
        overall = LogHistogram()
        present = np.flatnonzero(every)
        overall.counts = dict(
            zip((present + BIN_LOW).tolist(), every[present].tolist(), strict=True)
        )
        overall.n = len(values)
        for total in totals:  # merged bucket by bucket, as Tally.overall does
            overall.total += total
        overall.minimum, overall.maximum = minimum, maximum
    window = [0] * (2 + len(outcomes.CAUSES))
    if len(arrival_s):
        window[0], window[1] = len(arrival_s), len(values)
    forced = np.zeros(count, dtype=np.int64)
    return Counted(buckets, requests, succeeded, forced, latency, overall, window, values, every)


def _finish_positions(
    finish: Callable[[int, int], IntArray],
    bounds: IntArray,
    bucket: int,
    ok: BoolArray | None,
) -> IntArray:
    """Positions of a bucket's served latencies (relative to its first), in the order
    they finished."""
    lo, hi = int(bounds[bucket]), int(bounds[bucket + 1])
    order = finish(lo, hi)
    if ok is None:
        return order
    part = ok[lo:hi]
    served_before = np.cumsum(part) - 1  # position among the served, for served ones
    kept = order[part[order]]
    return served_before[kept]


# ------------------------------------------------------------- the latency summary


def latency_summary_exact(
    counted: Counted, latency_ms: FloatArray, served: BoolArray | None
) -> dict[str, float | None]:
    """:func:`~simulator.results.metrics.latency_summary` of the request log's served
    latencies, without sorting them: ``latency_ms`` are the log's latencies (in its
    order, which the mean's pairwise sum depends on), ``served`` which of them were served
    (``None``: all); the percentiles' order statistics are picked from the few values
    in their histogram bins (:attr:`Counted.bins`)."""
    values = latency_ms if served is None else latency_ms[served]
    count = len(values)
    if count == 0 or count != len(counted.served_ms):
        return latency_summary(values)
    # numpy's "linear" method (Hyndman and Fan's 7th), step by step as numpy makes it
    quantiles = np.true_divide(np.asarray([q for _, q in PERCENTILES], dtype=np.float64), 100)
    virtual = (count - 1) * quantiles
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= count - 1
    previous[above], following[above] = -1, -1
    below = virtual < 0
    previous[below], following[below] = 0, 0
    previous_at, following_at = previous.astype(np.intp), following.astype(np.intp)
    ranks = sorted({int(rank) % count for rank in (*previous_at, *following_at)})
    found = order_statistics(counted.served_ms, ranks, counted.bins)
    low = np.asarray([found[int(rank) % count] for rank in previous_at])
    high = np.asarray([found[int(rank) % count] for rank in following_at])
    gamma = np.asanyarray(virtual - previous_at, dtype=virtual.dtype)
    difference = high - low
    points = np.add(low, difference * gamma)
    np.subtract(high, difference * (1 - gamma), out=points, where=gamma >= 0.5)
    summary: dict[str, float | None] = {"mean": float(values.mean())}
    for (name, _), value in zip(PERCENTILES, points, strict=True):
        summary[name] = float(value)
    return summary


SELECT_BLOCK = 1 << 15
"""Values compared at a time when picking the order statistics' candidates (small enough
for the cache, where each comparison is a pass over fewer bytes from farther away)."""


def order_statistics(values: FloatArray, ranks: list[int], bins: IntArray) -> dict[int, float]:
    """The ``rank``-th smallest of ``values`` (no NaN) for each of ``ranks``: only the
    values in a little more than the rank's histogram bin (``bins``: counts per bin from
    :data:`BIN_LOW`) are sorted; the count below them places the rank among them."""
    seen = np.cumsum(bins)
    by_bin: dict[int, list[int]] = {}
    for rank in ranks:
        at = int(np.searchsorted(seen, rank, side="right")) + BIN_LOW
        by_bin.setdefault(at, []).append(rank)
    ranges = [
        (-math.inf if at <= 0 else FLOOR_MS * RATIO ** (at - 0.5), FLOOR_MS * RATIO ** (at + 1.5))
        for at in by_bin
    ]
    inside, fewer = _select(values, ranges)
    found: dict[int, float] = {}
    for wanted, among, below in zip(by_bin.values(), inside, fewer, strict=True):
        among.sort()
        for rank in wanted:
            if below <= rank < below + len(among):
                found[rank] = float(among[rank - below])
            else:  # not where the bins said (never seen): select among them all
                found[rank] = float(np.partition(values, rank)[rank])
    return found


def _select(
    values: FloatArray, ranges: list[tuple[float, float]]
) -> tuple[list[FloatArray], list[int]]:
    """For each ``(lower, upper)`` of ``ranges``: the values in ``lower <= v < upper`` (in
    their order), and how many are below ``lower``; a block of values at a time, each
    compared with every range while it is in the cache."""
    count = len(values)
    block = min(SELECT_BLOCK, count)
    at_least = np.empty(block, dtype=np.bool_)
    under = np.empty(block, dtype=np.bool_)
    parts: list[list[FloatArray]] = [[] for _ in ranges]
    fewer = [0] * len(ranges)
    for lo in range(0, count, SELECT_BLOCK):
        part = values[lo : lo + SELECT_BLOCK]
        size = len(part)
        for index, (lower, upper) in enumerate(ranges):
            keep = np.greater_equal(part, lower, out=at_least[:size])
            fewer[index] += size - int(np.count_nonzero(keep))
            keep &= np.less(part, upper, out=under[:size])
            parts[index].append(part[keep])
    inside = [np.concatenate(found) if found else np.zeros(0) for found in parts]
    return inside, fewer
