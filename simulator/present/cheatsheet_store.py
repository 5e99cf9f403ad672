"""The cheat sheet's "Keeping the store up": the store's high-availability options
(replicas with Sentinel, Redis Cluster, reading from replicas, a managed service), what
each costs and what each loses, in the model's keys (``shared_store.replicas``,
``failover_s``, ``shards``, ``read_from``, ``replication_lag_ms``) and in the numbers of
the ``store-failover``, ``store-sharded`` and ``read-replica-lag`` studies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from simulator.costs.sources import SOURCES
from simulator.present.format import count, number, percent
from simulator.results.records import RunResult, StrategyResult
from simulator.scenario.models import Scenario

MANAGED_SOURCE = (
    'AWS, "Minimizing downtime in ElastiCache by using Multi-AZ with Valkey and Redis OSS": '
    "Multi-AZ needs a read replica, promotes it automatically and moves the primary "
    "endpoint's DNS name to it"
)
"""Where the managed-service option's description comes from."""


def _during(result: StrategyResult, prefix: str) -> float:
    """Success rate in the first event window whose label starts with ``prefix`` (NaN
    when there is none or it served nothing)."""
    for window in result.windows:
        if window.label.startswith(prefix):
            return math.nan if window.success_rate is None else window.success_rate
    return math.nan


def store_numbers(
    scenarios: Mapping[str, Scenario], results: Mapping[str, RunResult]
) -> dict[str, float]:
    """The section's figures from the ``sharded`` and ``replica_lag`` studies (keys
    ``sharded.*`` and ``replica_lag.*``); ``store-failover``'s are the sheet's
    ``failover.*``."""
    sharded, sharded_store = results["sharded"], scenarios["sharded"].shared_store
    lagging, lagging_store = results["replica_lag"], scenarios["replica_lag"].shared_store
    exposure = lagging["jwt"].exposure
    return {
        "sharded.shards": sharded_store.shards,
        "sharded.replicas": sharded_store.replicas,
        "sharded.failover_s": sharded_store.failover_s,
        "sharded.unaffected_theory": 1 - 1 / sharded_store.shards,
        "sharded.shared_store.success_rate": _during(sharded["shared_store"], "during"),
        "sharded.jwt.success_rate": _during(sharded["jwt"], "during"),
        "replica_lag.lag_ms": lagging_store.replication_lag_ms,
        "replica_lag.shared_store.success_rate": _rate(lagging["shared_store"].success_rate),
        "replica_lag.shared_store.stale_read": lagging["shared_store"].forced_relogins_by_cause.get(
            "stale_read", 0
        ),
        "replica_lag.jwt.accepted": exposure.accepted_after_revocation if exposure else 0,
        "replica_lag.jwt.max_window_s": exposure.max_window_s if exposure else 0.0,
    }


def _rate(value: float | None) -> float:
    return math.nan if value is None else value


def _restart_s(scenario: Scenario) -> float:
    """The ``restart_s`` of the scenario's first store-node crash (NaN without one)."""
    for event in scenario.events:
        restart = getattr(event, "restart_s", None)
        if restart is not None:
            return float(restart)
    return math.nan


def _failover_run(n: Mapping[str, float], failover: Scenario) -> str:
    """What the ``store-failover`` run showed, with a replica or without."""
    failed = (
        f"`shared_store` failed for {number(n['failover.shared_store.failing_s'], '.0f')} s "
        f"({percent(n['failover.shared_store.success_rate'])} success in the window)"
    )
    restart = number(_restart_s(failover), "g")
    how = (
        f"instead of the {restart} s the process took to restart"
        if failover.shared_store.replicas
        else f"with no replica (`replicas: 0`), waiting for the {restart} s restart"
    )
    return f"In the run {failed} {how}; `jwt` kept {percent(n['failover.jwt.success_rate'])}."


def store_lines(numbers: Mapping[str, float], scenarios: Mapping[str, Scenario]) -> list[str]:
    """The section's Markdown lines."""
    n = numbers
    base = scenarios["baseline"].shared_store
    failover = scenarios["failover"]
    shards = int(n["sharded.shards"])
    return [
        "## Keeping the store up",
        "",
        "`shared_store` keeps every session in the store and `jwt` its refresh tokens (and a "
        "denylist, if any), so the store's availability is theirs. In the model: "
        f"`shared_store.replicas` ({base.replicas} on `baseline`), `shared_store.failover_s` "
        f"({base.failover_s:g} s), `shared_store.shards` ({base.shards}), "
        f"`shared_store.read_from` (`{base.read_from}`) and `shared_store.replication_lag_ms` "
        f"({base.replication_lag_ms:g} ms).",
        "",
        f"- **Replicas + Sentinel** (`replicas: {failover.shared_store.replicas}`, "
        f"`failover_s: {n['failover.failover_s']:g}`; `store-failover`): Sentinel declares "
        "the primary down after `down-after-milliseconds` (30,000 by default) and an election "
        f"promotes the replica in about a second. {_failover_run(n, failover)} Costs: a "
        "second node per primary "
        "(twice the memory) and 3 Sentinel processes for a quorum; clients ask Sentinel "
        "where the primary is. Loses: replication is asynchronous, so writes the primary "
        f"acknowledged in its last `replication_lag_ms` "
        f"({failover.shared_store.replication_lag_ms:g} ms here) are gone after the "
        "failover: those users log in again (`session_lost`).",
        f"- **Redis Cluster** (`shards: {shards}`, `failover_s: "
        f"{n['sharded.failover_s']:g}`; `store-sharded`): keys hash onto 16,384 slots split "
        "between the primaries, and a primary's replica is promoted after "
        "`cluster-node-timeout` (15,000 ms by default). A crash takes out one shard's users "
        f"only: `shared_store` kept {percent(n['sharded.shared_store.success_rate'])} in the "
        f"window (1 - 1/{shards} = {percent(n['sharded.unaffected_theory'])}), `jwt` "
        f"{percent(n['sharded.jwt.success_rate'])}. Costs: at least 3 primaries (6 nodes "
        "with a replica each), cluster-aware clients that follow `MOVED` redirects, "
        "multi-key commands only within one slot (hash tags). Loses: the same asynchronous "
        "writes at failover, and each shard is still one thread's capacity.",
        f"- **Reading from replicas** (`read_from: replicas`; `read-replica-lag`, a replica "
        f"{n['replica_lag.lag_ms']:g} ms behind): more read capacity, but a read can miss a "
        "write younger than the lag. The request after a login finds no session: "
        f"`shared_store` succeeded {percent(n['replica_lag.shared_store.success_rate'])}, with "
        f"{count(n['replica_lag.shared_store.stale_read'])} forced logins caused by "
        f"`stale_read`; `jwt`'s denylist read from a replica let "
        f"{count(n['replica_lag.jwt.accepted'])} requests of revoked users through, up to "
        f"{number(n['replica_lag.jwt.max_window_s'], '.2f')} s after the revocation. Read "
        "your own writes (sessions, the denylist) from the primary.",
        "- **A managed service** (ElastiCache Multi-AZ with automatic failover, or another "
        "cloud's equivalent): the provider runs the replicas and the failover and moves the "
        "primary endpoint's DNS name to the promoted replica. Costs: every node billed (a "
        "replica doubles it) and the timeouts are theirs to set. Loses: replication is "
        "still asynchronous, and clients must reconnect through DNS. In the model: "
        "`replicas: 1` with the provider's failover time as `failover_s`.",
        "",
        "Sources: "
        + "; ".join(
            [
                SOURCES["shared_store.failover_s"].source,
                SOURCES["shared_store.shards"].source,
                SOURCES["shared_store.replicas"].source,
                SOURCES["shared_store.replication_lag_ms"].source,
                MANAGED_SOURCE,
            ]
        )
        + ".",
    ]
