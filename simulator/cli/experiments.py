"""``authsim sweep``, ``plot-sweep``, ``validate`` and ``warmup``: experiments on the model.

A sweep runs a grid of scenario values in parallel (:mod:`simulator.experiments.sweep`,
which owns the columns of its ``results.csv``) and ``plot-sweep`` draws one of its
metrics; ``validate`` checks the model against closed-form theory
(:mod:`simulator.experiments.validation`); ``warmup`` suggests a warm-up with Welch's
method (:mod:`simulator.experiments.warmup`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulator.atomic import atomic_file
from simulator.cli.options import (
    AllowLargeOption,
    ScenarioArgument,
    SetOption,
    did_you_mean,
    fail,
    fail_to_write,
    file_name,
    load,
    print_results,
    safe,
    stderr_console,
    stdout_console,
    strategy_names,
    user_errors,
    writable_file,
    writable_folder,
    write_results,
)
from simulator.cli.progress import replication_progress, steps, sweep_progress
from simulator.cli.run import CI_COLUMNS, interval_text
from simulator.errors import one_line
from simulator.present.format import MISSING, is_missing
from simulator.results import io

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from simulator.experiments.sweep import SweepResult
    from simulator.experiments.validation import CaseResult

# The experiments import scipy, pandas and the model: each command imports its own when it
# runs, so that ``authsim --help`` (and every other command) does not pay for them.

SWEEP_TABLE_ROWS = 40
"""Rows of the summary table printed by ``authsim sweep`` (all are in summary.csv)."""

VALIDATION_CASES: tuple[str, ...] = ("mm1", "mmc", "little", "store", "remap", "local", "ps", "hop")
"""The names of ``simulator.experiments.validation.case_names()``, in order, for the help of
``validate --case`` (tests/test_startup.py checks that the two agree)."""

WELCH_METRIC_NAMES: tuple[str, ...] = (
    "latency_mean",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "success_rate",
    "served_per_s",
    "queue_length",
)
"""The keys of ``simulator.experiments.warmup.WELCH_METRICS``, in order, for the help of
``warmup --metric`` (tests/test_startup.py checks that the two agree)."""


def run_validation(
    fast: bool = False,
    cases: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CaseResult]:
    """:func:`simulator.experiments.validation.validate`, imported when first called."""
    from simulator.experiments.validation import validate  # noqa: PLC0415 (the model, scipy)

    return validate(fast=fast, cases=cases, progress=progress)


# ----------------------------------------------------------------------- sweep


def _grid_cell(value: object) -> str:
    """A grid value in the sweep's table: ``200`` for 200.0, ``–`` for a missing one, text
    as it was given (:func:`~simulator.cli.options.safe`)."""
    if isinstance(value, float):
        return MISSING if is_missing(value) else f"{value:g}"
    return safe(value)


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
            "(tcp://host:8786); needs pip install 'authsim[dask]' "
            "(pip install -e '.[dask]' in a checkout).",
        ),
    ] = None,
    overrides: SetOption = None,
    allow_large: AllowLargeOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            file_okay=False,
            callback=writable_folder("results"),
            help=f"Folder for {io.SWEEP_RESULTS_CSV}, {io.SWEEP_SUMMARY_CSV}, "
            f"{io.SWEEP_MANIFEST} (default: {io.SWEEP_DIR.format(scenario='<scenario name>')}).",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the sweep in --out: run missing tasks.")
    ] = False,
) -> None:
    """Sweep a grid of scenario values: every point × replication, in parallel."""
    from simulator.experiments.sweep import parse_grid, run_sweep  # noqa: PLC0415

    loaded = load(scenario, overrides)
    if not grid:
        fail("--grid: give at least one dotted.key=value1,value2,...")
    with user_errors():
        parsed = parse_grid(grid, loaded)
    folder = out if out is not None else Path(io.SWEEP_DIR.format(scenario=file_name(loaded)))
    console = stderr_console()
    with user_errors(), sweep_progress(console) as progress:
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
            fail_to_write(folder, "results", exc)
        except KeyboardInterrupt:
            results = one_line(str(folder / io.SWEEP_RESULTS_CSV))
            typer.echo(
                f"interrupted: finished runs are in {results}; "
                "rerun with --resume to complete the sweep",
                err=True,
            )
            raise typer.Exit(code=130) from None
    print_sweep(stdout_console(), result, list(parsed))


def print_sweep(console: Console, result: SweepResult, grid_keys: list[str]) -> None:
    """Mean ± 95% half-width of success and latency per point and strategy; headers in
    words (:mod:`simulator.present.labels`), a missing value as ``–``."""
    from rich.table import Table  # noqa: PLC0415 (as every import of a command)

    from simulator.present.labels import metric_label, parameter_label  # noqa: PLC0415 (pandas)

    summary = result.summary
    tasks = len(result.rows[["point", "replication"]].drop_duplicates())
    console.print(
        f"[bold]{summary['point'].nunique()} points[/] · {tasks} runs · "
        f"{result.failures} failed · mean ± 95% CI half-width"
    )
    table = Table(show_header=True, header_style="bold")
    columns = CI_COLUMNS[:3]
    table.add_column("point", justify="right")
    for key in grid_keys:
        table.add_column(safe(parameter_label(key)), justify="left")
    table.add_column("strategy", justify="left")
    table.add_column("replications", justify="right")
    for _, metric, *_ in columns:
        table.add_column(metric_label(metric), justify="right")
    for _, row in summary.head(SWEEP_TABLE_ROWS).iterrows():
        cells = [str(row["point"]), *(_grid_cell(row[key]) for key in grid_keys)]
        cells.append(safe(row["strategy"]))
        cells.append(str(row["replications"]))
        for _, metric, scale, digits in columns:
            cells.append(
                interval_text(float(row[metric]), float(row[f"{metric}_ci95"]), scale, digits)
            )
        table.add_row(*cells)
    console.print(table)
    if len(summary) > SWEEP_TABLE_ROWS:
        console.print(f"… {len(summary) - SWEEP_TABLE_ROWS} more rows in {io.SWEEP_SUMMARY_CSV}")
    if result.failures:
        console.print(
            f"[yellow]{result.failures} runs failed[/]: "
            f"see the error column of {io.SWEEP_RESULTS_CSV}"
        )
    console.print(
        f"\nWrote {io.SWEEP_RESULTS_CSV}, {io.SWEEP_SUMMARY_CSV} and {io.SWEEP_MANIFEST} "
        f"to [bold]{safe(result.out_dir)}[/]"
    )


def plot_sweep(
    folder: Annotated[
        Path,
        typer.Argument(
            help=f"A sweep's output folder ({io.SWEEP_RESULTS_CSV}, {io.SWEEP_MANIFEST}).",
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
            help=f"The PNG to write (default: DIR/{io.SWEEP_PNG.format(y='<y>', x='<x>')}).",
            dir_okay=False,
            callback=writable_file("the figure"),
        ),
    ] = None,
) -> None:
    """Plot a metric of a sweep against a grid key: a line per strategy, 95% CI bands."""
    import pandas as pd  # noqa: PLC0415 (slow to import)

    from simulator.experiments.sweep import ID_COLUMNS, read_grid_keys  # noqa: PLC0415

    results = folder / io.SWEEP_RESULTS_CSV
    try:
        rows = pd.read_csv(results)
    except FileNotFoundError:
        fail(f"{results}: no such file (run 'authsim sweep' first)")
    except (OSError, ValueError) as exc:
        fail(f"{results}: cannot read: {exc}")
    columns = [str(column) for column in rows.columns]
    with user_errors():
        keys = read_grid_keys(folder, columns)
    for option, key in (("--x", x), ("--facet", facet)):
        if key is not None and key not in keys:
            fail(
                f"{option}: {key!r} is not a grid key{did_you_mean(key, keys, cutoff=0.4)}; "
                f"grid keys: {', '.join(keys) or 'none'}"
            )
    if facet is not None and facet == x:
        fail(f"--facet: {facet!r} is already --x; choose another grid key")
    metrics = [c for c in columns if c not in keys and c not in ID_COLUMNS]
    if y not in metrics:
        fail(
            f"--y: {y!r} is not a metric column{did_you_mean(y, metrics, cutoff=0.4)}; "
            f"metrics: {', '.join(metrics)}"
        )
    from simulator.present import plots  # noqa: PLC0415 (matplotlib is slow to import)

    try:
        figure = plots.sweep_figure(rows, x, y, facet=facet, grid_keys=keys)
    except ValueError as exc:
        fail(str(exc))
    target = out if out is not None else folder / io.SWEEP_PNG.format(y=y, x=x)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target) as handle:
            figure.savefig(handle, format="png", dpi=plots.DPI)
    except OSError as exc:
        fail_to_write(target, "the figure", exc)
    typer.echo(f"Wrote {one_line(str(target))}")


# ----------------------------------------------------------------------- validate


def validate_command(
    fast: Annotated[
        bool,
        typer.Option(
            "--fast", help="A smaller set (about 30 s instead of 80): same cases, same tolerance."
        ),
    ] = False,
    case: Annotated[
        list[str] | None,
        typer.Option(
            "--case",
            "-c",
            metavar="NAME",
            help=f"Run only this case (repeatable): {', '.join(VALIDATION_CASES)}.",
        ),
    ] = None,
) -> None:
    """Check the model against theory: M/M/1, M/M/c, Little's law, the store, hashing, 1/N,
    processor sharing, the balancer hop.

    Prints one row per checked quantity: the simulated mean over independent
    replications with its 95% interval, the closed-form value, the relative error and
    the verdict. Exit code 0 when every row passes, 1 when any fails.
    """
    chosen: list[str] | None = None
    if case:
        from simulator.experiments.validation import case_names  # noqa: PLC0415 (the model)

        chosen = []
        names = case_names()
        for name in case:
            if name not in names:
                fail(
                    f"--case: unknown case {name!r}{did_you_mean(name, names)}; "
                    f"choose from {', '.join(names)}"
                )
            chosen.append(name)
    started = time.perf_counter()
    with user_errors(), steps("validate", "Validating", "simulating case {}") as progress:
        rows = run_validation(fast=fast, cases=chosen, progress=progress)
    elapsed_s = time.perf_counter() - started
    print_validation(stdout_console(), rows, fast=fast, elapsed_s=elapsed_s)
    if not all(row.passed for row in rows):
        raise typer.Exit(code=1)


def validation_value(value: float, unit: str, half_width: float = float("nan")) -> str:
    """``mean ± half-width unit``: fractions as percentages, others to 4 significant digits."""
    if is_missing(value):
        return MISSING
    spread = not is_missing(half_width)
    if not unit:
        text = f"{value * 100:.2f}"
        if spread:
            text += f" ± {half_width * 100:.2f}"
        return text + "%"
    text = f"{value:#.4g}".rstrip(".")
    if spread:
        text += f" ± {half_width:.2g}"
    return f"{text} {unit}"


def print_validation(
    console: Console, rows: list[CaseResult], *, fast: bool, elapsed_s: float
) -> None:
    """The lab-report table, the method of each row, and a one-line verdict."""
    from rich.table import Table  # noqa: PLC0415 (as every import of a command)
    from rich.text import Text  # noqa: PLC0415

    from simulator.experiments.validation import CI_SLACK, TOLERANCE  # noqa: PLC0415

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
            validation_value(row.simulated.mean, row.unit, row.simulated.half_width),
            validation_value(row.theory, row.unit),
            f"{row.relative_error * 100:+.2f}%",
            "exact" if row.exact else "yes" if row.theory_in_ci else "no",
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


# ----------------------------------------------------------------------- warmup


def warmup_command(
    scenario: ScenarioArgument = None,
    overrides: SetOption = None,
    allow_large: AllowLargeOption = False,
    strategy: Annotated[
        str | None, typer.Option("--strategy", "-s", help="Strategy to study (default: the first).")
    ] = None,
    metric: Annotated[
        str, typer.Option(help="Per-bucket metric: " + ", ".join(WELCH_METRIC_NAMES) + ".")
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
        Path | None,
        typer.Option(
            "--out",
            "-o",
            file_okay=False,
            callback=writable_folder("the figure"),
            help=f"Write {io.WELCH_PNG} here.",
        ),
    ] = None,
) -> None:
    """Suggest a warm-up with Welch's method: the running mean over replications."""
    from simulator.experiments.warmup import WELCH_METRICS, welch  # noqa: PLC0415

    loaded = load(scenario, overrides)
    if strategy is not None:
        strategy_names([strategy], loaded)
    if metric not in WELCH_METRICS:
        fail(f"--metric: unknown metric {metric!r}{did_you_mean(metric, list(WELCH_METRICS))}")
    with user_errors(), replication_progress(stderr_console(), replications) as progress:
        try:
            result = welch(
                loaded,
                replications,
                progress=progress,
                strategy=strategy,
                metric=metric,
                window=window,
                tolerance=tolerance,
                absolute_tolerance=absolute_tolerance,
                bucket_s=bucket_s,
            )
        except ValueError as exc:
            fail(str(exc))
    written = write_results(out, lambda folder: io.write_welch_outputs(result, folder))

    def document() -> str:
        return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"

    print_results(
        document if json_output else None,
        lambda console: console.print(str(result), markup=False),
        out,
        written,
    )
