"""How long a warm-up does a scenario need? Welch's graphical method.

A run starts empty and idle: no job in any queue and, with
``workload.logged_in_at_start: false``, nobody logged in, so the first minutes are not
typical of the system that the scenario describes. ``warmup_s`` discards the requests
that arrive before it. This module helps choose it with the procedure of Welch (1983),
as given by Law, *Simulation Modeling and Analysis* (5th ed., 2015), section 9.5.1:

1. Run ``R`` independent replications (:func:`simulator.model.run.run` with
   ``replication=0..R-1``) with ``warmup_s`` set to 0, so the time series start at time 0.
2. Take one metric per time bucket from each replication (``Y[j, i]``: replication
   ``j``, bucket ``i``) and average over the replications: ``Ybar[i]``. Averaging keeps
   the shape of the transient (the mean over runs of the value at time ``t``) and
   divides the noise's variance by ``R``.
3. Smooth with a centred moving average of half-width ``w`` buckets:
   ``Ybar_i(w) = mean(Ybar[i-w .. i+w])``; for the first ``w`` buckets the window
   shrinks to ``mean(Ybar[0 .. 2i])``, and the last ``w`` buckets have no smoothed value
   (there is not enough data after them). Law: choose ``w`` (and ``R``) so the curve is
   reasonably smooth, and keep ``w <= m / 4`` for ``m`` buckets.
4. Read off the time after which the smoothed curve has "converged". Law leaves this to
   the eye; here it is made mechanical so that it can be tested and printed: the
   **long-run level** is the mean of the averaged curve over the second half of the
   run, and the suggested warm-up is the start of the first bucket after which every
   smoothed value lies within ``tolerance`` (default :data:`DEFAULT_TOLERANCE`, 5%) of
   that level (and within ``absolute_tolerance``, for metrics whose level is near 0).

What it can tell: when the mean of the chosen metric stops drifting, judged on the
mean over ``R`` replications, for this scenario, this strategy and this metric. What it
cannot tell:

- It is a heuristic read off one plot, not a test: with few replications or a narrow
  window, noise can keep the smoothed curve outside the band (a late suggestion) or
  hide a slow drift inside it (an early one). Look at :func:`simulator.present.plots.welch_figure`
  before trusting the number.
- Smoothing smears the transient over ``w`` buckets on each side, so the smoothed curve
  of a falling (or rising) start enters the band up to ``w`` buckets later than the
  averaged one: the suggestion errs late, which costs data but not bias. A narrower
  window errs less but lets more noise through.
- The long-run level is estimated from the second half of the run. If the transient
  lasts longer than that, the level is wrong and so is the suggestion; the result says
  so in :attr:`WelchResult.notes` when the suggestion falls in the second half. The run
  should be several times longer than the warm-up it suggests.
- Different metrics settle at different speeds (a tail percentile can settle sooner or
  later than the mean), and so do different strategies: choose the slowest you report.
- A system with no steady state (overloaded: arrivals faster than service; a ramp or a
  diurnal rate profile; a timeline of events) has no warm-up to find; the method then
  says "not settled" at best and, at worst, a number that means nothing. Scenarios with
  events or a time-varying rate are flagged in :attr:`WelchResult.notes`.
- It addresses the bias of the start, not the variance: a correct warm-up still needs
  enough replications (see :mod:`simulator.experiments.replications`) to put an interval
  on a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator import outcomes
from simulator.model.run import run
from simulator.results.metrics import clean_float
from simulator.results.records import RunResult
from simulator.results.timeseries import Buckets, StrategySeries
from simulator.scenario.models import Scenario, StrategyName
from simulator.scenario.profiles import ConstantRate

FloatArray = npt.NDArray[np.float64]

DEFAULT_TOLERANCE = 0.05
"""The smoothed curve must stay within this fraction of its long-run level (5%)."""

DEFAULT_REPLICATIONS = 5
"""Law suggests starting with 5 to 10 replications."""

DEFAULT_WINDOW = 5
"""Half-width ``w`` of the moving average, in buckets (11 buckets averaged)."""

DEFAULT_METRIC = "latency_mean"


@dataclass(frozen=True)
class WelchMetric:
    """A per-bucket metric Welch's method can average.

    Attributes:
        label: what it is, with its unit (for axes and tables).
        unit: the unit alone.
        needs_requests: computed from the per-request records (the run must keep them).
        percent: a fraction in [0, 1], drawn as %.
    """

    label: str
    unit: str
    needs_requests: bool = False
    percent: bool = False


WELCH_METRICS: dict[str, WelchMetric] = {
    "latency_mean": WelchMetric("mean latency of served requests (ms)", "ms", needs_requests=True),
    "latency_p50": WelchMetric("p50 latency of served requests (ms)", "ms"),
    "latency_p95": WelchMetric("p95 latency of served requests (ms)", "ms"),
    "latency_p99": WelchMetric("p99 latency of served requests (ms)", "ms"),
    "success_rate": WelchMetric(
        "success rate (served, no error, no forced re-login)", "", percent=True
    ),
    "served_per_s": WelchMetric("requests served per second", "requests/s"),
    "queue_length": WelchMetric("jobs waiting for a worker, all servers", "jobs"),
}
"""The metrics :func:`welch` accepts, by name. Requests are bucketed by arrival time;
the queue length is the mean of the samples in a bucket."""


@dataclass(frozen=True)
class WelchResult:
    """The curves of Welch's method and the warm-up they suggest.

    Attributes:
        scenario: the scenario as given (its ``warmup_s`` is the current setting; the
            replications ran with ``warmup_s = 0``).
        strategy: the strategy whose metric was followed.
        metric: the metric's name (a key of :data:`WELCH_METRICS`).
        window: half-width ``w`` of the moving average, buckets.
        tolerance: relative half-width of the band around the long-run level.
        absolute_tolerance: least half-width of that band, in the metric's unit.
        t_s: start of each bucket, seconds from the start of the run.
        bucket_s: bucket width, seconds.
        per_replication: the metric per replication and bucket, shape ``(R, m)``
            (NaN: nothing to measure in that bucket, e.g. no served request).
        averaged: mean over replications per bucket (NaN where every one is NaN).
        smoothed: the centred moving average of ``averaged`` (NaN for the last ``w``
            buckets, which have no full window after them).
        level: the long-run level: mean of ``averaged`` over the second half of the run
            (NaN if there is nothing to measure there).
        suggested_warmup_s: start of the first bucket after which every smoothed value
            stays in the band; ``None`` when the curve never settles inside the run.
        notes: warnings about how far the suggestion can be trusted.
    """

    scenario: Scenario
    strategy: str
    metric: str
    window: int
    tolerance: float
    absolute_tolerance: float
    t_s: FloatArray
    bucket_s: float
    per_replication: FloatArray
    averaged: FloatArray
    smoothed: FloatArray
    level: float
    suggested_warmup_s: float | None
    notes: tuple[str, ...] = ()

    @property
    def replications(self) -> int:
        """Number of replications ``R``."""
        return int(self.per_replication.shape[0])

    @property
    def current_warmup_s(self) -> float:
        """The scenario's own ``warmup_s``."""
        return self.scenario.warmup_s

    @property
    def duration_s(self) -> float:
        """Length of each replication, seconds."""
        return self.scenario.duration_s

    @property
    def band(self) -> tuple[float, float]:
        """Low and high end of the band the smoothed curve must stay in."""
        half = _half_width(self.level, self.tolerance, self.absolute_tolerance)
        return self.level - half, self.level + half

    @property
    def settled(self) -> bool:
        """Whether the smoothed curve settled inside the run."""
        return self.suggested_warmup_s is not None

    def with_suggested_warmup(self) -> Scenario:
        """The scenario with ``warmup_s`` set to the suggestion.

        Raises:
            ValueError: the curve did not settle (no suggestion).
        """
        if self.suggested_warmup_s is None:
            raise ValueError("the curve did not settle: there is no warm-up to suggest")
        return self.scenario.with_overrides({"warmup_s": self.suggested_warmup_s}, source="welch")

    def to_frame(self) -> pd.DataFrame:
        """One row per bucket: ``t_s``, ``averaged``, ``smoothed`` and one column per
        replication (``replication_0``...)."""
        columns: dict[str, Any] = {
            "t_s": self.t_s,
            "averaged": self.averaged,
            "smoothed": self.smoothed,
        }
        for index, values in enumerate(self.per_replication):
            columns[f"replication_{index}"] = values
        return pd.DataFrame(columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the curves as lists; NaN as ``null``)."""
        low, high = self.band
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "strategy": self.strategy,
            "metric": self.metric,
            "replications": self.replications,
            "window": self.window,
            "tolerance": self.tolerance,
            "absolute_tolerance": self.absolute_tolerance,
            "duration_s": self.duration_s,
            "bucket_s": self.bucket_s,
            "current_warmup_s": self.current_warmup_s,
            "suggested_warmup_s": clean_float(self.suggested_warmup_s),
            "level": clean_float(self.level),
            "band": [clean_float(low), clean_float(high)],
            "notes": list(self.notes),
            "t_s": [clean_float(float(value)) for value in self.t_s],
            "averaged": [clean_float(float(value)) for value in self.averaged],
            "smoothed": [clean_float(float(value)) for value in self.smoothed],
        }

    def __str__(self) -> str:
        what = f"{self.metric} of {self.strategy}"
        if self.suggested_warmup_s is None:
            head = f"{what}: did not settle within {self.duration_s:g} s"
        else:
            head = f"{what}: suggested warm-up {self.suggested_warmup_s:g} s"
        if self.absolute_tolerance > self.tolerance * abs(self.level):
            band = f"{self.absolute_tolerance:.4g}"
        else:
            band = f"{self.tolerance:.0%}"
        head += (
            f" (scenario has {self.current_warmup_s:g} s; level {self.level:.4g}"
            f" ± {band}; R = {self.replications}, w = {self.window},"
            f" {self.bucket_s:g}-s buckets)"
        )
        return "\n".join([head, *(f"note: {note}" for note in self.notes)])


def welch(
    scenario: Scenario,
    replications: int = DEFAULT_REPLICATIONS,
    *,
    strategy: str | StrategyName | None = None,
    metric: str = DEFAULT_METRIC,
    window: int = DEFAULT_WINDOW,
    tolerance: float = DEFAULT_TOLERANCE,
    absolute_tolerance: float = 0.0,
    bucket_s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WelchResult:
    """Welch's graphical method: suggest a warm-up for a scenario.

    Args:
        scenario: the scenario; its ``warmup_s`` is ignored for the runs (set to 0) and
            only reported. Run it long enough: several times the warm-up you expect.
        replications: ``R``, independent replications (replication indices ``0..R-1``
            of the scenario's seed, as :func:`simulator.experiments.replications.run_replications`).
        strategy: whose metric to follow; default the scenario's first strategy. Only
            that strategy is simulated.
        metric: a key of :data:`WELCH_METRICS` (default ``latency_mean``).
        window: half-width ``w`` of the moving average, buckets (0: no smoothing);
            clipped to a quarter of the buckets.
        tolerance: the smoothed curve must stay within this fraction of the long-run
            level (default 5%).
        absolute_tolerance: the band is at least this wide on each side, in the
            metric's unit (for metrics whose level is near 0, such as a queue length).
        bucket_s: bucket width, seconds; default the scenario's ``bucket_s`` or a round
            width giving 30 to 60 buckets over the whole run.
        progress: ``progress(done, total)`` after each replication.

    Returns:
        The curves and the suggestion.

    Raises:
        ValueError: an unknown metric or strategy, fewer than 1 replication, a negative
            window or tolerance.
        ScenarioError: ``bucket_s`` is not a positive number.
    """
    if metric not in WELCH_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(WELCH_METRICS)}")
    if replications < 1:
        raise ValueError("replications must be at least 1")
    if window < 0:
        raise ValueError("window must be >= 0")
    if tolerance < 0 or absolute_tolerance < 0:
        raise ValueError("tolerance and absolute_tolerance must be >= 0")
    name = str(StrategyName(strategy)) if strategy is not None else str(scenario.strategies[0])
    overrides: dict[str, Any] = {"warmup_s": 0.0}
    if bucket_s is not None:
        overrides["bucket_s"] = bucket_s
    from_zero = scenario.with_overrides(overrides, source="welch")
    spec = WELCH_METRICS[metric]
    rows: list[FloatArray] = []
    for replication in range(replications):
        result = run(
            from_zero, [name], replication=replication, record_requests=spec.needs_requests
        )
        rows.append(_metric_per_bucket(result, name, metric))
        if progress is not None:
            progress(replication + 1, replications)
    per_replication = np.vstack(rows)
    series = _series_of(result, name)
    t_s = np.asarray(series.t_s, dtype=np.float64)
    averaged = _nanmean_rows(per_replication)
    w = min(window, len(t_s) // 4)
    smoothed = moving_average(averaged, w)
    level = _long_run_level(t_s, averaged, from_zero.duration_s)
    suggestion = suggest_warmup(t_s, smoothed, level, tolerance, absolute_tolerance)
    return WelchResult(
        scenario=scenario,
        strategy=name,
        metric=metric,
        window=w,
        tolerance=tolerance,
        absolute_tolerance=absolute_tolerance,
        t_s=t_s,
        bucket_s=series.bucket_s,
        per_replication=per_replication,
        averaged=averaged,
        smoothed=smoothed,
        level=level,
        suggested_warmup_s=suggestion,
        notes=_notes(scenario, suggestion, level, w, window, replications),
    )


def moving_average(values: FloatArray, window: int) -> FloatArray:
    """Welch's centred moving average (Law, 5th ed., eq. 9.1).

    ``out[i]`` is the mean of ``values[i - window .. i + window]``; for ``i < window``
    the window shrinks to ``values[0 .. 2i]`` (still centred on ``i``); the last
    ``window`` entries are NaN (no full window after them). NaN inputs are skipped;
    a window of NaNs only gives NaN.

    Args:
        values: the averaged curve.
        window: half-width ``w >= 0`` (0 returns a copy).
    """
    values = np.asarray(values, dtype=np.float64)
    count = len(values)
    out = np.full(count, np.nan)
    for index in range(count - window):
        half = min(index, window)
        out[index] = _nanmean(values[index - half : index + half + 1])
    return out


def suggest_warmup(
    t_s: FloatArray,
    smoothed: FloatArray,
    level: float,
    tolerance: float = DEFAULT_TOLERANCE,
    absolute_tolerance: float = 0.0,
) -> float | None:
    """Start of the first bucket after which the smoothed curve stays in the band.

    The band is ``level ± max(tolerance * |level|, absolute_tolerance)``. NaN smoothed
    values (no data, or the last ``w`` buckets) neither break nor make the run of
    values inside the band.

    Returns:
        ``t_s`` of that bucket (0.0 when the curve is inside from the start), or
        ``None`` when the last smoothed value is outside the band, or there is no
        level or no smoothed value at all.
    """
    if not math.isfinite(level):
        return None
    smoothed = np.asarray(smoothed, dtype=np.float64)
    defined = np.flatnonzero(np.isfinite(smoothed))
    if defined.size == 0:
        return None
    half = _half_width(level, tolerance, absolute_tolerance)
    outside = defined[np.abs(smoothed[defined] - level) > half]
    if outside.size == 0:
        return float(t_s[0])
    after = defined[defined > outside[-1]]
    if after.size == 0:
        return None
    return float(t_s[after[0]])


# ----------------------------------------------------------------------- helpers


def _half_width(level: float, tolerance: float, absolute_tolerance: float) -> float:
    return max(tolerance * abs(level), absolute_tolerance)


def _nanmean(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _nanmean_rows(matrix: FloatArray) -> FloatArray:
    """Mean over replications (rows) per bucket, skipping NaN, NaN if all are."""
    finite = np.isfinite(matrix)
    counts = finite.sum(axis=0)
    sums = np.where(finite, matrix, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _long_run_level(t_s: FloatArray, averaged: FloatArray, duration_s: float) -> float:
    """Mean of the averaged curve over the buckets that start in the second half."""
    return _nanmean(averaged[t_s >= duration_s / 2])


def _series_of(result: RunResult, strategy: str) -> StrategySeries:
    series = result[strategy].series
    if series is None:  # pragma: no cover - every run builds its series
        raise RuntimeError(f"{strategy}: the run has no time series")
    return series


def _metric_per_bucket(result: RunResult, strategy: str, metric: str) -> FloatArray:
    """One replication's value of ``metric`` in each bucket."""
    series = _series_of(result, strategy)
    if metric == "latency_mean":
        arrival, outcome, latency, _ = result.logs[strategy].columns()
        buckets = Buckets(float(series.t_s[0]), result.scenario.duration_s, series.bucket_s)
        served = (outcome == outcomes.OK) | (outcome == outcomes.RELOGIN)
        index = buckets.indices(arrival[served])
        count = len(series.t_s)
        totals = np.bincount(index, weights=latency[served], minlength=count)
        counts = np.bincount(index, minlength=count)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
    if metric.startswith("latency_p"):
        row = {"latency_p50": 0, "latency_p95": 1, "latency_p99": 2}[metric]
        return np.asarray(series.latency_ms[row], dtype=np.float64)
    if metric == "success_rate":
        return np.asarray(series.success_rate, dtype=np.float64)
    if metric == "served_per_s":
        return np.asarray(series.served / series.bucket_s, dtype=np.float64)
    return np.asarray(series.queue_length.sum(axis=0), dtype=np.float64)  # queue_length


def _notes(
    scenario: Scenario,
    suggestion: float | None,
    level: float,
    window: int,
    asked_window: int,
    replications: int,
) -> tuple[str, ...]:
    notes: list[str] = []
    if not math.isfinite(level):
        notes.append("nothing to measure in the second half of the run: no level, no suggestion")
    elif suggestion is None:
        notes.append(
            "the smoothed curve is still outside the band at the end of the run: it is too "
            "noisy for the band (more replications, a wider window or wider buckets), still "
            "drifting (run longer), or the system has no steady state (overloaded?)"
        )
    elif suggestion >= scenario.duration_s / 2:
        notes.append(
            "the suggestion is in the second half of the run, from which the level was "
            "estimated: run several times longer and try again"
        )
    if scenario.events:
        notes.append(
            "the scenario has events: a timeline of faults is not a steady state, and a "
            "warm-up found around it means little"
        )
    if not isinstance(scenario.workload.rate_profile, ConstantRate):
        notes.append("the arrival rate changes over time: there may be no steady state")
    if window < asked_window:
        notes.append(f"window clipped to {window} buckets (a quarter of the run)")
    if replications < DEFAULT_REPLICATIONS:
        notes.append(
            f"only {replications} replication(s): the averaged curve is noisy "
            f"(Law suggests 5 to 10)"
        )
    return tuple(notes)
