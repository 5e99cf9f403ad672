"""Flat time series: a figure over time that would show nothing but noise.

In a run with no events a metric's figure over time is often a flat line (every request
served, every bucket alike). The report then shows one sentence instead of the figure
(:func:`flat_note`). "Flat" is decided numerically, for the metrics that count requests:

- ``success_rate``: in every bucket with requests, the bucket's success rate is within
  ``max(FLAT_FLOOR_PP points, FLAT_Z standard errors)`` of the strategy's mean rate
  ``p``, the standard error of a bucket of ``n`` requests being ``sqrt(p (1 - p) / n)``
  (the binomial noise of a rate that does not change);
- ``throughput`` and ``forced_relogins``: in every bucket the count is within
  ``max(FLAT_FLOOR_COUNT, FLAT_Z sqrt(expected))`` of the count the strategy's mean rate
  gives that bucket (Poisson noise);

for every strategy. The other metrics (latency percentiles, login CPU, queue length) have
no such noise model and are always drawn. A run with events is never flat: its figures
are where the events show.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.present.explain_base import RATE_CHANGE_PP
from simulator.present.format import MISSING, join_words
from simulator.results.records import RunResult
from simulator.results.timeseries import FloatArray, StrategySeries

__all__ = ["FLAT_FLOOR_COUNT", "FLAT_FLOOR_PP", "FLAT_METRICS", "FLAT_Z", "flat_note"]

FLAT_Z = 4.0
"""A bucket farther than this many standard errors (of chance alone) from the mean is a
change, not noise: with a hundred buckets, noise passes it about once in 150 runs."""

FLAT_FLOOR_PP = RATE_CHANGE_PP
"""Success-rate band never narrower than this, percentage points (a strategy at 100%
has no binomial noise)."""

FLAT_FLOOR_COUNT = 2.0
"""Count band never narrower than this, requests per bucket."""


@dataclass(frozen=True)
class _Spec:
    what: str
    unit: Callable[[float], str]
    deviation: Callable[[float], str]
    values: Callable[[StrategySeries, FloatArray], tuple[FloatArray, float, bool]]


def _success(series: StrategySeries, _widths: FloatArray) -> tuple[FloatArray, float, bool]:
    requests = series.requests.astype(np.float64)
    seen = requests > 0
    if not seen.any():
        return np.empty(0), math.nan, True
    rate = float(series.succeeded[seen].sum() / requests[seen].sum())
    values = series.succeeded[seen] / requests[seen]
    noise = FLAT_Z * np.sqrt(rate * (1 - rate) / requests[seen])
    band = np.maximum(FLAT_FLOOR_PP / 100, noise)
    return 100 * values, 100 * rate, bool(np.all(np.abs(values - rate) <= band + 1e-12))


def _counts(counts: FloatArray, widths: FloatArray, scale: float) -> tuple[FloatArray, float, bool]:
    """Values per ``scale`` seconds, their mean, and whether every bucket is within
    Poisson noise of the mean rate."""
    rate = float(counts.sum() / widths.sum())
    expected = rate * widths
    band = np.maximum(FLAT_FLOOR_COUNT, FLAT_Z * np.sqrt(expected))
    flat = bool(np.all(np.abs(counts - expected) <= band))
    return counts / widths * scale, rate * scale, flat


FLAT_METRICS: dict[str, _Spec] = {
    "success_rate": _Spec(
        "Success rate",
        lambda value: f"{value:.1f}%",
        lambda value: f"±{value:.1f} points",
        _success,
    ),
    "throughput": _Spec(
        "Served throughput",
        lambda value: f"{value:,.0f}/s",
        lambda value: f"±{value:,.1f} requests/s",
        lambda series, widths: _counts(series.served.astype(np.float64), widths, 1.0),
    ),
    "forced_relogins": _Spec(
        "Forced re-logins",
        lambda value: f"{value:,.0f}",
        lambda value: f"±{value:,.0f} per bucket",
        lambda series, widths: _counts(
            series.forced_relogins.astype(np.float64), widths, series.bucket_s
        ),
    ),
}
"""The metrics that can be found flat, with how they are written."""


def flat_note(result: RunResult, metric: str) -> str | None:
    """The sentence that replaces a flat figure over time, or ``None`` to draw it.

    Args:
        result: the run.
        metric: a time-series metric (:data:`simulator.present.plots.TIMESERIES_METRICS`).

    Returns:
        ``Success rate stayed within ±x points of each strategy's mean ...: no events,
        nothing changes over time.``; ``None`` for a run with events, a metric not in
        :data:`FLAT_METRICS`, a strategy without series, or a series that moves.
    """
    spec = FLAT_METRICS.get(metric)
    drawn = [item for item in result.results if item.series is not None]
    if result.events or spec is None or not drawn or len(drawn) < len(result.results):
        return None
    deviation = 0.0
    means = []
    for item in drawn:
        series = item.series
        assert series is not None  # filtered above (for the type checker)
        values, mean, flat = spec.values(series, _widths(result, series))
        if not flat:
            return None
        if values.size:
            deviation = max(deviation, float(np.max(np.abs(values - mean))))
        means.append(f"{item.strategy} {spec.unit(mean) if values.size else MISSING}")
    bucket_s = drawn[0].series.bucket_s if drawn[0].series is not None else 0.0
    if deviation == 0:
        return (
            f"{spec.what} was the same in every {bucket_s:g} s bucket for each strategy "
            f"({join_words(means)}): no events, nothing changes over time."
        )
    return (
        f"{spec.what} stayed within {spec.deviation(deviation)} of each strategy's mean "
        f"({join_words(means)}) in every {bucket_s:g} s bucket, no more than chance "
        "variation for buckets of this size: no events, nothing changes over time."
    )


def _widths(result: RunResult, series: StrategySeries) -> FloatArray:
    """Each bucket's width, seconds (the last one may be cut by the end of the run)."""
    end_s = result.scenario.duration_s
    return np.clip(end_s - series.t_s, 0.0, series.bucket_s).astype(np.float64)
