"""Batched recording: ``record_many`` / ``add_many`` leave exactly the state that the
one-at-a-time ``record`` / ``add`` leave, for any inputs (property tests)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import outcomes
from simulator.results.histogram import FLOOR_MS, RATIO, LogHistogram, bin_index, bin_indices
from simulator.results.records import RequestLog
from simulator.results.timeseries import Buckets, Tally

latencies = st.one_of(
    st.floats(0, 1e6, allow_nan=False),
    st.floats(0, 2e-3),
    st.sampled_from([0.0, -0.0, FLOOR_MS, 1.0, 10.0]),
    st.integers(-50, 2000).map(lambda k: FLOOR_MS * RATIO**k),  # on (or next to) bin edges
    st.integers(-50, 2000).map(lambda k: math.nextafter(FLOOR_MS * RATIO**k, math.inf)),
    st.integers(-50, 2000).map(lambda k: math.nextafter(FLOOR_MS * RATIO**k, -math.inf)),
)


def histogram_state(histogram: LogHistogram) -> tuple[Any, ...]:
    """Everything a histogram holds, the order of its bins included."""
    return (
        list(histogram.counts.items()),
        histogram.n,
        histogram.total,
        histogram.minimum,
        histogram.maximum,
    )


@given(st.lists(latencies, max_size=300), st.lists(latencies, max_size=30))
def test_add_many_is_add_in_turn(values: list[float], more: list[float]) -> None:
    one_by_one = LogHistogram()
    batched = LogHistogram()
    for value in values + more:
        one_by_one.add(value)
    batched.add_many(np.asarray(values))
    batched.add_many(more)  # a second batch continues the first
    assert histogram_state(batched) == histogram_state(one_by_one)


def test_bin_indices_agree_with_bin_index_on_every_edge() -> None:
    edges = FLOOR_MS * RATIO ** np.arange(-10, 2500, dtype=np.float64)
    values = np.concatenate(
        [edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf), edges * 1.000001]
    )
    expected = [bin_index(float(value)) for value in values]
    assert bin_indices(values).tolist() == expected
    above = values[values > FLOOR_MS]  # every value in a bin of its own: the shorter path
    assert bin_indices(above).tolist() == [bin_index(float(value)) for value in above]


@given(st.lists(st.floats(min_value=1.0000001e-3, max_value=1e9), min_size=1, max_size=50))
def test_bin_indices_above_the_floor_are_bin_index(values: list[float]) -> None:
    assert bin_indices(np.asarray(values)).tolist() == [bin_index(value) for value in values]


def tally_state(tally: Tally) -> tuple[Any, ...]:
    return (
        tally.requests,
        tally.succeeded,
        tally.served,
        tally.forced,
        [histogram_state(histogram) for histogram in tally.latency],
        list(tally._windows.items()),
        [(key, sorted(users)) for key, users in tally._window_users.items()],
        sorted(tally.logged_out),
        len(tally.logged_out),
    )


requests = st.tuples(
    st.floats(-5, 40, allow_nan=False),  # arrival, before, in and after the window
    st.integers(0, 60),  # user
    st.integers(0, len(outcomes.NAMES) - 1),  # outcome
    latencies,
    st.integers(-1, len(outcomes.CAUSES) - 1),  # cause (-1: none)
)


@given(
    st.lists(requests, max_size=200),
    st.lists(requests, max_size=40),
    st.lists(st.floats(-2, 35, allow_nan=False), max_size=4),
    st.sampled_from([(0.0, 30.0, 2.0), (5.0, 30.0, 0.7), (1.0, 2.0, 5.0)]),
)
def test_record_many_is_record_in_turn(
    first: list[tuple[float, int, int, float, int]],
    second: list[tuple[float, int, int, float, int]],
    edges: list[float],
    window: tuple[float, float, float],
) -> None:
    buckets = Buckets(*window)
    one_by_one = Tally(buckets, 50)
    batched = Tally(buckets, 50)
    for tally in (one_by_one, batched):
        for edge in edges:
            tally.add_edge(edge)
    for row in first + second:
        one_by_one.record(*row)
    for rows in (first, second):
        columns = [np.asarray(column) for column in zip(*rows, strict=True)] if rows else []
        if columns:
            batched.record_many(*columns)
    assert tally_state(batched) == tally_state(one_by_one)
    assert batched.overall.summary() == one_by_one.overall.summary()


def test_record_many_of_nothing_changes_nothing() -> None:
    tally = Tally(Buckets(0.0, 10.0, 1.0), 5)
    before = tally_state(tally)
    tally.record_many([], [], [], [], [])
    assert tally_state(tally) == before


@given(st.lists(requests.map(lambda row: (row[0], row[1], row[1] % 7 - 1, *row[2:])), max_size=100))
def test_request_log_record_many_is_record_in_turn(
    rows: list[tuple[float, int, int, int, float, int]],
) -> None:
    one_by_one = RequestLog()
    batched = RequestLog()
    for row in rows:
        one_by_one.record(*row)
    if rows:
        batched.record_many(*[np.asarray(column) for column in zip(*rows, strict=True)])
    for name in ("arrival_s", "user", "server", "outcome", "latency_ms", "cause"):
        assert getattr(batched, name) == getattr(one_by_one, name), name
        assert getattr(batched, name).typecode == getattr(one_by_one, name).typecode


def _columns(rows: int) -> list[np.ndarray]:
    rng = np.random.default_rng(rows)
    return [
        rng.random(rows),
        rng.integers(0, 1000, rows, dtype=np.int64),
        rng.integers(-1, 50, rows, dtype=np.int64),
        rng.integers(0, len(outcomes.NAMES), rows).astype(np.int8),
        rng.random(rows) * 100,
        rng.integers(-1, len(outcomes.CAUSES), rows).astype(np.int8),
    ]


def test_a_log_of_columns_keeps_them_and_reads_as_a_recorded_log() -> None:
    """``of_columns`` keeps the arrays given (no copy), and the log reads as the same rows
    recorded one by one: length, counts, frames, the shares of re-logins."""
    columns = _columns(200)
    adopted = RequestLog.of_columns(*columns)
    recorded = RequestLog()
    recorded.record_many(*columns)
    assert adopted.arrival_s is columns[0] and adopted.cause is columns[5]
    assert len(adopted) == len(recorded) == 200
    assert np.array_equal(adopted.outcome_counts(), recorded.outcome_counts())
    assert np.array_equal(adopted.served_latency_ms(), recorded.served_latency_ms())
    assert adopted.relogin_share(0.5) == recorded.relogin_share(0.5)
    assert adopted.to_frame("jwt").equals(recorded.to_frame("jwt"))
    for mine, theirs in zip(adopted.columns(), recorded.columns(), strict=True):
        assert np.array_equal(mine, theirs)


def test_appending_to_a_log_of_columns_copies_them_first() -> None:
    """The arrays given are not changed by appending to the log, and the rows appended
    follow theirs, with the typed arrays a recorded log has."""
    first, more = _columns(30), _columns(7)
    kept = [column.copy() for column in first]
    adopted = RequestLog.of_columns(*first)
    adopted.record_many(*more)
    adopted.record(1.0, 2, 3, outcomes.OK, 4.0, -1)
    recorded = RequestLog()
    recorded.record_many(*first)
    recorded.record_many(*more)
    recorded.record(1.0, 2, 3, outcomes.OK, 4.0, -1)
    for name in ("arrival_s", "user", "server", "outcome", "latency_ms", "cause"):
        assert getattr(adopted, name) == getattr(recorded, name), name
        assert getattr(adopted, name).typecode == getattr(recorded, name).typecode
    for original, copy in zip(first, kept, strict=True):
        assert np.array_equal(original, copy)


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        (0, np.zeros(10, dtype=np.float32)),  # another type
        (1, np.zeros(9, dtype=np.int64)),  # another length
        (3, np.zeros((10, 1), dtype=np.int8)),  # not one-dimensional
        (4, np.zeros(20)[::2]),  # not contiguous
        (5, [0] * 10),  # not an array
    ],
)
def test_a_log_of_columns_refuses_a_column_it_could_not_keep(column: int, bad: Any) -> None:
    columns: list[Any] = _columns(10)
    columns[column] = bad
    name = ("arrival_s", "user", "server", "outcome", "latency_ms", "cause")[column]
    with pytest.raises(ValueError, match=f"column {name}:"):
        RequestLog.of_columns(*columns)
