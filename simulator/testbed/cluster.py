"""The real cluster of one strategy: the store, the servers and HAProxy, and scale-out.

:class:`Cluster` starts, on 127.0.0.1 only, a redis-server when the strategy asks a
store, ``cluster.servers`` server processes (:mod:`simulator.testbed.server`) and HAProxy
in front of them, with a configuration generated from the scenario
(:func:`~simulator.testbed.haproxy.haproxy_config`) and checked by ``haproxy -c``.
:meth:`Cluster.add_servers` is a scale-out as operators run it: new server processes,
a new configuration, and a seamless reload of HAProxy that keeps the health state of the
servers it already knew (see :func:`~simulator.testbed.processes.reload_haproxy`).
Every process belongs to the caller's :class:`~simulator.testbed.processes.Processes`,
which stops them all.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from simulator.scenario.models import Scenario
from simulator.testbed.config import HaproxyFiles, ServerConfig
from simulator.testbed.haproxy import check_config, haproxy_config
from simulator.testbed.processes import (
    Processes,
    find_binary,
    free_port,
    reload_haproxy,
    start_haproxy,
    start_redis,
)

STORE_STRATEGIES = frozenset({"shared_store"})
"""Strategies whose servers need the store (jwt's refresh tokens are not exercised: an
access token outlives a testbed run)."""

START_TIMEOUT_S = 30.0
"""Longest wait for one process to be ready."""


def server_process(index: int) -> str:
    """The process name of server ``index``."""
    return f"server-{index}"


@dataclass
class Cluster:
    """One strategy's real cluster.

    Attributes:
        processes: where every process is started (and from where it is stopped).
        scenario: the (scaled) scenario.
        strategy: the strategy the servers run.
        folder: the working folder: the servers' configuration, ``haproxy.cfg``, its
            admin socket and server-state file, the logs.
        haproxy: HAProxy's binary.
        iterations: PBKDF2 iterations of a login.
        servers: ``(host, port)`` of every server started, in index order.
        port: HAProxy's frontend port (0 until :meth:`start`).
    """

    processes: Processes
    scenario: Scenario
    strategy: str
    folder: Path
    haproxy: str
    iterations: int
    servers: list[tuple[str, int]] = field(default_factory=list)
    port: int = 0

    @property
    def uses_store(self) -> bool:
        """Whether the strategy's servers ask the store."""
        return self.strategy in STORE_STRATEGIES

    @property
    def files(self) -> HaproxyFiles:
        """HAProxy's configuration, admin socket and server-state file."""
        return HaproxyFiles(
            config=self.folder / "haproxy.cfg",
            admin_socket=self.folder / "haproxy.sock",
            state_file=self.folder / "haproxy.state",
        )

    def start(self) -> int:
        """Start the store (when needed), the servers and HAProxy; return HAProxy's port."""
        scenario = self.scenario
        redis_url = None
        if self.uses_store:
            binary = find_binary("redis-server", "redis-server", brew="redis")
            redis_url = start_redis(self.processes, free_port(), self.folder, binary=binary)
        config = ServerConfig(
            strategy=self.strategy,
            workers=scenario.cluster.workers_per_server,
            queue_limit=scenario.cluster.queue_limit,
            pbkdf2_iterations=self.iterations,
            cpu_fraction=scenario.cluster.service_time_ms.cpu_fraction,
            redis_url=redis_url,
            jwt_algorithm="HS256",
            jwt_secret=secrets.token_hex(32),
            jwt_ttl_s=scenario.jwt.ttl_s,
        )
        config.save(self._server_config)
        for _ in range(scenario.cluster.servers):
            self._start_server()
        self.port = free_port()
        self._write_haproxy_config()
        start_haproxy(self.processes, self.haproxy, self.files.config)
        return self.port

    def add_servers(self, count: int) -> list[int]:
        """A scale-out: start ``count`` new servers, then reload HAProxy with them in its
        configuration; return their indices."""
        added = [self._start_server() for _ in range(count)]
        self._write_haproxy_config()
        reload_haproxy(self.processes, self.haproxy, self.files)
        return added

    @property
    def _server_config(self) -> Path:
        return self.folder / "server.json"

    def _start_server(self) -> int:
        index, port = len(self.servers), free_port()
        argv = [sys.executable, "-m", "simulator.testbed.server"]
        argv += ["--config", str(self._server_config), "--index", str(index)]
        argv += ["--port", str(port)]
        name = server_process(index)
        self.processes.start(name, argv, ready="ready", timeout_s=START_TIMEOUT_S)
        self.servers.append(("127.0.0.1", port))
        return index

    def _write_haproxy_config(self) -> None:
        files = self.files
        text = haproxy_config(
            self.scenario, self.servers, self.port, strategy=self.strategy, files=files
        )
        files.config.write_text(text, encoding="utf-8")
        check_config(self.haproxy, files.config)
