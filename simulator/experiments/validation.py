"""Validation: the model against closed-form theory where theory applies.

Each case builds a short scenario from ``baseline`` with overrides that make a textbook
result exact (Poisson arrivals, exponential service, no authentication cost, queues long
enough that nothing is refused), runs independent replications
(:func:`simulator.experiments.replications.run_replications`) and compares the mean over
replications, with its 95% Student-t interval, to the formula of
:mod:`simulator.experiments.theory`. The hashing case measures the balancer classes directly on many
keys and many rings.

The cases (``authsim validate`` prints them as a table):

``mm1``
    Random routing over N single-worker servers splits a Poisson stream into N Poisson
    streams of rate λ/N, so each server is an M/M/1 queue: mean response time
    ``1/(μ - λ/N)``; server utilisation ``λ/(Nμ)``.
``mmc``
    The same with c workers per server: an M/M/c queue; its mean response time needs the
    Erlang C probability of waiting.
``little``
    Little's law on each server of the ``mmc`` runs, with every term measured: L, the
    time-average number of jobs in the server, is the mean of the model's queue-length
    samples (jobs waiting, sampled every 5 ms) plus the mean number in service (worker
    busy time / window, from the server's utilisation); λ is the jobs the server
    received / window; W is the mean latency of the requests it answered. The check is
    ``L = λ W`` per server: three separate measurement channels of the model agree.
``store``
    The shared store is one FIFO server with exponential operation times. With one
    operation per request, Poisson arrivals, and enough workers and connections that
    nobody waits before sending (the operation stream is then the arrival stream,
    shifted by half a round trip), it is an M/M/1 queue of load ``λ · op_time``: the
    mean time from sending an operation to its reply is ``rtt + 1/(μ_store - λ)``, and
    its utilisation is ``λ · op_time``. ``jwt`` with free checks runs on the same
    requests, so the paired difference of mean latencies, ``shared_store - jwt``, is
    what the store adds to a request: the same ``rtt + 1/(μ_store - λ)``.
``remap``
    ``ip_hash`` (hash modulo the live servers) and ``consistent_hash`` (a ring with many
    virtual nodes), measured on :class:`simulator.model.balancer.IpHash` and
    :class:`simulator.model.balancer.ConsistentHash` for many keys when the live servers go
    from 9 to 10: modulo hashing moves ``1 - min(N,M)/lcm(N,M)`` = 90% of the keys,
    consistent hashing ``|M-N|/max(N,M)`` = 10%. Every replication uses fresh keys and,
    for the ring, a fresh placement of the ring points (other server ids), because
    10% is an expectation over placements.
``local``
    ``local`` sessions under uniform random routing: each user's session lives on one
    server, each check lands on a uniformly random server, so it succeeds with
    probability 1/N; a miss forces a login and one retry, which finds the new session
    with probability 1/N, so ``(2N - 1)/N²`` of the requests are served at all.

Pass rule (documented tolerance): a row passes when its relative error
``|simulated - theory| / |theory|`` is at most :data:`TOLERANCE` (3%) *and* the theory
lies within :data:`CI_SLACK` (2) times the 95% half-width of the simulated mean (about a
99.99% interval for a normal mean): a model bias larger than the simulation's own noise
fails even when it is under 3%. Seeds are fixed (the ``baseline`` seed), so the verdict
is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator import outcomes
from simulator.experiments import theory
from simulator.experiments.replications import (
    Interval,
    ReplicatedResult,
    mean_interval,
    run_replications,
)
from simulator.model.balancer import ClusterView, ConsistentHash, IpHash
from simulator.model.workload import splitmix64
from simulator.results.metrics import clean_float
from simulator.scenario.loading import load_scenario
from simulator.scenario.models import Scenario

TOLERANCE = 0.03
"""Largest relative error ``|simulated - theory| / |theory|`` a row may have to pass."""

CI_SLACK = 2.0
"""A row also needs ``|simulated - theory| <= CI_SLACK * half_width`` (95% half-width)."""

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
    """

    replications: int
    mm1_s: float
    mmc_s: float
    store_s: float
    local_s: float
    remap_keys: int


FULL = Budget(
    replications=10, mm1_s=180.0, mmc_s=70.0, store_s=70.0, local_s=80.0, remap_keys=50_000
)
"""The full set: about 1.6 million simulated requests, under 30 s on one core."""

FAST = Budget(replications=8, mm1_s=60.0, mmc_s=30.0, store_s=30.0, local_s=40.0, remap_keys=30_000)
"""The ``--fast`` set for tests: about 530,000 simulated requests, about 10 s; same cases,
same tolerance (the intervals are about 1.5 times wider)."""


@dataclass(frozen=True)
class CaseResult:
    """One checked quantity: simulation against theory.

    Attributes:
        case: the case it belongs to (``mm1``, ``mmc``, ``little``, ``store``, ``remap``,
            ``local``).
        quantity: what is compared, in words (``mean response time``).
        checks: the theory it checks, one sentence with the numbers plugged in.
        simulated: mean over replications and its 95% interval.
        theory: the closed-form value.
        unit: unit of ``simulated`` and ``theory`` (``ms``, ``jobs``, ``""`` for a
            fraction).
        tolerance: largest relative error allowed.
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
    def passed(self) -> bool:
        """Relative error within tolerance and the theory within ``CI_SLACK`` half-widths."""
        error = abs(self.relative_error)
        if not error <= self.tolerance:
            return False
        half_width = self.simulated.half_width
        if math.isnan(half_width):
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
class _Lab:
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


def _interval(values: Iterable[float]) -> Interval:
    return mean_interval(list(values))


# ------------------------------------------------------------------------- cases

_MM1_SERVERS = 4
_MM1_RATE = 200.0  # requests/s over the cluster: 50/s per server, rho = 0.5


def _case_mm1(lab: _Lab) -> list[CaseResult]:
    servers, rate = _MM1_SERVERS, _MM1_RATE
    overrides = {
        "cluster.servers": servers,
        "cluster.workers_per_server": 1,
        "workload.arrival_rate_per_s": rate,
    }
    runs = lab.replicate("mm1", overrides, ["jwt"], lab.budget.mm1_s)
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
            _interval(float(np.mean(run["jwt"].server_utilisation)) for run in runs.runs),
            rho,
        ),
    ]


_MMC_SERVERS = 2
_MMC_WORKERS = 4
_MMC_RATE = 520.0  # 260/s per server, a = 2.6 Erlangs on 4 workers, rho = 0.65
_MMC_BUCKET_S = 0.05  # queue sampled every 5 ms (10 samples per bucket)


def _mmc_runs(lab: _Lab) -> ReplicatedResult:
    overrides = {
        "cluster.servers": _MMC_SERVERS,
        "cluster.workers_per_server": _MMC_WORKERS,
        "workload.arrival_rate_per_s": _MMC_RATE,
        "bucket_s": _MMC_BUCKET_S,
    }
    # the request records give each server's W for the Little's law case
    return lab.replicate("mmc", overrides, ["jwt"], lab.budget.mmc_s, record_requests=True)


def _case_mmc(lab: _Lab) -> list[CaseResult]:
    runs = _mmc_runs(lab)
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


def _case_little(lab: _Lab) -> list[CaseResult]:
    runs = _mmc_runs(lab)
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
                _interval(number),
                float(np.mean(flow)),
                "jobs",
            )
        )
    return rows


_STORE_RATE = 500.0  # requests/s, one store operation each
_STORE_OP_MS = 1.0  # rho_store = 0.5
_STORE_RTT_MS = 0.5
_STORE_WORKERS = 32  # per server: a worker is always free, so operations leave on arrival


def _case_store(lab: _Lab) -> list[CaseResult]:
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


class _Idle:
    """A server stand-in for :class:`ClusterView` (only load-aware policies read it)."""

    in_system = 0


_REMAP_BEFORE = 9
_REMAP_AFTER = 10
_VIRTUAL_NODES = 4000
_POINT_CHECKS = 8


class _BulkRing(ConsistentHash):
    """:class:`ConsistentHash` with its ring points hashed in bulk beforehand.

    ``ConsistentHash.point`` hashes one point at a time (about 20 µs each); a ring of 10
    servers × 4000 virtual nodes is built here from the same values computed with
    numpy. The ring logic (rebuild on a change of live servers, ownership by bisection)
    is the class's own; :func:`_ring_points` checks that the values are identical.
    """

    def __init__(
        self,
        view: ClusterView,
        user_ip: Sequence[int],
        ip_hash: Sequence[int],
        virtual_nodes: int,
        points: dict[tuple[int, int], int],
    ) -> None:
        super().__init__(view, user_ip, ip_hash, virtual_nodes)
        self._table = points

    def point(self, server: int, replica: int) -> int:  # type: ignore[override]
        return self._table[server, replica]


def _ring_points(servers: Sequence[int], virtual_nodes: int) -> dict[tuple[int, int], int]:
    """Ring positions of every virtual node of ``servers``, as ``ConsistentHash.point``.

    Raises:
        RuntimeError: the bulk values differ from ``ConsistentHash.point`` (its formula
            changed): the check would no longer measure the model's ring.
    """
    pairs = [(server, replica) for server in servers for replica in range(virtual_nodes)]
    inputs = np.array(
        [ConsistentHash._POINT_DOMAIN | (server << 24) | replica for server, replica in pairs],
        dtype=np.uint64,
    )
    points = dict(zip(pairs, splitmix64(inputs).tolist(), strict=True))
    step = max(1, len(pairs) // _POINT_CHECKS)
    for pair in pairs[::step]:
        if points[pair] != ConsistentHash.point(*pair):
            raise RuntimeError(
                "validation: bulk ring points differ from ConsistentHash.point; update "
                "simulator.experiments.validation._ring_points"
            )
    return points


def _moved(
    choose: Callable[[int], int], view: ClusterView, before: list[int], after: list[int], keys: int
) -> float:
    """Fraction of keys whose server changes when the live servers go ``before → after``."""
    view.set_live(before)
    first = [choose(key) for key in range(keys)]
    view.set_live(after)
    second = [choose(key) for key in range(keys)]
    return sum(a != b for a, b in zip(first, second, strict=True)) / keys


def _case_remap(lab: _Lab) -> list[CaseResult]:
    before, after = _REMAP_BEFORE, _REMAP_AFTER
    keys = lab.budget.remap_keys
    identity = list(range(keys))
    modulo: list[float] = []
    ring: list[float] = []
    for replication in range(lab.budget.replications):
        key_hashes = splitmix64(
            np.arange(replication * keys, (replication + 1) * keys, dtype=np.uint64)
        ).tolist()
        # ip_hash: key k is its own client IP; fresh keys in every replication
        view = ClusterView([_Idle()] * after)
        ip_hash = IpHash(view, identity, key_hashes)
        modulo.append(_moved(ip_hash.choose, view, list(range(before)), list(range(after)), keys))
        # consistent hash: a fresh ring in every replication (other server ids)
        ids = [replication * after + index for index in range(after)]
        view = ClusterView([_Idle()] * (ids[-1] + 1))
        ring_balancer = _BulkRing(
            view, identity, key_hashes, _VIRTUAL_NODES, _ring_points(ids, _VIRTUAL_NODES)
        )
        ring.append(_moved(ring_balancer.choose, view, ids[:before], ids, keys))
    where = f"{lab.budget.replications} × {keys:,} keys"
    return [
        CaseResult(
            "remap",
            f"ip_hash keys moved {before}→{after}",
            f"modulo hashing: 1 - min(N,M)/lcm(N,M) = 1 - {min(before, after)}/"
            f"{math.lcm(before, after)} (IpHash, {where})",
            _interval(modulo),
            theory.modulo_remap_fraction(before, after),
        ),
        CaseResult(
            "remap",
            f"consistent_hash keys moved {before}→{after}",
            f"consistent hashing: |M-N|/max(N,M) (ConsistentHash, {_VIRTUAL_NODES} virtual "
            f"nodes, a fresh ring per replication, {where})",
            _interval(ring),
            theory.consistent_hash_remap_fraction(before, after),
        ),
    ]


_LOCAL_SERVERS = 5
_LOCAL_RATE = 200.0


def _case_local(lab: _Lab) -> list[CaseResult]:
    servers = _LOCAL_SERVERS
    overrides = {
        "cluster.servers": servers,
        "cluster.workers_per_server": 4,
        "workload.arrival_rate_per_s": _LOCAL_RATE,
    }
    runs = lab.replicate("local", overrides, ["local"], lab.budget.local_s)
    served = _interval(run["local"].served / run["local"].requests for run in runs.runs)
    where = f"N = {servers} servers, random routing, free logins"
    return [
        CaseResult(
            "local",
            "success rate",
            f"the first check finds the session with probability 1/N ({where})",
            runs.interval("local", "success_rate"),
            theory.local_success_rate(servers),
        ),
        CaseResult(
            "local",
            "served fraction",
            f"first check or the retry after the forced login: (2N - 1)/N² ({where})",
            served,
            theory.local_served_fraction(servers),
        ),
    ]


@dataclass(frozen=True)
class Case:
    """One validation case.

    Attributes:
        name: short name (``authsim validate --case NAME``).
        title: what it checks, in a few words.
        measure: runs it and compares; returns one row per quantity.
    """

    name: str
    title: str
    measure: Callable[[_Lab], list[CaseResult]]


CASES: tuple[Case, ...] = (
    Case("mm1", "random routing to single-worker servers: M/M/1 per server", _case_mm1),
    Case("mmc", "random routing to c-worker servers: M/M/c and Erlang C", _case_mmc),
    Case("little", "Little's law L = λW on every server", _case_little),
    Case("store", "the shared store: M/M/1 plus a round trip", _case_store),
    Case("remap", "keys remapped from 9 to 10 servers: modulo vs consistent hashing", _case_remap),
    Case("local", "local sessions under random routing: success 1/N", _case_local),
)
"""Every case, in the order they run."""


def case_names() -> list[str]:
    """Names of the cases, in order."""
    return [case.name for case in CASES]


def validate(
    fast: bool = False,
    cases: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CaseResult]:
    """Run the validation cases and compare each with theory.

    Args:
        fast: a smaller budget (:data:`FAST`, for tests); same cases and tolerance.
        cases: names of the cases to run (default: all of :data:`CASES`), run in the
            order of :data:`CASES`.
        progress: called with a case's name before it runs.

    Returns:
        One row per checked quantity; ``all(row.passed for row in rows)`` is the verdict.

    Raises:
        ValueError: an unknown case name.
    """
    wanted = case_names() if cases is None else list(cases)
    unknown = [name for name in wanted if name not in case_names()]
    if unknown:
        raise ValueError(
            f"unknown validation case {unknown[0]!r}; choose from {', '.join(case_names())}"
        )
    lab = _Lab(FAST if fast else FULL)
    rows: list[CaseResult] = []
    for case in CASES:
        if case.name not in wanted:
            continue
        if progress is not None:
            progress(case.name)
        rows.extend(case.measure(lab))
    return rows
