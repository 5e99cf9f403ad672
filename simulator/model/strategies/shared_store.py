"""``shared_store``: every server asks one Redis-like session store.

Any server can serve any user, at the price of a store round trip (network plus the
store's queue) on every request; the store is a shared bottleneck and a single point of
failure. What a server does while the store is unreachable is an :class:`OutagePolicy`
(``shared_store.on_outage``): fail the request, or degrade to local sessions.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from simulator.costs.reference import SESSION_ID_BYTES
from simulator.model.cluster import Server
from simulator.model.strategies.about import StrategyAbout
from simulator.model.strategies.base import SessionCookies, StrategyBase, StrategyContext
from simulator.outcomes import REVOKED, SESSION_LOST, STALE_READ, VALID


class OutagePolicy(Protocol):
    """What a server does with a job when the store cannot be reached."""

    def serve(
        self, cookies: SessionCookies, server: Server, user: int, now_s: float, login: bool
    ) -> tuple[int, float] | None:
        """``None`` fails the job (``store_unavailable``); else ``(verdict, cpu_s)``."""
        ...


class FailOnOutage:
    """``fail``: no store, no session check: the request fails."""

    def serve(
        self, cookies: SessionCookies, server: Server, user: int, now_s: float, login: bool
    ) -> tuple[int, float] | None:
        return None


class LocalFallback:
    """``relogin_local``: degrade to local sessions while the store is down.

    A login keeps its session in the memory of the server that made it (as ``local``
    does). A request is accepted when this server's memory holds its current session;
    otherwise it forces a re-login: ``wrong_server`` when another server's memory holds
    it, ``session_lost`` when only the unreachable store does. The store is the truth
    again once it is back, so sessions made meanwhile force one more login each then.
    """

    def __init__(self, servers: list[Server]) -> None:
        self._servers = servers

    def serve(
        self, cookies: SessionCookies, server: Server, user: int, now_s: float, login: bool
    ) -> tuple[int, float] | None:
        if login:
            cookies.keep_in_memory(server, user, now_s)
            return VALID, 0.0
        return cookies.check_in_memory(server, self._servers, user), 0.0


class SharedStoreSessions(StrategyBase):
    """Session ids in the client's cookie, session state in the shared store."""

    name: ClassVar[str] = "shared_store"
    about: ClassVar[StrategyAbout] = StrategyAbout(
        proof_lives="a shared store (Redis)",
        each_request_costs="a store round trip",
        fails_when="the store is down or saturated: every authenticated request waits or fails",
        sessions_elsewhere="they live in the shared store",
    )
    check_round_trips = 1
    login_round_trips = 1
    credential_bytes = SESSION_ID_BYTES
    credential_lifetime_s: float | None = None
    # the check reads the client's cookie and the store's value for the user: only a
    # login of the user (issue, after its write on the user's key) or an event (a
    # revocation, an outage, a crash) changes either
    check_known_at_send = True

    def __init__(self, context: StrategyContext) -> None:
        self.context = context
        self.balancer = context.route(StrategyContext.spreading_balancer)
        self._store = context.store
        self._servers = context.servers
        self.cookies = SessionCookies(context.population.users)
        policies: dict[str, OutagePolicy] = {
            "fail": FailOnOutage(),
            "relogin_local": LocalFallback(context.servers),
        }
        self.on_outage = policies[context.scenario.shared_store.on_outage]

    def has_credential(self, user: int) -> bool:
        return self.cookies.has(user)

    def issue(self, server: Server, user: int, now_s: float) -> float:
        self._store.put(user, self.cookies.new(user, server.index, now_s), now_s)
        return 0.0

    def check(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        session = self.cookies.of(user)
        store = self._store
        if store.get(user, now_s) == session:
            return VALID, 0.0
        if session in self.cookies.revoked:
            return REVOKED, 0.0
        # a replica that has not yet received the login's write
        return (STALE_READ if store.latest(user) == session else SESSION_LOST), 0.0

    def without_store(
        self, server: Server, user: int, now_s: float, login: bool
    ) -> tuple[int, float] | None:
        return self.on_outage.serve(self.cookies, server, user, now_s, login)

    def issued_at(self, user: int) -> float:
        return self.cookies.issued_at(user)

    def revoke(self, user: int, now_s: float) -> None:
        origin = self.cookies.origin(user) if self.cookies.has(user) else -1
        session = self.cookies.revoke(user)
        if session < 0:
            return
        if self._store.latest(user) == session:
            self._store.delete(user, now_s)
        if origin >= 0 and self._servers[origin].sessions.get(user) == session:
            del self._servers[origin].sessions[user]  # made while the store was down
