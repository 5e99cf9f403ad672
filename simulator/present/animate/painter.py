"""Draw the frames of an animation with Pillow, one RGB image per frame.

The static parts (titles, panel frames, the load balancer, the legend and the timeline)
are drawn once; each frame adds the clock, the captions, and every panel's servers,
queues, sessions and numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

from PIL import Image, ImageDraw

from simulator.model.strategies import about
from simulator.outcomes import ABSENT, DOWN, DRAINING, RESTARTING, RETIRED, UP
from simulator.present.animate.canvas import (
    DOWN_TEXT,
    EVENT_COLOUR,
    FAINT,
    FRAME_BG,
    INK,
    LB_FILL,
    LINE,
    MUTED,
    QUEUE_COLOUR,
    STATE_COLOURS,
    STATE_LABELS,
    WHITE,
    dashed_box,
    dashed_line,
    fit,
    put,
    text_width,
)
from simulator.present.animate.frames import AnimationError, ClusterFrames, StrategyFrames
from simulator.present.animate.layout import (
    LB_H,
    LB_TOP,
    LB_W,
    MIN_SIZE,
    PAD,
    PIPS_H,
    PIPS_TOP,
    QUEUE_H,
    QUEUE_TOP,
    SESSIONS_Y,
    SIZE,
    STORE_W,
    Panel,
    page_layout,
)
from simulator.present.format import MISSING, percent


def _ms(value: float) -> str:
    if math.isnan(value):
        return MISSING
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


@functools.cache
def _sessions_elsewhere(strategy: str) -> str | None:
    """What the sessions row says for a strategy that keeps no session in server memory
    (``no sessions in server memory: ...``, the strategy's own words); ``None`` for one
    that does, or an unknown name."""
    try:
        where = about(strategy).sessions_elsewhere
    except KeyError:
        return None
    return None if where is None else f"no sessions in server memory: {where}"


def _queue_text(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


class Painter:
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
        self.layout = page_layout(size, len(cluster.strategies), cluster.servers)
        self.queue_scale = cluster.queue_scale
        self.background = self._background()

    # ------------------------------------------------------------ static parts

    def _background(self) -> Image.Image:
        layout = self.layout
        image = Image.new("RGB", (layout.width, layout.height), WHITE)
        draw = ImageDraw.Draw(image)
        scale = layout.scale
        cluster = self.cluster
        put(
            draw,
            (round(14 * scale), round(10 * scale)),
            f"{cluster.scenario} · seed {cluster.seed}",
            round(26 * scale),
        )
        put(
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
        self, draw: ImageDraw.ImageDraw, panel: Panel, item: StrategyFrames
    ) -> None:
        left = panel.cell[0]
        draw.rounded_rectangle(panel.cell, radius=panel.u(8), fill=FRAME_BG, outline=LB_FILL)
        x = left + panel.u(PAD)
        put(draw, (x, panel.y(10)), item.strategy, panel.u(26))
        label = panel.u(15)
        put(draw, (x, panel.y(PIPS_TOP + PIPS_H / 2)), "workers", label, MUTED, "lm")
        put(draw, (x, panel.y(QUEUE_TOP + 8)), "queue", label, MUTED, "lm")
        small = panel.u(13)
        put(draw, (x, panel.y(QUEUE_TOP + 28)), "full bar =", small, MUTED, "lm")
        jobs = f"{self.queue_scale:g} job{'' if self.queue_scale == 1 else 's'}"
        put(draw, (x, panel.y(QUEUE_TOP + 43)), jobs, small, MUTED, "lm")
        put(draw, (x, panel.y(SESSIONS_Y)), "sessions", label, MUTED, "lm")
        area_left, area_right = panel.area
        lb_centre = (area_left + area_right) / 2
        lb = (
            round(lb_centre - LB_W / 2 * panel.unit),
            panel.y(LB_TOP),
            round(lb_centre + LB_W / 2 * panel.unit),
            panel.y(LB_TOP + LB_H),
        )
        draw.rounded_rectangle(lb, radius=panel.u(6), fill=LB_FILL, outline=LINE)
        put(
            draw,
            (lb_centre, panel.y(LB_TOP + LB_H / 2)),
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
            put(draw, (x, y), STATE_LABELS[state], size, INK, "lm")
            x += round(text_width(STATE_LABELS[state], size)) + round(20 * scale)
        x += round(10 * scale)
        line_w = round(34 * scale)
        draw.line((x, y, x + line_w, y), fill=LINE, width=max(2, round(3 * scale)))
        x += line_w + round(6 * scale)
        put(draw, (x, y), "balancer routes to it", size, INK, "lm")
        x += round(text_width("balancer routes to it", size)) + round(18 * scale)
        dashed_line(draw, (x, y), (x + line_w, y), FAINT, max(1, round(2 * scale)), 5 * scale)
        x += line_w + round(6 * scale)
        put(draw, (x, y), "does not", size, INK, "lm")
        # the timeline: the measured window, its events, and (per frame) the playhead
        track_y = layout.height - round(14 * scale)
        left, right = self._track()
        draw.line((left, track_y, right, track_y), fill=FAINT, width=max(1, round(2 * scale)))
        small = round(13 * scale)
        put(draw, (left - round(6 * scale), track_y), self._seconds(0), small, MUTED, "rm")
        put(
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
        put(draw, (right, round(6 * scale)), cluster.clock(index), round(40 * scale), INK, "ra")
        y = round(76 * scale)
        x = round(14 * scale)
        size = round(19 * scale)
        for caption in cluster.captions(index):
            swatch = round(12 * scale)
            draw.rectangle((x, y - swatch // 2, x + swatch, y + swatch // 2), fill=EVENT_COLOUR)
            x += swatch + round(6 * scale)
            put(draw, (x, y), caption, size, INK, "lm")
            x += round(text_width(caption, size)) + round(22 * scale)
        notes = cluster.notes(index)
        if notes:
            text = "; ".join(notes)
            fitted = fit(text, round(16 * scale), layout.width - x - round(14 * scale))
            if fitted is not None:
                put(draw, (layout.width - round(14 * scale), y), text, fitted, DOWN_TEXT, "rm")

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
        self, draw: ImageDraw.ImageDraw, panel: Panel, item: StrategyFrames, index: int
    ) -> None:
        _, _, right, _ = panel.cell
        ticker = (
            f"success {percent(float(item.success_rate[index]))}   "
            f"p50 {_ms(float(item.latency_p50_ms[index]))}   "
            f"p95 {_ms(float(item.latency_p95_ms[index]))}"
        )
        edge = right - panel.u(PAD)
        put(draw, (edge, panel.y(12)), ticker, panel.u(20), INK, "ra")
        counts = (
            f"{int(item.requests[index])} requests · {int(item.errors[index])} errors · "
            f"{int(item.forced_relogins[index])} forced re-logins"
        )
        put(draw, (edge, panel.y(40)), counts, panel.u(15), MUTED, "ra")
        lb_x = round(sum(panel.area) / 2)
        lb_bottom = panel.y(LB_TOP + LB_H)
        if item.uses_store:
            self._store(draw, panel, bool(item.store_down[index]))
        for server in range(self.cluster.servers):
            self._server(draw, panel, item, index, server, (lb_x, lb_bottom))
        elsewhere = _sessions_elsewhere(item.strategy)
        if elsewhere is not None and not item.sessions[:, index].any():
            text = elsewhere
            fitted = fit(text, panel.u(15), panel.area[1] - panel.area[0])
            if fitted is not None:
                put(draw, (lb_x, panel.y(SESSIONS_Y)), text, fitted, MUTED, "mm")

    def _store(self, draw: ImageDraw.ImageDraw, panel: Panel, down: bool) -> None:
        """The shared session store, beside the balancer: up, or down in an outage."""
        right = panel.cell[2] - panel.u(PAD)
        box = (
            right - panel.u(STORE_W),
            panel.y(LB_TOP),
            right,
            panel.y(LB_TOP + LB_H),
        )
        draw.rectangle(box, fill=STATE_COLOURS[DOWN if down else UP], outline=LINE)
        text = f"session store: {'down' if down else 'up'}"
        size = fit(text, panel.u(15), box[2] - box[0] - 6)
        if size is not None:
            put(draw, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, size, INK, "mm")

    def _server(
        self,
        draw: ImageDraw.ImageDraw,
        panel: Panel,
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
                dashed_line(draw, lb, (centre, top), FAINT, panel.u(2), 6 * panel.unit)
        if state == ABSENT:
            draw.rectangle(box, fill=WHITE)
            dashed_box(draw, box, FAINT, panel.u(2), 5 * panel.unit)
        else:
            draw.rectangle(box, fill=STATE_COLOURS[state], outline=LINE)
        name = f"server {server}"
        inner = right - left - 6
        size = fit(name, panel.u(16), inner) or fit(str(server), panel.u(16), inner)
        if size is not None:
            shown = name if text_width(name, size) <= inner else str(server)
            put(draw, (centre, top + panel.u(15)), shown, size, INK, "mm")
        label = STATE_LABELS[state]
        size = fit(label, panel.u(14), inner)
        if size is not None:
            put(
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
        if _sessions_elsewhere(item.strategy) is None or item.sessions[:, index].any():
            sessions = f"{int(item.sessions[server, index]):,}"
            size = fit(sessions, panel.u(17), panel.slot - 4)
            if size is not None:
                put(draw, (centre, panel.y(SESSIONS_Y)), sessions, size, INK, "mm")

    def _workers(
        self, draw: ImageDraw.ImageDraw, panel: Panel, busy: float, left: int, right: int
    ) -> None:
        """One cell per worker, filled by how busy it was over the frame on average."""
        workers = self.cluster.workers
        top = panel.y(PIPS_TOP)
        bottom = top + panel.u(PIPS_H)
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

    def _queue(self, draw: ImageDraw.ImageDraw, panel: Panel, queue: float, centre: int) -> None:
        """A vertical bar, full at the run's largest queue, with its value beside it."""
        top = panel.y(QUEUE_TOP)
        bottom = top + panel.u(QUEUE_H)
        half = max(1, min(panel.u(9), round(panel.slot * 0.2)))
        frame = (centre - half, top, centre + half, bottom)
        draw.rectangle(frame, fill=WHITE, outline=FAINT)
        height = round((bottom - top) * min(queue / self.queue_scale, 1.0))
        if height > 0:
            draw.rectangle(
                (centre - half, bottom - height, centre + half, bottom), fill=QUEUE_COLOUR
            )
        text = _queue_text(queue)
        size = fit(text, panel.u(15), panel.slot / 2 - half - 4)
        if size is not None:
            put(draw, (centre + half + panel.u(4), bottom), text, size, INK, "ls")


def render_frame(cluster: ClusterFrames, index: int, size: tuple[int, int] = SIZE) -> Image.Image:
    """Draw frame ``index`` (an RGB image of ``size`` pixels).

    Raises:
        AnimationError: a size below :data:`MIN_SIZE`.
        IndexError: no such frame.
    """
    if not 0 <= index < cluster.count:
        raise IndexError(f"frame {index}: the animation has frames 0 to {cluster.count - 1}")
    return Painter(cluster, size).frame(index)


def iter_render(cluster: ClusterFrames, size: tuple[int, int] = SIZE) -> Iterator[Image.Image]:
    """Draw every frame in turn, one RGB image at a time (for long animations: only the
    frame being written is in memory).

    Raises:
        AnimationError: a size below :data:`MIN_SIZE`.
    """
    painter = Painter(cluster, size)
    for index in range(cluster.count):
        yield painter.frame(index)


def render(cluster: ClusterFrames, size: tuple[int, int] = SIZE) -> list[Image.Image]:
    """Draw every frame: one RGB image of ``size`` pixels per frame (``width × height × 3``
    bytes each; :func:`iter_render` draws them one at a time).

    Raises:
        AnimationError: a size below :data:`MIN_SIZE`.
    """
    return list(iter_render(cluster, size))
