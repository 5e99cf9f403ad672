"""``shared_store``: every server asks one Redis-like session store.

Any server can serve any user, at the price of a store round trip (network plus the
store's queue) on every request; the store is a shared bottleneck and a single point of
failure.
"""

from __future__ import annotations

from typing import ClassVar

from simulator.cluster import Server
from simulator.costs import SESSION_ID_BYTES
from simulator.outcomes import REVOKED, SESSION_LOST, VALID
from simulator.strategies.base import SessionCookies, StrategyBase, StrategyContext


class SharedStoreSessions(StrategyBase):
    """Session ids in the client's cookie, session state in the shared store."""

    name: ClassVar[str] = "shared_store"
    check_round_trips = 1
    login_round_trips = 1
    credential_bytes = SESSION_ID_BYTES
    credential_lifetime_s: float | None = None

    def __init__(self, context: StrategyContext) -> None:
        self.context = context
        self.balancer = context.spreading_balancer()
        self._store = context.store
        self.cookies = SessionCookies(context.population.users)

    def has_credential(self, user: int) -> bool:
        return self.cookies.has(user)

    def issue(self, server: Server, user: int, now_s: float) -> float:
        self._store.data[user] = self.cookies.new(user, server.index, now_s)
        return 0.0

    def check(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        session = self.cookies.of(user)
        if self._store.data.get(user) == session:
            return VALID, 0.0
        return (REVOKED if session in self.cookies.revoked else SESSION_LOST), 0.0

    def issued_at(self, user: int) -> float:
        return self.cookies.issued_at(user)

    def revoke(self, user: int, now_s: float) -> None:
        session = self.cookies.revoke(user)
        if session >= 0 and self._store.data.get(user) == session:
            del self._store.data[user]
