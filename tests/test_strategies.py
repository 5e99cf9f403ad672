"""The four strategies, built as the model builds them (simulator.model.strategies)."""

from __future__ import annotations

from typing import Any

import pytest
import simpy

from simulator.costs.reference import (
    JWT_SIGN_US,
    JWT_TOKEN_BYTES,
    JWT_VERIFY_US,
    SESSION_ID_BYTES,
    AuthCosts,
)
from simulator.model.balancer import (
    ClusterView,
    ConsistentHash,
    CookieAffinity,
    IpHash,
    LeastConnections,
    PowerOfTwo,
    RoundRobin,
)
from simulator.model.cluster import Server
from simulator.model.rng import Streams, exponential_buffer, uniform_buffer
from simulator.model.run import RunInputs, StrategyRun
from simulator.model.store import SessionStore
from simulator.model.strategies import STRATEGIES, StrategyContext, build_strategy
from simulator.model.strategies.jwt import JwtTokens
from simulator.model.strategies.local import LocalSessions
from simulator.model.strategies.shared_store import SharedStoreSessions
from simulator.model.strategies.sticky import StickySessions
from simulator.model.workload import Population
from simulator.outcomes import EXPIRED, VALID, WRONG_SERVER
from simulator.scenario.models import Scenario


def scenario_with(strategy: str, **overrides: Any) -> Scenario:
    base = {
        "duration_s": 10,
        "warmup_s": 1,
        "workload.users": 60,
        "workload.arrival_rate_per_s": 50,
        "strategies": [strategy],
    }
    return Scenario().with_overrides(base | overrides)


def strategy_run(strategy: str, **overrides: Any) -> StrategyRun:
    return StrategyRun(RunInputs.build(scenario_with(strategy, **overrides)), strategy)


def test_registry_names_every_strategy():
    registry = dict(STRATEGIES)
    assert registry == {
        "local": LocalSessions,
        "sticky": StickySessions,
        "shared_store": SharedStoreSessions,
        "jwt": JwtTokens,
    }


def test_build_strategy_from_a_hand_made_context():
    scenario = scenario_with("jwt", **{"load_balancer.policy": "power_of_two"})
    env = simpy.Environment()
    servers = [Server(env, i, 1, 1, lambda s, j, slot: 0, lambda s, j, r: None) for i in range(3)]
    streams = Streams(1)
    context = StrategyContext(
        scenario=scenario,
        view=ClusterView(servers),
        servers=servers,
        population=Population.from_config(scenario.workload, streams),
        balancer_uniform=uniform_buffer(streams.generator("balancer")),
        store=SessionStore(env, 0.5, exponential_buffer(streams.generator("store"), 1e-4), 2, 3, 0),
        costs=AuthCosts(),
    )
    strategy = build_strategy("jwt", context)
    assert isinstance(strategy, JwtTokens)
    assert isinstance(strategy.balancer, PowerOfTwo)
    assert {strategy.balancer.choose(0) for _ in range(100)} == {0, 1, 2}


# -------------------------------------------------------------------------- local


def test_local_accepts_only_on_the_server_holding_the_session():
    run = strategy_run("local")
    strategy, servers = run.strategy, run.servers
    assert not strategy.has_credential(5)
    assert strategy.issue(servers[2], 5, 0.0) == 0.0
    assert strategy.has_credential(5)
    assert 5 in servers[2].sessions
    assert strategy.check(servers[2], 5, 1.0) == (VALID, 0.0)
    for other in (0, 1, 3, 4):
        assert strategy.check(servers[other], 5, 1.0) == (WRONG_SERVER, 0.0)


def test_local_new_login_elsewhere_invalidates_the_old_session():
    run = strategy_run("local")
    strategy, servers = run.strategy, run.servers
    strategy.issue(servers[0], 3, 0.0)
    strategy.issue(servers[1], 3, 5.0)
    assert strategy.check(servers[1], 3, 6.0)[0] == VALID
    assert strategy.check(servers[0], 3, 6.0)[0] != VALID


def test_local_user_without_session_is_rejected_everywhere():
    run = strategy_run("local")
    assert not any(run.strategy.check(server, 9, 0.0)[0] == VALID for server in run.servers)


def test_local_costs_and_balancer():
    run = strategy_run("local", **{"load_balancer.policy": "least_connections"})
    strategy = run.strategy
    assert strategy.check_round_trips == 0
    assert strategy.login_round_trips == 0
    assert strategy.credential_bytes == SESSION_ID_BYTES
    assert strategy.credential_lifetime_s is None
    assert isinstance(strategy.balancer, LeastConnections)


def test_local_without_affinity_forces_relogins():
    result = strategy_run("local").run()
    assert result.requests > 0
    assert result.forced_relogins > 0
    assert result.succeeded < result.requests


def test_local_on_a_single_server_always_finds_the_session():
    result = strategy_run("local", **{"cluster.servers": 1}).run()
    assert result.requests > 0
    assert result.succeeded == result.requests
    assert result.forced_relogins == 0


# ------------------------------------------------------------------------- sticky


@pytest.mark.parametrize(
    ("affinity", "balancer_type"),
    [("cookie", CookieAffinity), ("ip_hash", IpHash), ("consistent_hash", ConsistentHash)],
)
def test_sticky_routes_each_user_consistently(affinity, balancer_type):
    run = strategy_run("sticky", **{"sticky.affinity": affinity})
    balancer = run.strategy.balancer
    assert isinstance(balancer, balancer_type)
    first = [balancer.choose(user) for user in range(60)]
    assert set(first) <= set(range(5))
    for _ in range(3):
        assert [balancer.choose(user) for user in range(60)] == first


@pytest.mark.parametrize("affinity", ["cookie", "ip_hash", "consistent_hash"])
def test_sticky_spreads_users_over_every_server(affinity):
    # 60 users on 60 IPs over 5 servers: every server should hold some sessions and
    # receive some requests (all on one server has probability ~1e-40 for a fair hash).
    run = strategy_run("sticky", **{"sticky.affinity": affinity})
    result = run.run()
    assert all(len(server.sessions) > 0 for server in run.servers), [
        len(server.sessions) for server in run.servers
    ]
    assert all(jobs > 0 for jobs in result.server_requests), result.server_requests


@pytest.mark.parametrize("affinity", ["ip_hash", "consistent_hash"])
def test_sticky_hash_affinity_keeps_users_of_one_ip_together(affinity):
    run = strategy_run("sticky", **{"sticky.affinity": affinity, "workload.users_per_ip": 6})
    user_ip = run.fleet.population.user_ip.tolist()
    by_ip: dict[int, set[int]] = {}
    for user in range(60):
        by_ip.setdefault(user_ip[user], set()).add(run.strategy.balancer.choose(user))
    assert len(by_ip) == 10
    assert all(len(servers) == 1 for servers in by_ip.values())


def test_sticky_request_lands_where_the_login_left_the_session():
    run = strategy_run("sticky")
    strategy, servers = run.strategy, run.servers
    for user in range(20):
        strategy.issue(servers[strategy.balancer.choose(user)], user, 0.0)
    for user in range(20):
        assert strategy.check(servers[strategy.balancer.choose(user)], user, 1.0)[0] == VALID


def test_sticky_cookie_uses_the_spreading_policy_for_first_requests():
    run = strategy_run("sticky", **{"load_balancer.policy": "round_robin"})
    assert [run.strategy.balancer.choose(user) for user in range(7)] == [0, 1, 2, 3, 4, 0, 1]


@pytest.mark.parametrize("affinity", ["cookie", "ip_hash", "consistent_hash"])
def test_sticky_serves_every_request_without_relogin(affinity):
    result = strategy_run("sticky", **{"sticky.affinity": affinity}).run()
    assert result.requests > 0
    assert result.succeeded == result.requests
    assert result.forced_relogins == 0
    assert result.sessions_in_servers == 60


def test_sticky_is_local_sessions_with_another_balancer():
    run = strategy_run("sticky")
    assert isinstance(run.strategy, LocalSessions)
    assert not isinstance(strategy_run("local").strategy.balancer, CookieAffinity)
    assert isinstance(strategy_run("local").strategy.balancer, RoundRobin)


# ------------------------------------------------------------------- shared_store


def test_shared_store_check_reads_the_store():
    run = strategy_run("shared_store")
    strategy, servers, store = run.strategy, run.servers, run.store
    assert not strategy.has_credential(4)
    assert strategy.issue(servers[1], 4, 0.0) == 0.0
    assert store.latest(4) is not None
    assert servers[1].sessions == {}
    # any server accepts: the session is in the store, not in a server
    assert all(strategy.check(server, 4, 1.0) == (VALID, 0.0) for server in servers)
    store.delete(4, 0.0)
    assert not any(strategy.check(server, 4, 1.0)[0] == VALID for server in servers)


def test_shared_store_rejects_a_stale_session_id():
    run = strategy_run("shared_store")
    strategy, servers, store = run.strategy, run.servers, run.store
    strategy.issue(servers[0], 2, 0.0)
    store.put(2, store.latest(2) + 1000, 0.0)  # the store holds some other session for the user
    assert strategy.check(servers[0], 2, 1.0)[0] != VALID


def test_shared_store_costs_a_round_trip_per_check_and_login():
    strategy = strategy_run("shared_store").strategy
    assert strategy.check_round_trips == 1
    assert strategy.login_round_trips == 1
    assert strategy.credential_bytes == SESSION_ID_BYTES


def test_shared_store_run_uses_the_store_on_every_request():
    result = strategy_run("shared_store").run()
    assert result.succeeded == result.requests > 0
    assert result.store is not None
    assert result.store.ops >= result.requests
    assert result.store.mean_latency_ms is not None
    assert result.store.mean_latency_ms >= 0.5  # at least the round trip
    assert result.sessions_in_store == 60
    assert result.sessions_in_servers == 0


# ---------------------------------------------------------------------------- jwt


def test_jwt_accepts_until_expiry_then_rejects():
    run = strategy_run("jwt", **{"jwt.ttl_s": 60})
    strategy, server = run.strategy, run.servers[0]
    assert not strategy.has_credential(1)
    strategy.issue(server, 1, 100.0)
    assert strategy.has_credential(1)
    assert strategy.check(server, 1, 100.0)[0] == VALID
    assert strategy.check(server, 1, 159.999)[0] == VALID
    assert strategy.check(server, 1, 160.0)[0] != VALID
    assert strategy.check(server, 1, 500.0)[0] != VALID
    strategy.issue(server, 1, 500.0)
    assert strategy.check(server, 1, 500.0)[0] == VALID


def test_jwt_any_server_verifies_the_token():
    run = strategy_run("jwt")
    run.strategy.issue(run.servers[3], 7, 0.0)
    assert all(run.strategy.check(server, 7, 1.0)[0] == VALID for server in run.servers)
    assert all(server.sessions == {} for server in run.servers)


@pytest.mark.parametrize("algorithm", sorted(JWT_VERIFY_US))
def test_jwt_charges_the_reference_cost_of_the_algorithm(algorithm):
    run = strategy_run("jwt", **{"jwt.algorithm": algorithm})
    strategy, server = run.strategy, run.servers[0]
    assert strategy.issue(server, 0, 0.0) == pytest.approx(JWT_SIGN_US[algorithm] / 1e6)
    verdict, cpu_s = strategy.check(server, 0, 1.0)
    assert verdict == VALID
    assert cpu_s == pytest.approx(JWT_VERIFY_US[algorithm] / 1e6)
    assert strategy.credential_bytes == JWT_TOKEN_BYTES[algorithm]


def test_jwt_expired_token_still_costs_a_verification():
    run = strategy_run("jwt", **{"jwt.algorithm": "RS256", "jwt.ttl_s": 1})
    run.strategy.issue(run.servers[0], 0, 0.0)
    assert run.strategy.check(run.servers[0], 0, 5.0) == (EXPIRED, pytest.approx(59e-6))


def test_jwt_verify_and_sign_overrides_replace_the_reference_costs():
    run = strategy_run("jwt", **{"jwt.algorithm": "EdDSA", "jwt.verify_ms": 0.5, "jwt.sign_ms": 2})
    assert run.strategy.issue(run.servers[0], 0, 0.0) == pytest.approx(0.002)
    assert run.strategy.check(run.servers[0], 0, 1.0)[1] == pytest.approx(0.0005)


def test_jwt_zero_verify_override_is_free():
    run = strategy_run("jwt", **{"jwt.verify_ms": 0})
    run.strategy.issue(run.servers[0], 0, 0.0)
    assert run.strategy.check(run.servers[0], 0, 1.0) == (VALID, 0.0)


def test_jwt_credential_lifetime_is_the_ttl():
    strategy = strategy_run("jwt", **{"jwt.ttl_s": 300}).strategy
    assert strategy.credential_lifetime_s == 300
    assert strategy.check_round_trips == 0
    # by default a refresh token is written at login and read at each refresh
    assert strategy.login_round_trips == strategy.refresh_round_trips == 1
    bare = strategy_run("jwt", **{"jwt.refresh": False}).strategy
    assert bare.login_round_trips == bare.refresh_round_trips == 0
    assert not bare.uses_store


def test_jwt_short_ttl_forces_relogins_that_then_succeed():
    result = strategy_run("jwt", **{"jwt.ttl_s": 2, "jwt.refresh": False}).run()
    assert result.forced_relogins > 0
    assert result.outcome_counts["relogin"] == result.forced_relogins
    assert result.outcome_counts["unauthorized"] == 0
    assert result.served == result.requests


def test_jwt_long_ttl_serves_everything_first_time():
    result = strategy_run("jwt").run()
    assert result.succeeded == result.requests > 0
    assert result.forced_relogins == 0
