"""Every notebook in notebooks/ executes top to bottom (in fast mode) and its asserts hold;
every lesson has the parts a lesson needs; `notebooks/execute.py` saves executed copies."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from notebook_runs import execution_errors, load_script

pytestmark = pytest.mark.slow  # Jupyter kernels: tens of seconds per notebook
FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
LESSONS = [
    "01-the-state-problem",
    "02-sticky-sessions",
    "03-shared-session-store",
    "04-json-web-tokens",
    "05-choosing-a-strategy",
    "06-explorer",
    "07-reality-check",
    "08-security-hygiene",
]


def test_there_are_the_quickstart_and_eight_lessons() -> None:
    assert [path.stem for path in NOTEBOOKS] == ["00-quickstart", *LESSONS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSIM_FAST", "1")
    notebook = nbformat.read(path, as_version=4)
    stored_outputs = [cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"]
    assert not any(stored_outputs), "notebooks are stored without outputs"
    errors = execution_errors(path)
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_a_lesson(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# ")
    assert "## What just happened" in markdown
    assert "## Exercises" in markdown
    assert "Interview question" in markdown
    assert 'os.environ.get("AUTHSIM_FAST")' in code, "a fast mode for the tests"
    assert code.count("assert ") >= 2, "the notebook checks its own claims"
    assert all(cell.execution_count is None for cell in notebook.cells if cell.cell_type == "code")


def _execute_script() -> ModuleType:
    return load_script("execute")


def _tiny_notebook(path: Path, source: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, path)
    return path


def test_execute_saves_copies_with_outputs_and_nothing_for_a_failure(tmp_path: Path) -> None:
    script = _execute_script()
    good = _tiny_notebook(tmp_path / "good.ipynb", "print(6 * 7)")
    bad = _tiny_notebook(tmp_path / "bad.ipynb", "assert 1 == 2, 'a claim that fails'")
    out = tmp_path / "out"
    assert script.main([str(good), "--out", str(out)]) == 0
    executed = nbformat.read(out / "good.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert script.main([str(bad), "--out", str(out)]) == 1
    assert sorted(path.name for path in out.iterdir()) == ["good.ipynb"]
