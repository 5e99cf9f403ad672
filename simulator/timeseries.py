"""Metrics in fixed time buckets over the measured window.

Request metrics are computed from the request records, bucketed by arrival time. Server
metrics come from the model while it runs: jobs each server received per bucket, and
queue length and up state sampled ten times per bucket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator import outcomes

SAMPLES_PER_BUCKET = 10
"""How often per bucket the queue length and up state of each server are sampled."""

SERIES_COLUMNS: tuple[str, ...] = (
    "strategy",
    "t_s",
    "requests",
    "succeeded",
    "success_rate",
    "served_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "forced_relogins",
    "login_cpu_s",
    "errors",
)
"""Columns of :meth:`StrategySeries.to_frame`."""

SERVER_SERIES_COLUMNS: tuple[str, ...] = (
    "strategy",
    "t_s",
    "server",
    "jobs",
    "jobs_per_s",
    "queue_length",
    "up_fraction",
)
"""Columns of :meth:`StrategySeries.server_frame`."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Buckets:
    """Fixed-width time buckets covering ``[start_s, end_s)``.

    Args:
        start_s: start of the first bucket (the end of the warm-up).
        end_s: end of the measured window.
        width_s: bucket width.
    """

    def __init__(self, start_s: float, end_s: float, width_s: float) -> None:
        self.start_s = start_s
        self.end_s = end_s
        self.width_s = width_s
        self.count = max(1, math.ceil((end_s - start_s) / width_s - 1e-9))

    def index(self, time_s: float) -> int:
        """The bucket of ``time_s``, or -1 outside the window."""
        if time_s < self.start_s or time_s >= self.end_s:
            return -1
        return min(int((time_s - self.start_s) / self.width_s), self.count - 1)

    def indices(self, times_s: FloatArray) -> IntArray:
        """Bucket of each time (clipped into the window)."""
        raw = np.floor((times_s - self.start_s) / self.width_s).astype(np.int64)
        return np.clip(raw, 0, self.count - 1)

    @property
    def starts_s(self) -> FloatArray:
        """Start time of each bucket, seconds."""
        return self.start_s + self.width_s * np.arange(self.count, dtype=np.float64)


class ServerSampler:
    """Running sums of per-server samples, per bucket (grows with the fleet)."""

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets
        self.queue_sums: list[list[float]] = []
        self.up_sums: list[list[float]] = []
        self.samples = [0] * buckets.count
        self.login_cpu_s = [0.0] * buckets.count

    def sample(self, time_s: float, queue_lengths: Sequence[int], up: Sequence[bool]) -> None:
        """Record one sample of every server at ``time_s``."""
        bucket = self.buckets.index(time_s)
        if bucket < 0:
            return
        while len(self.queue_sums) < len(queue_lengths):
            self.queue_sums.append([0.0] * self.buckets.count)
            self.up_sums.append([0.0] * self.buckets.count)
        self.samples[bucket] += 1
        for server, (length, running) in enumerate(zip(queue_lengths, up, strict=True)):
            self.queue_sums[server][bucket] += length
            self.up_sums[server][bucket] += running

    def add_login_cpu(self, time_s: float, cpu_s: float) -> None:
        """Count the CPU of a forced login that finished at ``time_s``."""
        bucket = self.buckets.index(time_s)
        if bucket >= 0:
            self.login_cpu_s[bucket] += cpu_s


@dataclass(frozen=True)
class StrategySeries:
    """Every time series of one strategy run.

    Attributes:
        t_s: start of each bucket, seconds of simulated time.
        bucket_s: bucket width, seconds.
        requests: requests that arrived in each bucket.
        succeeded: of those, the ``ok`` ones.
        served: of those, the served ones (``ok`` and ``relogin``).
        errors: of those, the ones that ended in an error (``unauthorized`` included).
        forced_relogins: of those, the ones that forced a re-login.
        latency_ms: p50, p95 and p99 of the served ones (NaN where none), shape (3, B).
        login_cpu_s: CPU of forced logins that finished in each bucket, seconds.
        server_jobs: jobs each server received per bucket, shape (S, B).
        queue_length: mean jobs waiting per server and bucket, shape (S, B).
        up_fraction: fraction of samples each server was up, shape (S, B).
    """

    t_s: FloatArray
    bucket_s: float
    requests: IntArray
    succeeded: IntArray
    served: IntArray
    errors: IntArray
    forced_relogins: IntArray
    latency_ms: FloatArray
    login_cpu_s: FloatArray
    server_jobs: IntArray
    queue_length: FloatArray
    up_fraction: FloatArray

    @classmethod
    def build(
        cls,
        buckets: Buckets,
        arrival_s: FloatArray,
        outcome: npt.NDArray[np.int8],
        latency_ms: FloatArray,
        cause: npt.NDArray[np.int8],
        server_bucket_jobs: Sequence[Sequence[int]],
        sampler: ServerSampler,
    ) -> StrategySeries:
        """Bucket the request records and gather the server samples."""
        count = buckets.count
        index = buckets.indices(arrival_s)
        served_mask = (outcome == outcomes.OK) | (outcome == outcomes.RELOGIN)
        requests = np.bincount(index, minlength=count)
        latency = np.full((3, count), np.nan)
        order = np.argsort(index[served_mask], kind="stable")
        served_index = index[served_mask][order]
        served_latency = latency_ms[served_mask][order]
        bounds = np.searchsorted(served_index, np.arange(count + 1))
        for bucket in range(count):
            values = served_latency[bounds[bucket] : bounds[bucket + 1]]
            if values.size:
                latency[:, bucket] = np.percentile(values, [50.0, 95.0, 99.0])
        servers = max(len(server_bucket_jobs), len(sampler.queue_sums))
        jobs = np.zeros((servers, count), dtype=np.int64)
        for server, counts in enumerate(server_bucket_jobs):
            usable = min(len(counts), count)
            jobs[server, :usable] = counts[:usable]
        samples = np.maximum(np.asarray(sampler.samples, dtype=np.float64), 1.0)
        queue = np.zeros((servers, count))
        up = np.zeros((servers, count))
        for server in range(len(sampler.queue_sums)):
            queue[server] = np.asarray(sampler.queue_sums[server]) / samples
            up[server] = np.asarray(sampler.up_sums[server]) / samples
        return cls(
            t_s=buckets.starts_s,
            bucket_s=buckets.width_s,
            requests=requests.astype(np.int64),
            succeeded=np.bincount(index[outcome == outcomes.OK], minlength=count),
            served=np.bincount(index[served_mask], minlength=count),
            errors=np.bincount(index[~served_mask], minlength=count),
            forced_relogins=np.bincount(index[cause >= 0], minlength=count),
            latency_ms=latency,
            login_cpu_s=np.asarray(sampler.login_cpu_s, dtype=np.float64),
            server_jobs=jobs,
            queue_length=queue,
            up_fraction=up,
        )

    @property
    def success_rate(self) -> FloatArray:
        """``succeeded / requests`` per bucket (NaN for an empty bucket)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.requests > 0, self.succeeded / self.requests, np.nan)

    def to_frame(self, strategy: str) -> pd.DataFrame:
        """One row per bucket (columns :data:`SERIES_COLUMNS`)."""
        return pd.DataFrame(
            {
                "strategy": [strategy] * len(self.t_s),
                "t_s": self.t_s,
                "requests": self.requests,
                "succeeded": self.succeeded,
                "success_rate": self.success_rate,
                "served_per_s": self.served / self.bucket_s,
                "latency_p50_ms": self.latency_ms[0],
                "latency_p95_ms": self.latency_ms[1],
                "latency_p99_ms": self.latency_ms[2],
                "forced_relogins": self.forced_relogins,
                "login_cpu_s": self.login_cpu_s,
                "errors": self.errors,
            },
            columns=list(SERIES_COLUMNS),
        )

    def server_frame(self, strategy: str) -> pd.DataFrame:
        """One row per bucket and server (columns :data:`SERVER_SERIES_COLUMNS`)."""
        servers, count = self.server_jobs.shape
        return pd.DataFrame(
            {
                "strategy": [strategy] * (servers * count),
                "t_s": np.tile(self.t_s, servers),
                "server": np.repeat(np.arange(servers), count),
                "jobs": self.server_jobs.ravel(),
                "jobs_per_s": self.server_jobs.ravel() / self.bucket_s,
                "queue_length": self.queue_length.ravel(),
                "up_fraction": self.up_fraction.ravel(),
            },
            columns=list(SERVER_SERIES_COLUMNS),
        )
