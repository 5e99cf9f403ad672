"""The verifier (:class:`Verifier`), following RFC 8725 (JWT BCP) and the OWASP JWT cheat sheet.

1. a size cap (default 8 KiB) before anything is decoded;
2. a strict compact form: ASCII, three parts, canonical unpadded base64url, and a
   header and a payload that are each one JSON object in UTF-8, without a byte order
   mark and without duplicate members (RFC 8725 §3.7: two ``sub`` claims must not be
   read one way here and another way elsewhere), parsed by the same strict parser;
3. the algorithm is bound to the key: the token's ``alg`` must equal the key's one
   algorithm, compared exactly; it is never used to choose the algorithm or the key
   (so ``none`` in any spelling and HS256-with-the-RSA-public-key are refused);
4. ``typ``: ``JWT`` (also ``application/jwt``, compared case-insensitively as
   RFC 7515 §4.1.9 says) or absent; any other value is refused. Reading of RFC 8725
   §3.11 ("explicit typing"): its point is that a JWT minted for another purpose
   (``at+jwt``, ``secevent+jwt``, ``dpop+jwt``...) must not be accepted as one of
   ours, so every *other* ``typ`` is refused; RFC 7519 §5.1 makes ``typ`` optional for
   plain JWTs, so its absence is accepted by default (``require_typ=True`` insists on
   it; :func:`~simulator.tokens.issue.issue_token` always writes it);
5. ``crit``: this verifier implements no header extension, so any ``crit`` (and the
   RFC 7797 ``b64`` parameter) is refused; ``kid`` must name the verifier's key (with
   one key, ``kid`` may be absent; with a key set it is required and selects the key);
   ``jku``, ``x5u``, ``jwk`` and ``x5c`` are never used to find a key;
6. the signature (PyJWT, with ``enforce_minimum_key_length``); optionally, and before
   it is checked, an ES256 signature with a high ``s`` (above half the group order) is
   refused (``reject_high_s``);
7. the claims: ``exp``, ``iat``, ``sub``, ``iss``, ``aud`` and ``jti`` are required;
   issuer and audience must match; ``sub`` and ``jti`` are non-empty strings;
   ``exp``, ``iat`` and ``nbf`` are JSON numbers (not strings, not booleans), checked
   here against an injectable clock with a small leeway (default 30 s); optionally a
   maximum lifetime ``exp - iat`` (``max_lifetime_s``);
8. optionally, revocation: a ``jti`` on a denylist (a set, or a callable) is refused.

Keys below the minimum strength (HMAC secret < 32 bytes, RSA < 2048 bits) are refused
when the verifier is built (:class:`~simulator.tokens.keys.WeakKeyError`). ``verify``
never raises: every failure, from PyJWT or from malformed input, becomes one short
reason code (:data:`REASONS` holds a sentence for each).

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
import json
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from jwt.types import Options

from simulator.tokens.claims import DEFAULT_AUDIENCE, DEFAULT_ISSUER, REQUIRED_CLAIMS
from simulator.tokens.encoding import B64URL_CHARS, b64url_encode
from simulator.tokens.keys import (
    MIN_HMAC_SECRET_BYTES,
    MIN_RSA_BITS,
    Algorithm,
    KeyPair,
    require_strong_key,
)

DEFAULT_LEEWAY_S: Final = 30.0
MAX_LEEWAY_S: Final = 300.0
"""A verifier refuses a larger leeway: clock skew is seconds, not a token's lifetime."""
DEFAULT_MAX_TOKEN_BYTES: Final = 8 * 1024

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
    "unknown_key": (
        "The token's kid names a key this verifier does not hold (or, with a key set, "
        "the token has no kid)."
    ),
    "bad_signature": (
        "The signature does not match the header and claims: the token was forged or altered."
    ),
    "high_s_signature": (
        "The ES256 signature has a high s (above half the curve order): a malleable form "
        "this verifier was told to refuse."
    ),
    "weak_key": (
        f"The key is below the minimum strength (HMAC secret >= {MIN_HMAC_SECRET_BYTES} "
        f"bytes, RSA >= {MIN_RSA_BITS} bits), so it is refused."
    ),
    "unusable_key": "The verifier's key cannot be used with this algorithm.",
    "expired": "The token's exp is in the past, beyond the allowed clock leeway.",
    "not_yet_valid": "The token's nbf is in the future, beyond the allowed clock leeway.",
    "issued_in_future": "The token's iat is in the future, beyond the allowed clock leeway.",
    "lifetime_too_long": (
        "The token's lifetime (exp - iat) is longer than this verifier's maximum."
    ),
    "revoked": "The token's jti is on the verifier's denylist: it was revoked.",
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

P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""n, the order of the P-256 group: an ES256 ``s`` above ``n // 2`` is "high"."""

Denylist: TypeAlias = Collection[str] | Callable[[str], bool]
"""Revoked ``jti`` values: a collection (``jti in denylist``) or a callable that returns
``True`` for a revoked ``jti``."""


def describe_reason(reason: str) -> str:
    """The sentence for a reason code (the code itself when it is unknown)."""
    return REASONS.get(reason, reason)


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


def _strict_b64url(segment: str, name: str) -> bytes:
    """Canonical, unpadded base64url (RFC 7515 §2), or a ``malformed`` rejection."""
    if len(segment) % 4 == 1 or not B64URL_CHARS.issuperset(segment):
        raise _Rejection("malformed", f"the {name} is not unpadded base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if b64url_encode(data) != segment:
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
    """One JSON object in UTF-8 (RFC 8259 §8.1: no byte order mark), without duplicate
    members or non-JSON constants (``NaN``), or a ``malformed`` rejection."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise _Rejection("malformed", f"the {name} starts with a UTF-8 byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Rejection("malformed", f"the {name} is not UTF-8") from None
    try:
        value = json.loads(
            text,
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
    """Checks tokens against one key (or a key set), one issuer and one audience.

    Args:
        key: the key, whose algorithm is the only one accepted; or a key set, a mapping
            ``kid -> key`` (for a rotation, the old and the new key both verify while
            the overlap lasts). With a key set, every key must have the same algorithm
            and be filed under its own ``kid``; a token must carry a ``kid`` header,
            which selects the key (a token without ``kid``, or with one the set does not
            hold, is refused as ``unknown_key``).
        issuer: the trusted ``iss``.
        audience: this service's name, which ``aud`` must contain.
        leeway_s: clock skew allowed on ``exp``, ``nbf`` and ``iat``, seconds (0 to
            :data:`MAX_LEEWAY_S`).
        max_token_bytes: the size cap, checked before any decoding.
        require_typ: refuse tokens without a ``typ`` header (a ``typ`` other than
            ``JWT`` is always refused).
        clock: the current time, seconds since the epoch (injectable for tests).
        max_lifetime_s: refuse a token whose lifetime ``exp - iat``, seconds, is longer
            (no leeway: both times come from the issuer's clock); ``None``: no maximum.
        denylist: revoked ``jti`` values (a collection, or a callable returning ``True``
            for a revoked one), consulted last, only for an otherwise valid token; a
            callable that raises makes the token refused (fail closed). ``jti`` is a
            required claim, so a token without one is refused whether or not a denylist
            is given (``missing_claim``).
        reject_high_s: refuse ES256 signatures whose ``s`` is above half the group order
            (the malleable twin of every ECDSA signature); ES256 keys only. Off by
            default: ``cryptography`` signs with a random ``s``, so about half of the
            tokens PyJWT signs (this project's included) have a high one.

    Raises:
        TypeError: a key that is not a KeyPair, or a string given as the denylist.
        WeakKeyError: a key is below the minimum strength.
        ValueError: an empty issuer, audience or key set, keys of different algorithms or
            filed under another ``kid``, a leeway, cap or lifetime out of range, or
            ``reject_high_s`` with a key that is not ES256.
    """

    def __init__(
        self,
        key: KeyPair | Mapping[str, KeyPair],
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway_s: float = DEFAULT_LEEWAY_S,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        require_typ: bool = False,
        clock: Callable[[], float] = time.time,
        max_lifetime_s: float | None = None,
        denylist: Denylist | None = None,
        reject_high_s: bool = False,
    ) -> None:
        self.keys: Mapping[str, KeyPair] = _key_set(key)
        self.key_set = not isinstance(key, KeyPair)
        """Whether the verifier holds a key set (``kid`` then required)."""
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string")
        if not (math.isfinite(leeway_s) and 0 <= leeway_s <= MAX_LEEWAY_S):
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY_S:g} s, got {leeway_s}")
        if max_token_bytes < 64:
            raise ValueError(f"max_token_bytes must be at least 64, got {max_token_bytes}")
        if max_lifetime_s is not None and not (
            math.isfinite(max_lifetime_s) and max_lifetime_s > 0
        ):
            raise ValueError(f"max_lifetime_s must be a positive number, got {max_lifetime_s}")
        if isinstance(denylist, str | bytes):  # a string "contains" every substring
            raise TypeError("denylist must be a collection of jti or a callable, not a string")
        if reject_high_s and self.algorithm is not Algorithm.ES256:
            raise ValueError(f"reject_high_s applies to ES256 only, not {self.algorithm.value}")
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = float(leeway_s)
        self.max_token_bytes = max_token_bytes
        self.require_typ = require_typ
        self.clock = clock
        self.max_lifetime_s = None if max_lifetime_s is None else float(max_lifetime_s)
        self.denylist = denylist
        self.reject_high_s = reject_high_s

    @property
    def key(self) -> KeyPair:
        """The verifier's key; for a key set, the first in the mapping's order."""
        return next(iter(self.keys.values()))

    @property
    def algorithm(self) -> Algorithm:
        """The one algorithm this verifier accepts (its keys')."""
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
        key = self._check_header(header)
        _strict_json_object(_strict_b64url(parts[1], "payload"), "payload")
        signature = _strict_b64url(parts[2], "signature")
        if self.reject_high_s:
            _check_low_s(signature)
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
            key=key.verification_key,
            algorithms=[key.algorithm.value],
            options=options,
            audience=self.audience,
            issuer=self.issuer,
        )
        claims: dict[str, Any] = decoded["payload"]
        self._check_claims(claims)
        self._check_revocation(claims["jti"])
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

    def _check_header(self, header: dict[str, Any]) -> KeyPair:
        """Check the header; returns the key that must verify the signature."""
        alg = header.get("alg")
        expected = self.algorithm.value
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
        if "kid" not in header:
            if self.key_set:
                raise _Rejection("unknown_key", "no kid header, and this verifier holds a key set")
            return self.key
        kid = header["kid"]
        if not isinstance(kid, str):
            raise _Rejection("malformed", "kid is not a string")
        key = self.keys.get(kid)
        if key is None:
            known = ", ".join(repr(name) for name in self.keys)
            raise _Rejection("unknown_key", f"kid {kid[:40]!r} is not {known}")
        return key

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
        if self.max_lifetime_s is not None and exp is not None:
            # iat is a required claim; exp - now covers a token without one all the same.
            lifetime = exp - (iat if iat is not None else now)
            if lifetime > self.max_lifetime_s:
                raise _Rejection(
                    "lifetime_too_long",
                    f"exp - iat is {lifetime:.0f} s > {self.max_lifetime_s:g} s",
                )

    def _check_revocation(self, jti: str) -> None:
        """Refuse a revoked ``jti``; a denylist that fails, or a callable that answers
        anything but ``True`` or ``False``, refuses the token too (fail closed)."""
        denylist = self.denylist
        if denylist is None:
            return
        try:
            revoked = denylist(jti) if callable(denylist) else jti in denylist
        except Exception as exc:
            raise _Rejection(
                "verification_error", f"the denylist failed: {type(exc).__name__}"
            ) from None
        if revoked is True:
            raise _Rejection("revoked", f"jti {jti[:40]!r} is on the denylist")
        if revoked is not False:
            raise _Rejection("verification_error", "the denylist did not answer True or False")


def _key_set(key: KeyPair | Mapping[str, KeyPair]) -> dict[str, KeyPair]:
    """The verifier's keys by ``kid``, each strong, all of one algorithm."""
    if isinstance(key, KeyPair):
        require_strong_key(key)
        return {key.kid: key}
    if not isinstance(key, Mapping):
        raise TypeError("key must be a KeyPair or a mapping kid -> KeyPair")
    keys = dict(key)
    if not keys:
        raise ValueError("the key set is empty")
    algorithms: set[str] = set()
    for kid, member in keys.items():
        if not isinstance(member, KeyPair):
            raise TypeError("every key of a key set must be a KeyPair")
        if kid != member.kid:
            raise ValueError(f"key set: the key {member.kid!r} is filed under kid {kid!r}")
        require_strong_key(member)
        algorithms.add(member.algorithm.value)
    if len(algorithms) > 1:
        raise ValueError(f"key set: one algorithm only, got {', '.join(sorted(algorithms))}")
    return keys


def _check_low_s(signature: bytes) -> None:
    """Refuse an ES256 signature (``r || s``, 32 bytes each) whose ``s`` is above n / 2.

    A signature of another length is left to PyJWT, which refuses it."""
    if len(signature) != 64:
        return
    s = int.from_bytes(signature[32:], "big")
    if s > P256_ORDER // 2:
        raise _Rejection("high_s_signature", "s > n/2; the low-s form is n - s")


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
