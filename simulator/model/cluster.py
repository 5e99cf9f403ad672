"""Servers: a pool of workers in front of a bounded FIFO queue, that can fail.

Workers are not SimPy processes: a worker is a slot that holds at most one job, and the
work of a job is a chain of event callbacks (see :data:`Handler`). That is the cheapest
shape SimPy allows: a job costs the timeouts of its work and no process, no generator
and, in the common case, no wake-up event of its own (see :meth:`Server.submit`).

A server is *up* (running) or not, and *in rotation* (the operator wants the balancer
to use it) or not. The balancer routes only to servers it saw up and in rotation at its
last health check, except that taking a server out of rotation (a drain, a scale-in)
tells the balancer at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import simpy

from simulator.model.cpu import ProcessorSharingCpu
from simulator.outcomes import DOWN, DRAINING, OVERLOAD, RESTARTING, RETIRED, SERVER_DOWN, UP

Handler = Callable[["Server", Any, int], "int | None"]
"""``handler(server, job, slot)``: a worker (``slot``) starts ``job``.

Returns the job's result code when the job is done at once (no simulated time), else
``None``; then the work goes on in event callbacks, and the last one calls
:meth:`Server.finish` with the result. A crash empties the slot: a callback of a job
that is no longer :attr:`Server.held` by its worker must stop there.
"""

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
        held: the job each worker (slot) holds, ``None`` when idle. A crash empties it:
            a callback of a job that ``held[slot]`` no longer is must stop there (see
            :meth:`holds`; the hot path reads the list itself, a call cheaper).
        in_system: jobs waiting or in service (what ``least_connections`` counts).
        jobs: jobs that reached this server while measuring (requests, logins, retries).
        bucket_jobs: the same, per time-series bucket: ``buckets`` zeros to start with
            (the run's bucket count, given by the fleet), grown if a job comes in a later
            one (it may then run past the last bucket, with zeros).
        busy_s: worker time held by jobs started while measuring (CPU and waits on the
            store alike: a worker blocked on the store serves nobody else), seconds.
        changed: whether this server changed since a sampler last read it (see
            :meth:`watch`).
        life: how many times it started, stopped, crashed or left rotation (its state
            from when a sampler last read it when this did).
        cpu: the cores the workers share, when there are fewer than workers (a
            :class:`~simulator.model.cpu.ProcessorSharingCpu`, attached on first use by
            :class:`~simulator.model.cpu.SharedCpus`); ``None``: a core per worker.
    """

    __slots__ = (
        "_changes",
        "_drain_waiters",
        "_env",
        "_handler",
        "_idle",
        "_on_done",
        "_up_intervals",
        "bucket_jobs",
        "busy_s",
        "changed",
        "cpu",
        "crashed",
        "held",
        "in_rotation",
        "in_system",
        "index",
        "life",
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
        buckets: int = 0,
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
        self._idle: list[int] = list(range(workers))  # free slots; the last is taken first
        self.held: list[Any] = [None] * workers
        self._drain_waiters: list[simpy.Event] = []
        self.in_system = 0
        self.bucket_jobs: list[int] = [0] * buckets
        self.busy_s = 0.0
        self.cpu: ProcessorSharingCpu | None = None
        self.changed = True  # not watched (see watch)
        self._changes: list[Server] | None = None
        self.life = 0  # starts, stops and crashes so far
        self._up_intervals: list[tuple[float, float | None]] = [(env.now, None)]

    # ------------------------------------------------------------------ traffic

    def submit(self, job: Any, bucket: int, last: bool = False) -> int | None:
        """Hand a job to this server.

        A job that finds a worker idle starts once the callbacks and events already due
        at this instant have run (a zero-delay event), as a waiting worker process would.
        When nothing else is due and the caller does nothing more at this instant
        (``last``), that is now, so the job starts at once, without the event.

        Args:
            job: the job; the handler knows what it is.
            bucket: the time-series bucket to count it in (-1: not measured).
            last: the caller does nothing more at this instant after this call.

        Returns:
            ``None`` when accepted, else the outcome code of the refusal
            (``SERVER_DOWN`` or ``OVERLOAD``).
        """
        if not self.up:
            return SERVER_DOWN
        idle = self._idle
        if not idle and len(self.queue) >= self.queue_limit:
            return OVERLOAD
        self.in_system += 1
        if not self.changed:
            self._note_change()
        if bucket >= 0:
            try:  # (a try costs nothing in Python 3.11 until it raises)
                self.bucket_jobs[bucket] += 1
            except IndexError:
                self._count_in_new_bucket(bucket)
        if idle:
            slot = idle.pop()
            self.held[slot] = job
            env = self._env
            if last and env.peek() > env.now:
                # _begin's first turn, without its call (this runs for most jobs)
                result = self._handler(self, job, slot)
                if result is not None:
                    self.finish(slot, job, result)
            else:
                self._begin_soon(slot, job)
        else:
            self.queue.append(job)
        return None

    def _begin_soon(self, slot: int, job: Any) -> None:
        """Worker ``slot`` starts ``job`` once the callbacks and events already due at
        this instant have run (a zero-delay event).

        (The closure is made here, not in :meth:`submit`: a function that makes one keeps
        its captured variables in cells, created on every call, taken or not.)
        """
        start = self._env.event()
        start.callbacks.append(lambda _: self._begin(slot, job))
        start.succeed()

    def _count_in_new_bucket(self, bucket: int) -> None:
        """Count a job in a bucket past the end of :attr:`bucket_jobs`, grown to hold it
        (a server built without the run's bucket count).

        The list at least doubles: a server on a large, lightly loaded fleet would see a
        new bucket at nearly every job (zeros past the run's buckets are never read).
        """
        counts = self.bucket_jobs
        counts.extend([0] * max(bucket + 1 - len(counts), len(counts)))
        counts[bucket] += 1

    @property
    def jobs(self) -> int:
        """Jobs that reached this server while measuring (summed over its buckets, so that
        a job is counted once, in its bucket)."""
        return sum(self.bucket_jobs)

    def watch(self, changes: list[Server]) -> None:
        """From now on, append this server to ``changes`` when its queue, busy workers or
        up state change (once, until the watcher sets :attr:`changed` back to ``False``)."""
        self._changes = changes
        self.changed = False

    def _note_change(self) -> None:
        self.changed = True
        if self._changes is not None:
            self._changes.append(self)

    def holds(self, slot: int, job: Any) -> bool:
        """Whether worker ``slot`` still holds ``job`` (a crash takes it away)."""
        return self.held[slot] is job

    def finish(self, slot: int, job: Any, result: int) -> None:
        """Worker ``slot`` has finished ``job`` with ``result`` (it :meth:`holds` it: the
        caller checked): report it, and take the next queued job, if any.

        The worker frees its place (takes the next queued job, or goes idle) *before* the
        job is reported, so a job the report sends straight back (a login's follow-up
        request, say) finds the worker free. The next job starts after the report, and
        each next one its handler finishes at once in turn (in this loop, not by
        recursion).
        """
        queue, held = self.queue, self.held
        while True:
            self.in_system -= 1
            if not self.changed:
                self._note_change()
            if queue:
                following = queue.popleft()
                held[slot] = following
            else:
                following = None
                held[slot] = None
                self._idle.append(slot)
            self._on_done(self, job, result)
            if self._drain_waiters and self.in_system == 0:
                for waiter in self._drain_waiters:
                    waiter.succeed()
                self._drain_waiters.clear()
            if following is None or held[slot] is not following:
                return
            job = following
            next_result = self._handler(self, job, slot)
            if next_result is None:
                return
            result = next_result

    def _begin(self, slot: int, job: Any) -> None:
        """Worker ``slot`` starts ``job`` (unless a crash took it meanwhile)."""
        if self.held[slot] is job:
            result = self._handler(self, job, slot)
            if result is not None:
                self.finish(slot, job, result)

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
        for slot, job in enumerate(self.held):
            if job is not None:
                failed.append(job)
                self.held[slot] = None
                self._idle.append(slot)
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
        self._life_changed()

    def start(self) -> None:
        """Start (again) with empty memory, in rotation."""
        if not self.up:
            self._up_intervals.append((self._env.now, None))
        self.up = True
        self.crashed = False
        self.retired = False
        self.in_rotation = True
        self._life_changed()

    def leave_rotation(self) -> None:
        """The operator takes this server out of rotation (a drain, a scale-in)."""
        self.in_rotation = False
        self._life_changed()

    def _life_changed(self) -> None:
        self.life += 1
        if not self.changed:
            self._note_change()

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
