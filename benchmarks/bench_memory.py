"""Peak resident memory of authsim ``jwt`` on the standard workload.

Each measurement runs in a fresh child process; this script reads the child's peak RSS
with ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits. Because that
figure is the maximum over all children ever waited for, every measurement goes through
its own short-lived wrapper process, which starts exactly one child (the simulation) and
reports its own ``RUSAGE_CHILDREN``.

    python benchmarks/bench_memory.py [--requests N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The simulation: builds the scenario, runs jwt, prints the requests simulated.
CHILD = """
import sys
sys.path.insert(0, {here!r})
import _common
requests, record = {requests}, {record}
if requests:
    scenario = _common.authsim_scenario(requests)
    print(_common.run_authsim(scenario, "jwt", record_requests=record))
else:
    import simulator  # imports only: the floor every run starts from
    print(0)
"""

# Runs one child and reports its peak RSS (KiB on Linux) and its output as JSON.
WRAPPER = """
import json, resource, subprocess, sys
done = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True)
if done.returncode:
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"peak_kib": peak_kib, "requests": int(done.stdout.split()[-1])}))
"""


def measure(requests: int, record: bool) -> tuple[int, float, float]:
    """(requests simulated, peak RSS in MB, wall seconds) of one child run."""
    code = CHILD.format(here=str(HERE), requests=requests, record=record)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, code], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    report = json.loads(done.stdout)
    return report["requests"], report["peak_kib"] / 1024, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=1_000_000, help="requests per run (1000000)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 50000 requests")
    parser.add_argument(
        "--no-record", action="store_true", help="skip the record_requests=True run"
    )
    args = parser.parse_args(argv)
    requests = 50_000 if args.quick else args.requests
    if requests < 1:
        parser.error("--requests must be positive")

    runs = [("import simulator only", 0, False), ("jwt, record_requests=False", requests, False)]
    if not args.no_record:
        runs.append(("jwt, record_requests=True", requests, True))
    print(
        f"Peak RSS of a child process, authsim jwt on the standard workload (~{requests} requests)"
    )
    header = f"{'run':<30}{'requests':>12}{'peak RSS MB':>14}{'wall s':>9}"
    print(header)
    print("-" * len(header))
    for label, count, record in runs:
        done, peak_mb, seconds = measure(count, record)
        print(f"{label:<30}{done:>12,}{peak_mb:>14,.1f}{seconds:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
