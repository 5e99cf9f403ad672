"""The vector engine's copy of the request stream (simulator.model.vector_stream).

It draws in large blocks what :class:`RequestStream` draws a chunk at a time, finds where
the run ends from the DES's clock (a running sum of the gaps) unless that is too close to
call, draws its users a block at a time, and checks itself against the stream's first
requests. Each answer must be exactly the stream's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_vector_engine import scenario

from simulator.model import vector_stream
from simulator.model.rng import Streams
from simulator.model.run import RunInputs
from simulator.model.vector_stream import (
    CHECK_REQUESTS,
    PICK_BLOCK,
    StreamMismatchError,
    check_against_stream,
    pick_users,
    request_arrays,
    stream_arrays,
)
from simulator.model.workload import ArrivalRate, Population, RequestStream
from simulator.scenario.models import ServiceTime, Workload


def stream(duration_s: float, rate_per_s: float = 500.0, chunk: int = 256, seed: int = 3) -> Any:
    workload = Workload(arrival_rate_per_s=rate_per_s, users=50)
    streams = Streams(seed)
    population = Population.from_config(workload, streams)
    rate = ArrivalRate(workload.arrival_rate_per_s, workload.rate_profile)
    return RequestStream(rate, ServiceTime(), population, streams, duration_s, chunk=chunk)


def the_streams(requests: RequestStream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    chunks = list(requests)
    return (
        np.asarray([g for c in chunks for g in c.gaps_s]),
        np.asarray([u for c in chunks for u in c.users], dtype=np.int64),
        np.asarray([s for c in chunks for s in c.service_s]),
    )


def assert_the_streams(requests: RequestStream) -> None:
    gaps, users, service, arrival = stream_arrays(requests)
    expected = the_streams(requests)
    for actual, wanted in zip((gaps, users, service), expected, strict=True):
        assert np.array_equal(actual, wanted)
    assert np.array_equal(arrival, np.cumsum(expected[0]))


def spy_on_the_chunks(monkeypatch: Any) -> list[int]:
    """Record how many gaps each call of the chunk-by-chunk fallback keeps."""
    kept: list[int] = []
    original = vector_stream._kept_chunk_by_chunk

    def recorded(*args: Any) -> Any:
        gaps = original(*args)
        kept.append(len(gaps))
        return gaps

    monkeypatch.setattr(vector_stream, "_kept_chunk_by_chunk", recorded)
    return kept


def test_an_end_far_from_every_arrival_is_found_from_the_clock(monkeypatch: Any) -> None:
    kept = spy_on_the_chunks(monkeypatch)
    for duration_s in (0.5, 3.0, 7.25):
        assert_the_streams(stream(duration_s))
    assert kept == []  # never too close to call


def test_an_end_on_an_arrival_is_found_as_the_stream_adds(monkeypatch: Any) -> None:
    """Ends at a time the clock has, and a step either side of it: too close to call
    from the clock, so the chunks are summed as the stream sums them; across a chunk's
    edge too."""
    kept = spy_on_the_chunks(monkeypatch)
    clock = np.cumsum(the_streams(stream(10.0))[0])
    for index in (0, 1, 255, 256, 257, 1000, len(clock) - 2):
        at_s = float(clock[index])
        for duration_s in (np.nextafter(at_s, -np.inf), at_s, np.nextafter(at_s, np.inf)):
            assert_the_streams(stream(float(duration_s)))
    assert len(kept) == 21


def test_more_draws_when_the_first_block_falls_short(monkeypatch: Any) -> None:
    """A few requests expected, a small chunk: some seeds need more chunks than drawn."""
    kept = spy_on_the_chunks(monkeypatch)
    drawn_short = 0
    for seed in range(60):
        requests = stream(0.01, chunk=2, seed=seed)  # about 5 requests expected
        assert_the_streams(requests)
        drawn_short += bool(kept) and kept[-1] >= 8  # more than the first 4 chunks
        kept.clear()
    assert drawn_short > 0


@pytest.mark.parametrize("user_weights", ["uniform", "zipf"])
def test_users_drawn_a_block_at_a_time_are_the_users_of_all_the_draws(user_weights: str) -> None:
    users = 1000
    weights = np.full(users, 1.0 / users)
    if user_weights == "zipf":
        weights = np.arange(1, users + 1, dtype=np.float64) ** -1.1
        weights /= weights.sum()
    count = 2 * PICK_BLOCK + 123  # two whole blocks and part of a third
    picks = np.random.default_rng(7).random(count)
    drawn = pick_users(weights, np.random.default_rng(7), count)
    assert np.array_equal(drawn, pick_users(weights, picks))
    edges = np.cumsum(weights)
    edges[-1] = 1.0
    assert np.array_equal(drawn, np.searchsorted(edges, picks, side="right"))


def test_the_stream_check_compares_the_first_requests() -> None:
    inputs = RunInputs.build(scenario())
    gaps, users, service = request_arrays(inputs.requests)
    assert len(gaps) > CHECK_REQUESTS
    check_against_stream(inputs.requests, gaps, users, service)  # the same: no error
    for changed in (gaps, users, service):
        position = CHECK_REQUESTS - 1  # the last request it compares
        original = changed[position]
        changed[position] = original + 1
        with pytest.raises(StreamMismatchError):
            check_against_stream(inputs.requests, gaps, users, service)
        changed[position] = original


def test_a_stream_shorter_than_the_check_is_compared_whole() -> None:
    inputs = RunInputs.build(scenario(duration_s=0.2, warmup_s=0.0))
    gaps, users, service = request_arrays(inputs.requests)
    assert 0 < len(gaps) < CHECK_REQUESTS
    check_against_stream(inputs.requests, gaps, users, service)
    with pytest.raises(StreamMismatchError):
        check_against_stream(inputs.requests, gaps[:-1], users[:-1], service[:-1])
