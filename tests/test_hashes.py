"""Real balancers' hash functions (``sticky.hash``) and client address layouts
(``workload.client_addresses``), on whole runs.

HAProxy ``balance source`` (map-based) takes the address modulo the servers, so a lab's
consecutive clients split exactly evenly; nginx ``ip_hash`` keys on the first three
octets, so a whole /24 lands on one server; authsim's ``mixed`` (SplitMix64) is as
even as chance allows, whatever the addresses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulator import RunResult, load_scenario, run
from simulator.model.rng import Streams
from simulator.model.workload import (
    ADDRESS_LAYOUTS,
    CONSECUTIVE_FIRST,
    SCATTERED_PER_SUBNET,
    Population,
    consecutive_addresses,
    format_address,
    ip_address,
    scattered_addresses,
)
from simulator.scenario.models import Workload

HASHES = ["mixed", "modulo", "subnet24"]
LAYOUTS = ["consecutive", "scattered"]


def thirty_users(address_hash: str, layout: str = "consecutive", **more: Any) -> RunResult:
    """30 users, one address each, 3 servers, ``sticky`` with ``ip_hash``; 60 s at 100
    requests per second gives each server about 1,700 jobs."""
    overrides: dict[str, Any] = {
        "workload.users": 30,
        "workload.client_addresses": layout,
        "cluster.servers": 3,
        "strategies": ["sticky"],
        "sticky.affinity": "ip_hash",
        "sticky.hash": address_hash,
        "duration_s": 60,
        "warmup_s": 10,
    }
    return run(load_scenario("baseline", overrides | more), record_requests=False)


def jain(result: RunResult) -> float:
    value = result["sticky"].load_skew["jain"]
    assert value is not None
    return value


# ------------------------------------------------------------------ the must-show


def test_modulo_splits_30_consecutive_addresses_evenly_over_3_servers() -> None:
    # HAProxy balance source, map-based: addresses 10.0.0.0-29 modulo 3 are 10/10/10
    result = thirty_users("modulo")
    assert jain(result) >= 0.99
    assert min(result["sticky"].server_requests) > 0.9 * max(result["sticky"].server_requests)


def test_subnet24_puts_30_consecutive_addresses_on_one_server() -> None:
    # nginx ip_hash: all 30 are in 10.0.0.0/24, so one server takes every job
    result = thirty_users("subnet24")
    assert jain(result) == pytest.approx(1 / 3)
    assert sorted(result["sticky"].server_requests)[:2] == [0, 0]


def test_mixed_spreads_30_addresses_as_chance_does() -> None:
    # SplitMix64 puts 9, 13 and 8 of the 30 addresses on the three servers
    value = jain(thirty_users("mixed"))
    assert 0.9 < value < 0.99


@pytest.mark.parametrize("address_hash", HASHES)
def test_scattered_addresses_are_spread_by_every_hash_about_as_chance_does(
    address_hash: str,
) -> None:
    # public clients: 2000 users over ~670 /24s; no hash is perfectly even, none lumps
    result = run(
        load_scenario(
            "baseline",
            {
                "strategies": ["sticky"],
                "sticky.affinity": "ip_hash",
                "sticky.hash": address_hash,
                "duration_s": 60,
                "warmup_s": 10,
            },
        ),
        record_requests=False,
    )
    assert jain(result) > 0.98


def test_mixed_routes_the_same_whatever_the_address_layout() -> None:
    default = run(load_scenario("nat-hotspot", {"duration_s": 40}), record_requests=False)
    explicit = run(
        load_scenario(
            "nat-hotspot",
            {"duration_s": 40, "sticky.hash": "mixed", "workload.client_addresses": "consecutive"},
        ),
        record_requests=False,
    )
    assert default.to_json() == explicit.to_json()


# ------------------------------------------------------------------ NAT


@pytest.mark.parametrize(("address_hash", "low", "high"), [
    ("mixed", 0.4, 0.8),     # 10 addresses hashed onto 5 servers: two get none
    ("modulo", 0.99, 1.0),   # 10 consecutive addresses modulo 5: exactly 2 each
    ("subnet24", 0.2, 0.2),  # all 10 in 10.0.0.0/24: one server
])  # fmt: skip
def test_nat_addresses_with_each_hash(address_hash: str, low: float, high: float) -> None:
    # 2000 users behind 10 NAT addresses (the nat-hotspot scenario), on consecutive addresses
    result = run(
        load_scenario(
            "nat-hotspot",
            {
                "duration_s": 40,
                "strategies": ["sticky"],
                "sticky.hash": address_hash,
                "workload.client_addresses": "consecutive",
            },
        ),
        record_requests=False,
    )
    assert low - 1e-9 <= jain(result) <= high + 1e-9


@pytest.mark.parametrize("address_hash", HASHES)
@pytest.mark.parametrize("affinity", ["ip_hash", "consistent_hash"])
def test_users_behind_one_nat_address_share_one_server(address_hash: str, affinity: str) -> None:
    result = run(
        load_scenario(
            "nat-hotspot",
            {
                "duration_s": 20,
                "warmup_s": 0,
                "strategies": ["sticky"],
                "sticky.affinity": affinity,
                "sticky.hash": address_hash,
            },
        )
    )
    frame = result.requests_frame()
    population = Population.from_config(result.scenario.workload, Streams(result.scenario.seed))
    frame["ip"] = population.user_ip[frame["user"].to_numpy()]
    assert (frame.groupby("ip")["server"].nunique() == 1).all()


# ------------------------------------------------------------------ scale-out


def share_forced_on_scale_out(result: RunResult, since_s: float, active_from_s: float) -> float:
    """Of the users with a request after ``active_from_s``, the share forced to log in
    again because their server changed (``wrong_server``) after ``since_s``."""
    frame = result.requests_frame()
    frame = frame[frame["strategy"] == "sticky"]
    active = set(frame.loc[frame["arrival_s"] >= active_from_s, "user"])
    forced = frame[(frame["arrival_s"] >= since_s) & (frame["relogin_cause"] == "wrong_server")]
    return len(active & set(forced["user"])) / len(active)


@pytest.mark.parametrize(("affinity", "address_hash", "expected"), [
    ("ip_hash", "mixed", 0.9),
    ("ip_hash", "modulo", 0.9),    # a % 9 == a % 10 for 1 address in 10
    ("ip_hash", "subnet24", 0.9),  # the same, per /24
    ("consistent_hash", "mixed", 0.1),
    ("consistent_hash", "subnet24", 0.1),
])  # fmt: skip
def test_scale_out_from_9_to_10_with_each_hash(
    affinity: str, address_hash: str, expected: float
) -> None:
    # scale-out-modulo: 2000 scattered users, one server added at 37 s, seen at 40 s
    result = run(
        load_scenario(
            "scale-out-modulo",
            {
                "strategies": ["sticky"],
                "sticky.affinity": affinity,
                "sticky.hash": address_hash,
                "sticky.virtual_nodes": 200,
            },
        )
    )
    assert share_forced_on_scale_out(result, 37.0, 40.0) == pytest.approx(expected, abs=0.05)


# ------------------------------------------------------------------ address layouts


def test_consecutive_addresses_start_at_10_0_0_0() -> None:
    values = consecutive_addresses(300, Streams(1)).tolist()
    assert values[0] == CONSECUTIVE_FIRST
    assert np.all(np.diff(values) == 1)
    assert [format_address(v) for v in values[:2]] == ["10.0.0.0", "10.0.0.1"]
    assert format_address(values[257]) == "10.0.1.1" == ip_address(257)


def test_scattered_addresses_are_distinct_public_and_a_few_per_subnet() -> None:
    values = scattered_addresses(20_000, Streams(1))
    assert len(np.unique(values)) == 20_000
    first_octet = values >> np.uint64(24)
    assert first_octet.min() >= 1
    assert first_octet.max() <= 223
    host = values & np.uint64(255)
    assert host.min() >= 1
    assert host.max() <= 254
    _, per_subnet = np.unique(values >> np.uint64(8), return_counts=True)
    assert per_subnet.mean() == pytest.approx(SCATTERED_PER_SUBNET, rel=0.05)
    assert (per_subnet == 1).mean() == pytest.approx(1 / 3, abs=0.03)  # geometric
    assert per_subnet.max() >= 10  # some clustering: an ISP pool, a campus


def test_scattered_addresses_depend_on_the_seed_only() -> None:
    first = scattered_addresses(500, Streams(4)).tolist()
    assert first == scattered_addresses(500, Streams(4)).tolist()
    assert first != scattered_addresses(500, Streams(5)).tolist()
    assert scattered_addresses(0, Streams(4)).size == 0
    assert scattered_addresses(1, Streams(4)).size == 1


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("users", "per_ip"), [(1, 1), (30, 1), (2000, 200), (101, 10)])
def test_every_client_ip_has_one_address(layout: str, users: int, per_ip: int) -> None:
    workload = Workload(users=users, users_per_ip=per_ip, client_addresses=layout)
    population = Population.from_config(workload, Streams(3))
    assert population.addresses.shape == (population.ips,)
    assert len(np.unique(population.addresses)) == population.ips
    assert population.address(0).count(".") == 3


def test_the_layout_changes_only_the_addresses() -> None:
    by_layout = {
        layout: Population.from_config(
            Workload(users=500, users_per_ip=5, client_addresses=layout), Streams(2)
        )
        for layout in LAYOUTS
    }
    consecutive, scattered = by_layout["consecutive"], by_layout["scattered"]
    np.testing.assert_array_equal(consecutive.user_ip, scattered.user_ip)
    np.testing.assert_array_equal(consecutive.ip_hash, scattered.ip_hash)
    assert not np.array_equal(consecutive.addresses, scattered.addresses)


def test_layouts_are_named_as_in_the_scenario() -> None:
    assert sorted(ADDRESS_LAYOUTS) == sorted(LAYOUTS)
    assert Workload().client_addresses == "scattered"
