"""Servers: a pool of workers in front of a bounded FIFO queue.

Each worker is one long-lived SimPy process that takes the next request from its
server's queue, so a request costs no process of its own: the cheapest shape for SimPy
(one timeout per service, a wake-up only when a worker was idle).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from simulator.outcomes import OVERLOAD, SERVER_DOWN

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
        sessions: session state held in this server's memory (user -> session id).
        in_system: jobs waiting or in service (what ``least_connections`` counts).
        jobs: jobs that reached this server while measuring (requests, logins, retries).
        busy_s: worker time held by jobs started while measuring (CPU and waits on the
            store alike: a worker blocked on the store serves nobody else), seconds.
    """

    __slots__ = (
        "_env",
        "_handler",
        "_idle",
        "_on_done",
        "busy_s",
        "in_system",
        "index",
        "jobs",
        "queue",
        "queue_limit",
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
        self.sessions: dict[int, int] = {}
        self.queue: deque[Any] = deque()
        self._idle: list[simpy.Event] = []
        self.in_system = 0
        self.jobs = 0
        self.busy_s = 0.0
        for _ in range(workers):
            # idle from the start, so a job submitted before the clock runs is taken
            wake = env.event()
            self._idle.append(wake)
            env.process(self._worker(wake))

    def submit(self, job: Any, measuring: bool) -> int | None:
        """Hand a job to this server.

        Args:
            job: the job; the handler knows what it is.
            measuring: count the job in this server's load statistics.

        Returns:
            ``None`` when accepted, else the outcome code of the refusal
            (``SERVER_DOWN`` or ``OVERLOAD``).
        """
        if not self.up:
            return SERVER_DOWN
        if self._idle:
            self._idle.pop().succeed(job)
        elif len(self.queue) < self.queue_limit:
            self.queue.append(job)
        else:
            return OVERLOAD
        self.in_system += 1
        if measuring:
            self.jobs += 1
        return None

    def _worker(self, wake: simpy.Event) -> Generator[simpy.Event, Any, None]:
        """One worker: serve a job, then the next queued one, else wait to be woken.

        The worker frees its place (takes the next queued job, or registers as idle)
        *before* reporting the finished job, so a job the report sends straight back
        (a login's follow-up request, say) finds the worker free.
        """
        queue = self.queue
        idle = self._idle
        env = self._env
        handler = self._handler
        on_done = self._on_done
        job = yield wake
        while True:
            result = yield from handler(self, job)
            self.in_system -= 1
            finished = job
            if queue:
                job = queue.popleft()
                on_done(self, finished, result)
            else:
                wake = env.event()
                idle.append(wake)
                on_done(self, finished, result)
                job = yield wake
