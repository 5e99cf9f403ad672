"""Throttled progress lines for long notebook cells (:class:`ProgressPrinter`).

A cell that runs a sweep, a long simulation or the testbed prints one flushed line every
few seconds, so a lecture never sits in front of a silent cell.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from simulator.present.format import seconds

PROGRESS_EVERY_S = 2.0
"""Seconds between two progress lines of :class:`ProgressPrinter`."""


class ProgressPrinter:
    """Progress lines for a long notebook cell, at most one every ``every_s`` seconds.

    ``printer.sweep`` is a :func:`~simulator.experiments.sweep.run_sweep` progress callback
    (``sweep: 12/40 runs, 3 s elapsed``), ``printer.run`` one for
    :func:`~simulator.model.run.run` (``run: jwt 40%, 3 s elapsed``), and
    ``printer.step(text)`` prints a line at once (``faults: store-outage done, 8 s
    elapsed``). Every line is flushed, so it shows while the cell still runs.

    Args:
        what: the prefix of every line.
        every_s: seconds between two throttled lines.
        clock: seconds, monotonic (tests pass their own).
        stream: where to write (default: ``sys.stdout`` when a line is written).
    """

    def __init__(
        self,
        what: str,
        every_s: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        self.what = what
        self.every_s = every_s
        self.clock = clock
        self.stream = stream
        self.started = clock()
        self.last: float | None = None

    def elapsed_s(self) -> float:
        """Seconds since the printer was made."""
        return self.clock() - self.started

    def step(self, text: str) -> None:
        """Print ``<what>: <text>, <elapsed> elapsed`` now."""
        self.last = self.clock()
        stream = self.stream if self.stream is not None else sys.stdout
        elapsed = seconds(round(self.last - self.started))
        print(f"{self.what}: {text}, {elapsed} elapsed", file=stream, flush=True)

    def __call__(self, text: str, *, last: bool = False) -> None:
        """Print like :meth:`step` unless a line went out less than ``every_s`` ago (the
        first and the ``last`` line always go out)."""
        if last or self.last is None or self.clock() - self.last >= self.every_s:
            self.step(text)

    def sweep(self, done: int, total: int, failures: int) -> None:
        """A ``run_sweep`` progress callback."""
        failed = f", {failures} failed" if failures else ""
        self(f"{done}/{total} runs{failed}", last=done == total)

    def run(self, strategy: str, fraction: float) -> None:
        """A ``run`` progress callback."""
        self(f"{strategy} {fraction:.0%}")
