"""Reference costs of authentication work, used when a scenario gives none.

Measured on a 2-core cloud VM with PyJWT 2.15.1 and cryptography 50 (see the design
notes in the README), with bare PyJWT ``encode``/``decode`` and six-claim tokens without a
``kid``. They move between library releases and machines; a scenario can override each
one (``jwt.verify_ms``, ``jwt.sign_ms``, ``cluster.login_cpu_ms``), and ``authsim
calibrate`` measures the project's own issuer and verifier (:mod:`simulator.tokens`), which
do more checks and add a ``kid``, on the user's machine.
"""

from __future__ import annotations

from typing import Final

from simulator.scenario.calibration import CalibrationProfile

JWT_VERIFY_US: Final[dict[str, float]] = {
    "HS256": 31.0,
    "RS256": 59.0,
    "PS256": 62.0,  # RSA-PSS verify: an RSA public-key operation, like RS256
    "ES256": 95.0,
    "EdDSA": 133.0,
}
"""PyJWT ``decode`` (signature check and claims) per algorithm, microseconds."""

JWT_SIGN_US: Final[dict[str, float]] = {
    "HS256": 16.0,
    "RS256": 258.0,
    "PS256": 262.0,  # RSA-PSS sign: an RSA private-key operation, like RS256
    "ES256": 36.0,
    "EdDSA": 42.0,
}
"""PyJWT ``encode`` per algorithm, microseconds."""

JWT_TOKEN_BYTES: Final[dict[str, int]] = {
    "HS256": 220,
    "RS256": 519,
    "PS256": 519,  # same 2048-bit signature length as RS256
    "ES256": 263,
    "EdDSA": 263,  # 64-byte signature, like ES256
}
"""Size of a compact token with six claims, bytes."""

LOGIN_PBKDF2_MS: Final[float] = 140.0
"""PBKDF2-SHA256 at 600,000 iterations (OWASP 2023), milliseconds of CPU."""

LOGIN_BCRYPT12_MS: Final[float] = 260.0
"""bcrypt at cost 12, milliseconds of CPU."""

SESSION_ID_BYTES: Final[int] = 32
"""Bytes of a session-id cookie (a 128-bit random id, base64url, with the name)."""


def jwt_verify_ms(algorithm: str, override_ms: float | None) -> float:
    """CPU to verify one token, ms: the override, or the reference for the algorithm."""
    return override_ms if override_ms is not None else JWT_VERIFY_US[algorithm] / 1000.0


def jwt_sign_ms(algorithm: str, override_ms: float | None) -> float:
    """CPU to sign one token, ms: the override, or the reference for the algorithm."""
    return override_ms if override_ms is not None else JWT_SIGN_US[algorithm] / 1000.0


class AuthCosts:
    """The costs a run uses: the scenario's own, else a calibration profile's, else the
    reference figures above.

    Args:
        profile: a profile measured by ``authsim calibrate``, or ``None``.
    """

    def __init__(self, profile: CalibrationProfile | None = None) -> None:
        self.profile = profile

    def _measured(self, table: str, algorithm: str) -> float | None:
        if self.profile is None:
            return None
        values: dict[str, float] = getattr(self.profile.jwt, table)
        return values.get(algorithm)

    def verify_ms(self, algorithm: str, override_ms: float | None = None) -> float:
        """CPU to verify one token, ms."""
        measured = self._measured("verify_us", algorithm)
        if override_ms is None and measured is not None:
            return measured / 1000.0
        return jwt_verify_ms(algorithm, override_ms)

    def sign_ms(self, algorithm: str, override_ms: float | None = None) -> float:
        """CPU to sign one token, ms."""
        measured = self._measured("sign_us", algorithm)
        if override_ms is None and measured is not None:
            return measured / 1000.0
        return jwt_sign_ms(algorithm, override_ms)

    def token_bytes(self, algorithm: str) -> int:
        """Size of one token, bytes."""
        measured = self._measured("token_bytes", algorithm)
        return int(measured) if measured is not None else JWT_TOKEN_BYTES[algorithm]

    def verify_source(self, algorithm: str, override_ms: float | None) -> str:
        """Where the verify cost comes from: ``scenario``, ``calibration`` or ``reference``."""
        if override_ms is not None:
            return "scenario"
        return "calibration" if self._measured("verify_us", algorithm) else "reference"

    def login_ms(self, scenario_ms: float, set_explicitly: bool) -> float:
        """Password hashing per login, ms: the scenario's if it set one, else measured."""
        if set_explicitly or self.profile is None or self.profile.login is None:
            return scenario_ms
        return self.profile.login.pbkdf2_sha256_ms

    def store_rtt_ms(self, scenario_ms: float, set_explicitly: bool) -> float:
        """Network round trip to the store, ms: the scenario's if it set one, else the
        measured Redis GET (which includes the server's own work, a slight overestimate)."""
        if set_explicitly or self.profile is None or self.profile.store is None:
            return scenario_ms
        return self.profile.store.get_ms
