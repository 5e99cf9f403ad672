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

from simulator.cli.options import (
    AllowLargeOption,
    ScenarioArgument,
    SeedOption,
    SetOption,
    StrategyOption,
    fail,
    load,
    print_results,
    safe,
    stderr_console,
    stdout_console,
    strategy_names,
    user_errors,
    writable_folder,
    write_results,
)
from simulator.cli.progress import replication_progress, run_progress, writing
from simulator.cli.tables import (
    print_exposure,
    print_fitted,
    print_regions,
    print_whole,
    table_width,
)
from simulator.errors import ScenarioError, one_line
from simulator.present.format import MISSING, count, is_missing, number, percent, seconds
from simulator.results import io

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from simulator.experiments.replications import ReplicatedResult
    from simulator.results.records import RunResult
    from simulator.scenario.models import Scenario


class TableFormat(StrEnum):
    """File format of the per-request table written by ``--out``."""

    CSV = "csv"
    PARQUET = "parquet"


def run(
    scenario: ScenarioArgument = None,
    strategy: StrategyOption = None,
    seed: SeedOption = None,
    overrides: SetOption = None,
    allow_large: AllowLargeOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help=f"Write {io.RESULTS_JSON}, the per-request table and PNG plots to this folder.",
            file_okay=False,
            callback=writable_folder("results"),
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
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Every table in full, however wide (default: fit the terminal)."
        ),
    ] = False,
) -> None:
    """Run a scenario: every strategy on the same traffic, side by side."""
    # the model: imported by the command that needs it, not by --help
    from simulator.model.run import run as run_scenario  # noqa: PLC0415

    loaded = load(scenario, overrides, seed)
    names = strategy_names(strategy, loaded)
    if replications > 1:
        _run_replicated(
            loaded, names, replications, out, json_output, plots=not no_plots, wide=wide
        )
        return
    if out is not None and table_format is TableFormat.PARQUET:
        with user_errors():
            io.require_pyarrow()
    console = stderr_console()
    with user_errors(), run_progress(console, loaded, names) as progress:
        result = run_scenario(loaded, names, record_requests=out is not None, progress=progress)
    with writing(console, out, plots=not no_plots):
        written = write_results(
            out,
            lambda folder: io.write_outputs(
                result, folder, plots=not no_plots, table_format=table_format
            ),
        )
    document = result.to_json if json_output else None
    print_results(document, lambda console: print_summary(console, result, wide=wide), out, written)


def scenarios(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A built-in name or a YAML file: print its whole story (default: list all).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the built-in scenarios, one line each; with NAME, tell that one's story."""
    from rich.text import Text  # noqa: PLC0415 (as in run)

    from simulator.scenario.loading import builtin_scenarios, load_scenario  # noqa: PLC0415

    console = stdout_console()
    if name is not None:
        print_story(console, load(name, None, sized=False))
        return
    found = builtin_scenarios()
    padding = max(map(len, found), default=0)
    for scenario_name, path in found.items():
        try:
            loaded = load_scenario(path)
        except ScenarioError as exc:
            fail(str(exc))
        line = Text(f"{one_line(scenario_name):<{padding}}  ", style="bold")
        line.append(one_line(first_sentence(loaded.description)))
        line.truncate(console.width, overflow="ellipsis")
        console.print(line, no_wrap=True)


def first_sentence(text: str) -> str:
    """The text up to the end of its first sentence (``. `` or the end), on one line."""
    flat = " ".join(text.split())
    end = flat.find(". ")
    return flat if end < 0 else flat[: end + 1]


def print_story(console: Console, scenario: Scenario) -> None:
    """A scenario's name, strategies, whole description and timeline of events."""
    console.print(f"[bold]{safe(scenario.name)}[/] · {safe(', '.join(scenario.strategies))}")
    console.print(safe(" ".join(scenario.description.split())))
    if scenario.events:
        console.print("\n[bold]events[/]")
    for event in scenario.events:
        fields = event.model_dump(exclude={"at_s", "kind"}, exclude_none=True)
        settings = ", ".join(f"{key}={value}" for key, value in fields.items())
        console.print(
            f"  {seconds(event.at_s):>6}  {safe(event.label)}"
            + (f" ({event.kind}: {safe(settings)})" if settings else f" ({event.kind})"),
            highlight=False,
        )


def show(scenario: ScenarioArgument = None, overrides: SetOption = None) -> None:
    """Print a scenario with every default filled in and overrides applied, as YAML."""
    import yaml  # noqa: PLC0415 (as in run)

    loaded = load(scenario, overrides, sized=False)
    data = loaded.model_dump(mode="json")
    typer.echo(yaml.safe_dump(data, sort_keys=False, width=88), nl=False)


# ----------------------------------------------------------------------- one run


def print_summary(console: Console, result: RunResult, *, wide: bool = False) -> None:
    """The scenario's line, the side-by-side table, the costs, the event windows and the
    exposure after revocation; ``wide``: every table in full, whatever the width."""
    scenario = result.scenario
    cluster = scenario.cluster
    console.print(
        f"[bold]{safe(scenario.name)}[/] · seed {scenario.seed} · {cluster.servers} servers × "
        f"{cluster.workers_per_server} workers · "
        f"{scenario.workload.arrival_rate_per_s:g} req/s · "
        f"{scenario.measured_s:g} s measured after {scenario.warmup_s:g} s warm-up"
    )
    rows = []
    for item in result.results:
        latency = item.latency_ms
        skew = item.load_skew
        success = item.success_rate
        rows.append(
            (
                item.strategy,
                count(item.requests),
                number(success * 100 if success is not None else None, ".1f") + "%",
                count(item.forced_relogins),
                count(item.users_logged_out),
                count(sum(item.errors.values())),
                number(latency["mean"], ".1f"),
                number(latency["p50"], ".1f"),
                number(latency["p95"], ".1f"),
                number(latency["p99"], ".1f"),
                number(skew["max_over_mean"], ".2f"),
                number(skew["jain"], ".3f"),
                percent(item.store.utilisation, 0) if item.store else MISSING,
            )
        )
    print_fitted(console, SUMMARY_COLUMNS, rows, SUMMARY_GROUPS, wide=wide)
    costs = costs_line(result)
    if costs:
        console.print(safe(costs), style="dim")
    exact = [item.strategy for item in result.results if item.engine == "vector"]
    if exact:
        console.print(
            f"{', '.join(exact)}: computed exactly by the vector engine, not simulated "
            "(no feedback; --set engine=des to simulate)",
            style="dim",
        )
    if result.events:
        print_windows(console, result, wide=wide)
    print_exposure(console, result, wide=wide)
    print_regions(console, result, wide=wide)
    console.print(
        "success: served, no error, no forced re-login · users logged out, (users): distinct users "
        "forced to log in again · latency: served requests · max/mean, Jain: load skew "
        "(1.0 = even)",
        style="dim",
    )


SUMMARY_COLUMNS: tuple[str, ...] = (
    "strategy",
    "requests",
    "success",
    "forced\nre-logins",
    "users\nlogged out",
    "errors",
    "mean\nms",
    "p50\nms",
    "p95\nms",
    "p99\nms",
    "max/\nmean",
    "Jain",
    "store\nbusy",
)
"""Headers of the side-by-side table (the first, the strategy, left-aligned)."""
SUMMARY_GROUPS: tuple[tuple[int, ...], ...] = ((1, 2, 3, 4, 5), (6, 7, 8, 9), (10, 11, 12))
"""Its columns that stay together when the table is split: outcomes, latency, load."""


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


def print_windows(console: Console, result: RunResult, *, wide: bool = False) -> None:
    """Success, forced re-logins (by cause, one per line) and the distinct users they
    logged out between events, per strategy: windows down, strategies across if that fits
    (or ``wide``), else one row per window and strategy."""
    from rich.table import Table  # noqa: PLC0415 (as in run)

    from simulator.present.explain import window_rows  # noqa: PLC0415 (as in run)

    title = "Between events"
    rows = []
    for label, start, end, *cells in window_rows(result, missing=""):
        row = [safe(label), start, end]
        for position in range(0, len(cells), 3):
            rate, causes, users = cells[position : position + 3]
            row += [rate, relogins_cell(causes, users)]
        rows.append(row)
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("window")
    table.add_column("from s", justify="right")
    table.add_column("to s", justify="right")
    for item in result.results:
        table.add_column(f"{item.strategy}\nsuccess", justify="right")
        table.add_column("forced\nre-logins\n(users)", justify="right")
    for row in rows:
        table.add_row(*row)
    if wide or table_width(console, table) <= console.width:
        print_whole(console, table)
        return
    long = Table(title=title, show_header=True, header_style="bold")
    long.add_column("window")
    long.add_column("strategy")
    long.add_column("success", justify="right")
    long.add_column("forced re-logins\n(users)", justify="right")
    for label, start, end, *cells in rows:
        for position, item in enumerate(result.results):
            window = f"{label}\n{start}–{end} s" if position == 0 else ""
            long.add_row(window, item.strategy, *cells[2 * position : 2 * position + 2])
        long.add_section()
    console.print(long)


def relogins_cell(causes: str, users: str) -> str:
    """A between-events cell: forced re-logins by cause, one per line, then the distinct
    users they logged out in brackets (left out when none; ``users`` as text, ``1,234``)."""
    cell = causes.replace(", ", "\n")
    if users and users not in {"0", MISSING}:
        cell += f"\n({users} {'user' if users == '1' else 'users'})"
    return cell


# ----------------------------------------------------------------------- replications


def _run_replicated(
    scenario: Scenario,
    names: list[str],
    replications: int,
    out: Path | None,
    json_output: bool,
    plots: bool,
    wide: bool,
) -> None:
    """``authsim run --replications R``: means and 95% intervals, paired differences."""
    from simulator.experiments.replications import run_replications  # noqa: PLC0415 (scipy)

    console = stderr_console()
    with user_errors(), replication_progress(console, replications) as progress:
        replicated = run_replications(scenario, replications, names, progress=progress)
    written = write_results(
        out, lambda folder: io.write_replicated_outputs(replicated, folder, plots=plots)
    )
    document = replicated.to_json if json_output else None
    print_results(
        document, lambda console: print_replicated(console, replicated, wide=wide), out, written
    )


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


def print_replicated(console: Console, replicated: ReplicatedResult, *, wide: bool = False) -> None:
    """Means ± 95% half-widths per strategy, the exposure after revocation (when users were
    revoked), then the paired differences of mean latency; ``wide``: every table in full."""
    scenario = replicated.scenario
    console.print(
        f"[bold]{safe(scenario.name)}[/] · seed {scenario.seed} · "
        f"{replicated.replications} replications · mean ± 95% CI half-width"
    )
    print_intervals(console, replicated, CI_COLUMNS, ((1, 2), (3, 4), (5, 6)), wide=wide)
    print_intervals(
        console,
        replicated,
        EXPOSURE_CI_COLUMNS,
        ((1,), (2,)),
        wide=wide,
        title="Exposure after revocation",
    )
    pairs = [pair for pair in replicated.all_paired() if pair.metric == "latency_ms.mean"]
    if pairs:
        rows = [
            (
                f"{pair.a} − {pair.b}",
                f"{pair.interval.mean:+.3g}",
                f"[{pair.interval.low:+.3g}, {pair.interval.high:+.3g}]",
                "yes" if pair.interval.excludes(0.0) else "no (includes 0)",
            )
            for pair in pairs
        ]
        print_fitted(
            console,
            ("a − b", "ms", "95% CI", "significant?"),
            rows,
            ((1, 2), (3,)),
            wide=wide,
            text_columns=(0, 3),
            title="Paired differences of mean latency (same traffic)",
        )


EXPOSURE_CI_COLUMNS: tuple[tuple[str, str, float, int], ...] = (
    ("accepted after revocation", "exposure.accepted_after_revocation", 1.0, 0),
    ("mean window s", "exposure.mean_window_s", 1.0, 2),
)
"""Columns of the replicated exposure table, as :data:`CI_COLUMNS`."""


def print_intervals(
    console: Console,
    replicated: ReplicatedResult,
    columns: Sequence[tuple[str, str, float, int]],
    groups: Sequence[Sequence[int]],
    *,
    wide: bool,
    title: str | None = None,
) -> None:
    """A table of ``mean ± half-width`` per strategy and metric of ``columns`` (as
    :data:`CI_COLUMNS`), leaving out strategies with no mean of any (nothing, if none)."""
    rows = []
    for name in replicated.strategies:
        intervals = [replicated.interval(name, metric) for _, metric, *_ in columns]
        if all(is_missing(interval.mean) for interval in intervals):
            continue
        rows.append(
            (
                name,
                *(
                    interval_text(interval.mean, interval.half_width, scale, digits)
                    for interval, (_, _, scale, digits) in zip(intervals, columns, strict=True)
                ),
            )
        )
    if rows:
        headers = ("strategy", *(header for header, *_ in columns))
        print_fitted(console, headers, rows, groups, wide=wide, title=title)
