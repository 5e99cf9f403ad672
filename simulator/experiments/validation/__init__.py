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
``ps``
    One server whose 4 workers share 1 core (``cluster.cpu_cores = 1``): the shared CPU is
    processor sharing, so with constant (not exponential) service its mean response time
    is the M/G/1-PS ``S/(1 - ρ)``, which holds for every service distribution, where
    first-come-first-served would give the lower M/D/1 value. At ρ = 0.2 more than 4
    jobs are present with probability ρ⁵ = 0.03%, so the worker slots (a first-come queue
    in front of the CPU) almost never matter (at ρ = 0.25 they already pulled the mean
    0.2% towards first-come-first-served, as much as the interval's half-width).
``hop``
    The ``mm1`` traffic again with a constant ``load_balancer.hop_ms``: the hop holds no
    worker, so the mean latency is the M/M/1 one plus the hop, and the paired difference
    with the ``mm1`` runs (the same requests) is the hop exactly, to float rounding
    (that row's tolerance is 1e-6, and its interval is float noise, see
    :data:`~simulator.experiments.validation.lab.FLOAT_NOISE`).

Pass rule (documented tolerance): a row passes when its relative error
``|simulated - theory| / |theory|`` is at most :data:`TOLERANCE` (3%) *and* the theory
lies within :data:`CI_SLACK` (2) times the 95% half-width of the simulated mean (about a
99.99% interval for a normal mean): a model bias larger than the simulation's own noise
fails even when it is under 3%. An exact quantity (the same in every replication) is held
to its own, much smaller tolerance instead. Seeds are fixed (the ``baseline`` seed), so the verdict
is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simulator.experiments.validation.costs import case_hop, case_ps
from simulator.experiments.validation.lab import (
    CI_SLACK,
    EXACT,
    FAST,
    FLOAT_NOISE,
    FULL,
    SERVICE_MS,
    TOLERANCE,
    WARMUP_S,
    Budget,
    CaseResult,
    Lab,
    scenario_for,
)
from simulator.experiments.validation.queueing import case_little, case_mm1, case_mmc, case_store
from simulator.experiments.validation.routing import case_local, case_remap


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
    measure: Callable[[Lab], list[CaseResult]]


CASES: tuple[Case, ...] = (
    Case("mm1", "random routing to single-worker servers: M/M/1 per server", case_mm1),
    Case("mmc", "random routing to c-worker servers: M/M/c and Erlang C", case_mmc),
    Case("little", "Little's law L = λW on every server", case_little),
    Case("store", "the shared store: M/M/1 plus a round trip", case_store),
    Case("remap", "keys remapped from 9 to 10 servers: modulo vs consistent hashing", case_remap),
    Case("local", "local sessions under random routing: success 1/N", case_local),
    Case("ps", "workers sharing one core: M/G/1 processor sharing", case_ps),
    Case("hop", "a constant balancer hop adds exactly its value", case_hop),
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
    lab = Lab(FAST if fast else FULL)
    rows: list[CaseResult] = []
    for case in CASES:
        if case.name not in wanted:
            continue
        if progress is not None:
            progress(case.name)
        rows.extend(case.measure(lab))
    return rows


__all__ = [
    "CASES",
    "CI_SLACK",
    "EXACT",
    "FAST",
    "FLOAT_NOISE",
    "FULL",
    "SERVICE_MS",
    "TOLERANCE",
    "WARMUP_S",
    "Budget",
    "Case",
    "CaseResult",
    "case_names",
    "scenario_for",
    "validate",
]
