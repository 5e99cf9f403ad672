"""The Redis-like session store: one single-threaded FIFO server behind a network hop.

Every operation travels half a round trip to the store, waits for the operations ahead
of it, takes an exponential ``op_time_ms``, and travels half a round trip back. Because
the store is one FIFO server and every operation reaches it ``rtt/2`` after it is sent,
the start of an operation is known when it is sent (Lindley's recursion:
``start = max(arrival, previous end)``), so one operation costs a single timeout.

Each server reaches the store through a pool of ``pool_size`` connections; a worker that
finds every connection busy waits for one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

import simpy

from simulator.model.rng import DrawBuffer


class _Pool:
    """A counting semaphore that creates an event only when someone must wait."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[simpy.Event] = deque()


class SessionStore:
    """The shared store.

    Args:
        env: the simulation environment.
        rtt_ms: network round trip between a server and the store, ms.
        op_times_s: draws of the time one operation occupies the store, seconds.
        pool_size: connections per server.
        servers: number of servers (one pool each).
        warmup_s: start of the measured window, seconds.
        end_s: end of the measured window, seconds.

    Attributes:
        up: whether the store is reachable.
        data: what the store holds (session key -> session id).
        denylist: ids of revoked tokens.
        ops: operations sent inside the measured window (not while queued requests drain
            after it), so ``ops / window`` never exceeds what the store could serve.
        busy_s: time the store was busy inside the measured window, seconds (so
            ``busy_s / window`` is its utilisation, at most 1).
        answered: operations sent while measuring that got an answer.
        latency_s: summed time from sending an answered operation to its reply, seconds.
    """

    def __init__(
        self,
        env: simpy.Environment,
        rtt_ms: float,
        op_times_s: DrawBuffer,
        pool_size: int,
        servers: int,
        warmup_s: float,
        end_s: float = float("inf"),
    ) -> None:
        self._env = env
        self._half_rtt_s = rtt_ms / 2000.0
        self._extra_s = 0.0
        self._op_times_s = op_times_s
        self._pool_size = pool_size
        self._pools = [_Pool(pool_size) for _ in range(servers)]
        self._free_at = 0.0
        self._warmup_s = warmup_s
        self._end_s = end_s
        self._epoch = 0
        self.up = True
        self.data: dict[int, int] = {}
        self.denylist: set[int] = set()
        self.ops = 0
        self.busy_s = 0.0
        self.answered = 0
        self.latency_s = 0.0

    # --------------------------------------------------------------- operations

    def round_trip(self, server: int) -> Generator[simpy.Event, Any, bool]:
        """One operation from ``server``: wait for a connection, send, queue, reply.

        Returns:
            ``True`` when the store answered; ``False`` when it was down when the
            operation was sent (the failure is known after one network round trip) or
            went down before the reply.
        """
        env = self._env
        pool = self._pools[server]
        sent = env.now
        if pool.free:
            pool.free -= 1
        else:
            wait = env.event()
            pool.waiters.append(wait)
            yield wait
        now = env.now
        measured = self._warmup_s <= sent < self._end_s
        if self.up:
            epoch = self._epoch
            start = max(now + self._half_rtt_s, self._free_at)
            op_s = self._op_times_s.next()
            self._free_at = start + op_s
            reply_at = self._free_at + self._half_rtt_s + self._extra_s
            if measured:
                self.ops += 1
            self.busy_s += max(0.0, min(self._free_at, self._end_s) - max(start, self._warmup_s))
            yield env.timeout(reply_at - now)
            answered = self._epoch == epoch
        else:
            yield env.timeout(2 * self._half_rtt_s + self._extra_s)
            answered = False
        self._release(pool)
        if answered and measured:
            self.answered += 1
            self.latency_s += env.now - sent
        return answered

    def _release(self, pool: _Pool) -> None:
        if pool.waiters:
            pool.waiters.popleft().succeed()
        else:
            pool.free += 1

    # ------------------------------------------------------------------ changes

    def add_pool(self) -> None:
        """Give a new server its connection pool (scale-out)."""
        self._pools.append(_Pool(self._pool_size))

    def reset_pool(self, server: int) -> None:
        """Drop every connection of a crashed server (its operations were abandoned)."""
        self._pools[server] = _Pool(self._pool_size)

    def set_down(self, down: bool, data_lost: bool = False) -> None:
        """Start or end an outage.

        Going down drops the operations queued in the store; operations in flight
        across either edge fail. With ``data_lost`` the store comes back empty.
        """
        self._epoch += 1
        self.up = not down
        if down:
            self._free_at = self._env.now
        elif data_lost:
            self.data.clear()

    def add_delay(self, extra_s: float) -> None:
        """Add network delay to every operation's reply (negative to remove it)."""
        self._extra_s = max(0.0, self._extra_s + extra_s)
