"""Load-balancer policies on a fake cluster (simulator.model.balancer)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from types import SimpleNamespace

import numpy as np
import pytest

from simulator.model.balancer import (
    ADDRESS_HASHES,
    SPREADING_POLICIES,
    ClusterView,
    ConsistentHash,
    CookieAffinity,
    IpHash,
    LeastConnections,
    MixedHash,
    ModuloHash,
    PowerOfTwo,
    RandomChoice,
    RoundRobin,
    Subnet24Hash,
    spreading_policy,
)
from simulator.model.rng import DrawBuffer, Streams, splitmix64, uniform_buffer


class FakeServer:
    """Only what a load-aware policy reads."""

    def __init__(self, in_system: int = 0) -> None:
        self.in_system = in_system


def cluster(loads: Sequence[int]) -> ClusterView:
    return ClusterView([FakeServer(load) for load in loads])


def idle_cluster(size: int) -> ClusterView:
    return cluster([0] * size)


def uniform(seed: int = 1) -> DrawBuffer:
    return uniform_buffer(Streams(seed).generator("balancer"))


def scripted(values: Iterable[float]) -> DrawBuffer:
    """A buffer returning exactly ``values`` (then fails)."""
    values = list(values)
    served = iter([np.asarray(values, dtype=np.float64)])
    return DrawBuffer(lambda n: next(served), block=len(values))


def hashes(count: int) -> list[int]:
    return splitmix64(np.arange(count, dtype=np.uint64)).tolist()


# ------------------------------------------------------------------------ the view


def test_cluster_view_starts_with_every_server_live():
    view = idle_cluster(4)
    assert view.live == [0, 1, 2, 3]
    assert all(view.is_live(i) for i in range(4))
    assert view.version == 0


def test_set_live_sorts_and_bumps_the_version_only_on_change():
    view = idle_cluster(4)
    view.set_live([3, 1])
    assert view.live == [1, 3]
    assert view.is_live(3)
    assert not view.is_live(0)
    assert view.version == 1
    view.set_live([1, 3])
    assert view.version == 1
    view.set_live([0, 1, 2, 3])
    assert view.version == 2


# --------------------------------------------------------------- spreading policies


def test_round_robin_cycles_over_live_servers():
    balancer = RoundRobin(idle_cluster(3))
    assert [balancer.choose(user=0) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_round_robin_ignores_the_user():
    balancer = RoundRobin(idle_cluster(3))
    assert [balancer.choose(user=u) for u in (5, 5, 5, 9)] == [0, 1, 2, 0]


def test_random_choice_maps_draws_onto_live_servers():
    view = idle_cluster(4)
    balancer = RandomChoice(view, scripted([0.0, 0.26, 0.5, 0.99, 0.74]))
    assert [balancer.choose(0) for _ in range(5)] == [0, 1, 2, 3, 2]


def test_random_choice_is_uniform_ish():
    balancer = RandomChoice(idle_cluster(5), uniform())
    counts = Counter(balancer.choose(0) for _ in range(20_000))
    assert set(counts) == {0, 1, 2, 3, 4}
    for server in range(5):
        assert abs(counts[server] - 4000) < 300  # about 5 standard deviations


def test_random_choice_is_deterministic_given_the_buffer():
    first = RandomChoice(idle_cluster(6), uniform(seed=3))
    second = RandomChoice(idle_cluster(6), uniform(seed=3))
    other = RandomChoice(idle_cluster(6), uniform(seed=4))
    a = [first.choose(0) for _ in range(500)]
    assert a == [second.choose(0) for _ in range(500)]
    assert a != [other.choose(0) for _ in range(500)]


def test_least_connections_picks_the_least_loaded():
    view = cluster([5, 3, 0, 4])
    balancer = LeastConnections(view)
    assert [balancer.choose(0) for _ in range(4)] == [2, 2, 2, 2]
    view.servers[2].in_system = 9  # type: ignore[attr-defined]
    assert [balancer.choose(0) for _ in range(4)] == [1, 1, 1, 1]


def test_least_connections_rotates_between_tied_servers():
    balancer = LeastConnections(cluster([4, 1, 6, 1, 1]))
    chosen = [balancer.choose(0) for _ in range(10)]
    assert set(chosen) == {1, 3, 4}


def test_least_connections_on_an_idle_cluster_is_round_robin():
    balancer = LeastConnections(idle_cluster(4))
    assert [balancer.choose(0) for _ in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]


def test_power_of_two_takes_the_less_loaded_of_its_two_picks():
    # first pick: live[int(0.0 * 4)] = 0; second: live[int(0.0 * 3)] = 0 is the first, so 3
    assert PowerOfTwo(cluster([5, 0, 0, 1]), scripted([0.0, 0.0])).choose(0) == 3
    assert PowerOfTwo(cluster([1, 0, 0, 5]), scripted([0.0, 0.0])).choose(0) == 0
    # first: live[int(0.8 * 4)] = 3; second: live[int(0.5 * 3)] = 1
    assert PowerOfTwo(cluster([0, 2, 0, 7]), scripted([0.8, 0.5])).choose(0) == 1
    assert PowerOfTwo(cluster([0, 7, 0, 2]), scripted([0.8, 0.5])).choose(0) == 3


def test_power_of_two_keeps_the_first_pick_on_a_tie():
    assert PowerOfTwo(cluster([0, 2, 0, 2]), scripted([0.8, 0.5])).choose(0) == 3


def test_power_of_two_never_picks_the_more_loaded_of_its_two():
    # Loads 0 < 1 < 2: with two distinct servers drawn uniformly, the most loaded one
    # is never chosen, server 1 only when the pair is {1, 2} (1/3 of pairs) and server 0
    # whenever it is in the pair (2/3).
    balancer = PowerOfTwo(cluster([0, 1, 2]), uniform())
    counts = Counter(balancer.choose(0) for _ in range(30_000))
    assert counts[2] == 0
    assert counts[0] / 30_000 == pytest.approx(2 / 3, abs=0.02)
    assert counts[1] / 30_000 == pytest.approx(1 / 3, abs=0.02)


def test_power_of_two_draws_two_distinct_servers():
    # On two servers the pair is always {0, 1}, so the less loaded one always wins.
    balancer = PowerOfTwo(cluster([3, 1]), uniform())
    assert {balancer.choose(0) for _ in range(1000)} == {1}


def test_power_of_two_with_one_server():
    balancer = PowerOfTwo(cluster([50]), uniform())
    assert [balancer.choose(0) for _ in range(5)] == [0] * 5
    view = cluster([0, 0, 9, 0])
    view.set_live([2])
    assert PowerOfTwo(view, uniform()).choose(0) == 2


@pytest.mark.parametrize("policy", sorted(SPREADING_POLICIES))
def test_spreading_policies_choose_only_live_servers(policy):
    view = idle_cluster(5)
    balancer = spreading_policy(policy, view, uniform())
    assert balancer.name == policy
    assert {balancer.choose(0) for _ in range(200)} == {0, 1, 2, 3, 4}
    view.set_live([1, 3])
    chosen = {balancer.choose(u) for u in range(200)}
    assert chosen == {1, 3}
    view.set_live([4])
    assert {balancer.choose(0) for _ in range(20)} == {4}


def test_spreading_policy_builds_the_named_class():
    view = idle_cluster(2)
    assert isinstance(spreading_policy("round_robin", view, uniform()), RoundRobin)
    assert isinstance(spreading_policy("random", view, uniform()), RandomChoice)
    assert isinstance(spreading_policy("least_connections", view, uniform()), LeastConnections)
    assert isinstance(spreading_policy("power_of_two", view, uniform()), PowerOfTwo)


# ---------------------------------------------------------------- affinity policies


def test_cookie_affinity_pins_each_user_to_its_first_server():
    view = idle_cluster(4)
    balancer = CookieAffinity(view, RoundRobin(view))
    first = [balancer.choose(user) for user in range(8)]
    assert first == [0, 1, 2, 3, 0, 1, 2, 3]
    for _ in range(3):
        assert [balancer.choose(user) for user in range(8)] == first


def test_cookie_affinity_repins_when_the_pinned_server_is_not_live():
    view = idle_cluster(3)
    balancer = CookieAffinity(view, RoundRobin(view))
    assert balancer.choose(7) == 0
    view.set_live([1, 2])
    moved = balancer.choose(7)
    assert moved in {1, 2}
    assert [balancer.choose(7) for _ in range(5)] == [moved] * 5
    # the pin moved for good: the old server coming back does not take the user back
    view.set_live([0, 1, 2])
    assert balancer.choose(7) == moved


def test_ip_hash_maps_every_user_of_one_ip_to_one_server():
    user_ip = [u // 10 for u in range(500)]  # 50 IPs of 10 users
    balancer = IpHash(idle_cluster(7), user_ip, hashes(50))
    by_ip: dict[int, set[int]] = {}
    for user in range(500):
        by_ip.setdefault(user_ip[user], set()).add(balancer.choose(user))
    assert all(len(servers) == 1 for servers in by_ip.values())
    assert len({next(iter(s)) for s in by_ip.values()}) > 1


def test_ip_hash_is_hash_modulo_live_servers():
    ip_hash = hashes(20)
    view = idle_cluster(6)
    balancer = IpHash(view, list(range(20)), ip_hash)
    assert [balancer.choose(u) for u in range(20)] == [h % 6 for h in ip_hash]
    view.set_live([0, 2, 5])
    assert [balancer.choose(u) for u in range(20)] == [[0, 2, 5][h % 3] for h in ip_hash]


def moved_fraction_on_scale_out(make, servers: int = 10, ips: int = 5000) -> tuple[float, list]:
    """Route ``ips`` single-user IPs on ``servers``, add one server, compare."""
    view = idle_cluster(servers + 1)
    view.set_live(range(servers))
    balancer = make(view, list(range(ips)), hashes(ips))
    before = [balancer.choose(u) for u in range(ips)]
    assert set(before) == set(range(servers))
    view.set_live(range(servers + 1))
    after = [balancer.choose(u) for u in range(ips)]
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    return len(moved) / ips, moved


def test_modulo_ip_hash_remaps_most_ips_when_a_server_is_added():
    fraction, _ = moved_fraction_on_scale_out(IpHash)
    assert fraction == pytest.approx(10 / 11, abs=0.02)


def test_consistent_hash_remaps_about_one_in_n_plus_one_when_a_server_is_added():
    def make(view, user_ip, ip_hash):
        return ConsistentHash(view, user_ip, ip_hash, virtual_nodes=200)

    fraction, moved = moved_fraction_on_scale_out(make)
    assert fraction == pytest.approx(1 / 11, abs=0.025)
    # keys only move to the new server
    assert moved
    assert {after for _, after in moved} == {10}


def test_consistent_hash_removing_a_server_moves_only_its_keys():
    ips = 3000
    view = idle_cluster(8)
    balancer = ConsistentHash(view, list(range(ips)), hashes(ips), virtual_nodes=100)
    before = [balancer.choose(u) for u in range(ips)]
    view.set_live([0, 1, 2, 4, 5, 6, 7])
    after = [balancer.choose(u) for u in range(ips)]
    for b, a in zip(before, after, strict=True):
        assert a != 3
        if b != 3:
            assert a == b
    assert before.count(3) > 0


def test_consistent_hash_spreads_keys_over_servers():
    ips = 5000
    balancer = ConsistentHash(idle_cluster(5), list(range(ips)), hashes(ips), virtual_nodes=200)
    counts = Counter(balancer.choose(u) for u in range(ips))
    assert set(counts) == {0, 1, 2, 3, 4}
    assert max(counts.values()) / (ips / 5) < 1.3


@pytest.mark.parametrize(("ips", "virtual_nodes"), [(10, 100), (60, 100), (150, 200)])
def test_consistent_hash_spreads_a_few_ips_over_servers(ips, virtual_nodes):
    # IPs as the workload numbers and hashes them (Population.ip_hash = splitmix64 of
    # 0, 1, 2...). A fair ring puts them on several servers, not all on one.
    balancer = ConsistentHash(
        idle_cluster(5), list(range(ips)), hashes(ips), virtual_nodes=virtual_nodes
    )
    counts = Counter(balancer.choose(u) for u in range(ips))
    assert len(counts) >= 3, counts
    assert max(counts.values()) < 0.6 * ips, counts


def test_consistent_hash_owner_is_the_first_point_at_or_after_the_key():
    view = idle_cluster(3)
    ring = ConsistentHash(view, [0], [0], virtual_nodes=4)
    points = sorted(
        (ConsistentHash.point(server, replica), server)
        for server in range(3)
        for replica in range(4)
    )
    for point, server in points:
        assert ring.owner(point) == server
        assert ring.owner(point - 1) == server
    # past the last point the ring wraps to the first
    assert ring.owner(points[-1][0] + 1) == points[0][1]
    assert ring.owner(0) == points[0][1]


def test_consistent_hash_users_of_one_ip_share_a_server():
    user_ip = [u % 30 for u in range(600)]
    balancer = ConsistentHash(idle_cluster(6), user_ip, hashes(30), virtual_nodes=50)
    by_ip: dict[int, set[int]] = {}
    for user in range(600):
        by_ip.setdefault(user_ip[user], set()).add(balancer.choose(user))
    assert all(len(servers) == 1 for servers in by_ip.values())


# ------------------------------------------------------------ client-address hashes


def address(text: str) -> int:
    first, second, third, fourth = (int(part) for part in text.split("."))
    return (first << 24) | (second << 16) | (third << 8) | fourth


def addresses(*texts: str) -> np.ndarray:
    return np.array([address(text) for text in texts], dtype=np.uint64)


def consecutive(count: int, first: str = "10.0.0.0") -> np.ndarray:
    return np.arange(count, dtype=np.uint64) + np.uint64(address(first))


def clients(client: np.ndarray) -> SimpleNamespace:
    """One client IP per address (what an address hash reads of a population)."""
    index = np.arange(len(client), dtype=np.uint64)
    return SimpleNamespace(ip_hash=splitmix64(index), addresses=client.astype(np.uint64))


def nginx_ip_hash(value: int) -> int:
    """nginx's ngx_http_upstream_get_ip_hash_peer, first try, in plain Python."""
    key = 89
    for octet in ((value >> 24) & 255, (value >> 16) & 255, (value >> 8) & 255):
        key = (key * 113 + octet) % 6271
    return key


def ip_hash_balancer(view: ClusterView, name: str, client: np.ndarray) -> IpHash:
    """One user per client address, routed by ``ip_hash`` with hash ``name``."""
    keys = ADDRESS_HASHES[name].keys(clients(client)).tolist()
    return IpHash(view, list(range(len(client))), keys)


def test_address_hashes_are_named_as_in_the_scenario():
    assert sorted(ADDRESS_HASHES) == ["mixed", "modulo", "subnet24"]
    assert isinstance(ADDRESS_HASHES["mixed"], MixedHash)
    assert isinstance(ADDRESS_HASHES["modulo"], ModuloHash)
    assert isinstance(ADDRESS_HASHES["subnet24"], Subnet24Hash)
    for name, address_hash in ADDRESS_HASHES.items():
        assert address_hash.name == name


def test_mixed_hash_is_splitmix_of_the_ip_index_whatever_the_addresses():
    assert MixedHash().keys(clients(consecutive(50))).tolist() == hashes(50)
    scattered = addresses("203.0.113.9", "198.51.100.7", "192.0.2.200")
    assert MixedHash().keys(clients(scattered)).tolist() == hashes(3)
    assert MixedHash().ring_keys(clients(scattered)).tolist() == hashes(3)


def test_modulo_hash_is_the_address_modulo_the_live_servers():
    client = addresses("10.0.0.7", "192.168.1.10", "203.0.113.200", "1.2.3.4")
    view = idle_cluster(6)
    balancer = ip_hash_balancer(view, "modulo", client)
    values = [int(v) for v in client]
    assert [balancer.choose(u) for u in range(4)] == [v % 6 for v in values]
    # 192.168.1.10 = 3232235786 = 6 * 538705964 + 2
    assert balancer.choose(1) == 2


def test_modulo_hash_splits_consecutive_addresses_exactly_evenly():
    balancer = ip_hash_balancer(idle_cluster(3), "modulo", consecutive(30))
    counts = Counter(balancer.choose(u) for u in range(30))
    assert counts == {0: 10, 1: 10, 2: 10}
    # and neighbours go round robin
    assert [balancer.choose(u) for u in range(6)] == [1, 2, 0, 1, 2, 0]  # 10.0.0.0 % 3 == 1


def test_subnet24_hash_is_nginx_ip_hash():
    # worked by hand: 89 -> (89*113 + 192) % 6271 = 3978 -> (3978*113 + 168) % 6271 = 4441
    # -> (4441*113 + 1) % 6271 = 154
    assert Subnet24Hash().keys(clients(addresses("192.168.1.77"))).tolist() == [154]
    rng = np.random.default_rng(5)
    client = rng.integers(0, 2**32, 500, dtype=np.uint64)
    assert Subnet24Hash().keys(clients(client)).tolist() == [nginx_ip_hash(int(v)) for v in client]
    assert int(Subnet24Hash().keys(clients(client)).max()) < 6271


def test_subnet24_hash_ignores_the_last_octet():
    view = idle_cluster(3)
    balancer = ip_hash_balancer(view, "subnet24", consecutive(256))  # all of 10.0.0.0/24
    assert {balancer.choose(u) for u in range(256)} == {nginx_ip_hash(address("10.0.0.0")) % 3}
    other = ip_hash_balancer(view, "subnet24", addresses("10.0.0.1", "10.0.1.1", "10.0.2.1"))
    # consecutive /24s differ by one in nginx's hash: they go round robin
    assert sorted(other.choose(u) for u in range(3)) == [0, 1, 2]


@pytest.mark.parametrize("name", ["mixed", "modulo", "subnet24"])
def test_address_hashes_route_only_to_live_servers(name):
    index = np.arange(600, dtype=np.uint64)
    client = np.uint64(address("10.0.0.0")) + (index << np.uint64(8)) + index % np.uint64(7)
    view = idle_cluster(6)
    balancer = ip_hash_balancer(view, name, client)
    keys = ADDRESS_HASHES[name].keys(clients(client)).tolist()
    assert {balancer.choose(u) for u in range(600)} == set(range(6))
    view.set_live([0, 2, 5])
    assert [balancer.choose(u) for u in range(600)] == [[0, 2, 5][k % 3] for k in keys]
    view.set_live([4])
    assert {balancer.choose(u) for u in range(600)} == {4}


def moved_on_scale_out(balancer_for, client: np.ndarray, servers: int) -> list[tuple[int, int]]:
    """Route one user per address on ``servers`` servers, add one, return (before, after)."""
    view = idle_cluster(servers + 1)
    view.set_live(range(servers))
    balancer = balancer_for(view)
    before = [balancer.choose(u) for u in range(len(client))]
    view.set_live(range(servers + 1))
    after = [balancer.choose(u) for u in range(len(client))]
    return list(zip(before, after, strict=True))


@pytest.mark.parametrize("layout", ["consecutive", "random"])
def test_modulo_hash_remaps_most_addresses_on_scale_out(layout):
    rng = np.random.default_rng(2)
    client = consecutive(5000) if layout == "consecutive" else rng.integers(0, 2**32, 5000)
    client = client.astype(np.uint64)
    pairs = moved_on_scale_out(lambda view: ip_hash_balancer(view, "modulo", client), client, 9)
    moved = sum(before != after for before, after in pairs) / len(pairs)
    assert moved == pytest.approx(9 / 10, abs=0.02)
    if layout == "consecutive":  # a % 9 == a % 10 exactly when a % 90 < 9
        assert moved == pytest.approx(81 / 90, abs=0.002)


def test_subnet24_hash_remaps_most_subnets_on_scale_out_and_keeps_each_together():
    rng = np.random.default_rng(3)
    subnets = rng.choice(2**24, 3000, replace=False).astype(np.uint64) << np.uint64(8)
    client = np.repeat(subnets, 4) + np.tile(np.array([1, 50, 100, 254], np.uint64), 3000)
    pairs = moved_on_scale_out(lambda view: ip_hash_balancer(view, "subnet24", client), client, 9)
    by_subnet: dict[int, set[tuple[int, int]]] = {}
    for value, pair in zip(client.tolist(), pairs, strict=True):
        by_subnet.setdefault(value >> 8, set()).add(pair)
    assert all(len(moves) == 1 for moves in by_subnet.values())  # a /24 moves as one
    moved = sum(before != after for before, after in pairs) / len(pairs)
    assert moved == pytest.approx(9 / 10, abs=0.03)


def ring_balancer(view: ClusterView, name: str, client: np.ndarray, nodes: int = 200):
    keys = ADDRESS_HASHES[name].ring_keys(clients(client)).tolist()
    return ConsistentHash(view, list(range(len(client))), keys, virtual_nodes=nodes)


def test_ring_with_subnet24_keeps_each_subnet_together_and_moves_few():
    rng = np.random.default_rng(4)
    subnets = rng.choice(2**24, 2000, replace=False).astype(np.uint64) << np.uint64(8)
    client = np.repeat(subnets, 3) + np.tile(np.array([7, 8, 200], np.uint64), 2000)
    pairs = moved_on_scale_out(lambda view: ring_balancer(view, "subnet24", client), client, 9)
    by_subnet: dict[int, set[int]] = {}
    for value, (before, _) in zip(client.tolist(), pairs, strict=True):
        by_subnet.setdefault(value >> 8, set()).add(before)
    assert all(len(servers) == 1 for servers in by_subnet.values())
    moved = [(before, after) for before, after in pairs if before != after]
    assert len(moved) / len(pairs) == pytest.approx(1 / 10, abs=0.03)
    assert {after for _, after in moved} == {9}


def test_ring_with_modulo_puts_neighbouring_addresses_on_one_arc():
    # unmixed: 30 consecutive addresses span 30 / 2**32 of the ring, so one server
    balancer = ring_balancer(idle_cluster(3), "modulo", consecutive(30), nodes=100)
    assert len({balancer.choose(u) for u in range(30)}) == 1
    # scattered addresses still spread
    rng = np.random.default_rng(6)
    spread = rng.integers(2**24, 224 * 2**24, 3000).astype(np.uint64)
    ring = ring_balancer(idle_cluster(3), "modulo", spread)
    counts = Counter(ring.choose(u) for u in range(3000))
    assert set(counts) == {0, 1, 2}
    assert max(counts.values()) < 0.5 * 3000


# ------------------------------------------------------------------- choose_many


def _state(balancer: object) -> dict[str, object]:
    """A balancer's attributes (copied), to compare states."""
    return {
        key: (dict(value) if isinstance(value, dict) else value)
        for key, value in vars(balancer).items()
        if key not in ("_view", "_fallback", "_uniform", "_clock")
    }


@pytest.mark.parametrize("live", [[0, 1, 2, 3, 4], [1, 3], [2]])
@pytest.mark.parametrize("already", [0, 3, 7])
def test_round_robin_choose_many_is_choose_in_turn(live: list[int], already: int) -> None:
    one, many = RoundRobin(cluster([0] * 5)), RoundRobin(cluster([0] * 5))
    for balancer in (one, many):
        balancer._view.set_live(live)
        for user in range(already):
            balancer.choose(user)
    for users in ([], [4], list(range(11)), [9, 9, 2]):
        assert many.choose_many(users) == [one.choose(user) for user in users]
        assert _state(many) == _state(one)


def test_random_choice_choose_many_draws_in_turn() -> None:
    def make() -> RandomChoice:
        return RandomChoice(cluster([0] * 7), uniform_buffer(np.random.default_rng(5)))

    one, many = make(), make()
    for users in ([], list(range(5000)), [3, 3]):
        assert many.choose_many(users) == [one.choose(user) for user in users]
    assert many._uniform.next() == one._uniform.next()


@pytest.mark.parametrize("fallback", ["round_robin", "random", "least_connections"])
def test_cookie_choose_many_pins_as_choose_does(fallback: str) -> None:
    def make() -> CookieAffinity:
        view = cluster([0] * 6)
        uniform = uniform_buffer(np.random.default_rng(9))
        policy = {"round_robin": RoundRobin, "random": RandomChoice}.get(fallback, LeastConnections)
        return CookieAffinity(view, policy(view, uniform))

    one, many = make(), make()
    batches = [list(range(300)), [5, 400, 5, 401], list(range(250, 450)), []]
    for step, users in enumerate(batches):
        if step == 2:  # a server goes down: its users are placed again
            one._view.set_live([0, 1, 3, 4, 5])
            many._view.set_live([0, 1, 3, 4, 5])
        assert many.choose_many(users) == [one.choose(user) for user in users]
        assert list(many._pinned.items()) == list(one._pinned.items())
        assert _state(many._fallback) == _state(one._fallback)
    assert many.choose(7) == one.choose(7)


def test_cookie_choose_many_with_a_lifetime() -> None:
    now = [0.0]

    def make() -> CookieAffinity:
        view = cluster([0] * 3)
        return CookieAffinity(view, RoundRobin(view), ttl_s=10.0, clock=lambda: now[0])

    one, many = make(), make()
    for now[0] in (0.0, 5.0, 12.0):
        users = [0, 1, 2, 3, 1]
        assert many.choose_many(users) == [one.choose(user) for user in users]
        assert many._set_at == one._set_at and many._pinned == one._pinned
