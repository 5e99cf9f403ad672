"""``jwt``: self-contained signed tokens (RFC 7519).

Any server can verify a token with the key alone, so there is no shared state and no
affinity; each request pays the signature check in CPU and carries a bigger credential.
A token stays valid until it expires (``jwt.ttl_s``), then the user must log in again.
"""

from __future__ import annotations

from typing import ClassVar

from simulator.cluster import Server
from simulator.costs import JWT_TOKEN_BYTES, jwt_sign_ms, jwt_verify_ms
from simulator.outcomes import EXPIRED, VALID
from simulator.strategies.base import StrategyContext


class JwtTokens:
    """Signed access tokens held by the client; servers keep no session state."""

    name: ClassVar[str] = "jwt"
    check_round_trips = 0
    login_round_trips = 0

    def __init__(self, context: StrategyContext) -> None:
        jwt = context.scenario.jwt
        self.context = context
        self.balancer = context.spreading_balancer()
        self.credential_bytes = JWT_TOKEN_BYTES[jwt.algorithm]
        self._verify_s = jwt_verify_ms(jwt.algorithm, jwt.verify_ms) / 1000.0
        self._sign_s = jwt_sign_ms(jwt.algorithm, jwt.sign_ms) / 1000.0
        self._ttl_s = jwt.ttl_s
        self.credential_lifetime_s: float | None = jwt.ttl_s
        self._expires_at = [-1.0] * context.population.users

    def has_credential(self, user: int) -> bool:
        return self._expires_at[user] >= 0.0

    def issue(self, server: Server, user: int, now_s: float) -> float:
        self._expires_at[user] = now_s + self._ttl_s
        return self._sign_s

    def check(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        return (VALID if now_s < self._expires_at[user] else EXPIRED), self._verify_s
