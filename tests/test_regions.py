"""Regions (simulator.model.regions), the store's varying and cross-region round trips
(simulator.model.store), and the multi-region lesson."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import simpy
from scenario_checks import checked_run, success

from simulator import ScenarioError, load_scenario, run
from simulator.costs.sources import SOURCES
from simulator.model.balancer import RoundRobin
from simulator.model.regions import RegionalBalancer, RegionalClusterView, RegionMap
from simulator.model.rng import DrawBuffer, Streams
from simulator.model.store import SessionStore
from simulator.present.explain import explain
from simulator.results.regions import RegionStats

TWO = [{"name": "near"}, {"name": "far"}]


class Idle:
    in_system = 0


def regions_of(**overrides: Any) -> RegionMap:
    scenario = load_scenario("baseline", {"regions": TWO, "cluster.servers": 5} | overrides)
    found = RegionMap.build(scenario, Streams(scenario.seed))
    assert found is not None
    return found


# ------------------------------------------------------------------------- placement


def test_without_regions_nothing_is_built() -> None:
    scenario = load_scenario("baseline")
    assert RegionMap.build(scenario, Streams(1)) is None


def test_servers_split_by_share_in_runs_and_users_by_share() -> None:
    regions = regions_of()
    assert regions.server_region == [0, 0, 0, 1, 1]  # 5 over two equal shares, largest first
    shares = np.bincount(regions.user_region) / len(regions.user_region)
    assert shares == pytest.approx([0.5, 0.5], abs=0.03)
    skewed = regions_of(regions=[{"name": "a", "users": 9, "servers": 1}, {"name": "b"}])
    assert np.mean(skewed.user_region == 0) == pytest.approx(0.9, abs=0.02)
    assert regions_of(**{"cluster.servers": 2}).server_region == [0, 1]  # one each at least


def test_a_scale_out_adds_a_server_where_it_is_most_below_its_share() -> None:
    regions = regions_of()
    assert regions.add_server() == 1  # 3 + 2 -> 3 + 3
    assert regions.add_server() in (0, 1)
    assert regions.server_region[:6] == [0, 0, 0, 1, 1, 1]


def test_the_store_region_is_named_and_others_are_remote() -> None:
    regions = regions_of(**{"shared_store.region": "far"})
    assert regions.store_region == 1
    assert [regions.remote(server) for server in range(5)] == [True] * 3 + [False] * 2


def test_bad_regions_are_one_line_errors() -> None:
    with pytest.raises(ScenarioError, match=r"regions\.1\.name: names region 'near' twice"):
        load_scenario("baseline", {"regions": [{"name": "near"}, {"name": "near"}]})
    with pytest.raises(ScenarioError, match=r"shared_store\.region: no region 'moon'"):
        load_scenario("baseline", {"regions": TWO, "shared_store.region": "moon"})
    with pytest.raises(ScenarioError, match="need at least 2 servers"):
        load_scenario("baseline", {"regions": TWO, "cluster.servers": 1})


# --------------------------------------------------------------------------- routing


def test_each_user_is_routed_to_its_regions_servers_and_failed_over_when_it_has_none() -> None:
    regions = regions_of()
    servers = [Idle() for _ in range(5)]
    view = RegionalClusterView(servers, regions)
    near, far = view.regions
    assert (near.live, far.live) == ([0, 1, 2], [3, 4])
    balancer = RegionalBalancer(
        [RoundRobin(near), RoundRobin(far)], view.regions, RoundRobin(view), regions.user_region
    )
    for user in range(200):
        region = int(regions.user_region[user])
        assert regions.server_region[balancer.choose(user)] == region
    view.set_live([0, 1, 2])  # the far region's servers are all down
    assert far.live == []
    far_user = int(np.flatnonzero(regions.user_region == 1)[0])
    assert balancer.choose(far_user) in (0, 1, 2)  # failed over to the near region


# ------------------------------------------------------------------------ round trips


def make_store(env: simpy.Environment, **options: Any) -> SessionStore:
    return SessionStore(
        env,
        rtt_ms=2.0,
        op_times_s=DrawBuffer(lambda n: np.full(n, 0.001), block=8),
        pool_size=10,
        servers=2,
        warmup_s=0.0,
        **options,
    )


def test_a_remote_server_pays_the_cross_region_round_trip_and_does_not_block_local_ones() -> None:
    env = simpy.Environment()
    store = make_store(env, cross_region_rtt_ms=70.0, remote=lambda server: server == 1)
    replies: dict[int, float] = {}

    def operation(server: int, at_s: float) -> Any:
        yield env.timeout(at_s)
        answered = yield store.operation(server, 0)
        assert answered
        replies[server] = env.now - at_s

    env.process(operation(1, 0.0))  # sent first, arrives 36 ms later
    env.process(operation(0, 0.0001))  # sent next, arrives first: not queued behind it
    env.run()
    assert replies[1] == pytest.approx(0.072 + 0.001)
    assert replies[0] == pytest.approx(0.002 + 0.001)


def test_a_lognormal_round_trip_has_the_mean_and_tail_asked_for() -> None:
    # constant business work and a light load: a request's latency is its round trip's
    # plus 10 ms, so the round trip's tail shows in the requests' p99
    base = {
        "duration_s": 60,
        "warmup_s": 5,
        "cluster.service_time_ms.distribution": "constant",
        "shared_store.rtt_ms": 1.8,
    }
    tail = {"shared_store.rtt_distribution": "lognormal", "shared_store.rtt_p99_ms": 7.0}
    lognormal = run(load_scenario("baseline", base | tail), ["shared_store"])["shared_store"]
    constant = run(load_scenario("baseline", base), ["shared_store"])["shared_store"]
    for item in (lognormal, constant):
        store = item.store
        assert store is not None and store.mean_latency_ms is not None
        # the mean round trip plus 10 µs of work, whatever the distribution
        assert store.mean_latency_ms == pytest.approx(1.8 + 0.01, rel=0.05)
    p99 = {
        name: item.latency_ms["p99"]
        for name, item in (("lognormal", lognormal), ("constant", constant))
    }
    assert p99["constant"] == pytest.approx(10 + 1.81, abs=0.2)
    assert p99["lognormal"] == pytest.approx(10 + 7.0, abs=1.0)  # the tail asked for


# ---------------------------------------------------------------------------- lesson


def test_multi_region_shared_store_pays_the_ocean_on_every_request_and_jwt_does_not() -> None:
    result = checked_run("multi-region")
    scenario = result.scenario
    cross_ms = scenario.shared_store.cross_region_rtt_ms

    def regions(strategy: str) -> dict[str, RegionStats]:
        found = result[strategy].regions
        assert found is not None
        return {region.name: region for region in found}

    def gap_ms(strategy: str) -> float:
        local, remote = regions(strategy)["us-east"], regions(strategy)["eu-west"]
        assert local.store_local and not remote.store_local
        assert local.mean_latency_ms is not None and remote.mean_latency_ms is not None
        return remote.mean_latency_ms - local.mean_latency_ms

    # shared_store: remote users pay the cross-region round trip on every request (72.7
    # ms for 70; fails with cross_region_rtt_ms 0, or with the store in eu-west: negative)
    assert gap_ms("shared_store") == pytest.approx(cross_ms, rel=0.05)
    # jwt verifies locally: only refreshes cross the ocean (1.0 ms; fails with
    # jwt.denylist=store, which asks the store on every request: about 70 ms)
    assert gap_ms("jwt") < 0.05 * cross_ms
    assert gap_ms("sticky") < 0.05 * cross_ms
    for name in ("sticky", "shared_store", "jwt"):
        assert success(result[name]) > 0.999, name
    # the remote round trips hold workers: eu-west's servers are the busy ones (0.69
    # against 0.09 busy)
    utilisation = result["shared_store"].server_utilisation
    assert min(utilisation[3:]) > 4 * max(utilisation[:3])
    # contrast: with the store next to everyone the gap is gone
    together = checked_run(scenario, {"shared_store.cross_region_rtt_ms": 0}, ["shared_store"])
    near = {region.name: region for region in together["shared_store"].regions or ()}
    assert abs(near["eu-west"].mean_latency_ms - near["us-east"].mean_latency_ms) < 1.0  # type: ignore[operator]


def test_the_explanation_says_what_each_region_saw() -> None:
    result = run(load_scenario("multi-region", {"duration_s": 40, "warmup_s": 10}))
    (text,) = [p.text for p in explain(result) if p.topic == "Regions"]
    store = {region.name: region for region in result["shared_store"].regions or ()}
    gap = store["eu-west"].mean_latency_ms - store["us-east"].mean_latency_ms  # type: ignore[operator]
    assert (
        f"shared_store: mean latency us-east (the store) {store['us-east'].mean_latency_ms:.1f} ms"
        in text
    )
    assert f"(+{gap:.1f} ms away from the store)" in text
    assert "sticky: mean latency us-east 10" in text  # sticky never asks the store
    assert "adds 70.0 ms to every store operation" in text
    single = run(load_scenario("baseline", {"duration_s": 30}))
    assert "Regions" not in [p.topic for p in explain(single)]
    figures = [p.text for p in explain(result) if p.topic == "Where the figures come from"]
    assert SOURCES["shared_store.cross_region_rtt_ms"].source in figures[0]
    assert SOURCES["shared_store.cross_region_rtt_ms"].source not in " ".join(
        p.text for p in explain(single)
    )
