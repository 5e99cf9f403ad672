"""``authsim cheatsheet``: the page comes from fresh runs, and its numbers follow the
scenario parameters."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.costs.reference import AuthCosts
from simulator.costs.sources import SOURCES
from simulator.model.run import run
from simulator.model.strategies import STRATEGIES
from simulator.present import cheatsheet, cheatsheet_answer, cheatsheet_store
from simulator.present.cheatsheet import STUDIES, Cheatsheet, build_cheatsheet, shortened
from simulator.present.cheatsheet_answer import ANSWER_STEPS, capacity_numbers
from simulator.results.records import RunResult
from simulator.scenario.calibration import CalibrationProfile, LoginCosts, save_profile
from simulator.scenario.loading import load_scenario

runner = CliRunner()
CHANGED = ["cluster.servers=10", "shared_store.rtt_ms=3", "jwt.verify_ms=0.062"]


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


# ------------------------------------------------------------ how to answer, capacity, HA


def _section(page: str, heading: str) -> str:
    """The text of the ``## heading`` section, up to the next ``## ``."""
    start = page.index(f"\n## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end >= 0 else len(page)]


def test_the_answer_scaffold_has_its_five_steps_in_order(default_sheet: Cheatsheet) -> None:
    page, n = default_sheet.markdown(), default_sheet.numbers
    scaffold = _section(page, "How to answer a design question")
    assert ANSWER_STEPS == (
        "1. Requirements",
        "2. Numbers",
        "3. The trade-off",
        "4. Failure modes",
        "5. What to monitor",
    )
    places = [scaffold.index(f"\n### {step}\n") for step in ANSWER_STEPS]
    assert places == sorted(places)
    # the example sentences are in the run's numbers
    assert f"{n['capacity.rate_per_s']:g} requests/s × 31 µs = 0.0031 cores" in scaffold
    assert f"`sticky` logs out about 1/N ({_pct(n['crash.sticky.relogin_fraction'])}" in scaffold
    assert f"served {_pct(n['outage.shared_store.success_rate'])} during a 10 s outage" in (
        scaffold
    )
    assert "2,000 × 140 ms = 280 CPU-seconds, 14 s of all 20 cores" in scaffold  # 5 × 4 workers
    assert f"{n['replica_lag.shared_store.stale_read']:,.0f} reading a lagging replica" in (
        scaffold
    )
    for topic in ("Crash", "Deploy", "Store outage", "Key rotation", "NAT hotspot"):
        assert f"\n- {topic}" in scaffold, topic
    for watched in ("Success rate", "Forced re-logins by cause", "p95 and p99", "ops/s",
                    "Load skew", "Token refresh failures"):  # fmt: skip
        assert watched in scaffold, watched


def test_each_capacity_figure_is_the_arithmetic_on_the_run(default_sheet: Cheatsheet) -> None:
    n, baseline = default_sheet.numbers, default_sheet.scenarios["baseline"]
    rate = baseline.workload.arrival_rate_per_s
    verify_ms = AuthCosts().verify_ms(baseline.jwt.algorithm)  # the reference figure
    assert n["capacity.jwt.verify_ms"] == n["jwt.verify_ms"] == verify_ms
    assert n["capacity.jwt.verifies_per_core_s"] == pytest.approx(1000 / verify_ms)
    assert n["capacity.jwt.cores"] == pytest.approx(rate * verify_ms / 1000)
    op_ms = baseline.shared_store.op_time_ms
    assert n["capacity.store.ops_per_shard_s"] == pytest.approx(1000 / op_ms) == 100_000
    assert n["capacity.store.ops_per_s"] == pytest.approx(
        rate * n["shared_store.store_ops_per_request"]
    )
    assert n["capacity.store.shards_busy"] == pytest.approx(
        n["capacity.store.ops_per_s"] * op_ms / 1000
    )
    assert n["capacity.store.ops_per_connection_s"] == pytest.approx(
        1000 / (baseline.shared_store.rtt_ms + op_ms)
    )
    login_ms = baseline.cluster.login_cpu_ms
    assert n["capacity.login.hashes_per_core_s"] == pytest.approx(1000 / login_ms)
    assert n["capacity.login.storm_cores"] == pytest.approx(rate * login_ms / 1000) == 14
    page = _section(default_sheet.markdown(), "Back-of-envelope capacity")
    assert (
        f"| verify a JWT (HS256) | 31 µs | {1000 / verify_ms:,.0f}/s | 0.0031 cores "
        "| reference figure: PyJWT 2.15.1"
    ) in page
    assert (
        "| a Redis operation | 10 µs | 100,000/s per shard | 0.001 shards (100 ops/s: 1.00 per "
        f"`shared_store` request) | {SOURCES['shared_store.op_time_ms'].source} |"
    ) in page
    assert (
        "| hash a password (login) | 140 ms | 7/s | 14 cores if every request were a login "
        "| PBKDF2-SHA256 at OWASP's 600,000 iterations, measured |"
    ) in page
    assert "the network and the client bind first" in page
    assert "= 1,961/s, so 5 servers × 10 pooled connections" in page


def test_capacity_follows_the_scenario_values() -> None:
    """Direction of change, on one short run: a dearer verify, a slower store and a
    cheaper login move each figure as the arithmetic says."""

    def figures(settings: dict[str, float]) -> dict[str, float]:
        scenario = load_scenario("baseline", {"duration_s": 8, "warmup_s": 2, **settings})
        return capacity_numbers(scenario, run(scenario, ["shared_store", "jwt"]))

    before = figures({})
    after = figures(
        {"jwt.verify_ms": 0.5, "shared_store.op_time_ms": 0.04, "cluster.login_cpu_ms": 70}
    )
    assert after["capacity.jwt.verifies_per_core_s"] == pytest.approx(2000)
    assert after["capacity.jwt.verifies_per_core_s"] < before["capacity.jwt.verifies_per_core_s"]
    assert after["capacity.jwt.cores"] == pytest.approx(100 * 0.5 / 1000)
    assert after["capacity.jwt.cores"] > before["capacity.jwt.cores"]
    assert after["capacity.store.ops_per_shard_s"] == pytest.approx(25_000)
    assert after["capacity.login.hashes_per_core_s"] == pytest.approx(
        2 * before["capacity.login.hashes_per_core_s"]
    )
    assert after["capacity.login.storm_cores"] == pytest.approx(7)
    assert "capacity.login.local_cores" not in after  # local did not run


@pytest.mark.slow  # uses the second full cheat sheet
def test_a_dearer_verify_halves_the_verifies_per_core(
    default_sheet: Cheatsheet, changed_sheet: Cheatsheet
) -> None:
    before, after = default_sheet.numbers, changed_sheet.numbers
    assert after["capacity.jwt.verify_ms"] == 0.062
    assert after["capacity.jwt.verifies_per_core_s"] == pytest.approx(1000 / 0.062)
    assert after["capacity.jwt.verifies_per_core_s"] < before["capacity.jwt.verifies_per_core_s"]
    assert after["capacity.jwt.cores"] == pytest.approx(2 * before["capacity.jwt.cores"], rel=0.01)
    # the 3 ms round trip caps one connection at 1000 / 3.01 operations per second
    assert after["capacity.store.ops_per_connection_s"] == pytest.approx(1000 / 3.01)
    page = changed_sheet.markdown()
    assert "| verify a JWT (HS256) | 62 µs | 16,129/s | 0.0062 cores | `jwt.verify_ms` set" in page


def test_the_store_section_names_the_keys_and_the_scenarios(default_sheet: Cheatsheet) -> None:
    n = default_sheet.numbers
    section = _section(default_sheet.markdown(), "Keeping the store up")
    for key in ("replicas", "failover_s", "shards", "read_from", "replication_lag_ms"):
        assert f"`shared_store.{key}`" in section, key
    for scenario in ("store-failover", "store-sharded", "read-replica-lag"):
        assert f"`{scenario}`" in section, scenario
    for option in ("Replicas + Sentinel", "Redis Cluster", "Reading from replicas",
                   "A managed service"):  # fmt: skip
        assert f"**{option}**" in section, option
    assert "`down-after-milliseconds` (30,000 by default)" in section
    assert "16,384 slots" in section and "`cluster-node-timeout` (15,000 ms by default)" in section
    assert "ElastiCache Multi-AZ" in section and "asynchronous" in section
    # a shard's crash takes out 1/shards of the users; stale reads force logins
    assert n["sharded.shards"] == 4
    assert n["sharded.shared_store.success_rate"] == pytest.approx(0.75, abs=0.05)
    assert n["sharded.jwt.success_rate"] > 0.95
    assert f"`shared_store` kept {_pct(n['sharded.shared_store.success_rate'])} in the" in section
    assert n["replica_lag.shared_store.stale_read"] > 0
    assert 0 < n["replica_lag.jwt.max_window_s"] <= n["replica_lag.lag_ms"] / 1000
    assert f"{n['replica_lag.shared_store.stale_read']:,.0f} forced logins" in section
    for dotted in ("shared_store.failover_s", "shared_store.shards", "shared_store.replicas"):
        assert SOURCES[dotted].source in section, dotted
    assert "nan" not in section.lower() and "inf" not in section.lower()


def test_the_strategy_count_comes_from_the_strategy_list(default_sheet: Cheatsheet) -> None:
    (baseline_study,) = [study for study in STUDIES if study.name == "baseline"]
    assert baseline_study.strategies == tuple(STRATEGIES)
    page = default_sheet.markdown()
    words = cheatsheet.in_words(len(STRATEGIES))
    assert f"\n## The {words} strategies\n" in page
    assert page.count("\n| `") >= len(STRATEGIES)
    # fewer strategies in the baseline run: the page counts them again
    full = default_sheet.results["baseline"]
    fewer = RunResult(full.scenario, full.results[1:], full.logs)
    page = replace(default_sheet, results={**default_sheet.results, "baseline": fewer}).markdown()
    assert "\nThree ways for a fleet" in page and "\n## The three strategies\n" in page
    assert "`local` |" not in page
    for module in (cheatsheet, cheatsheet_answer, cheatsheet_store):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        assert not re.search(r"\bfour (strategies|ways)", source, re.IGNORECASE), module
