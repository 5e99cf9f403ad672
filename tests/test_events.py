"""Faults and change over time: the claims the README makes about events, on short runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import RunResult, Scenario, ScenarioError, load_scenario, run
from simulator.results.records import StrategyResult

HEALTH_CHECK_S = 5.0


def scenario(events: list[dict[str, Any]], **overrides: Any) -> Scenario:
    """The baseline, 70 s with 10 s warm-up, a long token lifetime, and these events."""
    values: dict[str, Any] = {
        "duration_s": 70,
        "warmup_s": 10,
        "jwt.ttl_s": 1e9,
        "events": events,
    }
    values |= {key.replace("__", "."): value for key, value in overrides.items()}
    return load_scenario("baseline", values)


def window(result: StrategyResult, label_start: str) -> Any:
    matches = [item for item in result.windows if item.label.startswith(label_start)]
    assert matches, [item.label for item in result.windows]
    return matches[0]


def share_of_active_users_forced(
    result: RunResult, strategy: str, since_s: float, active_from_s: float, causes: set[str]
) -> float:
    """Of the users with a request after ``active_from_s``, the share forced to log in
    again (for one of ``causes``) after ``since_s``."""
    frame = result.requests_frame()
    frame = frame[frame["strategy"] == strategy]
    active = set(frame.loc[frame["arrival_s"] >= active_from_s, "user"])
    forced = frame[(frame["arrival_s"] >= since_s) & frame["relogin_cause"].isin(causes).to_numpy()]
    return len(active & set(forced["user"])) / len(active)


# ------------------------------------------------------------------ server crash


def test_crash_forces_about_one_in_n_sticky_users_to_log_in_again() -> None:
    crash_s = 32.0
    result = run(scenario([{"at_s": crash_s, "kind": "server_crash", "server": 2}]))
    detected_s = np.ceil(crash_s / HEALTH_CHECK_S) * HEALTH_CHECK_S
    share = share_of_active_users_forced(
        result, "sticky", crash_s, detected_s, {"session_lost", "wrong_server"}
    )
    assert share == pytest.approx(1 / 5, abs=0.05)
    sticky = result["sticky"]
    before, after = sticky.windows[0], sticky.windows[1]
    assert before.success_rate == 1.0
    assert after.success_rate is not None and after.success_rate < 0.95
    assert sticky.forced_relogins_by_cause["session_lost"] > 0


def test_crash_costs_jwt_and_store_only_requests_sent_to_the_dead_server() -> None:
    crash_s = 32.0
    result = run(scenario([{"at_s": crash_s, "kind": "server_crash", "server": 2}]))
    detected_s = np.ceil(crash_s / HEALTH_CHECK_S) * HEALTH_CHECK_S
    frame = result.requests_frame()
    for name in ("jwt", "shared_store"):
        item = result[name]
        assert item.forced_relogins == 0
        errors = {kind: count for kind, count in item.errors.items() if count}
        assert set(errors) == {"server_down"}
        failed = frame[(frame["strategy"] == name) & (frame["outcome"] == "server_down")]
        # in flight at the crash (arrived just before it) or routed there before detection
        assert failed["arrival_s"].between(crash_s - 1.0, detected_s).all()
        # round robin sends 1/N of the traffic to the dead server until the balancer knows
        expected = 100 * (detected_s - crash_s) / 5
        assert len(failed) == pytest.approx(expected, rel=0.35)


def test_recovered_server_returns_with_empty_memory() -> None:
    result = run(
        scenario(
            [
                {"at_s": 22, "kind": "server_crash", "server": 1},
                {"at_s": 41, "kind": "server_recover", "server": 1},
            ],
            sticky__affinity="consistent_hash",
        ),
        strategies=["sticky"],
    )
    sticky = result["sticky"]
    # the ring moves the crashed server's users away, then back to a server that forgot them
    assert window(sticky, "after crash").forced_relogins_by_cause["session_lost"] > 0
    assert window(sticky, "after recover").forced_relogins_by_cause["session_lost"] > 0
    assert sticky.series is not None
    assert sticky.series.up_fraction[1].min() == 0.0
    assert sticky.series.up_fraction[1][-1] == 1.0


# ------------------------------------------------------------------ scaling


@pytest.mark.parametrize(("affinity", "expected"), [("ip_hash", 0.9), ("consistent_hash", 0.1)])
def test_scaling_out_from_9_to_10_remaps(affinity: str, expected: float) -> None:
    scale_s = 31.0
    result = run(
        scenario(
            [{"at_s": scale_s, "kind": "scale_out", "count": 1}],
            duration_s=80,
            cluster__servers=9,
            sticky__affinity=affinity,
            sticky__virtual_nodes=200,
            workload__arrival_rate_per_s=300,
        ),
        strategies=["sticky"],
    )
    joined_s = np.ceil(scale_s / HEALTH_CHECK_S) * HEALTH_CHECK_S
    share = share_of_active_users_forced(result, "sticky", scale_s, joined_s, {"wrong_server"})
    assert share == pytest.approx(expected, abs=0.05)
    assert len(result["sticky"].server_requests) == 10


def test_graceful_scale_in_drains_without_errors_but_loses_sessions() -> None:
    result = run(
        scenario([{"at_s": 33, "kind": "scale_in", "count": 2}]),
        strategies=["sticky", "jwt"],
    )
    for item in result.results:
        assert sum(item.errors.values()) == 0
    assert result["sticky"].forced_relogins_by_cause["session_lost"] > 0
    assert result["jwt"].forced_relogins == 0
    jwt_series = result["jwt"].series
    assert jwt_series is not None
    assert jwt_series.server_jobs[3:, -10:].sum() == 0  # the two retired servers get nothing


def test_abrupt_scale_in_fails_the_jobs_in_flight() -> None:
    result = run(
        scenario(
            [{"at_s": 33, "kind": "scale_in", "count": 2, "graceful": False}],
            workload__arrival_rate_per_s=1200,
        ),
        strategies=["jwt"],
    )
    assert result["jwt"].errors["server_down"] > 0


# ------------------------------------------------------------------ deploys


def test_rolling_deploy_logs_out_every_session_user_but_no_token_or_store_user() -> None:
    result = run(
        scenario(
            [{"at_s": 22, "kind": "rolling_restart", "restart_s": 3, "interval_s": 1}],
            duration_s=80,
        )
    )
    deploy = result["sticky"].events[0]
    assert deploy.end_s is not None and deploy.end_s > 22 + 5 * 3
    for name in ("sticky", "local"):
        share = share_of_active_users_forced(
            result, name, 22, deploy.end_s, {"session_lost", "wrong_server"}
        )
        assert share > 0.98, name
    assert result["sticky"].forced_relogins_by_cause["session_lost"] > 0
    for name in ("jwt", "shared_store"):
        assert result[name].forced_relogins == 0
        assert result[name].success_rate == 1.0


# ------------------------------------------------------------------ the store


def test_store_outage_stops_shared_store_and_leaves_jwt_alone() -> None:
    result = run(
        scenario([{"at_s": 31, "kind": "store_outage", "duration_s": 10}]),
        strategies=["shared_store", "jwt"],
    )
    store = result["shared_store"]
    during, after = window(store, "during"), window(store, "after")
    assert during.success_rate == 0.0
    assert after.success_rate is not None and after.success_rate >= 0.995
    assert store.errors["store_unavailable"] == pytest.approx(during.requests, abs=5)
    assert window(result["jwt"], "during").success_rate == 1.0


def test_relogin_local_serves_through_an_outage_and_pays_with_logins_after_it() -> None:
    outage = [{"at_s": 31, "kind": "store_outage", "duration_s": 10}]
    degraded = run(
        scenario(outage, shared_store__on_outage="relogin_local"), strategies=["shared_store"]
    )
    failing = run(scenario(outage), strategies=["shared_store"])
    assert scenario(outage).shared_store.on_outage == "fail"  # the default
    store, strict = degraded["shared_store"], failing["shared_store"]
    assert store.errors["store_unavailable"] == 0
    frame = degraded.requests_frame()
    inside = frame[(frame["arrival_s"] >= 31) & (frame["arrival_s"] < 41)]
    served = inside["outcome"].isin(["ok", "relogin"]).mean()
    assert served > 0.1  # served from local memory, at local's price (fail: none)
    during, after = window(store, "during"), window(store, "after")
    assert during.forced_relogins_by_cause["session_lost"] > 0  # held only by the store
    assert during.forced_relogins_by_cause["wrong_server"] > 0  # held by another server
    # back on the store: the sessions made during the outage are not in it
    assert after.forced_relogins_by_cause["session_lost"] > 0
    assert window(strict, "after").forced_relogins == 0
    assert window(strict, "during").success_rate == 0.0


def test_relogin_local_still_refuses_a_user_revoked_during_the_outage() -> None:
    events = [
        {"at_s": 25, "kind": "store_outage", "duration_s": 20},
        {"at_s": 35, "kind": "revoke_user", "count": 5},
    ]
    result = run(
        scenario(events, shared_store__on_outage="relogin_local", workload__user_weights="zipf"),
        strategies=["shared_store"],
    )
    exposure = result["shared_store"].exposure
    assert exposure is not None and exposure.revoked_users == 5
    assert exposure.accepted_after_revocation == 0


def test_unknown_outage_policy_is_one_line() -> None:
    with pytest.raises(ScenarioError, match=r"shared_store\.on_outage") as caught:
        scenario([], shared_store__on_outage="relogin")
    assert "\n" not in str(caught.value)


def test_store_that_loses_its_data_logs_everyone_out() -> None:
    result = run(
        scenario([{"at_s": 31, "kind": "store_outage", "duration_s": 5, "data_lost": True}]),
        strategies=["shared_store"],
    )
    after = window(result["shared_store"], "after")
    assert after.forced_relogins_by_cause["session_lost"] > 1000  # nearly every active user


def test_store_latency_spike_slows_only_the_store_strategy() -> None:
    result = run(
        scenario([{"at_s": 30, "kind": "store_latency_spike", "duration_s": 20, "extra_ms": 30}]),
        strategies=["shared_store", "jwt"],
    )
    frame = result.timeseries_frame()
    inside = frame[(frame["t_s"] >= 31) & (frame["t_s"] < 49)]
    outside = frame[frame["t_s"] < 29]
    median = inside.groupby("strategy", observed=True)["latency_p50_ms"].median()
    before = outside.groupby("strategy", observed=True)["latency_p50_ms"].median()
    assert median["shared_store"] - before["shared_store"] == pytest.approx(30, abs=5)
    assert median["jwt"] == pytest.approx(before["jwt"], abs=2)


# ------------------------------------------------------------------ traffic


def test_traffic_spike_multiplies_arrivals_in_its_window() -> None:
    result = run(
        scenario([{"at_s": 30, "kind": "traffic_spike", "duration_s": 20, "multiplier": 3}]),
        strategies=["jwt"],
    )
    frame = result.requests_frame()
    inside = frame["arrival_s"].between(30, 50, inclusive="left").sum() / 20
    outside = frame["arrival_s"].between(10, 30, inclusive="left").sum() / 20
    assert inside / outside == pytest.approx(3, rel=0.1)
    assert result["jwt"].events[0].end_s == pytest.approx(50)


def test_ramp_and_diurnal_profiles_shape_the_arrival_rate() -> None:
    ramp = run(
        scenario(
            [],
            workload__rate_profile={
                "shape": "ramp",
                "start_s": 20,
                "end_s": 40,
                "to_multiplier": 4,
            },
        ),
        strategies=["jwt"],
    )
    arrivals = ramp.requests_frame()["arrival_s"]
    early = arrivals.between(10, 20, inclusive="left").sum()
    late = arrivals.between(50, 60, inclusive="left").sum()
    assert late / early == pytest.approx(4, rel=0.12)
    diurnal = run(
        scenario(
            [],
            workload__rate_profile={
                "shape": "diurnal",
                "period_s": 40,
                "amplitude": 0.8,
                "peak_at_s": 20,
            },
        ),
        strategies=["jwt"],
    )
    times = diurnal.requests_frame()["arrival_s"]
    peak = times.between(17, 23, inclusive="left").sum()
    trough = times.between(37, 43, inclusive="left").sum()
    assert peak > 4 * trough


# ------------------------------------------------------------------ invariants


EVERY_KIND = [
    {"at_s": 12, "kind": "traffic_spike", "duration_s": 6, "multiplier": 2},
    {"at_s": 14, "kind": "server_crash", "count": 2},
    {"at_s": 17, "kind": "store_latency_spike", "duration_s": 4, "extra_ms": 5},
    {"at_s": 19, "kind": "server_recover"},
    {"at_s": 21, "kind": "scale_out", "count": 2},
    {"at_s": 23, "kind": "store_outage", "duration_s": 3, "data_lost": True},
    {"at_s": 27, "kind": "scale_in", "count": 1, "graceful": False},
    {"at_s": 28, "kind": "scale_in", "count": 1},
    {"at_s": 30, "kind": "rolling_restart", "restart_s": 1, "interval_s": 0.5, "graceful": False},
]


def assert_every_request_has_one_outcome(result: RunResult) -> None:
    frame = result.requests_frame()
    for item in result.results:
        rows = frame[frame["strategy"] == item.strategy]
        assert len(rows) == item.requests
        assert sum(item.outcome_counts.values()) == item.requests
        assert rows["outcome"].value_counts().to_dict() == {
            name: count for name, count in item.outcome_counts.items() if count
        } | {name: 0 for name, count in item.outcome_counts.items() if not count}
        assert sum(window.requests for window in item.windows) == item.requests
        assert item.series is not None
        assert int(item.series.requests.sum()) == item.requests
        assert int(item.series.forced_relogins.sum()) == item.forced_relogins
        assert item.forced_relogins == sum(item.forced_relogins_by_cause.values())
        assert item.forced_relogins == int(rows["forced_relogin"].sum())
        assert item.served + sum(item.errors.values()) == item.requests
        assert not rows.duplicated(["arrival_s", "user"]).any()


def test_every_request_ends_in_one_outcome_through_every_kind_of_event() -> None:
    result = run(
        scenario(
            EVERY_KIND,
            duration_s=45,
            workload__rate_profile={"shape": "ramp", "start_s": 0, "end_s": 45},
            workload__arrival_rate_per_s=300,
        )
    )
    assert_every_request_has_one_outcome(result)
    kinds = {mark.kind for mark in result.events}
    assert kinds == {event["kind"] for event in EVERY_KIND}
    for item in result.results:
        errors = item.errors
        if item.strategy == "shared_store":
            assert errors["store_unavailable"] > 0
        assert errors["server_down"] > 0, item.strategy


def test_events_are_deterministic() -> None:
    first = run(scenario(EVERY_KIND, duration_s=40)).to_json()
    second = run(scenario(EVERY_KIND, duration_s=40)).to_json()
    assert first == second


event_strategy = st.one_of(
    st.fixed_dictionaries({"kind": st.just("server_crash"), "server": st.integers(0, 3)}),
    st.fixed_dictionaries({"kind": st.just("server_recover")}),
    st.fixed_dictionaries({"kind": st.just("scale_out"), "count": st.integers(1, 2)}),
    st.fixed_dictionaries(
        {"kind": st.just("scale_in"), "count": st.integers(1, 2), "graceful": st.booleans()}
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("rolling_restart"),
            "restart_s": st.floats(0.2, 2),
            "interval_s": st.floats(0, 1),
            "graceful": st.booleans(),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("store_outage"),
            "duration_s": st.floats(0.1, 5),
            "data_lost": st.booleans(),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("store_latency_spike"),
            "duration_s": st.floats(0.1, 5),
            "extra_ms": st.floats(0.1, 50),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("traffic_spike"),
            "duration_s": st.floats(0.1, 5),
            "multiplier": st.floats(0.2, 4),
        }
    ),
)


@pytest.mark.slow  # a dozen random simulations with events (~2.5 s)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(st.tuples(st.floats(0, 14.5), event_strategy), min_size=1, max_size=6),
    policy=st.sampled_from(["round_robin", "random", "least_connections", "power_of_two"]),
    affinity=st.sampled_from(["cookie", "ip_hash", "consistent_hash"]),
    on_outage=st.sampled_from(["fail", "relogin_local"]),
)
def test_random_timelines_keep_every_invariant(
    events: list[tuple[float, dict[str, Any]]], policy: str, affinity: str, on_outage: str
) -> None:
    timeline = [{"at_s": at_s, **event} for at_s, event in events]
    result = run(
        load_scenario(
            "baseline",
            {
                "duration_s": 15,
                "warmup_s": 2,
                "cluster.servers": 4,
                "workload.users": 300,
                "workload.arrival_rate_per_s": 200,
                "load_balancer.policy": policy,
                "load_balancer.health_check_interval_s": 1,
                "sticky.affinity": affinity,
                "shared_store.on_outage": on_outage,
                "events": timeline,
            },
        )
    )
    assert_every_request_has_one_outcome(result)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"at_s": 5, "kind": "server_crsh"}, "events.0.kind: unknown kind 'server_crsh'"),
        ({"at_s": 5}, "events.0.kind: missing"),
        ({"at_s": 5, "kind": "server_crash", "servr": 1}, "did you mean 'server'?"),
        ({"at_s": 5, "kind": "server_crash", "server": 9}, "events.0.server: no server 9"),
        ({"at_s": 500, "kind": "server_crash"}, "events.0.at_s: must be before duration_s"),
        ({"at_s": 5, "kind": "store_outage"}, "events.0.duration_s: field required"),
        ({"at_s": 5, "kind": "server_crash", "server": 1, "count": 2}, "server or count"),
        ({"at_s": -1, "kind": "scale_out"}, "events.0.at_s: must be >= 0"),
    ],
)
def test_bad_events_are_one_line_errors(event: dict[str, Any], expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("baseline", {"events": [event]})
    message = str(info.value)
    assert "\n" not in message
    assert expected in message


def test_a_server_added_by_scale_out_can_be_crashed() -> None:
    loaded = load_scenario(
        "baseline",
        {
            "events": [
                {"at_s": 5, "kind": "scale_out", "count": 2},
                {"at_s": 8, "kind": "server_crash", "server": 6},
            ]
        },
    )
    assert len(loaded.events) == 2


def test_timeseries_frames_are_tidy() -> None:
    result = run(scenario([{"at_s": 30, "kind": "scale_out"}], duration_s=40))
    frame = result.timeseries_frame()
    assert set(frame["strategy"]) == set(result.strategies)
    assert frame.groupby("strategy")["t_s"].apply(lambda t: t.is_monotonic_increasing).all()
    assert (frame["t_s"] >= 10).all() and (frame["t_s"] < 40).all()
    servers = result.server_timeseries_frame()
    assert servers["server"].max() == 5  # the sixth server, added by the scale-out
    late = servers[(servers["server"] == 5) & (servers["t_s"] >= 36)]
    spreading = late[late["strategy"] != "sticky"]
    assert (spreading["jobs"] > 0).all()
    # cookie affinity: every user is pinned already, so the new server gets nobody
    assert (late.loc[late["strategy"] == "sticky", "jobs"] == 0).all()
    assert isinstance(servers, pd.DataFrame)


def test_with_every_server_down_the_balancer_answers_server_down() -> None:
    result = run(
        scenario(
            [
                {"at_s": 20, "kind": "server_crash", "count": 5},
                {"at_s": 40, "kind": "server_recover"},
            ]
        ),
        strategies=["jwt"],
    )
    jwt = result["jwt"]
    outage = window(jwt, "after crash")
    assert outage.success_rate == 0.0
    # plus the few requests in flight on the servers at the crash
    assert jwt.errors["server_down"] == pytest.approx(outage.requests, abs=10)
    assert window(jwt, "after recover").success_rate == pytest.approx(1.0, abs=0.01)


def test_relogin_share_counts_distinct_active_users() -> None:
    crash_s = 32.0
    result = run(
        scenario([{"at_s": crash_s, "kind": "server_crash", "server": 2}]),
        strategies=["sticky", "jwt"],
    )
    share = result.relogin_share("sticky", crash_s, "session_lost")
    frame = result.requests_frame()
    after = frame[(frame["strategy"] == "sticky") & (frame["arrival_s"] >= crash_s)]
    lost = after.loc[after["relogin_cause"] == "session_lost", "user"].nunique()
    assert share == lost / after["user"].nunique()
    assert share == pytest.approx(1 / 5, abs=0.05)
    assert result.relogin_share("sticky", crash_s) >= share  # every cause
    assert result.relogin_share("jwt", crash_s, "session_lost") == 0.0
    assert result.relogin_share("sticky", 1e9) is None
    with pytest.raises(ValueError, match="unknown cause 'lost'"):
        result.relogin_share("sticky", crash_s, "lost")
    summary = run(result.scenario, strategies=["sticky"], record_requests=False)
    with pytest.raises(ValueError, match="did not record requests"):
        summary.relogin_share("sticky", crash_s)
