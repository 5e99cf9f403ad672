"""What every ``authsim`` command shares: option types, loading, errors and progress.

The scenario argument and the ``--set``, ``--seed``, ``--strategy`` and ``--allow-large``
options; the check of an ``--out`` path before any run; loading a scenario with its
overrides (and its size checked); bad input reported as one line on stderr
(``error: <what is wrong>``) with exit code 2; the console tables are printed to; and the
progress bars and spinners shown on stderr in a terminal.

Text that comes from outside (a token, a scenario file, a path, an option value) is never
read as Rich markup: it goes through :func:`safe` before it joins a marked-up line, and
every error line through :func:`~simulator.errors.one_line`, so ``[/x]`` prints as
``[/x]`` and a control character as ``\\x1b``, never as a style, a crash or a terminal
command.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from simulator.atomic import file_problem, folder_problem
from simulator.errors import AuthsimError, ScenarioError, one_line
from simulator.scenario import budget

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from simulator.scenario.models import Scenario

DEFAULT_SCENARIO = "baseline"
"""The scenario of a command given none: ``simulator.scenario.loading.DEFAULT_SCENARIO``,
repeated here so that ``--help`` imports no scenario model (tests/test_startup.py checks
that the two agree)."""

PROGRESS_MIN_REQUESTS = 200_000
"""Show a progress bar (on a terminal) when a run expects at least this many requests."""

TABLE_WIDTH = 132
"""Width of the printed tables when stdout is not a terminal (a file, a pipe)."""

ScenarioArgument = Annotated[
    str | None,
    typer.Argument(
        help=f"A scenario YAML file or the name of a built-in (default: {DEFAULT_SCENARIO}).",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a scenario value by dotted key, e.g. --set cluster.servers=10.",
    ),
]
SeedOption = Annotated[
    int | None, typer.Option(min=0, help="Seed of every random stream (default: the scenario's).")
]
StrategyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--strategy",
        "-s",
        help="Only this strategy (repeatable): local, sticky, shared_store, jwt.",
    ),
]


def _allow_large(ctx: typer.Context, value: bool) -> bool:
    """``--allow-large``: lift the size limits for this command and the processes it
    starts (through ``AUTHSIM_ALLOW_LARGE``, restored when the command ends)."""
    if value:
        previous = os.environ.get(budget.ALLOW_LARGE_ENV)
        os.environ[budget.ALLOW_LARGE_ENV] = "1"

        def restore() -> None:
            if previous is None:
                os.environ.pop(budget.ALLOW_LARGE_ENV, None)
            else:
                os.environ[budget.ALLOW_LARGE_ENV] = previous

        ctx.call_on_close(restore)
    return value


AllowLargeOption = Annotated[
    bool,
    typer.Option(
        "--allow-large",
        callback=_allow_large,
        help=f"Run even above the size limits ({budget.MAX_SERVERS:,} servers, "
        f"{budget.MAX_USERS:,} users, {budget.MAX_REQUESTS:,} requests, "
        f"{budget.MAX_MEMORY_BYTES // 2**30} GB of memory).",
    ),
]
"""Every command that runs simulations takes it; :func:`load` and ``run()`` obey it."""


def writable_folder(what: str) -> Callable[[Path | None], Path | None]:
    """The callback of an ``--out DIR`` option: ``<DIR>: cannot write <what>: <reason>``
    as one line and exit 2 at once, before any run, when the folder cannot be written or
    created (:func:`simulator.atomic.folder_problem`)."""
    return _writable(folder_problem, what)


def writable_file(what: str) -> Callable[[Path | None], Path | None]:
    """As :func:`writable_folder`, for an ``--out FILE`` option (its folder is checked)."""
    return _writable(file_problem, what)


def _writable(
    problem_of: Callable[[Path], str | None], what: str
) -> Callable[[Path | None], Path | None]:
    def check(value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            problem = problem_of(value)
        except OSError as exc:  # a path the system refuses to look at (a name too long)
            problem = exc.strerror or str(exc)
        if problem is not None:
            fail(f"{value}: cannot write {what}: {problem}")
        return value

    return check


# ----------------------------------------------------------------------- errors


def fail(message: str) -> NoReturn:
    """Print one error line on stderr and exit with code 2 (control characters shown
    escaped, as :func:`~simulator.errors.one_line` does: a path or a value in the message
    can neither break the line nor drive the terminal)."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code=2)


def fail_to_write(target: Path, what: str, exc: OSError) -> NoReturn:
    """``<target>: cannot write <what>: <reason>`` as one error line, exit code 2."""
    fail(f"{target}: cannot write {what}: {exc.strerror or exc}")


def did_you_mean(name: str, choices: Sequence[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input becomes one line and exit 2; Ctrl-C exits 130 having written nothing."""
    try:
        yield
    except AuthsimError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted: no results were written", err=True)
        raise typer.Exit(code=130) from None


# ----------------------------------------------------------------------- scenarios


def load(
    scenario: str | None,
    overrides: list[str] | None,
    seed: int | None = None,
    *,
    sized: bool = True,
) -> Scenario:
    """The scenario with ``--set`` overrides (and ``--seed``) applied; one line on error.

    With ``sized`` (a command about to run it), a run above a size limit is refused
    (unless ``--allow-large``) and a large one announced on stderr, before anything is
    built (:mod:`simulator.scenario.budget`).
    """
    # the models (pydantic, numpy, simpy): only when a command loads a scenario
    from simulator.scenario.loading import load_scenario, resolve_scenario_path  # noqa: PLC0415
    from simulator.scenario.overrides import parse_set_option  # noqa: PLC0415

    try:
        loaded = load_scenario(scenario, overrides or [])
        if seed is not None:
            loaded = loaded.with_overrides({"seed": seed}, source="--seed")
        if sized:
            keys = [parse_set_option(option)[0] for option in overrides or []]
            found = budget.check(
                loaded, source=str(resolve_scenario_path(scenario)), overridden=keys
            )
            warning = budget.warning(found)
            if warning is not None:
                typer.echo(warning, err=True)
    except ScenarioError as exc:
        fail(str(exc))
    except OSError as exc:  # a path the system refuses to look at (a name too long)
        fail(f"{scenario}: cannot read the scenario: {exc.strerror or exc}")
    return loaded


def file_name(scenario: Scenario) -> str:
    """The scenario's name, safe as part of a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in scenario.name)


def strategy_names(requested: list[str] | None, scenario: Scenario) -> list[str]:
    """Validate ``--strategy`` values (one line with a suggestion for a typo)."""
    if not requested:
        return [str(name) for name in scenario.strategies]
    from simulator.scenario.models import StrategyName  # noqa: PLC0415 (see load)

    valid = [str(name) for name in StrategyName]
    chosen: list[str] = []
    for name in requested:
        if name not in valid:
            fail(
                f"--strategy: unknown strategy {name!r}{did_you_mean(name, valid)}; "
                f"choose from {', '.join(valid)}"
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


# ----------------------------------------------------------------------- output


def safe(text: object) -> str:
    """Untrusted text (a token's field, a scenario's name, a path, a value) ready to join a
    line of Rich markup: on one line, control and bidirectional characters shown escaped
    (``\\x1b``, ``\\u202e``: :func:`~simulator.errors.one_line`), markup escaped
    (``[bold]`` prints as ``[bold]``). Every string printed through Rich that does not come
    from this program goes through it; emoji codes (``:lock:``) stay literal because every
    console is made with ``emoji=False`` (:func:`stdout_console`, :func:`stderr_console`)."""
    from rich.markup import escape  # noqa: PLC0415 (only a command prints through rich)

    return escape(one_line(str(text)))


def stdout_console() -> Console:
    """The console for tables: the terminal's width (or ``COLUMNS`` when it is set), else
    132 columns into a file. Emoji codes are not replaced (see :func:`safe`)."""
    from rich.console import Console  # noqa: PLC0415 (only a command prints tables)

    fitted = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(width=None if fitted else TABLE_WIDTH, emoji=False)


def stderr_console() -> Console:
    """The console for progress and notes on stderr; emoji codes are not replaced."""
    from rich.console import Console  # noqa: PLC0415 (as stdout_console)

    return Console(stderr=True, emoji=False)


def write_results(out: Path | None, write: Callable[[Path], list[Path]]) -> list[Path]:
    """Write results into ``out`` (if given); a write failure is one line and exit 2."""
    if out is None:
        return []
    try:
        return write(out)
    except OSError as exc:
        fail_to_write(out, "results", exc)


def print_results(
    document: Callable[[], str] | None,
    tables: Callable[[Console], None],
    out: Path | None,
    written: list[Path],
) -> None:
    """The JSON ``document`` alone on stdout (``--json``: ``document`` given), or else the
    ``tables`` and ``Wrote N files to <out>: <names>`` when anything was written."""
    if document is not None:
        typer.echo(document(), nl=False)
        return
    console = stdout_console()
    tables(console)
    if written:
        console.print(
            f"\nWrote {len(written)} files to [bold]{safe(out)}[/]: "
            + ", ".join(safe(path.name) for path in written)
        )


# ----------------------------------------------------------------------- progress


@contextlib.contextmanager
def status(title: str, step: str) -> Iterator[Callable[[str], None] | None]:
    """A spinner on stderr in a terminal; yields ``progress(name)`` (or ``None``)."""
    console = stderr_console()
    if not console.is_terminal:
        yield None
        return
    with console.status(safe(title)) as spinner:

        def progress(name: str) -> None:
            spinner.update(safe(step.format(name)))

        yield progress


BAR, ELAPSED, REMAINING = "<bar>", "<elapsed>", "<remaining>"
"""Columns of a progress bar other than text: the bar, the time elapsed, the time left."""


@contextlib.contextmanager
def _bar(console: Console, *columns: str) -> Iterator[Progress | None]:
    """A transient progress bar on ``console`` if it is a terminal; ``None`` otherwise.

    ``columns``: :data:`BAR`, :data:`ELAPSED`, :data:`REMAINING`, or the template of a text
    column. rich's progress module is imported only when a bar is shown.
    """
    if not console.is_terminal:
        yield None
        return
    from rich import progress  # noqa: PLC0415 (needed only in a terminal)

    kinds = {
        BAR: progress.BarColumn,
        ELAPSED: progress.TimeElapsedColumn,
        REMAINING: progress.TimeRemainingColumn,
    }
    # markup=False: a task's name (a strategy, a testbed step) is shown as it is
    made = [
        kinds[column]() if column in kinds else progress.TextColumn(column, markup=False)
        for column in columns
    ]
    with progress.Progress(*made, console=console, transient=True) as bar:
        yield bar


@contextlib.contextmanager
def run_progress(
    console: Console, scenario: Scenario, strategies: list[str]
) -> Iterator[Callable[[str, float], None] | None]:
    """A progress bar per strategy on long runs in a terminal; ``None`` otherwise."""
    expected = scenario.workload.arrival_rate_per_s * scenario.duration_s
    if expected < PROGRESS_MIN_REQUESTS:
        yield None
        return
    columns = ("{task.description:>13}", BAR, "{task.percentage:>3.0f}%", ELAPSED)
    with _bar(console, *columns) as bar:
        if bar is None:
            yield None
            return
        tasks: dict[str, TaskID] = {name: bar.add_task(name, total=1.0) for name in strategies}

        def update(strategy: str, fraction: float) -> None:
            bar.update(tasks[strategy], completed=fraction)

        yield update


@contextlib.contextmanager
def task_bars(
    console: Console,
) -> Iterator[tuple[Callable[[str], None], Callable[[str, float], None]] | None]:
    """``(say, meter)`` in a terminal: ``say(text)`` prints a line above the bars,
    ``meter(task, fraction)`` moves the bar of ``task`` (made when first named)."""
    with _bar(console, "{task.description:>26}", BAR, "{task.percentage:>3.0f}%", ELAPSED) as bar:
        if bar is None:
            yield None
            return
        tasks: dict[str, TaskID] = {}

        def meter(task: str, fraction: float) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=1.0)
            bar.update(tasks[task], completed=fraction)

        def say(text: str) -> None:
            bar.console.print(safe(text))

        yield say, meter


@contextlib.contextmanager
def replication_progress(
    console: Console, total: int
) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over replications, in a terminal."""
    with _bar(console, "replications", BAR, "{task.completed}/{task.total}", ELAPSED) as bar:
        if bar is None:
            yield None
            return
        task = bar.add_task("replications", total=total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield update


@contextlib.contextmanager
def sweep_progress(console: Console) -> Iterator[Callable[[int, int, int], None] | None]:
    """Runs done, failures and ETA of a sweep, in a terminal."""
    columns = (
        "sweep",
        BAR,
        "{task.completed}/{task.total} runs",
        "{task.fields[failures]} failed",
        ELAPSED,
        "ETA",
        REMAINING,
    )
    with _bar(console, *columns) as bar:
        if bar is None:
            yield None
            return
        task = bar.add_task("sweep", total=None, failures=0)

        def update(done: int, total: int, failures: int) -> None:
            bar.update(task, completed=done, total=total, failures=failures)

        yield update
