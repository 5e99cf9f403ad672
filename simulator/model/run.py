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
from itertools import chain
from typing import Any

import simpy

from simulator import outcomes
from simulator.costs.reference import AuthCosts
from simulator.model.cluster import Server
from simulator.model.cpu import SharedCpus
from simulator.model.environment import StreamEnvironment
from simulator.model.fleet import Fleet
from simulator.model.recorder import Recorder
from simulator.model.request import (
    ACCEPTED,
    LAST_SERVED,
    LOGGED_IN,
    LOGIN,
    REFRESH,
    REJECTED,
    RENEWED,
    REQUEST,
    RETRY,
    Request,
)
from simulator.model.rng import DrawBuffer, Streams, uniform_buffer
from simulator.model.service import Service
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

OK, RELOGIN, VALID = outcomes.OK, outcomes.RELOGIN, outcomes.VALID

ProgressCallback = Callable[[str, float], None]
"""``progress(strategy, fraction_done)``, called as simulated time advances."""

_PROGRESS_STEPS = 50


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
        self.env = StreamEnvironment()
        self._inputs = inputs
        self._progress = progress
        self._warmup_s = scenario.warmup_s
        overridden = "login_cpu_ms" in cluster.model_fields_set
        self._login_s = inputs.costs.login_ms(cluster.login_cpu_ms, overridden) / 1000.0
        self._timeout_s = cluster.request_timeout_ms / 1000.0
        delay = scenario.workload.relogin_delay_s
        self._relogin_delays_s = (
            relogin_delays_s(inputs.streams, delay) if delay.mean_s > 0 else None
        )
        hops = latencies_s(inputs.streams, "hop", scenario.load_balancer.hop_ms)
        self.send: Callable[[Request, bool], None] = self.route if hops is None else self._hop(hops)
        """Send the request's current job through the balancer (see :meth:`route`)."""
        self.recorder = Recorder(scenario, record_requests)
        self.service = Service(
            self.env,
            self.recorder,
            self._login_s,
            latencies_s(inputs.streams, "overhead", cluster.overhead_ms),
            SharedCpus.build(self.env, cluster),
            scenario.warmup_s,
            scenario.duration_s,
            cluster.network_mbps,
        )
        self.fleet = Fleet(
            self.env,
            scenario,
            strategy_name,
            inputs.streams,
            inputs.population,
            inputs.costs,
            self.recorder,
            self.service.serve,
            self.on_done,
        )
        self.strategy = self.fleet.strategy
        self.servers = self.fleet.servers
        self.store = self.fleet.store
        self.service.attach(self.strategy, self.store, self.servers, not scenario.events)
        self._choose = self.strategy.balancer.choose
        self._has_credential = self.strategy.has_credential
        self._buckets = self.recorder.buckets
        # the time-series bucket of jobs routed now, until when it lasts (Buckets.span)
        self._bucket, self._bucket_until_s = -1, -1.0
        self._view = self.fleet.view
        self._record = self.recorder.finished
        self._in_flight: set[Request] = set()
        # A client logs in once at a time: the request whose login is in progress, per
        # user, and the user's other requests waiting for it (with when they began to).
        self._login_owner: dict[int, Request] = {}
        self._waiting: dict[int, list[tuple[Request, float]]] = {}
        self._arrivals_done = False
        self._drained = self.env.event()

    # ------------------------------------------------------- a request's life

    def _start_arrivals(self) -> None:
        """Replay the request stream: each request is sent as it arrives."""
        chunks = self._inputs.requests
        items = chain.from_iterable(
            zip(chunk.gaps_s, chunk.users, chunk.service_s, strict=True) for chunk in chunks
        )
        self.env.replay(items, self._arrive, self._no_more_arrivals)

    def _no_more_arrivals(self) -> None:
        """The stream has ended: the run is drained once the last request is answered."""
        self._arrivals_done = True
        if not self._in_flight:
            self._drained.succeed()

    def _arrive(self, item: tuple[float, int, float]) -> None:
        """A request arrives (``item``: its gap, user and service time): send it (its
        client logs in first if it holds no credential)."""
        now = self.env.now
        _, user, service_s = item
        measured = now >= self._warmup_s
        request = Request(user, now, service_s, measured)
        if measured:
            self.recorder.requests += 1
        self._in_flight.add(request)
        login_owner = self._login_owner
        if login_owner and user in login_owner:
            self._waiting[user].append((request, now))  # sent once logged in
        elif not self._has_credential(user):
            request.phase = LOGIN
            self._start_login(request)
            self.send(request, True)
        else:
            self.send(request, True)  # nothing else happens at this instant

    def _hop(self, hops_s: DrawBuffer) -> Callable[[Request, bool], None]:
        """:attr:`send` with the balancer hop: each job is routed a hop later."""
        call_later, routed = self.env.call_later, self._route_last

        def send(request: Request, last: bool = False) -> None:
            call_later(hops_s.next(), routed, request)  # (a timeout's place, no event)

        return send

    def _route_last(self, request: Request) -> None:
        """:meth:`route`, for a job that reached the balancer (nothing else follows)."""
        self.route(request, True)

    def route(self, request: Request, last: bool = False) -> None:
        """Route the request's current job and hand it to a server (``last``: the caller
        does nothing more at this instant; see :meth:`Server.submit`)."""
        if not self._view.live:
            # no healthy upstream: the balancer itself answers with an error
            self.finish(request, outcomes.SERVER_DOWN)
            return
        index = self._choose(request.user)
        request.server = index
        # the job's time-series bucket: Buckets.index, looked up once per bucket (the
        # clock never goes back)
        if self.env.now >= self._bucket_until_s:
            self._bucket, self._bucket_until_s = self._buckets.span(self.env.now)
        refused = self.servers[index].submit(request, self._bucket, last)
        if refused is not None:
            self.finish(request, refused)

    def on_done(self, server: Server, request: Request, result: int) -> None:
        """A server answered (or failed) a job: decide the client's next step."""
        forced = request.cause != VALID
        if result == ACCEPTED:
            self.finish(request, RELOGIN if forced else OK)
        elif result == LOGGED_IN:
            if request.measured:
                self.recorder.logged_in(self.env.now, forced, self._login_s)
            request.phase = RETRY if forced else REQUEST
            self.send(request, False)
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
                self.send(request, False)
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
            self.send(request, False)
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
            self.send(waiting, False)

    def _relogin(self, request: Request) -> None:
        """Send a forced login once the person has typed their password again."""
        delays = self._relogin_delays_s
        if delays is None:
            self.send(request, False)
            return
        delay_s = delays.next()
        request.client_s += delay_s
        self.env.timeout(delay_s).callbacks.append(lambda _: self.send(request, True))

    def finish(self, request: Request, outcome: int) -> None:
        """The request's final answer: record it if measured.

        Its latency runs from arrival to this answer, less the time the person spent
        logging in again (see ``workload.relogin_delay_s``).
        """
        latency_s = self.env.now - request.arrival_s
        if request.client_s:
            latency_s = max(0.0, latency_s - request.client_s)  # no float dust below 0
        if outcome <= LAST_SERVED and latency_s > self._timeout_s:
            outcome = outcomes.TIMEOUT
        if request.measured:
            self._record(
                request.arrival_s,
                request.user,
                request.server,
                outcome,
                latency_s * 1000.0,
                request.cause,
            )
        self._in_flight.discard(request)
        if self._login_owner:
            self._release_waiting(request)  # may finish others (refused at once) in turn
        if self._arrivals_done and not self._in_flight and not self._drained.triggered:
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
        users = range(self._inputs.population.users)
        servers = self.servers
        choose = self._choose
        # every pick first (a login changes nothing a balancer reads), then the logins in
        # one call: the same state as routing and issuing one user at a time
        placed = [servers[choose(user)] for user in users]
        if lifetime_s is None:
            issued_s = [0.0] * len(users)
        else:
            issued_s = [-uniform.next() * lifetime_s for _ in users]
        self.strategy.issue_many(placed, users, issued_s)

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
        self._start_arrivals()
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
        self.service.stopped(self._in_flight)
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
    engine: str | None = None,
) -> RunResult:
    """Run a scenario: every strategy on the same traffic.

    Each strategy is computed by the engine ``engine`` picks: the discrete-event
    simulation (:class:`StrategyRun`) or the exact vector engine
    (:mod:`simulator.model.vector`), which gives the same numbers where it applies. Each
    result says which ran (``StrategyResult.engine``) and, when ``auto`` fell back to the
    simulation, why (``StrategyResult.engine_note``).

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
        engine: ``auto``, ``des`` or ``vector``; overrides ``scenario.engine``.

    Returns:
        The per-strategy results and request records.

    Raises:
        LimitError: a run above a size limit (too many servers, users, requests or
            bytes), refused before anything is built; a
            :class:`~simulator.errors.ScenarioError`.
        EngineError: ``engine`` is ``vector`` and a strategy cannot be computed exactly
            by it (or ``engine`` is not an engine's name); a
            :class:`~simulator.errors.ScenarioError`.
    """
    from simulator.model import vector  # noqa: PLC0415 (the engines meet only in run())

    if seed is not None:
        scenario = scenario.with_overrides({"seed": seed}, source="seed")
    names = [str(StrategyName(name)) for name in (strategies or scenario.strategies)]
    budget.check(scenario, names, record_requests=record_requests, allow_large=allow_large)
    inputs = RunInputs.build(scenario, replication)
    chosen = vector.engine_for(scenario, names, engine, inputs.population)
    results: list[StrategyResult] = []
    logs: dict[str, RequestLog] = {}
    for name in names:

        def simulate(name: str = name) -> tuple[StrategyResult, RequestLog]:
            strategy_run = StrategyRun(
                inputs, name, progress=progress, record_requests=record_requests
            )
            return strategy_run.run(), strategy_run.recorder.log

        result, log = vector.run_with(chosen, inputs, name, simulate, record_requests, progress)
        results.append(result)
        if record_requests:
            logs[name] = log
    return RunResult(scenario=scenario, results=results, logs=logs)
