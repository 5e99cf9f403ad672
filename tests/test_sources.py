"""Where each real-world default comes from (simulator.costs.sources) and the
explanation's "Where the figures come from" (simulator.present.explain_costs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import load_scenario, run
from simulator.costs import sources
from simulator.costs.sources import SOURCES, describe
from simulator.present.explain import explain
from simulator.present.explain_base import Paragraph
from simulator.results.records import RunResult
from simulator.scenario.calibration import CalibrationProfile, LoginCosts, save_profile
from simulator.scenario.models import Scenario

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SHORT = {"duration_s": 20, "warmup_s": 5}


def figures(result: RunResult) -> Paragraph:
    (found,) = [p for p in explain(result) if p.topic == "Where the figures come from"]
    return found


@pytest.mark.parametrize("dotted", sorted(SOURCES))
def test_every_source_names_a_real_setting_listed_in_the_readme(dotted: str) -> None:
    assert isinstance(sources.default(dotted), float | int)
    assert f"`{dotted.removesuffix('.mean_s')}`" in README  # the defaults table
    assert describe(Scenario(), dotted).endswith(f"(source: {SOURCES[dotted].source})")


def test_a_value_set_by_the_scenario_says_so_and_keeps_the_default_source() -> None:
    scenario = load_scenario("baseline", {"shared_store.rtt_ms": 2.0})
    text = describe(scenario, "shared_store.rtt_ms")
    assert text.startswith("the store round trip: 2 ms, set in this scenario (default 0.5 ms;")
    assert SOURCES["shared_store.rtt_ms"].source in text


def test_a_run_names_the_source_of_every_figure_it_used() -> None:
    result = run(load_scenario("baseline", SHORT), record_requests=False)
    text = " ".join(figures(result).sentences)
    for dotted in ("cluster.login_cpu_ms", "shared_store.rtt_ms", "shared_store.op_time_ms",
                   "jwt.ttl_s", "workload.relogin_delay_s.mean_s"):  # fmt: skip
        assert SOURCES[dotted].source in text, dotted
    assert "failover" not in text  # no store node crashed


def test_only_the_figures_that_mattered_are_listed() -> None:
    result = run(load_scenario("baseline", SHORT), ["sticky"], record_requests=False)
    assert [p.topic for p in explain(result)][-1] != "Where the figures come from"
    failover = run(load_scenario("store-failover", {"duration_s": 80}), record_requests=False)
    text = " ".join(figures(failover).sentences)
    assert SOURCES["shared_store.failover_s"].source in text
    assert SOURCES["shared_store.replication_lag_ms"].source in text


def test_a_calibration_measured_under_contention_says_so(tmp_path: Path) -> None:
    machine = {"contended": "yes", "load_average": "4.1", "cores": "2", "cpu_over_wall": "0.45"}
    profile = CalibrationProfile(
        machine=machine, login=LoginCosts(pbkdf2_sha256_ms=90.0, iterations=600_000)
    )
    save_profile(profile, tmp_path / "profile.yaml")
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(
        "duration_s: 20\nwarmup_s: 5\nstrategies: [local]\ncalibration: profile.yaml\n"
    )
    sentences = figures(run(load_scenario(scenario_file), record_requests=False)).sentences
    assert "A password login: 90 ms, measured on this machine by authsim calibrate." in sentences
    assert sentences[-1].startswith(
        "The calibration profile was measured under contention: load average 4.10 on 2 cores"
    )
    quiet = CalibrationProfile(
        machine={"contended": "no"}, login=LoginCosts(pbkdf2_sha256_ms=90.0, iterations=600_000)
    )
    save_profile(quiet, tmp_path / "profile.yaml")
    sentences = figures(run(load_scenario(scenario_file), record_requests=False)).sentences
    assert not any("contention" in sentence for sentence in sentences)
