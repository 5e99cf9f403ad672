"""Where each real-world default comes from, and whether a scenario kept it.

The settings that stand for the real world (a store's speed, a token's lifetime, a
failover's length) carry their source in their docstrings (:mod:`simulator.scenario.models`)
and in the README's "Production-like defaults" table. Output that quotes one of these
figures (the cheat sheet, the explanation in a report) says where it comes from with
:func:`describe`, which also says when a scenario set its own value instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from simulator.scenario.models import Scenario


@dataclass(frozen=True)
class Source:
    """A real-world default and where its figure comes from.

    Attributes:
        what: what the setting is, for readers ("a store operation").
        unit: the unit of the setting's value (``ms``, ``s``).
        source: where the default figure comes from.
    """

    what: str
    unit: str
    source: str


SOURCES: Final[dict[str, Source]] = {
    "shared_store.op_time_ms": Source(
        "a store operation",
        "ms",
        "redis-benchmark measures about 100,000-150,000 GETs per second per Redis instance "
        'without pipelining (redis.io, "Redis benchmark"); the command itself is 1-2 µs '
        "(`INFO commandstats`)",
    ),
    "shared_store.rtt_ms": Source(
        "the store round trip",
        "ms",
        "a redis-py GET across one datacentre takes about 0.2-0.5 ms",
    ),
    "shared_store.failover_s": Source(
        "a store failover",
        "s",
        "Redis Sentinel's `down-after-milliseconds` is 30,000 by default (`sentinel.conf`), "
        "plus about a second of election; Redis Cluster's `cluster-node-timeout` is 15,000 ms",
    ),
    "shared_store.replication_lag_ms": Source(
        "a replica's lag",
        "ms",
        "Redis replicates asynchronously: about a network hop inside a datacentre, seconds "
        "under a write burst or a resync",
    ),
    "shared_store.cross_region_rtt_ms": Source(
        "the round trip between regions",
        "ms",
        "US East to Western Europe is about 60-90 ms in cloud providers' published "
        "inter-region round trips (across the Pacific 100-150 ms)",
    ),
    "jwt.ttl_s": Source(
        "an access token's lifetime",
        "s",
        "Keycloak's default access token lifespan is 5 minutes; the OWASP JWT cheat sheet and "
        "RFC 9700 advise short-lived access tokens renewed with refresh tokens",
    ),
    "workload.relogin_delay_s.mean_s": Source(
        "a forced re-login's delay",
        "s",
        "a redirect and a person typing a password, seconds on a desktop and more on a "
        "phone (von Zezschwitz et al., CHI 2013)",
    ),
    "cluster.login_cpu_ms": Source(
        "a password login",
        "ms",
        "PBKDF2-SHA256 at OWASP's 600,000 iterations, measured on a 2-core VM "
        "(simulator/costs/reference.py)",
    ),
    "shared_store.shards": Source(
        "the store's primaries",
        "shards",
        'Redis Cluster hashes every key onto one of 16,384 hash slots (redis.io, "Redis '
        "cluster specification\") split between its primaries; its tutorial's smallest "
        "cluster is 3 primaries, 6 nodes with a replica each",
    ),
    "shared_store.replicas": Source(
        "replicas per primary",
        "replicas",
        "production Redis runs a replica per primary, promoted by Sentinel (a quorum of at "
        'least 3 Sentinel processes, redis.io, "High availability with Redis Sentinel") or '
        "by Redis Cluster; replication is asynchronous, so a failover can lose writes the "
        "primary had acknowledged",
    ),
}
"""Dotted setting -> its real-world default's description and source."""


def value(scenario: Scenario, dotted: str) -> Any:
    """The value of setting ``dotted`` (``"shared_store.rtt_ms"``) in ``scenario``."""
    found: Any = scenario
    for part in dotted.split("."):
        found = getattr(found, part)
    return found


def default(dotted: str) -> Any:
    """The default value of setting ``dotted``."""
    return value(Scenario(), dotted)


def describe(scenario: Scenario, dotted: str) -> str:
    """``"<what>: <value> <unit> (source: <source>)"``, or, when ``scenario`` set its
    own value, ``"<what>: <value> <unit>, set in this scenario (default <d> <unit>;
    source: <source>)"``."""
    entry = SOURCES[dotted]
    kept, usual = value(scenario, dotted), default(dotted)
    if kept == usual:
        return f"{entry.what}: {kept:g} {entry.unit} (source: {entry.source})"
    return (
        f"{entry.what}: {kept:g} {entry.unit}, set in this scenario (default {usual:g} "
        f"{entry.unit}; source: {entry.source})"
    )
