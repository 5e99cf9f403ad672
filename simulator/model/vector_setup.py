"""The vector engine's strategy, on stand-in servers, and its routing.

The engine builds the strategy exactly as the DES builds it (the same class, balancer and
random stream) on stand-ins that hold what a strategy and a balancer read of a server (its
sessions; its load, which is zero at time 0), logs every user in as the DES does at time
0, and routes every job as the DES's balancer would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from simulator import outcomes
from simulator.costs.reference import AuthCosts
from simulator.model.balancer import Balancer, ClusterView
from simulator.model.rng import Streams, uniform_buffer
from simulator.model.store_data import StoreData
from simulator.model.strategies import Strategy, StrategyContext, build_strategy
from simulator.model.vector_grouping import Grouping, group_round_robin
from simulator.model.vector_inputs import InexactError, uniforms
from simulator.model.workload import Population
from simulator.scenario.models import Scenario

if TYPE_CHECKING:
    from simulator.model.run import RunInputs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


SPREADING: tuple[str, ...] = ("round_robin", "random")
"""Balancers that spread jobs reading no state (after one pick per user at the logins)."""

AFFINITY: tuple[str, ...] = ("cookie", "ip_hash", "consistent_hash")
"""Balancers that send each user to one server, fixed by the logins at time 0."""


# ---------------------------------------------------------------- stand-ins


class Host:
    """What a strategy and a balancer read of a server, for the logins at time 0."""

    __slots__ = ("in_system", "index", "sessions", "up")

    def __init__(self, index: int) -> None:
        self.index = index
        self.sessions: dict[int, int] = {}
        self.in_system = 0  # every server is idle at time 0
        self.up = True


class QuietStore:
    """A store nobody sends an operation to: only the writes of the logins at time 0
    (refresh tokens) land in its data."""

    def __init__(self) -> None:
        self.data = StoreData(0.0)

    def put(self, key: int, value: int, now_s: float) -> None:
        self.data.put(key, value, now_s)

    def __getattr__(self, name: str) -> Any:
        raise InexactError(f"the strategy used the store ({name}) where no store is simulated")


@dataclass
class Setup:
    """A strategy on stand-in servers (and, after :func:`log_in_everyone`, with every
    user logged in as the DES logs them in at time 0)."""

    strategy: Strategy
    hosts: list[Host]
    store: QuietStore
    login_server: IntArray | None = None  # per user: where the login went (if known)
    check_s: float = 0.0  # CPU of one credential check, seconds
    keeps_sessions: bool = False  # the logins left sessions in the servers' memory
    store_keys: int = 0  # keys the logins left in the store


def build(
    scenario: Scenario, name: str, population: Population, streams: Streams, costs: AuthCosts
) -> Setup:
    """The strategy ``name`` built as the DES builds it, on stand-in servers."""
    hosts = [Host(index) for index in range(scenario.cluster.servers)]
    store = QuietStore()
    context = StrategyContext(
        scenario=scenario,
        view=ClusterView(hosts),
        servers=hosts,  # type: ignore[arg-type]
        population=population,
        balancer_uniform=uniform_buffer(streams.generator("balancer")),
        store=store,  # type: ignore[arg-type]
        costs=costs,
        regions=None,
        clock=lambda: 0.0,
    )
    return Setup(build_strategy(name, context), hosts, store)


def log_in_everyone(inputs: RunInputs, name: str) -> Setup:
    """The strategy after the DES's logins at time 0: each user, in turn, routed by the
    balancer (which may draw, or pin a cookie) and issued a credential there (all at once,
    through the strategy's ``issue_many``), a token issued a random part of its lifetime
    ago (stream ``initial_logins``).

    Tokens routed by a spreading balancer are issued alike for every user, so only the
    first is issued here; the rest are accounted for (the balancer's picks by
    :func:`route_jobs`, their expiries by
    :func:`~simulator.model.vector_inputs.check_credentials`, the refresh tokens the logins
    write by ``store_keys``).
    """
    scenario = inputs.scenario
    setup = build(scenario, name, inputs.population, inputs.streams, inputs.costs)
    strategy = setup.strategy
    hosts = setup.hosts
    users = inputs.population.users
    lifetime_s = strategy.credential_lifetime_s
    if lifetime_s is None or strategy.balancer.name in AFFINITY:
        issued_s = (
            (-uniforms(inputs, "initial_logins", users) * lifetime_s).tolist()
            if lifetime_s is not None
            else [0.0] * users
        )
        chosen = choose_each(strategy.balancer, users)
        placed = list(map(hosts.__getitem__, chosen))
        strategy.issue_many(placed, range(users), issued_s)  # type: ignore[arg-type]
        setup.login_server = np.asarray(chosen, dtype=np.int64)
        host = hosts[chosen[0]]
        setup.store_keys = len(setup.store.data)
    else:
        host = hosts[0]
        strategy.issue(host, 0, 0.0)  # type: ignore[arg-type]
        if strategy.expires_at(0) != 0.0 + lifetime_s:
            raise InexactError("the strategy's tokens do not expire a lifetime after issue")
        setup.store_keys = len(setup.store.data) * users  # one refresh token per login
    setup.keeps_sessions = any(item.sessions for item in hosts)
    verdict, setup.check_s = strategy.check(host, 0, 0.0)  # type: ignore[arg-type]
    if verdict != outcomes.VALID:
        raise InexactError("a credential just issued is not accepted")
    return setup


def choose_each(balancer: Balancer, users: int) -> list[int]:
    """The server ``balancer`` picks for users ``0`` to ``users - 1``, in turn, as
    ``users`` calls of ``choose`` would (the balancer is left as they leave it); through
    its ``choose_many`` when it has one (one call instead of one per user)."""
    many = getattr(balancer, "choose_many", None)
    if many is not None:
        chosen: list[int] = many(range(users))
        return chosen
    choose = balancer.choose
    return [choose(user) for user in range(users)]


def needs_users(setup: Setup) -> bool:
    """Whether :func:`route_jobs` reads who sent each job (an affinity, or sessions to
    find): otherwise a run without a request log never needs the requests' users."""
    return setup.strategy.balancer.name in AFFINITY or setup.keeps_sessions


def route_jobs(
    inputs: RunInputs,
    scenario: Scenario,
    setup: Setup,
    who: Callable[[], IntArray],
    route: FloatArray,
    users: int,
) -> tuple[IntArray | None, Grouping | None]:
    """The server of each job (in routing order), as the DES's balancer picks it, and,
    when the picks follow a rule (round robin), the jobs grouped by server by that rule
    (then the servers themselves are not made unless needed: ``None``). ``who()``: the
    user of each job (called only if :func:`needs_users`)."""
    servers = scenario.cluster.servers
    count = len(route)
    balancer = setup.strategy.balancer.name
    if balancer in AFFINITY:
        assert setup.login_server is not None
        ttl_s = scenario.sticky.cookie_ttl_s
        if balancer == "cookie" and ttl_s is not None and count and float(route[-1]) >= ttl_s:
            raise InexactError("an affinity cookie would expire during the run")
        return setup.login_server[who()], None
    # round_robin or random, after one pick per user for the logins at time 0
    grouping = None
    if balancer == "round_robin":
        grouping = group_round_robin(count, servers, users)
        if not setup.keeps_sessions:
            return None, grouping
        server = grouping.server_given()
    else:
        picks = uniforms(inputs, "balancer", users + count)[users:]
        server = (picks * servers).astype(np.int64)
    if setup.keeps_sessions:
        assert setup.login_server is not None
        if not np.array_equal(server, setup.login_server[who()]):
            raise InexactError(
                "a request would reach a server without its session (wrong_server): its "
                "re-login goes back through the queues"
            )
    return server, grouping
