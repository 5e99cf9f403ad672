"""One real testbed server, ``python -m simulator.testbed.server --config PATH --index I
--port P``: the standard library's ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, a
thread per connection) on 127.0.0.1 only. Every answer is JSON with ``"server": I``.

- ``GET /health``: ``{"ok": true}``, no job slot taken.
- ``POST /login`` ``{"user": int}``: PBKDF2-SHA256 of the user's (always correct)
  password, then a credential: a session id in this process (``local``, ``sticky``),
  in Redis (``shared_store``) or a signed HS256 token (``jwt``).
- ``GET /work`` (``Authorization: Bearer <credential>``, ``X-User``, ``X-Service-Ms``):
  the credential is checked, then ``cpu_fraction`` of the service time is computed and
  the rest slept.

Jobs hold one of ``workers`` slots; ``queue_limit`` may wait and one more is answered
503 ``overload`` at once (as :mod:`simulator.model.cluster`; 0: none may wait). Answers
report ``queued_ms`` (waiting for a slot), ``auth_ms`` (hash and issue, or check) and
``work_ms`` (business work), wall-clock milliseconds. Nothing is logged per request;
``ready <port>`` is printed once listening; SIGTERM exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from simulator.testbed.config import ServerConfig

HOST: Final = "127.0.0.1"  # the only address a testbed server listens on
STRATEGIES: Final = ("local", "sticky", "shared_store", "jwt")
MAX_BODY_BYTES: Final = 64 * 1024  # a longer request body is refused (400)
MAX_SERVICE_MS: Final = 60_000.0  # the largest X-Service-Ms accepted, milliseconds
STORE_TIMEOUT_S: Final = 2.0  # Redis socket and connect timeouts, seconds

Reply = tuple[int, dict[str, Any]]  # an HTTP status and its JSON answer


class BadRequestError(ValueError):
    """Input the server cannot use: answered 400 with the message."""


class StoreUnavailable(Exception):  # noqa: N818 (a condition, answered 503)
    """The session store did not answer: answered 503 ``store_unavailable``."""


class LocalSessions:
    """Sessions in this process's memory ({sid: (user, expires_at)}), for ``local`` and
    ``sticky``; ``ttl_s`` in seconds, ``clock`` in seconds (monotonic).

    Each backend's ``issue(user)`` returns a new credential, and ``check(credential,
    user)`` ``None`` when it is valid for ``user``, else ``no_session``, ``expired`` or
    ``invalid``; both raise :class:`StoreUnavailable` when the store does not answer.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.sessions: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def issue(self, user: int) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            self.sessions[sid] = (user, self.clock() + self.ttl_s)
        return sid

    def check(self, credential: str, user: int) -> str | None:
        with self._lock:
            entry = self.sessions.get(credential)
            if entry is None:
                return "no_session"
            if entry[1] <= self.clock():
                del self.sessions[credential]
                return "expired"
        return None if entry[0] == user else "invalid"


class RedisSessions:
    """Sessions in Redis (``session:<sid>`` = user, ``EX`` ttl), for ``shared_store``: one
    pool per process, 2 s timeouts, one retry without redis-py's default backoff."""

    def __init__(self, url: str, ttl_s: float) -> None:
        import redis  # noqa: PLC0415 (only this strategy needs it)
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=STORE_TIMEOUT_S,
            socket_connect_timeout=STORE_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),
        )
        self.ttl_s = max(1, math.ceil(ttl_s))

    def _store(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    def issue(self, user: int) -> str:
        sid = secrets.token_urlsafe(24)
        self._store(self.client.set, f"session:{sid}", str(user), ex=self.ttl_s)
        return sid

    def check(self, credential: str, user: int) -> str | None:
        value = self._store(self.client.get, f"session:{credential}")
        if value is None:
            return "no_session"
        return None if value == str(user).encode() else "invalid"


class JwtTokens:
    """Signed tokens (HS256, the project's :mod:`simulator.tokens`), for ``jwt``;
    ``ttl_s`` in seconds. One :class:`~simulator.tokens.verify.Verifier` per process.

    Tokens are signed with ``secret_hex``; ``retired_secrets_hex`` are keys of a
    rotation still accepted while their tokens live (the overlap): the verifier holds a
    key set (``kid -> key``), the token's ``kid`` selecting the key."""

    def __init__(
        self,
        secret_hex: str,
        algorithm: str,
        ttl_s: float,
        retired_secrets_hex: Sequence[str] = (),
    ) -> None:
        from simulator.tokens.issue import issue_token  # noqa: PLC0415
        from simulator.tokens.keys import KeyPair  # noqa: PLC0415
        from simulator.tokens.verify import Verifier  # noqa: PLC0415

        if algorithm != "HS256" or not secret_hex or not ttl_s >= 1:
            raise ValueError("jwt needs jwt_algorithm HS256, a jwt_secret and jwt_ttl_s >= 1")
        current = KeyPair.from_secret(bytes.fromhex(secret_hex))
        retired = [KeyPair.from_secret(bytes.fromhex(text)) for text in retired_secrets_hex]
        # The current key first: it is the verifier's ``key``, the one tokens are signed with.
        self.verifier = Verifier({key.kid: key for key in (current, *retired)})
        self.ttl_s = ttl_s
        self._issue_token = issue_token

    def issue(self, user: int) -> str:
        v = self.verifier  # its issuer and audience: the project's defaults
        return self._issue_token(v.key, str(user), self.ttl_s, issuer=v.issuer, audience=v.audience)

    def check(self, credential: str, user: int) -> str | None:
        result = self.verifier.verify(credential)
        if not result.valid or result.claims is None:
            return "expired" if result.reason == "expired" else "invalid"
        return None if result.claims.get("sub") == str(user) else "invalid"


Credentials = LocalSessions | RedisSessions | JwtTokens


def make_credentials(config: ServerConfig) -> Credentials:
    """The credential backend of ``config.strategy`` (imports redis or PyJWT only when
    needed). Raises :class:`ValueError` on an unusable configuration."""
    if config.strategy not in STRATEGIES:
        raise ValueError(f"strategy {config.strategy!r}; choose from {', '.join(STRATEGIES)}")
    if config.workers < 1 or config.queue_limit < 0 or config.pbkdf2_iterations < 1:
        raise ValueError("need workers >= 1, queue_limit >= 0 and pbkdf2_iterations >= 1")
    if not 0.0 <= config.cpu_fraction <= 1.0:
        raise ValueError(f"cpu_fraction {config.cpu_fraction} is not between 0 and 1")
    if config.strategy in ("local", "sticky"):
        return LocalSessions(config.session_ttl_s)
    if config.strategy == "shared_store":
        if not config.redis_url:
            raise ValueError("shared_store needs redis_url")
        return RedisSessions(config.redis_url, config.session_ttl_s)
    return JwtTokens(
        config.jwt_secret, config.jwt_algorithm, config.jwt_ttl_s, config.jwt_retired_secrets
    )


def hash_password(user: int, iterations: int) -> bytes:
    """PBKDF2-SHA256 of ``user``'s fixed password with its fixed salt (the login cost)."""
    salt = hashlib.sha256(b"authsim-testbed-salt:%d" % user).digest()[:16]
    return hashlib.pbkdf2_hmac("sha256", b"password-%d" % user, salt, iterations)


def burn_cpu(duration_ms: float) -> int:
    """Compute for ``duration_ms`` milliseconds of this thread's CPU time
    (:func:`time.thread_time`, so a thread kept off the CPU by others takes longer, as
    real work would); returns the arithmetic's result so that it is not optimized away."""
    end = time.thread_time() + duration_ms / 1000.0
    acc = 0
    while time.thread_time() < end:
        for i in range(200):
            acc = (acc * 31 + i) % 1_000_003
    return acc


def business_work(service_ms: float, cpu_fraction: float) -> None:
    """``cpu_fraction × service_ms`` of CPU, then the rest of ``service_ms`` asleep."""
    burn_cpu(cpu_fraction * service_ms)
    time.sleep(max(0.0, (1.0 - cpu_fraction) * service_ms) / 1000.0)


def parse_user(value: Any) -> int:
    """A user id: a JSON integer (not a boolean) or its decimal text."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise BadRequestError(f"user {value[:40]!r} is not an integer") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError("user must be an integer")
    return value


def parse_login(body: bytes) -> int:
    """The user of a ``/login`` body ``{"user": int}``."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("the body is not JSON") from None
    if not isinstance(data, dict) or "user" not in data:
        raise BadRequestError('the body must be a JSON object {"user": int}')
    return parse_user(data["user"])


def parse_work(
    authorization: str | None, user: str | None, service: str | None
) -> tuple[str | None, int, float]:
    """(bearer credential or ``None``, user, service time in ms) from the ``/work``
    headers ``Authorization``, ``X-User`` and ``X-Service-Ms``."""
    if user is None or service is None:
        raise BadRequestError("X-User and X-Service-Ms headers are required")
    try:
        service_ms = float(service)
    except ValueError:
        raise BadRequestError("X-Service-Ms is not a number") from None
    if not (math.isfinite(service_ms) and 0.0 <= service_ms <= MAX_SERVICE_MS):
        raise BadRequestError(f"X-Service-Ms must be between 0 and {MAX_SERVICE_MS:g}")
    scheme, _, credential = (authorization or "").strip().partition(" ")
    bearer = scheme.lower() == "bearer" and credential.strip()
    return (credential.strip() if bearer else None), parse_user(user), service_ms


class Slots:
    """``workers`` job slots and at most ``queue_limit`` jobs waiting for one."""

    def __init__(self, workers: int, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        self.waiting = 0
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()

    def acquire(self) -> float | None:
        """Take a slot: the milliseconds waited, or ``None`` (overload) when the queue is
        full; the caller must :meth:`release` after a non-``None`` answer."""
        start = time.perf_counter()
        with self._lock:
            if self._slots.acquire(blocking=False):
                return 0.0
            if self.waiting >= self.queue_limit:
                return None
            self.waiting += 1
        try:
            self._slots.acquire()
        finally:
            with self._lock:
                self.waiting -= 1
        return (time.perf_counter() - start) * 1000.0

    def release(self) -> None:
        self._slots.release()


class ClusterServer(ThreadingHTTPServer):
    """The HTTP server and this process's index, configuration, slots and credentials."""

    daemon_threads = True
    block_on_close = False  # never wait for idle keep-alive connections at exit
    request_queue_size = 1024

    def __init__(self, port: int, index: int, config: ServerConfig) -> None:
        self.index = index
        self.config = config
        self.slots = Slots(config.workers, config.queue_limit)
        self.credentials = make_credentials(config)
        super().__init__((HOST, port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that went away is not worth a traceback."""


class Handler(BaseHTTPRequestHandler):
    """Routes one request; every answer is JSON with ``Content-Length``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall
    server: ClusterServer

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing is logged per request."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors of :mod:`http.server` answered as JSON, connection closed."""
        self.close_connection = True
        self._answer(code, {"error": (message or f"http {code}").splitlines()[0][:200]})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps({"server": self.server.index, **payload}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        text = (self.headers.get("Content-Length") or "0").strip()
        length = int(text) if text.isascii() and text.isdigit() else -1  # not "²"
        if self.headers.get("Transfer-Encoding") or not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            raise BadRequestError(f"send a Content-Length of 0 to {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length else b""

    def _route(self) -> None:
        try:
            body = self._body()
            path = self.path.split("?", 1)[0]
            if (self.command, path) == ("GET", "/health"):
                self._answer(200, {"ok": True})
            elif (self.command, path) == ("POST", "/login"):
                user = parse_login(body)
                self._in_slot(lambda: self._login(user))
            elif (self.command, path) == ("GET", "/work"):
                names = ("Authorization", "X-User", "X-Service-Ms")
                credential, user, service_ms = parse_work(*map(self.headers.get, names))
                self._in_slot(lambda: self._work(credential, user, service_ms))
            else:
                self._answer(404, {"error": "not_found", "path": path[:200]})
        except BadRequestError as exc:
            self._answer(400, {"error": "bad_request", "detail": str(exc).splitlines()[0]})
        except StoreUnavailable:
            self._answer(503, {"error": "store_unavailable"})
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # one JSON line, never a traceback
            self.close_connection = True
            self._answer(500, {"error": "internal", "detail": type(exc).__name__})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _route  # noqa: N815

    def _in_slot(self, job: Callable[[], Reply]) -> None:
        """Run ``job`` holding a slot and answer with its ``queued_ms``, or 503 overload."""
        queued_ms = self.server.slots.acquire()
        if queued_ms is None:
            self._answer(503, {"error": "overload"})
            return
        try:
            status, payload = job()
        finally:
            self.server.slots.release()
        self._answer(status, {**payload, "queued_ms": queued_ms})

    def _login(self, user: int) -> Reply:
        start = time.perf_counter()
        hash_password(user, self.server.config.pbkdf2_iterations)
        credential = self.server.credentials.issue(user)
        auth_ms = (time.perf_counter() - start) * 1000.0
        return 200, {"credential": credential, "auth_ms": auth_ms, "work_ms": 0.0}

    def _work(self, credential: str | None, user: int, service_ms: float) -> Reply:
        start = time.perf_counter()
        problem = self.server.credentials.check(credential, user) if credential else "no_session"
        checked = time.perf_counter()
        auth_ms = (checked - start) * 1000.0
        if problem:
            return 401, {"error": "unauthorized", "reason": problem, "auth_ms": auth_ms}
        business_work(service_ms, self.server.config.cpu_fraction)
        return 200, {"auth_ms": auth_ms, "work_ms": (time.perf_counter() - checked) * 1000.0}


def main(argv: list[str] | None = None) -> int:
    """Run one server until SIGTERM or SIGINT; 0 on a clean stop, 2 on a bad start."""
    parser = argparse.ArgumentParser(prog="python -m simulator.testbed.server")
    parser.add_argument("--config", type=Path, required=True, help="ServerConfig JSON")
    parser.add_argument("--index", type=int, required=True, help="this server's number")
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any)")
    args = parser.parse_args(argv)
    try:
        server = ClusterServer(args.port, args.index, ServerConfig.load(args.config))
    except Exception as exc:  # one line, no traceback
        print(f"testbed server {args.index}: cannot start: {exc}", file=sys.stderr)
        return 2

    for signum in (signal.SIGTERM, signal.SIGINT):  # shutdown() waits: call it elsewhere
        signal.signal(signum, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
