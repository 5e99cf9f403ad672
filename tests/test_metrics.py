"""Metric definitions on known vectors (simulator.results.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.results.metrics import (
    clean_float,
    coefficient_of_variation,
    jain_index,
    latency_summary,
    load_skew,
    peak_to_average,
    success_rate,
)


@pytest.mark.parametrize("loads", [[7, 7, 7, 7, 7], [1.5, 1.5], [100]])
def test_equal_loads_are_perfectly_even(loads):
    assert jain_index(loads) == pytest.approx(1.0)
    assert peak_to_average(loads) == pytest.approx(1.0)
    assert coefficient_of_variation(loads) == pytest.approx(0.0)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_all_load_on_one_server_of_n(n):
    loads = [0] * n
    loads[n // 2] = 42
    assert jain_index(loads) == pytest.approx(1 / n)
    assert peak_to_average(loads) == pytest.approx(n)
    assert coefficient_of_variation(loads) == pytest.approx(math.sqrt(n - 1))


def test_skew_of_a_hand_computed_vector():
    loads = [1, 2, 3, 6]  # mean 3, population std sqrt(3.5), sum 12, sum of squares 50
    assert peak_to_average(loads) == pytest.approx(2.0)
    assert coefficient_of_variation(loads) == pytest.approx(math.sqrt(3.5) / 3)
    assert jain_index(loads) == pytest.approx(144 / (4 * 50))


@pytest.mark.parametrize("loads", [[0, 0, 0], [0.0], []])
def test_zero_or_no_load_gives_none(loads):
    assert jain_index(loads) is None
    assert peak_to_average(loads) is None
    assert coefficient_of_variation(loads) is None
    assert load_skew(loads) == {"max_over_mean": None, "cv": None, "jain": None}


def test_load_skew_collects_the_three_measures():
    loads = [10, 0, 10, 20]
    assert load_skew(loads) == {
        "max_over_mean": peak_to_average(loads),
        "cv": coefficient_of_variation(loads),
        "jain": jain_index(loads),
    }
    assert load_skew(loads)["max_over_mean"] == pytest.approx(2.0)


def test_success_rate():
    assert success_rate(3, 4) == 0.75
    assert success_rate(0, 10) == 0.0
    assert success_rate(0, 0) is None


def test_latency_summary_of_a_known_array():
    summary = latency_summary(np.arange(1, 101, dtype=np.float64))  # 1..100 ms
    assert set(summary) == {"mean", "p50", "p95", "p99"}
    assert summary["mean"] == pytest.approx(50.5)
    # linear interpolation between order statistics
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p95"] == pytest.approx(95.05)
    assert summary["p99"] == pytest.approx(99.01)


def test_latency_summary_of_a_small_list():
    summary = latency_summary([10.0, 20.0, 30.0])
    assert summary["mean"] == pytest.approx(20.0)
    assert summary["p50"] == pytest.approx(20.0)
    assert summary["p95"] == pytest.approx(29.0)
    assert summary["p99"] == pytest.approx(29.8)
    assert all(isinstance(value, float) for value in summary.values())


def test_latency_summary_of_one_value():
    summary = latency_summary([4.0])
    assert summary == {"mean": 4.0, "p50": 4.0, "p95": 4.0, "p99": 4.0}


def test_latency_summary_of_nothing_is_all_none():
    for empty in ([], np.array([], dtype=np.float64)):
        assert latency_summary(empty) == {"mean": None, "p50": None, "p95": None, "p99": None}


def test_clean_float_rounds():
    assert clean_float(1.23456789) == 1.234568
    assert clean_float(1.23456789, digits=2) == 1.23
    assert clean_float(-0.0000004) == 0.0
    assert clean_float(3) == 3


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf, float(np.float64("nan"))])
def test_clean_float_missing_nan_and_inf_are_none(value):
    assert clean_float(value) is None
