"""One worker per server, many servers in rotation: the schedule a row at a time.

With jobs given in rotation (round robin) each server's jobs are a column of the
rotation, so :func:`one_worker_by_rows` computes a whole row of it at once. It must give
the recursion's ends bit for bit, and :func:`schedule_by_server` must take it exactly
where it applies (the vector engine's runs against the DES are in test_vector_engine.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_vector_engine import ACCEPTED, assert_same_result, scenario, sorted_log

from simulator import load_scenario
from simulator.model import vector_queue, vector_rows
from simulator.model.run import run
from simulator.model.vector_grouping import group_by_server, group_round_robin
from simulator.model.vector_queue import schedule_by_server
from simulator.model.vector_results import _clipped, _in_window
from simulator.model.vector_rows import (
    ROW_BLOCK,
    ROW_SERVERS,
    busy_by_rows,
    fits_columns,
    one_worker_by_columns,
    one_worker_by_rows,
)


def calls_of(monkeypatch: Any, name: str, argument: Callable[[tuple[Any, ...]], int]) -> list[int]:
    """Record ``argument(args)`` of each call of ``vector_queue.<name>`` (which still runs)."""
    calls: list[int] = []
    original = getattr(vector_queue, name)

    def recorded(*args: Any) -> None:
        calls.append(argument(args))
        original(*args)

    monkeypatch.setattr(vector_queue, name, recorded)
    return calls


def recursion(
    route_s: np.ndarray, first_s: np.ndarray | None, work_s: np.ndarray, stride: int
) -> np.ndarray:
    """One job at a time, as the DES adds times: the later of the arrival and the end of
    the server's job before, then the first timeout, then the work."""
    free = [-np.inf] * stride
    end = np.empty(len(route_s))
    for job in range(len(route_s)):
        column = job % stride
        began = max(float(route_s[job]), free[column])
        done = began + float(first_s[job]) if first_s is not None else began
        done = done + float(work_s[job])
        free[column] = end[job] = done
    return end


@pytest.mark.parametrize("stride, count", [(32, 3200), (50, 1234), (97, 60), (40, 40), (33, 1)])
@pytest.mark.parametrize("overhead", [False, True])
def test_a_row_at_a_time_is_the_recursion_bit_for_bit(
    stride: int, count: int, overhead: bool
) -> None:
    rng = np.random.default_rng(stride * count)
    route_s = np.cumsum(rng.exponential(0.01 / (0.9 * stride), count))  # busy servers
    work_s = rng.exponential(0.01, count)
    first_s = np.full(count, 0.0015) if overhead else None
    end_s = np.empty(count)
    one_worker_by_rows(route_s, first_s, work_s, stride, end_s)
    assert np.array_equal(end_s, recursion(route_s, first_s, work_s, stride))


@pytest.mark.parametrize("utilisation", [0.3, 0.7, 0.99, 1.5])
@pytest.mark.parametrize("block", [8, ROW_BLOCK])
@pytest.mark.parametrize("overhead", [False, True])
def test_blocks_in_lockstep_are_the_recursion_bit_for_bit(
    monkeypatch: Any, utilisation: float, block: int, overhead: bool
) -> None:
    """Blocks of rows computed as if idle at their start, then corrected: busy periods
    across a block's start (all of them at 0.99 and beyond: saturated servers, corrected
    through whole blocks), a last row part of the way round."""
    monkeypatch.setattr(vector_rows, "ROW_BLOCK", block)
    stride = 40
    count = stride * block * 6 + 17
    rng = np.random.default_rng(int(utilisation * 100) + block)
    route_s = np.cumsum(rng.exponential(0.01 / (utilisation * stride), count))
    work_s = rng.exponential(0.01, count)
    first_s = np.full(count, 0.0015) if overhead else None
    end_s = np.empty(count)
    one_worker_by_rows(route_s, first_s, work_s, stride, end_s)
    assert np.array_equal(end_s, recursion(route_s, first_s, work_s, stride))


def test_the_schedule_takes_the_rows_where_they_apply(monkeypatch: Any) -> None:
    calls = calls_of(monkeypatch, "one_worker_by_rows", lambda args: args[3])
    rng = np.random.default_rng(5)
    count = 5000
    route_s = np.cumsum(rng.exponential(0.0002, count))
    work_s = rng.exponential(0.01, count)
    for servers, workers, by_rotation, rows in [
        (ROW_SERVERS, 1, True, True),
        (ROW_SERVERS - 1, 1, True, False),  # too few servers: the busy periods' layout
        (ROW_SERVERS, 2, True, False),  # two workers: not one column per worker
        (ROW_SERVERS, 1, False, False),  # grouped by a sort: not known to be a rotation
    ]:
        calls.clear()
        server = (np.arange(count) + 3) % servers
        grouping = (
            group_round_robin(count, servers, 3)
            if by_rotation
            else group_by_server(server, servers)
        )
        spare = np.empty(count)
        done = schedule_by_server(
            None if by_rotation else server,
            route_s,
            None,
            work_s,
            workers,
            servers,
            grouping,
            spare,
        )
        assert calls == ([servers] if rows else [])
        assert (done.given_end_s is spare) == rows
        expected = schedule_by_server(server, route_s, None, work_s, workers, servers)
        assert np.array_equal(done.end_s, expected.end_s)  # grouped by server, both
        if rows:
            np.testing.assert_array_equal(done.given_end_s[expected.order], expected.end_s)


def test_a_standard_run_with_many_servers_takes_the_rows(monkeypatch: Any) -> None:
    """50 servers in round robin (as the standard workload): the rows, the DES's log."""
    calls = calls_of(monkeypatch, "one_worker_by_rows", lambda args: args[3])
    case = load_scenario(
        None,
        {
            "duration_s": 2.0,
            "warmup_s": 0.0,
            "workload.users": 500,
            "workload.arrival_rate_per_s": 3500.0,
            "cluster.servers": 50,
            "cluster.workers_per_server": 1,
            "cluster.queue_limit": 100_000,
            "load_balancer.policy": "round_robin",
            "jwt.ttl_s": 1e9,
        },
    )
    des = run(case, ["jwt"], engine="des")
    fast = run(case, ["jwt"], engine="vector")
    assert calls == [50] and fast["jwt"].engine == "vector"
    for name in ("arrival_s", "user", "server", "latency_ms"):
        np.testing.assert_array_equal(
            np.asarray(getattr(fast.logs["jwt"], name)), np.asarray(getattr(des.logs["jwt"], name))
        )
    assert fast["jwt"].latency_ms == des["jwt"].latency_ms


@pytest.mark.parametrize(
    "case", ["jwt-rr-rows", "jwt-rr-rows-overhead-hop", "jwt-rr-rows-unanswered-at-stop"]
)
def test_the_engine_cases_with_many_servers_take_the_rows(monkeypatch: Any, case: str) -> None:
    """test_vector_engine.py's cases for this path (whose results it compares with the
    DES's) do take it."""
    calls = calls_of(monkeypatch, "one_worker_by_rows", lambda args: args[3])
    strategy, overrides = ACCEPTED[case]
    result = run(scenario(**overrides), [strategy], engine="vector")
    assert result[strategy].engine == "vector" and calls == [40]


# ------------------------------------------------------------------ columns


def test_columns_padded_into_a_table_are_the_recursion_bit_for_bit(monkeypatch: Any) -> None:
    """Servers of uneven lengths (one with no job), grouped: each a column of a table
    padded with jobs at infinity; lockstep blocks too (a small block)."""
    monkeypatch.setattr(vector_rows, "ROW_BLOCK", 8)
    rng = np.random.default_rng(11)
    lengths = rng.integers(180, 220, 40)
    lengths[7] = 0
    bounds = np.zeros(41, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    count = int(bounds[-1])
    for overhead in (False, True):
        route_s = np.empty(count)
        for lo, hi in itertools.pairwise(bounds.tolist()):
            route_s[lo:hi] = np.cumsum(rng.exponential(0.011, hi - lo))  # busy, FIFO
        work_s = rng.exponential(0.01, count)
        first_s = np.full(count, 0.0015) if overhead else None
        end_s = np.empty(count)
        one_worker_by_columns(route_s, first_s, work_s, bounds, end_s)
        for lo, hi in itertools.pairwise(bounds.tolist()):  # each server: one column
            part = slice(lo, hi)
            firsts = None if first_s is None else first_s[part]
            expected = recursion(route_s[part], firsts, work_s[part], 1)
            assert np.array_equal(end_s[part], expected)


def test_only_even_servers_are_padded_into_a_table() -> None:
    even = np.arange(0, 4001, 100, dtype=np.int64)  # 40 servers of 100 jobs
    assert fits_columns(even)
    uneven = even.copy()
    uneven[1:] += 30  # the first server has 130 jobs: 5,200 padded cells for 4,030 jobs
    assert not fits_columns(uneven)
    assert not fits_columns(np.zeros(3, dtype=np.int64))  # no job at all


@pytest.mark.parametrize("case", ["jwt-random-columns-overhead", "sticky-cookie-columns"])
def test_the_engine_cases_grouped_by_a_sort_take_the_columns(monkeypatch: Any, case: str) -> None:
    calls = calls_of(monkeypatch, "one_worker_by_columns", lambda args: len(args[3]) - 1)
    strategy, overrides = ACCEPTED[case]
    result = run(scenario(**overrides), [strategy], engine="vector")
    assert result[strategy].engine == "vector" and calls == [40]


# ------------------------------------------------------------------ busy time


@pytest.mark.parametrize("start_s, stop_s", [(0.0, 100.0), (2.0, 5.0), (4.0, 4.001), (9.0, 1.0)])
def test_a_worker_s_time_in_the_window_is_the_clipped_time(start_s: float, stop_s: float) -> None:
    """One worker: only the first and last jobs are clipped, the others' time is the
    same subtraction; the answer is the clipped time of every job, bit for bit."""
    rng = np.random.default_rng(int(start_s * 10 + stop_s))
    for count in (0, 1, 2, 50, 3000):
        route_s = np.cumsum(rng.exponential(0.005, count))
        ended = np.empty(count)
        one_worker_by_rows(route_s, None, rng.exponential(0.004, count), 1, ended)
        began = np.maximum(route_s, np.concatenate(([-np.inf], ended[:-1])))
        expected = _clipped(began.copy(), ended, start_s, stop_s)
        assert np.array_equal(_in_window(began.copy(), ended, start_s, stop_s, 1), expected)
        assert np.array_equal(
            expected, np.maximum(np.minimum(ended, stop_s) - np.maximum(began, start_s), 0.0)
        )


def busy_job_by_job(
    route_s: np.ndarray,
    end_s: np.ndarray,
    stride: int,
    start_s: float,
    stop_s: float,
    answered_by_s: float | None,
) -> list[float]:
    """The DES's sum: each column's clipped times added one job after another, from 0.0
    (jobs ending after ``answered_by_s`` not counted)."""
    total = [0.0] * stride
    free = [-np.inf] * stride
    for job in range(len(end_s)):
        column = job % stride
        began, ended = max(float(route_s[job]), free[column]), float(end_s[job])
        free[column] = ended
        if answered_by_s is None or ended <= answered_by_s:
            total[column] += max(0.0, min(ended, stop_s) - max(began, start_s))
    return total


@pytest.mark.parametrize("stride", [2, 3, 40, 70_000])
@pytest.mark.parametrize("block", [1, 7, 1 << 15])
def test_the_busy_time_by_rows_is_the_des_s_sum(monkeypatch: Any, stride: int, block: int) -> None:
    """Row by row, a block of rows at a time (numpy's reduction along the rows of a
    table adds each column's values in turn): every column's sum, bit for bit, with
    jobs clipped at the window's start and stop, unanswered ones, and a last row part of
    the way round."""
    monkeypatch.setattr(vector_rows, "BUSY_BLOCK", block * stride)
    rng = np.random.default_rng(stride + block)
    for count in (1, stride - 1, stride, 5 * stride + 1, 37 * stride + stride // 2):
        if count < 1 or count > 200_000:
            continue
        route_s = np.cumsum(rng.exponential(0.01 / stride, count))
        end_s = np.empty(count)
        work_s = rng.exponential(0.009, count) * rng.choice([1e-3, 1.0, 1e3], count)
        one_worker_by_rows(route_s, None, work_s, stride, end_s)
        last = float(route_s[-1])
        for start_s, stop_s, answered_by_s in (
            (0.0, 1e9, None),
            (last / 3, last * 0.9, None),
            (last / 3, last * 0.9, last * 1.2),
            (-1.0, last / 2, last / 2),
        ):
            expected = busy_job_by_job(route_s, end_s, stride, start_s, stop_s, answered_by_s)
            found = busy_by_rows(route_s, end_s, stride, start_s, stop_s, answered_by_s)
            assert found.tolist() == expected, (count, start_s, stop_s, answered_by_s)


# ------------------------------------------------------------------ drawn runs


def drawn_overrides(seed: int) -> tuple[str, dict[str, Any]]:
    """A run drawn from ``seed`` that the rows or the columns compute: 32-64 one-worker
    servers, round robin, random or cookie affinity, light to saturated, with or without
    overhead, hop, warm-up and timeouts."""
    rng = np.random.default_rng(seed)
    policy = ["round_robin", "random", "cookie"][seed % 3]
    overrides: dict[str, Any] = {
        "utilisation": float(rng.choice([0.3, 0.7, 0.95, 1.3])),
        "cluster__servers": int(rng.integers(32, 65)),
        "duration_s": 1.5,
        "warmup_s": float(rng.choice([0.0, 0.4])),
        "cluster__request_timeout_ms": float(rng.choice([25.0, 5000.0])),
        "workload__relogin_delay_s": {"mean_s": 0.0},
    }
    if rng.random() < 0.5:
        overrides["cluster__overhead_ms"] = {"distribution": "constant", "mean": 0.8}
    if rng.random() < 0.5:
        overrides["load_balancer__hop_ms"] = {"distribution": "constant", "mean": 0.4}
    if policy == "cookie":
        return "sticky", overrides
    overrides["load_balancer__policy"] = policy
    return "jwt", overrides


@pytest.mark.parametrize("seed", range(9))
def test_drawn_runs_on_many_servers_are_the_simulation(monkeypatch: Any, seed: int) -> None:
    """Each drawn run takes the rows (round robin) or, mostly, the columns, and its request
    log and result are the DES's (the comparison of test_vector_engine.py)."""
    rows = calls_of(monkeypatch, "one_worker_by_rows", lambda args: args[3])
    columns = calls_of(monkeypatch, "one_worker_by_columns", lambda args: len(args[3]) - 1)
    strategy, overrides = drawn_overrides(seed)
    case = scenario(**overrides)
    des = run(case, [strategy], engine="des")
    fast = run(case, [strategy], engine="auto")
    assert fast[strategy].engine == "vector", fast[strategy].engine_note
    if overrides.get("load_balancer__policy") == "round_robin":
        assert rows == [overrides["cluster__servers"]] and not columns
    else:  # the columns, unless the servers are too uneven for a table
        assert not rows and len(columns) <= 1
    expected, actual = sorted_log(des, strategy), sorted_log(fast, strategy)
    for name in ("arrival_s", "user", "server", "outcome", "cause", "latency_ms"):
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    assert_same_result(des[strategy], fast[strategy])
