"""The scenario: pydantic models of every section, their defaults and their checks.

A scenario is one YAML file under ``scenarios/`` (or any path), read by
:mod:`simulator.scenario.loading`. The models below forbid unknown keys, so a typo is an
error rather than a silently ignored setting; :mod:`simulator.scenario.loading` turns
every validation problem into a one-line :class:`~simulator.errors.ScenarioError`, and
:mod:`simulator.scenario.overrides` applies dotted ``--set`` overrides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simulator.scenario.events import Event, ScaleOut
from simulator.scenario.profiles import ConstantRate, RateProfile


class StrategyName(StrEnum):
    """The four ways a backend can remember who is logged in."""

    LOCAL = "local"
    STICKY = "sticky"
    SHARED_STORE = "shared_store"
    JWT = "jwt"


class Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are checked on set."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


class ServiceTime(Section):
    """Business work per request on a server, in milliseconds of one worker's time.

    A fraction ``cpu_fraction`` of it is CPU work (rendering, serialising, computing),
    which competes for the server's cores when ``cluster.cpu_cores`` is set; the rest is
    waiting (a database query, a call to another service), which holds the worker but
    no core. With one core per worker (``cluster.cpu_cores`` null, the default) the split
    changes nothing: the worker is busy for the whole service time either way.

    Attributes:
        distribution: ``exponential`` (memoryless, the M/M/c case), ``constant`` or
            ``lognormal`` (heavy-ish tail; ``sigma`` is the log-space standard deviation).
        mean: mean service time in ms.
        sigma: shape of the lognormal distribution (ignored by the others).
        cpu_fraction: share of the service time that is CPU work, 0 to 1 (default 1:
            all of it); the remaining ``1 - cpu_fraction`` is waiting, served after it.
    """

    distribution: Literal["exponential", "constant", "lognormal"] = "exponential"
    mean: float = Field(10.0, gt=0)
    sigma: float = Field(1.0, gt=0)
    cpu_fraction: float = Field(1.0, ge=0, le=1)


Z_99 = 2.3263478740408408
"""The standard normal's 99th percentile."""

MIN_PERIOD_S = 1e-3
"""The shortest period of what repeats (health checks, denylist syncs, time-series
buckets) and the shortest measured window, seconds: below a millisecond it is a typo, and
near a float's resolution (``1e-300``) a periodic step would never advance the clock."""


class Latency(Section):
    """A time that varies from one request (or operation) to the next, in ms.

    Attributes:
        distribution: ``constant`` (the default), ``exponential`` or ``lognormal`` (a
            long right tail, set by ``p99``).
        mean: mean time, ms (0: nothing is added).
        p99: 99th percentile, ms, for ``lognormal`` (required there; ignored otherwise):
            the tail measured in production, at most about 15 times the mean (beyond it
            no lognormal has that mean and that p99).
    """

    distribution: Literal["constant", "exponential", "lognormal"] = "constant"
    mean: float = Field(0.0, ge=0)
    p99: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _tail_fits(self) -> Latency:
        if self.distribution == "lognormal" and self.mean > 0:
            if self.p99 is None:
                raise ValueError("a lognormal needs p99 (its 99th percentile, ms)")
            if self.p99 <= self.mean:
                raise ValueError(f"p99 ({self.p99:g}) must be above the mean ({self.mean:g})")
            if math.log(self.p99 / self.mean) > Z_99**2 / 2:
                raise ValueError(
                    f"p99 ({self.p99:g}) is more than {math.exp(Z_99**2 / 2):.1f} times the "
                    f"mean ({self.mean:g}): no lognormal has both"
                )
        return self

    @property
    def sigma(self) -> float:
        """The lognormal's log-space standard deviation that gives ``mean`` and ``p99``
        (0 for the other distributions): the smaller root of
        ``sigma**2 / 2 - Z_99 * sigma + ln(p99 / mean) = 0``."""
        if self.distribution != "lognormal" or self.mean == 0 or self.p99 is None:
            return 0.0
        return Z_99 - math.sqrt(Z_99**2 - 2 * math.log(self.p99 / self.mean))


class ReloginDelay(Section):
    """How long a person takes to log in again after a rejected credential, seconds.

    A forced re-login is a redirect to the login page and a person typing (or a password
    manager filling) a password, so it reaches the servers seconds after the rejection,
    not in the same instant. Typing a password takes a few seconds on a desktop and
    longer on a phone (von Zezschwitz, De Luca and Hussmann, "Honey, I Shrunk the Keys",
    CHI 2013); the default, a lognormal of mean 5 s, adds the redirect to that. This
    time is the person's, not the system's: it is left out of request latency and of
    ``request_timeout_ms``.

    Attributes:
        distribution: ``lognormal`` (a right tail: some people are slow), ``exponential``
            or ``constant``.
        mean_s: mean delay, seconds (0: the re-login is sent at once, as a script would).
        sigma: shape of the lognormal distribution (ignored by the others).
    """

    distribution: Literal["exponential", "constant", "lognormal"] = "lognormal"
    mean_s: float = Field(5.0, ge=0)
    sigma: float = Field(0.6, gt=0)


class Workload(Section):
    """Who sends requests and how often.

    Attributes:
        users: number of distinct users (clients), each holding one credential.
        arrival_rate_per_s: Poisson arrival rate of authenticated requests, per second.
        user_weights: how requests are spread over users: ``uniform`` or ``zipf``
            (user k gets weight 1 / k**zipf_exponent).
        zipf_exponent: skew of the Zipf weights (larger = a few users dominate).
        users_per_ip: users sharing one client IP address (behind one NAT).
        client_addresses: how the client IP addresses are laid out, which only the
            ``modulo`` and ``subnet24`` values of ``sticky.hash`` see: ``scattered`` (the
            default: small clusters, 3 addresses per /24 on average, spread over the
            whole unicast space, as a public site's clients are; stream ``addresses``)
            or ``consecutive`` (10.0.0.0, 10.0.0.1, ...: a lab or a load generator on one
            subnet, 256 clients per /24). Users behind one NAT share one address either
            way.
        logged_in_at_start: every user holds a credential at time 0, as on a site that
            has been running for a while; otherwise each user's first request logs in.
        rate_profile: how the arrival rate changes over time (``constant``, ``ramp`` or
            ``diurnal``; see :mod:`simulator.scenario.profiles`).
        relogin_delay_s: how long after a rejected credential the person's re-login
            reaches the servers (see :class:`ReloginDelay`).
    """

    users: int = Field(2000, ge=1)
    arrival_rate_per_s: float = Field(100.0, gt=0)
    user_weights: Literal["uniform", "zipf"] = "uniform"
    zipf_exponent: float = Field(1.0, gt=0)
    users_per_ip: int = Field(1, ge=1)
    client_addresses: Literal["scattered", "consecutive"] = "scattered"
    logged_in_at_start: bool = True
    rate_profile: RateProfile = ConstantRate()
    relogin_delay_s: ReloginDelay = ReloginDelay()


class Cluster(Section):
    """The servers behind the load balancer.

    Attributes:
        servers: number of servers N.
        workers_per_server: requests one server processes at once.
        queue_limit: requests that may wait per server; one more is an ``overload`` error.
        service_time_ms: business work per request.
        login_cpu_ms: CPU time of one password login (PBKDF2-SHA256 at 600k iterations is
            about 140 ms).
        request_timeout_ms: a request answered later than this counts as ``timeout``.
        network_mbps: client-to-server bandwidth, megabits per second; each request
            spends ``credential bytes / bandwidth`` receiving its credential (``null``:
            not modelled).
        overhead_ms: CPU time every job (request, login, retry, refresh) costs a worker
            before its own work: HTTP parsing, routing and the framework, ms (a
            :class:`Latency`, stream ``overhead``; default 0: not modelled). Measured on
            a real cluster (HAProxy, Python servers, Redis on loopback): the balancer hop,
            HTTP parsing and loopback together cost 2 to 7 ms at p50 on a loaded 2-core
            machine and well under 1 ms on a quiet one; split it between this and
            ``load_balancer.hop_ms``.
        cpu_cores: CPU cores per server, shared by its workers (``null``, the default:
            one core per worker, so workers never compete). With fewer cores than
            workers, the CPU work of a server's jobs (password hashing at login, token
            signing and verifying, ``overhead_ms`` and the CPU part of the business work,
            see :class:`ServiceTime`) is served by a processor-sharing CPU: with n jobs
            computing on c cores each progresses at min(1, c/n) times full speed, so a
            login storm slows every request on that server. Store round trips and the
            waiting part of the business work hold the worker but no core. On a real
            2-core host, ``local`` under a login storm had a p99 of 541 ms against 129 ms
            simulated with one core per worker.
    """

    servers: int = Field(5, ge=1)
    workers_per_server: int = Field(4, ge=1)
    queue_limit: int = Field(100, ge=0)
    service_time_ms: ServiceTime = ServiceTime()
    login_cpu_ms: float = Field(140.0, ge=0)
    request_timeout_ms: float = Field(10_000.0, gt=0)
    network_mbps: float | None = Field(None, gt=0)
    overhead_ms: Latency = Latency()
    cpu_cores: int | None = Field(None, ge=1)


class LoadBalancer(Section):
    """How the load balancer spreads requests for ``local``, ``shared_store`` and ``jwt``.

    Attributes:
        policy: ``round_robin``, ``random``, ``least_connections`` or ``power_of_two``.
        health_check_interval_s: how often the balancer learns which servers are up.
        hop_ms: time each job (request, login, retry, refresh) spends going through the
            balancer, client to balancer to server and back, outside any worker, ms (a
            :class:`Latency`, stream ``hop``; default 0: not modelled). It is latency,
            not load: no worker is held. On a real cluster (HAProxy, Python servers,
            Redis on loopback) the hop, HTTP parsing and loopback together cost 2 to 7
            ms at p50 on a loaded 2-core machine and well under 1 ms on a quiet one
            (the model's p50 was 8 to 12 ms below the real one without them); split it
            between this and ``cluster.overhead_ms``.
    """

    policy: Literal["round_robin", "random", "least_connections", "power_of_two"] = "round_robin"
    health_check_interval_s: float = Field(5.0, ge=MIN_PERIOD_S)
    hop_ms: Latency = Latency()


class Sticky(Section):
    """Affinity of the ``sticky`` strategy.

    Attributes:
        affinity: ``cookie`` (the balancer pins a user to the server that first served
            it), ``ip_hash`` (hash of the client IP modulo the live servers) or
            ``consistent_hash`` (a hash ring of the client IP).
        virtual_nodes: points per server on the consistent-hash ring.
        hash: how ``ip_hash`` and ``consistent_hash`` turn a client address into a key
            (see :mod:`simulator.model.balancer`): ``mixed`` (the default: SplitMix64,
            well spread whatever the addresses; HAProxy ``hash-type consistent``, nginx
            ``hash $remote_addr``), ``modulo`` (the address itself modulo the live
            servers: HAProxy ``balance source``, map-based, so consecutive addresses
            split exactly evenly) or ``subnet24`` (nginx ``ip_hash``: only the first
            three octets, so every address of a /24 lands on one server). The
            addresses are laid out by ``workload.client_addresses``.
        cookie_ttl_s: ``cookie`` only: the affinity cookie expires this long after the
            balancer set it (not refreshed by use: AWS duration-based stickiness, HAProxy
            ``maxlife``), and the next request is balanced afresh. ``None`` (the
            default): never (ALB's default is 86,400 s, its range 1 s to 7 days).
        load_bound: ``consistent_hash`` only: bounded loads (Mirrokni et al., SODA
            2018; HAProxy ``hash-balance-factor`` 125 is 1.25): a server holding
            ``ceil(load_bound * average)`` jobs is skipped for the next one clockwise.
            ``None`` (the default): plain consistent hashing.
    """

    affinity: Literal["cookie", "ip_hash", "consistent_hash"] = "cookie"
    virtual_nodes: int = Field(100, ge=1, le=10_000)
    hash: Literal["mixed", "modulo", "subnet24"] = "mixed"
    cookie_ttl_s: float | None = Field(None, gt=0)
    load_bound: float | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _keys_fit_the_affinity(self) -> Sticky:
        for key, affinity in (("cookie_ttl_s", "cookie"), ("load_bound", "consistent_hash")):
            if getattr(self, key) is not None and self.affinity != affinity:
                raise EventError(
                    -1,
                    key,
                    f"applies only to affinity {affinity} (affinity is {self.affinity}); "
                    "remove it or change the affinity",
                    "sticky",
                )
        return self


class SharedStore(Section):
    """The Redis-like session store of the ``shared_store`` strategy (and of ``jwt``'s
    refresh tokens and denylist).

    The defaults describe a Redis primary with one replica in the servers' datacentre,
    each figure from a source (also listed in the README):

    Attributes:
        rtt_ms: network round trip between a server and the store, ms. Default 0.5 ms: a
            redis-py GET across one datacentre takes about 0.2 to 0.5 ms (on loopback
            about 0.1 ms).
        op_time_ms: mean time a single-threaded Redis node spends on one operation
            (exponential), ms. Default 0.01 ms (10 µs): ``redis-benchmark`` measures
            about 100,000 to 150,000 GETs per second per instance without pipelining
            (redis.io, "Redis benchmark"), so one operation holds the event loop about 7
            to 10 µs, of which the command itself is 1 to 2 µs (``usec_per_call`` in
            ``INFO commandstats``). A SQL session table or an overloaded instance is 10
            to 100 times slower (see the ``store-saturation`` scenario).
        pool_size: connections per server to each shard; a worker waits when all are busy.
        on_outage: what a server does when the store cannot be reached: ``fail`` (the
            request fails with ``store_unavailable``) or ``relogin_local`` (degrade to
            local sessions: a login keeps its session in that server's memory, a request
            is accepted if this server's memory holds its session and otherwise forces a
            re-login; once the store is back, sessions made meanwhile are not in it).
        shards: primaries the keys are hashed over (Redis Cluster's 16,384 hash slots,
            split evenly); each is its own single-threaded queue. Default 1.
        replicas: replicas per shard. Default 1: production Redis runs a replica per
            primary, with Sentinel or Redis Cluster promoting it when the primary fails.
        failover_s: from a primary's crash to a promoted replica taking writes, seconds.
            Default 30 s: Sentinel's ``down-after-milliseconds`` is 30,000 by default
            (``sentinel.conf``) and the election and promotion add about a second;
            Redis Cluster's ``cluster-node-timeout`` is 15,000 ms by default
            (``redis.conf``), so 15-16 s there.
        read_from: where reads go: ``primary`` (the default, read-your-writes) or
            ``replicas`` (more read capacity, but a read can miss a write younger than
            the replication lag).
        replication_lag_ms: how far a replica is behind its primary, ms (replication is
            asynchronous). Default 1 ms: about one network hop inside a datacentre; a
            replica under a write burst or a resync falls seconds behind.
        rtt_distribution: how the round trip varies from one operation to the next:
            ``constant`` (the default), ``exponential`` or ``lognormal`` (mean ``rtt_ms``,
            99th percentile ``rtt_p99_ms``). A Redis GET measured inside loaded Python
            servers on loopback had p50 0.6 ms, mean 1.7-2.1 ms and p95 5.6-7.4 ms: a
            long tail a constant does not have.
        rtt_p99_ms: the round trip's 99th percentile, ms (``lognormal`` only).
        region: the region whose datacentre holds the store (one of ``regions``; default:
            the first). Servers in other regions add ``cross_region_rtt_ms`` to every
            store operation.
        cross_region_rtt_ms: the round trip between regions, ms. Default 70 ms: about US
            East to Western Europe (cloud providers publish inter-region round trips of
            about 60-90 ms between them; across the Pacific 100-150 ms).
    """

    rtt_ms: float = Field(0.5, ge=0)
    op_time_ms: float = Field(0.01, gt=0)
    pool_size: int = Field(10, ge=1)
    on_outage: Literal["fail", "relogin_local"] = "fail"
    shards: int = Field(1, ge=1, le=1000)
    replicas: int = Field(1, ge=0, le=10)
    failover_s: float = Field(30.0, ge=0)
    read_from: Literal["primary", "replicas"] = "primary"
    replication_lag_ms: float = Field(1.0, ge=0)
    rtt_distribution: Literal["constant", "exponential", "lognormal"] = "constant"
    rtt_p99_ms: float | None = Field(None, gt=0)
    region: str | None = None
    cross_region_rtt_ms: float = Field(70.0, ge=0)

    @model_validator(mode="after")
    def _rtt_tail_fits(self) -> SharedStore:
        try:
            Latency(distribution=self.rtt_distribution, mean=self.rtt_ms, p99=self.rtt_p99_ms)
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            message = message.replace("p99", "rtt_p99_ms").replace("the mean", "rtt_ms")
            raise EventError(-1, "rtt_p99_ms", message, "shared_store") from None
        return self

    @property
    def round_trip(self) -> Latency:
        """The round trip to the store as a :class:`Latency` (mean ``rtt_ms``)."""
        return Latency(distribution=self.rtt_distribution, mean=self.rtt_ms, p99=self.rtt_p99_ms)


class Jwt(Section):
    """Self-contained signed tokens of the ``jwt`` strategy.

    Attributes:
        algorithm: signing algorithm (RFC 7518 / RFC 8037 name).
        verify_ms: CPU per verification, ms; ``null`` uses the reference cost of the
            algorithm (see :mod:`simulator.costs.reference`).
        sign_ms: CPU to sign a token at login, ms; ``null`` uses the reference cost.
        ttl_s: lifetime of an access token, seconds; an expired token is renewed with
            the refresh token (or, without ``refresh``, forces a new login). Default 900
            s (15 minutes), as in production: access tokens live minutes (Keycloak's
            default access token lifespan is 5 minutes; the OWASP JWT cheat sheet and
            RFC 9700, the OAuth 2.0 security best current practice, advise short-lived
            access tokens with refresh tokens). A day-long token with no refresh and no
            revocation is the ``long-lived-jwt`` anti-pattern scenario.
        refresh: keep a refresh token per user in the store; an expired access token is
            renewed with one store round trip (and a signature) instead of a login, and
            a refresh that cannot reach the store forces a login (``refresh_failed``).
            Default on, as in production OAuth 2.0 / OpenID Connect deployments.
        refresh_ttl_s: lifetime of a refresh token, seconds. Default 30 days (Keycloak's
            offline session idle timeout; refresh tokens live days to weeks).
        denylist: how revoked tokens are refused before they expire: ``none`` (they are
            not: the exposure window), ``store`` (every request asks the store) or
            ``local_cache`` (each server keeps a copy, refreshed every ``sync_s``).
        sync_s: how often each server refreshes its copy of the denylist, seconds.
    """

    algorithm: Literal["HS256", "RS256", "PS256", "ES256", "EdDSA"] = "HS256"
    verify_ms: float | None = Field(None, ge=0)
    sign_ms: float | None = Field(None, ge=0)
    ttl_s: float = Field(900.0, gt=0)
    refresh: bool = True
    refresh_ttl_s: float = Field(30 * 86_400.0, gt=0)
    denylist: Literal["none", "store", "local_cache"] = "none"
    sync_s: float = Field(10.0, ge=MIN_PERIOD_S)


class Region(Section):
    """A geographic region: its own servers behind its own balancer (users are sent to
    their region's servers, as geo-DNS or an anycast front door does).

    Attributes:
        name: the region's name (``us-east``).
        users: its share of the users (relative: shares are normalised).
        servers: its share of the servers (relative; every region gets at least one).
    """

    name: str = Field(min_length=1)
    users: float = Field(1.0, gt=0)
    servers: float = Field(1.0, gt=0)


class Scenario(Section):
    """One complete simulation setup: traffic, cluster, balancer and strategy options.

    Attributes:
        name: short identifier, used in output.
        description: what the scenario shows and what to look for.
        seed: root of every random stream; same seed, same results.
        duration_s: simulated time during which requests arrive, seconds.
        warmup_s: requests arriving before this time are simulated but not counted.
        strategies: the strategies compared, all on the same traffic.
        bucket_s: width of the time-series buckets, seconds (``null``: about 60 buckets
            over the measured window).
        events: the timeline of faults and changes (see :mod:`simulator.scenario.events`).
        calibration: a profile written by ``authsim calibrate`` (a path, relative to the
            scenario file); its measured costs replace the reference ones.
        regions: the regions users and servers are split over (empty: one region, the
            store's). See :class:`Region` and ``shared_store.region``.
        engine: what computes each strategy's run: ``auto`` (the default: the exact
            vector engine where it is exact, otherwise the discrete-event simulation;
            each result says which ran and why), ``des`` (always the simulation) or
            ``vector`` (always the vector engine: an error where it cannot be exact).
            The vector engine (:mod:`simulator.model.vector`) computes a run with no
            feedback (FIFO servers, routing that reads no state, no events, no
            re-logins, no store on the request path) from Lindley's recursion with numpy,
            giving the simulation's numbers, bit for bit, in a fraction of its time.
    """

    name: str = "scenario"
    description: str = ""
    seed: int = Field(1, ge=0)
    duration_s: float = Field(60.0, gt=0)
    warmup_s: float = Field(0.0, ge=0)
    strategies: list[StrategyName] = Field(default_factory=lambda: list(StrategyName), min_length=1)
    workload: Workload = Workload()
    cluster: Cluster = Cluster()
    load_balancer: LoadBalancer = LoadBalancer()
    sticky: Sticky = Sticky()
    shared_store: SharedStore = SharedStore()
    jwt: Jwt = Jwt()
    bucket_s: float | None = Field(None, ge=MIN_PERIOD_S)
    events: list[Event] = Field(default_factory=list)
    calibration: str | None = None
    regions: list[Region] = Field(default_factory=list)
    engine: Literal["auto", "des", "vector"] = "auto"

    @field_validator("warmup_s")
    @classmethod
    def _warmup_inside_run(cls, warmup_s: float, info: ValidationInfo) -> float:
        duration_s = info.data.get("duration_s")
        if duration_s is not None and not warmup_s <= duration_s - MIN_PERIOD_S:
            raise ValueError(
                f"must leave at least {MIN_PERIOD_S:g} s measured before duration_s "
                f"({duration_s:g}) (got {warmup_s!r})"
            )
        return warmup_s

    @field_validator("strategies")
    @classmethod
    def _strategies_once(cls, strategies: list[StrategyName]) -> list[StrategyName]:
        seen = set()
        for name in strategies:
            if name in seen:
                raise ValueError(f"lists {str(name)!r} twice")
            seen.add(name)
        return strategies

    @model_validator(mode="after")
    def _regions_fit(self) -> Scenario:
        names = [region.name for region in self.regions]
        for position, name in enumerate(names):
            if name in names[:position]:
                raise EventError(position, "name", f"names region {name!r} twice", "regions")
        if len(names) > self.cluster.servers:
            raise EventError(
                len(names) - 1,
                "servers",
                f"{len(names)} regions need at least {len(names)} servers "
                f"(cluster.servers is {self.cluster.servers})",
                "regions",
            )
        store_region = self.shared_store.region
        if store_region is not None and store_region not in names:
            hint = f" (regions: {', '.join(names)})" if names else " (no regions are defined)"
            raise EventError(-1, "region", f"no region {store_region!r}{hint}", "shared_store")
        return self

    @model_validator(mode="after")
    def _events_fit_the_run(self) -> Scenario:
        added_by: list[tuple[float, int]] = sorted(
            (event.at_s, event.count) for event in self.events if isinstance(event, ScaleOut)
        )
        for position, event in enumerate(self.events):
            if event.at_s >= self.duration_s:
                raise EventError(
                    position, "at_s", f"must be before duration_s ({self.duration_s:g})"
                )
            shard = getattr(event, "shard", None)
            if shard is not None and shard >= self.shared_store.shards:
                raise EventError(
                    position,
                    "shard",
                    f"no shard {shard} (shared_store.shards is {self.shared_store.shards}, "
                    f"numbered from 0)",
                )
            target = getattr(event, "server", None)
            if target is not None:
                existing = self.cluster.servers + sum(
                    count for at_s, count in added_by if at_s <= event.at_s
                )
                if target >= existing:
                    raise EventError(
                        position,
                        "server",
                        f"no server {target} at {event.at_s:g} s ({existing} servers, "
                        f"numbered from 0)",
                    )
        return self

    @property
    def time_bucket_s(self) -> float:
        """The time-series bucket width: ``bucket_s`` or about 60 buckets, seconds."""
        if self.bucket_s is not None:
            return self.bucket_s
        return _nice_step(self.measured_s / 60)

    @property
    def measured_s(self) -> float:
        """Length of the measured window (``duration_s - warmup_s``), seconds."""
        return self.duration_s - self.warmup_s

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "overrides") -> Scenario:
        """Return a copy with dotted-key overrides applied and validated.

        Args:
            overrides: ``{"cluster.servers": 10, ...}``.
            source: how errors name where the overrides came from.

        Raises:
            ScenarioError: an unknown key or an invalid value.
        """
        # overrides and loading validate against this module's models: import at call time
        from simulator.scenario.loading import validate_scenario  # noqa: PLC0415
        from simulator.scenario.overrides import set_dotted  # noqa: PLC0415

        data = self.model_dump(mode="json")
        for dotted, value in overrides.items():
            set_dotted(data, dotted, value, source)
        return validate_scenario(data, source)


class EventError(ValueError):
    """A problem with one event (or region, or other list item, or with ``position`` -1 a
    key of ``section``) that only the whole scenario can see."""

    def __init__(self, position: int, key: str, problem: str, section: str = "events") -> None:
        self.key_path = f"{section}.{key}" if position < 0 else f"{section}.{position}.{key}"
        self.problem = problem
        super().__init__(f"{self.key_path}: {problem}")


def _nice_step(raw_s: float) -> float:
    """Round a step up to 1, 2 or 5 times a power of ten (0.1, 0.2, 0.5, 1, 2, 5...)."""
    if raw_s <= 0:
        return 1.0
    exponent = math.floor(math.log10(raw_s))
    for factor in (1, 2, 5, 10):
        step = factor * 10.0**exponent
        if step >= raw_s * (1 - 1e-9):
            return float(f"{step:.12g}")
    return 10.0 ** (exponent + 1)
