"""Every process a sweep starts is gone when ``authsim sweep`` exits.

Each test runs ``authsim sweep`` with 2 workers as a subprocess (in its own session, as a
terminal would run it) and records, while it runs, every process descending from it: the
pool's workers and the forkserver they fork from, multiprocessing's resource tracker, or
Dask's nannies and workers. Once the command has exited, none of them may be left: a
process that reads the end of a pipe to know its parent is gone (the forkserver, the
resource tracker) gets a few seconds to notice, nothing more. The signal tests stop the
sweep once its first task is in ``results.csv`` and also check that it leaves only whole
tasks behind and no summary. Processes are matched by PID and start time, so a reused
PID is never mistaken for a survivor; any survivor is killed (by PID) after the check.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.cli import INTERRUPTED_EXIT_CODE

psutil = pytest.importorskip("psutil")  # in the dev extra (through distributed)

pytestmark = [
    pytest.mark.slow,  # subprocesses, process pools, Dask
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and sessions"),
]

AUTHSIM = Path(sys.executable).with_name("authsim")
WAIT_S = 180.0
"""The most a sweep gets to write its first task or to end (a loaded machine is slow)."""
GRACE_S = 10.0
"""How long after the command's exit a descendant may take to notice and end."""
GRID = ["--grid", "cluster.servers=2,3,4", "--grid", "load_balancer.policy=round_robin,random"]
LONG = ["--set=duration_s=60", "--set=warmup_s=1", "--set=strategies=[local,jwt]"]
"""12 tasks of a few seconds each: a sweep that is still running when signalled."""
SHORT = ["--set=duration_s=4", "--set=warmup_s=1", "--set=strategies=[local,jwt]"]


def _data_rows(path: Path) -> int:
    if not path.exists():
        return 0
    return max(path.read_bytes().count(b"\n") - 1, 0)


class Sweep:
    """``authsim sweep`` in a subprocess, with every descendant it ever had."""

    def __init__(self, out: Path, extra: list[str], *, scheduler: str | None = None) -> None:
        command = [str(AUTHSIM), "sweep", "baseline", *GRID, "-r", "1", "--workers", "2"]
        command += ["--out", str(out), *extra]
        if scheduler is not None:
            command += ["--scheduler", scheduler]
        self.out = out
        self.seen: dict[tuple[int, float], str] = {}
        self.stderr = out.with_name(f"{out.name}.stderr")  # a file: no pipe to fill or hold
        with self.stderr.open("wb") as stderr:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
            )
        self.root = psutil.Process(self.process.pid)

    def record(self) -> None:
        """Add the current descendants to :attr:`seen`."""
        try:
            children = self.root.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                key = (child.pid, child.create_time())
                self.seen.setdefault(key, " ".join(child.cmdline())[:120])
            except psutil.Error:
                continue

    def run_until(self, ready: bool | None = None) -> None:
        """Record descendants until the command exits, or until the first task is in
        ``results.csv`` when ``ready`` is asked for (then at least one more sample)."""
        deadline = time.monotonic() + WAIT_S
        while self.process.poll() is None and time.monotonic() < deadline:
            self.record()
            if ready and _data_rows(self.out / "results.csv") > 0:
                self.record()
                return
            time.sleep(0.02)
        if self.process.poll() is None:
            self.kill_all()
            pytest.fail(f"the sweep did not {'start' if ready else 'end'} in {WAIT_S:.0f} s")

    def finish(self) -> tuple[int, str]:
        """Wait for the command's exit; its exit code and stderr."""
        try:
            code = self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill_all()
            pytest.fail(f"the sweep did not exit within {WAIT_S:.0f} s of the signal")
        return code, self.stderr.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> list[str]:
        """The recorded descendants still running (zombies count as gone)."""
        found = []
        for (pid, started), command in self.seen.items():
            try:
                process = psutil.Process(pid)
                if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(f"{pid} {command}")
            except psutil.Error:
                continue
        return found

    def survivors(self) -> list[str]:
        """The descendants still running ``GRACE_S`` after the exit (killed, then named)."""
        deadline = time.monotonic() + GRACE_S
        left = self.alive()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.alive()
        self.kill_all()
        return left

    def kill_all(self) -> None:
        """SIGKILL the command and every recorded descendant still running, by PID."""
        if self.process.poll() is None:
            self.process.kill()
        for (pid, started), _command in self.seen.items():
            try:
                process = psutil.Process(pid)
                if process.create_time() == started:
                    process.kill()
            except psutil.Error:
                continue
        self.process.wait(timeout=WAIT_S)


def assert_whole_tasks_only(out: Path) -> None:
    """``results.csv`` holds whole rows only, ``sweep.json`` is whole, no summary and no
    staging file were left."""
    results = out / "results.csv"
    text = results.read_text(encoding="utf-8")
    assert text.endswith("\n")
    with results.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert rows, "no task finished before the signal"
    assert all(len(row) == len(header) for row in rows)
    assert len(rows) < 6 * 2, "the sweep finished before the signal"
    assert json.loads((out / "sweep.json").read_text(encoding="utf-8"))["grid"]
    assert not (out / "summary.csv").exists()
    names = sorted(path.name for path in out.iterdir())
    # the lock file stays only after kill -9 (the kernel has released its lock)
    assert [name for name in names if name != ".sweep.lock"] == ["results.csv", "sweep.json"]


def test_a_finished_sweep_leaves_no_process(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path / "out", SHORT)
    sweep.run_until()
    code, stderr = sweep.finish()
    assert code == 0, stderr
    assert (tmp_path / "out" / "summary.csv").exists()
    assert len(sweep.seen) >= 2, f"saw no pool workers: {sweep.seen}"
    assert sweep.survivors() == []


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [
        (signal.SIGINT, False),  # kill -INT <pid>: the workers get no signal
        (signal.SIGINT, True),  # Ctrl-C in a terminal: the whole process group
        (signal.SIGTERM, False),  # kill <pid>
        (signal.SIGTERM, True),  # a supervisor stopping the process group
        (signal.SIGKILL, False),  # kill -9 <pid>: no clean-up at all in the command
    ],
    ids=["sigint", "sigint-group", "sigterm", "sigterm-group", "sigkill"],
)
def test_a_signalled_sweep_leaves_no_process_and_whole_tasks(
    tmp_path: Path, signum: signal.Signals, whole_group: bool
) -> None:
    out = tmp_path / "out"
    sweep = Sweep(out, LONG)
    try:
        sweep.run_until(ready=True)
        assert len(sweep.seen) >= 2, f"saw no pool workers: {sweep.seen}"
        if whole_group:
            os.killpg(sweep.process.pid, signum)
        else:
            sweep.process.send_signal(signum)
        code, stderr = sweep.finish()
    finally:
        left = sweep.survivors()
    assert left == [], f"left running after the sweep exited: {left}"
    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == INTERRUPTED_EXIT_CODE, stderr
        assert "Traceback" not in stderr
        assert "rerun with --resume" in stderr
    assert_whole_tasks_only(out)


def test_a_dask_sweep_leaves_no_process(tmp_path: Path) -> None:
    pytest.importorskip("distributed")  # the optional 'dask' extra
    sweep = Sweep(tmp_path / "done", SHORT, scheduler="local")
    sweep.run_until()
    code, stderr = sweep.finish()
    left = sweep.survivors()
    assert code == 0, stderr
    assert left == [], f"left running after the sweep exited: {left}"
    assert len(sweep.seen) >= 2, f"saw no Dask workers: {sweep.seen}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signalled_dask_sweep_leaves_no_process(tmp_path: Path, signum: signal.Signals) -> None:
    pytest.importorskip("distributed")  # the optional 'dask' extra
    out = tmp_path / "out"
    sweep = Sweep(out, LONG, scheduler="local")
    try:
        sweep.run_until(ready=True)
        sweep.process.send_signal(signum)
        code, stderr = sweep.finish()
    finally:
        left = sweep.survivors()
    assert left == [], f"left running after the sweep exited: {left}"
    assert code == INTERRUPTED_EXIT_CODE, stderr
    assert "rerun with --resume" in stderr
    assert_whole_tasks_only(out)


def test_a_sweep_with_a_failing_task_leaves_no_process(tmp_path: Path) -> None:
    # a calibration profile that does not exist passes validation but fails in the task
    extra = [*SHORT, "--grid", "calibration=null,/nonexistent/profile.json"]
    sweep = Sweep(tmp_path / "out", extra)
    sweep.run_until()
    code, stderr = sweep.finish()
    left = sweep.survivors()
    assert left == [], f"left running after the sweep exited: {left}"
    assert len(sweep.seen) >= 2, f"saw no pool workers: {sweep.seen}"
    assert code == 0, stderr
    errors = [row["error"] for row in csv.DictReader((tmp_path / "out" / "results.csv").open())]
    assert any("profile.json" in error for error in errors)
    assert (tmp_path / "out" / "summary.csv").exists()


def test_an_error_in_the_sweep_itself_ends_its_workers(tmp_path: Path) -> None:
    # in this process: the progress callback raises once the pool is busy
    import multiprocessing.forkserver  # noqa: PLC0415

    from simulator.experiments.sweep import parse_grid, run_sweep  # noqa: PLC0415
    from simulator.scenario.loading import load_scenario  # noqa: PLC0415

    scenario = load_scenario("baseline", [item.removeprefix("--set=") for item in LONG])
    grid = parse_grid([GRID[1], GRID[3]], scenario)
    workers: list[tuple[int, float]] = []

    def progress(done: int, _total: int, _failures: int) -> None:
        if done == 0:
            return
        server = multiprocessing.forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        for child in psutil.Process(server).children():
            workers.append((child.pid, child.create_time()))
        raise RuntimeError("the sweep itself failed")

    with pytest.raises(RuntimeError, match="the sweep itself failed"):
        run_sweep(scenario, grid, 1, tmp_path / "out", workers=2, progress=progress)
    assert len(workers) == 2
    deadline = time.monotonic() + GRACE_S
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [(pid, started) for pid, started in alive if _running(pid, started)]
    for pid, _ in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == []


def _running(pid: int, started: float) -> bool:
    try:
        process = psutil.Process(pid)
        return process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
