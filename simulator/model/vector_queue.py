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
the server idle to the next such job): the loop runs over the position within the busy
period, vectorised across every busy period of every server at once, so it makes as many
numpy passes as the longest busy period has jobs, and touches each job once. Busy periods
are found from the closed form (approximate), keeping only the period starts that are
certain by a wide margin; every other job goes through the exact ``max(r, F)``, which is
right whether or not it was a start, and the certain starts are checked afterwards
against the exact ends. With several workers the segments are the servers themselves (a
worker may still be busy when another is idle, so no simple regeneration point is known
in advance): the loop then makes as many passes as the busiest server has jobs.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MARGIN_S = 1e-6
"""How far an arrival must be after the approximate end of the job before it to be taken
for certain as the start of a busy period, seconds (the closed form is off by far less;
each such start is checked against the exact ends anyway)."""


@dataclass
class ServerSchedule:
    """Jobs grouped by server (each server's jobs contiguous, in FIFO order), with their
    times: every array is in this grouped order.

    Attributes:
        order: the position of each grouped job in the order the jobs were given.
        bounds: server ``i``'s jobs are ``bounds[i]:bounds[i + 1]``.
        server: the server of each job.
        route_s: when each job reached its server.
        first_s: its first timeout (the overhead), or ``None``.
        start_s: when a worker started it.
        end_s: when it ended.
        workers: workers per server (with one, each server's jobs end in FIFO order).
    """

    order: IntArray
    bounds: IntArray
    server: IntArray
    route_s: FloatArray
    first_s: FloatArray | None
    start_s: FloatArray
    end_s: FloatArray
    workers: int = 1

    @property
    def servers(self) -> int:
        """Number of servers."""
        return len(self.bounds) - 1

    def jobs(self, index: int) -> slice:
        """The grouped positions of server ``index``'s jobs."""
        return slice(int(self.bounds[index]), int(self.bounds[index + 1]))


Grouping = tuple[IntArray, IntArray]
"""The stable order that groups jobs by server, and each server's bounds in it."""


def group_by_server(server: IntArray, servers: int) -> Grouping:
    """The stable order that groups jobs by server, and each server's bounds in it."""
    small = server.astype(np.uint16) if servers <= 1 << 16 else server
    order = np.argsort(small, kind="stable")  # a radix sort for up to 65,536 servers
    bounds = np.zeros(servers + 1, dtype=np.int64)
    np.cumsum(np.bincount(server, minlength=servers), out=bounds[1:])
    return order, bounds


def group_round_robin(count: int, servers: int, offset: int) -> Grouping:
    """:func:`group_by_server` of jobs ``k`` on servers ``(k + offset) % servers``,
    without sorting."""
    first = (np.arange(servers, dtype=np.int64) - offset) % servers
    rows = -(-count // servers)
    grid = first[:, None] + servers * np.arange(rows, dtype=np.int64)[None, :]
    inside = grid < count
    bounds = np.zeros(servers + 1, dtype=np.int64)
    np.cumsum(inside.sum(axis=1), out=bounds[1:])
    return grid[inside], bounds


def schedule_by_server(
    server: IntArray,
    route_s: FloatArray,
    first_s: FloatArray | None,
    work_s: FloatArray,
    workers: int,
    servers: int,
    grouping: Grouping | None = None,
) -> ServerSchedule:
    """Start and end of every job at FIFO servers of ``workers`` workers each.

    Args:
        server: the server of each job (``0`` to ``servers - 1``).
        route_s: when each job reaches its server, seconds; the jobs are given in the
            order they reach their servers (non-decreasing times; ties in that order).
        first_s: the first timeout of each job (the per-job overhead), or ``None``.
        work_s: the second timeout of each job (its work), seconds.
        workers: workers per server.
        servers: number of servers.
        grouping: :func:`group_by_server`'s answer, when the caller knows it.
    """
    order, bounds = grouping if grouping is not None else group_by_server(server, servers)
    grouped = np.repeat(np.arange(servers, dtype=np.int64), np.diff(bounds))
    r = route_s[order]
    w = work_s[order]
    f = first_s[order] if first_s is not None else None
    count = len(r)
    first_of_server = np.zeros(count, dtype=bool)
    first_of_server[bounds[:-1][np.diff(bounds) > 0]] = True
    if count == 0:
        start, end = r.copy(), r.copy()
    elif workers == 1:
        segment_start = _certain_starts(r, f, w, first_of_server, bounds)
        while True:
            start, end = _segments(r, f, w, segment_start, 1)
            # a start taken for certain must find the job before it finished
            wrong = np.zeros(count, dtype=bool)
            wrong[1:] = segment_start[1:] & ~first_of_server[1:] & (r[1:] < end[:-1])
            if not wrong.any():
                break
            segment_start &= ~wrong  # never happens with MARGIN_S; kept exact regardless
    else:
        start, end = _segments(r, f, w, first_of_server, workers)
    return ServerSchedule(order, bounds, grouped, r, f, start, end, workers)


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
    form of Lindley's recursion, plus the first job of each server."""
    service = w if f is None else f + w
    total = np.cumsum(service)
    lifted = r - total
    lifted += service
    # a segmented running maximum: lift each server's values above every earlier server's
    # r - (total - service) lies within [-total[-1], max(r)]: no pass over it for its range
    ends = bounds[1:][np.diff(bounds) > 0] - 1  # the last (latest) job of each server
    low, high = -float(total[-1]), float(r[ends].max())
    span = 2.0 * (high - low) + 1.0
    offset = np.repeat(np.arange(len(bounds) - 1) * span, np.diff(bounds))
    lifted += offset
    approx_end = np.maximum.accumulate(lifted)
    approx_end -= offset
    approx_end += total
    # a generous bound of the closed form's rounding (sums over every job, and the lift)
    scale = len(r) * max(abs(float(total[-1])), abs(high), abs(low), 1.0) + float(offset[-1]) + span
    margin = max(MARGIN_S, 8.0 * 2.0**-52 * scale)
    certain = first_of_server.copy()
    certain[1:] |= r[1:] > approx_end[:-1] + margin
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
    if workers == 1:
        return _one_worker(r, f, w, start, end, firsts, running, int(lengths[0]))
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


def _one_worker(
    r: FloatArray,
    f: FloatArray | None,
    w: FloatArray,
    start: FloatArray,
    end: FloatArray,
    firsts: IntArray,
    running: IntArray,
    longest: int,
) -> tuple[FloatArray, FloatArray]:
    """:func:`_segments` for one worker, the later jobs laid out position by position
    (all second jobs of a segment, then all third ones...), so that each pass reads and
    writes contiguous slices: the job before a segment's job at position ``p`` is the
    same segment's at ``p - 1``, at the same place in the previous slice."""
    if longest < 2:
        return start, end
    alive = running[1:longest].tolist()
    jobs = np.concatenate([firsts[:size] + position for position, size in enumerate(alive, 1)])
    began = r[jobs]
    work = w[jobs]
    first = f[jobs] if f is not None else None
    done = np.empty(len(jobs))
    previous = end[firsts[: alive[0]]]
    offset = 0
    for size in alive:
        here = slice(offset, offset + size)
        now = began[here]
        np.maximum(now, previous[:size], out=now)
        ended = done[here]
        if first is not None:
            np.add(now, first[here], out=ended)
            ended += work[here]
        else:
            np.add(now, work[here], out=ended)
        previous = ended
        offset += size
    start[jobs] = began
    end[jobs] = done
    return start, end


def schedule_drawing(
    server: IntArray,
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
    order, bounds = grouping if grouping is not None else group_by_server(server, servers)
    route = route_s[order].tolist()
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
        order,
        bounds,
        np.repeat(np.arange(servers, dtype=np.int64), np.diff(bounds)),
        route_s[order],
        np.asarray(first),
        np.asarray(start),
        np.asarray(end),
        workers,
    )
