"""Sticky sessions as they are run: affinity cookies that expire (``sticky.cookie_ttl_s``)
and consistent hashing with bounded loads (``sticky.load_bound``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from simulator import ScenarioError, load_scenario, run
from simulator.model.balancer import ClusterView, ConsistentHash, CookieAffinity, RoundRobin
from simulator.model.rng import splitmix64


class FakeServer:
    """Only what a load-aware policy reads."""

    def __init__(self, in_system: int = 0) -> None:
        self.in_system = in_system


class Clock:
    """A settable simulated time."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def cluster(loads: Sequence[int]) -> ClusterView:
    return ClusterView([FakeServer(load) for load in loads])


def hashes(count: int) -> list[int]:
    return splitmix64(np.arange(count, dtype=np.uint64)).tolist()


# ------------------------------------------------------------ cookies that expire


def test_a_cookie_without_a_lifetime_never_expires() -> None:
    view = cluster([0, 0, 0])
    clock = Clock()
    balancer = CookieAffinity(view, RoundRobin(view), None, clock)
    first = [balancer.choose(user) for user in range(3)]
    clock.now_s = 1e9
    assert [balancer.choose(user) for user in range(3)] == first


def test_a_cookie_expires_its_lifetime_after_it_was_set_and_use_does_not_refresh_it() -> None:
    view = cluster([0, 0, 0])
    clock = Clock()
    balancer = CookieAffinity(view, RoundRobin(view), 30.0, clock)
    assert balancer.choose(7) == 0  # set at 0 s
    for now_s in (1.0, 10.0, 29.9):  # requests before the expiry keep the pin...
        clock.now_s = now_s
        assert balancer.choose(7) == 0
    clock.now_s = 30.0  # ...but do not refresh it: at 30 s it has expired
    assert balancer.choose(7) == 1  # balanced afresh by round robin, pinned again
    clock.now_s = 59.9
    assert balancer.choose(7) == 1
    clock.now_s = 60.0  # the new cookie was set at 30 s
    assert balancer.choose(7) == 2


class Counting:
    """A fallback policy that counts the users it placed."""

    def __init__(self, policy: RoundRobin) -> None:
        self.name = "counting"
        self.placed = 0
        self._policy = policy

    def choose(self, user: int) -> int:
        self.placed += 1
        return self._policy.choose(user)


def test_a_cookie_of_a_server_believed_down_is_replaced_and_its_lifetime_restarts() -> None:
    view = cluster([0, 0, 0])
    clock = Clock()
    fallback = Counting(RoundRobin(view))
    balancer = CookieAffinity(view, fallback, 30.0, clock)
    assert balancer.choose(7) == 0 and fallback.placed == 1
    clock.now_s = 20.0
    view.set_live([1, 2])
    assert balancer.choose(7) in {1, 2} and fallback.placed == 2
    view.set_live([0, 1, 2])  # server 0 is back: the new cookie (set at 20 s) holds...
    clock.now_s = 49.9
    balancer.choose(7)
    assert fallback.placed == 2
    clock.now_s = 50.0  # ...until 30 s after it was set
    balancer.choose(7)
    assert fallback.placed == 3


def test_a_cookie_lifetime_needs_a_clock() -> None:
    view = cluster([0, 0])
    with pytest.raises(ValueError, match="clock"):
        CookieAffinity(view, RoundRobin(view), 30.0)


# ------------------------------------------------------------ bounded loads


def test_an_unbounded_ring_and_a_ring_on_an_idle_cluster_route_alike() -> None:
    user_ip = list(range(500))
    plain = ConsistentHash(cluster([0] * 5), user_ip, hashes(500), 50)
    bounded = ConsistentHash(cluster([0] * 5), user_ip, hashes(500), 50, load_bound=1.25)
    assert [plain.choose(u) for u in user_ip] == [bounded.choose(u) for u in user_ip]


def test_a_full_server_is_skipped_for_the_next_server_clockwise() -> None:
    loads = [0, 0, 0, 0]
    view = cluster(loads)
    ring = ConsistentHash(view, [0], hashes(1), 3, load_bound=1.25)
    owner = ring.choose(0)
    view.servers[owner].in_system = 4  # type: ignore[attr-defined]
    # total with the new job 5 over 4 servers: capacity ceil(1.25 * 5 / 4) = 2
    spilled = ring.choose(0)
    assert spilled != owner
    # the next ring point after the key that belongs to another server
    position = ring._cache[ring._user_ip[0]]
    owners = ring._owners
    expected = next(
        owners[(position + step) % len(owners)]
        for step in range(len(owners))
        if owners[(position + step) % len(owners)] != owner
    )
    assert spilled == expected
    view.servers[owner].in_system = 0  # type: ignore[attr-defined]
    assert ring.choose(0) == owner  # room again: back on its owner


@pytest.mark.parametrize("load_bound", [1.0, 1.25, 2.0])
def test_no_server_is_sent_a_job_beyond_its_capacity(load_bound: float) -> None:
    rng = np.random.default_rng(4)
    view = cluster([0] * 6)
    servers: list[FakeServer] = view.servers  # type: ignore[assignment]
    ring = ConsistentHash(view, [0] * 50 + list(range(50)), hashes(50), 20, load_bound)
    for _ in range(2000):
        user = int(rng.integers(0, 100))
        total = 1 + sum(server.in_system for server in servers)
        capacity = math.ceil(load_bound * total / len(servers))
        chosen = ring.choose(user)
        assert servers[chosen].in_system < capacity
        servers[chosen].in_system += 1
        if rng.random() < 0.5:  # some jobs finish
            busy = [server for server in servers if server.in_system]
            busy[int(rng.integers(0, len(busy)))].in_system -= 1


def test_a_load_bound_below_one_is_refused_by_the_ring() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ConsistentHash(cluster([0, 0]), [0], hashes(1), 3, load_bound=0.9)


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"sticky.cookie_ttl_s": -1}, "sticky.cookie_ttl_s"),
        ({"sticky.cookie_ttl_s": 0}, "sticky.cookie_ttl_s"),
        ({"sticky.affinity": "consistent_hash", "sticky.load_bound": 0.9}, "sticky.load_bound"),
        ({"sticky.affinity": "consistent_hash", "sticky.load_bound": 0}, "sticky.load_bound"),
        ({"sticky.affinity": "ip_hash", "sticky.cookie_ttl_s": 30}, "sticky.cookie_ttl_s"),
        ({"sticky.affinity": "cookie", "sticky.load_bound": 1.25}, "sticky.load_bound"),
        ({"sticky.affinity": "ip_hash", "sticky.load_bound": 1.25}, "sticky.load_bound"),
    ],
)
def test_bad_sticky_keys_are_one_line_errors_naming_the_key(
    overrides: dict[str, object], key: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("baseline", overrides)
    message = str(info.value)
    assert key in message and "\n" not in message, message
    assert info.value.key_path is not None and info.value.key_path.startswith(key)


def test_a_key_for_another_affinity_says_which_affinity_it_needs() -> None:
    with pytest.raises(ScenarioError, match="applies only to affinity consistent_hash"):
        load_scenario("baseline", {"sticky.load_bound": 1.25})


def test_the_defaults_are_none_and_explicit_none_runs_identically() -> None:
    scenario = load_scenario("baseline", {"duration_s": 8, "warmup_s": 2})
    assert scenario.sticky.cookie_ttl_s is None and scenario.sticky.load_bound is None
    explicit = scenario.with_overrides({"sticky.cookie_ttl_s": None})
    first = run(scenario, ["sticky"], record_requests=False)["sticky"].to_dict()
    again = run(explicit, ["sticky"], record_requests=False)["sticky"].to_dict()
    assert first == again


# ------------------------------------------------------------ direction of change


def recovered_share(cookie_ttl_s: float | None) -> float:
    """Server 2's share of sticky's jobs from 5 s after it is back in the balancer."""
    scenario = load_scenario(
        "server-crash",
        {
            "duration_s": 60,
            "warmup_s": 5,
            "events": [
                {"kind": "server_crash", "at_s": 12, "server": 2},
                {"kind": "server_recover", "at_s": 27, "server": 2},
            ],
            "sticky.cookie_ttl_s": cookie_ttl_s,
        },
    )
    result = run(scenario, ["sticky"])
    frame = result.server_timeseries_frame()
    late = frame[frame["t_s"] >= 35]
    jobs = late.groupby("server")["jobs"].sum()
    return float(jobs[2] / jobs.sum())


def test_a_shorter_cookie_lifetime_gives_a_recovered_server_more_work() -> None:
    never, long, short = (recovered_share(ttl) for ttl in (None, 20.0, 5.0))
    assert never < 0.12  # only users new since the crash: the others are pinned elsewhere
    assert never + 0.05 < long < short
    assert short > 0.18  # an even share is 0.2


def test_a_lower_load_bound_evens_out_heavy_users_at_the_price_of_re_logins() -> None:
    def sticky(load_bound: float | None) -> tuple[float, int]:
        scenario = load_scenario(
            "heavy-users", {"duration_s": 20, "warmup_s": 5, "sticky.load_bound": load_bound}
        )
        item = run(scenario, ["sticky"], record_requests=False)["sticky"]
        return item.load_skew["max_over_mean"], item.forced_relogins_by_cause["wrong_server"]

    (plain_skew, plain_moved), (loose_skew, loose_moved), (tight_skew, tight_moved) = (
        sticky(bound) for bound in (None, 2.0, 1.1)
    )
    assert plain_moved == 0
    assert tight_skew < plain_skew - 0.2 and loose_skew < plain_skew
    assert 0 < loose_moved < tight_moved
