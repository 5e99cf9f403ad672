"""The vector engine (simulator.model.vector) against the DES, case by case.

For every case it accepts, the per-request results (the request log) equal the DES's on
the same seed, latencies to 1e-9 ms (in fact bit for bit), and so does everything else in
the result: counts exactly, floats to 1e-12 relative, every time series. For every reason
it refuses, a case that has it: ``refusal`` names it (or the run finds it in the draws),
``engine: vector`` is a one-line ScenarioError, and ``auto`` runs the DES and says why.
Each case is a few seconds of simulated time: the whole file runs in a few seconds.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from simulator import load_scenario, outcomes
from simulator.cli.app import app
from simulator.errors import ScenarioError
from simulator.model import vector, vector_queue, vector_results, vector_stream
from simulator.model.run import RunInputs, run
from simulator.model.vector_grouping import (
    Grouping,
    counts_between,
    group_by_server,
    group_round_robin,
)
from simulator.model.vector_queue import fifo_schedule, schedule_by_server
from simulator.model.vector_results import finish_order, stable_argsort
from simulator.model.vector_stream import pick_users, request_arrays
from simulator.model.vector_tally import (
    count_requests,
    latency_summary_exact,
    order_statistics,
    tally_bounds,
    window_bounds,
)
from simulator.results.histogram import LogHistogram, bin_indices
from simulator.results.metrics import latency_summary
from simulator.results.records import RunResult, StrategyResult
from simulator.results.timeseries import Buckets, Tally

LATENCY_TOLERANCE_MS = 1e-9

BASE: dict[str, Any] = {
    "duration_s": 3.0,
    "warmup_s": 0.5,
    "workload.users": 150,
    "cluster.servers": 4,
    "cluster.queue_limit": 10_000,
    "jwt.ttl_s": 1e9,  # no token expires in the run
    "bucket_s": 0.25,
}


def scenario(utilisation: float = 0.6, **overrides: Any) -> Any:
    """A short scenario; the arrival rate gives ``utilisation`` per worker."""
    data = dict(BASE)
    data.update({key.replace("__", "."): value for key, value in overrides.items()})
    servers = data["cluster.servers"]
    workers = data.get("cluster.workers_per_server", 1)
    data["cluster.workers_per_server"] = workers
    mean_ms = data.get("cluster.service_time_ms", {}).get("mean", 10.0)
    data.setdefault("workload.arrival_rate_per_s", utilisation * servers * workers / mean_ms * 1000)
    return load_scenario(None, data)


EXP = {"distribution": "exponential", "mean": 10.0}
CONST = {"distribution": "constant", "mean": 8.0}
LOGN = {"distribution": "lognormal", "mean": 6.0, "sigma": 1.2}

ACCEPTED: dict[str, tuple[str, dict[str, Any]]] = {
    "jwt-rr-1w-low": ("jwt", {"utilisation": 0.3}),
    "jwt-rr-1w-high": ("jwt", {"utilisation": 0.95}),
    "jwt-rr-2w-exp": ("jwt", {"utilisation": 0.8, "cluster__workers_per_server": 2}),
    "jwt-rr-4w-logn": (
        "jwt",
        {"utilisation": 0.9, "cluster__workers_per_server": 4, "cluster__service_time_ms": LOGN},
    ),
    "jwt-rr-1w-const": ("jwt", {"utilisation": 0.9, "cluster__service_time_ms": CONST}),
    "jwt-random-1w": ("jwt", {"utilisation": 0.8, "load_balancer__policy": "random"}),
    "jwt-random-2w-const": (
        "jwt",
        {
            "utilisation": 0.9,
            "load_balancer__policy": "random",
            "cluster__workers_per_server": 2,
            "cluster__service_time_ms": CONST,
        },
    ),
    "jwt-overhead-const": (
        "jwt",
        {"utilisation": 0.8, "cluster__overhead_ms": {"distribution": "constant", "mean": 1.5}},
    ),
    "jwt-overhead-exp-2w": (
        "jwt",
        {
            "utilisation": 0.85,
            "cluster__workers_per_server": 2,
            "cluster__overhead_ms": {"distribution": "exponential", "mean": 1.0},
        },
    ),
    "jwt-overhead-logn-hop-logn": (
        "jwt",
        {
            "utilisation": 0.9,
            "cluster__overhead_ms": {"distribution": "lognormal", "mean": 1.0, "p99": 5.0},
            "load_balancer__hop_ms": {"distribution": "lognormal", "mean": 2.0, "p99": 10.0},
        },
    ),
    "jwt-hop-const-network": (
        "jwt",
        {
            "utilisation": 0.7,
            "load_balancer__hop_ms": {"distribution": "constant", "mean": 0.7},
            "cluster__network_mbps": 5.0,
            "jwt__algorithm": "RS256",
        },
    ),
    "jwt-no-refresh-no-warmup": (
        "jwt",
        {"utilisation": 0.7, "jwt__refresh": False, "warmup_s": 0.0, "bucket_s": None},
    ),
    "jwt-zipf-ramp": (
        "jwt",
        {
            "utilisation": 0.6,
            "workload__user_weights": "zipf",
            "workload__rate_profile": {"shape": "ramp", "end_s": 3, "to_multiplier": 1.6},
        },
    ),
    # 40 servers in rotation: computed a row of the rotation at a time
    "jwt-rr-rows": ("jwt", {"utilisation": 0.9, "cluster__servers": 40}),
    "jwt-rr-rows-overhead-hop": (
        "jwt",
        {
            "utilisation": 0.8,
            "cluster__servers": 40,
            "cluster__overhead_ms": {"distribution": "constant", "mean": 1.5},
            "load_balancer__hop_ms": {"distribution": "constant", "mean": 0.7},
        },
    ),
    "jwt-rr-rows-unanswered-at-stop": (
        "jwt",
        {
            "utilisation": 2.5,
            "cluster__servers": 40,
            "cluster__request_timeout_ms": 20.0,
            "workload__relogin_delay_s": {"mean_s": 0.0},
        },
    ),
    # 40 servers, jobs grouped by a sort: the servers' columns padded into a table
    "jwt-random-columns-overhead": (
        "jwt",
        {
            "utilisation": 0.9,
            "cluster__servers": 40,
            "load_balancer__policy": "random",
            "cluster__overhead_ms": {"distribution": "constant", "mean": 1.0},
        },
    ),
    "sticky-cookie-columns": ("sticky", {"utilisation": 0.8, "cluster__servers": 40}),
    "jwt-timeouts": (
        "jwt",
        {"utilisation": 1.1, "cluster__request_timeout_ms": 60.0},
    ),
    "jwt-unanswered-at-stop": (
        # overloaded: requests still queued when the DES stops are timeouts at the stop
        "jwt",
        {
            "utilisation": 2.5,
            "cluster__request_timeout_ms": 20.0,
            "workload__relogin_delay_s": {"mean_s": 0.0},
        },
    ),
    "jwt-enough-queue": (
        "jwt",
        {"utilisation": 0.5, "cluster__queue_limit": 40, "cluster__cpu_cores": 1},
    ),
    "sticky-cookie-rr-1w": ("sticky", {"utilisation": 0.8}),
    "sticky-cookie-random-2w": (
        "sticky",
        {"utilisation": 0.8, "load_balancer__policy": "random", "cluster__workers_per_server": 2},
    ),
    "sticky-cookie-ttl-after-run": ("sticky", {"utilisation": 0.6, "sticky__cookie_ttl_s": 1000.0}),
    # the cookie's first pick reads the queues, but at time 0 every queue is empty
    "sticky-cookie-least-connections": (
        "sticky",
        {"utilisation": 0.7, "load_balancer__policy": "least_connections"},
    ),
    "sticky-cookie-power-of-two-2w": (
        "sticky",
        {
            "utilisation": 0.7,
            "load_balancer__policy": "power_of_two",
            "cluster__workers_per_server": 2,
        },
    ),
    "sticky-ip-hash-mixed-4w": (
        "sticky",
        {"utilisation": 0.7, "sticky__affinity": "ip_hash", "cluster__workers_per_server": 4},
    ),
    "sticky-ip-hash-modulo-nat": (
        "sticky",
        {
            "utilisation": 0.5,
            "sticky__affinity": "ip_hash",
            "sticky__hash": "modulo",
            "workload__users_per_ip": 7,
        },
    ),
    "sticky-ip-hash-subnet24": (
        "sticky",
        {
            "utilisation": 0.4,
            "sticky__affinity": "ip_hash",
            "sticky__hash": "subnet24",
            "workload__client_addresses": "consecutive",
        },
    ),
    "sticky-consistent-hash-2w": (
        "sticky",
        {
            "utilisation": 0.7,
            "sticky__affinity": "consistent_hash",
            "sticky__virtual_nodes": 20,
            "cluster__workers_per_server": 2,
            "cluster__overhead_ms": {"distribution": "exponential", "mean": 0.5},
        },
    ),
    "local-one-server": ("local", {"utilisation": 0.8, "cluster__servers": 1}),
}


def run_both(
    strategy: str, overrides: dict[str, Any], record: bool = True
) -> tuple[RunResult, RunResult]:
    case = scenario(**overrides)
    des = run(case, [strategy], engine="des", record_requests=record)
    fast = run(case, [strategy], engine="vector", record_requests=record)
    return des, fast


def assert_same_numbers(expected: Any, actual: Any, where: str = "") -> None:
    """Equal, floats to 1e-12 relative (they are in fact identical)."""
    if isinstance(expected, dict):
        assert set(expected) == set(actual), where
        for key in expected:
            assert_same_numbers(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list | tuple):
        assert len(expected) == len(actual), where
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            assert_same_numbers(left, right, f"{where}[{index}]")
    elif isinstance(expected, float) and isinstance(actual, float):
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-12, nan_ok=True), where
    else:
        assert expected == actual, where


def assert_same_result(des: StrategyResult, fast: StrategyResult) -> None:
    assert fast.engine == "vector" and des.engine == "des"
    assert_same_numbers(des.to_dict(), fast.to_dict(), des.strategy)
    assert des.series is not None and fast.series is not None
    for name in des.series.__dataclass_fields__:
        expected = np.asarray(getattr(des.series, name))
        actual = np.asarray(getattr(fast.series, name))
        assert expected.shape == actual.shape, name
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=name)


def sorted_log(result: RunResult, strategy: str) -> dict[str, np.ndarray]:
    log = result.logs[strategy]
    columns = {
        name: np.asarray(getattr(log, name))
        for name in ("arrival_s", "user", "server", "outcome", "latency_ms", "cause")
    }
    order = np.lexsort((columns["user"], columns["arrival_s"]))
    return {name: values[order] for name, values in columns.items()}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_cases_give_the_des_results(case: str) -> None:
    strategy, overrides = ACCEPTED[case]
    assert vector.refusal(scenario(**overrides), strategy) is None
    des, fast = run_both(strategy, overrides)
    expected, actual = sorted_log(des, strategy), sorted_log(fast, strategy)
    assert len(expected["latency_ms"]) == len(actual["latency_ms"]) > 0
    for name in ("arrival_s", "user", "server", "outcome", "cause"):
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    difference = np.abs(actual["latency_ms"] - expected["latency_ms"])
    assert difference.max() <= LATENCY_TOLERANCE_MS
    assert_same_result(des[strategy], fast[strategy])
    # the DES's own order of answers, too (latency sums and digests depend on it)
    for name in ("arrival_s", "latency_ms", "server"):
        np.testing.assert_array_equal(
            np.asarray(getattr(fast.logs[strategy], name)),
            np.asarray(getattr(des.logs[strategy], name)),
        )


@pytest.mark.parametrize("case", ["jwt-rr-2w-exp", "jwt-random-1w", "jwt-rr-rows"])
def test_the_samples_a_few_servers_at_a_time_are_the_same(monkeypatch: Any, case: str) -> None:
    """The servers' samples made one server at a time (a block of server-moments no
    larger than one moment): the same series as the simulation's."""
    monkeypatch.setattr(vector_results, "SAMPLE_BLOCK", 1)
    strategy, overrides = ACCEPTED[case]
    des, fast = run_both(strategy, overrides)
    assert fast[strategy].engine == "vector"
    assert_same_result(des[strategy], fast[strategy])


def test_the_cases_cover_what_they_claim() -> None:
    """The grid has timeouts, requests unanswered at the stop and queues that wait."""
    des, _ = run_both(*ACCEPTED["jwt-timeouts"])
    assert des["jwt"].outcome_counts["timeout"] > 0
    assert des["jwt"].outcome_counts["ok"] > 0
    des, _ = run_both(*ACCEPTED["jwt-unanswered-at-stop"])
    log = des.logs["jwt"]
    answered_s = np.asarray(log.arrival_s) + np.asarray(log.latency_ms) / 1000
    stop_s = 3.0 + 2 * 0.020  # duration_s + 2 request timeouts (+ no person's re-login)
    assert np.count_nonzero(np.abs(answered_s - stop_s) < 1e-9) > 100
    des, _ = run_both(*ACCEPTED["jwt-rr-1w-high"])
    assert max(des["jwt"].server_utilisation) > 0.85


def without_engines(document: dict[str, Any]) -> dict[str, Any]:
    """A run's JSON document without its ``engines`` (the numbers alone)."""
    return {key: value for key, value in document.items() if key != "engines"}


@pytest.mark.parametrize(
    "overrides",
    [
        # the last request is answered before duration_s: the DES (and its sampler) stop
        {"workload__arrival_rate_per_s": 3.0, "duration_s": 1.0, "warmup_s": 0.0},
        # no request at all: the DES stops at once, before its first sample
        {"workload__arrival_rate_per_s": 0.5, "duration_s": 0.01, "warmup_s": 0.0},
    ],
    ids=["drained-early", "no-request"],
)
def test_a_run_that_ends_early_gives_the_des_results(overrides: dict[str, Any]) -> None:
    des, fast = run_both("jwt", overrides)
    assert des.to_dict()["engines"] == {"jwt": "des"}
    assert fast.to_dict()["engines"] == {"jwt": "vector"}  # the JSON says which ran
    assert without_engines(des.to_dict()) == without_engines(fast.to_dict())
    assert_same_result(des["jwt"], fast["jwt"])


@pytest.mark.parametrize(
    "case",
    [
        "jwt-rr-2w-exp",
        "sticky-cookie-rr-1w",
        "jwt-rr-rows",
        "sticky-cookie-columns",
        "jwt-random-1w",
        "jwt-rr-rows-overhead-hop",
    ],
)
def test_summary_mode_gives_the_des_results(case: str) -> None:
    strategy, overrides = ACCEPTED[case]
    des, fast = run_both(strategy, overrides, record=False)
    assert not des.logs and not fast.logs
    assert_same_result(des[strategy], fast[strategy])


@pytest.mark.parametrize(
    ("case", "record", "drawn"),
    [
        ("jwt-rr-rows", False, False),  # nothing reads the users: only the check's first
        ("jwt-random-1w", False, False),
        ("jwt-rr-rows", True, True),  # the request log's user column
        ("sticky-cookie-rr-1w", False, True),  # the affinity routes by user
    ],
)
def test_the_users_are_drawn_only_when_read(
    monkeypatch: Any, case: str, record: bool, drawn: bool
) -> None:
    """Summary mode with a balancer that reads no user skips the requests' users (but for
    the first few, compared with the stream's); the log or an affinity draws them all."""
    counts: list[int] = []
    original = vector_stream.pick_users

    def counted(weights: Any, picks: Any, count: int | None = None) -> Any:
        chosen = original(weights, picks, count)
        counts.append(len(chosen))
        return chosen

    monkeypatch.setattr(vector_stream, "pick_users", counted)
    strategy, overrides = ACCEPTED[case]
    result = run(scenario(**overrides), [strategy], engine="vector", record_requests=record)
    requests = result[strategy].requests
    assert max(counts) >= requests if drawn else max(counts) <= vector_stream.CHECK_REQUESTS


def test_auto_uses_the_vector_engine_where_it_is_exact() -> None:
    strategy, overrides = ACCEPTED["jwt-rr-1w-low"]
    case = scenario(**overrides)
    assert case.engine == "auto"
    result = run(case, [strategy])
    assert result[strategy].engine == "vector"
    assert result[strategy].engine_note == ""
    des = run(case, [strategy], engine="des")[strategy]
    assert des.engine == "des" and des.engine_note == ""


# ----------------------------------------------------------------- refusals

STATIC_REFUSALS: dict[str, tuple[str, dict[str, Any], str]] = {
    "shared-store": ("shared_store", {}, "store"),
    "denylist-in-store": ("jwt", {"jwt__denylist": "store"}, "store"),
    "events": (
        "jwt",
        {"events": [{"kind": "server_crash", "at_s": 1.0, "server": 0}]},
        "events",
    ),
    "regions": ("jwt", {"regions": [{"name": "a"}, {"name": "b"}]}, "regions"),
    "logged-out-at-start": ("jwt", {"workload__logged_in_at_start": False}, "logged in"),
    "shared-cores": (
        "jwt",
        {"cluster__workers_per_server": 2, "cluster__cpu_cores": 1},
        "cpu_cores",
    ),
    "local-several-servers": ("local", {}, "wrong_server"),
    "least-connections": ("jwt", {"load_balancer__policy": "least_connections"}, "least"),
    "power-of-two": ("jwt", {"load_balancer__policy": "power_of_two"}, "power"),
    "load-bound": (
        "sticky",
        {"sticky__affinity": "consistent_hash", "sticky__load_bound": 1.25},
        "load_bound",
    ),
    "denylist": ("jwt", {"jwt__denylist": "local_cache"}, "denylist"),
}

DRAWN_REFUSALS: dict[str, tuple[str, dict[str, Any], str]] = {
    "token-expires": ("jwt", {"jwt__ttl_s": 20.0}, "expires"),
    "token-expires-no-refresh": ("jwt", {"jwt__ttl_s": 30.0, "jwt__refresh": False}, "expires"),
    "queue-overflows": (
        "jwt",
        {"utilisation": 0.9, "cluster__queue_limit": 2},
        "queue_limit",
    ),
    "cookie-expires": ("sticky", {"sticky__cookie_ttl_s": 2.0}, "cookie"),
}


@pytest.mark.parametrize("case", sorted(STATIC_REFUSALS))
def test_what_the_scenario_rules_out_is_refused(case: str) -> None:
    strategy, overrides, word = STATIC_REFUSALS[case]
    data = {"utilisation": 0.5, **overrides}
    built = scenario(**data)
    reason = vector.refusal(built, strategy)
    assert reason is not None and word in reason
    with pytest.raises(ScenarioError) as info:
        run(built, [strategy], engine="vector")
    message = str(info.value)
    assert "engine" in message and reason in message and "\n" not in message
    assert isinstance(info.value, vector.EngineError)
    check_auto_falls_back(built, strategy, reason)


@pytest.mark.parametrize("case", sorted(DRAWN_REFUSALS))
def test_what_the_draws_rule_out_is_refused(case: str) -> None:
    strategy, overrides, word = DRAWN_REFUSALS[case]
    data = {"utilisation": 0.5, **overrides}
    built = scenario(**data)
    assert vector.refusal(built, strategy) is None
    with pytest.raises(vector.InexactError) as info:
        vector.run_vector(RunInputs.build(built), strategy)
    assert word in info.value.reason
    with pytest.raises(vector.EngineError, match="engine"):
        run(built, [strategy], engine="vector")
    check_auto_falls_back(built, strategy, info.value.reason)


def check_auto_falls_back(built: Any, strategy: str, reason: str) -> None:
    auto = run(built, [strategy], engine="auto")
    des = run(built, [strategy], engine="des")
    assert auto[strategy].engine == "des"
    assert reason in auto[strategy].engine_note
    assert auto.to_json() == des.to_json()


def test_the_drawn_refusals_are_real() -> None:
    """What the draws rule out does happen in the DES."""
    des = run(scenario(**{"utilisation": 0.5, **DRAWN_REFUSALS["token-expires"][1]}), ["jwt"])
    assert des["jwt"].refreshes > 0
    case = scenario(**{"utilisation": 0.5, **DRAWN_REFUSALS["queue-overflows"][1]})
    assert run(case, ["jwt"])["jwt"].outcome_counts["overload"] > 0
    case = scenario(**{"utilisation": 0.5, **DRAWN_REFUSALS["cookie-expires"][1]})
    assert run(case, ["sticky"])["sticky"].forced_relogins > 0


def test_an_unknown_engine_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="engine"):
        run(scenario(), ["jwt"], engine="fast")
    with pytest.raises(ScenarioError, match="engine"):
        load_scenario(None, {"engine": "fast"})


def test_the_cli_reports_a_refused_vector_run_as_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(
        app, ["run", "--set", "duration_s=2", "--set", "warmup_s=0", "--set", "engine=vector"]
    )
    assert result.exit_code == 2
    assert "engine" in result.stderr and "local" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ the parts


def test_the_request_arrays_are_the_stream() -> None:
    for overrides in (
        {},
        {"workload__user_weights": "zipf"},
        {"workload__rate_profile": {"shape": "diurnal", "period_s": 2, "amplitude": 0.5}},
        {"duration_s": 0.001, "warmup_s": 0.0},
    ):
        inputs = RunInputs.build(scenario(**overrides))
        gaps, users, service = request_arrays(inputs.requests)
        chunks = list(inputs.requests)
        np.testing.assert_array_equal(gaps, [g for c in chunks for g in c.gaps_s])
        np.testing.assert_array_equal(users, [u for c in chunks for u in c.users])
        np.testing.assert_array_equal(service, [s for c in chunks for s in c.service_s])


@pytest.mark.parametrize("users", [1, 2, 3, 7, 1000, 20_000, 1_000_000, 100_000_000])
def test_picked_users_are_the_streams_search(users: int) -> None:
    """Equal weights: the direct guess, corrected near the edges, is searchsorted's
    answer, on the edges themselves, a step either side of them and at random."""
    weights = np.full(users, 1.0 / users)
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0
    rng = np.random.default_rng(users)
    edges = cumulative[rng.integers(0, users, 2000)] if users > 2000 else cumulative
    picks = np.concatenate(
        (
            edges,
            np.nextafter(edges, 0.0),
            np.nextafter(edges, 2.0),
            rng.integers(0, users, 2000) / users,  # k / n: the edges rounding may miss
            [0.0, 2.0**-53, 1.0 - 2.0**-53],
            rng.random(50_000),
        )
    )
    picks = picks[picks < 1.0]  # as numpy's random() gives them
    expected = np.searchsorted(cumulative, picks, side="right")
    assert np.array_equal(pick_users(weights, picks), expected)


def reference_schedule(
    server: np.ndarray, route: np.ndarray, first: np.ndarray | None, work: np.ndarray, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """The Kiefer-Wolfowitz recursion, one job at a time, as the DES adds times."""
    free: dict[int, list[float]] = {}
    start = np.empty(len(route))
    end = np.empty(len(route))
    for job in range(len(route)):
        times = free.setdefault(int(server[job]), [-math.inf] * workers)
        times.sort()
        began = max(float(route[job]), times[0])
        done = began + float(first[job]) if first is not None else began
        done = done + float(work[job])
        times[0] = done
        start[job], end[job] = began, done
    return start, end


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_the_schedule_is_the_recursion_bit_for_bit(workers: int, seed: int) -> None:
    generator = np.random.default_rng(seed)
    count = int(generator.integers(1, 4000))
    servers = int(generator.integers(1, 7))
    rate = generator.uniform(0.3, 1.3) * servers * workers / 0.01
    route = np.cumsum(generator.exponential(1 / rate, count)) + generator.uniform(0, 1e4)
    server = generator.integers(0, servers, count)
    work = generator.exponential(0.01, count)
    first = generator.exponential(0.001, count) if seed % 2 else None
    start, end = fifo_schedule(server, route, first, work, workers)
    expected_start, expected_end = reference_schedule(server, route, first, work, workers)
    np.testing.assert_array_equal(start, expected_start)
    np.testing.assert_array_equal(end, expected_end)


# ------------------------------------------------- the pieces that replace sorting


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_finish_order_is_a_stable_sort_with_ties_by_routing(seed: int) -> None:
    """Times within a few ulps and equal times (which the packed sort leaves to the
    exact re-sort), ties broken by ``ties`` or by position."""
    rng = np.random.default_rng(seed)
    base = np.round(rng.uniform(0.001, 50.0, 5000), 3)  # many equal times
    nudged = np.nextafter(base, np.inf) if seed else base
    values = np.where(rng.random(5000) < 0.3, nudged, base)
    ties = rng.permutation(5000)
    expected = np.lexsort((ties, values))
    assert np.array_equal(finish_order(values, ties), expected)
    assert np.array_equal(finish_order(values, None), np.argsort(values, kind="stable"))
    assert np.array_equal(stable_argsort(values, ties), expected)


def assert_counts_and_servers(grouping: Grouping, server: np.ndarray) -> None:
    """Each server's jobs between edges, and the server of each job, as counted directly."""
    count, servers = len(server), len(grouping.bounds) - 1
    assert np.array_equal(grouping.server_given(), server)
    rng = np.random.default_rng(count + servers)
    positions = rng.integers(0, count, 40) if count else np.zeros(0, dtype=np.int64)
    assert np.array_equal(grouping.server_at(positions), server[positions])
    edges = np.sort(rng.integers(0, count + 1, 12))
    expected = (
        np.stack(
            [np.bincount(server[lo:hi], minlength=servers) for lo, hi in itertools.pairwise(edges)],
            axis=1,
        )
        if count
        else np.zeros((servers, len(edges) - 1), dtype=np.int64)
    )
    assert np.array_equal(counts_between(grouping, edges), expected)


def test_grouping_by_stride_is_the_gather() -> None:
    values = np.random.default_rng(3).random(1003)
    for servers, offset in [(1, 0), (7, 3), (50, 20_000), (2000, 5)]:
        grouping = group_round_robin(len(values), servers, offset)
        sorted_grouping = group_by_server((np.arange(1003) + offset) % servers, servers)
        order = grouping.order
        assert np.array_equal(order, sorted_grouping.order)
        assert np.array_equal(grouping.bounds, sorted_grouping.bounds)
        grouped = grouping.take(values)
        assert np.array_equal(grouped, values[order])
        for index in range(servers):
            assert np.array_equal(
                grouping.of(values, index),
                grouped[grouping.bounds[index] : grouping.bounds[index + 1]],
            )
        back = np.empty_like(values)
        grouping.put(grouped, back)
        assert np.array_equal(back, values)
        assert_counts_and_servers(grouping, (np.arange(1003) + offset) % servers)


@pytest.mark.parametrize("count", [1, 2, 3, 10, 101, 5000])
@pytest.mark.parametrize("timeouts", [False, True])
def test_the_counts_are_a_tallys(count: int, timeouts: bool) -> None:
    """count_requests against a Tally fed in the order requests finish: counts, every
    bucket's quantiles, the overall histogram's summary (its sum made in that order),
    and latency_summary_exact against latency_summary of the log's latencies."""
    rng = np.random.default_rng(count)
    buckets = Buckets(0.5, 10.0, 0.5)
    arrival = np.sort(rng.uniform(0.5, 10.0, count))
    latency_ms = rng.lognormal(3.0, 1.0, count)
    latency_ms[::7] = np.round(latency_ms[::7])  # some equal values
    ok = rng.random(count) > 0.2 if timeouts else None
    end = arrival + latency_ms / 1000.0
    finish = np.lexsort((np.arange(count), end))
    tally = Tally(buckets)
    codes = np.zeros(count, dtype=np.int8)
    if ok is not None:
        codes[~ok] = outcomes.TIMEOUT
    tally.record_many(
        arrival[finish],
        np.zeros(count, dtype=np.int64),
        codes[finish],
        latency_ms[finish],
        np.full(count, outcomes.VALID, dtype=np.int8),
    )

    def order(lo: int, hi: int) -> npt.NDArray[np.int64]:
        return finish_order(end[lo:hi], None)

    counted = count_requests(buckets, arrival, latency_ms, ok, order)
    assert counted.requests.tolist() == tally.requests
    assert counted.succeeded.tolist() == tally.succeeded == tally.served
    for index, histogram in enumerate(tally.latency):
        expected = histogram.quantiles([0.50, 0.95, 0.99]) if histogram.n else [math.nan] * 3
        np.testing.assert_array_equal(counted.latency_ms[:, index], expected)
    assert counted.overall is not None
    assert counted.overall.summary() == tally.overall.summary()
    assert counted.window_counts(0.5, 10.0, True) == tally.window_counts(0.5, 10.0, True)
    logged = latency_ms[finish]
    served = None if ok is None else ok[finish]
    expected_summary = latency_summary(logged if served is None else logged[served])
    assert latency_summary_exact(counted, logged, served) == expected_summary


def times_around(edges: np.ndarray, buckets: Buckets, seed: int) -> np.ndarray:
    """Sorted times: 500 drawn from a second before the buckets to a second after them,
    and every edge with the floats just below and just above it."""
    rng = np.random.default_rng(seed)
    drawn = rng.uniform(-1.0, buckets.end_s + 1.0, 500)
    near = (edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf))
    return np.sort(np.concatenate((drawn, *near)))


@pytest.mark.parametrize("seed", range(4))
def test_tally_bounds_follow_the_tallys_rule(seed: int) -> None:
    """Each bucket's first arrival, by the tally's rule (``int((t - start) / width)``,
    clipped), for arrivals on, just before and just after the buckets' edges."""
    buckets = Buckets(0.3 * seed, 0.3 * seed + 7.0, 0.1 * (seed + 1))
    edges = buckets.start_s + np.arange(buckets.count + 1) * buckets.width_s
    arrival = times_around(edges, buckets, seed)
    per_s, last = 1.0 / buckets.width_s, buckets.count - 1
    index = [int(min(max((float(t) - buckets.start_s) * per_s, 0.0), float(last))) for t in arrival]
    expected = np.searchsorted(np.asarray(index), np.arange(buckets.count + 1), side="left")
    expected[-1] = len(arrival)
    assert np.array_equal(tally_bounds(buckets, arrival), expected)


@pytest.mark.parametrize("seed", range(6))
def test_window_bounds_follow_the_bucket_index(seed: int) -> None:
    """Each bucket's first time by :meth:`Buckets.index` (times before the window first,
    those at or after its end last), for times on, just before and just after the
    buckets' edges and the window's end."""
    buckets = Buckets(0.3 * seed, 0.3 * seed + 7.0 + 0.01 * seed, 0.1 * (seed + 1))
    edges = buckets.start_s + np.arange(buckets.count + 1) * buckets.width_s
    times = times_around(np.append(edges, buckets.end_s), buckets, seed)
    key = [buckets.count if float(t) >= buckets.end_s else buckets.index(float(t)) for t in times]
    expected = np.searchsorted(np.asarray(key), np.arange(buckets.count + 1), side="left")
    assert np.array_equal(window_bounds(buckets, times), expected)


def test_the_order_statistics_are_numpys() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate((rng.lognormal(2.0, 2.0, 3000), [0.0, 1e-4, 5e-4, 1e-3]))
    bins = np.bincount(bin_indices(values) + 1)
    ranks = [0, 1, 17, 1500, 2999, 3003]
    found = order_statistics(values, ranks, bins)
    ordered = np.sort(values)
    assert found == {rank: float(ordered[rank]) for rank in ranks}
    # bins that do not match the values (never the case): still right
    assert order_statistics(values, ranks, bins[::-1].copy()) == found


def test_the_counts_are_the_histograms_for_any_latency() -> None:
    """Buckets whose latencies are all inside the bins and buckets with latencies at or
    below the floor or beyond the preallocated bins: the same bins, quantiles, sums,
    minimum and maximum as a LogHistogram fed one value at a time."""
    rng = np.random.default_rng(5)
    buckets = Buckets(0.0, 4.0, 1.0)
    arrival = np.sort(rng.uniform(0.0, 4.0, 4000))
    latency_ms = rng.lognormal(2.0, 1.0, 4000)
    odd = np.flatnonzero((arrival >= 1.0) & (arrival < 2.0))[:5]  # bucket 1 only
    latency_ms[odd] = [0.0, 5e-4, 1e-3, 1e16, 3e17]
    counted = count_requests(buckets, arrival, latency_ms, None, lambda lo, hi: np.arange(hi - lo))
    overall = LogHistogram()
    for bucket in range(buckets.count):
        inside = (arrival >= bucket) & (arrival < bucket + 1)
        histogram = LogHistogram()
        for value in latency_ms[inside].tolist():
            histogram.add(value)
            overall.add(value)
        assert counted.latency_ms[:, bucket].tolist() == histogram.quantiles([0.5, 0.95, 0.99])
    assert counted.overall is not None
    assert counted.overall.counts == overall.counts
    assert (counted.overall.n, counted.overall.minimum) == (overall.n, overall.minimum)
    assert counted.overall.maximum == overall.maximum == 3e17
    assert counted.overall.total == pytest.approx(overall.total, rel=1e-12)


def test_the_latency_summary_is_numpys_for_every_size() -> None:
    """numpy's linear percentiles, step by step, for sizes that hit every rounding."""
    rng = np.random.default_rng(11)
    buckets = Buckets(0.0, 1.0, 1.0)
    for count in range(1, 400):
        latency_ms = rng.exponential(20.0, count)
        counted = count_requests(buckets, np.zeros(count), latency_ms, None, None)
        assert latency_summary_exact(counted, latency_ms, None) == latency_summary(latency_ms)


@pytest.mark.parametrize("servers", [1, 3, 50, 4096, 70_000])
def test_group_by_server_is_a_stable_argsort(servers: int) -> None:
    rng = np.random.default_rng(servers)
    for count in (0, 1, 2, 1000, 65_537):
        server = rng.integers(0, servers, count)
        grouping = group_by_server(server, servers)
        order, bounds = grouping.order, grouping.bounds
        assert order.dtype == np.int64 and np.array_equal(order, server.argsort(kind="stable"))
        assert np.array_equal(bounds, np.r_[0, np.cumsum(np.bincount(server, minlength=servers))])
        assert_counts_and_servers(grouping, server)
        taken = grouping.take(server * 0.5, slice(1, servers), np.empty(count))
        assert np.array_equal(taken, server[order[bounds[min(1, servers)] :]] * 0.5)


@pytest.mark.parametrize(("seed", "by_stride"), list(itertools.product(range(4), [False, True])))
def test_chunked_schedule_is_the_recursion(monkeypatch: Any, seed: int, by_stride: bool) -> None:
    monkeypatch.setattr(vector_queue, "CHUNK_JOBS", 257)  # many chunks, each gathering
    rng, count, servers, offset = np.random.default_rng(seed), 6000, 7, seed * 11
    route = np.cumsum(rng.exponential(0.01 / rng.uniform(3, 8), count))
    server = rng.integers(0, servers, count) if not by_stride else np.arange(count) + offset
    grouping = group_round_robin(count, servers, offset) if by_stride else None
    work, first = rng.exponential(0.01, count), rng.exponential(0.001, count) if seed % 2 else None
    done = schedule_by_server(server % servers, route, first, work.copy(), 1, servers, grouping)
    start, end = reference_schedule(server % servers, route, first, work, 1)
    assert np.array_equal(np.c_[done.start_s, done.end_s], np.c_[start, end][done.order])
    for index in range(servers):  # one server at a time, as the results read them
        jobs = done.jobs(index)
        assert np.array_equal(done.starts(index), start[done.order][jobs])
        assert np.array_equal(done.routes(index), route[done.order][jobs])
    assert first is None or np.array_equal(done.first_s, first[done.order])  # type: ignore[arg-type]
