"""Welch's graphical method: the moving average, the suggestion rule, and whole runs that
need (or do not need) a warm-up."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from simulator import Scenario, load_scenario, run
from simulator.cli.app import app
from simulator.experiments.warmup import (
    DEFAULT_TOLERANCE,
    WELCH_METRICS,
    WelchResult,
    moving_average,
    suggest_warmup,
    welch,
)

# Everybody logs in on their first request: 140 ms of password hashing per user, so the
# first seconds are slow. 500 users at 100 requests/s: the share of requests that are a
# user's first decays like exp(-t / 5 s), so the mean settles (to 5%) after about 30 s.
COLD_START = {
    "duration_s": 150,
    "warmup_s": 20,
    "workload.users": 500,
    "workload.logged_in_at_start": False,
}

# Logged in at start, light load (5 servers x 4 workers, 50 requests/s of 10 ms): nothing
# to warm up but the empty queues, which fill in milliseconds.
STEADY = {"duration_s": 150, "warmup_s": 20, "workload.arrival_rate_per_s": 50}


@pytest.fixture(scope="module")
def cold() -> WelchResult:
    return welch(load_scenario("baseline", COLD_START), 5, strategy="jwt")


@pytest.fixture(scope="module")
def steady() -> WelchResult:
    return welch(load_scenario("baseline", STEADY), 5, strategy="jwt")


# ------------------------------------------------------------------ moving average


def test_moving_average_follows_laws_definition() -> None:
    values = np.array([9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 4.0])
    smoothed = moving_average(values, 2)
    # i < w: a window of 2i + 1 centred on i; then 2w + 1; the last w are undefined
    assert smoothed[0] == 9.0
    assert smoothed[1] == pytest.approx((9 + 1 + 5) / 3)
    assert smoothed[2] == pytest.approx((9 + 1 + 5 + 3 + 7) / 5)
    assert smoothed[3] == pytest.approx((1 + 5 + 3 + 7 + 2) / 5)
    assert smoothed[4] == pytest.approx((5 + 3 + 7 + 2 + 4) / 5)
    assert np.isnan(smoothed[5:]).all()


def test_window_zero_is_the_curve_itself() -> None:
    values = np.array([3.0, 1.0, 2.0])
    np.testing.assert_array_equal(moving_average(values, 0), values)


def test_moving_average_skips_missing_buckets() -> None:
    values = np.array([2.0, np.nan, 4.0, np.nan, np.nan, np.nan, 1.0])
    smoothed = moving_average(values, 1)
    assert smoothed[1] == pytest.approx(3.0)
    assert np.isnan(smoothed[4])  # a window of nothing but gaps
    assert np.isnan(smoothed[6])  # the last w: undefined


# ------------------------------------------------------------------ the rule


T_S = np.arange(10, dtype=np.float64) * 2.0  # ten 2-s buckets


def test_suggestion_is_where_the_curve_enters_the_band_for_good() -> None:
    curve = np.array([50.0, 30.0, 11.0, 10.2, 9.8, 12.0, 10.1, 9.9, 10.0, np.nan])
    # 11 is outside 10 ± 5%; so is the late 12: the curve is inside for good from bucket 6
    assert suggest_warmup(T_S, curve, 10.0) == 12.0
    assert suggest_warmup(T_S, curve, 10.0, tolerance=0.25) == 4.0


def test_a_curve_inside_from_the_start_needs_no_warmup() -> None:
    assert suggest_warmup(T_S, np.full(10, 10.3), 10.0) == 0.0


def test_a_curve_outside_at_the_end_has_not_settled() -> None:
    rising = np.linspace(1.0, 20.0, 10)
    assert suggest_warmup(T_S, rising, 15.0) is None
    assert suggest_warmup(T_S, np.full(10, np.nan), 15.0) is None
    assert suggest_warmup(T_S, rising, math.nan) is None


def test_absolute_tolerance_for_a_level_near_zero() -> None:
    queue = np.array([6.0, 2.0, 0.4, 0.1, 0.0, 0.2, 0.0, 0.1, 0.0, 0.0])
    # 5% of 0.05 is no band at all: only the trailing exact zeros are in it
    assert suggest_warmup(T_S, queue, 0.05) is None
    assert suggest_warmup(T_S, queue, 0.0) == 16.0
    assert suggest_warmup(T_S, queue, 0.05, absolute_tolerance=0.5) == 4.0


# ------------------------------------------------------------------ whole runs


def test_a_cold_start_needs_a_warmup_inside_the_run(cold: WelchResult) -> None:
    assert cold.suggested_warmup_s is not None
    assert 0.0 < cold.suggested_warmup_s < cold.duration_s / 2
    # the transient is real: the first bucket's mean latency is several times the level
    assert cold.averaged[0] > 4 * cold.level
    # every user's first login is over long before the suggestion: exp(-t / 5 s) < 1%
    assert cold.suggested_warmup_s >= 25.0
    # after it the smoothed curve stays in the band; just before it, it did not
    low, high = cold.band
    after = cold.smoothed[(cold.t_s >= cold.suggested_warmup_s) & np.isfinite(cold.smoothed)]
    assert ((after >= low) & (after <= high)).all()
    before = cold.smoothed[cold.t_s < cold.suggested_warmup_s][-1]
    assert not low <= before <= high
    assert cold.settled
    assert cold.notes == ()


def test_a_steady_scenario_needs_nearly_no_warmup(steady: WelchResult) -> None:
    assert steady.suggested_warmup_s is not None
    assert steady.suggested_warmup_s <= steady.bucket_s
    assert steady.level == pytest.approx(10.0, rel=0.05)  # the mean service time, no waits


@pytest.mark.slow  # replicated cold starts of every strategy (~2 s)
def test_tail_metrics_and_other_strategies_see_the_cold_start_too() -> None:
    scenario = load_scenario("baseline", COLD_START)
    for strategy, metric in [("sticky", "latency_p95"), ("shared_store", "latency_p50")]:
        result = welch(scenario, 5, strategy=strategy, metric=metric)
        assert result.suggested_warmup_s is not None, (strategy, metric)
        assert 0.0 < result.suggested_warmup_s < result.duration_s / 2, (strategy, metric)


def test_the_runs_start_at_zero_and_keep_the_scenario_as_given(cold: WelchResult) -> None:
    assert cold.t_s[0] == 0.0
    assert cold.per_replication.shape == (5, len(cold.t_s))
    assert cold.replications == 5
    assert cold.current_warmup_s == 20.0
    assert cold.scenario.warmup_s == 20.0
    assert cold.t_s[-1] + cold.bucket_s == pytest.approx(cold.duration_s)
    # replications are independent: no two rows alike
    rows = {tuple(np.round(row, 9)) for row in cold.per_replication}
    assert len(rows) == 5
    np.testing.assert_allclose(cold.averaged, cold.per_replication.mean(axis=0))


def test_the_mean_latency_of_a_bucket_is_the_mean_of_its_served_requests() -> None:
    scenario = load_scenario("baseline", COLD_START | {"duration_s": 40})
    result = welch(scenario, 1, strategy="jwt", window=0)
    reference = run(scenario.with_overrides({"warmup_s": 0}), ["jwt"])
    frame = reference.requests_frame()
    served = frame[frame["outcome"].isin(["ok", "relogin"])]
    bucket = np.floor(served["arrival_s"].to_numpy() / result.bucket_s).astype(int)
    expected = served.groupby(bucket)["latency_ms"].mean()
    np.testing.assert_allclose(result.per_replication[0][expected.index], expected.to_numpy())
    # and the series-based metrics are the run's own time series
    p95 = welch(scenario, 1, strategy="jwt", metric="latency_p95", window=0)
    series = reference["jwt"].series
    assert series is not None
    np.testing.assert_array_equal(p95.per_replication[0], series.latency_ms[1])
    np.testing.assert_array_equal(p95.smoothed, p95.averaged)


@pytest.mark.parametrize("metric", sorted(WELCH_METRICS))
def test_every_metric_gives_a_curve(metric: str) -> None:
    scenario = load_scenario("baseline", COLD_START | {"duration_s": 30})
    result = welch(scenario, 2, strategy="sticky", metric=metric)
    assert len(result.averaged) == len(result.t_s) == len(result.smoothed)
    assert np.isfinite(result.averaged).all()
    if WELCH_METRICS[metric].percent:
        assert ((result.averaged >= 0) & (result.averaged <= 1)).all()


def test_welch_is_deterministic() -> None:
    scenario = load_scenario("baseline", COLD_START | {"duration_s": 40})
    first = welch(scenario, 2, strategy="jwt")
    second = welch(scenario, 2, strategy="jwt")
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())


def test_the_suggestion_becomes_the_scenarios_warmup(cold: WelchResult) -> None:
    assert cold.suggested_warmup_s is not None
    scenario = cold.with_suggested_warmup()
    assert isinstance(scenario, Scenario)
    assert scenario.warmup_s == cold.suggested_warmup_s
    unsettled = dataclasses.replace(cold, suggested_warmup_s=None)
    with pytest.raises(ValueError, match="did not settle"):
        unsettled.with_suggested_warmup()


def test_json_text_and_frame(cold: WelchResult) -> None:
    document = cold.to_dict()
    text = json.dumps(document, allow_nan=False)  # NaN (the last w buckets) become null
    assert document["suggested_warmup_s"] == cold.suggested_warmup_s
    assert document["smoothed"][-1] is None
    assert document["tolerance"] == DEFAULT_TOLERANCE
    assert json.loads(text)["metric"] == "latency_mean"
    frame = cold.to_frame()
    assert list(frame.columns[:3]) == ["t_s", "averaged", "smoothed"]
    assert frame.shape == (len(cold.t_s), 3 + cold.replications)
    assert "suggested warm-up" in str(cold)


def test_a_transient_longer_than_half_the_run_is_flagged() -> None:
    # 2000 users: first logins decay like exp(-t / 20 s); 160 s is too short to be sure
    scenario = load_scenario("baseline", {"duration_s": 160, "workload.logged_in_at_start": False})
    result = welch(scenario, 3, strategy="jwt")
    assert result.suggested_warmup_s is not None
    assert result.suggested_warmup_s >= 80.0
    assert any("second half" in note for note in result.notes)
    assert any("3 replication" in note for note in result.notes)


def test_events_and_changing_rates_are_flagged() -> None:
    scenario = load_scenario(
        "baseline",
        {
            "duration_s": 30,
            "events": [{"at_s": 12, "kind": "server_crash"}],
            "workload.rate_profile": {"shape": "ramp", "start_s": 0, "end_s": 30},
        },
    )
    notes = " ".join(welch(scenario, 2, strategy="jwt").notes)
    assert "events" in notes
    assert "arrival rate changes" in notes


def test_an_overloaded_system_that_keeps_degrading_does_not_settle() -> None:
    # 400 requests/s of 10 ms on 4 workers with a practically unlimited queue: the
    # queue, and with it the latency, grows for the whole run
    scenario = load_scenario(
        "baseline",
        {
            "duration_s": 40,
            "cluster.servers": 1,
            "cluster.queue_limit": 1_000_000,
            "cluster.request_timeout_ms": 1e9,
            "workload.arrival_rate_per_s": 600,
        },
    )
    result = welch(scenario, 2, strategy="jwt")
    assert result.suggested_warmup_s is None
    assert not result.settled
    assert any("no steady state" in note for note in result.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "latency_p90"}, "unknown metric"),
        ({"strategy": "cookies"}, "cookies"),
        ({"window": -1}, "window"),
        ({"tolerance": -0.1}, "tolerance"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], message: str) -> None:
    scenario = load_scenario("baseline", {"duration_s": 10, "warmup_s": 0})
    with pytest.raises(ValueError, match=message):
        welch(scenario, 2, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        welch(scenario, 0)


def test_window_is_clipped_to_a_quarter_of_the_buckets() -> None:
    scenario = load_scenario("baseline", {"duration_s": 20, "warmup_s": 0, "bucket_s": 2})
    result = welch(scenario, 2, strategy="jwt", window=50)
    assert result.window == 10 // 4
    assert any("clipped" in note for note in result.notes)


def test_warmup_command_prints_writes_and_reports_json(tmp_path: Path) -> None:
    args = ["warmup", "--set", "duration_s=40", "--set", "workload.users=300", "-r", "2"]
    args += ["--set", "workload.logged_in_at_start=false", "-s", "jwt"]
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "suggested warm-up" in result.stdout
    assert (tmp_path / "welch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["metric"] == "latency_mean"
    bad = runner.invoke(app, ["warmup", "--metric", "latency_men"])
    assert bad.exit_code == 2
    assert "did you mean 'latency_mean'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
