"""Load-balancer policies: one small class each, behind one ``choose`` method.

A balancer routes by what it believes: the list of live servers it learnt at its last
health check (:class:`ClusterView`), not the servers' true state. Policies that spread
load (``round_robin``, ``random``, ``least_connections``, ``power_of_two``) route
``local``, ``shared_store`` and ``jwt``; affinity policies (``cookie``, ``ip_hash``,
``consistent_hash``) route ``sticky``.

The hash-based affinities do not see a client's address itself but a key made from it
by one of the address hashes of ``sticky.hash`` (:data:`ADDRESS_HASHES`): ``mixed``
(SplitMix64, well spread whatever the addresses), ``modulo`` (the address as a number,
HAProxy's ``balance source``) or ``subnet24`` (the first three octets, nginx's
``ip_hash``). Keys are computed once per run, so routing costs the same for each.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from simulator.model.rng import DrawBuffer, hash64, splitmix64


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

    @property
    def name(self) -> str:
        """The policy's name in a scenario (``load_balancer.policy``)."""
        ...

    def choose(self, user: int) -> int:
        """The server index for the next job of ``user``."""
        ...


class RoundRobin:
    """Each job goes to the next live server in turn."""

    name: ClassVar[str] = "round_robin"

    def __init__(self, view: ClusterView, uniform: DrawBuffer | None = None) -> None:
        self._view = view
        self._next = 0

    def choose(self, user: int) -> int:
        live = self._view.live
        index = live[self._next % len(live)]
        self._next += 1
        return index

    def choose_many(self, users: Sequence[int]) -> list[int]:
        """``[choose(user) for user in users]`` in one call, leaving the same state."""
        live = self._view.live
        count = len(users)
        if not count:
            return []
        shift = self._next % len(live)
        turn = live[shift:] + live[:shift]  # the servers in the order they come next
        self._next += count
        return (turn * -(-count // len(turn)))[:count]


class RandomChoice:
    """Each job goes to a live server drawn uniformly at random."""

    name: ClassVar[str] = "random"

    def __init__(self, view: ClusterView, uniform: DrawBuffer) -> None:
        self._view = view
        self._uniform = uniform

    def choose(self, user: int) -> int:
        live = self._view.live
        return live[int(self._uniform.next() * len(live))]

    def choose_many(self, users: Sequence[int]) -> list[int]:
        """``[choose(user) for user in users]`` in one call (one draw each, in turn)."""
        live = self._view.live
        count = len(live)
        draw = self._uniform.next
        return [live[int(draw() * count)] for _ in users]


class LeastConnections:
    """Each job goes to the live server with the fewest jobs in system.

    Ties go to the first such server after a rotating start, so an idle cluster is
    used round robin rather than always from server 0.
    """

    name: ClassVar[str] = "least_connections"

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

    name: ClassVar[str] = "power_of_two"

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

    With ``ttl_s`` (``sticky.cookie_ttl_s``) the cookie expires ``ttl_s`` seconds after
    the balancer set it, and the user's next request is balanced afresh by ``fallback``
    (and pinned again, with a new cookie). The expiry counts from when the cookie was
    set, not from the user's last request: it is not refreshed by use. Sources: AWS's
    duration-based stickiness ("The load balancer does not refresh the expiry time of
    the cookie", Classic Load Balancer guide, "Duration-based session stickiness"; ALB's
    ``stickiness.lb_cookie.duration_seconds``, 1 s to 7 days, default 86,400 s); HAProxy
    ``cookie ... insert maxlife`` (counted from the first time the cookie was set, where
    ``maxidle`` would count from the last request); GCP's ``affinityCookieTtlSec``. With
    ``ttl_s`` ``None`` (the default) a cookie never expires: a user moved off a crashed
    server stays on its new server for good, so a recovered server gets no user back.

    Args:
        view: the balancer's view of the cluster.
        fallback: the policy that places a user without a valid cookie.
        ttl_s: cookie lifetime, seconds (``None``: never expires).
        clock: the simulated time now, seconds (read only with ``ttl_s``).
    """

    name: ClassVar[str] = "cookie"

    def __init__(
        self,
        view: ClusterView,
        fallback: Balancer,
        ttl_s: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._view = view
        self._fallback = fallback
        self._pinned: dict[int, int] = {}
        if ttl_s is not None and clock is None:
            raise ValueError("a cookie with a lifetime needs a clock")
        self._ttl_s = ttl_s
        self._clock = clock
        self._set_at: dict[int, float] = {}

    def choose(self, user: int) -> int:
        if self._ttl_s is not None:
            return self._choose_expiring(user, self._ttl_s)
        server = self._pinned.get(user)
        if server is None or not self._view.is_live(server):
            server = self._fallback.choose(user)
            self._pinned[user] = server
        return server

    def choose_many(self, users: Sequence[int]) -> list[int]:
        """``[choose(user) for user in users]`` in one call, leaving the same pins and
        the fallback in the same state (it places the users without a valid cookie, in
        turn, through its own ``choose_many`` when it has one)."""
        distinct = isinstance(users, range) or len(set(users)) == len(users)
        if self._ttl_s is not None or not distinct:
            return [self.choose(user) for user in users]  # a user's pin may change
        pinned = self._pinned
        many = getattr(self._fallback, "choose_many", None)
        if many is None:
            many = self._fallback_each
        if not pinned:  # nobody has a cookie yet (the logins at time 0): place everyone
            placed: list[int] = many(users)
            pinned.update(zip(users, placed, strict=True))
            return placed
        is_live = self._view.is_live
        chosen = [pinned.get(user, -1) for user in users]
        unplaced = [
            position for position, server in enumerate(chosen) if server < 0 or not is_live(server)
        ]
        if not unplaced:
            return chosen
        placing = [users[position] for position in unplaced]
        placed = many(placing)
        for position, user, server in zip(unplaced, placing, placed, strict=True):
            chosen[position] = server
            pinned[user] = server
        return chosen

    def _fallback_each(self, users: Sequence[int]) -> list[int]:
        """The fallback's ``choose`` for each user, in turn."""
        choose = self._fallback.choose
        return [choose(user) for user in users]

    def _choose_expiring(self, user: int, ttl_s: float) -> int:
        assert self._clock is not None  # checked in __init__
        now_s = self._clock()
        server = self._pinned.get(user)
        if server is None or not self._view.is_live(server) or now_s - self._set_at[user] >= ttl_s:
            server = self._fallback.choose(user)
            self._pinned[user] = server
            self._set_at[user] = now_s
        return server


class IpHash:
    """The key of the client IP modulo the number of live servers.

    Every change in the number of live servers remaps most IPs (``N/(N+1)`` of them when
    one server is added): HAProxy's map-based hashing says so ("most mappings are
    changed when the server count changes", ``hash-type map-based``), and nginx's
    ``ip_hash`` divides by the configured servers' total weight, so adding one does the
    same. (When a server fails, nginx re-hashes only the clients of that server, over
    the servers it still has; here, as in HAProxy, the live servers are renumbered.)

    Args:
        view: the balancer's view of the cluster.
        user_ip: client IP index of each user.
        ip_hash: key of each client IP (an :class:`AddressHash`'s ``keys``).
    """

    name: ClassVar[str] = "ip_hash"

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

    With ``load_bound`` ``c`` (``sticky.load_bound``), the ring has bounded loads
    (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA
    2018): no live server may hold more than ``ceil(c * average)`` jobs, the average
    counting every job in the live servers plus the one being routed. A request whose
    owner is full goes to the next server clockwise on the ring that is not (one always
    is, since ``c >= 1``). HAProxy's ``hash-balance-factor`` (a percentage, e.g. 125 for
    ``c = 1.25``: "the maximum number of concurrent requests to send to a server,
    expressed as a percentage of the average number of concurrent requests across all of
    the active servers", HAProxy 1.7 configuration manual) and Envoy's ring hash
    ``hash_balance_factor`` do the same. A spilled request meets a server
    without the user's session: for ``sticky``, a ``wrong_server`` forced re-login.
    ``None`` (the default): plain consistent hashing, each IP always on its owner.

    Args:
        view: the balancer's view of the cluster.
        user_ip: client IP index of each user.
        ip_hash: ring position of each client IP, 64-bit (an :class:`AddressHash`'s
            ``ring_keys``).
        virtual_nodes: ring points per live server.
        load_bound: the bound ``c >= 1`` on a server's load over the average (``None``:
            unbounded).
    """

    name: ClassVar[str] = "consistent_hash"

    def __init__(
        self,
        view: ClusterView,
        user_ip: Sequence[int],
        ip_hash: Sequence[int],
        virtual_nodes: int,
        load_bound: float | None = None,
    ) -> None:
        if load_bound is not None and not load_bound >= 1:
            raise ValueError(f"load_bound must be at least 1 (got {load_bound})")
        self._view = view
        self._user_ip = user_ip
        self._ip_hash = ip_hash
        self._virtual_nodes = virtual_nodes
        self._load_bound = load_bound
        self._version = -1
        self._points: list[int] = []
        self._owners: list[int] = []
        self._cache: dict[int, int] = {}

    POINT_DOMAIN: ClassVar[int] = 1 << 62
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
        if self._load_bound is not None:
            return self._bounded(ip, self._load_bound)
        server = self._cache.get(ip)
        if server is None:
            server = self.owner(self._ip_hash[ip])
            self._cache[ip] = server
        return server

    def _bounded(self, ip: int, load_bound: float) -> int:
        """The first server at or after ``ip``'s ring position below its capacity."""
        # with a bound the cache holds the IP's ring position, not its server
        start = self._cache.get(ip)
        if start is None:
            start = bisect.bisect_left(self._points, self._ip_hash[ip])
            self._cache[ip] = start
        servers = self._view.servers
        live = self._view.live
        total = 1 + sum(servers[index].in_system for index in live)
        capacity = math.ceil(load_bound * total / len(live))
        owners = self._owners
        count = len(owners)
        full: set[int] = set()
        for step in range(count):
            server = owners[(start + step) % count]
            if server in full:
                continue
            if servers[server].in_system < capacity:
                return server
            full.add(server)
        raise AssertionError("unreachable: with load_bound >= 1 some server has room")


# ------------------------------------------------------------ client-address hashes


class Clients(Protocol):
    """The client IPs of a run, as the address hashes read them (a run's
    :class:`~simulator.model.workload.Population`)."""

    @property
    def ip_hash(self) -> npt.NDArray[np.uint64]:
        """SplitMix64 of each client IP's index."""
        ...

    @property
    def addresses(self) -> npt.NDArray[np.uint64]:
        """The IPv4 address of each client IP, as a 32-bit integer."""
        ...


class AddressHash(Protocol):
    """How ``ip_hash`` and ``consistent_hash`` turn client addresses into keys.

    A hash reads the run's :class:`Clients` (a client IP's index, or its IPv4 address
    as a 32-bit integer, drawn only when a hash reads it); the keys are computed once per run, so
    every hash costs the same per job.
    """

    @property
    def name(self) -> str:
        """The hash's name in a scenario (``sticky.hash``)."""
        ...

    def keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """``ip_hash`` key of each client IP: its server is ``live[key % len(live)]``."""
        ...

    def ring_keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """Position of each client IP on the 64-bit ``consistent_hash`` ring."""
        ...


class MixedHash:
    """``mixed``: SplitMix64 of the client's number, well spread whatever its address.

    The key is SplitMix64 of the client's IP index, not of its address: a mixing hash
    gives neighbouring inputs unrelated keys, so how the addresses are laid out changes
    nothing, and every layout routes exactly as authsim always has. Real balancers that
    mix: HAProxy ``balance source`` with ``hash-type consistent`` (which applies Bob
    Jenkins' full avalanche hash to the address unless a hash function is named: "hash-type
    consistent: consistent hashing using sdbm with avalanche", HAProxy commit b6c0ac94,
    1.5-dev20; ``get_server_sh`` in ``src/backend.c``) or with ``hash-type map-based
    sdbm avalanche``, and nginx ``hash $remote_addr`` (CRC32 of the address,
    ``ngx_http_upstream_hash_module``).
    """

    name: ClassVar[str] = "mixed"

    def keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """SplitMix64 of each client IP's index (no address is drawn)."""
        return clients.ip_hash

    def ring_keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """The same 64-bit mix: it already spreads over the whole ring."""
        return clients.ip_hash


class ModuloHash:
    """``modulo``: the address as a number, unmixed (HAProxy ``balance source``).

    HAProxy's default ``hash-type map-based`` XORs the source address into one 32-bit
    word (for IPv4, the address itself) and takes it modulo the running servers' total
    weight ("The source IP address is hashed and divided by the total weight of the
    running servers", ``balance source`` in the HAProxy configuration manual;
    ``get_server_sh`` and ``map_get_server_hash``: ``srv[hash % tot_weight]``). So
    consecutive addresses go round robin over the servers: a lab's 30 consecutive
    clients split exactly 10/10/10 over 3 servers, while public clients, whose
    addresses are scattered, split as unevenly as any hash would.

    On the ring (``consistent_hash``) the address is the position itself, scaled to the
    64-bit ring, as HAProxy does with ``hash-type consistent`` when a hash function is
    named without ``avalanche``: neighbouring addresses sit on one arc of the ring, so a
    block of consecutive clients lands on one server.
    """

    name: ClassVar[str] = "modulo"

    def keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """The addresses themselves."""
        return clients.addresses

    def ring_keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """The 32-bit address in the top half of the 64-bit ring position."""
        return clients.addresses << np.uint64(32)


class Subnet24Hash:
    """``subnet24``: nginx ``ip_hash``, a hash of the first three octets only.

    "The first three octets of the client IPv4 address, or the entire IPv6 address, are
    used as a hashing key" (nginx ``ngx_http_upstream_module``, ``ip_hash``), so every
    address of a /24 lands on one server: a lab's clients on one subnet all on one
    server, a campus or an ISP's address pool on one server. The key is nginx's own
    hash (``ngx_http_upstream_ip_hash_module.c``): ``h = 89``, then
    ``h = (h * 113 + octet) % 6271`` for each of the three octets; nginx takes it modulo
    the total weight of the servers, so with equal weights server ``h % N``.

    On the ring the key is SplitMix64 of the /24 (nginx has no consistent ``ip_hash``;
    this is ``hash $subnet consistent`` with the /24 as key): a /24 still stays
    together, and a scale-out moves about ``1/(N+1)`` of the /24s.
    """

    name: ClassVar[str] = "subnet24"

    SEED: ClassVar[int] = 89
    MULTIPLIER: ClassVar[int] = 113
    MODULUS: ClassVar[int] = 6271

    def keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """nginx's ``ip_hash`` of the first three octets (0 to 6270)."""
        address = clients.addresses
        key = np.full(address.shape, self.SEED, dtype=np.uint64)
        for shift in (24, 16, 8):
            octet = (address >> np.uint64(shift)) & np.uint64(255)
            key = (key * np.uint64(self.MULTIPLIER) + octet) % np.uint64(self.MODULUS)
        return key

    def ring_keys(self, clients: Clients) -> npt.NDArray[np.uint64]:
        """SplitMix64 of the /24 (the address without its last octet)."""
        return splitmix64(clients.addresses >> np.uint64(8))


ADDRESS_HASHES: dict[str, AddressHash] = {
    address_hash.name: address_hash for address_hash in (MixedHash(), ModuloHash(), Subnet24Hash())
}
"""The hashes of ``sticky.hash``, by name."""


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
