"""Per-request cost cases: workers sharing one core (M/G/1-PS), and the balancer hop."""

from __future__ import annotations

from simulator.experiments import theory
from simulator.experiments.validation.lab import SERVICE_MS, CaseResult, Lab, interval
from simulator.experiments.validation.queueing import MM1_OVERRIDES, MM1_RATE, MM1_SERVERS

_PS_WORKERS = 4
_PS_RATE = 20.0  # requests/s on one server: rho = 0.2
_PS_SERVICE_MS = 10.0  # constant: FCFS would give M/D/1, well apart from PS


def case_ps(lab: Lab) -> list[CaseResult]:
    overrides = {
        "cluster.servers": 1,
        "cluster.workers_per_server": _PS_WORKERS,
        "cluster.cpu_cores": 1,
        "cluster.service_time_ms": {"distribution": "constant", "mean": _PS_SERVICE_MS},
        "workload.arrival_rate_per_s": _PS_RATE,
    }
    runs = lab.replicate("ps", overrides, ["jwt"], lab.budget.ps_s)
    service_s = _PS_SERVICE_MS / 1000.0
    rho = _PS_RATE * service_s
    response_ms = theory.mg1_ps_mean_response(_PS_RATE, service_s) * 1000.0
    fcfs_ms = theory.mg1_fcfs_mean_response(_PS_RATE, service_s, 0.0) * 1000.0
    return [
        CaseResult(
            "ps",
            "mean response time",
            f"M/G/1-PS: S/(1 - ρ) for any service distribution, S = {_PS_SERVICE_MS:g} ms "
            f"constant, λ = {_PS_RATE:g}/s, ρ = {rho:g} (first-come-first-served M/D/1 would "
            f"give {fcfs_ms:.2f} ms). One server, {_PS_WORKERS} workers sharing 1 core "
            f"(cluster.cpu_cores = 1): each of n jobs computes at 1/n speed. Checkable "
            f"because the worker slots almost never bind: under PS P(more than "
            f"{_PS_WORKERS} jobs) = ρ^{_PS_WORKERS + 1} = {rho ** (_PS_WORKERS + 1):.4f}, "
            "and only then does a job wait for a worker rather than share the core",
            runs.interval("jwt", "latency_ms.mean"),
            response_ms,
            "ms",
        )
    ]


_HOP_MS = 5.0
_EXACT_TOLERANCE = 1e-6  # relative: float rounding only


def case_hop(lab: Lab) -> list[CaseResult]:
    without = lab.replicate("mm1", MM1_OVERRIDES, ["jwt"], lab.budget.mm1_s)
    hop = {"load_balancer.hop_ms": {"distribution": "constant", "mean": _HOP_MS}}
    runs = lab.replicate("hop", MM1_OVERRIDES | hop, ["jwt"], lab.budget.mm1_s)
    with_hop = runs.values("jwt", "latency_ms.mean")
    plain = without.values("jwt", "latency_ms.mean")
    added = [a - b for a, b in zip(with_hop, plain, strict=True)]
    mu = 1000.0 / SERVICE_MS
    per_server = MM1_RATE / MM1_SERVERS
    response_ms = theory.mm1_mean_response(per_server, mu) * 1000.0 + _HOP_MS
    where = (
        f"the mm1 traffic ({MM1_SERVERS} servers × 1 worker, λ = {MM1_RATE:g}/s, exponential "
        f"service {SERVICE_MS:g} ms) with load_balancer.hop_ms = {_HOP_MS:g} ms constant"
    )
    return [
        CaseResult(
            "hop",
            "latency added by the hop",
            f"a constant hop adds exactly its value: mean latency with the hop minus without, "
            f"on the same requests (paired), equals {_HOP_MS:g} ms to float rounding "
            f"(tolerance {_EXACT_TOLERANCE:g}); the hop holds no worker, so the queues are "
            f"the same ({where})",
            interval(added),
            _HOP_MS,
            "ms",
            tolerance=_EXACT_TOLERANCE,
        ),
        CaseResult(
            "hop",
            "mean response time",
            f"M/M/1 per server plus the hop: 1/(μ - λ/N) + hop ({where})",
            runs.interval("jwt", "latency_ms.mean"),
            response_ms,
            "ms",
        ),
    ]
