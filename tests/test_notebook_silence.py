"""``notebooks/execute.py --max-silence-s``: the longest stretch a code cell goes without
an output is measured from nbclient's messages, and a lesson's long cells show progress."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from notebook_runs import load_script

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"


def _execute_script() -> ModuleType:
    return load_script("execute")


def _notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


def test_gaps_are_measured_between_start_outputs_and_end() -> None:
    script = _execute_script()
    cell = script.CellSilence(0, "x", started=10.0, outputs=[10.5, 13.0, 13.2], ended=13.4)
    assert cell.longest_gap_s == pytest.approx(2.5)
    assert cell.total_s == pytest.approx(3.4)
    assert script.CellSilence(1, "y", started=1.0, ended=4.0).longest_gap_s == pytest.approx(3.0)
    assert script.CellSilence(2, "z", started=1.0).longest_gap_s == 0.0


@pytest.mark.slow  # executes notebooks in Jupyter kernels
def test_a_silent_cell_fails_and_a_chatty_one_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _execute_script()
    quiet = _notebook(tmp_path / "quiet.ipynb", "x = 1", "import time\ntime.sleep(3)\nx = 2")
    chatty = _notebook(
        tmp_path / "chatty.ipynb",
        "import time\nfor i in range(6):\n    time.sleep(0.5)\n    print(i, flush=True)",
    )
    out = tmp_path / "out"
    assert script.main([str(quiet), "--out", str(out), "--max-silence-s", "1"]) == 1
    captured = capsys.readouterr()
    assert "cell 1: silent" in captured.err and "over --max-silence-s 1" in captured.err
    silences: list[object] = []
    script.execute(quiet, None, silences)
    (_, sleeper) = silences
    assert 3.0 <= sleeper.longest_gap_s < 10.0  # type: ignore[attr-defined]
    assert script.main([str(chatty), "--out", str(out), "--max-silence-s", "1.5"]) == 0
    silences = []
    script.execute(chatty, None, silences)
    (printer,) = silences
    assert len(printer.outputs) >= 6  # type: ignore[attr-defined]
    assert printer.longest_gap_s < 1.5  # type: ignore[attr-defined]
    assert printer.total_s >= 3.0  # type: ignore[attr-defined]
    # without a limit a quiet cell is reported, not failed
    assert script.main([str(quiet), "--out", str(out)]) == 0
    assert "silence: longest" in capsys.readouterr().out


@pytest.mark.slow  # notebook 05 in fast mode: a minute or two of sweeps and fault runs
def test_notebook_05_is_never_silent_for_20_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSIM_FAST", "1")
    script = _execute_script()
    silences: list[object] = []
    script.execute(FOLDER / "05-choosing-a-strategy.ipynb", None, silences)
    worst = max(silences, key=lambda cell: cell.longest_gap_s)  # type: ignore[attr-defined]
    assert worst.longest_gap_s <= 20.0, worst.describe()  # type: ignore[attr-defined]
