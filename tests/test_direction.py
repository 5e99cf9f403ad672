"""Direction of change: turning one knob moves the metric it should, the way it should.

Each test runs the same short scenario at a few settings of one knob, with a few
replications. Replication ``r`` of every setting draws the same arrivals, users and
service times (common random numbers: the streams depend only on the seed and ``r``), so
the settings are compared *paired*, replication by replication: the traffic's noise
cancels and the difference is the knob's. Each claim is checked in every replication and
as a 95% interval of the paired differences that excludes zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from simulator import load_scenario, run
from simulator.costs.reference import JWT_VERIFY_US
from simulator.experiments.replications import (
    Interval,
    ReplicatedResult,
    mean_interval,
    run_replications,
)

REPLICATIONS = 3

BASE: dict[str, Any] = {"duration_s": 20, "warmup_s": 2}
"""The baseline (5 servers x 4 workers, round robin, 2000 users), 18 s measured."""


def replicate(
    overrides: dict[str, Any], strategies: Sequence[str], replications: int = REPLICATIONS
) -> ReplicatedResult:
    scenario = load_scenario("baseline", BASE | overrides)
    return run_replications(scenario, replications, strategies)


def paired_across(
    before: ReplicatedResult, after: ReplicatedResult, strategy: str, metric: str
) -> tuple[list[float], Interval]:
    """``after - before`` per replication (the same traffic in both), and its interval."""
    differences = [
        later - earlier
        for earlier, later in zip(
            before.values(strategy, metric), after.values(strategy, metric), strict=True
        )
    ]
    return differences, mean_interval(differences)


def assert_rises(
    settings: Sequence[ReplicatedResult], strategy: str, metric: str, falls: bool = False
) -> None:
    """The metric rises (or ``falls``) from each setting to the next, in every replication
    and significantly."""
    for before, after in itertools.pairwise(settings):
        differences, interval = paired_across(before, after, strategy, metric)
        sign = -1.0 if falls else 1.0
        assert all(sign * value > 0 for value in differences), (metric, differences)
        assert interval.excludes(0.0), (metric, interval)


# ------------------------------------------------------------------ capacity


@pytest.mark.slow  # replications of several settings (~3 s)
def test_more_servers_lower_the_p95_latency() -> None:
    # 1200 requests/s of 10 ms: 4 servers are 75% busy, 8 are 37.5% busy
    settings = [
        replicate({"cluster.servers": servers, "workload.arrival_rate_per_s": 1200}, ["jwt"])
        for servers in (4, 5, 6, 8)
    ]
    assert_rises(settings, "jwt", "latency_ms.p95", falls=True)
    assert_rises(settings, "jwt", "latency_ms.mean", falls=True)


@pytest.mark.slow  # replications of several settings (~3.5 s)
def test_more_workers_per_server_lower_the_latency() -> None:
    settings = [
        replicate(
            {"cluster.workers_per_server": workers, "workload.arrival_rate_per_s": 900},
            ["shared_store", "jwt"],
        )
        # 900 requests/s of 10 ms on 5 servers: 90%, 60% and 45% busy
        for workers in (2, 3, 4)
    ]
    for strategy in ("shared_store", "jwt"):
        assert_rises(settings, strategy, "latency_ms.mean", falls=True)
        assert_rises(settings, strategy, "latency_ms.p95", falls=True)


# ------------------------------------------------------------------ the store


def test_a_slower_store_network_slows_shared_store_and_not_jwt() -> None:
    # jwt without refresh tokens (and no denylist) never asks the store
    near = replicate({"shared_store.rtt_ms": 0.5, "jwt.refresh": False}, ["shared_store", "jwt"])
    far = replicate({"shared_store.rtt_ms": 5.0, "jwt.refresh": False}, ["shared_store", "jwt"])
    differences, interval = paired_across(near, far, "shared_store", "latency_ms.mean")
    # one session lookup per request: at least the 4.5 ms of extra round trip each
    assert all(value >= 4.5 for value in differences), differences
    assert interval.low >= 4.5
    assert_rises([near, far], "shared_store", "latency_ms.p95")
    # compared with jwt on the same traffic: the gap widens by the same amount
    gap_near = near.paired("shared_store", "jwt", "latency_ms.mean").interval
    gap_far = far.paired("shared_store", "jwt", "latency_ms.mean").interval
    assert gap_far.low > gap_near.high
    assert gap_far.mean - gap_near.mean >= 4.5 * 0.999
    # jwt never touches the store (no refresh tokens, no denylist): identical results
    for near_run, far_run in zip(near.runs, far.runs, strict=True):
        assert near_run["jwt"].to_dict() == far_run["jwt"].to_dict()
        near_series, far_series = near_run["jwt"].series, far_run["jwt"].series
        assert near_series is not None and far_series is not None
        np.testing.assert_array_equal(near_series.latency_ms, far_series.latency_ms)


def test_a_jwt_denylist_in_the_store_pays_the_store_round_trip() -> None:
    # the contrast: once every request asks the store, jwt slows with it too
    near = replicate({"shared_store.rtt_ms": 0.5, "jwt.denylist": "store"}, ["jwt"])
    far = replicate({"shared_store.rtt_ms": 5.0, "jwt.denylist": "store"}, ["jwt"])
    differences, _ = paired_across(near, far, "jwt", "latency_ms.mean")
    assert all(value >= 4.5 for value in differences), differences


# ------------------------------------------------------------------ tokens


def test_a_costlier_jwt_algorithm_raises_jwt_latency_in_order_of_verify_cost() -> None:
    # reference verify costs: HS256 31 us < RS256 59 us < EdDSA 133 us
    algorithms = sorted(["RS256", "EdDSA", "HS256"], key=JWT_VERIFY_US.__getitem__)
    assert algorithms == ["HS256", "RS256", "EdDSA"]
    # tokens that outlive the run: no refresh or login signs one (signing costs order the
    # algorithms differently), so only the verify cost differs
    day = {"jwt.ttl_s": 86_400, "jwt.refresh": False}
    settings = [replicate({"jwt.algorithm": name} | day, ["jwt"]) for name in algorithms]
    assert_rises(settings, "jwt", "latency_ms.mean")
    # every request pays the verify cost difference, and waits no less
    for (cheap, costly), (before, after) in zip(
        itertools.pairwise(algorithms),
        itertools.pairwise(settings),
        strict=True,
    ):
        extra_ms = (JWT_VERIFY_US[costly] - JWT_VERIFY_US[cheap]) / 1000.0
        differences, _ = paired_across(before, after, "jwt", "latency_ms.mean")
        assert all(value >= extra_ms * 0.999 for value in differences), (costly, differences)
        auth = after.runs[0]["jwt"].auth_cost
        assert auth is not None and auth.verify_ms == pytest.approx(JWT_VERIFY_US[costly] / 1000)


def test_a_longer_token_lifetime_forces_fewer_relogins() -> None:
    # 2000 users at 100 requests/s: each user comes back about every 20 s
    settings = [
        replicate({"jwt.ttl_s": ttl_s, "jwt.refresh": False, "duration_s": 40}, ["jwt"])
        for ttl_s in (10, 30, 120, 600)
    ]
    assert_rises(settings, "jwt", "forced_relogins", falls=True)
    assert_rises(settings, "jwt", "success_rate")
    for setting in settings:
        for run_result in setting.runs:
            jwt = run_result["jwt"]
            assert jwt.forced_relogins == jwt.forced_relogins_by_cause["expired"]


# ------------------------------------------------------------------ affinity


def test_more_users_behind_one_ip_skew_ip_hash_affinity() -> None:
    settings = [
        replicate({"sticky.affinity": "ip_hash", "workload.users_per_ip": per_ip}, ["sticky"])
        for per_ip in (1, 10, 100, 400)
    ]
    assert_rises(settings, "sticky", "load_skew.max_over_mean")
    assert_rises(settings, "sticky", "load_skew.jain", falls=True)
    # 400 users per IP: 5 addresses on 5 servers, which a hash cannot spread evenly
    assert settings[-1].interval("sticky", "load_skew.jain").high < 0.6


def test_common_random_numbers_make_the_settings_comparable() -> None:
    # the premise of every paired comparison above: the knob changes, the traffic does not
    one = run(load_scenario("baseline", BASE | {"cluster.servers": 4}), ["jwt"], replication=1)
    two = run(load_scenario("baseline", BASE | {"cluster.servers": 8}), ["jwt"], replication=1)
    frame_one, frame_two = one.requests_frame(), two.requests_frame()
    np.testing.assert_array_equal(frame_one["arrival_s"], frame_two["arrival_s"])
    np.testing.assert_array_equal(frame_one["user"], frame_two["user"])
