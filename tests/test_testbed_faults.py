"""The timeline as actions on the real cluster (simulator.testbed.faults), without
starting anything."""

from __future__ import annotations

import pandas as pd
import pytest

from simulator import load_scenario
from simulator.errors import AuthsimError
from simulator.testbed.faults import PLAYED, actions, memory_losses, up_seconds
from simulator.testbed.measure import real_metrics


def test_server_crash_is_a_kill_and_a_restart_of_that_server() -> None:
    timeline = actions(load_scenario("server-crash"))
    assert [(a.at_s, a.label, a.server, a.up) for a in timeline] == [
        (42.0, "crash server 2", 2, False),
        (77.0, "recover server 2", 2, True),
    ]
    # measured from 20 s to 110 s: server 2 was down from 42 to 77
    assert up_seconds(load_scenario("server-crash")) == [90.0, 90.0, 55.0, 90.0, 90.0]


def test_a_store_outage_freezes_the_store_or_restarts_it_empty() -> None:
    kept = actions(load_scenario("store-outage"))
    assert [(a.at_s, a.label, a.on_store) for a in kept] == [
        (43.0, "freeze the store", True),
        (53.0, "thaw the store", True),
    ]
    lost = load_scenario(
        "store-outage",
        {"events": [{"kind": "store_outage", "at_s": 5, "duration_s": 3, "data_lost": True}]},
    )
    assert [a.label for a in actions(lost)] == ["kill the store", "restart the store, empty"]


def test_a_crash_without_recovery_counts_down_to_the_end() -> None:
    crash = {"kind": "server_crash", "at_s": 20, "count": 2}
    scenario = load_scenario("baseline", {"duration_s": 30, "warmup_s": 10, "events": [crash]})
    assert [a.label for a in actions(scenario)] == ["crash server 0", "crash server 1"]
    assert up_seconds(scenario) == [10.0, 10.0, 20.0, 20.0, 20.0]


@pytest.mark.parametrize("name", ["rolling-deploy", "revocation", "key-rotation"])
def test_events_the_testbed_cannot_play_are_refused_naming_the_event(name: str) -> None:
    with pytest.raises(AuthsimError, match=r"events\.\d+\.kind: the testbed cannot play"):
        actions(load_scenario(name))
    assert "server_crash" in PLAYED


def test_skew_is_over_jobs_per_second_of_up_time() -> None:
    # server 1 was up half the time and served half as many jobs: evenly loaded
    frame = pd.DataFrame(
        {
            "arrival_s": [1.0] * 6,
            "user": range(6),
            "server": [0, 0, 1, 2, 2, 0],
            "outcome": ["ok"] * 6,
            "latency_ms": [1.0] * 6,
            "forced_relogin": [False] * 6,
            "relogin_cause": [None] * 6,
        }
    )
    frame.loc[5, "server"] = 2
    even = real_metrics(frame, 3, up_s=[10.0, 5.0, 15.0])  # 2, 1, 3 jobs
    assert even["load_skew"]["jain"] == pytest.approx(1.0)
    counted = real_metrics(frame, 3)
    assert counted["load_skew"]["jain"] < 0.95


def test_a_scale_out_starts_servers_after_the_last_one_and_counts_their_up_time() -> None:
    scenario = load_scenario("scale-out-modulo")  # 9 servers, one more at 37 s
    timeline = actions(scenario)
    assert [(a.at_s, a.server, a.adds) for a in timeline] == [(37.0, 9, 1)]
    assert timeline[0].label.startswith("scale out 9→10")
    # measured from 20 s to 90 s: the tenth server was up from 37 s
    assert up_seconds(scenario) == [70.0] * 9 + [53.0]


def test_a_crash_after_a_scale_out_can_hit_the_new_server() -> None:
    events = [
        {"kind": "scale_out", "at_s": 10, "count": 2},
        {"kind": "server_crash", "at_s": 20, "server": 5},
    ]
    scenario = load_scenario("baseline", {"duration_s": 30, "warmup_s": 0, "events": events})
    assert scenario.cluster.servers == 5  # servers 5 and 6 join at 10 s; 5 dies at 20 s
    assert [a.label for a in actions(scenario)][1] == "crash server 5"
    assert up_seconds(scenario)[4:] == [30.0, 10.0, 20.0]


def test_a_traffic_spike_is_played_by_the_request_stream_alone() -> None:
    assert actions(load_scenario("traffic-spike")) == []
    assert "traffic_spike" in PLAYED


def test_memory_losses_are_crashes_and_a_store_that_comes_back_empty() -> None:
    assert memory_losses(load_scenario("server-crash")) == [(42.0, 2)]
    assert memory_losses(load_scenario("store-outage")) == []  # frozen, not emptied
    lost = load_scenario(
        "store-outage",
        {"events": [{"kind": "store_outage", "at_s": 5, "duration_s": 3, "data_lost": True}]},
    )
    assert memory_losses(lost) == [(5.0, None)]
