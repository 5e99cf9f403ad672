"""The JWT lifecycle in the model: expiry, refresh, revocation, denylists, key rotation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator import RunResult, ScenarioError, load_scenario, run
from simulator.scenario import calibration
from simulator.scenario.calibration import CalibrationProfile, JwtCosts, LoginCosts, save_profile

REVOKE_AT_S = 43.0  # not a multiple of sync_s: a local cache learns of it a while later


def lifecycle(denylist: str, **overrides: Any) -> RunResult:
    """Zipf users (the revoked ones are the busiest), 60 s tokens with no refresh token
    (unless asked), three revoked users, re-logins sent at once (so that the windows
    measured are the tokens', not people's typing)."""
    values: dict[str, Any] = {
        "duration_s": 120,
        "warmup_s": 10,
        "workload.user_weights": "zipf",
        "workload.zipf_exponent": 1.1,
        "workload.arrival_rate_per_s": 200,
        "jwt.ttl_s": 60,
        "jwt.refresh": False,
        "workload.relogin_delay_s.mean_s": 0,
        "jwt.denylist": denylist,
        "jwt.sync_s": 10,
        "events": [{"at_s": REVOKE_AT_S, "kind": "revoke_user", "count": 3}],
    }
    values |= {key.replace("__", "."): value for key, value in overrides.items()}
    return run(load_scenario("baseline", values), strategies=["jwt"])


def test_without_a_denylist_a_revoked_token_works_until_it_expires() -> None:
    jwt = lifecycle("none")["jwt"]
    exposure = jwt.exposure
    assert exposure is not None
    assert exposure.revoked_users == 3
    assert exposure.accepted_after_revocation > 100
    assert exposure.mean_remaining_ttl_s > 5
    # the busiest users keep using their token until its exp: window ~ remaining lifetime
    assert exposure.mean_window_s == pytest.approx(exposure.mean_remaining_ttl_s, abs=2.0)
    assert jwt.forced_relogins_by_cause["revoked"] == 0


def test_a_store_denylist_closes_the_window_at_one_lookup_per_request() -> None:
    none = lifecycle("none")["jwt"]
    store = lifecycle("store")["jwt"]
    assert store.exposure is not None
    assert store.exposure.accepted_after_revocation == 0
    assert store.exposure.mean_window_s == 0.0
    assert store.forced_relogins_by_cause["revoked"] == 3
    assert store.store is not None and store.store.ops_per_request is not None
    # one lookup per request, plus one per retry after a login (expired tokens)
    assert 1.0 <= store.store.ops_per_request < 1.15
    assert none.store is None  # no denylist, no refresh: the store is never asked


def test_a_local_cache_lands_in_between_about_sync_s() -> None:
    none = lifecycle("none")["jwt"].exposure
    cached = lifecycle("local_cache")["jwt"]
    exposure = cached.exposure
    assert none is not None and exposure is not None
    assert 0 < exposure.max_window_s <= 10.0  # refused from the next sync on (every 10 s)
    assert exposure.mean_window_s == pytest.approx(50 - REVOKE_AT_S, abs=1.5)
    assert exposure.mean_window_s < none.mean_window_s
    assert cached.store is not None and cached.store.ops_per_request is not None
    assert cached.store.ops_per_request < 0.1  # one fetch per server per sync


def test_refresh_tokens_renew_expired_tokens_without_logins() -> None:
    plain = lifecycle("none", events=[])["jwt"]
    refreshed = lifecycle("none", events=[], **{"jwt.refresh": True})["jwt"]
    assert plain.forced_relogins_by_cause["expired"] > 100
    assert refreshed.forced_relogins_by_cause["expired"] == 0
    assert refreshed.refreshes == pytest.approx(plain.forced_relogins, rel=0.1)
    assert refreshed.success_rate is not None and refreshed.success_rate > 0.999
    assert refreshed.login_cpu_s == 0
    assert refreshed.store is not None and refreshed.store.ops == refreshed.refreshes


def test_revocation_with_refresh_forces_a_login_when_the_token_expires() -> None:
    jwt = lifecycle("none", **{"jwt.refresh": True})["jwt"]
    assert jwt.forced_relogins_by_cause["revoked"] == 3  # the refresh token was deleted too


@pytest.mark.parametrize(("overlap_s", "forced_share"), [(0, 1.0), (3600, 0.0)])
def test_key_rotation_logs_everyone_out_unless_old_keys_overlap(
    overlap_s: float, forced_share: float
) -> None:
    result = run(
        load_scenario(
            "baseline",
            {
                "duration_s": 90,
                "warmup_s": 10,
                "events": [{"at_s": 40, "kind": "rotate_key", "overlap_s": overlap_s}],
            },
        ),
        strategies=["jwt", "sticky"],
    )
    frame = result.requests_frame()
    jwt = frame[frame["strategy"] == "jwt"]
    active = set(jwt.loc[jwt["arrival_s"] >= 40, "user"])
    forced = set(jwt.loc[jwt["relogin_cause"] == "key_rotated", "user"])
    assert len(forced & active) / len(active) == pytest.approx(forced_share, abs=0.001)
    assert result["sticky"].forced_relogins == 0  # sessions do not care about keys


def test_revoking_a_session_refuses_it_at_once() -> None:
    result = run(
        load_scenario(
            "baseline",
            {
                "duration_s": 60,
                "warmup_s": 10,
                "workload.user_weights": "zipf",
                "events": [{"at_s": 30, "kind": "revoke_user", "count": 3}],
            },
        ),
        strategies=["sticky", "shared_store"],
    )
    for item in result.results:
        assert item.exposure is not None
        assert item.exposure.accepted_after_revocation == 0
        assert item.forced_relogins_by_cause["revoked"] == 3


def test_token_bytes_on_the_wire_cost_time_at_a_given_bandwidth() -> None:
    def mean_ms(mbps: float | None) -> dict[str, float]:
        scenario = load_scenario(
            "baseline", {"duration_s": 30, "warmup_s": 5, "cluster.network_mbps": mbps}
        )
        result = run(scenario, strategies=["sticky", "jwt"])
        return {item.strategy: item.latency_ms["mean"] or 0.0 for item in result.results}

    fast, slow = mean_ms(None), mean_ms(1.0)
    # 220 bytes at 1 Mbit/s is 1.76 ms per request; a 32-byte cookie is 0.26 ms
    assert slow["jwt"] - fast["jwt"] == pytest.approx(1.76, abs=0.3)
    assert slow["sticky"] - fast["sticky"] == pytest.approx(0.26, abs=0.15)


def test_a_calibration_profile_sets_the_costs(tmp_path: Path) -> None:
    profile = CalibrationProfile(
        jwt=JwtCosts(verify_us={"HS256": 500.0}, sign_us={"HS256": 50.0}),
        login=LoginCosts(pbkdf2_sha256_ms=90.0, iterations=600_000),
    )
    save_profile(profile, tmp_path / "profile.yaml")
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(
        "duration_s: 20\nwarmup_s: 5\nstrategies: [jwt]\ncalibration: profile.yaml\n"
    )
    result = run(load_scenario(scenario_file))
    cost = result["jwt"].auth_cost
    assert cost is not None
    assert cost.verify_ms == pytest.approx(0.5)
    assert cost.source == "calibration"
    assert cost.login_ms == pytest.approx(90.0)
    reference = run(load_scenario(scenario_file, {"calibration": None}))["jwt"].auth_cost
    assert reference is not None and reference.source == "reference"
    explicit = run(load_scenario(scenario_file, {"jwt.verify_ms": 0.2}))["jwt"].auth_cost
    assert explicit is not None and explicit.source == "scenario"


def test_a_profile_is_read_once_per_content_not_per_strategy_or_replication(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_profile(CalibrationProfile(jwt=JwtCosts(verify_us={"HS256": 500.0})), tmp_path / "p.yaml")
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text("duration_s: 4\nstrategies: [jwt, local]\ncalibration: p.yaml\n")
    reads: list[str] = []
    real_parse = calibration.safe_yaml.parse

    def counting_parse(text: str) -> object:
        if text.startswith("# authsim calibration profile"):
            reads.append(text)
        return real_parse(text)

    monkeypatch.setattr(calibration.safe_yaml, "parse", counting_parse)
    scenario = load_scenario(scenario_file)
    for replication in range(3):
        run(scenario, replication=replication, record_requests=False)
    assert len(reads) == 1  # one parse for the load, two strategies and three replications
    # a changed file is read again
    save_profile(CalibrationProfile(jwt=JwtCosts(verify_us={"HS256": 7000.0})), tmp_path / "p.yaml")
    cost = run(load_scenario(scenario_file), ["jwt"], record_requests=False)["jwt"].auth_cost
    assert len(reads) == 2
    assert cost is not None and cost.verify_ms == pytest.approx(7.0)


def test_a_missing_calibration_profile_is_a_one_line_error(tmp_path: Path) -> None:
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text("calibration: nowhere.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario_file)
    assert "nowhere.yaml" in str(info.value)
    assert "\n" not in str(info.value)
