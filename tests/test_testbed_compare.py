"""Real against model, one verdict per metric (simulator.testbed.compare)."""

from __future__ import annotations

import math

import pytest

from simulator.experiments.replications import METRICS, Interval
from simulator.testbed.compare import (
    COMPARED,
    INSIDE,
    OFF,
    WITHIN,
    Machine,
    Metric,
    compare,
    judge,
    likely_cause,
    per_cause,
    per_window,
)

QUIET = Machine(cores=2, load_average=0.5)
BUSY = Machine(cores=2, load_average=9.8)
P95 = next(metric for metric in COMPARED if metric.key == "latency_ms.p95")
SUCCESS = next(metric for metric in COMPARED if metric.key == "success_rate")


def test_every_compared_metric_is_one_the_model_reports() -> None:
    assert {metric.key for metric in COMPARED} <= set(METRICS)


@pytest.mark.parametrize(
    ("real", "verdict"),
    [
        (0.330, INSIDE),  # inside 0.33 +- 0.013
        (0.312, WITHIN),  # outside the interval, 1.8 points off: under 3 points
        (0.29, OFF),  # 4 points off
    ],
)
def test_success_rate_verdicts(real: float, verdict: str) -> None:
    # the issue's own numbers: local 31.8% real against 33.0% +- 1.3% simulated
    assert judge(real, Interval(0.330, 0.013, 10), SUCCESS) == verdict


def test_the_larger_allowance_applies() -> None:
    metric = Metric("latency_ms.p95", "p95", "ms", absolute=2.0, relative=0.30)
    assert metric.allowance(1.0) == 2.0
    assert metric.allowance(100.0) == pytest.approx(30.0)
    assert judge(128.0, Interval(100.0, 5.0, 10), metric) == WITHIN
    assert judge(131.0, Interval(100.0, 5.0, 10), metric) == OFF


def test_a_missing_value_is_off_unless_both_are_missing() -> None:
    assert judge(math.nan, Interval(1.0, 0.1, 10), P95) == OFF
    assert judge(1.0, Interval(math.nan, math.nan, 0), P95) == OFF
    assert judge(math.nan, Interval(math.nan, math.nan, 0), P95) == INSIDE


def test_one_replication_has_no_interval_so_only_the_tolerance_applies() -> None:
    assert judge(10.0, Interval(10.0, math.nan, 1), P95) == WITHIN


def test_a_busy_machine_is_named_as_the_likely_cause_of_slow_latency() -> None:
    cause = likely_cause(P95, 60.0, Interval(36.0, 1.0, 10), BUSY)
    assert cause == "load average 9.8 on 2 cores: CPU contention"
    quiet = likely_cause(P95, 60.0, Interval(36.0, 1.0, 10), QUIET)
    assert "per-request costs" in quiet
    late = Machine(cores=2, load_average=0.5, behind_schedule_ms=40.0)
    assert "40 ms behind its schedule" in likely_cause(P95, 60.0, Interval(36.0, 1.0, 10), late)
    assert likely_cause(SUCCESS, 0.2, Interval(0.33, 0.01, 10), BUSY) == ""


def test_compare_gives_a_row_per_metric_the_model_has() -> None:
    model = {"success_rate": Interval(0.33, 0.013, 10), "latency_ms.p95": Interval(36, 1, 10)}
    rows = compare("local", {"success_rate": 0.312, "latency_ms.p95": 49.0}, model, BUSY)
    assert [(row.metric.key, row.verdict) for row in rows] == [
        ("success_rate", WITHIN),
        ("latency_ms.p95", OFF),
    ]
    assert rows[1].cause.startswith("load average 9.8")
    assert rows[0].to_dict()["real"] == 0.312
    assert rows[1].to_dict()["model"]["mean"] == 36
    missing = compare("jwt", {}, model, QUIET)
    assert all(row.verdict == OFF for row in missing)
    assert missing[0].to_dict()["real"] is None


def test_a_metric_neither_side_has_gets_no_row() -> None:
    nothing = Interval(math.nan, math.nan, 10)
    model = {"success_rate": Interval(1.0, 0.0, 10), "store.mean_latency_ms": nothing}
    rows = compare("jwt", {"success_rate": 1.0}, model, QUIET)
    assert [row.metric.key for row in rows] == ["success_rate"]
    with_store = compare(
        "shared_store",
        {"store.mean_latency_ms": 0.62},
        {"store.mean_latency_ms": Interval(0.6, 0.01, 10)},
        QUIET,
    )
    assert [(row.metric.label, row.verdict) for row in with_store] == [
        ("store latency, mean", WITHIN)
    ]


def test_per_cause_and_per_window_metrics_name_what_they_compare() -> None:
    (cause,) = per_cause(["wrong_server"])
    assert cause.key == "forced_relogins_by_cause.wrong_server"
    assert cause.allowance(100.0) == pytest.approx(10.0)  # 10% of 100, more than 5
    success, logged_out = per_window(["after crash server 1"])
    assert success.key == "windows.0.success_rate"
    assert success.label == "success, after crash server 1"
    assert success.allowance(0.7) == pytest.approx(0.05)
    assert logged_out.key == "windows.0.users_logged_out"


def test_a_known_routing_difference_is_named_for_routed_metrics_only() -> None:
    ring = "HAProxy's consistent-hash ring has its own points"
    logged_out = Metric("users_logged_out", "users logged out", "", absolute=5, relative=0.1)
    interval = Interval(46.1, 2.3, 10)
    assert likely_cause(logged_out, 41.0, interval, QUIET, ring) == ring
    assert likely_cause(P95, 80.0, Interval(36, 1, 10), QUIET, ring).startswith("per-request")
    rows = compare(
        "sticky",
        {"users_logged_out": 41.0},
        {"users_logged_out": interval},
        QUIET,
        (logged_out,),
        ring,
    )
    assert [(row.verdict, row.cause) for row in rows] == [(OFF, ring)]
