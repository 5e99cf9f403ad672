"""Jobs grouped by server, for the vector engine: which of them each server serves, in
the order they reach it.

A grouping puts each server's jobs together, in the order the jobs were given. Two kinds
behind one protocol: :class:`SortedGrouping`, a stable sort by server (any routing), and
:class:`StrideGrouping`, when jobs go to servers in rotation (round robin): then no order
array is made, and a server's values are a strided view of the values given.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MOD_BLOCK = 1 << 15
"""Jobs :meth:`StrideGrouping.server_at` finds the server of at a time (a small quotient
array, reused)."""


class Grouping(Protocol):
    """Jobs grouped by server: each server's jobs contiguous, in the order given."""

    bounds: IntArray
    """Server ``i``'s jobs are ``bounds[i]:bounds[i + 1]`` of the grouped order."""

    views: bool
    """Whether a server's values (:meth:`of`) are views of the values given, cheap to
    take again (otherwise each is a gather: keep grouped copies of what is read often)."""

    @property
    def rotation(self) -> int | None:
        """``n`` if the jobs are given in rotation over ``n`` servers (job ``k`` on the
        server of column ``k % n``, every server's jobs a column), else ``None``."""
        ...

    @property
    def order(self) -> IntArray:
        """The position given of each grouped job."""
        ...

    def of(self, values: FloatArray, index: int) -> FloatArray:
        """Server ``index``'s values, ``values`` being in the order given."""
        ...

    def take(
        self, values: FloatArray, servers: slice | None = None, out: FloatArray | None = None
    ) -> FloatArray:
        """``values[order]``; with ``servers``, only those servers' jobs (servers ``a:b``:
        grouped positions ``bounds[a]:bounds[b]``), into ``out`` if given."""
        ...

    def put(self, grouped: FloatArray, out: FloatArray) -> None:
        """``out[order] = grouped``."""
        ...

    def server_given(self) -> IntArray:
        """The server of each job, in the order given."""
        ...

    def server_at(self, positions: IntArray, out: IntArray | None = None) -> IntArray:
        """The server of the jobs at ``positions`` of the order given (into ``out``, of
        the same length, if given)."""
        ...

    def below(self, edges: IntArray, servers: slice | None = None) -> IntArray:
        """Shape ``(servers, len(edges))``: each server's jobs whose position given is
        below each edge (``servers``: only those servers, ``a:b``)."""
        ...


def counts_between(grouping: Grouping, edges: IntArray) -> IntArray:
    """Shape ``(servers, len(edges) - 1)``: each server's jobs whose position in the order
    given is in ``edges[b]:edges[b + 1]`` (``edges`` non-decreasing)."""
    counts: IntArray = np.diff(grouping.below(np.asarray(edges, dtype=np.int64)), axis=1)
    return counts


def _server_range(count: int, servers: slice | None) -> tuple[int, int]:
    """The first and last (excluded) server of ``servers`` (``a:b``; ``None``: all
    ``count``)."""
    return (0, count) if servers is None else (servers.start, servers.stop)


def _destination(
    bounds: IntArray, servers: slice | None, values: FloatArray, out: FloatArray | None
) -> tuple[int, int, int, FloatArray]:
    """For :meth:`Grouping.take`: the first and last (excluded) server of ``servers``
    (all: ``None``), their first grouped position, and where their values go (``out``, or
    a new array)."""
    first, last = _server_range(len(bounds) - 1, servers)
    base, top = int(bounds[first]), int(bounds[last])
    grouped = np.empty(top - base, dtype=values.dtype) if out is None else out[: top - base]
    return first, last, base, grouped


@dataclass
class SortedGrouping:
    """Jobs grouped by a stable sort by server.

    Attributes:
        bounds: server ``i``'s jobs are ``bounds[i]:bounds[i + 1]`` of the grouped order.
        given: the position given of each grouped job.
    """

    bounds: IntArray
    given: IntArray
    views = False

    @property
    def rotation(self) -> int | None:
        return None

    @property
    def order(self) -> IntArray:
        return self.given

    def of(self, values: FloatArray, index: int) -> FloatArray:
        lo, hi = int(self.bounds[index]), int(self.bounds[index + 1])
        return values[self.given[lo:hi]]

    def take(
        self, values: FloatArray, servers: slice | None = None, out: FloatArray | None = None
    ) -> FloatArray:
        _, _, base, grouped = _destination(self.bounds, servers, values, out)
        positions = self.given[base : base + len(grouped)]
        np.take(values, positions, out=grouped, mode="clip")  # (no index is out)
        return grouped

    def put(self, grouped: FloatArray, out: FloatArray) -> None:
        out[self.given] = grouped

    def server_given(self) -> IntArray:
        server = np.empty(len(self.given), dtype=np.int64)
        server[self.given] = np.repeat(
            np.arange(len(self.bounds) - 1, dtype=np.int64), np.diff(self.bounds)
        )
        return server

    def server_at(self, positions: IntArray, out: IntArray | None = None) -> IntArray:
        return np.take(self.server_given(), positions, out=out, mode="clip")  # (all valid)

    def below(self, edges: IntArray, servers: slice | None = None) -> IntArray:
        first, last = _server_range(len(self.bounds) - 1, servers)
        limits = self.bounds[first : last + 1].tolist()
        below = np.empty((last - first, len(edges)), dtype=np.int64)
        for index, (lo, hi) in enumerate(itertools.pairwise(limits)):
            # a server's jobs keep the order given (the sort is stable)
            below[index] = np.searchsorted(self.given[lo:hi], edges)
        return below


@dataclass
class StrideGrouping:
    """Jobs given in rotation: server ``i``'s are every ``stride``-th from ``heads[i]``.

    Attributes:
        bounds: server ``i``'s jobs are ``bounds[i]:bounds[i + 1]`` of the grouped order.
        stride: the rotation's length (the number of servers).
        heads: the position given of each server's first job.
    """

    bounds: IntArray
    stride: int
    heads: list[int]
    views = True

    @property
    def rotation(self) -> int | None:
        if len(self.heads) == self.stride and sorted(self.heads) == list(range(self.stride)):
            return self.stride
        return None

    @property
    def order(self) -> IntArray:
        order = np.empty(int(self.bounds[-1]), dtype=np.int64)
        limits = self.bounds.tolist()
        for head, lo, hi in zip(self.heads, limits[:-1], limits[1:], strict=True):
            order[lo:hi] = np.arange(head, head + (hi - lo) * self.stride, self.stride)
        return order

    def of(self, values: FloatArray, index: int) -> FloatArray:
        lo, hi = int(self.bounds[index]), int(self.bounds[index + 1])
        return values[self.heads[index] :: self.stride][: hi - lo]  # a view: no copy

    def take(
        self, values: FloatArray, servers: slice | None = None, out: FloatArray | None = None
    ) -> FloatArray:
        first, last, base, grouped = _destination(self.bounds, servers, values, out)
        limits = self.bounds[first : last + 1].tolist()
        for head, lo, hi in zip(self.heads[first:last], limits[:-1], limits[1:], strict=True):
            if hi > lo:  # a strided slice per server instead of a gather
                grouped[lo - base : hi - base] = values[head :: self.stride][: hi - lo]
        return grouped

    def put(self, grouped: FloatArray, out: FloatArray) -> None:
        limits = self.bounds.tolist()
        for head, lo, hi in zip(self.heads, limits[:-1], limits[1:], strict=True):
            if hi > lo:
                out[head :: self.stride][: hi - lo] = grouped[lo:hi]

    def server_given(self) -> IntArray:
        return np.resize(self._of_head(), int(self.bounds[-1]))  # k: of_head[k % stride]

    def server_at(self, positions: IntArray, out: IntArray | None = None) -> IntArray:
        heads, stride = self.heads, self.stride
        count = int(self.bounds[-1])
        in_turn = [(heads[0] + i) % stride for i in range(stride)]
        if len(heads) == stride and heads == in_turn and count + stride < 1 << 32:
            # a rotation (round robin): the job at position k (below ``count``) is on
            # (k + stride - heads[0]) % stride, computed on 32-bit integers as
            # x - (x // stride) * stride: numpy divides unsigned 32-bit integers by a
            # scalar with a multiplication, several times faster than 64-bit ones (or
            # than a remainder), a block at a time into small reused arrays
            shift = stride - heads[0]
            servers: IntArray = np.empty(len(positions), np.int64) if out is None else out
            size = min(len(positions), MOD_BLOCK)
            shifted = np.empty(size, dtype=np.uint32)
            quotient = np.empty(size, dtype=np.uint32)
            divisor = np.uint32(stride)
            for lo in range(0, len(positions), MOD_BLOCK):
                part = positions[lo : lo + MOD_BLOCK]
                x = np.add(part, shift, out=shifted[: len(part)], casting="unsafe")
                whole = np.floor_divide(x, divisor, out=quotient[: len(part)])
                whole *= divisor
                x -= whole
                servers[lo : lo + len(part)] = x
            return servers
        return np.take(self._of_head(), positions % stride, out=out, mode="clip")

    def _of_head(self) -> IntArray:
        """The server whose first job is at each position below ``stride``."""
        of_head = np.zeros(self.stride, dtype=np.int64)
        of_head[self.heads] = np.arange(len(self.heads), dtype=np.int64)
        return of_head

    def below(self, edges: IntArray, servers: slice | None = None) -> IntArray:
        first, last = _server_range(len(self.heads), servers)
        heads = np.asarray(self.heads[first:last], dtype=np.int64)[:, None]
        sizes = np.diff(self.bounds[first : last + 1])[:, None]
        # jobs head, head + stride, ... below an edge: ceil((edge - head) / stride)
        below: IntArray = np.clip(-((heads - edges[None, :]) // self.stride), 0, sizes)
        return below


GROUP_BLOCK = 1 << 16
"""Jobs :func:`group_by_server` makes keys for at a time (the temporaries stay small)."""


def group_by_server(server: IntArray, servers: int) -> SortedGrouping:
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
    return SortedGrouping(bounds, order)


def group_round_robin(count: int, servers: int, offset: int) -> StrideGrouping:
    """:func:`group_by_server` of jobs ``k`` on servers ``(k + offset) % servers``,
    without sorting (and without an order array: each server's jobs are a stride)."""
    first = ((np.arange(servers, dtype=np.int64) - offset) % servers).tolist()
    sizes = [max(0, -(-(count - start) // servers)) for start in first]
    bounds = np.zeros(servers + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    return StrideGrouping(bounds, servers, first)
