"""The lessons of the store-topology scenarios: a day-long JWT, a store failover, a
sharded store and a lagging read replica.

As in tests/test_scenarios.py (which lists these four in its ``LIBRARY``), each test runs
its built-in scenario without plots and asserts the claim of its ``description`` with
the run's own numbers. The comment on each assertion gives the measured value and a
configuration on which it fails (the lesson does not hold there); several tests run that
configuration themselves, as the contrast the lesson is about. Runs are in summary mode
except where the lesson needs the per-request records (when the failed requests arrived,
who lost a session), which cost no measurable time at these sizes.
"""

from __future__ import annotations

import pytest
from scenario_checks import checked_run, success, window

from simulator import RunResult, StrategyResult, load_scenario
from simulator.results.records import Exposure

# ------------------------------------------------------------------------------ helpers


def exposure(item: StrategyResult) -> Exposure:
    found = item.exposure
    assert found is not None
    return found


def unavailable_span_s(result: RunResult, strategy: str = "shared_store") -> tuple[float, float]:
    """Arrival times of the first and the last request of ``strategy`` that failed with
    ``store_unavailable``, seconds."""
    frame = result.requests_frame()
    failed = frame[(frame["strategy"] == strategy) & (frame["outcome"] == "store_unavailable")]
    assert len(failed) > 0
    return float(failed["arrival_s"].min()), float(failed["arrival_s"].max())


# ------------------------------------------------------------------------ long-lived-jwt


def test_long_lived_jwt_rides_out_the_outage_because_it_can_take_no_token_back() -> None:
    result = checked_run("long-lived-jwt")
    scenario = result.scenario
    revoke = scenario.events[1]
    assert revoke.kind == "revoke_user" and revoke.count is not None
    jwt, store = result["jwt"], result["shared_store"]
    # nothing is ever checked, so the outage does not show: 100% (fails with production's
    # --set jwt.ttl_s=900 jwt.refresh=true, run below: 99.2%)...
    assert success(window(jwt, "during")) == 1.0
    assert jwt.forced_relogins == 0  # (fails with refresh: 32 refresh_failed)
    # the sessions, in the store, are not (0.0; fails when the store is only slow: a
    # store_latency_spike of 1 ms instead of the outage, 100%)
    assert success(window(store, "during")) < 0.01
    # ...and nothing takes a token back: the five revoked users' tokens are accepted to
    # the end of the run (3346 requests, fails with --set jwt.denylist=store: 0)...
    found = exposure(jwt)
    assert found.revoked_users == revoke.count
    assert found.accepted_after_revocation > 1000
    rest_of_run_s = scenario.duration_s - revoke.at_s  # 45 s
    assert found.mean_window_s > rest_of_run_s - 2  # 44.9 s (fails with jwt.ttl_s=30: 11.3)
    # ...for hours more: about 9 h (32,670 s) of lifetime left (fails with ttl_s=900: 446)
    assert found.mean_remaining_ttl_s > 3 * 3600
    # while the sessions are deleted where they live and refused at once (fails when
    # sessions are read from a lagging replica: see the read-replica-lag test)
    assert exposure(store).accepted_after_revocation == 0
    # and the revocation is all that logs anyone out (5; fails with
    # shared_store.on_outage=relogin_local: the outage then logs out 764 users)
    assert store.users_logged_out == revoke.count
    assert store.forced_relogins_by_cause["revoked"] >= revoke.count  # 5

    # Production's 15-minute tokens with a refresh token in the store: the outage now
    # logs out the users whose token expires during it (32 refresh_failed, 28 users;
    # fails with the scenario's own refresh: false, 0), and a revoked token has at most
    # 15 minutes left (446 s; fails with the scenario's ttl_s, 32,670 s).
    short = checked_run(scenario, {"jwt.ttl_s": 900, "jwt.refresh": True}, ["jwt"])["jwt"]
    assert window(short, "during").forced_relogins_by_cause["refresh_failed"] > 0
    assert short.forced_relogins == short.forced_relogins_by_cause["refresh_failed"]
    assert success(window(short, "during")) < 1.0  # 0.992
    assert 0 < exposure(short).mean_remaining_ttl_s <= 900


# ------------------------------------------------------------------------ store-failover


def test_store_failover_fails_the_store_for_failover_s_not_for_the_restart() -> None:
    result = checked_run("store-failover", record_requests=True)
    scenario = result.scenario
    crash = scenario.events[0]
    assert crash.kind == "store_node_crash"
    failover_s, restart_s = scenario.shared_store.failover_s, crash.restart_s  # 30, 60
    store, jwt = result["shared_store"], result["jwt"]
    # Every shared_store request fails with store_unavailable from the crash to the
    # promotion: the failure is known at once (no health check: Sentinel's detection time
    # is failover_s itself) and requests arrive 5 ms apart, so the first and last failed
    # arrivals are within a second of the crash and of the promotion: measured 40.00 s to
    # 70.00 s. (Fails with --set shared_store.replicas=0, run below: 60 s, the restart.)
    first_s, last_s = unavailable_span_s(result)
    # (fails when the store also fails earlier: a 2 s store_outage at 30 s, from 30.0 s)
    assert crash.at_s - 1 <= first_s <= crash.at_s + 1
    assert last_s - first_s == pytest.approx(failover_s, abs=1)
    during = window(store, "during")
    assert during.end_s - during.start_s == pytest.approx(failover_s)
    assert success(during) < 0.01  # 0.0 (fails with shards: 4, about 75%)
    # back to 100% after it with every session intact: the replica had them all (fails
    # with replicas 0 and data_lost on a crash with restart_s 20: 83.4%, 2003 re-logins)
    assert success(window(store, "after")) > 0.999  # 1.0
    assert store.forced_relogins == 0
    # jwt checks the key alone: 97.2% in the window (fails with jwt.ttl_s=60: 62.0%, as
    # every token then needs a refresh, which needs the store); only refreshes fail
    assert success(window(jwt, "during")) > 0.9
    assert window(jwt, "during").forced_relogins_by_cause["refresh_failed"] > 0  # 172
    assert jwt.forced_relogins == jwt.forced_relogins_by_cause["refresh_failed"]

    # The window follows failover_s: a tuned Sentinel (5 s) fails 5 s of requests...
    quick = checked_run(
        scenario, {"shared_store.failover_s": 5}, ["shared_store"], record_requests=True
    )
    first_s, last_s = unavailable_span_s(quick)
    assert last_s - first_s == pytest.approx(5, abs=1)  # 5.0 s (fails with failover 30)
    # ...and with no replica the shard waits for the restart: 60 s (fails with replicas 1)
    alone = checked_run(
        scenario, {"shared_store.replicas": 0}, ["shared_store"], record_requests=True
    )
    first_s, last_s = unavailable_span_s(alone)
    assert last_s - first_s == pytest.approx(restart_s, abs=1)  # 60.0 s


def test_store_failover_loses_the_writes_the_replica_had_not_received() -> None:
    scenario = load_scenario("store-failover")
    crash_s = scenario.events[0].at_s
    promoted_s = crash_s + scenario.shared_store.failover_s
    lag_s = 2.0
    # Users log in as the run goes and the replica is 2 s behind: the sessions written in
    # the 2 s before the crash never reach it, and the promoted replica does not have them.
    lagging = {"shared_store.replication_lag_ms": 1000 * lag_s}
    fresh = {"workload.logged_in_at_start": False}
    result = checked_run(scenario, lagging | fresh, ["shared_store"], record_requests=True)
    store = result["shared_store"]
    lost = store.forced_relogins_by_cause["session_lost"]
    assert lost > 0  # 7 (fails with the default 1 ms lag, run below: 0)
    # and nothing else logs anyone out (fails with shared_store.on_outage=relogin_local)
    assert store.forced_relogins == lost
    frame = result.requests_frame()
    forced = frame[frame["relogin_cause"] == "session_lost"]
    # each one after the promotion (fails with shared_store.on_outage=relogin_local: the
    # servers then check sessions in memory during the failover, from 40.0 s)...
    assert float(forced["arrival_s"].min()) >= promoted_s
    # ...from a user whose first request, its login, was written within the lag before
    # the crash (the write follows the login's password hash)
    # (fails when older writes are lost too: with replicas 0 and data_lost on the crash,
    # 1959 users lose their session, 3% of them logged in within 2 s of it)
    first_s = frame[frame["user"].isin(forced["user"])].groupby("user")["arrival_s"].min()
    login_s = scenario.cluster.login_cpu_ms / 1000
    assert ((first_s >= crash_s - lag_s - login_s) & (first_s < crash_s)).all(), first_s
    # a replica 1 ms behind (the default) has them all (fails with the 2 s lag: 7)
    control = checked_run(scenario, fresh, ["shared_store"])["shared_store"]
    assert control.forced_relogins_by_cause["session_lost"] == 0


# ------------------------------------------------------------------------- store-sharded


def test_store_sharded_loses_one_shard_of_users_not_all_of_them() -> None:
    result = checked_run("store-sharded")
    scenario = result.scenario
    store, jwt = result["shared_store"], result["jwt"]
    # One primary of four down: the users hashed onto it (501 of 2000) fail, the others
    # do not. Measured 73.7% in the 15 s window; fails with --set shared_store.shards=2
    # (46.1%) or =1 (0.0%, run below).
    during = window(store, "during")
    assert during.end_s - during.start_s == pytest.approx(scenario.shared_store.failover_s)
    assert success(during) == pytest.approx(0.75, abs=0.03)
    # back to 100% after it (fails with replicas 0 and data_lost on a crash with
    # restart_s 15: 92.9%, shard 0's users must log in again)
    assert success(window(store, "after")) > 0.999  # 1.0
    # jwt only misses the refreshes of shard-0 users (99.3%; fails with jwt.ttl_s=30: 91.3%)
    assert success(window(jwt, "during")) > 0.97
    # one primary holding every key: the whole store is down (fails with shards: 4: 73.7%)
    whole = checked_run(scenario, {"shared_store.shards": 1}, ["shared_store"])
    assert success(window(whole["shared_store"], "during")) < 0.01  # 0.0


def test_store_sharded_capacity_grows_with_the_shards() -> None:
    # A slow store (4 ms per operation), no crash, the same 200 requests/s: the busiest
    # of 4 shards is about 22% busy, a single primary about 81% (fails with op_time_ms
    # 0.01, the default, where both are idle: 0.1% and 0.2%). Shortened to 50 s.
    slow = {"shared_store.op_time_ms": 4, "events": [], "duration_s": 50}
    scenario = load_scenario("store-sharded")
    sharded = checked_run(scenario, slow, ["shared_store"])["shared_store"]
    single = checked_run(scenario, slow | {"shared_store.shards": 1}, ["shared_store"])
    spread, one = sharded.store, single["shared_store"].store
    assert spread is not None and one is not None
    assert spread.utilisation < 0.3  # 0.22
    assert one.utilisation > 0.7  # 0.81
    assert one.utilisation > 3 * spread.utilisation
    # and the wait grows like rho / (1 - rho): 23 ms per operation against 5.6 ms
    assert spread.mean_latency_ms is not None and one.mean_latency_ms is not None
    assert one.mean_latency_ms > 3 * spread.mean_latency_ms


# ---------------------------------------------------------------------- read-replica-lag


def test_read_replica_lag_turns_logins_into_a_loop_and_delays_revocation() -> None:
    result = checked_run("read-replica-lag")
    scenario = result.scenario
    lag_s = scenario.shared_store.replication_lag_ms / 1000  # 0.5 s
    revoke = scenario.events[0]
    assert revoke.kind == "revoke_user"
    store, jwt = result["shared_store"], result["jwt"]
    # A login hashes the password, then writes the session to the primary; the request
    # after it reads the replica about a millisecond later, inside the lag: stale_read
    # (fails with --set shared_store.read_from=primary, run below: 0)...
    stale = store.forced_relogins_by_cause["stale_read"]
    assert stale > 1000
    assert stale + store.forced_relogins_by_cause["revoked"] == store.forced_relogins
    # ...and the retry after the forced login is stale too: every forced re-login ends
    # unauthorized (fails with read_from primary: 0 of 5)
    assert store.errors["unauthorized"] >= 0.95 * store.forced_relogins
    # active users are caught in a loop: 876 logged out, 33.0% success (fails with
    # read_from primary: 5 and 99.96%)
    assert store.users_logged_out > 500
    assert success(store) < 0.5
    # the revoked (most active) users were already looping: nothing of theirs accepted
    # (fails with replication_lag_ms=100 on a scenario whose revoked users are not
    # looping; here it holds for every lag)
    assert exposure(store).accepted_after_revocation == 0
    # jwt writes no session it reads back, but its denylist is read from the replica: the
    # revoked tokens are accepted for up to the lag (47 requests, 0.45 s on average, at
    # most 0.498 s; fails with jwt.denylist=none: 2881 requests, to the end of the run,
    # 40.0 s, or with read_from primary: none)
    # (jwt's refresh reads the replica too, but no token expires within the lag of its
    # login; fails with jwt.ttl_s=0.2: 18 stale reads, 99.83%)
    assert jwt.forced_relogins_by_cause["stale_read"] == 0
    assert success(jwt) > 0.999  # 0.9996
    found = exposure(jwt)
    assert found.revoked_users == revoke.count
    assert found.accepted_after_revocation > 0
    assert 0.5 * lag_s < found.max_window_s <= lag_s + 0.01

    # Reading from the primary (read-your-writes): no stale read, no window at all
    # (the contrasts are shortened to 60 s: the revocation at 50 s is in them)
    primary = checked_run(scenario, {"shared_store.read_from": "primary", "duration_s": 60})
    for name in ("shared_store", "jwt"):
        item = primary[name]
        assert item.forced_relogins_by_cause["stale_read"] == 0, name
        assert exposure(item).accepted_after_revocation == 0, name
        assert success(item) > 0.999, name  # 0.9996 (the revoked users' one re-login)
    # Even a healthy replica, 1 ms behind (the default lag), misses a login's session
    # when the request after the login reads it within that millisecond: fewer stale
    # reads (1,436 in 60 s), but not none (fails with replication_lag_ms=0.2, below the
    # 0.5 ms round trip: 0) -- reading your own writes needs the primary
    healthy = checked_run(
        scenario,
        {"shared_store.replication_lag_ms": 1, "duration_s": 60},
        ["shared_store"],
    )["shared_store"]
    assert 0 < healthy.forced_relogins_by_cause["stale_read"] < stale
    assert success(store) < success(healthy) < 0.99  # 0.289 < 0.807
