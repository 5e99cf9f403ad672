"""Replications: intervals that shrink like 1/sqrt(R), paired differences, the JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from simulator import load_scenario
from simulator.cli.app import app
from simulator.experiments.replications import METRICS, mean_interval, run_replications

SHORT = {"duration_s": 30, "warmup_s": 10}


def test_mean_interval_matches_the_student_t_formula() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    interval = mean_interval(values)
    # t(0.975, 3) = 3.182446; s = 1.290994
    assert interval.mean == pytest.approx(2.5)
    assert interval.half_width == pytest.approx(3.182446 * 1.290994 / 2, rel=1e-5)
    assert interval.low < 2.5 < interval.high
    assert math.isnan(mean_interval([5.0]).half_width)
    assert mean_interval([float("nan"), 1.0, 3.0]).n == 2


def test_intervals_shrink_like_one_over_root_r() -> None:
    scenario = load_scenario("baseline", SHORT)
    replicated = run_replications(scenario, 40, ["jwt"])
    for metric in ("latency_ms.mean", "latency_ms.p95"):
        values = replicated.values("jwt", metric)
        ten = mean_interval(values[:10]).half_width
        forty = mean_interval(values).half_width
        # sqrt(10/40) = 0.5; t(9)/t(39) and the sample spread move it a little
        assert 0.3 < forty / ten < 0.8, metric


def test_replications_are_independent_and_reproducible() -> None:
    scenario = load_scenario("baseline", SHORT)
    first = run_replications(scenario, 3, ["jwt"])
    again = run_replications(scenario, 3, ["jwt"])
    values = first.values("jwt", "latency_ms.mean")
    assert values == again.values("jwt", "latency_ms.mean")
    assert len(set(values)) == 3  # each replication draws its own traffic
    assert first.runs[0].to_json() == again.runs[0].to_json()


def test_paired_difference_of_store_and_jwt_excludes_zero_in_the_baseline() -> None:
    replicated = run_replications(load_scenario("baseline", SHORT), 10, ["shared_store", "jwt"])
    pair = replicated.paired("shared_store", "jwt", "latency_ms.mean")
    assert pair.interval.excludes(0.0)
    assert pair.interval.low > 0.4  # at least the 0.5 ms round trip, less 31 us of HS256
    # pairing removes the traffic noise: far tighter than either mean's own interval
    assert pair.interval.half_width < replicated.interval("jwt", "latency_ms.mean").half_width / 3


def test_replicated_json_has_a_ci95_block_per_metric() -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--replications",
            "4",
            "--json",
            "-s",
            "shared_store",
            "-s",
            "jwt",
            "--set",
            "duration_s=20",
            "--set",
            "warmup_s=5",
        ],
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["replications"] == 4
    store = document["results"][0]
    assert store["strategy"] == "shared_store"
    ci = store["ci95"]
    for key in ("mean", "p50", "p95", "p99"):
        block = ci["latency_ms"][key]
        assert block["low"] <= store["latency_ms"][key] <= block["high"]
        assert block["n"] == 4
    assert set(ci["load_skew"]) == {"max_over_mean", "cv", "jain"}
    assert "utilisation" in ci["store"]
    assert ci["users_logged_out"]["n"] == 4
    assert store["users_logged_out"] == 0  # the store keeps every session
    pairs = {(p["a"], p["b"], p["metric"]) for p in document["paired"]}
    assert ("shared_store", "jwt", "latency_ms.mean") in pairs


def test_replicated_table_and_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "-r",
            "3",
            "--out",
            str(tmp_path),
            "-s",
            "jwt",
            "--set",
            "duration_s=20",
            "--set",
            "warmup_s=5",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "±" in result.stdout
    names = {path.name for path in tmp_path.iterdir()}
    assert {"results.json", "replications.csv"} <= names
    rows = (tmp_path / "replications.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3


def test_frame_has_one_row_per_replication_and_strategy() -> None:
    replicated = run_replications(load_scenario("baseline", SHORT), 2, ["local", "jwt"])
    frame = replicated.frame()
    assert len(frame) == 4
    assert np.isfinite(frame["latency_ms.p95"]).all()
    local = frame[frame["strategy"] == "local"]
    assert (local["users_logged_out"] > 0).all()
    assert (local["users_logged_out"] <= local["forced_relogins"]).all()


def test_cost_and_exposure_metrics_are_replicated() -> None:
    scenario = load_scenario("revocation", {"duration_s": 60, "warmup_s": 10})
    replicated = run_replications(scenario, 2)
    mean = {
        (name, metric): replicated.interval(name, metric).mean
        for name in replicated.strategies
        for metric in METRICS
    }
    assert mean["sticky", "store.ops_per_request"] == 0.0  # never asks the store
    assert mean["shared_store", "store.ops_per_request"] == pytest.approx(1.0, abs=0.01)
    assert mean["jwt", "credential_bytes"] > mean["sticky", "credential_bytes"]
    assert mean["jwt", "auth_cost.verify_ms"] > mean["shared_store", "auth_cost.verify_ms"] == 0
    assert mean["jwt", "refreshes"] > 0  # 60 s tokens with refresh on
    assert mean["jwt", "exposure.accepted_after_revocation"] > 0
    assert mean["shared_store", "exposure.accepted_after_revocation"] == 0
    plain = run_replications(load_scenario("baseline", {"duration_s": 10, "warmup_s": 2}), 2)
    assert math.isnan(plain.interval("jwt", "exposure.mean_window_s").mean)  # nobody revoked
