"""One worker per server, jobs given in rotation: the schedule a row of the rotation at
a time.

With jobs given in rotation (round robin) over ``n`` servers, job ``k`` goes to the
server of column ``k % n``, and a server's jobs are one column of the rotation, in FIFO
order. A job starts at the later of its arrival and the end of the job before it; its
first timeout (the per-job overhead), then its work, are added to that: the DES's
operations, so the same bits whatever order the jobs are computed in, as long as each is
computed from the true end of the job before it.

:func:`one_worker_by_rows` computes a row of the rotation for every server at once: a
few numpy calls a row, about two microseconds whatever the servers. With many rows it
computes blocks of :data:`ROW_BLOCK` rows in lockstep instead, each block first as if
every server were idle when it starts; then it corrects each block from the true end of
the block before, one row at a time and only while that changes anything (a busy period
that crosses a block's first row); where a correction runs through a whole block (a busy
period longer than a block: a saturated server), the rest is computed row by row.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

ROW_SERVERS = 32
"""Servers in rotation from which the vector engine computes one worker's jobs by rows
(see :func:`simulator.model.vector_queue.schedule_by_server`): each row costs a few numpy
calls whatever the servers, where the busy periods' layout costs about 70 ns a job
(2026-12-02, 700,000 jobs on 50 servers, CPU time on this project's 2-core VM: 18-35 ms
row by row, 48-54 ms by busy periods)."""

ROW_BLOCK = 256
"""Rows computed in lockstep per block (with at least :data:`LOCKSTEP_BLOCKS` blocks):
the standard workload (700,000 jobs on 50 servers at utilisation 0.7) took 10 ms in
blocks against 36 ms row by row (CPU time, same VM)."""

LOCKSTEP_BLOCKS = 4
"""Fewer blocks than this: row by row (the lockstep would not pay for its correction)."""


def one_worker_by_rows(
    route_s: FloatArray,
    first_s: FloatArray | None,
    work_s: FloatArray,
    stride: int,
    end_s: FloatArray,
) -> None:
    """Ends of jobs given in rotation over ``stride`` servers of one worker each (job ``k``
    on the server of column ``k % stride``), into ``end_s``, all in the order given
    (seconds; ``first_s``: each job's first timeout, or ``None``)."""
    count = len(route_s)
    rows = count // stride
    full = rows * stride
    shape = (rows, stride)
    before = np.full(stride, -np.inf)
    if rows:
        before = _rows(
            route_s[:full].reshape(shape),
            None if first_s is None else first_s[:full].reshape(shape),
            work_s[:full].reshape(shape),
            end_s[:full].reshape(shape),
        )
    if count > full:  # the last row, part of the way round
        width = count - full
        _rows_from(
            route_s[full:].reshape(1, width),
            None if first_s is None else first_s[full:].reshape(1, width),
            work_s[full:].reshape(1, width),
            end_s[full:].reshape(1, width),
            before[:width],
        )


def _rows(r: FloatArray, f: FloatArray | None, w: FloatArray, e: FloatArray) -> FloatArray:
    """The rows ``r`` (routes), ``f`` and ``w`` (timeouts) into ``e`` (ends); returns the
    last row of ends."""
    rows, stride = int(r.shape[0]), int(r.shape[1])
    blocks = rows // ROW_BLOCK
    if blocks < LOCKSTEP_BLOCKS:
        return _rows_from(r, f, w, e, np.full(stride, -np.inf))
    main = blocks * ROW_BLOCK
    shape = (blocks, ROW_BLOCK, stride)
    _rows_from(  # every block's row j at once, as if every server were idle at its start
        r[:main].reshape(shape).swapaxes(0, 1),
        None if f is None else f[:main].reshape(shape).swapaxes(0, 1),
        w[:main].reshape(shape).swapaxes(0, 1),
        e[:main].reshape(shape).swapaxes(0, 1),
        np.full((blocks, stride), -np.inf),
    )
    again = _settle(r[:main], None if f is None else f[:main], w[:main], e[:main])
    return _rows_from(
        r[again:], None if f is None else f[again:], w[again:], e[again:], e[again - 1]
    )


def _settle(r: FloatArray, f: FloatArray | None, w: FloatArray, e: FloatArray) -> int:
    """Correct the blocks of ``e``, each computed as if every server were idle at its
    start, from the end of the block before: a job's end computed again from the true
    end of the one before, row after row while it differs from the one computed. Returns
    the first row to compute again row by row: the row after the first block whose last
    row changed (its next block started from a wrong end), else ``len(r)``."""
    rows, stride = int(r.shape[0]), int(r.shape[1])
    size = ROW_BLOCK * stride
    routes, works, ends = r.reshape(-1), w.reshape(-1), e.reshape(-1)
    firsts = None if f is None else f.reshape(-1)
    # each block's first row but the first block's (flat positions), from the row before
    at = (np.arange(size, rows * stride, size)[:, None] + np.arange(stride)).reshape(-1)
    before = ends[at - stride]
    for _ in range(ROW_BLOCK):
        ended = np.maximum(routes[at], before)
        if firsts is not None:
            ended += firsts[at]
        ended += works[at]
        changed = np.flatnonzero(ended != ends[at])
        ends[at] = ended
        if not len(changed):
            return rows
        at, before = at[changed] + stride, ended[changed]
    # changed through to a block's last row: the block after it, row by row
    return (int(at.min()) - stride) // size * ROW_BLOCK + ROW_BLOCK


def _rows_from(
    r: FloatArray, f: FloatArray | None, w: FloatArray, e: FloatArray, before: FloatArray
) -> FloatArray:
    """The rows one after the other from the ends ``before``; returns the last row of
    ends (``before`` if there is none)."""
    maximum, add = np.maximum, np.add
    if f is None:
        for arrived, work, ended in zip(r, w, e, strict=True):
            maximum(arrived, before, out=ended)
            add(ended, work, out=ended)
            before = ended
    else:
        for arrived, first, work, ended in zip(r, f, w, e, strict=True):
            maximum(arrived, before, out=ended)
            add(ended, first, out=ended)
            add(ended, work, out=ended)
            before = ended
    return before


BUSY_BLOCK = 1 << 15
"""Jobs :func:`busy_by_rows` sums at a time (whole rows: its temporaries stay in the
cache)."""


def busy_by_rows(
    route_s: FloatArray,
    end_s: FloatArray,
    stride: int,
    start_s: float,
    stop_s: float,
    answered_by_s: float | None,
) -> FloatArray:
    """Each column's worker time inside the window ``start_s..stop_s``, for jobs given in
    rotation over ``stride`` columns of one worker each (``route_s`` and ``end_s`` in the
    order given): a job's time is ``end - start`` (its start: the later of its route and
    the end of the job before it in its column), clipped to the window, and nothing for
    a job that ends after ``answered_by_s`` (if given: the DES stopped before).

    Each column's times are added one after another down the column (the order its jobs
    end) from 0.0, as the DES adds them: a block of rows at a time, the running sums
    stacked above the block and reduced along the rows (numpy adds the rows of a
    C-ordered table in turn, each column on its own: a running sum, not a pairwise
    one)."""
    count = len(end_s)
    rows, width = divmod(count, stride)
    total = np.zeros(stride)
    per = max(1, BUSY_BLOCK // stride)
    stack = np.empty((min(per, rows) + 1, stride))
    routes = route_s[: rows * stride].reshape(rows, stride)
    ends = end_s[: rows * stride].reshape(rows, stride)
    # jobs routed before the window may start before it (a job starts once routed)
    early = int(np.searchsorted(route_s, start_s, side="left"))
    for lo in range(0, rows, per):
        hi = min(lo + per, rows)
        part = stack[1 : hi - lo + 1]
        if lo == 0:
            part[0] = routes[0]
            np.maximum(routes[1:hi], ends[: hi - 1], out=part[1:])
        else:
            np.maximum(routes[lo:hi], ends[lo - 1 : hi - 1], out=part)
        # a column's ends do not decrease: a job ends after the window only if its
        # column's job in the block's last row does
        late = bool((ends[hi - 1] > stop_s).any())
        _time_in_window(part, ends[lo:hi], start_s, stop_s, early > lo * stride or late)
        if late and answered_by_s is not None:
            part[ends[lo:hi] > answered_by_s] = 0.0
        stack[0] = total
        total = np.add.reduce(stack[: hi - lo + 1], axis=0)
    if width:  # the last row, part of the way round
        tail = slice(rows * stride, count)
        began = route_s[tail].copy()
        if rows:
            np.maximum(began, end_s[(rows - 1) * stride : (rows - 1) * stride + width], out=began)
        ended = end_s[tail]
        _time_in_window(began, ended, start_s, stop_s, True)
        if answered_by_s is not None:
            began[ended > answered_by_s] = 0.0
        total[:width] = total[:width] + began
    return total


def _time_in_window(
    began: FloatArray, ended: FloatArray, start_s: float, stop_s: float, clip: bool
) -> None:
    """``began`` (starts) becomes each job's time: ``end - start``, or with ``clip``
    ``max(0, min(end, stop_s) - max(start, start_s))``, the same value for a job inside
    the window (the same operation on the same values: ``end >= start``)."""
    if not clip:
        np.subtract(ended, began, out=began)
        return
    np.maximum(began, start_s, out=began)
    np.subtract(np.minimum(ended, stop_s), began, out=began)
    np.maximum(began, 0.0, out=began)


PADDING = 1.25
"""The most a table of servers' jobs padded to the longest may hold, as a multiple of the
jobs (:func:`one_worker_by_columns`; beyond it, the busy periods' layout)."""


def fits_columns(bounds: npt.NDArray[np.int64]) -> bool:
    """Whether the servers' jobs (server ``i``'s at ``bounds[i]:bounds[i + 1]``) are even
    enough to be laid out as columns padded to the longest (see :data:`PADDING`)."""
    count = int(bounds[-1])
    longest = int(np.diff(bounds).max()) if len(bounds) > 1 else 0
    return count > 0 and longest * (len(bounds) - 1) <= PADDING * count


def one_worker_by_columns(
    route_s: FloatArray,
    first_s: FloatArray | None,
    work_s: FloatArray,
    bounds: npt.NDArray[np.int64],
    end_s: FloatArray,
) -> None:
    """:func:`one_worker_by_rows` for jobs grouped by server (server ``i``'s are
    ``bounds[i]:bounds[i + 1]`` of every array, in FIFO order), into ``end_s`` (grouped):
    each server's jobs are laid out as a column of a table padded to the longest column
    (a padding job arrives at infinity with no work, after every real one), whose rows
    are then computed as a rotation's."""
    servers = len(bounds) - 1
    longest = int(np.diff(bounds).max())
    limits = bounds.tolist()

    def table(values: FloatArray, pad: float) -> FloatArray:
        by_server = np.full((servers, longest), pad)
        for index, (lo, hi) in enumerate(itertools.pairwise(limits)):
            by_server[index, : hi - lo] = values[lo:hi]
        return np.ascontiguousarray(by_server.T)  # a row per position, a column per server

    ends = np.empty((longest, servers))
    _rows(
        table(route_s, np.inf),
        None if first_s is None else table(first_s, 0.0),
        table(work_s, 0.0),
        ends,
    )
    by_server = ends.T
    for index, (lo, hi) in enumerate(itertools.pairwise(limits)):
        end_s[lo:hi] = by_server[index, : hi - lo]
