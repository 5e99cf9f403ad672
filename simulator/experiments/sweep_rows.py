"""A sweep's ``results.csv`` and output folder: whole tasks only, one writer at a time.

A *task* (one point × replication, :mod:`simulator.experiments.sweep`) gives one row per
strategy. :class:`ResultsFile` appends all the rows of a task with one ``write`` on a file
opened with ``O_APPEND`` and fsyncs it, so a task is normally all there or absent; a short
write (disk full, quota) or a crash can still leave part of one.
:func:`keep_whole_tasks` is what ``--resume`` reads: it keeps only the tasks that have a
row for every strategy, rewrites the file atomically without the others (a torn last
line, a partial task, a duplicated row, a task lost to a dead worker process) and returns
the tasks that are done, so that the rest run again.

:func:`folder_lock` holds an exclusive lock on the output folder while a sweep writes to
it: a second sweep into the same folder stops at once instead of writing every row twice.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from simulator.atomic import atomic_file
from simulator.errors import AuthsimError, one_line

if sys.platform != "win32":
    import fcntl

LOCK_FILE = ".sweep.lock"
"""The lock file in a sweep's folder (holds the writing process's id while it runs)."""

LOST_ERRORS: tuple[str, ...] = ("BrokenProcessPool", "BrokenExecutor", "KilledWorker")
"""Error-column prefixes of tasks whose worker process died (recorded by versions before
the pool was restarted): such a task did not fail, it never ran, and resume reruns it."""

Task = tuple[int, int]
"""A task: ``(point, replication)``."""


class SweepError(AuthsimError):
    """A sweep that cannot start: a missing extra, a scheduler, an output folder."""


class SweepLockedError(SweepError):
    """Another sweep holds the output folder's lock."""


def cell(value: Any) -> str:
    """One CSV cell: floats in their shortest exact form (read back bit for bit), lists
    and mappings as JSON, text on one line."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return one_line(str(value))


def encode(rows: Sequence[Mapping[str, Any]], header: Sequence[str]) -> bytes:
    """``rows`` as CSV lines (one line per row: :func:`cell` keeps every cell on one)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in header])
    return buffer.getvalue().encode("utf-8")


def write_all(fd: int, data: bytes) -> None:
    """One ``write`` call for the whole chunk (loop only if the kernel wrote less)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class ResultsFile:
    """``results.csv``, appended one whole task at a time (``O_APPEND``, one write, then
    ``fsync``, so a finished task survives a power cut as well as a kill)."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.header = list(header)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self.fd).st_size == 0:
            self._write(encode([dict(zip(self.header, self.header, strict=True))], header))

    def _write(self, data: bytes) -> None:
        write_all(self.fd, data)
        os.fsync(self.fd)

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append the rows of one task."""
        self._write(encode(rows, self.header))

    def close(self) -> None:
        """Close the file."""
        os.close(self.fd)


def _parse(line: bytes, width: int) -> tuple[Task, str, str] | None:
    """``((point, replication), strategy, error)`` of one data line, or ``None`` if it is
    not a whole row."""
    try:
        row = next(csv.reader([line.decode("utf-8")]))
        if len(row) != width:
            return None
        return (int(row[0]), int(row[1])), row[2], row[-1]
    except (ValueError, IndexError, StopIteration, UnicodeDecodeError, csv.Error):
        return None


def keep_whole_tasks(
    path: Path, header: Sequence[str], expected: Mapping[Task, Sequence[str]]
) -> set[Task]:
    """The tasks in ``results.csv`` that have one row for each of their strategies.

    ``expected`` maps every task of the sweep to its strategy names. Everything else (a
    torn last line, a row that is not whole, a task missing some of its strategies or
    lost to a dead worker, a second copy of a row, a task not in the sweep) is removed
    from the file, which is rewritten atomically (:func:`simulator.atomic.atomic_file`)
    only when something is removed, the kept lines byte for byte and in their order.

    Raises:
        SweepError: the file's header is not ``header`` (another sweep's file).
    """
    if not path.exists() or path.stat().st_size == 0:
        return set()
    lines = path.read_bytes().split(b"\n")
    changed = lines.pop() != b""  # the text after the last newline: a torn line
    if not lines:  # not even a whole header: start the file again
        path.write_bytes(b"")
        return set()
    try:
        columns = next(csv.reader([lines[0].decode("utf-8")]))
    except (StopIteration, UnicodeDecodeError, csv.Error):
        columns = []
    if columns != list(header):
        raise SweepError(f"{path}: columns differ from this sweep's; use another --out")
    found: dict[Task, dict[str, int]] = {}  # task -> strategy -> index of its first line
    lost: set[Task] = set()
    for index, line in enumerate(lines[1:], start=1):
        parsed = _parse(line, len(header))
        if parsed is None or parsed[0] not in expected:
            continue
        task, strategy, error = parsed
        if error.startswith(LOST_ERRORS):
            lost.add(task)
        found.setdefault(task, {}).setdefault(strategy, index)
    done = {
        task
        for task, rows in found.items()
        if task not in lost and sorted(rows) == sorted(expected[task])
    }
    keep = {0, *(index for task in done for index in found[task].values())}
    if changed or len(keep) != len(lines):
        with atomic_file(path) as handle:
            handle.write(b"".join(lines[index] + b"\n" for index in sorted(keep)))
    return done


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (``flock`` on :data:`LOCK_FILE`, which holds
    this process's id) while the block runs; the lock file is removed at the end.

    The kernel releases the lock when the process dies, however it dies, so a killed
    sweep never blocks the next one (its lock file is reused). No lock on Windows.

    Raises:
        SweepLockedError: another process holds the lock: ``another sweep is writing DIR
            (pid N)``.
    """
    if sys.platform == "win32":
        yield
        return
    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise SweepLockedError(f"another sweep is writing {folder} (pid {owner})") from None
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:  # not a file the last holder removed while we waited to lock it
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked: a waiting opener sees another inode
        os.close(fd)
