"""The store's topology: shards, replicas, failover and replication lag
(simulator.model.store and simulator.model.store_data), driven directly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from simulator.model.rng import DrawBuffer
from simulator.model.store import DENYLIST_KEY, HASH_SLOTS, SessionStore
from simulator.model.store_data import StoreData

RTT_MS = 2.0
OP_S = 0.005


def make_store(env: simpy.Environment, **topology: Any) -> SessionStore:
    return SessionStore(
        env,
        rtt_ms=RTT_MS,
        op_times_s=DrawBuffer(lambda n: np.full(n, OP_S), block=8),
        pool_size=10,
        servers=2,
        warmup_s=0.0,
        **topology,
    )


def send(
    env: simpy.Environment, store: SessionStore, key: int, at_s: float, write: bool = False
) -> list[tuple[float, bool]]:
    """Send one operation on ``key`` at ``at_s``; the list gets (replied_at, answered)."""
    reply: list[tuple[float, bool]] = []

    def operation() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(at_s)
        answered = yield store.operation(0, key, write)
        reply.append((env.now, answered))

    env.process(operation())
    return reply


# ------------------------------------------------------------------------ shards


def test_keys_spread_evenly_over_shards_and_stay_put() -> None:
    store = make_store(simpy.Environment(), shards=4)
    counts = Counter(store.shard_of(user).index for user in range(20_000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(abs(count / 20_000 - 0.25) < 0.02 for count in counts.values())
    assert all(store.shard_of(user) is store.shard_of(user) for user in range(100))
    assert HASH_SLOTS == 16_384  # Redis Cluster's


def test_each_shard_is_its_own_queue() -> None:
    env = simpy.Environment()
    store = make_store(env, shards=2)
    a = next(user for user in range(100) if store.shard_of(user).index == 0)
    b = next(user for user in range(100) if store.shard_of(user).index == 1)
    same = [send(env, store, a, 0.0), send(env, store, a, 0.0)]
    other = send(env, store, b, 0.0)
    env.run()
    one_op_s = RTT_MS / 1000 + OP_S
    # two operations on one shard queue behind each other; the other shard's does not
    assert sorted(reply[0][0] for reply in same) == pytest.approx([one_op_s, one_op_s + OP_S])
    assert other[0][0] == pytest.approx(one_op_s)
    assert store.busy_s == pytest.approx(2 * OP_S)  # the busiest node
    assert sorted(store.node_busy_s()) == pytest.approx([OP_S, 2 * OP_S])  # no replicas


# ---------------------------------------------------------------------- replicas


def test_reads_from_replicas_spread_over_them_and_writes_go_to_the_primary() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=2, read_from="replicas")
    for _ in range(4):
        send(env, store, 1, 0.0)
    send(env, store, 1, 0.0, write=True)
    env.run()
    primary, *replicas = store.node_busy_s()
    assert primary == pytest.approx(OP_S)  # the one write
    assert replicas == pytest.approx([2 * OP_S, 2 * OP_S])  # four reads, two each


def test_reads_go_to_the_primary_unless_asked() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=2)
    for _ in range(3):
        send(env, store, 1, 0.0)
    env.run()
    assert store.node_busy_s() == pytest.approx([3 * OP_S, 0.0, 0.0])
    assert not store.reads_replica(1)


# ---------------------------------------------------------------------- failover


def test_a_crashed_primary_is_replaced_after_failover_s_and_restarts_as_a_replica() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=1, failover_s=5.0)
    down_s = store.crash_node(0, primary=True, restart_s=60.0, data_lost=False)
    assert down_s == 5.0
    during = send(env, store, 1, 1.0, write=True)
    after = send(env, store, 1, 6.0, write=True)
    env.run(until=61.0)
    assert during[0][1] is False and after[0][1] is True
    assert all(node.up for node in store.shards[0].nodes)  # the old primary is back


def test_busy_time_is_kept_by_role_across_a_failover() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=1, failover_s=5.0)
    send(env, store, 1, 0.0, write=True)  # on the first primary
    send(env, store, 1, 10.0, write=True)  # on the promoted replica

    def crash() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(1.0)
        store.crash_node(0, primary=True, restart_s=60.0, data_lost=False)

    env.process(crash())
    env.run(until=20.0)
    assert store.node_busy_s() == pytest.approx([2 * OP_S, 0.0])  # the primary's role did both
    assert store.busy_s == pytest.approx(2 * OP_S)


def test_without_a_replica_the_shard_waits_for_the_restart() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=0, failover_s=5.0)
    assert store.crash_node(0, primary=True, restart_s=20.0, data_lost=False) == 20.0
    at_10 = send(env, store, 1, 10.0)
    at_21 = send(env, store, 1, 21.0)
    env.run()
    assert at_10[0][1] is False and at_21[0][1] is True


def test_reading_from_replicas_survives_a_primary_crash_but_writes_do_not() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=1, read_from="replicas", failover_s=5.0)
    store.crash_node(0, primary=True, restart_s=60.0, data_lost=False)
    read = send(env, store, 1, 1.0)
    write = send(env, store, 1, 1.0, write=True)
    env.run(until=2.0)
    assert read[0][1] is True and write[0][1] is False


def test_a_replica_crash_costs_no_availability() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=1, read_from="replicas")
    assert store.crash_node(0, primary=False, restart_s=10.0, data_lost=False) == 0.0
    read = send(env, store, 1, 1.0)
    env.run(until=2.0)
    assert read[0][1] is True  # answered by the primary meanwhile
    assert store.node_busy_s()[0] == pytest.approx(OP_S)


def test_operations_queued_on_a_crashing_primary_fail() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=1, failover_s=5.0)
    reply = send(env, store, 1, 0.0)

    def crash() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(0.002)  # the operation is in the store from 1 ms to 6 ms
        store.crash_node(0, primary=True, restart_s=60.0, data_lost=False)

    env.process(crash())
    env.run(until=1.0)
    assert reply[0][1] is False


def test_failover_loses_the_writes_younger_than_the_replication_lag() -> None:
    env = simpy.Environment()
    store = make_store(env, replicas=1, failover_s=5.0, replication_lag_ms=500.0)
    store.put(1, 10, 0.0)  # replicated long before the crash
    store.put(2, 20, 0.0)

    def timeline() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(9.8)
        store.put(2, 21, env.now)  # 0.2 s before the crash: not on the replica yet
        store.put(3, 30, env.now)
        yield env.timeout(0.2)
        store.crash_node(0, primary=True, restart_s=60.0, data_lost=False)

    env.process(timeline())
    env.run(until=9.99)
    assert store.latest(2) == 21 and store.latest(3) == 30
    env.run(until=16.0)  # promoted at 15 s
    assert store.latest(1) == 10
    assert store.latest(2) == 20  # back to what the replica had
    assert store.latest(3) is None


def test_a_primary_without_persistence_comes_back_empty() -> None:
    env = simpy.Environment()
    store = make_store(env, shards=2, replicas=0)
    users = {store.shard_of(user).index: user for user in range(50)}
    for user in users.values():
        store.put(user, user, 0.0)
    store.crash_node(0, primary=True, restart_s=5.0, data_lost=True)
    env.run(until=6.0)
    assert store.latest(users[0]) is None  # its shard restarted empty
    assert store.latest(users[1]) == users[1]  # the other shard kept its keys


# ------------------------------------------------------------------ replication lag


def test_a_lagging_replica_misses_fresh_writes_and_deletes() -> None:
    data = StoreData(lag_s=0.5)
    data.put(1, 10, 0.0)
    assert data.get(1, 0.1, from_replica=True) is None  # not there yet
    assert data.get(1, 0.1, from_replica=False) == 10
    assert data.get(1, 0.5, from_replica=True) == 10
    data.put(1, 11, 10.0)
    data.put(1, 12, 10.2)  # two writes inside one lag: the replica still shows the first
    assert data.get(1, 10.3, from_replica=True) == 10
    assert data.get(1, 10.8, from_replica=True) == 12
    data.delete(1, 20.0)
    assert data.get(1, 20.2, from_replica=True) == 12  # a deleted session still accepted
    assert data.get(1, 20.6, from_replica=True) is None


def test_a_replica_shows_the_value_as_of_one_lag_ago_through_a_burst_of_writes() -> None:
    data = StoreData(lag_s=0.5)
    for value, at_s in [(1, 0.0), (2, 0.3), (3, 0.6), (4, 0.9)]:
        data.put(7, value, at_s)
    assert data.get(7, 1.0, from_replica=True) == 2  # written at 0.3 s, 0.7 s ago
    assert data.get(7, 1.2, from_replica=True) == 3
    assert data.get(7, 1.5, from_replica=True) == 4
    # a failover at 1.0 s to that replica keeps what it had: writes from 0.5 s on are lost
    assert data.lose_writes_since(0.5, lambda key: True) == 1
    assert data.latest[7] == 2


def test_the_denylist_reaches_replicas_after_the_lag() -> None:
    data = StoreData(lag_s=0.5)
    data.deny(7, 1.0)
    assert data.is_denied(7, 1.0, from_replica=False)
    assert not data.is_denied(7, 1.2, from_replica=True)
    assert data.is_denied(7, 1.5, from_replica=True)
    assert data.denylist(1.2, from_replica=True) == set()
    assert data.denylist(1.2, from_replica=False) == {7}


def test_without_lag_no_history_is_kept() -> None:
    data = StoreData(lag_s=0.0)
    data.put(1, 10, 0.0)
    assert data.get(1, 0.0, from_replica=True) == 10
    assert data.lose_writes_since(0.0, lambda key: True) == 0


def test_store_reads_see_the_replica_only_when_reading_from_replicas() -> None:
    env = simpy.Environment()
    lagging = make_store(env, replicas=1, read_from="replicas", replication_lag_ms=500.0)
    primary = make_store(env, replicas=1, read_from="primary", replication_lag_ms=500.0)
    for store in (lagging, primary):
        store.put(4, 40, 1.0)
        store.deny(9, 1.0)
    assert lagging.get(4, 1.1) is None and primary.get(4, 1.1) == 40
    assert not lagging.is_denied(9, 1.1) and primary.is_denied(9, 1.1)
    assert lagging.latest(4) == 40
    assert lagging.shard_of(DENYLIST_KEY) is lagging.shards[0]
