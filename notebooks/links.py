"""Open the lessons in Colab or Binder: badges and an install cell, for a published copy.

    python notebooks/links.py --repository https://github.com/OWNER/REPO [--branch main]
    python notebooks/links.py --repository https://github.com/OWNER/REPO --check

Colab and Binder open a notebook from a public GitHub repository, so their links need that
repository's address, which only whoever publishes the project knows. This script writes,
into every lesson (``notebooks/NN-*.ipynb``), right after its title:

- a markdown cell with an "Open in Colab" and a "launch Binder" badge for that notebook
  (Colab: ``colab.research.google.com/github/OWNER/REPO/blob/BRANCH/notebooks/NAME``;
  Binder: ``mybinder.org/v2/gh/OWNER/REPO/BRANCH?labpath=notebooks/NAME``);
- a code cell that installs authsim from that repository when the kernel does not have it
  (Colab's kernel has not; Binder builds the environment from ``binder/``, so there it
  does nothing), with ``%pip``, which installs into the running kernel.

Running it again replaces both cells (they carry fixed ids), so it is idempotent;
``--check`` exits 1 when a lesson's cells are missing or stale. A repository address that
is not ``https://github.com/OWNER/REPO`` is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import quote

import nbformat

HERE = Path(__file__).resolve().parent
BADGES_ID = "open-in-the-cloud"
INSTALL_ID = "install-authsim"
GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")


def lessons(folder: Path = HERE) -> list[Path]:
    """The lesson notebooks, in order (``NN-name.ipynb``)."""
    return sorted(path for path in folder.glob("[0-9][0-9]-*.ipynb"))


def parse_repository(url: str) -> tuple[str, str]:
    """``(owner, repo)`` of a GitHub address; ``ValueError`` for anything else."""
    match = GITHUB.match(url.strip())
    if match is None:
        raise ValueError(f"--repository: {url!r} is not https://github.com/OWNER/REPO")
    return match.group(1), match.group(2)


def badges_cell(owner: str, repo: str, branch: str, name: str) -> nbformat.NotebookNode:
    """The markdown cell with the Colab and Binder badges of notebook ``name``."""
    colab = (
        f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/notebooks/{name}"
    )
    binder = (
        f"https://mybinder.org/v2/gh/{owner}/{repo}/{branch}"
        f"?labpath={quote(f'notebooks/{name}', safe='')}"
    )
    source = (
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
        f"[![Launch Binder](https://mybinder.org/badge_logo.svg)]({binder})"
    )
    cell = nbformat.v4.new_markdown_cell(source)
    cell.id = BADGES_ID
    return cell


def install_cell(owner: str, repo: str, branch: str) -> nbformat.NotebookNode:
    """The code cell that installs authsim where the kernel lacks it."""
    source = (
        "# Colab (or any kernel without authsim): install it from the repository, about a"
        " minute.\n"
        "# Binder and a local checkout already have it, so this does nothing there.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("simulator") is None:\n'
        f'    %pip install --quiet "authsim[notebooks] @ git+https://github.com/{owner}/{repo}'
        f'@{branch}"'
    )
    cell = nbformat.v4.new_code_cell(source)
    cell.id = INSTALL_ID
    return cell


def with_links(
    notebook: nbformat.NotebookNode, owner: str, repo: str, branch: str, name: str
) -> nbformat.NotebookNode:
    """``notebook`` with its badge and install cells (re)written after the title cell."""
    cells = [cell for cell in notebook.cells if cell.get("id") not in (BADGES_ID, INSTALL_ID)]
    extra = [badges_cell(owner, repo, branch, name), install_cell(owner, repo, branch)]
    notebook.cells = cells[:1] + extra + cells[1:]
    return notebook


def _text(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook)


def main(argv: list[str] | None = None, folder: Path = HERE) -> int:
    """Write (or ``--check``) the links of every lesson; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", required=True, help="https://github.com/OWNER/REPO")
    parser.add_argument("--branch", default="main", help="the branch the links open")
    parser.add_argument("--check", action="store_true", help="exit 1 if a lesson is stale")
    args = parser.parse_args(argv)
    try:
        owner, repo = parse_repository(args.repository)
        if not BRANCH.match(args.branch):
            raise ValueError(f"--branch: {args.branch!r} is not a branch name")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale: list[str] = []
    for path in lessons(folder):
        notebook = nbformat.read(path, as_version=4)
        before = _text(notebook)
        after = _text(with_links(notebook, owner, repo, args.branch, path.name))
        if after == before:
            continue
        if args.check:
            stale.append(path.name)
            continue
        temporary = path.with_suffix(".tmp")
        temporary.write_text(after, encoding="utf-8")
        temporary.replace(path)
        print(f"wrote the links of {path.name}")
    if stale:
        print(f"stale or missing links: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
