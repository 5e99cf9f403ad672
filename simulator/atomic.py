"""Writing files so that a reader never sees half of one.

Every result file authsim writes goes to a temporary file beside its target and is renamed
over it only once complete (``os.replace`` is atomic on one file system). A failed or
interrupted write leaves the old file, or none, never a truncated one. A folder of several
files (:func:`write_folder`) is written the same way, file by file.

A process killed outright (``kill -9``, an OOM kill) cannot remove its temporary file or
staging folder; their names hold the process's id, and :func:`remove_stale` (called by
:func:`write_folder` and by a sweep on the folder it writes to) removes those whose
process is gone.

This module is the one place that does atomic writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

STAGING_PREFIX = ".authsim-"
"""The name of every staging folder starts so; then the owner's process id and ``-``."""

STARTED = time.time()
"""When this process started writing (module import): only older leftovers are stale."""

LEGACY_AGE_S = 24 * 3600.0
"""Age after which a staging folder named without a process id (an older version's) is
stale: no run spends a day writing its files."""

_STAGING = re.compile(r"\.authsim-(?:(\d+)-)?[a-z0-9_]{8}")
_TEMPORARY = re.compile(r"\..+\.(\d+)\.[0-9a-f]{8}\.tmp")


def _staging_prefix() -> str:
    return f"{STAGING_PREFIX}{os.getpid()}-"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on Windows, always assumed: never remove there)."""
    if sys.platform == "win32" or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def remove_stale(folder: Path | str) -> list[Path]:
    """Remove the staging folders and temporary files in ``folder`` that processes killed
    outright left behind: named after a process that no longer exists and older than
    this process's run (a name without a process id: older than :data:`LEGACY_AGE_S`).
    A live process's files are never touched. Errors are ignored (a clean-up only).

    Returns:
        What was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        staging = _STAGING.fullmatch(entry.name)
        match = staging or _TEMPORARY.fullmatch(entry.name)
        try:
            if match is None or entry.is_symlink():
                continue
            if staging is not None and not entry.is_dir():
                continue
            if staging is None and not entry.is_file():
                continue
            age = time.time() - entry.stat().st_mtime
            if match.group(1) is None:
                stale = age > LEGACY_AGE_S
            else:
                stale = entry.stat().st_mtime < STARTED and not _alive(int(match.group(1)))
            if not stale:
                continue
            if staging is not None:
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; on success it replaces ``path``.

    For writers that want a path (``DataFrame.to_csv``); the temporary file is removed if
    the block raises, including on Ctrl-C.
    """
    target = Path(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield temp
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


@contextlib.contextmanager
def atomic_file(path: Path | str) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``path`` when the block ends without error.

    The data is flushed to disk before the rename, so a crash right after cannot leave an
    empty file under the final name.
    """
    with atomic_path(path) as temp:
        # O_EXCL: never reuse an existing file; 0o666 lets the umask decide permissions.
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))
    return Path(path)


def folder_problem(folder: Path | str) -> str | None:
    """Why files cannot be written into ``folder``, or ``None`` if they can.

    A check before any work that leaves nothing behind: ``folder`` must be a writable
    folder, or be missing from a writable folder that exists (only the last folder of a
    path is ever created, never its parents). Writability is tried, not guessed from
    permission bits: a staging folder is made and removed. The reason names the path.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder"
    where = path if path.exists() else path.absolute().parent
    if where.exists() and not where.is_dir():
        return f"{where} is a file, not a folder"
    if not where.is_dir():
        return f"{where} does not exist (only the last folder of a path is created)"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=_staging_prefix(), dir=where))
    except OSError as exc:
        return f"{where} is not writable ({exc.strerror or exc})"
    return None


def file_problem(path: Path | str) -> str | None:
    """Why the file ``path`` cannot be written, or ``None`` (see :func:`folder_problem`)."""
    return folder_problem(Path(path).absolute().parent)


def write_folder(out_dir: Path | str, write: Callable[[Path], object]) -> list[Path]:
    """Write several files into ``out_dir``, each one complete or absent.

    ``write(staging)`` writes its files into a fresh staging folder inside ``out_dir``
    (created if missing); only once it has returned is each file renamed into ``out_dir``,
    over any older file of the same name. The staging folder is removed whatever happens,
    so a failed or interrupted ``write`` leaves none of its files behind; one a killed
    process left is removed by the next write into ``out_dir`` (:func:`remove_stale`).

    Returns:
        The paths written, sorted by name.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(), dir=folder))
    try:
        write(staging)
        written: list[Path] = []
        for path in sorted(staging.iterdir()):
            target = folder / path.name
            os.replace(path, target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
