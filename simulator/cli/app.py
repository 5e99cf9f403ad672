"""The ``authsim`` command line (the only module that imports typer).

Bad input (a scenario file, a ``--set`` override, an option value) is reported as one
line on stderr, ``error: <source>: <key.path>: <problem>``, with exit code 2 and no
traceback. Results are written only after the whole run succeeded, each file atomically.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn, cast

import typer
import yaml
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from simulator import __version__, tokens
from simulator.atomic import atomic_file, write_text
from simulator.costs.measure import compare as compare_costs
from simulator.costs.measure import measure as measure_costs
from simulator.errors import AuthsimError, ScenarioError, one_line
from simulator.experiments.replications import ReplicatedResult, run_replications
from simulator.experiments.sweep import SweepResult, parse_grid, run_sweep
from simulator.experiments.validation import CI_SLACK, TOLERANCE, CaseResult, case_names
from simulator.experiments.validation import validate as run_validation
from simulator.experiments.warmup import WELCH_METRICS, welch
from simulator.model.run import run as run_scenario
from simulator.present.cheatsheet import build_cheatsheet
from simulator.present.explain import window_rows
from simulator.results.records import RunResult
from simulator.scenario.calibration import save_profile
from simulator.scenario.models import (
    DEFAULT_SCENARIO,
    Scenario,
    StrategyName,
    builtin_scenarios,
    load_scenario,
)

# Click's UsageError (typer may vendor its own click): the base of typer.BadParameter.
_USAGE_ERROR = cast(type[Exception], typer.BadParameter.__mro__[1])
# Raised to show the help of a group called with no arguments: not an error to rewrite.
_HELP_ERROR = getattr(sys.modules[_USAGE_ERROR.__module__], "NoArgsIsHelpError", None)


class _OneLineUsageError(typer.BadParameter):
    """A usage error shown as the one line every other bad input gets."""

    def format_message(self) -> str:
        return self.message

    def show(self, file: IO[Any] | None = None) -> None:
        typer.echo(f"error: {one_line(self.message)}", file=file, err=True)


class _OneLineErrors(TyperGroup):
    """Click's usage errors (a malformed number, a missing argument, an unknown option or
    command) as ``error: <what is wrong>`` on one line, exit code 2, like every other bad
    input, instead of click's usage block."""

    @staticmethod
    def _one_line(exc: Exception) -> Exception:
        if isinstance(exc, _OneLineUsageError) or (_HELP_ERROR and isinstance(exc, _HELP_ERROR)):
            return exc  # already one line, or the help text itself
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        return _OneLineUsageError(message, ctx=getattr(exc, "ctx", None))

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _USAGE_ERROR as exc:
            raise self._one_line(exc) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _USAGE_ERROR as exc:
            raise self._one_line(exc) from None


app = typer.Typer(
    cls=_OneLineErrors,
    name="authsim",
    help=(
        "Session-vs-token scaling simulator: local sessions, sticky sessions, a shared "
        "session store and JWTs behind a load balancer, side by side on the same traffic."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: docstrings are wrapped to the terminal, not broken where the source
    # breaks its lines.
    rich_markup_mode=None,
)

PROGRESS_MIN_REQUESTS = 200_000
"""Show a progress bar (on a terminal) when a run expects at least this many requests."""


class TableFormat(StrEnum):
    """File format of the per-request table written by ``--out``."""

    CSV = "csv"
    PARQUET = "parquet"


def _fail(message: str) -> NoReturn:
    """Print one error line on stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"authsim {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Session-vs-token scaling simulator."""


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


def _load(scenario: str | None, overrides: list[str] | None, seed: int | None = None) -> Scenario:
    """The scenario with ``--set`` overrides (and ``--seed``) applied; one line on error."""
    try:
        loaded = load_scenario(scenario, overrides or [])
        if seed is not None:
            loaded = loaded.with_overrides({"seed": seed}, source="--seed")
    except ScenarioError as exc:
        _fail(str(exc))
    return loaded


def _file_name(scenario: Scenario) -> str:
    """The scenario's name, safe as part of a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in scenario.name)


def _strategies(requested: list[str] | None, scenario: Scenario) -> list[str]:
    """Validate ``--strategy`` values (one line with a suggestion for a typo)."""
    if not requested:
        return [str(name) for name in scenario.strategies]
    valid = [str(name) for name in StrategyName]
    chosen: list[str] = []
    for name in requested:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            _fail(f"--strategy: unknown strategy {name!r}{hint}; choose from {', '.join(valid)}")
        if name not in chosen:
            chosen.append(name)
    return chosen


@app.command()
def run(
    scenario: ScenarioArgument = None,
    strategy: StrategyOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write results.json, the per-request table and PNG plots to this folder.",
            file_okay=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")
    ] = False,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Write no PNG plots.")] = False,
    table_format: Annotated[
        TableFormat,
        typer.Option(
            "--format", help="Per-request table format for --out (parquet needs pyarrow)."
        ),
    ] = TableFormat.CSV,
    replications: Annotated[
        int,
        typer.Option(
            "--replications",
            "-r",
            min=1,
            help="Independent replications; with 2 or more, every metric gets a 95% CI.",
        ),
    ] = 1,
) -> None:
    """Run a scenario: every strategy on the same traffic, side by side."""
    loaded = _load(scenario, overrides, seed)
    names = _strategies(strategy, loaded)
    if replications > 1:
        _run_replicated(loaded, names, replications, out, json_output, plots=not no_plots)
        return
    if out is not None and table_format is TableFormat.PARQUET:
        _require_pyarrow()
    console = Console(stderr=True)
    with _user_errors(), _progress(console, loaded, names) as progress:
        result = run_scenario(loaded, names, record_requests=out is not None, progress=progress)
    written = _write(
        out,
        lambda folder: write_outputs(result, folder, plots=not no_plots, table_format=table_format),
    )
    if json_output:
        typer.echo(result.to_json(), nl=False)
        return
    stdout = _stdout()
    _print_summary(stdout, result)
    _say_written(stdout, out, written)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Bad input becomes one line and exit 2; Ctrl-C exits 130 having written nothing."""
    try:
        yield
    except AuthsimError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted: no results were written", err=True)
        raise typer.Exit(code=130) from None


@contextlib.contextmanager
def _status(title: str, step: str) -> Iterator[Callable[[str], None] | None]:
    """A spinner on stderr in a terminal; yields ``progress(name)`` (or ``None``)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with console.status(title) as status:

        def progress(name: str) -> None:
            status.update(step.format(name))

        yield progress


def _write(out: Path | None, write: Callable[[Path], list[Path]]) -> list[Path]:
    """Write results into ``out`` (if given); a write failure is one line and exit 2."""
    if out is None:
        return []
    try:
        return write(out)
    except OSError as exc:
        _fail(f"{out}: cannot write results: {exc.strerror or exc}")


def _stdout() -> Console:
    """The console for tables: the terminal's width, or 132 columns into a file."""
    return Console(width=None if sys.stdout.isatty() else 132)


def _say_written(console: Console, out: Path | None, written: list[Path]) -> None:
    if written:
        console.print(
            f"\nWrote {len(written)} files to [bold]{out}[/]: "
            + ", ".join(path.name for path in written)
        )


def _run_replicated(
    scenario: Scenario,
    names: list[str],
    replications: int,
    out: Path | None,
    json_output: bool,
    plots: bool,
) -> None:
    """``authsim run --replications R``: means and 95% intervals, paired differences."""
    console = Console(stderr=True)
    with _user_errors(), _replication_progress(console, replications) as progress:
        replicated = run_replications(scenario, replications, names, progress=progress)
    written = _write(out, lambda folder: write_replicated_outputs(replicated, folder, plots=plots))
    if json_output:
        typer.echo(replicated.to_json(), nl=False)
        return
    stdout = _stdout()
    _print_replicated(stdout, replicated)
    _say_written(stdout, out, written)


def write_replicated_outputs(
    replicated: ReplicatedResult, out_dir: Path, *, plots: bool = True
) -> list[Path]:
    """Write ``results.json`` (means, ``ci95``, ``paired``), ``replications.csv`` (one
    row per replication and strategy) and, with plots, ``comparison_ci.png``; each file
    complete or absent, as for a single run."""
    with _staging(out_dir) as staging:
        (staging / "results.json").write_text(replicated.to_json(), encoding="utf-8")
        replicated.frame().to_csv(staging / "replications.csv", index=False, float_format="%.6g")
        if plots:
            from simulator.present import plots as figures  # noqa: PLC0415 (matplotlib is slow)

            draw = getattr(figures, "comparison_ci_figure", None)
            if draw is not None:
                draw(replicated).savefig(staging / "comparison_ci.png", dpi=figures.DPI)
        return _moved(staging, out_dir)


_CI_COLUMNS: tuple[tuple[str, str, float, int], ...] = (
    ("success %", "success_rate", 100.0, 2),
    ("mean ms", "latency_ms.mean", 1.0, 2),
    ("p95 ms", "latency_ms.p95", 1.0, 1),
    ("p99 ms", "latency_ms.p99", 1.0, 1),
    ("max/mean", "load_skew.max_over_mean", 1.0, 3),
    ("Jain", "load_skew.jain", 1.0, 4),
)
"""Columns of the mean ± CI tables: title, metric, scale, decimals."""


def _print_replicated(console: Console, replicated: ReplicatedResult) -> None:
    scenario = replicated.scenario
    console.print(
        f"[bold]{scenario.name}[/] · seed {scenario.seed} · "
        f"{replicated.replications} replications · mean ± 95% CI half-width"
    )
    table = Table(show_header=True, header_style="bold")
    columns = _CI_COLUMNS
    table.add_column("strategy")
    for title, *_ in columns:
        table.add_column(title, justify="right")
    for name in replicated.strategies:
        cells = [name]
        for _, metric, scale, digits in columns:
            interval = replicated.interval(name, metric)
            cells.append(_interval_text(interval.mean, interval.half_width, scale, digits))
        table.add_row(*cells)
    console.print(table)
    pairs = [pair for pair in replicated.all_paired() if pair.metric == "latency_ms.mean"]
    if pairs:
        paired = Table(title="Paired differences of mean latency (same traffic)")
        paired.add_column("a − b")
        paired.add_column("ms", justify="right")
        paired.add_column("95% CI", justify="right")
        paired.add_column("significant?")
        for pair in pairs:
            interval = pair.interval
            paired.add_row(
                f"{pair.a} − {pair.b}",
                f"{interval.mean:+.3g}",
                f"[{interval.low:+.3g}, {interval.high:+.3g}]",
                "yes" if interval.excludes(0.0) else "no (includes 0)",
            )
        console.print(paired)


def _interval_text(mean: float, half_width: float, scale: float, digits: int) -> str:
    """``mean ± half-width`` with a fixed number of decimals."""
    if math.isnan(mean):
        return "–"
    if math.isnan(half_width):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {half_width * scale:.{digits}f}"


@contextlib.contextmanager
def _replication_progress(
    console: Console, total: int
) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over replications, in a terminal."""
    if not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("replications"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("replications", total=total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield update


# ----------------------------------------------------------------------- sweep


@app.command("sweep")
def sweep_command(
    scenario: ScenarioArgument = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            metavar="KEY=V1,V2",
            help="A dotted key and its values (repeatable), e.g. --grid cluster.servers=3,5.",
        ),
    ] = None,
    replications: Annotated[
        int, typer.Option("--replications", "-r", min=1, help="Replications per point.")
    ] = 3,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Parallel processes (default: CPU count).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS|local",
            help="Run on Dask: 'local' (a LocalCluster) or a scheduler address "
            "(tcp://host:8786); needs pip install 'authsim[dask]'.",
        ),
    ] = None,
    overrides: SetOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            file_okay=False,
            help="Folder for results.csv, summary.csv, sweep.json "
            "(default: results/sweep-<scenario name>).",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the sweep in --out: run missing tasks.")
    ] = False,
) -> None:
    """Sweep a grid of scenario values: every point × replication, in parallel."""
    loaded = _load(scenario, overrides)
    if not grid:
        _fail("--grid: give at least one dotted.key=value1,value2,...")
    with _user_errors():
        parsed = parse_grid(grid, loaded)
    safe_name = _file_name(loaded)
    folder = out if out is not None else Path("results") / f"sweep-{safe_name}"
    console = Console(stderr=True)
    with _user_errors(), _sweep_progress(console) as progress:
        try:
            result = run_sweep(
                loaded,
                parsed,
                replications,
                folder,
                workers=workers,
                scheduler=scheduler,
                resume=resume,
                progress=progress,
            )
        except OSError as exc:
            _fail(f"{folder}: cannot write results: {exc.strerror or exc}")
        except KeyboardInterrupt:
            typer.echo(
                f"interrupted: finished runs are in {folder / 'results.csv'}; "
                "rerun with --resume to complete the sweep",
                err=True,
            )
            raise typer.Exit(code=130) from None
    _print_sweep(_stdout(), result, list(parsed))


SWEEP_TABLE_ROWS = 40
"""Rows of the summary table printed by ``authsim sweep`` (all are in summary.csv)."""


@contextlib.contextmanager
def _sweep_progress(console: Console) -> Iterator[Callable[[int, int, int], None] | None]:
    """Runs done, failures and ETA of a sweep, in a terminal."""
    if not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TextColumn("{task.fields[failures]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("sweep", total=None, failures=0)

        def update(done: int, total: int, failures: int) -> None:
            bar.update(task, completed=done, total=total, failures=failures)

        yield update


def _print_sweep(console: Console, result: SweepResult, grid_keys: list[str]) -> None:
    summary = result.summary
    tasks = len(result.rows[["point", "replication"]].drop_duplicates())
    console.print(
        f"[bold]{summary['point'].nunique()} points[/] · {tasks} runs · "
        f"{result.failures} failed · mean ± 95% CI half-width"
    )
    table = Table(show_header=True, header_style="bold")
    columns = _CI_COLUMNS[:3]
    for title in ("point", *grid_keys, "strategy", "n"):
        table.add_column(title, justify="right" if title in {"point", "n"} else "left")
    for title, *_ in columns:
        table.add_column(title, justify="right")
    for _, row in summary.head(SWEEP_TABLE_ROWS).iterrows():
        cells = [str(row["point"]), *(str(row[key]) for key in grid_keys), str(row["strategy"])]
        cells.append(str(row["replications"]))
        for _, metric, scale, digits in columns:
            cells.append(
                _interval_text(float(row[metric]), float(row[f"{metric}_ci95"]), scale, digits)
            )
        table.add_row(*cells)
    console.print(table)
    if len(summary) > SWEEP_TABLE_ROWS:
        console.print(f"… {len(summary) - SWEEP_TABLE_ROWS} more rows in summary.csv")
    if result.failures:
        console.print(
            f"[yellow]{result.failures} runs failed[/]: see the error column of results.csv"
        )
    console.print(f"\nWrote results.csv, summary.csv and sweep.json to [bold]{result.out_dir}[/]")


@app.command()
def scenarios() -> None:
    """List the built-in scenarios and what each one shows."""
    table = Table(title="Built-in scenarios", show_lines=True)
    table.add_column("name", style="bold")
    table.add_column("strategies")
    table.add_column("what it shows")
    for name, path in builtin_scenarios().items():
        try:
            loaded = load_scenario(path)
        except ScenarioError as exc:
            _fail(str(exc))
        table.add_row(name, ", ".join(loaded.strategies), loaded.description)
    Console(width=None if sys.stdout.isatty() else 132).print(table)


@app.command()
def show(scenario: ScenarioArgument = None, overrides: SetOption = None) -> None:
    """Print a scenario with every default filled in and overrides applied, as YAML."""
    loaded = _load(scenario, overrides)
    data = loaded.model_dump(mode="json")
    typer.echo(yaml.safe_dump(data, sort_keys=False, width=88), nl=False)


# ------------------------------------------------------------------------ calibrate


@app.command()
def calibrate(
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            metavar="URL",
            help="Also time GET and SET round trips against this Redis server "
            "(needs redis-py: pip install 'authsim\\[redis]').",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the profile (YAML) to this file.", dir_okay=False),
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="A second or two: fewer repeats, PBKDF2 timed at 20,000 iterations and "
            "scaled to 600,000 (also AUTHSIM_FAST=1).",
        ),
    ] = False,
) -> None:
    """Measure JWT, password-hashing and Redis costs on this machine: a calibration profile."""
    with _user_errors(), _status("calibrating", "measuring {}") as progress:
        profile = measure_costs(redis_url=redis_url, fast=fast, progress=progress)
    if out is not None:
        try:
            save_profile(profile, out)
        except OSError as exc:
            _fail(f"{out}: cannot write the profile: {exc.strerror or exc}")
    stdout = Console(width=None if sys.stdout.isatty() else 132)
    table = Table(title="Measured on this machine", show_header=True, header_style="bold")
    table.add_column("operation")
    for column in ("measured", "reference", "ratio"):
        table.add_column(column, justify="right")
    for row in compare_costs(profile):
        table.add_row(row.operation, row.measured_text(), row.reference_text(), row.ratio_text())
    stdout.print(table)
    stdout.print(
        f"{profile.machine.get('notes', '')} · reference: simulator/costs.py (Redis: the "
        "default scenario's shared_store.rtt_ms + op_time_ms) · ratio: measured / reference",
        style="dim",
        markup=False,
    )
    if out is None:
        stdout.print(
            "Save it with --out profile.yaml, then use it in a scenario: calibration: profile.yaml",
            markup=False,
        )
    else:
        stdout.print(
            f"Wrote {out}. Use it in a scenario (the path is relative to the scenario file):\n"
            f"  calibration: {out.name}",
            markup=False,
            highlight=False,
        )


# ------------------------------------------------------------------------ output


def write_outputs(
    result: RunResult, out_dir: Path, *, plots: bool = True, table_format: str = "csv"
) -> list[Path]:
    """Write ``results.json``, ``requests.<format>``, the time series and the plots.

    The time series are ``timeseries.csv`` (one row per strategy and time bucket) and
    ``server_timeseries.csv`` (one row per strategy, time bucket and server).

    Everything is first written into a staging folder inside ``out_dir``; only complete
    files are moved into place, so a failed or interrupted run leaves no half-written
    file.

    Returns:
        The paths written.
    """
    with _staging(out_dir) as staging:
        (staging / "results.json").write_text(result.to_json(), encoding="utf-8")
        frame = result.requests_frame()
        table_name = f"requests.{table_format}"
        if table_format == TableFormat.PARQUET:
            frame.to_parquet(staging / table_name, index=False)
        else:
            frame.to_csv(staging / table_name, index=False, float_format="%.6g")
        result.timeseries_frame().to_csv(
            staging / "timeseries.csv", index=False, float_format="%.6g"
        )
        result.server_timeseries_frame().to_csv(
            staging / "server_timeseries.csv", index=False, float_format="%.6g"
        )
        if plots:
            from simulator.present.plots import save_figures  # noqa: PLC0415 (matplotlib is slow to import)

            save_figures(result, staging)
        return _moved(staging, out_dir)


@contextlib.contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A staging folder inside ``out_dir``, removed afterwards whatever happens."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".authsim-", dir=out_dir))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _moved(staging: Path, out_dir: Path) -> list[Path]:
    """Move every complete file from ``staging`` into ``out_dir`` (atomic renames)."""
    moved = []
    for path in sorted(staging.iterdir()):
        target = out_dir / path.name
        os.replace(path, target)
        moved.append(target)
    return moved


def _require_pyarrow() -> None:
    try:
        import pyarrow  # type: ignore[import-not-found,unused-ignore]  # noqa: F401, PLC0415
    except ImportError:
        _fail("--format parquet needs pyarrow: pip install 'authsim[parquet]'")


@contextlib.contextmanager
def _progress(
    console: Console, scenario: Scenario, strategies: list[str]
) -> Iterator[Callable[[str, float], None] | None]:
    """A progress bar per strategy on long runs in a terminal; ``None`` otherwise."""
    expected = scenario.workload.arrival_rate_per_s * scenario.duration_s
    if not console.is_terminal or expected < PROGRESS_MIN_REQUESTS:
        yield None
        return
    columns = (
        TextColumn("{task.description:>13}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {name: bar.add_task(name, total=1.0) for name in strategies}

        def update(strategy: str, fraction: float) -> None:
            bar.update(tasks[strategy], completed=fraction)

        yield update


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _print_summary(console: Console, result: RunResult) -> None:
    scenario = result.scenario
    cluster = scenario.cluster
    console.print(
        f"[bold]{scenario.name}[/] · seed {scenario.seed} · {cluster.servers} servers × "
        f"{cluster.workers_per_server} workers · "
        f"{scenario.workload.arrival_rate_per_s:g} req/s · "
        f"{scenario.measured_s:g} s measured after {scenario.warmup_s:g} s warm-up"
    )
    table = Table(show_header=True, header_style="bold")
    for column, justify in (
        ("strategy", "left"),
        ("requests", "right"),
        ("success", "right"),
        ("forced\nre-logins", "right"),
        ("errors", "right"),
        ("mean\nms", "right"),
        ("p50\nms", "right"),
        ("p95\nms", "right"),
        ("p99\nms", "right"),
        ("max/\nmean", "right"),
        ("Jain", "right"),
        ("store\nbusy", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in result.results:
        latency = item.latency_ms
        skew = item.load_skew
        errors = sum(item.errors.values())
        table.add_row(
            item.strategy,
            f"{item.requests:,}",
            _fmt(item.success_rate * 100 if item.success_rate is not None else None, ".1f") + "%",
            f"{item.forced_relogins:,}",
            f"{errors:,}",
            _fmt(latency["mean"], ".1f"),
            _fmt(latency["p50"], ".1f"),
            _fmt(latency["p95"], ".1f"),
            _fmt(latency["p99"], ".1f"),
            _fmt(skew["max_over_mean"], ".2f"),
            _fmt(skew["jain"], ".3f"),
            _fmt(item.store.utilisation * 100 if item.store else None, ".0f")
            + ("%" if item.store else ""),
        )
    console.print(table)
    costs = _costs_line(result)
    if costs:
        console.print(costs, style="dim")
    if result.events:
        _print_windows(console, result)
    console.print(
        "success: served, no error, no forced re-login · latency: served requests · "
        "max/mean, Jain: load skew (1.0 = even)",
        style="dim",
    )


def _costs_line(result: RunResult) -> str:
    """The authentication costs used, and where they came from."""
    parts: list[str] = []
    for item in result.results:
        cost = item.auth_cost
        if cost is None:
            continue
        if not parts:
            parts.append(f"login {cost.login_ms:.4g} ms")
        if item.strategy == "jwt":
            algorithm = result.scenario.jwt.algorithm
            parts.append(f"jwt {algorithm} verify {cost.verify_ms * 1000:.1f} µs ({cost.source})")
    return ("costs: " + " · ".join(parts)) if parts else ""


def _print_windows(console: Console, result: RunResult) -> None:
    """Success and forced re-logins (by cause) between events, per strategy."""
    table = Table(title="Between events", show_header=True, header_style="bold")
    table.add_column("window")
    table.add_column("from s", justify="right")
    table.add_column("to s", justify="right")
    for item in result.results:
        table.add_column(f"{item.strategy}\nsuccess", justify="right")
        table.add_column("forced\nre-logins", justify="right")
    for row in window_rows(result, missing=""):
        table.add_row(*row)
    console.print(table)


# ------------------------------------------------------------------------ token
# `authsim token ...`: real signed tokens (simulator.tokens): issue, decode, verify, and
# the attack catalogue. Everything of this command group lives in this block.

token_app = typer.Typer(
    help="Real signed tokens (RFC 7519): issue, decode, verify, and a catalogue of attacks.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")

TokenArgument = Annotated[
    str, typer.Argument(help="A compact token, or - to read it from stdin.", show_default=False)
]
TokenAlgorithmOption = Annotated[
    str | None,
    typer.Option(
        "--algorithm",
        "-a",
        help="HS256, RS256, PS256, ES256 or EdDSA.",
        show_default=False,
    ),
]
KeyDirOption = Annotated[
    Path | None,
    typer.Option("--key-dir", help="Folder of saved keys (created by 'token issue --key-dir')."),
]
IssuerOption = Annotated[str, typer.Option("--issuer", help="The iss claim.")]
AudienceOption = Annotated[str, typer.Option("--audience", help="The aud claim.")]


def _token_algorithm(name: str | None, *, default: str | None = None) -> tokens.Algorithm:
    """The algorithm of ``--algorithm`` (case-insensitive), or one line and exit 2."""
    chosen = name if name is not None else default
    valid = [item.value for item in tokens.Algorithm]
    if chosen is None:
        _fail(
            "--algorithm is required: the verifier's algorithm comes from its configuration, "
            f"never from the token; choose from {', '.join(valid)}"
        )
    by_lower = {value.lower(): value for value in valid}
    if chosen.lower() in by_lower:
        return tokens.Algorithm(by_lower[chosen.lower()])
    close = difflib.get_close_matches(chosen, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    _fail(f"--algorithm: unknown algorithm {chosen!r}{hint}; choose from {', '.join(valid)}")


def _token_text(token: str) -> str:
    """The token argument, read from stdin for ``-``, without surrounding whitespace."""
    if token == "-":
        return sys.stdin.read(tokens.DEFAULT_MAX_TOKEN_BYTES * 4 + 1).strip()
    return token.strip()


def _token_consoles() -> tuple[Console, Console]:
    width = None if sys.stdout.isatty() else 132
    return Console(width=width), Console(stderr=True)


def _print_token_parts(console: Console, decoded: tokens.UnverifiedToken) -> None:
    """Header (red), claims (magenta) and signature (cyan), as jwt.io colours them."""
    if decoded.header is not None:
        console.print(Panel(JSON.from_data(decoded.header), title="header", border_style="red"))
    if decoded.claims is not None:
        body: JSON | Table = JSON.from_data(decoded.claims)
        notes = tokens.time_claim_notes(decoded.claims)
        if notes:
            grid = Table.grid(padding=(0, 2))
            grid.add_row(JSON.from_data(decoded.claims))
            for name, note in notes.items():
                grid.add_row(f"[dim]{name}: {note}[/]")
            body = grid
        console.print(Panel(body, title="claims", border_style="magenta"))
    if decoded.signature is not None:
        size = len(decoded.signature)
        text = decoded.signature.hex() if size else "(empty)"
        console.print(
            Panel(Text(text, style="cyan"), title=f"signature · {size} bytes", border_style="cyan")
        )
    for problem in decoded.problems:
        console.print(f"[yellow]problem:[/] {problem}")


def _print_token(console: Console, token: str) -> None:
    """The token on one line: coloured in a terminal, plain (for pipes) otherwise."""
    if not console.is_terminal:
        typer.echo(token)
        return
    header, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    text = Text.assemble((header, "red"), ".", (payload, "magenta"), ".", (signature, "cyan"))
    console.print(text, soft_wrap=True)


def _print_verdict(console: Console, result: tokens.VerificationResult) -> None:
    if result.valid and result.claims is not None:
        expiry = tokens.time_claim_notes(result.claims).get("exp", "")
        console.print(
            f"[bold green]valid[/]: signature, header and claims check out · "
            f"sub={result.claims.get('sub')!r} · expires {expiry}"
        )
        return
    console.print(f"[bold red]invalid[/]: {result.reason} · {result.message}")
    if result.detail:
        console.print(f"  [dim]{result.detail}[/]", highlight=False)


@token_app.command("issue")
def token_issue(
    algorithm: TokenAlgorithmOption = None,
    subject: Annotated[str, typer.Option(help="The sub claim: whom the token speaks for.")] = (
        "alice"
    ),
    ttl: Annotated[float, typer.Option(help="Lifetime, seconds.")] = 900.0,
    issuer: IssuerOption = tokens.DEFAULT_ISSUER,
    audience: AudienceOption = tokens.DEFAULT_AUDIENCE,
    key_dir: KeyDirOption = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Verify the new token at once, with the same key.")
    ] = False,
) -> None:
    """Sign a token and show its three parts (default algorithm: HS256).

    Without --key-dir the key is generated fresh and forgotten (use --verify to check the
    token in the same process); with it, the key is loaded from (or created in) that
    folder, so 'token verify' can check the token later.
    """
    chosen = _token_algorithm(algorithm, default=tokens.Algorithm.HS256.value)
    if not ttl >= 1 or ttl == float("inf"):
        _fail(f"--ttl: must be at least 1 second, got {ttl:g}")
    stdout, stderr = _token_consoles()
    try:
        if key_dir is None:
            key, created = tokens.generate_key(chosen), True
        else:
            key, created = tokens.load_or_create_key(chosen, key_dir)
        token = tokens.issue_token(key, subject, ttl, issuer=issuer, audience=audience)
    except (AuthsimError, ValueError) as exc:
        _fail(str(exc))
    _print_token(stdout, token)
    _print_token_parts(stdout, tokens.decode_unverified(token))
    if key_dir is None:
        stderr.print(
            f"[dim]key: a fresh {chosen.value} key (kid {key.kid}), not saved: "
            "use --key-dir to verify this token later[/]",
            highlight=False,
        )
    else:
        state = "created and saved in" if created else "loaded from"
        stderr.print(
            f"[dim]key: {chosen.value} (kid {key.kid}) {state} {key_dir}[/]", highlight=False
        )
    if verify:
        result = tokens.Verifier(key.public_only(), issuer=issuer, audience=audience).verify(token)
        _print_verdict(stdout, result)
        if not result.valid:
            raise typer.Exit(code=1)


@token_app.command("decode")
def token_decode(token: TokenArgument) -> None:
    """Show a token's header and claims WITHOUT verifying anything."""
    decoded = tokens.decode_unverified(_token_text(token))
    if not decoded.readable:
        _fail(f"TOKEN: not a JWT: {'; '.join(decoded.problems)}")
    stdout, _ = _token_consoles()
    stdout.print(
        "[bold yellow]NOT VERIFIED[/]: decoding only shows what the token claims; anyone can "
        "write any header and claims. Check it with 'authsim token verify'."
    )
    _print_token_parts(stdout, decoded)


@token_app.command("verify")
def token_verify(
    token: TokenArgument,
    algorithm: TokenAlgorithmOption = None,
    key_dir: KeyDirOption = None,
    issuer: IssuerOption = tokens.DEFAULT_ISSUER,
    audience: AudienceOption = tokens.DEFAULT_AUDIENCE,
    leeway: Annotated[
        float, typer.Option(help="Clock skew allowed on exp, nbf and iat, seconds.")
    ] = tokens.DEFAULT_LEEWAY_S,
) -> None:
    """Verify a token with a saved key: exit 0 if valid, 1 if not, 2 for bad input."""
    chosen = _token_algorithm(algorithm)
    if key_dir is None:
        _fail("--key-dir is required: the folder holding the key the token was signed with")
    if not 0 <= leeway <= tokens.MAX_LEEWAY_S:
        _fail(f"--leeway: must be between 0 and {tokens.MAX_LEEWAY_S:g} s, got {leeway:g}")
    try:
        key = tokens.load_key(chosen, key_dir, signing=False)
        verifier = tokens.Verifier(key, issuer=issuer, audience=audience, leeway_s=leeway)
    except (AuthsimError, ValueError) as exc:
        _fail(str(exc))
    result = verifier.verify(_token_text(token))
    stdout, _ = _token_consoles()
    _print_verdict(stdout, result)
    if not result.valid:
        raise typer.Exit(code=1)


@token_app.command("attacks")
def token_attacks() -> None:
    """Run the attack catalogue: exit 0 only if every attack is rejected as expected."""
    outcomes = tokens.run_attacks()
    table = Table(title="Attacks on the token verifier", show_header=True, header_style="bold")
    table.add_column("attack", style="bold", no_wrap=True)
    table.add_column("what it tries")
    table.add_column("rejected?", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    for outcome in outcomes:
        reason = outcome.reason
        if not outcome.as_expected:
            reason = f"[red]{reason} (expected {outcome.expected_reason})[/]"
        table.add_row(
            outcome.name,
            outcome.description,
            "[green]yes[/]" if outcome.rejected else "[bold red]NO[/]",
            reason,
        )
    stdout, _ = _token_consoles()
    stdout.print(table)
    passed = sum(outcome.as_expected for outcome in outcomes)
    style = "green" if passed == len(outcomes) else "bold red"
    stdout.print(f"[{style}]{passed}/{len(outcomes)} attacks rejected with the expected reason[/]")
    if passed != len(outcomes):
        raise typer.Exit(code=1)


# ------------------------------------------------------------------------ end of token


# ------------------------------------------------------------------------ validate
# `authsim validate`: the model against closed-form theory (simulator.experiments.validation and
# simulator.experiments.theory). Everything of this command lives in this block.


def _validation_value(value: float, unit: str, half_width: float = math.nan) -> str:
    """``mean ± half-width unit``: fractions as percentages, others to 4 significant digits."""
    if math.isnan(value):
        return "–"
    spread = not math.isnan(half_width)
    if not unit:
        text = f"{value * 100:.2f}"
        if spread:
            text += f" ± {half_width * 100:.2f}"
        return text + "%"
    text = f"{value:#.4g}".rstrip(".")
    if spread:
        text += f" ± {half_width:.2g}"
    return f"{text} {unit}"


@app.command("validate")
def validate_command(
    fast: Annotated[
        bool,
        typer.Option(
            "--fast", help="A smaller set (about 10 s instead of 30): same cases, same tolerance."
        ),
    ] = False,
    case: Annotated[
        list[str] | None,
        typer.Option(
            "--case",
            "-c",
            metavar="NAME",
            help=f"Run only this case (repeatable): {', '.join(case_names())}.",
        ),
    ] = None,
) -> None:
    """Check the model against theory: M/M/1, M/M/c, Little's law, the store, hashing, 1/N.

    Prints one row per checked quantity: the simulated mean over independent
    replications with its 95% interval, the closed-form value, the relative error and
    the verdict. Exit code 0 when every row passes, 1 when any fails.
    """
    chosen: list[str] | None = None
    if case:
        chosen = []
        for name in case:
            if name not in case_names():
                close = difflib.get_close_matches(name, case_names(), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                _fail(f"--case: unknown case {name!r}{hint}; choose from {', '.join(case_names())}")
            chosen.append(name)
    started = time.perf_counter()
    with _user_errors(), _status("validating", "simulating case {}") as progress:
        rows = run_validation(fast=fast, cases=chosen, progress=progress)
    elapsed_s = time.perf_counter() - started
    stdout = Console(width=None if sys.stdout.isatty() else 132)
    _print_validation(stdout, rows, fast=fast, elapsed_s=elapsed_s)
    if not all(row.passed for row in rows):
        raise typer.Exit(code=1)


def _print_validation(
    console: Console, rows: list[CaseResult], *, fast: bool, elapsed_s: float
) -> None:
    """The lab-report table, the method of each row, and a one-line verdict."""
    table = Table(
        title="Validation: simulation against theory" + (" (fast set)" if fast else ""),
        show_header=True,
        header_style="bold",
    )
    table.add_column("#", justify="right")
    table.add_column("case", style="bold")
    table.add_column("quantity")
    table.add_column("simulation\nmean ± 95% CI", justify="right")
    table.add_column("theory", justify="right")
    table.add_column("relative\nerror", justify="right")
    table.add_column("in CI", justify="center")
    table.add_column("result", justify="center")
    for number, row in enumerate(rows, start=1):
        table.add_row(
            str(number),
            row.case,
            row.quantity,
            _validation_value(row.simulated.mean, row.unit, row.simulated.half_width),
            _validation_value(row.theory, row.unit),
            f"{row.relative_error * 100:+.2f}%",
            "yes" if row.theory_in_ci else "no",
            "[green]PASS[/]" if row.passed else "[bold red]FAIL[/]",
        )
    console.print(table)
    method = Table.grid(padding=(0, 1))
    method.add_column(justify="right", style="dim")
    method.add_column(style="dim")
    for number, row in enumerate(rows, start=1):
        method.add_row(f"{number}.", Text(row.checks))
    console.print(method)
    replications = sorted({row.simulated.n for row in rows})
    console.print(
        f"A check passes when its relative error is at most {TOLERANCE:.0%} and the theory "
        f"lies within {CI_SLACK:g} × the 95% half-width of the simulated mean "
        f"({' or '.join(str(n) for n in replications)} independent replications per check).",
        style="dim",
        markup=False,
        highlight=False,
    )
    failed = [row for row in rows if not row.passed]
    if not failed:
        console.print(
            f"[bold green]PASS[/]: all {len(rows)} checks agree with theory ({elapsed_s:.1f} s)"
        )
    else:
        names = "; ".join(f"{row.case} {row.quantity}" for row in failed)
        console.print(
            f"[bold red]FAIL[/]: {len(failed)} of {len(rows)} checks disagree with theory: "
            f"{names} ({elapsed_s:.1f} s)",
            highlight=False,
        )


# ------------------------------------------------------------------------ end of validate


@app.command("warmup")
def warmup_command(
    scenario: ScenarioArgument = None,
    overrides: SetOption = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", "-s", help="Strategy to study (default: the first).")
    ] = None,
    metric: Annotated[
        str, typer.Option(help="Per-bucket metric: " + ", ".join(WELCH_METRICS) + ".")
    ] = "latency_mean",
    replications: Annotated[int, typer.Option("--replications", "-r", min=1)] = 5,
    window: Annotated[int, typer.Option(min=1, help="Moving-average half-window, buckets.")] = 5,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="Relative band around the long-run level.")
    ] = 0.05,
    absolute_tolerance: Annotated[
        float, typer.Option(min=0.0, help="Absolute band, for metrics near zero.")
    ] = 0.0,
    bucket_s: Annotated[float | None, typer.Option(min=0.0, help="Bucket width, s.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", file_okay=False, help="Write welch.png here.")
    ] = None,
) -> None:
    """Suggest a warm-up with Welch's method: the running mean over replications."""
    loaded = _load(scenario, overrides)
    if strategy is not None:
        _strategies([strategy], loaded)
    if metric not in WELCH_METRICS:
        close = difflib.get_close_matches(metric, list(WELCH_METRICS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        _fail(f"--metric: unknown metric {metric!r}{hint}")
    with _user_errors():
        try:
            result = welch(
                loaded,
                replications,
                strategy=strategy,
                metric=metric,
                window=window,
                tolerance=tolerance,
                absolute_tolerance=absolute_tolerance,
                bucket_s=bucket_s,
            )
        except ValueError as exc:
            _fail(str(exc))

    def write(folder: Path) -> list[Path]:
        from simulator.present.plots import WELCH_FILE, welch_figure  # noqa: PLC0415 (slow import)

        with _staging(folder) as staging:
            welch_figure(result).savefig(staging / WELCH_FILE, dpi=120)
            return _moved(staging, folder)

    written = _write(out, write)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        return
    stdout = _stdout()
    stdout.print(str(result))
    _say_written(stdout, out, written)


# ----------------------------------------------------------------------- plot-sweep

_SWEEP_ID_COLUMNS = ("point", "replication", "strategy", "seed", "requests", "error")


def _closest_hint(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.4)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _sweep_grid_keys(folder: Path, columns: list[str]) -> list[str]:
    """The grid keys from ``sweep.json``; without it, the columns between ``strategy``
    and ``seed`` of ``results.csv``."""
    manifest = folder / "sweep.json"
    if manifest.is_file():
        try:
            grid = json.loads(manifest.read_text(encoding="utf-8")).get("grid")
        except (OSError, ValueError, AttributeError) as exc:
            _fail(f"{manifest}: cannot read the sweep's grid: {exc}")
        if not isinstance(grid, dict):
            _fail(f"{manifest}: no 'grid' mapping")
        return [str(key) for key in grid]
    if "strategy" in columns and "seed" in columns:
        return columns[columns.index("strategy") + 1 : columns.index("seed")]
    return []


@app.command("plot-sweep")
def plot_sweep(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A sweep's output folder (results.csv, sweep.json).",
            file_okay=False,
            show_default=False,
        ),
    ],
    x: Annotated[str, typer.Option("--x", help="The grid key on the x axis.")],
    y: Annotated[str, typer.Option("--y", help="The metric on the y axis, e.g. latency_ms.p95.")],
    facet: Annotated[
        str | None,
        typer.Option("--facet", help="A second grid key: one panel per value."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The PNG to write (default: DIR/sweep_<y>_vs_<x>.png).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Plot a metric of a sweep against a grid key: a line per strategy, 95% CI bands."""
    import pandas as pd  # noqa: PLC0415 (slow to import)

    results = folder / "results.csv"
    try:
        rows = pd.read_csv(results)
    except FileNotFoundError:
        _fail(f"{results}: no such file (run 'authsim sweep' first)")
    except (OSError, ValueError) as exc:
        _fail(f"{results}: cannot read: {exc}")
    columns = [str(column) for column in rows.columns]
    keys = _sweep_grid_keys(folder, columns)
    for option, key in (("--x", x), ("--facet", facet)):
        if key is not None and key not in keys:
            _fail(
                f"{option}: {key!r} is not a grid key{_closest_hint(key, keys)}; "
                f"grid keys: {', '.join(keys) or 'none'}"
            )
    if facet is not None and facet == x:
        _fail(f"--facet: {facet!r} is already --x; choose another grid key")
    metrics = [c for c in columns if c not in keys and c not in _SWEEP_ID_COLUMNS]
    if y not in metrics:
        _fail(
            f"--y: {y!r} is not a metric column{_closest_hint(y, metrics)}; "
            f"metrics: {', '.join(metrics)}"
        )
    from simulator.present.plots import DPI, SWEEP_FILE, sweep_figure  # noqa: PLC0415 (slow)

    try:
        figure = sweep_figure(rows, x, y, facet=facet, grid_keys=keys)
    except ValueError as exc:
        _fail(str(exc))
    target = out if out is not None else folder / SWEEP_FILE.format(y=y, x=x)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target) as handle:
            figure.savefig(handle, format="png", dpi=DPI)
    except OSError as exc:
        _fail(f"{target}: cannot write the figure: {exc.strerror or exc}")
    typer.echo(f"Wrote {target}")


# ------------------------------------------------------------------------ report
# `authsim report`: one self-contained HTML file of a run (simulator.present.report). Everything
# of this command lives in this block.


@app.command("report")
def report_command(
    scenario: ScenarioArgument = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE.html",
            help="The HTML file to write (default: results/report-<scenario name>.html).",
        ),
    ] = None,
    overrides: SetOption = None,
    seed: SeedOption = None,
    strategy: StrategyOption = None,
) -> None:
    """Write a self-contained HTML report of a run: tables, every figure, an explanation.

    One file that needs nothing else to be read (images embedded, CSS inline): the
    scenario and its parameters, the comparison table, every plot with its events marked,
    a plain-language account of what happened computed from the numbers, and the
    command, seed and versions that reproduce it.
    """
    if out is not None and out.is_dir():
        _fail(f"--out: {out} is a folder; give a file name such as {out / 'report.html'}")
    loaded = _load(scenario, overrides, seed)
    names = _strategies(strategy, loaded)
    from simulator.present import report  # noqa: PLC0415 (it draws with matplotlib: slow to import)

    safe_name = _file_name(loaded)
    target = out if out is not None else Path(report.DEFAULT_OUT.format(scenario=safe_name))
    command = report.reproduce_command(loaded, names, source=scenario, out=out)
    with _user_errors(), _status("Building the report", "Building the report: {}") as status:
        if status is not None:
            status("running the strategies")
        result = run_scenario(loaded, names, record_requests=False)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            report.write_report(result, target, command=command, progress=status)
        except OSError as exc:
            _fail(f"{target}: cannot write the report: {exc.strerror or exc}")
    typer.echo(f"Wrote {target}")


# ------------------------------------------------------------------------ cheatsheet


@app.command("cheatsheet")
def cheatsheet_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE.md",
            help="Write the page to this Markdown file (default: print it).",
        ),
    ] = None,
    overrides: SetOption = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Shorten every run around its events (seconds instead of a minute)."
        ),
    ] = False,
) -> None:
    """A one-page interview cheat sheet in Markdown, with numbers from fresh runs.

    The four strategies, when each wins, how each fails and the numbers to quote, computed
    by running baseline, nat-hotspot, server-crash, store-outage, store-saturation,
    revocation and the two scale-out scenarios. --set applies to every run.
    """
    if out is not None and out.is_dir():
        _fail(f"--out: {out} is a folder; give a file name such as {out / 'cheatsheet.md'}")
    with _user_errors():
        with _status("Running the scenarios", "Running {}") as status:

            def progress(name: str, done: int, total: int) -> None:
                if status is not None:
                    status(f"{name} ({done + 1}/{total})")

            sheet = build_cheatsheet(overrides or [], quick=quick, progress=progress)
        page = sheet.markdown()
        if out is None:
            typer.echo(page, nl=False)
            return
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_text(out, page)
        except OSError as exc:
            _fail(f"{out}: cannot write the cheat sheet: {exc.strerror or exc}")
    typer.echo(f"Wrote {out}", err=True)


# ------------------------------------------------------------------------ animate


@app.command("animate")
def animate_command(
    scenario: ScenarioArgument = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE.gif|FILE.mp4",
            help="Where to write the animation (default: results/animate-<scenario>.gif); "
            ".mp4 needs ffmpeg.",
        ),
    ] = None,
    overrides: SetOption = None,
    seed: SeedOption = None,
    strategy: StrategyOption = None,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second of the animation.")] = 5.0,
    frame_s: Annotated[float, typer.Option("--frame-s", help="Simulated seconds per frame.")] = 1.0,
    size: Annotated[
        str, typer.Option("--size", metavar="WxH", help="Image size in pixels.")
    ] = "1280x720",
) -> None:
    """Animate a scenario: the balancer and its servers, one panel per strategy.

    Each frame shows frame-s seconds of the same traffic for every strategy: each server's
    state (up, draining, restarting, down), busy workers, queue and sessions held, the
    success rate and latency, and the events as captions.
    """
    from simulator.present import animate as animation  # noqa: PLC0415 (only this command draws)

    loaded = _load(scenario, overrides, seed)
    names = _strategies(strategy, loaded)
    problem = animation.fps_problem(fps)
    if problem is not None:
        _fail(f"--fps: {problem}")
    problem = animation.frame_s_problem(loaded, frame_s)
    if problem is not None:
        _fail(f"--frame-s: {problem}")
    dimensions = _image_size(size, animation.MIN_SIZE)
    if out is None:
        safe_name = _file_name(loaded)
        out = Path("results") / f"animate-{safe_name}.gif"
    if out.suffix.lower() not in (".gif", ".mp4"):
        _fail(f"--out: {out}: write a .gif or an .mp4 file")
    if out.is_dir():
        _fail(f"--out: {out} is a folder; give a file name such as {out / 'cluster.gif'}")
    if out.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        _fail(f"--out: {out}: writing MP4 needs ffmpeg on the PATH; install it, or write a .gif")
    with _user_errors(), _status("Animating", "{}") as status:
        cluster = animation.simulate(loaded, names, frame_s=frame_s)
        if status is not None:
            status(f"Drawing {cluster.count} frames")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            count = animation.save_animation(
                out, animation.iter_render(cluster, dimensions), fps=fps
            )
        except OSError as exc:
            _fail(f"{out}: cannot write the animation: {exc.strerror or exc}")
    typer.echo(f"Wrote {out} ({count} frames, {dimensions[0]}x{dimensions[1]})")


def _image_size(text: str, smallest: tuple[int, int]) -> tuple[int, int]:
    """Parse ``--size WIDTHxHEIGHT`` (one line and exit 2 when it is not usable)."""
    width_text, _, height_text = text.lower().partition("x")
    if not (width_text.isdigit() and height_text.isdigit()):
        _fail(f"--size: give WIDTHxHEIGHT in pixels, such as 1280x720 (got {text!r})")
    width, height = int(width_text), int(height_text)
    if width < smallest[0] or height < smallest[1] or width > 3840 or height > 2160:
        _fail(
            f"--size: {width}x{height} is outside {smallest[0]}x{smallest[1]} to 3840x2160 pixels"
        )
    return width, height


def main() -> None:
    """Entry point of the ``authsim`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
