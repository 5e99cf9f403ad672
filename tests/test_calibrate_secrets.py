"""`authsim calibrate --redis-url` never shows a password (#20).

Generated passwords hold ``/``, ``?``, ``#`` and ``@``, which a URL parser takes for the
path, the query, the fragment or the host: redis-py then reads part of the password as
a host or a port and puts it in its error. The URL shown (and saved in the profile) has
no credentials whatever they hold; credentials a parser would split are refused before
redis-py sees them (percent-encode them, or give the password in the environment); every
error is scrubbed of the password; a Unix-socket URL keeps its ``//``.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import redis
from redis_server import redis_url_fixture  # noqa: F401

from simulator.costs.measure import (
    REDIS_PASSWORD_ENV,
    CalibrationError,
    check_credentials,
    measure,
    public_url,
)

PASSWORD = "p/a?s#s@w:rd!7Zq"
"""A generated-looking password with every character that breaks a URL."""


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{PASSWORD}@cache:6379/0", "redis://cache:6379/0"),
        (f"redis://admin:{PASSWORD}@[::1]:6380/2", "redis://[::1]:6380/2"),
        (f"rediss://cache/0?password={quote(PASSWORD)}&ssl=1", "rediss://cache/0?ssl=1"),
        ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"),
        (f"unix://:{PASSWORD}@/run/redis.sock", "unix:///run/redis.sock"),
        ("redis://[::1", "redis://(an address that does not parse)"),
        ("no scheme at all", "(an address that does not parse)"),
    ],
)
def test_the_url_shown_has_no_credentials(url: str, shown: str) -> None:
    assert public_url(url) == shown


@pytest.mark.parametrize("written", [PASSWORD, "a@b", "x/y", "q?r", "h#j"])
def test_credentials_a_parser_would_split_are_refused_without_showing_them(
    written: str,
) -> None:
    with pytest.raises(CalibrationError) as raised:
        check_credentials(f"redis://user:{written}@127.0.0.1:6379/0")
    message = str(raised.value)
    assert "percent-encode" in message and REDIS_PASSWORD_ENV in message
    assert written not in message and "\n" not in message


def test_percent_encoded_credentials_pass() -> None:
    check_credentials(f"redis://user:{quote(PASSWORD, safe='')}@127.0.0.1:6379/0")


def _protect(url: str) -> None:
    with redis.Redis.from_url(url) as client:
        client.config_set("requirepass", PASSWORD)


def test_a_percent_encoded_password_works_and_is_not_saved(redis_url: str) -> None:
    _protect(redis_url)
    host = redis_url.removeprefix("redis://")
    profile = measure(redis_url=f"redis://:{quote(PASSWORD, safe='')}@{host}", fast=True)
    assert profile.store is not None and profile.store.url == redis_url
    assert "p/a" not in str(profile.model_dump())


def test_the_password_can_come_from_the_environment(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _protect(redis_url)
    monkeypatch.setenv(REDIS_PASSWORD_ENV, PASSWORD)
    profile = measure(redis_url=redis_url, fast=True)
    assert profile.store is not None and profile.store.url == redis_url


@pytest.mark.parametrize("source", ["url", "environment"])
def test_a_wrong_password_is_an_error_that_shows_no_password(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    _protect(redis_url)
    wrong = "wr%2Fong-secret-value"
    host = redis_url.removeprefix("redis://")
    url = f"redis://:{wrong}@{host}" if source == "url" else redis_url
    if source == "environment":
        monkeypatch.setenv(REDIS_PASSWORD_ENV, "wr/ong-secret-value")
    with pytest.raises(CalibrationError) as raised:
        measure(redis_url=url, fast=True)
    message = str(raised.value)
    assert "secret" not in message and PASSWORD not in message, message
    assert message.startswith(f"--redis-url {redis_url}:")
