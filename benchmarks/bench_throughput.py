"""Requests simulated per CPU-second and per wall-second: authsim against plain SimPy.

Every model runs in this one process on the standard workload (``_common.py``: 50
servers, round robin, Poisson 3500 req/s, exponential 10 ms, 20,000 users, 700,000
requests). Each round runs every model once, in an order rotated by one each round
(round 1: a, b, c, ...; round 2: b, c, ..., a), so that a change in the machine's load
hits every model alike and no model always runs first or after the same neighbour. Each
run is timed with ``time.process_time`` (CPU time of this process) and
``time.perf_counter`` (wall) after a ``gc.collect()``, around the whole simulation
(building authsim's request stream included; the scenario is built once, untimed). One
untimed run of every model on 2,000 requests comes first, so that first-call costs (lazy
imports, caches) are left to the start-up benchmark.

Models: ``plain`` (SimPy, a process per request and a Resource per server), ``callbacks``
(SimPy driven by event callbacks alone: the framework's limit), and authsim's jwt,
shared_store, sticky and local (``engine="des"``). For each: the medians of requests per
CPU-second and per wall-second, their ratios to ``plain`` and to ``callbacks`` (> 1:
faster), and the paired ratio (the median over rounds of model / same round's plain).

With ``--native``, ``jwt-native`` and ``shared_store-native`` are authsim compiled with
mypyc (``make native``), run in a child process on a compiled copy of the package (built
under ``build/native-bench/`` once per version of the sources; see ``_native.py``) and
timed there the same way, in the same rotated rounds.

    python benchmarks/bench_throughput.py [--requests N] [--rounds R] [--quick]
        [--models plain,callbacks,jwt,...] [--native] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
import _native

SIMPY_MODELS = _common.SIMPY_MODELS
NATIVE_SUFFIX = "-native"
NATIVE_MODELS = tuple(f"{name}{NATIVE_SUFFIX}" for name in _common.STRATEGIES)
MODELS = (*SIMPY_MODELS, *_common.STRATEGIES, *NATIVE_MODELS)
DEFAULT_MODELS = (*SIMPY_MODELS, *_common.STRATEGIES)
TARGETS = {"jwt": 2.0, "shared_store": 1.5}
"""Issue #19: CPU-time speed against the plain SimPy model on the standard workload."""
QUICK_REQUESTS = 50_000
WARM_UP_REQUESTS = 2_000


def label(name: str) -> str:
    if name.endswith(NATIVE_SUFFIX):
        return f"authsim {name.removesuffix(NATIVE_SUFFIX)}, compiled"
    return _common.model_label(name)


def workloads(
    requests: int, names: list[str], worker: _native.NativeWorker | None = None
) -> dict[str, Callable[[], _common.Timing]]:
    """Each model's timed run: in this process, or, compiled, in ``worker``'s."""
    every: dict[str, Callable[[], _common.Timing]] = {}
    for name in (*_common.SIMPY_MODELS, *_common.STRATEGIES):
        run = _common.model_run(name, requests)
        every[name] = lambda run=run: _common.timed(run)
    for name in _common.STRATEGIES:
        if worker is not None:
            every[f"{name}{NATIVE_SUFFIX}"] = lambda name=name: worker.run(name, requests)
    return {name: every[name] for name in names}


def rotated(names: list[str], round_no: int) -> list[str]:
    shift = round_no % len(names)
    return names[shift:] + names[:shift]


def ratio(values: list[float], base: list[float]) -> float:
    return statistics.median(values) / statistics.median(base)


def paired(values: list[float], base: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(values, base, strict=True))


def report(
    runs: dict[str, list[_common.Timing]], requests: int, rounds: int
) -> tuple[str, dict[str, dict[str, float]]]:
    """The Markdown table, and the same figures by model."""
    per_cpu = {name: [t.requests / t.cpu_s for t in timings] for name, timings in runs.items()}
    per_wall = {name: [t.requests / t.wall_s for t in timings] for name, timings in runs.items()}
    figures: dict[str, dict[str, float]] = {}
    lines = [
        "| model | requests | median CPU s | median wall s | req per CPU-s | req per wall-s "
        "| CPU x plain | wall x plain | paired CPU x plain | CPU x callbacks "
        "| wall x callbacks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, timings in runs.items():
        row: dict[str, float] = {
            "requests": timings[-1].requests,
            "median_cpu_s": statistics.median(t.cpu_s for t in timings),
            "median_wall_s": statistics.median(t.wall_s for t in timings),
            "requests_per_cpu_s": statistics.median(per_cpu[name]),
            "requests_per_wall_s": statistics.median(per_wall[name]),
            "min_requests_per_cpu_s": min(per_cpu[name]),
            "max_requests_per_cpu_s": max(per_cpu[name]),
        }
        cells = [
            f"{row['requests']:,.0f}",
            f"{row['median_cpu_s']:.2f}",
            f"{row['median_wall_s']:.2f}",
            f"{row['requests_per_cpu_s']:,.0f}",
            f"{row['requests_per_wall_s']:,.0f}",
        ]
        for base, keys in (("plain", ("cpu", "wall", "paired")), ("callbacks", ("cpu", "wall"))):
            for key in keys:
                if base not in runs:
                    cells.append("–")
                    continue
                if key == "paired":
                    value = paired(per_cpu[name], per_cpu[base])
                else:
                    source = per_cpu if key == "cpu" else per_wall
                    value = ratio(source[name], source[base])
                row[f"{key}_x_{base}"] = value
                cells.append(f"{value:.2f}")
        figures[name] = row
        lines.append(f"| {label(name)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Medians over {rounds} rounds of ~{requests:,} requests. `x plain`, `x callbacks`: "
        "this model's median requests per CPU-second (or wall-second) / that model's "
        "(> 1: faster). `paired`: median over rounds of this run / the same round's plain run."
    )
    return "\n".join(lines), figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=_common.REQUESTS, help="requests per run (700000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each model (3)")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_REQUESTS} requests"
    )
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated, in round-1 order, among {','.join(MODELS)} (default: "
        f"{','.join(DEFAULT_MODELS)}; --native adds jwt-native,shared_store-native)",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="also time the compiled build (make native), in a child process",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures")
    args = parser.parse_args(argv)
    requests = QUICK_REQUESTS if args.quick else args.requests
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    if args.native:
        compiled = [f"{name}{NATIVE_SUFFIX}" for name in TARGETS]
        names += [name for name in compiled if name not in names]
    unknown = sorted(set(names) - set(MODELS))
    if unknown or not names or len(set(names)) != len(names):
        parser.error(f"--models: choose distinct names among {', '.join(MODELS)}")
    if requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be positive")

    print(
        f"Standard workload: {_common.SERVERS} servers x 1 worker, round robin, Poisson "
        f"{_common.ARRIVAL_RATE_PER_S:g} req/s, exponential service mean "
        f"{_common.SERVICE_MEAN_S * 1000:g} ms (utilisation {_common.UTILISATION:g}), "
        f"{_common.USERS:,} users; ~{requests:,} requests per run, {args.rounds} rounds"
    )
    print(_common.machine())
    load_before = _common.load_average()
    print(f"load average before: {load_before}")
    if {"plain", "callbacks"} <= set(names):
        _common.check_models_agree(min(requests, 20_000))
        print("plain and callback-only SimPy models checked: the same latencies")
    worker = None
    if any(name.endswith(NATIVE_SUFFIX) for name in names):
        try:
            worker = _native.NativeWorker(_native.native_copy())
        except _native.NativeUnavailableError as exc:
            print(f"no compiled build, its models are left out: {exc}")
            names = [name for name in names if not name.endswith(NATIVE_SUFFIX)]
    work = workloads(requests, names, worker)
    for warm in workloads(WARM_UP_REQUESTS, names, worker).values():
        warm()  # untimed: first-call costs (lazy imports, caches) belong to start-up
    runs: dict[str, list[_common.Timing]] = {name: [] for name in names}
    started = time.perf_counter()
    for round_no in range(args.rounds):
        cells = []
        for name in rotated(names, round_no):
            timing = work[name]()
            runs[name].append(timing)
            cells.append(f"{name} {timing.requests / timing.cpu_s:,.0f}/{timing.wall_s:.1f}s")
        print(
            f"  round {round_no + 1} (req per CPU-s / wall s): " + ", ".join(cells),
            flush=True,
        )
    if worker is not None:
        worker.close()
    load_after = _common.load_average()
    print(f"load average after: {load_after} ({time.perf_counter() - started:.0f} s in all)")
    print()
    table, figures = report(runs, requests, args.rounds)
    print(table)
    if "plain" in runs:
        print()
        for name, target in [
            *TARGETS.items(),
            *((f"{name}{NATIVE_SUFFIX}", target) for name, target in TARGETS.items()),
        ]:
            if name in figures:
                value, pair = figures[name]["cpu_x_plain"], figures[name]["paired_x_plain"]
                verdict = "meets" if value >= target else "misses"
                print(
                    f"{label(name)}: {value:.2f}x the plain SimPy model in CPU time "
                    f"({verdict} the {target:g}x target; paired {pair:.2f}x)"
                )
    if args.json is not None:
        document = {
            "workload": _common.standard_overrides(requests),
            "requests": requests,
            "rounds": args.rounds,
            "machine": _common.machine(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "runs": {
                name: [
                    {"requests": t.requests, "cpu_s": t.cpu_s, "wall_s": t.wall_s} for t in timings
                ]
                for name, timings in runs.items()
            },
            "figures": figures,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
