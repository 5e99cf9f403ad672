"""One testbed run: each strategy on a real cluster, then the model beside it.

For each strategy, :func:`run_testbed` starts (on 127.0.0.1 only) a redis-server when
the strategy asks a store, ``cluster.servers`` server processes
(:mod:`simulator.testbed.server`) and HAProxy in front of them, with a configuration
generated from the scenario and kept in the output folder; drives them with the
scenario's own requests (:mod:`simulator.testbed.loadgen`); stops every process; and
runs the model on the same scaled scenario with the costs the servers reported
(:mod:`simulator.testbed.costs`), ``replications`` times. Every process it started is
stopped on the way out, also on Ctrl-C or an error.

The timeline's crashes, recoveries and store outages are played on the real processes
(:mod:`simulator.testbed.faults`); other event kinds are refused before anything starts.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.experiments.replications import METRICS, Interval, run_replications
from simulator.model.rng import Streams
from simulator.model.workload import Population
from simulator.scenario.models import Scenario
from simulator.testbed.compare import Machine, Row, compare
from simulator.testbed.config import ServerConfig
from simulator.testbed.costs import (
    MeasuredCosts,
    Scale,
    flatten,
    measure_costs,
    model_scenario,
    pbkdf2_iterations,
    scaled_scenario,
)
from simulator.testbed.faults import FaultPlayer, actions, up_seconds
from simulator.testbed.haproxy import check_config, haproxy_config, haproxy_version
from simulator.testbed.loadgen import plan_requests, run_load_sync, source_addresses
from simulator.testbed.measure import real_metrics
from simulator.testbed.processes import (
    Processes,
    TestbedError,
    find_binary,
    free_port,
    start_haproxy,
    start_redis,
)

STORE_STRATEGIES = frozenset({"shared_store"})
"""Strategies whose servers need the store (jwt's refresh tokens are not exercised: an
access token outlives a testbed run)."""

START_TIMEOUT_S = 30.0
"""Longest wait for one process to be ready."""

Progress = Callable[[str], None]


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


def _start_cluster(
    processes: Processes,
    scenario: Scenario,
    strategy: str,
    iterations: int,
    folder: Path,
    haproxy: str,
) -> int:
    """Start the store (when needed), the servers and HAProxy; return HAProxy's port."""
    redis_url = None
    if strategy in STORE_STRATEGIES:
        binary = find_binary("redis-server", "redis-server", brew="redis")
        redis_url = start_redis(processes, free_port(), folder, binary=binary)
    config = ServerConfig(
        strategy=strategy,
        workers=scenario.cluster.workers_per_server,
        queue_limit=scenario.cluster.queue_limit,
        pbkdf2_iterations=iterations,
        cpu_fraction=scenario.cluster.service_time_ms.cpu_fraction,
        redis_url=redis_url,
        jwt_algorithm="HS256",
        jwt_secret=secrets.token_hex(32),
        jwt_ttl_s=scenario.jwt.ttl_s,
    )
    config_path = folder / "server.json"
    config.save(config_path)
    servers: list[tuple[str, int]] = []
    for index in range(scenario.cluster.servers):
        port = free_port()
        argv = [sys.executable, "-m", "simulator.testbed.server"]
        argv += ["--config", str(config_path), "--index", str(index), "--port", str(port)]
        processes.start(f"server-{index}", argv, ready="ready", timeout_s=START_TIMEOUT_S)
        servers.append(("127.0.0.1", port))
    port = free_port()
    haproxy_path = folder / "haproxy.cfg"
    haproxy_path.write_text(
        haproxy_config(scenario, servers, port, strategy=strategy), encoding="utf-8"
    )
    check_config(haproxy, haproxy_path)
    start_haproxy(processes, haproxy, haproxy_path)
    return port


def _model(scenario: Scenario, strategy: str, replications: int) -> dict[str, Interval]:
    runs = run_replications(scenario, replications, [strategy])
    return {key: runs.interval(strategy, key) for key in METRICS}


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
) -> StrategyComparison:
    """Run one strategy on the real cluster, then the model with its measured costs."""
    say = progress or (lambda _: None)
    folder.mkdir(parents=True, exist_ok=True)
    streams = Streams(scenario.seed)
    plan = plan_requests(scenario, streams)
    population = Population.from_config(scenario.workload, streams)
    store = strategy in STORE_STRATEGIES
    timeline = [action for action in actions(scenario) if store or not action.on_store]
    with Processes(folder / "logs") as processes:
        say(f"{strategy}: starting {scenario.cluster.servers} servers and HAProxy")
        port = _start_cluster(processes, scenario, strategy, iterations, folder, haproxy)
        say(f"{strategy}: {len(plan)} requests over {scenario.duration_s:g} s")
        player = FaultPlayer(processes, timeline)
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
            )
        finally:
            player.stop()
    for at_s, label, late_s in player.done:
        say(f"{strategy}: at {at_s:g} s, {label} ({late_s * 1000:.0f} ms late)")
    if player.error:
        raise TestbedError(f"{strategy}: {player.error}")
    frame = load.to_frame()
    measured_s = scenario.duration_s - scenario.warmup_s
    real = real_metrics(
        frame,
        scenario.cluster.servers,
        warmup_s=scenario.warmup_s,
        measured_s=measured_s,
        up_s=up_seconds(scenario),
    )
    costs = measure_costs(
        frame[frame["arrival_s"] >= scenario.warmup_s],
        load.login_auth_ms,
        login_ms,
    )
    say(f"{strategy}: the model, {replications} replications with the measured costs")
    model = _model(model_scenario(scenario, strategy, costs), strategy, replications)
    machine = _machine(load.lag_p99_ms)
    rows = compare(strategy, flatten(real), model, machine)
    return StrategyComparison(
        strategy, real, model, costs, rows, frame, load.warning, load.lag_p99_ms
    )


def run_testbed(
    scenario: Scenario,
    strategies: list[str],
    scale: Scale,
    out: Path,
    *,
    replications: int = 10,
    progress: Progress | None = None,
) -> TestbedResult:
    """Every strategy on the real cluster and in the model (see the module).

    Raises:
        TestbedError: HAProxy or redis-server missing, a process that would not start,
            or a scenario with fault events.
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
        )
        result.strategies.append(comparison)
    result.machine = _machine(max(item.lag_p99_ms for item in result.strategies))
    return result
