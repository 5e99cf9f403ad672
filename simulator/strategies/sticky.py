"""``sticky``: local sessions plus load-balancer affinity.

Each user keeps going to the server that holds its session, chosen by a cookie, a hash
of the client IP (modulo N) or a consistent-hash ring of the client IP. It costs uneven
load (hash imbalance, heavy users, many users behind one NAT address) and loses sessions
when a server goes away.
"""

from __future__ import annotations

from typing import ClassVar

from simulator.balancer import Balancer, ConsistentHash, CookieAffinity, IpHash
from simulator.strategies.base import StrategyContext
from simulator.strategies.local import LocalSessions


class StickySessions(LocalSessions):
    """Local sessions, routed by ``sticky.affinity``."""

    name: ClassVar[str] = "sticky"

    def make_balancer(self, context: StrategyContext) -> Balancer:
        """Route by affinity; ``cookie`` pins first requests with ``load_balancer.policy``."""
        sticky = context.scenario.sticky
        population = context.population
        user_ip = population.user_ip.tolist()
        ip_hash = population.ip_hash.tolist()
        if sticky.affinity == "ip_hash":
            return IpHash(context.view, user_ip, ip_hash)
        if sticky.affinity == "consistent_hash":
            return ConsistentHash(context.view, user_ip, ip_hash, sticky.virtual_nodes)
        return CookieAffinity(context.view, context.spreading_balancer())
