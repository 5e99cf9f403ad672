"""The attacker's workbench: tokens assembled by hand, and the lab the attacks share.

:func:`forge` builds a compact token with any header, claims and signer;
:class:`AttackLab` holds the keys, a fixed clock and the server's verifiers. Both bypass
the checks of :func:`~simulator.tokens.issue.issue_token` on purpose, so that
:mod:`simulator.tokens.attacks` can build the tokens an attacker would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jwt.algorithms import get_default_algorithms

from simulator.tokens.claims import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from simulator.tokens.encoding import b64url_encode, encode_segment
from simulator.tokens.issue import issue_token
from simulator.tokens.keys import Algorithm, KeyPair, TokenKeyError, generate_key
from simulator.tokens.verify import Verifier

_ALGORITHM_IMPLEMENTATIONS: Final = get_default_algorithms()


def forge(
    header: Mapping[str, Any] | bytes,
    claims: Mapping[str, Any] | bytes,
    sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """Assemble a compact token by hand, with any header (what an attacker can do)."""
    signing_input = f"{encode_segment(header)}.{encode_segment(claims)}"
    signature = sign(signing_input.encode("ascii")) if sign is not None else b""
    return f"{signing_input}.{b64url_encode(signature)}"


def signer(key: KeyPair, algorithm: str | None = None) -> Callable[[bytes], bytes]:
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
            signer(key),
        )

    def valid_token(self, key: KeyPair) -> str:
        """A token the server issued honestly with ``key``."""
        return issue_token(
            key, "alice", 900, issuer=self.issuer, audience=self.audience, now=self.now
        )
