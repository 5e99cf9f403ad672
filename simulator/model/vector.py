"""The vector engine: one strategy run computed with numpy instead of simulated.

Where nothing a request meets depends on what other requests did before it (no
feedback), a run needs no event loop: every request arrives when the stream says, is
routed by a rule that reads no state, waits in its server's FIFO queue and is served,
and its latency follows from Lindley's recursion (one worker) or Kiefer and Wolfowitz's
(several), computed in :mod:`simulator.model.vector_queue`. That holds when

- the strategy's check never rejects (no forced re-login, which would send a login and a
  retry back through the balancer): ``jwt`` whose tokens do not expire during the run,
  ``sticky`` with an affinity that always finds the session, ``local`` on one server;
- nothing asks the store on a request (a shared queue that couples the servers);
- routing reads no state: ``round_robin``, ``random``, or ``sticky``'s ``cookie``,
  ``ip_hash`` and ``consistent_hash`` (without ``load_bound``);
- nothing changes during the run: no events, one region, every user logged in at start;
- each worker has a core (``cpu_cores`` unset or at least ``workers_per_server``);
- no queue overflows (``overload`` refuses a job depending on the queue).

:func:`refusal` checks what the scenario says; :func:`run_vector` checks what the draws
give (a token expiring during the run, a request meeting a server without its session, a
queue that would overflow, a cookie that would expire) and raises :class:`InexactError` if any
happens. The engine makes exactly the draws the DES makes, from the same named streams
in the same order (``balancer`` for random routing and the logins at time 0,
``initial_logins`` for the tokens' ages, ``hop`` in arrival order, ``overhead`` in the
order jobs start), so its per-request results are those of the DES, bit for bit: the
schedule repeats the DES's floating-point operations (see
:mod:`simulator.model.vector_queue`), and every sum is made in the order the DES makes it
(busy time per server in the order jobs end; the latency histograms and the request log
in the order requests finish). A request beyond ``request_timeout_ms`` is simply a
``timeout``; one still unanswered when the DES would stop is a ``timeout`` at that moment.

What it computes: outcome counts, latency summary, per-server jobs and utilisation, the
request log, every time series (queue length and busy workers at the DES's sample
times, from the arrival, start and end times), and the (single) event window.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from simulator import outcomes
from simulator.costs.reference import AuthCosts
from simulator.errors import ScenarioError
from simulator.model.rng import Streams
from simulator.model.vector_grouping import Grouping, counts_between
from simulator.model.vector_inputs import (
    InexactError,
    check_credentials,
    check_queues,
    credential_expiries,
    draws,
    expires_before,
)
from simulator.model.vector_queue import ServerSchedule, schedule_by_server, schedule_drawing
from simulator.model.vector_results import (
    Spare,
    busy_seconds,
    finish_order,
    sample_servers,
    strategy_series,
)
from simulator.model.vector_setup import (
    AFFINITY,
    SPREADING,
    build,
    log_in_everyone,
    needs_users,
    route_jobs,
)
from simulator.model.vector_stream import (
    StreamMismatchError,
    check_against_stream,
    stream_arrays,
    stream_users,
)
from simulator.model.vector_tally import count_requests, latency_summary_exact, window_bounds
from simulator.model.workload import Population
from simulator.results.records import AuthCost, RequestLog, StoreStats, StrategyResult
from simulator.results.timeseries import Buckets
from simulator.results.windows import event_windows
from simulator.scenario.budget import expected_requests
from simulator.scenario.models import Scenario

if TYPE_CHECKING:
    from simulator.model.run import RunInputs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ENGINES: tuple[str, ...] = ("auto", "des", "vector")
"""The values of the scenario key ``engine``."""


class EngineError(ScenarioError):
    """``engine: vector`` asked for a run it cannot compute exactly."""


# ------------------------------------------------------------ picking an engine

Simulate = Callable[[], tuple[StrategyResult, RequestLog]]
"""Runs one strategy in the DES: its result and request log."""


SUMMARY_MAX_REQUESTS = 2_000_000
"""With ``auto`` in summary mode, larger runs go to the simulation: the vector engine
holds a few arrays of the whole run (about 0.4 kB per request at its peak), where summary
mode promises memory that does not grow with the number of requests."""


def engine_for(
    scenario: Scenario,
    names: list[str],
    engine: str | None,
    population: Population | None = None,
) -> str:
    """The engine to use (``engine``, else ``scenario.engine``), checked
    (``population``: the run's users, if built already).

    Raises:
        EngineError: an unknown engine; or ``vector`` for a strategy that the scenario
            alone keeps it from computing exactly (before any simulation).
    """
    chosen = scenario.engine if engine is None else engine
    if chosen not in ENGINES:
        raise EngineError(
            _source(scenario),
            "engine",
            f"unknown engine {chosen!r} (engines: {', '.join(ENGINES)})",
        )
    if chosen == "vector":
        for name in names:
            reason = refusal(scenario, name, population)
            if reason is not None:
                raise _refused(scenario, name, reason)
    return chosen


def run_with(
    engine: str,
    inputs: RunInputs,
    name: str,
    simulate: Simulate,
    record_requests: bool,
    progress: Callable[[str, float], None] | None,
) -> tuple[StrategyResult, RequestLog]:
    """One strategy's result and request log from ``engine`` (see :func:`engine_for`):
    with ``auto``, the vector engine where it is exact, else ``simulate`` (the DES), the
    result saying why in ``engine_note``.

    Raises:
        EngineError: ``vector``, and this run's draws keep it from being exact.
    """
    note = ""
    requests = 0.0 if record_requests else expected_requests(inputs.scenario)
    if engine == "auto" and requests > SUMMARY_MAX_REQUESTS:
        # summary mode promises memory that does not grow with the run: the simulation
        note = (
            f"summary mode keeps memory flat: about {requests:,.0f} requests is more than "
            f"the vector engine's {SUMMARY_MAX_REQUESTS:,} (its arrays grow with the run)"
        )
    elif engine != "des":
        try:  # (engine_for has checked the scenario when the engine is vector)
            checked = engine == "vector"
            return run_vector(inputs, name, record_requests, progress, refusal_checked=checked)
        except InexactError as exc:
            if engine == "vector":
                raise _refused(inputs.scenario, name, exc.reason) from None
            note = f"the vector engine would not be exact: {exc.reason}"
    result, log = simulate()
    if note:
        result = replace(result, engine="des", engine_note=note)
    return result, log


def _source(scenario: Scenario) -> str:
    return f"scenario {scenario.name}"


def _refused(scenario: Scenario, name: str, reason: str) -> EngineError:
    return EngineError(
        _source(scenario),
        "engine",
        f"vector cannot compute {name} exactly: {reason} (use engine auto or des)",
    )


# ------------------------------------------------------------------ what it can do


def refusal(
    scenario: Scenario, strategy_name: str, population: Population | None = None
) -> str | None:
    """Why the vector engine cannot run ``strategy_name`` on ``scenario`` exactly, in
    words, or ``None`` when it can (subject to the checks :func:`run_vector` makes on the
    draws). Decided by what the strategy does (asks the store, routes by the queues,
    keeps sessions where the balancer may not send the user), not by its name.

    Args:
        scenario: the validated scenario.
        strategy_name: the strategy.
        population: the run's users, if built already.
    """
    reason = _scenario_refusal(scenario)
    if reason is not None:
        return reason
    streams = Streams(scenario.seed)
    if population is None:
        population = Population.from_config(scenario.workload, streams)
    probe = build(scenario, str(strategy_name), population, streams, AuthCosts())
    strategy = probe.strategy
    if strategy.check_round_trips:
        return (
            "every request asks the store, one queue every server shares (the servers' "
            "latencies depend on each other)"
        )
    background = strategy.background(None)  # type: ignore[arg-type]
    for process in background:
        process.close()  # made, never started
    if background:
        return "the strategy works in the background: a denylist sync asks the store"
    balancer = strategy.balancer.name
    if balancer in ("least_connections", "power_of_two"):
        return f"load_balancer.policy {balancer} reads the servers' queues"
    if balancer == "consistent_hash" and scenario.sticky.load_bound is not None:
        return "sticky.load_bound reads the servers' queues"
    if balancer not in SPREADING + AFFINITY:
        return f"the balancer {balancer} is not known to route without reading state"
    strategy.issue(probe.hosts[0], 0, 0.0)  # type: ignore[arg-type]
    servers = scenario.cluster.servers
    if balancer in SPREADING and servers > 1 and probe.hosts[0].sessions:
        return (
            f"sessions live in one server's memory and {balancer} spreads requests over "
            f"{servers} servers: a request that reaches another server is rejected "
            "(wrong_server), and its re-login goes back through the queues"
        )
    return None


def _scenario_refusal(scenario: Scenario) -> str | None:
    """What the scenario alone rules out, whatever the strategy."""
    cluster = scenario.cluster
    if scenario.events:
        return "the scenario has events (they change servers, the store or credentials)"
    if scenario.regions:
        return "the scenario has regions"
    if not scenario.workload.logged_in_at_start:
        return (
            "users are not logged in at start: a first login's request is routed when "
            "the login ends (it depends on the queues)"
        )
    if cluster.cpu_cores is not None and cluster.cpu_cores < cluster.workers_per_server:
        return (
            "cluster.cpu_cores is below workers_per_server: the workers share the cores "
            "(processor sharing, where each job's speed depends on the others)"
        )
    return None


# ------------------------------------------------------------------------ run


def run_vector(
    inputs: RunInputs,
    strategy_name: str,
    record_requests: bool = True,
    progress: Callable[[str, float], None] | None = None,
    *,
    refusal_checked: bool = False,
) -> tuple[StrategyResult, RequestLog]:
    """Compute one strategy run exactly as the DES would simulate it
    (``refusal_checked``: :func:`refusal` has found nothing against it already).

    Raises:
        InexactError: the scenario (see :func:`refusal`) or this run's draws cannot be
            computed exactly; nothing was recorded.
    """
    scenario = inputs.scenario
    name = str(strategy_name)
    reason = None if refusal_checked else refusal(scenario, name, inputs.population)
    if reason is not None:
        raise InexactError(reason)
    cluster = scenario.cluster
    servers = cluster.servers
    users_count = inputs.population.users
    setup = log_in_everyone(inputs, name)
    strategy = setup.strategy
    # before the stream is built (its arrays grow with the run): a token that expires
    # before the last arrival is almost surely checked after it expires
    expires_s = credential_expiries(inputs, strategy.credential_lifetime_s)
    expires_before(expires_s, scenario.duration_s)

    # without the request log, the requests' users are drawn only if something reads them
    with_users = record_requests or needs_users(setup)
    gaps, users, service_s, arrival = stream_arrays(inputs.requests, with_users)
    try:
        check_against_stream(inputs.requests, gaps, users, service_s)
    except StreamMismatchError:
        raise InexactError(
            "the vector engine's copy of the request stream no longer matches "
            "RequestStream (update simulator/model/vector_stream.py)"
        ) from None
    count = len(gaps)

    @functools.cache
    def every_user() -> IntArray:
        """The user of each request, in the stream's order (drawn when first asked for)."""
        return users if users is not None else stream_users(inputs.requests, count)

    # a token checked after it expires: found early if it expired before its request came
    check_credentials(
        expires_s,
        every_user,
        lambda: arrival,
        float(arrival[-1]) if count else 0.0,
    )

    # the balancer: each job is routed a hop after it arrives (hops drawn in arrival order)
    hops = draws(inputs, "hop", scenario.load_balancer.hop_ms, count)
    if hops is None:
        who: Callable[[], IntArray] = every_user
        route, service = arrival, service_s
        order: IntArray | None = None
    else:
        order = np.argsort(arrival + hops, kind="stable")  # the order jobs are routed in
        route, service = (arrival + hops)[order], service_s[order]
        who = functools.partial(_in_order, every_user, order)
    server, grouping = route_jobs(inputs, scenario, setup, who, route, users_count)

    # a worker's time on each job: (start + overhead) + ((check + transfer) + business)
    bandwidth = cluster.network_mbps
    transfer_s = strategy.credential_bytes * 8 / (bandwidth * 1e6) if bandwidth else 0.0
    work = np.add(service, setup.check_s + transfer_s, out=service)  # service: ours alone
    workers = cluster.workers_per_server
    done = _schedule(inputs, server, route, work, workers, servers, grouping, gaps)

    # from here on arrays are in the schedule's order (by server, FIFO within each) or
    # in the order the requests are answered
    def routed() -> IntArray:
        """The position in the stream of each grouped job."""
        return done.order if order is None else order[done.order]

    last_end_s = done.last_end_s() if count else 0.0
    check_credentials(
        expires_s,
        lambda: every_user()[routed()],
        lambda: done.start_s if done.first_s is None else done.start_s + done.first_s,
        last_end_s,  # a check ends before its job does
    )
    check_queues(done, cluster.queue_limit)

    # --------------------------------------------------------------- outcomes
    timeout_s = cluster.request_timeout_ms / 1000.0
    relogin_s = 20 * scenario.workload.relogin_delay_s.mean_s
    stop_s = scenario.duration_s + 2 * timeout_s + relogin_s
    end = done.end_s
    everyone = bool(count == 0 or last_end_s <= stop_s)
    answered = None if everyone else end <= stop_s
    # (before the memory of the ends in the order given is written over)
    busy_s = busy_seconds(scenario, done, None if answered is None else stop_s)
    # back to the stream's (arrival) order, where the measured requests are a suffix
    # (into arrays no longer needed, whose memory is already mapped: fewer page faults)
    # and the latencies into the other one (the gaps are summed already)
    if done.given_end_s is not None and order is None:  # the ends are in that order
        end_s, free = done.given_end_s, work
    else:
        end_s, free = work, gaps  # the schedule is done with the work
        if done.given_end_s is not None:
            end_s[order] = done.given_end_s
        elif order is None:
            done.grouping.put(end, end_s)
        else:
            end_s[routed()] = end
    done.given_end_s = None  # its memory is the run's from here on (read above)
    rank = None if order is None else _inverse(order)  # routing position (ties)
    first = int(np.searchsorted(arrival, scenario.warmup_s)) if scenario.warmup_s > 0 else 0
    if answered is None:
        latency_s = np.subtract(end_s, arrival, out=free)
        in_time = latency_s <= timeout_s
    else:
        finished = end_s <= stop_s
        latency_s = np.where(finished, end_s, stop_s) - arrival
        in_time = finished & (latency_s <= timeout_s)
    latency_s *= 1000.0
    latency_ms = latency_s
    ok_count = int(np.count_nonzero(in_time[first:]))
    measured = count - first
    counts = np.zeros(len(outcomes.NAMES), dtype=np.int64)
    counts[outcomes.OK], counts[outcomes.TIMEOUT] = ok_count, measured - ok_count
    outcome_counts = dict(zip(outcomes.NAMES, (int(c) for c in counts), strict=True))

    buckets = Buckets(scenario.warmup_s, scenario.duration_s, scenario.time_bucket_s)
    positive = bool(count and arrival[0] > 0.0)  # no job ends before it arrives

    def finish(lo: int, hi: int) -> IntArray:
        """Measured requests ``lo..hi-1`` in the order they finish (from ``lo``)."""
        part = slice(first + lo, first + hi)
        return finish_order(end_s[part], None if rank is None else rank[part], None, positive)

    counted = count_requests(
        buckets,
        arrival[first:],
        latency_ms[first:],
        None if ok_count == measured else in_time[first:],
        None if record_requests else finish,
    )
    latency_summary_ms = counted.overall.summary() if counted.overall is not None else {}

    # ---------------------------------------------------------------- servers
    bounds = window_bounds(buckets, route)
    bucket_jobs = counts_between(done.grouping, bounds)
    server_jobs = bucket_jobs.sum(axis=1)
    # the DES stops (and its sampler with it) once every request is answered, else at
    # its stop time; with no request at all, at once
    stopped_s = (last_end_s if answered is None else stop_s) if count else 0.0
    start_s, stop_window_s = scenario.warmup_s, scenario.duration_s
    up_s = [max(0.0, stop_window_s - max(0.0, start_s)) for _ in range(servers)]
    utilisation = [
        busy / (up * workers) if up > 0 else 0.0 for busy, up in zip(busy_s, up_s, strict=True)
    ]
    series = strategy_series(
        counted,
        bucket_jobs,
        sample_servers(buckets, done, stopped_s),
        [len(host.sessions) for host in setup.hosts],
    )

    # ---------------------------------------------------------------- the log
    log = RequestLog()
    if record_requests:
        # each column goes into an array the run is done with: its memory is mapped
        # already, where a new array's every page costs a fault (microseconds on a VM)
        spare = Spare(done.end_s)  # the servers are counted
        # the DES answers in the order jobs end (ties: in the order they were routed);
        # then, at the stop, the rest by arrival
        rows = finish_order(end_s, rank, spare.out(count, np.int64), positive)
        spare.add(end_s)
        if answered is not None:
            late = int(np.count_nonzero(~answered))
            tail = rows[count - late :]
            rows[count - late :] = tail[np.argsort(arrival[tail], kind="stable")]
        if first:
            rows = rows[rows >= first]
        latency_column = spare.take(latency_ms, rows)
        served = None if ok_count == measured else in_time[rows]
        latency_summary_ms = latency_summary_exact(counted, latency_column, served)
        spare.add(latency_ms)  # (the counts' view of it is read: nothing reads them now)
        arrival_column = spare.take(arrival, rows)
        spare.add(arrival)  # (and the routes, when no hop: the servers are counted)
        users = every_user()  # (drawn already: with_users)
        user_column = spare.take(users, rows)
        spare.add(users)
        every_user.cache_clear()  # (its array is a spare now)
        # the server of each request: grouped in the order routed
        routed_at = rows if rank is None else rank[rows]
        if server is None:
            server_column = done.grouping.server_at(routed_at, spare.out(len(rows), np.int64))
        else:
            server_column = spare.take(server, routed_at)
        codes = np.zeros(len(rows), dtype=np.int8)  # outcomes.OK
        if served is not None:
            codes[~served] = outcomes.TIMEOUT
        log = RequestLog.of_columns(
            arrival_column,
            user_column,
            server_column,
            codes,
            latency_column,
            np.full(len(rows), outcomes.VALID, dtype=np.int8),
        )
    requests = measured
    store_stats = None
    if strategy.uses_store:
        store_stats = StoreStats(
            utilisation=0.0 / scenario.measured_s,
            mean_latency_ms=None,
            ops=0,
            ops_per_request=0 / requests if requests else None,
        )
    overridden = "login_cpu_ms" in cluster.model_fields_set
    login_s = inputs.costs.login_ms(cluster.login_cpu_ms, overridden) / 1000.0
    verify_ms, source = strategy.verify_cost()
    result = StrategyResult(
        strategy=strategy.name,
        requests=requests,
        served=outcome_counts["ok"] + outcome_counts["relogin"],
        succeeded=outcome_counts["ok"],
        forced_relogins=0,
        logins=0,
        login_cpu_s=0.0,
        outcome_counts=outcome_counts,
        latency_ms=latency_summary_ms,
        server_requests=server_jobs.tolist(),
        server_utilisation=utilisation,
        store=store_stats,
        credential_bytes=strategy.credential_bytes,
        sessions_in_servers=sum(len(host.sessions) for host in setup.hosts),
        sessions_in_store=setup.store_keys,
        measured_s=scenario.measured_s,
        forced_relogins_by_cause=dict.fromkeys(outcomes.CAUSES, 0),
        users_logged_out=0,
        server_up_s=up_s,
        events=[],
        windows=event_windows(
            [], start_s, stop_window_s, counted.window_counts, counted.window_users
        ),
        refreshes=0,
        exposure=None,
        regions=None,
        auth_cost=AuthCost(verify_ms, login_s * 1000.0, source),
        series=series,
        engine="vector",
    )
    if progress is not None:
        progress(name, 1.0)
    return result, log


# ---------------------------------------------------------------- the pieces


def _schedule(
    inputs: RunInputs,
    server: IntArray | None,
    route: FloatArray,
    work: FloatArray,
    workers: int,
    servers: int,
    grouping: Grouping | None,
    spare_s: FloatArray,
) -> ServerSchedule:
    """Start and end of every job, and its overhead (``spare_s``: an array the caller is
    done with, for :func:`schedule_by_server`).

    The DES draws a job's overhead when a worker starts it, so the draws go to the jobs
    in the order they start, which the draws themselves decide: with a random overhead
    the jobs are started one by one (:func:`schedule_drawing`).
    """
    overhead = inputs.scenario.cluster.overhead_ms
    overheads = draws(inputs, "overhead", overhead, len(route))
    if overheads is not None and overhead.distribution != "constant":
        return schedule_drawing(server, route, overheads, work, workers, servers, grouping)
    return schedule_by_server(server, route, overheads, work, workers, servers, grouping, spare_s)


def _in_order(values: Callable[[], IntArray], order: IntArray) -> IntArray:
    """``values()[order]``."""
    return values()[order]


def _inverse(order: IntArray) -> IntArray:
    """The inverse permutation of ``order``."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order), dtype=order.dtype)
    return inverse
