"""Independent replications, confidence intervals and paired comparisons.

Replication ``r`` of a scenario draws every random stream from ``(seed, r)`` (see
:class:`simulator.model.rng.Streams`), so replications are independent of each other while,
inside one replication, every strategy sees the same traffic. That second property
makes *paired* differences between strategies much tighter than comparing two separate
means: the noise of the traffic cancels out.

Intervals are Student-t 95% intervals over the replications' values:
``mean ± t(0.975, R-1) * s / sqrt(R)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.model.run import ProgressCallback, run
from simulator.results.metrics import clean_float
from simulator.results.records import RunResult, StrategyResult
from simulator.scenario.models import Scenario, StrategyName

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval.

    Attributes:
        mean: the sample mean over replications.
        half_width: half the width of the interval (``nan`` with fewer than 2 values).
        n: number of values.
    """

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        """Lower end of the interval."""
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        """Upper end of the interval."""
        return self.mean + self.half_width

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval (a significant difference from it)."""
        return not (self.low <= value <= self.high)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "mean": clean_float(self.mean),
            "half_width": clean_float(self.half_width),
            "low": clean_float(self.low),
            "high": clean_float(self.high),
            "n": self.n,
        }

    def __str__(self) -> str:
        if math.isnan(self.half_width):
            return f"{self.mean:.4g}"
        return f"{self.mean:.4g} ± {self.half_width:.2g}"


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Student-t confidence interval of the mean of ``values`` (NaNs are dropped)."""
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    n = int(array.size)
    if n == 0:
        return Interval(float("nan"), float("nan"), 0)
    mean = float(array.mean())
    if n < 2:
        return Interval(mean, float("nan"), n)
    t = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1))
    half_width = t * float(array.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, half_width, n)


def _get(result: StrategyResult, name: str) -> float:
    """One scalar metric of a strategy result by its dotted name (``latency_ms.p95``)."""
    return METRICS[name](result)


def _optional(value: float | None) -> float:
    return float("nan") if value is None else float(value)


METRICS: dict[str, Callable[[StrategyResult], float]] = {
    "success_rate": lambda r: _optional(r.success_rate),
    "forced_relogins": lambda r: float(r.forced_relogins),
    # distinct users forced to log in again (a user forced twice counts once)
    "users_logged_out": lambda r: float(r.users_logged_out),
    "login_cpu_s": lambda r: r.login_cpu_s,
    "throughput_per_s": lambda r: r.throughput_per_s,
    "latency_ms.mean": lambda r: _optional(r.latency_ms["mean"]),
    "latency_ms.p50": lambda r: _optional(r.latency_ms["p50"]),
    "latency_ms.p95": lambda r: _optional(r.latency_ms["p95"]),
    "latency_ms.p99": lambda r: _optional(r.latency_ms["p99"]),
    "load_skew.max_over_mean": lambda r: _optional(r.load_skew["max_over_mean"]),
    "load_skew.cv": lambda r: _optional(r.load_skew["cv"]),
    "load_skew.jain": lambda r: _optional(r.load_skew["jain"]),
    "store.utilisation": lambda r: r.store.utilisation if r.store else float("nan"),
    "store.mean_latency_ms": lambda r: (
        _optional(r.store.mean_latency_ms) if r.store else float("nan")
    ),
    # a strategy that never asks the store makes 0 operations per request
    "store.ops_per_request": lambda r: _optional(r.store.ops_per_request) if r.store else 0.0,
    "auth_cost.verify_ms": lambda r: r.auth_cost.verify_ms if r.auth_cost else float("nan"),
    "credential_bytes": lambda r: float(r.credential_bytes),
    "refreshes": lambda r: float(r.refreshes),
    # NaN when nobody was revoked: there was nothing to expose
    "exposure.accepted_after_revocation": lambda r: (
        float(r.exposure.accepted_after_revocation) if r.exposure else float("nan")
    ),
    "exposure.mean_window_s": lambda r: r.exposure.mean_window_s if r.exposure else float("nan"),
}
"""The scalar metrics replicated, by dotted name (as in the JSON document)."""

PAIRED_METRICS: tuple[str, ...] = ("success_rate", "latency_ms.mean", "latency_ms.p95")
"""Metrics reported as paired differences between every two strategies."""


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` of one metric, replication by replication, with its interval.

    Attributes:
        a: the first strategy.
        b: the second strategy.
        metric: the metric's dotted name.
        interval: the mean difference and its confidence interval.
    """

    a: str
    b: str
    metric: str
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"a": self.a, "b": self.b, "metric": self.metric} | self.interval.to_dict()


@dataclass
class ReplicatedResult:
    """R independent replications of one scenario.

    Attributes:
        scenario: the scenario.
        runs: one :class:`RunResult` per replication, in order.
    """

    scenario: Scenario
    runs: list[RunResult]

    @property
    def replications(self) -> int:
        """Number of replications."""
        return len(self.runs)

    @property
    def strategies(self) -> list[str]:
        """The strategies run."""
        return self.runs[0].strategies

    def values(self, strategy: str, metric: str) -> list[float]:
        """The metric's value in every replication."""
        return [_get(run_result[strategy], metric) for run_result in self.runs]

    def interval(self, strategy: str, metric: str) -> Interval:
        """Mean and 95% interval of a metric over the replications."""
        return mean_interval(self.values(strategy, metric))

    def paired(self, a: str, b: str, metric: str) -> PairedDifference:
        """``a - b`` per replication (same traffic in each), with its interval."""
        differences = [
            left - right
            for left, right in zip(self.values(a, metric), self.values(b, metric), strict=True)
        ]
        return PairedDifference(a, b, metric, mean_interval(differences))

    def all_paired(self) -> list[PairedDifference]:
        """Every pair of strategies (in run order) for :data:`PAIRED_METRICS`."""
        names = self.strategies
        return [
            self.paired(a, b, metric)
            for index, a in enumerate(names)
            for b in names[index + 1 :]
            for metric in PAIRED_METRICS
        ]

    def strategy_dict(self, strategy: str) -> dict[str, Any]:
        """Means of every metric, nested like a single run's JSON, plus ``ci95``."""
        means: dict[str, Any] = {"strategy": strategy, "replications": self.replications}
        ci95: dict[str, Any] = {}
        for name in METRICS:
            interval = self.interval(strategy, name)
            if interval.n == 0:
                continue
            head, _, tail = name.partition(".")
            if tail:
                means.setdefault(head, {})[tail] = clean_float(interval.mean)
                ci95.setdefault(head, {})[tail] = interval.to_dict()
            else:
                means[head] = clean_float(interval.mean)
                ci95[head] = interval.to_dict()
        means["requests"] = clean_float(
            float(np.mean([run_result[strategy].requests for run_result in self.runs]))
        )
        means["ci95"] = ci95
        return means

    def frame(self) -> pd.DataFrame:
        """One row per replication and strategy, every replicated metric as a column."""
        rows = [
            {"replication": index, "strategy": name}
            | {metric: _get(run_result[name], metric) for metric in METRICS}
            for index, run_result in enumerate(self.runs)
            for name in run_result.strategies
        ]
        return pd.DataFrame(rows)

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``authsim run --replications R --json``."""
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "replications": self.replications,
            "confidence": CONFIDENCE,
            "results": [self.strategy_dict(name) for name in self.strategies],
            "paired": [pair.to_dict() for pair in self.all_paired()],
        }


def run_replications(
    scenario: Scenario,
    replications: int,
    strategies: Iterable[str | StrategyName] | None = None,
    *,
    record_requests: bool = False,
    progress: Callable[[int, int], None] | None = None,
    run_progress: ProgressCallback | None = None,
) -> ReplicatedResult:
    """Run ``replications`` independent replications of a scenario.

    Args:
        scenario: the scenario; its seed roots every replication's streams.
        replications: how many (at least 2 for an interval).
        strategies: which strategies; default: the scenario's.
        record_requests: keep every replication's per-request tables (memory grows with R).
        progress: ``progress(done, total)`` after each replication.
        run_progress: passed to each :func:`simulator.model.run.run`.

    Raises:
        ValueError: fewer than one replication.
    """
    if replications < 1:
        raise ValueError("replications must be at least 1")
    names = list(strategies) if strategies is not None else None
    runs = []
    for replication in range(replications):
        runs.append(
            run(
                scenario,
                names,
                replication=replication,
                record_requests=record_requests,
                progress=run_progress,
            )
        )
        if progress is not None:
            progress(replication + 1, replications)
    return ReplicatedResult(scenario=scenario, runs=runs)
