"""Leftovers of a process killed while writing (``kill -9`` during ``authsim run --out``):
the next write into the folder removes them, never a live process's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.atomic import remove_stale, write_folder
from simulator.cli.app import app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process ids checked by signal 0")

OLD = time.time() - 3 * 24 * 3600


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _staging(folder: Path, name: str, *, old: bool = True) -> Path:
    path = folder / name
    path.mkdir()
    (path / "requests.csv").write_text("half a file")
    if old:
        os.utime(path, (OLD, OLD))
    return path


def test_remove_stale_removes_only_what_dead_processes_left(tmp_path: Path) -> None:
    dead = _dead_pid()
    gone = [
        _staging(tmp_path, f".authsim-{dead}-abcd1234"),
        _staging(tmp_path, ".authsim-legacy_1"),  # an older version's name, days old
        tmp_path / f".results.csv.{dead}.0123abcd.tmp",
    ]
    gone[-1].write_text("partial")
    os.utime(gone[-1], (OLD, OLD))
    kept = [
        _staging(tmp_path, f".authsim-{os.getpid()}-abcd1234"),  # this process
        _staging(tmp_path, f".authsim-{os.getppid()}-abcd1234"),  # a live process
        _staging(tmp_path, f".authsim-{dead}-newer123", old=False),  # newer than this run
        _staging(tmp_path, ".authsim-legacy_2", old=False),  # no id, recent: may be live
        tmp_path / f".authsim-{dead}-notadir1",  # a file, not a staging folder
        tmp_path / "results.csv",
    ]
    for path in kept[-2:]:
        path.write_text("keep")
        os.utime(path, (OLD, OLD))
    assert sorted(remove_stale(tmp_path)) == sorted(gone)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_write_folder_removes_a_killed_writers_staging_folder(tmp_path: Path) -> None:
    stale = _staging(tmp_path, f".authsim-{_dead_pid()}-abcd1234")
    written = write_folder(tmp_path, lambda staging: (staging / "a.txt").write_text("a"))
    assert written == [tmp_path / "a.txt"]
    assert not stale.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.slow  # a real `authsim run --out` in a subprocess
def test_run_out_cleans_the_staging_folder_of_a_killed_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    stale = _staging(out, f".authsim-{_dead_pid()}-abcd1234")
    result = CliRunner().invoke(
        app,
        ["run", "baseline", "--out", str(out), "--set", "duration_s=2", "--set", "warmup_s=0.5"],
    )
    assert result.exit_code == 0, result.stderr
    assert not stale.exists()
    assert not [path for path in out.iterdir() if path.name.startswith(".")]
