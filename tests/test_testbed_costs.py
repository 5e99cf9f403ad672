"""The testbed's scale and the measured costs given to the model (simulator.testbed.costs)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulator import load_scenario
from simulator.testbed.costs import (
    QUICK,
    MeasuredCosts,
    flatten,
    measure_costs,
    model_scenario,
    scaled_scenario,
)

COSTS = MeasuredCosts(
    login_ms=5.0, login_in_run_ms=6.0, check_ms=0.6, overhead_mean_ms=5.0, overhead_p99_ms=20.0
)


def test_a_scaled_scenario_is_smaller_and_keeps_its_timeline_whole() -> None:
    scaled = scaled_scenario(load_scenario("scale-out-modulo"), QUICK, login_ms=5.0)
    assert scaled.cluster.servers == 3 and scaled.workload.users == 200
    assert scaled.workload.arrival_rate_per_s == 30.0
    assert scaled.cluster.login_cpu_ms == 5.0
    # the scale-out at 37 s is kept, and 15 s after it
    assert [event.at_s for event in scaled.events] == [37.0]
    assert scaled.duration_s == 52.0 and scaled.warmup_s == 4.0
    plain = scaled_scenario(load_scenario("baseline"), QUICK, login_ms=5.0)
    assert plain.duration_s == QUICK.duration_s


@pytest.mark.parametrize(
    ("strategy", "field"),
    [("jwt", "jwt.verify_ms"), ("shared_store", "shared_store.rtt_ms")],
)
def test_the_check_cost_goes_where_the_strategy_pays_it(strategy: str, field: str) -> None:
    scenario = model_scenario(load_scenario("baseline"), strategy, COSTS)
    section, key = field.split(".")
    paid = getattr(getattr(scenario, section), key)
    if strategy == "shared_store":
        paid += scenario.shared_store.op_time_ms  # the round trip plus Redis's own time
    assert paid == pytest.approx(COSTS.check_ms)
    assert scenario.strategies == [strategy]
    assert scenario.cluster.cpu_cores == 1
    assert scenario.cluster.login_cpu_ms == COSTS.login_ms
    hop = scenario.load_balancer.hop_ms
    assert (hop.distribution, hop.mean, hop.p99) == ("lognormal", 5.0, 20.0)


def test_ip_hash_is_modelled_as_haproxys_balance_source() -> None:
    sticky = load_scenario("nat-hotspot", {"sticky.affinity": "ip_hash"})
    modelled = model_scenario(sticky, "sticky", COSTS)
    assert modelled.sticky.hash == "modulo"
    assert modelled.workload.client_addresses == "consecutive"
    ring = model_scenario(load_scenario("scale-out-consistent"), "sticky", COSTS)
    assert ring.sticky.hash == "mixed"  # HAProxy hashes the address on its ring


def test_a_constant_overhead_stays_constant() -> None:
    flat = MeasuredCosts(5.0, 6.0, 0.6, overhead_mean_ms=5.0, overhead_p99_ms=5.0)
    hop = model_scenario(load_scenario("baseline"), "jwt", flat).load_balancer.hop_ms
    assert (hop.distribution, hop.mean) == ("constant", 5.0)


def test_measure_costs_reads_the_plain_served_requests() -> None:
    frame = pd.DataFrame(
        {
            "outcome": ["ok", "ok", "relogin", "ok"],
            "logins": [0, 0, 1, 1],
            "latency_ms": [10.0, 14.0, 50.0, 40.0],
            "queued_ms": [1.0, 1.0, 1.0, 1.0],
            "auth_ms": [0.5, 0.7, 0.6, 0.6],
            "work_ms": [3.5, 4.3, 5.0, 5.0],
        }
    )
    costs = measure_costs(frame, [6.0, 8.0], login_ms=5.0)
    assert costs.login_in_run_ms == pytest.approx(7.0)
    assert costs.check_ms == pytest.approx(0.6)  # the two ok rows without a login
    assert costs.overhead_mean_ms == pytest.approx(6.5)  # 10 - 5 and 14 - 6
    assert costs.to_dict()["login_ms"] == 5.0
    empty = measure_costs(frame.iloc[0:0], [], login_ms=5.0)
    assert math.isnan(empty.login_in_run_ms) and empty.to_dict()["login_in_run_ms"] is None


def test_flatten_names_nested_values_by_dotted_paths() -> None:
    nested = {
        "success_rate": 0.5,
        "latency_ms": {"p50": 3.0, "p99": None},
        "windows": [{"success_rate": 1.0}, {"success_rate": 0.7}],
        "label": "ignored",
        "flag": True,
    }
    flat = flatten(nested)
    assert flat["windows.1.success_rate"] == 0.7
    assert flat["latency_ms.p50"] == 3.0 and math.isnan(flat["latency_ms.p99"])
    assert "label" not in flat and "flag" not in flat
