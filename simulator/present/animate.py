"""The cluster as an animation: one panel per strategy, frame by frame, on the same traffic.

Each frame shows ``frame_s`` seconds of simulated time (one time-series bucket of the
run, so the animation reuses the run's own series: run with ``bucket_s = frame_s``). A
panel draws the load balancer, a line to each server (solid while the balancer routes to
it, dashed when it does not), each server as a box coloured by its state, its busy
workers, its queue (one bar scale for the whole run, labelled) and the sessions held in
its memory, with the strategy's success rate and latency over the frame. Above the
panels: the clock, the events as captions (visible for :data:`CAPTION_HOLD_S` seconds
after they happen) and what the balancer has not noticed yet; below: the legend and a
timeline with the events and the playhead.

This module draws with Pillow (only :mod:`simulator.present.plots` imports matplotlib) and
writes GIFs with Pillow or MP4s through an ``ffmpeg`` executable, each file atomically.

Typical use::

    from simulator import load_scenario
    from simulator.present.animate import iter_render, save_animation, simulate

    cluster = simulate(load_scenario("server-crash"), frame_s=1.0)
    save_animation("cluster.gif", iter_render(cluster), fps=5)
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from simulator.atomic import atomic_file, atomic_path
from simulator.errors import AuthsimError
from simulator.model.run import run
from simulator.outcomes import ABSENT, DOWN, DRAINING, RESTARTING, RETIRED, UP
from simulator.results.records import EventMark, RunResult
from simulator.results.timeseries import (
    SAMPLES_PER_BUCKET,
    BoolArray,
    Buckets,
    FloatArray,
    IntArray,
)
from simulator.scenario.models import Scenario, StrategyName

SIZE: tuple[int, int] = (1280, 720)
"""Default image size, pixels (16:9, sharp on a projector)."""

MIN_SIZE: tuple[int, int] = (320, 180)
"""Smallest image size that stays legible, pixels."""

FRAME_S = 1.0
"""Default simulated seconds per frame."""

FPS = 5.0
"""Default frames per second of the animation."""

MAX_FPS = 50.0
"""Highest frame rate (GIF delays are whole hundredths of a second)."""

MAX_FRAMES = 600
"""Most frames one animation may have (choose a longer ``frame_s`` for long runs): a GIF
is held in memory until written, one byte per pixel and frame (550 MB at 1280x720)."""

CAPTION_HOLD_S = 5.0
"""Seconds of simulated time an event's caption stays up after the event (or its end)."""

RGB = tuple[int, int, int]

STATE_COLOURS: dict[int, RGB] = {
    UP: (0, 158, 115),  # Okabe-Ito bluish green
    DRAINING: (86, 180, 233),  # Okabe-Ito sky blue
    RESTARTING: (240, 228, 66),  # Okabe-Ito yellow
    DOWN: (213, 94, 0),  # Okabe-Ito vermillion
    RETIRED: (187, 187, 187),  # grey
    ABSENT: (255, 255, 255),  # white, dashed outline: not started yet
}
"""Fill of a server box by state code (Okabe-Ito colours, safe for colour-blind viewers;
the state is also written in the box)."""

STATE_LABELS: dict[int, str] = {
    UP: "up",
    DRAINING: "draining",
    RESTARTING: "restarting",
    DOWN: "down",
    RETIRED: "retired",
    ABSENT: "not started",
}
"""What a server box says about its state."""

QUEUE_COLOUR: RGB = (0, 114, 178)  # Okabe-Ito blue
EVENT_COLOUR: RGB = (204, 121, 167)  # Okabe-Ito reddish purple
INK: RGB = (17, 17, 17)
MUTED: RGB = (85, 85, 85)
LINE: RGB = (68, 68, 68)
FAINT: RGB = (170, 170, 170)
FRAME_BG: RGB = (246, 246, 246)
WHITE: RGB = (255, 255, 255)

LB_FILL: RGB = (221, 221, 221)
DOWN_TEXT: RGB = (166, 54, 0)
"""A darker vermillion for text about down servers (readable on white)."""

_SOLIDS: tuple[RGB, ...] = (
    QUEUE_COLOUR,
    EVENT_COLOUR,
    INK,
    MUTED,
    LINE,
    FAINT,
    FRAME_BG,
    WHITE,
    LB_FILL,
    DOWN_TEXT,
)
"""Every flat colour drawn besides the states'."""

SESSIONS_ELSEWHERE: dict[str, str] = {
    "shared_store": "no sessions in server memory: they live in the shared store",
    "jwt": "no sessions in server memory: the signed token is the proof",
}
"""What the sessions row says for strategies that keep no session on the servers."""

_GLYPHS = {"→": "->", "–": "-", "—": "-", "×": "x", "µ": "u", "≥": ">=", "≤": "<="}
"""Characters the default font lacks, and what to write instead."""

_ArrayT = TypeVar("_ArrayT", IntArray, FloatArray, BoolArray)

Box = tuple[int, int, int, int]
"""A pixel rectangle: left, top, right, bottom (inclusive)."""


class AnimationError(AuthsimError):
    """An animation that cannot be made or written (reported as one line by the CLI)."""


# ------------------------------------------------------------------------ data


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


# ------------------------------------------------------------------------ layout


_PANEL_W = 630.0
_PANEL_H = 290.0
"""Size of the design panel, in panel units (a panel of 1280x720 with four strategies)."""

_LABEL_W = 86.0
_PAD = 12.0
_BOX_TOP, _BOX_H = 130.0, 46.0
_PIPS_TOP, _PIPS_H = 184.0, 11.0
_QUEUE_TOP, _QUEUE_H = 202.0, 50.0
_SESSIONS_Y = 268.0
_LB_TOP, _LB_H, _LB_W = 64.0, 32.0, 170.0
_STORE_W = 150.0


@dataclass(frozen=True)
class _Panel:
    """Where one strategy's panel is drawn."""

    cell: Box
    top: float
    unit: float
    servers: int

    def y(self, design_y: float) -> int:
        return round(self.top + design_y * self.unit)

    def u(self, design: float) -> int:
        return max(1, round(design * self.unit))

    @property
    def area(self) -> tuple[float, float]:
        left, _, right, _ = self.cell
        return left + _LABEL_W * self.unit, right - _PAD * self.unit

    @property
    def slot(self) -> float:
        area_left, area_right = self.area
        return (area_right - area_left) / max(self.servers, 1)

    def centre_x(self, server: int) -> int:
        return round(self.area[0] + self.slot * (server + 0.5))

    @property
    def box_w(self) -> int:
        return max(6, round(min(self.slot * 0.8, 110 * self.unit)))

    def box(self, server: int) -> Box:
        centre = self.centre_x(server)
        half = self.box_w // 2
        top = self.y(_BOX_TOP)
        return centre - half, top, centre + half, top + self.u(_BOX_H)


@dataclass(frozen=True)
class _Layout:
    """The parts of one image: header, panels, footer."""

    width: int
    height: int
    scale: float
    header_h: int
    footer_h: int
    panels: tuple[_Panel, ...]


def _layout(size: tuple[int, int], strategies: int, servers: int) -> _Layout:
    width, height = size
    scale = min(width / SIZE[0], height / SIZE[1])
    header_h = round(100 * scale)
    footer_h = round(58 * scale)
    columns = 1 if strategies <= 2 else 2
    rows = math.ceil(strategies / columns)
    margin = round(8 * scale)
    cell_w = (width - margin * (columns + 1)) / columns
    cell_h = (height - header_h - footer_h - margin * (rows - 1)) / rows
    panels = []
    for position in range(strategies):
        row, column = divmod(position, columns)
        left = margin + column * (cell_w + margin)
        top = header_h + row * (cell_h + margin)
        unit = min(cell_w / _PANEL_W, cell_h / _PANEL_H)
        inner_top = top + (cell_h - _PANEL_H * unit) / 2
        cell = (round(left), round(top), round(left + cell_w) - 1, round(top + cell_h) - 1)
        panels.append(_Panel(cell, inner_top, unit, servers))
    return _Layout(width, height, scale, header_h, footer_h, tuple(panels))


def server_box(
    cluster: ClusterFrames, strategy: str | int, server: int, size: tuple[int, int] = SIZE
) -> Box:
    """The pixel box of one server in one strategy's panel, as :func:`render` draws it.

    The box is filled with its state's colour (:data:`STATE_COLOURS`) except for a 1-pixel
    border and its centred label: pixels a few pixels inside a corner show the state.

    Args:
        cluster: the frames.
        strategy: the strategy's name, or its position in ``cluster.strategies``.
        server: the server's index.
        size: the image size, pixels.

    Returns:
        ``(left, top, right, bottom)``, inclusive.

    Raises:
        KeyError: an unknown strategy.
        IndexError: a server the animation does not draw.
    """
    if isinstance(strategy, str):
        names = [item.strategy for item in cluster.strategies]
        if strategy not in names:
            raise KeyError(strategy)
        strategy = names.index(strategy)
    if not 0 <= server < cluster.servers:
        raise IndexError(f"server {server}: the animation draws servers 0 to {cluster.servers - 1}")
    layout = _layout(size, len(cluster.strategies), cluster.servers)
    return layout.panels[strategy].box(server)


# ------------------------------------------------------------------------ drawing


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(size, 6))


def _text(text: str) -> str:
    """``text`` with the characters the default font lacks replaced."""
    for char, plain in _GLYPHS.items():
        text = text.replace(char, plain)
    return text


def _width(text: str, size: int) -> float:
    return float(_font(size).getlength(_text(text)))


def _fit(text: str, size: int, max_w: float, smallest: int = 8) -> int | None:
    """The largest font size up to ``size`` at which ``text`` fits ``max_w`` pixels."""
    while size >= smallest:
        if _width(text, size) <= max_w:
            return size
        size -= 1
    return None


def _put(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    fill: RGB = INK,
    anchor: str = "la",
) -> None:
    draw.text(xy, _text(text), font=_font(size), fill=fill, anchor=anchor)


def _dashed(
    draw: ImageDraw.ImageDraw,
    start: tuple[float, float],
    end: tuple[float, float],
    fill: RGB,
    width: int,
    dash: float,
) -> None:
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    steps = max(1, int(length / dash))
    for step in range(0, steps, 2):
        a, b = step / steps, min(step + 1, steps) / steps
        draw.line(
            [(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
            fill=fill,
            width=width,
        )


def _dashed_box(draw: ImageDraw.ImageDraw, box: Box, fill: RGB, width: int, dash: float) -> None:
    left, top, right, bottom = box
    corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
    for start, end in itertools.pairwise(corners):
        _dashed(draw, start, end, fill, width, dash)


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 100:.1f}%"


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _queue_text(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


class _Painter:
    """Draws the frames of one animation at one size (the static parts once)."""

    def __init__(self, cluster: ClusterFrames, size: tuple[int, int]) -> None:
        width, height = size
        if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
            raise AnimationError(
                f"size: {width}x{height} is too small (at least {MIN_SIZE[0]}x{MIN_SIZE[1]})"
            )
        if not cluster.strategies or cluster.count == 0:
            raise AnimationError("nothing to draw: no strategy or no frame")
        self.cluster = cluster
        self.layout = _layout(size, len(cluster.strategies), cluster.servers)
        self.queue_scale = cluster.queue_scale
        self.background = self._background()

    # ------------------------------------------------------------ static parts

    def _background(self) -> Image.Image:
        layout = self.layout
        image = Image.new("RGB", (layout.width, layout.height), WHITE)
        draw = ImageDraw.Draw(image)
        scale = layout.scale
        cluster = self.cluster
        _put(
            draw,
            (round(14 * scale), round(10 * scale)),
            f"{cluster.scenario} · seed {cluster.seed}",
            round(26 * scale),
        )
        _put(
            draw,
            (round(14 * scale), round(42 * scale)),
            f"every strategy on the same traffic · 1 frame = {cluster.frame_s:g} s "
            "of simulated time",
            round(16 * scale),
            MUTED,
        )
        for panel, item in zip(layout.panels, cluster.strategies, strict=True):
            self._panel_background(draw, panel, item)
        self._legend(draw)
        return image

    def _panel_background(
        self, draw: ImageDraw.ImageDraw, panel: _Panel, item: StrategyFrames
    ) -> None:
        left = panel.cell[0]
        draw.rounded_rectangle(panel.cell, radius=panel.u(8), fill=FRAME_BG, outline=LB_FILL)
        x = left + panel.u(_PAD)
        _put(draw, (x, panel.y(10)), item.strategy, panel.u(26))
        label = panel.u(15)
        _put(draw, (x, panel.y(_PIPS_TOP + _PIPS_H / 2)), "workers", label, MUTED, "lm")
        _put(draw, (x, panel.y(_QUEUE_TOP + 8)), "queue", label, MUTED, "lm")
        small = panel.u(13)
        _put(draw, (x, panel.y(_QUEUE_TOP + 28)), "full bar =", small, MUTED, "lm")
        jobs = f"{self.queue_scale:g} job{'' if self.queue_scale == 1 else 's'}"
        _put(draw, (x, panel.y(_QUEUE_TOP + 43)), jobs, small, MUTED, "lm")
        _put(draw, (x, panel.y(_SESSIONS_Y)), "sessions", label, MUTED, "lm")
        area_left, area_right = panel.area
        lb_centre = (area_left + area_right) / 2
        lb = (
            round(lb_centre - _LB_W / 2 * panel.unit),
            panel.y(_LB_TOP),
            round(lb_centre + _LB_W / 2 * panel.unit),
            panel.y(_LB_TOP + _LB_H),
        )
        draw.rounded_rectangle(lb, radius=panel.u(6), fill=LB_FILL, outline=LINE)
        _put(
            draw,
            (lb_centre, panel.y(_LB_TOP + _LB_H / 2)),
            "load balancer",
            panel.u(17),
            INK,
            "mm",
        )

    def _legend(self, draw: ImageDraw.ImageDraw) -> None:
        layout = self.layout
        scale = layout.scale
        y = layout.height - layout.footer_h + round(16 * scale)
        x = round(14 * scale)
        size = round(16 * scale)
        swatch = round(16 * scale)
        for state in (UP, DRAINING, RESTARTING, DOWN, RETIRED):
            draw.rectangle(
                (x, y - swatch // 2, x + swatch, y + swatch // 2),
                fill=STATE_COLOURS[state],
                outline=LINE,
            )
            x += swatch + round(6 * scale)
            _put(draw, (x, y), STATE_LABELS[state], size, INK, "lm")
            x += round(_width(STATE_LABELS[state], size)) + round(20 * scale)
        x += round(10 * scale)
        line_w = round(34 * scale)
        draw.line((x, y, x + line_w, y), fill=LINE, width=max(2, round(3 * scale)))
        x += line_w + round(6 * scale)
        _put(draw, (x, y), "balancer routes to it", size, INK, "lm")
        x += round(_width("balancer routes to it", size)) + round(18 * scale)
        _dashed(draw, (x, y), (x + line_w, y), FAINT, max(1, round(2 * scale)), 5 * scale)
        x += line_w + round(6 * scale)
        _put(draw, (x, y), "does not", size, INK, "lm")
        # the timeline: the measured window, its events, and (per frame) the playhead
        track_y = layout.height - round(14 * scale)
        left, right = self._track()
        draw.line((left, track_y, right, track_y), fill=FAINT, width=max(1, round(2 * scale)))
        small = round(13 * scale)
        _put(draw, (left - round(6 * scale), track_y), self._seconds(0), small, MUTED, "rm")
        _put(
            draw,
            (right + round(6 * scale), track_y),
            f"{self.cluster.end_s:g} s",
            small,
            MUTED,
            "lm",
        )
        tick = round(7 * scale)
        for mark in self.cluster.events:
            start = self._track_x(mark.start_s)
            if mark.end_s is not None:
                end = self._track_x(mark.end_s)
                draw.rectangle(
                    (start, track_y - 2, max(end, start + 1), track_y + 2), fill=EVENT_COLOUR
                )
            draw.line(
                (start, track_y - tick, start, track_y + tick),
                fill=EVENT_COLOUR,
                width=max(2, round(3 * scale)),
            )

    def _track(self) -> tuple[int, int]:
        scale = self.layout.scale
        return round(70 * scale), self.layout.width - round(70 * scale)

    def _track_x(self, time_s: float) -> int:
        left, right = self._track()
        start = float(self.cluster.t_s[0])
        fraction = (time_s - start) / max(self.cluster.end_s - start, 1e-9)
        return round(left + (right - left) * min(max(fraction, 0.0), 1.0))

    def _seconds(self, index: int) -> str:
        return self.cluster.clock(index).removeprefix("t = ")

    # ------------------------------------------------------------ per frame

    def frame(self, index: int) -> Image.Image:
        image = self.background.copy()
        draw = ImageDraw.Draw(image)
        self._header(draw, index)
        for panel, item in zip(self.layout.panels, self.cluster.strategies, strict=True):
            self._panel(draw, panel, item, index)
        self._playhead(draw, index)
        return image

    def _header(self, draw: ImageDraw.ImageDraw, index: int) -> None:
        layout = self.layout
        scale = layout.scale
        cluster = self.cluster
        right = layout.width - round(14 * scale)
        _put(draw, (right, round(6 * scale)), cluster.clock(index), round(40 * scale), INK, "ra")
        y = round(76 * scale)
        x = round(14 * scale)
        size = round(19 * scale)
        for caption in cluster.captions(index):
            swatch = round(12 * scale)
            draw.rectangle((x, y - swatch // 2, x + swatch, y + swatch // 2), fill=EVENT_COLOUR)
            x += swatch + round(6 * scale)
            _put(draw, (x, y), caption, size, INK, "lm")
            x += round(_width(caption, size)) + round(22 * scale)
        notes = cluster.notes(index)
        if notes:
            text = "; ".join(notes)
            fitted = _fit(text, round(16 * scale), layout.width - x - round(14 * scale))
            if fitted is not None:
                _put(draw, (layout.width - round(14 * scale), y), text, fitted, DOWN_TEXT, "rm")

    def _playhead(self, draw: ImageDraw.ImageDraw, index: int) -> None:
        layout = self.layout
        scale = layout.scale
        track_y = layout.height - round(14 * scale)
        x = self._track_x(float(self.cluster.t_s[index]) + self.cluster.frame_s / 2)
        size = round(7 * scale)
        draw.polygon(
            [(x - size, track_y - 2 * size), (x + size, track_y - 2 * size), (x, track_y)],
            fill=INK,
        )

    def _panel(
        self, draw: ImageDraw.ImageDraw, panel: _Panel, item: StrategyFrames, index: int
    ) -> None:
        _, _, right, _ = panel.cell
        ticker = (
            f"success {_percent(float(item.success_rate[index]))}   "
            f"p50 {_ms(float(item.latency_p50_ms[index]))}   "
            f"p95 {_ms(float(item.latency_p95_ms[index]))}"
        )
        edge = right - panel.u(_PAD)
        _put(draw, (edge, panel.y(12)), ticker, panel.u(20), INK, "ra")
        counts = (
            f"{int(item.requests[index])} requests · {int(item.errors[index])} errors · "
            f"{int(item.forced_relogins[index])} forced re-logins"
        )
        _put(draw, (edge, panel.y(40)), counts, panel.u(15), MUTED, "ra")
        lb_x = round(sum(panel.area) / 2)
        lb_bottom = panel.y(_LB_TOP + _LB_H)
        if item.uses_store:
            self._store(draw, panel, bool(item.store_down[index]))
        for server in range(self.cluster.servers):
            self._server(draw, panel, item, index, server, (lb_x, lb_bottom))
        if item.strategy in SESSIONS_ELSEWHERE and not item.sessions[:, index].any():
            text = SESSIONS_ELSEWHERE[item.strategy]
            fitted = _fit(text, panel.u(15), panel.area[1] - panel.area[0])
            if fitted is not None:
                _put(draw, (lb_x, panel.y(_SESSIONS_Y)), text, fitted, MUTED, "mm")

    def _store(self, draw: ImageDraw.ImageDraw, panel: _Panel, down: bool) -> None:
        """The shared session store, beside the balancer: up, or down in an outage."""
        right = panel.cell[2] - panel.u(_PAD)
        box = (
            right - panel.u(_STORE_W),
            panel.y(_LB_TOP),
            right,
            panel.y(_LB_TOP + _LB_H),
        )
        draw.rectangle(box, fill=STATE_COLOURS[DOWN if down else UP], outline=LINE)
        text = f"session store: {'down' if down else 'up'}"
        size = _fit(text, panel.u(15), box[2] - box[0] - 6)
        if size is not None:
            _put(draw, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, size, INK, "mm")

    def _server(
        self,
        draw: ImageDraw.ImageDraw,
        panel: _Panel,
        item: StrategyFrames,
        index: int,
        server: int,
        lb: tuple[int, int],
    ) -> None:
        state = int(item.state[server, index])
        box = panel.box(server)
        left, top, right, _ = box
        centre = (left + right) // 2
        if state not in (ABSENT, RETIRED):
            if item.in_balancer[server, index]:
                draw.line((lb, (centre, top)), fill=LINE, width=panel.u(3))
            else:
                _dashed(draw, lb, (centre, top), FAINT, panel.u(2), 6 * panel.unit)
        if state == ABSENT:
            draw.rectangle(box, fill=WHITE)
            _dashed_box(draw, box, FAINT, panel.u(2), 5 * panel.unit)
        else:
            draw.rectangle(box, fill=STATE_COLOURS[state], outline=LINE)
        name = f"server {server}"
        inner = right - left - 6
        size = _fit(name, panel.u(16), inner) or _fit(str(server), panel.u(16), inner)
        if size is not None:
            shown = name if _width(name, size) <= inner else str(server)
            _put(draw, (centre, top + panel.u(15)), shown, size, INK, "mm")
        label = STATE_LABELS[state]
        size = _fit(label, panel.u(14), inner)
        if size is not None:
            _put(
                draw,
                (centre, top + panel.u(33)),
                label,
                size,
                INK if state != ABSENT else MUTED,
                "mm",
            )
        if state in (ABSENT, RETIRED):
            return
        self._workers(draw, panel, float(item.busy[server, index]), left, right)
        self._queue(draw, panel, float(item.queue[server, index]), centre)
        if item.strategy not in SESSIONS_ELSEWHERE or item.sessions[:, index].any():
            sessions = f"{int(item.sessions[server, index]):,}"
            size = _fit(sessions, panel.u(17), panel.slot - 4)
            if size is not None:
                _put(draw, (centre, panel.y(_SESSIONS_Y)), sessions, size, INK, "mm")

    def _workers(
        self, draw: ImageDraw.ImageDraw, panel: _Panel, busy: float, left: int, right: int
    ) -> None:
        """One cell per worker, filled by how busy it was over the frame on average."""
        workers = self.cluster.workers
        top = panel.y(_PIPS_TOP)
        bottom = top + panel.u(_PIPS_H)
        cells = workers if workers <= 16 else 1
        share = busy if cells == workers else busy / workers
        gap = 2 if cells > 1 else 0
        cell_w = (right - left - gap * (cells - 1)) / cells
        for cell in range(cells):
            x0 = left + cell * (cell_w + gap)
            x1 = x0 + cell_w - 1
            draw.rectangle((round(x0), top, round(x1), bottom), fill=WHITE, outline=FAINT)
            filled = min(max(share - cell, 0.0), 1.0)
            if filled > 0:
                draw.rectangle((round(x0), top, round(x0 + (x1 - x0) * filled), bottom), fill=LINE)

    def _queue(self, draw: ImageDraw.ImageDraw, panel: _Panel, queue: float, centre: int) -> None:
        """A vertical bar, full at the run's largest queue, with its value beside it."""
        top = panel.y(_QUEUE_TOP)
        bottom = top + panel.u(_QUEUE_H)
        half = max(1, min(panel.u(9), round(panel.slot * 0.2)))
        frame = (centre - half, top, centre + half, bottom)
        draw.rectangle(frame, fill=WHITE, outline=FAINT)
        height = round((bottom - top) * min(queue / self.queue_scale, 1.0))
        if height > 0:
            draw.rectangle(
                (centre - half, bottom - height, centre + half, bottom), fill=QUEUE_COLOUR
            )
        text = _queue_text(queue)
        size = _fit(text, panel.u(15), panel.slot / 2 - half - 4)
        if size is not None:
            _put(draw, (centre + half + panel.u(4), bottom), text, size, INK, "ls")


def render_frame(cluster: ClusterFrames, index: int, size: tuple[int, int] = SIZE) -> Image.Image:
    """Draw frame ``index`` (an RGB image of ``size`` pixels).

    Raises:
        AnimationError: a size below :data:`MIN_SIZE`.
        IndexError: no such frame.
    """
    if not 0 <= index < cluster.count:
        raise IndexError(f"frame {index}: the animation has frames 0 to {cluster.count - 1}")
    return _Painter(cluster, size).frame(index)


def iter_render(cluster: ClusterFrames, size: tuple[int, int] = SIZE) -> Iterator[Image.Image]:
    """Draw every frame in turn, one RGB image at a time (for long animations: only the
    frame being written is in memory).

    Raises:
        AnimationError: a size below :data:`MIN_SIZE`.
    """
    painter = _Painter(cluster, size)
    for index in range(cluster.count):
        yield painter.frame(index)


def render(cluster: ClusterFrames, size: tuple[int, int] = SIZE) -> list[Image.Image]:
    """Draw every frame: one RGB image of ``size`` pixels per frame (``width × height × 3``
    bytes each; :func:`iter_render` draws them one at a time).

    Raises:
        AnimationError: a size below :data:`MIN_SIZE`.
    """
    return list(iter_render(cluster, size))


# ------------------------------------------------------------------------ writing


def save_animation(path: Path | str, images: Iterable[Image.Image], fps: float = FPS) -> int:
    """Write the frames as a GIF (Pillow) or, for a path ending in ``.mp4``, an H.264 MP4
    (through ``ffmpeg``), atomically: the file appears only once complete.

    Every image becomes one frame, shown ``1 / fps`` seconds (a GIF rounds that to
    hundredths of a second). Pillow merges a GIF frame identical to the one before into
    it; :func:`render`'s frames always differ (the clock changes), and this function
    refuses images that would be merged, so the file has exactly one frame per image.

    Args:
        path: a ``.gif`` or ``.mp4`` file.
        images: the frames, all of one size.
        fps: frames per second, above 0 and at most :data:`MAX_FPS`.

    Returns:
        The number of frames written.

    Raises:
        AnimationError: another suffix, a bad ``fps``, no image, images of different
            sizes or two identical in a row (GIF), no ``ffmpeg`` (MP4) or ffmpeg failing.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise AnimationError(
            f"{target}: write a .gif or an .mp4 file (got {suffix or 'no suffix'!r})"
        )
    problem = fps_problem(fps)
    if problem is not None:
        raise AnimationError(f"fps: {problem}")
    if suffix == ".mp4":
        return _write_mp4(target, images, fps)
    return _write_gif(target, images, fps)


def fps_problem(fps: float) -> str | None:
    """What is wrong with a frame rate, in a few words, or ``None`` (above 0 and at most
    :data:`MAX_FPS`)."""
    if not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        return f"must be above 0 and at most {MAX_FPS:g} frames per second (got {fps:g})"
    return None


@functools.lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """A fixed palette: every colour drawn, exactly, plus blends of them with ink and
    white and a ramp of greys for anti-aliased text and lines.

    Pillow maps a pixel to the palette entry nearest to its colour rounded down to a
    multiple of 4, so no blend may sit near a drawn colour: each drawn colour then maps
    to itself, and a state's fill reads back exactly from the GIF.
    """
    drawn = list(dict.fromkeys([*STATE_COLOURS.values(), *_SOLIDS]))
    blends: list[RGB] = []
    for colour in drawn:
        for weight in (0.75, 0.5, 0.25):
            for other in (INK, WHITE):
                r, g, b = (
                    round(c * weight + o * (1 - weight)) for c, o in zip(colour, other, strict=True)
                )
                blends.append((r, g, b))
    blends += [(level, level, level) for level in range(0, 256, 8)]
    kept = [
        colour
        for colour in dict.fromkeys(blends)
        if all(max(abs(a - b) for a, b in zip(colour, other, strict=True)) > 12 for other in drawn)
    ]
    colours = [*drawn, *kept][:256]
    flat = [channel for colour in colours for channel in colour]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + [0] * (768 - len(flat)))
    return palette


def _write_gif(target: Path, images: Iterable[Image.Image], fps: float) -> int:
    """Pillow keeps every frame of a GIF until the end (one byte per pixel each), so
    frames are converted to the fixed palette as Pillow asks for them."""
    palette = _palette()
    iterator = iter(images)
    first = next(iterator, None)
    if first is None:
        raise AnimationError("no frame to write")
    size = first.size
    written = 0
    previous: list[bytes] = []

    def indexed(image: Image.Image) -> Image.Image:
        nonlocal written
        if image.size != size:
            raise AnimationError(f"frame {written}: {image.size} differs from {size}")
        converted = image.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
        data = converted.tobytes()
        if previous and data == previous[0]:
            raise AnimationError(
                f"frame {written} is identical to frame {written - 1}: a GIF would merge them"
            )
        previous[:] = [data]
        written += 1
        return converted

    with atomic_file(target) as handle:
        indexed(first).save(
            handle,
            format="GIF",
            save_all=True,
            append_images=(indexed(image) for image in iterator),
            duration=round(1000 / fps),
            loop=0,
            optimize=True,
        )
    return written


def _write_mp4(target: Path, images: Iterable[Image.Image], fps: float) -> int:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AnimationError(
            f"{target}: writing MP4 needs ffmpeg on the PATH; install it, or write a .gif"
        )
    iterator = iter(images)
    first = next(iterator, None)
    if first is None:
        raise AnimationError("no frame to write")
    width, height = first.size
    written = 0
    with atomic_path(target) as temp, tempfile.TemporaryFile() as log:
        command = [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-video_size",
            f"{width}x{height}",
            "-framerate",
            f"{fps:g}",
            "-i",
            "-",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(temp),
        ]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
        stdin = process.stdin
        assert stdin is not None
        try:
            for image in _chain(first, iterator):
                if image.size != (width, height):
                    raise AnimationError(f"frame {written}: {image.size} differs from {first.size}")
                stdin.write(image.convert("RGB").tobytes())
                written += 1
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its exit code and message say why
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
        code = process.wait()
        if code != 0:
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").strip().splitlines()
            raise AnimationError(
                f"{target}: ffmpeg failed: {lines[-1] if lines else f'exit {code}'}"
            )
    return written


def _chain(first: Image.Image, rest: Iterator[Image.Image]) -> Iterator[Image.Image]:
    yield first
    yield from rest


# ------------------------------------------------------------------------ helpers


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


__all__ = [
    "CAPTION_HOLD_S",
    "FPS",
    "FRAME_S",
    "MAX_FRAMES",
    "SIZE",
    "STATE_COLOURS",
    "AnimationError",
    "ClusterFrames",
    "StrategyFrames",
    "check_frame_s",
    "fps_problem",
    "frame_count",
    "frame_s_problem",
    "frames",
    "iter_render",
    "render",
    "render_frame",
    "save_animation",
    "server_box",
    "simulate",
]
