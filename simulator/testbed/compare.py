"""Real against model: one verdict per metric.

The real run is one sample; the model gives a mean and a 95% interval over its
replications (:class:`~simulator.experiments.replications.Interval`). A metric is

- ``inside CI`` when the real value lies in the model's interval,
- ``within tolerance`` when it lies within the metric's stated tolerance of the model's
  mean (:data:`COMPARED`: the tolerance says how far one real run may honestly fall from
  the model's mean, since a single run has its own noise the interval does not hold),
- ``off`` otherwise, with the likely cause when one can be named (a busy machine, a load
  generator behind its schedule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from simulator.experiments.replications import Interval

INSIDE = "inside CI"
WITHIN = "within tolerance"
OFF = "off"


@dataclass(frozen=True)
class Metric:
    """A metric compared real against model.

    Attributes:
        key: its dotted name, as in :data:`simulator.experiments.replications.METRICS`.
        label: what people read (``p95 latency``).
        unit: ``%`` (a fraction shown in percent), ``ms``, ``""``.
        absolute: largest difference allowed, in the metric's own unit (fractions for
            ``%``), or ``None``.
        relative: largest difference allowed as a fraction of the model's mean, or
            ``None``. With both, the larger allowance applies.
    """

    key: str
    label: str
    unit: str
    absolute: float | None = None
    relative: float | None = None

    def allowance(self, model_mean: float) -> float:
        """How far the real value may be from the model's mean and still agree."""
        allowed = 0.0
        if self.absolute is not None:
            allowed = max(allowed, self.absolute)
        if self.relative is not None and math.isfinite(model_mean):
            allowed = max(allowed, self.relative * abs(model_mean))
        return allowed


COUNT_ABSOLUTE, COUNT_RELATIVE = 5.0, 0.10
"""Every count (forced re-logins, of each cause, users logged out, in each window):
within 10% of the model's mean, or 5 for small counts. One tolerance for all, so a total
and its parts cannot get different verdicts for the same gap."""

COMPARED: tuple[Metric, ...] = (
    Metric("success_rate", "success rate", "%", absolute=0.03),
    Metric(
        "forced_relogins",
        "forced re-logins",
        "",
        absolute=COUNT_ABSOLUTE,
        relative=COUNT_RELATIVE,
    ),
    Metric(
        "users_logged_out",
        "users logged out",
        "",
        absolute=COUNT_ABSOLUTE,
        relative=COUNT_RELATIVE,
    ),
    Metric("latency_ms.mean", "mean latency", "ms", absolute=1.0, relative=0.20),
    Metric("latency_ms.p50", "p50 latency", "ms", absolute=1.0, relative=0.20),
    Metric("latency_ms.p95", "p95 latency", "ms", absolute=2.0, relative=0.30),
    Metric("latency_ms.p99", "p99 latency", "ms", absolute=3.0, relative=0.40),
    Metric("load_skew.max_over_mean", "jobs per server, max/mean", "", absolute=0.10),
    Metric("load_skew.jain", "jobs per server, Jain", "", absolute=0.02),
    Metric("store.mean_latency_ms", "store latency, mean", "ms", absolute=0.5, relative=0.30),
)
"""The metrics of the comparison and their tolerances. Success within 3 points, as the
issue that asked for the testbed set; counts within 10% (or 5 for small counts);
latencies within 20% at the centre and more in the tail, where one run's percentile is
noisier; Jain's index within 0.02; max/mean within 0.10, since with a few servers and
users of unequal activity one run's busiest server varies by about 0.05 (the standard
deviation over the model's replications of `baseline --quick` with `sticky`), so a
tighter bound calls one ordinary run off. The store's latency is compared only where there
is a store: the model is given the mean Redis round trip the servers measured, so this row
checks that the model adds no waiting (a busy store) that the real one did not have."""


WINDOW_SUCCESS_POINTS = 0.05
"""A window between two events holds a few hundred requests in a quick run (the binomial
standard deviation of a success rate of 2/3 over 250 requests is 3 points), so its
success rate may be 5 points from the model's mean."""


def per_cause(causes: list[str]) -> tuple[Metric, ...]:
    """Forced re-logins of each of ``causes`` (``forced_relogins_by_cause.<cause>``)."""
    return tuple(
        Metric(
            f"forced_relogins_by_cause.{cause}",
            f"re-logins: {cause}",
            "",
            absolute=COUNT_ABSOLUTE,
            relative=COUNT_RELATIVE,
        )
        for cause in causes
    )


def per_window(labels: list[str]) -> tuple[Metric, ...]:
    """Success rate and users logged out in each window between events
    (``windows.<i>.success_rate``...), labelled by the window."""
    found: list[Metric] = []
    for index, label in enumerate(labels):
        found.append(
            Metric(
                f"windows.{index}.success_rate",
                f"success, {label}",
                "%",
                absolute=WINDOW_SUCCESS_POINTS,
            )
        )
        found.append(
            Metric(
                f"windows.{index}.users_logged_out",
                f"users logged out, {label}",
                "",
                absolute=COUNT_ABSOLUTE,
                relative=COUNT_RELATIVE,
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class Machine:
    """What the machine was doing during the real run.

    Attributes:
        cores: CPU cores.
        load_average: the 1-minute load average at the end of the run.
        behind_schedule_ms: how late the load generator sent its requests, p99, ms.
    """

    cores: int
    load_average: float
    behind_schedule_ms: float = 0.0

    @property
    def contended(self) -> bool:
        """More runnable processes than cores: every process waited for a CPU."""
        return self.load_average > self.cores


@dataclass(frozen=True)
class Row:
    """One metric of one strategy, real beside model.

    Attributes:
        strategy: the strategy.
        metric: the metric compared.
        real: the real run's value (``nan`` when it has none).
        model: the model's mean and 95% interval over its replications.
        verdict: :data:`INSIDE`, :data:`WITHIN` or :data:`OFF`.
        cause: the likely cause when ``off`` (empty otherwise or when unknown).
    """

    strategy: str
    metric: Metric
    real: float
    model: Interval
    verdict: str
    cause: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "strategy": self.strategy,
            "metric": self.metric.key,
            "label": self.metric.label,
            "unit": self.metric.unit,
            "real": None if math.isnan(self.real) else self.real,
            "model": self.model.to_dict(),
            "allowance": self.metric.allowance(self.model.mean),
            "verdict": self.verdict,
            "cause": self.cause,
        }


def judge(real: float, model: Interval, metric: Metric) -> str:
    """The verdict of one real value against the model's interval (see the module)."""
    if math.isnan(real) or math.isnan(model.mean):
        return OFF if math.isnan(real) != math.isnan(model.mean) else INSIDE
    if not math.isnan(model.half_width) and not model.excludes(real):
        return INSIDE
    if abs(real - model.mean) <= metric.allowance(model.mean):
        return WITHIN
    return OFF


ROUTED = ("success_rate", "forced_relogins", "users_logged_out", "load_skew", "windows.")
"""Prefixes of the metrics that depend on which server each request reaches."""


def likely_cause(
    metric: Metric, real: float, model: Interval, machine: Machine, routing: str = ""
) -> str:
    """The likely reason a metric is off, in words (empty when none is known).

    ``routing`` is a known difference between the real balancer's routing and the
    model's (see :func:`simulator.testbed.haproxy.routing_difference`), named for the
    metrics that depend on routing.
    """
    higher = real > model.mean
    reasons: list[str] = []
    if routing and metric.key.startswith(ROUTED):
        reasons.append(routing)
    if machine.contended and (metric.key.startswith("latency") and higher):
        reasons.append(
            f"load average {machine.load_average:.1f} on {machine.cores} cores: CPU contention"
        )
    if machine.behind_schedule_ms > 5.0 and metric.key.startswith("latency"):
        reasons.append(
            f"the load generator ran up to {machine.behind_schedule_ms:.0f} ms behind its "
            "schedule (p99)"
        )
    if metric.key.startswith("latency") and higher and not reasons:
        reasons.append("per-request costs the model does not have (HTTP, the balancer, Python)")
    return "; ".join(reasons)


def compare(
    strategy: str,
    real: dict[str, float],
    model: dict[str, Interval],
    machine: Machine,
    metrics: tuple[Metric, ...] = COMPARED,
    routing: str = "",
) -> list[Row]:
    """Every metric of one strategy, real beside model.

    Args:
        strategy: the strategy.
        real: the real run's metrics by dotted name (missing: ``nan``).
        model: the model's intervals by dotted name.
        machine: what the machine was doing, for the likely causes.
        metrics: which metrics (default :data:`COMPARED`), those the model has.
        routing: a known difference in routing, for the likely causes.
    """
    rows: list[Row] = []
    for metric in metrics:
        if metric.key not in model:
            continue
        value = float(real.get(metric.key, math.nan))
        interval = model[metric.key]
        if math.isnan(value) and math.isnan(interval.mean):
            continue  # neither side has it (the store of a strategy without one)
        verdict = judge(value, interval, metric)
        cause = likely_cause(metric, value, interval, machine, routing) if verdict == OFF else ""
        rows.append(Row(strategy, metric, value, interval, verdict, cause))
    return rows
