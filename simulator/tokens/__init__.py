"""Signed login tokens (RFC 7519) on PyJWT: keys, issuing, a careful verifier, attacks.

The ``jwt`` strategy of the simulator models the *cost* of tokens; this module is the
real thing, small enough to read, so that the costs and the pitfalls can be seen.

- **Keys** (:class:`KeyPair`): HS256 (a random 256-bit secret), RS256 and PS256 (RSA
  2048), ES256 (P-256) and EdDSA (Ed25519), each with a ``kid`` (a truncated RFC 7638
  thumbprint), PEM loading helpers and a key folder layout (:func:`save_key`,
  :func:`load_key`).
- **Issuing** (:func:`issue_token`): ``sub``, ``iat``, ``exp``, ``iss``, ``aud`` and a
  random ``jti``; header ``typ: JWT`` and ``kid``.
- **Verifying** (:class:`Verifier`), following RFC 8725 (JWT BCP) and the OWASP JWT
  cheat sheet:

  1. a size cap (default 8 KiB) before anything is decoded;
  2. a strict compact form: ASCII, three parts, canonical unpadded base64url, a JSON
     object header without duplicate members;
  3. the algorithm is bound to the key: the token's ``alg`` must equal the key's one
     algorithm, compared exactly; it is never used to choose the algorithm or the key
     (so ``none`` in any spelling and HS256-with-the-RSA-public-key are refused);
  4. ``typ``: ``JWT`` (also ``application/jwt``, compared case-insensitively as
     RFC 7515 §4.1.9 says) or absent; any other value is refused. Reading of RFC 8725
     §3.11 ("explicit typing"): its point is that a JWT minted for another purpose
     (``at+jwt``, ``secevent+jwt``, ``dpop+jwt``...) must not be accepted as one of
     ours, so every *other* ``typ`` is refused; RFC 7519 §5.1 makes ``typ`` optional for
     plain JWTs, so its absence is accepted by default (``require_typ=True`` insists on
     it; this module always writes it);
  5. ``crit``: this verifier implements no header extension, so any ``crit`` (and the
     RFC 7797 ``b64`` parameter) is refused; ``kid`` must name the verifier's key;
     ``jku``, ``x5u``, ``jwk`` and ``x5c`` are never used to find a key;
  6. the signature (PyJWT, with ``enforce_minimum_key_length``);
  7. the claims: ``exp``, ``iat``, ``sub``, ``iss``, ``aud`` and ``jti`` are required;
     issuer and audience must match; ``sub`` and ``jti`` are non-empty strings;
     ``exp``, ``iat`` and ``nbf`` are JSON numbers (not strings, not booleans), checked
     here against an injectable clock with a small leeway (default 30 s).

  Keys below the minimum strength (HMAC secret < 32 bytes, RSA < 2048 bits) are refused
  when the verifier is built (:class:`WeakKeyError`) and by :func:`issue_token`.
  ``verify`` never raises: every failure, from PyJWT or from malformed input, becomes
  one short reason code (:data:`REASONS` holds a sentence for each).
- **Attacks** (:data:`ATTACKS`, :func:`run_attacks`): named cases, each building its
  token live and stating the reason it must be rejected with.

What PyJWT 2.15.1 does not do by itself, and this module does: it never looks at
``typ``; it accepts ``exp``/``iat``/``nbf`` that ``int()`` accepts (``"9999999999"``
as a string, ``true``, floats truncated) and reports a non-numeric ``exp`` as a
``DecodeError``, the same class as broken base64; key-length checks only warn unless
``enforce_minimum_key_length`` is set, and then raise ``InvalidKeyError``, which is a
``PyJWTError`` but *not* an ``InvalidTokenError``; ``exp`` and friends are only checked
when present unless listed in ``require``; its clock cannot be injected; and an unknown
``crit`` raises the bare ``InvalidTokenError`` base class.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeAlias

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms
from jwt.types import Options

from simulator.errors import AuthsimError

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
    "REQUIRED_CLAIMS",
    "Algorithm",
    "Attack",
    "AttackLab",
    "AttackOutcome",
    "KeyPair",
    "TokenKeyError",
    "UnverifiedToken",
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


class Algorithm(StrEnum):
    """The signing algorithms supported (RFC 7518 / RFC 8037 names)."""

    HS256 = "HS256"
    RS256 = "RS256"
    PS256 = "PS256"
    ES256 = "ES256"
    EDDSA = "EdDSA"


DEFAULT_ISSUER: Final = "https://login.authsim.example"
DEFAULT_AUDIENCE: Final = "authsim-api"
DEFAULT_LEEWAY_S: Final = 30.0
MAX_LEEWAY_S: Final = 300.0
"""A verifier refuses a larger leeway: clock skew is seconds, not a token's lifetime."""
DEFAULT_MAX_TOKEN_BYTES: Final = 8 * 1024
MIN_HMAC_SECRET_BYTES: Final = 32
"""RFC 7518 §3.2: an HS256 key must be at least as long as the hash output."""
MIN_RSA_BITS: Final = 2048
"""RFC 7518 §3.3 and §3.5: RSA keys of 2048 bits or more."""
REQUIRED_CLAIMS: Final = ("exp", "iat", "sub", "iss", "aud", "jti")
_REGISTERED_BY_ISSUER: Final = frozenset(REQUIRED_CLAIMS)
_KID_CHARS: Final = 16

REASONS: Final[Mapping[str, str]] = {
    "ok": "The token is valid: size, header, signature and claims all check out.",
    "too_large": "The token is larger than the size cap; it was refused before any decoding.",
    "malformed": (
        "The token is not a well-formed compact JWS: three canonical base64url parts "
        "and a JSON object header and payload."
    ),
    "algorithm_not_allowed": (
        "The header's alg is not the one algorithm bound to the verifier's key "
        "(the algorithm is never taken from the token)."
    ),
    "bad_type_header": (
        "The typ header is not JWT: the token is another kind of JWT (RFC 8725 §3.11)."
    ),
    "unsupported_critical_header": (
        "The token marks a header extension as critical (crit, b64) that this verifier "
        "does not implement."
    ),
    "unknown_key": "The token's kid names a key this verifier does not hold.",
    "bad_signature": (
        "The signature does not match the header and claims: the token was forged or altered."
    ),
    "weak_key": (
        f"The key is below the minimum strength (HMAC secret >= {MIN_HMAC_SECRET_BYTES} "
        f"bytes, RSA >= {MIN_RSA_BITS} bits), so it is refused."
    ),
    "unusable_key": "The verifier's key cannot be used with this algorithm.",
    "expired": "The token's exp is in the past, beyond the allowed clock leeway.",
    "not_yet_valid": "The token's nbf is in the future, beyond the allowed clock leeway.",
    "issued_in_future": "The token's iat is in the future, beyond the allowed clock leeway.",
    "wrong_audience": "The token's aud does not name this service.",
    "wrong_issuer": "The token's iss is not the trusted issuer.",
    "missing_claim": "A required claim (exp, iat, sub, iss, aud, jti) is absent or empty.",
    "invalid_claim_type": (
        "A claim has the wrong type, e.g. a non-numeric exp or a sub that is not a string."
    ),
    "verification_error": (
        "Verification failed for an unexpected reason; the token is refused (fail closed)."
    ),
}
"""Every reason code :meth:`Verifier.verify` can return, with a sentence for people."""

# First match wins: subclasses before their bases. Each PyJWT exception maps to one code.
_PYJWT_REASONS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.exceptions.InvalidSignatureError, "bad_signature"),
    (jwt.exceptions.ExpiredSignatureError, "expired"),
    (jwt.exceptions.ImmatureSignatureError, "not_yet_valid"),
    (jwt.exceptions.InvalidAudienceError, "wrong_audience"),
    (jwt.exceptions.InvalidIssuerError, "wrong_issuer"),
    (jwt.exceptions.InvalidIssuedAtError, "invalid_claim_type"),
    (jwt.exceptions.InvalidSubjectError, "invalid_claim_type"),
    (jwt.exceptions.InvalidJTIError, "invalid_claim_type"),
    (jwt.exceptions.MissingRequiredClaimError, "missing_claim"),
    (jwt.exceptions.InvalidAlgorithmError, "algorithm_not_allowed"),
    (jwt.exceptions.DecodeError, "malformed"),
    (jwt.exceptions.InvalidTokenError, "malformed"),
    (jwt.exceptions.InvalidKeyError, "unusable_key"),
    (jwt.exceptions.PyJWTError, "verification_error"),
)

# Errors that malformed input can raise from the standard library or cryptography.
_INPUT_ERRORS: Final = (
    binascii.Error,
    UnicodeError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
    UnsupportedAlgorithm,
)

_PYJWT: Final = jwt.PyJWT(options={"enforce_minimum_key_length": True})
_ALGORITHM_IMPLEMENTATIONS: Final = get_default_algorithms()


def describe_reason(reason: str) -> str:
    """The sentence for a reason code (the code itself when it is unknown)."""
    return REASONS.get(reason, reason)


# --------------------------------------------------------------------------- keys


class TokenKeyError(AuthsimError):
    """Key material that cannot be used: wrong type, unreadable file, missing key."""


class WeakKeyError(TokenKeyError):
    """A key below the minimum strength: refused for signing and for verifying."""


PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
SigningKeyMaterial: TypeAlias = bytes | PrivateKey
"""An HMAC secret or a private key."""
VerificationKeyMaterial: TypeAlias = bytes | PublicKey
"""An HMAC secret or a public key."""


def parse_algorithm(name: str | Algorithm) -> Algorithm:
    """The :class:`Algorithm` of a name, exactly as RFC 7518 spells it."""
    try:
        return Algorithm(name)
    except ValueError:
        choices = ", ".join(item.value for item in Algorithm)
        raise TokenKeyError(f"unknown algorithm {name!r}; choose from {choices}") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_thumbprint(key: VerificationKeyMaterial) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a verification key.

    For an HMAC secret this is a hash of the secret: anyone holding a token can already
    test guesses of the secret offline against its signature, so it adds no exposure,
    and with a 256-bit random secret neither is practical.
    """
    members: dict[str, str]
    if isinstance(key, bytes):
        members = {"k": _b64url(key), "kty": "oct"}
    elif isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        members = {
            "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "kty": "RSA",
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        }
    elif isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(point.x.to_bytes(size, "big")),
            "y": _b64url(point.y.to_bytes(size, "big")),
        }
    else:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return _b64url(hashlib.sha256(canonical).digest())


@dataclass(frozen=True, eq=False, repr=False)
class KeyPair:
    """A key bound to exactly one algorithm, with its ``kid``.

    Attributes:
        algorithm: the only algorithm this key signs and verifies with.
        signing_key: the HMAC secret or private key; ``None`` for a verification-only
            key (loaded from a public PEM).
        verification_key: the HMAC secret (the same bytes) or the public key.
        kid: the key id written in the token header (a truncated RFC 7638 thumbprint
            unless given).

    The pair may hold a weak key (so that the attack catalogue can show one being
    refused); :class:`Verifier` and :func:`issue_token` refuse to use it. The ``repr``
    never shows key material.
    """

    algorithm: Algorithm
    signing_key: SigningKeyMaterial | None
    verification_key: VerificationKeyMaterial
    kid: str = ""

    def __post_init__(self) -> None:
        algorithm = parse_algorithm(self.algorithm)
        object.__setattr__(self, "algorithm", algorithm)
        _check_key_types(algorithm, self.signing_key, self.verification_key)
        if not self.kid:
            object.__setattr__(self, "kid", key_thumbprint(self.verification_key)[:_KID_CHARS])
        if not isinstance(self.kid, str):
            raise TokenKeyError("kid must be a string")

    def __repr__(self) -> str:
        role = "signing" if self.signing_key is not None else "verification-only"
        return f"KeyPair({self.algorithm.value}, kid={self.kid!r}, {role})"

    @property
    def can_sign(self) -> bool:
        """Whether the pair holds the secret or private key."""
        return self.signing_key is not None

    @classmethod
    def from_secret(cls, secret: bytes, *, kid: str = "") -> KeyPair:
        """An HS256 key from a secret (not checked for strength here)."""
        return cls(Algorithm.HS256, secret, secret, kid)

    @classmethod
    def from_private_key(
        cls,
        algorithm: Algorithm | str,
        private_key: PrivateKey,
        *,
        kid: str = "",
    ) -> KeyPair:
        """A signing pair for an asymmetric algorithm from a ``cryptography`` private key."""
        return cls(parse_algorithm(algorithm), private_key, private_key.public_key(), kid)

    def public_only(self) -> KeyPair:
        """The verification half (for HS256 the secret is both halves)."""
        if isinstance(self.verification_key, bytes):
            return self
        return KeyPair(self.algorithm, None, self.verification_key, self.kid)


def _check_key_types(
    algorithm: Algorithm,
    signing: SigningKeyMaterial | None,
    verification: VerificationKeyMaterial,
) -> None:
    name = algorithm.value
    if algorithm is Algorithm.HS256:
        if not isinstance(verification, bytes) or not verification:
            raise TokenKeyError(f"{name}: the key must be a non-empty byte string")
        if signing is not None and signing != verification:
            raise TokenKeyError(f"{name}: signing and verification secrets differ")
        return
    if isinstance(verification, bytes) or isinstance(signing, bytes):
        raise TokenKeyError(f"{name}: an asymmetric algorithm needs a key object, not bytes")
    if algorithm in (Algorithm.RS256, Algorithm.PS256):
        expected_public: type[Any] = rsa.RSAPublicKey
        expected_private: type[Any] = rsa.RSAPrivateKey
    elif algorithm is Algorithm.ES256:
        expected_public, expected_private = ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey
    else:
        expected_public = ed25519.Ed25519PublicKey
        expected_private = ed25519.Ed25519PrivateKey
    if not isinstance(verification, expected_public):
        raise TokenKeyError(
            f"{name}: expected a {expected_public.__name__}, got {type(verification).__name__}"
        )
    if isinstance(verification, ec.EllipticCurvePublicKey) and not isinstance(
        verification.curve, ec.SECP256R1
    ):
        raise TokenKeyError(f"{name}: the key must be on P-256, not {verification.curve.name}")
    if signing is None:
        return
    if not isinstance(signing, expected_private):
        raise TokenKeyError(
            f"{name}: expected a {expected_private.__name__}, got {type(signing).__name__}"
        )
    if _public_der(signing.public_key()) != _public_der(verification):
        raise TokenKeyError(f"{name}: the private key does not match the public key")


def key_strength_problem(key: KeyPair) -> str | None:
    """Why a key is too weak to use (``None`` when it is strong enough)."""
    material = key.verification_key
    if isinstance(material, bytes) and len(material) < MIN_HMAC_SECRET_BYTES:
        return (
            f"the HMAC secret is {len(material)} bytes; at least {MIN_HMAC_SECRET_BYTES} "
            "are required (RFC 7518 §3.2)"
        )
    if isinstance(material, rsa.RSAPublicKey) and material.key_size < MIN_RSA_BITS:
        return f"the RSA key is {material.key_size} bits; at least {MIN_RSA_BITS} are required"
    return None


def _require_strong(key: KeyPair) -> None:
    problem = key_strength_problem(key)
    if problem is not None:
        raise WeakKeyError(f"{key.algorithm.value} key {key.kid}: {problem}")


def generate_key(algorithm: Algorithm | str, *, rsa_bits: int = MIN_RSA_BITS) -> KeyPair:
    """A fresh key for ``algorithm``: 256 random bits, RSA ``rsa_bits``, P-256 or Ed25519."""
    chosen = parse_algorithm(algorithm)
    if chosen is Algorithm.HS256:
        return KeyPair.from_secret(secrets.token_bytes(32))
    if chosen in (Algorithm.RS256, Algorithm.PS256):
        private: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    elif chosen is Algorithm.ES256:
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return KeyPair.from_private_key(chosen, private)


def private_key_pem(key: KeyPair) -> bytes:
    """The private key as unencrypted PKCS #8 PEM (asymmetric algorithms only)."""
    if key.signing_key is None or isinstance(key.signing_key, bytes):
        raise TokenKeyError(f"{key.algorithm.value}: no private key to write")
    return key.signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: KeyPair) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM (asymmetric algorithms only)."""
    if isinstance(key.verification_key, bytes):
        raise TokenKeyError(f"{key.algorithm.value}: an HMAC secret has no public half")
    return key.verification_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key_pem(
    algorithm: Algorithm | str, pem: bytes, *, password: bytes | None = None
) -> KeyPair:
    """A signing pair from a PEM private key; the key type must fit ``algorithm``."""
    chosen = parse_algorithm(algorithm)
    if chosen is Algorithm.HS256:
        raise TokenKeyError("HS256 uses a secret, not a PEM key")
    try:
        private = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = " ".join(str(exc).split())
        raise TokenKeyError(f"{chosen.value}: not a usable PEM private key ({reason})") from None
    if not isinstance(private, PrivateKey):
        raise TokenKeyError(f"{chosen.value}: unsupported key type {type(private).__name__}")
    return KeyPair.from_private_key(chosen, private)


def load_public_key_pem(algorithm: Algorithm | str, pem: bytes) -> KeyPair:
    """A verification-only key from a PEM public key; the key type must fit ``algorithm``."""
    chosen = parse_algorithm(algorithm)
    if chosen is Algorithm.HS256:
        raise TokenKeyError("HS256 uses a secret, not a PEM key")
    try:
        public = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = " ".join(str(exc).split())
        raise TokenKeyError(f"{chosen.value}: not a usable PEM public key ({reason})") from None
    if not isinstance(public, PublicKey):
        raise TokenKeyError(f"{chosen.value}: unsupported key type {type(public).__name__}")
    return KeyPair(chosen, None, public)


def key_files(algorithm: Algorithm | str, directory: Path) -> tuple[Path, Path | None]:
    """Where a key folder keeps ``algorithm``'s key: (secret or private, public or None).

    HS256: ``hs256.secret`` (base64url text); others: ``<alg>.key.pem`` (PKCS #8) and
    ``<alg>.pub.pem`` (SubjectPublicKeyInfo). Secret files are written mode 0600.
    """
    chosen = parse_algorithm(algorithm)
    stem = chosen.value.lower()
    if chosen is Algorithm.HS256:
        return directory / f"{stem}.secret", None
    return directory / f"{stem}.key.pem", directory / f"{stem}.pub.pem"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise TokenKeyError(f"{path}: already exists; not overwriting a key") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def save_key(key: KeyPair, directory: Path) -> list[Path]:
    """Write a signing pair into ``directory`` (created if needed); never overwrites."""
    if key.signing_key is None:
        raise TokenKeyError(f"{key.algorithm.value}: only a signing pair can be saved")
    secret_path, public_path = key_files(key.algorithm, directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if isinstance(key.signing_key, bytes):
            _write_new(secret_path, (_b64url(key.signing_key) + "\n").encode("ascii"), 0o600)
            return [secret_path]
        assert public_path is not None
        _write_new(secret_path, private_key_pem(key), 0o600)
        _write_new(public_path, public_key_pem(key), 0o644)
    except OSError as exc:
        raise TokenKeyError(f"{directory}: cannot write the key: {exc.strerror or exc}") from None
    return [secret_path, public_path]


def _read(path: Path, algorithm: Algorithm, directory: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TokenKeyError(
            f"{path}: no {algorithm.value} key in {directory} (create one with "
            f"'authsim token issue --algorithm {algorithm.value} --key-dir {directory}')"
        ) from None
    except OSError as exc:
        raise TokenKeyError(f"{path}: cannot read the key: {exc.strerror or exc}") from None


def load_key(algorithm: Algorithm | str, directory: Path, *, signing: bool = True) -> KeyPair:
    """Read ``algorithm``'s key from a key folder written by :func:`save_key`.

    With ``signing=False`` only the public key is read (a verification-only pair).
    """
    chosen = parse_algorithm(algorithm)
    secret_path, public_path = key_files(chosen, directory)
    if chosen is Algorithm.HS256:
        text = _read(secret_path, chosen, directory).strip().decode("ascii", "replace")
        try:
            secret = _lenient_b64url(text)
        except (ValueError, binascii.Error):
            raise TokenKeyError(f"{secret_path}: not a base64url secret") from None
        if not secret:
            raise TokenKeyError(f"{secret_path}: the secret is empty")
        return KeyPair.from_secret(secret)
    if signing:
        return load_private_key_pem(chosen, _read(secret_path, chosen, directory))
    assert public_path is not None
    return load_public_key_pem(chosen, _read(public_path, chosen, directory))


def load_or_create_key(algorithm: Algorithm | str, directory: Path) -> tuple[KeyPair, bool]:
    """The signing pair saved in ``directory``, creating and saving one if there is none.

    Returns:
        The pair, and whether it was just created.
    """
    secret_path, _ = key_files(algorithm, directory)
    if secret_path.exists():
        return load_key(algorithm, directory), False
    key = generate_key(algorithm)
    save_key(key, directory)
    return key, True


# ------------------------------------------------------------------------ issuing


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
    _require_strong(key)
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


# ---------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of :meth:`Verifier.verify`.

    Attributes:
        valid: whether the token may be trusted.
        reason: ``ok`` or a short snake_case code (a key of :data:`REASONS`).
        claims: the verified claims when valid, else ``None``.
        detail: what exactly was wrong, for logs and people (not for branching on).
    """

    valid: bool
    reason: str
    claims: dict[str, Any] | None
    detail: str = ""

    @property
    def message(self) -> str:
        """The sentence for :attr:`reason`."""
        return describe_reason(self.reason)

    @classmethod
    def rejected(cls, reason: str, detail: str = "") -> VerificationResult:
        """An invalid result with ``reason``."""
        return cls(False, reason, None, detail)


class _Rejection(Exception):  # noqa: N818 (internal control flow, not an error)
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_B64URL_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _strict_b64url(segment: str, name: str) -> bytes:
    """Canonical, unpadded base64url (RFC 7515 §2), or a ``malformed`` rejection."""
    if len(segment) % 4 == 1 or not _B64URL_CHARS.issuperset(segment):
        raise _Rejection("malformed", f"the {name} is not unpadded base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if _b64url(data) != segment:
        raise _Rejection("malformed", f"the {name} is not canonical base64url")
    return data


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member {name!r}")
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise _Rejection("malformed", f"the {name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _Rejection("malformed", f"the {name} is not a JSON object")
    return value


def _is_jwt_type(value: str) -> bool:
    lowered = value.lower()
    return lowered in ("jwt", "application/jwt")


class Verifier:
    """Checks tokens against one key, one algorithm, one issuer and one audience.

    Args:
        key: the key; its algorithm is the only one accepted.
        issuer: the trusted ``iss``.
        audience: this service's name, which ``aud`` must contain.
        leeway_s: clock skew allowed on ``exp``, ``nbf`` and ``iat``, seconds (0 to
            :data:`MAX_LEEWAY_S`).
        max_token_bytes: the size cap, checked before any decoding.
        require_typ: refuse tokens without a ``typ`` header (a ``typ`` other than
            ``JWT`` is always refused).
        clock: the current time, seconds since the epoch (injectable for tests).

    Raises:
        WeakKeyError: the key is below the minimum strength.
        ValueError: an empty issuer or audience, a leeway or cap out of range.
    """

    def __init__(
        self,
        key: KeyPair,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway_s: float = DEFAULT_LEEWAY_S,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        require_typ: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(key, KeyPair):
            raise TypeError("key must be a KeyPair")
        _require_strong(key)
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string")
        if not (math.isfinite(leeway_s) and 0 <= leeway_s <= MAX_LEEWAY_S):
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY_S:g} s, got {leeway_s}")
        if max_token_bytes < 64:
            raise ValueError(f"max_token_bytes must be at least 64, got {max_token_bytes}")
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = float(leeway_s)
        self.max_token_bytes = max_token_bytes
        self.require_typ = require_typ
        self.clock = clock

    @property
    def algorithm(self) -> Algorithm:
        """The one algorithm this verifier accepts (the key's)."""
        return self.key.algorithm

    def verify(self, token: str | bytes) -> VerificationResult:
        """Check a compact token; never raises.

        Returns:
            ``valid`` with the claims, or the first problem found as a reason code.
        """
        try:
            return VerificationResult(True, "ok", self._verify(token))
        except _Rejection as rejection:
            return VerificationResult.rejected(rejection.reason, rejection.detail)
        except jwt.PyJWTError as exc:
            return VerificationResult.rejected(_pyjwt_reason(exc), f"PyJWT: {exc}")
        except _INPUT_ERRORS as exc:
            return VerificationResult.rejected("malformed", f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # fail closed: a token is never accepted by accident
            return VerificationResult.rejected("verification_error", f"{type(exc).__name__}")

    def _verify(self, token: str | bytes) -> dict[str, Any]:
        text = self._checked_text(token)
        parts = text.split(".")
        if len(parts) != 3:
            hint = " (an encrypted JWE? not supported)" if len(parts) == 5 else ""
            raise _Rejection("malformed", f"{len(parts)} dot-separated parts, not 3{hint}")
        header = _strict_json_object(_strict_b64url(parts[0], "header"), "header")
        self._check_header(header)
        _strict_b64url(parts[1], "payload")
        _strict_b64url(parts[2], "signature")
        options: Options = {
            "verify_signature": True,
            "require": list(REQUIRED_CLAIMS),
            "verify_aud": True,
            "verify_iss": True,
            "verify_sub": True,
            "verify_jti": True,
            # Checked below, strictly and against the injectable clock.
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "strict_aud": False,
            "enforce_minimum_key_length": True,
        }
        decoded = _PYJWT.decode_complete(
            text,
            key=self.key.verification_key,
            algorithms=[self.key.algorithm.value],
            options=options,
            audience=self.audience,
            issuer=self.issuer,
        )
        claims: dict[str, Any] = decoded["payload"]
        self._check_claims(claims)
        return claims

    def _checked_text(self, token: str | bytes) -> str:
        if isinstance(token, bytes | bytearray):
            if len(token) > self.max_token_bytes:
                raise _Rejection("too_large", f"{len(token)} bytes > {self.max_token_bytes}")
            token = bytes(token).decode("ascii")
        if not isinstance(token, str):
            raise _Rejection("malformed", f"a token is text, not {type(token).__name__}")
        # Characters never outnumber UTF-8 bytes, so this is safe before encoding anything.
        if len(token) > self.max_token_bytes:
            raise _Rejection("too_large", f"{len(token)} characters > {self.max_token_bytes}")
        if not token.isascii():
            raise _Rejection("malformed", "a compact JWT is ASCII only")
        return token

    def _check_header(self, header: dict[str, Any]) -> None:
        alg = header.get("alg")
        expected = self.key.algorithm.value
        if not isinstance(alg, str) or alg != expected:
            raise _Rejection(
                "algorithm_not_allowed", f"alg {alg!r}; this key verifies {expected} only"
            )
        if "typ" in header:
            typ = header["typ"]
            if not isinstance(typ, str) or not _is_jwt_type(typ):
                raise _Rejection("bad_type_header", f"typ {typ!r}, expected 'JWT'")
        elif self.require_typ:
            raise _Rejection("bad_type_header", "no typ header, and one is required")
        if "crit" in header:
            raise _Rejection(
                "unsupported_critical_header",
                f"crit {header['crit']!r}: no extension is implemented here",
            )
        if "b64" in header:
            raise _Rejection("unsupported_critical_header", "b64 (RFC 7797) is not implemented")
        if "kid" in header:
            kid = header["kid"]
            if not isinstance(kid, str):
                raise _Rejection("malformed", "kid is not a string")
            if kid != self.key.kid:
                raise _Rejection("unknown_key", f"kid {kid[:40]!r} is not {self.key.kid!r}")

    def _check_claims(self, claims: dict[str, Any]) -> None:
        times = {name: _numeric_date(claims, name) for name in ("exp", "iat", "nbf")}
        for name in ("sub", "jti"):
            if claims[name] == "":
                raise _Rejection("missing_claim", f"{name} is empty")
        now = self.clock()
        leeway = self.leeway_s
        exp, iat, nbf = times["exp"], times["iat"], times["nbf"]
        if exp is not None and now >= exp + leeway:
            raise _Rejection("expired", f"exp {exp} is {now - exp:.0f} s ago")
        if nbf is not None and now < nbf - leeway:
            raise _Rejection("not_yet_valid", f"nbf {nbf} is {nbf - now:.0f} s ahead")
        if iat is not None and now < iat - leeway:
            raise _Rejection("issued_in_future", f"iat {iat} is {iat - now:.0f} s ahead")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519 §2): a finite JSON number; ``None`` when absent."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Rejection(
            "invalid_claim_type", f"{name} is a {type(value).__name__}, not a NumericDate"
        )
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise _Rejection("invalid_claim_type", f"{name} is not a finite number of seconds")
    return seconds


def _pyjwt_reason(exc: jwt.PyJWTError) -> str:
    for exception_type, reason in _PYJWT_REASONS:
        if isinstance(exc, exception_type):
            return reason
    return "verification_error"


# -------------------------------------------------------------- decoding for show


@dataclass(frozen=True)
class UnverifiedToken:
    """What a token *claims*, decoded without any check: display only, never trust.

    Attributes:
        header: the header object, or ``None`` when it could not be decoded.
        claims: the payload object, or ``None``.
        signature: the signature bytes, or ``None``.
        problems: what could not be decoded, one short sentence each.
    """

    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    signature: bytes | None
    problems: tuple[str, ...] = ()

    @property
    def readable(self) -> bool:
        """Whether at least the header or the claims decoded."""
        return self.header is not None or self.claims is not None


def _lenient_b64url(segment: str) -> bytes:
    stripped = segment.rstrip("=")
    if not _B64URL_CHARS.issuperset(stripped) or len(stripped) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def _lenient_object(segment: str, name: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        value = json.loads(_lenient_b64url(segment).decode("utf-8"))
    except (ValueError, RecursionError, binascii.Error):
        problems.append(f"the {name} is not base64url-encoded JSON")
        return None
    if not isinstance(value, dict):
        problems.append(f"the {name} is JSON but not an object")
        return None
    return value


def decode_unverified(
    token: str | bytes, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES
) -> UnverifiedToken:
    """Decode a token's parts for display WITHOUT verifying anything; never raises.

    Surrounding whitespace is ignored and padding tolerated; each part is decoded on its
    own, so a broken signature still shows the header and claims.
    """
    problems: list[str] = []
    try:
        if isinstance(token, bytes | bytearray):
            if len(token) > max_bytes:
                return UnverifiedToken(None, None, None, (f"larger than {max_bytes} bytes",))
            token = bytes(token).decode("ascii")
        if not isinstance(token, str):
            return UnverifiedToken(None, None, None, ("not text",))
        if len(token) > max_bytes:
            return UnverifiedToken(None, None, None, (f"larger than {max_bytes} bytes",))
        parts = token.strip().split(".")
        if len(parts) != 3:
            problems.append(f"{len(parts)} dot-separated parts, not 3")
        header = _lenient_object(parts[0], "header", problems)
        claims = _lenient_object(parts[1], "payload", problems) if len(parts) > 1 else None
        signature: bytes | None = None
        if len(parts) > 2:
            try:
                signature = _lenient_b64url(parts[2])
            except (ValueError, binascii.Error):
                problems.append("the signature is not base64url")
        return UnverifiedToken(header, claims, signature, tuple(problems))
    except Exception as exc:  # display helper: garbage in, a problem out
        return UnverifiedToken(None, None, None, (*problems, f"undecodable: {type(exc).__name__}"))


# ------------------------------------------------------------------------ attacks


def _segment(data: Mapping[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return _b64url(raw)


def forge(
    header: Mapping[str, Any] | bytes,
    claims: Mapping[str, Any] | bytes,
    sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """Assemble a compact token by hand, with any header (what an attacker can do)."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = sign(signing_input.encode("ascii")) if sign is not None else b""
    return f"{signing_input}.{_b64url(signature)}"


def _signer(key: KeyPair, algorithm: str | None = None) -> Callable[[bytes], bytes]:
    """Sign with ``key`` under any algorithm name (no strength or type checks)."""
    implementation = _ALGORITHM_IMPLEMENTATIONS[algorithm or key.algorithm.value]
    material = key.signing_key
    if material is None:
        raise TokenKeyError("cannot sign with a verification-only key")
    return lambda message: implementation.sign(message, material)


@dataclass
class AttackLab:
    """Keys, a fixed clock and helpers shared by the attacks of one :func:`run_attacks`.

    The "server" keys are what the verifiers hold; the "attacker" keys are the
    attacker's own, which the server has never seen.
    """

    now: float
    hs256: KeyPair
    rs256: KeyPair
    es256: KeyPair
    attacker_hs256: KeyPair
    attacker_rs256: KeyPair
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    _verifiers: dict[str, Verifier] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, now: float | None = None) -> AttackLab:
        """Fresh keys (two RSA 2048 keys take a few tenths of a second)."""
        return cls(
            now=float(math.floor(time.time() if now is None else now)),
            hs256=generate_key(Algorithm.HS256),
            rs256=generate_key(Algorithm.RS256),
            es256=generate_key(Algorithm.ES256),
            attacker_hs256=generate_key(Algorithm.HS256),
            attacker_rs256=generate_key(Algorithm.RS256),
        )

    def verifier(self, key: KeyPair) -> Verifier:
        """The server's verifier for ``key`` (weak keys raise :class:`WeakKeyError`)."""
        cached = self._verifiers.get(key.kid)
        if cached is None:
            cached = Verifier(
                key.public_only(), issuer=self.issuer, audience=self.audience, clock=self.clock
            )
            self._verifiers[key.kid] = cached
        return cached

    def clock(self) -> float:
        """The lab's fixed current time."""
        return self.now

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid claims for ``alice``, with ``changes`` applied (``None`` removes one)."""
        claims: dict[str, Any] = {
            "sub": "alice",
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(self.now),
            "exp": int(self.now) + 900,
            "jti": "attack-lab-jti",
        }
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def header(self, key: KeyPair, **changes: Any) -> dict[str, Any]:
        """The header an honest issuer writes for ``key``, with ``changes``."""
        header: dict[str, Any] = {"alg": key.algorithm.value, "kid": key.kid, "typ": "JWT"}
        for name, value in changes.items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        return header

    def signed(self, key: KeyPair, claims: Mapping[str, Any] | None = None, **header: Any) -> str:
        """A correctly signed token with any claims and header changes."""
        return forge(
            self.header(key, **header),
            self.claims() if claims is None else claims,
            _signer(key),
        )

    def valid_token(self, key: KeyPair) -> str:
        """A token the server issued honestly with ``key``."""
        return issue_token(
            key, "alice", 900, issuer=self.issuer, audience=self.audience, now=self.now
        )


@dataclass(frozen=True)
class Attack:
    """One named attack: it builds its token live and verifies it.

    Attributes:
        name: short identifier.
        description: what the attacker tries, in one sentence.
        expected_reason: the reason code the verifier must reject it with.
        run: builds the token and returns the server's verdict.
    """

    name: str
    description: str
    expected_reason: str
    run: Callable[[AttackLab], VerificationResult]


@dataclass(frozen=True)
class AttackOutcome:
    """What happened to one attack."""

    name: str
    description: str
    rejected: bool
    reason: str
    expected_reason: str

    @property
    def as_expected(self) -> bool:
        """Rejected, and with the expected reason."""
        return self.rejected and self.reason == self.expected_reason


def _flip_char(segment: str) -> str:
    """Change the first character of a base64url segment (still canonical)."""
    replacement = "B" if segment[0] != "B" else "C"
    return replacement + segment[1:]


def _alg_none(spelling: str, with_signature: bool) -> Callable[[AttackLab], VerificationResult]:
    def run(lab: AttackLab) -> VerificationResult:
        honest = lab.valid_token(lab.hs256)
        header = lab.header(lab.hs256, alg=spelling)
        token = forge(header, lab.claims(sub="admin"))
        if with_signature:
            token = token[: token.rindex(".") + 1] + honest.rsplit(".", 1)[1]
        return lab.verifier(lab.hs256).verify(token)

    return run


def _key_confusion(lab: AttackLab) -> VerificationResult:
    public_pem = public_key_pem(lab.rs256)  # public: the attacker has it too

    def sign(message: bytes) -> bytes:
        return hmac.new(public_pem, message, hashlib.sha256).digest()

    header = lab.header(lab.rs256, alg="HS256")
    return lab.verifier(lab.rs256).verify(forge(header, lab.claims(sub="admin"), sign))


def _signed_claims(**changes: Any) -> Callable[[AttackLab], VerificationResult]:
    """An HS256 token, correctly signed, with claim changes (a callable gets the lab)."""

    def run(lab: AttackLab) -> VerificationResult:
        values = {name: value(lab) if callable(value) else value for name, value in changes.items()}
        return lab.verifier(lab.hs256).verify(lab.signed(lab.hs256, lab.claims(**values)))

    return run


def _ago(seconds: int) -> Callable[[AttackLab], int]:
    return lambda lab: int(lab.now) - seconds


def _signed_header(**changes: Any) -> Callable[[AttackLab], VerificationResult]:
    def run(lab: AttackLab) -> VerificationResult:
        return lab.verifier(lab.hs256).verify(lab.signed(lab.hs256, **changes))

    return run


def _tampered_payload(lab: AttackLab) -> VerificationResult:
    header, _, signature = lab.valid_token(lab.hs256).split(".")
    forged = _segment(lab.claims(sub="admin"))
    return lab.verifier(lab.hs256).verify(f"{header}.{forged}.{signature}")


def _tampered_header(lab: AttackLab) -> VerificationResult:
    _, payload, signature = lab.valid_token(lab.hs256).split(".")
    forged = _segment(lab.header(lab.hs256, role="admin"))
    return lab.verifier(lab.hs256).verify(f"{forged}.{payload}.{signature}")


def _tampered_signature(lab: AttackLab) -> VerificationResult:
    header, payload, signature = lab.valid_token(lab.hs256).split(".")
    return lab.verifier(lab.hs256).verify(f"{header}.{payload}.{_flip_char(signature)}")


def _stripped_signature(lab: AttackLab) -> VerificationResult:
    header, payload, _ = lab.valid_token(lab.hs256).split(".")
    return lab.verifier(lab.hs256).verify(f"{header}.{payload}.")


def _truncated(lab: AttackLab) -> VerificationResult:
    header, payload, _ = lab.valid_token(lab.hs256).split(".")
    return lab.verifier(lab.hs256).verify(f"{header}.{payload[: len(payload) // 2]}")


def _foreign_key(lab: AttackLab) -> VerificationResult:
    forged = lab.signed(lab.attacker_hs256, lab.claims(sub="admin"), kid=lab.hs256.kid)
    return lab.verifier(lab.hs256).verify(forged)


def _embedded_jwk(lab: AttackLab) -> VerificationResult:
    public = lab.attacker_rs256.verification_key
    assert isinstance(public, rsa.RSAPublicKey)
    jwk = json.loads(_ALGORITHM_IMPLEMENTATIONS["RS256"].to_jwk(public))
    header = {"alg": "RS256", "typ": "JWT", "jwk": jwk}
    token = forge(header, lab.claims(sub="admin"), _signer(lab.attacker_rs256))
    return lab.verifier(lab.rs256).verify(token)


def _kid_traversal(lab: AttackLab) -> VerificationResult:
    def sign(message: bytes) -> bytes:  # the "key" /dev/null would give: empty
        return hmac.new(b"", message, hashlib.sha256).digest()

    header = lab.header(lab.hs256, kid="../../../../../../dev/null")
    return lab.verifier(lab.hs256).verify(forge(header, lab.claims(sub="admin"), sign))


def _psychic_signature(lab: AttackLab) -> VerificationResult:
    token = forge(lab.header(lab.es256), lab.claims(sub="admin"), lambda _: bytes(64))
    return lab.verifier(lab.es256).verify(token)


def _weak_key(make: Callable[[], KeyPair]) -> Callable[[AttackLab], VerificationResult]:
    def run(lab: AttackLab) -> VerificationResult:
        weak = make()
        token = lab.signed(weak, lab.claims(sub="admin"))  # the attacker cracked it offline
        try:
            verifier = lab.verifier(weak)
        except WeakKeyError as exc:
            return VerificationResult.rejected("weak_key", str(exc))
        return verifier.verify(token)

    return run


@cache
def _short_rsa_key() -> KeyPair:
    return generate_key(Algorithm.RS256, rsa_bits=1024)


def _oversized(lab: AttackLab) -> VerificationResult:
    token = lab.signed(lab.hs256, lab.claims(padding="A" * DEFAULT_MAX_TOKEN_BYTES))
    return lab.verifier(lab.hs256).verify(token)


def _duplicate_alg(lab: AttackLab) -> VerificationResult:
    header = b'{"alg":"HS256","typ":"JWT","alg":"none"}'
    return lab.verifier(lab.hs256).verify(forge(header, lab.claims(sub="admin")))


def _garbage(token: str) -> Callable[[AttackLab], VerificationResult]:
    def run(lab: AttackLab) -> VerificationResult:
        return lab.verifier(lab.hs256).verify(token)

    return run


def _json_array_header(lab: AttackLab) -> VerificationResult:
    return lab.verifier(lab.hs256).verify(forge(b'["HS256"]', lab.claims(), _signer(lab.hs256)))


def _attacks() -> Iterator[Attack]:
    for spelling in ("none", "None", "NONE", "nOnE"):
        yield Attack(
            f"alg_{spelling}",
            f"alg: {spelling!r} and no signature, so a naive verifier checks nothing.",
            "algorithm_not_allowed",
            _alg_none(spelling, with_signature=False),
        )
        yield Attack(
            f"alg_{spelling}_signed",
            f"alg: {spelling!r} with a real signature left in place.",
            "algorithm_not_allowed",
            _alg_none(spelling, with_signature=True),
        )
    yield from (
        Attack(
            "key_confusion_hs256",
            "HS256 keyed with the server's RSA public key PEM, sent to an RS256 verifier.",
            "algorithm_not_allowed",
            _key_confusion,
        ),
        Attack(
            "foreign_hs256_key",
            "A token signed with the attacker's own HS256 secret (and the server's kid).",
            "bad_signature",
            _foreign_key,
        ),
        Attack(
            "embedded_jwk",
            "Sign with the attacker's RSA key and embed its public key as a jwk header.",
            "bad_signature",
            _embedded_jwk,
        ),
        Attack(
            "kid_path_traversal",
            "kid '../../dev/null' so a file-based key lookup yields an empty HMAC key.",
            "unknown_key",
            _kid_traversal,
        ),
        Attack(
            "psychic_signature",
            "ES256 with an all-zero signature (r = s = 0, CVE-2022-21449).",
            "bad_signature",
            _psychic_signature,
        ),
        Attack(
            "expired",
            "A correctly signed token whose exp passed an hour ago.",
            "expired",
            _signed_claims(exp=_ago(3600), iat=_ago(4500)),
        ),
        Attack(
            "not_before_future",
            "A correctly signed token with nbf an hour in the future.",
            "not_yet_valid",
            _signed_claims(nbf=_ago(-3600)),
        ),
        Attack(
            "issued_in_future",
            "A correctly signed token with iat an hour in the future (a clock gone wrong).",
            "issued_in_future",
            _signed_claims(iat=_ago(-3600), exp=_ago(-7200)),
        ),
        Attack(
            "wrong_audience",
            "A genuine token minted for another service (aud), replayed here.",
            "wrong_audience",
            _signed_claims(aud="billing-api"),
        ),
        Attack(
            "wrong_issuer",
            "A token from another issuer (iss) that happens to share the key.",
            "wrong_issuer",
            _signed_claims(iss="https://evil.example"),
        ),
        Attack(
            "missing_exp",
            "A correctly signed token without exp: it would never expire.",
            "missing_claim",
            _signed_claims(exp=None),
        ),
        Attack(
            "non_numeric_exp",
            "exp: 'tomorrow', a string where a NumericDate belongs.",
            "invalid_claim_type",
            _signed_claims(exp="tomorrow"),
        ),
        Attack(
            "numeric_string_exp",
            "exp: '9999999999' as a string, which int() (and PyJWT alone) would accept.",
            "invalid_claim_type",
            _signed_claims(exp="9999999999"),
        ),
        Attack(
            "non_string_sub",
            "sub: 42, a number where a string belongs.",
            "invalid_claim_type",
            _signed_claims(sub=42),
        ),
        Attack(
            "tampered_payload",
            "Change sub to 'admin' and keep the original signature.",
            "bad_signature",
            _tampered_payload,
        ),
        Attack(
            "tampered_header",
            "Add a header field and keep the original signature.",
            "bad_signature",
            _tampered_header,
        ),
        Attack(
            "tampered_signature",
            "Change one character of the signature.",
            "bad_signature",
            _tampered_signature,
        ),
        Attack(
            "stripped_signature",
            "Keep header and claims, drop the signature (empty third part).",
            "bad_signature",
            _stripped_signature,
        ),
        Attack(
            "truncated",
            "Cut the token in the middle of the payload.",
            "malformed",
            _truncated,
        ),
        Attack(
            "wrong_typ",
            "A correctly signed token of another kind (typ: at+jwt), used as a login token.",
            "bad_type_header",
            _signed_header(typ="at+jwt"),
        ),
        Attack(
            "unknown_crit",
            "A critical header extension the verifier cannot understand (crit).",
            "unsupported_critical_header",
            _signed_header(
                crit=["urn:example:must-understand"], **{"urn:example:must-understand": 1}
            ),
        ),
        Attack(
            "duplicate_alg",
            "A header with alg twice (HS256, then none): parsers may pick different ones.",
            "malformed",
            _duplicate_alg,
        ),
        Attack(
            "oversized",
            f"A signed token padded past {DEFAULT_MAX_TOKEN_BYTES} bytes to burn CPU and memory.",
            "too_large",
            _oversized,
        ),
        Attack(
            "weak_hmac_secret",
            "A server configured with HS256 secret 'secret', cracked offline; tokens forged.",
            "weak_key",
            _weak_key(lambda: KeyPair.from_secret(b"secret")),
        ),
        Attack(
            "short_rsa_key",
            "A server configured with a 1024-bit RSA key (factorable); tokens forged.",
            "weak_key",
            _weak_key(_short_rsa_key),
        ),
        Attack(
            "garbage_empty",
            "An empty token.",
            "malformed",
            _garbage(""),
        ),
        Attack(
            "garbage_text",
            "Plain text that is not a token at all.",
            "malformed",
            _garbage("Bearer let-me-in"),
        ),
        Attack(
            "garbage_dots",
            "Only separators.",
            "malformed",
            _garbage(".."),
        ),
        Attack(
            "garbage_five_parts",
            "Five parts, like an encrypted JWE.",
            "malformed",
            _garbage("eyJhbGciOiJIUzI1NiJ9.e30.e30.e30.e30"),
        ),
        Attack(
            "garbage_non_ascii",
            "Non-ASCII characters in every part.",
            "malformed",
            _garbage("ключ.ключ.ключ"),
        ),
        Attack(
            "garbage_header_not_object",
            "A header that is JSON but not an object, correctly signed.",
            "malformed",
            _json_array_header,
        ),
    )


ATTACKS: Final[tuple[Attack, ...]] = tuple(_attacks())
"""The attack catalogue; names are unique."""


def run_attacks(
    attacks: Sequence[Attack] = ATTACKS, *, lab: AttackLab | None = None
) -> list[AttackOutcome]:
    """Run each attack against a fresh :class:`AttackLab` (or ``lab``)."""
    lab = lab if lab is not None else AttackLab.create()
    outcomes: list[AttackOutcome] = []
    for attack in attacks:
        try:
            result = attack.run(lab)
        except Exception as exc:  # a broken attack proves nothing: not counted as rejected
            rejected, reason = False, f"attack_failed: {type(exc).__name__}: {exc}"
        else:
            rejected, reason = not result.valid, result.reason
        outcomes.append(
            AttackOutcome(attack.name, attack.description, rejected, reason, attack.expected_reason)
        )
    return outcomes


def time_claim_notes(claims: Mapping[str, Any], now: float | None = None) -> dict[str, str]:
    """``exp``, ``iat`` and ``nbf`` in words (UTC date, how far from ``now``), for display.

    Values that are not NumericDates are described as such; never raises.
    """
    current = time.time() if now is None else now
    notes: dict[str, str] = {}
    for name in ("iat", "nbf", "exp"):
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            notes[name] = f"not a NumericDate ({type(value).__name__})"
            continue
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
        except (OverflowError, ValueError, OSError):
            notes[name] = "out of range"
            continue
        delta = float(value) - current
        notes[name] = f"{stamp} ({_duration(delta)})"
    return notes


def _duration(delta_s: float) -> str:
    seconds = round(abs(delta_s))
    if seconds == 0:
        return "now"
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    text = " ".join(parts[:2])
    return f"in {text}" if delta_s > 0 else f"{text} ago"
