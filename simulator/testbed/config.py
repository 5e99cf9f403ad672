"""What a testbed server process is told: one JSON file written by the orchestrator.

Kept free of heavy imports: the server process reads it at start-up.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServerConfig:
    """The settings every server process of one testbed run shares.

    Attributes:
        strategy: ``local``, ``sticky``, ``shared_store`` or ``jwt``.
        workers: concurrent job slots per server (``cluster.workers_per_server``).
        queue_limit: jobs that may wait for a slot; one more is answered 503 ``overload``.
        pbkdf2_iterations: PBKDF2-SHA256 iterations of a login's password hash (scaled
            down from the scenario's cost so a laptop can run it).
        cpu_fraction: share of a request's service time spent computing (a busy loop);
            the rest is spent sleeping (``service_time_ms.cpu_fraction``).
        redis_url: the store (``redis://127.0.0.1:PORT/0``); ``None`` when the strategy
            needs none.
        session_ttl_s: lifetime of a session in the store or in memory, seconds.
        jwt_algorithm: the signing algorithm (``HS256``...).
        jwt_secret: the HMAC key (hex) for ``HS*`` algorithms.
        jwt_ttl_s: access-token lifetime, seconds.
        jwt_retired_secrets: HMAC keys (hex) of a key rotation, no longer used to sign
            but still accepted (the overlap; the token's ``kid`` selects the key).
        extra: anything else, by name (for forward compatibility).
    """

    strategy: str
    workers: int
    queue_limit: int
    pbkdf2_iterations: int
    cpu_fraction: float = 1.0
    redis_url: str | None = None
    session_ttl_s: float = 86_400.0
    jwt_algorithm: str = "HS256"
    jwt_secret: str = ""
    jwt_ttl_s: float = 900.0
    jwt_retired_secrets: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write the configuration as JSON."""
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ServerConfig:
        """Read a configuration written by :meth:`save`."""
        return cls(**json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class HaproxyFiles:
    """The files of one HAProxy: its configuration, and for seamless reloads its admin
    socket and server-state file.

    Attributes:
        config: the configuration file.
        admin_socket: the Unix socket of HAProxy's runtime API (``stats socket ... level
            admin expose-fd listeners``): a reload reads the servers' state from it and
            takes over the listening sockets through it (``-x``).
        state_file: where the servers' state is saved before a reload and read by the
            new process (``server-state-file``, ``load-server-state-from-file global``).
    """

    config: Path
    admin_socket: Path
    state_file: Path
