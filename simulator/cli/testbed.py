"""``authsim testbed``: the scenario on a real cluster on this machine, beside the model."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulator.atomic import write_folder
from simulator.cli.options import (
    ScenarioArgument,
    SetOption,
    StrategyOption,
    fail_to_write,
    load,
    safe,
    stderr_console,
    stdout_console,
    strategy_names,
    user_errors,
    writable_folder,
)
from simulator.cli.progress import task_progress
from simulator.present.format import model_text, value_text

if TYPE_CHECKING:
    from simulator.testbed.runner import TestbedResult

QUICK_STRATEGIES = ["local", "shared_store", "jwt"]
"""``--quick`` runs these (the question the model is most often asked)."""


def _print(result: TestbedResult) -> None:
    from rich.table import Table  # noqa: PLC0415 (only a command prints tables)

    console = stdout_console()
    scenario, machine = result.scenario, result.machine
    console.print(
        f"testbed · {safe(scenario.name)} · {scenario.cluster.servers} servers × "
        f"{scenario.cluster.workers_per_server} workers · "
        f"{scenario.workload.arrival_rate_per_s:g} req/s · {scenario.workload.users} users · "
        f"{scenario.duration_s - scenario.warmup_s:g} s measured · load average "
        f"{machine.load_average:.1f} on {machine.cores} cores"
    )
    for item in result.strategies:
        table = Table(title=f"{item.strategy}: real (one run) vs model (95% CI)")
        for column in ("metric", "real", "model", "verdict", "likely cause"):
            table.add_column(column, overflow="fold")
        for row in item.rows:
            table.add_row(
                safe(row.metric.label),
                value_text(row.real, row.metric.unit),
                model_text(row.model.mean, row.model.half_width, row.metric.unit),
                safe(row.verdict),
                safe(row.cause),
            )
        console.print(table)
        costs = item.costs
        console.print(
            f"measured: login {costs.login_ms:.1f} ms (hash, CPU time) · check "
            f"{costs.check_ms:.3f} ms · outside the servers {costs.overhead_mean_ms:.1f} ms "
            f"mean, {costs.overhead_p99_ms:.1f} ms p99 (given to the model as "
            "load_balancer.hop_ms)"
        )
        if item.warning:
            console.print(f"[yellow]warning: {safe(item.warning)}[/]")


COMPARISON_PNG = "comparison.png"
"""The figure of ``--out``: real against model, one panel per metric."""


def _write(result: TestbedResult, work: Path, staging: Path) -> None:
    # matplotlib: only when a folder is written
    from simulator.present.plots.style import save_png  # noqa: PLC0415
    from simulator.present.plots.testbed import real_vs_model_figure  # noqa: PLC0415

    document = result.to_dict()
    (staging / "results.json").write_text(
        json.dumps(document, indent=1, allow_nan=False, default=str), encoding="utf-8"
    )
    save_png(real_vs_model_figure(document), staging / COMPARISON_PNG)
    for item in result.strategies:
        item.requests.to_csv(staging / f"requests-{item.strategy}.csv", index=False)
        shutil.copyfile(
            work / item.strategy / "haproxy.cfg", staging / f"haproxy-{item.strategy}.cfg"
        )


def testbed_command(
    scenario: ScenarioArgument = None,
    overrides: SetOption = None,
    strategy: StrategyOption = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="About 70 s: 20 s runs of local, shared_store and jwt."),
    ] = False,
    replications: Annotated[
        int, typer.Option("--replications", "-r", min=2, help="Model replications.")
    ] = 10,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            file_okay=False,
            callback=writable_folder("the results"),
            help="Write results.json, comparison.png, each strategy's requests CSV and "
            "HAProxy config here.",
        ),
    ] = None,
) -> None:
    """Run the scenario on a real cluster here (HAProxy, Python servers, redis-server on
    127.0.0.1) and print it beside the model run with the costs measured in it.

    Needs haproxy (and redis-server for shared_store). Every process it starts is
    stopped when it ends, also on Ctrl-C; nothing is written until it has finished.
    """
    # pandas, redis and the model's replications: only this command needs them
    from simulator.testbed.costs import FULL, QUICK  # noqa: PLC0415
    from simulator.testbed.runner import run_testbed  # noqa: PLC0415

    loaded = load(scenario, overrides)
    names = strategy_names(strategy, loaded) if strategy else None
    if names is None:
        names = QUICK_STRATEGIES if quick else list(loaded.strategies)
    with (
        user_errors(),
        tempfile.TemporaryDirectory(prefix="authsim-testbed-") as work,
        task_progress(stderr_console(), "testbed") as (say, meter),
    ):
        folder = Path(work)
        result = run_testbed(
            loaded,
            names,
            QUICK if quick else FULL,
            folder,
            replications=replications,
            progress=say,
            meter=meter,
        )
        if out is not None:
            try:
                write_folder(out, lambda staging: _write(result, folder, staging))
            except OSError as exc:
                fail_to_write(out, "results", exc)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=1, allow_nan=False, default=str))
    else:
        _print(result)
