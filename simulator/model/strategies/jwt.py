"""``jwt``: self-contained signed tokens (RFC 7519).

Any server can verify a token with the key alone, so there is no shared state and no
affinity; each request pays the signature check in CPU and carries a bigger credential.
The price of statelessness is revocation: a token stays valid until it expires
(``jwt.ttl_s``) unless every server consults a denylist, which brings state back.

Options, each modelled on what production systems do:

- ``jwt.refresh``: a refresh token per user lives in the store; an expired access
  token is renewed with one store round trip instead of a password login.
- ``jwt.denylist``: ``store`` asks the store on every request; ``local_cache`` keeps a
  copy on each server, refreshed every ``sync_s`` (one store round trip per server).
- ``rotate_key`` events: tokens signed with a retired key stop verifying, at once or
  after an overlap.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, ClassVar

import simpy

from simulator.model.cluster import Server
from simulator.model.store import DENYLIST_KEY
from simulator.model.strategies.about import StrategyAbout
from simulator.model.strategies.base import StrategyBase, StrategyContext, as_slice
from simulator.outcomes import EXPIRED, KEY_ROTATED, REVOKED, STALE_READ, VALID


class JwtTokens(StrategyBase):
    """Signed access tokens held by the client; servers keep no session state.

    Each token is identified by a serial number (its ``jti``) and remembers the key that
    signed it and when it expires.
    """

    name: ClassVar[str] = "jwt"
    about: ClassVar[StrategyAbout] = StrategyAbout(
        proof_lives="the client: a signed token",
        each_request_costs="a signature check",
        fails_when="a token must be taken back before it expires (no revocation without state)",
        sessions_elsewhere="the signed token is the proof",
    )

    def __init__(self, context: StrategyContext) -> None:
        jwt = context.scenario.jwt
        costs = context.costs
        self.context = context
        self.balancer = context.route(StrategyContext.spreading_balancer)
        self.credential_bytes = costs.token_bytes(jwt.algorithm)
        self._verify_s = costs.verify_ms(jwt.algorithm, jwt.verify_ms) / 1000.0
        self._sign_s = costs.sign_ms(jwt.algorithm, jwt.sign_ms) / 1000.0
        self._ttl_s = jwt.ttl_s
        self._refresh_ttl_s = jwt.refresh_ttl_s
        self.credential_lifetime_s: float | None = jwt.ttl_s
        self.refresh_round_trips = 1 if jwt.refresh else 0
        self.login_round_trips = 1 if jwt.refresh else 0  # store the refresh token
        self.check_round_trips = 1 if jwt.denylist == "store" else 0
        self._denylist = jwt.denylist
        self._sync_s = jwt.sync_s
        self._store = context.store
        self._servers = context.servers
        users = context.population.users
        self._token_of = [-1] * users
        self._expires_at = [-1.0] * users
        self._issued_at = [0.0] * users
        self._key_of = [0] * users
        self._refresh_expires_at = [-1.0] * users
        self._next_token = 0
        self._key = 0
        self._key_valid_until: dict[int, float] = {0: float("inf")}
        self._caches: list[set[int]] = []  # per-server copies of the denylist

    @property
    def uses_store(self) -> bool:
        return super().uses_store or self._denylist == "local_cache"

    def has_credential(self, user: int) -> bool:
        return self._token_of[user] >= 0

    def _new_token(self, user: int, now_s: float) -> float:
        self._token_of[user] = self._next_token
        self._next_token += 1
        self._expires_at[user] = now_s + self._ttl_s
        self._issued_at[user] = now_s
        self._key_of[user] = self._key
        return self._sign_s

    def issue(self, server: Server, user: int, now_s: float) -> float:
        if self.refresh_round_trips:
            self._refresh_expires_at[user] = now_s + self._refresh_ttl_s
            self._store.put(user, 1, now_s)  # the refresh token, kept in the store
        return self._new_token(user, now_s)

    def issue_many(
        self, servers: Sequence[Server], users: Sequence[int], issued_s: Sequence[float]
    ) -> None:
        count = len(users)
        chosen = as_slice(users, len(self._token_of))
        # one issue per login unless the users fill a slice and issue is this class's own
        if (
            chosen is None
            or type(self).issue is not JwtTokens.issue
            or type(self)._new_token is not JwtTokens._new_token
            or not len(servers) == len(issued_s) == count
        ):
            super().issue_many(servers, users, issued_s)
            return
        issued = list(issued_s)
        if self.refresh_round_trips:
            refresh_ttl_s = self._refresh_ttl_s
            self._refresh_expires_at[chosen] = [now_s + refresh_ttl_s for now_s in issued]
            put = self._store.put
            for user, now_s in zip(users, issued, strict=True):
                put(user, 1, now_s)  # the refresh tokens, in call order
        first = self._next_token
        self._next_token = first + count
        self._token_of[chosen] = range(first, first + count)
        ttl_s = self._ttl_s
        self._expires_at[chosen] = [now_s + ttl_s for now_s in issued]
        self._issued_at[chosen] = issued
        self._key_of[chosen] = [self._key] * count

    def check(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        if self._key and self._key_valid_until.get(self._key_of[user], -1.0) <= now_s:
            return KEY_ROTATED, self._verify_s  # (no key was ever rotated: key 0 is valid)
        if now_s >= self._expires_at[user]:
            return EXPIRED, self._verify_s
        denylist = self._denylist
        if denylist != "none":
            token = self._token_of[user]
            if denylist == "store" and self._store.is_denied(token, now_s):
                return REVOKED, self._verify_s
            if denylist == "local_cache" and self._cached(server, token):
                return REVOKED, self._verify_s
        return VALID, self._verify_s

    def _cached(self, server: Server, token: int) -> bool:
        caches = self._caches
        return server.index < len(caches) and token in caches[server.index]

    def renew(self, server: Server, user: int, now_s: float) -> tuple[int, float]:
        """Exchange the refresh token (checked in the store) for a new access token."""
        if not self.refresh_round_trips:
            return EXPIRED, 0.0
        if self._store.get(user, now_s) is None:
            # revoked, or a replica has not yet received the login's refresh token
            return (REVOKED if self._store.latest(user) is None else STALE_READ), 0.0
        if now_s >= self._refresh_expires_at[user]:
            return EXPIRED, 0.0
        return VALID, self._verify_s + self._new_token(user, now_s)

    def issued_at(self, user: int) -> float:
        return self._issued_at[user]

    def verify_cost(self) -> tuple[float, str]:
        """One signature verification of ``jwt.algorithm``: set, calibrated or reference."""
        jwt = self.context.scenario.jwt
        costs = self.context.costs
        return (
            costs.verify_ms(jwt.algorithm, jwt.verify_ms),
            costs.verify_source(jwt.algorithm, jwt.verify_ms),
        )

    def expires_at(self, user: int) -> float | None:
        return self._expires_at[user] if self._token_of[user] >= 0 else None

    def revoke(self, user: int, now_s: float) -> None:
        token = self._token_of[user]
        if token >= 0:
            self._store.deny(token, now_s)
        self._store.delete(user, now_s)  # the refresh token goes too

    def rotate_key(self, now_s: float, overlap_s: float) -> None:
        self._key_valid_until[self._key] = now_s + overlap_s
        self._key += 1
        self._key_valid_until[self._key] = float("inf")

    def background(self, env: simpy.Environment) -> list[Generator[simpy.Event, Any, None]]:
        if self._denylist != "local_cache":
            return []
        return [self._sync_denylist(env)]

    def _sync_denylist(self, env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        """Every ``sync_s``, each running server fetches the denylist (one round trip)."""
        while True:
            for server in list(self._servers):
                while len(self._caches) <= server.index:
                    self._caches.append(set())
                if server.up:
                    env.process(self._fetch(env, server))
            yield env.timeout(self._sync_s)

    def _fetch(self, env: simpy.Environment, server: Server) -> Generator[simpy.Event, Any, None]:
        answered = yield self._store.operation(server.index, DENYLIST_KEY)
        if answered:
            self._caches[server.index] = self._store.denylist(env.now)
