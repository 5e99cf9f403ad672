"""Signing keys (:class:`KeyPair`): algorithms, strength, generation, PEM and key folders.

- HS256 (a random 256-bit secret), RS256 and PS256 (RSA 2048), ES256 (P-256) and EdDSA
  (Ed25519), each key bound to exactly one algorithm and carrying a ``kid`` (a truncated
  RFC 7638 thumbprint, :func:`key_thumbprint`);
- PEM loading and writing helpers and a key folder layout (:func:`key_files`,
  :func:`save_key`, :func:`load_key`, :func:`load_or_create_key`);
- the minimum strength (HMAC secret >= 32 bytes, RSA >= 2048 bits): a weaker key may be
  held (so that the attack catalogue can show one being refused), but signing and
  verifying refuse it (:func:`require_strong_key`, :class:`WeakKeyError`).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from simulator.errors import AuthsimError
from simulator.tokens.encoding import b64url_decode_lenient, b64url_encode


class Algorithm(StrEnum):
    """The signing algorithms supported (RFC 7518 / RFC 8037 names)."""

    HS256 = "HS256"
    RS256 = "RS256"
    PS256 = "PS256"
    ES256 = "ES256"
    EDDSA = "EdDSA"


MIN_HMAC_SECRET_BYTES: Final = 32
"""RFC 7518 §3.2: an HS256 key must be at least as long as the hash output."""
MIN_RSA_BITS: Final = 2048
"""RFC 7518 §3.3 and §3.5: RSA keys of 2048 bits or more."""
_KID_CHARS: Final = 16


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
        members = {"k": b64url_encode(key), "kty": "oct"}
    elif isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        members = {
            "e": b64url_encode(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "kty": "RSA",
            "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        }
    elif isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url_encode(point.x.to_bytes(size, "big")),
            "y": b64url_encode(point.y.to_bytes(size, "big")),
        }
    else:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return b64url_encode(hashlib.sha256(canonical).digest())


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


def require_strong_key(key: KeyPair) -> None:
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
            _write_new(secret_path, (b64url_encode(key.signing_key) + "\n").encode("ascii"), 0o600)
            return [secret_path]
        assert public_path is not None
        _write_new(secret_path, private_key_pem(key), 0o600)
        _write_new(public_path, public_key_pem(key), 0o644)
    except OSError as exc:
        raise TokenKeyError(f"{directory}: cannot write the key: {exc.strerror or exc}") from None
    return [secret_path, public_path]


MAX_KEY_FILE_BYTES = 64 * 1024
"""Largest key file read, bytes (a 4096-bit RSA private key in PEM is about 3.3 kB)."""


def _read(path: Path, algorithm: Algorithm, directory: Path) -> bytes:
    """A key file's bytes: a regular file (not a device, or a link to one) of at most
    :data:`MAX_KEY_FILE_BYTES`."""
    try:
        info = path.stat()  # follows links: a link to /dev/zero is /dev/zero
        if not stat.S_ISREG(info.st_mode):
            raise TokenKeyError(f"{path}: not a regular file (a device, a pipe or a folder)")
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
        if len(data) > MAX_KEY_FILE_BYTES:
            raise TokenKeyError(f"{path}: more than {MAX_KEY_FILE_BYTES:,} bytes: not a key")
        return data
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
            secret = b64url_decode_lenient(text)
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
