"""Parameter sweeps: grid parsing, process pool vs Dask, resume after kill -9, failures."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.errors import ScenarioError
from simulator.experiments.replications import METRICS
from simulator.experiments.sweep import SweepError, expected_requests, parse_grid, points, run_sweep
from simulator.scenario.loading import load_scenario
from simulator.scenario.models import Scenario

SHORT = ["duration_s=5", "warmup_s=1", "strategies=[local,jwt]"]
GRID = ["cluster.servers=2,3", "load_balancer.policy=round_robin,random"]
KEYS = ["point", "replication", "strategy"]


@pytest.fixture(scope="module")
def short() -> Scenario:
    return load_scenario("baseline", SHORT)


def test_parse_grid_reads_yaml_values_and_keeps_bracketed_lists(short: Scenario) -> None:
    grid = parse_grid(
        ["cluster.servers=2, 3", "jwt.refresh=true,false", "strategies=[jwt,local],[sticky]"],
        short,
    )
    assert grid == {
        "cluster.servers": [2, 3],
        "jwt.refresh": [True, False],
        "strategies": [["jwt", "local"], ["sticky"]],
    }
    found = points(short, grid)
    assert len(found) == 8
    assert [point.index for point in found] == list(range(8))
    assert found[-1].values == {
        "cluster.servers": 3,
        "jwt.refresh": False,
        "strategies": ["sticky"],
    }
    assert found[-1].scenario.cluster.servers == 3


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("cluster.server=2,3", "--grid: cluster.server: unknown key (did you mean 'servers'?)"),
        ("clustr.servers=2", "--grid: clustr: unknown key (did you mean 'cluster'?)"),
        ("cluster.servers=0,2", "--grid: cluster.servers: must be >= 1 (got 0)"),
        ("cluster.servers", "--grid: cluster.servers: expected dotted.key=value1,value2,..."),
    ],
)
def test_parse_grid_errors_are_one_line(short: Scenario, option: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_grid([option], short)
    assert str(caught.value) == message


@pytest.mark.slow  # a process pool and a Dask cluster
def test_process_pool_and_dask_give_identical_rows(short: Scenario, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    grid = parse_grid(GRID, short)
    pool = run_sweep(short, grid, 2, tmp_path / "pool", workers=2)
    dask = run_sweep(short, grid, 2, tmp_path / "dask", workers=2, scheduler="local")
    assert pool.failures == dask.failures == 0
    assert len(pool.rows) == 4 * 2 * 2
    expected_columns = [
        *KEYS,
        *grid,
        "seed",
        "requests",
        *METRICS,
        "error",
    ]
    assert list(pool.rows.columns) == expected_columns
    a = pool.rows.sort_values(KEYS, ignore_index=True)
    b = dask.rows.sort_values(KEYS, ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not a.duplicated(KEYS).any()
    # the strategies of one task share traffic: the same arrivals
    per_task = a.groupby(["point", "replication"])["requests"].nunique()
    assert (per_task == 1).all()
    summary = pd.read_csv(tmp_path / "pool" / "summary.csv")
    assert len(summary) == 4 * 2
    for metric in METRICS:
        assert metric in summary.columns
        assert f"{metric}_ci95" in summary.columns
    assert (summary["replications"] == 2).all()


@pytest.mark.slow  # a forkserver process pool
def test_a_failing_point_is_recorded_and_the_sweep_goes_on(short: Scenario, tmp_path: Path) -> None:
    # a calibration profile that does not exist passes validation but fails at run time
    grid = parse_grid(["calibration=null,/nonexistent/profile.json"], short)
    progress: list[tuple[int, int, int]] = []
    result = run_sweep(
        short,
        grid,
        2,
        tmp_path / "out",
        workers=1,
        progress=lambda *args: progress.append(args),
    )
    assert result.failures == 2
    assert progress[0] == (0, 4, 0)
    assert progress[-1] == (4, 4, 2)
    rows = result.rows
    failed = rows[rows["error"] != ""]
    assert sorted(failed["point"].unique()) == [1]
    assert len(failed) == 4  # 2 replications x 2 strategies
    assert all("profile.json" in error and "\n" not in error for error in failed["error"])
    assert failed["success_rate"].isna().all()
    good = rows[rows["point"] == 0]
    assert (good["error"] == "").all()
    assert good["success_rate"].notna().all()
    # a resume with another grid is refused; the same grid has nothing left to do
    other = parse_grid(["calibration=null"], short)
    with pytest.raises(SweepError, match="different grid"):
        run_sweep(short, other, 2, tmp_path / "out", resume=True)
    with pytest.raises(SweepError, match="already holds a sweep"):
        run_sweep(short, grid, 2, tmp_path / "out")
    again = run_sweep(short, grid, 2, tmp_path / "out", resume=True)
    assert len(again.rows) == len(rows)


def test_bad_grid_key_exits_2_with_one_line() -> None:
    result = CliRunner().invoke(app, ["sweep", "baseline", "--grid", "cluster.server=2,3"])
    assert result.exit_code == 2
    assert result.stderr == "error: --grid: cluster.server: unknown key (did you mean 'servers'?)\n"


def _data_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return max(path.read_bytes().count(b"\n") - 1, 0)


@pytest.mark.slow  # two `python -m simulator sweep` subprocesses
def test_resume_after_kill_runs_every_task_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "simulator",
        "sweep",
        "baseline",
        "--grid",
        "cluster.servers=2,3,4",
        "--grid",
        "load_balancer.policy=round_robin,random",
        "-r",
        "2",
        "--workers",
        "1",
        "--out",
        str(out),
        *(f"--set={item}" for item in ["duration_s=8", "warmup_s=1", "strategies=[local,jwt]"]),
    ]
    results = out / "results.csv"
    child = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the pool's processes die with it
    )
    try:
        deadline = time.monotonic() + 600  # rows come in seconds; a loaded machine is slower
        while _data_lines(results) < 2 and time.monotonic() < deadline:
            if child.poll() is not None:
                break
            time.sleep(0.02)
    finally:
        with_rows = _data_lines(results)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert with_rows >= 2, "the sweep wrote no rows before the deadline"
    interrupted = _data_lines(results)
    assert interrupted < 6 * 2 * 2, "the sweep finished before it was killed"

    finished = subprocess.run(
        [*command, "--resume"], capture_output=True, text=True, timeout=900, check=False
    )
    assert finished.returncode == 0, finished.stderr
    text = results.read_text(encoding="utf-8")
    assert text.endswith("\n")
    with results.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    header, body = lines[0], lines[1:]
    assert all(len(line) == len(header) for line in body)
    keys = [(line[0], line[1], line[2]) for line in body]
    expected = {
        (str(point), str(replication), strategy)
        for point in range(6)
        for replication in range(2)
        for strategy in ("local", "jwt")
    }
    assert len(keys) == len(set(keys))
    assert set(keys) == expected
    assert all(line[-1] == "" for line in body)
    assert (out / "summary.csv").exists()


def test_missing_dask_names_the_extra(
    short: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib  # noqa: PLC0415

    real = importlib.import_module

    def no_dask(name: str, package: str | None = None) -> object:
        if name == "distributed":
            raise ModuleNotFoundError("No module named 'distributed'")
        return real(name, package)

    monkeypatch.setattr("simulator.experiments.sweep.importlib.import_module", no_dask)
    grid = parse_grid(["cluster.servers=2"], short)
    with pytest.raises(SweepError) as caught:
        run_sweep(short, grid, 1, tmp_path / "out", scheduler="local")
    assert not (tmp_path / "out").exists()
    assert str(caught.value) == (
        "--scheduler local: Dask is not installed; pip install 'authsim[dask]' "
        "(or pip install -e '.[dask]' in a checkout)"
    )


def test_expected_requests_grows_with_rate_duration_and_strategies(short: Scenario) -> None:
    base = expected_requests(short)
    assert base == pytest.approx(short.workload.arrival_rate_per_s * short.duration_s * 2)
    assert expected_requests(short.with_overrides({"workload.arrival_rate_per_s": 400})) > base
    assert expected_requests(short.with_overrides({"duration_s": 10})) > base
    assert expected_requests(short.with_overrides({"strategies": ["local"]})) < base


@pytest.mark.slow  # a forkserver process pool
def test_tasks_run_longest_first_and_rows_end_in_grid_order(
    short: Scenario, tmp_path: Path
) -> None:
    grid = {"workload.arrival_rate_per_s": [20, 80, 40]}
    result = run_sweep(short, grid, 1, tmp_path, workers=1)
    # One worker finishes tasks in the order they were submitted: the largest rate first.
    with (tmp_path / "results.csv").open(newline="", encoding="utf-8") as handle:
        finished = list(dict.fromkeys(int(row["point"]) for row in csv.DictReader(handle)))
    assert finished == [1, 2, 0]
    assert list(dict.fromkeys(result.rows["point"])) == [0, 1, 2]
