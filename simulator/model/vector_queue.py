"""Exact FIFO schedules of many jobs at many servers, with numpy.

A server with ``c`` workers and one FIFO queue starts job ``k`` (in the order the jobs
reach it) at ``max(r_k, F_k)``, where ``r_k`` is when it arrives and ``F_k`` the time a
worker becomes free for it: the ``c``-th largest end among the jobs before it (the
Kiefer-Wolfowitz recursion; for one worker, Lindley's recursion, ``F_k = e_{k-1}``).
The job ends at ``(start + first) + work``: the two timeouts a DES worker waits.

**Exactness.** The closed form ``e = C + maximum.accumulate(r - C_prev)`` (``C`` the
cumulative work) rounds differently from a simulation that adds each job's time to the
clock: the difference grows with the run. Here every end is computed with the DES's
own floating-point operations, in the DES's order, so the results are identical bit for
bit (not merely within a tolerance): a start is an arrival time or an earlier end (a
copy, no arithmetic), and an end is ``(start + first) + work`` in IEEE double precision,
as SimPy's ``now + delay`` computes it.

**Speed.** The recursion is sequential only inside a *busy period* (from a job that finds
the server idle to the next such job). Busy periods are found from the closed form
(approximate), keeping the starts that are certain by a margin larger than its rounding;
every other job is taken to wait for the one before it, so inside a busy period an end
is ``((end + first) + work)`` added to the previous end: a running sum, which
``np.cumsum`` makes in exactly that order. Busy periods of equal length are stacked as
the columns of one array (one ``cumsum`` per distinct length), a few servers at a time so
the arrays stay in the cache; afterwards every job is checked (a start found its worker
idle, every other job did not), and a wrong guess corrects the busy periods and computes
the chunk again. With several workers the segments are the servers themselves (a
worker may still be busy when another is idle, so no simple regeneration point is known
in advance): a loop over the position in the server, each pass an exact ``max(r, F)``.
With one worker on many servers (:data:`~simulator.model.vector_rows.ROW_SERVERS` or
more, jobs in rotation or evenly grouped), the servers' jobs are the columns of a table
and each row is one exact step for every server at once
(:mod:`simulator.model.vector_rows`): no closed form, no check, no layout.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.model.vector_grouping import Grouping, group_by_server
from simulator.model.vector_rows import (
    ROW_SERVERS,
    fits_columns,
    one_worker_by_columns,
    one_worker_by_rows,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MARGIN_S = 1e-12
"""The least distance between an arrival and the approximate end of the job before it
for the arrival to be taken for certain as the start of a busy period (or for certain
to wait), seconds; the margin grows with the rounding bound of the closed form (each
answer is checked against the exact ends anyway)."""


@dataclass
class ServerSchedule:
    """Jobs grouped by server (each server's jobs contiguous, in FIFO order), with their
    times: every array is in this grouped order.

    Attributes:
        grouping: how the jobs are grouped (:attr:`order`, :attr:`bounds`).
        given_route_s: when each job reached its server, in the order the jobs were given.
        end_s: when each job ended.
        first_s: its first timeout (the overhead), or ``None``.
        workers: workers per server (with one, each server's jobs end in FIFO order).
        grouped_route_s: ``given_route_s`` grouped, if made already.
        stored_start_s: when a worker started each job, if kept (with one worker it is
            found from the routes and ends, see :meth:`starts`).
        given_end_s: ``end_s`` in the order the jobs were given, if made (row by row,
            see :func:`schedule_by_server`); in the caller's spare array, which the
            caller may take back (and then sets this to ``None``).
    """

    grouping: Grouping
    given_route_s: FloatArray
    end_s: FloatArray
    first_s: FloatArray | None = None
    workers: int = 1
    grouped_route_s: FloatArray | None = None
    stored_start_s: FloatArray | None = None
    given_end_s: FloatArray | None = None

    @property
    def order(self) -> IntArray:
        """The position given of each grouped job."""
        return self.grouping.order

    @property
    def bounds(self) -> IntArray:
        """Server ``i``'s jobs are ``bounds[i]:bounds[i + 1]``."""
        return self.grouping.bounds

    @property
    def servers(self) -> int:
        """Number of servers."""
        return len(self.grouping.bounds) - 1

    @property
    def server(self) -> IntArray:
        """The server of each job (made when asked for)."""
        return np.repeat(np.arange(self.servers, dtype=np.int64), np.diff(self.bounds))

    @property
    def route_s(self) -> FloatArray:
        """When each job reached its server (grouped; made when first asked for)."""
        if self.grouped_route_s is None:
            self.grouped_route_s = self.grouping.take(self.given_route_s)
        return self.grouped_route_s

    @property
    def start_s(self) -> FloatArray:
        """When a worker started each job (made when asked for, with one worker)."""
        if self.stored_start_s is not None:
            return self.stored_start_s
        start = self.route_s.copy()
        np.maximum(start[1:], self.end_s[:-1], out=start[1:])
        firsts = self.bounds[:-1][np.diff(self.bounds) > 0]
        start[firsts] = self.route_s[firsts]
        return start

    def last_end_s(self) -> float:
        """When the last job ends (``-inf`` with none); with one worker, a server's jobs
        end in FIFO order, so only each server's last job is read."""
        if self.workers == 1:
            bounds = self.bounds
            lasts = bounds[1:][np.diff(bounds) > 0] - 1
            return float(self.end_s[lasts].max(initial=-math.inf))
        return float(self.end_s.max(initial=-math.inf))

    def jobs(self, index: int) -> slice:
        """The grouped positions of server ``index``'s jobs."""
        return slice(int(self.bounds[index]), int(self.bounds[index + 1]))

    def routes(self, index: int) -> FloatArray:
        """When server ``index``'s jobs reached it, in FIFO order (a view: do not write)."""
        if self.grouped_route_s is not None:
            return self.grouped_route_s[self.jobs(index)]
        return self.grouping.of(self.given_route_s, index)

    def starts(self, index: int) -> FloatArray:
        """When a worker started each of server ``index``'s jobs (a new array). With one
        worker a job starts when it arrives or when the job before it ends, whichever is
        later: the later of the two times, no arithmetic, as the DES has it."""
        jobs = self.jobs(index)
        if self.stored_start_s is not None:
            return self.stored_start_s[jobs].copy()
        start = self.routes(index).copy()
        np.maximum(start[1:], self.end_s[jobs.start : jobs.stop - 1], out=start[1:])
        return start


def schedule_by_server(
    server: IntArray | None,
    route_s: FloatArray,
    first_s: FloatArray | None,
    work_s: FloatArray,
    workers: int,
    servers: int,
    grouping: Grouping | None = None,
    spare_s: FloatArray | None = None,
) -> ServerSchedule:
    """Start and end of every job at FIFO servers of ``workers`` workers each.

    Args:
        server: the server of each job (``0`` to ``servers - 1``); only read without a
            ``grouping``.
        route_s: when each job reaches its server, seconds; the jobs are given in the
            order they reach their servers (non-decreasing times; ties in that order).
        first_s: the first timeout of each job (the per-job overhead), or ``None``.
        work_s: the second timeout of each job (its work), seconds.
        workers: workers per server.
        servers: number of servers.
        grouping: :func:`group_by_server`'s (or :func:`group_round_robin`'s) answer, when
            the caller knows it.
        spare_s: an array of ``len(route_s)`` values the caller is done with: the ends in
            the order given are written into it when they are made that way (jobs given
            in rotation to :data:`ROW_SERVERS` or more servers of one worker each: see
            :func:`~simulator.model.vector_rows.one_worker_by_rows`).
    """
    if grouping is None:
        assert server is not None
        grouping = group_by_server(server, servers)
    f = grouping.take(first_s) if first_s is not None else None
    count = int(grouping.bounds[-1])
    done = ServerSchedule(grouping, route_s, np.empty(count), f, workers)
    rotation = grouping.rotation
    if count == 0:
        done.stored_start_s = np.empty(0)
    elif workers == 1 and rotation is not None and rotation >= ROW_SERVERS:
        given = np.empty(count) if spare_s is None else spare_s
        one_worker_by_rows(route_s, first_s, work_s, rotation, given)
        grouping.take(given, out=done.end_s)
        done.given_end_s = given
    elif workers == 1 and servers >= ROW_SERVERS and fits_columns(grouping.bounds):
        one_worker_by_columns(done.route_s, f, grouping.take(work_s), grouping.bounds, done.end_s)
    elif workers == 1:  # the work (and routes read as views) gathered a chunk at a time
        r = None if grouping.views else done.route_s
        _one_worker(route_s if r is None else r, f, work_s, grouping, done.end_s, r is not None)
    else:
        w = grouping.take(work_s)
        r = done.route_s
        first_of_server = np.zeros(count, dtype=bool)
        first_of_server[grouping.bounds[:-1][np.diff(grouping.bounds) > 0]] = True
        done.stored_start_s, done.end_s = _segments(r, f, w, first_of_server, workers)
    return done


def fifo_schedule(
    server: IntArray,
    route_s: FloatArray,
    first_s: FloatArray | None,
    work_s: FloatArray,
    workers: int,
) -> tuple[FloatArray, FloatArray]:
    """:func:`schedule_by_server`'s start and end of each job, in the order given."""
    count = len(route_s)
    start = np.empty(count)
    end = np.empty(count)
    if count == 0:
        return start, end
    done = schedule_by_server(server, route_s, first_s, work_s, workers, int(server.max()) + 1)
    start[done.order] = done.start_s
    end[done.order] = done.end_s
    return start, end


def _certain_starts(
    r: FloatArray,
    f: FloatArray | None,
    w: FloatArray,
    first_of_server: npt.NDArray[np.bool_],
    bounds: IntArray,
) -> npt.NDArray[np.bool_]:
    """Jobs (grouped by server) that surely find their single worker idle, by the closed
    form of Lindley's recursion, plus the first job of each server (server by server:
    each server's slice stays in the cache)."""
    certain = first_of_server.copy()
    service = w if f is None else f + w
    limits = bounds.tolist()
    for lo, hi in itertools.pairwise(limits):
        if hi - lo < 2:
            continue
        each = service[lo:hi]
        total = np.cumsum(each)
        approx_end = r[lo:hi] - total
        approx_end += each
        np.maximum.accumulate(approx_end, out=approx_end)
        approx_end += total
        # a generous bound of the closed form's rounding (sums over every job)
        high = max(abs(float(total[-1])), abs(float(r[hi - 1])), 1.0)
        margin = max(MARGIN_S, 2.0**-52 * 32.0 * (hi - lo + 4) * high)
        approx_end += margin
        np.greater(r[lo + 1 : hi], approx_end[:-1], out=certain[lo + 1 : hi])
    return certain


def _segments(
    r: FloatArray,
    f: FloatArray | None,
    w: FloatArray,
    segment_start: npt.NDArray[np.bool_],
    workers: int,
) -> tuple[FloatArray, FloatArray]:
    """Exact starts and ends of contiguous segments of jobs, each segment beginning with
    every worker idle; loops over the position in a segment, across all segments."""
    count = len(r)
    firsts = np.flatnonzero(segment_start)
    lengths = np.diff(np.append(firsts, count))
    by_length = np.argsort(-lengths, kind="stable")
    firsts = firsts[by_length]
    lengths = lengths[by_length]
    # segments still running at position p: a prefix of the longest-first order
    running = len(lengths) - np.cumsum(np.bincount(lengths, minlength=int(lengths[0]) + 1))
    start = r.copy()
    end = start + f if f is not None else start.copy()
    end += w
    free = np.full((len(firsts), workers), -np.inf)  # workers' free times, ascending
    for position in range(int(lengths[0])):
        alive = int(running[position])
        jobs = firsts[:alive] + position
        state = free[:alive]
        began = np.maximum(r[jobs], state[:, 0])
        start[jobs] = began
        done = began + f[jobs] if f is not None else began.copy()
        done += w[jobs]
        end[jobs] = done
        state[:, 0] = done
        state.sort(axis=1)
    return start, end


CHUNK_JOBS = 1 << 16
"""Jobs :func:`_one_worker` computes at a time (whole servers; small enough that the
gathers and temporaries stay in the cache, and that the memory they take is reused from
chunk to chunk: 1 << 17 made about twice the page faults, for no gain)."""


def _one_worker(
    r: FloatArray,
    f: FloatArray | None,
    w: FloatArray,
    grouping: Grouping,
    end: FloatArray,
    r_grouped: bool,
) -> None:
    """Ends of jobs grouped by server at one worker each, into ``end`` (grouped), a few
    whole servers at a time (about :data:`CHUNK_JOBS` jobs: their arrays stay in the
    cache): the busy periods that surely begin (:func:`_certain_starts`), the schedule
    that takes every other job to wait (:func:`_one_worker_part`), and the check that
    each did; where one did not, the busy periods are corrected and the chunk computed
    again (never seen with :data:`MARGIN_S`; the first wrong job is right after, so this
    ends).

    ``w`` (and ``r`` unless ``r_grouped``) are in the order the jobs were given: each
    chunk's values are gathered when it is computed (no grouped copy of the whole run's);
    ``f``, if any, is grouped.
    """
    count = len(end)
    size = min(count, 2 * CHUNK_JOBS)
    gathered_w = np.empty(size)
    gathered_r = np.empty(0 if r_grouped else size)
    bounds = grouping.bounds
    limits = bounds.tolist()
    lo, first = 0, 0  # the chunk's first job and first server
    for index, hi in enumerate(limits[1:], 1):
        if hi - lo < CHUNK_JOBS and index < len(limits) - 1:
            continue  # whole servers, up to about CHUNK_JOBS jobs
        if hi > lo:
            part = slice(lo, hi)
            servers = slice(first, index)
            local = np.asarray(limits[first : index + 1], dtype=np.int64) - lo
            if len(gathered_w) < hi - lo:
                gathered_w = np.empty(hi - lo)
                gathered_r = np.empty(0 if r_grouped else hi - lo)
            w_part = grouping.take(w, servers, gathered_w)
            r_part = r[part] if r_grouped else grouping.take(r, servers, gathered_r)
            f_part = None if f is None else f[part]
            first_of_server = np.zeros(hi - lo, dtype=bool)
            first_of_server[local[:-1][np.diff(local) > 0]] = True
            segment_start = _certain_starts(r_part, f_part, w_part, first_of_server, local)
            inner = ~first_of_server[1:]
            end_part = end[part]
            while True:
                _one_worker_part(r_part, f_part, w_part, segment_start, end_part)
                # a segment's first job must find the job before it ended, every other
                # one must wait for it
                arrived, before = r_part[1:], end_part[:-1]
                wrong = np.where(segment_start[1:], arrived < before, arrived > before)
                wrong &= inner
                if not wrong.any():
                    break
                segment_start[1:] ^= wrong
        lo, first = hi, index


def _one_worker_part(
    r: FloatArray,
    f: FloatArray | None,
    w: FloatArray,
    segment_start: npt.NDArray[np.bool_],
    end: FloatArray,
) -> None:
    """:func:`_one_worker` on whole servers' jobs, their ends into ``end`` (seconds).

    Inside a segment (a busy period) every job but the first waits for the one before
    it, so its end is ``(end_before + f) + w``. The jobs are laid out by position in
    their segment (every segment's first job, then every second job, ...; segments
    longest first, so those still running at a position are a prefix of those at the
    position before), and each position is one vectorised addition to the ends at the
    position before: the additions the DES makes, in its order.
    """
    count = len(r)
    if f is not None:
        np.add(r, f, out=end)
        end += w
    else:
        np.add(r, w, out=end)
    firsts = np.flatnonzero(segment_start)
    segments = len(firsts)
    if segments < count:  # some segment has more than one job
        lengths = np.empty(segments, dtype=np.int64)
        np.subtract(firsts[1:], firsts[:-1], out=lengths[:-1])
        lengths[-1] = count - firsts[-1]
        longest = int(lengths.max())
        key = longest - lengths
        by_length = np.argsort(  # longest first (a radix sort for 16 bits)
            key.astype(np.uint16) if longest < 1 << 16 else key, kind="stable"
        )
        rank = np.empty(segments, dtype=np.int64)
        rank[by_length] = np.arange(segments, dtype=np.int64)
        # running[p]: segments longer than p; at position p, their ranks 0..running[p]-1
        running = segments - np.cumsum(np.bincount(lengths, minlength=longest + 1))[:-1]
        running[0] = segments
        offset = np.zeros(longest + 1, dtype=np.int64)
        np.cumsum(running, out=offset[1:])
        place = np.arange(count, dtype=np.int64)
        place -= np.repeat(firsts, lengths)  # position in the segment
        place = offset[place]
        place += np.repeat(rank, lengths)  # where each job goes in the layout
        ends = np.empty(count)
        ends[place] = w
        ends[:segments] = end[firsts[by_length]]
        overhead = None
        if f is not None:
            overhead = np.empty(count)
            overhead[place] = f
        limits = offset.tolist()
        alive = running.tolist()
        for position in range(1, longest):
            lo, hi = limits[position], limits[position] + alive[position]
            before = ends[limits[position - 1] : limits[position - 1] + alive[position]]
            here = ends[lo:hi]
            if overhead is None:
                np.add(before, here, out=here)
            else:
                waited = overhead[lo:hi]
                np.add(before, waited, out=waited)
                np.add(waited, here, out=here)
        np.take(ends, place, out=end, mode="clip")  # (every index is valid)


def schedule_drawing(
    server: IntArray | None,
    route_s: FloatArray,
    draws_s: FloatArray,
    work_s: FloatArray,
    workers: int,
    servers: int,
    grouping: Grouping | None = None,
) -> ServerSchedule:
    """As :func:`schedule_by_server`, where each job's first timeout is the next value
    of ``draws_s`` taken when the job starts (the DES draws the overhead then), so the
    values go to the jobs in the order they start, which the values themselves decide.

    The jobs are started one at a time, earliest first (ties in the order given), each
    server holding the start time of its next job: a loop in Python, about a
    microsecond per job, still exact bit for bit.
    """
    if grouping is None:
        assert server is not None
        grouping = group_by_server(server, servers)
    order, bounds = grouping.order, grouping.bounds
    grouped_route_s = route_s[order]
    route = grouped_route_s.tolist()
    work = work_s[order].tolist()
    draws = draws_s.tolist()
    count = len(route)
    start = [0.0] * count
    end = [0.0] * count
    first = [0.0] * count
    limits = bounds.tolist()
    free = [[-math.inf] * workers for _ in range(servers)]  # a heap per server
    given = order.tolist()  # ties go to the job given first
    pending = [
        (route[limits[index]], given[limits[index]], limits[index], index)
        for index in range(servers)
        if limits[index] < limits[index + 1]
    ]
    heapq.heapify(pending)
    taken = 0
    while pending:
        began, _, job, index = heapq.heappop(pending)
        drawn = draws[taken]
        taken += 1
        done = began + drawn
        done += work[job]
        start[job], end[job], first[job] = began, done, drawn
        times = free[index]
        heapq.heapreplace(times, done)
        following = job + 1
        if following < limits[index + 1]:
            ready = max(route[following], times[0])
            heapq.heappush(pending, (ready, given[following], following, index))
    return ServerSchedule(
        grouping,
        route_s,
        np.asarray(end),
        np.asarray(first),
        workers,
        grouped_route_s=grouped_route_s,
        stored_start_s=np.asarray(start),
    )
