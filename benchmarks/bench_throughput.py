"""Simulated requests per wall-clock second: a plain SimPy reference model vs authsim.

Both run in this one process on the same standard workload (see ``_common.py``). The
runs alternate (reference, jwt, local, sticky, shared_store, reference, ...) so that
machine noise hits every model alike; each model's median over the rounds is reported,
with its ratio to the reference median of the same run.

    python benchmarks/bench_throughput.py [--requests N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common


def timed(work: Callable[[], int]) -> tuple[int, float]:
    """Run ``work`` after a garbage collection; return (requests, wall seconds)."""
    gc.collect()
    start = time.perf_counter()
    requests = work()
    return requests, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300_000, help="requests per run (300000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each model (3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 30000 requests")
    args = parser.parse_args(argv)
    requests = 30_000 if args.quick else args.requests
    if requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be positive")

    # jwt first so that the headline pair (reference, jwt) alternates directly.
    order = ["jwt"] + [name for name in _common.STRATEGIES if name != "jwt"]
    scenario = _common.authsim_scenario(requests)
    models: dict[str, Callable[[], int]] = {"reference": lambda: _common.run_reference(requests)}
    for name in order:
        models[name] = lambda name=name: _common.run_authsim(scenario, name)

    print(
        f"Standard workload: {_common.SERVERS} servers x 1 worker, round robin, Poisson "
        f"{_common.ARRIVAL_RATE_PER_S:g} req/s, exponential service mean "
        f"{_common.SERVICE_MEAN_S * 1000:g} ms (utilisation {_common.UTILISATION:g}); "
        f"~{requests} requests per run, {args.rounds} rounds"
    )
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; times are wall clock (time.perf_counter)"
    )
    rates: dict[str, list[float]] = {name: [] for name in models}
    counts: dict[str, int] = {}
    for round_no in range(1, args.rounds + 1):
        line = []
        for name, work in models.items():
            done, seconds = timed(work)
            counts[name] = done
            rates[name].append(done / seconds)
            line.append(f"{name} {done / seconds:,.0f}")
        print(f"  round {round_no}: " + ", ".join(line) + " req/s", flush=True)

    reference = statistics.median(rates["reference"])
    print()
    header = (
        f"{'model':<22}{'requests':>10}{'median req/s':>15}{'min':>11}{'max':>11}"
        f"{'ratio':>8}{'paired':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in models:
        label = "reference (SimPy)" if name == "reference" else f"authsim {name}"
        median = statistics.median(rates[name])
        paired = statistics.median(
            rate / ref for rate, ref in zip(rates[name], rates["reference"], strict=True)
        )
        print(
            f"{label:<22}{counts[name]:>10,}{median:>15,.0f}{min(rates[name]):>11,.0f}"
            f"{max(rates[name]):>11,.0f}{median / reference:>8.2f}{paired:>8.2f}"
        )
    print()
    print(
        "ratio: median req/s / reference median req/s; paired: median over rounds of "
        "req/s / that round's reference req/s"
    )
    print(
        f"authsim jwt / reference = {statistics.median(rates['jwt']) / reference:.2f} "
        "(ratio of medians, same process; > 1 means authsim simulates faster)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
