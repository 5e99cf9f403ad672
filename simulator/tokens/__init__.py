"""Signed login tokens (RFC 7519) on PyJWT: keys, issuing, a careful verifier, attacks.

The ``jwt`` strategy of the simulator models the *cost* of tokens; this package is the
real thing, small enough to read, so that the costs and the pitfalls can be seen.

- **Keys** (:mod:`simulator.tokens.keys`, :class:`KeyPair`): HS256 (a random 256-bit
  secret), RS256 and PS256 (RSA 2048), ES256 (P-256) and EdDSA (Ed25519), each with a
  ``kid`` (a truncated RFC 7638 thumbprint), PEM loading helpers and a key folder layout
  (:func:`save_key`, :func:`load_key`).
- **Claims** (:mod:`simulator.tokens.claims`): the default issuer and audience, the six
  required claims, and :func:`time_claim_notes` to show times in words.
- **Issuing** (:mod:`simulator.tokens.issue`, :func:`issue_token`): ``sub``, ``iat``,
  ``exp``, ``iss``, ``aud`` and a random ``jti``; header ``typ: JWT`` and ``kid``.
- **Verifying** (:mod:`simulator.tokens.verify`, :class:`Verifier`), following RFC 8725
  (JWT BCP) and the OWASP JWT cheat sheet: a size cap, a strict compact form, the
  algorithm bound to the key, ``typ`` and ``crit`` checks, a header and payload parsed
  strictly (UTF-8, no byte order mark, no duplicate members), the signature, then the
  claims against an injectable clock; optionally a maximum lifetime, a ``jti`` denylist,
  a key set (``kid -> key``) for rotations and refusing high-s ES256 signatures. Keys
  below the minimum strength are refused
  (:class:`WeakKeyError`). ``verify`` never raises: every failure becomes one short
  reason code (:data:`REASONS` holds a sentence for each).
- **Decoding for display** (:mod:`simulator.tokens.decode`, :func:`decode_unverified`):
  what a token claims, never to be trusted.
- **Refresh tokens** (:mod:`simulator.tokens.refresh`, :class:`RefreshTokenFamilies`):
  opaque, stored as hashes, rotated on every use, a replayed one revoking its whole
  family (RFC 9700, section 4.14).
- **Attacks** (:mod:`simulator.tokens.attacks`, :data:`ATTACKS`, :func:`run_attacks`):
  named cases, each building its token live (with :func:`forge` and an
  :class:`AttackLab`, :mod:`simulator.tokens.lab`) and stating the reason it must be
  rejected with.

Base64url, shared by all of them, is in :mod:`simulator.tokens.encoding`.
"""

from __future__ import annotations

from simulator.tokens.attacks import ATTACKS, Attack, AttackOutcome, run_attacks
from simulator.tokens.claims import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    REQUIRED_CLAIMS,
    time_claim_notes,
)
from simulator.tokens.decode import UnverifiedToken, decode_unverified
from simulator.tokens.issue import issue_token, sample_token
from simulator.tokens.keys import (
    MIN_HMAC_SECRET_BYTES,
    MIN_RSA_BITS,
    Algorithm,
    KeyPair,
    PrivateKey,
    PublicKey,
    SigningKeyMaterial,
    TokenKeyError,
    VerificationKeyMaterial,
    WeakKeyError,
    generate_key,
    key_files,
    key_strength_problem,
    key_thumbprint,
    load_key,
    load_or_create_key,
    load_private_key_pem,
    load_public_key_pem,
    parse_algorithm,
    private_key_pem,
    public_key_pem,
    save_key,
)
from simulator.tokens.lab import AttackLab, forge
from simulator.tokens.refresh import (
    REFRESH_REASONS,
    IssuedRefreshToken,
    RefreshResult,
    RefreshTokenFamilies,
)
from simulator.tokens.verify import (
    DEFAULT_LEEWAY_S,
    DEFAULT_MAX_TOKEN_BYTES,
    MAX_LEEWAY_S,
    REASONS,
    VerificationResult,
    Verifier,
    describe_reason,
)

__all__ = [
    "ATTACKS",
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "DEFAULT_LEEWAY_S",
    "DEFAULT_MAX_TOKEN_BYTES",
    "MAX_LEEWAY_S",
    "MIN_HMAC_SECRET_BYTES",
    "MIN_RSA_BITS",
    "REASONS",
    "REFRESH_REASONS",
    "REQUIRED_CLAIMS",
    "Algorithm",
    "Attack",
    "AttackLab",
    "AttackOutcome",
    "IssuedRefreshToken",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "RefreshResult",
    "RefreshTokenFamilies",
    "SigningKeyMaterial",
    "TokenKeyError",
    "UnverifiedToken",
    "VerificationKeyMaterial",
    "VerificationResult",
    "Verifier",
    "WeakKeyError",
    "decode_unverified",
    "describe_reason",
    "forge",
    "generate_key",
    "issue_token",
    "key_files",
    "key_strength_problem",
    "key_thumbprint",
    "load_key",
    "load_or_create_key",
    "load_private_key_pem",
    "load_public_key_pem",
    "parse_algorithm",
    "private_key_pem",
    "public_key_pem",
    "run_attacks",
    "sample_token",
    "save_key",
    "time_claim_notes",
]
