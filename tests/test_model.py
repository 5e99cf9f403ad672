"""Whole-model behaviour: the claims the README makes, checked on short runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulator import RunResult, Scenario, load_scenario, run
from simulator.costs.reference import JWT_VERIFY_US


def scenario(**overrides: Any) -> Scenario:
    """The baseline scenario, shortened, with dotted overrides (``a__b`` means ``a.b``)."""
    values: dict[str, Any] = {"duration_s": 40, "warmup_s": 5}
    values |= {key.replace("__", "."): value for key, value in overrides.items()}
    return load_scenario("baseline", values)


@pytest.mark.parametrize("servers", [5, 10])
@pytest.mark.parametrize("policy", ["round_robin", "random"])
def test_local_succeeds_about_one_time_in_n(servers: int, policy: str) -> None:
    result = run(scenario(cluster__servers=servers, load_balancer__policy=policy))
    local = result["local"]
    assert local.success_rate is not None
    assert abs(local.success_rate - 1 / servers) < 0.05
    for name in ("sticky", "shared_store", "jwt"):
        assert result[name].success_rate is not None
        assert result[name].success_rate >= 0.995, name


def test_local_failures_are_forced_relogins_charged_with_login_cpu() -> None:
    result = run(scenario(), strategies=["local"])
    local = result["local"]
    assert local.forced_relogins == local.requests - local.succeeded - local.errors["overload"]
    assert local.login_cpu_s == pytest.approx(local.forced_relogins * 0.140, rel=0.05)
    assert local.outcome_counts["relogin"] + local.outcome_counts["unauthorized"] > 0


def test_store_round_trip_is_added_to_every_request() -> None:
    rtt_ms = 2.0
    result = run(
        # jwt tokens that outlive the run, no refresh token: jwt never asks the store
        scenario(shared_store__rtt_ms=rtt_ms, jwt__refresh=False, jwt__ttl_s=86_400),
        strategies=["shared_store", "jwt"],
    )
    frame = result.requests_frame()
    store = frame[frame["strategy"] == "shared_store"].reset_index(drop=True)
    jwt = frame[frame["strategy"] == "jwt"].reset_index(drop=True)
    # the same requests (common random numbers), served first time by both
    both_ok = (store["outcome"] == "ok") & (jwt["outcome"] == "ok")
    assert both_ok.mean() > 0.99
    extra_ms = (store["latency_ms"] - jwt["latency_ms"])[both_ok]
    assert extra_ms.mean() >= rtt_ms - JWT_VERIFY_US["HS256"] / 1000
    assert extra_ms.median() >= rtt_ms - JWT_VERIFY_US["HS256"] / 1000


@pytest.mark.slow  # several store loads (~2 s; test_scenarios' store-saturation is the fast one)
def test_store_latency_grows_sharply_as_store_utilisation_nears_one() -> None:
    extra_ms = []
    utilisation = []
    for op_time_ms in (0.5, 0.8, 0.95):  # at 1000 requests/s: rho = 0.5, 0.8, 0.95
        result = run(
            scenario(
                duration_s=30,
                workload__arrival_rate_per_s=1000,
                cluster__servers=20,
                shared_store__op_time_ms=op_time_ms,
            ),
            strategies=["shared_store", "jwt"],
        )
        store = result["shared_store"]
        assert store.store is not None
        utilisation.append(store.store.utilisation)
        extra = store.latency_ms["mean"]
        base = result["jwt"].latency_ms["mean"]
        assert extra is not None and base is not None
        extra_ms.append(extra - base)
    assert utilisation == sorted(utilisation)
    assert utilisation[-1] > 0.9
    # M/M/1 waiting grows like rho / (1 - rho): 1, 4, 19 times the operation time
    assert extra_ms[1] > 2 * extra_ms[0]
    assert extra_ms[2] > 3 * extra_ms[1]


@pytest.mark.parametrize(
    "workload",
    [
        {"workload__users_per_ip": 200},
        {"workload__user_weights": "zipf", "workload__zipf_exponent": 1.1},
    ],
    ids=["nat", "zipf"],
)
def test_ip_hash_affinity_is_more_skewed_than_jwt(workload: dict[str, Any]) -> None:
    result = run(
        scenario(sticky__affinity="ip_hash", workload__arrival_rate_per_s=400, **workload),
        strategies=["sticky", "jwt"],
    )
    sticky = result["sticky"].load_skew
    jwt = result["jwt"].load_skew
    assert sticky["max_over_mean"] is not None and jwt["max_over_mean"] is not None
    assert sticky["jain"] is not None and jwt["jain"] is not None
    assert sticky["max_over_mean"] > jwt["max_over_mean"] + 0.2
    assert sticky["jain"] < jwt["jain"] - 0.05


def test_more_servers_lower_p95_latency() -> None:
    p95 = []
    for servers in (3, 4, 6):
        result = run(
            scenario(cluster__servers=servers, workload__arrival_rate_per_s=900),
            strategies=["jwt"],
        )
        value = result["jwt"].latency_ms["p95"]
        assert value is not None
        p95.append(value)
    assert p95[0] > p95[1] > p95[2]


def test_every_strategy_sees_the_same_requests() -> None:
    result = run(scenario(duration_s=15))
    frame = result.requests_frame()
    reference = None
    for _, group in frame.groupby("strategy", observed=True):
        ordered = group.sort_values("arrival_s")
        keys = (ordered["arrival_s"].to_numpy(), ordered["user"].to_numpy())
        if reference is None:
            reference = keys
        else:
            np.testing.assert_array_equal(keys[0], reference[0])
            np.testing.assert_array_equal(keys[1], reference[1])
    counts = {item.requests for item in result.results}
    assert len(counts) == 1


def test_same_seed_same_json_and_another_seed_differs() -> None:
    first = run(scenario(duration_s=10)).to_json()
    again = run(scenario(duration_s=10)).to_json()
    other = run(scenario(duration_s=10), seed=2).to_json()
    assert first == again
    assert first != other


def test_requests_before_warmup_are_not_counted() -> None:
    result = run(scenario(duration_s=20, warmup_s=8), strategies=["jwt"])
    frame = result.requests_frame()
    assert frame["arrival_s"].min() >= 8
    assert frame["arrival_s"].max() < 20
    jwt = result["jwt"]
    assert len(frame) == jwt.requests
    # Poisson count over the 12 s window at 100/s: well within 5 standard deviations
    assert abs(jwt.requests - 1200) < 5 * np.sqrt(1200)


def test_full_queues_refuse_with_overload() -> None:
    result = run(
        scenario(
            duration_s=10,
            workload__arrival_rate_per_s=3000,
            cluster__servers=2,
            cluster__queue_limit=5,
        ),
        strategies=["jwt"],
    )
    jwt = result["jwt"]
    assert jwt.errors["overload"] > 0
    assert jwt.served + sum(jwt.errors.values()) == jwt.requests


def test_slow_answers_count_as_timeouts() -> None:
    result = run(
        scenario(duration_s=10, cluster__request_timeout_ms=15),
        strategies=["jwt"],
    )
    jwt = result["jwt"]
    assert jwt.errors["timeout"] > 0
    latencies = result.requests_frame()
    served = latencies[latencies["outcome"].isin(["ok", "relogin"])]
    assert served["latency_ms"].max() <= 15


def test_expired_tokens_force_a_new_login() -> None:
    result = run(scenario(duration_s=30, jwt__ttl_s=20, jwt__refresh=False), strategies=["jwt"])
    jwt = result["jwt"]
    assert jwt.forced_relogins > 0
    assert jwt.outcome_counts["relogin"] == jwt.forced_relogins


def test_expired_tokens_are_refreshed_through_the_store() -> None:
    result = run(scenario(duration_s=30, jwt__ttl_s=20), strategies=["jwt"])
    jwt = result["jwt"]
    assert jwt.forced_relogins == 0
    assert jwt.refreshes > 0
    assert jwt.store is not None and jwt.store.ops == jwt.refreshes


def test_first_requests_log_in_when_nobody_starts_logged_in() -> None:
    result = run(
        scenario(duration_s=10, warmup_s=0, workload__logged_in_at_start=False),
        strategies=["jwt"],
    )
    jwt = result["jwt"]
    assert jwt.logins > 0
    assert jwt.forced_relogins == 0
    assert jwt.success_rate == 1.0


def test_every_job_and_outcome_is_accounted_for() -> None:
    result = run(scenario(duration_s=15))
    for item in result.results:
        assert sum(item.outcome_counts.values()) == item.requests
        assert item.served == item.outcome_counts["ok"] + item.outcome_counts["relogin"]
        # every request reaches a server at least once; logins and retries add jobs
        assert sum(item.server_requests) >= item.requests
        assert all(0 <= value <= 1 for value in item.server_utilisation)


def test_store_statistics_only_for_strategies_that_use_the_store() -> None:
    result = run(scenario(duration_s=10, jwt__refresh=False))
    assert result["shared_store"].store is not None
    for name in ("local", "sticky", "jwt"):
        assert result[name].store is None
    with_refresh = run(scenario(duration_s=10), strategies=["jwt"])
    assert with_refresh["jwt"].store is not None  # refresh tokens live in the store
    assert result["shared_store"].sessions_in_store > 0
    assert result["local"].sessions_in_servers > 0
    assert result["jwt"].sessions_in_servers == 0


def test_summary_and_request_frames_are_tidy() -> None:
    result: RunResult = run(scenario(duration_s=10), strategies=["local", "jwt"])
    summary = result.summary_frame()
    assert list(summary["strategy"]) == ["local", "jwt"]
    assert {"success_rate", "latency_p95_ms", "jain"} <= set(summary.columns)
    requests = result.requests_frame()
    assert set(requests["outcome"].cat.categories) >= {"ok", "relogin", "overload"}
    assert len(requests) == sum(item.requests for item in result.results)


def test_runs_without_request_tables_still_summarise() -> None:
    result = run(scenario(duration_s=10), strategies=["jwt"], record_requests=False)
    assert result["jwt"].latency_ms["p95"] is not None
    with pytest.raises(ValueError, match="record"):
        result.requests_frame()


def test_progress_reports_every_strategy_up_to_done() -> None:
    seen: dict[str, list[float]] = {}
    run(
        scenario(duration_s=10),
        strategies=["local", "jwt"],
        progress=lambda name, fraction: seen.setdefault(name, []).append(fraction),
    )
    assert set(seen) == {"local", "jwt"}
    for fractions in seen.values():
        assert fractions == sorted(fractions)
        assert fractions[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("affinity", ["cookie", "ip_hash", "consistent_hash"])
def test_sticky_keeps_every_user_on_one_server(affinity: str) -> None:
    result = run(scenario(duration_s=15, sticky__affinity=affinity), strategies=["sticky"])
    frame = result.requests_frame()
    assert result["sticky"].success_rate == 1.0
    servers_per_user = frame.groupby("user")["server"].nunique()
    assert servers_per_user.max() == 1


def test_requests_stuck_in_an_endless_queue_end_as_timeouts() -> None:
    # twice the capacity and room to queue everything: the backlog outlives the hard stop
    result = run(
        scenario(
            duration_s=10,
            warmup_s=0,
            workload__arrival_rate_per_s=4000,
            cluster__servers=1,
            cluster__queue_limit=1_000_000,
            cluster__request_timeout_ms=1000,
        ),
        strategies=["jwt"],
    )
    jwt = result["jwt"]
    frame = result.requests_frame()
    assert len(frame) == jwt.requests
    assert jwt.errors["timeout"] > jwt.requests / 2
    assert sum(jwt.outcome_counts.values()) == jwt.requests


def test_store_waits_count_in_server_utilisation() -> None:
    result = run(
        scenario(duration_s=20, shared_store__rtt_ms=20.0), strategies=["shared_store", "jwt"]
    )
    store_busy = sum(result["shared_store"].server_utilisation)
    jwt_busy = sum(result["jwt"].server_utilisation)
    # each request holds a worker ~20 ms longer: about 100/s * 0.02 s / 4 workers per server
    assert store_busy - jwt_busy == pytest.approx(100 * 0.020 / 4, rel=0.15)
