"""``authsim cheatsheet``: the page comes from fresh runs, and its numbers follow the
scenario parameters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.present.cheatsheet import STUDIES, Cheatsheet, build_cheatsheet, shortened
from simulator.scenario.calibration import CalibrationProfile, LoginCosts, save_profile
from simulator.scenario.loading import load_scenario

runner = CliRunner()
CHANGED = ["cluster.servers=10", "shared_store.rtt_ms=3"]


@pytest.fixture(scope="module")
def default_sheet() -> Cheatsheet:
    return build_cheatsheet(quick=True)


@pytest.fixture(scope="module")
def changed_sheet() -> Cheatsheet:
    return build_cheatsheet(CHANGED, quick=True)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def test_shortened_keeps_the_events_and_cuts_the_quiet_stretches() -> None:
    crash = load_scenario("server-crash")  # events at 42 s and 77 s, 110 s long
    short = shortened(crash)
    assert short.events == crash.events
    assert short.warmup_s == 5
    assert short.duration_s == 77 + 30
    baseline = shortened(load_scenario("baseline"))  # no events
    assert (baseline.warmup_s, baseline.duration_s) == (5, 35)
    outage = shortened(load_scenario("store-outage"))  # 43 s + 10 s outage, 90 s long
    assert outage.duration_s == 43 + 10 + 30


def test_every_study_ran_its_own_scenario_and_strategies(default_sheet: Cheatsheet) -> None:
    assert set(default_sheet.results) == {study.name for study in STUDIES}
    for study in STUDIES:
        assert default_sheet.scenarios[study.name].name == study.scenario
        assert default_sheet.results[study.name].strategies == list(study.strategies)
        assert default_sheet.scenarios[study.name].measured_s > 0
    assert default_sheet.scenarios["denylist"].jwt.denylist == "store"
    assert default_sheet.scenarios["revocation"].jwt.denylist == "none"


def test_the_numbers_tell_the_lessons(default_sheet: Cheatsheet) -> None:
    n = default_sheet.numbers
    assert n["servers"] == 5
    assert n["local.success_rate"] == pytest.approx(n["local.success_theory"], abs=0.04)
    for name in ("sticky", "shared_store", "jwt"):
        assert n[f"{name}.success_rate"] > 0.99
    assert n["shared_store.extra_ms"] > n["shared_store.rtt_ms"] * 0.9
    assert n["crash.sticky.relogin_fraction"] == pytest.approx(1 / n["crash.servers"], abs=0.06)
    assert n["crash.jwt.success_rate"] > n["crash.sticky.success_rate"]
    assert n["modulo.remapped"] == pytest.approx(n["modulo.remapped_theory"], abs=0.05)
    assert n["consistent.remapped"] == pytest.approx(n["consistent.remapped_theory"], abs=0.05)
    assert n["nat.sticky.max_over_mean"] > 1.5 > n["nat.jwt.max_over_mean"]
    assert n["saturation.store_latency_ms"] > 2 * n["saturation.idle_store_latency_ms"]
    assert n["outage.shared_store.success_rate"] < 0.05
    assert 0.95 < n["outage.jwt.success_rate"] < 1.0  # tokens expiring in it cannot refresh
    # the outage logs out nobody on sessions, and about users × outage / ttl on tokens
    assert n["outage.shared_store.users_logged_out"] == 0
    expected = n["outage.jwt.expected_logged_out"]
    assert expected == pytest.approx(2000 * 10 / 900)
    assert abs(n["outage.jwt.users_logged_out"] - expected) < 3 * expected**0.5 + 2
    assert n["outage.jwt.refresh_failed"] >= n["outage.jwt.users_logged_out"] > 0
    # a primary crash with a replica: every shared_store request fails for failover_s
    assert n["failover.failover_s"] == 30
    assert n["failover.shared_store.failing_s"] == pytest.approx(30, abs=1.0)
    assert n["failover.shared_store.success_rate"] < 0.01
    assert n["failover.jwt.success_rate"] > 0.9
    assert n["local.users_logged_out"] > 0 == n["jwt.users_logged_out"]
    assert n["revocation.jwt.accepted"] > 0
    assert n["revocation.shared_store.accepted"] == 0
    assert n["denylist.jwt.accepted"] == 0
    assert n["denylist.jwt.store_ops_per_request"] > 0.5


def test_the_page_shows_the_numbers_it_computed(default_sheet: Cheatsheet) -> None:
    page = default_sheet.markdown()
    n = default_sheet.numbers
    assert page.startswith("# Sessions or tokens? An interview cheat sheet\n")
    for heading in (
        "## The four strategies",
        "## When each wins, and how each fails",
        "## Token costs per algorithm",
        "## Say it in one line",
        "## Where these numbers come from",
    ):
        assert f"\n{heading}\n" in page
    for name in ("local", "sticky", "shared_store", "jwt"):
        assert re.search(
            rf"\| `{name}` \|.*\| {re.escape(_pct(n[f'{name}.success_rate']))} \|", page
        )
    assert f"session {_pct(n['local.success_rate'])} of the time" in page
    assert f"moved {_pct(n['modulo.remapped'])} of active users" in page
    assert f"{n['revocation.jwt.accepted']:,.0f} requests were still accepted" in page
    assert "Quick mode" in page
    assert "nan" not in page.lower()
    # the outage and the failover, in the run's own numbers
    assert (
        f"so it served {_pct(n['outage.jwt.success_rate'])} during it; the "
        f"{n['outage.jwt.users_logged_out']:,.0f} users whose 15-minute access token expired in "
        f"it could not refresh it ({n['outage.jwt.refresh_failed']:,.0f} requests refused, cause "
        "`refresh_failed`)"
    ) in page
    assert f"about users × outage / ttl = {n['outage.jwt.expected_logged_out']:,.0f}" in page
    assert f"requests failed for {n['failover.shared_store.failing_s']:.0f} s" in page
    assert f"`jwt` kept {_pct(n['failover.jwt.success_rate'])} and logged out" in page
    # every cost quoted names its source
    assert "\n## Where the costs come from\n" in page
    for source in (
        "- a store operation: 0.01 ms; redis-benchmark measures about 100,000-150,000 GETs",
        "- the store round trip: 0.5 ms; a redis-py GET across one datacentre",
        "- a store failover: 30 s; Redis Sentinel's `down-after-milliseconds` is 30,000",
        "- an access token's lifetime: 900 s; Keycloak's default access token lifespan",
        "RFC 9700",
        "- a password login: 140 ms of CPU; PBKDF2-SHA256 at OWASP's 600,000 iterations",
        "a session table in a SQL database or an overloaded Redis",
        "`long-lived-jwt`",
    ):
        assert source in page, source


@pytest.mark.slow  # a second full cheat sheet (~3.5 s)
def test_numbers_change_when_the_parameters_change(
    default_sheet: Cheatsheet, changed_sheet: Cheatsheet
) -> None:
    before, after = default_sheet.numbers, changed_sheet.numbers
    assert after["servers"] == 10
    # local finds its session about 1/N of the time: 1/5, then 1/10
    assert after["local.success_rate"] == pytest.approx(0.10, abs=0.03)
    assert before["local.success_rate"] - after["local.success_rate"] > 0.07
    # the store's round trip went from 0.5 ms to 3 ms: every shared_store request pays it
    assert after["shared_store.extra_ms"] - before["shared_store.extra_ms"] > 2.0
    assert after["crash.sticky.relogin_fraction"] < before["crash.sticky.relogin_fraction"]
    page_before, page_after = default_sheet.markdown(), changed_sheet.markdown()
    assert f"(theory 1/N = {_pct(0.1)})" in page_after
    assert f"(theory 1/N = {_pct(0.2)})" in page_before
    assert "`cluster.servers=10`, `shared_store.rtt_ms=3`" in page_after
    # a cost set for the run is no longer attributed to the default's source
    assert (
        "- the store round trip: 3 ms; set for these runs (default 0.5 ms: a redis-py" in page_after
    )
    assert "- the store round trip: 0.5 ms; a redis-py GET" in page_before


@pytest.mark.slow  # a third cheat sheet (~3.5 s)
def test_shorter_tokens_log_out_more_users_in_the_outage(default_sheet: Cheatsheet) -> None:
    short = build_cheatsheet(["jwt.ttl_s=60"], quick=True)
    before, after = default_sheet.numbers, short.numbers
    # an outage of D seconds meets users × D / ttl token expiries: 15 times more at 60 s
    assert after["outage.jwt.expected_logged_out"] == pytest.approx(
        15 * before["outage.jwt.expected_logged_out"]
    )
    assert after["outage.jwt.users_logged_out"] > 5 * before["outage.jwt.users_logged_out"]
    assert after["outage.jwt.success_rate"] < before["outage.jwt.success_rate"]
    page = short.markdown()
    assert (
        f"the {after['outage.jwt.users_logged_out']:,.0f} users whose 1-minute access token "
        "expired in it could not refresh it"
    ) in page
    assert "- an access token's lifetime: 60 s; set for these runs (default 900 s: Keycloak" in page


@pytest.mark.slow  # the cheat sheet's runs again, through the CLI (~3 s)
def test_cli_writes_the_same_page_from_fresh_runs(
    tmp_path: Path, changed_sheet: Cheatsheet
) -> None:
    target = tmp_path / "notes" / "cheatsheet.md"
    args = ["cheatsheet", "--quick", "--out", str(target)]
    for item in CHANGED:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert target.read_text(encoding="utf-8") == changed_sheet.markdown()
    assert result.stdout == ""
    assert [path.name for path in target.parent.iterdir()] == ["cheatsheet.md"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "cluster.server=3"],
            "error: --set: cluster.server: unknown key (did you mean 'servers'?)\n",
        ),
        (["--set", "cluster.servers=1"], "server-crash.yaml: events.0.server: no server 2"),
    ],
)
def test_bad_overrides_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cheatsheet", "--quick", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_out_pointing_at_a_folder_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cheatsheet", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --out: ") and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # another cheat sheet (~3.5 s)
def test_a_calibration_measured_under_contention_is_flagged_on_the_page(tmp_path: Path) -> None:
    machine = {"contended": "yes", "load_average": "3.9", "cores": "2", "cpu_over_wall": "0.5"}
    login = LoginCosts(pbkdf2_sha256_ms=150.0, iterations=600_000)
    save_profile(CalibrationProfile(machine=machine, login=login), tmp_path / "p.yaml")
    page = build_cheatsheet([f"calibration={tmp_path / 'p.yaml'}"], quick=True).markdown()
    # baseline.yaml sets login_cpu_ms itself, so the calibrated login is not used (or claimed)
    assert "- a password login: 140 ms of CPU; PBKDF2-SHA256 at OWASP's 600,000" in page
    assert (
        "- the calibration profile was measured under contention: load average 3.90 on 2 cores"
    ) in page
