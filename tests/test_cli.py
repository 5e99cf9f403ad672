"""The ``authsim`` command line, through typer's CliRunner (and once as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import simulator.cli.options
import simulator.present.plots
from simulator.cli.app import app
from simulator.present.plots import TIMESERIES_METRICS

runner = CliRunner()
SHORT = ["--set", "duration_s=8", "--set", "warmup_s=2"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_json_has_the_documented_shape() -> None:
    code, out, err = invoke("run", "--json", *SHORT)
    assert code == 0, err
    document = json.loads(out)
    assert document["scenario"] == "baseline"
    assert document["seed"] == 1
    names = [item["strategy"] for item in document["results"]]
    assert names == ["local", "sticky", "shared_store", "jwt"]
    for item in document["results"]:
        assert {"requests", "served", "success_rate", "forced_relogins"} <= set(item)
        assert set(item["errors"]) >= {"server_down", "overload", "store_unavailable", "timeout"}
        assert set(item["latency_ms"]) == {"mean", "p50", "p95", "p99"}
        assert set(item["load_skew"]) == {"max_over_mean", "cv", "jain"}
        assert len(item["server_requests"]) == 5
        assert all(isinstance(count, int) for count in item["server_requests"])
    stores = {item["strategy"]: item["store"] for item in document["results"]}
    assert set(stores["shared_store"]) >= {"utilisation", "mean_latency_ms"}
    assert stores["jwt"] is not None  # its refresh tokens live in the store
    assert stores["sticky"] is None


def test_json_is_byte_identical_for_the_same_seed() -> None:
    first = invoke("run", "--json", "--seed", "5", *SHORT)
    second = invoke("run", "--json", "--seed", "5", *SHORT)
    other = invoke("run", "--json", "--seed", "6", *SHORT)
    assert first[0] == second[0] == 0
    assert first[1] == second[1]
    assert json.loads(first[1])["seed"] == 5
    assert first[1] != other[1]


def test_strategy_option_selects_and_orders() -> None:
    code, out, _ = invoke("run", "--json", "-s", "jwt", "--strategy", "local", *SHORT)
    assert code == 0
    assert [item["strategy"] for item in json.loads(out)["results"]] == ["jwt", "local"]


def test_table_output_names_every_strategy() -> None:
    code, out, _ = invoke("run", *SHORT)
    assert code == 0
    for name in ("local", "sticky", "shared_store", "jwt", "success", "p95"):
        assert name in out


@pytest.mark.slow  # a run that writes every plot (~3.5 s)
def test_out_writes_json_requests_and_plots(tmp_path: Path) -> None:
    out_dir = tmp_path / "results"
    code, _, err = invoke("run", "--out", str(out_dir), *SHORT)
    assert code == 0, err
    names = sorted(path.name for path in out_dir.iterdir())
    assert names == sorted(
        [
            "comparison.png",
            "requests.csv",
            "results.json",
            "server_heatmap.png",
            "server_load.png",
            "server_timeseries.csv",
            "timeseries.csv",
        ]
        + [f"timeseries_{metric}.png" for metric in TIMESERIES_METRICS]
    )
    document = json.loads((out_dir / "results.json").read_text())
    header = (out_dir / "requests.csv").read_text().splitlines()[0]
    assert header == (
        "strategy,arrival_s,user,server,outcome,latency_ms,forced_relogin,relogin_cause"
    )
    rows = (out_dir / "requests.csv").read_text().count("\n") - 1
    assert rows == sum(item["requests"] for item in document["results"])
    for png in ("comparison.png", "server_load.png"):
        assert (out_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_plots_writes_no_png(tmp_path: Path) -> None:
    code, _, _ = invoke("run", "--out", str(tmp_path), "--no-plots", "-s", "jwt", *SHORT)
    assert code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "requests.csv",
        "results.json",
        "server_timeseries.csv",
        "timeseries.csv",
    ]


def test_failed_run_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(simulator.present.plots, "save_figures", broken)
    code, _, err = invoke("run", "--out", str(tmp_path), "-s", "jwt", *SHORT)
    assert code == 2
    assert "No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_scenarios_lists_builtins_with_descriptions() -> None:
    code, out, _ = invoke("scenarios")
    assert code == 0
    for name in ("baseline", "nat-hotspot", "heavy-users", "store-saturation"):
        assert name in out
    assert "round-robin" in out


def test_show_prints_the_resolved_scenario() -> None:
    code, out, _ = invoke("show", "nat-hotspot", "--set", "cluster.servers=9")
    assert code == 0
    assert "servers: 9" in out
    assert "users_per_ip: 200" in out


def test_version() -> None:
    code, out, _ = invoke("--version")
    assert code == 0
    assert out.startswith("authsim ")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


BAD_FILES = {
    "misspelt key": (
        "workload:\n  arival_rate_per_s: 5\n",
        "workload.arival_rate_per_s: unknown key (did you mean 'arrival_rate_per_s'?)",
    ),
    "wrong type": ("cluster:\n  servers: many\n", "cluster.servers: input should be"),
    "negative rate": ("workload:\n  arrival_rate_per_s: -5\n", "must be > 0"),
    "zero servers": ("cluster:\n  servers: 0\n", "cluster.servers: must be >= 1 (got 0)"),
    "broken yaml": ("cluster:\n  servers: [1, 2\n", "invalid YAML at line"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_scenario_files_exit_2_with_one_line(tmp_path: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    path = write(tmp_path, text)
    code, out, err = invoke("run", str(path))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: ")
    assert expected in lines[0]
    assert "Traceback" not in err


def test_missing_file_exits_2_and_lists_builtins(tmp_path: Path) -> None:
    code, _, err = invoke("run", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "no such file or built-in scenario" in err
    assert "baseline" in err


def test_misspelt_builtin_name_is_suggested() -> None:
    code, _, err = invoke("run", "basline")
    assert code == 2
    assert "did you mean 'baseline'?" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--set", "cluster.srvers=3"],
            "--set: cluster.srvers: unknown key (did you mean 'servers'?)",
        ),
        (["--set", "cluster.servers=0"], "--set: cluster.servers: must be >= 1"),
        (["--set", "cluster.servers"], "expected dotted.key=value"),
        (["--strategy", "jwtt"], "unknown strategy 'jwtt' (did you mean 'jwt'?)"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], expected: str) -> None:
    code, _, err = invoke("run", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err


@pytest.mark.slow  # a `python -m simulator` subprocess
def test_python_dash_m_runs_the_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "--json", "-s", "jwt", *SHORT],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,  # a guard against a hang, not a speed check: loaded machines are slow
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["results"][0]["strategy"] == "jwt"


def test_long_runs_show_a_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator.cli.options, "PROGRESS_MIN_REQUESTS", 100)
    result = runner.invoke(app, ["run", "-s", "jwt", *SHORT], env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0
    assert "jwt" in result.stderr
    assert "━" in result.stderr  # the bar
    assert "0%" in result.stderr


def test_no_progress_bar_when_not_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator.cli.options, "PROGRESS_MIN_REQUESTS", 100)
    result = runner.invoke(app, ["run", "--json", "-s", "jwt", *SHORT])
    assert result.exit_code == 0
    assert "━" not in result.stderr  # no bar
    # a loaded machine may take over 5 s: then only plain progress lines, never on stdout
    assert all(line.startswith("run: ") for line in result.stderr.splitlines())
    json.loads(result.stdout)


@pytest.mark.slow  # two `python -m simulator` subprocesses
def test_json_is_identical_across_processes_with_different_hash_seeds() -> None:
    outputs = []
    for hash_seed in ("1", "2"):
        completed = subprocess.run(
            [sys.executable, "-m", "simulator", "run", "heavy-users", "--json", *SHORT],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,  # a guard against a hang, not a speed check: loaded machines are slow
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        outputs.append(completed.stdout)
    assert outputs[0] == outputs[1]


def test_the_table_says_where_the_costs_come_from() -> None:
    code, out, _ = invoke("run", "-s", "jwt", *SHORT)
    assert code == 0
    assert "jwt HS256 verify 31.0 µs (reference)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--seed", "-1"], "error: Invalid value for '--seed': "),
        (["run", "--seed", "abc"], "error: Invalid value for '--seed': "),
        (["animate", "--fps", "abc"], "error: Invalid value for '--fps': "),
        (["runn"], "error: No such command 'runn'. Did you mean 'run'?"),
        (["run", "--bogus"], "error: No such option: --bogus"),
        (["token", "verify"], "error: Missing argument 'token'."),
        (["sweep", "--workers", "0"], "error: Invalid value for '--workers': "),
    ],
)
def test_malformed_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert err.startswith(message)
    assert err.count("\n") == 1, err
    assert out == ""


def test_no_arguments_still_prints_the_help() -> None:
    result = runner.invoke(app, [])
    assert "Commands" in result.output and "cheatsheet" in result.output
