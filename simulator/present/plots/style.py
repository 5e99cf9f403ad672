"""What every figure shares: resolution, font sizes, line styles, the figure class that
Jupyter displays without pyplot, the PNG savers, and the small axis, label and title
helpers the figure modules draw with.

Strategy colours are not defined here: every figure takes them from
:mod:`simulator.present.palette` (:func:`~simulator.present.palette.strategy_colour`).
The savers read :data:`DPI` when they run, so a test may lower it by patching
``simulator.present.plots.style.DPI``.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter
from matplotlib.transforms import blended_transform_factory

from simulator.atomic import atomic_file
from simulator.present.format import plural
from simulator.results.records import RunResult
from simulator.results.timeseries import FloatArray

DPI = 120
"""Resolution of the saved PNG files, dots per inch."""

DISPLAY_DPI = 90
"""Resolution of a figure displayed inline in Jupyter, dots per inch."""

TITLE_SIZE = 14
LABEL_SIZE = 12
TICK_SIZE = 11
VALUE_SIZE = 10
SUPTITLE_SIZE = 16
REFERENCE_COLOUR = "0.25"

LOG_SCALE_RATIO = 20.0  # a value axis switches to a log scale beyond this max/min ratio
MAX_SERVER_TICKS = 12  # label every server up to this many, then a sparse selection
LINE_WIDTH_STEP = 0.8  # each strategy's line is this much wider than the next one's
THINNEST_LINE = 1.6
# Lines drawn over others are dashed (in units of their width), shorter for each one drawn
# later, so a strategy hidden under an identical line still shows through the gaps.
DASHES: tuple[tuple[float, float], ...] = ((3.0, 1.2), (2.0, 1.4), (1.2, 1.4))
ZERO_MARGIN = 0.015  # y axes start this fraction of their height below 0: lines at 0 show


# ------------------------------------------------------------------ figures and files


class DisplayFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that Jupyter can display without pyplot.

    IPython shows an object through ``_repr_png_`` unless a display hook is registered for
    its type (as the inline backend does once pyplot is used; that hook then wins).
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DISPLAY_DPI)
        return buffer.getvalue()


def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """Encode a figure as PNG bytes (for embedding, e.g. in the HTML report).

    Args:
        fig: a figure made by this package (or any :class:`~matplotlib.figure.Figure`).
        dpi: resolution, dots per inch (default: :data:`DPI`, as the saved files).

    Returns:
        The PNG file's bytes. The figure is left as it was: clear it when done.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI if dpi is None else dpi)
    return buffer.getvalue()


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` at :data:`DPI` via a temporary file and a
    rename."""
    with atomic_file(path) as handle:
        fig.savefig(handle, format="png", dpi=DPI)
    return path


# ------------------------------------------------------------------------ numbers


def as_float(values: npt.ArrayLike) -> FloatArray:
    """``values`` as an array of float64."""
    return np.asarray(values, dtype=np.float64)


def seconds_text(value: float) -> str:
    """A time in seconds, to 0.1 s (no decimal when whole)."""
    return f"{round(value, 1):g}"


def ms_label(value: float) -> str:
    """A latency in ms with about three significant digits."""
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def plain_ticks() -> FuncFormatter:
    """A tick formatter that writes plain numbers (``0.5``, ``20``, ``1000``), also on a
    log axis."""
    return FuncFormatter(lambda v, _pos: f"{v:g}")


# ------------------------------------------------------------------- axes and notes


def strategy_axis(ax: Axes, names: Sequence[str]) -> None:
    """Strategy names on the x axis, a light y grid, readable ticks."""
    ax.set_xticks(list(range(len(names))), list(names))
    # At least the width of three slots, so one or two strategies do not get giant bars.
    centre, half = (len(names) - 1) / 2, max(len(names), 3) / 2 + 0.1
    ax.set_xlim(centre - half, centre + half)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.tick_params(axis="x", labelsize=LABEL_SIZE)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def reference_line(ax: Axes, y: float, label: str, dashed: bool) -> None:
    """A horizontal reference line labelled just outside the right edge of the axes."""
    ax.axhline(
        y,
        color=REFERENCE_COLOUR,
        linestyle="--" if dashed else "-",
        linewidth=1.4 if dashed else 1.0,
        zorder=3,
    )
    ax.annotate(
        label,
        xy=(1.0, y),
        xycoords=blended_transform_factory(ax.transAxes, ax.transData),
        xytext=(4, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=VALUE_SIZE,
        color=REFERENCE_COLOUR,
        annotation_clip=False,
    )


def bar_note(ax: Axes, x: float, text: str) -> None:
    """Grey italic text where a bar would be, for a value that does not exist."""
    ax.text(
        x,
        0.5,
        text,
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        ha="center",
        va="center",
        fontsize=VALUE_SIZE + 1,
        fontstyle="italic",
        color="0.35",
    )


def centre_note(ax: Axes, text: str) -> None:
    """Grey italic text in the middle of an empty panel."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=LABEL_SIZE,
        fontstyle="italic",
        color="0.35",
    )


def latency_limits_and_legend(
    ax: Axes,
    values: list[float],
    top: float,
    log: bool,
    percentiles: Sequence[tuple[str, str, float]],
) -> None:
    """Y limits with headroom above the tallest bar (for its label and the legend), log
    ticks in plain numbers, and a legend of the percentile shades.

    ``percentiles``: ``(key, legend label, bar opacity)`` per percentile drawn.
    """
    if values:
        bottom = min(values)
        if log:
            ax.set_ylim(10 ** math.floor(math.log10(bottom) - 0.15), top * 12.0)
            ax.yaxis.set_major_formatter(plain_ticks())
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(0, top * 1.35)
    else:
        ax.set_ylim(0, 1)
    legend = [
        Patch(facecolor="0.35", alpha=alpha, edgecolor="black", label=label)
        for _, label, alpha in percentiles
    ]
    ax.legend(
        handles=legend,
        loc="upper center",
        ncols=len(legend),
        fontsize=VALUE_SIZE + 1,
        framealpha=0.9,
    )


# ------------------------------------------------------------------------- titles


def facts_suptitle(fig: Figure, title: str, facts: str) -> None:
    """A title and a line of facts, wrapped to the figure's width."""
    # About 8 characters per inch at the suptitle's font size.
    width = max(int(fig.get_figwidth() * 8), 30)
    lines = [*textwrap.wrap(title, width), *textwrap.wrap(facts, width)]
    fig.suptitle("\n".join(lines), fontsize=SUPTITLE_SIZE)


def servers_text(servers: int) -> str:
    """``1 server``, ``5 servers`` (no thousands separator)."""
    return f"{servers} {plural(servers, 'server')}"


def run_suptitle(fig: Figure, title: str, result: RunResult) -> None:
    """The title and a line of the run's key settings, wrapped to the figure's width."""
    scenario = result.scenario
    workload = scenario.workload
    facts = (
        f"{servers_text(scenario.cluster.servers)} · "
        f"{workload.arrival_rate_per_s:,g} requests/s · {workload.users:,} users · "
        f"{scenario.measured_s:g} s measured · seed {scenario.seed}"
    )
    facts_suptitle(fig, title, facts)
