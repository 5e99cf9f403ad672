"""The world the timeline's events act on: the servers, the balancer's view, the store
and the strategy of one strategy run.

A :class:`Fleet` implements :class:`simulator.scenario.events.World`: a crash, a
recovery, a scale-out or scale-in, a rolling restart, a store outage or latency spike, a
revocation and a key rotation are each a method here. The balancer learns which servers
are up only at its health checks (:meth:`Fleet.health_checks`), so for a few seconds
after a crash it keeps sending requests to a dead server.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from simulator import outcomes
from simulator.costs.reference import AuthCosts
from simulator.model.balancer import ClusterView
from simulator.model.cluster import Done, Handler, Server
from simulator.model.recorder import Recorder
from simulator.model.regions import RegionalClusterView, RegionMap
from simulator.model.rng import Streams, exponential_buffer, uniform_buffer
from simulator.model.store import SessionStore
from simulator.model.strategies import Strategy, StrategyContext, build_strategy
from simulator.model.workload import Population, latencies_s
from simulator.results.regions import RegionTally
from simulator.scenario.models import Scenario


class Fleet:
    """Servers, balancer view, session store and strategy of one strategy run.

    Args:
        env: the run's SimPy environment.
        scenario: the validated scenario.
        strategy_name: the strategy to build.
        streams: the run's named random streams (``store`` and ``balancer`` are used here).
        population: the users.
        costs: the run's authentication costs.
        recorder: where events are marked and revocations noted.
        serve: a worker's handler for one job (the request life cycle's).
        on_done: called when a worker finished a job, or a crash failed it.
    """

    def __init__(
        self,
        env: simpy.Environment,
        scenario: Scenario,
        strategy_name: str,
        streams: Streams,
        population: Population,
        costs: AuthCosts,
        recorder: Recorder,
        serve: Handler,
        on_done: Done,
    ) -> None:
        self._env = env
        self.scenario = scenario
        self.population = population
        self.recorder = recorder
        self._serve = serve
        self._on_done = on_done
        cluster = scenario.cluster
        self.servers: list[Server] = []
        for _ in range(cluster.servers):
            self._new_server()
        self.regions = RegionMap.build(scenario, streams)
        if self.regions is not None:
            recorder.regions = RegionTally(
                self.regions.names, self.regions.user_region.tolist(), self.regions.store_region
            )
        self.view = (
            RegionalClusterView(self.servers, self.regions)
            if self.regions is not None
            else ClusterView(self.servers)
        )
        store_config = scenario.shared_store
        self.store = SessionStore(
            env,
            rtt_ms=costs.store_rtt_ms(
                store_config.rtt_ms, "rtt_ms" in store_config.model_fields_set
            ),
            op_times_s=exponential_buffer(
                streams.generator("store"), store_config.op_time_ms / 1000.0
            ),
            pool_size=store_config.pool_size,
            servers=cluster.servers,
            warmup_s=scenario.warmup_s,
            end_s=scenario.duration_s,
            shards=store_config.shards,
            replicas=store_config.replicas,
            read_from=store_config.read_from,
            replication_lag_ms=store_config.replication_lag_ms,
            failover_s=store_config.failover_s,
            rtt_draws_s=(
                latencies_s(streams, "store_rtt", store_config.round_trip)
                if store_config.rtt_distribution != "constant"
                else None
            ),
            cross_region_rtt_ms=store_config.cross_region_rtt_ms,
            remote=self.regions.remote if self.regions is not None else None,
        )
        context = StrategyContext(
            scenario=scenario,
            view=self.view,
            servers=self.servers,
            population=population,
            balancer_uniform=uniform_buffer(streams.generator("balancer")),
            store=self.store,
            costs=costs,
            regions=self.regions,
            clock=lambda: env.now,
        )
        self.strategy: Strategy = build_strategy(strategy_name, context)
        self.health_checked = env.event()
        """Fires after each health check (then is replaced by a fresh event)."""

    @property
    def env(self) -> simpy.Environment:
        """The simulation environment."""
        return self._env

    def _new_server(self) -> Server:
        cluster = self.scenario.cluster
        server = Server(
            self._env,
            len(self.servers),
            cluster.workers_per_server,
            cluster.queue_limit,
            self._serve,
            self._on_done,
            self.recorder.buckets.count,
        )
        self.servers.append(server)
        return server

    def health_checks(self) -> Generator[simpy.Event, Any, None]:
        """A process: every ``health_check_interval_s`` the balancer learns which servers
        are up and in rotation."""
        interval_s = self.scenario.load_balancer.health_check_interval_s
        while True:
            yield self._env.timeout(interval_s)
            self.view.set_live(self.running_servers())
            checked, self.health_checked = self.health_checked, self._env.event()
            checked.succeed()

    # ------------------------------------------------------------ the World

    def running_servers(self) -> list[int]:
        """Indices of servers that are up and in rotation, ascending."""
        return [server.index for server in self.servers if server.up and server.in_rotation]

    def crashed_servers(self) -> list[int]:
        """Indices of crashed servers, ascending."""
        return [server.index for server in self.servers if server.crashed]

    def crash(self, server: int) -> None:
        """Kill a server: every job on it fails with ``server_down``."""
        target = self.servers[server]
        failed = target.crash()
        self.store.reset_pool(server)
        for request in failed:
            self._on_done(target, request, outcomes.SERVER_DOWN)

    def recover(self, server: int) -> None:
        """Start a crashed server again; the balancer adds it at its next health check."""
        self.servers[server].start()

    def add_server(self) -> int:
        """Start a new server; the balancer adds it at its next health check."""
        if self.regions is not None:
            self.regions.add_server()
        server = self._new_server()
        self.store.add_pool()
        return server.index

    def _take_out_of_rotation(self, server: Server) -> None:
        server.leave_rotation()
        self.view.set_live([index for index in self.view.live if index != server.index])

    def _drain_or_kill(self, server: Server, graceful: bool) -> Generator[simpy.Event, Any, None]:
        self._take_out_of_rotation(server)
        if graceful:
            yield server.drained()
            server.stop()
        else:
            self.crash(server.index)
            server.crashed = False

    def retire(self, server: int, graceful: bool) -> Generator[simpy.Event, Any, None]:
        """Remove a server from the fleet for good (scale-in)."""
        target = self.servers[server]
        yield from self._drain_or_kill(target, graceful)
        target.retired = True

    def restart(
        self, server: int, restart_s: float, graceful: bool
    ) -> Generator[simpy.Event, Any, None]:
        """Restart a server (a deploy step): out, down for ``restart_s``, back."""
        target = self.servers[server]
        yield from self._drain_or_kill(target, graceful)
        yield self._env.timeout(restart_s)
        target.start()
        while not self.view.is_live(server):
            yield self.health_checked

    def set_store_down(self, down: bool, data_lost: bool) -> None:
        """Start or end a store outage."""
        self.store.set_down(down, data_lost)

    def crash_store_node(
        self, shard: int, primary: bool, restart_s: float, data_lost: bool
    ) -> float:
        """Kill a node of the store's ``shard``; returns how long the shard takes no writes."""
        return self.store.crash_node(shard, primary, restart_s, data_lost)

    def add_store_delay(self, extra_s: float) -> None:
        """Add network delay to every store operation."""
        self.store.add_delay(extra_s)

    def users(self) -> int:
        """Number of users."""
        return self.population.users

    def revoke(self, user: int) -> None:
        """Revoke the credential ``user`` holds now; watch for it being accepted later."""
        now = self._env.now
        self.recorder.revoked(user, now, self.strategy.expires_at(user))
        self.strategy.revoke(user, now)

    def rotate_key(self, overlap_s: float) -> None:
        """Switch the signing key."""
        self.strategy.rotate_key(self._env.now, overlap_s)

    def mark(self, kind: str, label: str, start_s: float, end_s: float | None) -> int:
        """Record an event for the plots and the per-event windows."""
        return self.recorder.mark(kind, label, start_s, end_s)

    def close_mark(self, handle: int, end_s: float) -> None:
        """Set the end of a lasting event (a deploy) once it is known."""
        self.recorder.close_mark(handle, end_s)
