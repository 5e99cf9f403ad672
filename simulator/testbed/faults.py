"""The scenario's timeline played on the real cluster.

- ``server_crash`` kills the server processes (SIGKILL: their in-memory sessions die
  with them); HAProxy finds out at its next health check, as the model's balancer does.
- ``server_recover`` starts them again on the same port, with empty memory.
- ``store_outage`` freezes redis-server (SIGSTOP) for ``duration_s``, so operations
  hang until the servers' Redis timeout and fail (``store_unavailable``); with
  ``data_lost`` it is killed and started again empty instead.

Other event kinds are refused in one line, before anything starts.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.scenario.events import ServerCrash, ServerRecover, StoreOutage
from simulator.scenario.models import Scenario
from simulator.testbed.processes import Processes, TestbedError

PLAYED = ("server_crash", "server_recover", "store_outage")
"""The event kinds the testbed plays."""


def server_process(index: int) -> str:
    """The process name of server ``index``."""
    return f"server-{index}"


@dataclass(frozen=True)
class Action:
    """One thing done to the real cluster.

    Attributes:
        at_s: when, seconds after the load's time 0.
        label: what, in words (``crash server 2``).
        do: the action, on the run's processes.
        on_store: it acts on the store (skipped when the strategy runs none).
        server: the server it crashes or recovers (``None``: none).
        up: whether that server is up after it.
    """

    at_s: float
    label: str
    do: Callable[[Processes], None]
    on_store: bool = False
    server: int | None = None
    up: bool = True


def _freeze(name: str, frozen: bool) -> Callable[[Processes], None]:
    def act(processes: Processes) -> None:
        process = processes.popen(name)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    return act


def actions(scenario: Scenario) -> list[Action]:
    """The timeline as actions, in time order.

    Raises:
        TestbedError: an event kind the testbed cannot play (see :data:`PLAYED`).
    """
    servers = scenario.cluster.servers
    crashed: list[int] = []
    found: list[Action] = []
    for position, event in enumerate(sorted(scenario.events, key=lambda event: event.at_s)):
        if isinstance(event, ServerCrash):
            running = [index for index in range(servers) if index not in crashed]
            chosen = event.choose(running, running[:1])
            crashed += chosen
            found += [
                Action(event.at_s, f"crash server {index}", _kill(index), server=index, up=False)
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
                found.append(Action(event.at_s, "kill the store", _kill_named("redis"), True))
                found.append(Action(end_s, "restart the store, empty", _restart("redis"), True))
            else:
                found.append(Action(event.at_s, "freeze the store", _freeze("redis", True), True))
                found.append(Action(end_s, "thaw the store", _freeze("redis", False), True))
        else:
            raise TestbedError(
                f"events.{position}.kind: the testbed cannot play {event.kind!r} yet "
                f"(it plays {', '.join(PLAYED)})"
            )
    return sorted(found, key=lambda action: action.at_s)


def up_seconds(scenario: Scenario) -> list[float]:
    """Seconds each server is up in the measured window, by the timeline's crashes and
    recoveries (a recovered server counts as up from its recovery's time)."""
    start_s, end_s = scenario.warmup_s, scenario.duration_s
    down_since: dict[int, float] = {}
    down_s = [0.0] * scenario.cluster.servers
    for action in actions(scenario):
        index = action.server
        if index is None:
            continue
        if not action.up:
            down_since[index] = action.at_s
        elif index in down_since:
            since = down_since.pop(index)
            down_s[index] += max(0.0, min(action.at_s, end_s) - max(since, start_s))
    for index, since in down_since.items():
        down_s[index] += max(0.0, end_s - max(since, start_s))
    return [end_s - start_s - down for down in down_s]


def _kill(index: int) -> Callable[[Processes], None]:
    return _kill_named(server_process(index))


def _kill_named(name: str) -> Callable[[Processes], None]:
    return lambda processes: processes.kill(name)


def _restart(name: str) -> Callable[[Processes], None]:
    def act(processes: Processes) -> None:
        processes.restart(name)

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

    processes: Processes
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
                action.do(self.processes)
            except TestbedError as exc:  # e.g. a server that would not start again
                self.error = self.error or f"{action.label}: {exc}"
            self.done.append((action.at_s, action.label, time.monotonic() - due))
