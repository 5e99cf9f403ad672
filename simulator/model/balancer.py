"""Load-balancer policies: one small class each, behind one ``choose`` method.

A balancer routes by what it believes: the list of live servers it learnt at its last
health check (:class:`ClusterView`), not the servers' true state. Policies that spread
load (``round_robin``, ``random``, ``least_connections``, ``power_of_two``) route
``local``, ``shared_store`` and ``jwt``; affinity policies (``cookie``, ``ip_hash``,
``consistent_hash``) route ``sticky``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Protocol

from simulator.model.rng import DrawBuffer, hash64


class Loaded(Protocol):
    """What a load-aware policy reads of a server."""

    @property
    def in_system(self) -> int:
        """Jobs waiting or in service."""
        ...


class ClusterView:
    """The balancer's belief about which servers are up.

    Attributes:
        live: indices of the servers believed up, ascending.
        servers: every server, for load-aware policies.
        version: bumped on every change of ``live`` (affinity caches watch it).
    """

    def __init__(self, servers: Sequence[Loaded]) -> None:
        self.servers = servers
        self.live: list[int] = list(range(len(servers)))
        self._live_set = set(self.live)
        self.version = 0

    def set_live(self, live: Sequence[int]) -> None:
        """Replace the set of servers believed up (a health check saw a change)."""
        ordered = sorted(live)
        if ordered != self.live:
            self.live = ordered
            self._live_set = set(ordered)
            self.version += 1

    def is_live(self, index: int) -> bool:
        """Whether the balancer believes server ``index`` is up."""
        return index in self._live_set


class Balancer(Protocol):
    """A routing policy."""

    name: str

    def choose(self, user: int) -> int:
        """The server index for the next job of ``user``."""
        ...


class RoundRobin:
    """Each job goes to the next live server in turn."""

    name = "round_robin"

    def __init__(self, view: ClusterView, uniform: DrawBuffer | None = None) -> None:
        self._view = view
        self._next = 0

    def choose(self, user: int) -> int:
        live = self._view.live
        index = live[self._next % len(live)]
        self._next += 1
        return index


class RandomChoice:
    """Each job goes to a live server drawn uniformly at random."""

    name = "random"

    def __init__(self, view: ClusterView, uniform: DrawBuffer) -> None:
        self._view = view
        self._uniform = uniform

    def choose(self, user: int) -> int:
        live = self._view.live
        return live[int(self._uniform.next() * len(live))]


class LeastConnections:
    """Each job goes to the live server with the fewest jobs in system.

    Ties go to the first such server after a rotating start, so an idle cluster is
    used round robin rather than always from server 0.
    """

    name = "least_connections"

    def __init__(self, view: ClusterView, uniform: DrawBuffer | None = None) -> None:
        self._view = view
        self._start = 0

    def choose(self, user: int) -> int:
        live = self._view.live
        servers = self._view.servers
        count = len(live)
        start = self._start % count
        self._start += 1
        best = live[start]
        best_load = servers[best].in_system
        for offset in range(1, count):
            if best_load == 0:
                break
            candidate = live[(start + offset) % count]
            load = servers[candidate].in_system
            if load < best_load:
                best, best_load = candidate, load
        return best


class PowerOfTwo:
    """Two live servers drawn at random; the job goes to the less loaded one."""

    name = "power_of_two"

    def __init__(self, view: ClusterView, uniform: DrawBuffer) -> None:
        self._view = view
        self._uniform = uniform

    def choose(self, user: int) -> int:
        live = self._view.live
        count = len(live)
        first = live[int(self._uniform.next() * count)]
        if count == 1:
            return first
        # the second pick is drawn from the other count - 1 servers
        pick = int(self._uniform.next() * (count - 1))
        second = live[pick if live[pick] != first else count - 1]
        servers = self._view.servers
        return second if servers[second].in_system < servers[first].in_system else first


class CookieAffinity:
    """The balancer pins each user to the server that first served it (a cookie).

    A user without a pin, or pinned to a server the balancer believes down, is routed by
    the ``fallback`` policy and pinned again.
    """

    name = "cookie"

    def __init__(self, view: ClusterView, fallback: Balancer) -> None:
        self._view = view
        self._fallback = fallback
        self._pinned: dict[int, int] = {}

    def choose(self, user: int) -> int:
        server = self._pinned.get(user)
        if server is None or not self._view.is_live(server):
            server = self._fallback.choose(user)
            self._pinned[user] = server
        return server


class IpHash:
    """Hash of the client IP modulo the number of live servers.

    Every change in the number of live servers remaps most IPs (``N/(N+1)`` of them when
    one server is added).
    """

    name = "ip_hash"

    def __init__(self, view: ClusterView, user_ip: Sequence[int], ip_hash: Sequence[int]) -> None:
        self._view = view
        self._user_ip = user_ip
        self._ip_hash = ip_hash

    def choose(self, user: int) -> int:
        live = self._view.live
        return live[self._ip_hash[self._user_ip[user]] % len(live)]


class ConsistentHash:
    """A hash ring of the client IP with ``virtual_nodes`` points per live server.

    When a server joins or leaves, only the IPs on the arcs it gains or loses move
    (about ``1/(N+1)`` of them when one server is added).
    """

    name = "consistent_hash"

    def __init__(
        self,
        view: ClusterView,
        user_ip: Sequence[int],
        ip_hash: Sequence[int],
        virtual_nodes: int,
    ) -> None:
        self._view = view
        self._user_ip = user_ip
        self._ip_hash = ip_hash
        self._virtual_nodes = virtual_nodes
        self._version = -1
        self._points: list[int] = []
        self._owners: list[int] = []
        self._cache: dict[int, int] = {}

    POINT_DOMAIN = 1 << 62
    """Keeps ring-point inputs apart from IP indices, so no point equals an IP's hash."""

    @staticmethod
    def point(server: int, replica: int) -> int:
        """Ring position of virtual node ``replica`` of ``server`` (64-bit)."""
        return hash64(ConsistentHash.POINT_DOMAIN | (server << 24) | replica)

    def _rebuild(self) -> None:
        ring = sorted(
            (self.point(server, replica), server)
            for server in self._view.live
            for replica in range(self._virtual_nodes)
        )
        self._points = [point for point, _ in ring]
        self._owners = [server for _, server in ring]
        self._cache.clear()
        self._version = self._view.version

    def owner(self, key_hash: int) -> int:
        """The live server owning ``key_hash``: the first ring point at or after it."""
        if self._version != self._view.version:
            self._rebuild()
        position = bisect.bisect_left(self._points, key_hash)
        return self._owners[position % len(self._owners)]

    def choose(self, user: int) -> int:
        if self._version != self._view.version:
            self._rebuild()
        ip = self._user_ip[user]
        server = self._cache.get(ip)
        if server is None:
            server = self.owner(self._ip_hash[ip])
            self._cache[ip] = server
        return server


SPREADING_POLICIES: dict[str, type[RoundRobin | RandomChoice | LeastConnections | PowerOfTwo]] = {
    policy.name: policy for policy in (RoundRobin, RandomChoice, LeastConnections, PowerOfTwo)
}
"""The policies of ``load_balancer.policy``, by name; each is built as ``cls(view, uniform)``."""


def spreading_policy(name: str, view: ClusterView, uniform: DrawBuffer) -> Balancer:
    """Build the load-spreading policy called ``name`` (see :data:`SPREADING_POLICIES`).

    Args:
        name: the policy name.
        view: the balancer's view of the cluster.
        uniform: the balancer's random stream (only the random policies draw from it).
    """
    return SPREADING_POLICIES[name](view, uniform)
