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
* with a Redis URL, real GET and SET round trips with redis-py, in milliseconds, and the
  server's own time per GET and SET from Redis itself (``INFO commandstats``: the change
  in ``usec`` over the change in ``calls`` across the timed loops, so earlier traffic on
  that server does not count), in milliseconds.

The CPU-bound figures (signing, verifying, hashing) are thread CPU time
(``time.thread_time_ns``), because CPU time is what the simulator charges to a worker
for that work, and it does not count the time the thread waited for a core: on a busy
machine a wall clock measures the queue for the CPU as well, and calls the work slower.
The Redis round trips are wall time (``time.perf_counter_ns``): they are waits, for the
network and the server, which a CPU clock would not see; on a busy machine they are
inflated. Every figure has a warm-up that is not counted and is the median of several
timed repeats (garbage collection is paused while timing); JWT calls are timed in
batches of about :data:`~simulator.costs.timing.BATCH_CPU_NS` of CPU each, sized from
the warm-up (the clocks are in :mod:`simulator.costs.timing`).

Each run also records whether the machine was busy (:mod:`simulator.costs.contention`):
the load average, the cores, and CPU time over wall time across the CPU-bound work;
:func:`~simulator.costs.contention.contention_note` turns that into one line.
:func:`~simulator.costs.comparison.compare` sets a profile against the reference costs.
Both, and :class:`~simulator.costs.comparison.Comparison`, are also importable from here.
"""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import cryptography
import jwt

from simulator.costs.comparison import Comparison, compare
from simulator.costs.contention import Contention, contention_note, cores, load_average
from simulator.costs.timing import (
    BATCH_CPU_NS,
    CpuTiming,
    median_round_trip_ns,
    time_cpu_bound,
)
from simulator.errors import AuthsimError
from simulator.scenario.calibration import CalibrationProfile, JwtCosts, LoginCosts, StoreCosts
from simulator.tokens import Algorithm, Verifier, generate_key, issue_token

if TYPE_CHECKING:
    import redis

__all__ = [
    "ALGORITHMS",
    "AUDIENCE",
    "BATCH_CPU_NS",
    "FAST_ENV",
    "FAST_PBKDF2_ITERATIONS",
    "ISSUER",
    "OWASP_PBKDF2_ITERATIONS",
    "REDIS_KEY_TTL_S",
    "TOKEN_TTL_S",
    "CalibrationError",
    "Comparison",
    "CpuTiming",
    "Progress",
    "commandstats_delta",
    "compare",
    "contention_note",
    "fast_from_env",
    "measure",
    "public_url",
    "server_ms_per_call",
    "standard_claims",
    "time_cpu_bound",
]

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

REDIS_PASSWORD_ENV: Final = "AUTHSIM_REDIS_PASSWORD"
"""The Redis password when it is left out of ``--redis-url`` (kept out of shell history
and process lists; a password in the URL takes precedence)."""

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
    """How many calls to make: a warm-up, then ``repeats`` timed batches of
    :data:`BATCH_CPU_NS` each."""

    warmup: int
    repeats: int
    pbkdf2_iterations: int
    pbkdf2_repeats: int
    redis_warmup: int
    redis_repeats: int


_FULL = _Plan(
    warmup=50,
    repeats=51,
    pbkdf2_iterations=OWASP_PBKDF2_ITERATIONS,
    pbkdf2_repeats=5,
    redis_warmup=50,
    redis_repeats=500,
)
_FAST = _Plan(
    warmup=20,
    repeats=15,
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

    Each figure is the median of several timed repeats after an untimed warm-up (garbage
    collection paused). Signing, verifying and hashing are thread CPU time
    (``time.thread_time_ns``: the work itself, not the waits for a core); Redis round
    trips are wall time (``time.perf_counter_ns``). JWT costs time batches of calls
    (about 0.2 ms of CPU each) and report the median per-call time; PBKDF2 and Redis
    time single calls. The profile's
    ``machine`` notes record the contention check (:mod:`simulator.costs.contention`).

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
    load_at_start = load_average()
    store = None
    if redis_url is not None:
        # First, so a bad URL fails before seconds of CPU measurements.
        store, server = _measure_store(redis_url, plan, report)
        machine.update(server)
    timings: list[CpuTiming] = []
    jwt_costs = _measure_jwt(plan, report, timings)
    report("PBKDF2-SHA256")
    login = _measure_login(plan, timings)
    machine.update(_contention(timings, load_at_start).notes())
    return CalibrationProfile(
        machine=machine,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        jwt=jwt_costs,
        login=login,
        store=store,
    )


# ------------------------------------------------------------------------ timing


def _contention(timings: list[CpuTiming], load_at_start: float | None) -> Contention:
    """The contention check over ``timings``; the higher of the two load averages."""
    wall = sum(timing.wall_total_ns for timing in timings)
    ratio = sum(timing.cpu_total_ns for timing in timings) / wall if wall > 0 else None
    loads = [load for load in (load_at_start, load_average()) if load is not None]
    total, usable = cores()
    return Contention(
        load_average=max(loads) if loads else None,
        cores=total,
        usable_cores=usable,
        cpu_over_wall=ratio,
    )


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


def _measure_jwt(plan: _Plan, report: Progress, timings: list[CpuTiming]) -> JwtCosts:
    """CPU time of the project's issue_token and Verifier.verify on the standard-claims
    token; each measurement is appended to ``timings``."""
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
        sign_us[algorithm] = _batched_us(sign, plan, timings)
        report(f"verify {algorithm}")
        verify_us[algorithm] = _batched_us(partial(verifier.verify, token), plan, timings)
    return JwtCosts(verify_us=verify_us, sign_us=sign_us, token_bytes=token_bytes)


def _batched_us(call: Callable[[], object], plan: _Plan, timings: list[CpuTiming]) -> float:
    """Median per-call CPU time of ``call`` in batches, µs."""
    timing = time_cpu_bound(call, warmup=plan.warmup, repeats=plan.repeats)
    timings.append(timing)
    return round(timing.cpu_ns / 1000.0, 3)


# ------------------------------------------------------------------------ login


def _measure_login(plan: _Plan, timings: list[CpuTiming]) -> LoginCosts:
    """CPU time of PBKDF2-SHA256 at ``plan.pbkdf2_iterations``, scaled linearly to 600,000;
    the measurement is appended to ``timings``."""
    salt = os.urandom(16)

    def hash_password() -> bytes:
        return hashlib.pbkdf2_hmac("sha256", b"correct horse battery", salt, plan.pbkdf2_iterations)

    timing = time_cpu_bound(hash_password, warmup=1, repeats=plan.pbkdf2_repeats, batch=1)
    timings.append(timing)
    scale = OWASP_PBKDF2_ITERATIONS / plan.pbkdf2_iterations
    return LoginCosts(
        pbkdf2_sha256_ms=round(timing.cpu_ns * scale / 1e6, 3),
        iterations=OWASP_PBKDF2_ITERATIONS,
    )


# ------------------------------------------------------------------------ Redis


def public_url(url: str) -> str:
    """``url`` without credentials: no user or password, no ``password=`` query value.

    The credentials are everything between ``//`` and the *last* ``@`` (a generated
    password may hold ``/``, ``?``, ``#`` or ``@``, which a URL parser would take for the
    path, the query or the host). Never raises: an address that does not parse is shown
    as ``(an address that does not parse)``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(an address that does not parse)"
    if "@" in rest:
        rest = rest[rest.rindex("@") + 1 :]
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme}://(an address that does not parse)"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    query = urlencode(
        [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in {"password", "username", "user"}
        ]
    )
    return (
        urlunsplit((parts.scheme, netloc, parts.path, query, ""))
        if netloc
        else (f"{parts.scheme}://{parts.path}" + (f"?{query}" if query else ""))
    )  # a Unix socket (unix:///run/redis.sock) keeps its //


def _secrets_of(url: str) -> list[str]:
    """The secrets in ``url`` (the credentials, the password as written and decoded,
    ``password=`` values), longest first, to remove from any message about it. A
    password under three characters is not searched for (it would garble the message)."""
    _, _, rest = url.partition("://")
    found: list[str] = []
    if "@" in rest:
        credentials = rest[: rest.rindex("@")]
        password = credentials.partition(":")[2]
        found += [credentials, password, unquote(password)]
    query = rest.partition("?")[2]
    found += [value for key, value in parse_qsl(query) if key.lower() == "password"]
    return sorted({secret for secret in found if len(secret) >= 3}, key=len, reverse=True)


def _redacted(message: str, url: str) -> str:
    """``message`` with every secret of ``url`` replaced by ``***``."""
    for secret in _secrets_of(url):
        message = message.replace(secret, "***")
    return message


def check_credentials(url: str) -> None:
    """Refuse credentials that a URL parser would split (a ``/``, ``?`` or ``#`` in them,
    or an ``@`` before the last): redis-py would read part of the password as the host,
    the path or the port, and say so in its errors.

    Raises:
        CalibrationError: what to do instead (percent-encode, or the environment).
    """
    _, _, rest = url.partition("://")
    if "@" not in rest:
        return
    credentials = rest[: rest.rindex("@")]
    if any(char in credentials for char in "/?#@"):
        raise CalibrationError(
            f"--redis-url {public_url(url)}: the password holds '/', '?', '#' or '@': "
            f"percent-encode them (%2F, %3F, %23, %40), or leave the password out of the "
            f"URL and set {REDIS_PASSWORD_ENV}"
        )


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
    """Median GET and SET round trips (wall time), the server's mean time per GET and SET
    (``INFO commandstats`` across the timed loops), ms, and the redis-py and server
    versions."""
    redis_module = _import_redis()
    from redis.backoff import NoBackoff  # noqa: PLC0415 (an optional dependency)
    from redis.retry import Retry  # noqa: PLC0415

    shown = public_url(url)
    check_credentials(url)
    report(f"Redis at {shown}")
    password = os.environ.get(REDIS_PASSWORD_ENV) or None

    def hidden(exc: BaseException) -> str:
        """The error's first line, without the URL's secrets or the password."""
        text = _redacted(_one_line(exc), url)
        return text.replace(password, "***") if password and len(password) >= 3 else text

    try:
        client: redis.Redis = redis_module.Redis.from_url(
            url,
            **({"password": password} if password else {}),
            socket_connect_timeout=2.0,
            socket_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )
    except (ValueError, TypeError) as exc:
        raise CalibrationError(f"--redis-url {shown}: {hidden(exc)}") from None
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

                def set_value() -> object:
                    return client.set(key, value, ex=REDIS_KEY_TTL_S)

                def get_value() -> object:
                    return client.get(key)

                for _ in range(plan.redis_warmup):
                    set_value()
                    get_value()
                before = _commandstats(client, redis_module)
                report("Redis SET")
                set_ns = median_round_trip_ns(set_value, plan.redis_repeats)
                report("Redis GET")
                get_ns = median_round_trip_ns(get_value, plan.redis_repeats)
                after = _commandstats(client, redis_module)
            finally:
                # Best effort: an earlier error matters more, and the keys expire anyway.
                with suppress(redis_module.RedisError):
                    _delete_prefix(client, prefix)
    except (redis_module.RedisError, OSError, ValueError) as exc:
        raise CalibrationError(f"--redis-url {shown}: {hidden(exc)}") from None
    costs_ = StoreCosts(
        url=shown,
        get_ms=round(get_ns / 1e6, 6),
        set_ms=round(set_ns / 1e6, 6),
        server_get_ms=server_ms_per_call(before, after, "get"),
        server_set_ms=server_ms_per_call(before, after, "set"),
    )
    return costs_, server


def _commandstats(client: redis.Redis, redis_module: Any) -> dict[str, Any]:
    """``INFO commandstats`` as redis-py parses it, or ``{}`` where the server refuses it
    (an ACL without INFO, a managed Redis that renamed it)."""
    try:
        stats: dict[str, Any] = client.info("commandstats")
    except redis_module.ResponseError:
        return {}
    return stats


def commandstats_delta(
    before: Mapping[str, Any], after: Mapping[str, Any], command: str
) -> tuple[int, float]:
    """Calls of ``command`` and the server's time on them between two ``INFO commandstats``.

    Args:
        before: ``INFO commandstats`` before the timed calls, as redis-py parses it
            (``{"cmdstat_get": {"calls": 12, "usec": 30, ...}, ...}``).
        after: the same after them.
        command: the command in lower case (``get``, ``set``).

    Returns:
        ``(calls, usec)``: the changes in ``calls`` and in ``usec`` (microseconds), so
        calls made before ``before`` do not count; ``(0, 0.0)`` when ``after`` has no
        statistics for the command. A command missing from ``before`` counts from zero.
    """
    name = f"cmdstat_{command}"
    now = after.get(name)
    if not isinstance(now, Mapping):
        return 0, 0.0
    then = before.get(name)
    if not isinstance(then, Mapping):
        then = {}
    calls = int(now.get("calls", 0)) - int(then.get("calls", 0))
    usec = float(now.get("usec", 0)) - float(then.get("usec", 0))
    return calls, usec


def server_ms_per_call(
    before: Mapping[str, Any], after: Mapping[str, Any], command: str
) -> float | None:
    """The server's own mean time per call of ``command`` between two ``INFO commandstats``
    (:func:`commandstats_delta`), in milliseconds rounded to the nanosecond.

    ``None`` when there were no calls in between, or the statistics went backwards (a
    ``CONFIG RESETSTAT`` or a restart meanwhile).
    """
    calls, usec = commandstats_delta(before, after, command)
    if calls <= 0 or usec < 0:
        return None
    return round(usec / calls / 1000.0, 6)


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
        f"CPU time (time.thread_time_ns) for JWT and PBKDF2; JWT: {plan.warmup} warm-up "
        f"calls, median of {plan.repeats} batches of about {BATCH_CPU_NS / 1e6:g} ms of CPU "
        f"each; PBKDF2: median of "
        f"{plan.pbkdf2_repeats}; Redis: wall time (time.perf_counter_ns), median of "
        f"{plan.redis_repeats} round trips after {plan.redis_warmup}, and the server's own "
        "time per call from INFO commandstats"
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
