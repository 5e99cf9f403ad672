"""The data model of an animation: a run turned into per-frame data.

:func:`simulate` runs a scenario with one time-series bucket per frame and :func:`frames`
turns the run into a :class:`ClusterFrames`: per strategy and frame, each server's state,
whether the balancer routes to it, its queue, busy workers and sessions, and the
strategy's success rate, latency and counts; the clock, the captions of the events and
what the balancer has not noticed yet.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from simulator.errors import AuthsimError
from simulator.model.run import run
from simulator.outcomes import ABSENT, DOWN, UP
from simulator.results.records import EventMark, RunResult
from simulator.results.timeseries import (
    SAMPLES_PER_BUCKET,
    BoolArray,
    Buckets,
    FloatArray,
    IntArray,
)
from simulator.scenario.models import Scenario, StrategyName

FRAME_S = 1.0
"""Default simulated seconds per frame."""


MAX_FRAMES = 600
"""Most frames one animation may have (choose a longer ``frame_s`` for long runs): a GIF
is held in memory until written, one byte per pixel and frame (550 MB at 1280x720)."""

CAPTION_HOLD_S = 5.0
"""Seconds of simulated time an event's caption stays up after the event (or its end)."""


_ArrayT = TypeVar("_ArrayT", IntArray, FloatArray, BoolArray)


class AnimationError(AuthsimError):
    """An animation that cannot be made or written (reported as one line by the CLI)."""


@dataclass(frozen=True)
class StrategyFrames:
    """One strategy, frame by frame (S servers, F frames).

    Attributes:
        strategy: the strategy's name.
        state: each server's state at the end of each frame, a code of
            ``outcomes.STATE_NAMES`` or ``outcomes.ABSENT`` (not started yet), (S, F).
        in_balancer: whether the balancer routed to each server at the end of each
            frame (it learns of crashes and recoveries at its health checks), (S, F).
        queue: mean jobs waiting per server over each frame, (S, F).
        busy: mean busy workers per server over each frame, (S, F).
        sessions: sessions held in each server's memory at the end of each frame (0 for
            strategies that keep none there), (S, F).
        requests: requests that arrived in each frame, (F,).
        success_rate: of those, the share served with no error and no forced re-login
            (NaN for a frame without requests), (F,).
        latency_p50_ms: median latency of those served, ms (NaN if none), (F,).
        latency_p95_ms: 95th percentile latency of those served, ms (NaN if none), (F,).
        errors: of those, the ones that ended in an error, (F,).
        forced_relogins: of those, the ones that forced a re-login, (F,).
        uses_store: whether the strategy talks to the shared session store.
        store_down: whether the store was down (a ``store_outage``) at the end of each
            frame, (F,).
    """

    strategy: str
    state: IntArray
    in_balancer: BoolArray
    queue: FloatArray
    busy: FloatArray
    sessions: IntArray
    requests: IntArray
    success_rate: FloatArray
    latency_p50_ms: FloatArray
    latency_p95_ms: FloatArray
    errors: IntArray
    forced_relogins: IntArray
    uses_store: bool
    store_down: BoolArray


@dataclass(frozen=True)
class ClusterFrames:
    """The data behind every frame of an animation.

    Frame ``k`` covers ``[t_s[k], t_s[k] + frame_s)`` of simulated time; there are
    ``ceil((duration_s - warmup_s) / frame_s)`` frames.

    Attributes:
        scenario: the scenario's name.
        seed: its seed.
        frame_s: simulated seconds per frame.
        t_s: start of each frame, seconds of simulated time, (F,).
        end_s: end of the measured window, seconds.
        servers: servers drawn per panel (the most the fleet ever had).
        workers: workers per server.
        health_check_s: the balancer's health-check interval, seconds.
        strategies: one entry per strategy, in the order run.
        events: the events as they happened (for the first strategy).
        caption_hold_s: seconds a caption stays up after its event.
    """

    scenario: str
    seed: int
    frame_s: float
    t_s: FloatArray
    end_s: float
    servers: int
    workers: int
    health_check_s: float
    strategies: tuple[StrategyFrames, ...]
    events: tuple[EventMark, ...]
    caption_hold_s: float = CAPTION_HOLD_S

    @property
    def count(self) -> int:
        """Number of frames."""
        return len(self.t_s)

    @property
    def queue_scale(self) -> float:
        """Full height of every queue bar: the run's largest mean queue over a frame,
        rounded up to 1, 2 or 5 times a power of ten (at least 1 job)."""
        peak = max((float(item.queue.max(initial=0.0)) for item in self.strategies), default=0)
        return _nice_ceiling(max(peak, 1.0))

    def strategy(self, name: str) -> StrategyFrames:
        """The frames of one strategy.

        Raises:
            KeyError: the strategy is not in the animation.
        """
        for item in self.strategies:
            if item.strategy == name:
                return item
        raise KeyError(name)

    def frame_at(self, time_s: float) -> int:
        """The frame that shows ``time_s`` (clipped to the first and last frame)."""
        index = math.floor((time_s - float(self.t_s[0])) / self.frame_s + 1e-9)
        return min(max(index, 0), self.count - 1)

    @functools.cached_property
    def _clock_decimals(self) -> int:
        return _decimals(self.t_s)

    def clock(self, index: int) -> str:
        """The clock of frame ``index``: ``t = 42 s`` (as many decimals as the frame
        times need, so every frame's clock differs)."""
        return f"t = {float(self.t_s[index]):.{self._clock_decimals}f} s"

    def captions(self, index: int) -> list[str]:
        """The events shown in frame ``index``: those that happened before its end and
        ended (or happened) less than ``caption_hold_s`` before its start."""
        start = float(self.t_s[index])
        end = start + self.frame_s
        shown = []
        for mark in self.events:
            last = mark.end_s if mark.end_s is not None else mark.start_s
            if mark.start_s < end and start < last + self.caption_hold_s:
                shown.append(_caption(mark, end))
        return shown

    def notes(self, index: int) -> list[str]:
        """What the balancer has not noticed yet at the end of frame ``index`` (a crashed
        server it still routes to, a started one it does not route to yet)."""
        first = self.strategies[0]
        state = first.state[:, index]
        routed = first.in_balancer[:, index]
        dead = [str(server) for server in np.flatnonzero((state == DOWN) & routed)]
        fresh = [str(server) for server in np.flatnonzero((state == UP) & ~routed)]
        every = f"health check every {self.health_check_s:g} s"
        notes = []
        if dead:
            notes.append(
                f"the balancer still sends requests to {_servers(dead)} (down): "
                f"it has not noticed yet ({every})"
            )
        if fresh:
            notes.append(
                f"{_servers(fresh)} up, but not used until the balancer's next check ({every})"
            )
        return notes


def frames(result: RunResult) -> ClusterFrames:
    """The data behind the frames of a run: one frame per time-series bucket.

    Run with ``bucket_s`` set to the frame length you want (see :func:`simulate`).

    Raises:
        ValueError: a strategy without time series, or strategies with different buckets.
    """
    if not result.results:
        raise ValueError("the run has no strategy")
    series = []
    for item in result.results:
        if item.series is None:
            raise ValueError(f"{item.strategy}: the run kept no time series")
        series.append(item.series)
    first = series[0]
    for item, other in zip(result.results, series, strict=True):
        if other.bucket_s != first.bucket_s or len(other.t_s) != len(first.t_s):
            raise ValueError(f"{item.strategy}: time buckets differ from the other strategies")
    servers = max(other.state.shape[0] for other in series)
    # the state at a frame's end is the state its last sample saw
    seen_s = first.t_s + first.bucket_s * (1 - 0.5 / SAMPLES_PER_BUCKET)
    strategies = []
    for item, other in zip(result.results, series, strict=True):
        extra = servers - other.state.shape[0]
        strategies.append(
            StrategyFrames(
                strategy=item.strategy,
                state=_pad(other.state, extra, ABSENT),
                in_balancer=_pad(other.in_balancer, extra, False),
                queue=_pad(other.queue_length, extra, 0.0),
                busy=_pad(other.busy_workers, extra, 0.0),
                sessions=_pad(other.sessions, extra, 0),
                requests=other.requests,
                success_rate=other.success_rate,
                latency_p50_ms=other.latency_ms[0],
                latency_p95_ms=other.latency_ms[1],
                errors=other.errors,
                forced_relogins=other.forced_relogins,
                uses_store=item.store is not None,
                store_down=_during(item.events, "store_outage", seen_s),
            )
        )
    scenario = result.scenario
    return ClusterFrames(
        scenario=scenario.name,
        seed=scenario.seed,
        frame_s=first.bucket_s,
        t_s=first.t_s,
        end_s=scenario.duration_s,
        servers=servers,
        workers=scenario.cluster.workers_per_server,
        health_check_s=scenario.load_balancer.health_check_interval_s,
        strategies=tuple(strategies),
        events=tuple(result.events),
    )


def frame_count(scenario: Scenario, frame_s: float) -> int:
    """Frames an animation of ``scenario`` has: ``ceil((duration_s - warmup_s) /
    frame_s)``."""
    return Buckets(scenario.warmup_s, scenario.duration_s, frame_s).count


def simulate(
    scenario: Scenario,
    strategies: Sequence[str | StrategyName] | None = None,
    *,
    frame_s: float = FRAME_S,
    seed: int | None = None,
) -> ClusterFrames:
    """Run ``scenario`` (in summary mode) with one time bucket per frame.

    Args:
        scenario: the scenario.
        strategies: which strategies, in order (default: the scenario's).
        frame_s: simulated seconds per frame.
        seed: overrides the scenario's seed.

    Raises:
        AnimationError: ``frame_s`` not positive, or more than :data:`MAX_FRAMES` frames.
    """
    check_frame_s(scenario, frame_s)
    bucketed = scenario.with_overrides({"bucket_s": frame_s}, source="frame_s")
    return frames(run(bucketed, strategies, seed=seed, record_requests=False))


def check_frame_s(scenario: Scenario, frame_s: float) -> None:
    """Check that ``frame_s`` makes a usable animation of ``scenario``.

    Raises:
        AnimationError: ``frame_s: <problem>`` (see :func:`frame_s_problem`).
    """
    problem = frame_s_problem(scenario, frame_s)
    if problem is not None:
        raise AnimationError(f"frame_s: {problem}")


def frame_s_problem(scenario: Scenario, frame_s: float) -> str | None:
    """What is wrong with ``frame_s`` for ``scenario``, in a few words, or ``None``: it
    must be a positive number of seconds giving at most :data:`MAX_FRAMES` frames."""
    if not math.isfinite(frame_s) or frame_s <= 0:
        return f"must be > 0 seconds (got {frame_s:g})"
    count = frame_count(scenario, frame_s)
    if count > MAX_FRAMES:
        shortest = _nice_ceiling(scenario.measured_s / MAX_FRAMES)
        return (
            f"{count:,} frames of {frame_s:g} s is too many (at most {MAX_FRAMES:,}); "
            f"use {shortest:g} s or more"
        )
    return None


def _pad(array: _ArrayT, extra: int, value: float) -> _ArrayT:
    """``array`` (S, F) with ``extra`` more rows of ``value``."""
    if extra <= 0:
        return array
    filler = np.full((extra, array.shape[1]), value, dtype=array.dtype)
    return np.vstack([array, filler])


def _nice_ceiling(value: float) -> float:
    """``value`` rounded up to 1, 2 or 5 times a power of ten."""
    exponent = math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        step = factor * 10.0**exponent
        if step >= value * (1 - 1e-9):
            return step
    return 10.0 ** (exponent + 1)


def _decimals(times_s: FloatArray) -> int:
    """The fewest decimals (up to 6) that write every time exactly and distinctly."""
    for decimals in range(7):
        written = [f"{time:.{decimals}f}" for time in times_s]
        exact = all(
            abs(float(text) - time) < 1e-6 for text, time in zip(written, times_s, strict=True)
        )
        if exact and len(set(written)) == len(written):
            return decimals
    return 6


def _during(marks: Sequence[EventMark], kind: str, times_s: FloatArray) -> BoolArray:
    """Whether each time falls inside an event of ``kind`` (from its start to its end)."""
    inside = np.zeros(len(times_s), dtype=np.bool_)
    for mark in marks:
        if mark.kind == kind and mark.end_s is not None:
            inside |= (times_s >= mark.start_s) & (times_s < mark.end_s)
    return inside


def _caption(mark: EventMark, frame_end_s: float) -> str:
    if mark.end_s is None:
        return f"{mark.start_s:g} s: {mark.label}"
    if frame_end_s <= mark.end_s:
        return f"{mark.start_s:g} s: {mark.label} (until {mark.end_s:g} s)"
    return f"{mark.end_s:g} s: {mark.label} ended"


def _servers(indices: list[str]) -> str:
    if len(indices) == 1:
        return f"server {indices[0]}"
    return "servers " + ", ".join(indices)
