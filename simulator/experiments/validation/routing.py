"""Routing cases: keys remapped by modulo and consistent hashing on a scale-out, and
local sessions under random routing."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from simulator.experiments import theory
from simulator.experiments.validation.lab import CaseResult, Lab, interval
from simulator.model.balancer import ClusterView, ConsistentHash, IpHash
from simulator.model.rng import splitmix64


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
    is the class's own; :func:`ring_points` checks that the values are identical.
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


def ring_points(servers: Sequence[int], virtual_nodes: int) -> dict[tuple[int, int], int]:
    """Ring positions of every virtual node of ``servers``, as ``ConsistentHash.point``.

    Raises:
        RuntimeError: the bulk values differ from ``ConsistentHash.point`` (its formula
            changed): the check would no longer measure the model's ring.
    """
    pairs = [(server, replica) for server in servers for replica in range(virtual_nodes)]
    inputs = np.array(
        [ConsistentHash.POINT_DOMAIN | (server << 24) | replica for server, replica in pairs],
        dtype=np.uint64,
    )
    points = dict(zip(pairs, splitmix64(inputs).tolist(), strict=True))
    step = max(1, len(pairs) // _POINT_CHECKS)
    for pair in pairs[::step]:
        if points[pair] != ConsistentHash.point(*pair):
            raise RuntimeError(
                "validation: bulk ring points differ from ConsistentHash.point; update "
                "simulator.experiments.validation.routing.ring_points"
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


def case_remap(lab: Lab) -> list[CaseResult]:
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
            view, identity, key_hashes, _VIRTUAL_NODES, ring_points(ids, _VIRTUAL_NODES)
        )
        ring.append(_moved(ring_balancer.choose, view, ids[:before], ids, keys))
    where = f"{lab.budget.replications} × {keys:,} keys"
    return [
        CaseResult(
            "remap",
            f"ip_hash keys moved {before}→{after}",
            f"modulo hashing: 1 - min(N,M)/lcm(N,M) = 1 - {min(before, after)}/"
            f"{math.lcm(before, after)} (IpHash, {where})",
            interval(modulo),
            theory.modulo_remap_fraction(before, after),
        ),
        CaseResult(
            "remap",
            f"consistent_hash keys moved {before}→{after}",
            f"consistent hashing: |M-N|/max(N,M) (ConsistentHash, {_VIRTUAL_NODES} virtual "
            f"nodes, a fresh ring per replication, {where})",
            interval(ring),
            theory.consistent_hash_remap_fraction(before, after),
        ),
    ]


_LOCAL_SERVERS = 5
_LOCAL_RATE = 200.0


def case_local(lab: Lab) -> list[CaseResult]:
    servers = _LOCAL_SERVERS
    overrides = {
        "cluster.servers": servers,
        "cluster.workers_per_server": 4,
        "workload.arrival_rate_per_s": _LOCAL_RATE,
    }
    runs = lab.replicate("local", overrides, ["local"], lab.budget.local_s)
    served = interval(run["local"].served / run["local"].requests for run in runs.runs)
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
