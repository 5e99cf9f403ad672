"""The testbed's server process (``simulator.testbed.server``).

Pure helpers are tested in-process; the tests marked ``slow`` start the real server as a
subprocess on a free loopback port and always stop it.
"""

from __future__ import annotations

import http.client
import json
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import running_redis

from simulator.testbed.config import ServerConfig
from simulator.testbed.server import (
    BadRequestError,
    JwtTokens,
    LocalSessions,
    Slots,
    burn_cpu,
    business_work,
    hash_password,
    make_credentials,
    parse_login,
    parse_work,
)
from simulator.tokens.claims import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from simulator.tokens.issue import issue_token
from simulator.tokens.keys import KeyPair

READY_TIMEOUT_S = 15.0
"""Longest wait for a started server's ``ready`` line."""

SECRET = secrets.token_hex(32)


# Pure helpers -------------------------------------------------------------------------


def test_burn_cpu_spends_at_least_the_cpu_time_asked() -> None:
    wall, cpu = time.perf_counter(), time.thread_time()
    burn_cpu(20.0)
    assert time.thread_time() - cpu >= 0.020
    assert 0.019 <= time.perf_counter() - wall < 1.0


def test_business_work_splits_cpu_and_sleep() -> None:
    wall, cpu = time.perf_counter(), time.thread_time()
    business_work(40.0, 0.25)
    elapsed, used = time.perf_counter() - wall, time.thread_time() - cpu
    assert 0.039 <= elapsed < 1.0
    assert 0.010 <= used < 0.030  # 10 ms computing, 30 ms asleep
    # no work: no computing and no sleep (CPU time, as wall time on a busy machine
    # includes waiting for a core)
    start, cpu = time.perf_counter(), time.thread_time()
    business_work(0.0, 1.0)
    assert time.thread_time() - cpu < 0.002
    assert time.perf_counter() - start < 0.5


def test_hash_password_is_fixed_per_user_and_iteration_count() -> None:
    assert hash_password(7, 100) == hash_password(7, 100)
    assert hash_password(7, 100) != hash_password(8, 100)
    assert hash_password(7, 100) != hash_password(7, 101)
    assert len(hash_password(7, 100)) == 32


def test_local_sessions_expire_and_belong_to_one_user() -> None:
    now = [1000.0]
    sessions = LocalSessions(ttl_s=60.0, clock=lambda: now[0])
    sid = sessions.issue(5)
    assert len(sid) == 32 and sessions.sessions[sid] == (5, 1060.0)
    assert sessions.check(sid, 5) is None
    assert sessions.check(sid, 6) == "invalid"
    assert sessions.check("unknown", 5) == "no_session"
    now[0] = 1060.0
    assert sessions.check(sid, 5) == "expired"
    assert sid not in sessions.sessions
    assert sessions.check(sid, 5) == "no_session"


def test_jwt_tokens_issue_and_check() -> None:
    tokens = JwtTokens(SECRET, "HS256", 900.0)
    token = tokens.issue(42)
    assert tokens.check(token, 42) is None
    assert tokens.check(token, 43) == "invalid"
    assert tokens.check(token + "x", 42) == "invalid"
    assert tokens.check("not a token", 42) == "invalid"
    other = JwtTokens(secrets.token_hex(32), "HS256", 900.0)
    assert other.check(token, 42) == "invalid"

    key = KeyPair.from_secret(bytes.fromhex(SECRET))
    old = issue_token(
        key, "42", 60, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, now=time.time() - 3600
    )
    assert tokens.check(old, 42) == "expired"


def test_jwt_tokens_accept_retired_keys_during_a_rotation() -> None:
    old_secret = secrets.token_hex(32)
    before = JwtTokens(old_secret, "HS256", 900.0)
    old_token = before.issue(7)
    during = JwtTokens(SECRET, "HS256", 900.0, [old_secret])
    new_token = during.issue(7)
    assert during.verifier.key.kid == KeyPair.from_secret(bytes.fromhex(SECRET)).kid
    assert during.check(old_token, 7) is None  # the overlap: both keys verify
    assert during.check(new_token, 7) is None
    assert before.check(new_token, 7) == "invalid"
    after = JwtTokens(SECRET, "HS256", 900.0)
    assert after.check(old_token, 7) == "invalid"  # retired key dropped
    assert after.check(new_token, 7) is None


def test_retired_secrets_reach_the_server_through_its_configuration(tmp_path: Path) -> None:
    old_secret = secrets.token_hex(32)
    config = ServerConfig(
        strategy="jwt",
        workers=1,
        queue_limit=0,
        pbkdf2_iterations=1,
        jwt_secret=SECRET,
        jwt_retired_secrets=[old_secret],
    )
    config.save(tmp_path / "server.json")
    credentials = make_credentials(ServerConfig.load(tmp_path / "server.json"))
    assert isinstance(credentials, JwtTokens)
    assert credentials.check(JwtTokens(old_secret, "HS256", 900.0).issue(3), 3) is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"strategy": "cookies"}, "strategy"),
        ({"workers": 0}, "workers"),
        ({"queue_limit": -1}, "queue_limit"),
        ({"cpu_fraction": 1.5}, "cpu_fraction"),
        ({"strategy": "shared_store"}, "redis_url"),
        ({"strategy": "jwt"}, "jwt_secret"),
        ({"strategy": "jwt", "jwt_secret": SECRET, "jwt_algorithm": "RS256"}, "HS256"),
    ],
)
def test_unusable_configurations_are_refused(changes: dict[str, Any], words: str) -> None:
    settings: dict[str, Any] = {
        "strategy": "local",
        "workers": 1,
        "queue_limit": 0,
        "pbkdf2_iterations": 1,
    }
    with pytest.raises(ValueError, match=words):
        make_credentials(ServerConfig(**(settings | changes)))


def test_parse_login() -> None:
    assert parse_login(b'{"user": 12}') == 12
    for body in (b"", b"{", b"[1]", b'{"id": 1}', b'{"user": true}', b'{"user": 1.5}', b"\xff"):
        with pytest.raises(BadRequestError):
            parse_login(body)


def test_parse_work() -> None:
    assert parse_work("Bearer abc", "3", "12.5") == ("abc", 3, 12.5)
    assert parse_work("bearer  abc ", " 3 ", "0") == ("abc", 3, 0.0)
    assert parse_work(None, "3", "1") == (None, 3, 1.0)
    assert parse_work("Basic abc", "3", "1") == (None, 3, 1.0)
    assert parse_work("Bearer ", "3", "1") == (None, 3, 1.0)
    bad = [
        ("Bearer a", None, "1"),
        ("Bearer a", "3", None),
        ("Bearer a", "x", "1"),
        ("Bearer a", "3", "fast"),
        ("Bearer a", "3", "nan"),
        ("Bearer a", "3", "-1"),
        ("Bearer a", "3", "1e9"),
    ]
    for values in bad:
        with pytest.raises(BadRequestError):
            parse_work(*values)


def test_slots_refuse_beyond_the_queue_limit() -> None:
    no_queue = Slots(workers=1, queue_limit=0)
    assert no_queue.acquire() == 0.0
    assert no_queue.acquire() is None  # 0: nobody may wait, as in the model
    no_queue.release()
    assert no_queue.acquire() == 0.0
    no_queue.release()

    slots = Slots(workers=1, queue_limit=1)
    assert slots.acquire() == 0.0
    waited: list[float | None] = []
    waiter = threading.Thread(target=lambda: waited.append(slots.acquire()))
    waiter.start()
    deadline = time.monotonic() + 5
    while slots.waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert slots.waiting == 1
    assert slots.acquire() is None  # one waits; one more is refused
    time.sleep(0.02)
    slots.release()
    waiter.join(5)
    assert waited and waited[0] is not None and waited[0] >= 15.0
    assert slots.waiting == 0
    slots.release()
    with pytest.raises(ValueError):
        slots.release()  # bounded: never more slots than workers


# The real process ---------------------------------------------------------------------


class Running:
    """A started server process and requests to it."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One request on a new connection: (status, JSON answer)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            assert response.getheader("Content-Type") == "application/json"
            answer: dict[str, Any] = json.loads(response.read())
            return response.status, answer
        finally:
            connection.close()

    def login(self, user: int) -> str:
        status, answer = self.request("POST", "/login", {"user": user})
        assert status == 200, answer
        credential: str = answer["credential"]
        return credential

    def work(self, credential: str, user: int, service_ms: float) -> tuple[int, dict[str, Any]]:
        headers = {
            "Authorization": f"Bearer {credential}",
            "X-User": str(user),
            "X-Service-Ms": str(service_ms),
        }
        return self.request("GET", "/work", headers=headers)


def _ready_line(process: subprocess.Popen[str]) -> str:
    """The first line of stdout, waiting at most :data:`READY_TIMEOUT_S`."""
    lines: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(READY_TIMEOUT_S)
    return lines[0] if lines else ""


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(name="start")
def start_fixture(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start servers (``start(strategy=..., ...)``); all are stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(index: int = 0, **settings: Any) -> Running:
        defaults: dict[str, Any] = {
            "strategy": "local",
            "workers": 2,
            "queue_limit": 10,
            "pbkdf2_iterations": 1000,
        }
        config = tmp_path / f"server-{len(started)}.json"
        ServerConfig(**(defaults | settings)).save(config)
        stderr = tmp_path / f"server-{len(started)}.err"
        with stderr.open("w") as errors:
            command = [
                sys.executable, "-m", "simulator.testbed.server",
                "--config", str(config), "--index", str(index), "--port", "0",
            ]  # fmt: skip
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True
            )
        started.append(process)
        line = _ready_line(process)
        problem = stderr.read_text(encoding="utf-8")
        assert line.startswith("ready "), f"no ready line: {line!r} {problem}"
        return Running(process, int(line.split()[1]))

    try:
        yield start
    finally:
        for process in started:
            _stop(process)
        assert all(process.poll() is not None for process in started)


@pytest.mark.slow
def test_health_and_bad_requests(start: Callable[..., Running]) -> None:
    server = start(index=4)
    assert server.request("GET", "/health") == (200, {"server": 4, "ok": True})
    status, answer = server.request("GET", "/nowhere")
    assert status == 404 and answer["server"] == 4
    status, answer = server.request("POST", "/login", {"name": "x"})
    assert status == 400 and answer["error"] == "bad_request" and answer["server"] == 4
    status, answer = server.request("GET", "/work", headers={"X-User": "1"})
    assert status == 400 and "X-Service-Ms" in answer["detail"]


@pytest.mark.slow
def test_local_login_then_work_on_one_keep_alive_connection(
    start: Callable[..., Running],
) -> None:
    server = start(index=1, cpu_fraction=0.5)
    credential = server.login(9)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {credential}", "X-User": "9", "X-Service-Ms": "30"}
        for _ in range(3):  # the same connection is kept alive
            connection.request("GET", "/work", headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            assert response.status == 200, answer
            assert response.getheader("Content-Length") is not None
        work = answer
        round_trips = []
        headers["X-Service-Ms"] = "0"
        for _ in range(20):
            begin = time.perf_counter()
            connection.request("GET", "/work", headers=headers)
            connection.getresponse().read()
            round_trips.append(time.perf_counter() - begin)
    finally:
        connection.close()
    # Well under the 40 ms that Nagle's algorithm with delayed ACKs would add to each.
    assert sorted(round_trips)[10] < 0.020
    answer = work
    assert answer["server"] == 1
    assert 27.0 <= answer["work_ms"] < 1000.0
    assert answer["queued_ms"] == 0.0 and 0.0 <= answer["auth_ms"] < 50.0

    status, answer = server.work("not-a-session", 9, 30)
    assert (status, answer["error"], answer["reason"]) == (401, "unauthorized", "no_session")
    assert "work_ms" not in answer and "queued_ms" in answer and "auth_ms" in answer
    status, answer = server.work(credential, 10, 30)
    assert (status, answer["reason"]) == (401, "invalid")


@pytest.mark.slow
def test_overload_when_the_slot_is_busy_and_nobody_may_wait(
    start: Callable[..., Running],
) -> None:
    server = start(workers=1, queue_limit=0, cpu_fraction=0.0)
    credential = server.login(1)
    results: list[tuple[int, dict[str, Any]]] = []
    first = threading.Thread(target=lambda: results.append(server.work(credential, 1, 600)))
    first.start()
    time.sleep(0.2)
    begin = time.perf_counter()
    status, answer = server.work(credential, 1, 600)
    assert time.perf_counter() - begin < 0.4  # refused at once, not after the first
    assert (status, answer) == (503, {"server": 0, "error": "overload"})
    first.join(10)
    assert results and results[0][0] == 200


@pytest.mark.slow
def test_jwt_login_then_work(start: Callable[..., Running]) -> None:
    server = start(strategy="jwt", jwt_secret=SECRET)
    token = server.login(3)
    assert token.count(".") == 2
    status, answer = server.work(token, 3, 5)
    assert status == 200 and answer["work_ms"] >= 4.5
    assert server.work(token, 4, 5)[1]["reason"] == "invalid"
    # Another server with the same secret accepts it: no shared state needed.
    other = start(index=1, strategy="jwt", jwt_secret=SECRET)
    assert other.work(token, 3, 1)[0] == 200


@pytest.mark.slow
def test_shared_store_sessions_and_a_dead_store(start: Callable[..., Running]) -> None:
    with running_redis() as redis_url:
        first = start(index=0, strategy="shared_store", redis_url=redis_url)
        second = start(index=1, strategy="shared_store", redis_url=redis_url)
        credential = first.login(8)
        status, answer = second.work(credential, 8, 5)
        assert status == 200 and answer["server"] == 1
        assert second.work(credential, 9, 5)[1]["reason"] == "invalid"
        assert second.work("missing", 8, 5)[1]["reason"] == "no_session"
    begin = time.perf_counter()
    assert first.work(credential, 8, 5) == (503, {"server": 0, "error": "store_unavailable"})
    assert first.request("POST", "/login", {"user": 8})[1]["error"] == "store_unavailable"
    assert time.perf_counter() - begin < 5.0
    assert first.request("GET", "/health")[0] == 200


@pytest.mark.slow
def test_sigterm_stops_the_server_with_exit_code_0(start: Callable[..., Running]) -> None:
    server = start()
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        idle.request("GET", "/health")
        idle.getresponse().read()  # an idle keep-alive connection stays open
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=5) == 0
    finally:
        idle.close()


@pytest.mark.slow
def test_a_bad_configuration_fails_at_start(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    ServerConfig(strategy="nope", workers=1, queue_limit=0, pbkdf2_iterations=1).save(config)
    command = [sys.executable, "-m", "simulator.testbed.server", "--config", str(config)]
    done = subprocess.run(
        [*command, "--index", "0", "--port", "0"],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "strategy" in done.stderr and "Traceback" not in done.stderr
