"""``authsim calibrate`` and simulator.costs.measure: measurements, profiles, Redis round trips."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest
import redis
from redis_server import redis_server_binary, redis_url_fixture  # noqa: F401
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.costs.contention import (
    MIN_CPU_OVER_WALL,
    Contention,
    contention_note,
    is_contended,
)
from simulator.costs.measure import (
    ALGORITHMS,
    OWASP_PBKDF2_ITERATIONS,
    CalibrationError,
    commandstats_delta,
    compare,
    measure,
    public_url,
    server_ms_per_call,
)
from simulator.costs.timing import BATCH_CPU_NS, time_cpu_bound
from simulator.scenario.calibration import (
    CalibrationProfile,
    StoreCosts,
    load_profile,
    save_profile,
)
from simulator.scenario.loading import load_scenario
from simulator.scenario.models import SharedStore

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
    assert "thread_time_ns" in machine["method"]
    assert "perf_counter_ns" in machine["method"]  # the Redis round trips
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
    # The server's own time, from INFO commandstats: microseconds, well below a round trip.
    for server_ms, round_trip_ms in (
        (profile.store.server_get_ms, profile.store.get_ms),
        (profile.store.server_set_ms, profile.store.set_ms),
    ):
        assert server_ms is not None
        assert 0 <= server_ms < round_trip_ms
    rows = {row.operation: row for row in compare(profile)}
    assert {"Redis GET", "Redis SET", "Redis GET server time", "Redis SET server time"} <= set(rows)
    assert rows["Redis GET server time"].reference == pytest.approx(SharedStore().op_time_ms * 1e3)
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0


# ----------------------------------------------------------------------- CPU time


def test_cpu_bound_work_is_timed_in_thread_cpu_time() -> None:
    # A call that sleeps 10 ms uses almost no CPU: a wall clock would report >= 10 ms.
    timing = time_cpu_bound(lambda: time.sleep(0.01), warmup=0, repeats=3)
    assert timing.cpu_ns < 2e6
    assert timing.wall_ns >= 1e7
    assert timing.cpu_total_ns < timing.wall_total_ns


def spin(cpu_ns: int) -> None:
    """Burn ``cpu_ns`` of this thread's CPU time."""
    deadline = time.thread_time_ns() + cpu_ns
    while time.thread_time_ns() < deadline:
        pass


def test_batches_report_the_per_call_time() -> None:
    timing = time_cpu_bound(lambda: spin(200_000), warmup=1, repeats=3, batch=4)
    assert timing.batch == 4
    assert 200_000 <= timing.cpu_ns < 2_000_000
    assert timing.cpu_total_ns >= 3 * 4 * 200_000


def test_batch_size_comes_from_the_warm_up() -> None:
    # A call of a quarter of the target: batches of about four calls.
    timing = time_cpu_bound(lambda: spin(BATCH_CPU_NS // 4), warmup=4, repeats=3)
    assert 2 <= timing.batch <= 4
    assert timing.cpu_ns >= BATCH_CPU_NS // 4
    # A call longer than the target is timed alone; without a warm-up too.
    assert time_cpu_bound(lambda: spin(2 * BATCH_CPU_NS), warmup=1, repeats=1).batch == 1
    assert time_cpu_bound(lambda: None, warmup=0, repeats=1).batch == 1
    # A trivial call: many per batch, but bounded.
    assert 10 < time_cpu_bound(lambda: None, warmup=100, repeats=1).batch <= 1000


def test_profile_records_the_contention_check(fast_profile: CalibrationProfile) -> None:
    machine = fast_profile.machine
    assert machine["contended"] in {"yes", "no"}
    assert int(machine["cores"]) >= 1
    assert 1 <= int(machine["usable_cores"]) <= int(machine["cores"])
    if machine["load_average"]:  # empty where the OS has no load average
        assert float(machine["load_average"]) >= 0
    # Pure computation: CPU time can only fall short of wall time (a little rounding aside).
    assert 0 < float(machine["cpu_over_wall"]) <= 1.01
    check = Contention(
        load_average=float(machine["load_average"]) if machine["load_average"] else None,
        cores=int(machine["cores"]),
        usable_cores=int(machine["usable_cores"]),
        cpu_over_wall=float(machine["cpu_over_wall"]),
    )
    assert machine["contended"] == ("yes" if check.contended else "no")


# ----------------------------------------------------------------------- contention


@pytest.mark.parametrize(
    ("load", "cores", "ratio", "contended"),
    [
        (0.3, 2, 0.99, False),  # quiet
        (2.0, 2, 0.97, False),  # as many runnable threads as cores: not above
        (4.1, 2, 0.99, True),  # load above the cores
        (2.5, 2, None, True),
        (3.0, 4, 0.90, False),  # the same load on more cores
        (0.5, 2, 0.45, True),  # the thread waited for a core more than half the time
        (None, 2, MIN_CPU_OVER_WALL - 0.01, True),  # no load average (Windows)
        (None, 2, MIN_CPU_OVER_WALL, False),
        (None, 2, None, False),  # nothing known: no sign
        (1.5, 0, None, True),  # an unknown core count counts as one
    ],
)
def test_contention_from_load_cores_and_ratio(
    load: float | None, cores: int, ratio: float | None, contended: bool
) -> None:
    assert is_contended(load, cores, ratio) is contended
    check = Contention(load, cores, max(cores, 1), ratio)
    assert check.contended is contended
    assert check.notes()["contended"] == ("yes" if contended else "no")


def profile_with(machine: dict[str, str]) -> CalibrationProfile:
    return CalibrationProfile(machine=machine)


def test_contention_note_is_empty_on_a_quiet_machine() -> None:
    quiet = Contention(load_average=0.4, cores=2, usable_cores=2, cpu_over_wall=0.99)
    assert contention_note(profile_with(quiet.notes())) == ""
    assert contention_note(CalibrationProfile()) == ""  # older profiles: no check recorded


def test_contention_note_is_one_line_naming_load_and_cores() -> None:
    busy = Contention(load_average=4.1, cores=2, usable_cores=2, cpu_over_wall=0.45)
    note = contention_note(profile_with(busy.notes()))
    assert "\n" not in note
    assert note.startswith("measured under contention: load average 4.10 on 2 cores")
    assert "CPU time 45% of wall time" in note
    assert "CPU-time figures are still comparable" in note
    assert "Redis round trips" in note
    # Only the sign that is known is named.
    no_load = Contention(load_average=None, cores=2, usable_cores=2, cpu_over_wall=0.5)
    assert "load average" not in contention_note(profile_with(no_load.notes()))


# ----------------------------------------------------------------------- profiles


def test_older_profiles_without_the_new_fields_still_load(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(
        "machine:\n  platform: Linux\n  mode: fast\n"
        "jwt:\n  verify_us: {HS256: 30.0}\n"
        "store:\n  url: redis://127.0.0.1:6379/0\n  get_ms: 0.1\n  set_ms: 0.12\n",
        encoding="utf-8",
    )
    profile = load_profile(path)
    assert profile.store is not None
    assert profile.store.server_get_ms is None
    assert profile.store.server_set_ms is None
    assert profile.store.op_time_ms is None
    assert contention_note(profile) == ""
    rows = {row.operation: row for row in compare(profile)}
    assert set(rows) == {"verify HS256", "Redis GET", "Redis SET"}
    assert rows["Redis GET"].clock == "wall"


def test_store_op_time_is_the_mean_server_time() -> None:
    store = StoreCosts(url="redis://x", get_ms=0.2, set_ms=0.2, server_get_ms=0.001)
    assert store.op_time_ms == 0.001
    store = StoreCosts(
        url="redis://x", get_ms=0.2, set_ms=0.2, server_get_ms=0.001, server_set_ms=0.003
    )
    assert store.op_time_ms == pytest.approx(0.002)
    # The server's time is set against the scenario's op_time_ms, in µs.
    profile = CalibrationProfile(store=store)
    rows = {row.operation: row for row in compare(profile)}
    server = rows["Redis SET server time"]
    assert server.unit == "µs"
    assert server.clock == "server"
    assert server.measured == pytest.approx(3.0)
    assert server.reference == pytest.approx(SharedStore().op_time_ms * 1000)


# ----------------------------------------------------------------------- commandstats


def test_commandstats_delta_subtracts_the_earlier_traffic() -> None:
    before = {"cmdstat_get": {"calls": 1000, "usec": 90_000, "usec_per_call": 90.0}}
    after = {
        "cmdstat_get": {"calls": 1100, "usec": 90_150, "usec_per_call": 82.0},
        "cmdstat_set": {"calls": 7, "usec": 14, "usec_per_call": 2.0},
    }
    assert commandstats_delta(before, after, "get") == (100, 150.0)
    assert server_ms_per_call(before, after, "get") == 0.0015  # 1.5 µs, not 82
    assert commandstats_delta(before, after, "set") == (7, 14.0)  # from zero
    assert server_ms_per_call(before, after, "del") is None  # no statistics
    assert server_ms_per_call(after, after, "get") is None  # no calls in between
    assert server_ms_per_call(after, before, "get") is None  # reset meanwhile
    assert server_ms_per_call({}, {}, "get") is None  # INFO refused


def test_commandstats_delta_on_a_real_server(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set("authsim:test", "x" * 200)
        for _ in range(300):  # earlier traffic, which must not count
            client.get("authsim:test")
        before = client.info("commandstats")
        for _ in range(25):
            client.get("authsim:test")
        after = client.info("commandstats")
        client.delete("authsim:test")
    calls, usec = commandstats_delta(before, after, "get")
    assert calls == 25
    assert usec >= 0
    per_call = server_ms_per_call(before, after, "get")
    assert per_call is not None
    assert 0 <= per_call < 1.0  # a GET on loopback takes microseconds of server time


# ----------------------------------------------------------------------- CLI warning


def test_cli_warns_in_one_line_when_contended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    result = runner.invoke(app, ["calibrate", "--fast"])
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("warning: measured under contention: load average 64.00 on ")
    assert f"on {os.cpu_count()} cores" in warnings[0]
    assert "verify HS256" in result.stdout  # the table is still there
