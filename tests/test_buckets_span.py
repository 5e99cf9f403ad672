"""Buckets.span: the bucket of a time and until when it lasts, exactly as Buckets.index
says for every float in between (the simulation routes with it, once per bucket)."""

from __future__ import annotations

import math
import random

import pytest

from simulator.results.timeseries import Buckets

WINDOWS = [
    (0.0, 200.0, 5.0),
    (0.0, 10.0, 0.1),  # 0.1 is not a float: edges fall between products
    (1.0 / 3.0, 7.0, 0.7),
    (30.0, 90.0, 7.0),  # a last bucket shorter than the others
    (0.0, 1.0, 3.0),  # one bucket, wider than the window
    (5.0, 5.000001, 1e-7),
]


def _index_changes_between(buckets: Buckets, time_s: float, until_s: float) -> bool:
    """Whether Buckets.index differs at any float near the ends of [time_s, until_s)."""
    bucket = buckets.index(time_s)
    probes = [time_s]
    if math.isfinite(until_s):
        low = math.nextafter(until_s, -math.inf)
        probes += [low, math.nextafter(low, -math.inf), math.nextafter(time_s, math.inf)]
    return any(buckets.index(t) != bucket for t in probes if time_s <= t < until_s)


@pytest.mark.parametrize(("start_s", "end_s", "width_s"), WINDOWS)
def test_the_span_ends_at_the_first_float_of_another_bucket(
    start_s: float, end_s: float, width_s: float
) -> None:
    buckets = Buckets(start_s, end_s, width_s)
    rng = random.Random(7)
    times = [rng.uniform(start_s - width_s, end_s + width_s) for _ in range(300)]
    for k in range(buckets.count + 1):  # around every edge, a few floats either side
        edge = start_s + k * width_s
        near = edge
        for _ in range(4):
            near = math.nextafter(near, -math.inf)
        for _ in range(9):
            times.append(near)
            near = math.nextafter(near, math.inf)
    times += [start_s, end_s, math.nextafter(end_s, -math.inf)]
    for time_s in times:
        bucket, until_s = buckets.span(time_s)
        assert bucket == buckets.index(time_s)
        assert until_s > time_s
        assert not _index_changes_between(buckets, time_s, until_s)
        if math.isfinite(until_s):
            assert buckets.index(until_s) != bucket  # the first float of another bucket


def test_walking_the_spans_visits_every_bucket_in_order() -> None:
    buckets = Buckets(0.0, 10.0, 0.1)
    seen, time_s = [], -1.0
    while math.isfinite(time_s) and len(seen) <= buckets.count + 2:
        bucket, time_s = buckets.span(time_s)
        seen.append(bucket)
    assert seen == [-1, *range(buckets.count), -1]
