"""Issuing tokens: :func:`issue_token`, and :func:`sample_token` to measure sizes with.

A token carries ``sub``, ``iat``, ``exp``, ``iss``, ``aud`` and a random ``jti``; its
header is ``typ: JWT`` and the key's ``kid``. A key below the minimum strength is
refused (:class:`~simulator.tokens.keys.WeakKeyError`).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import jwt

from simulator.tokens.claims import DEFAULT_AUDIENCE, DEFAULT_ISSUER, REQUIRED_CLAIMS
from simulator.tokens.keys import (
    Algorithm,
    KeyPair,
    TokenKeyError,
    generate_key,
    parse_algorithm,
    require_strong_key,
)

_REGISTERED_BY_ISSUER: Final = frozenset(REQUIRED_CLAIMS)
_PYJWT: Final = jwt.PyJWT(options={"enforce_minimum_key_length": True})


def issue_token(
    key: KeyPair,
    subject: str,
    ttl_s: float,
    *,
    issuer: str,
    audience: str,
    now: float | None = None,
    jti: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Sign a token for ``subject`` valid for ``ttl_s`` seconds from ``now``.

    Claims: ``sub``, ``iat``, ``exp`` (whole seconds), ``iss``, ``aud`` and ``jti`` (128
    random bits unless given), plus ``extra_claims``, which may not replace those six.
    Header: ``alg``, ``kid`` and ``typ: JWT``.

    Raises:
        WeakKeyError: the key is below the minimum strength.
        TokenKeyError: the pair holds no signing key.
        ValueError: an empty subject, issuer, audience or jti, a ttl below 1 s, or an
            extra claim that would replace a registered one.
    """
    if key.signing_key is None:
        raise TokenKeyError(f"{key.algorithm.value} key {key.kid}: verification-only")
    require_strong_key(key)
    for label, value in (("subject", subject), ("issuer", issuer), ("audience", audience)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{label} must be a non-empty string")
    if not math.isfinite(ttl_s) or ttl_s < 1:
        raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
    if jti is not None and (not isinstance(jti, str) or not jti):
        raise ValueError("jti must be a non-empty string")
    extra = dict(extra_claims or {})
    clashing = sorted(_REGISTERED_BY_ISSUER & set(extra))
    if clashing:
        raise ValueError(f"extra_claims may not replace {', '.join(clashing)}")
    issued_at = math.floor(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + math.ceil(ttl_s),
        "jti": jti if jti is not None else secrets.token_urlsafe(16),
        **extra,
    }
    return _PYJWT.encode(
        claims,
        key.signing_key,
        algorithm=key.algorithm.value,
        headers={"kid": key.kid, "typ": "JWT"},
    )


@cache
def _sample_key(algorithm: Algorithm) -> KeyPair:
    return generate_key(algorithm)


def sample_token(algorithm: Algorithm | str) -> str:
    """A typical token (the six claims, a 15-minute lifetime) to measure sizes with.

    The key is generated once per algorithm and process; the length is the same on
    every call (NumericDates have ten digits until 2286; ``jti`` is always 22 characters).
    """
    chosen = parse_algorithm(algorithm)
    return issue_token(
        _sample_key(chosen),
        "user-000001",
        900,
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
    )
