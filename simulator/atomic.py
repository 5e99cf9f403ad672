"""Writing files so that a reader never sees half of one.

Every result file authsim writes goes to a temporary file beside its target and is renamed
over it only once complete (``os.replace`` is atomic on one file system). A failed or
interrupted write leaves the old file, or none, never a truncated one. A folder of several
files (:func:`write_folder`) is written the same way, file by file.

This module is the one place that does atomic writes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


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
        os.rmdir(tempfile.mkdtemp(prefix=".authsim-", dir=where))
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
    so a failed or interrupted ``write`` leaves none of its files behind.

    Returns:
        The paths written, sorted by name.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".authsim-", dir=folder))
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
