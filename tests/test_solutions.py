"""Every lesson with exercises has a solutions notebook, with one solution per exercise,
and it executes top to bottom in fast mode."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from notebook_runs import execution_errors

pytestmark = pytest.mark.slow  # Jupyter kernels (and one real testbed run for 07)
FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
SOLUTIONS = FOLDER / "solutions"
SOLVED = ["01", "02", "03", "04", "05", "06", "07", "08"]
"""Lessons whose exercises have worked solutions: every lesson with exercises."""

EXERCISE = re.compile(r"^(\d+)\. \*\*", re.MULTILINE)
SOLUTION_HEADING = re.compile(r"^## Exercise (\d+) · ", re.MULTILINE)


def _markdown(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def exercise_numbers(lesson: Path) -> list[int]:
    """The numbered exercises ("N. **Title**") of a lesson's "## Exercises" section."""
    markdown = _markdown(lesson)
    if "## Exercises" not in markdown:
        return []
    section = markdown.split("## Exercises", 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.MULTILINE)[0]
    return [int(number) for number in EXERCISE.findall(section)]


def lesson_path(number: str) -> Path:
    (path,) = FOLDER.glob(f"{number}-*.ipynb")
    return path


def solutions_path(number: str) -> Path:
    return SOLUTIONS / f"{number}-solutions.ipynb"


def test_every_solved_lesson_with_exercises_has_a_solutions_notebook() -> None:
    lessons = {
        path.name[:2] for path in FOLDER.glob("[0-9][0-9]-*.ipynb") if exercise_numbers(path)
    }
    assert set(SOLVED) == lessons  # a new lesson with exercises needs its solutions
    missing = [number for number in SOLVED if not solutions_path(number).exists()]
    assert not missing, f"no notebooks/solutions/NN-solutions.ipynb for {missing}"
    stray = {path.name[:2] for path in SOLUTIONS.glob("*.ipynb")} - lessons
    assert not stray, f"solutions for lessons without exercises: {stray}"


@pytest.mark.parametrize("number", SOLVED)
def test_solutions_answer_every_exercise(number: str) -> None:
    exercises = exercise_numbers(lesson_path(number))
    notebook = nbformat.read(solutions_path(number), as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# Solutions · {number} · ")
    assert f"(../{lesson_path(number).name})" in first.source, "a link back to the lesson"
    headings = [int(n) for n in SOLUTION_HEADING.findall(_markdown(solutions_path(number)))]
    assert exercises, f"lesson {number} has no numbered exercises"
    assert headings == exercises
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert 'os.environ.get("AUTHSIM_FAST")' in code, "the tests' fast mode"
    assert code.count("assert ") >= len(exercises), "the solutions check their claims"
    assert all(cell.get("id") for cell in notebook.cells)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is None and not cell.outputs for cell in code_cells)


@pytest.mark.parametrize("number", SOLVED)
def test_solutions_execute(number: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSIM_FAST", "1")
    path = solutions_path(number)
    errors = execution_errors(path)
    assert not errors
