"""The per-server time series: each server sampled a few times a bucket, cheaply.

A server's queue, busy workers and up state are sampled ``SAMPLES_PER_BUCKET`` times a
bucket, and the samples summed per bucket (:class:`~simulator.results.timeseries.ServerSampler`).
Reading every server at every sample costs servers x samples, whatever the traffic:
with 5,000 servers that was most of a run. Here a server is read only when it changed
since the last sample (it tells the sampler: :meth:`~simulator.model.cluster.Server.watch`);
until then it adds the value it had, for as many samples as it kept it, in one
multiplication per bucket when it next changes or at the end (:meth:`FleetSampler.settle`).
A server that changed but is back where it was at the sample (a job came and went: the
common case on a large, lightly loaded fleet) keeps owing the same value, untouched.
The sums are the same numbers as reading every server every time: whole numbers,
added exactly either way.

A bucket also keeps the last sessions count, state and routing seen of each server.
Sessions change inside the strategies, so their row is read at every sample (one
``len`` per server); state and routing change only when a server starts, stops or
crashes, or the balancer's view changes, and their rows are read again only then.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from simulator.model.balancer import ClusterView
from simulator.model.cluster import Server
from simulator.results.timeseries import SAMPLES_PER_BUCKET, ServerSampler


class FleetSampler:
    """Samples a growing list of servers into a :class:`ServerSampler`.

    Args:
        sampler: where the sums and last values go.
        servers: the fleet's servers (the list grows with scale-outs).
        view: the balancer's view (which servers it routes to).
    """

    def __init__(self, sampler: ServerSampler, servers: list[Server], view: ClusterView) -> None:
        self.sampler = sampler
        self._servers = servers
        self._view = view
        self._changed: list[Server] = []  # servers changed since the last sample
        self._held: list[tuple[int, int, int]] = []  # queue, up, busy last read, per server
        self._lives: list[int] = []  # each server's life-cycle count when last read
        self._owed_from: list[int] = []  # per server: first sample not yet added
        self._sample_buckets: list[int] = []  # the bucket of every sample taken
        self._version = -1  # the view's version when the state rows were read
        self._states: list[int] = []
        self._routed: list[bool] = []
        self._sessions: list[dict[int, int]] = []  # each server's sessions (never replaced)
        self._rows: dict[int, tuple[list[int], list[int], list[bool]]] = {}

    def process(self, env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        """A process: a sample every ``bucket / SAMPLES_PER_BUCKET`` seconds, in the
        middle of each step, until the end of the window."""
        buckets = self.sampler.buckets
        step_s = buckets.width_s / SAMPLES_PER_BUCKET
        yield env.timeout(buckets.start_s + step_s / 2 - env.now)
        while env.now < buckets.end_s:
            self.sample(env.now)
            yield env.timeout(step_s)

    def sample(self, time_s: float) -> None:
        """Take one sample of every server at ``time_s`` (ignored outside the window)."""
        sampler = self.sampler
        bucket = sampler.buckets.index(time_s)
        if bucket < 0:
            return
        index = len(self._sample_buckets)
        self._sample_buckets.append(bucket)
        sampler.samples[bucket] += 1
        servers = self._servers
        held, owed_from = self._held, self._owed_from
        while len(held) < len(servers):  # a new server: from this sample on
            server = servers[len(held)]
            sampler.add_server()
            held.append(_read(server))
            owed_from.append(index)
            self._lives.append(server.life)
            self._sessions.append(server.sessions)
            server.watch(self._changed)
        lived = False
        lives = self._lives
        for server in self._changed:
            now = _read(server)
            if now != held[server.index]:  # (back where it was: it keeps owing the same)
                self._settle(server.index, index)
                held[server.index] = now
            server.changed = False
            if lives[server.index] != server.life:
                lives[server.index] = server.life
                lived = True
        self._changed.clear()
        if lived or self._view.version != self._version or len(self._states) < len(servers):
            self._version = self._view.version
            is_live = self._view.is_live
            self._states = [server.state for server in servers]
            self._routed = [is_live(server.index) for server in servers]
        # (``map`` over the dicts themselves: a few times faster than reading each
        # server's attribute, which matters with thousands of servers)
        self._rows[bucket] = (list(map(len, self._sessions)), self._states, self._routed)

    def settle(self) -> None:
        """Add what every server owes up to the last sample, and write the last values
        seen in each bucket (call once the run is over)."""
        taken = len(self._sample_buckets)
        for server in range(len(self._held)):
            self._settle(server, taken)
        if not self._rows:
            return
        sampler = self.sampler
        rows = self._rows
        _transpose_into(sampler.last_sessions, [(b, row[0]) for b, row in rows.items()])
        _transpose_into(sampler.last_state, [(b, row[1]) for b, row in rows.items()])
        routed = [(b, row[2]) for b, row in rows.items()]
        _transpose_into(sampler.last_routed, routed, as_bool=True)  # type: ignore[arg-type]
        rows.clear()

    def _settle(self, server: int, until: int) -> None:
        """Add server ``server``'s held values for the samples from the first it owes up
        to ``until`` (excluded), bucket by bucket."""
        first = self._owed_from[server]
        if first >= until:
            return
        self._owed_from[server] = until
        queue, up, busy = self._held[server]
        buckets = self._sample_buckets
        sampler = self.sampler
        while first < until:
            bucket = buckets[first]
            end = bisect_right(buckets, bucket, first, until)
            count = end - first
            if queue:
                sampler.queue_sums[server][bucket] += queue * count
            if up:
                sampler.up_sums[server][bucket] += up * count
            if busy:
                sampler.busy_sums[server][bucket] += busy * count
            first = end


def _read(server: Server) -> tuple[int, int, int]:
    """A server's queue length, up state (1 or 0) and busy workers now."""
    queued = len(server.queue)
    return queued, int(server.up), server.in_system - queued


def _transpose_into(
    target: list[list[int]], rows: list[tuple[int, list[int]]], as_bool: bool = False
) -> None:
    """Write each ``(bucket, row)``'s values (one per server, from the first) into
    ``target[server][bucket]``: a transposition, made with numpy (a loop over servers x
    buckets took half a second with 5,000 servers)."""
    servers = max((len(row) for _, row in rows), default=0)
    table = np.asarray(target[:servers], dtype=np.int64)
    for bucket, row in rows:
        table[: len(row), bucket] = row
    values = table.astype(bool).tolist() if as_bool else table.tolist()
    for server, row in enumerate(values):
        target[server][:] = row
