"""Users, their client IPs, and the stream of requests they send.

The request stream is generated in fixed-size chunks from three named streams
(``arrivals``, ``users``, ``service``), so it is identical for every strategy in a run
(common random numbers) and memory does not grow with the number of requests. Client
addresses are laid out by ``workload.client_addresses`` (stream ``addresses``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from simulator.model.rng import DrawBuffer, Streams, splitmix64
from simulator.scenario.events import TrafficSpike
from simulator.scenario.models import Latency, ReloginDelay, ServiceTime, Workload
from simulator.scenario.profiles import ConstantRate, RateProfile

CHUNK_REQUESTS = 8192
"""Requests generated per chunk of the arrival stream."""


CONSECUTIVE_FIRST = 10 << 24
"""10.0.0.0: the address of client IP 0 in the ``consecutive`` layout (RFC 1918 space)."""


def ip_address(ip_index: int) -> str:
    """The ``consecutive`` layout's address of client IP number ``ip_index``: 10.0.0.0
    plus the index (for display; :meth:`Population.address` gives any layout's)."""
    return f"10.{(ip_index >> 16) & 255}.{(ip_index >> 8) & 255}.{ip_index & 255}"


def format_address(address: int) -> str:
    """Dotted-quad text of an IPv4 address held as a 32-bit integer."""
    return ".".join(str((address >> shift) & 255) for shift in (24, 16, 8, 0))


def consecutive_addresses(count: int, streams: Streams) -> npt.NDArray[np.uint64]:
    """``consecutive``: 10.0.0.0, 10.0.0.1, 10.0.0.2, ... (a lab, or a load generator on
    one subnet); a /24 holds 256 consecutive client IPs. Draws nothing."""
    return np.arange(count, dtype=np.uint64) + np.uint64(CONSECUTIVE_FIRST)


SCATTERED_PER_SUBNET = 3.0
"""Mean client addresses per /24 in the ``scattered`` layout (an illustrative figure)."""
SCATTERED_FIRST_SUBNET = 1 << 16
"""1.0.0.0/24, the first /24 the ``scattered`` layout may use."""
SCATTERED_END_SUBNET = 224 << 16
"""224.0.0.0/24, where multicast starts: the ``scattered`` layout stays below it."""


def scattered_addresses(count: int, streams: Streams) -> npt.NDArray[np.uint64]:
    """``scattered``: client addresses as public clients have them (stream ``addresses``).

    Addresses come in small clusters spread over the unicast space: each cluster is a
    /24 drawn uniformly, without repeats, from 1.0.0.0/24 to 223.255.255.0/24; it holds
    a geometric number of addresses of mean :data:`SCATTERED_PER_SUBNET` (most /24s one
    to three clients, about 1 in 40 ten or more, as an ISP pool, a campus or an office
    gives), at distinct host numbers 1 to 254 drawn uniformly. Real client addresses
    are clustered at every prefix length rather than uniform (Kohler, Li, Paxson and
    Shenker, "Observed Structure of Addresses in IP Traffic", IEEE/ACM Transactions on
    Networking 14(6), 2006); the mean of 3 per /24 is a round figure chosen to show
    that clustering, not a measurement. Consecutive client IP indices share a /24, and
    users are shuffled over the indices (stream ``ips``), so a /24's users are random.
    """
    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    generator = streams.generator("addresses")
    sizes = np.minimum(generator.geometric(1.0 / SCATTERED_PER_SUBNET, count), 254)
    ends = np.cumsum(sizes)
    subnets = int(np.searchsorted(ends, count)) + 1
    sizes = sizes[:subnets]
    sizes[-1] -= int(ends[subnets - 1]) - count
    span = SCATTERED_END_SUBNET - SCATTERED_FIRST_SUBNET
    prefixes = generator.choice(span, size=subnets, replace=False) + SCATTERED_FIRST_SUBNET
    network: npt.NDArray[np.uint64] = np.repeat(prefixes.astype(np.uint64) << np.uint64(8), sizes)
    addresses: npt.NDArray[np.uint64] = network + generator.integers(1, 255, count, np.uint64)
    while True:  # draw again the host numbers taken twice in one /24
        _, first = np.unique(addresses, return_index=True)
        repeated = np.ones(count, dtype=bool)
        repeated[first] = False
        if not repeated.any():
            return addresses
        hosts = generator.integers(1, 255, int(repeated.sum()), np.uint64)
        addresses[repeated] = network[repeated] + hosts


ADDRESS_LAYOUTS: dict[str, Callable[[int, Streams], npt.NDArray[np.uint64]]] = {
    "consecutive": consecutive_addresses,
    "scattered": scattered_addresses,
}
"""The layouts of ``workload.client_addresses``: ``layout(count, streams)`` gives the
address of each of ``count`` client IPs."""


@dataclass(frozen=True)
class Population:
    """The users of a run.

    Attributes:
        users: number of users.
        weights: relative request rate of each user (sums to 1).
        user_ip: client IP index of each user; ``users_per_ip`` users share one IP (one
            NAT address).
        ip_hash: SplitMix64 of each IP index (the ``mixed`` key of ``sticky.hash``).
        address_layout: ``workload.client_addresses``, the layout of :attr:`addresses`.
        streams: the run's streams (the layout draws from ``addresses``).
    """

    users: int
    weights: npt.NDArray[np.float64]
    user_ip: npt.NDArray[np.int64]
    ip_hash: npt.NDArray[np.uint64]
    address_layout: str
    streams: Streams = field(repr=False, compare=False)

    @cached_property
    def addresses(self) -> npt.NDArray[np.uint64]:
        """IPv4 address of each client IP as a 32-bit integer, laid out by
        ``workload.client_addresses`` (what the ``modulo`` and ``subnet24`` hashes see).

        Drawn on first use: only those hashes need them, and a ``scattered`` layout
        costs about 1 CPU-second per million client IPs.
        """
        return ADDRESS_LAYOUTS[self.address_layout](self.ips, self.streams)

    @classmethod
    def from_config(cls, workload: Workload, streams: Streams) -> Population:
        """Build the population: weights by rank, users shuffled over IPs (stream
        ``ips``), IPs given addresses by ``workload.client_addresses``."""
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
        return cls(
            users=users,
            weights=weights,
            user_ip=user_ip,
            ip_hash=ip_hash,
            address_layout=workload.client_addresses,
            streams=streams,
        )

    @property
    def ips(self) -> int:
        """Number of distinct client IPs."""
        return len(self.ip_hash)

    def address(self, ip: int) -> str:
        """The dotted-quad address of client IP ``ip``."""
        return format_address(int(self.addresses[ip]))


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
    if distribution == "exponential":  # exponential(mean, size), filled faster
        values = generator.standard_exponential(size)
        values *= mean
        return values
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
