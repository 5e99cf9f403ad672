"""The validation lab: the exact scenario, the budget, one compared row, and the
replications the cases share.

See :mod:`simulator.experiments.validation` for the cases and the pass rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.experiments.replications import (
    Interval,
    ReplicatedResult,
    mean_interval,
    run_replications,
)
from simulator.results.metrics import clean_float
from simulator.scenario.loading import load_scenario
from simulator.scenario.models import Scenario

TOLERANCE = 0.03
"""Largest relative error ``|simulated - theory| / |theory|`` a row may have to pass."""

CI_SLACK = 2.0
"""A row also needs ``|simulated - theory| <= CI_SLACK * half_width`` (95% half-width)."""

FLOAT_NOISE = 1e-9
"""A half-width below this fraction of the theory is float rounding, not sampling noise:
the quantity is exact (the same in every replication), and only its tolerance applies."""

WARMUP_S = 2.0
"""Warm-up of every simulated case, seconds: queues here relax in tens of milliseconds."""

SERVICE_MS = 10.0
"""Mean (exponential) business service time of the queueing cases, ms."""

EXACT: dict[str, Any] = {
    "workload.user_weights": "uniform",
    "workload.users_per_ip": 1,
    "workload.logged_in_at_start": True,
    "workload.rate_profile": {"shape": "constant"},
    "cluster.service_time_ms": {"distribution": "exponential", "mean": SERVICE_MS},
    "cluster.queue_limit": 1_000_000,
    "cluster.login_cpu_ms": 0.0,
    "cluster.request_timeout_ms": 3_600_000.0,
    "cluster.network_mbps": None,
    "load_balancer.policy": "random",
    "jwt.verify_ms": 0.0,
    "jwt.sign_ms": 0.0,
    "jwt.ttl_s": 1e12,
    "jwt.refresh": False,
    "jwt.denylist": "none",
    "events": [],
    "calibration": None,
}
"""Overrides of ``baseline`` that make the queueing formulas exact: Poisson arrivals split
uniformly at random, exponential service, zero authentication cost (a JWT check that
costs nothing and tokens that never expire, so no login ever happens), and queues so long
that nothing is refused or times out."""


@dataclass(frozen=True)
class Budget:
    """How much simulation each case gets.

    Attributes:
        replications: independent replications per simulated case.
        mm1_s: measured seconds of the ``mm1`` scenario (200 requests/s).
        mmc_s: measured seconds of the ``mmc`` scenario (520 requests/s).
        store_s: measured seconds of the ``store`` scenario (500 requests/s).
        local_s: measured seconds of the ``local`` scenario (200 requests/s).
        remap_keys: keys per replication of the ``remap`` case.
        ps_s: measured seconds of the ``ps`` scenario (20 requests/s). The ``hop`` case
            runs ``mm1_s`` (the ``mm1`` traffic again, with a hop).
    """

    replications: int
    mm1_s: float
    mmc_s: float
    store_s: float
    local_s: float
    remap_keys: int
    ps_s: float


FULL = Budget(
    replications=10,
    mm1_s=180.0,
    mmc_s=70.0,
    store_s=70.0,
    local_s=80.0,
    remap_keys=50_000,
    ps_s=1200.0,
)
"""The full set: about 1.9 million simulated requests, about 80 CPU-seconds on one core
(measured on the 2-core development machine, quiet)."""

FAST = Budget(
    replications=8,
    mm1_s=60.0,
    mmc_s=30.0,
    store_s=30.0,
    local_s=40.0,
    remap_keys=30_000,
    ps_s=400.0,
)
"""The ``--fast`` set for tests: about 600,000 simulated requests, about 30 CPU-seconds;
same cases, same tolerance (the intervals are about 1.5 times wider)."""


@dataclass(frozen=True)
class CaseResult:
    """One checked quantity: simulation against theory.

    Attributes:
        case: the case it belongs to (``mm1``, ``mmc``, ``little``, ``store``, ``remap``,
            ``local``, ``ps``, ``hop``).
        quantity: what is compared, in words (``mean response time``).
        checks: the theory it checks, one sentence with the numbers plugged in.
        simulated: mean over replications and its 95% interval.
        theory: the closed-form value.
        unit: unit of ``simulated`` and ``theory`` (``ms``, ``jobs``, ``""`` for a
            fraction).
        tolerance: largest relative error allowed (:data:`TOLERANCE`, or far less for an
            exact quantity).
    """

    case: str
    quantity: str
    checks: str
    simulated: Interval
    theory: float
    unit: str = ""
    tolerance: float = TOLERANCE

    @property
    def relative_error(self) -> float:
        """Signed ``(simulated - theory) / |theory|``."""
        if self.theory == 0:
            return 0.0 if self.simulated.mean == 0 else math.inf
        return (self.simulated.mean - self.theory) / abs(self.theory)

    @property
    def theory_in_ci(self) -> bool:
        """Whether the theory lies inside the 95% interval of the simulated mean."""
        return not self.simulated.excludes(self.theory)

    @property
    def exact(self) -> bool:
        """The same in every replication: the interval is float rounding (see
        :data:`FLOAT_NOISE`), so only the tolerance applies."""
        return self.simulated.half_width <= FLOAT_NOISE * abs(self.theory)

    @property
    def passed(self) -> bool:
        """Relative error within tolerance and the theory within ``CI_SLACK`` half-widths
        (only the tolerance with one replication, or for an exact quantity: see
        :data:`FLOAT_NOISE`)."""
        error = abs(self.relative_error)
        if not error <= self.tolerance:
            return False
        half_width = self.simulated.half_width
        if math.isnan(half_width) or self.exact:
            return True
        return abs(self.simulated.mean - self.theory) <= CI_SLACK * half_width

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "case": self.case,
            "quantity": self.quantity,
            "checks": self.checks,
            "unit": self.unit,
            "simulated": self.simulated.to_dict(),
            "theory": clean_float(self.theory),
            "relative_error": clean_float(self.relative_error),
            "tolerance": self.tolerance,
            "theory_in_ci": self.theory_in_ci,
            "passed": self.passed,
        }


@dataclass
class Lab:
    """The budget, and the replications already run (cases may share them)."""

    budget: Budget
    runs: dict[str, ReplicatedResult] = field(default_factory=dict)

    def replicate(
        self,
        key: str,
        overrides: dict[str, Any],
        strategies: list[str],
        measured_s: float,
        *,
        record_requests: bool = False,
    ) -> ReplicatedResult:
        """Run (once) the replications of the scenario called ``key``."""
        if key not in self.runs:
            scenario = scenario_for(key, overrides, strategies, measured_s)
            self.runs[key] = run_replications(
                scenario, self.budget.replications, strategies, record_requests=record_requests
            )
        return self.runs[key]


def scenario_for(
    name: str, overrides: dict[str, Any], strategies: list[str], measured_s: float
) -> Scenario:
    """The ``baseline`` scenario made exact (:data:`EXACT`) plus a case's own overrides.

    Args:
        name: the case name (becomes ``validate-<name>``).
        overrides: the case's dotted-key overrides.
        strategies: the strategies run (on the same traffic).
        measured_s: measured seconds after :data:`WARMUP_S` of warm-up.
    """
    return load_scenario(
        "baseline",
        EXACT
        | {
            "name": f"validate-{name}",
            "strategies": strategies,
            "warmup_s": WARMUP_S,
            "duration_s": WARMUP_S + measured_s,
        }
        | overrides,
    )


def interval(values: Iterable[float]) -> Interval:
    """The mean of ``values`` with its 95% Student-t interval."""
    return mean_interval(list(values))
