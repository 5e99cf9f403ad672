"""The animation's ink: its colours as RGB tuples, the font, and the Pillow primitives
the painter draws with (text fitted to a width, dashed lines and boxes).

The state fills are :data:`simulator.present.palette.STATE_COLOURS`, the colours of every
other output. The default font lacks a few characters: :func:`plain_text` writes plain
replacements instead, so a missing value (:data:`simulator.present.format.MISSING`, an en
dash) is drawn as ``-``.
"""

from __future__ import annotations

import functools
import itertools
import math

from PIL import ImageDraw, ImageFont

from simulator.outcomes import ABSENT, DOWN, DRAINING, RESTARTING, RETIRED, UP
from simulator.present import palette

RGB = tuple[int, int, int]
"""A colour: red, green, blue, 0 to 255."""

Box = tuple[int, int, int, int]
"""A pixel rectangle: left, top, right, bottom (inclusive)."""

STATE_COLOURS: dict[int, RGB] = {
    state: palette.rgb(colour) for state, colour in palette.STATE_COLOURS.items()
}
"""Fill of a server box by state code: :data:`simulator.present.palette.STATE_COLOURS` as
RGB (Okabe-Ito colours, safe for colour-blind viewers; the state is also written in the
box; an absent server is white with a dashed outline)."""

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

SOLIDS: tuple[RGB, ...] = (
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


_GLYPHS = {"→": "->", "–": "-", "—": "-", "×": "x", "µ": "u", "≥": ">=", "≤": "<="}
"""Characters the default font lacks, and what to write instead."""


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(size, 6))


def plain_text(text: str) -> str:
    """``text`` with the characters the default font lacks replaced."""
    for char, plain in _GLYPHS.items():
        text = text.replace(char, plain)
    return text


def text_width(text: str, size: int) -> float:
    return float(font(size).getlength(plain_text(text)))


def fit(text: str, size: int, max_w: float, smallest: int = 8) -> int | None:
    """The largest font size up to ``size`` at which ``text`` fits ``max_w`` pixels."""
    while size >= smallest:
        if text_width(text, size) <= max_w:
            return size
        size -= 1
    return None


def put(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    fill: RGB = INK,
    anchor: str = "la",
) -> None:
    draw.text(xy, plain_text(text), font=font(size), fill=fill, anchor=anchor)


def dashed_line(
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


def dashed_box(draw: ImageDraw.ImageDraw, box: Box, fill: RGB, width: int, dash: float) -> None:
    left, top, right, bottom = box
    corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
    for start, end in itertools.pairwise(corners):
        dashed_line(draw, start, end, fill, width, dash)
