"""One run: every strategy on the same traffic, and the life of one request.

:func:`run` builds the inputs every strategy shares (:class:`RunInputs`: the random
streams, the users, the request stream and the authentication costs), then, for each
strategy, a fresh SimPy environment holding a :class:`~simulator.model.fleet.Fleet` (the
servers, the balancer, the store and the strategy: what the timeline's events act on)
and a :class:`~simulator.model.recorder.Recorder` (what was measured). Every strategy
sees the same arrivals, users and service times (common random numbers).

A request's life, read top to bottom in :class:`StrategyRun`:

1. **It arrives** (:meth:`~StrategyRun.arrivals`). A client without a credential logs in
   first: its first job is a login. With ``workload.logged_in_at_start`` (the default)
   every user already holds one at time 0.
2. **The balancer routes the job** (:attr:`~StrategyRun.send`, then
   :meth:`~StrategyRun.route`), each job a ``load_balancer.hop_ms`` later when that is
   set (the way through the balancer and back, held by no worker), using what it learnt
   at its last health check; a server that is actually down answers ``server_down``, a
   full queue answers ``overload``.
3. **A worker serves it** (:meth:`~StrategyRun.serve`): the per-job
   ``cluster.overhead_ms`` and, for a login, the password hash first (a session is
   stored only for a good password), then the strategy's store round trips, then its
   check (or login, or refresh), then the business work. With fewer
   ``cluster.cpu_cores`` than workers, the CPU work among these runs on the server's
   shared cores (:mod:`simulator.model.cpu`); otherwise each worker has a core.
4. **The client takes the next step** (:meth:`~StrategyRun.on_done`). A rejected
   credential forces a re-login (another job, sent once the person has logged in again,
   ``workload.relogin_delay_s`` later, routed again and charged ``login_cpu_ms`` on the
   server that takes it) and one retry; a retry rejected again is ``unauthorized``. An
   expired token with a refresh token is renewed first; a refresh that cannot reach the
   store forces a re-login (``refresh_failed``).
5. **It ends** (:meth:`~StrategyRun.finish`) in exactly one outcome; one answered later
   than ``request_timeout_ms`` is a ``timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import simpy

from simulator import outcomes
from simulator.costs.reference import AuthCosts
from simulator.model.cluster import Server
from simulator.model.cpu import SharedCpus
from simulator.model.fleet import Fleet
from simulator.model.recorder import Recorder
from simulator.model.rng import DrawBuffer, Streams, uniform_buffer
from simulator.model.workload import (
    ArrivalRate,
    Population,
    RequestStream,
    latencies_s,
    relogin_delays_s,
)
from simulator.results.records import RequestLog, RunResult, StrategyResult
from simulator.scenario import budget
from simulator.scenario.calibration import load_profile
from simulator.scenario.events import TrafficSpike
from simulator.scenario.models import Scenario, StrategyName

ProgressCallback = Callable[[str, float], None]
"""``progress(strategy, fraction_done)``, called as simulated time advances."""

_PROGRESS_STEPS = 50


class Phase(IntEnum):
    """What the client sends next."""

    REQUEST = 0  # the authenticated request itself
    LOGIN = 1  # a login (first, or forced by a rejected credential)
    RETRY = 2  # the request again, after a forced login or a refresh
    REFRESH = 3  # an expired access token exchanged for a new one


class Handled(IntEnum):
    """What a worker's handler returns when the job did not end in an error outcome.

    Kept apart from the outcome codes (:mod:`simulator.outcomes`), which a handler
    returns for errors: these values never collide with them.
    """

    ACCEPTED = 100  # the credential was valid: the request was served
    REJECTED = 101  # the credential was rejected (the cause is on the request)
    LOGGED_IN = 102  # a login succeeded: a new credential
    RENEWED = 103  # a refresh succeeded: a new access token


# Module-level names for the hot path: a global is read about 4x faster than an enum member.
REQUEST, LOGIN, RETRY, REFRESH = Phase.REQUEST, Phase.LOGIN, Phase.RETRY, Phase.REFRESH
ACCEPTED, REJECTED = Handled.ACCEPTED, Handled.REJECTED
LOGGED_IN, RENEWED = Handled.LOGGED_IN, Handled.RENEWED


class Request:
    """One user request in flight (with its login, refresh and retry, if any)."""

    __slots__ = (
        "arrival_s",
        "cause",
        "client_s",
        "measured",
        "phase",
        "server",
        "service_s",
        "user",
    )

    def __init__(self, user: int, arrival_s: float, service_s: float, measured: bool) -> None:
        self.user = user
        self.arrival_s = arrival_s
        self.service_s = service_s
        self.measured = measured
        self.phase = REQUEST
        self.cause = outcomes.VALID  # why it was forced to log in again, if it was
        self.server = -1
        self.client_s = 0.0  # time the person spent logging in again (not the system's)


@dataclass(frozen=True)
class RunInputs:
    """What every strategy of one run shares: streams, users, requests and costs.

    Attributes:
        scenario: the validated scenario.
        streams: the named random streams of this seed and replication.
        population: the users and their IPs.
        requests: the request stream (replayed identically for every strategy).
        costs: the authentication costs (the calibration profile, read once, or the
            reference figures).
    """

    scenario: Scenario
    streams: Streams
    population: Population
    requests: RequestStream
    costs: AuthCosts

    @classmethod
    def build(cls, scenario: Scenario, replication: int = 0) -> RunInputs:
        """Derive the inputs of replication ``replication`` from the scenario's seed."""
        streams = Streams(scenario.seed, replication)
        population = Population.from_config(scenario.workload, streams)
        spikes = [event for event in scenario.events if isinstance(event, TrafficSpike)]
        rate = ArrivalRate(
            scenario.workload.arrival_rate_per_s, scenario.workload.rate_profile, spikes
        )
        requests = RequestStream(
            rate, scenario.cluster.service_time_ms, population, streams, scenario.duration_s
        )
        profile = load_profile(scenario.calibration) if scenario.calibration else None
        return cls(scenario, streams, population, requests, AuthCosts(profile))


class StrategyRun:
    """Simulates one strategy over the run's request stream.

    Args:
        inputs: the run's shared inputs (see :class:`RunInputs`).
        strategy_name: which strategy to run.
        progress: called with the fraction of simulated time done.
        record_requests: keep one row per measured request (see :func:`run`).
    """

    def __init__(
        self,
        inputs: RunInputs,
        strategy_name: str,
        progress: ProgressCallback | None = None,
        record_requests: bool = True,
    ) -> None:
        scenario = inputs.scenario
        cluster = scenario.cluster
        self.scenario = scenario
        self.name = strategy_name
        self.env = simpy.Environment()
        self._inputs = inputs
        self._progress = progress
        self._warmup_s = scenario.warmup_s
        self._end_s = scenario.duration_s
        overridden = "login_cpu_ms" in cluster.model_fields_set
        self._login_s = inputs.costs.login_ms(cluster.login_cpu_ms, overridden) / 1000.0
        self._timeout_s = cluster.request_timeout_ms / 1000.0
        delay = scenario.workload.relogin_delay_s
        self._relogin_delays_s = (
            relogin_delays_s(inputs.streams, delay) if delay.mean_s > 0 else None
        )
        # each None (the defaults) skips its step: no event, no draw
        self._overheads_s = latencies_s(inputs.streams, "overhead", cluster.overhead_ms)
        self._cpus = SharedCpus.build(self.env, cluster)
        hops = latencies_s(inputs.streams, "hop", scenario.load_balancer.hop_ms)
        self.send: Callable[[Request], None] = self.route if hops is None else self._hop(hops)
        """Send the request's current job through the balancer (see :meth:`route`)."""
        self.recorder = Recorder(scenario, record_requests)
        self.fleet = Fleet(
            self.env,
            scenario,
            strategy_name,
            inputs.streams,
            inputs.population,
            inputs.costs,
            self.recorder,
            self.serve,
            self.on_done,
        )
        self.strategy = self.fleet.strategy
        self.servers = self.fleet.servers
        self.store = self.fleet.store
        bandwidth = cluster.network_mbps
        self._transfer_s = (
            self.strategy.credential_bytes * 8 / (bandwidth * 1e6) if bandwidth else 0.0
        )
        self._choose = self.strategy.balancer.choose
        self._in_flight: set[Request] = set()
        # A client logs in once at a time: the request whose login is in progress, per
        # user, and the user's other requests waiting for it (with when they began to).
        self._login_owner: dict[int, Request] = {}
        self._waiting: dict[int, list[tuple[Request, float]]] = {}
        self._arrivals_done = False
        self._drained = self.env.event()

    # ------------------------------------------------------- a request's life

    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        """A process: the request stream, replayed; each request is sent as it arrives."""
        env = self.env
        warmup_s = self._warmup_s
        has_credential = self.strategy.has_credential
        for chunk in self._inputs.requests:
            for gap_s, user, service_s in zip(
                chunk.gaps_s, chunk.users, chunk.service_s, strict=True
            ):
                yield env.timeout(gap_s)
                now = env.now
                request = Request(user, now, service_s, now >= warmup_s)
                if request.measured:
                    self.recorder.requests += 1
                self._in_flight.add(request)
                if user in self._login_owner:
                    self._waiting[user].append((request, now))  # sent once logged in
                elif not has_credential(user):
                    request.phase = LOGIN
                    self._start_login(request)
                    self.send(request)
                else:
                    self.send(request)
        self._arrivals_done = True
        if not self._in_flight:
            self._drained.succeed()

    def _hop(self, hops_s: DrawBuffer) -> Callable[[Request], None]:
        """:attr:`send` with the balancer hop: each job is routed a hop later."""
        env, route = self.env, self.route

        def send(request: Request) -> None:
            env.timeout(hops_s.next()).callbacks.append(lambda _: route(request))

        return send

    def route(self, request: Request) -> None:
        """Route the request's current job and hand it to a server."""
        if not self.fleet.view.live:
            # no healthy upstream: the balancer itself answers with an error
            self.finish(request, outcomes.SERVER_DOWN)
            return
        server = self.servers[self._choose(request.user)]
        request.server = server.index
        refused = server.submit(request, self.recorder.buckets.index(self.env.now))
        if refused is not None:
            self.finish(request, refused)

    def serve(self, server: Server, request: Request) -> Generator[simpy.Event, Any, int]:
        """A worker's work on one job; returns a :class:`Handled` or an error outcome."""
        env = self.env
        started_s = env.now
        strategy = self.strategy
        phase = request.phase
        login = phase == LOGIN
        if login:
            round_trips = strategy.login_round_trips
        elif phase == REFRESH:
            round_trips = strategy.refresh_round_trips
        else:
            round_trips = strategy.check_round_trips
        cpus = self._cpus
        first_s = self._login_s if login else 0.0  # the password, before storing a session
        if self._overheads_s is not None:
            first_s += self._overheads_s.next()
        if first_s:
            yield env.timeout(first_s) if cpus is None else cpus.run(server, first_s)
        without: tuple[int, float] | None = None  # served without the store (it is down)
        for _ in range(round_trips):
            answered = yield from self.store.round_trip(server.index, request.user, login)
            if not answered:
                if phase == REFRESH:  # no refresh without the store: a password login
                    request.cause = outcomes.REFRESH_FAILED
                    self._charge(server, started_s)
                    return REJECTED
                without = strategy.without_store(server, request.user, env.now, login)
                if without is None:
                    self._charge(server, started_s)
                    return outcomes.STORE_UNAVAILABLE
                break
        now = env.now
        user = request.user
        result: int
        transfer_s = business_s = 0.0
        rejected_for = outcomes.VALID
        if login:
            cpu_s = without[1] if without else strategy.issue(server, user, now)
            result = LOGGED_IN
        elif phase == REFRESH:
            verdict, cpu_s = without or strategy.renew(server, user, now)
            if verdict == outcomes.VALID:
                result = RENEWED
            else:
                rejected_for = verdict  # the refresh failed: a login is forced
                result = REJECTED
        else:
            verdict, cpu_s = without or strategy.check(server, user, now)
            transfer_s = self._transfer_s
            if verdict == outcomes.VALID:
                business_s = request.service_s
                result = ACCEPTED
                revoked_s = self.recorder.revoked_at.get(user)
                if revoked_s is not None and strategy.issued_at(user) < revoked_s:
                    self.recorder.exposed(user, now)
            else:
                if phase == REQUEST:
                    rejected_for = verdict
                result = REJECTED
        if cpus is not None:
            yield from cpus.work(server, cpu_s, transfer_s, business_s)
        else:
            work_s = cpu_s + transfer_s + business_s  # summed in this order, as ever
            if work_s > 0:
                yield env.timeout(work_s)
        # the client learns of a rejection only from the answer: a server that dies while
        # it works on one (a crash, a hard restart) logs nobody out
        if rejected_for != outcomes.VALID:
            request.cause = rejected_for
        self._charge(server, started_s)
        return result

    def _charge(self, server: Server, started_s: float) -> None:
        """Count a worker's time on one job (store waits included) in the server's load,
        clipped to the measured window."""
        busy_s = min(self.env.now, self._end_s) - max(started_s, self._warmup_s)
        if busy_s > 0:
            server.busy_s += busy_s

    def on_done(self, server: Server, request: Request, result: int) -> None:
        """A server answered (or failed) a job: decide the client's next step."""
        forced = request.cause != outcomes.VALID
        if result == ACCEPTED:
            self.finish(request, outcomes.RELOGIN if forced else outcomes.OK)
        elif result == LOGGED_IN:
            if request.measured:
                self.recorder.logged_in(self.env.now, forced, self._login_s)
            request.phase = RETRY if forced else REQUEST
            self.send(request)
            self._release_waiting(request)
        elif result == REJECTED:
            phase = request.phase
            if phase == RETRY:
                self.finish(request, outcomes.UNAUTHORIZED)
            elif (
                phase == REQUEST
                and request.cause == outcomes.EXPIRED
                and self.strategy.refresh_round_trips
            ):
                request.cause = outcomes.VALID  # not forced (yet): try the refresh token
                request.phase = REFRESH
                self.send(request)
            else:
                if request.measured:
                    self.recorder.forced_relogin(request.cause)
                if request.user in self._login_owner:  # already logging in: wait, retry
                    request.phase = RETRY
                    self._waiting[request.user].append((request, self.env.now))
                else:
                    request.phase = LOGIN
                    self._start_login(request)
                    self._relogin(request)
        elif result == RENEWED:
            if request.measured:
                self.recorder.refreshes += 1
            request.phase = RETRY
            self.send(request)
        else:
            self.finish(request, result)

    def _start_login(self, request: Request) -> None:
        """``request`` logs its client in; the client's other requests wait for it."""
        self._login_owner[request.user] = request
        self._waiting[request.user] = []

    def _release_waiting(self, request: Request) -> None:
        """If ``request`` was logging its client in, send the requests that waited.

        Their wait was the person's (logging in), not the system's. A waiting request
        whose client still holds no credential (the login failed) logs in itself.
        """
        user = request.user
        if self._login_owner.get(user) is not request:
            return
        del self._login_owner[user]
        now = self.env.now
        for waiting, since_s in self._waiting.pop(user):
            waiting.client_s += now - since_s
            if user in self._login_owner:
                self._waiting[user].append((waiting, now))
                continue
            if waiting.phase == REQUEST and not self.strategy.has_credential(user):
                waiting.phase = LOGIN
                self._start_login(waiting)
            self.send(waiting)

    def _relogin(self, request: Request) -> None:
        """Send a forced login once the person has typed their password again."""
        delays = self._relogin_delays_s
        if delays is None:
            self.send(request)
            return
        delay_s = delays.next()
        request.client_s += delay_s
        self.env.timeout(delay_s).callbacks.append(lambda _: self.send(request))

    def finish(self, request: Request, outcome: int) -> None:
        """The request's final answer: record it if measured.

        Its latency runs from arrival to this answer, less the time the person spent
        logging in again (see ``workload.relogin_delay_s``).
        """
        latency_s = self.env.now - request.arrival_s
        if request.client_s:
            latency_s = max(0.0, latency_s - request.client_s)  # no float dust below 0
        if outcome in outcomes.SERVED and latency_s > self._timeout_s:
            outcome = outcomes.TIMEOUT
        if request.measured:
            self.recorder.finished(
                request.arrival_s,
                request.user,
                request.server,
                outcome,
                latency_s * 1000.0,
                request.cause,
            )
        self._in_flight.discard(request)
        self._release_waiting(request)  # may finish others (refused at once) in turn
        if not self._in_flight and self._arrivals_done and not self._drained.triggered:
            self._drained.succeed()

    # ------------------------------------------------------------------- run

    def _log_in_everyone(self) -> None:
        """Give every user a credential at time 0, as on a site that has been running.

        Each user is routed by the balancer to the server that holds its session. A
        credential that expires was issued a uniformly random time ago, so expiries are
        spread out rather than all at once.
        """
        uniform = uniform_buffer(self._inputs.streams.generator("initial_logins"))
        lifetime_s = self.strategy.credential_lifetime_s
        for user in range(self._inputs.population.users):
            server = self.servers[self._choose(user)]
            issued_s = -uniform.next() * lifetime_s if lifetime_s is not None else 0.0
            self.strategy.issue(server, user, issued_s)

    def _play(self, event: Any) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(event.at_s)
        yield from event.run(self.fleet)

    def _report_progress(self, callback: ProgressCallback) -> Generator[simpy.Event, Any, None]:
        step_s = self.scenario.duration_s / _PROGRESS_STEPS
        for step in range(1, _PROGRESS_STEPS + 1):
            yield self.env.timeout(step_s)
            callback(self.name, step / _PROGRESS_STEPS)

    def run(self) -> StrategyResult:
        """Simulate until every request that arrived has its answer; summarise."""
        env = self.env
        if self.scenario.workload.logged_in_at_start:
            self._log_in_everyone()
        env.process(self.arrivals())
        env.process(self.fleet.health_checks())
        env.process(self.recorder.sample_servers(env, self.servers, self.fleet.view))
        for event in self.scenario.events:
            env.process(self._play(event))
        for process in self.strategy.background(env):
            env.process(process)
        if self._progress is not None:
            env.process(self._report_progress(self._progress))
        # Every request has an answer by then: one still in flight has timed out. A
        # person logging in again is not the system's time, so the stop waits for them.
        relogin_s = 20 * self.scenario.workload.relogin_delay_s.mean_s
        stop_s = self.scenario.duration_s + 2 * self._timeout_s + relogin_s
        while stop_s > env.now and not self._drained.triggered:
            env.run(until=env.any_of([self._drained, env.timeout(stop_s - env.now)]))
            # a request that waited long for its client's login (or a person slower
            # than 20 mean delays) may not have timed out yet: wait until it has
            stop_s = max(stop_s, self._last_deadline_s())
        self._login_owner.clear()  # nothing waits any more: every request ends here
        self._waiting.clear()
        for request in sorted(self._in_flight, key=lambda request: request.arrival_s):
            self.finish(request, outcomes.TIMEOUT)
        return self.recorder.result(self.strategy, self.servers, self.store, self._login_s)

    def _last_deadline_s(self) -> float:
        """When the last request in flight times out (its person's time excluded), or
        now when none is left."""
        if not self._in_flight:
            return self.env.now
        timeout_s = self._timeout_s
        return max(r.arrival_s + r.client_s + timeout_s for r in self._in_flight)


def run(
    scenario: Scenario,
    strategies: Iterable[str | StrategyName] | None = None,
    *,
    seed: int | None = None,
    replication: int = 0,
    record_requests: bool = True,
    progress: ProgressCallback | None = None,
    allow_large: bool | None = None,
) -> RunResult:
    """Run a scenario: every strategy on the same traffic.

    Args:
        scenario: the validated scenario (see :func:`simulator.scenario.loading.load_scenario`).
        strategies: which strategies to run, in order; default: ``scenario.strategies``.
        seed: overrides ``scenario.seed``.
        replication: replication index; each gives independent random streams.
        record_requests: keep the per-request tables (for
            :meth:`RunResult.requests_frame`, and exact latency percentiles). Without
            them the run is in *summary mode*: memory does not grow with the number of
            requests, and percentiles come from a histogram within about 0.5%.
        progress: ``progress(strategy, fraction)`` as simulated time advances.
        allow_large: run even above the size limits of
            :mod:`simulator.scenario.budget` (``None``: only if the environment variable
            ``AUTHSIM_ALLOW_LARGE`` is set).

    Returns:
        The per-strategy results and request records.

    Raises:
        LimitError: a run above a size limit (too many servers, users, requests or
            bytes), refused before anything is built; a
            :class:`~simulator.errors.ScenarioError`.
    """
    if seed is not None:
        scenario = scenario.with_overrides({"seed": seed}, source="seed")
    names = [str(StrategyName(name)) for name in (strategies or scenario.strategies)]
    budget.check(scenario, names, record_requests=record_requests, allow_large=allow_large)
    inputs = RunInputs.build(scenario, replication)
    results: list[StrategyResult] = []
    logs: dict[str, RequestLog] = {}
    for name in names:
        strategy_run = StrategyRun(inputs, name, progress=progress, record_requests=record_requests)
        results.append(strategy_run.run())
        if record_requests:
            logs[name] = strategy_run.recorder.log
    return RunResult(scenario=scenario, results=results, logs=logs)
