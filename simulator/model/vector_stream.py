"""The request stream as three numpy arrays, for the vector engine.

:class:`~simulator.model.workload.RequestStream` yields chunks of Python lists (what a
DES loop reads fastest). The vector engine wants whole arrays, and generating them is
most of its time, so :func:`request_arrays` makes the same draws in large blocks: every
stream (``arrivals``, ``users``, ``service``, ``thinning``) is a numpy generator whose
values do not depend on how many are asked for at once, and the values that depend on
the chunking (the running times that decide where the run ends and which candidates a
time-varying rate keeps) are computed chunk by chunk exactly as the stream computes them.
:func:`check_against_stream` compares the first chunk with the stream's own, so a change
to the stream that is not made here too is caught at once rather than giving other
numbers.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from simulator.model.workload import RequestStream, draw_service_s

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class StreamMismatchError(RuntimeError):
    """The arrays differ from what :class:`RequestStream` yields (it was changed)."""


def request_arrays(stream: RequestStream) -> tuple[FloatArray, IntArray, FloatArray]:
    """Gaps (seconds), users and business service times (seconds) of every request of
    ``stream``, exactly the values its chunks hold, concatenated."""
    if not stream.rate.constant:
        return _chunk_by_chunk(stream)
    streams = stream.streams
    arrivals = streams.generator("arrivals")
    users = streams.generator("users")
    service = streams.generator("service")
    chunk = stream.chunk
    mean_gap_s = 1.0 / (stream.rate.base_per_s * stream.rate.peak)
    expected = stream.rate.base_per_s * stream.rate.peak * stream.duration_s
    blocks = max(1, math.ceil(expected * 1.02 / chunk) + 1)
    gap_parts: list[FloatArray] = []
    now = 0.0
    kept = 0
    while True:
        gaps = arrivals.exponential(mean_gap_s, blocks * chunk).reshape(blocks, chunk)
        sums = np.cumsum(gaps, axis=1)
        for block in range(blocks):
            times = now + sums[block]
            inside = int(np.searchsorted(times, stream.duration_s, side="left"))
            gap_parts.append(gaps[block, :inside])
            kept += 1
            if inside < chunk:
                return _finish(stream, users, service, np.concatenate(gap_parts), kept)
            now = float(times[-1])
        blocks = max(1, blocks // 4)


def _finish(
    stream: RequestStream,
    users: np.random.Generator,
    service: np.random.Generator,
    gaps: FloatArray,
    chunks: int,
) -> tuple[FloatArray, IntArray, FloatArray]:
    """The users and service times of the first ``len(gaps)`` requests (``chunks``
    chunks were drawn from each stream)."""
    count = len(gaps)
    drawn = chunks * stream.chunk
    picks = users.random(drawn)[:count]
    service_s = draw_service_s(service, stream.service, drawn)[:count]
    return gaps, pick_users(stream.population.weights, picks), service_s


def pick_users(weights: FloatArray, picks: FloatArray) -> IntArray:
    """``searchsorted(cumsum(weights) with the last set to 1, picks, "right")``, as the
    stream picks users; for equal weights computed directly and corrected exactly."""
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0
    count = len(cumulative)
    if count < 2 or not np.all(weights == weights[0]):
        return np.searchsorted(cumulative, picks, side="right").astype(np.int64)
    guess = (picks * count).astype(np.int64)
    np.minimum(guess, count - 1, out=guess)
    # searchsorted's answer is the index i with cumulative[i - 1] <= pick < cumulative[i];
    # the guess is it but for picks within rounding of an edge, which are looked up
    edges = np.concatenate(([-np.inf], cumulative))
    bad = picks >= edges[guess + 1]
    bad |= edges[guess] > picks
    if bad.any():
        guess[bad] = np.searchsorted(cumulative, picks[bad], side="right")
    return guess


def _chunk_by_chunk(stream: RequestStream) -> tuple[FloatArray, IntArray, FloatArray]:
    """A time-varying rate: the stream's own chunks, as arrays."""
    gaps: list[FloatArray] = []
    users: list[IntArray] = []
    service: list[FloatArray] = []
    for chunk in stream:
        gaps.append(np.asarray(chunk.gaps_s, dtype=np.float64))
        users.append(np.asarray(chunk.users, dtype=np.int64))
        service.append(np.asarray(chunk.service_s, dtype=np.float64))
    return np.concatenate(gaps), np.concatenate(users), np.concatenate(service)


def check_against_stream(
    stream: RequestStream, gaps: FloatArray, users: IntArray, service_s: FloatArray
) -> None:
    """Compare the arrays' first chunk with the stream's first chunk.

    Raises:
        StreamMismatchError: they differ.
    """
    first = next(iter(stream))
    size = len(first.gaps_s)
    if (
        len(gaps) < size
        or gaps[:size].tolist() != first.gaps_s
        or users[:size].tolist() != first.users
        or service_s[:size].tolist() != first.service_s
    ):
        raise StreamMismatchError("the request arrays differ from RequestStream's chunks")
