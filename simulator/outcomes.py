"""Outcome codes of a request, causes of a forced re-login, and server states.

A request ends in exactly one outcome. ``ok`` is the only success: served with no error
and no forced re-login. ``relogin`` was served, but only after the user was forced to
log in again; ``unauthorized`` was rejected even after that re-login.
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
RELOGIN: Final = 1
UNAUTHORIZED: Final = 2
SERVER_DOWN: Final = 3
OVERLOAD: Final = 4
STORE_UNAVAILABLE: Final = 5
TIMEOUT: Final = 6

NAMES: Final[tuple[str, ...]] = (
    "ok",
    "relogin",
    "unauthorized",
    "server_down",
    "overload",
    "store_unavailable",
    "timeout",
)
"""Outcome name by code."""

SERVED: Final[frozenset[int]] = frozenset({OK, RELOGIN})
"""Outcomes in which the user got the page (latency is measured over these)."""

ERRORS: Final[tuple[str, ...]] = ("server_down", "overload", "store_unavailable", "timeout")
"""The error outcomes reported under ``errors`` (``unauthorized`` is reported too)."""

# Why a credential was rejected (the cause of a forced re-login)
VALID: Final = -1
"""A credential check that passed (no cause)."""
WRONG_SERVER: Final = 0
SESSION_LOST: Final = 1
EXPIRED: Final = 2
REVOKED: Final = 3
KEY_ROTATED: Final = 4
REFRESH_FAILED: Final = 5
STALE_READ: Final = 6

CAUSES: Final[tuple[str, ...]] = (
    "wrong_server",
    "session_lost",
    "expired",
    "revoked",
    "key_rotated",
    "refresh_failed",
    "stale_read",
)
"""Cause name by code:

- ``wrong_server``: the session still lives in another server's memory, but the
  balancer sent the request elsewhere (no affinity, or a changed hash moved the user).
- ``session_lost``: the session exists nowhere any more: the server or store that held
  it lost its memory (crash, restart, scale-in, a store that came back empty).
- ``expired``: the token's lifetime ended (and there was no refresh token to renew it).
- ``revoked``: the credential was revoked (a deleted session, a denylisted token).
- ``key_rotated``: the token was signed with a key that no longer verifies.
- ``refresh_failed``: the access token expired and its refresh could not reach the
  store (an outage, a failover): the client must log in with a password.
- ``stale_read``: the store was read from a replica that had not yet received the
  session just written (asynchronous replication lag), so the session looked missing.
"""

# The state of a server (``Server.state``), for the plots and the animation
UP: Final = 0
DRAINING: Final = 1
RESTARTING: Final = 2
DOWN: Final = 3
RETIRED: Final = 4
ABSENT: Final = -1
"""A server that has not been started yet (added later by a scale-out)."""

STATE_NAMES: Final[tuple[str, ...]] = ("up", "draining", "restarting", "down", "retired")
"""Name of each server state code, by code (``ABSENT`` is ``absent``)."""


def state_name(code: int) -> str:
    """The name of a server state code (:data:`STATE_NAMES`, or ``absent``)."""
    return "absent" if code == ABSENT else STATE_NAMES[code]


# Served outcomes have the lowest codes, so hot paths can test ``outcome <= RELOGIN``.
assert frozenset(range(RELOGIN + 1)) == SERVED
