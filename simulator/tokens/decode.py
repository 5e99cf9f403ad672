"""Decoding a token for display, WITHOUT verifying anything (:func:`decode_unverified`).

What a token *claims* is shown part by part, so that a broken token can still be read;
none of it may be trusted: only :class:`~simulator.tokens.verify.Verifier` says whether
a token is valid.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

from simulator.tokens.encoding import b64url_decode_lenient
from simulator.tokens.verify import DEFAULT_MAX_TOKEN_BYTES


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


def _lenient_object(segment: str, name: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        value = json.loads(b64url_decode_lenient(segment).decode("utf-8"))
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
                signature = b64url_decode_lenient(parts[2])
            except (ValueError, binascii.Error):
                problems.append("the signature is not base64url")
        return UnverifiedToken(header, claims, signature, tuple(problems))
    except Exception as exc:  # display helper: garbage in, a problem out
        return UnverifiedToken(None, None, None, (*problems, f"undecodable: {type(exc).__name__}"))
