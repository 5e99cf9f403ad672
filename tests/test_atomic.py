"""Atomic writes: the target is whole or untouched, and no temporary file is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.atomic import atomic_file, atomic_path, write_text


def test_write_text_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sheet.md"
    write_text(target, "first\n")
    write_text(target, "second ✓\n")
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert [path.name for path in tmp_path.iterdir()] == ["sheet.md"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write(b"half of a new")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["figure.png"]


def test_an_interrupted_path_writer_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "summary.csv"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temp:
        temp.write_text("partial", encoding="utf-8")
        assert temp.parent == tmp_path and temp.name.startswith(".summary.csv.")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
