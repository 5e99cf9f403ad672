"""The standard benchmark workload and the models it is run through, shared by the scripts.

Standard workload: 50 single-worker servers behind round robin, Poisson arrivals at
utilisation 0.7 (lambda = 0.7 * 50 / 0.010 s = 3500 requests/s), exponential service with
mean 10 ms, 20,000 users; 700,000 requests by default (200 simulated seconds).

Three ways to simulate it:

- :func:`run_reference`, the *plain SimPy model*: a process per request and a
  ``simpy.Resource(capacity=1)`` per server, as a SimPy tutorial would write it.
- :func:`run_callbacks`, the *callback-only SimPy loop*: the same system driven by
  ``Timeout`` events and their callbacks alone (no process, no resource): two events per
  request, the least SimPy can do for this model; the framework's limit.
- :func:`run_authsim`: authsim's discrete-event engine (``engine="des"``), one strategy.

The two SimPy models draw the same random numbers in the same order, so they simulate the
same sample path (:func:`check_models_agree`).
"""

from __future__ import annotations

import gc
import os
import platform
import random
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy

import simulator

SERVERS = 50
SERVICE_MEAN_S = 0.010
UTILISATION = 0.7
ARRIVAL_RATE_PER_S = UTILISATION * SERVERS / SERVICE_MEAN_S  # 3500 req/s
USERS = 20_000
REQUESTS = 700_000
STRATEGIES = ("jwt", "shared_store", "sticky", "local")
SIMPY_MODELS = ("plain", "callbacks")
"""The SimPy reference models (the same whatever authsim's source)."""
SIMPY_LABELS = {"plain": "plain SimPy", "callbacks": "SimPy callbacks only"}
"""How the tables name the SimPy reference models."""
SEED = 1
ROOT = Path(__file__).resolve().parent.parent


def with_source(env: dict[str, str], source: str | None) -> dict[str, str]:
    """``env`` with ``source`` (a checkout's folder holding ``simulator/``) first on
    ``PYTHONPATH``, if given."""
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


def duration_for(requests: int, rate: float = ARRIVAL_RATE_PER_S) -> float:
    """Simulated seconds in which ``requests`` arrivals are expected at ``rate``."""
    return requests / rate


def standard_overrides(
    requests: int, servers: int = SERVERS, rate: float = ARRIVAL_RATE_PER_S
) -> dict[str, Any]:
    """The ``baseline`` overrides that make the standard workload (or a resized one)."""
    return {
        "cluster.servers": servers,
        "cluster.workers_per_server": 1,
        "cluster.queue_limit": 1_000_000,
        "cluster.service_time_ms": {"distribution": "exponential", "mean": 10},
        "workload.arrival_rate_per_s": rate,
        "workload.users": USERS,
        "load_balancer.policy": "round_robin",
        "warmup_s": 0,
        "duration_s": duration_for(requests, rate),
        "strategies": ["jwt"],
    }


def authsim_scenario(
    requests: int, servers: int = SERVERS, rate: float = ARRIVAL_RATE_PER_S
) -> Any:
    """``baseline`` with the standard workload; the rest of it unchanged (HS256 jwt, 140 ms
    login, users logged in at start, every metric and time series)."""
    return simulator.load_scenario("baseline", standard_overrides(requests, servers, rate))


def run_authsim(
    scenario: Any, strategy: str, record_requests: bool = False, engine: str = "des"
) -> int:
    """Run one strategy of authsim; return the number of requests it simulated."""
    result = simulator.run(
        scenario, [strategy], record_requests=record_requests, engine=engine, allow_large=True
    )
    return int(result[strategy].requests)


def run_reference(
    requests: int,
    servers: int = SERVERS,
    rate: float = ARRIVAL_RATE_PER_S,
    seed: int = SEED,
    latencies: list[float] | None = None,
) -> int:
    """The plain SimPy model; return the number of requests it simulated.

    One process per request, one ``simpy.Resource(capacity=1)`` per server, round robin,
    Poisson arrivals, exponential service, each request's latency appended to a list.
    """
    rng = random.Random(seed)
    env = simpy.Environment()
    pool = [simpy.Resource(env, capacity=1) for _ in range(servers)]
    done: list[float] = [] if latencies is None else latencies
    service_rate = 1.0 / SERVICE_MEAN_S

    def request(server: simpy.Resource, service_s: float):  # type: ignore[no-untyped-def]
        arrived = env.now
        with server.request() as slot:
            yield slot
            yield env.timeout(service_s)
        done.append(env.now - arrived)

    def arrivals():  # type: ignore[no-untyped-def]
        for index in range(requests):
            yield env.timeout(rng.expovariate(rate))
            env.process(request(pool[index % servers], rng.expovariate(service_rate)))

    env.process(arrivals())
    env.run()
    return len(done)


def run_callbacks(
    requests: int,
    servers: int = SERVERS,
    rate: float = ARRIVAL_RATE_PER_S,
    seed: int = SEED,
    latencies: list[float] | None = None,
) -> int:
    """The callback-only SimPy loop; return the number of requests it simulated.

    The same system as :func:`run_reference` without processes or resources: an arrival
    is a ``Timeout`` whose callback schedules the next arrival and either starts the
    service (another ``Timeout``) or queues the request at its idle-or-busy server; a
    service's callback records the latency and starts the next queued request. Two SimPy
    events per request, each handled by one plain function call.
    """
    rng = random.Random(seed)
    expovariate = rng.expovariate
    env = simpy.Environment()
    timeout = env.timeout
    queues: list[deque[tuple[float, float]]] = [deque() for _ in range(servers)]
    busy = [False] * servers
    done: list[float] = [] if latencies is None else latencies
    service_rate = 1.0 / SERVICE_MEAN_S
    arrived_so_far = 0

    def start(server: int, arrived: float, service_s: float) -> None:
        timeout(service_s, (server, arrived)).callbacks.append(finish)

    def finish(event: simpy.Event) -> None:
        server, arrived = event.value
        done.append(env.now - arrived)
        queue = queues[server]
        if queue:
            start(server, *queue.popleft())
        else:
            busy[server] = False

    def arrive(_event: simpy.Event) -> None:
        nonlocal arrived_so_far
        server = arrived_so_far % servers
        arrived_so_far += 1
        service_s = expovariate(service_rate)
        if busy[server]:
            queues[server].append((env.now, service_s))
        else:
            busy[server] = True
            start(server, env.now, service_s)
        if arrived_so_far < requests:
            timeout(expovariate(rate)).callbacks.append(arrive)

    if requests > 0:
        timeout(expovariate(rate)).callbacks.append(arrive)
    env.run()
    return len(done)


def model_label(name: str) -> str:
    """How a table names model ``name``: a SimPy reference model, or authsim's strategy."""
    return SIMPY_LABELS.get(name, f"authsim {name}")


def model_run(
    name: str, requests: int, servers: int = SERVERS, rate: float = ARRIVAL_RATE_PER_S
) -> Callable[[], int]:
    """A zero-argument run of model ``name`` (a SimPy reference model or one of authsim's
    strategies) on ``requests`` at ``servers`` and ``rate``; it returns the requests
    simulated. authsim's scenario is built here, once, not in the run."""
    if name == "plain":
        return lambda: run_reference(requests, servers, rate)
    if name == "callbacks":
        return lambda: run_callbacks(requests, servers, rate)
    scenario = authsim_scenario(requests, servers, rate)
    return lambda: run_authsim(scenario, name)


def check_models_agree(requests: int = 20_000) -> float:
    """The two SimPy models simulate the same sample path: the largest difference between
    their sorted latencies (a few ulps). Raises ``AssertionError`` if they disagree."""
    plain: list[float] = []
    callbacks: list[float] = []
    run_reference(requests, latencies=plain)
    run_callbacks(requests, latencies=callbacks)
    assert len(plain) == len(callbacks) == requests, (len(plain), len(callbacks))
    gap = max(abs(a - b) for a, b in zip(sorted(plain), sorted(callbacks), strict=True))
    assert gap < 1e-9, f"the plain and callback-only SimPy models disagree by {gap} s"
    return gap


# ------------------------------------------------------------------ timing


@dataclass(frozen=True)
class Timing:
    """One timed run: requests simulated, CPU seconds of this process, wall seconds."""

    requests: int
    cpu_s: float
    wall_s: float


def timed(work: Callable[[], int]) -> Timing:
    """Run ``work`` after a garbage collection; its CPU time (``time.process_time``: this
    process, every thread, user + system) and its wall time (``time.perf_counter``)."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    requests = work()
    return Timing(requests, time.process_time() - cpu, time.perf_counter() - wall)


def load_average() -> str:
    """``os.getloadavg()`` as ``1-min 5-min 15-min``."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def cpus() -> str:
    """The CPUs this process may use (``nproc``) and the machine's count."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return f"nproc {usable} (of {os.cpu_count()})"


def commit() -> str:
    """The checkout's commit (``+dirty`` with local changes), or ``?``."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return f"{head}+dirty" if dirty else head


def machine() -> str:
    """One line: Python, SimPy, CPUs, commit."""
    return (
        f"Python {platform.python_version()}, SimPy {simpy.__version__}, "
        f"{platform.machine()}, {cpus()}, commit {commit()}"
    )
