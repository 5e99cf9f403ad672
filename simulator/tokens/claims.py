"""The claims of a login token: the defaults, the six required ones, times in words.

:func:`~simulator.tokens.issue.issue_token` writes the six :data:`REQUIRED_CLAIMS`
(``sub``, ``iat``, ``exp``, ``iss``, ``aud`` and a random ``jti``) and the
:class:`~simulator.tokens.verify.Verifier` requires them; :data:`DEFAULT_ISSUER` and
:data:`DEFAULT_AUDIENCE` are the issuer and audience both use unless told otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

DEFAULT_ISSUER: Final = "https://login.authsim.example"
DEFAULT_AUDIENCE: Final = "authsim-api"
REQUIRED_CLAIMS: Final = ("exp", "iat", "sub", "iss", "aud", "jti")


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
