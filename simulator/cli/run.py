"""``authsim run``, ``scenarios`` and ``show``: a scenario run and its tables.

``run`` prints the side-by-side summary table, the authentication costs used and, when
the scenario has events, the table between events; with ``--replications`` it prints
means with 95% intervals and the paired differences. ``--out`` writes the run's folder
through :mod:`simulator.results.io`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from simulator.cli.options import (
    ScenarioArgument,
    SeedOption,
    SetOption,
    StrategyOption,
    fail,
    load,
    print_results,
    replication_progress,
    run_progress,
    stdout_console,
    strategy_names,
    user_errors,
    write_results,
)
from simulator.errors import ScenarioError
from simulator.experiments.replications import run_replications
from simulator.model.run import run as run_scenario
from simulator.present.explain import window_rows
from simulator.present.format import MISSING, count, is_missing, number, percent
from simulator.results import io
from simulator.scenario.loading import builtin_scenarios, load_scenario
from simulator.scenario.models import Scenario

if TYPE_CHECKING:
    from simulator.experiments.replications import ReplicatedResult
    from simulator.results.records import RunResult


class TableFormat(StrEnum):
    """File format of the per-request table written by ``--out``."""

    CSV = "csv"
    PARQUET = "parquet"


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
            help=f"Write {io.RESULTS_JSON}, the per-request table and PNG plots to this folder.",
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
    loaded = load(scenario, overrides, seed)
    names = strategy_names(strategy, loaded)
    if replications > 1:
        _run_replicated(loaded, names, replications, out, json_output, plots=not no_plots)
        return
    if out is not None and table_format is TableFormat.PARQUET:
        with user_errors():
            io.require_pyarrow()
    console = Console(stderr=True)
    with user_errors(), run_progress(console, loaded, names) as progress:
        result = run_scenario(loaded, names, record_requests=out is not None, progress=progress)
    written = write_results(
        out,
        lambda folder: io.write_outputs(
            result, folder, plots=not no_plots, table_format=table_format
        ),
    )
    document = result.to_json if json_output else None
    print_results(document, lambda console: print_summary(console, result), out, written)


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
            fail(str(exc))
        table.add_row(name, ", ".join(loaded.strategies), loaded.description)
    stdout_console().print(table)


def show(scenario: ScenarioArgument = None, overrides: SetOption = None) -> None:
    """Print a scenario with every default filled in and overrides applied, as YAML."""
    loaded = load(scenario, overrides)
    data = loaded.model_dump(mode="json")
    typer.echo(yaml.safe_dump(data, sort_keys=False, width=88), nl=False)


# ----------------------------------------------------------------------- one run


def print_summary(console: Console, result: RunResult) -> None:
    """The scenario's line, the side-by-side table, the costs and the event windows."""
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
        success = item.success_rate
        table.add_row(
            item.strategy,
            count(item.requests),
            number(success * 100 if success is not None else None, ".1f") + "%",
            count(item.forced_relogins),
            count(sum(item.errors.values())),
            number(latency["mean"], ".1f"),
            number(latency["p50"], ".1f"),
            number(latency["p95"], ".1f"),
            number(latency["p99"], ".1f"),
            number(skew["max_over_mean"], ".2f"),
            number(skew["jain"], ".3f"),
            percent(item.store.utilisation, 0) if item.store else MISSING,
        )
    console.print(table)
    costs = costs_line(result)
    if costs:
        console.print(costs, style="dim")
    if result.events:
        print_windows(console, result)
    console.print(
        "success: served, no error, no forced re-login · latency: served requests · "
        "max/mean, Jain: load skew (1.0 = even)",
        style="dim",
    )


def costs_line(result: RunResult) -> str:
    """The authentication costs used, and where they came from.

    The login cost, then the verification cost of each strategy whose credential check
    costs CPU, with the algorithm of its section of the scenario (if it has one).
    """
    parts: list[str] = []
    for item in result.results:
        cost = item.auth_cost
        if cost is None:
            continue
        if not parts:
            parts.append(f"login {cost.login_ms:.4g} ms")
        if cost.verify_ms > 0:
            section = getattr(result.scenario, item.strategy, None)
            algorithm = getattr(section, "algorithm", None)
            name = item.strategy if algorithm is None else f"{item.strategy} {algorithm}"
            parts.append(f"{name} verify {cost.verify_ms * 1000:.1f} µs ({cost.source})")
    return ("costs: " + " · ".join(parts)) if parts else ""


def print_windows(console: Console, result: RunResult) -> None:
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


# ----------------------------------------------------------------------- replications


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
    with user_errors(), replication_progress(console, replications) as progress:
        replicated = run_replications(scenario, replications, names, progress=progress)
    written = write_results(
        out, lambda folder: io.write_replicated_outputs(replicated, folder, plots=plots)
    )
    document = replicated.to_json if json_output else None
    print_results(document, lambda console: print_replicated(console, replicated), out, written)


CI_COLUMNS: tuple[tuple[str, str, float, int], ...] = (
    ("success %", "success_rate", 100.0, 2),
    ("mean ms", "latency_ms.mean", 1.0, 2),
    ("p95 ms", "latency_ms.p95", 1.0, 1),
    ("p99 ms", "latency_ms.p99", 1.0, 1),
    ("max/mean", "load_skew.max_over_mean", 1.0, 3),
    ("Jain", "load_skew.jain", 1.0, 4),
)
"""Columns of the mean ± CI tables: title, metric, scale, decimals."""


def interval_text(mean: float, half_width: float, scale: float, digits: int) -> str:
    """``mean ± half-width`` with a fixed number of decimals (the mean alone without a
    half-width; :data:`~simulator.present.format.MISSING` without a mean)."""
    spec = f".{digits}f"
    text = number(mean * scale, spec)
    if is_missing(mean) or is_missing(half_width):
        return text
    return f"{text} ± {number(half_width * scale, spec)}"


def print_replicated(console: Console, replicated: ReplicatedResult) -> None:
    """Means ± 95% half-widths per strategy, then the paired differences of mean latency."""
    scenario = replicated.scenario
    console.print(
        f"[bold]{scenario.name}[/] · seed {scenario.seed} · "
        f"{replicated.replications} replications · mean ± 95% CI half-width"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("strategy")
    for title, *_ in CI_COLUMNS:
        table.add_column(title, justify="right")
    for name in replicated.strategies:
        cells = [name]
        for _, metric, scale, digits in CI_COLUMNS:
            interval = replicated.interval(name, metric)
            cells.append(interval_text(interval.mean, interval.half_width, scale, digits))
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
