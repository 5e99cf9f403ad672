"""Jobs grouped by server, for the vector engine: which of them each server serves, in
the order they reach it.

A grouping is the stable order that puts each server's jobs together (a sort by server),
or, when jobs go to servers in rotation (round robin), a stride per server: then no order
array is made, and a server's values are a strided view of the values given.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Grouping:
    """Jobs grouped by server: each server's jobs contiguous, in the order given.

    Attributes:
        bounds: server ``i``'s jobs are ``bounds[i]:bounds[i + 1]`` of the grouped order.
        given: the position (in the order given) of each grouped job; ``None`` with a
            ``stride`` (made when :attr:`order` is asked for).
        stride: when each server's jobs are every ``stride``-th job given (round robin),
            from ``heads[i]``, else ``None``.
        heads: with a ``stride``, the position given of each server's first job.
    """

    bounds: IntArray
    given: IntArray | None = None
    stride: int | None = None
    heads: list[int] | None = None

    @property
    def servers(self) -> int:
        """Number of servers."""
        return len(self.bounds) - 1

    @property
    def order(self) -> IntArray:
        """The position given of each grouped job."""
        if self.given is not None:
            return self.given
        assert self.stride is not None and self.heads is not None
        count = int(self.bounds[-1])
        order = np.empty(count, dtype=np.int64)
        for head, lo, hi in zip(
            self.heads, self.bounds[:-1].tolist(), self.bounds[1:].tolist(), strict=True
        ):
            order[lo:hi] = np.arange(head, head + (hi - lo) * self.stride, self.stride)
        return order

    def server_given(self) -> IntArray:
        """The server of each job, in the order given."""
        count = int(self.bounds[-1])
        if self.given is not None:
            server = np.empty(count, dtype=np.int64)
            server[self.given] = np.repeat(
                np.arange(self.servers, dtype=np.int64), np.diff(self.bounds)
            )
            return server
        assert self.stride is not None and self.heads is not None
        of_head = np.zeros(self.stride, dtype=np.int64)
        of_head[self.heads] = np.arange(self.servers, dtype=np.int64)
        return np.resize(of_head, count)  # position k: of_head[k % stride]

    def counts_between(self, edges: IntArray) -> IntArray:
        """Shape ``(servers, len(edges) - 1)``: each server's jobs whose position in the
        order given is in ``edges[b]:edges[b + 1]`` (``edges`` non-decreasing)."""
        edges = np.asarray(edges, dtype=np.int64)
        sizes = np.diff(self.bounds)
        if self.given is None:
            assert self.stride is not None and self.heads is not None
            heads = np.asarray(self.heads, dtype=np.int64)[:, None]
            # jobs head, head + stride, ... below an edge: ceil((edge - head) / stride)
            below = np.clip(-((heads - edges[None, :]) // self.stride), 0, sizes[:, None])
        else:
            below = np.empty((self.servers, len(edges)), dtype=np.int64)
            limits = self.bounds.tolist()
            for index, (lo, hi) in enumerate(itertools.pairwise(limits)):
                # a server's jobs keep the order given (the grouping is stable)
                below[index] = np.searchsorted(self.given[lo:hi], edges)
        counts: IntArray = np.diff(below, axis=1)
        return counts

    def of(self, values: FloatArray, index: int) -> FloatArray:
        """Server ``index``'s values, ``values`` being in the order given (with a stride,
        a view: no copy)."""
        lo, hi = int(self.bounds[index]), int(self.bounds[index + 1])
        if self.stride is None:
            assert self.given is not None
            return values[self.given[lo:hi]]
        assert self.heads is not None
        return values[self.heads[index] :: self.stride][: hi - lo]


GROUP_BLOCK = 1 << 16
"""Jobs :func:`group_by_server` makes keys for at a time (the temporaries stay small)."""


def group_by_server(server: IntArray, servers: int) -> Grouping:
    """The stable order that groups jobs by server, and each server's bounds in it."""
    count = len(server)
    width = max(1, (count - 1).bit_length())
    if count and width + max(1, (servers - 1).bit_length()) <= 32:
        # keys ``server << width | position`` are distinct: numpy's (vectorised) sort of
        # 32-bit integers, no index carried along, is faster than a stable argsort
        key = np.empty(count, dtype=np.uint32)
        position = np.arange(min(count, GROUP_BLOCK), dtype=np.uint32)
        for lo in range(0, count, GROUP_BLOCK):  # a block at a time: small temporaries
            part = key[lo : lo + GROUP_BLOCK]
            np.left_shift(server[lo : lo + GROUP_BLOCK], width, out=part, casting="unsafe")
            part |= position[: len(part)]
            position += np.uint32(len(part))
        key.sort()
        order = np.empty(count, dtype=np.int64)
        np.bitwise_and(key, np.uint32((1 << width) - 1), out=order)
    else:
        small = server.astype(np.uint16) if servers <= 1 << 16 else server
        order = np.argsort(small, kind="stable")  # a radix sort for up to 65,536 servers
    bounds = np.zeros(servers + 1, dtype=np.int64)
    np.cumsum(np.bincount(server, minlength=servers), out=bounds[1:])
    return Grouping(bounds, given=order)


def group_round_robin(count: int, servers: int, offset: int) -> Grouping:
    """:func:`group_by_server` of jobs ``k`` on servers ``(k + offset) % servers``,
    without sorting (and without an order array: each server's jobs are a stride)."""
    first = ((np.arange(servers, dtype=np.int64) - offset) % servers).tolist()
    sizes = [max(0, -(-(count - start) // servers)) for start in first]
    bounds = np.zeros(servers + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    return Grouping(bounds, stride=servers, heads=first)


def take_grouped(
    values: FloatArray,
    grouping: Grouping,
    servers: slice | None = None,
    out: FloatArray | None = None,
) -> FloatArray:
    """``values[grouping.order]``; with a stride, a strided slice per server instead of a
    gather. With ``servers``, only those servers' jobs (servers ``a:b``: grouped
    positions ``bounds[a]:bounds[b]``), into ``out`` if given."""
    bounds = grouping.bounds
    first, last = (0, len(bounds) - 1) if servers is None else (servers.start, servers.stop)
    base, top = int(bounds[first]), int(bounds[last])
    grouped = np.empty(top - base, dtype=values.dtype) if out is None else out[: top - base]
    if grouping.given is not None:
        np.take(values, grouping.given[base:top], out=grouped, mode="clip")  # (no index is out)
        return grouped
    assert grouping.heads is not None and grouping.stride is not None
    limits = bounds[first : last + 1].tolist()
    stride = grouping.stride
    for head, lo, hi in zip(grouping.heads[first:last], limits[:-1], limits[1:], strict=True):
        if hi > lo:
            grouped[lo - base : hi - base] = values[head::stride][: hi - lo]
    return grouped


def put_grouped(grouped: FloatArray, grouping: Grouping, out: FloatArray) -> None:
    """``out[grouping.order] = grouped`` (see :func:`take_grouped`)."""
    if grouping.given is not None:
        out[grouping.given] = grouped
        return
    assert grouping.heads is not None and grouping.stride is not None
    limits = grouping.bounds.tolist()
    stride = grouping.stride
    for head, lo, hi in zip(grouping.heads, limits[:-1], limits[1:], strict=True):
        if hi > lo:
            out[head::stride][: hi - lo] = grouped[lo:hi]
