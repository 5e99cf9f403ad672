"""The vector engine against the DES on the standard workload, with identical results.

The standard workload: Poisson arrivals at 3,500 requests/s, round robin over 50 servers
of one worker each, exponential 10 ms service (utilisation 0.7), 20,000 users, about
700,000 requests, strategy ``jwt`` (``--strategy sticky``: ``sticky`` with its cookie
affinity instead). Its tokens are given a lifetime far beyond the run
(``jwt.ttl_s: 1e12``): with the default 15 minutes, tokens issued up to 15 minutes before
the start expire during a 200 s run, and their refreshes (a store round trip, then the
request again through the balancer) are feedback only the DES simulates.

Rounds alternate DES and vector on the same scenario and seed (which goes first
alternates too; each run is timed after a garbage collection, with the results of the
runs before it dropped); the script reports the
median CPU time (``time.process_time``) and wall time of each, their ratio, and the
largest absolute difference between the two engines' per-request latencies (0.0: the
same bits). Each engine runs once, untimed, before the rounds (imports and first calls).
Run: ``.venv/bin/python benchmarks/bench_vector.py [--requests N] [--rounds R]
[--strategy jwt|sticky] [--summary]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from typing import Any

import numpy as np

import simulator

TARGET = 50.0
"""The issue's target: the vector engine at least this many times faster than the DES."""

SERVERS = 50
SERVICE_MEAN_MS = 10.0
UTILISATION = 0.7
ARRIVAL_RATE_PER_S = UTILISATION * SERVERS / (SERVICE_MEAN_MS / 1000.0)  # 3500 requests/s
USERS = 20_000


def standard_scenario(requests: int) -> Any:
    """The standard workload, ``requests`` arrivals expected."""
    return simulator.load_scenario(
        "baseline",
        {
            "cluster.servers": SERVERS,
            "cluster.workers_per_server": 1,
            "cluster.queue_limit": 1_000_000,
            "cluster.service_time_ms": {"distribution": "exponential", "mean": SERVICE_MEAN_MS},
            "workload.arrival_rate_per_s": ARRIVAL_RATE_PER_S,
            "workload.users": USERS,
            "load_balancer.policy": "round_robin",
            "jwt.ttl_s": 1e12,
            "warmup_s": 0,
            "duration_s": requests / ARRIVAL_RATE_PER_S,
            "strategies": ["jwt", "sticky"],
        },
    )


def timed(
    scenario: Any, engine: str, record: bool = True, strategy: str = "jwt"
) -> tuple[float, float, Any]:
    """CPU seconds, wall seconds and the result of one run of ``strategy``, timed after a
    garbage collection (as ``_common.timed``: the garbage of the run before is not
    counted)."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = simulator.run(
        scenario, [strategy], engine=engine, allow_large=True, record_requests=record
    )
    return time.process_time() - cpu, time.perf_counter() - wall, result


def latencies(result: Any, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-request latencies (ms) sorted by arrival, and the arrivals."""
    log = result.logs[strategy]
    arrival = np.asarray(log.arrival_s)
    order = np.lexsort((np.asarray(log.user), arrival))
    return np.asarray(log.latency_ms)[order], arrival[order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=700_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--strategy", choices=("jwt", "sticky"), default="jwt")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="also time summary mode (record_requests=False) and compare the summaries",
    )
    args = parser.parse_args()
    strategy = args.strategy
    scenario = standard_scenario(args.requests)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"strategy {strategy}; {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    for engine in ("des", "vector"):  # warm-up: imports and first calls, untimed
        timed(standard_scenario(min(args.requests, 20_000)), engine, strategy=strategy)
    des_cpu: list[float] = []
    des_wall: list[float] = []
    vec_cpu: list[float] = []
    vec_wall: list[float] = []
    worst_ms = 0.0
    for round_ in range(args.rounds):
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        requests = 0
        # alternate which engine goes first; keep only the latencies of each run (a
        # result and its log are dropped before the next run is timed)
        for engine in ("des", "vector") if round_ % 2 == 0 else ("vector", "des"):
            cpu, wall, result = timed(scenario, engine, strategy=strategy)
            (des_cpu if engine == "des" else vec_cpu).append(cpu)
            (des_wall if engine == "des" else vec_wall).append(wall)
            assert result[strategy].engine == engine, result[strategy].engine_note
            found[engine] = latencies(result, strategy)
            requests = result[strategy].requests
            del result
        expected, arrived = found["des"]
        actual, arrived_too = found["vector"]
        assert np.array_equal(arrived, arrived_too), "the engines saw different requests"
        worst_ms = max(worst_ms, float(np.abs(actual - expected).max()))
        del found, expected, actual, arrived, arrived_too
        print(
            f"round {round_ + 1}: {requests} requests; DES {des_cpu[-1]:.2f} s CPU "
            f"{des_wall[-1]:.2f} s wall; vector {vec_cpu[-1] * 1000:.1f} ms CPU "
            f"{vec_wall[-1] * 1000:.1f} ms wall"
        )
    des_c, vec_c = statistics.median(des_cpu), statistics.median(vec_cpu)
    des_w, vec_w = statistics.median(des_wall), statistics.median(vec_wall)
    print(f"median CPU:  DES {des_c:.3f} s, vector {vec_c:.4f} s, ratio {des_c / vec_c:.0f}x")
    print(f"median wall: DES {des_w:.3f} s, vector {vec_w:.4f} s, ratio {des_w / vec_w:.0f}x")
    print(f"max |latency difference|: {worst_ms:.3g} ms")
    verdict = "meets" if des_c / vec_c >= TARGET else "misses"
    print(f"{strategy}, request log kept: {verdict} the {TARGET:.0f}x target")
    if args.summary:
        summary_mode(scenario, args.rounds, strategy)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def summary_mode(scenario: Any, rounds: int, strategy: str) -> None:
    """Both engines without the request log: medians, ratio, and whether the JSON
    summaries are identical."""
    des_cpu: list[float] = []
    vec_cpu: list[float] = []
    same = True
    for round_ in range(rounds):
        summaries: dict[str, str] = {}
        for engine in ("des", "vector") if round_ % 2 == 0 else ("vector", "des"):
            cpu, _, result = timed(scenario, engine, record=False, strategy=strategy)
            (des_cpu if engine == "des" else vec_cpu).append(cpu)
            document = result.to_dict()
            assert document.pop("engines") == {strategy: engine}
            summaries[engine] = json.dumps(document)  # the numbers: identical or not
            del result
        same = same and summaries["des"] == summaries["vector"]
        print(
            f"summary round {round_ + 1}: DES {des_cpu[-1]:.2f} s CPU, vector "
            f"{vec_cpu[-1] * 1000:.1f} ms CPU, ratio {des_cpu[-1] / vec_cpu[-1]:.0f}x"
        )
    des_c, vec_c = statistics.median(des_cpu), statistics.median(vec_cpu)
    paired = statistics.median(d / v for d, v in zip(des_cpu, vec_cpu, strict=True))
    print(
        f"summary mode, median CPU: DES {des_c:.3f} s, vector {vec_c:.4f} s, "
        f"ratio {des_c / vec_c:.0f}x (median of the rounds' ratios {paired:.0f}x); "
        f"identical JSON (apart from engines): {same}"
    )
    verdict = "meets" if des_c / vec_c >= TARGET else "misses"
    print(f"{strategy}, summary mode: {verdict} the {TARGET:.0f}x target")


if __name__ == "__main__":
    main()
