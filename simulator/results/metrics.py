"""Pure functions from recorded numbers to the reported metrics.

Definitions (the README repeats them):

- success rate: requests served with no error and no forced re-login / all requests.
- latency: time from a request's arrival to its response, over served requests
  (``ok`` and ``relogin``), in ms: mean, p50, p95, p99 (linear interpolation).
- load skew over servers, from the jobs each server received:
  ``max_over_mean`` (peak to average, 1 is perfectly even), ``cv`` (coefficient of
  variation: population standard deviation / mean, 0 is even) and Jain's fairness index
  ``(sum x)^2 / (n * sum x^2)`` (1 is even, 1/n is all load on one server).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))


def success_rate(succeeded: int, requests: int) -> float | None:
    """``succeeded / requests``, or ``None`` when there were no requests."""
    return succeeded / requests if requests else None


def latency_summary(latency_ms: npt.ArrayLike) -> dict[str, float | None]:
    """Mean and percentiles of latencies in ms; every value ``None`` when there are none."""
    values = np.asarray(latency_ms, dtype=np.float64)
    if values.size == 0:
        empty: dict[str, float | None] = {"mean": None}
        return empty | {name: None for name, _ in PERCENTILES}
    points = np.percentile(values, [q for _, q in PERCENTILES])
    summary: dict[str, float | None] = {"mean": float(values.mean())}
    for (name, _), value in zip(PERCENTILES, points, strict=True):
        summary[name] = float(value)
    return summary


def peak_to_average(loads: Sequence[float]) -> float | None:
    """``max / mean`` of per-server loads; ``None`` when the total is zero."""
    values = np.asarray(loads, dtype=np.float64)
    if values.size == 0 or values.sum() == 0:
        return None
    return float(values.max() / values.mean())


def coefficient_of_variation(loads: Sequence[float]) -> float | None:
    """Population standard deviation / mean of per-server loads; ``None`` for zero load."""
    values = np.asarray(loads, dtype=np.float64)
    if values.size == 0 or values.sum() == 0:
        return None
    return float(values.std() / values.mean())


def jain_index(loads: Sequence[float]) -> float | None:
    """Jain's fairness index ``(sum x)^2 / (n * sum x^2)``; ``None`` for zero load."""
    values = np.asarray(loads, dtype=np.float64)
    squares = float((values**2).sum())
    if values.size == 0 or squares == 0:
        return None
    return float(values.sum() ** 2 / (values.size * squares))


def load_skew(loads: Sequence[float]) -> dict[str, float | None]:
    """The three skew measures of per-server loads (see the module docstring)."""
    return {
        "max_over_mean": peak_to_average(loads),
        "cv": coefficient_of_variation(loads),
        "jain": jain_index(loads),
    }


def clean_float(value: float | None, digits: int = 6) -> float | None:
    """Round for output; ``None`` for missing, NaN or infinite values."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)
