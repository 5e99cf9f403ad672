"""Peak resident memory of authsim on the standard workload, in the API and the CLI.

Each measurement runs in a fresh child process; its peak RSS is read with
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits. Because that figure is
the maximum over all children ever waited for, every measurement goes through its own
short-lived wrapper process, which starts exactly one child and reports that child's
peak RSS and CPU time (user + system).

Runs (``--runs``, comma-separated, in this order):

- ``floor``: ``import simulator`` only, the floor every run starts from;
- ``api``: ``simulator.run(scenario, ["jwt"], record_requests=False)`` (summary mode);
- ``api-record``: the same with ``record_requests=True`` (the per-request tables);
- ``cli``: the command itself, ``authsim run baseline --set ... -s jwt --json``, with the
  standard workload's overrides: without ``--out`` the CLI keeps no request table
  (summary mode). This is the figure for "10M requests in under 200 MB".

    python benchmarks/bench_memory.py [--requests N] [--quick] [--runs floor,api,cli]
        [--strategy jwt] [--engine auto|des|vector] [--no-record]

``--requests 10000000 --runs floor,cli`` checks the 10M claim (minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

HERE = Path(__file__).resolve().parent

AUTHSIM = Path(sys.executable).with_name("authsim")
RUNS = ("floor", "api", "api-record", "cli")

# The API run: builds the scenario, runs one strategy, prints the requests simulated.
CHILD = """
import sys
sys.path.insert(0, {here!r})
import _common
requests, record, strategy, engine = {requests}, {record}, {strategy!r}, {engine!r}
if requests:
    import simulator
    scenario = _common.authsim_scenario(requests)
    result = simulator.run(
        scenario, [strategy], record_requests=record, engine=engine, allow_large=True
    )[strategy]
    print(getattr(result, "engine", "?"), result.requests)
else:
    import simulator  # imports only: the floor every run starts from
    print("-", 0)
"""

# Runs one child (argv as JSON) and reports its peak RSS (KiB on Linux), CPU and output.
WRAPPER = """
import json, resource, subprocess, sys
done = subprocess.run(json.loads(sys.argv[1]), capture_output=True, text=True)
if done.returncode:
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "peak_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime, "out": done.stdout,
}))
"""


def child_command(run: str, requests: int, strategy: str, engine: str) -> list[str]:
    """The argv of one measured child."""
    if run == "cli":
        command = [str(AUTHSIM), "run", "baseline", "-s", strategy, "--json", "--allow-large"]
        overrides = {**_common.standard_overrides(requests), "engine": engine}
        overrides.pop("strategies")
        for key, value in overrides.items():
            command += ["--set", f"{key}={json.dumps(value)}"]
        return command
    code = CHILD.format(
        here=str(HERE),
        requests=0 if run == "floor" else requests,
        record=run == "api-record",
        strategy=strategy,
        engine=engine,
    )
    return [sys.executable, "-c", code]


def measure(command: list[str], run: str) -> tuple[int, str, float, float, float]:
    """(requests simulated, engine, peak RSS MB, CPU s, wall s) of one child run."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(command)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{run}: exit {done.returncode}\n{done.stderr}")
    report = json.loads(done.stdout)
    if run == "cli":
        document = json.loads(report["out"])
        result = document["results"][0]
        # the JSON says which engine computed each strategy (``engines``)
        engine = str(document.get("engines", {}).get(result["strategy"], "?"))
        requests = int(result["requests"])
    else:
        engine, count = report["out"].split()[-2:]
        requests = int(count)
    return requests, engine, report["peak_kib"] / 1024, report["cpu_s"], seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=1_000_000, help="requests per run (1000000)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 50000 requests")
    parser.add_argument(
        "--runs", default=",".join(RUNS), help=f"comma-separated among {', '.join(RUNS)}"
    )
    parser.add_argument("--strategy", default="jwt", choices=_common.STRATEGIES)
    parser.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "des", "vector"),
        help="authsim's engine (default auto: what `authsim run` uses)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="skip the api-record run (as before)"
    )
    args = parser.parse_args(argv)
    requests = 50_000 if args.quick else args.requests
    runs = [run.strip() for run in args.runs.split(",") if run.strip()]
    if set(runs) - set(RUNS) or not runs:
        parser.error(f"--runs: choose among {', '.join(RUNS)}")
    if args.no_record:
        runs = [run for run in runs if run != "api-record"]
    if requests < 1:
        parser.error("--requests must be positive")

    labels = {
        "floor": "import simulator only",
        "api": f"API {args.strategy}, record_requests=False",
        "api-record": f"API {args.strategy}, record_requests=True",
        "cli": f"CLI authsim run -s {args.strategy}",
    }
    print(
        f"Peak RSS of a child process, authsim {args.strategy} (engine {args.engine}) on the "
        f"standard workload, ~{requests:,} requests"
    )
    print(_common.machine())
    print(f"load average before: {_common.load_average()}")
    print()
    print("| run | engine | requests | peak RSS MB | CPU s | wall s |")
    print("|---|---|---:|---:|---:|---:|")
    for run in runs:
        command = child_command(run, requests, args.strategy, args.engine)
        done, engine, peak_mb, cpu_s, seconds = measure(command, run)
        print(
            f"| {labels[run]} | {engine} | {done:,} | {peak_mb:,.1f} | {cpu_s:.1f} "
            f"| {seconds:.1f} |"
        )
        sys.stdout.flush()
    print()
    print(f"load average after: {_common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
