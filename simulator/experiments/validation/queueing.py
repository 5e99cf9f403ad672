"""Queueing cases: M/M/1 and M/M/c per server, Little's law, and the store as M/M/1."""

from __future__ import annotations

import numpy as np

from simulator import outcomes
from simulator.experiments import theory
from simulator.experiments.replications import ReplicatedResult
from simulator.experiments.validation.lab import SERVICE_MS, CaseResult, Lab, interval

MM1_SERVERS = 4
MM1_RATE = 200.0  # requests/s over the cluster: 50/s per server, rho = 0.5
MM1_OVERRIDES: dict[str, object] = {
    "cluster.servers": MM1_SERVERS,
    "cluster.workers_per_server": 1,
    "workload.arrival_rate_per_s": MM1_RATE,
}
"""The ``mm1`` scenario (the ``hop`` case runs it again with a hop)."""


def case_mm1(lab: Lab) -> list[CaseResult]:
    servers, rate = MM1_SERVERS, MM1_RATE
    runs = lab.replicate("mm1", MM1_OVERRIDES, ["jwt"], lab.budget.mm1_s)
    mu = 1000.0 / SERVICE_MS
    per_server = rate / servers
    response_ms = theory.mm1_mean_response(per_server, mu) * 1000.0
    rho = theory.mm1_utilisation(per_server, mu)
    where = (
        f"{servers} servers × 1 worker, random routing, λ = {rate:g}/s, "
        f"exponential service {SERVICE_MS:g} ms"
    )
    return [
        CaseResult(
            "mm1",
            "mean response time",
            f"M/M/1 per server: 1/(μ - λ/N) with λ/N = {per_server:g}/s, μ = {mu:g}/s ({where})",
            runs.interval("jwt", "latency_ms.mean"),
            response_ms,
            "ms",
        ),
        CaseResult(
            "mm1",
            "server utilisation",
            f"M/M/1 per server: ρ = λ/(Nμ) = {rho:g} ({where}); mean over servers",
            interval(float(np.mean(run["jwt"].server_utilisation)) for run in runs.runs),
            rho,
        ),
    ]


_MMC_SERVERS = 2
_MMC_WORKERS = 4
_MMC_RATE = 520.0  # 260/s per server, a = 2.6 Erlangs on 4 workers, rho = 0.65
_MMC_BUCKET_S = 0.05  # queue sampled every 5 ms (10 samples per bucket)


def mmc_runs(lab: Lab) -> ReplicatedResult:
    overrides = {
        "cluster.servers": _MMC_SERVERS,
        "cluster.workers_per_server": _MMC_WORKERS,
        "workload.arrival_rate_per_s": _MMC_RATE,
        "bucket_s": _MMC_BUCKET_S,
    }
    # the request records give each server's W for the Little's law case
    return lab.replicate("mmc", overrides, ["jwt"], lab.budget.mmc_s, record_requests=True)


def case_mmc(lab: Lab) -> list[CaseResult]:
    runs = mmc_runs(lab)
    c = _MMC_WORKERS
    mu = 1000.0 / SERVICE_MS
    per_server = _MMC_RATE / _MMC_SERVERS
    waiting = theory.erlang_c(c, per_server / mu)
    response_ms = theory.mmc_mean_response(per_server, mu, c) * 1000.0
    return [
        CaseResult(
            "mmc",
            "mean response time",
            f"M/M/{c} per server: 1/μ + C/(cμ - λ) with Erlang C(c={c}, a={per_server / mu:g}) "
            f"= {waiting:.4f} ({_MMC_SERVERS} servers × {c} workers, random routing, "
            f"λ = {_MMC_RATE:g}/s, ρ = {theory.mmc_utilisation(per_server, mu, c):g})",
            runs.interval("jwt", "latency_ms.mean"),
            response_ms,
            "ms",
        )
    ]


def _little_terms(runs: ReplicatedResult, server: int) -> tuple[list[float], list[float]]:
    """Per replication: L measured, and λ W measured, for one server."""
    measured_s = runs.scenario.measured_s
    workers = runs.scenario.cluster.workers_per_server
    number: list[float] = []
    flow: list[float] = []
    for run in runs.runs:
        result = run["jwt"]
        assert result.series is not None
        waiting = float(np.mean(result.series.queue_length[server]))
        in_service = (
            result.server_utilisation[server] * workers * result.server_up_s[server] / measured_s
        )
        number.append(waiting + in_service)
        log = run.logs["jwt"]
        answered_by = np.frombuffer(log.server, dtype=np.int64)
        codes = np.frombuffer(log.outcome, dtype=np.int8)
        latency_ms = np.frombuffer(log.latency_ms, dtype=np.float64)
        served = (codes == outcomes.OK) | (codes == outcomes.RELOGIN)
        mine = (answered_by == server) & served
        mean_time_s = float(latency_ms[mine].mean()) / 1000.0
        rate = result.server_requests[server] / measured_s
        flow.append(theory.littles_number(rate, mean_time_s))
    return number, flow


def case_little(lab: Lab) -> list[CaseResult]:
    runs = mmc_runs(lab)
    rows = []
    for server in range(_MMC_SERVERS):
        number, flow = _little_terms(runs, server)
        rows.append(
            CaseResult(
                "little",
                f"jobs in server {server}, L",
                f"Little's law L = λW on server {server} of the mmc runs: L from queue samples "
                "every 5 ms plus busy workers; λ = jobs received / window; W = mean latency "
                "of the requests it answered",
                interval(number),
                float(np.mean(flow)),
                "jobs",
            )
        )
    return rows


_STORE_RATE = 500.0  # requests/s, one store operation each
_STORE_OP_MS = 1.0  # rho_store = 0.5
_STORE_RTT_MS = 0.5
_STORE_WORKERS = 32  # per server: a worker is always free, so operations leave on arrival


def case_store(lab: Lab) -> list[CaseResult]:
    overrides = {
        "cluster.servers": 5,
        "cluster.workers_per_server": _STORE_WORKERS,
        "workload.arrival_rate_per_s": _STORE_RATE,
        "shared_store.op_time_ms": _STORE_OP_MS,
        "shared_store.rtt_ms": _STORE_RTT_MS,
        "shared_store.pool_size": _STORE_WORKERS,
    }
    # jwt on the same traffic (free checks, no store) isolates what the store adds
    runs = lab.replicate("store", overrides, ["shared_store", "jwt"], lab.budget.store_s)
    mu = 1000.0 / _STORE_OP_MS
    latency_ms = _STORE_RTT_MS + theory.mm1_mean_response(_STORE_RATE, mu) * 1000.0
    rho = theory.mm1_utilisation(_STORE_RATE, mu)
    where = (
        f"λ = {_STORE_RATE:g} ops/s, op {_STORE_OP_MS:g} ms, rtt {_STORE_RTT_MS:g} ms, "
        f"{_STORE_WORKERS} workers and connections per server"
    )
    return [
        CaseResult(
            "store",
            "store op latency",
            f"M/M/1 store: rtt + 1/(μ - λ) ({where})",
            runs.interval("shared_store", "store.mean_latency_ms"),
            latency_ms,
            "ms",
        ),
        CaseResult(
            "store",
            "latency added to a request",
            "the store's time lands in the request's latency: shared_store minus jwt on the "
            f"same requests (paired), M/M/1 store plus rtt ({where})",
            runs.paired("shared_store", "jwt", "latency_ms.mean").interval,
            latency_ms,
            "ms",
        ),
        CaseResult(
            "store",
            "store utilisation",
            f"M/M/1 store: ρ = λ · op_time = {rho:g} ({where})",
            runs.interval("shared_store", "store.utilisation"),
            rho,
        ),
    ]
