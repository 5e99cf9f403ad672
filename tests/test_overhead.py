"""The per-job costs outside the strategies: the balancer hop (``load_balancer.hop_ms``, latency
held by no worker) and the worker overhead (``cluster.overhead_ms``, worker time), and the
``Latency`` section that describes both (simulator.scenario.models, simulator.model.workload)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from simulator import ScenarioError, load_scenario, run
from simulator.model.rng import DrawBuffer, Streams
from simulator.model.workload import latencies_s
from simulator.results.records import RunResult, StrategyResult
from simulator.scenario.models import Latency

SHORT: dict[str, Any] = {"duration_s": 20, "warmup_s": 2}
"""The baseline (5 servers x 4 workers, round robin, 100 requests/s of 10 ms), 18 s measured:
about 5% of the workers busy, so a job seldom waits for one."""

EXACT_MS = 1e-9  # float rounding only


def run_of(overrides: dict[str, Any]) -> RunResult:
    return run(load_scenario("baseline", SHORT | overrides))


def constant(mean: float) -> dict[str, Any]:
    return {"distribution": "constant", "mean": mean}


def paired(before: RunResult, after: RunResult) -> pd.DataFrame:
    """The requests of both runs side by side (the same arrivals: common random numbers)."""
    first, second = before.requests_frame(), after.requests_frame()
    merged = first.merge(
        second, on=["strategy", "arrival_s", "user"], suffixes=("_before", "_after"), validate="1:1"
    )
    assert len(merged) == len(first) == len(second)
    return merged.sort_values("arrival_s", kind="stable").reset_index(drop=True)


def added_ms(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    difference = frame.latency_ms_after - frame.latency_ms_before
    return np.asarray(difference, dtype=np.float64)


def busy_s(result: StrategyResult, workers: int = 4) -> list[float]:
    """Worker-seconds each server was held while measuring."""
    return [
        utilisation * workers * up_s
        for utilisation, up_s in zip(result.server_utilisation, result.server_up_s, strict=True)
    ]


def draws_ms(latency: Latency, count: int, stream: str = "hop", seed: int = 1) -> np.ndarray:
    buffer = latencies_s(Streams(seed), stream, latency)
    assert buffer is not None
    return np.fromiter((buffer.next() for _ in range(count)), dtype=np.float64, count=count) * 1e3


# ------------------------------------------------------------------------ the hop

HOP_MS = 3.0


@pytest.mark.parametrize("strategy", ["sticky", "shared_store"])
def test_a_constant_hop_adds_exactly_its_value_to_every_request(strategy: str) -> None:
    # one job per request (no login, no refresh in 20 s): one hop each
    base = {"strategies": [strategy]}
    frame = paired(run_of(base), run_of(base | {"load_balancer.hop_ms": constant(HOP_MS)}))
    assert len(frame) > 1500
    assert (frame.outcome_before == "ok").all() and (frame.outcome_after == "ok").all()
    np.testing.assert_allclose(added_ms(frame), HOP_MS, rtol=0, atol=EXACT_MS)
    np.testing.assert_array_equal(frame.server_before, frame.server_after)


def test_every_job_of_a_request_pays_the_hop() -> None:
    # jwt: a request whose access token has expired sends three jobs (the request, the
    # refresh, the request again), each through the balancer; the others send one
    base = {"strategies": ["jwt"]}
    before, after = run_of(base), run_of(base | {"load_balancer.hop_ms": constant(HOP_MS)})
    jobs = added_ms(paired(before, after)) / HOP_MS
    assert np.all(np.isclose(jobs, 1.0, atol=1e-9) | np.isclose(jobs, 3.0, atol=1e-9)), jobs
    refreshed = int(np.isclose(jobs, 3.0, atol=1e-9).sum())
    assert refreshed == after["jwt"].refreshes == before["jwt"].refreshes
    assert refreshed > 5  # measured: 21


def test_the_hop_holds_no_worker() -> None:
    # Were the 3 ms held by a worker, the servers together would be busy 100/s x 3 ms = 0.3
    # worker-seconds per second more: about 5.6 s over the 18 s measured. Measured: the
    # same busy time but for work moved across the ends of the measured window (1.4 ms).
    base = {"strategies": ["shared_store", "jwt"]}
    before, after = run_of(base), run_of(base | {"load_balancer.hop_ms": constant(HOP_MS)})
    for strategy in ("shared_store", "jwt"):
        jobs = before[strategy].server_requests
        held_s = sum(jobs) * HOP_MS / 1e3  # what a hop held by a worker would add
        assert sum(busy_s(after[strategy])) == pytest.approx(
            sum(busy_s(before[strategy])), abs=0.01 * held_s
        )
        assert sum(after[strategy].server_requests) == pytest.approx(sum(jobs), abs=2)
    # shared_store's jobs reach the servers in the same order, so each server gets the same
    # ones (jwt's refreshes, sent a hop later, shift the round robin)
    held_per_server_s = [count * HOP_MS / 1e3 for count in before["shared_store"].server_requests]
    for earlier, later, held_s in zip(
        busy_s(before["shared_store"]),
        busy_s(after["shared_store"]),
        held_per_server_s,
        strict=True,
    ):
        assert later == pytest.approx(earlier, abs=0.01 * held_s)


@pytest.mark.parametrize(
    "hop",
    [
        {"distribution": "exponential", "mean": 5.0},
        {"distribution": "lognormal", "mean": 5.0, "p99": 40.0},
    ],
)
def test_a_varying_hop_adds_its_draws(hop: dict[str, Any]) -> None:
    # sticky routes by user, whatever the order jobs reach the balancer: each request's
    # latency grows by exactly its own hop, the stream "hop" drawn in order of arrival
    # (warmup 0: every request is measured, none is skipped)
    base = {"strategies": ["sticky"], "warmup_s": 0}
    after = run_of(base | {"load_balancer.hop_ms": hop})
    added = added_ms(paired(run_of(base), after))
    drawn = draws_ms(after.scenario.load_balancer.hop_ms, len(added), seed=after.scenario.seed)
    np.testing.assert_allclose(added, drawn, rtol=0, atol=1e-6)
    # and their mean is the configured one, within 4 standard errors (measured: 0.2, 2.1)
    standard_error = added.std(ddof=1) / np.sqrt(len(added))
    assert added.mean() == pytest.approx(hop["mean"], abs=4 * standard_error)


# ---------------------------------------------------------------------- overhead

OVERHEAD_MS = 2.0


def test_overhead_is_worker_time_on_every_job() -> None:
    # Measured: busy time rises by exactly jobs x 2 ms; 100/s x 2 ms spread over 5 servers
    # of 4 workers is 0.01 of each worker's time (0.0106 measured for jwt, 0.0104 for
    # shared_store: a few more jobs than requests, and Poisson counts)
    base = {"strategies": ["shared_store", "jwt"]}
    before = run_of(base)
    after = run_of(base | {"cluster.overhead_ms": constant(OVERHEAD_MS)})
    for strategy in ("shared_store", "jwt"):
        jobs = sum(after[strategy].server_requests)
        assert jobs == pytest.approx(sum(before[strategy].server_requests), abs=2)
        added_s = sum(busy_s(after[strategy])) - sum(busy_s(before[strategy]))
        assert added_s == pytest.approx(jobs * OVERHEAD_MS / 1e3, rel=0.01)
        utilisation = np.subtract(
            after[strategy].server_utilisation, before[strategy].server_utilisation
        )
        expected = 100 * OVERHEAD_MS / 1e3 / (5 * 4)
        assert utilisation.mean() == pytest.approx(expected, rel=0.1)
    # shared_store's servers get the same jobs either way: each pays it on each of its jobs
    jobs_per_server = after["shared_store"].server_requests
    assert jobs_per_server == before["shared_store"].server_requests
    added_per_server = np.subtract(busy_s(after["shared_store"]), busy_s(before["shared_store"]))
    assert added_per_server == pytest.approx(
        [count * OVERHEAD_MS / 1e3 for count in jobs_per_server], rel=0.01
    )
    # and every shared_store request is one job: it pays the overhead once (queues only grow)
    added = added_ms(paired(before, after).query("strategy == 'shared_store'"))
    assert added.min() >= OVERHEAD_MS - EXACT_MS
    assert np.median(added) == pytest.approx(OVERHEAD_MS, abs=EXACT_MS)
    assert after["shared_store"].latency_ms["mean"] == pytest.approx(
        before["shared_store"].latency_ms["mean"] + OVERHEAD_MS,  # type: ignore[operator]
        abs=0.05,
    )


# ----------------------------------------------------------------- Latency draws

DRAWS = 200_000


@pytest.mark.parametrize(("mean", "p99"), [(5.0, 40.0), (2.0, 10.0), (1.0, 14.9)])
def test_lognormal_draws_have_the_mean_and_p99_asked_for(mean: float, p99: float) -> None:
    latency = Latency(distribution="lognormal", mean=mean, p99=p99)
    values = draws_ms(latency, DRAWS)
    assert values.min() > 0
    # 1%, or 4 standard errors for the widest tails (p99 = 14.9 x the mean: sigma 2.23, a
    # coefficient of variation of 12, so a standard error of 2.7% in 200,000 draws)
    variation = np.sqrt(np.expm1(latency.sigma**2))
    assert values.mean() == pytest.approx(mean, rel=max(0.01, 4 * variation / np.sqrt(DRAWS)))
    assert np.quantile(values, 0.99) == pytest.approx(p99, rel=0.03)


def test_lognormal_sigma_is_the_smaller_root() -> None:
    latency = Latency(distribution="lognormal", mean=5.0, p99=40.0)
    sigma = latency.sigma
    # p99 = mean x exp(z sigma - sigma^2 / 2), and the smaller root is below z
    z = 2.3263478740408408
    assert 5.0 * np.exp(z * sigma - sigma**2 / 2) == pytest.approx(40.0, rel=1e-12)
    assert 0 < sigma < z
    assert Latency(distribution="exponential", mean=5.0).sigma == 0.0
    assert Latency(distribution="lognormal", mean=0.0).sigma == 0.0


def test_exponential_and_constant_draws() -> None:
    exponential = draws_ms(Latency(distribution="exponential", mean=3.0), DRAWS)
    assert exponential.mean() == pytest.approx(3.0, rel=0.01)
    assert np.quantile(exponential, 0.99) == pytest.approx(3.0 * np.log(100), rel=0.03)
    np.testing.assert_array_equal(draws_ms(Latency(mean=3.0), 1000), np.full(1000, 3.0))


def test_draws_come_from_their_own_stream() -> None:
    latency = Latency(distribution="exponential", mean=3.0)
    hop, overhead = draws_ms(latency, 100, "hop"), draws_ms(latency, 100, "overhead")
    assert not np.array_equal(hop, overhead)
    np.testing.assert_array_equal(hop, draws_ms(latency, 100, "hop"))  # reproducible
    assert not np.array_equal(hop, draws_ms(latency, 100, "hop", seed=2))


@pytest.mark.parametrize(
    "latency",
    [Latency(), Latency(distribution="exponential"), Latency(distribution="lognormal", p99=5)],
)
def test_zero_mean_draws_nothing(latency: Latency) -> None:
    assert latencies_s(Streams(1), "hop", latency) is None


@pytest.mark.parametrize("key", ["load_balancer.hop_ms", "cluster.overhead_ms"])
def test_a_zero_mean_changes_nothing_whatever_its_distribution(key: str) -> None:
    base = {"strategies": ["shared_store", "jwt"]}
    default = run_of(base).to_json()
    explicit = {"distribution": "lognormal", "mean": 0, "p99": 5}
    assert run_of(base | {key: explicit}).to_json() == default
    assert run_of(base | {key: constant(0.5)}).to_json() != default  # it could differ


# ----------------------------------------------------------------- invalid Latency


@pytest.mark.parametrize("key", ["cluster.overhead_ms", "load_balancer.hop_ms"])
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"distribution": "lognormal", "mean": 5}, "needs p99"),
        ({"distribution": "lognormal", "mean": 5, "p99": 5}, "must be above the mean"),
        ({"distribution": "lognormal", "mean": 5, "p99": 4}, "must be above the mean"),
        ({"distribution": "lognormal", "mean": 1, "p99": 15.2}, "no lognormal has both"),
    ],
)
def test_an_impossible_latency_is_a_one_line_error(
    key: str, value: dict[str, Any], words: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("baseline", {key: value})
    error = info.value
    text = str(error)
    assert "\n" not in text
    assert error.source == "override"
    assert error.key_path == key
    assert text == f"override: {key}: {error.problem}"
    assert words in error.problem


@pytest.mark.parametrize(
    ("key", "value", "key_path"),
    [
        ("load_balancer.hop_ms.mean", -1, "load_balancer.hop_ms.mean"),
        ("cluster.overhead_ms.p99", 0, "cluster.overhead_ms.p99"),
        ("cluster.overhead_ms.distribution", "weibull", "cluster.overhead_ms.distribution"),
        ("load_balancer.hop_ms.mean", float("nan"), "load_balancer.hop_ms.mean"),
        ("cluster.overhead_ms", 2, "cluster.overhead_ms"),  # a section, not a number
    ],
)
def test_a_bad_latency_field_names_its_key(key: str, value: object, key_path: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("baseline", {key: value})
    assert info.value.key_path == key_path
    assert "\n" not in str(info.value)


def test_a_possible_latency_is_accepted() -> None:
    # just under the widest tail a lognormal can have (exp(z^2 / 2) = 14.97 times the mean)
    scenario = load_scenario(
        "baseline",
        {
            "load_balancer.hop_ms": {"distribution": "lognormal", "mean": 1, "p99": 14.9},
            "cluster.overhead_ms": {"distribution": "constant", "mean": 2, "p99": 1},  # ignored
        },
    )
    assert scenario.load_balancer.hop_ms.sigma > 0
    assert scenario.cluster.overhead_ms.mean == 2.0
    # lognormal with a zero mean needs no p99: nothing is drawn
    assert load_scenario(
        "baseline", {"cluster.overhead_ms": {"distribution": "lognormal", "mean": 0}}
    ).cluster.overhead_ms == Latency(distribution="lognormal", mean=0)


def test_latency_in_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "hop.yaml"
    path.write_text(
        "cluster:\n  overhead_ms: {distribution: lognormal, mean: 3}\n", encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    assert info.value.key_path == "cluster.overhead_ms"
    assert "needs p99" in info.value.problem


def test_a_non_zero_mean_gives_a_draw_buffer() -> None:
    assert isinstance(latencies_s(Streams(1), "hop", Latency(mean=1.0)), DrawBuffer)
