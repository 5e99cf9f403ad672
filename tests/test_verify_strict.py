"""The tightened verifier (issue #20): a strict payload, a maximum lifetime, a ``jti``
denylist, a key set for rotation, and optionally refusing high-s ES256 signatures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from simulator.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    REASONS,
    Algorithm,
    KeyPair,
    Verifier,
    WeakKeyError,
    forge,
    generate_key,
    issue_token,
)
from simulator.tokens.encoding import b64url_decode_lenient, b64url_encode
from simulator.tokens.lab import signer
from simulator.tokens.verify import P256_ORDER

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def hs256() -> KeyPair:
    return generate_key(Algorithm.HS256)


@pytest.fixture(scope="module")
def es256() -> KeyPair:
    return generate_key(Algorithm.ES256)


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "alice",
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "iat": int(T0),
        "exp": int(T0) + 100,
        "jti": "j-1",
    }
    claims.update(changes)
    return claims


def _header(key: KeyPair) -> dict[str, Any]:
    return {"alg": key.algorithm.value, "kid": key.kid, "typ": "JWT"}


def _issue(key: KeyPair, ttl_s: float = 100, **kwargs: Any) -> str:
    return issue_token(
        key, "alice", ttl_s, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, now=T0, **kwargs
    )


def _verifier(key: KeyPair | dict[str, KeyPair], **kwargs: Any) -> Verifier:
    return Verifier(key, clock=lambda: T0, **kwargs)


def test_every_new_reason_has_a_sentence() -> None:
    for reason in ("lifetime_too_long", "revoked", "high_s_signature"):
        assert REASONS[reason].endswith(".")


# ------------------------------------------------------------------ strict payload

_VALID_BODY = json.dumps(_claims()).encode()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (_VALID_BODY[:-1] + b', "sub": "mallory"}', "duplicate member 'sub'"),
        (_VALID_BODY[:-1] + b', "aud": "elsewhere"}', "duplicate member 'aud'"),
        (b'{"sub": "a", "sub": "a"}', "duplicate member 'sub'"),
        (b"\xef\xbb\xbf" + _VALID_BODY, "byte order mark"),
        (_VALID_BODY.replace(b'"alice"', b'"al\xffice"'), "not UTF-8"),
        (_VALID_BODY.replace(b'"alice"', b'"al\xc3"'), "not UTF-8"),
        (json.dumps(_claims()).encode("utf-16"), "not UTF-8"),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_the_payload_is_parsed_strictly(body: bytes, detail: str, hs256: KeyPair) -> None:
    token = forge(_header(hs256), body, signer(hs256))
    result = _verifier(hs256).verify(token)
    assert (result.valid, result.reason) == (False, "malformed")
    assert "payload" in result.detail and detail in result.detail


def test_duplicate_nested_members_are_refused_too(hs256: KeyPair) -> None:
    body = _VALID_BODY[:-1] + b', "roles": {"admin": false, "admin": true}}'
    result = _verifier(hs256).verify(forge(_header(hs256), body, signer(hs256)))
    assert result.reason == "malformed" and "'admin'" in result.detail


def test_a_header_with_a_bom_names_it(hs256: KeyPair) -> None:
    header = b"\xef\xbb\xbf" + json.dumps(_header(hs256)).encode()
    result = _verifier(hs256).verify(forge(header, _claims(), signer(hs256)))
    assert result.reason == "malformed" and "header starts with" in result.detail


def test_a_strict_payload_with_non_ascii_text_is_accepted(hs256: KeyPair) -> None:
    body = json.dumps(_claims(sub="zoë 名前"), ensure_ascii=False).encode("utf-8")
    result = _verifier(hs256).verify(forge(_header(hs256), body, signer(hs256)))
    assert result.valid and result.claims is not None and result.claims["sub"] == "zoë 名前"


# ----------------------------------------------------------------- max lifetime


@pytest.mark.parametrize(
    ("ttl_s", "max_lifetime_s", "reason"),
    [
        (100, None, "ok"),
        (100, 100, "ok"),
        (100, 99.5, "lifetime_too_long"),
        (86_400 * 365, 3_600, "lifetime_too_long"),
        (900, 3_600, "ok"),
    ],
)
def test_the_maximum_lifetime(
    ttl_s: float, max_lifetime_s: float | None, reason: str, hs256: KeyPair
) -> None:
    verifier = _verifier(hs256, max_lifetime_s=max_lifetime_s)
    assert verifier.verify(_issue(hs256, ttl_s)).reason == reason


def test_the_maximum_lifetime_uses_iat_not_now(hs256: KeyPair) -> None:
    # Issued long ago with a very long lifetime: still within exp, but refused.
    body = _claims(iat=int(T0) - 10 * 86_400, exp=int(T0) + 60)
    token = forge(_header(hs256), body, signer(hs256))
    assert _verifier(hs256).verify(token).valid
    result = _verifier(hs256, max_lifetime_s=86_400).verify(token)
    assert result.reason == "lifetime_too_long" and "864060 s" in result.detail


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_a_bad_maximum_lifetime_is_refused(value: float, hs256: KeyPair) -> None:
    with pytest.raises(ValueError, match="max_lifetime_s"):
        Verifier(hs256, max_lifetime_s=value)


# ----------------------------------------------------------------- revocation


@pytest.mark.parametrize(
    "denylist",
    [
        {"j-1"},
        frozenset({"j-1", "j-2"}),
        ["j-0", "j-1"],
        lambda jti: jti == "j-1",
    ],
)
def test_a_denied_jti_is_revoked(denylist: Any, hs256: KeyPair) -> None:
    verifier = _verifier(hs256, denylist=denylist)
    assert verifier.verify(_issue(hs256, jti="j-1")).reason == "revoked"
    assert verifier.verify(_issue(hs256, jti="j-3")).valid


def test_the_denylist_is_read_at_every_verification(hs256: KeyPair) -> None:
    revoked: set[str] = set()
    verifier = _verifier(hs256, denylist=revoked)
    token = _issue(hs256, jti="later")
    assert verifier.verify(token).valid
    revoked.add("later")
    assert verifier.verify(token).reason == "revoked"


def test_the_denylist_is_consulted_only_for_authentic_tokens(hs256: KeyPair) -> None:
    seen: list[str] = []

    def denied(jti: str) -> bool:
        seen.append(jti)
        return False

    verifier = _verifier(hs256, denylist=denied)
    forged = forge(_header(hs256), _claims(jti="probe"), signer(generate_key("HS256")))
    assert verifier.verify(forged).reason == "bad_signature"
    assert seen == []
    assert verifier.verify(_issue(hs256, jti="real")).valid
    assert seen == ["real"]


def _raises(jti: str) -> bool:
    raise ConnectionError("the store is down")


@pytest.mark.parametrize(
    "denylist",
    [_raises, lambda jti: None, lambda jti: 1, lambda jti: "no"],
)
def test_a_failing_denylist_fails_closed(denylist: Callable[[str], Any], hs256: KeyPair) -> None:
    result = _verifier(hs256, denylist=denylist).verify(_issue(hs256))
    assert (result.valid, result.reason) == (False, "verification_error")


def test_a_string_is_not_a_denylist(hs256: KeyPair) -> None:
    with pytest.raises(TypeError, match="not a string"):
        Verifier(hs256, denylist="j-1")


def test_a_token_without_jti_is_refused_with_a_denylist(hs256: KeyPair) -> None:
    body = _claims()
    del body["jti"]
    token = forge(_header(hs256), body, signer(hs256))
    assert _verifier(hs256, denylist=set()).verify(token).reason == "missing_claim"


# ----------------------------------------------------------------- key sets


@pytest.fixture(scope="module")
def rotation() -> tuple[KeyPair, KeyPair]:
    return generate_key(Algorithm.ES256), generate_key(Algorithm.ES256)


def test_a_key_set_verifies_both_keys_of_a_rotation(rotation: tuple[KeyPair, KeyPair]) -> None:
    old, new = rotation
    keys = {new.kid: new.public_only(), old.kid: old.public_only()}
    verifier = _verifier(keys)
    assert verifier.key_set and verifier.key is keys[new.kid]
    assert verifier.algorithm is Algorithm.ES256
    for key in (old, new):
        result = verifier.verify(_issue(key))
        assert result.valid, result.detail
    # After the overlap: the old key is dropped.
    assert _verifier({new.kid: new}).verify(_issue(old)).reason == "unknown_key"


def test_the_kid_selects_the_key(rotation: tuple[KeyPair, KeyPair]) -> None:
    old, new = rotation
    verifier = _verifier({old.kid: old, new.kid: new})
    signed_by_old_named_new = forge({**_header(old), "kid": new.kid}, _claims(), signer(old))
    assert verifier.verify(signed_by_old_named_new).reason == "bad_signature"


def test_a_key_set_needs_a_kid(rotation: tuple[KeyPair, KeyPair]) -> None:
    old, new = rotation
    header = {"alg": "ES256", "typ": "JWT"}
    token = forge(header, _claims(), signer(new))
    assert _verifier(new).verify(token).valid  # one key: kid optional, as before
    result = _verifier({old.kid: old, new.kid: new}).verify(token)
    assert result.reason == "unknown_key" and "no kid" in result.detail
    unknown = forge({**header, "kid": "nobody"}, _claims(), signer(new))
    assert _verifier({new.kid: new}).verify(unknown).reason == "unknown_key"


def test_a_key_set_binds_one_algorithm(hs256: KeyPair, es256: KeyPair) -> None:
    verifier = _verifier({es256.kid: es256})
    forged = forge({"alg": "HS256", "kid": es256.kid}, _claims(), signer(hs256))
    assert verifier.verify(forged).reason == "algorithm_not_allowed"
    with pytest.raises(ValueError, match="one algorithm"):
        Verifier({es256.kid: es256, hs256.kid: hs256})


def test_a_bad_key_set_is_refused(hs256: KeyPair) -> None:
    with pytest.raises(ValueError, match="empty"):
        Verifier({})
    with pytest.raises(ValueError, match="filed under"):
        Verifier({"other": hs256})
    with pytest.raises(TypeError):
        Verifier({hs256.kid: "secret"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        Verifier(b"secret")  # type: ignore[arg-type]
    weak = KeyPair.from_secret(b"short")
    with pytest.raises(WeakKeyError):
        Verifier({hs256.kid: hs256, weak.kid: weak})


# ----------------------------------------------------------------- high-s ES256


def _with_s(token: str, s: int) -> str:
    signing_input, _, signature = token.rpartition(".")
    raw = b64url_decode_lenient(signature)
    return f"{signing_input}.{b64url_encode(raw[:32] + s.to_bytes(32, 'big'))}"


def _low_and_high(token: str) -> tuple[str, str]:
    s = int.from_bytes(b64url_decode_lenient(token.rpartition(".")[2])[32:], "big")
    low = min(s, P256_ORDER - s)
    return _with_s(token, low), _with_s(token, P256_ORDER - low)


def test_both_forms_of_an_ecdsa_signature_verify_by_default(es256: KeyPair) -> None:
    low, high = _low_and_high(_issue(es256))
    assert low != high
    assert _verifier(es256).verify(low).valid
    assert _verifier(es256).verify(high).valid  # malleable: why the option exists


def test_reject_high_s(es256: KeyPair) -> None:
    verifier = _verifier(es256, reject_high_s=True)
    low, high = _low_and_high(_issue(es256))
    assert verifier.verify(low).valid
    result = verifier.verify(high)
    assert (result.valid, result.reason) == (False, "high_s_signature")
    short = low.rpartition(".")[0] + "." + b64url_encode(b"\x01" * 10)
    assert verifier.verify(short).reason == "bad_signature"


def test_pyjwt_signs_high_s_about_half_the_time(es256: KeyPair) -> None:
    """Why ``reject_high_s`` is off by default: it would refuse honest tokens."""
    verifier = _verifier(es256, reject_high_s=True)
    reasons = {verifier.verify(_issue(es256, jti=f"j{i}")).reason for i in range(64)}
    assert reasons == {"ok", "high_s_signature"}  # all-low has probability 2**-64


def test_reject_high_s_needs_an_es256_key(hs256: KeyPair) -> None:
    with pytest.raises(ValueError, match="ES256 only"):
        Verifier(hs256, reject_high_s=True)
