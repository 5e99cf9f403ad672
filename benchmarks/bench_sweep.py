"""Wall and CPU time of a parameter sweep with 1 worker process against 2.

A 4 x 4 grid over ``cluster.servers`` and ``workload.arrival_rate_per_s`` of the
``baseline`` scenario, shortened so each task (one point: the four strategies on the
same traffic) takes about 0.5 to 1 s, one replication: 16 tasks. Each sweep runs through
:func:`simulator.experiments.sweep.run_sweep` into its own temporary folder, timed with
``time.perf_counter`` around the whole call (process pool start-up and writing
``results.csv``/``summary.csv`` included). Its CPU time is this process's
(``time.process_time``) plus its pool workers', read from ``/proc`` as the forkserver's
reaped children's time (Linux; elsewhere the workers' share is missing).

An untimed two-point sweep first starts the forkserver (which imports the simulator once
for every later worker), so no timed sweep pays for it. Rounds alternate 1 and 2
workers. The verdict uses the best (lowest) wall time of each, as ``timeit`` does: on a
shared or virtual machine noise only ever adds time, so the minimum is the closest to
what the code itself costs. The medians and their ratio are printed too, and the CPU
ceiling: the speedup two independent pure-Python loops get on this machine in the same
run, the most a 2-worker sweep can. The 1-minute load average before each sweep is
printed: anything else running on the machine takes CPUs from the 2-worker sweep first,
so measure on an idle machine.

    python benchmarks/bench_sweep.py [--rounds N] [--duration S] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.forkserver
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import simulator
from simulator.experiments.sweep import run_sweep

SERVERS = [2, 4, 6, 8]
ARRIVAL_RATES = [60, 100, 140, 180]
TARGET_SPEEDUP = 1.7


def _spin(loops: int) -> float:
    """A pure-Python CPU loop; returns its own seconds."""
    start = time.perf_counter()
    total = 0
    for i in range(loops):
        total += i * i
    return time.perf_counter() - start


def cpu_ceiling(loops: int = 10_000_000) -> float:
    """The speedup this machine gives two independent CPU-bound processes (the most a
    2-worker sweep can get): two loops one after the other / the same two in parallel."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # start both workers before timing
        start = time.perf_counter()
        pool.map(_spin, [loops], chunksize=1)
        pool.map(_spin, [loops], chunksize=1)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        pool.map(_spin, [loops, loops], chunksize=1)
        parallel = time.perf_counter() - start
    return serial / parallel


def load_average() -> str:
    """The 1-minute load average (other work on the machine skews the times)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _forkserver_cpu() -> float:
    """CPU seconds of the forkserver and of the children it has reaped (the sweep's pool
    workers fork from it, so their time is its children's), from ``/proc``; 0 elsewhere."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime, stime, cutime, cstime are fields 14 to 17 of the line, 11 to 14 after ")"
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def sweep_cpu() -> float:
    """CPU seconds of this process and of every sweep worker that has exited."""
    return time.process_time() + _forkserver_cpu()


def timed_sweep(scenario: simulator.Scenario, workers: int) -> tuple[float, float, int, int]:
    """Wall and CPU seconds (this process and its pool's workers, user + system) of one
    sweep with ``workers`` processes; the rows and failed tasks."""
    grid = {"cluster.servers": SERVERS, "workload.arrival_rate_per_s": ARRIVAL_RATES}
    with tempfile.TemporaryDirectory(prefix="authsim-bench-sweep-") as folder:
        cpu, start = sweep_cpu(), time.perf_counter()
        result = run_sweep(scenario, grid, 1, Path(folder), workers=workers)
        elapsed = time.perf_counter() - start
        # the forkserver reaps the joined workers on its own SIGCHLD: let it catch up
        used = sweep_cpu() - cpu
        for _ in range(20):
            time.sleep(0.02)
            again = sweep_cpu() - cpu
            if again == used:
                break
            used = again
    return elapsed, used, len(result.rows), result.failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of (1 worker, 2 workers)")
    parser.add_argument(
        "--duration", type=float, default=45.0, help="simulated seconds measured per task"
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 15 s per task")
    args = parser.parse_args(argv)
    rounds, duration = (1, 15.0) if args.quick else (args.rounds, args.duration)
    scenario = simulator.load_scenario("baseline", {"duration_s": duration + 5, "warmup_s": 5})
    tasks = len(SERVERS) * len(ARRIVAL_RATES)
    print(
        f"sweep: {len(SERVERS)} x {len(ARRIVAL_RATES)} = {tasks} points x 1 replication, "
        f"baseline with {duration:g} s measured, 4 strategies per task; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="authsim-bench-sweep-") as folder:
        short = scenario.with_overrides({"duration_s": 2, "warmup_s": 1})
        run_sweep(short, {"cluster.servers": [2, 3]}, 1, Path(folder), workers=2)
    times: dict[int, list[float]] = {1: [], 2: []}
    cpu_times: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(1, rounds + 1):
        for workers in (1, 2):
            load = load_average()
            elapsed, cpu, rows, failures = timed_sweep(scenario, workers)
            times[workers].append(elapsed)
            cpu_times[workers].append(cpu)
            print(
                f"round {round_}: --workers {workers}: {elapsed:6.2f} s wall, {cpu:6.2f} s CPU "
                f"({cpu / elapsed:.2f} CPUs busy; {rows} rows, {failures} failed tasks, "
                f"{elapsed / tasks:.2f} s per task, load average {load} before)"
            )
    ceilings = [cpu_ceiling() for _ in range(3)]
    print(
        "CPU ceiling (two pure-Python loops, serial / parallel): "
        + ", ".join(f"{value:.2f}x" for value in ceilings)
        + f", median {statistics.median(ceilings):.2f}x"
    )
    median_one, median_two = statistics.median(times[1]), statistics.median(times[2])
    best_one, best_two = min(times[1]), min(times[2])
    print(
        f"--workers 1: best {best_one:.2f} s, median {median_one:.2f} s; "
        f"--workers 2: best {best_two:.2f} s, median {median_two:.2f} s"
    )
    cpu_one, cpu_two = statistics.median(cpu_times[1]), statistics.median(cpu_times[2])
    print(
        f"CPU time (this process + its workers), median: --workers 1 {cpu_one:.2f} s, "
        f"--workers 2 {cpu_two:.2f} s ({cpu_two / cpu_one:.2f}x the work: what parallelism "
        "costs in CPU)"
    )
    print(f"speedup of the medians: {median_one / median_two:.2f}x")
    speedup = best_one / best_two
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "misses"
    print(f"speedup of the best times: {speedup:.2f}x ({verdict} the {TARGET_SPEEDUP}x target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
