"""Summary mode: bounded memory, the same counts, percentiles within 1%."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import load_scenario, run
from simulator.model.run import RunInputs, StrategyRun
from simulator.results.histogram import RATIO, LogHistogram


@given(
    st.lists(st.floats(0.01, 1e5, allow_nan=False), min_size=1, max_size=400),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_histogram_quantiles_are_within_half_a_percent(values: list[float], q: float) -> None:
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)
    exact = float(np.percentile(values, q * 100))
    estimate = histogram.quantile(q)
    assert estimate is not None
    # both order statistics are within a bin's relative half-width of their centres
    assert abs(estimate - exact) <= exact * (RATIO - 1) + 1e-9
    assert histogram.mean == pytest.approx(float(np.mean(values)))
    assert histogram.n == len(values)


def test_empty_histogram_has_no_quantiles() -> None:
    assert LogHistogram().summary() == {"mean": None, "p50": None, "p95": None, "p99": None}


def test_summary_mode_counts_everything_the_full_mode_counts() -> None:
    scenario = load_scenario("server-crash", {"workload.arrival_rate_per_s": 60, "duration_s": 90})
    full = run(scenario)
    summary = run(scenario, record_requests=False)
    for exact, streamed in zip(full.results, summary.results, strict=True):
        assert streamed.outcome_counts == exact.outcome_counts
        assert streamed.forced_relogins_by_cause == exact.forced_relogins_by_cause
        assert streamed.users_logged_out == exact.users_logged_out
        assert streamed.windows == exact.windows
        assert streamed.latency_ms["mean"] == pytest.approx(exact.latency_ms["mean"])
        for key in ("p50", "p95", "p99"):
            assert streamed.latency_ms[key] == pytest.approx(exact.latency_ms[key], rel=0.01)
    with pytest.raises(ValueError, match="record"):
        summary.requests_frame()


def test_summary_mode_keeps_no_per_request_record() -> None:
    scenario = load_scenario("baseline", {"duration_s": 30, "warmup_s": 5})
    strategy_run = StrategyRun(RunInputs.build(scenario), "jwt", record_requests=False)
    result = strategy_run.run()
    assert result.requests > 2000
    assert len(strategy_run.recorder.log) == 0
    assert (
        sum(len(histogram.counts) for histogram in strategy_run.recorder.tally.latency) < 60 * 2400
    )
