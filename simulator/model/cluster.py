"""Servers: a pool of workers in front of a bounded FIFO queue, that can fail.

Each worker is one long-lived SimPy process that takes the next job from its server's
queue, so a request costs no process of its own: the cheapest shape for SimPy (one
timeout per service, a wake-up only when a worker was idle).

A server is *up* (running) or not, and *in rotation* (the operator wants the balancer
to use it) or not. The balancer routes only to servers it saw up and in rotation at its
last health check, except that taking a server out of rotation (a drain, a scale-in)
tells the balancer at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from simulator.model.cpu import ProcessorSharingCpu
from simulator.outcomes import DOWN, DRAINING, OVERLOAD, RESTARTING, RETIRED, SERVER_DOWN, UP

Handler = Callable[["Server", Any], Generator[simpy.Event, Any, int]]
"""``handler(server, job)``: the work a worker does for one job; returns a result code."""

Done = Callable[["Server", Any, int], None]
"""``on_done(server, job, result)``: called when a worker has finished a job."""


class Server:
    """One application server.

    Attributes:
        index: position in the cluster (0-based).
        workers: jobs processed at once.
        queue_limit: jobs that may wait; one more is refused with ``overload``.
        up: whether the server is running (the balancer may not know yet).
        in_rotation: whether the operator wants the balancer to send it traffic.
        crashed: down because it crashed (``server_recover`` can restart it).
        retired: removed from the fleet for good (scale-in).
        sessions: session state held in this server's memory (user -> session id).
        queue: jobs waiting for a worker.
        in_system: jobs waiting or in service (what ``least_connections`` counts).
        jobs: jobs that reached this server while measuring (requests, logins, retries).
        bucket_jobs: the same, per time-series bucket.
        busy_s: worker time held by jobs started while measuring (CPU and waits on the
            store alike: a worker blocked on the store serves nobody else), seconds.
        cpu: the cores the workers share, when there are fewer than workers (a
            :class:`~simulator.model.cpu.ProcessorSharingCpu`, attached on first use by
            :class:`~simulator.model.cpu.SharedCpus`); ``None``: a core per worker.
    """

    __slots__ = (
        "_current",
        "_drain_waiters",
        "_env",
        "_handler",
        "_idle",
        "_on_done",
        "_processes",
        "_up_intervals",
        "bucket_jobs",
        "busy_s",
        "cpu",
        "crashed",
        "in_rotation",
        "in_system",
        "index",
        "jobs",
        "queue",
        "queue_limit",
        "retired",
        "sessions",
        "up",
        "workers",
    )

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        workers: int,
        queue_limit: int,
        handler: Handler,
        on_done: Done,
    ) -> None:
        self._env = env
        self._handler = handler
        self._on_done = on_done
        self.index = index
        self.workers = workers
        self.queue_limit = queue_limit
        self.up = True
        self.in_rotation = True
        self.crashed = False
        self.retired = False
        self.sessions: dict[int, int] = {}
        self.queue: deque[Any] = deque()
        self._idle: list[tuple[int, simpy.Event]] = []
        self._current: list[Any] = [None] * workers
        self._drain_waiters: list[simpy.Event] = []
        self.in_system = 0
        self.jobs = 0
        self.bucket_jobs: list[int] = []
        self.busy_s = 0.0
        self.cpu: ProcessorSharingCpu | None = None
        self._up_intervals: list[tuple[float, float | None]] = [(env.now, None)]
        self._processes = [env.process(self._worker(slot)) for slot in range(workers)]

    # ------------------------------------------------------------------ traffic

    def submit(self, job: Any, bucket: int) -> int | None:
        """Hand a job to this server.

        Args:
            job: the job; the handler knows what it is.
            bucket: the time-series bucket to count it in (-1: not measured).

        Returns:
            ``None`` when accepted, else the outcome code of the refusal
            (``SERVER_DOWN`` or ``OVERLOAD``).
        """
        if not self.up:
            return SERVER_DOWN
        if self._idle:
            slot, wake = self._idle.pop()
            self._current[slot] = job
            wake.succeed(job)
        elif len(self.queue) < self.queue_limit:
            self.queue.append(job)
        else:
            return OVERLOAD
        self.in_system += 1
        if bucket >= 0:
            self.jobs += 1
            counts = self.bucket_jobs
            if bucket >= len(counts):
                counts.extend([0] * (bucket + 1 - len(counts)))
            counts[bucket] += 1
        return None

    def _go_idle(self, slot: int) -> simpy.Event:
        wake = self._env.event()
        self._idle.append((slot, wake))
        return wake

    def _worker(self, slot: int) -> Generator[simpy.Event, Any, None]:
        """One worker: serve a job, then the next queued one, else wait to be woken.

        The worker frees its place (takes the next queued job, or registers as idle)
        *before* reporting the finished job, so a job the report sends straight back
        (a login's follow-up request, say) finds the worker free. A crash interrupts
        the worker; :meth:`crash` has already failed the job it held.
        """
        queue = self.queue
        handler = self._handler
        current = self._current
        wake = self._go_idle(slot)
        job = None
        while True:
            try:
                if job is None:
                    job = yield wake
                result = yield from handler(self, job)
            except simpy.Interrupt:
                job = None
                wake = self._go_idle(slot)
                continue
            current[slot] = None
            self.in_system -= 1
            finished = job
            if queue:
                job = queue.popleft()
                current[slot] = job
            else:
                job = None
                wake = self._go_idle(slot)
            self._on_done(self, finished, result)
            if self.in_system == 0 and self._drain_waiters:
                for waiter in self._drain_waiters:
                    waiter.succeed()
                self._drain_waiters.clear()

    # ------------------------------------------------------------------ life cycle

    def drained(self) -> simpy.Event:
        """An event that fires once no job is waiting or in service."""
        event = self._env.event()
        if self.in_system == 0:
            event.succeed()
        else:
            self._drain_waiters.append(event)
        return event

    def crash(self) -> list[Any]:
        """Stop at once: every job waiting or in service fails; memory is lost.

        Returns:
            The jobs that were on the server (waiting first, then in service), for the
            caller to fail.
        """
        failed = list(self.queue)
        self.queue.clear()
        for slot, job in enumerate(self._current):
            if job is not None:
                failed.append(job)
                self._current[slot] = None
                self._processes[slot].interrupt("crash")
        self.in_system -= len(failed)
        if self.cpu is not None:
            self.cpu.clear()  # the failed jobs compute no more
        self.crashed = True
        self.stop()
        for waiter in self._drain_waiters:
            waiter.succeed()
        self._drain_waiters.clear()
        return failed

    def stop(self) -> None:
        """Stop a server that holds no job (after a drain); its memory is lost."""
        if self.up:
            started, _ = self._up_intervals[-1]
            self._up_intervals[-1] = (started, self._env.now)
        self.up = False
        self.sessions.clear()

    def start(self) -> None:
        """Start (again) with empty memory, in rotation."""
        if not self.up:
            self._up_intervals.append((self._env.now, None))
        self.up = True
        self.crashed = False
        self.retired = False
        self.in_rotation = True

    @property
    def state(self) -> int:
        """What the server is doing, as a code of :data:`STATE_NAMES`.

        ``UP``: running and in rotation. ``DRAINING``: running but out of rotation,
        finishing the jobs it holds (a graceful deploy step or scale-in). ``RESTARTING``:
        stopped by a deploy, coming back. ``DOWN``: crashed. ``RETIRED``: removed for good
        by a scale-in.
        """
        if self.up:
            return UP if self.in_rotation else DRAINING
        if self.crashed:
            return DOWN
        if self.retired:
            return RETIRED
        return RESTARTING

    def up_seconds(self, since_s: float, until_s: float) -> float:
        """Seconds this server was up between ``since_s`` and ``until_s``."""
        total = 0.0
        for started, ended in self._up_intervals:
            end = until_s if ended is None else min(ended, until_s)
            total += max(0.0, end - max(started, since_s))
        return total
