"""Sweep integrity: every way a sweep is cut short ends in the rows of an uninterrupted
sweep, or in a non-zero exit that says what is missing.

A short write at a row boundary (disk full), two ``--resume`` runs into one folder, a
worker process killed (an OOM kill) once or every time, and the sweep's own process
killed: after each, the rows of ``results.csv`` (after ``--resume`` where one is needed)
are compared bit for bit with those of a sweep that ran undisturbed. Every process a
test starts is checked gone by PID (and start time) at its end.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.experiments import sweep as sweep_module
from simulator.experiments import sweep_rows
from simulator.experiments.sweep import (
    SweepIncompleteError,
    parse_grid,
    read_rows,
    run_sweep,
)
from simulator.experiments.sweep_rows import SweepLockedError
from simulator.scenario.loading import load_scenario
from simulator.scenario.models import Scenario

psutil = pytest.importorskip("psutil")  # in the dev extra (through distributed)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX locks and signals")

SETS = ["duration_s=30", "warmup_s=1"]
"""Tasks of a fraction of a second, each with the baseline's 4 strategies."""
GRID = ["cluster.servers=2,3,4"]
REPLICATIONS = 2
TASKS = 3 * REPLICATIONS
KEYS = ["point", "replication", "strategy"]
AUTHSIM = Path(sys.executable).with_name("authsim")
WAIT_S = 180.0
GRACE_S = 10.0


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("baseline", SETS)


@pytest.fixture(scope="module")
def reference(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The rows of the sweep run undisturbed (in-process pool, 2 workers)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    result = run_sweep(scenario, parse_grid(GRID, scenario), REPLICATIONS, out, workers=2)
    assert result.failures == 0
    assert len(result.rows) == TASKS * 4
    return _sorted(result.rows)


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values(KEYS, ignore_index=True)


def assert_same_rows(out: Path, reference: pd.DataFrame) -> None:
    """``results.csv`` in ``out`` holds exactly the reference rows (once each), and the
    summary counts every replication."""
    rows = _sorted(read_rows(out / "results.csv"))
    assert not rows.duplicated(KEYS).any()
    pd.testing.assert_frame_equal(rows, reference, check_exact=True)
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["replications"] == REPLICATIONS).all()


# ------------------------------------------------------------- keep_whole_tasks


HEADER = ["point", "replication", "strategy", "seed", "error"]
EXPECTED = {(0, 0): ["a", "b"], (0, 1): ["a", "b"], (1, 0): ["a", "b"]}


def test_keep_whole_tasks_drops_partial_duplicated_and_lost_tasks(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    lines = [
        "point,replication,strategy,seed,error",
        "0,0,a,7,",
        "0,0,b,7,",
        "0,1,a,7,",  # half a task: a short write
        "1,0,a,7,BrokenProcessPool: a process terminated abruptly",
        "1,0,b,7,BrokenProcessPool: a process terminated abruptly",
        "0,0,a,7,",  # a second copy
        "9,0,a,7,",  # not a task of this sweep
    ]
    path.write_bytes(("\n".join(lines) + "\n0,1,b,7").encode())  # and a torn last line
    done = sweep_rows.keep_whole_tasks(path, HEADER, EXPECTED)
    assert done == {(0, 0)}
    assert path.read_text() == "point,replication,strategy,seed,error\n0,0,a,7,\n0,0,b,7,\n"
    assert [item.name for item in tmp_path.iterdir()] == ["results.csv"]


def test_keep_whole_tasks_leaves_a_whole_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("point,replication,strategy,seed,error\n0,0,b,7,\n0,0,a,7,boom\n")
    before = path.stat()
    assert sweep_rows.keep_whole_tasks(path, HEADER, EXPECTED) == {(0, 0)}
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_keep_whole_tasks_refuses_another_sweeps_file(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("point,replication,strategy,other,error\n")
    with pytest.raises(sweep_rows.SweepError, match="columns differ"):
        sweep_rows.keep_whole_tasks(path, HEADER, EXPECTED)


# ------------------------------------------------------------- a short write


@pytest.mark.slow  # a forkserver process pool
def test_a_short_write_at_a_row_boundary_is_rerun_on_resume(
    scenario: Scenario,
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = sweep_rows.write_all
    calls: list[int] = []

    def disk_fills(fd: int, data: bytes) -> None:
        calls.append(len(data))
        if len(calls) == 3:  # the header, a task, then half of the next task
            real(fd, b"".join(data.splitlines(keepends=True)[:2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(sweep_rows, "write_all", disk_fills)
    out = tmp_path / "out"
    grid = parse_grid(GRID, scenario)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(scenario, grid, REPLICATIONS, out, workers=1)
    monkeypatch.setattr(sweep_rows, "write_all", real)
    assert (out / "results.csv").read_bytes().count(b"\n") == 1 + 4 + 2  # 2 of 4 rows
    assert not (out / "summary.csv").exists()
    progress: list[tuple[int, int, int]] = []
    result = run_sweep(
        scenario,
        grid,
        REPLICATIONS,
        out,
        workers=1,
        resume=True,
        progress=lambda *args: progress.append(args),
    )
    assert progress[0] == (1, TASKS, 0)  # only the whole task was kept
    assert result.failures == 0
    assert_same_rows(out, reference)
    # a whole sweep resumed runs nothing
    progress.clear()
    run_sweep(
        scenario, grid, REPLICATIONS, out, resume=True, progress=lambda *a: progress.append(a)
    )
    assert progress == [(TASKS, TASKS, 0)]
    assert_same_rows(out, reference)


# ------------------------------------------------------------- processes


def _command(out: Path, *extra: str) -> list[str]:
    sets = [f"--set={item}" for item in SETS]
    grid = ["--grid", GRID[0], "-r", str(REPLICATIONS), "--workers", "1"]
    return [str(AUTHSIM), "sweep", "baseline", *grid, "--out", str(out), *sets, *extra]


class Child:
    """A command in a subprocess (its own session), with every descendant it ever had,
    matched by PID and start time."""

    def __init__(self, command: list[str], stderr: Path) -> None:
        self.stderr = stderr
        with stderr.open("wb") as handle:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=handle, start_new_session=True
            )
        self.root = psutil.Process(self.process.pid)
        self.seen: dict[tuple[int, float], str] = {}

    def record(self) -> None:
        """Add the current descendants to :attr:`seen`."""
        with contextlib.suppress(psutil.Error):
            for child in self.root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.seen.setdefault((child.pid, child.create_time()), child.name())

    def wait_for(self, ready: Callable[[], bool]) -> None:
        """Record descendants until ``ready()`` (the test fails if the command ends or
        the time runs out first)."""
        deadline = time.monotonic() + WAIT_S
        while not ready():
            self.record()
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill_all()
                pytest.fail(f"the sweep ended or stalled before it was ready: {self.read()}")
            time.sleep(0.01)
        self.record()

    def finish(self) -> int:
        """Wait for the exit; the exit code."""
        try:
            return self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill_all()
            pytest.fail(f"the sweep did not exit within {WAIT_S:.0f} s")

    def read(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def survivors(self) -> list[str]:
        """Descendants still running ``GRACE_S`` after the exit (then killed, by PID)."""
        deadline = time.monotonic() + GRACE_S
        left = _alive(self.seen)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = _alive(self.seen)
        self.kill_all()
        return left

    def kill_all(self) -> None:
        """SIGKILL the command and its recorded descendants still running, by PID."""
        if self.process.poll() is None:
            self.process.kill()
        for pid, started in self.seen:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if process.create_time() == started:
                    process.kill()
        self.process.wait(timeout=WAIT_S)


def _alive(seen: dict[tuple[int, float], str]) -> list[str]:
    found = []
    for (pid, started), name in seen.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{pid} {name}")
    return found


def _data_rows(path: Path) -> int:
    return max(path.read_bytes().count(b"\n") - 1, 0) if path.exists() else 0


@pytest.mark.slow  # a sweep subprocess and its pool
def test_two_concurrent_resumes_one_is_refused(reference: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "out"
    lock = out / ".sweep.lock"
    first = Child(_command(out, "--resume"), tmp_path / "first.stderr")
    try:
        first.wait_for(lambda: lock.exists() and lock.read_text().strip() != "")
        second = CliRunner().invoke(app, _command(out, "--resume")[1:])
        still_running = first.process.poll() is None
        code = first.finish()
    finally:
        left = first.survivors()
    assert still_running, "the first sweep ended before the second started"
    assert second.exit_code == 2
    assert second.stderr == f"error: another sweep is writing {out} (pid {first.process.pid})\n"
    assert code == 0, first.read()
    assert left == [], f"left running: {left}"
    assert not lock.exists()
    assert_same_rows(out, reference)


@pytest.mark.slow  # a sweep subprocess, killed, then resumed in a pool
def test_a_killed_parent_leaves_no_process_and_resume_completes(
    scenario: Scenario, reference: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    child = Child(_command(out), tmp_path / "sweep.stderr")
    try:
        child.wait_for(lambda: _data_rows(out / "results.csv") > 0)
        os.kill(child.process.pid, signal.SIGKILL)
        code = child.finish()
    finally:
        left = child.survivors()
    assert code == -signal.SIGKILL
    assert len(child.seen) >= 1, "saw no pool worker"
    assert left == [], f"left running after kill -9: {left}"
    assert _data_rows(out / "results.csv") < TASKS * 4, "the sweep finished before the kill"
    result = run_sweep(
        scenario, parse_grid(GRID, scenario), REPLICATIONS, out, workers=1, resume=True
    )
    assert result.failures == 0
    assert_same_rows(out, reference)


@pytest.mark.slow  # a forkserver process pool, restarted
def test_a_killed_worker_is_replaced_and_its_tasks_rerun(
    scenario: Scenario, reference: pd.DataFrame, tmp_path: Path
) -> None:
    seen: dict[tuple[int, float], str] = {}
    killed: list[int] = []

    def progress(done: int, _total: int, _failures: int) -> None:
        if done == 0:  # no pool yet: no forkserver to look under
            return
        server = multiprocessing.forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        workers = psutil.Process(server).children()
        for worker in workers:
            with contextlib.suppress(psutil.Error):
                seen.setdefault((worker.pid, worker.create_time()), "pool worker")
        if not killed and workers:
            killed.append(workers[0].pid)
            os.kill(workers[0].pid, signal.SIGKILL)  # as the OOM killer does

    out = tmp_path / "out"
    grid = parse_grid(GRID, scenario)
    try:
        result = run_sweep(scenario, grid, REPLICATIONS, out, workers=2, progress=progress)
    finally:
        deadline = time.monotonic() + GRACE_S
        left = _alive(seen)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = _alive(seen)
        for item in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(item.split()[0]), signal.SIGKILL)
    assert killed
    assert len(seen) > 2, "the pool was not restarted"
    assert left == [], f"left running: {left}"
    assert result.failures == 0
    assert_same_rows(out, reference)


class _DyingExecutor(Executor):
    """Runs tasks in this process; the worker of every task of point 1 dies."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if args[1] == 1:
            future.set_exception(BrokenProcessPool("a process terminated abruptly"))
        else:
            future.set_result(fn(*args, **kwargs))
        return future


@pytest.mark.slow  # runs whole sweeps (in this process, a pool stands in)
def test_a_worker_that_always_dies_fails_the_sweep_and_resume_reruns_it(
    scenario: Scenario,
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pools: list[int] = []

    @contextlib.contextmanager
    def dying(_workers: int | None, _scheduler: str | None, tasks: int) -> Iterator[Executor]:
        pools.append(tasks)
        yield _DyingExecutor()

    monkeypatch.setattr(sweep_module, "_executor", dying)
    out = tmp_path / "out"
    grid = parse_grid(GRID, scenario)
    with pytest.raises(SweepIncompleteError) as caught:
        run_sweep(scenario, grid, REPLICATIONS, out)
    assert pools == [TASKS, 2, 2]  # the first pool, then 2 restarts for the 2 lost tasks
    message = str(caught.value)
    assert message.startswith("2 of 6 tasks did not finish: a worker process died")
    assert message.endswith("rerun with --resume to run them")
    rows = read_rows(out / "results.csv")
    assert sorted(rows["point"].unique()) == [0, 2]
    assert (rows["error"] == "").all()
    assert not (out / "summary.csv").exists()
    assert not (out / ".sweep.lock").exists()
    # the command line: one line, a non-zero exit
    cli = CliRunner().invoke(app, _command(out, "--resume")[1:])
    assert cli.exit_code == 2
    assert cli.stderr.count("\n") == 1
    assert cli.stderr.startswith("error: 2 of 6 tasks did not finish")
    assert "--resume" in cli.stderr
    monkeypatch.undo()
    result = run_sweep(scenario, grid, REPLICATIONS, out, workers=1, resume=True)
    assert result.failures == 0
    assert_same_rows(out, reference)


def test_a_locked_folder_is_refused_before_anything_is_written(
    scenario: Scenario, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with sweep_rows.folder_lock(out):
        with pytest.raises(SweepLockedError) as caught:
            run_sweep(scenario, parse_grid(GRID, scenario), REPLICATIONS, out)
        assert str(caught.value) == f"another sweep is writing {out} (pid {os.getpid()})"
        assert sorted(path.name for path in out.iterdir()) == [".sweep.lock"]
    assert list(out.iterdir()) == []
