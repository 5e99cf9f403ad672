"""simulator.tokens: keys, issuing, the RFC 8725 verifier, decoding and the attack catalogue."""

from __future__ import annotations

import itertools
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import tokens
from simulator.tokens import (
    ATTACKS,
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_MAX_TOKEN_BYTES,
    REASONS,
    REQUIRED_CLAIMS,
    Algorithm,
    AttackLab,
    KeyPair,
    TokenKeyError,
    UnverifiedToken,
    VerificationResult,
    Verifier,
    WeakKeyError,
    decode_unverified,
    forge,
    generate_key,
    issue_token,
    load_key,
    load_or_create_key,
    load_private_key_pem,
    load_public_key_pem,
    private_key_pem,
    public_key_pem,
    run_attacks,
    sample_token,
    save_key,
    time_claim_notes,
)
from simulator.tokens import issue as issue_module
from simulator.tokens import verify as verify_module
from simulator.tokens.encoding import b64url_encode
from simulator.tokens.keys import MAX_KEY_FILE_BYTES, key_files
from simulator.tokens.lab import signer

T0 = 1_700_000_000.0
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(scope="module")
def keys() -> dict[Algorithm, KeyPair]:
    return {algorithm: generate_key(algorithm) for algorithm in Algorithm}


@pytest.fixture(scope="module")
def lab() -> AttackLab:
    return AttackLab.create()


def _issue(key: KeyPair, now: float = T0, ttl_s: float = 100, **kwargs: Any) -> str:
    return issue_token(
        key, "alice", ttl_s, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, now=now, **kwargs
    )


def _verifier(key: KeyPair, now: float = T0, **kwargs: Any) -> Verifier:
    return Verifier(key.public_only(), clock=lambda: now, **kwargs)


# ----------------------------------------------------------------------- attacks


def test_the_catalogue_has_unique_names_known_reasons_and_the_required_cases() -> None:
    names = [attack.name for attack in ATTACKS]
    assert len(names) == len(set(names))
    assert all(attack.expected_reason in REASONS for attack in ATTACKS)
    assert all(attack.expected_reason != "ok" for attack in ATTACKS)
    required = {
        *(f"alg_{spelling}" for spelling in ("none", "None", "NONE", "nOnE")),
        *(f"alg_{spelling}_signed" for spelling in ("none", "None", "NONE", "nOnE")),
        "key_confusion_hs256",
        "expired",
        "not_before_future",
        "wrong_audience",
        "wrong_issuer",
        "tampered_payload",
        "tampered_header",
        "stripped_signature",
        "truncated",
        "garbage_empty",
        "garbage_text",
        "weak_hmac_secret",
        "oversized",
        "unknown_crit",
        "non_numeric_exp",
    }
    assert required <= set(names)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_every_attack_is_rejected_with_its_expected_reason(
    attack: tokens.Attack, lab: AttackLab
) -> None:
    (outcome,) = run_attacks([attack], lab=lab)
    assert outcome.rejected, outcome
    assert outcome.reason == attack.expected_reason, outcome
    assert outcome.as_expected


def test_run_attacks_runs_the_whole_catalogue_on_fresh_keys() -> None:
    outcomes = run_attacks()
    assert [outcome.name for outcome in outcomes] == [attack.name for attack in ATTACKS]
    assert all(outcome.as_expected for outcome in outcomes)


def test_a_broken_attack_counts_as_not_rejected(lab: AttackLab) -> None:
    def broken(_: AttackLab) -> VerificationResult:
        raise RuntimeError("bug in the attack")

    attack = tokens.Attack("broken", "raises", "bad_signature", broken)
    (outcome,) = run_attacks([attack], lab=lab)
    assert not outcome.rejected
    assert not outcome.as_expected


# ------------------------------------------------------------- valid and cross-alg


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_a_valid_token_of_every_algorithm_verifies(
    algorithm: Algorithm, keys: dict[Algorithm, KeyPair]
) -> None:
    key = keys[algorithm]
    token = _issue(key, jti="id-1", extra_claims={"role": "reader"})
    result = _verifier(key, now=T0 + 1).verify(token)
    assert result == VerificationResult(True, "ok", result.claims)
    assert result.claims == {
        "sub": "alice",
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "iat": int(T0),
        "exp": int(T0) + 100,
        "jti": "id-1",
        "role": "reader",
    }
    assert jwt.get_unverified_header(token) == {
        "alg": algorithm.value,
        "kid": key.kid,
        "typ": "JWT",
    }


@pytest.mark.parametrize(
    ("verifying", "signing"),
    list(itertools.permutations(Algorithm, 2)),
    ids=lambda algorithm: algorithm.value,
)
def test_a_key_never_verifies_a_token_of_another_algorithm(
    verifying: Algorithm, signing: Algorithm, keys: dict[Algorithm, KeyPair]
) -> None:
    token = _issue(keys[signing])
    result = _verifier(keys[verifying]).verify(token)
    assert not result.valid
    assert result.reason == "algorithm_not_allowed"


@pytest.mark.parametrize(("bound", "other"), [("RS256", "PS256"), ("PS256", "RS256")])
def test_the_same_rsa_key_is_bound_to_one_padding(
    bound: str, other: str, keys: dict[Algorithm, KeyPair]
) -> None:
    key = keys[Algorithm(bound)]
    assert key.signing_key is not None and not isinstance(key.signing_key, bytes)
    twin = KeyPair.from_private_key(other, key.signing_key)
    assert twin.kid == key.kid  # the same RSA key, so the same thumbprint
    token = _issue(twin)
    assert _verifier(twin).verify(token).valid
    assert _verifier(key).verify(token).reason == "algorithm_not_allowed"


def test_a_token_signed_with_another_key_of_the_same_algorithm_fails(
    keys: dict[Algorithm, KeyPair],
) -> None:
    other = generate_key(Algorithm.ES256)
    token = _issue(other)
    assert _verifier(keys[Algorithm.ES256]).verify(token).reason == "unknown_key"
    without_kid = KeyPair(Algorithm.ES256, other.signing_key, other.verification_key, "same")
    token = _issue(without_kid)
    same_kid = KeyPair(Algorithm.ES256, None, keys[Algorithm.ES256].verification_key, "same")
    assert Verifier(same_kid, clock=lambda: T0).verify(token).reason == "bad_signature"


# ------------------------------------------------------------------------- leeway


@pytest.mark.parametrize(
    ("leeway", "offset", "valid"),
    [
        (30.0, 129.0, True),
        (30.0, 129.999, True),
        (30.0, 130.0, False),
        (0.0, 99.999, True),
        (0.0, 100.0, False),
    ],
)
def test_exp_leeway_edges(
    leeway: float, offset: float, valid: bool, keys: dict[Algorithm, KeyPair]
) -> None:
    token = _issue(keys[Algorithm.HS256])  # exp = T0 + 100
    result = _verifier(keys[Algorithm.HS256], now=T0 + offset, leeway_s=leeway).verify(token)
    assert result.valid is valid
    assert result.reason == ("ok" if valid else "expired")


@pytest.mark.parametrize(
    ("leeway", "offset", "valid"),
    [(30.0, 70.0, True), (30.0, 69.5, False), (0.0, 100.0, True), (0.0, 99.5, False)],
)
def test_nbf_and_iat_leeway_edges(
    leeway: float, offset: float, valid: bool, keys: dict[Algorithm, KeyPair]
) -> None:
    key = keys[Algorithm.HS256]
    verifier = _verifier(key, now=T0 + offset, leeway_s=leeway)
    not_before = _issue(key, ttl_s=1000, extra_claims={"nbf": int(T0) + 100})
    issued_later = _issue(key, now=T0 + 100)
    assert verifier.verify(not_before).reason == ("ok" if valid else "not_yet_valid")
    assert verifier.verify(issued_later).reason == ("ok" if valid else "issued_in_future")


@pytest.mark.parametrize("leeway", [-1.0, tokens.MAX_LEEWAY_S + 1, float("nan"), float("inf")])
def test_a_leeway_out_of_range_is_refused(leeway: float, keys: dict[Algorithm, KeyPair]) -> None:
    with pytest.raises(ValueError, match="leeway"):
        Verifier(keys[Algorithm.HS256], leeway_s=leeway)


def test_the_default_leeway_is_30_seconds(keys: dict[Algorithm, KeyPair]) -> None:
    assert Verifier(keys[Algorithm.HS256]).leeway_s == 30.0


# ------------------------------------------------------------------ size and keys


def test_the_size_cap_is_checked_before_anything_is_decoded(
    keys: dict[Algorithm, KeyPair], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = keys[Algorithm.HS256]
    big = _issue(key, extra_claims={"padding": "x" * DEFAULT_MAX_TOKEN_BYTES})

    def boom(*args: object, **kwargs: object) -> Any:
        raise AssertionError("decoded an oversized token")

    monkeypatch.setattr(verify_module._PYJWT, "decode_complete", boom)
    monkeypatch.setattr(verify_module, "_strict_b64url", boom)
    monkeypatch.setattr(verify_module, "_strict_json_object", boom)
    verifier = _verifier(key)
    for token in (big, big.encode(), "!" * (DEFAULT_MAX_TOKEN_BYTES + 1), "é" * 10_000):
        result = verifier.verify(token)
        assert (result.valid, result.reason) == (False, "too_large")


def test_the_size_cap_is_configurable_and_inclusive(keys: dict[Algorithm, KeyPair]) -> None:
    key = keys[Algorithm.HS256]
    token = _issue(key)
    assert _verifier(key, max_token_bytes=len(token)).verify(token).valid
    assert _verifier(key, max_token_bytes=len(token) - 1).verify(token).reason == "too_large"
    garbage = "!" * DEFAULT_MAX_TOKEN_BYTES  # at the cap: decoded, then found malformed
    assert _verifier(key).verify(garbage).reason == "malformed"


@pytest.mark.parametrize("length", [0, 1, 6, 31])
def test_a_weak_hmac_secret_is_refused(length: int) -> None:
    if length == 0:
        with pytest.raises(TokenKeyError):
            KeyPair.from_secret(b"")
        return
    weak = KeyPair.from_secret(b"k" * length)
    assert tokens.key_strength_problem(weak) is not None
    with pytest.raises(WeakKeyError, match=f"{length} bytes"):
        Verifier(weak)
    with pytest.raises(WeakKeyError):
        issue_token(weak, "alice", 60, issuer="i", audience="a")


def test_a_32_byte_secret_is_enough() -> None:
    key = KeyPair.from_secret(b"k" * 32)
    assert tokens.key_strength_problem(key) is None
    assert _verifier(key).verify(_issue(key)).valid


def test_a_short_rsa_key_is_refused_even_from_pem() -> None:
    short = generate_key(Algorithm.RS256, rsa_bits=1024)
    loaded = load_public_key_pem(Algorithm.RS256, public_key_pem(short))
    for key in (short, loaded):
        with pytest.raises(WeakKeyError, match="1024 bits"):
            Verifier(key)
    with pytest.raises(WeakKeyError):
        issue_token(short, "alice", 60, issuer="i", audience="a")


def test_key_types_must_fit_the_algorithm(keys: dict[Algorithm, KeyPair]) -> None:
    rsa_key = keys[Algorithm.RS256]
    with pytest.raises(TokenKeyError, match="EllipticCurvePublicKey"):
        KeyPair(Algorithm.ES256, None, rsa_key.verification_key)
    with pytest.raises(TokenKeyError, match="P-256"):
        KeyPair.from_private_key(Algorithm.ES256, ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(TokenKeyError, match="does not match"):
        KeyPair(Algorithm.PS256, rsa_key.signing_key, keys[Algorithm.PS256].verification_key)
    with pytest.raises(TokenKeyError, match="bytes"):
        KeyPair(Algorithm.EDDSA, b"x" * 32, b"x" * 32)
    with pytest.raises(TokenKeyError, match="unknown algorithm"):
        generate_key("HS512")
    with pytest.raises(TokenKeyError, match="unknown algorithm"):
        KeyPair("none", b"x" * 32, b"x" * 32)  # type: ignore[arg-type]


def test_a_key_never_shows_its_material(keys: dict[Algorithm, KeyPair]) -> None:
    key = keys[Algorithm.HS256]
    assert isinstance(key.signing_key, bytes)
    assert repr(key) == f"KeyPair(HS256, kid={key.kid!r}, signing)"
    assert key.signing_key.hex() not in repr(key)


@pytest.mark.parametrize("algorithm", [a for a in Algorithm if a is not Algorithm.HS256])
def test_pem_round_trip(algorithm: Algorithm, keys: dict[Algorithm, KeyPair]) -> None:
    key = keys[algorithm]
    private = load_private_key_pem(algorithm, private_key_pem(key))
    public = load_public_key_pem(algorithm, public_key_pem(key))
    assert private.kid == public.kid == key.kid
    assert not public.can_sign
    token = _issue(private)
    assert Verifier(public, clock=lambda: T0).verify(token).valid
    with pytest.raises(TokenKeyError, match="PEM"):
        load_public_key_pem(
            algorithm, b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"
        )
    with pytest.raises(TokenKeyError, match="verification-only"):
        _issue(public)


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_a_key_folder_round_trip(algorithm: Algorithm, tmp_path: Path) -> None:
    key, created = load_or_create_key(algorithm, tmp_path)
    assert created
    again, created = load_or_create_key(algorithm, tmp_path)
    assert not created
    assert again.kid == key.kid
    public = load_key(algorithm, tmp_path, signing=False)
    assert public.kid == key.kid
    assert Verifier(public, clock=lambda: T0).verify(_issue(again)).valid
    secret_file, _ = tokens.key_files(algorithm, tmp_path)
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    with pytest.raises(TokenKeyError, match="already exists"):
        save_key(key, tmp_path)


def test_a_missing_key_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TokenKeyError, match=r"es256\.pub\.pem: no ES256 key"):
        load_key(Algorithm.ES256, tmp_path, signing=False)
    (tmp_path / "hs256.secret").write_text("!!!\n")
    with pytest.raises(TokenKeyError, match="base64url"):
        load_key(Algorithm.HS256, tmp_path)


# ------------------------------------------------------------------ header checks


def _signed(key: KeyPair, claims: dict[str, Any] | None = None, **header: Any) -> str:
    lab_header: dict[str, Any] = {"alg": key.algorithm.value, "kid": key.kid, "typ": "JWT"}
    for name, value in header.items():
        if value is None:
            lab_header.pop(name, None)
        else:
            lab_header[name] = value
    body = claims or {
        "sub": "alice",
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "iat": int(T0),
        "exp": int(T0) + 100,
        "jti": "j",
    }
    return forge(lab_header, body, signer(key))


@pytest.mark.parametrize(
    ("typ", "require_typ", "reason"),
    [
        ("JWT", False, "ok"),
        ("jwt", False, "ok"),
        ("application/jwt", False, "ok"),
        (None, False, "ok"),
        (None, True, "bad_type_header"),
        ("JWT", True, "ok"),
        ("at+jwt", False, "bad_type_header"),
        ("JWS", False, "bad_type_header"),
        (7, False, "bad_type_header"),
    ],
)
def test_the_typ_header(
    typ: object, require_typ: bool, reason: str, keys: dict[Algorithm, KeyPair]
) -> None:
    key = keys[Algorithm.HS256]
    token = _signed(key, typ=typ)
    assert _verifier(key, require_typ=require_typ).verify(token).reason == reason


@pytest.mark.parametrize(
    "header",
    [
        {"crit": ["exp"]},
        {"crit": []},
        {"crit": "b64"},
        {"crit": ["b64"], "b64": False},
        {"b64": True},
    ],
)
def test_critical_extensions_are_refused(
    header: dict[str, Any], keys: dict[Algorithm, KeyPair]
) -> None:
    key = keys[Algorithm.HS256]
    result = _verifier(key).verify(_signed(key, **header))
    assert result.reason == "unsupported_critical_header"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": None}, "algorithm_not_allowed"),
        ({"alg": "hs256"}, "algorithm_not_allowed"),
        ({"alg": ["HS256"]}, "algorithm_not_allowed"),
        ({"kid": 3}, "malformed"),
        ({"kid": None}, "ok"),
        ({"kid": "other"}, "unknown_key"),
        ({"jku": "https://evil.example/keys", "x5u": "https://evil.example/cert"}, "ok"),
    ],
)
def test_alg_and_kid_headers(
    header: dict[str, Any], reason: str, keys: dict[Algorithm, KeyPair]
) -> None:
    key = keys[Algorithm.HS256]
    assert _verifier(key).verify(_signed(key, **header)).reason == reason


# ------------------------------------------------------------------ claim checks


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_every_required_claim_is_required(claim: str, lab: AttackLab) -> None:
    token = lab.signed(lab.hs256, lab.claims(**{claim: None}))
    assert lab.verifier(lab.hs256).verify(token).reason == "missing_claim"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": "tomorrow"}, "invalid_claim_type"),
        ({"exp": "9999999999"}, "invalid_claim_type"),
        ({"exp": True}, "invalid_claim_type"),
        ({"iat": [1]}, "invalid_claim_type"),
        ({"nbf": {"t": 1}}, "invalid_claim_type"),
        ({"exp": 10**400}, "invalid_claim_type"),
        ({"exp": 1e308}, "ok"),
        ({"jti": 5}, "invalid_claim_type"),
        ({"sub": ["alice"]}, "invalid_claim_type"),
        ({"sub": ""}, "missing_claim"),
        ({"jti": ""}, "missing_claim"),
        ({"aud": ["other", DEFAULT_AUDIENCE]}, "ok"),
        ({"aud": ["other"]}, "wrong_audience"),
        ({"aud": ""}, "missing_claim"),
        ({"iss": 5}, "wrong_issuer"),
    ],
)
def test_claim_types_and_values(changes: dict[str, Any], reason: str, lab: AttackLab) -> None:
    token = lab.signed(lab.hs256, lab.claims(**changes))
    assert lab.verifier(lab.hs256).verify(token).reason == reason


def test_non_finite_numeric_dates_are_refused(lab: AttackLab) -> None:
    # NaN and Infinity are not JSON: the strict payload parser refuses them (malformed);
    # 1e400 is JSON, but not a finite number of seconds.
    for literal, reason in (
        (b"NaN", "malformed"),
        (b"Infinity", "malformed"),
        (b"-Infinity", "malformed"),
        (b"1e400", "invalid_claim_type"),
    ):
        body = json.dumps(lab.claims(exp=0)).encode().replace(b'"exp": 0', b'"exp": ' + literal)
        token = forge(lab.header(lab.hs256), body, signer(lab.hs256))
        assert lab.verifier(lab.hs256).verify(token).reason == reason


def test_issue_token_refuses_bad_arguments(keys: dict[Algorithm, KeyPair]) -> None:
    key = keys[Algorithm.HS256]
    with pytest.raises(ValueError, match="replace exp"):
        _issue(key, extra_claims={"exp": 1})
    with pytest.raises(ValueError, match="ttl_s"):
        issue_token(key, "alice", 0.5, issuer="i", audience="a")
    with pytest.raises(ValueError, match="subject"):
        issue_token(key, "", 60, issuer="i", audience="a")
    with pytest.raises(ValueError, match="jti"):
        _issue(key, jti="")


def test_jti_is_random_and_unique(keys: dict[Algorithm, KeyPair]) -> None:
    verifier = _verifier(keys[Algorithm.HS256])
    jtis = set()
    for _ in range(20):
        claims = verifier.verify(_issue(keys[Algorithm.HS256])).claims
        assert claims is not None
        jtis.add(claims["jti"])
    assert len(jtis) == 20


# ------------------------------------------------------------------ reason mapping


def _pyjwt_exceptions() -> Iterator[type[jwt.PyJWTError]]:
    for value in vars(jwt.exceptions).values():
        if isinstance(value, type) and issubclass(value, jwt.PyJWTError):
            yield value


@pytest.mark.parametrize("exception", list(_pyjwt_exceptions()), ids=lambda e: e.__name__)
def test_every_pyjwt_exception_maps_to_one_known_reason(exception: type[jwt.PyJWTError]) -> None:
    reason = verify_module._pyjwt_reason(exception("x"))
    assert reason in REASONS
    assert reason != "ok"


def test_every_reason_has_a_sentence() -> None:
    for code, sentence in REASONS.items():
        assert code.islower() and " " not in code
        assert sentence.endswith(".")
    assert VerificationResult.rejected("expired").message == REASONS["expired"]


# ------------------------------------------------------------------------ garbage

_structured = st.lists(st.text(alphabet=B64URL + "=!é", max_size=40), max_size=5).map(".".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), _structured))
def test_garbage_text_never_raises(garbage: str) -> None:
    result = _GARBAGE_VERIFIER.verify(garbage)
    assert isinstance(result, VerificationResult)
    assert not result.valid
    assert result.reason in REASONS
    assert isinstance(decode_unverified(garbage), UnverifiedToken)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_bytes_never_raise(garbage: bytes) -> None:
    result = _GARBAGE_VERIFIER.verify(garbage)
    assert not result.valid
    assert result.reason in REASONS
    assert isinstance(decode_unverified(garbage), UnverifiedToken)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_single_character_change_is_rejected(data: st.DataObject) -> None:
    token = _GARBAGE_TOKEN
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(B64URL + ".=é "))
    mutated = token[:position] + replacement + token[position + 1 :]
    result = _GARBAGE_VERIFIER.verify(mutated)
    assert result.valid is (mutated == token)


@pytest.mark.parametrize("algorithm", list(Algorithm))
@settings(max_examples=25, deadline=None)
@given(signature=st.binary(max_size=300))
def test_random_signatures_never_raise(
    algorithm: Algorithm, signature: bytes, keys: dict[Algorithm, KeyPair]
) -> None:
    header, payload, _ = _issue(keys[algorithm]).split(".")
    token = f"{header}.{payload}.{b64url_encode(signature)}"
    assert _verifier(keys[algorithm]).verify(token).reason == "bad_signature"


def test_non_text_input_is_malformed() -> None:
    assert _GARBAGE_VERIFIER.verify(None).reason == "malformed"  # type: ignore[arg-type]
    assert _GARBAGE_VERIFIER.verify(_GARBAGE_TOKEN.encode()).valid
    assert decode_unverified(12).problems  # type: ignore[arg-type]


_GARBAGE_KEY = KeyPair.from_secret(b"g" * 32)
_GARBAGE_VERIFIER = Verifier(_GARBAGE_KEY, clock=lambda: T0)
_GARBAGE_TOKEN = issue_token(
    _GARBAGE_KEY, "alice", 100, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, now=T0
)


# ----------------------------------------------------------------------- decoding


def test_decode_unverified_shows_every_part(keys: dict[Algorithm, KeyPair]) -> None:
    token = _issue(keys[Algorithm.ES256])
    decoded = decode_unverified(f"  {token}\n")
    assert decoded.header is not None and decoded.header["alg"] == "ES256"
    assert decoded.claims is not None and decoded.claims["sub"] == "alice"
    assert decoded.signature is not None and len(decoded.signature) == 64
    assert decoded.problems == ()


def test_decode_unverified_shows_what_it_can(keys: dict[Algorithm, KeyPair]) -> None:
    header, _, _ = _issue(keys[Algorithm.HS256]).split(".")
    decoded = decode_unverified(f"{header}.!!!")
    assert decoded.header is not None and decoded.claims is None
    assert decoded.readable
    assert "2 dot-separated parts, not 3" in decoded.problems
    assert not decode_unverified("x" * (DEFAULT_MAX_TOKEN_BYTES + 1)).readable


def test_time_claim_notes() -> None:
    notes = time_claim_notes({"iat": T0 - 90, "exp": T0 + 3700, "nbf": "soon"}, now=T0)
    assert notes == {
        "iat": "2023-11-14 22:11:50 UTC (1m 30s ago)",
        "nbf": "not a NumericDate (str)",
        "exp": "2023-11-14 23:15:00 UTC (in 1h 1m)",
    }
    assert time_claim_notes({"exp": 10**30}) == {"exp": "out of range"}


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_sample_tokens_have_a_stable_size(algorithm: Algorithm) -> None:
    first, second = sample_token(algorithm), sample_token(algorithm.value)
    assert first != second  # a fresh jti and iat each time
    assert len(first) == len(second)
    assert first.count(".") == 2
    verifier = Verifier(issue_module._sample_key(algorithm).public_only())
    assert verifier.verify(first).valid


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_key_file_that_is_a_device_or_too_large_is_not_read(tmp_path: Path) -> None:
    secret, _ = key_files("HS256", tmp_path)
    secret.symlink_to("/dev/zero")  # reading it would never end
    with pytest.raises(TokenKeyError, match="not a regular file"):
        load_key("HS256", tmp_path)
    secret.unlink()
    secret.write_bytes(b"A" * (MAX_KEY_FILE_BYTES + 1))
    with pytest.raises(TokenKeyError, match="not a key"):
        load_key("HS256", tmp_path)
