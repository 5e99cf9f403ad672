"""Refresh tokens with rotation and reuse detection: :class:`RefreshTokenFamilies`.

A refresh token is a long-lived credential that buys new short-lived access tokens, so
a stolen one is worth more than a stolen access token. RFC 9700 (the OAuth 2.0 Security
Best Current Practice), section 4.14.2, asks that refresh tokens for public clients be
sender-constrained or *rotated*: every refresh returns a new refresh token and
invalidates the old one. If an already-rotated token is presented again, either the
legitimate client or an attacker holds a copy; the server cannot tell which, so it
revokes the whole *family* (every token descended from the same login). The attacker's
copy dies, and the legitimate holder must log in again: the theft is detected at the
next refresh at the latest.

Here:

- tokens are opaque: 256 random bits from :mod:`secrets` (``token_urlsafe(32)``, 43
  characters), not JWTs; the server learns nothing from their content;
- only SHA-256 hashes of tokens are stored (a leaked table yields no usable token; a
  fast hash is enough because the tokens carry 256 bits of entropy, unlike passwords);
- each token has a lifetime (``ttl_s``, seconds, renewed by rotation: an idle limit)
  and each family an absolute lifetime (``family_ttl_s``, seconds from the login);
- the clock is injectable (seconds since the epoch), so tests and notebooks can move
  time.

Sources: RFC 9700 §4.14 (refresh token protection, rotation); RFC 6749 §10.4 (refresh
tokens); the OWASP OAuth 2.0 and JSON Web Token cheat sheets.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_TTL_S: Final = 14 * 24 * 3600.0
"""Default lifetime of one refresh token, seconds (14 days), renewed by each rotation: an
idle lifetime, after which a user who has not been back must log in. A typical value, not
a standard: identity providers make it configurable (Auth0, "Configure Refresh Token
Expiration": an *idle* lifetime and a *maximum* one, per application)."""
DEFAULT_FAMILY_TTL_S: Final = 30 * 24 * 3600.0
"""Default absolute lifetime of a family, seconds from the login (30 days): Auth0's
*maximum* lifetime, after which even an active user logs in again (same source; a
typical value, configurable there too)."""
TOKEN_BYTES: Final = 32
"""Random bytes in a refresh token (256 bits; ``token_urlsafe`` gives 43 characters)."""

REFRESH_REASONS: Final[Mapping[str, str]] = {
    "ok": "The refresh token was current: a new one was issued and the old one invalidated.",
    "unknown": "The refresh token was never issued here (or its family has been purged).",
    "expired": "The refresh token, or its family, is past its lifetime.",
    "reused": (
        "The refresh token had already been rotated: a copy is in someone else's hands, "
        "so the whole family was revoked."
    ),
    "revoked": "The refresh token's family was revoked (reuse, logout or an administrator).",
}
"""Every reason code :meth:`RefreshTokenFamilies.rotate` can return, with a sentence."""


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedRefreshToken:
    """A refresh token as handed to its holder.

    Attributes:
        token: the opaque secret (shown once; the server keeps only its hash).
        family_id: the family (one login) it belongs to.
        subject: the user it was issued for.
        expires_at: when this token stops working, seconds since the epoch (the
            earlier of its own lifetime and its family's).
        generation: 0 for the token issued at login, +1 per rotation.
    """

    token: str
    family_id: str
    subject: str
    expires_at: float
    generation: int


@dataclass(frozen=True)
class RefreshResult:
    """The outcome of :meth:`RefreshTokenFamilies.rotate`.

    Attributes:
        ok: whether a new refresh token was issued.
        reason: ``ok`` or a code of :data:`REFRESH_REASONS`.
        issued: the new refresh token when ``ok``, else ``None``.
        family_id: the family of the presented token, when it was known.
        subject: the user of that family, when it was known.
    """

    ok: bool
    reason: str
    issued: IssuedRefreshToken | None = None
    family_id: str | None = None
    subject: str | None = None

    @property
    def message(self) -> str:
        """The sentence for :attr:`reason`."""
        return REFRESH_REASONS.get(self.reason, self.reason)


@dataclass(frozen=True)
class FamilyState:
    """A read-only view of one family.

    Attributes:
        family_id: its identifier.
        subject: the user who logged in.
        created_at: the login time, seconds since the epoch.
        expires_at: the absolute end of the family, seconds since the epoch.
        rotations: how many times a token of the family was rotated.
        revoked_reason: why it was revoked (``reused``, ``logout``, ...), or ``None``.
    """

    family_id: str
    subject: str
    created_at: float
    expires_at: float
    rotations: int
    revoked_reason: str | None

    @property
    def revoked(self) -> bool:
        """Whether the family was revoked."""
        return self.revoked_reason is not None


@dataclass
class _Family:
    subject: str
    created_at: float
    expires_at: float
    current_hash: str
    """The hash of the one token of the family that may be rotated now."""
    rotations: int = 0
    revoked_reason: str | None = None


@dataclass
class _Record:
    family_id: str
    expires_at: float
    generation: int
    rotated: bool = False


class RefreshTokenFamilies:
    """Issue, rotate and revoke refresh tokens, detecting the reuse of rotated ones.

    Args:
        ttl_s: lifetime of each refresh token, seconds (renewed by rotation, so a
            holder idle for longer must log in again).
        family_ttl_s: absolute lifetime of a family, seconds from the login (rotation
            never extends it).
        clock: the current time, seconds since the epoch (injectable for tests).

    Raises:
        ValueError: a lifetime that is not a finite number of at least one second.

    Thread-safe: one lock guards the tables. Memory grows with the rotations of live
    families (a rotated token's hash must be remembered to detect its reuse); call
    :meth:`purge` to drop expired and revoked families.
    """

    def __init__(
        self,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        family_ttl_s: float = DEFAULT_FAMILY_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for label, value in (("ttl_s", ttl_s), ("family_ttl_s", family_ttl_s)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 1):
                raise ValueError(f"{label} must be at least 1 second, got {value!r}")
        self.ttl_s = float(ttl_s)
        self.family_ttl_s = float(family_ttl_s)
        self.clock = clock
        self._families: dict[str, _Family] = {}
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def issue(self, subject: str) -> IssuedRefreshToken:
        """Start a family for ``subject`` (a login) and return its first token.

        Raises:
            ValueError: an empty subject.
        """
        if not isinstance(subject, str) or not subject:
            raise ValueError("subject must be a non-empty string")
        with self._lock:
            now = self.clock()
            family_id = secrets.token_urlsafe(12)
            while family_id in self._families:  # pragma: no cover (96 random bits)
                family_id = secrets.token_urlsafe(12)
            family = _Family(subject, now, now + self.family_ttl_s, current_hash="")
            self._families[family_id] = family
            return self._new_token(family_id, family, now, generation=0)

    def rotate(self, token: str) -> RefreshResult:
        """Exchange a current refresh token for a new one; never raises.

        The presented token is invalidated. Presenting a token that was already
        rotated revokes its whole family (reason ``reused``), so that the next refresh
        by anyone holding a token of that family fails with ``revoked``.
        """
        if not isinstance(token, str) or not token:
            return RefreshResult(False, "unknown")
        digest = hash_token(token)
        with self._lock:
            now = self.clock()
            record = self._records.get(digest)
            family = self._families.get(record.family_id) if record is not None else None
            if record is None or family is None:
                return RefreshResult(False, "unknown")
            family_id, subject = record.family_id, family.subject
            if family.revoked_reason is not None:
                return RefreshResult(False, "revoked", None, family_id, subject)
            if record.rotated:
                family.revoked_reason = "reused"
                return RefreshResult(False, "reused", None, family_id, subject)
            if now >= record.expires_at or now >= family.expires_at:
                return RefreshResult(False, "expired", None, family_id, subject)
            record.rotated = True
            family.rotations += 1
            issued = self._new_token(family_id, family, now, record.generation + 1)
            return RefreshResult(True, "ok", issued, family_id, subject)

    def revoke_family(self, family_id: str, reason: str = "logout") -> bool:
        """Revoke a family (logout of one device). Returns whether it was live."""
        with self._lock:
            family = self._families.get(family_id)
            if family is None or family.revoked_reason is not None:
                return False
            family.revoked_reason = reason
            return True

    def revoke_subject(self, subject: str, reason: str = "logout_everywhere") -> int:
        """Revoke every live family of ``subject``. Returns how many were revoked."""
        with self._lock:
            count = 0
            for family in self._families.values():
                if family.subject == subject and family.revoked_reason is None:
                    family.revoked_reason = reason
                    count += 1
            return count

    def family(self, family_id: str) -> FamilyState | None:
        """A snapshot of one family, or ``None`` when unknown."""
        with self._lock:
            family = self._families.get(family_id)
            if family is None:
                return None
            return FamilyState(
                family_id,
                family.subject,
                family.created_at,
                family.expires_at,
                family.rotations,
                family.revoked_reason,
            )

    def stored_hashes(self) -> frozenset[str]:
        """Every token hash held (what a leaked table would reveal: no token)."""
        with self._lock:
            return frozenset(self._records)

    def purge(self) -> int:
        """Drop revoked and expired families and their hashes. Returns families dropped.

        A purged family's tokens become ``unknown`` rather than ``reused``: purge only
        what can no longer be used anyway.
        """
        with self._lock:
            now = self.clock()
            dead = {
                family_id
                for family_id, family in self._families.items()
                if family.revoked_reason is not None or now >= family.expires_at
            }
            for family_id in dead:
                del self._families[family_id]
            for digest in [d for d, r in self._records.items() if r.family_id in dead]:
                del self._records[digest]
            return len(dead)

    def __len__(self) -> int:
        """The number of families held (live, expired or revoked, until purged)."""
        return len(self._families)

    def _new_token(
        self, family_id: str, family: _Family, now: float, generation: int
    ) -> IssuedRefreshToken:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        digest = hash_token(token)
        expires_at = min(now + self.ttl_s, family.expires_at)
        self._records[digest] = _Record(family_id, expires_at, generation)
        family.current_hash = digest
        return IssuedRefreshToken(token, family_id, family.subject, expires_at, generation)
