"""Progress on stderr in a terminal and, as plain lines, when stderr is piped.

In a terminal the bars and spinners of :mod:`simulator.cli.options` are shown. When
stderr is not a terminal (a pipe, a log file, CI) those stay silent, so these helpers print
a plain line such as ``run: jwt 40%`` instead, at most once every
:data:`PLAIN_EVERY_S` seconds: a run shorter than that prints nothing. Progress never goes
to stdout, which stays clean for ``--json``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer

from simulator.cli import options
from simulator.errors import one_line
from simulator.present.format import seconds

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from simulator.scenario.models import Scenario

PLAIN_EVERY_S = 5.0
"""Seconds between two plain progress lines (the first comes after as long)."""


class PlainLines:
    """Throttled ``<what>: <text>`` lines on stderr: at most one every ``every_s`` seconds.

    Args:
        what: the prefix of every line (``run``, ``sweep``).
        every_s: seconds between two lines, and before the first (default:
            :data:`PLAIN_EVERY_S`).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        what: str,
        every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.every_s = PLAIN_EVERY_S if every_s is None else every_s
        self.clock = clock
        self.started = clock()
        self.last = self.started

    def __call__(self, text: Callable[[], str]) -> None:
        """Print ``text()`` if ``every_s`` seconds went by since the last line."""
        now = self.clock()
        if now - self.last < self.every_s:
            return
        self.last = now
        elapsed = seconds(round(now - self.started))
        typer.echo(f"{self.what}: {one_line(text())} ({elapsed} elapsed)", err=True)


@contextlib.contextmanager
def run_progress(
    console: Console, scenario: Scenario, strategies: list[str]
) -> Iterator[Callable[[str, float], None] | None]:
    """``progress(strategy, fraction)`` of a run: the terminal's bars
    (:func:`simulator.cli.options.run_progress`) or plain lines when piped."""
    if console.is_terminal:
        with options.run_progress(console, scenario, strategies) as bar:
            yield bar
        return
    lines = PlainLines("run")
    yield lambda strategy, fraction: lines(lambda: f"{strategy} {fraction:.0%}")


@contextlib.contextmanager
def replication_progress(
    console: Console, total: int
) -> Iterator[Callable[[int, int], None] | None]:
    """``progress(done, total)`` over replications: a bar in a terminal, plain lines when
    piped."""
    if console.is_terminal:
        with options.replication_progress(console, total) as bar:
            yield bar
        return
    lines = PlainLines("replications")
    yield lambda done, total: lines(lambda: f"{done}/{total} done")


@contextlib.contextmanager
def sweep_progress(console: Console) -> Iterator[Callable[[int, int, int], None] | None]:
    """``progress(done, total, failures)`` of a sweep: a bar in a terminal, plain lines
    with the time left when piped."""
    if console.is_terminal:
        with options.sweep_progress(console) as bar:
            yield bar
        return
    lines = PlainLines("sweep")

    def text(done: int, total: int, failures: int) -> str:
        elapsed = lines.clock() - lines.started
        left = f", about {seconds(round(elapsed / done * (total - done)))} left" if done else ""
        return f"{done}/{total} runs, {failures} failed{left}"

    yield lambda done, total, failures: lines(lambda: text(done, total, failures))


@contextlib.contextmanager
def task_progress(
    console: Console, what: str
) -> Iterator[tuple[Callable[[str], None], Callable[[str, float], None]]]:
    """``(say, meter)`` of a run made of steps and long tasks (``authsim testbed``): in a
    terminal, each step's line above a bar per task; when piped, each step's line
    (``testbed: <text>``) and a throttled ``testbed: <task> 40%``."""
    if console.is_terminal:
        with options.task_bars(console) as bars:
            if bars is not None:
                yield bars
                return
    lines = PlainLines(what)

    def say(text: str) -> None:
        typer.echo(f"{what}: {one_line(text)}", err=True)

    yield say, lambda task, fraction: lines(lambda: f"{task} {fraction:.0%}")


@contextlib.contextmanager
def steps(what: str, title: str, step: str) -> Iterator[Callable[[str], None]]:
    """``progress(name)`` of a command made of a few long steps (``report``,
    ``cheatsheet``, ``validate``...): a spinner in a terminal
    (:func:`simulator.cli.options.status`, ``step`` formatted with the name); when piped,
    ``<what>: <current step> (<elapsed> elapsed)`` every :data:`PLAIN_EVERY_S` seconds from
    a background thread, so a long step is never silent (a quick command prints nothing)."""
    if options.stderr_console().is_terminal:
        with options.status(title, step) as spinner:
            yield spinner if spinner is not None else (lambda _name: None)
        return
    current = [title[:1].lower() + title[1:]]
    done = threading.Event()
    lines = PlainLines(what)

    def tick() -> None:
        while not done.wait(lines.every_s):
            lines(lambda: current[0])

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()

    def progress(name: str) -> None:
        current[0] = step.format(name)

    try:
        yield progress
    finally:
        done.set()
        ticker.join()


@contextlib.contextmanager
def writing(console: Console, folder: Path | None, *, plots: bool) -> Iterator[None]:
    """While a run's folder is written (if ``folder``): a spinner in a terminal; when
    piped, a plain line every :data:`PLAIN_EVERY_S` seconds from a background thread (none
    for a quick write)."""
    if folder is None:
        yield
        return
    what = f"writing results{' and plots' if plots else ''} to {one_line(str(folder))}"
    if console.is_terminal:
        with console.status(options.safe(what) + " …"):
            yield
        return
    done = threading.Event()
    lines = PlainLines("write")

    def tick() -> None:
        while not done.wait(lines.every_s):
            lines(lambda: what)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
