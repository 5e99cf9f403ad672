"""Execute every lesson notebook and save a copy with its outputs.

    python notebooks/execute.py [--out results/notebooks] [--fast] [NOTEBOOK ...]

The notebooks in this folder are stored without outputs; this writes executed copies
(figures, tables, the computed explanations) for slides or a course page. Each copy is
written atomically, so a failed notebook leaves no half-written file; the script stops at
the first notebook whose cells raise (an `assert` on its own numbers, for instance) and
exits 1. `--fast` sets AUTHSIM_FAST=1, the shortened runs the tests use.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent


def execute(path: Path, out_dir: Path) -> Path:
    """Run ``path`` top to bottom in its own folder; write the executed copy to ``out_dir``."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    )
    client.execute()
    target = out_dir / path.name
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        nbformat.write(notebook, temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every *.ipynb here")
    parser.add_argument("--out", type=Path, default=Path("results/notebooks"))
    parser.add_argument("--fast", action="store_true", help="shortened runs (AUTHSIM_FAST=1)")
    args = parser.parse_args(argv)
    if args.fast:
        os.environ["AUTHSIM_FAST"] = "1"
    paths = args.notebooks or sorted(HERE.glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        try:
            written = execute(path, args.out)
        except CellExecutionError as exc:
            print(f"error: {path.name}: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
            return 1
        print(f"  wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
