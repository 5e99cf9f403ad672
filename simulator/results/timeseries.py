"""Metrics in fixed time buckets over the measured window.

Request metrics are computed from the request records, bucketed by arrival time. Server
metrics come from the model while it runs: jobs each server received per bucket; queue
length, busy workers and up state sampled ten times per bucket (means); and the server's
state, whether the balancer routes to it and the sessions it holds, as seen by the last
sample of each bucket.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from simulator import outcomes
from simulator.outcomes import ABSENT, state_name
from simulator.results.histogram import LogHistogram
from simulator.results.users import UserSet

if TYPE_CHECKING:
    import pandas as pd

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
    "busy_workers",
    "sessions",
    "state",
    "in_balancer",
)
"""Columns of :meth:`StrategySeries.server_frame`."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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

    def span(self, time_s: float) -> tuple[int, float]:
        """The bucket of ``time_s`` (as :meth:`index`) and until when it lasts: the first
        time after ``time_s`` whose :meth:`index` differs (``inf``: none does).

        Every time from ``time_s`` up to (not including) that one has the same
        :meth:`index`, bit for bit, so a caller whose clock never goes back can compute
        the index once per bucket, not once per event. The edge is found on the floats
        themselves: the rounding of ``(t - start_s) / width_s`` decides it, as in
        :meth:`index`.
        """
        bucket = self.index(time_s)
        if time_s >= self.end_s:
            return bucket, math.inf
        if time_s < self.start_s:
            return bucket, self.start_s
        if bucket == self.count - 1:
            return bucket, self.end_s
        start_s, width_s, following = self.start_s, self.width_s, bucket + 1

        def reached(t: float) -> bool:  # the index formula reaches the next bucket
            return int((t - start_s) / width_s) >= following

        # a few ulps from the product at most: (t - start) / width is monotone in t
        edge_s = start_s + following * width_s
        while reached(math.nextafter(edge_s, -math.inf)):
            edge_s = math.nextafter(edge_s, -math.inf)
        while not reached(edge_s):
            edge_s = math.nextafter(edge_s, math.inf)
        return bucket, min(edge_s, self.end_s)

    def indices(self, times_s: FloatArray) -> IntArray:
        """Bucket of each time (clipped into the window)."""
        raw = np.floor((times_s - self.start_s) / self.width_s).astype(np.int64)
        return np.clip(raw, 0, self.count - 1)

    @property
    def starts_s(self) -> FloatArray:
        """Start time of each bucket, seconds."""
        return self.start_s + self.width_s * np.arange(self.count, dtype=np.float64)


class ServerSampler:
    """Per-server samples, per bucket (grows with the fleet): running sums of queue
    length, up state and busy workers, and the last state, routing and sessions seen."""

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets
        self.queue_sums: list[list[float]] = []
        self.up_sums: list[list[float]] = []
        self.busy_sums: list[list[float]] = []
        self.last_sessions: list[list[int]] = []
        self.last_state: list[list[int]] = []
        self.last_routed: list[list[bool]] = []
        self.samples = [0] * buckets.count
        self.login_cpu_s = [0.0] * buckets.count

    def sample(
        self,
        time_s: float,
        queue_lengths: Sequence[int],
        up: Sequence[bool],
        busy: Sequence[int],
        sessions: Sequence[int],
        states: Sequence[int],
        routed: Sequence[bool],
    ) -> None:
        """Record one sample of every server at ``time_s`` (ignored outside the window).

        Args:
            time_s: when, seconds.
            queue_lengths: jobs waiting per server.
            up: whether each server is running.
            busy: workers busy per server.
            sessions: sessions held in each server's memory.
            states: each server's state code (``outcomes.STATE_NAMES``).
            routed: whether the balancer routes to each server.
        """
        bucket = self.buckets.index(time_s)
        if bucket < 0:
            return
        while len(self.queue_sums) < len(queue_lengths):
            self.add_server()
        self.samples[bucket] += 1
        for server, length in enumerate(queue_lengths):
            self.queue_sums[server][bucket] += length
            self.up_sums[server][bucket] += up[server]
            self.busy_sums[server][bucket] += busy[server]
            self.last_sessions[server][bucket] = sessions[server]
            self.last_state[server][bucket] = states[server]
            self.last_routed[server][bucket] = routed[server]

    def add_server(self) -> None:
        """Make room for one more server (absent, with nothing summed, until sampled)."""
        count = self.buckets.count
        self.queue_sums.append([0.0] * count)
        self.up_sums.append([0.0] * count)
        self.busy_sums.append([0.0] * count)
        self.last_sessions.append([0] * count)
        self.last_state.append([ABSENT] * count)
        self.last_routed.append([False] * count)

    def add_login_cpu(self, time_s: float, cpu_s: float) -> None:
        """Count the CPU of a forced login that finished at ``time_s``."""
        bucket = self.buckets.index(time_s)
        if bucket >= 0:
            self.login_cpu_s[bucket] += cpu_s


class Tally:
    """Streaming counts of the measured requests, by arrival time: per time bucket and
    per event window, and the distinct users logged out (forced to log in again) overall
    and per window. Memory does not grow with the number of requests (the users logged
    out take one bit per user, overall and in each window that has any).

    Window counters are keyed by the latest window edge known when a request is
    recorded; an edge is always known by its own time (an event marks itself when it
    starts, a lasting one its end in advance), so every request lands in its window.
    This runs once per request, so it is written for speed.

    Args:
        buckets: the time buckets of the series.
        users: the scenario's users (room is made for them; larger indices still count).

    Attributes:
        logged_out: users with at least one measured request forced to log in again.
    """

    def __init__(self, buckets: Buckets, users: int = 0) -> None:
        count = buckets.count
        self.buckets = buckets
        self._start_s = buckets.start_s
        self._per_s = 1.0 / buckets.width_s
        self._last = count - 1
        self.requests = [0] * count
        self.succeeded = [0] * count
        self.served = [0] * count
        self.forced = [0] * count
        self.latency = [LogHistogram() for _ in range(count)]
        self._edges: list[float] = [-math.inf]
        self._latest_edge = -math.inf
        self._windows: dict[float, list[int]] = {}
        self._users = users
        self._window_users: dict[float, UserSet] = {}
        self.logged_out = UserSet(users)

    def add_edge(self, time_s: float) -> None:
        """A window starts at ``time_s`` (an event started or ended)."""
        if time_s not in self._edges:
            bisect.insort(self._edges, time_s)
            self._latest_edge = self._edges[-1]

    def record(
        self, arrival_s: float, user: int, outcome: int, latency_ms: float, cause: int
    ) -> None:
        """Count one finished measured request of ``user`` that arrived at ``arrival_s``
        (seconds) with its final ``outcome`` code, its latency (ms) and the ``cause`` code of
        its forced re-login (``outcomes.VALID``: none; any other: ``user`` was logged out)."""
        bucket = int((arrival_s - self._start_s) * self._per_s)
        if bucket > self._last:
            bucket = self._last
        elif bucket < 0:
            bucket = 0
        self.requests[bucket] += 1
        if outcome <= outcomes.RELOGIN:  # served: ok or relogin
            if outcome == outcomes.OK:
                self.succeeded[bucket] += 1
            self.served[bucket] += 1
            self.latency[bucket].add(latency_ms)
        if cause >= 0:
            self.forced[bucket] += 1
        if arrival_s >= self._latest_edge:
            key = self._latest_edge
        else:
            key = self._edges[bisect.bisect_right(self._edges, arrival_s) - 1]
        counts = self._windows.get(key)
        if counts is None:
            counts = self._windows[key] = [0] * (2 + len(outcomes.CAUSES))
        counts[0] += 1
        if outcome == outcomes.OK:
            counts[1] += 1
        if cause >= 0:
            counts[2 + cause] += 1
            self.logged_out.add(user)
            users = self._window_users.get(key)
            if users is None:
                users = self._window_users[key] = UserSet(self._users)
            users.add(user)

    def record_many(
        self,
        arrival_s: npt.ArrayLike,
        user: npt.ArrayLike,
        outcome: npt.ArrayLike,
        latency_ms: npt.ArrayLike,
        cause: npt.ArrayLike,
    ) -> None:
        """Count many finished measured requests (equal-length arrays, in the order they
        finished): exactly the state :meth:`record` called on each in turn leaves
        (the same counts, the same latency sums made in the same order, the same keys
        in the same order)."""
        arrivals = np.asarray(arrival_s, dtype=np.float64).ravel()
        if not arrivals.size:
            return
        codes = np.asarray(outcome).ravel()
        latencies = np.asarray(latency_ms, dtype=np.float64).ravel()
        causes = np.asarray(cause).ravel()
        last = self._last
        count = len(arrivals)
        position = (arrivals - self._start_s) * self._per_s
        # record's int() then clip: truncation and clipping commute for these bounds
        bucket = np.clip(position, 0, last).astype(np.int64)
        everyone_ok = bool(codes.min() == outcomes.OK == codes.max())
        served = None if everyone_ok else codes <= outcomes.RELOGIN
        ok = None if everyone_ok else codes == outcomes.OK
        forced = causes >= 0
        anyone_forced = bool(forced.any())
        requests = np.bincount(bucket, minlength=last + 1)
        counters = [(self.requests, requests)]
        if everyone_ok:
            counters += [(self.succeeded, requests), (self.served, requests)]
        else:
            assert served is not None and ok is not None
            counters += [
                (self.succeeded, np.bincount(bucket[ok], minlength=last + 1)),
                (self.served, np.bincount(bucket[served], minlength=last + 1)),
            ]
        if anyone_forced:
            counters.append((self.forced, np.bincount(bucket[forced], minlength=last + 1)))
        for counter, added in counters:
            for index in np.flatnonzero(added).tolist():
                counter[index] += int(added[index])
        served_bucket = bucket if served is None else bucket[served]
        served_latency = latencies if served is None else latencies[served]
        if last < 1 << 16:
            served_bucket = served_bucket.astype(np.uint16)  # a radix sort
        by_bucket = np.argsort(served_bucket, kind="stable")  # keeps each bucket's order
        bounds = np.searchsorted(served_bucket[by_bucket], np.arange(last + 2))
        for index in np.flatnonzero(np.diff(bounds)).tolist():
            rows = by_bucket[bounds[index] : bounds[index + 1]]
            self.latency[index].add_many(served_latency[rows])
        # windows, keyed by the latest edge at or before each arrival
        edges = self._edges
        width = 2 + len(outcomes.CAUSES)
        totals = np.zeros((len(edges), width), dtype=np.int64)
        if len(edges) == 1:
            window = np.zeros(count, dtype=np.int64)
            totals[0, 0] = count
            totals[0, 1] = count if ok is None else int(np.count_nonzero(ok))
        else:
            window = np.searchsorted(np.asarray(edges), arrivals, side="right") - 1
            totals[:, 0] = np.bincount(window, minlength=len(edges))
            totals[:, 1] = np.bincount(window if ok is None else window[ok], minlength=len(edges))
        if anyone_forced:
            keyed = window[forced] * width + 2 + causes[forced].astype(np.int64)
            totals += np.bincount(keyed, minlength=totals.size).reshape(totals.shape)
        present = np.flatnonzero(totals[:, 0])
        if len(present) > 1:  # windows enter the dict in the order of their first request
            firsts = [int(np.argmax(window == at)) for at in present.tolist()]
            present = present[np.argsort(firsts, kind="stable")]
        for at in present.tolist():
            key = edges[at]
            counts = self._windows.get(key)
            if counts is None:
                counts = self._windows[key] = [0] * width
            for column in np.flatnonzero(totals[at]).tolist():
                counts[column] += int(totals[at, column])
        users = np.asarray(user).ravel()
        for at in np.flatnonzero(forced).tolist():  # few: users logged out, in order
            key = edges[int(window[at])]
            member = int(users[at])
            self.logged_out.add(member)
            window_users = self._window_users.get(key)
            if window_users is None:
                window_users = self._window_users[key] = UserSet(self._users)
            window_users.add(member)

    @property
    def overall(self) -> LogHistogram:
        """Latencies of every served request (the buckets' histograms merged)."""
        merged = LogHistogram()
        for histogram in self.latency:
            merged.merge(histogram)
        return merged

    def window_counts(self, begin_s: float, end_s: float, first: bool) -> list[int]:
        """Requests, ``ok`` and forced re-logins by cause of requests that arrived in
        ``[begin_s, end_s)`` (the first window also takes those before any edge)."""
        total = [0] * (2 + len(outcomes.CAUSES))
        for key, counts in self._windows.items():
            if begin_s <= key < end_s or (first and key < begin_s):
                total = [a + b for a, b in zip(total, counts, strict=True)]
        return total

    def window_users(self, begin_s: float, end_s: float, first: bool) -> int:
        """Distinct users forced to log in again by a request that arrived in
        ``[begin_s, end_s)`` (the first window also takes those before any edge); a user
        forced several times in the window counts once."""
        return len(
            UserSet.union(
                users
                for key, users in self._window_users.items()
                if begin_s <= key < end_s or (first and key < begin_s)
            )
        )


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
        busy_workers: mean workers busy per server and bucket, shape (S, B).
        sessions: sessions held in each server's memory at the bucket's last sample
            (0 for strategies that keep none there), shape (S, B).
        state: each server's state at the bucket's last sample, a code of
            ``outcomes.STATE_NAMES`` or :data:`ABSENT`, shape (S, B).
        in_balancer: whether the balancer routed to each server at the bucket's last
            sample (it learns of a crash or a recovery only at its next health check),
            shape (S, B).
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
    busy_workers: FloatArray
    sessions: IntArray
    state: IntArray
    in_balancer: BoolArray

    @classmethod
    def from_tally(
        cls,
        tally: Tally,
        server_bucket_jobs: Sequence[Sequence[int]],
        sampler: ServerSampler,
    ) -> StrategySeries:
        """The series of a run from its streaming tally and server samples (latency
        percentiles within about 0.5%, see :mod:`simulator.results.histogram`)."""
        buckets = tally.buckets
        count = buckets.count
        latency = np.full((3, count), np.nan)
        for bucket, histogram in enumerate(tally.latency):
            if histogram.n:
                for row, q in enumerate((0.50, 0.95, 0.99)):
                    latency[row, bucket] = histogram.quantile(q)
        requests = np.asarray(tally.requests, dtype=np.int64)
        served = np.asarray(tally.served, dtype=np.int64)
        jobs, queue, up, busy = _server_arrays(count, server_bucket_jobs, sampler)
        sessions, state, routed = _last_seen(jobs.shape[0], sampler)
        return cls(
            t_s=buckets.starts_s,
            bucket_s=buckets.width_s,
            requests=requests,
            succeeded=np.asarray(tally.succeeded, dtype=np.int64),
            served=served,
            errors=requests - served,
            forced_relogins=np.asarray(tally.forced, dtype=np.int64),
            latency_ms=latency,
            login_cpu_s=np.asarray(sampler.login_cpu_s, dtype=np.float64),
            server_jobs=jobs,
            queue_length=queue,
            up_fraction=up,
            busy_workers=busy,
            sessions=sessions,
            state=state,
            in_balancer=routed,
        )

    @property
    def success_rate(self) -> FloatArray:
        """``succeeded / requests`` per bucket (NaN for an empty bucket)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.requests > 0, self.succeeded / self.requests, np.nan)

    def to_frame(self, strategy: str) -> pd.DataFrame:
        """One row per bucket (columns :data:`SERIES_COLUMNS`)."""
        import pandas as pd  # noqa: PLC0415 (slow to import: only frames need it)

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
        import pandas as pd  # noqa: PLC0415 (slow to import: only frames need it)

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
                "busy_workers": self.busy_workers.ravel(),
                "sessions": self.sessions.ravel(),
                "state": [state_name(int(code)) for code in self.state.ravel()],
                "in_balancer": self.in_balancer.ravel(),
            },
            columns=list(SERVER_SERIES_COLUMNS),
        )


def _server_arrays(
    count: int, server_bucket_jobs: Sequence[Sequence[int]], sampler: ServerSampler
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """Jobs, mean queue length, up fraction and mean busy workers per server and bucket,
    shape (S, B)."""
    servers = max(len(server_bucket_jobs), len(sampler.queue_sums))
    jobs = np.zeros((servers, count), dtype=np.int64)
    for server, counts in enumerate(server_bucket_jobs):
        usable = min(len(counts), count)
        jobs[server, :usable] = counts[:usable]
    samples = np.maximum(np.asarray(sampler.samples, dtype=np.float64), 1.0)
    queue = np.zeros((servers, count))
    up = np.zeros((servers, count))
    busy = np.zeros((servers, count))
    for server in range(len(sampler.queue_sums)):
        queue[server] = np.asarray(sampler.queue_sums[server]) / samples
        up[server] = np.asarray(sampler.up_sums[server]) / samples
        busy[server] = np.asarray(sampler.busy_sums[server]) / samples
    return jobs, queue, up, busy


def _last_seen(servers: int, sampler: ServerSampler) -> tuple[IntArray, IntArray, BoolArray]:
    """Sessions held, state code and balancer routing per server at each bucket's last
    sample, shape (S, B); a bucket without a sample repeats the one before."""
    count = sampler.buckets.count
    sessions = np.zeros((servers, count), dtype=np.int64)
    state = np.full((servers, count), ABSENT, dtype=np.int64)
    routed = np.zeros((servers, count), dtype=np.bool_)
    for server in range(len(sampler.last_state)):
        sessions[server] = sampler.last_sessions[server]
        state[server] = sampler.last_state[server]
        routed[server] = sampler.last_routed[server]
    for bucket in range(1, count):
        if sampler.samples[bucket] == 0:
            sessions[:, bucket] = sessions[:, bucket - 1]
            state[:, bucket] = state[:, bucket - 1]
            routed[:, bucket] = routed[:, bucket - 1]
    return sessions, state, routed
