"""Per-request cost against the number of servers and the number of requests.

CPU seconds per simulated request (``time.process_time``; wall time printed too), in one
process, each comparison's configurations alternated in rotated order over the rounds
(see ``bench_throughput.py``), medians reported:

- **servers**: the standard workload (700,000 requests) with 50 servers against 5,000
  servers at the same arrival rate (3500 req/s: the larger cluster is nearly idle), and
  against 5,000 servers with the utilisation held at 0.7 (the rate scaled 100x to
  350,000 req/s). A run pays once for its fleet (5,000 servers and their time series:
  about a quarter of a CPU-second here), so the target is judged at the standard
  workload's size; ``--quick`` (50,000 requests) says so rather than judge it;
- **count**: the standard workload at 100,000 against 1,000,000 requests (and
  10,000,000 with ``--full``): a per-request cost that does not grow with the count.

The ratio is large / small per-request CPU cost: 1.00 means the cost does not depend on
the size; the issue's targets are 5,000 servers within 1.5x of 50 servers, and a cost
independent of the count. Models: authsim jwt by default (``--models`` adds ``plain``,
``callbacks``, other strategies; see ``bench_throughput.py``).

    python benchmarks/bench_scale.py [--quick | --full] [--rounds R] [--models jwt,plain]
        [--requests N] [--json FILE]
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

MODELS = ("plain", "callbacks", *_common.STRATEGIES)
BIG_SERVERS = 5_000
SERVER_TARGET = 1.5


def compare(configs: dict[str, Callable[[], int]], rounds: int) -> dict[str, list[_common.Timing]]:
    """Every configuration ``rounds`` times, the order rotated by one each round."""
    names = list(configs)
    runs: dict[str, list[_common.Timing]] = {name: [] for name in names}
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(_common.timed(configs[name]))
    return runs


def per_request_us(timings: list[_common.Timing], clock: str = "cpu") -> float:
    """Median microseconds per request (CPU or wall)."""
    return statistics.median(
        1e6 * (t.cpu_s if clock == "cpu" else t.wall_s) / max(t.requests, 1) for t in timings
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--full", action="store_true", help="add the 10,000,000-request run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each configuration (3)")
    parser.add_argument("--models", default="jwt", help="comma-separated (default: jwt)")
    parser.add_argument(
        "--requests",
        type=int,
        help=(
            "requests per run of the server comparison (the standard workload's 700000; "
            "--quick 50000)"
        ),
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    if not names or set(names) - set(MODELS):
        parser.error(f"--models: choose among {', '.join(MODELS)}")
    if args.quick and args.full:
        parser.error("--quick and --full exclude each other")
    server_requests = args.requests or (50_000 if args.quick else _common.REQUESTS)
    counts = [20_000, 200_000] if args.quick else [100_000, 1_000_000]
    if args.full:
        counts.append(10_000_000)
    rate, big_rate = _common.ARRIVAL_RATE_PER_S, _common.ARRIVAL_RATE_PER_S * BIG_SERVERS / 50

    print(
        f"Per-request CPU cost; standard workload (Poisson {rate:g} req/s, 50 servers, "
        f"round robin, exponential 10 ms, {_common.USERS:,} users) resized; "
        f"{args.rounds} rounds, medians"
    )
    print(_common.machine())
    print(f"load average before: {_common.load_average()}")
    started = time.perf_counter()
    figures: dict[str, dict[str, float]] = {}
    server_rows: list[str] = []
    count_rows: list[str] = []
    for name in names:
        label = _common.model_label(name)
        configs = {
            "50": _common.model_run(name, server_requests, 50, rate),
            "5000 same rate": _common.model_run(name, server_requests, BIG_SERVERS, rate),
            "5000 same utilisation": _common.model_run(
                name, server_requests, BIG_SERVERS, big_rate
            ),
        }
        runs = compare(configs, args.rounds)
        small = per_request_us(runs["50"])
        cells = [label]
        for key in configs:
            cells.append(
                f"{per_request_us(runs[key]):.1f} ({per_request_us(runs[key], 'wall'):.1f})"
            )
        same_rate = per_request_us(runs["5000 same rate"]) / small
        same_util = per_request_us(runs["5000 same utilisation"]) / small
        cells += [f"{same_rate:.2f}", f"{same_util:.2f}"]
        server_rows.append("| " + " | ".join(cells) + " |")
        figures[f"{name} servers"] = {
            "requests": server_requests,
            **{f"us_per_request_cpu {key}": per_request_us(value) for key, value in runs.items()},
            "ratio_5000_same_rate": same_rate,
            "ratio_5000_same_utilisation": same_util,
        }
        print(f"  {name}: servers done ({time.perf_counter() - started:.0f} s)", flush=True)

        count_configs = {f"{count:,}": _common.model_run(name, count, 50, rate) for count in counts}
        count_runs = compare(count_configs, args.rounds)
        base = per_request_us(count_runs[f"{counts[0]:,}"])
        cells = [label]
        for key in count_configs:
            cells.append(
                f"{per_request_us(count_runs[key]):.1f} "
                f"({per_request_us(count_runs[key], 'wall'):.1f})"
            )
        ratios = [per_request_us(count_runs[key]) / base for key in list(count_configs)[1:]]
        cells += [f"{value:.2f}" for value in ratios]
        count_rows.append("| " + " | ".join(cells) + " |")
        figures[f"{name} count"] = {
            **{f"us_per_request_cpu {key}": per_request_us(v) for key, v in count_runs.items()},
            **{
                f"ratio {key} / {counts[0]:,}": value
                for key, value in zip(list(count_configs)[1:], ratios, strict=True)
            },
        }
        print(f"  {name}: counts done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(
        f"load average after: {_common.load_average()} "
        f"({time.perf_counter() - started:.0f} s in all)"
    )
    print()
    print(
        f"Servers, ~{server_requests:,} requests: CPU µs per request (wall µs in brackets); "
        "ratio: 5,000 servers / 50 servers"
    )
    print()
    print(
        "| model | 50 servers, 3500 req/s | 5,000 servers, 3500 req/s "
        "| 5,000 servers, 350,000 req/s | ratio same rate | ratio same utilisation |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(server_rows))
    print()
    print(
        f"Requests, 50 servers: CPU µs per request (wall µs in brackets); "
        f"ratio: larger count / {counts[0]:,}"
    )
    print()
    print(
        "| model | "
        + " | ".join(f"{count:,} requests" for count in counts)
        + " | "
        + " | ".join(f"ratio {count:,}" for count in counts[1:])
        + " |"
    )
    print("|---|" + "---:|" * (2 * len(counts) - 1))
    print("\n".join(count_rows))
    print()
    for name in names:
        value = figures[f"{name} servers"]["ratio_5000_same_rate"]
        if server_requests >= _common.REQUESTS:
            met = "meets" if value <= SERVER_TARGET else "misses"
            verdict = f"{met} the {SERVER_TARGET:g}x target"
        else:  # a fleet's set-up (its servers, their series) is paid once per run
            verdict = (
                f"the {SERVER_TARGET:g}x target is judged on the standard workload's "
                f"{_common.REQUESTS:,} requests: the set-up of 5,000 servers weighs more on "
                f"{server_requests:,}"
            )
        print(
            f"{name}: 5,000 servers cost {value:.2f}x per request what 50 do at the same rate "
            f"({verdict})"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
