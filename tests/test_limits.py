"""Bounded work: runs sized before they start (simulator.scenario.budget), refused above
the documented limits, and output paths checked before any run (simulator.atomic)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator import load_scenario, run
from simulator.atomic import file_problem, folder_problem
from simulator.cli.app import app
from simulator.errors import ScenarioError
from simulator.scenario import budget
from simulator.scenario.loading import builtin_scenarios

runner = CliRunner()
SHORT = ["--set", "duration_s=8", "--set", "warmup_s=2"]
HUGE = {
    "cluster.servers=1000000000": "cluster.servers",
    "duration_s=1e9": "duration_s",
    "workload.users=1000000000": "workload.users",
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(budget.ALLOW_LARGE_ENV, raising=False)


# ------------------------------------------------------------------ the estimate


def test_expected_requests_follow_the_rate_profile_and_spikes() -> None:
    base = load_scenario(None, {"duration_s": 100, "warmup_s": 0})
    assert budget.expected_requests(base) == pytest.approx(100 * 100)
    ramp = base.with_overrides(
        {"workload.rate_profile": {"shape": "ramp", "start_s": 0, "end_s": 100}}
    )
    assert budget.expected_requests(ramp) == pytest.approx(100 * 100 * 1.5, rel=1e-3)
    spike = base.with_overrides(
        {"events": [{"kind": "traffic_spike", "at_s": 10, "duration_s": 10, "multiplier": 5}]}
    )
    assert budget.expected_requests(spike) == pytest.approx(100 * (90 + 50))


def test_scale_outs_count_as_servers() -> None:
    scenario = load_scenario("scale-out-modulo")
    assert budget.most_servers(scenario) > scenario.cluster.servers


def test_record_mode_costs_memory_per_request() -> None:
    scenario = load_scenario(None)
    summary = budget.estimate(scenario)
    record = budget.estimate(scenario, record_requests=True)
    assert record.memory_bytes > summary.memory_bytes
    assert budget.estimate(scenario, ["jwt"]).requests == pytest.approx(summary.requests / 4)


@pytest.mark.parametrize("name", list(builtin_scenarios()))
def test_every_builtin_scenario_is_far_below_the_limits_and_the_warning(name: str) -> None:
    found = budget.check(load_scenario(name), record_requests=True, allow_large=False)
    assert budget.warning(found) is None
    assert found.requests < budget.WARN_REQUESTS / 10
    assert found.memory_bytes < budget.WARN_MEMORY_BYTES / 10
    assert found.servers < budget.MAX_SERVERS / 100
    assert found.users < budget.MAX_USERS / 100


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(("override", "key"), HUGE.items())
def test_the_cli_refuses_a_huge_run_in_one_line_naming_the_limit(override: str, key: str) -> None:
    code, out, err = invoke("run", "--set", override)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: --set: {key}: ")
    assert "above the limit of" in err
    assert "--allow-large" in err


@pytest.mark.parametrize(
    "command", [["report"], ["animate"], ["warmup"], ["sweep", "--grid", "seed=1,2"]]
)
def test_every_command_that_runs_simulations_refuses_a_huge_run(command: list[str]) -> None:
    code, _, err = invoke(*command, "--set", "cluster.servers=1000000000")
    assert code == 2, err
    assert "above the limit of 10,000" in err
    assert "Traceback" not in err


def test_the_cheatsheet_refuses_a_huge_run() -> None:
    code, _, err = invoke("cheatsheet", "--quick", "--set", "cluster.servers=1000000000")
    assert code == 2, err
    assert "above the limit" in err


def test_a_file_over_the_limit_is_named_as_the_source(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("cluster:\n  servers: 20000\n", encoding="utf-8")
    code, _, err = invoke("run", str(path))
    assert code == 2
    assert err.startswith(f"error: {path}: cluster.servers: 20000 servers is above")


def test_show_does_not_refuse_a_large_scenario() -> None:
    code, out, _ = invoke("show", "--set", "cluster.servers=1000000000")
    assert code == 0
    assert "servers: 1000000000" in out


def test_the_api_refuses_before_building_anything() -> None:
    scenario = load_scenario(None, {"workload.users": 10**9})
    with pytest.raises(ScenarioError) as info:
        run(scenario)
    assert isinstance(info.value, budget.LimitError)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("scenario: workload.users: 1000000000 users is above")
    assert "allow_large=True" in str(info.value)


def test_memory_alone_can_be_over_the_limit() -> None:
    # many tiny time buckets on many servers: no count is over its limit, memory is
    scenario = load_scenario(None, {"cluster.servers": 9000, "bucket_s": 0.001})
    with pytest.raises(budget.LimitError, match="of memory"):
        budget.check(scenario)


# ------------------------------------------------------------------ the override


def test_allow_large_lifts_the_limits_in_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(None, {"cluster.servers": 20_000})
    assert budget.check(scenario, allow_large=True).servers == 20_000
    monkeypatch.setenv(budget.ALLOW_LARGE_ENV, "1")
    assert budget.check(scenario).servers == 20_000
    monkeypatch.setenv(budget.ALLOW_LARGE_ENV, "0")
    with pytest.raises(budget.LimitError):
        budget.check(scenario)


def test_allow_large_on_the_command_line_is_undone_when_the_command_ends() -> None:
    # a tiny run with the flag: accepted; the environment is as it was afterwards
    code, _, err = invoke("run", *SHORT, "-s", "jwt", "--allow-large")
    assert code == 0, err
    assert budget.ALLOW_LARGE_ENV not in os.environ


def test_a_large_run_is_announced_in_one_line() -> None:
    scenario = load_scenario(None, {"duration_s": 100_000})
    message = budget.warning(budget.check(scenario))
    assert message is not None
    assert "\n" not in message
    assert "million requests" in message
    assert "CPU-second" in message


# ------------------------------------------------------------------ output paths


def test_folder_problems(tmp_path: Path) -> None:
    assert folder_problem(tmp_path) is None
    assert folder_problem(tmp_path / "new") is None
    assert "does not exist" in str(folder_problem(tmp_path / "a" / "b"))
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    assert "is a file" in str(folder_problem(a_file))
    assert str(folder_problem(a_file / "below")) == f"{a_file} is a file, not a folder"
    assert "does not exist" in str(file_problem(tmp_path / "a" / "b" / "r.html"))
    assert file_problem(tmp_path / "new" / "r.html") is None


def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through file modes; /proc refuses even root
        assert "is not writable" in str(folder_problem(Path("/proc")))
        assert "is not writable" in str(folder_problem(Path("/proc") / "out"))
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert "is not writable" in str(folder_problem(locked))
        assert "is not writable" in str(folder_problem(locked / "out"))
    finally:
        locked.chmod(stat.S_IRWXU)


def test_run_out_over_a_file_fails_before_running(tmp_path: Path) -> None:
    in_the_way = tmp_path / "results"
    in_the_way.write_text("x", encoding="utf-8")
    code, out, err = invoke("run", "--out", str(in_the_way), "--set", "duration_s=1e12")
    # the path is checked first: the huge run is not even sized
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "is a file" in err


@pytest.mark.parametrize(
    "command",
    [["report"], ["animate"], ["cheatsheet"], ["run"], ["sweep", "--grid", "seed=1"], ["warmup"]],
)
def test_no_command_creates_missing_parents_of_its_output(
    tmp_path: Path, command: list[str]
) -> None:
    name = {"report": "r.html", "animate": "a.gif", "cheatsheet": "c.md"}.get(command[0], "")
    target = tmp_path / "missing" / "dir" / name if name else tmp_path / "missing" / "dir"
    code, _, err = invoke(*command, "--out", str(target))
    assert code == 2
    assert "does not exist" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()
