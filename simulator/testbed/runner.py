"""One testbed run: each strategy on a real cluster, then the model beside it.

For each strategy, :func:`run_testbed` starts the real cluster on 127.0.0.1
(:class:`~simulator.testbed.cluster.Cluster`: a redis-server when the strategy asks a
store, the server processes and HAProxy, its configuration kept in the output folder);
drives them with the
scenario's own requests (:mod:`simulator.testbed.loadgen`); stops every process; and
runs the model on the same scaled scenario with the costs the servers reported
(:mod:`simulator.testbed.costs`), ``replications`` times. Every process it started is
stopped on the way out, also on Ctrl-C or an error.

The timeline's crashes, recoveries, store outages and scale-outs are played on the real
processes (:mod:`simulator.testbed.faults`); other event kinds are refused before
anything starts. The comparison covers the whole measured window, the forced re-logins
by the model's causes (:func:`~simulator.testbed.measure.model_causes`) and, when the
timeline has events, every window between them.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulator import outcomes
from simulator.experiments.replications import (
    METRICS,
    Interval,
    mean_interval,
    run_replications,
)
from simulator.model.rng import Streams
from simulator.model.workload import Population
from simulator.scenario.models import Scenario
from simulator.testbed.cluster import STORE_STRATEGIES, Cluster
from simulator.testbed.compare import (
    COMPARED,
    Machine,
    Metric,
    Row,
    compare,
    per_cause,
    per_window,
)
from simulator.testbed.costs import (
    MeasuredCosts,
    Scale,
    flatten,
    measure_costs,
    model_scenario,
    pbkdf2_iterations,
    scaled_scenario,
)
from simulator.testbed.faults import FaultPlayer, actions, memory_losses, up_seconds
from simulator.testbed.haproxy import haproxy_version, routing_difference
from simulator.testbed.loadgen import plan_requests, run_load_sync, source_addresses
from simulator.testbed.measure import model_causes, real_metrics, window_metrics
from simulator.testbed.processes import (
    Processes,
    TestbedError,
    find_binary,
)

Progress = Callable[[str], None]
"""``progress(text)``: a step has begun (``local: starting 3 servers and HAProxy``)."""

Meter = Callable[[str, float], None]
"""``meter(task, fraction)``: how far a long task is, 0 to 1; the tasks are
``<strategy> · real cluster`` (the load's requests sent) and ``<strategy> · model``
(replications done)."""


@dataclass
class StrategyComparison:
    """One strategy, real beside model.

    Attributes:
        strategy: the strategy.
        real: the real run's metrics (the model's key names, see
            :func:`simulator.testbed.measure.real_metrics`).
        model: the model's mean and 95% interval per metric.
        costs: what the real servers reported, and the model was given.
        rows: the verdicts, one per compared metric.
        requests: the real run's per-request table.
        warning: the load generator's warning when it fell behind (or ``None``).
        lag_p99_ms: how late the generator sent its requests, p99, ms.
    """

    strategy: str
    real: dict[str, Any]
    model: dict[str, Interval]
    costs: MeasuredCosts
    rows: list[Row]
    requests: pd.DataFrame
    warning: str | None = None
    lag_p99_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the per-request table)."""
        return {
            "strategy": self.strategy,
            "real": self.real,
            "model": {key: interval.to_dict() for key, interval in self.model.items()},
            "costs": self.costs.to_dict(),
            "comparison": [row.to_dict() for row in self.rows],
            "warning": self.warning,
            "lag_p99_ms": self.lag_p99_ms,
        }


@dataclass
class TestbedResult:
    """A whole testbed run.

    Attributes:
        scenario: the scaled scenario both sides ran.
        machine: the load on the machine and the generator's lag.
        versions: HAProxy's and Python's versions, and the server's kind.
        strategies: one comparison per strategy, in run order.
    """

    scenario: Scenario
    machine: Machine
    versions: dict[str, str]
    strategies: list[StrategyComparison] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "scenario": self.scenario.name,
            "duration_s": self.scenario.duration_s,
            "warmup_s": self.scenario.warmup_s,
            "machine": {
                "cores": self.machine.cores,
                "load_average": self.machine.load_average,
                "behind_schedule_ms": self.machine.behind_schedule_ms,
            },
            "versions": self.versions,
            "strategies": [item.to_dict() for item in self.strategies],
        }


def _machine(lag_ms: float) -> Machine:
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not on every platform
        load = 0.0
    return Machine(cores=cores, load_average=load, behind_schedule_ms=lag_ms)


@dataclass(frozen=True)
class ModelSide:
    """The model's replications of one strategy, reduced for the comparison.

    Attributes:
        intervals: mean and 95% interval by dotted metric name: every one of
            :data:`~simulator.experiments.replications.METRICS`, the forced re-logins of
            each cause (``forced_relogins_by_cause.<cause>``) and, per window between
            events, ``windows.<i>.success_rate``, ``forced_relogins`` and
            ``users_logged_out``.
        windows: ``(label, start_s, end_s)`` of the model's windows (one, the whole
            measured window, when the scenario has no events).
    """

    intervals: dict[str, Interval]
    windows: list[tuple[str, float, float]]


def _model(
    scenario: Scenario, strategy: str, replications: int, meter: Meter | None = None
) -> ModelSide:
    def done(count: int, total: int) -> None:
        if meter is not None:
            meter(f"{strategy} · model", count / total)

    runs = run_replications(scenario, replications, [strategy], progress=done)
    intervals = {key: runs.interval(strategy, key) for key in METRICS}
    results = [run_result[strategy] for run_result in runs.runs]
    for cause in outcomes.CAUSES:
        intervals[f"forced_relogins_by_cause.{cause}"] = mean_interval(
            [float(result.forced_relogins_by_cause.get(cause, 0)) for result in results]
        )
    first = results[0].windows
    windows = [(window.label, window.start_s, window.end_s) for window in first]
    for index, window in enumerate(first):
        same = [result.windows[index] for result in results if len(result.windows) == len(first)]
        same = [other for other in same if other.label == window.label]
        for key in ("success_rate", "forced_relogins", "users_logged_out"):
            values = [getattr(other, key) for other in same]
            intervals[f"windows.{index}.{key}"] = mean_interval(
                [math.nan if value is None else float(value) for value in values]
            )
    return ModelSide(intervals, windows)


def _compared(real: dict[str, float], model: ModelSide, store: bool) -> tuple[Metric, ...]:
    """The metrics set side by side: :data:`COMPARED` (the store's only when the
    strategy's servers ask one: jwt's refresh tokens are not exercised), the causes either
    side saw, and the windows when the timeline has events."""
    compared = tuple(metric for metric in COMPARED if store or not metric.key.startswith("store."))
    causes = [
        cause
        for cause in outcomes.CAUSES
        if real.get(f"forced_relogins_by_cause.{cause}", 0.0) > 0
        or model.intervals[f"forced_relogins_by_cause.{cause}"].mean > 0
    ]
    labels = [label for label, _, _ in model.windows] if len(model.windows) > 1 else []
    return compared + per_cause(causes) + per_window(labels)


def run_strategy(
    scenario: Scenario,
    strategy: str,
    folder: Path,
    *,
    haproxy: str,
    iterations: int,
    login_ms: float,
    replications: int,
    progress: Progress | None = None,
    meter: Meter | None = None,
) -> StrategyComparison:
    """Run one strategy on the real cluster, then the model with its measured costs."""
    say = progress or (lambda _: None)

    def sent(fraction: float) -> None:
        if meter is not None:
            meter(f"{strategy} · real cluster", fraction)

    folder.mkdir(parents=True, exist_ok=True)
    streams = Streams(scenario.seed)
    plan = plan_requests(scenario, streams)
    population = Population.from_config(scenario.workload, streams)
    store = strategy in STORE_STRATEGIES
    timeline = [action for action in actions(scenario) if store or not action.on_store]
    with Processes(folder / "logs") as processes:
        say(f"{strategy}: starting {scenario.cluster.servers} servers and HAProxy")
        cluster = Cluster(processes, scenario, strategy, folder, haproxy, iterations)
        port = cluster.start()
        say(f"{strategy}: {len(plan)} requests over {scenario.duration_s:g} s")
        player = FaultPlayer(cluster, timeline)
        player.start()
        try:
            load = run_load_sync(
                plan,
                host="127.0.0.1",
                port=port,
                addresses=source_addresses(population),
                logged_in_at_start=scenario.workload.logged_in_at_start,
                timeout_s=scenario.cluster.request_timeout_ms / 1000.0,
                on_start=player.begin,
                progress=sent,
            )
        finally:
            player.stop()
    for at_s, label, late_s in player.done:
        say(f"{strategy}: at {at_s:g} s, {label} ({late_s * 1000:.0f} ms late)")
    if player.error:
        raise TestbedError(f"{strategy}: {player.error}")
    frame = load.to_frame()
    frame["model_cause"] = model_causes(frame, memory_losses(scenario), sessions_in_store=store)
    costs = measure_costs(
        frame[frame["arrival_s"] >= scenario.warmup_s],
        load.login_auth_ms,
        login_ms,
    )
    say(f"{strategy}: the model, {replications} replications with the measured costs")
    model = _model(model_scenario(scenario, strategy, costs), strategy, replications, meter)
    up_s = up_seconds(scenario)
    real = real_metrics(
        frame,
        len(up_s),
        warmup_s=scenario.warmup_s,
        measured_s=scenario.duration_s - scenario.warmup_s,
        up_s=up_s,
    )
    if store:  # the Redis GET of a check, as the servers timed it
        real["store"] = {"mean_latency_ms": costs.check_ms}
    if len(model.windows) > 1:
        real["windows"] = window_metrics(frame, model.windows)
    flat = flatten(real)
    routing = routing_difference(strategy, scenario)
    machine = _machine(load.lag_p99_ms)
    rows = compare(strategy, flat, model.intervals, machine, _compared(flat, model, store), routing)
    return StrategyComparison(
        strategy, real, model.intervals, costs, rows, frame, load.warning, load.lag_p99_ms
    )


def run_testbed(
    scenario: Scenario,
    strategies: list[str],
    scale: Scale,
    out: Path,
    *,
    replications: int = 10,
    progress: Progress | None = None,
    meter: Meter | None = None,
) -> TestbedResult:
    """Every strategy on the real cluster and in the model (see the module).

    Args:
        scenario: the scenario, at its own scale (``scale`` shrinks it).
        strategies: the strategies, run one after the other.
        scale: the run's size (:data:`~simulator.testbed.costs.QUICK` or ``FULL``).
        out: the working folder (each strategy's configuration files and logs).
        replications: the model's replications per strategy.
        progress: told each step as it begins.
        meter: told how far the load and the model's replications are.

    Raises:
        TestbedError: HAProxy or redis-server missing, a process that would not start,
            or a timeline event the testbed cannot play.
    """
    actions(scenario)  # an event the testbed cannot play: refused before anything starts
    haproxy = find_binary("haproxy", "haproxy")
    iterations, login_ms = pbkdf2_iterations(scale)
    scaled = scaled_scenario(scenario, scale, login_ms)
    versions = {
        "haproxy": haproxy_version(haproxy),
        "python": sys.version.split()[0],
        "server": "Python http.server (ThreadingHTTPServer), one process per server",
    }
    result = TestbedResult(scaled, _machine(0.0), versions)
    for strategy in strategies:
        comparison = run_strategy(
            scaled,
            strategy,
            out / strategy,
            haproxy=haproxy,
            iterations=iterations,
            login_ms=login_ms,
            replications=replications,
            progress=progress,
            meter=meter,
        )
        result.strategies.append(comparison)
    result.machine = _machine(max(item.lag_p99_ms for item in result.strategies))
    return result
