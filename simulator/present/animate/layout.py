"""Where everything of a frame goes: the header, one panel per strategy (its servers in a
row under the load balancer), and the footer.

A panel is designed at :data:`PANEL_W` x :data:`PANEL_H` panel units and scaled to its
cell; every position of the design is in those units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.present.animate.canvas import Box
from simulator.present.animate.frames import ClusterFrames

SIZE: tuple[int, int] = (1280, 720)
"""Default image size, pixels (16:9, sharp on a projector)."""

MIN_SIZE: tuple[int, int] = (320, 180)
"""Smallest image size that stays legible, pixels."""


PANEL_W = 630.0
PANEL_H = 290.0
"""Size of the design panel, in panel units (a panel of 1280x720 with four strategies)."""

LABEL_W = 86.0
PAD = 12.0
BOX_TOP, BOX_H = 130.0, 46.0
PIPS_TOP, PIPS_H = 184.0, 11.0
QUEUE_TOP, QUEUE_H = 202.0, 50.0
SESSIONS_Y = 268.0
LB_TOP, LB_H, LB_W = 64.0, 32.0, 170.0
STORE_W = 150.0


@dataclass(frozen=True)
class Panel:
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
        return left + LABEL_W * self.unit, right - PAD * self.unit

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
        top = self.y(BOX_TOP)
        return centre - half, top, centre + half, top + self.u(BOX_H)


@dataclass(frozen=True)
class Layout:
    """The parts of one image: header, panels, footer."""

    width: int
    height: int
    scale: float
    header_h: int
    footer_h: int
    panels: tuple[Panel, ...]


def page_layout(size: tuple[int, int], strategies: int, servers: int) -> Layout:
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
        unit = min(cell_w / PANEL_W, cell_h / PANEL_H)
        inner_top = top + (cell_h - PANEL_H * unit) / 2
        cell = (round(left), round(top), round(left + cell_w) - 1, round(top + cell_h) - 1)
        panels.append(Panel(cell, inner_top, unit, servers))
    return Layout(width, height, scale, header_h, footer_h, tuple(panels))


def server_box(
    cluster: ClusterFrames, strategy: str | int, server: int, size: tuple[int, int] = SIZE
) -> Box:
    """The pixel box of one server in one strategy's panel, as
    :func:`~simulator.present.animate.painter.render` draws it.

    The box is filled with its state's colour
    (:data:`~simulator.present.animate.canvas.STATE_COLOURS`) except for a 1-pixel border
    and its centred label: pixels a few pixels inside a corner show the state.

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
    layout = page_layout(size, len(cluster.strategies), cluster.servers)
    return layout.panels[strategy].box(server)
