"""The clocks of ``authsim calibrate``: CPU time for CPU-bound work, wall time for waits.

:func:`time_cpu_bound` times signing, verifying and hashing in thread CPU time
(``time.thread_time_ns``), the time the thread actually ran: what the simulator charges
a worker for that work, and unaffected by time spent waiting for a core on a busy
machine. It also takes wall time around the same batches, for the contention check of
:mod:`simulator.costs.contention`. :func:`median_round_trip_ns` times network round
trips in wall time (``time.perf_counter_ns``), since they are waits a CPU clock would
not see. Both pause garbage collection while timing.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

BATCH_CPU_NS: Final[int] = 200_000
"""CPU time a timed batch of JWT calls aims at, ns: long enough that the clock's own cost
(about a microsecond: ``thread_time_ns`` is a system call) is noise, short enough that
on a busy machine most batches run between two context switches, so the median is not
the cost of the caches the other processes emptied."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection inside the block (a collection would be timed as the call's)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class CpuTiming:
    """One CPU-bound measurement, timed with both clocks.

    Attributes:
        cpu_ns: median over the timed batches of the per-call thread CPU time, ns.
        wall_ns: median over the timed batches of the per-call wall time, ns.
        cpu_total_ns: thread CPU time of all the timed batches, ns.
        wall_total_ns: wall time of all the timed batches, ns.
        batch: calls per timed batch.
    """

    cpu_ns: float
    wall_ns: float
    cpu_total_ns: int
    wall_total_ns: int
    batch: int


def time_cpu_bound(
    call: Callable[[], object],
    *,
    warmup: int,
    repeats: int,
    batch: int | None = None,
    batch_cpu_ns: int = BATCH_CPU_NS,
) -> CpuTiming:
    """Time ``call`` in ``repeats`` batches after ``warmup`` untimed calls.

    The figure to use is :attr:`CpuTiming.cpu_ns`, thread CPU time
    (``time.thread_time_ns``): the time the calling thread ran, which is what a worker
    is charged for CPU-bound work, without the time it waited for a core (or slept).
    Wall time (``time.perf_counter_ns``) is taken around the same batches, for the
    contention check. Garbage collection is paused while timing.

    Args:
        call: the work, called with no arguments.
        warmup: untimed calls first (they also size the batch).
        repeats: timed batches; the medians are over these.
        batch: calls per batch; ``None`` sizes it from the warm-up so that a batch takes
            about ``batch_cpu_ns`` of CPU time (one call without a warm-up).
        batch_cpu_ns: the CPU time a batch aims at when ``batch`` is ``None``, ns.
    """
    start = time.thread_time_ns()
    for _ in range(warmup):
        call()
    if batch is None:
        per_call = (time.thread_time_ns() - start) / warmup if warmup else batch_cpu_ns
        batch = max(1, min(1000, round(batch_cpu_ns / max(per_call, 1.0))))
    cpu: list[float] = []
    wall: list[float] = []
    cpu_total = wall_total = 0
    with gc_paused():
        for _ in range(repeats):
            wall_start = time.perf_counter_ns()
            cpu_start = time.thread_time_ns()
            for _ in range(batch):
                call()
            cpu_spent = time.thread_time_ns() - cpu_start
            wall_spent = time.perf_counter_ns() - wall_start
            cpu.append(cpu_spent / batch)
            wall.append(wall_spent / batch)
            cpu_total += cpu_spent
            wall_total += wall_spent
    return CpuTiming(statistics.median(cpu), statistics.median(wall), cpu_total, wall_total, batch)


def median_round_trip_ns(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of single calls, ns (the caller warms up)."""
    samples: list[int] = []
    with gc_paused():
        for _ in range(repeats):
            start = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)
