"""Users, their client IPs, and the stream of requests they send.

The request stream is generated in fixed-size chunks from three named streams
(``arrivals``, ``users``, ``service``), so it is identical for every strategy in a run
(common random numbers) and memory does not grow with the number of requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.model.rng import DrawBuffer, Streams, splitmix64
from simulator.scenario.events import TrafficSpike
from simulator.scenario.models import Latency, ReloginDelay, ServiceTime, Workload
from simulator.scenario.profiles import ConstantRate, RateProfile

CHUNK_REQUESTS = 8192
"""Requests generated per chunk of the arrival stream."""


def ip_address(ip_index: int) -> str:
    """A readable private address for client IP number ``ip_index`` (for display)."""
    return f"10.{(ip_index >> 16) & 255}.{(ip_index >> 8) & 255}.{ip_index & 255}"


@dataclass(frozen=True)
class Population:
    """The users of a run.

    Attributes:
        users: number of users.
        weights: relative request rate of each user (sums to 1).
        user_ip: client IP index of each user; ``users_per_ip`` users share one IP.
        ip_hash: stable 64-bit hash of each IP index (what affinity hashing sees).
    """

    users: int
    weights: npt.NDArray[np.float64]
    user_ip: npt.NDArray[np.int64]
    ip_hash: npt.NDArray[np.uint64]

    @classmethod
    def from_config(cls, workload: Workload, streams: Streams) -> Population:
        """Build the population: weights by rank, users shuffled over IPs (stream ``ips``)."""
        users = workload.users
        if workload.user_weights == "zipf":
            ranks = np.arange(1, users + 1, dtype=np.float64)
            raw = ranks ** (-workload.zipf_exponent)
        else:
            raw = np.ones(users, dtype=np.float64)
        weights = raw / raw.sum()
        order = streams.generator("ips").permutation(users)
        user_ip = (order // workload.users_per_ip).astype(np.int64)
        ip_count = math.ceil(users / workload.users_per_ip)
        ip_hash = splitmix64(np.arange(ip_count, dtype=np.uint64))
        return cls(users=users, weights=weights, user_ip=user_ip, ip_hash=ip_hash)

    @property
    def ips(self) -> int:
        """Number of distinct client IPs."""
        return len(self.ip_hash)


@dataclass(frozen=True)
class ArrivalChunk:
    """A block of consecutive requests.

    Attributes:
        gaps_s: time since the previous request, seconds.
        users: user index of each request.
        service_s: business work of each request, seconds of one worker.
    """

    gaps_s: list[float]
    users: list[int]
    service_s: list[float]


def draw_service_s(
    generator: np.random.Generator, service: ServiceTime, size: int
) -> npt.NDArray[np.float64]:
    """Draw ``size`` business service times in seconds for the configured distribution."""
    return draw(generator, service.distribution, service.mean / 1000.0, service.sigma, size)


def draw(
    generator: np.random.Generator, distribution: str, mean: float, sigma: float, size: int
) -> npt.NDArray[np.float64]:
    """Draw ``size`` values of ``exponential``, ``constant`` or ``lognormal`` (log-space
    standard deviation ``sigma``) with mean ``mean``."""
    if distribution == "exponential":
        return generator.exponential(mean, size)
    if distribution == "constant" or mean == 0:
        return np.full(size, float(mean))
    # lognormal with the requested mean: E[X] = exp(mu + sigma^2 / 2)
    mu = math.log(mean) - sigma**2 / 2
    return generator.lognormal(mu, sigma, size)


def latencies_s(streams: Streams, name: str, latency: Latency) -> DrawBuffer | None:
    """Draws of ``latency`` in seconds from the stream ``name`` (``None``: it is always 0,
    so callers can skip it and stay exactly as fast and as deterministic as without it)."""
    if latency.mean == 0:
        return None
    generator = streams.generator(name)
    mean_s = latency.mean / 1000.0
    return DrawBuffer(
        lambda size: draw(generator, latency.distribution, mean_s, latency.sigma, size)
    )


def relogin_delays_s(streams: Streams, delay: ReloginDelay) -> DrawBuffer:
    """The ``relogin_delay`` stream: seconds from a rejection to the person's re-login."""
    generator = streams.generator("relogin_delay")
    return DrawBuffer(
        lambda size: draw(generator, delay.distribution, delay.mean_s, delay.sigma, size),
        block=256,
    )


class ArrivalRate:
    """The arrival rate over time: the base rate, its profile and any traffic spikes.

    Args:
        base_per_s: ``workload.arrival_rate_per_s``.
        profile: ``workload.rate_profile``.
        spikes: the scenario's ``traffic_spike`` events.
    """

    def __init__(
        self, base_per_s: float, profile: RateProfile, spikes: Sequence[TrafficSpike] = ()
    ) -> None:
        self.base_per_s = base_per_s
        self.profile = profile
        self.spikes = tuple(spikes)

    @property
    def constant(self) -> bool:
        """Whether the rate never changes (no thinning needed)."""
        return isinstance(self.profile, ConstantRate) and not self.spikes

    @property
    def peak(self) -> float:
        """An upper bound of :meth:`multiplier`."""
        bound = self.profile.peak
        for spike in self.spikes:
            bound *= max(1.0, spike.multiplier)
        return bound

    def multiplier(self, times_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Rate multiplier at each time: the profile times every active spike."""
        values = self.profile.multiplier(times_s)
        for spike in self.spikes:
            inside = (times_s >= spike.at_s) & (times_s < spike.at_s + spike.duration_s)
            values = np.where(inside, values * spike.multiplier, values)
        return values

    def rate_per_s(self, times_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Arrival rate at each time, requests per second."""
        return self.base_per_s * self.multiplier(times_s)


class RequestStream:
    """The authenticated requests of one run, as an iterator of chunks.

    Iterating twice (or from two strategies) yields exactly the same requests: each
    iteration re-creates its generators from the seed. A time-varying rate is made by
    thinning: candidates arrive at the peak rate and each is kept with probability
    ``rate(t) / peak`` (stream ``thinning``).

    Args:
        rate: the arrival rate over time.
        service: the business service-time distribution.
        population: the users.
        streams: the run's random streams.
        duration_s: no request arrives at or after this time.
        chunk: candidate requests per chunk.
    """

    def __init__(
        self,
        rate: ArrivalRate,
        service: ServiceTime,
        population: Population,
        streams: Streams,
        duration_s: float,
        chunk: int = CHUNK_REQUESTS,
    ) -> None:
        self.rate = rate
        self.service = service
        self.population = population
        self.streams = streams
        self.duration_s = duration_s
        self.chunk = chunk

    def __iter__(self) -> Iterator[ArrivalChunk]:
        arrivals = self.streams.generator("arrivals")
        users = self.streams.generator("users")
        service = self.streams.generator("service")
        thinning = None if self.rate.constant else self.streams.generator("thinning")
        cumulative = np.cumsum(self.population.weights)
        cumulative[-1] = 1.0
        peak = self.rate.peak
        mean_gap_s = 1.0 / (self.rate.base_per_s * peak)
        now = 0.0
        last_kept = 0.0
        while True:
            gaps = arrivals.exponential(mean_gap_s, self.chunk)
            times = now + np.cumsum(gaps)
            user_ids = np.searchsorted(cumulative, users.random(self.chunk), side="right")
            service_s = draw_service_s(service, self.service, self.chunk)
            inside = int(np.searchsorted(times, self.duration_s, side="left"))
            if thinning is None:
                kept_gaps = gaps[:inside]
                kept_users = user_ids[:inside]
                kept_service = service_s[:inside]
            else:
                keep = thinning.random(self.chunk) * peak < self.rate.multiplier(times)
                keep[inside:] = False
                kept_times = times[keep]
                kept_gaps = np.diff(kept_times, prepend=last_kept)
                if kept_times.size:
                    last_kept = float(kept_times[-1])
                kept_users = user_ids[keep]
                kept_service = service_s[keep]
            yield ArrivalChunk(
                gaps_s=kept_gaps.tolist(),
                users=kept_users.tolist(),
                service_s=kept_service.tolist(),
            )
            if inside < self.chunk:
                return
            now = float(times[-1])
