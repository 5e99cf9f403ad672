"""The vector engine's results: what the DES's recorder and sampler would have counted.

Each function computes one part of a :class:`~simulator.results.records.StrategyResult`
from the schedule (:class:`~simulator.model.vector_queue.ServerSchedule`) exactly as the
DES counts it: sums in the DES's order, samples at the DES's moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator import outcomes
from simulator.model.vector_queue import ServerSchedule
from simulator.results.timeseries import SAMPLES_PER_BUCKET, Buckets, StrategySeries, Tally
from simulator.scenario.models import Scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def stable_argsort(values: FloatArray, ties: IntArray) -> tuple[IntArray, FloatArray]:
    """The order that sorts ``values``, equal values ordered by ``ties`` (numpy's
    quicksort, then any run of equal values sorted by ``ties``), and the sorted values."""
    order = np.argsort(values)
    ordered = values[order]
    tied = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(tied):
        starts = tied[np.r_[True, np.diff(tied) > 1]]
        for first in starts.tolist():
            last = first + 1
            while last + 1 < len(ordered) and ordered[last + 1] == ordered[first]:
                last += 1
            run = order[first : last + 1]
            order[first : last + 1] = run[np.argsort(ties[run], kind="stable")]
    return order, ordered


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
    scenario: Scenario, done: ServerSchedule, answered: npt.NDArray[np.bool_] | None
) -> list[float]:
    """Each server's worker time inside the measured window, summed as the DES sums it:
    job by job, in the order the jobs end (a job still running at the stop is not
    counted), with a running sum (``np.cumsum``; ``np.sum`` adds pairwise)."""
    charge = np.minimum(done.end_s, scenario.duration_s)
    charge -= np.maximum(done.start_s, scenario.warmup_s)
    unused = ~(charge > 0) if answered is None else ~answered | ~(charge > 0)
    charge[unused] = 0.0  # adding 0.0 changes no sum
    busy = []
    for index in range(done.servers):
        jobs = done.jobs(index)
        part = charge[jobs]
        if not len(part):
            busy.append(0.0)
            continue
        ended = done.end_s[jobs]
        if done.workers > 1 and np.any(ended[1:] < ended[:-1]):  # out of FIFO order
            part = part[np.argsort(ended, kind="stable")]
        busy.append(float(np.cumsum(part)[-1]))
    return busy


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
    and its busy workers those started but not ended.
    """
    step_s = buckets.width_s / SAMPLES_PER_BUCKET
    first_s = buckets.start_s + step_s / 2 - 0.0
    steps = max(0, math.ceil((buckets.end_s - first_s) / step_s)) + 2
    times = np.cumsum(np.concatenate(([0.0 + first_s], np.full(steps, step_s))))
    times = times[(times < buckets.end_s) & (times < until_s)]
    bucket = bucket_index(buckets, times)
    times, bucket = times[bucket >= 0], bucket[bucket >= 0]
    samples = np.bincount(bucket, minlength=buckets.count).astype(np.int64)
    queue = np.zeros((done.servers, buckets.count))
    busy = np.zeros((done.servers, buckets.count))
    for index in range(done.servers):
        jobs = done.jobs(index)
        if jobs.stop == jobs.start:
            continue
        ended_s = done.end_s[jobs]
        if done.workers > 1 and np.any(ended_s[1:] < ended_s[:-1]):
            ended_s = np.sort(ended_s)
        routed = np.searchsorted(done.route_s[jobs], times, side="right")  # FIFO order
        began = np.searchsorted(done.start_s[jobs], times, side="right")
        ended = np.searchsorted(ended_s, times, side="right")
        queue[index] = np.bincount(bucket, weights=routed - began, minlength=buckets.count)
        busy[index] = np.bincount(bucket, weights=began - ended, minlength=buckets.count)
    return Samples(samples, queue, busy)


def strategy_series(
    tally: Tally, bucket_jobs: IntArray, sampled: Samples, sessions: list[int]
) -> StrategySeries:
    """The time series, as :meth:`StrategySeries.from_tally` makes them from the DES's
    tally and sampler (every server up, in rotation, and holding its sessions)."""
    buckets = tally.buckets
    count = buckets.count
    latency = np.full((3, count), np.nan)
    for index, histogram in enumerate(tally.latency):
        if histogram.n:
            latency[:, index] = histogram.quantiles([0.50, 0.95, 0.99])
    requests = np.asarray(tally.requests, dtype=np.int64)
    served = np.asarray(tally.served, dtype=np.int64)
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
        succeeded=np.asarray(tally.succeeded, dtype=np.int64),
        served=served,
        errors=requests - served,
        forced_relogins=np.asarray(tally.forced, dtype=np.int64),
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
