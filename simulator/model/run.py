"""One run: a load balancer, N servers, a session store and users, for each strategy.

This is the only module that knows every part. For each strategy it builds a fresh
SimPy environment, feeds it the same request stream (common random numbers), plays the
scenario's timeline of events against it, and records every measured request. A
request's life:

1. It arrives. A client without a credential logs in first (a login job). With
   ``workload.logged_in_at_start`` (the default) every user already holds one at time 0.
2. The balancer routes the job using what it learnt at its last health check; a server
   that is actually down answers ``server_down``, a full queue answers ``overload``.
3. A worker takes it: the strategy's store round trips, then its check, then the
   business work. A rejected credential forces a re-login (another job, routed again,
   charged ``login_cpu_ms`` on the server that takes it) and one retry; a retry
   rejected again is ``unauthorized``. A crash fails every job on the server.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import simpy

from simulator import outcomes
from simulator.costs.reference import AuthCosts
from simulator.model.balancer import ClusterView
from simulator.model.cluster import Server
from simulator.model.rng import DrawBuffer, Streams, exponential_buffer, uniform_buffer
from simulator.model.store import SessionStore
from simulator.model.strategies import Strategy, StrategyContext, build_strategy
from simulator.model.workload import ArrivalRate, Population, RequestStream
from simulator.results.metrics import latency_summary
from simulator.results.records import (
    AuthCost,
    EventMark,
    Exposure,
    RequestLog,
    RunResult,
    StoreStats,
    StrategyResult,
    event_windows,
)
from simulator.results.timeseries import (
    SAMPLES_PER_BUCKET,
    Buckets,
    ServerSampler,
    StrategySeries,
    Tally,
)
from simulator.scenario.calibration import load_profile
from simulator.scenario.events import TrafficSpike
from simulator.scenario.models import Scenario, StrategyName

ProgressCallback = Callable[[str, float], None]
"""``progress(strategy, fraction_done)``, called as simulated time advances."""

# What the client sends next (a request's phase)
_REQUEST, _LOGIN, _RETRY, _REFRESH = 0, 1, 2, 3
# What a worker's handler returns besides the error outcomes
_ACCEPTED, _REJECTED, _LOGGED_IN, _RENEWED = 100, 101, 102, 103

_PROGRESS_STEPS = 50


class _Request:
    """One user request in flight (with its login and retry, if any)."""

    __slots__ = ("arrival_s", "cause", "measured", "phase", "server", "service_s", "user")

    def __init__(self, user: int, arrival_s: float, service_s: float, measured: bool) -> None:
        self.user = user
        self.arrival_s = arrival_s
        self.service_s = service_s
        self.measured = measured
        self.phase = _REQUEST
        self.cause = outcomes.VALID  # why it was forced to log in again, if it was
        self.server = -1


@dataclass(frozen=True)
class RunInputs:
    """What every strategy of one run shares: the streams, the users and their requests.

    Attributes:
        scenario: the validated scenario.
        streams: the named random streams of this seed and replication.
        population: the users and their IPs.
        requests: the request stream (replayed identically for every strategy).
    """

    scenario: Scenario
    streams: Streams
    population: Population
    requests: RequestStream

    @classmethod
    def build(cls, scenario: Scenario, replication: int = 0) -> RunInputs:
        """Derive the inputs of replication ``replication`` from the scenario's seed."""
        streams = Streams(scenario.seed, replication)
        population = Population.from_config(scenario.workload, streams)
        rate = ArrivalRate(
            scenario.workload.arrival_rate_per_s,
            scenario.workload.rate_profile,
            [event for event in scenario.events if isinstance(event, TrafficSpike)],
        )
        requests = RequestStream(
            rate,
            scenario.cluster.service_time_ms,
            population,
            streams,
            scenario.duration_s,
        )
        return cls(scenario, streams, population, requests)


class StrategyRun:
    """Simulates one strategy over the scenario's request stream.

    Args:
        inputs: the run's shared inputs (see :class:`RunInputs`).
        strategy_name: which strategy to run.
        progress: called with the fraction of simulated time done.
    """

    def __init__(
        self,
        inputs: RunInputs,
        strategy_name: str,
        progress: ProgressCallback | None = None,
        record_requests: bool = True,
    ) -> None:
        scenario = inputs.scenario
        streams = inputs.streams
        population = inputs.population
        self.scenario = scenario
        self.name = strategy_name
        self.env = simpy.Environment()
        self._requests = inputs.requests
        self._progress = progress
        cluster = scenario.cluster
        self._warmup_s = scenario.warmup_s
        self._end_s = scenario.duration_s
        self.costs = AuthCosts(load_profile(scenario.calibration) if scenario.calibration else None)
        self._login_s = (
            self.costs.login_ms(cluster.login_cpu_ms, "login_cpu_ms" in cluster.model_fields_set)
            / 1000.0
        )
        self._timeout_s = cluster.request_timeout_ms / 1000.0
        self.servers: list[Server] = []
        for _ in range(cluster.servers):
            self._new_server()
        self.view = ClusterView(self.servers)
        store_config = scenario.shared_store
        self.store = SessionStore(
            self.env,
            rtt_ms=self.costs.store_rtt_ms(
                store_config.rtt_ms, "rtt_ms" in store_config.model_fields_set
            ),
            op_times_s=exponential_buffer(
                streams.generator("store"), store_config.op_time_ms / 1000.0
            ),
            pool_size=store_config.pool_size,
            servers=cluster.servers,
            warmup_s=scenario.warmup_s,
            end_s=scenario.duration_s,
        )
        context = StrategyContext(
            scenario=scenario,
            view=self.view,
            servers=self.servers,
            population=population,
            balancer_uniform=uniform_buffer(streams.generator("balancer")),
            store=self.store,
            costs=self.costs,
        )
        self.strategy: Strategy = build_strategy(strategy_name, context)
        bandwidth = cluster.network_mbps
        self._transfer_s = (
            self.strategy.credential_bytes * 8 / (bandwidth * 1e6) if bandwidth else 0.0
        )
        self.population = population
        self._initial_uniform = uniform_buffer(streams.generator("initial_logins"))
        self._choose = self.strategy.balancer.choose
        self.log = RequestLog()
        self._record_requests = record_requests
        self._counts = [0] * len(outcomes.NAMES)
        self._causes = [0] * len(outcomes.CAUSES)
        self.requests = 0
        self.logins = 0
        self.login_cpu_s = 0.0
        self.buckets = Buckets(scenario.warmup_s, scenario.duration_s, scenario.time_bucket_s)
        self._sampler = ServerSampler(self.buckets)
        self.tally = Tally(self.buckets)
        self.marks: list[EventMark] = []
        self._health_checked = self.env.event()  # fires after each health check
        self.refreshes = 0
        self._revoked_at: dict[int, float] = {}
        self._exposed_requests = 0
        self._exposed_until: dict[int, float] = {}
        self._remaining_s: dict[int, float] = {}  # credential lifetime left at revocation
        self._in_flight: set[_Request] = set()
        self._arrivals_done = False
        self._drained = self.env.event()

    # ----------------------------------------------------------------- processes

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        warmup_s = self._warmup_s
        has_credential = self.strategy.has_credential
        send = self._send
        for chunk in self._requests:
            for gap_s, user, service_s in zip(
                chunk.gaps_s, chunk.users, chunk.service_s, strict=True
            ):
                yield env.timeout(gap_s)
                now = env.now
                request = _Request(user, now, service_s, now >= warmup_s)
                if request.measured:
                    self.requests += 1
                if not has_credential(user):
                    request.phase = _LOGIN
                self._in_flight.add(request)
                send(request)
        self._arrivals_done = True
        if not self._in_flight:
            self._drained.succeed()

    def _health_checks(self) -> Generator[simpy.Event, Any, None]:
        interval_s = self.scenario.load_balancer.health_check_interval_s
        while True:
            yield self.env.timeout(interval_s)
            self.view.set_live(
                [server.index for server in self.servers if server.up and server.in_rotation]
            )
            checked, self._health_checked = self._health_checked, self.env.event()
            checked.succeed()

    def _sample_servers(self) -> Generator[simpy.Event, Any, None]:
        step_s = self.buckets.width_s / SAMPLES_PER_BUCKET
        env = self.env
        yield env.timeout(self.buckets.start_s + step_s / 2 - env.now)
        servers = self.servers
        is_live = self.view.is_live
        while env.now < self.buckets.end_s:
            queues = [len(server.queue) for server in servers]
            self._sampler.sample(
                env.now,
                queues,
                [server.up for server in servers],
                [server.in_system - queued for server, queued in zip(servers, queues, strict=True)],
                [len(server.sessions) for server in servers],
                [server.state for server in servers],
                [is_live(server.index) for server in servers],
            )
            yield env.timeout(step_s)

    def _report_progress(self, callback: ProgressCallback) -> Generator[simpy.Event, Any, None]:
        step_s = self.scenario.duration_s / _PROGRESS_STEPS
        for step in range(1, _PROGRESS_STEPS + 1):
            yield self.env.timeout(step_s)
            callback(self.name, step / _PROGRESS_STEPS)

    # ----------------------------------------------------------- request flow

    def _send(self, request: _Request) -> None:
        """Route the request's current job and hand it to a server."""
        if not self.view.live:
            # no healthy upstream: the balancer itself answers with an error
            self._finish(request, outcomes.SERVER_DOWN)
            return
        server = self.servers[self._choose(request.user)]
        request.server = server.index
        refused = server.submit(request, self.buckets.index(self.env.now))
        if refused is not None:
            self._finish(request, refused)

    def _serve(self, server: Server, request: _Request) -> Generator[simpy.Event, Any, int]:
        """A worker's work on one job; returns a handler result or an error outcome."""
        env = self.env
        started_s = env.now
        strategy = self.strategy
        phase = request.phase
        login = phase == _LOGIN
        if login:
            round_trips = strategy.login_round_trips
        elif phase == _REFRESH:
            round_trips = strategy.refresh_round_trips
        else:
            round_trips = strategy.check_round_trips
        without: tuple[int, float] | None = None  # served without the store (it is down)
        for _ in range(round_trips):
            answered = yield from self.store.round_trip(server.index)
            if not answered:
                without = strategy.without_store(server, request.user, env.now, login)
                if without is None:
                    self._charge(server, started_s)
                    return outcomes.STORE_UNAVAILABLE
                break
        now = env.now
        user = request.user
        if login:
            cpu_s = self._login_s + (without[1] if without else strategy.issue(server, user, now))
            result = _LOGGED_IN
        elif phase == _REFRESH:
            verdict, cpu_s = without or strategy.renew(server, user, now)
            if verdict == outcomes.VALID:
                result = _RENEWED
            else:
                request.cause = verdict  # the refresh failed: a login is forced
                result = _REJECTED
        else:
            verdict, cpu_s = without or strategy.check(server, user, now)
            cpu_s += self._transfer_s
            if verdict == outcomes.VALID:
                cpu_s += request.service_s
                result = _ACCEPTED
                if user in self._revoked_at and strategy.issued_at(user) < self._revoked_at[user]:
                    self._note_exposure(user, now)
            else:
                if phase == _REQUEST:
                    request.cause = verdict
                result = _REJECTED
        if cpu_s > 0:
            yield env.timeout(cpu_s)
        self._charge(server, started_s)
        return result

    def _charge(self, server: Server, started_s: float) -> None:
        """Count a worker's time on one job (store waits included) in the server's load,
        clipped to the measured window."""
        busy_s = min(self.env.now, self._end_s) - max(started_s, self._warmup_s)
        if busy_s > 0:
            server.busy_s += busy_s

    def _on_done(self, server: Server, request: _Request, result: int) -> None:
        """A server answered: decide the client's next step."""
        forced = request.cause != outcomes.VALID
        if result == _ACCEPTED:
            self._finish(request, outcomes.RELOGIN if forced else outcomes.OK)
        elif result == _LOGGED_IN:
            if request.measured:
                self.logins += 1
                if forced:
                    self.login_cpu_s += self._login_s
                    self._sampler.add_login_cpu(self.env.now, self._login_s)
            request.phase = _RETRY if forced else _REQUEST
            self._send(request)
        elif result == _REJECTED:
            phase = request.phase
            if phase == _RETRY:
                self._finish(request, outcomes.UNAUTHORIZED)
            elif (
                phase == _REQUEST
                and request.cause == outcomes.EXPIRED
                and self.strategy.refresh_round_trips
            ):
                request.cause = outcomes.VALID  # not forced (yet): try the refresh token
                request.phase = _REFRESH
                self._send(request)
            else:
                if request.measured:
                    self._causes[request.cause] += 1
                request.phase = _LOGIN
                self._send(request)
        elif result == _RENEWED:
            if request.measured:
                self.refreshes += 1
            request.phase = _RETRY
            self._send(request)
        else:
            self._finish(request, result)

    def _finish(self, request: _Request, outcome: int) -> None:
        latency_s = self.env.now - request.arrival_s
        if outcome in outcomes.SERVED and latency_s > self._timeout_s:
            outcome = outcomes.TIMEOUT
        if request.measured:
            self._counts[outcome] += 1
            latency_ms = latency_s * 1000.0
            self.tally.record(request.arrival_s, outcome, latency_ms, request.cause)
            if self._record_requests:
                self.log.record(
                    request.arrival_s,
                    request.user,
                    request.server,
                    outcome,
                    latency_ms,
                    request.cause,
                )
        self._in_flight.discard(request)
        if not self._in_flight and self._arrivals_done:
            self._drained.succeed()

    # ------------------------------------------------------------ the World

    def _new_server(self) -> Server:
        cluster = self.scenario.cluster
        server = Server(
            self.env,
            len(self.servers),
            cluster.workers_per_server,
            cluster.queue_limit,
            self._serve,
            self._on_done,
        )
        self.servers.append(server)
        return server

    def _play(self, event: Any) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(event.at_s)
        yield from event.run(self)

    def running_servers(self) -> list[int]:
        """Indices of servers that are up and in rotation, ascending."""
        return [server.index for server in self.servers if server.up and server.in_rotation]

    def crashed_servers(self) -> list[int]:
        """Indices of crashed servers, ascending."""
        return [server.index for server in self.servers if server.crashed]

    def crash(self, server: int) -> None:
        """Kill a server: every job on it fails with ``server_down``."""
        target = self.servers[server]
        failed = target.crash()
        self.store.reset_pool(server)
        for request in failed:
            self._on_done(target, request, outcomes.SERVER_DOWN)

    def recover(self, server: int) -> None:
        """Start a crashed server again; the balancer adds it at its next health check."""
        self.servers[server].start()

    def add_server(self) -> int:
        """Start a new server; the balancer adds it at its next health check."""
        server = self._new_server()
        self.store.add_pool()
        return server.index

    def _take_out_of_rotation(self, server: Server) -> None:
        server.in_rotation = False
        self.view.set_live([index for index in self.view.live if index != server.index])

    def _drain_or_kill(self, server: Server, graceful: bool) -> Generator[simpy.Event, Any, None]:
        self._take_out_of_rotation(server)
        if graceful:
            yield server.drained()
            server.stop()
        else:
            self.crash(server.index)
            server.crashed = False

    def retire(self, server: int, graceful: bool) -> Generator[simpy.Event, Any, None]:
        """Remove a server from the fleet for good (scale-in)."""
        target = self.servers[server]
        yield from self._drain_or_kill(target, graceful)
        target.retired = True

    def restart(
        self, server: int, restart_s: float, graceful: bool
    ) -> Generator[simpy.Event, Any, None]:
        """Restart a server (a deploy step): out, down for ``restart_s``, back."""
        target = self.servers[server]
        yield from self._drain_or_kill(target, graceful)
        yield self.env.timeout(restart_s)
        target.start()
        while not self.view.is_live(server):
            yield self._health_checked

    def set_store_down(self, down: bool, data_lost: bool) -> None:
        """Start or end a store outage."""
        self.store.set_down(down, data_lost)

    def add_store_delay(self, extra_s: float) -> None:
        """Add network delay to every store operation."""
        self.store.add_delay(extra_s)

    def users(self) -> int:
        """Number of users."""
        return self.population.users

    def revoke(self, user: int) -> None:
        """Revoke the credential ``user`` holds now; watch for it being accepted later."""
        now = self.env.now
        self._revoked_at[user] = now
        expires_at = self.strategy.expires_at(user)
        self._remaining_s[user] = max(0.0, expires_at - now) if expires_at is not None else 0.0
        self.strategy.revoke(user, now)

    def rotate_key(self, overlap_s: float) -> None:
        """Switch the signing key."""
        self.strategy.rotate_key(self.env.now, overlap_s)

    def _note_exposure(self, user: int, now_s: float) -> None:
        """A credential issued before its user was revoked was accepted."""
        self._exposed_requests += 1
        self._exposed_until[user] = now_s

    def mark(self, kind: str, label: str, start_s: float, end_s: float | None) -> int:
        """Record an event for the plots and the per-event windows."""
        self.marks.append(EventMark(kind, label, start_s, end_s))
        self.tally.add_edge(start_s)
        if end_s is not None:
            self.tally.add_edge(end_s)
        return len(self.marks) - 1

    def close_mark(self, handle: int, end_s: float) -> None:
        """Set the end of a lasting event (a deploy) once it is known."""
        mark = self.marks[handle]
        self.marks[handle] = EventMark(mark.kind, mark.label, mark.start_s, end_s)
        self.tally.add_edge(end_s)

    # ------------------------------------------------------------------- run

    def _log_in_everyone(self, uniform: DrawBuffer) -> None:
        """Give every user a credential at time 0, as on a site that has been running.

        Each user is routed by the balancer to the server that holds its session. A
        credential that expires was issued a uniformly random time ago, so expiries are
        spread out rather than all at once.
        """
        lifetime_s = self.strategy.credential_lifetime_s
        for user in range(self.population.users):
            server = self.servers[self._choose(user)]
            issued_s = -uniform.next() * lifetime_s if lifetime_s is not None else 0.0
            self.strategy.issue(server, user, issued_s)

    def run(self) -> StrategyResult:
        """Simulate until every request that arrived has its answer; summarise."""
        env = self.env
        if self.scenario.workload.logged_in_at_start:
            self._log_in_everyone(self._initial_uniform)
        env.process(self._arrivals())
        env.process(self._health_checks())
        env.process(self._sample_servers())
        for event in self.scenario.events:
            env.process(self._play(event))
        for process in self.strategy.background(env):
            env.process(process)
        if self._progress is not None:
            env.process(self._report_progress(self._progress))
        # Every request has an answer by then: one still in flight has timed out.
        hard_stop_s = self.scenario.duration_s + 2 * self._timeout_s
        env.run(until=env.any_of([self._drained, env.timeout(hard_stop_s)]))
        # Requests still unanswered at the hard stop have waited longer than the timeout.
        for request in sorted(self._in_flight, key=lambda request: request.arrival_s):
            self._finish(request, outcomes.TIMEOUT)
        return self._summarise()

    def _exposure(self) -> Exposure | None:
        if not self._revoked_at:
            return None
        windows = [
            self._exposed_until.get(user, revoked_s) - revoked_s
            for user, revoked_s in self._revoked_at.items()
        ]
        remaining = list(self._remaining_s.values())
        return Exposure(
            revoked_users=len(windows),
            accepted_after_revocation=self._exposed_requests,
            mean_window_s=sum(windows) / len(windows),
            max_window_s=max(windows),
            mean_remaining_ttl_s=sum(remaining) / len(remaining),
        )

    def _summarise(self) -> StrategyResult:
        scenario = self.scenario
        measured_s = scenario.measured_s
        start_s, end_s = scenario.warmup_s, scenario.duration_s
        counts = dict(zip(outcomes.NAMES, self._counts, strict=True))
        store = None
        if self.strategy.uses_store:
            answered = self.store.answered
            store = StoreStats(
                utilisation=self.store.busy_s / measured_s,
                mean_latency_ms=self.store.latency_s / answered * 1000.0 if answered else None,
                ops=self.store.ops,
                ops_per_request=self.store.ops / self.requests if self.requests else None,
            )
        jwt = scenario.jwt
        verify_ms = (
            self.costs.verify_ms(jwt.algorithm, jwt.verify_ms) if self.name == "jwt" else 0.0
        )
        source = (
            self.costs.verify_source(jwt.algorithm, jwt.verify_ms)
            if self.name == "jwt"
            else "scenario"
        )
        workers = scenario.cluster.workers_per_server
        up_s = [server.up_seconds(start_s, end_s) for server in self.servers]
        marks = sorted(self.marks, key=lambda mark: (mark.start_s, mark.label))
        return StrategyResult(
            strategy=self.name,
            requests=self.requests,
            served=counts["ok"] + counts["relogin"],
            succeeded=counts["ok"],
            forced_relogins=sum(self._causes),
            logins=self.logins,
            login_cpu_s=self.login_cpu_s,
            outcome_counts=counts,
            latency_ms=(
                latency_summary(self.log.served_latency_ms())
                if self._record_requests
                else self.tally.overall.summary()
            ),
            server_requests=[server.jobs for server in self.servers],
            server_utilisation=[
                server.busy_s / (up * workers) if up > 0 else 0.0
                for server, up in zip(self.servers, up_s, strict=True)
            ],
            store=store,
            credential_bytes=self.strategy.credential_bytes,
            sessions_in_servers=sum(len(server.sessions) for server in self.servers),
            sessions_in_store=len(self.store.data),
            measured_s=measured_s,
            forced_relogins_by_cause=dict(zip(outcomes.CAUSES, self._causes, strict=True)),
            server_up_s=up_s,
            events=marks,
            windows=event_windows(marks, start_s, end_s, self.tally.window_counts),
            refreshes=self.refreshes,
            exposure=self._exposure(),
            auth_cost=AuthCost(verify_ms, self._login_s * 1000.0, source),
            series=StrategySeries.from_tally(
                self.tally, [server.bucket_jobs for server in self.servers], self._sampler
            ),
        )


def run(
    scenario: Scenario,
    strategies: Iterable[str | StrategyName] | None = None,
    *,
    seed: int | None = None,
    replication: int = 0,
    record_requests: bool = True,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run a scenario: every strategy on the same traffic.

    Args:
        scenario: the validated scenario (see :func:`simulator.scenario.models.load_scenario`).
        strategies: which strategies to run, in order; default: ``scenario.strategies``.
        seed: overrides ``scenario.seed``.
        replication: replication index; each gives independent random streams.
        record_requests: keep the per-request tables (for
            :meth:`RunResult.requests_frame`, and exact latency percentiles). Without
            them the run is in *summary mode*: memory does not grow with the number of
            requests, and percentiles come from a histogram within about 0.5%.
        progress: ``progress(strategy, fraction)`` as simulated time advances.

    Returns:
        The per-strategy results and request records.
    """
    if seed is not None:
        scenario = scenario.with_overrides({"seed": seed}, source="seed")
    names = [str(StrategyName(name)) for name in (strategies or scenario.strategies)]
    inputs = RunInputs.build(scenario, replication)
    results: list[StrategyResult] = []
    logs: dict[str, RequestLog] = {}
    for name in names:
        strategy_run = StrategyRun(inputs, name, progress=progress, record_requests=record_requests)
        results.append(strategy_run.run())
        if record_requests:
            logs[name] = strategy_run.log
    return RunResult(scenario=scenario, results=results, logs=logs)
