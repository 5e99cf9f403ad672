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

from simulator.model.workload import RequestStream, draw, draw_service_s

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


PICK_BLOCK = 1 << 15
"""Picks turned into users at a time (small enough for the cache)."""


CHECK_REQUESTS = 512
"""Requests :func:`check_against_stream` compares (a whole chunk took 4 ms a run)."""


class StreamMismatchError(RuntimeError):
    """The arrays differ from what :class:`RequestStream` yields (it was changed)."""


def request_arrays(stream: RequestStream) -> tuple[FloatArray, IntArray, FloatArray]:
    """Gaps (seconds), users and business service times (seconds) of every request of
    ``stream``, exactly the values its chunks hold, concatenated."""
    gaps, users, service_s, _ = stream_arrays(stream)
    assert users is not None  # (with_users)
    return gaps, users, service_s


def stream_arrays(
    stream: RequestStream, with_users: bool = True
) -> tuple[FloatArray, IntArray | None, FloatArray, FloatArray]:
    """:func:`request_arrays`, and the arrival times as the DES's clock adds the gaps (a
    running sum, ``np.cumsum(gaps)``). Without ``with_users`` the users may be left out
    (``None``, with a constant rate: :func:`stream_users` draws them when needed)."""
    if not stream.rate.constant:
        gaps, every_user, service_s = _chunk_by_chunk(stream)
        return gaps, every_user, service_s, np.cumsum(gaps)
    streams = stream.streams
    arrivals = streams.generator("arrivals")
    chunk = stream.chunk
    mean_gap_s = 1.0 / (stream.rate.base_per_s * stream.rate.peak)
    expected = stream.rate.base_per_s * stream.rate.peak * stream.duration_s
    blocks = max(1, math.ceil(expected * 1.02 / chunk) + 1)
    drawn = draw(arrivals, "exponential", mean_gap_s, 0.0, blocks * chunk)
    clock = np.cumsum(drawn)
    inside = _inside_by_clock(clock, stream.duration_s)
    if inside is None:  # too close to call (or more to draw): as the stream adds
        gaps = _kept_chunk_by_chunk(stream, arrivals, mean_gap_s, drawn, blocks)
        arrival = np.cumsum(gaps)
    else:
        gaps, arrival = drawn[:inside], clock[:inside]
    count = len(gaps)
    service_s = draw_service_s(streams.generator("service"), stream.service, count)
    users = stream_users(stream, count) if with_users else None
    return gaps, users, service_s, arrival


def stream_users(stream: RequestStream, count: int) -> IntArray:
    """The users of the first ``count`` requests of ``stream``, with a constant rate (the
    stream ``users`` on its own: the same values whenever they are drawn)."""
    assert stream.rate.constant, "a varying rate keeps users by their arrivals' times"
    return pick_users(stream.population.weights, stream.streams.generator("users"), count)


def _inside_by_clock(clock: FloatArray, duration_s: float) -> int | None:
    """How many of the times the stream keeps (those before ``duration_s``), found from
    the running sum ``clock`` of the gaps; ``None`` if that cannot be told for sure.

    The stream adds the gaps a chunk at a time (``now + np.cumsum(chunk)``), so its times
    differ from the running sum's in their rounding only. Any sum of ``k`` positive
    numbers, added in any order, is within ``(k - 1) * 2**-53`` of the exact sum
    (relative, to first order), so the two are within twice that of each other. A time
    farther than four times that from ``duration_s`` is on the same side of it in both;
    if the times either side of it are not, or every drawn time is before it, the
    answer is ``None``."""
    inside = int(np.searchsorted(clock, duration_s, side="left"))
    if inside == len(clock):
        return None
    margin = 4.0 * len(clock) * 2.0**-53 * max(float(clock[-1]), duration_s)
    if float(clock[inside]) < duration_s + margin:
        return None
    if inside and float(clock[inside - 1]) >= duration_s - margin:
        return None
    return inside


def _kept_chunk_by_chunk(
    stream: RequestStream,
    arrivals: np.random.Generator,
    mean_gap_s: float,
    drawn: FloatArray,
    blocks: int,
) -> FloatArray:
    """The gaps the stream keeps, found as it finds them: chunk by chunk, the running
    time ``now`` added to each chunk's running sum; ``drawn`` holds the first ``blocks``
    chunks' gaps, ``arrivals`` draws the next ones (mean ``mean_gap_s``)."""
    chunk = stream.chunk
    gap_parts: list[FloatArray] = []
    now = 0.0
    gaps = drawn.reshape(blocks, chunk)
    while True:
        for block in range(blocks):
            sums = np.cumsum(gaps[block])  # a chunk at a time: no array of the whole run
            last = now + float(sums[-1])  # times[-1], as the stream adds it
            if last < stream.duration_s:  # the whole chunk is inside
                gap_parts.append(gaps[block])
                now = last
                continue
            times = now + sums
            inside = int(np.searchsorted(times, stream.duration_s, side="left"))
            gap_parts.append(gaps[block, :inside])
            if inside < chunk:
                return np.concatenate(gap_parts)
            now = float(times[-1])
        blocks = max(1, blocks // 4)
        gaps = draw(arrivals, "exponential", mean_gap_s, 0.0, blocks * chunk)
        gaps = gaps.reshape(blocks, chunk)


def pick_users(
    weights: FloatArray, picks: FloatArray | np.random.Generator, count: int | None = None
) -> IntArray:
    """``searchsorted(cumsum(weights) with the last set to 1, picks, "right")``, as the
    stream picks users; for equal weights computed directly and corrected exactly.
    ``picks``: the uniform draws, or the generator to draw ``count`` of them from (a
    block at a time: the same values, and no array of them all).

    With ``n`` equal weights the edges are ``k / n`` but for rounding: the running sum's
    ``k``-th value is within ``(n + 1) * 2**-53`` of ``k / n`` (each addition rounds by at
    most half an ulp of a value at most 1, and the weight itself by less), and
    ``pick * n`` within ``n * 2**-53`` of its exact value. So ``floor(pick * n)`` is the
    answer unless ``pick * n`` lies within ``2 * n * (n + 1) * 2**-53`` of an integer;
    picks that close (a few in a million, even for a million users) are looked up."""
    if isinstance(picks, np.ndarray):
        given, generator, total = picks, None, len(picks)
    else:
        given, generator, total = None, picks, int(count or 0)
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0
    users = len(cumulative)
    margin = max(1e-9, 4.0 * users * (users + 1) * 2.0**-53)  # twice the bound, in picks
    equal = users >= 2 and margin < 0.25 and bool(np.all(weights == weights[0]))
    chosen = np.empty(total, dtype=np.int64)
    block = min(PICK_BLOCK, total)
    drawn = np.empty(block if given is None else 0)
    scaled = np.empty(block if equal else 0)
    floors = np.empty(block if equal else 0)
    for lo in range(0, total, PICK_BLOCK):  # blocks: the temporaries stay in the cache
        size = min(PICK_BLOCK, total - lo)
        if given is not None:
            part = given[lo : lo + size]
        else:
            assert generator is not None
            part = generator.random(size, out=drawn[:size])
        guess = chosen[lo : lo + size]
        if not equal:
            guess[:] = np.searchsorted(cumulative, part, side="right")
            continue
        fraction = np.multiply(part, users, out=scaled[:size])
        edge = np.floor(fraction, out=floors[:size])  # (picks are >= 0: truncation)
        np.copyto(guess, edge, casting="unsafe")
        fraction -= edge  # how far past the guessed edge, in picks (no integer cast)
        near = fraction < margin
        near |= fraction > 1.0 - margin
        if near.any():
            guess[near] = np.searchsorted(cumulative, part[near], side="right")
    return chosen


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
    stream: RequestStream, gaps: FloatArray, users: IntArray | None, service_s: FloatArray
) -> None:
    """Compare the arrays' first chunk with the stream's first chunk (``users``: ``None``
    when left out, then the first ones are drawn with :func:`stream_users`).

    Raises:
        StreamMismatchError: they differ.
    """
    # the first CHECK_REQUESTS requests: a stream's first values do not depend on its
    # chunk size (each generator's draws do not, nor does a running sum's prefix)
    small = RequestStream(
        stream.rate,
        stream.service,
        stream.population,
        stream.streams,
        stream.duration_s,
        chunk=min(stream.chunk, CHECK_REQUESTS),
    )
    first = next(iter(small))
    size = len(first.gaps_s)
    if users is None:
        users = stream_users(stream, min(size, len(gaps)))
    if (
        len(gaps) < size
        or gaps[:size].tolist() != first.gaps_s
        or users[:size].tolist() != first.users
        or service_s[:size].tolist() != first.service_s
    ):
        raise StreamMismatchError("the request arrays differ from RequestStream's chunks")
