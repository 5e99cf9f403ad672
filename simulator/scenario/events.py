"""The timeline of faults and changes: the ``events:`` list of a scenario.

Each kind of event is one small class: its fields are validated like the rest of the
scenario, and its :meth:`run` is a SimPy process that acts on the running model through
the :class:`World` protocol (the model implements it). Every event says what happened
and when through :meth:`World.mark`, which feeds the event markers of the plots and the
per-event windows of the summary.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Annotated, Any, Literal, Protocol

import simpy
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_EVENT_COUNT = 100_000
"""Most servers one scale-out or scale-in adds or removes (ten times the size limit of
:mod:`simulator.scenario.budget`, which ``--allow-large`` lifts; this one it does not)."""

MAX_SPIKE_MULTIPLIER = 1_000.0
"""Largest traffic spike, times the base rate: flash crowds reach tens to hundreds; a
multiplier of ``1e300`` would never end, even with ``--allow-large``."""


class World(Protocol):
    """What an event may do to a running simulation."""

    @property
    def env(self) -> simpy.Environment:
        """The simulation environment."""
        ...

    def running_servers(self) -> list[int]:
        """Indices of servers that are up, ascending."""
        ...

    def crashed_servers(self) -> list[int]:
        """Indices of servers that crashed and were not removed, ascending."""
        ...

    def crash(self, server: int) -> None:
        """Kill ``server`` now: jobs on it fail, its sessions are lost. The balancer
        notices at its next health check."""
        ...

    def recover(self, server: int) -> None:
        """Start a crashed ``server`` again (empty memory); the balancer adds it at its
        next health check."""
        ...

    def add_server(self) -> int:
        """Start a new server; the balancer adds it at its next health check."""
        ...

    def retire(self, server: int, graceful: bool) -> Generator[simpy.Event, Any, None]:
        """Take ``server`` out of the balancer now, drain it if ``graceful`` (else kill
        the jobs on it), then stop it for good."""
        ...

    def restart(
        self, server: int, restart_s: float, graceful: bool
    ) -> Generator[simpy.Event, Any, None]:
        """Restart ``server``: out of the balancer (drained if ``graceful``), down for
        ``restart_s``, then up with empty memory; returns once the balancer has taken it
        back (at its next health check)."""
        ...

    def set_store_down(self, down: bool, data_lost: bool) -> None:
        """Start or end a store outage; ``data_lost`` empties the store when it ends."""
        ...

    def add_store_delay(self, extra_s: float) -> None:
        """Add (or, negative, remove) network delay to every store operation."""
        ...

    def crash_store_node(
        self, shard: int, primary: bool, restart_s: float, data_lost: bool
    ) -> float:
        """Kill the primary (or a replica) of the store's ``shard``; it restarts after
        ``restart_s``. Returns how long the shard takes no writes, seconds."""
        ...

    def users(self) -> int:
        """Number of users."""
        ...

    def revoke(self, user: int) -> None:
        """Revoke every credential ``user`` holds now (a logout everywhere, a stolen
        token reported)."""
        ...

    def rotate_key(self, overlap_s: float) -> None:
        """Start signing with a new key; the old one still verifies for ``overlap_s``."""
        ...

    def mark(self, kind: str, label: str, start_s: float, end_s: float | None) -> int:
        """Record that an event happened (``end_s`` for events that last); returns a
        handle for :meth:`close_mark`."""
        ...

    def close_mark(self, handle: int, end_s: float) -> None:
        """Set the end of a lasting event whose end was not known when it started."""
        ...


class _Event(BaseModel):
    """Fields every event has."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    at_s: float = Field(ge=0, description="when the event starts, seconds")

    @property
    def label(self) -> str:
        """A short caption for plots and tables."""
        return self.kind.replace("_", " ")  # type: ignore[attr-defined,no-any-return]

    @property
    def lasts_s(self) -> float | None:
        """How long the event lasts by definition (``None``: instantaneous or variable)."""
        return None


class _Targeted(_Event):
    """An event aimed at one server (``server``) or at several (``count``)."""

    server: int | None = Field(None, ge=0)
    count: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_target(self) -> _Targeted:
        if self.server is not None and self.count is not None:
            raise ValueError("give server or count, not both")
        return self

    def choose(self, candidates: list[int], default: list[int]) -> list[int]:
        """The servers it aims at among ``candidates``: ``server`` if it is one of them,
        the first ``count`` of them, or else ``default``."""
        if self.server is not None:
            return [self.server] if self.server in candidates else []
        if self.count is not None:
            return candidates[: self.count]
        return default


class ServerCrash(_Targeted):
    """A server dies: jobs on it fail (``server_down``), its in-memory sessions are lost.

    ``server`` picks one by index; ``count`` crashes that many, lowest index first;
    neither crashes server 0. The balancer keeps routing to it until its next health
    check.
    """

    kind: Literal["server_crash"]

    @property
    def label(self) -> str:
        return f"crash {_target(self.server, self.count)}"

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Crash the chosen servers."""
        running = world.running_servers()
        chosen = self.choose(running, default=running[:1])
        for server in chosen:
            world.crash(server)
        world.mark(self.kind, f"crash {_names(chosen)}", world.env.now, None)
        yield from ()


class ServerRecover(_Targeted):
    """Crashed servers start again, with empty memory.

    ``server`` picks one; ``count`` recovers that many, lowest index first; neither
    recovers every crashed server.
    """

    kind: Literal["server_recover"]

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Recover the chosen servers."""
        crashed = world.crashed_servers()
        chosen = self.choose(crashed, default=crashed)
        for server in chosen:
            world.recover(server)
        world.mark(self.kind, f"recover {_names(chosen)}", world.env.now, None)
        yield from ()


class ScaleOut(_Event):
    """``count`` new servers start; the balancer adds them at its next health check."""

    kind: Literal["scale_out"]
    count: int = Field(1, ge=1, le=MAX_EVENT_COUNT)

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Add the servers."""
        before = len(world.running_servers())
        for _ in range(self.count):
            world.add_server()
        after = before + self.count
        world.mark(self.kind, f"scale out {before}→{after}", world.env.now, None)
        yield from ()


class ScaleIn(_Event):
    """The ``count`` highest-numbered servers leave the fleet.

    They leave the balancer at once; with ``graceful`` they first finish the jobs they
    hold (a drain), otherwise those jobs fail. Their sessions are lost either way.
    """

    kind: Literal["scale_in"]
    count: int = Field(1, ge=1, le=MAX_EVENT_COUNT)
    graceful: bool = True

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Retire the servers, one drain after another started at once."""
        env = world.env
        running = world.running_servers()
        leaving = running[-self.count :] if self.count < len(running) else running[1:]
        start = env.now
        drains = [env.process(world.retire(server, self.graceful)) for server in leaving]
        label = f"scale in {len(running)}→{len(running) - len(leaving)}"
        world.mark(self.kind, label, start, None)
        if drains:
            yield env.all_of(drains)


class RollingRestart(_Event):
    """A deploy: every running server restarts, one at a time.

    Each server leaves the balancer (drained first with ``graceful``), is down for
    ``restart_s``, comes back with empty memory and rejoins at the next health check;
    ``interval_s`` after it rejoined, the next one starts. The deploy ends when the last
    server has rejoined.
    """

    kind: Literal["rolling_restart"]
    restart_s: float = Field(10.0, gt=0)
    interval_s: float = Field(10.0, ge=0)
    graceful: bool = True

    @property
    def label(self) -> str:
        return "rolling deploy"

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Restart every running server in turn."""
        env = world.env
        handle = world.mark(self.kind, self.label, env.now, None)
        for position, server in enumerate(world.running_servers()):
            if position and self.interval_s:
                yield env.timeout(self.interval_s)
            yield env.process(world.restart(server, self.restart_s, self.graceful))
        world.close_mark(handle, env.now)


class _Lasting(_Event):
    """An event that starts, holds for ``duration_s``, then ends."""

    duration_s: float = Field(gt=0, description="how long it lasts, seconds")

    @property
    def lasts_s(self) -> float | None:
        return self.duration_s

    def begin(self, world: World) -> None:
        """What changes when the event starts."""

    def end(self, world: World) -> None:
        """What changes back when it ends."""

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Mark the event, begin it, wait ``duration_s``, end it."""
        env = world.env
        world.mark(self.kind, self.label, env.now, env.now + self.duration_s)  # type: ignore[attr-defined]
        self.begin(world)
        yield env.timeout(self.duration_s)
        self.end(world)


class StoreOutage(_Lasting):
    """The session store is unreachable for ``duration_s``.

    Operations sent or in flight meanwhile fail (``store_unavailable``). With
    ``data_lost`` the store comes back empty (a restart without persistence), so every
    session in it is gone.
    """

    kind: Literal["store_outage"]
    data_lost: bool = False

    @property
    def label(self) -> str:
        return "store outage" + (" (data lost)" if self.data_lost else "")

    def begin(self, world: World) -> None:
        world.set_store_down(True, self.data_lost)

    def end(self, world: World) -> None:
        world.set_store_down(False, self.data_lost)


class StoreNodeCrash(_Event):
    """One Redis process of the store dies: the primary of ``shard`` (``role:
    primary``) or one of its replicas (``role: replica``); it restarts ``restart_s``
    later.

    With a running replica (``shared_store.replicas`` >= 1) a crashed primary is replaced
    after ``shared_store.failover_s``: its shard takes no writes (and, reading from the
    primary, no reads) until then, and the writes of the last
    ``shared_store.replication_lag_ms`` before the crash are lost. Without one, the shard
    waits for the restart, empty if ``data_lost`` (no persistence). Other shards carry
    on; a replica's crash only takes read capacity away.
    """

    kind: Literal["store_node_crash"]
    shard: int = Field(0, ge=0)
    role: Literal["primary", "replica"] = "primary"
    restart_s: float = Field(60.0, gt=0)
    data_lost: bool = False

    @property
    def label(self) -> str:
        return f"store shard {self.shard} {self.role} down"

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Crash the node; mark the time its shard takes no writes."""
        now = world.env.now
        down_s = world.crash_store_node(
            self.shard, self.role == "primary", self.restart_s, self.data_lost
        )
        world.mark(self.kind, self.label, now, now + down_s if down_s > 0 else None)
        yield from ()


class StoreLatencySpike(_Lasting):
    """Every store operation takes ``extra_ms`` longer for ``duration_s`` (a slow
    network, a noisy neighbour)."""

    kind: Literal["store_latency_spike"]
    extra_ms: float = Field(gt=0)

    @property
    def label(self) -> str:
        return f"store +{self.extra_ms:g} ms"

    def begin(self, world: World) -> None:
        world.add_store_delay(self.extra_ms / 1000.0)

    def end(self, world: World) -> None:
        world.add_store_delay(-self.extra_ms / 1000.0)


class TrafficSpike(_Lasting):
    """The arrival rate is ``multiplier`` times higher for ``duration_s``.

    The request stream is generated with the spike in it (the same for every strategy,
    see :class:`simulator.model.workload.ArrivalRate`); the event itself only marks the window.
    """

    kind: Literal["traffic_spike"]
    multiplier: float = Field(gt=0, le=MAX_SPIKE_MULTIPLIER)

    @property
    def label(self) -> str:
        return f"traffic ×{self.multiplier:g}"


class RevokeUser(_Event):
    """Revoke users' credentials now: ``user`` by index, or the ``count`` most active
    users (user 0 is the most active with Zipf weights); neither revokes user 0.

    Sessions are deleted where they live, so a session user is refused at once. A token
    is self-contained: without ``jwt.denylist`` it stays valid until it expires (the
    exposure window); the revoked user itself can log in again and get a new one.
    """

    kind: Literal["revoke_user"]
    user: int | None = Field(None, ge=0)
    count: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_target(self) -> RevokeUser:
        if self.user is not None and self.count is not None:
            raise ValueError("give user or count, not both")
        return self

    @property
    def label(self) -> str:
        if self.count is not None:
            return f"revoke {self.count} users"
        return f"revoke user {self.user or 0}"

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Revoke the chosen users."""
        chosen = range(self.count) if self.count is not None else [self.user or 0]
        for user in chosen:
            if user < world.users():
                world.revoke(user)
        world.mark(self.kind, self.label, world.env.now, None)
        yield from ()


class RotateKey(_Event):
    """The token signing key changes. Tokens signed with the old key verify for
    ``overlap_s`` more seconds (0: not at all, so every token holder must log in again).
    Session strategies do not notice."""

    kind: Literal["rotate_key"]
    overlap_s: float = Field(0.0, ge=0)

    @property
    def label(self) -> str:
        if self.overlap_s:
            return f"rotate key ({self.overlap_s:g} s overlap)"
        return "rotate key"

    def run(self, world: World) -> Generator[simpy.Event, Any, None]:
        """Rotate the key."""
        world.rotate_key(self.overlap_s)
        world.mark(self.kind, self.label, world.env.now, None)
        yield from ()


Event = Annotated[
    ServerCrash
    | ServerRecover
    | ScaleOut
    | ScaleIn
    | RollingRestart
    | StoreOutage
    | StoreNodeCrash
    | StoreLatencySpike
    | TrafficSpike
    | RevokeUser
    | RotateKey,
    Field(discriminator="kind"),
]
"""One timeline event, chosen by its ``kind`` key."""

EVENT_KINDS: tuple[str, ...] = (
    "server_crash",
    "server_recover",
    "scale_out",
    "scale_in",
    "rolling_restart",
    "store_outage",
    "store_node_crash",
    "store_latency_spike",
    "traffic_spike",
    "revoke_user",
    "rotate_key",
)


def _target(server: int | None, count: int | None) -> str:
    if server is not None:
        return f"server {server}"
    if count is not None:
        return f"{count} servers"
    return "server 0"


def _names(servers: list[int]) -> str:
    if not servers:
        return "(none)"
    if len(servers) == 1:
        return f"server {servers[0]}"
    return "servers " + ", ".join(str(server) for server in servers)
