"""Execute every lesson notebook and save a copy with its outputs.

    python notebooks/execute.py [--out results/notebooks] [--fast] [--max-silence-s S]
                                [NOTEBOOK ...]

The notebooks in this folder are stored without outputs; this writes executed copies
(figures, tables, the computed explanations) for slides or a course page. Each copy is
written atomically, so a failed notebook leaves no half-written file; the script stops at
the first notebook whose cells raise (an `assert` on its own numbers, for instance) and
exits 1. `--fast` sets AUTHSIM_FAST=1, the shortened runs the tests use.

It also measures *silence*: for every code cell, the longest stretch of wall time between
the cell's start, each output it sends (a printed line, a table, a figure) and its end.
The worst cells of each notebook are printed; with `--max-silence-s S` a cell silent for
longer than S seconds makes the script exit 1 (after every notebook has run), so a lesson
that leaves its reader staring at a busy cell with no sign of progress is caught.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
WORST_SHOWN = 3
"""Cells listed per notebook, the most silent first."""

VISIBLE = frozenset(
    {"stream", "display_data", "execute_result", "error", "update_display_data", "clear_output"}
)
"""Kernel messages a reader sees as the cell moving on."""


class CellSilence:
    """The silence of one code cell (a plain class: this script is also loaded from a file
    path, without a module entry, where a dataclass cannot be made).

    Attributes:
        index: the cell's position in the notebook, from 0.
        first_line: the first line of its source.
        started: ``time.monotonic()`` when its code was sent to the kernel.
        outputs: ``time.monotonic()`` of every output message, in order.
        ended: ``time.monotonic()`` when its reply came back.
    """

    def __init__(
        self,
        index: int,
        first_line: str,
        started: float,
        outputs: list[float] | None = None,
        ended: float | None = None,
    ) -> None:
        self.index = index
        self.first_line = first_line
        self.started = started
        self.outputs = list(outputs or [])
        self.ended = ended

    @property
    def total_s(self) -> float:
        """Seconds from start to end (to the last output while still running)."""
        end = self.ended if self.ended is not None else max([self.started, *self.outputs])
        return end - self.started

    @property
    def longest_gap_s(self) -> float:
        """The longest stretch with nothing new: start, outputs and end, one after another."""
        moments = [self.started, *self.outputs]
        if self.ended is not None:
            moments.append(self.ended)
        return max((b - a for a, b in itertools.pairwise(moments)), default=0.0)

    def describe(self) -> str:
        return (
            f"cell {self.index}: silent {self.longest_gap_s:.1f} s of {self.total_s:.1f} s, "
            f"{len(self.outputs)} outputs  [{self.first_line[:60]}]"
        )


class TimedClient(NotebookClient):
    """A :class:`NotebookClient` that timestamps every code cell's start, outputs and end."""

    def __init__(self, notebook: Any, **kwargs: Any) -> None:
        super().__init__(
            notebook, on_cell_execute=self._started, on_cell_executed=self._ended, **kwargs
        )
        self.silences: list[CellSilence] = []
        self._current: CellSilence | None = None

    def _started(self, cell: Any, cell_index: int, **_: Any) -> None:
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        self._current = CellSilence(cell_index, first.strip(), time.monotonic())
        self.silences.append(self._current)

    def _ended(self, cell: Any, cell_index: int, **_: Any) -> None:
        if self._current is not None and self._current.index == cell_index:
            self._current.ended = time.monotonic()
            self._current = None

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        current = self._current
        if current is not None and current.index == cell_index and msg["msg_type"] in VISIBLE:
            current.outputs.append(time.monotonic())
        return super().process_message(msg, cell, cell_index)


def execute(
    path: Path, out_dir: Path | None, silences: list[CellSilence] | None = None
) -> Path | None:
    """Run ``path`` top to bottom in its own folder; write the executed copy to ``out_dir``
    (``None``: no copy). Each code cell's silence is appended to ``silences``, even when a
    cell fails."""
    notebook = nbformat.read(path, as_version=4)
    client = TimedClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.resolve().parent)}},
    )
    try:
        client.execute()
    finally:
        if silences is not None:
            silences.extend(client.silences)
    if out_dir is None:
        return None
    target = out_dir / path.name
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        nbformat.write(notebook, temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def report(name: str, silences: list[CellSilence], limit_s: float | None) -> list[CellSilence]:
    """Print the most silent cells of one notebook; return those over ``limit_s``."""
    worst = sorted(silences, key=lambda item: -item.longest_gap_s)
    longest = worst[0].longest_gap_s if worst else 0.0
    total = sum(item.total_s for item in silences)
    print(f"  silence: longest {longest:.1f} s, {len(silences)} code cells, {total:.1f} s in all")
    for item in worst[:WORST_SHOWN]:
        print(f"    {item.describe()}")
    over = [item for item in worst if limit_s is not None and item.longest_gap_s > limit_s]
    for item in over:
        message = f"error: {name}: {item.describe()}, over --max-silence-s {limit_s:g}"
        print(message, file=sys.stderr)
    return over


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every *.ipynb here")
    parser.add_argument("--out", type=Path, default=Path("results/notebooks"))
    parser.add_argument("--fast", action="store_true", help="shortened runs (AUTHSIM_FAST=1)")
    parser.add_argument(
        "--max-silence-s",
        type=float,
        default=None,
        metavar="S",
        help="exit 1 if a code cell goes longer than S seconds without an output",
    )
    args = parser.parse_args(argv)
    if args.fast:
        os.environ["AUTHSIM_FAST"] = "1"
    paths = args.notebooks or sorted(HERE.glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    too_quiet = 0
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        silences: list[CellSilence] = []
        try:
            written = execute(path, args.out, silences)
        except CellExecutionError as exc:
            report(path.name, silences, None)
            print(f"error: {path.name}: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
            return 1
        print(f"  wrote {written}")
        too_quiet += len(report(path.name, silences, args.max_silence_s))
        sys.stdout.flush()
    return 1 if too_quiet else 0


if __name__ == "__main__":
    sys.exit(main())
