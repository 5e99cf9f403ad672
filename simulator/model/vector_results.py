"""The vector engine's results: what the DES's recorder and sampler would have counted.

Each function computes one part of a :class:`~simulator.results.records.StrategyResult`
from the schedule (:class:`~simulator.model.vector_queue.ServerSchedule`) exactly as the
DES counts it: sums in the DES's order, samples at the DES's moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator import outcomes
from simulator.model.vector_queue import ServerSchedule
from simulator.model.vector_rows import busy_by_rows
from simulator.model.vector_tally import Counted
from simulator.results.timeseries import SAMPLES_PER_BUCKET, Buckets, StrategySeries
from simulator.scenario.models import Scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Spare:
    """Arrays a run is done with, whose memory the next arrays are written into.

    Their pages are mapped already; a new array's are not, and on a virtual machine the
    first write to each page of one costs a fault of several microseconds (a column of
    700,000 requests spans about 1,400 pages).
    """

    def __init__(self, *arrays: npt.NDArray[np.generic]) -> None:
        self._arrays = list(arrays)

    def add(self, array: npt.NDArray[np.generic]) -> None:
        """Give ``array`` (nothing reads it any more, nor any view of it)."""
        self._arrays.append(array)

    def out(self, count: int, dtype: npt.DTypeLike) -> npt.NDArray[Any] | None:
        """The first ``count`` items of a spare array, as ``dtype`` (of the same item
        size), taken from the spares; ``None`` if none fits."""
        wanted = np.dtype(dtype)
        for index, array in enumerate(self._arrays):
            fits = array.itemsize == wanted.itemsize and len(array) >= count
            if fits and array.flags.c_contiguous:
                return self._arrays.pop(index)[:count].view(wanted)
        return None

    def take(self, values: npt.NDArray[Any], rows: IntArray) -> npt.NDArray[Any]:
        """``values[rows]``, into a spare array if one fits."""
        out = self.out(len(rows), values.dtype)
        if out is None:
            return values[rows]
        return np.take(values, rows, out=out, mode="clip")  # (every row is valid)


SORT_BLOCK = 1 << 16
"""Sorted values compared at a time when looking for ties (small enough for the cache)."""


def stable_argsort(values: FloatArray, ties: IntArray | None) -> IntArray:
    """The order that sorts ``values``, equal values ordered by ``ties`` (``None``: by
    their position): numpy's quicksort, then any run of equal values sorted by
    ``ties``."""
    order = np.argsort(values)
    count = len(order)
    found = []
    for lo in range(0, count - 1, SORT_BLOCK):  # blocks overlapping by one value
        ordered = values[order[lo : lo + SORT_BLOCK + 1]]
        tied = np.flatnonzero(ordered[1:] == ordered[:-1])
        if len(tied):
            found.append(tied + lo)
    if not found:
        return order
    tied = np.concatenate(found)
    for first in tied[np.r_[True, np.diff(tied) > 1]].tolist():
        last = first + 1
        value = values[order[first]]
        while last + 1 < count and values[order[last + 1]] == value:
            last += 1
        run = order[first : last + 1]
        if ties is None:
            order[first : last + 1] = np.sort(run)
        else:
            order[first : last + 1] = run[np.argsort(ties[run], kind="stable")]
    return order


def finish_order(
    values: FloatArray,
    ties: IntArray | None,
    out: IntArray | None = None,
    positive: bool = False,
) -> IntArray:
    """:func:`stable_argsort` of positive times, faster: each time's bit pattern (which
    orders positive doubles as integers) has its lowest bits replaced by its position,
    the integers are sorted (no index array to carry along), and the few runs whose
    remaining bits are equal (times within a few ulps, or equal) are sorted again by time
    and then ``ties`` (``None``: position). ``out``: where to write the order (as many
    items as ``values``), if given; ``positive``: the caller knows every value is above
    0 (else they are looked at)."""
    count = len(values)
    width = max(1, (count - 1).bit_length())
    if count < 2 or width > 40 or not (positive or float(values.min()) > 0.0):
        order = stable_argsort(values, ties)
        if out is None:
            return order
        out[:] = order
        return out
    low = (1 << width) - 1
    bits = values.view(np.int64)
    key = np.empty(count, dtype=np.int64) if out is None else out
    position = np.arange(min(count, SORT_BLOCK), dtype=np.int64)
    for lo in range(0, count, SORT_BLOCK):  # a block at a time: small temporaries
        hi = min(lo + SORT_BLOCK, count)
        part = np.bitwise_and(bits[lo:hi], np.int64(~low), out=key[lo:hi])
        part |= position[: hi - lo]
        position += SORT_BLOCK
    key.sort()
    # neighbours whose remaining bits are equal, looked for a block at a time
    found = []
    near = np.empty(min(count, SORT_BLOCK + 1) - 1, dtype=np.int64)
    for lo in range(0, count - 1, SORT_BLOCK):
        block = key[lo : lo + SORT_BLOCK + 1]
        apart = np.bitwise_xor(block[1:], block[:-1], out=near[: len(block) - 1])
        same = apart <= low
        if same.any():  # (rarely: times within a few ulps)
            found.append(np.flatnonzero(same) + lo)
    order = np.bitwise_and(key, low, out=key)
    if found:
        same = np.concatenate(found)  # ranks i whose remaining bits equal i + 1's
        apart = np.diff(same) > 1
        firsts = same[np.r_[True, apart]].tolist()
        lasts = (same[np.r_[apart, True]] + 1).tolist()
        for first, last in zip(firsts, lasts, strict=True):
            run = order[first : last + 1]
            then = run if ties is None else ties[run]
            order[first : last + 1] = run[np.lexsort((then, values[run]))]
    return order


def bucket_index(buckets: Buckets, times_s: FloatArray) -> IntArray:
    """:meth:`Buckets.index` of each time (-1 outside the window)."""
    if not len(times_s):
        return np.zeros(0, dtype=np.int64)
    index = ((times_s - buckets.start_s) / buckets.width_s).astype(np.int64)
    np.minimum(index, buckets.count - 1, out=index)
    if float(times_s.min()) < buckets.start_s or float(times_s.max()) >= buckets.end_s:
        index[(times_s < buckets.start_s) | (times_s >= buckets.end_s)] = -1
    return index


def busy_seconds(
    scenario: Scenario, done: ServerSchedule, answered_by_s: float | None
) -> list[float]:
    """Each server's worker time inside the measured window, summed as the DES sums it:
    job by job, in the order the jobs end (a job still running at the stop, when not
    every job ended by ``answered_by_s``, is not counted), with a running sum
    (``np.cumsum``; ``np.sum`` adds pairwise)."""
    rotation = done.grouping.rotation
    if done.workers == 1 and rotation is not None and done.given_end_s is not None:
        # jobs in rotation, their ends in the order given: row by row, no server's jobs
        # gathered
        total = busy_by_rows(
            done.given_route_s,
            done.given_end_s,
            rotation,
            scenario.warmup_s,
            scenario.duration_s,
            answered_by_s,
        )
        busy = [0.0] * done.servers
        column_server = done.grouping.server_at(np.arange(rotation, dtype=np.int64))
        for column, index in enumerate(column_server.tolist()):
            busy[index] = float(total[column])
        return busy
    busy = []
    for index in range(done.servers):  # a server at a time: its arrays stay in the cache
        jobs = done.jobs(index)
        if jobs.stop == jobs.start:
            busy.append(0.0)
            continue
        ended = done.end_s[jobs]
        began = done.starts(index)  # a new array
        part = _in_window(began, ended, scenario.warmup_s, scenario.duration_s, done.workers)
        if answered_by_s is not None:
            part[ended > answered_by_s] = 0.0
        if done.workers > 1 and np.any(ended[1:] < ended[:-1]):  # out of FIFO order
            part = part[np.argsort(ended, kind="stable")]
        busy.append(float(np.cumsum(part)[-1]))
    return busy


def _in_window(
    began: FloatArray, ended: FloatArray, start_s: float, stop_s: float, workers: int
) -> FloatArray:
    """Each job's time in the window ``start_s..stop_s``: ``max(0, min(end, stop) -
    max(start, start_s))`` (none, 0.0, adds nothing); ``began`` may be written over.

    With one worker the starts and the ends do not decrease, so only the first jobs can
    begin before the window and only the last ones end after it: the others' time is
    ``end - start`` as it stands (the same operation on the same values)."""
    if workers == 1 and len(began):
        first = int(np.searchsorted(began, start_s, side="left"))  # began[:first] < start
        last = int(np.searchsorted(ended, stop_s, side="right"))  # ended[last:] > stop
        if first < last:
            head = _clipped(began[:first], ended[:first], start_s, stop_s)
            tail = _clipped(began[last:], ended[last:], start_s, stop_s)
            part = np.subtract(ended, began, out=began)
            part[:first], part[last:] = head, tail
            return part
    return _clipped(began, ended, start_s, stop_s)


def _clipped(began: FloatArray, ended: FloatArray, start_s: float, stop_s: float) -> FloatArray:
    """:func:`_in_window`, job by job."""
    part = np.minimum(ended, stop_s)
    part -= np.maximum(began, start_s)  # none (<= 0) adds 0.0, no change
    np.maximum(part, 0.0, out=part)  # (times are finite: no NaN)
    return part


SAMPLE_BLOCK = 1 << 18
"""Server-moments :func:`sample_servers` holds at a time (a few megabytes, whatever the
servers and the run's length)."""


@dataclass
class Samples:
    """What the DES's sampler sums per server and bucket."""

    samples: IntArray  # samples per bucket
    queue: FloatArray  # (S, B) sums of queue lengths
    busy: FloatArray  # (S, B) sums of busy workers


def sample_servers(buckets: Buckets, done: ServerSchedule, until_s: float) -> Samples:
    """Queue lengths and busy workers at the sampler's moments: from the first half step
    into the window, one step (a tenth of a bucket) after another, while inside it and
    before ``until_s`` (when the DES stops: once the last request is answered, or at its
    stop time).

    At a moment ``t`` a server's queue holds its jobs routed but not started by ``t``,
    and its busy workers those started but not ended (with one worker: one if the
    first job not ended by ``t`` has arrived).
    """
    step_s = buckets.width_s / SAMPLES_PER_BUCKET
    first_s = buckets.start_s + step_s / 2 - 0.0
    steps = max(0, math.ceil((buckets.end_s - first_s) / step_s)) + 2
    times = np.cumsum(np.concatenate(([0.0 + first_s], np.full(steps, step_s))))
    times = times[(times < buckets.end_s) & (times < until_s)]
    bucket = bucket_index(buckets, times)
    times, bucket = times[bucket >= 0], bucket[bucket >= 0]
    samples = np.bincount(bucket, minlength=buckets.count).astype(np.int64)
    # jobs routed by each moment: the jobs are given in the order they are routed, so
    # each server's are those of its jobs below the count routed by then
    routed_by = np.searchsorted(done.given_route_s, times, side="right")
    queue = np.zeros((done.servers, buckets.count))
    busy = np.zeros((done.servers, buckets.count))
    present = np.flatnonzero(samples)
    if not len(present):
        return Samples(samples, queue, busy)
    starts = np.searchsorted(bucket, present, side="left")  # each bucket's first moment
    per = max(1, SAMPLE_BLOCK // len(times))  # servers at a time: bounded temporaries
    for first in range(0, done.servers, per):
        servers = slice(first, min(first + per, done.servers))
        routed_block = done.grouping.below(routed_by, servers)  # (servers, moments)
        queue_block = np.zeros(routed_block.shape, dtype=np.int64)
        busy_block = np.zeros(routed_block.shape, dtype=np.int64)
        for row, index in enumerate(range(servers.start, servers.stop)):
            jobs = done.jobs(index)
            if jobs.stop == jobs.start:
                continue
            routed = routed_block[row]
            ended_s = done.end_s[jobs]
            if done.workers > 1 and np.any(ended_s[1:] < ended_s[:-1]):
                ended_s = np.sort(ended_s)
            ended = np.searchsorted(ended_s, times, side="right")
            if done.workers == 1:
                # the job after the ended ones has started if it has arrived (the one
                # before it ended by then), and the one after it has not (it waits for
                # that one)
                began = np.minimum(routed, ended + 1)
            else:
                began = np.searchsorted(done.starts(index), times, side="right")
            np.subtract(routed, began, out=queue_block[row])
            np.subtract(began, ended, out=busy_block[row])
        # each bucket's sum of whole numbers (exact), these servers at once
        queue[servers, present] = np.add.reduceat(queue_block, starts, axis=1)
        busy[servers, present] = np.add.reduceat(busy_block, starts, axis=1)
    return Samples(samples, queue, busy)


def strategy_series(
    counted: Counted, bucket_jobs: IntArray, sampled: Samples, sessions: list[int]
) -> StrategySeries:
    """The time series, as :meth:`StrategySeries.from_tally` makes them from the DES's
    tally and sampler (every server up, in rotation, and holding its sessions)."""
    buckets = counted.buckets
    count = buckets.count
    latency = counted.latency_ms
    requests = counted.requests
    served = counted.succeeded  # the engine serves only ok requests
    servers = len(sessions)
    per_sample = np.maximum(sampled.samples.astype(np.float64), 1.0)
    seen = sampled.samples > 0
    # a bucket without a sample repeats the one before (the first: nothing seen yet)
    last = np.maximum.accumulate(np.where(seen, np.arange(count), -1))
    ever = last >= 0
    held = np.zeros((servers, count), dtype=np.int64)
    held[:, ever] = np.asarray(sessions, dtype=np.int64)[:, None]
    state = np.full((servers, count), outcomes.ABSENT, dtype=np.int64)
    state[:, ever] = outcomes.UP
    routed = np.zeros((servers, count), dtype=np.bool_)
    routed[:, ever] = True
    return StrategySeries(
        t_s=buckets.starts_s,
        bucket_s=buckets.width_s,
        requests=requests,
        succeeded=counted.succeeded.copy(),
        served=served,
        errors=requests - served,
        forced_relogins=counted.forced,
        latency_ms=latency,
        login_cpu_s=np.zeros(count),
        server_jobs=bucket_jobs,
        queue_length=sampled.queue / per_sample,
        up_fraction=np.broadcast_to(sampled.samples / per_sample, (servers, count)).copy(),
        busy_workers=sampled.busy / per_sample,
        sessions=held,
        state=state,
        in_balancer=routed,
    )
