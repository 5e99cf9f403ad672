"""Workers sharing a server's cores (simulator.model.cpu): the processor-sharing CPU on a bare
SimPy environment, then ``cluster.cpu_cores`` and ``service_time_ms.cpu_fraction`` in whole
runs."""

from __future__ import annotations

import math
import random
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from simulator import load_scenario, run
from simulator.model.cluster import Server
from simulator.model.cpu import ProcessorSharingCpu, SharedCpus
from simulator.results.records import RunResult
from simulator.scenario.models import Cluster, ServiceTime

MS = 1e-3
EXACT = 1e-12  # absolute, seconds: float rounding only


def start_at(
    env: simpy.Environment, cpu: ProcessorSharingCpu, at_s: float, work_s: float, done: list[float]
) -> None:
    """A process that puts ``work_s`` on ``cpu`` at ``at_s`` and notes when it finished in
    ``done`` (appended in order of completion)."""

    def process() -> Generator[simpy.Event, Any, None]:
        if at_s:
            yield env.timeout(at_s)
        yield cpu.run(work_s)
        done.append(env.now)

    env.process(process())


def finish_times(cores: int, jobs: list[tuple[float, float]]) -> list[float]:
    """When each ``(arrival_s, work_s)`` job finishes on a fresh CPU, in the jobs' order."""
    env = simpy.Environment()
    cpu = ProcessorSharingCpu(env, cores)
    finished: list[float] = [math.nan] * len(jobs)

    def process(index: int, at_s: float, work_s: float) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(at_s)
        yield cpu.run(work_s)
        finished[index] = env.now

    for index, (at_s, work_s) in enumerate(jobs):
        env.process(process(index, at_s, work_s))
    env.run()
    assert cpu.jobs == 0
    return finished


def reference_finish_times(cores: int, jobs: list[tuple[float, float]]) -> list[float]:
    """Processor sharing computed independently: step from event to event (next arrival or
    next completion), every job present progressing at min(1, cores / n)."""
    pending = sorted(range(len(jobs)), key=lambda index: jobs[index][0])
    left: dict[int, float] = {}
    finished = [math.nan] * len(jobs)
    now = 0.0
    while pending or left:
        next_arrival = jobs[pending[0]][0] if pending else math.inf
        rate = min(1.0, cores / len(left)) if left else 0.0
        next_done = now + min(left.values()) / rate if left else math.inf
        until = min(next_arrival, next_done)
        for index in left:
            left[index] -= (until - now) * rate
        now = until
        for index in [index for index, work in left.items() if work <= 1e-12]:
            finished[index] = now
            del left[index]
        while pending and jobs[pending[0]][0] <= now:
            index = pending.pop(0)
            left[index] = jobs[index][1]
            if left[index] == 0:
                finished[index] = now
                del left[index]
    return finished


# ------------------------------------------------------------ ProcessorSharingCpu


def test_one_job_alone_takes_its_work() -> None:
    assert finish_times(1, [(0.0, 10 * MS)]) == [pytest.approx(10 * MS, abs=EXACT)]
    assert finish_times(4, [(3.0, 7 * MS)]) == [pytest.approx(3.007, abs=EXACT)]


def test_two_equal_jobs_on_one_core_both_take_twice_as_long() -> None:
    assert finish_times(1, [(0.0, 10 * MS), (0.0, 10 * MS)]) == [
        pytest.approx(20 * MS, abs=EXACT),
        pytest.approx(20 * MS, abs=EXACT),
    ]


def test_three_jobs_on_two_cores() -> None:
    # equal: each at 2/3 speed, 10 ms of work done at 15 ms
    assert finish_times(2, [(0.0, 10 * MS)] * 3) == [pytest.approx(15 * MS, abs=EXACT)] * 3
    # 10, 20, 30 ms: at 2/3 speed until the first is done (15 ms; the others have 10 and 20
    # ms left), then two jobs on two cores at full speed: 25 and 35 ms. Core time 15 x 2 +
    # 10 x 2 + 10 x 1 = 60 ms, the work.
    assert finish_times(2, [(0.0, 10 * MS), (0.0, 20 * MS), (0.0, 30 * MS)]) == [
        pytest.approx(15 * MS, abs=EXACT),
        pytest.approx(25 * MS, abs=EXACT),
        pytest.approx(35 * MS, abs=EXACT),
    ]


def test_a_job_arriving_midway_slows_the_first() -> None:
    # A (10 ms) alone for 5 ms: 5 ms left. B (10 ms) joins: both at half speed, A's 5 ms
    # take 10 ms, so A is done at 15 ms with B half done; B alone again, done at 20 ms.
    assert finish_times(1, [(0.0, 10 * MS), (5 * MS, 10 * MS)]) == [
        pytest.approx(15 * MS, abs=EXACT),
        pytest.approx(20 * MS, abs=EXACT),
    ]


def test_jobs_up_to_the_cores_run_at_full_speed() -> None:
    assert finish_times(2, [(0.0, 10 * MS), (0.0, 20 * MS)]) == [
        pytest.approx(10 * MS, abs=EXACT),
        pytest.approx(20 * MS, abs=EXACT),
    ]
    assert finish_times(4, [(0.0, 10 * MS), (MS, 10 * MS), (2 * MS, 10 * MS)]) == [
        pytest.approx(10 * MS, abs=EXACT),
        pytest.approx(11 * MS, abs=EXACT),
        pytest.approx(12 * MS, abs=EXACT),
    ]


@pytest.mark.parametrize("arrival_first", [True, False])
def test_a_job_arriving_as_another_finishes(arrival_first: bool) -> None:
    # B comes exactly when A is done (both events at 10 ms, in either order): A finishes
    # then, and B runs alone
    env = simpy.Environment()
    cpu = ProcessorSharingCpu(env, 1)
    done: dict[str, float] = {}

    def start(name: str) -> None:
        def finish(_: simpy.Event) -> None:
            done[name] = env.now

        cpu.run(10 * MS).callbacks.append(finish)

    if arrival_first:  # B's arrival is scheduled before A's wake-up: handled first
        env.timeout(10 * MS).callbacks.append(lambda _: start("b"))
        start("a")
    else:
        start("a")
        env.timeout(10 * MS).callbacks.append(lambda _: start("b"))
    env.run()
    assert done == {"a": pytest.approx(10 * MS, abs=EXACT), "b": pytest.approx(20 * MS, abs=EXACT)}
    assert cpu.jobs == 0


def test_zero_work_finishes_at_once_and_disturbs_nobody() -> None:
    assert finish_times(1, [(0.0, 0.0)]) == [0.0]
    # a zero job joining a running one finishes when it comes; the other is not slowed
    assert finish_times(1, [(0.0, 10 * MS), (4 * MS, 0.0)]) == [
        pytest.approx(10 * MS, abs=EXACT),
        pytest.approx(4 * MS, abs=EXACT),
    ]


@pytest.mark.parametrize("work_s", [-1e-9, -1.0, math.nan, math.inf, -math.inf])
def test_negative_or_non_finite_work_is_refused(work_s: float) -> None:
    env = simpy.Environment()
    cpu = ProcessorSharingCpu(env, 2)
    with pytest.raises(ValueError, match="finite number >= 0"):
        cpu.run(work_s)
    assert cpu.jobs == 0


@pytest.mark.parametrize("cores", [0, -1])
def test_fewer_than_one_core_is_refused(cores: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProcessorSharingCpu(simpy.Environment(), cores)


def test_clear_drops_every_job_for_good() -> None:
    env = simpy.Environment()
    cpu = ProcessorSharingCpu(env, 1)
    events = [cpu.run(10 * MS), cpu.run(30 * MS)]
    env.run(until=5 * MS)
    assert cpu.jobs == 2
    cpu.clear()
    assert cpu.jobs == 0
    assert cpu.remaining_s() == []
    # a job started after the clear runs alone at full speed: nothing of the old ones left
    done: list[float] = []
    start_at(env, cpu, 0.0, 10 * MS, done)
    env.run()
    assert not any(event.triggered for event in events)
    assert done == [pytest.approx(15 * MS, abs=EXACT)]


def test_remaining_work_and_jobs() -> None:
    env = simpy.Environment()
    cpu = ProcessorSharingCpu(env, 1)
    assert cpu.jobs == 0
    assert cpu.remaining_s() == []
    first, second = cpu.run(10 * MS), cpu.run(30 * MS)
    assert cpu.jobs == 2
    assert cpu.remaining_s() == [pytest.approx(10 * MS), pytest.approx(30 * MS)]
    env.run(until=4 * MS)  # half speed: 2 ms of work each
    assert cpu.remaining_s() == [
        pytest.approx(8 * MS, abs=EXACT),
        pytest.approx(28 * MS, abs=EXACT),
    ]
    env.run(until=first)  # the first is done at 20 ms, the second has 20 ms left
    assert env.now == pytest.approx(20 * MS, abs=EXACT)
    assert cpu.jobs == 1
    assert cpu.remaining_s() == [pytest.approx(20 * MS, abs=EXACT)]
    env.run(until=second)
    assert env.now == pytest.approx(40 * MS, abs=EXACT)
    assert cpu.jobs == 0


@pytest.mark.parametrize(("cores", "seed"), [(1, 1), (2, 2), (3, 3), (1, 4)])
def test_many_jobs_match_an_independent_reference(cores: int, seed: int) -> None:
    # 300 jobs, Poisson arrivals and exponential work, about 80% of the cores busy
    rng = random.Random(seed)
    at_s = 0.0
    jobs: list[tuple[float, float]] = []
    for _ in range(300):
        at_s += rng.expovariate(100.0 * cores)
        jobs.append((at_s, rng.expovariate(1 / (8 * MS))))
    expected = reference_finish_times(cores, jobs)
    assert finish_times(cores, jobs) == pytest.approx(expected, abs=1e-9)
    if cores == 1:
        # work-conserving: the last job leaves when first-come-first-served would be done
        # with the same work (the busy periods are the same)
        free_s = 0.0
        for at, work in jobs:
            free_s = max(free_s, at) + work
        assert max(expected) == pytest.approx(free_s, abs=1e-9)


# ------------------------------------------------------------------ SharedCpus


def idle_server(env: simpy.Environment, index: int = 0, workers: int = 4) -> Server:
    def handler(server: Server, job: Any, slot: int) -> int:
        return 0  # done at once

    return Server(env, index, workers, 10, handler, lambda server, job, result: None)


@pytest.mark.parametrize(("cores", "workers"), [(None, 4), (4, 4), (5, 4), (1, 1), (16, 8)])
def test_no_shared_cpus_when_every_worker_has_a_core(cores: int | None, workers: int) -> None:
    cluster = Cluster(cpu_cores=cores, workers_per_server=workers)
    assert SharedCpus.build(simpy.Environment(), cluster) is None


def test_shared_cpus_when_fewer_cores_than_workers() -> None:
    cluster = Cluster(
        cpu_cores=3, workers_per_server=4, service_time_ms=ServiceTime(cpu_fraction=0.25)
    )
    cpus = SharedCpus.build(simpy.Environment(), cluster)
    assert cpus is not None
    assert cpus.cores == 3
    assert cpus.cpu_fraction == 0.25


def test_each_server_gets_its_own_cpu_on_first_use() -> None:
    env = simpy.Environment()
    cpus = SharedCpus(env, 1, 1.0)
    first, second = idle_server(env, 0), idle_server(env, 1)
    assert first.cpu is None
    cpu = cpus.cpu(first)
    assert first.cpu is cpu
    assert cpus.cpu(first) is cpu
    assert cpus.cpu(second) is not cpu
    # work on one server does not slow the other
    done: list[float] = []

    def job(server: Server) -> Generator[simpy.Event, Any, None]:
        yield cpus.run(server, 10 * MS)
        done.append(env.now)

    env.process(job(first))
    env.process(job(second))
    env.run()
    assert done == [pytest.approx(10 * MS, abs=EXACT)] * 2


def work_finishes(
    cores: int, cpu_fraction: float, jobs: int, auth_s: float, transfer_s: float, business_s: float
) -> list[float]:
    """When each of ``jobs`` identical :meth:`SharedCpus.work` started at 0 on one server
    finishes."""
    env = simpy.Environment()
    cpus = SharedCpus(env, cores, cpu_fraction)
    server = idle_server(env)
    done: list[float] = []

    for _ in range(jobs):
        if not cpus.work(server, auth_s, transfer_s, business_s, lambda: done.append(env.now)):
            done.append(env.now)
    env.run()
    return done


def test_work_splits_cpu_and_waiting() -> None:
    # alone: 1 ms auth + 10 ms business, whatever the split, plus 2 ms of transfer
    for fraction in (0.0, 0.5, 1.0):
        assert work_finishes(1, fraction, 1, MS, 2 * MS, 10 * MS) == [
            pytest.approx(13 * MS, abs=EXACT)
        ]
    # two at once on one core, half of the business CPU: 1 + 5 ms of CPU each, shared
    # (12 ms), then 2 + 5 ms of waiting each, side by side
    assert work_finishes(1, 0.5, 2, MS, 2 * MS, 10 * MS) == [pytest.approx(19 * MS, abs=EXACT)] * 2
    # all of it CPU: 11 ms each, shared (22 ms), then the 2 ms transfer
    assert work_finishes(1, 1.0, 2, MS, 2 * MS, 10 * MS) == [pytest.approx(24 * MS, abs=EXACT)] * 2
    # business all waiting: only the 1 ms auth is shared (2 ms), then 12 ms of waiting
    assert work_finishes(1, 0.0, 2, MS, 2 * MS, 10 * MS) == [pytest.approx(14 * MS, abs=EXACT)] * 2
    # nothing at all: done at once
    assert work_finishes(1, 1.0, 2, 0.0, 0.0, 0.0) == [0.0, 0.0]


def test_a_crash_drops_the_jobs_computing_and_the_cpu_serves_again_after() -> None:
    env = simpy.Environment()
    cpus = SharedCpus(env, 1, 1.0)
    finished: list[tuple[str, float]] = []

    def handler(server: Server, job: Any, slot: int) -> int | None:
        def then() -> None:
            if server.holds(slot, job):
                server.finish(slot, job, 0)

        return None if cpus.work(server, 0.0, 0.0, job[1], then) else 0

    def on_done(server: Server, job: Any, result: int) -> None:
        finished.append((job[0], env.now))

    server = Server(env, 0, 4, 10, handler, on_done)
    env.run(until=MS)  # the workers start, idle
    for name in "abc":
        assert server.submit((name, 30 * MS), 0) is None
    env.run(until=11 * MS)  # three jobs on one core: 10 / 3 ms of work done each
    assert server.cpu is not None
    assert server.cpu.jobs == 3
    failed = server.crash()
    assert sorted(job[0] for job in failed) == ["a", "b", "c"]
    assert server.cpu.jobs == 0
    env.run(until=51 * MS)
    assert finished == []  # none of the crashed jobs completes
    server.start()
    assert server.submit(("d", 10 * MS), 0) is None
    env.run()
    assert [name for name, _ in finished] == ["d"]
    assert finished[0][1] == pytest.approx(61 * MS, abs=EXACT)  # alone, at full speed


# ------------------------------------------------------------------ whole runs

SHORT: dict[str, Any] = {"duration_s": 20, "warmup_s": 2}


def run_of(overrides: dict[str, Any], scenario: str = "baseline") -> RunResult:
    return run(load_scenario(scenario, SHORT | overrides))


def test_a_core_per_worker_or_more_changes_nothing() -> None:
    base = {"strategies": ["shared_store", "jwt"]}
    default = run_of(base).to_json()
    for cores in (4, 5, 64):
        assert run_of(base | {"cluster.cpu_cores": cores}).to_json() == default, cores
    # with fewer cores than workers the run does differ (so the comparison above can fail)
    assert run_of(base | {"cluster.cpu_cores": 1}).to_json() != default


def test_cpu_fraction_changes_nothing_with_a_core_per_worker() -> None:
    base = {"strategies": ["jwt"]}
    default = run_of(base)
    assert run_of(base | {"cluster.service_time_ms.cpu_fraction": 0.0}).to_json() == (
        default.to_json()
    )


def test_fewer_cores_slow_the_same_traffic() -> None:
    # 300 requests/s of 10 ms (exponential) on 5 servers of 4 workers: 0.6 of one core per
    # server. Measured (seed 1): mean 9.9 -> 16.8 ms, p99 44 -> 111 ms with 4 -> 1 cores;
    # over seeds 1-5 the ratios were at least 1.6 (mean) and 2.2 (p99).
    base = {"strategies": ["jwt"], "workload.arrival_rate_per_s": 300}
    latencies = {
        cores: run_of(base | {"cluster.cpu_cores": cores})["jwt"].latency_ms for cores in (4, 2, 1)
    }
    for metric in ("mean", "p99"):
        four, two, one = (latencies[cores][metric] for cores in (4, 2, 1))
        assert four is not None and two is not None and one is not None
        assert four <= two <= one, (metric, four, two, one)
    assert latencies[1]["mean"] >= 1.3 * latencies[4]["mean"]  # type: ignore[operator]
    assert latencies[1]["p99"] >= 1.5 * latencies[4]["p99"]  # type: ignore[operator]


def test_a_login_storm_slows_every_request_on_a_shared_core() -> None:
    # local without affinity: about 4 requests in 5 force a login, 140 ms of hashing each.
    # At 30 requests/s that is about 0.7 of a core per server: on a core per worker the
    # hashing holds only its own worker; on one shared core it slows every job there.
    # Measured (seed 1): p99 175 -> 1240 ms; mean of the plain "ok" requests (no login of
    # their own) 10.7 -> 43 ms. Over seeds 1-8 the ratios were at least 3.2 and 1.6.
    base = {"workload.arrival_rate_per_s": 30}
    own = run_of(base | {"strategies": ["local", "jwt"]})
    shared = run_of(base | {"strategies": ["local", "jwt"], "cluster.cpu_cores": 1})
    own_p99, shared_p99 = own["local"].latency_ms["p99"], shared["local"].latency_ms["p99"]
    assert own_p99 is not None and shared_p99 is not None
    assert shared_p99 >= 2.0 * own_p99, (own_p99, shared_p99)

    def ok_mean(result: RunResult) -> float:
        frame = result.requests_frame()
        plain = frame[(frame.strategy == "local") & (frame.outcome == "ok")]
        assert len(plain) > 50
        return float(plain.latency_ms.mean())

    assert ok_mean(shared) >= 1.3 * ok_mean(own), (ok_mean(own), ok_mean(shared))
    # it is the logins: jwt (no logins at all) on the same traffic and cores barely moves
    jwt_own, jwt_shared = own["jwt"].latency_ms["p99"], shared["jwt"].latency_ms["p99"]
    assert jwt_own is not None and jwt_shared is not None
    assert jwt_shared <= 1.1 * jwt_own


def test_business_work_that_waits_holds_no_core() -> None:
    # constant 10 ms of business work, 300 requests/s: with cpu_fraction 0 the only CPU on
    # the shared core is the token check (31 us), so latency is that of a core per worker,
    # request by request; with cpu_fraction 1 the business work shares the core.
    # Measured (seed 1): means 10.035 (unset), 10.035 (fraction 0), 11.55 ms (fraction 1),
    # p99 10.03 -> 23.3 ms.
    base = {
        "strategies": ["jwt"],
        "workload.arrival_rate_per_s": 300,
        "cluster.service_time_ms": {"distribution": "constant", "mean": 10},
    }
    own = run_of(base)
    waiting = run_of(base | {"cluster.cpu_cores": 1, "cluster.service_time_ms.cpu_fraction": 0})
    computing = run_of(base | {"cluster.cpu_cores": 1, "cluster.service_time_ms.cpu_fraction": 1})
    own_frame, waiting_frame = own.requests_frame(), waiting.requests_frame()
    np.testing.assert_array_equal(own_frame.arrival_s, waiting_frame.arrival_s)
    verify_ms = own["jwt"].auth_cost.verify_ms if own["jwt"].auth_cost else 0.0
    assert 0 < verify_ms < 0.1
    # at most one check's CPU (shared with another check) apart, request by request
    assert np.abs(waiting_frame.latency_ms - own_frame.latency_ms).max() <= 2 * verify_ms
    own_ms, waiting_ms = own["jwt"].latency_ms, waiting["jwt"].latency_ms
    computing_ms = computing["jwt"].latency_ms
    assert waiting_ms["mean"] == pytest.approx(own_ms["mean"], abs=0.01)
    assert computing_ms["mean"] >= own_ms["mean"] + 0.5  # type: ignore[operator]
    assert computing_ms["p99"] >= 1.5 * own_ms["p99"]  # type: ignore[operator]


def test_a_store_round_trip_holds_no_core() -> None:
    # One session lookup per shared_store request, 5 ms away; 300 requests/s of 10 ms
    # (exponential) business CPU. Sharing one core slows shared_store by what it slows jwt
    # (the same business CPU): the 5 ms wait is not shared. Were the round trip charged on
    # the core, each server's core would be 60/s x 15 ms = 90% busy rather than 60%.
    # Measured (seed 1): the increase is 6.98 ms for shared_store, 6.78 ms for jwt (seeds
    # 1-4: within 0.4 ms of each other); charging 15 ms of CPU per request instead of 10
    # gave an increase of 51 to 92 ms.
    base = {
        "strategies": ["shared_store", "jwt"],
        "workload.arrival_rate_per_s": 300,
        "shared_store.rtt_ms": 5.0,
    }
    own = run_of(base)
    shared = run_of(base | {"cluster.cpu_cores": 1})
    store = shared["shared_store"].store
    assert store is not None and store.ops_per_request == pytest.approx(1.0, abs=0.01)

    def increase(strategy: str) -> float:
        before, after = own[strategy].latency_ms["mean"], shared[strategy].latency_ms["mean"]
        assert before is not None and after is not None
        return after - before

    jwt_increase, store_increase = increase("jwt"), increase("shared_store")
    assert jwt_increase >= 3.0  # the shared core matters here...
    assert store_increase == pytest.approx(jwt_increase, rel=0.2)  # ...and the wait does not


def test_a_crash_while_jobs_compute_on_a_shared_core() -> None:
    # server 2 crashes at 12 s with jobs on its one core (local's logins hash for 140 ms),
    # comes back at 20 s with its CPU empty
    events = [
        {"kind": "server_crash", "at_s": 12, "server": 2},
        {"kind": "server_recover", "at_s": 20, "server": 2},
    ]
    result = run(
        load_scenario(
            "server-crash",
            {"duration_s": 30, "warmup_s": 5, "cluster.cpu_cores": 1, "events": events},
        )
    )
    frame = result.requests_frame()
    for item in result.results:
        assert item.requests > 0
        assert item.served + sum(item.errors.values()) == item.requests
        assert sum(item.outcome_counts.values()) == item.requests
        assert (frame.strategy == item.strategy).sum() == item.requests
        assert item.outcome_counts["server_down"] > 0  # the crash failed some jobs
        mine = frame[frame.strategy == item.strategy]
        after = mine[(mine.server == 2) & (mine.arrival_s > 21)]
        assert after.outcome.isin(["ok", "relogin"]).sum() > 10  # server 2 serves again
