"""Every scenario file in scenarios/ is a lesson, and the simulator still teaches it.

Each built-in scenario's ``description`` claims what the run shows (the README's "The
scenario library" table says it in one line). The cheap tests check the files; then one
test per scenario runs it, without plots, and asserts that claim with the run's own
numbers, with margins wide enough for an honest model change but narrow enough that the
lesson breaking (``sticky`` as even as ``jwt``, a crash that logs nobody out) fails.

Runs are in summary mode (``record_requests=False``), except where the lesson counts
*users* rather than requests (a share of the active users forced to log in again, see
:meth:`RunResult.relogin_share`): those need the per-request records, which cost no
measurable time at these sizes and change no number. A scenario is run in full unless
noted: the two heaviest, nat-hotspot and heavy-users, have no events and are cut shorter
(the same rate and load, fewer seconds), which leaves nothing of their timeline out; so
is store-saturation's extra run at a higher rate.

The time-series figure with event markers is tested in tests/test_plots.py
(``test_timeseries_figure_has_a_line_per_strategy_and_marks_every_event``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scenario_checks import checked_run, success, window

from simulator import (
    RunResult,
    StrategyResult,
    builtin_scenarios,
    load_scenario,
)

SCENARIO_FILES = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
# Every scenario of the library, each with its lesson test below.
LIBRARY = {
    "baseline",
    "server-crash",
    "rolling-deploy",
    "scale-out-modulo",
    "scale-out-consistent",
    "store-outage",
    "store-saturation",
    "nat-hotspot",
    "heavy-users",
    "traffic-spike",
    "revocation",
    "key-rotation",
    # their lesson tests are in tests/test_store_scenarios.py
    "long-lived-jwt",
    "store-failover",
    "store-sharded",
    "read-replica-lag",
    # its lesson test is in tests/test_regions.py
    "multi-region",
}


# ------------------------------------------------------------------ the files themselves


def test_the_library_is_complete_and_builtin() -> None:
    names = {path.stem for path in SCENARIO_FILES}
    assert names == LIBRARY, "a new scenario needs its lesson test in this file (and in LIBRARY)"
    assert names <= set(builtin_scenarios())


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda path: path.stem)
def test_each_file_is_named_after_itself_and_explains_its_lesson(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert len(scenario.description) > 80, "say what the scenario shows and what to look for"
    assert scenario.warmup_s < scenario.duration_s
    for event in scenario.events:
        assert scenario.warmup_s <= event.at_s < scenario.duration_s, "events are measured"


# ------------------------------------------------------------------------------ helpers


def relogins(item: StrategyResult, cause: str, since_s: float = 0.0) -> int:
    """Forced re-logins of ``cause`` among requests that arrived at or after ``since_s``."""
    return sum(
        found.forced_relogins_by_cause[cause] for found in item.windows if found.start_s >= since_s
    )


def error_total(item: StrategyResult) -> int:
    return sum(item.errors.values())


def mean_ms(item: StrategyResult) -> float:
    value = item.latency_ms["mean"]
    assert value is not None
    return value


def p95_ms(item: StrategyResult) -> float:
    value = item.latency_ms["p95"]
    assert value is not None
    return value


def skew(item: StrategyResult) -> float:
    value = item.load_skew["max_over_mean"]
    assert value is not None
    return value


# ------------------------------------------------------------------ one lesson per scenario


def test_baseline_local_succeeds_about_one_time_in_n_and_the_others_always() -> None:
    result = checked_run("baseline")
    servers = result.scenario.cluster.servers
    local = result["local"]
    # measured 0.201 with 5 servers; 1/N = 0.2
    assert abs(success(local) - 1 / servers) < 0.05
    # most requests force a login on a server that does not hold the session...
    assert local.forced_relogins_by_cause["wrong_server"] > 0.7 * local.requests  # 0.80
    # ...and the retry after that login usually lands elsewhere and is refused again
    assert local.errors["unauthorized"] > 0.6 * local.forced_relogins  # 0.80
    for name in ("sticky", "shared_store", "jwt"):
        assert success(result[name]) > 0.999, name  # 1.0, 1.0, 0.9999
        assert error_total(result[name]) == 0, name
    # the costs: the store adds its round trip to every request, the token less than that
    sticky, store, jwt = result["sticky"], result["shared_store"], result["jwt"]
    assert store.store is not None and store.store.mean_latency_ms is not None
    assert store.store.ops_per_request == 1.0
    store_cost = mean_ms(store) - mean_ms(sticky)  # 0.599 ms
    assert store_cost == pytest.approx(store.store.mean_latency_ms, abs=0.15)  # 0.599 ms
    assert 0 < mean_ms(jwt) - mean_ms(sticky) < store_cost / 2  # 0.045 ms


def test_server_crash_logs_out_one_sticky_user_in_n_and_jwt_only_loses_in_flight_requests() -> None:
    result = checked_run("server-crash", record_requests=True)
    scenario = result.scenario
    crash_s = scenario.events[0].at_s
    servers = scenario.cluster.servers
    sticky = result["sticky"]
    # about 1 in 5 active users (1/N) lose their session: measured 0.200
    share = result.relogin_share("sticky", crash_s, "session_lost")
    assert share is not None
    assert abs(share - 1 / servers) < 0.06
    assert relogins(sticky, "session_lost", since_s=crash_s) == sticky.forced_relogins  # 200
    # and its success rate dips after the crash (1.0 before, 0.930 after)
    assert success(window(sticky, "before")) > 0.999
    assert success(window(sticky, "after crash")) < 0.97
    for name in ("shared_store", "jwt"):
        item = result[name]
        # every login survives...
        assert item.forced_relogins_by_cause["session_lost"] == 0, name
        assert item.forced_relogins_by_cause["wrong_server"] == 0, name
        assert result.relogin_share(name, crash_s, "session_lost") == 0.0, name
        # ...and only the requests on server 2 or sent there before the health check fail
        # (66 and 65; sending to the dead server for the whole 35 s would be about 700)
        assert error_total(item) == item.errors["server_down"], name
        assert 10 <= item.errors["server_down"] <= 150, name
        assert success(window(item, "after crash")) > 0.97, name  # 0.982
    # local stays at about 1/N, and most of its forced re-logins end `unauthorized`: the
    # retry after the login lands on another server about (N-1)/N of the time
    local = result["local"]
    assert success(local) < 0.3  # 0.226
    assert local.errors["unauthorized"] > 0.6 * local.forced_relogins  # 5,4xx of 6,929


def test_rolling_deploy_logs_out_every_sticky_user_and_jwt_and_the_store_do_not_notice() -> None:
    result = checked_run("rolling-deploy", record_requests=True)
    deploy_s = result.scenario.events[0].at_s
    # nearly every sticky user is forced to log in again (measured 0.991)...
    share = result.relogin_share("sticky", deploy_s, "session_lost")
    assert share is not None and share > 0.9
    # ...and about a quarter of them more than once (moved onto a server restarted later)
    frame = result.requests_frame()
    lost = frame[
        (frame["strategy"] == "sticky")
        & (frame["arrival_s"] >= deploy_s)
        & (frame["relogin_cause"] == "session_lost")
    ]
    per_user = lost["user"].value_counts()
    assert 0.15 < (per_user > 1).mean() < 0.35  # 0.244 (local: 0.448)
    # its success rate drops during the deploy and stays below 100% for a while after it
    sticky = result["sticky"]
    assert success(window(sticky, "before")) > 0.999
    assert success(window(sticky, "during")) < 0.9  # 0.785
    assert success(window(sticky, "after")) < 0.99  # 0.921
    # local loses sessions too (on top of its wrong-server re-logins)
    local = result["local"]
    assert local.forced_relogins_by_cause["session_lost"] > 0
    for name in ("shared_store", "jwt"):
        item = result[name]
        assert error_total(item) == 0, name
        assert item.forced_relogins_by_cause["session_lost"] == 0, name
        assert item.forced_relogins_by_cause["wrong_server"] == 0, name
        for found in item.windows:
            assert success(found) > 0.999, (name, found.label)


def scale_out_share(name: str) -> tuple[RunResult, float]:
    """Run a scale-out scenario; the share of active sticky users forced to log in again
    by the scale-out (cause ``wrong_server``), and check that ``jwt`` does not notice."""
    result = checked_run(name, record_requests=True)
    scale_s = result.scenario.events[0].at_s
    sticky = result["sticky"]
    assert sticky.forced_relogins == sticky.forced_relogins_by_cause["wrong_server"]
    assert relogins(sticky, "wrong_server", since_s=scale_s) == sticky.forced_relogins
    share = result.relogin_share("sticky", scale_s, "wrong_server")
    assert share is not None
    jwt = result["jwt"]
    assert jwt.forced_relogins_by_cause["wrong_server"] == 0
    assert error_total(jwt) == 0
    assert success(window(jwt, "after")) > 0.999
    assert len(jwt.server_requests) == result.scenario.cluster.servers + 1
    assert jwt.server_requests[-1] > 0, "jwt simply starts using the new server"
    return result, share


def test_scale_out_modulo_remaps_about_n_in_n_plus_one_users() -> None:
    result, share = scale_out_share("scale-out-modulo")
    servers = result.scenario.cluster.servers
    # 9 -> 10 servers with hash modulo N: about 9 in 10 users (measured 0.905)
    assert abs(share - servers / (servers + 1)) < 0.07
    # the re-logins come as a storm: success drops, p95 latency jumps several-fold
    sticky, jwt = result["sticky"], result["jwt"]
    assert success(window(sticky, "after")) < 0.9  # 0.830
    assert p95_ms(sticky) > 3 * p95_ms(jwt)  # 151 ms against 30 ms


def test_scale_out_consistent_remaps_about_one_in_n_plus_one_users() -> None:
    result, share = scale_out_share("scale-out-consistent")
    servers = result.scenario.cluster.servers
    # the same scale-out on a consistent-hash ring: about 1 in 10 users (measured 0.101)
    assert abs(share - 1 / (servers + 1)) < 0.06
    assert success(window(result["sticky"], "after")) > 0.95  # 0.981


def test_store_outage_fails_every_shared_store_request_and_jwt_rides_it_out() -> None:
    result = checked_run("store-outage")
    scenario = result.scenario
    store, jwt = result["shared_store"], result["jwt"]
    outage = window(store, "during")
    assert outage.requests > 100
    assert success(outage) < 0.05  # 0.0
    assert error_total(store) == store.errors["store_unavailable"] >= outage.requests
    # back to 100% as soon as the store returns, sessions intact: no forced re-login
    assert success(window(store, "before")) > 0.999
    assert success(window(store, "after")) > 0.999  # 1.0
    assert store.forced_relogins == 0
    # jwt checks a token with the key alone: only users whose access token expires during
    # the outage cannot refresh it and are logged out (98.8% success; 21 users)
    during = window(jwt, "during")
    assert 0.95 < success(during) < 1.0
    assert jwt.forced_relogins == jwt.forced_relogins_by_cause["refresh_failed"]
    assert during.forced_relogins == jwt.forced_relogins
    assert error_total(jwt) == jwt.errors["store_unavailable"]  # their logins need it too
    assert success(window(jwt, "before")) > 0.999 and success(window(jwt, "after")) > 0.999
    # about outage / ttl of the users have a token expiring during it (22 of 2000 here);
    # those who send a request before it ends are logged out
    (event,) = scenario.events
    expiring = scenario.workload.users * event.duration_s / scenario.jwt.ttl_s
    assert 0.3 * expiring < during.users_logged_out <= 1.5 * expiring
    # computed, not asserted: a longer outage reaches more users
    longer = [event.model_dump() | {"duration_s": 4 * event.duration_s}]
    long_jwt = checked_run(scenario, {"events": longer}, ["jwt"])["jwt"]
    long_during = window(long_jwt, "during")
    assert long_during.users_logged_out > 3 * during.users_logged_out
    assert success(long_during) < success(during)


def test_store_saturation_makes_the_store_wait_grow_like_rho_over_one_minus_rho() -> None:
    result = checked_run("store-saturation")
    scenario = result.scenario
    store, jwt = result["shared_store"], result["jwt"]
    stats = store.store
    assert stats is not None and stats.mean_latency_ms is not None
    rho = stats.utilisation
    assert 0.75 < rho < 0.85  # 800 requests/s at 1 ms per operation: 0.800
    # a store operation: round trip + op / (1 - rho), the M/M/1 response time (5.50 ms
    # at the measured rho; 5.63 measured), against 1.5 ms for an idle store
    rtt_ms, op_ms = scenario.shared_store.rtt_ms, scenario.shared_store.op_time_ms
    assert stats.mean_latency_ms == pytest.approx(rtt_ms + op_ms / (1 - rho), rel=0.15)
    assert stats.mean_latency_ms > 3 * (rtt_ms + op_ms)
    # every request waits for it once: 15.6 ms against 10.0 ms for jwt on the same traffic
    assert mean_ms(store) - mean_ms(jwt) == pytest.approx(stats.mean_latency_ms, rel=0.1)
    assert mean_ms(store) > 1.4 * mean_ms(jwt)
    # steeply: 12.5% more traffic (rho 0.9) more than doubles the wait (measured 2.9x;
    # 2.25x in theory). Shortened to 30 s: the same rate, the same rho, fewer requests.
    busier = checked_run(
        scenario, {"workload.arrival_rate_per_s": 900, "duration_s": 30}, ["shared_store"]
    )
    busier_stats = busier["shared_store"].store
    assert busier_stats is not None and busier_stats.mean_latency_ms is not None
    idle_ms = rtt_ms + op_ms
    assert busier_stats.mean_latency_ms - idle_ms > 2 * (stats.mean_latency_ms - idle_ms)


def test_nat_hotspot_piles_the_sticky_addresses_onto_a_few_servers() -> None:
    # No events: 60 s instead of 120 s (the same 900 requests/s and the same load).
    result = checked_run("nat-hotspot", {"duration_s": 60})
    sticky, jwt = result["sticky"], result["jwt"]
    assert skew(sticky) >= 1.5  # 2.00
    assert skew(jwt) <= 1.1  # 1.00
    jain = sticky.load_skew["jain"]
    assert jain is not None and jain < 0.8  # 0.59
    # 10 addresses on 5 servers: with this seed two servers get no traffic at all
    assert sticky.server_requests.count(0) == 2
    assert min(jwt.server_requests) > 0
    # the busiest sticky server runs about twice as busy as any jwt server (0.89 vs
    # 0.46), and sticky's p95 latency pays for it (65 ms against 30 ms)
    assert max(sticky.server_utilisation) > 1.5 * max(jwt.server_utilisation)
    assert p95_ms(sticky) > 1.4 * p95_ms(jwt)


def test_heavy_users_make_sticky_uneven_while_jwt_spreads_them_evenly() -> None:
    # No events: 30 s instead of 60 s (the same 1000 requests/s and the same users).
    result = checked_run("heavy-users", {"duration_s": 30})
    sticky = result["sticky"]
    assert skew(sticky) >= 1.25  # 1.44
    for name in ("shared_store", "jwt"):
        assert skew(result[name]) <= 1.05, name  # 1.00
    # the server that draws the heaviest users runs hot (0.70 against 0.50)
    assert max(sticky.server_utilisation) > 1.25 * max(result["jwt"].server_utilisation)


def test_traffic_spike_hurts_the_shared_store_most_and_jwt_least() -> None:
    result = checked_run("traffic-spike")
    spike = result.scenario.events[0]
    jwt, store, local = result["jwt"], result["shared_store"], result["local"]
    # jwt absorbs it best: no error, the lowest p95 of all (322 ms)
    assert error_total(jwt) == 0
    assert p95_ms(jwt) == min(p95_ms(item) for item in result.results)
    # shared_store suffers most of the three that work: p95 well past a second (1764 ms)
    assert p95_ms(store) > 1000
    assert p95_ms(store) > 2 * max(p95_ms(jwt), p95_ms(result["sticky"]))
    series = store.series
    assert series is not None
    in_spike = (series.t_s >= spike.at_s) & (series.t_s < spike.at_s + spike.duration_s)
    assert np.nanmax(series.latency_ms[1][in_spike]) > 1000  # peak bucket p95: 1949 ms
    # local collapses: about half the requests of the spike are refused (overload; local
    # overloads only in the spike: its success before it is its usual 1/N)
    spike_requests = window(local, "during").requests
    assert 0.3 < local.errors["overload"] / spike_requests < 0.7  # 0.48
    assert success(window(local, "before")) > 0.18  # 0.204
    assert success(window(local, "during")) < success(window(local, "before"))  # 0.158


def test_revocation_refuses_sessions_at_once_and_tokens_only_with_a_denylist() -> None:
    result = checked_run("revocation")
    revoked = result.scenario.events[0].count
    for name in ("sticky", "shared_store"):
        exposure = result[name].exposure
        assert exposure is not None, name
        assert exposure.revoked_users == revoked, name
        assert exposure.accepted_after_revocation == 0, name
        assert exposure.max_window_s == 0.0, name
        assert result[name].forced_relogins_by_cause["revoked"] == revoked, name
    # jwt with no denylist keeps accepting the old tokens until they expire: a window
    # about the tokens' remaining lifetime (28.3 s against 28.4 s, 2974 requests)
    jwt = result["jwt"]
    exposure = jwt.exposure
    assert exposure is not None
    assert exposure.accepted_after_revocation > 100
    assert exposure.mean_window_s > 10
    assert exposure.mean_window_s == pytest.approx(exposure.mean_remaining_ttl_s, rel=0.25)
    # with a denylist in the store the window drops to zero, and the store now answers a
    # lookup on every request (1.18 operations per request, against 0.09 for refreshes)
    denied = checked_run(result.scenario, {"jwt.denylist": "store"}, ["jwt"])["jwt"]
    assert denied.exposure is not None
    assert denied.exposure.accepted_after_revocation == 0
    assert denied.exposure.max_window_s == 0.0
    assert jwt.store is not None and denied.store is not None
    assert denied.store.ops_per_request is not None and jwt.store.ops_per_request is not None
    assert denied.store.ops_per_request >= 1.0
    assert denied.store.ops_per_request > 5 * jwt.store.ops_per_request


def test_key_rotation_without_overlap_logs_every_jwt_user_out_at_once() -> None:
    result = checked_run("key-rotation", record_requests=True)
    scenario = result.scenario
    rotate_s = scenario.events[0].at_s
    jwt = result["jwt"]
    # every active jwt user is forced to log in again (measured: all of them)
    share = result.relogin_share("jwt", rotate_s, "key_rotated")
    assert share is not None and share > 0.95
    assert (
        relogins(jwt, "key_rotated", since_s=rotate_s)
        == jwt.forced_relogins_by_cause["key_rotated"]
    )
    # a login storm: most of the run's login CPU in the 30 s after the rotation (people
    # take seconds to log in again, and the hashing saturates every worker for ~20 s)
    series = jwt.series
    assert series is not None
    after = (series.t_s >= rotate_s) & (series.t_s < rotate_s + 30)
    before = (series.t_s >= rotate_s - 30) & (series.t_s < rotate_s)
    storm_s = float(series.login_cpu_s[after].sum())  # 234 s of hashing
    assert storm_s > 0.7 * jwt.login_cpu_s  # of 276 s
    assert storm_s > 50 * float(series.login_cpu_s[before].sum())  # 0.0 s
    # session strategies do not notice
    sticky = result["sticky"]
    assert sticky.forced_relogins == 0
    assert success(sticky) == 1.0
    # with an overlap the old key still verifies: nobody is logged out by the rotation
    overlap = [{"kind": "rotate_key", "at_s": rotate_s, "overlap_s": 3600}]
    kept = checked_run(scenario, {"events": overlap}, ["jwt"])["jwt"]
    assert kept.forced_relogins_by_cause["key_rotated"] == 0
    assert kept.forced_relogins < 0.05 * jwt.forced_relogins  # 47 expired against 2007
