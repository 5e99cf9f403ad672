"""``local``: sessions in one server's memory, routed with no affinity.

The baseline that breaks: the session lives on the server that handled the login, and
the next request goes wherever the load balancer sends it, so it finds its session with
probability about ``1/N``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from simulator.costs.reference import SESSION_ID_BYTES
from simulator.model.balancer import Balancer
from simulator.model.cluster import Server
from simulator.model.strategies.about import StrategyAbout
from simulator.model.strategies.base import SessionCookies, StrategyBase, StrategyContext


class LocalSessions(StrategyBase):
    """Session ids in the client's cookie, session state in one server's memory."""

    name: ClassVar[str] = "local"
    about: ClassVar[StrategyAbout] = StrategyAbout(
        proof_lives="one server's memory",
        each_request_costs="a memory lookup (if it is the right server)",
        fails_when="the balancer sends the next request to another server (success about 1/N)",
    )
    credential_bytes = SESSION_ID_BYTES
    credential_lifetime_s: float | None = None

    def __init__(self, context: StrategyContext) -> None:
        self.context = context
        self.balancer: Balancer = context.route(self.make_balancer)
        self.cookies = SessionCookies(context.population.users)
        self._servers = context.servers

    def make_balancer(self, context: StrategyContext) -> Balancer:
        """Spread load with ``load_balancer.policy``: no affinity."""
        return context.spreading_balancer()

    def has_credential(self, user: int) -> bool:
        return self.cookies.has(user)

    def issue(self, server: Server, user: int, now_s: float) -> float:
        self.cookies.keep_in_memory(server, user, now_s)
        return 0.0

    def issue_many(
        self, servers: Sequence[Server], users: Sequence[int], issued_s: Sequence[float]
    ) -> None:
        if type(self).issue is not LocalSessions.issue:
            # a subclass that issues differently: one of its own issue per login
            super().issue_many(servers, users, issued_s)
            return
        self.cookies.keep_many_in_memory(servers, users, issued_s)

    def issued_at(self, user: int) -> float:
        return self.cookies.issued_at(user)

    def revoke(self, user: int, now_s: float) -> None:
        session = self.cookies.revoke(user)
        if session >= 0:
            origin = self._servers[self.cookies.origin(user)]
            if origin.sessions.get(user) == session:
                del origin.sessions[user]

    def check(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        return self.cookies.check_in_memory(server, self._servers, user), 0.0
