"""The attack catalogue (:data:`ATTACKS`) and :func:`run_attacks`.

Each :class:`Attack` is a named case that builds its token live in an
:class:`~simulator.tokens.lab.AttackLab` and states the reason code the
:class:`~simulator.tokens.verify.Verifier` must reject it with: ``alg: none`` in four
spellings, key confusion, forged and tampered tokens, bad claims and headers, weak keys
and garbage.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from simulator.tokens.encoding import encode_segment
from simulator.tokens.keys import Algorithm, KeyPair, WeakKeyError, generate_key, public_key_pem
from simulator.tokens.lab import AttackLab, forge, signer
from simulator.tokens.verify import DEFAULT_MAX_TOKEN_BYTES, VerificationResult


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
    forged = encode_segment(lab.claims(sub="admin"))
    return lab.verifier(lab.hs256).verify(f"{header}.{forged}.{signature}")


def _tampered_header(lab: AttackLab) -> VerificationResult:
    _, payload, signature = lab.valid_token(lab.hs256).split(".")
    forged = encode_segment(lab.header(lab.hs256, role="admin"))
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
    jwk = json.loads(RSAAlgorithm.to_jwk(public))
    header = {"alg": "RS256", "typ": "JWT", "jwk": jwk}
    token = forge(header, lab.claims(sub="admin"), signer(lab.attacker_rs256))
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
    return lab.verifier(lab.hs256).verify(forge(b'["HS256"]', lab.claims(), signer(lab.hs256)))


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
