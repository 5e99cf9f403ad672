"""The colours of every output, as plain hex strings (no matplotlib, no Pillow).

One colour per strategy in every figure, the report and the animation, and one per
server state. All come from the Okabe-Ito palette, which stays distinguishable with the
common forms of colour blindness (Okabe and Ito, "Color Universal Design", 2002).
A new strategy gets its colour here, in :data:`STRATEGY_COLOURS`.
"""

from __future__ import annotations

from typing import Final

from simulator.outcomes import ABSENT, DOWN, DRAINING, RESTARTING, RETIRED, UP

STRATEGY_COLOURS: Final[dict[str, str]] = {
    "local": "#D55E00",  # Okabe-Ito vermillion: the strategy that breaks
    "sticky": "#E69F00",  # Okabe-Ito orange
    "shared_store": "#0072B2",  # Okabe-Ito blue
    "jwt": "#009E73",  # Okabe-Ito bluish green
}
"""One fixed colour per strategy, the same in every output (Okabe-Ito palette)."""

FALLBACK_COLOUR: Final = "#999999"
"""Colour of a strategy missing from :data:`STRATEGY_COLOURS` (grey)."""

STATE_COLOURS: Final[dict[int, str]] = {
    UP: "#009E73",  # Okabe-Ito bluish green
    DRAINING: "#56B4E9",  # Okabe-Ito sky blue
    RESTARTING: "#F0E442",  # Okabe-Ito yellow
    DOWN: "#D55E00",  # Okabe-Ito vermillion
    RETIRED: "#BBBBBB",  # grey
    ABSENT: "#FFFFFF",  # white (drawn with a dashed outline): not started yet
}
"""Fill of a server by state code (:mod:`simulator.outcomes`)."""


def strategy_colour(name: str) -> str:
    """The colour of a strategy in every output; grey for an unknown name."""
    return STRATEGY_COLOURS.get(str(name), FALLBACK_COLOUR)


def rgb(colour: str) -> tuple[int, int, int]:
    """A ``#RRGGBB`` colour as an ``(r, g, b)`` tuple of 0-255 integers (for Pillow)."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
