"""The shared session store driven directly in a SimPy environment (simulator.model.store)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from simulator import load_scenario, run
from simulator.model.rng import DrawBuffer
from simulator.model.store import SessionStore

RTT_MS = 2.0
OP_S = 0.005


def constant_ops(seconds: float = OP_S) -> DrawBuffer:
    return DrawBuffer(lambda n: np.full(n, seconds), block=8)


def make_store(
    env: simpy.Environment,
    pool_size: int = 10,
    servers: int = 2,
    warmup_s: float = 0.0,
    rtt_ms: float = RTT_MS,
    op_s: float = OP_S,
) -> SessionStore:
    return SessionStore(
        env,
        rtt_ms=rtt_ms,
        op_times_s=constant_ops(op_s),
        pool_size=pool_size,
        servers=servers,
        warmup_s=warmup_s,
    )


def operation(env, store, server, send_at, label, replies):
    """Send one operation at ``send_at``; record (label, sent, replied, answered)."""
    yield env.timeout(send_at)
    sent = env.now
    answered = yield store.operation(server, 0)
    replies.append((label, sent, env.now, answered))


def run_operations(store, env, plan):
    """``plan``: (label, server, send_at) tuples; returns replies in completion order."""
    replies: list[tuple[str, float, float, bool]] = []
    for label, server, send_at in plan:
        env.process(operation(env, store, server, send_at, label, replies))
    env.run()
    return replies


def test_single_operation_costs_round_trip_plus_operation_time():
    env = simpy.Environment()
    store = make_store(env)
    replies = run_operations(store, env, [("a", 0, 0.0)])
    assert replies == [("a", 0.0, pytest.approx(0.002 + 0.005), True)]
    assert store.ops == 1
    assert store.busy_s == pytest.approx(0.005)
    assert store.latency_s == pytest.approx(0.007)


def test_operations_are_served_fifo_and_wait_for_each_other():
    env = simpy.Environment()
    store = make_store(env)
    plan = [("a", 0, 0.0), ("b", 1, 0.0), ("c", 0, 0.0), ("d", 1, 0.020)]
    replies = run_operations(store, env, plan)
    assert [label for label, *_ in replies] == ["a", "b", "c", "d"]
    latency_ms = {label: (replied - sent) * 1000 for label, sent, replied, _ in replies}
    # latency = rtt + waiting behind earlier operations + own operation time
    assert latency_ms["a"] == pytest.approx(RTT_MS + 0 + 5)
    assert latency_ms["b"] == pytest.approx(RTT_MS + 5 + 5)
    assert latency_ms["c"] == pytest.approx(RTT_MS + 10 + 5)
    # d reaches the store at 21 ms, after it emptied at 16 ms: no waiting
    assert latency_ms["d"] == pytest.approx(RTT_MS + 0 + 5)
    assert store.ops == 4
    assert store.busy_s == pytest.approx(4 * OP_S)
    assert store.latency_s == pytest.approx((7 + 12 + 17 + 7) / 1000)


def test_overlapping_arrival_waits_only_for_the_remaining_work():
    env = simpy.Environment()
    store = make_store(env)
    # a occupies the store from 1 ms to 6 ms; b arrives at 3 ms and waits 3 ms
    replies = run_operations(store, env, [("a", 0, 0.0), ("b", 1, 0.002)])
    (_, _, a_reply, _), (_, b_sent, b_reply, _) = replies
    assert a_reply == pytest.approx(0.007)
    assert (b_reply - b_sent) * 1000 == pytest.approx(RTT_MS + 3 + 5)


def test_zero_rtt_latency_is_waiting_plus_operation_time():
    env = simpy.Environment()
    store = make_store(env, rtt_ms=0.0)
    replies = run_operations(store, env, [("a", 0, 0.0), ("b", 0, 0.0)])
    assert [round((r - s) * 1000, 9) for _, s, r, _ in replies] == [5.0, 10.0]


def test_pool_of_one_makes_the_second_concurrent_operation_wait():
    env = simpy.Environment()
    store = make_store(env, pool_size=1)
    plan = [("first", 0, 0.0), ("second", 0, 0.0), ("other_server", 1, 0.0)]
    replies = {
        label: (sent, replied) for label, sent, replied, _ in run_operations(store, env, plan)
    }
    assert replies["first"][1] == pytest.approx(0.007)
    # the other server has its own connection: it only queues behind "first" at the store
    assert replies["other_server"][1] == pytest.approx(0.012)
    # "second" gets the connection back at 7 ms and reaches the store at 8 ms; the store
    # is busy with other_server's operation until 11 ms, then 5 ms of work, 1 ms back
    assert replies["second"][1] == pytest.approx(0.007 + 0.001 + 0.003 + 0.005 + 0.001)
    assert replies["second"][1] - replies["second"][0] > replies["first"][1]


def test_pool_waiters_are_served_in_order():
    env = simpy.Environment()
    store = make_store(env, pool_size=1, servers=1)
    plan = [(label, 0, 0.0) for label in "abcd"]
    replies = run_operations(store, env, plan)
    assert [label for label, *_ in replies] == list("abcd")
    # one connection: each operation waits for the whole previous round trip
    assert [replied for _, _, replied, _ in replies] == pytest.approx([0.007, 0.014, 0.021, 0.028])


def test_larger_pool_does_not_wait_for_a_connection():
    env = simpy.Environment()
    store = make_store(env, pool_size=2, servers=1)
    replies = run_operations(store, env, [("a", 0, 0.0), ("b", 0, 0.0)])
    assert [replied for _, _, replied, _ in replies] == pytest.approx([0.007, 0.012])


def test_statistics_exclude_operations_sent_before_warmup():
    env = simpy.Environment()
    store = make_store(env, warmup_s=0.010)
    plan = [("early", 0, 0.0), ("at_warmup", 0, 0.010), ("late", 1, 0.050)]
    replies = run_operations(store, env, plan)
    assert len(replies) == 3
    assert store.ops == 2
    assert store.busy_s == pytest.approx(2 * OP_S)
    assert store.latency_s == pytest.approx(2 * 0.007)


def test_operation_sent_before_warmup_counts_only_its_busy_time_inside_the_window():
    env = simpy.Environment()
    store = make_store(env, warmup_s=0.003)
    run_operations(store, env, [("a", 0, 0.0)])  # in the store from 1 ms to 6 ms
    assert store.ops == 0
    assert store.busy_s == pytest.approx(0.003)
    assert store.latency_s == 0.0


def test_busy_time_after_the_window_is_not_counted():
    env = simpy.Environment()
    store = SessionStore(env, RTT_MS, constant_ops(OP_S), 10, 1, warmup_s=0.0, end_s=0.004)
    run_operations(store, env, [("a", 0, 0.0), ("b", 0, 0.0)])  # busy 1 ms to 11 ms
    assert store.ops == 2
    assert store.busy_s == pytest.approx(0.003)


def test_store_that_is_down_answers_false_after_one_network_round_trip():
    env = simpy.Environment()
    store = make_store(env)
    store.set_down(True)
    replies = run_operations(store, env, [("a", 0, 0.0)])
    assert replies == [("a", 0.0, pytest.approx(RTT_MS / 1000), False)]
    assert store.ops == 0  # the store did no work


def test_operations_in_flight_when_the_store_goes_down_fail():
    env = simpy.Environment()
    store = make_store(env)

    def outage() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(0.004)  # while "a" is in the store (1 ms to 6 ms)
        store.set_down(True)
        yield env.timeout(0.010)
        store.set_down(False)

    env.process(outage())
    replies = run_operations(store, env, [("a", 0, 0.0), ("b", 0, 0.020)])
    assert [(name, answered) for name, _, _, answered in replies] == [("a", False), ("b", True)]


def test_store_that_loses_its_data_comes_back_empty():
    env = simpy.Environment()
    store = make_store(env)
    store.put(1, 7, 0.0)
    store.set_down(True, data_lost=True)
    assert store.data.latest == {1: 7}  # unreachable, not yet empty
    store.set_down(False, data_lost=True)
    assert store.data.latest == {}


def test_extra_delay_is_added_to_every_reply():
    env = simpy.Environment()
    store = make_store(env)
    store.add_delay(0.010)
    replies = run_operations(store, env, [("a", 0, 0.0)])
    assert replies[0][2] == pytest.approx(RTT_MS / 1000 + OP_S + 0.010)
    store.add_delay(-0.010)
    _, sent, replied, _ = run_operations(store, env, [("b", 0, 1.0)])[0]
    assert replied - sent == pytest.approx(RTT_MS / 1000 + OP_S)


def test_add_pool_gives_a_new_server_its_connections():
    env = simpy.Environment()
    store = make_store(env, pool_size=1, servers=1)
    with pytest.raises(IndexError):
        run_operations(store, env, [("new", 1, 0.0)])
    env = simpy.Environment()
    store = make_store(env, pool_size=1, servers=1)
    store.add_pool()
    replies = run_operations(store, env, [("old", 0, 0.0), ("new", 1, 0.0)])
    # separate pools: the new server does not wait for the old one's connection
    assert {label: replied for label, _, replied, _ in replies} == {
        "old": pytest.approx(0.007),
        "new": pytest.approx(0.012),
    }


def test_op_times_are_taken_from_the_buffer_in_order():
    env = simpy.Environment()
    times = iter([np.array([0.001, 0.004, 0.002])])
    store = SessionStore(
        env,
        rtt_ms=0.0,
        op_times_s=DrawBuffer(lambda n: next(times), block=3),
        pool_size=5,
        servers=1,
        warmup_s=0.0,
    )
    replies = run_operations(store, env, [("a", 0, 0.0), ("b", 0, 0.0), ("c", 0, 0.0)])
    assert [replied for _, _, replied, _ in replies] == pytest.approx([0.001, 0.005, 0.007])
    assert store.busy_s == pytest.approx(0.007)


def test_a_saturated_store_counts_only_the_operations_sent_in_the_window() -> None:
    # Past saturation requests queue up and keep sending operations after the window
    # closes; those must not inflate the count beyond what the store could serve in it.
    scenario = load_scenario(
        "store-saturation",
        {"duration_s": 20, "warmup_s": 5, "workload.arrival_rate_per_s": 1050},
    )
    result = run(scenario, strategies=["shared_store"], record_requests=False)
    store = result["shared_store"].store
    assert store is not None and store.utilisation > 0.99
    capacity_ops = scenario.measured_s / (scenario.shared_store.op_time_ms / 1000)
    assert store.ops <= 1.05 * capacity_ops
