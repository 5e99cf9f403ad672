"""The vector engine's parts that save memory and page faults, against what they stand for.

A vector run writes its request log into arrays it is done with (:class:`Spare`, and
``out`` arguments of the finish order and of the servers' lookup). Each must give
exactly what the plain version gives; and no two of the log's columns may share memory.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from test_vector_engine import scenario

from simulator.model.run import run
from simulator.model.vector_grouping import StrideGrouping, group_by_server, group_round_robin
from simulator.model.vector_results import Spare, finish_order

# ------------------------------------------------------------------ Spare


def test_a_spare_array_is_handed_out_once_and_only_if_it_fits() -> None:
    floats, small, ints = np.zeros(10), np.zeros(3), np.zeros(8, dtype=np.int64)
    spare = Spare(small, floats)
    out = spare.out(8, np.int64)  # too many for ``small``: ``floats``, seen as integers
    assert out is not None and out.dtype == np.int64 and len(out) == 8
    assert np.shares_memory(out, floats)
    assert spare.out(8, np.float64) is None  # ``floats`` is taken, ``small`` too small
    spare.add(ints)
    again = spare.out(8, np.float64)
    assert again is not None and np.shares_memory(again, ints)
    assert spare.out(1, np.int8) is None  # another item size: not handed out
    assert spare.out(3, np.float64) is not None  # ``small`` was there all along


def test_a_spare_take_is_the_gather() -> None:
    rng = np.random.default_rng(1)
    values, rows = rng.random(1000), rng.permutation(1000)[:700]
    buffer = np.zeros(900)
    spare = Spare(buffer)
    taken = spare.take(values, rows)
    assert np.array_equal(taken, values[rows]) and np.shares_memory(taken, buffer)
    fresh = spare.take(values, rows)  # none left: a new array, the same values
    assert np.array_equal(fresh, values[rows]) and not np.shares_memory(fresh, buffer)
    strided = Spare(np.zeros(2000)[::2])  # not contiguous: never handed out
    assert strided.out(10, np.float64) is None


def test_the_finish_order_into_a_given_array_is_the_same_order() -> None:
    rng = np.random.default_rng(2)
    for values in (np.round(rng.uniform(0.001, 9.0, 4000), 3), -rng.random(50)):
        ties = rng.permutation(len(values))
        out = np.empty(len(values), dtype=np.int64)
        order = finish_order(values, ties, out)
        assert np.shares_memory(order, out)
        assert np.array_equal(order, finish_order(values, ties))


# ------------------------------------------------------------------ servers


@pytest.mark.parametrize("servers, offset", [(1, 0), (7, 3), (50, 20_000)])
def test_the_server_of_a_position_into_a_given_array(servers: int, offset: int) -> None:
    count = 1003
    server = (np.arange(count) + offset) % servers
    positions = np.random.default_rng(servers).integers(0, count, 500)
    for grouping in (group_round_robin(count, servers, offset), group_by_server(server, servers)):
        out = np.empty(len(positions), dtype=np.int64)
        found = grouping.server_at(positions, out)
        assert np.shares_memory(found, out)
        assert np.array_equal(found, server[positions])
        assert np.array_equal(grouping.server_at(positions), server[positions])


def test_the_server_of_a_position_when_the_heads_are_not_a_rotation() -> None:
    """Heads in another order than a rotation: looked up, not computed."""
    heads = [2, 0, 3, 1]  # server i's first job is at position heads[i]
    count = 22
    bounds = np.zeros(5, dtype=np.int64)
    np.cumsum([len(range(head, count, 4)) for head in heads], out=bounds[1:])
    grouping = StrideGrouping(bounds, 4, heads)
    server = np.empty(count, dtype=np.int64)
    for index, head in enumerate(heads):
        server[head::4] = index
    positions = np.arange(count)
    assert np.array_equal(grouping.server_at(positions), server)
    assert np.array_equal(grouping.server_at(positions, np.empty(count, np.int64)), server)


# ------------------------------------------------------------------ the log


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"warmup_s": 0.0},
        {"cluster__request_timeout_ms": 15.0},  # some requests time out
        {"load_balancer__policy": "random"},  # the servers looked up, not computed
        {"load_balancer__hop_ms": {"distribution": "exponential", "mean": 0.5}},
    ],
)
def test_the_logs_columns_share_no_memory(overrides: dict[str, Any]) -> None:
    result = run(scenario(**overrides), ["jwt"], engine="vector")
    assert result["jwt"].engine == "vector", result["jwt"].engine_note
    log = result.logs["jwt"]
    columns = [
        np.asarray(getattr(log, name))
        for name in ("arrival_s", "user", "server", "outcome", "latency_ms", "cause")
    ]
    assert len(columns[0]) == result["jwt"].requests > 0
    for one, other in itertools.combinations(columns, 2):
        assert not np.shares_memory(one, other)
