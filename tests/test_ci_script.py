"""The CI entry point is a valid shell script that ends by running the README's test command.

A broken `.ci/run` fails CI before a single test runs, and a clean clone running `make test`
directly would not notice, so its syntax is checked here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI_RUN = ROOT / ".ci" / "run"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to parse the script")
def test_ci_script_parses() -> None:
    checked = subprocess.run(
        ["bash", "-n", str(CI_RUN)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_ci_script_ends_with_the_readme_test_command() -> None:
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_script_is_executable() -> None:
    assert CI_RUN.stat().st_mode & 0o111


@pytest.mark.slow  # runs the Quickstart's main job (about 15 s)
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_works_where_its_output_folder_does_not_exist_yet(tmp_path: Path) -> None:
    # a fresh clone has no results/ folder, and authsim creates only the last folder of
    # an output path: make demo must make the parent itself
    out = tmp_path / "fresh" / "results" / "demo"
    done = subprocess.run(
        ["make", "--no-print-directory", "demo", f"OUT={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "results.json").is_file() and (out / "requests.csv").is_file()
