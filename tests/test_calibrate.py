"""``authsim calibrate`` and simulator.costs.measure: measurements, profiles, Redis round trips."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import redis
from redis_server import redis_server_binary, redis_url_fixture  # noqa: F401
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.costs.measure import (
    ALGORITHMS,
    OWASP_PBKDF2_ITERATIONS,
    CalibrationError,
    compare,
    measure,
    public_url,
)
from simulator.scenario.calibration import CalibrationProfile, load_profile, save_profile
from simulator.scenario.loading import load_scenario

runner = CliRunner()


@pytest.fixture(scope="module")
def fast_profile() -> CalibrationProfile:
    return measure(fast=True)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_fast_measurement_covers_every_algorithm(fast_profile: CalibrationProfile) -> None:
    costs = fast_profile.jwt
    for table in (costs.sign_us, costs.verify_us, costs.token_bytes):
        assert list(table) == list(ALGORITHMS)
        assert all(value > 0 for value in table.values())
    assert fast_profile.login is not None
    assert fast_profile.login.iterations == OWASP_PBKDF2_ITERATIONS
    assert fast_profile.login.pbkdf2_sha256_ms > 0
    assert fast_profile.store is None


def test_orderings_that_always_hold(fast_profile: CalibrationProfile) -> None:
    costs = fast_profile.jwt
    # An RSA private-key operation costs several times the public-key one.
    for rsa in ("RS256", "PS256"):
        assert costs.sign_us[rsa] > costs.verify_us[rsa]
        assert costs.sign_us[rsa] > costs.sign_us["HS256"]
    sizes = costs.token_bytes
    assert sizes["RS256"] == sizes["PS256"] > sizes["ES256"] == sizes["EdDSA"] > sizes["HS256"]
    # Six claims plus a 2048-bit signature: about 520 bytes; HS256 about 220.
    assert 400 < sizes["RS256"] < 700
    assert 150 < sizes["HS256"] < 300
    # 600,000 SHA-256 HMAC rounds cost far more than one token check.
    assert fast_profile.login is not None
    assert fast_profile.login.pbkdf2_sha256_ms * 1000 > 10 * max(costs.verify_us.values())


def test_machine_notes_and_timestamp(fast_profile: CalibrationProfile) -> None:
    machine = fast_profile.machine
    assert {"platform", "python", "pyjwt", "cryptography", "cpu_count"} <= set(machine)
    assert machine["mode"] == "fast"
    assert "scaled linearly to 600,000" in machine["notes"]
    assert "perf_counter_ns" in machine["method"]
    assert fast_profile.measured_at.endswith("+00:00")


def test_env_turns_on_fast_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSIM_FAST", "1")
    steps: list[str] = []
    profile = measure(progress=steps.append)
    assert profile.machine["mode"] == "fast"
    assert "sign RS256" in steps
    assert "verify EdDSA" in steps


def test_profile_round_trips(fast_profile: CalibrationProfile, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "profile.yaml"
    save_profile(fast_profile, path)
    assert load_profile(path) == fast_profile
    assert [item.name for item in path.parent.iterdir()] == ["profile.yaml"]


def test_compare_sets_each_figure_against_its_reference(
    fast_profile: CalibrationProfile,
) -> None:
    rows = {row.operation: row for row in compare(fast_profile)}
    assert len(rows) == 3 * len(ALGORITHMS) + 1
    assert rows["sign RS256"].reference == 258.0
    assert rows["token HS256"].unit == "bytes"
    ratio = rows["verify HS256"].ratio
    assert ratio is not None
    assert ratio > 0
    assert rows["login PBKDF2-SHA256 600,000"].reference == 140.0


def test_public_url_strips_credentials() -> None:
    assert (
        public_url("redis://user:secret@cache.internal:6380/2") == "redis://cache.internal:6380/2"
    )
    assert public_url("rediss://:secret@[::1]:6379/0?password=x&ssl_cert_reqs=none") == (
        "rediss://[::1]:6379/0?ssl_cert_reqs=none"
    )
    assert public_url("redis://localhost") == "redis://localhost"


def test_cli_fast_out_writes_a_loadable_profile(tmp_path: Path) -> None:
    out = tmp_path / "profile.yaml"
    result = runner.invoke(app, ["calibrate", "--fast", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    profile = load_profile(out)
    assert set(profile.jwt.verify_us) == set(ALGORITHMS)
    assert "verify RS256" in result.stdout
    assert "calibration: " in result.stdout
    assert "ratio" in result.stdout
    # ...and a scenario accepts it, relative to the scenario file.
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("name: calibrated\ncalibration: profile.yaml\n", encoding="utf-8")
    assert load_scenario(str(scenario)).calibration == str(out)


def test_cli_unreachable_redis_is_one_line_exit_2() -> None:
    url = f"redis://admin:hunter2@127.0.0.1:{closed_port()}/0"
    result = runner.invoke(app, ["calibrate", "--fast", "--redis-url", url])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --redis-url redis://127.0.0.1:")
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.output


def test_invalid_redis_url_is_a_calibration_error() -> None:
    with pytest.raises(CalibrationError, match="--redis-url"):
        measure(redis_url="http://127.0.0.1:1/0", fast=True)


def test_missing_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    hint = r"pip install 'authsim\[redis\]' \(or pip install -e '\.\[redis\]' in a checkout\)"
    with pytest.raises(CalibrationError, match=hint):
        measure(redis_url="redis://127.0.0.1:6379/0", fast=True)


def test_redis_server_is_installed() -> None:
    # Fails (not skips) without redis-server, as the fixture below errors at setup.
    assert redis_server_binary()


def test_real_redis_round_trips_leave_no_keys(redis_url: str) -> None:
    steps: list[str] = []
    profile = measure(redis_url=redis_url, fast=True, progress=steps.append)
    assert profile.store is not None
    assert profile.store.get_ms > 0
    assert profile.store.set_ms > 0
    assert profile.store.url == redis_url
    assert profile.machine["redis_server"]
    assert {"Redis GET", "Redis SET"} <= set(steps)
    rows = {row.operation for row in compare(profile)}
    assert {"Redis GET", "Redis SET"} <= rows
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
