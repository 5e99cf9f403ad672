"""``sticky``: local sessions plus load-balancer affinity.

Each user keeps going to the server that holds its session, chosen by a cookie, a hash
of the client IP (modulo N) or a consistent-hash ring of the client IP; ``sticky.hash``
says how the address becomes a key (:data:`~simulator.model.balancer.ADDRESS_HASHES`).
It costs uneven load (hash imbalance, heavy users, many users behind one NAT address or
one /24) and loses sessions when a server goes away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from simulator.model.balancer import (
    ADDRESS_HASHES,
    AddressHash,
    Balancer,
    ConsistentHash,
    CookieAffinity,
    IpHash,
)
from simulator.model.strategies.about import StrategyAbout
from simulator.model.strategies.base import StrategyContext
from simulator.model.strategies.local import LocalSessions


def _cookie(context: StrategyContext) -> Balancer:
    return CookieAffinity(
        context.view,
        context.spreading_balancer(),
        context.scenario.sticky.cookie_ttl_s,
        context.clock,
    )


def _address_hash(context: StrategyContext) -> AddressHash:
    return ADDRESS_HASHES[context.scenario.sticky.hash]


def _ip_hash(context: StrategyContext) -> Balancer:
    population = context.population
    keys = _address_hash(context).keys(population)
    return IpHash(context.view, population.user_ip.tolist(), keys.tolist())


def _consistent_hash(context: StrategyContext) -> Balancer:
    population = context.population
    positions = _address_hash(context).ring_keys(population)
    return ConsistentHash(
        context.view,
        population.user_ip.tolist(),
        positions.tolist(),
        context.scenario.sticky.virtual_nodes,
        context.scenario.sticky.load_bound,
    )


AFFINITIES: dict[str, Callable[[StrategyContext], Balancer]] = {
    "cookie": _cookie,
    "ip_hash": _ip_hash,
    "consistent_hash": _consistent_hash,
}
"""Builders of the ``sticky.affinity`` balancers, by name."""


class StickySessions(LocalSessions):
    """Local sessions, routed by ``sticky.affinity``.

    ``cookie`` pins a user's first request with ``load_balancer.policy`` (until the
    cookie expires, with ``sticky.cookie_ttl_s``); ``consistent_hash`` may spill a
    request to the next server on the ring (``sticky.load_bound``).
    """

    name: ClassVar[str] = "sticky"
    about: ClassVar[StrategyAbout] = StrategyAbout(
        proof_lives="one server's memory, plus balancer affinity",
        each_request_costs="a memory lookup",
        fails_when="the user's server changes: a crash, a deploy, a rehash on scale-out",
    )

    def make_balancer(self, context: StrategyContext) -> Balancer:
        """The ``sticky.affinity`` balancer."""
        return AFFINITIES[context.scenario.sticky.affinity](context)
