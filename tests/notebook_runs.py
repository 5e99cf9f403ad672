"""Shared by the notebook tests: executing a notebook headless, and loading the scripts
that live beside the notebooks (``notebooks/execute.py``, ``notebooks/links.py``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def load_script(name: str) -> ModuleType:
    """``notebooks/<name>.py`` as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"notebook_{name}", NOTEBOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def execution_errors(path: Path) -> list[dict[str, Any]]:
    """Execute ``path`` top to bottom in a fresh kernel (in its own folder); the error
    outputs of its cells (empty when every cell ran). Set ``AUTHSIM_FAST`` first for the
    shortened runs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=1200,  # per cell; a guard against a hang, not a speed check
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
