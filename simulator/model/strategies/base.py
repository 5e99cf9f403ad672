"""The protocol every strategy follows, and what a strategy is built from.

A strategy is the answer to "how does a server know who sent this request?". It owns
both sides of that answer: what the client holds (a session-id cookie or a token) and
what a server does to check it (look in its memory, ask the store, verify a signature).
It also says how the load balancer routes for it. The model does the timing: it runs the
store round trips a strategy asks for and charges the CPU time it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import simpy

from simulator.costs.reference import AuthCosts
from simulator.model.balancer import Balancer, ClusterView, spreading_policy
from simulator.model.cluster import Server
from simulator.model.regions import RegionalBalancer, RegionalClusterView, RegionMap
from simulator.model.rng import DrawBuffer
from simulator.model.store import SessionStore
from simulator.model.strategies.about import StrategyAbout
from simulator.model.workload import Population
from simulator.outcomes import EXPIRED, REVOKED, SESSION_LOST, VALID, WRONG_SERVER
from simulator.scenario.models import Scenario


@dataclass(frozen=True)
class StrategyContext:
    """Everything a strategy may use, built once per strategy run by the model.

    Attributes:
        scenario: the validated scenario.
        view: the load balancer's view of the cluster.
        servers: every server (the list grows when the fleet scales out).
        population: the users and their IPs.
        balancer_uniform: the balancer's random stream.
        store: the shared session store (present for every strategy; unused by most).
        costs: the authentication costs of this run (reference, calibrated or set).
        regions: who is in which region (``None``: one region).
        clock: the simulated time now, seconds (what expiring affinity cookies read).
    """

    scenario: Scenario
    view: ClusterView
    servers: list[Server]
    population: Population
    balancer_uniform: DrawBuffer
    store: SessionStore
    costs: AuthCosts
    regions: RegionMap | None = None
    clock: Callable[[], float] | None = None

    def spreading_balancer(self) -> Balancer:
        """The ``load_balancer.policy`` balancer of this scenario."""
        return spreading_policy(
            self.scenario.load_balancer.policy, self.view, self.balancer_uniform
        )

    def route(self, build: Callable[[StrategyContext], Balancer]) -> Balancer:
        """The strategy's balancer, made by ``build`` from a context: one for the whole
        cluster, or, with regions, one per region (each seeing only its region's
        servers) behind a :class:`~simulator.model.regions.RegionalBalancer`."""
        view = self.view
        if self.regions is None or not isinstance(view, RegionalClusterView):
            return build(self)
        balancers = [build(replace(self, view=regional)) for regional in view.regions]
        return RegionalBalancer(balancers, view.regions, build(self), self.regions.user_region)


class Strategy(Protocol):
    """How a backend remembers who is logged in.

    Attributes:
        name: the strategy's name in scenarios and output.
        about: the strategy described in words, for output that describes it.
        balancer: how the load balancer routes this strategy's traffic.
        check_round_trips: store round trips on every authenticated request.
        login_round_trips: store round trips on every login.
        refresh_round_trips: store round trips to renew an expired credential (0: it
            cannot be renewed; the user must log in).
        credential_bytes: bytes of the credential sent with every request.
        credential_lifetime_s: how long a credential lives, seconds (``None``: until it
            is lost); used to spread the ages of credentials held at time 0.
        check_known_at_send: whether what :meth:`check` reads of a user changes only at
            a scenario's events or when a login of that user writes the store (a write
            on the user's key, so queued behind any read of it already sent): in a run
            without events, a check's verdict is then known as soon as its one read
            is sent (see :class:`simulator.model.service.Service`).
    """

    name: ClassVar[str]
    about: ClassVar[StrategyAbout]
    balancer: Balancer
    check_round_trips: int
    login_round_trips: int
    refresh_round_trips: int
    credential_bytes: int
    credential_lifetime_s: float | None
    check_known_at_send: bool

    @property
    def uses_store(self) -> bool:
        """Whether this strategy talks to the shared store at all."""
        ...

    def has_credential(self, user: int) -> bool:
        """Whether the client of ``user`` holds a credential to send."""
        ...

    def issue(self, server: Server, user: int, now_s: float) -> float:
        """A login succeeded on ``server``: create the credential, return CPU seconds spent.

        Password hashing is charged by the model; this returns only the strategy's own
        work (signing a token, for example). Store round trips have already happened.
        """
        ...

    def issue_many(
        self, servers: Sequence[Server], users: Sequence[int], issued_s: Sequence[float]
    ) -> None:
        """Many logins at once: the same state as ``issue(servers[k], users[k],
        issued_s[k])`` for each ``k`` in turn (the CPU seconds those return are dropped).

        Args:
            servers: where each login went.
            users: who logged in, in call order (a user may appear more than once).
            issued_s: when each credential was issued, seconds.
        """
        ...

    def check(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        """``server`` checks the credential of ``user``.

        Returns:
            ``(verdict, cpu_s)``: ``outcomes.VALID`` or the cause of the rejection (a code
            of ``outcomes.CAUSES``), and the CPU seconds the check cost. Store round
            trips have already happened.
        """
        ...

    def renew(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        """Renew an expired credential (a refresh), after ``refresh_round_trips``.

        Returns:
            ``(verdict, cpu_s)``: ``outcomes.VALID`` when a new credential was issued,
            else why not (the user must log in).
        """
        ...

    def without_store(
        self, server: Server, user: int, now_s: float, login: bool
    ) -> tuple[int, float] | None:
        """Serve a job whose store round trip failed (the store is down).

        Returns ``None`` to fail it with ``store_unavailable``; otherwise what serving it
        without the store gave: for a login (``login=True``), ``(VALID, cpu_s)`` with the
        session kept somewhere else; for a check, ``(verdict, cpu_s)`` as :meth:`check`.
        """
        ...

    def issued_at(self, user: int) -> float:
        """When the credential ``user`` holds was issued, seconds."""
        ...

    def expires_at(self, user: int) -> float | None:
        """When the credential ``user`` holds expires, seconds (``None``: never)."""
        ...

    def revoke(self, user: int, now_s: float) -> None:
        """Revoke the credential ``user`` holds now."""
        ...

    def rotate_key(self, now_s: float, overlap_s: float) -> None:
        """Switch to a new signing key (only token strategies care)."""
        ...

    def background(self, env: simpy.Environment) -> list[Generator[simpy.Event, Any, None]]:
        """Processes the strategy needs while it runs (a denylist sync, say)."""
        ...

    def verify_cost(self) -> tuple[float, str]:
        """CPU time of one credential check, ms, and where that figure comes from
        (``scenario``, ``calibration`` or ``reference``); ``(0.0, "scenario")`` for a
        check that costs no CPU."""
        ...


class StrategyBase:
    """Defaults for the parts of :class:`Strategy` most strategies do not need."""

    check_round_trips = 0
    login_round_trips = 0
    refresh_round_trips = 0
    check_known_at_send = False

    @property
    def uses_store(self) -> bool:
        """Whether any store round trip is ever made."""
        return bool(self.check_round_trips or self.login_round_trips or self.refresh_round_trips)

    def issue_many(
        self: Strategy,
        servers: Sequence[Server],
        users: Sequence[int],
        issued_s: Sequence[float],
    ) -> None:
        """One :meth:`~Strategy.issue` per login, in turn (a strategy with a faster
        exact way overrides this)."""
        issue = self.issue
        for server, user, now_s in zip(servers, users, issued_s, strict=True):
            issue(server, user, now_s)

    def without_store(
        self, server: Server, user: int, now_s: float, login: bool
    ) -> tuple[int, float] | None:
        """Fail the job: without the store there is nothing to check against."""
        return None

    def renew(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        """Credentials that cannot be renewed: the user must log in."""
        return EXPIRED, 0.0

    def expires_at(self, user: int) -> float | None:
        """Credentials that do not expire by themselves."""
        return None

    def rotate_key(self, now_s: float, overlap_s: float) -> None:
        """No signing key: nothing to do."""

    def background(self, env: simpy.Environment) -> list[Generator[simpy.Event, Any, None]]:
        """No background work."""
        return []

    def verify_cost(self) -> tuple[float, str]:
        """A memory or store lookup: no CPU to speak of."""
        return 0.0, "scenario"


class SessionCookies:
    """The session-id cookie each client holds (at most one per user).

    Session ids are unique within a run; a new login replaces the user's cookie. The
    cookie also remembers which server issued it, which tells a lost session
    (``session_lost``) from a request that went to the wrong server (``wrong_server``).
    """

    __slots__ = ("_issued", "_next", "_of", "_origin", "revoked")

    def __init__(self, users: int) -> None:
        self._of = [-1] * users
        self._origin = [-1] * users
        self._issued = [0.0] * users
        self._next = 0
        self.revoked: set[int] = set()

    def has(self, user: int) -> bool:
        """Whether ``user`` holds a session cookie."""
        return self._of[user] >= 0

    def new(self, user: int, server: int, now_s: float = 0.0) -> int:
        """Give ``user`` a fresh session id issued by ``server`` and return it."""
        session = self._next
        self._next += 1
        self._of[user] = session
        self._origin[user] = server
        self._issued[user] = now_s
        return session

    def issued_at(self, user: int) -> float:
        """When the session of ``user`` was created, seconds."""
        return self._issued[user]

    def revoke(self, user: int) -> int:
        """Mark the session ``user`` holds as revoked; returns its id (-1: none)."""
        session = self._of[user]
        if session >= 0:
            self.revoked.add(session)
        return session

    def of(self, user: int) -> int:
        """The session id ``user`` sends (-1: none)."""
        return self._of[user]

    def origin(self, user: int) -> int:
        """The server that issued the session of ``user`` (-1: none)."""
        return self._origin[user]

    def keep_in_memory(self, server: Server, user: int, now_s: float) -> None:
        """A login on ``server``: a fresh session for ``user``, held in that server's memory."""
        server.sessions[user] = self.new(user, server.index, now_s)

    def keep_many_in_memory(
        self, servers: Sequence[Server], users: Sequence[int], issued_s: Sequence[float]
    ) -> None:
        """Many logins at once: the same state as :meth:`keep_in_memory` for each login
        in turn (session ids in call order; each server's ``sessions`` gains its keys in
        that order too). ``issued_s``: when each session was created, seconds."""
        count = len(users)
        if not (len(servers) == len(issued_s) == count):
            raise ValueError("servers, users and issued_s must be as long as each other")
        chosen = as_slice(users, len(self._of))
        if chosen is None:
            for server, user, now_s in zip(servers, users, issued_s, strict=True):
                self.keep_in_memory(server, user, now_s)
            return
        first = self._next
        self._next = first + count
        sessions = range(first, first + count)
        self._of[chosen] = sessions
        self._origin[chosen] = [server.index for server in servers]
        self._issued[chosen] = issued_s
        for server, user, session in zip(servers, users, sessions, strict=True):
            server.sessions[user] = session

    def check_in_memory(self, server: Server, servers: list[Server], user: int) -> int:
        """Whether ``server``'s memory holds the session ``user`` sends.

        Returns:
            ``VALID``, or why not: ``REVOKED``; ``WRONG_SERVER`` when the server that
            issued the session still holds it (the balancer sent the request elsewhere);
            ``SESSION_LOST`` when no memory holds it any more.
        """
        session = self._of[user]
        if server.sessions.get(user) == session:
            return VALID
        if session in self.revoked:
            return REVOKED
        origin = servers[self._origin[user]]
        return WRONG_SERVER if origin.sessions.get(user) == session else SESSION_LOST


def as_slice(users: Sequence[int], size: int) -> slice | None:
    """The slice of a per-user list of length ``size`` that holds ``users`` in order, each
    once; ``None`` when there is none (not a range, or not all of it in the list), and the
    caller must go one user at a time."""
    if not isinstance(users, range) or users.step <= 0:
        return None
    if not users:
        return slice(0, 0)
    if users.start < 0 or users[-1] >= size:
        return None
    return slice(users.start, users[-1] + 1, users.step)
