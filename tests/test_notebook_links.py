"""notebooks/links.py: the Colab and Binder badges and the install cell of a published copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from notebook_runs import load_script

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/example-org/authsim"


links = load_script("links")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for path in links.lessons(ROOT / "notebooks"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_every_lesson_gets_its_own_badges_and_the_install_cell(folder: Path) -> None:
    assert links.main(["--repository", REPOSITORY, "--check"], folder) == 1  # none yet
    assert links.main(["--repository", REPOSITORY, "--branch", "v1"], folder) == 0
    lessons = links.lessons(folder)
    assert len(lessons) >= 9
    for path in lessons:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        title, badges, install = notebook.cells[:3]
        assert title.source.startswith("# ")
        assert (
            f"colab.research.google.com/github/example-org/authsim/blob/v1/notebooks/{path.name}"
            in badges.source
        )
        assert f"mybinder.org/v2/gh/example-org/authsim/v1?labpath=notebooks%2F{path.name}" in (
            badges.source
        )
        assert "git+https://github.com/example-org/authsim@v1" in install.source
        assert install.execution_count is None and not install.outputs
        # the %pip line is valid IPython once the kernel transforms its magics
        compile(TransformerManager().transform_cell(install.source), path.name, "exec")


def test_running_it_again_changes_nothing(folder: Path) -> None:
    assert links.main(["--repository", REPOSITORY], folder) == 0
    before = {path.name: path.read_text() for path in links.lessons(folder)}
    assert links.main(["--repository", REPOSITORY], folder) == 0
    assert {path.name: path.read_text() for path in links.lessons(folder)} == before
    assert links.main(["--repository", REPOSITORY, "--check"], folder) == 0
    # a new branch makes every lesson stale
    assert links.main(["--repository", REPOSITORY, "--branch", "dev", "--check"], folder) == 1


@pytest.mark.parametrize(
    "address",
    ["http://github.com/a/b", "https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a"],
)
def test_an_address_that_is_not_a_github_repository_is_one_line_exit_2(
    folder: Path, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {path.name: path.read_text() for path in links.lessons(folder)}
    assert links.main(["--repository", address], folder) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --repository: ") and err.count("\n") == 1
    assert {path.name: path.read_text() for path in links.lessons(folder)} == before


def test_binder_builds_the_environment_from_the_checkout() -> None:
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111
    assert 'pip install --no-cache-dir -e ".[notebooks,testbed]"' in post_build.read_text()
    assert {"redis-server", "haproxy"} <= set((ROOT / "binder" / "apt.txt").read_text().split())
