"""Base64url, the encoding of every part of a compact JWS (RFC 7515 §2 and §7.1).

Shared by the keys (thumbprints, secret files), the verifier (which adds its own strict,
canonical decoding), the display decoder and the attack lab.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

B64URL_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
"""The base64url alphabet (RFC 4648 §5), without the ``=`` padding."""


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode_lenient(segment: str) -> bytes:
    """Decode base64url, padded or not (not checked to be canonical).

    Raises:
        ValueError: a character outside the alphabet, or an impossible length.
    """
    stripped = segment.rstrip("=")
    if not B64URL_CHARS.issuperset(stripped) or len(stripped) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def encode_segment(data: Mapping[str, Any] | bytes) -> str:
    """One part of a compact token: compact JSON of a mapping (or raw bytes), base64url."""
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return b64url_encode(raw)
