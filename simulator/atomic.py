"""Writing files so that a reader never sees half of one.

Every result file authsim writes goes to a temporary file beside its target and is renamed
over it only once complete (``os.replace`` is atomic on one file system). A failed or
interrupted write leaves the old file, or none, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
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
