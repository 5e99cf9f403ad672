"""The Redis-like session store: shards of single-threaded nodes behind a network hop.

Topology (``shared_store`` in the scenario), as Redis is deployed:

- **Shards.** Keys (users) are hashed onto ``shards`` shards, as Redis Cluster maps keys
  to 16,384 hash slots split between its primaries. Each shard is its own
  single-threaded queue: capacity grows with the shards, and a shard that fails takes
  down about ``1/shards`` of the users.
- **Replicas.** Each shard has a primary and ``replicas`` replicas (each a node with its
  own queue). Writes go to the primary; reads go to the primary, or with
  ``read_from: replicas`` to the replicas in turn. Replication is asynchronous: a
  replica lags by ``replication_lag_ms`` (see :mod:`simulator.model.store_data`).
- **Failover.** When a primary crashes, its shard takes no writes (nor, reading from the
  primary, reads) until a replica is promoted ``failover_s`` later (Sentinel's
  ``down-after-milliseconds`` plus an election); writes younger than the lag are lost.

Every operation travels half a round trip to its node, waits for the operations ahead of
it, takes an exponential ``op_time_ms``, and travels half a round trip back. Because a
node is one FIFO server and every operation reaches it ``rtt/2`` after it is sent, the
start of an operation is known when it is sent (Lindley's recursion:
``start = max(arrival, previous end)``), so one operation costs a single timeout; and
where nothing can change a read's answer before it is back, none
(:meth:`SessionStore.answer_at`, used by :class:`~simulator.model.service.Service`).
With a varying round trip (``rtt_distribution``), or from a server in another region
than the store (``regions``: ``cross_region_rtt_ms`` more each way and back), operations
no longer arrive in the order they were sent: each then travels first and queues on
arrival (two timeouts per operation).

Each server reaches each shard through a pool of ``pool_size`` connections; a worker
that finds every connection busy waits for one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, Final

import simpy

from simulator.model.rng import DrawBuffer, hash64
from simulator.model.store_data import StoreData

HASH_SLOTS: Final = 16_384
"""Redis Cluster's number of hash slots; shards own equal runs of them."""

DENYLIST_KEY: Final = -1
"""The key of the token denylist (one Redis set, so it lives on one shard)."""


Reply = Callable[[Any, bool], None]
"""``reply(token, answered)``: an operation's answer came back (see
:meth:`SessionStore.round_trip`)."""


class _Pool:
    """A counting semaphore that creates an event only when someone must wait."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[simpy.Event] = deque()


class StoreNode:
    """One Redis process: a single-threaded FIFO server.

    Attributes:
        up: whether the process is running.
        epoch: bumped when it goes down, so operations in flight learn they failed.
        free_at_s: when it finishes the operations already queued, seconds.
        busy_s: time it was busy inside the measured window, seconds.
    """

    __slots__ = ("busy_s", "epoch", "free_at_s", "up")

    def __init__(self) -> None:
        self.up = True
        self.epoch = 0
        self.free_at_s = 0.0
        self.busy_s = 0.0

    def fail(self, now_s: float) -> None:
        """The process dies: its queued and in-flight operations fail."""
        self.up = False
        self.epoch += 1
        self.free_at_s = now_s


class Shard:
    """A primary (``nodes[0]``) and its replicas."""

    __slots__ = ("index", "next_replica", "nodes")

    def __init__(self, index: int, replicas: int) -> None:
        self.index = index
        self.nodes = [StoreNode() for _ in range(1 + replicas)]
        self.next_replica = 0

    @property
    def primary(self) -> StoreNode:
        """The node that takes writes."""
        return self.nodes[0]

    def live_replicas(self) -> list[StoreNode]:
        """Replicas that are running."""
        return [node for node in self.nodes[1:] if node.up]

    def node_for(self, write: bool, from_replicas: bool) -> StoreNode | None:
        """The node an operation goes to (``None``: none can serve it)."""
        if write or not from_replicas:
            return self.nodes[0] if self.nodes[0].up else None
        replicas = self.live_replicas()
        if not replicas:
            return self.nodes[0] if self.nodes[0].up else None
        self.next_replica += 1
        return replicas[self.next_replica % len(replicas)]


_Answer = tuple[int, list[_Pool], Shard, StoreNode | None, int, int, bool, float, Reply, Any]
"""An answer on its way back: server, its pools, shard, node (``None``: none took the
operation), the node's and the store's epochs when it was sent, measured, sent at, reply
and its token."""


class SessionStore:
    """The shared store.

    Args:
        env: the simulation environment.
        rtt_ms: network round trip between a server and the store, ms.
        op_times_s: draws of the time one operation occupies a node, seconds.
        pool_size: connections per server to each shard.
        servers: number of servers (one pool each per shard).
        warmup_s: start of the measured window, seconds.
        end_s: end of the measured window, seconds.
        shards: number of shards.
        replicas: replicas per shard.
        read_from: ``primary`` or ``replicas``.
        replication_lag_ms: how far replicas lag behind their primary, ms.
        failover_s: from a primary's crash to a promoted replica serving, seconds.
        rtt_draws_s: draws of each operation's round trip, seconds (``None``: always
            ``rtt_ms``); split evenly between the way there and the way back.
        cross_region_rtt_ms: added to the round trip of a server outside the store's
            region, ms.
        remote: whether a server (by index) is outside the store's region.

    Attributes:
        up: whether the store is reachable at all (``False`` during a store outage).
        data: what the store holds (see :class:`~simulator.model.store_data.StoreData`).
        ops: operations sent inside the measured window (not while queued requests drain
            after it), so ``ops / window`` never exceeds what the store could serve.
        answered: operations sent while measuring that got an answer.
        latency_s: summed time from sending an answered operation to its reply, seconds
            (kept in whole picoseconds, so that the sum does not depend on the order in
            which answers are counted: see :meth:`answer_at`).
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
        *,
        shards: int = 1,
        replicas: int = 0,
        read_from: str = "primary",
        replication_lag_ms: float = 0.0,
        failover_s: float = 30.0,
        rtt_draws_s: DrawBuffer | None = None,
        cross_region_rtt_ms: float = 0.0,
        remote: Callable[[int], bool] | None = None,
    ) -> None:
        self._env = env
        # an answer on its way back needs no event to wait on: the cheaper call where the
        # environment has one (see simulator.model.environment)
        self._later: Callable[[float, Callable[[Any], None], Any], None] = getattr(
            env,
            "call_later",
            lambda delay_s, function, arg: env.timeout(delay_s).callbacks.append(
                lambda _: function(arg)
            ),
        )
        self._answer_call = self._answer  # one bound method for every operation
        self._half_rtt_s = rtt_ms / 2000.0
        self._rtt_draws_s = rtt_draws_s
        self._cross_half_s = cross_region_rtt_ms / 2000.0
        self._remote = remote
        self._extra_half_s: list[float] = [self._server_extra_s(i) for i in range(servers)]
        self._extra_s = 0.0
        self._op_times_s = op_times_s
        self._pool_size = pool_size
        self.shards = [Shard(index, replicas) for index in range(shards)]
        self._pools = [self._new_pools() for _ in range(servers)]
        self._from_replicas = read_from == "replicas" and replicas > 0
        self._lag_s = replication_lag_ms / 1000.0 if replicas else 0.0
        self._failover_s = failover_s
        self._warmup_s = warmup_s
        self._end_s = end_s
        self._epoch = 0
        self.up = True
        self.data = StoreData(self._lag_s)
        self.ops = 0
        self.answered = 0
        self._latency_ps = 0

    def _new_pools(self) -> list[_Pool]:
        return [_Pool(self._pool_size) for _ in self.shards]

    def shard_of(self, key: int) -> Shard:
        """The shard that holds ``key``: its hash slot, in equal runs of slots per shard."""
        shards = self.shards
        if len(shards) == 1:
            return shards[0]
        slot = hash64(key & 0xFFFFFFFFFFFFFFFF) % HASH_SLOTS
        return shards[slot * len(shards) // HASH_SLOTS]

    # --------------------------------------------------------------- operations

    def round_trip(
        self, server: int, key: int, write: bool, reply: Reply, token: Any = None
    ) -> None:
        """One operation on ``key`` from ``server``: wait for a connection, send, queue,
        reply.

        ``reply(token, answered)`` is called when the answer comes back (``token`` is the
        caller's, passed through so that it needs no closure): ``answered`` is ``True``
        when the store answered; ``False`` when no node could take it when it was sent
        (the failure is known after one network round trip) or its node went down before
        the reply. An
        operation of a server that crashed meanwhile (:meth:`reset_pool`) is abandoned:
        it gets no reply and counts as no answer.
        """
        pools = self._pools[server]
        shards = self.shards
        shard = shards[0] if len(shards) == 1 else self.shard_of(key)
        pool = pools[shard.index]
        sent_s = self._env.now
        if pool.free:
            pool.free -= 1
            if self._rtt_draws_s is None and not self._extra_half_s[server]:
                # the common case, without a call: see _send
                half_s = self._half_rtt_s
                arrival_s = sent_s + half_s
                self._queue(server, shard, write, reply, token, pools, sent_s, half_s, arrival_s)
            else:
                self._send(server, key, write, reply, token, pools, sent_s)
        else:
            send = partial(self._send, server, key, write, reply, token, pools, sent_s)
            self._wait_for_connection(pool, send)

    def _wait_for_connection(self, pool: _Pool, send: Callable[[], None]) -> None:
        """Every connection of the pool is busy: ``send()`` once one is free.

        (The closure is made here, not in :meth:`round_trip`: a function that makes one
        keeps its captured variables in cells, created on every call, taken or not.)
        """
        wait = self._env.event()
        wait.callbacks.append(lambda _: send())
        pool.waiters.append(wait)

    def operation(self, server: int, key: int, write: bool = False) -> simpy.Event:
        """:meth:`round_trip` as an event for a process to wait on: it fires with
        ``answered`` when the reply is back (after the reply, in the same instant)."""
        done = self._env.event()

        def reply(_: Any, answered: bool) -> None:
            done.succeed(answered)

        self.round_trip(server, key, write, reply)
        return done

    def _send(
        self,
        server: int,
        key: int,
        write: bool,
        reply: Reply,
        token: Any,
        pools: list[_Pool],
        sent_s: float,
    ) -> None:
        """The operation leaves ``server`` on a connection of its pool."""
        if self._pools[server] is not pools:
            return  # the server crashed while the operation waited for a connection
        env = self._env
        shard = self.shard_of(key)
        draws, extra_half_s = self._rtt_draws_s, self._extra_half_s[server]
        if draws is None and not extra_half_s:
            # Every operation takes the same way there: they reach the node in the order
            # they are sent, so the queue is known now (one timeout per operation).
            half_s = self._half_rtt_s
            arrival_s = env.now + half_s
            self._queue(server, shard, write, reply, token, pools, sent_s, half_s, arrival_s)
            return
        # Ways that differ (a drawn round trip, another region) reorder operations:
        # travel first, then queue in the order of arrival.
        half_s = (draws.next() / 2 if draws is not None else self._half_rtt_s) + extra_half_s

        def arrived(_: simpy.Event) -> None:
            if self._pools[server] is pools:
                self._queue(server, shard, write, reply, token, pools, sent_s, half_s, env.now)

        env.timeout(half_s).callbacks.append(arrived)

    def _queue(
        self,
        server: int,
        shard: Shard,
        write: bool,
        reply: Reply,
        token: Any,
        pools: list[_Pool],
        sent_s: float,
        half_s: float,
        arrival_s: float,
    ) -> None:
        """The operation reaches ``shard`` at ``arrival_s``: it queues on its node (or
        finds none), and its answer is on its way back."""
        now = self._env.now
        measured = self._warmup_s <= sent_s < self._end_s
        if not self.up:
            node = None
        elif write or not self._from_replicas:
            primary = shard.nodes[0]
            node = primary if primary.up else None
        else:
            node = shard.node_for(write, True)
        store_epoch = self._epoch
        if node is not None:
            epoch = node.epoch
            back_s = self._occupy(node, arrival_s, measured) + half_s + self._extra_s - now
        else:
            epoch = -1
            back_s = arrival_s + half_s + self._extra_s - now

        self._later(
            back_s,
            self._answer_call,
            (server, pools, shard, node, epoch, store_epoch, measured, sent_s, reply, token),
        )

    def _answer(self, operation: _Answer) -> None:
        """An answer is back at its server: free the connection, count it, reply."""
        server, pools, shard, node, epoch, store_epoch, measured, sent_s, reply, token = operation
        if self._pools[server] is not pools:
            return  # the server crashed: nobody waits for this answer
        answered = node is not None and node.epoch == epoch and self._epoch == store_epoch
        pool = pools[shard.index]
        if pool.waiters:
            pool.waiters.popleft().succeed()
        else:
            pool.free += 1
        if answered and measured:
            self.answered += 1
            self._latency_ps += round((self._env.now - sent_s) * 1e12)
        reply(token, answered)

    def _occupy(self, node: StoreNode, arrival_s: float, measured: bool) -> float:
        """An operation that reaches ``node`` at ``arrival_s`` queues behind the ones
        before it and takes an operation time; returns when it ends, seconds."""
        free_at_s = node.free_at_s
        start = arrival_s if arrival_s >= free_at_s else free_at_s
        node.free_at_s = end = start + self._op_times_s.next()
        if measured:
            self.ops += 1
        if start >= self._warmup_s and end <= self._end_s:
            node.busy_s += end - start
        else:  # the operation straddles an edge of the measured window
            node.busy_s += max(0.0, min(end, self._end_s) - max(start, self._warmup_s))
        return end

    # ------------------------------------------------- answers known when sent

    def answers_in_order(self, workers: int) -> bool:
        """Whether a key's operations are answered in the order they are sent, each at a
        time known when it is sent: reads go to the primary (as writes do), the round
        trip is fixed, no server is outside the store's region, and no operation waits
        for a connection (a pool of at least ``workers`` per server). With no event
        (no outage, crash or delay), :meth:`answer_at` then stands for
        :meth:`round_trip`."""
        return (
            not self._from_replicas
            and self._rtt_draws_s is None
            and not any(self._extra_half_s)
            and self._pool_size >= workers
        )

    def answer_at(self, key: int) -> float | None:
        """A read of ``key``, sent now from any server, whose answer needs no event: it
        queues on its shard's primary as :meth:`round_trip`'s would, is counted as sent and
        answered, and its answer's time is returned, seconds (``None``: the primary cannot
        take it now; use :meth:`round_trip`).

        Only where :meth:`answers_in_order` holds and no event can come (its connection
        is not taken: none is ever waited for), and the caller must see the read through
        (or :meth:`forget_answer` it if the run stops before that time).
        """
        if not self.up:
            return None
        shards = self.shards
        node = (shards[0] if len(shards) == 1 else self.shard_of(key)).nodes[0]
        if not node.up:
            return None
        now = self._env.now
        measured = self._warmup_s <= now < self._end_s
        # the time round_trip's answer would be called at (now + its delay, in floats)
        answer_s = now + (
            self._occupy(node, now + self._half_rtt_s, measured)
            + self._half_rtt_s
            + self._extra_s
            - now
        )
        if measured:
            self.answered += 1
            self._latency_ps += round((answer_s - now) * 1e12)
        return answer_s

    def forget_answer(self, sent_s: float, answer_s: float) -> None:
        """The run stopped before the answer of an :meth:`answer_at` read sent at
        ``sent_s`` came back (at ``answer_s``): it was not answered."""
        if self._warmup_s <= sent_s < self._end_s:
            self.answered -= 1
            self._latency_ps -= round((answer_s - sent_s) * 1e12)

    @property
    def latency_s(self) -> float:
        """Summed time from sending an answered operation to its reply, seconds."""
        return self._latency_ps / 1e12

    # ------------------------------------------------------------------- data

    def reads_replica(self, key: int) -> bool:
        """Whether a read of ``key`` is answered by a (possibly lagging) replica now."""
        return self._from_replicas and bool(self.shard_of(key).live_replicas())

    def get(self, key: int, now_s: float) -> int | None:
        """Read ``key`` (after its round trip), as the node that answered sees it."""
        if not self._from_replicas:
            return self.data.latest.get(key)
        return self.data.get(key, now_s, self.reads_replica(key))

    def latest(self, key: int) -> int | None:
        """What the primary holds under ``key`` now (the truth, whatever a replica says)."""
        return self.data.latest.get(key)

    def put(self, key: int, value: int, now_s: float) -> None:
        """Write ``key`` (after its round trip)."""
        self.data.put(key, value, now_s)

    def delete(self, key: int, now_s: float) -> None:
        """Delete ``key`` (an administrator's or a logout's write)."""
        self.data.delete(key, now_s)

    def deny(self, token: int, now_s: float) -> None:
        """Add a token id to the denylist."""
        self.data.deny(token, now_s)

    def is_denied(self, token: int, now_s: float) -> bool:
        """Whether a token id is on the denylist, as the node that answered sees it."""
        return self.data.is_denied(token, now_s, self.reads_replica(DENYLIST_KEY))

    def denylist(self, now_s: float) -> set[int]:
        """A copy of the denylist, as the node that answered sees it."""
        return self.data.denylist(now_s, self.reads_replica(DENYLIST_KEY))

    @property
    def busy_s(self) -> float:
        """Busy time of the busiest node inside the measured window, seconds (so
        ``busy_s / window`` is the bottleneck's utilisation, at most 1)."""
        return max(self.node_busy_s())

    def node_busy_s(self) -> list[float]:
        """Busy time of every node inside the measured window, seconds, shard by shard
        (primary first). It is kept by role: after a failover the promoted replica carries
        on the primary's count, so a shard's load is not split between two processes."""
        return [node.busy_s for shard in self.shards for node in shard.nodes]

    # ---------------------------------------------------------------- servers

    def add_pool(self) -> None:
        """Give a new server its connection pools (scale-out)."""
        self._pools.append(self._new_pools())
        self._extra_half_s.append(self._server_extra_s(len(self._extra_half_s)))

    def _server_extra_s(self, server: int) -> float:
        """Half the cross-region round trip for a server outside the store's region, s."""
        return self._cross_half_s if self._remote is not None and self._remote(server) else 0.0

    def reset_pool(self, server: int) -> None:
        """Drop every connection of a crashed server (its operations were abandoned)."""
        self._pools[server] = self._new_pools()

    # ----------------------------------------------------------------- faults

    def set_down(self, down: bool, data_lost: bool = False) -> None:
        """Start or end an outage of the whole store (every node unreachable).

        Going down drops the operations queued in the store; operations in flight
        across either edge fail. With ``data_lost`` the store comes back empty.
        """
        self._epoch += 1
        self.up = not down
        if down:
            for shard in self.shards:
                for node in shard.nodes:
                    node.free_at_s = self._env.now
        elif data_lost:
            self.data.clear()

    def add_delay(self, extra_s: float) -> None:
        """Add network delay to every operation's reply (negative to remove it)."""
        self._extra_s = max(0.0, self._extra_s + extra_s)

    def crash_node(self, shard: int, primary: bool, restart_s: float, data_lost: bool) -> float:
        """Kill one node of ``shard``: its primary, or else a running replica.

        The node restarts ``restart_s`` later. A primary with a running replica is
        replaced by it after ``failover_s`` (if that comes first), losing the writes of
        the last ``replication_lag_ms``; without one, its shard waits for the restart,
        empty if ``data_lost``.

        Returns:
            How long the shard takes no writes, seconds (0 for a replica).
        """
        target = self.shards[shard]
        now = self._env.now
        if not primary:
            replicas = target.live_replicas()
            if replicas:
                replicas[0].fail(now)
                self._env.process(self._restart(replicas[0], restart_s))
            return 0.0
        node = target.primary
        if not node.up:
            return 0.0
        node.fail(now)
        if target.live_replicas() and self._failover_s < restart_s:
            self._env.process(self._failover(target, node, restart_s))
            return self._failover_s
        self._env.process(self._restart(node, restart_s, target if data_lost else None))
        return restart_s

    def _failover(
        self, shard: Shard, crashed: StoreNode, restart_s: float
    ) -> Generator[simpy.Event, Any, None]:
        crashed_at = self._env.now
        yield self._env.timeout(self._failover_s)
        replicas = shard.live_replicas()
        if replicas:
            promoted = replicas[0]
            shard.nodes.remove(promoted)
            shard.nodes.insert(0, promoted)
            # busy time is kept by role: the primary's work goes on under the new primary
            promoted.busy_s, crashed.busy_s = crashed.busy_s, promoted.busy_s
            self._lose_unreplicated(shard, crashed_at)
        yield from self._restart(crashed, restart_s - self._failover_s)

    def _lose_unreplicated(self, shard: Shard, crashed_at_s: float) -> None:
        since_s = crashed_at_s - self._lag_s
        self.data.lose_writes_since(since_s, lambda key: self.shard_of(key) is shard)
        if self.shard_of(DENYLIST_KEY) is shard:
            self.data.lose_denials_since(since_s)

    def _restart(
        self, node: StoreNode, after_s: float, emptied: Shard | None = None
    ) -> Generator[simpy.Event, Any, None]:
        yield self._env.timeout(after_s)
        node.up = True
        node.free_at_s = self._env.now
        if emptied is not None:
            self.data.clear(lambda key: self.shard_of(key) is emptied)
