"""A server's CPU shared by its workers: processor sharing over a few cores.

By default (``cluster.cpu_cores`` null) every worker has a core of its own, and a
worker's CPU work is a plain ``env.timeout``. With ``cluster.cpu_cores`` below
``cluster.workers_per_server`` the workers of one server compete for its cores: each
server gets a :class:`ProcessorSharingCpu`, and :class:`SharedCpus` splits a job's work
between it (password hashing, token signing and checking, the per-request overhead, the
CPU part of the business work) and plain waiting that holds only the worker (the store's
round trips, the waiting part of the business work).

Processor sharing (PS) with c cores: with n jobs on the CPU each progresses at
min(1, c/n) seconds of work per second, the textbook model of a time-sliced scheduler
(Kleinrock, *Queueing Systems, Volume 2*, 1976, chapter 4; Harchol-Balter,
*Performance Modeling and Design of Computer Systems*, 2013, chapter 22).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from simulator.model.cluster import Server
    from simulator.scenario.models import Cluster


class ProcessorSharingCpu:
    """``cores`` cores shared equally by the jobs computing on them.

    Keeps the work each job has left; on every arrival and departure, advances every job
    by the time elapsed times the current rate, and schedules one wake-up for the next
    completion. A wake-up made stale by a later arrival or departure is recognised by
    its version number and ignored, so at most one wake-up is live at a time.

    Floats: at a live wake-up, every job is advanced by exactly the work the earliest
    one had left when it was scheduled, so that job (and any with the same work left)
    reaches 0 exactly and finishes; an arrival in the same instant as a completion
    clamps the finished work at 0 (it then finishes in a wake-up at once).

    Args:
        env: the run's SimPy environment.
        cores: cores of the server (>= 1).
    """

    __slots__ = ("_env", "_jobs", "_last_s", "_next_s", "_rate", "_version", "cores")

    def __init__(self, env: simpy.Environment, cores: int) -> None:
        if cores < 1:
            raise ValueError(f"cores must be at least 1 (got {cores})")
        self._env = env
        self.cores = cores
        self._jobs: dict[simpy.Event, float] = {}  # job -> work left, seconds
        self._last_s = env.now  # when the work left was last brought up to date
        self._rate = 1.0  # seconds of work per second of each job now
        self._next_s = 0.0  # work left of the earliest job when its wake-up was scheduled
        self._version = 0

    @property
    def jobs(self) -> int:
        """Jobs computing now."""
        return len(self._jobs)

    def remaining_s(self) -> list[float]:
        """Work each job has left now, seconds (in the order they arrived)."""
        done_s = (self._env.now - self._last_s) * self._rate
        return [max(0.0, left_s - done_s) for left_s in self._jobs.values()]

    def run(self, cpu_s: float) -> simpy.Event:
        """Start ``cpu_s`` seconds of CPU work; the event fires once it is done.

        Raises:
            ValueError: ``cpu_s`` is negative or not finite.
        """
        if not 0.0 <= cpu_s < float("inf"):
            raise ValueError(f"CPU work must be a finite number >= 0 (got {cpu_s!r})")
        done = self._env.event()
        self._advance()
        self._jobs[done] = cpu_s
        self._reschedule()
        return done

    def clear(self) -> None:
        """Drop every job (the server crashed): none of their events will fire."""
        self._jobs.clear()
        self._version += 1
        self._last_s = self._env.now

    def _advance(self) -> None:
        """Bring every job's work left up to now."""
        now = self._env.now
        elapsed = now - self._last_s
        self._last_s = now
        if elapsed > 0 and self._jobs:
            done_s = elapsed * self._rate
            jobs = self._jobs
            for job, left_s in jobs.items():
                jobs[job] = left_s - done_s if left_s > done_s else 0.0

    def _reschedule(self) -> None:
        """Set the rate for the jobs now on the CPU; schedule the next completion."""
        self._version += 1
        jobs = self._jobs
        if not jobs:
            return
        count = len(jobs)
        self._rate = 1.0 if count <= self.cores else self.cores / count
        self._next_s = min(jobs.values())
        version = self._version
        wake = self._env.timeout(self._next_s / self._rate)
        wake.callbacks.append(lambda _: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self._version:
            return  # a job arrived or left since: a later wake-up replaced this one
        self._last_s = self._env.now
        step_s = self._next_s
        jobs = self._jobs
        finished = [job for job, left_s in jobs.items() if left_s <= step_s]
        for job in finished:
            del jobs[job]
        for job, left_s in jobs.items():
            jobs[job] = left_s - step_s
        self._reschedule()
        for job in finished:
            job.succeed()


class SharedCpus:
    """The processor-sharing CPUs of a run's servers, and a job's work split over them.

    Built only when the servers have fewer cores than workers (:meth:`build`); otherwise
    a worker's CPU work stays a plain timeout. A server gets its CPU the first time it
    computes (servers added by a scale-out included); a crash drops the CPU's jobs
    (:meth:`simulator.model.cluster.Server.crash`).

    Args:
        env: the run's SimPy environment.
        cores: cores per server.
        cpu_fraction: share of the business work that is CPU (``service_time_ms.cpu_fraction``).
    """

    def __init__(self, env: simpy.Environment, cores: int, cpu_fraction: float) -> None:
        self._env = env
        self.cores = cores
        self.cpu_fraction = cpu_fraction

    @classmethod
    def build(cls, env: simpy.Environment, cluster: Cluster) -> SharedCpus | None:
        """The shared CPUs of ``cluster``, or ``None`` when every worker has a core."""
        cores = cluster.cpu_cores
        if cores is None or cores >= cluster.workers_per_server:
            return None
        return cls(env, cores, cluster.service_time_ms.cpu_fraction)

    def cpu(self, server: Server) -> ProcessorSharingCpu:
        """``server``'s CPU (made on first use)."""
        cpu = server.cpu
        if cpu is None:
            cpu = server.cpu = ProcessorSharingCpu(self._env, self.cores)
        return cpu

    def run(self, server: Server, cpu_s: float) -> simpy.Event:
        """``cpu_s`` seconds of CPU work on ``server``'s shared cores."""
        return self.cpu(server).run(cpu_s)

    def work(
        self,
        server: Server,
        auth_s: float,
        transfer_s: float,
        business_s: float,
        then: Callable[[], None],
    ) -> bool:
        """A job's last step on ``server``: its CPU work on the shared cores, then its waits.

        Args:
            server: where the job runs.
            auth_s: CPU of the credential check, login or refresh, seconds.
            transfer_s: receiving the credential over the network (a wait), seconds.
            business_s: business work, seconds; ``cpu_fraction`` of it is CPU, the rest
                a wait.
            then: called once the work is done, when it takes time (a crash of
                ``server`` drops its CPU work: then it is never called).

        Returns:
            ``True`` when the work takes time (``then`` will be called), ``False`` when
            there is none.
        """
        cpu_s = auth_s + business_s * self.cpu_fraction
        wait_s = transfer_s + business_s * (1.0 - self.cpu_fraction)
        env = self._env

        def waited(_: simpy.Event) -> None:
            then()

        if cpu_s > 0:

            def computed(_: simpy.Event) -> None:
                if wait_s > 0:
                    env.timeout(wait_s).callbacks.append(waited)
                else:
                    then()

            self.cpu(server).run(cpu_s).callbacks.append(computed)
            return True
        if wait_s > 0:
            env.timeout(wait_s).callbacks.append(waited)
            return True
        return False
