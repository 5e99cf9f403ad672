"""The scenario's timeline played on the real cluster.

- ``server_crash`` kills the server processes (SIGKILL: their in-memory sessions die
  with them); HAProxy finds out at its next health check, as the model's balancer does.
- ``server_recover`` starts them again on the same port, with empty memory.
- ``store_outage`` freezes redis-server (SIGSTOP) for ``duration_s``, so operations
  hang until the servers' Redis timeout and fail (``store_unavailable``); with
  ``data_lost`` it is killed and started again empty instead.
- ``scale_out`` starts ``count`` new server processes and reloads HAProxy with them
  (:meth:`Cluster.add_servers <simulator.testbed.cluster.Cluster.add_servers>`); the
  balancer's hash then spreads users over one more server, as the model's does.
- ``traffic_spike`` needs no action: the spike is in the request stream the load
  generator replays (the model's own).

Other event kinds are refused in one line, before anything starts.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.scenario.events import (
    ScaleOut,
    ServerCrash,
    ServerRecover,
    StoreOutage,
    TrafficSpike,
)
from simulator.scenario.models import Scenario
from simulator.testbed.cluster import Cluster, server_process
from simulator.testbed.processes import TestbedError

PLAYED = ("server_crash", "server_recover", "store_outage", "scale_out", "traffic_spike")
"""The event kinds the testbed plays."""


@dataclass(frozen=True)
class Action:
    """One thing done to the real cluster.

    Attributes:
        at_s: when, seconds after the load's time 0.
        label: what, in words (``crash server 2``).
        do: the action, on the strategy's cluster.
        on_store: it acts on the store (skipped when the strategy runs none).
        server: the server it crashes or recovers (``None``: none).
        up: whether that server is up after it.
        memory_lost: the sessions held by what it acts on (``server``, or the store when
            ``on_store``) are gone after it.
        adds: servers it adds (a scale-out): ``server`` is the first new index.
    """

    at_s: float
    label: str
    do: Callable[[Cluster], None]
    on_store: bool = False
    server: int | None = None
    up: bool = True
    memory_lost: bool = False
    adds: int = 0


def _freeze(name: str, frozen: bool) -> Callable[[Cluster], None]:
    def act(cluster: Cluster) -> None:
        process = cluster.processes.popen(name)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    return act


def actions(scenario: Scenario) -> list[Action]:
    """The timeline as actions, in time order.

    Raises:
        TestbedError: an event kind the testbed cannot play (see :data:`PLAYED`).
    """
    servers = scenario.cluster.servers
    total = servers  # servers started so far, scale-outs included
    crashed: list[int] = []
    found: list[Action] = []
    for position, event in enumerate(sorted(scenario.events, key=lambda event: event.at_s)):
        if isinstance(event, ServerCrash):
            running = [index for index in range(total) if index not in crashed]
            chosen = event.choose(running, running[:1])
            crashed += chosen
            found += [
                Action(
                    event.at_s,
                    f"crash server {index}",
                    _kill(index),
                    server=index,
                    up=False,
                    memory_lost=True,
                )
                for index in chosen
            ]
        elif isinstance(event, ServerRecover):
            chosen = event.choose(list(crashed), list(crashed))
            crashed = [index for index in crashed if index not in chosen]
            found += [
                Action(
                    event.at_s,
                    f"recover server {index}",
                    _restart(server_process(index)),
                    server=index,
                )
                for index in chosen
            ]
        elif isinstance(event, StoreOutage):
            end_s = event.at_s + event.duration_s
            if event.data_lost:
                kill = _kill_named("redis")
                found.append(Action(event.at_s, "kill the store", kill, True, memory_lost=True))
                found.append(Action(end_s, "restart the store, empty", _restart("redis"), True))
            else:
                found.append(Action(event.at_s, "freeze the store", _freeze("redis", True), True))
                found.append(Action(end_s, "thaw the store", _freeze("redis", False), True))
        elif isinstance(event, ScaleOut):
            label = f"scale out {total}→{total + event.count}: start, reload HAProxy"
            found.append(
                Action(event.at_s, label, _add(event.count), server=total, adds=event.count)
            )
            total += event.count
        elif isinstance(event, TrafficSpike):
            continue  # in the request stream already
        else:
            raise TestbedError(
                f"events.{position}.kind: the testbed cannot play {event.kind!r} yet "
                f"(it plays {', '.join(PLAYED)})"
            )
    return sorted(found, key=lambda action: action.at_s)


def memory_losses(scenario: Scenario) -> list[tuple[float, int | None]]:
    """When session memory is lost, ``(at_s, server)`` in time order: a crashed server
    (its index) or a store that came back empty (``None``)."""
    return [
        (action.at_s, None if action.on_store else action.server)
        for action in actions(scenario)
        if action.memory_lost
    ]


def up_seconds(scenario: Scenario) -> list[float]:
    """Seconds each server is up in the measured window, by the timeline's crashes,
    recoveries and scale-outs (a recovered or added server counts as up from its event's
    time, as the model counts it), for every server the run ever has."""
    timeline = actions(scenario)
    start_s, end_s = scenario.warmup_s, scenario.duration_s
    total = scenario.cluster.servers + sum(action.adds for action in timeline)
    down_since: dict[int, float] = dict.fromkeys(
        range(scenario.cluster.servers, total), start_s
    )  # not started yet
    down_s = [0.0] * total
    for action in timeline:
        if action.server is None:
            continue
        for index in range(action.server, action.server + max(1, action.adds)):
            if not action.up:
                down_since[index] = action.at_s
            elif index in down_since:
                since = down_since.pop(index)
                down_s[index] += max(0.0, min(action.at_s, end_s) - max(since, start_s))
    for index, since in down_since.items():
        down_s[index] += max(0.0, end_s - max(since, start_s))
    return [end_s - start_s - down for down in down_s]


def _kill(index: int) -> Callable[[Cluster], None]:
    return _kill_named(server_process(index))


def _kill_named(name: str) -> Callable[[Cluster], None]:
    return lambda cluster: cluster.processes.kill(name)


def _restart(name: str) -> Callable[[Cluster], None]:
    def act(cluster: Cluster) -> None:
        cluster.processes.restart(name)

    return act


def _add(count: int) -> Callable[[Cluster], None]:
    def act(cluster: Cluster) -> None:
        cluster.add_servers(count)

    return act


@dataclass
class FaultPlayer:
    """Plays :func:`actions` on a thread, timed from the load's time 0.

    Call :meth:`start` once the processes run, pass :meth:`begin` as the load
    generator's ``on_start``, and :meth:`stop` when the load is done (actions not yet
    due are skipped).

    Attributes:
        done: ``(at_s, label, late_s)`` of every action performed (``late_s``: how late
            it ran after its time, seconds).
        error: the first action's failure, if any (the run goes on without it).
    """

    cluster: Cluster
    timeline: list[Action]
    done: list[tuple[float, str, float]] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        self._zero: float | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._play, name="faults", daemon=True)

    def start(self) -> None:
        """Start the thread (it waits for :meth:`begin`)."""
        if self.timeline:
            self._thread.start()

    def begin(self, zero_monotonic_s: float) -> None:
        """The load's time 0, on :func:`time.monotonic`'s clock."""
        self._zero = zero_monotonic_s
        self._started.set()

    def stop(self) -> None:
        """Stop playing and wait for the thread."""
        self._stopped.set()
        self._started.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30.0)

    def _play(self) -> None:
        self._started.wait()
        for action in self.timeline:
            if self._zero is None:
                return
            due = self._zero + action.at_s
            if self._stopped.wait(max(0.0, due - time.monotonic())):
                return
            try:
                action.do(self.cluster)
            except TestbedError as exc:  # e.g. a server that would not start again
                self.error = self.error or f"{action.label}: {exc}"
            self.done.append((action.at_s, action.label, time.monotonic() - due))
