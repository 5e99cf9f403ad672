"""Measure authentication costs on this machine (``authsim calibrate``).

:func:`measure` times the work the simulator charges for, on the machine it runs on,
and returns a :class:`~simulator.scenario.calibration.CalibrationProfile`:

* the project's own token code (:mod:`simulator.tokens`, on PyJWT) for HS256, RS256,
  PS256, ES256 and EdDSA, with keys from :func:`~simulator.tokens.generate_key`, in
  microseconds: sign is :func:`~simulator.tokens.issue_token`, verify is
  :meth:`Verifier.verify <simulator.tokens.Verifier.verify>` (size cap, strict compact
  form and header, signature, and the six claims against the clock), the verifier the
  ``jwt`` strategy stands for; and the size of the token it issues with the six standard
  claims (``sub``, ``iat``, ``exp``, ``iss``, ``aud``, ``jti``) and a header with ``typ``
  and ``kid``, in bytes;
* one PBKDF2-SHA256 password hash at OWASP's 600,000 iterations, in milliseconds;
* with a Redis URL, real GET and SET round trips with redis-py, in milliseconds.

Every figure uses ``time.perf_counter_ns``, a warm-up that is not counted, and the
median of several timed repeats (garbage collection is paused while timing).
:func:`compare` sets a profile against the reference costs of :mod:`simulator.costs.reference`.
"""

from __future__ import annotations

import gc
import hashlib
import os
import platform
import secrets
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import cryptography
import jwt

from simulator.costs import reference as costs
from simulator.errors import AuthsimError
from simulator.scenario.calibration import CalibrationProfile, JwtCosts, LoginCosts, StoreCosts
from simulator.scenario.models import SharedStore
from simulator.tokens import Algorithm, Verifier, generate_key, issue_token

if TYPE_CHECKING:
    import redis

ALGORITHMS: Final[tuple[str, ...]] = tuple(algorithm.value for algorithm in Algorithm)
"""The algorithms measured (those of :class:`simulator.tokens.Algorithm`), in this order:
HS256, RS256, PS256, ES256, EdDSA."""

OWASP_PBKDF2_ITERATIONS: Final[int] = 600_000
"""PBKDF2-SHA256 iterations recommended by OWASP (2023); the login cost is for this many."""

FAST_PBKDF2_ITERATIONS: Final[int] = 20_000
"""Iterations actually hashed in fast mode; the time is scaled linearly to 600,000."""

FAST_ENV: Final[str] = "AUTHSIM_FAST"
"""Environment variable that turns on fast mode (``AUTHSIM_FAST=1``)."""

REDIS_KEY_TTL_S: Final[int] = 120
"""Expiry of the keys written to Redis, in case the process dies before deleting them."""

ISSUER: Final[str] = "authsim"
AUDIENCE: Final[str] = "api"
TOKEN_TTL_S: Final[int] = 900

Progress = Callable[[str], None]
"""Called with a short description (``"sign RS256"``) before each measurement."""


class CalibrationError(AuthsimError):
    """A calibration that cannot run: redis-py missing, a bad or unreachable Redis URL.

    Its string form is one line; the CLI prints it and exits with code 2.
    """


@dataclass(frozen=True)
class _Plan:
    """How many calls to make: a warm-up, then ``repeats`` timed batches of ``batch``."""

    warmup: int
    repeats: int
    batch: int
    pbkdf2_iterations: int
    pbkdf2_repeats: int
    redis_warmup: int
    redis_repeats: int


_FULL = _Plan(
    warmup=50,
    repeats=15,
    batch=20,
    pbkdf2_iterations=OWASP_PBKDF2_ITERATIONS,
    pbkdf2_repeats=5,
    redis_warmup=50,
    redis_repeats=500,
)
_FAST = _Plan(
    warmup=5,
    repeats=5,
    batch=5,
    pbkdf2_iterations=FAST_PBKDF2_ITERATIONS,
    pbkdf2_repeats=5,
    redis_warmup=10,
    redis_repeats=50,
)


def fast_from_env() -> bool:
    """Whether ``AUTHSIM_FAST`` asks for fast mode (``1``, ``true`` or ``yes``)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def measure(
    *, redis_url: str | None = None, fast: bool = False, progress: Progress | None = None
) -> CalibrationProfile:
    """Measure authentication costs on this machine.

    Each figure is the median of several timed repeats after an untimed warm-up, timed
    with ``time.perf_counter_ns`` (garbage collection paused). JWT costs time batches of
    calls and report the median per-call time; PBKDF2 and Redis time single calls.

    Args:
        redis_url: a Redis server to time GET and SET round trips against (redis-py).
            Keys go under a unique prefix, expire after two minutes and are deleted at
            the end. ``None`` measures no store.
        fast: fewer repeats and PBKDF2 at 20,000 iterations scaled linearly to 600,000,
            so the whole run takes a second or two. ``AUTHSIM_FAST=1`` also turns it on.
            The profile's ``machine`` notes say so.
        progress: called with a short description before each measurement.

    Returns:
        The profile, in the format :func:`simulator.scenario.calibration.save_profile` writes.

    Raises:
        CalibrationError: redis-py is not installed, the URL is invalid or the server
            cannot be reached (one line, credentials never shown).
    """
    fast = fast or fast_from_env()
    plan = _FAST if fast else _FULL
    report: Progress = progress or (lambda _step: None)
    machine = _machine(plan, fast)
    store = None
    if redis_url is not None:
        # First, so a bad URL fails before seconds of CPU measurements.
        store, server = _measure_store(redis_url, plan, report)
        machine.update(server)
    jwt_costs = _measure_jwt(plan, report)
    report("PBKDF2-SHA256")
    login = _measure_login(plan)
    return CalibrationProfile(
        machine=machine,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        jwt=jwt_costs,
        login=login,
        store=store,
    )


# ------------------------------------------------------------------------ timing


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _median_batch_ns(call: Callable[[], object], plan: _Plan) -> float:
    """Median over ``plan.repeats`` batches of the per-call time, ns, after a warm-up."""
    for _ in range(plan.warmup):
        call()
    samples: list[float] = []
    with _gc_paused():
        for _ in range(plan.repeats):
            start = time.perf_counter_ns()
            for _ in range(plan.batch):
                call()
            samples.append((time.perf_counter_ns() - start) / plan.batch)
    return statistics.median(samples)


def _median_call_ns(call: Callable[[], object], warmup: int, repeats: int) -> float:
    """Median time of single calls, ns, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    samples: list[int] = []
    with _gc_paused():
        for _ in range(repeats):
            start = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)


# ------------------------------------------------------------------------ JWT


def standard_claims(now: int | None = None) -> dict[str, Any]:
    """The six standard claims of the measured token: sub, iat, exp, iss, aud, jti.

    :func:`~simulator.tokens.issue_token` is asked for exactly these (``exp`` is ``iat``
    plus :data:`TOKEN_TTL_S`), and the verifier must return them unchanged.
    """
    issued = int(time.time()) if now is None else now
    return {
        "sub": "42",
        "iat": issued,
        "exp": issued + TOKEN_TTL_S,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": secrets.token_urlsafe(16),  # a 128-bit random id, 22 characters
    }


def _measure_jwt(plan: _Plan, report: Progress) -> JwtCosts:
    """Time the project's issue_token and Verifier.verify on the standard-claims token."""
    claims = standard_claims()
    sign_us: dict[str, float] = {}
    verify_us: dict[str, float] = {}
    token_bytes: dict[str, int] = {}
    for algorithm in ALGORITHMS:
        key = generate_key(algorithm)
        verifier = Verifier(key.public_only(), issuer=ISSUER, audience=AUDIENCE)
        report(f"sign {algorithm}")
        sign = partial(
            issue_token,
            key,
            claims["sub"],
            TOKEN_TTL_S,
            issuer=claims["iss"],
            audience=claims["aud"],
            now=claims["iat"],
            jti=claims["jti"],
        )
        token = sign()
        # Checked once, before timing: a rejection is cheaper than a verification, and
        # must never be what gets timed.
        checked = verifier.verify(token)
        if not checked.valid or checked.claims != claims:  # pragma: no cover - a bug
            raise RuntimeError(
                f"{algorithm}: the verifier does not accept the measured token "
                f"({checked.reason}: {checked.detail})"
            )
        token_bytes[algorithm] = len(token.encode("ascii"))
        sign_us[algorithm] = round(_median_batch_ns(sign, plan) / 1000.0, 3)
        report(f"verify {algorithm}")
        verify_token = partial(verifier.verify, token)
        verify_us[algorithm] = round(_median_batch_ns(verify_token, plan) / 1000.0, 3)
    return JwtCosts(verify_us=verify_us, sign_us=sign_us, token_bytes=token_bytes)


# ------------------------------------------------------------------------ login


def _measure_login(plan: _Plan) -> LoginCosts:
    """PBKDF2-SHA256 at ``plan.pbkdf2_iterations``, scaled linearly to 600,000."""
    salt = os.urandom(16)

    def hash_password() -> bytes:
        return hashlib.pbkdf2_hmac("sha256", b"correct horse battery", salt, plan.pbkdf2_iterations)

    median_ns = _median_call_ns(hash_password, warmup=1, repeats=plan.pbkdf2_repeats)
    scale = OWASP_PBKDF2_ITERATIONS / plan.pbkdf2_iterations
    return LoginCosts(
        pbkdf2_sha256_ms=round(median_ns * scale / 1e6, 3), iterations=OWASP_PBKDF2_ITERATIONS
    )


# ------------------------------------------------------------------------ Redis


def public_url(url: str) -> str:
    """``url`` without credentials: no user or password, no ``password=`` query value."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    query = urlencode(
        [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in {"password", "username", "user"}
        ]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _import_redis() -> Any:
    try:
        import redis  # noqa: PLC0415 (an optional dependency)
    except ImportError:
        raise CalibrationError(
            "--redis-url needs redis-py: pip install 'authsim[redis]' "
            "(or pip install -e '.[redis]' in a checkout)"
        ) from None
    return redis


def _measure_store(url: str, plan: _Plan, report: Progress) -> tuple[StoreCosts, dict[str, str]]:
    """Median GET and SET round trips, ms, and the redis-py and server versions."""
    redis_module = _import_redis()
    from redis.backoff import NoBackoff  # noqa: PLC0415 (an optional dependency)
    from redis.retry import Retry  # noqa: PLC0415

    shown = public_url(url)
    report(f"Redis at {shown}")
    try:
        client: redis.Redis = redis_module.Redis.from_url(
            url,
            socket_connect_timeout=2.0,
            socket_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise CalibrationError(f"--redis-url {shown}: {_one_line(exc)}") from None
    prefix = f"authsim:calibrate:{uuid.uuid4().hex}:"
    key = prefix + "session"
    value = os.urandom(96).hex()  # a serialized session of ~200 bytes
    try:
        with client:
            try:
                client.ping()
                info = client.info("server")
                server = {
                    "redis_py": str(redis_module.__version__),
                    "redis_server": str(info.get("redis_version", "?")),
                }
                client.set(key, value, ex=REDIS_KEY_TTL_S)
                report("Redis SET")
                set_ns = _median_call_ns(
                    lambda: client.set(key, value, ex=REDIS_KEY_TTL_S),
                    warmup=plan.redis_warmup,
                    repeats=plan.redis_repeats,
                )
                report("Redis GET")
                get_ns = _median_call_ns(
                    lambda: client.get(key), warmup=plan.redis_warmup, repeats=plan.redis_repeats
                )
            finally:
                # Best effort: an earlier error matters more, and the keys expire anyway.
                with suppress(redis_module.RedisError):
                    _delete_prefix(client, prefix)
    except redis_module.RedisError as exc:
        raise CalibrationError(f"--redis-url {shown}: {_one_line(exc)}") from None
    costs_ = StoreCosts(url=shown, get_ms=round(get_ns / 1e6, 6), set_ms=round(set_ns / 1e6, 6))
    return costs_, server


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix``."""
    keys = list(client.scan_iter(match=prefix + "*", count=100))
    if keys:
        client.delete(*keys)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# ------------------------------------------------------------------------ machine


def _machine(plan: _Plan, fast: bool) -> dict[str, str]:
    method = (
        f"time.perf_counter_ns; JWT: {plan.warmup} warm-up calls, median of {plan.repeats} "
        f"batches of {plan.batch}; PBKDF2: median of {plan.pbkdf2_repeats}; "
        f"Redis: median of {plan.redis_repeats} round trips after {plan.redis_warmup}"
    )
    notes = (
        f"fast mode: PBKDF2 measured at {plan.pbkdf2_iterations:,} iterations and scaled "
        f"linearly to {OWASP_PBKDF2_ITERATIONS:,}; fewer repeats, so noisier figures"
        if fast
        else "full mode"
    )
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": str(os.cpu_count() or 0),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "pyjwt": jwt.__version__,
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "method": method,
        "mode": "fast" if fast else "full",
        "notes": notes,
    }


def _openssl_version() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend  # noqa: PLC0415

    return str(backend.openssl_version_text())


# ------------------------------------------------------------------------ comparison


@dataclass(frozen=True)
class Comparison:
    """One measured figure next to its reference cost.

    Attributes:
        operation: what was measured (``verify RS256``).
        unit: ``µs``, ``ms`` or ``bytes``.
        measured: the figure measured here.
        reference: the reference figure (``None`` when there is none).
        reference_source: where the reference comes from.
    """

    operation: str
    unit: str
    measured: float
    reference: float | None
    reference_source: str = "simulator.costs.reference"

    @property
    def ratio(self) -> float | None:
        """Measured over reference (above 1: slower or bigger here)."""
        if self.reference is None or self.reference == 0:
            return None
        return self.measured / self.reference

    def measured_text(self) -> str:
        return _quantity(self.measured, self.unit)

    def reference_text(self) -> str:
        return "–" if self.reference is None else _quantity(self.reference, self.unit)

    def ratio_text(self) -> str:
        return "–" if self.ratio is None else f"{self.ratio:.2f}×"


def _quantity(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value:,.0f} bytes"
    if unit == "ms" and value < 10:
        return f"{value:.3f} ms"
    return f"{value:,.1f} {unit}"


def compare(profile: CalibrationProfile) -> list[Comparison]:
    """Every figure of ``profile`` with the reference cost it would replace.

    JWT and login references come from :mod:`simulator.costs.reference`; Redis round trips are set
    against the default scenario's store round trip (``rtt_ms + op_time_ms``).
    """
    rows: list[Comparison] = []
    jwt_costs = profile.jwt
    for name, measured, reference, unit in (
        ("sign", jwt_costs.sign_us, costs.JWT_SIGN_US, "µs"),
        ("verify", jwt_costs.verify_us, costs.JWT_VERIFY_US, "µs"),
        ("token", jwt_costs.token_bytes, costs.JWT_TOKEN_BYTES, "bytes"),
    ):
        for algorithm, value in measured.items():
            rows.append(Comparison(f"{name} {algorithm}", unit, value, reference.get(algorithm)))
    if profile.login is not None:
        rows.append(
            Comparison(
                f"login PBKDF2-SHA256 {profile.login.iterations:,}",
                "ms",
                profile.login.pbkdf2_sha256_ms,
                costs.LOGIN_PBKDF2_MS,
            )
        )
    if profile.store is not None:
        default = SharedStore()
        round_trip = default.rtt_ms + default.op_time_ms
        source = "scenario default shared_store.rtt_ms + op_time_ms"
        rows.append(Comparison("Redis GET", "ms", profile.store.get_ms, round_trip, source))
        rows.append(Comparison("Redis SET", "ms", profile.store.set_ms, round_trip, source))
    return rows
