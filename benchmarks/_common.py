"""The standard benchmark workload, shared by the benchmark scripts.

50 single-worker servers behind round robin, Poisson arrivals at utilisation 0.7
(lambda = 0.7 * 50 / 0.010 s = 3500 requests/s), exponential service with mean 10 ms.
"""

from __future__ import annotations

import random
from typing import Any

import simpy

import simulator

SERVERS = 50
SERVICE_MEAN_S = 0.010
UTILISATION = 0.7
ARRIVAL_RATE_PER_S = UTILISATION * SERVERS / SERVICE_MEAN_S  # 3500 req/s
STRATEGIES = ("local", "sticky", "shared_store", "jwt")
SEED = 1


def duration_for(requests: int) -> float:
    """Simulated seconds in which ``requests`` arrivals are expected."""
    return requests / ARRIVAL_RATE_PER_S


def authsim_scenario(requests: int) -> Any:
    """The baseline scenario with the standard workload (default login, users logged in)."""
    return simulator.load_scenario(
        "baseline",
        {
            "cluster.servers": SERVERS,
            "cluster.workers_per_server": 1,
            "cluster.queue_limit": 1_000_000,
            "cluster.service_time_ms": {"distribution": "exponential", "mean": 10},
            "workload.arrival_rate_per_s": ARRIVAL_RATE_PER_S,
            "load_balancer.policy": "round_robin",
            "warmup_s": 0,
            "duration_s": duration_for(requests),
            "strategies": ["jwt"],
        },
    )


def run_authsim(scenario: Any, strategy: str, record_requests: bool = False) -> int:
    """Run one strategy of authsim; return the number of requests it simulated."""
    result = simulator.run(scenario, [strategy], record_requests=record_requests)
    return int(result[strategy].requests)


def run_reference(requests: int, seed: int = SEED) -> int:
    """The plain SimPy reference model; return the number of requests it simulated.

    One process per request, one ``simpy.Resource(capacity=1)`` per server, round robin,
    Poisson arrivals, exponential service, each request's latency appended to a list.
    """
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=1) for _ in range(SERVERS)]
    latencies: list[float] = []
    rate = ARRIVAL_RATE_PER_S
    service_rate = 1.0 / SERVICE_MEAN_S

    def request(server: simpy.Resource, service_s: float):  # type: ignore[no-untyped-def]
        arrived = env.now
        with server.request() as slot:
            yield slot
            yield env.timeout(service_s)
        latencies.append(env.now - arrived)

    def arrivals():  # type: ignore[no-untyped-def]
        for index in range(requests):
            yield env.timeout(rng.expovariate(rate))
            env.process(request(servers[index % SERVERS], rng.expovariate(service_rate)))

    env.process(arrivals())
    env.run()
    return len(latencies)
