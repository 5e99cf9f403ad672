"""The load on every server over time (:func:`server_heatmap_figure`): a heatmap per
strategy, on one colour scale, with the servers that were down hatched.

Artists carry a ``gid``: ``load`` (a heatmap's cells), ``down`` (a hatched cell of a
server that was down) and ``event`` (an event's line or frame).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from simulator.present.plots.events import (
    draw_events,
    label_events,
    shown_events,
    time_label,
    time_window,
)
from simulator.present.plots.style import (
    LABEL_SIZE,
    MAX_SERVER_TICKS,
    TICK_SIZE,
    VALUE_SIZE,
    DisplayFigure,
    centre_note,
    run_suptitle,
)
from simulator.results.records import RunResult
from simulator.results.timeseries import StrategySeries

_HEATMAP_COLOURMAP = "viridis"  # sequential, perceptually uniform, colour-blind safe
_DOWN_FACE = "0.86"  # a server that was down: light grey, hatched
_DOWN_HATCH = "////"
_DOWN_HATCH_COLOUR = "0.45"


def server_heatmap_figure(result: RunResult) -> Figure:
    """The load on every server over time, one panel per strategy.

    Each panel is a heatmap: x = simulated time in seconds (one column per time bucket),
    y = server index (0 at the bottom; servers added by a scale-out appear on top),
    colour = jobs (requests, logins and retries) the server accepted per second in that
    bucket. Every panel uses the same colour scale (the colour bar), so the panels
    compare directly. A hatched light grey cell is a server that was down for the whole
    bucket (crashed, restarting, or not started yet); a dark cell of a server that was
    up received nothing (for instance, restarted but not yet back in the balancer, which
    adds a server at its next health check). Jobs a down or full server refused are not
    counted. Every panel marks its own strategy's events (white dashed: an instant;
    a dashed white frame: an event that lasts); the labels above the top panel are the
    top panel's.

    Works for 1 to 50 servers and more: tick labels thin out beyond 12 servers.

    Args:
        result: the run to draw.

    Returns:
        A new figure (not registered with pyplot), titled with the scenario's name.
    """
    start_s, end_s, bucket_s = time_window(result)
    drawn = [(item.strategy, item.series) for item in result.results if item.series]
    first = next((item.events for item in result.results if item.series), result.events)
    shown, hidden = shown_events(first, start_s, end_s)
    heights = [_heatmap_panel_height(series.server_jobs.shape[0]) for _, series in drawn]
    if not heights:
        heights = [2.0]
    fig = DisplayFigure(figsize=(13.0, sum(heights) + 2.8), layout="constrained")
    grid = fig.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)
    axes: list[Axes] = [row[0] for row in grid]
    peak = max(
        (float(series.server_jobs.max(initial=0)) / series.bucket_s for _, series in drawn),
        default=0.0,
    )
    norm = Normalize(vmin=0.0, vmax=max(peak, 1.0))
    mesh: QuadMesh | None = None
    for ax, (name, series) in zip(axes, drawn, strict=False):
        mesh = _heatmap_panel(ax, name, series, norm)
    # Each panel marks its own strategy's events (a deploy may end a little later for one).
    own = {item.strategy: item.events for item in result.results}
    for ax, name in zip(axes, [name for name, _ in drawn] or [""], strict=True):
        draw_events(ax, shown_events(own.get(name, []), start_s, end_s)[0], on_heatmap=True)
        ax.set_xlim(start_s, end_s)
        ax.tick_params(labelsize=TICK_SIZE)
        if not drawn:
            centre_note(ax, "no time series in this result")
            ax.set_yticks([])
    axes[-1].set_xlabel(time_label(bucket_s, hidden, heatmap=True), fontsize=LABEL_SIZE)
    if mesh is not None:
        colourbar = fig.colorbar(mesh, ax=axes, location="right", aspect=max(20, 8 * len(axes)))
        colourbar.set_label(
            "jobs accepted per second\n(requests + logins + retries)", fontsize=LABEL_SIZE
        )
        colourbar.ax.tick_params(labelsize=TICK_SIZE)
    down = Patch(
        facecolor=_DOWN_FACE,
        hatch=_DOWN_HATCH,
        hatchcolor=_DOWN_HATCH_COLOUR,
        edgecolor=_DOWN_HATCH_COLOUR,
        linewidth=0.6,
        label="server down for the whole bucket (crashed, restarting or not started yet)",
    )
    fig.legend(handles=[down], loc="outside lower center", fontsize=VALUE_SIZE + 1)
    run_suptitle(fig, f"Scenario '{result.scenario.name}': load on each server over time", result)
    meaning = (
        f"jobs each server accepted per second, per {bucket_s:g}-s bucket, "
        "on one colour scale for every strategy"
    )
    label_events(fig, axes[0], shown, meaning)
    return fig


def _heatmap_panel(ax: Axes, name: str, series: StrategySeries, norm: Normalize) -> QuadMesh:
    """Jobs per second of every server and bucket; hatched cells: the server was down."""
    servers, count = series.server_jobs.shape
    edges_t = series.t_s[0] + series.bucket_s * np.arange(count + 1, dtype=np.float64)
    edges_s = np.arange(servers + 1, dtype=np.float64) - 0.5
    mesh = ax.pcolormesh(
        edges_t,
        edges_s,
        series.server_jobs / series.bucket_s,
        cmap=colormaps[_HEATMAP_COLOURMAP],
        norm=norm,
        shading="flat",
        gid="load",
    )
    for server in range(servers):
        down = series.up_fraction[server] <= 0.0
        for first, last in _runs(down):
            ax.add_patch(
                Rectangle(
                    (float(edges_t[first]), server - 0.5),
                    float(edges_t[last + 1] - edges_t[first]),
                    1.0,
                    facecolor=_DOWN_FACE,
                    hatch=_DOWN_HATCH,
                    hatchcolor=_DOWN_HATCH_COLOUR,
                    edgecolor="none",
                    linewidth=0,
                    zorder=2,
                    gid="down",
                )
            )
    ax.set_ylim(-0.5, servers - 0.5)
    if servers <= MAX_SERVER_TICKS:
        ax.set_yticks(list(range(servers)))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.set_ylabel(f"{name}\nserver", fontsize=LABEL_SIZE)
    ax.yaxis.label.set_color("black")
    return mesh


def _heatmap_panel_height(servers: int) -> float:
    """Inches of one heatmap panel: room for a few servers, capped for many."""
    return min(max(0.9 + 0.11 * servers, 1.7), 3.4)


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """First and last index of every run of ``True`` in ``mask``."""
    runs: list[tuple[int, int]] = []
    first = -1
    for index, value in enumerate(mask.tolist()):
        if value and first < 0:
            first = index
        elif not value and first >= 0:
            runs.append((first, index - 1))
            first = -1
    if first >= 0:
        runs.append((first, len(mask) - 1))
    return runs
