"""``issue_many`` (many logins at once) leaves every strategy exactly as its loop of
``issue`` does.

Each case builds two copies of a strategy on the vector engine's stand-in servers (as
:func:`~simulator.model.vector_setup.build` does), logs the same users in on the same
servers with ``issue`` one at a time and with ``issue_many``, and compares the whole state
both leave: the strategy's attributes, its cookies, every server's ``sessions`` (keys,
values and insertion order) and the store's data, by value and by ``repr`` (so an ``int``
where a ``float`` was is a difference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from simulator import load_scenario
from simulator.model.cluster import Server
from simulator.model.run import RunInputs
from simulator.model.store_data import StoreData
from simulator.model.strategies import STRATEGIES
from simulator.model.strategies.base import SessionCookies
from simulator.model.strategies.jwt import JwtTokens
from simulator.model.strategies.local import LocalSessions
from simulator.model.vector_inputs import uniforms
from simulator.model.vector_setup import AFFINITY, SPREADING, Setup, build, choose_each
from simulator.model.vector_setup import log_in_everyone as vector_log_in_everyone

USERS = 300
SERVERS = 5
BALANCERS = SPREADING + AFFINITY


def scenario_for(name: str, balancer: str, **overrides: Any) -> Any:
    """A small scenario for strategy ``name``; ``balancer`` is the spreading policy or,
    for an affinity, ``sticky.affinity`` (which only ``sticky`` reads)."""
    data: dict[str, Any] = {
        "duration_s": 2.0,
        "warmup_s": 0.0,
        "workload.users": USERS,
        "workload.arrival_rate_per_s": 100.0,
        "cluster.servers": SERVERS,
        "load_balancer.policy": balancer if balancer in SPREADING else "random",
        "sticky.affinity": balancer if balancer in AFFINITY else "cookie",
        "strategies": [name],
    }
    data.update({key.replace("__", "."): value for key, value in overrides.items()})
    return load_scenario(None, data)


def setup_of(inputs: RunInputs, name: str) -> Setup:
    """Strategy ``name`` on stand-in servers, as the vector engine builds it."""
    return build(inputs.scenario, name, inputs.population, inputs.streams, inputs.costs)


def issued_times(inputs: RunInputs, setup: Setup, count: int) -> list[float]:
    """When each of ``count`` logins' credentials was issued, seconds (as the vector
    engine spreads them: a random part of a lifetime ago, or 0)."""
    lifetime_s = setup.strategy.credential_lifetime_s
    if lifetime_s is None:
        return [0.0] * count
    issued: list[float] = (-uniforms(inputs, "initial_logins", count) * lifetime_s).tolist()
    return issued


def plain(value: Any) -> Any:
    """``value`` as comparable data: containers of numbers and strings, in order."""
    if isinstance(value, SessionCookies):
        return {slot: plain(getattr(value, slot)) for slot in SessionCookies.__slots__}
    if isinstance(value, StoreData):
        return {slot: plain(getattr(value, slot)) for slot in StoreData.__slots__}
    if isinstance(value, dict):
        return [(key, plain(item)) for key, item in value.items()]
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


SHARED = ("context", "balancer", "_servers", "_store", "on_outage")
"""Attributes that are the run's objects, not the strategy's own state (the servers and
the store are compared on their own)."""


def snapshot(setup: Setup) -> dict[str, Any]:
    """Everything the logins may have changed."""
    strategy = setup.strategy
    own = {key: plain(value) for key, value in vars(strategy).items() if key not in SHARED}
    return {
        "strategy": own,
        "hosts": [
            (host.index, list(host.sessions.items()), host.in_system, host.up)
            for host in setup.hosts
        ],
        "store": plain(setup.store.data),
    }


def assert_same_state(one: Setup, other: Setup) -> None:
    expected, actual = snapshot(one), snapshot(other)
    assert actual == expected
    assert repr(actual) == repr(expected)


def log_in(setup: Setup, servers: Sequence[int], users: Sequence[int], issued_s: Any) -> None:
    """``issue`` once per login, in turn."""
    issue = setup.strategy.issue
    for server, user, now_s in zip(servers, users, issued_s, strict=True):
        issue(setup.hosts[server], user, now_s)  # type: ignore[arg-type]


def log_in_many(setup: Setup, servers: Sequence[int], users: Sequence[int], issued_s: Any) -> None:
    """The same logins through ``issue_many``."""
    hosts: list[Server] = [setup.hosts[server] for server in servers]  # type: ignore[misc]
    setup.strategy.issue_many(hosts, users, issued_s)


def two_logged_in(
    name: str, balancer: str, **overrides: Any
) -> tuple[RunInputs, Setup, Setup, list[int]]:
    """Two copies of strategy ``name``, every user logged in (in turn on one, at once on
    the other), and the server each user's login went to."""
    inputs = RunInputs.build(scenario_for(name, balancer, **overrides))
    looped, bulk = setup_of(inputs, name), setup_of(inputs, name)
    chosen = choose_each(looped.strategy.balancer, USERS)
    assert choose_each(bulk.strategy.balancer, USERS) == chosen
    issued_s = issued_times(inputs, looped, USERS)
    log_in(looped, chosen, range(USERS), issued_s)
    log_in_many(bulk, chosen, range(USERS), issued_s)
    return inputs, looped, bulk, chosen


@pytest.mark.parametrize("balancer", BALANCERS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_issue_many_is_the_loop_of_issue(name: str, balancer: str) -> None:
    _, looped, bulk, _ = two_logged_in(name, balancer)
    if name == "sticky":
        expected = balancer if balancer in AFFINITY else "cookie"
        assert bulk.strategy.balancer.name == expected
    assert_same_state(looped, bulk)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_logging_in_again_is_the_loop_of_issue(name: str) -> None:
    """Second logins (every third user, on other servers) and then a general sequence in
    no order with repeated users: each user keeps its last login; sessions already in a
    server's memory keep their place there."""
    _, looped, bulk, chosen = two_logged_in(name, "round_robin")
    again = range(1, USERS, 3)
    servers = [(chosen[user] + 1) % SERVERS for user in again]
    issued_s = [5.0 + 0.25 * user for user in again]
    log_in(looped, servers, again, issued_s)
    log_in_many(bulk, servers, again, issued_s)
    assert_same_state(looped, bulk)
    shuffled = [7, 3, 7, 0, USERS - 1, 3, 12, 7]
    servers = [user % SERVERS for user in reversed(shuffled)]
    issued_s = [9.0 + index for index in range(len(shuffled))]
    log_in(looped, servers, shuffled, issued_s)
    log_in_many(bulk, servers, shuffled, issued_s)
    assert_same_state(looped, bulk)
    log_in(looped, [], range(0), [])
    log_in_many(bulk, [], range(0), [])
    assert_same_state(looped, bulk)


@pytest.mark.parametrize("users", [range(USERS - 1, -1, -1), range(10, 50, 7)])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_other_ranges_are_the_loop_of_issue(name: str, users: range) -> None:
    inputs = RunInputs.build(scenario_for(name, "cookie"))
    looped, bulk = setup_of(inputs, name), setup_of(inputs, name)
    servers = [(3 * user) % SERVERS for user in users]
    issued_s = np.linspace(-100.0, 0.0, len(users))  # numpy floats, as given
    log_in(looped, servers, users, issued_s)
    log_in_many(bulk, servers, users, issued_s)
    assert_same_state(looped, bulk)


@pytest.mark.parametrize("name", ["jwt", "shared_store"])
def test_the_store_writes_are_the_loops_with_a_lagging_replica(name: str) -> None:
    """Refresh tokens (jwt) and sessions (shared_store) written in call order: with a
    replication lag the store keeps each key's pending writes, so order shows."""
    inputs = RunInputs.build(scenario_for(name, "random"))
    looped, bulk = setup_of(inputs, name), setup_of(inputs, name)
    looped.store.data = StoreData(0.5)
    bulk.store.data = StoreData(0.5)
    users = [*range(USERS), *range(0, USERS, 2)]
    servers = [user % SERVERS for user in users]
    issued_s = [0.001 * index for index in range(len(users))]
    for setup in (looped, bulk):
        assert setup.strategy.login_round_trips  # it writes to the store
    log_in(looped, servers[:USERS], range(USERS), issued_s[:USERS])
    log_in_many(bulk, servers[:USERS], range(USERS), issued_s[:USERS])
    log_in(looped, servers[USERS:], users[USERS:], issued_s[USERS:])
    log_in_many(bulk, servers[USERS:], users[USERS:], issued_s[USERS:])
    assert_same_state(looped, bulk)
    assert len(bulk.store.data) == USERS


def test_jwt_without_refresh_writes_nothing_to_the_store() -> None:
    _, looped, bulk, _ = two_logged_in("jwt", "random", jwt__refresh=False)
    assert_same_state(looped, bulk)
    assert len(bulk.store.data) == 0


@pytest.mark.parametrize("base", [LocalSessions, JwtTokens])
def test_a_subclass_that_issues_differently_gets_its_own_issue(base: type[Any]) -> None:
    """A strategy that overrides ``issue`` but not ``issue_many`` goes through the
    default: one of its own ``issue`` per login."""

    class Counting(base):  # type: ignore[misc]
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            self.issued: list[int] = []

        def issue(self, server: Server, user: int, now_s: float) -> float:
            self.issued.append(user)
            cpu_s: float = super().issue(server, user, now_s)
            return cpu_s

    inputs = RunInputs.build(scenario_for(base.name, "round_robin"))
    setup = setup_of(inputs, base.name)
    setup.strategy = Counting(setup.strategy.context)  # type: ignore[attr-defined]
    log_in_many(setup, [user % SERVERS for user in range(USERS)], range(USERS), [0.0] * USERS)
    assert setup.strategy.issued == list(range(USERS))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_issue_many_refuses_logins_of_different_lengths(name: str) -> None:
    inputs = RunInputs.build(scenario_for(name, "cookie"))
    setup = setup_of(inputs, name)
    with pytest.raises(ValueError, match=r"(?i)length|long|shorter"):
        log_in_many(setup, [0, 1], range(3), [0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("name", "balancer"),
    [("sticky", balancer) for balancer in AFFINITY]
    + [("local", "round_robin"), ("local", "random")],
)
def test_the_vector_engines_logins_are_the_loop_of_issue(name: str, balancer: str) -> None:
    """:func:`~simulator.model.vector_setup.log_in_everyone` leaves the strategy as one
    ``issue`` per user, in turn, on the server the balancer picks, would."""
    inputs = RunInputs.build(scenario_for(name, balancer))
    done = vector_log_in_everyone(inputs, name)
    looped = setup_of(inputs, name)
    chosen = choose_each(looped.strategy.balancer, USERS)
    log_in(looped, chosen, range(USERS), issued_times(inputs, looped, USERS))
    assert done.login_server is not None
    assert done.login_server.tolist() == chosen
    assert_same_state(looped, done)
